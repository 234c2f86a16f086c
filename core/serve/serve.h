/*
** serve.h -- what the files of the protocol server share. One JSON
** contract, two transports: dispatch.c turns an operation name and its
** arguments (a JSON object) into a result or an error object using only
** the public patron.h (and json.h's pt_json_* for every JSON parse and
** dump: jansson 2.14 hides some allocation failures, see json.c);
** stdio.c speaks it as JSON lines over stdin/stdout;
** http.c speaks it over HTTP with libmicrohttpd (routes, status codes,
** token, limits, per-thread engine handles, draining on SIGTERM).
** The `patron serve` command (core/cli/cmd_serve.c) parses the options and
** calls serve_stdio or serve_http.
*/
#ifndef PT_SERVE_H
#define PT_SERVE_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* strdup, sigaction, getaddrinfo, clock_gettime */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "patron.h"

/* Codes the server adds to the library's table (patron.h): they describe
** the transport, not the engine, so they are not in PATRON_ERRORS. */
#define SV_UNAUTHORIZED "unauthorized"             /* HTTP 401 */
#define SV_METHOD_NOT_ALLOWED "method_not_allowed" /* HTTP 405 */
#define SV_TOO_LARGE "too_large"                   /* HTTP 413, long stdio line */
#define SV_HEADERS_TOO_LARGE "headers_too_large"   /* HTTP 431 */

/* The outcome of one operation. Exactly one of body (success) or code
** (error) is set. Everything is owned by the reply: sv_reply_free. */
typedef struct sv_reply {
  char *body;          /* the result as JSON text (malloc'd) */
  const char *code;    /* error: its name ("invalid_cart"), static */
  char *message;       /* error: human text (malloc'd) */
  char *path;          /* error: offending field, NULL or "" if none */
  unsigned status;     /* the HTTP status for this outcome */
} sv_reply;

/* Runs operation op ("quote", "events.pull", "sub.create" ...) with args
** (a JSON object, borrowed; fields other than the operation's are
** ignored) on handle p, filling *r (zeroed first). For quote and commit,
** cart_text, when not NULL, is the cart as sent (HTTP body) and is used
** instead of args.cart. The operations and their fields are listed in
** dispatch.c. */
void sv_dispatch(patron *p, const char *op, json_t *args, const char *cart_text,
                 sv_reply *r);

/* Sets *r to an error (replacing what it held). fmt is printf-style. When
** the message cannot be kept (out of memory), *r is nomem instead. */
void sv_fail(sv_reply *r, const char *code, unsigned status, const char *path,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sets *r to the handle's current error, with its HTTP status. */
void sv_fail_lib(sv_reply *r, patron *p);
/* Sets *r to nomem (500): the server ran out of memory, never the client's
** fault (a request that could not be parsed for lack of memory is not
** malformed). */
void sv_nomem(sv_reply *r);
/* The error of *r as the contract's error object (the value of "error":
** {"code","message"[,"path"]}); NULL on out of memory. Caller decrefs. */
json_t *sv_error_object(const sv_reply *r);
/* Frees what *r holds and zeroes it. */
void sv_reply_free(sv_reply *r);
/* HTTP status for a library error code (DESIGN.md section 5 classes). */
unsigned sv_status_for(int code);

/* Opens a handle on db with the fixed clock *now when now is not NULL
** (the clock reads *now, which must outlive the handle) and a busy
** timeout of busy_ms (0: the library's default). Same contract as
** patron_open: *out is set even on failure. */
int sv_open(patron **out, const char *db, const int64_t *now, int busy_ms);

/* ---- stdio ------------------------------------------------------------- */

/* Serves JSON lines from in to out on handle p until EOF (or SIGTERM /
** SIGINT between requests). A line longer than max_line bytes is refused
** (too_large) without being buffered. Returns the exit status: 0 at EOF,
** 3 when out cannot be written. */
int serve_stdio(patron *p, FILE *in, FILE *out, size_t max_line);

/* ---- HTTP --------------------------------------------------------------- */

typedef struct sv_http_config {
  const char *db;          /* database path */
  const int64_t *now;      /* fixed clock, or NULL */
  int busy_ms;             /* SQLite busy timeout (0: default); then 503 */
  const char *listen;      /* "127.0.0.1:8080", "[::1]:8080", port 0: any */
  unsigned threads;        /* worker threads, each with its own handle */
  unsigned timeout_s;      /* idle connection timeout, seconds */
  unsigned drain_s;        /* SIGTERM: longest wait for in-flight requests */
  size_t max_body;         /* request body limit, bytes (413 beyond) */
  const char *token;       /* bearer token required when not NULL */
  bool access_log;         /* one line per request on stderr */
  FILE *announce;          /* where "listening on ..." goes (stderr) */
} sv_http_config;

/* Runs the HTTP server until SIGTERM or SIGINT, then stops accepting,
** drains in-flight requests, closes the handles and returns 0; returns 2
** for a bad address and 3 when the server cannot start. */
int serve_http(const sv_http_config *cfg);

#endif /* PT_SERVE_H */
