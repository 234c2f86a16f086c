/*
** cmd_reports.c -- the manager's commands: `report NAME` (the reports of
** DESIGN.md section 10 rendered as an aligned table, CSV, JSON or one
** self-contained HTML page with inline SVG charts), `nps record` and
** `simulate` (re-price past orders under a new shop.lua, with a progress
** bar on a terminal).
**
** Every format is rendered from the one JSON document the library returns
** (patron_report_json), so they carry the same numbers: a table shows money
** as 1234.56 and rates as 19.8%, CSV carries the raw integers (cents,
** basis points) under the JSON keys, HTML shows the table's text and keeps
** the raw value of every number in a data-v attribute.
**
** --from/--to given as a date (2026-11-01) mean local midnight in the
** shop's time zone (the config's timezone), read with the library's own
** tz reader (report_tz.c); with a time they are exact.
*/
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reports.h" /* pt_tz: the shop's zone as the library reads it */

/* ---- times ------------------------------------------------------------------- */

/* The shop's time zone name from the active configuration ("UTC" if there
** is none yet: the report then says no_config). Returns the exit status: a
** zone that could not be read must not pass for UTC, or --from 2026-11-01
** would silently mean another midnight. */
static int shop_zone(cli *c, char *buf, size_t size) {
  char *text = NULL;
  int rc;
  snprintf(buf, size, "UTC");
  if (patron_config_json(c->p, &text, 0) != PATRON_OK)
    return patron_errcode(c->p) == PATRON_NO_CONFIG ? CLI_EXIT_OK : cli_lib_error(c);
  json_t *j = cli_parse_json(text, &rc);
  patron_free(text);
  const char *tz = json_string_value(json_object_get(json_object_get(j, "shop"), "timezone"));
  if (tz && *tz) snprintf(buf, size, "%s", tz);
  json_decref(j);
  return rc;
}

/* A date alone is local midnight in the zone tz (NULL: UTC); anything
** else as patron parses (s was checked with patron_time_parse). */
static int64_t when(const char *s, const pt_tz *tz) {
  int64_t t = 0;
  patron_time_parse(&t, s); /* a date: its midnight as if the wall clock were UTC */
  return strlen(s) == 10 && tz ? pt_tz_to_utc(tz, t) : t;
}

/* --from/--to, dates as local midnight in the shop's zone, read with the
** library's reader of the tz database (the zone rules the report's periods
** use). A zone it cannot use is UTC, as in the report; one it could not
** load for lack of memory is an error, never UTC: --from 2026-11-01 would
** silently mean another midnight. Returns the exit status. */
static int window(cli *c, const char *from, const char *to, int64_t *f, int64_t *t) {
  if (!from && !to) return CLI_EXIT_OK;
  char zone[128], why[256] = "";
  int rc = shop_zone(c, zone, sizeof zone), err = 0;
  if (rc) return rc;
  pt_tz *tz = pt_tz_open(zone, why, sizeof why, &err);
  if (!tz && err) return cli_error(err, "", "time zone %s: %s", zone, why);
  if (from) *f = when(from, tz);
  if (to) *t = when(to, tz);
  pt_tz_free(tz);
  return CLI_EXIT_OK;
}

/* ---- cell formatting ------------------------------------------------------------ */

static void money(char *buf, size_t size, json_int_t cents) {
  json_int_t a = cents < 0 ? -cents : cents;
  snprintf(buf, size, "%s%" JSON_INTEGER_FORMAT ".%02d", cents < 0 ? "-" : "", a / 100,
           (int)(a % 100));
}

/* The text key beside a bp/score/milli key: "redemption_rate_bp" ->
** "redemption_rate", "frequency_per_year_milli" -> "frequency_per_year". */
static const char *companion(const json_t *row, const char *key, char *buf, size_t size) {
  size_t n = strlen(key);
  if (n > 3 && strcmp(key + n - 3, "_bp") == 0) n -= 3;
  else if (n > 6 && strcmp(key + n - 6, "_milli") == 0) n -= 6;
  snprintf(buf, size, "%.*s", (int)n, key);
  return json_string_value(json_object_get(row, buf));
}

/* The cell as a person reads it (table and html). */
static void cell_text(const json_t *row, const char *key, const char *type, char *buf,
                      size_t size) {
  json_t *v = json_object_get(row, key);
  char tk[128];
  buf[0] = 0;
  if (strcmp(type, "bp") == 0 || strcmp(type, "score") == 0 || strcmp(type, "milli") == 0) {
    const char *t = companion(row, key, tk, sizeof tk);
    if (t) snprintf(buf, size, "%s", t);
    else if (json_is_integer(v)) snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return;
  }
  if (json_is_null(v) || !v) return;
  if (strcmp(type, "cents") == 0 && json_is_integer(v)) {
    money(buf, size, json_integer_value(v));
  } else if (json_is_integer(v)) {
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  } else if (json_is_boolean(v)) {
    snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(type, "time") == 0 && strlen(s) >= 19) snprintf(buf, size, "%.10s %.5s", s, s + 11);
    else snprintf(buf, size, "%s", s);
  }
}

static bool is_total(const json_t *row, const char *label) {
  const char *s = json_string_value(json_object_get(row, label));
  return s && strcmp(s, "total") == 0;
}

/* ---- table ---------------------------------------------------------------------- */

/* Columns worth showing on a terminal: "program" only when there are
** several programs, and nothing that is empty in every row. */
static bool show_column(const json_t *tab, const char *key, const char *type) {
  const json_t *rows = json_object_get(tab, "rows");
  size_t i;
  json_t *row;
  const char *first = NULL;
  bool differs = false, any = false;
  json_array_foreach(rows, i, row) {
    char buf[256];
    cell_text(row, key, type, buf, sizeof buf);
    if (buf[0]) any = true;
    if (!first) first = json_string_value(json_object_get(row, key));
    else if (json_string_value(json_object_get(row, key)) &&
             strcmp(first, json_string_value(json_object_get(row, key))) != 0)
      differs = true;
  }
  if (strcmp(key, "program") == 0) return differs;
  return any || json_array_size(rows) == 0;
}

/* The aligned table of tab: the columns worth showing, a rule before the
** total row. NULL with *ok true when no column is worth showing; NULL with
** *ok false when it ran out of memory. */
static cli_table *build_table(const json_t *tab, bool *ok) {
  json_t *cols = json_object_get(tab, "columns"), *col;
  size_t nc = json_array_size(cols), k, shown = 0;
  const char **head = calloc(nc + 1, sizeof *head);
  char *align = calloc(nc + 1, 1);
  size_t *idx = calloc(nc + 1, sizeof *idx);
  cli_table *t = NULL;
  *ok = head && align && idx;
  if (!*ok) goto done;
  json_array_foreach(cols, k, col) {
    const char *key = json_string_value(json_object_get(col, "key"));
    const char *type = json_string_value(json_object_get(col, "type"));
    if (!show_column(tab, key, type)) continue;
    head[shown] = json_string_value(json_object_get(col, "title"));
    align[shown] = strcmp(type, "text") == 0 || strcmp(type, "time") == 0 ||
                   strcmp(type, "bool") == 0 ? 'l' : 'r';
    idx[shown++] = k;
  }
  if (!shown) goto done;
  if (!(*ok = (t = cli_table_new(head, align)) != NULL)) goto done;
  size_t ri;
  json_t *row;
  const char *label = nc > 1 ? json_string_value(json_object_get(json_array_get(cols, 1), "key")) : "";
  json_array_foreach(json_object_get(tab, "rows"), ri, row) {
    if (is_total(row, label) && !(*ok = cli_table_row(t, NULL))) break;
    char cells[64][128];
    const char *ptrs[64];
    for (size_t s = 0; s < shown && s < 64; s++) {
      json_t *cd = json_array_get(cols, idx[s]);
      cell_text(row, json_string_value(json_object_get(cd, "key")),
                json_string_value(json_object_get(cd, "type")), cells[s], sizeof cells[s]);
      ptrs[s] = cells[s];
    }
    if (!(*ok = cli_table_row(t, ptrs))) break;
  }
done:
  if (!*ok) {
    cli_table_free(t);
    t = NULL;
  }
  free(head);
  free(align);
  free(idx);
  return t;
}

static int print_tables(const json_t *doc) {
  /* every table is built before anything is printed: a table missing rows
  ** would be a wrong number; out of memory prints the error alone */
  json_t *tabs = json_object_get(doc, "tables"), *tab;
  size_t nt = json_array_size(tabs), ti;
  cli_table **built = calloc(nt + 1, sizeof *built);
  bool ok = built != NULL;
  for (ti = 0; ok && ti < nt; ti++) built[ti] = build_table(json_array_get(tabs, ti), &ok);
  if (!ok) {
    for (size_t i = 0; built && i < nt; i++) cli_table_free(built[i]);
    free(built);
    return cli_error(PATRON_NOMEM, "", "out of memory");
  }
  const char *name = json_string_value(json_object_get(doc, "report"));
  printf("%s report", name ? name : "?");
  const char *prog = json_string_value(json_object_get(doc, "program"));
  if (prog) printf(", program %s", prog);
  printf("; %s to %s (%s); as of %s; %s %s\n",
         json_string_value(json_object_get(doc, "from")) ? json_string_value(json_object_get(doc, "from")) : "-",
         json_string_value(json_object_get(doc, "to")) ? json_string_value(json_object_get(doc, "to")) : "-",
         json_string_value(json_object_get(doc, "timezone")),
         json_string_value(json_object_get(doc, "as_of")),
         json_string_value(json_object_get(doc, "currency")),
         json_string_value(json_object_get(doc, "amounts")));
  json_array_foreach(tabs, ti, tab) {
    printf("\n%s\n", json_string_value(json_object_get(tab, "title")));
    if (built[ti]) cli_table_print(built[ti], stdout);
    if (json_array_size(json_object_get(tab, "rows")) == 0) puts("(no rows)");
    cli_table_free(built[ti]);
  }
  free(built);
  const char *key;
  json_t *v;
  if (json_object_size(json_object_get(doc, "definitions"))) puts("\ndefinitions:");
  json_object_foreach(json_object_get(doc, "definitions"), key, v)
    printf("  %s: %s\n", key, json_string_value(v));
  size_t i;
  if (json_array_size(json_object_get(doc, "notes"))) puts("notes:");
  json_array_foreach(json_object_get(doc, "notes"), i, v) printf("  %s\n", json_string_value(v));
  return CLI_EXIT_OK;
}

/* ---- csv ------------------------------------------------------------------------ */

static void csv_field(const char *s) {
  bool quote = strpbrk(s, ",\"\n\r") != NULL;
  if (!quote) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

/* Raw values under the JSON keys: integers as they are (cents, points,
** basis points), null as an empty field, booleans true/false. */
static void print_csv(const json_t *doc, const char *only) {
  size_t ti, printed = 0;
  json_t *tab;
  json_array_foreach(json_object_get(doc, "tables"), ti, tab) {
    const char *tname = json_string_value(json_object_get(tab, "name"));
    if (only && strcmp(only, tname) != 0) continue;
    if (printed++) putchar('\n');
    json_t *cols = json_object_get(tab, "columns"), *col, *row;
    size_t k, ri;
    json_array_foreach(cols, k, col) {
      if (k) putchar(',');
      csv_field(json_string_value(json_object_get(col, "key")));
    }
    putchar('\n');
    json_array_foreach(json_object_get(tab, "rows"), ri, row) {
      json_array_foreach(cols, k, col) {
        json_t *v = json_object_get(row, json_string_value(json_object_get(col, "key")));
        if (k) putchar(',');
        if (json_is_integer(v)) printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_string(v)) csv_field(json_string_value(v));
        else if (json_is_true(v)) fputs("true", stdout);
        else if (json_is_false(v)) fputs("false", stdout);
      }
      putchar('\n');
    }
  }
}

/* ---- html ----------------------------------------------------------------------- */

static void esc(const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", stdout); break;
    case '<': fputs("&lt;", stdout); break;
    case '>': fputs("&gt;", stdout); break;
    case '"': fputs("&quot;", stdout); break;
    default: putchar(*s);
    }
  }
}

static const char *const palette[] = {"#2f6fb0", "#e08a2c", "#3a9a5b", "#b0413e",
                                      "#7d5ba6", "#8c6d31"};

static double num(const json_t *v) {
  return json_is_integer(v) ? (double)json_integer_value(v) : 0.0;
}

/* Axis text for a value of the series type; decimals when the grid step
** (in display units) is small. */
static void axis_text(char *buf, size_t size, double v, double step, const char *type) {
  double unit = strcmp(type, "cents") == 0 || strcmp(type, "bp") == 0 ||
                strcmp(type, "score") == 0 ? 100.0 : strcmp(type, "milli") == 0 ? 1000.0 : 1.0;
  int dec = step / unit >= 1 ? 0 : step / unit >= 0.1 ? 1 : 2;
  snprintf(buf, size, "%.*f%s", dec, v / unit, strcmp(type, "bp") == 0 ? "%" : "");
}

static const char *col_type(const json_t *tab, const char *key) {
  size_t k;
  json_t *col;
  json_array_foreach(json_object_get(tab, "columns"), k, col)
    if (strcmp(json_string_value(json_object_get(col, "key")), key) == 0)
      return json_string_value(json_object_get(col, "type"));
  return "int";
}

static const char *col_title(const json_t *tab, const char *key) {
  size_t k;
  json_t *col;
  json_array_foreach(json_object_get(tab, "columns"), k, col)
    if (strcmp(json_string_value(json_object_get(col, "key")), key) == 0)
      return json_string_value(json_object_get(col, "title"));
  return key;
}

/* One SVG chart of the rows whose group key equals group (NULL: all).
** It allocates nothing (the rows charted are at most MAX_CHART_ROWS): a
** chart is never drawn with bars missing for lack of memory. */
#define MAX_CHART_ROWS 120
static void svg_chart(const json_t *tab, const json_t *chart, const char *group) {
  const char *kind = json_string_value(json_object_get(chart, "kind"));
  const char *label = json_string_value(json_object_get(chart, "label"));
  const char *gkey = json_string_value(json_object_get(chart, "group"));
  json_t *series = json_object_get(chart, "series");
  size_t ns = json_array_size(series);
  const json_t *rows = json_object_get(tab, "rows");
  json_t *pick[MAX_CHART_ROWS];
  size_t i, n = 0;
  json_t *row;
  json_array_foreach(rows, i, row) {
    if (is_total(row, label)) continue;
    if (group && gkey && strcmp(group, json_string_value(json_object_get(row, gkey)) ?
                                           json_string_value(json_object_get(row, gkey)) : "") != 0)
      continue;
    if (n < MAX_CHART_ROWS) pick[n] = row;
    n++;
  }
  if (n == 0 || ns == 0 || n > MAX_CHART_ROWS) {
    if (n > MAX_CHART_ROWS) fputs("<p class=\"note\">(too many rows to chart)</p>\n", stdout);
    return;
  }
  const char *type = col_type(tab, json_string_value(json_array_get(series, 0)));
  double lo = 0, hi = 0;
  for (i = 0; i < n && (row = pick[i]); i++)
    for (size_t s = 0; s < ns; s++) {
      double v = num(json_object_get(row, json_string_value(json_array_get(series, s))));
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (hi == lo) hi = lo + (strcmp(type, "int") == 0 || strcmp(type, "points") == 0 ? 4 : 400);
  const double W = 760, H = 260, L = 64, R = 12, T = 14, B = 58;
  double pw = W - L - R, ph = H - T - B, slot = pw / (double)n;
#define Y(v) (T + ph - ((v) - lo) / (hi - lo) * ph)
  printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
         "viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", W, H, W, H);
  printf("<title>");
  esc(json_string_value(json_object_get(tab, "title")));
  if (group) { fputs(": ", stdout); esc(group); }
  printf("</title>\n");
  for (int g = 0; g <= 4; g++) {
    double v = lo + (hi - lo) * g / 4.0;
    char t[32];
    axis_text(t, sizeof t, v, (hi - lo) / 4.0, type);
    printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", L, Y(v),
           W - R, Y(v));
    printf("<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%s</text>\n", L - 4,
           Y(v) + 4, t);
  }
  printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"zero\"/>\n", L, Y(0.0),
         W - R, Y(0.0));
  size_t every = n > 24 ? (n + 23) / 24 : 1;
  for (i = 0; i < n && (row = pick[i]); i++) {
    double x0 = L + slot * (double)i;
    if (i % every == 0) {
      char t[128];
      cell_text(row, label, "text", t, sizeof t);
      printf("<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\" "
             "transform=\"rotate(-40 %.1f %.1f)\">", x0 + slot / 2, H - B + 14, x0 + slot / 2,
             H - B + 14);
      esc(t);
      fputs("</text>\n", stdout);
    }
    if (strcmp(kind, "line") == 0) continue;
    double bw = slot * 0.8 / (double)ns;
    if (bw > 48) bw = 48;
    for (size_t s = 0; s < ns; s++) {
      double v = num(json_object_get(row, json_string_value(json_array_get(series, s))));
      double y1 = Y(v), y0 = Y(0.0);
      printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
             x0 + (slot - bw * (double)ns) / 2 + bw * (double)s, y1 < y0 ? y1 : y0,
             bw > 1 ? bw - 1 : bw,
             y1 < y0 ? y0 - y1 : y1 - y0, palette[s % 6]);
    }
  }
  if (strcmp(kind, "line") == 0) {
    for (size_t s = 0; s < ns; s++) {
      printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", palette[s % 6]);
      for (i = 0; i < n && (row = pick[i]); i++) {
        json_t *v = json_object_get(row, json_string_value(json_array_get(series, s)));
        if (!json_is_integer(v)) continue;
        printf("%.1f,%.1f ", L + slot * ((double)i + 0.5), Y(num(v)));
      }
      fputs("\"/>\n", stdout);
    }
  }
  for (size_t s = 0; s < ns; s++) {
    const char *key = json_string_value(json_array_get(series, s));
    double x = L + 150.0 * (double)s;
    printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>", x, H - 14,
           palette[s % 6]);
    printf("<text x=\"%.1f\" y=\"%.1f\" class=\"ax\">", x + 14, H - 5);
    esc(col_title(tab, key));
    fputs("</text>\n", stdout);
  }
  fputs("</svg>\n", stdout);
#undef Y
}

/* Does a row before row i have g under key? (No set to remember them in:
** nothing to allocate, so nothing to lose.) */
static bool seen_before(const json_t *rows, size_t i, const char *key, const char *g) {
  for (size_t k = 0; k < i; k++) {
    const char *h = json_string_value(json_object_get(json_array_get(rows, k), key));
    if (h && strcmp(h, g) == 0) return true;
  }
  return false;
}

static void html_charts(const json_t *tab) {
  const json_t *chart = json_object_get(tab, "chart");
  if (!chart) return;
  const char *gkey = json_string_value(json_object_get(chart, "group"));
  if (!gkey) {
    fputs("<figure>\n", stdout);
    svg_chart(tab, chart, NULL);
    fputs("</figure>\n", stdout);
    return;
  }
  const json_t *rows = json_object_get(tab, "rows");
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    const char *g = json_string_value(json_object_get(row, gkey));
    if (!g || seen_before(rows, i, gkey, g)) continue;
    fputs("<figure>\n<figcaption>", stdout);
    esc(g);
    fputs("</figcaption>\n", stdout);
    svg_chart(tab, chart, g);
    fputs("</figure>\n", stdout);
  }
}

static void print_html(const json_t *doc) {
  const char *name = json_string_value(json_object_get(doc, "report"));
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>patron: ",
        stdout);
  esc(name);
  fputs(" report</title>\n<style>\n"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
        "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}\n"
        "table{border-collapse:collapse;margin:.5em 0;font-size:.85em}\n"
        "th,td{border:1px solid #ccc;padding:.25em .5em}th{background:#f2f2f2}\n"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
        "tr.total td{font-weight:bold;border-top:2px solid #888}\n"
        ".meta,.note{color:#555}svg .grid{stroke:#e4e4e4}svg .zero{stroke:#888}\n"
        "svg .ax{font-size:10px;fill:#444}figure{margin:.5em 0}\n"
        "@media print{body{margin:0}h2{page-break-before:auto}figure,table{page-break-inside:avoid}}\n"
        "</style>\n</head>\n<body>\n<h1>", stdout);
  esc(name);
  fputs(" report</h1>\n<p class=\"meta\">", stdout);
  const char *prog = json_string_value(json_object_get(doc, "program"));
  fputs("program ", stdout);
  esc(prog ? prog : "all");
  fputs("; from ", stdout);
  esc(json_string_value(json_object_get(doc, "from")));
  fputs(" to ", stdout);
  esc(json_string_value(json_object_get(doc, "to")));
  fputs(" (periods in ", stdout);
  esc(json_string_value(json_object_get(doc, "timezone")));
  fputs("); as of ", stdout);
  esc(json_string_value(json_object_get(doc, "as_of")));
  fputs("; ", stdout);
  esc(json_string_value(json_object_get(doc, "currency")));
  fputs(", ", stdout);
  esc(json_string_value(json_object_get(doc, "amounts")));
  fputs("</p>\n", stdout);
  size_t ti;
  json_t *tab;
  json_array_foreach(json_object_get(doc, "tables"), ti, tab) {
    fputs("<section>\n<h2>", stdout);
    esc(json_string_value(json_object_get(tab, "title")));
    fputs("</h2>\n", stdout);
    html_charts(tab);
    json_t *cols = json_object_get(tab, "columns"), *col, *row;
    size_t k, ri;
    const char *label = json_string_value(json_object_get(json_array_get(cols, 1), "key"));
    fputs("<table>\n<thead><tr>", stdout);
    json_array_foreach(cols, k, col) {
      fputs("<th>", stdout);
      esc(json_string_value(json_object_get(col, "title")));
      fputs("</th>", stdout);
    }
    fputs("</tr></thead>\n<tbody>\n", stdout);
    json_array_foreach(json_object_get(tab, "rows"), ri, row) {
      fputs(label && is_total(row, label) ? "<tr class=\"total\">" : "<tr>", stdout);
      json_array_foreach(cols, k, col) {
        const char *key = json_string_value(json_object_get(col, "key"));
        const char *type = json_string_value(json_object_get(col, "type"));
        json_t *v = json_object_get(row, key);
        char text[256];
        cell_text(row, key, type, text, sizeof text);
        if (json_is_integer(v))
          printf("<td class=\"n\" data-v=\"%" JSON_INTEGER_FORMAT "\">", json_integer_value(v));
        else
          fputs(strcmp(type, "text") == 0 ? "<td>" : "<td class=\"n\">", stdout);
        esc(text);
        fputs("</td>", stdout);
      }
      fputs("</tr>\n", stdout);
    }
    fputs("</tbody>\n</table>\n</section>\n", stdout);
  }
  fputs("<h2>Definitions</h2>\n<dl>\n", stdout);
  const char *key;
  json_t *v;
  json_object_foreach(json_object_get(doc, "definitions"), key, v) {
    fputs("<dt>", stdout);
    esc(key);
    fputs("</dt><dd>", stdout);
    esc(json_string_value(v));
    fputs("</dd>\n", stdout);
  }
  fputs("</dl>\n", stdout);
  size_t i;
  if (json_array_size(json_object_get(doc, "notes"))) {
    fputs("<h2>Notes</h2>\n<ul>\n", stdout);
    json_array_foreach(json_object_get(doc, "notes"), i, v) {
      fputs("<li>", stdout);
      esc(json_string_value(v));
      fputs("</li>\n", stdout);
    }
    fputs("</ul>\n", stdout);
  }
  fputs("<p class=\"note\">made by patron " PATRON_VERSION "</p>\n</body>\n</html>\n", stdout);
}

/* ---- report --------------------------------------------------------------------- */

static int run_report(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *program = NULL, *from = NULL, *to = NULL, *by = NULL, *format = NULL,
             *touch = NULL, *table = NULL;
  cli_opt opts[] = {{"--program", CLI_STR, &program, false},
                    {"--from", CLI_STR, &from, false},
                    {"--to", CLI_STR, &to, false},
                    {"--by", CLI_STR, &by, false},
                    {"--format", CLI_STR, &format, false},
                    {"--touchpoint", CLI_STR, &touch, false},
                    {"--table", CLI_STR, &table, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 1, 1, "NAME")) >= 0) return rc;
  enum { F_TABLE, F_CSV, F_JSON, F_HTML } f = c->tty_out ? F_TABLE : F_JSON;
  if (format) {
    if (strcmp(format, "table") == 0) f = F_TABLE;
    else if (strcmp(format, "csv") == 0) f = F_CSV;
    else if (strcmp(format, "json") == 0) f = F_JSON;
    else if (strcmp(format, "html") == 0) f = F_HTML;
    else return cli_usage(c, "--format expects table, csv, json or html, got '%s'", format);
  }
  int64_t t;
  if (from && patron_time_parse(&t, from) != PATRON_OK)
    return cli_usage(c, "--from expects a date or time (2026-11-01 or "
                        "2026-11-01T00:00:00+02:00), got '%s'", from);
  if (to && patron_time_parse(&t, to) != PATRON_OK)
    return cli_usage(c, "--to expects a date or time (2026-12-01 or "
                        "2026-12-01T00:00:00+02:00), got '%s'", to);
  if ((rc = cli_open(c, true))) return rc;
  patron_report_opts o = {program, 0, 0, by, touch};
  if ((rc = window(c, from, to, &o.from, &o.to))) return rc;
  char *text = NULL;
  if (patron_report_json(c->p, &text, pos[0], &o) != PATRON_OK) return cli_lib_error(c);
  if (f == F_JSON) {
    puts(text);
    patron_free(text);
    return CLI_EXIT_OK;
  }
  json_t *doc = cli_parse_json(text, &rc);
  patron_free(text);
  if (!doc) return rc;
  if (table) {
    size_t i;
    json_t *tb;
    bool found = false;
    json_array_foreach(json_object_get(doc, "tables"), i, tb)
      if (strcmp(json_string_value(json_object_get(tb, "name")), table) == 0) found = true;
    if (!found) {
      json_decref(doc);
      return cli_usage(c, "report %s has no table '%s'", pos[0], table);
    }
  }
  rc = CLI_EXIT_OK;
  if (f == F_TABLE) rc = print_tables(doc);
  else if (f == F_CSV) print_csv(doc, table);
  else print_html(doc);
  json_decref(doc);
  return rc;
}

const cli_cmd cli_cmd_report = {
    .name = "report",
    .args = "NAME [--program P] [--from T --to T] [--by month|week|tier|channel]\n"
            "       [--format table|csv|json|html] [--touchpoint T] [--table NAME]",
    .summary = "reports: redemption, liability, clv, retention, churn, repeat, health, "
               "nps, ...",
    .description =
        "Runs a report over the shop's data and prints it. NAME is one of:\n"
        "  redemption  points issued, redeemed, expired per period; rate and the\n"
        "              low flag (< 20%); the issue-cohort view\n"
        "  liability   outstanding points and their value, expiring in 30/60/90\n"
        "              days, breakage, clawbacks and negative balances\n"
        "  clv         AOV x orders per year x lifetime, with the inputs and margin\n"
        "  retention   customers kept per period; churn: the same, as churn\n"
        "  repeat      customers with 2+ orders / customers with 1+ order\n"
        "  health      RFM scores per customer and the at-risk list\n"
        "  nps         Net Promoter Score per touchpoint and period\n"
        "  crosssell   suggestions made on orders and how many were bought\n"
        "  bundles     bundle uptake and the saving given\n"
        "  shipping    orders against the free-shipping threshold, nudges\n"
        "  subs        active subscriptions, MRR, churn, dunning recovery\n"
        "(`patron report budgets`, the plugins' budgets, is a command of its own.)\n"
        "Periods are local months (or weeks) in the shop's time zone. Every\n"
        "report states its formulas under \"definitions\". A period without\n"
        "data says \"no data\" instead of a rate.\n"
        "\n"
        "Formats: table (aligned, the default on a terminal), json (the\n"
        "library's document, the default otherwise), csv (raw integers: cents,\n"
        "points, basis points; tables separated by a blank line, --table picks\n"
        "one), html (one self-contained page with tables and SVG charts).",
    .options = "--program P\tonly this program (default: every program)\n"
               "--from T\tstart of the window: a date (local midnight in the shop's\n"
               "\ttime zone) or a time (default: the first data)\n"
               "--to T\tend of the window, exclusive (default: the end of the\n"
               "\tcurrent month or week)\n"
               "--by B\tmonth (default) or week periods; tier or channel groups\n"
               "\twhere the report has them\n"
               "--format F\ttable, csv, json or html\n"
               "--touchpoint T\tnps: only onboarding, support, renewal or review\n"
               "--table NAME\tcsv: only this table of the report\n",
    .exit_status = "unknown report, program or --by for the report",
    .example = "$ patron report redemption --from 2026-01-01 --to 2027-01-01 --format table\n"
               "$ patron report clv --by tier --format csv > clv.csv\n"
               "$ patron report liability --format html > liability.html",
    .run = run_report,
};

/* ---- nps record ------------------------------------------------------------- */

static int run_nps_record(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *customer = NULL, *touch = NULL, *comment = NULL;
  int64_t score = -1;
  cli_opt opts[] = {{"--customer", CLI_STR, &customer, false},
                    {"--score", CLI_INT, &score, false},
                    {"--touchpoint", CLI_STR, &touch, false},
                    {"--comment", CLI_STR, &comment, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if (!customer) return cli_usage(c, "--customer C is required");
  if (!opts[1].given) return cli_usage(c, "--score 0..10 is required");
  if (!touch) return cli_usage(c, "--touchpoint onboarding|support|renewal|review is required");
  if (score < 0 || score > 10) return cli_usage(c, "--score must be 0..10, got %lld", (long long)score);
  if ((rc = cli_open(c, true))) return rc;
  if (patron_nps_record(c->p, customer, (int)score, touch, comment) != PATRON_OK)
    return cli_lib_error(c);
  char at[32];
  patron_time_format(at, sizeof at, patron_now(c->p));
  int64_t sc = score;
  const char *group = sc >= 9 ? "promoter" : sc >= 7 ? "passive" : "detractor";
  json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "customer", customer, "touchpoint", touch,
                        "score", (json_int_t)score, "group", group, "at", at);
  rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

const cli_cmd cli_cmd_nps_record = {
    .name = "nps record",
    .args = "--customer C --score 0..10 --touchpoint T [--comment TEXT]",
    .summary = "store a Net Promoter Score answer",
    .description =
        "Stores one answer to \"how likely are you to recommend us?\" (0..10)\n"
        "at a touchpoint: onboarding, support, renewal or review. 9-10 is a\n"
        "promoter, 7-8 a passive, 0-6 a detractor; `patron report nps` adds them\n"
        "up. Prints the answer as JSON.",
    .options = "--customer C\tthe customer who answered (must exist)\n"
               "--score N\t0..10\n"
               "--touchpoint T\tonboarding, support, renewal or review\n"
               "--comment TEXT\tfree text, kept with the answer\n",
    .exit_status = "unknown customer or touchpoint",
    .example = "$ patron nps record --customer C1 --score 9 --touchpoint support\n"
               "{\"customer\":\"C1\",\"touchpoint\":\"support\",\"score\":9,"
               "\"group\":\"promoter\",\"at\":\"2026-11-23T12:00:00Z\"}",
    .run = run_nps_record,
};

/* ---- simulate ---------------------------------------------------------------- */

typedef struct bar {
  int64_t last_ms;
  bool shown;
} bar;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bar_cb(void *ud, int64_t done, int64_t total) {
  bar *b = ud;
  int64_t now = mono_ms();
  if (b->shown && done < total && now - b->last_ms < 100) return 0;
  b->last_ms = now;
  b->shown = true;
  int width = 30, fill = total > 0 ? (int)(done * width / total) : 0;
  if (fill > width) fill = width;
  fprintf(stderr, "\rre-pricing orders [%.*s%*s] %3d%% %lld/%lld\033[K", fill,
          "##############################", width - fill, "",
          total > 0 ? (int)(done * 100 / total) : 100, (long long)done, (long long)total);
  fflush(stderr);
  return 0;
}

/* The totals as a table; the status (nomem: nothing but the error printed). */
static int sim_table(const json_t *doc) {
  static const char *const keys[] = {"discount_cents", "shipping_cents", "total_cents",
                                     "points_earned", "redeem_cents", "liability_cents"};
  const char *head[] = {"", "discounts", "shipping", "paid", "points issued",
                        "points redeemed", "liability"};
  cli_table *t = cli_table_new(head, "lrrrrrr");
  static const char *const rows[] = {"recorded", "before", "after", "difference"};
  bool whole = t != NULL;
  for (int r = 0; whole && r < 4; r++) {
    if (r == 3 && !(whole = cli_table_row(t, NULL))) break;
    json_t *f = json_object_get(json_object_get(doc, "totals"), rows[r]);
    char cells[7][40];
    const char *p[7] = {rows[r]};
    for (int k = 0; k < 6; k++) {
      json_int_t v = json_integer_value(json_object_get(f, keys[k]));
      if (k == 3) snprintf(cells[k], sizeof cells[k], "%" JSON_INTEGER_FORMAT, v);
      else money(cells[k], sizeof cells[k], v);
      p[k + 1] = cells[k];
    }
    whole = cli_table_row(t, p);
  }
  if (!whole) { /* never a table missing a line */
    cli_table_free(t);
    return cli_error(PATRON_NOMEM, "", "out of memory");
  }
  printf("simulation of %s over %s .. %s: %" JSON_INTEGER_FORMAT " orders, %"
         JSON_INTEGER_FORMAT " re-priced, %" JSON_INTEGER_FORMAT " changed, %"
         JSON_INTEGER_FORMAT " failed (%s)\n\n",
         json_string_value(json_object_get(doc, "config")),
         json_string_value(json_object_get(doc, "from")),
         json_string_value(json_object_get(doc, "to")),
         json_integer_value(json_object_get(doc, "orders")),
         json_integer_value(json_object_get(doc, "repriced")),
         json_integer_value(json_object_get(doc, "changed")),
         json_integer_value(json_object_get(doc, "failed")),
         json_string_value(json_object_get(doc, "currency")));
  cli_table_print(t, stdout);
  cli_table_free(t);
  return CLI_EXIT_OK;
}

static int run_simulate(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *config = NULL, *from = NULL, *to = NULL, *format = NULL;
  cli_opt opts[] = {{"--config", CLI_STR, &config, false},
                    {"--from", CLI_STR, &from, false},
                    {"--to", CLI_STR, &to, false},
                    {"--format", CLI_STR, &format, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if (!config) return cli_usage(c, "--config NEW.lua is required");
  bool table = c->tty_out;
  if (format) {
    if (strcmp(format, "table") == 0) table = true;
    else if (strcmp(format, "json") == 0) table = false;
    else return cli_usage(c, "--format expects table or json, got '%s'", format);
  }
  int64_t t;
  if (from && patron_time_parse(&t, from) != PATRON_OK)
    return cli_usage(c, "--from expects a date or time, got '%s'", from);
  if (to && patron_time_parse(&t, to) != PATRON_OK)
    return cli_usage(c, "--to expects a date or time, got '%s'", to);
  if ((rc = cli_open(c, true))) return rc;
  int64_t f = 0, e = 0;
  if ((rc = window(c, from, to, &f, &e))) return rc;
  bar b = {0, false};
  char *text = NULL;
  rc = patron_simulate(c->p, &text, config, f, e, c->tty_err ? bar_cb : NULL, &b);
  if (b.shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  if (rc != PATRON_OK) return cli_lib_error(c);
  if (!table) {
    puts(text);
    patron_free(text);
    return CLI_EXIT_OK;
  }
  json_t *doc = cli_parse_json(text, &rc);
  patron_free(text);
  if (!doc) return rc;
  rc = sim_table(doc);
  json_decref(doc);
  return rc;
}

const cli_cmd cli_cmd_simulate = {
    .name = "simulate",
    .args = "--config NEW.lua [--from T] [--to T] [--format table|json]",
    .summary = "re-price past orders under a new configuration, writing nothing",
    .description =
        "Evaluates NEW.lua like `patron apply` would, without storing it, and\n"
        "re-prices every order recorded in [--from, --to) at its own time: once\n"
        "under the configuration it was recorded with and once under NEW.lua.\n"
        "Prints the totals (recorded, before, after, difference) of discounts,\n"
        "shipping revenue, money paid, points issued, points redeemed and the\n"
        "liability of the points issued, and every order whose figures change.\n"
        "Nothing is written. A progress bar shows on a terminal.",
    .options = "--config F\tthe shop.lua to try (required)\n"
               "--from T\tfirst order time (a date is local midnight in the shop's\n"
               "\ttime zone; default: the beginning)\n"
               "--to T\tend, exclusive (default: now)\n"
               "--format F\ttable (default on a terminal) or json\n",
    .exit_status = "the new configuration is invalid (invalid_config)",
    .example = "$ patron simulate --config shop-bigger-bundles.lua --from 2026-01-01 --to 2026-07-01",
    .run = run_simulate,
};
