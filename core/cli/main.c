/*
** main.c -- the `patron` command: the command table, the global options
** before the command name, dispatch (commands may be two words, like
** `events pull`), `help` and `--version`, and the exit status. Each
** command's function and manual live in a cmd_*.c file; adding one is a
** row in the table below.
**
** Exit status (DESIGN.md section 6): 0 ok; 1 refused by a business rule
** or bad input, with the JSON error object on stdout; 2 usage; 3 internal
** or storage error.
*/
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Listed in this order by `patron --help`. Later commands of DESIGN.md
** section 6 (quote, commit, refund, sub ..., report ..., rules test,
** simulate, serve, demo, nps record) are one row each. */
const cli_cmd *const cli_commands[] = {
    &cli_cmd_init,
    &cli_cmd_apply,
    &cli_cmd_config_show,
    &cli_cmd_catalog_import,
    &cli_cmd_customers_import,
    &cli_cmd_quote,
    &cli_cmd_commit,
    &cli_cmd_refund,
    &cli_cmd_balance,
    &cli_cmd_adjust,
    &cli_cmd_ledger,
    &cli_cmd_tick,
    &cli_cmd_verify,
    &cli_cmd_events_pull,
    &cli_cmd_events_ack,
    &cli_cmd_plans,
    &cli_cmd_sub_create,
    &cli_cmd_sub_show,
    &cli_cmd_sub_cancel,
    &cli_cmd_sub_change,
    &cli_cmd_sub_upgrade,
    &cli_cmd_sub_convert,
    &cli_cmd_sub_migrate_price,
    &cli_cmd_sub_charge_result,
    &cli_cmd_sub_payment_method,
    &cli_cmd_serve,
    &cli_cmd_rules_test,
    &cli_cmd_rules_check,
    &cli_cmd_report_budgets,
    &cli_cmd_report,
    &cli_cmd_nps_record,
    &cli_cmd_simulate,
    &cli_cmd_demo,
    &cli_cmd_help,
    &cli_cmd_customer_erase,
};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

/* Does argv start with the words of name? *nwords gets their count. */
static bool matches(const char *name, int argc, char **argv, int *nwords) {
  int k = 0;
  const char *s = name;
  while (*s) {
    size_t n = strcspn(s, " ");
    if (k >= argc || strlen(argv[k]) != n || strncmp(argv[k], s, n) != 0) return false;
    k++;
    s += n;
    if (*s) s++;
  }
  *nwords = k;
  return true;
}

/* The command argv starts with (the longest match), or NULL. */
static const cli_cmd *find_command(int argc, char **argv, int *nwords) {
  const cli_cmd *best = NULL;
  int best_n = 0;
  for (size_t i = 0; i < cli_ncommands; i++) {
    int n;
    if (matches(cli_commands[i]->name, argc, argv, &n) && n > best_n) {
      best = cli_commands[i];
      best_n = n;
    }
  }
  *nwords = best_n;
  return best;
}

/* Is word the first word of a multi-word command ("catalog")? */
static bool is_group(const char *word) {
  size_t n = strlen(word);
  for (size_t i = 0; i < cli_ncommands; i++) {
    const char *name = cli_commands[i]->name;
    if (strncmp(name, word, n) == 0 && name[n] == ' ') return true;
  }
  return false;
}

static void print_group(FILE *f, const char *word) {
  size_t n = strlen(word);
  for (size_t i = 0; i < cli_ncommands; i++) {
    const char *name = cli_commands[i]->name;
    if (strncmp(name, word, n) == 0 && name[n] == ' ')
      fprintf(f, "  patron %-18s %s\n", name, cli_commands[i]->summary);
  }
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 32 || lb > 32) return 99;
  size_t d[33][33];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* Usage error for argv that names no command (c->cmd is NULL). */
static int unknown_command(cli *c, int argc, char **argv) {
  if (is_group(argv[0])) {
    if (argc < 2) {
      fprintf(stderr, "patron %s: missing subcommand; one of:\n", argv[0]);
      print_group(stderr, argv[0]);
    } else {
      fprintf(stderr, "patron %s: unknown subcommand '%s'; one of:\n", argv[0], argv[1]);
      print_group(stderr, argv[0]);
    }
    fprintf(stderr, "try 'patron help %s ...'\n", argv[0]);
    return CLI_EXIT_USAGE;
  }
  const char *near = NULL;
  size_t best = 3;
  for (size_t i = 0; i < cli_ncommands; i++) {
    char first[32];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(cli_commands[i]->name, " "),
             cli_commands[i]->name);
    size_t d = edit_distance(argv[0], first);
    if (d < best) {
      best = d;
      near = cli_commands[i]->name;
    }
  }
  (void)c;
  if (near)
    fprintf(stderr, "patron: unknown command '%s' (did you mean '%s'?)\n", argv[0], near);
  else
    fprintf(stderr, "patron: unknown command '%s'\n", argv[0]);
  fputs("try 'patron --help'\n", stderr);
  return CLI_EXIT_USAGE;
}

/* ---- help ----------------------------------------------------------------- */

static int run_help(cli *c, int argc, char **argv) {
  if (argc == 0) {
    cli_print_main_help(stdout);
    return CLI_EXIT_OK;
  }
  if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
    cli_print_help(c->cmd, stdout);
    return CLI_EXIT_OK;
  }
  int n;
  const cli_cmd *cmd = find_command(argc, argv, &n);
  if (cmd && n == argc) {
    cli_print_help(cmd, stdout);
    return CLI_EXIT_OK;
  }
  if (!cmd && argc == 1 && is_group(argv[0])) {
    printf("patron %s: one of\n", argv[0]);
    print_group(stdout, argv[0]);
    return CLI_EXIT_OK;
  }
  if (cmd) return cli_usage(c, "'%s' takes no arguments after the command name", cmd->name);
  return unknown_command(c, argc, argv);
}

const cli_cmd cli_cmd_help = {
    .name = "help",
    .args = "[COMMAND]",
    .summary = "print the manual of a command, or the list of commands",
    .description =
        "Without COMMAND, lists every command with one line each. With one,\n"
        "prints its manual: synopsis, description, options, exit status and\n"
        "an example (the same as `patron COMMAND --help`). COMMAND may be two\n"
        "words, like `events pull`.",
    .exit_status = "not used",
    .example = "$ patron help events pull",
    .run = run_help,
};

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  cli c;
  memset(&c, 0, sizeof c);
  const char *env = getenv("PATRON_DB");
  c.db = env && *env ? env : "./patron.db";
  c.tty_out = isatty(STDOUT_FILENO);
  c.tty_err = isatty(STDERR_FILENO);

  int i = 1, rc;
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_print_main_help(stdout);
      return CLI_EXIT_OK;
    }
    if (strcmp(a, "--version") == 0) {
      printf("patron %s\n", PATRON_VERSION);
      return CLI_EXIT_OK;
    }
    if (strcmp(a, "--") == 0) { i++; break; }
    int used;
    if ((rc = cli_global_option(&c, argc - i, argv + i, &used)) >= 0) return rc;
    i += used;
  }
  if (i >= argc) {
    fputs("patron: missing command\n", stderr);
    fputs("usage: patron [--db FILE] [--now TIME] COMMAND [ARGS...]\n", stderr);
    fputs("try 'patron --help'\n", stderr);
    return CLI_EXIT_USAGE;
  }
  int nwords;
  c.cmd = find_command(argc - i, argv + i, &nwords);
  if (!c.cmd) return unknown_command(&c, argc - i, argv + i);
  i += nwords;
  rc = c.cmd->run(&c, argc - i, argv + i);
  patron_close(c.p);
  if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
    perror("patron: writing output");
    rc = CLI_EXIT_INTERNAL;
  }
  return rc;
}
