/* test_ledger.c -- ledger arithmetic, lots and expiry order, pending
** points, clawbacks and debt, tier windows, tick idempotency, overflow and
** verify. Programs are built by hand so these tests do not depend on the
** config module. */
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "t.h"

static pt_tier tiers[] = {{"bronze", 0, 10000},
                          {"silver", 50000, 12500},
                          {"gold", 200000, 15000}};

static pt_program make_prog(void) {
  pt_program g = {.name = "default", .points_per_unit = 1, .pending_days = 14,
                  .value_points = 100, .value_cents = 100, .expiry_months = 12,
                  .expiry_notice_days = 30, .tier_window_months = 12,
                  .ntiers = 3, .tiers = tiers};
  return g;
}

static pt_config make_cfg(pt_program *prog) {
  pt_config c = {.version = 1, .nprograms = 1, .programs = prog};
  return c;
}

static int64_t T(const char *s) {
  int64_t t = 0;
  if (patron_time_parse(&t, s)) abort();
  return t;
}

static patron *fresh(const char *name) {
  patron *p;
  unlink(name);
  if (patron_open(&p, name, NULL)) abort();
  return p;
}

static int64_t scalar(patron *p, const char *sql) {
  sqlite3_stmt *st;
  int64_t v = -999;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static int post(patron *p, pt_program *g, pt_kind k, int64_t pts, const char *at,
                const char *ref, bool pending, bool neg) {
  pt_post e = {.customer = "C1", .kind = k, .points = pts, .at = T(at),
               .order_ref = ref, .source = "test", .reason = "r",
               .pending = pending, .allow_negative = neg};
  return pt_ledger_post(p, g, &e, NULL);
}

static void open_account(patron *p, pt_program *g, const char *cust) {
  if (pt_customer_ensure(p, cust, T("2026-01-01")) ||
      pt_account_ensure(p, g, cust, T("2026-01-01")))
    abort();
}

static int64_t verify_mismatches(patron *p) {
  int64_t n = -1;
  char *r = NULL;
  if (patron_verify(p, &n, &r)) n = -1;
  patron_free(r);
  return n;
}

TEST(earn_redeem_and_balance) {
  patron *p = fresh("t1.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  char uuid[37] = "";
  pt_post e = {.customer = "C1", .kind = PT_EARN, .points = 1000,
               .at = T("2026-01-10"), .source = "order"};
  CHECK_EQ_I64(pt_ledger_post(p, &g, &e, uuid), PATRON_OK);
  CHECK_EQ_I64(strlen(uuid), 36);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -300, "2026-01-11", "O1", false, false), PATRON_OK);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-01-12"), &b), PATRON_OK);
  CHECK_EQ_I64(b.points, 700);
  CHECK_EQ_I64(b.spendable, 700);
  CHECK_EQ_I64(b.pending, 0);
  CHECK_STR(b.tier, "bronze");
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -701, "2026-01-12", "O2", false, false),
               PATRON_INSUFFICIENT_POINTS);
  CHECK_HAS(patron_errmsg(p), "C1 has 700 spendable points in default, 701 needed");
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, 0, "2026-01-12", "O2", false, false),
               PATRON_INVALID_INPUT);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), 700);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM ledger"), 2);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  patron_close(p);
}

TEST(redeem_uses_soonest_expiring_lot_first) {
  patron *p = fresh("t2.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 100, "2026-01-01", "A", false, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_EARN, 200, "2026-02-01", "B", false, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -150, "2026-03-01", "R", false, false), 0);
  /* lot A (expires first) is used up, lot B gives the remaining 50 */
  CHECK_EQ_I64(scalar(p, "SELECT left FROM lots l JOIN ledger e ON e.id = l.entry_id WHERE e.order_ref = 'A'"), 0);
  CHECK_EQ_I64(scalar(p, "SELECT left FROM lots l JOIN ledger e ON e.id = l.entry_id WHERE e.order_ref = 'B'"), 150);
  /* a year after A was earned, nothing of A is left to expire; B expires in
  ** February: tick at 2027-02-01 expires 150 */
  pt_config c = make_cfg(&g);
  patron_tick_result r = {0};
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-01-15"), &r), 0);
  CHECK_EQ_I64(r.expired_points, 0);
  CHECK_EQ_I64(r.expiring_notices, 1); /* B expires within 30 days */
  memset(&r, 0, sizeof r);
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-02-01"), &r), 0);
  CHECK_EQ_I64(r.expired_points, 150);
  CHECK_EQ_I64(r.expired_lots, 1);
  CHECK_EQ_I64(r.expiring_notices, 0); /* announced once */
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), 0);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM ledger WHERE kind = 'expire'"), -150);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM events WHERE type = 'points_expiring'"), 1);
  /* the same tick again does nothing */
  memset(&r, 0, sizeof r);
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-02-01"), &r), 0);
  CHECK_EQ_I64(r.expired_points + r.expired_lots + r.expiring_notices + r.tier_changes, 0);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM ledger"), 4);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  patron_close(p);
}

TEST(expired_but_unticked_points_are_not_spendable) {
  patron *p = fresh("t3.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 100, "2026-01-01", "A", false, false), 0);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2027-01-02"), &b), 0);
  CHECK_EQ_I64(b.points, 100);
  CHECK_EQ_I64(b.spendable, 0);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -50, "2027-01-02", "R", false, false),
               PATRON_INSUFFICIENT_POINTS);
  patron_close(p);
}

TEST(pending_points_mature_after_return_window) {
  patron *p = fresh("t4.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 500, "2026-03-01", "O1", true, false), 0);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-03-14T23:59:59Z"), &b), 0);
  CHECK_EQ_I64(b.points, 500);
  CHECK_EQ_I64(b.spendable, 0);
  CHECK_EQ_I64(b.pending, 500);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -100, "2026-03-10", "R", false, false),
               PATRON_INSUFFICIENT_POINTS);
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-03-15"), &b), 0);
  CHECK_EQ_I64(b.spendable, 500);
  CHECK_EQ_I64(b.pending, 0);
  patron_close(p);
}

TEST(refund_in_window_cancels_pending_points_of_that_order) {
  patron *p = fresh("t5.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 300, "2026-01-01", "OLD", false, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_EARN, 200, "2026-03-01", "O2", true, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_REVERSE, -200, "2026-03-05", "O2", false, true), 0);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-03-05"), &b), 0);
  CHECK_EQ_I64(b.points, 300);
  CHECK_EQ_I64(b.spendable, 300); /* the old lot is untouched */
  CHECK_EQ_I64(b.pending, 0);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  patron_close(p);
}

TEST(clawback_goes_negative_and_later_earns_pay_the_debt) {
  patron *p = fresh("t6.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 100, "2026-01-01", "O1", false, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -80, "2026-01-02", "O9", false, false), 0);
  /* refund of O1 after its points were spent: balance goes to -80 */
  CHECK_EQ_I64(post(p, &g, PT_REVERSE, -100, "2026-01-03", "O1", false, true), 0);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), -80);
  CHECK_EQ_I64(scalar(p, "SELECT coalesce(sum(left), 0) FROM lots"), 0);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-01-03"), &b), 0);
  CHECK_EQ_I64(b.spendable, -80);
  CHECK_EQ_I64(post(p, &g, PT_EARN, 50, "2026-01-04", "O3", false, false), 0);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), -30);
  CHECK_EQ_I64(scalar(p, "SELECT coalesce(sum(left), 0) FROM lots"), 0);
  CHECK_EQ_I64(post(p, &g, PT_EARN, 100, "2026-01-05", "O4", false, false), 0);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), 70);
  CHECK_EQ_I64(scalar(p, "SELECT coalesce(sum(left), 0) FROM lots"), 70);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  /* a redemption can never take it negative */
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -71, "2026-01-06", "O5", false, false),
               PATRON_INSUFFICIENT_POINTS);
  patron_close(p);
}

TEST(tier_follows_spend_in_window_and_drops_when_it_slides_out) {
  patron *p = fresh("t7.db");
  pt_program g = make_prog();
  pt_config c = make_cfg(&g);
  open_account(p, &g, "C1");
  CHECK_EQ_I64(pt_ledger_add_spend(p, &g, "C1", 49999, T("2026-01-10"), "O1"), 0);
  patron_balance_info b;
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-01-10"), &b), 0);
  CHECK_STR(b.tier, "bronze");
  CHECK_EQ_I64(pt_ledger_add_spend(p, &g, "C1", 1, T("2026-02-10"), "O2"), 0);
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-02-10"), &b), 0);
  CHECK_STR(b.tier, "silver");
  CHECK_EQ_I64(b.qualifying_cents, 50000);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM events WHERE type = 'tier_changed'"), 1);
  CHECK_EQ_I64(pt_ledger_add_spend(p, &g, "C1", 150000, T("2026-03-10"), "O3"), 0);
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-03-10"), &b), 0);
  CHECK_STR(b.tier, "gold");
  /* a refund drops the tier at once */
  CHECK_EQ_I64(pt_ledger_add_spend(p, &g, "C1", -1, T("2026-03-11"), "O3"), 0);
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2026-03-11"), &b), 0);
  CHECK_STR(b.tier, "silver");
  /* 2027-01-11: the January spend left the 12-month window: 150000-1+1 */
  patron_tick_result r = {0};
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-01-11"), &r), 0);
  CHECK_EQ_I64(r.tier_changes, 0); /* 150000 is still silver */
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-03-11"), &r), 0);
  CHECK_EQ_I64(r.tier_changes, 1);
  CHECK_EQ_I64(pt_ledger_balance(p, &g, "C1", T("2027-03-11"), &b), 0);
  CHECK_STR(b.tier, "bronze");
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM tier_history"), 4);
  memset(&r, 0, sizeof r);
  CHECK_EQ_I64(pt_ledger_tick(p, &c, T("2027-03-11"), &r), 0);
  CHECK_EQ_I64(r.tier_changes, 0);
  patron_close(p);
}

TEST(overflow_is_an_error_not_a_wrap) {
  patron *p = fresh("t8.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  CHECK_EQ_I64(post(p, &g, PT_EARN, INT64_MAX, "2026-01-01", "O1", false, false), 0);
  CHECK_EQ_I64(post(p, &g, PT_EARN, 1, "2026-01-01", "O2", false, false), PATRON_OVERFLOW);
  CHECK_HAS(patron_errmsg(p), "would overflow");
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), INT64_MAX);
  patron_close(p);
}

TEST(verify_detects_a_tampered_balance) {
  patron *p = fresh("t9.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  open_account(p, &g, "C2");
  CHECK_EQ_I64(post(p, &g, PT_EARN, 100, "2026-01-01", "O1", false, false), 0);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  sqlite3_exec(p->db, "UPDATE accounts SET points = points + 1 WHERE customer = 'C1'",
               NULL, NULL, NULL);
  int64_t n = 0;
  char *r = NULL;
  CHECK_EQ_I64(patron_verify(p, &n, &r), PATRON_OK);
  CHECK_EQ_I64(n, 1);
  CHECK_HAS(r, "\"customer\":\"C1\"");
  CHECK_HAS(r, "\"ledger_sum\":100");
  patron_free(r);
  patron_close(p);
}

TEST(many_lots_are_consumed_in_batches) {
  patron *p = fresh("t10.db");
  pt_program g = make_prog();
  open_account(p, &g, "C1");
  sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL);
  for (int i = 0; i < 200; i++)
    CHECK_EQ_I64(post(p, &g, PT_EARN, 10, "2026-01-01", NULL, false, false), 0);
  sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
  CHECK_EQ_I64(post(p, &g, PT_REDEEM, -1995, "2026-01-02", "R", false, false), 0);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM lots WHERE left > 0"), 1);
  CHECK_EQ_I64(scalar(p, "SELECT sum(left) FROM lots"), 5);
  CHECK_EQ_I64(verify_mismatches(p), 0);
  patron_close(p);
}

/* The expiry-notice pass reads the lots that expire in its window, not
** every open lot of the program: at 300,000 open lots the whole scan took
** 22 ms a tick. The plan must search lots_expiring by expires_at. */
TEST(expiry_notices_read_only_the_lots_in_their_window) {
  patron *p = fresh("t11.db");
  static const enum pt_sql_id ids[] = {PT_SQL_LOTS_NOTICE, PT_SQL_LOTS_MARK_NOTIFIED};
  for (size_t i = 0; i < 2; i++) {
    sqlite3_stmt *st = pt_stmt(p, ids[i]);
    CHECK(st != NULL);
    if (!st) continue;
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", sqlite3_sql(st));
    sqlite3_stmt *plan = NULL;
    CHECK_EQ_I64(sqlite3_prepare_v2(p->db, sql, -1, &plan, NULL), SQLITE_OK);
    bool by_window = false;
    while (plan && sqlite3_step(plan) == SQLITE_ROW) {
      const char *d = (const char *)sqlite3_column_text(plan, 3);
      if (d && strstr(d, "USING INDEX lots_expiring (expires_at>? AND expires_at<?)"))
        by_window = true;
    }
    sqlite3_finalize(plan);
    CHECK(by_window);
  }
  patron_close(p);
}

int main(void) {
  RUN(earn_redeem_and_balance);
  RUN(redeem_uses_soonest_expiring_lot_first);
  RUN(expired_but_unticked_points_are_not_spendable);
  RUN(pending_points_mature_after_return_window);
  RUN(refund_in_window_cancels_pending_points_of_that_order);
  RUN(clawback_goes_negative_and_later_earns_pay_the_debt);
  RUN(tier_follows_spend_in_window_and_drops_when_it_slides_out);
  RUN(overflow_is_an_error_not_a_wrap);
  RUN(verify_detects_a_tampered_balance);
  RUN(many_lots_are_consumed_in_batches);
  RUN(expiry_notices_read_only_the_lots_in_their_window);
  return t_done();
}
