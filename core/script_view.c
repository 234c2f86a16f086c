/*
** script_view.c -- the read-only views rule hooks receive (lua/RULES_API.md):
** the cart (or order), ctx and its parts (params, program, plans, shipping,
** customer, catalog). A view is an empty table whose protected metatable
** indexes a hidden backing table; writes raise "attempt to modify a
** read-only view (cart.lines[1].qty)", naming the path kept in the
** metatables. Cost is kept low: per-config views (params, plans, program,
** catalog) are made once per state, the cart view once per evaluation and
** then updated in place, ctx and the customer view once per state with
** their per-cart fields refreshed, and what needs the database (customer
** history, catalog look-ups) is read on first use through cached
** prepared statements that are reset before anything is pushed.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script_rt.h"

static const char view_tag = 0; /* its address marks view metatables */

static int ref(lua_State *L) { return luaL_ref(L, LUA_REGISTRYINDEX); }

/* ---- views -------------------------------------------------------------------------- */

static int view_set(lua_State *L);
static int view_len(lua_State *L);
static int view_pairs(lua_State *L);
static int view_tostring(lua_State *L);

/* [-1, +2] pops a key (the view's name in its parent, for messages),
** pushes a new view P and its backing table B (on top) to be filled;
** pop B when done. parent: stack index of the parent view, or 0. */
void pt_view_open(lua_State *L, int parent, int narr, int nrec) {
  int key = lua_gettop(L);
  lua_createtable(L, 0, 0);       /* P */
  lua_createtable(L, narr, nrec); /* B */
  lua_createtable(L, 4, 6);       /* M */
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, view_set);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, view_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, view_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushcfunction(L, view_tostring); /* not an address: outputs stay stable */
  lua_setfield(L, -2, "__tostring");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  if (parent) {
    lua_pushvalue(L, parent);
    lua_rawseti(L, -2, MT_PARENT);
  }
  lua_pushvalue(L, key);
  lua_rawseti(L, -2, MT_KEY);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, MT_BACKING);
  lua_pushlightuserdata(L, (void *)&view_tag);
  lua_rawseti(L, -2, MT_TAG);
  lua_setmetatable(L, -3);
  lua_remove(L, key);
}

/* Is the value at idx a view? Then pushes its backing table (true). */
bool pt_view_backing(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  bool yes = lua_rawgeti(L, -1, MT_TAG) == LUA_TLIGHTUSERDATA &&
             lua_touserdata(L, -1) == (void *)&view_tag;
  lua_pop(L, 1);
  if (!yes) {
    lua_pop(L, 1);
    return false;
  }
  lua_rawgeti(L, -1, MT_BACKING);
  lua_remove(L, -2);
  return true;
}

static void add_key(luaL_Buffer *b, lua_State *L, int k, bool first) {
  if (lua_type(L, k) == LUA_TSTRING) {
    if (!first) luaL_addchar(b, '.');
    luaL_addstring(b, lua_tostring(L, k));
  } else if (lua_isinteger(L, k)) {
    char buf[32];
    snprintf(buf, sizeof buf, "[%lld]", (long long)lua_tointeger(L, k));
    luaL_addstring(b, buf);
  } else {
    luaL_addstring(b, "[?]");
  }
}

/* [-0, +1] the path of a view and a key, for messages: cart.lines[1].qty */
static void push_path(lua_State *L, int view, int key) {
  view = lua_absindex(L, view);
  if (key) key = lua_absindex(L, key);
  int base = lua_gettop(L), n = 0;
  lua_pushvalue(L, view);                  /* node */
  while (n < RT_VIEW_DEPTH && lua_getmetatable(L, -1)) {
    lua_rawgeti(L, -1, MT_KEY);            /* node M key */
    lua_rawgeti(L, -2, MT_PARENT);         /* node M key parent */
    lua_remove(L, -3);
    lua_remove(L, -3);                     /* key parent */
    n++;
    if (lua_isnil(L, -1)) break;
  }
  lua_pop(L, 1);                           /* keys at base+1 (view) .. base+n (root) */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = n; i >= 1; i--) add_key(&b, L, base + i, i == n);
  if (key) add_key(&b, L, key, n == 0);
  luaL_pushresult(&b);
  if (n > 0) {
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
}

/* __newindex of views */
static int view_set(lua_State *L) {
  push_path(L, 1, 2);
  return luaL_error(L, "attempt to modify a read-only view (%s)", lua_tostring(L, -1));
}

/* __tostring of views: "view cart.lines[1]" */
static int view_tostring(lua_State *L) {
  push_path(L, 1, 0);
  lua_pushfstring(L, "view %s", lua_tostring(L, -1));
  return 1;
}

/* __len of views */
static int view_len(lua_State *L) {
  lua_getmetatable(L, 1);
  lua_rawgeti(L, -1, MT_BACKING);
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
  return 1;
}

/* __pairs of views: the backing table's keys in order, values as views */
static int view_pairs(lua_State *L) {
  lua_getmetatable(L, 1);
  if (lua_rawgeti(L, -1, MT_LOADER) == LUA_TFUNCTION) { /* lazy fields first */
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
  } else {
    lua_pop(L, 1);
  }
  lua_rawgeti(L, -1, MT_BACKING);
  pt_script_sorted_iter(L, pt_script_of(L), -1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

static void set_int(lua_State *L, int t, const char *k, int64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, t, k);
}

static void set_str(lua_State *L, int t, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, t, k);
}

/* A string field, nil when v is empty or NULL: in a kept view that also
** clears what an earlier cart left (a nil for an absent key stores
** nothing, so it allocates nothing). */
static void set_opt(lua_State *L, int t, const char *k, const char *v) {
  if (v && *v) lua_pushstring(L, v);
  else lua_pushnil(L);
  lua_setfield(L, t, k);
}

/* [-1, +1] pops a key, pushes the view of a comma-separated list. */
static void push_list_view(lua_State *L, int parent, const char *csv) {
  int n = 0;
  for (const char *c = csv; *c; c++) n += *c == ',';
  pt_view_open(L, parent, *csv ? n + 1 : 0, 0);
  int b = lua_gettop(L);
  lua_Integer i = 0;
  for (const char *c = csv; *csv && c;) {
    const char *comma = strchr(c, ',');
    size_t len = comma ? (size_t)(comma - c) : strlen(c);
    lua_pushlstring(L, c, len);
    lua_rawseti(L, b, ++i);
    c = comma ? comma + 1 : NULL;
  }
  lua_pop(L, 1);
}

/* [-1, +1] pops a key, pushes the Lua value of j (views for containers). */
void pt_view_json(lua_State *L, const json_t *j, int parent, int depth) {
  luaL_checkstack(L, 8, "configuration nested too deeply");
  if (depth > RT_VIEW_DEPTH) luaL_error(L, "value nested too deeply");
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    pt_view_open(L, parent, 0, (int)json_object_size(j));
    int pv = lua_gettop(L) - 1, b = lua_gettop(L);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      lua_pushstring(L, k);
      pt_view_json(L, v, pv, depth + 1);
      lua_setfield(L, b, k);
    }
    lua_pop(L, 1);
    return;
  }
  case JSON_ARRAY: {
    pt_view_open(L, parent, (int)json_array_size(j), 0);
    int pv = lua_gettop(L) - 1, b = lua_gettop(L);
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      lua_pushinteger(L, (lua_Integer)i + 1);
      pt_view_json(L, v, pv, depth + 1);
      lua_rawseti(L, b, (lua_Integer)i + 1);
    }
    lua_pop(L, 1);
    return;
  }
  default:
    break;
  }
  lua_pop(L, 1); /* the key */
  switch (json_typeof(j)) {
  case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); break;
  case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(j)); break;
  case JSON_REAL: lua_pushnumber(L, json_real_value(j)); break;
  case JSON_TRUE: lua_pushboolean(L, 1); break;
  case JSON_FALSE: lua_pushboolean(L, 0); break;
  default: lua_pushnil(L); break;
  }
}

/* ---- views of the quote ------------------------------------------------------------- */

/* Clears what a longer array of an earlier cart left in the backing table
** at b: entries n+1 .. old become nil (no allocation: the slots exist), so
** the table's length is n again. */
static void clear_from(lua_State *L, int b, lua_Integer n, lua_Integer old) {
  for (lua_Integer i = n + 1; i <= old; i++) {
    lua_pushnil(L);
    lua_rawseti(L, b, i);
  }
}

/* The line's tags: the shared empty list, or a list view kept in the
** line's metatable with the text it was made from, remade when it
** differs. bi: the line's backing table; pi: the line view. */
static void set_tags(lua_State *L, pt_script *s, int pi, int bi, const char *tags) {
  if (!tags[0]) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_no_tags);
    lua_setfield(L, bi, "tags");
    return;
  }
  lua_getmetatable(L, pi);
  int m = lua_gettop(L);
  if (lua_rawgeti(L, m, MT_TAGS_TEXT) == LUA_TSTRING && strcmp(lua_tostring(L, -1), tags) == 0) {
    lua_pop(L, 2); /* the kept list shows these tags */
    return;
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "tags");
  push_list_view(L, pi, tags);
  lua_setfield(L, bi, "tags");
  lua_pushstring(L, tags); /* after the list: a failure above keeps no claim */
  lua_rawseti(L, m, MT_TAGS_TEXT);
  lua_pop(L, 1);
}

/* [-0, +1] the cart view, kept by the state and filled in place for each
** evaluation: the cart, its lines (a pool of line views, one per position,
** made the first time a cart is that long), shown_suggestions. Filling
** sets existing keys (no allocation but new strings) and clears what a
** longer cart left, so building the view costs a few field writes per line
** instead of three tables per view. A view a plugin keeps past its hook
** call shows whatever cart the state evaluates later (RULES_API.md: views
** are valid during the call). The amounts that change while the pipeline
** runs are updated by refresh_cart; on_earn sees the same view as `order`. */
static void push_cart(lua_State *L, pt_script *s) {
  const pt_quote *q = s->q;
  const pt_cart *c = q->cart;
  luaL_checkstack(L, 16, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_eval);
  int ev = lua_gettop(L);
  if (lua_rawgeti(L, ev, EV_CART_KEPT) == LUA_TNIL) { /* the first cart */
    lua_pop(L, 1);
    lua_pushliteral(L, "cart");
    pt_view_open(L, 0, 0, 20);
    int pc = lua_gettop(L) - 1, bc = lua_gettop(L);
    lua_pushliteral(L, "lines");
    pt_view_open(L, pc, (int)c->nlines, 0);
    lua_pop(L, 1);
    lua_setfield(L, bc, "lines");
    lua_pushliteral(L, "shown_suggestions");
    pt_view_open(L, pc, 0, 0);
    lua_pop(L, 1);
    lua_setfield(L, bc, "shown_suggestions");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_cart_mt); /* cart:has_sku(...) */
    lua_setmetatable(L, bc);
    lua_pop(L, 1);
    lua_createtable(L, (int)c->nlines, 0);
    /* kept only once whole: the eval table's slots exist, so these two
    ** writes cannot fail, and a failure before them keeps nothing */
    lua_rawseti(L, ev, EV_LINE_POOL);
    lua_pushvalue(L, -1);
    lua_rawseti(L, ev, EV_CART_KEPT);
  }
  int pc = lua_gettop(L);
  lua_getmetatable(L, pc); /* its name: the last evaluation may have made it `order` */
  lua_pushliteral(L, "cart");
  lua_rawseti(L, -2, MT_KEY);
  lua_pop(L, 1);
  pt_view_backing(L, pc);
  int bc = lua_gettop(L);
  lua_rawgeti(L, ev, EV_LINE_POOL);
  int pool = lua_gettop(L);
  lua_getfield(L, bc, "lines");
  int pls = lua_gettop(L);
  pt_view_backing(L, pls);
  int bls = lua_gettop(L);
  lua_Integer old = (lua_Integer)lua_rawlen(L, bls);
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    lua_Integer at = (lua_Integer)i + 1;
    if (lua_rawgeti(L, pool, at) == LUA_TNIL) { /* a cart this long: one more line view */
      lua_pop(L, 1);
      lua_pushinteger(L, at);
      pt_view_open(L, pls, 0, 8);
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_rawseti(L, pool, at);
    }
    int pi = lua_gettop(L);
    pt_view_backing(L, pi);
    int bi = lua_gettop(L);
    set_str(L, bi, "sku", l->sku);
    set_int(L, bi, "qty", l->qty);
    set_int(L, bi, "unit_cents", l->unit_cents);
    set_str(L, bi, "category", l->category);
    set_int(L, bi, "gross_cents", l->gross_cents);
    set_int(L, bi, "discount_cents", l->discount_cents);
    set_int(L, bi, "net_cents", l->gross_cents - l->discount_cents);
    set_tags(L, s, pi, bi, l->tags);
    lua_pop(L, 1);
    lua_rawseti(L, bls, at);
  }
  clear_from(L, bls, (lua_Integer)c->nlines, old);
  lua_settop(L, bc);
  set_int(L, bc, "subtotal_cents", q->subtotal_cents);
  set_int(L, bc, "discount_cents", q->discount_cents);
  set_int(L, bc, "discounted_cents", q->subtotal_cents - q->discount_cents);
  set_str(L, bc, "program", q->prog->name);
  set_opt(L, bc, "region", c->region);
  set_opt(L, bc, "customer", c->customer);
  set_str(L, bc, "currency", q->cfg->currency);
  set_int(L, bc, "at", q->at);
  set_opt(L, bc, "paid_cents", NULL); /* the order's (refresh_cart, on_earn) */
  set_opt(L, bc, "base_points", NULL);
  set_opt(L, bc, "tier", NULL);
  lua_getfield(L, bc, "shown_suggestions");
  pt_view_backing(L, -1);
  int bs = lua_gettop(L);
  old = (lua_Integer)lua_rawlen(L, bs);
  for (size_t i = 0; i < c->nshown; i++) {
    lua_pushstring(L, c->shown[i]);
    lua_rawseti(L, bs, (lua_Integer)i + 1);
  }
  clear_from(L, bs, (lua_Integer)c->nshown, old);
  lua_settop(L, pc);
  lua_remove(L, ev);
}

/* Updates the cart view at pv to the quote's amounts (discounts so far);
** for on_earn it becomes the order view. Only existing keys change, so
** nothing is allocated but the order's fields. */
static void refresh_cart(lua_State *L, pt_script *s, int pv, bool order) {
  const pt_quote *q = s->q;
  const pt_cart *c = q->cart;
  pv = lua_absindex(L, pv);
  pt_view_backing(L, pv);
  int bc = lua_gettop(L);
  lua_getfield(L, bc, "lines");
  pt_view_backing(L, -1);
  int bls = lua_gettop(L);
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    lua_rawgeti(L, bls, (lua_Integer)i + 1);
    pt_view_backing(L, -1);
    set_int(L, lua_gettop(L), "discount_cents", l->discount_cents);
    set_int(L, lua_gettop(L), "net_cents", l->gross_cents - l->discount_cents);
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
  set_int(L, bc, "discount_cents", q->discount_cents);
  set_int(L, bc, "discounted_cents", q->subtotal_cents - q->discount_cents);
  if (order) {
    int64_t goods = q->subtotal_cents - q->discount_cents;
    set_int(L, bc, "paid_cents", goods - (q->redeem_cents < goods ? q->redeem_cents : goods));
    set_int(L, bc, "base_points", q->points_earned);
    set_str(L, bc, "tier", q->tier);
    lua_getmetatable(L, pv); /* its name in messages */
    lua_pushliteral(L, "order");
    lua_rawseti(L, -2, MT_KEY);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* [-0, +1] the view of the cart's program, cached by name. */
static void push_program(lua_State *L, pt_script *s) {
  const pt_program *g = s->q->prog;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_programs);
  if (lua_getfield(L, -1, g->name) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "ctx.program");
  pt_view_open(L, 0, 0, 8);
  int pv = lua_gettop(L) - 1, b = lua_gettop(L);
  set_str(L, b, "name", g->name);
  set_int(L, b, "points_per_unit", g->points_per_unit);
  set_int(L, b, "value_points", g->value_points);
  set_int(L, b, "value_cents", g->value_cents);
  set_int(L, b, "min_points", g->min_points);
  set_int(L, b, "max_share_bp", g->max_share_bp);
  lua_pushliteral(L, "tiers");
  pt_view_open(L, pv, (int)g->ntiers, 0);
  int pt = lua_gettop(L) - 1, bt = lua_gettop(L);
  for (size_t i = 0; i < g->ntiers; i++) {
    lua_pushinteger(L, (lua_Integer)i + 1);
    pt_view_open(L, pt, 0, 3);
    int b3 = lua_gettop(L);
    set_str(L, b3, "name", g->tiers[i].name);
    set_int(L, b3, "from_cents", g->tiers[i].from_cents);
    set_int(L, b3, "multiplier_bp", g->tiers[i].multiplier_bp);
    lua_pop(L, 1);
    lua_rawseti(L, bt, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
  lua_setfield(L, b, "tiers");
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, g->name);
  lua_remove(L, -2);
}

/* [-0, +(0|1)] the free-shipping rule of the cart (the most specific by
** program, then region, as checkout.c chooses it), cached per rule;
** false if none. */
static bool push_shipping(lua_State *L, pt_script *s) {
  const pt_config *cfg = s->q->cfg;
  const char *prog = s->q->prog->name, *region = s->q->cart->region;
  const pt_shipping *best = NULL;
  int best_score = -1;
  size_t at = 0;
  for (size_t i = 0; i < cfg->nshipping; i++) {
    const pt_shipping *r = &cfg->shipping[i];
    if (r->program[0] && strcmp(r->program, prog) != 0) continue;
    if (r->region[0] && strcmp(r->region, region) != 0) continue;
    int score = (r->program[0] ? 2 : 0) + (r->region[0] ? 1 : 0);
    if (score > best_score) {
      best = r;
      best_score = score;
      at = i;
    }
  }
  if (!best) return false;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_shipping);
  if (lua_rawgeti(L, -1, (lua_Integer)at + 1) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "ctx.shipping");
    pt_view_open(L, 0, 0, 2);
    set_int(L, lua_gettop(L), "threshold_cents", best->threshold_cents);
    set_int(L, lua_gettop(L), "shipping_cents", best->shipping_cents);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (lua_Integer)at + 1);
  }
  lua_remove(L, -2);
  return true;
}

/* Raises unless a hook call of the evaluation gen is running. */
static void need_eval(lua_State *L, pt_script *s, int gen_idx) {
  if (!s->q || !s->p || !s->in_call)
    luaL_error(L, "only available while a hook runs");
  if (gen_idx && lua_tointeger(L, gen_idx) != s->gen)
    luaL_error(L, "this ctx.customer is from an earlier cart; use the ctx the hook receives");
}

/* Raises a storage error; the handle's message is copied by luaL_error
** before the jump. */
static int storage_error(lua_State *L, pt_script *s, const char *what) {
  int code = patron_errcode(s->p);
  s->engine_rc = code ? code : PATRON_INTERNAL; /* sticky, even if pcall catches it */
  const char *m = patron_errmsg(s->p);
  if (strncmp(m, what, strlen(what)) == 0) return luaL_error(L, "%s", m);
  return luaL_error(L, "%s: %s", what, m);
}

typedef struct history {
  int64_t orders, first, last, lifetime;
  bool any;
  char birthday[16];
} history;

static int read_history(pt_script *s, history *h) {
  patron *p = s->p;
  const char *cust = s->q->cart->customer, *prog = s->q->prog->name;
  memset(h, 0, sizeof *h);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SCRIPT_CUSTOMER_ORDERS);
  if (!st) return -1;
  pt_bind_text(st, 1, cust);
  pt_bind_text(st, 2, prog);
  int r = pt_row(p, st, "ctx.customer");
  if (r > 0) {
    h->orders = sqlite3_column_int64(st, 0);
    h->any = sqlite3_column_type(st, 1) != SQLITE_NULL;
    h->first = sqlite3_column_int64(st, 1);
    h->last = sqlite3_column_int64(st, 2);
  }
  pt_stmt_done(st);
  if (r <= 0) return r < 0 ? -1 : pt_err(p, PATRON_INTERNAL, "ctx.customer: no order count");
  if (!(st = pt_stmt(p, PT_SQL_SCRIPT_CUSTOMER_LIFETIME))) return -1;
  pt_bind_text(st, 1, prog);
  pt_bind_text(st, 2, cust);
  if ((r = pt_row(p, st, "ctx.customer")) > 0) h->lifetime = sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (r <= 0) return r < 0 ? -1 : pt_err(p, PATRON_INTERNAL, "ctx.customer: no lifetime spend");
  if (!(st = pt_stmt(p, PT_SQL_SCRIPT_CUSTOMER_BIRTHDAY))) return -1;
  pt_bind_text(st, 1, cust);
  r = pt_row(p, st, "ctx.customer");
  if (r > 0) {
    char b[16];
    pt_col_text(st, 0, b, sizeof b);
    size_t n = strlen(b); /* "YYYY-MM-DD" or "MM-DD": keep "MM-DD" */
    if (n >= 5) snprintf(h->birthday, sizeof h->birthday, "%s", b + n - 5);
  }
  pt_stmt_done(st);
  return r < 0 ? -1 : 0;
}

/* The customer's subscriptions, oldest first (at most 20), copied into
** C buffers so no statement or allocation is held across a Lua call. */
typedef struct sub_row {
  char plan[PT_NAME_MAX], status[16];
} sub_row;

static int read_subscriptions(pt_script *s, sub_row rows[20], int *n) {
  sqlite3_stmt *st = pt_stmt(s->p, PT_SQL_SCRIPT_CUSTOMER_SUBS);
  *n = 0;
  if (!st) return -1;
  pt_bind_text(st, 1, s->q->cart->customer);
  int r = 0;
  while (*n < 20 && (r = pt_row(s->p, st, "ctx.customer.subscriptions")) > 0) {
    pt_col_text(st, 0, rows[*n].plan, sizeof rows[*n].plan);
    pt_col_text(st, 1, rows[*n].status, sizeof rows[*n].status);
    (*n)++;
  }
  pt_stmt_done(st);
  return r < 0 ? -1 : 0;
}

static const char *const history_fields[] = {"order_count", "lifetime_cents",
                                             "first_order_at", "last_order_at",
                                             "birthday", "subscriptions", NULL};

/* Loads the customer's history into the view's backing table, once per
** evaluation. upvalue 1: the backing table */
static int customer_load(lua_State *L) {
  pt_script *s = pt_script_of(L);
  if (s->history_gen == s->gen) return 0;
  need_eval(L, s, 0);
  history h;
  int rc = read_history(s, &h);
  if (rc) return storage_error(L, s, "ctx.customer");
  int b = lua_upvalueindex(1);
  set_int(L, b, "order_count", h.orders);
  set_int(L, b, "lifetime_cents", h.lifetime);
  if (h.any) {
    set_int(L, b, "first_order_at", h.first);
    set_int(L, b, "last_order_at", h.last);
  }
  set_opt(L, b, "birthday", h.birthday);
  sub_row subs[20];
  int nsubs;
  if ((rc = read_subscriptions(s, subs, &nsubs)))
    return storage_error(L, s, "ctx.customer.subscriptions");
  lua_pushliteral(L, "ctx.customer.subscriptions");
  pt_view_open(L, 0, nsubs, 0);
  int pv = lua_gettop(L) - 1, arr = lua_gettop(L);
  for (int i = 0; i < nsubs; i++) {
    lua_pushinteger(L, i + 1);
    pt_view_open(L, pv, 0, 2);
    set_str(L, lua_gettop(L), "plan", subs[i].plan);
    set_str(L, lua_gettop(L), "status", subs[i].status);
    lua_pop(L, 1);
    lua_rawseti(L, arr, i + 1);
  }
  lua_pop(L, 1);
  lua_setfield(L, b, "subscriptions");
  s->history_gen = s->gen;
  return 0;
}

/* __index of the customer view: loads the history on the first miss.
** upvalues: 1 the backing table, 2 customer_load */
static int customer_index(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_call(L, 0, 0);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

enum { ASK_BOUGHT, ASK_BOUGHT_CATEGORY, ASK_DECLINED };

static bool json_list_has(const json_t *o, const char *key, const char *v) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(o, key), i, e) {
    if (json_is_string(e) && strcmp(json_string_value(e), v) == 0) return true;
  }
  return false;
}

/* ctx.customer.bought(sku), bought_category(cat), declined(sku, days), of
** the cart being evaluated. */
static int customer_ask(lua_State *L, int which) {
  pt_script *s = pt_script_of(L);
  need_eval(L, s, 0);
  const char *arg = luaL_checkstring(L, 1);
  int64_t since = 0;
  if (which == ASK_DECLINED) {
    lua_Integer days = luaL_checkinteger(L, 2);
    luaL_argcheck(L, days >= 0 && days <= 36500, 2, "days must be 0..36500");
    since = s->q->at - (int64_t)days * PT_DAY;
  }
  if (!s->q->cart->customer[0]) return luaL_error(L, "the cart has no customer");
  if (s->test_customer) {
    static const char *const keys[] = {"bought", "bought_categories", "declined"};
    lua_pushboolean(L, json_list_has(s->test_customer, keys[which], arg));
    return 1;
  }
  static const enum pt_sql_id ids[] = {PT_SQL_SCRIPT_BOUGHT_SKU,
                                       PT_SQL_SCRIPT_BOUGHT_CATEGORY,
                                       PT_SQL_SCRIPT_DECLINED};
  sqlite3_stmt *st = pt_stmt(s->p, ids[which]);
  if (!st) return storage_error(L, s, "ctx.customer");
  pt_bind_text(st, 1, s->q->cart->customer);
  pt_bind_text(st, 2, arg);
  if (which == ASK_DECLINED) sqlite3_bind_int64(st, 3, since);
  int r = pt_row(s->p, st, "ctx.customer");
  pt_stmt_done(st);
  if (r < 0) return storage_error(L, s, "ctx.customer");
  lua_pushboolean(L, r > 0);
  return 1;
}

static int ask_bought(lua_State *L) { return customer_ask(L, ASK_BOUGHT); }
static int ask_bought_category(lua_State *L) { return customer_ask(L, ASK_BOUGHT_CATEGORY); }
static int ask_declined(lua_State *L) { return customer_ask(L, ASK_DECLINED); }

static void set_asks(lua_State *L, int b) {
  static const luaL_Reg asks[] = {{"bought", ask_bought},
                                  {"bought_category", ask_bought_category},
                                  {"declined", ask_declined},
                                  {NULL, NULL}};
  lua_pushvalue(L, b);
  luaL_setfuncs(L, asks, 0);
  lua_pop(L, 1);
}

/* [-0, +1] ctx.customer: one view per state, its fields refreshed for each
** evaluation; the history (orders, spend, birthday) is read on first use. */
static void push_customer(lua_State *L, pt_script *s) {
  const pt_quote *q = s->q;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_eval);
  if (s->test_customer) { /* rules test: the fields come from a file */
    if (lua_rawgeti(L, -1, EV_CUSTOMER) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushliteral(L, "ctx.customer");
      pt_view_json(L, s->test_customer, 0, 0);
      pt_view_backing(L, -1);
      int b = lua_gettop(L);
      if (lua_getfield(L, b, "id") == LUA_TNIL) set_str(L, b, "id", q->cart->customer);
      lua_pop(L, 1);
      set_asks(L, b);
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, EV_CUSTOMER);
    }
    lua_remove(L, -2);
    return;
  }
  if (lua_rawgeti(L, -1, EV_CUSTOMER) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "ctx.customer");
    pt_view_open(L, 0, 0, 16);
    int pv = lua_gettop(L) - 1, b = lua_gettop(L);
    set_asks(L, b);
    lua_getmetatable(L, pv);               /* the history on first use */
    lua_pushvalue(L, b);
    lua_pushcclosure(L, customer_load, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, MT_LOADER);
    lua_pushvalue(L, b);
    lua_insert(L, -2);
    lua_pushcclosure(L, customer_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);                         /* M, B */
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, EV_CUSTOMER);
  }
  lua_remove(L, -2);
  if (s->customer_gen == s->gen) return;
  pt_view_backing(L, -1);
  int b = lua_gettop(L);
  set_str(L, b, "id", q->cart->customer);
  set_str(L, b, "tier", q->tier);
  set_int(L, b, "points", q->balance.points);
  set_int(L, b, "spendable", q->balance.spendable);
  set_int(L, b, "pending", q->balance.pending);
  set_int(L, b, "window_cents", q->balance.qualifying_cents);
  for (const char *const *f = history_fields; *f; f++) { /* the last cart's */
    lua_pushnil(L);
    lua_setfield(L, b, *f);
  }
  lua_pop(L, 1);
  s->customer_gen = s->gen;
}

/* ---- ctx.catalog -------------------------------------------------------------------- */

/* [-0, +1] the prototype of a catalog item: its fields as Lua values,
** made once per kept row (EV_ITEMS, keyed by the row's address, dropped
** when the catalog's rows are freed or RT_ITEMS_MAX are kept). */
static void push_prototype(lua_State *L, pt_script *s, const pt_item *r) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_eval);
  int ev = lua_gettop(L);
  uint64_t epoch = pt_script_catalog_epoch(s);
  if (lua_rawgeti(L, ev, EV_ITEMS) == LUA_TNIL || s->items_epoch != epoch ||
      s->nitems >= RT_ITEMS_MAX) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 64);
    lua_pushvalue(L, -1);
    lua_rawseti(L, ev, EV_ITEMS); /* an array slot: cannot fail */
    s->items_epoch = epoch;
    s->nitems = 0;
  }
  int items = lua_gettop(L);
  if (lua_rawgetp(L, items, r) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 6);
    int t = lua_gettop(L);
    set_str(L, t, "sku", r->sku);
    set_str(L, t, "name", r->name);
    if (r->has_price) set_int(L, t, "price_cents", r->price_cents);
    set_str(L, t, "category", r->category);
    set_int(L, t, "popularity", r->popularity);
    lua_newtable(L); /* the tags column, split at ';' or ',', trimmed */
    lua_Integer n = 0;
    for (const char *c = r->tags; *c;) {
      size_t len = strcspn(c, ";,");
      const char *a = c, *z = c + len;
      while (a < z && (*a == ' ' || *a == '\t')) a++;
      while (z > a && (z[-1] == ' ' || z[-1] == '\t')) z--;
      if (z > a) {
        lua_pushlstring(L, a, (size_t)(z - a));
        lua_rawseti(L, -2, ++n);
      }
      c += len + (c[len] != 0);
    }
    lua_setfield(L, t, "tags");
    lua_pushvalue(L, t);
    lua_rawsetp(L, items, r);
    s->nitems++;
  }
  lua_replace(L, ev);
  lua_settop(L, ev);
}

/* [-0, +1] a catalog item as a plain table: the plugin's own copy of the
** prototype (tags list included), so what one plugin does to it no other
** sees. Copying Lua values is cheaper than making them from C text. */
static void push_item(lua_State *L, pt_script *s, const pt_item *r) {
  push_prototype(L, s, r);
  int proto = lua_gettop(L);
  lua_createtable(L, 0, 6);
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, proto)) {
    if (lua_type(L, -1) == LUA_TTABLE) { /* tags */
      int src = lua_gettop(L);
      lua_Integer n = (lua_Integer)lua_rawlen(L, src);
      lua_createtable(L, (int)n, 0);
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, src, i);
        lua_rawseti(L, -2, i);
      }
      lua_replace(L, src);
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, t); /* key, value: the key stays for lua_next */
  }
  lua_remove(L, proto);
}

/* ctx.catalog.get(sku) */
static int catalog_get(lua_State *L) {
  pt_script *s = pt_script_of(L);
  const char *sku = luaL_checkstring(L, 1);
  need_eval(L, s, 0);
  const pt_item *it;
  if (pt_script_item(s, sku, &it)) return storage_error(L, s, "ctx.catalog.get");
  if (it) push_item(L, s, it);
  else lua_pushnil(L);
  return 1;
}

/* ctx.catalog.top(category [, n [, exclude]]): most popular first, sku
** ascending on ties, without the skus in exclude; n at most 50. */
static int catalog_top(lua_State *L) {
  pt_script *s = pt_script_of(L);
  const char *cat = luaL_checkstring(L, 1);
  lua_Integer n = luaL_optinteger(L, 2, 10);
  if (n < 0) n = 0;
  if (n > RT_TOP_MAX) n = RT_TOP_MAX;
  need_eval(L, s, 0);
  lua_settop(L, 3);
  size_t nex = 0;
  if (!lua_isnil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (pt_view_backing(L, 3)) lua_replace(L, 3);
    nex = lua_rawlen(L, 3);
    if (nex > RT_EXCLUDE_MAX)
      return luaL_error(L, "ctx.catalog.top: exclude lists at most %d skus", RT_EXCLUDE_MAX);
  }
  /* the strings stay referenced by the exclude table on the stack, which
  ** no plugin code can change while this runs */
  const char *ex[RT_EXCLUDE_MAX];
  for (size_t i = 0; i < nex; i++) {
    if (lua_rawgeti(L, 3, (lua_Integer)i + 1) != LUA_TSTRING)
      return luaL_error(L, "ctx.catalog.top: exclude[%d] must be a sku", (int)i + 1);
    ex[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  pt_item *const *rows;
  size_t got;
  if (pt_script_top(s, cat, &rows, &got)) return storage_error(L, s, "ctx.catalog.top");
  lua_createtable(L, (int)n, 0);
  lua_Integer k = 0;
  for (size_t i = 0; i < got && k < n; i++) {
    bool skip = false;
    for (size_t e = 0; e < nex && !skip; e++) skip = strcmp(ex[e], rows[i]->sku) == 0;
    if (skip) continue;
    push_item(L, s, rows[i]);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* ctx.log(text): a line for `patron rules test`; nothing in quotes. */
static int ctx_log(lua_State *L) {
  pt_script *s = pt_script_of(L);
  size_t len;
  const char *t = luaL_tolstring(L, 1, &len);
  if (!s->test_log || json_array_size(s->test_log) >= RT_LOG_MAX) return 0;
  char line[1200];
  snprintf(line, sizeof line, "%s: %.*s", s->chunk ? s->chunk + 1 : "?",
           (int)(len > 1000 ? 1000 : len), t);
  json_t *j = json_string(line);
  json_array_append_new(s->test_log, j ? j : json_string("(a line that is not valid UTF-8)"));
  return 0;
}

/* [-0, +1] the ctx a hook of plugin pl receives: made at its first call,
** its per-cart fields refreshed once per evaluation. */
void pt_view_ctx(lua_State *L, pt_script *s, pt_plugin_rt *pl) {
  const pt_quote *q = s->q;
  if (pl->ctx == LUA_NOREF) {
    lua_pushliteral(L, "ctx");
    pt_view_open(L, 0, 0, 12);
    int b = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pl->params);
    lua_setfield(L, b, "params");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_plans);
    lua_setfield(L, b, "plans");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_catalog);
    lua_setfield(L, b, "catalog");
    lua_pushcfunction(L, ctx_log);
    lua_setfield(L, b, "log");
    set_str(L, b, "plugin", pl->name);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    pl->ctx = ref(L);
    pl->ctx_gen = -1;
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, pl->ctx);
  }
  if (pl->ctx_gen == s->gen) return;
  pt_view_backing(L, -1);
  int b = lua_gettop(L);
  set_int(L, b, "now", q->at);
  set_str(L, b, "today", s->today);
  push_program(L, s);
  lua_setfield(L, b, "program");
  if (!push_shipping(L, s)) lua_pushnil(L);
  lua_setfield(L, b, "shipping");
  if (q->cart->customer[0]) push_customer(L, s);
  else lua_pushnil(L);
  lua_setfield(L, b, "customer");
  lua_pop(L, 1);
  pl->ctx_gen = s->gen;
}

/* [-0, +1] the cart or order view. */
void pt_view_subject(lua_State *L, pt_script *s, pt_hook h) {
  bool earn = h == PT_HOOK_EARN;
  if (s->cart_gen == s->gen) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_eval);
    lua_rawgeti(L, -1, EV_CART_KEPT);
    lua_remove(L, -2);
    if (s->cart_dirty || earn) refresh_cart(L, s, -1, earn);
  } else {
    push_cart(L, s);
    s->cart_gen = s->gen;
    if (earn) refresh_cart(L, s, -1, true);
  }
  s->cart_dirty = false;
}

/* [-0, +1] ctx.catalog, made once per state. */
void pt_view_catalog(lua_State *L) {
  static const luaL_Reg fns[] = {{"get", catalog_get}, {"top", catalog_top}, {NULL, NULL}};
  lua_pushliteral(L, "ctx.catalog");
  pt_view_open(L, 0, 0, 2);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}

/* [-0, +1] ctx.plans, made once per state. */
void pt_view_plans(lua_State *L, const pt_config *cfg) {
  lua_pushliteral(L, "ctx.plans");
  pt_view_open(L, 0, (int)cfg->nplans, 0);
  int pp = lua_gettop(L) - 1, bp = lua_gettop(L);
  for (size_t i = 0; i < cfg->nplans; i++) {
    const pt_plan *g = &cfg->plans[i];
    lua_pushinteger(L, (lua_Integer)i + 1);
    pt_view_open(L, pp, 0, 8);
    int b = lua_gettop(L);
    set_str(L, b, "name", g->name);
    set_int(L, b, "price_cents", g->price_cents);
    set_str(L, b, "every", g->every);
    set_int(L, b, "count", g->count);
    set_int(L, b, "trial_days", g->trial_days);
    set_opt(L, b, "program", g->program);
    set_opt(L, b, "twin", g->twin);
    lua_pop(L, 1);
    lua_rawseti(L, bp, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
}
