/*
** cmd_events.c -- the outbox from the command line: `events pull` prints
** undelivered events as JSON lines, `events ack` marks them delivered.
** Delivery is at-least-once: a pulled event comes again until acked.
*/
#include "cli.h"

#include <limits.h>
#include <stdlib.h>

#include "json.h"

static int run_events_pull(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  int64_t limit = 100;
  const char *type = NULL;
  cli_opt opts[] = {{"--limit", CLI_POSINT, &limit, false},
                    {"--type", CLI_STR, &type, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if (limit > INT_MAX) return cli_usage(c, "--limit must be at most %d", INT_MAX);
  if ((rc = cli_open(c, true))) return rc;
  char *text = NULL;
  if (patron_events_pull(c->p, &text, type, (int)limit) != PATRON_OK)
    return cli_lib_error(c);
  json_t *arr = cli_parse_json(text, &rc);
  patron_free(text);
  if (!arr) return rc;
  /* every line is made before one is printed: all of them, or the error */
  size_t n = json_array_size(arr), i;
  char **lines = calloc(n + 1, sizeof *lines);
  for (i = 0; lines && i < n; i++)
    if (!(lines[i] = pt_json_dumps(json_array_get(arr, i),
                                   JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)))
      break;
  rc = lines && i == n ? CLI_EXIT_OK : cli_error(PATRON_NOMEM, "", "out of memory");
  for (i = 0; lines && i < n; i++) {
    if (!rc) puts(lines[i]);
    free(lines[i]);
  }
  free(lines);
  json_decref(arr);
  return rc;
}

const cli_cmd cli_cmd_events_pull = {
    .name = "events pull",
    .args = "[--limit N] [--type T]",
    .summary = "print undelivered outbox events, one JSON line each",
    .description =
        "Prints undelivered events oldest first, one JSON object per line:\n"
        "{\"id\":N,\"uuid\":...,\"type\":...,\"at\":...,\"subject\":...,\"payload\":{...}}.\n"
        "Types include points_expiring, tier_changed, charge_requested,\n"
        "dunning_notice and renewal_upcoming. Pulling does not consume: send\n"
        "the messages or charges, then `patron events ack` the ids; an event\n"
        "not acked is pulled again (at-least-once delivery; the uuid lets the\n"
        "receiver drop duplicates). No output means nothing is pending.",
    .options = "--limit N\tat most N events (default 100)\n"
               "--type T\tonly events of type T\n",
    .exit_status = "not used",
    .example = "$ patron events pull --type points_expiring --limit 1\n"
               "{\"id\":3,\"uuid\":\"...\",\"type\":\"points_expiring\","
               "\"at\":\"2027-10-25T00:00:00Z\",\n \"subject\":\"C1\",\"payload\":"
               "{\"customer\":\"C1\",\"points\":1200,\n \"expires_at\":"
               "\"2027-11-23T12:00:00Z\",\"program\":\"default\"}}",
    .run = run_events_pull,
};

static int run_events_ack(cli *c, int argc, char **argv) {
  int npos, rc;
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int64_t *ids = calloc((size_t)argc + 1, sizeof *ids);
  if (!pos || !ids) {
    rc = cli_error(PATRON_NOMEM, "", "out of memory");
    goto done;
  }
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 1, -1, "ID")) >= 0) goto done;
  for (int i = 0; i < npos; i++)
    if (!cli_parse_int64(pos[i], &ids[i]) || ids[i] <= 0) {
      rc = cli_usage(c, "event ids are positive integers, got '%s'", pos[i]);
      goto done;
    }
  if ((rc = cli_open(c, true))) goto done;
  if (patron_events_ack(c->p, ids, (size_t)npos) != PATRON_OK) {
    rc = cli_lib_error(c);
    goto done;
  }
  json_t *j = json_pack("{s:i}", "acked", npos);
  rc = cli_print_json(j);
  json_decref(j);
done:
  free(ids);
  free(pos);
  return rc;
}

const cli_cmd cli_cmd_events_ack = {
    .name = "events ack",
    .args = "ID...",
    .summary = "mark events delivered so they are not pulled again",
    .description =
        "Marks the events with these ids (from `patron events pull`) as\n"
        "delivered, all in one transaction, and prints {\"acked\":N}. Acking\n"
        "an event twice is harmless.",
    .exit_status = "an id that is not an event (not_found); nothing was acked",
    .example = "$ patron events ack 3 4\n{\"acked\":2}",
    .run = run_events_ack,
};
