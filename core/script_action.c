/*
** script_action.c -- reading what a rule hook returned: the list of
** actions (or one action, or nil) decoded into pt_action structs with
** their shape and types checked as lua/RULES_API.md says (integers within
** +-2^53, no floats, NaN or strings for amounts; valid UTF-8 text without
** NUL bytes; no unknown fields; values in range). A bad action becomes
** PT_ACT_INVALID with a message naming the problem; what valid actions do
** to the quote is rules.c's business. Decoding reads raw fields with calls
** that neither allocate nor raise, so it runs outside any pcall and never
** runs plugin code (metamethods, __pairs).
*/
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script_rt.h"

static const char *const hook_names[PT_HOOK__COUNT] = {"on_quote", "on_earn"};
static const char *const act_names[PT_ACT__COUNT] = {
    "discount", "free_item", "suggest", "bonus_points", "message", "shipping"};

const char *pt_act_name(int kind) {
  return kind >= 0 && kind < PT_ACT__COUNT ? act_names[kind] : "action";
}
const char *pt_hook_name(pt_hook h) { return hook_names[h]; }

static bool utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
    else return false;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    i += k + 1;
  }
  return true;
}

/* Copies text into out replacing bytes that are not UTF-8 with '?'. */
static void clean_copy(char *out, size_t size, const char *in) {
  size_t n = 0;
  for (const unsigned char *c = (const unsigned char *)in; *c && n + 1 < size;) {
    size_t k = *c < 0x80 ? 1 : *c >= 0xf0 ? 4 : *c >= 0xe0 ? 3 : 2;
    size_t avail = strnlen((const char *)c, k);
    if (avail == k && n + k < size && utf8_ok(c, k)) {
      memcpy(out + n, c, k);
      n += k;
      c += k;
    } else {
      out[n++] = '?';
      c++;
    }
  }
  out[n] = 0;
}

void pt_script_fail(pt_call *c, const char *fmt, ...) {
  char buf[sizeof c->error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  clean_copy(c->error, sizeof c->error, buf);
  c->failed = true;
}

static void problem(pt_action *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(pt_action *a, const char *fmt, ...) {
  char buf[sizeof a->problem];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  clean_copy(a->problem, sizeof a->problem, buf);
  a->kind = PT_ACT_INVALID;
}

/* The field names actions are read by. pt_action_pin keeps them alive in
** the state, and Lua interns short strings, so pushing one finds the
** interned string: it allocates nothing and cannot raise. */
static const char *const field_names[] = {"action", "invalid", "cents", "bp", "skus",
                                          "reason", "sku", "qty", "points", "text"};

void pt_action_pin(lua_State *L) {
  int n = (int)(sizeof field_names / sizeof field_names[0]);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, field_names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  luaL_ref(L, LUA_REGISTRYINDEX); /* for the state's life */
}

/* [-0, +1] the raw value of the string key name (one of field_names) in
** table t, or nil. */
static int field(lua_State *L, int t, const char *name) {
  t = lua_absindex(L, t);
  lua_pushstring(L, name);
  return lua_rawget(L, t);
}

/* What a value is, for messages: a float 1.5, text "x", a table. */
static void describe(lua_State *L, int i, char *buf, size_t size) {
  switch (lua_type(L, i)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, i)) {
      snprintf(buf, size, "%lld", (long long)lua_tointeger(L, i));
    } else {
      double d = lua_tonumber(L, i);
      if (isnan(d)) snprintf(buf, size, "NaN (not a number)");
      else snprintf(buf, size, "the float %.14g", d);
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, i, &len);
    snprintf(buf, size, "text \"%.*s%s\"", (int)(len > 40 ? 40 : strnlen(s, len)), s,
             len > 40 ? "..." : "");
    break;
  }
  case LUA_TNIL: snprintf(buf, size, "nothing"); break;
  default: snprintf(buf, size, "a %s", lua_typename(L, lua_type(L, i))); break;
  }
}

/* An integer field: 1 read, 0 absent, -1 bad (problem set). */
static int get_int(lua_State *L, int t, pt_action *a, const char *f, int64_t min,
                   int64_t max, const char *range, int64_t *out) {
  const char *act = pt_act_name(a->kind);
  int ty = field(L, t, f), r = 1;
  char what[96];
  if (ty == LUA_TNIL) {
    r = 0;
  } else if (ty == LUA_TNUMBER && lua_isinteger(L, -1)) {
    lua_Integer v = lua_tointeger(L, -1);
    if (v > RT_INT_MAX || v < -RT_INT_MAX) {
      problem(a, "%s: %s %lld is out of range (beyond 2^53)", act, f, (long long)v);
      r = -1;
    } else if (v < min || v > max) {
      problem(a, "%s: %s must be %s, got %lld", act, f, range, (long long)v);
      r = -1;
    } else {
      *out = v;
    }
  } else {
    describe(L, -1, what, sizeof what);
    problem(a, "%s: %s must be an integer, got %s", act, f, what);
    r = -1;
  }
  lua_pop(L, 1);
  return r;
}

/* Checks text for a field: fits, no NUL, UTF-8. */
static bool text_ok(pt_action *a, const char *f, const char *v, size_t len, size_t max) {
  const char *act = pt_act_name(a->kind);
  if (len >= max) problem(a, "%s: %s is too long (%zu bytes, at most %zu)", act, f, len, max - 1);
  else if (memchr(v, 0, len)) problem(a, "%s: %s contains a NUL byte", act, f);
  else if (!utf8_ok((const unsigned char *)v, len)) problem(a, "%s: %s is not valid UTF-8", act, f);
  else return true;
  return false;
}

/* A text field: 1 read, 0 absent, -1 bad. */
static int get_text(lua_State *L, int t, pt_action *a, const char *f, char *out,
                    size_t size) {
  int ty = field(L, t, f), r = 1;
  if (ty == LUA_TNIL) {
    r = 0;
  } else if (ty != LUA_TSTRING) {
    char what[96];
    describe(L, -1, what, sizeof what);
    problem(a, "%s: %s must be text, got %s", pt_act_name(a->kind), f, what);
    r = -1;
  } else {
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (text_ok(a, f, v, len, size)) memcpy(out, v, len + 1);
    else r = -1;
  }
  lua_pop(L, 1);
  return r;
}

static int get_skus(lua_State *L, int t, pt_action *a) {
  int top = lua_gettop(L), ty = field(L, t, "skus"), r = 1;
  if (ty == LUA_TNIL) {
    r = 0;
  } else if (ty != LUA_TTABLE) {
    char what[96];
    describe(L, -1, what, sizeof what);
    problem(a, "discount: skus must be a list of skus, got %s", what);
    r = -1;
  } else {
    int list = lua_gettop(L);
    if (pt_view_backing(L, list)) list = lua_gettop(L);
    size_t n = lua_rawlen(L, list);
    if (n == 0) {
      problem(a, "discount: skus is an empty list (leave skus out to discount every line)");
      r = -1;
    } else if (n > PT_ACT_SKUS) {
      problem(a, "discount: skus lists %zu skus, at most %d", n, PT_ACT_SKUS);
      r = -1;
    }
    for (size_t i = 0; r > 0 && i < n; i++) {
      if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TSTRING) {
        char what[96], f[32];
        describe(L, -1, what, sizeof what);
        snprintf(f, sizeof f, "skus[%zu]", i + 1);
        problem(a, "discount: %s must be a sku (text), got %s", f, what);
        r = -1;
      } else {
        size_t len;
        const char *v = lua_tolstring(L, -1, &len);
        if (len == 0) {
          problem(a, "discount: skus[%zu] is empty", i + 1);
          r = -1;
        } else if (text_ok(a, "skus", v, len, PT_NAME_MAX)) {
          memcpy(a->skus[i], v, len + 1);
        } else {
          r = -1;
        }
      }
      lua_pop(L, 1);
    }
    if (r > 0) a->nskus = n;
  }
  lua_settop(L, top);
  return r;
}

static const char *const act_fields[PT_ACT__COUNT][5] = {
    {"cents", "bp", "skus", "reason", NULL}, /* discount */
    {"sku", "qty", "reason", NULL},          /* free_item */
    {"sku", "reason", NULL},                 /* suggest */
    {"points", "reason", NULL},              /* bonus_points */
    {"text", NULL},                          /* message */
    {"cents", "reason", NULL},               /* shipping */
};

static bool known_field(int kind, const char *k) {
  if (strcmp(k, "action") == 0 || strcmp(k, "invalid") == 0) return true;
  for (const char *const *f = act_fields[kind]; *f; f++)
    if (strcmp(*f, k) == 0) return true;
  return false;
}

/* Decodes action number i (1-based) at idx into a. */
static void decode_action(lua_State *L, int idx, size_t i, pt_action *a) {
  int top = lua_gettop(L);
  char what[96];
  /* the scalars and the first byte of each text: the arrays (3 KB) are
  ** read only as far as they are written (nskus, NUL), so zeroing them
  ** would be most of the cost of reading a suggestion */
  memset(a, 0, offsetof(pt_action, sku));
  a->sku[0] = a->text[0] = a->problem[0] = 0;
  a->nskus = 0;
  a->kind = PT_ACT_INVALID;
  a->qty = 1;
  if (lua_type(L, idx) != LUA_TTABLE) {
    describe(L, idx, what, sizeof what);
    problem(a, "action %zu is %s, not an action (write discount { ... }, suggest { ... }, ...)",
            i, what);
    goto done;
  }
  if (pt_view_backing(L, idx)) idx = lua_gettop(L);
  if (field(L, idx, "action") != LUA_TSTRING) {
    problem(a, "action %zu is a table without an action name (write discount { ... }, "
               "suggest { ... }, ...)", i);
    goto done;
  }
  const char *name = lua_tostring(L, -1);
  int kind = PT_ACT_INVALID;
  for (int k = 0; k < PT_ACT__COUNT; k++)
    if (strcmp(name, act_names[k]) == 0) kind = k;
  if (kind == PT_ACT_INVALID) {
    problem(a, "unknown action '%.40s' (actions: discount, free_item, suggest, "
               "bonus_points, message, shipping)", name);
    goto done;
  }
  lua_pop(L, 1);
  a->kind = kind;
  if (field(L, idx, "invalid") == LUA_TSTRING) { /* the constructor got no table */
    problem(a, "%s", lua_tostring(L, -1));
    goto done;
  }
  lua_pop(L, 1);
  /* the fields: names only, each the action's own, the first wrong one
  ** in byte order (the table's own order is not stable) */
  int nkeys = 0;
  char bad[PT_NAME_MAX] = "";
  bool unnamed = false;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (++nkeys > 16) {
      lua_pop(L, 1);
      break;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
      unnamed = true;
    } else {
      const char *k = lua_tostring(L, -1);
      if (!known_field(kind, k) && (!bad[0] || strcmp(k, bad) < 0))
        snprintf(bad, sizeof bad, "%s", k);
    }
  }
  if (nkeys > 16) {
    problem(a, "%s: more than 16 fields", name);
    goto done;
  }
  if (unnamed) {
    problem(a, "%s: a value without a name (write %s { field = value, ... })", name, name);
    goto done;
  }
  if (bad[0]) {
    problem(a, "%s: unknown field '%s'", name, bad);
    goto done;
  }
  const int64_t MAXI = RT_INT_MAX;
  int r;
  switch (kind) {
  case PT_ACT_DISCOUNT: {
    int rc = get_int(L, idx, a, "cents", 1, MAXI, "a positive number of cents", &a->cents);
    int rb = rc < 0 ? -1 : get_int(L, idx, a, "bp", 1, 10000, "1..10000", &a->bp);
    if (rc < 0 || rb < 0) goto done;
    if (rc == 0 && rb == 0) {
      problem(a, "discount: needs cents = N or bp = N");
      goto done;
    }
    if (rc > 0 && rb > 0) {
      problem(a, "discount: give cents or bp, not both");
      goto done;
    }
    a->has_cents = rc > 0;
    a->has_bp = rb > 0;
    if (get_skus(L, idx, a) < 0) goto done;
    break;
  }
  case PT_ACT_FREE_ITEM:
  case PT_ACT_SUGGEST:
    if ((r = get_text(L, idx, a, "sku", a->sku, sizeof a->sku)) < 0) goto done;
    if (r == 0 || !a->sku[0]) {
      problem(a, "%s: needs sku = \"...\"", name);
      goto done;
    }
    if (kind == PT_ACT_FREE_ITEM &&
        get_int(L, idx, a, "qty", 1, PT_MAX_QTY, "1..1000000", &a->qty) < 0)
      goto done;
    break;
  case PT_ACT_BONUS:
    if ((r = get_int(L, idx, a, "points", 1, MAXI,
                     "positive (a plugin cannot take points away)", &a->points)) < 0)
      goto done;
    if (r == 0) {
      problem(a, "bonus_points: needs points = N");
      goto done;
    }
    break;
  case PT_ACT_MESSAGE:
    if ((r = get_text(L, idx, a, "text", a->text, sizeof a->text)) < 0) goto done;
    if (r == 0 || !a->text[0]) {
      problem(a, "message: needs text = \"...\"");
      goto done;
    }
    goto done;
  case PT_ACT_SHIPPING:
    if ((r = get_int(L, idx, a, "cents", 0, MAXI, "0 or more", &a->cents)) < 0) goto done;
    if (r == 0) {
      problem(a, "shipping: needs cents = N (0 for free shipping)");
      goto done;
    }
    a->has_cents = true;
    break;
  default:
    break;
  }
  if (a->kind != PT_ACT_INVALID) get_text(L, idx, a, "reason", a->text, sizeof a->text);
done:
  lua_settop(L, top);
}

/* Decodes what a hook returned (at idx) into c. */
int pt_action_decode(pt_script *s, lua_State *L, int idx, pt_call *c) {
  const char *hook = hook_names[c->hook];
  char what[96];
  if (!lua_checkstack(L, 24)) {
    pt_script_fail(c, "too deeply nested to read its actions");
    return PATRON_OK;
  }
  int t = lua_type(L, idx);
  if (t == LUA_TNIL) return PATRON_OK;
  if (t != LUA_TTABLE) {
    describe(L, idx, what, sizeof what);
    pt_script_fail(c, "%s: %s returned %s; a hook returns a list of actions, like "
            "{ suggest { ... } }", s->plugins[c->plugin].chunk + 1, hook, what);
    return PATRON_OK;
  }
  if (pt_view_backing(L, idx)) idx = lua_gettop(L);
  size_t n = lua_rawlen(L, idx);
  bool single = false;
  if (n == 0) { /* one action returned without the list around it */
    single = field(L, idx, "action") != LUA_TNIL;
    lua_pop(L, 1);
  }
  size_t use = single ? 1 : n > PT_ACT_MAX ? PT_ACT_MAX : n;
  c->ignored = single ? 0 : n - use;
  if (use == 0) return PATRON_OK;
  if (!(c->actions = malloc(use * sizeof *c->actions))) /* decode_action sets them */
    return pt_err(s->p, PATRON_NOMEM, "out of memory");
  for (size_t i = 0; i < use; i++) {
    if (single) {
      decode_action(L, idx, 1, &c->actions[i]);
    } else {
      lua_rawgeti(L, idx, (lua_Integer)i + 1);
      decode_action(L, lua_gettop(L), i + 1, &c->actions[i]);
      lua_pop(L, 1);
    }
  }
  c->nactions = use;
  return PATRON_OK;
}

