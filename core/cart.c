/*
** cart.c -- decodes and validates carts (DESIGN.md section 5) from JSON
** text, from a parsed json_t or from the public patron_cart struct into a
** pt_cart, and writes the cart's canonical JSON (commit idempotency). The
** three entry points share one set of field checks, so they give the same
** codes, paths and messages, and the canonical text is written from the
** normalised pt_cart, never from the input. What the cart means (a known
** program, the catalog's categories, the shop's currency) is checked by
** the pipeline in checkout.c, not here.
**
** Limits: text over 1 MiB and nesting deeper than 16 are refused before
** jansson sees the text; duplicate keys, invalid UTF-8, NaN and numbers
** jansson cannot represent are refused by jansson (INVALID_JSON with line
** and column). Everything else is INVALID_CART with the field's path.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "json.h"

#define CART_MAX_TEXT (1024 * 1024) /* bytes of JSON text */
#define CART_MAX_DEPTH 16           /* nesting of arrays and objects */
#define CART_MAX_SHOWN 100          /* shown_suggestions entries */
#define CART_MAX_INT INT64_C(9007199254740992) /* 2^53: cents, points */
#define CART_AT_MIN INT64_C(1)                 /* 1970-01-01T00:00:01Z */
#define CART_AT_MAX INT64_C(253402300799)      /* 9999-12-31T23:59:59Z */
#define GOT_SIZE 128                           /* a rendered "got" value */

/* ---- paths and errors ------------------------------------------------- */

/* Where a value sits: a, a[i], a[i].b or a[i].b[j] (-1: no index). */
typedef struct where {
  const char *a;
  long i;
  const char *b;
  long j;
} where;

static void path_fmt(char *buf, size_t n, const where *w) {
  size_t k = 0;
  int r = snprintf(buf, n, "%s", w->a);
#define ADVANCE() k = (r < 0) ? k : (k + (size_t)r < n ? k + (size_t)r : n - 1)
  ADVANCE();
  if (w->i >= 0) { r = snprintf(buf + k, n - k, "[%ld]", w->i); ADVANCE(); }
  if (w->b) { r = snprintf(buf + k, n - k, ".%s", w->b); ADVANCE(); }
  if (w->j >= 0) { r = snprintf(buf + k, n - k, "[%ld]", w->j); ADVANCE(); }
#undef ADVANCE
}

/* INVALID_CART at w; the message is the path followed by the text. */
static int bad(patron *p, const where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(patron *p, const where *w, const char *fmt, ...) {
  char path[128], tail[768];
  va_list ap;
  path_fmt(path, sizeof path, w);
  va_start(ap, fmt);
  vsnprintf(tail, sizeof tail, fmt, ap);
  va_end(ap);
  return pt_err_path(p, PATRON_INVALID_CART, path, "%s %s", path, tail);
}

static int nomem(patron *p) {
  return pt_err(p, PATRON_NOMEM, "out of memory decoding the cart");
}

/* ---- text checks ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
** no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0], cp;
  size_t len;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[k] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* What a text field expects, in the words of its messages. */
typedef struct text_spec {
  size_t min, max; /* bytes */
  const char *expect;
} text_spec;

static const text_spec S_NAME = {1, PT_NAME_MAX - 1, "a string of 1 to 63 bytes"};
static const text_spec S_ID = {1, PT_ID_MAX - 1, "a string of 1 to 127 bytes"};
static const text_spec S_CUSTOMER = {1, PT_ID_MAX - 1,
                                     "a string of 1 to 127 bytes or null"};
static const text_spec S_CURRENCY = {0, SIZE_MAX,
                                     "3 uppercase ASCII letters such as \"EUR\""};
static const text_spec S_AT = {0, SIZE_MAX,
                               "an ISO-8601 time such as \"2026-11-23T12:00:00Z\""};
static const text_spec S_CATEGORY = {0, PT_NAME_MAX - 1,
                                     "a string of at most 63 bytes"};
static const text_spec S_TAGS = {0, sizeof ((pt_line *)0)->tags - 1,
                                 "a string of at most 255 bytes or an array of strings"};
static const text_spec S_TAG = {1, sizeof ((pt_line *)0)->tags - 1,
                                "a non-empty string without commas"};
static const text_spec S_ANY = {0, SIZE_MAX, "a string"};

/* Renders a string for a message: quoted, escaped, cut at 40 bytes on a
** character boundary; never echoes a card number. */
static const char *got_str(char *buf, size_t n, const char *s, size_t len) {
  if (pt_is_card_number(s)) return "a string that looks like a card number";
  size_t k = 0, i = 0;
  buf[k++] = '"';
  while (i < len && k + 12 < n) {
    if (i >= 40) { memcpy(buf + k, "...", 3); k += 3; break; }
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { buf[k++] = '\\'; buf[k++] = (char)c; i++; continue; }
    if (c < 0x20 || c == 0x7f) {
      if (c == '\n' || c == '\t') {
        buf[k++] = '\\';
        buf[k++] = c == '\n' ? 'n' : 't';
      } else {
        k += (size_t)snprintf(buf + k, n - k, "\\u%04X", c);
      }
      i++;
      continue;
    }
    if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9F &&
        (unsigned char)s[i + 1] >= 0x80) { /* a C1 control character */
      k += (size_t)snprintf(buf + k, n - k, "\\u%04X", (unsigned char)s[i + 1]);
      i += 2;
      continue;
    }
    size_t m = c < 0x80 ? 1 : utf8_seq((const unsigned char *)s + i, len - i);
    if (m == 0) { buf[k++] = '?'; i++; continue; }
    if (k + m + 12 >= n) break;
    memcpy(buf + k, s + i, m);
    k += m;
    i += m;
  }
  buf[k++] = '"';
  buf[k] = 0;
  return buf;
}

/* A real as the shortest text that reads back the same, with ".0" when it
** would otherwise look like an integer (so -0.0 and 3.0 say what they are). */
static void got_real(char *buf, size_t n, double d) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static const char *got_json(char *buf, size_t n, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING:
    return got_str(buf, n, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  case JSON_REAL: got_real(buf, n, json_real_value(v)); return buf;
  case JSON_TRUE: return "true";
  case JSON_FALSE: return "false";
  case JSON_NULL: return "null";
  }
  return "an unknown value";
}

/* The checks every text field gets, in this order: no NUL, valid UTF-8,
** not a card number, then the length. s[len] is a NUL. */
static int check_text(patron *p, const where *w, const text_spec *sp,
                      const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    if (u[i] == 0) return bad(p, w, "must not contain a NUL character (\\u0000)");
    if (u[i] < 0x80) { i++; continue; }
    size_t m = utf8_seq(u + i, len - i);
    if (!m) return bad(p, w, "must be valid UTF-8 (bad byte 0x%02X at offset %zu)", u[i], i);
    i += m;
  }
  if (pt_is_card_number(s))
    return bad(p, w, "looks like a payment card number; patron never accepts "
                     "card numbers");
  if (len < sp->min) return bad(p, w, "must be %s, got an empty string", sp->expect);
  if (len > sp->max) return bad(p, w, "must be %s, got %zu bytes", sp->expect, len);
  return PATRON_OK;
}

/* Printable: no C0 or C1 control characters, no DEL. */
static bool has_control(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len; i++) {
    if (u[i] < 0x20 || u[i] == 0x7f) return true;
    if (u[i] == 0xC2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) return true;
  }
  return false;
}

/* ---- field rules shared by the JSON and struct paths ------------------ */

enum top_field { F_PROGRAM, F_CUSTOMER, F_CURRENCY, F_AT, F_REGION, F_ORDER_ID,
                 F_LINES, F_REDEEM, F_SHOWN, F_EXPECT, F_TRACK, F__COUNT };
static const char *const top_names[F__COUNT] = {
    "program", "customer", "currency", "at", "region", "order_id", "lines",
    "redeem_points", "shown_suggestions", "expect_total_cents", "track"};
#define TOP_ALLOWED                                                        \
  "program, customer, currency, at, region, order_id, lines, "            \
  "redeem_points, shown_suggestions, expect_total_cents, track"

enum line_field { L_SKU, L_QTY, L_UNIT, L_CATEGORY, L_TAGS, L_NAME, L__COUNT };
static const char *const line_names[L__COUNT] = {"sku", "qty", "unit_cents",
                                                 "category", "tags", "name"};
#define LINE_ALLOWED "sku, qty, unit_cents, category, tags, name"

/* The index of key k in names (n of them), n if none: a switch on the
** first byte keeps this to one string comparison for known keys. */
static int field_index(const char *const *names, int n, const char *k) {
  for (int f = 0; f < n; f++)
    if (names[f][0] == k[0] && strcmp(names[f] + 1, k + 1) == 0) return f;
  return n;
}

#define TOP(f) ((where){top_names[f], -1, NULL, -1})
#define LINE(i, f) ((where){"lines", (long)(i), line_names[f], -1})

static void copy_text(char *dst, const char *s, size_t len) {
  memcpy(dst, s, len);
  dst[len] = 0;
}

/* What an integer field expects; min is 0 or 1. */
typedef struct int_spec {
  int64_t min, max;
  const char *expect;
} int_spec;

static const int_spec I_QTY = {1, PT_MAX_QTY, "a positive integer"};
static const int_spec I_CENTS = {0, CART_MAX_INT, "an integer number of cents"};
static const int_spec I_POINTS = {0, CART_MAX_INT, "an integer number of points"};

static int check_int(patron *p, const where *w, const int_spec *sp, int64_t v) {
  if (v < sp->min)
    return sp->min > 0 ? bad(p, w, "must be %s, got %" PRId64, sp->expect, v)
                       : bad(p, w, "must not be negative, got %" PRId64, v);
  if (v > sp->max)
    return bad(p, w, "must be at most %" PRId64 ", got %" PRId64, sp->max, v);
  return PATRON_OK;
}

/* A top-level text field (not at); s[len] is a NUL. */
static int top_text(patron *p, pt_cart *c, enum top_field f, const char *s,
                    size_t len) {
  where w = TOP(f);
  char g[GOT_SIZE];
  int rc;
  switch (f) {
  case F_PROGRAM:
    if ((rc = check_text(p, &w, &S_NAME, s, len))) return rc;
    copy_text(c->program, s, len);
    return PATRON_OK;
  case F_CUSTOMER:
    if ((rc = check_text(p, &w, &S_CUSTOMER, s, len))) return rc;
    copy_text(c->customer, s, len);
    return PATRON_OK;
  case F_CURRENCY:
    if ((rc = check_text(p, &w, &S_CURRENCY, s, len))) return rc;
    if (len != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
        s[2] < 'A' || s[2] > 'Z')
      return bad(p, &w, "must be %s, got %s", S_CURRENCY.expect,
                 got_str(g, sizeof g, s, len));
    copy_text(c->currency, s, len);
    return PATRON_OK;
  case F_REGION:
    if ((rc = check_text(p, &w, &S_NAME, s, len))) return rc;
    copy_text(c->region, s, len);
    return PATRON_OK;
  case F_ORDER_ID:
    if ((rc = check_text(p, &w, &S_ID, s, len))) return rc;
    if (has_control(s, len))
      return bad(p, &w, "must not contain control characters, got %s",
                 got_str(g, sizeof g, s, len));
    copy_text(c->order_id, s, len);
    return PATRON_OK;
  default:
    return pt_err(p, PATRON_INTERNAL, "cart field %d is not text", (int)f);
  }
}

/* at must be a time patron_time_parse and patron_time_format agree on,
** and not 0 (which means "now"). */
static bool at_in_range(int64_t t) { return t >= CART_AT_MIN && t <= CART_AT_MAX; }

static int at_range_error(patron *p, const char *got) {
  where w = TOP(F_AT);
  return bad(p, &w, "must be between 1970-01-01T00:00:01Z and "
                    "9999-12-31T23:59:59Z, got %s", got);
}

/* A line's text field (sku, category, tags as one string, name). */
static int line_text(patron *p, pt_line *l, size_t i, enum line_field f,
                     const char *s, size_t len) {
  where w = LINE(i, f);
  int rc;
  switch (f) {
  case L_SKU:
    if ((rc = check_text(p, &w, &S_NAME, s, len))) return rc;
    copy_text(l->sku, s, len);
    return PATRON_OK;
  case L_CATEGORY:
    if ((rc = check_text(p, &w, &S_CATEGORY, s, len))) return rc;
    copy_text(l->category, s, len);
    return PATRON_OK;
  case L_TAGS:
    if ((rc = check_text(p, &w, &S_TAGS, s, len))) return rc;
    copy_text(l->tags, s, len);
    return PATRON_OK;
  case L_NAME: /* accepted and ignored */
    return check_text(p, &w, &S_ANY, s, len);
  default:
    return pt_err(p, PATRON_INTERNAL, "line field %d is not text", (int)f);
  }
}

static int shown_text(patron *p, pt_cart *c, size_t i, const char *s, size_t len) {
  where w = {top_names[F_SHOWN], (long)i, NULL, -1};
  int rc = check_text(p, &w, &S_NAME, s, len);
  if (rc == PATRON_OK) copy_text(c->shown[i], s, len);
  return rc;
}

static int alloc_lines(patron *p, pt_cart *c, size_t n) {
  where w = TOP(F_LINES);
  if (n == 0) return bad(p, &w, "has no entries; a cart needs at least 1 line");
  if (n > PT_MAX_LINES)
    return bad(p, &w, "has %zu entries; at most %d are allowed", n, PT_MAX_LINES);
  if (!(c->lines = calloc(n, sizeof *c->lines))) return nomem(p);
  c->nlines = n;
  return PATRON_OK;
}

static int alloc_shown(patron *p, pt_cart *c, size_t n) {
  where w = TOP(F_SHOWN);
  if (n > CART_MAX_SHOWN)
    return bad(p, &w, "has %zu entries; at most %d are allowed", n, CART_MAX_SHOWN);
  if (n && !(c->shown = malloc(n * sizeof *c->shown))) return nomem(p);
  c->nshown = n;
  return PATRON_OK;
}

/* ---- canonical JSON --------------------------------------------------- */

/* The canonical text is written in two passes over the normalised cart:
** the first measures it exactly, the second writes it into one malloc'd
** block without further checks. */
typedef struct cwriter {
  char *q;     /* NULL: measuring */
  size_t len;
} cwriter;

static void put_raw(cwriter *w, const char *s, size_t n) {
  if (w->q) { memcpy(w->q, s, n); w->q += n; }
  w->len += n;
}
#define PUT(lit) put_raw(w, lit, sizeof lit - 1)

/* A JSON string escaped the way jansson's encoder does it. */
static void put_str(cwriter *w, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  const char *run = s;
  put_raw(w, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    put_raw(w, run, (size_t)(s - run));
    run = s + 1;
    switch (c) {
    case '"': PUT("\\\""); break;
    case '\\': PUT("\\\\"); break;
    case '\b': PUT("\\b"); break;
    case '\f': PUT("\\f"); break;
    case '\n': PUT("\\n"); break;
    case '\r': PUT("\\r"); break;
    case '\t': PUT("\\t"); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put_raw(w, u, 6);
    }
    }
  }
  put_raw(w, run, (size_t)(s - run));
  put_raw(w, "\"", 1);
}

static void put_int(cwriter *w, int64_t v) {
  char tmp[24], *e = tmp + sizeof tmp, *q = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do { *--q = (char)('0' + u % 10); u /= 10; } while (u);
  if (v < 0) *--q = '-';
  put_raw(w, q, (size_t)(e - q));
}

/* The canonical text: compact, keys sorted bytewise, every line with all
** its fields, other fields only when they differ from their absent value
** ("" strings, at 0, redeem_points 0, no shown skus, track false), and
** never expect_total_cents. It is itself a valid cart that decodes to the
** same canonical text. at is given as its UTC time text (at_text). */
static void write_canonical(cwriter *w, const pt_cart *c, const char *at_text) {
  PUT("{");
  if (c->at) { PUT("\"at\":"); put_str(w, at_text); PUT(","); }
  if (c->currency[0]) { PUT("\"currency\":"); put_str(w, c->currency); PUT(","); }
  if (c->customer[0]) { PUT("\"customer\":"); put_str(w, c->customer); PUT(","); }
  PUT("\"lines\":[");
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    if (i) PUT(",");
    PUT("{\"category\":");
    put_str(w, l->category);
    PUT(",\"qty\":");
    put_int(w, l->qty);
    PUT(",\"sku\":");
    put_str(w, l->sku);
    PUT(",\"tags\":");
    put_str(w, l->tags);
    PUT(",\"unit_cents\":");
    put_int(w, l->unit_cents);
    PUT("}");
  }
  PUT("]");
  if (c->order_id[0]) { PUT(",\"order_id\":"); put_str(w, c->order_id); }
  if (c->program[0]) { PUT(",\"program\":"); put_str(w, c->program); }
  if (c->redeem_points) { PUT(",\"redeem_points\":"); put_int(w, c->redeem_points); }
  if (c->region[0]) { PUT(",\"region\":"); put_str(w, c->region); }
  if (c->nshown) {
    PUT(",\"shown_suggestions\":[");
    for (size_t i = 0; i < c->nshown; i++) {
      if (i) PUT(",");
      put_str(w, c->shown[i]);
    }
    PUT("]");
  }
  if (c->track) PUT(",\"track\":true");
  PUT("}");
}

#undef PUT

static int build_canonical(patron *p, pt_cart *c) {
  char at[32] = "";
  cwriter w = {NULL, 0};
  if (c->at) patron_time_format(at, sizeof at, c->at);
  write_canonical(&w, c, at);
  if (!(c->canonical = malloc(w.len + 1))) return nomem(p);
  w = (cwriter){c->canonical, 0};
  write_canonical(&w, c, at);
  *w.q = 0;
  return PATRON_OK;
}

/* Checks what spans fields (amounts fit in int64), then writes the
** canonical text. */
static int cart_finish(patron *p, pt_cart *c) {
  int64_t total = 0, gross;
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    if (!pt_mul64(l->qty, l->unit_cents, &gross)) {
      where w = {"lines", (long)i, NULL, -1};
      return bad(p, &w, "amounts overflow: %" PRId64 " x %" PRId64
                 " cents does not fit in a 64-bit integer", l->qty, l->unit_cents);
    }
    if (!pt_add64(total, gross, &total)) {
      where w = TOP(F_LINES);
      return bad(p, &w, "amounts overflow: the sum of the lines does not fit "
                        "in a 64-bit integer");
    }
  }
  return build_canonical(p, c);
}

void pt_cart_free(pt_cart *c) {
  if (!c) return;
  free(c->lines);
  free(c->shown);
  free(c->canonical);
  memset(c, 0, sizeof *c);
}

/* ---- from JSON -------------------------------------------------------- */

/* s made safe for a message: at most max bytes of it, cut on a character
** boundary, control characters and bytes that are not UTF-8 as '?'. */
static const char *clean_text(char *buf, size_t n, const char *s, size_t max) {
  size_t i = 0, len = strlen(s), o = 0;
  while (i < len && i < max && o + 8 < n) {
    unsigned char c = (unsigned char)s[i];
    size_t m = c < 0x80 ? 1 : utf8_seq((const unsigned char *)s + i, len - i);
    if (c < 0x20 || c == 0x7f || m == 0) { buf[o++] = '?'; i++; continue; }
    memcpy(buf + o, s + i, m);
    o += m;
    i += m;
  }
  if (i < len) { memcpy(buf + o, "...", 3); o += 3; }
  buf[o] = 0;
  return buf;
}

/* A key for a message: at most 48 bytes, never a card number. */
static const char *key_for_message(char *buf, size_t n, const char *k) {
  if (pt_is_card_number(k)) return "(a key that looks like a card number)";
  return clean_text(buf, n, k, 48);
}

static int json_text(patron *p, const where *w, const json_t *v,
                     const text_spec *sp, const char **s, size_t *len) {
  char g[GOT_SIZE];
  if (!json_is_string(v)) return bad(p, w, "must be %s, got %s", sp->expect,
                                     got_json(g, sizeof g, v));
  *s = json_string_value(v);
  *len = json_string_length(v);
  return PATRON_OK;
}

static int json_int(patron *p, const where *w, const json_t *v,
                    const int_spec *sp, int64_t *out) {
  char g[GOT_SIZE];
  if (!json_is_integer(v)) return bad(p, w, "must be %s, got %s", sp->expect,
                                      got_json(g, sizeof g, v));
  *out = (int64_t)json_integer_value(v);
  return check_int(p, w, sp, *out);
}

/* tags as an array of strings, joined with ',' into l->tags. */
static int json_tags_array(patron *p, pt_line *l, size_t i, const json_t *a) {
  char g[GOT_SIZE];
  size_t k, n = 0, cap = sizeof l->tags - 1;
  const json_t *t;
  json_array_foreach(a, k, t) {
    where w = {"lines", (long)i, "tags", (long)k};
    const char *s = json_string_value(t);
    size_t len = json_string_length(t);
    int rc;
    if (!json_is_string(t))
      return bad(p, &w, "must be %s, got %s", S_TAG.expect, got_json(g, sizeof g, t));
    if ((rc = check_text(p, &w, &S_TAG, s, len))) return rc;
    if (memchr(s, ',', len))
      return bad(p, &w, "must be %s, got %s", S_TAG.expect, got_str(g, sizeof g, s, len));
    size_t need = n + (n ? 1 : 0) + len;
    if (need > cap) {
      size_t total = need;
      for (size_t r = k + 1; r < json_array_size(a); r++)
        total += 1 + json_string_length(json_array_get(a, r));
      where wt = LINE(i, L_TAGS);
      return bad(p, &wt, "must be %s, got %zu bytes joined", S_TAGS.expect, total);
    }
    if (n) l->tags[n++] = ',';
    memcpy(l->tags + n, s, len);
    n += len;
  }
  l->tags[n] = 0;
  return PATRON_OK;
}

static int json_line(patron *p, pt_line *l, size_t i, const json_t *o) {
  char g[GOT_SIZE];
  const char *k;
  const json_t *v;
  unsigned seen = 0;
  if (!json_is_object(o)) {
    where w = {"lines", (long)i, NULL, -1};
    return bad(p, &w, "must be an object with sku, qty and unit_cents, got %s",
               got_json(g, sizeof g, o));
  }
  json_object_foreach((json_t *)o, k, v) {
    int rc, f = field_index(line_names, L__COUNT, k);
    const char *s;
    size_t len;
    where w = LINE(i, f < L__COUNT ? f : 0);
    switch (f) {
    case L_SKU:
    case L_CATEGORY:
    case L_NAME:
      if ((rc = json_text(p, &w, v, f == L_SKU ? &S_NAME : f == L_CATEGORY
                          ? &S_CATEGORY : &S_ANY, &s, &len)) ||
          (rc = line_text(p, l, i, f, s, len)))
        return rc;
      break;
    case L_QTY:
      if ((rc = json_int(p, &w, v, &I_QTY, &l->qty))) return rc;
      break;
    case L_UNIT:
      if ((rc = json_int(p, &w, v, &I_CENTS, &l->unit_cents))) return rc;
      break;
    case L_TAGS:
      if (json_is_array(v)) {
        if ((rc = json_tags_array(p, l, i, v))) return rc;
      } else if ((rc = json_text(p, &w, v, &S_TAGS, &s, &len)) ||
                 (rc = line_text(p, l, i, L_TAGS, s, len))) {
        return rc;
      }
      break;
    default: {
      char kb[64];
      w.b = key_for_message(kb, sizeof kb, k);
      char path[128];
      path_fmt(path, sizeof path, &w);
      return pt_err_path(p, PATRON_INVALID_CART, path,
                         "unknown field %s (allowed: " LINE_ALLOWED ")", path);
    }
    }
    seen |= 1u << f;
  }
  if (!(seen & (1u << L_SKU))) {
    where w = LINE(i, L_SKU);
    return bad(p, &w, "is required (%s)", S_NAME.expect);
  }
  if (!(seen & (1u << L_QTY))) {
    where w = LINE(i, L_QTY);
    return bad(p, &w, "is required (%s)", I_QTY.expect);
  }
  if (!(seen & (1u << L_UNIT))) {
    where w = LINE(i, L_UNIT);
    return bad(p, &w, "is required (%s)", I_CENTS.expect);
  }
  return PATRON_OK;
}

static int json_field(patron *p, pt_cart *c, enum top_field f, const json_t *v) {
  where w = TOP(f);
  char g[GOT_SIZE];
  const char *s;
  size_t len, i;
  const json_t *e;
  int rc;
  switch (f) {
  case F_CUSTOMER:
    if (json_is_null(v)) return PATRON_OK; /* anonymous */
    if ((rc = json_text(p, &w, v, &S_CUSTOMER, &s, &len))) return rc;
    return top_text(p, c, f, s, len);
  case F_PROGRAM:
  case F_REGION:
    if ((rc = json_text(p, &w, v, &S_NAME, &s, &len))) return rc;
    return top_text(p, c, f, s, len);
  case F_CURRENCY:
    if ((rc = json_text(p, &w, v, &S_CURRENCY, &s, &len))) return rc;
    return top_text(p, c, f, s, len);
  case F_ORDER_ID:
    if ((rc = json_text(p, &w, v, &S_ID, &s, &len))) return rc;
    return top_text(p, c, f, s, len);
  case F_AT:
    if ((rc = json_text(p, &w, v, &S_AT, &s, &len)) ||
        (rc = check_text(p, &w, &S_AT, s, len)))
      return rc;
    if (patron_time_parse(&c->at, s) != PATRON_OK)
      return bad(p, &w, "must be %s, got %s", S_AT.expect, got_str(g, sizeof g, s, len));
    return at_in_range(c->at) ? PATRON_OK
                              : at_range_error(p, got_str(g, sizeof g, s, len));
  case F_LINES:
    if (!json_is_array(v))
      return bad(p, &w, "must be an array of 1 to %d lines, got %s", PT_MAX_LINES,
                 got_json(g, sizeof g, v));
    if ((rc = alloc_lines(p, c, json_array_size(v)))) return rc;
    json_array_foreach(v, i, e) {
      if ((rc = json_line(p, &c->lines[i], i, e))) return rc;
    }
    return PATRON_OK;
  case F_REDEEM:
    return json_int(p, &w, v, &I_POINTS, &c->redeem_points);
  case F_SHOWN:
    if (!json_is_array(v))
      return bad(p, &w, "must be an array of at most %d skus, got %s",
                 CART_MAX_SHOWN, got_json(g, sizeof g, v));
    if ((rc = alloc_shown(p, c, json_array_size(v)))) return rc;
    json_array_foreach(v, i, e) {
      where we = {top_names[F_SHOWN], (long)i, NULL, -1};
      if ((rc = json_text(p, &we, e, &S_NAME, &s, &len)) ||
          (rc = shown_text(p, c, i, s, len)))
        return rc;
    }
    return PATRON_OK;
  case F_EXPECT:
    c->has_expect_total = true;
    return json_int(p, &w, v, &I_CENTS, &c->expect_total_cents);
  case F_TRACK:
    if (!json_is_boolean(v))
      return bad(p, &w, "must be true or false, got %s", got_json(g, sizeof g, v));
    c->track = json_is_true(v);
    return PATRON_OK;
  default:
    return pt_err(p, PATRON_INTERNAL, "cart field %d", (int)f);
  }
}

int pt_cart_from_json(patron *p, pt_cart *out, const json_t *obj) {
  char g[GOT_SIZE];
  const char *k;
  const json_t *v;
  bool has_lines = false;
  int rc = PATRON_OK;
  memset(out, 0, sizeof *out);
  if (!json_is_object(obj))
    return pt_err_path(p, PATRON_INVALID_CART, "",
                       "a cart must be a JSON object, got %s",
                       obj ? got_json(g, sizeof g, obj) : "nothing");
  json_object_foreach((json_t *)obj, k, v) {
    int f = field_index(top_names, F__COUNT, k);
    if (f == F__COUNT) {
      char kb[64];
      const char *key = key_for_message(kb, sizeof kb, k);
      rc = pt_err_path(p, PATRON_INVALID_CART, key,
                       "unknown field %s (allowed: " TOP_ALLOWED ")", key);
      goto done;
    }
    if ((rc = json_field(p, out, (enum top_field)f, v))) goto done;
    has_lines |= f == F_LINES;
  }
  if (!has_lines) {
    where w = TOP(F_LINES);
    rc = bad(p, &w, "is required (an array of 1 to %d lines)", PT_MAX_LINES);
    goto done;
  }
  rc = cart_finish(p, out);
done:
  if (rc) pt_cart_free(out);
  return rc;
}

/* Refuses nesting deeper than CART_MAX_DEPTH before jansson (which
** recurses) sees the text: brackets are counted outside strings. */
static int depth_scan(patron *p, const char *s, size_t n) {
  int depth = 0;
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '"': /* skip the string */
      for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
      break;
    case '[':
    case '{':
      if (++depth > CART_MAX_DEPTH)
        return pt_err(p, PATRON_INVALID_JSON,
                      "cart JSON is nested deeper than %d levels at line %zu, "
                      "column %zu", CART_MAX_DEPTH, line, i - line_start + 1);
      break;
    case ']':
    case '}':
      if (depth) depth--;
      break;
    case '\n':
      line++;
      line_start = i + 1;
      break;
    default: break;
    }
  }
  return PATRON_OK;
}

int pt_cart_decode(patron *p, pt_cart *out, const char *json, size_t len) {
  json_error_t e;
  memset(out, 0, sizeof *out);
  if (!json) return pt_err(p, PATRON_INVALID_JSON, "no cart text given");
  if (len > CART_MAX_TEXT)
    return pt_err(p, PATRON_INVALID_JSON,
                  "cart text is %zu bytes; at most %d are allowed", len,
                  CART_MAX_TEXT);
  int rc = depth_scan(p, json, len);
  if (rc) return rc;
  /* NULs are allowed by the parser so that the field check can name the
  ** field; JSON_DECODE_ANY so that a scalar cart gets INVALID_CART. */
  bool oom = false;
  json_t *root = pt_json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
                               JSON_DECODE_ANY, &e, &oom);
  if (oom) return nomem(p); /* not the text's fault */
  if (!root) {
    /* jansson quotes the offending bytes, which may not be UTF-8 */
    char text[sizeof e.text];
    clean_text(text, sizeof text, e.text, sizeof text - 9);
    return pt_err(p, PATRON_INVALID_JSON, "malformed JSON at line %d, column %d: %s",
                  e.line, e.column, text);
  }
  rc = pt_cart_from_json(p, out, root);
  json_decref(root);
  return rc;
}

/* ---- from the public struct ------------------------------------------- */

static int struct_top(patron *p, pt_cart *c, enum top_field f, const char *s) {
  return s ? top_text(p, c, f, s, strlen(s)) : PATRON_OK;
}

int pt_cart_from_struct(patron *p, pt_cart *out, const patron_cart *in) {
  int rc;
  memset(out, 0, sizeof *out);
  if (!in) return pt_err(p, PATRON_MISUSE, "cart is NULL");
  if (in->nlines && !in->lines)
    return pt_err(p, PATRON_MISUSE, "cart.lines is NULL but nlines is %zu", in->nlines);
  if (in->nshown && !in->shown_suggestions)
    return pt_err(p, PATRON_MISUSE, "cart.shown_suggestions is NULL but nshown is %zu",
                  in->nshown);
  if ((rc = struct_top(p, out, F_PROGRAM, in->program)) ||
      (rc = struct_top(p, out, F_CUSTOMER, in->customer)) ||
      (rc = struct_top(p, out, F_CURRENCY, in->currency)))
    goto done;
  if (in->at) {
    if (!at_in_range(in->at)) {
      char g[32];
      snprintf(g, sizeof g, "%" PRId64, in->at);
      rc = at_range_error(p, g);
      goto done;
    }
    out->at = in->at;
  }
  if ((rc = struct_top(p, out, F_REGION, in->region)) ||
      (rc = struct_top(p, out, F_ORDER_ID, in->order_id)) ||
      (rc = alloc_lines(p, out, in->nlines)))
    goto done;
  for (size_t i = 0; i < in->nlines; i++) {
    const patron_line *src = &in->lines[i];
    pt_line *l = &out->lines[i];
    where w = LINE(i, L_SKU);
    if (!src->sku) {
      rc = bad(p, &w, "is required (%s)", S_NAME.expect);
      goto done;
    }
    w = LINE(i, L_QTY);
    where wu = LINE(i, L_UNIT);
    if ((rc = line_text(p, l, i, L_SKU, src->sku, strlen(src->sku))) ||
        (rc = check_int(p, &w, &I_QTY, src->qty)) ||
        (rc = check_int(p, &wu, &I_CENTS, src->unit_cents)) ||
        (src->category &&
         (rc = line_text(p, l, i, L_CATEGORY, src->category, strlen(src->category)))) ||
        (src->tags && (rc = line_text(p, l, i, L_TAGS, src->tags, strlen(src->tags)))))
      goto done;
    l->qty = src->qty;
    l->unit_cents = src->unit_cents;
  }
  {
    where w = TOP(F_REDEEM);
    if ((rc = check_int(p, &w, &I_POINTS, in->redeem_points))) goto done;
    out->redeem_points = in->redeem_points;
  }
  if ((rc = alloc_shown(p, out, in->nshown))) goto done;
  for (size_t i = 0; i < in->nshown; i++) {
    const char *s = in->shown_suggestions[i];
    if (!s) {
      where w = {top_names[F_SHOWN], (long)i, NULL, -1};
      rc = bad(p, &w, "must be %s, got null", S_NAME.expect);
      goto done;
    }
    if ((rc = shown_text(p, out, i, s, strlen(s)))) goto done;
  }
  if (in->has_expect_total) {
    where w = TOP(F_EXPECT);
    if ((rc = check_int(p, &w, &I_CENTS, in->expect_total_cents))) goto done;
    out->has_expect_total = true;
    out->expect_total_cents = in->expect_total_cents;
  }
  rc = cart_finish(p, out);
done:
  if (rc) pt_cart_free(out);
  return rc;
}
