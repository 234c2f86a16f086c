/*
** csv.h -- a streaming RFC 4180 reader over a FILE*, used by the catalog
** and customers importers (import.c). It knows nothing of headers or
** column meanings: it hands back one record at a time as an array of
** NUL-terminated fields, with the physical line where the record starts.
**
** Accepted: quoted fields with doubled quotes ("a ""b"""), commas and line
** breaks inside quotes, CRLF, LF or bare CR line ends, a UTF-8 byte order
** mark at the very start (skipped), a last record with or without a line
** end. Empty lines between records are skipped (so a record made of one
** empty unquoted field never appears; write "" for that).
** Refused, with "line N: why": an unterminated quoted field, a quote inside
** an unquoted field, text after a closing quote, a NUL byte, a field longer
** than PT_CSV_MAX_FIELD bytes, more than PT_CSV_MAX_FIELDS fields. A
** field's line breaks inside quotes are kept as written (CRLF stays CRLF).
** No global state; a reader is used by one thread at a time.
*/
#ifndef PT_CSV_H
#define PT_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PT_CSV_MAX_FIELD (64 * 1024) /* bytes in one field */
#define PT_CSV_MAX_FIELDS 64         /* fields in one record */

typedef struct pt_csv pt_csv;

/* One record. Everything is borrowed from the reader: valid until the next
** pt_csv_next or pt_csv_close on it. */
typedef struct pt_csv_row {
  size_t n;             /* number of fields, 1..PT_CSV_MAX_FIELDS */
  char *const *fields;  /* n NUL-terminated fields (no NUL inside) */
  const size_t *lens;   /* byte length of each field */
  int64_t line;         /* physical line (1-based) where the record starts */
} pt_csv_row;

/* pt_csv_next results */
#define PT_CSV_ROW 1
#define PT_CSV_END 0
#define PT_CSV_ERROR (-1)

typedef enum pt_csv_errkind {
  PT_CSV_ENONE = 0,
  PT_CSV_ESYNTAX,  /* malformed CSV */
  PT_CSV_ELIMIT,   /* a field or record over the caps */
  PT_CSV_EIO,      /* the FILE* reported a read error */
  PT_CSV_ENOMEM
} pt_csv_errkind;

/* A reader over f, which stays owned by the caller (pt_csv_close does not
** close it) and must be positioned at the start of the data. NULL when out
** of memory. */
pt_csv *pt_csv_open(FILE *f);

/* Reads the next record into *row: PT_CSV_ROW, PT_CSV_END at the end of the
** input, or PT_CSV_ERROR (see pt_csv_errmsg). Errors are sticky: every later
** call returns PT_CSV_ERROR again. */
int pt_csv_next(pt_csv *r, pt_csv_row *row);

/* The last error as "line 7: unterminated quoted field"; "" if none.
** Borrowed from the reader. */
const char *pt_csv_errmsg(const pt_csv *r);
/* The same error in parts: its line, and the text after "line N: ". */
int64_t pt_csv_errline(const pt_csv *r);
const char *pt_csv_errwhy(const pt_csv *r);
pt_csv_errkind pt_csv_errkind_of(const pt_csv *r);

/* Bytes of input consumed so far (including a skipped BOM): after a
** record, the offset just past its line end. For progress reports. */
int64_t pt_csv_offset(const pt_csv *r);

/* Frees the reader (not the FILE*). NULL is a no-op. */
void pt_csv_close(pt_csv *r);

#endif /* PT_CSV_H */
