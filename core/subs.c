/*
** subs.c -- subscriptions (DESIGN.md section 9): creating one at its
** plan's current price, which it keeps (grandfathering); showing;
** cancelling now or at the end of the period; changing plan; temporary
** upgrades and their conversion; announced price migrations; the plan list
** with annual savings; and the card-number guard every string input goes
** through. Charging, the host's answers, dunning and tick are dunning.c's.
**
** Plan change (sub change). Plans are compared by price per year:
** price x periods per year (day 365, week 52, month 12, year 1) / count.
**   - higher (an upgrade) takes effect now, with a proration credit for the
**     unused part of the current paid period:
**       credit = floor(locked_price * remaining_seconds / period_seconds)
**       remaining_seconds = period_end - now (0 if the period is over),
**       period_seconds = period_end - period_start;
**     the new plan's period starts now and its first charge is
**       charge = max(0, new_price - credit)
**     (no charge_requested when it is 0);
**   - lower or equal (a downgrade) is scheduled for the end of the period;
**   - during a trial either takes effect at once; nothing is charged before
**     the trial ends.
** A temporary upgrade (sub upgrade --to P --days N) gives access to P for N
** days at no charge and reverts by itself at tick; sub convert makes it
** permanent: P (at its price when converted) is billed from the next
** renewal, and access to P continues until then.
** A price migration (sub migrate-price) announces the plan's current price
** to each existing subscriber (price_change_notice) and applies it at the
** first renewal on or after now + notice days; never without the notice.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ledger.h"
#include "subs.h"

int pt_sub_check_text(patron *p, const char *field, const char *s, size_t max,
                      bool optional) {
  if (!s || !*s) {
    if (optional) return PATRON_OK;
    return pt_err_path(p, PATRON_INVALID_INPUT, field, "%s is required", field);
  }
  /* first, so that no other message can echo the digits */
  if (pt_is_card_number(s))
    return pt_err_path(p, PATRON_INVALID_INPUT, field,
                       "%s looks like a payment card number; patron never stores "
                       "card numbers (pass the payment processor's token)", field);
  size_t n = strlen(s);
  if (n > max)
    return pt_err_path(p, PATRON_INVALID_INPUT, field,
                       "%s must be at most %zu bytes, got %zu", field, max, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f)
      return pt_err_path(p, PATRON_INVALID_INPUT, field,
                         "%s must not contain control characters", field);
  }
  return PATRON_OK;
}

/* ---- rows --------------------------------------------------------------- */

static void bind_i(sqlite3_stmt *st, int i, int64_t v) {
  if (v == PT_NONE) sqlite3_bind_null(st, i);
  else sqlite3_bind_int64(st, i, v);
}

static void bind_s(sqlite3_stmt *st, int i, const char *s) {
  if (!s || !*s) sqlite3_bind_null(st, i);
  else pt_bind_text(st, i, s);
}

static int64_t col_i(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? PT_NONE
                                                   : sqlite3_column_int64(st, i);
}

int pt_sub_load(patron *p, pt_sub *s, const char *id) {
  memset(s, 0, sizeof *s);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SUB_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, id);
  int r = pt_row(p, st, "read subscription");
  if (r > 0) {
    pt_col_text(st, 0, s->id, sizeof s->id);
    pt_col_text(st, 1, s->customer, sizeof s->customer);
    pt_col_text(st, 2, s->plan, sizeof s->plan);
    pt_col_text(st, 3, s->status, sizeof s->status);
    s->price_cents = col_i(st, 4);
    s->mrr_cents = col_i(st, 5);
    pt_col_text(st, 6, s->every, sizeof s->every);
    s->count = col_i(st, 7);
    s->created_at = col_i(st, 8);
    s->trial_end = col_i(st, 9);
    s->anchor_at = col_i(st, 10);
    s->period_no = col_i(st, 11);
    s->period_start = col_i(st, 12);
    s->period_end = col_i(st, 13);
    s->renew_at = col_i(st, 14);
    s->cancel_at_period_end = sqlite3_column_int64(st, 15) != 0;
    s->ended_at = col_i(st, 16);
    pt_col_text(st, 17, s->pending_plan, sizeof s->pending_plan);
    s->pending_price_cents = col_i(st, 18);
    pt_col_text(st, 19, s->pending_every, sizeof s->pending_every);
    s->pending_count = col_i(st, 20);
    pt_col_text(st, 21, s->temp_plan, sizeof s->temp_plan);
    s->temp_until = col_i(st, 22);
    s->new_price_cents = col_i(st, 23);
    s->price_effective_at = col_i(st, 24);
    s->dunning_since = col_i(st, 25);
    pt_col_text(st, 26, s->dunning_reason, sizeof s->dunning_reason);
    s->retries = sqlite3_column_int64(st, 27);
    s->next_retry_at = col_i(st, 28);
    s->awaiting_method = sqlite3_column_int64(st, 29) != 0;
    pt_col_text(st, 30, s->open_attempt, sizeof s->open_attempt);
    s->reminded_for = col_i(st, 31);
    s->payment_method = col_i(st, 32);
  }
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r == 0)
    return pt_err_path(p, PATRON_NOT_FOUND, "subscription", "no subscription '%s'", id);
  return PATRON_OK;
}

int pt_sub_save(patron *p, const pt_sub *s, bool insert) {
  sqlite3_stmt *st = pt_stmt(p, insert ? PT_SQL_SUB_INSERT : PT_SQL_SUB_UPDATE);
  if (!st) return p->code;
  bind_s(st, 1, s->id);
  bind_s(st, 2, s->customer);
  bind_s(st, 3, s->plan);
  bind_s(st, 4, s->status);
  bind_i(st, 5, s->price_cents);
  bind_i(st, 6, s->mrr_cents);
  bind_s(st, 7, s->every);
  bind_i(st, 8, s->count);
  bind_i(st, 9, s->created_at);
  bind_i(st, 10, s->trial_end);
  bind_i(st, 11, s->anchor_at);
  bind_i(st, 12, s->period_no);
  bind_i(st, 13, s->period_start);
  bind_i(st, 14, s->period_end);
  bind_i(st, 15, s->renew_at);
  sqlite3_bind_int(st, 16, s->cancel_at_period_end);
  bind_i(st, 17, s->ended_at);
  bind_s(st, 18, s->pending_plan);
  bind_i(st, 19, s->pending_price_cents);
  bind_s(st, 20, s->pending_every);
  bind_i(st, 21, s->pending_count);
  bind_s(st, 22, s->temp_plan);
  bind_i(st, 23, s->temp_until);
  bind_i(st, 24, s->new_price_cents);
  bind_i(st, 25, s->price_effective_at);
  bind_i(st, 26, s->dunning_since);
  bind_s(st, 27, s->dunning_reason);
  sqlite3_bind_int64(st, 28, s->retries);
  bind_i(st, 29, s->next_retry_at);
  sqlite3_bind_int(st, 30, s->awaiting_method);
  bind_s(st, 31, s->open_attempt);
  bind_i(st, 32, s->reminded_for);
  bind_i(st, 33, s->payment_method);
  return pt_exec_stmt(p, st, insert ? "add subscription" : "update subscription");
}

static char *dump(json_t *j) {
  return pt_json_dumps(j, JSON_COMPACT);
}

int pt_sub_history(patron *p, const pt_sub *s, int64_t at, const char *from_status,
                   const char *reason, int voluntary, json_t *detail) {
  char *text = dump(detail); /* NULL detail: its constructor failed */
  json_decref(detail);
  if (!text) return pt_err(p, PATRON_NOMEM, "out of memory");
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SUB_HISTORY_INSERT);
  if (!st) {
    free(text);
    return p->code;
  }
  pt_bind_text(st, 1, s->id);
  pt_bind_text(st, 2, s->customer);
  sqlite3_bind_int64(st, 3, at);
  bind_s(st, 4, from_status);
  pt_bind_text(st, 5, s->status);
  pt_bind_text(st, 6, reason);
  if (voluntary < 0) sqlite3_bind_null(st, 7);
  else sqlite3_bind_int(st, 7, voluntary);
  pt_bind_text(st, 8, s->plan);
  sqlite3_bind_int64(st, 9, s->price_cents);
  sqlite3_bind_int64(st, 10, s->mrr_cents);
  pt_bind_text(st, 11, text);
  int rc = pt_exec_stmt(p, st, "record subscription history");
  free(text); /* bound without a copy: freed after the step */
  return rc;
}

int pt_sub_event(patron *p, const pt_sub *s, const char *type, int64_t at,
                 json_t *payload) {
  /* a NULL payload is a constructor that failed: never an event without it */
  json_t *o = payload ? json_pack("{s:s, s:s}", "subscription", s->id, "customer",
                                  s->customer)
                      : NULL;
  if (o && json_object_update(o, payload)) {
    json_decref(o);
    o = NULL;
  }
  json_decref(payload);
  char *text = dump(o);
  json_decref(o);
  if (!text) return pt_err(p, PATRON_NOMEM, "out of memory");
  int rc = pt_event_emit(p, type, s->id, at, text);
  free(text);
  return rc;
}

json_t *pt_sub_time_json(int64_t t) {
  if (t == PT_NONE) return json_null();
  char buf[32];
  patron_time_format(buf, sizeof buf, t);
  return json_string(buf);
}

/* ---- time and money ---------------------------------------------------- */

/* t + n periods of every (day, week, month, year); false on overflow. */
static bool add_every(int64_t t, const char *every, int64_t n, int64_t *out) {
  if (strcmp(every, "day") == 0 || strcmp(every, "week") == 0) {
    int64_t secs;
    return pt_mul64(n, every[0] == 'd' ? PT_DAY : 7 * PT_DAY, &secs) &&
           pt_add64(t, secs, out);
  }
  int64_t months = n;
  if (strcmp(every, "year") == 0 && !pt_mul64(n, 12, &months)) return false;
  if (months > 120000 || months < -120000) return false; /* 10000 years */
  *out = pt_add_months(t, (int)months);
  return true;
}

bool pt_sub_period_at(const pt_sub *s, int64_t k, int64_t *out) {
  int64_t n;
  return pt_mul64(k, s->count, &n) && add_every(s->anchor_at, s->every, n, out);
}

static int64_t per_year(const char *every) {
  switch (every[0]) {
  case 'd': return 365;
  case 'w': return 52;
  case 'm': return 12;
  default: return 1;
  }
}

bool pt_sub_mrr(int64_t price, const char *every, int64_t count, int64_t *out) {
  int64_t den;
  return pt_mul64(12, count, &den) &&
         pt_muldiv_floor(price, per_year(every), den, out);
}

/* <0, 0, >0 as plan a costs less, the same, more per year than plan b. */
static int cmp_per_year(int64_t a_price, const char *a_every, int64_t a_count,
                        int64_t b_price, const char *b_every, int64_t b_count) {
  __int128 a = (__int128)a_price * per_year(a_every) * b_count;
  __int128 b = (__int128)b_price * per_year(b_every) * a_count;
  return a < b ? -1 : a > b;
}

static bool is(const pt_sub *s, const char *status) {
  return strcmp(s->status, status) == 0;
}

static bool ended(const pt_sub *s) { return is(s, "canceled") || is(s, "expired"); }

static int refuse(patron *p, const pt_sub *s, const char *what) {
  return pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                     "subscription %s is %s: %s", s->id, s->status, what);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *payment_method_json(patron *p, int64_t id) {
  if (id == PT_NONE) return json_null();
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_PM_GET);
  if (!st) return NULL;
  sqlite3_bind_int64(st, 1, id);
  json_t *j = NULL;
  int r = pt_row(p, st, "read payment method");
  if (r > 0)
    j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}",
                  "token", (const char *)sqlite3_column_text(st, 0),
                  "brand", (const char *)sqlite3_column_text(st, 1),
                  "last4", (const char *)sqlite3_column_text(st, 2),
                  "exp_month", (json_int_t)sqlite3_column_int64(st, 3),
                  "exp_year", (json_int_t)sqlite3_column_int64(st, 4),
                  "added_at", pt_sub_time_json(sqlite3_column_int64(st, 5)));
  pt_stmt_done(st);
  return r == 0 ? json_null() : j; /* NULL: the read or the object failed */
}

json_t *pt_sub_json(patron *p, const pt_config *c, const pt_sub *s) {
  json_t *j = json_object();
  if (!j) return NULL;
  bool bad = false;
#define SET(k, v) pt_json_put(j, k, v, &bad)
  SET("id", json_string(s->id));
  SET("customer", json_string(s->customer));
  SET("plan", json_string(s->plan));
  SET("access_plan", json_string(s->temp_plan[0] ? s->temp_plan : s->plan));
  SET("status", json_string(s->status));
  SET("price_cents", json_integer(s->price_cents));
  SET("mrr_cents", json_integer(s->mrr_cents));
  SET("every", json_string(s->every));
  SET("count", json_integer(s->count));
  SET("created_at", pt_sub_time_json(s->created_at));
  SET("trial_end", pt_sub_time_json(s->trial_end));
  SET("current_period_start", pt_sub_time_json(s->period_start));
  SET("current_period_end", pt_sub_time_json(s->period_end));
  /* while the first charge of a period is open, renew_at is that period's
  ** start: the next renewal is its end */
  SET("renews_at", ended(s) || is(s, "suspended") || s->cancel_at_period_end
                       ? json_null()
                       : pt_sub_time_json(s->renew_at > s->period_end ? s->renew_at
                                                                      : s->period_end));
  SET("cancel_at_period_end", json_boolean(s->cancel_at_period_end));
  SET("ended_at", pt_sub_time_json(s->ended_at));
  SET("pending_change",
      s->pending_plan[0]
          ? json_pack("{s:s, s:I, s:o}", "plan", s->pending_plan, "price_cents",
                      (json_int_t)s->pending_price_cents, "at",
                      pt_sub_time_json(s->renew_at))
          : json_null());
  SET("temporary_upgrade",
      s->temp_plan[0]
          ? json_pack("{s:s, s:o, s:b}", "plan", s->temp_plan, "until",
                      pt_sub_time_json(s->temp_until), "converted",
                      s->temp_until == PT_NONE)
          : json_null());
  SET("price_change",
      s->new_price_cents != PT_NONE
          ? json_pack("{s:I, s:I, s:o}", "old_price_cents", (json_int_t)s->price_cents,
                      "new_price_cents", (json_int_t)s->new_price_cents,
                      "effective_at", pt_sub_time_json(s->price_effective_at))
          : json_null());
  if (s->dunning_since != PT_NONE) {
    int64_t final_at = PT_NONE;
    if (is(s, "past_due") &&
        !pt_add64(s->dunning_since, c->dunning.grace_days * PT_DAY, &final_at))
      final_at = PT_NONE;
    SET("dunning", json_pack("{s:o, s:s, s:I, s:o, s:b, s:s, s:o}",
                             "since", pt_sub_time_json(s->dunning_since),
                             "reason", s->dunning_reason,
                             "retries", (json_int_t)s->retries,
                             "next_retry_at", pt_sub_time_json(s->next_retry_at),
                             "awaiting_payment_method", s->awaiting_method,
                             "final_action", c->dunning.final_action,
                             "final_action_at", pt_sub_time_json(final_at)));
  } else {
    SET("dunning", json_null());
  }
  SET("open_attempt", s->open_attempt[0] ? json_string(s->open_attempt) : json_null());
  SET("payment_method", payment_method_json(p, s->payment_method));
#undef SET
  if (bad) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* ---- transactions ------------------------------------------------------- */

int pt_sub_finish(patron *p, char **out, int rc, json_t *res) {
  *out = NULL;
  if (rc == PATRON_OK && !(*out = dump(res))) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  json_decref(res);
  if (rc == PATRON_OK) rc = pt_commit(p);
  else pt_rollback(p);
  if (rc != PATRON_OK) {
    free(*out);
    *out = NULL;
  }
  return rc;
}

/* Checks the id, reads the active config and opens the transaction with
** the subscription loaded. On failure nothing is left open. */
static int open_sub(patron *p, const pt_config **c, pt_sub *s, const char *id) {
  int rc;
  pt_ok(p);
  if ((rc = pt_sub_check_text(p, "subscription", id, PT_SUB_TEXT_MAX - 1, false)))
    return rc;
  if (!(*c = pt_config_active(p))) return p->code;
  if ((rc = pt_begin(p))) return rc;
  if ((rc = pt_sub_load(p, s, id))) pt_rollback(p);
  return rc;
}

static int unknown_plan(patron *p, const pt_config *c, const char *field,
                        const char *plan) {
  pt_buf names = {0};
  for (size_t i = 0; i < c->nplans; i++)
    pt_buf_printf(&names, "%s%s", i ? ", " : "", c->plans[i].name);
  int rc = pt_err_path(p, PATRON_NOT_FOUND, field, "unknown plan '%s' (plans: %s)", plan,
                       names.s && !names.oom ? names.s : "none");
  pt_buf_free(&names);
  return rc;
}

/* The plan's billing terms become the subscription's. */
static int take_plan(patron *p, pt_sub *s, const char *plan, int64_t price,
                     const char *every, int64_t count) {
  int64_t mrr;
  if (!pt_sub_mrr(price, every, count, &mrr))
    return pt_err(p, PATRON_OVERFLOW, "the price of plan %s is out of range", plan);
  snprintf(s->plan, sizeof s->plan, "%s", plan);
  snprintf(s->every, sizeof s->every, "%s", every);
  s->price_cents = price;
  s->count = count;
  s->mrr_cents = mrr;
  return PATRON_OK;
}

/* ---- plans -------------------------------------------------------------- */

/* Months in one billing period of a plan, 0 for day and week plans. */
static int64_t plan_months(const pt_plan *pl) {
  if (strcmp(pl->every, "month") == 0) return pl->count;
  if (strcmp(pl->every, "year") == 0) return 12 * pl->count;
  return 0;
}

/* The saving of a plan against n periods of its twin, or JSON null. */
static json_t *saving_json(const pt_config *c, const pt_plan *pl) {
  const pt_plan *tw = pl->twin[0] ? pt_config_plan(c, pl->twin) : NULL;
  if (!tw) return json_null();
  int64_t m = plan_months(pl), tm = plan_months(tw), full, saving, pct;
  if (m == 0 || tm == 0 || m % tm != 0 || m / tm < 2) return json_null();
  int64_t n = m / tm;
  if (!pt_mul64(n, tw->price_cents, &full) || full <= 0 ||
      !pt_sub64(full, pl->price_cents, &saving) || saving <= 0 ||
      !pt_muldiv_floor(saving, 100, full, &pct))
    return json_null();
  char text[256];
  snprintf(text, sizeof text, "%s saves %lld%% against %lld x %s", pl->name,
           (long long)pct, (long long)n, tw->name);
  return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "against", tw->name,
                   "periods", (json_int_t)n, "full_price_cents", (json_int_t)full,
                   "saving_cents", (json_int_t)saving, "percent", (json_int_t)pct,
                   "text", text);
}

int patron_plans_json(patron *p, char **out) {
  *out = NULL;
  pt_ok(p);
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  json_t *arr = json_array();
  bool bad = !arr;
  for (size_t i = 0; !bad && i < c->nplans; i++) {
    const pt_plan *pl = &c->plans[i];
    int64_t mrr = 0;
    if (!pt_sub_mrr(pl->price_cents, pl->every, pl->count, &mrr)) mrr = -1;
    json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o, s:o, s:I, s:o}",
                          "name", pl->name, "price_cents", (json_int_t)pl->price_cents,
                          "every", pl->every, "count", (json_int_t)pl->count,
                          "trial_days", (json_int_t)pl->trial_days,
                          "program", pl->program[0] ? json_string(pl->program) : json_null(),
                          "twin", pl->twin[0] ? json_string(pl->twin) : json_null(),
                          "mrr_cents", (json_int_t)mrr, "saving", saving_json(c, pl));
    bad = !o || json_array_append_new(arr, o);
  }
  if (!bad) *out = dump(arr);
  json_decref(arr);
  return *out ? PATRON_OK : pt_err(p, PATRON_NOMEM, "out of memory");
}

/* ---- create and show ---------------------------------------------------- */

static void sub_init(pt_sub *s) {
  memset(s, 0, sizeof *s);
  s->trial_end = s->ended_at = s->pending_price_cents = s->pending_count = PT_NONE;
  s->temp_until = s->new_price_cents = s->price_effective_at = PT_NONE;
  s->dunning_since = s->next_retry_at = s->reminded_for = PT_NONE;
  s->payment_method = PT_NONE;
}

/* "sub_" + 32 hex digits. Ids are inputs later (sub show, cancel...) and
** every input passes the card-number guard, so an id whose digits happen
** to form a Luhn-valid run (about 1 in 250) is drawn again. */
static void new_id(char id[PT_SUB_ID_MAX]) {
  do {
    char uuid[37];
    pt_uuid(uuid);
    size_t k = 4;
    memcpy(id, "sub_", 4);
    for (const char *q = uuid; *q; q++)
      if (*q != '-') id[k++] = *q;
    id[k] = 0;
  } while (pt_is_card_number(id));
}

int patron_sub_create(patron *p, char **out, const char *customer, const char *plan,
                      int trial) {
  *out = NULL;
  pt_ok(p);
  int rc;
  if ((rc = pt_sub_check_text(p, "customer", customer, PT_SUB_TEXT_MAX - 1, false)) ||
      (rc = pt_sub_check_text(p, "plan", plan, PT_NAME_MAX - 1, false)))
    return rc;
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  const pt_plan *pl = pt_config_plan(c, plan);
  if (!pl) return unknown_plan(p, c, "plan", plan);
  if (trial && pl->trial_days <= 0)
    return pt_err_path(p, PATRON_INVALID_INPUT, "trial",
                       "plan %s has no trial (its trial_days is 0)", plan);
  int64_t now = patron_now(p);
  pt_sub s;
  sub_init(&s);
  new_id(s.id);
  snprintf(s.customer, sizeof s.customer, "%s", customer);
  if ((rc = take_plan(p, &s, pl->name, pl->price_cents, pl->every, pl->count))) return rc;
  s.created_at = s.period_start = now;
  s.period_no = -1;
  if (trial) {
    if (!pt_add64(now, pl->trial_days * PT_DAY, &s.trial_end))
      return pt_err(p, PATRON_OVERFLOW, "trial end out of range");
    snprintf(s.status, sizeof s.status, "trialing");
    s.anchor_at = s.period_end = s.renew_at = s.trial_end;
  } else {
    snprintf(s.status, sizeof s.status, "active");
    s.anchor_at = s.renew_at = now;
    if (!pt_sub_period_at(&s, 1, &s.period_end))
      return pt_err(p, PATRON_OVERFLOW, "period end out of range");
  }
  if ((rc = pt_begin(p))) return rc;
  json_t *res = NULL;
  if ((rc = pt_customer_ensure(p, customer, now)) || (rc = pt_sub_save(p, &s, true)) ||
      (rc = pt_sub_history(p, &s, now, NULL, "created", -1,
                           json_pack("{s:b}", "trial", trial != 0))) ||
      (rc = pt_sub_event(p, &s, "subscription_created", now,
                         json_pack("{s:s, s:I, s:s, s:s, s:o, s:o}", "plan", s.plan,
                                   "price_cents", (json_int_t)s.price_cents,
                                   "currency", c->currency, "status", s.status,
                                   "trial_end", pt_sub_time_json(s.trial_end),
                                   "first_charge_at", pt_sub_time_json(s.renew_at)))))
    goto done;
  if (!trial) {
    if ((rc = pt_sub_request_charge(p, c, &s, now, "first_period", 0, now, s.period_end,
                                    s.price_cents, NULL)) ||
        (rc = pt_sub_save(p, &s, false)))
      goto done;
  }
  res = pt_sub_json(p, c, &s);
done:
  return pt_sub_finish(p, out, rc, res);
}

static bool customer_exists(patron *p, const char *customer, int *rc) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CUSTOMER_EXISTS);
  if (!st) {
    *rc = p->code;
    return false;
  }
  pt_bind_text(st, 1, customer);
  int r = pt_row(p, st, "find customer");
  pt_stmt_done(st);
  *rc = r < 0 ? p->code : PATRON_OK;
  return r > 0;
}

int pt_sub_collect(patron *p, sqlite3_stmt *st, pt_sub_ids *ids) {
  int r;
  ids->n = 0;
  while ((r = pt_row(p, st, "list subscriptions")) > 0) {
    if (ids->n == ids->cap) {
      size_t cap = ids->cap ? ids->cap * 2 : 16;
      void *nv = realloc(ids->id, cap * sizeof ids->id[0]);
      if (!nv) {
        pt_stmt_done(st);
        return pt_err(p, PATRON_NOMEM, "out of memory");
      }
      ids->id = nv;
      ids->cap = cap;
    }
    pt_col_text(st, 0, ids->id[ids->n], sizeof ids->id[0]);
    ids->n++;
  }
  pt_stmt_done(st);
  return r < 0 ? p->code : PATRON_OK;
}

int patron_sub_show(patron *p, char **out, const char *id) {
  *out = NULL;
  pt_ok(p);
  int rc;
  if ((rc = pt_sub_check_text(p, "id", id, PT_SUB_TEXT_MAX - 1, false))) return rc;
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  pt_sub s;
  json_t *res = NULL;
  if (strncmp(id, "sub_", 4) == 0) {
    if ((rc = pt_sub_load(p, &s, id)) == PATRON_OK) {
      res = pt_sub_json(p, c, &s);
      goto done;
    }
    if (rc != PATRON_NOT_FOUND) return rc;
    pt_ok(p); /* perhaps a customer id that starts with sub_ */
  }
  bool found = customer_exists(p, id, &rc);
  if (rc) return rc;
  if (!found) {
    if (strncmp(id, "sub_", 4) == 0)
      return pt_err_path(p, PATRON_NOT_FOUND, "id", "no subscription '%s'", id);
    return pt_err_path(p, PATRON_UNKNOWN_CUSTOMER, "id",
                       "'%s' is neither a subscription nor a customer", id);
  }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SUB_IDS_CUSTOMER);
  if (!st) return p->code;
  pt_bind_text(st, 1, id);
  pt_sub_ids ids = {0};
  if ((rc = pt_sub_collect(p, st, &ids))) {
    free(ids.id);
    return rc;
  }
  res = json_array();
  for (size_t i = 0; res && i < ids.n; i++) {
    if ((rc = pt_sub_load(p, &s, ids.id[i]))) break;
    json_t *o = pt_sub_json(p, c, &s);
    if (!o || json_array_append_new(res, o)) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      break;
    }
  }
  free(ids.id);
  if (rc) {
    json_decref(res);
    return rc;
  }
done:
  *out = dump(res);
  json_decref(res);
  return *out ? PATRON_OK : pt_err(p, PATRON_NOMEM, "out of memory");
}

/* ---- cancel ------------------------------------------------------------- */

int patron_sub_cancel(patron *p, char **out, const char *sub, int at_period_end) {
  const pt_config *c;
  pt_sub s;
  *out = NULL;
  int rc = open_sub(p, &c, &s, sub);
  if (rc) return rc;
  int64_t now = patron_now(p);
  json_t *res = NULL;
  char prev[16];
  snprintf(prev, sizeof prev, "%s", s.status);
  if (ended(&s)) {
    rc = refuse(p, &s, "it cannot be canceled again");
    goto done;
  }
  if (at_period_end) {
    if (!is(&s, "active") && !is(&s, "trialing")) {
      rc = refuse(p, &s, "only an active or trialing subscription can be canceled at "
                         "period end; cancel it now instead");
      goto done;
    }
    if (!s.cancel_at_period_end) { /* asking twice changes nothing */
      s.cancel_at_period_end = true;
      s.pending_plan[0] = 0;
      s.pending_every[0] = 0;
      s.pending_price_cents = s.pending_count = PT_NONE;
      if ((rc = pt_sub_save(p, &s, false)) ||
          (rc = pt_sub_history(p, &s, now, prev, "cancel_scheduled", -1,
                               json_pack("{s:o}", "ends_at", pt_sub_time_json(s.renew_at)))) ||
          (rc = pt_sub_event(p, &s, "subscription_cancel_scheduled", now,
                             json_pack("{s:o}", "ends_at", pt_sub_time_json(s.renew_at)))))
        goto done;
    }
  } else {
    snprintf(s.status, sizeof s.status, "canceled");
    s.ended_at = now;
    s.cancel_at_period_end = false;
    s.pending_plan[0] = s.pending_every[0] = s.temp_plan[0] = 0;
    s.pending_price_cents = s.pending_count = s.temp_until = PT_NONE;
    s.new_price_cents = s.price_effective_at = s.next_retry_at = PT_NONE;
    s.awaiting_method = false;
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, prev, "customer_cancel", 1, json_object())) ||
        (rc = pt_sub_event(p, &s, "subscription_canceled", now,
                           json_pack("{s:s, s:b, s:s}", "reason", "customer",
                                     "voluntary", 1, "previous_status", prev))))
      goto done;
  }
  res = pt_sub_json(p, c, &s);
done:
  return pt_sub_finish(p, out, rc, res);
}

/* ---- change, temporary upgrade, convert -------------------------------- */

/* The subscription may change plan: trialing or active, no charge pending,
** not ending. */
static int can_change(patron *p, const pt_sub *s, const char *what) {
  char why[160];
  if (!is(s, "active") && !is(s, "trialing")) {
    snprintf(why, sizeof why, "only an active or trialing subscription can %s", what);
    return refuse(p, s, why);
  }
  if (s->cancel_at_period_end)
    return pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                       "subscription %s is set to cancel at period end: it cannot %s",
                       s->id, what);
  if (s->open_attempt[0])
    return pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                       "subscription %s has a charge awaiting its result (attempt %s): "
                       "record it with sub charge-result first", s->id, s->open_attempt);
  return PATRON_OK;
}

static json_t *proration_json(const char *from, const char *to, int64_t credit,
                              int64_t price, int64_t charge, int64_t remaining,
                              int64_t len) {
  return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "from_plan", from,
                   "to_plan", to, "credit_cents", (json_int_t)credit,
                   "new_price_cents", (json_int_t)price, "charge_cents",
                   (json_int_t)charge, "remaining_seconds", (json_int_t)remaining,
                   "period_seconds", (json_int_t)len, "formula",
                   "credit = floor(locked_price * remaining_seconds / period_seconds); "
                   "charge = max(0, new_price - credit)");
}

int patron_sub_change(patron *p, char **out, const char *sub, const char *plan) {
  const pt_config *c;
  pt_sub s;
  *out = NULL;
  pt_ok(p);
  int rc = pt_sub_check_text(p, "plan", plan, PT_NAME_MAX - 1, false);
  if (rc || (rc = open_sub(p, &c, &s, sub))) return rc;
  int64_t now = patron_now(p);
  json_t *res = NULL, *change = NULL;
  char from[PT_NAME_MAX];
  snprintf(from, sizeof from, "%s", s.plan);
  const pt_plan *pl = pt_config_plan(c, plan);
  if (!pl) {
    rc = unknown_plan(p, c, "plan", plan);
    goto done;
  }
  if ((rc = can_change(p, &s, "change plan"))) goto done;
  if (strcmp(pl->name, s.plan) == 0) {
    if (!s.pending_plan[0]) {
      rc = pt_err_path(p, PATRON_INVALID_INPUT, "plan",
                       "subscription %s is already on plan %s", s.id, s.plan);
      goto done;
    }
    /* back to the current plan: the scheduled change is dropped */
    char dropped[PT_NAME_MAX];
    snprintf(dropped, sizeof dropped, "%s", s.pending_plan);
    s.pending_plan[0] = s.pending_every[0] = 0;
    s.pending_price_cents = s.pending_count = PT_NONE;
    change = json_pack("{s:s, s:s}", "kind", "scheduled_change_dropped", "dropped", dropped);
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_event(p, &s, "plan_change_canceled", now,
                           json_pack("{s:s, s:s}", "plan", s.plan, "dropped", dropped))))
      goto done;
  } else if (is(&s, "trialing")) {
    /* nothing is paid yet: the trial goes on under the new plan */
    if ((rc = take_plan(p, &s, pl->name, pl->price_cents, pl->every, pl->count))) goto done;
    s.pending_plan[0] = s.pending_every[0] = 0;
    s.pending_price_cents = s.pending_count = s.new_price_cents = PT_NONE;
    s.price_effective_at = PT_NONE;
    change = json_pack("{s:s, s:s, s:s, s:I}", "kind", "trial_change", "from_plan", from,
                       "to_plan", s.plan, "charge_cents", (json_int_t)0);
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, s.status, "plan_changed", -1,
                             json_pack("{s:s, s:s}", "from", from, "to", s.plan))) ||
        (rc = pt_sub_event(p, &s, "plan_changed", now,
                           json_pack("{s:s, s:s, s:I, s:s}", "from_plan", from, "to_plan",
                                     s.plan, "price_cents", (json_int_t)s.price_cents,
                                     "when", "now"))))
      goto done;
  } else if (cmp_per_year(pl->price_cents, pl->every, pl->count, s.price_cents, s.every,
                          s.count) > 0) {
    /* an upgrade: now, with the unused part of the period as a credit */
    int64_t len = s.period_end - s.period_start, remaining = s.period_end - now;
    int64_t credit = 0, charge;
    if (remaining < 0) remaining = 0;
    if (remaining > len) remaining = len;
    if (len > 0 && !pt_muldiv_floor(s.price_cents, remaining, len, &credit)) {
      rc = pt_err(p, PATRON_OVERFLOW, "proration credit out of range");
      goto done;
    }
    charge = pl->price_cents > credit ? pl->price_cents - credit : 0;
    if ((rc = take_plan(p, &s, pl->name, pl->price_cents, pl->every, pl->count))) goto done;
    s.anchor_at = s.period_start = s.renew_at = now;
    s.period_no = -1;
    if (!pt_sub_period_at(&s, 1, &s.period_end)) {
      rc = pt_err(p, PATRON_OVERFLOW, "period end out of range");
      goto done;
    }
    s.pending_plan[0] = s.pending_every[0] = s.temp_plan[0] = 0;
    s.pending_price_cents = s.pending_count = s.temp_until = PT_NONE;
    s.new_price_cents = s.price_effective_at = PT_NONE;
    change = proration_json(from, s.plan, credit, pl->price_cents, charge, remaining, len);
    if (!change || json_object_set_new(change, "kind", json_string("upgrade"))) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      goto done;
    }
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, s.status, "plan_changed", -1, json_deep_copy(change))) ||
        (rc = pt_sub_event(p, &s, "plan_changed", now, json_deep_copy(change))) ||
        (rc = pt_sub_request_charge(p, c, &s, now, "upgrade", 0, now, s.period_end, charge,
                                    NULL)) ||
        (rc = pt_sub_save(p, &s, false)))
      goto done;
    if (json_object_set_new(change, "attempt",
                            s.open_attempt[0] ? json_string(s.open_attempt) : json_null())) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      goto done;
    }
  } else {
    /* a downgrade (or the same price): at the end of the period */
    snprintf(s.pending_plan, sizeof s.pending_plan, "%s", pl->name);
    snprintf(s.pending_every, sizeof s.pending_every, "%s", pl->every);
    s.pending_price_cents = pl->price_cents;
    s.pending_count = pl->count;
    change = json_pack("{s:s, s:s, s:s, s:I, s:o}", "kind", "downgrade_scheduled",
                       "from_plan", from, "to_plan", pl->name, "price_cents",
                       (json_int_t)pl->price_cents, "at", pt_sub_time_json(s.renew_at));
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, s.status, "change_scheduled", -1,
                             json_deep_copy(change))) ||
        (rc = pt_sub_event(p, &s, "plan_change_scheduled", now, json_deep_copy(change))))
      goto done;
  }
  res = pt_sub_json(p, c, &s);
  /* stolen by the set, even when it fails (a NULL change fails it) */
  if (!res || json_object_set_new(res, "change", change)) {
    if (!res) json_decref(change);
    json_decref(res);
    res = NULL;
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
  }
  change = NULL;
done:
  json_decref(change);
  return pt_sub_finish(p, out, rc, res);
}

int patron_sub_upgrade(patron *p, char **out, const char *sub, const char *plan,
                       int64_t days) {
  const pt_config *c;
  pt_sub s;
  *out = NULL;
  pt_ok(p);
  int rc = pt_sub_check_text(p, "plan", plan, PT_NAME_MAX - 1, false);
  if (rc) return rc;
  if (days < 1 || days > 3650)
    return pt_err_path(p, PATRON_INVALID_INPUT, "days",
                       "days must be 1 to 3650, got %lld", (long long)days);
  if ((rc = open_sub(p, &c, &s, sub))) return rc;
  int64_t now = patron_now(p);
  json_t *res = NULL;
  const pt_plan *pl = pt_config_plan(c, plan);
  if (!pl) {
    rc = unknown_plan(p, c, "plan", plan);
    goto done;
  }
  if (!is(&s, "active") && !is(&s, "trialing")) {
    rc = refuse(p, &s, "only an active or trialing subscription can be upgraded");
    goto done;
  }
  if (s.temp_plan[0]) {
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                     "subscription %s already has a temporary upgrade to %s", s.id,
                     s.temp_plan);
    goto done;
  }
  if (strcmp(pl->name, s.plan) == 0 ||
      cmp_per_year(pl->price_cents, pl->every, pl->count, s.price_cents, s.every,
                   s.count) <= 0) {
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "plan",
                     "a temporary upgrade must be to a plan that costs more per year "
                     "than the subscription's (%s)", s.plan);
    goto done;
  }
  snprintf(s.temp_plan, sizeof s.temp_plan, "%s", pl->name);
  s.temp_until = now + days * PT_DAY;
  json_t *ev = json_pack("{s:s, s:s, s:o, s:I, s:I}", "plan", s.temp_plan, "base_plan",
                         s.plan, "until", pt_sub_time_json(s.temp_until), "days",
                         (json_int_t)days, "charge_cents", (json_int_t)0);
  if ((rc = pt_sub_save(p, &s, false)) ||
      (rc = pt_sub_history(p, &s, now, s.status, "temp_upgrade", -1, json_deep_copy(ev)))) {
    json_decref(ev);
    goto done;
  }
  if ((rc = pt_sub_event(p, &s, "temporary_upgrade_started", now, ev))) goto done;
  res = pt_sub_json(p, c, &s);
done:
  return pt_sub_finish(p, out, rc, res);
}

int patron_sub_convert(patron *p, char **out, const char *sub) {
  const pt_config *c;
  pt_sub s;
  *out = NULL;
  int rc = open_sub(p, &c, &s, sub);
  if (rc) return rc;
  int64_t now = patron_now(p);
  json_t *res = NULL;
  const pt_plan *pl;
  if (ended(&s) || is(&s, "suspended")) {
    rc = refuse(p, &s, "its temporary upgrade cannot be converted");
    goto done;
  }
  if (!s.temp_plan[0] || s.temp_until == PT_NONE) {
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "subscription",
                     s.temp_plan[0] ? "subscription %s: its temporary upgrade is already "
                                      "converted"
                                    : "subscription %s has no temporary upgrade to convert",
                     s.id);
    goto done;
  }
  if (!(pl = pt_config_plan(c, s.temp_plan))) {
    rc = unknown_plan(p, c, "plan", s.temp_plan);
    goto done;
  }
  s.temp_until = PT_NONE; /* access to it stays until it is billed */
  snprintf(s.pending_plan, sizeof s.pending_plan, "%s", pl->name);
  snprintf(s.pending_every, sizeof s.pending_every, "%s", pl->every);
  s.pending_price_cents = pl->price_cents;
  s.pending_count = pl->count;
  json_t *ev = json_pack("{s:s, s:s, s:I, s:o}", "plan", pl->name, "from_plan", s.plan,
                         "price_cents", (json_int_t)pl->price_cents, "from",
                         pt_sub_time_json(s.renew_at));
  if ((rc = pt_sub_save(p, &s, false)) ||
      (rc = pt_sub_history(p, &s, now, s.status, "temp_upgrade_converted", -1,
                           json_deep_copy(ev)))) {
    json_decref(ev);
    goto done;
  }
  if ((rc = pt_sub_event(p, &s, "temporary_upgrade_converted", now, ev))) goto done;
  res = pt_sub_json(p, c, &s);
done:
  return pt_sub_finish(p, out, rc, res);
}

/* ---- price migration ------------------------------------------------------ */

int patron_sub_migrate_price(patron *p, char **out, const char *plan,
                             int64_t notice_days) {
  *out = NULL;
  pt_ok(p);
  int rc = pt_sub_check_text(p, "plan", plan, PT_NAME_MAX - 1, false);
  if (rc) return rc;
  if (notice_days < 0 || notice_days > 3650)
    return pt_err_path(p, PATRON_INVALID_INPUT, "notice_days",
                       "notice days must be 0 to 3650, got %lld", (long long)notice_days);
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  const pt_plan *pl = pt_config_plan(c, plan);
  if (!pl) return unknown_plan(p, c, "plan", plan);
  int64_t now = patron_now(p), effective = now + notice_days * PT_DAY;
  if ((rc = pt_begin(p))) return rc;
  json_t *res = NULL, *list = json_array();
  pt_sub_ids ids = {0};
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SUB_IDS_PLAN);
  if (!st) {
    rc = p->code;
    goto done;
  }
  pt_bind_text(st, 1, pl->name);
  if ((rc = pt_sub_collect(p, st, &ids))) goto done;
  for (size_t i = 0; i < ids.n; i++) {
    pt_sub s;
    if ((rc = pt_sub_load(p, &s, ids.id[i]))) goto done;
    if (s.pending_plan[0]) continue; /* it leaves the plan at its renewal */
    bool at_price = s.price_cents == pl->price_cents;
    if (at_price ? s.new_price_cents == PT_NONE : s.new_price_cents == pl->price_cents)
      continue; /* nothing to announce, or announced already */
    int64_t old = s.price_cents;
    /* back at the price it pays: the announced change is withdrawn, now */
    s.new_price_cents = at_price ? PT_NONE : pl->price_cents;
    s.price_effective_at = at_price ? PT_NONE : effective;
    json_t *ev = json_pack("{s:s, s:I, s:I, s:s, s:o, s:I, s:b}", "plan", s.plan,
                           "old_price_cents", (json_int_t)old, "new_price_cents",
                           (json_int_t)pl->price_cents, "currency", c->currency,
                           "effective_at", pt_sub_time_json(at_price ? now : effective),
                           "notice_days", (json_int_t)notice_days, "withdrawn", at_price);
    if ((rc = pt_sub_save(p, &s, false)) ||
        (rc = pt_sub_history(p, &s, now, s.status, "price_change_notice", -1,
                             json_deep_copy(ev)))) {
      json_decref(ev);
      goto done;
    }
    if ((rc = pt_sub_event(p, &s, "price_change_notice", now, ev))) goto done;
    if (json_array_append_new(list, json_string(s.id))) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      goto done;
    }
  }
  res = json_pack("{s:s, s:I, s:I, s:o, s:I, s:O}", "plan", pl->name, "price_cents",
                  (json_int_t)pl->price_cents, "notice_days", (json_int_t)notice_days,
                  "effective_at", pt_sub_time_json(effective), "notified",
                  (json_int_t)json_array_size(list), "subscriptions", list);
done:
  free(ids.id);
  json_decref(list);
  return pt_sub_finish(p, out, rc, res);
}
