/*
** sqlfloor.c -- the raw SQLite floor that `patron commit` is compared with.
**
**   sqlfloor DB [CUSTOMERS.csv] < commits.jsonl
**
** Creates DB (which must not exist) in WAL mode with synchronous=FULL and
** foreign keys on -- the durability settings patron's store uses -- with
** tables and indexes shaped like patron's customers, accounts, ledger,
** lots, spend, tier_history, events, orders and order_lines
** (schema/001_init.sql, schema/002_orders.sql). It fills them the way
** `patron customers import` does, so the commits below land in indexes of
** the same size as patron's: from CUSTOMERS.csv (header with id, points,
** spend_cents; gen.c's file) a customer and an account (tier from spend:
** bronze / silver 50000 / gold 200000) each, an `adjust` ledger entry and a
** lot for opening points, a spend row for opening spend, and a tier_history
** row and a tier_changed event for silver and gold; without the file,
** 20,000 bare customers C00001..C20000 with an account each.
** It then reads every cart, and, timed, commits each one in
** its own BEGIN IMMEDIATE ... COMMIT with prepared statements, writing the
** rows a patron commit writes for that cart:
**   every cart          1 orders row (with the cart text and a receipt-sized
**                       text), 1 order_lines row per line;
**   a named customer    1 ledger row (earn) + 1 lots row, 1 ledger row
**                       (redeem) + 1 lots update when points are asked for,
**                       the account's points update, 1 spend row.
** It does no pricing, no reads, and none of patron's extra rows
** (order_adjustments, the receipt update): it is a floor.
**
** Prints on stdout: "sqlfloor: M commits in S s: R commits/s".
*/
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCUSTOMERS 20000

static sqlite3 *db;

static void die(const char *what) {
  fprintf(stderr, "sqlfloor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  exit(3);
}

static void exec(const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fprintf(stderr, "sqlfloor: %s\n  in: %.80s\n", msg ? msg : "?", sql);
    exit(3);
  }
}

static sqlite3_stmt *prep(const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
    die(sql);
  return st;
}

static void step(sqlite3_stmt *st, const char *what) {
  if (sqlite3_step(st) != SQLITE_DONE) die(what);
  sqlite3_reset(st);
}

static const char *SCHEMA =
    "CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, birthday TEXT,"
    "  created_at INTEGER NOT NULL) STRICT;"
    "CREATE TABLE accounts (program TEXT NOT NULL,"
    "  customer TEXT NOT NULL REFERENCES customers (id),"
    "  points INTEGER NOT NULL DEFAULT 0, tier TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (program, customer)) STRICT;"
    "CREATE INDEX accounts_by_customer ON accounts (customer);"
    "CREATE INDEX accounts_by_tier ON accounts (program, tier);"
    "CREATE TABLE ledger (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,"
    "  program TEXT NOT NULL, customer TEXT NOT NULL, at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('earn','redeem','expire','adjust','reverse')),"
    "  points INTEGER NOT NULL, order_ref TEXT, source TEXT NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)) STRICT;"
    "CREATE INDEX ledger_by_account ON ledger (program, customer, id);"
    "CREATE INDEX ledger_by_customer ON ledger (customer, id);"
    "CREATE INDEX ledger_by_order ON ledger (order_ref) WHERE order_ref IS NOT NULL;"
    "CREATE INDEX ledger_by_time ON ledger (program, at, kind);"
    "CREATE TABLE lots (id INTEGER PRIMARY KEY,"
    "  entry_id INTEGER NOT NULL REFERENCES ledger (id),"
    "  program TEXT NOT NULL, customer TEXT NOT NULL, earned_at INTEGER NOT NULL,"
    "  spendable_at INTEGER NOT NULL, expires_at INTEGER,"
    "  points INTEGER NOT NULL CHECK (points >= 0),"
    "  left INTEGER NOT NULL CHECK (left >= 0 AND left <= points),"
    "  notified INTEGER NOT NULL DEFAULT 0 CHECK (notified IN (0, 1)),"
    "  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)) STRICT;"
    "CREATE INDEX lots_open ON lots (program, customer, expires_at, id) WHERE left > 0;"
    "CREATE INDEX lots_expiring ON lots (expires_at) WHERE left > 0;"
    "CREATE TABLE spend (id INTEGER PRIMARY KEY, program TEXT NOT NULL,"
    "  customer TEXT NOT NULL, at INTEGER NOT NULL, cents INTEGER NOT NULL,"
    "  order_ref TEXT,"
    "  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)) STRICT;"
    "CREATE INDEX spend_by_account ON spend (program, customer, at);"
    "CREATE TABLE tier_history (id INTEGER PRIMARY KEY, program TEXT NOT NULL,"
    "  customer TEXT NOT NULL, at INTEGER NOT NULL, from_tier TEXT NOT NULL,"
    "  to_tier TEXT NOT NULL, spend_cents INTEGER NOT NULL,"
    "  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)) STRICT;"
    "CREATE INDEX tier_history_by_account ON tier_history (program, customer, at);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL, at INTEGER NOT NULL, subject TEXT NOT NULL,"
    "  payload TEXT NOT NULL, delivered_at INTEGER) STRICT;"
    "CREATE INDEX events_pending ON events (id) WHERE delivered_at IS NULL;"
    "CREATE INDEX events_by_type ON events (type, id) WHERE delivered_at IS NULL;"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE,"
    "  program TEXT NOT NULL, customer TEXT REFERENCES customers (id),"
    "  at INTEGER NOT NULL, config_version INTEGER NOT NULL, cart TEXT NOT NULL,"
    "  receipt TEXT NOT NULL, subtotal_cents INTEGER NOT NULL,"
    "  discount_cents INTEGER NOT NULL, shipping_cents INTEGER NOT NULL,"
    "  threshold_cents INTEGER, redeem_points INTEGER NOT NULL,"
    "  redeem_cents INTEGER NOT NULL, total_cents INTEGER NOT NULL,"
    "  points_earned INTEGER NOT NULL, tier TEXT NOT NULL DEFAULT '') STRICT;"
    "CREATE INDEX orders_by_customer ON orders (customer, at);"
    "CREATE INDEX orders_by_time ON orders (program, at);"
    "CREATE TABLE order_lines (order_rowid INTEGER NOT NULL REFERENCES orders (id),"
    "  line_no INTEGER NOT NULL, sku TEXT NOT NULL, category TEXT NOT NULL DEFAULT '',"
    "  qty INTEGER NOT NULL CHECK (qty > 0),"
    "  unit_cents INTEGER NOT NULL CHECK (unit_cents >= 0),"
    "  discount_cents INTEGER NOT NULL CHECK (discount_cents >= 0),"
    "  bundled_units INTEGER NOT NULL DEFAULT 0, redeem_points INTEGER NOT NULL DEFAULT 0,"
    "  redeem_cents INTEGER NOT NULL DEFAULT 0, points_earned INTEGER NOT NULL DEFAULT 0,"
    "  refunded_qty INTEGER NOT NULL DEFAULT 0 CHECK (refunded_qty <= qty),"
    "  PRIMARY KEY (order_rowid, line_no)) STRICT;"
    "CREATE INDEX order_lines_by_sku ON order_lines (sku);";

typedef struct cart {
  char *text;      /* the input line, stored as the order's cart */
  json_t *json;
} cart;

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ULL;
}

static void uuid4(char out[37]) {
  uint64_t a = rnd(), b = rnd();
  snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012" PRIx64, (unsigned)(a >> 32),
           (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
           (unsigned)(0x8000 | (b >> 48 & 0x3fff)), b & UINT64_C(0xffffffffffff));
}

/* Index of name in the comma-separated header, or -1. */
static int column(char *header, const char *name) {
  int i = 0;
  for (char *f = header; f; i++) {
    char *comma = strchr(f, ',');
    size_t n = comma ? (size_t)(comma - f) : strcspn(f, "\r\n");
    if (n == strlen(name) && strncmp(f, name, n) == 0) return i;
    f = comma ? comma + 1 : NULL;
  }
  return -1;
}

/* Field i of a comma-separated row (no quoting: gen.c writes none). */
static const char *field(char *row, int i, char *buf, size_t size) {
  char *f = row;
  for (int k = 0; k < i && f; k++) {
    f = strchr(f, ',');
    if (f) f++;
  }
  if (!f || i < 0) return "";
  size_t n = strcspn(f, ",\r\n");
  if (n >= size) n = size - 1;
  memcpy(buf, f, n);
  buf[n] = 0;
  return buf;
}

/* The customers, accounts and opening balances (see the header comment). */
static void populate(const char *csv) {
  sqlite3_stmt *cu = prep("INSERT INTO customers (id, email, created_at) VALUES (?1, ?2, 0)");
  sqlite3_stmt *ac = prep("INSERT INTO accounts (program, customer, points, tier, "
                          "created_at) VALUES ('default', ?1, ?2, ?3, 0)");
  sqlite3_stmt *led = prep(
      "INSERT INTO ledger (uuid, program, customer, at, kind, points, order_ref, "
      "source, reason) VALUES (?1, 'default', ?2, 0, 'adjust', ?3, 'opening', "
      "'import', 'opening balance from customers.csv')");
  sqlite3_stmt *lot = prep(
      "INSERT INTO lots (entry_id, program, customer, earned_at, spendable_at, "
      "expires_at, points, left) VALUES (?1, 'default', ?2, 0, 0, 31536000, ?3, ?3)");
  sqlite3_stmt *sp = prep("INSERT INTO spend (program, customer, at, cents, order_ref) "
                          "VALUES ('default', ?1, 0, ?2, 'opening')");
  sqlite3_stmt *th = prep(
      "INSERT INTO tier_history (program, customer, at, from_tier, to_tier, "
      "spend_cents) VALUES ('default', ?1, 0, 'bronze', ?2, ?3)");
  sqlite3_stmt *ev = prep(
      "INSERT INTO events (uuid, type, at, subject, payload) "
      "VALUES (?1, 'tier_changed', 0, ?2, ?3)");
  FILE *f = csv ? fopen(csv, "r") : NULL;
  if (csv && !f) {
    fprintf(stderr, "sqlfloor: cannot open %s\n", csv);
    exit(2);
  }
  char *row = NULL;
  size_t cap = 0;
  int cid = -1, cemail = -1, cpoints = -1, cspend = -1;
  if (f) {
    if (getline(&row, &cap, f) <= 0) die("empty customers file");
    cid = column(row, "id");
    cemail = column(row, "email");
    cpoints = column(row, "points");
    cspend = column(row, "spend_cents");
    if (cid < 0) die("customers file has no id column");
  }
  for (int i = 1;; i++) {
    char id[64], email[128], num[32], payload[160];
    int64_t points = 0, spend = 0;
    if (f) {
      if (getline(&row, &cap, f) <= 0) break;
      field(row, cid, id, sizeof id);
      field(row, cemail, email, sizeof email);
      points = strtoll(field(row, cpoints, num, sizeof num), NULL, 10);
      spend = strtoll(field(row, cspend, num, sizeof num), NULL, 10);
    } else {
      if (i > NCUSTOMERS) break;
      snprintf(id, sizeof id, "C%05d", i);
      snprintf(email, sizeof email, "c%05d@example.com", i);
    }
    const char *tier = spend >= 200000 ? "gold" : spend >= 50000 ? "silver" : "bronze";
    sqlite3_bind_text(cu, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(cu, 2, email, -1, SQLITE_STATIC);
    step(cu, "insert customer");
    sqlite3_bind_text(ac, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ac, 2, points);
    sqlite3_bind_text(ac, 3, tier, -1, SQLITE_STATIC);
    step(ac, "insert account");
    if (points > 0) {
      char uuid[37];
      uuid4(uuid);
      sqlite3_bind_text(led, 1, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_text(led, 2, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(led, 3, points);
      step(led, "insert opening entry");
      sqlite3_bind_int64(lot, 1, sqlite3_last_insert_rowid(db));
      sqlite3_bind_text(lot, 2, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(lot, 3, points);
      step(lot, "insert opening lot");
    }
    if (spend > 0) {
      sqlite3_bind_text(sp, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(sp, 2, spend);
      step(sp, "insert opening spend");
    }
    if (strcmp(tier, "bronze") != 0) {
      char uuid[37];
      sqlite3_bind_text(th, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(th, 2, tier, -1, SQLITE_STATIC);
      sqlite3_bind_int64(th, 3, spend);
      step(th, "insert tier history");
      uuid4(uuid);
      snprintf(payload, sizeof payload,
               "{\"program\":\"default\",\"from\":\"bronze\",\"to\":\"%s\","
               "\"spend_cents\":%" PRId64 "}", tier, spend);
      sqlite3_bind_text(ev, 1, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 2, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 3, payload, -1, SQLITE_STATIC);
      step(ev, "insert event");
    }
  }
  free(row);
  if (f) fclose(f);
  sqlite3_stmt *all[] = {cu, ac, led, lot, sp, th, ev};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fputs("usage: sqlfloor DB [CUSTOMERS.csv] < commits.jsonl\n", stderr);
    return 2;
  }
  /* read the carts first: parsing is not what this floor measures */
  size_t n = 0, cap = 0;
  cart *carts = NULL;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, stdin)) > 0) {
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      carts = realloc(carts, cap * sizeof *carts);
      if (!carts) die("out of memory");
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    json_error_t err;
    carts[n].json = json_loadb(line, (size_t)len, 0, &err);
    if (!json_is_object(carts[n].json)) {
      fprintf(stderr, "sqlfloor: line %zu: %s\n", n + 1, err.text);
      return 1;
    }
    carts[n].text = strdup(line);
    n++;
  }
  free(line);

  if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                       SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    die("open");
  sqlite3_busy_timeout(db, 5000);
  exec("PRAGMA foreign_keys = ON");
  exec("PRAGMA journal_mode = WAL");
  exec("PRAGMA synchronous = FULL");
  exec("BEGIN");
  exec(SCHEMA);
  populate(argc > 2 ? argv[2] : NULL);
  exec("COMMIT");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");

  sqlite3_stmt *begin = prep("BEGIN IMMEDIATE"), *commit = prep("COMMIT");
  sqlite3_stmt *ord = prep(
      "INSERT INTO orders (order_id, program, customer, at, config_version, cart, "
      "receipt, subtotal_cents, discount_cents, shipping_cents, threshold_cents, "
      "redeem_points, redeem_cents, total_cents, points_earned, tier) VALUES "
      "(?1, 'default', ?2, ?3, 1, ?4, ?5, ?6, 0, ?7, 5000, ?8, ?8, ?9, ?10, 'bronze')");
  sqlite3_stmt *oline = prep(
      "INSERT INTO order_lines (order_rowid, line_no, sku, category, qty, unit_cents, "
      "discount_cents, bundled_units, redeem_points, redeem_cents, points_earned) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, 0, 0)");
  sqlite3_stmt *led = prep(
      "INSERT INTO ledger (uuid, program, customer, at, kind, points, order_ref, "
      "source, reason) VALUES (?1, 'default', ?2, ?3, ?4, ?5, ?6, 'order', ?7)");
  sqlite3_stmt *lot = prep(
      "INSERT INTO lots (entry_id, program, customer, earned_at, spendable_at, "
      "expires_at, points, left) VALUES (?1, 'default', ?2, ?3, ?3, ?4, ?5, ?5)");
  sqlite3_stmt *take = prep(
      "UPDATE lots SET left = max(left - ?2, 0) WHERE id = (SELECT id FROM lots "
      "WHERE program = 'default' AND customer = ?1 AND left > 0 "
      "ORDER BY expires_at, id LIMIT 1)");
  sqlite3_stmt *acct = prep(
      "UPDATE accounts SET points = points + ?2 WHERE program = 'default' AND customer = ?1");
  sqlite3_stmt *spend = prep(
      "INSERT INTO spend (program, customer, at, cents, order_ref) "
      "VALUES ('default', ?1, ?2, ?3, ?4)");

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int64_t at = 1795435200; /* 2026-11-23T12:00:00Z */
  for (size_t i = 0; i < n; i++) {
    json_t *c = carts[i].json;
    const char *oid = json_string_value(json_object_get(c, "order_id"));
    const char *cust = json_string_value(json_object_get(c, "customer"));
    json_int_t redeem = json_integer_value(json_object_get(c, "redeem_points"));
    json_t *lines = json_object_get(c, "lines"), *l;
    size_t k;
    json_int_t subtotal = 0;
    json_array_foreach(lines, k, l) subtotal +=
        json_integer_value(json_object_get(l, "qty")) *
        json_integer_value(json_object_get(l, "unit_cents"));
    json_int_t shipping = subtotal >= 5000 ? 0 : 499;
    json_int_t rcents = redeem < subtotal / 2 ? redeem : subtotal / 2;
    json_int_t total = subtotal + shipping - rcents;
    json_int_t earned = cust ? (subtotal - rcents) / 100 : 0;
    at++;

    step(begin, "begin");
    sqlite3_bind_text(ord, 1, oid ? oid : "", -1, SQLITE_STATIC);
    if (cust) sqlite3_bind_text(ord, 2, cust, -1, SQLITE_STATIC);
    else sqlite3_bind_null(ord, 2);
    sqlite3_bind_int64(ord, 3, at);
    sqlite3_bind_text(ord, 4, carts[i].text, -1, SQLITE_STATIC);
    /* a receipt is about 2.6 times the size of its cart */
    size_t clen = strlen(carts[i].text);
    char *receipt = malloc(clen * 26 / 10 + 1);
    if (!receipt) die("out of memory");
    for (size_t j = 0; j < clen * 26 / 10; j++) receipt[j] = carts[i].text[j % clen];
    receipt[clen * 26 / 10] = 0;
    sqlite3_bind_text(ord, 5, receipt, -1, free);
    sqlite3_bind_int64(ord, 6, subtotal);
    sqlite3_bind_int64(ord, 7, shipping);
    sqlite3_bind_int64(ord, 8, rcents);
    sqlite3_bind_int64(ord, 9, total);
    sqlite3_bind_int64(ord, 10, earned);
    step(ord, "insert order");
    sqlite3_int64 rowid = sqlite3_last_insert_rowid(db);
    json_array_foreach(lines, k, l) {
      sqlite3_bind_int64(oline, 1, rowid);
      sqlite3_bind_int64(oline, 2, (sqlite3_int64)k);
      const char *sku = json_string_value(json_object_get(l, "sku"));
      const char *cat = json_string_value(json_object_get(l, "category"));
      sqlite3_bind_text(oline, 3, sku ? sku : "", -1, SQLITE_STATIC);
      sqlite3_bind_text(oline, 4, cat ? cat : "", -1, SQLITE_STATIC);
      sqlite3_bind_int64(oline, 5, json_integer_value(json_object_get(l, "qty")));
      sqlite3_bind_int64(oline, 6, json_integer_value(json_object_get(l, "unit_cents")));
      step(oline, "insert order line");
    }
    if (cust) {
      char uuid[37], why[96];
      if (rcents > 0) {
        sqlite3_bind_text(take, 1, cust, -1, SQLITE_STATIC);
        sqlite3_bind_int64(take, 2, rcents);
        step(take, "take from lots");
        uuid4(uuid);
        snprintf(why, sizeof why, "redeemed on order %s", oid ? oid : "");
        sqlite3_bind_text(led, 1, uuid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(led, 2, cust, -1, SQLITE_STATIC);
        sqlite3_bind_int64(led, 3, at);
        sqlite3_bind_text(led, 4, "redeem", -1, SQLITE_STATIC);
        sqlite3_bind_int64(led, 5, -rcents);
        sqlite3_bind_text(led, 6, oid ? oid : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(led, 7, why, -1, SQLITE_TRANSIENT);
        step(led, "insert redeem entry");
      }
      if (earned > 0) {
        uuid4(uuid);
        snprintf(why, sizeof why, "earned on order %s", oid ? oid : "");
        sqlite3_bind_text(led, 1, uuid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(led, 2, cust, -1, SQLITE_STATIC);
        sqlite3_bind_int64(led, 3, at);
        sqlite3_bind_text(led, 4, "earn", -1, SQLITE_STATIC);
        sqlite3_bind_int64(led, 5, earned);
        sqlite3_bind_text(led, 6, oid ? oid : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(led, 7, why, -1, SQLITE_TRANSIENT);
        step(led, "insert earn entry");
        sqlite3_bind_int64(lot, 1, sqlite3_last_insert_rowid(db));
        sqlite3_bind_text(lot, 2, cust, -1, SQLITE_STATIC);
        sqlite3_bind_int64(lot, 3, at);
        sqlite3_bind_int64(lot, 4, at + 365 * 86400);
        sqlite3_bind_int64(lot, 5, earned);
        step(lot, "insert lot");
      }
      sqlite3_bind_text(acct, 1, cust, -1, SQLITE_STATIC);
      sqlite3_bind_int64(acct, 2, earned - rcents);
      step(acct, "update account");
      sqlite3_bind_text(spend, 1, cust, -1, SQLITE_STATIC);
      sqlite3_bind_int64(spend, 2, at);
      sqlite3_bind_int64(spend, 3, subtotal - rcents);
      sqlite3_bind_text(spend, 4, oid ? oid : "", -1, SQLITE_STATIC);
      step(spend, "insert spend");
    }
    step(commit, "commit");
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sqlfloor: %zu commits in %.3f s: %.0f commits/s\n", n, s, s > 0 ? (double)n / s : 0.0);

  sqlite3_stmt *all[] = {begin, commit, ord, oline, led, lot, take, acct, spend};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
  if (sqlite3_close(db) != SQLITE_OK) die("close");
  for (size_t i = 0; i < n; i++) {
    json_decref(carts[i].json);
    free(carts[i].text);
  }
  free(carts);
  return 0;
}
