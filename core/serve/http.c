/*
** http.c -- `patron serve --http ADDR:PORT`: the JSON contract over HTTP
** with libmicrohttpd. It maps routes to the operations of dispatch.c
** (path segments and query strings become arguments), maps error codes to
** status classes (400 bad input, 404 unknown, 409 conflict, 422 business
** refusal, 503 busy, 500 internal; 401, 405, 413, 431 for the transport),
** and guards the process: bearer token (constant-time compare), body and
** header size limits, connection timeouts, a connection cap.
**
** Threads: MHD runs a pool of worker threads; each worker lazily opens its
** own engine handle (patron handles are one per thread) into a slot of the
** server's array, found through a pthread key, so libpatron keeps no
** global state. Requests are answered inside the worker's callback, so a
** commit is finished (one SQLite transaction) before its response is
** queued. SIGTERM/SIGINT: stop accepting (MHD_quiesce_daemon), answer the
** requests in flight with "Connection: close", then stop the workers,
** close the handles and return 0. A second signal stops at once.
*/
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "json.h"

#define MAX_HEADER_BYTES (16 * 1024) /* names + values; 431 beyond */
#define MAX_PATH_BYTES 1024          /* 414-like: refused as not_found */
#define MAX_SEGMENTS 8
#define MHD_MEMORY_LIMIT (64 * 1024) /* per connection: headers must fit */
#define CONNECTION_LIMIT 1024

/* ---- state -------------------------------------------------------------- */

typedef struct slot {
  patron *p; /* opened by the worker that owns the slot, closed at exit */
} slot;

typedef struct server {
  const sv_http_config *cfg;
  struct MHD_Daemon *d;
  pthread_key_t key;  /* -> this worker's slot */
  slot *slots;
  unsigned nslots;
  atomic_uint next_slot;
  atomic_int inflight; /* requests between first callback and completion */
  atomic_bool draining;
  size_t token_len;
} server;

/* One request (MHD's *con_cls), from its first callback to completion. */
typedef struct request {
  int64_t t0_us;
  char *body;
  size_t len, cap;
  size_t discarded;     /* bytes dropped past max_body */
  bool too_large;
  bool oom;             /* the body could not be kept: answered nomem */
  unsigned status;      /* sent, for the access log; 0: none */
  const struct route *route;
  char method[12];
  char path[160];       /* for the access log (truncated) */
} request;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- routes --------------------------------------------------------------- */

typedef struct route {
  const char *method;  /* GET routes also answer HEAD */
  const char *pattern; /* "{name}" segments are captured into args.name */
  const char *op;
  const char *query;   /* query parameters copied into args, space-separated */
  bool cart_body;      /* the body is the cart (quote, commit) */
} route;

static const route routes[] = {
    {"POST", "/v1/quote", "quote", NULL, true},
    {"POST", "/v1/commit", "commit", NULL, true},
    {"POST", "/v1/refund", "refund", NULL, false},
    {"GET", "/v1/customers/{customer}/balance", "balance", "program", false},
    {"GET", "/v1/customers/{customer}/ledger", "ledger", "program", false},
    {"POST", "/v1/customers/{customer}/adjust", "adjust", NULL, false},
    {"GET", "/v1/reports/{name}", "report", "program from to by touchpoint", false},
    {"GET", "/v1/events", "events.pull", "limit type", false},
    {"POST", "/v1/events/ack", "events.ack", NULL, false},
    {"POST", "/v1/tick", "tick", NULL, false},
    {"POST", "/v1/subscriptions", "sub.create", NULL, false},
    {"GET", "/v1/subscriptions/{sub}", "sub.show", NULL, false},
    {"POST", "/v1/subscriptions/{sub}/cancel", "sub.cancel", NULL, false},
    {"POST", "/v1/subscriptions/{sub}/change", "sub.change", NULL, false},
    {"POST", "/v1/subscriptions/{sub}/upgrade", "sub.upgrade", NULL, false},
    {"POST", "/v1/subscriptions/{sub}/convert", "sub.convert", NULL, false},
    {"POST", "/v1/subscriptions/{sub}/payment_method", "sub.payment_method", NULL, false},
    {"POST", "/v1/charges/{attempt}/result", "sub.charge_result", NULL, false},
    {"GET", "/v1/plans", "plans", NULL, false},
    {"GET", "/healthz", "ping", NULL, false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

typedef struct segs {
  size_t n;
  const char *s[MAX_SEGMENTS];
  size_t len[MAX_SEGMENTS];
} segs;

/* Splits "/a/b/c" into segments; false when there are too many or one is
** empty ("//", trailing "/"). */
static bool split(const char *path, segs *out) {
  out->n = 0;
  if (*path != '/') return false;
  const char *p = path + 1;
  for (;;) {
    size_t n = strcspn(p, "/");
    if (n == 0 || out->n == MAX_SEGMENTS) return false;
    out->s[out->n] = p;
    out->len[out->n++] = n;
    if (!p[n]) return true;
    p += n + 1;
  }
}

static bool route_matches(const route *r, const segs *url) {
  segs pat;
  split(r->pattern, &pat);
  if (pat.n != url->n) return false;
  for (size_t i = 0; i < pat.n; i++) {
    if (pat.s[i][0] == '{') continue;
    if (pat.len[i] != url->len[i] || memcmp(pat.s[i], url->s[i], pat.len[i]) != 0)
      return false;
  }
  return true;
}

/* The route for method and path; NULL with *allow set ("GET, HEAD") when
** the path exists under other methods, NULL with *allow "" when not. */
static const route *find_route(const char *method, const char *path, char *allow,
                               size_t size) {
  segs url;
  allow[0] = 0;
  if (strlen(path) > MAX_PATH_BYTES || !split(path, &url)) return NULL;
  bool head = strcmp(method, "HEAD") == 0;
  for (size_t i = 0; i < NROUTES; i++) {
    if (!route_matches(&routes[i], &url)) continue;
    if (strcmp(routes[i].method, method) == 0 ||
        (head && strcmp(routes[i].method, "GET") == 0))
      return &routes[i];
    const char *m = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method;
    if (!strstr(allow, m)) {
      size_t n = strlen(allow);
      snprintf(allow + n, size - n, "%s%s", n ? ", " : "", m);
    }
  }
  return NULL;
}

/* Sets args[key] = text, or *rep: invalid_input when text is not UTF-8
** (what), nomem when it is and jansson still could not take it. */
static bool put_text(json_t *args, const char *key, const char *text, sv_reply *rep,
                     const char *what) {
  if (!pt_utf8_valid(text)) {
    sv_fail(rep, patron_code_name(PATRON_INVALID_INPUT), 400, key, "%s%s is not valid UTF-8",
            key, what);
    return false;
  }
  if (json_object_set_new(args, key, json_string(text)) != 0) {
    sv_nomem(rep);
    return false;
  }
  return true;
}

/* Copies the captured path segments of r from path into args. */
static bool add_captures(const route *r, const char *path, json_t *args, sv_reply *rep) {
  segs pat, url;
  split(r->pattern, &pat);
  split(path, &url);
  for (size_t i = 0; i < pat.n; i++) {
    if (pat.s[i][0] != '{') continue;
    char key[32], seg[MAX_PATH_BYTES + 1]; /* find_route capped the path */
    snprintf(key, sizeof key, "%.*s", (int)pat.len[i] - 2, pat.s[i] + 1);
    snprintf(seg, sizeof seg, "%.*s", (int)url.len[i], url.s[i]);
    if (!put_text(args, key, seg, rep, " in the path")) return false;
  }
  return true;
}

/* Copies the route's query parameters into args; "limit" must be an
** integer (the others are strings the operation checks). */
static bool add_query(const route *r, struct MHD_Connection *c, json_t *args, sv_reply *rep) {
  if (!r->query) return true;
  const char *q = r->query;
  while (*q) {
    char key[32];
    size_t n = strcspn(q, " ");
    snprintf(key, sizeof key, "%.*s", (int)n, q);
    q += n + (q[n] == ' ');
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v) continue;
    if (strcmp(key, "limit") != 0) {
      if (!put_text(args, key, v, rep, "")) return false;
      continue;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x <= 0 || x > 10000) {
      sv_fail(rep, patron_code_name(PATRON_INVALID_INPUT), 400, key,
              "limit must be an integer between 1 and 10000, got '%.32s'", v);
      return false;
    }
    if (json_object_set_new(args, key, json_integer(x)) != 0) {
      sv_nomem(rep);
      return false;
    }
  }
  return true;
}

/* ---- checks before the body ------------------------------------------------ */

/* Constant-time comparison of the presented token with the configured
** one: the time depends only on the configured token's length. */
static bool token_equal(const char *want, size_t want_len, const char *got) {
  size_t got_len = strlen(got);
  volatile unsigned char diff = (unsigned char)(got_len != want_len);
  for (size_t i = 0; i < want_len; i++) {
    unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
    diff |= (unsigned char)(g ^ (unsigned char)want[i]);
  }
  return diff == 0;
}

static bool authorized(const server *s, struct MHD_Connection *c) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
  h += 7;
  while (*h == ' ') h++;
  return token_equal(s->cfg->token, s->token_len, h);
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind,
                                        const char *key, const char *value) {
  (void)kind;
  *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
  return MHD_YES;
}

/* The checks that can answer before the body is read: header size, token,
** route, declared body size. Returns true with *r set to answer now. */
static bool early_answer(server *s, struct MHD_Connection *c, request *rq, const char *url,
                         const char *method, sv_reply *r, char *allow, size_t asize) {
  size_t hbytes = 0;
  MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_bytes, &hbytes);
  if (hbytes > MAX_HEADER_BYTES) {
    sv_fail(r, SV_HEADERS_TOO_LARGE, 431, NULL,
            "request headers are %zu bytes; at most %d are allowed", hbytes,
            MAX_HEADER_BYTES);
    return true;
  }
  /* /healthz stays open so that probes need no secret; it reveals nothing */
  if (s->cfg->token && strcmp(url, "/healthz") != 0 && !authorized(s, c)) {
    sv_fail(r, SV_UNAUTHORIZED, 401, NULL,
            "a bearer token is required: Authorization: Bearer <token>");
    return true;
  }
  rq->route = find_route(method, url, allow, asize);
  if (!rq->route && allow[0]) {
    sv_fail(r, SV_METHOD_NOT_ALLOWED, 405, NULL, "%s is not allowed on %.200s (allowed: %s)",
            method, url, allow);
    return true;
  }
  if (!rq->route) {
    sv_fail(r, patron_code_name(PATRON_NOT_FOUND), 404, NULL, "no route %s %.200s", method,
            url);
    return true;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno || *end || n > s->cfg->max_body) {
      sv_fail(r, SV_TOO_LARGE, 413, NULL, "request body over %zu bytes",
              s->cfg->max_body);
      return true;
    }
  }
  return false;
}

/* ---- answers ----------------------------------------------------------------- */

static enum MHD_Result answer(server *s, struct MHD_Connection *c, request *rq,
                              sv_reply *r, const char *allow) {
  char *body = r->body;
  unsigned status = r->status ? r->status : 500;
  r->body = NULL;
  if (!body) {
    json_t *e = sv_error_object(r);
    json_t *o = e ? json_pack("{s:o}", "error", e) : NULL;
    body = o ? pt_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!body) { /* the error could not be told: say nomem, with its status */
      body = strdup("{\"error\":{\"code\":\"nomem\",\"message\":\"out of memory\"}}");
      status = sv_status_for(PATRON_NOMEM);
    }
    if (!body) return MHD_NO;
  }
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (status == 405 && allow && *allow)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  if (atomic_load(&s->draining))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  rq->status = status;
  return ret;
}

/* This worker's handle, opened on its first request. */
static patron *worker_handle(server *s, sv_reply *r) {
  slot *sl = pthread_getspecific(s->key);
  if (!sl) {
    unsigned i = atomic_fetch_add(&s->next_slot, 1);
    if (i >= s->nslots) {
      sv_fail(r, patron_code_name(PATRON_BUSY), 503, NULL, "no engine handle for this thread");
      return NULL;
    }
    sl = &s->slots[i];
    if (pthread_setspecific(s->key, sl) != 0) {
      sv_fail(r, patron_code_name(PATRON_INTERNAL), 500, NULL, "pthread_setspecific failed");
      return NULL;
    }
  }
  if (!sl->p) {
    patron *p = NULL;
    if (sv_open(&p, s->cfg->db, s->cfg->now, s->cfg->busy_ms) != PATRON_OK) {
      if (p) sv_fail_lib(r, p);
      else sv_fail(r, patron_code_name(PATRON_NOMEM), 500, NULL, "out of memory");
      fprintf(stderr, "patron serve: cannot open %s: %s\n", s->cfg->db,
              r->message ? r->message : "out of memory");
      patron_close(p);
      return NULL;
    }
    sl->p = p;
  }
  return sl->p;
}

/* The whole request is in: route it to its operation. */
static void run_request(server *s, struct MHD_Connection *c, request *rq, const char *url,
                        sv_reply *r) {
  const route *rt = rq->route;
  json_t *args = NULL;
  const char *cart = NULL;
  if (rt->cart_body) {
    args = json_object();
    cart = rq->body ? rq->body : "";
  } else if (strcmp(rt->method, "POST") == 0 && rq->len > 0) {
    json_error_t je;
    bool oom = false;
    args = pt_json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je, &oom);
    if (!args && oom) return sv_nomem(r); /* the body may well be fine: never 400 */
    if (!args) {
      sv_fail(r, patron_code_name(PATRON_INVALID_JSON), 400, NULL,
              "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
      return;
    }
    if (!json_is_object(args)) {
      json_decref(args);
      sv_fail(r, patron_code_name(PATRON_INVALID_INPUT), 400, NULL,
              "the request body must be a JSON object");
      return;
    }
  } else {
    args = json_object();
  }
  if (!args) return sv_nomem(r);
  if (add_captures(rt, url, args, r) && add_query(rt, c, args, r)) {
    if (strcmp(rt->op, "ping") == 0) {
      sv_dispatch(NULL, rt->op, args, NULL, r); /* no handle needed */
    } else {
      patron *p = worker_handle(s, r);
      if (p) sv_dispatch(p, rt->op, args, cart, r);
    }
  }
  json_decref(args);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  server *s = cls;
  request *rq = *con_cls;
  char allow[64];
  sv_reply r = {0};
  if (!rq) { /* first call: the headers are in */
    if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
    rq->t0_us = now_us();
    snprintf(rq->method, sizeof rq->method, "%s", method);
    snprintf(rq->path, sizeof rq->path, "%s", url);
    for (char *q = rq->path; *q; q++) /* one log line per request, always */
      if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    *con_cls = rq;
    atomic_fetch_add(&s->inflight, 1);
    if (early_answer(s, c, rq, url, method, &r, allow, sizeof allow)) {
      enum MHD_Result ret = answer(s, c, rq, &r, allow);
      sv_reply_free(&r);
      return ret;
    }
    return MHD_YES; /* MHD sends 100 Continue if asked, then the body */
  }
  if (*upload_data_size) { /* a piece of the body */
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (rq->status || rq->oom) return MHD_YES; /* answered, or to be: drop the body */
    if (rq->too_large || rq->len + n > s->cfg->max_body) {
      /* chunked (no Content-Length): read on, keep nothing, answer 413 at
      ** the end; a client that keeps sending is cut off */
      rq->too_large = true;
      free(rq->body);
      rq->body = NULL;
      rq->len = rq->cap = 0;
      rq->discarded += n;
      return rq->discarded > 4 * s->cfg->max_body + (1 << 20) ? MHD_NO : MHD_YES;
    }
    if (rq->len + n + 1 > rq->cap) {
      size_t nc = rq->cap ? rq->cap : 4096;
      while (nc < rq->len + n + 1) nc *= 2;
      char *nb = realloc(rq->body, nc);
      if (!nb) { /* read on, keep nothing, answer nomem at the end */
        rq->oom = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return MHD_YES;
      }
      rq->body = nb;
      rq->cap = nc;
    }
    memcpy(rq->body + rq->len, upload_data, n);
    rq->len += n;
    rq->body[rq->len] = 0;
    return MHD_YES;
  }
  if (rq->status) return MHD_YES; /* answered early */
  if (rq->too_large)
    sv_fail(&r, SV_TOO_LARGE, 413, NULL, "request body over %zu bytes", s->cfg->max_body);
  else if (rq->oom)
    sv_nomem(&r);
  else
    run_request(s, c, rq, url, &r);
  enum MHD_Result ret = answer(s, c, rq, &r, NULL);
  sv_reply_free(&r);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  server *s = cls;
  request *rq = *con_cls;
  (void)c;
  if (!rq) return;
  if (s->cfg->access_log) {
    long long us = (long long)(now_us() - rq->t0_us);
    if (rq->status)
      fprintf(stderr, "%s %s %u %lldus%s\n", rq->method, rq->path, rq->status, us,
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (not delivered)");
    else
      fprintf(stderr, "%s %s - %lldus (dropped: %s)\n", rq->method, rq->path, us,
              toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" : "closed");
  }
  free(rq->body);
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = 0;
  fprintf(stderr, "patron serve: libmicrohttpd: %s\n", msg);
}

/* ---- address -------------------------------------------------------------------- */

/* Parses "host:port", "[v6]:port", ":port" or "port" (the last two on
** 127.0.0.1) into *ss. Returns false with a message on stderr. */
static bool parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *sslen) {
  char host[256], port[16];
  const char *colon;
  if (*text && strspn(text, "0123456789") == strlen(text)) { /* PORT alone */
    snprintf(host, sizeof host, "127.0.0.1");
    snprintf(port, sizeof port, "%.15s", text);
    goto resolve;
  }
  if (text[0] == ':') { /* :PORT */
    snprintf(host, sizeof host, "127.0.0.1");
    colon = text;
  } else if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || close[1] != ':') goto bad;
    snprintf(host, sizeof host, "%.*s", (int)(close - text - 1), text + 1);
    colon = close + 1;
  } else {
    colon = strrchr(text, ':');
    if (!colon || colon == text || memchr(text, ':', (size_t)(colon - text))) goto bad;
    snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
  }
  if ((size_t)(colon - text) >= sizeof host) goto bad;
  snprintf(port, sizeof port, "%.15s", colon + 1);
resolve:
  if (!port[0] || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
      atol(port) > 65535)
    goto bad;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || !res) {
    fprintf(stderr, "patron serve: cannot resolve '%s': %s\n", host, gai_strerror(rc));
    return false;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sslen = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
bad:
  fprintf(stderr, "patron serve: --http expects [HOST:]PORT (127.0.0.1:8080, [::1]:8080, "
                  "8080), got '%s'\n", text);
  return false;
}

static bool is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    static const unsigned char lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(&a->sin6_addr, lo, 16) == 0;
  }
  return false;
}

/* ---- run ------------------------------------------------------------------------- */

/* Waits up to drain_s for the requests in flight; a second signal cuts
** it short. Returns the number still in flight. */
static int drain(server *s, const sigset_t *sigs) {
  int64_t deadline = now_us() + (int64_t)s->cfg->drain_s * 1000000;
  int quiet = 0;
  while (now_us() < deadline) {
    if (atomic_load(&s->inflight) == 0) {
      if (++quiet >= 3) return 0; /* idle for 30 ms: headers of a late request */
    } else {
      quiet = 0;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    if (sigtimedwait(sigs, NULL, &ts) > 0) {
      fputs("patron serve: second signal: stopping now\n", stderr);
      break;
    }
  }
  return atomic_load(&s->inflight);
}

int serve_http(const sv_http_config *cfg) {
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  int rc = 3;
  server s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  if (!parse_listen(cfg->listen, &ss, &sslen)) return 2;
  (void)sslen;
  bool loopback = is_loopback(&ss);
  if (!loopback)
    fprintf(stderr, "patron serve: warning: %s is not a loopback address: any host that can "
                    "reach it can call the API%s\n", cfg->listen,
            cfg->token ? "" : ", and no token is set (PATRON_TOKEN or --token-file)");
  s.token_len = cfg->token ? strlen(cfg->token) : 0;
  unsigned threads = cfg->threads ? cfg->threads : 1;
  s.nslots = threads * 2 + 2; /* MHD may use one more thread than the pool */
  if (!(s.slots = calloc(s.nslots, sizeof *s.slots))) {
    fputs("patron serve: out of memory\n", stderr);
    return 3;
  }
  if (pthread_key_create(&s.key, NULL) != 0) {
    free(s.slots);
    fputs("patron serve: pthread_key_create failed\n", stderr);
    return 3;
  }

  /* The workers inherit this mask: only this thread takes the signals. */
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  signal(SIGPIPE, SIG_IGN);

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  s.d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, &s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &s,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 1 ? threads : 0),
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_MEMORY_LIMIT,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_END);
  if (!s.d) {
    fprintf(stderr, "patron serve: cannot listen on %s: %s\n", cfg->listen,
            errno ? strerror(errno) : "libmicrohttpd refused to start");
    goto done;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s.d, MHD_DAEMON_INFO_BIND_PORT);
  char shown[300];
  if (ss.ss_family == AF_INET6) {
    char a[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
    snprintf(shown, sizeof shown, "[%s]", a);
  } else {
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
    snprintf(shown, sizeof shown, "%s", a);
  }
  fprintf(cfg->announce ? cfg->announce : stderr,
          "patron serve: listening on http://%s:%u (%u thread%s, timeout %us%s)\n", shown,
          info ? (unsigned)info->port : 0u, threads, threads == 1 ? "" : "s", cfg->timeout_s,
          cfg->token ? ", token required" : "");
  fflush(cfg->announce ? cfg->announce : stderr);

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {}
  atomic_store(&s.draining, true);
  MHD_socket lfd = MHD_quiesce_daemon(s.d); /* no new connections */
  if (lfd != MHD_INVALID_SOCKET) close(lfd);
  int busy = atomic_load(&s.inflight);
  fprintf(stderr, "patron serve: %s: draining %d request%s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
          busy, busy == 1 ? "" : "s");
  int left = drain(&s, &sigs);
  MHD_stop_daemon(s.d); /* joins the workers: callbacks have returned */
  s.d = NULL;
  if (left) fprintf(stderr, "patron serve: %d request%s cut off\n", left, left == 1 ? "" : "s");
  rc = 0;
done:
  for (unsigned i = 0; i < s.nslots; i++) patron_close(s.slots[i].p);
  free(s.slots);
  pthread_key_delete(s.key);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0) fputs("patron serve: stopped\n", stderr);
  return rc;
}
