/*
** checkout.c -- a till that embeds libpatron through the C struct API: no
** JSON, no server, no other process. It opens the shop database, prices
** two carts with patron_quote_cart (shown to the customer as "total due"),
** records each with patron_commit_cart (passing the quoted total, so a
** price change between quote and payment is caught as stale_quote), and
** prints receipts the way a till does. It then retries the second commit,
** as a till does after a network blip, to show that the same order_id
** gives the same receipt and no second order.
**
** README: examples/embed/ is the smallest complete embedding. Build it
** against the static library:
**     make && cc -std=c11 -Icore examples/embed/checkout.c build/libpatron.a \
**        $(pkg-config --cflags --libs lua5.4 sqlite3 jansson uuid) -lm -lpthread \
**        -o checkout
** and run it on the demo shop (patron init, apply examples/shop/shop.lua,
** catalog and customers import): `./checkout shop.db [NOW]`. One handle
** per thread; everything a quote owns is released by patron_quote_release;
** strings in a patron_cart are borrowed for the call only. Exit status: 0,
** or 1 with the library's error code and message on stderr.
*/
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patron.h"

/* What the till knows about an item; patron only needs sku, qty, price. */
typedef struct item {
  const char *name;
  patron_line line;
} item;

static void money(char *buf, size_t size, int64_t cents) {
  int64_t a = cents < 0 ? -cents : cents;
  snprintf(buf, size, "%s%" PRId64 ".%02" PRId64, cents < 0 ? "-" : "", a / 100, a % 100);
}

/* A receipt line: text on the left, a value on the right, 41 columns. */
static void text_row(const char *left, const char *right) {
  printf("  %-28.28s %10s\n", left, right);
}

static void row(const char *left, int64_t cents) {
  char m[32];
  money(m, sizeof m, cents);
  text_row(left, m);
}

static void int_row(const char *left, int64_t n) {
  char m[32];
  snprintf(m, sizeof m, "%" PRId64, n);
  text_row(left, m);
}

static void rule(char c) {
  for (int i = 0; i < 41; i++) putchar(c);
  putchar('\n');
}

/* Prints a receipt (commit) or the customer display (quote). */
static void print_quote(const char *title, const patron_cart *cart, const item *items,
                        const patron_quote *q, int committed) {
  char when[32], buf[64];
  patron_time_format(when, sizeof when, cart->at);
  when[10] = ' ';
  when[16] = 0; /* 2026-11-23 12:00 */
  rule('=');
  text_row("DEMO SHOP, Helsinki", title);
  printf("  order %s\n", cart->order_id);
  text_row(when, cart->customer ? cart->customer : "anonymous");
  rule('-');
  for (size_t i = 0; i < cart->nlines; i++) {
    const patron_line *l = &items[i].line;
    char unit[32];
    money(unit, sizeof unit, l->unit_cents);
    snprintf(buf, sizeof buf, "%" PRId64 " x %s %s", l->qty, unit, items[i].name);
    row(buf, l->qty * l->unit_cents);
  }
  rule('-');
  row("subtotal", q->subtotal_cents);
  for (size_t i = 0; i < q->ndiscounts; i++) row(q->discounts[i].source, -q->discounts[i].cents);
  row(q->shipping_cents ? "shipping" : "shipping (free)", q->shipping_cents);
  if (q->redeem_points) {
    snprintf(buf, sizeof buf, "points redeemed (%" PRId64 ")", q->redeem_points);
    row(buf, -q->redeem_cents);
  }
  row(committed ? "TOTAL PAID EUR" : "TOTAL DUE EUR", q->total_cents);
  rule('-');
  int_row("points earned", q->points_earned);
  if (committed) int_row("points balance", q->balance_after);
  if (q->tier[0]) text_row("tier", q->tier);
  if (q->free_shipping_threshold_cents >= 0 && q->free_shipping_missing_cents > 0) {
    money(buf, sizeof buf, q->free_shipping_missing_cents);
    printf("  add %s more for free shipping\n", buf);
  }
  for (size_t i = 0; i < q->nsuggestions; i++)
    printf("  try %s: %s\n", q->suggestions[i].sku, q->suggestions[i].reason);
  for (size_t i = 0; i < q->nwarnings; i++) printf("  note: %s\n", q->warnings[i]);
  rule('=');
}

static int fail(patron *p, const char *what) {
  fprintf(stderr, "checkout: %s: %s: %s\n", what, patron_code_name(patron_errcode(p)),
          patron_errmsg(p));
  return 1;
}

/* Quote, show the total, commit at that total, print the receipt. */
static int sell(patron *p, patron_cart *cart, const item *items, size_t n,
                patron_line *lines) {
  patron_quote q, r;
  memset(&q, 0, sizeof q);
  memset(&r, 0, sizeof r);
  for (size_t i = 0; i < n; i++) lines[i] = items[i].line;
  cart->lines = lines;
  cart->nlines = n;
  if (patron_quote_cart(p, &q, cart) != PATRON_OK) return fail(p, "quote");
  print_quote("QUOTE", cart, items, &q, 0);
  cart->has_expect_total = 1; /* the customer agreed to this total */
  cart->expect_total_cents = q.total_cents;
  patron_quote_release(&q);
  if (patron_commit_cart(p, &r, cart) != PATRON_OK) return fail(p, "commit");
  print_quote("RECEIPT", cart, items, &r, 1);
  patron_quote_release(&r);
  return 0;
}

static int64_t fixed_now;
static int64_t fixed_clock(void *ud) {
  (void)ud;
  return fixed_now;
}

int main(int argc, char **argv) {
  const char *db = argc > 1 ? argv[1] : getenv("PATRON_DB");
  if (!db || argc > 3) {
    fputs("usage: checkout DB [NOW]   (NOW: 2026-11-23T12:00:00Z; default: the clock)\n",
          stderr);
    return 2;
  }
  patron_options o = PATRON_OPTIONS_INIT;
  if (argc == 3) {
    if (patron_time_parse(&fixed_now, argv[2]) != PATRON_OK) {
      fprintf(stderr, "checkout: bad time '%s'\n", argv[2]);
      return 2;
    }
    o.clock = fixed_clock;
  }
  patron *p = NULL;
  int rc = 1;
  if (patron_open(&p, db, &o) != PATRON_OK) {
    rc = fail(p, "open");
    goto done;
  }
  int64_t now = patron_now(p);

  /* Cart 1: an MP3 player and headphones (the mp3-kit bundle applies). */
  const item cart1[] = {
      {"MP3 player 8 GB", {"MP3-01", 1, 4999, NULL, NULL}},
      {"Headphones", {"HP-07", 1, 3999, NULL, NULL}},
  };
  /* Cart 2: coffee for a regular, paying partly with points. */
  const item cart2[] = {
      {"Espresso beans", {"COF-01", 2, 1290, NULL, NULL}},
      {"White mug", {"MUG-01", 1, 890, NULL, NULL}},
      {"Barista book", {"BOOK-02", 1, 1990, NULL, NULL}},
  };
  patron_line lines[8];
  patron_cart c1 = {0}, c2 = {0};
  c1.customer = "C1";
  c1.order_id = "TILL1-000001";
  c1.at = now;
  c2.customer = "C2";
  c2.order_id = "TILL1-000002";
  c2.at = now;
  c2.redeem_points = 500;

  if (sell(p, &c1, cart1, 2, lines) || sell(p, &c2, cart2, 3, lines)) goto done;

  /* The till did not see the answer and sends the same commit again. */
  patron_quote again;
  memset(&again, 0, sizeof again);
  for (size_t i = 0; i < 3; i++) lines[i] = cart2[i].line;
  if (patron_commit_cart(p, &again, &c2) != PATRON_OK) {
    rc = fail(p, "retry");
    goto done;
  }
  printf("retry of %s: same receipt, total %" PRId64 ", balance %" PRId64 "\n", c2.order_id,
         again.total_cents, again.balance_after);
  patron_quote_release(&again);

  /* A commit whose agreed total no longer matches is refused, unwritten. */
  patron_cart c3 = c1;
  patron_quote q3;
  memset(&q3, 0, sizeof q3);
  for (size_t i = 0; i < 2; i++) lines[i] = cart1[i].line;
  c3.order_id = "TILL1-000003";
  c3.expect_total_cents = 1;
  if (patron_commit_cart(p, &q3, &c3) == PATRON_OK) {
    patron_quote_release(&q3);
    fputs("checkout: a wrong expected total was accepted\n", stderr);
    goto done;
  }
  printf("order %s refused: %s (%s)\n", c3.order_id, patron_code_name(patron_errcode(p)),
         patron_errmsg(p));
  rc = 0;
done:
  patron_close(p);
  return rc;
}
