/*
** error.c -- the handle's error state and the code table. Every public
** function leaves a code, a message and (for bad input) the path of the
** offending field on the handle; the names and default texts come from
** the single PATRON_ERRORS table in patron.h.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const code_names[] = {
#define X(name, num, str, text) [num] = str,
    PATRON_ERRORS(X)
#undef X
};

const char *patron_code_name(int code) {
  if (code < 0 || code >= PATRON__CODE_COUNT || !code_names[code])
    return "unknown";
  return code_names[code];
}

static int verr(patron *p, int code, const char *path, const char *fmt,
                va_list ap) {
  if (!p) return code;
  p->code = code;
  vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
  snprintf(p->errpath, sizeof p->errpath, "%s", path ? path : "");
  /* messages quote input: keep them valid UTF-8 for the JSON error */
  pt_utf8_scrub(p->errmsg);
  pt_utf8_scrub(p->errpath);
  return code;
}

int pt_err(patron *p, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(p, code, NULL, fmt, ap);
  va_end(ap);
  return code;
}

int pt_err_path(patron *p, int code, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(p, code, path, fmt, ap);
  va_end(ap);
  return code;
}

int pt_ok(patron *p) {
  if (p) {
    p->code = PATRON_OK;
    p->errmsg[0] = 0;
    p->errpath[0] = 0;
  }
  return PATRON_OK;
}

int pt_err_sqlite(patron *p, int rc, const char *what) {
  int code;
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED: code = PATRON_BUSY; break;
  case SQLITE_FULL: code = PATRON_STORAGE_FULL; break;
  case SQLITE_NOMEM: code = PATRON_NOMEM; break;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY: code = PATRON_IO; break;
  case SQLITE_CONSTRAINT: code = PATRON_INTERNAL; break; /* a bug, never input */
  default: code = PATRON_INTERNAL; break;
  }
  return pt_err(p, code, "%s: %s", what,
                p && p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
}

int patron_errcode(const patron *p) { return p ? p->code : PATRON_NOMEM; }

const char *patron_errmsg(const patron *p) {
  if (!p) return "out of memory";
  return p->errmsg[0] ? p->errmsg : "no error";
}

const char *patron_errpath(const patron *p) { return p ? p->errpath : ""; }
