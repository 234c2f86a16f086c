/*
** cmd_checkout.c -- the till's commands: `quote` and `commit` price carts
** (one JSON document, or JSON lines: one cart per line, one result per
** line, in order, so a batch or a re-run of history is one process), and
** `refund` unwinds an order or part of it.
*/
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef int (*cart_fn)(patron *p, char **out, const char *in);

static bool blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
  return true;
}

/* Runs fn on one cart text; prints the result or the error object.
** Returns true when it succeeded. */
static bool one(cli *c, cart_fn fn, const char *text, int *worst) {
  char *out = NULL;
  if (fn(c->p, &out, text) == PATRON_OK) {
    fputs(out, stdout);
    fputc('\n', stdout);
    patron_free(out);
    return true;
  }
  char *err = patron_error_json(c->p);
  fputs(err ? err : "{\"error\":{\"code\":\"nomem\",\"message\":\"out of memory\"}}", stdout);
  fputc('\n', stdout);
  patron_free(err);
  int st = cli_exit_for(patron_errcode(c->p));
  if (st > *worst) *worst = st;
  return false;
}

/* getline returned -1: the end of the input, or a failure (out of memory,
** a read error) that must not pass for the end: the carts after it would
** be dropped without a word. Returns the exit status for a failure, else
** CLI_EXIT_OK. */
static int input_end(FILE *in) {
  if (feof(in)) return CLI_EXIT_OK;
  int e = errno;
  return cli_error(e == ENOMEM ? PATRON_NOMEM : PATRON_IO, "", "reading the carts: %s",
                   strerror(e));
}

static int worse(int a, int b) { return a > b ? a : b; }

static int run_carts(cli *c, int argc, char **argv, cart_fn fn) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 0, 1, "FILE")) >= 0) return rc;
  FILE *in = stdin;
  if (npos == 1 && strcmp(pos[0], "-") != 0 && !(in = fopen(pos[0], "r")))
    return cli_error(PATRON_IO, "", "cannot open %s: %s", pos[0], strerror(errno));
  if ((rc = cli_open(c, true))) {
    if (in != stdin) fclose(in);
    return rc;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int worst = CLI_EXIT_OK;
  /* The first non-blank line decides: a complete JSON value on its own
  ** means JSON lines; otherwise the whole input is one document. */
  errno = 0;
  while ((n = getline(&line, &cap, in)) >= 0 && blank(line)) {}
  if (n < 0) {
    free(line);
    rc = input_end(in);
    if (in != stdin) fclose(in);
    return rc ? rc : cli_error(PATRON_INVALID_JSON, "", "no cart given (empty input)");
  }
  bool oom = false;
  json_t *probe = pt_json_loads(line, JSON_DECODE_ANY, NULL, &oom);
  if (oom) {
    /* could not tell JSON lines from one document */
    worst = cli_error(PATRON_NOMEM, "", "out of memory");
  } else if (probe) {
    json_decref(probe);
    do {
      if (!blank(line)) one(c, fn, line, &worst);
      errno = 0;
    } while ((n = getline(&line, &cap, in)) >= 0);
    worst = worse(worst, input_end(in));
  } else {
    size_t len = strlen(line), size = len + 1;
    char *doc = malloc(size);
    if (doc) memcpy(doc, line, size);
    errno = 0;
    while (doc && (n = getline(&line, &cap, in)) >= 0) {
      char *nd = realloc(doc, len + (size_t)n + 1);
      if (!nd) { free(doc); doc = NULL; break; }
      doc = nd;
      memcpy(doc + len, line, (size_t)n + 1);
      len += (size_t)n;
    }
    if (!doc) worst = cli_error(PATRON_NOMEM, "", "out of memory");
    else if (!(worst = input_end(in))) one(c, fn, doc, &worst);
    free(doc);
  }
  free(line);
  if (in != stdin) fclose(in);
  fflush(stdout);
  return worst;
}

static int run_quote(cli *c, int argc, char **argv) {
  return run_carts(c, argc, argv, patron_quote_json);
}

static int run_commit(cli *c, int argc, char **argv) {
  return run_carts(c, argc, argv, patron_commit_json);
}

#define CART_HELP                                                              \
  "The cart is JSON (DESIGN.md section 5):\n"                                  \
  "{\"program\":\"default\",\"customer\":\"C1\",\"order_id\":\"POS7-000123\",\n"   \
  " \"lines\":[{\"sku\":\"MP3-01\",\"qty\":1,\"unit_cents\":4999}],\n"           \
  " \"redeem_points\":0,\"shown_suggestions\":[]}\n"                            \
  "Input is FILE or standard input: one JSON document, or JSON lines (one\n"  \
  "cart per line, one result per line, in order; a line that fails gets its\n" \
  "error object on its own line and the rest go on)."

const cli_cmd cli_cmd_quote = {
    .name = "quote",
    .args = "[FILE]",
    .summary = "price a cart without writing anything",
    .description =
        "Runs the quote pipeline: bundles, rules, free shipping (with the\n"
        "amount still missing for it), points redemption and points earned,\n"
        "with a trace naming the source of every adjustment. Nothing is\n"
        "written.\n" CART_HELP,
    .exit_status = "a cart was refused (the error object is on its output line)",
    .example = "$ echo '{\"customer\":\"C1\",\"lines\":[{\"sku\":\"MP3-01\",\"qty\":1,"
               "\"unit_cents\":4999}]}' | patron quote\n"
               "{\"program\":\"default\",...,\"total_cents\":5498,\"points_earned\":49,...}",
    .run = run_quote,
};

const cli_cmd cli_cmd_commit = {
    .name = "commit",
    .args = "[FILE]",
    .summary = "price and record a cart (idempotent by order_id)",
    .description =
        "Prices the cart again inside one transaction and records the order,\n"
        "its lines, the points redeemed and earned, and events. The receipt is\n"
        "the quote plus order_id, balance_after and the ledger entries.\n"
        "order_id is required: committing the same order_id with the same cart\n"
        "returns the first receipt byte for byte; a different cart is a\n"
        "conflict. With expect_total_cents, a total that changed since the\n"
        "quote fails with stale_quote and writes nothing.\n" CART_HELP,
    .exit_status = "a cart was refused: conflict, stale_quote, insufficient_points, "
                   "invalid_cart ... (nothing of that cart was written)",
    .example = "$ patron commit cart.json\n"
               "{...,\"order_id\":\"POS7-000123\",\"balance_after\":1249,\"entries\":[...]}",
    .run = run_commit,
};

static int run_refund(cli *c, int argc, char **argv) {
  const char *order = NULL;
  size_t n = 0;
  patron_refund_line *lines = calloc((size_t)argc + 1, sizeof *lines);
  int rc = CLI_EXIT_OK;
  if (!lines) return cli_error(PATRON_NOMEM, "", "out of memory");
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_print_help(c->cmd, stdout);
      goto done;
    }
    if (strncmp(a, "--db", 4) == 0 || strncmp(a, "--now", 5) == 0) {
      int used;
      if ((rc = cli_global_option(c, argc - i, argv + i, &used)) >= 0) goto done;
      rc = CLI_EXIT_OK;
      i += used - 1;
      continue;
    }
    if (!v && (strcmp(a, "--order") == 0 || strcmp(a, "--sku") == 0 ||
               strcmp(a, "--qty") == 0)) {
      rc = cli_usage(c, "%s needs a value", a);
      goto done;
    }
    if (strcmp(a, "--order") == 0) {
      order = v;
    } else if (strcmp(a, "--sku") == 0) {
      lines[n].sku = v;
      lines[n].qty = 1;
      n++;
    } else if (strcmp(a, "--qty") == 0) {
      if (n == 0) { rc = cli_usage(c, "--qty goes after the --sku it counts"); goto done; }
      if (!cli_parse_int64(v, &lines[n - 1].qty) || lines[n - 1].qty <= 0) {
        rc = cli_usage(c, "--qty expects a positive integer, got '%s'", v);
        goto done;
      }
    } else {
      rc = cli_usage(c, "unknown option or argument '%s'", a);
      goto done;
    }
    i++;
  }
  if (!order) { rc = cli_usage(c, "--order ID is required"); goto done; }
  if ((rc = cli_open(c, true))) goto done;
  char *out = NULL;
  if (patron_refund(c->p, &out, order, lines, n) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  fputs(out, stdout);
  fputc('\n', stdout);
  patron_free(out);
  rc = CLI_EXIT_OK;
done:
  free(lines);
  return rc;
}

const cli_cmd cli_cmd_refund = {
    .name = "refund",
    .args = "--order ID [--sku SKU [--qty N]]...",
    .summary = "refund an order, or some units of it, and unwind its points",
    .description =
        "Without --sku, refunds everything not yet refunded. Each --sku (with\n"
        "--qty, default 1) refunds that many units. The points earned on the\n"
        "refunded units are taken back and the points redeemed on them given\n"
        "back, in proportion and floored, so refunding every unit in any number\n"
        "of steps reverses exactly what the order gave. Earned points still in\n"
        "the return window are cancelled; points already spent are clawed\n"
        "back, which may take the balance below zero (reported as\n"
        "clawback_points). Tier-qualifying spend goes down, which may drop the\n"
        "tier (a tier_changed event).",
    .options = "--order ID\tthe order_id given at commit (required)\n"
               "--sku SKU\ta sku of the order to refund\n"
               "--qty N\tunits of the preceding --sku (default 1)\n",
    .exit_status = "unknown order (not_found), or more units than were bought "
                   "and not yet refunded (invalid_input)",
    .example = "$ patron refund --order POS7-000123 --sku HP-07 --qty 1\n"
               "{\"lines\":[{\"sku\":\"HP-07\",\"qty\":1,\"refund_cents\":2550}],"
               "\"balance_after\":1224,...}",
    .run = run_refund,
};
