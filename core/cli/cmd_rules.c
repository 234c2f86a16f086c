/*
** cmd_rules.c -- the merchant's tools for rule plugins: `rules test` runs
** one plugin alone against a cart (in a scratch in-memory database with a
** synthetic configuration: no shop needed) and prints its actions, their
** fate, the trace, the warnings and its ctx.log lines; `rules check` lints
** plugin files; `report budgets` shows what each plugin of the active
** configuration has given away against its budget.
**
** Unlike the other commands these call internal entry points of the
** library (core/script.h, linked statically): patron.h has no rule-testing
** API. If one is added, only this file changes.
*/
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "script.h"

/* Reads a whole file; NULL with errno on failure (caller frees). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *nb = cap > ((size_t)64 << 20) ? NULL : realloc(buf, 2 * cap + 1);
    if (!nb) {
      free(buf);
      buf = NULL;
      errno = ENOMEM;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  if (buf && ferror(f)) {
    free(buf);
    buf = NULL;
    errno = EIO;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    *len = n;
  }
  return buf;
}

/* ---- rules test ------------------------------------------------------------ */

static int64_t fixed_clock(void *ud) { return *(const int64_t *)ud; }

/* --param KEY=VALUE: VALUE is JSON when it parses as JSON (42, true,
** [1,2], {"a":1}, "text"), else text. */
static int add_param(cli *c, json_t *params, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) return cli_usage(c, "--param expects KEY=VALUE, got '%s'", kv);
  char key[128];
  if ((size_t)(eq - kv) >= sizeof key) return cli_usage(c, "--param: key too long");
  memcpy(key, kv, (size_t)(eq - kv));
  key[eq - kv] = 0;
  bool oom = false;
  json_t *v = pt_json_loads(eq + 1, JSON_DECODE_ANY, NULL, &oom);
  if (oom) return cli_error(PATRON_NOMEM, "", "out of memory"); /* not text: unknown */
  if (!v || json_is_null(v)) {
    json_decref(v);
    v = json_string(eq + 1);
    if (!v && pt_utf8_valid(eq + 1)) return cli_error(PATRON_NOMEM, "", "out of memory");
  }
  if (!v) return cli_usage(c, "--param %s: the value is not valid UTF-8", key);
  if (json_object_set_new(params, key, v)) return cli_error(PATRON_NOMEM, "", "out of memory");
  return -1;
}

/* json_load_file, with pt_json_loadb's rule (json.c): a load during which
** an allocation failed is thrown away and said to be out of memory. */
static json_t *load_file(const char *path, json_error_t *je, bool *oom) {
  int saved = errno;
  errno = 0;
  json_t *j = json_load_file(path, 0, je);
  *oom = errno == ENOMEM;
  errno = saved;
  if (*oom) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static int run_rules_test(cli *c, int argc, char **argv) {
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  json_t *params = json_object(), *customer = NULL, *out = NULL;
  char *cart = NULL;
  int nrest = 0, rc = -1;
  if (!rest || !params) {
    rc = cli_error(PATRON_NOMEM, "", "out of memory");
    goto done;
  }
  for (int i = 0; i < argc && rc < 0; i++) { /* --param may repeat */
    if (strcmp(argv[i], "--") == 0) {
      while (i < argc) rest[nrest++] = argv[i++];
    } else if (strcmp(argv[i], "--param") == 0) {
      if (i + 1 >= argc) rc = cli_usage(c, "--param needs KEY=VALUE");
      else rc = add_param(c, params, argv[++i]);
    } else if (strncmp(argv[i], "--param=", 8) == 0) {
      rc = add_param(c, params, argv[i] + 8);
    } else {
      rest[nrest++] = argv[i];
    }
  }
  if (rc >= 0) goto done;
  char *pos[1];
  int npos;
  const char *cart_path = NULL, *cust_path = NULL, *catalog = NULL;
  cli_opt opts[] = {{"--cart", CLI_STR, &cart_path, false},
                    {"--customer-file", CLI_STR, &cust_path, false},
                    {"--catalog", CLI_STR, &catalog, false},
                    {0}};
  if ((rc = cli_parse(c, nrest, rest, opts, pos, &npos, 1, 1, "PLUGIN")) >= 0) goto done;
  if (!cart_path) {
    rc = cli_usage(c, "--cart FILE is required (a cart as JSON, as `patron quote` takes)");
    goto done;
  }
  size_t len;
  if (!(cart = slurp(cart_path, &len))) {
    rc = cli_error(errno == ENOMEM ? PATRON_NOMEM : PATRON_IO, "", "cannot read %s: %s",
                   cart_path, strerror(errno));
    goto done;
  }
  if (cust_path) {
    json_error_t je;
    bool oom;
    if (!(customer = load_file(cust_path, &je, &oom))) {
      rc = oom ? cli_error(PATRON_NOMEM, "", "out of memory")
               : cli_error(PATRON_INVALID_JSON, "", "%s:%d: %s", cust_path, je.line, je.text);
      goto done;
    }
  }
  patron_options o = PATRON_OPTIONS_INIT;
  if (c->has_now) {
    o.clock = fixed_clock;
    o.clock_ud = &c->now;
  }
  if (patron_open(&c->p, ":memory:", &o) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  patron_import_result ir;
  if (catalog && patron_import_catalog(c->p, &ir, catalog, NULL, NULL) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  if (pt_rules_test(c->p, &out, pos[0], params, cart, customer) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  if (!(rc = cli_print_json_pretty(out)))
    rc = json_is_true(json_object_get(out, "ok")) ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
done:
  free(rest);
  free(cart);
  json_decref(params);
  json_decref(customer);
  json_decref(out);
  return rc;
}

const cli_cmd cli_cmd_rules_test = {
    .name = "rules test",
    .args = "PLUGIN.lua --cart CART.json [--customer-file C.json] [--catalog C.csv]\n"
            "       [--param K=V]... [--now T]",
    .summary = "run one rule plugin against a cart and show what it does",
    .description =
        "Runs the plugin alone, as a shop would with only this plugin configured,\n"
        "against the cart, in a scratch in-memory database (no shop is needed and\n"
        "nothing is written). Prints JSON: the plugin's actions with what became\n"
        "of each (\"applied\", or why it was dropped), the warnings, the plugin's\n"
        "trace steps, its ctx.log lines and the whole quote. ok is false and the\n"
        "exit status 1 when the plugin failed (an error, or a limit exceeded).\n"
        "The catalog is empty unless --catalog imports one (suggestions of skus\n"
        "it does not know are warnings). --customer-file gives ctx.customer: a\n"
        "JSON object with the fields\n"
        "of lua/RULES_API.md (tier, points, order_count, birthday ...) and the\n"
        "lists bought, bought_categories and declined that answer\n"
        "ctx.customer.bought(), bought_category() and declined().",
    .options = "--cart FILE\tthe cart as JSON (required)\n"
               "--customer-file FILE\tctx.customer as a JSON object\n"
               "--catalog FILE\ta catalog CSV, as `patron catalog import` reads\n"
               "--param K=V\ta plugin parameter (repeatable); V is JSON when it parses\n"
               "\tas JSON (3, true, [\"a\",\"b\"]), else text\n"
               "--now T\tthe time, when the cart has no \"at\"\n",
    .exit_status = "the plugin failed (see \"error\"), or the cart or the plugin is invalid",
    .example = "$ patron rules test plugins/cross_sell.lua --cart cart.json --param max=2\n"
               "{\n  \"plugin\": \"cross_sell\",\n  \"ok\": true,\n  \"actions\": [\n"
               "    {\"hook\": \"on_quote\", \"action\": \"suggest\", \"sku\": \"HP-07\", ...,\n"
               "     \"result\": \"applied\"}\n  ], ...\n}",
    .run = run_rules_test,
};

/* ---- rules check ----------------------------------------------------------- */

static int run_rules_check(cli *c, int argc, char **argv) {
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int npos, rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 1, -1, "FILE")) >= 0) {
    free(pos);
    return rc;
  }
  rc = CLI_EXIT_OK;
  for (int i = 0; i < npos; i++) {
    size_t len;
    char *src = slurp(pos[i], &len);
    if (!src && errno == ENOMEM) { /* not a problem of the file */
      free(pos);
      return cli_error(PATRON_NOMEM, "", "out of memory");
    }
    if (!src) {
      printf("%s: cannot read: %s\n", pos[i], strerror(errno));
      rc = CLI_EXIT_REFUSED;
      continue;
    }
    json_t *msgs = NULL;
    if (pt_rules_check(&msgs, pos[i], src, len) != PATRON_OK) {
      free(src);
      free(pos);
      return cli_error(PATRON_NOMEM, "", "out of memory");
    }
    size_t k;
    json_t *m;
    json_array_foreach(msgs, k, m) puts(json_string_value(m));
    if (json_array_size(msgs)) rc = CLI_EXIT_REFUSED;
    else printf("%s: ok\n", pos[i]);
    json_decref(msgs);
    free(src);
  }
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_rules_check = {
    .name = "rules check",
    .args = "FILE.lua...",
    .summary = "lint rule plugins: syntax, hooks, unknown actions",
    .description =
        "Loads each plugin in the rule sandbox, as a shop would, and reports with\n"
        "file:line: syntax errors; a file that raises while loading or does not\n"
        "return a table of hooks; a rule without hooks; functions named like a\n"
        "hook that is not one (on_qoute); and calls of names that are neither an\n"
        "action, a function of the sandbox nor declared in the file (a typo such\n"
        "as discout { ... }, or print and require, which rules do not have). The\n"
        "last check reads the source, not the running code: it is a lint, and a\n"
        "name it misses fails when the hook runs. Prints \"FILE: ok\" for a clean\n"
        "file.",
    .exit_status = "a file has problems (one line each) or cannot be read",
    .example = "$ patron rules check plugins/cross_sell.lua my_rule.lua\n"
               "plugins/cross_sell.lua: ok\n"
               "my_rule.lua:7: unknown name 'discout' called: not an action, a function of\n"
               "the rule sandbox or declared in this file (did you mean 'discount'?)",
    .run = run_rules_check,
};

/* ---- report budgets ----------------------------------------------------------- */

static void cell(char *buf, size_t size, const json_t *v) {
  if (json_is_integer(v)) snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else snprintf(buf, size, "-");
}

static int run_report_budgets(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *format = NULL;
  cli_opt opts[] = {{"--format", CLI_STR, &format, false}, {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  enum { F_TABLE, F_CSV, F_JSON } f = c->tty_out ? F_TABLE : F_JSON;
  if (format) {
    if (strcmp(format, "table") == 0) f = F_TABLE;
    else if (strcmp(format, "csv") == 0) f = F_CSV;
    else if (strcmp(format, "json") == 0) f = F_JSON;
    else return cli_usage(c, "--format expects table, csv or json, got '%s'", format);
  }
  if ((rc = cli_open(c, true))) return rc;
  json_t *arr = NULL;
  if (pt_rules_budgets(c->p, &arr) != PATRON_OK) return cli_lib_error(c);
  if (!arr) return cli_error(PATRON_NOMEM, "", "out of memory"); /* not "no plugins" */
  if (f == F_JSON) {
    rc = cli_print_json(arr);
    json_decref(arr);
    return rc;
  }
  static const char *const head[] = {"plugin", "active", "budget_cents", "spent_cents",
                                     "left_cents", "budget_points", "spent_points",
                                     "left_points", "budget_uses", "uses", "left_uses"};
  static const char *const keys[] = {"plugin", "active", "budget_cents", "spent_cents",
                                     "left_cents", "budget_points", "spent_points",
                                     "left_points", "budget_uses", "spent_uses",
                                     "left_uses"};
  enum { NCOL = sizeof head / sizeof head[0] };
  cli_table *t = f == F_TABLE ? cli_table_new(head, "llrrrrrrrrr") : NULL;
  if (f == F_TABLE && !t) {
    json_decref(arr);
    return cli_error(PATRON_NOMEM, "", "out of memory");
  }
  if (f == F_CSV) {
    for (int k = 0; k < NCOL; k++) printf("%s%s", k ? "," : "", head[k]);
    putchar('\n');
  }
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    char cells[NCOL][32];
    const char *row[NCOL];
    snprintf(cells[0], sizeof cells[0], "%s", json_string_value(json_object_get(o, "plugin")));
    snprintf(cells[1], sizeof cells[1], "%s",
             json_is_true(json_object_get(o, "active")) ? "yes" : "no");
    for (int k = 2; k < NCOL; k++) cell(cells[k], sizeof cells[k], json_object_get(o, keys[k]));
    for (int k = 0; k < NCOL; k++) row[k] = cells[k];
    if (t) {
      if (!cli_table_row(t, row)) { /* never a table without a plugin */
        cli_table_free(t);
        json_decref(arr);
        return cli_error(PATRON_NOMEM, "", "out of memory");
      }
    } else {
      for (int k = 0; k < NCOL; k++)
        printf("%s%s", k ? "," : "", strcmp(row[k], "-") == 0 ? "" : row[k]);
      putchar('\n');
    }
  }
  if (t) {
    cli_table_print(t, stdout);
    cli_table_free(t);
  }
  json_decref(arr);
  return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_report_budgets = {
    .name = "report budgets",
    .args = "[--format table|csv|json]",
    .summary = "what each plugin has given away against its budget",
    .description =
        "For every plugin of the active configuration: whether its campaign\n"
        "window is open now, and per budget kind (cents given as discounts and\n"
        "free items, bonus points, uses = orders it gave something on) the budget\n"
        "(\"-\" or null: unlimited), what is spent (net of refunds, which give\n"
        "budget back pro rata) and what is left. Spending is recorded at commit.",
    .options = "--format F\ttable (default on a terminal), csv or json\n",
    .exit_status = "no configuration applied",
    .example = "$ patron report budgets --format table\n"
               "plugin         active  budget_cents  spent_cents  left_cents ...\n"
               "double_points  yes                -            0           - ...",
    .run = run_report_budgets,
};
