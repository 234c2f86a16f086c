/* test_bundle.c -- the bundle allocator (bundle.c): a table of carts with
** the expected instances, per-line discounts and totals (best saving over
** greedy, ties by config order, fixed-price splits and their remainder,
** unprofitable bundles, several prices of one sku), large quantities and
** overflow, the search budget and the 64-bundle cap, and a randomized
** comparison with a unit-by-unit brute force. */
#include "checkout.h"
#include "t.h"

/* ---- building carts and bundles from short specs ------------------------ */

#define MAXB 80
#define MAXL 80
#define MAXI 8

typedef struct fixture {
  pt_bundle b[MAXB];
  pt_bundle_item items[MAXB][MAXI];
  pt_line l[MAXL];
  size_t nb, nl;
} fixture;

/* "%1500 MP3-01 HP-07" (15% off each unit) or "=2500 2*COF-01 MUG-01"
** (fixed price); an empty item list is allowed. */
static void add_bundle(fixture *f, const char *spec) {
  pt_bundle *b = &f->b[f->nb];
  char buf[256];
  memset(b, 0, sizeof *b);
  snprintf(b->name, sizeof b->name, "b%zu", f->nb);
  b->items = f->items[f->nb];
  b->price_cents = -1;
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
    if (tok[0] == '%') b->off_bp = strtoll(tok + 1, NULL, 10);
    else if (tok[0] == '=') b->price_cents = strtoll(tok + 1, NULL, 10);
    else {
      pt_bundle_item *it = &b->items[b->nitems++];
      char *star = strchr(tok, '*');
      it->qty = star ? strtoll(tok, NULL, 10) : 1;
      snprintf(it->sku, sizeof it->sku, "%s", star ? star + 1 : tok);
    }
  }
  f->nb++;
}

static void add_line(fixture *f, const char *sku, int64_t qty, int64_t unit) {
  pt_line *l = &f->l[f->nl++];
  memset(l, 0, sizeof *l);
  snprintf(l->sku, sizeof l->sku, "%s", sku);
  l->qty = qty;
  l->unit_cents = unit;
}

/* "MP3-01 1 4999": sku, qty, unit_cents */
static void add_line_spec(fixture *f, const char *spec) {
  char sku[PT_NAME_MAX];
  long long qty, unit;
  if (sscanf(spec, "%63s %lld %lld", sku, &qty, &unit) != 3) abort();
  add_line(f, sku, qty, unit);
}

typedef struct result {
  int64_t inst[MAXB], saving[MAXB], disc[MAXL], units[MAXL];
  pt_bundle_alloc a;
  int rc;
} result;

#define GARBAGE 0x5a5a5a5a5a5aLL

static void run(const fixture *f, result *r) {
  for (size_t i = 0; i < MAXB; i++) r->inst[i] = r->saving[i] = GARBAGE;
  for (size_t i = 0; i < MAXL; i++) r->disc[i] = r->units[i] = GARBAGE;
  r->a = (pt_bundle_alloc){.instances = r->inst, .saving = r->saving,
                           .line_discount = r->disc, .line_units = r->units,
                           .total_saving = GARBAGE, .exhaustive = false};
  r->rc = pt_bundle_allocate(f->b, f->nb, f->l, f->nl, &r->a);
}

/* Structural invariants of any answer: every output written, nothing
** beyond its line, the sums agree. */
static void check_invariants(const fixture *f, const result *r) {
  int64_t sum_d = 0, sum_s = 0, sum_u = 0, want_u = 0;
  for (size_t l = 0; l < f->nl; l++) {
    CHECK(r->units[l] >= 0 && r->units[l] <= f->l[l].qty);
    CHECK(r->disc[l] >= 0);
    CHECK((__int128)r->disc[l] <= (__int128)f->l[l].qty * f->l[l].unit_cents);
    sum_d += r->disc[l];
    sum_u += r->units[l];
  }
  for (size_t b = 0; b < f->nb; b++) {
    CHECK(r->inst[b] >= 0);
    CHECK(r->inst[b] == 0 ? r->saving[b] == 0 : r->saving[b] > 0);
    sum_s += r->saving[b];
    for (size_t i = 0; i < f->b[b].nitems; i++) want_u += r->inst[b] * f->b[b].items[i].qty;
  }
  CHECK_EQ_I64(sum_d, r->a.total_saving);
  CHECK_EQ_I64(sum_s, r->a.total_saving);
  CHECK_EQ_I64(sum_u, want_u);
}

/* ---- the table ------------------------------------------------------ */

typedef struct bcase {
  const char *name;
  const char *bundles[8];
  const char *lines[8];
  int64_t inst[8], disc[8], units[8];
  int64_t total;
} bcase;

static const bcase cases[] = {
    {"no bundles", {NULL}, {"X 1 1000"}, {0}, {0}, {0}, 0},
    {"a bundle sku is missing", {"%1000 X Q"}, {"X 1 1000", "Y 1 1000"},
     {0}, {0, 0}, {0, 0}, 0},
    {"one instance, floored per unit", {"%1500 MP3-01 HP-07"},
     {"MP3-01 1 4999", "HP-07 1 2999"}, {1}, {749, 449}, {1, 1}, 1198},
    {"qty allows two instances", {"%1500 MP3-01 HP-07"},
     {"MP3-01 2 4999", "HP-07 3 2999"}, {2}, {1498, 898}, {2, 2}, 2396},
    /* greedy in config order takes A (200) and blocks B (1000) */
    {"overlap: the later bundle is better", {"%1000 X Y", "%5000 Y Z"},
     {"X 1 1000", "Y 1 1000", "Z 1 1000"}, {0, 1}, {0, 500, 500}, {0, 1, 1}, 1000},
    /* one big bundle (800) against two smaller ones (500 + 500) */
    {"two smaller bundles beat one bigger", {"%2000 W X Y Z", "%2500 W X", "%2500 Y Z"},
     {"W 1 1000", "X 1 1000", "Y 1 1000", "Z 1 1000"}, {0, 1, 1},
     {250, 250, 250, 250}, {1, 1, 1, 1}, 1000},
    /* both save 200: the one declared first wins, either way round */
    {"tie: first declared wins (pair first)", {"%1000 X Y", "%2000 X"},
     {"X 1 1000", "Y 1 1000"}, {1, 0}, {100, 100}, {1, 1}, 200},
    {"tie: first declared wins (single first)", {"%2000 X", "%1000 X Y"},
     {"X 1 1000", "Y 1 1000"}, {1, 0}, {200, 0}, {1, 0}, 200},
    /* saving 3297 - 2500 = 797: 289 per coffee, 217 the mug, 2 left over
    ** go to the dearest unit (a coffee) */
    {"fixed price: proportional split and remainder", {"=2500 2*COF-01 MUG-01"},
     {"COF-01 2 1199", "MUG-01 1 899"}, {1}, {580, 217}, {2, 1}, 797},
    /* 401 over two units of 700: 200 each, the odd cent to the first line */
    {"fixed price: remainder to the first line on ties", {"=999 A B"},
     {"B 1 700", "A 1 700"}, {1}, {201, 200}, {1, 1}, 401},
    /* 8 over three units of 3: 2 each, remainder 2 but a unit of 3 can take
    ** only 1 more: the next unit takes the other */
    {"fixed price: remainder never exceeds a unit", {"=1 A B C"},
     {"A 1 3", "B 1 3", "C 1 3"}, {1}, {3, 3, 2}, {1, 1, 1}, 8},
    {"fixed price that saves nothing is not used", {"=2000 X Y", "=2500 X Y", "=1999 X Y"},
     {"X 1 1000", "Y 1 1000"}, {0, 0, 1}, {1, 0}, {1, 1}, 1},
    {"free bundle discounts whole lines", {"=0 X Y"}, {"X 1 300", "Y 1 200"},
     {1}, {300, 200}, {1, 1}, 500},
    {"same sku at two prices: dearest first", {"%1000 X Y"},
     {"X 1 500", "X 1 900", "Y 1 100"}, {1}, {0, 90, 10}, {0, 1, 1}, 100},
    {"same sku at two prices: fixed price stops when cheap", {"=1000 X"},
     {"X 1 800", "X 2 1200"}, {2}, {0, 400}, {0, 2}, 400},
    {"same price on two lines: first line first", {"%5000 X"},
     {"Y 1 10", "X 1 100", "X 1 100"}, {2}, {0, 50, 50}, {0, 1, 1}, 100},
    {"bundle needing qty 2", {"%5000 2*X"}, {"X 5 100"}, {2}, {200}, {4}, 200},
    {"bundle needing qty 2, only one unit", {"%5000 2*X"}, {"X 1 100"}, {0}, {0}, {0}, 0},
    {"a sku listed twice counts twice", {"%5000 X X"}, {"X 3 100"}, {1}, {100}, {2}, 100},
    /* 1% of 50 floors to 0: such an instance is not used */
    {"off_bp instance saving 0 is not used", {"%100 X"}, {"X 1 100", "X 1 50"},
     {1}, {1, 0}, {1, 0}, 1},
    {"invalid bundles never apply", {"%0 X", "%10001 X", "%5000", "%5000 0*X"},
     {"X 1 100"}, {0, 0, 0, 0}, {0}, {0}, 0},
};

TEST(table) {
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const bcase *k = &cases[c];
    fixture f = {.nb = 0};
    result r;
    for (size_t i = 0; i < 8 && k->bundles[i]; i++) add_bundle(&f, k->bundles[i]);
    for (size_t i = 0; i < 8 && k->lines[i]; i++) add_line_spec(&f, k->lines[i]);
    run(&f, &r);
    int before = t_cur_fail;
    CHECK_EQ_I64(r.rc, PATRON_OK);
    CHECK(r.a.exhaustive);
    CHECK_EQ_I64(r.a.total_saving, k->total);
    for (size_t b = 0; b < f.nb; b++) CHECK_EQ_I64(r.inst[b], k->inst[b]);
    for (size_t l = 0; l < f.nl; l++) {
      CHECK_EQ_I64(r.disc[l], k->disc[l]);
      CHECK_EQ_I64(r.units[l], k->units[l]);
    }
    check_invariants(&f, &r);
    if (t_cur_fail != before) printf("#   in case \"%s\"\n", k->name);
  }
}

TEST(hundreds_of_bundles_few_relevant) {
  static fixture f;
  result r;
  f.nb = f.nl = 0;
  add_line(&f, "MP3-01", 1, 4999);
  add_line(&f, "HP-07", 1, 2999);
  for (int i = 0; i < MAXB; i++) {
    char spec[64];
    if (i == 70) snprintf(spec, sizeof spec, "%%1500 HP-07 MP3-01");
    else snprintf(spec, sizeof spec, "%%1500 MP3-01 NOPE-%d", i);
    add_bundle(&f, spec);
  }
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK(r.a.exhaustive);
  for (int i = 0; i < MAXB; i++) CHECK_EQ_I64(r.inst[i], i == 70);
  CHECK_EQ_I64(r.saving[70], 1198);
  CHECK_EQ_I64(r.a.total_saving, 1198);
  check_invariants(&f, &r);
}

/* ---- large quantities and overflow ------------------------------------- */

TEST(large_quantities) {
  fixture f = {.nb = 0};
  result r;
  add_bundle(&f, "%1000 X Y");
  add_line(&f, "X", 1000000, 1000000000000LL);
  add_line(&f, "Y", 1000000, 1000000000000LL);
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK(r.a.exhaustive);
  CHECK_EQ_I64(r.inst[0], 1000000);
  CHECK_EQ_I64(r.disc[0], 100000000000000000LL);
  CHECK_EQ_I64(r.disc[1], 100000000000000000LL);
  CHECK_EQ_I64(r.a.total_saving, 200000000000000000LL);
  check_invariants(&f, &r);

  /* fixed price near the int64 limit: 4e12 a pair, saving 4e12 - 1000
  ** split 3:1 exactly, 1e6 times: 3.999999999e18 in all */
  f = (fixture){.nb = 0};
  add_bundle(&f, "=1000 X Y");
  add_line(&f, "X", 1000000, 3000000000000LL);
  add_line(&f, "Y", 1000000, 1000000000000LL);
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK_EQ_I64(r.inst[0], 1000000);
  CHECK_EQ_I64(r.disc[0], 2999999999250000000LL);
  CHECK_EQ_I64(r.disc[1], 999999999750000000LL);
  CHECK_EQ_I64(r.a.total_saving, 3999999999000000000LL);
  check_invariants(&f, &r);

  /* instances straddling two lines of one sku: 1000+1000 (saves 500),
  ** 1000+900 (400: 210 + 189, the odd cent to the 1000 unit), then
  ** 499,999 pairs of 900 (300 each) */
  f = (fixture){.nb = 0};
  add_bundle(&f, "=1500 2*X");
  add_line(&f, "X", 3, 1000);
  add_line(&f, "X", 1000000, 900);
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK_EQ_I64(r.inst[0], 500001);
  CHECK_EQ_I64(r.disc[0], 711);
  CHECK_EQ_I64(r.disc[1], 149999889);
  CHECK_EQ_I64(r.units[0], 3);
  CHECK_EQ_I64(r.units[1], 999999);
  CHECK_EQ_I64(r.a.total_saving, 150000600);
  check_invariants(&f, &r);
}

TEST(overflow_is_an_error) {
  fixture f = {.nb = 0};
  result r;
  /* one line of 1e6 x 1e13 = 1e19 > INT64_MAX */
  add_bundle(&f, "%1000 X");
  add_line(&f, "X", 1000000, 10000000000000LL);
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OVERFLOW);
  CHECK_EQ_I64(r.inst[0], 0); /* outputs still written */
  CHECK_EQ_I64(r.disc[0], 0);

  /* 3 x 4e18 does not fit, 2 x 4e18 does; a line no bundle names does not
  ** count */
  f = (fixture){.nb = 0};
  add_bundle(&f, "%1000 X Y Z");
  add_line(&f, "X", 1000000, 4000000000000LL);
  add_line(&f, "Y", 1000000, 4000000000000LL);
  add_line(&f, "Z", 1000000, 4000000000000LL);
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OVERFLOW);
  f.b[0].nitems = 2; /* X Y */
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK_EQ_I64(r.inst[0], 1000000);
  CHECK_EQ_I64(r.a.total_saving, 800000000000000000LL);
  CHECK_EQ_I64(r.disc[2], 0);
  check_invariants(&f, &r);
}

/* ---- a unit-by-unit reference ------------------------------------------ */

static bool ref_valid(const pt_bundle *b) {
  if (b->nitems == 0) return false;
  for (size_t i = 0; i < b->nitems; i++)
    if (b->items[i].qty <= 0) return false;
  return b->price_cents >= 0 || (b->off_bp >= 1 && b->off_bp <= 10000);
}

/* Takes counts[b] instances of each bundle in config order, each instance
** the dearest free unit (earlier line on ties) for each unit it needs.
** Returns the total saving, or -1 if the counts are not a valid allocation
** (not enough units, or an instance saving <= 0). */
static int64_t ref_eval(const fixture *f, const int64_t *counts, int64_t *units,
                        int64_t *disc, int64_t *saving) {
  int64_t left[MAXL], total = 0;
  for (size_t l = 0; l < f->nl; l++) {
    left[l] = f->l[l].qty;
    units[l] = disc[l] = 0;
  }
  for (size_t b = 0; b < f->nb; b++) {
    const pt_bundle *bu = &f->b[b];
    saving[b] = 0;
    if (counts[b] > 0 && !ref_valid(bu)) return -1;
    for (int64_t n = 0; n < counts[b]; n++) {
      int line[64];
      size_t nu = 0;
      int64_t sum = 0, s = 0, d[64];
      for (size_t i = 0; i < bu->nitems; i++)
        for (int64_t q = 0; q < bu->items[i].qty; q++) {
          int best = -1;
          for (size_t l = 0; l < f->nl; l++)
            if (left[l] > 0 && strcmp(f->l[l].sku, bu->items[i].sku) == 0 &&
                (best < 0 || f->l[l].unit_cents > f->l[best].unit_cents))
              best = (int)l;
          if (best < 0 || nu == 64) return -1;
          left[best]--;
          line[nu++] = best;
          sum += f->l[best].unit_cents;
        }
      if (bu->price_cents >= 0) {
        s = sum - bu->price_cents;
        if (s <= 0) return -1;
        int64_t rem = s;
        for (size_t u = 0; u < nu; u++) {
          d[u] = s * f->l[line[u]].unit_cents / sum;
          rem -= d[u];
        }
        while (rem > 0) { /* dearest unit, earlier line, with room left */
          size_t pick = nu;
          for (size_t u = 0; u < nu; u++) {
            if (d[u] == f->l[line[u]].unit_cents) continue;
            if (pick == nu || f->l[line[u]].unit_cents > f->l[line[pick]].unit_cents ||
                (f->l[line[u]].unit_cents == f->l[line[pick]].unit_cents &&
                 line[u] < line[pick]))
              pick = u;
          }
          if (pick == nu) abort();
          int64_t give = f->l[line[pick]].unit_cents - d[pick];
          if (give > rem) give = rem;
          d[pick] += give;
          rem -= give;
        }
      } else {
        for (size_t u = 0; u < nu; u++) {
          d[u] = f->l[line[u]].unit_cents * bu->off_bp / 10000;
          s += d[u];
        }
        if (s <= 0) return -1;
      }
      for (size_t u = 0; u < nu; u++) {
        units[line[u]]++;
        disc[line[u]] += d[u];
      }
      saving[b] += s;
      total += s;
    }
  }
  return total;
}

typedef struct brute {
  int64_t cnt[MAXB], best[MAXB], best_total;
} brute;

/* Every valid count vector; the best saving, then the lexicographically
** greatest vector. Counts beyond an invalid one are invalid too. */
static void brute_rec(const fixture *f, brute *s, size_t b) {
  int64_t units[MAXL], disc[MAXL], saving[MAXB];
  if (b == f->nb) {
    int64_t t = ref_eval(f, s->cnt, units, disc, saving);
    bool better = t > s->best_total;
    if (t == s->best_total)
      for (size_t i = 0; i < f->nb; i++)
        if (s->cnt[i] != s->best[i]) {
          better = s->cnt[i] > s->best[i];
          break;
        }
    if (better) {
      s->best_total = t;
      memcpy(s->best, s->cnt, sizeof s->cnt);
    }
    return;
  }
  for (int64_t c = 0;; c++) {
    s->cnt[b] = c;
    for (size_t i = b + 1; i < f->nb; i++) s->cnt[i] = 0;
    if (ref_eval(f, s->cnt, units, disc, saving) < 0) break;
    brute_rec(f, s, b + 1);
  }
  s->cnt[b] = 0;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static int64_t rnd_to(int64_t n) { return (int64_t)(rnd() % (uint64_t)n); }

/* 1-5 lines of skus A-D, some sharing a sku, prices small (floored to 0
** by a percentage), round (ties) or any; 0-5 bundles of 1-3 items (E is
** never in a cart), percentage or fixed price, some repeating an earlier
** bundle (a tie the earlier one must win). */
static void random_fixture(fixture *f) {
  static const char *const skus[] = {"A", "B", "C", "D", "E"};
  static const int64_t round_prices[] = {100, 200, 300, 1000};
  static const int64_t round_bp[] = {1000, 2000, 5000};
  static char specs[8][128];
  f->nb = f->nl = 0;
  size_t nl = 1 + (size_t)rnd_to(5), nb = (size_t)rnd_to(6);
  for (size_t l = 0; l < nl; l++) {
    int64_t kind = rnd_to(4);
    int64_t price = kind == 0 ? rnd_to(40) : kind == 1 ? round_prices[rnd_to(4)] : 50 + rnd_to(2000);
    if (l > 0 && rnd_to(5) == 0) price = f->l[l - 1].unit_cents;
    add_line(f, skus[rnd_to(4)], 1 + rnd_to(3), price);
  }
  for (size_t b = 0; b < nb; b++) {
    char *spec = specs[b];
    size_t size = sizeof specs[b];
    int n;
    if (b > 0 && rnd_to(6) == 0) {
      memcpy(spec, specs[rnd_to((int64_t)b)], size);
      add_bundle(f, spec);
      continue;
    }
    int64_t kind = rnd_to(6);
    if (kind < 2) n = snprintf(spec, size, "=%lld", (long long)rnd_to(3000));
    else
      n = snprintf(spec, size, "%%%lld",
                   (long long)(kind == 2   ? rnd_to(60)
                               : kind == 3 ? round_bp[rnd_to(3)]
                                           : 1 + rnd_to(10000)));
    for (int64_t i = 0, k = 1 + rnd_to(3); i < k; i++)
      n += snprintf(spec + n, size - (size_t)n, " %s%s", rnd_to(4) == 0 ? "2*" : "",
                    skus[rnd_to(rnd_to(8) == 0 ? 5 : 4)]);
    add_bundle(f, spec);
  }
}

TEST(random_carts_match_brute_force) {
  rng_state = 0x9e3779b97f4a7c15ULL;
  int mismatches = 0;
  for (int iter = 0; iter < 2000; iter++) {
    fixture f;
    result r;
    brute s = {.best_total = -1};
    int64_t units[MAXL], disc[MAXL], saving[MAXB];
    random_fixture(&f);
    run(&f, &r);
    brute_rec(&f, &s, 0);
    int before = t_cur_fail;
    CHECK_EQ_I64(r.rc, PATRON_OK);
    CHECK(r.a.exhaustive);
    CHECK_EQ_I64(r.a.total_saving, s.best_total);
    for (size_t b = 0; b < f.nb; b++) CHECK_EQ_I64(r.inst[b], s.best[b]);
    /* the lines and savings of the chosen counts, unit by unit */
    CHECK_EQ_I64(ref_eval(&f, r.inst, units, disc, saving), r.a.total_saving);
    for (size_t l = 0; l < f.nl; l++) {
      CHECK_EQ_I64(r.units[l], units[l]);
      CHECK_EQ_I64(r.disc[l], disc[l]);
    }
    for (size_t b = 0; b < f.nb; b++) CHECK_EQ_I64(r.saving[b], saving[b]);
    check_invariants(&f, &r);
    if (t_cur_fail != before) {
      printf("#   random cart %d:\n", iter);
      for (size_t l = 0; l < f.nl; l++)
        printf("#     line %s x%lld @%lld\n", f.l[l].sku, (long long)f.l[l].qty,
               (long long)f.l[l].unit_cents);
      for (size_t b = 0; b < f.nb; b++) {
        printf("#     bundle off=%lld price=%lld:", (long long)f.b[b].off_bp,
               (long long)f.b[b].price_cents);
        for (size_t i = 0; i < f.b[b].nitems; i++)
          printf(" %lld*%s", (long long)f.b[b].items[i].qty, f.b[b].items[i].sku);
        printf("\n");
      }
      if (++mismatches == 3) break;
    }
  }
}

/* ---- limits --------------------------------------------------------------- */

/* Counts of the greedy allocation: each bundle in config order, as many
** instances as are valid. */
static int64_t greedy_total(const fixture *f) {
  int64_t cnt[MAXB] = {0}, units[MAXL], disc[MAXL], saving[MAXB], t = 0;
  for (size_t b = 0; b < f->nb; b++)
    for (;;) {
      cnt[b]++;
      int64_t v = ref_eval(f, cnt, units, disc, saving);
      if (v < 0) {
        cnt[b]--;
        break;
      }
      t = v;
    }
  return t;
}

TEST(node_budget_still_gives_a_valid_allocation) {
  static fixture f;
  result r;
  int64_t units[MAXL], disc[MAXL], saving[MAXB];
  rng_state = 12345;
  f.nb = f.nl = 0;
  for (int l = 0; l < 16; l++) {
    char sku[16];
    snprintf(sku, sizeof sku, "S%02d", l);
    add_line(&f, sku, 4, 500 + rnd_to(1500));
  }
  for (int b = 0; b < 60; b++) {
    char spec[64];
    snprintf(spec, sizeof spec, "%%%lld S%02d S%02d S%02d", (long long)(1000 + rnd_to(4000)),
             (int)rnd_to(16), (int)rnd_to(16), (int)rnd_to(16));
    add_bundle(&f, spec);
  }
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK(!r.a.exhaustive);
  check_invariants(&f, &r);
  /* the counts are a valid allocation, the lines are its lines, and it is
  ** no worse than greedy */
  CHECK_EQ_I64(ref_eval(&f, r.inst, units, disc, saving), r.a.total_saving);
  for (size_t l = 0; l < f.nl; l++) {
    CHECK_EQ_I64(r.units[l], units[l]);
    CHECK_EQ_I64(r.disc[l], disc[l]);
  }
  CHECK(r.a.total_saving >= greedy_total(&f));
  CHECK(r.a.total_saving > 0);
}

TEST(more_than_64_relevant_bundles) {
  static fixture f;
  result r;
  f.nb = f.nl = 0;
  for (int i = 0; i < 70; i++) {
    char sku[16], spec[32];
    snprintf(sku, sizeof sku, "S%02d", i);
    add_line(&f, sku, 1, 1000);
    snprintf(spec, sizeof spec, "%%1000 S%02d", i);
    add_bundle(&f, spec);
  }
  run(&f, &r);
  CHECK_EQ_I64(r.rc, PATRON_OK);
  CHECK(!r.a.exhaustive);
  for (int i = 0; i < 70; i++) {
    CHECK_EQ_I64(r.inst[i], i < 64);
    CHECK_EQ_I64(r.disc[i], i < 64 ? 100 : 0);
  }
  CHECK_EQ_I64(r.a.total_saving, 6400);
  check_invariants(&f, &r);

  /* 64 exactly is exhaustive; a 65th that never applies changes nothing */
  f.nb = 64;
  add_bundle(&f, "%1000 S00 NOPE");
  run(&f, &r);
  CHECK(r.a.exhaustive);
  CHECK_EQ_I64(r.a.total_saving, 6400);
}

int main(void) {
  RUN(table);
  RUN(hundreds_of_bundles_few_relevant);
  RUN(large_quantities);
  RUN(overflow_is_an_error);
  RUN(random_carts_match_brute_force);
  RUN(node_budget_still_gives_a_valid_allocation);
  RUN(more_than_64_relevant_bundles);
  return t_done();
}
