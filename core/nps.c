/*
** nps.c -- Net Promoter Score: storing answers (0..10 per touchpoint:
** onboarding, support, renewal, review) and the nps report per touchpoint
** and period. Promoters answer 9-10, passives 7-8, detractors 0-6;
** NPS = % promoters - % detractors, from -100 to +100, kept in basis
** points of a percent: floor((promoters - detractors) x 10000 / answers).
*/
#include <stdlib.h>
#include <string.h>

#include "reports.h"

static const char *const touchpoints[] = {"onboarding", "support", "renewal", "review"};
#define NTOUCH 4

static int touch_index(const char *t) {
  for (int i = 0; i < NTOUCH; i++)
    if (t && strcmp(t, touchpoints[i]) == 0) return i;
  return -1;
}

int patron_nps_record(patron *p, const char *customer, int score, const char *touchpoint,
                      const char *comment) {
  pt_ok(p);
  if (!customer || !*customer)
    return pt_err_path(p, PATRON_INVALID_INPUT, "customer", "no customer given");
  if (score < 0 || score > 10)
    return pt_err_path(p, PATRON_INVALID_INPUT, "score",
                       "an NPS score is 0..10, got %d", score);
  if (touch_index(touchpoint) < 0)
    return pt_err_path(p, PATRON_INVALID_INPUT, "touchpoint",
                       "touchpoint must be onboarding, support, renewal or review, got '%s'",
                       touchpoint ? touchpoint : "");
  if (comment && strlen(comment) > 4000)
    return pt_err_path(p, PATRON_INVALID_INPUT, "comment",
                       "a comment holds at most 4000 bytes");
  int rc = pt_begin(p);
  if (rc) return rc;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CUSTOMER_EXISTS);
  if (!st) { rc = p->code; goto fail; }
  pt_bind_text(st, 1, customer);
  int found = pt_row(p, st, "find customer");
  pt_stmt_done(st);
  if (found < 0) { rc = p->code; goto fail; }
  if (found == 0) {
    rc = pt_err_path(p, PATRON_UNKNOWN_CUSTOMER, "customer", "unknown customer '%s'", customer);
    goto fail;
  }
  if (!(st = pt_stmt(p, PT_SQL_NPS_INSERT))) { rc = p->code; goto fail; }
  pt_bind_text(st, 1, customer);
  sqlite3_bind_int64(st, 2, patron_now(p));
  pt_bind_text(st, 3, touchpoint);
  sqlite3_bind_int(st, 4, score);
  pt_bind_text(st, 5, comment ? comment : "");
  if ((rc = pt_exec_stmt(p, st, "record NPS answer"))) goto fail;
  return pt_commit(p);
fail:
  pt_rollback(p);
  return rc;
}

typedef struct tally {
  int64_t n, promoters, passives, detractors;
} tally;

static void add(tally *t, int score) {
  t->n++;
  if (score >= 9) t->promoters++;
  else if (score >= 7) t->passives++;
  else t->detractors++;
}

/* One row of the table (pt_put_*: a failure sets r->oom, and the report
** then fails as a whole). */
static void nps_row(pt_report *r, json_t *rows, const char *touch, const char *period,
                    const tally *t, bool partial) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "touchpoint", touch);
  pt_put_str(r, row, "period", period);
  pt_put_int(r, row, "answers", t->n);
  pt_put_int(r, row, "promoters", t->promoters);
  pt_put_int(r, row, "passives", t->passives);
  pt_put_int(r, row, "detractors", t->detractors);
  pt_put_rate(r, row, "promoters_share_bp", t->promoters, t->n);
  pt_put_rate(r, row, "detractors_share_bp", t->detractors, t->n);
  if (pt_put_score(r, row, "nps_bp", t->promoters - t->detractors, t->n))
    pt_put_str(r, row, "note", partial ? "partial period" : "");
  else
    pt_put_no_data(r, row);
}

int pt_report_nps(pt_report *r) {
  const char *only = r->o->touchpoint && *r->o->touchpoint ? r->o->touchpoint : NULL;
  if (only && touch_index(only) < 0)
    return pt_err_path(r->p, PATRON_INVALID_INPUT, "touchpoint",
                       "touchpoint must be onboarding, support, renewal or review, got '%s'",
                       only);
  int64_t first = 0;
  sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_NPS_FIRST);
  if (!st) return r->p->code;
  int row = pt_row(r->p, st, "first NPS answer");
  if (row > 0 && sqlite3_column_type(st, 0) != SQLITE_NULL)
    first = sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (row < 0) return r->p->code;
  int rc;
  pt_report_window(r, first);
  pt_period *pv = NULL;
  size_t np = 0;
  if ((rc = pt_report_periods(r, &pv, &np))) return rc;
  /* tallies[touchpoint + 1][period + 1]: index 0 = all */
  tally *t = calloc((size_t)(NTOUCH + 1) * (np + 1), sizeof *t);
  if (!t) { free(pv); return pt_err(r->p, PATRON_NOMEM, "out of memory"); }
#define T(ti, pi) t[(size_t)(ti) * (np + 1) + (size_t)(pi)]
  if (!(st = pt_stmt(r->p, PT_SQL_REP_NPS))) { rc = r->p->code; goto done; }
  sqlite3_bind_int64(st, 1, r->from);
  sqlite3_bind_int64(st, 2, r->to);
  pt_bind_text(st, 3, only);
  while ((row = pt_row(r->p, st, "read NPS answers")) > 0) {
    ptrdiff_t pi = pt_period_find(pv, np, sqlite3_column_int64(st, 0));
    int ti = touch_index((const char *)sqlite3_column_text(st, 1));
    int score = sqlite3_column_int(st, 2);
    if (pi < 0 || ti < 0) continue;
    add(&T(ti + 1, pi + 1), score);
    add(&T(ti + 1, 0), score);
    add(&T(0, pi + 1), score);
    add(&T(0, 0), score);
  }
  pt_stmt_done(st);
  if (row < 0) { rc = r->p->code; goto done; }
  static const pt_col cols[] = {
      {"touchpoint", "touchpoint", "text"},   {"period", "period", "text"},
      {"answers", "answers", "int"},          {"promoters", "promoters (9-10)", "int"},
      {"passives", "passives (7-8)", "int"},  {"detractors", "detractors (0-6)", "int"},
      {"promoters_share_bp", "% promoters", "bp"},
      {"detractors_share_bp", "% detractors", "bp"},
      {"nps_bp", "NPS", "score"},             {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "nps", "Net Promoter Score", cols,
                                 sizeof cols / sizeof cols[0]);
  for (int ti = 0; ti <= NTOUCH; ti++) {
    if (ti > 0 && only && strcmp(only, touchpoints[ti - 1]) != 0) continue;
    const char *name = ti == 0 ? "all" : touchpoints[ti - 1];
    for (size_t pi = 0; pi < np; pi++)
      nps_row(r, rows, name, pv[pi].label, &T(ti, pi + 1), pv[pi].partial);
    nps_row(r, rows, name, "total", &T(ti, 0), false);
  }
#undef T
  static const char *const series[] = {"nps_bp", NULL};
  pt_report_chart(r, "nps", "bars", "period", "touchpoint", series);
  if (r->o->program && *r->o->program)
    pt_report_note(r, "NPS answers belong to customers, not to a program: --program does "
                      "not apply");
  pt_report_define(r, "nps", "% promoters (9-10) - % detractors (0-6) of the answers, "
                   "-100 to +100; nps_bp = floor((promoters - detractors) x 10000 / answers) "
                   "in hundredths; no answers: no data");
  rc = PATRON_OK;
done:
  free(t);
  free(pv);
  return rc;
}
