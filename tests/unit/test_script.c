/* test_script.c -- the rule runtime through real quotes: shops are applied
** with patron_apply_buffer, plugins come from tests/unit/fixtures/rules/
** (found through $PATRON_TEST_ROOT), carts are priced with
** patron_quote_json and committed with patron_commit_json. Every hostile
** plugin has its own test, which checks the warning (or rule_error in a
** strict shop), that the other plugin of the shop still applied, that
** the same engine then prices a normal cart exactly, and for memory
** bombs that the state's memory returns to its level. Also: views and
** helpers, action validation, determinism across 1,000 fresh handles,
** campaign windows, budgets at commit and refund, the pattern matcher
** against the standard library's, and `rules check`. */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "rules.h"
#include "script_rt.h"
#include "t.h"

static char root[4096]; /* the repository */
static char fix[4300];  /* tests/unit/fixtures/rules */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void unlink_db(const char *db) {
  char side[300];
  unlink(db);
  snprintf(side, sizeof side, "%s-wal", db);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", db);
  unlink(side);
}

static patron *open_db(const char *db) {
  patron *p = NULL;
  patron_options o = PATRON_OPTIONS_INIT;
  o.plugin_dir = fix;
  if (patron_open(&p, db, &o) != PATRON_OK) printf("# open %s: %s\n", db, patron_errmsg(p));
  return p;
}

static void write_file(const char *path, const char *text);

/* A fresh shop with the test catalog and the configuration src. */
static patron *shop(const char *db, const char *src) {
  unlink_db(db);
  patron *p = open_db(db);
  patron_apply_result r;
  if (patron_apply_buffer(p, &r, "shop.lua", src, strlen(src)) != PATRON_OK)
    printf("# apply: %s\n", patron_errmsg(p));
  patron_import_result ir;
  if (patron_import_catalog(p, &ir, "catalog.csv", NULL, NULL) != PATRON_OK)
    printf("# catalog: %s\n", patron_errmsg(p));
  return p;
}

static json_t *quote(patron *p, const char *cart) {
  char *out = NULL;
  int rc = patron_quote_json(p, &out, cart);
  if (rc != PATRON_OK) {
    printf("# quote: %s: %s\n", patron_code_name(rc), patron_errmsg(p));
    return NULL;
  }
  json_t *j = json_loads(out, 0, NULL);
  patron_free(out);
  return j;
}

static json_t *commit(patron *p, const char *cart) {
  char *out = NULL;
  int rc = patron_commit_json(p, &out, cart);
  if (rc != PATRON_OK) {
    printf("# commit: %s: %s\n", patron_code_name(rc), patron_errmsg(p));
    return NULL;
  }
  json_t *j = json_loads(out, 0, NULL);
  patron_free(out);
  return j;
}

static int64_t I(const json_t *o, const char *key) {
  return (int64_t)json_integer_value(json_object_get(o, key));
}

/* The first string of array key in q containing needle, or NULL. */
static const char *find_in(const json_t *q, const char *key, const char *needle) {
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(q, key), i, w) {
    const char *s = json_string_value(w);
    if (s && strstr(s, needle)) return s;
  }
  return NULL;
}
#define WARNING(q, s) find_in(q, "warnings", s)
#define MESSAGE(q, s) find_in(q, "messages", s)
#define NWARN(q) json_array_size(json_object_get(q, "warnings"))

static void dump_warnings(const json_t *q) {
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(q, "warnings"), i, w)
    printf("#     warning: %s\n", json_string_value(w));
}

static int64_t scalar(patron *p, const char *sql) {
  sqlite3_stmt *st;
  int64_t v = -999;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static size_t mem(patron *p) { return p->script ? pt_script_memory(p->script) : 0; }

#define BASE "shop { currency = \"EUR\" }\nprogram \"default\" {}\n"
#define LINES "{\"sku\":\"COF-01\",\"qty\":2,\"unit_cents\":899,\"category\":\"coffee\"}," \
              "{\"sku\":\"MUG-01\",\"qty\":1,\"unit_cents\":1299,\"category\":\"mugs\"}"
#define NORMAL "{\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[" LINES "]}"

/* The normal cart plus one line of sku. */
static const char *cart_with(const char *sku) {
  static char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[" LINES
           ",{\"sku\":\"%s\",\"qty\":1,\"unit_cents\":100,\"category\":\"x\"}]}", sku);
  return buf;
}

/* The same engine prices the normal cart exactly: sample.lua's 10% off the
** mug (129) and nothing else, no warning. */
static void check_normal(patron *p, const char *why) {
  json_t *q = quote(p, NORMAL);
  CHECK(q != NULL);
  if (!q) return;
  if (I(q, "total_cents") != 2968 || NWARN(q) != 0) {
    printf("#   the next cart after %s:\n", why);
    dump_warnings(q);
  }
  CHECK_EQ_I64(I(q, "subtotal_cents"), 3097);
  CHECK_EQ_I64(I(q, "discount_cents"), 129);
  CHECK_EQ_I64(I(q, "total_cents"), 2968);
  CHECK_EQ_I64(I(q, "points_earned"), 29);
  CHECK_EQ_I64(NWARN(q), 0);
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(q, "discounts"), 0),
                                              "source")), "plugin:sample");
  json_decref(q);
}

/* A shop of the hostile plugin (first) and sample.lua. For each sku: the
** cart with it gets the warning want, sample.lua still applies, it takes
** less than 10 s, the next cart is priced exactly and, for memory bombs,
** the state's memory is back to its level. */
static void hostile(const char *plugin, const char *const *skus, const char *const *want,
                    bool memory) {
  char src[1024];
  snprintf(src, sizeof src, BASE "%s\nplugin \"sample.lua\" {}\n", plugin);
  patron *p = shop("hostile.db", src);
  check_normal(p, "nothing");
  size_t level = mem(p);
  for (size_t i = 0; skus[i]; i++) {
    double t0 = now_s();
    json_t *q = quote(p, cart_with(skus[i]));
    double took = now_s() - t0;
    CHECK(q != NULL);
    if (!q) continue;
    if (!WARNING(q, want[i])) {
      printf("#   %s: no warning \"%s\"\n", skus[i], want[i]);
      dump_warnings(q);
    }
    CHECK_HAS(WARNING(q, want[i]), want[i]);
    CHECK_EQ_I64(I(q, "discount_cents"), 129); /* sample.lua ran after it */
    CHECK(took < 10.0);
    json_decref(q);
    check_normal(p, skus[i]);
    if (memory) {
      size_t after = mem(p);
      if (after > level + 64 * 1024)
        printf("#   %s: memory %zu bytes after, %zu before\n", skus[i], after, level);
      CHECK(after <= level + 64 * 1024);
    }
  }
  patron_close(p);
}

/* ---- a plugin that behaves ------------------------------------------------------ */

TEST(sample_plugin_applies_its_actions) {
  patron *p = shop("sample.db", BASE "plugin \"sample.lua\" { bonus = 25 }\n");
  json_t *q = quote(p, "{\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[" LINES
                       ",{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999,\"category\":\"mp3\"}]}");
  CHECK(q != NULL);
  if (q) {
    CHECK_EQ_I64(I(q, "discount_cents"), 129);
    json_t *s = json_array_get(json_object_get(q, "suggestions"), 0);
    CHECK_STR(json_string_value(json_object_get(s, "sku")), "HP-07");
    CHECK_STR(json_string_value(json_object_get(s, "reason")), "goes with your MP3 player");
    /* floor((3097 + 4999 - 129) / 100) + 25 bonus */
    CHECK_EQ_I64(I(q, "points_earned"), 79 + 25);
    size_t i, plugin_steps = 0;
    json_t *t;
    json_array_foreach(json_object_get(q, "trace"), i, t) {
      const char *src = json_string_value(json_object_get(t, "source"));
      if (src && strcmp(src, "plugin:sample") == 0) plugin_steps++;
    }
    CHECK_EQ_I64(plugin_steps, 3); /* discount, suggestion, bonus */
    CHECK_EQ_I64(NWARN(q), 0);
  }
  json_decref(q);
  CHECK(p->script != NULL);
  patron_close(p);
}

TEST(no_plugins_no_runtime) {
  patron *p = shop("none.db", BASE);
  json_t *q = quote(p, NORMAL);
  CHECK(q != NULL);
  CHECK(p->script == NULL);
  json_decref(q);
  patron_close(p);
}

TEST(the_state_is_rebuilt_when_the_config_changes) {
  patron *p = shop("rebuild.db", BASE "plugin \"sample.lua\" {}\n");
  check_normal(p, "the first config");
  pt_script *first = p->script;
  CHECK(first != NULL);
  const char *src = BASE "plugin \"sample.lua\" { pct_bp = 5000 }\n";
  patron_apply_result r;
  CHECK_EQ_I64(patron_apply_buffer(p, &r, "shop.lua", src, strlen(src)), PATRON_OK);
  json_t *q = quote(p, NORMAL);
  CHECK_EQ_I64(I(q, "discount_cents"), 649); /* 50% of 1299, floored */
  json_decref(q);
  /* another handle applies a third version: this handle notices */
  patron *p2 = open_db("rebuild.db");
  src = BASE "plugin \"sample.lua\" { pct_bp = 2000 }\n";
  CHECK_EQ_I64(patron_apply_buffer(p2, &r, "shop.lua", src, strlen(src)), PATRON_OK);
  q = quote(p, NORMAL);
  CHECK_EQ_I64(I(q, "discount_cents"), 259);
  json_decref(q);
  patron_close(p2);
  patron_close(p);
}

/* ---- instruction budget ----------------------------------------------------------- */

TEST(endless_loop) {
  const char *skus[] = {"BOMB", NULL};
  const char *want[] = {"plugin loop: instruction budget exceeded at loop.lua:5"};
  hostile("plugin \"loop.lua\" {}", skus, want, false);
}

TEST(endless_loop_with_a_small_budget) {
  const char *skus[] = {"BOMB", NULL};
  const char *want[] = {"plugin loop: instruction budget exceeded at loop.lua:5"};
  hostile("plugin \"loop.lua\" { instructions = 2000 }", skus, want, false);
}

TEST(endless_loop_under_pcall_is_still_stopped) {
  const char *skus[] = {"BOMB", "XBOMB", "RBOMB", NULL};
  const char *want[] = {"plugin pcall_loop: instruction budget exceeded at pcall_loop.lua:",
                        "plugin pcall_loop: instruction budget exceeded at pcall_loop.lua:",
                        "plugin pcall_loop: instruction budget exceeded at pcall_loop.lua:"};
  hostile("plugin \"pcall_loop.lua\" {}", skus, want, false);
}

TEST(endless_loops_in_coroutines) {
  const char *skus[] = {"BOMB", "WBOMB", "YBOMB", NULL};
  const char *want[] = {"plugin coroutine_loop: instruction budget exceeded at coroutine_loop.lua:7",
                        "plugin coroutine_loop: instruction budget exceeded at coroutine_loop.lua:10",
                        "plugin coroutine_loop: instruction budget exceeded at coroutine_loop.lua:1"};
  hostile("plugin \"coroutine_loop.lua\" {}", skus, want, false);
  patron *p = shop("co.db", BASE "plugin \"coroutine_loop.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  CHECK_HAS(MESSAGE(q, "coroutines work"), "coroutines work: 2 42");
  json_decref(q);
  patron_close(p);
}

TEST(recursion_bomb) {
  const char *skus[] = {"BOMB", NULL};
  const char *want[] = {"plugin recursion: "};
  hostile("plugin \"recursion.lua\" {}", skus, want, true);
}

TEST(pattern_that_backtracks_for_minutes_is_stopped) {
  const char *skus[] = {"BOMB", "MBOMB", NULL};
  const char *want[] = {"plugin pattern: instruction budget exceeded at pattern.lua:7",
                        "plugin pattern: instruction budget exceeded at pattern.lua:9"};
  hostile("plugin \"pattern.lua\" {}", skus, want, false);
  patron *p = shop("pattern.db", BASE "plugin \"pattern.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  CHECK_HAS(MESSAGE(q, "pattern"), "pattern max 3");
  json_decref(q);
  patron_close(p);
}

/* ---- memory ------------------------------------------------------------------------- */

#define MEMORY_PLUGIN "plugin \"memory.lua\" { memory_kb = 2048 }"
#define MEMORY_WARNING "plugin memory: memory cap exceeded (2048 KiB)"

TEST(string_rep_bomb) {
  const char *skus[] = {"REP", NULL}, *want[] = {MEMORY_WARNING};
  hostile(MEMORY_PLUGIN, skus, want, true);
}

TEST(string_rep_bomb_under_pcall) {
  const char *skus[] = {"PREP", NULL}, *want[] = {MEMORY_WARNING};
  hostile(MEMORY_PLUGIN, skus, want, true); /* and no "survived" discount */
}

TEST(concatenation_doubling_bomb) {
  const char *skus[] = {"CONCAT", NULL}, *want[] = {MEMORY_WARNING};
  hostile(MEMORY_PLUGIN, skus, want, true);
}

TEST(table_concat_bomb) {
  const char *skus[] = {"TCONCAT", NULL}, *want[] = {MEMORY_WARNING};
  hostile(MEMORY_PLUGIN, skus, want, true);
}

TEST(table_growth_bomb) {
  const char *skus[] = {"GROW", NULL}, *want[] = {MEMORY_WARNING};
  hostile(MEMORY_PLUGIN, skus, want, true);
}

TEST(a_plugin_that_keeps_memory_cannot_starve_the_others) {
  /* KEEP adds 1 MiB to a global table on every cart: within its 2 MiB per
  ** call, until the state's cap (8 + 2 + 8 MiB) is reached; then the state
  ** is rebuilt and the others go on */
  patron *p = shop("keep.db", BASE MEMORY_PLUGIN "\nplugin \"sample.lua\" {}\n");
  check_normal(p, "nothing");
  int failed = 0, sample_missing = 0, run = 0, longest = 0;
  for (int i = 0; i < 40; i++) {
    json_t *q = quote(p, cart_with("KEEP"));
    CHECK(q != NULL);
    if (!q) continue;
    if (NWARN(q)) {
      CHECK_HAS(WARNING(q, "memory"), "memory cap exceeded");
      failed++;
      if (++run > longest) longest = run;
    } else {
      run = 0;
    }
    if (I(q, "discount_cents") != 129) sample_missing++;
    json_decref(q);
  }
  CHECK(failed > 0);           /* it hit the state's cap ... */
  CHECK(longest <= 2);         /* ... and the state was rebuilt at once */
  CHECK(sample_missing <= failed);
  check_normal(p, "KEEP");
  patron_close(p);
}

/* ---- the sandbox ------------------------------------------------------------------------- */

TEST(setmetatable_refuses_gc_close_and_mode) {
  const char *skus[] = {"GC", "CLOSE", "MODE", NULL};
  const char *want[] = {"meta.lua:5: setmetatable: metatables with __gc are not allowed",
                        "meta.lua:7: setmetatable: metatables with __close are not allowed",
                        "meta.lua:9: setmetatable: metatables with __mode are not allowed"};
  hostile("plugin \"meta.lua\" {}", skus, want, false);
  patron *p = shop("meta.db", BASE "plugin \"meta.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  CHECK_HAS(MESSAGE(q, "metatables"), "metatables fine");
  json_decref(q);
  patron_close(p);
}

TEST(load_refuses_binary_chunks) {
  patron *p = shop("load.db", BASE "plugin \"load_binary.lua\" {}\nplugin \"sample.lua\" {}\n");
  json_t *q = quote(p, cart_with("BOMB"));
  CHECK_HAS(MESSAGE(q, "refused"), "binary chunk");
  CHECK(MESSAGE(q, "loaded a binary chunk") == NULL);
  json_decref(q);
  q = quote(p, cart_with("MODE"));
  CHECK_HAS(WARNING(q, "load_binary"), "only text chunks are allowed");
  json_decref(q);
  q = quote(p, NORMAL);
  CHECK_HAS(MESSAGE(q, "load:"), "load: hello 42"); /* text load sees the plugin's globals */
  json_decref(q);
  patron_close(p);
}

TEST(string_dump_is_absent) {
  patron *p = shop("dump.db", BASE "plugin \"absent.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  const char *m = MESSAGE(q, "present:");
  CHECK(m != NULL);
  CHECK(m && !strstr(m, "string.dump"));
  json_decref(q);
  patron_close(p);
}

TEST(io_os_debug_package_are_absent) {
  patron *p = shop("absent.db", BASE "plugin \"absent.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  CHECK_STR(MESSAGE(q, "present:"), "present:"); /* none of them, nor rawset */
  CHECK_HAS(MESSAGE(q, "os: "), "undeclared global 'os'");
  CHECK_EQ_I64(NWARN(q), 0);
  json_decref(q);
  patron_close(p);
}

TEST(the_string_metatable_is_locked) {
  const char *skus[] = {"BOMB", NULL};
  const char *want[] = {"string_mt.lua:7: attempt to index a boolean value"};
  hostile("plugin \"string_mt.lua\" {}", skus, want, false);
  patron *p = shop("strmt.db", BASE "plugin \"string_mt.lua\" {}\nplugin \"probe.lua\" {}\n");
  json_t *q = quote(p, cart_with("COPY")); /* it changed its own copy of string */
  CHECK_HAS(MESSAGE(q, "string mt:"), "string mt: false OK");
  CHECK_HAS(MESSAGE(q, "PROBE"), "PROBE");
  json_decref(q);
  patron_close(p);
}

TEST(rewriting_its_globals_reaches_no_other_plugin) {
  patron *p = shop("rewrite.db", BASE "plugin \"rewrite_g.lua\" {}\nplugin \"probe.lua\" {}\n"
                                      "plugin \"sample.lua\" {}\n");
  for (int i = 0; i < 2; i++) {
    json_t *q = quote(p, NORMAL);
    CHECK_HAS(MESSAGE(q, "PROBE"), "PROBE ab 2 mine function");
    CHECK_EQ_I64(I(q, "discount_cents"), 129); /* sample's discount, not the rewritten one */
    json_decref(q);
  }
  check_normal(p, "rewriting _G");
  patron_close(p);
}

TEST(one_plugin_cannot_change_another_plugins_globals) {
  patron *p = shop("globals.db", BASE "plugin \"globals_a.lua\" {}\nplugin \"probe.lua\" {}\n");
  for (int i = 0; i < 2; i++) {
    json_t *q = quote(p, NORMAL);
    CHECK_HAS(MESSAGE(q, "a sees"), "a sees changed by a");
    CHECK_HAS(MESSAGE(q, "PROBE"), " mine ");
    json_decref(q);
  }
  patron_close(p);
}

TEST(views_are_read_only) {
  const char *skus[] = {"QTY", "NEW", "PARAMS", "INSERT", "CUST", "META", NULL};
  const char *want[] = {
      "view_write.lua:5: attempt to modify a read-only view (cart.lines[1].qty)",
      "view_write.lua:7: attempt to modify a read-only view (cart.total)",
      "view_write.lua:9: attempt to modify a read-only view (ctx.params.list[1])",
      "attempt to modify a read-only view (cart.lines[4])",
      "view_write.lua:13: attempt to modify a read-only view (ctx.customer.points)",
      "view_write.lua:15: cannot change a protected metatable"};
  hostile("plugin \"view_write.lua\" { list = { \"a\", \"b\" } }", skus, want, false);
  patron *p = shop("views_ro.db", BASE "plugin \"view_write.lua\" { list = { \"a\", \"b\" } }\n");
  json_t *q = quote(p, NORMAL);
  CHECK_HAS(MESSAGE(q, "qty"), "qty 2 params 2");
  json_decref(q);
  patron_close(p);
}

TEST(slow_c_calls_hit_the_time_limit) {
  const char *skus[] = {"BOMB", NULL};
  const char *want[] = {"plugin slow: time limit exceeded at slow.lua:8"};
  hostile("plugin \"slow.lua\" { memory_kb = 32768 }", skus, want, true);
}

TEST(helpers_and_view_semantics) {
  patron *p = shop("misc.db", BASE "plugin \"misc.lua\" { rec = { zeta = 1, alpha = 2, mid = 3 } }\n");
  json_t *q = quote(p, NORMAL);
  CHECK_STR(MESSAGE(q, "299"), "299 -300 1234.56 -0.05 view cart.lines[2] nil 0 2 alpha+mid+zeta "
                               "6 003.1 false");
  CHECK_EQ_I64(NWARN(q), 0);
  json_decref(q);
  patron_close(p);
}

/* ---- actions ------------------------------------------------------------------------------ */

TEST(garbage_actions_are_dropped_one_by_one) {
  patron *p = shop("garbage.db", BASE "plugin \"garbage.lua\" {}\n");
  json_t *q = quote(p, "{\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\",\"lines\":["
                       "{\"sku\":\"BOMB\",\"qty\":1,\"unit_cents\":100,\"category\":\"x\"}," LINES
                       "]}");
  CHECK(q != NULL);
  if (!q) goto done;
  static const char *const want[] = {
      "plugin garbage: discount: cents must be an integer, got the float 1.5",
      "plugin garbage: discount: cents must be an integer, got NaN",
      "plugin garbage: discount: cents must be an integer, got the float 9.2233720368548e+18",
      "plugin garbage: discount: cents 9223372036854775807 is out of range (beyond 2^53)",
      "plugin garbage: discount: bp must be 1..10000, got 20000",
      "plugin garbage: discount: give cents or bp, not both",
      "plugin garbage: discount: cents must be an integer, got text \"100\"",
      "plugin garbage: discount: unknown field 'cent'",
      "plugin garbage: discount needs a table of fields, like discount { ... }, got number",
      "plugin garbage: suggest: sku must be text, got a table",
      "plugin garbage: suggest: reason must be text, got a table",
      "plugin garbage: discount: skus[1] must be a sku (text), got a table",
      "plugin garbage: message: text contains a NUL byte",
      "plugin garbage: message: text is not valid UTF-8",
      "plugin garbage: action 15 is 42, not an action",
      "plugin garbage: action 16 is text \"discount\", not an action",
      "plugin garbage: unknown action 'teleport'",
      "plugin garbage: action 18 is a table without an action name",
      "plugin garbage: bonus_points: only on_earn gives points",
      "plugin garbage: shipping: cents must be 0 or more, got -1",
      "plugin garbage: free_item: qty must be 1..1000000, got 0",
      "plugin garbage: bonus_points: points must be positive (a plugin cannot take points "
      "away), got -5",
      "plugin garbage: discount: on_earn may only give bonus_points and messages",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (!WARNING(q, want[i])) printf("#   missing: %s\n", want[i]);
    CHECK(WARNING(q, want[i]) != NULL);
  }
  if (NWARN(q) != sizeof want / sizeof want[0]) dump_warnings(q);
  CHECK_EQ_I64(NWARN(q), sizeof want / sizeof want[0]);
  CHECK_HAS(MESSAGE(q, "good"), "the good one");
  CHECK_EQ_I64(I(q, "discount_cents"), 0);
  CHECK_EQ_I64(I(q, "points_earned"), 31 + 7); /* the valid bonus only */
done:
  json_decref(q);
  q = quote(p, NORMAL);
  CHECK_EQ_I64(NWARN(q), 0);
  CHECK_EQ_I64(I(q, "total_cents"), 3097);
  json_decref(q);
  patron_close(p);
}

TEST(errors_that_are_not_strings) {
  const char *skus[] = {"TABLE", "NIL", "STR", "PLAIN", "TYPO", "NUMBER", NULL};
  const char *want[] = {"plugin errobj: errobj.lua:5: error with a table value",
                        "plugin errobj: errobj.lua:7: error with a nil value",
                        "plugin errobj: errobj.lua:9: boom",
                        "plugin errobj: errobj.lua:11: plain",
                        "plugin errobj: errobj.lua:13: undeclared global 'discout'",
                        "plugin errobj: errobj.lua: on_quote returned 42"};
  hostile("plugin \"errobj.lua\" {}", skus, want, false);
}

TEST(a_plugin_that_fails_to_load_warns_on_every_cart) {
  patron *p = shop("badload.db", BASE "plugin \"badload.lua\" {}\nplugin \"sample.lua\" {}\n");
  for (int i = 0; i < 2; i++) {
    json_t *q = quote(p, NORMAL);
    CHECK_HAS(WARNING(q, "badload"), "plugin badload: badload.lua:4: cannot load: missing setting");
    CHECK_EQ_I64(NWARN(q), 1);
    CHECK_EQ_I64(I(q, "discount_cents"), 129);
    json_decref(q);
  }
  CHECK_EQ_I64(pt_script_errors(p->script, 0), 2);
  patron_close(p);
}

TEST(strict_mode_fails_the_quote_with_rule_error) {
  patron *p = shop("strict.db", "shop { currency = \"EUR\", strict = true }\nprogram \"default\" {}\n"
                                "plugin \"loop.lua\" {}\nplugin \"sample.lua\" {}\n");
  char *out = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &out, cart_with("BOMB")), PATRON_RULE_ERROR);
  CHECK(out == NULL);
  CHECK_HAS(patron_errmsg(p), "plugin loop: instruction budget exceeded at loop.lua:5");
  char *err = patron_error_json(p);
  CHECK_HAS(err, "\"code\":\"rule_error\"");
  patron_free(err);
  check_normal(p, "a rule_error");
  patron_close(p);
  p = shop("strict2.db", "shop { currency = \"EUR\", strict = true }\nprogram \"default\" {}\n"
                         "plugin \"garbage.lua\" {}\n");
  CHECK_EQ_I64(patron_quote_json(p, &out, cart_with("BOMB")), PATRON_RULE_ERROR);
  CHECK_HAS(patron_errmsg(p), "plugin garbage: discount: cents must be an integer");
  patron_close(p);
}

/* ---- views -------------------------------------------------------------------------------- */

TEST(views_and_helpers_show_the_cart_customer_and_catalog) {
  patron *p = shop("views.db",
                   "shop { currency = \"EUR\" }\n"
                   "program \"default\" { tiers = { { name = \"bronze\", from_cents = 0 },\n"
                   "  { name = \"silver\", from_cents = 100000, multiplier_bp = 12500 } } }\n"
                   "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n"
                   "plan \"pro\" { price_cents = 1000, every = \"month\" }\n"
                   "plugin \"views.lua\" { max = 3, pairs = { { \"mp3\", \"headphones\" } } }\n");
  /* an earlier order: C1 bought coffee and was shown HP-07 */
  json_t *r = commit(p, "{\"order_id\":\"O1\",\"customer\":\"C1\",\"at\":\"2026-11-01T10:00:00Z\","
                        "\"lines\":[{\"sku\":\"COF-01\",\"qty\":2,\"unit_cents\":899}]}");
  CHECK(r != NULL);
  json_decref(r);
  json_t *q = quote(p, "{\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\",\"lines\":["
                       "{\"sku\":\"COF-01\",\"qty\":2,\"unit_cents\":899,\"category\":\"coffee\","
                       "\"tags\":[\"fair\",\"organic\"]},"
                       "{\"sku\":\"MUG-01\",\"qty\":1,\"unit_cents\":1299,\"category\":\"mugs\"}],"
                       "\"shown_suggestions\":[\"COF-03\"]}");
  CHECK(q != NULL);
  if (q) {
    CHECK_STR(MESSAGE(q, "cart "), "cart 3097 0 2 2 coffee+mugs 1");
    CHECK_STR(MESSAGE(q, "line "), "line category,discount_cents,gross_cents,net_cents,qty,sku,"
                                   "tags,unit_cents tags fair+organic");
    CHECK_STR(MESSAGE(q, "customer "), "customer C1 1 1798 true false true nil");
    CHECK_STR(MESSAGE(q, "catalog "), "catalog COF-01:90,COF-03:70 Headphones 2999 nil");
    CHECK_STR(MESSAGE(q, "ctx "), "ctx 2026-11-23 default 2 3 headphones 1 5000");
    CHECK_STR(MESSAGE(q, "order "), "order 1798 17 bronze");
    /* suggestions: HP-07 kept; COF-01 (in the cart) and COF-03 (just
    ** declined) dropped silently; NOPE is not in the catalog */
    json_t *sg = json_object_get(q, "suggestions");
    CHECK_EQ_I64(json_array_size(sg), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(sg, 0), "sku")), "HP-07");
    CHECK_STR(json_string_value(json_object_get(json_array_get(sg, 0), "source")), "plugin:views");
    CHECK_HAS(WARNING(q, "NOPE"), "plugin views: suggest: unknown sku NOPE");
    CHECK_EQ_I64(NWARN(q), 1);
    /* the free mug */
    CHECK_EQ_I64(I(q, "discount_cents"), 1299);
    CHECK_EQ_I64(I(q, "shipping_cents"), 499); /* 1798 < 5000 */
  }
  json_decref(q);
  patron_close(p);
}

/* The cart view and its line views are kept by the state and filled in
** place, and catalog items are copies of kept rows: a plugin that changes
** its copies, a shorter or anonymous cart, an order's fields from on_earn,
** none of it may show in the next call; a catalog import shows at once. */
TEST(kept_views_and_catalog_rows_never_carry_one_cart_into_the_next) {
  patron *p = shop("mutate.db", BASE "plugin \"mutate.lua\" {}\n");
  const char *small = "{\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[{\"sku\":\"MP3-01\","
                      "\"qty\":1,\"unit_cents\":4999,\"category\":\"mp3\"}]}";
  json_t *a = quote(p, NORMAL), *b = quote(p, small), *c = quote(p, NORMAL);
  CHECK(a && b && c);
  if (a && b && c) {
    CHECK_STR(MESSAGE(a, "seen "), "seen Headphones/0/Coffee beans lines 2 COF-01+MUG-01 "
                                   "second true customer C1 paid nil");
    CHECK_HAS(MESSAGE(a, "earn "), "earn 3097");
    CHECK_STR(MESSAGE(b, "seen "), "seen Headphones/0/Coffee beans lines 1 MP3-01 "
                                   "second false customer nil paid nil");
    char *ja = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    char *jc = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(jc, ja); /* the same cart, the same quote */
    free(ja);
    free(jc);
  }
  json_decref(a);
  json_decref(b);
  json_decref(c);
  write_file("rename.csv", "sku,name,price_cents,category,popularity\n"
                           "HP-07,Studio headphones,2999,headphones,40\n"
                           "COF-03,Espresso beans,1099,coffee,95\n");
  patron_import_result ir;
  CHECK_EQ_I64(patron_import_catalog(p, &ir, "rename.csv", NULL, NULL), PATRON_OK);
  json_t *d = quote(p, NORMAL);
  CHECK_STR(MESSAGE(d, "seen "), "seen Studio headphones/0/Espresso beans lines 2 COF-01+MUG-01 "
                                 "second true customer C1 paid nil");
  json_decref(d);
  unlink("rename.csv");
  patron_close(p);
}

TEST(the_customer_view_follows_the_cart) {
  patron *p = shop("cust.db", BASE "plugin \"customer.lua\" { n = 0 }\n");
  json_t *r = commit(p, "{\"order_id\":\"O1\",\"customer\":\"C1\",\"at\":\"2026-11-01T10:00:00Z\","
                        "\"lines\":[{\"sku\":\"COF-01\",\"qty\":2,\"unit_cents\":899}]}");
  json_decref(r);
  static const struct { const char *customer, *want; } cases[] = {
      {"\"C1\"", "C1 1 17"}, {"\"C2\"", "C2 0 0"}, {"null", "anonymous"}, {"\"C1\"", "C1 1 17"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char cart[512];
    snprintf(cart, sizeof cart, "{\"customer\":%s,\"at\":\"2026-11-23T12:00:00Z\",\"lines\":["
             LINES "]}", cases[i].customer);
    json_t *q = quote(p, cart);
    CHECK_STR(json_string_value(json_array_get(json_object_get(q, "messages"),
                                               json_array_size(json_object_get(q, "messages")) - 1)),
              cases[i].want);
    json_decref(q);
  }
  patron_close(p);
}

TEST(at_most_ten_suggestions_per_quote) {
  patron *p = shop("ten.db", BASE "plugin \"customer.lua\" { n = 12 }\n"
                                  "plugin \"sample.lua\" {}\n");
  json_t *q = quote(p, "{\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[" LINES
                       ",{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999}]}");
  /* 4 of the 12 skus are in the catalog and not in the cart: COF-02,
  ** COF-03, HP-07 (MP3-01 is in the cart); the others are unknown */
  CHECK_EQ_I64(json_array_size(json_object_get(q, "suggestions")), 3);
  CHECK_HAS(WARNING(q, "TEA-01"), "plugin customer: suggest: unknown sku TEA-01");
  json_decref(q);
  patron_close(p);
  /* a catalog of 12 known skus: only the first 10 are kept */
  p = shop("ten2.db", BASE "plugin \"customer.lua\" { n = 12 }\n");
  patron_import_result ir;
  FILE *f = fopen("more.csv", "w");
  fputs("sku,name,price_cents,category\nTEA-01,t,1,tea\nTEA-02,t,1,tea\nTEA-03,t,1,tea\n"
        "CUP-01,c,1,cups\nCUP-02,c,1,cups\nBAG-01,b,1,bags\nBAG-02,b,1,bags\nSPOON,s,1,x\n", f);
  fclose(f);
  CHECK_EQ_I64(patron_import_catalog(p, &ir, "more.csv", NULL, NULL), PATRON_OK);
  q = quote(p, NORMAL);
  CHECK_EQ_I64(json_array_size(json_object_get(q, "suggestions")), 10);
  CHECK_EQ_I64(NWARN(q), 0);
  json_decref(q);
  patron_close(p);
}

TEST(shipping_action_replaces_the_charge) {
  patron *p = shop("ship.db", BASE "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n"
                                   "plugin \"shipping.lua\" {}\n");
  json_t *q = quote(p, NORMAL);
  CHECK_EQ_I64(I(q, "shipping_cents"), 0);
  CHECK_EQ_I64(I(q, "total_cents"), 3097);
  size_t i;
  json_t *t;
  bool traced = false;
  json_array_foreach(json_object_get(q, "trace"), i, t) {
    if (strcmp(json_string_value(json_object_get(t, "stage")), "shipping") == 0)
      traced = strcmp(json_string_value(json_object_get(t, "source")), "plugin:shipping") == 0;
  }
  CHECK(traced);
  json_decref(q);
  patron_close(p);
}

/* ---- determinism ---------------------------------------------------------------------------- */

TEST(the_same_cart_gives_byte_identical_quotes_in_1000_fresh_handles) {
  patron *p = shop("det.db", BASE "plugin \"random.lua\" { weights = { b = 2, a = 1, c = 3 } }\n"
                                  "plugin \"sample.lua\" {}\n");
  patron_close(p);
  char *first = NULL;
  int same = 0;
  for (int i = 0; i < 1000; i++) {
    patron *h = open_db("det.db");
    char *out = NULL;
    if (patron_quote_json(h, &out, NORMAL) == PATRON_OK) {
      if (!first) first = out;
      else {
        same += strcmp(first, out) == 0;
        patron_free(out);
      }
    }
    patron_close(h);
  }
  CHECK_EQ_I64(same, 999);
  CHECK_HAS(first, "a=1,b=2,c=3,2,10,added,alpha,later,mid,zeta,true,");
  /* a quote and the commit of the same cart agree */
  p = open_db("det.db");
  json_t *q = quote(p, NORMAL);
  json_t *r = commit(p, "{\"order_id\":\"D1\",\"customer\":\"C1\",\"at\":\"2026-11-23T12:00:00Z\","
                        "\"lines\":[" LINES "]}");
  CHECK(q && r);
  if (q && r) CHECK_EQ_I64(I(q, "total_cents"), I(r, "total_cents"));
  json_decref(q);
  json_decref(r);
  patron_close(p);
  patron_free(first);
}

/* ---- campaign windows and budgets ------------------------------------------------------------- */

static const char *cart_at(const char *at, const char *order_id) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "{%s%s%s\"customer\":\"C1\",\"at\":\"%s\",\"lines\":[" LINES "]}",
           order_id ? "\"order_id\":\"" : "", order_id ? order_id : "", order_id ? "\"," : "",
           at);
  return buf;
}

TEST(campaign_window) {
  patron *p = shop("window.db", BASE "plugin \"campaign.lua\" { from = \"2026-12-01\", "
                                     "to = \"2026-12-24\" }\n");
  static const struct { const char *at; int64_t off; } cases[] = {
      {"2026-11-30T23:59:59Z", 0},
      {"2026-12-01T00:00:00Z", 500},
      {"2026-12-23T23:59:59Z", 500},
      {"2026-12-24T00:00:00Z", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *q = quote(p, cart_at(cases[i].at, NULL));
    CHECK_EQ_I64(I(q, "discount_cents"), cases[i].off);
    CHECK_EQ_I64(NWARN(q), 0);
    json_decref(q);
  }
  patron_close(p);
}

static int64_t totals(patron *p, const char *col) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT %s FROM rule_totals WHERE plugin = 'campaign'", col);
  return scalar(p, sql);
}

TEST(budget_is_enforced_at_commit_and_given_back_on_refund) {
  patron *p = shop("budget.db", BASE "plugin \"campaign.lua\" { budget = { cents = 1100, "
                                     "points = 250, uses = 10 } }\n");
  patron *p2 = open_db("budget.db"); /* a second till on the same shop */
  json_t *r = commit(p, cart_at("2026-11-23T10:00:00Z", "B1"));
  CHECK_EQ_I64(I(r, "discount_cents"), 500);
  json_decref(r);
  r = commit(p2, cart_at("2026-11-23T10:01:00Z", "B2"));
  CHECK_EQ_I64(I(r, "discount_cents"), 500);
  json_decref(r);
  CHECK_EQ_I64(totals(p, "cents"), 1000);
  CHECK_EQ_I64(totals(p, "points"), 200);
  CHECK_EQ_I64(totals(p, "uses"), 2);
  /* a quote warns at 90% */
  json_t *q = quote(p, cart_at("2026-11-23T10:02:00Z", NULL));
  CHECK_HAS(WARNING(q, "budget"), "plugin campaign: budget 90% spent (cents: 1000 of 1100)");
  CHECK_HAS(WARNING(q, "budget spent"), "plugin campaign: budget spent");
  CHECK_EQ_I64(I(q, "discount_cents"), 0);
  json_decref(q);
  /* the third order would pass both budgets: its discount and bonus are dropped */
  r = commit(p, cart_at("2026-11-23T10:03:00Z", "B3"));
  CHECK_EQ_I64(I(r, "discount_cents"), 0);
  CHECK_EQ_I64(I(r, "points_earned"), 30); /* floor(3097 / 100), no bonus */
  CHECK_HAS(WARNING(r, "budget spent"), "plugin campaign: budget spent");
  json_decref(r);
  CHECK_EQ_I64(totals(p, "cents"), 1000);
  CHECK_EQ_I64(totals(p, "uses"), 2);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM rule_usage"), 2);
  /* a partial refund gives back pro rata: 1 of 3 units of B2 */
  char *out = NULL;
  patron_refund_line one = {"COF-01", 1};
  CHECK_EQ_I64(patron_refund(p, &out, "B2", &one, 1), PATRON_OK);
  patron_free(out);
  CHECK_EQ_I64(totals(p, "cents"), 1000 - 166);
  CHECK_EQ_I64(totals(p, "points"), 200 - 33);
  CHECK_EQ_I64(totals(p, "uses"), 2);
  /* the rest of B2: the whole share and the use come back */
  CHECK_EQ_I64(patron_refund(p, &out, "B2", NULL, 0), PATRON_OK);
  patron_free(out);
  CHECK_EQ_I64(totals(p, "cents"), 500);
  CHECK_EQ_I64(totals(p, "points"), 100);
  CHECK_EQ_I64(totals(p, "uses"), 1);
  CHECK_EQ_I64(scalar(p, "SELECT cents_back FROM rule_usage u JOIN orders o ON o.id = "
                         "u.order_rowid WHERE o.order_id = 'B2'"), 500);
  /* so the next order gets the campaign again */
  r = commit(p2, cart_at("2026-11-23T11:00:00Z", "B4"));
  CHECK_EQ_I64(I(r, "discount_cents"), 500);
  json_decref(r);
  CHECK_EQ_I64(totals(p, "cents"), 1000);
  /* report budgets */
  json_t *rep = NULL;
  CHECK_EQ_I64(pt_rules_budgets(p, &rep), PATRON_OK);
  json_t *row = json_array_get(rep, 0);
  CHECK_STR(json_string_value(json_object_get(row, "plugin")), "campaign");
  CHECK_EQ_I64(I(row, "budget_cents"), 1100);
  CHECK_EQ_I64(I(row, "spent_cents"), 1000);
  CHECK_EQ_I64(I(row, "left_cents"), 100);
  CHECK_EQ_I64(I(row, "spent_points"), 200);
  CHECK_EQ_I64(I(row, "spent_uses"), 2);
  CHECK(json_is_null(json_object_get(row, "from")));
  json_decref(rep);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
  patron_close(p2);
  patron_close(p);
}

TEST(uses_budget_limits_shipping_actions) {
  patron *p = shop("uses.db", BASE "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n"
                                   "plugin \"shipping.lua\" { budget = { uses = 1 } }\n");
  json_t *r = commit(p, cart_at("2026-11-23T10:00:00Z", "S1"));
  CHECK_EQ_I64(I(r, "shipping_cents"), 0);
  json_decref(r);
  r = commit(p, cart_at("2026-11-23T10:01:00Z", "S2"));
  CHECK_EQ_I64(I(r, "shipping_cents"), 499);
  CHECK_HAS(WARNING(r, "budget spent"), "plugin shipping: budget spent");
  json_decref(r);
  patron_close(p);
}

/* ---- the pattern matcher against the standard library ------------------------------------------ */

static const char *const pat_subjects[] = {"hello world", "  trim me  ", "THE (quick) fox",
                                           "a,b,,c",      "x=1, y=22",   "",
                                           "aaa",         "f(a(b)c)d",   "THE (quick)"};
static const char *const pat_patterns[] = {
    "o",          "(%w+) (%w+)", "%a+",      "^h",        "d$",       "[aeiou]",  "[^%s]+",
    "%b()",       "%f[%w]%w+",   "(h)(e)",   "()ll()",    "(l)%1",    "%d+",      ".-",
    ".*",         "x*",          "",         "[%]]",      "[a-c]+",   "%s*(.-)%s*$",
    "l+",         "o?",          "%%",       "%",         "(",        "%1",       "[a",
    "%f",         "(()",         "a-b",      "[%a-]",     "^",        "$",        "%u%l*",
    "((a)(b))",   "[]]",         "%x+",      "%S+",       "%p",       "%c",       "[^,]*",
    "(%d)(%d?)",  "^(%s*)$",     "%bxy",     "%b(",       "[%d%.]+",  "%w+=%d+",  ".",
};

TEST(pattern_functions_match_the_standard_library) {
  size_t ns = sizeof pat_subjects / sizeof *pat_subjects;
  size_t np = sizeof pat_patterns / sizeof *pat_patterns;
  /* patterns.lua logs one line per (subject, pattern): run alone in the
  ** sandbox by `rules test`, and in a plain Lua state with the standard
  ** library, the lines must be the same */
  json_t *cases = json_array(), *params = json_object(), *out = NULL;
  for (size_t i = 0; i < ns; i++)
    for (size_t j = 0; j < np; j++)
      json_array_append_new(cases, json_pack("[s, s]", pat_subjects[i], pat_patterns[j]));
  json_object_set_new(params, "cases", cases);
  patron *p = open_db(":memory:");
  CHECK_EQ_I64(pt_rules_test(p, &out, "patterns.lua", params, NORMAL, NULL), PATRON_OK);
  if (!out) printf("# rules test: %s\n", patron_errmsg(p));
  json_t *log = json_object_get(out, "log");
  CHECK(json_is_true(json_object_get(out, "ok")));
  CHECK_EQ_I64(json_array_size(log), ns * np);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  char path[4400];
  snprintf(path, sizeof path, "%s/patterns.lua", fix);
  size_t len;
  char *code = pt_read_file(path, &len);
  CHECK(code != NULL);
  int differ = 0;
  if (code && luaL_loadbufferx(L, code, len, "=patterns.lua", "t") == LUA_OK &&
      lua_pcall(L, 0, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "run");
    lua_createtable(L, (int)(ns * np), 0);
    int k = 0;
    for (size_t i = 0; i < ns; i++)
      for (size_t j = 0; j < np; j++) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, pat_subjects[i]);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, pat_patterns[j]);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, ++k);
      }
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
      CHECK_EQ_I64(lua_rawlen(L, -1), ns * np);
      for (size_t i = 0; i < ns * np; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        const char *want = lua_tostring(L, -1);
        const char *got = json_string_value(json_array_get(log, i));
        const char *sep = got ? strstr(got, ": ") : NULL; /* "patterns.lua: " */
        got = sep ? sep + 2 : got;
        if (!want || !got || strcmp(want, got) != 0) {
          if (differ++ < 5)
            printf("#   %s on \"%s\":\n#     standard: %s\n#     sandbox:  %s\n",
                   pat_patterns[i % np], pat_subjects[i / np], want, got);
        }
        lua_pop(L, 1);
      }
    } else {
      printf("# standard run: %s\n", lua_tostring(L, -1));
      CHECK(0);
    }
  } else {
    printf("# cannot load patterns.lua: %s\n", lua_tostring(L, -1));
    CHECK(0);
  }
  CHECK_EQ_I64(differ, 0);
  lua_close(L);
  free(code);
  json_decref(out);
  json_decref(params);
  patron_close(p);
}

/* ---- rules check ---------------------------------------------------------------------------------- */

static json_t *check_file(const char *name) {
  char path[4400];
  size_t len;
  snprintf(path, sizeof path, "%s/%s", fix, name);
  char *src = pt_read_file(path, &len);
  json_t *msgs = NULL;
  if (src) pt_rules_check(&msgs, name, src, len);
  free(src);
  return msgs;
}

static const char *msg_with(const json_t *msgs, const char *needle) {
  size_t i;
  json_t *m;
  json_array_foreach(msgs, i, m) if (strstr(json_string_value(m), needle)) return json_string_value(m);
  return NULL;
}

TEST(rules_check_finds_typos_with_file_and_line) {
  json_t *m = check_file("typo.lua");
  CHECK_EQ_I64(json_array_size(m), 3);
  CHECK_STR(msg_with(m, "on_qoute"), "typo.lua:5: unknown hook 'on_qoute' (hooks are on_quote and on_earn)");
  CHECK_HAS(msg_with(m, "'print'"), "typo.lua:9: unknown name 'print' called");
  CHECK_HAS(msg_with(m, "'discout'"), "typo.lua:10: unknown name 'discout' called");
  CHECK_HAS(msg_with(m, "'discout'"), "(did you mean 'discount'?)");
  json_decref(m);
  static const char *const clean[] = {"sample.lua", "views.lua", "random.lua", "campaign.lua",
                                      "patterns.lua", "loop.lua"};
  for (size_t i = 0; i < sizeof clean / sizeof *clean; i++) {
    m = check_file(clean[i]);
    if (json_array_size(m)) printf("#   %s: %s\n", clean[i], json_string_value(json_array_get(m, 0)));
    CHECK_EQ_I64(json_array_size(m), 0);
    json_decref(m);
  }
  m = check_file("badload.lua");
  CHECK_STR(json_string_value(json_array_get(m, 0)), "badload.lua:4: cannot load: missing setting");
  json_decref(m);
  const char *bad = "local rule = {}\nfunction rule.on_quote(cart)\n  return {\nend\nreturn rule\n";
  pt_rules_check(&m, "syntax.lua", bad, strlen(bad));
  CHECK_HAS(json_string_value(json_array_get(m, 0)), "syntax.lua:4:");
  json_decref(m);
  const char *none = "local rule = {}\n";
  pt_rules_check(&m, "none.lua", none, strlen(none));
  CHECK_HAS(json_string_value(json_array_get(m, 0)), "none.lua: the file must return a table of hooks");
  json_decref(m);
  const char *nohook = "return { name = 'x' }\n";
  pt_rules_check(&m, "nohook.lua", nohook, strlen(nohook));
  CHECK_HAS(json_string_value(json_array_get(m, 0)), "nohook.lua:1: the rule defines no hook");
  json_decref(m);
}

/* ---- fault injection ---------------------------------------------------------------------- */

/* From the N-th allocation on, every allocation of the state fails during
** a quote, for N = 1, 2, ... until the quote no longer reaches it: each run
** returns a quote (plugins skipped with a warning) or a clean error, and
** the next quote on the same handle is exact (ASan checks for leaks).
** cold: every run starts from a state just built, so the faults also reach
** what the first cart makes (the kept cart and line views, ctx, the
** customer view); warm: the state has quoted before, as at a till. */
static int state_fault_loop(patron *p, const char *want, bool cold, int *warned) {
  int runs = 0, bad = 0;
  for (int64_t n = 1; n < 5000; n++) {
    if (cold) {
      pt_script *fresh;
      pt_rules_close(p);
      if (pt_script_get(p, p->cfg, &fresh)) {
        printf("#   N = %lld: cannot build the state: %s\n", (long long)n, patron_errmsg(p));
        return -1;
      }
    }
    pt_script_fault(p->script, n);
    char *out = NULL;
    int rc = patron_quote_json(p, &out, NORMAL);
    runs++;
    bool hit = p->script && p->script->faulting;
    if (p->script) pt_script_fault(p->script, 0);
    if (rc == PATRON_OK) {
      json_t *j = json_loads(out, 0, NULL);
      if (NWARN(j)) (*warned)++;
      json_decref(j);
    } else if (rc != PATRON_NOMEM && rc != PATRON_INTERNAL) {
      bad++;
      printf("#   N = %lld (%s): %s\n", (long long)n, cold ? "cold" : "warm", patron_errmsg(p));
    }
    patron_free(out);
    json_t *again = quote(p, NORMAL);
    char *got = again ? json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!got || !want || strcmp(got, want) != 0) {
      bad++;
      printf("#   N = %lld (%s): the next quote differs\n", (long long)n, cold ? "cold" : "warm");
    }
    free(got);
    json_decref(again);
    if (!hit) break; /* the quote no longer reaches the fault */
  }
  printf("# %s: %d runs\n", cold ? "cold" : "warm", runs);
  return bad ? -1 : runs;
}

TEST(every_allocation_failure_in_the_rule_state_is_clean) {
  patron *p = shop("fault.db", BASE "plugin \"sample.lua\" { bonus = 5 }\n"
                                    "plugin \"customer.lua\" { n = 2 }\n");
  json_t *q = quote(p, NORMAL);
  char *want = q ? json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(q);
  int warned = 0;
  int warm = state_fault_loop(p, want, false, &warned);
  int cold = state_fault_loop(p, want, true, &warned);
  /* both loops reached many allocations (a warm state allocates less:
  ** its views are kept) and some runs went on without the failed plugin */
  CHECK(warm > 20);
  CHECK(cold > 50);
  CHECK(warned > 0);
  free(want);
  patron_close(p);
}

/* ---- setup ------------------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

int main(void) {
  const char *r = getenv("PATRON_TEST_ROOT");
  if (r && *r) snprintf(root, sizeof root, "%s", r);
  else if (!getcwd(root, sizeof root)) return 2;
  snprintf(fix, sizeof fix, "%s/tests/unit/fixtures/rules", root);
  write_file("catalog.csv", "sku,name,price_cents,category,popularity\n"
                            "COF-01,Coffee beans,899,coffee,90\n"
                            "COF-02,Decaf beans,999,coffee,80\n"
                            "COF-03,Espresso beans,1099,coffee,70\n"
                            "MUG-01,Mug,1299,mugs,50\n"
                            "MP3-01,MP3 player,4999,mp3,60\n"
                            "HP-07,Headphones,2999,headphones,40\n");
  RUN(sample_plugin_applies_its_actions);
  RUN(no_plugins_no_runtime);
  RUN(the_state_is_rebuilt_when_the_config_changes);
  RUN(endless_loop);
  RUN(endless_loop_with_a_small_budget);
  RUN(endless_loop_under_pcall_is_still_stopped);
  RUN(endless_loops_in_coroutines);
  RUN(recursion_bomb);
  RUN(pattern_that_backtracks_for_minutes_is_stopped);
  RUN(slow_c_calls_hit_the_time_limit);
  RUN(string_rep_bomb);
  RUN(string_rep_bomb_under_pcall);
  RUN(concatenation_doubling_bomb);
  RUN(table_concat_bomb);
  RUN(table_growth_bomb);
  RUN(a_plugin_that_keeps_memory_cannot_starve_the_others);
  RUN(setmetatable_refuses_gc_close_and_mode);
  RUN(load_refuses_binary_chunks);
  RUN(string_dump_is_absent);
  RUN(io_os_debug_package_are_absent);
  RUN(the_string_metatable_is_locked);
  RUN(rewriting_its_globals_reaches_no_other_plugin);
  RUN(one_plugin_cannot_change_another_plugins_globals);
  RUN(views_are_read_only);
  RUN(helpers_and_view_semantics);
  RUN(garbage_actions_are_dropped_one_by_one);
  RUN(errors_that_are_not_strings);
  RUN(a_plugin_that_fails_to_load_warns_on_every_cart);
  RUN(strict_mode_fails_the_quote_with_rule_error);
  RUN(views_and_helpers_show_the_cart_customer_and_catalog);
  RUN(kept_views_and_catalog_rows_never_carry_one_cart_into_the_next);
  RUN(the_customer_view_follows_the_cart);
  RUN(at_most_ten_suggestions_per_quote);
  RUN(shipping_action_replaces_the_charge);
  RUN(the_same_cart_gives_byte_identical_quotes_in_1000_fresh_handles);
  RUN(campaign_window);
  RUN(budget_is_enforced_at_commit_and_given_back_on_refund);
  RUN(uses_budget_limits_shipping_actions);
  RUN(pattern_functions_match_the_standard_library);
  RUN(rules_check_finds_typos_with_file_and_line);
  RUN(every_allocation_failure_in_the_rule_state_is_clean);
  return t_done();
}
