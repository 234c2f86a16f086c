/*
** script_rt.h -- what the files of the rule runtime share: script.c (the
** state, its limits, the sandbox and hook calls), script_view.c (the
** read-only views hooks receive) and script_action.c (reading the actions
** they return). The state's layout lives here; nothing outside
** core/script*.c includes this header.
*/
#ifndef PT_SCRIPT_RT_H
#define PT_SCRIPT_RT_H

#include <lauxlib.h>
#include <lua.h>

#include "script.h"

#define RT_BASE_BYTES ((size_t)8 << 20) /* libraries, prelude, views */
#define RT_HOOK_EVERY 1000              /* instructions between hook calls */
#define RT_OWN_BUDGET 50000000LL        /* our own Lua (prelude) per step */
#define RT_LOAD_BUDGET 1000000LL        /* a plugin's file, at least */
#define RT_WALL_NS 2000000000LL         /* backstop per hook call: 2 s */
#define RT_ALLOC_SHIFT 6                /* 1 instruction per 64 bytes */
#define RT_LOG_MAX 1000                 /* ctx.log lines kept (rules test) */
#define RT_EXCLUDE_MAX 100              /* ctx.catalog.top exclude list */
#define RT_TOP_MAX 50                   /* ctx.catalog.top n */
#define RT_VIEW_DEPTH 40
#define RT_INT_MAX ((int64_t)1 << 53)   /* integers plugins hand back */

/* slots of a view's metatable (besides the __ fields) */
#define MT_PARENT 1
#define MT_KEY 2
#define MT_BACKING 3
#define MT_TAG 4
#define MT_LOADER 5
#define MT_TAGS_TEXT 6 /* a kept line view: the text its tags list was made from */

/* per-evaluation slots of the eval table */
#define EV_CART_KEPT 1 /* the cart view (kept: filled in place per evaluation) */
#define EV_CUSTOMER 2  /* the customer view (kept: refreshed per evaluation) */
#define EV_LINE_POOL 3 /* the cart's line views by position (kept) */
#define EV_ITEMS 4     /* catalog item prototypes by pt_item address */
#define RT_ITEMS_MAX 2048 /* prototypes kept before the table is dropped */

typedef struct pt_plugin_rt {
  char name[PT_NAME_MAX];
  char *chunk;               /* "=plugins/x.lua" */
  int hooks[PT_HOOK__COUNT]; /* registry refs, LUA_NOREF when absent */
  int env, rule, params;     /* registry refs */
  char *broken;              /* why it does not load, or NULL */
  int64_t instructions;
  size_t memory;
  int every;                 /* hook count */
  int64_t errors;
  int ctx;                   /* registry ref: its ctx view, made at first use */
  int64_t ctx_gen;           /* the evaluation its per-cart fields show */
} pt_plugin_rt;

struct pt_script {
  lua_State *L;
  int64_t version;
  size_t nplugins;
  pt_plugin_rt *plugins;
  bool stale;                /* rebuild at the next pt_script_get */
  char build_error[256];
  /* memory */
  size_t used, cap, call_cap;
  int64_t fault;             /* tests: the fault-th growth from now fails, */
  bool faulting;             /* ... and every one after it */
  /* the running call */
  bool in_call;
  int every;
  int64_t budget;
  int64_t deadline;
  bool killed, mem_killed, timed_out;
  int engine_rc;             /* the engine failed under the running call
                                (out of memory, a storage error in a
                                look-up): the quote fails with it */
  int kill_line;
  const char *chunk;         /* of the running plugin, or NULL */
  /* registry refs */
  int r_prelude, r_cart_mt, r_kill, r_sort, r_randomseed, r_random, r_catalog,
      r_plans, r_programs, r_shipping, r_no_tags, r_eval;
  /* the evaluation */
  patron *p;
  pt_quote *q;
  int64_t gen;
  int64_t cart_gen, customer_gen; /* the evaluations the views show */
  int64_t history_gen;             /* ctx.customer's history was read for */
  bool cart_dirty;                 /* amounts changed since the cart view */
  uint64_t seed;                   /* the cart's part of math.random's seed */
  int64_t seed_gen;                /* the evaluation seed was hashed for */
  bool seed_pending;               /* the running call has not drawn yet */
  const pt_plugin_rt *seed_pl;     /* ... and whose call it is */
  int seed_hook;
  char today[11];
  /* the catalog rows plugins looked up (script_catalog.c) */
  struct rt_catalog *catalog;
  uint64_t items_epoch;      /* the catalog epoch EV_ITEMS belongs to */
  int nitems;                /* prototypes in EV_ITEMS */
  /* rules test */
  json_t *test_customer, *test_log, *test_actions;
};

/* ---- script.c ------------------------------------------------------------ */

/* The runtime a Lua state belongs to (its allocator's userdata). */
pt_script *pt_script_of(lua_State *L);
/* [-0, +1] an iterator over the raw table at idx in a fixed key order
** (numbers, strings, false, true, the rest): what pairs gives plugins. */
void pt_script_sorted_iter(lua_State *L, pt_script *s, int idx);

/* ---- script_catalog.c ---------------------------------------------------- */

typedef struct rt_catalog rt_catalog;
/* Frees the kept catalog rows (the state's end). */
void pt_script_catalog_free(pt_script *s);
/* Changes whenever kept rows are freed: what is keyed by their addresses
** (the item prototypes of script_view.c) must be dropped then. */
uint64_t pt_script_catalog_epoch(const pt_script *s);

/* ---- script_view.c ------------------------------------------------------- */

/* [-1, +2] pops a key (the view's name in its parent, for messages) and
** pushes a new view and its backing table (on top) to fill; pop the
** backing table when done. parent: stack index of the parent view or 0. */
void pt_view_open(lua_State *L, int parent, int narr, int nrec);
/* Is the value at idx a view? Then pushes its backing table. */
bool pt_view_backing(lua_State *L, int idx);
/* [-1, +1] pops a key, pushes j as Lua (views for arrays and objects). */
void pt_view_json(lua_State *L, const json_t *j, int parent, int depth);
/* [-0, +1] views made once per state. */
void pt_view_catalog(lua_State *L);
void pt_view_plans(lua_State *L, const pt_config *cfg);
/* [-0, +1] what a hook receives: the cart (or order) and its ctx. */
void pt_view_subject(lua_State *L, pt_script *s, pt_hook h);
void pt_view_ctx(lua_State *L, pt_script *s, pt_plugin_rt *pl);

/* ---- script_action.c ----------------------------------------------------- */

/* Decodes what a hook returned (the value at idx) into c, reading raw
** fields only: no allocation, no raise, no plugin code. */
int pt_action_decode(pt_script *s, lua_State *L, int idx, pt_call *c);
/* [-0, +0] keeps the field names of actions alive in the state, so that
** reading an action never allocates (at the state's build). */
void pt_action_pin(lua_State *L);
/* Marks the call failed with a message (made valid UTF-8). */
void pt_script_fail(pt_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* PT_SCRIPT_RT_H */
