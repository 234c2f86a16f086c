/*
** refund.c -- refunds unwind an order line by line from the shares its
** commit recorded (commit.c): the points earned on the refunded units are
** reversed (cancelling pending points inside the return window, or
** clawing back spent ones, which may take the balance below zero and is
** recorded as a clawback), the points redeemed on them are given back,
** and the tier-qualifying spend is reduced (which may drop the tier).
** Shares telescope: refunding every unit in any number of steps reverses
** exactly what the order caused.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "json.h"
#include "ledger.h"
#include "rules.h"

typedef struct rline {
  int64_t line_no;
  char sku[PT_NAME_MAX];
  int64_t qty, unit_cents, discount, rpoints, rcents, earned, refunded;
  int64_t take; /* units refunded now */
} rline;

/* floor(share * (before + k) / qty) - floor(share * before / qty) */
static bool slice(int64_t share, int64_t before, int64_t k, int64_t qty,
                  int64_t *out) {
  int64_t a, b;
  if (!pt_muldiv_floor(share, before + k, qty, &a) ||
      !pt_muldiv_floor(share, before, qty, &b))
    return false;
  *out = a - b;
  return true;
}

static int load_lines(patron *p, int64_t order, rline **out, size_t *n) {
  size_t cap = 16;
  rline *v = malloc(cap * sizeof *v);
  *n = 0;
  if (!v) return pt_err(p, PATRON_NOMEM, "out of memory");
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ORDER_LINES);
  if (!st) { free(v); return p->code; }
  sqlite3_bind_int64(st, 1, order);
  int r;
  while ((r = pt_row(p, st, "read order lines")) > 0) {
    if (*n == cap) {
      rline *nv = realloc(v, 2 * cap * sizeof *v);
      if (!nv) { r = -2; break; }
      v = nv;
      cap *= 2;
    }
    rline *l = &v[(*n)++];
    memset(l, 0, sizeof *l);
    l->line_no = sqlite3_column_int64(st, 0);
    pt_col_text(st, 1, l->sku, sizeof l->sku);
    l->qty = sqlite3_column_int64(st, 2);
    l->unit_cents = sqlite3_column_int64(st, 3);
    l->discount = sqlite3_column_int64(st, 4);
    l->rpoints = sqlite3_column_int64(st, 5);
    l->rcents = sqlite3_column_int64(st, 6);
    l->earned = sqlite3_column_int64(st, 7);
    l->refunded = sqlite3_column_int64(st, 8);
  }
  pt_stmt_done(st);
  if (r < 0) {
    free(v);
    return r == -1 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
  }
  *out = v;
  return PATRON_OK;
}

/* One integer from a query over (order_ref, program, customer). */
static int order_scalar(patron *p, enum pt_sql_id id, const char *order_id,
                        const char *program, const char *customer, int64_t *out) {
  sqlite3_stmt *st = pt_stmt(p, id);
  if (!st) return p->code;
  pt_bind_text(st, 1, order_id);
  pt_bind_text(st, 2, program);
  pt_bind_text(st, 3, customer);
  int r = pt_row(p, st, "read order points");
  if (r > 0) *out = sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (r < 0) return p->code;
  return r > 0 ? PATRON_OK : pt_err(p, PATRON_INTERNAL, "read order points: no row");
}

int patron_refund(patron *p, char **out, const char *order_id,
                  const patron_refund_line *req, size_t nreq) {
  *out = NULL;
  pt_ok(p);
  if (!order_id || !*order_id)
    return pt_err_path(p, PATRON_INVALID_INPUT, "order_id", "no order given");
  int rc = pt_begin(p);
  if (rc) return rc;
  rline *lines = NULL;
  size_t n = 0;
  json_t *res = NULL;
  char program[PT_NAME_MAX], customer[PT_ID_MAX];
  int64_t order, earned_total = 0;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ORDER_FIND);
  if (!st) { rc = p->code; goto fail; }
  pt_bind_text(st, 1, order_id);
  int found = pt_row(p, st, "find order");
  if (found > 0) {
    order = sqlite3_column_int64(st, 0);
    pt_col_text(st, 3, program, sizeof program);
    pt_col_text(st, 4, customer, sizeof customer);
    earned_total = sqlite3_column_int64(st, 6);
  }
  pt_stmt_done(st);
  if (found < 0) { rc = p->code; goto fail; }
  if (found == 0) {
    rc = pt_err_path(p, PATRON_NOT_FOUND, "order_id", "no order '%s'", order_id);
    goto fail;
  }
  if ((rc = load_lines(p, order, &lines, &n))) goto fail;

  /* what to refund: everything left, or the units asked for, taken from
  ** the order's lines with that sku in line order */
  for (size_t i = 0; i < n; i++)
    lines[i].take = nreq == 0 ? lines[i].qty - lines[i].refunded : 0;
  for (size_t r = 0; r < nreq; r++) {
    char path[32];
    snprintf(path, sizeof path, "lines[%zu]", r);
    if (!req[r].sku || req[r].qty <= 0) {
      rc = pt_err_path(p, PATRON_INVALID_INPUT, path,
                       "a refund line needs a sku and a positive qty");
      goto fail;
    }
    int64_t want = req[r].qty, bought = 0;
    for (size_t i = 0; i < n && want > 0; i++) {
      if (strcmp(lines[i].sku, req[r].sku) != 0) continue;
      bought += lines[i].qty;
      int64_t left = lines[i].qty - lines[i].refunded - lines[i].take;
      int64_t k = left < want ? left : want;
      lines[i].take += k;
      want -= k;
    }
    if (bought == 0) {
      rc = pt_err_path(p, PATRON_INVALID_INPUT, path, "order %s has no sku %s",
                       order_id, req[r].sku);
      goto fail;
    }
    if (want > 0) {
      rc = pt_err_path(p, PATRON_INVALID_INPUT, path,
                       "refund of %" PRId64 " x %s is more than the %" PRId64
                       " not yet refunded on order %s",
                       req[r].qty, req[r].sku, req[r].qty - want, order_id);
      goto fail;
    }
  }
  int64_t units = 0, cents = 0, reversed = 0, returned = 0;
  json_t *jl = json_array();
  res = json_object();
  /* res keeps its own reference to jl: jl stays valid if the set fails */
  if (!jl || !res || json_object_set(res, "lines", jl)) {
    json_decref(jl);
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  json_decref(jl);
  for (size_t i = 0; i < n; i++) {
    rline *l = &lines[i];
    if (l->take == 0) continue;
    int64_t paid = l->qty * l->unit_cents - l->discount - l->rcents, c, e, r;
    if (!slice(paid > 0 ? paid : 0, l->refunded, l->take, l->qty, &c) ||
        !slice(l->earned, l->refunded, l->take, l->qty, &e) ||
        !slice(l->rpoints, l->refunded, l->take, l->qty, &r)) {
      rc = pt_err(p, PATRON_OVERFLOW, "refund amounts overflow");
      goto fail;
    }
    units += l->take;
    cents += c;
    reversed += e;
    returned += r;
    if (json_array_append_new(jl, json_pack("{s:s, s:I, s:I}", "sku", l->sku, "qty",
                                            (json_int_t)l->take, "refund_cents",
                                            (json_int_t)c))) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      goto fail;
    }
    if (!(st = pt_stmt(p, PT_SQL_ORDER_LINE_REFUND))) { rc = p->code; goto fail; }
    sqlite3_bind_int64(st, 1, order);
    sqlite3_bind_int64(st, 2, l->line_no);
    sqlite3_bind_int64(st, 3, l->take);
    if ((rc = pt_exec_stmt(p, st, "mark refunded"))) goto fail;
  }
  int64_t before_units = 0, total_units = 0;
  for (size_t i = 0; i < n; i++) {
    before_units += lines[i].refunded;
    total_units += lines[i].qty;
  }
  if (units > 0 &&
      (rc = pt_rules_refund(p, order, before_units, units, total_units)))
    goto fail;
  if (units == 0) {
    rc = pt_err_path(p, PATRON_INVALID_INPUT, "order_id",
                     "order %s is already fully refunded", order_id);
    goto fail;
  }
  int64_t now = patron_now(p), before = 0, after = 0, clawback = 0;
  if (customer[0]) {
    const pt_config *cfg = pt_config_active(p);
    const pt_program *prog = cfg ? pt_config_program(p, cfg, program) : NULL;
    if (!prog) { rc = p->code; goto fail; }
    patron_balance_info b;
    if ((rc = pt_ledger_balance(p, prog, customer, now, &b))) goto fail;
    before = b.points;
    char why[PT_ID_MAX + 40];
    if (returned > 0) { /* give back first, so it can cover the clawback */
      snprintf(why, sizeof why, "points redeemed on refunded %s given back", order_id);
      pt_post e = {.customer = customer, .kind = PT_REVERSE, .points = returned,
                   .at = now, .order_ref = order_id, .source = "refund", .reason = why};
      if ((rc = pt_ledger_post(p, prog, &e, NULL))) goto fail;
    }
    /* points of this order that expired already left the balance once:
    ** never take them back again */
    int64_t expired = 0, taken = 0;
    if (reversed > 0 &&
        ((rc = order_scalar(p, PT_SQL_ORDER_EARN_EXPIRED, order_id, prog->name,
                            customer, &expired)) ||
         (rc = order_scalar(p, PT_SQL_ORDER_EARN_REVERSED, order_id, prog->name,
                            customer, &taken))))
      goto fail;
    int64_t cap = earned_total - expired - taken;
    if (reversed > cap) reversed = cap > 0 ? cap : 0;
    if (reversed > 0) {
      snprintf(why, sizeof why, "points earned on refunded %s taken back", order_id);
      pt_post e = {.customer = customer, .kind = PT_REVERSE, .points = -reversed,
                   .at = now, .order_ref = order_id, .source = "refund",
                   .reason = why, .allow_negative = true};
      if ((rc = pt_ledger_post(p, prog, &e, NULL))) goto fail;
    }
    if (cents > 0 &&
        (rc = pt_ledger_add_spend(p, prog, customer, -cents, now, order_id)))
      goto fail;
    if ((rc = pt_ledger_balance(p, prog, customer, now, &b))) goto fail;
    after = b.points;
    clawback = (after < 0 ? -after : 0) - (before < 0 ? -before : 0);
    if (clawback < 0) clawback = 0;
    if (json_object_set_new(res, "balance_after", json_integer(after)) ||
        json_object_set_new(res, "tier_after", json_string(b.tier))) {
      rc = pt_err(p, PATRON_NOMEM, "out of memory");
      goto fail;
    }
  } else if (json_object_set_new(res, "balance_after", json_null())) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  bool full = true;
  for (size_t i = 0; i < n; i++)
    if (lines[i].refunded + lines[i].take < lines[i].qty) full = false;
  char uuid[37];
  pt_uuid(uuid);
  char *ltext = pt_json_dumps(jl, JSON_COMPACT);
  if (!ltext) { rc = pt_err(p, PATRON_NOMEM, "out of memory"); goto fail; }
  if (!(st = pt_stmt(p, PT_SQL_REFUND_INSERT))) { free(ltext); rc = p->code; goto fail; }
  pt_bind_text(st, 1, uuid);
  sqlite3_bind_int64(st, 2, order);
  sqlite3_bind_int64(st, 3, now);
  pt_bind_text(st, 4, ltext);
  sqlite3_bind_int64(st, 5, cents);
  sqlite3_bind_int64(st, 6, reversed);
  sqlite3_bind_int64(st, 7, returned);
  sqlite3_bind_int64(st, 8, clawback);
  rc = pt_exec_stmt(p, st, "record refund");
  free(ltext); /* bound without a copy: freed after the step */
  if (rc) goto fail;
  if (json_object_set_new(res, "refund", json_string(uuid)) ||
      json_object_set_new(res, "order_id", json_string(order_id)) ||
      json_object_set_new(res, "refund_cents", json_integer(cents)) ||
      json_object_set_new(res, "points_reversed", json_integer(reversed)) ||
      json_object_set_new(res, "points_returned", json_integer(returned)) ||
      json_object_set_new(res, "clawback_points", json_integer(clawback)) ||
      json_object_set_new(res, "fully_refunded", json_boolean(full)) ||
      !(*out = pt_json_dumps(res, JSON_COMPACT))) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  json_decref(res);
  free(lines);
  if ((rc = pt_commit(p))) {
    free(*out);
    *out = NULL;
  }
  return rc;
fail:
  pt_rollback(p);
  json_decref(res);
  free(lines);
  return rc;
}
