/*
** dispatch.c -- the protocol's operations, shared by the JSON-lines and
** HTTP transports: each takes a JSON object of arguments, calls the public
** patron.h, and leaves a result (JSON text) or an error object with its
** HTTP status in an sv_reply. The transports only frame requests and
** replies; they never interpret an operation, so `serve --stdio`,
** `serve --http` and the CLI give the same results and the same errors.
**
** Operations and their fields (? optional):
**   quote, commit      cart (the cart object of DESIGN.md section 5)
**   refund             order_id, lines? [{sku, qty?=1}] (none: everything)
**   balance, ledger    customer, program?
**   adjust             customer, points, reason, program?
**   events.pull        limit?, type?        events.ack  ids [int...]
**   tick               now? (ISO time or epoch seconds; default: the clock)
**   sub.create         customer, plan, trial?     sub.show  sub
**   sub.cancel         sub, at_period_end?        sub.convert  sub
**   sub.change         sub, plan                  sub.upgrade  sub, plan, days
**   sub.charge_result  attempt, ok, reason?
**   sub.payment_method sub, token, brand?, last4?, exp_year?, exp_month?
** (sub: the subscription's id, "sub_..."; sub.show also takes a customer
** id there and lists that customer's subscriptions. "id" is the request's.)
**   report             name, program?, from?, to?, by?, touchpoint?
**   plans, ping
** Unknown fields are ignored (forward compatibility); a field of the wrong
** type is invalid_input naming the field.
*/
#include "serve.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h" /* pt_json_dumps: never a text cut short by a failed write */

#define MAX_ACK_IDS 10000     /* events.ack */
#define MAX_REFUND_LINES 1000 /* refund: as many as a cart may have */

/* ---- replies ------------------------------------------------------------ */

void sv_reply_free(sv_reply *r) {
  free(r->body);
  free(r->message);
  free(r->path);
  memset(r, 0, sizeof *r);
}

static char *dup_str(const char *s) {
  return s ? strdup(s) : NULL;
}

/* Replaces, in place, every byte that is not part of a well-formed UTF-8
** sequence with '?': messages quote input (jansson quotes the offending
** bytes of malformed JSON), and a JSON string must be UTF-8. */
static void clean_utf8(char *s) {
  unsigned char *u = (unsigned char *)s;
  while (*u) {
    unsigned c = u[0], lo = 0x80, hi = 0xBF;
    size_t n = 0;
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0; /* overlong */
      if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool good = n > 0;
    for (size_t k = 1; good && k < n; k++)
      good = k == 1 ? u[k] >= lo && u[k] <= hi : (u[k] & 0xC0) == 0x80;
    if (!good) {
      *u++ = '?';
      continue;
    }
    u += n;
  }
}

void sv_fail(sv_reply *r, const char *code, unsigned status, const char *path,
             const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  clean_utf8(msg); /* vsnprintf may also have cut a sequence in two */
  sv_reply_free(r);
  r->code = code;
  r->status = status;
  r->message = dup_str(msg);
  r->path = path && *path ? dup_str(path) : NULL;
  if (r->path) clean_utf8(r->path);
  if (!r->message || (path && *path && !r->path)) {
    /* not the error it was: a client must not act on a half-told one */
    free(r->path);
    r->path = NULL;
    r->code = patron_code_name(PATRON_NOMEM);
    r->status = sv_status_for(PATRON_NOMEM);
  }
}

unsigned sv_status_for(int code) {
  switch (code) {
  case PATRON_INVALID_JSON: case PATRON_INVALID_CART: case PATRON_INVALID_INPUT:
  case PATRON_INVALID_CONFIG: case PATRON_OVERFLOW:
    return 400;
  case PATRON_UNKNOWN_CUSTOMER: case PATRON_NOT_FOUND:
    return 404;
  case PATRON_CONFLICT: case PATRON_STALE_QUOTE:
    return 409;
  case PATRON_UNKNOWN_PROGRAM: case PATRON_INSUFFICIENT_POINTS:
  case PATRON_RULE_ERROR: case PATRON_NO_CONFIG:
    return 422;
  case PATRON_BUSY:
    return 503;
  default: /* INTERNAL, IO, NOMEM, MISUSE, STORAGE_FULL, SCHEMA_TOO_NEW, OK */
    return 500;
  }
}

void sv_fail_lib(sv_reply *r, patron *p) {
  int code = patron_errcode(p);
  if (code == PATRON_OK) code = PATRON_INTERNAL; /* an error without a code: ours */
  sv_fail(r, patron_code_name(code), sv_status_for(code), patron_errpath(p), "%s",
          patron_errmsg(p));
}

json_t *sv_error_object(const sv_reply *r) {
  json_t *e = json_pack("{s:s, s:s}", "code", r->code ? r->code : "internal", "message",
                        r->message ? r->message : "out of memory");
  if (e && r->path && *r->path && json_object_set_new(e, "path", json_string(r->path))) {
    json_decref(e);
    return NULL;
  }
  return e;
}

void sv_nomem(sv_reply *r) {
  sv_fail(r, patron_code_name(PATRON_NOMEM), sv_status_for(PATRON_NOMEM), NULL,
          "out of memory");
}

/* Success with text returned by patron (released here). */
static void ok_patron_text(sv_reply *r, char *text) {
  r->body = dup_str(text ? text : "null");
  patron_free(text);
  if (!r->body) return sv_nomem(r);
  r->status = 200;
}

/* Success with j (stolen; NULL: building it ran out of memory). */
static void ok_json(sv_reply *r, json_t *j) {
  r->body = pt_json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_decref(j);
  if (!r->body) return sv_nomem(r);
  r->status = 200;
}

/* ---- arguments ------------------------------------------------------------ */

static void bad_field(sv_reply *r, const char *key, const char *want, const json_t *v) {
  static const char *const types[] = {"an object", "an array", "a string", "an integer",
                                      "a number", "true", "false", "null"};
  if (!v)
    sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, key, "%s is required (%s)",
            key, want);
  else
    sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, key, "%s must be %s, got %s",
            key, want, types[json_typeof(v)]);
}

/* A string field: *out borrowed from args. Absent or null: NULL when
** optional. Returns false (with *r set) on error. */
static bool arg_str(sv_reply *r, json_t *a, const char *key, bool required,
                    const char **out) {
  json_t *v = json_object_get(a, key);
  *out = NULL;
  if ((!v || json_is_null(v)) && !required) return true;
  if (!json_is_string(v) || (required && json_string_length(v) == 0)) {
    bad_field(r, key, "a non-empty string", json_is_null(v) ? NULL : v);
    return false;
  }
  *out = json_string_value(v);
  return true;
}

static bool arg_int(sv_reply *r, json_t *a, const char *key, bool required,
                    int64_t *out, bool *given) {
  json_t *v = json_object_get(a, key);
  if (given) *given = false;
  if ((!v || json_is_null(v)) && !required) return true;
  if (!json_is_integer(v)) {
    bad_field(r, key, "an integer", json_is_null(v) ? NULL : v);
    return false;
  }
  *out = (int64_t)json_integer_value(v);
  if (given) *given = true;
  return true;
}

static bool arg_bool(sv_reply *r, json_t *a, const char *key, bool required, bool *out) {
  json_t *v = json_object_get(a, key);
  if ((!v || json_is_null(v)) && !required) return true;
  if (!json_is_boolean(v)) {
    bad_field(r, key, "true or false", json_is_null(v) ? NULL : v);
    return false;
  }
  *out = json_is_true(v);
  return true;
}

/* A time: "2026-11-23", "2026-11-23T12:00:00Z" or epoch seconds. */
static bool arg_time(sv_reply *r, json_t *a, const char *key, int64_t *out, bool *given) {
  json_t *v = json_object_get(a, key);
  *given = false;
  if (!v || json_is_null(v)) return true;
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
  } else if (!json_is_string(v) || patron_time_parse(out, json_string_value(v)) != PATRON_OK) {
    sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, key,
            "%s must be a time (2026-11-23 or 2026-11-23T12:00:00Z) or epoch seconds", key);
    return false;
  }
  *given = true;
  return true;
}

/* ---- checkout ------------------------------------------------------------- */

typedef int (*cart_fn)(patron *p, char **out, const char *in);

static void run_cart(patron *p, json_t *a, const char *cart_text, sv_reply *r, cart_fn fn) {
  char *dumped = NULL, *out = NULL;
  if (!cart_text) {
    json_t *cart = json_object_get(a, "cart");
    if (!cart || json_is_null(cart)) return bad_field(r, "cart", "a cart object", NULL);
    /* a text cut short by a failed write would be refused as a bad cart */
    dumped = pt_json_dumps(cart, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!dumped) return sv_nomem(r);
    cart_text = dumped;
  }
  if (fn(p, &out, cart_text) == PATRON_OK) ok_patron_text(r, out);
  else sv_fail_lib(r, p);
  free(dumped);
}

static void op_quote(patron *p, json_t *a, const char *cart_text, sv_reply *r) {
  run_cart(p, a, cart_text, r, patron_quote_json);
}

static void op_commit(patron *p, json_t *a, const char *cart_text, sv_reply *r) {
  run_cart(p, a, cart_text, r, patron_commit_json);
}

static void op_refund(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *order;
  if (!arg_str(r, a, "order_id", true, &order)) return;
  json_t *lines = json_object_get(a, "lines");
  size_t n = 0;
  if (lines && !json_is_null(lines)) {
    if (!json_is_array(lines)) return bad_field(r, "lines", "an array of {sku, qty}", lines);
    n = json_array_size(lines);
    if (n > MAX_REFUND_LINES)
      return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "lines",
                     "lines has %zu entries; at most %d are allowed", n, MAX_REFUND_LINES);
  }
  patron_refund_line *rl = calloc(n + 1, sizeof *rl);
  if (!rl) return sv_nomem(r);
  for (size_t i = 0; i < n; i++) {
    json_t *l = json_array_get(lines, i);
    char key[48];
    if (!json_is_object(l)) {
      snprintf(key, sizeof key, "lines[%zu]", i);
      bad_field(r, key, "an object {sku, qty}", l);
      goto done;
    }
    json_t *sku = json_object_get(l, "sku"), *qty = json_object_get(l, "qty");
    if (!json_is_string(sku) || json_string_length(sku) == 0) {
      snprintf(key, sizeof key, "lines[%zu].sku", i);
      bad_field(r, key, "a non-empty string", sku);
      goto done;
    }
    rl[i].sku = json_string_value(sku);
    rl[i].qty = 1;
    if (qty && !json_is_null(qty)) {
      if (!json_is_integer(qty) || json_integer_value(qty) <= 0) {
        snprintf(key, sizeof key, "lines[%zu].qty", i);
        bad_field(r, key, "a positive integer", qty);
        goto done;
      }
      rl[i].qty = (int64_t)json_integer_value(qty);
    }
  }
  char *out = NULL;
  if (patron_refund(p, &out, order, rl, n) == PATRON_OK) ok_patron_text(r, out);
  else sv_fail_lib(r, p);
done:
  free(rl);
}

/* ---- points ----------------------------------------------------------------- */

static void op_balance(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *customer, *program;
  if (!arg_str(r, a, "customer", true, &customer) ||
      !arg_str(r, a, "program", false, &program))
    return;
  patron_balance_info b;
  if (patron_balance(p, &b, customer, program) != PATRON_OK) return sv_fail_lib(r, p);
  ok_json(r, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "customer", customer,
                       "program", b.program, "points", (json_int_t)b.points, "spendable",
                       (json_int_t)b.spendable, "pending", (json_int_t)b.pending, "tier",
                       b.tier, "qualifying_cents", (json_int_t)b.qualifying_cents));
}

static void op_ledger(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *customer, *program;
  if (!arg_str(r, a, "customer", true, &customer) ||
      !arg_str(r, a, "program", false, &program))
    return;
  char *out = NULL;
  if (patron_ledger_json(p, &out, customer, program) != PATRON_OK) return sv_fail_lib(r, p);
  ok_patron_text(r, out);
}

static void op_adjust(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *customer, *program, *reason;
  int64_t points = 0;
  if (!arg_str(r, a, "customer", true, &customer) ||
      !arg_str(r, a, "program", false, &program) ||
      !arg_int(r, a, "points", true, &points, NULL) ||
      !arg_str(r, a, "reason", true, &reason))
    return;
  if (points == 0)
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "points",
                   "points must not be 0");
  char uuid[37];
  patron_balance_info b;
  if (patron_adjust(p, uuid, customer, program, points, reason) != PATRON_OK ||
      patron_balance(p, &b, customer, program) != PATRON_OK)
    return sv_fail_lib(r, p);
  ok_json(r, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "uuid", uuid,
                       "customer", customer, "program", b.program, "kind", "adjust",
                       "points", (json_int_t)points, "reason", reason, "balance_after",
                       (json_int_t)b.points, "spendable", (json_int_t)b.spendable));
}

static void op_tick(patron *p, json_t *a, const char *unused, sv_reply *r) {
  int64_t now = 0;
  bool given;
  if (!arg_time(r, a, "now", &now, &given)) return;
  if (!given) now = patron_now(p);
  patron_tick_result t;
  if (patron_tick(p, &t, now) != PATRON_OK) return sv_fail_lib(r, p);
  char when[32];
  patron_time_format(when, sizeof when, now);
  ok_json(r, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "now",
                       when, "expired_points", (json_int_t)t.expired_points,
                       "expired_lots", (json_int_t)t.expired_lots, "expiring_notices",
                       (json_int_t)t.expiring_notices, "tier_changes",
                       (json_int_t)t.tier_changes, "charges_requested",
                       (json_int_t)t.charges_requested, "trials_ended",
                       (json_int_t)t.trials_ended, "upgrades_reverted",
                       (json_int_t)t.upgrades_reverted, "dunning_steps",
                       (json_int_t)t.dunning_steps, "renewal_reminders",
                       (json_int_t)t.renewal_reminders, "carts_abandoned",
                       (json_int_t)t.carts_abandoned));
}

/* ---- events ------------------------------------------------------------------ */

static void op_events_pull(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *type;
  int64_t limit = 100;
  if (!arg_str(r, a, "type", false, &type) ||
      !arg_int(r, a, "limit", false, &limit, NULL))
    return;
  if (limit <= 0 || limit > 10000)
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "limit",
                   "limit must be between 1 and 10000, got %lld", (long long)limit);
  char *out = NULL;
  if (patron_events_pull(p, &out, type, (int)limit) != PATRON_OK) return sv_fail_lib(r, p);
  ok_patron_text(r, out);
}

static void op_events_ack(patron *p, json_t *a, const char *unused, sv_reply *r) {
  json_t *ids = json_object_get(a, "ids");
  if (!json_is_array(ids) || json_array_size(ids) == 0)
    return bad_field(r, "ids", "a non-empty array of event ids", ids);
  size_t n = json_array_size(ids);
  if (n > MAX_ACK_IDS)
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "ids",
                   "ids has %zu entries; at most %d are allowed", n, MAX_ACK_IDS);
  int64_t *v = malloc(n * sizeof *v);
  if (!v) return sv_nomem(r);
  for (size_t i = 0; i < n; i++) {
    json_t *id = json_array_get(ids, i);
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
      char key[32];
      snprintf(key, sizeof key, "ids[%zu]", i);
      bad_field(r, key, "a positive integer", id);
      free(v);
      return;
    }
    v[i] = (int64_t)json_integer_value(id);
  }
  if (patron_events_ack(p, v, n) == PATRON_OK) ok_json(r, json_pack("{s:I}", "acked", (json_int_t)n));
  else sv_fail_lib(r, p);
  free(v);
}

/* ---- subscriptions ------------------------------------------------------------- */

/* Runs a patron call returning JSON text, or records its error. */
#define TEXT_CALL(call)                          \
  do {                                           \
    char *out_ = NULL;                           \
    if ((call) == PATRON_OK) ok_patron_text(r, out_); \
    else sv_fail_lib(r, p);                      \
  } while (0)
#define OUT (&out_)

static void op_plans(patron *p, json_t *a, const char *unused, sv_reply *r) {
  TEXT_CALL(patron_plans_json(p, OUT));
}

static void op_sub_create(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *customer, *plan;
  bool trial = false;
  if (!arg_str(r, a, "customer", true, &customer) || !arg_str(r, a, "plan", true, &plan) ||
      !arg_bool(r, a, "trial", false, &trial))
    return;
  TEXT_CALL(patron_sub_create(p, OUT, customer, plan, trial));
}

static void op_sub_show(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id;
  if (!arg_str(r, a, "sub", true, &id)) return;
  TEXT_CALL(patron_sub_show(p, OUT, id));
}

static void op_sub_cancel(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id;
  bool at_end = false;
  if (!arg_str(r, a, "sub", true, &id) || !arg_bool(r, a, "at_period_end", false, &at_end))
    return;
  TEXT_CALL(patron_sub_cancel(p, OUT, id, at_end));
}

static void op_sub_change(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id, *plan;
  if (!arg_str(r, a, "sub", true, &id) || !arg_str(r, a, "plan", true, &plan)) return;
  TEXT_CALL(patron_sub_change(p, OUT, id, plan));
}

static void op_sub_upgrade(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id, *plan;
  int64_t days = 0;
  if (!arg_str(r, a, "sub", true, &id) || !arg_str(r, a, "plan", true, &plan) ||
      !arg_int(r, a, "days", true, &days, NULL))
    return;
  if (days <= 0)
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "days",
                   "days must be a positive integer, got %lld", (long long)days);
  TEXT_CALL(patron_sub_upgrade(p, OUT, id, plan, days));
}

static void op_sub_convert(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id;
  if (!arg_str(r, a, "sub", true, &id)) return;
  TEXT_CALL(patron_sub_convert(p, OUT, id));
}

static void op_sub_charge_result(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *attempt, *reason;
  bool ok = false;
  if (!arg_str(r, a, "attempt", true, &attempt) || !arg_bool(r, a, "ok", true, &ok) ||
      !arg_str(r, a, "reason", false, &reason))
    return;
  if (!ok && !reason)
    return bad_field(r, "reason", "a failure reason (insufficient_funds, card_expired, ...)",
                     NULL);
  TEXT_CALL(patron_sub_charge_result(p, OUT, attempt, ok, reason));
}

static void op_sub_payment_method(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *id;
  patron_payment_method m = {0};
  int64_t y = 0, mo = 0;
  if (!arg_str(r, a, "sub", true, &id) || !arg_str(r, a, "token", true, &m.token) ||
      !arg_str(r, a, "brand", false, &m.brand) || !arg_str(r, a, "last4", false, &m.last4) ||
      !arg_int(r, a, "exp_year", false, &y, NULL) ||
      !arg_int(r, a, "exp_month", false, &mo, NULL))
    return;
  if (y < 0 || y > 9999 || mo < 0 || mo > 12)
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400,
                   y < 0 || y > 9999 ? "exp_year" : "exp_month", "expiry out of range");
  m.exp_year = (int)y;
  m.exp_month = (int)mo;
  TEXT_CALL(patron_sub_payment_method(p, OUT, id, &m));
}

/* ---- reports ----------------------------------------------------------------- */

static void op_report(patron *p, json_t *a, const char *unused, sv_reply *r) {
  const char *name;
  patron_report_opts o = {0};
  bool given;
  if (!arg_str(r, a, "name", true, &name) || !arg_str(r, a, "program", false, &o.program) ||
      !arg_str(r, a, "by", false, &o.by) ||
      !arg_str(r, a, "touchpoint", false, &o.touchpoint) ||
      !arg_time(r, a, "from", &o.from, &given) || !arg_time(r, a, "to", &o.to, &given))
    return;
  TEXT_CALL(patron_report_json(p, OUT, name, &o));
}

static void op_ping(patron *p, json_t *a, const char *unused, sv_reply *r) {
  ok_json(r, json_pack("{s:b, s:s}", "ok", 1, "version", PATRON_VERSION));
}

#undef TEXT_CALL
#undef OUT

/* ---- the table ----------------------------------------------------------------- */

typedef void (*op_fn)(patron *p, json_t *args, const char *cart_text, sv_reply *r);

static const struct {
  const char *name;
  op_fn fn;
} ops[] = {
    {"quote", op_quote},
    {"commit", op_commit},
    {"refund", op_refund},
    {"balance", op_balance},
    {"ledger", op_ledger},
    {"adjust", op_adjust},
    {"events.pull", op_events_pull},
    {"events.ack", op_events_ack},
    {"tick", op_tick},
    {"sub.create", op_sub_create},
    {"sub.show", op_sub_show},
    {"sub.cancel", op_sub_cancel},
    {"sub.change", op_sub_change},
    {"sub.upgrade", op_sub_upgrade},
    {"sub.convert", op_sub_convert},
    {"sub.charge_result", op_sub_charge_result},
    {"sub.payment_method", op_sub_payment_method},
    {"report", op_report},
    {"plans", op_plans},
    {"ping", op_ping},
};

void sv_dispatch(patron *p, const char *op, json_t *args, const char *cart_text,
                 sv_reply *r) {
  memset(r, 0, sizeof *r);
  if (!json_is_object(args))
    return sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, NULL,
                   "a request is a JSON object");
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(ops[i].name, op) == 0) {
      ops[i].fn(p, args, cart_text, r);
      if (!r->body && !r->code) sv_nomem(r); /* every path sets one; be safe */
      return;
    }
  sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, "op",
          "unknown op '%.64s' (quote, commit, refund, balance, ledger, adjust, "
          "events.pull, events.ack, tick, sub.create, sub.show, sub.cancel, "
          "sub.change, sub.upgrade, sub.convert, sub.charge_result, "
          "sub.payment_method, report, plans, ping)",
          op);
}

/* ---- handles ----------------------------------------------------------------- */

static int64_t fixed_clock(void *ud) { return *(const int64_t *)ud; }

int sv_open(patron **out, const char *db, const int64_t *now, int busy_ms) {
  patron_options o = PATRON_OPTIONS_INIT;
  o.busy_timeout_ms = busy_ms;
  if (now) {
    o.clock = fixed_clock;
    o.clock_ud = (void *)(uintptr_t)now; /* read only */
  }
  return patron_open(out, db, &o);
}
