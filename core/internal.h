/*
** internal.h -- declarations shared by the modules of libpatron and its
** unit tests. Nothing here is part of the public contract (patron.h).
** Internal names are pt_<module>_*; the handle struct is defined here so
** every module can reach its store, config cache, clock and error buffer.
*/
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "patron.h"

#define PT_ERRMSG_SIZE 1024

/* ---- SQL statement ids: every statement text lives in sql_*.h ---------- */
enum pt_sql_id {
#define PT_SQL(id, text) PT_SQL_##id,
#include "sql_all.h"
#undef PT_SQL
  PT_SQL__COUNT
};

struct pt_config; /* config.h */
struct pt_script; /* script.c */

struct patron {
  sqlite3 *db;
  sqlite3_stmt *stmts[PT_SQL__COUNT]; /* prepared lazily, reused */
  int txn_depth;                      /* pt_begin nesting */
  bool read_txn;                      /* inside pt_read_begin */
  int64_t fixed_now;                  /* >0: the clock is frozen here */
  patron_clock_fn clock;
  void *clock_ud;
  char *plugin_dir;
  struct pt_config *cfg;              /* active config cache (or NULL) */
  const struct pt_config *cfg_override; /* simulate: price with this one */
  struct pt_script *script;           /* rule runtime (script.c) or NULL */
  int64_t cfg_version;                /* version of cfg */
  int code;
  char errmsg[PT_ERRMSG_SIZE];
  char errpath[128];
};

/* ---- errors (error.c) -------------------------------------------------- */
/* Sets code and a printf-style message on the handle; returns code. */
int pt_err(patron *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, with the path of the offending input field. */
int pt_err_path(patron *p, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Clears the error state; returns PATRON_OK. */
int pt_ok(patron *p);
/* Maps a SQLite result to a patron error with the db's message. */
int pt_err_sqlite(patron *p, int rc, const char *what);

/* ---- checked arithmetic (util.c) ------------------------------------- */
/* Each returns false on overflow and leaves *out unspecified. */
static inline bool pt_add64(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_add_overflow(a, b, out);
}
static inline bool pt_sub64(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_sub_overflow(a, b, out);
}
static inline bool pt_mul64(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}
/* floor(a * num / den) for a >= 0, num >= 0, den > 0 without
** intermediate overflow where the result fits; false if it does not. */
bool pt_muldiv_floor(int64_t a, int64_t num, int64_t den, int64_t *out);

/* ---- time (util.c) --------------------------------------------------- */
/* t plus n calendar months (n may be negative), same time of day; the day
** of month is clamped (Jan 31 + 1 month = Feb 28/29). */
int64_t pt_add_months(int64_t t, int n);
#define PT_DAY 86400

/* ---- small utilities (util.c) ---------------------------------------- */
/* True if s is valid UTF-8 (no overlong forms, no surrogates). */
bool pt_utf8_valid(const char *s);
/* Replaces every byte that does not start a valid UTF-8 sequence with '?'
** in place, so messages that quote bad input stay valid JSON text. */
void pt_utf8_scrub(char *s);
/* True if s holds a payment card number (see util.c for the rule). */
bool pt_is_card_number(const char *s);
void pt_uuid(char out[37]);
char *pt_strdup(const char *s);
/* Reads a whole file; *len gets its size. NULL and errno on failure. */
char *pt_read_file(const char *path, size_t *len);

/* A growable string buffer. On allocation failure it records oom and
** ignores further appends; check .oom before using .s. */
typedef struct pt_buf {
  char *s;
  size_t len, cap;
  bool oom;
} pt_buf;
void pt_buf_add(pt_buf *b, const char *s, size_t n);
void pt_buf_puts(pt_buf *b, const char *s);
void pt_buf_printf(pt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pt_buf_free(pt_buf *b);

/* ---- store (store.c): the only module that talks to SQLite directly -- */
int pt_store_open(patron *p, const char *path, const patron_options *o);
void pt_store_close(patron *p);
/* The cached prepared statement for id, reset and with bindings cleared;
** NULL with the error set on the handle on failure. */
sqlite3_stmt *pt_stmt(patron *p, enum pt_sql_id id);
/* Resets a statement after use (safe on NULL). */
void pt_stmt_done(sqlite3_stmt *st);
/* BEGIN IMMEDIATE (outermost) or a savepoint (nested). */
int pt_begin(patron *p);
int pt_commit(patron *p);
/* Rolls back the innermost level; keeps the handle's current error. */
void pt_rollback(patron *p);
/* A read transaction (one snapshot, one lock) around a series of reads
** outside any write transaction; no-ops inside one. pt_read_end keeps
** the handle's error. */
int pt_read_begin(patron *p);
void pt_read_end(patron *p);
/* Steps a statement that returns no rows; maps errors. */
int pt_exec_stmt(patron *p, sqlite3_stmt *st, const char *what);
/* Steps a statement that reads: 1 for a row, 0 when there are no more,
** -1 with the handle's error set (what names the read). Every read goes
** through here so an error (out of memory, I/O) is never taken for "no
** row": the idiom is
**   while ((r = pt_row(p, st, "read x")) > 0) { ... }
**   if (r < 0) return p->code;
** Inside a write transaction that SQLite has already rolled back by itself
** it refuses (-1, nomem), like pt_exec_stmt. */
int pt_row(patron *p, sqlite3_stmt *st, const char *what);
/* Binds text, or NULL when s is NULL. The text is not copied
** (SQLITE_STATIC), so the bind cannot fail for lack of memory: s must stay
** valid until the statement's last step that reads it (pt_stmt resets and
** clears the bindings before the statement is used again). Every text
** bind goes through here; binding integers and NULL cannot fail either. */
void pt_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies a text column into buf (truncating), "" for NULL. Unchecked: for
** TEXT columns of STRICT tables, which SQLite hands out without converting
** (so without allocating); anything else reads through pt_col_str. */
void pt_col_text(sqlite3_stmt *st, int i, char *buf, size_t size);
/* The text of column i of the current row, NULL for SQL NULL. SQLite may
** need memory to make the text (a number read as text); when it cannot,
** the error is set and returned (PATRON_NOMEM): a value that could not be
** read is never taken for NULL (an anonymous order, a missing class). */
int pt_col_str(patron *p, sqlite3_stmt *st, int i, const char **out);
/* The same copied into buf (truncating), "" for NULL. */
int pt_col_str_buf(patron *p, sqlite3_stmt *st, int i, char *buf, size_t size);
/* Schema version this binary writes. */
int pt_store_schema_version(void);

/* ---- embedded files (generated: build/gen/embed.c) -------------------- */
typedef struct pt_embedded {
  const char *name;   /* "schema/001_init.sql", "lua/config.lua" */
  const char *data;
  size_t len;
} pt_embedded;
extern const pt_embedded pt_embedded_files[];
extern const size_t pt_embedded_count;
const pt_embedded *pt_embedded_find(const char *name);

/* ---- events (events.c) ------------------------------------------------ */
/* Appends an event to the outbox (inside the caller's transaction).
** payload is a JSON object text (borrowed). */
int pt_event_emit(patron *p, const char *type, const char *subject,
                  int64_t at, const char *payload_json);

#endif /* PT_INTERNAL_H */
