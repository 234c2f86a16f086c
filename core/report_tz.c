/*
** report_tz.c -- local time for reports without touching the process's
** TZ: a small reader of the tz database's compiled files (TZif, RFC 8536,
** versions 1 to 4, read from /usr/share/zoneinfo) including the POSIX rule
** in the footer that newer ("slim") files rely on for every time after
** their last transition; proleptic Gregorian date arithmetic; and the
** local calendar periods (months, ISO weeks) reports are cut into.
** Nothing here keeps state between calls; a pt_tz is immutable once read.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"

#define TZ_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE (256 * 1024)

/* A POSIX TZ rule date: Jn (julian, no Feb 29), n (zero-based day of
** year), or Mm.w.d; at `secs` local time (may be negative or > 24h). */
typedef struct tz_date {
  char kind;                 /* 'J', 'D' or 'M' */
  int n, m, w, d;
  int64_t secs;
} tz_date;

typedef struct tz_rule {
  bool present;
  int64_t std_off, dst_off;  /* seconds east of UTC */
  bool has_dst;
  tz_date start, end;
} tz_rule;

struct pt_tz {
  size_t n;                  /* transitions */
  int64_t *at;               /* UTC times, ascending */
  unsigned char *idx;        /* type in force from at[i] */
  size_t ntypes;
  int64_t *off;              /* per type, seconds east */
  tz_rule rule;              /* after the last transition */
};

/* ---- civil dates (H. Hinnant's algorithms) --------------------------- */

int64_t pt_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void pt_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t fdiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* 0 = Sunday */
static int weekday(int64_t days) { return (int)((days % 7 + 11) % 7); }

/* ---- the TZif reader -------------------------------------------------- */

static int64_t be32(const unsigned char *b) {
  uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return (int64_t)(int32_t)v;
}

static int64_t be64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  return (int64_t)v;
}

static uint32_t count(const unsigned char *h, int i) {
  return (uint32_t)be32(h + 20 + 4 * i);
}

/* ---- POSIX TZ strings ("EET-2EEST,M3.5.0/3,M10.5.0/4") ---------------- */

static bool rule_name(const char **s) {
  const char *p = *s;
  if (*p == '<') {
    while (*p && *p != '>') p++;
    if (*p != '>') return false;
    *s = p + 1;
    return true;
  }
  const char *b = p;
  while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++;
  if (p - b < 3) return false;
  *s = p;
  return true;
}

/* [+-]hh[:mm[:ss]] -> seconds (sign as written) */
static bool rule_hms(const char **s, int64_t *out) {
  const char *p = *s;
  int sign = 1;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  int64_t parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (i > 0) {
      if (*p != ':') break;
      p++;
    }
    if (*p < '0' || *p > '9') return false;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9' && v < 1000) v = v * 10 + (*p++ - '0');
    parts[i] = v;
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  *s = p;
  return true;
}

static bool rule_num(const char **s, int *out) {
  const char *p = *s;
  if (*p < '0' || *p > '9') return false;
  int v = 0;
  while (*p >= '0' && *p <= '9' && v < 10000) v = v * 10 + (*p++ - '0');
  *out = v;
  *s = p;
  return true;
}

static bool rule_date(const char **s, tz_date *d) {
  const char *p = *s;
  memset(d, 0, sizeof *d);
  if (*p == 'M') {
    p++;
    d->kind = 'M';
    if (!rule_num(&p, &d->m) || *p++ != '.' || !rule_num(&p, &d->w) || *p++ != '.' ||
        !rule_num(&p, &d->d) || d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d > 6)
      return false;
  } else if (*p == 'J') {
    p++;
    d->kind = 'J';
    if (!rule_num(&p, &d->n) || d->n < 1 || d->n > 365) return false;
  } else {
    d->kind = 'D';
    if (!rule_num(&p, &d->n) || d->n > 365) return false;
  }
  d->secs = 7200;
  if (*p == '/') {
    p++;
    if (!rule_hms(&p, &d->secs)) return false;
  }
  *s = p;
  return true;
}

static bool rule_parse(const char *s, tz_rule *r) {
  memset(r, 0, sizeof *r);
  int64_t v;
  if (!rule_name(&s) || !rule_hms(&s, &v)) return false;
  r->std_off = -v;
  if (*s) {
    if (!rule_name(&s)) return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
      if (!rule_hms(&s, &v)) return false;
      r->dst_off = -v;
    }
    /* no rule given: the POSIX default (US rules) is not worth guessing */
    if (*s != ',') return false;
    s++;
    if (!rule_date(&s, &r->start) || *s++ != ',' || !rule_date(&s, &r->end)) return false;
  }
  r->present = *s == 0;
  return r->present;
}

/* Local seconds (wall clock of the year y) when the date happens. */
static int64_t rule_when(const tz_date *d, int64_t y) {
  int64_t day;
  if (d->kind == 'J') {
    day = pt_days_from_civil(y, 1, 1) + d->n - 1;
    if (leap(y) && d->n >= 60) day++;
  } else if (d->kind == 'D') {
    day = pt_days_from_civil(y, 1, 1) + d->n;
  } else {
    int64_t first = pt_days_from_civil(y, d->m, 1);
    int dom = 1 + (d->d - weekday(first) + 7) % 7 + (d->w - 1) * 7;
    while (dom > month_days(y, d->m)) dom -= 7;
    day = first + dom - 1;
  }
  return day * PT_DAY + d->secs;
}

static int64_t rule_offset(const tz_rule *r, int64_t t) {
  if (!r->has_dst) return r->std_off;
  int64_t y, yy;
  int m, d;
  pt_civil_from_days(fdiv(t + r->std_off, PT_DAY), &y, &m, &d);
  /* the year of t and its neighbours: a southern-hemisphere rule spans
  ** the new year */
  for (yy = y - 1; yy <= y + 1; yy++) {
    int64_t start = rule_when(&r->start, yy) - r->std_off;
    int64_t end = rule_when(&r->end, yy) - r->dst_off;
    if (start < end) {
      if (t >= start && t < end) return r->dst_off;
    } else {
      /* dst from start of yy until end of yy + 1 */
      int64_t end_next = rule_when(&r->end, yy + 1) - r->dst_off;
      if (t >= start && t < end_next) return r->dst_off;
    }
  }
  return r->std_off;
}

static pt_tz *tz_utc(void) {
  pt_tz *tz = calloc(1, sizeof *tz);
  if (!tz) return NULL;
  tz->rule.present = true;
  return tz;
}

static pt_tz *fail(pt_tz *tz, unsigned char *buf, char *why, size_t size,
                   const char *fmt, const char *name) {
  if (why) snprintf(why, size, fmt, name);
  pt_tz_free(tz);
  free(buf);
  return NULL;
}

static bool valid_name(const char *s) {
  if (!s || !*s || *s == '/' || strlen(s) > 200 || strstr(s, "..")) return false;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '/' || c == '_' || c == '-' || c == '+'))
      return false;
  }
  return true;
}

/* Why fopen failed: the zone is not there (0), or the process is short
** of memory or file handles (the zone may well be there). */
static int open_error(int e) {
  if (e == ENOMEM) return PATRON_NOMEM;
  if (e == EMFILE || e == ENFILE || e == EIO || e == EINTR) return PATRON_IO;
  return 0;
}

pt_tz *pt_tz_load(const char *name, char *why, size_t why_size) {
  int err;
  return pt_tz_open(name, why, why_size, &err);
}

pt_tz *pt_tz_open(const char *name, char *why, size_t why_size, int *err) {
  *err = 0;
  if (name && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 ||
               strcmp(name, "Z") == 0)) {
    pt_tz *tz = tz_utc();
    if (!tz) {
      *err = PATRON_NOMEM;
      if (why) snprintf(why, why_size, "out of memory");
    }
    return tz;
  }
  if (!valid_name(name))
    return fail(NULL, NULL, why, why_size, "'%s' is not a time zone name", name ? name : "");
  char path[256];
  snprintf(path, sizeof path, "%s/%s", TZ_DIR, name);
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (!f && (*err = open_error(errno))) {
    if (why) snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  if (!f) return fail(NULL, NULL, why, why_size, "time zone %s is not in " TZ_DIR, name);
  unsigned char *buf = malloc(TZ_MAX_FILE);
  size_t len = buf ? fread(buf, 1, TZ_MAX_FILE, f) : 0;
  fclose(f);
  if (!buf) {
    *err = PATRON_NOMEM;
    return fail(NULL, NULL, why, why_size, "out of memory reading %s", name);
  }
  if (len < 44 || memcmp(buf, "TZif", 4) != 0)
    return fail(NULL, buf, why, why_size, "%s is not a TZif file", path);
  /* the v1 block, then (version >= 2) the 64-bit block and the footer */
  const unsigned char *h = buf;
  size_t tsize = 4;
  uint32_t isut = count(h, 0), isstd = count(h, 1), leapc = count(h, 2),
           timec = count(h, 3), typec = count(h, 4), charc = count(h, 5);
  size_t v1 = 44 + (size_t)timec * 5 + (size_t)typec * 6 + charc + (size_t)leapc * 8 +
              isstd + isut;
  const char *footer = NULL;
  if (h[4] >= '2' && v1 + 44 <= len && memcmp(buf + v1, "TZif", 4) == 0) {
    h = buf + v1;
    tsize = 8;
    isut = count(h, 0); isstd = count(h, 1); leapc = count(h, 2);
    timec = count(h, 3); typec = count(h, 4); charc = count(h, 5);
  }
  size_t body = (size_t)timec * (tsize + 1) + (size_t)typec * 6 + charc +
                (size_t)leapc * (tsize + 4) + isstd + isut;
  size_t end = (size_t)(h - buf) + 44 + body;
  if (typec == 0 || typec > 256 || timec > 100000 || end > len)
    return fail(NULL, buf, why, why_size, "%s is damaged", path);
  if (tsize == 8 && end < len && buf[end] == '\n') {
    char *nl = memchr(buf + end + 1, '\n', len - end - 1);
    if (nl) {
      *nl = 0;
      footer = (const char *)buf + end + 1;
    }
  }
  pt_tz *tz = calloc(1, sizeof *tz);
  if (!tz) {
    *err = PATRON_NOMEM;
    return fail(NULL, buf, why, why_size, "out of memory reading %s", name);
  }
  tz->n = timec;
  tz->ntypes = typec;
  tz->at = malloc((timec + 1) * sizeof *tz->at);
  tz->idx = malloc(timec + 1);
  tz->off = malloc(typec * sizeof *tz->off);
  if (!tz->at || !tz->idx || !tz->off) {
    *err = PATRON_NOMEM;
    return fail(tz, buf, why, why_size, "out of memory reading %s", name);
  }
  const unsigned char *q = h + 44;
  for (size_t i = 0; i < timec; i++, q += tsize)
    tz->at[i] = tsize == 8 ? be64(q) : be32(q);
  for (size_t i = 0; i < timec; i++, q++) {
    if (*q >= typec) return fail(tz, buf, why, why_size, "%s is damaged", path);
    tz->idx[i] = *q;
  }
  for (size_t i = 0; i < typec; i++, q += 6) tz->off[i] = be32(q);
  if (footer && *footer && !rule_parse(footer, &tz->rule))
    tz->rule.present = false; /* an unknown rule: the table alone */
  free(buf);
  return tz;
}

void pt_tz_free(pt_tz *tz) {
  if (!tz) return;
  free(tz->at);
  free(tz->idx);
  free(tz->off);
  free(tz);
}

int64_t pt_tz_offset(const pt_tz *tz, int64_t t) {
  if (!tz) return 0;
  if (tz->n == 0 || t >= tz->at[tz->n - 1]) {
    if (tz->rule.present && (tz->n == 0 || t >= tz->at[tz->n - 1]))
      return rule_offset(&tz->rule, t);
    if (tz->n == 0) return tz->ntypes ? tz->off[0] : 0;
    return tz->off[tz->idx[tz->n - 1]];
  }
  if (t < tz->at[0]) return tz->off[0];
  size_t lo = 0, hi = tz->n - 1; /* at[lo] <= t < at[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (tz->at[mid] <= t) lo = mid;
    else hi = mid;
  }
  return tz->off[tz->idx[lo]];
}

int64_t pt_tz_to_utc(const pt_tz *tz, int64_t local) {
  /* the offsets in force just before and just after: a wall time that
  ** exists under one of them maps back to itself */
  int64_t a = pt_tz_offset(tz, local - 86400), b = pt_tz_offset(tz, local + 86400);
  int64_t ua = local - a, ub = local - b;
  bool oka = pt_tz_offset(tz, ua) == a, okb = pt_tz_offset(tz, ub) == b;
  if (oka && okb) return ua < ub ? ua : ub; /* repeated: the first */
  if (oka) return ua;
  if (okb) return ub;
  /* skipped (a gap): the instant of the jump, between the two */
  int64_t lo = ua < ub ? ua : ub, hi = ua < ub ? ub : ua;
  while (hi - lo > 1) { /* offset(lo) == a, offset(hi) == b */
    int64_t mid = lo + (hi - lo) / 2;
    if (pt_tz_offset(tz, mid) == a) lo = mid;
    else hi = mid;
  }
  return hi;
}

/* ---- periods ------------------------------------------------------------- */

static int64_t local_days(const pt_tz *tz, int64_t t) {
  return fdiv(t + pt_tz_offset(tz, t), PT_DAY);
}

int64_t pt_period_start(const pt_tz *tz, pt_period_kind k, int64_t t) {
  int64_t days = local_days(tz, t), y;
  int m, d;
  if (k == PT_BY_WEEK) {
    days -= (weekday(days) + 6) % 7; /* back to Monday */
  } else {
    pt_civil_from_days(days, &y, &m, &d);
    days = pt_days_from_civil(y, m, 1);
  }
  int64_t s = pt_tz_to_utc(tz, days * PT_DAY);
  /* a DST jump at midnight can put the start after t: the day before */
  return s > t ? pt_period_start(tz, k, t - PT_DAY / 2) : s;
}

int64_t pt_period_next(const pt_tz *tz, pt_period_kind k, int64_t start) {
  int64_t days = local_days(tz, start), y;
  int m, d;
  if (k == PT_BY_WEEK) {
    days += 7 - (weekday(days) + 6) % 7;
  } else {
    pt_civil_from_days(days, &y, &m, &d);
    if (++m > 12) { m = 1; y++; }
    days = pt_days_from_civil(y, m, 1);
  }
  return pt_tz_to_utc(tz, days * PT_DAY);
}

void pt_period_label(const pt_tz *tz, pt_period_kind k, int64_t start, char *buf,
                     size_t size) {
  int64_t days = local_days(tz, start), y;
  int m, d;
  if (k == PT_BY_WEEK) {
    /* ISO week: the week belongs to the year of its Thursday */
    int64_t thu = days - (weekday(days) + 6) % 7 + 3;
    pt_civil_from_days(thu, &y, &m, &d);
    int64_t jan1 = pt_days_from_civil(y, 1, 1);
    snprintf(buf, size, "%04lld-W%02lld", (long long)y, (long long)((thu - jan1) / 7 + 1));
  } else {
    pt_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04lld-%02d", (long long)y, m);
  }
}

void pt_tz_format(const pt_tz *tz, int64_t t, char *buf, size_t size) {
  int64_t local = t + pt_tz_offset(tz, t), y;
  int m, d;
  int64_t days = fdiv(local, PT_DAY), secs = local - days * PT_DAY;
  pt_civil_from_days(days, &y, &m, &d);
  snprintf(buf, size, "%04lld-%02d-%02d %02d:%02d", (long long)y, m, d,
           (int)(secs / 3600), (int)(secs % 3600 / 60));
}
