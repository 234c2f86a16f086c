/*
** patron.h -- the public interface of libpatron, an embeddable loyalty and
** subscription engine for point-of-sale checkouts.
**
** This header is the contract: anything not declared here is internal.
** Conventions, the same for every function:
**   - functions return PATRON_OK (0) or an error code; the code and a
**     human message are also kept on the handle (patron_errcode,
**     patron_errmsg, patron_errpath) until the next call on that handle;
**   - out-parameters come first after the handle;
**   - strings returned through `char **out` are owned by the caller and
**     must be released with patron_free();
**   - money is int64_t minor units (cents), points are int64_t; neither is
**     ever a floating point number;
**   - times are int64_t seconds since the Unix epoch, UTC.
** One handle per thread; two handles (in one or several processes) may
** share one database file. The library has no global mutable state.
*/
#ifndef PATRON_H
#define PATRON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PATRON_API __attribute__((visibility("default")))
#else
#define PATRON_API
#endif

#define PATRON_VERSION "0.1.0"

/*
** Error codes. One table: the enum, the JSON name ("insufficient_points")
** and the default text are all generated from it. Codes are stable.
*/
#define PATRON_ERRORS(X)                                                   \
  X(OK, 0, "ok", "no error")                                               \
  X(INVALID_JSON, 1, "invalid_json", "malformed JSON")                     \
  X(INVALID_CART, 2, "invalid_cart", "invalid cart")                       \
  X(INVALID_INPUT, 3, "invalid_input", "invalid input")                    \
  X(INVALID_CONFIG, 4, "invalid_config", "invalid shop configuration")     \
  X(UNKNOWN_PROGRAM, 5, "unknown_program", "unknown program")              \
  X(UNKNOWN_CUSTOMER, 6, "unknown_customer", "unknown customer")           \
  X(NOT_FOUND, 7, "not_found", "not found")                                \
  X(INSUFFICIENT_POINTS, 8, "insufficient_points", "insufficient points")  \
  X(CONFLICT, 9, "conflict", "conflict with an earlier request")          \
  X(STALE_QUOTE, 10, "stale_quote", "the quote is stale")                  \
  X(RULE_ERROR, 11, "rule_error", "a rule failed")                         \
  X(OVERFLOW, 12, "overflow", "amount out of range")                       \
  X(NO_CONFIG, 13, "no_config", "no shop configuration applied")           \
  X(BUSY, 14, "busy", "database is busy")                                  \
  X(STORAGE_FULL, 15, "storage_full", "storage is full")                   \
  X(SCHEMA_TOO_NEW, 16, "schema_too_new",                                  \
    "database was written by a newer patron")                              \
  X(IO, 17, "io", "input/output error")                                    \
  X(NOMEM, 18, "nomem", "out of memory")                                   \
  X(MISUSE, 19, "misuse", "library misuse")                                \
  X(INTERNAL, 20, "internal", "internal error")

typedef enum patron_code {
#define PATRON_X_ENUM(name, num, str, text) PATRON_##name = num,
  PATRON_ERRORS(PATRON_X_ENUM)
#undef PATRON_X_ENUM
  PATRON__CODE_COUNT
} patron_code;

typedef struct patron patron;

/* The clock, if injected, returns the current UTC time in seconds. */
typedef int64_t (*patron_clock_fn)(void *ud);

/* Progress callback for long work: done and total units (total may be 0
** when unknown). Return non-zero to cancel the operation. */
typedef int (*patron_progress_fn)(void *ud, int64_t done, int64_t total);

#define PATRON_OPTIONS_VERSION 1
typedef struct patron_options {
  int version;              /* PATRON_OPTIONS_VERSION */
  patron_clock_fn clock;    /* NULL: the system clock */
  void *clock_ud;
  int busy_timeout_ms;      /* 0: 5000 */
  int read_only;            /* open without migrating or writing */
  const char *plugin_dir;   /* NULL: $PATRON_PLUGIN_DIR, then built-in */
} patron_options;
#define PATRON_OPTIONS_INIT {PATRON_OPTIONS_VERSION, NULL, NULL, 0, 0, NULL}

/* ---- handle --------------------------------------------------------- */

/* Opens (creating and migrating if needed) the shop database at path.
** *out is set even on failure so the message can be read; always call
** patron_close on it. Errors: SCHEMA_TOO_NEW, IO, BUSY, NOMEM. */
PATRON_API int patron_open(patron **out, const char *path,
                           const patron_options *opts);
/* Closes the handle and frees everything it owns. NULL is a no-op. */
PATRON_API void patron_close(patron *p);

/* Last error code and message on this handle. The message is borrowed:
** valid until the next call on this handle. Never NULL. */
PATRON_API int patron_errcode(const patron *p);
PATRON_API const char *patron_errmsg(const patron *p);
/* Path of the offending input field ("lines[2].qty") or "" if none. */
PATRON_API const char *patron_errpath(const patron *p);
/* Stable name of a code ("insufficient_points"); "unknown" if invalid. */
PATRON_API const char *patron_code_name(int code);
/* Frees memory returned by patron. NULL is a no-op. */
PATRON_API void patron_free(void *ptr);
/* The time the handle uses now (the injected clock, or the system's). */
PATRON_API int64_t patron_now(patron *p);

/* ---- time helpers ---------------------------------------------------- */

/* Parses "2026-11-23", "2026-11-23T12:00:00Z" or with "+02:00" offsets
** into UTC seconds. Returns PATRON_OK or INVALID_INPUT. Handle-free. */
PATRON_API int patron_time_parse(int64_t *out, const char *text);
/* Formats t as "2026-11-23T12:00:00Z" into buf (at least 21 bytes). */
PATRON_API void patron_time_format(char *buf, size_t size, int64_t t);

/* ---- configuration --------------------------------------------------- */

typedef struct patron_apply_result {
  int64_t version;          /* active config version after the call */
  int changed;              /* 0: identical to the active version */
} patron_apply_result;

/* Loads, validates and stores the shop configuration in the Lua file at
** path as a new config version, in one transaction. On error nothing is
** changed and the message names file, line and key. Errors:
** INVALID_CONFIG, IO. */
PATRON_API int patron_apply_file(patron *p, patron_apply_result *out,
                                 const char *path);
/* The same from a buffer; name is used in messages and to resolve plugin
** paths (its folder). */
PATRON_API int patron_apply_buffer(patron *p, patron_apply_result *out,
                                   const char *name, const char *src,
                                   size_t len);
/* The active configuration as JSON (*out owned by the caller). version
** 0 means the active one. Errors: NO_CONFIG, NOT_FOUND. */
PATRON_API int patron_config_json(patron *p, char **out, int64_t version);

/* ---- import ---------------------------------------------------------- */

typedef struct patron_import_result {
  int64_t rows;             /* data rows read */
  int64_t inserted;         /* new records */
  int64_t updated;          /* existing records changed */
  int64_t opening_skipped;  /* customers: opening balance already given */
} patron_import_result;

/* Imports a catalog CSV (header: sku,name,price_cents,category,
** popularity[,cost_cents,tags]; only sku is required). All or nothing: a
** bad row fails the import with its line number and column. */
PATRON_API int patron_import_catalog(patron *p, patron_import_result *out,
                                     const char *path,
                                     patron_progress_fn progress, void *ud);
/* Imports customers (header: id[,email,birthday,program,points,
** spend_cents]) with opening balances and tier-qualifying spend. */
PATRON_API int patron_import_customers(patron *p, patron_import_result *out,
                                       const char *path,
                                       patron_progress_fn progress, void *ud);

/* ---- points ledger --------------------------------------------------- */

typedef struct patron_balance_info {
  int64_t points;           /* balance: sum of all ledger entries */
  int64_t spendable;        /* points that can be redeemed now */
  int64_t pending;          /* earned, not yet spendable (return window) */
  int64_t qualifying_cents; /* spend inside the tier window */
  char tier[64];            /* current tier name, "" if the program has none */
  char program[64];
} patron_balance_info;

/* Balance of a customer in a program (NULL: the shop's default program).
** Errors: UNKNOWN_PROGRAM, UNKNOWN_CUSTOMER, NO_CONFIG. */
PATRON_API int patron_balance(patron *p, patron_balance_info *out,
                              const char *customer, const char *program);

/* Posts a manual correction of points (positive or negative) with a
** reason, audited in the ledger as an `adjust` entry. A negative
** adjustment may not take the spendable balance below zero
** (INSUFFICIENT_POINTS). entry_uuid, if not NULL, receives the entry's
** uuid (37 bytes). */
PATRON_API int patron_adjust(patron *p, char entry_uuid[37],
                             const char *customer, const char *program,
                             int64_t points, const char *reason);

/* Ledger of a customer as a JSON array of entries, oldest first (NULL
** program: every program). */
PATRON_API int patron_ledger_json(patron *p, char **out, const char *customer,
                                  const char *program);

typedef struct patron_tick_result {
  int64_t expired_points;   /* points expired by this tick */
  int64_t expired_lots;
  int64_t expiring_notices; /* points_expiring events emitted */
  int64_t tier_changes;     /* tier_changed events emitted */
  int64_t charges_requested;/* charge_requested events (renewals, retries) */
  int64_t trials_ended;
  int64_t upgrades_reverted;
  int64_t dunning_steps;    /* dunning_notice events and final actions */
  int64_t renewal_reminders;/* renewal_upcoming events */
  int64_t carts_abandoned;  /* cart_abandoned events */
} patron_tick_result;

/* Does what is due at time now: expiry, expiry notices, tier windows,
** subscription renewals, trials, temporary upgrades, dunning, reminders
** and abandoned carts.
** Running it twice with the same now does nothing the second time. */
PATRON_API int patron_tick(patron *p, patron_tick_result *out, int64_t now);

/* Rebuilds every balance from the ledger and compares. *report (JSON,
** owned by the caller) lists mismatches; *mismatches counts them. */
PATRON_API int patron_verify(patron *p, int64_t *mismatches, char **report);

/* ---- checkout ---------------------------------------------------------- */

/* A cart line. Strings are borrowed for the duration of the call. */
typedef struct patron_line {
  const char *sku;
  int64_t qty;              /* > 0 */
  int64_t unit_cents;       /* >= 0 */
  const char *category;     /* may be NULL: taken from the catalog */
  const char *tags;         /* may be NULL */
} patron_line;

/* A cart (the struct path of DESIGN.md section 5; no JSON needed). */
typedef struct patron_cart {
  const char *program;      /* NULL: the default program */
  const char *customer;     /* NULL: anonymous (no points) */
  const char *currency;     /* NULL: the shop's */
  const char *order_id;     /* required for commit */
  const char *region;       /* NULL: none (free-shipping rules by region) */
  int64_t at;               /* 0: now */
  const patron_line *lines;
  size_t nlines;
  int64_t redeem_points;    /* points the customer asks to spend */
  const char *const *shown_suggestions; /* skus shown and not taken */
  size_t nshown;
  int has_expect_total;     /* commit: fail with STALE_QUOTE if ... */
  int64_t expect_total_cents; /* ... the re-evaluated total differs */
} patron_cart;

typedef struct patron_adjustment {
  char *source;             /* "bundle:mp3-kit", "plugin:cross_sell" */
  char *reason;
  int64_t cents;
} patron_adjustment;

typedef struct patron_suggestion {
  char *sku;
  char *reason;
} patron_suggestion;

/* The result of a quote or commit. Everything it points to is owned by
** it: release with patron_quote_release. json is the full result in the
** JSON contract's shape (the same text patron_quote_json returns). */
typedef struct patron_quote {
  int64_t subtotal_cents, discount_cents, shipping_cents, total_cents;
  int64_t free_shipping_threshold_cents; /* -1: no free-shipping rule */
  int64_t free_shipping_missing_cents;   /* 0: shipping is free */
  int64_t redeem_points, redeem_cents;   /* what was applied */
  int64_t points_earned;
  int64_t balance_after;    /* commit only: the customer's balance after */
  int64_t config_version;
  char tier[64];
  size_t ndiscounts;
  patron_adjustment *discounts;
  size_t nsuggestions;
  patron_suggestion *suggestions;
  size_t nwarnings;
  char **warnings;
  char *json;
} patron_quote;

/* Prices a cart without writing anything. */
PATRON_API int patron_quote_cart(patron *p, patron_quote *out,
                                 const patron_cart *cart);
/* Prices and records a cart in one transaction (idempotent by order_id:
** the same cart returns the first receipt; a different one CONFLICT). */
PATRON_API int patron_commit_cart(patron *p, patron_quote *out,
                                  const patron_cart *cart);
/* Frees what a quote owns (not the struct itself). */
PATRON_API void patron_quote_release(patron_quote *q);

/* JSON entry points: in is a cart (DESIGN.md section 5), *out the quote or
** receipt JSON, owned by the caller (patron_free). On error *out is NULL;
** patron_error_json renders the handle's error object. */
PATRON_API int patron_quote_json(patron *p, char **out, const char *in);
PATRON_API int patron_commit_json(patron *p, char **out, const char *in);

/* A refund request: whole order (nlines 0) or some units of some skus. */
typedef struct patron_refund_line {
  const char *sku;
  int64_t qty;
} patron_refund_line;

/* Refunds an order (or part of it) and unwinds what it caused: points
** earned and redeemed (proportionally, floored), tier spend, budgets.
** *out (JSON, caller frees) describes the refund. Errors: NOT_FOUND,
** INVALID_INPUT (more than was bought). */
PATRON_API int patron_refund(patron *p, char **out, const char *order_id,
                             const patron_refund_line *lines, size_t n);

/* The handle's current error as the JSON error object of the contract:
** {"error":{"code":"...","message":"...","path":"..."}} (caller frees). */
PATRON_API char *patron_error_json(patron *p);

/* ---- subscriptions and dunning (DESIGN.md section 9) ------------------ */
/* Every function returns the subscription (or the object acted on) as
** JSON in *out (caller frees with patron_free). Subscriptions are named
** by their id ("sub_..."), returned by patron_sub_create. */

/* Plans of the active config with prices and annual savings. */
PATRON_API int patron_plans_json(patron *p, char **out);
/* Creates a subscription at the plan's current price (locked in). trial:
** start with the plan's trial days. */
PATRON_API int patron_sub_create(patron *p, char **out, const char *customer,
                                 const char *plan, int trial);
/* One subscription by id, or all of a customer's when id names a customer. */
PATRON_API int patron_sub_show(patron *p, char **out, const char *id);
PATRON_API int patron_sub_cancel(patron *p, char **out, const char *sub,
                                 int at_period_end);
/* Upgrade now with proration credit, or downgrade at period end. */
PATRON_API int patron_sub_change(patron *p, char **out, const char *sub,
                                 const char *plan);
/* A temporary upgrade for days days that reverts by itself. */
PATRON_API int patron_sub_upgrade(patron *p, char **out, const char *sub,
                                  const char *plan, int64_t days);
/* Makes a temporary upgrade permanent. */
PATRON_API int patron_sub_convert(patron *p, char **out, const char *sub);
/* Moves existing subscriptions of a plan to its current price after a
** price_change_notice event and notice_days days. */
PATRON_API int patron_sub_migrate_price(patron *p, char **out, const char *plan,
                                        int64_t notice_days);
/* The host's answer to a charge_requested event. reason (on failure):
** insufficient_funds, card_expired, card_lost_stolen, limit_exceeded,
** policy_declined, processing_error. */
PATRON_API int patron_sub_charge_result(patron *p, char **out,
                                        const char *attempt, int ok,
                                        const char *reason);
typedef struct patron_payment_method {
  const char *token, *brand, *last4;
  int exp_year, exp_month;
} patron_payment_method;
/* Records the processor's token for a new payment method (never a card
** number) and retries a charge waiting for it. */
PATRON_API int patron_sub_payment_method(patron *p, char **out, const char *sub,
                                         const patron_payment_method *m);

/* ---- reports (DESIGN.md section 10) ------------------------------------ */
typedef struct patron_report_opts {
  const char *program;      /* NULL: every program (or the default) */
  int64_t from, to;         /* period [from, to); 0: open */
  const char *by;           /* "month", "week", "tier", "channel" or NULL */
  const char *touchpoint;   /* nps: NULL = all */
} patron_report_opts;
/* Runs report name (redemption, liability, clv, retention, churn, repeat,
** health, nps, crosssell, bundles, shipping, subs, budgets) into JSON. */
PATRON_API int patron_report_json(patron *p, char **out, const char *name,
                                  const patron_report_opts *o);
/* Stores an NPS answer (score 0..10) for a touchpoint (onboarding,
** support, renewal, review). */
PATRON_API int patron_nps_record(patron *p, const char *customer, int score,
                                 const char *touchpoint, const char *comment);
/* Re-prices the recorded orders of [from, to) under the configuration in
** config_path without writing anything; *out reports the differences. */
PATRON_API int patron_simulate(patron *p, char **out, const char *config_path,
                               int64_t from, int64_t to,
                               patron_progress_fn progress, void *ud);

/* ---- events outbox --------------------------------------------------- */

/* Undelivered events in order as a JSON array (type NULL: all types;
** limit <= 0: 100). Unacknowledged events are returned again. */
PATRON_API int patron_events_pull(patron *p, char **out, const char *type,
                                  int limit);
/* Marks events delivered by id. Unknown ids are NOT_FOUND. */
PATRON_API int patron_events_ack(patron *p, const int64_t *ids, size_t n);

/* ---- privacy ------------------------------------------------------------ */

/* Erases a customer's personal data and puts a pseudonym in place of their id
** in every row, in one transaction (core/erase.c). *out: JSON, caller frees.
** Errors: UNKNOWN_CUSTOMER, INVALID_INPUT (a live subscription). */
PATRON_API int patron_customer_erase(patron *p, char **out, const char *customer);

#ifdef __cplusplus
}
#endif
#endif /* PATRON_H */
