/*
** checkout.c -- the quote pipeline of DESIGN.md section 4, pure (it reads
** the store, never writes): validate, bundles, plugin hooks, free
** shipping, redemption, earn, result with a trace. commit.c runs the same
** pipeline inside a transaction and records what it decided.
**
** Rounding (every derived amount floored unless stated):
**   - a discount never exceeds what is left of the lines it discounts, and
**     is spread over them in proportion to what is left (pt_split);
**   - free shipping compares the discounted subtotal (before points) with
**     the threshold; missing_cents = threshold - discounted subtotal;
**   - points convert to cents as floor(points * value_cents / value_points);
**     at most floor(order * max_share_bp / 10000) cents of an order (goods
**     after discounts plus shipping) may be paid with points;
**   - earn: base = floor(paid / 100) * points_per_unit where paid is the
**     goods after discounts less the part paid with points (shipping earns
**     nothing), then floor(base * multiplier_bp / 10000), then bonuses.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "json.h"
#include "ledger.h"
#include "rules.h"

bool pt_split(int64_t total, const int64_t *w, size_t n, int64_t *out) {
  int64_t sum = 0, assigned = 0;
  if (n == 0) return total == 0;
  for (size_t i = 0; i < n; i++)
    if (w[i] < 0 || !pt_add64(sum, w[i], &sum)) return false;
  for (size_t i = 0; i < n; i++) {
    if (sum == 0) out[i] = total / (int64_t)n;
    else if (!pt_muldiv_floor(total, w[i], sum, &out[i])) return false;
    assigned += out[i];
  }
  /* the remainder (< n cents) goes one by one to the largest weights,
  ** the first line first on ties */
  int64_t rem = total - assigned;
  int64_t last_w = INT64_MAX;
  size_t last_i = 0;
  bool have_last = false;
  while (rem > 0) {
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
      /* next in (weight desc, index asc) order after (last_w, last_i) */
      bool after = !have_last || w[i] < last_w || (w[i] == last_w && i > last_i);
      if (after && (best == n || w[i] > w[best])) best = i;
    }
    if (best == n) { have_last = false; continue; } /* wrap around */
    out[best]++;
    rem--;
    last_w = w[best];
    last_i = best;
    have_last = true;
  }
  return true;
}

static void money(char *buf, size_t size, int64_t cents) {
  int64_t a = cents < 0 ? -cents : cents;
  snprintf(buf, size, "%s%" PRId64 ".%02" PRId64, cents < 0 ? "-" : "", a / 100,
           a % 100);
}

/* Drops a UTF-8 sequence cut short at the end of s: snprintf truncates
** bytes, not characters, and json_string refuses the broken text. */
static void trim_cut_utf8(char *s) {
  size_t n = strlen(s), k = n;
  while (k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) k--;
  if (k == 0) return;
  unsigned char c = (unsigned char)s[k - 1];
  size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (n - (k - 1) < want) s[k - 1] = 0;
}

void pt_quote_trace(pt_quote *q, const char *stage, const char *source,
                    const char *what, int64_t amount, const char *reason) {
  bool bad = false;
  json_t *t = json_object();
  pt_json_put(t, "stage", json_string(stage), &bad);
  pt_json_put(t, "source", json_string(source), &bad);
  if (what) pt_json_put(t, what, json_integer(amount), &bad);
  pt_json_put(t, "reason", json_string(reason ? reason : ""), &bad);
  if (bad) {
    json_decref(t);
    q->oom = true;
    return;
  }
  pt_json_append(q->trace, t, &q->oom);
}

static void warn(pt_quote *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(pt_quote *q, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  trim_cut_utf8(buf);
  pt_json_append(q->warnings, json_string(buf), &q->oom);
}

int pt_quote_discount(patron *p, pt_quote *q, const char *source,
                      const char *reason, int64_t cents, const size_t *lines,
                      size_t nlines) {
  pt_cart *c = q->cart;
  int64_t left_sum = 0, wbuf[64], sbuf[64];
  int64_t *w = nlines <= 64 ? wbuf : malloc(nlines * sizeof *w);
  int64_t *share = nlines <= 64 ? sbuf : malloc(nlines * sizeof *share);
  int rc = PATRON_OK;
  if (!w || !share) { rc = pt_err(p, PATRON_NOMEM, "out of memory"); goto done; }
  for (size_t i = 0; i < nlines; i++) {
    const pt_line *l = &c->lines[lines[i]];
    w[i] = l->gross_cents - l->discount_cents;
    left_sum += w[i];
  }
  if (cents > left_sum) {
    char a[32], b[32];
    money(a, sizeof a, cents);
    money(b, sizeof b, left_sum);
    warn(q, "%s: discount of %s cut to %s, what is left of the lines it applies to",
         source, a, b);
    cents = left_sum;
  }
  if (cents <= 0) goto done;
  if (!pt_split(cents, w, nlines, share)) {
    rc = pt_err(p, PATRON_OVERFLOW, "discount out of range");
    goto done;
  }
  /* the entry is built whole before the lines change, so a failure leaves
  ** the quote as it was */
  bool bad = false;
  json_t *skus = json_array(), *d = json_object();
  for (size_t i = 0; i < nlines && skus; i++)
    if (json_array_append_new(skus, json_string(c->lines[lines[i]].sku))) bad = true;
  pt_json_put(d, "source", json_string(source), &bad);
  pt_json_put(d, "reason", json_string(reason), &bad);
  pt_json_put(d, "cents", json_integer(cents), &bad);
  pt_json_put(d, "skus", skus, &bad); /* stolen even on failure */
  if (bad || json_array_append_new(q->discounts, d)) {
    if (bad) json_decref(d);
    q->oom = true;
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nlines; i++) c->lines[lines[i]].discount_cents += share[i];
  q->discount_cents += cents;
  pt_quote_trace(q, "discount", source, "cents", -cents, reason);
  if (q->oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
done:
  if (w != wbuf) free(w);
  if (share != sbuf) free(share);
  return rc;
}

/* ---- stage 1: validate and normalise ------------------------------------ */

static int stage_validate(patron *p, pt_quote *q) {
  pt_cart *c = q->cart;
  const pt_config *cfg = q->cfg;
  if (!(q->prog = pt_config_program(p, cfg, c->program))) {
    snprintf(p->errpath, sizeof p->errpath, "program");
    return p->code;
  }
  if (c->currency[0] && strcmp(c->currency, cfg->currency) != 0)
    return pt_err_path(p, PATRON_INVALID_CART, "currency",
                       "currency %s does not match the shop's currency %s",
                       c->currency, cfg->currency);
  for (size_t i = 0; i < c->nlines; i++) {
    pt_line *l = &c->lines[i];
    if (!pt_mul64(l->qty, l->unit_cents, &l->gross_cents) ||
        !pt_add64(q->subtotal_cents, l->gross_cents, &q->subtotal_cents)) {
      char path[32];
      snprintf(path, sizeof path, "lines[%zu]", i);
      return pt_err_path(p, PATRON_INVALID_CART, path,
                         "%s: qty x unit_cents overflows", path);
    }
    l->discount_cents = 0;
    l->bundled_units = 0;
    if (!l->category[0]) { /* the catalog knows it */
      sqlite3_stmt *st = pt_stmt(p, PT_SQL_CATALOG_CATEGORY);
      if (!st) return p->code;
      pt_bind_text(st, 1, l->sku);
      int r = pt_row(p, st, "read the category of a sku");
      if (r > 0) pt_col_text(st, 0, l->category, sizeof l->category);
      pt_stmt_done(st);
      if (r < 0) return p->code;
    }
  }
  if (c->customer[0]) {
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_CUSTOMER_EXISTS);
    if (!st) return p->code;
    pt_bind_text(st, 1, c->customer);
    int r = pt_row(p, st, "find customer");
    pt_stmt_done(st);
    if (r < 0) return p->code;
    q->known_customer = r > 0;
    int rc;
    if ((rc = pt_ledger_balance(p, q->prog, c->customer, q->at, &q->balance)))
      return rc;
    snprintf(q->tier, sizeof q->tier, "%s", q->balance.tier);
    if (!q->known_customer)
      pt_json_append(q->messages, json_string("new member: welcome to the program"),
                     &q->oom);
  }
  pt_quote_trace(q, "validate", "cart", "subtotal_cents", q->subtotal_cents,
                 "sum of qty x unit_cents over the lines");
  return PATRON_OK;
}

/* ---- stage 2: bundles ------------------------------------------------------ */

static int stage_bundles(patron *p, pt_quote *q) {
  const pt_config *cfg = q->cfg;
  pt_cart *c = q->cart;
  if (cfg->nbundles == 0) return PATRON_OK;
  size_t nb = cfg->nbundles, nl = c->nlines;
  int64_t *mem = malloc((2 * nb + 2 * nl) * sizeof *mem);
  if (!mem) return pt_err(p, PATRON_NOMEM, "out of memory");
  pt_bundle_alloc a = {.instances = mem, .saving = mem + nb,
                       .line_discount = mem + 2 * nb,
                       .line_units = mem + 2 * nb + nl};
  int rc = pt_bundle_allocate(cfg->bundles, nb, c->lines, nl, &a);
  if (rc) {
    free(mem);
    return pt_err_path(p, rc, "lines", "bundle savings overflow");
  }
  for (size_t i = 0; i < nl; i++) {
    c->lines[i].discount_cents += a.line_discount[i];
    c->lines[i].bundled_units = a.line_units[i];
  }
  for (size_t b = 0; b < nb; b++) {
    if (a.instances[b] <= 0) continue;
    const pt_bundle *bu = &cfg->bundles[b];
    char source[PT_NAME_MAX + 8], reason[256], price[32];
    bool bad = false;
    pt_buf items = {0};
    json_t *skus = json_array();
    for (size_t k = 0; k < bu->nitems; k++) {
      if (k) pt_buf_puts(&items, " + ");
      if (bu->items[k].qty > 1) pt_buf_printf(&items, "%" PRId64 " x ", bu->items[k].qty);
      pt_buf_puts(&items, bu->items[k].sku);
      if (json_array_append_new(skus, json_string(bu->items[k].sku))) bad = true;
    }
    /* a failed append leaves items cut short: the reason would be too */
    if (items.oom) bad = true;
    snprintf(source, sizeof source, "bundle:%s", bu->name);
    if (bu->price_cents >= 0) {
      money(price, sizeof price, bu->price_cents);
      snprintf(reason, sizeof reason, "%s for %s", items.s ? items.s : "", price);
    } else {
      snprintf(reason, sizeof reason, "%s: %" PRId64 ".%02" PRId64 "%% off each item",
               items.s ? items.s : "", bu->off_bp / 100, bu->off_bp % 100);
    }
    if (a.instances[b] > 1) {
      size_t n = strlen(reason);
      snprintf(reason + n, sizeof reason - n, " (x%" PRId64 ")", a.instances[b]);
    }
    trim_cut_utf8(reason);
    pt_buf_free(&items);
    json_t *d = json_object();
    pt_json_put(d, "source", json_string(source), &bad);
    pt_json_put(d, "reason", json_string(reason), &bad);
    pt_json_put(d, "cents", json_integer(a.saving[b]), &bad);
    pt_json_put(d, "skus", skus, &bad); /* stolen even on failure */
    if (bad) json_decref(d);
    if (bad || json_array_append_new(q->discounts, d)) {
      free(mem);
      q->oom = true;
      return pt_err(p, PATRON_NOMEM, "out of memory");
    }
    pt_quote_trace(q, "bundles", source, "cents", -a.saving[b], reason);
  }
  q->discount_cents += a.total_saving;
  if (!a.exhaustive)
    pt_quote_trace(q, "bundles", "bundles", NULL, 0,
                   "search bound reached: the allocation is the best found, "
                   "completed greedily");
  free(mem);
  return PATRON_OK;
}

/* ---- stage 4: free shipping ------------------------------------------------- */

static const pt_shipping *shipping_rule(const pt_config *cfg, const char *program,
                                        const char *region) {
  const pt_shipping *best = NULL;
  int best_score = -1;
  for (size_t i = 0; i < cfg->nshipping; i++) {
    const pt_shipping *s = &cfg->shipping[i];
    if (s->program[0] && strcmp(s->program, program) != 0) continue;
    if (s->region[0] && strcmp(s->region, region) != 0) continue;
    int score = (s->program[0] ? 2 : 0) + (s->region[0] ? 1 : 0);
    if (score > best_score) { best = s; best_score = score; }
  }
  return best;
}

static void stage_shipping(pt_quote *q) {
  const pt_shipping *s = shipping_rule(q->cfg, q->prog->name, q->cart->region);
  int64_t discounted = q->subtotal_cents - q->discount_cents;
  char a[32], b[32], why[160];
  q->threshold_cents = -1;
  q->missing_cents = 0;
  q->shipping_cents = 0;
  if (s) q->threshold_cents = s->threshold_cents;
  if (s && discounted < s->threshold_cents) q->missing_cents = s->threshold_cents - discounted;
  if (q->shipping_override) { /* a rule decided the charge */
    q->shipping_cents = q->shipping_override_cents;
    if (q->shipping_cents == 0) q->missing_cents = 0;
    pt_quote_trace(q, "shipping", q->shipping_override_source, "cents",
                   q->shipping_cents, q->shipping_override_reason);
    return;
  }
  if (!s) return;
  q->threshold_cents = s->threshold_cents;
  money(a, sizeof a, s->threshold_cents);
  if (discounted >= s->threshold_cents) {
    snprintf(why, sizeof why, "free shipping: order of at least %s", a);
    pt_quote_trace(q, "shipping", "free_shipping", "cents", 0, why);
    return;
  }
  q->shipping_cents = s->shipping_cents;
  q->missing_cents = s->threshold_cents - discounted;
  money(b, sizeof b, q->missing_cents);
  snprintf(why, sizeof why, "below the free-shipping threshold of %s: add %s more", a, b);
  pt_quote_trace(q, "shipping", "free_shipping", "cents", q->shipping_cents, why);
  if (q->cart->nlines > 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "add %s more for free shipping", b);
    pt_json_append(q->messages, json_string(msg), &q->oom);
  }
}

/* ---- stage 5: redemption ------------------------------------------------------ */

static int stage_redeem(patron *p, pt_quote *q) {
  const pt_program *g = q->prog;
  int64_t want = q->cart->redeem_points, pts = want;
  q->redeem_points = q->redeem_cents = 0;
  if (want <= 0) return PATRON_OK;
  if (!q->cart->customer[0]) {
    warn(q, "anonymous orders cannot redeem points");
    return PATRON_OK;
  }
  int64_t avail = q->balance.spendable > 0 ? q->balance.spendable : 0;
  if (pts > avail) {
    if (q->commit)
      return pt_err_path(p, PATRON_INSUFFICIENT_POINTS, "redeem_points",
                         "%s asked to redeem %" PRId64 " points; %" PRId64
                         " are spendable in %s", q->cart->customer, want, avail,
                         g->name);
    warn(q, "redeem cut from %" PRId64 " to %" PRId64 " points: the spendable balance",
         want, avail);
    pts = avail;
  }
  if (g->value_cents <= 0 || g->value_points <= 0) {
    warn(q, "program %s gives points no cash value: nothing redeemed", g->name);
    return PATRON_OK;
  }
  int64_t order = q->subtotal_cents - q->discount_cents + q->shipping_cents;
  int64_t max_cents, max_pts;
  if (!pt_muldiv_floor(order, g->max_share_bp, 10000, &max_cents) ||
      !pt_muldiv_floor(max_cents, g->value_points, g->value_cents, &max_pts))
    return pt_err_path(p, PATRON_OVERFLOW, "redeem_points", "redemption out of range");
  if (pts > max_pts) {
    warn(q, "redeem cut from %" PRId64 " to %" PRId64
         " points: at most %" PRId64 ".%02" PRId64 "%% of an order may be paid with points",
         pts, max_pts, g->max_share_bp / 100, g->max_share_bp % 100);
    pts = max_pts;
  }
  if (pts > 0 && pts < g->min_points) {
    warn(q, "redemptions start at %" PRId64 " points; %" PRId64 " cannot be redeemed",
         g->min_points, pts);
    pts = 0;
  }
  if (pts <= 0) return PATRON_OK;
  int64_t cents;
  if (!pt_muldiv_floor(pts, g->value_cents, g->value_points, &cents))
    return pt_err_path(p, PATRON_OVERFLOW, "redeem_points", "redemption out of range");
  q->redeem_points = pts;
  q->redeem_cents = cents;
  char why[128], a[32], src[PT_NAME_MAX + 9];
  money(a, sizeof a, cents);
  snprintf(why, sizeof why, "%" PRId64 " points at %" PRId64 " points = %" PRId64
           " cents: %s off", pts, g->value_points, g->value_cents, a);
  snprintf(src, sizeof src, "program:%s", g->name);
  pt_quote_trace(q, "redeem", src, "cents", -cents, why);
  return PATRON_OK;
}

/* ---- stage 6: earn ------------------------------------------------------------- */

static int stage_earn(patron *p, pt_quote *q) {
  const pt_program *g = q->prog;
  q->base_points = q->tier_points = q->bonus_points = q->points_earned = 0;
  if (!q->cart->customer[0]) return PATRON_OK;
  int64_t goods = q->subtotal_cents - q->discount_cents;
  int64_t paid = goods - (q->redeem_cents < goods ? q->redeem_cents : goods);
  int64_t base, total;
  if (!pt_mul64(paid / 100, g->points_per_unit, &base))
    return pt_err(p, PATRON_OVERFLOW, "points earned overflow");
  char why[160], src[PT_NAME_MAX + 9];
  snprintf(src, sizeof src, "program:%s", g->name);
  snprintf(why, sizeof why, "floor(%" PRId64 " / 100) x %" PRId64 " point%s per unit paid",
           paid, g->points_per_unit, g->points_per_unit == 1 ? "" : "s");
  pt_quote_trace(q, "earn", src, "points", base, why);
  int64_t mult = 10000;
  for (size_t i = 0; i < g->ntiers; i++)
    if (strcmp(g->tiers[i].name, q->tier) == 0) mult = g->tiers[i].multiplier_bp;
  if (!pt_muldiv_floor(base, mult, 10000, &total))
    return pt_err(p, PATRON_OVERFLOW, "points earned overflow");
  q->base_points = base;
  q->tier_points = total - base;
  if (q->tier[0] && mult != 10000) {
    snprintf(src, sizeof src, "tier:%s", q->tier);
    snprintf(why, sizeof why, "%s tier: x%" PRId64 ".%02" PRId64 " (floored)", q->tier,
             mult / 10000, (mult % 10000) / 100);
    pt_quote_trace(q, "earn", src, "points", total - base, why);
  }
  q->points_earned = total;
  int rc = pt_rules_on_earn(p, q);
  if (rc) return rc;
  if (!pt_add64(q->points_earned, q->bonus_points, &q->points_earned))
    return pt_err(p, PATRON_OVERFLOW, "points earned overflow");
  return PATRON_OK;
}

/* ---- the pipeline ------------------------------------------------------------ */

void pt_quote_free(pt_quote *q) {
  json_decref(q->discounts);
  json_decref(q->suggestions);
  json_decref(q->messages);
  json_decref(q->trace);
  json_decref(q->warnings);
  json_decref(q->bonuses);
  memset(q, 0, sizeof *q);
}

int pt_quote_run(patron *p, pt_quote *q, pt_cart *cart, bool commit) {
  memset(q, 0, sizeof *q);
  q->cart = cart;
  q->commit = commit;
  q->at = cart->at ? cart->at : patron_now(p);
  q->discounts = json_array();
  q->suggestions = json_array();
  q->messages = json_array();
  q->trace = json_array();
  q->warnings = json_array();
  q->bonuses = json_array();
  if (!q->discounts || !q->suggestions || !q->messages || !q->trace ||
      !q->warnings || !q->bonuses)
    return pt_err(p, PATRON_NOMEM, "out of memory");
  q->cfg = p->cfg_override ? p->cfg_override : pt_config_active(p);
  if (!q->cfg) return p->code;
  int rc;
  if ((rc = stage_validate(p, q))) return rc;
  if ((rc = stage_bundles(p, q))) return rc;
  if ((rc = pt_rules_on_quote(p, q))) return rc;
  stage_shipping(q);
  if ((rc = stage_redeem(p, q))) return rc;
  if ((rc = stage_earn(p, q))) return rc;
  q->total_cents = q->subtotal_cents - q->discount_cents + q->shipping_cents -
                   q->redeem_cents;
  if (q->total_cents < 0) q->total_cents = 0;
  /* a trace step, warning or message that could not be added */
  if (q->oom) return pt_err(p, PATRON_NOMEM, "out of memory building the quote");
  return PATRON_OK;
}

json_t *pt_quote_to_json(const pt_quote *q) {
  bool bad = false;
  const pt_cart *c = q->cart;
  json_t *o = json_object();
  json_t *lines = json_array();
  for (size_t i = 0; i < c->nlines; i++) {
    const pt_line *l = &c->lines[i];
    json_t *lj = json_object();
    pt_json_put(lj, "sku", json_string(l->sku), &bad);
    pt_json_put(lj, "qty", json_integer(l->qty), &bad);
    pt_json_put(lj, "unit_cents", json_integer(l->unit_cents), &bad);
    pt_json_put(lj, "discount_cents", json_integer(l->discount_cents), &bad);
    pt_json_put(lj, "total_cents", json_integer(l->gross_cents - l->discount_cents), &bad);
    if (json_array_append_new(lines, lj)) bad = true;
  }
  pt_json_put(o, "program", json_string(q->prog->name), &bad);
  pt_json_put(o, "customer", c->customer[0] ? json_string(c->customer) : json_null(), &bad);
  pt_json_put(o, "currency", json_string(q->cfg->currency), &bad);
  pt_json_put(o, "lines", lines, &bad);
  pt_json_put(o, "subtotal_cents", json_integer(q->subtotal_cents), &bad);
  pt_json_put(o, "discounts", json_incref(q->discounts), &bad);
  pt_json_put(o, "discount_cents", json_integer(q->discount_cents), &bad);
  pt_json_put(o, "shipping_cents", json_integer(q->shipping_cents), &bad);
  pt_json_put(o, "free_shipping",
      q->threshold_cents < 0 ? json_null()
      : json_pack("{s:I, s:I}", "threshold_cents", (json_int_t)q->threshold_cents,
                  "missing_cents", (json_int_t)q->missing_cents), &bad);
  pt_json_put(o, "redeem", json_pack("{s:I, s:I}", "points",
      (json_int_t)q->redeem_points, "cents", (json_int_t)q->redeem_cents), &bad);
  pt_json_put(o, "total_cents", json_integer(q->total_cents), &bad);
  pt_json_put(o, "points_earned", json_integer(q->points_earned), &bad);
  pt_json_put(o, "tier", json_string(q->tier), &bad);
  pt_json_put(o, "suggestions", json_incref(q->suggestions), &bad);
  pt_json_put(o, "messages", json_incref(q->messages), &bad);
  pt_json_put(o, "trace", json_incref(q->trace), &bad);
  pt_json_put(o, "warnings", json_incref(q->warnings), &bad);
  pt_json_put(o, "config_version", json_integer(q->cfg->version), &bad);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}
