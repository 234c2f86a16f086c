/*
** dunning.c -- the money side of subscriptions. patron never charges a
** card: it records a charge attempt and emits charge_requested (with an
** attempt id and an idempotency key); the host charges and answers with
** patron_sub_charge_result. This file keeps those attempts, applies the
** answers (a paid period with renewal points, or dunning), records payment
** methods (processor tokens only) and runs the subscription part of tick:
** temporary upgrades running out, dunning final actions and retries,
** renewals and trial ends, and renewal reminders.
**
** Dunning (the shop's `dunning` config). The first failed charge of a
** period makes the subscription past_due (access kept) at failure time F.
** Soft failures (insufficient_funds, limit_exceeded, processing_error) are
** retried at F + retry_days[i] for i < min(max_retries, #retry_days), a
** retry slot that has passed by the time of a failure being skipped;
** card_expired, card_lost_stolen and policy_declined are never retried
** blindly: they wait for a new payment method, which retries at once (such
** retries do not use up max_retries). Every failure emits dunning_notice.
** At F + grace_days without a successful charge the final action runs:
** suspend or cancel, with a dunning_notice (step "final") and a status
** event; retries that would fall at or after that moment are not made. A
** successful charge makes the subscription active: from past_due on its
** original schedule, from suspended on a new schedule starting at the
** payment (it had no access meanwhile). A charge that succeeds after the
** subscription ended emits refund_due.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ledger.h"
#include "subs.h"

/* One charge_attempts row. */
typedef struct attempt {
  char id[37];
  char sub[PT_SUB_ID_MAX];
  char plan[PT_NAME_MAX];
  char key[128];
  char kind[16];
  char outcome[8];          /* "" while unanswered */
  char reason[32];
  int64_t seq, period_no, period_start, period_end, amount, requested_at;
  bool is_retry;
  char *result;             /* the JSON returned for the answer (malloc) */
} attempt;

static const char *const REASONS[] = {"insufficient_funds", "card_expired",
                                      "card_lost_stolen", "limit_exceeded",
                                      "policy_declined", "processing_error", NULL};

/* A failure that a blind retry cannot fix: wait for a new payment method. */
static bool needs_new_method(const char *reason) {
  return strcmp(reason, "card_expired") == 0 || strcmp(reason, "card_lost_stolen") == 0 ||
         strcmp(reason, "policy_declined") == 0;
}

static bool is(const pt_sub *s, const char *status) {
  return strcmp(s->status, status) == 0;
}

static void set_status(pt_sub *s, const char *status) {
  snprintf(s->status, sizeof s->status, "%s", status);
}

static int load_attempt(patron *p, attempt *a, const char *id) {
  memset(a, 0, sizeof *a);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ATTEMPT_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, id);
  int r = pt_row(p, st, "read charge attempt");
  if (r > 0) {
    pt_col_text(st, 0, a->id, sizeof a->id);
    pt_col_text(st, 1, a->sub, sizeof a->sub);
    pt_col_text(st, 2, a->plan, sizeof a->plan);
    pt_col_text(st, 3, a->key, sizeof a->key);
    a->seq = sqlite3_column_int64(st, 4);
    pt_col_text(st, 5, a->kind, sizeof a->kind);
    a->is_retry = sqlite3_column_int64(st, 6) != 0;
    a->period_no = sqlite3_column_int64(st, 7);
    a->period_start = sqlite3_column_int64(st, 8);
    a->period_end = sqlite3_column_int64(st, 9);
    a->amount = sqlite3_column_int64(st, 10);
    a->requested_at = sqlite3_column_int64(st, 11);
    pt_col_text(st, 12, a->outcome, sizeof a->outcome);
    pt_col_text(st, 13, a->reason, sizeof a->reason);
    bool null = sqlite3_column_type(st, 14) == SQLITE_NULL;
    const unsigned char *res = sqlite3_column_text(st, 14);
    if (!null && !(a->result = pt_strdup((const char *)res))) r = -2;
  }
  pt_stmt_done(st);
  if (r == -1) return p->code;
  if (r == -2) return pt_err(p, PATRON_NOMEM, "out of memory");
  if (r == 0)
    return pt_err_path(p, PATRON_NOT_FOUND, "attempt", "no charge attempt '%s'", id);
  return PATRON_OK;
}

/* The subscription's latest attempt (the one a retry repeats). */
static int last_attempt(patron *p, const pt_sub *s, attempt *a) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ATTEMPT_LAST);
  if (!st) return p->code;
  pt_bind_text(st, 1, s->id);
  char id[37] = "";
  int r = pt_row(p, st, "find last charge attempt");
  if (r > 0) pt_col_text(st, 0, id, sizeof id);
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r == 0)
    return pt_err(p, PATRON_INTERNAL, "subscription %s has no charge to retry", s->id);
  return load_attempt(p, a, id);
}

static json_t *attempt_json(const attempt *a) {
  return json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:I, s:o, s:o, s:o, s:o, s:o}",
                   "id", a->id, "subscription", a->sub, "idempotency_key", a->key,
                   "attempt_number", (json_int_t)a->seq, "kind", a->kind, "retry",
                   a->is_retry, "amount_cents", (json_int_t)a->amount, "period_start",
                   pt_sub_time_json(a->period_start), "period_end",
                   pt_sub_time_json(a->period_end), "requested_at",
                   pt_sub_time_json(a->requested_at), "outcome",
                   a->outcome[0] ? json_string(a->outcome) : json_null(), "reason",
                   a->reason[0] ? json_string(a->reason) : json_null());
}

/* ---- asking for money ---------------------------------------------------- */

void pt_sub_mark_paid(pt_sub *s, int64_t period_no, int64_t start, int64_t end) {
  s->period_no = period_no;
  s->period_start = start;
  s->period_end = s->renew_at = end;
  set_status(s, "active");
  s->dunning_since = s->next_retry_at = PT_NONE;
  s->dunning_reason[0] = 0;
  s->retries = 0;
  s->awaiting_method = false;
}

/* The payment method's public part for a charge_requested payload. */
static json_t *method_brief(patron *p, const pt_sub *s) {
  if (s->payment_method == PT_NONE) return json_null();
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_PM_GET);
  if (!st) return NULL;
  sqlite3_bind_int64(st, 1, s->payment_method);
  json_t *j = NULL;
  int r = pt_row(p, st, "read payment method");
  if (r > 0)
    j = json_pack("{s:s, s:s, s:s}", "token", (const char *)sqlite3_column_text(st, 0),
                  "brand", (const char *)sqlite3_column_text(st, 1), "last4",
                  (const char *)sqlite3_column_text(st, 2));
  pt_stmt_done(st);
  return r == 0 ? json_null() : j; /* NULL: the read or the object failed */
}

int pt_sub_request_charge(patron *p, const pt_config *c, pt_sub *s, int64_t now,
                          const char *kind, int64_t period_no, int64_t start,
                          int64_t end, int64_t amount, bool *charged) {
  int rc;
  if (charged) *charged = false;
  if (amount == 0) { /* nothing to ask for: the period is paid */
    char prev[16];
    snprintf(prev, sizeof prev, "%s", s->status);
    pt_sub_mark_paid(s, period_no, start, end);
    if (strcmp(prev, s->status) != 0)
      return pt_sub_history(p, s, now, prev, "charge_ok", -1,
                            json_pack("{s:I, s:s}", "amount_cents", (json_int_t)0,
                                      "kind", kind));
    return PATRON_OK;
  }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ATTEMPT_SEQ);
  if (!st) return p->code;
  pt_bind_text(st, 1, s->id);
  sqlite3_bind_int64(st, 2, start);
  int64_t seq = 1;
  int r = pt_row(p, st, "count charge attempts");
  if (r > 0) seq = sqlite3_column_int64(st, 0) + 1;
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r == 0) return pt_err(p, PATRON_INTERNAL, "count charge attempts: no row");
  attempt a = {.seq = seq, .period_no = period_no, .period_start = start,
               .period_end = end, .amount = amount, .requested_at = now,
               .is_retry = strcmp(kind, "retry") == 0};
  char when[32];
  do pt_uuid(a.id); /* answered with it later: it must pass the card guard */
  while (pt_is_card_number(a.id));
  patron_time_format(when, sizeof when, start);
  snprintf(a.sub, sizeof a.sub, "%s", s->id);
  snprintf(a.plan, sizeof a.plan, "%s", s->plan);
  snprintf(a.kind, sizeof a.kind, "%s", kind);
  snprintf(a.key, sizeof a.key, "%s:%s:%lld", s->id, when, (long long)seq);
  if (!(st = pt_stmt(p, PT_SQL_ATTEMPT_INSERT))) return p->code;
  pt_bind_text(st, 1, a.id);
  pt_bind_text(st, 2, s->id);
  pt_bind_text(st, 3, s->customer);
  pt_bind_text(st, 4, a.plan);
  pt_bind_text(st, 5, a.key);
  sqlite3_bind_int64(st, 6, seq);
  pt_bind_text(st, 7, kind);
  sqlite3_bind_int(st, 8, a.is_retry);
  sqlite3_bind_int64(st, 9, period_no);
  sqlite3_bind_int64(st, 10, start);
  sqlite3_bind_int64(st, 11, end);
  sqlite3_bind_int64(st, 12, amount);
  sqlite3_bind_int64(st, 13, now);
  if ((rc = pt_exec_stmt(p, st, "record charge attempt"))) return rc;
  snprintf(s->open_attempt, sizeof s->open_attempt, "%s", a.id);
  json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:b, s:o, s:o, s:o}",
                         "attempt", a.id, "idempotency_key", a.key, "plan", a.plan,
                         "amount_cents", (json_int_t)amount, "currency", c->currency,
                         "kind", kind, "attempt_number", (json_int_t)seq, "retry",
                         a.is_retry, "period_start", pt_sub_time_json(start),
                         "period_end", pt_sub_time_json(end), "payment_method",
                         method_brief(p, s));
  if ((rc = pt_sub_event(p, s, "charge_requested", now, ev))) return rc;
  if (charged) *charged = true;
  return PATRON_OK;
}

/* ---- the host's answer ------------------------------------------------------ */

/* Renewal points: floor(amount / 100) x points_per_unit x the customer's
** tier multiplier (floored), in the plan's program, and tier spend. */
static int earn(patron *p, const pt_config *c, const pt_sub *s, const attempt *a,
                int64_t now, int64_t *points, const char **program) {
  *points = 0;
  *program = NULL;
  const pt_plan *pl = pt_config_plan(c, a->plan);
  if (!pl || !pl->program[0] || a->amount <= 0) return PATRON_OK;
  const pt_program *prog = NULL;
  for (size_t i = 0; i < c->nprograms; i++)
    if (strcmp(c->programs[i].name, pl->program) == 0) prog = &c->programs[i];
  if (!prog) return PATRON_OK;
  *program = prog->name;
  int rc;
  patron_balance_info b;
  if ((rc = pt_account_ensure(p, prog, s->customer, now)) ||
      (rc = pt_ledger_balance(p, prog, s->customer, now, &b)))
    return rc;
  int64_t mult = 10000, base, pts;
  for (size_t i = 0; i < prog->ntiers; i++)
    if (strcmp(prog->tiers[i].name, b.tier) == 0) mult = prog->tiers[i].multiplier_bp;
  if (!pt_mul64(a->amount / 100, prog->points_per_unit, &base) ||
      !pt_muldiv_floor(base, mult, 10000, &pts))
    return pt_err(p, PATRON_OVERFLOW, "renewal points out of range");
  if (pts > 0) {
    char source[PT_NAME_MAX + 16], why[160], when[32];
    patron_time_format(when, sizeof when, a->period_start);
    when[10] = 0;
    snprintf(source, sizeof source, "subscription:%s", a->plan);
    snprintf(why, sizeof why, "subscription %s, period from %s", s->id, when);
    pt_post e = {.customer = s->customer, .kind = PT_EARN, .points = pts, .at = now,
                 .order_ref = a->id, .source = source, .reason = why, .pending = true};
    if ((rc = pt_ledger_post(p, prog, &e, NULL))) return rc;
  }
  *points = pts;
  return pt_ledger_add_spend(p, prog, s->customer, a->amount, now, a->id);
}

static int on_success(patron *p, const pt_config *c, pt_sub *s, const attempt *a,
                      int64_t now) {
  int rc;
  char prev[16];
  snprintf(prev, sizeof prev, "%s", s->status);
  if (is(s, "canceled") || is(s, "expired")) {
    json_t *d = json_pack("{s:s, s:I, s:s}", "attempt", a->id, "amount_cents",
                          (json_int_t)a->amount, "currency", c->currency);
    if ((rc = pt_sub_history(p, s, now, prev, "refund_due", -1, json_deep_copy(d)))) {
      json_decref(d);
      return rc;
    }
    if (json_object_set_new(d, "reason", json_string("the charge succeeded after the "
                                                      "subscription ended"))) {
      json_decref(d);
      return pt_err(p, PATRON_NOMEM, "out of memory");
    }
    return pt_sub_event(p, s, "refund_due", now, d);
  }
  bool dunning = is(s, "past_due") || is(s, "suspended");
  int64_t since = s->dunning_since;
  if (is(s, "suspended")) {
    /* no access while suspended: a new schedule starts at the payment */
    s->anchor_at = now;
    int64_t end;
    if (!pt_sub_period_at(s, 1, &end)) return pt_err(p, PATRON_OVERFLOW, "period end out of range");
    pt_sub_mark_paid(s, 0, now, end);
  } else if (a->period_start >= s->period_start) {
    pt_sub_mark_paid(s, a->period_no, a->period_start, a->period_end);
  } else {
    pt_sub_mark_paid(s, s->period_no, s->period_start, s->period_end);
  }
  int64_t points;
  const char *program;
  if ((rc = earn(p, c, s, a, now, &points, &program))) return rc;
  if (strcmp(prev, s->status) != 0 &&
      (rc = pt_sub_history(p, s, now, prev, dunning ? "recovered" : "charge_ok", -1,
                           json_pack("{s:s, s:I, s:b}", "attempt", a->id, "amount_cents",
                                     (json_int_t)a->amount, "retry", a->is_retry))))
    return rc;
  if (dunning &&
      (rc = pt_sub_event(p, s, "subscription_recovered", now,
                         json_pack("{s:s, s:s, s:I, s:o, s:o}", "attempt", a->id,
                                   "from_status", prev, "amount_cents",
                                   (json_int_t)a->amount, "dunning_since",
                                   pt_sub_time_json(since), "renews_at",
                                   pt_sub_time_json(s->renew_at)))))
    return rc;
  return pt_sub_event(p, s, "charge_succeeded", now,
                      json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:I, s:o}", "attempt",
                                a->id, "plan", a->plan, "amount_cents",
                                (json_int_t)a->amount, "currency", c->currency,
                                "period_start", pt_sub_time_json(s->period_start),
                                "period_end", pt_sub_time_json(s->period_end),
                                "points_earned", (json_int_t)points, "program",
                                program ? json_string(program) : json_null()));
}

/* Number of scheduled retries a period may have. */
static int64_t retry_limit(const pt_config *c) {
  int64_t n = (int64_t)c->dunning.nretry;
  return c->dunning.max_retries < n ? c->dunning.max_retries : n;
}

/* The dunning_notice payload shared by failures and final actions. */
static json_t *notice(const pt_config *c, const pt_sub *s, const char *step,
                      int64_t final_at) {
  int64_t left = retry_limit(c) - s->retries;
  return json_pack("{s:s, s:s, s:o, s:I, s:I, s:o, s:b, s:s, s:o, s:s}", "step", step,
                   "reason", s->dunning_reason, "dunning_since",
                   pt_sub_time_json(s->dunning_since), "retries_done",
                   (json_int_t)s->retries, "retries_left",
                   (json_int_t)(left > 0 && !s->awaiting_method ? left : 0),
                   "next_retry_at", pt_sub_time_json(s->next_retry_at),
                   "awaiting_payment_method", s->awaiting_method, "final_action",
                   c->dunning.final_action, "final_action_at",
                   pt_sub_time_json(final_at), "status", s->status);
}

static int on_failure(patron *p, const pt_config *c, pt_sub *s, const attempt *a,
                      const char *reason, int64_t now) {
  int rc;
  char prev[16];
  snprintf(prev, sizeof prev, "%s", s->status);
  if (is(s, "canceled") || is(s, "expired")) return PATRON_OK; /* recorded only */
  snprintf(s->dunning_reason, sizeof s->dunning_reason, "%s", reason);
  int64_t final_at = PT_NONE;
  if (is(s, "suspended")) {
    s->awaiting_method = true; /* another method may still bring it back */
    s->next_retry_at = PT_NONE;
  } else {
    if (!is(s, "past_due")) {
      set_status(s, "past_due");
      s->dunning_since = now;
      s->retries = 0;
      if ((rc = pt_sub_history(p, s, now, prev, "charge_failed", -1,
                               json_pack("{s:s, s:s}", "attempt", a->id, "reason", reason))))
        return rc;
    }
    if (!pt_add64(s->dunning_since, c->dunning.grace_days * PT_DAY, &final_at))
      return pt_err(p, PATRON_OVERFLOW, "grace period out of range");
    s->next_retry_at = PT_NONE;
    s->awaiting_method = needs_new_method(reason);
    if (!s->awaiting_method) {
      int64_t limit = retry_limit(c);
      /* a slot that passed while the answer or a new method was awaited
      ** is skipped: retries keep to the offsets from the first failure */
      while (s->retries < limit &&
             s->dunning_since + c->dunning.retry_days[s->retries] * PT_DAY <= now)
        s->retries++;
      if (s->retries < limit) {
        int64_t next = s->dunning_since + c->dunning.retry_days[s->retries] * PT_DAY;
        if (next < final_at) s->next_retry_at = next;
      }
    }
  }
  json_t *ev = notice(c, s, "failed", final_at);
  if (ev && (json_object_set_new(ev, "attempt", json_string(a->id)) ||
             json_object_set_new(ev, "attempt_number", json_integer(a->seq)) ||
             json_object_set_new(ev, "amount_cents", json_integer(a->amount)) ||
             json_object_set_new(ev, "currency", json_string(c->currency)))) {
    json_decref(ev);
    ev = NULL; /* pt_sub_event: out of memory */
  }
  return pt_sub_event(p, s, "dunning_notice", now, ev);
}

static bool known_reason(const char *reason) {
  for (int i = 0; REASONS[i]; i++)
    if (strcmp(REASONS[i], reason) == 0) return true;
  return false;
}

int patron_sub_charge_result(patron *p, char **out, const char *attempt_id, int ok,
                             const char *reason) {
  *out = NULL;
  pt_ok(p);
  int rc;
  if ((rc = pt_sub_check_text(p, "attempt", attempt_id, PT_SUB_TEXT_MAX - 1, false)) ||
      (rc = pt_sub_check_text(p, "reason", reason, 31, ok != 0)))
    return rc;
  if (ok && reason && *reason)
    return pt_err_path(p, PATRON_INVALID_INPUT, "reason",
                       "a successful charge takes no failure reason");
  if (!ok && !known_reason(reason))
    return pt_err_path(p, PATRON_INVALID_INPUT, "reason",
                       "reason must be one of insufficient_funds, card_expired, "
                       "card_lost_stolen, limit_exceeded, policy_declined, "
                       "processing_error; got '%s'", reason);
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  if ((rc = pt_begin(p))) return rc;
  attempt a;
  pt_sub s;
  json_t *res = NULL;
  char *text = NULL;
  int64_t now = patron_now(p);
  if ((rc = load_attempt(p, &a, attempt_id))) goto fail;
  if (a.outcome[0]) { /* answered before: the same answer gets the same result */
    bool same = ok ? strcmp(a.outcome, "ok") == 0
                   : strcmp(a.outcome, "failed") == 0 && strcmp(a.reason, reason) == 0;
    if (!same) {
      rc = pt_err_path(p, PATRON_CONFLICT, "attempt",
                       "charge attempt %s was already answered %s%s%s; a different "
                       "answer is refused", a.id, a.outcome, a.reason[0] ? ": " : "",
                       a.reason);
      goto fail;
    }
    if (!a.result) {
      rc = pt_err(p, PATRON_INTERNAL, "charge attempt %s has no recorded result", a.id);
      goto fail;
    }
    *out = a.result;
    a.result = NULL;
    pt_rollback(p); /* nothing was written */
    return PATRON_OK;
  }
  if ((rc = pt_sub_load(p, &s, a.sub))) goto fail;
  if (strcmp(s.open_attempt, a.id) == 0) s.open_attempt[0] = 0;
  snprintf(a.outcome, sizeof a.outcome, "%s", ok ? "ok" : "failed");
  snprintf(a.reason, sizeof a.reason, "%s", ok ? "" : reason);
  if ((rc = ok ? on_success(p, c, &s, &a, now) : on_failure(p, c, &s, &a, reason, now)) ||
      (rc = pt_sub_save(p, &s, false)))
    goto fail;
  res = json_pack("{s:o, s:o}", "attempt", attempt_json(&a), "subscription",
                  pt_sub_json(p, c, &s));
  if (!res || !(text = pt_json_dumps(res, JSON_COMPACT))) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ATTEMPT_ANSWER);
  if (!st) {
    rc = p->code;
    goto fail;
  }
  pt_bind_text(st, 1, a.id);
  pt_bind_text(st, 2, a.outcome);
  if (ok) sqlite3_bind_null(st, 3);
  else pt_bind_text(st, 3, reason);
  sqlite3_bind_int64(st, 4, now);
  pt_bind_text(st, 5, text);
  if ((rc = pt_exec_stmt(p, st, "record charge result"))) goto fail;
  if ((rc = pt_commit(p))) goto fail_committed;
  json_decref(res);
  free(a.result);
  *out = text;
  return PATRON_OK;
fail:
  pt_rollback(p);
fail_committed:
  json_decref(res);
  free(text);
  free(a.result);
  return rc;
}

/* ---- payment methods ----------------------------------------------------- */

static bool all_digits(const char *s, size_t n) {
  if (strlen(s) != n) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static int check_method(patron *p, const patron_payment_method *m, int64_t now) {
  int rc;
  if (!m) return pt_err(p, PATRON_INVALID_INPUT, "no payment method given");
  if ((rc = pt_sub_check_text(p, "token", m->token, 255, false)) ||
      (rc = pt_sub_check_text(p, "brand", m->brand, 32, false)) ||
      (rc = pt_sub_check_text(p, "last4", m->last4, 4, false)))
    return rc;
  if (!all_digits(m->last4, 4))
    return pt_err_path(p, PATRON_INVALID_INPUT, "last4", "last4 must be exactly 4 digits");
  for (const char *q = m->brand; *q; q++)
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
          *q == ' ' || *q == '-' || *q == '_'))
      return pt_err_path(p, PATRON_INVALID_INPUT, "brand",
                         "brand may hold letters, digits, spaces, '-' and '_' only");
  if (m->exp_month < 1 || m->exp_month > 12)
    return pt_err_path(p, PATRON_INVALID_INPUT, "exp_month",
                       "expiry month must be 1 to 12, got %d", m->exp_month);
  if (m->exp_year < 2000 || m->exp_year > 9999)
    return pt_err_path(p, PATRON_INVALID_INPUT, "exp_year",
                       "expiry year must be 2000 to 9999, got %d", m->exp_year);
  char today[32];
  patron_time_format(today, sizeof today, now);
  int y = atoi(today), mo = atoi(today + 5);
  if (m->exp_year * 12 + m->exp_month < y * 12 + mo)
    return pt_err_path(p, PATRON_INVALID_INPUT, "exp_year",
                       "the payment method expired in %04d-%02d", m->exp_year, m->exp_month);
  return PATRON_OK;
}

int patron_sub_payment_method(patron *p, char **out, const char *sub,
                              const patron_payment_method *m) {
  *out = NULL;
  pt_ok(p);
  int rc;
  int64_t now = patron_now(p);
  if ((rc = pt_sub_check_text(p, "subscription", sub, PT_SUB_TEXT_MAX - 1, false)) ||
      (rc = check_method(p, m, now)))
    return rc;
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  if ((rc = pt_begin(p))) return rc;
  pt_sub s;
  attempt a = {0};
  json_t *res = NULL;
  bool retried = false;
  if ((rc = pt_sub_load(p, &s, sub))) goto done;
  if (is(&s, "canceled") || is(&s, "expired")) {
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                     "subscription %s is %s: it takes no payment method", s.id, s.status);
    goto done;
  }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_PM_INSERT);
  if (!st) {
    rc = p->code;
    goto done;
  }
  pt_bind_text(st, 1, s.id);
  pt_bind_text(st, 2, s.customer);
  pt_bind_text(st, 3, m->token);
  pt_bind_text(st, 4, m->brand);
  pt_bind_text(st, 5, m->last4);
  sqlite3_bind_int(st, 6, m->exp_month);
  sqlite3_bind_int(st, 7, m->exp_year);
  sqlite3_bind_int64(st, 8, now);
  if ((rc = pt_exec_stmt(p, st, "record payment method"))) goto done;
  s.payment_method = sqlite3_last_insert_rowid(p->db);
  if ((rc = pt_sub_event(p, &s, "payment_method_updated", now,
                         json_pack("{s:s, s:s, s:i, s:i}", "brand", m->brand, "last4",
                                   m->last4, "exp_month", m->exp_month, "exp_year",
                                   m->exp_year))))
    goto done;
  /* in dunning and no charge in flight: try the new method at once */
  if ((is(&s, "past_due") || is(&s, "suspended")) && !s.open_attempt[0]) {
    if ((rc = last_attempt(p, &s, &a))) goto done;
    s.awaiting_method = false;
    s.next_retry_at = PT_NONE;
    if ((rc = pt_sub_request_charge(p, c, &s, now, "retry", a.period_no, a.period_start,
                                    a.period_end, a.amount, &retried)))
      goto done;
  }
  if ((rc = pt_sub_save(p, &s, false))) goto done;
  res = pt_sub_json(p, c, &s);
  if (!res || json_object_set_new(res, "retry_attempt",
                                  retried ? json_string(s.open_attempt) : json_null())) {
    json_decref(res);
    res = NULL;
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
  }
done:
  free(a.result);
  return pt_sub_finish(p, out, rc, res);
}

/* ---- tick ------------------------------------------------------------------- */

/* Ids a due-statement yields for its bindings (a1 and a2; a2 PT_NONE =
** unbound). */
static int due(patron *p, enum pt_sql_id id, int64_t a1, int64_t a2, pt_sub_ids *ids) {
  sqlite3_stmt *st = pt_stmt(p, id);
  if (!st) return p->code;
  sqlite3_bind_int64(st, 1, a1);
  if (a2 != PT_NONE) sqlite3_bind_int64(st, 2, a2);
  return pt_sub_collect(p, st, ids);
}

static int tick_temp(patron *p, int64_t now, pt_sub_ids *ids, patron_tick_result *out) {
  int rc = due(p, PT_SQL_SUB_DUE_TEMP, now, PT_NONE, ids);
  for (size_t i = 0; rc == PATRON_OK && i < ids->n; i++) {
    pt_sub s;
    if ((rc = pt_sub_load(p, &s, ids->id[i]))) break;
    char was[PT_NAME_MAX];
    snprintf(was, sizeof was, "%s", s.temp_plan);
    json_t *d = json_pack("{s:s, s:s, s:o}", "plan", was, "back_to", s.plan, "until",
                          pt_sub_time_json(s.temp_until));
    s.temp_plan[0] = 0;
    s.temp_until = PT_NONE;
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, s.status, "temp_upgrade_ended", -1,
                             json_deep_copy(d)))) {
      json_decref(d);
      break;
    }
    if ((rc = pt_sub_event(p, &s, "temporary_upgrade_ended", now, d))) break;
    out->upgrades_reverted++;
  }
  return rc;
}

static int tick_final(patron *p, const pt_config *c, int64_t now, pt_sub_ids *ids,
                      patron_tick_result *out) {
  int64_t cutoff;
  if (!pt_sub64(now, c->dunning.grace_days * PT_DAY, &cutoff))
    return pt_err(p, PATRON_OVERFLOW, "grace period out of range");
  int rc = due(p, PT_SQL_SUB_DUE_FINAL, cutoff, PT_NONE, ids);
  bool cancel = strcmp(c->dunning.final_action, "cancel") == 0;
  for (size_t i = 0; rc == PATRON_OK && i < ids->n; i++) {
    pt_sub s;
    if ((rc = pt_sub_load(p, &s, ids->id[i]))) break;
    int64_t final_at = s.dunning_since + c->dunning.grace_days * PT_DAY;
    set_status(&s, cancel ? "canceled" : "suspended");
    s.next_retry_at = PT_NONE;
    s.awaiting_method = false;
    if (cancel) {
      s.ended_at = now;
      s.cancel_at_period_end = false;
      s.pending_plan[0] = s.pending_every[0] = s.temp_plan[0] = 0;
      s.pending_price_cents = s.pending_count = s.temp_until = PT_NONE;
      s.new_price_cents = s.price_effective_at = PT_NONE;
    }
    json_t *n = notice(c, &s, "final", final_at);
    if (n && json_object_set_new(n, "action", json_string(c->dunning.final_action))) {
      json_decref(n);
      n = NULL; /* pt_sub_event: out of memory */
    }
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, "past_due",
                             cancel ? "dunning_cancel" : "dunning_suspend", 0,
                             json_pack("{s:s, s:o}", "reason", s.dunning_reason,
                                       "dunning_since", pt_sub_time_json(s.dunning_since))))) {
      json_decref(n);
      break;
    }
    if ((rc = pt_sub_event(p, &s, "dunning_notice", now, n)) ||
        (rc = pt_sub_event(p, &s, cancel ? "subscription_canceled" : "subscription_suspended",
                           now,
                           json_pack("{s:s, s:b, s:s, s:o}", "reason", "dunning",
                                     "voluntary", 0, "failure_reason", s.dunning_reason,
                                     "dunning_since", pt_sub_time_json(s.dunning_since)))))
      break;
    out->dunning_steps++;
  }
  return rc;
}

static int tick_retry(patron *p, const pt_config *c, int64_t now, pt_sub_ids *ids,
                      patron_tick_result *out) {
  int rc = due(p, PT_SQL_SUB_DUE_RETRY, now, PT_NONE, ids);
  for (size_t i = 0; rc == PATRON_OK && i < ids->n; i++) {
    pt_sub s;
    attempt a = {0};
    bool charged = false;
    if ((rc = pt_sub_load(p, &s, ids->id[i])) || (rc = last_attempt(p, &s, &a))) {
      free(a.result);
      break;
    }
    free(a.result);
    s.retries++;
    s.next_retry_at = PT_NONE;
    if ((rc = pt_sub_request_charge(p, c, &s, now, "retry", a.period_no, a.period_start,
                                    a.period_end, a.amount, &charged)) ||
        (rc = pt_sub_save(p, &s, false)))
      break;
    if (charged) out->charges_requested++;
  }
  return rc;
}

/* At renew_at: a scheduled plan change, then an announced price. */
static int apply_scheduled(patron *p, pt_sub *s, int64_t now) {
  int rc;
  if (s->pending_plan[0]) {
    char from[PT_NAME_MAX];
    int64_t mrr;
    snprintf(from, sizeof from, "%s", s->plan);
    if (!pt_sub_mrr(s->pending_price_cents, s->pending_every, s->pending_count, &mrr))
      return pt_err(p, PATRON_OVERFLOW, "price of plan %s out of range", s->pending_plan);
    snprintf(s->plan, sizeof s->plan, "%s", s->pending_plan);
    snprintf(s->every, sizeof s->every, "%s", s->pending_every);
    s->price_cents = s->pending_price_cents;
    s->count = s->pending_count;
    s->mrr_cents = mrr;
    s->anchor_at = s->renew_at; /* the new plan's schedule starts here */
    s->period_no = -1;
    if (strcmp(s->temp_plan, s->plan) == 0) {
      s->temp_plan[0] = 0;
      s->temp_until = PT_NONE;
    }
    s->pending_plan[0] = s->pending_every[0] = 0;
    s->pending_price_cents = s->pending_count = PT_NONE;
    s->new_price_cents = s->price_effective_at = PT_NONE; /* was for the old plan */
    json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "from_plan", from, "to_plan", s->plan,
                          "price_cents", (json_int_t)s->price_cents, "when", "renewal");
    if ((rc = pt_sub_history(p, s, now, s->status, "plan_changed", -1, json_deep_copy(d)))) {
      json_decref(d);
      return rc;
    }
    if ((rc = pt_sub_event(p, s, "plan_changed", now, d))) return rc;
  }
  if (s->new_price_cents != PT_NONE && s->price_effective_at <= s->renew_at) {
    int64_t old = s->price_cents, mrr;
    if (!pt_sub_mrr(s->new_price_cents, s->every, s->count, &mrr))
      return pt_err(p, PATRON_OVERFLOW, "price out of range");
    s->price_cents = s->new_price_cents;
    s->mrr_cents = mrr;
    s->new_price_cents = s->price_effective_at = PT_NONE;
    json_t *d = json_pack("{s:I, s:I, s:o}", "old_price_cents", (json_int_t)old,
                          "new_price_cents", (json_int_t)s->price_cents, "at",
                          pt_sub_time_json(s->renew_at));
    if ((rc = pt_sub_history(p, s, now, s->status, "price_changed", -1, json_deep_copy(d)))) {
      json_decref(d);
      return rc;
    }
    if ((rc = pt_sub_event(p, s, "price_changed", now, d))) return rc;
  }
  return PATRON_OK;
}

static int renew_one(patron *p, const pt_config *c, pt_sub *s, int64_t now,
                     patron_tick_result *out) {
  int rc;
  /* free periods are paid at once: go on until one is charged or not due */
  for (int guard = 0; guard < 10000; guard++) {
    if (!(is(s, "active") || is(s, "trialing")) || s->open_attempt[0] || s->renew_at > now)
      return PATRON_OK;
    char prev[16];
    snprintf(prev, sizeof prev, "%s", s->status);
    if (s->cancel_at_period_end) {
      set_status(s, "expired");
      s->ended_at = s->renew_at;
      s->cancel_at_period_end = false;
      s->temp_plan[0] = 0;
      s->temp_until = s->new_price_cents = s->price_effective_at = PT_NONE;
      if ((rc = pt_sub_history(p, s, now, prev, "period_end", 1, json_object()))) return rc;
      return pt_sub_event(p, s, "subscription_expired", now,
                          json_pack("{s:o, s:s, s:b}", "ended_at",
                                    pt_sub_time_json(s->ended_at), "reason",
                                    "canceled at period end", "voluntary", 1));
    }
    bool trial = is(s, "trialing");
    if ((rc = apply_scheduled(p, s, now))) return rc;
    int64_t k = s->period_no + 1, start, end;
    bool charged;
    if (!pt_sub_period_at(s, k, &start) || !pt_sub_period_at(s, k + 1, &end))
      return pt_err(p, PATRON_OVERFLOW, "period of %s out of range", s->id);
    if ((rc = pt_sub_request_charge(p, c, s, now, trial ? "trial_end" : "renewal", k, start,
                                    end, s->price_cents, &charged)))
      return rc;
    if (trial) out->trials_ended++;
    if (charged) out->charges_requested++;
  }
  return pt_err(p, PATRON_INTERNAL, "subscription %s: too many free periods at once", s->id);
}

static int tick_renew(patron *p, const pt_config *c, int64_t now, pt_sub_ids *ids,
                      patron_tick_result *out) {
  int rc = due(p, PT_SQL_SUB_DUE_RENEW, now, PT_NONE, ids);
  for (size_t i = 0; rc == PATRON_OK && i < ids->n; i++) {
    pt_sub s;
    if ((rc = pt_sub_load(p, &s, ids->id[i])) || (rc = renew_one(p, c, &s, now, out)) ||
        (rc = pt_sub_save(p, &s, false)))
      break;
  }
  return rc;
}

static int tick_remind(patron *p, const pt_config *c, int64_t now, pt_sub_ids *ids,
                       patron_tick_result *out) {
  int64_t until;
  if (!pt_add64(now, PT_RENEWAL_NOTICE_DAYS * PT_DAY, &until))
    return pt_err(p, PATRON_OVERFLOW, "time out of range");
  int rc = due(p, PT_SQL_SUB_DUE_REMIND, now, until, ids);
  for (size_t i = 0; rc == PATRON_OK && i < ids->n; i++) {
    pt_sub s;
    if ((rc = pt_sub_load(p, &s, ids->id[i]))) break;
    /* what the renewal will charge: a scheduled plan, an announced price */
    const char *plan = s.pending_plan[0] ? s.pending_plan : s.plan;
    int64_t amount = s.pending_plan[0] ? s.pending_price_cents
                     : s.new_price_cents != PT_NONE && s.price_effective_at <= s.renew_at
                         ? s.new_price_cents
                         : s.price_cents;
    s.reminded_for = s.renew_at;
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_event(p, &s, "renewal_upcoming", now,
                           json_pack("{s:s, s:o, s:I, s:s, s:i, s:b}", "plan", plan,
                                     "renews_at", pt_sub_time_json(s.renew_at),
                                     "amount_cents", (json_int_t)amount, "currency",
                                     c->currency, "days_before", PT_RENEWAL_NOTICE_DAYS,
                                     "trial", strcmp(s.status, "trialing") == 0))))
      break;
    out->renewal_reminders++;
  }
  return rc;
}

int pt_subs_tick(patron *p, const pt_config *c, int64_t now, patron_tick_result *out) {
  pt_sub_ids ids = {0};
  int rc;
  (void)((rc = tick_temp(p, now, &ids, out)) || (rc = tick_final(p, c, now, &ids, out)) ||
         (rc = tick_retry(p, c, now, &ids, out)) || (rc = tick_renew(p, c, now, &ids, out)) ||
         (rc = tick_remind(p, c, now, &ids, out)));
  free(ids.id);
  return rc;
}
