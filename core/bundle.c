/*
** bundle.c -- the bundle allocator of the quote pipeline (DESIGN.md
** section 4, stage 2): which cart units go into which bundle instances so
** that the customer saves the most. It reads the cart lines and the shop's
** bundles and writes counts, savings and per-line discounts; turning them
** into discounts[] and the trace is checkout.c's job.
**
** Rules (the contract of pt_bundle_allocate):
**   - Which units. The units of one sku (possibly on several lines at
**     several prices) form one list, most expensive first, the earlier line
**     first on equal prices. Bundles take units in config order, all the
**     instances of one bundle one after the other, and every instance takes
**     the most expensive units still free of each of its skus. So for a
**     vector of instance counts the units, and so the saving, are fixed.
**   - Saving of an instance. off_bp bundles: floor(unit_cents * off_bp /
**     10000) for each of its units, floored per unit. price_cents bundles
**     (price_cents >= 0 wins over off_bp): the sum of its units' prices less
**     price_cents. An instance that would save <= 0 is never used (a bundle
**     never costs more, and no zero-cent bundle is reported). As later
**     instances get cheaper units, savings never grow along the instances.
**   - Which bundles. Only bundles whose every sku is in the cart in the
**     quantity they need, and whose first instance would save something,
**     take part; duplicate skus in a bundle are merged. Bundles with no
**     items, an item qty <= 0, or neither a price_cents >= 0 nor an off_bp
**     in 1..10000 never apply (config validation refuses them; ignoring
**     them here means a bad config can never over-discount). Lines with qty
**     <= 0 or unit_cents < 0 hold no units. At most PT_BUNDLE_MAX_REL (64)
**     bundles, and PT_BUNDLE_MAX_ITEMS distinct items among them, take part:
**     beyond that the first ones in config order do and exhaustive is false.
**   - Search. The bundles fall into independent sets (no sku shared, not
**     even through other bundles); the best allocation is each set's best,
**     so each set is searched alone. In a set: exact branch and bound,
**     depth first over its bundles in config order, trying each bundle's
**     count from its maximum (as many instances as still save something)
**     down to 0. A bundle sharing no sku with any later one only tries its
**     maximum (its count then changes nothing else, and every instance
**     saves > 0). Bound for the bundles of the set not yet fixed, the
**     smaller of (B is only worked out when A alone does not cut):
**       A. the sum, over those bundles, of what each would save alone with
**          the units still free (its maximum count);
**       B. over each of their skus, the most expensive U free units of it,
**          each worth the most any of those bundles could save on it:
**          floor(p * off_bp / 10000), or p - floor(price_cents / n) for a
**          price bundle of n units per instance (at least 0); U is the free
**          units or the most those bundles could take (sum of max count x
**          qty), whichever is fewer.
**     Both only shrink as units are taken, so a subtree is cut when the
**     saving so far plus its bound is not more than the best found.
**   - Ties. Among allocations of equal total saving, the lexicographically
**     greatest count vector in config order wins (more instances of the
**     bundle declared earlier). Depth first from the maximum visits count
**     vectors in that order, so the best is only replaced by a strictly
**     greater saving and cuts use "not more than". Per set is enough: the
**     greatest vector among the best is made of each set's greatest.
**   - Budget, for the whole call: PT_BUNDLE_NODES (200,000) search nodes (a
**     node: one count tried for one bundle) or PT_BUNDLE_STEPS (2,000,000)
**     steps (one line visited while summing units), whichever runs out
**     first; either keeps a call under about 20 ms (a typical cart needs
**     well under 100 nodes). The first dive is the greedy allocation
**     (every count at its maximum), so a complete allocation always exists;
**     when the budget runs out the dive under way is finished greedily,
**     compared, and the search stops (later sets get their greedy dive
**     only) with exhaustive = false. Same input, same output.
**   - Per-line discounts. off_bp: the per-unit floored amounts of the units
**     taken from the line. price_cents: each instance's saving is split over
**     its units in proportion to unit_cents, each unit's share floored; the
**     remainder cents go to the instance's most expensive unit (the earlier
**     line first on ties) up to that unit's own price, any rest to the next
**     unit in that order. Line discounts sum to the total saving exactly and
**     no unit is discounted beyond its price.
**   - Overflow. The lines holding a sku of some bundle that could apply
**     must have qty * unit_cents, and their sum, within int64; otherwise
**     PATRON_OVERFLOW. Every saving is below that sum, and every operation
**     is checked anyway.
**   - Memory. Nothing is allocated: the working state is one stack struct
**     sized for PT_MAX_LINES lines (72 KB, of which a typical cart touches
**     a few hundred bytes), so callers need a thread stack of at least
**     about 128 KB; lines beyond PT_MAX_LINES
**     (the cart decoder refuses them) get nothing and exhaustive = false.
**     Large quantities cost nothing extra: units are summed a line at a
**     time and instances with the same units are handled in one step.
*/
#include <string.h>

#include "checkout.h"

#define PT_BUNDLE_MAX_REL 64      /* bundles searched per cart */
#define PT_BUNDLE_MAX_ITEMS 1024  /* their distinct items, together */
#define PT_BUNDLE_NODES 200000L   /* search nodes */
#define PT_BUNDLE_STEPS 2000000L  /* lines visited while summing */

typedef struct bn {
  const pt_line *lines;
  /* usable lines sorted by (sku, unit_cents desc, index): run r is line
  ** run[r]; a group is one sku's consecutive runs */
  size_t nruns, ngroups;
  uint16_t run[PT_MAX_LINES], tmp[PT_MAX_LINES];
  uint16_t g_first[PT_MAX_LINES], g_nruns[PT_MAX_LINES];
  int64_t g_units[PT_MAX_LINES];  /* units of the sku */
  int64_t g_off[PT_MAX_LINES];    /* units taken (from the top) so far */
  int64_t g_cap[PT_MAX_LINES];    /* bound B scratch */
  int16_t g_last[PT_MAX_LINES];   /* last level naming the group, -1 none */
  bool g_named[PT_MAX_LINES];     /* named by a bundle that could apply */
  uint16_t g_ifirst[PT_MAX_LINES + 1], g_items[PT_BUNDLE_MAX_ITEMS];
  /* the bundles taking part ("levels"), in config order */
  size_t nrel, nitems;
  /* one more level than searched: the slot where a candidate is tried */
  size_t rel_b[PT_BUNDLE_MAX_REL + 1];
  int64_t rel_bp[PT_BUNDLE_MAX_REL + 1];     /* off_bp, or -1: price bundle */
  int64_t rel_price[PT_BUNDLE_MAX_REL + 1];  /* price_cents, or -1 */
  int64_t rel_pshare[PT_BUNDLE_MAX_REL + 1]; /* floor(price / units) */
  uint16_t rel_first[PT_BUNDLE_MAX_REL + 2];
  bool rel_indep[PT_BUNDLE_MAX_REL];
  /* the search order: independent sets of bundles (no sku shared, even
  ** through others) one after the other, each in config order */
  uint8_t ord[PT_BUNDLE_MAX_REL], pos_of[PT_BUNDLE_MAX_REL], comp[PT_BUNDLE_MAX_REL];
  size_t hi; /* end of the set being searched, in ord */
  uint16_t it_group[PT_BUNDLE_MAX_ITEMS];
  uint8_t it_level[PT_BUNDLE_MAX_ITEMS];
  int64_t it_qty[PT_BUNDLE_MAX_ITEMS];
  /* one price instance's units while splitting its saving */
  uint16_t ent_run[PT_MAX_LINES];
  int64_t ent_n[PT_MAX_LINES], ent_d[PT_MAX_LINES]; /* units, cents off */
  /* search */
  int64_t cnt[PT_BUNDLE_MAX_REL], best[PT_BUNDLE_MAX_REL];
  int64_t cur, best_total;
  long nodes, steps;
  bool stop, overflow;
} bn;

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return pt_add64(a, b, &r) ? r : INT64_MAX; /* both >= 0 here */
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* floor(p * bp / 10000); never more than p for bp <= 10000. The 128-bit
** path is for prices above 9.2e14 cents only. */
static inline int64_t unit_off(bn *w, int64_t p, int64_t bp) {
  int64_t r = 0;
  if (p <= INT64_MAX / 10000) return p * bp / 10000;
  if (!pt_muldiv_floor(p, bp, 10000, &r)) w->overflow = true;
  return r;
}

static const pt_line *run_line(const bn *w, size_t r) { return &w->lines[w->run[r]]; }

/* ---- grouping the cart's units by sku ------------------------------------ */

static int line_cmp(const pt_line *L, uint16_t a, uint16_t b) {
  int r = strncmp(L[a].sku, L[b].sku, PT_NAME_MAX);
  if (r) return r;
  if (L[a].unit_cents != L[b].unit_cents) return L[a].unit_cents > L[b].unit_cents ? -1 : 1;
  return a < b ? -1 : (a > b);
}

/* Bottom-up merge sort over runs of 16 sorted by insertion (qsort has no
** context argument in C11). */
static void sort_runs(bn *w) {
  const pt_line *L = w->lines;
  uint16_t *v = w->run, *t = w->tmp;
  size_t n = w->nruns;
  for (size_t lo = 0; lo < n; lo += 16) {
    size_t hi = lo + 16 < n ? lo + 16 : n;
    for (size_t i = lo + 1; i < hi; i++) {
      uint16_t x = v[i];
      size_t j = i;
      for (; j > lo && line_cmp(L, v[j - 1], x) > 0; j--) v[j] = v[j - 1];
      v[j] = x;
    }
  }
  for (size_t width = 16; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) t[k++] = line_cmp(L, v[j], v[i]) < 0 ? v[j++] : v[i++];
      while (i < mid) t[k++] = v[i++];
      while (j < hi) t[k++] = v[j++];
    }
    uint16_t *s = v;
    v = t;
    t = s;
  }
  if (v != w->run) memcpy(w->run, v, n * sizeof *v);
}

/* Group of sku, or -1. Groups are in sku order. */
static long find_group(const bn *w, const char *sku) {
  size_t lo = 0, hi = w->ngroups;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = strncmp(sku, run_line(w, w->g_first[mid])->sku, PT_NAME_MAX);
    if (r == 0) return (long)mid;
    if (r < 0) hi = mid;
    else lo = mid + 1;
  }
  return -1;
}

/* ---- sums over a sku's free units ---------------------------------------- */

/* Sum over the units at positions [from, from + n) of group g of their
** price (bp < 0) or of floor(price * bp / 10000). */
static int64_t range_sum(bn *w, size_t g, int64_t from, int64_t n, int64_t bp) {
  int64_t acc = 0, pos = 0, end = from + n;
  for (size_t r = w->g_first[g], e = r + w->g_nruns[g]; r < e && pos < end; r++) {
    const pt_line *l = run_line(w, r);
    int64_t a = pos > from ? pos : from, z = min64(pos + l->qty, end), t;
    pos += l->qty;
    w->steps++;
    if (z <= a) continue;
    int64_t v = bp < 0 ? l->unit_cents : unit_off(w, l->unit_cents, bp);
    if (!pt_mul64(z - a, v, &t) || !pt_add64(acc, t, &acc)) {
      w->overflow = true;
      return 0;
    }
  }
  return acc;
}

/* Saving of instance j (0-based) of level lv if taken now. */
static int64_t inst_saving(bn *w, size_t lv, int64_t j) {
  int64_t s = 0;
  for (size_t k = w->rel_first[lv]; k < w->rel_first[lv + 1]; k++) {
    size_t g = w->it_group[k];
    int64_t q = w->it_qty[k];
    if (!pt_add64(s, range_sum(w, g, w->g_off[g] + j * q, q, w->rel_bp[lv]), &s))
      w->overflow = true;
  }
  return w->rel_price[lv] >= 0 ? s - w->rel_price[lv] : s;
}

/* How many instances of level lv can be taken now, each saving > 0. */
static int64_t max_instances(bn *w, size_t lv) {
  int64_t lim = INT64_MAX;
  for (size_t k = w->rel_first[lv]; k < w->rel_first[lv + 1]; k++) {
    size_t g = w->it_group[k];
    lim = min64(lim, (w->g_units[g] - w->g_off[g]) / w->it_qty[k]);
  }
  if (lim == 0 || inst_saving(w, lv, lim - 1) > 0) return lim;
  if (inst_saving(w, lv, 0) <= 0) return 0;
  int64_t lo = 0, hi = lim - 1; /* saving(lo) > 0 >= saving(hi) */
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (inst_saving(w, lv, mid) > 0) lo = mid;
    else hi = mid;
  }
  return hi;
}

/* Saving of c instances of level lv taken now (c <= max_instances). */
static int64_t level_saving(bn *w, size_t lv, int64_t c) {
  int64_t s = 0, pc;
  if (c == 0) return 0;
  for (size_t k = w->rel_first[lv]; k < w->rel_first[lv + 1]; k++) {
    size_t g = w->it_group[k];
    if (!pt_add64(s, range_sum(w, g, w->g_off[g], c * w->it_qty[k], w->rel_bp[lv]), &s))
      w->overflow = true;
  }
  if (w->rel_price[lv] < 0) return s;
  if (!pt_mul64(c, w->rel_price[lv], &pc)) {
    w->overflow = true;
    return 0;
  }
  return s - pc;
}

static void take(bn *w, size_t lv, int64_t c) {
  for (size_t k = w->rel_first[lv]; k < w->rel_first[lv + 1]; k++)
    w->g_off[w->it_group[k]] += c * w->it_qty[k];
}

static void untake(bn *w, size_t lv, int64_t c) {
  for (size_t k = w->rel_first[lv]; k < w->rel_first[lv + 1]; k++)
    w->g_off[w->it_group[k]] -= c * w->it_qty[k];
}

/* ---- the bound --------------------------------------------------------- */

/* Most that the levels at positions pos.. of the set being searched can
** still save (see the header comment); B is only worked out when A is
** above need (A alone then decides). *m_first gets the maximum count of
** the level at pos. */
static int64_t bound(bn *w, size_t pos, int64_t need, int64_t *m_first) {
  int64_t m[PT_BUNDLE_MAX_REL], a = 0, b = 0;
  for (size_t p = pos; p < w->hi; p++) {
    size_t i = w->ord[p];
    m[i] = max_instances(w, i);
    a = sat_add(a, level_saving(w, i, m[i]));
  }
  *m_first = m[w->ord[pos]];
  if (a <= need) return a;
  for (size_t p = pos; p < w->hi; p++)
    for (size_t i = w->ord[p], k = w->rel_first[i]; k < w->rel_first[i + 1]; k++)
      w->g_cap[w->it_group[k]] = 0;
  for (size_t p = pos; p < w->hi; p++)
    for (size_t i = w->ord[p], k = w->rel_first[i]; k < w->rel_first[i + 1]; k++)
      w->g_cap[w->it_group[k]] = sat_add(w->g_cap[w->it_group[k]], m[i] * w->it_qty[k]);
  for (size_t p = pos; p < w->hi && b < a; p++) {
    size_t i = w->ord[p];
    for (size_t k = w->rel_first[i]; k < w->rel_first[i + 1]; k++) {
      size_t g = w->it_group[k];
      if (w->g_cap[g] <= 0) continue; /* done, or nothing can use it */
      int64_t from = w->g_off[g], end = from + min64(w->g_cap[g], w->g_units[g] - from);
      int64_t at = 0;
      w->g_cap[g] = 0;
      for (size_t r = w->g_first[g], e = r + w->g_nruns[g]; r < e && at < end; r++) {
        const pt_line *l = run_line(w, r);
        int64_t lo = at > from ? at : from, hi = min64(at + l->qty, end), f = 0, t;
        at += l->qty;
        w->steps++;
        if (hi <= lo) continue;
        for (size_t x = w->g_ifirst[g]; x < w->g_ifirst[g + 1]; x++) {
          size_t li = w->it_level[w->g_items[x]];
          if (w->pos_of[li] < pos || m[li] == 0) continue; /* fixed, or none */
          int64_t v = w->rel_bp[li] >= 0 ? unit_off(w, l->unit_cents, w->rel_bp[li])
                                         : l->unit_cents - w->rel_pshare[li];
          if (v > f) f = v;
        }
        b = pt_mul64(hi - lo, f, &t) ? sat_add(b, t) : INT64_MAX;
      }
    }
  }
  return min64(a, b);
}

/* ---- the search -------------------------------------------------------- */

/* Tries the counts of the level at position pos; ub bounds what the
** levels at pos.. can save now (INT64_MAX when not computed) and m is that
** level's maximum count (-1 when not computed). */
static void search(bn *w, size_t pos, int64_t ub, int64_t m) {
  if (pos == w->hi) {
    if (w->cur > w->best_total) {
      w->best_total = w->cur;
      for (size_t p = pos; p > 0 && w->comp[w->ord[p - 1]] == w->comp[w->ord[pos - 1]]; p--)
        w->best[w->ord[p - 1]] = w->cnt[w->ord[p - 1]];
    }
    return;
  }
  size_t lv = w->ord[pos];
  if (m < 0) m = max_instances(w, lv);
  int64_t lo = w->rel_indep[lv] ? m : 0;
  for (int64_t c = m; c >= lo; c--) {
    if (c < m && sat_add(w->cur, ub) <= w->best_total) break;
    if (++w->nodes > PT_BUNDLE_NODES || w->steps > PT_BUNDLE_STEPS) w->stop = true;
    int64_t s = level_saving(w, lv, c), sub = INT64_MAX, mnext = -1;
    take(w, lv, c);
    bool go = true;
    if (!w->stop && w->best_total >= 0 && pos + 1 < w->hi) {
      sub = bound(w, pos + 1, w->best_total - w->cur - s, &mnext);
      go = sat_add(sat_add(w->cur, s), sub) > w->best_total;
    }
    if (go) {
      w->cnt[lv] = c;
      w->cur += s;
      search(w, pos + 1, sub, mnext);
      w->cur -= s;
    }
    untake(w, lv, c);
    if (w->stop || w->overflow) break;
  }
}

/* ---- finding the bundles that take part ------------------------------- */

/* Adds bundle bi as the next level if it can apply. Returns 1 when added,
** 0 when not, -1 when it could apply but a cap is reached, -2 on overflow
** of the lines it names. */
static int add_bundle(bn *w, const pt_bundle *bu, size_t bi, int64_t *gross) {
  size_t lv = w->nrel, first = w->nitems, n = first;
  bool is_price = bu->price_cents >= 0;
  if (bu->nitems == 0 || (!is_price && (bu->off_bp <= 0 || bu->off_bp > 10000))) return 0;
  for (size_t i = 0; i < bu->nitems; i++)
    if (bu->items[i].qty <= 0 || find_group(w, bu->items[i].sku) < 0) return 0;
  int64_t units = 0;
  for (size_t i = 0; i < bu->nitems; i++) {
    const pt_bundle_item *it = &bu->items[i];
    long g = find_group(w, it->sku);
    size_t k = first;
    while (k < n && w->it_group[k] != (uint16_t)g) k++;
    if (k == n) {
      if (n == PT_BUNDLE_MAX_ITEMS) return -1;
      w->it_group[n] = (uint16_t)g;
      w->it_qty[n++] = 0;
    }
    if (!pt_add64(w->it_qty[k], it->qty, &w->it_qty[k]) || !pt_add64(units, it->qty, &units))
      return 0; /* no cart holds that many */
  }
  for (size_t k = first; k < n; k++)
    if (w->it_qty[k] > w->g_units[w->it_group[k]]) return 0;
  /* it could apply: the amounts of its lines must fit */
  for (size_t k = first; k < n; k++) {
    size_t g = w->it_group[k];
    if (w->g_named[g]) continue;
    w->g_named[g] = true;
    for (size_t r = w->g_first[g]; r < (size_t)w->g_first[g] + w->g_nruns[g]; r++) {
      int64_t t;
      if (!pt_mul64(run_line(w, r)->qty, run_line(w, r)->unit_cents, &t) ||
          !pt_add64(*gross, t, gross))
        return -2;
    }
  }
  w->rel_b[lv] = bi;
  w->rel_bp[lv] = is_price ? -1 : bu->off_bp;
  w->rel_price[lv] = is_price ? bu->price_cents : -1;
  w->rel_pshare[lv] = is_price ? bu->price_cents / units : 0;
  w->rel_first[lv] = (uint16_t)first;
  w->rel_first[lv + 1] = (uint16_t)n;
  for (size_t k = first; k < n; k++) w->g_off[w->it_group[k]] = 0;
  if (inst_saving(w, lv, 0) <= 0) return 0; /* never saves anything */
  if (lv == PT_BUNDLE_MAX_REL) return -1;
  for (size_t k = first; k < n; k++) w->it_level[k] = (uint8_t)lv;
  w->nitems = n;
  w->nrel++;
  return 1;
}

/* ---- writing the result ------------------------------------------------ */

static void add_to(bn *w, int64_t *acc, int64_t times, int64_t v) {
  int64_t t;
  if (!pt_mul64(times, v, &t) || !pt_add64(*acc, t, acc)) w->overflow = true;
}

/* The k instances of off_bp level lv, taken now. */
/* Whether run a's units come before run b's when handing out remainder
** cents: dearer first, the earlier line on equal prices. */
static bool unit_before(const bn *w, size_t a, size_t b) {
  const pt_line *la = run_line(w, a), *lb = run_line(w, b);
  if (la->unit_cents != lb->unit_cents) return la->unit_cents > lb->unit_cents;
  return w->run[a] < w->run[b];
}

static void write_off(bn *w, size_t lv, int64_t k, pt_bundle_alloc *out) {
  int64_t *saving = &out->saving[w->rel_b[lv]];
  for (size_t x = w->rel_first[lv]; x < w->rel_first[lv + 1]; x++) {
    size_t g = w->it_group[x];
    int64_t from = w->g_off[g], end = from + k * w->it_qty[x], pos = 0;
    for (size_t r = w->g_first[g], e = r + w->g_nruns[g]; r < e && pos < end; r++) {
      const pt_line *l = run_line(w, r);
      int64_t a = pos > from ? pos : from, z = min64(pos + l->qty, end);
      pos += l->qty;
      if (z <= a) continue;
      int64_t d = unit_off(w, l->unit_cents, w->rel_bp[lv]);
      add_to(w, &out->line_units[w->run[r]], z - a, 1);
      add_to(w, &out->line_discount[w->run[r]], z - a, d);
      add_to(w, saving, z - a, d);
    }
  }
}

/* The k instances of price level lv, taken now: instances whose units come
** from the same lines in the same numbers are split once. */
static void write_price(bn *w, size_t lv, int64_t k, pt_bundle_alloc *out) {
  int64_t *saving = &out->saving[w->rel_b[lv]];
  int64_t price = w->rel_price[lv];
  for (int64_t j = 0; j < k && !w->overflow;) {
    int64_t t = k - j, sum = 0;
    size_t ne = 0;
    for (size_t x = w->rel_first[lv]; x < w->rel_first[lv + 1]; x++) {
      size_t g = w->it_group[x];
      int64_t q = w->it_qty[x], from = w->g_off[g] + j * q, end = from + q, pos = 0;
      for (size_t r = w->g_first[g], e = r + w->g_nruns[g]; r < e && pos < end; r++) {
        const pt_line *l = run_line(w, r);
        int64_t a = pos > from ? pos : from, z = min64(pos + l->qty, end);
        pos += l->qty;
        if (z <= a) continue;
        /* the next instances take the same units of this line while they
        ** fit in it; an instance straddling two lines is split alone */
        t = (a == from && z == end) ? min64(t, (pos - from) / q) : 1;
        w->ent_run[ne] = (uint16_t)r;
        w->ent_n[ne++] = z - a;
        add_to(w, &sum, z - a, l->unit_cents);
      }
    }
    /* per instance: s split in proportion to unit_cents, floored per unit */
    int64_t s = sum - price, assigned = 0, share;
    for (size_t e = 0; e < ne; e++) {
      if (!pt_muldiv_floor(s, run_line(w, w->ent_run[e])->unit_cents, sum, &share))
        w->overflow = true;
      w->ent_d[e] = 0;
      add_to(w, &w->ent_d[e], w->ent_n[e], share);
      add_to(w, &assigned, 1, w->ent_d[e]);
    }
    /* the remainder: most expensive unit first (earlier line on ties), each
    ** up to its own price; runs are in (price desc, line) order within a
    ** sku, so "after" compares (price, line) across skus */
    int64_t rem = s - assigned;
    size_t last = ne;
    while (rem > 0 && !w->overflow) {
      size_t pick = ne;
      for (size_t e = 0; e < ne; e++) {
        if (last < ne && !unit_before(w, w->ent_run[last], w->ent_run[e])) continue;
        if (pick == ne || unit_before(w, w->ent_run[e], w->ent_run[pick])) pick = e;
      }
      if (pick == ne) { /* cannot happen: s <= sum */
        w->overflow = true;
        break;
      }
      int64_t room = 0;
      add_to(w, &room, w->ent_n[pick], run_line(w, w->ent_run[pick])->unit_cents);
      int64_t give = min64(rem, room - w->ent_d[pick]);
      w->ent_d[pick] += give;
      rem -= give;
      last = pick;
    }
    for (size_t e = 0; e < ne; e++) {
      size_t line = w->run[w->ent_run[e]];
      add_to(w, &out->line_units[line], t, w->ent_n[e]);
      add_to(w, &out->line_discount[line], t, w->ent_d[e]);
    }
    add_to(w, saving, t, s);
    j += t;
  }
}

/* ---- entry point ------------------------------------------------------- */

int pt_bundle_allocate(const pt_bundle *bundles, size_t nbundles, const pt_line *lines,
                       size_t nlines, pt_bundle_alloc *out) {
  bn w;
  int rc = PATRON_OK;
  bool capped = nlines > PT_MAX_LINES;
  size_t nl = capped ? PT_MAX_LINES : nlines;
  for (size_t b = 0; b < nbundles; b++) out->instances[b] = out->saving[b] = 0;
  for (size_t l = 0; l < nlines; l++) out->line_discount[l] = out->line_units[l] = 0;
  out->total_saving = 0;
  out->exhaustive = true;
  if (nbundles == 0 || nlines == 0) return PATRON_OK;

  w.lines = lines;
  w.nruns = w.ngroups = w.nrel = w.nitems = 0;
  w.nodes = w.steps = 0;
  w.stop = w.overflow = false;
  for (size_t l = 0; l < nl; l++)
    if (lines[l].qty > 0 && lines[l].unit_cents >= 0) w.run[w.nruns++] = (uint16_t)l;
  sort_runs(&w);
  for (size_t r = 0; r < w.nruns; r++) {
    const pt_line *l = run_line(&w, r);
    size_t g = w.ngroups;
    if (r == 0 || strncmp(l->sku, run_line(&w, r - 1)->sku, PT_NAME_MAX) != 0) {
      w.g_first[g] = (uint16_t)r;
      w.g_nruns[g] = 0;
      w.g_units[g] = 0;
      w.g_named[g] = false;
      w.g_last[g] = -1;
      w.ngroups++;
    }
    g = w.ngroups - 1;
    w.g_nruns[g]++;
    if (!pt_add64(w.g_units[g], l->qty, &w.g_units[g])) w.g_units[g] = INT64_MAX;
  }

  int64_t gross = 0;
  for (size_t b = 0; b < nbundles; b++) {
    int r = add_bundle(&w, &bundles[b], b, &gross);
    if (r == -2) return PATRON_OVERFLOW;
    if (r == -1) { capped = true; break; }
  }
  /* a units sum that did not fit is an amount that does not fit */
  for (size_t k = 0; k < w.nitems; k++)
    if (w.g_units[w.it_group[k]] == INT64_MAX) return PATRON_OVERFLOW;
  out->exhaustive = !capped;
  if (w.nrel == 0) return w.overflow ? PATRON_OVERFLOW : PATRON_OK;

  /* which bundles name each sku (for bound B), and which share none with
  ** a later bundle */
  for (size_t g = 0; g <= w.ngroups; g++) w.g_ifirst[g] = 0;
  for (size_t k = 0; k < w.nitems; k++) {
    w.g_ifirst[w.it_group[k] + 1]++;
    w.g_last[w.it_group[k]] = (int16_t)w.it_level[k];
  }
  for (size_t g = 0; g < w.ngroups; g++) w.g_ifirst[g + 1] += w.g_ifirst[g];
  for (size_t k = 0; k < w.nitems; k++) w.g_items[w.g_ifirst[w.it_group[k]]++] = (uint16_t)k;
  for (size_t g = w.ngroups; g > 0; g--) w.g_ifirst[g] = w.g_ifirst[g - 1];
  w.g_ifirst[0] = 0;
  for (size_t lv = 0; lv < w.nrel; lv++) {
    w.rel_indep[lv] = true;
    for (size_t k = w.rel_first[lv]; k < w.rel_first[lv + 1]; k++)
      if (w.g_last[w.it_group[k]] != (int16_t)lv) w.rel_indep[lv] = false;
  }

  /* independent sets: levels linked through shared skus (union-find with
  ** the smallest level as root), searched one set at a time */
  for (size_t lv = 0; lv < w.nrel; lv++) w.comp[lv] = (uint8_t)lv;
  for (size_t g = 0; g < w.ngroups; g++) {
    if (w.g_ifirst[g] == w.g_ifirst[g + 1]) continue;
    size_t r0 = w.it_level[w.g_items[w.g_ifirst[g]]];
    while (w.comp[r0] != r0) r0 = w.comp[r0];
    for (size_t x = w.g_ifirst[g] + 1u; x < w.g_ifirst[g + 1]; x++) {
      size_t r = w.it_level[w.g_items[x]];
      while (w.comp[r] != r) r = w.comp[r];
      if (r < r0) { w.comp[r0] = (uint8_t)r; r0 = r; }
      else w.comp[r] = (uint8_t)r0;
    }
  }
  size_t npos = 0;
  for (size_t lv = 0; lv < w.nrel; lv++) {
    while (w.comp[w.comp[lv]] != w.comp[lv]) w.comp[lv] = w.comp[w.comp[lv]];
    if (w.comp[lv] != lv) continue;
    for (size_t l = lv; l < w.nrel; l++) {
      size_t r = l;
      while (w.comp[r] != r) r = w.comp[r];
      if (r == lv) w.ord[npos++] = (uint8_t)l;
    }
  }
  for (size_t lv = 0; lv < w.nrel; lv++) {
    size_t r = lv;
    while (w.comp[r] != r) r = w.comp[r];
    w.comp[lv] = (uint8_t)r;
    w.pos_of[w.ord[lv]] = (uint8_t)lv;
  }

  for (size_t k = 0; k < w.nitems; k++) w.g_off[w.it_group[k]] = 0;
  for (size_t p = 0; p < w.nrel; p = w.hi) {
    for (w.hi = p + 1; w.hi < w.nrel && w.comp[w.ord[w.hi]] == w.comp[w.ord[p]];) w.hi++;
    w.cur = 0;
    w.best_total = -1;
    search(&w, p, INT64_MAX, -1);
    if (w.overflow) return PATRON_OVERFLOW;
  }
  if (w.stop) out->exhaustive = false;

  for (size_t k = 0; k < w.nitems; k++) w.g_off[w.it_group[k]] = 0;
  for (size_t lv = 0; lv < w.nrel; lv++) {
    int64_t k = w.best[lv];
    out->instances[w.rel_b[lv]] = k;
    if (k == 0) continue;
    if (w.rel_bp[lv] >= 0) write_off(&w, lv, k, out);
    else write_price(&w, lv, k, out);
    take(&w, lv, k);
    if (!pt_add64(out->total_saving, out->saving[w.rel_b[lv]], &out->total_saving))
      w.overflow = true;
  }
  if (w.overflow) rc = PATRON_OVERFLOW;
  return rc;
}
