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
TOOLS   := pkg-config:pkg-config jq:jq sqlite3:sqlite3

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

$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h $(BUILD)/libpatron.a
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

clean:
	rm -rf build
