/*
** report_customers.c -- the customer reports: clv (customer lifetime
** value with its inputs, overall, by tier or by channel, and with margin
** when the catalog knows costs), retention and churn per period, repeat
** rate, and health (RFM scores and the at-risk list for win-back offers).
** Only named customers count (anonymous orders have no customer to keep).
**
** Order value: what is left of an order after refunds, goods after
** discounts, before points (points are a way of paying; their cost shows
** in the margin): sum over lines of (qty x unit - discount) x (qty -
** refunded) / qty, floored per line. A fully refunded order does not
** count as an order.
**
** CLV = AOV x F x L, from the orders of the window (DESIGN.md section 10):
**   AOV  revenue / orders
**   F    orders per customer per year, from customers with 2+ orders:
**        sum(n - 1) / sum(last - first) (their purchase rate while active)
**   L    average lifetime in years over all customers: a customer with n
**        >= 2 orders lived (last - first) x n / (n - 1) (the span plus the
**        one interval the last order covers: 24 monthly payments make 24
**        months); a one-order customer lived one interval, 1 / F
** so that CLV = revenue per customer when the window holds whole customer
** lives. It is computed from the exact fractions (a year = 365.25 days)
** and rounded to the nearest cent; the inputs shown are floored to 0.001.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"

typedef struct ord {
  int64_t rowid, at, net, redeem, cogs, uncosted, units;
  char *customer;             /* NULL: anonymous */
  char *order_id;
  char tier[PT_NAME_MAX];
  char group[PT_ID_MAX];
} ord;

static void free_orders(ord *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    free(v[i].customer);
    free(v[i].order_id);
  }
  free(v);
}

/* The orders of [from, to) with their values, sorted by customer, time. */
static int load_orders(pt_report *r, const char *program, int64_t from, int64_t to,
                       ord **out, size_t *n) {
  size_t cap = 64;
  ord *v = malloc(cap * sizeof *v);
  *out = NULL;
  *n = 0;
  if (!v) return pt_err(r->p, PATRON_NOMEM, "out of memory");
  sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_ORDER_VALUES);
  if (!st) { free(v); return r->p->code; }
  pt_bind_text(st, 1, program);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  int got;
  while ((got = pt_row(r->p, st, "read orders")) > 0) {
    if (*n == cap) {
      ord *nv = realloc(v, 2 * cap * sizeof *v);
      if (!nv) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
      v = nv;
      cap *= 2;
    }
    ord *o = &v[*n];
    memset(o, 0, sizeof *o);
    const char *oid, *cust; /* cust NULL: an anonymous order */
    if (pt_col_str(r->p, st, 1, &oid) || pt_col_str(r->p, st, 2, &cust) ||
        pt_col_str_buf(r->p, st, 4, o->tier, sizeof o->tier)) {
      got = -1;
      break;
    }
    o->rowid = sqlite3_column_int64(st, 0);
    o->order_id = pt_strdup(oid ? oid : "");
    o->customer = cust ? pt_strdup(cust) : NULL;
    o->at = sqlite3_column_int64(st, 3);
    o->net = sqlite3_column_int64(st, 5);
    o->redeem = sqlite3_column_int64(st, 6);
    o->cogs = sqlite3_column_int64(st, 7);
    o->uncosted = sqlite3_column_int64(st, 8);
    o->units = sqlite3_column_int64(st, 9);
    (*n)++;
    if (!o->order_id || (cust && !o->customer)) {
      pt_err(r->p, PATRON_NOMEM, "out of memory");
      got = -1;
      break;
    }
  }
  pt_stmt_done(st);
  if (got < 0) {
    free_orders(v, *n);
    *n = 0;
    return r->p->code;
  }
  *out = v;
  return PATRON_OK;
}

/* load_orders, keeping the counted orders (units > 0) of named customers. */
static int load_customer_orders(pt_report *r, const char *program, int64_t from, int64_t to,
                                ord **out, size_t *n) {
  int rc = load_orders(r, program, from, to, out, n);
  if (rc) return rc;
  ord *v = *out;
  size_t m = 0;
  for (size_t i = 0; i < *n; i++) {
    if (v[i].customer && v[i].units > 0) v[m++] = v[i];
    else { free(v[i].customer); free(v[i].order_id); }
  }
  *n = m;
  return PATRON_OK;
}

static int cmp_group_customer(const void *a, const void *b) {
  const ord *x = a, *y = b;
  int c = strcmp(x->group, y->group);
  if (c) return c;
  c = strcmp(x->customer ? x->customer : "", y->customer ? y->customer : "");
  if (c) return c;
  return x->at < y->at ? -1 : x->at > y->at ? 1 : (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

/* Sets each order's group for --by (tier, channel, or one group). */
static void set_groups(pt_report *r, ord *v, size_t n) {
  const char *by = r->o->by ? r->o->by : "";
  for (size_t i = 0; i < n; i++) {
    if (strcmp(by, "tier") == 0)
      snprintf(v[i].group, sizeof v[i].group, "%s", v[i].tier[0] ? v[i].tier : "(none)");
    else if (strcmp(by, "channel") == 0)
      pt_order_channel(v[i].order_id, v[i].group, sizeof v[i].group);
    else
      snprintf(v[i].group, sizeof v[i].group, "all");
  }
}

/* "12.345" from a value in thousandths */
static void milli_text(pt_report *r, json_t *row, const char *key, int64_t milli) {
  char buf[40];
  snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(milli / 1000), (long long)(milli % 1000));
  pt_put_str(r, row, key, buf);
}

/* ---- clv -------------------------------------------------------------------- */

typedef struct clv_acc {
  int64_t orders, revenue, cogs, redeem, uncosted;
  int64_t customers, repeaters, once;
  int64_t a;          /* sum(n - 1) over repeaters */
  int64_t s;          /* sum(last - first) over repeaters, seconds */
  __int128 lrep;      /* sum of repeaters' lifetimes, seconds */
} clv_acc;

static int64_t round_div(__int128 num, __int128 den) {
  if (den <= 0) return 0;
  __int128 q = (2 * num + den) / (2 * den);
  return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

static int64_t floor_div128(__int128 num, __int128 den) {
  if (den <= 0) return 0;
  __int128 q = num / den;
  return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* Folds one customer's orders (counted ones only) into acc. */
static void clv_customer(clv_acc *acc, int64_t n, int64_t first, int64_t last) {
  if (n <= 0) return;
  acc->customers++;
  if (n == 1) {
    acc->once++;
    return;
  }
  acc->repeaters++;
  acc->a += n - 1;
  acc->s += last - first;
  acc->lrep += (__int128)(last - first) * n / (n - 1);
}

static void clv_row(pt_report *r, json_t *rows, const char *program, const char *group,
                    const clv_acc *c) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "group", group);
  pt_put_int(r, row, "customers", c->customers);
  pt_put_int(r, row, "repeat_customers", c->repeaters);
  pt_put_int(r, row, "orders", c->orders);
  pt_put_int(r, row, "revenue_cents", c->revenue);
  if (c->orders > 0) pt_put_int(r, row, "aov_cents", c->revenue / c->orders);
  else pt_put_null(r, row, "aov_cents");
  if (c->s <= 0) {
    /* no purchase interval to measure: F and L are unknown */
    pt_put_null(r, row, "frequency_per_year_milli");
    pt_put_str(r, row, "frequency_per_year", "no data");
    pt_put_null(r, row, "lifetime_years_milli");
    pt_put_str(r, row, "lifetime_years", "no data");
    pt_put_null(r, row, "clv_cents");
    if (c->uncosted == 0 && c->orders > 0)
      pt_put_int(r, row, "contribution_cents", c->revenue - c->cogs - c->redeem);
    else
      pt_put_null(r, row, "contribution_cents");
    pt_put_null(r, row, "clv_margin_cents");
    pt_put_rate(r, row, "cost_coverage_bp", c->revenue - c->uncosted, c->revenue);
    if (c->orders == 0) pt_put_no_data(r, row);
    else pt_put_str(r, row, "note", "no data: no customer with two orders at different times");
    return;
  }
  /* L = lnum / (a x customers) seconds; CLV = revenue x lnum /
  ** (orders x s x customers) */
  __int128 lnum = (__int128)c->a * c->lrep + (__int128)c->once * c->s;
  __int128 den = (__int128)c->orders * c->s * c->customers;
  int64_t fmilli = floor_div128((__int128)c->a * PT_YEAR_SECONDS * 1000, c->s);
  int64_t lmilli = floor_div128(lnum * 1000, (__int128)c->a * c->customers * PT_YEAR_SECONDS);
  pt_put_int(r, row, "frequency_per_year_milli", fmilli);
  milli_text(r, row, "frequency_per_year", fmilli);
  pt_put_int(r, row, "lifetime_years_milli", lmilli);
  milli_text(r, row, "lifetime_years", lmilli);
  pt_put_int(r, row, "clv_cents", round_div((__int128)c->revenue * lnum, den));
  if (c->uncosted == 0) {
    int64_t contrib = c->revenue - c->cogs - c->redeem;
    pt_put_int(r, row, "contribution_cents", contrib);
    __int128 num = (__int128)(contrib < 0 ? -contrib : contrib) * lnum;
    int64_t m = round_div(num, den);
    pt_put_int(r, row, "clv_margin_cents", contrib < 0 ? -m : m);
  } else {
    pt_put_null(r, row, "contribution_cents");
    pt_put_null(r, row, "clv_margin_cents");
  }
  pt_put_rate(r, row, "cost_coverage_bp", c->revenue - c->uncosted, c->revenue);
  pt_put_str(r, row, "note", c->uncosted ? "margin: some goods sold have no cost_cents" : "");
}

int pt_report_clv(pt_report *r) {
  size_t nprog, n = 0;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  ord *v = NULL;
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  static const pt_col cols[] = {
      {"program", "program", "text"},
      {"group", "group", "text"},
      {"customers", "customers", "int"},
      {"repeat_customers", "with 2+ orders", "int"},
      {"orders", "orders", "int"},
      {"revenue_cents", "revenue", "cents"},
      {"aov_cents", "AOV", "cents"},
      {"frequency_per_year_milli", "orders per year", "milli"},
      {"lifetime_years_milli", "lifetime (years)", "milli"},
      {"clv_cents", "CLV", "cents"},
      {"contribution_cents", "contribution", "cents"},
      {"clv_margin_cents", "CLV (margin)", "cents"},
      {"cost_coverage_bp", "cost known for", "bp"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "clv", "Customer lifetime value", cols,
                                 sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    free_orders(v, n);
    v = NULL;
    if ((rc = load_customer_orders(r, progs[k]->name, r->from, r->to, &v, &n))) goto done;
    set_groups(r, v, n);
    qsort(v, n, sizeof *v, cmp_group_customer);
    clv_acc all = {0};
    size_t i = 0;
    bool grouped = r->o->by && *r->o->by;
    while (i < n) {
      clv_acc acc = {0};
      size_t g = i;
      while (i < n && strcmp(v[i].group, v[g].group) == 0) {
        size_t c = i;
        int64_t cnt = 0;
        while (i < n && strcmp(v[i].group, v[g].group) == 0 &&
               strcmp(v[i].customer, v[c].customer) == 0) {
          acc.orders++;
          acc.revenue += v[i].net;
          acc.cogs += v[i].cogs;
          acc.redeem += v[i].redeem;
          acc.uncosted += v[i].uncosted;
          cnt++;
          i++;
        }
        clv_customer(&acc, cnt, v[c].at, v[i - 1].at);
      }
      if (grouped) clv_row(r, rows, progs[k]->name, v[g].group, &acc);
    }
    /* the overall row: customers across groups counted once */
    if (grouped) {
      for (size_t j = 0; j < n; j++) snprintf(v[j].group, sizeof v[j].group, "all");
      qsort(v, n, sizeof *v, cmp_group_customer);
    }
    memset(&all, 0, sizeof all);
    i = 0;
    while (i < n) {
      size_t c = i;
      int64_t cnt = 0;
      while (i < n && strcmp(v[i].customer, v[c].customer) == 0) {
        all.orders++;
        all.revenue += v[i].net;
        all.cogs += v[i].cogs;
        all.redeem += v[i].redeem;
        all.uncosted += v[i].uncosted;
        cnt++;
        i++;
      }
      clv_customer(&all, cnt, v[c].at, v[i - 1].at);
    }
    clv_row(r, rows, progs[k]->name, grouped ? "total" : "all", &all);
  }
  static const char *const series[] = {"aov_cents", "clv_cents", "clv_margin_cents", NULL};
  pt_report_chart(r, "clv", "bars", "group", nprog > 1 ? "program" : NULL, series);
  pt_report_define(r, "order value", "goods after discounts, before points, less refunded "
                   "units: sum of (qty x unit - discount) x (qty - refunded) / qty per line; "
                   "fully refunded orders do not count");
  pt_report_define(r, "aov", "revenue / orders (named customers' orders in the window)");
  pt_report_define(r, "frequency", "orders per customer per year while active, from "
                   "customers with 2+ orders: sum(n - 1) / sum(last - first), a year = "
                   "365.25 days");
  pt_report_define(r, "lifetime", "average over customers of (last - first) x n / (n - 1) "
                   "years for n >= 2 orders, 1 / frequency for one order");
  pt_report_define(r, "clv", "AOV x frequency x lifetime from the exact fractions, rounded "
                   "to the cent (= revenue per customer over whole lives)");
  pt_report_define(r, "contribution", "revenue - cost of goods (catalog cost_cents today) - "
                   "value of points redeemed; only when every item sold has a cost");
  pt_report_define(r, "clv_margin", "contribution per order x frequency x lifetime");
  if (r->o->by && strcmp(r->o->by, "tier") == 0)
    pt_report_note(r, "customers are grouped by their tier now");
  if (r->o->by && strcmp(r->o->by, "channel") == 0)
    pt_report_note(r, "channel = the order id up to its first '-' (POS7-000123: POS7); a "
                      "customer buying in two channels counts in both");
done:
  free_orders(v, n);
  free(progs);
  return rc;
}

/* ---- retention and churn ------------------------------------------------- */

typedef struct cust_times {
  size_t ncust;
  size_t *start;      /* ncust + 1 offsets into at */
  int64_t *at;
} cust_times;

static void free_times(cust_times *ct) {
  free(ct->start);
  free(ct->at);
  memset(ct, 0, sizeof *ct);
}

/* Every order time of every named customer before `to`, by customer. */
static int load_times(pt_report *r, const char *program, int64_t to, cust_times *ct) {
  memset(ct, 0, sizeof *ct);
  size_t cap = 256, ccap = 64, n = 0;
  ct->at = malloc(cap * sizeof *ct->at);
  ct->start = malloc((ccap + 1) * sizeof *ct->start);
  if (!ct->at || !ct->start) { free_times(ct); return pt_err(r->p, PATRON_NOMEM, "out of memory"); }
  sqlite3_stmt *st = pt_stmt(r->p, PT_SQL_REP_CUSTOMER_ORDERS);
  if (!st) { free_times(ct); return r->p->code; }
  pt_bind_text(st, 1, program);
  sqlite3_bind_int64(st, 2, to);
  char last[PT_ID_MAX] = "";
  int got;
  while ((got = pt_row(r->p, st, "read order times")) > 0) {
    const char *c;
    if (pt_col_str(r->p, st, 0, &c)) { got = -1; break; }
    if (!c) c = "";
    if (n == cap) {
      int64_t *na = realloc(ct->at, 2 * cap * sizeof *na);
      if (!na) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
      ct->at = na;
      cap *= 2;
    }
    if (ct->ncust == 0 || strcmp(c, last) != 0) {
      if (ct->ncust == ccap) {
        size_t *ns = realloc(ct->start, (2 * ccap + 1) * sizeof *ns);
        if (!ns) { pt_err(r->p, PATRON_NOMEM, "out of memory"); got = -1; break; }
        ct->start = ns;
        ccap *= 2;
      }
      ct->start[ct->ncust++] = n;
      snprintf(last, sizeof last, "%s", c);
    }
    ct->at[n++] = sqlite3_column_int64(st, 1);
  }
  pt_stmt_done(st);
  if (got < 0) {
    free_times(ct);
    return r->p->code;
  }
  ct->start[ct->ncust] = n;
  return PATRON_OK;
}

/* Has the customer an order in [from, to)? (times ascending) */
static bool ordered_in(const int64_t *at, size_t n, int64_t from, int64_t to) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (at[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && at[lo] < to;
}

int pt_report_retention(pt_report *r) {
  size_t nprog, np = 0;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  pt_period *pv = NULL;
  cust_times ct = {0};
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  if ((rc = pt_report_periods(r, &pv, &np))) goto done;
  bool churn = strcmp(r->name, "churn") == 0;
  static const pt_col cols[] = {
      {"program", "program", "text"},
      {"period", "period", "text"},
      {"customers_start", "active at start", "int"},
      {"customers_end", "active at end", "int"},
      {"new_customers", "new", "int"},
      {"first_time", "of which first order", "int"},
      {"reactivated", "of which came back", "int"},
      {"retained", "retained", "int"},
      {"lost", "lost", "int"},
      {"retention_bp", "retention", "bp"},
      {"churn_bp", "churn", "bp"},
      {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, churn ? "churn" : "retention",
                                 churn ? "Churn" : "Retention", cols,
                                 sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    free_times(&ct);
    if ((rc = load_times(r, progs[k]->name, r->to, &ct))) goto done;
    for (size_t i = 0; i < np; i++) {
      /* a period not over yet is measured up to now */
      int64_t s = pv[i].from, e = pv[i].to < r->now + 1 ? pv[i].to : r->now + 1;
      if (e < s) e = s;
      int64_t s12 = pt_add_months(s, -12), e12 = pt_add_months(e, -12);
      int64_t n_s = 0, n_e = 0, first_time = 0, back = 0, kept = 0;
      for (size_t c = 0; c < ct.ncust; c++) {
        const int64_t *at = ct.at + ct.start[c];
        size_t cnt = ct.start[c + 1] - ct.start[c];
        bool a_s = ordered_in(at, cnt, s12, s), a_e = ordered_in(at, cnt, e12, e);
        n_s += a_s;
        n_e += a_e;
        if (a_s && a_e) kept++;
        if (!a_s && a_e) {
          if (at[0] >= s) first_time++;
          else back++;
        }
      }
      json_t *row = pt_report_row(r, rows);
      pt_put_str(r, row, "program", progs[k]->name);
      pt_put_str(r, row, "period", pv[i].label);
      pt_put_int(r, row, "customers_start", n_s);
      pt_put_int(r, row, "customers_end", n_e);
      pt_put_int(r, row, "new_customers", first_time + back);
      pt_put_int(r, row, "first_time", first_time);
      pt_put_int(r, row, "reactivated", back);
      pt_put_int(r, row, "retained", kept);
      pt_put_int(r, row, "lost", n_s - kept);
      int64_t retained = n_e - (first_time + back);
      if (pt_put_rate(r, row, "retention_bp", retained, n_s)) {
        int64_t bp = pt_muldiv(retained, 10000, n_s); /* the rate just put */
        pt_put_rate(r, row, "churn_bp", 10000 - bp, 10000);
        pt_put_str(r, row, "note", pv[i].partial ? "partial period" : "");
      } else {
        pt_put_rate(r, row, "churn_bp", 0, 0);
        pt_put_no_data(r, row);
      }
    }
  }
  static const char *const rs[] = {"retention_bp", NULL}, *const cs[] = {"churn_bp", NULL};
  pt_report_chart(r, churn ? "churn" : "retention", "line", "period",
                  nprog > 1 ? "program" : NULL, churn ? cs : rs);
  pt_report_define(r, "active", "a customer is active at time t if they ordered in the "
                   "12 months before t");
  pt_report_define(r, "retention", "(customers active at end - new) / customers active at "
                   "start, floored to 0.01%; new = active at end, not at start (first "
                   "orders and customers coming back); no customers at start: no data");
  pt_report_define(r, "churn", "100% - retention");
done:
  free_times(&ct);
  free(pv);
  free(progs);
  return rc;
}

/* ---- repeat -------------------------------------------------------------- */

static int cmp_customer(const void *a, const void *b) {
  const ord *x = a, *y = b;
  int c = strcmp(x->group, y->group);
  if (c) return c;
  return strcmp(x->customer, y->customer);
}

static void repeat_row(pt_report *r, json_t *rows, const char *program, const char *group,
                       int64_t once, int64_t many, int64_t orders, bool partial) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "group", group);
  pt_put_int(r, row, "orders", orders);
  pt_put_int(r, row, "customers", once + many);
  pt_put_int(r, row, "repeat_customers", many);
  if (pt_put_rate(r, row, "repeat_rate_bp", many, once + many))
    pt_put_str(r, row, "note", partial ? "partial period" : "");
  else
    pt_put_no_data(r, row);
}

/* Customers with 1 and 2+ counted orders among v[from, to) of one group. */
static void count_repeat(ord *v, size_t n, int64_t *once, int64_t *many, int64_t *orders) {
  *once = *many = *orders = 0;
  qsort(v, n, sizeof *v, cmp_customer);
  for (size_t i = 0; i < n;) {
    size_t c = i;
    while (i < n && strcmp(v[i].customer, v[c].customer) == 0) i++;
    *orders += (int64_t)(i - c);
    if (i - c >= 2) (*many)++;
    else (*once)++;
  }
}

int pt_report_repeat(pt_report *r) {
  size_t nprog, n = 0, np = 0;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  ord *v = NULL;
  pt_period *pv = NULL;
  int rc;
  if ((rc = pt_report_window_orders(r, progs, nprog))) goto done;
  const char *by = r->o->by ? r->o->by : "";
  bool periods = strcmp(by, "month") == 0 || strcmp(by, "week") == 0;
  if (periods && (rc = pt_report_periods(r, &pv, &np))) goto done;
  const pt_col cols[] = {
      {"program", "program", "text"},     {"group", *by ? by : "window", "text"},
      {"orders", "orders", "int"},        {"customers", "customers", "int"},
      {"repeat_customers", "with 2+ orders", "int"},
      {"repeat_rate_bp", "repeat rate", "bp"}, {"note", "note", "text"}};
  json_t *rows = pt_report_table(r, "repeat", "Repeat customers", cols,
                                 sizeof cols / sizeof cols[0]);
  for (size_t k = 0; k < nprog; k++) {
    free_orders(v, n);
    v = NULL;
    if ((rc = load_customer_orders(r, progs[k]->name, r->from, r->to, &v, &n))) goto done;
    int64_t once, many, orders;
    if (periods) {
      for (size_t i = 0; i < n; i++) {
        ptrdiff_t pi = pt_period_find(pv, np, v[i].at);
        snprintf(v[i].group, sizeof v[i].group, "%06zd", pi);
      }
      qsort(v, n, sizeof *v, cmp_customer);
      size_t i = 0;
      for (size_t pi = 0; pi < np; pi++) {
        char key[32];
        snprintf(key, sizeof key, "%06zu", pi);
        size_t b = i;
        while (i < n && strcmp(v[i].group, key) == 0) i++;
        count_repeat(v + b, i - b, &once, &many, &orders);
        repeat_row(r, rows, progs[k]->name, pv[pi].label, once, many, orders, pv[pi].partial);
      }
    } else if (*by) {
      set_groups(r, v, n);
      qsort(v, n, sizeof *v, cmp_customer);
      for (size_t i = 0; i < n;) {
        size_t b = i;
        while (i < n && strcmp(v[i].group, v[b].group) == 0) i++;
        char g[PT_ID_MAX];
        snprintf(g, sizeof g, "%s", v[b].group);
        count_repeat(v + b, i - b, &once, &many, &orders);
        repeat_row(r, rows, progs[k]->name, g, once, many, orders, false);
      }
    }
    for (size_t i = 0; i < n; i++) snprintf(v[i].group, sizeof v[i].group, "all");
    count_repeat(v, n, &once, &many, &orders);
    repeat_row(r, rows, progs[k]->name, *by ? "total" : "all", once, many, orders, false);
  }
  static const char *const series[] = {"repeat_rate_bp", NULL};
  pt_report_chart(r, "repeat", "bars", "group", nprog > 1 ? "program" : NULL, series);
  pt_report_define(r, "repeat_rate", "customers with 2+ orders / customers with 1+ order, "
                   "orders counted in the row's period or group (fully refunded orders do "
                   "not count), floored to 0.01%");
  if (strcmp(by, "tier") == 0) pt_report_note(r, "customers are grouped by their tier now");
done:
  free_orders(v, n);
  free(pv);
  free(progs);
  return rc;
}

/* ---- health --------------------------------------------------------------- */

typedef struct hcust {
  const char *customer;
  const char *tier;
  int64_t last, orders12, spend12, days;
  int r, f, m;
} hcust;

/* A new row of rows with the columns a customer's line shares in both
** lists of the health report (every customer, those at risk). */
static json_t *customer_row(pt_report *r, json_t *rows, const char *program, const hcust *c) {
  json_t *row = pt_report_row(r, rows);
  pt_put_str(r, row, "program", program);
  pt_put_str(r, row, "customer", c->customer);
  pt_put_str(r, row, "tier", c->tier);
  pt_put_time(r, row, "last_order", c->last);
  pt_put_int(r, row, "days_since", c->days);
  pt_put_int(r, row, "orders_12m", c->orders12);
  pt_put_int(r, row, "spend_12m_cents", c->spend12);
  return row;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Quintile score 1..5: 1 + floor(5 x (customers strictly worse) / n). */
static int quintile(const int64_t *sorted, size_t n, int64_t v, bool higher_better) {
  size_t lo = 0, hi = n;
  if (higher_better) { /* worse = strictly lower values: lower bound */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return 1 + (int)(5 * lo / n);
  }
  while (lo < hi) { /* worse = strictly higher values: n - upper bound */
    size_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return 1 + (int)(5 * (n - lo) / n);
}

static const char *segment(int score) {
  return score >= 13 ? "champion" : score >= 10 ? "loyal" : score >= 7 ? "steady"
       : score >= 5 ? "needs attention" : "lapsing";
}

static bool at_risk(const hcust *h) { return h->m >= 4 && h->f >= 3 && h->r <= 2; }

static int cmp_health(const void *a, const void *b) {
  const hcust *x = a, *y = b;
  int sx = x->r + x->f + x->m, sy = y->r + y->f + y->m;
  if (sx != sy) return sy - sx;
  return strcmp(x->customer, y->customer);
}

static int cmp_risk(const void *a, const void *b) {
  const hcust *x = *(const hcust *const *)a, *y = *(const hcust *const *)b;
  if (x->spend12 != y->spend12) return x->spend12 < y->spend12 ? 1 : -1;
  return strcmp(x->customer, y->customer);
}

int pt_report_health(pt_report *r) {
  size_t nprog, n = 0;
  const pt_program **progs = pt_report_programs(r, &nprog);
  if (!progs) return r->p->code;
  ord *v = NULL;
  hcust *h = NULL;
  const hcust **risk = NULL;
  int64_t *sr = NULL, *sf = NULL, *sm = NULL;
  int rc = PATRON_OK;
  /* as of the end of the window */
  int64_t asof = r->to_given ? r->o->to : r->now + 1;
  int64_t since = pt_add_months(asof, -12);
  if (r->from_given)
    pt_report_note(r, "health looks at the 12 months before --to (or now): --from does "
                      "not apply");
  pt_report_set_window(r, since, asof);
  static const pt_col cols[] = {
      {"program", "program", "text"},     {"customer", "customer", "text"},
      {"tier", "tier", "text"},           {"last_order", "last order", "time"},
      {"days_since", "days since", "int"}, {"orders_12m", "orders (12 months)", "int"},
      {"spend_12m_cents", "spend (12 months)", "cents"},
      {"r", "R", "int"}, {"f", "F", "int"}, {"m", "M", "int"},
      {"score", "score", "int"},          {"segment", "segment", "text"},
      {"at_risk", "at risk", "bool"}};
  static const pt_col scols[] = {
      {"program", "program", "text"},   {"tier", "tier", "text"},
      {"segment", "segment", "text"},   {"customers", "customers", "int"},
      {"share_bp", "share", "bp"}};
  static const pt_col rcols[] = {
      {"program", "program", "text"},    {"customer", "customer", "text"},
      {"tier", "tier", "text"},          {"last_order", "last order", "time"},
      {"days_since", "days since", "int"}, {"orders_12m", "orders (12 months)", "int"},
      {"spend_12m_cents", "spend (12 months)", "cents"},
      {"action", "suggested action", "text"}};
  json_t *srows = pt_report_table(r, "segments", "Customer health by segment", scols,
                                  sizeof scols / sizeof scols[0]);
  json_t *rrows = pt_report_table(r, "at_risk", "At risk: good customers going quiet",
                                  rcols, sizeof rcols / sizeof rcols[0]);
  json_t *crows = pt_report_table(r, "customers", "Customer health", cols,
                                  sizeof cols / sizeof cols[0]);
  bool by_tier = r->o->by && strcmp(r->o->by, "tier") == 0;
  for (size_t k = 0; k < nprog; k++) {
    free_orders(v, n);
    v = NULL;
    free(h); free(risk); free(sr); free(sf); free(sm);
    h = NULL; risk = NULL; sr = sf = sm = NULL;
    /* every order before as-of: the last order may be older than 12 months */
    if ((rc = load_customer_orders(r, progs[k]->name, INT64_MIN, asof, &v, &n))) goto done;
    for (size_t i = 0; i < n; i++) v[i].group[0] = 0;
    qsort(v, n, sizeof *v, cmp_group_customer);
    h = calloc(n + 1, sizeof *h);
    sr = calloc(n + 1, sizeof *sr);
    sf = calloc(n + 1, sizeof *sf);
    sm = calloc(n + 1, sizeof *sm);
    risk = calloc(n + 1, sizeof *risk);
    if (!h || !sr || !sf || !sm || !risk) { rc = pt_err(r->p, PATRON_NOMEM, "out of memory"); goto done; }
    size_t nc = 0;
    for (size_t i = 0; i < n;) {
      hcust *c = &h[nc++];
      c->customer = v[i].customer;
      c->tier = v[i].tier;
      size_t b = i;
      while (i < n && strcmp(v[i].customer, v[b].customer) == 0) {
        if (v[i].at >= since) {
          c->orders12++;
          c->spend12 += v[i].net;
        }
        c->last = v[i].at;
        i++;
      }
      c->days = (asof - 1 - c->last) / PT_DAY;
    }
    for (size_t i = 0; i < nc; i++) {
      sr[i] = h[i].days;
      sf[i] = h[i].orders12;
      sm[i] = h[i].spend12;
    }
    qsort(sr, nc, sizeof *sr, cmp_i64);
    qsort(sf, nc, sizeof *sf, cmp_i64);
    qsort(sm, nc, sizeof *sm, cmp_i64);
    for (size_t i = 0; i < nc; i++) {
      h[i].r = quintile(sr, nc, h[i].days, false);
      h[i].f = quintile(sf, nc, h[i].orders12, true);
      h[i].m = quintile(sm, nc, h[i].spend12, true);
    }
    qsort(h, nc, sizeof *h, cmp_health);
    size_t nr = 0;
    static const char *const segs[] = {"champion", "loyal", "steady", "needs attention",
                                       "lapsing"};
    /* segment counts, overall or per tier */
    const char *tiers[64];
    size_t nt = 0;
    if (by_tier) {
      for (size_t t = 0; t < progs[k]->ntiers && nt < 64; t++) tiers[nt++] = progs[k]->tiers[t].name;
      if (nt == 0) tiers[nt++] = "";
    } else {
      tiers[nt++] = NULL;
    }
    for (size_t t = 0; t < nt; t++) {
      int64_t cnt[5] = {0}, tot = 0;
      for (size_t i = 0; i < nc; i++) {
        if (tiers[t] && strcmp(h[i].tier, tiers[t]) != 0) continue;
        const char *s = segment(h[i].r + h[i].f + h[i].m);
        for (int j = 0; j < 5; j++)
          if (strcmp(s, segs[j]) == 0) cnt[j]++;
        tot++;
      }
      for (int j = 0; j < 5; j++) {
        json_t *row = pt_report_row(r, srows);
        pt_put_str(r, row, "program", progs[k]->name);
        pt_put_str(r, row, "tier", tiers[t] ? tiers[t] : "all");
        pt_put_str(r, row, "segment", segs[j]);
        pt_put_int(r, row, "customers", cnt[j]);
        if (!pt_put_rate(r, row, "share_bp", cnt[j], tot)) pt_put_no_data(r, row);
      }
    }
    for (size_t i = 0; i < nc; i++) {
      const hcust *c = &h[i];
      json_t *row = customer_row(r, crows, progs[k]->name, c);
      pt_put_int(r, row, "r", c->r);
      pt_put_int(r, row, "f", c->f);
      pt_put_int(r, row, "m", c->m);
      pt_put_int(r, row, "score", c->r + c->f + c->m);
      pt_put_str(r, row, "segment", segment(c->r + c->f + c->m));
      pt_put_bool(r, row, "at_risk", at_risk(c));
      if (at_risk(c)) risk[nr++] = c;
    }
    qsort(risk, nr, sizeof *risk, cmp_risk);
    for (size_t i = 0; i < nr; i++) {
      json_t *row = customer_row(r, rrows, progs[k]->name, risk[i]);
      pt_put_str(r, row, "action", "win-back offer");
    }
  }
  static const char *const series[] = {"customers", NULL};
  pt_report_chart(r, "segments", "bars", "segment", by_tier ? "tier" : NULL, series);
  pt_report_define(r, "scores", "R (recency: days since the last order), F (orders in the "
                   "12 months before as_of) and M (spend in those 12 months, goods after "
                   "discounts less refunds), each 1..5 by quintile among the program's "
                   "customers: 1 + floor(5 x customers strictly worse / customers)");
  pt_report_define(r, "segment", "score = R + F + M (3..15): 13+ champion, 10+ loyal, 7+ "
                   "steady, 5+ needs attention, else lapsing");
  pt_report_define(r, "at_risk", "good customers going quiet: M >= 4 and F >= 3 (top 40% "
                   "by spend, active buyers) but R <= 2 (bottom 40% by recency); "
                   "sorted by spend");
done:
  free_orders(v, n);
  free(h);
  free(risk);
  free(sr);
  free(sf);
  free(sm);
  free(progs);
  return rc;
}
