/*
** crash.c -- the crash test: a child process runs a stream of commits (with
** redemptions and idempotent retries), refunds (partial and full), manual
** adjustments, ticks and event acknowledgements against one shop database,
** and the parent SIGKILLs it at a random moment (seeded). After every kill
** the parent reopens the database and checks that nothing was lost or half
** applied:
**   - PRAGMA integrity_check is "ok" and foreign_key_check finds nothing;
**   - patron_verify finds no mismatch (every balance equals its ledger);
**   - the SQL invariants below hold (an order row has its lines, shares
**     summing to the order's totals, its receipt, ledger entries matching
**     points_earned and redeem_points; refund rows match their ledger
**     reversals, refunded quantities and spend; every positive entry has
**     exactly one lot; every tier change has its event);
**   - everything the child acknowledged before the kill is there: the child
**     writes a line to a pipe only after the call returned PATRON_OK
**     (commit: order id and a hash of the receipt, which must be the stored
**     receipt byte for byte; refund and adjust: the uuid; event ack: the id).
**
**   crash [--kills N] [--seed S] [--dir DIR] [--fresh-every K]
**         [--max-delay-us U] [--keep] [--verbose]
**   crash --selftest    shows that each check can fail (tampered copies)
** Exit status 0 when every check passed, 1 otherwise. The child is this
** program run again (fork + exec) as `crash --child DB ROUND SEED T0 FD`.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "patron.h"

static const char SHOP[] =
    "shop { currency = \"EUR\" }\n"
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1, pending_days = 14 },\n"
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 500, max_share_bp = 5000 },\n"
    "  expiry = { months = 6, notice_days = 14 },\n"
    "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
    "            { name = \"silver\", from_cents = 30000, multiplier_bp = 12500 },\n"
    "            { name = \"gold\", from_cents = 100000, multiplier_bp = 15000 } },\n"
    "  tier_window = { months = 2 },\n"
    "}\n"
    "bundle \"mp3-kit\" { skus = { \"MP3-01\", \"HP-07\" }, off_bp = 1500 }\n"
    "free_shipping { threshold_cents = 5000, shipping_cents = 499 }\n"
    /* rules with budgets: usage rows and totals written with each order */
    "plugin \"plugins/double_points.lua\" { multiplier_bp = 5000,\n"
    "  budget = { points = 100000000, uses = 10000000 } }\n"
    "plugin \"plugins/buy_x_get_y.lua\" { buy = { skus = { \"COF-01\" } }, x = 2, y = 1,\n"
    "  budget = { cents = 100000000 } }\n";

#define NCUSTOMERS 12
#define T0 INT64_C(1798761600) /* 2027-01-01T00:00:00Z */
#define ROUND_SECONDS (7 * 86400)

static const struct { const char *sku; int64_t cents; } SKUS[] = {
    {"MP3-01", 4999}, {"HP-07", 2999}, {"COF-01", 1299},
    {"MUG-01", 899},  {"CASE-2", 1999}, {"CABLE", 499}};
#define NSKUS (sizeof SKUS / sizeof SKUS[0])

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}
static int64_t rnd_in(int64_t lo, int64_t hi) { /* [lo, hi] */
  return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static uint64_t fnv(const char *s) {
  uint64_t h = 14695981039346656037u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, s, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) _exit(3);
    s += k;
    n -= (size_t)k;
  }
}

static int ack_fd = -1;
static void ack(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ack(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= (int)sizeof line - 1) n = (int)sizeof line - 2;
  line[n++] = '\n';
  write_all(ack_fd, line, (size_t)n); /* < PIPE_BUF: atomic */
}

/* ---- the child: a till doing business until it is killed ---------------- */

static int64_t child_now;
static int64_t child_clock(void *ud) {
  (void)ud;
  return child_now;
}

/* Reports an unexpected result and stops the child (status 2). */
static void child_fail(patron *p, const char *what, int rc) {
  ack("E %s: %s: %s", what, patron_code_name(rc), p ? patron_errmsg(p) : "");
  _exit(2);
}

typedef struct placed {
  char id[64];
  char *cart;    /* the cart text, for an idempotent retry */
  char *receipt;
} placed;

static void child_commit(patron *p, int round, int *seq, placed *mine, int *nmine) {
  char id[64], cart[2048];
  snprintf(id, sizeof id, "r%d-%d", round, (*seq)++);
  int cust = (int)rnd_in(-1, NCUSTOMERS - 1); /* -1: anonymous */
  int nlines = (int)rnd_in(1, 4);
  size_t k = 0;
  k += (size_t)snprintf(cart + k, sizeof cart - k, "{\"order_id\":\"%s\",", id);
  if (cust >= 0) k += (size_t)snprintf(cart + k, sizeof cart - k, "\"customer\":\"C%d\",", cust);
  if (cust >= 0 && rnd() % 3 == 0)
    k += (size_t)snprintf(cart + k, sizeof cart - k, "\"redeem_points\":%" PRId64 ",",
                          rnd_in(400, 4000));
  k += (size_t)snprintf(cart + k, sizeof cart - k, "\"lines\":[");
  for (int i = 0; i < nlines; i++) {
    size_t s = (size_t)rnd_in(0, NSKUS - 1);
    k += (size_t)snprintf(cart + k, sizeof cart - k,
                          "%s{\"sku\":\"%s\",\"qty\":%" PRId64 ",\"unit_cents\":%" PRId64 "}",
                          i ? "," : "", SKUS[s].sku, rnd_in(1, 5), SKUS[s].cents);
  }
  snprintf(cart + k, sizeof cart - k, "]}");
  char *out = NULL;
  int rc = patron_commit_json(p, &out, cart);
  if (rc == PATRON_OK) {
    ack("C %s %016" PRIx64, id, fnv(out));
    if (*nmine < 64) {
      placed *m = &mine[(*nmine)++];
      snprintf(m->id, sizeof m->id, "%s", id);
      m->cart = strdup(cart);
      m->receipt = strdup(out);
    }
    patron_free(out);
    return;
  }
  /* business refusals the stream can provoke */
  if (rc == PATRON_INSUFFICIENT_POINTS || rc == PATRON_INVALID_CART) return;
  child_fail(p, "commit", rc);
}

/* A retry of an acknowledged commit returns the first receipt. */
static void child_retry(patron *p, placed *mine, int nmine) {
  if (nmine == 0) return;
  placed *m = &mine[rnd() % (uint64_t)nmine];
  char *out = NULL;
  int rc = patron_commit_json(p, &out, m->cart);
  if (rc) child_fail(p, "retry", rc);
  if (strcmp(out, m->receipt) != 0) {
    ack("E retry of %s returned a different receipt", m->id);
    _exit(2);
  }
  patron_free(out);
}

static void child_refund(patron *p, int round, int seq) {
  char id[64];
  /* an order of this round or of an earlier one (it may not exist) */
  int r = rnd() % 2 ? round : (int)rnd_in(0, round);
  int n = r == round ? seq : 40;
  snprintf(id, sizeof id, "r%d-%" PRId64, r, n > 0 ? rnd_in(0, n - 1) : 0);
  patron_refund_line lines[2];
  size_t nl = 0;
  if (rnd() % 3) { /* partial */
    nl = (size_t)rnd_in(1, 2);
    for (size_t i = 0; i < nl; i++) {
      lines[i].sku = SKUS[rnd() % NSKUS].sku;
      lines[i].qty = rnd_in(1, 3);
    }
    if (nl == 2 && strcmp(lines[0].sku, lines[1].sku) == 0) nl = 1;
  }
  char *out = NULL;
  int rc = patron_refund(p, &out, id, lines, nl);
  if (rc == PATRON_OK) {
    json_t *j = json_loads(out, 0, NULL);
    const char *uuid = json_string_value(json_object_get(j, "refund"));
    if (!uuid) {
      ack("E refund of %s: no uuid in %s", id, out);
      _exit(2);
    }
    ack("R %s %s", id, uuid);
    json_decref(j);
    patron_free(out);
    return;
  }
  if (rc == PATRON_NOT_FOUND || rc == PATRON_INVALID_INPUT) return;
  child_fail(p, "refund", rc);
}

static void child_adjust(patron *p) {
  char cust[16], uuid[37];
  snprintf(cust, sizeof cust, "C%" PRId64, rnd_in(0, NCUSTOMERS - 1));
  int64_t pts = rnd() % 4 ? rnd_in(1, 2000) : -rnd_in(1, 1500);
  int rc = patron_adjust(p, uuid, cust, NULL, pts, "crash test");
  if (rc == PATRON_OK) {
    ack("A %s", uuid);
    return;
  }
  if (rc == PATRON_INSUFFICIENT_POINTS) return;
  child_fail(p, "adjust", rc);
}

static void child_tick(patron *p) {
  patron_tick_result t;
  int rc = patron_tick(p, &t, child_now);
  if (rc) child_fail(p, "tick", rc);
  ack("T %" PRId64, t.expired_points);
}

static void child_events(patron *p) {
  char *out = NULL;
  int rc = patron_events_pull(p, &out, NULL, 5);
  if (rc) child_fail(p, "events pull", rc);
  json_t *a = json_loads(out, 0, NULL);
  patron_free(out);
  int64_t ids[5];
  size_t n = 0, i;
  json_t *e;
  json_array_foreach(a, i, e) {
    if (n < 5) ids[n++] = json_integer_value(json_object_get(e, "id"));
  }
  json_decref(a);
  if (n == 0) return;
  if ((rc = patron_events_ack(p, ids, n))) child_fail(p, "events ack", rc);
  for (i = 0; i < n; i++) ack("V %" PRId64, ids[i]);
}

static int child_main(const char *db, int round, uint64_t seed, int64_t t0, int fd) {
  ack_fd = fd;
  rng_state = seed * 1000003u + (uint64_t)round;
  child_now = t0;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = child_clock;
  patron *p = NULL;
  int rc = patron_open(&p, db, &o);
  if (rc) child_fail(p, "open", rc);
  placed mine[64];
  int nmine = 0, seq = 0;
  ack("S");
  for (;;) {
    unsigned op = (unsigned)(rnd() % 100);
    ack("B");
    if (op < 45) child_commit(p, round, &seq, mine, &nmine);
    else if (op < 50) child_retry(p, mine, nmine);
    else if (op < 70) child_refund(p, round, seq);
    else if (op < 85) child_adjust(p);
    else if (op < 92) child_tick(p);
    else child_events(p);
    child_now += rnd_in(0, 3 * 3600);
  }
  return 0; /* not reached: the parent kills the child */
}

/* ---- the parent: kill, reopen, check ------------------------------------ */

static int verbose, failures, expecting; /* expecting: a selftest failure */
static char fail_note[1024];

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf(expecting ? "#   (as expected) " : "# FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (!fail_note[0]) {
    va_start(ap, fmt);
    vsnprintf(fail_note, sizeof fail_note, fmt, ap);
    va_end(ap);
  }
  failures++;
  fflush(stdout);
}

/* What the children acknowledged, per database epoch. */
typedef struct acked {
  char kind;      /* C R A V */
  char key[64];   /* order id, uuid, event id */
  uint64_t hash;  /* C: receipt hash */
} acked;

static acked *acks;
static size_t nacks, cap_acks;

static void add_ack(char kind, const char *key, uint64_t hash) {
  if (nacks == cap_acks) {
    cap_acks = cap_acks ? 2 * cap_acks : 1024;
    acks = realloc(acks, cap_acks * sizeof *acks);
    if (!acks) abort();
  }
  acked *a = &acks[nacks++];
  a->kind = kind;
  snprintf(a->key, sizeof a->key, "%s", key);
  a->hash = hash;
}

/* A query that must return one integer, 0 when the invariant holds. */
typedef struct invariant {
  const char *name;
  const char *sql;
} invariant;

static const invariant INVARIANTS[] = {
    {"every order has lines",
     "SELECT count(*) FROM orders o WHERE NOT EXISTS "
     "(SELECT 1 FROM order_lines l WHERE l.order_rowid = o.id)"},
    {"every order has its receipt", "SELECT count(*) FROM orders WHERE receipt = ''"},
    {"line shares sum to the order's amounts",
     "SELECT count(*) FROM orders o JOIN (SELECT order_rowid, "
     "sum(qty * unit_cents) sub, sum(discount_cents) disc, "
     "sum(redeem_points) rp, sum(redeem_cents) rc, sum(points_earned) pe "
     "FROM order_lines GROUP BY order_rowid) l ON l.order_rowid = o.id "
     "WHERE l.sub <> o.subtotal_cents OR l.disc <> o.discount_cents "
     "OR l.rp <> o.redeem_points OR l.rc <> o.redeem_cents "
     "OR l.pe <> o.points_earned"},
    {"an order's earn and redeem entries match the order",
     "WITH e AS (SELECT order_ref, "
     " coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0) earn, "
     " count(*) FILTER (WHERE kind = 'earn') nearn, "
     " coalesce(-sum(points) FILTER (WHERE kind = 'redeem'), 0) red, "
     " count(*) FILTER (WHERE kind = 'redeem') nred, "
     " count(*) FILTER (WHERE customer IS NOT o_customer) other "
     " FROM (SELECT l.*, o.customer o_customer FROM ledger l "
     "       JOIN orders o ON o.order_id = l.order_ref) GROUP BY order_ref) "
     "SELECT count(*) FROM orders o LEFT JOIN e ON e.order_ref = o.order_id "
     "WHERE CASE WHEN o.customer IS NULL THEN e.order_ref IS NOT NULL ELSE "
     " coalesce(e.earn, 0) <> o.points_earned "
     " OR coalesce(e.nearn, 0) <> (o.points_earned > 0) "
     " OR coalesce(e.red, 0) <> o.redeem_points "
     " OR coalesce(e.nred, 0) <> (o.redeem_points > 0) "
     " OR coalesce(e.other, 0) <> 0 END"},
    {"refund rows match their ledger reversals",
     "WITH e AS (SELECT order_ref, "
     " coalesce(-sum(points) FILTER (WHERE points < 0), 0) rev, "
     " coalesce(sum(points) FILTER (WHERE points > 0), 0) ret, count(*) n "
     " FROM ledger WHERE kind = 'reverse' GROUP BY order_ref), "
     "r AS (SELECT order_rowid, sum(points_reversed) rev, "
     " sum(points_returned) ret, count(*) n FROM refunds GROUP BY order_rowid) "
     "SELECT count(*) FROM orders o LEFT JOIN e ON e.order_ref = o.order_id "
     "LEFT JOIN r ON r.order_rowid = o.id "
     "WHERE (o.customer IS NULL AND e.order_ref IS NOT NULL) OR "
     "(o.customer IS NOT NULL AND (coalesce(e.rev, 0) <> coalesce(r.rev, 0) "
     " OR coalesce(e.ret, 0) <> coalesce(r.ret, 0) "
     " OR coalesce(e.n, 0) > 2 * coalesce(r.n, 0)))"},
    {"refunded quantities match the refund rows",
     "WITH q AS (SELECT r.order_rowid, sum(json_extract(j.value, '$.qty')) qty "
     " FROM refunds r, json_each(r.lines) j GROUP BY r.order_rowid), "
     "l AS (SELECT order_rowid, sum(refunded_qty) qty FROM order_lines "
     " GROUP BY order_rowid) "
     "SELECT count(*) FROM l LEFT JOIN q ON q.order_rowid = l.order_rowid "
     "WHERE l.qty <> coalesce(q.qty, 0)"},
    {"a fully refunded order gave back exactly what it caused (earned points that expired first are not taken back twice)",
     "WITH r AS (SELECT order_rowid, sum(points_reversed) rev, "
     " sum(points_returned) ret FROM refunds GROUP BY order_rowid), "
     "f AS (SELECT order_rowid FROM order_lines GROUP BY order_rowid "
     " HAVING sum(refunded_qty) = sum(qty)) "
     "SELECT count(*) FROM f JOIN orders o ON o.id = f.order_rowid "
     "JOIN r ON r.order_rowid = o.id "
     "WHERE r.rev <> o.points_earned - (SELECT coalesce(sum(l.expired), 0) "
     " FROM lots l JOIN ledger e ON e.id = l.entry_id "
     " WHERE e.order_ref = o.order_id AND e.kind = 'earn') "
     "OR r.ret <> o.redeem_points"},
    {"tier-qualifying spend matches orders and refunds",
     "WITH s AS (SELECT order_ref, sum(cents) c FROM spend "
     " WHERE order_ref IS NOT NULL GROUP BY order_ref), "
     "r AS (SELECT order_rowid, sum(refund_cents) c FROM refunds GROUP BY order_rowid) "
     "SELECT count(*) FROM orders o LEFT JOIN s ON s.order_ref = o.order_id "
     "LEFT JOIN r ON r.order_rowid = o.id "
     "WHERE coalesce(s.c, 0) <> CASE WHEN o.customer IS NULL THEN 0 ELSE "
     " (o.subtotal_cents - o.discount_cents - "
     "  min(o.redeem_cents, o.subtotal_cents - o.discount_cents)) "
     " - coalesce(r.c, 0) END"},
    {"every positive ledger entry has exactly one lot",
     "SELECT count(*) FROM ledger e LEFT JOIN (SELECT entry_id, count(*) n "
     "FROM lots GROUP BY entry_id) l ON l.entry_id = e.id "
     "WHERE (e.points > 0) <> (coalesce(l.n, 0) = 1)"},
    {"every tier change has its event",
     "SELECT (SELECT count(*) FROM tier_history) - "
     "(SELECT count(*) FROM events WHERE type = 'tier_changed')"},
    {"plugin budget totals equal their usage rows",
     "WITH u AS (SELECT plugin, sum(cents - cents_back) c, sum(points - points_back) p, "
     " sum(uses - use_back) n FROM rule_usage GROUP BY plugin), "
     "k AS (SELECT plugin FROM rule_totals UNION SELECT plugin FROM u) "
     "SELECT count(*) FROM k LEFT JOIN rule_totals t ON t.plugin = k.plugin "
     "LEFT JOIN u ON u.plugin = k.plugin "
     "WHERE coalesce(t.cents, 0) <> coalesce(u.c, 0) OR coalesce(t.points, 0) <> "
     "coalesce(u.p, 0) OR coalesce(t.uses, 0) <> coalesce(u.n, 0)"},
    {"no ledger entry for an order that does not exist",
     "SELECT count(*) FROM ledger l WHERE l.order_ref IS NOT NULL "
     "AND l.order_ref <> 'opening' AND NOT EXISTS "
     "(SELECT 1 FROM orders o WHERE o.order_id = l.order_ref)"},
};

static int64_t one_int(sqlite3 *db, const char *sql, int *ok) {
  sqlite3_stmt *st = NULL;
  int64_t v = -1;
  *ok = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
    *ok = 1;
  } else {
    failf("query failed: %s: %s", sqlite3_errmsg(db), sql);
  }
  sqlite3_finalize(st);
  return v;
}

static void check_acks(sqlite3 *db) {
  sqlite3_stmt *c = NULL, *r = NULL, *a = NULL, *v = NULL;
  if (sqlite3_prepare_v2(db, "SELECT receipt FROM orders WHERE order_id = ?1", -1, &c, NULL) ||
      sqlite3_prepare_v2(db, "SELECT 1 FROM refunds WHERE uuid = ?1", -1, &r, NULL) ||
      sqlite3_prepare_v2(db, "SELECT 1 FROM ledger WHERE uuid = ?1", -1, &a, NULL) ||
      sqlite3_prepare_v2(db, "SELECT 1 FROM events WHERE id = ?1 AND delivered_at IS NOT NULL",
                         -1, &v, NULL)) {
    failf("prepare: %s", sqlite3_errmsg(db));
    goto done;
  }
  for (size_t i = 0; i < nacks; i++) {
    acked *k = &acks[i];
    sqlite3_stmt *st = k->kind == 'C' ? c : k->kind == 'R' ? r : k->kind == 'A' ? a : v;
    sqlite3_reset(st);
    if (k->kind == 'V') sqlite3_bind_int64(st, 1, strtoll(k->key, NULL, 10));
    else sqlite3_bind_text(st, 1, k->key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
      failf("acknowledged %s %s is missing after the kill",
            k->kind == 'C' ? "commit" : k->kind == 'R' ? "refund"
            : k->kind == 'A' ? "adjustment" : "event ack", k->key);
      continue;
    }
    if (k->kind == 'C') {
      const char *rec = (const char *)sqlite3_column_text(st, 0);
      if (!rec || fnv(rec) != k->hash)
        failf("order %s: the stored receipt is not the one acknowledged", k->key);
    }
  }
done:
  sqlite3_finalize(c);
  sqlite3_finalize(r);
  sqlite3_finalize(a);
  sqlite3_finalize(v);
}

/* Runs every invariant on s; returns how many do not hold. */
static int run_invariants(sqlite3 *s, int kill_no, int quiet) {
  int bad = 0;
  for (size_t i = 0; i < sizeof INVARIANTS / sizeof INVARIANTS[0]; i++) {
    int ok;
    int64_t n = one_int(s, INVARIANTS[i].sql, &ok);
    if (ok && n != 0) {
      bad++;
      if (!quiet)
        failf("kill %d: %s: %" PRId64 " violations", kill_no, INVARIANTS[i].name, n);
    }
  }
  return bad;
}

/* Everything a restart must find true. */
static void check_db(const char *db, int kill_no) {
  int before = failures;
  /* 1. patron opens it (recovering the WAL) and verify passes */
  patron *p = NULL;
  int rc = patron_open(&p, db, NULL);
  if (rc) {
    failf("kill %d: reopen: %s", kill_no, patron_errmsg(p));
  } else {
    int64_t bad = -1;
    char *report = NULL;
    if ((rc = patron_verify(p, &bad, &report)))
      failf("kill %d: verify: %s", kill_no, patron_errmsg(p));
    else if (bad != 0)
      failf("kill %d: verify found %" PRId64 " mismatches: %.600s", kill_no, bad, report);
    patron_free(report);
  }
  patron_close(p);
  /* 2. the raw database */
  sqlite3 *s = NULL;
  if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    failf("kill %d: sqlite3_open: %s", kill_no, sqlite3_errmsg(s));
    sqlite3_close(s);
    return;
  }
  sqlite3_busy_timeout(s, 5000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *t = (const char *)sqlite3_column_text(st, 0);
      if (!t || strcmp(t, "ok") != 0) failf("kill %d: integrity_check: %s", kill_no, t);
    }
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(s, "PRAGMA foreign_key_check", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    failf("kill %d: foreign_key_check: table %s", kill_no,
          (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  run_invariants(s, kill_no, 0);
  check_acks(s);
  sqlite3_close(s);
  if (failures > before && !expecting) printf("# database kept at %s\n", db);
}

/* Removes a database file with its -wal and -shm. */
static void remove_db(const char *db) {
  char path[1200];
  unlink(db);
  snprintf(path, sizeof path, "%.1100s-wal", db);
  unlink(path);
  snprintf(path, sizeof path, "%.1100s-shm", db);
  unlink(path);
}

static int setup_db(const char *db) {
  char path[1200];
  remove_db(db);
  patron *p = NULL;
  patron_options o = PATRON_OPTIONS_INIT;
  int rc = patron_open(&p, db, &o);
  patron_apply_result ar;
  if (!rc) rc = patron_apply_buffer(p, &ar, "crash-shop.lua", SHOP, sizeof SHOP - 1);
  if (!rc) { /* customers with opening balances (an import, all or nothing) */
    snprintf(path, sizeof path, "%.1100s.customers.csv", db);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "id,program,points,spend_cents\n");
    for (int i = 0; i < NCUSTOMERS; i++)
      fprintf(f, "C%d,default,%d,%d\n", i, i % 3 ? 1000 * i : 0, 5000 * i);
    fclose(f);
    patron_import_result ir;
    rc = patron_import_customers(p, &ir, path, NULL, NULL);
    unlink(path);
  }
  if (rc) printf("# setup: %s\n", patron_errmsg(p));
  patron_close(p);
  return rc;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct stats {
  int64_t commits, refunds, adjusts, ticks, acks, midop, early;
} stats;

/* Parses the complete lines in buf[0..*len), keeping a partial one. */
static void parse_lines(char *buf, size_t *len, stats *s, int *last_begin,
                        int *started, int kill_no) {
  size_t start = 0;
  for (size_t i = 0; i < *len; i++) {
    if (buf[i] != '\n') continue;
    buf[i] = 0;
    char *l = buf + start;
    start = i + 1;
    char key[64] = "";
    unsigned long long h = 0;
    *last_begin = 0;
    switch (l[0]) {
    case 'S': *started = 1; break;
    case 'B': *last_begin = 1; break;
    case 'C':
      if (sscanf(l + 2, "%63s %llx", key, &h) == 2) add_ack('C', key, h);
      s->commits++;
      break;
    case 'R':
      if (sscanf(l + 2, "%*s %63s", key) == 1) add_ack('R', key, 0);
      s->refunds++;
      break;
    case 'A':
      add_ack('A', l + 2, 0);
      s->adjusts++;
      break;
    case 'V':
      add_ack('V', l + 2, 0);
      s->acks++;
      break;
    case 'T': s->ticks++; break;
    case 'E': failf("kill %d: the child failed: %s", kill_no, l + 2); break;
    default: failf("kill %d: unexpected line from the child: %s", kill_no, l);
    }
  }
  memmove(buf, buf + start, *len - start);
  *len -= start;
}

static int run_round(const char *self, const char *db, int round, uint64_t seed,
                     int64_t max_delay_us, stats *s) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = dup(fds[1]); /* without O_CLOEXEC */
    char a_round[32], a_seed[32], a_t0[32], a_fd[32];
    snprintf(a_round, sizeof a_round, "%d", round);
    snprintf(a_seed, sizeof a_seed, "%" PRIu64, seed);
    snprintf(a_t0, sizeof a_t0, "%" PRId64, T0 + (int64_t)round * ROUND_SECONDS);
    snprintf(a_fd, sizeof a_fd, "%d", fd);
    execl(self, self, "--child", db, a_round, a_seed, a_t0, a_fd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[8192];
  size_t len = 0;
  int started = 0, last_begin = 0, eof = 0;
  int64_t delay = rnd_in(0, max_delay_us), deadline = 0, limit = now_us() + 30000000;
  if (rnd() % 20 == 0) /* now and then while it starts and opens the database */
    deadline = now_us() + rnd_in(0, 5000);
  /* read until the child has started; then sleep until the deadline without
  ** reading (a read would wake us just after the child wrote, and bias the
  ** kill towards the moment after an acknowledgement); kill */
  while (!eof && !started && !deadline) {
    if (now_us() > limit) {
      failf("kill %d: the child did not start within 30 s", round);
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int pr = poll(&pfd, 1, 100);
    if (pr < 0 && errno != EINTR) break;
    if (pr > 0) {
      ssize_t k = read(fds[0], buf + len, sizeof buf - 1 - len);
      if (k <= 0) {
        eof = 1;
        break;
      }
      len += (size_t)k;
      parse_lines(buf, &len, s, &last_begin, &started, round);
    }
  }
  if (!deadline) deadline = now_us() + delay;
  int64_t left = deadline - now_us();
  if (left > 0) {
    struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  }
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  for (;;) { /* what the child wrote before it died */
    ssize_t k = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (k <= 0) break;
    len += (size_t)k;
    parse_lines(buf, &len, s, &last_begin, &started, round);
  }
  close(fds[0]);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
    failf("kill %d: the child ended by itself (status %d)", round, status);
  if (last_begin) s->midop++;
  if (!started) s->early++;
  return 0;
}

/* The checks must be able to fail: on a database with real business, each
** tampering below (inside a transaction that is rolled back) must break at
** least one invariant, a forged acknowledgement must be reported missing
** and an unbalanced account must fail patron_verify. */
static const char *const TAMPER[] = {
    "DELETE FROM order_lines WHERE order_rowid = (SELECT max(id) FROM orders)",
    "UPDATE orders SET receipt = '' WHERE id = (SELECT max(id) FROM orders)",
    "UPDATE order_lines SET points_earned = points_earned + 1 "
    "WHERE rowid = (SELECT min(rowid) FROM order_lines)",
    "UPDATE order_lines SET discount_cents = discount_cents + 1 "
    "WHERE rowid = (SELECT max(rowid) FROM order_lines)",
    "DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger WHERE kind = 'earn')",
    "DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger WHERE kind = 'redeem')",
    "DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger WHERE kind = 'reverse')",
    "UPDATE order_lines SET refunded_qty = refunded_qty + 1 WHERE rowid = "
    "(SELECT min(rowid) FROM order_lines WHERE refunded_qty < qty)",
    "DELETE FROM refunds WHERE id = (SELECT max(id) FROM refunds)",
    "DELETE FROM spend WHERE id = (SELECT max(id) FROM spend WHERE order_ref <> 'opening')",
    "DELETE FROM lots WHERE id = (SELECT max(id) FROM lots)",
    "DELETE FROM events WHERE id = (SELECT max(id) FROM events WHERE type = 'tier_changed')",
    "DELETE FROM orders WHERE id = (SELECT max(id) FROM orders WHERE customer IS NOT NULL "
    "AND points_earned > 0)",
    "UPDATE rule_totals SET points = points + 1 WHERE rowid = (SELECT min(rowid) FROM rule_totals)",
    "DELETE FROM rule_usage WHERE rowid = (SELECT max(rowid) FROM rule_usage)",
};

static int selftest(const char *self, const char *dir) {
  char db[1100];
  snprintf(db, sizeof db, "%.1000s/selftest.db", dir);
  if (setup_db(db)) return 1;
  stats s = {0};
  int64_t reversals = 0, redeems = 0;
  /* uninterrupted rounds until the database has every kind of row */
  for (int round = 0; round < 40 && (reversals < 2 || redeems < 1 || s.refunds < 2); round++) {
    run_round(self, db, round, 7, 400000, &s);
    sqlite3 *q = NULL;
    int ok;
    sqlite3_open_v2(db, &q, SQLITE_OPEN_READONLY, NULL);
    reversals = one_int(q, "SELECT count(*) FROM ledger WHERE kind = 'reverse'", &ok);
    redeems = one_int(q, "SELECT count(*) FROM ledger WHERE kind = 'redeem'", &ok);
    sqlite3_close(q);
  }
  if (failures) return 1;
  if (reversals < 2 || redeems < 1) {
    failf("selftest: the workload made no refunds or redemptions");
    return 1;
  }
  check_db(db, -1); /* the real checks pass on it */
  if (failures) return 1;
  sqlite3 *q = NULL;
  sqlite3_open_v2(db, &q, SQLITE_OPEN_READWRITE, NULL);
  for (size_t i = 0; i < sizeof TAMPER / sizeof TAMPER[0]; i++) {
    char *err = NULL;
    sqlite3_exec(q, "BEGIN", NULL, NULL, NULL);
    if (sqlite3_exec(q, TAMPER[i], NULL, NULL, &err) != SQLITE_OK || sqlite3_changes(q) == 0)
      failf("selftest: tampering did nothing: %s (%s)", TAMPER[i], err ? err : "no row");
    else if (run_invariants(q, -1, 1) == 0)
      failf("selftest: no invariant noticed: %s", TAMPER[i]);
    sqlite3_free(err);
    sqlite3_exec(q, "ROLLBACK", NULL, NULL, NULL);
  }
  if (run_invariants(q, -1, 1) != 0) failf("selftest: the rollback did not restore the database");
  sqlite3_close(q);
  /* a forged acknowledgement is reported */
  int before = failures;
  expecting = 1;
  add_ack('C', "never-committed", 1);
  check_db(db, -1);
  if (failures != before + 1) failf("selftest: a missing acknowledged commit went unnoticed");
  else failures--, fail_note[0] = 0;
  nacks--;
  /* a balance that differs from its ledger fails verify */
  sqlite3_open_v2(db, &q, SQLITE_OPEN_READWRITE, NULL);
  sqlite3_exec(q, "UPDATE accounts SET points = points + 1 WHERE rowid = "
                  "(SELECT min(rowid) FROM accounts)", NULL, NULL, NULL);
  sqlite3_close(q);
  before = failures;
  check_db(db, -1);
  if (failures == before) failf("selftest: an unbalanced account went unnoticed");
  else failures = before, fail_note[0] = 0;
  expecting = 0;
  remove_db(db);
  printf("%s - crash checks catch %zu kinds of tampering, a missing acknowledged "
         "commit and an unbalanced account\n", failures ? "not ok" : "ok",
         sizeof TAMPER / sizeof TAMPER[0]);
  return failures ? 1 : 0;
}

static int parent_main(int argc, char **argv) {
  int kills = 200, fresh_every = 250, keep = 0, self_test = 0;
  uint64_t seed = 1;
  int64_t max_delay_us = 25000;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--kills") && v) kills = atoi(v), i++;
    else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--dir") && v) dir = v, i++;
    else if (!strcmp(a, "--fresh-every") && v) fresh_every = atoi(v), i++;
    else if (!strcmp(a, "--max-delay-us") && v) max_delay_us = atoll(v), i++;
    else if (!strcmp(a, "--keep")) keep = 1;
    else if (!strcmp(a, "--selftest")) self_test = 1;
    else if (!strcmp(a, "--verbose")) verbose = 1;
    else {
      fprintf(stderr, "usage: crash [--kills N] [--seed S] [--dir DIR] "
                      "[--fresh-every K] [--max-delay-us U] [--keep] [--verbose] [--selftest]\n");
      return 2;
    }
  }
  if (fresh_every < 1) fresh_every = 1;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 2;
  self[n] = 0;
  char tmpl[] = "/tmp/patron-crash.XXXXXX", db[1100];
  if (!dir && !(dir = mkdtemp(tmpl))) return 2;
  if (strlen(dir) > 1000) {
    fprintf(stderr, "crash: --dir is too long\n");
    return 2;
  }
  mkdir(dir, 0700);
  rng_state = seed;
  if (self_test) {
    int rc = selftest(self, dir);
    if (!rc && !keep) rmdir(dir);
    return rc;
  }
  stats s = {0};
  int64_t t_start = now_us();
  int epoch = -1;
  printf("# crash test: %d kills, seed %" PRIu64 ", a fresh database every %d kills, "
         "kill delay 0..%" PRId64 " us after the child is ready\n",
         kills, seed, fresh_every, max_delay_us);
  for (int k = 0; k < kills; k++) {
    if (k / fresh_every != epoch) {
      epoch = k / fresh_every;
      if (epoch > 0 && !keep) remove_db(db); /* the previous epoch's */
      snprintf(db, sizeof db, "%.1000s/crash-%d.db", dir, epoch);
      nacks = 0;
      if (setup_db(db)) {
        failf("cannot set up %s", db);
        break;
      }
    }
    int round = k % fresh_every;
    if (run_round(self, db, round, seed, max_delay_us, &s)) {
      failf("kill %d: fork/pipe failed: %s", k, strerror(errno));
      break;
    }
    check_db(db, k);
    if (verbose || (k + 1) % 50 == 0 || k + 1 == kills)
      printf("# %d kills: %" PRId64 " commits, %" PRId64 " refunds, %" PRId64
             " adjustments, %" PRId64 " ticks, %" PRId64 " event acks acknowledged; "
             "%" PRId64 " kills mid-operation, %" PRId64 " while starting; %.1f s\n",
             k + 1, s.commits, s.refunds, s.adjusts, s.ticks, s.acks, s.midop, s.early,
             (double)(now_us() - t_start) / 1e6);
    fflush(stdout);
    if (failures) break;
  }
  free(acks);
  if (failures) {
    printf("not ok - crash test: %s (seed %" PRIu64 ", database in %s)\n", fail_note,
           seed, dir);
    return 1;
  }
  if (!keep) {
    remove_db(db);
    rmdir(dir);
  }
  printf("ok - crash test: %d kills (%" PRId64 " mid-operation), %" PRId64
         " acknowledged commits, %" PRId64 " refunds, %" PRId64 " adjustments all "
         "present; every invariant held\n", kills, s.midop, s.commits, s.refunds, s.adjusts);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "--child") == 0)
    return child_main(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10),
                      strtoll(argv[5], NULL, 10), atoi(argv[6]));
  return parent_main(argc, argv);
}
