/*
** httpload.c -- a small closed-loop HTTP/1.1 load generator for `patron
** serve --http`: C connections (default 8), each a thread with one
** keep-alive socket and one request outstanding, POST the same JSON body to
** one path for a fixed duration or a fixed count, record every request's
** latency (send of the first byte to receipt of the last), and print
** requests/s and latency percentiles. Loopback only by design: the target
** must be a numeric 127.x address. Bounded: at most 600 s, 10 million
** requests, 64 connections; a request waits at most 5 s.
**
**   httpload -a 127.0.0.1:8080 -p /v1/quote -f cart.json [-c 8] [-d 10 | -n N]
**            [-w WARMUP_REQUESTS] [-t TOKEN]
**
** Prints a human summary and one machine line:
**   RESULT requests=N errors=N seconds=S rps=R p50_us=.. p90_us=.. p99_us=..
**   p999_us=.. max_us=..
** Exit 0, or 1 when a request failed (non-200, closed, timed out).
*/
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_SECONDS 600
#define MAX_REQUESTS 10000000L
#define RESP_BUF (1 << 20)

typedef struct worker {
  int id;
  struct sockaddr_in addr;
  const char *req;          /* the whole request, shared */
  size_t req_len;
  long quota;               /* requests to send, or -1 for until deadline */
  long warmup;
  int64_t deadline_ns;      /* 0: none */
  int64_t t_first, t_last;  /* after the warm-up, and at the end */
  int64_t *lat;             /* latencies, microseconds */
  long nlat, cap;
  long errors;
  char first_error[160];
  char *buf;
} worker;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_to(const struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void note_error(worker *w, const char *what) {
  if (w->errors++ == 0) snprintf(w->first_error, sizeof w->first_error, "%s", what);
}

/* Sends the request and reads one response. Returns 1 for a 200, 0 for
** another status (connection still usable unless *closed), -1 on I/O. */
static int exchange(worker *w, int fd, int *closed) {
  size_t off = 0;
  while (off < w->req_len) {
    ssize_t n = send(fd, w->req + off, w->req_len - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return -1;
    }
    off += (size_t)n;
  }
  size_t have = 0, head_end = 0, body_len = 0;
  int status = 0;
  *closed = 0;
  for (;;) {
    if (have == RESP_BUF - 1) return -1;
    ssize_t n = recv(fd, w->buf + have, RESP_BUF - 1 - have, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return -1;
    }
    have += (size_t)n;
    w->buf[have] = 0;
    if (!head_end) {
      char *e = strstr(w->buf, "\r\n\r\n");
      if (!e) continue;
      head_end = (size_t)(e - w->buf) + 4;
      if (sscanf(w->buf, "HTTP/1.%*d %d", &status) != 1) return -1;
      /* header names are case-insensitive; MHD writes Content-Length */
      char *cl = strstr(w->buf, "\r\nContent-Length:");
      if (!cl) cl = strstr(w->buf, "\r\ncontent-length:");
      if (!cl || cl > e) return -1;
      body_len = strtoul(cl + 17, NULL, 10);
      char *conn = strstr(w->buf, "\r\nConnection: close");
      if (conn && conn < e) *closed = 1;
    }
    if (head_end && have >= head_end + body_len) break;
  }
  return status == 200 ? 1 : 0;
}

static void record(worker *w, int64_t us) {
  if (w->nlat == w->cap) {
    long nc = w->cap ? w->cap * 2 : 65536;
    int64_t *nl = realloc(w->lat, (size_t)nc * sizeof *nl);
    if (!nl) return; /* keep counting requests; this sample is lost */
    w->lat = nl;
    w->cap = nc;
  }
  w->lat[w->nlat++] = us;
}

static void *run(void *arg) {
  worker *w = arg;
  int fd = -1;
  long done = 0;
  w->t_first = now_ns();
  for (long i = 0;; i++) {
    if (i == w->warmup) w->t_first = now_ns();
    if (w->quota >= 0 && done >= w->quota + w->warmup) break;
    if (w->deadline_ns && i >= w->warmup && now_ns() >= w->deadline_ns) break;
    if (done >= MAX_REQUESTS) break;
    if (fd < 0 && (fd = connect_to(&w->addr)) < 0) {
      note_error(w, "connect failed");
      break;
    }
    int closed = 0;
    int64_t t0 = now_ns();
    int rc = exchange(w, fd, &closed);
    int64_t us = (now_ns() - t0) / 1000;
    done++;
    if (rc < 0) {
      note_error(w, "connection closed or timed out");
      close(fd);
      fd = -1;
      continue;
    }
    if (rc == 0) {
      char line[120];
      snprintf(line, sizeof line, "%.100s", w->buf);
      line[strcspn(line, "\r\n")] = 0;
      note_error(w, line);
    }
    if (i >= w->warmup) record(w, us);
    if (closed) {
      close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) close(fd);
  w->t_last = now_ns();
  return NULL;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int64_t pct(const int64_t *v, long n, double p) {
  if (n == 0) return 0;
  long k = (long)(p * (double)(n - 1) + 0.5);
  return v[k];
}

static void usage(void) {
  fputs("usage: httpload -a 127.0.0.1:PORT -p PATH -f BODY.json [-c CONNS] "
        "[-d SECONDS | -n REQUESTS] [-w WARMUP] [-t TOKEN]\n", stderr);
  exit(2);
}

int main(int argc, char **argv) {
  const char *addr = NULL, *path = "/v1/quote", *file = NULL, *token = NULL;
  int conns = 8;
  long seconds = 10, count = -1, warmup = 200;
  int opt;
  while ((opt = getopt(argc, argv, "a:p:f:c:d:n:w:t:")) != -1) {
    switch (opt) {
    case 'a': addr = optarg; break;
    case 'p': path = optarg; break;
    case 'f': file = optarg; break;
    case 'c': conns = atoi(optarg); break;
    case 'd': seconds = atol(optarg); break;
    case 'n': count = atol(optarg); break;
    case 'w': warmup = atol(optarg); break;
    case 't': token = optarg; break;
    default: usage();
    }
  }
  if (!addr || !file || conns < 1 || conns > MAX_CONNS || seconds < 1 || seconds > MAX_SECONDS ||
      count > MAX_REQUESTS || warmup < 0 || warmup > 100000)
    usage();
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  char host[64];
  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof host) usage();
  snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
  sa.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "httpload: %s is not a numeric loopback address (127.x.x.x)\n", host);
    return 2;
  }

  FILE *f = fopen(file, "rb");
  if (!f) {
    perror(file);
    return 2;
  }
  static char body[1 << 20];
  size_t blen = fread(body, 1, sizeof body - 1, f);
  fclose(f);
  while (blen && (body[blen - 1] == '\n' || body[blen - 1] == '\r')) blen--;
  size_t cap = blen + 1024;
  char *req = malloc(cap);
  if (!req) return 2;
  int hl = snprintf(req, cap,
                    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n%s%s%s\r\n",
                    path, addr, blen, token ? "Authorization: Bearer " : "", token ? token : "",
                    token ? "\r\n" : "");
  if (hl < 0 || (size_t)hl + blen >= cap) return 2;
  memcpy(req + hl, body, blen);
  size_t req_len = (size_t)hl + blen;

  worker *ws = calloc((size_t)conns, sizeof *ws);
  pthread_t *th = calloc((size_t)conns, sizeof *th);
  if (!ws || !th) return 2;
  int64_t start = now_ns();
  int64_t deadline = count < 0 ? start + (int64_t)seconds * 1000000000 : 0;
  for (int i = 0; i < conns; i++) {
    worker *w = &ws[i];
    w->id = i;
    w->addr = sa;
    w->req = req;
    w->req_len = req_len;
    w->quota = count < 0 ? -1 : count / conns + (i < count % conns);
    w->warmup = warmup / conns;
    w->deadline_ns = deadline;
    if (!(w->buf = malloc(RESP_BUF))) return 2;
    if (pthread_create(&th[i], NULL, run, w) != 0) {
      fputs("httpload: pthread_create failed\n", stderr);
      return 2;
    }
  }
  for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
  /* the measured window: from the first worker done warming up to the last
  ** worker done */
  int64_t t0 = INT64_MAX, t1 = start;
  for (int i = 0; i < conns; i++) {
    if (ws[i].t_first < t0) t0 = ws[i].t_first;
    if (ws[i].t_last > t1) t1 = ws[i].t_last;
  }
  int64_t elapsed = t1 > t0 ? t1 - t0 : 0;

  long n = 0, errors = 0;
  const char *first = NULL;
  for (int i = 0; i < conns; i++) {
    n += ws[i].nlat;
    errors += ws[i].errors;
    if (!first && ws[i].errors) first = ws[i].first_error;
  }
  int64_t *all = malloc((size_t)(n ? n : 1) * sizeof *all);
  if (!all) return 2;
  long k = 0;
  for (int i = 0; i < conns; i++) {
    memcpy(all + k, ws[i].lat, (size_t)ws[i].nlat * sizeof *all);
    k += ws[i].nlat;
  }
  qsort(all, (size_t)n, sizeof *all, cmp64);
  double secs = (double)elapsed / 1e9;
  double rps = secs > 0 ? (double)n / secs : 0;
  printf("httpload: %d connections, %.1f s, POST %s (%zu-byte body), %ld warm-up requests\n",
         conns, secs, path, blen, warmup);
  printf("  requests %ld (%.0f/s), errors %ld%s%s\n", n, rps, errors, first ? ": " : "",
         first ? first : "");
  printf("  latency us: p50 %lld  p90 %lld  p99 %lld  p99.9 %lld  max %lld\n",
         (long long)pct(all, n, 0.50), (long long)pct(all, n, 0.90),
         (long long)pct(all, n, 0.99), (long long)pct(all, n, 0.999),
         (long long)(n ? all[n - 1] : 0));
  printf("RESULT requests=%ld errors=%ld seconds=%.2f rps=%.0f p50_us=%lld p90_us=%lld "
         "p99_us=%lld p999_us=%lld max_us=%lld\n",
         n, errors, secs, rps, (long long)pct(all, n, 0.50), (long long)pct(all, n, 0.90),
         (long long)pct(all, n, 0.99), (long long)pct(all, n, 0.999),
         (long long)(n ? all[n - 1] : 0));
  for (int i = 0; i < conns; i++) {
    free(ws[i].lat);
    free(ws[i].buf);
  }
  free(all);
  free(ws);
  free(th);
  free(req);
  return errors ? 1 : 0;
}
