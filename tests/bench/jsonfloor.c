/*
** jsonfloor.c -- the JSON floor that `patron quote` is compared with.
**
**   jsonfloor < carts.jsonl > /dev/null
**
** Does, per input line, the JSON work any JSON-lines quoting process must
** do and nothing else: parse the cart with jansson, walk its lines summing
** qty * unit_cents, build a reply with the keys and roughly the size of a
** patron quote (the cart echo: program, customer, currency, lines[] with
** per-line totals; subtotal_cents, discounts[] with one entry,
** discount_cents, shipping_cents, free_shipping{}, redeem{}, total_cents,
** points_earned, tier, suggestions[], messages[], trace[] with 6 entries,
** warnings[], config_version), serialise it compactly and write it with a
** newline. No pricing rules, no database, no Lua.
**
** Prints "jsonfloor: N carts, E errors" on stderr; exit 1 if any line was
** not a JSON object.
*/
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *trace(const char *stage, const char *source, const char *what,
                     json_int_t amount, const char *reason) {
  json_t *t = json_object();
  json_object_set_new(t, "stage", json_string(stage));
  json_object_set_new(t, "source", json_string(source));
  if (what) json_object_set_new(t, what, json_integer(amount));
  json_object_set_new(t, "reason", json_string(reason));
  return t;
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long n = 0, errors = 0;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    json_error_t err;
    json_t *cart = json_loadb(line, (size_t)len, 0, &err);
    if (!json_is_object(cart)) {
      json_decref(cart);
      errors++;
      fputs("{\"error\":{\"code\":\"invalid_json\",\"message\":\"malformed JSON\"}}\n",
            stdout);
      continue;
    }
    n++;
    json_t *lines = json_object_get(cart, "lines"), *l;
    json_t *echo = json_array();
    json_t *skus = json_array();
    json_int_t subtotal = 0;
    size_t i;
    json_array_foreach(lines, i, l) {
      const char *sku = json_string_value(json_object_get(l, "sku"));
      json_int_t qty = json_integer_value(json_object_get(l, "qty"));
      json_int_t unit = json_integer_value(json_object_get(l, "unit_cents"));
      subtotal += qty * unit;
      json_t *lj = json_object();
      json_object_set_new(lj, "sku", json_string(sku ? sku : ""));
      json_object_set_new(lj, "qty", json_integer(qty));
      json_object_set_new(lj, "unit_cents", json_integer(unit));
      json_object_set_new(lj, "discount_cents", json_integer(0));
      json_object_set_new(lj, "total_cents", json_integer(qty * unit));
      json_array_append_new(echo, lj);
      if (i < 2) json_array_append_new(skus, json_string(sku ? sku : ""));
    }
    const char *customer = json_string_value(json_object_get(cart, "customer"));
    json_int_t redeem_pts = json_integer_value(json_object_get(cart, "redeem_points"));
    json_int_t discount = subtotal / 20;
    json_int_t goods = subtotal - discount;
    json_int_t shipping = goods >= 5000 ? 0 : 499;
    json_int_t redeem_cents = redeem_pts < goods / 2 ? redeem_pts : goods / 2;
    json_int_t total = goods + shipping - redeem_cents;
    json_int_t earned = customer ? total / 100 : 0;

    json_t *q = json_object();
    json_object_set_new(q, "program", json_string("default"));
    json_object_set_new(q, "customer", customer ? json_string(customer) : json_null());
    json_object_set_new(q, "currency", json_string("EUR"));
    json_object_set_new(q, "lines", echo);
    json_object_set_new(q, "subtotal_cents", json_integer(subtotal));
    json_t *d = json_object();
    json_object_set_new(d, "source", json_string("bundle:b01"));
    json_object_set_new(d, "reason", json_string("bundle b01: 10% off 2 items"));
    json_object_set_new(d, "cents", json_integer(discount));
    json_object_set_new(d, "skus", skus);
    json_t *discounts = json_array();
    json_array_append_new(discounts, d);
    json_object_set_new(q, "discounts", discounts);
    json_object_set_new(q, "discount_cents", json_integer(discount));
    json_object_set_new(q, "shipping_cents", json_integer(shipping));
    json_object_set_new(q, "free_shipping",
                        json_pack("{s:I, s:I}", "threshold_cents", (json_int_t)5000,
                                  "missing_cents", goods >= 5000 ? 0 : 5000 - goods));
    json_object_set_new(q, "redeem",
                        json_pack("{s:I, s:I}", "points", redeem_cents, "cents",
                                  redeem_cents));
    json_object_set_new(q, "total_cents", json_integer(total));
    json_object_set_new(q, "points_earned", json_integer(earned));
    json_object_set_new(q, "tier", json_string(customer ? "silver" : ""));
    json_object_set_new(q, "suggestions", json_array());
    json_object_set_new(q, "messages", json_array());
    json_t *tr = json_array();
    json_array_append_new(tr, trace("validate", "cart", "cents", subtotal,
                                    "cart normalised"));
    json_array_append_new(tr, trace("discount", "bundle:b01", "cents", -discount,
                                    "bundle b01: 10% off 2 items"));
    json_array_append_new(tr, trace("shipping", "free_shipping", "cents", shipping,
                                    "free shipping from 50.00"));
    json_array_append_new(tr, trace("redeem", "program:default", "points", redeem_cents,
                                    "points asked for"));
    json_array_append_new(tr, trace("earn", "program:default", "points", earned,
                                    "1 point per whole EUR paid"));
    json_array_append_new(tr, trace("earn", "tier:silver", "points", earned / 4,
                                    "silver tier x1.25"));
    json_object_set_new(q, "trace", tr);
    json_object_set_new(q, "warnings", json_array());
    json_object_set_new(q, "config_version", json_integer(1));

    char *out = json_dumps(q, JSON_COMPACT);
    if (!out) {
      fputs("jsonfloor: out of memory\n", stderr);
      return 3;
    }
    fputs(out, stdout);
    fputc('\n', stdout);
    free(out);
    json_decref(q);
    json_decref(cart);
  }
  free(line);
  fprintf(stderr, "jsonfloor: %ld carts, %ld errors\n", n, errors);
  return errors ? 1 : 0;
}
