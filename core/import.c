/*
** import.c -- `catalog import` and `customers import`: CSV files with a
** header row, matched to columns by name, validated field by field and
** written all or nothing in one transaction (patron_import_catalog,
** patron_import_customers). CSV syntax is csv.c's business; balances,
** lots and tiers are the ledger's (ledger.h): this file only decides what
** to post. Statement texts are in sql_import.h.
**
** Rules shared by both files: header names are trimmed and matched without
** regard to case; only the key column (sku, id) is required; an empty
** field means "not given" (a new row gets the default, an existing row
** keeps its stored value); a key appears once per file. Errors read
** "catalog.csv:7: price_cents: expected a non-negative integer, got
** '12.5'" with the handle's path "line 7, price_cents".
** Choices worth knowing: popularity may be negative (it is only a sort
** key); every text field must be valid UTF-8 without control characters
** (line breaks included), since names end up on receipts and in JSON; a
** key may not begin or end with a space. A customers row enrols the
** customer in a program (opens the account) when it names the program
** or gives opening points or spend; an opening balance is given once per
** account: a re-import skips it (counted in opening_skipped) whatever the
** file now says.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "ledger.h"

#define KEY_MAX 64         /* bytes in a sku or a customer id */
#define EMAIL_MAX 254
#define PROGRESS_EVERY 1000
#define ECHO_MAX 40        /* bytes of a bad value quoted in a message */
#define MAX_COLS 8
#define OPENING_REF "opening"

enum { CAT_SKU, CAT_NAME, CAT_PRICE, CAT_CATEGORY, CAT_POPULARITY, CAT_COST,
       CAT_TAGS, CAT__N };
static const char *const catalog_cols[CAT__N] = {
    "sku", "name", "price_cents", "category", "popularity", "cost_cents", "tags"};

enum { CUS_ID, CUS_EMAIL, CUS_BIRTHDAY, CUS_PROGRAM, CUS_POINTS, CUS_SPEND,
       CUS__N };
static const char *const customer_cols[CUS__N] = {
    "id", "email", "birthday", "program", "points", "spend_cents"};

/* ---- keys seen in this file ---------------------------------------------
** An open-addressing set of the keys read so far with the line of each,
** so that a duplicate names both lines. Keys live in one arena as
** [int64 line][uint8 len][bytes]; a slot holds the hash and 1 + the
** entry's offset (0: empty). About 16 bytes a slot plus the key: a
** million skus cost a few tens of MB for the length of the import. */
typedef struct keyslot {
  uint64_t hash;
  size_t off;
} keyslot;

typedef struct keyset {
  keyslot *slots;
  size_t cap, n;
  unsigned char *arena;
  size_t alen, acap;
} keyset;

static uint64_t key_hash(const char *s, size_t n) {
  uint64_t h = 14695981039346656037u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

static bool keyset_grow(keyset *ks) {
  size_t cap = ks->cap ? ks->cap * 2 : 1024;
  keyslot *slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < ks->cap; i++) {
    if (!ks->slots[i].off) continue;
    size_t j = ks->slots[i].hash & (cap - 1);
    while (slots[j].off) j = (j + 1) & (cap - 1);
    slots[j] = ks->slots[i];
  }
  free(ks->slots);
  ks->slots = slots;
  ks->cap = cap;
  return true;
}

/* 1: key was there (*first gets its line); 0: added; -1: out of memory. */
static int keyset_add(keyset *ks, const char *key, size_t n, int64_t line,
                      int64_t *first) {
  if (n > 255) return -1; /* keys are at most KEY_MAX bytes */
  if ((ks->n + 1) * 2 > ks->cap && !keyset_grow(ks)) return -1;
  uint64_t h = key_hash(key, n);
  size_t i = h & (ks->cap - 1);
  for (; ks->slots[i].off; i = (i + 1) & (ks->cap - 1)) {
    if (ks->slots[i].hash != h) continue;
    const unsigned char *e = ks->arena + ks->slots[i].off - 1;
    if (e[8] == n && memcmp(e + 9, key, n) == 0) {
      memcpy(first, e, sizeof *first);
      return 1;
    }
  }
  size_t need = ks->alen + 9 + n;
  if (need > ks->acap) {
    size_t cap = ks->acap ? ks->acap * 2 : 64 * 1024;
    while (cap < need) cap *= 2;
    unsigned char *a = realloc(ks->arena, cap);
    if (!a) return -1;
    ks->arena = a;
    ks->acap = cap;
  }
  unsigned char *e = ks->arena + ks->alen;
  memcpy(e, &line, sizeof line);
  e[8] = (unsigned char)n;
  memcpy(e + 9, key, n);
  ks->slots[i].hash = h;
  ks->slots[i].off = ks->alen + 1;
  ks->alen = need;
  ks->n++;
  return 0;
}

static void keyset_free(keyset *ks) {
  free(ks->slots);
  free(ks->arena);
}

/* ---- the import in progress ------------------------------------------- */
typedef struct importer {
  patron *p;
  const char *file;               /* basename of the path, for messages */
  const char *const *cols;        /* allowed column names, key first */
  size_t ncols;
  int col[MAX_COLS];              /* column -> field index, -1: absent */
  size_t nfields;                 /* fields in the header */
  int64_t header_line;
  const pt_csv_row *row;          /* the row being imported */
  keyset keys;
  int64_t now;
  const pt_config *cfg;           /* customers: set when a column needs it */
  patron_import_result res;
} importer;

/* Copies up to ECHO_MAX bytes of v for quoting in a message, control
** characters shown as '?', "..." when cut (never inside a UTF-8 char). */
static const char *echo(char *buf, size_t size, const char *v) {
  size_t n = strlen(v), k = n;
  if (k > ECHO_MAX) {
    k = ECHO_MAX;
    while (k > 0 && ((unsigned char)v[k] & 0xC0) == 0x80) k--;
  }
  if (k + 4 > size) k = size > 4 ? size - 4 : 0;
  for (size_t i = 0; i < k; i++) {
    unsigned char c = (unsigned char)v[i];
    buf[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
  }
  strcpy(buf + k, k < n ? "..." : "");
  return buf;
}

/* Sets the handle error for column c (or the row, c < 0) of the current
** row: "FILE:LINE: COLUMN: why", path "line N, COLUMN". Returns code. */
static int row_err(importer *im, int code, int c, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int row_err(importer *im, int code, int c, const char *fmt, ...) {
  char why[PT_ERRMSG_SIZE / 2], path[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  long long line = (long long)im->row->line;
  if (c < 0) {
    snprintf(path, sizeof path, "line %lld", line);
    return pt_err_path(im->p, code, path, "%s:%lld: %s", im->file, line, why);
  }
  snprintf(path, sizeof path, "line %lld, %s", line, im->cols[c]);
  return pt_err_path(im->p, code, path, "%s:%lld: %s: %s", im->file, line,
                     im->cols[c], why);
}

/* Prefixes the handle's current message (set by another module) with
** "FILE:LINE: " and sets the path to the line. Returns the code. */
static int at_line(importer *im) {
  char msg[PT_ERRMSG_SIZE];
  snprintf(msg, sizeof msg, "%s", im->p->errmsg);
  return row_err(im, im->p->code, -1, "%s", msg);
}

/* The field of column c, or NULL when the column is absent or the field
** empty (not given). */
static const char *field(const importer *im, int c, size_t *len) {
  int i = im->col[c];
  if (i < 0 || im->row->lens[i] == 0) return NULL;
  if (len) *len = im->row->lens[i];
  return im->row->fields[i];
}

/* Length of the UTF-8 sequence at s (valid, shortest form, no surrogates,
** at most U+10FFFF), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t left) {
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
  else return 0;
  if (left < n) return 0;
  unsigned cp = c & (0xFFu >> (n + 1));
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/* Checks that a text field is valid UTF-8 without control characters. */
static int check_text(importer *im, int c, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    if (u[i] < 0x20 || u[i] == 0x7F)
      return row_err(im, PATRON_INVALID_INPUT, c,
                     "control character 0x%02X at byte %zu (line breaks and "
                     "tabs are not allowed)", u[i], i + 1);
    size_t n = utf8_len(u + i, len - i);
    if (!n)
      return row_err(im, PATRON_INVALID_INPUT, c,
                     "not valid UTF-8 (byte %zu); save the file as UTF-8", i + 1);
    i += n;
  }
  return PATRON_OK;
}

/* An optional text column: *out NULL when not given. */
static int text_field(importer *im, int c, const char **out) {
  size_t len = 0;
  *out = field(im, c, &len);
  return *out ? check_text(im, c, *out, len) : PATRON_OK;
}

/* An optional integer column: digits only, a leading '-' when neg. */
static int int_field(importer *im, int c, bool neg, bool *given, int64_t *out) {
  char e[ECHO_MAX + 4];
  const char *s = field(im, c, NULL), *q = s;
  const char *want = neg ? "an integer" : "a non-negative integer";
  *given = false;
  *out = 0;
  if (!s) return PATRON_OK;
  bool minus = neg && *q == '-';
  if (minus) q++;
  if (!*q) goto bad;
  uint64_t v = 0, limit = minus ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *q; q++) {
    if (*q < '0' || *q > '9') goto bad;
    unsigned d = (unsigned)(*q - '0');
    if (v > (limit - d) / 10)
      return row_err(im, PATRON_INVALID_INPUT, c,
                     "expected %s, got '%s' (out of range)", want,
                     echo(e, sizeof e, s));
    v = v * 10 + d;
  }
  *out = minus ? (int64_t)(0 - v) : (int64_t)v;
  *given = true;
  return PATRON_OK;
bad:
  return row_err(im, PATRON_INVALID_INPUT, c, "expected %s, got '%s'", want,
                 echo(e, sizeof e, s));
}

/* The key column: required, at most KEY_MAX bytes, no control characters
** nor surrounding spaces, once per file. */
static int key_field(importer *im, int c, const char **out) {
  char e[ECHO_MAX + 4];
  size_t len = 0;
  const char *s = field(im, c, &len);
  int64_t first;
  *out = s;
  if (!s) return row_err(im, PATRON_INVALID_INPUT, c, "required, got an empty field");
  if (len > KEY_MAX)
    return row_err(im, PATRON_INVALID_INPUT, c, "at most %d bytes, got %zu ('%s')",
                   KEY_MAX, len, echo(e, sizeof e, s));
  int rc = check_text(im, c, s, len);
  if (rc) return rc;
  if (s[0] == ' ' || s[len - 1] == ' ')
    return row_err(im, PATRON_INVALID_INPUT, c,
                   "must not begin or end with a space, got '%s'", echo(e, sizeof e, s));
  switch (keyset_add(&im->keys, s, len, im->row->line, &first)) {
  case 0: return PATRON_OK;
  case 1:
    return row_err(im, PATRON_INVALID_INPUT, c, "duplicate '%s' (first on line %lld)",
                   echo(e, sizeof e, s), (long long)first);
  default: return pt_err(im->p, PATRON_NOMEM, "out of memory");
  }
}

static void bind_opt_int(sqlite3_stmt *st, int i, bool given, int64_t v) {
  if (given) sqlite3_bind_int64(st, i, v);
  else sqlite3_bind_null(st, i);
}

/* ---- catalog ------------------------------------------------------------ */
static int catalog_row(importer *im) {
  patron *p = im->p;
  const char *sku, *name, *category, *tags;
  bool has_price, has_pop, has_cost;
  int64_t price, pop, cost;
  int rc;
  if ((rc = key_field(im, CAT_SKU, &sku)) ||
      (rc = text_field(im, CAT_NAME, &name)) ||
      (rc = int_field(im, CAT_PRICE, false, &has_price, &price)) ||
      (rc = text_field(im, CAT_CATEGORY, &category)) ||
      (rc = int_field(im, CAT_POPULARITY, true, &has_pop, &pop)) ||
      (rc = int_field(im, CAT_COST, false, &has_cost, &cost)) ||
      (rc = text_field(im, CAT_TAGS, &tags)))
    return rc;
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_stmt *st = pt_stmt(p, pass ? PT_SQL_IMPORT_CATALOG_UPDATE
                                       : PT_SQL_IMPORT_CATALOG_INSERT);
    if (!st) return at_line(im);
    /* the fields live in the CSV reader until its next record */
    pt_bind_text(st, 1, sku);
    pt_bind_text(st, 2, name);
    bind_opt_int(st, 3, has_price, price);
    pt_bind_text(st, 4, category);
    bind_opt_int(st, 5, has_pop, pop);
    bind_opt_int(st, 6, has_cost, cost);
    pt_bind_text(st, 7, tags);
    if (pt_exec_stmt(p, st, pass ? "update product" : "add product")) return at_line(im);
    if (sqlite3_changes(p->db) > 0) {
      if (pass) im->res.updated++;
      else im->res.inserted++;
      break;
    }
  }
  return PATRON_OK;
}

/* ---- customers ---------------------------------------------------------- */
static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* "YYYY-MM-DD" (a real date) or "MM-DD" (February 29 allowed). */
static bool birthday_ok(const char *s) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y = 0, m, d;
  size_t n = strlen(s);
  if (n == 10) {
    if (!digits(s, 4, &y) || y < 1 || s[4] != '-') return false;
    s += 5;
  } else if (n != 5) {
    return false;
  }
  if (!digits(s, 2, &m) || s[2] != '-' || !digits(s + 3, 2, &d)) return false;
  if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
  if (y && m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return false;
  return true;
}

/* One '@' with text on both sides, no spaces or control characters. */
static bool email_ok(const char *s, size_t len) {
  const char *at = strchr(s, '@');
  if (len > EMAIL_MAX || !at || at == s || !at[1] || strchr(at + 1, '@')) return false;
  for (const unsigned char *u = (const unsigned char *)s; *u; u++)
    if (*u <= 0x20 || *u == 0x7F) return false;
  return true;
}

static int customer_opening(importer *im, const pt_program *prog, const char *id,
                            int64_t points, int64_t spend) {
  patron *p = im->p;
  bool found = false;
  if (pt_ledger_has_ref(p, prog, id, OPENING_REF, &found)) return at_line(im);
  if (!found) {
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_IMPORT_OPENING_SPEND);
    if (!st) return at_line(im);
    pt_bind_text(st, 1, prog->name);
    pt_bind_text(st, 2, id);
    pt_bind_text(st, 3, OPENING_REF);
    int r = pt_row(p, st, "find opening spend");
    pt_stmt_done(st);
    if (r < 0) return at_line(im);
    found = r > 0;
  }
  if (found) {
    im->res.opening_skipped++;
    return PATRON_OK;
  }
  if (points > 0) {
    char reason[256];
    snprintf(reason, sizeof reason, "opening balance from %s", im->file);
    pt_post e = {.customer = id, .kind = PT_ADJUST, .points = points,
                 .at = im->now, .order_ref = OPENING_REF, .source = "import",
                 .reason = reason};
    if (pt_ledger_post(p, prog, &e, NULL)) return at_line(im);
  }
  if (spend > 0 && pt_ledger_add_spend(p, prog, id, spend, im->now, OPENING_REF))
    return at_line(im);
  return PATRON_OK;
}

static int customer_row(importer *im) {
  patron *p = im->p;
  char e[ECHO_MAX + 4];
  const char *id, *email, *birthday, *program;
  bool has_points, has_spend;
  int64_t points, spend;
  size_t len = 0;
  int rc;
  if ((rc = key_field(im, CUS_ID, &id))) return rc;
  if ((rc = text_field(im, CUS_EMAIL, &email))) return rc; /* valid UTF-8 first */
  if ((email = field(im, CUS_EMAIL, &len)) && !email_ok(email, len))
    return row_err(im, PATRON_INVALID_INPUT, CUS_EMAIL,
                   "expected an address like name@example.com, got '%s'",
                   echo(e, sizeof e, email));
  if ((birthday = field(im, CUS_BIRTHDAY, NULL)) && !birthday_ok(birthday))
    return row_err(im, PATRON_INVALID_INPUT, CUS_BIRTHDAY,
                   "expected a date as YYYY-MM-DD or MM-DD, got '%s'",
                   echo(e, sizeof e, birthday));
  if ((rc = text_field(im, CUS_PROGRAM, &program)) ||
      (rc = int_field(im, CUS_POINTS, false, &has_points, &points)) ||
      (rc = int_field(im, CUS_SPEND, false, &has_spend, &spend)))
    return rc;

  sqlite3_stmt *st = pt_stmt(p, PT_SQL_IMPORT_CUSTOMER_INSERT);
  if (!st) return at_line(im);
  pt_bind_text(st, 1, id);
  pt_bind_text(st, 2, email);
  pt_bind_text(st, 3, birthday);
  sqlite3_bind_int64(st, 4, im->now);
  if (pt_exec_stmt(p, st, "add customer")) return at_line(im);
  if (sqlite3_changes(p->db) > 0) {
    im->res.inserted++;
  } else {
    if (!(st = pt_stmt(p, PT_SQL_IMPORT_CUSTOMER_UPDATE))) return at_line(im);
    pt_bind_text(st, 1, id);
    pt_bind_text(st, 2, email);
    pt_bind_text(st, 3, birthday);
    if (pt_exec_stmt(p, st, "update customer")) return at_line(im);
    if (sqlite3_changes(p->db) > 0) im->res.updated++;
  }

  if (!program && points == 0 && spend == 0) return PATRON_OK;
  /* the header had a program, points or spend column: customers_start
  ** loaded the config */
  if (!im->cfg) return pt_err(p, PATRON_INTERNAL, "import: no config for program");
  const pt_program *prog = pt_config_program(p, im->cfg, program);
  if (!prog) {
    if (!program)
      return row_err(im, PATRON_UNKNOWN_PROGRAM, CUS_PROGRAM,
                     "not given, and the shop configuration names no default program");
    char known[256] = "";
    for (size_t i = 0; i < im->cfg->nprograms; i++) {
      size_t k = strlen(known);
      snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "",
               im->cfg->programs[i].name);
    }
    return row_err(im, PATRON_UNKNOWN_PROGRAM, CUS_PROGRAM,
                   "unknown program '%s' (the shop has: %s)", echo(e, sizeof e, program),
                   known);
  }
  if (pt_customer_ensure(p, id, im->now) || pt_account_ensure(p, prog, id, im->now))
    return at_line(im);
  if (points == 0 && spend == 0) return PATRON_OK;
  return customer_opening(im, prog, id, points, spend);
}

/* ---- the driver ---------------------------------------------------------- */
static void allowed_list(const importer *im, char *buf, size_t size) {
  buf[0] = 0;
  for (size_t i = 0; i < im->ncols; i++) {
    size_t k = strlen(buf);
    snprintf(buf + k, size - k, "%s%s", i ? ", " : "", im->cols[i]);
  }
}

static int header_err(importer *im, int64_t line, const char *col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int header_err(importer *im, int64_t line, const char *col, const char *fmt, ...) {
  char why[PT_ERRMSG_SIZE / 2], allowed[160], path[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  allowed_list(im, allowed, sizeof allowed);
  if (col) snprintf(path, sizeof path, "line %lld, %s", (long long)line, col);
  else snprintf(path, sizeof path, "line %lld", (long long)line);
  return pt_err_path(im->p, PATRON_INVALID_INPUT, path, "%s:%lld: %s; allowed columns: %s",
                     im->file, (long long)line, why, allowed);
}

static bool name_is(const char *s, size_t n, const char *name) {
  if (strlen(name) != n) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != name[i]) return false;
  }
  return true;
}

static int map_header(importer *im, const pt_csv_row *h) {
  char e[ECHO_MAX + 4];
  for (size_t c = 0; c < im->ncols; c++) im->col[c] = -1;
  for (size_t i = 0; i < h->n; i++) {
    const char *s = h->fields[i];
    size_t n = h->lens[i];
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (!n) return header_err(im, h->line, NULL, "column %zu of the header has no name", i + 1);
    size_t c = 0;
    while (c < im->ncols && !name_is(s, n, im->cols[c])) c++;
    if (c == im->ncols) {
      char name[ECHO_MAX + 4];
      snprintf(name, sizeof name, "%.*s", (int)(n < ECHO_MAX ? n : ECHO_MAX), s);
      return header_err(im, h->line, echo(e, sizeof e, name), "unknown column '%s'", e);
    }
    if (im->col[c] >= 0)
      return header_err(im, h->line, im->cols[c], "duplicate column '%s' (columns %d and %zu)",
                        im->cols[c], im->col[c] + 1, i + 1);
    im->col[c] = (int)i;
  }
  if (im->col[0] < 0)
    return header_err(im, h->line, im->cols[0], "the header has no '%s' column, which is required",
                      im->cols[0]);
  im->nfields = h->n;
  im->header_line = h->line;
  return PATRON_OK;
}

/* customers: the program, points and spend columns need the shop config */
static int customers_start(importer *im) {
  static const int need[] = {CUS_PROGRAM, CUS_POINTS, CUS_SPEND};
  char cols[64] = "";
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    if (im->col[need[i]] < 0) continue;
    size_t k = strlen(cols);
    snprintf(cols + k, sizeof cols - k, "%s%s", k ? ", " : "", im->cols[need[i]]);
  }
  if (!cols[0]) return PATRON_OK;
  if ((im->cfg = pt_config_active(im->p))) return PATRON_OK;
  if (im->p->code != PATRON_NO_CONFIG) return im->p->code;
  char path[64];
  snprintf(path, sizeof path, "line %lld", (long long)im->header_line);
  return pt_err_path(im->p, PATRON_NO_CONFIG, path,
                     "%s: the %s column%s need%s a shop configuration; run "
                     "`patron apply shop.lua` first (a file with only id, email "
                     "and birthday imports without one)",
                     im->file, cols, strchr(cols, ',') ? "s" : "",
                     strchr(cols, ',') ? "" : "s");
}

typedef struct import_kind {
  const char *const *cols;
  size_t ncols;
  int (*start)(importer *);
  int (*row)(importer *);
} import_kind;

static int run_import(patron *p, patron_import_result *out, const char *path,
                      patron_progress_fn progress, void *ud, const import_kind *kind) {
  importer im = {.p = p, .cols = kind->cols, .ncols = kind->ncols};
  FILE *f = NULL;
  pt_csv *csv = NULL;
  bool in_txn = false;
  int64_t total = 0, line = 1;
  pt_csv_row row, header;
  int rc;
  if (out) memset(out, 0, sizeof *out);
  if (!p) return PATRON_MISUSE;
  pt_ok(p);
  if (!path || !*path) return pt_err(p, PATRON_MISUSE, "no file to import");
  const char *slash = strrchr(path, '/');
  im.file = slash ? slash + 1 : path;
  im.now = patron_now(p);
  if (!(f = fopen(path, "rb"))) {
    rc = pt_err(p, errno == ENOMEM ? PATRON_NOMEM : PATRON_IO, "cannot open %s: %s",
                path, strerror(errno));
    goto done;
  }
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    if (size > 0) total = size;
  }
  if (fseek(f, 0, SEEK_SET) != 0) { /* not seekable (a pipe): size unknown */
    clearerr(f);
    total = 0;
  }
  if (!(csv = pt_csv_open(f))) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto done;
  }
  if ((rc = pt_begin(p))) goto done;
  in_txn = true;

  rc = pt_csv_next(csv, &header);
  if (rc == PT_CSV_END) {
    char allowed[160];
    allowed_list(&im, allowed, sizeof allowed);
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "line 1",
                     "%s: empty file; expected a header line naming the columns "
                     "(allowed: %s)", im.file, allowed);
    goto done;
  }
  if (rc == PT_CSV_ERROR) goto csv_error;
  if ((rc = map_header(&im, &header))) goto done;
  line = header.line;
  if (kind->start && (rc = kind->start(&im))) goto done;

  im.row = &row;
  while ((rc = pt_csv_next(csv, &row)) == PT_CSV_ROW) {
    line = row.line;
    im.res.rows++;
    if (row.n != im.nfields) {
      rc = row_err(&im, PATRON_INVALID_INPUT, -1, "expected %zu fields as in the header, got %zu",
                   im.nfields, row.n);
      goto done;
    }
    if ((rc = kind->row(&im))) goto done;
    if (progress && im.res.rows % PROGRESS_EVERY == 0 &&
        progress(ud, pt_csv_offset(csv), total))
      goto canceled;
  }
  if (rc == PT_CSV_ERROR) goto csv_error;
  if (progress && progress(ud, pt_csv_offset(csv), total)) goto canceled;
  in_txn = false;
  if ((rc = pt_commit(p))) goto done;
  if (out) *out = im.res;
  rc = PATRON_OK;
  goto done;

csv_error: {
  char where[64];
  long long eline = (long long)pt_csv_errline(csv);
  snprintf(where, sizeof where, "line %lld", eline);
  switch (pt_csv_errkind_of(csv)) {
  case PT_CSV_EIO:
    rc = pt_err(p, PATRON_IO, "%s: %s", im.file, pt_csv_errwhy(csv));
    break;
  case PT_CSV_ENOMEM: rc = pt_err(p, PATRON_NOMEM, "out of memory"); break;
  default:
    rc = pt_err_path(p, PATRON_INVALID_INPUT, where, "%s:%lld: %s", im.file, eline,
                     pt_csv_errwhy(csv));
  }
  goto done;
}
canceled: {
  char where[64];
  snprintf(where, sizeof where, "line %lld", (long long)line);
  rc = pt_err_path(p, PATRON_INVALID_INPUT, where, "import canceled at line %lld",
                   (long long)line);
}
done:
  if (in_txn) pt_rollback(p);
  pt_csv_close(csv);
  if (f) fclose(f);
  keyset_free(&im.keys);
  return rc;
}

int patron_import_catalog(patron *p, patron_import_result *out, const char *path,
                          patron_progress_fn progress, void *ud) {
  static const import_kind kind = {catalog_cols, CAT__N, NULL, catalog_row};
  return run_import(p, out, path, progress, ud, &kind);
}

int patron_import_customers(patron *p, patron_import_result *out, const char *path,
                            patron_progress_fn progress, void *ud) {
  static const import_kind kind = {customer_cols, CUS__N, customers_start,
                                   customer_row};
  return run_import(p, out, path, progress, ud, &kind);
}
