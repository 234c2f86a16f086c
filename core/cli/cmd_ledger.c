/*
** cmd_ledger.c -- the points commands: `balance`, `adjust` (an audited
** manual correction), `ledger` (a customer's entries as JSON or an aligned
** table), `tick` (expiry, expiry notices, tier windows at a given time)
** and `verify` (rebuild every balance from the ledger and compare).
*/
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static json_t *balance_json(const char *customer, const patron_balance_info *b) {
  return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "customer", customer,
                   "program", b->program, "points", (json_int_t)b->points,
                   "spendable", (json_int_t)b->spendable, "pending",
                   (json_int_t)b->pending, "tier", b->tier, "qualifying_cents",
                   (json_int_t)b->qualifying_cents);
}

/* ---- balance ------------------------------------------------------------ */

static int run_balance(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *program = NULL;
  cli_opt opts[] = {{"--program", CLI_STR, &program, false}, {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 1, 1, "CUSTOMER")) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  patron_balance_info b;
  if (patron_balance(c->p, &b, pos[0], program) != PATRON_OK) return cli_lib_error(c);
  json_t *j = balance_json(pos[0], &b);
  rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

const cli_cmd cli_cmd_balance = {
    .name = "balance",
    .args = "CUSTOMER [--program P]",
    .summary = "show a customer's points balance and tier",
    .description =
        "Prints the customer's account in a program as JSON: points (the sum of\n"
        "the ledger), spendable (matured, unexpired points that can be redeemed\n"
        "now), pending (earned but still inside the return window), the current\n"
        "tier and the tier-qualifying spend in cents. Balances are computed at\n"
        "--now when it is given.",
    .options = "--program P\tthe loyalty program (default: the shop's default program)\n",
    .exit_status = "unknown customer or program, or no configuration applied",
    .example = "$ patron balance C1\n"
               "{\"customer\":\"C1\",\"program\":\"default\",\"points\":1200,"
               "\"spendable\":1200,\n \"pending\":0,\"tier\":\"silver\","
               "\"qualifying_cents\":62000}",
    .run = run_balance,
};

/* ---- adjust ------------------------------------------------------------- */

static int run_adjust(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *program = NULL, *reason = NULL;
  int64_t points = 0;
  cli_opt opts[] = {{"--points", CLI_INT, &points, false},
                    {"--reason", CLI_STR, &reason, false},
                    {"--program", CLI_STR, &program, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 1, 1, "CUSTOMER")) >= 0) return rc;
  if (!opts[0].given) return cli_usage(c, "--points N is required");
  if (!opts[1].given || !*reason)
    return cli_usage(c, "--reason TEXT is required: every adjustment is audited");
  if (points == 0) return cli_usage(c, "--points must not be 0");
  if ((rc = cli_open(c, true))) return rc;
  char uuid[37];
  if (patron_adjust(c->p, uuid, pos[0], program, points, reason) != PATRON_OK)
    return cli_lib_error(c);
  patron_balance_info b;
  if (patron_balance(c->p, &b, pos[0], program) != PATRON_OK) return cli_lib_error(c);
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "uuid", uuid,
                        "customer", pos[0], "program", b.program, "kind", "adjust",
                        "points", (json_int_t)points, "reason", reason, "balance_after",
                        (json_int_t)b.points, "spendable", (json_int_t)b.spendable);
  rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

const cli_cmd cli_cmd_adjust = {
    .name = "adjust",
    .args = "CUSTOMER --points N --reason TEXT [--program P]",
    .summary = "post a manual points correction (audited, with a reason)",
    .description =
        "Appends an `adjust` entry of N points (negative to take points away)\n"
        "to the customer's ledger, with the reason, and prints the entry's uuid\n"
        "and the new balance as JSON. The ledger is append-only: a wrong\n"
        "adjustment is corrected by another one. A negative adjustment may not\n"
        "take the spendable balance below zero.",
    .options = "--points N\tpoints to add (N > 0) or take away (N < 0); required\n"
               "--reason TEXT\twhy: shown in the ledger and audits; required\n"
               "--program P\tthe loyalty program (default: the shop's default program)\n",
    .exit_status = "insufficient_points (a negative N beyond the spendable\n"
                   "       balance), unknown customer or program",
    .example = "$ patron adjust C1 --points -200 --reason \"goodwill reversal, ticket 4411\"\n"
               "{\"uuid\":\"6f1c...\",\"customer\":\"C1\",\"program\":\"default\","
               "\"kind\":\"adjust\",\n \"points\":-200,\"reason\":\"goodwill reversal, "
               "ticket 4411\",\n \"balance_after\":1000,\"spendable\":1000}",
    .run = run_adjust,
};

/* ---- ledger ------------------------------------------------------------- */

static const char *str_or(const json_t *o, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : dflt;
}

/* Prints the entries as an aligned table with a total line per program. */
static int print_ledger_table(const json_t *arr) {
  size_t i;
  json_t *e;
  bool many = false;
  const char *first = NULL;
  json_array_foreach(arr, i, e) {
    const char *prog = str_or(e, "program", "");
    if (!first) first = prog;
    else if (strcmp(first, prog) != 0) many = true;
  }
  /* columns: [program,] time, kind, points, balance, order, source, reason */
  const char *head_all[] = {"program", "time", "kind", "points", "balance",
                            "order", "source", "reason"};
  const char *const *head = many ? head_all : head_all + 1;
  cli_table *t = cli_table_new(head, many ? "lllrrlll" : "llrrlll");
  json_t *totals = json_object();
  int rc = CLI_EXIT_OK;
  if (!t || !totals) goto nomem;
  json_array_foreach(arr, i, e) {
    char when[32], pts[32], bal[32];
    snprintf(when, sizeof when, "%s", str_or(e, "at", ""));
    if (strlen(when) >= 19) { when[10] = ' '; when[19] = 0; } /* 2026-11-23 12:00:00 */
    json_int_t p = json_integer_value(json_object_get(e, "points"));
    snprintf(pts, sizeof pts, "%+" JSON_INTEGER_FORMAT, p);
    snprintf(bal, sizeof bal, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(e, "balance_after")));
    const char *prog = str_or(e, "program", "");
    const char *row[] = {prog, when, str_or(e, "kind", ""), pts, bal,
                         str_or(e, "order_ref", ""), str_or(e, "source", ""),
                         str_or(e, "reason", "")};
    if (!cli_table_row(t, many ? row : row + 1)) goto nomem;
    json_int_t sum = json_integer_value(json_object_get(totals, prog));
    if (json_object_set_new(totals, prog, json_integer(sum + p))) goto nomem;
  }
  if (!cli_table_row(t, NULL)) goto nomem;
  if (json_object_size(totals) == 0 && json_object_set_new(totals, "", json_integer(0)))
    goto nomem;
  const char *prog;
  json_t *v;
  json_object_foreach(totals, prog, v) {
    char pts[32], n[48];
    snprintf(pts, sizeof pts, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    size_t entries = 0;
    json_array_foreach(arr, i, e)
      if (strcmp(str_or(e, "program", ""), prog) == 0) entries++;
    snprintf(n, sizeof n, "%zu %s", entries, entries == 1 ? "entry" : "entries");
    const char *row[] = {prog, "total", "", pts, "", "", "", n};
    if (!cli_table_row(t, many ? row : row + 1)) goto nomem;
  }
  cli_table_print(t, stdout);
  goto done;
nomem:
  rc = cli_error(PATRON_NOMEM, "", "out of memory");
done:
  cli_table_free(t);
  json_decref(totals);
  return rc;
}

static int run_ledger(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  const char *program = NULL, *format = NULL;
  cli_opt opts[] = {{"--program", CLI_STR, &program, false},
                    {"--format", CLI_STR, &format, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 1, 1, "CUSTOMER")) >= 0) return rc;
  bool table = c->tty_out;
  if (format) {
    if (strcmp(format, "table") == 0) table = true;
    else if (strcmp(format, "json") == 0) table = false;
    else return cli_usage(c, "--format expects table or json, got '%s'", format);
  }
  if ((rc = cli_open(c, true))) return rc;
  char *text = NULL;
  if (patron_ledger_json(c->p, &text, pos[0], program) != PATRON_OK)
    return cli_lib_error(c);
  if (!table) {
    puts(text);
    patron_free(text);
    return CLI_EXIT_OK;
  }
  json_t *arr = cli_parse_json(text, &rc);
  patron_free(text);
  if (!arr) return rc;
  rc = print_ledger_table(arr);
  json_decref(arr);
  return rc;
}

const cli_cmd cli_cmd_ledger = {
    .name = "ledger",
    .args = "CUSTOMER [--program P] [--format table|json]",
    .summary = "list a customer's ledger entries, oldest first",
    .description =
        "Lists the customer's ledger entries (earn, redeem, expire, adjust,\n"
        "reverse), oldest first, with the running balance. On a terminal it is\n"
        "an aligned table (time, kind, points, balance, order, source, reason)\n"
        "ending with a total line; otherwise a JSON array with one object per\n"
        "entry: uuid, program, at, kind, points, balance_after, order_ref,\n"
        "source, reason. Without --program every program is listed.",
    .options = "--program P\tonly this program's entries\n"
               "--format F\ttable or json (default: table on a terminal, else json)\n",
    .exit_status = "unknown customer or program",
    .example = "$ patron ledger C1 --format table\n"
               "time                 kind    points  balance  order    source  reason\n"
               "2026-01-10 09:00:00  adjust   +1500     1500  opening  import  moved in\n"
               "2026-11-23 12:00:00  adjust    -200     1300           manual  goodwill\n"
               "----------------------------------------------------------------------------\n"
               "total                          1300                            2 entries",
    .run = run_ledger,
};

/* ---- tick --------------------------------------------------------------- */

static int run_tick(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if (!c->has_now)
    return cli_usage(c, "--now TIME is required: the time to do what is due at "
                        "(e.g. --now 2026-11-23T03:00:00Z)");
  if ((rc = cli_open(c, true))) return rc;
  patron_tick_result r;
  if (patron_tick(c->p, &r, c->now) != PATRON_OK) return cli_lib_error(c);
  char now[32];
  patron_time_format(now, sizeof now, c->now);
  json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I}", "now", now, "expired_points",
                        (json_int_t)r.expired_points, "expired_lots",
                        (json_int_t)r.expired_lots, "expiring_notices",
                        (json_int_t)r.expiring_notices, "tier_changes",
                        (json_int_t)r.tier_changes);
  /* subscriptions: renewals, trials, temporary upgrades, dunning, reminders */
  const char *const keys[] = {"charges_requested", "trials_ended", "upgrades_reverted",
                              "dunning_steps", "renewal_reminders"};
  const int64_t vals[] = {r.charges_requested, r.trials_ended, r.upgrades_reverted,
                          r.dunning_steps, r.renewal_reminders};
  for (size_t k = 0; j && k < sizeof keys / sizeof keys[0]; k++)
    if (json_object_set_new(j, keys[k], json_integer(vals[k]))) {
      json_decref(j); /* never the counts without one: print nomem instead */
      j = NULL;
    }
  rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

const cli_cmd cli_cmd_tick = {
    .name = "tick",
    .args = "--now TIME",
    .summary = "do what is due at TIME: expiry, expiry notices, tier windows",
    .description =
        "Does the time-driven work that is due at TIME, in one transaction:\n"
        "expires points whose lots reached their expiry date, emits\n"
        "points_expiring events for points expiring within the program's\n"
        "notice window, and moves customers between tiers as the tier window\n"
        "slides. Run it from cron (e.g. hourly) with the current time. Running\n"
        "it twice with the same TIME does nothing the second time.\n"
        "\n"
        "Prints {\"now\":...,\"expired_points\":N,\"expired_lots\":N,\n"
        "\"expiring_notices\":N,\"tier_changes\":N}.",
    .options = "--now TIME\trequired here: the time to act at\n",
    .exit_status = "no configuration applied",
    .example = "$ patron tick --now 2027-11-24\n"
               "{\"now\":\"2027-11-24T00:00:00Z\",\"expired_points\":1500,"
               "\"expired_lots\":1,\n \"expiring_notices\":0,\"tier_changes\":0}",
    .run = run_tick,
};

/* ---- verify ------------------------------------------------------------- */

static int run_verify(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  int64_t bad = 0;
  char *report = NULL;
  if (patron_verify(c->p, &bad, &report) != PATRON_OK) return cli_lib_error(c);
  puts(report);
  patron_free(report);
  if (bad > 0) {
    fprintf(stderr,
            "patron verify: %lld account%s do%s not match %s ledger: the stored "
            "balance differs from the sum of the entries or from the points left "
            "in the lots (see \"details\")\n",
            (long long)bad, bad == 1 ? "" : "s", bad == 1 ? "es" : "",
            bad == 1 ? "its" : "their");
    return CLI_EXIT_REFUSED;
  }
  if (c->tty_out) puts("every balance matches its ledger");
  return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_verify = {
    .name = "verify",
    .args = "",
    .summary = "rebuild every balance from the ledger and compare",
    .description =
        "Recomputes every account's balance from its ledger entries and the\n"
        "points left in its lots, compares with the stored balances and prints\n"
        "the report as JSON: {\"ok\":true|false,\"accounts\":N,\"mismatches\":N,\n"
        "\"details\":[{program,customer,balance,ledger_sum,lots_left}...]}.\n"
        "Nothing is changed. A mismatch means the database was edited behind\n"
        "patron's back (or a bug): investigate before trading on.",
    .exit_status = "one or more accounts do not match their ledger (the report is\n"
                   "       on stdout, a sentence on stderr)",
    .example = "$ patron verify\n"
               "{\"ok\":true,\"accounts\":8,\"mismatches\":0,\"details\":[]}",
    .run = run_verify,
};
