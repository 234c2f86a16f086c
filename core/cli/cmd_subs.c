/*
** cmd_subs.c -- subscriptions from the command line: `plans` and `sub
** create|show|cancel|change|upgrade|convert|migrate-price|charge-result|
** payment-method-updated`. Each prints the library's JSON on one line.
** patron never charges a card: `tick` asks for charges through
** charge_requested events and the host answers with `sub charge-result`.
** Values given on the command line are never echoed in messages (one of
** them could be a card number, which the library refuses).
*/
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* Parses options and exactly npos_want positionals (named by pos_names)
** without echoing a stray argument. pos must hold argc entries. */
static int parse(cli *c, int argc, char **argv, cli_opt *opts, char **pos, int npos_want,
                 const char *pos_names) {
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, npos_want, -1, pos_names)) >= 0)
    return rc;
  if (npos > npos_want)
    return cli_usage(c, "takes %s%s; %d more argument%s given",
                     npos_want ? "only " : "no arguments besides its options",
                     npos_want ? pos_names : "", npos - npos_want, npos - npos_want == 1 ? "" : "s");
  return -1;
}

/* Prints the library's JSON text (owned by patron) or the error. */
static int print_result(cli *c, int code, char *text) {
  if (code != PATRON_OK) return cli_lib_error(c);
  puts(text);
  patron_free(text);
  return CLI_EXIT_OK;
}

/* Strict integer in [lo, hi] without echoing the text. */
static int int_opt(cli *c, const char *name, const char *text, int64_t lo, int64_t hi,
                   int64_t *out) {
  if (!cli_parse_int64(text, out) || *out < lo || *out > hi)
    return cli_usage(c, "%s expects a whole number from %lld to %lld", name, (long long)lo,
                     (long long)hi);
  return -1;
}

/* ---- plans ----------------------------------------------------------------- */

static void money(char *buf, size_t n, json_int_t cents) {
  snprintf(buf, n, "%s%" JSON_INTEGER_FORMAT ".%02d", cents < 0 ? "-" : "",
           (cents < 0 ? -cents : cents) / 100, (int)((cents < 0 ? -cents : cents) % 100));
}

static int run_plans(cli *c, int argc, char **argv) {
  const char *format = NULL;
  cli_opt opts[] = {{"--format", CLI_STR, &format, false}, {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 0, "")) >= 0) goto done;
  bool table = c->tty_out;
  if (format) {
    if (strcmp(format, "table") == 0) table = true;
    else if (strcmp(format, "json") == 0) table = false;
    else {
      rc = cli_usage(c, "--format expects table or json");
      goto done;
    }
  }
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  if (patron_plans_json(c->p, &text) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  if (!table) {
    rc = print_result(c, PATRON_OK, text);
    goto done;
  }
  json_t *arr = cli_parse_json(text, &rc);
  patron_free(text);
  if (!arr) goto done;
  const char *head[] = {"plan", "price", "every", "trial", "program", "saving"};
  cli_table *t = cli_table_new(head, "lrlrll");
  size_t i;
  json_t *pl;
  rc = t ? CLI_EXIT_OK : cli_error(PATRON_NOMEM, "", "out of memory");
  json_array_foreach(arr, i, pl) {
    if (rc) break;
    char price[32], every[48], trial[24];
    money(price, sizeof price, json_integer_value(json_object_get(pl, "price_cents")));
    json_int_t n = json_integer_value(json_object_get(pl, "count"));
    const char *unit = json_string_value(json_object_get(pl, "every"));
    if (n == 1) snprintf(every, sizeof every, "%s", unit ? unit : "");
    else snprintf(every, sizeof every, "%" JSON_INTEGER_FORMAT " %ss", n, unit ? unit : "");
    snprintf(trial, sizeof trial, "%" JSON_INTEGER_FORMAT " days",
             json_integer_value(json_object_get(pl, "trial_days")));
    const char *prog = json_string_value(json_object_get(pl, "program"));
    const char *saving = json_string_value(json_object_get(json_object_get(pl, "saving"), "text"));
    const char *row[] = {json_string_value(json_object_get(pl, "name")), price, every,
                         trial, prog ? prog : "", saving ? saving : ""};
    if (!cli_table_row(t, row)) {
      rc = cli_error(PATRON_NOMEM, "", "out of memory");
      break;
    }
  }
  if (rc == CLI_EXIT_OK) cli_table_print(t, stdout);
  cli_table_free(t);
  json_decref(arr);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_plans = {
    .name = "plans",
    .args = "[--format table|json]",
    .summary = "list the subscription plans with prices and annual savings",
    .description =
        "Lists the plans of the active configuration: name, price_cents, every\n"
        "(day, week, month, year) and count, trial_days, the program renewals\n"
        "earn points in, the twin plan, mrr_cents (the price as a monthly\n"
        "amount) and, for a plan with a twin billed in whole multiples of the\n"
        "twin's period, the saving: saving = n x twin price - price and\n"
        "percent = floor(saving x 100 / (n x twin price)), as in \"pro-annual\n"
        "saves 15% against 12 x pro-monthly\". Prices of existing\n"
        "subscriptions are locked: see `patron sub migrate-price`.",
    .options = "--format F\ttable or json (default: table on a terminal, else json)\n",
    .exit_status = "no configuration applied",
    .example = "$ patron plans --format table\n"
               "plan         price  every  trial    program  saving\n"
               "pro-monthly  10.00  month  14 days  default\n"
               "pro-annual  102.00  year    0 days  default  pro-annual saves 15% against "
               "12 x pro-monthly",
    .run = run_plans,
};

/* ---- sub create / show ----------------------------------------------------- */

static int run_sub_create(cli *c, int argc, char **argv) {
  const char *customer = NULL, *plan = NULL;
  bool trial = false;
  cli_opt opts[] = {{"--customer", CLI_STR, &customer, false},
                    {"--plan", CLI_STR, &plan, false},
                    {"--trial", CLI_FLAG, &trial, false},
                    {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 0, "")) >= 0) goto done;
  if (!customer || !plan) {
    rc = cli_usage(c, "--customer C and --plan P are required");
    goto done;
  }
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_create(c->p, &text, customer, plan, trial);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_create = {
    .name = "sub create",
    .args = "--customer C --plan P [--trial]",
    .summary = "subscribe a customer to a plan at its current price",
    .description =
        "Creates a subscription (id \"sub_\" + 32 hex digits) at the plan's current\n"
        "price, which it keeps (grandfathering). Without --trial it is active at\n"
        "once and a charge_requested event asks the host for the first period;\n"
        "with --trial it is trialing for the plan's trial_days and the first\n"
        "charge is requested by the tick at the trial's end. The customer is\n"
        "created if new. Prints the subscription as JSON (open_attempt names the\n"
        "charge awaiting `patron sub charge-result`).",
    .options = "--customer C\tthe customer id (required)\n"
               "--plan P\ta plan of the shop config (required; see `patron plans`)\n"
               "--trial\tstart with the plan's trial\n",
    .exit_status = "unknown plan (not_found), a plan without a trial, a card\n"
                   "       number in any value (invalid_input)",
    .example = "$ patron --now 2026-03-01 sub create --customer C1 --plan pro-monthly\n"
               "{\"id\":\"sub_5f0c...\",\"customer\":\"C1\",\"plan\":\"pro-monthly\","
               "\"status\":\"active\",\n \"price_cents\":1000,...,\"open_attempt\":\"9b2e...\"}",
    .run = run_sub_create,
};

static int run_sub_show(cli *c, int argc, char **argv) {
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, NULL, pos, 1, "ID|CUSTOMER")) >= 0) goto done;
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_show(c->p, &text, pos[0]);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_show = {
    .name = "sub show",
    .args = "ID|CUSTOMER",
    .summary = "show a subscription, or every subscription of a customer",
    .description =
        "Prints one subscription (by id) or a JSON array of a customer's\n"
        "subscriptions: status (trialing, active, past_due, suspended, canceled,\n"
        "expired), plan and access_plan (differs during a temporary upgrade),\n"
        "price_cents (locked), the current period, renews_at, pending_change,\n"
        "temporary_upgrade, price_change, dunning (since, reason, retries,\n"
        "next_retry_at, awaiting_payment_method, final_action_at), open_attempt\n"
        "and payment_method (token, brand, last4, expiry; never a card number).",
    .exit_status = "no such subscription (not_found) or customer (unknown_customer)",
    .example = "$ patron sub show C1\n[{\"id\":\"sub_5f0c...\",\"status\":\"active\",...}]",
    .run = run_sub_show,
};

/* ---- sub cancel / change / upgrade / convert --------------------------------- */

static int run_sub_cancel(cli *c, int argc, char **argv) {
  bool at_end = false;
  cli_opt opts[] = {{"--at-period-end", CLI_FLAG, &at_end, false}, {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 1, "ID")) >= 0) goto done;
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_cancel(c->p, &text, pos[0], at_end);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_cancel = {
    .name = "sub cancel",
    .args = "ID [--at-period-end]",
    .summary = "cancel a subscription now or at the end of its period",
    .description =
        "Without --at-period-end the subscription is canceled now (no refund of\n"
        "the running period; a charge still in flight that succeeds later emits\n"
        "refund_due). With it, an active or trialing subscription runs to the end\n"
        "of its period and then expires without being charged; asking twice\n"
        "changes nothing. Either is a voluntary ending in the history.",
    .options = "--at-period-end\tend at the end of the paid period instead of now\n",
    .exit_status = "the subscription is already canceled or expired, or (with\n"
                   "       --at-period-end) past_due or suspended (invalid_input)",
    .example = "$ patron sub cancel sub_5f0c... --at-period-end",
    .run = run_sub_cancel,
};

static int run_sub_change(cli *c, int argc, char **argv) {
  const char *plan = NULL;
  cli_opt opts[] = {{"--plan", CLI_STR, &plan, false}, {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 1, "ID")) >= 0) goto done;
  if (!plan) {
    rc = cli_usage(c, "--plan P is required");
    goto done;
  }
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_change(c->p, &text, pos[0], plan);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_change = {
    .name = "sub change",
    .args = "ID --plan P",
    .summary = "change plan: an upgrade now with proration, a downgrade at period end",
    .description =
        "Plans are compared by price per year (price x periods per year / count).\n"
        "An upgrade (a higher price per year) takes effect now; the unused part\n"
        "of the current paid period is credited:\n"
        "\n"
        "  credit = floor(locked_price * remaining_seconds / period_seconds)\n"
        "  charge = max(0, new_price - credit)\n"
        "\n"
        "where remaining_seconds = period end - now and period_seconds = period\n"
        "end - period start. The new plan's period starts now and the charge is\n"
        "requested at once (charge_requested; none when it is 0). A downgrade (a\n"
        "lower or equal price per year) is scheduled for the end of the period;\n"
        "changing back to the current plan drops it. During a trial the change\n"
        "is immediate and free. Output: the subscription with a \"change\" object\n"
        "(kind, credit_cents, charge_cents, remaining_seconds, period_seconds).",
    .options = "--plan P\tthe plan to move to (required)\n",
    .exit_status = "unknown plan (not_found); the subscription is not active or\n"
                   "       trialing, is set to cancel, or has a charge awaiting its\n"
                   "       result (invalid_input)",
    .example = "$ patron --now 2026-04-11T07:00:00Z sub change sub_5f0c... --plan pro-monthly\n"
               "{...,\"change\":{\"kind\":\"upgrade\",\"credit_cents\":328,\"charge_cents\":672,"
               "\n \"remaining_seconds\":1702800,\"period_seconds\":2592000,...}}",
    .run = run_sub_change,
};

static int run_sub_upgrade(cli *c, int argc, char **argv) {
  const char *plan = NULL, *days_text = NULL;
  cli_opt opts[] = {{"--to", CLI_STR, &plan, false}, {"--days", CLI_STR, &days_text, false}, {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int64_t days = 0;
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 1, "ID")) >= 0) goto done;
  if (!plan || !days_text) {
    rc = cli_usage(c, "--to P and --days N are required");
    goto done;
  }
  if ((rc = int_opt(c, "--days", days_text, 1, 3650, &days)) >= 0) goto done;
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_upgrade(c->p, &text, pos[0], plan, days);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_upgrade = {
    .name = "sub upgrade",
    .args = "ID --to P --days N",
    .summary = "a temporary upgrade to plan P for N days, at no charge",
    .description =
        "Gives the subscription access to plan P (access_plan) for N days at no\n"
        "charge; billing stays on its own plan. The tick at the end reverts it by\n"
        "itself (temporary_upgrade_ended) unless `patron sub convert ID` made it\n"
        "permanent. P must cost more per year than the subscription's plan.",
    .options = "--to P\tthe plan to try (required)\n"
               "--days N\thow long, 1 to 3650 days (required)\n",
    .exit_status = "unknown plan; not active or trialing; already upgraded; P\n"
                   "       is not dearer",
    .example = "$ patron sub upgrade sub_5f0c... --to pro-monthly --days 14",
    .run = run_sub_upgrade,
};

static int run_sub_convert(cli *c, int argc, char **argv) {
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, NULL, pos, 1, "ID")) >= 0) goto done;
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_convert(c->p, &text, pos[0]);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_convert = {
    .name = "sub convert",
    .args = "ID",
    .summary = "make a temporary upgrade permanent from the next renewal",
    .description =
        "The temporary upgrade no longer reverts: access to its plan continues\n"
        "and from the next renewal the subscription is billed on that plan at its\n"
        "current price (which it then keeps).",
    .exit_status = "no temporary upgrade (or already converted); canceled, expired\n"
                   "       or suspended",
    .example = "$ patron sub convert sub_5f0c...",
    .run = run_sub_convert,
};

/* ---- sub migrate-price --------------------------------------------------------- */

static int run_sub_migrate(cli *c, int argc, char **argv) {
  const char *plan = NULL, *days_text = NULL;
  cli_opt opts[] = {{"--plan", CLI_STR, &plan, false},
                    {"--notice-days", CLI_STR, &days_text, false},
                    {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int64_t days = 0;
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 0, "")) >= 0) goto done;
  if (!plan || !days_text) {
    rc = cli_usage(c, "--plan P and --notice-days N are required");
    goto done;
  }
  if ((rc = int_opt(c, "--notice-days", days_text, 0, 3650, &days)) >= 0) goto done;
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_migrate_price(c->p, &text, plan, days);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_migrate_price = {
    .name = "sub migrate-price",
    .args = "--plan P --notice-days N",
    .summary = "move existing subscribers of a plan to its current price, with notice",
    .description =
        "Subscriptions keep the price they were sold at; a new price in the\n"
        "config applies to new subscriptions only. This emits a\n"
        "price_change_notice event per existing subscription of P whose price\n"
        "differs (old_price_cents, new_price_cents, effective_at = now + N days)\n"
        "and moves each to the new price at its first renewal on or after that\n"
        "date (price_changed). Running it again announces nothing twice. Prints\n"
        "{plan, price_cents, notice_days, effective_at, notified, subscriptions}.",
    .options = "--plan P\tthe plan (required)\n"
               "--notice-days N\tdays of notice, 0 to 3650 (required)\n",
    .exit_status = "unknown plan (not_found)",
    .example = "$ patron --now 2026-02-20 sub migrate-price --plan pro-monthly --notice-days 30\n"
               "{\"plan\":\"pro-monthly\",\"price_cents\":1200,\"notice_days\":30,\n"
               " \"effective_at\":\"2026-03-22T00:00:00Z\",\"notified\":2,\"subscriptions\":[...]}",
    .run = run_sub_migrate,
};

/* ---- sub charge-result ------------------------------------------------------------- */

static int run_sub_charge_result(cli *c, int argc, char **argv) {
  const char *attempt = NULL, *reason = NULL;
  bool ok = false;
  cli_opt opts[] = {{"--attempt", CLI_STR, &attempt, false},
                    {"--ok", CLI_FLAG, &ok, false},
                    {"--fail", CLI_STR, &reason, false},
                    {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 0, "")) >= 0) goto done;
  if (!attempt) {
    rc = cli_usage(c, "--attempt ID is required");
    goto done;
  }
  if (ok == (reason != NULL)) {
    rc = cli_usage(c, "give exactly one of --ok and --fail REASON");
    goto done;
  }
  if ((rc = cli_open(c, true))) goto done;
  char *text = NULL;
  int code = patron_sub_charge_result(c->p, &text, attempt, ok, reason);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_charge_result = {
    .name = "sub charge-result",
    .args = "--attempt ID (--ok | --fail REASON)",
    .summary = "record the host's answer to a charge_requested event",
    .description =
        "Records whether the charge of an attempt (the \"attempt\" of a\n"
        "charge_requested event) succeeded. --ok: the subscription is active,\n"
        "its period advances on its schedule and the renewal earns points in the\n"
        "plan's program. --fail REASON (insufficient_funds, card_expired,\n"
        "card_lost_stolen, limit_exceeded, policy_declined, processing_error):\n"
        "the shop's dunning starts or goes on (past_due, dunning_notice; blind\n"
        "retries only for insufficient_funds, limit_exceeded and\n"
        "processing_error). The same answer again prints the same result and\n"
        "changes nothing; a different answer for an answered attempt is a\n"
        "conflict. Prints {\"attempt\":{...},\"subscription\":{...}}.",
    .options = "--attempt ID\tthe attempt id (required)\n"
               "--ok\tthe charge succeeded\n"
               "--fail REASON\tthe charge failed, for REASON\n",
    .exit_status = "unknown attempt (not_found), unknown reason (invalid_input),\n"
                   "       a different answer than the recorded one (conflict)",
    .example = "$ patron sub charge-result --attempt 9b2e... --fail card_expired",
    .run = run_sub_charge_result,
};

/* ---- sub payment-method-updated ------------------------------------------------------ */

static int run_sub_payment_method(cli *c, int argc, char **argv) {
  const char *sub = NULL, *token = NULL, *brand = NULL, *last4 = NULL, *exp = NULL;
  cli_opt opts[] = {{"--sub", CLI_STR, &sub, false},     {"--token", CLI_STR, &token, false},
                    {"--brand", CLI_STR, &brand, false}, {"--last4", CLI_STR, &last4, false},
                    {"--exp", CLI_STR, &exp, false},     {0}};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int rc;
  if (!pos) return cli_error(PATRON_NOMEM, "", "out of memory");
  if ((rc = parse(c, argc, argv, opts, pos, 0, "")) >= 0) goto done;
  if (!sub || !token || !brand || !last4 || !exp) {
    rc = cli_usage(c, "--sub, --token, --brand, --last4 and --exp are all required");
    goto done;
  }
  int64_t y, m;
  char ys[8] = "", ms[4] = "";
  if (strlen(exp) != 7 || exp[4] != '-') {
    rc = cli_usage(c, "--exp expects the expiry as YEAR-MONTH, such as 2028-04");
    goto done;
  }
  memcpy(ys, exp, 4);
  memcpy(ms, exp + 5, 2);
  if (!cli_parse_int64(ys, &y) || !cli_parse_int64(ms, &m) || ys[0] == '-' || ms[0] == '-' ||
      ys[0] == '+' || ms[0] == '+') {
    rc = cli_usage(c, "--exp expects the expiry as YEAR-MONTH, such as 2028-04");
    goto done;
  }
  if ((rc = cli_open(c, true))) goto done;
  patron_payment_method pm = {token, brand, last4, (int)y, (int)m};
  char *text = NULL;
  int code = patron_sub_payment_method(c->p, &text, sub, &pm);
  rc = print_result(c, code, text);
done:
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_sub_payment_method = {
    .name = "sub payment-method-updated",
    .args = "--sub S --token T --brand B --last4 NNNN --exp YYYY-MM",
    .summary = "record a new payment method (a processor token) and retry at once",
    .description =
        "Records the payment processor's token for the subscription's new\n"
        "payment method with its brand, last 4 digits and expiry. patron keeps\n"
        "nothing else and never a card number: any value holding one (13 to 19\n"
        "digits passing the Luhn check, spaces and dashes ignored) is refused.\n"
        "If the subscription is past_due or suspended and no charge is in\n"
        "flight, the failed charge is retried at once with the new method (a new\n"
        "charge_requested; retry_attempt in the output) -- the way out of dunning\n"
        "after card_expired, card_lost_stolen or policy_declined.",
    .options = "--sub S\tthe subscription id\n"
               "--token T\tthe processor's token for the method\n"
               "--brand B\tvisa, mastercard, amex...\n"
               "--last4 NNNN\texactly 4 digits\n"
               "--exp YYYY-MM\tthe expiry month; an expired method is refused\n",
    .exit_status = "a card number in any value, a bad last4 or expiry, a canceled\n"
                   "       or expired subscription (invalid_input)",
    .example = "$ patron sub payment-method-updated --sub sub_5f0c... --token tok_1Nv \\\n"
               "    --brand visa --last4 4242 --exp 2028-04",
    .run = run_sub_payment_method,
};
