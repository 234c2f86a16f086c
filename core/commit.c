/*
** commit.c -- checkout entry points: quote (pure), commit (the same
** pipeline inside one BEGIN IMMEDIATE transaction that records the order,
** its lines with their share of every amount, the adjustments, the
** suggestions shown, the ledger entries and the events) and refund (which
** unwinds an order line by line from those shares).
**
** Idempotency: an order_id is committed once. A retry with the same
** canonical cart returns the stored receipt byte for byte; a different
** cart under the same id is CONFLICT naming the first differing field.
** Shares: the points redeemed and earned on an order are split over its
** lines in proportion to what each line paid (pt_split: floored, the
** remainder to the largest lines), so the shares sum to the order's totals
** exactly. A refund of k of a line's n units takes back
** floor(share * (r + k) / n) - floor(share * r / n) where r units were
** refunded before: partial refunds telescope to the whole share.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "json.h"
#include "ledger.h"
#include "reports.h"
#include "rules.h"

char *patron_error_json(patron *p) {
  bool bad = false;
  json_t *e = json_object();
  pt_json_put(e, "code", json_string(patron_code_name(patron_errcode(p))), &bad);
  pt_json_put(e, "message", json_string(patron_errmsg(p)), &bad);
  if (p && p->errpath[0]) pt_json_put(e, "path", json_string(p->errpath), &bad);
  if (bad) { /* an error without its message is no answer: NULL */
    json_decref(e);
    return NULL;
  }
  json_t *o = json_pack("{s:o}", "error", e);
  char *s = o ? pt_json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

/* Names the first field where two canonical carts differ ("lines[1].qty"). */
static void first_difference(const json_t *a, const json_t *b, char *path,
                             size_t size) {
  if (json_is_object(a) && json_is_object(b)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) {
      json_t *w = json_object_get(b, k);
      if (!w || !json_equal(v, w)) {
        size_t n = strlen(path);
        snprintf(path + n, size - n, "%s%s", n ? "." : "", k);
        if (w) first_difference(v, w, path, size);
        return;
      }
    }
    json_object_foreach((json_t *)b, k, v) {
      if (!json_object_get(a, k)) {
        size_t n = strlen(path);
        snprintf(path + n, size - n, "%s%s", n ? "." : "", k);
        return;
      }
    }
  } else if (json_is_array(a) && json_is_array(b)) {
    size_t na = json_array_size(a), nb = json_array_size(b);
    for (size_t i = 0; i < na && i < nb; i++) {
      if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
        size_t n = strlen(path);
        snprintf(path + n, size - n, "[%zu]", i);
        first_difference(json_array_get(a, i), json_array_get(b, i), path, size);
        return;
      }
    }
    /* different lengths: the array itself differs */
  }
}

static int conflict(patron *p, const char *order_id, const char *stored,
                    const char *given) {
  char path[128] = "";
  bool oom_a = false, oom_b = false;
  json_t *a = pt_json_loads(stored, 0, NULL, &oom_a);
  json_t *b = pt_json_loads(given, 0, NULL, &oom_b);
  if (a && b) first_difference(a, b, path, sizeof path);
  json_decref(a);
  json_decref(b);
  /* without both parses the message could not name the field */
  if (oom_a || oom_b) return pt_err(p, PATRON_NOMEM, "out of memory");
  return pt_err_path(p, PATRON_CONFLICT, path[0] ? path : "order_id",
                     "order %s was already committed with a different cart "
                     "(%s differs)", order_id, path[0] ? path : "the cart");
}

/* ---- recording an order ----------------------------------------------------- */

typedef struct shares {
  int64_t *paid;     /* money paid for the line's goods before points */
  int64_t *rpoints, *rcents, *earned;
} shares;

static int make_shares(patron *p, const pt_quote *q, shares *s, int64_t *mem) {
  size_t n = q->cart->nlines;
  s->paid = mem;
  s->rpoints = mem + n;
  s->rcents = mem + 2 * n;
  s->earned = mem + 3 * n;
  int64_t *net = mem + 4 * n;
  for (size_t i = 0; i < n; i++)
    s->paid[i] = q->cart->lines[i].gross_cents - q->cart->lines[i].discount_cents;
  if (!pt_split(q->redeem_points, s->paid, n, s->rpoints) ||
      !pt_split(q->redeem_cents, s->paid, n, s->rcents))
    return pt_err(p, PATRON_OVERFLOW, "redemption shares overflow");
  for (size_t i = 0; i < n; i++) {
    net[i] = s->paid[i] - s->rcents[i];
    if (net[i] < 0) net[i] = 0;
  }
  if (!pt_split(q->points_earned, net, n, s->earned))
    return pt_err(p, PATRON_OVERFLOW, "earn shares overflow");
  return PATRON_OK;
}

static int record_adjustment(patron *p, int64_t order, const char *kind,
                             const char *source, const char *reason,
                             int64_t cents, int64_t points) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ORDER_ADJ_INSERT);
  if (!st) return p->code;
  sqlite3_bind_int64(st, 1, order);
  pt_bind_text(st, 2, kind);
  pt_bind_text(st, 3, source);
  pt_bind_text(st, 4, reason ? reason : "");
  sqlite3_bind_int64(st, 5, cents);
  sqlite3_bind_int64(st, 6, points);
  return pt_exec_stmt(p, st, "record adjustment");
}

static int record_order(patron *p, pt_quote *q, int64_t *rowid) {
  const pt_cart *c = q->cart;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ORDER_INSERT);
  if (!st) return p->code;
  pt_bind_text(st, 1, c->order_id);
  pt_bind_text(st, 2, q->prog->name);
  pt_bind_text(st, 3, c->customer[0] ? c->customer : NULL);
  sqlite3_bind_int64(st, 4, q->at);
  sqlite3_bind_int64(st, 5, q->cfg->version);
  pt_bind_text(st, 6, c->canonical ? c->canonical : "{}");
  sqlite3_bind_int64(st, 7, q->subtotal_cents);
  sqlite3_bind_int64(st, 8, q->discount_cents);
  sqlite3_bind_int64(st, 9, q->shipping_cents);
  if (q->threshold_cents >= 0) sqlite3_bind_int64(st, 10, q->threshold_cents);
  else sqlite3_bind_null(st, 10);
  sqlite3_bind_int64(st, 11, q->redeem_points);
  sqlite3_bind_int64(st, 12, q->redeem_cents);
  sqlite3_bind_int64(st, 13, q->total_cents);
  sqlite3_bind_int64(st, 14, q->points_earned);
  pt_bind_text(st, 15, q->tier);
  int rc = pt_exec_stmt(p, st, "record order");
  if (rc) return rc;
  *rowid = sqlite3_last_insert_rowid(p->db);

  size_t n = c->nlines;
  int64_t stackmem[5 * 32], *mem = n <= 32 ? stackmem : malloc(5 * n * sizeof *mem);
  if (!mem) return pt_err(p, PATRON_NOMEM, "out of memory");
  shares s;
  if ((rc = make_shares(p, q, &s, mem))) goto done;
  for (size_t i = 0; i < n; i++) {
    const pt_line *l = &c->lines[i];
    if (!(st = pt_stmt(p, PT_SQL_ORDER_LINE_INSERT))) { rc = p->code; goto done; }
    sqlite3_bind_int64(st, 1, *rowid);
    sqlite3_bind_int64(st, 2, (int64_t)i);
    pt_bind_text(st, 3, l->sku);
    pt_bind_text(st, 4, l->category);
    sqlite3_bind_int64(st, 5, l->qty);
    sqlite3_bind_int64(st, 6, l->unit_cents);
    sqlite3_bind_int64(st, 7, l->discount_cents);
    sqlite3_bind_int64(st, 8, l->bundled_units);
    sqlite3_bind_int64(st, 9, s.rpoints[i]);
    sqlite3_bind_int64(st, 10, s.rcents[i]);
    sqlite3_bind_int64(st, 11, s.earned[i]);
    if ((rc = pt_exec_stmt(p, st, "record order line"))) goto done;
  }
  size_t k;
  json_t *d;
  json_array_foreach(q->discounts, k, d) {
    if ((rc = record_adjustment(p, *rowid, "discount",
                                json_string_value(json_object_get(d, "source")),
                                json_string_value(json_object_get(d, "reason")),
                                json_integer_value(json_object_get(d, "cents")), 0)))
      goto done;
  }
  json_array_foreach(q->bonuses, k, d) {
    if ((rc = record_adjustment(p, *rowid, "bonus",
                                json_string_value(json_object_get(d, "source")),
                                json_string_value(json_object_get(d, "reason")), 0,
                                json_integer_value(json_object_get(d, "points")))))
      goto done;
  }
  if (q->shipping_cents > 0 &&
      (rc = record_adjustment(p, *rowid, "shipping", "free_shipping",
                              "below the free-shipping threshold", q->shipping_cents, 0)))
    goto done;
  json_array_foreach(q->suggestions, k, d) {
    if (!(st = pt_stmt(p, PT_SQL_SUGGESTION_INSERT))) { rc = p->code; goto done; }
    sqlite3_bind_int64(st, 1, *rowid);
    pt_bind_text(st, 2, c->customer[0] ? c->customer : NULL);
    pt_bind_text(st, 3, json_string_value(json_object_get(d, "sku")));
    sqlite3_bind_int64(st, 4, q->at);
    const char *src = json_string_value(json_object_get(d, "source"));
    pt_bind_text(st, 5, src ? src : "");
    if ((rc = pt_exec_stmt(p, st, "record suggestion"))) goto done;
  }
done:
  if (mem != stackmem) free(mem);
  return rc;
}

static json_t *entry_json(const char *uuid, pt_kind kind, int64_t points) {
  return json_pack("{s:s, s:s, s:I}", "uuid", uuid, "kind", pt_kind_name(kind),
                   "points", (json_int_t)points);
}

static int fill_quote(patron *p, patron_quote *out, const json_t *j, const char *text);
static int fill_quote_text(patron *p, patron_quote *out, const char *text);

/* Commits a decoded cart; *receipt is the receipt text (caller frees).
** With out, the public struct is filled from the receipt before the
** transaction commits, so that a failure to fill it writes nothing. */
static int commit_cart(patron *p, pt_cart *cart, char **receipt, patron_quote *out) {
  *receipt = NULL;
  if (!cart->order_id[0])
    return pt_err_path(p, PATRON_INVALID_CART, "order_id",
                       "order_id is required to commit (it makes retries safe)");
  int rc = pt_begin(p);
  if (rc) return rc;
  pt_quote q = {0};
  json_t *r = NULL;
  bool bad = false;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ORDER_FIND);
  if (!st) { rc = p->code; goto fail; }
  pt_bind_text(st, 1, cart->order_id);
  int found = pt_row(p, st, "find order");
  if (found > 0) {
    /* NOT NULL columns: NULL only when SQLite could not make the text */
    const char *stored = (const char *)sqlite3_column_text(st, 1);
    const char *text = (const char *)sqlite3_column_text(st, 2);
    if (!stored || !text) {
      pt_stmt_done(st);
      rc = pt_err(p, PATRON_NOMEM, "out of memory reading order %s", cart->order_id);
      goto fail;
    }
    if (cart->canonical && strcmp(stored, cart->canonical) == 0) {
      *receipt = pt_strdup(text);
      pt_stmt_done(st);
      if (!*receipt) { rc = pt_err(p, PATRON_NOMEM, "out of memory"); goto fail; }
      goto done; /* the retry of a committed order: its receipt */
    }
    char *copy = pt_strdup(stored);
    pt_stmt_done(st);
    rc = copy ? conflict(p, cart->order_id, copy, cart->canonical ? cart->canonical : "{}")
              : pt_err(p, PATRON_NOMEM, "out of memory");
    free(copy);
    goto fail;
  }
  pt_stmt_done(st);
  if (found < 0) { rc = p->code; goto fail; }

  if ((rc = pt_quote_run(p, &q, cart, true))) goto fail;
  if (cart->has_expect_total && cart->expect_total_cents != q.total_cents) {
    rc = pt_err_path(p, PATRON_STALE_QUOTE, "expect_total_cents",
                     "the total is now %" PRId64 " cents, the quote said %" PRId64
                     " (the configuration or the balance changed since the quote); "
                     "quote again", q.total_cents, cart->expect_total_cents);
    goto fail;
  }
  const char *cust = cart->customer[0] ? cart->customer : NULL;
  json_t *entries = json_array();
  r = pt_quote_to_json(&q);
  /* r keeps its own reference: entries stays valid even if the set fails */
  if (!entries || !r || json_object_set(r, "entries", entries)) {
    json_decref(entries);
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  json_decref(entries);
  if (cust) {
    if ((rc = pt_customer_ensure(p, cust, q.at)) ||
        (rc = pt_account_ensure(p, q.prog, cust, q.at)))
      goto fail;
  }
  int64_t rowid = 0;
  if ((rc = record_order(p, &q, &rowid))) goto fail;
  if ((rc = pt_rules_commit(p, &q, rowid))) goto fail;
  if ((rc = pt_track_commit(p, &q))) goto fail;
  if (cust) {
    char uuid[37], why[PT_ID_MAX + 32];
    if (q.redeem_points > 0) {
      snprintf(why, sizeof why, "redeemed on order %s", cart->order_id);
      pt_post e = {.customer = cust, .kind = PT_REDEEM, .points = -q.redeem_points,
                   .at = q.at, .order_ref = cart->order_id, .source = "order",
                   .reason = why};
      if ((rc = pt_ledger_post(p, q.prog, &e, uuid))) goto fail;
      pt_json_append(entries, entry_json(uuid, PT_REDEEM, -q.redeem_points), &bad);
    }
    if (q.points_earned > 0) {
      snprintf(why, sizeof why, "earned on order %s", cart->order_id);
      pt_post e = {.customer = cust, .kind = PT_EARN, .points = q.points_earned,
                   .at = q.at, .order_ref = cart->order_id, .source = "order",
                   .reason = why, .pending = true};
      if ((rc = pt_ledger_post(p, q.prog, &e, uuid))) goto fail;
      pt_json_append(entries, entry_json(uuid, PT_EARN, q.points_earned), &bad);
    }
    int64_t goods = q.subtotal_cents - q.discount_cents;
    int64_t paid = goods - (q.redeem_cents < goods ? q.redeem_cents : goods);
    if (paid > 0 &&
        (rc = pt_ledger_add_spend(p, q.prog, cust, paid, q.at, cart->order_id)))
      goto fail;
    patron_balance_info b;
    if ((rc = pt_ledger_balance(p, q.prog, cust, q.at, &b))) goto fail;
    pt_json_put(r, "balance_after", json_integer(b.points), &bad);
    pt_json_put(r, "tier_after", json_string(b.tier), &bad);
  } else {
    pt_json_put(r, "balance_after", json_null(), &bad);
  }
  pt_json_put(r, "order_id", json_string(cart->order_id), &bad);
  /* a receipt missing an entry or a key must not be stored */
  if (bad || !(*receipt = pt_json_dumps(r, JSON_COMPACT))) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  if (!(st = pt_stmt(p, PT_SQL_ORDER_SET_RECEIPT))) { rc = p->code; goto fail; }
  sqlite3_bind_int64(st, 1, rowid);
  pt_bind_text(st, 2, *receipt);
  if ((rc = pt_exec_stmt(p, st, "store receipt"))) goto fail;
done:
  /* a retry has only the stored text; a new receipt is filled from r */
  if (out && (rc = r ? fill_quote(p, out, r, *receipt) : fill_quote_text(p, out, *receipt)))
    goto fail;
  json_decref(r);
  pt_quote_free(&q);
  if ((rc = pt_commit(p))) {
    if (out) patron_quote_release(out);
    free(*receipt);
    *receipt = NULL;
  }
  return rc;
fail:
  pt_rollback(p);
  json_decref(r);
  pt_quote_free(&q);
  free(*receipt);
  *receipt = NULL;
  return rc;
}

/* ---- public entry points ------------------------------------------------------ */

int patron_quote_json(patron *p, char **out, const char *in) {
  *out = NULL;
  pt_ok(p);
  pt_cart cart;
  memset(&cart, 0, sizeof cart);
  int rc = pt_cart_decode(p, &cart, in, in ? strlen(in) : 0);
  if (rc) return rc;
  pt_quote q;
  memset(&q, 0, sizeof q);
  if ((rc = pt_read_begin(p)) == PATRON_OK) {
    rc = pt_quote_run(p, &q, &cart, false);
    pt_read_end(p);
  }
  if (rc == PATRON_OK && (rc = pt_track_quote(p, &q)) == PATRON_OK) {
    json_t *j = pt_quote_to_json(&q);
    *out = j ? pt_json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!*out) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  }
  pt_quote_free(&q);
  pt_cart_free(&cart);
  return rc;
}

int patron_commit_json(patron *p, char **out, const char *in) {
  *out = NULL;
  pt_ok(p);
  pt_cart cart;
  memset(&cart, 0, sizeof cart);
  int rc = pt_cart_decode(p, &cart, in, in ? strlen(in) : 0);
  if (rc) return rc;
  rc = commit_cart(p, &cart, out, NULL);
  pt_cart_free(&cart);
  return rc;
}

static char *dup_str(const json_t *j) {
  const char *s = json_string_value(j);
  return pt_strdup(s ? s : "");
}

/* Fills the public struct from a quote or receipt document j whose text is
** text. On failure out is left empty. */
static int fill_quote(patron *p, patron_quote *out, const json_t *j, const char *text) {
  memset(out, 0, sizeof *out);
  bool bad = false;
#define I(key) json_integer_value(json_object_get(j, key))
  out->subtotal_cents = I("subtotal_cents");
  out->discount_cents = I("discount_cents");
  out->shipping_cents = I("shipping_cents");
  out->total_cents = I("total_cents");
  out->points_earned = I("points_earned");
  out->balance_after = I("balance_after");
  out->config_version = I("config_version");
#undef I
  json_t *fs = json_object_get(j, "free_shipping");
  out->free_shipping_threshold_cents =
      json_is_object(fs) ? json_integer_value(json_object_get(fs, "threshold_cents")) : -1;
  out->free_shipping_missing_cents =
      json_is_object(fs) ? json_integer_value(json_object_get(fs, "missing_cents")) : 0;
  json_t *rd = json_object_get(j, "redeem");
  out->redeem_points = json_integer_value(json_object_get(rd, "points"));
  out->redeem_cents = json_integer_value(json_object_get(rd, "cents"));
  const char *tier = json_string_value(json_object_get(j, "tier"));
  snprintf(out->tier, sizeof out->tier, "%s", tier ? tier : "");
  json_t *a = json_object_get(j, "discounts"), *v;
  size_t i;
  out->discounts = calloc(json_array_size(a) + 1, sizeof *out->discounts);
  if (out->discounts) json_array_foreach(a, i, v) {
    out->discounts[i].source = dup_str(json_object_get(v, "source"));
    out->discounts[i].reason = dup_str(json_object_get(v, "reason"));
    out->discounts[i].cents = json_integer_value(json_object_get(v, "cents"));
    out->ndiscounts++;
    if (!out->discounts[i].source || !out->discounts[i].reason) bad = true;
  }
  a = json_object_get(j, "suggestions");
  out->suggestions = calloc(json_array_size(a) + 1, sizeof *out->suggestions);
  if (out->suggestions) json_array_foreach(a, i, v) {
    out->suggestions[i].sku = dup_str(json_object_get(v, "sku"));
    out->suggestions[i].reason = dup_str(json_object_get(v, "reason"));
    out->nsuggestions++;
    if (!out->suggestions[i].sku || !out->suggestions[i].reason) bad = true;
  }
  a = json_object_get(j, "warnings");
  out->warnings = calloc(json_array_size(a) + 1, sizeof *out->warnings);
  if (out->warnings) json_array_foreach(a, i, v) {
    if (!(out->warnings[out->nwarnings++] = dup_str(v))) bad = true;
  }
  out->json = pt_strdup(text);
  if (bad || !out->discounts || !out->suggestions || !out->warnings || !out->json) {
    patron_quote_release(out);
    return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  return PATRON_OK;
}

/* The same from the text alone (our own: a parse fails only for lack of
** memory). Where the document is at hand, fill_quote spares the parse. */
static int fill_quote_text(patron *p, patron_quote *out, const char *text) {
  memset(out, 0, sizeof *out);
  bool oom = false;
  json_t *j = pt_json_loads(text, 0, NULL, &oom);
  if (!j)
    return oom ? pt_err(p, PATRON_NOMEM, "out of memory")
               : pt_err(p, PATRON_INTERNAL, "a stored receipt is not valid JSON");
  int rc = fill_quote(p, out, j, text);
  json_decref(j);
  return rc;
}

void patron_quote_release(patron_quote *q) {
  if (!q) return;
  for (size_t i = 0; i < q->ndiscounts; i++) {
    free(q->discounts[i].source);
    free(q->discounts[i].reason);
  }
  for (size_t i = 0; i < q->nsuggestions; i++) {
    free(q->suggestions[i].sku);
    free(q->suggestions[i].reason);
  }
  for (size_t i = 0; i < q->nwarnings; i++) free(q->warnings[i]);
  free(q->discounts);
  free(q->suggestions);
  free(q->warnings);
  free(q->json);
  memset(q, 0, sizeof *q);
}

int patron_quote_cart(patron *p, patron_quote *out, const patron_cart *in) {
  memset(out, 0, sizeof *out);
  pt_ok(p);
  pt_cart cart;
  memset(&cart, 0, sizeof cart);
  int rc = pt_cart_from_struct(p, &cart, in);
  if (rc) return rc;
  pt_quote q;
  memset(&q, 0, sizeof q);
  if ((rc = pt_read_begin(p)) == PATRON_OK) {
    rc = pt_quote_run(p, &q, &cart, false);
    pt_read_end(p);
  }
  if (rc == PATRON_OK && (rc = pt_track_quote(p, &q)) == PATRON_OK) {
    json_t *j = pt_quote_to_json(&q);
    char *text = j ? pt_json_dumps(j, JSON_COMPACT) : NULL;
    rc = text ? fill_quote(p, out, j, text) : pt_err(p, PATRON_NOMEM, "out of memory");
    json_decref(j);
    free(text);
  }
  pt_quote_free(&q);
  pt_cart_free(&cart);
  return rc;
}

int patron_commit_cart(patron *p, patron_quote *out, const patron_cart *in) {
  memset(out, 0, sizeof *out);
  pt_ok(p);
  pt_cart cart;
  memset(&cart, 0, sizeof cart);
  char *receipt = NULL;
  int rc = pt_cart_from_struct(p, &cart, in);
  if (rc == PATRON_OK) rc = commit_cart(p, &cart, &receipt, out);
  free(receipt);
  pt_cart_free(&cart);
  return rc;
}
