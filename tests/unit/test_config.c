/* test_config.c -- the shop configuration: shop.lua evaluation and its
** exact error messages (file:line: key: why), the sandbox's removed
** capabilities and limits, canonical JSON, versions and their reload in a
** second handle, plugin path resolution, and reading stored JSON back into
** the structs. Runs in a fresh temporary folder; the demo shop is found
** through $PATRON_TEST_ROOT (the repo root; default: the starting folder). */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "t.h"

static char root[4096];    /* the repository */
static char tmpdir[4096];  /* our scratch folder (the cwd) */

static patron *open_db(const char *path) {
  patron *p = NULL;
  char side[300];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  patron_options o = PATRON_OPTIONS_INIT;
  char pd[4200];
  snprintf(pd, sizeof pd, "%s/pdir", tmpdir);
  o.plugin_dir = pd;
  if (patron_open(&p, path, &o) != PATRON_OK)
    printf("# open %s: %s\n", path, patron_errmsg(p));
  return p;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    printf("# cannot write %s\n", path);
    return;
  }
  fputs(text, f);
  fclose(f);
}

static int apply(patron *p, patron_apply_result *r, const char *src) {
  return patron_apply_buffer(p, r, "shop.lua", src, strlen(src));
}

/* Evaluates src and returns its JSON (caller frees), NULL on error. */
static char *eval(patron *p, const char *src) {
  char *json = NULL;
  pt_config_eval(p, &json, "shop.lua", src, strlen(src));
  return json;
}

static int64_t count_versions(patron *p) {
  sqlite3_stmt *st;
  int64_t n = -1;
  sqlite3_prepare_v2(p->db, "SELECT count(*) FROM config_versions", -1, &st, NULL);
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static char *demo_path(void) {
  static char path[4200];
  snprintf(path, sizeof path, "%s/examples/shop/shop.lua", root);
  return path;
}

#define MIN "shop { currency = \"EUR\" }\nprogram \"default\" {}\n"

/* ---- every kind of mistake, with its exact message --------------------- */

static const struct bad_case {
  const char *what;
  const char *src;
  const char *want;
} bad_cases[] = {
  {"unknown key in a program",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  earn_rate = 2,\n"
   "}\n",
   "shop.lua:3: program \"default\": unknown key \"earn_rate\" (allowed: earn, "
   "value, redeem, expiry, tiers, tier_window)"},
  {"unknown nested key",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  earn = { points_per_unit = 1,\n"
   "           rate = 2 },\n"
   "}\n",
   "shop.lua:4: program \"default\": earn: unknown key \"rate\" (allowed: "
   "points_per_unit, on, pending_days)"},
  {"basis points out of range (the DESIGN example)",
   "shop { currency = \"EUR\" }\n"
   "\n"
   "program \"default\" {\n"
   "  earn = { points_per_unit = 1 },\n"
   "  value = { points = 100, cents = 100 },\n"
   "  redeem = { min_points = 500,\n"
   "             max_share_bp = 12000 },\n"
   "}\n",
   "shop.lua:7: program \"default\": redeem.max_share_bp must be an integer "
   "from 0 to 10000, got 12000"},
  {"float where an integer is expected",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" { earn = { points_per_unit = 1.5 } }\n",
   "shop.lua:2: program \"default\": earn.points_per_unit must be an integer "
   ">= 0, got 1.5"},
  {"1.0 is not an integer either",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  value = { points = 1.0 },\n"
   "}\n",
   "shop.lua:3: program \"default\": value.points must be an integer > 0, got "
   "1.0 (write 1, without a decimal point)"},
  {"text where an integer is expected",
   MIN "program \"vip\" { redeem = { min_points = \"500\" } }\n",
   "shop.lua:3: program \"vip\": redeem.min_points must be an integer >= 0, "
   "got \"500\""},
  {"negative amount",
   MIN "free_shipping { threshold_cents = -1, shipping_cents = 499 }\n",
   "shop.lua:3: free_shipping: threshold_cents must be an integer >= 0, got -1"},
  {"currency in lower case",
   "shop { currency = \"eur\" }\nprogram \"default\" {}\n",
   "shop.lua:1: shop: currency must be 3 uppercase letters (an ISO 4217 code "
   "such as \"EUR\"), got \"eur\""},
  {"currency missing",
   "shop { timezone = \"UTC\" }\nprogram \"default\" {}\n",
   "shop.lua:1: shop: currency is required (3 uppercase letters, such as "
   "\"EUR\")"},
  {"a boolean given as text",
   "shop {\n  currency = \"EUR\",\n  strict = \"yes\",\n}\nprogram \"default\" {}\n",
   "shop.lua:3: shop: strict must be true or false, got \"yes\""},
  {"first tier not from 0",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  tiers = { { name = \"bronze\", from_cents = 100 } },\n"
   "}\n",
   "shop.lua:3: program \"default\": tiers[1].from_cents must be 0: the first "
   "tier starts at 0, got 100"},
  {"tiers not strictly ascending",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
   "            { name = \"silver\", from_cents = 50000 },\n"
   "            { name = \"gold\", from_cents = 50000 } },\n"
   "}\n",
   "shop.lua:5: program \"default\": tiers[3].from_cents must be greater than "
   "tiers[2].from_cents (50000): tiers ascend by spend, got 50000"},
  {"duplicate tier name",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
   "            { name = \"bronze\", from_cents = 100 } },\n"
   "}\n",
   "shop.lua:4: program \"default\": tiers[2].name \"bronze\" is used twice "
   "(also tiers[1])"},
  {"duplicate program",
   "shop { currency = \"EUR\" }\nprogram \"default\" {}\n\nprogram \"default\" {}\n",
   "shop.lua:4: program \"default\": declared twice (first at line 2)"},
  {"duplicate bundle",
   MIN "bundle \"kit\" { skus = { \"A\", \"B\" }, off_bp = 100 }\n"
       "bundle \"kit\" { skus = { \"C\", \"D\" }, off_bp = 100 }\n",
   "shop.lua:4: bundle \"kit\": declared twice (first at line 3)"},
  {"duplicate plan",
   MIN "plan \"pro\" { price_cents = 1000, every = \"month\" }\n"
       "plan \"pro\" { price_cents = 900, every = \"month\" }\n",
   "shop.lua:4: plan \"pro\": declared twice (first at line 3)"},
  {"shop declared twice",
   MIN "shop { currency = \"USD\" }\n",
   "shop.lua:3: shop: declared twice (first at line 1)"},
  {"dunning declared twice",
   MIN "dunning { grace_days = 3 }\ndunning { grace_days = 4 }\n",
   "shop.lua:4: dunning: declared twice (first at line 3)"},
  {"unknown plan period",
   MIN "plan \"pro\" {\n  price_cents = 1000,\n  every = \"fortnight\",\n}\n",
   "shop.lua:5: plan \"pro\": every must be one of \"day\", \"week\", \"month\" "
   "or \"year\", got \"fortnight\""},
  {"unknown dunning final action",
   MIN "dunning { final = \"delete\" }\n",
   "shop.lua:3: dunning: final must be one of \"suspend\" or \"cancel\", got "
   "\"delete\""},
  {"syntax error: Lua's own message with file and line",
   "shop { currency = \"EUR\"\nprogram \"default\" {}\n",
   "shop.lua:2: '}' expected (to close '{' at line 1) near 'program'"},
  {"runtime error raised by the file",
   MIN "local x = nil\nlocal y = x.field\n",
   "shop.lua:4: attempt to index a nil value (local 'x')"},
  {"typo in a declaration name",
   "shop { currency = \"EUR\" }\nprogramm \"default\" {}\n",
   "shop.lua:2: undeclared global 'programm' (the declarations are shop, "
   "program, bundle, free_shipping, plugin, plan, dunning)"},
  {"no shop declared",
   "program \"default\" {}\n",
   "shop.lua:1: shop: not declared: add shop { currency = \"EUR\" }"},
  {"no program declared",
   "shop { currency = \"EUR\" }\n",
   "shop.lua:1: program: none declared: add program \"default\" { ... }"},
  {"default_program names no program",
   "shop { currency = \"EUR\", default_program = \"vip\" }\nprogram \"default\" {}\n",
   "shop.lua:1: shop: default_program \"vip\" is not a declared program "
   "(programs: default)"},
  {"free shipping for an undeclared program",
   MIN "free_shipping { threshold_cents = 5000, shipping_cents = 499,\n"
       "                program = \"gold-club\" }\n",
   "shop.lua:4: free_shipping: program \"gold-club\" is not a declared program "
   "(programs: default)"},
  {"free shipping twice for the same program and region",
   MIN "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n"
       "free_shipping { threshold_cents = 4000, shipping_cents = 399 }\n",
   "shop.lua:4: free_shipping: declared twice for every program and every "
   "region (first at line 3)"},
  {"bundle with both skus and items",
   MIN "bundle \"kit\" { skus = { \"A\", \"B\" },\n"
       "  items = { { sku = \"A\", qty = 2 } }, off_bp = 100 }\n",
   "shop.lua:4: bundle \"kit\": items cannot be given together with skus: use "
   "one of them"},
  {"bundle of one unit",
   MIN "bundle \"kit\" { items = { { sku = \"A\", qty = 1 } }, off_bp = 100 }\n",
   "shop.lua:3: bundle \"kit\": items must hold at least 2 units in total, got 1"},
  {"bundle with both off_bp and price_cents",
   MIN "bundle \"kit\" { skus = { \"A\", \"B\" }, off_bp = 100, price_cents = 900 }\n",
   "shop.lua:3: bundle \"kit\": price_cents cannot be given together with "
   "off_bp: a bundle has either a percentage off or a fixed price"},
  {"bundle with 0 basis points off",
   MIN "bundle \"kit\" { skus = { \"A\", \"B\" }, off_bp = 0 }\n",
   "shop.lua:3: bundle \"kit\": off_bp must be an integer from 1 to 10000, got 0"},
  {"bundle with neither price nor discount",
   MIN "bundle \"kit\" { skus = { \"A\", \"B\" } }\n",
   "shop.lua:3: bundle \"kit\": needs off_bp (basis points off each unit) or "
   "price_cents (a fixed price)"},
  {"plan twin that does not exist",
   MIN "plan \"pro-annual\" { price_cents = 10200, every = \"year\",\n"
       "                    twin = \"pro-montly\" }\n",
   "shop.lua:4: plan \"pro-annual\": twin \"pro-montly\" is not a declared plan "
   "(plans: pro-annual)"},
  {"plan for an undeclared program",
   MIN "plan \"pro\" { price_cents = 1000, every = \"month\", program = \"vip\" }\n",
   "shop.lua:3: plan \"pro\": program \"vip\" is not a declared program "
   "(programs: default)"},
  {"plan without a price",
   MIN "plan \"pro\" { every = \"month\" }\n",
   "shop.lua:3: plan \"pro\": price_cents is required (an integer >= 0)"},
  {"dunning retry days not ascending",
   MIN "dunning {\n  retry_days = { 1, 3, 3, 7 },\n}\n",
   "shop.lua:4: dunning: retry_days[3] must be greater than retry_days[2] (3): "
   "days ascend, got 3"},
  {"too many dunning retries",
   MIN "dunning { retry_days = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, "
       "15, 16, 17 } }\n",
   "shop.lua:3: dunning: retry_days may hold at most 16 days, got 17"},
  {"a declaration without its body",
   MIN "program \"vip\"\n",
   "shop.lua:3: program \"vip\": has no { ... }: write program \"vip\" { ... }"},
  {"a declaration without its name",
   "shop { currency = \"EUR\" }\nprogram { earn = {} }\n",
   "shop.lua:2: program: expects a name first, as in program \"default\" { ... }, "
   "got a table"},
  {"earn on something other than paid",
   "shop { currency = \"EUR\" }\nprogram \"default\" { earn = { on = \"ordered\" } }\n",
   "shop.lua:2: program \"default\": earn.on must be \"paid\" (the only choice for "
   "now), got \"ordered\""},
  {"expiry beyond 100 years",
   "shop { currency = \"EUR\" }\nprogram \"default\" {\n  expiry = { months = 5000 } }\n",
   "shop.lua:3: program \"default\": expiry.months must be an integer from 0 to "
   "1200, got 5000"},
  {"contact cap over zero days",
   "shop { currency = \"EUR\",\n  contact_cap = { max = 2, per_days = 0 } }\n"
   "program \"default\" {}\n",
   "shop.lua:2: shop: contact_cap.per_days must be an integer from 1 to 36500, got 0"},
  {"tiers that are not a list",
   "shop { currency = \"EUR\" }\nprogram \"default\" { tiers = \"gold\" }\n",
   "shop.lua:2: program \"default\": tiers must be a list { ... } of { name = ..., "
   "from_cents = ... } tables, got \"gold\""},
  {"same leaf key in two sub-tables: the right one is found",
   "shop { currency = \"EUR\" }\n"
   "program \"default\" {\n"
   "  expiry = { months = 12 },\n"
   "  tier_window = { months = -1 },\n"
   "}\n",
   "shop.lua:4: program \"default\": tier_window.months must be an integer from 0 "
   "to 1200, got -1"},
  {"assigning over a declaration",
   "program = 5\n",
   "shop.lua:1: cannot assign to 'program': it is a declaration"},
  {"positional value where keys are expected",
   "shop { \"EUR\" }\nprogram \"default\" {}\n",
   "shop.lua:1: shop: a value without a key (allowed keys: currency, timezone, "
   "prices_include_tax, strict, default_program, contact_cap, "
   "abandoned_cart_hours)"},
  {"a declaration name that is not valid text",
   MIN "plan \"\xff\" { price_cents = 1, every = \"day\" }\n",
   "shop.lua:3: plan \"\\255\": the name must be 1 to 63 characters of UTF-8 "
   "text without control characters, got \"\\255\""},
  {"a sku that is empty",
   MIN "bundle \"b\" { skus = { \"A\",\n  \"\" }, off_bp = 5 }\n",
   "shop.lua:3: bundle \"b\": skus[2] must be a sku of 1 to 63 characters of "
   "UTF-8 text without control characters, got \"\""},
  {"an error value that is not text",
   MIN "error({})\n",
   "shop.lua: error (the error value is a table)"},
  {"a binary chunk is refused",
   "\x1bLua\x54\x00 not really bytecode",
   "shop.lua:1: a compiled (binary) chunk; only Lua source text is accepted"},
};

TEST(bad_configs_give_exact_messages) {
  patron *p = open_db("t_bad.db");
  size_t n = sizeof bad_cases / sizeof bad_cases[0];
  CHECK(n >= 25);
  for (size_t i = 0; i < n; i++) {
    const struct bad_case *c = &bad_cases[i];
    patron_apply_result r = {-1, -1};
    int rc = patron_apply_buffer(p, &r, "shop.lua", c->src, strlen(c->src));
    if (rc != PATRON_INVALID_CONFIG || strcmp(patron_errmsg(p), c->want) != 0)
      printf("# case %zu: %s\n", i + 1, c->what);
    CHECK_EQ_I64(rc, PATRON_INVALID_CONFIG);
    CHECK_STR(patron_errmsg(p), c->want);
    CHECK_EQ_I64(r.version, 0);
    CHECK_EQ_I64(r.changed, 0);
  }
  CHECK_EQ_I64(count_versions(p), 0);
  patron_close(p);
}

TEST(minimal_config_has_every_default) {
  patron *p = open_db("t_min.db");
  char *json = eval(p, MIN);
  CHECK_STR(json,
            "{\"bundles\":[],\"default_program\":\"default\",\"dunning\":{"
            "\"final_action\":\"suspend\",\"grace_days\":10,\"max_retries\":4,"
            "\"retry_days\":[1,3,5,7]},\"free_shipping\":[],\"plans\":[],"
            "\"plugins\":[],\"programs\":[{\"earn_on\":\"paid\",\"expiry_months\":0,"
            "\"expiry_notice_days\":30,\"max_share_bp\":10000,\"min_points\":0,"
            "\"name\":\"default\",\"pending_days\":0,\"points_per_unit\":1,"
            "\"tier_window_months\":12,\"tiers\":[],\"value_cents\":100,"
            "\"value_points\":100}],\"shop\":{\"abandoned_cart_hours\":24,"
            "\"contact_cap_max\":2,\"contact_cap_per_days\":7,\"currency\":\"EUR\","
            "\"prices_include_tax\":true,\"strict\":false,\"timezone\":\"UTC\"}}");
  free(json);
  /* without a "default" program, the first one declared is the default */
  json = eval(p, "shop { currency = \"EUR\" }\nprogram \"b\" {}\nprogram \"a\" {}\n");
  CHECK_HAS(json, "\"default_program\":\"b\"");
  free(json);
  json = eval(p, "shop { currency = \"EUR\", default_program = \"a\" }\n"
                 "program \"b\" {}\nprogram \"a\" {}\n");
  CHECK_HAS(json, "\"default_program\":\"a\"");
  free(json);
  patron_close(p);
}

TEST(json_is_canonical_and_deterministic) {
  patron *p = open_db("t_canon.db");
  const char *a =
      "shop { currency = \"EUR\", timezone = \"Europe/Helsinki\", strict = true }\n"
      "program \"default\" { redeem = { max_share_bp = 5000, min_points = 10 },\n"
      "  earn = { pending_days = 3, points_per_unit = 2 } }\n"
      "bundle \"k\" { skus = { \"B\", \"A\", \"B\" }, off_bp = 10 }\n";
  const char *b = /* same meaning, keys in another order, helpers used */
      "local function pct(n) return n * 100 end\n"
      "shop { strict = true, timezone = \"Europe/\" .. \"Helsinki\", currency = \"EUR\" }\n"
      "program \"default\" { earn = { points_per_unit = 2, pending_days = 3 },\n"
      "  redeem = { min_points = 10, max_share_bp = pct(50) } }\n"
      "bundle \"k\" { items = { { sku = \"B\", qty = 1 }, { qty = 1, sku = \"A\" },\n"
      "                        { sku = \"B\", qty = 1 } }, off_bp = 10 }\n";
  char *ja = eval(p, a), *ja2 = eval(p, a), *jb = eval(p, b);
  CHECK(ja != NULL);
  CHECK_STR(ja, ja2);
  CHECK_STR(ja, jb);
  /* a repeated sku is qty 2; items keep the order of first appearance */
  CHECK_HAS(ja, "\"items\":[{\"qty\":2,\"sku\":\"B\"},{\"qty\":1,\"sku\":\"A\"}]");
  free(ja);
  free(ja2);
  free(jb);
  /* the demo twice: byte-identical */
  size_t len;
  char *src = pt_read_file(demo_path(), &len);
  CHECK(src != NULL);
  if (src) {
    char *d1 = NULL, *d2 = NULL;
    CHECK_EQ_I64(pt_config_eval(p, &d1, "shop.lua", src, len), PATRON_OK);
    CHECK_EQ_I64(pt_config_eval(p, &d2, "shop.lua", src, len), PATRON_OK);
    CHECK_STR(d1, d2);
    free(d1);
    free(d2);
    free(src);
  }
  patron_close(p);
}

TEST(demo_shop_applies_once) {
  patron *p = open_db("t_demo.db");
  patron_apply_result r = {-1, -1};
  CHECK_EQ_I64(patron_apply_file(p, &r, demo_path()), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK_EQ_I64(r.version, 1);
  CHECK_EQ_I64(r.changed, 1);
  /* applying the same file again writes nothing */
  CHECK_EQ_I64(patron_apply_file(p, &r, demo_path()), PATRON_OK);
  CHECK_EQ_I64(r.version, 1);
  CHECK_EQ_I64(r.changed, 0);
  CHECK_EQ_I64(count_versions(p), 1);
  const pt_config *c = pt_config_active(p);
  CHECK(c != NULL);
  if (c) CHECK_EQ_I64(c->version, 1);
  patron_close(p);
}

TEST(config_parse_of_demo_fills_structs) {
  patron *p = open_db("t_parse.db");
  size_t len;
  char *src = pt_read_file(demo_path(), &len), *json = NULL;
  CHECK(src != NULL);
  if (!src) goto out;
  CHECK_EQ_I64(pt_config_eval(p, &json, "shop.lua", src, len), PATRON_OK);
  free(src);
  pt_config *c = pt_config_parse(p, json, 7);
  free(json);
  CHECK(c != NULL);
  if (!c) goto out;
  CHECK_EQ_I64(c->version, 7);
  CHECK_STR(c->currency, "EUR");
  CHECK_STR(c->timezone, "Europe/Helsinki");
  CHECK(c->prices_include_tax);
  CHECK(!c->strict);
  CHECK_EQ_I64(c->contact_cap_max, 2);
  CHECK_EQ_I64(c->contact_cap_per_days, 7);
  CHECK_EQ_I64(c->abandoned_cart_hours, 24);
  CHECK_STR(c->default_program, "default");
  CHECK_EQ_I64(c->nprograms, 2);
  const pt_program *d = &c->programs[0];
  CHECK_STR(d->name, "default");
  CHECK_EQ_I64(d->points_per_unit, 1);
  CHECK_EQ_I64(d->pending_days, 14);
  CHECK_EQ_I64(d->value_points, 100);
  CHECK_EQ_I64(d->value_cents, 100);
  CHECK_EQ_I64(d->min_points, 500);
  CHECK_EQ_I64(d->max_share_bp, 5000);
  CHECK_EQ_I64(d->expiry_months, 12);
  CHECK_EQ_I64(d->expiry_notice_days, 30);
  CHECK_EQ_I64(d->tier_window_months, 12);
  CHECK_EQ_I64(d->ntiers, 3);
  if (d->ntiers == 3) {
    CHECK_STR(d->tiers[0].name, "bronze");
    CHECK_EQ_I64(d->tiers[1].from_cents, 50000);
    CHECK_EQ_I64(d->tiers[2].multiplier_bp, 15000);
    CHECK_EQ_I64(pt_program_tier_for(d, 0), 0);
    CHECK_EQ_I64(pt_program_tier_for(d, 49999), 0);
    CHECK_EQ_I64(pt_program_tier_for(d, 50000), 1);
    CHECK_EQ_I64(pt_program_tier_for(d, 10000000), 2);
  }
  CHECK_STR(c->programs[1].name, "coffee-club");
  CHECK_EQ_I64(c->programs[1].ntiers, 0);
  CHECK_EQ_I64(pt_program_tier_for(&c->programs[1], 100), -1);
  CHECK_EQ_I64(c->nbundles, 3);
  const pt_bundle *kit = pt_config_bundle(c, "mp3-kit");
  CHECK(kit != NULL);
  if (kit) {
    CHECK_EQ_I64(kit->off_bp, 1500);
    CHECK_EQ_I64(kit->price_cents, -1);
    CHECK_EQ_I64(kit->nitems, 2);
    CHECK_STR(kit->items[1].sku, "HP-07");
  }
  const pt_bundle *cs = pt_config_bundle(c, "coffee-starter");
  CHECK(cs != NULL);
  if (cs) {
    CHECK_EQ_I64(cs->off_bp, 0);
    CHECK_EQ_I64(cs->price_cents, 2490);
    CHECK_EQ_I64(cs->items[0].qty, 2);
  }
  const pt_bundle *mugs = pt_config_bundle(c, "mug-pair");
  CHECK(mugs && mugs->nitems == 1 && mugs->items[0].qty == 2);
  CHECK_EQ_I64(c->nshipping, 1);
  if (c->nshipping == 1) {
    CHECK_EQ_I64(c->shipping[0].threshold_cents, 5000);
    CHECK_EQ_I64(c->shipping[0].shipping_cents, 499);
    CHECK_STR(c->shipping[0].program, "");
    CHECK_STR(c->shipping[0].region, "");
  }
  CHECK_EQ_I64(c->nplugins, 2); /* cross_sell and free_shipping_nudge */
  if (c->nplugins == 2) {
    CHECK_STR(c->plugins[0].name, "cross_sell");
    CHECK_STR(c->plugins[1].name, "free_shipping_nudge");
    CHECK(c->plugins[0].source && strstr(c->plugins[0].source, "on_quote"));
  }
  CHECK_EQ_I64(c->nplans, 2);
  const pt_plan *m = pt_config_plan(c, "pro-monthly"), *y = pt_config_plan(c, "pro-annual");
  CHECK(m && y);
  if (m && y) {
    CHECK_EQ_I64(m->price_cents, 1000);
    CHECK_STR(m->every, "month");
    CHECK_EQ_I64(m->count, 1);
    CHECK_EQ_I64(m->trial_days, 14);
    CHECK_STR(m->twin, "");
    CHECK_EQ_I64(y->price_cents, 10200);
    CHECK_STR(y->every, "year");
    CHECK_STR(y->twin, "pro-monthly");
  }
  CHECK(pt_config_plan(c, "nope") == NULL);
  CHECK_EQ_I64(c->dunning.nretry, 4);
  CHECK_EQ_I64(c->dunning.retry_days[3], 7);
  CHECK_EQ_I64(c->dunning.grace_days, 10);
  CHECK_STR(c->dunning.final_action, "suspend");
  CHECK_EQ_I64(c->dunning.max_retries, 4);
  CHECK(json_is_object(c->json));
  /* program look-up */
  CHECK(pt_config_program(p, c, NULL) == &c->programs[0]);
  CHECK(pt_config_program(p, c, "") == &c->programs[0]);
  CHECK(pt_config_program(p, c, "coffee-club") == &c->programs[1]);
  CHECK(pt_config_program(p, c, "tea-club") == NULL);
  CHECK_EQ_I64(patron_errcode(p), PATRON_UNKNOWN_PROGRAM);
  CHECK_STR(patron_errmsg(p), "unknown program 'tea-club' (programs: default, coffee-club)");
  pt_config_free(c);
out:
  patron_close(p);
}

TEST(damaged_stored_json_is_internal_not_a_crash) {
  patron *p = open_db("t_damaged.db");
  char *json = eval(p, MIN);
  CHECK(json != NULL);
  if (!json) {
    patron_close(p);
    return;
  }
  CHECK(pt_config_parse(p, "{not json", 3) == NULL);
  CHECK_EQ_I64(patron_errcode(p), PATRON_INTERNAL);
  CHECK_HAS(patron_errmsg(p), "stored configuration version 3 is not valid JSON");
  CHECK(pt_config_parse(p, "[]", 3) == NULL);
  CHECK_EQ_I64(patron_errcode(p), PATRON_INTERNAL);
  CHECK(pt_config_parse(p, "{}", 3) == NULL);
  CHECK_STR(patron_errmsg(p), "stored configuration version 3 is damaged: shop: "
                              "missing or not an object");
  CHECK(pt_config_parse(p, NULL, 3) == NULL);
  /* every field is checked: break one at a time */
  static const char *const breaks[][3] = {
      {"\"max_share_bp\":10000", "\"max_share_bp\":12000",
       "programs[0].max_share_bp: out of range"},
      {"\"points_per_unit\":1", "\"points_per_unit\":1.5",
       "programs[0].points_per_unit: missing or not an integer"},
      {"\"currency\":\"EUR\"", "\"currency\":\"EUROS-EUROS\"",
       "shop.currency: empty, too long or holding a NUL"},
      {"\"default_program\":\"default\"", "\"default_program\":\"x\"",
       "default_program: names no program"},
      {"\"retry_days\":[1,3,5,7]", "\"retry_days\":[3,1]",
       "dunning.retry_days: not ascending days > 0"},
      {"\"tiers\":[]", "\"tiers\":[{\"name\":\"a\",\"from_cents\":5,\"multiplier_bp\":1}]",
       "programs[0].tiers[0].from_cents: tiers do not ascend from 0"},
      {"\"plugins\":[]", "\"plugins\":[{}]", "plugins[0].name: missing or not text"},
      {"\"final_action\":\"suspend\"", "\"final_action\":\"explode\"",
       "dunning.final_action: not one of the known values"},
  };
  for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
    const char *at = strstr(json, breaks[i][0]);
    CHECK(at != NULL);
    if (!at) continue;
    pt_buf b = {0};
    pt_buf_add(&b, json, (size_t)(at - json));
    pt_buf_puts(&b, breaks[i][1]);
    pt_buf_puts(&b, at + strlen(breaks[i][0]));
    CHECK(pt_config_parse(p, b.s, 9) == NULL);
    CHECK_EQ_I64(patron_errcode(p), PATRON_INTERNAL);
    CHECK_HAS(patron_errmsg(p), breaks[i][2]);
    pt_buf_free(&b);
  }
  free(json);
  patron_close(p);
}

TEST(no_config_until_applied) {
  patron *p = open_db("t_none.db");
  CHECK(pt_config_active(p) == NULL);
  CHECK_EQ_I64(patron_errcode(p), PATRON_NO_CONFIG);
  CHECK_STR(patron_errmsg(p), "no shop configuration applied: run `patron apply shop.lua`");
  char *out = (char *)1;
  CHECK_EQ_I64(patron_config_json(p, &out, 0), PATRON_NO_CONFIG);
  CHECK(out == NULL);
  CHECK_EQ_I64(patron_config_json(p, &out, 1), PATRON_NOT_FOUND);
  patron_close(p);
}

TEST(new_version_reloads_in_second_handle) {
  patron *p1 = open_db("t_two.db"), *p2 = NULL;
  patron_apply_result r;
  CHECK_EQ_I64(patron_apply_file(p1, &r, demo_path()), PATRON_OK);
  CHECK_EQ_I64(r.version, 1);
  CHECK_EQ_I64(patron_open(&p2, "t_two.db", NULL), PATRON_OK);
  const pt_config *c = pt_config_active(p2);
  CHECK(c && c->version == 1 && c->programs[0].max_share_bp == 5000);
  /* a changed config: version 2, and p2 sees it on its next call */
  size_t len;
  char *src = pt_read_file(demo_path(), &len);
  pt_buf b = {0};
  const char *at = src ? strstr(src, "max_share_bp = 5000") : NULL;
  CHECK(at != NULL);
  if (!at) goto out;
  pt_buf_add(&b, src, (size_t)(at - src));
  pt_buf_puts(&b, "max_share_bp = 4000");
  pt_buf_puts(&b, at + strlen("max_share_bp = 5000"));
  CHECK_EQ_I64(patron_apply_buffer(p1, &r, "shop.lua", b.s, b.len), PATRON_OK);
  CHECK_EQ_I64(r.version, 2);
  CHECK_EQ_I64(r.changed, 1);
  c = pt_config_active(p2);
  CHECK(c != NULL);
  if (c) {
    CHECK_EQ_I64(c->version, 2);
    CHECK_EQ_I64(c->programs[0].max_share_bp, 4000);
  }
  /* old versions stay readable */
  char *j1 = NULL, *j2 = NULL;
  CHECK_EQ_I64(patron_config_json(p2, &j1, 1), PATRON_OK);
  CHECK_EQ_I64(patron_config_json(p2, &j2, 0), PATRON_OK);
  CHECK_HAS(j1, "\"max_share_bp\":5000");
  CHECK_HAS(j2, "\"max_share_bp\":4000");
  patron_free(j1);
  patron_free(j2);
  CHECK_EQ_I64(patron_config_json(p2, &j1, 3), PATRON_NOT_FOUND);
  CHECK_STR(patron_errmsg(p2), "no configuration version 3");
  /* going back to the first text is a change too: version 3 */
  CHECK_EQ_I64(patron_apply_buffer(p2, &r, "shop.lua", src, len), PATRON_OK);
  CHECK_EQ_I64(r.version, 3);
  CHECK_EQ_I64(r.changed, 1);
  c = pt_config_active(p1);
  CHECK(c && c->version == 3 && c->programs[0].max_share_bp == 5000);
out:
  pt_buf_free(&b);
  free(src);
  patron_close(p2);
  patron_close(p1);
}

TEST(nothing_is_written_on_error) {
  patron *p = open_db("t_err.db");
  patron_apply_result r;
  CHECK_EQ_I64(apply(p, &r, MIN), PATRON_OK);
  CHECK_EQ_I64(r.version, 1);
  CHECK_EQ_I64(apply(p, &r, MIN "bundle \"x\" { skus = { \"A\" }, off_bp = 5 }\n"),
               PATRON_INVALID_CONFIG);
  CHECK_EQ_I64(r.version, 0);
  CHECK_EQ_I64(count_versions(p), 1);
  CHECK_EQ_I64(apply(p, &r, "while true do end\n"), PATRON_INVALID_CONFIG);
  CHECK_EQ_I64(count_versions(p), 1);
  CHECK_EQ_I64(patron_apply_file(p, &r, "/nonexistent/shop.lua"), PATRON_IO);
  CHECK_STR(patron_errmsg(p), "cannot read /nonexistent/shop.lua: No such file or directory");
  CHECK_EQ_I64(count_versions(p), 1);
  const pt_config *c = pt_config_active(p);
  CHECK(c && c->version == 1);
  CHECK_EQ_I64(p->txn_depth, 0);
  patron_close(p);
}

/* ---- the sandbox --------------------------------------------------------- */

TEST(endless_loop_is_stopped) {
  patron *p = open_db("t_loop.db");
  patron_apply_result r;
  CHECK_EQ_I64(apply(p, &r, MIN "while true do end\n"), PATRON_INVALID_CONFIG);
  CHECK_STR(patron_errmsg(p), "shop.lua:3: evaluation stopped after 20000000 Lua "
                              "instructions (an endless loop?)");
  /* the file's own pcall cannot swallow the stop */
  CHECK_EQ_I64(apply(p, &r, MIN "while true do\n"
                            "  pcall(function() while true do end end)\n"
                            "end\n"),
               PATRON_INVALID_CONFIG);
  CHECK_HAS(patron_errmsg(p), "evaluation stopped after 20000000 Lua instructions");
  /* the handle stays usable */
  CHECK_EQ_I64(apply(p, &r, MIN), PATRON_OK);
  patron_close(p);
}

TEST(memory_bomb_is_stopped) {
  patron *p = open_db("t_mem.db");
  patron_apply_result r;
  CHECK_EQ_I64(apply(p, &r, MIN "local s = \"x\"\nwhile true do s = s .. s end\n"),
               PATRON_INVALID_CONFIG);
  CHECK_STR(patron_errmsg(p), "shop.lua: evaluation stopped: it needs more than 32 "
                              "MiB of memory");
  CHECK_EQ_I64(apply(p, &r, MIN "local t = {}\nfor i = 1, 1e9 do t[i] = i end\n"),
               PATRON_INVALID_CONFIG);
  CHECK_HAS(patron_errmsg(p), "MiB of memory");
  CHECK_EQ_I64(apply(p, &r, MIN "local s = string.rep(\"x\", 1 << 30)\n"),
               PATRON_INVALID_CONFIG);
  CHECK_HAS(patron_errmsg(p), "MiB of memory");
  CHECK_EQ_I64(apply(p, &r, MIN), PATRON_OK);
  patron_close(p);
}

TEST(dangerous_globals_are_absent) {
  patron *p = open_db("t_absent.db");
  static const char *const names[] = {
      "io", "os", "require", "load", "loadfile", "dofile", "print",
      "collectgarbage", "debug", "package", "getmetatable", "setmetatable",
      "coroutine", "_G", "rawset"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char src[256], want[256];
    snprintf(src, sizeof src, MIN "local x = %s\n", names[i]);
    snprintf(want, sizeof want, "shop.lua:3: undeclared global '%s' (the "
             "declarations are shop, program, bundle, free_shipping, plugin, "
             "plan, dunning)", names[i]);
    CHECK_EQ_I64(eval(p, src) == NULL, 1);
    CHECK_EQ_I64(patron_errcode(p), PATRON_INVALID_CONFIG);
    CHECK_STR(patron_errmsg(p), want);
  }
  /* helpers that are there, and holes in them */
  char *json = eval(p, MIN "assert(string.dump == nil and math.random == nil)\n"
                           "assert(string.format(\"%d\", 3) == \"3\" and math.max(1, 2) == 2)\n"
                           "assert(utf8.len(\"\\u{e4}\") == 1 and #table.concat({\"a\"}) == 1)\n"
                           "assert((\"x\"):rep(3) == \"xxx\")\n"
                           "assert(pcall(error, \"x\") == false)\n"
                           "local n = 0 for _ in pairs({1, 2}) do n = n + 1 end assert(n == 2)\n"
                           "answer = 42 assert(answer == 42)\n");
  CHECK(json != NULL);
  if (!json) printf("# %s\n", patron_errmsg(p));
  free(json);
  /* pattern matching can run for ever inside one C call, out of reach of
  ** the instruction budget: shop.lua has none, as function or as method */
  static const char *const no_patterns[][2] = {
      {"local x = (\"a\"):rep(80):find(\".-.-.-.-.-.-.-.-.-.-b\")\n",
       "shop.lua:3: attempt to call a nil value (method 'find')"},
      {"local x = string.match(\"abc\", \"b\")\n",
       "shop.lua:3: attempt to call a nil value (field 'match')"},
      {"for w in (\"a b\"):gmatch(\"%a\") do end\n",
       "shop.lua:3: attempt to call a nil value (method 'gmatch')"},
      {"local x = (\"abc\"):gsub(\"b\", \"c\")\n",
       "shop.lua:3: attempt to call a nil value (method 'gsub')"},
  };
  /* and C loops that allocate nothing are bounded */
  char *ok = eval(p, MIN "assert(string.rep(\"\", 1 << 50) == \"\")\n"
                         "assert((\"\"):rep(1 << 50, \"\") == \"\")\n"
                         "assert(#table.move({1, 2}, 1, 2, 2) == 3)\n");
  CHECK(ok != NULL);
  free(ok);
  CHECK(eval(p, MIN "table.move({}, 1, 1 << 50, 1)\n") == NULL);
  CHECK_STR(patron_errmsg(p), "shop.lua:3: table.move: more than 10000000 elements");
  for (size_t i = 0; i < sizeof no_patterns / sizeof no_patterns[0]; i++) {
    char src[512];
    snprintf(src, sizeof src, MIN "%s", no_patterns[i][0]);
    CHECK(eval(p, src) == NULL);
    CHECK_STR(patron_errmsg(p), no_patterns[i][1]);
  }
  /* the file's copy of string is its own: changing it does not reach the
  ** validator, and the string metatable is locked */
  json = eval(p, "string.format = nil\nstring.find = nil\n"
                 "shop { currency = \"EUR\" }\nprogram \"default\" { value = { points = 0 } }\n");
  CHECK(json == NULL);
  CHECK_STR(patron_errmsg(p), "shop.lua:4: program \"default\": value.points must be "
                              "an integer > 0, got 0");
  patron_close(p);
}

/* ---- plugins ------------------------------------------------------------- */

TEST(plugin_paths_resolve_and_params_are_stored) {
  patron *p = open_db("t_plug.db");
  mkdir("shopdir", 0755);
  mkdir("shopdir/plugins", 0755);
  mkdir("pdir", 0755);
  const char *cross = "-- cross sell\nreturn { name = \"cross_sell\" }\n";
  write_file("shopdir/plugins/cross_sell.lua", cross);
  write_file("pdir/extra_points.lua", "return {}\n");
  write_file("shopdir/shop.lua",
             MIN "plugin \"plugins/cross_sell.lua\" {\n"
                 "  pairs = { { \"mp3\", \"headphones\" }, { \"coffee\", \"mugs\" } },\n"
                 "  max = 3, ratio = 0.5, labels = { en = \"Try\", fi = \"Kokeile\" },\n"
                 "  from = \"2026-12-01\", to = \"2026-12-24T12:00:00Z\",\n"
                 "  budget = { points = 500000, uses = 10000 },\n"
                 "}\n"
                 "plugin \"plugins/extra_points.lua\" { name = \"dp\", memory_kb = 64,\n"
                 "  instructions = 5000, empty = {} }\n");
  patron_apply_result r;
  CHECK_EQ_I64(patron_apply_file(p, &r, "shopdir/shop.lua"), PATRON_OK);
  if (r.version != 1) printf("# %s\n", patron_errmsg(p));
  const pt_config *c = pt_config_active(p);
  CHECK(c && c->nplugins == 2);
  if (!c || c->nplugins != 2) {
    patron_close(p);
    return;
  }
  const pt_plugin_ref *x = pt_config_plugin(c, "cross_sell");
  CHECK(x != NULL);
  if (x) {
    int64_t from, to;
    patron_time_parse(&from, "2026-12-01");
    patron_time_parse(&to, "2026-12-24T12:00:00Z");
    CHECK_STR(x->path, "plugins/cross_sell.lua");
    CHECK_STR(x->source, cross);
    CHECK_EQ_I64(x->from, from);
    CHECK_EQ_I64(x->to, to);
    CHECK_EQ_I64(x->budget_points, 500000);
    CHECK_EQ_I64(x->budget_cents, -1);
    CHECK_EQ_I64(x->budget_uses, 10000);
    CHECK_EQ_I64(x->instructions, 1000000);
    CHECK_EQ_I64(x->memory_bytes, 8192 * 1024);
    char *params = json_dumps(x->params, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(params, "{\"labels\":{\"en\":\"Try\",\"fi\":\"Kokeile\"},\"max\":3,"
                      "\"pairs\":[[\"mp3\",\"headphones\"],[\"coffee\",\"mugs\"]],"
                      "\"ratio\":0.5}");
    free(params);
  }
  /* found in the plugin folder, "plugins/" prefix dropped; name = given */
  const pt_plugin_ref *dp = pt_config_plugin(c, "dp");
  CHECK(dp != NULL);
  if (dp) {
    CHECK_STR(dp->path, "plugins/extra_points.lua");
    CHECK_STR(dp->source, "return {}\n");
    CHECK_EQ_I64(dp->from, 0);
    CHECK_EQ_I64(dp->to, 0);
    CHECK_EQ_I64(dp->budget_points, -1);
    CHECK_EQ_I64(dp->instructions, 5000);
    CHECK_EQ_I64(dp->memory_bytes, 65536);
    char *params = json_dumps(dp->params, JSON_COMPACT);
    CHECK_STR(params, "{\"empty\":[]}");
    free(params);
  }
  patron_close(p);
}

TEST(plugin_errors_name_file_and_line) {
  patron *p = open_db("t_plugerr.db");
  mkdir("shop2", 0755);
  mkdir("shop2/plugins", 0755);
  mkdir("pdir", 0755);
  write_file("shop2/plugins/broken.lua", "local rule = {}\nreturn rule +\n");
  write_file("shop2/plugins/ok.lua", "return {}\n");
  write_file("shop2/plugins/bin.lua", "\x1bLua\x54");
  static const struct {
    const char *src, *want;
  } cases[] = {
      {MIN "plugin \"plugins/nope.lua\" {}\n",
       "shop2/shop.lua:3: plugin \"plugins/nope.lua\": file not found (looked in: "
       "shop2/plugins/nope.lua, %s/pdir/plugins/nope.lua, %s/pdir/nope.lua)"},
      {MIN "\nplugin \"plugins/broken.lua\" {}\n",
       "shop2/shop.lua:4: plugin \"plugins/broken.lua\": syntax error in "
       "shop2/plugins/broken.lua:3: unexpected symbol near <eof>"},
      {MIN "plugin \"plugins/bin.lua\" {}\n",
       "shop2/shop.lua:3: plugin \"plugins/bin.lua\": syntax error in "
       "shop2/plugins/bin.lua: a compiled (binary) chunk; only Lua source text "
       "is accepted"},
      {MIN "plugin \"plugins/ok.lua\" {}\nplugin \"plugins/ok.lua\" { x = 1 }\n",
       "shop2/shop.lua:4: plugin \"plugins/ok.lua\": name \"ok\" is used twice (first "
       "at line 3); give one of them name = \"...\""},
      {MIN "plugin \"plugins/ok.lua\" { from = \"2026-12-24\",\n  to = \"2026-12-01\" }\n",
       "shop2/shop.lua:4: plugin \"plugins/ok.lua\": to must be later than from "
       "(\"2026-12-24\"), got \"2026-12-01\""},
      {MIN "plugin \"plugins/ok.lua\" { from = \"next week\" }\n",
       "shop2/shop.lua:3: plugin \"plugins/ok.lua\": from must be a date \"YYYY-MM-DD\" "
       "or a time \"YYYY-MM-DDTHH:MM:SSZ\", got \"next week\""},
      {MIN "plugin \"plugins/ok.lua\" { budget = { points = -5 } }\n",
       "shop2/shop.lua:3: plugin \"plugins/ok.lua\": budget.points must be an integer "
       ">= 0, got -5"},
      {MIN "plugin \"plugins/ok.lua\" {\n  hook = function() end }\n",
       "shop2/shop.lua:4: plugin \"plugins/ok.lua\": hook cannot be stored in the "
       "configuration (it is a function); use text, numbers, true/false or tables "
       "of them"},
      {MIN "plugin \"plugins/ok.lua\" {\n  mixed = { 1, 2, x = 3 } }\n",
       "shop2/shop.lua:4: plugin \"plugins/ok.lua\": mixed mixes list values and "
       "named keys; use one or the other"},
      {MIN "plugin \"plugins/ok.lua\" { ratio = math.huge }\n",
       "shop2/shop.lua:3: plugin \"plugins/ok.lua\": ratio must be a finite number, "
       "got inf"},
      {MIN "plugin \"plugins/ok.lua\" { instructions = 0 }\n",
       "shop2/shop.lua:3: plugin \"plugins/ok.lua\": instructions must be an integer "
       "> 0, got 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char want[2048];
    snprintf(want, sizeof want, cases[i].want, tmpdir, tmpdir);
    write_file("shop2/shop.lua", cases[i].src);
    patron_apply_result r;
    CHECK_EQ_I64(patron_apply_file(p, &r, "shop2/shop.lua"), PATRON_INVALID_CONFIG);
    if (strcmp(patron_errmsg(p), want) != 0) printf("# plugin case %zu\n", i + 1);
    CHECK_STR(patron_errmsg(p), want);
  }
  CHECK_EQ_I64(count_versions(p), 0);
  patron_close(p);
}

/* ---- runner -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb; (void)flag; (void)f;
  return remove(path);
}

int main(void) {
  const char *r = getenv("PATRON_TEST_ROOT");
  if (r && *r)
    snprintf(root, sizeof root, "%s", r);
  else if (!getcwd(root, sizeof root))
    return 2;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/patron_test_config.XXXXXX");
  if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0) return 2;
  /* the demo shop names patron's own plugins: the handles' plugin folder
  ** (pdir) finds them through pdir/plugins */
  char repo_plugins[4200];
  snprintf(repo_plugins, sizeof repo_plugins, "%s/plugins", root);
  if (mkdir("pdir", 0755) != 0 || symlink(repo_plugins, "pdir/plugins") != 0)
    printf("# cannot link pdir/plugins to %s\n", repo_plugins);
  if (access(demo_path(), R_OK) != 0)
    printf("# demo shop not found at %s: set PATRON_TEST_ROOT to the repo\n",
           demo_path());
  RUN(bad_configs_give_exact_messages);
  RUN(minimal_config_has_every_default);
  RUN(json_is_canonical_and_deterministic);
  RUN(demo_shop_applies_once);
  RUN(config_parse_of_demo_fills_structs);
  RUN(damaged_stored_json_is_internal_not_a_crash);
  RUN(no_config_until_applied);
  RUN(new_version_reloads_in_second_handle);
  RUN(nothing_is_written_on_error);
  RUN(endless_loop_is_stopped);
  RUN(memory_bomb_is_stopped);
  RUN(dangerous_globals_are_absent);
  RUN(plugin_paths_resolve_and_params_are_stored);
  RUN(plugin_errors_name_file_and_line);
  if (chdir("/") == 0) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return t_done();
}
