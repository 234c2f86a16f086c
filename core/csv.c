/*
** csv.c -- the streaming RFC 4180 reader declared in csv.h. Input is read
** in 64 KiB blocks from the caller's FILE*; a record's fields are copied
** into one growable buffer (bounded by the caps: 64 fields of 64 KiB) and
** handed out as pointers into it. Line numbers count physical lines (LF,
** CRLF or a bare CR each end one), including those inside quoted fields,
** so a message points at the line an editor shows.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define IN_SIZE (64 * 1024)
#define C_EOF (-1)

struct pt_csv {
  FILE *f;
  size_t in_pos, in_len;
  int64_t offset;          /* bytes consumed */
  int64_t line;            /* current physical line, 1-based */
  bool started;            /* BOM check done */
  bool at_end;             /* the FILE* has no more bytes (or failed) */
  bool done;               /* PT_CSV_END returned */
  pt_csv_errkind err;
  int64_t err_line;
  size_t why_off;          /* msg + why_off is the text after "line N: " */
  char msg[192];
  char *data;              /* the current record's fields, NUL-separated */
  size_t data_len, data_cap;
  size_t start[PT_CSV_MAX_FIELDS];
  size_t lens[PT_CSV_MAX_FIELDS];
  char *fields[PT_CSV_MAX_FIELDS];
  unsigned char in[IN_SIZE];
};

pt_csv *pt_csv_open(FILE *f) {
  pt_csv *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->f = f;
  r->line = 1;
  return r;
}

void pt_csv_close(pt_csv *r) {
  if (!r) return;
  free(r->data);
  free(r);
}

const char *pt_csv_errmsg(const pt_csv *r) { return r->err ? r->msg : ""; }
const char *pt_csv_errwhy(const pt_csv *r) { return r->err ? r->msg + r->why_off : ""; }
int64_t pt_csv_errline(const pt_csv *r) { return r->err ? r->err_line : 0; }
pt_csv_errkind pt_csv_errkind_of(const pt_csv *r) { return r->err; }
int64_t pt_csv_offset(const pt_csv *r) { return r->offset; }

/* Records the first error only (an I/O error is not overwritten by the
** "unterminated" it causes). Returns PT_CSV_ERROR. */
static int fail(pt_csv *r, pt_csv_errkind kind, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(pt_csv *r, pt_csv_errkind kind, int64_t line, const char *fmt, ...) {
  if (r->err) return PT_CSV_ERROR;
  r->err = kind;
  r->err_line = line;
  int k = snprintf(r->msg, sizeof r->msg, "line %lld: ", (long long)line);
  r->why_off = (size_t)k;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg + k, sizeof r->msg - (size_t)k, fmt, ap);
  va_end(ap);
  return PT_CSV_ERROR;
}

/* Refills the input block; false at the end of input or on a read error
** (then r->err is set). */
static bool fill(pt_csv *r) {
  if (r->at_end) return false;
  r->in_pos = 0;
  r->in_len = fread(r->in, 1, IN_SIZE, r->f);
  if (r->in_len > 0) return true;
  r->at_end = true;
  if (ferror(r->f))
    fail(r, PT_CSV_EIO, r->line, "read error: %s", strerror(errno ? errno : EIO));
  return false;
}

static inline int peek(pt_csv *r) {
  if (r->in_pos == r->in_len && !fill(r)) return C_EOF;
  return r->in[r->in_pos];
}

static inline void skip(pt_csv *r) {
  r->in_pos++;
  r->offset++;
}

/* Consumes a line end whose first byte (CR or LF) was peeked. */
static void skip_eol(pt_csv *r, int c) {
  skip(r);
  if (c == '\r' && peek(r) == '\n') skip(r);
  r->line++;
}

static bool grow(pt_csv *r, size_t need) {
  if (need <= r->data_cap) return true;
  size_t cap = r->data_cap ? r->data_cap : 4096;
  while (cap < need) cap *= 2;
  char *d = realloc(r->data, cap);
  if (!d) return false;
  r->data = d;
  r->data_cap = cap;
  return true;
}

/* Appends byte c to field k; PT_CSV_ROW or PT_CSV_ERROR. */
static inline int put(pt_csv *r, size_t k, int64_t row_line, int c) {
  if (r->data_len - r->start[k] >= PT_CSV_MAX_FIELD)
    return fail(r, PT_CSV_ELIMIT, row_line, "field %zu is longer than %d bytes",
                k + 1, PT_CSV_MAX_FIELD);
  if (r->data_len + 2 > r->data_cap && !grow(r, r->data_len + 2))
    return fail(r, PT_CSV_ENOMEM, row_line, "out of memory");
  r->data[r->data_len++] = (char)c;
  return PT_CSV_ROW;
}

static void skip_bom(pt_csv *r) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  if (peek(r) == C_EOF) return;
  /* fread fills the block fully unless the input is shorter */
  if (r->in_len - r->in_pos >= 3 && memcmp(r->in + r->in_pos, bom, 3) == 0) {
    r->in_pos += 3;
    r->offset += 3;
  }
}

/* Reads a quoted field (the opening quote already consumed) into field k. */
static int quoted(pt_csv *r, size_t k, int64_t row_line) {
  int64_t open_line = r->line;
  for (;;) {
    int c = peek(r);
    if (c == C_EOF)
      return fail(r, PT_CSV_ESYNTAX, open_line, "unterminated quoted field");
    if (c == 0) return fail(r, PT_CSV_ESYNTAX, r->line, "NUL byte in field %zu", k + 1);
    skip(r);
    if (c == '"') {
      if (peek(r) != '"') return PT_CSV_ROW; /* the closing quote */
      skip(r);
    }
    if (put(r, k, row_line, c) < 0) return PT_CSV_ERROR;
    if (c == '\r' && peek(r) == '\n') {
      skip(r);
      if (put(r, k, row_line, '\n') < 0) return PT_CSV_ERROR;
      c = '\n';
    }
    if (c == '\r' || c == '\n') r->line++;
  }
}

static int unquoted(pt_csv *r, size_t k, int64_t row_line) {
  for (;;) {
    int c = peek(r);
    if (c == ',' || c == '\n' || c == '\r' || c == C_EOF) return PT_CSV_ROW;
    if (c == '"')
      return fail(r, PT_CSV_ESYNTAX, r->line, "stray quote in unquoted field %zu "
                  "(quote the whole field and double the quotes inside)", k + 1);
    if (c == 0) return fail(r, PT_CSV_ESYNTAX, r->line, "NUL byte in field %zu", k + 1);
    skip(r);
    if (put(r, k, row_line, c) < 0) return PT_CSV_ERROR;
  }
}

int pt_csv_next(pt_csv *r, pt_csv_row *row) {
  if (r->err) return PT_CSV_ERROR;
  if (r->done) return PT_CSV_END;
  if (!r->started) {
    r->started = true;
    skip_bom(r);
  }
  int c;
  while ((c = peek(r)) == '\n' || c == '\r') skip_eol(r, c); /* blank lines */
  if (c == C_EOF) {
    if (r->err) return PT_CSV_ERROR;
    r->done = true;
    return PT_CSV_END;
  }
  int64_t row_line = r->line;
  size_t n = 0;
  r->data_len = 0;
  for (;;) {
    if (n == PT_CSV_MAX_FIELDS)
      return fail(r, PT_CSV_ELIMIT, row_line, "more than %d fields",
                  PT_CSV_MAX_FIELDS);
    r->start[n] = r->data_len;
    int rc;
    if (peek(r) == '"') {
      skip(r);
      rc = quoted(r, n, row_line);
      if (rc == PT_CSV_ROW) {
        c = peek(r);
        if (c != ',' && c != '\n' && c != '\r' && c != C_EOF)
          rc = fail(r, PT_CSV_ESYNTAX, r->line,
                    "unexpected character after the closing quote of field %zu", n + 1);
      }
    } else {
      rc = unquoted(r, n, row_line);
    }
    if (rc < 0) return PT_CSV_ERROR;
    r->lens[n] = r->data_len - r->start[n];
    if (!grow(r, r->data_len + 1))
      return fail(r, PT_CSV_ENOMEM, row_line, "out of memory");
    r->data[r->data_len++] = 0;
    n++;
    c = peek(r);
    if (c == ',') {
      skip(r);
      continue;
    }
    if (c == '\n' || c == '\r') skip_eol(r, c);
    break;
  }
  if (r->err) return PT_CSV_ERROR; /* a read error cut the record short */
  for (size_t i = 0; i < n; i++) r->fields[i] = r->data + r->start[i];
  row->n = n;
  row->fields = r->fields;
  row->lens = r->lens;
  row->line = row_line;
  return PT_CSV_ROW;
}
