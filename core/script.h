/*
** script.h -- the rule runtime's internal interface: the sandboxed Lua
** state that runs merchant plugins (script.c), its step-counted pattern
** matcher (script_match.c), and the entry points of rules.c that the
** `patron rules ...` and `patron report budgets` commands use. The
** pipeline itself only sees rules.h.
**
** One Lua state per engine handle (p->script), built lazily at the first
** evaluation that has plugins and rebuilt when the active config version
** changes. A hook call returns the plugin's actions decoded into C
** structs (type-checked here); rules.c decides what they do to the quote.
*/
#ifndef PT_SCRIPT_H
#define PT_SCRIPT_H

#include "checkout.h"

struct lua_State;
typedef struct pt_script pt_script;

typedef enum pt_hook { PT_HOOK_QUOTE, PT_HOOK_EARN, PT_HOOK__COUNT } pt_hook;

typedef enum pt_act_kind {
  PT_ACT_INVALID = -1,     /* see pt_action.problem */
  PT_ACT_DISCOUNT,
  PT_ACT_FREE_ITEM,
  PT_ACT_SUGGEST,
  PT_ACT_BONUS,
  PT_ACT_MESSAGE,
  PT_ACT_SHIPPING,
  PT_ACT__COUNT
} pt_act_kind;

#define PT_ACT_MAX 50      /* actions used from one hook call */
#define PT_ACT_SKUS 32     /* skus one discount may list */
#define PT_ACT_TEXT 512    /* bytes of a reason or message (with the NUL) */

/* One action as the plugin returned it, with its types checked: integers
** are Lua integers within +-2^53, text is valid UTF-8 without NUL bytes,
** the fields are the action's own and the values in their ranges. */
typedef struct pt_action {
  int kind;                /* pt_act_kind */
  bool has_cents, has_bp;
  int64_t cents;           /* discount, shipping */
  int64_t bp;              /* discount */
  int64_t qty;             /* free_item (default 1) */
  int64_t points;          /* bonus_points */
  char sku[PT_NAME_MAX];   /* free_item, suggest */
  char text[PT_ACT_TEXT];  /* reason; message: the text */
  size_t nskus;            /* discount: 0 = every line */
  char skus[PT_ACT_SKUS][PT_NAME_MAX];
  char problem[256];       /* kind == PT_ACT_INVALID: why ("discount: cents
                              must be an integer, got 1.5") */
} pt_action;

/* One hook call. */
typedef struct pt_call {
  size_t plugin;           /* in: index into cfg->plugins */
  pt_hook hook;            /* in */
  bool failed;             /* out: error or limit; no action is used */
  char error[600];         /* out: why, "plugins/x.lua:7: boom" */
  pt_action *actions;      /* out: owned; pt_script_call_free */
  size_t nactions;
  size_t ignored;          /* out: actions past PT_ACT_MAX */
} pt_call;

/* Names of the actions and hooks as plugins write them. */
const char *pt_act_name(int kind);
const char *pt_hook_name(pt_hook h);

/* ---- the catalog rules see (script_catalog.c) --------------------------- */

/* A catalog row. The strings point into the same allocation. */
typedef struct pt_item {
  const char *sku, *name, *category, *tags;
  int64_t price_cents, popularity;
  bool has_price;
} pt_item;

/* The row of sku, *out NULL when the catalog has no such sku; the items
** of a category most popular first (sku ascending on ties), at most
** RT_TOP_MAX + RT_EXCLUDE_MAX of them. Answered from rows the runtime keeps
** while the catalog is unchanged (checked once per evaluation, inside it).
** What they hand out stays valid until the next look-up. Errors are set on
** the handle of the evaluation (NOMEM, IO, ...). */
int pt_script_item(pt_script *s, const char *sku, const pt_item **out);
int pt_script_top(pt_script *s, const char *category, pt_item *const **out, size_t *n);

/* ---- the runtime (script.c) -------------------------------------------- */

/* The handle's runtime for cfg (p->script), built or rebuilt as needed.
** A plugin whose file fails to load does not fail the build: its calls
** fail with the load error. Errors: NOMEM, INTERNAL. */
int pt_script_get(patron *p, const pt_config *cfg, pt_script **out);
void pt_script_free(pt_script *s);

/* An evaluation: the quote whose views hooks see, until pt_script_end.
** on_quote starts one; on_earn continues it (or starts one). */
void pt_script_begin(pt_script *s, patron *p, pt_quote *q);
bool pt_script_active(const pt_script *s, const pt_quote *q);
/* The cart changed (a discount): the next call rebuilds the cart view. */
void pt_script_cart_changed(pt_script *s);
void pt_script_end(pt_script *s);

bool pt_script_has_hook(const pt_script *s, size_t plugin, pt_hook h);
/* Runs one hook of one plugin against the current evaluation. Returns
** PATRON_OK with c->failed set when the plugin failed (counted); an error
** code only for failures of the engine itself (NOMEM, INTERNAL). */
int pt_script_call(pt_script *s, pt_call *c);
void pt_script_call_free(pt_call *c);

/* Bytes the state holds after a full garbage collection (tests). */
size_t pt_script_memory(pt_script *s);
/* Fault injection (tests): the n-th allocation from now that grows the
** state fails, and every one after it until pt_script_fault(s, 0). */
void pt_script_fault(pt_script *s, int64_t n);
/* Failed calls of a plugin since the state was built. */
int64_t pt_script_errors(const pt_script *s, size_t plugin);

/* `patron rules test`: ctx.customer comes from customer (borrowed JSON
** object, NULL: the database), ctx.log lines and the decoded actions are
** collected. The arrays are owned by the runtime; NULL when not testing. */
void pt_script_set_test(pt_script *s, json_t *customer);
json_t *pt_script_test_log(pt_script *s);
json_t *pt_script_test_actions(pt_script *s);

/* `patron rules check`: loads src alone in a fresh sandbox and describes
** it as a new JSON object: {"error": text or absent, "hooks": {name: line},
** "unknown": [{name, line}] (functions with names that are not hooks),
** "globals": [names of the plugin environment after loading]}. */
int pt_script_inspect(json_t **out, const char *path, const char *src,
                      size_t len);

/* Charges n steps of C work (pattern matching) to the running hook call;
** raises the budget error when it is spent. */
void pt_script_charge(struct lua_State *L, int64_t n);

/* ---- pattern matching (script_match.c) --------------------------------- */

/* Replaces find, match, gmatch and gsub in the string table at idx with
** versions that charge their matcher steps (pt_script_charge). */
void pt_match_install(struct lua_State *L, int idx);

/* ---- command entry points (rules.c) ------------------------------------ */

/* Runs the plugin at path alone against the cart (JSON text) in the
** handle's database, which must be a scratch one: a synthetic config is
** applied to it. params: JSON object of the plugin's parameters (may be
** NULL); customer: the ctx.customer fields (may be NULL). *out (new
** reference): {plugin, ok, error, actions, warnings, trace, log, quote}.
** Errors: INVALID_CONFIG (the plugin does not load as a config would),
** INVALID_JSON / INVALID_CART (the cart), NOMEM. */
int pt_rules_test(patron *p, json_t **out, const char *path,
                  const json_t *params, const char *cart_json,
                  const json_t *customer);
/* Lints a plugin file: *out (new reference) is an array of "path:line:
** message" strings, empty when the plugin looks right. */
int pt_rules_check(json_t **out, const char *path, const char *src, size_t len);
/* Per plugin of the active config: budget, spent, left and uses (a new
** JSON array). Errors: NO_CONFIG, storage. */
int pt_rules_budgets(patron *p, json_t **out);

#endif /* PT_SCRIPT_H */
