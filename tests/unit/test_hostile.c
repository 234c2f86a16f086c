/* test_hostile.c -- hostile input through the public API. The cart decoder
** has its own unit tests (test_cart.c); here every hostile cart goes
** through patron_quote_json and patron_commit_json and must be refused with
** a clean code and write nothing (a digest of every table is unchanged).
** Then text made to hurt -- SQL ('; DROP TABLE ledger; --), NUL bytes,
** overlong UTF-8 (C0 AF), quotes, control characters -- goes through every
** string input: cart fields, customer ids of adjust, balance and ledger,
** refund order ids and skus, CSV fields of both importers, the strings of
** shop.lua, the events type filter. Each must be stored verbatim (read back
** byte for byte) or refused with a clear error, the error object must be
** valid JSON, and the schema (SELECT sql FROM sqlite_schema) must be the
** same afterwards. Regressions found by the fuzz targets (tests/fuzz) are
** added at the end. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "t.h"

static const char SHOP[] =
    "shop { currency = \"EUR\" }\n"
    "program \"default\" {\n"
    "  earn = { points_per_unit = 1 },\n"
    "  redeem = { min_points = 100, max_share_bp = 5000 },\n"
    "  tiers = { { name = \"bronze\", from_cents = 0 },\n"
    "            { name = \"silver\", from_cents = 50000, multiplier_bp = 12500 } },\n"
    "}\n"
    "bundle \"kit\" { skus = { \"A\", \"B\" }, off_bp = 1000 }\n";

#define INJECT "'; DROP TABLE ledger; --"
#define OVERLONG "\xC0\xAF"

static int64_t clock_now = INT64_C(1795000000);
static int64_t test_clock(void *ud) {
  (void)ud;
  return clock_now;
}

static patron *shop(const char *db) {
  patron *p = NULL;
  patron_options o = PATRON_OPTIONS_INIT;
  o.clock = test_clock;
  unlink(db);
  if (patron_open(&p, db, &o)) abort();
  patron_apply_result r;
  if (patron_apply_buffer(p, &r, "shop.lua", SHOP, sizeof SHOP - 1)) {
    printf("# apply: %s\n", patron_errmsg(p));
    abort();
  }
  char *out = NULL;
  if (patron_commit_json(p, &out, "{\"order_id\":\"SEED-1\",\"customer\":\"C1\",\"lines\":["
                                   "{\"sku\":\"A\",\"qty\":2,\"unit_cents\":1000},"
                                   "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":500}]}")) {
    printf("# seed commit: %s\n", patron_errmsg(p));
    abort();
  }
  patron_free(out);
  return p;
}

static char *query_text(patron *p, const char *sql) {
  sqlite3_stmt *st = NULL;
  pt_buf b = {0};
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
    printf("# query failed: %s: %s\n", sqlite3_errmsg(p->db), sql); /* never vacuous */
    abort();
  } else {
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); c++) {
        const char *v = (const char *)sqlite3_column_text(st, c);
        pt_buf_add(&b, v ? v : "NULL", v ? (size_t)sqlite3_column_bytes(st, c) : 4);
        pt_buf_add(&b, "|", 1);
      }
      pt_buf_add(&b, "\n", 1);
    }
  }
  sqlite3_finalize(st);
  if (!b.s) pt_buf_add(&b, "", 0);
  return b.s;
}

static int64_t scalar(patron *p, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t v = -1;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Every row of every table, as text. */
static char *dump_all(patron *p) {
  char *names = query_text(p, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY name");
  pt_buf b = {0};
  for (char *name = strtok(names, "|\n"); name; name = strtok(NULL, "|\n")) {
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1", name);
    char *rows = query_text(p, sql);
    pt_buf_printf(&b, "== %s\n", name);
    pt_buf_puts(&b, rows);
    free(rows);
  }
  free(names);
  if (!b.s) pt_buf_add(&b, "", 0);
  return b.s;
}

static char *schema(patron *p) {
  return query_text(p, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name");
}

/* a == b, else prints the first line that differs */
#define CHECK_SAME(a, b) t_cur_fail += !same_text(a, b, __LINE__)
static bool same_text(const char *a, const char *b, int line) {
  if (strcmp(a, b) == 0) return true;
  size_t i = 0, start = 0;
  for (; a[i] && a[i] == b[i]; i++)
    if (a[i] == '\n') start = i + 1;
  printf("#   line %d: the database differs at\n#     now    %.150s\n#     before %.150s\n",
         line, a + start, b + start);
  return false;
}

/* The error object of the handle must be valid JSON with the code and a
** message (DESIGN.md section 5).
** BUG(core/commit.c patron_error_json): when the message quotes input that
** is not valid UTF-8 (an unknown customer "\xC0\xAF", a CSV value), jansson
** refuses the string and the object has no "message" at all. Messages
** should quote input the way cart.c's got_str does (bad bytes as '?'). */
static bool error_json_ok(patron *p, int code) {
  char *e = patron_error_json(p);
  json_t *j = e ? json_loads(e, 0, NULL) : NULL;
  json_t *err = json_object_get(j, "error");
  bool ok = j && json_is_string(json_object_get(err, "message")) &&
            strcmp(json_string_value(json_object_get(err, "code")) ?
                   json_string_value(json_object_get(err, "code")) : "",
                   patron_code_name(code)) == 0;
  if (!ok) printf("#   error object: %s\n", e ? e : "(null)");
  json_decref(j);
  free(e);
  return ok;
}

/* ---- hostile carts through quote and commit ------------------------------ */

/* quote and commit of text must both fail with code, and write nothing */
static void refused(patron *p, const char *what, const char *text, size_t len, int code) {
  char *before = dump_all(p), *out = NULL;
  char *copy = malloc(len + 1);
  memcpy(copy, text, len);
  copy[len] = 0;
  int rq = patron_quote_json(p, &out, copy);
  if (rq != code || out) {
    printf("#   quote %s: got %s (%s), want %s\n", what, patron_code_name(rq),
           patron_errmsg(p), patron_code_name(code));
    t_cur_fail++;
  }
  if (rq && !error_json_ok(p, rq)) t_cur_fail++;
  free(out);
  out = NULL;
  int rc = patron_commit_json(p, &out, copy);
  if (rc != code || out) {
    printf("#   commit %s: got %s (%s), want %s\n", what, patron_code_name(rc),
           patron_errmsg(p), patron_code_name(code));
    t_cur_fail++;
  }
  if (rc && !error_json_ok(p, rc)) t_cur_fail++;
  free(out);
  char *after = dump_all(p);
  if (!same_text(after, before, __LINE__)) {
    printf("#   %s: the database changed\n", what);
    t_cur_fail++;
  }
  free(before);
  free(after);
  free(copy);
}

#define LINE_OK "{\"sku\":\"A\",\"qty\":1,\"unit_cents\":100}"
#define WITH_ID(rest) "{\"order_id\":\"H-1\",\"customer\":\"C1\"," rest "}"
#define LINE_WITH(field) \
  WITH_ID("\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":100," field "}]")

TEST(size_cap) {
  patron *p = shop("h1.db");
  size_t cap = 1024 * 1024;
  char *big = malloc(cap + 2);
  const char *cart = WITH_ID("\"lines\":[" LINE_OK "]");
  size_t n = strlen(cart);
  /* exactly 1 MiB (the cart then spaces) is read; one byte more is not */
  memset(big, ' ', cap + 1);
  memcpy(big, cart, n);
  big[cap] = 0;
  char *out = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &out, big), PATRON_OK);
  free(out);
  big[cap] = ' ';
  big[cap + 1] = 0;
  refused(p, "1 MiB + 1", big, cap + 1, PATRON_INVALID_JSON);
  CHECK_HAS(patron_errmsg(p), "at most 1048576");
  free(big);
  patron_close(p);
}

TEST(depth_cap) {
  patron *p = shop("h2.db");
  char deep[200000];
  size_t k = (size_t)snprintf(deep, sizeof deep, "%s", "{\"order_id\":\"H-1\",\"lines\":[");
  memset(deep + k, '[', 100000);
  deep[k + 100000] = 0;
  refused(p, "100000 levels", deep, strlen(deep), PATRON_INVALID_JSON);
  CHECK_HAS(patron_errmsg(p), "nested deeper than 16");
  /* 17 levels inside a line's tags */
  refused(p, "17 levels", LINE_WITH("\"tags\":[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]]"),
          strlen(LINE_WITH("\"tags\":[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]]")),
          PATRON_INVALID_JSON);
  patron_close(p);
}

TEST(duplicate_keys) {
  patron *p = shop("h3.db");
  static const char *const carts[] = {
      /* the classic smuggling: a second customer to credit */
      "{\"order_id\":\"H-1\",\"customer\":\"C1\",\"customer\":\"C2\",\"lines\":[" LINE_OK "]}",
      "{\"order_id\":\"H-1\",\"order_id\":\"H-2\",\"lines\":[" LINE_OK "]}",
      "{\"order_id\":\"H-1\",\"lines\":[" LINE_OK "],\"lines\":[" LINE_OK "]}",
      "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\",\"qty\":1,\"qty\":99,\"unit_cents\":1}]}",
      "{\"order_id\":\"H-1\",\"redeem_points\":0,\"redeem_points\":500,\"lines\":[" LINE_OK "]}",
  };
  for (size_t i = 0; i < sizeof carts / sizeof *carts; i++)
    refused(p, carts[i], carts[i], strlen(carts[i]), PATRON_INVALID_JSON);
  patron_close(p);
}

TEST(invalid_utf8_and_nul) {
  patron *p = shop("h4.db");
  static const struct { const char *name, *text; int code; } cases[] = {
      {"overlong / in customer",
       "{\"order_id\":\"H-1\",\"customer\":\"" OVERLONG "\",\"lines\":[" LINE_OK "]}",
       PATRON_INVALID_JSON},
      {"overlong / in sku raw",
       "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A" OVERLONG "\",\"qty\":1,"
       "\"unit_cents\":1}]}", PATRON_INVALID_JSON},
      {"overlong / in order_id",
       "{\"order_id\":\"H" OVERLONG "\",\"lines\":[" LINE_OK "]}", PATRON_INVALID_JSON},
      {"byte 0xFF", "{\"order_id\":\"H-1\",\"region\":\"\xFF\",\"lines\":[" LINE_OK "]}",
       PATRON_INVALID_JSON},
      {"lone surrogate", "{\"order_id\":\"H-1\",\"customer\":\"\\ud800\",\"lines\":["
       LINE_OK "]}", PATRON_INVALID_JSON},
      {"escaped NUL in customer",
       "{\"order_id\":\"H-1\",\"customer\":\"C1\\u0000C2\",\"lines\":[" LINE_OK "]}",
       PATRON_INVALID_CART},
      {"escaped NUL in sku",
       "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\\u0000\",\"qty\":1,\"unit_cents\":1}]}",
       PATRON_INVALID_CART},
      {"escaped NUL in order_id",
       "{\"order_id\":\"H\\u0000-1\",\"lines\":[" LINE_OK "]}", PATRON_INVALID_CART},
      {"escaped NUL in a shown sku", "{\"order_id\":\"H-1\",\"shown_suggestions\":"
       "[\"B\\u0000\"],\"lines\":[" LINE_OK "]}", PATRON_INVALID_CART},
      {"control character in order_id",
       "{\"order_id\":\"H\\n1\",\"lines\":[" LINE_OK "]}", PATRON_INVALID_CART},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    refused(p, cases[i].name, cases[i].text, strlen(cases[i].text), cases[i].code);
  /* a raw NUL byte inside the text: the C string ends there (not JSON) */
  static const char raw[] = "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\0\",\"qty\":1}]}";
  refused(p, "raw NUL", raw, strlen(raw), PATRON_INVALID_JSON);
  patron_close(p);
}

TEST(numbers_where_integers_are_expected) {
  patron *p = shop("h5.db");
  static const char *const values[] = {"NaN", "Infinity", "-Infinity", "1e309", "-1e309",
                                       "99999999999999999999", "9223372036854775808"};
  static const char *const reals[] = {"10.5", "10.0", "1e2", "-0.0", "0.1e1", "5E0"};
  static const char *const fields[] = {"qty", "unit_cents"};
  char cart[512];
  for (size_t f = 0; f < 2; f++) {
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
      snprintf(cart, sizeof cart, "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\",%s"
               "\"%s\":%s}]}", f == 0 ? "\"unit_cents\":1," : "\"qty\":1,", fields[f],
               values[i]);
      refused(p, cart, cart, strlen(cart), PATRON_INVALID_JSON);
    }
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
      snprintf(cart, sizeof cart, "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\",%s"
               "\"%s\":%s}]}", f == 0 ? "\"unit_cents\":1," : "\"qty\":1,", fields[f],
               reals[i]);
      refused(p, cart, cart, strlen(cart), PATRON_INVALID_CART);
    }
  }
  /* 2^53 + 1 and above, negative, as redeem_points and expect_total_cents */
  static const char *const tops[] = {"redeem_points", "expect_total_cents"};
  static const char *const big[] = {"9007199254740993", "9223372036854775807", "-1",
                                    "-9223372036854775808", "1.5", "true", "\"5\"", "null"};
  for (size_t f = 0; f < 2; f++)
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
      snprintf(cart, sizeof cart, "{\"order_id\":\"H-1\",\"customer\":\"C1\",\"%s\":%s,"
               "\"lines\":[" LINE_OK "]}", tops[f], big[i]);
      refused(p, cart, cart, strlen(cart), PATRON_INVALID_CART);
    }
  /* 2^53 exactly is a legal amount, -0 is the integer 0: quoted, not refused */
  char *out = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &out, "{\"lines\":[{\"sku\":\"A\",\"qty\":1,"
                                          "\"unit_cents\":9007199254740992}]}"), PATRON_OK);
  free(out);
  out = NULL;
  CHECK_EQ_I64(patron_quote_json(p, &out, "{\"lines\":[{\"sku\":\"A\",\"qty\":1,"
                                          "\"unit_cents\":-0}]}"), PATRON_OK);
  CHECK_HAS(out, "\"subtotal_cents\":0");
  free(out);
  /* qty * unit_cents beyond int64 */
  refused(p, "overflowing line", "{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\",\"qty\":"
          "1000000,\"unit_cents\":9007199254740992}]}",
          strlen("{\"order_id\":\"H-1\",\"lines\":[{\"sku\":\"A\",\"qty\":"
                 "1000000,\"unit_cents\":9007199254740992}]}"), PATRON_INVALID_CART);
  patron_close(p);
}

/* ---- hostile text through every string input ---------------------------- */

/* Text that must be stored verbatim where the field accepts it. */
static const char *const NASTY[] = {
    INJECT,
    "Robert'); DROP TABLE customers;--",
    "\" OR 1=1 --",
    "a\\b\"c'd",
    "%s%n%x",
    ("\xE2\x80\xAE" "evil"),  /* RIGHT-TO-LEFT OVERRIDE: valid UTF-8 */
};
#define NNASTY (sizeof NASTY / sizeof NASTY[0])

/* JSON string of s (escaped) into buf */
static const char *js(char *buf, size_t n, const char *s) {
  json_t *j = json_string(s);
  char *t = json_dumps(j, JSON_ENCODE_ANY);
  snprintf(buf, n, "%s", t ? t : "\"\"");
  free(t);
  json_decref(j);
  return buf;
}

TEST(sql_text_in_cart_fields_is_stored_verbatim) {
  patron *p = shop("h6.db");
  char *schema0 = schema(p);
  for (size_t i = 0; i < NNASTY; i++) {
    char q[256], cart[2048], id[64], *out = NULL;
    js(q, sizeof q, NASTY[i]);
    snprintf(id, sizeof id, "\"N-%zu\"", i);
    snprintf(cart, sizeof cart,
             "{\"order_id\":%s,\"customer\":%s,\"region\":%s,\"shown_suggestions\":[%s],"
             "\"lines\":[{\"sku\":%s,\"qty\":1,\"unit_cents\":1000,\"category\":%s,"
             "\"tags\":[\"t1\",%s],\"name\":%s}]}",
             id, q, q, q, q, q, strchr(NASTY[i], ',') ? "\"t2\"" : q, q);
    int rc = patron_commit_json(p, &out, cart);
    if (rc) printf("#   commit %s: %s\n", NASTY[i], patron_errmsg(p));
    CHECK_EQ_I64(rc, PATRON_OK);
    free(out);
    /* read back byte for byte */
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(p->db, "SELECT o.customer, l.sku, l.category FROM orders o "
                              "JOIN order_lines l ON l.order_rowid = o.id "
                              "WHERE o.order_id = ?1", -1, &st, NULL);
    char bare[64];
    snprintf(bare, sizeof bare, "N-%zu", i);
    sqlite3_bind_text(st, 1, bare, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), NASTY[i]);
    CHECK_STR((const char *)sqlite3_column_text(st, 1), NASTY[i]);
    CHECK_STR((const char *)sqlite3_column_text(st, 2), NASTY[i]);
    sqlite3_finalize(st);
    /* the customer it created works everywhere a customer id goes */
    patron_balance_info b;
    CHECK_EQ_I64(patron_balance(p, &b, NASTY[i], NULL), PATRON_OK);
    CHECK_EQ_I64(b.points, 10);
    char uuid[37];
    CHECK_EQ_I64(patron_adjust(p, uuid, NASTY[i], NULL, 5, NASTY[i]), PATRON_OK);
    CHECK_EQ_I64(patron_balance(p, &b, NASTY[i], NULL), PATRON_OK);
    CHECK_EQ_I64(b.points, 15);
    char *ledger = NULL;
    CHECK_EQ_I64(patron_ledger_json(p, &ledger, NASTY[i], NULL), PATRON_OK);
    json_t *l = json_loads(ledger ? ledger : "", 0, NULL);
    CHECK_EQ_I64(json_array_size(l), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 1), "reason")), NASTY[i]);
    json_decref(l);
    free(ledger);
    /* refunding the sku by that name */
    patron_refund_line rl = {NASTY[i], 1};
    CHECK_EQ_I64(patron_refund(p, &out, bare, &rl, 1), PATRON_OK);
    free(out);
  }
  char *schema1 = schema(p);
  CHECK_STR(schema1, schema0);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM ledger"), 1 + 3 * (int64_t)NNASTY);
  int64_t mm = -1;
  char *r = NULL;
  CHECK_EQ_I64(patron_verify(p, &mm, &r), PATRON_OK);
  CHECK_EQ_I64(mm, 0);
  free(r);
  free(schema0);
  free(schema1);
  patron_close(p);
}

TEST(hostile_ids_in_adjust_balance_ledger_refund_events) {
  patron *p = shop("h7.db");
  char *schema0 = schema(p), *before = dump_all(p);
  static const char *const ids[] = {INJECT, OVERLONG, ("C1" OVERLONG), "C1 ", " C1", "c1",
                                    "C1\x7f", "\xFF\xFE", "C1'--", ""};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
    const char *id = ids[i];
    int want = id[0] ? PATRON_UNKNOWN_CUSTOMER : PATRON_INVALID_INPUT;
    patron_balance_info b;
    char uuid[37], *out = NULL;
    int rc = patron_balance(p, &b, id, NULL);
    CHECK_EQ_I64(rc, want);
    CHECK(error_json_ok(p, rc));
    rc = patron_adjust(p, uuid, id, NULL, 100, "hostile");
    CHECK_EQ_I64(rc, want);
    CHECK(error_json_ok(p, rc));
    rc = patron_ledger_json(p, &out, id, NULL);
    CHECK_EQ_I64(rc, want);
    CHECK(out == NULL);
    CHECK(error_json_ok(p, rc));
    /* as a program name */
    rc = patron_balance(p, &b, "C1", id[0] ? id : "x");
    CHECK_EQ_I64(rc, PATRON_UNKNOWN_PROGRAM);
    CHECK(error_json_ok(p, rc));
    /* refunds: the id as an order, then as a sku of a real order */
    rc = patron_refund(p, &out, id, NULL, 0);
    CHECK_EQ_I64(rc, id[0] ? PATRON_NOT_FOUND : PATRON_INVALID_INPUT);
    CHECK(out == NULL);
    CHECK(error_json_ok(p, rc));
    patron_refund_line rl = {id, 1};
    rc = patron_refund(p, &out, "SEED-1", &rl, 1);
    CHECK_EQ_I64(rc, PATRON_INVALID_INPUT);
    CHECK(out == NULL);
    CHECK(error_json_ok(p, rc));
    /* the events type filter is a bound value: nothing matches */
    rc = patron_events_pull(p, &out, id, 10);
    CHECK_EQ_I64(rc, PATRON_OK);
    CHECK_STR(out, "[]");
    free(out);
  }
  /* An adjustment reason ends up in the ledger's JSON: refused, or stored so
  ** that the ledger still reads.
  ** BUG(core/ledger.c patron_adjust): the reason is not checked; invalid
  ** UTF-8 is stored, and from then on patron_ledger_json of that customer
  ** fails, reported as nomem (json_pack refuses the text). */
  char uuid[37], *out = NULL;
  int rc = patron_adjust(p, uuid, "C1", NULL, 1, "bad " OVERLONG " reason");
  if (rc == PATRON_OK) {
    CHECK_EQ_I64(patron_ledger_json(p, &out, "C1", NULL), PATRON_OK);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    if (!j) printf("#   BUG(ledger.c): a reason with invalid UTF-8 was accepted by "
                   "patron_adjust and now breaks patron_ledger_json\n");
    CHECK(j != NULL);
    json_decref(j);
    free(out);
  } else {
    CHECK_EQ_I64(rc, PATRON_INVALID_INPUT);
    CHECK(error_json_ok(p, rc));
    char *after = dump_all(p);
    CHECK_SAME(after, before);
    free(after);
  }
  char *schema1 = schema(p);
  CHECK_STR(schema1, schema0);
  free(schema0);
  free(schema1);
  free(before);
  patron_close(p);
}

static void write_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, len, f);
  fclose(f);
}

TEST(hostile_csv_fields) {
  patron *p = shop("h8.db");
  char *schema0 = schema(p);
  /* verbatim: SQL text and quotes in the key and text columns */
  static const char good[] =
      "sku,name,price_cents,category,tags\n"
      "\"'; DROP TABLE ledger; --\",\"Robert'); DROP TABLE customers;--\",100,"
      "\"\"\"quoted\"\"\",\"a,b\"\n";
  write_file("good.csv", good, sizeof good - 1);
  patron_import_result r;
  CHECK_EQ_I64(patron_import_catalog(p, &r, "good.csv", NULL, NULL), PATRON_OK);
  char *row = query_text(p, "SELECT sku, name, category, tags FROM catalog");
  CHECK_STR(row, INJECT "|Robert'); DROP TABLE customers;--|\"quoted\"|a,b|\n");
  free(row);
  static const char cust[] = "id,email\n\"'; DROP TABLE ledger; --\",\n";
  write_file("cust.csv", cust, sizeof cust - 1);
  CHECK_EQ_I64(patron_import_customers(p, &r, "cust.csv", NULL, NULL), PATRON_OK);
  patron_balance_info b;
  CHECK_EQ_I64(patron_balance(p, &b, INJECT, NULL), PATRON_OK);
  /* refused, with the line: NUL, overlong UTF-8, control characters */
  char *before = dump_all(p);
  static const struct { const char *name; const char *text; size_t len; int customers; } bad[] = {
      {"NUL in a name", "sku,name\nX1,a\0b\n", 16, 0},
      {"NUL in a key", "sku\nX\0\n", 7, 0},
      {"overlong in a name", "sku,name\nX1,a" OVERLONG "b\n", 0, 0},
      {"overlong in a key", "sku\nX" OVERLONG "\n", 0, 0},
      {"overlong in a header", "sku," OVERLONG "\nX,1\n", 0, 0},
      {"tab in a name", "sku,name\nX1,a\tb\n", 0, 0},
      {"line break in a key", "sku\n\"X\nY\"\n", 0, 0},
      {"overlong in an email", "id,email\nC9,a" OVERLONG "@example.com\n", 0, 1},
      {"overlong in an id", "id\nC" OVERLONG "\n", 0, 1},
      {"SQL as points", "id,program,points\nC9,default,1; DROP TABLE ledger\n", 0, 1},
      {"SQL as a program", "id,program,points\nC9," INJECT ",5\n", 0, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
    write_file("bad.csv", bad[i].text, len);
    int rc = bad[i].customers ? patron_import_customers(p, &r, "bad.csv", NULL, NULL)
                              : patron_import_catalog(p, &r, "bad.csv", NULL, NULL);
    if (rc != PATRON_INVALID_INPUT && rc != PATRON_UNKNOWN_PROGRAM) {
      printf("#   %s: %s %s\n", bad[i].name, patron_code_name(rc), patron_errmsg(p));
      t_cur_fail++;
    }
    CHECK_HAS(patron_errpath(p), "line ");
    CHECK(error_json_ok(p, rc));
  }
  char *after = dump_all(p);
  CHECK_SAME(after, before);
  char *schema1 = schema(p);
  CHECK_STR(schema1, schema0);
  free(before);
  free(after);
  free(schema0);
  free(schema1);
  unlink("good.csv");
  unlink("cust.csv");
  unlink("bad.csv");
  patron_close(p);
}

TEST(hostile_config_strings) {
  patron *p = shop("h9.db");
  char *schema0 = schema(p);
  /* SQL text as a program, tier and bundle name: stored and usable */
  static const char inj[] =
      "shop { currency = \"EUR\" }\n"
      "program \"'; DROP TABLE ledger; --\" {\n"
      "  tiers = { { name = \"Robert'); DROP TABLE customers;--\", from_cents = 0 } } }\n"
      "bundle \"\\\" OR 1=1 --\" { skus = { \"'; DROP\", \"x'--\" }, off_bp = 100 }\n";
  patron_apply_result ar;
  CHECK_EQ_I64(patron_apply_buffer(p, &ar, "inj.lua", inj, sizeof inj - 1), PATRON_OK);
  char *out = NULL;
  CHECK_EQ_I64(patron_commit_json(p, &out, "{\"order_id\":\"I-1\",\"customer\":\"C1\","
                                            "\"program\":\"'; DROP TABLE ledger; --\","
                                            "\"lines\":[{\"sku\":\"'; DROP\",\"qty\":1,"
                                            "\"unit_cents\":1000},{\"sku\":\"x'--\","
                                            "\"qty\":1,\"unit_cents\":1000}]}"), PATRON_OK);
  CHECK_HAS(out, "\"source\":\"bundle:\\\" OR 1=1 --\"");
  CHECK_HAS(out, "\"tier\":\"Robert'); DROP TABLE customers;--\"");
  free(out);
  patron_balance_info b;
  CHECK_EQ_I64(patron_balance(p, &b, "C1", "'; DROP TABLE ledger; --"), PATRON_OK);
  CHECK_EQ_I64(b.points, 19); /* 1% off 2000: floor(1980 / 100) */
  /* refused, and nothing stored: NUL and overlong UTF-8 in names and values */
  char *before = dump_all(p);
  int64_t versions = scalar(p, "SELECT count(*) FROM config_versions");
  static const struct { const char *name; const char *src; size_t len; } bad[] = {
      {"NUL in a program name", "shop { currency = \"EUR\" }\nprogram \"a\\0b\" {}\n", 0},
      {"overlong UTF-8 in a program name",
       "shop { currency = \"EUR\" }\nprogram \"a\\xC0\\xAFb\" {}\n", 0},
      {"overlong UTF-8 in a tier name", "shop { currency = \"EUR\" }\nprogram \"p\" {"
       " tiers = { { name = \"\\xC0\\xAF\", from_cents = 0 } } }\n", 0},
      {"NUL in a timezone", "shop { currency = \"EUR\", timezone = \"UTC\\0x\" }\n"
       "program \"p\" {}\n", 0},
      {"NUL in a currency", "shop { currency = \"EU\\0\" }\nprogram \"p\" {}\n", 0},
      {"control character in a bundle sku", "shop { currency = \"EUR\" }\n"
       "program \"p\" {}\nbundle \"b\" { skus = { \"a\\nb\", \"c\" }, off_bp = 1 }\n", 0},
      {"overlong in a plugin parameter", "shop { currency = \"EUR\" }\nprogram \"p\" {}\n"
       "plugin \"plugins/cross_sell.lua\" { x = \"\\xC0\\xAF\" }\n", 0},
      {"NUL in a plugin path", "shop { currency = \"EUR\" }\nprogram \"p\" {}\n"
       "plugin \"plugins/cross_sell.lua\\0../../etc/passwd\" {}\n", 0},
      {"a raw NUL byte in the file", "shop { currency = \"EUR\" }\0program \"p\" {}\n", 42},
      {"raw overlong bytes in the file", "shop { currency = \"EUR\" }\n-- \xC0\xAF\n"
       "program \"\xC0\xAF\" {}\n", 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    size_t len = bad[i].len ? bad[i].len : strlen(bad[i].src);
    int rc = patron_apply_buffer(p, &ar, "bad.lua", bad[i].src, len);
    if (rc != PATRON_INVALID_CONFIG) {
      printf("#   %s: %s %s\n", bad[i].name, patron_code_name(rc), patron_errmsg(p));
      t_cur_fail++;
    } else {
      CHECK_HAS(patron_errmsg(p), "bad.lua");
    }
    CHECK(error_json_ok(p, rc));
  }
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM config_versions"), versions);
  char *after = dump_all(p);
  CHECK_SAME(after, before);
  char *schema1 = schema(p);
  CHECK_STR(schema1, schema0);
  free(before);
  free(after);
  free(schema0);
  free(schema1);
  patron_close(p);
}

/* The struct path takes C strings: what JSON refuses, it refuses too. */
TEST(struct_path_refuses_the_same) {
  patron *p = shop("h10.db");
  char *before = dump_all(p);
  static const char *const bad[] = {OVERLONG, ("A" OVERLONG), "\xFF", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    patron_line l = {bad[i], 1, 100, NULL, NULL};
    patron_cart c = {.order_id = "S-1", .lines = &l, .nlines = 1};
    patron_quote q;
    int rc = patron_commit_cart(p, &q, &c);
    CHECK_EQ_I64(rc, PATRON_INVALID_CART);
    patron_quote_release(&q);
    patron_line ok = {"A", 1, 100, NULL, NULL};
    patron_cart c2 = {.order_id = "S-1", .customer = bad[i], .lines = &ok, .nlines = 1};
    rc = patron_commit_cart(p, &q, &c2);
    CHECK_EQ_I64(rc, bad[i][0] ? PATRON_INVALID_CART : PATRON_INVALID_CART);
    CHECK(error_json_ok(p, rc));
    patron_quote_release(&q);
  }
  char *after = dump_all(p);
  CHECK_SAME(after, before);
  free(before);
  free(after);
  patron_close(p);
}

/* ---- regressions found by the fuzz targets (tests/fuzz) -------------------- */

/* fuzz_config: Lua's syntax error quotes the offending bytes of the file;
** the error object must still carry the message. BUG(core/commit.c
** patron_error_json): it drops it (see error_json_ok). */
TEST(fuzz_config_error_quoting_bad_bytes) {
  patron *p = shop("h11.db");
  static const char src[] = "shop { currency = \"EUR\" }\nprogram \"p\" {}\n"
                            "plugin \"x\" { max = \"\xff\xfe\xfd, m = 3 }\n";
  patron_apply_result ar;
  int rc = patron_apply_buffer(p, &ar, "fuzz/shop.lua", src, sizeof src - 1);
  CHECK_EQ_I64(rc, PATRON_INVALID_CONFIG);
  CHECK_HAS(patron_errmsg(p), "fuzz/shop.lua:3:");
  CHECK(error_json_ok(p, rc));
  patron_close(p);
}

/* fuzz_config: a NUL byte inside a plugin parameter. The sandbox keeps it
** (Lua strings may hold NUL), the canonical JSON says \u0000, and reading
** it back (config.c pt_config_parse: json_loads without JSON_ALLOW_NUL)
** fails, so the file is refused as internal ("stored configuration version
** 0 is not valid JSON") instead of invalid_config naming the key.
** BUG(lua/config.lua parameter check, or core/config.c). Nothing is stored. */
TEST(fuzz_config_nul_in_a_plugin_parameter) {
  patron *p = shop("h14.db");
  static const char src[] = "shop { currency = \"EUR\" }\nprogram \"p\" {}\n"
                            "plugin \"plugins/cross_sell.lua\" { pairs = { { \"mp3\", "
                            "\"head\0phones\" } } }\n";
  int64_t versions = scalar(p, "SELECT count(*) FROM config_versions");
  patron_apply_result ar;
  int rc = patron_apply_buffer(p, &ar, "shop.lua", src, sizeof src - 1);
  if (rc != PATRON_INVALID_CONFIG) printf("#   %s: %s\n", patron_code_name(rc), patron_errmsg(p));
  CHECK_EQ_I64(rc, PATRON_INVALID_CONFIG);
  CHECK_EQ_I64(scalar(p, "SELECT count(*) FROM config_versions"), versions);
  patron_close(p);
}

/* fuzz_csv: a bad integer quoted in the message. Same bug. */
TEST(fuzz_csv_error_quoting_bad_bytes) {
  patron *p = shop("h12.db");
  static const char csv[] = "id,program,points,spend_cents\nC7,default,1,\xa0\xa0" "50000\n";
  write_file("fz.csv", csv, sizeof csv - 1);
  patron_import_result r;
  int rc = patron_import_customers(p, &r, "fz.csv", NULL, NULL);
  CHECK_EQ_I64(rc, PATRON_INVALID_INPUT);
  CHECK_STR(patron_errpath(p), "line 2, spend_cents");
  CHECK(error_json_ok(p, rc));
  unlink("fz.csv");
  patron_close(p);
}

/* fuzz_actions: an order on which a plugin gave a discount could not be
** refunded: the budget give-back was an INSERT ... ON CONFLICT DO UPDATE
** whose VALUES carried negative amounts, and SQLite checks rule_totals'
** CHECK (cents >= 0) on the row to insert before the upsert (fixed in
** rules.c with RULE_TOTALS_GIVE_BACK). */
TEST(fuzz_actions_refund_of_a_plugin_discount) {
  patron *p = shop("h13.db");
  static const char plugin[] =
      "local rule = { name = \"fz\" }\n"
      "function rule.on_quote(cart, ctx) return ctx.params.actions end\n"
      "function rule.on_earn(order, ctx) return ctx.params.bonus end\n"
      "return rule\n";
  write_file("fz.lua", plugin, sizeof plugin - 1);
  static const char cfg[] =
      "shop { currency = \"EUR\" }\nprogram \"default\" {}\n"
      "plugin \"fz.lua\" { actions = { action = \"discount\", cents = 999999, "
      "reason = \"too much\" }, bonus = { { action = \"bonus_points\", points = 7, "
      "reason = \"b\" } }, budget = { cents = 100000000, points = 1000 } }\n";
  patron_apply_result ar;
  int rc = patron_apply_buffer(p, &ar, "shop.lua", cfg, sizeof cfg - 1);
  if (rc) printf("#   apply: %s\n", patron_errmsg(p));
  CHECK_EQ_I64(rc, PATRON_OK);
  char *out = NULL;
  rc = patron_commit_json(p, &out, "{\"order_id\":\"P-1\",\"customer\":\"C1\",\"lines\":["
                                   "{\"sku\":\"A\",\"qty\":2,\"unit_cents\":2500}]}");
  CHECK_EQ_I64(rc, PATRON_OK);
  CHECK_HAS(out, "plugin:fz");
  free(out);
  out = NULL;
  patron_refund_line rl = {"A", 1};
  rc = patron_refund(p, &out, "P-1", &rl, 1);
  if (rc) printf("#   partial refund: %s\n", patron_errmsg(p));
  CHECK_EQ_I64(rc, PATRON_OK);
  free(out);
  out = NULL;
  rc = patron_refund(p, &out, "P-1", NULL, 0);
  if (rc) printf("#   full refund: %s\n", patron_errmsg(p));
  CHECK_EQ_I64(rc, PATRON_OK);
  free(out);
  unlink("fz.lua");
  patron_close(p);
}

int main(void) {
  RUN(size_cap);
  RUN(depth_cap);
  RUN(duplicate_keys);
  RUN(invalid_utf8_and_nul);
  RUN(numbers_where_integers_are_expected);
  RUN(sql_text_in_cart_fields_is_stored_verbatim);
  RUN(hostile_ids_in_adjust_balance_ledger_refund_events);
  RUN(hostile_csv_fields);
  RUN(hostile_config_strings);
  RUN(struct_path_refuses_the_same);
  RUN(fuzz_config_error_quoting_bad_bytes);
  RUN(fuzz_config_nul_in_a_plugin_parameter);
  RUN(fuzz_csv_error_quoting_bad_bytes);
  RUN(fuzz_actions_refund_of_a_plugin_discount);
  return t_done();
}
