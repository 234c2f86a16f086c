/*
** util.c -- small helpers every module needs: checked money arithmetic,
** UTC time parsing and formatting, calendar month arithmetic, uuids,
** file reading and a growable string buffer. No state.
*/
#define _DEFAULT_SOURCE /* timegm */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uuid/uuid.h>

#include "internal.h"

bool pt_muldiv_floor(int64_t a, int64_t num, int64_t den, int64_t *out) {
  if (a < 0 || num < 0 || den <= 0) return false;
  __int128 r = (__int128)a * num / den; /* non-negative: truncation = floor */
  if (r > INT64_MAX) return false;
  *out = (int64_t)r;
  return true;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m /* 0..11 */) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 1 && is_leap(y) ? 29 : d[m];
}

int64_t pt_add_months(int64_t t, int n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  long months = (long)tm.tm_year * 12 + tm.tm_mon + n;
  tm.tm_year = (int)(months / 12);
  tm.tm_mon = (int)(months % 12);
  if (tm.tm_mon < 0) { tm.tm_mon += 12; tm.tm_year--; }
  int dim = days_in_month(tm.tm_year + 1900, tm.tm_mon);
  if (tm.tm_mday > dim) tm.tm_mday = dim;
  return (int64_t)timegm(&tm);
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int patron_time_parse(int64_t *out, const char *s) {
  struct tm tm = {0};
  int y, mo, d, h = 0, mi = 0, se = 0, off = 0;
  if (!s || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' ||
      !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
    return PATRON_INVALID_INPUT;
  const char *r = s + 10;
  if (*r == 'T' || *r == ' ') {
    if (!digits(r + 1, 2, &h) || r[3] != ':' || !digits(r + 4, 2, &mi))
      return PATRON_INVALID_INPUT;
    r += 6;
    if (*r == ':') {
      if (!digits(r + 1, 2, &se)) return PATRON_INVALID_INPUT;
      r += 3;
    }
    if (*r == '.') /* fractional seconds are accepted and dropped */
      for (r++; isdigit((unsigned char)*r); r++) {}
    if (*r == 'Z') {
      r++;
    } else if (*r == '+' || *r == '-') {
      int oh, om;
      if (!digits(r + 1, 2, &oh) || r[3] != ':' || !digits(r + 4, 2, &om) ||
          oh > 23 || om > 59)
        return PATRON_INVALID_INPUT;
      off = (oh * 3600 + om * 60) * (*r == '-' ? -1 : 1);
      r += 6;
    }
  }
  if (*r) return PATRON_INVALID_INPUT;
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
      d > days_in_month(y, mo - 1) || h > 23 || mi > 59 || se > 60)
    return PATRON_INVALID_INPUT;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  *out = (int64_t)timegm(&tm) - off;
  return PATRON_OK;
}

void patron_time_format(char *buf, size_t size, int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) {
    snprintf(buf, size, "%lld", (long long)t);
    return;
  }
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void pt_uuid(char out[37]) {
  uuid_t u;
  uuid_generate_random(u);
  uuid_unparse_lower(u, out);
}

char *pt_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

char *pt_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  pt_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_add(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad || b.oom) {
    pt_buf_free(&b);
    errno = bad ? EIO : ENOMEM;
    return NULL;
  }
  if (!b.s) pt_buf_add(&b, "", 0);
  if (b.oom) { errno = ENOMEM; return NULL; }
  if (len) *len = b.len;
  return b.s;
}

void pt_buf_add(pt_buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) { b->oom = true; return; }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

void pt_buf_puts(pt_buf *b, const char *s) { pt_buf_add(b, s, strlen(s)); }

void pt_buf_printf(pt_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) { b->oom = true; return; }
  if ((size_t)n < sizeof tmp) { pt_buf_add(b, tmp, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) { b->oom = true; return; }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  pt_buf_add(b, big, (size_t)n);
  free(big);
}

void pt_buf_free(pt_buf *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}

/* ---- the card-number guard ----------------------------------------------
** patron never accepts a payment card number: any input text holding one is
** refused. A card number here is 13 to 19 digits, not starting with 0, in
** consecutive groups joined by spaces or dashes ("4242 4242 4242 4242"),
** that pass the Luhn check. A longer unbroken run of digits is not a card
** (nor zero-padded order numbers: no issuer's numbers start with 0). */

typedef struct digit_group {
  const char *s;
  int n;
} digit_group;

/* Luhn over the digits of g[0..n-1] (the separators between them skipped). */
static bool luhn(const digit_group *g, int n) {
  int sum = 0, k = 0;
  for (int i = n - 1; i >= 0; i--)
    for (int m = g[i].n - 1; m >= 0; m--, k++) {
      int x = g[i].s[m] - '0';
      if (k & 1) {
        x *= 2;
        if (x > 9) x -= 9;
      }
      sum += x;
    }
  return sum % 10 == 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool pt_is_card_number(const char *s) {
  if (!s) return false;
  digit_group g[19]; /* the last groups of the current run, oldest first */
  int ng = 0;
  const char *q = s;
  while (*q) {
    if (!is_digit(*q)) {
      if (*q != ' ' && *q != '-') ng = 0; /* anything else ends the run */
      q++;
      continue;
    }
    const char *start = q;
    while (is_digit(*q)) q++;
    int n = (int)(q - start);
    if (n > 19) { /* a longer unbroken run holds no card number */
      ng = 0;
      continue;
    }
    if (ng == 19) {
      memmove(g, g + 1, 18 * sizeof g[0]);
      ng = 18;
    }
    g[ng++] = (digit_group){start, n};
    /* every window of whole groups ending with this one */
    int total = 0;
    for (int first = ng - 1; first >= 0; first--) {
      total += g[first].n;
      if (total > 19) break;
      if (total >= 13 && g[first].s[0] != '0' && luhn(g + first, ng - first))
        return true;
    }
  }
  return false;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
           : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || (n == 2 && s[0] < 0xC2)) return 0;
  uint32_t cp = s[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

bool pt_utf8_valid(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    size_t n = utf8_seq(u);
    if (!n) return false;
    u += n;
  }
  return true;
}

void pt_utf8_scrub(char *s) {
  unsigned char *u = (unsigned char *)s;
  while (*u) {
    size_t n = utf8_seq(u);
    if (n) u += n;
    else *u++ = '?';
  }
}
