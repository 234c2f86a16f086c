/*
** script_match.c -- Lua pattern matching for the rule sandbox:
** string.find, string.match, string.gmatch and string.gsub with the
** semantics of Lua 5.4's string library (the same patterns, captures,
** anchors, %b, %f, back references and replacement rules), implemented
** here so that the matcher counts its steps. The standard matcher
** backtracks inside one C call, where no instruction hook fires:
** ("a"):rep(60):find("a-a-a-a-a-a-a-b") runs for minutes. Here every
** match step is charged to the running hook call's instruction budget
** (pt_script_charge, script.c), which stops it like any loop. Plain finds
** use memmem (linear) and are charged one step per 64 bytes searched.
**
** Nothing here holds memory outside Lua across a call that can raise: the
** match state lives on the C stack and gsub builds its result in a
** luaL_Buffer.
*/
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "script.h"

#define ESC '%'
#define SPECIALS "^$*+?.([%-"
#define MAX_CAPTURES 32
#define MAX_DEPTH 200          /* recursion of the matcher (C stack) */
#define CHARGE_EVERY 256       /* steps between charges */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)

typedef struct mstate {
  const char *src, *src_end;   /* the subject */
  const char *pat_end;
  lua_State *L;
  int depth;                   /* recursion left */
  int level;                   /* captures open or closed so far */
  int64_t steps;               /* not yet charged */
  struct {
    const char *init;
    ptrdiff_t len;             /* or CAP_UNFINISHED, CAP_POSITION */
  } cap[MAX_CAPTURES];
} mstate;

static void step(mstate *ms) {
  if (++ms->steps >= CHARGE_EVERY) {
    int64_t n = ms->steps;
    ms->steps = 0;
    pt_script_charge(ms->L, n);
  }
}

static void settle(mstate *ms) {
  int64_t n = ms->steps;
  ms->steps = 0;
  if (n) pt_script_charge(ms->L, n);
}

static const char *match(mstate *ms, const char *s, const char *p);

/* Position argument relative to a string of len bytes, for init. */
static size_t start_pos(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0) return 1;
  if (pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

/* The end of the single-character class that starts at p. */
static const char *class_end(mstate *ms, const char *p) {
  switch (*p++) {
  case ESC:
    if (p == ms->pat_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
    return p + 1;
  case '[':
    if (*p == '^') p++;
    do { /* the first character may be a ']' */
      if (p == ms->pat_end) luaL_error(ms->L, "malformed pattern (missing ']')");
      if (*(p++) == ESC && p < ms->pat_end) p++;
    } while (*p != ']');
    return p + 1;
  default:
    return p;
  }
}

static int class_has(int c, int cl) {
  int r;
  switch (tolower(cl)) {
  case 'a': r = isalpha(c); break;
  case 'c': r = iscntrl(c); break;
  case 'd': r = isdigit(c); break;
  case 'g': r = isgraph(c); break;
  case 'l': r = islower(c); break;
  case 'p': r = ispunct(c); break;
  case 's': r = isspace(c); break;
  case 'u': r = isupper(c); break;
  case 'w': r = isalnum(c); break;
  case 'x': r = isxdigit(c); break;
  default: return cl == c;
  }
  return isupper(cl) ? !r : r != 0;
}

/* c in the set [..] from p (at '[') to ec (at ']')? */
static int set_has(int c, const char *p, const char *ec) {
  int yes = 1;
  if (*(p + 1) == '^') {
    yes = 0;
    p++;
  }
  while (++p < ec) {
    if (*p == ESC) {
      p++;
      if (class_has(c, (unsigned char)*p)) return yes;
    } else if (*(p + 1) == '-' && p + 2 < ec) {
      p += 2;
      if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return yes;
    } else if ((unsigned char)*p == c) {
      return yes;
    }
  }
  return !yes;
}

static int single(mstate *ms, const char *s, const char *p, const char *ep) {
  if (s >= ms->src_end) return 0;
  int c = (unsigned char)*s;
  switch (*p) {
  case '.': return 1;
  case ESC: return class_has(c, (unsigned char)*(p + 1));
  case '[': return set_has(c, p, ep - 1);
  default: return (unsigned char)*p == c;
  }
}

static const char *balance(mstate *ms, const char *s, const char *p) {
  if (p >= ms->pat_end - 1)
    luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->src_end || *s != *p) return NULL;
  int open = *p, close = *(p + 1), depth = 1;
  while (++s < ms->src_end) {
    step(ms);
    if (*s == close) {
      if (--depth == 0) return s + 1;
    } else if (*s == open) {
      depth++;
    }
  }
  return NULL;
}

static const char *max_expand(mstate *ms, const char *s, const char *p,
                              const char *ep) {
  ptrdiff_t i = 0;
  while (single(ms, s + i, p, ep)) {
    i++;
    step(ms);
  }
  for (; i >= 0; i--) { /* longest first */
    const char *r = match(ms, s + i, ep + 1);
    if (r) return r;
  }
  return NULL;
}

static const char *min_expand(mstate *ms, const char *s, const char *p,
                              const char *ep) {
  for (;;) {
    const char *r = match(ms, s, ep + 1);
    if (r) return r;
    if (!single(ms, s, p, ep)) return NULL;
    s++;
  }
}

static const char *open_capture(mstate *ms, const char *s, const char *p,
                                ptrdiff_t what) {
  int level = ms->level;
  if (level >= MAX_CAPTURES) luaL_error(ms->L, "too many captures");
  ms->cap[level].init = s;
  ms->cap[level].len = what;
  ms->level = level + 1;
  const char *r = match(ms, s, p);
  if (!r) ms->level--;
  return r;
}

static const char *close_capture(mstate *ms, const char *s, const char *p) {
  int l = ms->level - 1;
  while (l >= 0 && ms->cap[l].len != CAP_UNFINISHED) l--;
  if (l < 0) luaL_error(ms->L, "invalid pattern capture");
  ms->cap[l].len = s - ms->cap[l].init;
  const char *r = match(ms, s, p);
  if (!r) ms->cap[l].len = CAP_UNFINISHED;
  return r;
}

static int capture_index(mstate *ms, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_UNFINISHED)
    return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  return l;
}

static const char *back_reference(mstate *ms, const char *s, int digit) {
  int l = capture_index(ms, digit);
  size_t len = (size_t)ms->cap[l].len; /* a position capture never matches */
  if ((size_t)(ms->src_end - s) >= len && memcmp(ms->cap[l].init, s, len) == 0) {
    ms->steps += (int64_t)(len / 64);
    return s + len;
  }
  return NULL;
}

/* The matcher: the end of the match of pattern p at s, or NULL. */
static const char *match(mstate *ms, const char *s, const char *p) {
  if (ms->depth-- == 0) luaL_error(ms->L, "pattern too complex");
  step(ms);
  while (p != ms->pat_end) {
    switch (*p) {
    case '(':
      s = *(p + 1) == ')' ? open_capture(ms, s, p + 2, CAP_POSITION)
                          : open_capture(ms, s, p + 1, CAP_UNFINISHED);
      goto out;
    case ')':
      s = close_capture(ms, s, p + 1);
      goto out;
    case '$':
      if (p + 1 != ms->pat_end) goto single_item;
      s = s == ms->src_end ? s : NULL;
      goto out;
    case ESC:
      switch (*(p + 1)) {
      case 'b':
        s = balance(ms, s, p + 2);
        if (!s) goto out;
        p += 4;
        continue;
      case 'f': {
        p += 2;
        if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
        const char *ep = class_end(ms, p);
        int prev = s == ms->src ? '\0' : (unsigned char)*(s - 1);
        int cur = s < ms->src_end ? (unsigned char)*s : '\0';
        if (!set_has(prev, p, ep - 1) && set_has(cur, p, ep - 1)) {
          p = ep;
          continue;
        }
        s = NULL;
        goto out;
      }
      case '0': case '1': case '2': case '3': case '4':
      case '5': case '6': case '7': case '8': case '9':
        s = back_reference(ms, s, (unsigned char)*(p + 1));
        if (!s) goto out;
        p += 2;
        continue;
      default:
        goto single_item;
      }
    default:
    single_item: {
      const char *ep = class_end(ms, p);
      if (!single(ms, s, p, ep)) {
        if (*ep == '*' || *ep == '?' || *ep == '-') { /* may match empty */
          p = ep + 1;
          continue;
        }
        s = NULL;
        goto out;
      }
      switch (*ep) {
      case '?': {
        const char *r = match(ms, s + 1, ep + 1);
        if (r) {
          s = r;
          goto out;
        }
        p = ep + 1;
        continue;
      }
      case '+': s = max_expand(ms, s + 1, p, ep); goto out;
      case '*': s = max_expand(ms, s, p, ep); goto out;
      case '-': s = min_expand(ms, s, p, ep); goto out;
      default:
        s++;
        p = ep;
        continue;
      }
    }
    }
  }
out:
  ms->depth++;
  return s;
}

static void reset(mstate *ms) {
  ms->level = 0;
  ms->depth = MAX_DEPTH;
}

static void prepare(mstate *ms, lua_State *L, const char *s, size_t ls,
                    const char *p, size_t lp) {
  ms->L = L;
  ms->src = s;
  ms->src_end = s + ls;
  ms->pat_end = p + lp;
  ms->steps = 0;
  reset(ms);
}

/* Capture i of a match from s to e: its text (*cap, length returned), or
** for a position capture pushes the position and returns CAP_POSITION. */
static ptrdiff_t capture(mstate *ms, int i, const char *s, const char *e,
                         const char **cap) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    *cap = s; /* no captures: the whole match */
    return e - s;
  }
  ptrdiff_t len = ms->cap[i].len;
  *cap = ms->cap[i].init;
  if (len == CAP_UNFINISHED) luaL_error(ms->L, "unfinished capture");
  if (len == CAP_POSITION)
    lua_pushinteger(ms->L, (lua_Integer)(ms->cap[i].init - ms->src) + 1);
  return len;
}

/* [-0, +1] */
static void push_capture(mstate *ms, int i, const char *s, const char *e) {
  const char *cap;
  ptrdiff_t len = capture(ms, i, s, e, &cap);
  if (len != CAP_POSITION) lua_pushlstring(ms->L, cap, (size_t)len);
}

/* [-0, +n] the captures (or the whole match when s is given and there are
** none); returns n. */
static int push_captures(mstate *ms, const char *s, const char *e) {
  int n = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(ms, i, s, e);
  return n;
}

static bool no_specials(const char *p, size_t lp) {
  for (size_t i = 0; i < lp; i++)
    if (p[i] && strchr(SPECIALS, p[i])) return false;
  return true;
}

/* find and match [-(2|3|4), +?] */
static int find_or_match(lua_State *L, bool find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
    pt_script_charge(L, (int64_t)((ls - init) / 64) + 1);
    const char *at = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
    if (at) {
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(at - s + (ptrdiff_t)lp));
      return 2;
    }
    luaL_pushfail(L);
    return 1;
  }
  mstate ms;
  const char *s1 = s + init;
  bool anchor = *p == '^';
  if (anchor) {
    p++;
    lp--;
  }
  prepare(&ms, L, s, ls, p, lp);
  do {
    reset(&ms);
    const char *e = match(&ms, s1, p);
    if (e) {
      settle(&ms);
      if (find) {
        lua_pushinteger(L, (lua_Integer)(s1 - s) + 1);
        lua_pushinteger(L, (lua_Integer)(e - s));
        return push_captures(&ms, NULL, NULL) + 2;
      }
      return push_captures(&ms, s1, e);
    }
  } while (s1++ < ms.src_end && !anchor);
  settle(&ms);
  luaL_pushfail(L);
  return 1;
}

static int m_find(lua_State *L) { return find_or_match(L, true); }
static int m_match(lua_State *L) { return find_or_match(L, false); }

typedef struct gmatch_state {
  const char *src;        /* where the next search starts */
  const char *p;
  const char *last;       /* end of the last match (no empty match there) */
  mstate ms;
} gmatch_state;

static int gmatch_next(lua_State *L) {
  gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
  g->ms.L = L;
  for (const char *src = g->src; src <= g->ms.src_end; src++) {
    reset(&g->ms);
    const char *e = match(&g->ms, src, g->p);
    if (e && e != g->last) {
      g->src = g->last = e;
      settle(&g->ms);
      return push_captures(&g->ms, src, e);
    }
  }
  settle(&g->ms);
  return 0;
}

/* gmatch(s, pattern [, init]) [-(2|3), +1] */
static int m_gmatch(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
  lua_settop(L, 2); /* the closure keeps both strings alive */
  gmatch_state *g = lua_newuserdatauv(L, sizeof *g, 0);
  if (init > ls) init = ls + 1;
  prepare(&g->ms, L, s, ls, p, lp);
  g->src = s + init;
  g->p = p;
  g->last = NULL;
  lua_pushcclosure(L, gmatch_next, 3);
  return 1;
}

/* A replacement string with %0-%9 and %% [-0, +0] (adds to b). */
static void add_string(mstate *ms, luaL_Buffer *b, const char *s, const char *e) {
  size_t l;
  lua_State *L = ms->L;
  const char *news = lua_tolstring(L, 3, &l);
  const char *p;
  while ((p = memchr(news, ESC, l)) != NULL) {
    luaL_addlstring(b, news, (size_t)(p - news));
    p++;
    if (*p == ESC) {
      luaL_addchar(b, *p);
    } else if (*p == '0') {
      luaL_addlstring(b, s, (size_t)(e - s));
    } else if (isdigit((unsigned char)*p)) {
      const char *cap;
      ptrdiff_t len = capture(ms, *p - '1', s, e, &cap);
      if (len == CAP_POSITION) luaL_addvalue(b);
      else luaL_addlstring(b, cap, (size_t)len);
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", ESC);
    }
    l -= (size_t)(p + 1 - news);
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

/* Adds the replacement of the match s..e; false when it kept the match. */
static bool add_value(mstate *ms, luaL_Buffer *b, const char *s, const char *e,
                      int tr) {
  lua_State *L = ms->L;
  switch (tr) {
  case LUA_TFUNCTION: {
    lua_pushvalue(L, 3);
    int n = push_captures(ms, s, e);
    lua_call(L, n, 1);
    break;
  }
  case LUA_TTABLE:
    push_capture(ms, 0, s, e);
    lua_gettable(L, 3);
    break;
  default:
    add_string(ms, b, s, e);
    return true;
  }
  if (!lua_toboolean(L, -1)) { /* nil or false: keep the original */
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return false;
  }
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return true;
}

/* gsub(s, pattern, repl [, n]) [-(3|4), +2] */
static int m_gsub(lua_State *L) {
  size_t ls, lp;
  const char *src = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  const char *last = NULL;
  int tr = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  bool anchor = *p == '^';
  lua_Integer n = 0;
  bool changed = false;
  mstate ms;
  luaL_Buffer b;
  luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING ||
                      tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                   3, "string/function/table");
  luaL_buffinit(L, &b);
  if (anchor) {
    p++;
    lp--;
  }
  prepare(&ms, L, src, ls, p, lp);
  while (n < max) {
    reset(&ms);
    const char *e = match(&ms, src, p);
    if (e && e != last) {
      n++;
      changed = add_value(&ms, &b, src, e, tr) || changed;
      src = last = e;
    } else if (src < ms.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  settle(&ms);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

void pt_match_install(lua_State *L, int idx) {
  static const luaL_Reg fns[] = {{"find", m_find},
                                 {"match", m_match},
                                 {"gmatch", m_gmatch},
                                 {"gsub", m_gsub},
                                 {NULL, NULL}};
  idx = lua_absindex(L, idx);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, idx, f->name);
  }
}
