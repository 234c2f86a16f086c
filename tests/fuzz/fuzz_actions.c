/*
** fuzz_actions.c -- the rule runtime's action decoder and the pipeline
** that applies actions (script.c, rules.c), through the public path: the
** input is JSON, turned into the `actions` parameter of a fixture plugin
** whose on_quote and on_earn hooks return it as they got it. Each input is
** applied as a config, then quoted, committed and refunded. Beyond not
** crashing: money stays sane whatever the plugin returns (no negative
** total, no discount above the subtotal or a line's gross, no negative
** points), bad actions become warnings not errors (the plugin is not in
** strict mode), and every balance equals its ledger after the commit and
** the refund.
*/
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static const char PLUGIN[] =
    "-- fixture for fuzz_actions.c: returns the fuzzed actions as given\n"
    "local rule = { name = \"fz\" }\n"
    "function rule.on_quote(cart, ctx) return ctx.params.actions end\n"
    "function rule.on_earn(order, ctx) return ctx.params.actions end\n"
    "return rule\n";

/* A Lua constructor for v; false when v cannot be a plugin parameter. */
static bool to_lua(pt_buf *b, const json_t *v, int depth) {
  if (depth > 12) return false;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *e;
    pt_buf_puts(b, "{");
    json_object_foreach((json_t *)v, k, e) {
      pt_buf_puts(b, "[\"");
      for (const unsigned char *c = (const unsigned char *)k; *c; c++)
        pt_buf_printf(b, "\\%03u", *c);
      pt_buf_puts(b, "\"]=");
      if (!to_lua(b, e, depth + 1)) return false;
      pt_buf_puts(b, ",");
    }
    pt_buf_puts(b, "}");
    return true;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *e;
    pt_buf_puts(b, "{");
    json_array_foreach(v, i, e) {
      if (!to_lua(b, e, depth + 1)) return false;
      pt_buf_puts(b, ",");
    }
    pt_buf_puts(b, "}");
    return true;
  }
  case JSON_STRING: {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    pt_buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) pt_buf_printf(b, "\\%03u", (unsigned char)s[i]);
    pt_buf_puts(b, "\"");
    return true;
  }
  case JSON_INTEGER:
    pt_buf_printf(b, "%lld", (long long)json_integer_value(v));
    if (json_integer_value(v) == INT64_MIN) return false; /* Lua reads it as a float */
    return true;
  case JSON_REAL:
    pt_buf_printf(b, "%.17g", json_real_value(v));
    if (!strpbrk(b->s + b->len - 1, ".eEn")) pt_buf_puts(b, ".0");
    return true;
  case JSON_TRUE: pt_buf_puts(b, "true"); return true;
  case JSON_FALSE: pt_buf_puts(b, "false"); return true;
  default: return false; /* null */
  }
}

static int64_t I(const json_t *o, const char *k) {
  return json_integer_value(json_object_get(o, k));
}

static void check_quote(const char *text) {
  json_t *q = json_loads(text, 0, NULL);
  FUZZ_ASSERT(q != NULL, "not JSON: %s", text);
  int64_t sub = I(q, "subtotal_cents"), disc = I(q, "discount_cents");
  FUZZ_ASSERT(I(q, "total_cents") >= 0, "negative total: %s", text);
  FUZZ_ASSERT(disc >= 0 && disc <= sub, "discount %lld of %lld: %s", (long long)disc,
              (long long)sub, text);
  FUZZ_ASSERT(I(q, "points_earned") >= 0 && I(q, "shipping_cents") >= 0, "%s", text);
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(q, "lines"), i, l) {
    int64_t d = I(l, "discount_cents");
    FUZZ_ASSERT(d >= 0 && d <= I(l, "qty") * I(l, "unit_cents") && I(l, "total_cents") >= 0,
                "line %zu: %s", i, text);
  }
  json_decref(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static patron *p;
  static unsigned runs;
  static char dir[64], name[96];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/patron-fuzz-actions-%d", (int)getpid());
    mkdir(dir, 0700);
    char path[128];
    snprintf(path, sizeof path, "%s/fz.lua", dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(PLUGIN, f);
    fclose(f);
    snprintf(name, sizeof name, "%s/shop.lua", dir);
  }
  json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                         NULL);
  if (!v) return 0;
  pt_buf src = {0};
  pt_buf_add(&src, FUZZ_SHOP, sizeof FUZZ_SHOP - 1);
  pt_buf_puts(&src, "plugin \"fz.lua\" { actions = ");
  bool ok = to_lua(&src, v, 0);
  pt_buf_puts(&src, " }\n");
  json_decref(v);
  if (!ok || src.oom) {
    pt_buf_free(&src);
    return 0;
  }
  if (!p || ++runs % 200 == 0) {
    patron_close(p);
    p = fuzz_shop(1);
  }
  patron_apply_result r;
  int rc = patron_apply_buffer(p, &r, name, src.s, src.len);
  pt_buf_free(&src);
  if (rc != PATRON_OK) { /* not a parameter a config accepts */
    FUZZ_ASSERT(rc == PATRON_INVALID_CONFIG, "apply: %s", patron_errmsg(p));
    return 0;
  }
  char cart[512], *out = NULL;
  snprintf(cart, sizeof cart,
           "{\"order_id\":\"F-%u\",\"customer\":\"C1\",\"redeem_points\":0,\"lines\":["
           "{\"sku\":\"A\",\"qty\":2,\"unit_cents\":2500,\"category\":\"mp3\"},"
           "{\"sku\":\"B\",\"qty\":1,\"unit_cents\":999},"
           "{\"sku\":\"C\",\"qty\":3,\"unit_cents\":1}]}", runs);
  rc = patron_quote_json(p, &out, cart);
  FUZZ_ASSERT(rc == PATRON_OK, "quote: %s %s", patron_code_name(rc), patron_errmsg(p));
  check_quote(out);
  free(out);
  out = NULL;
  rc = patron_commit_json(p, &out, cart);
  FUZZ_ASSERT(rc == PATRON_OK, "commit: %s %s", patron_code_name(rc), patron_errmsg(p));
  check_quote(out);
  free(out);
  out = NULL;
  char id[32];
  snprintf(id, sizeof id, "F-%u", runs);
  patron_refund_line rl = {"A", 1};
  rc = patron_refund(p, &out, id, runs % 2 ? &rl : NULL, runs % 2);
  FUZZ_ASSERT(rc == PATRON_OK, "refund: %s %s", patron_code_name(rc), patron_errmsg(p));
  free(out);
  int64_t bad = -1;
  char *report = NULL;
  FUZZ_ASSERT(patron_verify(p, &bad, &report) == PATRON_OK && bad == 0, "verify: %s",
              report ? report : patron_errmsg(p));
  free(report);
  return 0;
}
