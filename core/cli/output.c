/*
** output.c -- how `patron` prints: JSON (compact one line for machines,
** indented for people), aligned text tables, the manual pages of the
** commands and the progress line of long operations. Nothing here talks
** to the library.
*/
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

static int print_json(const json_t *j, size_t flags) {
  /* j NULL: building it ran out of memory; a dump is whole or NULL */
  char *s = j ? pt_json_dumps(j, flags) : NULL;
  if (!s) return cli_error(PATRON_NOMEM, "", "out of memory");
  puts(s);
  free(s);
  return CLI_EXIT_OK;
}

int cli_print_json(const json_t *j) {
  return print_json(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

int cli_print_json_pretty(const json_t *j) {
  return print_json(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

json_t *cli_parse_json(const char *text, int *status) {
  json_error_t err;
  bool oom = false;
  json_t *j = pt_json_loads(text ? text : "", JSON_DECODE_ANY, &err, &oom);
  *status = CLI_EXIT_OK;
  if (!j && oom) *status = cli_error(PATRON_NOMEM, "", "out of memory");
  else if (!j)
    *status = cli_error(PATRON_INTERNAL, "", "patron returned malformed JSON: %s", err.text);
  return j;
}

/* ---- tables ----------------------------------------------------------- */

struct cli_table {
  size_t ncols, nrows, cap;
  char **cells;            /* nrows * ncols; a rule row is all NULL + flag */
  bool *rule;
  char *align;
  size_t *width;
};

/* Display width: UTF-8 code points (no wide-character handling). */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

static bool grow(cli_table *t) {
  if (t->nrows < t->cap) return true;
  size_t cap = t->cap ? t->cap * 2 : 16;
  char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
  if (!cells) return false;
  t->cells = cells;
  bool *rule = realloc(t->rule, cap * sizeof *rule);
  if (!rule) return false;
  t->rule = rule;
  t->cap = cap;
  return true;
}

cli_table *cli_table_new(const char *const *headers, const char *align) {
  cli_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ncols = strlen(align);
  t->align = malloc(t->ncols + 1);
  t->width = calloc(t->ncols, sizeof *t->width);
  if (!t->align || !t->width || !cli_table_row(t, headers)) {
    cli_table_free(t);
    return NULL;
  }
  memcpy(t->align, align, t->ncols + 1);
  return t;
}

bool cli_table_row(cli_table *t, const char *const *cells) {
  if (!grow(t)) return false;
  char **row = t->cells + t->nrows * t->ncols;
  t->rule[t->nrows] = cells == NULL;
  for (size_t i = 0; i < t->ncols; i++) row[i] = NULL;
  t->nrows++; /* counted now so a failure below frees what was copied */
  for (size_t i = 0; cells && i < t->ncols; i++) {
    const char *s = cells[i] ? cells[i] : "";
    if (!(row[i] = strdup(s))) return false;
    size_t w = text_width(s);
    if (w > t->width[i]) t->width[i] = w;
  }
  return true;
}

void cli_table_print(cli_table *t, FILE *f) {
  for (size_t r = 0; r < t->nrows; r++) {
    char **row = t->cells + r * t->ncols;
    if (t->rule[r]) {
      size_t total = 0;
      for (size_t i = 0; i < t->ncols; i++) total += t->width[i] + (i ? 2 : 0);
      for (size_t i = 0; i < total; i++) fputc('-', f);
      fputc('\n', f);
      continue;
    }
    /* the last non-empty cell ends the line: no trailing blanks */
    size_t last = 0;
    for (size_t i = 0; i < t->ncols; i++)
      if (row[i] && row[i][0]) last = i;
    for (size_t i = 0; i <= last; i++) {
      size_t pad = t->width[i] - text_width(row[i]);
      if (i) fputs("  ", f);
      if (t->align[i] == 'r')
        fprintf(f, "%*s%s", (int)pad, "", row[i]);
      else if (i < last)
        fprintf(f, "%s%*s", row[i], (int)pad, "");
      else
        fputs(row[i], f);
    }
    fputc('\n', f);
  }
}

void cli_table_free(cli_table *t) {
  if (!t) return;
  for (size_t i = 0; t->cells && i < t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->cells);
  free(t->rule);
  free(t->align);
  free(t->width);
  free(t);
}

/* ---- help ------------------------------------------------------------- */

static const char global_options[] =
    "--db FILE\tthe shop database (default: $PATRON_DB, else ./patron.db)\n"
    "--now TIME\tact as if it were TIME (2026-11-23 or 2026-11-23T12:00:00Z);\n"
    "\tmakes every time-dependent command deterministic\n"
    "-h, --help\tprint this manual and exit\n";

/* Prints text indented by `indent` spaces, line by line. */
static void indented(FILE *f, const char *text, int indent) {
  while (text && *text) {
    size_t n = strcspn(text, "\n");
    if (n) fprintf(f, "%*s%.*s", indent, "", (int)n, text);
    fputc('\n', f);
    text += n;
    if (*text) text++;
  }
}

/* Option lines "NAME\tTEXT" (continuations "\tTEXT"), left parts padded
** to one column across both lists. */
static size_t option_width(const char *list) {
  size_t w = 0;
  while (list && *list) {
    size_t n = strcspn(list, "\n"), k = strcspn(list, "\t\n");
    if (k < n && k > w) w = k;
    list += n;
    if (*list) list++;
  }
  return w;
}

static void options(FILE *f, const char *list, int w, int indent) {
  while (list && *list) {
    size_t n = strcspn(list, "\n"), k = strcspn(list, "\t\n");
    if (k < n)
      fprintf(f, "%*s%-*.*s  %.*s\n", indent, "", w, (int)k, list, (int)(n - k - 1), list + k + 1);
    else
      fprintf(f, "%*s%.*s\n", indent, "", (int)n, list);
    list += n;
    if (*list) list++;
  }
}

void cli_print_help(const cli_cmd *cmd, FILE *f) {
  fprintf(f, "NAME\n    patron %s - %s\n\n", cmd->name, cmd->summary);
  fprintf(f, "SYNOPSIS\n    patron [--db FILE] [--now TIME] %s%s%s\n\n", cmd->name,
          cmd->args && *cmd->args ? " " : "", cmd->args ? cmd->args : "");
  fputs("DESCRIPTION\n", f);
  indented(f, cmd->description, 4);
  fputs("\nOPTIONS\n", f);
  int w = (int)option_width(global_options);
  if ((int)option_width(cmd->options) > w) w = (int)option_width(cmd->options);
  if (cmd->options) options(f, cmd->options, w, 4);
  options(f, global_options, w, 4);
  fputs("\nEXIT STATUS\n", f);
  fputs("    0  success\n", f);
  fprintf(f, "    1  %s\n", cmd->exit_status ? cmd->exit_status
          : "refused or bad input: the JSON error object is printed on stdout");
  fputs("    2  usage error: unknown option, missing or malformed argument\n", f);
  fputs("    3  internal or storage error (JSON error object on stdout)\n", f);
  if (cmd->example) {
    fputs("\nEXAMPLE\n", f);
    indented(f, cmd->example, 4);
  }
}

void cli_print_main_help(FILE *f) {
  fprintf(f, "patron %s -- loyalty and subscriptions for point-of-sale "
             "checkouts\n\n", PATRON_VERSION);
  fputs("Usage: patron [--db FILE] [--now TIME] COMMAND [ARGS...]\n\nCommands:\n", f);
  size_t w = 0;
  for (size_t i = 0; i < cli_ncommands; i++)
    if (strlen(cli_commands[i]->name) > w) w = strlen(cli_commands[i]->name);
  for (size_t i = 0; i < cli_ncommands; i++)
    fprintf(f, "  %-*s  %s\n", (int)w, cli_commands[i]->name, cli_commands[i]->summary);
  fputs("\nGlobal options (before or after the command):\n", f);
  options(f, global_options, (int)option_width(global_options), 2);
  fputs("  --version   print the version and exit\n", f);
  fputs("\nExit status: 0 ok; 1 refused by a business rule or bad input (JSON error\n"
        "object on stdout); 2 usage error; 3 internal or storage error.\n"
        "Machine output is one line of JSON; errors are\n"
        "{\"error\":{\"code\":...,\"message\":...,\"path\":...}}.\n\n"
        "Run 'patron help COMMAND' or 'patron COMMAND --help' for a command's manual.\n", f);
}

/* ---- progress ----------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_progress_cb(void *ud, int64_t done, int64_t total) {
  cli_progress *pr = ud;
  int64_t t = now_ms();
  bool last = total > 0 && done >= total;
  if (pr->shown && !last && t - pr->last_ms < 100) return 0;
  pr->last_ms = t;
  pr->shown = true;
  /* the units are the library's (bytes of the file for imports) */
  if (total > 0)
    fprintf(stderr, "\r%s: %3d%%\033[K", pr->what,
            (int)(done >= total ? 100 : done * 100 / total));
  else
    fprintf(stderr, "\r%s: %lld so far\033[K", pr->what, (long long)done);
  fflush(stderr);
  return 0;
}

void cli_progress_end(cli_progress *pr) {
  if (!pr->shown) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  pr->shown = false;
}
