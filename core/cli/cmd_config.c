/*
** cmd_config.c -- the commands that set a shop up: `init` (create or
** migrate the database), `apply` (a shop.lua configuration becomes the
** next config version) and `config show` (the stored configuration).
*/
#include "cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

/* The schema version of the file (PRAGMA user_version), -1 if unreadable
** (*rc: the SQLite result then). patron.h does not expose it, so this one
** read goes to SQLite directly, read-only, after the library has closed its
** handle. */
static int schema_version(const char *path, int *rc) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int v = -1;
  if ((*rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL)) == SQLITE_OK &&
      (*rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)) == SQLITE_OK &&
      (*rc = sqlite3_step(st)) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  if (!db) *rc = SQLITE_NOMEM; /* sqlite3_open_v2 could not even make a handle */
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static int run_init(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  bool existed = access(c->db, F_OK) == 0;
  int src = SQLITE_OK;
  int before = existed ? schema_version(c->db, &src) : 0;
  if ((rc = cli_open(c, false))) return rc;
  patron_close(c->p);
  c->p = NULL;
  int after = schema_version(c->db, &src);
  if (after < 0) /* done, but saying "schema version -1" would be wrong */
    return cli_error((src & 0xff) == SQLITE_NOMEM ? PATRON_NOMEM : PATRON_IO, "",
                     "%s: cannot read the schema version: %s", c->db, sqlite3_errstr(src));
  char where[PATH_MAX];
  if (!realpath(c->db, where)) snprintf(where, sizeof where, "%s", c->db);
  if (!existed)
    printf("created %s (schema version %d, patron %s)\n", where, after, PATRON_VERSION);
  else if (before != after)
    printf("migrated %s from schema version %d to %d (patron %s)\n", where, before,
           after, PATRON_VERSION);
  else
    printf("%s is up to date (schema version %d, patron %s)\n", where, after,
           PATRON_VERSION);
  return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_init = {
    .name = "init",
    .args = "",
    .summary = "create the shop database, or migrate it to this schema",
    .description =
        "Creates the shop database (--db, $PATRON_DB or ./patron.db) if it does\n"
        "not exist, or applies the schema migrations it lacks, and says where it\n"
        "is and which schema version it has. Running it again is harmless. Every\n"
        "other command expects the database to exist.\n"
        "\n"
        "The database runs in WAL mode with synchronous=FULL: a command that\n"
        "returned has its changes on disk.",
    .exit_status = "not used: init fails only with storage errors (status 3), e.g.\n"
                   "       schema_too_new when a newer patron wrote the database",
    .example = "$ patron --db shop.db init\n"
               "created /home/ana/shop.db (schema version 1, patron " PATRON_VERSION ")",
    .run = run_init,
};

static int run_apply(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 1, 1, "FILE.lua")) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  patron_apply_result r;
  if (patron_apply_file(c->p, &r, pos[0]) != PATRON_OK) return cli_lib_error(c);
  json_t *j = json_pack("{s:I, s:b}", "version", (json_int_t)r.version, "changed", r.changed);
  rc = cli_print_json(j);
  json_decref(j);
  if (rc) return rc; /* applied, but the answer could not be printed */
  if (c->tty_out) {
    if (r.changed)
      printf("applied %s: config version %lld is now active\n", pos[0],
             (long long)r.version);
    else
      printf("%s is identical to the active config version %lld: nothing changed\n",
             pos[0], (long long)r.version);
  }
  return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_apply = {
    .name = "apply",
    .args = "FILE.lua",
    .summary = "validate shop.lua and make it the active config version",
    .description =
        "Evaluates the shop configuration in FILE.lua (programs, tiers, bundles,\n"
        "free shipping, plugins, plans, dunning), validates all of it and stores\n"
        "it as the next numbered config version, which takes effect at once for\n"
        "every process using the database. Plugin paths resolve against the\n"
        "file's folder first, then patron's plugins folder.\n"
        "\n"
        "Prints {\"version\":N,\"changed\":true|false}; applying a file identical\n"
        "to the active version changes nothing. On a terminal a sentence follows.",
    .exit_status = "invalid configuration (the message names file, line and key),\n"
                   "       or the file cannot be read; nothing was changed",
    .example = "$ patron apply examples/shop/shop.lua\n"
               "{\"version\":1,\"changed\":true}",
    .run = run_apply,
};

static int run_config_show(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  int64_t version = 0;
  cli_opt opts[] = {{"--version", CLI_POSINT, &version, false}, {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  char *text = NULL;
  if (patron_config_json(c->p, &text, version) != PATRON_OK) return cli_lib_error(c);
  json_t *j = cli_parse_json(text, &rc);
  patron_free(text);
  if (!j) return rc;
  rc = cli_print_json_pretty(j);
  json_decref(j);
  return rc;
}

const cli_cmd cli_cmd_config_show = {
    .name = "config show",
    .args = "[--version N]",
    .summary = "print the active (or an older) configuration as JSON",
    .description =
        "Prints the canonical JSON of the active shop configuration, or of the\n"
        "stored config version N, indented for reading. Every order records the\n"
        "config version it was priced with, so old versions stay readable.",
    .options = "--version N\tshow config version N instead of the active one\n",
    .exit_status = "no configuration applied yet (no_config), or no version N\n"
                   "       (not_found)",
    .example = "$ patron config show --version 1\n"
               "{\n  \"shop\": {\n    \"currency\": \"EUR\", ...",
    .run = run_config_show,
};
