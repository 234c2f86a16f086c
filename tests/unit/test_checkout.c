/* test_checkout.c -- the quote pipeline stage by stage with its rounding
** rules, commit (idempotency, stale quotes, nothing written on error),
** refunds (partial, full, after spending, tier drop), the struct path, and
** a two-process redemption race. Every scenario ends with patron verify. */
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "t.h"

static const char *SHOP =
    "shop { currency = \"EUR\" }\n"
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1, pending_days = 14 },\n"
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 500, max_share_bp = 5000 },\n"
    "  expiry = { months = 12 },\n"
    "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
    "            { name = \"silver\", from_cents = 50000, multiplier_bp = 12500 },\n"
    "            { name = \"gold\", from_cents = 200000, multiplier_bp = 15000 } },\n"
    "}\n"
    "bundle \"mp3-kit\" { skus = { \"MP3-01\", \"HP-07\" }, off_bp = 1500 }\n"
    "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n";

static int64_t now_value;
static int64_t clock_fn(void *ud) { return *(int64_t *)ud; }

static int64_t T(const char *s) {
  int64_t t = 0;
  if (patron_time_parse(&t, s)) abort();
  return t;
}

static patron *shop(const char *db) {
  patron *p;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = &now_value;
  unlink(db);
  now_value = T("2026-11-01");
  if (patron_open(&p, db, &o)) abort();
  patron_apply_result r;
  if (patron_apply_buffer(p, &r, "shop.lua", SHOP, strlen(SHOP))) {
    printf("# apply: %s\n", patron_errmsg(p));
    abort();
  }
  return p;
}

static json_t *quote(patron *p, const char *cart) {
  char *out = NULL;
  int rc = patron_quote_json(p, &out, cart);
  if (rc) {
    printf("# quote failed: %s (%s)\n", patron_errmsg(p), patron_errpath(p));
    return NULL;
  }
  json_t *j = json_loads(out, 0, NULL);
  patron_free(out);
  return j;
}

static json_t *commit(patron *p, const char *cart) {
  char *out = NULL;
  if (patron_commit_json(p, &out, cart)) {
    printf("# commit failed: %s\n", patron_errmsg(p));
    return NULL;
  }
  json_t *j = json_loads(out, 0, NULL);
  patron_free(out);
  return j;
}

static int64_t I(json_t *j, const char *path) {
  /* "a.b" -> integer at that path */
  char buf[64];
  snprintf(buf, sizeof buf, "%s", path);
  char *dot = strchr(buf, '.');
  if (dot) {
    *dot = 0;
    return json_integer_value(json_object_get(json_object_get(j, buf), dot + 1));
  }
  return json_integer_value(json_object_get(j, path));
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

static int64_t verify(patron *p) {
  int64_t n = -1;
  char *r = NULL;
  if (patron_verify(p, &n, &r)) n = -1;
  patron_free(r);
  return n;
}

static void give(patron *p, const char *cust, int64_t pts) {
  sqlite3_stmt *st;
  sqlite3_prepare_v2(p->db, "INSERT OR IGNORE INTO customers (id, created_at) VALUES (?1, 0)",
                     -1, &st, NULL);
  sqlite3_bind_text(st, 1, cust, -1, SQLITE_TRANSIENT);
  sqlite3_step(st);
  sqlite3_finalize(st);
  if (patron_adjust(p, NULL, cust, NULL, pts, "test balance")) {
    printf("# adjust: %s\n", patron_errmsg(p));
    abort();
  }
}

TEST(anonymous_cart_below_threshold_pays_shipping) {
  patron *p = shop("c1.db");
  json_t *q = quote(p, "{\"lines\":[{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999}]}");
  CHECK(q != NULL);
  CHECK_EQ_I64(I(q, "subtotal_cents"), 4999);
  CHECK_EQ_I64(I(q, "discount_cents"), 0);
  CHECK_EQ_I64(I(q, "shipping_cents"), 499);
  CHECK_EQ_I64(I(q, "free_shipping.threshold_cents"), 5000);
  CHECK_EQ_I64(I(q, "free_shipping.missing_cents"), 1);
  CHECK_EQ_I64(I(q, "total_cents"), 5498);
  CHECK_EQ_I64(I(q, "points_earned"), 0);
  CHECK_EQ_I64(I(q, "config_version"), 1);
  CHECK_STR(json_string_value(json_array_get(json_object_get(q, "messages"), 0)),
            "add 0.01 more for free shipping");
  json_decref(q);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM orders"), 0);
  patron_close(p);
}

TEST(bundle_discount_is_per_unit_floored_and_unlocks_free_shipping) {
  patron *p = shop("c2.db");
  json_t *q = quote(p, "{\"customer\":\"NEW1\",\"lines\":["
                       "{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999},"
                       "{\"sku\":\"HP-07\",\"qty\":1,\"unit_cents\":2999}]}");
  CHECK(q != NULL);
  CHECK_EQ_I64(I(q, "subtotal_cents"), 7998);
  /* floor(4999 * 0.15) + floor(2999 * 0.15) = 749 + 449 */
  CHECK_EQ_I64(I(q, "discount_cents"), 1198);
  json_t *d = json_array_get(json_object_get(q, "discounts"), 0);
  CHECK_STR(json_string_value(json_object_get(d, "source")), "bundle:mp3-kit");
  CHECK_EQ_I64(I(d, "cents"), 1198);
  CHECK_EQ_I64(I(q, "shipping_cents"), 0);
  CHECK_EQ_I64(I(q, "free_shipping.missing_cents"), 0);
  CHECK_EQ_I64(I(q, "total_cents"), 6800);
  CHECK_EQ_I64(I(q, "points_earned"), 68); /* floor(6800 / 100), bronze x1 */
  CHECK_STR(json_string_value(json_object_get(q, "tier")), "bronze");
  json_decref(q);
  patron_close(p);
}

TEST(redemption_limits_and_warnings) {
  patron *p = shop("c3.db");
  give(p, "C1", 5000);
  /* 2000 + 499 shipping: at most 50% = 1249 cents = 1249 points */
  json_t *q = quote(p, "{\"customer\":\"C1\",\"redeem_points\":1000,\"lines\":"
                       "[{\"sku\":\"X\",\"qty\":2,\"unit_cents\":1000}]}");
  CHECK_EQ_I64(I(q, "redeem.points"), 1000);
  CHECK_EQ_I64(I(q, "redeem.cents"), 1000);
  CHECK_EQ_I64(I(q, "total_cents"), 1499);
  CHECK_EQ_I64(I(q, "points_earned"), 10); /* floor((2000 - 1000) / 100) */
  CHECK_EQ_I64(json_array_size(json_object_get(q, "warnings")), 0);
  json_decref(q);
  q = quote(p, "{\"customer\":\"C1\",\"redeem_points\":3000,\"lines\":"
               "[{\"sku\":\"X\",\"qty\":2,\"unit_cents\":1000}]}");
  CHECK_EQ_I64(I(q, "redeem.points"), 1249);
  CHECK_HAS(json_string_value(json_array_get(json_object_get(q, "warnings"), 0)),
            "at most 50.00% of an order");
  json_decref(q);
  q = quote(p, "{\"customer\":\"C1\",\"redeem_points\":300,\"lines\":"
               "[{\"sku\":\"X\",\"qty\":2,\"unit_cents\":1000}]}");
  CHECK_EQ_I64(I(q, "redeem.points"), 0);
  CHECK_HAS(json_string_value(json_array_get(json_object_get(q, "warnings"), 0)),
            "redemptions start at 500 points");
  json_decref(q);
  q = quote(p, "{\"customer\":\"C1\",\"redeem_points\":9000,\"lines\":"
               "[{\"sku\":\"X\",\"qty\":20,\"unit_cents\":1000}]}");
  CHECK_EQ_I64(I(q, "redeem.points"), 5000);
  CHECK_HAS(json_string_value(json_array_get(json_object_get(q, "warnings"), 0)),
            "the spendable balance");
  json_decref(q);
  q = quote(p, "{\"redeem_points\":900,\"lines\":[{\"sku\":\"X\",\"qty\":20,\"unit_cents\":1000}]}");
  CHECK_EQ_I64(I(q, "redeem.points"), 0);
  CHECK_HAS(json_string_value(json_array_get(json_object_get(q, "warnings"), 0)),
            "anonymous orders cannot redeem");
  json_decref(q);
  patron_close(p);
}

TEST(commit_records_and_is_idempotent) {
  patron *p = shop("c4.db");
  give(p, "C1", 2000);
  const char *cart = "{\"order_id\":\"POS-1\",\"customer\":\"C1\",\"redeem_points\":600,"
                     "\"lines\":[{\"sku\":\"X\",\"qty\":3,\"unit_cents\":1000}]}";
  char *r1 = NULL, *r2 = NULL;
  CHECK_EQ_I64(patron_commit_json(p, &r1, cart), PATRON_OK);
  json_t *j = json_loads(r1, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(j, "order_id")), "POS-1");
  CHECK_EQ_I64(I(j, "redeem.points"), 600);
  CHECK_EQ_I64(I(j, "total_cents"), 2899); /* 3000 + 499 shipping - 600 */
  json_decref(j);
  CHECK_EQ_I64(scalar(p, "SELECT total_cents FROM orders"), 2899);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts WHERE customer = 'C1'"), 2000 - 600 + 24);
  /* retry: byte-identical receipt, nothing new written */
  CHECK_EQ_I64(patron_commit_json(p, &r2, cart), PATRON_OK);
  CHECK_STR(r2, r1);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM orders"), 1);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM ledger WHERE order_ref = 'POS-1'"), 2);
  /* the same order id with another cart is a conflict naming the field */
  char *r3 = NULL;
  CHECK_EQ_I64(patron_commit_json(p, &r3,
      "{\"order_id\":\"POS-1\",\"customer\":\"C1\",\"redeem_points\":600,"
      "\"lines\":[{\"sku\":\"X\",\"qty\":4,\"unit_cents\":1000}]}"), PATRON_CONFLICT);
  CHECK_STR(patron_errpath(p), "lines[0].qty");
  CHECK(r3 == NULL);
  CHECK_EQ_I64(verify(p), 0);
  patron_free(r1);
  patron_free(r2);
  patron_close(p);
}

TEST(stale_quote_and_insufficient_points_write_nothing) {
  patron *p = shop("c5.db");
  give(p, "C1", 700);
  char *r = NULL;
  CHECK_EQ_I64(patron_commit_json(p, &r,
      "{\"order_id\":\"S1\",\"customer\":\"C1\",\"expect_total_cents\":100,"
      "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":6000}]}"), PATRON_STALE_QUOTE);
  CHECK_HAS(patron_errmsg(p), "the total is now 6000 cents, the quote said 100");
  CHECK_EQ_I64(patron_commit_json(p, &r,
      "{\"order_id\":\"S2\",\"customer\":\"C1\",\"redeem_points\":800,"
      "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":6000}]}"), PATRON_INSUFFICIENT_POINTS);
  CHECK_EQ_I64(patron_commit_json(p, &r,
      "{\"customer\":\"C1\",\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":6000}]}"),
      PATRON_INVALID_CART);
  CHECK_STR(patron_errpath(p), "order_id");
  CHECK_EQ_I64(patron_commit_json(p, &r,
      "{\"order_id\":\"S3\",\"program\":\"nope\",\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":1}]}"),
      PATRON_UNKNOWN_PROGRAM);
  CHECK_EQ_I64(patron_commit_json(p, &r,
      "{\"order_id\":\"S4\",\"currency\":\"USD\",\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":1}]}"),
      PATRON_INVALID_CART);
  CHECK_STR(patron_errpath(p), "currency");
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM orders"), 0);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM ledger"), 1);
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts"), 700);
  patron_close(p);
}

TEST(partial_and_full_refunds_telescope) {
  patron *p = shop("c6.db");
  json_t *r = commit(p, "{\"order_id\":\"O1\",\"customer\":\"C2\",\"lines\":["
                        "{\"sku\":\"A\",\"qty\":3,\"unit_cents\":3333},"
                        "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":1}]}");
  CHECK(r != NULL);
  CHECK_EQ_I64(I(r, "points_earned"), 100); /* floor(10000 / 100) */
  json_decref(r);
  char *out = NULL;
  patron_refund_line one = {"A", 1};
  now_value = T("2026-11-03");
  CHECK_EQ_I64(patron_refund(p, &out, "O1", &one, 1), PATRON_OK);
  json_t *j = json_loads(out, 0, NULL);
  CHECK_EQ_I64(I(j, "refund_cents"), 3333);
  CHECK_EQ_I64(I(j, "points_reversed"), 33); /* A's share 100 of 100: floor(100/3) */
  CHECK_EQ_I64(I(j, "clawback_points"), 0);
  CHECK(!json_is_true(json_object_get(j, "fully_refunded")));
  json_decref(j);
  patron_free(out);
  patron_refund_line too_many = {"A", 3};
  CHECK_EQ_I64(patron_refund(p, &out, "O1", &too_many, 1), PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "more than the 2 not yet refunded");
  patron_refund_line nosku = {"ZZ", 1};
  CHECK_EQ_I64(patron_refund(p, &out, "O1", &nosku, 1), PATRON_INVALID_INPUT);
  CHECK_EQ_I64(patron_refund(p, &out, "NOPE", NULL, 0), PATRON_NOT_FOUND);
  /* the rest: everything that is left */
  CHECK_EQ_I64(patron_refund(p, &out, "O1", NULL, 0), PATRON_OK);
  j = json_loads(out, 0, NULL);
  CHECK(json_is_true(json_object_get(j, "fully_refunded")));
  CHECK_EQ_I64(I(j, "balance_after"), 0); /* every earned point came back */
  json_decref(j);
  patron_free(out);
  CHECK_EQ_I64(scalar(p, "SELECT sum(points) FROM ledger WHERE customer = 'C2'"), 0);
  CHECK_EQ_I64(scalar(p, "SELECT coalesce(sum(cents), 0) FROM spend WHERE customer = 'C2'"), 0);
  CHECK_EQ_I64(patron_refund(p, &out, "O1", NULL, 0), PATRON_INVALID_INPUT);
  CHECK_HAS(patron_errmsg(p), "already fully refunded");
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(refund_after_the_points_were_spent_claws_back) {
  patron *p = shop("c7.db");
  json_t *r = commit(p, "{\"order_id\":\"E1\",\"customer\":\"C3\",\"lines\":["
                        "{\"sku\":\"A\",\"qty\":1,\"unit_cents\":100000}]}");
  CHECK_EQ_I64(I(r, "points_earned"), 1000);
  CHECK_STR(json_string_value(json_object_get(r, "tier_after")), "silver");
  json_decref(r);
  /* the points mature after 14 days; spend 1000 of them on another order */
  now_value = T("2026-11-20");
  r = commit(p, "{\"order_id\":\"E2\",\"customer\":\"C3\",\"redeem_points\":1000,"
                "\"lines\":[{\"sku\":\"B\",\"qty\":1,\"unit_cents\":3000}]}");
  CHECK(r != NULL);
  CHECK_EQ_I64(I(r, "redeem.points"), 1000);
  json_decref(r);
  /* silver x1.25 on E2: floor((3000 - 1000) / 100) = 20 -> 25 */
  CHECK_EQ_I64(scalar(p, "SELECT points FROM accounts WHERE customer = 'C3'"), 25);
  now_value = T("2026-11-21");
  char *out = NULL;
  CHECK_EQ_I64(patron_refund(p, &out, "E1", NULL, 0), PATRON_OK);
  json_t *j = json_loads(out, 0, NULL);
  CHECK_EQ_I64(I(j, "points_reversed"), 1000);
  CHECK_EQ_I64(I(j, "balance_after"), -975);
  CHECK_EQ_I64(I(j, "clawback_points"), 975);
  CHECK_STR(json_string_value(json_object_get(j, "tier_after")), "bronze");
  json_decref(j);
  patron_free(out);
  CHECK_EQ_I64(scalar(p, "SELECT clawback_points FROM refunds"), 975);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM events WHERE type = 'tier_changed'"), 2);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(refund_inside_return_window_cancels_pending_points) {
  patron *p = shop("c8.db");
  give(p, "C4", 800);
  json_t *r = commit(p, "{\"order_id\":\"P1\",\"customer\":\"C4\",\"lines\":["
                        "{\"sku\":\"A\",\"qty\":1,\"unit_cents\":5000}]}");
  json_decref(r);
  patron_balance_info b;
  CHECK_EQ_I64(patron_balance(p, &b, "C4", NULL), PATRON_OK);
  CHECK_EQ_I64(b.points, 850);
  CHECK_EQ_I64(b.pending, 50);
  CHECK_EQ_I64(b.spendable, 800);
  char *out = NULL;
  CHECK_EQ_I64(patron_refund(p, &out, "P1", NULL, 0), PATRON_OK);
  patron_free(out);
  CHECK_EQ_I64(patron_balance(p, &b, "C4", NULL), PATRON_OK);
  CHECK_EQ_I64(b.points, 800);
  CHECK_EQ_I64(b.pending, 0);
  CHECK_EQ_I64(b.spendable, 800);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

TEST(tier_multiplier_applies_after_qualifying) {
  patron *p = shop("c9.db");
  json_decref(commit(p, "{\"order_id\":\"G1\",\"customer\":\"C5\",\"lines\":"
                        "[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":200000}]}"));
  json_t *q = quote(p, "{\"customer\":\"C5\",\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":10001}]}");
  CHECK_STR(json_string_value(json_object_get(q, "tier")), "gold");
  CHECK_EQ_I64(I(q, "points_earned"), 150); /* floor(100 * 15000 / 10000) */
  json_t *t = json_object_get(q, "trace");
  bool found = false;
  for (size_t i = 0; i < json_array_size(t); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(t, i), "source")), "tier:gold") == 0)
      found = true;
  CHECK(found);
  json_decref(q);
  patron_close(p);
}

TEST(struct_path_matches_json_path) {
  patron *p = shop("c10.db");
  patron_line lines[] = {{"MP3-01", 1, 4999, NULL, NULL}, {"HP-07", 2, 2999, NULL, NULL}};
  patron_cart cart = {.customer = "C9", .lines = lines, .nlines = 2, .order_id = "ST-1"};
  patron_quote q;
  CHECK_EQ_I64(patron_quote_cart(p, &q, &cart), PATRON_OK);
  CHECK_EQ_I64(q.subtotal_cents, 4999 + 2 * 2999);
  CHECK_EQ_I64(q.discount_cents, 1198);
  CHECK_EQ_I64(q.ndiscounts, 1);
  CHECK_STR(q.discounts[0].source, "bundle:mp3-kit");
  char *js = NULL;
  patron_quote_json(p, &js,
                    "{\"customer\":\"C9\",\"order_id\":\"ST-1\",\"lines\":["
                    "{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999},"
                    "{\"sku\":\"HP-07\",\"qty\":2,\"unit_cents\":2999}]}");
  CHECK_STR(q.json, js);
  patron_free(js);
  patron_quote_release(&q);
  CHECK_EQ_I64(patron_commit_cart(p, &q, &cart), PATRON_OK);
  CHECK_EQ_I64(q.balance_after, q.points_earned);
  patron_quote_release(&q);
  patron_close(p);
}

TEST(refund_after_expiry_does_not_take_expired_points_twice) {
  patron *p = shop("c11.db");
  json_decref(commit(p, "{\"order_id\":\"X1\",\"customer\":\"C7\",\"lines\":"
                        "[{\"sku\":\"A\",\"qty\":2,\"unit_cents\":5000}]}"));
  give(p, "C7", 40);
  patron_tick_result t;
  CHECK_EQ_I64(patron_tick(p, &t, T("2027-11-02")), PATRON_OK);
  CHECK_EQ_I64(t.expired_points, 140); /* the order's 100 and the 40 given */
  give(p, "C7", 30);
  now_value = T("2027-11-03");
  char *out = NULL;
  patron_refund_line one = {"A", 1};
  CHECK_EQ_I64(patron_refund(p, &out, "X1", &one, 1), PATRON_OK);
  json_t *j = json_loads(out, 0, NULL);
  CHECK_EQ_I64(I(j, "points_reversed"), 0); /* all 100 expired already */
  CHECK_EQ_I64(I(j, "balance_after"), 30);
  json_decref(j);
  patron_free(out);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* Two processes redeem the same balance at once, many times: exactly one
** wins each round and the balance never goes below zero. */
TEST(two_process_redemption_race) {
  patron *p = shop("race.db");
  int rounds = 40, wins_total = 0;
  for (int r = 0; r < rounds; r++) {
    give(p, "R1", 1000);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
      if ((kids[k] = fork()) == 0) {
        patron *c;
        patron_options o = PATRON_OPTIONS_INIT;
        o.clock = clock_fn;
        o.clock_ud = &now_value;
        if (patron_open(&c, "race.db", &o)) _exit(3);
        char cart[256], *out = NULL;
        snprintf(cart, sizeof cart,
                 "{\"order_id\":\"race-%d-%d\",\"customer\":\"R1\",\"redeem_points\":1000,"
                 "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":10000}]}", r, k);
        int rc = patron_commit_json(c, &out, cart);
        patron_free(out);
        patron_close(c);
        _exit(rc == PATRON_OK ? 0 : rc == PATRON_INSUFFICIENT_POINTS ? 1 : 2);
      }
    }
    int wins = 0, losses = 0;
    for (int k = 0; k < 2; k++) {
      int st;
      waitpid(kids[k], &st, 0);
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) wins++;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 1) losses++;
    }
    CHECK_EQ_I64(wins, 1);
    CHECK_EQ_I64(losses, 1);
    wins_total += wins;
    CHECK(scalar(p, "SELECT min(points) FROM accounts") >= 0);
  }
  CHECK_EQ_I64(wins_total, rounds);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM orders"), rounds);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

int main(void) {
  RUN(anonymous_cart_below_threshold_pays_shipping);
  RUN(bundle_discount_is_per_unit_floored_and_unlocks_free_shipping);
  RUN(redemption_limits_and_warnings);
  RUN(commit_records_and_is_idempotent);
  RUN(stale_quote_and_insufficient_points_write_nothing);
  RUN(partial_and_full_refunds_telescope);
  RUN(refund_after_the_points_were_spent_claws_back);
  RUN(refund_inside_return_window_cancels_pending_points);
  RUN(tier_multiplier_applies_after_qualifying);
  RUN(struct_path_matches_json_path);
  RUN(refund_after_expiry_does_not_take_expired_points_twice);
  RUN(two_process_redemption_race);
  return t_done();
}
