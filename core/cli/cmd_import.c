/*
** cmd_import.c -- `catalog import` and `customers import`: CSV files with
** a header row go into the shop, all or nothing. The import itself (and
** its validation) is the library's; this file adds the progress line on
** a terminal and prints the result counts as JSON.
*/
#include "cli.h"

#include <string.h>

typedef int (*import_fn)(patron *, patron_import_result *, const char *,
                         patron_progress_fn, void *);

static int run_import(cli *c, int argc, char **argv, import_fn fn, bool customers) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 1, 1, "FILE.csv")) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  const char *base = strrchr(pos[0], '/');
  base = base ? base + 1 : pos[0];
  char what[256];
  snprintf(what, sizeof what, "importing %s", base);
  cli_progress pr = {what, 0, false};
  patron_import_result r;
  memset(&r, 0, sizeof r);
  rc = fn(c->p, &r, pos[0], c->tty_err ? cli_progress_cb : NULL, c->tty_err ? &pr : NULL);
  cli_progress_end(&pr);
  if (rc != PATRON_OK) return cli_lib_error(c);
  json_t *j = json_pack("{s:I, s:I, s:I}", "rows", (json_int_t)r.rows, "inserted",
                        (json_int_t)r.inserted, "updated", (json_int_t)r.updated);
  if (j && customers &&
      json_object_set_new(j, "opening_skipped", json_integer(r.opening_skipped))) {
    json_decref(j); /* never the counts without it: print nomem instead */
    j = NULL;
  }
  rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

static int run_catalog_import(cli *c, int argc, char **argv) {
  return run_import(c, argc, argv, patron_import_catalog, false);
}

static int run_customers_import(cli *c, int argc, char **argv) {
  return run_import(c, argc, argv, patron_import_customers, true);
}

const cli_cmd cli_cmd_catalog_import = {
    .name = "catalog import",
    .args = "FILE.csv",
    .summary = "import or update products from a CSV file",
    .description =
        "Reads a CSV file with a header row; columns are matched by name:\n"
        "sku,name,price_cents,category,popularity[,cost_cents,tags]. Only sku\n"
        "is required. New skus are inserted, known ones updated. The import is\n"
        "all or nothing: a bad row fails it with its line number and column.\n"
        "\n"
        "Prints {\"rows\":N,\"inserted\":N,\"updated\":N}. When stderr is a\n"
        "terminal a progress line is shown while it runs.",
    .exit_status = "a bad row or header (the message names line and column), or\n"
                   "       the file cannot be read; nothing was imported",
    .example = "$ patron catalog import examples/shop/catalog.csv\n"
               "{\"rows\":12,\"inserted\":12,\"updated\":0}",
    .run = run_catalog_import,
};

const cli_cmd cli_cmd_customers_import = {
    .name = "customers import",
    .args = "FILE.csv",
    .summary = "import customers, opening balances and tier spend",
    .description =
        "Reads a CSV file with a header row; columns are matched by name:\n"
        "id[,email,birthday,program,points,spend_cents]. Only id is required.\n"
        "points is an opening balance (an earn entry in the ledger) and\n"
        "spend_cents tier-qualifying spend, so a shop can move in from an older\n"
        "program. Importing the same file again does not give the opening\n"
        "balance twice (counted in opening_skipped). All or nothing: a bad row\n"
        "fails the import with its line number and column.\n"
        "\n"
        "Prints {\"rows\":N,\"inserted\":N,\"updated\":N,\"opening_skipped\":N}.\n"
        "When stderr is a terminal a progress line is shown while it runs.",
    .exit_status = "a bad row or header (the message names line and column), an\n"
                   "       unknown program, or the file cannot be read; nothing was\n"
                   "       imported",
    .example = "$ patron customers import examples/shop/customers.csv\n"
               "{\"rows\":8,\"inserted\":8,\"updated\":0,\"opening_skipped\":0}",
    .run = run_customers_import,
};
