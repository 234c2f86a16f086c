/* test_import.c -- catalog and customers import (core/import.c): happy paths
** with their counts, upserts, header errors, every field check with its
** exact message and path, duplicate keys, all or nothing, opening balances
** given once, progress and cancel, 50,000 rows, and the demo shop's files.
** Runs in a fresh temporary folder; the repo root is $PATRON_TEST_ROOT (or
** the folder the test was started in). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "t.h"

#define NOW INT64_C(1795435200) /* 2026-11-23T12:00:00Z */
static char root[4096];

static int64_t fixed_clock(void *ud) {
  (void)ud;
  return NOW;
}

static patron *fresh(const char *db) {
  char name[256];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "%s%s", db, suffix[i]);
    remove(name);
  }
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = fixed_clock;
  patron *p = NULL;
  int rc = patron_open(&p, db, &o);
  CHECK_EQ_I64(rc, PATRON_OK);
  if (rc) printf("#   open: %s\n", patron_errmsg(p));
  return p;
}

static void write_file(const char *name, const char *text) {
  FILE *f = fopen(name, "wb");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static int64_t q_int(patron *p, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t v = -999;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
  else
    printf("#   query failed: %s: %s\n", sql, sqlite3_errmsg(p->db));
  sqlite3_finalize(st);
  return v;
}

/* first column of the first row as text ("(null)" for NULL, "(none)" if no
** row); buf is returned */
static const char *q_text(patron *p, const char *sql, char *buf, size_t size) {
  sqlite3_stmt *st = NULL;
  snprintf(buf, size, "(none)");
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, size, "%s", t ? (const char *)t : "(null)");
  }
  sqlite3_finalize(st);
  return buf;
}

#define CATALOG_DUMP                                                         \
  "SELECT group_concat(r, ';') FROM (SELECT sku || '|' || name || '|' || "   \
  "coalesce(price_cents, 'N') || '|' || category || '|' || popularity || "   \
  "'|' || coalesce(cost_cents, 'N') || '|' || tags AS r FROM catalog "      \
  "ORDER BY sku)"

static const char *catalog_dump(patron *p) {
  static char buf[8192];
  return q_text(p, CATALOG_DUMP, buf, sizeof buf);
}

#define CAT_HEADER "sku,name,price_cents,category,popularity,cost_cents,tags\n"

/* ---- catalog ------------------------------------------------------------ */

TEST(catalog_happy_path) {
  patron *p = fresh("t_cat.db");
  write_file("catalog.csv", CAT_HEADER
             "MP3-01,\"Player, 8 GB\",4999,mp3,10,2500,music;portable\r\n"
             "HP-07,Headphones,2999,headphones,-2,,\r\n"
             "\r\n"
             "MUG-01,\"The \"\"big\"\" mug\",,mugs,,,\r\n");
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK_EQ_I64(r.rows, 3);
  CHECK_EQ_I64(r.inserted, 3);
  CHECK_EQ_I64(r.updated, 0);
  CHECK_EQ_I64(r.opening_skipped, 0);
  CHECK_STR(catalog_dump(p),
            "HP-07|Headphones|2999|headphones|-2|N|;"
            "MP3-01|Player, 8 GB|4999|mp3|10|2500|music;portable;"
            "MUG-01|The \"big\" mug|N|mugs|0|N|");
  patron_close(p);
}

TEST(catalog_header_by_name_any_order_and_case) {
  patron *p = fresh("t_cat.db");
  write_file("catalog.csv", "\xEF\xBB\xBF Price_Cents ,\tSKU,CATEGORY\n100,A-1,coffee\n");
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted, 1);
  CHECK_STR(catalog_dump(p), "A-1||100|coffee|0|N|"); /* sku is column 2 */
  patron_close(p);
  p = fresh("t_cat.db");
  write_file("catalog.csv", "sku\nA-1\nA-2\n"); /* only the key */
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted, 2);
  CHECK_STR(catalog_dump(p), "A-1||N||0|N|;A-2||N||0|N|");
  patron_close(p);
}

TEST(catalog_limits_accepted) {
  patron *p = fresh("t_cat.db");
  char text[512], sku[65];
  memset(sku, 'K', 64);
  sku[64] = 0;
  snprintf(text, sizeof text,
           "sku,price_cents,popularity,name\n%s,9223372036854775807,"
           "-9223372036854775808,caf\xC3\xA9 \xE2\x82\xAC\n", sku);
  write_file("catalog.csv", text);
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted, 1);
  CHECK_EQ_I64(q_int(p, "SELECT price_cents FROM catalog"), INT64_MAX);
  CHECK_EQ_I64(q_int(p, "SELECT popularity FROM catalog"), INT64_MIN);
  CHECK_EQ_I64(q_int(p, "SELECT length(sku) FROM catalog"), 64);
  patron_close(p);
}

TEST(catalog_upsert_counts) {
  patron *p = fresh("t_cat.db");
  const char *first = CAT_HEADER
      "MP3-01,Player,4999,mp3,10,2500,music\n"
      "HP-07,Headphones,2999,headphones,5,1500,\n"
      "MUG-01,Mug,999,mugs,1,,\n";
  write_file("catalog.csv", first);
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted, 3);
  /* the same file again: nothing changes */
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.rows, 3);
  CHECK_EQ_I64(r.inserted, 0);
  CHECK_EQ_I64(r.updated, 0);
  /* a price list: absent columns and empty fields keep what is stored */
  write_file("prices.csv", "sku,price_cents,name\n"
             "MP3-01,4999,\n"      /* identical price, name not given */
             "HP-07,2799,\n"       /* new price */
             "COF-01,899,Beans\n"  /* new product */
             "MUG-01,,\n");        /* nothing given */
  CHECK_EQ_I64(patron_import_catalog(p, &r, "prices.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.rows, 4);
  CHECK_EQ_I64(r.inserted, 1);
  CHECK_EQ_I64(r.updated, 1);
  CHECK_STR(catalog_dump(p),
            "COF-01|Beans|899||0|N|;"
            "HP-07|Headphones|2799|headphones|5|1500|;"
            "MP3-01|Player|4999|mp3|10|2500|music;"
            "MUG-01|Mug|999|mugs|1|N|");
  /* the first file again: HP-07's price goes back, the rest is identical */
  write_file("catalog.csv", first);
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted, 0);
  CHECK_EQ_I64(r.updated, 1);
  CHECK_EQ_I64(q_int(p, "SELECT price_cents FROM catalog WHERE sku = 'HP-07'"), 2999);
  /* every column, one at a time, counts as a change */
  const char *changes[] = {
      CAT_HEADER "MUG-01,Mug 2,999,mugs,1,,\n", CAT_HEADER "MUG-01,Mug,998,mugs,1,,\n",
      CAT_HEADER "MUG-01,Mug,999,cups,1,,\n",   CAT_HEADER "MUG-01,Mug,999,cups,2,,\n",
      CAT_HEADER "MUG-01,Mug,999,cups,2,1,\n",  CAT_HEADER "MUG-01,Mug,999,cups,2,1,x\n"};
  for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
    write_file("one.csv", changes[i]);
    CHECK_EQ_I64(patron_import_catalog(p, &r, "one.csv", NULL, NULL), PATRON_OK);
    if (r.updated != 1) printf("#   change %zu not counted\n", i);
    CHECK_EQ_I64(r.updated, 1);
  }
  patron_close(p);
}

TEST(catalog_missing_file) {
  patron *p = fresh("t_cat.db");
  patron_import_result r = {7, 7, 7, 7};
  CHECK_EQ_I64(patron_import_catalog(p, &r, "no-such.csv", NULL, NULL), PATRON_IO);
  CHECK_STR(patron_errmsg(p), "cannot open no-such.csv: No such file or directory");
  CHECK_EQ_I64(r.rows + r.inserted + r.updated + r.opening_skipped, 0);
  CHECK_EQ_I64(patron_import_catalog(p, &r, NULL, NULL, NULL), PATRON_MISUSE);
  /* a folder opens but cannot be read */
  mkdir("adir.csv", 0777);
  CHECK_EQ_I64(patron_import_catalog(p, &r, "adir.csv", NULL, NULL), PATRON_IO);
  CHECK_STR(patron_errmsg(p), "adir.csv: read error: Is a directory");
  CHECK_EQ_I64(p->txn_depth, 0);
  patron_close(p);
}

typedef struct bad_case {
  const char *text;   /* the whole file */
  const char *msg;    /* exact handle message */
  const char *path;   /* exact handle path */
} bad_case;

#define ALLOWED_CAT "sku, name, price_cents, category, popularity, cost_cents, tags"
#define ALLOWED_CUS "id, email, birthday, program, points, spend_cents"
#define GOOD CAT_HEADER "A-1,Player,4999,mp3,5,2500,new\n"
#define K65 "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"

static const bad_case catalog_bad[] = {
    {GOOD "A-2,X,12.5,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got '12.5'",
     "line 3, price_cents"},
    {GOOD "A-2,X,-1,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got '-1'",
     "line 3, price_cents"},
    {GOOD "A-2,X, 5,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got ' 5'",
     "line 3, price_cents"},
    {GOOD "A-2,X,5 ,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got '5 '",
     "line 3, price_cents"},
    {GOOD "A-2,X,+5,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got '+5'",
     "line 3, price_cents"},
    {GOOD "A-2,X,1e3,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got '1e3'",
     "line 3, price_cents"},
    {GOOD "A-2,X,9223372036854775808,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got "
     "'9223372036854775808' (out of range)",
     "line 3, price_cents"},
    {GOOD "A-2,X,99999999999999999999999,mp3,1,,\n",
     "catalog.csv:3: price_cents: expected a non-negative integer, got "
     "'99999999999999999999999' (out of range)",
     "line 3, price_cents"},
    {GOOD "A-2,X,1,mp3,--3,,\n",
     "catalog.csv:3: popularity: expected an integer, got '--3'", "line 3, popularity"},
    {GOOD "A-2,X,1,mp3,-,,\n",
     "catalog.csv:3: popularity: expected an integer, got '-'", "line 3, popularity"},
    {GOOD "A-2,X,1,mp3,-9223372036854775809,,\n",
     "catalog.csv:3: popularity: expected an integer, got '-9223372036854775809' "
     "(out of range)",
     "line 3, popularity"},
    {GOOD "A-2,X,1,mp3,1,1.50,\n",
     "catalog.csv:3: cost_cents: expected a non-negative integer, got '1.50'",
     "line 3, cost_cents"},
    {GOOD ",X,1,mp3,1,,\n", "catalog.csv:3: sku: required, got an empty field",
     "line 3, sku"},
    {GOOD K65 ",X,1,mp3,1,,\n",
     "catalog.csv:3: sku: at most 64 bytes, got 65 "
     "('KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK...')",
     "line 3, sku"},
    {GOOD "\"A\t2\",X,1,mp3,1,,\n",
     "catalog.csv:3: sku: control character 0x09 at byte 2 (line breaks and tabs "
     "are not allowed)",
     "line 3, sku"},
    {GOOD " A-2,X,1,mp3,1,,\n",
     "catalog.csv:3: sku: must not begin or end with a space, got ' A-2'", "line 3, sku"},
    {GOOD "A-2,\xFF\xFE,1,mp3,1,,\n",
     "catalog.csv:3: name: not valid UTF-8 (byte 1); save the file as UTF-8",
     "line 3, name"},
    {GOOD "A-2,ok\xED\xA0\x80,1,mp3,1,,\n", /* a UTF-16 surrogate */
     "catalog.csv:3: name: not valid UTF-8 (byte 3); save the file as UTF-8",
     "line 3, name"},
    {GOOD "A-2,\xC0\xAF,1,mp3,1,,\n", /* overlong '/' */
     "catalog.csv:3: name: not valid UTF-8 (byte 1); save the file as UTF-8",
     "line 3, name"},
    {GOOD "A-2,\"two\nlines\",1,mp3,1,,\n",
     "catalog.csv:3: name: control character 0x0A at byte 4 (line breaks and tabs "
     "are not allowed)",
     "line 3, name"},
    {GOOD "A-2,X,1,\"mp3\r\",1,,\n",
     "catalog.csv:3: category: control character 0x0D at byte 4 (line breaks and "
     "tabs are not allowed)",
     "line 3, category"},
    {GOOD "A-2,X,1,mp3,1,,\"a\x7F\"\n",
     "catalog.csv:3: tags: control character 0x7F at byte 2 (line breaks and tabs "
     "are not allowed)",
     "line 3, tags"},
    {GOOD "\n\nA-1,Again,1,mp3,1,,\n",
     "catalog.csv:5: sku: duplicate 'A-1' (first on line 2)", "line 5, sku"},
    {GOOD "A-2,X,1\n", "catalog.csv:3: expected 7 fields as in the header, got 3",
     "line 3"},
    {GOOD "A-2,X,1,mp3,1,,,\n", "catalog.csv:3: expected 7 fields as in the header, got 8",
     "line 3"},
    {GOOD "A-2,\"X,1,mp3,1,,\n", "catalog.csv:3: unterminated quoted field", "line 3"},
    {GOOD "A-2,X\"Y,1,mp3,1,,\n",
     "catalog.csv:3: stray quote in unquoted field 2 (quote the whole field and "
     "double the quotes inside)",
     "line 3"},
    /* headers */
    {"sku,prize_cents\nA,1\n",
     "catalog.csv:1: unknown column 'prize_cents'; allowed columns: " ALLOWED_CAT,
     "line 1, prize_cents"},
    {"sku,name,SKU\n",
     "catalog.csv:1: duplicate column 'sku' (columns 1 and 3); allowed columns: " ALLOWED_CAT,
     "line 1, sku"},
    {"name,price_cents\nX,1\n",
     "catalog.csv:1: the header has no 'sku' column, which is required; allowed "
     "columns: " ALLOWED_CAT,
     "line 1, sku"},
    {"sku,,name\n",
     "catalog.csv:1: column 2 of the header has no name; allowed columns: " ALLOWED_CAT,
     "line 1"},
    {"\n\nsku,id\n",
     "catalog.csv:3: unknown column 'id'; allowed columns: " ALLOWED_CAT, "line 3, id"},
    {"", "catalog.csv: empty file; expected a header line naming the columns "
         "(allowed: " ALLOWED_CAT ")",
     "line 1"},
    {"\xEF\xBB\xBF\r\n", "catalog.csv: empty file; expected a header line naming the "
                         "columns (allowed: " ALLOWED_CAT ")",
     "line 1"},
};

TEST(catalog_every_error) {
  patron *p = fresh("t_cat.db");
  mkdir("sub", 0777);
  for (size_t i = 0; i < sizeof catalog_bad / sizeof catalog_bad[0]; i++) {
    const bad_case *c = &catalog_bad[i];
    write_file("sub/catalog.csv", c->text);
    patron_import_result r = {7, 7, 7, 7};
    int rc = patron_import_catalog(p, &r, "sub/catalog.csv", NULL, NULL);
    if (rc != PATRON_INVALID_INPUT || strcmp(patron_errmsg(p), c->msg) ||
        strcmp(patron_errpath(p), c->path))
      printf("#   case %zu\n", i);
    CHECK_EQ_I64(rc, PATRON_INVALID_INPUT);
    CHECK_STR(patron_errmsg(p), c->msg);
    CHECK_STR(patron_errpath(p), c->path);
    CHECK_EQ_I64(r.rows + r.inserted + r.updated, 0);
    /* all or nothing: not even the good first row */
    CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog"), 0);
    /* the handle is usable and not left inside a transaction */
    CHECK_EQ_I64(p->txn_depth, 0);
    CHECK(sqlite3_get_autocommit(p->db));
  }
  patron_close(p);
}

TEST(catalog_all_or_nothing_keeps_table) {
  patron *p = fresh("t_cat.db");
  write_file("catalog.csv", CAT_HEADER
             "MP3-01,Player,4999,mp3,10,2500,music\n"
             "HP-07,Headphones,2999,headphones,5,1500,\n");
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "catalog.csv", NULL, NULL), PATRON_OK);
  char before[8192];
  snprintf(before, sizeof before, "%s", catalog_dump(p));
  /* many good rows (updates and inserts), then a bad one at the very end */
  FILE *f = fopen("update.csv", "w");
  fputs(CAT_HEADER "MP3-01,Player 2,5999,mp3,11,2600,music\n", f);
  for (int i = 0; i < 3000; i++) fprintf(f, "GEN-%d,Thing %d,%d,misc,%d,,\n", i, i, i, i);
  fputs("HP-07,Headphones,29.99,headphones,5,1500,\n", f);
  fclose(f);
  CHECK_EQ_I64(patron_import_catalog(p, &r, "update.csv", NULL, NULL), PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p),
            "update.csv:3003: price_cents: expected a non-negative integer, got '29.99'");
  CHECK_STR(patron_errpath(p), "line 3003, price_cents");
  CHECK_STR(catalog_dump(p), before);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog"), 2);
  char buf[64];
  CHECK_STR(q_text(p, "PRAGMA integrity_check", buf, sizeof buf), "ok");
  patron_close(p);
}

typedef struct progress_log {
  int calls;
  int cancel_at;          /* cancel on this call (1-based), 0: never */
  int64_t last_done, last_total;
  int monotonic;
} progress_log;

static int on_progress(void *ud, int64_t done, int64_t total) {
  progress_log *l = ud;
  l->calls++;
  if (done < l->last_done || done > total) l->monotonic = 0;
  l->last_done = done;
  l->last_total = total;
  return l->cancel_at && l->calls == l->cancel_at;
}

static long write_generated(const char *name, int n) {
  FILE *f = fopen(name, "w");
  fputs(CAT_HEADER, f);
  for (int i = 0; i < n; i++)
    fprintf(f, "SKU-%07d,\"Product %d, size %d\",%d,cat%d,%d,%d,t%d;t%d\n", i, i,
            i % 5, 100 + i, i % 12, i % 1000, 50 + i, i % 7, i % 3);
  long size = ftell(f);
  fclose(f);
  return size;
}

TEST(progress_and_cancel) {
  patron *p = fresh("t_cat.db");
  long size = write_generated("gen.csv", 2500);
  patron_import_result r;
  progress_log l = {0, 0, 0, 0, 1};
  CHECK_EQ_I64(patron_import_catalog(p, &r, "gen.csv", on_progress, &l), PATRON_OK);
  CHECK_EQ_I64(l.calls, 3); /* rows 1000, 2000 and the end */
  CHECK_EQ_I64(l.last_done, size);
  CHECK_EQ_I64(l.last_total, size);
  CHECK(l.monotonic);
  CHECK_EQ_I64(r.inserted, 2500);

  /* cancel on the second call (after row 2000, on line 2001) */
  p = (patron_close(p), fresh("t_cat.db"));
  progress_log c = {0, 2, 0, 0, 1};
  r.rows = 5;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "gen.csv", on_progress, &c), PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p), "import canceled at line 2001");
  CHECK_STR(patron_errpath(p), "line 2001");
  CHECK_EQ_I64(c.calls, 2);
  CHECK_EQ_I64(r.rows, 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog"), 0);

  /* cancel at the very end: still nothing */
  progress_log e = {0, 3, 0, 0, 1};
  CHECK_EQ_I64(patron_import_catalog(p, &r, "gen.csv", on_progress, &e), PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p), "import canceled at line 2501");
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog"), 0);

  /* a small file gets the final call only */
  write_file("small.csv", "sku\nA\n");
  progress_log s = {0, 0, 0, 0, 1};
  CHECK_EQ_I64(patron_import_catalog(p, &r, "small.csv", on_progress, &s), PATRON_OK);
  CHECK_EQ_I64(s.calls, 1);
  CHECK_EQ_I64(s.last_done, 6);
  CHECK_EQ_I64(s.last_total, 6);
  patron_close(p);
}

TEST(catalog_50000_rows) {
  patron *p = fresh("t_big.db");
  write_generated("big.csv", 50000);
  patron_import_result r;
  clock_t t0 = clock();
  CHECK_EQ_I64(patron_import_catalog(p, &r, "big.csv", NULL, NULL), PATRON_OK);
  double ms = (double)(clock() - t0) * 1000.0 / CLOCKS_PER_SEC;
  printf("# 50000 rows imported in %.0f ms (cpu)\n", ms);
  CHECK_EQ_I64(r.rows, 50000);
  CHECK_EQ_I64(r.inserted, 50000);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog"), 50000);
  char buf[256];
  CHECK_STR(q_text(p, "SELECT name || '/' || price_cents || '/' || tags FROM catalog "
                      "WHERE sku = 'SKU-0049999'", buf, sizeof buf),
            "Product 49999, size 4/50099/t5;t1");
  t0 = clock();
  CHECK_EQ_I64(patron_import_catalog(p, &r, "big.csv", NULL, NULL), PATRON_OK);
  printf("# 50000 unchanged rows re-imported in %.0f ms (cpu)\n",
         (double)(clock() - t0) * 1000.0 / CLOCKS_PER_SEC);
  CHECK_EQ_I64(r.inserted + r.updated, 0);
  patron_close(p);
}

/* ---- customers ---------------------------------------------------------- */

static const char shop_lua[] =
    "shop { currency = \"EUR\", timezone = \"Europe/Helsinki\" }\n"
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1, on = \"paid\", pending_days = 14 },\n"
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 500, max_share_bp = 5000 },\n"
    "  expiry = { months = 12 },\n"
    "  tiers = { { name = \"bronze\", from_cents = 0, multiplier_bp = 10000 },\n"
    "            { name = \"silver\", from_cents = 50000, multiplier_bp = 12500 },\n"
    "            { name = \"gold\",   from_cents = 200000, multiplier_bp = 15000 } },\n"
    "  tier_window = { months = 12 },\n"
    "}\n"
    "program \"coffee-club\" {\n"
    "  earn = { points_per_unit = 2, on = \"paid\", pending_days = 0 },\n"
    "  value = { points = 100, cents = 100 },\n"
    "  redeem = { min_points = 100, max_share_bp = 10000 },\n"
    "  expiry = { months = 6 },\n"
    "}\n";

static patron *fresh_with_config(const char *db) {
  patron *p = fresh(db);
  patron_apply_result ar;
  int rc = patron_apply_buffer(p, &ar, "shop.lua", shop_lua, sizeof shop_lua - 1);
  CHECK_EQ_I64(rc, PATRON_OK);
  if (rc) printf("#   apply: %s\n", patron_errmsg(p));
  return p;
}

static int64_t points_of(patron *p, const char *customer, const char *program,
                         char *tier, int64_t *qualifying) {
  patron_balance_info b;
  memset(&b, 0, sizeof b);
  int rc = patron_balance(p, &b, customer, program);
  if (rc) {
    printf("#   balance %s: %s\n", customer, patron_errmsg(p));
    return -999;
  }
  if (tier) strcpy(tier, b.tier);
  if (qualifying) *qualifying = b.qualifying_cents;
  return b.points;
}

TEST(customers_without_config) {
  patron *p = fresh("t_cus.db");
  write_file("customers.csv", "id,email,birthday\n"
             "C1,ann@example.com,1990-05-01\n"
             "C2,bob@example.com,\n"
             "C3,,02-29\n");
  patron_import_result r;
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK_EQ_I64(r.rows, 3);
  CHECK_EQ_I64(r.inserted, 3);
  char buf[512];
  CHECK_STR(q_text(p, "SELECT group_concat(id || '|' || coalesce(email, 'N') || '|' || "
                      "coalesce(birthday, 'N') || '|' || created_at, ';') FROM "
                      "(SELECT * FROM customers ORDER BY id)", buf, sizeof buf),
            "C1|ann@example.com|1990-05-01|1795435200;C2|bob@example.com|N|1795435200;"
            "C3|N|02-29|1795435200");
  /* empty fields keep stored values; only real changes count */
  write_file("customers.csv", "ID,Birthday,Email\n"
             "C1,,\n"
             "C2,12-24,bob@example.com\n"
             "C3,02-29,\n"
             "C4,,dan@example.com\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.rows, 4);
  CHECK_EQ_I64(r.inserted, 1);
  CHECK_EQ_I64(r.updated, 1);
  CHECK_STR(q_text(p, "SELECT group_concat(id || '|' || coalesce(email, 'N') || '|' || "
                      "coalesce(birthday, 'N'), ';') FROM "
                      "(SELECT * FROM customers ORDER BY id)", buf, sizeof buf),
            "C1|ann@example.com|1990-05-01;C2|bob@example.com|12-24;C3|N|02-29;"
            "C4|dan@example.com|N");
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM accounts"), 0);
  patron_close(p);
}

TEST(customers_balances_need_config) {
  const char *files[] = {"id,points\nC1,100\n", "id,email,program\nC1,a@b.c,default\n",
                         "id,spend_cents,points\nC1,1,1\n"};
  const char *msgs[] = {
      "customers.csv: the points column needs a shop configuration; run `patron "
      "apply shop.lua` first (a file with only id, email and birthday imports "
      "without one)",
      "customers.csv: the program column needs a shop configuration; run `patron "
      "apply shop.lua` first (a file with only id, email and birthday imports "
      "without one)",
      "customers.csv: the points, spend_cents columns need a shop configuration; "
      "run `patron apply shop.lua` first (a file with only id, email and birthday "
      "imports without one)"};
  patron *p = fresh("t_cus.db");
  for (int i = 0; i < 3; i++) {
    write_file("customers.csv", files[i]);
    patron_import_result r;
    CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL), PATRON_NO_CONFIG);
    CHECK_STR(patron_errmsg(p), msgs[i]);
    CHECK_STR(patron_errpath(p), "line 1");
    CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM customers"), 0);
  }
  patron_close(p);
}

static const bad_case customer_bad[] = {
    {"id,email\nC1,a@x.io\nC2,bob\n",
     "customers.csv:3: email: expected an address like name@example.com, got 'bob'",
     "line 3, email"},
    {"id,email\nC1,a@x.io\nC2,@x.io\n",
     "customers.csv:3: email: expected an address like name@example.com, got '@x.io'",
     "line 3, email"},
    {"id,email\nC1,a@x.io\nC2,bob@\n",
     "customers.csv:3: email: expected an address like name@example.com, got 'bob@'",
     "line 3, email"},
    {"id,email\nC1,a@x.io\nC2,a@b@c\n",
     "customers.csv:3: email: expected an address like name@example.com, got 'a@b@c'",
     "line 3, email"},
    {"id,email\nC1,a@x.io\nC2,a b@c.d\n",
     "customers.csv:3: email: expected an address like name@example.com, got 'a b@c.d'",
     "line 3, email"},
    {"id,birthday\nC1,2024-02-29\nC2,2023-02-29\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '2023-02-29'",
     "line 3, birthday"},
    {"id,birthday\nC1,02-29\nC2,02-30\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '02-30'",
     "line 3, birthday"},
    {"id,birthday\nC1,12-31\nC2,13-01\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '13-01'",
     "line 3, birthday"},
    {"id,birthday\nC1,1900-04-30\nC2,1990-04-31\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '1990-04-31'",
     "line 3, birthday"},
    {"id,birthday\nC1,01-01\nC2,00-10\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '00-10'",
     "line 3, birthday"},
    {"id,birthday\nC1,01-01\nC2,1990/01/01\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '1990/01/01'",
     "line 3, birthday"},
    {"id,birthday\nC1,01-01\nC2,1-1\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '1-1'",
     "line 3, birthday"},
    {"id,birthday\nC1,01-01\nC2,0000-01-01\n",
     "customers.csv:3: birthday: expected a date as YYYY-MM-DD or MM-DD, got '0000-01-01'",
     "line 3, birthday"},
    {"id\nC1\nC2\nC1\n", "customers.csv:4: id: duplicate 'C1' (first on line 2)",
     "line 4, id"},
    {"id\nC1\n\"\"\n", "customers.csv:3: id: required, got an empty field", "line 3, id"},
    {"id,email\nC1,a@x.io\nC2\n",
     "customers.csv:3: expected 2 fields as in the header, got 1", "line 3"},
    {"id,points,tier\n",
     "customers.csv:1: unknown column 'tier'; allowed columns: " ALLOWED_CUS,
     "line 1, tier"},
    {"email\na@b.c\n",
     "customers.csv:1: the header has no 'id' column, which is required; allowed "
     "columns: " ALLOWED_CUS,
     "line 1, id"},
};

TEST(customers_every_error) {
  patron *p = fresh("t_cus.db");
  for (size_t i = 0; i < sizeof customer_bad / sizeof customer_bad[0]; i++) {
    const bad_case *c = &customer_bad[i];
    write_file("customers.csv", c->text);
    patron_import_result r;
    int rc = patron_import_customers(p, &r, "customers.csv", NULL, NULL);
    if (rc != PATRON_INVALID_INPUT || strcmp(patron_errmsg(p), c->msg))
      printf("#   case %zu\n", i);
    CHECK_EQ_I64(rc, PATRON_INVALID_INPUT);
    CHECK_STR(patron_errmsg(p), c->msg);
    CHECK_STR(patron_errpath(p), c->path);
    CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM customers"), 0);
  }
  patron_close(p);
}

TEST(customers_opening_balances_once) {
  patron *p = fresh_with_config("t_open.db");
  write_file("customers.csv", "id,email,program,points,spend_cents\n"
             "C1,ann@example.com,,1500,60000\n"  /* default program, silver */
             "C2,,default,0,250000\n"            /* spend only: gold */
             "C3,,,,\n"                          /* no account */
             "C4,,coffee-club,200,\n"
             "C5,,coffee-club,,\n");              /* enrolled, no balance */
  patron_import_result r;
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK_EQ_I64(r.rows, 5);
  CHECK_EQ_I64(r.inserted, 5);
  CHECK_EQ_I64(r.opening_skipped, 0);
  char tier[64] = "?", buf[256];
  int64_t q = -1;
  CHECK_EQ_I64(points_of(p, "C1", NULL, tier, &q), 1500);
  CHECK_STR(tier, "silver");
  CHECK_EQ_I64(q, 60000);
  CHECK_EQ_I64(points_of(p, "C2", "default", tier, &q), 0);
  CHECK_STR(tier, "gold");
  CHECK_EQ_I64(q, 250000);
  CHECK_EQ_I64(points_of(p, "C4", "coffee-club", NULL, NULL), 200);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM accounts"), 4);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM accounts WHERE customer = 'C3'"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM accounts WHERE customer = 'C5' AND "
                        "program = 'coffee-club'"), 1);
  CHECK_STR(q_text(p, "SELECT kind || '|' || points || '|' || source || '|' || reason || "
                      "'|' || at FROM ledger WHERE customer = 'C1'", buf, sizeof buf),
            "adjust|1500|import|opening balance from customers.csv|1795435200");
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM ledger WHERE order_ref = 'opening'"), 2);

  /* the same file again: no balance doubles, spend-only included */
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.rows, 5);
  CHECK_EQ_I64(r.inserted, 0);
  CHECK_EQ_I64(r.updated, 0);
  CHECK_EQ_I64(r.opening_skipped, 3);
  CHECK_EQ_I64(points_of(p, "C1", NULL, tier, &q), 1500);
  CHECK_EQ_I64(q, 60000);
  CHECK_EQ_I64(points_of(p, "C2", NULL, tier, &q), 0);
  CHECK_EQ_I64(q, 250000);
  CHECK_EQ_I64(points_of(p, "C4", "coffee-club", NULL, NULL), 200);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM ledger"), 2);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM spend"), 2);

  /* a later file with other numbers does not give a second opening either,
  ** but a new program for the same customer does */
  write_file("again.csv", "id,program,points,spend_cents\n"
             "C1,,9999,\n"
             "C2,coffee-club,50,\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "again.csv", NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.opening_skipped, 1);
  CHECK_EQ_I64(points_of(p, "C1", NULL, NULL, NULL), 1500);
  CHECK_EQ_I64(points_of(p, "C2", "coffee-club", NULL, NULL), 50);
  CHECK_STR(q_text(p, "SELECT email FROM customers WHERE id = 'C1'", buf, sizeof buf),
            "ann@example.com");
  CHECK_STR(q_text(p, "PRAGMA foreign_key_check", buf, sizeof buf), "(none)");
  CHECK_STR(q_text(p, "PRAGMA integrity_check", buf, sizeof buf), "ok");
  int64_t mismatches = -1;
  char *report = NULL;
  CHECK_EQ_I64(patron_verify(p, &mismatches, &report), PATRON_OK);
  CHECK_EQ_I64(mismatches, 0);
  patron_free(report);
  patron_close(p);
}

TEST(customers_errors_with_config) {
  patron *p = fresh_with_config("t_open.db");
  patron_import_result r;
  write_file("customers.csv", "id,program,points\nC1,,10\nC5,vip,10\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL),
               PATRON_UNKNOWN_PROGRAM);
  CHECK_HAS(patron_errmsg(p), "customers.csv:3: program: unknown program 'vip' (the shop has: ");
  CHECK_HAS(patron_errmsg(p), "coffee-club");
  CHECK_STR(patron_errpath(p), "line 3, program");
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM customers"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM ledger"), 0);

  write_file("customers.csv", "id,points\nC1,10\nC2,-5\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL),
               PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p), "customers.csv:3: points: expected a non-negative integer, got '-5'");
  CHECK_STR(patron_errpath(p), "line 3, points");
  write_file("customers.csv", "id,spend_cents\nC1,10\nC2,1.5\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL),
               PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p),
            "customers.csv:3: spend_cents: expected a non-negative integer, got '1.5'");
  /* a bad row after good openings takes them all back */
  write_file("customers.csv", "id,points,spend_cents\nC1,100,100000\nC2,5,\nC3,x,\n");
  CHECK_EQ_I64(patron_import_customers(p, &r, "customers.csv", NULL, NULL),
               PATRON_INVALID_INPUT);
  CHECK_STR(patron_errmsg(p), "customers.csv:4: points: expected a non-negative integer, got 'x'");
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM customers"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM accounts"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM ledger"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM spend"), 0);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM events"), 0);
  patron_close(p);
}

/* ---- the demo shop's files ------------------------------------------------ */

TEST(example_shop_files) {
  char path[4200];
  patron *p = fresh_with_config("t_demo.db");
  patron_import_result r;
  snprintf(path, sizeof path, "%s/examples/shop/catalog.csv", root);
  CHECK_EQ_I64(patron_import_catalog(p, &r, path, NULL, NULL), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK(r.rows >= 35 && r.rows <= 50);
  CHECK_EQ_I64(r.inserted, r.rows);
  CHECK_EQ_I64(q_int(p, "SELECT count(DISTINCT category) FROM catalog WHERE category IN "
                        "('mp3', 'headphones', 'coffee', 'mugs', 'books', 'accessories')"), 6);
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog WHERE price_cents IS NULL OR "
                        "cost_cents IS NULL OR cost_cents >= price_cents OR name = ''"), 0);
  /* the skus the design's sample config names */
  CHECK_EQ_I64(q_int(p, "SELECT count(*) FROM catalog WHERE sku IN ('MP3-01', 'HP-07')"), 2);
  snprintf(path, sizeof path, "%s/examples/shop/customers.csv", root);
  CHECK_EQ_I64(patron_import_customers(p, &r, path, NULL, NULL), PATRON_OK);
  CHECK_STR(patron_errmsg(p), "no error");
  CHECK_EQ_I64(r.rows, 12);
  CHECK_EQ_I64(r.inserted, 12);
  CHECK_EQ_I64(q_int(p, "SELECT count(DISTINCT tier) FROM accounts WHERE program = 'default' "
                        "AND tier IN ('bronze', 'silver', 'gold')"), 3);
  CHECK_EQ_I64(q_int(p, "SELECT max(points) FROM accounts"), 6000);
  /* importing it twice gives nothing twice */
  CHECK_EQ_I64(patron_import_customers(p, &r, path, NULL, NULL), PATRON_OK);
  CHECK_EQ_I64(r.inserted + r.updated, 0);
  CHECK(r.opening_skipped >= 8);
  CHECK_EQ_I64(r.opening_skipped,
               q_int(p, "SELECT count(*) FROM accounts a WHERE EXISTS (SELECT 1 FROM "
                        "ledger l WHERE l.program = a.program AND l.customer = a.customer "
                        "AND l.order_ref = 'opening') OR EXISTS (SELECT 1 FROM spend s "
                        "WHERE s.program = a.program AND s.customer = a.customer AND "
                        "s.order_ref = 'opening')"));
  CHECK_EQ_I64(q_int(p, "SELECT max(points) FROM accounts"), 6000);
  patron_close(p);
}

int main(void) {
  const char *env = getenv("PATRON_TEST_ROOT");
  if (env && *env) snprintf(root, sizeof root, "%s", env);
  else if (!getcwd(root, sizeof root)) strcpy(root, ".");
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/patron_import_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir) || chdir(dir) != 0) {
    perror("temporary folder");
    return 1;
  }
  RUN(catalog_happy_path);
  RUN(catalog_header_by_name_any_order_and_case);
  RUN(catalog_limits_accepted);
  RUN(catalog_upsert_counts);
  RUN(catalog_missing_file);
  RUN(catalog_every_error);
  RUN(catalog_all_or_nothing_keeps_table);
  RUN(progress_and_cancel);
  RUN(catalog_50000_rows);
  RUN(customers_without_config);
  RUN(customers_balances_need_config);
  RUN(customers_every_error);
  RUN(customers_opening_balances_once);
  RUN(customers_errors_with_config);
  RUN(example_shop_files);
  int rc = t_done();
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (chdir("/") == 0 && system(cmd) != 0) printf("# could not remove %s\n", dir);
  return rc;
}
