/* test_cart.c -- cart decoding and validation (cart.c): a table of bad
** carts with the exact code, path and message each must give (jansson's
** parse messages by a distinctive part), the hostile inputs (huge, deep,
** NaN, 1e309, 2^53+1, NUL, invalid UTF-8, card numbers), good carts to
** struct values, the canonical text (equal for equivalent carts, unequal
** for different ones, the same from the struct path as from JSON) and the
** struct path's messages. No database: a zeroed handle carries the error. */
#include <jansson.h>

#include "checkout.h"
#include "t.h"

static patron P; /* only its error state is used */

#define LINE_A "{\"sku\":\"A\",\"qty\":1,\"unit_cents\":100}"
/* a valid cart with extra top-level fields */
#define CART(fields) "{\"lines\":[" LINE_A "]" fields "}"
/* a cart whose only line is the given one */
#define CART_L(line) "{\"lines\":[" line "]}"
#define S64 "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL"
#define S128 S64 S64
#define TOP_ALLOWED                                                        \
  " (allowed: program, customer, currency, at, region, order_id, lines, " \
  "redeem_points, shown_suggestions, expect_total_cents, track)"

typedef struct bad_case {
  const char *name;
  const char *json;
  size_t len;         /* 0: strlen(json) */
  int code;
  const char *path;
  const char *msg;    /* exact, or a part of it when sub */
  int sub;
} bad_case;

#define JSON_ERR(n, j, m) {n, j, 0, PATRON_INVALID_JSON, "", m, 1}
#define CART_ERR(n, j, p, m) {n, j, 0, PATRON_INVALID_CART, p, m, 0}

static const bad_case bad_cases[] = {
    /* not JSON */
    JSON_ERR("truncated", "{\"lines\":[", "malformed JSON at line 1, column"),
    JSON_ERR("trailing garbage", CART("") " x", "end of file expected"),
    JSON_ERR("NaN", CART_L("{\"sku\":\"A\",\"qty\":NaN,\"unit_cents\":1}"),
             "invalid token near 'NaN'"),
    JSON_ERR("Infinity", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":Infinity}"),
             "invalid token"),
    JSON_ERR("1e309", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1e309}"),
             "real number overflow"),
    JSON_ERR("integer beyond int64", CART_L("{\"sku\":\"A\",\"qty\":1,"
             "\"unit_cents\":99999999999999999999}"), "too big integer"),
    JSON_ERR("duplicate key",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"qty\":2,\"unit_cents\":1}"),
             "duplicate object key near '\"qty\"'"),
    JSON_ERR("duplicate top key", "{\"lines\":[" LINE_A "],\"lines\":[" LINE_A "]}",
             "duplicate object key"),
    JSON_ERR("invalid UTF-8 byte",
             CART_L("{\"sku\":\"A\xff\",\"qty\":1,\"unit_cents\":1}"),
             "unable to decode byte 0xff"),
    JSON_ERR("overlong UTF-8", CART("," "\"customer\":\"\xc0\xaf\""),
             "unable to decode byte 0xc0"),
    JSON_ERR("lone surrogate", CART(",\"customer\":\"\\ud800\""), "invalid Unicode"),
    JSON_ERR("raw control character", CART(",\"customer\":\"a\tb\""),
             "control character 0x9"),
    JSON_ERR("empty text", "", "malformed JSON at line 1, column 0"),
    JSON_ERR("single quotes", "{'lines':[]}", "malformed JSON at line 1, column 2"),
    JSON_ERR("depth 17", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":"
             "[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]}"),
             "cart JSON is nested deeper than 16 levels at line 1, column 65"),
    /* not a cart */
    CART_ERR("top-level array", "[" LINE_A "]", "",
             "a cart must be a JSON object, got an array"),
    CART_ERR("top-level number", "42", "", "a cart must be a JSON object, got 42"),
    CART_ERR("top-level string", "\"cart\"", "",
             "a cart must be a JSON object, got \"cart\""),
    CART_ERR("unknown top field", CART(",\"custmer\":\"C1\""), "custmer",
             "unknown field custmer" TOP_ALLOWED),
    CART_ERR("unknown line field",
             "{\"lines\":[" LINE_A ",{\"sku\":\"B\",\"qty\":1,\"unit_cent\":5}]}",
             "lines[1].unit_cent",
             "unknown field lines[1].unit_cent (allowed: sku, qty, unit_cents, "
             "category, tags, name)"),
    /* lines */
    CART_ERR("lines missing", "{\"program\":\"default\"}", "lines",
             "lines is required (an array of 1 to 1000 lines)"),
    CART_ERR("lines empty", "{\"lines\":[]}", "lines",
             "lines has no entries; a cart needs at least 1 line"),
    CART_ERR("lines an object", "{\"lines\":{}}", "lines",
             "lines must be an array of 1 to 1000 lines, got an object"),
    CART_ERR("line a number", "{\"lines\":[" LINE_A ",1]}", "lines[1]",
             "lines[1] must be an object with sku, qty and unit_cents, got 1"),
    CART_ERR("sku missing", CART_L("{\"qty\":1,\"unit_cents\":1}"), "lines[0].sku",
             "lines[0].sku is required (a string of 1 to 63 bytes)"),
    CART_ERR("qty missing", CART_L("{\"sku\":\"A\",\"unit_cents\":1}"), "lines[0].qty",
             "lines[0].qty is required (a positive integer)"),
    CART_ERR("unit_cents missing", CART_L("{\"sku\":\"A\",\"qty\":1}"),
             "lines[0].unit_cents",
             "lines[0].unit_cents is required (an integer number of cents)"),
    CART_ERR("sku empty", CART_L("{\"sku\":\"\",\"qty\":1,\"unit_cents\":1}"),
             "lines[0].sku",
             "lines[0].sku must be a string of 1 to 63 bytes, got an empty string"),
    CART_ERR("sku 64 bytes", CART_L("{\"sku\":\"" S64 "\",\"qty\":1,\"unit_cents\":1}"),
             "lines[0].sku", "lines[0].sku must be a string of 1 to 63 bytes, got 64 bytes"),
    CART_ERR("sku a number", CART_L("{\"sku\":5,\"qty\":1,\"unit_cents\":1}"),
             "lines[0].sku", "lines[0].sku must be a string of 1 to 63 bytes, got 5"),
    CART_ERR("qty -1 on line 2",
             "{\"lines\":[" LINE_A "," LINE_A ",{\"sku\":\"C\",\"qty\":-1,\"unit_cents\":1}]}",
             "lines[2].qty", "lines[2].qty must be a positive integer, got -1"),
    CART_ERR("qty 0", CART_L("{\"sku\":\"A\",\"qty\":0,\"unit_cents\":1}"), "lines[0].qty",
             "lines[0].qty must be a positive integer, got 0"),
    CART_ERR("qty -0 is 0", CART_L("{\"sku\":\"A\",\"qty\":-0,\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be a positive integer, got 0"),
    CART_ERR("qty -0.0", CART_L("{\"sku\":\"A\",\"qty\":-0.0,\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be a positive integer, got -0.0"),
    CART_ERR("qty 2.0", CART_L("{\"sku\":\"A\",\"qty\":2.0,\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be a positive integer, got 2.0"),
    CART_ERR("qty a string", CART_L("{\"sku\":\"A\",\"qty\":\"3\",\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be a positive integer, got \"3\""),
    CART_ERR("qty above the cap", CART_L("{\"sku\":\"A\",\"qty\":1000001,\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be at most 1000000, got 1000001"),
    CART_ERR("qty 2^53+1",
             CART_L("{\"sku\":\"A\",\"qty\":9007199254740993,\"unit_cents\":1}"),
             "lines[0].qty", "lines[0].qty must be at most 1000000, got 9007199254740993"),
    CART_ERR("unit_cents 10.5", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":10.5}"),
             "lines[0].unit_cents",
             "lines[0].unit_cents must be an integer number of cents, got 10.5"),
    CART_ERR("unit_cents 1e3", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1e3}"),
             "lines[0].unit_cents",
             "lines[0].unit_cents must be an integer number of cents, got 1e+03"),
    CART_ERR("unit_cents negative", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":-5}"),
             "lines[0].unit_cents", "lines[0].unit_cents must not be negative, got -5"),
    CART_ERR("unit_cents null", CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":null}"),
             "lines[0].unit_cents",
             "lines[0].unit_cents must be an integer number of cents, got null"),
    CART_ERR("unit_cents 2^53+1",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":9007199254740993}"),
             "lines[0].unit_cents",
             "lines[0].unit_cents must be at most 9007199254740992, got 9007199254740993"),
    CART_ERR("line amount overflow",
             CART_L("{\"sku\":\"A\",\"qty\":1000000,\"unit_cents\":9007199254740992}"),
             "lines[0]", "lines[0] amounts overflow: 1000000 x 9007199254740992 cents "
             "does not fit in a 64-bit integer"),
    CART_ERR("cart sum overflow",
             "{\"lines\":[{\"sku\":\"A\",\"qty\":1000,\"unit_cents\":9007199254740992},"
             "{\"sku\":\"B\",\"qty\":1000,\"unit_cents\":9007199254740992}]}",
             "lines", "lines amounts overflow: the sum of the lines does not fit in a "
             "64-bit integer"),
    CART_ERR("category 64 bytes",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"category\":\"" S64 "\"}"),
             "lines[0].category",
             "lines[0].category must be a string of at most 63 bytes, got 64 bytes"),
    CART_ERR("category null",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"category\":null}"),
             "lines[0].category",
             "lines[0].category must be a string of at most 63 bytes, got null"),
    CART_ERR("tags 256 bytes",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":\"" S128 S128 "\"}"),
             "lines[0].tags", "lines[0].tags must be a string of at most 255 bytes or an "
             "array of strings, got 256 bytes"),
    CART_ERR("tags joined too long",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":[\"" S128 "\",\""
                    S128 "\"]}"),
             "lines[0].tags", "lines[0].tags must be a string of at most 255 bytes or an "
             "array of strings, got 257 bytes joined"),
    CART_ERR("tag a number",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":[\"x\",1]}"),
             "lines[0].tags[1]",
             "lines[0].tags[1] must be a non-empty string without commas, got 1"),
    CART_ERR("tag with a comma",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":[\"a,b\"]}"),
             "lines[0].tags[0]",
             "lines[0].tags[0] must be a non-empty string without commas, got \"a,b\""),
    CART_ERR("tag empty",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":[\"\"]}"),
             "lines[0].tags[0]",
             "lines[0].tags[0] must be a non-empty string without commas, got an empty "
             "string"),
    CART_ERR("name a number",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"name\":5}"),
             "lines[0].name", "lines[0].name must be a string, got 5"),
    /* NUL in every kind of string field */
    CART_ERR("NUL in sku", CART_L("{\"sku\":\"A\\u0000B\",\"qty\":1,\"unit_cents\":1}"),
             "lines[0].sku", "lines[0].sku must not contain a NUL character (\\u0000)"),
    CART_ERR("NUL in customer", CART(",\"customer\":\"C\\u0000\""), "customer",
             "customer must not contain a NUL character (\\u0000)"),
    CART_ERR("NUL in name",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"name\":\"\\u0000\"}"),
             "lines[0].name", "lines[0].name must not contain a NUL character (\\u0000)"),
    CART_ERR("NUL in a tag",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":[\"a\\u0000\"]}"),
             "lines[0].tags[0]",
             "lines[0].tags[0] must not contain a NUL character (\\u0000)"),
    CART_ERR("NUL in at", CART(",\"at\":\"2026-11-23\\u0000x\""), "at",
             "at must not contain a NUL character (\\u0000)"),
    CART_ERR("NUL in shown", CART(",\"shown_suggestions\":[\"B\\u0000\"]"),
             "shown_suggestions[0]",
             "shown_suggestions[0] must not contain a NUL character (\\u0000)"),
    /* card numbers */
    CART_ERR("card as customer", CART(",\"customer\":\"4242 4242 4242 4242\""), "customer",
             "customer looks like a payment card number; patron never accepts card "
             "numbers"),
    CART_ERR("card as order_id", CART(",\"order_id\":\"4242 4242 4242 4242\""), "order_id",
             "order_id looks like a payment card number; patron never accepts card "
             "numbers"),
    CART_ERR("card with dashes in a name",
             CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,"
                    "\"name\":\"paid with 4242-4242-4242-4242 ok\"}"),
             "lines[0].name", "lines[0].name looks like a payment card number; patron "
             "never accepts card numbers"),
    CART_ERR("card after a date", CART(",\"order_id\":\"2026-11-23 4000056655665556\""),
             "order_id", "order_id looks like a payment card number; patron never "
             "accepts card numbers"),
    CART_ERR("card followed by a digit", CART(",\"customer\":\"4242 4242 4242 4242 7\""),
             "customer", "customer looks like a payment card number; patron never "
             "accepts card numbers"),
    CART_ERR("13-digit card as sku",
             CART_L("{\"sku\":\"4222222222222\",\"qty\":1,\"unit_cents\":1}"),
             "lines[0].sku", "lines[0].sku looks like a payment card number; patron "
             "never accepts card numbers"),
    CART_ERR("card not echoed", CART(",\"redeem_points\":\"4242424242424242\""),
             "redeem_points", "redeem_points must be an integer number of points, got a "
             "string that looks like a card number"),
    /* the other top-level fields */
    CART_ERR("program empty", CART(",\"program\":\"\""), "program",
             "program must be a string of 1 to 63 bytes, got an empty string"),
    CART_ERR("program 64 bytes", CART(",\"program\":\"" S64 "\""), "program",
             "program must be a string of 1 to 63 bytes, got 64 bytes"),
    CART_ERR("program null", CART(",\"program\":null"), "program",
             "program must be a string of 1 to 63 bytes, got null"),
    CART_ERR("customer 128 bytes", CART(",\"customer\":\"" S128 "\""), "customer",
             "customer must be a string of 1 to 127 bytes or null, got 128 bytes"),
    CART_ERR("customer true", CART(",\"customer\":true"), "customer",
             "customer must be a string of 1 to 127 bytes or null, got true"),
    CART_ERR("currency lowercase", CART(",\"currency\":\"eur\""), "currency",
             "currency must be 3 uppercase ASCII letters such as \"EUR\", got \"eur\""),
    CART_ERR("currency 4 letters", CART(",\"currency\":\"EURO\""), "currency",
             "currency must be 3 uppercase ASCII letters such as \"EUR\", got \"EURO\""),
    CART_ERR("at not a time", CART(",\"at\":\"yesterday\""), "at",
             "at must be an ISO-8601 time such as \"2026-11-23T12:00:00Z\", got "
             "\"yesterday\""),
    CART_ERR("at a number", CART(",\"at\":1795435200"), "at",
             "at must be an ISO-8601 time such as \"2026-11-23T12:00:00Z\", got "
             "1795435200"),
    CART_ERR("at the epoch", CART(",\"at\":\"1970-01-01T00:00:00Z\""), "at",
             "at must be between 1970-01-01T00:00:01Z and 9999-12-31T23:59:59Z, got "
             "\"1970-01-01T00:00:00Z\""),
    CART_ERR("at after 9999", CART(",\"at\":\"9999-12-31T23:59:59-01:00\""), "at",
             "at must be between 1970-01-01T00:00:01Z and 9999-12-31T23:59:59Z, got "
             "\"9999-12-31T23:59:59-01:00\""),
    CART_ERR("region empty", CART(",\"region\":\"\""), "region",
             "region must be a string of 1 to 63 bytes, got an empty string"),
    CART_ERR("order_id 128 bytes", CART(",\"order_id\":\"" S128 "\""), "order_id",
             "order_id must be a string of 1 to 127 bytes, got 128 bytes"),
    CART_ERR("order_id with a tab", CART(",\"order_id\":\"A\\tB\""), "order_id",
             "order_id must not contain control characters, got \"A\\tB\""),
    CART_ERR("order_id with a C1 control", CART(",\"order_id\":\"A\\u0085B\""),
             "order_id", "order_id must not contain control characters, got \"A\\u0085B\""),
    CART_ERR("redeem_points negative", CART(",\"redeem_points\":-1"), "redeem_points",
             "redeem_points must not be negative, got -1"),
    CART_ERR("redeem_points 1.5", CART(",\"redeem_points\":1.5"), "redeem_points",
             "redeem_points must be an integer number of points, got 1.5"),
    CART_ERR("redeem_points 2^53+1", CART(",\"redeem_points\":9007199254740993"),
             "redeem_points",
             "redeem_points must be at most 9007199254740992, got 9007199254740993"),
    CART_ERR("shown not an array", CART(",\"shown_suggestions\":\"B\""),
             "shown_suggestions",
             "shown_suggestions must be an array of at most 100 skus, got \"B\""),
    CART_ERR("shown entry a number", CART(",\"shown_suggestions\":[\"B\",1]"),
             "shown_suggestions[1]",
             "shown_suggestions[1] must be a string of 1 to 63 bytes, got 1"),
    CART_ERR("expect_total negative", CART(",\"expect_total_cents\":-1"),
             "expect_total_cents", "expect_total_cents must not be negative, got -1"),
    CART_ERR("expect_total a string", CART(",\"expect_total_cents\":\"100\""),
             "expect_total_cents",
             "expect_total_cents must be an integer number of cents, got \"100\""),
    CART_ERR("track 1", CART(",\"track\":1"), "track", "track must be true or false, got 1"),
};

/* Decodes json and checks code, path, message, that the cart is left
** zeroed and that the error renders as JSON. Returns the failures. */
static int expect_bad(const char *name, const char *json, size_t len, int code,
                      const char *path, const char *msg, int sub) {
  int fails = 0;
  pt_cart c;
  memset(&c, 0x5a, sizeof c); /* garbage: the decoder must zero it */
  int rc = pt_cart_decode(&P, &c, json, len);
  const char *m = patron_errmsg(&P), *pa = patron_errpath(&P);
  if (rc != code || patron_errcode(&P) != code) {
    printf("#   %s: code %d, want %d (%s)\n", name, rc, code, m);
    fails++;
  }
  if (strcmp(pa, path) != 0 && !(sub && !path[0])) {
    printf("#   %s: path \"%s\", want \"%s\"\n", name, pa, path);
    fails++;
  }
  if (sub ? !strstr(m, msg) : strcmp(m, msg) != 0) {
    printf("#   %s: message\n#     got  \"%s\"\n#     want \"%s\"\n", name, m, msg);
    fails++;
  }
  if (c.lines || c.nlines || c.shown || c.nshown || c.canonical || c.program[0]) {
    printf("#   %s: cart not zeroed on error\n", name);
    fails++;
  }
  pt_cart_free(&c); /* safe anyway */
  char *ej = patron_error_json(&P);
  if (!ej || !strstr(ej, "\"code\":")) {
    printf("#   %s: error does not render as JSON\n", name);
    fails++;
  }
  free(ej);
  return fails;
}

TEST(bad_carts_table) {
  size_t n = sizeof bad_cases / sizeof *bad_cases;
  CHECK(n >= 40);
  for (size_t i = 0; i < n; i++) {
    const bad_case *b = &bad_cases[i];
    t_cur_fail += expect_bad(b->name, b->json, b->len ? b->len : strlen(b->json),
                             b->code, b->path, b->msg, b->sub);
  }
}

static char *repeat_text(const char *head, const char *unit, size_t n,
                         const char *sep, const char *tail, size_t *len) {
  size_t hl = strlen(head), ul = strlen(unit), sl = strlen(sep), tl = strlen(tail);
  char *s = malloc(hl + n * (ul + sl) + tl + 1), *q = s;
  memcpy(q, head, hl), q += hl;
  for (size_t i = 0; i < n; i++) {
    if (i) memcpy(q, sep, sl), q += sl;
    memcpy(q, unit, ul), q += ul;
  }
  memcpy(q, tail, tl), q += tl;
  *q = 0;
  *len = (size_t)(q - s);
  return s;
}

TEST(hostile_sizes) {
  size_t len;
  /* 2 MiB of otherwise valid text: refused before parsing */
  char *big = malloc(2 * 1024 * 1024 + 1);
  memset(big, ' ', 2 * 1024 * 1024);
  memcpy(big, CART(""), strlen(CART("")));
  big[2 * 1024 * 1024] = 0;
  t_cur_fail += expect_bad("2 MiB", big, 2 * 1024 * 1024, PATRON_INVALID_JSON, "",
                           "cart text is 2097152 bytes; at most 1048576 are allowed", 0);
  free(big);
  /* depth 100 */
  char *deep = repeat_text("", "[", 100, "", "", &len);
  t_cur_fail += expect_bad("depth 100", deep, len, PATRON_INVALID_JSON, "",
                           "cart JSON is nested deeper than 16 levels at line 1, column 17",
                           0);
  free(deep);
  /* depth 100 on line 3, after a string full of brackets that must not count */
  char *deep2 = repeat_text("{\"x\":\"[[[[[[[[[[[[[[[[[[[[\\\"[[[\",\n\n\"y\":", "[", 100, "",
                            "", &len);
  t_cur_fail += expect_bad("depth 100 line 3", deep2, len, PATRON_INVALID_JSON, "",
                           "nested deeper than 16 levels at line 3, column 20", 1);
  free(deep2);
  /* 10,000 lines */
  char *many = repeat_text("{\"lines\":[", LINE_A, 10000, ",", "]}", &len);
  t_cur_fail += expect_bad("10000 lines", many, len, PATRON_INVALID_CART, "lines",
                           "lines has 10000 entries; at most 1000 are allowed", 0);
  free(many);
  /* exactly 1000 lines decode */
  many = repeat_text("{\"lines\":[", LINE_A, 1000, ",", "]}", &len);
  pt_cart c;
  CHECK_EQ_I64(pt_cart_decode(&P, &c, many, len), PATRON_OK);
  CHECK_EQ_I64(c.nlines, 1000);
  pt_cart_free(&c);
  free(many);
  /* 101 shown suggestions */
  many = repeat_text("{\"lines\":[" LINE_A "],\"shown_suggestions\":[", "\"B\"", 101, ",",
                     "]}", &len);
  t_cur_fail += expect_bad("101 shown", many, len, PATRON_INVALID_CART, "shown_suggestions",
                           "shown_suggestions has 101 entries; at most 100 are allowed", 0);
  free(many);
  /* a raw NUL byte inside the text */
  static const char nul[] = "{\"lines\":[{\"sku\":\"A\0B\",\"qty\":1,\"unit_cents\":1}]}";
  t_cur_fail += expect_bad("raw NUL byte", nul, sizeof nul - 1, PATRON_INVALID_JSON, "",
                           "control character 0x0", 1);
  /* NULL text */
  t_cur_fail += expect_bad("NULL text", NULL, 0, PATRON_INVALID_JSON, "",
                           "no cart text given", 0);
}

TEST(depth_16_is_allowed) {
  /* depth 16 exactly passes the scan and fails on the cart's shape */
  const char *j = CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"tags\":"
                         "[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]}");
  t_cur_fail += expect_bad("depth 16", j, strlen(j), PATRON_INVALID_CART,
                           "lines[0].tags[0]",
                           "lines[0].tags[0] must be a non-empty string without commas, "
                           "got an array", 0);
  /* brackets and escaped quotes inside strings do not count */
  const char *s = CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,"
                         "\"name\":\"\\\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\"}");
  pt_cart c;
  CHECK_EQ_I64(pt_cart_decode(&P, &c, s, strlen(s)), PATRON_OK);
  pt_cart_free(&c);
}

static pt_cart decode_ok(const char *json) {
  pt_cart c;
  int rc = pt_cart_decode(&P, &c, json, strlen(json));
  if (rc) printf("#   decode failed: %s (%s)\n", patron_errmsg(&P), json);
  CHECK_EQ_I64(rc, PATRON_OK);
  return c;
}

TEST(good_cart_values) {
  pt_cart c = decode_ok(
      "{\"program\":\"default\",\"customer\":\"C1\",\"currency\":\"EUR\","
      "\"at\":\"2026-11-23T14:00:00+02:00\",\"region\":\"FR\",\"order_id\":\"POS7-000123\","
      "\"lines\":[{\"sku\":\"MP3-01\",\"qty\":2,\"unit_cents\":4999,\"category\":\"mp3\","
      "\"name\":\"Player\"},{\"sku\":\"CASE\",\"qty\":1,\"unit_cents\":-0,"
      "\"tags\":[\"gift\",\"sale\"]},{\"sku\":\"BIG\",\"qty\":1,"
      "\"unit_cents\":9007199254740992,\"tags\":\"a,b\"}],"
      "\"redeem_points\":250,\"shown_suggestions\":[\"EAR-01\",\"BAG\"],"
      "\"expect_total_cents\":11498,\"track\":true}");
  CHECK_STR(c.program, "default");
  CHECK_STR(c.customer, "C1");
  CHECK_STR(c.currency, "EUR");
  CHECK_STR(c.region, "FR");
  CHECK_STR(c.order_id, "POS7-000123");
  int64_t at = 0;
  CHECK_EQ_I64(patron_time_parse(&at, "2026-11-23T12:00:00Z"), PATRON_OK);
  CHECK_EQ_I64(c.at, at);
  CHECK_EQ_I64(c.nlines, 3);
  CHECK_STR(c.lines[0].sku, "MP3-01");
  CHECK_EQ_I64(c.lines[0].qty, 2);
  CHECK_EQ_I64(c.lines[0].unit_cents, 4999);
  CHECK_STR(c.lines[0].category, "mp3");
  CHECK_STR(c.lines[0].tags, "");
  CHECK_EQ_I64(c.lines[1].unit_cents, 0);
  CHECK_STR(c.lines[1].tags, "gift,sale");
  CHECK_STR(c.lines[1].category, "");
  CHECK_EQ_I64(c.lines[2].unit_cents, INT64_C(9007199254740992));
  CHECK_STR(c.lines[2].tags, "a,b");
  CHECK_EQ_I64(c.lines[0].gross_cents + c.lines[0].discount_cents +
               c.lines[0].bundled_units, 0);
  CHECK_EQ_I64(c.redeem_points, 250);
  CHECK_EQ_I64(c.nshown, 2);
  CHECK_STR(c.shown[1], "BAG");
  CHECK(c.has_expect_total);
  CHECK_EQ_I64(c.expect_total_cents, 11498);
  CHECK(c.track);
  CHECK(c.canonical != NULL);
  pt_cart_free(&c);
  CHECK(c.lines == NULL && c.canonical == NULL && c.nlines == 0);
  pt_cart_free(&c); /* twice is fine */

  /* defaults and anonymous */
  c = decode_ok("{\"customer\":null,\"lines\":[" LINE_A "]}");
  CHECK_STR(c.customer, "");
  CHECK_STR(c.program, "");
  CHECK_EQ_I64(c.at, 0);
  CHECK_EQ_I64(c.redeem_points, 0);
  CHECK(!c.has_expect_total && !c.track && c.nshown == 0 && c.shown == NULL);
  pt_cart_free(&c);
}

TEST(card_numbers_that_are_not) {
  /* not Luhn-valid, zero-padded, too long, too short: all accepted */
  static const char *const ok[] = {
      CART(",\"customer\":\"4242 4242 4242 4241\""),
      CART(",\"order_id\":\"4242424242424241\""),
      CART(",\"order_id\":\"0000000000000\""),          /* Luhn-valid, starts with 0 */
      CART(",\"order_id\":\"20261123120000000000042\""), /* 23 digits unbroken */
      CART(",\"order_id\":\"POS7-000123\""),
      CART(",\"customer\":\"424242424242\""),            /* 12 digits */
      /* a group too long for a card does not join its neighbours into one */
      CART(",\"order_id\":\"4242 4242 12345678901234567890 4242 4242\""),
      CART(",\"at\":\"2026-11-23T12:00:00Z\""),
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    pt_cart c = decode_ok(ok[i]);
    pt_cart_free(&c);
  }
}

TEST(canonical_text) {
  pt_cart a = decode_ok(
      "{\"program\":\"default\",\"customer\":\"C1\",\"order_id\":\"O-1\","
      "\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[{\"sku\":\"A\",\"qty\":2,"
      "\"unit_cents\":100,\"tags\":[\"x\",\"y\"],\"name\":\"Thing\"},"
      "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":5,\"category\":\"c\"}]}");
  CHECK_STR(a.canonical,
            "{\"at\":\"2026-11-23T12:00:00Z\",\"customer\":\"C1\",\"lines\":["
            "{\"category\":\"\",\"qty\":2,\"sku\":\"A\",\"tags\":\"x,y\",\"unit_cents\":100},"
            "{\"category\":\"c\",\"qty\":1,\"sku\":\"B\",\"tags\":\"\",\"unit_cents\":5}],"
            "\"order_id\":\"O-1\",\"program\":\"default\"}");
  /* the same cart: other key order, whitespace, tags as a string, the same
  ** instant in another offset, defaults given, expect_total added, no name */
  pt_cart b = decode_ok(
      "{ \"lines\" : [ { \"tags\" : \"x,y\", \"unit_cents\" : 100, \"qty\" : 2,\n"
      "  \"sku\" : \"A\" } , {\"category\":\"c\",\"unit_cents\":5,\"sku\":\"B\","
      "\"qty\":1,\"tags\":[]}],\n \"order_id\":\"O-1\", \"customer\":\"C1\","
      "\"at\":\"2026-11-23T13:00:00+01:00\",\"program\":\"default\",\"redeem_points\":0,"
      "\"track\":false,\"shown_suggestions\":[],\"expect_total_cents\":205 }");
  CHECK_STR(b.canonical, a.canonical);
  /* a different qty is a different cart */
  pt_cart d = decode_ok(
      "{\"program\":\"default\",\"customer\":\"C1\",\"order_id\":\"O-1\","
      "\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[{\"sku\":\"A\",\"qty\":3,"
      "\"unit_cents\":100,\"tags\":[\"x\",\"y\"]},"
      "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":5,\"category\":\"c\"}]}");
  CHECK(strcmp(d.canonical, a.canonical) != 0);
  pt_cart_free(&d);
  /* the canonical text is a cart that decodes to itself */
  d = decode_ok(a.canonical);
  CHECK_STR(d.canonical, a.canonical);
  pt_cart_free(&d);
  pt_cart_free(&a);
  pt_cart_free(&b);

  /* escapes as jansson writes them: compare with its sorted compact dump */
  a = decode_ok("{\"customer\":\"C\\\"1\\\\/\\u0001\\n\\u007f\xc3\xa9\",\"track\":true,"
                "\"redeem_points\":7,\"region\":\"EU\",\"currency\":\"EUR\","
                "\"shown_suggestions\":[\"Z\",\"A\"],\"lines\":[" LINE_A "]}");
  json_t *j = json_loads(a.canonical, 0, NULL);
  CHECK(j != NULL);
  char *dump = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  CHECK_STR(a.canonical, dump);
  CHECK_HAS(a.canonical, "\"shown_suggestions\":[\"Z\",\"A\"],\"track\":true}");
  free(dump);
  json_decref(j);
  d = decode_ok(a.canonical);
  CHECK_STR(d.canonical, a.canonical);
  pt_cart_free(&d);
  pt_cart_free(&a);
}

TEST(from_json_object) {
  json_t *o = json_loads("{\"lines\":[" LINE_A "],\"customer\":\"C1\"}", 0, NULL);
  pt_cart c;
  CHECK_EQ_I64(pt_cart_from_json(&P, &c, o), PATRON_OK);
  CHECK_STR(c.customer, "C1");
  pt_cart_free(&c);
  /* an object built in C may hold what the parser refuses */
  json_object_set_new(o, "customer", json_stringn("C\0D", 3));
  CHECK_EQ_I64(pt_cart_from_json(&P, &c, o), PATRON_INVALID_CART);
  CHECK_STR(patron_errpath(&P), "customer");
  CHECK(c.canonical == NULL && c.lines == NULL);
  json_object_set_new(o, "customer", json_real(1e300));
  CHECK_EQ_I64(pt_cart_from_json(&P, &c, o), PATRON_INVALID_CART);
  CHECK_STR(patron_errmsg(&P),
            "customer must be a string of 1 to 127 bytes or null, got 1e+300");
  json_decref(o);
  CHECK_EQ_I64(pt_cart_from_json(&P, &c, NULL), PATRON_INVALID_CART);
}

static const patron_line struct_lines[] = {
    {"A", 2, 100, NULL, "x,y"},
    {"B", 1, 5, "c", NULL},
};

TEST(struct_path_matches_json) {
  patron_cart in = {.program = "default", .customer = "C1", .order_id = "O-1",
                    .lines = struct_lines, .nlines = 2, .has_expect_total = 1,
                    .expect_total_cents = 999};
  CHECK_EQ_I64(patron_time_parse(&in.at, "2026-11-23T12:00:00Z"), PATRON_OK);
  pt_cart s;
  CHECK_EQ_I64(pt_cart_from_struct(&P, &s, &in), PATRON_OK);
  pt_cart j = decode_ok(
      "{\"program\":\"default\",\"customer\":\"C1\",\"order_id\":\"O-1\","
      "\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[{\"sku\":\"A\",\"qty\":2,"
      "\"unit_cents\":100,\"tags\":[\"x\",\"y\"]},"
      "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":5,\"category\":\"c\"}]}");
  CHECK_STR(s.canonical, j.canonical);
  CHECK(s.has_expect_total && s.expect_total_cents == 999);
  CHECK_STR(s.lines[0].tags, "x,y");
  CHECK_STR(s.lines[1].category, "c");
  pt_cart_free(&j);
  /* shown suggestions and redeem_points too */
  const char *shown[] = {"Z", "A"};
  in.shown_suggestions = shown;
  in.nshown = 2;
  in.redeem_points = 40;
  pt_cart_free(&s);
  CHECK_EQ_I64(pt_cart_from_struct(&P, &s, &in), PATRON_OK);
  j = decode_ok(
      "{\"program\":\"default\",\"customer\":\"C1\",\"order_id\":\"O-1\","
      "\"at\":\"2026-11-23T12:00:00Z\",\"lines\":[{\"sku\":\"A\",\"qty\":2,"
      "\"unit_cents\":100,\"tags\":\"x,y\"},"
      "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":5,\"category\":\"c\"}],"
      "\"shown_suggestions\":[\"Z\",\"A\"],\"redeem_points\":40}");
  CHECK_STR(s.canonical, j.canonical);
  pt_cart_free(&j);
  pt_cart_free(&s);
}

/* The struct path gives the JSON path's code, path and message. */
static void same_error(const patron_cart *in, const char *json) {
  pt_cart c;
  memset(&c, 0x5a, sizeof c);
  int rs = pt_cart_from_struct(&P, &c, in);
  char msg[PT_ERRMSG_SIZE], path[128];
  snprintf(msg, sizeof msg, "%s", patron_errmsg(&P));
  snprintf(path, sizeof path, "%s", patron_errpath(&P));
  CHECK(c.lines == NULL && c.canonical == NULL && c.shown == NULL && c.nlines == 0);
  int rj = pt_cart_decode(&P, &c, json, strlen(json));
  CHECK_EQ_I64(rs, PATRON_INVALID_CART);
  CHECK_EQ_I64(rj, rs);
  CHECK_STR(msg, patron_errmsg(&P));
  CHECK_STR(path, patron_errpath(&P));
}

TEST(struct_path_errors) {
  patron_line l3[3] = {{"A", 1, 1, NULL, NULL}, {"B", 1, 1, NULL, NULL},
                       {"C", -1, 1, NULL, NULL}};
  patron_cart in = {.lines = l3, .nlines = 3};
  same_error(&in, "{\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1},"
                  "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":1},"
                  "{\"sku\":\"C\",\"qty\":-1,\"unit_cents\":1}]}");
  CHECK_STR(patron_errmsg(&P), "lines[2].qty must be a positive integer, got -1");
  l3[2].qty = 1;
  l3[1].sku = NULL;
  same_error(&in, "{\"lines\":[" LINE_A ",{\"qty\":1,\"unit_cents\":1}," LINE_A "]}");
  CHECK_STR(patron_errpath(&P), "lines[1].sku");
  l3[1].sku = "B";
  l3[0].unit_cents = INT64_C(9007199254740993);
  same_error(&in, CART_L("{\"sku\":\"A\",\"qty\":1,\"unit_cents\":9007199254740993}"));
  l3[0].unit_cents = 1;
  in.customer = "4242 4242 4242 4242";
  same_error(&in, CART(",\"customer\":\"4242 4242 4242 4242\""));
  CHECK_HAS(patron_errmsg(&P), "looks like a payment card number");
  in.customer = "";
  same_error(&in, CART(",\"customer\":\"\""));
  in.customer = NULL;
  in.currency = "eur";
  same_error(&in, CART(",\"currency\":\"eur\""));
  in.currency = NULL;
  in.order_id = "A\tB";
  same_error(&in, CART(",\"order_id\":\"A\\tB\""));
  in.order_id = NULL;
  in.redeem_points = -1;
  same_error(&in, CART(",\"redeem_points\":-1"));
  in.redeem_points = 0;
  in.has_expect_total = 1;
  in.expect_total_cents = -3;
  same_error(&in, CART(",\"expect_total_cents\":-3"));
  in.has_expect_total = 0;
  l3[0].qty = 1000000;
  l3[0].unit_cents = INT64_C(9007199254740992);
  same_error(&in, CART_L("{\"sku\":\"A\",\"qty\":1000000,\"unit_cents\":9007199254740992}"));
  l3[0].qty = 1;
  l3[0].unit_cents = 1;
  l3[0].tags = "\xff";
  in.nlines = 1;
  pt_cart c;
  CHECK_EQ_I64(pt_cart_from_struct(&P, &c, &in), PATRON_INVALID_CART);
  CHECK_STR(patron_errmsg(&P),
            "lines[0].tags must be valid UTF-8 (bad byte 0xFF at offset 0)");
  l3[0].tags = NULL;
  in.nlines = 0;
  same_error(&in, "{\"lines\":[]}");
  /* 10,000 lines */
  patron_line *many = calloc(10000, sizeof *many);
  for (int i = 0; i < 10000; i++) many[i] = (patron_line){"A", 1, 1, NULL, NULL};
  in.lines = many;
  in.nlines = 10000;
  CHECK_EQ_I64(pt_cart_from_struct(&P, &c, &in), PATRON_INVALID_CART);
  CHECK_STR(patron_errmsg(&P), "lines has 10000 entries; at most 1000 are allowed");
  free(many);
  /* shown entry NULL, and misuse */
  const char *shown[] = {"B", NULL};
  in.lines = l3;
  in.nlines = 1;
  in.shown_suggestions = shown;
  in.nshown = 2;
  same_error(&in, CART(",\"shown_suggestions\":[\"B\",null]"));
  in.shown_suggestions = NULL;
  CHECK_EQ_I64(pt_cart_from_struct(&P, &c, &in), PATRON_MISUSE);
  CHECK_EQ_I64(pt_cart_from_struct(&P, &c, NULL), PATRON_MISUSE);
  in.nshown = 0;
  in.at = -5;
  CHECK_EQ_I64(pt_cart_from_struct(&P, &c, &in), PATRON_INVALID_CART);
  CHECK_STR(patron_errmsg(&P), "at must be between 1970-01-01T00:00:01Z and "
                               "9999-12-31T23:59:59Z, got -5");
}

int main(void) {
  RUN(bad_carts_table);
  RUN(hostile_sizes);
  RUN(depth_16_is_allowed);
  RUN(good_cart_values);
  RUN(card_numbers_that_are_not);
  RUN(canonical_text);
  RUN(from_json_object);
  RUN(struct_path_matches_json);
  RUN(struct_path_errors);
  return t_done();
}
