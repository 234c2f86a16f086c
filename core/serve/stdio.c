/*
** stdio.c -- `patron serve --stdio`: the JSON contract as JSON lines. Each
** input line is one request {"id":1,"op":"quote","cart":{...}}, answered
** by exactly one output line with the same id, in order:
** {"id":1,"ok":true,"result":{...}} or {"id":1,"ok":false,"error":{...}}.
** A line that is not JSON, not an object, has no usable id, names no known
** op or lacks a field gets an error line (id null when it could not be
** read) and the loop goes on; a line over the size limit is discarded
** without being buffered. The output is flushed after every response so a
** host can drive patron as a co-process. EOF, SIGTERM or SIGINT (between
** requests) end it with status 0; a request in progress always completes,
** and a commit is one SQLite transaction either way.
*/
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Set by SIGTERM/SIGINT: finish the current request, then stop. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

typedef enum { LINE_OK, LINE_TOO_LONG, LINE_NOMEM, LINE_EOF, LINE_ERROR } line_status;

/* Reads one line (without its '\n') into *buf, growing it up to max
** bytes; a longer line is read to its end and dropped (LINE_TOO_LONG), and
** so is one the buffer could not grow for (LINE_NOMEM). A last line
** without '\n' counts. */
static line_status read_line(FILE *in, char **buf, size_t *cap, size_t *len, size_t max) {
  size_t n = 0;
  bool too_long = false, oom = false, any = false;
  for (;;) {
    int ch = getc(in);
    if (ch == EOF) {
      if (ferror(in)) return LINE_ERROR;
      if (!any) return LINE_EOF;
      break;
    }
    any = true;
    if (ch == '\n') break;
    if (too_long || oom) continue;
    if (n >= max) {
      too_long = true;
      continue;
    }
    if (n + 1 >= *cap) {
      size_t nc = *cap ? *cap * 2 : 4096;
      if (nc > max + 1) nc = max + 1;
      char *nb = realloc(*buf, nc);
      if (!nb) { /* the line is dropped and answered nomem; the loop goes on */
        oom = true;
        continue;
      }
      *buf = nb;
      *cap = nc;
    }
    (*buf)[n++] = (char)ch;
  }
  if (too_long) return LINE_TOO_LONG;
  if (oom) return LINE_NOMEM;
  if (!*buf) { /* an empty line before any allocation: blank, nothing to keep */
    *len = 0;
    return LINE_OK;
  }
  (*buf)[n] = 0;
  *len = n;
  return LINE_OK;
}

static bool blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

/* Writes the response line for the id (its JSON text; NULL: null) and *r.
** An error object that cannot be made says nomem instead: the line is
** always whole JSON. */
static bool respond(FILE *out, const char *idtext, const sv_reply *r) {
  if (!idtext) idtext = "null";
  bool ok;
  if (r->body) {
    ok = fprintf(out, "{\"id\":%s,\"ok\":true,\"result\":%s}\n", idtext, r->body) > 0;
  } else {
    json_t *e = sv_error_object(r);
    char *et = e ? pt_json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    ok = fprintf(out, "{\"id\":%s,\"ok\":false,\"error\":%s}\n", idtext,
                 et ? et : "{\"code\":\"nomem\",\"message\":\"out of memory\"}") > 0;
    free(et);
    json_decref(e);
  }
  return fflush(out) == 0 && ok;
}

/* Handles one non-blank line; returns false when out cannot be written. */
static bool one_request(patron *p, FILE *out, const char *line, size_t len) {
  sv_reply r = {0};
  json_error_t je;
  char *id = NULL; /* the id's JSON text, echoed */
  bool oom = false;
  json_t *req = pt_json_loadb(line, len, JSON_REJECT_DUPLICATES, &je, &oom);
  if (!req && oom) {
    sv_nomem(&r); /* the line may well be fine: never invalid_json */
  } else if (!req) {
    sv_fail(&r, patron_code_name(PATRON_INVALID_JSON), 400, NULL,
            "malformed JSON at column %d: %s", je.column, je.text);
  } else if (!json_is_object(req)) {
    sv_fail(&r, patron_code_name(PATRON_INVALID_INPUT), 400, NULL,
            "a request is a JSON object {\"id\":..,\"op\":..,...}");
  } else {
    json_t *v = json_object_get(req, "id");
    json_t *op = json_object_get(req, "op");
    if (!v || !(json_is_integer(v) || json_is_string(v))) {
      sv_fail(&r, patron_code_name(PATRON_INVALID_INPUT), 400, "id",
              "id is required: an integer or a string, echoed in the response");
    } else if (!(id = pt_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))) {
      /* made before the op runs: a commit is never done and then
      ** answered with an id lost on the way */
      sv_nomem(&r);
    } else {
      if (!json_is_string(op))
        sv_fail(&r, patron_code_name(PATRON_INVALID_INPUT), 400, "op",
                "op is required: a string such as \"quote\"");
      else
        sv_dispatch(p, json_string_value(op), req, NULL, &r);
    }
  }
  bool ok = respond(out, id, &r);
  sv_reply_free(&r);
  free(id);
  json_decref(req);
  return ok;
}

int serve_stdio(patron *p, FILE *in, FILE *out, size_t max_line) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: a blocked read returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is EPIPE: exit 3 */

  char *buf = NULL;
  size_t cap = 0, len = 0;
  int rc = 0;
  while (!stop_requested) {
    line_status st = read_line(in, &buf, &cap, &len, max_line);
    if (st == LINE_EOF) break;
    if (st == LINE_ERROR) {
      if (errno == EINTR && stop_requested) break;
      fprintf(stderr, "patron serve: reading input: %s\n", strerror(errno));
      rc = 3;
      break;
    }
    bool ok;
    if (st == LINE_TOO_LONG || st == LINE_NOMEM) {
      sv_reply r = {0};
      if (st == LINE_NOMEM) sv_nomem(&r);
      else sv_fail(&r, SV_TOO_LARGE, 413, NULL, "request line is over %zu bytes", max_line);
      ok = respond(out, NULL, &r);
      sv_reply_free(&r);
    } else if (blank(buf, len)) {
      continue;
    } else {
      ok = one_request(p, out, buf, len);
    }
    if (!ok) {
      fprintf(stderr, "patron serve: writing output: %s\n", strerror(errno));
      rc = 3;
      break;
    }
  }
  free(buf);
  return rc;
}
