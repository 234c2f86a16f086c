/*
** cmd_customer.c -- `customer erase C`: the right to erasure from the
** command line (patron_customer_erase, core/erase.c). It prints the result
** as one JSON line; a checkpoint held back by another connection is also
** said on stderr, with how to finish it.
*/
#include "cli.h"

#include <string.h>

static int run_customer_erase(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 1, 1, "CUSTOMER")) >= 0) return rc;
  if ((rc = cli_open(c, true))) return rc;
  char *text = NULL;
  if (patron_customer_erase(c->p, &text, pos[0]) != PATRON_OK) return cli_lib_error(c);
  json_t *j = cli_parse_json(text, &rc);
  patron_free(text);
  if (!j) return rc;
  if ((rc = cli_print_json(j))) { /* erased, but the answer is lost: say so */
    json_decref(j);
    return rc;
  }
  const char *cp = json_string_value(json_object_get(j, "checkpoint"));
  if (cp && strcmp(cp, "complete") != 0)
    fprintf(stderr,
            "patron customer erase: another connection kept the write-ahead log open, "
            "so the erased rows may still be in %s-wal until its next checkpoint; run "
            "'patron customer erase %s' again when the tills are idle\n",
            c->db, json_string_value(json_object_get(j, "pseudonym")));
  json_decref(j);
  return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_customer_erase = {
    .name = "customer erase",
    .args = "CUSTOMER",
    .summary = "erase a customer's personal data, keeping the books under a pseudonym",
    .description =
        "The right to erasure. Deletes the customer's email and birthday, NPS\n"
        "comments, tracked cart and payment tokens, and replaces the customer id\n"
        "by a pseudonym (\"erased-\" and 32 hex digits) in every row that holds it:\n"
        "accounts, ledger, lots, orders with their stored carts and receipts,\n"
        "subscriptions, charges, events and the report tables. One transaction;\n"
        "every aggregate report reads the same before and after. Freed bytes are\n"
        "zeroed and the write-ahead log is checkpointed and truncated, so the\n"
        "email is gone from the database files.\n"
        "\n"
        "Prints {\"pseudonym\":...,\"already_erased\":false,\"erased_at\":...,\n"
        "\"rows\":{table: rows changed},\"checkpoint\":\"complete\"}. No map from the\n"
        "old id to the pseudonym is kept: note the pseudonym if you need it.\n"
        "Erasing the pseudonym again changes nothing (\"already_erased\":true) and\n"
        "retries the checkpoint. A retried commit of an old order with the old\n"
        "id is a conflict on \"customer\"; a new order under the old id enrols a\n"
        "new member.",
    .exit_status = "unknown customer (also the old id after its erasure), or a\n"
                   "       subscription that is not canceled or expired (cancel it first)",
    .example = "$ patron customer erase C3\n"
               "{\"pseudonym\":\"erased-5f0c...\",\"already_erased\":false,"
               "\"erased_at\":\"2026-11-23T12:00:00Z\",\n \"rows\":{\"accounts\":1,"
               "\"ledger\":4,...},\"checkpoint\":\"complete\"}",
    .run = run_customer_erase,
};
