/*
** rules.c -- merchant plugins in the quote pipeline (the seam of rules.h).
** Decides which plugins run (configured order, campaign windows
** from <= cart time < to), applies what their hooks return (script.c runs
** the Lua and type-checks the actions; here they are checked against the
** cart, the catalog and the budgets, applied, and traced as
** plugin:<name>), turns plugin failures into warnings or, for a strict
** shop, into RULE_ERROR, and keeps the budgets: what each plugin gave is
** recorded per order at commit (inside the commit's BEGIN IMMEDIATE, so
** the spent totals read while evaluating a commit are race-free) and given
** back pro rata by refunds. Also the entry points of `patron rules test`,
** `patron rules check` and `patron report budgets`.
**
** Decisions (lua/RULES_API.md is the contract):
**   - a percentage discount is floor(unit * bp / 10000) per unit of what is
**     left of each line (a line's remaining value spread evenly over its
**     units), then spread over the lines by pt_quote_discount;
**   - free_item frees units of the first lines with that sku, each unit at
**     what is left of its line's value;
**   - a shipping action replaces the charge; the last plugin to set one
**     wins. It is not charged to a cents budget (use uses);
**   - a use is an order on which the plugin gave cents, points or shipping;
**   - suggestions of skus in the cart, in shown_suggestions or already
**     suggested are dropped silently, and so are those past 10 per quote;
**   - in a strict shop a failing hook and an action that breaks the
**     contract (its shape or types) fail the quote; cuts, unknown skus and
**     spent budgets stay warnings.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rules.h"
#include "script.h"

#define MAX_SUGGESTIONS 10    /* per quote, all plugins together */
#define MAX_MESSAGES 20       /* plugin messages per quote */

typedef struct spent {
  bool read;
  int64_t cents, points, uses;
} spent;

typedef struct run {
  patron *p;
  pt_quote *q;
  pt_script *s;
  size_t i;
  const pt_plugin_ref *g;
  pt_hook hook;
  char src[PT_NAME_MAX + 8];  /* "plugin:<name>" */
  spent sp;
  bool oom;                   /* a warning could not be added */
  char result[600];           /* what happened to the last action */
} run;

/* Appends v (stolen) to arr; false when out of memory. */

static void warn(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->result, sizeof r->result, fmt, ap);
  va_end(ap);
  char buf[700];
  snprintf(buf, sizeof buf, "plugin %s: %s", r->g->name, r->result);
  json_t *w = json_string(buf); /* texts are UTF-8 by now: NULL is out of memory */
  pt_json_append(r->q->warnings, w, &r->oom);
}

/* A drop that is not a problem (a suggestion already in the cart). */
static void quietly(run *r, const char *why) {
  snprintf(r->result, sizeof r->result, "dropped: %s", why);
}

static bool in_window(const pt_plugin_ref *g, int64_t at) {
  return (g->from == 0 || at >= g->from) && (g->to == 0 || at < g->to);
}

static bool has_budget(const pt_plugin_ref *g) {
  return g->budget_cents >= 0 || g->budget_points >= 0 || g->budget_uses >= 0;
}

static int read_spent(patron *p, const char *plugin, spent *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_RULE_TOTALS_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, plugin);
  int r = pt_row(p, st, "read plugin budget");
  if (r > 0) {
    out->cents = sqlite3_column_int64(st, 0);
    out->points = sqlite3_column_int64(st, 1);
    out->uses = sqlite3_column_int64(st, 2);
  }
  pt_stmt_done(st);
  if (r < 0) return p->code;
  out->read = true;
  return PATRON_OK;
}

/* What the plugin already gives on this evaluation. */
static void given(const pt_quote *q, const char *src, int64_t *cents, int64_t *points,
                  bool *used) {
  size_t k;
  json_t *d;
  *cents = *points = 0;
  json_array_foreach(q->discounts, k, d) {
    const char *s = json_string_value(json_object_get(d, "source"));
    if (s && strcmp(s, src) == 0) *cents += json_integer_value(json_object_get(d, "cents"));
  }
  json_array_foreach(q->bonuses, k, d) {
    const char *s = json_string_value(json_object_get(d, "source"));
    if (s && strcmp(s, src) == 0) *points += json_integer_value(json_object_get(d, "points"));
  }
  *used = *cents > 0 || *points > 0 ||
          (q->shipping_override && strcmp(q->shipping_override_source, src) == 0);
}

/* May the plugin give cents / points more on this order? Drops with a
** warning when its budget is spent. */
static int budget_allows(run *r, int64_t cents, int64_t points, bool *ok) {
  const pt_plugin_ref *g = r->g;
  *ok = true;
  if (!has_budget(g)) return PATRON_OK;
  if (!r->sp.read) {
    int rc = read_spent(r->p, g->name, &r->sp);
    if (rc) return rc;
  }
  int64_t gc, gp;
  bool used;
  given(r->q, r->src, &gc, &gp, &used);
  if ((g->budget_uses >= 0 && !used && r->sp.uses >= g->budget_uses) ||
      (g->budget_cents >= 0 && cents > 0 && r->sp.cents + gc + cents > g->budget_cents) ||
      (g->budget_points >= 0 && points > 0 && r->sp.points + gp + points > g->budget_points)) {
    warn(r, "budget spent");
    *ok = false;
  }
  return PATRON_OK;
}

/* "plugin x: budget 93% spent (cents: 9300 of 10000)" at 90% and over. */
static int warn_budget(run *r) {
  const pt_plugin_ref *g = r->g;
  if (!has_budget(g)) return PATRON_OK;
  int rc = read_spent(r->p, g->name, &r->sp);
  if (rc) return rc;
  const char *names[] = {"cents", "points", "uses"};
  int64_t budget[] = {g->budget_cents, g->budget_points, g->budget_uses};
  int64_t used[] = {r->sp.cents, r->sp.points, r->sp.uses};
  char parts[256] = "";
  int64_t worst = -1;
  for (int k = 0; k < 3; k++) {
    if (budget[k] < 0) continue;
    int64_t pct = 100;
    if (budget[k] > 0 && !pt_muldiv_floor(used[k] < 0 ? 0 : used[k], 100, budget[k], &pct))
      pct = 100;
    if (pct < 90) continue;
    if (pct > worst) worst = pct;
    size_t n = strlen(parts);
    snprintf(parts + n, sizeof parts - n, "%s%s: %" PRId64 " of %" PRId64, n ? ", " : "",
             names[k], used[k], budget[k]);
  }
  if (worst >= 0) {
    char keep[sizeof r->result];
    memcpy(keep, r->result, sizeof keep);
    warn(r, "budget %" PRId64 "%% spent (%s)", worst > 100 ? 100 : worst, parts);
    memcpy(r->result, keep, sizeof keep);
  }
  return PATRON_OK;
}

/* ---- applying actions ---------------------------------------------------------- */

static const char *reason_or(const pt_action *a, const char *dflt) {
  return a->text[0] ? a->text : dflt;
}

static int apply_discount(run *r, const pt_action *a) {
  pt_cart *c = r->q->cart;
  size_t nsel = 0, stackbuf[64];
  size_t *sel = c->nlines <= 64 ? stackbuf : malloc(c->nlines * sizeof *sel);
  int rc = PATRON_OK;
  if (!sel) return pt_err(r->p, PATRON_NOMEM, "out of memory");
  for (size_t i = 0; i < c->nlines; i++) {
    bool take = a->nskus == 0;
    for (size_t k = 0; k < a->nskus && !take; k++) take = strcmp(a->skus[k], c->lines[i].sku) == 0;
    if (take) sel[nsel++] = i;
  }
  int64_t left = 0, amount = 0;
  for (size_t k = 0; k < nsel; k++) {
    const pt_line *l = &c->lines[sel[k]];
    int64_t rest = l->gross_cents - l->discount_cents;
    left += rest;
    if (a->has_bp && rest > 0) { /* per unit: the rest spread over the units */
      int64_t base = rest / l->qty, extra = rest % l->qty, lo, hi;
      if (!pt_muldiv_floor(base, a->bp, 10000, &lo) ||
          !pt_muldiv_floor(base + 1, a->bp, 10000, &hi)) {
        rc = pt_err(r->p, PATRON_OVERFLOW, "discount out of range");
        goto done;
      }
      amount += extra * hi + (l->qty - extra) * lo;
    }
  }
  if (a->has_cents) amount = a->cents < left ? a->cents : left;
  if (nsel == 0) {
    warn(r, "discount: none of its skus is in the cart");
    goto done;
  }
  if (amount <= 0) {
    warn(r, "discount: nothing left to discount on %s", a->nskus ? "its skus" : "the cart");
    goto done;
  }
  bool ok;
  if ((rc = budget_allows(r, amount, 0, &ok)) || !ok) goto done;
  char dflt[64];
  if (a->has_bp)
    snprintf(dflt, sizeof dflt, "%" PRId64 ".%02" PRId64 "%% off", a->bp / 100, a->bp % 100);
  else
    snprintf(dflt, sizeof dflt, "discount");
  snprintf(r->result, sizeof r->result, "applied");
  rc = pt_quote_discount(r->p, r->q, r->src, reason_or(a, dflt),
                         a->has_cents ? a->cents : amount, sel, nsel);
  pt_script_cart_changed(r->s);
done:
  if (sel != stackbuf) free(sel);
  return rc;
}

/* Is sku in the catalog? (The runtime keeps the rows it has read.) */
static bool catalog_has(run *r, const char *sku, int *rc) {
  const pt_item *it;
  *rc = pt_script_item(r->s, sku, &it);
  return *rc == PATRON_OK && it;
}

static int apply_free_item(run *r, const pt_action *a) {
  pt_cart *c = r->q->cart;
  int64_t units = 0, amount = 0, want = a->qty;
  for (size_t i = 0; i < c->nlines; i++)
    if (strcmp(c->lines[i].sku, a->sku) == 0) units += c->lines[i].qty;
  if (units == 0) {
    int rc;
    bool known = catalog_has(r, a->sku, &rc);
    if (rc) return rc;
    if (known) warn(r, "free_item: %s is not in the cart (the till must add it first)", a->sku);
    else warn(r, "free_item: unknown sku %s", a->sku);
    return PATRON_OK;
  }
  int64_t take = want < units ? want : units, left = take;
  for (size_t i = 0; i < c->nlines && left > 0; i++) {
    const pt_line *l = &c->lines[i];
    if (strcmp(l->sku, a->sku) != 0) continue;
    int64_t t = left < l->qty ? left : l->qty, v;
    if (!pt_muldiv_floor(l->gross_cents - l->discount_cents, t, l->qty, &v))
      return pt_err(r->p, PATRON_OVERFLOW, "free item out of range");
    amount += v;
    left -= t;
  }
  if (amount <= 0) {
    warn(r, "free_item: %s is already free", a->sku);
    return PATRON_OK;
  }
  bool ok;
  int rc = budget_allows(r, amount, 0, &ok);
  if (rc || !ok) return rc;
  char dflt[PT_NAME_MAX + 40];
  if (take > 1) snprintf(dflt, sizeof dflt, "%" PRId64 " x %s free", take, a->sku);
  else snprintf(dflt, sizeof dflt, "%s free", a->sku);
  snprintf(r->result, sizeof r->result, "applied");
  left = take;
  for (size_t i = 0; i < c->nlines && left > 0 && rc == PATRON_OK; i++) {
    const pt_line *l = &c->lines[i];
    if (strcmp(l->sku, a->sku) != 0) continue;
    int64_t t = left < l->qty ? left : l->qty, v;
    pt_muldiv_floor(l->gross_cents - l->discount_cents, t, l->qty, &v);
    left -= t;
    if (v > 0) rc = pt_quote_discount(r->p, r->q, r->src, reason_or(a, dflt), v, &i, 1);
  }
  pt_script_cart_changed(r->s);
  if (rc == PATRON_OK && take < want)
    warn(r, "free_item: only %" PRId64 " x %s in the cart; %" PRId64 " made free", units,
         a->sku, take);
  return rc;
}

static int apply_suggest(run *r, const pt_action *a) {
  pt_quote *q = r->q;
  const pt_cart *c = q->cart;
  for (size_t i = 0; i < c->nlines; i++)
    if (strcmp(c->lines[i].sku, a->sku) == 0) {
      quietly(r, "already in the cart");
      return PATRON_OK;
    }
  for (size_t i = 0; i < c->nshown; i++)
    if (strcmp(c->shown[i], a->sku) == 0) {
      quietly(r, "the customer just declined it (shown_suggestions)");
      return PATRON_OK;
    }
  size_t k;
  json_t *d;
  json_array_foreach(q->suggestions, k, d) {
    if (strcmp(json_string_value(json_object_get(d, "sku")), a->sku) == 0) {
      quietly(r, "already suggested");
      return PATRON_OK;
    }
  }
  if (json_array_size(q->suggestions) >= MAX_SUGGESTIONS) {
    quietly(r, "a quote carries at most 10 suggestions");
    return PATRON_OK;
  }
  int rc;
  if (!catalog_has(r, a->sku, &rc)) {
    if (!rc) warn(r, "suggest: unknown sku %s", a->sku);
    return rc;
  }
  /* built field by field: json_pack would parse its format on every
  ** suggestion; the texts are checked UTF-8 already (pt_action_decode, the
  ** config) */
  json_t *o = json_object();
  bool bad = !pt_json_append(q->suggestions, o, NULL); /* the array owns o from here */
  if (!bad) {
    pt_json_put(o, "sku", json_string_nocheck(a->sku), &bad);
    pt_json_put(o, "reason", json_string_nocheck(a->text), &bad);
    pt_json_put(o, "source", json_string_nocheck(r->src), &bad);
  }
  if (bad) return pt_err(r->p, PATRON_NOMEM, "out of memory");
  char why[PT_NAME_MAX + PT_ACT_TEXT + 4];
  snprintf(why, sizeof why, "%s%s%s", a->sku, a->text[0] ? ": " : "", a->text);
  pt_quote_trace(q, "suggest", r->src, NULL, 0, why);
  snprintf(r->result, sizeof r->result, "applied");
  return PATRON_OK;
}

static int apply_message(run *r, const pt_action *a) {
  pt_quote *q = r->q;
  size_t k, mine = 0;
  json_t *t;
  json_array_foreach(q->trace, k, t) {
    const char *st = json_string_value(json_object_get(t, "stage"));
    if (st && strcmp(st, "message") == 0) mine++;
  }
  if (mine >= MAX_MESSAGES) {
    quietly(r, "a quote carries at most 20 plugin messages");
    return PATRON_OK;
  }
  if (!pt_json_append(q->messages, json_string(a->text), NULL))
    return pt_err(r->p, PATRON_NOMEM, "out of memory");
  pt_quote_trace(q, "message", r->src, NULL, 0, a->text);
  snprintf(r->result, sizeof r->result, "applied");
  return PATRON_OK;
}

static int apply_shipping(run *r, const pt_action *a) {
  pt_quote *q = r->q;
  bool ok;
  int rc = budget_allows(r, 0, 0, &ok);
  if (rc || !ok) return rc;
  q->shipping_override = true;
  q->shipping_override_cents = a->cents;
  snprintf(q->shipping_override_source, sizeof q->shipping_override_source, "%s", r->src);
  if (a->text[0])
    snprintf(q->shipping_override_reason, sizeof q->shipping_override_reason, "%.200s",
             a->text);
  else
    snprintf(q->shipping_override_reason, sizeof q->shipping_override_reason,
             a->cents ? "shipping price set by plugin %s" : "free shipping from plugin %s",
             r->g->name);
  snprintf(r->result, sizeof r->result, "applied");
  return PATRON_OK;
}

static int apply_bonus(run *r, const pt_action *a) {
  pt_quote *q = r->q;
  bool ok;
  int rc = budget_allows(r, 0, a->points, &ok);
  if (rc || !ok) return rc;
  int64_t sum;
  if (!pt_add64(q->bonus_points, a->points, &sum) || !pt_add64(sum, q->points_earned, &sum)) {
    warn(r, "bonus_points: %" PRId64 " points would overflow the order's points", a->points);
    return PATRON_OK;
  }
  const char *why = reason_or(a, "bonus points");
  if (!pt_json_append(q->bonuses, json_pack("{s:s, s:s, s:I}", "source", r->src, "reason", why,
                                            "points", (json_int_t)a->points), NULL))
    return pt_err(r->p, PATRON_NOMEM, "out of memory");
  q->bonus_points += a->points;
  pt_quote_trace(q, "earn", r->src, "points", a->points, why);
  snprintf(r->result, sizeof r->result, "applied");
  return PATRON_OK;
}

/* The action as JSON for `patron rules test`. */
static json_t *action_json(const run *r, const pt_action *a) {
  json_t *o = json_object();
  json_object_set_new(o, "hook", json_string(pt_hook_name(r->hook)));
  if (a->kind == PT_ACT_INVALID) {
    json_object_set_new(o, "action", json_null());
  } else {
    json_object_set_new(o, "action", json_string(pt_act_name(a->kind)));
    if (a->has_cents) json_object_set_new(o, "cents", json_integer(a->cents));
    if (a->has_bp) json_object_set_new(o, "bp", json_integer(a->bp));
    if (a->nskus) {
      json_t *skus = json_array();
      for (size_t k = 0; k < a->nskus; k++) json_array_append_new(skus, json_string(a->skus[k]));
      json_object_set_new(o, "skus", skus);
    }
    if (a->sku[0]) json_object_set_new(o, "sku", json_string(a->sku));
    if (a->kind == PT_ACT_FREE_ITEM) json_object_set_new(o, "qty", json_integer(a->qty));
    if (a->kind == PT_ACT_BONUS) json_object_set_new(o, "points", json_integer(a->points));
    json_object_set_new(o, a->kind == PT_ACT_MESSAGE ? "text" : "reason", json_string(a->text));
  }
  json_object_set_new(o, "result", json_string(r->result));
  return o;
}

static int apply(run *r, const pt_action *a) {
  int rc = PATRON_OK;
  r->result[0] = 0;
  if (a->kind == PT_ACT_INVALID) {
    if (r->q->cfg->strict)
      return pt_err_path(r->p, PATRON_RULE_ERROR, "plugins", "plugin %s: %s", r->g->name,
                         a->problem);
    warn(r, "%s", a->problem);
    return PATRON_OK;
  }
  if (r->hook == PT_HOOK_QUOTE && a->kind == PT_ACT_BONUS) {
    warn(r, "bonus_points: only on_earn gives points (the order is not priced yet)");
    return PATRON_OK;
  }
  if (r->hook == PT_HOOK_EARN && a->kind != PT_ACT_BONUS && a->kind != PT_ACT_MESSAGE) {
    warn(r, "%s: on_earn may only give bonus_points and messages (the price is final)",
         pt_act_name(a->kind));
    return PATRON_OK;
  }
  switch (a->kind) {
  case PT_ACT_DISCOUNT: rc = apply_discount(r, a); break;
  case PT_ACT_FREE_ITEM: rc = apply_free_item(r, a); break;
  case PT_ACT_SUGGEST: rc = apply_suggest(r, a); break;
  case PT_ACT_BONUS: rc = apply_bonus(r, a); break;
  case PT_ACT_MESSAGE: rc = apply_message(r, a); break;
  case PT_ACT_SHIPPING: rc = apply_shipping(r, a); break;
  default: break;
  }
  return rc;
}

/* Runs one hook of plugin i and applies its actions. */
static int run_hook(patron *p, pt_quote *q, pt_script *s, size_t i, pt_hook h) {
  run r;
  memset(&r, 0, sizeof r);
  r.p = p;
  r.q = q;
  r.s = s;
  r.i = i;
  r.g = &q->cfg->plugins[i];
  r.hook = h;
  snprintf(r.src, sizeof r.src, "plugin:%s", r.g->name);
  json_t *capture = pt_script_test_actions(s);
  if (h == PT_HOOK_QUOTE) {
    int rc = warn_budget(&r);
    if (rc) return rc;
    if (r.oom) return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  pt_call c = {.plugin = i, .hook = h};
  int rc = pt_script_call(s, &c);
  if (rc) return rc;
  if (c.failed) {
    if (capture)
      json_array_append_new(capture, json_pack("{s:s, s:s}", "hook", pt_hook_name(h),
                                               "error", c.error));
    if (q->cfg->strict)
      rc = pt_err_path(p, PATRON_RULE_ERROR, "plugins", "plugin %s: %s", r.g->name, c.error);
    else
      warn(&r, "%s", c.error);
    pt_script_call_free(&c);
    if (rc == PATRON_OK && r.oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
    return rc;
  }
  if (c.ignored)
    warn(&r, "%s returned %zu actions; only the first %d are used", pt_hook_name(h),
         c.nactions + c.ignored, PT_ACT_MAX);
  for (size_t k = 0; k < c.nactions && rc == PATRON_OK; k++) {
    rc = apply(&r, &c.actions[k]);
    if (capture && rc == PATRON_OK) json_array_append_new(capture, action_json(&r, &c.actions[k]));
  }
  pt_script_call_free(&c);
  if (rc == PATRON_OK && r.oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  return rc;
}

int pt_rules_on_quote(patron *p, pt_quote *q) {
  const pt_config *cfg = q->cfg;
  if (cfg->nplugins == 0) return PATRON_OK;
  pt_script *s;
  int rc = pt_script_get(p, cfg, &s);
  if (rc) return rc;
  pt_script_begin(s, p, q);
  for (size_t i = 0; i < cfg->nplugins && rc == PATRON_OK; i++) {
    if (!in_window(&cfg->plugins[i], q->at)) continue;
    if (pt_script_has_hook(s, i, PT_HOOK_QUOTE)) {
      rc = run_hook(p, q, s, i, PT_HOOK_QUOTE);
    } else if (has_budget(&cfg->plugins[i])) {
      run r = {.p = p, .q = q, .s = s, .i = i, .g = &cfg->plugins[i]};
      rc = warn_budget(&r);
      if (rc == PATRON_OK && r.oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
    }
  }
  /* an anonymous cart earns nothing: no on_earn follows */
  if (rc || !q->cart->customer[0]) pt_script_end(s);
  return rc;
}

int pt_rules_on_earn(patron *p, pt_quote *q) {
  const pt_config *cfg = q->cfg;
  if (cfg->nplugins == 0) return PATRON_OK;
  pt_script *s;
  int rc = pt_script_get(p, cfg, &s);
  if (rc) return rc;
  if (!pt_script_active(s, q)) pt_script_begin(s, p, q);
  for (size_t i = 0; i < cfg->nplugins && rc == PATRON_OK; i++)
    if (in_window(&cfg->plugins[i], q->at) && pt_script_has_hook(s, i, PT_HOOK_EARN))
      rc = run_hook(p, q, s, i, PT_HOOK_EARN);
  pt_script_end(s);
  return rc;
}

/* ---- budgets: commit and refund -------------------------------------------------- */

/* Adds to a plugin's running totals (or takes away: back). */
static int add_totals(patron *p, const char *plugin, int64_t cents, int64_t points,
                      int64_t uses, bool back) {
  sqlite3_stmt *st = pt_stmt(p, back ? PT_SQL_RULE_TOTALS_GIVE_BACK : PT_SQL_RULE_TOTALS_ADD);
  if (!st) return p->code;
  pt_bind_text(st, 1, plugin);
  sqlite3_bind_int64(st, 2, cents);
  sqlite3_bind_int64(st, 3, points);
  sqlite3_bind_int64(st, 4, uses);
  return pt_exec_stmt(p, st, "update plugin budget");
}

int pt_rules_commit(patron *p, const pt_quote *q, int64_t order_rowid) {
  const pt_config *cfg = q->cfg;
  for (size_t i = 0; i < cfg->nplugins; i++) {
    char src[PT_NAME_MAX + 8];
    snprintf(src, sizeof src, "plugin:%s", cfg->plugins[i].name);
    int64_t cents, points;
    bool used;
    given(q, src, &cents, &points, &used);
    if (!used) continue;
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_RULE_USAGE_INSERT);
    if (!st) return p->code;
    sqlite3_bind_int64(st, 1, order_rowid);
    pt_bind_text(st, 2, cfg->plugins[i].name);
    sqlite3_bind_int64(st, 3, cents);
    sqlite3_bind_int64(st, 4, points);
    sqlite3_bind_int64(st, 5, 1);
    int rc = pt_exec_stmt(p, st, "record plugin usage");
    if (rc || (rc = add_totals(p, cfg->plugins[i].name, cents, points, 1, false))) return rc;
  }
  return PATRON_OK;
}

typedef struct usage {
  char plugin[PT_NAME_MAX];
  int64_t cents, points, uses, use_back;
} usage;

/* floor(x * (before + now) / total) - floor(x * before / total) */
static bool slice(int64_t x, int64_t before, int64_t now, int64_t total, int64_t *out) {
  int64_t a, b;
  if (!pt_muldiv_floor(x, before + now, total, &a) || !pt_muldiv_floor(x, before, total, &b))
    return false;
  *out = a - b;
  return true;
}

int pt_rules_refund(patron *p, int64_t order_rowid, int64_t units_before,
                    int64_t units_now, int64_t units_total) {
  if (units_total <= 0 || units_now <= 0) return PATRON_OK;
  size_t n = 0, cap = 8;
  usage *u = malloc(cap * sizeof *u);
  int rc = PATRON_OK;
  if (!u) return pt_err(p, PATRON_NOMEM, "out of memory");
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_RULE_USAGE_OF_ORDER);
  if (!st) {
    free(u);
    return p->code;
  }
  sqlite3_bind_int64(st, 1, order_rowid);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      usage *nu = realloc(u, 2 * cap * sizeof *u);
      if (!nu) { src = SQLITE_NOMEM; break; }
      u = nu;
      cap *= 2;
    }
    pt_col_text(st, 0, u[n].plugin, sizeof u[n].plugin);
    u[n].cents = sqlite3_column_int64(st, 1);
    u[n].points = sqlite3_column_int64(st, 2);
    u[n].uses = sqlite3_column_int64(st, 3);
    u[n].use_back = sqlite3_column_int64(st, 4);
    n++;
  }
  pt_stmt_done(st);
  if (src != SQLITE_DONE) {
    rc = src == SQLITE_NOMEM ? pt_err(p, PATRON_NOMEM, "out of memory")
                             : pt_err_sqlite(p, src, "read plugin usage");
    goto done;
  }
  bool full = units_before + units_now >= units_total;
  for (size_t i = 0; i < n; i++) {
    int64_t bc, bp, bu = full && u[i].uses > u[i].use_back ? 1 : 0;
    if (!slice(u[i].cents, units_before, units_now, units_total, &bc) ||
        !slice(u[i].points, units_before, units_now, units_total, &bp)) {
      rc = pt_err(p, PATRON_OVERFLOW, "plugin budget refund out of range");
      goto done;
    }
    if (bc == 0 && bp == 0 && bu == 0) continue;
    if (!(st = pt_stmt(p, PT_SQL_RULE_USAGE_GIVE_BACK))) { rc = p->code; goto done; }
    sqlite3_bind_int64(st, 1, order_rowid);
    pt_bind_text(st, 2, u[i].plugin);
    sqlite3_bind_int64(st, 3, bc);
    sqlite3_bind_int64(st, 4, bp);
    sqlite3_bind_int64(st, 5, bu);
    if ((rc = pt_exec_stmt(p, st, "give plugin budget back")) ||
        (rc = add_totals(p, u[i].plugin, bc, bp, bu, true)))
      goto done;
  }
done:
  free(u);
  return rc;
}

void pt_rules_close(patron *p) {
  pt_script_free(p->script);
  p->script = NULL;
}

/* ---- patron report budgets ------------------------------------------------------------ */

static json_t *opt_int(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

int pt_rules_budgets(patron *p, json_t **out) {
  *out = NULL;
  const pt_config *cfg = pt_config_active(p);
  if (!cfg) return p->code;
  json_t *arr = json_array();
  bool bad = !arr;
  int64_t now = patron_now(p);
  for (size_t i = 0; i < cfg->nplugins && !bad; i++) {
    const pt_plugin_ref *g = &cfg->plugins[i];
    spent sp;
    int rc = read_spent(p, g->name, &sp);
    if (rc) {
      json_decref(arr);
      return rc;
    }
    char from[32] = "", to[32] = "";
    if (g->from) patron_time_format(from, sizeof from, g->from);
    if (g->to) patron_time_format(to, sizeof to, g->to);
    json_t *o = json_object();
    if (!o || json_array_append_new(arr, o)) { /* the array owns o from here */
      bad = true;
      break;
    }
    pt_json_put(o, "plugin", json_string(g->name), &bad);
    pt_json_put(o, "active", json_boolean(in_window(g, now)), &bad);
    pt_json_put(o, "from", from[0] ? json_string(from) : json_null(), &bad);
    pt_json_put(o, "to", to[0] ? json_string(to) : json_null(), &bad);
    const char *names[] = {"cents", "points", "uses"};
    int64_t budget[] = {g->budget_cents, g->budget_points, g->budget_uses};
    int64_t used[] = {sp.cents, sp.points, sp.uses};
    for (int k = 0; k < 3; k++) {
      char key[32];
      snprintf(key, sizeof key, "budget_%s", names[k]);
      pt_json_put(o, key, opt_int(budget[k]), &bad);
      snprintf(key, sizeof key, "spent_%s", names[k]);
      pt_json_put(o, key, json_integer(used[k]), &bad);
      snprintf(key, sizeof key, "left_%s", names[k]);
      pt_json_put(o, key, budget[k] < 0 ? json_null()
                  : json_integer(budget[k] > used[k] ? budget[k] - used[k] : 0), &bad);
    }
  }
  if (bad) { /* a row without a key is a wrong report: none */
    json_decref(arr);
    return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  *out = arr;
  return PATRON_OK;
}

/* ---- patron rules test ------------------------------------------------------------------ */

/* Lua source text for a string. */
static void lua_quote(pt_buf *b, const char *s, size_t n) {
  pt_buf_puts(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') pt_buf_printf(b, "\\%c", c);
    else if (c < 32 || c == 127) pt_buf_printf(b, "\\%03d", c);
    else pt_buf_add(b, (const char *)&c, 1);
  }
  pt_buf_puts(b, "\"");
}

/* A JSON value as a Lua expression; false for null (not expressible). */
static bool lua_value(pt_buf *b, const json_t *v, int depth) {
  size_t i;
  const char *k;
  json_t *e;
  if (depth > 32) return false;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    pt_buf_puts(b, "{");
    json_object_foreach((json_t *)v, k, e) {
      pt_buf_puts(b, "[");
      lua_quote(b, k, strlen(k));
      pt_buf_puts(b, "] = ");
      if (!lua_value(b, e, depth + 1)) return false;
      pt_buf_puts(b, ", ");
    }
    pt_buf_puts(b, "}");
    return true;
  case JSON_ARRAY:
    pt_buf_puts(b, "{");
    json_array_foreach(v, i, e) {
      if (!lua_value(b, e, depth + 1)) return false;
      pt_buf_puts(b, ", ");
    }
    pt_buf_puts(b, "}");
    return true;
  case JSON_STRING:
    lua_quote(b, json_string_value(v), json_string_length(v));
    return true;
  case JSON_INTEGER:
    pt_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return true;
  case JSON_REAL:
    pt_buf_printf(b, "%.17g", json_real_value(v));
    return true;
  case JSON_TRUE: pt_buf_puts(b, "true"); return true;
  case JSON_FALSE: pt_buf_puts(b, "false"); return true;
  default: return false;
  }
}

static const char *str_or(const json_t *o, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, key));
  return s && *s ? s : dflt;
}

int pt_rules_test(patron *p, json_t **out, const char *path, const json_t *params,
                  const char *cart_json, const json_t *customer) {
  *out = NULL;
  json_error_t je;
  bool oom;
  json_t *cart = pt_json_loads(cart_json ? cart_json : "", 0, &je, &oom), *res = NULL;
  pt_buf src = {0};
  char *text = NULL;
  pt_cart pc;
  pt_quote q;
  memset(&pc, 0, sizeof pc);
  memset(&q, 0, sizeof q);
  bool have_q = false;
  int rc;
  if (!cart)
    return oom ? pt_err(p, PATRON_NOMEM, "out of memory")
               : pt_err_path(p, PATRON_INVALID_JSON, "", "cart: %s at line %d", je.text, je.line);
  if (!json_is_object(cart)) {
    rc = pt_err_path(p, PATRON_INVALID_CART, "", "the cart must be a JSON object");
    goto done;
  }
  if (customer && !json_is_object(customer)) {
    rc = pt_err(p, PATRON_INVALID_INPUT, "the customer file must hold a JSON object");
    goto done;
  }
  if (customer && !json_string_value(json_object_get(cart, "customer")))
    json_object_set_new(cart, "customer", json_string(str_or(customer, "id", "TEST-CUSTOMER")));
  /* a synthetic shop holding the plugin alone */
  pt_buf_puts(&src, "shop { currency = ");
  const char *cur = str_or(cart, "currency", "EUR");
  lua_quote(&src, cur, strlen(cur));
  pt_buf_puts(&src, " }\nprogram ");
  const char *prog = str_or(cart, "program", "default");
  lua_quote(&src, prog, strlen(prog));
  pt_buf_puts(&src, " {}\nplugin ");
  lua_quote(&src, path, strlen(path));
  pt_buf_puts(&src, " ");
  json_t *none = json_object();
  bool ok = lua_value(&src, params ? params : none, 0);
  json_decref(none);
  pt_buf_puts(&src, "\n");
  if (!ok) {
    rc = pt_err(p, PATRON_INVALID_INPUT, "a parameter is null or nested too deeply");
    goto done;
  }
  if (src.oom) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto done;
  }
  patron_apply_result ar;
  if ((rc = patron_apply_buffer(p, &ar, "rules-test.lua", src.s, src.len))) goto done;
  const pt_config *cfg = pt_config_active(p);
  pt_script *s;
  if (!cfg) { rc = p->code; goto done; }
  if ((rc = pt_script_get(p, cfg, &s))) goto done;
  pt_script_set_test(s, (json_t *)customer);
  if (!(text = pt_json_dumps(cart, JSON_COMPACT))) {
    rc = pt_err(p, PATRON_NOMEM, "out of memory");
    goto done;
  }
  if ((rc = pt_cart_decode(p, &pc, text, strlen(text)))) goto done;
  have_q = true;
  if ((rc = pt_quote_run(p, &q, &pc, false))) goto done;
  json_t *quote = pt_quote_to_json(&q), *trace = json_array(), *step;
  size_t k;
  json_array_foreach(q.trace, k, step) {
    const char *so = json_string_value(json_object_get(step, "source"));
    if (so && strncmp(so, "plugin:", 7) == 0) json_array_append(trace, step);
  }
  json_t *acts = pt_script_test_actions(p->script), *err = json_null(), *a;
  json_array_foreach(acts, k, a) {
    if (json_object_get(a, "error") && json_is_null(err))
      err = json_incref(json_object_get(a, "error"));
  }
  res = json_object();
  json_object_set_new(res, "plugin", json_string(cfg->plugins[0].name));
  json_object_set_new(res, "ok", json_boolean(json_is_null(err)));
  json_object_set_new(res, "error", err);
  json_object_set_new(res, "actions", json_incref(acts));
  json_object_set_new(res, "warnings", json_incref(q.warnings));
  json_object_set_new(res, "trace", trace);
  json_object_set_new(res, "log", json_incref(pt_script_test_log(p->script)));
  json_object_set_new(res, "quote", quote);
  *out = res;
  res = NULL;
done:
  if (have_q) pt_quote_free(&q);
  pt_cart_free(&pc);
  json_decref(cart);
  json_decref(res);
  free(text);
  pt_buf_free(&src);
  return rc;
}

/* ---- patron rules check -------------------------------------------------------------------- */

typedef struct tok {
  int type; /* 'n' name, 's' string, '0' number, else the punctuation char ('=' is "=",
               'E' is "==") */
  const char *s;
  size_t len;
  int line;
} tok;

/* The level of a long bracket at p ("[==[" -> 2), or -1. */
static int long_open(const char *p, const char *end) {
  if (p >= end || *p != '[') return -1;
  int lvl = 0;
  p++;
  while (p < end && *p == '=') { lvl++; p++; }
  return p < end && *p == '[' ? lvl : -1;
}

/* Skips a long bracket body from after its opening; returns the end. */
static const char *long_skip(const char *p, const char *end, int lvl, int *line) {
  while (p < end) {
    if (*p == '\n') (*line)++;
    if (*p == ']') {
      const char *q = p + 1;
      int n = 0;
      while (q < end && *q == '=') { n++; q++; }
      if (n == lvl && q < end && *q == ']') return q + 1;
    }
    p++;
  }
  return end;
}

/* Splits Lua source into tokens (names, strings, numbers, punctuation),
** skipping comments. Good enough for a lint, not a parser. */
static tok *tokenize(const char *src, size_t len, size_t *n) {
  size_t cap = 256;
  tok *t = malloc(cap * sizeof *t);
  const char *p = src, *end = src + len;
  int line = 1;
  *n = 0;
  if (!t) return NULL;
  while (p < end) {
    if (*n + 1 >= cap) {
      tok *nt = realloc(t, 2 * cap * sizeof *t);
      if (!nt) { free(t); return NULL; }
      t = nt;
      cap *= 2;
    }
    char c = *p;
    if (c == '\n') { line++; p++; continue; }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { p++; continue; }
    if (c == '-' && p + 1 < end && p[1] == '-') {
      p += 2;
      int lvl = long_open(p, end);
      if (lvl >= 0) p = long_skip(p + lvl + 2, end, lvl, &line);
      else while (p < end && *p != '\n') p++;
      continue;
    }
    tok *k = &t[(*n)++];
    k->s = p;
    k->line = line;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                         (*p >= '0' && *p <= '9')))
        p++;
      k->type = 'n';
    } else if (c >= '0' && c <= '9') {
      while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                         (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                         (*p == '.' && !(p + 1 < end && p[1] == '.'))))
        p++;
      k->type = '0';
    } else if (c == '"' || c == '\'') {
      p++;
      while (p < end && *p != c && *p != '\n') {
        if (*p == '\\' && p + 1 < end) {
          if (p[1] == '\n') line++;
          p++;
        }
        p++;
      }
      if (p < end) p++;
      k->type = 's';
    } else if (long_open(p, end) >= 0) {
      int lvl = long_open(p, end);
      p = long_skip(p + lvl + 2, end, lvl, &line);
      k->type = 's';
    } else if (c == '=' && p + 1 < end && p[1] == '=') {
      p += 2;
      k->type = 'E';
    } else {
      p++;
      k->type = c;
    }
    k->len = (size_t)(p - k->s);
  }
  return t;
}

static bool tok_is(const tok *t, const char *word) {
  return t->type == 'n' && strlen(word) == t->len && memcmp(t->s, word, t->len) == 0;
}

static bool is_keyword(const tok *t) {
  static const char *const kw[] = {"and", "break", "do", "else", "elseif", "end", "false",
                                   "for", "function", "goto", "if", "in", "local", "nil",
                                   "not", "or", "repeat", "return", "then", "true", "until",
                                   "while", NULL};
  for (const char *const *k = kw; *k; k++)
    if (tok_is(t, *k)) return true;
  return false;
}

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  size_t d[33][33];
  if (la > 32 || lb > 32) return 99;
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* The closest of names (a JSON array of strings) to s, or NULL. */
static const char *closest(const json_t *names, const char *s, size_t len) {
  const char *best = NULL;
  size_t bd = len <= 4 ? 2 : 3, i;
  json_t *e;
  json_array_foreach(names, i, e) {
    const char *n = json_string_value(e);
    size_t d = edit_distance(s, len, n, strlen(n));
    if (d < bd) {
      bd = d;
      best = n;
    }
  }
  return best;
}

static bool names_have(const json_t *names, const char *s, size_t len) {
  size_t i;
  json_t *e;
  json_array_foreach(names, i, e) {
    const char *n = json_string_value(e);
    if (strlen(n) == len && memcmp(n, s, len) == 0) return true;
  }
  return false;
}

static void add_name(json_t *names, const tok *t) {
  if (t->type == 'n' && !names_have(names, t->s, t->len))
    json_array_append_new(names, json_stringn(t->s, t->len));
}

/* Calls of names that are neither globals of the plugin environment nor
** declared in the file (local, function, parameter, for variable,
** assignment): the typo of an action name shows up here. */
static void scan_calls(json_t *msgs, const char *path, const char *src, size_t len,
                       const json_t *globals) {
  size_t n;
  tok *t = tokenize(src, len, &n);
  json_t *declared = json_array(), *reported = json_array(), *known = json_array();
  if (!t) {
    json_array_append_new(msgs, json_sprintf("%s: out of memory reading the file", path));
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const tok *k = &t[i];
    const tok *prev = i ? &t[i - 1] : NULL, *next = i + 1 < n ? &t[i + 1] : NULL;
    if (tok_is(k, "local")) {
      size_t j = i + 1;
      if (j < n && tok_is(&t[j], "function")) j++;
      for (; j < n && t[j].type == 'n' && !is_keyword(&t[j]); j++) {
        add_name(declared, &t[j]);
        if (j + 1 < n && t[j + 1].type == '<') j += 3; /* <const> */
        if (j + 1 < n && t[j + 1].type == ',') j++;
        else break;
      }
    } else if (tok_is(k, "function")) {
      size_t j = i + 1;
      if (j < n && t[j].type == 'n') add_name(declared, &t[j]);
      while (j < n && t[j].type != '(') j++;
      for (j++; j < n && t[j].type != ')'; j++) add_name(declared, &t[j]);
    } else if (tok_is(k, "for")) {
      for (size_t j = i + 1; j < n && !tok_is(&t[j], "in") && t[j].type != '='; j++)
        add_name(declared, &t[j]);
    } else if (k->type == 'n' && next && next->type == '=' &&
               !(prev && (prev->type == '.' || prev->type == ':'))) {
      add_name(declared, k); /* a global assigned at the top of the file */
    }
  }
  for (size_t i = 0; i < n; i++) {
    const tok *k = &t[i];
    const tok *prev = i ? &t[i - 1] : NULL, *next = i + 1 < n ? &t[i + 1] : NULL;
    if (k->type != 'n' || is_keyword(k) || !next) continue;
    if (next->type != '(' && next->type != '{' && next->type != 's') continue;
    if (prev && (prev->type == '.' || prev->type == ':' || tok_is(prev, "function"))) continue;
    if (names_have(globals, k->s, k->len) || names_have(declared, k->s, k->len) ||
        names_have(reported, k->s, k->len))
      continue;
    add_name(reported, k);
    json_array_extend(known, (json_t *)globals);
    json_array_extend(known, declared);
    const char *near = closest(known, k->s, k->len);
    json_array_clear(known);
    json_array_append_new(msgs, json_sprintf(
        "%s:%d: unknown name '%.*s' called: not an action, a function of the rule "
        "sandbox or declared in this file%s%s%s", path, k->line, (int)k->len, k->s,
        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : ""));
  }
done:
  free(t);
  json_decref(declared);
  json_decref(reported);
  json_decref(known);
}

int pt_rules_check(json_t **out, const char *path, const char *src, size_t len) {
  json_t *msgs = json_array(), *info = NULL;
  *out = NULL;
  if (!msgs) return PATRON_NOMEM;
  int rc = pt_script_inspect(&info, path, src, len);
  if (rc) {
    json_decref(msgs);
    json_decref(info);
    return rc;
  }
  const char *err = json_string_value(json_object_get(info, "error"));
  if (err) {
    size_t pl = strlen(path);
    if (strncmp(err, path, pl) == 0 && err[pl] == ':')
      json_array_append_new(msgs, json_string(err));
    else json_array_append_new(msgs, json_sprintf("%s: %s", path, err));
  } else {
    json_t *hooks = json_object_get(info, "hooks"), *e;
    size_t i;
    if (json_object_size(hooks) == 0)
      json_array_append_new(msgs, json_sprintf("%s:1: the rule defines no hook (on_quote "
                                               "or on_earn): it would never run", path));
    json_array_foreach(json_object_get(info, "unknown"), i, e) {
      const char *name = json_string_value(json_object_get(e, "name"));
      bool hookish = strncmp(name, "on_", 3) == 0 ||
                     edit_distance(name, strlen(name), "on_quote", 8) <= 2 ||
                     edit_distance(name, strlen(name), "on_earn", 7) <= 2;
      if (hookish)
        json_array_append_new(msgs, json_sprintf(
            "%s:%d: unknown hook '%s' (hooks are on_quote and on_earn)", path,
            (int)json_integer_value(json_object_get(e, "line")), name));
    }
    scan_calls(msgs, path, src, len, json_object_get(info, "globals"));
  }
  json_decref(info);
  *out = msgs;
  return PATRON_OK;
}
