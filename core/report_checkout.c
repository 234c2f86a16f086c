/*
** report_checkout.c -- what the checkout stages achieved: cross-sell
** suggestions and how many were taken, bundle uptake and the saving
** given, orders against the free-shipping threshold and the nudges that
** made customers cross it, and the subscriptions report.
**
** What can be measured: quotes are not recorded, so everything here is
** about committed orders: the suggestions the rules made on them
** (suggestions_shown), the bundles they got (order_adjustments
** bundle:NAME), their discounted subtotal against the threshold that
** applied (orders.threshold_cents) and, for carts quoted with "track":
** true, what the last quote before the commit said (report_nudges).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"

#define ACCEPT_DAYS 30

/* Group label of a time or an order for --by: a period, a channel, or
** "all". *idx gets the period index (-1 outside or not by period). */
typedef struct grouping {
  pt_period *pv;
  size_t np;
  bool periods, channel;
} grouping;

static int grouping_init(pt_report *r, grouping *g) {
  memset(g, 0, sizeof *g);
  const char *by = r->o->by ? r->o->by : "";
  g->channel = strcmp(by, "channel") == 0;
  g->periods = strcmp(by, "month") == 0 || strcmp(by, "week") == 0;
  if (g->periods) return pt_report_periods(r, &g->pv, &g->np);
  return PATRON_OK;
}

static void group_of(const grouping *g, int64_t at, const char *order_id, char *buf,
                     size_t size) {
  if (g->periods) {
    ptrdiff_t i = pt_period_find(g->pv, g->np, at);
    snprintf(buf, size, "%s", i >= 0 ? g->pv[i].label : "?");
  } else if (g->channel) {
    pt_order_channel(order_id, buf, size);
  } else {
    snprintf(buf, size, "all");
  }
}

/* Groups in display order: the periods, else labels as first seen. */
typedef struct glist {
  size_t n, cap;
  char (*name)[PT_ID_MAX];
} glist;

static ptrdiff_t glist_find(glist *l, const char *name, bool add) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->name[i], name) == 0) return (ptrdiff_t)i;
  if (!add) return -1;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    void *nv = realloc(l->name, cap * sizeof *l->name);
    if (!nv) return -1;
    l->name = nv;
    l->cap = cap;
  }
  snprintf(l->name[l->n], PT_ID_MAX, "%s", name);
  return (ptrdiff_t)l->n++;
}

static int glist_seed(glist *l, const grouping *g) {
  for (size_t i = 0; g->periods && i < g->np; i++)
    if (glist_find(l, g->pv[i].label, true) < 0) return -1;
  return 0;
}

static const char *group_title(pt_report *r) {
  const char *by = r->o->by ? r->o->by : "";
  return *by ? by : "window";
}

/* ---- crosssell -------------------------------------------------------------- */

typedef struct xs {
  int64_t shown, same, later, anon;
} xs;

static int exists(patron *p, sqlite3_stmt *st, bool *yes) {
  int got = pt_row(p, st, "look up a purchase");
  pt_stmt_done(st);
  *yes = got > 0;
  return got < 0 ? p->code : PATRON_OK;
}

static void xs_row(pt_report *r, json_t *rows, const char *program, const char *group,
                   const char *source, const xs *x) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "group", group);
  pt_put_str(r, row, "source", source);
  pt_put_int(r, row, "shown", x->shown);
  pt_put_int(r, row, "bought_same_order", x->same);
  pt_put_int(r, row, "bought_later", x->later);
  pt_put_int(r, row, "accepted", x->same + x->later);
  if (!pt_put_rate(r, row, "acceptance_bp", x->same + x->later, x->shown))
    pt_put_no_data(r, row);
  else
    pt_put_str(r, row, "note", "");
}

int pt_report_crosssell(pt_report *r) {
  size_t nprog;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  grouping g = {0};
  glist groups = {0}, sources = {0};
  xs *acc = NULL, *bysrc = NULL;
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  if ((rc = grouping_init(r, &g))) goto done;
  const pt_col cols[] = {
      {"program", "program", "text"},   {"group", group_title(r), "text"},
      {"source", "source", "text"},     {"shown", "suggestions shown", "int"},
      {"bought_same_order", "bought in the same order", "int"},
      {"bought_later", "bought later", "int"},
      {"accepted", "accepted", "int"},  {"acceptance_bp", "acceptance", "bp"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "crosssell", "Cross-sell acceptance", cols,
                                 sizeof cols / sizeof cols[0]);
  json_t *srows = pt_report_table(r, "sources", "Cross-sell by rule", cols,
                                  sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    const char *prog = progs[k]->name;
    groups.n = sources.n = 0;
    free(acc);
    free(bysrc);
    acc = bysrc = NULL;
    if (glist_seed(&groups, &g)) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    /* the suggestions first (the statement stays open while the look-ups,
    ** other statements, run) */
    size_t cap = 64, n = 0;
    struct sug { int64_t order, at; char customer[PT_ID_MAX], sku[PT_NAME_MAX],
                 source[PT_NAME_MAX + 8], group[PT_ID_MAX]; } *s = malloc(cap * sizeof *s);
    if (!s) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_SUGGESTIONS);
    if (!st) { free(s); rc = r->p->code; goto done; }
    pt_bind_text(st, 1, prog);
    sqlite3_bind_int64(st, 2, r->from);
    sqlite3_bind_int64(st, 3, r->to);
    int got;
    while ((got = pt_row(r->p, st, "read suggestions")) > 0) {
      if (n == cap) {
        void *nv = realloc(s, 2 * cap * sizeof *s);
        if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
        s = nv;
        cap *= 2;
      }
      struct sug *x = &s[n++];
      x->order = sqlite3_column_int64(st, 0);
      char oid[PT_ID_MAX];
      if (pt_col_str_buf(r->p, st, 1, oid, sizeof oid) ||
          pt_col_str_buf(r->p, st, 2, x->customer, sizeof x->customer) ||
          pt_col_str_buf(r->p, st, 3, x->sku, sizeof x->sku) ||
          pt_col_str_buf(r->p, st, 5, x->source, sizeof x->source)) {
        got = -1;
        break;
      }
      x->at = sqlite3_column_int64(st, 4);
      if (!x->source[0]) snprintf(x->source, sizeof x->source, "(unknown)");
      group_of(&g, x->at, oid, x->group, sizeof x->group);
    }
    pt_stmt_done(st);
    if (got < 0) { free(s); rc = r->p->code; goto done; }
    for (size_t i = 0; i < n; i++)
      if (glist_find(&groups, s[i].group, true) < 0 || glist_find(&sources, s[i].source, true) < 0) {
        free(s);
        rc = pt_err(r->p, PATRON_NOMEM, "out of memory");
        goto done;
      }
    acc = calloc(groups.n + 1, sizeof *acc);
    bysrc = calloc(sources.n + 1, sizeof *bysrc);
    if (!acc || !bysrc) { free(s); rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    xs total = {0};
    for (size_t i = 0; i < n; i++) {
      bool same = false, later = false;
      if (!(st = pt_stmt(r->p, PT_SQL_REP_LINE_KEPT))) { free(s); rc = r->p->code; goto done; }
      sqlite3_bind_int64(st, 1, s[i].order);
      pt_bind_text(st, 2, s[i].sku);
      if ((rc = exists(r->p, st, &same))) { free(s); goto done; }
      if (!same && s[i].customer[0]) {
        if (!(st = pt_stmt(r->p, PT_SQL_REP_BOUGHT_LATER))) { free(s); rc = r->p->code; goto done; }
        pt_bind_text(st, 1, s[i].customer);
        pt_bind_text(st, 2, prog);
        sqlite3_bind_int64(st, 3, s[i].at);
        sqlite3_bind_int64(st, 4, s[i].at + ACCEPT_DAYS * PT_DAY);
        pt_bind_text(st, 5, s[i].sku);
        sqlite3_bind_int64(st, 6, s[i].order);
        if ((rc = exists(r->p, st, &later))) { free(s); goto done; }
      }
      xs *a = &acc[glist_find(&groups, s[i].group, false)];
      xs *b = &bysrc[glist_find(&sources, s[i].source, false)];
      xs *all[3] = {a, b, &total};
      for (int j = 0; j < 3; j++) {
        all[j]->shown++;
        all[j]->same += same;
        all[j]->later += later;
      }
    }
    free(s);
    if (g.periods || g.channel)
      for (size_t i = 0; i < groups.n; i++) xs_row(r, rows, prog, groups.name[i], "all", &acc[i]);
    xs_row(r, rows, prog, g.periods || g.channel ? "total" : "all", "all", &total);
    for (size_t i = 0; i < sources.n; i++)
      xs_row(r, srows, prog, "all", sources.name[i], &bysrc[i]);
  }
  static const char *const series[] = {"shown", "accepted", NULL};
  pt_report_chart(r, "crosssell", "bars", "group", nprog > 1 ? "program" : NULL, series);
  pt_report_define(r, "shown", "suggestions the rules made on committed orders "
                   "(suggestions_shown), one per order and sku");
  pt_report_define(r, "accepted", "the suggested sku is in the same order (and not "
                   "refunded), or the same customer bought it in an order within 30 "
                   "days after the suggestion");
  pt_report_define(r, "acceptance", "accepted / shown, floored to 0.01%");
  pt_report_note(r, "quotes are not recorded: a suggestion made on a quote and taken "
                    "before the commit is not seen unless the rule repeats it at commit");
done:
  free(acc);
  free(bysrc);
  free(groups.name);
  free(sources.name);
  free(g.pv);
  free(progs);
  return rc;
}

/* ---- bundles ------------------------------------------------------------------ */

typedef struct bord {
  int64_t id, at;
  char group[PT_ID_MAX];
  size_t line0, nlines;   /* into the lines array */
} bord;

typedef struct bline {
  char sku[PT_NAME_MAX];
  int64_t qty;
} bline;

typedef struct bacc {
  int64_t orders, eligible, with, saving;
} bacc;

static bool holds(const bord *o, const bline *lines, const pt_bundle *b) {
  for (size_t i = 0; i < b->nitems; i++) {
    int64_t have = 0;
    for (size_t j = 0; j < o->nlines; j++)
      if (strcmp(lines[o->line0 + j].sku, b->items[i].sku) == 0) have += lines[o->line0 + j].qty;
    if (have < b->items[i].qty) return false;
  }
  return true;
}

static ptrdiff_t find_order(const bord *v, size_t n, int64_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && v[lo].id == id ? (ptrdiff_t)lo : -1;
}

static void bundle_row(pt_report *r, json_t *rows, const char *program, const char *group,
                       const char *bundle, const bacc *a, bool known) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "group", group);
  pt_put_str(r, row, "bundle", bundle);
  pt_put_int(r, row, "orders", a->orders);
  if (known) pt_put_int(r, row, "eligible", a->eligible);
  else pt_put_null(r, row, "eligible");
  pt_put_int(r, row, "with_bundle", a->with);
  pt_put_int(r, row, "saving_cents", a->saving);
  if (a->with > 0) pt_put_int(r, row, "avg_saving_cents", a->saving / a->with);
  else pt_put_null(r, row, "avg_saving_cents");
  bool any = pt_put_rate(r, row, "share_of_orders_bp", a->with, a->orders);
  pt_put_rate(r, row, "uptake_bp", a->with, known ? a->eligible : 0);
  if (!any) pt_put_no_data(r, row);
  else pt_put_str(r, row, "note", known ? "" : "no longer in the configuration");
}

int pt_report_bundles(pt_report *r) {
  size_t nprog;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  grouping g = {0};
  glist groups = {0}, names = {0};
  bord *ov = NULL;
  bline *lv = NULL;
  bacc *acc = NULL;
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  if ((rc = grouping_init(r, &g))) goto done;
  const pt_col cols[] = {
      {"program", "program", "text"},      {"group", group_title(r), "text"},
      {"bundle", "bundle", "text"},        {"orders", "orders", "int"},
      {"eligible", "orders holding its items", "int"},
      {"with_bundle", "orders with the bundle", "int"},
      {"saving_cents", "saving given", "cents"},
      {"avg_saving_cents", "saving per order", "cents"},
      {"uptake_bp", "uptake", "bp"},       {"share_of_orders_bp", "share of orders", "bp"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "bundles", "Bundle uptake", cols,
                                 sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    const char *prog = progs[k]->name;
    size_t no = 0, ocap = 64, nl = 0, lcap = 256;
    free(ov); free(lv); free(acc);
    acc = NULL;
    groups.n = names.n = 0;
    ov = malloc(ocap * sizeof *ov);
    lv = malloc(lcap * sizeof *lv);
    if (!ov || !lv || glist_seed(&groups, &g)) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    for (size_t b = 0; b < r->cfg->nbundles; b++)
      if (glist_find(&names, r->cfg->bundles[b].name, true) < 0) {
        rc = pt_err(r->p, PATRON_NOMEM, "out of memory");
        goto done;
      }
    sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_ORDER_LINES);
    if (!st) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, prog);
    sqlite3_bind_int64(st, 2, r->from);
    sqlite3_bind_int64(st, 3, r->to);
    int got;
    while ((got = pt_row(r->p, st, "read order lines")) > 0) {
      int64_t id = sqlite3_column_int64(st, 0);
      if (no == 0 || ov[no - 1].id != id) {
        const char *oid;
        if (pt_col_str(r->p, st, 1, &oid)) { got = -1; break; }
        if (no == ocap) {
          void *nv = realloc(ov, 2 * ocap * sizeof *ov);
          if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
          ov = nv;
          ocap *= 2;
        }
        bord *o = &ov[no++];
        o->id = id;
        o->at = sqlite3_column_int64(st, 2);
        o->line0 = nl;
        o->nlines = 0;
        group_of(&g, o->at, oid, o->group, sizeof o->group);
      }
      if (nl == lcap) {
        void *nv = realloc(lv, 2 * lcap * sizeof *lv);
        if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
        lv = nv;
        lcap *= 2;
      }
      if (pt_col_str_buf(r->p, st, 3, lv[nl].sku, sizeof lv[nl].sku)) { got = -1; break; }
      lv[nl].qty = sqlite3_column_int64(st, 4);
      nl++;
      ov[no - 1].nlines++;
    }
    pt_stmt_done(st);
    if (got < 0) { rc = r->p->code; goto done; }
    for (size_t i = 0; i < no; i++)
      if (glist_find(&groups, ov[i].group, true) < 0) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    /* the bundles the orders got, by name (old names too) */
    struct badj { int64_t order, cents; char name[PT_NAME_MAX]; } *adj = NULL;
    size_t na = 0, acap = 0;
    if (!(st = pt_stmt(r->p, PT_SQL_REP_BUNDLE_ADJ))) { rc = r->p->code; goto done; }
    pt_bind_text(st, 1, prog);
    sqlite3_bind_int64(st, 2, r->from);
    sqlite3_bind_int64(st, 3, r->to);
    while ((got = pt_row(r->p, st, "read bundle discounts")) > 0) {
      if (na == acap) {
        acap = acap ? 2 * acap : 64;
        void *nv = realloc(adj, acap * sizeof *adj);
        if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
        adj = nv;
      }
      const char *source; /* "bundle:NAME" */
      if (pt_col_str(r->p, st, 1, &source)) { got = -1; break; }
      adj[na].order = sqlite3_column_int64(st, 0);
      snprintf(adj[na].name, sizeof adj[na].name, "%s",
               source && strlen(source) >= 7 ? source + 7 : "");
      adj[na].cents = sqlite3_column_int64(st, 2);
      na++;
    }
    pt_stmt_done(st);
    if (got < 0) { free(adj); rc = r->p->code; goto done; }
    for (size_t i = 0; i < na; i++)
      if (glist_find(&names, adj[i].name, true) < 0) { free(adj); rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    size_t ng = groups.n + 1, nb = names.n;
    acc = calloc(ng * (nb ? nb : 1), sizeof *acc);
    if (!acc) { free(adj); rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
#define A(gi, bi) acc[(size_t)(gi) * nb + (size_t)(bi)]
    for (size_t i = 0; i < no; i++) {
      size_t gi = (size_t)glist_find(&groups, ov[i].group, false);
      for (size_t b = 0; b < nb; b++) {
        A(gi, b).orders++;
        A(groups.n, b).orders++;
        const pt_bundle *bu = pt_config_bundle(r->cfg, names.name[b]);
        if (bu && holds(&ov[i], lv, bu)) {
          A(gi, b).eligible++;
          A(groups.n, b).eligible++;
        }
      }
    }
    /* one "with" per order and bundle, savings summed */
    for (size_t i = 0; i < na; i++) {
      ptrdiff_t oi = find_order(ov, no, adj[i].order);
      ptrdiff_t b = glist_find(&names, adj[i].name, false);
      if (oi < 0 || b < 0) continue;
      size_t gi = (size_t)glist_find(&groups, ov[oi].group, false);
      bool seen = false;
      for (size_t j = 0; j < i; j++)
        if (adj[j].order == adj[i].order && strcmp(adj[j].name, adj[i].name) == 0) seen = true;
      if (!seen) {
        A(gi, b).with++;
        A(groups.n, b).with++;
      }
      A(gi, b).saving += adj[i].cents;
      A(groups.n, b).saving += adj[i].cents;
    }
    free(adj);
    for (size_t b = 0; b < nb; b++) {
      bool known = pt_config_bundle(r->cfg, names.name[b]) != NULL;
      if (g.periods || g.channel)
        for (size_t gi = 0; gi < groups.n; gi++)
          bundle_row(r, rows, prog, groups.name[gi], names.name[b], &A(gi, b), known);
      bundle_row(r, rows, prog, g.periods || g.channel ? "total" : "all", names.name[b],
                 &A(groups.n, b), known);
    }
#undef A
  }
  static const char *const series[] = {"eligible", "with_bundle", NULL};
  pt_report_chart(r, "bundles", "bars", "bundle", g.periods || g.channel ? "group" : NULL,
                  series);
  pt_report_define(r, "eligible", "orders holding every item of the bundle in its "
                   "quantities (what is left after refunds), by the bundle's definition "
                   "in the active configuration");
  pt_report_define(r, "uptake", "orders with the bundle / eligible orders (below 100% "
                   "when bundles compete for the same units, or the definition changed)");
  pt_report_define(r, "share_of_orders", "orders with the bundle / all orders");
  pt_report_define(r, "saving", "the bundle discounts given (order_adjustments "
                   "bundle:NAME), per order with the bundle");
done:
  free(ov);
  free(lv);
  free(acc);
  free(groups.name);
  free(names.name);
  free(g.pv);
  free(progs);
  return rc;
}

/* ---- shipping ---------------------------------------------------------------- */

typedef struct sacc {
  int64_t orders, no_rule, below, near_below, at, just_above, above;
  int64_t shipping, goods, paid_shipping, ruled_goods, ruled_threshold;
  int64_t nudged, crossed;
} sacc;

static void ship_row(pt_report *r, json_t *rows, const char *program, const char *group,
                     const sacc *a) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "group", group);
  pt_put_int(r, row, "orders", a->orders);
  pt_put_int(r, row, "no_rule", a->no_rule);
  pt_put_int(r, row, "below", a->below);
  pt_put_int(r, row, "near_below", a->near_below);
  pt_put_int(r, row, "at_threshold", a->at);
  pt_put_int(r, row, "just_above", a->just_above);
  pt_put_int(r, row, "well_above", a->above);
  pt_put_int(r, row, "paid_shipping", a->paid_shipping);
  pt_put_int(r, row, "shipping_revenue_cents", a->shipping);
  if (a->orders) pt_put_int(r, row, "avg_goods_cents", a->goods / a->orders);
  else pt_put_null(r, row, "avg_goods_cents");
  int64_t ruled = a->orders - a->no_rule;
  pt_put_rate(r, row, "avg_vs_threshold_bp", a->ruled_goods, a->ruled_threshold);
  pt_put_int(r, row, "nudged", a->nudged);
  pt_put_int(r, row, "crossed", a->crossed);
  pt_put_rate(r, row, "crossed_share_bp", a->crossed, a->nudged);
  if (a->orders == 0) pt_put_no_data(r, row);
  else pt_put_str(r, row, "note", ruled ? "" : "no free-shipping rule applied");
}

int pt_report_shipping(pt_report *r) {
  size_t nprog;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  grouping g = {0};
  glist groups = {0};
  sacc *acc = NULL;
  size_t cap = 0;
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  if ((rc = grouping_init(r, &g))) goto done;
  const pt_col cols[] = {
      {"program", "program", "text"},  {"group", group_title(r), "text"},
      {"orders", "orders", "int"},     {"no_rule", "no rule", "int"},
      {"below", "below", "int"},       {"near_below", "within 10% below", "int"},
      {"at_threshold", "at", "int"},   {"just_above", "within 10% above", "int"},
      {"well_above", "well above", "int"},
      {"paid_shipping", "paid shipping", "int"},
      {"shipping_revenue_cents", "shipping revenue", "cents"},
      {"avg_goods_cents", "average goods", "cents"},
      {"avg_vs_threshold_bp", "average vs threshold", "bp"},
      {"nudged", "nudged (tracked quotes)", "int"},
      {"crossed", "then crossed", "int"},
      {"crossed_share_bp", "crossed share", "bp"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "shipping", "Orders against the free-shipping threshold",
                                 cols, sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    const char *prog = progs[k]->name;
    groups.n = 0;
    if (glist_seed(&groups, &g)) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    if (cap < groups.n + 1) {
      cap = groups.n + 16;
      void *nv = realloc(acc, cap * sizeof *acc);
      if (!nv) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
      acc = nv;
    }
    memset(acc, 0, cap * sizeof *acc);
    sacc total = {0};
    for (int pass = 0; pass < 2; pass++) {
      sqlite3_stmt *st = pt_stmt(r->p, pass == 0 ? PT_SQL_REP_SHIPPING_ORDERS : PT_SQL_REP_NUDGES);
      if (!st) { rc = r->p->code; goto done; }
      pt_bind_text(st, 1, prog);
      sqlite3_bind_int64(st, 2, r->from);
      sqlite3_bind_int64(st, 3, r->to);
      int got;
      while ((got = pt_row(r->p, st, "read orders")) > 0) {
        char grp[PT_ID_MAX];
        const char *oid;
        if (pt_col_str(r->p, st, 0, &oid)) { got = -1; break; }
        group_of(&g, sqlite3_column_int64(st, 1), oid, grp, sizeof grp);
        ptrdiff_t gi = glist_find(&groups, grp, true);
        if (gi < 0) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
        if (groups.n + 1 > cap) {
          size_t ncap = 2 * cap;
          void *nv = realloc(acc, ncap * sizeof *acc);
          if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
          acc = nv;
          memset(acc + cap, 0, (ncap - cap) * sizeof *acc);
          cap = ncap;
        }
        sacc *a[2] = {&acc[gi], &total};
        if (pass == 1) {
          int64_t quoted = sqlite3_column_int64(st, 2), missing = sqlite3_column_int64(st, 3);
          if (quoted > 0)
            for (int j = 0; j < 2; j++) {
              a[j]->nudged++;
              a[j]->crossed += missing == 0 && sqlite3_column_type(st, 4) != SQLITE_NULL;
            }
          continue;
        }
        int64_t goods = sqlite3_column_int64(st, 2), ship = sqlite3_column_int64(st, 4);
        bool rule = sqlite3_column_type(st, 3) != SQLITE_NULL;
        int64_t t = sqlite3_column_int64(st, 3);
        for (int j = 0; j < 2; j++) {
          sacc *x = a[j];
          x->orders++;
          x->goods += goods;
          x->shipping += ship;
          x->paid_shipping += ship > 0;
          if (!rule) { x->no_rule++; continue; }
          x->ruled_goods += goods;
          x->ruled_threshold += t;
          if (goods < t) {
            x->below++;
            if (goods >= t - t / 10) x->near_below++;
          } else if (goods == t) {
            x->at++;
          } else if (goods <= t + t / 10) {
            x->just_above++;
          } else {
            x->above++;
          }
        }
      }
      pt_stmt_done(st);
      if (got < 0) { rc = r->p->code; goto done; }
    }
    if (g.periods || g.channel)
      for (size_t i = 0; i < groups.n; i++) ship_row(r, rows, prog, groups.name[i], &acc[i]);
    ship_row(r, rows, prog, g.periods || g.channel ? "total" : "all", &total);
  }
  static const char *const series[] = {"below", "at_threshold", "just_above", "well_above",
                                       NULL};
  pt_report_chart(r, "shipping", "bars", "group", nprog > 1 ? "program" : NULL, series);
  pt_report_define(r, "goods", "an order's subtotal after discounts (before points), "
                   "compared with the threshold that applied to it");
  pt_report_define(r, "bands", "below: goods < threshold (within 10% below: goods >= "
                   "threshold - threshold / 10); at: equal; just above: up to threshold + "
                   "threshold / 10; well above: more");
  pt_report_define(r, "avg_vs_threshold", "sum of goods / sum of thresholds over orders "
                   "with a rule");
  pt_report_define(r, "nudged", "commits whose customer's last tracked quote (\"track\": "
                   "true) was below the threshold and said how much was missing; crossed: "
                   "the order then reached it");
  pt_report_note(r, "quotes are not recorded: nudges are measured only for carts quoted "
                    "with \"track\": true");
done:
  free(acc);
  free(groups.name);
  free(g.pv);
  free(progs);
  return rc;
}

/* ---- subs --------------------------------------------------------------------- */

typedef struct hrow {
  int64_t at, mrr;
  int voluntary;             /* -1: null */
  char sub[64], from[16], to[16], reason[32], plan[PT_NAME_MAX];
} hrow;

static bool live(const char *status) {
  return strcmp(status, "active") == 0 || strcmp(status, "past_due") == 0;
}

static bool ending(const char *status) {
  return strcmp(status, "canceled") == 0 || strcmp(status, "expired") == 0 ||
         strcmp(status, "suspended") == 0;
}

/* The last row of h[b, e) (one subscription, by time) at or before t. */
static const hrow *state_at(const hrow *h, size_t b, size_t e, int64_t t) {
  const hrow *s = NULL;
  for (size_t i = b; i < e && h[i].at <= t; i++) s = &h[i];
  return s;
}

typedef struct subacc {
  int64_t active_start, active_end, trialing_end, mrr_start, mrr_end, fresh;
  int64_t churned, voluntary, involuntary, dunning, recovered, revenue;
} subacc;

static void subs_row(pt_report *r, json_t *rows, const char *label, const subacc *a,
                     bool partial) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "period", label);
  pt_put_int(r, row, "active_start", a->active_start);
  pt_put_int(r, row, "active_end", a->active_end);
  pt_put_int(r, row, "trialing_end", a->trialing_end);
  pt_put_int(r, row, "mrr_start_cents", a->mrr_start);
  pt_put_int(r, row, "mrr_end_cents", a->mrr_end);
  pt_put_int(r, row, "new", a->fresh);
  pt_put_int(r, row, "churned", a->churned);
  pt_put_int(r, row, "churned_voluntary", a->voluntary);
  pt_put_int(r, row, "churned_involuntary", a->involuntary);
  pt_put_rate(r, row, "churn_rate_bp", a->churned, a->active_start);
  pt_put_int(r, row, "entered_dunning", a->dunning);
  pt_put_int(r, row, "recovered", a->recovered);
  pt_put_rate(r, row, "recovery_rate_bp", a->recovered, a->dunning);
  pt_put_int(r, row, "revenue_recovered_cents", a->revenue);
  bool any = a->active_start || a->active_end || a->trialing_end || a->fresh || a->churned ||
             a->dunning || a->revenue;
  if (!any) pt_put_no_data(r, row);
  else pt_put_str(r, row, "note", partial ? "partial period" : "");
}

/* The plans table: active subscriptions and MRR per plan at the end of the
** window, in the order the plans are first met. */
static void plans_table(pt_report *r, const hrow *h, size_t n) {
  static const pt_col pcols[] = {{"plan", "plan", "text"}, {"active", "active", "int"},
                                 {"mrr_cents", "MRR", "cents"}};
  json_t *prow = pt_report_table(r, "plans", "Active subscriptions by plan at the end",
                                 pcols, 3);
  size_t i;
  json_t *x;
  for (size_t b = 0; b < n;) {
    size_t e = b;
    while (e < n && strcmp(h[e].sub, h[b].sub) == 0) e++;
    const hrow *s1 = state_at(h, b, e, r->to - 1);
    b = e;
    if (!s1 || !live(s1->to)) continue;
    json_t *row = NULL;
    json_array_foreach(prow, i, x) {
      const char *plan = json_string_value(json_object_get(x, "plan"));
      if (plan && strcmp(plan, s1->plan) == 0) row = x;
    }
    if (!row) {
      row = pt_report_row(r, prow);
      pt_put_str(r, row, "plan", s1->plan);
      pt_put_int(r, row, "active", 0);
      pt_put_int(r, row, "mrr_cents", 0);
    }
    pt_put_int(r, row, "active", json_integer_value(json_object_get(row, "active")) + 1);
    pt_put_int(r, row, "mrr_cents",
               json_integer_value(json_object_get(row, "mrr_cents")) + s1->mrr);
  }
}

int pt_report_subs(pt_report *r) {
  sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_TABLE_EXISTS);
  if (!st) return r->p->code;
  pt_bind_text(st, 1, "subscription_history");
  int got = pt_row(r->p, st, "find subscriptions");
  pt_stmt_done(st);
  if (got < 0) return r->p->code;
  int rc;
  if (!got) {
    pt_report_window(r, 0);
    static const pt_col cols[] = {{"period", "period", "text"}, {"note", "note", "text"}};
    json_t *rows = pt_report_table(r, "subs", "Subscriptions", cols, 2);
    json_t *row = pt_report_row(r, rows);
    pt_put_str(r, row, "period", "all");
    pt_put_str(r, row, "note", "no subscription data");
    pt_report_note(r, "no subscription data: this database has no subscriptions");
    return PATRON_OK;
  }
  int64_t first = 0;
  if (!(st = pt_stmt(r->p, PT_SQL_REP_SUBS_FIRST))) return r->p->code;
  got = pt_row(r->p, st, "first subscription");
  if (got > 0 && sqlite3_column_type(st, 0) != SQLITE_NULL) first = sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (got < 0) return r->p->code;
  pt_report_window(r, first);
  pt_period *pv = NULL;
  size_t np = 0, n = 0, cap = 64;
  hrow *h = NULL;
  subacc *acc = NULL;
  if ((rc = pt_report_periods(r, &pv, &np))) return rc;
  h = malloc(cap * sizeof *h);
  acc = calloc(np + 1, sizeof *acc);
  if (!h || !acc) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
  if (!(st = pt_stmt(r->p, PT_SQL_REP_SUBS_HISTORY))) { rc = r->p->code; goto done; }
  sqlite3_bind_int64(st, 1, r->to);
  while ((got = pt_row(r->p, st, "read subscription history")) > 0) {
    if (n == cap) {
      void *nv = realloc(h, 2 * cap * sizeof *h);
      if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
      h = nv;
      cap *= 2;
    }
    hrow *x = &h[n];
    if (pt_col_str_buf(r->p, st, 0, x->sub, sizeof x->sub) ||
        pt_col_str_buf(r->p, st, 2, x->from, sizeof x->from) ||
        pt_col_str_buf(r->p, st, 3, x->to, sizeof x->to) ||
        pt_col_str_buf(r->p, st, 4, x->reason, sizeof x->reason) ||
        pt_col_str_buf(r->p, st, 7, x->plan, sizeof x->plan)) {
      got = -1;
      break;
    }
    x->at = sqlite3_column_int64(st, 1);
    x->voluntary = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 5);
    x->mrr = sqlite3_column_int64(st, 6);
    n++;
  }
  pt_stmt_done(st);
  if (got < 0) { rc = r->p->code; goto done; }
  subacc *tot = &acc[np];
  for (size_t b = 0; b < n;) {
    size_t e = b;
    while (e < n && strcmp(h[e].sub, h[b].sub) == 0) e++;
    for (size_t i = 0; i < np; i++) {
      const hrow *s0 = state_at(h, b, e, pv[i].from - 1);
      const hrow *s1 = state_at(h, b, e, pv[i].to - 1);
      if (s0 && live(s0->to)) { acc[i].active_start++; acc[i].mrr_start += s0->mrr; }
      if (s1 && live(s1->to)) { acc[i].active_end++; acc[i].mrr_end += s1->mrr; }
      if (s1 && strcmp(s1->to, "trialing") == 0) acc[i].trialing_end++;
    }
    for (size_t k = b; k < e; k++) {
      ptrdiff_t i = pt_period_find(pv, np, h[k].at);
      if (i < 0) continue;
      subacc *a[2] = {&acc[i], tot};
      bool created = strcmp(h[k].reason, "created") == 0;
      bool churn = ending(h[k].to) && !ending(h[k].from);
      bool dun = strcmp(h[k].to, "past_due") == 0 && strcmp(h[k].from, "past_due") != 0;
      bool back = false;
      if (dun) /* recovered later, before dunning started again */
        for (size_t j = k + 1; j < e; j++) {
          if (strcmp(h[j].to, "past_due") == 0 && strcmp(h[j].from, "past_due") != 0) break;
          if (strcmp(h[j].reason, "recovered") == 0) { back = true; break; }
        }
      for (int j = 0; j < 2; j++) {
        a[j]->fresh += created;
        if (churn) {
          a[j]->churned++;
          if (h[k].voluntary == 1) a[j]->voluntary++;
          else a[j]->involuntary++;
        }
        a[j]->dunning += dun;
        a[j]->recovered += back;
      }
    }
    b = e;
  }
  if (!(st = pt_stmt(r->p, PT_SQL_REP_SUBS_RECOVERED))) { rc = r->p->code; goto done; }
  sqlite3_bind_int64(st, 1, r->from);
  sqlite3_bind_int64(st, 2, r->to);
  while ((got = pt_row(r->p, st, "read recovered charges")) > 0) {
    ptrdiff_t i = pt_period_find(pv, np, sqlite3_column_int64(st, 0));
    if (i < 0) continue;
    acc[i].revenue += sqlite3_column_int64(st, 1);
    tot->revenue += sqlite3_column_int64(st, 1);
  }
  pt_stmt_done(st);
  if (got < 0) { rc = r->p->code; goto done; }
  tot->active_start = acc[0].active_start;
  tot->mrr_start = acc[0].mrr_start;
  tot->active_end = acc[np - 1].active_end;
  tot->mrr_end = acc[np - 1].mrr_end;
  tot->trialing_end = acc[np - 1].trialing_end;
  static const pt_col cols[] = {
      {"period", "period", "text"},
      {"active_start", "active at start", "int"},
      {"active_end", "active at end", "int"},
      {"trialing_end", "trialing at end", "int"},
      {"mrr_start_cents", "MRR at start", "cents"},
      {"mrr_end_cents", "MRR at end", "cents"},
      {"new", "new", "int"},
      {"churned", "churned", "int"},
      {"churned_voluntary", "voluntary", "int"},
      {"churned_involuntary", "involuntary", "int"},
      {"churn_rate_bp", "churn", "bp"},
      {"entered_dunning", "entered dunning", "int"},
      {"recovered", "recovered", "int"},
      {"recovery_rate_bp", "recovery rate", "bp"},
      {"revenue_recovered_cents", "revenue recovered", "cents"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "subs", "Subscriptions", cols, sizeof cols / sizeof cols[0]);
  for (size_t i = 0; i < np; i++) subs_row(r, rows, pv[i].label, &acc[i], pv[i].partial);
  subs_row(r, rows, "total", tot, false);
  plans_table(r, h, n);
  static const char *const series[] = {"mrr_end_cents", NULL};
  pt_report_chart(r, "subs", "bars", "period", NULL, series);
  pt_report_define(r, "active", "subscriptions whose status at the time is active or "
                   "past_due (access kept during dunning); trialing ones apart");
  pt_report_define(r, "mrr", "sum of the active subscriptions' locked prices as monthly "
                   "amounts: floor(price x periods per year / (12 x count)), an annual plan "
                   "/ 12 floored");
  pt_report_define(r, "churned", "subscriptions entering canceled, expired or suspended "
                   "in the period: voluntary (the customer) or involuntary (dunning)");
  pt_report_define(r, "churn_rate", "churned / active at start");
  pt_report_define(r, "recovery_rate", "of the subscriptions entering dunning (past_due) in "
                   "the period, those recovered since (a later 'recovered' step before any "
                   "new dunning)");
  pt_report_define(r, "revenue_recovered", "successful retry charges (is_retry = 1, ok) "
                   "answered in the period");
  if (r->o->program && *r->o->program)
    pt_report_note(r, "subscriptions are not per loyalty program: --program does not apply");
  rc = PATRON_OK;
done:
  free(h);
  free(acc);
  free(pv);
  return rc;
}
