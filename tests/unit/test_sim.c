/* test_sim.c -- a seeded random-operation simulator. Each seed drives one
** shop through tens of thousands of operations with an injected clock:
** earning and redeeming commits (named and anonymous), quotes followed by
** commits with expect_total_cents (and stale ones), retries of old orders
** (the same cart and a changed one), partial and full refunds (and too
** many units), manual adjustments (and too negative ones), ticks moving
** the clock forward (expiry, notices, tiers, renewals, dunning, abandoned
** carts), subscriptions created, answered ok or failed with every reason,
** given new payment methods, cancelled, changed, upgraded for some days and
** converted, announced price migrations, configuration changes
** (earn rate, redemption limits, bundles, plan prices, dunning), tracked
** quotes, NPS answers and erasures. Plugins with small budgets
** (double_points, buy_x_get_y) run on every quote.
**
** After every operation it checks, with SQL, everything the operation
** wrote (ledger entries, orders, refunds, events and charges newer than
** before it): each touched account's balance is the sum of its entries and
** its lots hold max(balance, 0); a balance below zero only with a
** clawback; each touched order's entries match its points_earned and
** redeem_points less its refunds, line shares sum to the order's and a
** fully refunded order gave back exactly what it did; no plugin budget is
** overspent; each new charge attempt has exactly one charge_requested
** event. Every operation also has an expected outcome: a redemption within
** the spendable balance succeeds and one beyond it is insufficient_points,
** a commit equals its quote, a retry returns the first receipt byte for
** byte, a tick at the same time does nothing, the same charge answer
** returns the same bytes, and every refused operation writes nothing.
** Every 2,500 operations and at the end: patron verify over every
** account, every order, budgets against their usage rows, one
** charge_requested per attempt, no event emitted twice, at most one open
** charge per subscription, locked prices after a config change, and at the
** end integrity_check and foreign_key_check.
**
** Sizes: 4 seeds x 25,000 operations (the ASan build: 4 x 6,000), seeds
** 1, 2, 3 and one drawn from the clock. PATRON_SIM_SEED=S runs only seed
** S (replay), PATRON_SIM_SEEDS=N runs N seeds from the clock,
** PATRON_SIM_OPS=N operations per seed, PATRON_SIM_TRACE=1 prints every
** operation. A failure prints the seed, the operation number and kind,
** and the command that replays it; the database (sim-SEED.db) is kept
** (PATRON_SIM_KEEP=1 keeps every one). A replay takes the same path: the
** operations draw from the seed alone, and choices among rows follow
** rowid order, never the random uuids patron makes. The handle runs with
** synchronous=OFF and a 64 MiB page cache: durability is test_faults' and
** the crash test's subject, not this one's. */
#define _XOPEN_SOURCE 700 /* strdup */
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "t.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_ASAN 1
#endif
#endif
#ifndef SIM_ASAN
#define SIM_ASAN 0
#endif

#define NCUST 40
#define RING 400
#define BUDGET_POINTS 3000
#define BUDGET_PUSES 40
#define BUDGET_CENTS 6000
#define BUDGET_CUSES 25

static const struct {
  const char *sku, *cat;
  int64_t cents;
} CATALOG[] = {{"MP3-01", "mp3", 4999},   {"HP-07", "headphones", 3999},
               {"COF-01", "coffee", 1290}, {"MUG-01", "mugs", 890},
               {"TV-55", "tv", 49900},     {"CBL-1", "accessories", 299}};
#define NSKU ((int)(sizeof CATALOG / sizeof CATALOG[0]))

static const char *REASONS[] = {"insufficient_funds", "card_expired", "card_lost_stolen",
                                "limit_exceeded", "policy_declined", "processing_error"};

/* The shop in three variants: earn rate, return window, redemption
** limits, expiry, bundles, free shipping, plan prices, dunning's final
** action. Plugin budgets are the same in all. */
static void shop_text(char *buf, size_t size, int v) {
  static const int ppu[] = {1, 2, 1}, pending[] = {14, 0, 3}, minp[] = {0, 500, 100},
                   share[] = {5000, 10000, 8000}, expiry[] = {12, 6, 12},
                   off[] = {1500, 2500, 1000}, threshold[] = {5000, 3000, 8000},
                   weekly[] = {300, 350, 300}, monthly[] = {1000, 1200, 900};
  static const char *final[] = {"suspend", "cancel", "suspend"};
  snprintf(buf, size,
           "shop { currency = \"EUR\", timezone = \"UTC\", abandoned_cart_hours = 24 }\n"
           "program \"default\" {\n"
           "  earn = { points_per_unit = %d, pending_days = %d },\n"
           "  value = { points = 100, cents = 100 },\n"
           "  redeem = { min_points = %d, max_share_bp = %d },\n"
           "  expiry = { months = %d, notice_days = 14 },\n"
           "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
           "            { name = \"silver\", from_cents = 50000, multiplier_bp = 12500 },\n"
           "            { name = \"gold\", from_cents = 200000, multiplier_bp = 15000 } },\n"
           "  tier_window = { months = 6 },\n"
           "}\n"
           "program \"club\" { earn = { points_per_unit = 2 },\n"
           "  value = { points = 100, cents = 50 }, expiry = { months = 3 } }\n"
           "bundle \"mp3-kit\" { skus = { \"MP3-01\", \"HP-07\" }, off_bp = %d }\n"
           "%s"
           "free_shipping { threshold_cents = %d, shipping_cents = 499 }\n"
           "plugin \"plugins/double_points.lua\" { multiplier_bp = 5000,\n"
           "  budget = { points = %d, uses = %d } }\n"
           "plugin \"plugins/buy_x_get_y.lua\" { buy = { categories = { \"coffee\" } },\n"
           "  x = 2, y = 1, budget = { cents = %d, uses = %d } }\n"
           "plan \"weekly\" { price_cents = %d, every = \"week\", program = \"default\" }\n"
           "plan \"monthly\" { price_cents = %d, every = \"month\", trial_days = 7,\n"
           "  program = \"default\" }\n"
           "plan \"annual\" { price_cents = 9900, every = \"year\", program = \"club\" }\n"
           "dunning { retry_days = { 1, 3, 5 }, grace_days = 8, final = \"%s\" }\n",
           ppu[v], pending[v], minp[v], share[v], expiry[v], off[v],
           v == 1 ? "bundle \"coffee-pair\" { items = { { sku = \"COF-01\", qty = 2 } },"
                    " price_cents = 2000 }\n"
                  : "",
           threshold[v], BUDGET_POINTS, BUDGET_PUSES, BUDGET_CENTS, BUDGET_CUSES, weekly[v],
           monthly[v], final[v]);
}

/* ---- the simulator's state -------------------------------------------------- */

typedef struct order {
  char id[32];
  char *cart, *receipt;
  int slot;                 /* customer slot, -1: anonymous */
  int gen;                  /* the slot's generation when committed */
} order;

typedef struct sim {
  patron *p;
  uint64_t seed, rng;
  long op, nops;
  const char *kind;
  char db[64];
  int64_t now;
  int variant;
  int gen[NCUST];           /* erasures of each slot so far */
  order ring[RING];
  int nring, next_ring;
  long norders;
  int64_t last_ledger, last_order, last_refund, last_event, last_attempt;
  bool failed, trace;
  bool expiry_known;        /* lots.expired exists (schema 007) */
  long counts[32];
  long outcome_refused;     /* operations refused as expected */
} sim;

static int64_t clock_fn(void *ud) { return ((sim *)ud)->now; }

static uint64_t next(sim *s) { /* xorshift64* */
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 2685821657736338717ULL;
}
static int64_t pick(sim *s, int64_t n) { return n <= 0 ? 0 : (int64_t)(next(s) % (uint64_t)n); }
static bool chance(sim *s, int percent) { return pick(s, 100) < percent; }

/* The first failure of each failing seed, printed again after the test's
** TAP line (tests/run.sh shows what follows a "not ok"). */
static char failures[8][1400];
static int nfailures;

static void fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sim *s, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!s->failed) {
    char line[1400];
    snprintf(line, sizeof line,
             "# SIM FAILURE seed %llu, operation %ld (%s): %s\n"
             "#   replay: PATRON_SIM_SEED=%llu PATRON_SIM_OPS=%ld PATRON_SIM_TRACE=1 "
             "test_sim (database kept: %s)\n",
             (unsigned long long)s->seed, s->op, s->kind, msg, (unsigned long long)s->seed,
             s->op, s->db);
    fputs(line, stdout);
    if (nfailures < 8) memcpy(failures[nfailures++], line, sizeof line);
  } else
    printf("#   also: %s\n", msg);
  s->failed = true;
}

#define EXPECT(s, cond, ...)           \
  do {                                 \
    if (!(cond)) fail(s, __VA_ARGS__); \
  } while (0)

static void cust_id(const sim *s, int slot, char *buf, size_t size) {
  if (s->gen[slot]) snprintf(buf, size, "C%02d-g%d", slot, s->gen[slot]);
  else snprintf(buf, size, "C%02d", slot);
}

/* ---- SQL helpers (the test may read the tables directly) -------------------- */

/* Statements the checks run after every operation, prepared once per seed
** (keyed by the address of their literal text). */
typedef struct cached {
  const char *sql;
  sqlite3_stmt *st;
} cached;
static cached stmt_cache[64];
static size_t nstmt;

static sqlite3_stmt *prep(sim *s, const char *sql) {
  for (size_t i = 0; i < nstmt; i++)
    if (stmt_cache[i].sql == sql) {
      sqlite3_reset(stmt_cache[i].st);
      sqlite3_clear_bindings(stmt_cache[i].st);
      return stmt_cache[i].st;
    }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->p->db, sql, -1, &st, NULL) != SQLITE_OK) {
    fail(s, "prepare %s: %s", sql, sqlite3_errmsg(s->p->db));
    return NULL;
  }
  if (nstmt < sizeof stmt_cache / sizeof stmt_cache[0])
    stmt_cache[nstmt++] = (cached){sql, st};
  return st;
}

/* Done with a statement from prep: reset (cached) or finalized. */
static void unprep(sqlite3_stmt *st) {
  for (size_t i = 0; i < nstmt; i++)
    if (stmt_cache[i].st == st) {
      sqlite3_reset(st);
      return;
    }
  unprep(st);
}

static void prep_clear(void) {
  for (size_t i = 0; i < nstmt; i++) sqlite3_finalize(stmt_cache[i].st);
  nstmt = 0;
}

static int64_t q1(sim *s, const char *sql, const char *a, int64_t b) {
  sqlite3_stmt *st = prep(s, sql);
  int64_t v = -999999;
  if (!st) return v;
  if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_int64(st, 1, b);
  if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, b);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  unprep(st);
  return v;
}

/* A text result (malloc) of the first column of the first row, or NULL. */
static char *qs(sim *s, const char *sql, int64_t a) {
  sqlite3_stmt *st = prep(s, sql);
  char *v = NULL;
  if (!st) return NULL;
  sqlite3_bind_int64(st, 1, a);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = strdup((const char *)sqlite3_column_text(st, 0));
  unprep(st);
  return v;
}

/* Commits that wrote to the WAL (an empty write transaction writes none):
** counted by a WAL hook that also checkpoints like SQLite's default one. */
static int64_t wal_commits;
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages) {
  (void)ud;
  wal_commits++;
  if (pages >= 1000) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return SQLITE_OK;
}

/* What a refused operation must leave as it was: no commit wrote a page,
** and the newest row of each append-only table is the same. */
static char *fingerprint(sim *s) {
  return qs(s,
            "SELECT ?1 || ',' || (SELECT coalesce(max(id), 0) FROM ledger) || ',' || "
            "(SELECT coalesce(max(id), 0) FROM orders) || ',' || "
            "(SELECT coalesce(max(id), 0) FROM events) || ',' || "
            "(SELECT coalesce(max(id), 0) FROM refunds) || ',' || "
            "(SELECT coalesce(max(rowid), 0) FROM charge_attempts) || ',' || "
            "(SELECT coalesce(max(id), 0) FROM subscription_history) || ',' || "
            "(SELECT coalesce(max(id), 0) FROM payment_methods) || ',' || "
            "(SELECT coalesce(max(version), 0) FROM config_versions)",
            wal_commits);
}

static void expect_unchanged(sim *s, const char *before, const char *what) {
  char *after = fingerprint(s);
  EXPECT(s, before && after && strcmp(before, after) == 0,
         "%s wrote something: before %s, after %s", what, before ? before : "?",
         after ? after : "?");
  free(after);
}

/* ---- invariants -------------------------------------------------------------- */

/* The balances the checks saw last, by account: the next check of an
** account wants its balance moved by exactly the sum of its new entries. */
typedef struct seen {
  char program[32], customer[48];
  int64_t points;
} seen;
static seen seen_v[512];
static size_t nseen;

static seen *seen_get(const char *program, const char *customer) {
  for (size_t i = 0; i < nseen; i++)
    if (strcmp(seen_v[i].customer, customer) == 0 && strcmp(seen_v[i].program, program) == 0)
      return &seen_v[i];
  if (nseen == sizeof seen_v / sizeof seen_v[0]) return NULL;
  seen *e = &seen_v[nseen++];
  snprintf(e->program, sizeof e->program, "%s", program);
  snprintf(e->customer, sizeof e->customer, "%s", customer);
  e->points = 0;
  return e;
}

/* One account: balance = sum of entries (all of them when full, else the
** last balance seen plus the entries newer than since); the open lots hold
** max(balance, 0); a negative balance only from a refund's clawback. */
static void check_account(sim *s, const char *program, const char *customer, bool full,
                          int64_t since) {
  static const char *const sql =
      "SELECT a.points, "
      "(SELECT coalesce(sum(points), 0) FROM ledger WHERE program = ?1 AND customer = ?2 "
      " AND id > ?3), "
      "(SELECT coalesce(sum(left), 0) FROM lots WHERE program = ?1 AND customer = ?2 "
      " AND left > 0) "
      "FROM accounts a WHERE a.program = ?1 AND a.customer = ?2";
  sqlite3_stmt *st;
  if (!(st = prep(s, sql))) return;
  seen *e = seen_get(program, customer);
  sqlite3_bind_text(st, 1, program, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, customer, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, full || !e ? 0 : since);
  if (sqlite3_step(st) != SQLITE_ROW) {
    fail(s, "ledger entries of %s/%s without an account", program, customer);
  } else {
    int64_t points = sqlite3_column_int64(st, 0), sum = sqlite3_column_int64(st, 1),
            lots = sqlite3_column_int64(st, 2);
    int64_t want = full || !e ? sum : e->points + sum;
    EXPECT(s, points == want, "%s/%s: balance %lld but its entries make %lld", program,
           customer, (long long)points, (long long)want);
    EXPECT(s, lots == (points > 0 ? points : 0), "%s/%s: balance %lld but lots hold %lld",
           program, customer, (long long)points, (long long)lots);
    if (points < 0) {
      static const char *const claw =
          "SELECT count(*) FROM ledger WHERE program = ?1 AND customer = ?2 "
          "AND kind = 'reverse' AND points < 0";
      sqlite3_stmt *c = prep(s, claw);
      sqlite3_bind_text(c, 1, program, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(c, 2, customer, -1, SQLITE_TRANSIENT);
      EXPECT(s, sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int64(c, 0) > 0,
             "%s/%s: balance %lld below zero without a clawback", program, customer,
             (long long)points);
      unprep(c);
    }
    if (e) e->points = points;
  }
  unprep(st);
}

/* One order: its entries match what it earned and redeemed less what its
** refunds reversed and returned; the line shares sum to the order's. */
#define ORDER_CHECK(expired)                                                             \
  "SELECT o.order_id, o.customer, o.points_earned, o.redeem_points, "                    \
  "(SELECT coalesce(sum(points), 0) FROM ledger WHERE order_ref = o.order_id "           \
  " AND kind = 'earn'), "                                                                \
  "(SELECT coalesce(-sum(points), 0) FROM ledger WHERE order_ref = o.order_id "          \
  " AND kind = 'redeem'), "                                                              \
  "(SELECT coalesce(sum(points), 0) FROM ledger WHERE order_ref = o.order_id "           \
  " AND kind = 'reverse' AND points > 0), "                                              \
  "(SELECT coalesce(-sum(points), 0) FROM ledger WHERE order_ref = o.order_id "          \
  " AND kind = 'reverse' AND points < 0), "                                              \
  "(SELECT coalesce(sum(points_returned), 0) FROM refunds WHERE order_rowid = o.id), "   \
  "(SELECT coalesce(sum(points_reversed), 0) FROM refunds WHERE order_rowid = o.id), "   \
  "(SELECT coalesce(sum(points_earned), 0) FROM order_lines WHERE order_rowid = o.id), " \
  "(SELECT coalesce(sum(redeem_points), 0) FROM order_lines WHERE order_rowid = o.id), " \
  "(SELECT count(*) FROM order_lines WHERE order_rowid = o.id AND refunded_qty < qty), " \
  "(SELECT count(*) FROM ledger WHERE order_ref = o.order_id "                           \
  " AND (customer IS NOT o.customer OR program <> o.program)), "                         \
  "(SELECT count(*) FROM order_lines WHERE order_rowid = o.id "                          \
  " AND (refunded_qty < 0 OR refunded_qty > qty)), " expired                             \
  " FROM orders o WHERE o.id = ?1"

/* Whether lots record the points that expired from them (schema 007): a
** refund then takes back only what did not expire. */
static bool lots_know_expiry(sim *s) {
  return q1(s, "SELECT count(*) FROM pragma_table_info('lots') WHERE name = 'expired' "
               "AND ?1 = ?1", NULL, 0) > 0;
}

/* One order: its entries match what it earned and redeemed less what its
** refunds reversed and returned; the line shares sum to the order's; a
** fully refunded order gave back exactly what it did, less the points of
** it that expired before the refund (those left the balance once). */
static void check_order(sim *s, int64_t rowid) {
  static const char *const with_expiry = ORDER_CHECK(
      "(SELECT coalesce(sum(l.expired), 0) FROM lots l WHERE l.customer = o.customer "
      " AND l.program = o.program AND l.entry_id IN (SELECT id FROM ledger "
      " WHERE order_ref = o.order_id AND kind = 'earn'))");
  static const char *const without = ORDER_CHECK("0");
  const char *sql = s->expiry_known ? with_expiry : without;
  sqlite3_stmt *st;
  if (!(st = prep(s, sql))) return;
  sqlite3_bind_int64(st, 1, rowid);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    bool named = sqlite3_column_type(st, 1) != SQLITE_NULL;
    int64_t v[13];
    for (int i = 2; i < 13; i++) v[i] = sqlite3_column_int64(st, i);
    int64_t earned = v[2], redeemed = v[3], e_earn = v[4], e_redeem = v[5],
            e_back = v[6], e_taken = v[7], returned = v[8], reversed = v[9],
            l_earned = v[10], l_redeem = v[11], open_lines = v[12];
    int64_t wrong_account = sqlite3_column_int64(st, 13), bad_qty = sqlite3_column_int64(st, 14),
            expired = sqlite3_column_int64(st, 15);
    if (named) {
      EXPECT(s, e_earn == earned, "order %s earned %lld but its earn entries say %lld", id,
             (long long)earned, (long long)e_earn);
      EXPECT(s, e_redeem == redeemed, "order %s redeemed %lld but its entries say %lld", id,
             (long long)redeemed, (long long)e_redeem);
      EXPECT(s, e_back == returned, "order %s: refunds returned %lld, entries %lld", id,
             (long long)returned, (long long)e_back);
      EXPECT(s, e_taken == reversed, "order %s: refunds reversed %lld, entries %lld", id,
             (long long)reversed, (long long)e_taken);
      EXPECT(s, wrong_account == 0, "order %s has entries on another account", id);
    } else {
      EXPECT(s, e_earn == 0 && e_redeem == 0 && e_back == 0 && e_taken == 0,
             "anonymous order %s has ledger entries", id);
      EXPECT(s, redeemed == 0, "anonymous order %s redeemed points", id);
    }
    EXPECT(s, l_earned == earned && l_redeem == redeemed,
           "order %s: line shares %lld/%lld, order %lld/%lld", id, (long long)l_earned,
           (long long)l_redeem, (long long)earned, (long long)redeemed);
    EXPECT(s, reversed + expired <= earned && returned <= redeemed,
           "order %s took back more than it gave: reversed %lld (and %lld expired) of %lld, "
           "returned %lld of %lld", id, (long long)reversed, (long long)expired,
           (long long)earned, (long long)returned, (long long)redeemed);
    if (open_lines == 0)
      EXPECT(s, reversed + expired == earned && returned == redeemed,
             "order %s fully refunded: reversed %lld (and %lld expired) of %lld, returned "
             "%lld of %lld", id, (long long)reversed, (long long)expired, (long long)earned,
             (long long)returned, (long long)redeemed);
    EXPECT(s, bad_qty == 0, "order %s has a line refunded beyond its qty", id);
  }
  unprep(st);
}

/* Plugin budgets: never overspent; the totals are the usage rows' sums. */
static void check_budgets(sim *s, bool with_usage) {
  sqlite3_stmt *st;
  st = prep(s, "SELECT plugin, cents, points, uses FROM rule_totals");
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *pl = (const char *)sqlite3_column_text(st, 0);
    int64_t cents = sqlite3_column_int64(st, 1), points = sqlite3_column_int64(st, 2),
            uses = sqlite3_column_int64(st, 3);
    if (strcmp(pl, "double_points") == 0)
      EXPECT(s, points <= BUDGET_POINTS && uses <= BUDGET_PUSES,
             "double_points spent %lld points in %lld uses (budget %d, %d)", (long long)points,
             (long long)uses, BUDGET_POINTS, BUDGET_PUSES);
    else if (strcmp(pl, "buy_x_get_y") == 0)
      EXPECT(s, cents <= BUDGET_CENTS && uses <= BUDGET_CUSES,
             "buy_x_get_y spent %lld cents in %lld uses (budget %d, %d)", (long long)cents,
             (long long)uses, BUDGET_CENTS, BUDGET_CUSES);
    if (with_usage) {
      sqlite3_stmt *u;
      u = prep(s, "SELECT coalesce(sum(cents - cents_back), 0), "
                         "coalesce(sum(points - points_back), 0), "
                         "coalesce(sum(uses - use_back), 0) FROM rule_usage WHERE plugin = ?1");
      sqlite3_bind_text(u, 1, pl, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(u) == SQLITE_ROW)
        EXPECT(s, sqlite3_column_int64(u, 0) == cents && sqlite3_column_int64(u, 1) == points &&
                      sqlite3_column_int64(u, 2) == uses,
               "%s: totals %lld/%lld/%lld differ from its usage rows %lld/%lld/%lld", pl,
               (long long)cents, (long long)points, (long long)uses,
               (long long)sqlite3_column_int64(u, 0), (long long)sqlite3_column_int64(u, 1),
               (long long)sqlite3_column_int64(u, 2));
      unprep(u);
    }
  }
  unprep(st);
}

/* What the last operation wrote. */
static void check_delta(sim *s) {
  sqlite3_stmt *st;
  /* the accounts with new entries (few: read by rowid, deduplicated here) */
  char acc[256][2][48];
  int nacc = 0;
  st = prep(s, "SELECT program, customer FROM ledger WHERE id > ?1 ORDER BY id");
  sqlite3_bind_int64(st, 1, s->last_ledger);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *pr = (const char *)sqlite3_column_text(st, 0);
    const char *cu = (const char *)sqlite3_column_text(st, 1);
    int k = 0;
    while (k < nacc && (strcmp(acc[k][0], pr) != 0 || strcmp(acc[k][1], cu) != 0)) k++;
    if (k == nacc && nacc < 256) {
      snprintf(acc[k][0], sizeof acc[k][0], "%s", pr);
      snprintf(acc[k][1], sizeof acc[k][1], "%s", cu);
      nacc++;
    } else if (k == nacc) {
      fail(s, "one operation wrote entries on more than 256 accounts");
    }
  }
  unprep(st);
  for (int k = 0; k < nacc; k++) check_account(s, acc[k][0], acc[k][1], false, s->last_ledger);
  st = prep(s, "SELECT id FROM orders WHERE id > ?1 UNION "
                     "SELECT order_rowid FROM refunds WHERE id > ?2");
  sqlite3_bind_int64(st, 1, s->last_order);
  sqlite3_bind_int64(st, 2, s->last_refund);
  while (sqlite3_step(st) == SQLITE_ROW) check_order(s, sqlite3_column_int64(st, 0));
  unprep(st);
  int64_t events = q1(s, "SELECT count(*) FROM events WHERE id > ?1 "
                         "AND type = 'charge_requested'", NULL, s->last_event);
  int64_t attempts = q1(s, "SELECT count(*) FROM charge_attempts WHERE rowid > ?1", NULL,
                        s->last_attempt);
  EXPECT(s, events == attempts, "%lld charge_requested events for %lld new charge attempts",
         (long long)events, (long long)attempts);
  if (attempts > 0) {
    st = prep(s, "SELECT count(*) FROM charge_attempts a WHERE a.rowid > ?1 AND "
                       "(SELECT count(*) FROM events e WHERE e.id > ?2 AND "
                       "e.type = 'charge_requested' AND "
                       "json_extract(e.payload, '$.attempt') = a.id) <> 1");
    sqlite3_bind_int64(st, 1, s->last_attempt);
    sqlite3_bind_int64(st, 2, s->last_event);
    if (sqlite3_step(st) == SQLITE_ROW)
      EXPECT(s, sqlite3_column_int64(st, 0) == 0,
             "%lld new charge attempts without exactly one charge_requested",
             (long long)sqlite3_column_int64(st, 0));
    unprep(st);
  }
  check_budgets(s, false);
  s->last_ledger = q1(s, "SELECT coalesce(max(id), 0) FROM ledger WHERE ?1 = ?1", NULL, 0);
  s->last_order = q1(s, "SELECT coalesce(max(id), 0) FROM orders WHERE ?1 = ?1", NULL, 0);
  s->last_refund = q1(s, "SELECT coalesce(max(id), 0) FROM refunds WHERE ?1 = ?1", NULL, 0);
  s->last_event = q1(s, "SELECT coalesce(max(id), 0) FROM events WHERE ?1 = ?1", NULL, 0);
  s->last_attempt =
      q1(s, "SELECT coalesce(max(rowid), 0) FROM charge_attempts WHERE ?1 = ?1", NULL, 0);
}

/* Everything, over the whole database. */
static void check_all(sim *s, bool final) {
  int64_t bad = -1;
  char *report = NULL;
  if (patron_verify(s->p, &bad, &report)) fail(s, "verify: %s", patron_errmsg(s->p));
  EXPECT(s, bad == 0, "verify: %s", report ? report : "?");
  patron_free(report);
  sqlite3_stmt *st;
  /* every order at the end; in between the refunded ones (an order
  ** changes after its commit, which check_delta saw, by refunds and
  ** erasures) */
  st = final ? prep(s, "SELECT id FROM orders ORDER BY id")
             : prep(s, "SELECT DISTINCT order_rowid FROM refunds ORDER BY order_rowid");
  while (sqlite3_step(st) == SQLITE_ROW && !s->failed) check_order(s, sqlite3_column_int64(st, 0));
  unprep(st);
  st = prep(s, "SELECT count(*) FROM accounts a WHERE points < 0 AND NOT EXISTS "
                               "(SELECT 1 FROM ledger WHERE program = a.program AND "
                               "customer = a.customer AND kind = 'reverse' AND points < 0)");
  if (sqlite3_step(st) == SQLITE_ROW)
    EXPECT(s, sqlite3_column_int64(st, 0) == 0, "negative balances without a clawback");
  unprep(st);
  check_budgets(s, true);
  EXPECT(s, q1(s, "SELECT count(*) FROM (SELECT json_extract(payload, '$.attempt') AS a "
                  "FROM events WHERE type = 'charge_requested' GROUP BY a "
                  "HAVING count(*) <> 1) WHERE ?1 = ?1", NULL, 0) == 0,
         "a charge attempt with more than one charge_requested event");
  EXPECT(s, q1(s, "SELECT count(*) FROM charge_attempts WHERE id NOT IN "
                  "(SELECT json_extract(payload, '$.attempt') FROM events "
                  "WHERE type = 'charge_requested') AND ?1 = ?1", NULL, 0) == 0,
         "a charge attempt without its charge_requested event");
  EXPECT(s, q1(s, "SELECT count(*) FROM (SELECT 1 FROM events GROUP BY type, subject, at, "
                  "payload HAVING count(*) > 1) WHERE ?1 = ?1", NULL, 0) == 0,
         "an event emitted twice (same type, subject, time and payload)");
  EXPECT(s, q1(s, "SELECT count(*) FROM (SELECT subscription FROM charge_attempts "
                  "WHERE outcome IS NULL GROUP BY subscription HAVING count(*) > 1) "
                  "WHERE ?1 = ?1", NULL, 0) == 0,
         "a subscription with two unanswered charges");
  EXPECT(s, q1(s, "SELECT count(*) FROM subscriptions s WHERE open_attempt IS NOT NULL AND "
                  "NOT EXISTS (SELECT 1 FROM charge_attempts a WHERE a.id = s.open_attempt "
                  "AND a.subscription = s.id AND a.outcome IS NULL) AND ?1 = ?1", NULL, 0) == 0,
         "a subscription whose open charge is answered or not its own");
  if (final) {
    char *ic = qs(s, "SELECT group_concat(integrity_check) FROM pragma_integrity_check "
                     "WHERE ?1 = ?1", 0);
    EXPECT(s, ic && strcmp(ic, "ok") == 0, "integrity_check: %s", ic ? ic : "?");
    free(ic);
    EXPECT(s, q1(s, "SELECT count(*) FROM pragma_foreign_key_check WHERE ?1 = ?1", NULL, 0) == 0,
           "foreign_key_check finds rows");
  }
}

/* ---- carts ---------------------------------------------------------------------- */

static void add_lines(sim *s, pt_buf *b) {
  int n = 1 + (int)pick(s, 3);
  bool used[16] = {false};
  pt_buf_puts(b, "\"lines\":[");
  for (int i = 0; i < n; i++) {
    int k = (int)pick(s, NSKU);
    if (used[k]) continue;
    used[k] = true;
    int64_t qty = 1 + pick(s, strcmp(CATALOG[k].cat, "coffee") == 0 ? 5 : 2);
    pt_buf_printf(b, "%s{\"sku\":\"%s\",\"qty\":%lld,\"unit_cents\":%lld,\"category\":\"%s\"}",
                  b->s[b->len - 1] == '[' ? "" : ",", CATALOG[k].sku, (long long)qty,
                  (long long)CATALOG[k].cents, CATALOG[k].cat);
  }
  pt_buf_puts(b, "]");
}

/* A cart as JSON text (malloc): order_id may be NULL (a quote). */
static char *make_cart(sim *s, const char *order_id, const char *customer, const char *program,
                       int64_t redeem, bool track, int64_t expect_total) {
  pt_buf b = {0};
  pt_buf_puts(&b, "{");
  if (order_id) pt_buf_printf(&b, "\"order_id\":\"%s\",", order_id);
  if (customer) pt_buf_printf(&b, "\"customer\":\"%s\",", customer);
  if (program) pt_buf_printf(&b, "\"program\":\"%s\",", program);
  if (redeem) pt_buf_printf(&b, "\"redeem_points\":%lld,", (long long)redeem);
  if (track) pt_buf_puts(&b, "\"track\":true,");
  if (expect_total >= 0) pt_buf_printf(&b, "\"expect_total_cents\":%lld,", (long long)expect_total);
  add_lines(s, &b);
  pt_buf_puts(&b, "}");
  if (b.oom) abort();
  return b.s;
}

static void remember(sim *s, const char *id, const char *cart, const char *receipt, int slot) {
  order *o = &s->ring[s->next_ring];
  if (s->nring == RING) {
    free(o->cart);
    free(o->receipt);
  } else {
    s->nring++;
  }
  snprintf(o->id, sizeof o->id, "%s", id);
  o->cart = strdup(cart);
  o->receipt = strdup(receipt);
  o->slot = slot;
  o->gen = slot >= 0 ? s->gen[slot] : 0;
  s->next_ring = (s->next_ring + 1) % RING;
}

static int64_t spendable(sim *s, const char *customer, const char *program) {
  patron_balance_info b;
  int rc = patron_balance(s->p, &b, customer, program);
  if (rc == PATRON_UNKNOWN_CUSTOMER) return 0;
  if (rc) {
    fail(s, "balance of %s: %s", customer, patron_errmsg(s->p));
    return 0;
  }
  return b.spendable;
}

static const char *program_of(sim *s) { return chance(s, 15) ? "club" : NULL; }

/* ---- operations ------------------------------------------------------------------- */

enum { OP_EARN, OP_REDEEM, OP_ANON, OP_QUOTE_COMMIT, OP_STALE, OP_RETRY, OP_RETRY_CONFLICT,
       OP_REFUND, OP_ADJUST, OP_TICK, OP_SUB_CREATE, OP_SUB_ANSWER, OP_SUB_METHOD,
       OP_SUB_CANCEL, OP_SUB_CHANGE, OP_SUB_UPGRADE, OP_SUB_CONVERT, OP_MIGRATE, OP_CONFIG,
       OP_TRACK, OP_NPS, OP_ERASE, OP__COUNT };
static const char *const OP_NAMES[OP__COUNT] = {
    "earn", "redeem", "anonymous", "quote+commit", "stale quote", "retry", "retry conflict",
    "refund", "adjust", "tick", "sub create", "sub answer", "sub payment method",
    "sub cancel", "sub change", "sub upgrade", "sub convert", "migrate price",
    "config change", "tracked quote", "nps", "erase"};
static const int OP_WEIGHT[OP__COUNT] = {250, 120, 30, 60, 15, 50, 20, 110, 50, 70, 30,
                                         90, 30, 15, 10, 8, 5, 3, 8, 20, 7, 5};

static void op_commit(sim *s, int kind) {
  int slot = (int)pick(s, NCUST);
  char cust[32], id[32];
  cust_id(s, slot, cust, sizeof cust);
  const char *program = program_of(s);
  snprintf(id, sizeof id, "o%ld", ++s->norders);
  int64_t redeem = 0, avail = 0;
  if (kind == OP_REDEEM) {
    avail = spendable(s, cust, program); /* negative: a clawback debt */
    int64_t a0 = avail > 0 ? avail : 0;
    int r = (int)pick(s, 4);
    redeem = r < 2 && a0 > 0 ? 1 + pick(s, a0) : r == 2 ? a0 + 1 + pick(s, 500)
                                                       : 100 + pick(s, 3000);
  }
  char *cart = make_cart(s, id, kind == OP_ANON ? NULL : cust, program, redeem, false, -1);
  char *before = redeem > avail ? fingerprint(s) : NULL;
  char *out = NULL;
  int rc = patron_commit_json(s->p, &out, cart);
  if (redeem > avail) {
    EXPECT(s, rc == PATRON_INSUFFICIENT_POINTS,
           "redeeming %lld of %lld spendable points: %s (%s)", (long long)redeem,
           (long long)avail, patron_code_name(rc), patron_errmsg(s->p));
    expect_unchanged(s, before, "a refused redemption");
    s->outcome_refused++;
  } else {
    EXPECT(s, rc == PATRON_OK, "commit %s: %s (%s)", cart, patron_code_name(rc),
           patron_errmsg(s->p));
    if (rc == PATRON_OK) {
      json_t *r = json_loads(out, 0, NULL);
      if (kind != OP_ANON) {
        patron_balance_info b;
        if (patron_balance(s->p, &b, cust, program) == PATRON_OK)
          EXPECT(s, json_integer_value(json_object_get(r, "balance_after")) == b.points,
                 "receipt balance_after %lld, balance %lld",
                 (long long)json_integer_value(json_object_get(r, "balance_after")),
                 (long long)b.points);
        int64_t got = json_integer_value(json_object_get(json_object_get(r, "redeem"), "points"));
        EXPECT(s, got <= redeem, "redeemed %lld, asked %lld", (long long)got, (long long)redeem);
      }
      json_decref(r);
      remember(s, id, cart, out, kind == OP_ANON ? -1 : slot);
    }
  }
  patron_free(out);
  free(before);
  free(cart);
}

static void op_quote_commit(sim *s, bool stale) {
  int slot = (int)pick(s, NCUST);
  char cust[32], id[32];
  cust_id(s, slot, cust, sizeof cust);
  const char *program = program_of(s);
  snprintf(id, sizeof id, "o%ld", ++s->norders);
  int64_t avail = spendable(s, cust, program);
  int64_t redeem = avail > 0 && chance(s, 50) ? 1 + pick(s, avail) : 0;
  uint64_t keep = s->rng;
  char *qcart = make_cart(s, NULL, cust, program, redeem, false, -1);
  char *out = NULL;
  int rc = patron_quote_json(s->p, &out, qcart);
  EXPECT(s, rc == PATRON_OK, "quote: %s", patron_errmsg(s->p));
  json_t *q = rc == PATRON_OK ? json_loads(out, 0, NULL) : NULL;
  patron_free(out);
  out = NULL;
  int64_t total = json_integer_value(json_object_get(q, "total_cents"));
  s->rng = keep; /* the same lines again */
  char *cart = make_cart(s, id, cust, program, redeem, false, stale ? total + 1 : total);
  char *before = stale ? fingerprint(s) : NULL;
  rc = patron_commit_json(s->p, &out, cart);
  if (stale) {
    EXPECT(s, rc == PATRON_STALE_QUOTE, "a stale expect_total_cents: %s", patron_code_name(rc));
    expect_unchanged(s, before, "a stale commit");
    s->outcome_refused++;
  } else {
    EXPECT(s, rc == PATRON_OK, "commit after its quote: %s (%s)", patron_code_name(rc),
           patron_errmsg(s->p));
    if (rc == PATRON_OK && q) {
      json_t *r = json_loads(out, 0, NULL);
      const char *k;
      json_t *v;
      json_object_foreach(q, k, v) {
        if (!json_equal(v, json_object_get(r, k))) {
          char *a = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
          char *b = json_dumps(json_object_get(r, k), JSON_COMPACT | JSON_ENCODE_ANY);
          fail(s, "the commit differs from its quote in %s: quote %s, receipt %s", k, a, b);
          free(a);
          free(b);
          break;
        }
      }
      json_decref(r);
      remember(s, id, cart, out, slot);
    }
  }
  json_decref(q);
  patron_free(out);
  free(before);
  free(cart);
  free(qcart);
}

static void op_retry(sim *s, bool conflict) {
  if (s->nring == 0) return;
  order *o = &s->ring[pick(s, s->nring)];
  bool erased = o->slot >= 0 && s->gen[o->slot] != o->gen;
  char *cart = strdup(o->cart), *out = NULL;
  const char *want_path = erased ? "customer" : "lines[0].qty";
  if (conflict) { /* one more unit on the first line */
    const char *q = strstr(o->cart, "\"qty\":");
    if (!q) abort();
    pt_buf b = {0};
    pt_buf_add(&b, o->cart, (size_t)(q - o->cart) + 6);
    pt_buf_printf(&b, "%ld", strtol(q + 6, NULL, 10) + 1);
    pt_buf_puts(&b, q + 6 + strspn(q + 6, "0123456789"));
    if (b.oom) abort();
    free(cart);
    cart = b.s;
  }
  char *before = fingerprint(s);
  int rc = patron_commit_json(s->p, &out, cart);
  if (conflict || erased) {
    EXPECT(s, rc == PATRON_CONFLICT, "a retry of %s with %s: %s", o->id,
           erased ? "the id of an erased customer" : "another cart", patron_code_name(rc));
    EXPECT(s, strcmp(patron_errpath(s->p), want_path) == 0, "the conflict names '%s', not %s",
           patron_errpath(s->p), want_path);
    s->outcome_refused++;
  } else {
    EXPECT(s, rc == PATRON_OK && strcmp(out, o->receipt) == 0,
           "a retry of %s did not return the first receipt: %s", o->id,
           rc ? patron_errmsg(s->p) : "different bytes");
  }
  expect_unchanged(s, before, "a retry");
  patron_free(out);
  free(before);
  free(cart);
}

static void op_refund(sim *s) {
  int64_t n = q1(s, "SELECT coalesce(max(id), 0) FROM orders WHERE ?1 = ?1", NULL, 0);
  if (n <= 0) return;
  char *id = qs(s, "SELECT order_id FROM orders WHERE id = ?1", 1 + pick(s, n));
  if (!id) return;
  sqlite3_stmt *st;
  st = prep(s, "SELECT l.sku, sum(l.qty - l.refunded_qty) FROM order_lines l "
                     "JOIN orders o ON o.id = l.order_rowid WHERE o.order_id = ?1 "
                     "GROUP BY l.sku ORDER BY min(l.line_no)");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  char skus[8][32];
  int64_t left[8], total = 0;
  int ns = 0;
  while (sqlite3_step(st) == SQLITE_ROW && ns < 8) {
    snprintf(skus[ns], sizeof skus[ns], "%s", (const char *)sqlite3_column_text(st, 0));
    left[ns] = sqlite3_column_int64(st, 1);
    total += left[ns++];
  }
  unprep(st);
  char *out = NULL, *before = NULL;
  int r = (int)pick(s, 10), rc;
  bool refused = false;
  patron_refund_line line = {NULL, 0};
  if (total == 0 || r < 4) { /* everything left (nothing left: refused) */
    refused = total == 0;
    if (refused) before = fingerprint(s);
    rc = patron_refund(s->p, &out, id, NULL, 0);
  } else {
    int i = (int)pick(s, ns);
    while (left[i] == 0) i = (i + 1) % ns;
    line.sku = skus[i];
    line.qty = r == 9 ? left[i] + 1 : 1 + pick(s, left[i]);
    refused = line.qty > left[i];
    if (refused) before = fingerprint(s);
    rc = patron_refund(s->p, &out, id, &line, 1);
  }
  if (refused) {
    EXPECT(s, rc == PATRON_INVALID_INPUT, "refund of %s beyond what is left: %s", id,
           patron_code_name(rc));
    expect_unchanged(s, before, "a refused refund");
    s->outcome_refused++;
  } else {
    EXPECT(s, rc == PATRON_OK, "refund of %s (%s x %lld): %s", id, line.sku ? line.sku : "all",
           (long long)line.qty, patron_errmsg(s->p));
  }
  patron_free(out);
  free(before);
  free(id);
}

static void op_adjust(sim *s) {
  int slot = (int)pick(s, NCUST);
  char cust[32];
  cust_id(s, slot, cust, sizeof cust);
  const char *program = program_of(s);
  bool known = q1(s, "SELECT count(*) FROM customers WHERE id = ?1", cust, 0) > 0;
  int64_t avail = known ? spendable(s, cust, program) : 0;
  int r = (int)pick(s, 10);
  int64_t a0 = avail > 0 ? avail : 0; /* a debt: spendable is the (negative) balance */
  int64_t pts = r < 7 ? 1 + pick(s, 2000) : r < 9 && a0 > 0 ? -(1 + pick(s, a0))
                                                             : -(a0 + 1 + pick(s, 100));
  bool refused = !known || (pts < 0 && -pts > avail);
  char *before = refused ? fingerprint(s) : NULL;
  int rc = patron_adjust(s->p, NULL, cust, program, pts, "simulated correction");
  if (!known)
    EXPECT(s, rc == PATRON_UNKNOWN_CUSTOMER, "adjust of unknown %s: %s", cust, patron_code_name(rc));
  else if (refused)
    EXPECT(s, rc == PATRON_INSUFFICIENT_POINTS, "adjust %lld with %lld spendable: %s",
           (long long)pts, (long long)avail, patron_code_name(rc));
  else
    EXPECT(s, rc == PATRON_OK, "adjust %lld of %s: %s", (long long)pts, cust, patron_errmsg(s->p));
  if (refused) {
    expect_unchanged(s, before, "a refused adjustment");
    s->outcome_refused++;
  }
  free(before);
}

static void op_tick(sim *s) {
  s->now += 3600 + pick(s, 3 * PT_DAY);
  patron_tick_result r;
  int rc = patron_tick(s->p, &r, s->now);
  EXPECT(s, rc == PATRON_OK, "tick: %s", patron_errmsg(s->p));
  check_delta(s);
  char *before = fingerprint(s);
  rc = patron_tick(s->p, &r, s->now);
  EXPECT(s, rc == PATRON_OK && r.expired_points == 0 && r.expired_lots == 0 &&
                r.expiring_notices == 0 && r.tier_changes == 0 && r.charges_requested == 0 &&
                r.trials_ended == 0 && r.upgrades_reverted == 0 && r.dunning_steps == 0 &&
                r.renewal_reminders == 0 && r.carts_abandoned == 0,
         "a second tick at the same time did something: %lld expired, %lld notices, %lld "
         "tiers, %lld charges, %lld dunning, %lld reminders, %lld carts",
         (long long)r.expired_points, (long long)r.expiring_notices, (long long)r.tier_changes,
         (long long)r.charges_requested, (long long)r.dunning_steps,
         (long long)r.renewal_reminders, (long long)r.carts_abandoned);
  expect_unchanged(s, before, "a second tick at the same time");
  free(before);
}

/* The id of a random subscription (insertion order) that is open to a
** charge answer, live, or active. */
enum { SUB_OPEN_CHARGE, SUB_LIVE, SUB_ACTIVE };
static char *some_sub(sim *s, int which) {
  static const char *const count[] = {
      "SELECT count(*) FROM subscriptions WHERE open_attempt IS NOT NULL AND ?1 = ?1",
      "SELECT count(*) FROM subscriptions WHERE status NOT IN ('canceled', 'expired') "
      "AND ?1 = ?1",
      "SELECT count(*) FROM subscriptions WHERE status IN ('active', 'trialing') AND ?1 = ?1"};
  static const char *const nth[] = {
      "SELECT id FROM subscriptions WHERE open_attempt IS NOT NULL ORDER BY rowid "
      "LIMIT 1 OFFSET ?1",
      "SELECT id FROM subscriptions WHERE status NOT IN ('canceled', 'expired') "
      "ORDER BY rowid LIMIT 1 OFFSET ?1",
      "SELECT id FROM subscriptions WHERE status IN ('active', 'trialing') ORDER BY rowid "
      "LIMIT 1 OFFSET ?1"};
  int64_t n = q1(s, count[which], NULL, 0);
  return n > 0 ? qs(s, nth[which], pick(s, n)) : NULL;
}

static void op_sub_create(sim *s) {
  static const char *plans[] = {"weekly", "monthly", "annual"};
  char cust[32], *out = NULL;
  cust_id(s, (int)pick(s, NCUST), cust, sizeof cust);
  int k = (int)pick(s, 3);
  int rc = patron_sub_create(s->p, &out, cust, plans[k], k == 1 && chance(s, 30));
  EXPECT(s, rc == PATRON_OK, "sub create for %s: %s", cust, patron_errmsg(s->p));
  patron_free(out);
}

static void op_sub_answer(sim *s) {
  char *sub = some_sub(s, SUB_OPEN_CHARGE);
  if (!sub) return;
  char *att = NULL;
  sqlite3_stmt *st;
  st = prep(s, "SELECT open_attempt FROM subscriptions WHERE id = ?1");
  sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) att = strdup((const char *)sqlite3_column_text(st, 0));
  unprep(st);
  bool ok = chance(s, 55);
  const char *reason = ok ? NULL : REASONS[pick(s, 6)];
  char *out = NULL, *again = NULL;
  int rc = patron_sub_charge_result(s->p, &out, att, ok, reason);
  EXPECT(s, rc == PATRON_OK, "charge result %s for %s: %s", ok ? "ok" : reason, att,
         patron_errmsg(s->p));
  if (rc == PATRON_OK && chance(s, 30)) { /* the host says it again */
    check_delta(s);
    char *before = fingerprint(s);
    rc = patron_sub_charge_result(s->p, &again, att, ok, reason);
    EXPECT(s, rc == PATRON_OK && strcmp(again, out) == 0,
           "the same answer twice did not return the same bytes");
    patron_free(again);
    again = NULL;
    if (chance(s, 40)) { /* and then something else: conflict */
      rc = patron_sub_charge_result(s->p, &again, att, !ok, ok ? REASONS[pick(s, 6)] : NULL);
      EXPECT(s, rc == PATRON_CONFLICT, "a different answer: %s", patron_code_name(rc));
      s->outcome_refused++;
    }
    expect_unchanged(s, before, "a repeated charge answer");
    free(before);
  }
  patron_free(out);
  patron_free(again);
  free(att);
  free(sub);
}

static void op_sub_method(sim *s) {
  char *sub = some_sub(s, SUB_LIVE);
  if (!sub) return;
  char token[48], *out = NULL;
  snprintf(token, sizeof token, "tok_op%ld", s->op); /* no long digit run: not a card */
  char year[32];
  patron_time_format(year, sizeof year, s->now);
  patron_payment_method m = {token, "visa", "4242", atoi(year) + 1 + (int)pick(s, 4),
                             1 + (int)pick(s, 12)};
  int rc = patron_sub_payment_method(s->p, &out, sub, &m);
  EXPECT(s, rc == PATRON_OK, "payment method for %s: %s", sub, patron_errmsg(s->p));
  patron_free(out);
  free(sub);
}

static void op_sub_cancel(sim *s) {
  char *sub = some_sub(s, SUB_LIVE);
  if (!sub) return;
  sqlite3_stmt *q;
  char status[16] = "";
  q = prep(s, "SELECT status FROM subscriptions WHERE id = ?1");
  sqlite3_bind_text(q, 1, sub, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(q) == SQLITE_ROW)
    snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(q, 0));
  unprep(q);
  bool at_end = (strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0) &&
                chance(s, 50);
  char *out = NULL;
  int rc = patron_sub_cancel(s->p, &out, sub, at_end);
  EXPECT(s, rc == PATRON_OK, "cancel %s (%s, at period end %d): %s", sub, status, at_end,
         patron_errmsg(s->p));
  patron_free(out);
  free(sub);
}

static void op_sub_change(sim *s) {
  static const char *plans[] = {"weekly", "monthly", "annual"};
  char *sub = some_sub(s, SUB_ACTIVE);
  if (!sub) return;
  char *out = NULL;
  char *before = fingerprint(s);
  int rc = patron_sub_change(s->p, &out, sub, plans[pick(s, 3)]);
  EXPECT(s, rc == PATRON_OK || rc == PATRON_INVALID_INPUT, "change %s: %s (%s)", sub,
         patron_code_name(rc), patron_errmsg(s->p));
  if (rc != PATRON_OK) {
    expect_unchanged(s, before, "a refused plan change");
    s->outcome_refused++;
  }
  patron_free(out);
  free(before);
  free(sub);
}

/* A temporary upgrade, its conversion, or an announced price migration:
** done, or refused (invalid_input) without writing anything. */
static void op_sub_other(sim *s, int op) {
  static const char *plans[] = {"weekly", "monthly", "annual"};
  char *sub = op == OP_MIGRATE ? NULL : some_sub(s, op == OP_SUB_UPGRADE ? SUB_ACTIVE : SUB_LIVE);
  if (!sub && op != OP_MIGRATE) return;
  char *out = NULL, *before = fingerprint(s);
  int rc = op == OP_SUB_UPGRADE ? patron_sub_upgrade(s->p, &out, sub, plans[pick(s, 3)],
                                                     1 + pick(s, 20))
           : op == OP_SUB_CONVERT ? patron_sub_convert(s->p, &out, sub)
                                  : patron_sub_migrate_price(s->p, &out, plans[pick(s, 3)],
                                                             pick(s, 30));
  EXPECT(s, rc == PATRON_OK || rc == PATRON_INVALID_INPUT, "%s %s: %s (%s)", s->kind,
         sub ? sub : "", patron_code_name(rc), patron_errmsg(s->p));
  if (rc != PATRON_OK) {
    expect_unchanged(s, before, "a refused subscription change");
    s->outcome_refused++;
  }
  patron_free(out);
  free(before);
  free(sub);
}

static void op_config(sim *s) {
  char src[8192];
  s->variant = (s->variant + 1) % 3;
  shop_text(src, sizeof src, s->variant);
  char *prices = qs(s, "SELECT group_concat(id || ':' || price_cents, ',') FROM "
                       "(SELECT id, price_cents FROM subscriptions ORDER BY rowid) WHERE ?1 = ?1", 0);
  patron_apply_result r;
  int rc = patron_apply_buffer(s->p, &r, "shop.lua", src, strlen(src));
  EXPECT(s, rc == PATRON_OK && r.changed, "apply variant %d: %s", s->variant, patron_errmsg(s->p));
  char *after = qs(s, "SELECT group_concat(id || ':' || price_cents, ',') FROM "
                      "(SELECT id, price_cents FROM subscriptions ORDER BY rowid) WHERE ?1 = ?1", 0);
  EXPECT(s, (!prices && !after) || (prices && after && strcmp(prices, after) == 0),
         "a config change moved locked subscription prices");
  free(prices);
  free(after);
}

static void op_track(sim *s) {
  char cust[32];
  cust_id(s, (int)pick(s, NCUST), cust, sizeof cust);
  char *cart = make_cart(s, NULL, cust, program_of(s), 0, true, -1), *out = NULL;
  int rc = patron_quote_json(s->p, &out, cart);
  EXPECT(s, rc == PATRON_OK, "tracked quote: %s", patron_errmsg(s->p));
  patron_free(out);
  free(cart);
}

static void op_nps(sim *s) {
  static const char *touch[] = {"onboarding", "support", "renewal", "review"};
  char cust[32];
  cust_id(s, (int)pick(s, NCUST), cust, sizeof cust);
  bool known = q1(s, "SELECT count(*) FROM customers WHERE id = ?1", cust, 0) > 0;
  int rc = patron_nps_record(s->p, cust, (int)pick(s, 11), touch[pick(s, 4)], "simulated");
  EXPECT(s, rc == (known ? PATRON_OK : PATRON_UNKNOWN_CUSTOMER), "nps for %s: %s", cust,
         patron_code_name(rc));
}

static void op_erase(sim *s) {
  int slot = (int)pick(s, NCUST);
  char cust[32], *out = NULL;
  cust_id(s, slot, cust, sizeof cust);
  bool known = q1(s, "SELECT count(*) FROM customers WHERE id = ?1", cust, 0) > 0;
  bool live = q1(s, "SELECT count(*) FROM subscriptions WHERE customer = ?1 AND status NOT IN "
                    "('canceled', 'expired')", cust, 0) > 0;
  char *before = !known || live ? fingerprint(s) : NULL;
  int rc = patron_customer_erase(s->p, &out, cust);
  if (!known) {
    EXPECT(s, rc == PATRON_UNKNOWN_CUSTOMER, "erase of unknown %s: %s", cust, patron_code_name(rc));
  } else if (live) {
    EXPECT(s, rc == PATRON_INVALID_INPUT, "erase of %s with a live subscription: %s", cust,
           patron_code_name(rc));
  } else {
    EXPECT(s, rc == PATRON_OK, "erase of %s: %s", cust, patron_errmsg(s->p));
    if (rc == PATRON_OK) {
      EXPECT(s, q1(s, "SELECT (SELECT count(*) FROM ledger WHERE customer = ?1) + "
                      "(SELECT count(*) FROM orders WHERE customer = ?1) + "
                      "(SELECT count(*) FROM accounts WHERE customer = ?1) + "
                      "(SELECT count(*) FROM customers WHERE id = ?1)", cust, 0) == 0,
             "%s is still there after its erasure", cust);
      s->gen[slot]++;
      json_t *r = json_loads(out, 0, NULL);
      const char *pseudo = json_string_value(json_object_get(r, "pseudonym"));
      EXPECT(s, pseudo != NULL, "erase printed no pseudonym");
      sqlite3_stmt *st;
      st = prep(s, "SELECT program FROM accounts WHERE customer = ?1 "
                         "ORDER BY program");
      sqlite3_bind_text(st, 1, pseudo ? pseudo : "", -1, SQLITE_TRANSIENT);
      while (sqlite3_step(st) == SQLITE_ROW)
        check_account(s, (const char *)sqlite3_column_text(st, 0), pseudo, true, 0);
      unprep(st);
      json_decref(r);
    }
  }
  if (before) {
    expect_unchanged(s, before, "a refused erasure");
    s->outcome_refused++;
  }
  patron_free(out);
  free(before);
}

static int pick_op(sim *s) {
  int total = 0;
  for (int i = 0; i < OP__COUNT; i++) total += OP_WEIGHT[i];
  int64_t r = pick(s, total);
  for (int i = 0; i < OP__COUNT; i++) {
    if (r < OP_WEIGHT[i]) return i;
    r -= OP_WEIGHT[i];
  }
  return OP_EARN;
}

static void run_op(sim *s, int op) {
  switch (op) {
  case OP_EARN: case OP_REDEEM: case OP_ANON: op_commit(s, op); break;
  case OP_QUOTE_COMMIT: op_quote_commit(s, false); break;
  case OP_STALE: op_quote_commit(s, true); break;
  case OP_RETRY: op_retry(s, false); break;
  case OP_RETRY_CONFLICT: op_retry(s, true); break;
  case OP_REFUND: op_refund(s); break;
  case OP_ADJUST: op_adjust(s); break;
  case OP_TICK: op_tick(s); break;
  case OP_SUB_CREATE: op_sub_create(s); break;
  case OP_SUB_ANSWER: op_sub_answer(s); break;
  case OP_SUB_METHOD: op_sub_method(s); break;
  case OP_SUB_CANCEL: op_sub_cancel(s); break;
  case OP_SUB_CHANGE: op_sub_change(s); break;
  case OP_SUB_UPGRADE: case OP_SUB_CONVERT: case OP_MIGRATE: op_sub_other(s, op); break;
  case OP_CONFIG: op_config(s); break;
  case OP_TRACK: op_track(s); break;
  case OP_NPS: op_nps(s); break;
  case OP_ERASE: op_erase(s); break;
  default: break;
  }
}

/* Runs one seed; true when every check held. */
static bool run_seed(uint64_t seed, long nops, bool trace) {
  sim *s = calloc(1, sizeof *s);
  s->seed = seed;
  s->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
  s->nops = nops;
  s->trace = trace;
  s->kind = "setup";
  snprintf(s->db, sizeof s->db, "sim-%llu.db", (unsigned long long)seed);
  char x[96];
  unlink(s->db);
  snprintf(x, sizeof x, "%s-wal", s->db);
  unlink(x);
  snprintf(x, sizeof x, "%s-shm", s->db);
  unlink(x);
  if (patron_time_parse(&s->now, "2026-01-01T08:00:00Z")) abort();
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = s;
  if (patron_open(&s->p, s->db, &o)) {
    printf("# open %s: %s\n", s->db, patron_errmsg(s->p));
    abort();
  }
  sqlite3_exec(s->p->db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -65536", NULL, NULL,
               NULL);
  sqlite3_wal_hook(s->p->db, wal_hook, NULL);
  s->expiry_known = lots_know_expiry(s);
  char src[8192];
  shop_text(src, sizeof src, 0);
  patron_apply_result ar;
  if (patron_apply_buffer(s->p, &ar, "shop.lua", src, strlen(src))) {
    printf("# apply: %s\n", patron_errmsg(s->p));
    abort();
  }
  for (s->op = 1; s->op <= nops && !s->failed; s->op++) {
    s->now += pick(s, 1200);
    int op = pick_op(s);
    s->kind = OP_NAMES[op];
    s->counts[op]++;
    if (trace) printf("# op %ld: %s\n", s->op, s->kind);
    run_op(s, op);
    check_delta(s);
    if (s->op % 2500 == 0) check_all(s, false);
  }
  s->op--; /* the loop counted one past the last operation */
  if (!s->failed) {
    s->kind = "final check";
    check_all(s, true);
  }
  printf("# seed %llu: %ld operations, %ld orders, %ld refused as expected, %lld entries, "
         "%lld events, %lld charges%s\n",
         (unsigned long long)seed, s->op, s->norders, s->outcome_refused,
         (long long)q1(s, "SELECT count(*) FROM ledger WHERE ?1 = ?1", NULL, 0),
         (long long)q1(s, "SELECT count(*) FROM events WHERE ?1 = ?1", NULL, 0),
         (long long)q1(s, "SELECT count(*) FROM charge_attempts WHERE ?1 = ?1", NULL, 0),
         s->failed ? " -- FAILED" : "");
  bool ok = !s->failed;
  char db[64];
  snprintf(db, sizeof db, "%s", s->db);
  prep_clear();
  nseen = 0;
  patron_close(s->p);
  for (int i = 0; i < s->nring; i++) {
    free(s->ring[i].cart);
    free(s->ring[i].receipt);
  }
  free(s);
  if (ok && !getenv("PATRON_SIM_KEEP")) { /* the database of a failing seed is kept */
    unlink(db);
    snprintf(x, sizeof x, "%s-wal", db);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", db);
    unlink(x);
  }
  return ok;
}

static long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : dflt;
}

TEST(random_operations_keep_every_invariant) {
  long ops = env_long("PATRON_SIM_OPS", SIM_ASAN ? 6000 : 25000);
  bool trace = env_long("PATRON_SIM_TRACE", 0) != 0;
  const char *one = getenv("PATRON_SIM_SEED");
  uint64_t seeds[64];
  int n = 0;
  if (one && *one) {
    seeds[n++] = strtoull(one, NULL, 10);
  } else {
    long extra = env_long("PATRON_SIM_SEEDS", 0);
    if (extra <= 0) { /* CI: three fixed seeds and one new each run */
      seeds[n++] = 1;
      seeds[n++] = 2;
      seeds[n++] = 3;
      extra = 1;
    }
    uint64_t base = (uint64_t)time(NULL) * 1000 + (uint64_t)getpid() % 1000;
    for (long i = 0; i < extra && n < 64; i++) seeds[n++] = base + (uint64_t)i;
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    printf("# seed %llu, %ld operations (replay: PATRON_SIM_SEED=%llu)\n",
           (unsigned long long)seeds[i], ops, (unsigned long long)seeds[i]);
    fflush(stdout);
    if (!run_seed(seeds[i], ops, trace)) failed++;
  }
  CHECK_EQ_I64(failed, 0);
}

/* KNOWN BUG (core/refund.c:200-205 with core/ledger.c tick_expire): a
** refund takes back the points its order earned even when those points
** already expired. The customer loses them twice: once to expiry, once
** to the clawback, which takes their other points (here the 50 of a later
** order) and leaves a debt. The expire entry does not say which lot (or
** order) it emptied, so the refund cannot tell expired points from spent
** ones; recording it (an `expired` count on the lot, or the lot's entry in
** the expire entry) lets the refund take back only what was not expired. */
TEST(a_refund_does_not_take_back_points_that_already_expired) {
  sim s0;
  memset(&s0, 0, sizeof s0);
  sim *s = &s0;
  snprintf(s->db, sizeof s->db, "expired-refund.db");
  unlink(s->db);
  if (patron_time_parse(&s->now, "2026-01-01T10:00:00Z")) abort();
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = clock_fn;
  o.clock_ud = s;
  if (patron_open(&s->p, s->db, &o)) abort();
  const char *shop = "shop { currency = \"EUR\" }\n"
                     "program \"default\" { earn = { points_per_unit = 1 },\n"
                     "  expiry = { months = 1, notice_days = 0 } }\n";
  patron_apply_result ar;
  CHECK_EQ_I64(patron_apply_buffer(s->p, &ar, "shop.lua", shop, strlen(shop)), PATRON_OK);
  char *out = NULL;
  CHECK_EQ_I64(patron_commit_json(s->p, &out, "{\"order_id\":\"X1\",\"customer\":\"E1\","
                                  "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":10000}]}"),
               PATRON_OK);
  patron_free(out);
  patron_tick_result r;
  CHECK_EQ_I64(patron_tick(s->p, &r, s->now + 32 * PT_DAY), PATRON_OK); /* the 100 expire */
  CHECK_EQ_I64(r.expired_points, 100);
  s->now += 33 * PT_DAY;
  CHECK_EQ_I64(patron_commit_json(s->p, &out, "{\"order_id\":\"X2\",\"customer\":\"E1\","
                                  "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":5000}]}"),
               PATRON_OK);
  patron_free(out);
  s->now += PT_DAY;
  CHECK_EQ_I64(patron_refund(s->p, &out, "X1", NULL, 0), PATRON_OK);
  patron_free(out);
  patron_balance_info b;
  CHECK_EQ_I64(patron_balance(s->p, &b, "E1", NULL), PATRON_OK);
  CHECK_EQ_I64(b.points, 50); /* got -50: the expired 100 were taken again */
  int64_t bad = -1;
  char *rep = NULL;
  CHECK_EQ_I64(patron_verify(s->p, &bad, &rep), PATRON_OK);
  CHECK_EQ_I64(bad, 0);
  patron_free(rep);
  patron_close(s->p);
}

int main(void) {
  RUN(random_operations_keep_every_invariant);
  for (int i = 0; i < nfailures; i++) fputs(failures[i], stdout);
  RUN(a_refund_does_not_take_back_points_that_already_expired);
  return t_done();
}
