# patron -- build, test, demo and benchmarks.
#   make          build libpatron.a, libpatron.so and the patron command
#   make test     every test suite, plain and under ASan+UBSan; last line
#                 "N passed, N failed"
#   make run      the demo shop, walked through in a fresh database
#   make bench    benchmarks (tests/bench)
#   make deps     install missing Debian packages (run by the targets above)

CC      ?= cc
BUILD   ?= build
SAN     ?=
PKGS    := lua5.4 sqlite3 jansson uuid libmicrohttpd
# pkg-config name -> Debian package
DEB_lua5.4 := liblua5.4-dev
DEB_sqlite3 := libsqlite3-dev
DEB_jansson := libjansson-dev
DEB_uuid := uuid-dev
DEB_libmicrohttpd := libmicrohttpd-dev
MIN_lua5.4 := 5.4.0
MIN_sqlite3 := 3.37.0
MIN_jansson := 2.12
MIN_uuid := 2.30
MIN_libmicrohttpd := 0.9.70
# tools the tests and the demo use
TOOLS   := pkg-config:pkg-config jq:jq sqlite3:sqlite3 curl:curl

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(SAN),1)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=all
else
OPT     := -O2 -g
endif
CFLAGS_ALL = -std=c11 $(WARN) $(OPT) -fPIC -fvisibility=hidden \
             -Icore -I$(BUILD)/gen $(PKG_CFLAGS) \
             -DPATRON_PLUGIN_DIR='"$(CURDIR)/plugins"' $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm -lpthread
SANFLAGS := -fsanitize=address,undefined
LDSAN   := $(if $(filter 1,$(SAN)),$(SANFLAGS))

LIB_SRC   := $(wildcard core/*.c)
CLI_SRC   := $(wildcard core/cli/*.c) $(wildcard core/serve/*.c)
EMBED_IN  := $(sort $(wildcard schema/*.sql)) $(sort $(wildcard lua/*.lua))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/embed.o
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HEADERS   := $(wildcard core/*.h core/cli/*.h core/serve/*.h)

.PHONY: all deps test check check-asan unit run bench clean valgrind fuzz soak
all: deps $(BUILD)/libpatron.a $(BUILD)/libpatron.so $(BUILD)/patron

deps:
	@missing=""; \
	for p in $(PKGS); do \
	  pkg-config --exists "$$p" 2>/dev/null || missing="$$missing $$p"; \
	done; \
	for t in $(TOOLS); do \
	  command -v "$${t%%:*}" >/dev/null 2>&1 || missing="$$missing $$t"; \
	done; \
	if [ -n "$$missing" ]; then \
	  debs=""; \
	  for m in $$missing; do case $$m in \
	    lua5.4) debs="$$debs $(DEB_lua5.4)";; sqlite3) debs="$$debs $(DEB_sqlite3)";; \
	    jansson) debs="$$debs $(DEB_jansson)";; uuid) debs="$$debs $(DEB_uuid)";; \
	    libmicrohttpd) debs="$$debs $(DEB_libmicrohttpd)";; \
	    *:*) debs="$$debs $${m#*:}";; esac; done; \
	  echo "make deps: installing missing Debian packages:$$debs"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    $$debs build-essential >/dev/null || \
	  { echo "make deps: apt-get failed; install:$$debs" >&2; exit 1; }; \
	fi; \
	for p in $(PKGS); do case $$p in \
	  lua5.4) min=$(MIN_lua5.4);; sqlite3) min=$(MIN_sqlite3);; jansson) min=$(MIN_jansson);; \
	  uuid) min=$(MIN_uuid);; libmicrohttpd) min=$(MIN_libmicrohttpd);; esac; \
	  pkg-config --atleast-version=$$min $$p || \
	  { echo "make deps: $$p $$(pkg-config --modversion $$p) is older than $$min" >&2; exit 1; }; \
	done

$(BUILD)/gen/embed.c: $(EMBED_IN) core/embed.sh
	@mkdir -p $(dir $@)
	sh core/embed.sh $(EMBED_IN) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/gen/embed.o: $(BUILD)/gen/embed.c core/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libpatron.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpatron.so: $(LIB_OBJ)
	$(CC) -shared $(LDSAN) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/patron: $(CLI_OBJ) $(BUILD)/libpatron.a
	$(CC) $(LDSAN) -o $@ $(CLI_OBJ) $(BUILD)/libpatron.a $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h tests/unit/fault_alloc.h $(BUILD)/libpatron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDSAN) -o $@ $< $(BUILD)/libpatron.a $(LDLIBS_ALL)

unit: all $(UNIT_BIN)

# The plain build and the ASan+UBSan build, every suite in both.
test: deps
	@$(MAKE) -s --no-print-directory unit
	@$(MAKE) -s --no-print-directory BUILD=build/asan SAN=1 unit
	@tests/run.sh build build/asan

check: test

check-asan: deps
	@$(MAKE) -s --no-print-directory BUILD=build/asan SAN=1 unit
	@tests/run.sh build/asan

valgrind: unit
	@VALGRIND=1 tests/run.sh build

run: all
	@examples/shop/demo.sh $(BUILD)/patron

bench: all
	@tests/bench/run.sh $(BUILD)
	@tests/bench/http_bench.sh $(BUILD)
	@tests/bench/reports_bench.sh $(BUILD)
	@tests/bench/plugin_stage.sh $(BUILD)

# examples/embed: a till linking libpatron.a through the C struct API
.PHONY: embed
embed: $(BUILD)/checkout
$(BUILD)/checkout: examples/embed/checkout.c core/patron.h $(BUILD)/libpatron.a
	$(CC) -std=c11 $(WARN) $(OPT) -Icore $(LDSAN) -o $@ $< $(BUILD)/libpatron.a $(LDLIBS_ALL)

clean:
	rm -rf build

# ---- robustness: crash test, fault injection, fuzzing -------------------------
# tests/e2e/crash.sh (in `make test`) builds $(BUILD)/crash/crash for the
# build it tests; tests/unit/test_faults.c fails libpatron's own malloc,
# calloc and realloc too, routed to it by the linker (this binary only).
$(BUILD)/crash/%: tests/crash/%.c $(BUILD)/libpatron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDSAN) -o $@ $< $(BUILD)/libpatron.a $(LDLIBS_ALL)

$(BUILD)/tests/test_faults: private CFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
$(BUILD)/tests/test_oom_reports: private CFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

# make soak: the crash test for SOAK_KILLS kills (a fresh database every 500)
# and every fault-injection loop on every operation under ASan+UBSan.
SOAK_KILLS ?= 10000
soak: deps
	@$(MAKE) -s --no-print-directory build/crash/crash
	@$(MAKE) -s --no-print-directory BUILD=build/asan SAN=1 build/asan/tests/test_faults
	build/crash/crash --kills $(SOAK_KILLS) --fresh-every 500 --seed $${CRASH_SEED:-$$(date +%s)}
	cd "$$(mktemp -d)" && PATRON_FAULTS_FULL=1 $(CURDIR)/build/asan/tests/test_faults
	@$(MAKE) -s --no-print-directory build/tests/test_sim build/tests/test_concurrency
	cd "$$(mktemp -d)" && PATRON_SIM_SEEDS=$${SIM_SEEDS:-20} PATRON_SIM_OPS=$${SIM_OPS:-100000} $(CURDIR)/build/tests/test_sim
	cd "$$(mktemp -d)" && PATRON_CONCURRENCY_TRIALS=$${CONCURRENCY_TRIALS:-5000} $(CURDIR)/build/tests/test_concurrency

# make fuzz: each libFuzzer target in tests/fuzz for FUZZ_SECONDS (clang,
# -fsanitize=fuzzer,address,undefined), seeded from tests/fuzz/seeds; the
# corpus grows in build/fuzz/corpus, crashing inputs land in
# build/fuzz/crashes (add each to tests/unit/test_hostile.c).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= cart config csv actions
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
fuzz: deps
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	  echo "make fuzz: $(FUZZ_CC) not found; install clang and its runtime:" \
	       "apt-get install clang libclang-rt-14-dev (Debian 12)" >&2; exit 1; }
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	  >/tmp/patron-fuzz-probe.c; \
	if ! $(FUZZ_CC) -fsanitize=fuzzer,address -o /tmp/patron-fuzz-probe /tmp/patron-fuzz-probe.c 2>/dev/null; then \
	  pkg=libclang-rt-$$($(FUZZ_CC) -dumpversion | cut -d. -f1)-dev; \
	  echo "make fuzz: $(FUZZ_CC) cannot link libFuzzer; installing $$pkg"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -qq --no-install-recommends $$pkg >/dev/null || \
	    { echo "make fuzz: install $$pkg (clang's compiler-rt with libFuzzer)" >&2; exit 1; }; \
	fi; rm -f /tmp/patron-fuzz-probe /tmp/patron-fuzz-probe.c
	@$(MAKE) -s --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=1 \
	  CFLAGS=-fsanitize=fuzzer-no-link $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/fuzz_%)
	@mkdir -p $(FUZZ_BUILD)/crashes; failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 \
	    -rss_limit_mb=4096 -print_final_stats=1 -dict=tests/fuzz/$$t.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/seeds/$$t >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 \
	    || failed="$$failed $$t"; \
	  grep -E '^stat::number_of_executed_units|^stat::new_units_added|^#[0-9]+ *DONE' \
	    $(FUZZ_BUILD)/fuzz_$$t.log | sed 's/^/  /'; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "make fuzz: crashes in:$$failed (inputs in $(FUZZ_BUILD)/crashes, logs in $(FUZZ_BUILD)/fuzz_*.log)"; \
	  exit 1; fi; echo "make fuzz: no crash in $(FUZZ_SECONDS) s per target"

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libpatron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $(LDSAN) -o $@ $< $(BUILD)/libpatron.a $(LDLIBS_ALL)
