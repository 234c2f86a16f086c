/*
** ledger.h -- the points ledger inside the core: accounts per (program,
** customer), append-only entries, lots for expiry, tier-qualifying spend.
** Every function here runs inside the caller's transaction (pt_begin) and
** keeps accounts.points equal to the sum of the account's entries.
*/
#ifndef PT_LEDGER_H
#define PT_LEDGER_H

#include "config.h"

typedef enum pt_kind {
  PT_EARN,    /* points issued for a purchase (or a bonus) */
  PT_REDEEM,  /* points spent on an order (negative) */
  PT_EXPIRE,  /* points that reached their expiry (negative) */
  PT_ADJUST,  /* manual or imported correction (either sign) */
  PT_REVERSE  /* refund: earned points taken back or redeemed given back */
} pt_kind;

const char *pt_kind_name(pt_kind k);

typedef struct pt_post {
  const char *customer;
  pt_kind kind;
  int64_t points;          /* signed: positive adds, negative takes */
  int64_t at;              /* entry time */
  const char *order_ref;   /* NULL if none */
  const char *source;      /* "order", "bundle:x", "plugin:x", "manual", "import" */
  const char *reason;      /* human text, may be NULL */
  bool pending;            /* positive: not spendable for prog->pending_days */
  bool allow_negative;     /* negative: may take the balance below zero
                              (refund clawback); otherwise the spendable
                              balance must cover it (INSUFFICIENT_POINTS) */
} pt_post;

/* Creates the customer row if missing. */
int pt_customer_ensure(patron *p, const char *customer, int64_t at);
/* Creates the account if missing (customer must exist), tier = lowest. */
int pt_account_ensure(patron *p, const pt_program *prog, const char *customer,
                      int64_t at);
/* Appends an entry and moves lots and the balance with it. uuid_out (may
** be NULL) receives the entry uuid. */
int pt_ledger_post(patron *p, const pt_program *prog, const pt_post *e,
                   char uuid_out[37]);
/* Records tier-qualifying spend (negative for refunds) and re-evaluates the
** tier at time at, emitting tier_changed if it moved. */
int pt_ledger_add_spend(patron *p, const pt_program *prog, const char *customer,
                        int64_t cents, int64_t at, const char *order_ref);
/* Re-evaluates the tier of one account at time at; *changed set if moved. */
int pt_ledger_retier(patron *p, const pt_program *prog, const char *customer,
                     int64_t at, bool *changed);
/* *found = an entry with this order_ref exists in the account. */
int pt_ledger_has_ref(patron *p, const pt_program *prog, const char *customer,
                      const char *order_ref, bool *found);
/* Balance of one account at time now (points, spendable, pending, spend,
** tier). NOT_FOUND-free: a missing account reads as zero. */
int pt_ledger_balance(patron *p, const pt_program *prog, const char *customer,
                      int64_t now, patron_balance_info *out);

/* The ledger part of tick at time now (expiry, expiry notices, tier
** windows), inside the caller's transaction; adds to *out. */
int pt_ledger_tick(patron *p, const pt_config *c, int64_t now,
                   patron_tick_result *out);

#endif /* PT_LEDGER_H */
