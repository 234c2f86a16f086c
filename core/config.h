/*
** config.h -- the shop configuration as the C core sees it.
**
** A shop.lua file is evaluated in a sandboxed Lua state (lua/config.lua
** defines the DSL and validates it), turned into canonical JSON and
** stored as a numbered version. The engine reads the active version's
** JSON back into the structs below (pt_config_parse), which the ledger,
** checkout and subscription modules read. A pt_config is immutable once
** built; it is owned by the handle and replaced when a newer version is
** applied (by this process or another one).
*/
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <jansson.h>

#include "internal.h"

#define PT_NAME_MAX 64

typedef struct pt_tier {
  char name[PT_NAME_MAX];
  int64_t from_cents;      /* qualifying spend needed, ascending */
  int64_t multiplier_bp;   /* earn multiplier, 10000 = x1 */
} pt_tier;

typedef struct pt_program {
  char name[PT_NAME_MAX];
  int64_t points_per_unit; /* earn: points per whole currency unit paid */
  int64_t pending_days;    /* earned points spendable after this */
  int64_t value_points;    /* value: value_points points ... */
  int64_t value_cents;     /* ... are worth value_cents */
  int64_t min_points;      /* redeem: smallest redemption */
  int64_t max_share_bp;    /* redeem: max share of an order paid in points */
  int expiry_months;       /* 0: points never expire */
  int expiry_notice_days;  /* points_expiring event this many days before */
  int tier_window_months;  /* 0: lifetime spend */
  size_t ntiers;
  pt_tier *tiers;          /* ascending by from_cents; tiers[0].from = 0 */
} pt_program;

typedef struct pt_bundle_item {
  char sku[PT_NAME_MAX];
  int64_t qty;
} pt_bundle_item;

typedef struct pt_bundle {
  char name[PT_NAME_MAX];
  size_t nitems;
  pt_bundle_item *items;
  int64_t off_bp;          /* percentage off each unit, or ... */
  int64_t price_cents;     /* ... a fixed bundle price (-1: unset) */
} pt_bundle;

typedef struct pt_shipping {
  char program[PT_NAME_MAX]; /* "" = any program */
  char region[PT_NAME_MAX];  /* "" = any region */
  int64_t threshold_cents;
  int64_t shipping_cents;
} pt_shipping;

typedef struct pt_plugin_ref {
  char name[PT_NAME_MAX];  /* file stem: "cross_sell" */
  char *path;              /* as written in shop.lua */
  char *source;            /* the plugin's source, stored with the config */
  json_t *params;          /* object (owned) */
  int64_t from, to;        /* validity window, 0 = open */
  int64_t budget_points, budget_cents, budget_uses; /* -1 = unlimited */
  int64_t instructions;    /* per hook call */
  int64_t memory_bytes;    /* per state */
} pt_plugin_ref;

typedef struct pt_plan {
  char name[PT_NAME_MAX];
  int64_t price_cents;
  char every[16];          /* "day" | "week" | "month" | "year" */
  int64_t count;           /* every N periods */
  int64_t trial_days;
  char program[PT_NAME_MAX]; /* renewals earn points here; "" = none */
  char twin[PT_NAME_MAX];  /* the monthly plan this one is the discounted
                              twin of (annual plans); "" = none */
} pt_plan;

typedef struct pt_dunning {
  size_t nretry;
  int64_t retry_days[16];
  int64_t grace_days;
  char final_action[16];   /* "suspend" | "cancel" */
  int64_t max_retries;
} pt_dunning;

typedef struct pt_config {
  int64_t version;
  char currency[8];
  char timezone[64];
  bool prices_include_tax;
  bool strict;             /* rule errors fail the quote */
  int64_t contact_cap_max;      /* marketing events per customer ... */
  int64_t contact_cap_per_days; /* ... per this many days (default 2 / 7) */
  int64_t abandoned_cart_hours; /* a quote without commit is abandoned after */
  char default_program[PT_NAME_MAX];
  size_t nprograms;
  pt_program *programs;
  size_t nbundles;
  pt_bundle *bundles;
  size_t nshipping;
  pt_shipping *shipping;
  size_t nplugins;
  pt_plugin_ref *plugins;
  size_t nplans;
  pt_plan *plans;
  pt_dunning dunning;
  json_t *json;            /* the whole canonical document (owned) */
} pt_config;

/* Parses canonical config JSON into a new pt_config; NULL with the error
** set on the handle on failure. */
pt_config *pt_config_parse(patron *p, const char *json_text, int64_t version);
void pt_config_free(pt_config *c);

/* The active config, reloaded if another handle applied a newer one.
** NULL with NO_CONFIG set if none was ever applied. Borrowed: valid until
** the next call that may reload (any public API call). */
const pt_config *pt_config_active(patron *p);

/* Program by name, or the default program when name is NULL or "".
** NULL with UNKNOWN_PROGRAM set on the handle. */
const pt_program *pt_config_program(patron *p, const pt_config *c,
                                    const char *name);
/* Tier for a qualifying spend (index into prog->tiers), -1 if no tiers. */
int pt_program_tier_for(const pt_program *prog, int64_t spend_cents);
/* Plan, bundle or plugin by name; NULL (no error set) when there is none. */
const pt_plan *pt_config_plan(const pt_config *c, const char *name);
const pt_bundle *pt_config_bundle(const pt_config *c, const char *name);
const pt_plugin_ref *pt_config_plugin(const pt_config *c, const char *name);

/* Evaluates shop.lua source (sandboxed) into canonical config JSON.
** On success *out_json is malloc'd text (caller frees). On failure the
** handle carries INVALID_CONFIG with "file:line: key: why" (NOMEM,
** INTERNAL for failures that are not the file's fault). The folder of name
** resolves plugin paths first, then p->plugin_dir. Implemented in
** config_lua.c. */
int pt_config_eval(patron *p, char **out_json, const char *name,
                   const char *src, size_t len);

#endif /* PT_CONFIG_H */
