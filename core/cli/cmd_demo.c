/*
** cmd_demo.c -- `patron demo`: walks through the demo shop (examples/shop)
** in a fresh temporary database by running examples/shop/demo.sh with this
** very binary, so what `make run` shows is one command away.
*/
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run_demo(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  if ((rc = cli_parse(c, argc, argv, NULL, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  const char *root = getenv("PATRON_ROOT");
  char script[PATH_MAX], self[PATH_MAX];
#ifdef PATRON_PLUGIN_DIR
  if (!root) root = PATRON_PLUGIN_DIR "/..";
#endif
  if (!root) return cli_error(PATRON_NOT_FOUND, "", "set PATRON_ROOT to patron's source folder");
  snprintf(script, sizeof script, "%s/examples/shop/demo.sh", root);
  if (access(script, R_OK) != 0)
    return cli_error(PATRON_NOT_FOUND, "", "the demo script is not at %s (set PATRON_ROOT)",
                     script);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return cli_error(PATRON_IO, "", "cannot find this binary: %s", strerror(errno));
  self[n] = 0;
  fflush(stdout);
  execl("/bin/bash", "bash", script, self, (char *)NULL);
  return cli_error(PATRON_IO, "", "cannot run %s: %s", script, strerror(errno));
}

const cli_cmd cli_cmd_demo = {
    .name = "demo",
    .args = "",
    .summary = "walk through the demo shop in a fresh temporary database",
    .description =
        "Runs examples/shop/demo.sh with this binary: a shop is set up from\n"
        "examples/shop (config, catalog, customers), then checkouts, rules,\n"
        "a subscription through a failed renewal, reports, a year of expiry\n"
        "and a verify, each command shown with its output. Your database is\n"
        "not touched. The same as `make run`.",
    .exit_status = "not used",
    .example = "$ patron demo",
    .run = run_demo,
};
