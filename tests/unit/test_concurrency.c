/* test_concurrency.c -- several processes (tills) on one database file,
** each with its own handle, started together at a barrier:
**   - 2 to 8 tills redeem R points each from one balance B at once, for
**     a few hundred random trials (PATRON_CONCURRENCY_TRIALS for more;
**     PATRON_CONCURRENCY_SEED replays): exactly min(tills, floor(B / R))
**     succeed, the others get insufficient_points, none gets busy (the
**     busy timeout covers the waits), the spendable balance ends at
**     B - wins x R and never below zero;
**   - one order_id committed 1,000 times in a row and by 16 tills at once:
**     one order row, one set of ledger entries, every response byte for
**     byte the first one;
**   - the same order_id with another cart is conflict naming the first
**     differing field and writes nothing, also when tills race with the two
**     carts: one cart wins, its tills all get its receipt, the others
**     conflict. */
#define _XOPEN_SOURCE 700 /* strdup */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "t.h"

static const char *SHOP =
    "shop { currency = \"EUR\" }\n"
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1, pending_days = 30 },\n" /* earned: not spendable */
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 0, max_share_bp = 10000 },\n"
    "}\n";

static const char *DB = "tills.db";
static int64_t now_value;
static int64_t clock_fn(void *ud) { return *(int64_t *)ud; }

static patron *open_db(void) {
  patron *p;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = &now_value;
  if (patron_open(&p, DB, &o)) {
    patron_close(p);
    return NULL;
  }
  return p;
}

static patron *shop(void) {
  char x[64];
  unlink(DB);
  snprintf(x, sizeof x, "%s-wal", DB);
  unlink(x);
  snprintf(x, sizeof x, "%s-shm", DB);
  unlink(x);
  if (patron_time_parse(&now_value, "2026-05-01T12:00:00Z")) abort();
  patron *p = open_db();
  patron_apply_result r;
  if (!p || patron_apply_buffer(p, &r, "shop.lua", SHOP, strlen(SHOP))) abort();
  return p;
}

static int64_t q1(patron *p, const char *sql, const char *a) {
  sqlite3_stmt *st;
  int64_t v = -999;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) return v;
  if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
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

static uint64_t rng;
static uint64_t next(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ULL;
}
static int64_t pick(int64_t n) { return (int64_t)(next() % (uint64_t)n); }

static int64_t env_int(const char *name, int64_t dflt) {
  const char *s = getenv(name);
  return s && *s ? strtoll(s, NULL, 10) : dflt;
}

/* ---- tills ---------------------------------------------------------------- */

/* A till's work: given its index, commits what it must and returns the exit
** status (0 ok, 1 refused as expected, 2 busy, 3 anything else). */
typedef int (*till_fn)(patron *p, int k, void *ud);

/* Forks n tills that open their own handle, wait at a barrier so that they
** start together, run fn and exit; status[k] gets each exit status (4 when
** a till died). */
static void run_tills(int n, till_fn fn, void *ud, int *status) {
  int ready[2], go[2];
  if (n < 1 || n > 64) abort();
  pid_t kids[64];
  if (pipe(ready) || pipe(go)) abort();
  fflush(stdout);
  for (int k = 0; k < n; k++) {
    if ((kids[k] = fork()) == 0) {
      close(ready[0]);
      close(go[1]);
      patron *c = open_db();
      char b = c ? 'r' : 'x';
      if (write(ready[1], &b, 1) != 1) _exit(3);
      if (read(go[0], &b, 1) != 1 || !c) _exit(3);
      int rc = fn(c, k, ud);
      patron_close(c);
      _exit(rc);
    }
  }
  close(ready[1]);
  close(go[0]);
  for (int k = 0; k < n; k++) { /* every till has its handle open */
    char b;
    while (read(ready[0], &b, 1) < 0 && errno == EINTR) {}
  }
  char gobuf[64];
  memset(gobuf, 'g', sizeof gobuf);
  size_t ngo = (size_t)n & 63;
  if (ngo == 0) ngo = 64;
  if (write(go[1], gobuf, ngo) != (ssize_t)ngo) abort();
  close(go[1]);
  close(ready[0]);
  for (int k = 0; k < n; k++) {
    int st;
    waitpid(kids[k], &st, 0);
    status[k] = WIFEXITED(st) ? WEXITSTATUS(st) : 4;
  }
}

static int status_of(int rc, int refused) {
  return rc == PATRON_OK ? 0 : rc == refused ? 1 : rc == PATRON_BUSY ? 2 : 3;
}

/* ---- redemption race ----------------------------------------------------------- */

typedef struct race {
  int trial;
  int64_t redeem;
  char customer[32];
} race;

static int redeem_till(patron *c, int k, void *ud) {
  const race *r = ud;
  char cart[512], *out = NULL;
  snprintf(cart, sizeof cart,
           "{\"order_id\":\"t%d-till%d\",\"customer\":\"%s\",\"redeem_points\":%lld,"
           "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":%lld}]}",
           r->trial, k, r->customer, (long long)r->redeem, (long long)r->redeem * 10);
  int rc = patron_commit_json(c, &out, cart);
  if (rc && rc != PATRON_INSUFFICIENT_POINTS)
    fprintf(stderr, "till %d: %s: %s\n", k, patron_code_name(rc), patron_errmsg(c));
  patron_free(out);
  return status_of(rc, PATRON_INSUFFICIENT_POINTS);
}

TEST(tills_redeem_exactly_what_the_balance_affords) {
  patron *p = shop();
  int64_t trials = env_int("PATRON_CONCURRENCY_TRIALS", 300);
  uint64_t seed = (uint64_t)env_int("PATRON_CONCURRENCY_SEED", (int64_t)time(NULL));
  rng = seed ? seed : 1;
  printf("# %lld trials, seed %llu (PATRON_CONCURRENCY_SEED=%llu replays)\n",
         (long long)trials, (unsigned long long)seed, (unsigned long long)seed);
  int64_t busy = 0, other = 0, wrong = 0, negative = 0, wins_total = 0, losses_total = 0;
  for (int t = 0; t < trials; t++) {
    int n = 2 + (int)pick(7);
    race r = {.trial = t, .redeem = 100 * (1 + pick(10))};
    snprintf(r.customer, sizeof r.customer, "T%d", t);
    int64_t affordable = pick(n + 2); /* sometimes more than there are tills */
    int64_t balance = affordable * r.redeem + pick(r.redeem);
    if (balance > 0 && patron_adjust(p, NULL, r.customer, NULL, balance, "trial") ==
                           PATRON_UNKNOWN_CUSTOMER) {
      /* enrol the customer with a first order, then give the balance */
      char cart[256], *out = NULL;
      snprintf(cart, sizeof cart, "{\"order_id\":\"t%d-enrol\",\"customer\":\"%s\","
               "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":1}]}", t, r.customer);
      if (patron_commit_json(p, &out, cart) ||
          patron_adjust(p, NULL, r.customer, NULL, balance, "trial"))
        printf("# setup of trial %d: %s\n", t, patron_errmsg(p));
      patron_free(out);
    }
    int status[64];
    run_tills(n, redeem_till, &r, status);
    int64_t wins = 0, losses = 0;
    for (int k = 0; k < n; k++) {
      wins += status[k] == 0;
      losses += status[k] == 1;
      busy += status[k] == 2;
      other += status[k] >= 3;
    }
    int64_t want = affordable < n ? affordable : n;
    if (wins != want || losses != n - want) {
      if (wrong++ < 5)
        printf("# trial %d (seed %llu): %d tills, B=%lld, R=%lld: %lld won, want %lld\n", t,
               (unsigned long long)seed, n, (long long)balance, (long long)r.redeem,
               (long long)wins, (long long)want);
    }
    wins_total += wins;
    losses_total += losses;
    patron_balance_info b;
    if (balance > 0 || wins > 0) {
      if (patron_balance(p, &b, r.customer, NULL)) {
        wrong++;
      } else {
        if (b.spendable != balance - wins * r.redeem) wrong++;
        if (b.spendable < 0 || b.points < 0) negative++;
      }
    }
  }
  printf("# %lld redemptions succeeded, %lld refused for want of points\n",
         (long long)wins_total, (long long)losses_total);
  CHECK(wins_total > 0 && losses_total > 0);
  CHECK_EQ_I64(wrong, 0);
  CHECK_EQ_I64(busy, 0);
  CHECK_EQ_I64(other, 0);
  CHECK_EQ_I64(negative, 0);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM accounts WHERE points < 0", NULL), 0);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger WHERE kind = 'redeem'", NULL), wins_total);
  CHECK_EQ_I64(verify(p), 0);
  patron_close(p);
}

/* ---- idempotency ------------------------------------------------------------------ */

static const char *CART =
    "{\"order_id\":\"POS3-000777\",\"customer\":\"I1\",\"redeem_points\":300,"
    "\"lines\":[{\"sku\":\"A\",\"qty\":2,\"unit_cents\":1250},"
    "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":4999}]}";

static char *commit_text(patron *p, const char *cart, int *rc) {
  char *out = NULL;
  *rc = patron_commit_json(p, &out, cart);
  if (*rc) return NULL;
  char *copy = strdup(out);
  patron_free(out);
  return copy;
}

static void give(patron *p, const char *customer, int64_t points) {
  char cart[256], *out = NULL;
  snprintf(cart, sizeof cart, "{\"order_id\":\"enrol-%s\",\"customer\":\"%s\","
           "\"lines\":[{\"sku\":\"X\",\"qty\":1,\"unit_cents\":1}]}", customer, customer);
  if (patron_commit_json(p, &out, cart) || patron_adjust(p, NULL, customer, NULL, points, "t"))
    printf("# give: %s\n", patron_errmsg(p));
  patron_free(out);
}

TEST(one_order_id_a_thousand_times_in_a_row) {
  patron *p = shop();
  give(p, "I1", 1000);
  int rc;
  char *first = commit_text(p, CART, &rc);
  CHECK_EQ_I64(rc, PATRON_OK);
  int64_t entries = q1(p, "SELECT count(*) FROM ledger", NULL);
  int64_t events = q1(p, "SELECT count(*) FROM events", NULL);
  int same = 0;
  for (int i = 0; i < 1000; i++) {
    char *again = commit_text(p, CART, &rc);
    same += again && first && strcmp(again, first) == 0;
    free(again);
  }
  CHECK_EQ_I64(same, 1000);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM orders WHERE order_id = 'POS3-000777'", NULL), 1);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger WHERE order_ref = 'POS3-000777'", NULL), 2);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger", NULL), entries);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM events", NULL), events);
  patron_balance_info b;
  CHECK_EQ_I64(patron_balance(p, &b, "I1", NULL), PATRON_OK);
  CHECK_EQ_I64(b.spendable, 700);
  /* the struct path gets the same stored receipt */
  patron_line lines[] = {{"A", 2, 1250, NULL, NULL}, {"B", 1, 4999, NULL, NULL}};
  patron_cart c = {.customer = "I1", .order_id = "POS3-000777", .lines = lines,
                   .nlines = 2, .redeem_points = 300};
  patron_quote q;
  CHECK_EQ_I64(patron_commit_cart(p, &q, &c), PATRON_OK);
  CHECK_STR(q.json, first);
  patron_quote_release(&q);
  CHECK_EQ_I64(verify(p), 0);
  free(first);
  patron_close(p);
}

typedef struct same_order {
  const char *carts[2];     /* till k commits carts[k % ncarts] */
  int ncarts;
  int rounds;               /* commits per till */
} same_order;

/* Each till writes what it got (receipt or error code) to resp.K. */
static int same_order_till(patron *c, int k, void *ud) {
  const same_order *s = ud;
  char path[32];
  snprintf(path, sizeof path, "resp.%d", k);
  FILE *f = fopen(path, "w");
  if (!f) return 3;
  int worst = 0;
  for (int i = 0; i < s->rounds; i++) {
    char *out = NULL;
    int rc = patron_commit_json(c, &out, s->carts[k % s->ncarts]);
    fprintf(f, "%s\n", rc ? patron_code_name(rc) : out);
    if (rc == PATRON_CONFLICT) fprintf(f, "path %s\n", patron_errpath(c));
    patron_free(out);
    int st = status_of(rc, PATRON_CONFLICT);
    if (st > worst) worst = st;
  }
  fclose(f);
  return worst;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

TEST(one_order_id_from_sixteen_tills_at_once) {
  patron *p = shop();
  give(p, "I1", 1000);
  same_order s = {{CART}, 1, 20};
  int status[16];
  run_tills(16, same_order_till, &s, status);
  int ok = 0;
  for (int k = 0; k < 16; k++) ok += status[k] == 0;
  CHECK_EQ_I64(ok, 16);
  char *first = slurp("resp.0");
  CHECK(first && strncmp(first, "{\"program\"", 10) == 0);
  /* every response of every till is the first receipt, byte for byte */
  char *line = first ? strndup(first, strcspn(first, "\n")) : NULL;
  int same = 0;
  for (int k = 0; k < 16; k++) {
    char path[32];
    snprintf(path, sizeof path, "resp.%d", k);
    char *all = slurp(path);
    for (char *q = all; q && *q;) {
      size_t n = strcspn(q, "\n");
      same += line && n == strlen(line) && strncmp(q, line, n) == 0;
      q += n + (q[n] == '\n');
    }
    free(all);
  }
  CHECK_EQ_I64(same, 16 * 20);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM orders WHERE order_id = 'POS3-000777'", NULL), 1);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger WHERE order_ref = 'POS3-000777'", NULL), 2);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM order_lines", NULL), 3); /* enrol 1 + this 2 */
  int rc;
  char *again = commit_text(p, CART, &rc);
  CHECK_STR(again, line);
  CHECK_EQ_I64(verify(p), 0);
  free(again);
  free(line);
  free(first);
  patron_close(p);
}

/* Another cart under a committed order_id: conflict naming the field. */
TEST(another_cart_under_the_same_id_is_conflict_naming_the_field) {
  patron *p = shop();
  give(p, "I1", 1000);
  give(p, "I2", 1000);
  int rc;
  char *first = commit_text(p, CART, &rc);
  CHECK_EQ_I64(rc, PATRON_OK);
  int64_t changes = q1(p, "SELECT count(*) FROM ledger", NULL);
  static const struct {
    const char *cart, *path;
  } cases[] = {
      {"{\"order_id\":\"POS3-000777\",\"customer\":\"I1\",\"redeem_points\":300,"
       "\"lines\":[{\"sku\":\"A\",\"qty\":3,\"unit_cents\":1250},"
       "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":4999}]}", "lines[0].qty"},
      {"{\"order_id\":\"POS3-000777\",\"customer\":\"I1\",\"redeem_points\":300,"
       "\"lines\":[{\"sku\":\"A\",\"qty\":2,\"unit_cents\":1250},"
       "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":4998}]}", "lines[1].unit_cents"},
      {"{\"order_id\":\"POS3-000777\",\"customer\":\"I1\",\"redeem_points\":200,"
       "\"lines\":[{\"sku\":\"A\",\"qty\":2,\"unit_cents\":1250},"
       "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":4999}]}", "redeem_points"},
      {"{\"order_id\":\"POS3-000777\",\"customer\":\"I2\",\"redeem_points\":300,"
       "\"lines\":[{\"sku\":\"A\",\"qty\":2,\"unit_cents\":1250},"
       "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":4999}]}", "customer"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL;
    CHECK_EQ_I64(patron_commit_json(p, &out, cases[i].cart), PATRON_CONFLICT);
    CHECK(out == NULL);
    CHECK_STR(patron_errpath(p), cases[i].path);
    CHECK_HAS(patron_errmsg(p), cases[i].path);
    char *e = patron_error_json(p);
    CHECK_HAS(e, "\"code\":\"conflict\"");
    patron_free(e);
  }
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM ledger", NULL), changes);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM orders", NULL), 3);
  char *again = commit_text(p, CART, &rc);
  CHECK_STR(again, first);
  free(again);
  free(first);

  /* a race of the two carts under a fresh id: one wins, and each till sent
  ** the winner's cart gets its receipt, the others conflict on redeem_points */
  same_order s = {{"{\"order_id\":\"POS3-000888\",\"customer\":\"I1\",\"redeem_points\":100,"
                   "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":5000}]}",
                   "{\"order_id\":\"POS3-000888\",\"customer\":\"I1\",\"redeem_points\":200,"
                   "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":5000}]}"},
                  2, 5};
  int status[16];
  run_tills(16, same_order_till, &s, status);
  int bad = 0;
  for (int k = 0; k < 16; k++) bad += status[k] > 1;
  CHECK_EQ_I64(bad, 0);
  int64_t won = q1(p, "SELECT redeem_points FROM orders WHERE order_id = 'POS3-000888'", NULL);
  CHECK(won == 100 || won == 200);
  int winner = won == 100 ? 0 : 1;
  char *receipt = NULL;
  int receipts = 0, conflicts = 0;
  for (int k = 0; k < 16; k++) {
    char path[32];
    snprintf(path, sizeof path, "resp.%d", k);
    char *all = slurp(path);
    for (char *q = all; q && *q;) {
      size_t n = strcspn(q, "\n");
      if (k % 2 == winner) {
        if (!receipt) receipt = strndup(q, n);
        receipts += n == strlen(receipt) && strncmp(q, receipt, n) == 0;
      } else {
        conflicts += strncmp(q, "conflict", 8) == 0;
        if (strncmp(q, "path ", 5) == 0)
          conflicts += strncmp(q, "path redeem_points", n) == 0 ? 0 : -100;
      }
      q += n + (q[n] == '\n');
    }
    free(all);
  }
  CHECK_EQ_I64(receipts, 8 * 5);
  CHECK_EQ_I64(conflicts, 8 * 5);
  CHECK_EQ_I64(q1(p, "SELECT count(*) FROM orders WHERE order_id = 'POS3-000888'", NULL), 1);
  CHECK_EQ_I64(q1(p, "SELECT -sum(points) FROM ledger WHERE order_ref = 'POS3-000888' "
                     "AND kind = 'redeem'", NULL), won);
  CHECK_EQ_I64(verify(p), 0);
  free(receipt);
  patron_close(p);
}

int main(void) {
  RUN(tills_redeem_exactly_what_the_balance_affords);
  RUN(one_order_id_a_thousand_times_in_a_row);
  RUN(one_order_id_from_sixteen_tills_at_once);
  RUN(another_cart_under_the_same_id_is_conflict_naming_the_field);
  return t_done();
}
