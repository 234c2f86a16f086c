/*
** reports.h -- what the reports module offers the rest of the core, and
** what its files share among themselves.
**
** For the rest of the core: the abandoned-cart hooks called by quote,
** commit and tick (tracking.c) and the marketing contact cap, which any
** module that emits a marketing event should ask first.
**
** Inside the module: reports.c runs a report (the window, the periods in
** the shop's time zone, the JSON document every report fills: tables of
** rows with typed columns, chart hints, definitions and notes);
** report_tz.c reads the tz database and cuts time into local months and
** weeks; report_points.c (redemption, liability), report_customers.c
** (clv, retention, churn, repeat, health), report_checkout.c (crosssell,
** bundles, shipping, subs) and nps.c fill the tables; simulate.c re-prices
** past orders. Every report reads; none writes.
*/
#ifndef PT_REPORTS_H
#define PT_REPORTS_H

#include "checkout.h"

/* ---- abandoned carts and the contact cap (tracking.c) ------------------ */

/* After a successful quote of a cart with "track": true and a customer:
** remembers it as the customer's open cart (its own small transaction). */
int pt_track_quote(patron *p, const pt_quote *q);
/* Inside a commit's transaction: the customer's open cart is bought. */
int pt_track_commit(patron *p, const pt_quote *q);
/* Inside tick's transaction: cart_abandoned for carts not committed
** within the shop's abandoned_cart_hours, once each. */
int pt_track_tick(patron *p, const pt_config *c, int64_t now,
                  patron_tick_result *out);

/* Marketing events count towards the contact cap: cart_abandoned,
** points_expiring and win_back (the list is CONTACT_COUNT in
** sql_reports.h). Transactional events (dunning_notice, charge_requested,
** tier_changed, renewal_upcoming, ...) never count and are never held
** back. */
/* *allowed = the customer may receive one more marketing event at now:
** fewer than c->contact_cap_max marketing events in the
** c->contact_cap_per_days days up to now. Reads only. */
int pt_contact_allowed(patron *p, const pt_config *c, const char *customer,
                       int64_t now, bool *allowed);

/* ---- time zones and calendar periods (report_tz.c) --------------------- */

typedef struct pt_tz pt_tz;
/* Loads a zone of the tz database (/usr/share/zoneinfo/NAME, TZif v1-v4,
** with the footer rule for times after the last transition). "UTC" and
** "Etc/UTC" work without the files. NULL when the zone cannot be read:
** why (may be NULL) says what went wrong. Free with pt_tz_free. */
pt_tz *pt_tz_load(const char *name, char *why, size_t why_size);
/* The same, telling why apart: *err is 0 when the zone itself cannot be
** used (unknown, unreadable, damaged: a caller may fall back to UTC), or
** PATRON_NOMEM / PATRON_IO when loading it failed for lack of memory or
** file handles (a fallback would silently cut periods in the wrong zone). */
pt_tz *pt_tz_open(const char *name, char *why, size_t why_size, int *err);
void pt_tz_free(pt_tz *tz);
/* Seconds east of UTC in force at the UTC time t. */
int64_t pt_tz_offset(const pt_tz *tz, int64_t t);
/* The UTC time of a local wall-clock time (seconds since the epoch as if
** the wall clock were UTC). A wall time skipped by a DST jump maps to the
** instant after the jump; a repeated one to its first occurrence. */
int64_t pt_tz_to_utc(const pt_tz *tz, int64_t local);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t pt_days_from_civil(int64_t y, int m, int d);
void pt_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

typedef enum pt_period_kind { PT_BY_MONTH, PT_BY_WEEK } pt_period_kind;
/* Start (UTC) of the local calendar month or ISO week (Monday 00:00)
** holding t, the start of the next one, and a label ("2026-11",
** "2026-W48") of the period starting at start. */
int64_t pt_period_start(const pt_tz *tz, pt_period_kind k, int64_t t);
int64_t pt_period_next(const pt_tz *tz, pt_period_kind k, int64_t start);
void pt_period_label(const pt_tz *tz, pt_period_kind k, int64_t start,
                     char *buf, size_t size);
/* A local date-time text of t: "2026-11-30 23:59" (local), for notes. */
void pt_tz_format(const pt_tz *tz, int64_t t, char *buf, size_t size);

/* ---- a report being built (reports.c) ----------------------------------- */

#define PT_YEAR_SECONDS 31557600  /* a Julian year: 365.25 days */
#define PT_REPORT_MAX_PERIODS 1200

typedef struct pt_period {
  int64_t from, to;         /* [from, to), UTC */
  char label[24];
  bool partial;             /* cut by the window, or not over yet */
} pt_period;

typedef struct pt_report {
  patron *p;
  const pt_config *cfg;
  const patron_report_opts *o;
  const char *name;
  pt_tz *tz;
  int64_t now;              /* as of (the handle's clock) */
  int64_t from, to;         /* the window [from, to); from 0 until resolved */
  bool from_given, to_given;
  pt_period_kind kind;      /* --by month (default) or week */
  json_t *doc;              /* the report document (owned) */
  json_t *tables;           /* borrowed from doc */
  json_t *notes;            /* borrowed from doc */
  json_t *defs;             /* borrowed from doc: formulas */
  bool oom;                 /* something could not be added to doc: the
                               report fails (PATRON_NOMEM), see pt_put */
} pt_report;

/* A column: key in the rows, title for people, and type, one of
**   text   a string            int    a count
**   points points              cents  money (integer minor units)
**   bp     a rate in basis points (null = no data; the row also carries
**          key minus "_bp" as text: "19.8%" or "no data")
**   score  a signed value in hundredths (NPS), text beside as for bp
**   milli  a value in thousandths (key "x_milli", text "4.000" in "x")
**   bool   true/false          time   UTC time text */
typedef struct pt_col {
  const char *key, *title, *type;
} pt_col;

/* Adds a table to the document; returns its rows array (borrowed), NULL
** when it could not be made (r->oom set; NULL is safe to pass on). */
json_t *pt_report_table(pt_report *r, const char *name, const char *title,
                        const pt_col *cols, size_t ncols);
/* The table object owning rows (for pt_report_chart). */
json_t *pt_report_table_obj(pt_report *r, const char *name);
/* A chart hint for the html rendering: kind "bars" or "line", the row key
** labelling the x axis, the row key whose values get a chart each (NULL:
** one chart), and the series (column keys of one type), NULL terminated.
** Rows whose label is "total" are left out of charts. */
void pt_report_chart(pt_report *r, const char *table, const char *kind,
                     const char *label, const char *group,
                     const char *const *series);
void pt_report_note(pt_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pt_report_define(pt_report *r, const char *name, const char *text);

/* ---- filling the document: checked once, at the end ----
** A report adds hundreds of values; a lost one (out of memory) must fail
** the report, never leave a row without a key or a table without a row.
** So every value goes in through pt_put_* / pt_report_row / pt_append (and
** pt_report_table, _chart, _note, _define, which use them), which record
** any failure in r->oom, and patron_report_json returns
** PATRON_NOMEM instead of a document when it is set. The fillers need not
** check each call, and a NULL container (a failed pt_report_row or
** pt_report_table) is safe to pass on: the value is freed, r->oom is set.
** The value is stolen (freed on failure, as by json_object_set_new): never
** use it after a false return. */
bool pt_put(pt_report *r, json_t *obj, const char *key, json_t *v);
/* Appends v (stolen) to the array arr. */
bool pt_append(pt_report *r, json_t *arr, json_t *v);
/* A new row object appended to rows; NULL (r->oom set) on failure. */
json_t *pt_report_row(pt_report *r, json_t *rows);
/* obj[key] = null (an intended null: no data, unlimited). */
void pt_put_null(pt_report *r, json_t *obj, const char *key);
void pt_put_int(pt_report *r, json_t *obj, const char *key, int64_t v);
void pt_put_bool(pt_report *r, json_t *obj, const char *key, bool v);
/* A string, or null for s NULL. Text that is not UTF-8 (a label cut
** inside a character by a fixed buffer) goes in with '?' for the bad
** bytes: only a failed allocation sets r->oom. */
void pt_put_str(pt_report *r, json_t *obj, const char *key, const char *s);
/* A UTC time text "2026-11-23T12:00:00Z". */
void pt_put_time(pt_report *r, json_t *obj, const char *key, int64_t t);
/* row[key_bp] = floor(num * 10000 / den) and row[key] = "19.8%", or null
** and "no data" when den <= 0. Returns false when den <= 0 (whether or
** not the values could be added: that is r->oom's business). */
bool pt_put_rate(pt_report *r, json_t *row, const char *key, int64_t num, int64_t den);
/* A signed score in bp (NPS): floor toward minus infinity, text with
** one decimal and a sign. */
bool pt_put_score(pt_report *r, json_t *row, const char *key, int64_t num, int64_t den);
/* row["note"] = "no data" */
void pt_put_no_data(pt_report *r, json_t *row);

/* floor(a * b / c) over 128 bits for any signs; c > 0. Saturates. */
int64_t pt_muldiv(int64_t a, int64_t b, int64_t c);
/* floor(a / b) for b > 0. */
int64_t pt_floordiv(int64_t a, int64_t b);

/* Programs the report covers: the one asked for, or every program of the
** active config. *n set; NULL with the error set on UNKNOWN_PROGRAM. */
const pt_program **pt_report_programs(pt_report *r, size_t *n);
/* Resolves the window: from = o->from, else the start of the period
** holding first (the earliest data time; 0 if none: the current period);
** to = o->to, else the end of the current period. */
void pt_report_window(pt_report *r, int64_t first);
/* Sets the window as given (and the document's from/to). */
void pt_report_set_window(pt_report *r, int64_t from, int64_t to);
/* The periods of the window (whole local months or weeks, the first and
** last cut by the window). Caller frees *out. INVALID_INPUT when there
** would be more than PT_REPORT_MAX_PERIODS. */
int pt_report_periods(pt_report *r, pt_period **out, size_t *n);
/* Index of the period holding t (binary search), -1 if none. */
ptrdiff_t pt_period_find(const pt_period *v, size_t n, int64_t t);
/* Sets the report's window (pt_report_window) from the first order in any
** of the programs; returns the status of that look-up. */
int pt_report_window_orders(pt_report *r, const pt_program **progs, size_t nprog);
/* Channel of an order: its order id up to the first '-' ("POS7-000123"
** -> "POS7"), or "(none)". */
void pt_order_channel(const char *order_id, char *buf, size_t size);

/* The reports (each adds its tables to r->doc). */
int pt_report_redemption(pt_report *r);
int pt_report_liability(pt_report *r);
int pt_report_clv(pt_report *r);
int pt_report_retention(pt_report *r);  /* also "churn" */
int pt_report_repeat(pt_report *r);
int pt_report_health(pt_report *r);
int pt_report_nps(pt_report *r);
int pt_report_crosssell(pt_report *r);
int pt_report_bundles(pt_report *r);
int pt_report_shipping(pt_report *r);
int pt_report_subs(pt_report *r);

/* A read transaction (deferred BEGIN) for a consistent snapshot while a
** report or a simulation reads; pt_report_end always rolls back. */
int pt_report_begin(patron *p);
void pt_report_end(patron *p);

#endif /* PT_REPORTS_H */
