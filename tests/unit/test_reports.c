/* test_reports.c -- the reports module against hand-computed fixtures built
** through the public API (commits, refunds, adjustments, tick, NPS answers)
** with an injected clock: every formula of DESIGN.md section 10 and its
** examples (5000 x 4 x 8 = 160000, 800 x 5 x 3 = 12000, 24 months of
** 100.00 = 2400.00, 100 -> 99 customers = 99%), empty periods ("no data"),
** the time zone reader and a month-end boundary in Europe/Helsinki, the
** aggregates against the raw ledger, NPS arithmetic, abandoned carts
** (once, not after a commit, contact cap) and simulate (writes nothing,
** reports the difference of a bigger bundle discount). */
#include <unistd.h>

#include <jansson.h>

#include "reports.h"
#include "t.h"

static int64_t now_value;
static int64_t clock_fn(void *ud) { return *(int64_t *)ud; }

static int64_t T(const char *s) {
  int64_t t = 0;
  if (patron_time_parse(&t, s)) abort();
  return t;
}

static const char *BASE =
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1 },\n"
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 0, max_share_bp = 10000 },\n"
    "  expiry = { months = 12, notice_days = 0 },\n"
    "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
    "            { name = \"gold\", from_cents = 100000, multiplier_bp = 10000 } },\n"
    "}\n"
    "bundle \"mp3-kit\" { skus = { \"MP3-01\", \"HP-07\" }, off_bp = 1500 }\n"
    "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n";

/* A fresh shop: shop {} line (zone and extras) + the base programs. */
static patron *shop_tz(const char *db, const char *shopline) {
  patron *p;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = &now_value;
  unlink(db);
  now_value = T("2026-01-01");
  if (patron_open(&p, db, &o)) {
    printf("# open: %s\n", patron_errmsg(p));
    abort();
  }
  char src[4096];
  snprintf(src, sizeof src, "%s\n%s", shopline, BASE);
  patron_apply_result r;
  if (patron_apply_buffer(p, &r, "shop.lua", src, strlen(src))) {
    printf("# apply: %s\n", patron_errmsg(p));
    abort();
  }
  return p;
}

static patron *shop(const char *db) {
  return shop_tz(db, "shop { currency = \"EUR\", timezone = \"UTC\" }");
}

static bool commit(patron *p, const char *order, const char *customer, const char *at,
                   const char *lines, int64_t redeem) {
  char cart[2048], *out = NULL;
  snprintf(cart, sizeof cart,
           "{\"order_id\":\"%s\",%s%s%s\"at\":\"%s\",\"redeem_points\":%lld,\"lines\":[%s]}",
           order, customer ? "\"customer\":\"" : "", customer ? customer : "",
           customer ? "\"," : "", at, (long long)redeem, lines);
  int rc = patron_commit_json(p, &out, cart);
  if (rc) printf("# commit %s: %s\n", order, patron_errmsg(p));
  patron_free(out);
  return rc == PATRON_OK;
}

static const char *ONE(int64_t cents) {
  static char buf[128];
  snprintf(buf, sizeof buf, "{\"sku\":\"X\",\"qty\":1,\"unit_cents\":%lld}", (long long)cents);
  return buf;
}

static json_t *report(patron *p, const char *name, const char *program, const char *from,
                      const char *to, const char *by) {
  patron_report_opts o = {program, from ? T(from) : 0, to ? T(to) : 0, by, NULL};
  char *out = NULL;
  if (patron_report_json(p, &out, name, &o)) {
    printf("# report %s: %s\n", name, patron_errmsg(p));
    return NULL;
  }
  json_t *j = json_loads(out, 0, NULL);
  patron_free(out);
  return j;
}

static json_t *table(json_t *doc, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(doc, "tables"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return json_object_get(t, "rows");
  return NULL;
}

/* The row of a table whose key equals value (and program, if given). */
static json_t *row(json_t *doc, const char *tab, const char *key, const char *value) {
  size_t i;
  json_t *r;
  json_array_foreach(table(doc, tab), i, r) {
    const char *v = json_string_value(json_object_get(r, key));
    if (v && strcmp(v, value) == 0) return r;
  }
  return NULL;
}

static int64_t I(json_t *r, const char *key) {
  json_t *v = json_object_get(r, key);
  return json_is_integer(v) ? json_integer_value(v) : -999999;
}

static const char *S(json_t *r, const char *key) {
  const char *s = json_string_value(json_object_get(r, key));
  return s ? s : "(null)";
}

static void exec(patron *p, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(p->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    printf("# sql: %s\n", err);
    sqlite3_free(err);
  }
}

/* ---- time zones ------------------------------------------------------------ */

TEST(tz_offsets_and_rules) {
  char why[256];
  pt_tz *h = pt_tz_load("Europe/Helsinki", why, sizeof why);
  CHECK(h != NULL);
  if (!h) { printf("# %s\n", why); return; }
  CHECK_EQ_I64(pt_tz_offset(h, T("2026-01-15T12:00:00Z")), 7200);
  CHECK_EQ_I64(pt_tz_offset(h, T("2026-07-15T12:00:00Z")), 10800);
  /* DST ends 2026-10-25 01:00 UTC */
  CHECK_EQ_I64(pt_tz_offset(h, T("2026-10-25T00:59:59Z")), 10800);
  CHECK_EQ_I64(pt_tz_offset(h, T("2026-10-25T01:00:00Z")), 7200);
  /* far beyond any table: the footer rule */
  CHECK_EQ_I64(pt_tz_offset(h, T("2090-07-01T00:00:00Z")), 10800);
  CHECK_EQ_I64(pt_tz_offset(h, T("2090-12-01T00:00:00Z")), 7200);
  /* a wall time skipped in spring maps to the jump (2026-03-29 01:00Z) */
  int64_t local = T("2026-03-29T03:30:00Z");
  CHECK_EQ_I64(pt_tz_to_utc(h, local), T("2026-03-29T01:00:00Z"));
  CHECK_EQ_I64(pt_tz_to_utc(h, T("2026-11-01T00:00:00Z")), T("2026-10-31T22:00:00Z"));
  CHECK_EQ_I64(pt_tz_to_utc(h, T("2026-07-01T00:00:00Z")), T("2026-06-30T21:00:00Z"));
  /* months and weeks */
  CHECK_EQ_I64(pt_period_start(h, PT_BY_MONTH, T("2026-10-31T22:30:00Z")),
               T("2026-10-31T22:00:00Z"));
  CHECK_EQ_I64(pt_period_start(h, PT_BY_MONTH, T("2026-10-31T21:30:00Z")),
               T("2026-09-30T21:00:00Z"));
  CHECK_EQ_I64(pt_period_next(h, PT_BY_MONTH, T("2026-09-30T21:00:00Z")),
               T("2026-10-31T22:00:00Z"));
  char label[24];
  pt_period_label(h, PT_BY_MONTH, T("2026-10-31T22:00:00Z"), label, sizeof label);
  CHECK_STR(label, "2026-11");
  /* 2026-11-23 is a Monday of ISO week 48; 2027-01-01 is in 2026-W53 */
  CHECK_EQ_I64(pt_period_start(h, PT_BY_WEEK, T("2026-11-25T10:00:00Z")),
               T("2026-11-22T22:00:00Z"));
  pt_period_label(h, PT_BY_WEEK, T("2026-11-22T22:00:00Z"), label, sizeof label);
  CHECK_STR(label, "2026-W48");
  pt_period_label(h, PT_BY_WEEK, pt_period_start(h, PT_BY_WEEK, T("2027-01-01T12:00:00Z")),
                  label, sizeof label);
  CHECK_STR(label, "2026-W53");
  char buf[32];
  pt_tz_format(h, T("2026-11-30T21:59:00Z"), buf, sizeof buf);
  CHECK_STR(buf, "2026-11-30 23:59");
  pt_tz_free(h);
  /* the southern hemisphere: summer time across the new year */
  pt_tz *s = pt_tz_load("Australia/Sydney", why, sizeof why);
  if (s) {
    CHECK_EQ_I64(pt_tz_offset(s, T("2090-01-15T00:00:00Z")), 39600);
    CHECK_EQ_I64(pt_tz_offset(s, T("2090-07-15T00:00:00Z")), 36000);
    pt_tz_free(s);
  }
  pt_tz *k = pt_tz_load("Asia/Kolkata", why, sizeof why);
  if (k) {
    CHECK_EQ_I64(pt_tz_offset(k, T("2026-05-01T00:00:00Z")), 19800);
    pt_tz_free(k);
  }
  CHECK(pt_tz_load("../etc/passwd", why, sizeof why) == NULL);
  CHECK(pt_tz_load("Nowhere/City", why, sizeof why) == NULL);
  CHECK_HAS(why, "Nowhere/City");
  pt_tz *u = pt_tz_load("UTC", why, sizeof why);
  CHECK(u != NULL);
  CHECK_EQ_I64(pt_tz_offset(u, T("2026-07-01")), 0);
  pt_tz_free(u);
}

TEST(helsinki_month_end_boundary) {
  patron *p = shop_tz("r_tz.db", "shop { currency = \"EUR\", timezone = \"Europe/Helsinki\" }");
  /* 23:30 local on Oct 31 is October; 00:30 local on Nov 1 is November,
  ** although both are Oct 31 in UTC */
  CHECK(commit(p, "A", "C1", "2026-10-31T21:30:00Z", ONE(1000), 0));
  CHECK(commit(p, "B", "C2", "2026-10-31T22:30:00Z", ONE(2000), 0));
  now_value = T("2026-11-15");
  json_t *j = report(p, "redemption", "default", "2026-09-30T21:00:00Z",
                     "2026-11-30T22:00:00Z", NULL);
  CHECK_STR(S(j, "timezone"), "Europe/Helsinki");
  CHECK_EQ_I64(I(row(j, "periods", "period", "2026-10"), "issued"), 10);
  CHECK_EQ_I64(I(row(j, "periods", "period", "2026-11"), "issued"), 20);
  CHECK_EQ_I64(json_array_size(table(j, "periods")), 3); /* Oct, Nov, total */
  json_decref(j);
  j = report(p, "repeat", "default", "2026-09-30T21:00:00Z", "2026-11-30T22:00:00Z", "month");
  CHECK_EQ_I64(I(row(j, "repeat", "group", "2026-10"), "orders"), 1);
  CHECK_EQ_I64(I(row(j, "repeat", "group", "2026-11"), "orders"), 1);
  json_decref(j);
  patron_close(p);
}

/* ---- redemption and liability ------------------------------------------------- */

TEST(redemption_rates_cohorts_and_no_data) {
  patron *p = shop("r_red.db");
  /* January: C1 earns 100 (10000 paid) and C2 earns 50 */
  CHECK(commit(p, "J1", "C1", "2026-01-10T10:00:00Z", ONE(10000), 0));
  CHECK(commit(p, "J2", "C2", "2026-01-20T10:00:00Z", ONE(5000), 0));
  /* February: C1 redeems 30 of them, earns floor((4000 - 30) / 100) = 39 */
  CHECK(commit(p, "F1", "C1", "2026-02-05T10:00:00Z", ONE(4000), 30));
  now_value = T("2026-02-10T00:00:00Z");
  char uuid[37];
  CHECK_EQ_I64(patron_adjust(p, uuid, "C2", NULL, 11, "goodwill"), PATRON_OK);
  /* March: nothing. April: the refund of F1 gives back the 30 redeemed
  ** points and takes back the 39 earned */
  now_value = T("2026-04-02T00:00:00Z");
  char *out = NULL;
  CHECK_EQ_I64(patron_refund(p, &out, "F1", NULL, 0), PATRON_OK);
  patron_free(out);
  now_value = T("2026-04-30T00:00:00Z");
  json_t *j = report(p, "redemption", "default", "2026-01-01", "2026-05-01", NULL);
  json_t *jan = row(j, "periods", "period", "2026-01");
  json_t *feb = row(j, "periods", "period", "2026-02");
  json_t *mar = row(j, "periods", "period", "2026-03");
  json_t *apr = row(j, "periods", "period", "2026-04");
  json_t *tot = row(j, "periods", "period", "total");
  CHECK_EQ_I64(I(jan, "issued"), 150);
  CHECK_EQ_I64(I(jan, "redemption_rate_bp"), 0);
  CHECK(json_is_true(json_object_get(jan, "low")));
  CHECK_EQ_I64(I(feb, "issued"), 39 + 11);
  CHECK_EQ_I64(I(feb, "redeemed"), 30);
  /* 30 / 50 = 60% */
  CHECK_EQ_I64(I(feb, "redemption_rate_bp"), 6000);
  CHECK_STR(S(feb, "redemption_rate"), "60.0%");
  CHECK(json_is_false(json_object_get(feb, "low")));
  /* an empty period: no division, "no data" */
  CHECK(json_is_null(json_object_get(mar, "redemption_rate_bp")));
  CHECK_STR(S(mar, "redemption_rate"), "no data");
  CHECK_STR(S(mar, "note"), "no data");
  CHECK_EQ_I64(I(apr, "returned"), 30);
  CHECK_EQ_I64(I(apr, "reversed"), 39);
  CHECK_EQ_I64(I(apr, "redeemed_net"), -30);
  /* total: 0 net redeemed of 200 issued */
  CHECK_EQ_I64(I(tot, "issued"), 200);
  CHECK_EQ_I64(I(tot, "redeemed_net"), 0);
  CHECK_EQ_I64(I(tot, "redemption_rate_bp"), 0);
  /* cohorts: the 30 came out of January's lots (soonest expiry first);
  ** February's 39 were taken back by the refund (other), and the 30 given
  ** back form a lot of their own */
  json_t *cj = row(j, "cohorts", "cohort", "2026-01");
  CHECK_EQ_I64(I(cj, "issued"), 150);
  CHECK_EQ_I64(I(cj, "redeemed_since"), 30);
  CHECK_EQ_I64(I(cj, "outstanding"), 120);
  CHECK_EQ_I64(I(cj, "redeemed_share_bp"), 2000);
  json_t *cf = row(j, "cohorts", "cohort", "2026-02");
  CHECK_EQ_I64(I(cf, "issued"), 50);
  CHECK_EQ_I64(I(cf, "other_since"), 39);
  CHECK_EQ_I64(I(cf, "outstanding"), 11);
  json_t *cr = row(j, "cohorts", "origin", "returned");
  CHECK_EQ_I64(I(cr, "issued"), 30);
  json_decref(j);

  /* expiry a year later: breakage and the expired column */
  now_value = T("2027-01-25T00:00:00Z");
  patron_tick_result tr;
  CHECK_EQ_I64(patron_tick(p, &tr, now_value), PATRON_OK);
  CHECK_EQ_I64(tr.expired_points, 120);
  j = report(p, "redemption", "default", "2027-01-01", "2027-02-01", NULL);
  CHECK_EQ_I64(I(row(j, "periods", "period", "2027-01"), "expired"), 120);
  CHECK_STR(S(row(j, "periods", "period", "2027-01"), "note"),
            "no data: no points issued in the period");
  json_decref(j);
  j = report(p, "redemption", "default", "2026-01-01", "2026-02-01", NULL);
  CHECK_EQ_I64(I(row(j, "cohorts", "cohort", "2026-01"), "expired_since"), 120);
  CHECK_EQ_I64(I(row(j, "cohorts", "cohort", "2026-01"), "outstanding"), 0);
  CHECK_EQ_I64(I(row(j, "cohorts", "cohort", "2026-01"), "expired_share_bp"), 8000);
  json_decref(j);
  /* liability on 2027-01-25: C2's 11 and C1's 30 given back are left
  ** (their lots expire on 2027-02-10 and 2027-04-02) */
  j = report(p, "liability", NULL, NULL, NULL, NULL);
  json_t *l = row(j, "liability", "program", "default");
  CHECK_EQ_I64(I(l, "outstanding"), 41);
  CHECK_EQ_I64(I(l, "outstanding_cents"), 41);
  CHECK_EQ_I64(I(l, "expiring_30d"), 11);
  CHECK_EQ_I64(I(l, "expiring_60d"), 11);
  CHECK_EQ_I64(I(l, "expiring_90d"), 41);
  /* issued so far: 150 + 39 + 11 = 200; expired 120: 60% */
  CHECK_EQ_I64(I(l, "issued_total"), 200);
  CHECK_EQ_I64(I(l, "breakage_bp"), 6000);
  json_decref(j);
  patron_close(p);
}

TEST(liability_clawbacks_and_value) {
  patron *p = shop("r_liab.db");
  CHECK(commit(p, "A", "C1", "2026-01-10T10:00:00Z", ONE(100000), 0)); /* 1000 points */
  CHECK(commit(p, "B", "C1", "2026-01-11T10:00:00Z", ONE(100000), 1000)); /* spend them */
  now_value = T("2026-01-12T00:00:00Z");
  char *out = NULL;
  /* refunding A takes back 1000 points of which only B's earn is left */
  CHECK_EQ_I64(patron_refund(p, &out, "A", NULL, 0), PATRON_OK);
  json_t *rf = json_loads(out, 0, NULL);
  int64_t claw = I(rf, "clawback_points");
  json_decref(rf);
  patron_free(out);
  CHECK(claw > 0);
  json_t *j = report(p, "liability", "default", NULL, NULL, NULL);
  json_t *l = row(j, "liability", "program", "default");
  CHECK_EQ_I64(I(l, "clawback_points"), claw);
  CHECK_EQ_I64(I(l, "clawback_refunds"), 1);
  CHECK_EQ_I64(I(l, "negative_accounts"), 1);
  CHECK_EQ_I64(I(l, "negative_points"), claw);
  CHECK_EQ_I64(I(l, "outstanding"), 0);
  json_decref(j);
  /* an empty program: no data, no division */
  patron *q = shop("r_liab0.db");
  j = report(q, "liability", NULL, NULL, NULL, NULL);
  CHECK_STR(S(row(j, "liability", "program", "default"), "note"), "no data");
  CHECK_STR(S(row(j, "liability", "program", "default"), "breakage"), "no data");
  json_decref(j);
  patron_close(q);
  patron_close(p);
}

/* The redemption report reads 15-minute aggregates inside the window and
** the ledger at its edges: it must agree with the ledger summed directly. */
TEST(aggregates_agree_with_the_ledger) {
  patron *p = shop("r_agg.db");
  const char *times[] = {"2026-03-01T00:00:00Z", "2026-03-01T00:07:00Z", "2026-03-01T00:14:59Z",
                         "2026-03-01T00:15:00Z", "2026-03-02T12:00:00Z", "2026-03-31T23:59:59Z",
                         "2026-04-01T00:00:00Z"};
  for (int i = 0; i < 7; i++) {
    char id[16];
    snprintf(id, sizeof id, "G%d", i);
    CHECK(commit(p, id, "C1", times[i], ONE(1000 * (i + 1)), 0));
  }
  now_value = T("2026-05-01");
  const char *froms[] = {"2026-03-01T00:07:00Z", "2026-03-01T00:00:00Z", "2026-03-01T00:10:00Z"};
  const char *tos[] = {"2026-03-31T23:59:59Z", "2026-04-01T00:00:00Z", "2026-03-01T00:12:00Z"};
  for (int k = 0; k < 3; k++) {
    json_t *j = report(p, "redemption", "default", froms[k], tos[k], NULL);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(points), 0) FROM ledger WHERE kind = 'earn' "
             "AND at >= %lld AND at < %lld", (long long)T(froms[k]), (long long)T(tos[k]));
    sqlite3_stmt *st;
    int64_t want = -1;
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      want = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    CHECK_EQ_I64(I(row(j, "periods", "period", "total"), "issued"), want);
    json_decref(j);
  }
  /* aggregate rows equal the ledger grouped the same way */
  sqlite3_stmt *st;
  int64_t bad = -1;
  if (sqlite3_prepare_v2(p->db,
          "SELECT count(*) FROM (SELECT program, at - at % 900 b, kind, sum(points) s "
          "FROM ledger GROUP BY 1, 2, 3) l LEFT JOIN report_points r ON r.program = "
          "l.program AND r.bucket = l.b AND r.cls = l.kind WHERE r.points IS NOT l.s",
          -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    bad = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  CHECK_EQ_I64(bad, 0);
  patron_close(p);
}

/* ---- clv ------------------------------------------------------------------------ */

/* n orders of `cents` for one customer, `every` seconds apart */
static patron *clv_fixture(const char *db, int n, int64_t cents, int64_t every, bool months) {
  patron *p = shop(db);
  int64_t t0 = T("2020-01-01T12:00:00Z");
  for (int i = 0; i < n; i++) {
    char id[16], at[32];
    snprintf(id, sizeof id, "O%03d", i);
    patron_time_format(at, sizeof at, months ? pt_add_months(t0, i) : t0 + every * i);
    CHECK(commit(p, id, "K1", at, ONE(cents), 0));
  }
  now_value = T("2029-01-01");
  return p;
}

TEST(clv_design_examples) {
  /* 5000 x 4 x 8 = 160000: 32 orders of 50.00 every quarter year */
  patron *p = clv_fixture("r_clv1.db", 32, 5000, PT_YEAR_SECONDS / 4, false);
  json_t *j = report(p, "clv", "default", NULL, NULL, NULL);
  json_t *r = row(j, "clv", "group", "all");
  CHECK_EQ_I64(I(r, "aov_cents"), 5000);
  CHECK_EQ_I64(I(r, "frequency_per_year_milli"), 4000);
  CHECK_STR(S(r, "frequency_per_year"), "4.000");
  CHECK_EQ_I64(I(r, "lifetime_years_milli"), 8000);
  CHECK_EQ_I64(I(r, "clv_cents"), 160000);
  json_decref(j);
  patron_close(p);
  /* 800 x 5 x 3 = 12000: 15 orders of 8.00, five a year */
  p = clv_fixture("r_clv2.db", 15, 800, PT_YEAR_SECONDS / 5, false);
  j = report(p, "clv", "default", NULL, NULL, NULL);
  r = row(j, "clv", "group", "all");
  CHECK_EQ_I64(I(r, "aov_cents"), 800);
  CHECK_EQ_I64(I(r, "frequency_per_year_milli"), 5000);
  CHECK_EQ_I64(I(r, "lifetime_years_milli"), 3000);
  CHECK_EQ_I64(I(r, "clv_cents"), 12000);
  json_decref(j);
  patron_close(p);
  /* a 100.00/month subscriber for 24 calendar months is worth 2400.00 */
  p = clv_fixture("r_clv3.db", 24, 10000, 0, true);
  j = report(p, "clv", "default", NULL, NULL, NULL);
  r = row(j, "clv", "group", "all");
  CHECK_EQ_I64(I(r, "aov_cents"), 10000);
  CHECK_EQ_I64(I(r, "clv_cents"), 240000);
  /* 700 days x 24 / 23 = 730.4 days = 1.9998 years, floored */
  CHECK_STR(S(r, "lifetime_years"), "1.999");
  json_decref(j);
  patron_close(p);
}

TEST(clv_mixed_customers_tiers_and_margin) {
  patron *p = shop("r_clv4.db");
  exec(p, "INSERT INTO catalog (sku, price_cents, cost_cents) VALUES ('X', 1000, 600)");
  /* K1: 3 orders of 10.00 one year apart; K2: one order of 40.00 */
  char y1[32], y2[32];
  patron_time_format(y1, sizeof y1, T("2024-01-01") + PT_YEAR_SECONDS);
  patron_time_format(y2, sizeof y2, T("2024-01-01") + 2 * PT_YEAR_SECONDS);
  CHECK(commit(p, "A1", "K1", "2024-01-01T00:00:00Z", ONE(1000), 0));
  CHECK(commit(p, "A2", "K1", y1, ONE(1000), 0));
  CHECK(commit(p, "A3", "K1", y2, ONE(1000), 0));
  CHECK(commit(p, "B1", "K2", "2025-06-01T00:00:00Z", "{\"sku\":\"X\",\"qty\":4,\"unit_cents\":1000}", 0));
  CHECK(commit(p, "Z1", NULL, "2025-06-01T00:00:00Z", ONE(99999), 0)); /* anonymous */
  now_value = T("2026-06-01");
  json_t *j = report(p, "clv", "default", NULL, NULL, NULL);
  json_t *r = row(j, "clv", "group", "all");
  /* AOV = 7000 / 4; F = 2 / 2 years = 1; L = (2 x 3/2 + 1 / 1) / 2 = 2
  ** years; CLV = 1750 x 1 x 2 = 3500 = revenue per customer */
  CHECK_EQ_I64(I(r, "orders"), 4);
  CHECK_EQ_I64(I(r, "customers"), 2);
  CHECK_EQ_I64(I(r, "aov_cents"), 1750);
  CHECK_EQ_I64(I(r, "frequency_per_year_milli"), 1000);
  CHECK_EQ_I64(I(r, "lifetime_years_milli"), 2000);
  CHECK_EQ_I64(I(r, "clv_cents"), 3500);
  /* contribution: 7000 - 7 x 600 = 2800; CLV with margin = 1400 */
  CHECK_EQ_I64(I(r, "contribution_cents"), 2800);
  CHECK_EQ_I64(I(r, "clv_margin_cents"), 1400);
  CHECK_EQ_I64(I(r, "cost_coverage_bp"), 10000);
  json_decref(j);
  /* by tier: both bronze (the tier needs 1000.00) */
  j = report(p, "clv", "default", NULL, NULL, "tier");
  CHECK_EQ_I64(I(row(j, "clv", "group", "bronze"), "clv_cents"), 3500);
  CHECK_EQ_I64(I(row(j, "clv", "group", "total"), "clv_cents"), 3500);
  json_decref(j);
  /* one order only: frequency and lifetime unknown */
  j = report(p, "clv", "default", "2025-05-01", "2025-07-01", NULL);
  r = row(j, "clv", "group", "all");
  CHECK(json_is_null(json_object_get(r, "clv_cents")));
  CHECK_STR(S(r, "frequency_per_year"), "no data");
  json_decref(j);
  /* a window without orders */
  j = report(p, "clv", "default", "2019-01-01", "2019-02-01", NULL);
  CHECK_STR(S(row(j, "clv", "group", "all"), "note"), "no data");
  json_decref(j);
  patron_close(p);
}

/* ---- retention, churn, repeat ---------------------------------------------- */

TEST(retention_design_example) {
  patron *p = shop("r_ret.db");
  /* 99 customers ordered in June 2025, one only in January 2025: all 100
  ** are active on 2026-01-01; on 2026-02-01 the January one has lapsed */
  for (int i = 0; i < 100; i++) {
    char id[16], cust[16];
    snprintf(id, sizeof id, "R%03d", i);
    snprintf(cust, sizeof cust, "K%03d", i);
    CHECK(commit(p, id, cust, i == 0 ? "2025-01-15T00:00:00Z" : "2025-06-15T00:00:00Z",
                 ONE(1000), 0));
  }
  now_value = T("2026-03-01");
  json_t *j = report(p, "retention", "default", "2026-01-01", "2026-02-01", NULL);
  json_t *r = row(j, "retention", "period", "2026-01");
  CHECK_EQ_I64(I(r, "customers_start"), 100);
  CHECK_EQ_I64(I(r, "customers_end"), 99);
  CHECK_EQ_I64(I(r, "new_customers"), 0);
  CHECK_EQ_I64(I(r, "retention_bp"), 9900);
  CHECK_STR(S(r, "retention"), "99.0%");
  CHECK_EQ_I64(I(r, "churn_bp"), 100);
  json_decref(j);
  /* a new customer and a returning one in February */
  now_value = T("2026-02-10");
  CHECK(commit(p, "N1", "NEW", "2026-02-05T00:00:00Z", ONE(1000), 0));
  CHECK(commit(p, "N2", "K000", "2026-02-06T00:00:00Z", ONE(1000), 0));
  now_value = T("2026-03-01");
  j = report(p, "churn", "default", "2026-02-01", "2026-03-01", NULL);
  r = row(j, "churn", "period", "2026-02");
  CHECK_EQ_I64(I(r, "customers_start"), 99);
  CHECK_EQ_I64(I(r, "customers_end"), 101);
  CHECK_EQ_I64(I(r, "first_time"), 1);
  CHECK_EQ_I64(I(r, "reactivated"), 1);
  CHECK_EQ_I64(I(r, "retention_bp"), 10000);
  json_decref(j);
  /* nobody at start: no data */
  j = report(p, "retention", "default", "2024-01-01", "2024-02-01", NULL);
  CHECK_STR(S(row(j, "retention", "period", "2024-01"), "retention"), "no data");
  json_decref(j);
  /* repeat: 1 of 101 customers has 2+ orders (K000) */
  j = report(p, "repeat", "default", "2025-01-01", "2026-03-01", NULL);
  r = row(j, "repeat", "group", "all");
  CHECK_EQ_I64(I(r, "customers"), 101);
  CHECK_EQ_I64(I(r, "repeat_customers"), 1);
  CHECK_EQ_I64(I(r, "repeat_rate_bp"), 99); /* floor(10000 / 101) */
  json_decref(j);
  patron_close(p);
}

/* ---- health ------------------------------------------------------------------ */

TEST(health_scores_and_at_risk) {
  patron *p = shop("r_health.db");
  /* five customers: the big spender went quiet 200 days ago */
  struct { const char *c; int n; int64_t cents; const char *last; } f[] = {
      {"BIG", 6, 20000, "2025-12-13T00:00:00Z"}, {"A", 1, 1000, "2026-06-25T00:00:00Z"},
      {"B", 2, 1500, "2026-06-01T00:00:00Z"},   {"C", 3, 2000, "2026-05-01T00:00:00Z"},
      {"D", 1, 500, "2026-04-01T00:00:00Z"}};
  int k = 0;
  for (int i = 0; i < 5; i++)
    for (int n = 0; n < f[i].n; n++) {
      char id[16], at[32];
      snprintf(id, sizeof id, "H%02d", k++);
      patron_time_format(at, sizeof at, T(f[i].last) - (int64_t)n * 7 * PT_DAY);
      CHECK(commit(p, id, f[i].c, at, ONE(f[i].cents), 0));
    }
  now_value = T("2026-07-01T00:00:00Z");
  json_t *j = report(p, "health", "default", NULL, NULL, NULL);
  json_t *big = row(j, "customers", "customer", "BIG");
  CHECK_EQ_I64(I(big, "days_since"), 200);
  CHECK_EQ_I64(I(big, "r"), 1);  /* the longest silence */
  CHECK_EQ_I64(I(big, "f"), 5);  /* most orders */
  CHECK_EQ_I64(I(big, "m"), 5);  /* most spend */
  CHECK(json_is_true(json_object_get(big, "at_risk")));
  json_t *a = row(j, "customers", "customer", "A");
  CHECK_EQ_I64(I(a, "r"), 5);
  CHECK_EQ_I64(I(a, "f"), 1);    /* tied with D: nobody strictly worse */
  CHECK(json_is_false(json_object_get(a, "at_risk")));
  CHECK_EQ_I64(json_array_size(table(j, "at_risk")), 1);
  CHECK_STR(S(json_array_get(table(j, "at_risk"), 0), "customer"), "BIG");
  json_decref(j);
  patron_close(p);
}

/* ---- nps ----------------------------------------------------------------------- */

TEST(nps_arithmetic) {
  patron *p = shop("r_nps.db");
  exec(p, "INSERT INTO customers (id, created_at) VALUES ('C1', 0), ('C2', 0)");
  now_value = T("2026-03-10");
  int support[] = {10, 9, 9, 3};           /* (3 - 1) / 4 = +50 */
  for (int i = 0; i < 4; i++)
    CHECK_EQ_I64(patron_nps_record(p, "C1", support[i], "support", NULL), PATRON_OK);
  int review[] = {0, 0, 9, 8, 7, 6};       /* (1 - 3) / 6 = -33.33 */
  for (int i = 0; i < 6; i++)
    CHECK_EQ_I64(patron_nps_record(p, "C2", review[i], "review", "ok"), PATRON_OK);
  now_value = T("2026-04-05");
  CHECK_EQ_I64(patron_nps_record(p, "C1", 10, "support", NULL), PATRON_OK);
  CHECK_EQ_I64(patron_nps_record(p, "C1", 11, "support", NULL), PATRON_INVALID_INPUT);
  CHECK_STR(patron_errpath(p), "score");
  CHECK_EQ_I64(patron_nps_record(p, "C1", -1, "support", NULL), PATRON_INVALID_INPUT);
  CHECK_EQ_I64(patron_nps_record(p, "C1", 5, "checkout", NULL), PATRON_INVALID_INPUT);
  CHECK_STR(patron_errpath(p), "touchpoint");
  CHECK_EQ_I64(patron_nps_record(p, "NOPE", 5, "support", NULL), PATRON_UNKNOWN_CUSTOMER);
  json_t *j = report(p, "nps", NULL, "2026-03-01", "2026-05-01", NULL);
  json_t *rows = table(j, "nps");
  json_t *sup = NULL, *rev = NULL, *all = NULL, *on = NULL;
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    const char *t = S(r, "touchpoint"), *per = S(r, "period");
    if (strcmp(per, "2026-03") != 0) continue;
    if (!strcmp(t, "support")) sup = r;
    if (!strcmp(t, "review")) rev = r;
    if (!strcmp(t, "all")) all = r;
    if (!strcmp(t, "onboarding")) on = r;
  }
  CHECK_EQ_I64(I(sup, "nps_bp"), 5000);
  CHECK_STR(S(sup, "nps"), "+50.0");
  CHECK_EQ_I64(I(sup, "promoters"), 3);
  CHECK_EQ_I64(I(sup, "detractors"), 1);
  CHECK_EQ_I64(I(rev, "nps_bp"), -3334);  /* floor(-3333.3) */
  CHECK_STR(S(rev, "nps"), "-33.4");
  CHECK_EQ_I64(I(rev, "passives"), 2);
  /* all March: 4 promoters, 4 detractors of 10 */
  CHECK_EQ_I64(I(all, "answers"), 10);
  CHECK_EQ_I64(I(all, "nps_bp"), 0);
  CHECK_STR(S(on, "nps"), "no data");
  json_decref(j);
  j = report(p, "nps", NULL, "2026-03-01", "2026-05-01", NULL);
  patron_report_opts o = {NULL, T("2026-03-01"), T("2026-05-01"), NULL, "support"};
  char *out = NULL;
  CHECK_EQ_I64(patron_report_json(p, &out, "nps", &o), PATRON_OK);
  json_t *k = json_loads(out, 0, NULL);
  patron_free(out);
  /* support only: 2 periods + total for support and for all */
  CHECK_EQ_I64(json_array_size(table(k, "nps")), 6);
  json_t *tot = NULL;
  json_array_foreach(table(k, "nps"), i, r)
    if (!strcmp(S(r, "touchpoint"), "support") && !strcmp(S(r, "period"), "total")) tot = r;
  CHECK_EQ_I64(I(tot, "answers"), 5);
  CHECK_EQ_I64(I(tot, "nps_bp"), 6000); /* (4 - 1) / 5 */
  json_decref(k);
  json_decref(j);
  patron_close(p);
}

/* ---- checkout reports --------------------------------------------------------- */

#define KIT "{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999},{\"sku\":\"HP-07\",\"qty\":1,\"unit_cents\":2999}"

TEST(bundles_crosssell_and_shipping) {
  patron *p = shop("r_chk.db");
  CHECK(commit(p, "K1", "C1", "2026-02-01T10:00:00Z", KIT, 0));
  CHECK(commit(p, "K2", "C2", "2026-02-02T10:00:00Z", KIT, 0));
  CHECK(commit(p, "M1", "C3", "2026-02-03T10:00:00Z",
               "{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999}", 0)); /* 1 below */
  CHECK(commit(p, "S1", "C1", "2026-02-04T10:00:00Z", ONE(5000), 0));    /* at */
  CHECK(commit(p, "S2", "C2", "2026-02-05T10:00:00Z", ONE(5400), 0));    /* just above */
  CHECK(commit(p, "S3", "C3", "2026-02-06T10:00:00Z", ONE(4600), 0));    /* near below */
  CHECK(commit(p, "S4", "C3", "2026-02-07T10:00:00Z", ONE(1000), 0));    /* below */
  /* suggestions shown on M1 (HP-07, bought later by C3? no) and K1 */
  exec(p, "INSERT INTO suggestions_shown (order_rowid, customer, sku, at, source) "
          "SELECT id, customer, 'HP-07', at, 'plugin:cross_sell' FROM orders WHERE order_id = 'M1'");
  exec(p, "INSERT INTO suggestions_shown (order_rowid, customer, sku, at, source) "
          "SELECT id, customer, 'X', at, 'plugin:cross_sell' FROM orders WHERE order_id = 'K1'");
  exec(p, "INSERT INTO suggestions_shown (order_rowid, customer, sku, at, source) "
          "SELECT id, customer, 'HP-07', at, 'plugin:other' FROM orders WHERE order_id = 'K2'");
  now_value = T("2026-03-01");
  json_t *j = report(p, "bundles", "default", "2026-02-01", "2026-03-01", NULL);
  json_t *b = row(j, "bundles", "bundle", "mp3-kit");
  CHECK_EQ_I64(I(b, "orders"), 7);
  CHECK_EQ_I64(I(b, "eligible"), 2);
  CHECK_EQ_I64(I(b, "with_bundle"), 2);
  CHECK_EQ_I64(I(b, "saving_cents"), 2 * 1198);
  CHECK_EQ_I64(I(b, "avg_saving_cents"), 1198);
  CHECK_EQ_I64(I(b, "uptake_bp"), 10000);
  CHECK_EQ_I64(I(b, "share_of_orders_bp"), 2857);
  json_decref(j);
  /* crosssell: X was bought by C1 (S1, 3 days after K1): later; HP-07 is in
  ** K2 itself: same order; HP-07 for C3: never */
  j = report(p, "crosssell", "default", "2026-02-01", "2026-03-01", NULL);
  json_t *x = row(j, "crosssell", "group", "all");
  CHECK_EQ_I64(I(x, "shown"), 3);
  CHECK_EQ_I64(I(x, "bought_same_order"), 1);
  CHECK_EQ_I64(I(x, "bought_later"), 1);
  CHECK_EQ_I64(I(x, "acceptance_bp"), 6666);
  CHECK_EQ_I64(I(row(j, "sources", "source", "plugin:cross_sell"), "shown"), 2);
  json_decref(j);
  /* shipping: goods K1 6800, K2 6800, M1 4999, S1 5000, S2 5400, S3 4600,
  ** S4 1000 against 5000 */
  j = report(p, "shipping", "default", "2026-02-01", "2026-03-01", NULL);
  json_t *s = row(j, "shipping", "group", "all");
  CHECK_EQ_I64(I(s, "orders"), 7);
  CHECK_EQ_I64(I(s, "below"), 3);
  CHECK_EQ_I64(I(s, "near_below"), 2);
  CHECK_EQ_I64(I(s, "at_threshold"), 1);
  CHECK_EQ_I64(I(s, "just_above"), 1);
  CHECK_EQ_I64(I(s, "well_above"), 2);
  CHECK_EQ_I64(I(s, "shipping_revenue_cents"), 3 * 499);
  CHECK_EQ_I64(I(s, "paid_shipping"), 3);
  json_decref(j);
  /* by channel: order ids without '-' have none */
  j = report(p, "shipping", "default", "2026-02-01", "2026-03-01", "channel");
  CHECK_EQ_I64(I(row(j, "shipping", "group", "(none)"), "orders"), 7);
  json_decref(j);
  /* --by that the report does not know */
  patron_report_opts o = {NULL, 0, 0, "tier", NULL};
  char *out = NULL;
  CHECK_EQ_I64(patron_report_json(p, &out, "shipping", &o), PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "month|week|channel");
  CHECK_EQ_I64(patron_report_json(p, &out, "nope", NULL), PATRON_INVALID_INPUT);
  o.by = NULL;
  o.program = "nope";
  CHECK_EQ_I64(patron_report_json(p, &out, "redemption", &o), PATRON_UNKNOWN_PROGRAM);
  CHECK(out == NULL);
  patron_close(p);
}

/* ---- abandoned carts ---------------------------------------------------------- */

static int64_t count_events(patron *p, const char *type) {
  sqlite3_stmt *st;
  int64_t n = -1;
  if (sqlite3_prepare_v2(p->db, "SELECT count(*) FROM events WHERE type = ?1", -1, &st, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return n;
}

static bool quote_tracked(patron *p, const char *customer, int64_t cents) {
  char cart[512], *out = NULL;
  snprintf(cart, sizeof cart, "{\"customer\":\"%s\",\"track\":true,\"lines\":[%s]}", customer,
           ONE(cents));
  int rc = patron_quote_json(p, &out, cart);
  patron_free(out);
  return rc == PATRON_OK;
}

TEST(abandoned_cart_once_and_not_after_commit) {
  patron *p = shop_tz("r_cart.db", "shop { currency = \"EUR\", abandoned_cart_hours = 24, "
                      "contact_cap = { max = 1, per_days = 7 } }");
  exec(p, "INSERT INTO customers (id, created_at) VALUES ('C1', 0), ('C2', 0)");
  now_value = T("2026-05-01T10:00:00Z");
  CHECK(quote_tracked(p, "C1", 3000));
  CHECK(quote_tracked(p, "C2", 4000));
  /* an untracked quote remembers nothing */
  char *out = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &out, "{\"customer\":\"C3\",\"lines\":[{\"sku\":\"X\","
                                          "\"qty\":1,\"unit_cents\":5}]}"), PATRON_OK);
  patron_free(out);
  patron_tick_result tr;
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-02T09:59:00Z")), PATRON_OK);
  CHECK_EQ_I64(tr.carts_abandoned, 0);
  /* C2 buys before the deadline */
  now_value = T("2026-05-01T12:00:00Z");
  CHECK(commit(p, "P-1", "C2", "2026-05-01T12:00:00Z", ONE(4000), 0));
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-02T10:00:00Z")), PATRON_OK);
  CHECK_EQ_I64(tr.carts_abandoned, 1);
  CHECK_EQ_I64(count_events(p, "cart_abandoned"), 1);
  char *ev = NULL;
  CHECK_EQ_I64(patron_events_pull(p, &ev, "cart_abandoned", 10), PATRON_OK);
  CHECK_HAS(ev, "\"customer\":\"C1\"");
  CHECK_HAS(ev, "\"total_cents\":3499");
  CHECK_HAS(ev, "\"skus\":[\"X\"]");
  CHECK_HAS(ev, "\"quoted_at\":\"2026-05-01T10:00:00Z\"");
  patron_free(ev);
  /* once */
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-03T10:00:00Z")), PATRON_OK);
  CHECK_EQ_I64(tr.carts_abandoned, 0);
  CHECK_EQ_I64(count_events(p, "cart_abandoned"), 1);
  /* a new cart inside the cap window is held back (1 per 7 days) ... */
  now_value = T("2026-05-04T10:00:00Z");
  CHECK(quote_tracked(p, "C1", 2000));
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-05T11:00:00Z")), PATRON_OK);
  CHECK_EQ_I64(tr.carts_abandoned, 0);
  /* ... and never sent later */
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-20T11:00:00Z")), PATRON_OK);
  CHECK_EQ_I64(count_events(p, "cart_abandoned"), 1);
  /* after the window, a fresh cart goes out */
  now_value = T("2026-05-21T10:00:00Z");
  CHECK(quote_tracked(p, "C1", 2000));
  CHECK_EQ_I64(patron_tick(p, &tr, T("2026-05-22T10:00:00Z")), PATRON_OK);
  CHECK_EQ_I64(tr.carts_abandoned, 1);
  /* the shipping report saw C2's tracked quote below the threshold
  ** (40.00) and the commit that did not cross it */
  json_t *j = report(p, "shipping", "default", "2026-05-01", "2026-06-01", NULL);
  CHECK_EQ_I64(I(row(j, "shipping", "group", "all"), "nudged"), 1);
  CHECK_EQ_I64(I(row(j, "shipping", "group", "all"), "crossed"), 0);
  json_decref(j);
  now_value = T("2026-05-25T10:00:00Z");
  CHECK(quote_tracked(p, "C2", 4000));
  CHECK(commit(p, "P-2", "C2", "2026-05-25T10:05:00Z", ONE(6000), 0));
  j = report(p, "shipping", "default", "2026-05-01", "2026-06-01", NULL);
  CHECK_EQ_I64(I(row(j, "shipping", "group", "all"), "nudged"), 2);
  CHECK_EQ_I64(I(row(j, "shipping", "group", "all"), "crossed"), 1);
  CHECK_EQ_I64(I(row(j, "shipping", "group", "all"), "crossed_share_bp"), 5000);
  json_decref(j);
  patron_close(p);
}

/* ---- simulate ------------------------------------------------------------------- */

/* FNV-1a over every row of every table, in storage order. */
static uint64_t checksum(patron *p) {
  uint64_t h = 1469598103934665603ULL;
  sqlite3_stmt *tabs;
  if (sqlite3_prepare_v2(p->db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                         -1, &tabs, NULL) != SQLITE_OK)
    return 0;
  while (sqlite3_step(tabs) == SQLITE_ROW) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", sqlite3_column_text(tabs, 0));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) continue;
    while (sqlite3_step(st) == SQLITE_ROW)
      for (int c = 0; c < sqlite3_column_count(st); c++) {
        const unsigned char *t = sqlite3_column_text(st, c);
        for (; t && *t; t++) h = (h ^ *t) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
      }
    sqlite3_finalize(st);
  }
  sqlite3_finalize(tabs);
  return h;
}

static int progress_calls;
static int progress_fn(void *ud, int64_t done, int64_t total) {
  (void)ud;
  (void)done;
  (void)total;
  progress_calls++;
  return 0;
}
static int cancel_fn(void *ud, int64_t done, int64_t total) {
  (void)ud;
  (void)total;
  return done > 0;
}

TEST(simulate_writes_nothing_and_prices_a_bigger_bundle) {
  patron *p = shop("r_sim.db");
  CHECK(commit(p, "K1", "C1", "2026-02-01T10:00:00Z", KIT, 0));
  CHECK(commit(p, "K2", "C2", "2026-02-02T10:00:00Z", KIT, 0));
  CHECK(commit(p, "K3", NULL, "2026-02-03T10:00:00Z", KIT, 0));
  CHECK(commit(p, "S1", "C1", "2026-02-04T10:00:00Z", ONE(2000), 0));
  now_value = T("2026-03-01");
  /* the same shop with 25% off the kit */
  char src[4096];
  snprintf(src, sizeof src, "shop { currency = \"EUR\", timezone = \"UTC\" }\n%s", BASE);
  char *at = strstr(src, "off_bp = 1500");
  CHECK(at != NULL);
  if (at) memcpy(at, "off_bp = 2500", 13);
  FILE *f = fopen("bigger.lua", "w");
  fputs(src, f);
  fclose(f);
  uint64_t before = checksum(p);
  char *out = NULL;
  progress_calls = 0;
  CHECK_EQ_I64(patron_simulate(p, &out, "bigger.lua", T("2026-01-01"), T("2026-03-01"),
                               progress_fn, NULL), PATRON_OK);
  CHECK(progress_calls >= 2);
  CHECK_EQ_I64(checksum(p), before);
  json_t *j = json_loads(out ? out : "{}", 0, NULL);
  patron_free(out);
  CHECK_EQ_I64(I(j, "orders"), 4);
  CHECK_EQ_I64(I(j, "repriced"), 4);
  CHECK_EQ_I64(I(j, "changed"), 3);
  CHECK_EQ_I64(I(j, "drift"), 0);
  json_t *d = json_object_get(json_object_get(j, "totals"), "difference");
  /* per kit: floor(4999 x .25) + floor(2999 x .25) - 1198 = 800 more off;
  ** 8 fewer points for the two named customers (68 -> 60) */
  CHECK_EQ_I64(I(d, "discount_cents"), 3 * 800);
  CHECK_EQ_I64(I(d, "total_cents"), -3 * 800);
  CHECK_EQ_I64(I(d, "points_earned"), -16);
  CHECK_EQ_I64(I(d, "liability_cents"), -16);
  CHECK_EQ_I64(I(d, "shipping_cents"), 0);
  json_t *rec = json_object_get(json_object_get(j, "totals"), "recorded");
  CHECK_EQ_I64(I(rec, "discount_cents"), 3 * 1198);
  json_t *first = json_array_get(json_object_get(j, "orders_changed"), 0);
  CHECK_STR(S(first, "order_id"), "K1");
  CHECK_EQ_I64(I(json_object_get(first, "difference"), "discount_cents"), 800);
  json_decref(j);
  /* canceled by the callback; a bad config; still nothing written */
  CHECK_EQ_I64(patron_simulate(p, &out, "bigger.lua", 0, 0, cancel_fn, NULL),
               PATRON_INVALID_INPUT);
  f = fopen("bad.lua", "w");
  fputs("shop { currency = 12 }\n", f);
  fclose(f);
  CHECK_EQ_I64(patron_simulate(p, &out, "bad.lua", 0, 0, NULL, NULL), PATRON_INVALID_CONFIG);
  CHECK_EQ_I64(patron_simulate(p, &out, "missing.lua", 0, 0, NULL, NULL), PATRON_IO);
  CHECK(p->cfg_override == NULL);
  CHECK_EQ_I64(checksum(p), before);
  /* the handle still prices with the stored config */
  char *q = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &q, "{\"lines\":[" KIT "]}"), PATRON_OK);
  CHECK_HAS(q, "\"discount_cents\":1198");
  patron_free(q);
  patron_close(p);
}

/* ---- subscriptions ------------------------------------------------------------- */

TEST(subs_mrr_churn_and_dunning_recovery) {
  patron *p = shop("r_subs.db");
  exec(p, "INSERT INTO customers (id, created_at) VALUES ('C1', 0), ('C2', 0), ('C3', 0)");
  exec(p, "INSERT INTO subscriptions (id, customer, plan, status, price_cents, mrr_cents, "
          "every, count, created_at, anchor_at, period_no, period_start, period_end, renew_at) "
          "VALUES ('S1', 'C1', 'pro-monthly', 'active', 1000, 1000, 'month', 1, 0, 0, 0, 0, 0, 0),"
          "('S2', 'C2', 'pro-annual', 'canceled', 10200, 850, 'year', 1, 0, 0, 0, 0, 0, 0),"
          "('S3', 'C3', 'pro-monthly', 'suspended', 1000, 1000, 'month', 1, 0, 0, 0, 0, 0, 0)");
  char sql[2048];
  snprintf(sql, sizeof sql,
      "INSERT INTO subscription_history (subscription, customer, at, from_status, to_status, "
      "reason, voluntary, plan, price_cents, mrr_cents) VALUES "
      "('S1', 'C1', %lld, NULL, 'active', 'created', NULL, 'pro-monthly', 1000, 1000),"
      "('S1', 'C1', %lld, 'active', 'past_due', 'charge_failed', NULL, 'pro-monthly', 1000, 1000),"
      "('S1', 'C1', %lld, 'past_due', 'active', 'recovered', NULL, 'pro-monthly', 1000, 1000),"
      "('S2', 'C2', %lld, NULL, 'trialing', 'created', NULL, 'pro-annual', 10200, 850),"
      "('S2', 'C2', %lld, 'trialing', 'active', 'charge_ok', NULL, 'pro-annual', 10200, 850),"
      "('S2', 'C2', %lld, 'active', 'canceled', 'customer_cancel', 1, 'pro-annual', 10200, 850),"
      "('S3', 'C3', %lld, NULL, 'active', 'created', NULL, 'pro-monthly', 1000, 1000),"
      "('S3', 'C3', %lld, 'active', 'past_due', 'charge_failed', NULL, 'pro-monthly', 1000, 1000),"
      "('S3', 'C3', %lld, 'past_due', 'suspended', 'dunning_suspend', 0, 'pro-monthly', 1000, 1000)",
      (long long)T("2026-01-05"), (long long)T("2026-02-05"), (long long)T("2026-02-08"),
      (long long)T("2026-01-10"), (long long)T("2026-01-24"), (long long)T("2026-03-01"),
      (long long)T("2026-02-01"), (long long)T("2026-02-15"), (long long)T("2026-02-28"));
  exec(p, sql);
  snprintf(sql, sizeof sql,
      "INSERT INTO charge_attempts (id, subscription, customer, plan, idempotency_key, seq, "
      "kind, is_retry, period_no, period_start, period_end, amount_cents, requested_at, "
      "outcome, answered_at) VALUES ('a1', 'S1', 'C1', 'pro-monthly', 'k1', 2, 'retry', 1, 1, "
      "0, 0, 1000, %lld, 'ok', %lld)", (long long)T("2026-02-08"), (long long)T("2026-02-08"));
  exec(p, sql);
  now_value = T("2026-04-01");
  json_t *j = report(p, "subs", NULL, "2026-01-01", "2026-04-01", NULL);
  json_t *jan = row(j, "subs", "period", "2026-01"), *feb = row(j, "subs", "period", "2026-02");
  json_t *mar = row(j, "subs", "period", "2026-03");
  CHECK_EQ_I64(I(jan, "new"), 2);
  CHECK_EQ_I64(I(jan, "active_end"), 2);
  CHECK_EQ_I64(I(jan, "mrr_end_cents"), 1850); /* 1000 + 10200 / 12 */
  CHECK_STR(S(jan, "churn_rate"), "no data");
  CHECK_EQ_I64(I(feb, "active_start"), 2);
  CHECK_EQ_I64(I(feb, "new"), 1);
  CHECK_EQ_I64(I(feb, "active_end"), 2);
  CHECK_EQ_I64(I(feb, "churned"), 1);
  CHECK_EQ_I64(I(feb, "churned_involuntary"), 1);
  CHECK_EQ_I64(I(feb, "churn_rate_bp"), 5000);
  CHECK_EQ_I64(I(feb, "entered_dunning"), 2);
  CHECK_EQ_I64(I(feb, "recovered"), 1);
  CHECK_EQ_I64(I(feb, "recovery_rate_bp"), 5000);
  CHECK_EQ_I64(I(feb, "revenue_recovered_cents"), 1000);
  CHECK_EQ_I64(I(mar, "churned_voluntary"), 1);
  CHECK_EQ_I64(I(mar, "active_end"), 1);
  CHECK_EQ_I64(I(mar, "mrr_end_cents"), 1000);
  CHECK_EQ_I64(I(row(j, "plans", "plan", "pro-monthly"), "active"), 1);
  json_t *tot = row(j, "subs", "period", "total");
  CHECK_EQ_I64(I(tot, "churned"), 2);
  CHECK_EQ_I64(I(tot, "new"), 3);
  json_decref(j);
  patron_close(p);
}

/* ---- an empty shop ------------------------------------------------------------- */

TEST(every_report_runs_on_an_empty_shop) {
  patron *p = shop("r_empty.db");
  const char *names[] = {"redemption", "liability", "clv", "retention", "churn", "repeat",
                         "health", "nps", "crosssell", "bundles", "shipping", "subs"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    json_t *j = report(p, names[i], NULL, NULL, NULL, NULL);
    CHECK(j != NULL);
    CHECK(json_array_size(json_object_get(j, "tables")) >= 1);
    json_decref(j);
  }
  json_t *j = report(p, "redemption", NULL, NULL, NULL, "week");
  CHECK_STR(S(row(j, "periods", "period", "total"), "note"), "no data");
  json_decref(j);
  /* too many periods */
  patron_report_opts o = {NULL, T("1990-01-01"), T("2200-01-01"), "week", NULL};
  char *out = NULL;
  CHECK_EQ_I64(patron_report_json(p, &out, "redemption", &o), PATRON_INVALID_INPUT);
  patron_close(p);
}

int main(void) {
  RUN(tz_offsets_and_rules);
  RUN(helsinki_month_end_boundary);
  RUN(redemption_rates_cohorts_and_no_data);
  RUN(liability_clawbacks_and_value);
  RUN(aggregates_agree_with_the_ledger);
  RUN(clv_design_examples);
  RUN(clv_mixed_customers_tiers_and_margin);
  RUN(retention_design_example);
  RUN(health_scores_and_at_risk);
  RUN(nps_arithmetic);
  RUN(bundles_crosssell_and_shipping);
  RUN(abandoned_cart_once_and_not_after_commit);
  RUN(simulate_writes_nothing_and_prices_a_bigger_bundle);
  RUN(subs_mrr_churn_and_dunning_recovery);
  RUN(every_report_runs_on_an_empty_shop);
  return t_done();
}
