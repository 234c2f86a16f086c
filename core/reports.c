/*
** reports.c -- patron_report_json: runs one of the reports of DESIGN.md
** section 10 inside a read transaction (one consistent snapshot, never a
** write lock) and returns its JSON document. This file holds what every
** report shares: the window and its periods in the shop's time zone, the
** document (tables of rows with typed columns, chart hints for the html
** rendering, the formulas used and notes), integer rate arithmetic and
** the dispatch. The reports themselves live in report_points.c,
** report_customers.c, report_checkout.c and nps.c.
**
** The document:
**   {"report", "program", "as_of", "from", "to", "timezone", "by",
**    "currency", "prices_include_tax", "amounts",
**    "definitions": {name: formula}, "tables": [{"name", "title",
**    "columns": [{"key","title","type"}], "rows": [{...}], "chart"?}],
**    "notes": [...]}
** Rates are integers in basis points (floored) with a text beside them;
** a row whose rate has no denominator says "no data" instead.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "reports.h"

/* ---- arithmetic --------------------------------------------------------- */

int64_t pt_floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t pt_muldiv(int64_t a, int64_t b, int64_t c) {
  __int128 x = (__int128)a * b, q = x / c;
  if (x % c != 0 && (x < 0) != (c < 0)) q--;
  if (q > INT64_MAX) return INT64_MAX;
  if (q < INT64_MIN) return INT64_MIN;
  return (int64_t)q;
}

/* ---- rows (reports.h says how they are checked) ------------------------------ */

/* key "x_bp" -> text key "x" */
static void text_key(char *buf, size_t size, const char *key) {
  size_t n = strlen(key);
  if (n > 3 && strcmp(key + n - 3, "_bp") == 0) n -= 3;
  snprintf(buf, size, "%.*s", (int)n, key);
}

/* "19.8%" (rate) or "+19.8" (score) of a value in bp, one decimal floored */
static void bp_text(char *buf, size_t size, int64_t bp, bool score) {
  int64_t tenth = pt_floordiv(bp, 10);
  int64_t a = tenth < 0 ? -tenth : tenth;
  snprintf(buf, size, "%s%lld.%lld%s", tenth < 0 ? "-" : score && tenth > 0 ? "+" : "",
           (long long)(a / 10), (long long)(a % 10), score ? "" : "%");
}

bool pt_put(pt_report *r, json_t *obj, const char *key, json_t *v) {
  return pt_json_put(obj, key, v, &r->oom);
}

bool pt_append(pt_report *r, json_t *arr, json_t *v) {
  return pt_json_append(arr, v, &r->oom);
}

json_t *pt_report_row(pt_report *r, json_t *rows) {
  json_t *row = json_object();
  /* appended first, filled after: the array owns it whatever happens */
  return pt_append(r, rows, row) ? row : NULL;
}

void pt_put_null(pt_report *r, json_t *obj, const char *key) {
  pt_put(r, obj, key, json_null());
}

void pt_put_int(pt_report *r, json_t *obj, const char *key, int64_t v) {
  pt_put(r, obj, key, json_integer(v));
}

void pt_put_bool(pt_report *r, json_t *obj, const char *key, bool v) {
  pt_put(r, obj, key, json_boolean(v));
}

void pt_put_str(pt_report *r, json_t *obj, const char *key, const char *s) {
  if (!s) {
    pt_put_null(r, obj, key);
    return;
  }
  json_t *v = json_string(s);
  if (!v && !pt_utf8_valid(s)) {
    /* not lack of memory: text cut inside a character (a label copied
    ** into a fixed buffer); the report says '?' for the bad bytes */
    char *t = pt_strdup(s);
    if (t) pt_utf8_scrub(t);
    v = t ? json_string(t) : NULL;
    free(t);
  }
  pt_put(r, obj, key, v);
}

void pt_put_time(pt_report *r, json_t *obj, const char *key, int64_t t) {
  char buf[32];
  patron_time_format(buf, sizeof buf, t);
  pt_put_str(r, obj, key, buf);
}

void pt_put_no_data(pt_report *r, json_t *row) { pt_put_str(r, row, "note", "no data"); }

static bool put_bp(pt_report *r, json_t *row, const char *key, int64_t num, int64_t den,
                   bool score) {
  char tk[96], txt[32];
  text_key(tk, sizeof tk, key);
  if (den <= 0) {
    pt_put_null(r, row, key);
    pt_put_str(r, row, tk, "no data");
    return false;
  }
  int64_t bp = pt_muldiv(num, 10000, den);
  bp_text(txt, sizeof txt, bp, score);
  pt_put_int(r, row, key, bp);
  pt_put_str(r, row, tk, txt);
  return true;
}

bool pt_put_rate(pt_report *r, json_t *row, const char *key, int64_t num, int64_t den) {
  return put_bp(r, row, key, num, den, false);
}

bool pt_put_score(pt_report *r, json_t *row, const char *key, int64_t num, int64_t den) {
  return put_bp(r, row, key, num, den, true);
}

/* ---- the document ----------------------------------------------------------- */

json_t *pt_report_table(pt_report *r, const char *name, const char *title,
                        const pt_col *cols, size_t ncols) {
  json_t *t = json_object(), *c = json_array(), *rows = json_array();
  for (size_t i = 0; i < ncols; i++) {
    json_t *col = pt_report_row(r, c);
    pt_put_str(r, col, "key", cols[i].key);
    pt_put_str(r, col, "title", cols[i].title);
    pt_put_str(r, col, "type", cols[i].type);
  }
  pt_put_str(r, t, "name", name);
  pt_put_str(r, t, "title", title);
  pt_put(r, t, "columns", c);
  /* rows is t's from here, and t the document's: a failure frees them */
  if (!pt_put(r, t, "rows", rows)) rows = NULL;
  if (!pt_append(r, r->tables, t)) rows = NULL;
  return rows;
}

json_t *pt_report_table_obj(pt_report *r, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(r->tables, i, t) {
    const char *n = json_string_value(json_object_get(t, "name"));
    if (n && strcmp(n, name) == 0) return t;
  }
  return NULL;
}

void pt_report_chart(pt_report *r, const char *table, const char *kind,
                     const char *label, const char *group,
                     const char *const *series) {
  json_t *t = pt_report_table_obj(r, table);
  if (!t) return; /* making the table failed: r->oom says so */
  json_t *c = json_object(), *s = json_array();
  if (!pt_put(r, t, "chart", c)) c = NULL;
  pt_put_str(r, c, "kind", kind);
  pt_put_str(r, c, "label", label);
  pt_put_str(r, c, "group", group);
  for (; *series; series++) pt_append(r, s, json_string(*series));
  pt_put(r, c, "series", s);
}

void pt_report_note(pt_report *r, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  pt_append(r, r->notes, json_string(buf));
}

void pt_report_define(pt_report *r, const char *name, const char *text) {
  pt_put_str(r, r->defs, name, text);
}

/* ---- programs, window and periods ----------------------------------------- */

const pt_program **pt_report_programs(pt_report *r, size_t *n) {
  const pt_program **v = calloc(r->cfg->nprograms + 1, sizeof *v);
  *n = 0;
  if (!v) {
    pt_err(r->p, PATRON_NOMEM, "out of memory");
    return NULL;
  }
  if (r->o->program && *r->o->program) {
    const pt_program *g = pt_config_program(r->p, r->cfg, r->o->program);
    if (!g) {
      free(v);
      return NULL;
    }
    v[(*n)++] = g;
  } else {
    for (size_t i = 0; i < r->cfg->nprograms; i++) v[(*n)++] = &r->cfg->programs[i];
  }
  return v;
}

void pt_report_set_window(pt_report *r, int64_t from, int64_t to) {
  r->from = from;
  r->to = to;
  pt_put_time(r, r->doc, "from", r->from);
  pt_put_time(r, r->doc, "to", r->to);
}

void pt_report_window(pt_report *r, int64_t first) {
  int64_t from, to;
  if (r->from_given) from = r->o->from;
  else from = pt_period_start(r->tz, r->kind, first > 0 && first < r->now ? first : r->now);
  if (r->to_given) to = r->o->to;
  else to = pt_period_next(r->tz, r->kind, pt_period_start(r->tz, r->kind, r->now));
  if (to <= from && !r->from_given && r->to_given)
    from = pt_period_start(r->tz, r->kind, to - 1); /* --to before the first data */
  if (to <= from) to = pt_period_next(r->tz, r->kind, pt_period_start(r->tz, r->kind, from));
  pt_report_set_window(r, from, to);
}

int pt_report_periods(pt_report *r, pt_period **out, size_t *n) {
  *out = NULL;
  *n = 0;
  size_t cap = 16;
  pt_period *v = malloc(cap * sizeof *v);
  if (!v) return pt_err(r->p, PATRON_NOMEM, "out of memory");
  int64_t s = pt_period_start(r->tz, r->kind, r->from);
  while (s < r->to || *n == 0) {
    int64_t e = pt_period_next(r->tz, r->kind, s);
    if (e <= s) e = s + PT_DAY; /* cannot happen with a sane zone */
    if (*n == PT_REPORT_MAX_PERIODS) {
      free(v);
      return pt_err(r->p, PATRON_INVALID_INPUT,
                    "the window holds more than %d %ss: narrow --from/--to",
                    PT_REPORT_MAX_PERIODS, r->kind == PT_BY_WEEK ? "week" : "month");
    }
    if (*n == cap) {
      pt_period *nv = realloc(v, 2 * cap * sizeof *v);
      if (!nv) {
        free(v);
        return pt_err(r->p, PATRON_NOMEM, "out of memory");
      }
      v = nv;
      cap *= 2;
    }
    pt_period *pd = &v[(*n)++];
    pd->from = s > r->from ? s : r->from;
    pd->to = e < r->to ? e : r->to;
    pd->partial = s < r->from || e > r->to || pd->to > r->now;
    if (pd->to < pd->from) pd->to = pd->from;
    pt_period_label(r->tz, r->kind, s, pd->label, sizeof pd->label);
    s = e;
  }
  *out = v;
  return PATRON_OK;
}

ptrdiff_t pt_period_find(const pt_period *v, size_t n, int64_t t) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid].to <= t) lo = mid + 1;
    else hi = mid;
  }
  if (lo < n && v[lo].from <= t && t < v[lo].to) return (ptrdiff_t)lo;
  return -1;
}

void pt_order_channel(const char *order_id, char *buf, size_t size) {
  size_t n = order_id ? strcspn(order_id, "-") : 0;
  if (!order_id || n == 0 || order_id[n] != '-') snprintf(buf, size, "(none)");
  else snprintf(buf, size, "%.*s", (int)n, order_id);
}

/* ---- the read transaction ------------------------------------------------- */

int pt_report_begin(patron *p) {
  if (p->txn_depth > 0) return pt_err(p, PATRON_MISUSE, "a report inside a transaction");
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_REP_BEGIN_READ);
  if (!st) return p->code;
  int rc = pt_exec_stmt(p, st, "begin a read transaction");
  if (rc == PATRON_OK) p->txn_depth = 1;
  return rc;
}

void pt_report_end(patron *p) { pt_rollback(p); }

/* ---- dispatch ------------------------------------------------------------- */

/* report budgets: the rules module's figures (rules.c, declared in
** script.h) as a table. Referenced weakly so that the reports build and
** answer "not available" where the rules runtime is not linked in. */
int pt_rules_budgets(patron *p, json_t **out) __attribute__((weak));

static int report_budgets(pt_report *r) {
  if (!pt_rules_budgets)
    return pt_err(r->p, PATRON_NOT_FOUND, "report budgets is not available in this build");
  json_t *arr = NULL;
  int rc = pt_rules_budgets(r->p, &arr);
  if (rc) return rc;
  if (!arr) return pt_err(r->p, PATRON_NOMEM, "out of memory"); /* json_array() failed */
  pt_report_set_window(r, r->now, r->now);
  static const pt_col cols[] = {
      {"plugin", "plugin", "text"},            {"active", "active now", "bool"},
      {"from", "from", "time"},                {"to", "to", "time"},
      {"budget_cents", "budget", "cents"},     {"spent_cents", "given", "cents"},
      {"left_cents", "left", "cents"},         {"budget_points", "budget points", "points"},
      {"spent_points", "points given", "points"}, {"left_points", "points left", "points"},
      {"budget_uses", "budget uses", "int"},   {"spent_uses", "uses", "int"},
      {"left_uses", "uses left", "int"}};
  json_t *rows = pt_report_table(r, "budgets", "Plugin budgets", cols,
                                 sizeof cols / sizeof cols[0]);
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) pt_append(r, rows, json_incref(v));
  json_decref(arr);
  static const char *const series[] = {"spent_cents", "left_cents", NULL};
  pt_report_chart(r, "budgets", "bars", "plugin", NULL, series);
  pt_report_define(r, "budget", "what a plugin may give away in total (null: unlimited); "
                   "given = given on orders less what refunds gave back");
  return PATRON_OK;
}

typedef struct report_def {
  const char *name;
  int (*run)(pt_report *r);
  const char *by;           /* accepted --by values, "|" separated */
} report_def;

static const report_def reports[] = {
    {"redemption", pt_report_redemption, "month|week"},
    {"liability", pt_report_liability, ""},
    {"clv", pt_report_clv, "tier|channel"},
    {"retention", pt_report_retention, "month|week"},
    {"churn", pt_report_retention, "month|week"},
    {"repeat", pt_report_repeat, "month|week|tier|channel"},
    {"health", pt_report_health, "tier"},
    {"nps", pt_report_nps, "month|week"},
    {"crosssell", pt_report_crosssell, "month|week|channel"},
    {"bundles", pt_report_bundles, "month|week|channel"},
    {"shipping", pt_report_shipping, "month|week|channel"},
    {"subs", pt_report_subs, "month|week"},
    {"budgets", report_budgets, ""},
};

static bool by_ok(const char *list, const char *by) {
  if (strcmp(list, "*") == 0) return true;
  size_t n = strlen(by);
  for (const char *s = list; *s;) {
    size_t k = strcspn(s, "|");
    if (k == n && strncmp(s, by, n) == 0) return true;
    s += k;
    if (*s) s++;
  }
  return false;
}

int patron_report_json(patron *p, char **out, const char *name,
                       const patron_report_opts *o) {
  *out = NULL;
  pt_ok(p);
  patron_report_opts none = {0};
  if (!o) o = &none;
  const report_def *def = NULL;
  for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
    if (name && strcmp(reports[i].name, name) == 0) def = &reports[i];
  if (!def) {
    pt_buf b = {0};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
      pt_buf_printf(&b, "%s%s", i ? ", " : "", reports[i].name);
    int rc = pt_err_path(p, PATRON_INVALID_INPUT, "report", "unknown report '%s' (reports: %s)",
                         name ? name : "", b.s && !b.oom ? b.s : "");
    pt_buf_free(&b);
    return rc;
  }
  if (o->by && *o->by && !by_ok(def->by, o->by))
    return pt_err_path(p, PATRON_INVALID_INPUT, "by",
                       "report %s cannot be cut by '%s'%s%s", def->name, o->by,
                       def->by[0] ? "; choose one of " : " (it takes no --by)", def->by);
  if (o->from && o->to && o->to <= o->from)
    return pt_err_path(p, PATRON_INVALID_INPUT, "to", "--to must be after --from");
  const pt_config *cfg = pt_config_active(p);
  if (!cfg) return p->code;

  pt_report r;
  memset(&r, 0, sizeof r);
  r.p = p;
  r.cfg = cfg;
  r.o = o;
  r.name = def->name;
  r.now = patron_now(p);
  r.from_given = o->from != 0;
  r.to_given = o->to != 0;
  r.kind = o->by && strcmp(o->by, "week") == 0 ? PT_BY_WEEK : PT_BY_MONTH;
  char why[256] = "";
  const char *zone = cfg->timezone[0] ? cfg->timezone : "UTC";
  int tzerr = 0;
  r.tz = pt_tz_open(zone, why, sizeof why, &tzerr);
  /* an unusable zone falls back to UTC, with a note; a zone that could
  ** not be loaded for lack of memory or files must not (wrong periods) */
  if (!r.tz && tzerr) return pt_err(p, tzerr, "time zone %s: %s", zone, why);
  bool utc_fallback = false;
  if (!r.tz) {
    utc_fallback = true;
    if (!(r.tz = pt_tz_load("UTC", NULL, 0))) return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  char asof[32];
  patron_time_format(asof, sizeof asof, r.now);
  r.doc = json_object();
  pt_put_str(&r, r.doc, "report", def->name);
  pt_put_str(&r, r.doc, "program", o->program && *o->program ? o->program : NULL);
  pt_put_str(&r, r.doc, "as_of", asof);
  pt_put_null(&r, r.doc, "from");
  pt_put_null(&r, r.doc, "to");
  pt_put_str(&r, r.doc, "timezone", utc_fallback ? "UTC" : zone);
  pt_put_str(&r, r.doc, "by", o->by && *o->by ? o->by : NULL);
  pt_put_str(&r, r.doc, "currency", cfg->currency);
  pt_put_bool(&r, r.doc, "prices_include_tax", cfg->prices_include_tax);
  pt_put_str(&r, r.doc, "amounts", cfg->prices_include_tax ? "amounts include tax"
                                                           : "amounts exclude tax");
  pt_put(&r, r.doc, "definitions", json_object());
  pt_put(&r, r.doc, "tables", json_array());
  pt_put(&r, r.doc, "notes", json_array());
  r.defs = json_object_get(r.doc, "definitions");
  r.tables = json_object_get(r.doc, "tables");
  r.notes = json_object_get(r.doc, "notes");
  if (utc_fallback)
    pt_report_note(&r, "%s: periods are cut in UTC instead", why);

  int rc = pt_report_begin(p);
  if (rc == PATRON_OK) {
    rc = def->run(&r);
    pt_report_end(p);
  }
  /* a value lost on the way fails the report: never a document without it */
  if (rc == PATRON_OK && r.oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  if (rc == PATRON_OK) {
    *out = pt_json_dumps(r.doc, JSON_COMPACT);
    if (!*out) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  }
  json_decref(r.doc);
  pt_tz_free(r.tz);
  return rc == PATRON_OK ? pt_ok(p) : rc;
}

/* Time of the first order in any of the programs (0: none); *rc gets the
** status. */
static int64_t pt_report_first_order(pt_report *r, const pt_program **progs, size_t nprog, int *rc) {
  int64_t first = 0;
  *rc = PATRON_OK;
  for (size_t k = 0; k < nprog; k++) {
    sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_ORDERS_FIRST);
    if (!st) { *rc = r->p->code; return 0; }
    pt_bind_text(st, 1, progs[k]->name);
    int got = pt_row(r->p, st, "first order");
    if (got > 0 && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      int64_t t = sqlite3_column_int64(st, 0);
      if (first == 0 || t < first) first = t;
    }
    pt_stmt_done(st);
    if (got < 0) { *rc = r->p->code; return 0; }
  }
  return first;
}

int pt_report_window_orders(pt_report *r, const pt_program **progs, size_t nprog) {
  int rc;
  int64_t first = pt_report_first_order(r, progs, nprog, &rc);
  if (rc == PATRON_OK) pt_report_window(r, first);
  return rc;
}
