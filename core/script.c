/*
** script.c -- the rule runtime: one sandboxed Lua 5.4 state per engine
** handle, holding the shop's plugins in configured order, each in its own
** environment; it builds the state, runs hooks under their limits and
** hands back their actions. The views hooks receive are script_view.c,
** reading the actions they return script_action.c, the pattern matcher
** script_match.c; what actions do to the quote is rules.c's business.
**
** The sandbox (see lua/RULES_API.md for the plugin's side):
**   - an allocator with a byte cap for the state (RT_BASE_BYTES plus the
**     sum of the plugins' memory_kb) and, during a hook call, a cap on the
**     call's growth (the plugin's memory_kb). A state that stays over 3/4
**     of its cap after a failed call is rebuilt (a plugin that hoards);
**   - an instruction budget per hook call through a count hook. When it
**     runs out a sticky kill flag is set and the hook re-armed at every
**     instruction, so a pcall in the plugin cannot swallow it; pcall,
**     xpcall and coroutine.resume are wrapped and re-raise a kill or a
**     memory error, and xpcall's handler never runs for a kill (Lua would
**     run it with hooks off). Allocations are charged too (one instruction
**     per 64 bytes) and a wall-clock backstop (RT_WALL_NS) stops C calls
**     that are slow per instruction (comparing huge strings in a loop);
**   - only safe base functions and the string, table, math, utf8 and
**     coroutine libraries, copied per plugin; no io, os, debug, package,
**     require, dofile, loadfile, collectgarbage, print, string.dump;
**     `load` is text-only in the plugin's environment; setmetatable
**     refuses __gc, __close and __mode; the string metatable is locked;
**     pattern functions count their steps (script_match.c); string.rep,
**     table.insert/remove/move charge their size before looping; pairs
**     iterates in a deterministic order and math.random is seeded from
**     the cart, so a quote does not depend on the process.
**
** Every Lua API call that may raise runs under lua_pcall, and the stack
** top is reset on every exit; after a failed call a full collection gives
** a bomb's memory back at once.
*/
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "script_rt.h"

static int ref(lua_State *L) { return luaL_ref(L, LUA_REGISTRYINDEX); }

pt_script *pt_script_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- memory ---------------------------------------------------------------- */

/* Lua allocator with the state's cap and, in a hook call, the call's cap.
** When ptr is NULL, osize is a type tag, not a size. Shrinking never
** fails (Lua relies on it). */
static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  pt_script *s = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= old;
    return NULL;
  }
  if (nsize > old) {
    size_t grow = nsize - old;
    if (s->faulting || (s->fault > 0 && --s->fault == 0)) { /* pt_script_fault */
      s->faulting = true;
      return NULL;
    }
    size_t limit = s->in_call && s->call_cap < s->cap ? s->call_cap : s->cap;
    if (s->used > limit || grow > limit - s->used) return NULL;
    if (s->in_call) s->budget -= (int64_t)(grow >> RT_ALLOC_SHIFT);
  }
  void *np = realloc(ptr, nsize);
  if (!np) {
    if (nsize <= old) return ptr; /* a shrink that failed: keep the block */
    s->engine_rc = PATRON_NOMEM;  /* the system's memory, not the cap */
    return NULL;
  }
  s->used = s->used - old + nsize;
  return np;
}

/* ---- limits ---------------------------------------------------------------- */

/* The line of the innermost frame of the running plugin's file; 0 if none. */
static int plugin_line(lua_State *L, const char *chunk) {
  lua_Debug ar;
  if (!chunk) return 0;
  for (int level = 0; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar)) break;
    if (ar.currentline > 0 && strcmp(ar.source, chunk) == 0) return ar.currentline;
  }
  return 0;
}

static void rt_hook(lua_State *L, lua_Debug *ar);

/* Raises the (pre-made) kill error; the hook keeps raising at every
** instruction until the call ends. */
static int raise_kill(lua_State *L, pt_script *s) {
  lua_sethook(L, rt_hook, LUA_MASKCOUNT, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_kill); /* no allocation */
  return lua_error(L);
}

static void kill_call(lua_State *L, pt_script *s) {
  if (s->killed || s->mem_killed) return;
  s->killed = true;
  s->kill_line = plugin_line(L, s->chunk);
}

static void rt_hook(lua_State *L, lua_Debug *ar) {
  pt_script *s = pt_script_of(L);
  (void)ar;
  if (!s->killed && !s->mem_killed) {
    s->budget -= lua_gethookcount(L);
    if (s->budget > 0) {
      if (!s->in_call || now_ns() < s->deadline) return;
      s->timed_out = true;
    }
    kill_call(L, s);
  }
  raise_kill(L, s);
}

void pt_script_charge(lua_State *L, int64_t n) {
  pt_script *s = pt_script_of(L);
  if (!s->killed && !s->mem_killed) {
    s->budget -= n;
    if (s->budget > 0) return;
    kill_call(L, s);
  }
  raise_kill(L, s);
}

/* A memory error that must end the call even under the plugin's pcall. */
static int raise_memory(lua_State *L, pt_script *s) {
  if (!s->killed) s->mem_killed = true;
  return raise_kill(L, s);
}

static void limits_begin(pt_script *s, const pt_plugin_rt *pl) {
  s->killed = s->mem_killed = s->timed_out = false;
  s->kill_line = 0;
  s->budget = pl->instructions;
  s->every = pl->every;
  s->call_cap = pl->memory > SIZE_MAX - s->used ? SIZE_MAX : s->used + pl->memory;
  s->deadline = now_ns() + RT_WALL_NS;
  s->chunk = pl->chunk;
  s->in_call = true;
  lua_sethook(s->L, rt_hook, LUA_MASKCOUNT, s->every);
}

/* Between calls our own Lua (the prelude) runs under a generous budget. */
static void limits_end(pt_script *s) {
  s->in_call = false;
  s->chunk = NULL;
  s->every = RT_HOOK_EVERY;
  s->budget = RT_OWN_BUDGET;
  lua_sethook(s->L, rt_hook, LUA_MASKCOUNT, RT_HOOK_EVERY);
}

/* The message handler of hook calls [-1, +1]: gives every error a
** "file:line: " of the plugin (errors raised in C functions or the
** prelude have none) and describes error values that are not strings. */
static int rt_msgh(lua_State *L) {
  pt_script *s = pt_script_of(L);
  if (s->killed || s->mem_killed || !s->chunk) return 1;
  const char *file = s->chunk + 1;
  size_t flen = strlen(file);
  int line = plugin_line(L, s->chunk);
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *m = lua_tostring(L, 1);
    if (strncmp(m, file, flen) == 0 && m[flen] == ':') return 1;
    if (strncmp(m, "lua/prelude.lua:", 16) == 0) { /* point at the plugin */
      const char *rest = strstr(m, ": ");
      if (rest) m = rest + 2;
    }
    if (line > 0) lua_pushfstring(L, "%s:%d: %s", file, line, m);
    else lua_pushfstring(L, "%s: %s", file, m);
    return 1;
  }
  const char *tn = luaL_typename(L, 1);
  if (line > 0) lua_pushfstring(L, "%s:%d: error with a %s value", file, line, tn);
  else lua_pushfstring(L, "%s: error with a %s value", file, tn);
  return 1;
}

/* ---- sandboxed functions ------------------------------------------------------ */

/* pcall/xpcall continuation: a kill or a memory error goes on up. */
static int pcall_done(lua_State *L, int status, lua_KContext extra) {
  pt_script *s = pt_script_of(L);
  if (status == LUA_ERRMEM) s->mem_killed = !s->killed;
  if (s->killed || s->mem_killed) return raise_kill(L, s);
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

/* pcall(f, ...) */
static int sb_random(lua_State *L);

static int sb_pcall(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1); /* first result if no errors */
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, pcall_done);
  return pcall_done(L, status, 0);
}

/* The plugin's message handler, called only for ordinary errors: a kill
** is raised from inside the count hook, where Lua runs the handler with
** hooks off, so the handler could loop for ever. upvalue 1: the handler */
static int xpcall_handler(lua_State *L) {
  pt_script *s = pt_script_of(L);
  if (s->killed || s->mem_killed) return 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* xpcall(f, msgh, ...) */
static int sb_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, xpcall_handler, 1);
  lua_replace(L, 2);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* msgh, true, f, args... */
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, pcall_done);
  return pcall_done(L, status, 2);
}

/* setmetatable(t, mt): no finalizers, to-be-closed or weak tables. */
static int sb_setmetatable(lua_State *L) {
  static const char *const banned[] = {"__gc", "__close", "__mode"};
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
      lua_pushstring(L, banned[i]);
      int has = lua_rawget(L, 2) != LUA_TNIL;
      lua_pop(L, 1);
      if (has)
        return luaL_error(L, "setmetatable: metatables with %s are not allowed in rules",
                          banned[i]);
    }
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

/* load(text [, name [, mode [, env]]]): source text only; the function's
** _ENV is env or the calling plugin's environment (upvalue 1). */
static int sb_load(lua_State *L) {
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "load: only source text (a string) is accepted in rules");
  const char *src = lua_tolstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "=(load)");
  const char *mode = luaL_optstring(L, 3, "t");
  if (!strchr(mode, 't'))
    return luaL_error(L, "load: only text chunks are allowed in rules (mode \"t\")");
  int st = luaL_loadbufferx(L, src, len, name, "t");
  if (st == LUA_ERRMEM) return raise_memory(L, pt_script_of(L));
  if (st != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushvalue(L, lua_isnone(L, 4) ? lua_upvalueindex(1) : 4);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return 1;
}

/* string.rep(s, n [, sep]): the result must fit the memory left. */
static int sb_rep(lua_State *L) {
  size_t l, lsep;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || l + lsep == 0) { /* also the endless copy of nothing */
    lua_pushliteral(L, "");
    return 1;
  }
  pt_script *s = pt_script_of(L);
  uint64_t per = (uint64_t)l + lsep, total;
  if (__builtin_mul_overflow(per, (uint64_t)n, &total)) total = UINT64_MAX;
  else total -= lsep;
  size_t limit = s->in_call && s->call_cap < s->cap ? s->call_cap : s->cap;
  size_t room = limit > s->used ? limit - s->used : 0;
  if (total >= room) return raise_memory(L, s); /* (the allocation is charged) */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* table.insert(t, [pos,] v), charging the shift before it runs. */
static int sb_tinsert(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer e = luaL_len(L, 1) + 1, pos;
  switch (lua_gettop(L)) {
  case 2:
    pos = e;
    break;
  case 3:
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
                  "position out of bounds");
    pt_script_charge(L, e - pos);
    for (lua_Integer i = e; i > pos; i--) {
      lua_geti(L, 1, i - 1);
      lua_seti(L, 1, i);
    }
    break;
  default:
    return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

/* table.remove(t [, pos]) */
static int sb_tremove(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer size = luaL_len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size)
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2,
                  "position out of bounds");
  lua_geti(L, 1, pos);
  if (size > pos) pt_script_charge(L, size - pos);
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

/* table.move(a1, f, e, t [, a2]) */
static int sb_tmove(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, tt, LUA_TTABLE);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    pt_script_charge(L, n);
    if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
      for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    } else {
      for (lua_Integer i = n - 1; i >= 0; i--) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

/* ---- deterministic pairs ----------------------------------------------------- */

static int key_rank(lua_State *L, int i) {
  switch (lua_type(L, i)) {
  case LUA_TNUMBER: return 0;
  case LUA_TSTRING: return 1;
  case LUA_TBOOLEAN: return 2;
  default: return 3;
  }
}

/* The order of keys: numbers ascending, then text bytewise, then false,
** true, then the rest (whose order Lua does not let us fix). */
static int key_less(lua_State *L) {
  int ra = key_rank(L, 1), rb = key_rank(L, 2);
  bool lt;
  if (ra != rb) {
    lt = ra < rb;
  } else if (ra == 0) {
    lt = lua_compare(L, 1, 2, LUA_OPLT);
  } else if (ra == 1) {
    size_t la, lb;
    const char *a = lua_tolstring(L, 1, &la), *b = lua_tolstring(L, 2, &lb);
    int c = memcmp(a, b, la < lb ? la : lb);
    lt = c < 0 || (c == 0 && la < lb);
  } else if (ra == 2) {
    lt = !lua_toboolean(L, 1) && lua_toboolean(L, 2);
  } else {
    lt = false;
  }
  lua_pushboolean(L, lt);
  return 1;
}

/* upvalues: 1 the table, 2 its sorted keys, 3 the next position */
static int sorted_next(lua_State *L) {
  lua_Integer i = lua_tointeger(L, lua_upvalueindex(3));
  for (;;) {
    if (lua_rawgeti(L, lua_upvalueindex(2), i) == LUA_TNIL) return 1;
    i++;
    lua_pushvalue(L, -1);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
      lua_pushinteger(L, i);
      lua_replace(L, lua_upvalueindex(3));
      return 2;
    }
    lua_pop(L, 2); /* removed while iterating */
  }
}

/* [-0, +1] an iterator over the raw table at idx in key order. */
void pt_script_sorted_iter(lua_State *L, pt_script *s, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushvalue(L, idx);
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++n);
  }
  pt_script_charge(L, n);
  if (n > 1) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_sort);
    lua_pushvalue(L, keys);
    lua_pushcfunction(L, key_less);
    lua_call(L, 2, 0);
  }
  lua_pushinteger(L, 1);
  lua_pushcclosure(L, sorted_next, 3);
}

/* pairs(t): __pairs if any, else the keys in a fixed order (the order of
** next depends on string hashes, which Lua seeds per state). */
static int sb_pairs(lua_State *L) {
  luaL_checkany(L, 1);
  if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 3);
    return 3;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  pt_script_sorted_iter(L, pt_script_of(L), 1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* ---- coroutines: every thread gets the count hook ------------------------------ */

static int sb_cocreate(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  pt_script *s = pt_script_of(L);
  lua_State *co = lua_newthread(L);
  lua_sethook(co, rt_hook, LUA_MASKCOUNT, s->killed || s->mem_killed ? 1 : s->every);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  return 1;
}

/* Resumes co with narg values from L; returns the number of results moved
** to L, or -1 with the error value on L. A kill or a memory error inside
** the coroutine goes on up. */
static int resume(lua_State *L, lua_State *co, int narg) {
  pt_script *s = pt_script_of(L);
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) {
    lua_pushliteral(L, "cannot resume dead coroutine");
    return -1;
  }
  lua_xmove(L, co, narg);
  lua_sethook(co, rt_hook, LUA_MASKCOUNT, s->killed || s->mem_killed ? 1 : s->every);
  int nres;
  int status = lua_resume(co, L, narg, &nres);
  if (status == LUA_ERRMEM && !s->killed) s->mem_killed = true;
  if (s->killed || s->mem_killed) {
    lua_settop(co, 0);
    return raise_kill(L, s);
  }
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushliteral(L, "too many results to resume");
      return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  lua_xmove(co, L, 1);
  return -1;
}

static int sb_coresume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  int r = resume(L, co, lua_gettop(L) - 1);
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -(r + 1));
  return r + 1;
}

static int wrapped_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int r = resume(L, co, lua_gettop(L));
  if (r < 0) {
    if (lua_type(L, -1) == LUA_TSTRING) { /* add where the call was */
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
  return r;
}

static int sb_cowrap(lua_State *L) {
  sb_cocreate(L);
  lua_pushcclosure(L, wrapped_resume, 1);
  return 1;
}

/* ---- building the state ------------------------------------------------------------- */

/* [-1, +1] replaces the table on top with a shallow copy. */
static void copy_top(lua_State *L) {
  int src = lua_gettop(L);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, src);
}


/* The sandbox and the prelude, under lua_pcall [-2, +0]. */
static int build_main(lua_State *L) {
  pt_script *s = lua_touserdata(L, 1);
  const pt_config *cfg = lua_touserdata(L, 2);
  lua_settop(L, 0);
  static const luaL_Reg libs[] = {
      {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
      {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  /* string: counted patterns, bounded rep, no dump, metatable locked */
  lua_getglobal(L, LUA_STRLIBNAME);
  int str = lua_gettop(L);
  pt_match_install(L, str);
  lua_getfield(L, str, "rep");
  lua_pushcclosure(L, sb_rep, 1);
  lua_setfield(L, str, "rep");
  lua_pushnil(L);
  lua_setfield(L, str, "dump");
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable"); /* getmetatable("") is false */
  lua_pop(L, 2);
  /* what the runtime keeps for itself */
  lua_pushliteral(L, "instruction budget exceeded");
  s->r_kill = ref(L);
  lua_getglobal(L, LUA_TABLIBNAME);
  lua_getfield(L, -1, "sort");
  s->r_sort = ref(L);
  lua_pop(L, 1);
  lua_getglobal(L, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  s->r_randomseed = ref(L);
  lua_getfield(L, -1, "random");
  s->r_random = ref(L);
  lua_pop(L, 1);
  lua_createtable(L, 4, 0); /* its slots live in the array part */
  s->r_eval = ref(L);
  lua_newtable(L);
  s->r_programs = ref(L);
  lua_newtable(L);
  s->r_shipping = ref(L);
  lua_pushliteral(L, "tags");
  pt_view_open(L, 0, 0, 0);
  lua_pop(L, 1);
  s->r_no_tags = ref(L);
  /* what plugins get, handed to the prelude */
  lua_createtable(L, 0, 2);
  int host = lua_gettop(L);
  lua_createtable(L, 0, 20);
  static const char *const keep[] = {"assert",   "error",  "getmetatable", "ipairs",
                                     "next",     "rawequal", "rawget",     "rawlen",
                                     "select",   "tonumber", "tostring",   "type",
                                     "_VERSION", NULL};
  for (const char *const *k = keep; *k; k++) {
    lua_getglobal(L, *k);
    lua_setfield(L, -2, *k);
  }
  static const luaL_Reg base[] = {{"pairs", sb_pairs},
                                  {"pcall", sb_pcall},
                                  {"xpcall", sb_xpcall},
                                  {"setmetatable", sb_setmetatable},
                                  {NULL, NULL}};
  luaL_setfuncs(L, base, 0);
  lua_setfield(L, host, "base");
  lua_createtable(L, 0, 5);
  int lib = lua_gettop(L);
  lua_pushvalue(L, str);
  lua_setfield(L, lib, "string");
  static const luaL_Reg tab[] = {{"insert", sb_tinsert},
                                 {"remove", sb_tremove},
                                 {"move", sb_tmove},
                                 {NULL, NULL}};
  lua_getglobal(L, LUA_TABLIBNAME);
  copy_top(L);
  luaL_setfuncs(L, tab, 0);
  lua_setfield(L, lib, "table");
  lua_getglobal(L, LUA_MATHLIBNAME);
  copy_top(L);
  lua_pushnil(L);
  lua_setfield(L, -2, "randomseed"); /* seeded from the cart per call */
  lua_pushcfunction(L, sb_random);
  lua_setfield(L, -2, "random");
  lua_setfield(L, lib, "math");
  lua_getglobal(L, LUA_UTF8LIBNAME);
  lua_setfield(L, lib, "utf8");
  static const luaL_Reg co[] = {{"create", sb_cocreate},
                                {"wrap", sb_cowrap},
                                {"resume", sb_coresume},
                                {NULL, NULL}};
  lua_getglobal(L, LUA_COLIBNAME);
  copy_top(L);
  luaL_setfuncs(L, co, 0);
  lua_setfield(L, lib, "coroutine");
  lua_setfield(L, host, "libs");
  /* the prelude: constructors, helpers, environments */
  const pt_embedded *e = pt_embedded_find("lua/prelude.lua");
  if (!e) return luaL_error(L, "lua/prelude.lua is not built in");
  if (luaL_loadbufferx(L, e->data, e->len, "=lua/prelude.lua", "t") != LUA_OK)
    return lua_error(L);
  lua_pushvalue(L, host);
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "cart_mt");
  s->r_cart_mt = ref(L);
  s->r_prelude = ref(L);
  /* views shared by every call */
  pt_view_catalog(L);
  s->r_catalog = ref(L);
  pt_action_pin(L);
  pt_view_plans(L, cfg);
  s->r_plans = ref(L);
  return 0;
}

/* Loads one plugin, under lua_pcall [-3, +0]: its environment, its
** params view, its file run once (within its limits) and its hooks. */
static int load_main(lua_State *L) {
  pt_script *s = lua_touserdata(L, 1);
  const pt_plugin_ref *g = lua_touserdata(L, 2);
  pt_plugin_rt *pl = lua_touserdata(L, 3);
  const char *file = pl->chunk + 1;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_prelude);
  lua_getfield(L, 1, "new_env");
  lua_pushstring(L, pl->name);
  lua_call(L, 1, 2); /* 1 M, 2 env, 3 seal */
  lua_pushliteral(L, "load");
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, sb_load, 1);
  lua_rawset(L, 2);
  lua_pushvalue(L, 2);
  pl->env = ref(L);
  lua_pushliteral(L, "ctx.params");
  if (g->params) {
    pt_view_json(L, g->params, 0, 0);
  } else {
    pt_view_open(L, 0, 0, 0);
    lua_pop(L, 1);
  }
  pl->params = ref(L);
  const char *src = g->source ? g->source : "";
  lua_pushcfunction(L, rt_msgh); /* 4 */
  if (luaL_loadbufferx(L, src, strlen(src), pl->chunk, "t") != LUA_OK)
    return lua_error(L); /* "plugins/x.lua:3: ..." */
  lua_pushvalue(L, 2);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1); /* the chunk's _ENV */
  limits_begin(s, pl);
  if (s->budget < RT_LOAD_BUDGET) s->budget = RT_LOAD_BUDGET; /* not a hook call */
  int st = lua_pcall(L, 0, 1, 4);
  bool killed = s->killed, mem = s->mem_killed || st == LUA_ERRMEM, timed = s->timed_out;
  int line = s->kill_line;
  limits_end(s);
  if (mem) return luaL_error(L, "memory cap exceeded (%d KiB) while loading %s",
                             (int)(pl->memory / 1024), file);
  if (killed) return luaL_error(L, "%s exceeded while loading, at %s:%d",
                                timed ? "time limit" : "instruction budget", file, line);
  if (st != LUA_OK) {
    if (lua_type(L, -1) == LUA_TSTRING) return lua_error(L);
    return luaL_error(L, "%s: error with a %s value", file, luaL_typename(L, -1));
  }
  lua_pushvalue(L, 3);
  lua_call(L, 0, 0); /* no new globals from now on */
  int rule = lua_gettop(L);
  if (!lua_istable(L, rule))
    return luaL_error(L, "%s: the file must return a table of hooks "
                         "(local rule = {} ... return rule), got %s",
                      file, luaL_typename(L, rule));
  for (int h = 0; h < PT_HOOK__COUNT; h++) {
    lua_pushstring(L, pt_hook_name(h));
    int t = lua_rawget(L, rule);
    if (t == LUA_TFUNCTION) {
      pl->hooks[h] = ref(L);
    } else if (t == LUA_TNIL) {
      lua_pop(L, 1);
    } else {
      return luaL_error(L, "%s: %s must be a function, got %s", file, pt_hook_name(h),
                        luaL_typename(L, -1));
    }
  }
  lua_pushvalue(L, rule);
  pl->rule = ref(L);
  return 0;
}

static char *dup_text(const char *t) { return pt_strdup(t ? t : "?"); }

/* Builds the state for cfg; a plugin that does not load is marked broken. */
static int rt_build(pt_script *s, const pt_config *cfg) {
  s->version = cfg->version;
  s->nplugins = cfg->nplugins;
  s->plugins = calloc(cfg->nplugins ? cfg->nplugins : 1, sizeof *s->plugins);
  if (!s->plugins) goto nomem;
  size_t cap = RT_BASE_BYTES;
  for (size_t i = 0; i < cfg->nplugins; i++) {
    const pt_plugin_ref *g = &cfg->plugins[i];
    pt_plugin_rt *pl = &s->plugins[i];
    snprintf(pl->name, sizeof pl->name, "%s", g->name);
    const char *path = g->path && *g->path ? g->path : g->name;
    if (!(pl->chunk = malloc(strlen(path) + 2))) goto nomem;
    pl->chunk[0] = '=';
    strcpy(pl->chunk + 1, path);
    for (int h = 0; h < PT_HOOK__COUNT; h++) pl->hooks[h] = LUA_NOREF;
    pl->env = pl->rule = pl->params = pl->ctx = LUA_NOREF;
    pl->instructions = g->instructions > 0 ? g->instructions : 1000000;
    pl->memory = g->memory_bytes > 0 ? (size_t)g->memory_bytes : (size_t)8 << 20;
    pl->every = pl->instructions < RT_HOOK_EVERY ? (int)pl->instructions : RT_HOOK_EVERY;
    cap = pl->memory > SIZE_MAX - cap ? SIZE_MAX : cap + pl->memory;
  }
  s->cap = cap;
  s->budget = RT_OWN_BUDGET;
  s->every = RT_HOOK_EVERY;
  s->cart_gen = s->customer_gen = s->history_gen = -1;
  if (!(s->L = lua_newstate(rt_alloc, s))) goto nomem;
  lua_State *L = s->L;
  lua_sethook(L, rt_hook, LUA_MASKCOUNT, RT_HOOK_EVERY);
  lua_pushcfunction(L, build_main);
  lua_pushlightuserdata(L, s);
  lua_pushlightuserdata(L, (void *)cfg);
  int st = lua_pcall(L, 2, 0, 0);
  if (st != LUA_OK) {
    snprintf(s->build_error, sizeof s->build_error, "%s",
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "out of memory");
    lua_settop(L, 0);
    return st == LUA_ERRMEM ? PATRON_NOMEM : PATRON_INTERNAL;
  }
  for (size_t i = 0; i < cfg->nplugins; i++) {
    pt_plugin_rt *pl = &s->plugins[i];
    s->budget = RT_OWN_BUDGET;
    lua_pushcfunction(L, load_main);
    lua_pushlightuserdata(L, s);
    lua_pushlightuserdata(L, (void *)&cfg->plugins[i]);
    lua_pushlightuserdata(L, pl);
    st = lua_pcall(L, 3, 0, 0);
    if (st != LUA_OK) {
      if (st == LUA_ERRMEM) {
        char m[160];
        snprintf(m, sizeof m, "memory cap exceeded while loading %s", pl->chunk + 1);
        pl->broken = dup_text(m);
      } else {
        pl->broken = dup_text(lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL);
      }
      if (!pl->broken) goto nomem;
      for (int h = 0; h < PT_HOOK__COUNT; h++) pl->hooks[h] = LUA_NOREF;
      lua_settop(L, 0);
      lua_gc(L, LUA_GCCOLLECT, 0);
    }
    lua_settop(L, 0);
  }
  limits_end(s);
  return PATRON_OK;
nomem:
  snprintf(s->build_error, sizeof s->build_error, "out of memory");
  return PATRON_NOMEM;
}

void pt_script_free(pt_script *s) {
  if (!s) return;
  if (s->L) lua_close(s->L); /* no finalizers: __gc is refused */
  for (size_t i = 0; s->plugins && i < s->nplugins; i++) {
    free(s->plugins[i].chunk);
    free(s->plugins[i].broken);
  }
  free(s->plugins);
  pt_script_catalog_free(s);
  json_decref(s->test_customer);
  json_decref(s->test_log);
  json_decref(s->test_actions);
  free(s);
}

int pt_script_get(patron *p, const pt_config *cfg, pt_script **out) {
  pt_script *s = p->script;
  *out = NULL;
  if (s && s->version == cfg->version && !s->stale) {
    *out = s;
    return PATRON_OK;
  }
  pt_script_free(s);
  p->script = NULL;
  if (!(s = calloc(1, sizeof *s))) return pt_err(p, PATRON_NOMEM, "out of memory");
  int rc = rt_build(s, cfg);
  if (rc) {
    pt_err(p, rc, "cannot start the rule runtime: %s", s->build_error);
    pt_script_free(s);
    return rc;
  }
  p->script = *out = s;
  return PATRON_OK;
}

/* ---- evaluations ------------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); }

void pt_script_begin(pt_script *s, patron *p, pt_quote *q) {
  s->p = p;
  s->q = q;
  s->gen++;
  s->cart_dirty = true;
  char t[32];
  patron_time_format(t, sizeof t, q->at);
  snprintf(s->today, sizeof s->today, "%.10s", t);
}

/* The seed of math.random for the running hook call: the cart's content
** (not its order id: a quote and its commit agree), the plugin and the
** hook. The cart's part is hashed once per evaluation, when a plugin first
** draws a number. */
static uint64_t call_seed(pt_script *s) {
  if (s->seed_gen != s->gen) {
    const pt_quote *q = s->q;
    const pt_cart *c = q->cart;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_str(h, q->prog->name);
    h = fnv_str(h, c->customer);
    h = fnv_str(h, c->region);
    h = fnv(h, &q->at, sizeof q->at);
    for (size_t i = 0; i < c->nlines; i++) {
      h = fnv_str(h, c->lines[i].sku);
      h = fnv(h, &c->lines[i].qty, sizeof c->lines[i].qty);
      h = fnv(h, &c->lines[i].unit_cents, sizeof c->lines[i].unit_cents);
    }
    s->seed = h;
    s->seed_gen = s->gen;
  }
  return fnv_str(s->seed, s->seed_pl->name) ^ ((uint64_t)s->seed_hook + 1);
}

/* math.random of the sandbox: seeded from call_seed before the first draw
** of each hook call (the same numbers as seeding at the call's start,
** without hashing the cart for the plugins that never draw). */
static int sb_random(lua_State *L) {
  pt_script *s = pt_script_of(L);
  int n = lua_gettop(L);
  if (s->seed_pending && s->in_call) {
    s->seed_pending = false;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_randomseed);
    lua_pushinteger(L, (lua_Integer)(call_seed(s) & 0x7fffffffffffffffULL));
    lua_call(L, 1, 0);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->r_random);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

bool pt_script_active(const pt_script *s, const pt_quote *q) {
  return s->q == q && s->p != NULL;
}

void pt_script_cart_changed(pt_script *s) { s->cart_dirty = true; }

void pt_script_end(pt_script *s) {
  /* the cart view stays (filled again by the next evaluation) */
  s->cart_gen = -1;
  s->p = NULL;
  s->q = NULL;
}

bool pt_script_has_hook(const pt_script *s, size_t plugin, pt_hook h) {
  const pt_plugin_rt *pl = &s->plugins[plugin];
  if (pl->broken) return h == PT_HOOK_QUOTE; /* reported once per cart */
  return pl->hooks[h] != LUA_NOREF;
}

/* ---- hook calls ------------------------------------------------------------------------- */

typedef struct call_ctx {
  pt_script *s;
  pt_plugin_rt *pl;
  pt_call *c;
  int status;
} call_ctx;

/* Builds the views and runs the hook, under lua_pcall [-1, +1]. */
static int call_main(lua_State *L) {
  call_ctx *cx = lua_touserdata(L, 1);
  pt_script *s = cx->s;
  lua_settop(L, 0);
  luaL_checkstack(L, 16, NULL);
  lua_pushcfunction(L, rt_msgh);                                    /* 1 */
  lua_rawgeti(L, LUA_REGISTRYINDEX, cx->pl->hooks[cx->c->hook]);   /* 2 */
  pt_view_subject(L, s, cx->c->hook);                              /* 3 */
  pt_view_ctx(L, s, cx->pl);                                        /* 4 */
  s->seed_pending = true; /* sb_random seeds at the first draw */
  s->seed_pl = cx->pl;
  s->seed_hook = cx->c->hook;
  limits_begin(s, cx->pl);
  cx->status = lua_pcall(L, 2, 1, 1);
  s->in_call = false; /* the flags stay for pt_script_call to read */
  return 1;
}

int pt_script_call(pt_script *s, pt_call *c) {
  pt_plugin_rt *pl = &s->plugins[c->plugin];
  c->failed = false;
  c->error[0] = 0;
  c->actions = NULL;
  c->nactions = c->ignored = 0;
  if (pl->broken) {
    pt_script_fail(c, "%s", pl->broken);
    pl->errors++;
    return PATRON_OK;
  }
  if (pl->hooks[c->hook] == LUA_NOREF || !s->q) return PATRON_OK;
  lua_State *L = s->L;
  int top = lua_gettop(L), rc = PATRON_OK;
  call_ctx cx = {s, pl, c, LUA_OK};
  s->killed = s->mem_killed = s->timed_out = false;
  s->engine_rc = PATRON_OK;
  lua_pushcfunction(L, call_main);
  lua_pushlightuserdata(L, &cx);
  int st = lua_pcall(L, 1, 1, 0);
  if (st != LUA_OK) { /* building the views: only memory fails there */
    if (st == LUA_ERRMEM || s->mem_killed)
      pt_script_fail(c, "memory cap exceeded (the views of this cart do not fit)");
    else
      pt_script_fail(c, "rule runtime: %s",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
  } else if (cx.status != LUA_OK) {
    const char *file = pl->chunk + 1;
    if (s->mem_killed || cx.status == LUA_ERRMEM) {
      pt_script_fail(c, "memory cap exceeded (%zu KiB)", pl->memory / 1024);
    } else if (s->killed) {
      const char *what = s->timed_out ? "time limit exceeded" : "instruction budget exceeded";
      if (s->kill_line > 0) pt_script_fail(c, "%s at %s:%d", what, file, s->kill_line);
      else pt_script_fail(c, "%s in %s", what, file);
    } else if (cx.status == LUA_ERRERR) {
      pt_script_fail(c, "%s: error while handling an error", file);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
      pt_script_fail(c, "%s", lua_tostring(L, -1));
    } else {
      pt_script_fail(c, "%s: error with a %s value", file, luaL_typename(L, -1));
    }
  } else {
    rc = pt_action_decode(s, L, lua_gettop(L), c);
  }
  limits_end(s);
  lua_settop(L, top);
  if (s->engine_rc) {
    /* the engine failed under the plugin (out of memory, a storage error
    ** in a look-up), even if the plugin caught the error: the quote fails
    ** with it rather than going on as if the plugin had nothing to say */
    rc = s->engine_rc;
    if (patron_errcode(s->p) != rc)
      pt_err(s->p, rc, "plugin %s: out of memory", pl->name);
    s->engine_rc = PATRON_OK;
    pt_script_call_free(c);
    c->failed = false;
    c->error[0] = 0;
    lua_gc(L, LUA_GCCOLLECT, 0);
    return rc;
  }
  if (c->failed) {
    pl->errors++;
    /* give a bomb's garbage back now; a deep recursion's call records
    ** are freed by halves, one collection at a time */
    for (int i = 0; i < 40; i++) {
      size_t before = s->used;
      lua_gc(L, LUA_GCCOLLECT, 0);
      if (s->used >= before) break;
    }
    if (s->used > s->cap / 4 * 3) s->stale = true; /* something leaks: rebuild */
  }
  return rc;
}

void pt_script_call_free(pt_call *c) {
  free(c->actions);
  c->actions = NULL;
  c->nactions = 0;
}

size_t pt_script_memory(pt_script *s) {
  lua_gc(s->L, LUA_GCCOLLECT, 0);
  return s->used;
}

void pt_script_fault(pt_script *s, int64_t n) {
  s->fault = n;
  s->faulting = false;
}

int64_t pt_script_errors(const pt_script *s, size_t plugin) {
  return plugin < s->nplugins ? s->plugins[plugin].errors : 0;
}

void pt_script_set_test(pt_script *s, json_t *customer) {
  json_decref(s->test_customer);
  json_decref(s->test_log);
  json_decref(s->test_actions);
  s->test_customer = json_incref(customer);
  s->test_log = json_array();
  s->test_actions = json_array();
  s->customer_gen = s->history_gen = -1;
  if (s->L) { /* drop the customer view: the next one comes from the file */
    lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->r_eval);
    lua_pushnil(s->L);
    lua_rawseti(s->L, -2, EV_CUSTOMER);
    lua_pop(s->L, 1);
  }
}

json_t *pt_script_test_log(pt_script *s) { return s->test_log; }
json_t *pt_script_test_actions(pt_script *s) { return s->test_actions; }

/* ---- inspection (rules check) ----------------------------------------------------------- */

/* Under lua_pcall [-2, +0]: describes plugin 0 into the JSON object. */
static int inspect_main(lua_State *L) {
  pt_script *s = lua_touserdata(L, 1);
  json_t *out = lua_touserdata(L, 2);
  pt_plugin_rt *pl = &s->plugins[0];
  json_t *hooks = json_object(), *unknown = json_array(), *globals = json_array();
  json_object_set_new(out, "hooks", hooks);
  json_object_set_new(out, "unknown", unknown);
  json_object_set_new(out, "globals", globals);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, pl->rule);
  pt_script_sorted_iter(L, s, 1);
  for (;;) {
    lua_pushvalue(L, 2);
    lua_call(L, 0, 2);
    if (lua_isnil(L, -2)) break;
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION) {
      const char *k = lua_tostring(L, -2);
      lua_Debug ar;
      lua_pushvalue(L, -1);
      lua_getinfo(L, ">S", &ar);
      bool hook = false;
      for (int h = 0; h < PT_HOOK__COUNT; h++) hook = hook || strcmp(k, pt_hook_name(h)) == 0;
      if (hook)
        json_object_set_new(hooks, k, json_integer(ar.linedefined));
      else
        json_array_append_new(unknown, json_pack("{s:s, s:i}", "name", k, "line",
                                                 ar.linedefined));
    }
    lua_pop(L, 2);
  }
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, pl->env);
  pt_script_sorted_iter(L, s, 1);
  for (;;) {
    lua_pushvalue(L, 2);
    lua_call(L, 0, 2);
    if (lua_isnil(L, -2)) break;
    if (lua_type(L, -2) == LUA_TSTRING)
      json_array_append_new(globals, json_string(lua_tostring(L, -2)));
    lua_pop(L, 2);
  }
  return 0;
}

int pt_script_inspect(json_t **out, const char *path, const char *src, size_t len) {
  json_t *o = *out = json_object();
  if (!o) return PATRON_NOMEM;
  if (len >= 4 && memcmp(src, LUA_SIGNATURE, 4) == 0) {
    json_object_set_new(o, "error", json_sprintf("%s:1: a compiled (binary) chunk; only "
                                                 "Lua source text is accepted", path));
    return PATRON_OK;
  }
  if (memchr(src, 0, len)) {
    json_object_set_new(o, "error", json_sprintf("%s: contains a NUL byte", path));
    return PATRON_OK;
  }
  char *copy = malloc(len + 1);
  pt_script *s = calloc(1, sizeof *s);
  pt_plugin_ref g;
  memset(&g, 0, sizeof g);
  int rc = PATRON_NOMEM;
  if (!copy || !s) goto done;
  memcpy(copy, src, len);
  copy[len] = 0;
  const char *base = strrchr(path, '/');
  snprintf(g.name, sizeof g.name, "%s", base ? base + 1 : path);
  char *dot = strrchr(g.name, '.');
  if (dot && strcmp(dot, ".lua") == 0) *dot = 0;
  g.path = (char *)path;
  g.source = copy;
  g.instructions = 1000000;
  g.memory_bytes = (int64_t)8 << 20;
  g.budget_cents = g.budget_points = g.budget_uses = -1;
  pt_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.nplugins = 1;
  cfg.plugins = &g;
  if ((rc = rt_build(s, &cfg))) {
    json_object_set_new(o, "error", json_string(s->build_error));
    rc = PATRON_OK;
    goto done;
  }
  if (s->plugins[0].broken) {
    json_object_set_new(o, "error", json_string(s->plugins[0].broken));
    goto done;
  }
  lua_pushcfunction(s->L, inspect_main);
  lua_pushlightuserdata(s->L, s);
  lua_pushlightuserdata(s->L, o);
  if (lua_pcall(s->L, 2, 0, 0) != LUA_OK)
    json_object_set_new(o, "error", json_sprintf("%s: cannot inspect: %s", path,
                                                 lua_type(s->L, -1) == LUA_TSTRING
                                                     ? lua_tostring(s->L, -1) : "error"));
done:
  pt_script_free(s);
  free(copy);
  return rc;
}
