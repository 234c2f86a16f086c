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

/* ---- rows ------------------------------------------------------------------ */

void pt_row_set(json_t *row, const char *key, json_t *v) {
  json_object_set_new(row, key, v ? v : json_null());
}

void pt_row_int(json_t *row, const char *key, int64_t v) {
  json_object_set_new(row, key, json_integer(v));
}

void pt_row_str(json_t *row, const char *key, const char *s) {
  json_object_set_new(row, key, s ? json_string(s) : json_null());
}

void pt_row_time(json_t *row, const char *key, int64_t t) {
  char buf[32];
  patron_time_format(buf, sizeof buf, t);
  json_object_set_new(row, key, json_string(buf));
}

void pt_row_no_data(json_t *row) { json_object_set_new(row, "note", json_string("no data")); }

/* key "x_bp" -> text key "x" */
static void text_key(char *buf, size_t size, const char *key) {
  size_t n = strlen(key);
  if (n > 3 && strcmp(key + n - 3, "_bp") == 0) n -= 3;
  snprintf(buf, size, "%.*s", (int)n, key);
}

bool pt_row_rate(json_t *row, const char *key, int64_t num, int64_t den) {
  char tk[96], txt[32];
  text_key(tk, sizeof tk, key);
  if (den <= 0) {
    json_object_set_new(row, key, json_null());
    json_object_set_new(row, tk, json_string("no data"));
    return false;
  }
  int64_t bp = pt_muldiv(num, 10000, den);
  int64_t tenth = pt_floordiv(bp, 10); /* one decimal, floored */
  int64_t a = tenth < 0 ? -tenth : tenth;
  snprintf(txt, sizeof txt, "%s%lld.%lld%%", tenth < 0 ? "-" : "", (long long)(a / 10),
           (long long)(a % 10));
  json_object_set_new(row, key, json_integer(bp));
  json_object_set_new(row, tk, json_string(txt));
  return true;
}

bool pt_row_score(json_t *row, const char *key, int64_t num, int64_t den) {
  char tk[96], txt[32];
  text_key(tk, sizeof tk, key);
  if (den <= 0) {
    json_object_set_new(row, key, json_null());
    json_object_set_new(row, tk, json_string("no data"));
    return false;
  }
  int64_t bp = pt_muldiv(num, 10000, den);
  int64_t tenth = pt_floordiv(bp, 10);
  int64_t a = tenth < 0 ? -tenth : tenth;
  snprintf(txt, sizeof txt, "%s%lld.%lld", tenth < 0 ? "-" : tenth > 0 ? "+" : "",
           (long long)(a / 10), (long long)(a % 10));
  json_object_set_new(row, key, json_integer(bp));
  json_object_set_new(row, tk, json_string(txt));
  return true;
}

/* ---- the document ----------------------------------------------------------- */

json_t *pt_report_table(pt_report *r, const char *name, const char *title,
                        const pt_col *cols, size_t ncols) {
  json_t *t = json_object(), *c = json_array(), *rows = json_array();
  for (size_t i = 0; i < ncols; i++)
    json_array_append_new(c, json_pack("{s:s, s:s, s:s}", "key", cols[i].key, "title",
                                       cols[i].title, "type", cols[i].type));
  json_object_set_new(t, "name", json_string(name));
  json_object_set_new(t, "title", json_string(title));
  json_object_set_new(t, "columns", c);
  json_object_set_new(t, "rows", rows);
  json_array_append_new(r->tables, t);
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
  if (!t) return;
  json_t *s = json_array();
  for (; *series; series++) json_array_append_new(s, json_string(*series));
  json_object_set_new(t, "chart",
                      json_pack("{s:s, s:s, s:o, s:o}", "kind", kind, "label", label,
                                "group", group ? json_string(group) : json_null(),
                                "series", s));
}

void pt_report_note(pt_report *r, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  json_array_append_new(r->notes, json_string(buf));
}

void pt_report_define(pt_report *r, const char *name, const char *text) {
  json_object_set_new(r->defs, name, json_string(text));
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
  char buf[32];
  r->from = from;
  r->to = to;
  patron_time_format(buf, sizeof buf, r->from);
  json_object_set_new(r->doc, "from", json_string(buf));
  patron_time_format(buf, sizeof buf, r->to);
  json_object_set_new(r->doc, "to", json_string(buf));
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

int pt_report_step_err(patron *p, int rc, const char *what) {
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return PATRON_OK;
  return pt_err_sqlite(p, rc, what);
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
  json_array_foreach(arr, i, v) json_array_append(rows, v);
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
  r.tz = pt_tz_load(zone, why, sizeof why);
  bool utc_fallback = false;
  if (!r.tz) {
    utc_fallback = true;
    if (!(r.tz = pt_tz_load("UTC", NULL, 0))) return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  char asof[32];
  patron_time_format(asof, sizeof asof, r.now);
  r.doc = json_object();
  json_object_set_new(r.doc, "report", json_string(def->name));
  json_object_set_new(r.doc, "program",
                      o->program && *o->program ? json_string(o->program) : json_null());
  json_object_set_new(r.doc, "as_of", json_string(asof));
  json_object_set_new(r.doc, "from", json_null());
  json_object_set_new(r.doc, "to", json_null());
  json_object_set_new(r.doc, "timezone", json_string(utc_fallback ? "UTC" : zone));
  json_object_set_new(r.doc, "by", o->by && *o->by ? json_string(o->by) : json_null());
  json_object_set_new(r.doc, "currency", json_string(cfg->currency));
  json_object_set_new(r.doc, "prices_include_tax", json_boolean(cfg->prices_include_tax));
  json_object_set_new(r.doc, "amounts",
                      json_string(cfg->prices_include_tax ? "amounts include tax"
                                                          : "amounts exclude tax"));
  json_object_set_new(r.doc, "definitions", json_object());
  json_object_set_new(r.doc, "tables", json_array());
  json_object_set_new(r.doc, "notes", json_array());
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
  if (rc == PATRON_OK) {
    *out = json_dumps(r.doc, JSON_COMPACT);
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
    sqlite3_bind_text(st, 1, progs[k]->name, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      int64_t t = sqlite3_column_int64(st, 0);
      if (first == 0 || t < first) first = t;
    }
    pt_stmt_done(st);
    if ((*rc = pt_report_step_err(r->p, src, "first order"))) return 0;
  }
  return first;
}

int pt_report_window_orders(pt_report *r, const pt_program **progs, size_t nprog) {
  int rc;
  int64_t first = pt_report_first_order(r, progs, nprog, &rc);
  if (rc == PATRON_OK) pt_report_window(r, first);
  return rc;
}
