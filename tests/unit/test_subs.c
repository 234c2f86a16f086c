/* test_subs.c -- subscriptions and dunning driven by an injected clock:
** a year of monthly renewals from a 31st, annual reminders, every failure
** reason through dunning to recovery and to the final action, card_expired
** waiting for a new payment method, temporary upgrades reverting and
** converting, grandfathered prices and announced migrations, proration in
** exact cents, downgrades at period end, idempotent tick and charge-result,
** conflicting answers, refused transitions and card numbers refused in
** every string input. Every scenario ends with patron verify and checks of
** the events it emitted. */
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "subs.h"
#include "t.h"

#define SHOP_PLANS                                                              \
  "shop { currency = \"EUR\" }\n"                                               \
  "program \"default\" {\n"                                                     \
  "  earn = { points_per_unit = 1 },\n"                                         \
  "  tiers = { { name = \"bronze\", from_cents = 0 },\n"                        \
  "            { name = \"silver\", from_cents = 5000, multiplier_bp = 15000 } },\n" \
  "}\n"                                                                         \
  "plan \"basic-monthly\" { price_cents = 500, every = \"month\", program = \"default\" }\n" \
  "plan \"pro-monthly\" { price_cents = 1000, every = \"month\", trial_days = 14,\n" \
  "                       program = \"default\" }\n"                           \
  "plan \"pro-annual\" { price_cents = 10200, every = \"year\", program = \"default\",\n" \
  "                      twin = \"pro-monthly\" }\n"                           \
  "plan \"team-monthly\" { price_cents = 3000, every = \"month\" }\n"

/* retries at +1, +3, +5, +7 days, all four used, then suspend at +10 */
static const char *SHOP = SHOP_PLANS
    "dunning { retry_days = { 1, 3, 5, 7 }, grace_days = 10, final = \"suspend\" }\n";
/* only two retries per period, then cancel at +10 */
static const char *SHOP_CANCEL = SHOP_PLANS
    "dunning { retry_days = { 1, 3, 5, 7 }, grace_days = 10, final = \"cancel\",\n"
    "          max_retries = 2 }\n";
/* pro-monthly costs 12.00 now */
static const char *SHOP_NEW_PRICE =
    "shop { currency = \"EUR\" }\n"
    "program \"default\" { earn = { points_per_unit = 1 } }\n"
    "plan \"basic-monthly\" { price_cents = 500, every = \"month\", program = \"default\" }\n"
    "plan \"pro-monthly\" { price_cents = 1200, every = \"month\", trial_days = 14,\n"
    "                       program = \"default\" }\n"
    "dunning { retry_days = { 1, 3, 5, 7 }, grace_days = 10, final = \"suspend\" }\n";

static int64_t now_value;
static int64_t clock_fn(void *ud) { return *(int64_t *)ud; }

static int64_t T(const char *s) {
  int64_t t = 0;
  if (patron_time_parse(&t, s)) {
    printf("# bad time %s\n", s);
    abort();
  }
  return t;
}

static void at(const char *iso) { now_value = T(iso); }

static void apply(patron *p, const char *src) {
  patron_apply_result r;
  if (patron_apply_buffer(p, &r, "shop.lua", src, strlen(src))) {
    printf("# apply: %s\n", patron_errmsg(p));
    abort();
  }
}

static patron *shop(const char *db, const char *src) {
  patron *p;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = &now_value;
  if (strcmp(db, ":memory:") != 0) unlink(db);
  now_value = T("2026-01-01");
  if (patron_open(&p, db, &o)) abort();
  apply(p, src);
  return p;
}

static json_t *parse(char *text) {
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  patron_free(text);
  return j;
}

/* "a.b.c" inside j */
static json_t *get(json_t *j, const char *path) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *k = strtok(buf, "."); k && j; k = strtok(NULL, "."))
    j = json_object_get(j, k);
  return j;
}
static int64_t I(json_t *j, const char *path) { return json_integer_value(get(j, path)); }
static const char *S(json_t *j, const char *path) {
  const char *s = json_string_value(get(j, path));
  return s ? s : "(null)";
}

static int64_t verify(patron *p) {
  int64_t n = -1;
  char *r = NULL;
  if (patron_verify(p, &n, &r)) n = -1;
  patron_free(r);
  return n;
}

static int64_t q1(patron *p, const char *sql, const char *a, const char *b) {
  sqlite3_stmt *st;
  int64_t v = -999;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) return v;
  if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static int64_t nevents(patron *p, const char *sub, const char *type) {
  return q1(p, "SELECT count(*) FROM events WHERE subject = ?1 AND type = ?2", sub, type);
}

/* The payload of the latest event of a type about sub, with "_at" added. */
static json_t *last_event(patron *p, const char *sub, const char *type) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (sqlite3_prepare_v2(p->db,
                         "SELECT payload, at FROM events WHERE subject = ?1 AND type = ?2 "
                         "ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) {
    j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    char when[32];
    patron_time_format(when, sizeof when, sqlite3_column_int64(st, 1));
    if (j) json_object_set_new(j, "_at", json_string(when));
  }
  sqlite3_finalize(st);
  return j ? j : json_object();
}

static patron_tick_result tick(patron *p, const char *iso) {
  patron_tick_result r;
  now_value = T(iso);
  if (patron_tick(p, &r, now_value)) {
    printf("# tick %s: %s\n", iso, patron_errmsg(p));
    memset(&r, 0xff, sizeof r);
  }
  return r;
}

static bool tick_quiet(patron *p, const char *iso) {
  patron_tick_result r = tick(p, iso);
  return r.charges_requested == 0 && r.trials_ended == 0 && r.upgrades_reverted == 0 &&
         r.dunning_steps == 0 && r.renewal_reminders == 0;
}

/* Creates a subscription; *id gets its id. */
static json_t *create(patron *p, char id[64], const char *cust, const char *plan,
                      int trial) {
  char *out = NULL;
  if (patron_sub_create(p, &out, cust, plan, trial)) {
    printf("# create: %s\n", patron_errmsg(p));
    id[0] = 0;
    return json_object();
  }
  json_t *j = parse(out);
  snprintf(id, 64, "%s", S(j, "id"));
  return j;
}

static json_t *show(patron *p, const char *id) {
  char *out = NULL;
  if (patron_sub_show(p, &out, id)) {
    printf("# show: %s\n", patron_errmsg(p));
    return json_object();
  }
  return parse(out);
}

static const char *status(patron *p, const char *id) {
  static char buf[32];
  json_t *j = show(p, id);
  snprintf(buf, sizeof buf, "%s", S(j, "status"));
  json_decref(j);
  return buf;
}

/* The subscription's unanswered attempt ("" if none). */
static const char *open_attempt(patron *p, const char *id) {
  static char buf[64];
  json_t *j = show(p, id);
  snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(j, "open_attempt"))
                                      ? json_string_value(json_object_get(j, "open_attempt"))
                                      : "");
  json_decref(j);
  return buf;
}

static json_t *answer(patron *p, const char *attempt, int ok, const char *reason) {
  char *out = NULL;
  if (patron_sub_charge_result(p, &out, attempt, ok, reason)) {
    printf("# charge-result: %s\n", patron_errmsg(p));
    return json_object();
  }
  return parse(out);
}

/* Answers the open attempt of sub; true if there was one and it worked. */
static bool pay(patron *p, const char *sub, int ok, const char *reason) {
  char a[64];
  snprintf(a, sizeof a, "%s", open_attempt(p, sub));
  if (!a[0]) {
    printf("# %s has no open attempt\n", sub);
    return false;
  }
  json_t *j = answer(p, a, ok, reason);
  bool good = strcmp(S(j, "attempt.outcome"), ok ? "ok" : "failed") == 0;
  json_decref(j);
  return good;
}

static json_t *new_method(patron *p, const char *sub, const char *token, const char *brand,
                          const char *last4, int y, int m) {
  patron_payment_method pm = {token, brand, last4, y, m};
  char *out = NULL;
  if (patron_sub_payment_method(p, &out, sub, &pm)) return NULL;
  return parse(out);
}

static void fmt(char *buf, int64_t t) { patron_time_format(buf, 32, t); }

/* ---- plans -------------------------------------------------------------- */

TEST(plans_list_prices_and_the_annual_saving) {
  patron *p = shop("s_plans.db", SHOP);
  char *out = NULL;
  CHECK(patron_plans_json(p, &out) == PATRON_OK);
  json_t *j = parse(out);
  CHECK_EQ_I64(json_array_size(j), 4);
  json_t *annual = json_array_get(j, 2), *monthly = json_array_get(j, 1);
  CHECK_STR(S(annual, "name"), "pro-annual");
  CHECK_EQ_I64(I(annual, "price_cents"), 10200);
  /* 12 x 1000 = 12000; saving 1800; floor(1800 * 100 / 12000) = 15 */
  CHECK_EQ_I64(I(annual, "saving.full_price_cents"), 12000);
  CHECK_EQ_I64(I(annual, "saving.saving_cents"), 1800);
  CHECK_EQ_I64(I(annual, "saving.percent"), 15);
  CHECK_STR(S(annual, "saving.text"), "pro-annual saves 15% against 12 x pro-monthly");
  CHECK_EQ_I64(I(annual, "mrr_cents"), 850);
  CHECK(json_is_null(json_object_get(monthly, "saving")));
  CHECK_EQ_I64(I(monthly, "trial_days"), 14);
  json_decref(j);
  patron_close(p);
}

/* ---- renewals ------------------------------------------------------------- */

TEST(a_year_of_monthly_renewals_from_the_31st) {
  patron *p = shop("s_year.db", SHOP);
  char id[64];
  at("2026-01-31T10:00:00Z");
  json_t *j = create(p, id, "C1", "pro-monthly", 0);
  CHECK_STR(S(j, "status"), "active");
  CHECK_STR(S(j, "current_period_end"), "2026-02-28T10:00:00Z");
  json_decref(j);
  json_t *ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  CHECK_STR(S(ev, "kind"), "first_period");
  CHECK_STR(S(ev, "period_start"), "2026-01-31T10:00:00Z");
  CHECK_STR(S(ev, "currency"), "EUR");
  char key[160];
  snprintf(key, sizeof key, "%s:2026-01-31T10:00:00Z:1", id);
  CHECK_STR(S(ev, "idempotency_key"), key);
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));

  /* each renewal is at the anchor + k months, clamped to the month */
  static const char *const starts[] = {
      "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z",
      "2026-05-31T10:00:00Z", "2026-06-30T10:00:00Z", "2026-07-31T10:00:00Z",
      "2026-08-31T10:00:00Z", "2026-09-30T10:00:00Z", "2026-10-31T10:00:00Z",
      "2026-11-30T10:00:00Z", "2026-12-31T10:00:00Z", "2027-01-31T10:00:00Z"};
  for (int k = 0; k < 11; k++) {
    char before[32];
    fmt(before, T(starts[k]) - 1);
    CHECK(tick_quiet(p, before));
    patron_tick_result r = tick(p, starts[k]);
    CHECK_EQ_I64(r.charges_requested, 1);
    r = tick(p, starts[k]); /* the same time again: nothing */
    CHECK_EQ_I64(r.charges_requested, 0);
    ev = last_event(p, id, "charge_requested");
    CHECK_STR(S(ev, "period_start"), starts[k]);
    CHECK_STR(S(ev, "period_end"), starts[k + 1]);
    CHECK_STR(S(ev, "kind"), "renewal");
    CHECK_EQ_I64(I(ev, "attempt_number"), 1);
    json_decref(ev);
    CHECK(pay(p, id, 1, NULL));
  }
  j = show(p, id);
  CHECK_STR(S(j, "status"), "active");
  CHECK_STR(S(j, "current_period_start"), "2026-12-31T10:00:00Z");
  CHECK_STR(S(j, "current_period_end"), "2027-01-31T10:00:00Z");
  CHECK_STR(S(j, "renews_at"), "2027-01-31T10:00:00Z");
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 12);
  CHECK_EQ_I64(nevents(p, id, "charge_succeeded"), 12);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM charge_attempts WHERE subscription = ?1 "
                     "AND outcome = 'ok' AND amount_cents = 1000", id, NULL), 12);
  /* points: 10 a month at bronze; silver (x1.5) once 50.00 was spent, so
  ** 5 x 10 + 7 x 15 */
  patron_balance_info b;
  CHECK(patron_balance(p, &b, "C1", "default") == PATRON_OK);
  CHECK_EQ_I64(b.points, 155);
  CHECK_STR(b.tier, "silver");
  CHECK_EQ_I64(b.qualifying_cents, 12000);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger WHERE customer = 'C1' AND kind = 'earn' "
                     "AND source = 'subscription:pro-monthly' AND order_ref IN "
                     "(SELECT id FROM charge_attempts)", NULL, NULL), 12);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(annual_renewal_reminder_seven_days_before_once) {
  patron *p = shop("s_annual.db", SHOP);
  char id[64];
  at("2026-03-01T00:00:00Z");
  json_decref(create(p, id, "A1", "pro-annual", 0));
  CHECK(pay(p, id, 1, NULL));
  patron_tick_result r = tick(p, "2027-02-21T23:59:59Z");
  CHECK_EQ_I64(r.renewal_reminders, 0);
  r = tick(p, "2027-02-22T00:00:00Z");
  CHECK_EQ_I64(r.renewal_reminders, 1);
  CHECK(tick_quiet(p, "2027-02-22T00:00:00Z"));
  CHECK(tick_quiet(p, "2027-02-26T00:00:00Z"));
  json_t *ev = last_event(p, id, "renewal_upcoming");
  CHECK_STR(S(ev, "renews_at"), "2027-03-01T00:00:00Z");
  CHECK_EQ_I64(I(ev, "amount_cents"), 10200);
  CHECK_EQ_I64(I(ev, "days_before"), PT_RENEWAL_NOTICE_DAYS);
  CHECK_STR(S(ev, "_at"), "2027-02-22T00:00:00Z");
  json_decref(ev);
  r = tick(p, "2027-03-01T00:00:00Z");
  CHECK_EQ_I64(r.charges_requested, 1);
  CHECK_EQ_I64(r.renewal_reminders, 0);
  CHECK(pay(p, id, 1, NULL));
  CHECK_EQ_I64(nevents(p, id, "renewal_upcoming"), 1);
  /* a monthly plan gets no reminder */
  char m[64];
  at("2027-03-01T00:00:00Z");
  json_decref(create(p, m, "A2", "pro-monthly", 0));
  CHECK(pay(p, m, 1, NULL));
  r = tick(p, "2027-03-28T00:00:00Z");
  CHECK_EQ_I64(r.renewal_reminders, 0);
  /* the next year: again once */
  r = tick(p, "2028-02-23T00:00:00Z");
  CHECK_EQ_I64(r.renewal_reminders, 1);
  CHECK_EQ_I64(nevents(p, id, "renewal_upcoming"), 2);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(trial_ends_with_a_charge_for_the_first_period) {
  patron *p = shop("s_trial.db", SHOP);
  char id[64];
  at("2026-06-01T09:00:00Z");
  json_t *j = create(p, id, "T1", "pro-monthly", 1);
  CHECK_STR(S(j, "status"), "trialing");
  CHECK_STR(S(j, "trial_end"), "2026-06-15T09:00:00Z");
  CHECK(json_is_null(json_object_get(j, "open_attempt")));
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 0);
  CHECK(tick_quiet(p, "2026-06-15T08:59:59Z"));
  patron_tick_result r = tick(p, "2026-06-15T09:00:00Z");
  CHECK_EQ_I64(r.trials_ended, 1);
  CHECK_EQ_I64(r.charges_requested, 1);
  CHECK(tick_quiet(p, "2026-06-15T09:00:00Z"));
  CHECK_STR(status(p, id), "trialing");
  json_t *ev = last_event(p, id, "charge_requested");
  CHECK_STR(S(ev, "kind"), "trial_end");
  CHECK_STR(S(ev, "period_start"), "2026-06-15T09:00:00Z");
  CHECK_STR(S(ev, "period_end"), "2026-07-15T09:00:00Z");
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  j = show(p, id);
  CHECK_STR(S(j, "status"), "active");
  CHECK_STR(S(j, "renews_at"), "2026-07-15T09:00:00Z");
  json_decref(j);
  /* a trial on a plan without one is refused */
  char *out = NULL;
  CHECK(patron_sub_create(p, &out, "T2", "team-monthly", 1) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "has no trial");
  /* a trial whose first charge fails goes into dunning */
  char id2[64];
  at("2026-06-01T09:00:00Z");
  json_decref(create(p, id2, "T3", "pro-monthly", 1));
  tick(p, "2026-06-16T00:00:00Z");
  CHECK(pay(p, id2, 0, "insufficient_funds"));
  CHECK_STR(status(p, id2), "past_due");
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM subscription_history WHERE subscription = ?1 "
                     "AND from_status = 'trialing' AND to_status = 'past_due'", id2, NULL), 1);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- dunning ---------------------------------------------------------------- */

static const char *const SOFT[] = {"insufficient_funds", "limit_exceeded",
                                   "processing_error"};
static const char *const HARD[] = {"card_expired", "card_lost_stolen", "policy_declined"};

/* A paid monthly subscription started at 2026-01-10 whose renewal of
** 2026-02-10 (F) has just failed with reason. */
static void failed_renewal(patron *p, char id[64], const char *cust, const char *reason) {
  at("2026-01-10T00:00:00Z");
  json_decref(create(p, id, cust, "pro-monthly", 0));
  CHECK(pay(p, id, 1, NULL));
  tick(p, "2026-02-10T00:00:00Z");
  CHECK(pay(p, id, 0, reason));
}

static void check_notice(patron *p, const char *id, const char *reason, int64_t number,
                         const char *next_retry) {
  json_t *ev = last_event(p, id, "dunning_notice");
  CHECK_STR(S(ev, "step"), "failed");
  CHECK_STR(S(ev, "reason"), reason);
  CHECK_EQ_I64(I(ev, "attempt_number"), number);
  if (next_retry) CHECK_STR(S(ev, "next_retry_at"), next_retry);
  else CHECK(json_is_null(json_object_get(ev, "next_retry_at")));
  CHECK_STR(S(ev, "final_action_at"), "2026-02-20T00:00:00Z");
  json_decref(ev);
}

TEST(soft_failures_retry_on_schedule_and_recover) {
  patron *p = shop("s_soft.db", SHOP);
  for (int i = 0; i < 3; i++) {
    char id[64], cust[16];
    snprintf(cust, sizeof cust, "SOFT%d", i);
    failed_renewal(p, id, cust, SOFT[i]);
    CHECK_STR(status(p, id), "past_due");
    check_notice(p, id, SOFT[i], 1, "2026-02-11T00:00:00Z");
    /* retry 1 at F + 1 day, not a second before */
    CHECK(tick_quiet(p, "2026-02-10T23:59:59Z"));
    patron_tick_result r = tick(p, "2026-02-11T00:00:00Z");
    CHECK_EQ_I64(r.charges_requested, 1);
    json_t *ev = last_event(p, id, "charge_requested");
    CHECK_STR(S(ev, "kind"), "retry");
    CHECK(json_is_true(json_object_get(ev, "retry")));
    CHECK_EQ_I64(I(ev, "attempt_number"), 2);
    CHECK_STR(S(ev, "period_start"), "2026-02-10T00:00:00Z");
    json_decref(ev);
    CHECK(pay(p, id, 0, SOFT[i]));
    check_notice(p, id, SOFT[i], 2, "2026-02-13T00:00:00Z");
    CHECK_STR(status(p, id), "past_due"); /* access kept in the grace period */
    CHECK(tick_quiet(p, "2026-02-12T23:59:59Z"));
    r = tick(p, "2026-02-13T00:00:00Z");
    CHECK_EQ_I64(r.charges_requested, 1);
    CHECK(pay(p, id, 1, NULL));
    /* recovered: active, on the original schedule */
    json_t *j = show(p, id);
    CHECK_STR(S(j, "status"), "active");
    CHECK_STR(S(j, "current_period_start"), "2026-02-10T00:00:00Z");
    CHECK_STR(S(j, "renews_at"), "2026-03-10T00:00:00Z");
    CHECK(json_is_null(json_object_get(j, "dunning")));
    json_decref(j);
    CHECK_EQ_I64(nevents(p, id, "subscription_recovered"), 1);
    CHECK_EQ_I64(nevents(p, id, "dunning_notice"), 2);
    CHECK_EQ_I64(q1(p, "SELECT count(*) FROM subscription_history WHERE subscription = ?1 "
                       "AND reason = 'recovered' AND to_status = 'active'", id, NULL), 1);
    CHECK_EQ_I64(q1(p, "SELECT count(*) FROM charge_attempts WHERE subscription = ?1 "
                       "AND is_retry = 1", id, NULL), 2);
    CHECK_EQ_I64(q1(p, "SELECT sum(amount_cents) FROM charge_attempts WHERE subscription = ?1 "
                       "AND is_retry = 1 AND outcome = 'ok'", id, NULL), 1000);
  }
  patron_tick_result r = tick(p, "2026-03-10T00:00:00Z");
  CHECK_EQ_I64(r.charges_requested, 3);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(soft_failures_use_every_retry_then_the_final_action) {
  /* SHOP: four retries (+1, +3, +5, +7), then suspend at +10 */
  patron *p = shop("s_soft_final.db", SHOP);
  char id[64];
  failed_renewal(p, id, "SF", "insufficient_funds");
  static const char *const retry_at[] = {"2026-02-11T00:00:00Z", "2026-02-13T00:00:00Z",
                                         "2026-02-15T00:00:00Z", "2026-02-17T00:00:00Z"};
  for (int k = 0; k < 4; k++) {
    patron_tick_result r = tick(p, retry_at[k]);
    CHECK_EQ_I64(r.charges_requested, 1);
    CHECK(pay(p, id, 0, "insufficient_funds"));
    check_notice(p, id, "insufficient_funds", k + 2, k < 3 ? retry_at[k + 1] : NULL);
  }
  CHECK(tick_quiet(p, "2026-02-19T23:59:59Z"));
  CHECK_STR(status(p, id), "past_due");
  patron_tick_result r = tick(p, "2026-02-20T00:00:00Z");
  CHECK_EQ_I64(r.dunning_steps, 1);
  CHECK_STR(status(p, id), "suspended");
  CHECK(tick_quiet(p, "2026-02-20T00:00:00Z"));
  CHECK(tick_quiet(p, "2026-03-10T00:00:00Z")); /* suspended: no renewal */
  json_t *ev = last_event(p, id, "dunning_notice");
  CHECK_STR(S(ev, "step"), "final");
  CHECK_STR(S(ev, "action"), "suspend");
  json_decref(ev);
  CHECK_EQ_I64(nevents(p, id, "subscription_suspended"), 1);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 6);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM subscription_history WHERE subscription = ?1 "
                     "AND to_status = 'suspended' AND voluntary = 0 "
                     "AND reason = 'dunning_suspend'", id, NULL), 1);
  /* a new payment method brings it back at once, on a new schedule */
  at("2026-03-20T12:00:00Z");
  json_t *j = new_method(p, id, "tok_visa_new", "visa", "4242", 2030, 1);
  CHECK(j != NULL);
  CHECK(json_is_string(json_object_get(j, "retry_attempt")));
  json_decref(j);
  CHECK(pay(p, id, 1, NULL));
  j = show(p, id);
  CHECK_STR(S(j, "status"), "active");
  CHECK_STR(S(j, "current_period_start"), "2026-03-20T12:00:00Z");
  CHECK_STR(S(j, "renews_at"), "2026-04-20T12:00:00Z");
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "subscription_recovered"), 1);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(max_retries_is_honoured_and_the_final_action_cancels) {
  /* SHOP_CANCEL: retries at +1 and +3 only (max_retries 2), cancel at +10 */
  patron *p = shop("s_cancel_final.db", SHOP_CANCEL);
  for (int i = 0; i < 3; i++) {
    char id[64], cust[16];
    snprintf(cust, sizeof cust, "MR%d", i);
    failed_renewal(p, id, cust, SOFT[i]);
    check_notice(p, id, SOFT[i], 1, "2026-02-11T00:00:00Z");
    CHECK_EQ_I64(tick(p, "2026-02-11T00:00:00Z").charges_requested, 1);
    CHECK(pay(p, id, 0, SOFT[i]));
    check_notice(p, id, SOFT[i], 2, "2026-02-13T00:00:00Z");
    CHECK_EQ_I64(tick(p, "2026-02-13T00:00:00Z").charges_requested, 1);
    CHECK(pay(p, id, 0, SOFT[i]));
    check_notice(p, id, SOFT[i], 3, NULL); /* no third retry */
    CHECK(tick_quiet(p, "2026-02-15T00:00:00Z"));
    CHECK(tick_quiet(p, "2026-02-17T00:00:00Z"));
    CHECK(tick_quiet(p, "2026-02-19T23:59:59Z"));
    CHECK_STR(status(p, id), "past_due");
    patron_tick_result r = tick(p, "2026-02-20T00:00:00Z");
    CHECK_EQ_I64(r.dunning_steps, 1);
    CHECK_STR(status(p, id), "canceled");
    CHECK_EQ_I64(nevents(p, id, "subscription_canceled"), 1);
    CHECK_EQ_I64(q1(p, "SELECT count(*) FROM subscription_history WHERE subscription = ?1 "
                       "AND to_status = 'canceled' AND voluntary = 0", id, NULL), 1);
    CHECK_EQ_I64(q1(p, "SELECT count(*) FROM charge_attempts WHERE subscription = ?1 "
                       "AND is_retry = 1", id, NULL), 2);
    CHECK(tick_quiet(p, "2026-03-10T00:00:00Z"));
  }
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(hard_declines_wait_for_a_payment_method_then_retry_at_once) {
  patron *p = shop("s_hard.db", SHOP);
  for (int i = 0; i < 3; i++) {
    char id[64], cust[16];
    snprintf(cust, sizeof cust, "HARD%d", i);
    failed_renewal(p, id, cust, HARD[i]);
    CHECK_STR(status(p, id), "past_due");
    check_notice(p, id, HARD[i], 1, NULL);
    json_t *ev = last_event(p, id, "dunning_notice");
    CHECK(json_is_true(json_object_get(ev, "awaiting_payment_method")));
    json_decref(ev);
    /* no blind retries on the schedule */
    CHECK(tick_quiet(p, "2026-02-11T00:00:00Z"));
    CHECK(tick_quiet(p, "2026-02-13T00:00:00Z"));
    CHECK_EQ_I64(nevents(p, id, "charge_requested"), 2);
    /* the customer gives a new card: retried at once */
    at("2026-02-14T08:30:00Z");
    json_t *j = new_method(p, id, "tok_mc_9", "mastercard", "5454", 2028, 4);
    CHECK(j != NULL);
    CHECK_STR(S(j, "payment_method.last4"), "5454");
    CHECK_EQ_I64(I(j, "payment_method.exp_year"), 2028);
    json_decref(j);
    CHECK_EQ_I64(nevents(p, id, "charge_requested"), 3);
    ev = last_event(p, id, "charge_requested");
    CHECK_STR(S(ev, "_at"), "2026-02-14T08:30:00Z");
    CHECK_STR(S(ev, "kind"), "retry");
    CHECK_STR(S(ev, "payment_method.token"), "tok_mc_9");
    CHECK_STR(S(ev, "payment_method.last4"), "5454");
    CHECK_EQ_I64(I(ev, "attempt_number"), 2);
    json_decref(ev);
    CHECK_EQ_I64(nevents(p, id, "payment_method_updated"), 1);
    CHECK(pay(p, id, 1, NULL));
    j = show(p, id);
    CHECK_STR(S(j, "status"), "active");
    CHECK_STR(S(j, "renews_at"), "2026-03-10T00:00:00Z"); /* original schedule */
    json_decref(j);
  }
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(hard_declines_without_a_new_method_reach_the_final_action) {
  patron *p = shop("s_hard_final.db", SHOP_CANCEL);
  for (int i = 0; i < 3; i++) {
    char id[64], cust[16];
    snprintf(cust, sizeof cust, "HF%d", i);
    failed_renewal(p, id, cust, HARD[i]);
    CHECK(tick_quiet(p, "2026-02-11T00:00:00Z"));
    CHECK(tick_quiet(p, "2026-02-19T23:59:59Z"));
    CHECK_STR(status(p, id), "past_due");
    CHECK_EQ_I64(tick(p, "2026-02-20T00:00:00Z").dunning_steps, 1);
    CHECK_STR(status(p, id), "canceled");
    CHECK_EQ_I64(nevents(p, id, "charge_requested"), 2);
    /* canceled: a new method is refused */
    at("2026-02-21T00:00:00Z");
    CHECK(new_method(p, id, "tok_x", "visa", "1111", 2030, 1) == NULL);
    CHECK_EQ_I64(patron_errcode(p), PATRON_INVALID_INPUT);
    CHECK_HAS(patron_errmsg(p), "canceled");
  }
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(card_expired_retry_that_fails_softly_goes_back_to_the_schedule) {
  patron *p = shop("s_mixed.db", SHOP);
  char id[64];
  failed_renewal(p, id, "MX", "card_expired");
  at("2026-02-12T00:00:00Z");
  json_decref(new_method(p, id, "tok_1", "visa", "4242", 2029, 12));
  CHECK(pay(p, id, 0, "insufficient_funds"));
  /* +1 has passed; the next slot is F + 3 days */
  check_notice(p, id, "insufficient_funds", 2, "2026-02-13T00:00:00Z");
  CHECK_EQ_I64(tick(p, "2026-02-13T00:00:00Z").charges_requested, 1);
  CHECK(pay(p, id, 1, NULL));
  CHECK_STR(status(p, id), "active");
  /* an expired card and a bad last4 are refused */
  at("2026-03-01T00:00:00Z");
  CHECK(new_method(p, id, "tok_2", "visa", "4242", 2026, 2) == NULL);
  CHECK_HAS(patron_errmsg(p), "expired in 2026-02");
  CHECK(new_method(p, id, "tok_2", "visa", "42a2", 2030, 2) == NULL);
  CHECK_STR(patron_errpath(p), "last4");
  CHECK(new_method(p, id, "tok_2", "visa", "424", 2030, 2) == NULL);
  CHECK(new_method(p, id, "tok_2", "visa", "4242", 2030, 13) == NULL);
  CHECK_STR(patron_errpath(p), "exp_month");
  /* active: a new method is recorded, nothing is charged */
  json_t *j = new_method(p, id, "tok_3", "amex", "0005", 2030, 2);
  CHECK(j != NULL);
  CHECK(json_is_null(json_object_get(j, "retry_attempt")));
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 4);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- answers ------------------------------------------------------------------ */

TEST(charge_result_is_idempotent_and_a_different_answer_conflicts) {
  patron *p = shop("s_idem.db", SHOP);
  char id[64], a[64];
  at("2026-01-10T00:00:00Z");
  json_decref(create(p, id, "I1", "pro-monthly", 0));
  snprintf(a, sizeof a, "%s", open_attempt(p, id));
  char *first = NULL, *second = NULL;
  CHECK(patron_sub_charge_result(p, &first, a, 1, NULL) == PATRON_OK);
  int64_t events = q1(p, "SELECT count(*) FROM events", NULL, NULL);
  int64_t entries = q1(p, "SELECT count(*) FROM ledger", NULL, NULL);
  at("2026-01-11T00:00:00Z");
  CHECK(patron_sub_charge_result(p, &second, a, 1, NULL) == PATRON_OK);
  CHECK_STR(second, first);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events", NULL, NULL), events);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger", NULL, NULL), entries);
  patron_free(second);
  second = NULL;
  CHECK(patron_sub_charge_result(p, &second, a, 0, "card_expired") == PATRON_CONFLICT);
  CHECK(second == NULL);
  CHECK_HAS(patron_errmsg(p), "already answered ok");
  patron_free(first);
  /* a failure twice: the same result; another reason: conflict */
  tick(p, "2026-02-10T00:00:00Z");
  snprintf(a, sizeof a, "%s", open_attempt(p, id));
  CHECK(patron_sub_charge_result(p, &first, a, 0, "insufficient_funds") == PATRON_OK);
  events = q1(p, "SELECT count(*) FROM events", NULL, NULL);
  CHECK(patron_sub_charge_result(p, &second, a, 0, "insufficient_funds") == PATRON_OK);
  CHECK_STR(second, first);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events", NULL, NULL), events);
  patron_free(first);
  patron_free(second);
  CHECK(patron_sub_charge_result(p, &first, a, 0, "limit_exceeded") == PATRON_CONFLICT);
  CHECK(patron_sub_charge_result(p, &first, a, 1, NULL) == PATRON_CONFLICT);
  CHECK_HAS(patron_errmsg(p), "failed: insufficient_funds");
  /* unknown attempt, unknown reason, a reason with ok */
  CHECK(patron_sub_charge_result(p, &first, "no-such-attempt", 1, NULL) == PATRON_NOT_FOUND);
  CHECK(patron_sub_charge_result(p, &first, a, 0, "stolen_moon") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "insufficient_funds, card_expired");
  CHECK(patron_sub_charge_result(p, &first, a, 1, "insufficient_funds") ==
        PATRON_INVALID_INPUT);
  CHECK(patron_sub_charge_result(p, &first, a, 0, NULL) == PATRON_INVALID_INPUT);
  CHECK(first == NULL);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(tick_twice_at_one_time_does_nothing_the_second_time) {
  patron *p = shop("s_tick2.db", SHOP);
  char a[64], b[64], c[64], d[64];
  at("2026-01-10T00:00:00Z");
  json_decref(create(p, a, "K1", "pro-monthly", 0));
  CHECK(pay(p, a, 1, NULL));
  json_decref(create(p, b, "K2", "pro-monthly", 1));
  json_decref(create(p, c, "K3", "pro-annual", 0));
  CHECK(pay(p, c, 1, NULL));
  json_decref(create(p, d, "K4", "basic-monthly", 0));
  CHECK(pay(p, d, 1, NULL));
  char *out = NULL;
  CHECK(patron_sub_upgrade(p, &out, d, "team-monthly", 10) == PATRON_OK);
  patron_free(out);
  patron_tick_result r = tick(p, "2026-02-10T00:00:00Z");
  CHECK_EQ_I64(r.charges_requested, 3); /* K1 renewal, K2 trial end, K4 renewal */
  CHECK_EQ_I64(r.trials_ended, 1);
  CHECK_EQ_I64(r.upgrades_reverted, 1);
  int64_t events = q1(p, "SELECT count(*) FROM events", NULL, NULL);
  CHECK(tick_quiet(p, "2026-02-10T00:00:00Z"));
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events", NULL, NULL), events);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- plan changes ----------------------------------------------------------- */

TEST(upgrade_prorates_in_exact_cents) {
  patron *p = shop("s_prorate.db", SHOP);
  char id[64];
  at("2026-04-01T00:00:00Z"); /* April: a 30-day period */
  json_decref(create(p, id, "P1", "basic-monthly", 0));
  CHECK(pay(p, id, 1, NULL));
  at("2026-04-11T07:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_change(p, &out, id, "pro-monthly") == PATRON_OK);
  json_t *j = parse(out);
  /* remaining 20 days - 7 h = 1702800 s of 2592000 s:
  ** credit = floor(500 * 1702800 / 2592000) = floor(328.47) = 328 */
  CHECK_STR(S(j, "change.kind"), "upgrade");
  CHECK_EQ_I64(I(j, "change.remaining_seconds"), 1702800);
  CHECK_EQ_I64(I(j, "change.period_seconds"), 2592000);
  CHECK_EQ_I64(I(j, "change.credit_cents"), 328);
  CHECK_EQ_I64(I(j, "change.charge_cents"), 672);
  CHECK_STR(S(j, "plan"), "pro-monthly");
  CHECK_EQ_I64(I(j, "price_cents"), 1000);
  CHECK_STR(S(j, "current_period_start"), "2026-04-11T07:00:00Z");
  CHECK_STR(S(j, "current_period_end"), "2026-05-11T07:00:00Z");
  json_decref(j);
  json_t *ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 672);
  CHECK_STR(S(ev, "kind"), "upgrade");
  json_decref(ev);
  ev = last_event(p, id, "plan_changed");
  CHECK_EQ_I64(I(ev, "credit_cents"), 328);
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  CHECK(tick_quiet(p, "2026-05-01T00:00:00Z")); /* the old schedule is gone */
  CHECK_EQ_I64(tick(p, "2026-05-11T07:00:00Z").charges_requested, 1);
  ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  /* a credit larger than the new price: nothing to charge, never negative */
  char y[64];
  at("2026-04-01T00:00:00Z");
  json_decref(create(p, y, "P2", "pro-annual", 0));
  CHECK(pay(p, y, 1, NULL));
  at("2026-04-02T00:00:00Z");
  CHECK(patron_sub_change(p, &out, y, "team-monthly") == PATRON_OK);
  j = parse(out);
  /* 364 of 365 days left: floor(10200 * 364 / 365) = 10172 > 3000 */
  CHECK_EQ_I64(I(j, "change.credit_cents"), 10172);
  CHECK_EQ_I64(I(j, "change.charge_cents"), 0);
  CHECK(json_is_null(json_object_get(j, "open_attempt")));
  CHECK_STR(S(j, "status"), "active");
  CHECK_STR(S(j, "renews_at"), "2026-05-02T00:00:00Z");
  json_decref(j);
  CHECK_EQ_I64(nevents(p, y, "charge_requested"), 1);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(downgrade_takes_effect_at_period_end) {
  patron *p = shop("s_down.db", SHOP);
  char id[64];
  at("2026-05-01T00:00:00Z");
  json_decref(create(p, id, "D1", "pro-monthly", 0));
  CHECK(pay(p, id, 1, NULL));
  at("2026-05-10T00:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_change(p, &out, id, "basic-monthly") == PATRON_OK);
  json_t *j = parse(out);
  CHECK_STR(S(j, "change.kind"), "downgrade_scheduled");
  CHECK_STR(S(j, "plan"), "pro-monthly");
  CHECK_STR(S(j, "pending_change.plan"), "basic-monthly");
  CHECK_STR(S(j, "pending_change.at"), "2026-06-01T00:00:00Z");
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 1);
  CHECK_EQ_I64(nevents(p, id, "plan_change_scheduled"), 1);
  CHECK_EQ_I64(tick(p, "2026-06-01T00:00:00Z").charges_requested, 1);
  json_t *ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 500);
  CHECK_STR(S(ev, "plan"), "basic-monthly");
  CHECK_STR(S(ev, "period_end"), "2026-07-01T00:00:00Z");
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  j = show(p, id);
  CHECK_STR(S(j, "plan"), "basic-monthly");
  CHECK_EQ_I64(I(j, "price_cents"), 500);
  CHECK(json_is_null(json_object_get(j, "pending_change")));
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "plan_changed"), 1);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(temporary_upgrade_reverts_by_itself) {
  patron *p = shop("s_temp.db", SHOP);
  char id[64];
  at("2026-07-01T00:00:00Z");
  json_decref(create(p, id, "U1", "basic-monthly", 0));
  CHECK(pay(p, id, 1, NULL));
  at("2026-07-05T12:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_upgrade(p, &out, id, "pro-monthly", 14) == PATRON_OK);
  json_t *j = parse(out);
  CHECK_STR(S(j, "plan"), "basic-monthly");
  CHECK_STR(S(j, "access_plan"), "pro-monthly");
  CHECK_STR(S(j, "temporary_upgrade.until"), "2026-07-19T12:00:00Z");
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "charge_requested"), 1); /* no charge for it */
  json_t *ev = last_event(p, id, "temporary_upgrade_started");
  CHECK_EQ_I64(I(ev, "charge_cents"), 0);
  json_decref(ev);
  /* a second one while it runs, or one to a cheaper plan, is refused */
  CHECK(patron_sub_upgrade(p, &out, id, "team-monthly", 3) == PATRON_INVALID_INPUT);
  CHECK(tick_quiet(p, "2026-07-19T11:59:59Z"));
  patron_tick_result r = tick(p, "2026-07-19T12:00:00Z");
  CHECK_EQ_I64(r.upgrades_reverted, 1);
  CHECK(tick_quiet(p, "2026-07-19T12:00:00Z"));
  j = show(p, id);
  CHECK_STR(S(j, "access_plan"), "basic-monthly");
  CHECK(json_is_null(json_object_get(j, "temporary_upgrade")));
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "temporary_upgrade_ended"), 1);
  CHECK_EQ_I64(tick(p, "2026-08-01T00:00:00Z").charges_requested, 1);
  ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 500);
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  /* nothing to convert any more; a downgrade is not an upgrade */
  CHECK(patron_sub_convert(p, &out, id) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "no temporary upgrade");
  char y[64];
  json_decref(create(p, y, "U2", "pro-monthly", 0));
  CHECK(patron_sub_upgrade(p, &out, y, "basic-monthly", 3) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "costs more");
  CHECK(patron_sub_upgrade(p, &out, id, "pro-monthly", 0) == PATRON_INVALID_INPUT);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(temporary_upgrade_converted_is_billed_from_the_next_renewal) {
  patron *p = shop("s_convert.db", SHOP);
  char id[64];
  at("2026-07-01T00:00:00Z");
  json_decref(create(p, id, "V1", "basic-monthly", 0));
  CHECK(pay(p, id, 1, NULL));
  at("2026-07-05T00:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_upgrade(p, &out, id, "pro-monthly", 7) == PATRON_OK);
  patron_free(out);
  at("2026-07-08T00:00:00Z");
  CHECK(patron_sub_convert(p, &out, id) == PATRON_OK);
  json_t *j = parse(out);
  CHECK(json_is_true(get(j, "temporary_upgrade.converted")));
  CHECK_STR(S(j, "pending_change.plan"), "pro-monthly");
  CHECK_EQ_I64(I(j, "pending_change.price_cents"), 1000);
  json_decref(j);
  CHECK(patron_sub_convert(p, &out, id) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "already converted");
  /* no revert when the 7 days are over: access stays */
  patron_tick_result r = tick(p, "2026-07-12T00:00:00Z");
  CHECK_EQ_I64(r.upgrades_reverted, 0);
  CHECK_STR(S(j = show(p, id), "access_plan"), "pro-monthly");
  json_decref(j);
  CHECK_EQ_I64(tick(p, "2026-08-01T00:00:00Z").charges_requested, 1);
  json_t *ev = last_event(p, id, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  CHECK_STR(S(ev, "plan"), "pro-monthly");
  json_decref(ev);
  CHECK(pay(p, id, 1, NULL));
  j = show(p, id);
  CHECK_STR(S(j, "plan"), "pro-monthly");
  CHECK_STR(S(j, "access_plan"), "pro-monthly");
  CHECK(json_is_null(json_object_get(j, "temporary_upgrade")));
  CHECK_EQ_I64(I(j, "price_cents"), 1000);
  json_decref(j);
  CHECK_EQ_I64(nevents(p, id, "temporary_upgrade_converted"), 1);
  CHECK_EQ_I64(nevents(p, id, "temporary_upgrade_ended"), 0);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- prices ------------------------------------------------------------------- */

TEST(grandfathered_price_and_migration_with_notice) {
  patron *p = shop("s_price.db", SHOP);
  char old1[64], old2[64], fresh[64];
  at("2026-01-15T00:00:00Z");
  json_decref(create(p, old1, "G1", "pro-monthly", 0));
  CHECK(pay(p, old1, 1, NULL));
  json_decref(create(p, old2, "G2", "pro-monthly", 0));
  CHECK(pay(p, old2, 1, NULL));
  at("2026-02-01T00:00:00Z");
  apply(p, SHOP_NEW_PRICE); /* pro-monthly now 12.00 */
  json_decref(create(p, fresh, "G3", "pro-monthly", 0));
  json_t *ev = last_event(p, fresh, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1200);
  json_decref(ev);
  CHECK(pay(p, fresh, 1, NULL));
  /* the old subscribers keep paying what they were sold at */
  CHECK_EQ_I64(tick(p, "2026-02-15T00:00:00Z").charges_requested, 2);
  ev = last_event(p, old1, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  json_decref(ev);
  CHECK(pay(p, old1, 1, NULL));
  CHECK(pay(p, old2, 1, NULL));
  CHECK_EQ_I64(nevents(p, old1, "price_change_notice"), 0);
  /* the migration: a notice each, effective in 30 days */
  at("2026-02-20T00:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_migrate_price(p, &out, "pro-monthly", 30) == PATRON_OK);
  json_t *j = parse(out);
  CHECK_EQ_I64(I(j, "notified"), 2);
  CHECK_STR(S(j, "effective_at"), "2026-03-22T00:00:00Z");
  json_decref(j);
  ev = last_event(p, old1, "price_change_notice");
  CHECK_EQ_I64(I(ev, "old_price_cents"), 1000);
  CHECK_EQ_I64(I(ev, "new_price_cents"), 1200);
  CHECK_STR(S(ev, "effective_at"), "2026-03-22T00:00:00Z");
  json_decref(ev);
  CHECK_EQ_I64(nevents(p, fresh, "price_change_notice"), 0);
  /* again: nothing new to announce */
  CHECK(patron_sub_migrate_price(p, &out, "pro-monthly", 30) == PATRON_OK);
  j = parse(out);
  CHECK_EQ_I64(I(j, "notified"), 0);
  json_decref(j);
  /* the renewal before the effective date is still at the old price (the
  ** new subscriber renews on the 1st at its own price) */
  CHECK_EQ_I64(tick(p, "2026-03-15T00:00:00Z").charges_requested, 3);
  ev = last_event(p, old1, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  json_decref(ev);
  ev = last_event(p, fresh, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1200);
  json_decref(ev);
  CHECK(pay(p, old1, 1, NULL));
  CHECK(pay(p, old2, 1, NULL));
  CHECK(pay(p, fresh, 1, NULL));
  CHECK_EQ_I64(nevents(p, old1, "price_changed"), 0);
  /* the first renewal on or after it moves to the new price */
  CHECK_EQ_I64(tick(p, "2026-04-15T00:00:00Z").charges_requested, 3);
  ev = last_event(p, old1, "charge_requested");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1200);
  json_decref(ev);
  ev = last_event(p, old1, "price_changed");
  CHECK_EQ_I64(I(ev, "old_price_cents"), 1000);
  CHECK_EQ_I64(I(ev, "new_price_cents"), 1200);
  json_decref(ev);
  CHECK(pay(p, old1, 1, NULL));
  j = show(p, old1);
  CHECK_EQ_I64(I(j, "price_cents"), 1200);
  CHECK(json_is_null(json_object_get(j, "price_change")));
  json_decref(j);
  CHECK(patron_sub_migrate_price(p, &out, "pro-monthly", -1) == PATRON_INVALID_INPUT);
  CHECK(patron_sub_migrate_price(p, &out, "nope", 3) == PATRON_NOT_FOUND);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- cancellation and refused transitions -------------------------------------- */

TEST(cancel_now_and_at_period_end) {
  patron *p = shop("s_cancel.db", SHOP);
  char a[64], b[64];
  at("2026-03-01T00:00:00Z");
  json_decref(create(p, a, "X1", "pro-monthly", 0));
  CHECK(pay(p, a, 1, NULL));
  json_decref(create(p, b, "X2", "pro-monthly", 0));
  CHECK(pay(p, b, 1, NULL));
  at("2026-03-10T00:00:00Z");
  char *out = NULL;
  CHECK(patron_sub_cancel(p, &out, a, 1) == PATRON_OK);
  json_t *j = parse(out);
  CHECK_STR(S(j, "status"), "active");
  CHECK(json_is_true(json_object_get(j, "cancel_at_period_end")));
  json_decref(j);
  CHECK(patron_sub_cancel(p, &out, a, 1) == PATRON_OK); /* again: no change */
  patron_free(out);
  CHECK_EQ_I64(nevents(p, a, "subscription_cancel_scheduled"), 1);
  CHECK(patron_sub_cancel(p, &out, b, 0) == PATRON_OK);
  j = parse(out);
  CHECK_STR(S(j, "status"), "canceled");
  CHECK_STR(S(j, "ended_at"), "2026-03-10T00:00:00Z");
  json_decref(j);
  patron_tick_result r = tick(p, "2026-04-01T00:00:00Z");
  CHECK_EQ_I64(r.charges_requested, 0);
  CHECK_STR(status(p, a), "expired");
  CHECK_EQ_I64(nevents(p, a, "subscription_expired"), 1);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM subscription_history WHERE voluntary = 1 "
                     "AND to_status IN ('canceled', 'expired')", NULL, NULL), 2);
  /* a charge answered ok after the subscription ended: refund due */
  char c[64], att[64];
  at("2026-04-01T00:00:00Z");
  json_decref(create(p, c, "X3", "pro-monthly", 0));
  snprintf(att, sizeof att, "%s", open_attempt(p, c));
  CHECK(patron_sub_cancel(p, &out, c, 0) == PATRON_OK);
  patron_free(out);
  json_decref(answer(p, att, 1, NULL));
  CHECK_STR(status(p, c), "canceled");
  json_t *ev = last_event(p, c, "refund_due");
  CHECK_EQ_I64(I(ev, "amount_cents"), 1000);
  json_decref(ev);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(transitions_that_are_not_allowed_are_errors) {
  patron *p = shop("s_refuse.db", SHOP);
  char id[64], pd[64];
  char *out = NULL;
  at("2026-03-01T00:00:00Z");
  json_decref(create(p, id, "R1", "basic-monthly", 0));
  /* a charge in flight: no plan change until it is answered */
  CHECK(patron_sub_change(p, &out, id, "pro-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "awaiting its result");
  CHECK(pay(p, id, 1, NULL));
  CHECK(patron_sub_change(p, &out, id, "basic-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "already on plan");
  CHECK(patron_sub_change(p, &out, id, "gold-plated") == PATRON_NOT_FOUND);
  CHECK_HAS(patron_errmsg(p), "unknown plan 'gold-plated'");
  CHECK(patron_sub_cancel(p, &out, id, 0) == PATRON_OK);
  patron_free(out);
  int64_t events = q1(p, "SELECT count(*) FROM events", NULL, NULL);
  CHECK(patron_sub_change(p, &out, id, "pro-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is canceled");
  CHECK_STR(patron_errpath(p), "subscription");
  CHECK(patron_sub_cancel(p, &out, id, 0) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is canceled");
  CHECK(patron_sub_cancel(p, &out, id, 1) == PATRON_INVALID_INPUT);
  CHECK(patron_sub_upgrade(p, &out, id, "pro-monthly", 5) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is canceled");
  CHECK(patron_sub_convert(p, &out, id) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is canceled");
  CHECK(out == NULL);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events", NULL, NULL), events);
  /* past_due: no plan change, no cancel at period end (cancel now is fine) */
  at("2026-03-01T00:00:00Z");
  json_decref(create(p, pd, "R2", "basic-monthly", 0));
  CHECK(pay(p, pd, 0, "insufficient_funds"));
  CHECK(patron_sub_change(p, &out, pd, "pro-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is past_due");
  CHECK(patron_sub_cancel(p, &out, pd, 1) == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is past_due");
  /* expired: final as well */
  char ex[64];
  json_decref(create(p, ex, "R3", "basic-monthly", 0));
  CHECK(pay(p, ex, 1, NULL));
  CHECK(patron_sub_cancel(p, &out, ex, 1) == PATRON_OK);
  patron_free(out);
  CHECK(patron_sub_change(p, &out, ex, "pro-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "cancel at period end");
  tick(p, "2026-04-01T00:00:00Z");
  CHECK_STR(status(p, ex), "expired");
  CHECK(patron_sub_change(p, &out, ex, "pro-monthly") == PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "is expired");
  /* unknown ids */
  CHECK(patron_sub_cancel(p, &out, "sub_nope", 0) == PATRON_NOT_FOUND);
  CHECK(patron_sub_show(p, &out, "sub_nope") == PATRON_NOT_FOUND);
  CHECK(patron_sub_show(p, &out, "NOBODY") == PATRON_UNKNOWN_CUSTOMER);
  CHECK(patron_sub_create(p, &out, "R4", "gold-plated", 0) == PATRON_NOT_FOUND);
  CHECK(patron_sub_create(p, &out, "", "basic-monthly", 0) == PATRON_INVALID_INPUT);
  /* show by customer lists theirs */
  CHECK(patron_sub_show(p, &out, "R1") == PATRON_OK);
  json_t *j = parse(out);
  CHECK_EQ_I64(json_array_size(j), 1);
  CHECK_STR(S(json_array_get(j, 0), "id"), id);
  json_decref(j);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- card numbers ------------------------------------------------------------- */

TEST(card_number_detection) {
  CHECK(pt_is_card_number("4242424242424242"));
  CHECK(pt_is_card_number("4242 4242 4242 4242"));
  CHECK(pt_is_card_number("4242-4242-4242-4242"));
  CHECK(pt_is_card_number("card: 4111 1111 1111 1111 thanks"));
  CHECK(pt_is_card_number("tok_4242424242424242"));
  CHECK(pt_is_card_number("378282246310005"));       /* Amex, 15 digits */
  CHECK(pt_is_card_number("4222222222222"));         /* 13 digits */
  CHECK(pt_is_card_number("6011 1111 1111 1117 99 x")); /* inside a longer run */
  CHECK(!pt_is_card_number("4242424242424241"));     /* Luhn fails */
  CHECK(!pt_is_card_number("0000000000000000"));     /* no issuer starts with 0 */
  CHECK(!pt_is_card_number("42424242424242424242424")); /* one long run */
  CHECK(!pt_is_card_number("424242424242"));         /* 12 digits */
  CHECK(!pt_is_card_number("2026-11-23 12:00"));
  CHECK(!pt_is_card_number("C1"));
  CHECK(!pt_is_card_number(""));
  CHECK(!pt_is_card_number(NULL));
}

TEST(card_numbers_are_refused_in_every_string_input) {
  patron *p = shop("s_pan.db", SHOP);
  char *out = NULL, id[64];
  const char *pans[] = {"4242424242424242", "4242 4242 4242 4242", "5555-5555-5555-4444"};
  at("2026-03-01T00:00:00Z");
  json_decref(create(p, id, "CARD1", "basic-monthly", 0));
  CHECK(pay(p, id, 0, "card_expired"));
  for (int i = 0; i < 3; i++) {
    CHECK(patron_sub_create(p, &out, pans[i], "basic-monthly", 0) == PATRON_INVALID_INPUT);
    CHECK_STR(patron_errpath(p), "customer");
    CHECK_HAS(patron_errmsg(p), "looks like a payment card number; patron never stores "
                                "card numbers");
    CHECK(!strstr(patron_errmsg(p), "4242") && !strstr(patron_errmsg(p), "5555"));
    CHECK(patron_sub_create(p, &out, "CARD2", pans[i], 0) == PATRON_INVALID_INPUT);
    CHECK_STR(patron_errpath(p), "plan");
    CHECK(new_method(p, id, pans[i], "visa", "4242", 2030, 1) == NULL);
    CHECK_STR(patron_errpath(p), "token");
    CHECK_HAS(patron_errmsg(p), "looks like a payment card number");
    CHECK(new_method(p, id, "tok_ok", pans[i], "4242", 2030, 1) == NULL);
    CHECK_STR(patron_errpath(p), "brand");
    CHECK(new_method(p, pans[i], "tok_ok", "visa", "4242", 2030, 1) == NULL);
    CHECK_STR(patron_errpath(p), "subscription");
    CHECK(patron_sub_show(p, &out, pans[i]) == PATRON_INVALID_INPUT);
    CHECK(patron_sub_cancel(p, &out, pans[i], 0) == PATRON_INVALID_INPUT);
    CHECK(patron_sub_change(p, &out, id, pans[i]) == PATRON_INVALID_INPUT);
    CHECK(patron_sub_upgrade(p, &out, id, pans[i], 3) == PATRON_INVALID_INPUT);
    CHECK(patron_sub_migrate_price(p, &out, pans[i], 3) == PATRON_INVALID_INPUT);
    CHECK(patron_sub_charge_result(p, &out, pans[i], 1, NULL) == PATRON_INVALID_INPUT);
    CHECK_STR(patron_errpath(p), "attempt");
    CHECK(patron_sub_charge_result(p, &out, "x", 0, pans[i]) == PATRON_INVALID_INPUT);
    CHECK_STR(patron_errpath(p), "reason");
  }
  CHECK(out == NULL);
  /* nothing of it reached the database */
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM payment_methods", NULL, NULL), 0);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM customers WHERE id <> 'CARD1'", NULL, NULL), 0);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events WHERE payload LIKE '%4242%4242%' "
                     "OR payload LIKE '%5555%'", NULL, NULL), 0);
  /* a token with digits that are not a card number is fine */
  json_t *j = new_method(p, id, "tok_4242424242424241", "visa", "4242", 2030, 1);
  CHECK(j != NULL);
  CHECK_STR(S(j, "payment_method.token"), "tok_4242424242424241");
  json_decref(j);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ids patron makes are inputs later: none may look like a card number
** (about 1 random hex id in 250 would, unless drawn again) */
TEST(generated_ids_never_look_like_card_numbers) {
  patron *p = shop(":memory:", SHOP);
  at("2026-03-01T00:00:00Z");
  int bad = 0;
  for (int i = 0; i < 1500; i++) {
    char id[64];
    json_t *j = create(p, id, "IDS", "basic-monthly", 0);
    if (!id[0] || pt_is_card_number(id) || pt_is_card_number(S(j, "open_attempt"))) bad++;
    json_decref(j);
  }
  CHECK_EQ_I64(bad, 0);
  CHECK_EQ_I64(q1(p, "SELECT count(DISTINCT id) FROM subscriptions", NULL, NULL), 1500);
  patron_close(p);
}

int main(void) {
  RUN(plans_list_prices_and_the_annual_saving);
  RUN(a_year_of_monthly_renewals_from_the_31st);
  RUN(annual_renewal_reminder_seven_days_before_once);
  RUN(trial_ends_with_a_charge_for_the_first_period);
  RUN(soft_failures_retry_on_schedule_and_recover);
  RUN(soft_failures_use_every_retry_then_the_final_action);
  RUN(max_retries_is_honoured_and_the_final_action_cancels);
  RUN(hard_declines_wait_for_a_payment_method_then_retry_at_once);
  RUN(hard_declines_without_a_new_method_reach_the_final_action);
  RUN(card_expired_retry_that_fails_softly_goes_back_to_the_schedule);
  RUN(charge_result_is_idempotent_and_a_different_answer_conflicts);
  RUN(tick_twice_at_one_time_does_nothing_the_second_time);
  RUN(upgrade_prorates_in_exact_cents);
  RUN(downgrade_takes_effect_at_period_end);
  RUN(temporary_upgrade_reverts_by_itself);
  RUN(temporary_upgrade_converted_is_billed_from_the_next_renewal);
  RUN(grandfathered_price_and_migration_with_notice);
  RUN(cancel_now_and_at_period_end);
  RUN(transitions_that_are_not_allowed_are_errors);
  RUN(card_number_detection);
  RUN(card_numbers_are_refused_in_every_string_input);
  RUN(generated_ids_never_look_like_card_numbers);
  return t_done();
}
