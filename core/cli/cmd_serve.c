/*
** cmd_serve.c -- `patron serve --stdio | --http ADDR:PORT`: the options of
** the protocol server. The server itself (operations, JSON lines, HTTP)
** lives in core/serve/; this file checks the options, the database and the
** token, and hands over.
*/
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/serve.h"

#define DEFAULT_MAX_BODY (1024 * 1024)

/* The default number of workers: one per online CPU, at least 2 (so one
** commit waiting for the disk does not hold every connection up), at most
** 64. More workers than CPUs only make quotes wait behind each other: on 2
** CPUs, 4 workers gave twice the p99 of 2 (tests/bench/http_bench.sh). */
static int64_t default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 2 ? 2 : n > 64 ? 64 : n;
}

/* Reads the token from path (one line; surrounding blanks dropped) into
** buf. Returns an exit status, or -1 on success. */
static int read_token(cli *c, const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return cli_usage(c, "cannot read --token-file %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    fprintf(stderr, "patron serve: warning: --token-file %s can be read by other users "
                    "(chmod 600 it)\n", path);
  size_t n = fread(buf, 1, size - 1, f);
  bool more = fgetc(f) != EOF;
  fclose(f);
  buf[n] = 0;
  if (more) return cli_usage(c, "--token-file %s is over %zu bytes", path, size - 1);
  while (n && strchr(" \t\r\n", buf[n - 1])) buf[--n] = 0;
  size_t skip = strspn(buf, " \t\r\n");
  memmove(buf, buf + skip, n - skip + 1);
  return -1;
}

/* A token goes in a header: printable ASCII without spaces, 16+ chars. */
static const char *token_problem(const char *t) {
  if (strlen(t) < 16) return "is shorter than 16 characters";
  for (const char *s = t; *s; s++)
    if (*s <= ' ' || *s > '~') return "has a character that is not printable ASCII";
  return NULL;
}

static int run_serve(cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc;
  bool use_stdio = false, access_log = false;
  const char *listen = NULL, *token_file = NULL;
  int64_t threads = default_threads(), timeout = 30, max_body = DEFAULT_MAX_BODY, drain_s = 10, busy = 0;
  cli_opt opts[] = {{"--stdio", CLI_FLAG, &use_stdio, false},
                    {"--http", CLI_STR, &listen, false},
                    {"--threads", CLI_POSINT, &threads, false},
                    {"--timeout", CLI_POSINT, &timeout, false},
                    {"--max-body", CLI_POSINT, &max_body, false},
                    {"--drain", CLI_POSINT, &drain_s, false},
                    {"--token-file", CLI_STR, &token_file, false},
                    {"--access-log", CLI_FLAG, &access_log, false},
                    {"--busy-timeout", CLI_POSINT, &busy, false},
                    {0}};
  if ((rc = cli_parse(c, argc, argv, opts, pos, &npos, 0, 0, NULL)) >= 0) return rc;
  if (use_stdio == (listen != NULL))
    return cli_usage(c, "give exactly one of --stdio or --http [ADDR:]PORT");
  if (threads > 64) return cli_usage(c, "--threads must be at most 64");
  if (timeout > 3600) return cli_usage(c, "--timeout must be at most 3600 seconds");
  if (drain_s > 3600) return cli_usage(c, "--drain must be at most 3600 seconds");
  if (max_body > 64 * 1024 * 1024) return cli_usage(c, "--max-body must be at most 64 MiB");
  if (busy > 600000) return cli_usage(c, "--busy-timeout must be at most 600000 ms");

  if (use_stdio) {
    if (opts[2].given || opts[3].given || opts[5].given || token_file || access_log ||
        opts[8].given)
      return cli_usage(c, "--threads, --timeout, --drain, --token-file, --access-log and "
                          "--busy-timeout are options of --http");
    if ((rc = cli_open(c, true))) return rc;
    return serve_stdio(c->p, stdin, stdout, (size_t)max_body);
  }

  char token[4096];
  const char *tok = NULL;
  if (token_file) {
    if ((rc = read_token(c, token_file, token, sizeof token)) >= 0) return rc;
    tok = token;
  } else {
    const char *env = getenv("PATRON_TOKEN");
    if (env && *env) {
      snprintf(token, sizeof token, "%s", env);
      tok = token;
    }
  }
  const char *why = tok ? token_problem(tok) : NULL;
  if (why) return cli_usage(c, "the token (%s) %s", token_file ? token_file : "PATRON_TOKEN", why);

  /* Open once here: a missing database or a failed migration is reported
  ** before listening; the workers open their own handles. */
  if ((rc = cli_open(c, true))) return rc;
  patron_close(c->p);
  c->p = NULL;

  sv_http_config cfg = {
      .db = c->db,
      .now = c->has_now ? &c->now : NULL,
      .busy_ms = (int)busy,
      .listen = listen,
      .threads = (unsigned)threads,
      .timeout_s = (unsigned)timeout,
      .drain_s = (unsigned)drain_s,
      .max_body = (size_t)max_body,
      .token = tok,
      .access_log = access_log,
      .announce = stderr,
  };
  return serve_http(&cfg);
}

const cli_cmd cli_cmd_serve = {
    .name = "serve",
    .args = "--stdio | --http [ADDR:]PORT [OPTIONS]",
    .summary = "serve the JSON contract over stdin/stdout or HTTP",
    .description =
        "--stdio reads one JSON request per line and writes one response per\n"
        "line, in order, flushed: {\"id\":1,\"op\":\"quote\",\"cart\":{...}} gives\n"
        "{\"id\":1,\"ok\":true,\"result\":{...}} or {\"id\":1,\"ok\":false,\"error\":\n"
        "{\"code\",\"message\",\"path\"}}. Ops: quote, commit (cart), refund\n"
        "(order_id, lines), balance and ledger (customer, program), adjust\n"
        "(customer, points, reason), events.pull (limit, type), events.ack\n"
        "(ids), tick (now), sub.create (customer, plan, trial),\n"
        "sub.show|cancel|change|upgrade|convert|payment_method (sub: the\n"
        "subscription id, and plan, days ...), sub.charge_result (attempt, ok,\n"
        "reason), report (name, program, from, to, by), plans, ping. A bad\n"
        "line gets an error line and the next is read; EOF ends with status 0.\n"
        "\n"
        "--http [ADDR:]PORT serves the same operations as REST routes (see\n"
        "README.md): POST /v1/quote, /v1/commit, /v1/refund, GET\n"
        "/v1/customers/ID/balance ... Status: 400 bad input, 401 token, 404\n"
        "unknown, 405 method, 409 conflict or stale_quote, 413 body too large,\n"
        "422 refused by a business rule, 503 busy, 500 internal; the body of\n"
        "an error is {\"error\":{...}}. With PATRON_TOKEN or --token-file set,\n"
        "every route but /healthz needs `Authorization: Bearer TOKEN`. Port 0\n"
        "picks a free port; the address is printed on stderr. Binds where told:\n"
        "use a loopback address unless a proxy with TLS is in front (a warning\n"
        "is printed otherwise). SIGTERM or SIGINT stops accepting, finishes the\n"
        "requests in flight and exits 0.",
    .options = "--stdio\tJSON lines on stdin/stdout\n"
               "--http [ADDR:]PORT\tlisten on ADDR:PORT (127.0.0.1:8080, [::1]:8080);\n"
               "\ta PORT alone listens on 127.0.0.1\n"
               "--threads N\tworker threads, one engine handle each (default: one\n"
               "\tper CPU, at least 2)\n"
               "--timeout S\tdrop a connection idle for S seconds (default 30)\n"
               "--max-body N\tlargest request body or line in bytes (default 1 MiB)\n"
               "--drain S\ton SIGTERM wait at most S seconds for requests (default 10)\n"
               "--token-file F\tbearer token from F (default: $PATRON_TOKEN)\n"
               "--access-log\tone line per request on stderr: method path status us\n"
               "--busy-timeout MS\twait MS for a locked database, then 503 busy\n"
               "\t(default 5000)\n",
    .exit_status = "no database at --db (not_found). Errors of requests are\n"
                   "       responses, never exit statuses; 3 also when the server\n"
                   "       cannot listen or its output cannot be written",
    .example = "$ echo '{\"id\":1,\"op\":\"balance\",\"customer\":\"C1\"}' | patron serve --stdio\n"
               "{\"id\":1,\"ok\":true,\"result\":{\"customer\":\"C1\",\"program\":\"default\","
               "\"points\":1200,...}}\n"
               "$ PATRON_TOKEN=$(cat token) patron serve --http 127.0.0.1:8080 --access-log",
    .run = run_serve,
};
