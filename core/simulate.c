/*
** simulate.c -- "what would a new rule have cost": patron_simulate
** evaluates a shop.lua without storing it and re-prices the recorded
** orders of a window under it, in one read transaction that is rolled
** back, so nothing is written (no order, entry, event, tracked cart or
** config version).
**
** Each order's canonical cart (orders.cart) is priced twice at the
** order's time with the handle's cfg_override: once under the
** configuration version the order was recorded with ("before") and once
** under the new one ("after"). The difference after - before isolates
** what the configuration changes: both see the same customer state
** (today's tier and balance, which the ledger does not keep per date).
** Where "before" does not reproduce what was recorded (the tier or the
** balance moved since, a plugin's budget ran out) the order counts as
** drift; the recorded totals are reported beside.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "reports.h"

#define BATCH 500
#define MAX_ERRORS 20

typedef struct figs {
  int64_t discount, shipping, total, points, redeem, liability;
} figs;

typedef struct cfg_cache {
  size_t n, cap;
  int64_t *version;
  pt_config **cfg;
} cfg_cache;

static void cache_free(cfg_cache *c) {
  for (size_t i = 0; i < c->n; i++) pt_config_free(c->cfg[i]);
  free(c->version);
  free(c->cfg);
}

/* The stored configuration version v (parsed once). */
static const pt_config *config_version(patron *p, cfg_cache *c, int64_t v) {
  for (size_t i = 0; i < c->n; i++)
    if (c->version[i] == v) return c->cfg[i];
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CONFIG_GET);
  if (!st) return NULL;
  sqlite3_bind_int64(st, 1, v);
  int r = pt_row(p, st, "read configuration");
  char *json = r > 0 ? pt_strdup((const char *)sqlite3_column_text(st, 1)) : NULL;
  pt_stmt_done(st);
  if (r < 0) return NULL;
  if (r == 0) {
    pt_err(p, PATRON_NOT_FOUND, "configuration version %lld is missing", (long long)v);
    return NULL;
  }
  if (!json) { pt_err(p, PATRON_NOMEM, "out of memory"); return NULL; }
  pt_config *cfg = pt_config_parse(p, json, v);
  free(json);
  if (!cfg) return NULL;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 4;
    int64_t *nv = realloc(c->version, cap * sizeof *nv);
    if (nv) c->version = nv;
    pt_config **nc = nv ? realloc(c->cfg, cap * sizeof *nc) : NULL;
    if (!nc) { pt_config_free(cfg); pt_err(p, PATRON_NOMEM, "out of memory"); return NULL; }
    c->cfg = nc;
    c->cap = cap;
  }
  c->version[c->n] = v;
  c->cfg[c->n++] = cfg;
  return cfg;
}

/* Prices the cart text at `at` under cfg. */
static int reprice(patron *p, const pt_config *cfg, const char *text, int64_t at, figs *f) {
  pt_cart cart;
  pt_quote q;
  memset(&cart, 0, sizeof cart);
  memset(&q, 0, sizeof q);
  memset(f, 0, sizeof *f);
  int rc = pt_cart_decode(p, &cart, text, strlen(text));
  if (rc == PATRON_OK) {
    cart.at = at;
    p->cfg_override = cfg;
    rc = pt_quote_run(p, &q, &cart, false);
    p->cfg_override = NULL;
  }
  if (rc == PATRON_OK) {
    f->discount = q.discount_cents;
    f->shipping = q.shipping_cents;
    f->total = q.total_cents;
    f->points = q.points_earned;
    f->redeem = q.redeem_cents;
    if (q.prog && q.prog->value_points > 0)
      f->liability = pt_muldiv(q.points_earned, q.prog->value_cents, q.prog->value_points);
  }
  pt_quote_free(&q);
  pt_cart_free(&cart);
  return rc;
}

static json_t *figs_json(const figs *f) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "discount_cents", (json_int_t)f->discount,
                   "shipping_cents", (json_int_t)f->shipping, "total_cents",
                   (json_int_t)f->total, "points_earned", (json_int_t)f->points,
                   "redeem_cents", (json_int_t)f->redeem, "liability_cents",
                   (json_int_t)f->liability);
}

static void figs_add(figs *a, const figs *b, int sign) {
  a->discount += sign * b->discount;
  a->shipping += sign * b->shipping;
  a->total += sign * b->total;
  a->points += sign * b->points;
  a->redeem += sign * b->redeem;
  a->liability += sign * b->liability;
}

static bool figs_eq(const figs *a, const figs *b) {
  return a->discount == b->discount && a->shipping == b->shipping && a->total == b->total &&
         a->points == b->points && a->redeem == b->redeem;
}

/* A re-pricing failure that is the run's, not the order's. */
static bool fatal(int rc) { return rc == PATRON_NOMEM || rc == PATRON_IO; }

typedef struct sim_order {
  int64_t id, at, version;
  char order_id[PT_ID_MAX], customer[PT_ID_MAX], program[PT_NAME_MAX];
  char *cart;
  figs rec, b, a;           /* recorded, before, after */
  int r1, r2;               /* status of the two re-pricings */
  char err[PT_ERRMSG_SIZE];
} sim_order;

int patron_simulate(patron *p, char **out, const char *config_path, int64_t from,
                    int64_t to, patron_progress_fn progress, void *ud) {
  *out = NULL;
  pt_ok(p);
  if (!config_path || !*config_path)
    return pt_err_path(p, PATRON_INVALID_INPUT, "config", "no configuration file given");
  if (to == 0) to = patron_now(p) + 1;
  if (to <= from) return pt_err_path(p, PATRON_INVALID_INPUT, "to", "--to must be after --from");
  size_t len = 0;
  char *src = pt_read_file(config_path, &len);
  if (!src) return pt_err_path(p, PATRON_IO, "config", "cannot read %s: %s", config_path,
                               strerror(errno));
  char *json = NULL;
  int rc = pt_config_eval(p, &json, config_path, src, len);
  free(src);
  if (rc) return rc;
  pt_config *next = pt_config_parse(p, json, 0);
  free(json);
  if (!next) return p->code;

  cfg_cache cache = {0};
  sim_order *batch = calloc(BATCH, sizeof *batch);
  json_t *changed = json_array(), *errors = json_array();
  figs rec = {0}, before = {0}, after = {0};
  int64_t total = 0, done = 0, ok = 0, failed = 0, nchanged = 0, drift = 0;
  bool in_txn = false, oom = false;
  if (!batch || !changed || !errors) { rc = pt_err(p, PATRON_NOMEM, "out of memory"); goto end; }
  if ((rc = pt_report_begin(p))) goto end;
  in_txn = true;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SIM_COUNT);
  if (!st) { rc = p->code; goto end; }
  sqlite3_bind_int64(st, 1, from);
  sqlite3_bind_int64(st, 2, to);
  int row = pt_row(p, st, "count orders");
  if (row > 0) total = sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (row < 0) { rc = p->code; goto end; }
  if (progress && progress(ud, 0, total)) goto canceled;

  int64_t last_at = INT64_MIN, last_id = 0;
  for (;;) {
    size_t n = 0;
    if (!(st = pt_stmt(p, PT_SQL_SIM_ORDERS))) { rc = p->code; goto end; }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int64(st, 3, last_at);
    sqlite3_bind_int64(st, 4, last_id);
    while ((row = pt_row(p, st, "read orders")) > 0) {
      sim_order *o = &batch[n++];
      o->id = sqlite3_column_int64(st, 0);
      pt_col_text(st, 1, o->order_id, sizeof o->order_id);
      pt_col_text(st, 2, o->program, sizeof o->program);
      pt_col_text(st, 3, o->customer, sizeof o->customer);
      o->at = sqlite3_column_int64(st, 4);
      o->version = sqlite3_column_int64(st, 5);
      o->cart = pt_strdup((const char *)sqlite3_column_text(st, 6));
      o->rec.discount = sqlite3_column_int64(st, 7);
      o->rec.shipping = sqlite3_column_int64(st, 8);
      o->rec.points = sqlite3_column_int64(st, 9);
      o->rec.total = sqlite3_column_int64(st, 10);
      o->rec.redeem = sqlite3_column_int64(st, 11);
      if (!o->cart) { row = -2; break; }
    }
    pt_stmt_done(st);
    if (row < 0) {
      for (size_t i = 0; i < n; i++) free(batch[i].cart);
      rc = row == -1 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
      goto end;
    }
    /* the batch under the recorded configurations, then under the new
    ** one: the rule runtime is built per configuration, so switching per
    ** order would rebuild it twice an order */
    for (size_t i = 0; i < n && !rc; i++) {
      sim_order *o = &batch[i];
      const pt_config *old = config_version(p, &cache, o->version);
      o->r1 = old ? reprice(p, old, o->cart, o->at, &o->b) : p->code;
      o->r2 = PATRON_OK;
      if (o->r1) snprintf(o->err, sizeof o->err, "%s", p->errmsg);
      else {
        const pt_program *g = pt_config_program(p, old, o->program);
        if (g && g->value_points > 0)
          o->rec.liability = pt_muldiv(o->rec.points, g->value_cents, g->value_points);
      }
      if (fatal(o->r1)) rc = o->r1;
      pt_ok(p);
    }
    for (size_t i = 0; i < n && !rc; i++) {
      sim_order *o = &batch[i];
      if (o->r1) continue;
      o->r2 = reprice(p, next, o->cart, o->at, &o->a);
      if (o->r2) snprintf(o->err, sizeof o->err, "%s", p->errmsg);
      if (fatal(o->r2)) rc = o->r2;
      pt_ok(p);
    }
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
      sim_order *o = &batch[i];
      free(o->cart);
      o->cart = NULL;
      if (stop || rc) continue;
      last_at = o->at;
      last_id = o->id;
      done++;
      if (o->r1 || o->r2) {
        failed++;
        if (json_array_size(errors) < MAX_ERRORS &&
            json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:s}", "order_id",
                o->order_id, "under", o->r1 ? "recorded configuration" : "new configuration",
                "code", patron_code_name(o->r1 ? o->r1 : o->r2), "message", o->err)))
          oom = true;
      } else {
        ok++;
        figs_add(&rec, &o->rec, 1);
        figs_add(&before, &o->b, 1);
        figs_add(&after, &o->a, 1);
        if (!figs_eq(&o->b, &o->rec)) drift++;
        if (!figs_eq(&o->a, &o->b) || o->a.liability != o->b.liability) {
          figs d = o->a;
          figs_add(&d, &o->b, -1);
          nchanged++;
          char at[32];
          patron_time_format(at, sizeof at, o->at);
          if (json_array_append_new(changed, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
                  "order_id", o->order_id, "at", at,
                  "customer", o->customer[0] ? json_string(o->customer) : json_null(),
                  "before", figs_json(&o->b), "after", figs_json(&o->a),
                  "difference", figs_json(&d))))
            oom = true;
        }
      }
      if (progress && done % 1000 == 0 && progress(ud, done, total)) stop = true;
    }
    if (oom && !rc) rc = pt_err(p, PATRON_NOMEM, "out of memory");
    if (rc) {
      /* the first failure's message (the handle's was cleared per order) */
      for (size_t i = 0; i < n; i++)
        if (fatal(batch[i].r1) || fatal(batch[i].r2)) {
          pt_err(p, rc, "%s", batch[i].err);
          break;
        }
      goto end;
    }
    if (stop) goto canceled;
    if (n < BATCH) break;
  }
  if (progress && progress(ud, done, total)) goto canceled;
  {
    figs diff = after;
    figs_add(&diff, &before, -1);
    char f[32], t[32];
    patron_time_format(f, sizeof f, from);
    patron_time_format(t, sizeof t, to);
    json_t *doc = json_object();
    bool bad = !doc;
#define SET(k, v) pt_json_put(doc, k, v, &bad)
    SET("config", json_string(config_path));
    SET("from", json_string(f));
    SET("to", json_string(t));
    SET("currency", json_string(next->currency));
    SET("orders", json_integer(total));
    SET("repriced", json_integer(ok));
    SET("failed", json_integer(failed));
    SET("changed", json_integer(nchanged));
    SET("unchanged", json_integer(ok - nchanged));
    SET("drift", json_integer(drift));
    SET("totals", json_pack("{s:o, s:o, s:o, s:o}", "recorded",
                            figs_json(&rec), "before", figs_json(&before), "after",
                            figs_json(&after), "difference", figs_json(&diff)));
    SET("orders_changed", changed); /* stolen, even on failure */
    SET("errors", errors);
    changed = errors = NULL;
    SET("definitions", json_pack("{s:s, s:s, s:s, s:s}",
        "before", "each order's cart re-priced at its time under the configuration "
                  "version it was recorded with",
        "after", "the same under the new configuration (evaluated, never stored)",
        "difference", "after - before: discount given, shipping revenue, total paid, "
                      "points issued, points redeemed (cents) and the liability of the "
                      "points issued (points x value_cents / value_points, floored per order)",
        "drift", "orders whose re-pricing under their own configuration differs from "
                 "what was recorded (today's tier or balance, plugin budgets): the "
                 "difference still compares like with like"));
#undef SET
    if (!bad) *out = pt_json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*out) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  }
  goto end;
canceled:
  rc = pt_err(p, PATRON_INVALID_INPUT, "simulation canceled after %lld of %lld orders",
              (long long)done, (long long)total);
end:
  p->cfg_override = NULL;
  if (in_txn) pt_report_end(p);
  json_decref(changed);
  json_decref(errors);
  free(batch);
  cache_free(&cache);
  pt_config_free(next);
  return rc == PATRON_OK ? pt_ok(p) : rc;
}
