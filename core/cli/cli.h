/*
** cli.h -- what the files of the `patron` command share: the command
** descriptor (one per command, defined beside its function), the
** per-invocation context, a small option parser that also accepts the
** global options after the command name, strict number parsing, error
** reporting with the exit codes of DESIGN.md section 6, and output helpers
** (JSON, aligned tables). The command uses the public patron.h, plus
** (linked statically) json.h for every JSON parse and dump, since jansson
** hides some allocation failures, and a few internal entry points
** (script.h in cmd_rules.c, the tz reader of reports.h in cmd_reports.c).
**
** Adding a command: write `static int run_x(cli *c, int argc, char **argv)`
** and `const cli_cmd cli_cmd_x = {...}` in a cmd_*.c file, declare it
** below and add one row to the table in main.c.
*/
#ifndef PT_CLI_H
#define PT_CLI_H

#define _XOPEN_SOURCE 700 /* isatty, realpath, strdup, clock_gettime */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "patron.h"

/* Exit statuses (DESIGN.md section 6). */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_REFUSED = 1, /* business rule or bad input, with a JSON error */
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_INTERNAL = 3 /* internal or storage error */
};

/* One invocation of the command. */
typedef struct cli {
  const char *db;          /* --db, $PATRON_DB, else "./patron.db" */
  int64_t now;             /* --now, valid when has_now */
  bool has_now;
  patron *p;               /* opened by cli_open, closed by main */
  const struct cli_cmd *cmd; /* the running command */
  bool tty_out, tty_err;   /* stdout / stderr are terminals */
} cli;

typedef int (*cli_fn)(cli *c, int argc, char **argv);

/* A command. name may be two words ("catalog import"); the help fields are
** printed by cli_print_help in man-page order. */
typedef struct cli_cmd {
  const char *name;        /* "balance", "events pull" */
  const char *args;        /* synopsis after the name: "CUSTOMER [--program P]" */
  const char *summary;     /* one line for `patron --help` */
  const char *description; /* paragraphs, already wrapped, no trailing \n */
  const char *options;     /* "  --program P   ...\n" lines, or NULL */
  const char *exit_status; /* extra meaning of 1 for this command, or NULL */
  const char *example;     /* "$ patron balance C1\n{...}" */
  cli_fn run;              /* argv[0] is the first word after the name;
                              opens the database itself (cli_open) */
} cli_cmd;

/* The command table (main.c). */
extern const cli_cmd *const cli_commands[];
extern const size_t cli_ncommands;

/* ---- options ---------------------------------------------------------- */

typedef enum cli_opt_kind {
  CLI_FLAG,   /* bool *dest = true */
  CLI_STR,    /* const char **dest = value */
  CLI_INT,    /* int64_t *dest, strict integer */
  CLI_POSINT  /* int64_t *dest, strict integer > 0 */
} cli_opt_kind;

typedef struct cli_opt {
  const char *name;        /* "--points" */
  cli_opt_kind kind;
  void *dest;
  bool given;              /* set by cli_parse */
} cli_opt;

/* Parses argv (the words after the command name): options from opts (a
** NULL-name terminated array), the global --db/--now/--help anywhere, "--"
** ends options; the remaining words go to pos[0..*npos-1] (in place of
** argv pointers, borrowed). Positional count must be within [min, max]
** (max < 0: unlimited); names for messages come from pos_names.
** Returns -1 to continue, or an exit status to return at once (help was
** printed: 0; usage error: 2). */
int cli_parse(cli *c, int argc, char **argv, cli_opt *opts, char **pos,
              int *npos, int min, int max, const char *pos_names);

/* One global option before the command name (argv[0] starts with "-"):
** *consumed gets the words used. Returns -1 or an exit status. */
int cli_global_option(cli *c, int argc, char **argv, int *consumed);

/* Strict integer: optional sign, digits, nothing else, no overflow. */
bool cli_parse_int64(const char *s, int64_t *out);

/* ---- errors and the handle -------------------------------------------- */

/* Prints "patron CMD: message" and the help hint on stderr; returns 2. */
int cli_usage(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens c->db with the injected clock. need_db: fail (exit 1, JSON
** not_found) if the file does not exist. Returns 0 or an exit status. */
int cli_open(cli *c, bool need_db);
/* Prints the handle's error as the JSON error object on stdout; returns
** the exit status for its code (1 or 3). */
int cli_lib_error(cli *c);
/* The same for an error without a handle. */
int cli_error(int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Exit status for a library code. */
int cli_exit_for(int code);

/* ---- output ----------------------------------------------------------- */

/* Prints j (not stolen) on one line, compact, keys in insertion order.
** Returns the exit status: CLI_EXIT_OK, or the nomem error object printed
** instead when j is NULL (making it ran out of memory) or cannot be
** dumped: never nothing, or half a document, with status 0. */
int cli_print_json(const json_t *j);
/* Prints j indented by two spaces; the same status. */
int cli_print_json_pretty(const json_t *j);
/* Parses text (owned by the caller) as JSON; NULL with the error printed
** (internal when it is not JSON, nomem when parsing ran out of memory)
** and *status set to the exit status for it; *status CLI_EXIT_OK else. */
json_t *cli_parse_json(const char *text, int *status);

/* An aligned text table: columns, then rows of strings (copied). */
typedef struct cli_table cli_table;
/* align: one char per column, 'l' or 'r'. NULL on out of memory. */
cli_table *cli_table_new(const char *const *headers, const char *align);
/* Adds a row of ncols cells (NULL cells print empty). A row of NULL
** cells pointer adds a rule line. Returns false on out of memory. */
bool cli_table_row(cli_table *t, const char *const *cells);
void cli_table_print(cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* Help. */
void cli_print_help(const cli_cmd *cmd, FILE *f);
void cli_print_main_help(FILE *f);

/* Progress on stderr for long operations (only when stderr is a tty):
** pass as patron_progress_fn with a cli_progress as ud. */
typedef struct cli_progress {
  const char *what;        /* "importing customers.csv" */
  int64_t last_ms;
  bool shown;
} cli_progress;
int cli_progress_cb(void *ud, int64_t done, int64_t total);
/* Clears the progress line if one was shown. */
void cli_progress_end(cli_progress *pr);

/* ---- commands --------------------------------------------------------- */
extern const cli_cmd cli_cmd_init, cli_cmd_apply, cli_cmd_config_show;
extern const cli_cmd cli_cmd_catalog_import, cli_cmd_customers_import;
extern const cli_cmd cli_cmd_adjust, cli_cmd_balance, cli_cmd_ledger,
    cli_cmd_tick, cli_cmd_verify;
extern const cli_cmd cli_cmd_events_pull, cli_cmd_events_ack;
extern const cli_cmd cli_cmd_plans, cli_cmd_sub_create, cli_cmd_sub_show, cli_cmd_sub_cancel, cli_cmd_sub_change, cli_cmd_sub_upgrade, cli_cmd_sub_convert, cli_cmd_sub_migrate_price, cli_cmd_sub_charge_result, cli_cmd_sub_payment_method;
extern const cli_cmd cli_cmd_quote, cli_cmd_commit, cli_cmd_refund;
extern const cli_cmd cli_cmd_serve;
extern const cli_cmd cli_cmd_rules_test, cli_cmd_rules_check, cli_cmd_report_budgets;
extern const cli_cmd cli_cmd_report, cli_cmd_nps_record, cli_cmd_simulate;
extern const cli_cmd cli_cmd_demo;
extern const cli_cmd cli_cmd_help;
extern const cli_cmd cli_cmd_customer_erase;

#endif /* PT_CLI_H */
