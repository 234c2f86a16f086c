/*
** config_lua.c -- evaluates a shop.lua file into canonical configuration
** JSON. It builds a fresh sandboxed Lua state (capped allocator, only the
** base, table, string, math and utf8 libraries, no loaders, no print, an
** instruction budget; shop.lua also gets no pattern matching, which runs
** inside one C call where the budget's hook cannot fire), runs lua/config.lua (the DSL and its validator,
** embedded in the binary), runs the user's file in an environment holding
** only the DSL and safe helpers, and converts the validated Lua table to
** JSON with sorted keys. Storing versions is config.c's job.
**
** Every Lua call runs under one lua_pcall of eval_main; C functions that
** Lua calls never hold malloc'd memory or an open FILE across a call that
** can raise (style habit 11).
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "config.h"
#include "json.h"

#define CFG_MEMORY_LIMIT ((size_t)32 << 20)  /* bytes for the whole state */
#define CFG_HOOK_EVERY 1000                   /* instructions per hook call */
#define CFG_RUN_BUDGET 20000000LL             /* shop.lua's own instructions */
#define CFG_CHECK_BUDGET 50000000LL           /* validation (our code) */
#define CFG_PLUGIN_MAX ((size_t)4 << 20)      /* largest plugin file */
#define CFG_JSON_DEPTH 64
#define CFG_OBJECT_MT "patron.config.object_mt"

/* The address of this byte is the JSON null marker (host.null). */
static const char json_null_tag = 0;

typedef struct cfg_eval {
  patron *p;
  const char *name;       /* file name as given: used in messages */
  const char *src;        /* borrowed */
  size_t len;
  char *chunkname;        /* "@" name (owned) */
  char *base_dir;         /* folder of name, "" for the current one (owned) */
  size_t mem_used, mem_limit;
  bool mem_hit;           /* the allocator refused a request */
  bool oom;               /* the system (not the cap) refused memory, to
                          ** Lua or to the JSON being built: whatever the
                          ** evaluation then did (a pcall in shop.lua can
                          ** catch the error), the result is not trusted */
  long long budget;       /* instructions left in this phase */
  long long budget_total; /* the phase's whole budget, for the message */
  bool killed;            /* the budget ran out: every instruction raises */
  char kill_msg[512];
  json_t *root;           /* the result, anchored while it is built */
} cfg_eval;

/* Lua allocator with a byte cap. When ptr is NULL, osize is a type tag. */
static void *cfg_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  cfg_eval *ev = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    ev->mem_used -= old;
    return NULL;
  }
  if (nsize > old && nsize - old > ev->mem_limit - ev->mem_used) {
    ev->mem_hit = true;
    return NULL;
  }
  void *np = realloc(ptr, nsize);
  if (!np) {
    /* Lua assumes that a shrink never fails: the old block still fits */
    if (ptr && nsize <= old) return ptr;
    ev->mem_hit = true;
    ev->oom = true;
    return NULL;
  }
  ev->mem_used = ev->mem_used - old + nsize;
  return np;
}

/* Line of the innermost active call in the user's file; 0 if none. */
static int user_line(lua_State *L, const cfg_eval *ev) {
  lua_Debug ar;
  for (int level = 0; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar)) break;
    if (ar.currentline > 0 && strcmp(ar.source, ev->chunkname) == 0)
      return ar.currentline;
  }
  return 0;
}

/* Count hook: spends the budget; once it is gone, re-arms itself at every
** instruction and raises, so a pcall in shop.lua cannot swallow the stop. */
static void cfg_hook(lua_State *L, lua_Debug *ar) {
  void *ud;
  lua_getallocf(L, &ud);
  cfg_eval *ev = ud;
  (void)ar;
  if (!ev->killed) {
    ev->budget -= CFG_HOOK_EVERY;
    if (ev->budget > 0) return;
    ev->killed = true;
    int line = user_line(L, ev);
    char where[32] = "";
    if (line > 0) snprintf(where, sizeof where, ":%d", line);
    snprintf(ev->kill_msg, sizeof ev->kill_msg,
             "%s%s: evaluation stopped after %lld Lua instructions "
             "(an endless loop?)", ev->name, where, ev->budget_total);
    lua_sethook(L, cfg_hook, LUA_MASKCOUNT, 1);
  }
  lua_pushstring(L, ev->kill_msg);
  lua_error(L);
}

static void set_budget(lua_State *L, cfg_eval *ev, long long n) {
  ev->budget = ev->budget_total = n;
  lua_sethook(L, cfg_hook, LUA_MASKCOUNT, CFG_HOOK_EVERY);
}

/* host.caller_line() [-0, +1]: the line of shop.lua the running
** declaration was called from (0 if unknown). */
static int l_caller_line(lua_State *L) {
  const cfg_eval *ev = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushinteger(L, user_line(L, ev));
  return 1;
}

/* Tries the file whose path is on top of the stack (left there). Returns
** 1 and pushes nothing when it does not exist; else returns 0 having
** pushed (maybe a buffer and) either its text and the path, or nil and
** why it cannot be read [-0, +2|3]. */
static int read_candidate(lua_State *L) {
  const char *cand = lua_tostring(L, -1);
  struct stat sb;
  if (stat(cand, &sb) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 1;
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read %s: %s", cand, strerror(e));
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s is not a regular file", cand);
    return 0;
  }
  if ((unsigned long long)sb.st_size > CFG_PLUGIN_MAX) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s is too large (over %d MiB)", cand,
                    (int)(CFG_PLUGIN_MAX >> 20));
    return 0;
  }
  size_t size = (size_t)sb.st_size;
  char *buf = lua_newuserdatauv(L, size ? size : 1, 0); /* may raise: no
                                                           FILE open yet */
  FILE *f = fopen(cand, "rb");
  if (!f) {
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read %s: %s", cand, strerror(e));
    return 0;
  }
  size_t got = fread(buf, 1, size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read %s: read error", cand);
    return 0;
  }
  lua_pushlstring(L, buf, got);
  lua_pushvalue(L, -3); /* the path */
  return 0;
}

/* host.read_plugin(path) [-0, +2]: the plugin's source and the path it was
** found at, or nil and a message saying where it looked. Looks next to the
** config file, then in p->plugin_dir (also without a leading "plugins/"). */
static int l_read_plugin(lua_State *L) {
  const cfg_eval *ev = lua_touserdata(L, lua_upvalueindex(1));
  const char *path = luaL_checkstring(L, 1);
  const char *pd = ev->p->plugin_dir;
  int base = lua_gettop(L);
  if (path[0] == '/') {
    lua_pushstring(L, path);
  } else {
    if (ev->base_dir[0])
      lua_pushfstring(L, "%s/%s", ev->base_dir, path);
    else
      lua_pushstring(L, path);
    if (pd && pd[0]) {
      lua_pushfstring(L, "%s/%s", pd, path);
      if (strncmp(path, "plugins/", 8) == 0 && path[8])
        lua_pushfstring(L, "%s/%s", pd, path + 8);
    }
  }
  int n = lua_gettop(L) - base;
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, base + i);
    if (read_candidate(L) == 0) return 2;
    lua_pop(L, 1);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "file not found (looked in: ");
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addstring(&b, ", ");
    lua_pushvalue(L, base + i);
    luaL_addvalue(&b);
  }
  luaL_addstring(&b, ")");
  luaL_pushresult(&b);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* host.check_syntax(src, chunkname) [-0, +1]: nil when src compiles as
** Lua text, else the message (which names the file and line). */
static int l_check_syntax(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  const char *chunk = luaL_checkstring(L, 2);
  if (len >= 4 && memcmp(src, LUA_SIGNATURE, 4) == 0) {
    lua_pushfstring(L, "%s: a compiled (binary) chunk; only Lua source text "
                       "is accepted", chunk[0] == '@' ? chunk + 1 : chunk);
    return 1;
  }
  int rc = luaL_loadbufferx(L, src, len, chunk, "t");
  if (rc == LUA_OK) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 1;
  }
  if (rc == LUA_ERRMEM) return lua_error(L);
  return 1;
}

/* host.parse_time(text) [-0, +1]: UTC seconds, or nil if not a time. */
static int l_parse_time(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int64_t t;
  if (strlen(s) == len && patron_time_parse(&t, s) == PATRON_OK)
    lua_pushinteger(L, (lua_Integer)t);
  else
    lua_pushnil(L);
  return 1;
}

/* ---- Lua table -> JSON ------------------------------------------------ */

/* Attaches v to parent (appended when key is NULL) or makes it the root.
** v's reference is stolen; on failure it is released and we raise. v NULL
** is out of memory (the callers check what else could make it NULL). */
static void attach(lua_State *L, cfg_eval *ev, json_t *parent,
                   const char *key, json_t *v) {
  if (key && !pt_utf8_valid(key)) {
    json_decref(v);
    luaL_error(L, "%s: a key that is not valid UTF-8 cannot be stored", ev->name);
  }
  if (!v) {
    ev->oom = true;
    luaL_error(L, "%s: out of memory building the configuration", ev->name);
  }
  if (!parent) {
    ev->root = v;
    return;
  }
  int rc = key ? json_object_set_new(parent, key, v)
               : json_array_append_new(parent, v);
  if (rc) {
    ev->oom = true;
    luaL_error(L, "%s: out of memory storing key '%s' in the configuration",
               ev->name, key ? key : "");
  }
}

static void to_json(lua_State *L, cfg_eval *ev, int idx, int depth,
                    json_t *parent, const char *key);

/* [-0, +0] a table: an array when its keys are 1..n (or it is empty and
** not marked as an object), an object when all keys are strings. */
static void table_to_json(lua_State *L, cfg_eval *ev, int idx, int depth,
                          json_t *parent, const char *key) {
  if (depth > CFG_JSON_DEPTH)
    luaL_error(L, "%s: the configuration is nested too deeply", ev->name);
  luaL_checkstack(L, 6, "configuration too deeply nested");
  bool object = false;
  if (lua_getmetatable(L, idx)) {
    lua_getfield(L, LUA_REGISTRYINDEX, CFG_OBJECT_MT);
    object = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  lua_Integer n = 0, max = 0;
  bool ints = true, strs = true;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
    if (lua_type(L, -1) == LUA_TSTRING) {
      ints = false;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      strs = false;
      if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    } else {
      luaL_error(L, "%s: a table key of type %s cannot be stored in JSON",
                 ev->name, luaL_typename(L, -1));
    }
  }
  if (n == 0) {
    attach(L, ev, parent, key, object ? json_object() : json_array());
  } else if (ints && !object) {
    if (max != n) luaL_error(L, "%s: a list with holes cannot be stored", ev->name);
    json_t *arr = json_array();
    attach(L, ev, parent, key, arr);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      to_json(L, ev, -1, depth + 1, arr, NULL);
      lua_pop(L, 1);
    }
  } else if (strs) {
    json_t *obj = json_object();
    attach(L, ev, parent, key, obj);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      size_t klen;
      const char *k = lua_tolstring(L, -2, &klen); /* a string: no conversion */
      if (strlen(k) != klen)
        luaL_error(L, "%s: a key with a NUL byte cannot be stored", ev->name);
      to_json(L, ev, -1, depth + 1, obj, k);
      lua_pop(L, 1);
    }
  } else {
    luaL_error(L, "%s: a table mixing list values and named keys cannot be "
                  "stored", ev->name);
  }
}

/* [-0, +0] converts the value at idx and attaches it to parent. */
static void to_json(lua_State *L, cfg_eval *ev, int idx, int depth,
                    json_t *parent, const char *key) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN:
    attach(L, ev, parent, key, json_boolean(lua_toboolean(L, idx)));
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      attach(L, ev, parent, key, json_integer((json_int_t)lua_tointeger(L, idx)));
    } else {
      double d = (double)lua_tonumber(L, idx);
      if (!isfinite(d))
        luaL_error(L, "%s: a number that is not finite cannot be stored", ev->name);
      attach(L, ev, parent, key, json_real(d));
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (memchr(s, 0, len))
      luaL_error(L, "%s: text with a NUL character cannot be stored", ev->name);
    if (!pt_utf8_valid(s)) /* s[len] is Lua's NUL */
      luaL_error(L, "%s: text that is not valid UTF-8 cannot be stored", ev->name);
    attach(L, ev, parent, key, json_stringn(s, len));
    break;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) != (void *)&json_null_tag)
      luaL_error(L, "%s: a userdata cannot be stored", ev->name);
    attach(L, ev, parent, key, json_null());
    break;
  case LUA_TTABLE:
    table_to_json(L, ev, idx, depth, parent, key);
    break;
  default:
    luaL_error(L, "%s: a %s cannot be stored in the configuration", ev->name,
               luaL_typename(L, idx));
  }
}

/* ---- the sandbox ------------------------------------------------------ */

static void open_libs(lua_State *L) {
  static const luaL_Reg libs[] = {
      {LUA_GNAME, luaopen_base},          {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  static const char *const removed[] = {"dofile", "loadfile", "load",
                                        "require", "collectgarbage", "print"};
  for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, removed[i]);
  }
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  /* lock the string metatable: getmetatable("") no longer reaches it */
  lua_pushliteral(L, "");
  if (lua_getmetatable(L, -1)) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Pushes the host table config.lua receives [-0, +1]. */
static void push_host(lua_State *L, cfg_eval *ev) {
  static const luaL_Reg fns[] = {{"caller_line", l_caller_line},
                                 {"read_plugin", l_read_plugin},
                                 {"check_syntax", l_check_syntax},
                                 {"parse_time", l_parse_time},
                                 {NULL, NULL}};
  lua_newtable(L);
  lua_pushlightuserdata(L, ev);
  luaL_setfuncs(L, fns, 1);
  lua_pushlightuserdata(L, (void *)&json_null_tag);
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1); /* raw: the __metatable lock does not apply */
  lua_remove(L, -2);
  lua_setfield(L, -2, "string_mt");
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, CFG_OBJECT_MT);
  lua_setfield(L, -2, "object_mt");
}

/* The whole evaluation, under one lua_pcall [-1, +0]. Raises the message
** the user sees on any failure; leaves the result in ev->root. */
static int eval_main(lua_State *L) {
  cfg_eval *ev = lua_touserdata(L, 1);
  lua_settop(L, 0);
  open_libs(L);
  const pt_embedded *e = pt_embedded_find("lua/config.lua");
  if (luaL_loadbufferx(L, e->data, e->len, "=lua/config.lua", "t") != LUA_OK)
    return lua_error(L);
  push_host(L, ev);
  lua_call(L, 1, 1);                                   /* M */
  int m = lua_gettop(L);
  if (ev->len >= 4 && memcmp(ev->src, LUA_SIGNATURE, 4) == 0)
    return luaL_error(L, "%s:1: a compiled (binary) chunk; only Lua source "
                         "text is accepted", ev->name);
  if (luaL_loadbufferx(L, ev->src, ev->len, ev->chunkname, "t") != LUA_OK)
    return lua_error(L);                               /* file:line: msg */
  int chunk = lua_gettop(L);
  lua_getfield(L, m, "begin");
  lua_pushstring(L, ev->name);
  lua_pushlstring(L, ev->src, ev->len);
  lua_call(L, 2, 1);                                   /* env */
  if (!lua_setupvalue(L, chunk, 1))                    /* chunk's _ENV */
    return luaL_error(L, "%s: cannot set the environment", ev->name);
  set_budget(L, ev, CFG_RUN_BUDGET);
  lua_call(L, 0, 0);                                   /* runs shop.lua */
  set_budget(L, ev, CFG_CHECK_BUDGET);
  lua_getfield(L, m, "finish");
  lua_call(L, 0, 1);                                   /* the canonical table */
  lua_sethook(L, NULL, 0, 0);
  to_json(L, ev, -1, 0, NULL, NULL);
  return 0;
}

/* "dir/shop.lua" -> "dir"; "shop.lua" -> ""; "/shop.lua" -> "/". */
static char *dir_of(const char *name) {
  const char *slash = strrchr(name, '/');
  size_t n = !slash ? 0 : slash == name ? 1 : (size_t)(slash - name);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, name, n);
    d[n] = 0;
  }
  return d;
}

int pt_config_eval(patron *p, char **out_json, const char *name,
                   const char *src, size_t len) {
  *out_json = NULL;
  if (!name || !*name) name = "shop.lua";
  if (!src) {
    src = "";
    len = 0;
  }
  if (!pt_embedded_find("lua/config.lua"))
    return pt_err(p, PATRON_INTERNAL, "lua/config.lua is not built in");
  cfg_eval ev = {.p = p, .name = name, .src = src, .len = len,
                 .mem_limit = CFG_MEMORY_LIMIT};
  lua_State *L = NULL;
  int rc = PATRON_NOMEM;
  size_t nlen = strlen(name);
  ev.chunkname = malloc(nlen + 2);
  ev.base_dir = dir_of(name);
  if (!ev.chunkname || !ev.base_dir) {
    pt_err(p, rc, "out of memory");
    goto done;
  }
  ev.chunkname[0] = '@';
  memcpy(ev.chunkname + 1, name, nlen + 1);
  if (!(L = lua_newstate(cfg_alloc, &ev))) {
    pt_err(p, rc, "out of memory starting Lua");
    goto done;
  }
  lua_pushcfunction(L, eval_main);
  lua_pushlightuserdata(L, &ev);
  int st = lua_pcall(L, 1, 0, 0);
  lua_sethook(L, NULL, 0, 0);
  if (ev.oom) {
    pt_err(p, rc, "%s: out of memory evaluating the configuration", name);
    goto done;
  }
  if (st != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    rc = PATRON_INVALID_CONFIG;
    if (ev.killed)
      pt_err(p, rc, "%s", ev.kill_msg);
    else if (st == LUA_ERRMEM || (ev.mem_hit && msg && strcmp(msg, "not enough memory") == 0))
      pt_err(p, rc, "%s: evaluation stopped: it needs more than %d MiB of "
                    "memory", name, (int)(ev.mem_limit >> 20));
    else if (msg)
      pt_err(p, rc, "%s", msg);
    else
      pt_err(p, rc, "%s: error (the error value is a %s)", name,
             luaL_typename(L, -1));
    goto done;
  }
  if (!(*out_json = pt_json_dumps(ev.root, JSON_COMPACT | JSON_SORT_KEYS))) {
    pt_err(p, rc, "out of memory writing the configuration");
    goto done;
  }
  rc = PATRON_OK;
done:
  if (L) lua_close(L);
  json_decref(ev.root);
  free(ev.chunkname);
  free(ev.base_dir);
  return rc;
}
