/*
** tracking.c -- abandoned carts and the marketing contact cap.
**
** A quote of a cart with "track": true and a customer remembers it as the
** customer's open cart (tracked_carts: one per customer, the latest by the
** cart's time), in its own small transaction: quotes are otherwise pure.
** A commit by that customer removes it (and records, for the shipping
** report, what the quote's free-shipping nudge said and whether the order
** reached the threshold). tick emits one cart_abandoned event per cart
** left open for the shop's abandoned_cart_hours, unless the customer has
** had contact_cap_max marketing events in the last contact_cap_per_days
** days: then the cart is marked capped and never sent (a reminder days
** late is worse than none). Either way each cart is dealt with once; a
** new tracked quote opens it again.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "reports.h"

int pt_contact_allowed(patron *p, const pt_config *c, const char *customer, int64_t now,
                       bool *allowed) {
  *allowed = false;
  if (c->contact_cap_max <= 0) return PATRON_OK;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CONTACT_COUNT);
  if (!st) return p->code;
  pt_bind_text(st, 1, customer);
  sqlite3_bind_int64(st, 2, now - c->contact_cap_per_days * PT_DAY);
  sqlite3_bind_int64(st, 3, now);
  int r = pt_row(p, st, "count marketing events");
  int64_t n = r > 0 ? sqlite3_column_int64(st, 0) : 0;
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r == 0) return pt_err(p, PATRON_INTERNAL, "count marketing events: no row");
  *allowed = n < c->contact_cap_max;
  return PATRON_OK;
}

int pt_track_quote(patron *p, const pt_quote *q) {
  const pt_cart *c = q->cart;
  if (!c->track || !c->customer[0]) return PATRON_OK;
  json_t *skus = json_array();
  bool bad = !skus;
  for (size_t i = 0; i < c->nlines && !bad; i++)
    if (json_array_append_new(skus, json_string(c->lines[i].sku))) bad = true;
  /* a list missing a sku must not be stored */
  char *text = bad ? NULL : pt_json_dumps(skus, JSON_COMPACT);
  json_decref(skus);
  if (!text) return pt_err(p, PATRON_NOMEM, "out of memory");
  int rc = pt_begin(p);
  if (rc) { free(text); return rc; }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_TRACK_UPSERT);
  if (!st) { rc = p->code; goto fail; }
  pt_bind_text(st, 1, c->customer);
  pt_bind_text(st, 2, q->prog->name);
  sqlite3_bind_int64(st, 3, q->at);
  sqlite3_bind_int64(st, 4, q->total_cents);
  sqlite3_bind_int64(st, 5, q->missing_cents);
  if (q->threshold_cents >= 0) sqlite3_bind_int64(st, 6, q->threshold_cents);
  else sqlite3_bind_null(st, 6);
  pt_bind_text(st, 7, text); /* freed only after the step */
  pt_bind_text(st, 8, c->canonical ? c->canonical : "{}");
  if ((rc = pt_exec_stmt(p, st, "track cart"))) goto fail;
  free(text);
  return pt_commit(p);
fail:
  free(text);
  pt_rollback(p);
  return rc;
}

int pt_track_commit(patron *p, const pt_quote *q) {
  const pt_cart *c = q->cart;
  if (!c->customer[0]) return PATRON_OK;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_TRACK_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, c->customer);
  sqlite3_bind_int64(st, 2, q->at);
  int r = pt_row(p, st, "find tracked cart");
  int64_t quoted_missing = r > 0 ? sqlite3_column_int64(st, 1) : 0;
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r == 0) return PATRON_OK; /* not tracked */
  int rc;
  if (!(st = pt_stmt(p, PT_SQL_NUDGE_INSERT))) return p->code;
  pt_bind_text(st, 1, c->order_id);
  pt_bind_text(st, 2, q->prog->name);
  pt_bind_text(st, 3, c->customer);
  sqlite3_bind_int64(st, 4, q->at);
  sqlite3_bind_int64(st, 5, quoted_missing);
  sqlite3_bind_int64(st, 6, q->missing_cents);
  if (q->threshold_cents >= 0) sqlite3_bind_int64(st, 7, q->threshold_cents);
  else sqlite3_bind_null(st, 7);
  if ((rc = pt_exec_stmt(p, st, "record nudge"))) return rc;
  if (!(st = pt_stmt(p, PT_SQL_TRACK_DELETE))) return p->code;
  pt_bind_text(st, 1, c->customer);
  sqlite3_bind_int64(st, 2, q->at);
  return pt_exec_stmt(p, st, "close tracked cart");
}

typedef struct due_cart {
  char customer[PT_ID_MAX], program[PT_NAME_MAX];
  int64_t quoted_at, total_cents;
  char *skus;
} due_cart;

static int close_cart(patron *p, const char *customer, const char *status, int64_t now) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_TRACK_CLOSE);
  if (!st) return p->code;
  pt_bind_text(st, 1, customer);
  pt_bind_text(st, 2, status);
  sqlite3_bind_int64(st, 3, now);
  return pt_exec_stmt(p, st, "close tracked cart");
}

static int emit(patron *p, const due_cart *d, int64_t now) {
  char at[32];
  patron_time_format(at, sizeof at, d->quoted_at);
  bool oom = false;
  json_t *skus = pt_json_loads(d->skus ? d->skus : "[]", 0, NULL, &oom);
  /* a stored list that does not parse (it always does) is sent empty; one
  ** that could not be parsed for lack of memory is not sent at all */
  if (!skus && !oom && !(skus = json_array())) oom = true;
  if (oom) return pt_err(p, PATRON_NOMEM, "out of memory");
  json_t *pl = json_pack("{s:s, s:s, s:I, s:o, s:s}", "customer", d->customer, "program",
                         d->program, "total_cents", (json_int_t)d->total_cents, "skus",
                         skus, "quoted_at", at);
  char *text = pl ? pt_json_dumps(pl, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(pl);
  if (!text) return pt_err(p, PATRON_NOMEM, "out of memory");
  int rc = pt_event_emit(p, "cart_abandoned", d->customer, now, text);
  free(text);
  return rc;
}

int pt_track_tick(patron *p, const pt_config *c, int64_t now, patron_tick_result *out) {
  int64_t cutoff = now - c->abandoned_cart_hours * 3600;
  for (;;) {
    due_cart due[500];
    size_t n = 0;
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_TRACK_DUE);
    if (!st) return p->code;
    sqlite3_bind_int64(st, 1, cutoff);
    int r = 1;
    while (n < 500 && (r = pt_row(p, st, "find abandoned carts")) > 0) {
      due_cart *d = &due[n++];
      pt_col_text(st, 0, d->customer, sizeof d->customer);
      pt_col_text(st, 1, d->program, sizeof d->program);
      d->quoted_at = sqlite3_column_int64(st, 2);
      d->total_cents = sqlite3_column_int64(st, 3);
      /* NOT NULL: the text is NULL only when SQLite ran out of memory */
      d->skus = pt_strdup((const char *)sqlite3_column_text(st, 4));
      if (!d->skus) {
        pt_err(p, PATRON_NOMEM, "out of memory");
        r = -1;
        break;
      }
    }
    pt_stmt_done(st);
    if (r < 0) {
      for (size_t i = 0; i < n; i++) free(due[i].skus);
      return p->code;
    }
    int rc = PATRON_OK;
    for (size_t i = 0; i < n && rc == PATRON_OK; i++) {
      bool allowed;
      if ((rc = pt_contact_allowed(p, c, due[i].customer, now, &allowed))) break;
      if (allowed && (rc = emit(p, &due[i], now))) break;
      if ((rc = close_cart(p, due[i].customer, allowed ? "abandoned" : "capped", now))) break;
      if (allowed) out->carts_abandoned++;
    }
    for (size_t i = 0; i < n; i++) free(due[i].skus);
    if (rc) return rc;
    if (n < 500) return PATRON_OK;
  }
}
