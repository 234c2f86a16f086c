/*
** fuzz_cart.c -- the cart decoder (pt_cart_decode, cart.c) on arbitrary
** bytes. Beyond not crashing: a cart that decodes has a canonical text that
** decodes again to the same canonical text, and a refused one leaves an
** error object that is JSON with a message (the decoder promises to quote
** bad input safely).
*/
#include "checkout.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static patron P; /* only its error state is used */
  pt_cart c;
  int rc = pt_cart_decode(&P, &c, (const char *)data, size);
  if (rc != PATRON_OK) {
    FUZZ_ASSERT(rc == PATRON_INVALID_JSON || rc == PATRON_INVALID_CART,
                "code %s: %s", patron_code_name(rc), patron_errmsg(&P));
    fuzz_check_error(&P, rc);
    return 0;
  }
  FUZZ_ASSERT(c.canonical != NULL, "no canonical text");
  pt_cart again;
  rc = pt_cart_decode(&P, &again, c.canonical, strlen(c.canonical));
  FUZZ_ASSERT(rc == PATRON_OK, "the canonical text %s does not decode: %s", c.canonical,
              patron_errmsg(&P));
  FUZZ_ASSERT(strcmp(again.canonical, c.canonical) == 0, "canonical %s became %s",
              c.canonical, again.canonical);
  pt_cart_free(&again);
  pt_cart_free(&c);
  return 0;
}
