/*
** report_points.c -- the points reports: redemption (per program and
** period, with the issue-cohort view) and liability (outstanding points,
** their value, what expires soon, breakage and clawbacks).
**
** Definitions (DESIGN.md section 10):
**   issued        earn entries + positive adjustments; opening balances
**                 imported from an older program are shown apart and not
**                 counted: they were issued by that program, not in the
**                 period they were moved in
**   redeemed      points spent on orders (redeem entries) less the points
**                 given back when those orders were refunded (reverse > 0)
**   redemption rate = redeemed / issued in the same period, floored to a
**                 basis point; "low" below 20%; no issued points: no data
**   cohort        the points put into lots in a period (lots.earned_at),
**                 and what consumed them since: redemptions, expiry, and
**                 the rest (refund clawbacks, negative adjustments, debt).
**                 Exact: every take from a lot is attributed to the entry
**                 that took it (schema/005_reports.sql).
** The redemption report reads report_points (15-minute aggregates kept by
** trigger), plus the raw ledger only for the slivers of a --from/--to
** that do not fall on a 15-minute boundary, so its cost depends on the
** number of buckets, not on the number of entries.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"

#define BUCKET 900

enum { C_EARN, C_REDEEM, C_EXPIRE, C_OPENING, C_ADJ_IN, C_ADJ_OUT, C_REV_IN, C_REV_OUT, C_N };

static int cls_index(const char *s) {
  static const char *const names[C_N] = {"earn", "redeem", "expire", "opening",
                                         "adjust+", "adjust-", "reverse+", "reverse-"};
  for (int i = 0; i < C_N; i++)
    if (s && strcmp(s, names[i]) == 0) return i;
  return -1;
}

typedef struct psum {
  int64_t c[C_N];
  int64_t entries;
} psum;

/* Adds the rows of st (time, class, points, entries) to the period sums. */
static int add_rows(patron *p, sqlite3_stmt *st, const pt_period *pv, size_t np,
                    psum *sums) {
  int got;
  while ((got = pt_row(p, st, "read points")) > 0) {
    const char *cls;
    if (pt_col_str(p, st, 1, &cls)) { got = -1; break; }
    ptrdiff_t i = pt_period_find(pv, np, sqlite3_column_int64(st, 0));
    int c = cls_index(cls);
    if (i < 0 || c < 0) continue;
    sums[i].c[c] += sqlite3_column_int64(st, 2);
    sums[i].entries += sqlite3_column_int64(st, 3);
  }
  pt_stmt_done(st);
  return got < 0 ? p->code : PATRON_OK;
}

static int query_points(patron *p, enum pt_sql_id id, const char *program, int64_t from,
                        int64_t to, const pt_period *pv, size_t np, psum *sums) {
  if (to <= from) return PATRON_OK;
  sqlite3_stmt *st = pt_stmt(p, id);
  if (!st) return p->code;
  pt_bind_text(st, 1, program);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  return add_rows(p, st, pv, np, sums);
}

/* Sums the window's points per period: buckets inside, raw entries at
** the edges (and everywhere when a period boundary is not on a bucket
** boundary, which no real zone since 1970 needs). */
static int period_sums(pt_report *r, const char *program, const pt_period *pv, size_t np,
                       psum *sums, bool *raw_all) {
  int64_t a = pt_floordiv(r->from + BUCKET - 1, BUCKET) * BUCKET;
  int64_t b = pt_floordiv(r->to, BUCKET) * BUCKET;
  bool aligned = true;
  for (size_t i = 1; i < np; i++)
    if (pv[i].from % BUCKET != 0) aligned = false;
  *raw_all = !aligned || a >= b;
  if (*raw_all)
    return query_points(r->p, PT_SQL_REP_POINTS_RAW, program, r->from, r->to, pv, np, sums);
  int rc = query_points(r->p, PT_SQL_REP_POINTS_RAW, program, r->from, a, pv, np, sums);
  if (!rc) rc = query_points(r->p, PT_SQL_REP_POINTS_AGG, program, a, b, pv, np, sums);
  if (!rc) rc = query_points(r->p, PT_SQL_REP_POINTS_RAW, program, b, r->to, pv, np, sums);
  return rc;
}

static void period_row(pt_report *r, json_t *rows, const char *program, const char *label,
                       const psum *s) {
  json_t *row = pt_report_row(r, rows);
  int64_t issued = s->c[C_EARN] + s->c[C_ADJ_IN];
  int64_t redeemed = -s->c[C_REDEEM], returned = s->c[C_REV_IN];
  int64_t net = redeemed - returned;
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "period", label);
  pt_put_int(r, row, "issued", issued);
  pt_put_int(r, row, "opening", s->c[C_OPENING]);
  pt_put_int(r, row, "redeemed", redeemed);
  pt_put_int(r, row, "returned", returned);
  pt_put_int(r, row, "redeemed_net", net);
  pt_put_int(r, row, "reversed", -s->c[C_REV_OUT]);
  pt_put_int(r, row, "expired", -s->c[C_EXPIRE]);
  pt_put_int(r, row, "adjusted_out", -s->c[C_ADJ_OUT]);
  pt_put_int(r, row, "entries", s->entries);
  if (pt_put_rate(r, row, "redemption_rate_bp", net, issued)) {
    bool low = pt_muldiv(net, 10000, issued) < 2000; /* the rate just put */
    pt_put_bool(r, row, "low", low);
    pt_put_str(r, row, "note", low ? "low: under 20% of issued points redeemed" : "");
  } else {
    pt_put_null(r, row, "low");
    if (s->entries == 0) pt_put_no_data(r, row);
    else pt_put_str(r, row, "note", "no data: no points issued in the period");
  }
}

/* ---- the cohort view ------------------------------------------------------ */

enum { U_ISSUED, U_REDEEM, U_EXPIRE, U_OTHER, U_BEFORE, U_N };
enum { O_ISSUED, O_OPENING, O_RETURNED, O_N };

static int cohort_sums(pt_report *r, const char *program, const pt_period *whole,
                       size_t np, int64_t (*c)[U_N], int64_t (*special)[U_N]) {
  sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_COHORT);
  if (!st) return r->p->code;
  pt_bind_text(st, 1, program);
  sqlite3_bind_int64(st, 2, whole[0].from);
  sqlite3_bind_int64(st, 3, whole[np - 1].to);
  int got;
  while ((got = pt_row(r->p, st, "read cohorts")) > 0) {
    ptrdiff_t i = pt_period_find(whole, np, sqlite3_column_int64(st, 0));
    const char *origin, *cls;
    if (pt_col_str(r->p, st, 1, &origin) || pt_col_str(r->p, st, 2, &cls)) {
      got = -1;
      break;
    }
    if (!origin) origin = "";
    if (!cls) cls = "";
    int64_t pts = sqlite3_column_int64(st, 3);
    int o = strcmp(origin, "opening") == 0 ? O_OPENING
            : strcmp(origin, "returned") == 0 ? O_RETURNED : O_ISSUED;
    int u = strcmp(cls, "issued") == 0 ? U_ISSUED
            : strcmp(cls, "redeem") == 0 ? U_REDEEM
            : strcmp(cls, "expire") == 0 ? U_EXPIRE
            : strcmp(cls, "before") == 0 ? U_BEFORE : U_OTHER;
    if (i < 0) continue;
    if (o == O_ISSUED) c[i][u] += pts;
    else special[o][u] += pts;
  }
  pt_stmt_done(st);
  return got < 0 ? r->p->code : PATRON_OK;
}

static void cohort_row(pt_report *r, json_t *rows, const char *program, const char *label,
                       const char *origin, const int64_t *u) {
  json_t *row = pt_report_row(r, rows);
  int64_t used = u[U_REDEEM] + u[U_EXPIRE] + u[U_OTHER] + u[U_BEFORE];
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "cohort", label);
  pt_put_str(r, row, "origin", origin);
  pt_put_int(r, row, "issued", u[U_ISSUED]);
  pt_put_int(r, row, "redeemed_since", u[U_REDEEM]);
  pt_put_int(r, row, "expired_since", u[U_EXPIRE]);
  pt_put_int(r, row, "other_since", u[U_OTHER] + u[U_BEFORE]);
  pt_put_int(r, row, "outstanding", u[U_ISSUED] - used);
  if (pt_put_rate(r, row, "redeemed_share_bp", u[U_REDEEM], u[U_ISSUED])) {
    pt_put_rate(r, row, "expired_share_bp", u[U_EXPIRE], u[U_ISSUED]);
    pt_put_str(r, row, "note", u[U_BEFORE] ? "includes points used before reports were "
                                             "installed" : "");
  } else {
    pt_put_rate(r, row, "expired_share_bp", 0, 0);
    pt_put_no_data(r, row);
  }
}

int pt_report_redemption(pt_report *r) {
  size_t nprog, np = 0;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  pt_period *pv = NULL, *whole = NULL;
  psum *sums = NULL;
  int64_t (*coh)[U_N] = NULL;
  int rc = PATRON_OK;
  /* the window starts with the first entry of any program covered */
  int64_t first = 0;
  for (size_t k = 0; k < nprog; k++) {
    sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_POINTS_FIRST);
    if (!st) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, progs[k]->name);
    int got = pt_row(r->p, st, "first entry");
    if (got > 0 && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      int64_t b = sqlite3_column_int64(st, 0);
      if (first == 0 || b < first) first = b;
    }
    pt_stmt_done(st);
    if (got < 0) { rc = r->p->code; goto done; }
  }
  pt_report_window(r, first);
  if ((rc = pt_report_periods(r, &pv, &np))) goto done;
  sums = calloc(np, sizeof *sums);
  whole = malloc(np * sizeof *whole);
  coh = calloc(np, sizeof *coh);
  if (!sums || !whole || !coh) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
  for (size_t i = 0; i < np; i++) {
    whole[i] = pv[i];
    whole[i].from = pt_period_start(r->tz, r->kind, pv[i].from);
    whole[i].to = pt_period_next(r->tz, r->kind, whole[i].from);
    whole[i].partial = false;
  }

  static const pt_col cols[] = {
      {"program", "program", "text"},         {"period", "period", "text"},
      {"issued", "issued", "points"},         {"opening", "opening balances", "points"},
      {"redeemed", "redeemed", "points"},     {"returned", "given back", "points"},
      {"redeemed_net", "redeemed net", "points"}, {"reversed", "taken back", "points"},
      {"expired", "expired", "points"},       {"adjusted_out", "adjusted out", "points"},
      {"entries", "entries", "int"},
      {"redemption_rate_bp", "redemption rate", "bp"}, {"low", "low", "bool"},
      {"note", "note", "text"}};
  static const pt_col ccols[] = {
      {"program", "program", "text"},       {"cohort", "issued in", "text"},
      {"origin", "origin", "text"},         {"issued", "issued", "points"},
      {"redeemed_since", "redeemed since", "points"},
      {"expired_since", "expired since", "points"},
      {"other_since", "other use since", "points"},
      {"outstanding", "outstanding", "points"},
      {"redeemed_share_bp", "redeemed share", "bp"},
      {"expired_share_bp", "expired share", "bp"}, {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "periods", "Points issued and redeemed", cols,
                                 sizeof cols / sizeof cols[0]);
  json_t *crow = pt_report_table(r, "cohorts", "Issue cohorts: redeemed since", ccols,
                                 sizeof ccols / sizeof ccols[0]);
  bool raw_any = false;
  for (size_t k = 0; k < nprog; k++) {
    const char *name = progs[k]->name;
    bool raw_all;
    memset(sums, 0, np * sizeof *sums);
    if ((rc = period_sums(r, name, pv, np, sums, &raw_all))) goto done;
    raw_any = raw_any || raw_all;
    psum total = {0};
    for (size_t i = 0; i < np; i++) {
      period_row(r, rows, name, pv[i].label, &sums[i]);
      for (int c = 0; c < C_N; c++) total.c[c] += sums[i].c[c];
      total.entries += sums[i].entries;
    }
    period_row(r, rows, name, "total", &total);

    int64_t special[O_N][U_N];
    memset(coh, 0, np * sizeof *coh);
    memset(special, 0, sizeof special);
    if ((rc = cohort_sums(r, name, whole, np, coh, special))) goto done;
    int64_t ctotal[U_N] = {0};
    for (size_t i = 0; i < np; i++) {
      cohort_row(r, crow, name, whole[i].label, "issued", coh[i]);
      for (int u = 0; u < U_N; u++) ctotal[u] += coh[i][u];
    }
    cohort_row(r, crow, name, "total", "issued", ctotal);
    if (special[O_OPENING][U_ISSUED])
      cohort_row(r, crow, name, "opening balances", "opening", special[O_OPENING]);
    if (special[O_RETURNED][U_ISSUED])
      cohort_row(r, crow, name, "given back by refunds", "returned", special[O_RETURNED]);
  }
  static const char *const series[] = {"issued", "redeemed_net", "expired", NULL};
  pt_report_chart(r, "periods", "bars", "period", nprog > 1 ? "program" : NULL, series);
  static const char *const cseries[] = {"issued", "redeemed_since", "expired_since", NULL};
  pt_report_chart(r, "cohorts", "bars", "cohort", nprog > 1 ? "program" : NULL, cseries);
  pt_report_define(r, "issued", "earn entries + positive adjustments (opening balances "
                   "imported from an older program are shown apart, not counted)");
  pt_report_define(r, "redeemed_net", "points redeemed on orders - points given back by "
                   "refunds of those orders");
  pt_report_define(r, "redemption_rate", "redeemed_net / issued in the same period, "
                   "floored to 0.01%; low below 20%; no issued points: no data");
  pt_report_define(r, "cohort", "points put into lots in a period and what used them "
                   "since (every take from a lot is attributed to the entry that took "
                   "it: exact); other = refund clawbacks, negative adjustments, debts; "
                   "cohorts are whole calendar periods");
  if (raw_any)
    pt_report_note(r, "the window is read from the ledger entries themselves (no "
                      "15-minute aggregate fits it)");
done:
  free(progs);
  free(pv);
  free(whole);
  free(sums);
  free(coh);
  return rc;
}

/* ---- liability ------------------------------------------------------------ */

static int64_t value_of(const pt_program *g, int64_t points) {
  if (g->value_points <= 0) return 0;
  return pt_muldiv(points, g->value_cents, g->value_points);
}

static int step_ints(patron *p, sqlite3_stmt *st, int64_t *v, int n, const char *what) {
  int got = pt_row(p, st, what);
  if (got > 0)
    for (int i = 0; i < n; i++) v[i] = sqlite3_column_int64(st, i);
  pt_stmt_done(st);
  return got < 0 ? p->code : PATRON_OK;
}

int pt_report_liability(pt_report *r) {
  size_t nprog;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  int rc = PATRON_OK;
  if (r->from_given || r->to_given)
    pt_report_note(r, "liability is as of now (%s): --from/--to do not apply",
                   json_string_value(json_object_get(r->doc, "as_of")));
  pt_report_set_window(r, r->now, r->now);
  static const pt_col cols[] = {
      {"program", "program", "text"},
      {"members", "members with points", "int"},
      {"outstanding", "outstanding points", "points"},
      {"outstanding_cents", "liability", "cents"},
      {"pending", "of which pending", "points"},
      {"expiring_30d", "expiring in 30 days", "points"},
      {"expiring_30d_cents", "value expiring in 30 days", "cents"},
      {"expiring_60d", "expiring in 60 days", "points"},
      {"expiring_90d", "expiring in 90 days", "points"},
      {"expiring_90d_cents", "value expiring in 90 days", "cents"},
      {"overdue", "past expiry, awaiting tick", "points"},
      {"issued_total", "issued so far", "points"},
      {"expired_total", "expired so far", "points"},
      {"breakage_bp", "breakage", "bp"},
      {"clawback_refunds", "refunds with clawback", "int"},
      {"clawback_points", "clawed back points", "points"},
      {"negative_accounts", "negative balances", "int"},
      {"negative_points", "debt points", "points"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "liability", "Points liability", cols,
                                 sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    const pt_program *g = progs[k];
    int64_t lots[6] = {0}, overdue = 0, claw[2] = {0}, debt[2] = {0};
    sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_LOTS_LIABILITY);
    if (!st) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, g->name);
    sqlite3_bind_int64(st, 2, r->now);
    sqlite3_bind_int64(st, 3, r->now + 30 * PT_DAY);
    sqlite3_bind_int64(st, 4, r->now + 60 * PT_DAY);
    sqlite3_bind_int64(st, 5, r->now + 90 * PT_DAY);
    if ((rc = step_ints(r->p, st, lots, 6, "sum lots"))) goto done;
    if (!(st = pt_stmt(r->p, PT_SQL_REP_LOTS_OVERDUE))) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, g->name);
    sqlite3_bind_int64(st, 2, r->now);
    if ((rc = step_ints(r->p, st, &overdue, 1, "sum overdue lots"))) goto done;
    if (!(st = pt_stmt(r->p, PT_SQL_REP_CLAWBACKS))) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, g->name);
    if ((rc = step_ints(r->p, st, claw, 2, "sum clawbacks"))) goto done;
    if (!(st = pt_stmt(r->p, PT_SQL_REP_DEBTS))) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, g->name);
    if ((rc = step_ints(r->p, st, debt, 2, "sum negative balances"))) goto done;
    int64_t cls[C_N] = {0};
    if (!(st = pt_stmt(r->p, PT_SQL_REP_POINTS_TOTALS))) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, g->name);
    sqlite3_bind_int64(st, 2, r->now + 1);
    int got;
    while ((got = pt_row(r->p, st, "sum points")) > 0) {
      const char *name;
      if (pt_col_str(r->p, st, 0, &name)) { got = -1; break; }
      int c = cls_index(name);
      if (c >= 0) cls[c] += sqlite3_column_int64(st, 1);
    }
    pt_stmt_done(st);
    if (got < 0) { rc = r->p->code; goto done; }
    int64_t issued = cls[C_EARN] + cls[C_ADJ_IN] + cls[C_OPENING];
    json_t *row = pt_report_row(r, rows);
    pt_put_str(r, row, "program", g->name);
    pt_put_int(r, row, "members", lots[5]);
    pt_put_int(r, row, "outstanding", lots[0]);
    pt_put_int(r, row, "outstanding_cents", value_of(g, lots[0]));
    pt_put_int(r, row, "pending", lots[1]);
    pt_put_int(r, row, "expiring_30d", lots[2]);
    pt_put_int(r, row, "expiring_30d_cents", value_of(g, lots[2]));
    pt_put_int(r, row, "expiring_60d", lots[3]);
    pt_put_int(r, row, "expiring_90d", lots[4]);
    pt_put_int(r, row, "expiring_90d_cents", value_of(g, lots[4]));
    pt_put_int(r, row, "overdue", overdue);
    pt_put_int(r, row, "issued_total", issued);
    pt_put_int(r, row, "expired_total", -cls[C_EXPIRE]);
    pt_put_rate(r, row, "breakage_bp", -cls[C_EXPIRE], issued);
    pt_put_int(r, row, "clawback_refunds", claw[0]);
    pt_put_int(r, row, "clawback_points", claw[1]);
    pt_put_int(r, row, "negative_accounts", debt[0]);
    pt_put_int(r, row, "negative_points", -debt[1]);
    if (issued == 0 && lots[0] == 0) pt_put_no_data(r, row);
    else pt_put_str(r, row, "note", g->expiry_months ? "" : "points of this program never expire");
  }
  static const char *const series[] = {"outstanding_cents", "expiring_30d_cents",
                                       "expiring_90d_cents", NULL};
  pt_report_chart(r, "liability", "bars", "program", NULL, series);
  pt_report_define(r, "outstanding", "points left in unexpired lots at as_of (spendable "
                   "and pending)");
  pt_report_define(r, "liability", "outstanding x value_cents / value_points of the "
                   "program, floored");
  pt_report_define(r, "expiring_Nd", "outstanding points whose lots expire within N days "
                   "(cumulative: 90 includes 30 and 60)");
  pt_report_define(r, "breakage", "expired / issued so far, issued = earn + positive "
                   "adjustments + opening balances");
  pt_report_define(r, "clawback_points", "points taken below zero by refunds of orders "
                   "whose points were already spent (refunds.clawback_points)");
  pt_report_define(r, "negative_points", "debt of accounts whose balance is below zero now");
done:
  free(progs);
  return rc;
}
