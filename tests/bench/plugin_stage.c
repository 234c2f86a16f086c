/*
** tests/bench/plugin_stage.c -- the cost of patron's plugin stage against
** a plain-Lua floor (tests/bench/plugin_stage.sh builds and runs it).
**
** plugin_stage ROOT DB [NCARTS [ROUNDS]]
**   ROOT: the source tree (examples/shop, plugins/); DB: a new database.
**
** Set-up (not timed): a shop in DB through the public API (apply
** examples/shop/shop.lua, import its catalog.csv and customers.csv), then
** NCARTS seeded 10-line carts over the demo catalog (80% named customers,
** 20% anonymous, all at 2026-11-23T12:00:00Z) decoded into pt_carts.
**
** (a) patron: pt_quote_run over every cart with the real config, each
**     inside a read transaction as patron_quote_json runs it. The time spent
**     inside pt_rules_on_quote + pt_rules_on_earn is measured
**     directly: the program is linked with -Wl,--wrap for both, and the
**     wrappers read CLOCK_MONOTONIC around the real functions. That covers
**     everything patron does for plugins (runtime lookup, views, ctx,
**     catalog/customer reads, sandbox limits, action decoding and applying
**     them to the quote), and nothing else of the pipeline. As a cross-check
**     the same carts are also quoted with a copy of the config without
**     plugins (p->cfg_override) and the difference of the two pipeline
**     times is printed too.
** (b) floor: a plain lua_State (luaL_openlibs, no sandbox, no limits) that
**     loads the same two plugin files under a minimal stand-in for the
**     prelude (action constructors, params, money) and calls their on_quote
**     (and on_earn, for named carts, if they had one) with plain tables: the
**     cart (lines with the discounts the bundles left, as patron's view
**     shows them; has_sku/qty_of/qty_in_category/categories methods), and a
**     ctx with plain params, shipping, and catalog.get/top as plain Lua
**     functions over the catalog preloaded into a Lua table (fresh item
**     tables per call, like patron's), customer.declined/bought returning
**     false. Timed twice: the hook calls alone (the floor the ratio uses),
**     and the building of the plain tables from the C cart (printed apart).
**
** ratio = (a) / (b) per cart, per round; the verdict uses the median round.
** Equivalence check: the distinct suggested skus per cart (capped at 10)
** summed over the carts must be the same in (a) and (b).
*/
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkout.h"
#include "internal.h"
#include "patron.h"
#include "rules.h"
#include "script.h"

#define NLINES 10
#define CART_AT 1795435200LL /* 2026-11-23T12:00:00Z */

/* ---- timing of the plugin stage inside the pipeline ------------------- */

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t g_stage_ns;
int __real_pt_rules_on_quote(patron *p, pt_quote *q);
int __real_pt_rules_on_earn(patron *p, pt_quote *q);
int __wrap_pt_rules_on_quote(patron *p, pt_quote *q);
int __wrap_pt_rules_on_earn(patron *p, pt_quote *q);
int __wrap_pt_rules_on_quote(patron *p, pt_quote *q) {
  int64_t t0 = now_ns();
  int rc = __real_pt_rules_on_quote(p, q);
  g_stage_ns += now_ns() - t0;
  return rc;
}
int __wrap_pt_rules_on_earn(patron *p, pt_quote *q) {
  int64_t t0 = now_ns();
  int rc = __real_pt_rules_on_earn(p, q);
  g_stage_ns += now_ns() - t0;
  return rc;
}

static void die(const char *what, patron *p) {
  fprintf(stderr, "plugin_stage: %s: %s\n", what, p ? patron_errmsg(p) : "");
  exit(2);
}

/* ---- the carts ------------------------------------------------------------ */

typedef struct item {
  char sku[64], category[64];
  int64_t price;
} item;

typedef struct bcart {
  pt_cart c;
  int64_t line_disc[NLINES]; /* after bundles (a run without plugins) */
  int64_t subtotal, discount;
} bcart;

static uint64_t rng_s = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {
  rng_s ^= rng_s >> 12;
  rng_s ^= rng_s << 25;
  rng_s ^= rng_s >> 27;
  return rng_s * 2685821657736338717ULL;
}

static int cmp_median(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* distinct skus in a JSON array of suggestion objects {sku, ...} */
static int64_t count_suggestions(const json_t *arr) { return (int64_t)json_array_size(arr); }

/* ---- the floor ---------------------------------------------------------------- */

static const char *STANDIN =
    "local mtype, fmt = math.type, string.format\n"
    "local function ctor(kind) return function(t) t.action = kind; return t end end\n"
    "discount, free_item, suggest = ctor('discount'), ctor('free_item'), ctor('suggest')\n"
    "bonus_points, message, shipping = ctor('bonus_points'), ctor('message'), ctor('shipping')\n"
    "params = {}\n"
    "function params.is_table(v) return type(v) == 'table' end\n"
    "function params.int(p, key, default, lo, hi)\n"
    "  local v = p[key]\n"
    "  if v == nil then return default end\n"
    "  if type(v) == 'string' then v = math.tointeger(tonumber(v)) end\n"
    "  if mtype(v) ~= 'integer' or v < lo or v > hi then\n"
    "    error(fmt('param %s must be an integer in %d..%d', key, lo, hi), 2) end\n"
    "  return v\n"
    "end\n"
    "function params.list(p, key, what)\n"
    "  local v = p[key]\n"
    "  if v == nil then return nil end\n"
    "  local out = {}\n"
    "  if type(v) == 'string' then\n"
    "    for s in v:gmatch('[^,]+') do out[#out + 1] = s end\n"
    "    return out\n"
    "  end\n"
    "  if type(v) ~= 'table' then error('param ' .. key .. ' must be a list of ' .. (what or 'texts'), 2) end\n"
    "  for i, s in ipairs(v) do\n"
    "    if type(s) ~= 'string' then error(fmt('param %s[%d] must be text', key, i), 2) end\n"
    "    out[i] = s\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "function params.text(p, key)\n"
    "  local v = p[key]\n"
    "  if v ~= nil and type(v) ~= 'string' then error('param ' .. key .. ' must be text', 2) end\n"
    "  return v\n"
    "end\n"
    "money = {}\n"
    "function money.bp(c, bp) return c * bp // 10000 end\n"
    "function money.str(c)\n"
    "  local s = c < 0 and '-' or ''\n"
    "  c = math.abs(c)\n"
    "  return fmt('%s%d.%02d', s, c // 100, c % 100)\n"
    "end\n"
    "function money.pct(bp) return fmt('%g%%', bp / 100) end\n"
    /* the catalog: CATALOG[sku] = item, BY_CAT[cat] = items by popularity */
    "CATALOG, BY_CAT = {}, {}\n"
    "function catalog_add(sku, name, price, cat, pop, tags)\n"
    "  local t = {}\n"
    "  for s in tags:gmatch('[^;,]+') do t[#t + 1] = s end\n"
    "  local it = { sku = sku, name = name, price_cents = price, category = cat,\n"
    "               popularity = pop, tags = t }\n"
    "  CATALOG[sku] = it\n"
    "  local l = BY_CAT[cat] or {}\n"
    "  BY_CAT[cat] = l\n"
    "  l[#l + 1] = it\n"
    "end\n"
    "local function copy_item(it)\n"
    "  local tags = {}\n"
    "  for i, s in ipairs(it.tags) do tags[i] = s end\n"
    "  return { sku = it.sku, name = it.name, price_cents = it.price_cents,\n"
    "           category = it.category, popularity = it.popularity, tags = tags }\n"
    "end\n"
    "catalog = {}\n"
    "function catalog.get(sku) local it = CATALOG[sku]; return it and copy_item(it) end\n"
    "function catalog.top(cat, n, exclude)\n"
    "  n = n or 10; if n > 50 then n = 50 end\n"
    "  local ex = {}\n"
    "  if exclude then for i, s in ipairs(exclude) do if i > 100 then break end ex[s] = true end end\n"
    "  local out = {}\n"
    "  for _, it in ipairs(BY_CAT[cat] or {}) do\n"
    "    if #out >= n then break end\n"
    "    if not ex[it.sku] then out[#out + 1] = copy_item(it) end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local methods = {}\n"
    "function methods.has_sku(c, sku)\n"
    "  for _, l in ipairs(c.lines) do if l.sku == sku then return true end end\n"
    "  return false\n"
    "end\n"
    "function methods.qty_of(c, sku)\n"
    "  local n = 0\n"
    "  for _, l in ipairs(c.lines) do if l.sku == sku then n = n + l.qty end end\n"
    "  return n\n"
    "end\n"
    "function methods.qty_in_category(c, cat)\n"
    "  local n = 0\n"
    "  for _, l in ipairs(c.lines) do if l.category == cat then n = n + l.qty end end\n"
    "  return n\n"
    "end\n"
    "function methods.categories(c)\n"
    "  local seen, out = {}, {}\n"
    "  for _, l in ipairs(c.lines) do\n"
    "    local k = l.category\n"
    "    if k and not seen[k] then seen[k] = true; out[#out + 1] = k end\n"
    "  end\n"
    "  table.sort(out)\n"
    "  return out\n"
    "end\n"
    "CART_MT = { __index = methods }\n"
    "local function no() return false end\n"
    "function make_customer(id) return { id = id, declined = no, bought = no, bought_category = no } end\n"
    "SHIPPING = { threshold_cents = 5000, shipping_cents = 499 }\n";

typedef struct floor_plugin {
  int on_quote, on_earn, ctx; /* registry refs (LUA_NOREF: absent) */
} floor_plugin;

static void floor_load_catalog(lua_State *L, const char *dbpath) {
  sqlite3 *db;
  sqlite3_stmt *st;
  if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "SELECT sku, name, price_cents, category, popularity, tags "
                         "FROM catalog ORDER BY category, popularity DESC, sku",
                         -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "plugin_stage: catalog read: %s\n", sqlite3_errmsg(db));
    exit(2);
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    lua_getglobal(L, "catalog_add");
    lua_pushstring(L, (const char *)sqlite3_column_text(st, 0));
    lua_pushstring(L, (const char *)sqlite3_column_text(st, 1));
    lua_pushinteger(L, sqlite3_column_int64(st, 2));
    lua_pushstring(L, (const char *)sqlite3_column_text(st, 3));
    lua_pushinteger(L, sqlite3_column_int64(st, 4));
    lua_pushstring(L, (const char *)sqlite3_column_text(st, 5));
    lua_call(L, 6, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* params of the two demo plugins as plain tables (examples/shop/shop.lua) */
static const char *PARAMS[2] = {
    "return { pairs = { { 'mp3', 'headphones' }, { 'coffee', 'mugs' } }, max = 3, quiet_days = 30 }",
    "return { max = 3, categories = { 'accessories' } }"};
static const char *NAMES[2] = {"cross_sell", "free_shipping_nudge"};

static void floor_load_plugin(lua_State *L, const char *root, int i, floor_plugin *fp) {
  char path[4096];
  snprintf(path, sizeof path, "%s/plugins/%s.lua", root, NAMES[i]);
  if (luaL_loadfile(L, path) || lua_pcall(L, 0, 1, 0)) {
    fprintf(stderr, "plugin_stage: floor: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  lua_getfield(L, -1, "on_quote");
  fp->on_quote = lua_isfunction(L, -1) ? luaL_ref(L, LUA_REGISTRYINDEX) : (lua_pop(L, 1), LUA_NOREF);
  lua_getfield(L, -1, "on_earn");
  fp->on_earn = lua_isfunction(L, -1) ? luaL_ref(L, LUA_REGISTRYINDEX) : (lua_pop(L, 1), LUA_NOREF);
  lua_pop(L, 1);
  /* ctx: params, plugin, catalog, program; per cart: now, today, customer, shipping */
  lua_createtable(L, 0, 8);
  if (luaL_dostring(L, PARAMS[i])) die("floor params", NULL);
  lua_setfield(L, -2, "params");
  lua_pushstring(L, NAMES[i]);
  lua_setfield(L, -2, "plugin");
  lua_getglobal(L, "catalog");
  lua_setfield(L, -2, "catalog");
  fp->ctx = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void set_int(lua_State *L, const char *k, int64_t v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}
static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* [-0, +1] the plain cart table */
static void floor_push_cart(lua_State *L, const bcart *b) {
  const pt_cart *c = &b->c;
  lua_createtable(L, 0, 12);
  lua_createtable(L, (int)c->nlines, 0);
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    lua_createtable(L, 0, 8);
    set_str(L, "sku", l->sku);
    set_int(L, "qty", l->qty);
    set_int(L, "unit_cents", l->unit_cents);
    set_str(L, "category", l->category);
    lua_createtable(L, 0, 0);
    lua_setfield(L, -2, "tags");
    set_int(L, "gross_cents", l->qty * l->unit_cents);
    set_int(L, "discount_cents", b->line_disc[i]);
    set_int(L, "net_cents", l->qty * l->unit_cents - b->line_disc[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "lines");
  set_int(L, "subtotal_cents", b->subtotal);
  set_int(L, "discount_cents", b->discount);
  set_int(L, "discounted_cents", b->subtotal - b->discount);
  set_str(L, "program", "default");
  set_str(L, "currency", "EUR");
  set_int(L, "at", CART_AT);
  if (c->customer[0]) set_str(L, "customer", c->customer);
  lua_createtable(L, 0, 0);
  lua_setfield(L, -2, "shown_suggestions");
  lua_getglobal(L, "CART_MT");
  lua_setmetatable(L, -2);
}

/* Distinct suggested skus of the actions at idx, added to seen (max 10). */
static void floor_collect(lua_State *L, int idx, char seen[][64], int *nseen) {
  if (!lua_istable(L, idx)) return;
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    lua_getfield(L, -1, "action");
    const char *a = lua_tostring(L, -1);
    if (a && strcmp(a, "suggest") == 0 && *nseen < 10) {
      lua_getfield(L, -2, "sku");
      const char *s = lua_tostring(L, -1);
      int dup = 0;
      for (int k = 0; s && k < *nseen; k++) dup |= strcmp(seen[k], s) == 0;
      if (s && !dup) snprintf(seen[(*nseen)++], 64, "%s", s);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
}

/* ---- main ------------------------------------------------------------------------ */

/* One quote as patron_quote_json runs it: inside a read transaction (one
** snapshot and one lock for all its reads, not one per statement). */
static int quote_run(patron *p, pt_quote *q, pt_cart *c) {
  int rc = pt_read_begin(p);
  if (rc) return rc;
  rc = pt_quote_run(p, q, c, false);
  pt_read_end(p);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: plugin_stage ROOT DB [NCARTS [ROUNDS]]\n");
    return 2;
  }
  const char *root = argv[1], *dbpath = argv[2];
  long ncarts = argc > 3 ? atol(argv[3]) : 50000;
  int rounds = argc > 4 ? atoi(argv[4]) : 3;
  if (ncarts < 1 || rounds < 1) return 2;
  char path[4096], plugdir[4096];

  /* the shop */
  patron *p;
  patron_options opt = PATRON_OPTIONS_INIT;
  snprintf(plugdir, sizeof plugdir, "%s/plugins", root);
  opt.plugin_dir = plugdir;
  if (patron_open(&p, dbpath, &opt)) die("open", p);
  patron_apply_result ar;
  snprintf(path, sizeof path, "%s/examples/shop/shop.lua", root);
  if (patron_apply_file(p, &ar, path)) die("apply shop.lua", p);
  patron_import_result ir;
  snprintf(path, sizeof path, "%s/examples/shop/catalog.csv", root);
  if (patron_import_catalog(p, &ir, path, NULL, NULL)) die("catalog import", p);
  int64_t nitems = ir.inserted;
  snprintf(path, sizeof path, "%s/examples/shop/customers.csv", root);
  if (patron_import_customers(p, &ir, path, NULL, NULL)) die("customers import", p);
  int64_t ncust = ir.inserted;
  const pt_config *cfg = pt_config_active(p);
  if (!cfg) die("config", p);
  if (cfg->nplugins != 2) {
    fprintf(stderr, "plugin_stage: expected the 2 demo plugins, config has %zu\n", cfg->nplugins);
    return 2;
  }
  pt_config bare = *cfg; /* the same config without plugins */
  bare.nplugins = 0;
  bare.plugins = NULL;

  /* the catalog, for the carts */
  item *items = calloc((size_t)nitems, sizeof *items);
  size_t ni = 0;
  {
    sqlite3 *db;
    sqlite3_stmt *st;
    sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL);
    if (sqlite3_prepare_v2(db, "SELECT sku, category, price_cents FROM catalog ORDER BY sku",
                           -1, &st, NULL) != SQLITE_OK)
      die("catalog select", NULL);
    while (sqlite3_step(st) == SQLITE_ROW && ni < (size_t)nitems) {
      snprintf(items[ni].sku, 64, "%s", (const char *)sqlite3_column_text(st, 0));
      snprintf(items[ni].category, 64, "%s", (const char *)sqlite3_column_text(st, 1));
      items[ni].price = sqlite3_column_int64(st, 2);
      ni++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  if (ni < NLINES) die("catalog too small", NULL);

  /* the carts, decoded; line discounts after bundles from a plugin-less run */
  bcart *carts = calloc((size_t)ncarts, sizeof *carts);
  int64_t named = 0;
  for (long k = 0; k < ncarts; k++) {
    char js[4096];
    size_t n = 0;
    int used[1024] = {0};
    bool anon = rnd() % 5 == 0;
    if (anon)
      n += (size_t)snprintf(js + n, sizeof js - n, "{\"lines\":[");
    else
      n += (size_t)snprintf(js + n, sizeof js - n, "{\"customer\":\"C%d\",\"lines\":[",
                            (int)(rnd() % (uint64_t)ncust) + 1);
    named += !anon;
    for (int l = 0; l < NLINES; l++) {
      size_t x;
      do x = rnd() % ni; while (x < 1024 && used[x]);
      if (x < 1024) used[x] = 1;
      uint64_t r = rnd() % 10;
      n += (size_t)snprintf(js + n, sizeof js - n,
                            "%s{\"sku\":\"%s\",\"qty\":%d,\"unit_cents\":%" PRId64
                            ",\"category\":\"%s\"}",
                            l ? "," : "", items[x].sku, r < 7 ? 1 : r < 9 ? 2 : 3,
                            items[x].price, items[x].category);
    }
    n += (size_t)snprintf(js + n, sizeof js - n, "]}");
    if (pt_cart_decode(p, &carts[k].c, js, n)) die("cart decode", p);
    carts[k].c.at = CART_AT;
    pt_quote q;
    p->cfg_override = &bare;
    if (quote_run(p, &q, &carts[k].c)) die("quote (no plugins)", p);
    p->cfg_override = NULL;
    for (size_t i = 0; i < NLINES; i++) carts[k].line_disc[i] = carts[k].c.lines[i].discount_cents;
    carts[k].subtotal = q.subtotal_cents;
    carts[k].discount = q.discount_cents;
    pt_quote_free(&q);
    for (size_t i = 0; i < NLINES; i++) { /* the pipeline fills these per run */
      carts[k].c.lines[i].discount_cents = 0;
      carts[k].c.lines[i].bundled_units = 0;
    }
  }

  /* the floor's state */
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dostring(L, STANDIN)) {
    fprintf(stderr, "plugin_stage: stand-in: %s\n", lua_tostring(L, -1));
    return 2;
  }
  floor_load_catalog(L, dbpath);
  floor_plugin fp[2];
  for (int i = 0; i < 2; i++) floor_load_plugin(L, root, i, &fp[i]);

  /* warm-up (not timed): patron builds its runtime at the first quote */
  for (long k = 0; k < (ncarts < 500 ? ncarts : 500); k++) {
    pt_quote q;
    if (quote_run(p, &q, &carts[k].c)) die("quote", p);
    pt_quote_free(&q);
  }

  double *r_stage = calloc((size_t)rounds, sizeof(double));
  double *r_sub = calloc((size_t)rounds, sizeof(double));
  double *r_floor = calloc((size_t)rounds, sizeof(double));
  double *r_build = calloc((size_t)rounds, sizeof(double));
  double *r_ratio = calloc((size_t)rounds, sizeof(double));
  int64_t p_sugg = 0, f_sugg = 0, p_warn = 0, p_fail = 0;
  for (int r = 0; r < rounds; r++) {
    /* (a) patron */
    int64_t with_ns = 0, without_ns = 0;
    g_stage_ns = 0;
    for (long k = 0; k < ncarts; k++) {
      pt_quote q;
      int64_t t0 = now_ns();
      if (quote_run(p, &q, &carts[k].c)) die("quote", p);
      with_ns += now_ns() - t0;
      if (r == 0) {
        p_sugg += count_suggestions(q.suggestions);
        p_warn += (int64_t)json_array_size(q.warnings);
      }
      pt_quote_free(&q);
      p->cfg_override = &bare;
      t0 = now_ns();
      if (quote_run(p, &q, &carts[k].c)) die("quote (no plugins)", p);
      without_ns += now_ns() - t0;
      p->cfg_override = NULL;
      pt_quote_free(&q);
    }
    if (r == 0) p_fail = pt_script_errors(p->script, 0) + pt_script_errors(p->script, 1);
    /* (b) the floor */
    int64_t call_ns = 0, build_ns = 0;
    for (long k = 0; k < ncarts; k++) {
      const bcart *b = &carts[k];
      int64_t t0 = now_ns();
      floor_push_cart(L, b);
      for (int i = 0; i < 2; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fp[i].ctx);
        set_int(L, "now", CART_AT);
        set_str(L, "today", "2026-11-23");
        lua_getglobal(L, "SHIPPING");
        lua_setfield(L, -2, "shipping");
        if (b->c.customer[0]) {
          lua_getglobal(L, "make_customer");
          lua_pushstring(L, b->c.customer);
          lua_call(L, 1, 1);
        } else {
          lua_pushnil(L);
        }
        lua_setfield(L, -2, "customer");
        lua_pop(L, 1);
      }
      int64_t t1 = now_ns();
      char seen[10][64];
      int nseen = 0;
      for (int i = 0; i < 2; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fp[i].on_quote);
        lua_pushvalue(L, -2);
        lua_rawgeti(L, LUA_REGISTRYINDEX, fp[i].ctx);
        if (lua_pcall(L, 2, 1, 0)) {
          fprintf(stderr, "plugin_stage: floor %s: %s\n", NAMES[i], lua_tostring(L, -1));
          return 2;
        }
        if (r == 0) floor_collect(L, lua_gettop(L), seen, &nseen);
        lua_pop(L, 1);
      }
      if (b->c.customer[0])
        for (int i = 0; i < 2; i++) {
          if (fp[i].on_earn == LUA_NOREF) continue;
          lua_rawgeti(L, LUA_REGISTRYINDEX, fp[i].on_earn);
          lua_pushvalue(L, -2);
          lua_rawgeti(L, LUA_REGISTRYINDEX, fp[i].ctx);
          if (lua_pcall(L, 2, 1, 0)) return 2;
          lua_pop(L, 1);
        }
      int64_t t2 = now_ns();
      lua_pop(L, 1); /* the cart */
      build_ns += t1 - t0;
      call_ns += t2 - t1;
      if (r == 0) f_sugg += nseen;
    }
    r_stage[r] = g_stage_ns / 1e3 / (double)ncarts;
    r_sub[r] = (with_ns - without_ns) / 1e3 / (double)ncarts;
    r_floor[r] = call_ns / 1e3 / (double)ncarts;
    r_build[r] = build_ns / 1e3 / (double)ncarts;
    r_ratio[r] = r_stage[r] / r_floor[r];
    printf("  round %d: patron stage %.2f us/cart (with - without plugins: %.2f), "
           "floor %.2f us/cart (+ %.2f building the tables), ratio %.2fx\n",
           r + 1, r_stage[r], r_sub[r], r_floor[r], r_build[r], r_ratio[r]);
  }
  qsort(r_stage, (size_t)rounds, sizeof(double), cmp_median);
  qsort(r_sub, (size_t)rounds, sizeof(double), cmp_median);
  qsort(r_floor, (size_t)rounds, sizeof(double), cmp_median);
  qsort(r_build, (size_t)rounds, sizeof(double), cmp_median);
  qsort(r_ratio, (size_t)rounds, sizeof(double), cmp_median);
  int m = rounds / 2;
  printf("carts: %ld x %d lines (%" PRId64 " named, %" PRId64 " anonymous), %d rounds, "
         "catalog %zu skus, %" PRId64 " customers\n",
         ncarts, NLINES, named, (int64_t)ncarts - named, rounds, ni, ncust);
  printf("suggestions (distinct per cart, round 1): patron %" PRId64 ", floor %" PRId64
         " -> %s; patron warnings %" PRId64 ", failed plugin calls %" PRId64 "\n",
         p_sugg, f_sugg, p_sugg == f_sugg ? "same" : "DIFFER", p_warn, p_fail);
  printf("patron plugin stage (pt_rules_on_quote + pt_rules_on_earn, timed inside "
         "pt_quote_run): %.2f us/cart (median)\n", r_stage[m]);
  printf("  cross-check: pipeline with plugins - pipeline without: %.2f us/cart\n", r_sub[m]);
  printf("floor (plain lua_State, plain tables, hook calls only): %.2f us/cart (median); "
         "building the plain tables from C: %.2f us/cart more\n", r_floor[m], r_build[m]);
  printf("ratio patron / floor: %.2fx (median of the %d rounds) -- target <= 2.00x: %s\n",
         r_ratio[m], rounds, r_ratio[m] <= 2.0 ? "PASS" : "FAIL");
  printf("  (against floor + table building: %.2fx)\n", r_stage[m] / (r_floor[m] + r_build[m]));

  lua_close(L);
  for (long k = 0; k < ncarts; k++) pt_cart_free(&carts[k].c);
  free(carts);
  free(items);
  patron_close(p);
  return p_sugg == f_sugg ? 0 : 1;
}
