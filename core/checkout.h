/*
** checkout.h -- the cart as the quote pipeline sees it, the bundle
** allocator's interface and the quote's working state. The pipeline
** (checkout.c) runs the stages of DESIGN.md section 4 over a pt_cart and
** fills a pt_quote; commit.c records it; cart.c decodes carts from JSON.
*/
#ifndef PT_CHECKOUT_H
#define PT_CHECKOUT_H

#include <jansson.h>

#include "config.h"

#define PT_MAX_LINES 1000     /* a cart of more lines is refused */
#define PT_MAX_QTY 1000000    /* units of one line */
#define PT_ID_MAX 128         /* order ids, customer ids */

typedef struct pt_line {
  char sku[PT_NAME_MAX];
  char category[PT_NAME_MAX];
  char tags[256];
  int64_t qty;               /* > 0 */
  int64_t unit_cents;        /* >= 0 */
  /* filled by the pipeline */
  int64_t gross_cents;       /* qty * unit_cents (overflow-checked) */
  int64_t discount_cents;    /* every discount on this line so far */
  int64_t bundled_units;     /* units taken by bundles */
} pt_line;

typedef struct pt_cart {
  char program[PT_NAME_MAX]; /* "" = the default program */
  char customer[PT_ID_MAX];  /* "" = anonymous */
  char currency[8];          /* "" = the shop's */
  char order_id[PT_ID_MAX];  /* required for commit */
  char region[PT_NAME_MAX];
  int64_t at;                /* 0 = now */
  size_t nlines;
  pt_line *lines;            /* owned */
  int64_t redeem_points;     /* >= 0 */
  size_t nshown;
  char (*shown)[PT_NAME_MAX];/* skus suggested to and declined by the customer */
  bool has_expect_total;
  int64_t expect_total_cents;
  bool track;                /* remember as the customer's open cart */
  char *canonical;           /* canonical JSON of the cart (idempotency) */
} pt_cart;

void pt_cart_free(pt_cart *c);

/* Decodes and validates a cart from JSON text. On error the handle has
** INVALID_JSON or INVALID_CART with the path ("lines[2].qty") and a
** message saying what was expected and what was got. cart.c. */
int pt_cart_decode(patron *p, pt_cart *out, const char *json, size_t len);
/* The same from an already parsed object (the JSON-lines and serve paths). */
int pt_cart_from_json(patron *p, pt_cart *out, const json_t *obj);
/* From the public struct (the C checkout path). */
int pt_cart_from_struct(patron *p, pt_cart *out, const patron_cart *in);

/* ---- bundles (bundle.c) -------------------------------------------- */

typedef struct pt_bundle_alloc {
  /* per bundle (sized nbundles by the caller) */
  int64_t *instances;        /* how many times the bundle applies */
  int64_t *saving;           /* cents saved by all its instances */
  /* per line (sized nlines by the caller) */
  int64_t *line_discount;    /* cents off the line from bundles */
  int64_t *line_units;       /* units of the line inside bundles */
  int64_t total_saving;
  bool exhaustive;           /* false: the search hit its bound (greedy) */
} pt_bundle_alloc;

/* Allocates cart units to bundles without overlap, maximising the total
** saving; see bundle.c for the search bound and the tie rule. The caller
** zeroes nothing: every output array is written. Returns PATRON_OK or
** PATRON_OVERFLOW. */
int pt_bundle_allocate(const pt_bundle *bundles, size_t nbundles,
                       const pt_line *lines, size_t nlines,
                       pt_bundle_alloc *out);

/* ---- the quote's working state (checkout.c) ---------------------------- */

typedef struct pt_quote {
  pt_cart *cart;             /* borrowed */
  const pt_config *cfg;      /* borrowed */
  const pt_program *prog;
  bool commit;               /* evaluating inside a commit */
  int64_t at;
  int64_t subtotal_cents;
  int64_t discount_cents;
  int64_t shipping_cents;
  int64_t threshold_cents;   /* -1: no free-shipping rule applies */
  int64_t missing_cents;
  int64_t redeem_points, redeem_cents;
  int64_t total_cents;
  int64_t base_points, tier_points, bonus_points, points_earned;
  char tier[PT_NAME_MAX];
  patron_balance_info balance; /* the customer's, before this order */
  bool known_customer;
  /* a rule's `shipping {cents, reason}` action replaces stage 4's charge */
  bool shipping_override;
  int64_t shipping_override_cents;
  char shipping_override_source[PT_NAME_MAX + 8];
  char shipping_override_reason[256];
  /* contract arrays, built as the stages run (owned) */
  json_t *discounts, *suggestions, *messages, *trace, *warnings, *bonuses;
  /* an entry could not be added to them (out of memory): the quote would
  ** silently lack it, so pt_quote_run fails with NOMEM at its end */
  bool oom;
} pt_quote;

/* Runs the pipeline over cart at the cart's time (or now). On success *q
** holds the result; on failure too it may hold arrays: release with
** pt_quote_free either way. */
int pt_quote_run(patron *p, pt_quote *q, pt_cart *cart, bool commit);
void pt_quote_free(pt_quote *q);
/* The quote in the contract's JSON shape (new reference). */
json_t *pt_quote_to_json(const pt_quote *q);
/* Adds a discount to the quote (trace and discounts[] with source, reason,
** skus) spread over the given line indexes in proportion to what is left
** of each line; cut to what is left, with a warning when cut. NOMEM when
** the entry cannot be built (the lines are then left as they were). */
int pt_quote_discount(patron *p, pt_quote *q, const char *source,
                      const char *reason, int64_t cents, const size_t *lines,
                      size_t nlines);
/* Appends a trace step. Out of memory sets q->oom (the quote then fails),
** so callers need not check. */
void pt_quote_trace(pt_quote *q, const char *stage, const char *source,
                    const char *what, int64_t amount, const char *reason);

/* Splits total over n weights in proportion, each share floored, the
** remainder cents one by one to the largest weights (first on ties). The
** shares sum to total exactly. All weights 0: an even split the same way.
** Returns false on overflow. */
bool pt_split(int64_t total, const int64_t *weights, size_t n, int64_t *out);

#endif /* PT_CHECKOUT_H */
