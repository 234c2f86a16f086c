/*
** json.c -- jansson, with its out-of-memory gaps closed.
**
** jansson 2.14 does not always report a failed allocation:
**   - json_dumps ignores a failure to write an object key and returns
**     broken JSON such as {"ok":true,":3} (akheron/jansson#655);
**   - its lexer drops a character of a string when growing the token
**     buffer fails, and the parse succeeds with the altered text
**     (akheron/jansson#362), or reports the failure as a syntax error.
** A receipt with a missing key or a sku with a missing letter is worse than
** a refused request, so every parse and dump in libpatron goes through
** here:
**   - dumps write through json_dump_callback into a pt_buf that records
**     its own failures, so a lost write is seen whatever jansson returns;
**   - parses watch errno: the C library's malloc sets ENOMEM when it fails
**     (POSIX), and nothing else a parse calls sets it. A parse during which
**     an allocation failed is thrown away and reported as out of memory.
**     (An embedder that gives jansson its own allocator with
**     json_set_alloc_funcs should have it set errno to ENOMEM on failure
**     too, as malloc does.)
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

json_t *pt_json_loadb(const char *s, size_t len, size_t flags, json_error_t *err,
                      bool *oom) {
  int saved = errno;
  errno = 0;
  json_t *j = json_loadb(s, len, flags, err);
  bool failed = errno == ENOMEM;
  errno = saved;
  if (oom) *oom = failed;
  if (failed) {
    json_decref(j);
    if (err) {
      memset(err, 0, sizeof *err);
      strcpy(err->text, "out of memory");
    }
    return NULL;
  }
  return j;
}

json_t *pt_json_loads(const char *s, size_t flags, json_error_t *err, bool *oom) {
  return pt_json_loadb(s, strlen(s), flags, err, oom);
}

static int to_buf(const char *s, size_t n, void *ud) {
  pt_buf *b = ud;
  pt_buf_add(b, s, n);
  return b->oom ? -1 : 0;
}

char *pt_json_dumps(const json_t *j, size_t flags) {
  if (!j) return NULL;
  pt_buf b = {0};
  int rc = json_dump_callback(j, to_buf, &b, flags);
  if (rc != 0 || b.oom || !b.s) {
    pt_buf_free(&b);
    return NULL;
  }
  return b.s;
}
