/*
** subs.h -- subscriptions and dunning inside the core. subs.c holds the
** subscription itself (create, show, cancel, change, temporary upgrades,
** price migration, plans; the card-number guard is pt_is_card_number in util.c); dunning.c holds money:
** charge attempts, the host's answers, payment methods, the dunning
** schedule and the subscription part of tick. Both share the row struct
** and the helpers below. Nothing here is public (patron.h is).
*/
#ifndef PT_SUBS_H
#define PT_SUBS_H

#include <jansson.h>

#include "config.h"

/* renewal_upcoming goes out this many days before an annual renewal. */
#define PT_RENEWAL_NOTICE_DAYS 7
#define PT_SUB_ID_MAX 40          /* "sub_" + 32 hex digits + NUL */
#define PT_SUB_TEXT_MAX 128       /* customer ids, tokens, attempt ids */
#define PT_NONE INT64_MIN         /* an absent (NULL) time or amount */

/* One subscriptions row (schema/004_subscriptions.sql). Strings are ""
** and integers PT_NONE where the column is NULL. */
typedef struct pt_sub {
  char id[PT_SUB_ID_MAX];
  char customer[PT_SUB_TEXT_MAX];
  char plan[PT_NAME_MAX];
  char status[16];
  int64_t price_cents, mrr_cents;
  char every[16];
  int64_t count;
  int64_t created_at, trial_end;
  int64_t anchor_at, period_no, period_start, period_end, renew_at;
  bool cancel_at_period_end;
  int64_t ended_at;
  char pending_plan[PT_NAME_MAX];
  int64_t pending_price_cents;
  char pending_every[16];
  int64_t pending_count;
  char temp_plan[PT_NAME_MAX];
  int64_t temp_until;
  int64_t new_price_cents, price_effective_at;
  int64_t dunning_since;
  char dunning_reason[32];
  int64_t retries, next_retry_at;
  bool awaiting_method;
  char open_attempt[37];
  int64_t reminded_for;
  int64_t payment_method;
} pt_sub;


/* Inside the caller's transaction; adds to *out. Idempotent for one now. */
int pt_subs_tick(patron *p, const pt_config *c, int64_t now,
                 patron_tick_result *out);

/* ---- shared by subs.c and dunning.c ------------------------------------ */

/* Loads a subscription; NOT_FOUND (path "subscription") if none. */
int pt_sub_load(patron *p, pt_sub *s, const char *id);
/* Writes every column of s (insert: a new row). */
int pt_sub_save(patron *p, const pt_sub *s, bool insert);
/* Appends a history row: from_status (NULL on creation) -> s->status.
** voluntary: 1, 0, or -1 for NULL. detail: a JSON object (stolen, may be
** NULL). */
int pt_sub_history(patron *p, const pt_sub *s, int64_t at,
                   const char *from_status, const char *reason, int voluntary,
                   json_t *detail);
/* Emits an event whose subject is the subscription; payload (stolen) gets
** subscription and customer added. */
int pt_sub_event(patron *p, const pt_sub *s, const char *type, int64_t at,
                 json_t *payload);
/* Start of paid period k of s (from its anchor); false on overflow. */
bool pt_sub_period_at(const pt_sub *s, int64_t k, int64_t *out);
/* *out = price as a monthly amount, floored: price x periods per year (day
** 365, week 52, month 12, year 1) / (12 x count). false on overflow. */
bool pt_sub_mrr(int64_t price_cents, const char *every, int64_t count,
                int64_t *out);
/* A time as a JSON ISO string, or null for PT_NONE. */
json_t *pt_sub_time_json(int64_t t);
/* The subscription as JSON (new reference, NULL on out of memory). */
json_t *pt_sub_json(patron *p, const pt_config *c, const pt_sub *s);

/* Ends the transaction of a public call: on success *out gets res (stolen)
** as JSON text and the transaction commits; otherwise it rolls back and
** *out is NULL. Returns rc or the commit's error. */
int pt_sub_finish(patron *p, char **out, int rc, json_t *res);

/* Subscription ids read from a statement that yields them in column 0
** (read fully before anything is written; free ids->id). */
typedef struct pt_sub_ids {
  char (*id)[PT_SUB_ID_MAX];
  size_t n, cap;
} pt_sub_ids;
int pt_sub_collect(patron *p, sqlite3_stmt *st, pt_sub_ids *ids);
/* Checks a string input: present (unless optional), at most max bytes, no
** control characters, not a card number. field names it in messages. */
int pt_sub_check_text(patron *p, const char *field, const char *s,
                      size_t max, bool optional);

/* Asks the host for a charge (charge_requested event, attempt row) of
** amount for paid period period_no [start, end) of s, and sets
** s->open_attempt (the caller saves s). amount 0 marks the period paid at
** once instead. kind: first_period, trial_end, renewal, upgrade, retry.
** *charged tells which happened (may be NULL). */
int pt_sub_request_charge(patron *p, const pt_config *c, pt_sub *s,
                          int64_t now, const char *kind, int64_t period_no,
                          int64_t start, int64_t end, int64_t amount,
                          bool *charged);
/* Marks paid period period_no [start, end) paid (status active). */
void pt_sub_mark_paid(pt_sub *s, int64_t period_no, int64_t start, int64_t end);

#endif /* PT_SUBS_H */
