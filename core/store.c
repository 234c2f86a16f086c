/*
** store.c -- the SQLite store: opening a connection with patron's
** settings, applying the schema/ migrations, caching prepared statements
** and nesting transactions. Statement texts live in sql_*.h; this file
** owns the connection and its lifecycle, the other modules bind and step.
**
** Durability: journal_mode=WAL with synchronous=FULL. A commit that
** returned is on disk: a power cut loses no acknowledged order or ledger
** entry (NORMAL could lose the last transactions before a power cut,
** which for a points ledger means a customer's points; we pay the fsync).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const sql_text[PT_SQL__COUNT] = {
#define PT_SQL(id, text) [PT_SQL_##id] = text,
#include "sql_all.h"
#undef PT_SQL
};

static int schema_number(const char *name) {
  /* "schema/001_init.sql" -> 1; 0 if not a migration */
  if (strncmp(name, "schema/", 7) != 0) return 0;
  return atoi(name + 7);
}

int pt_store_schema_version(void) {
  int max = 0;
  for (size_t i = 0; i < pt_embedded_count; i++) {
    int n = schema_number(pt_embedded_files[i].name);
    if (n > max) max = n;
  }
  return max;
}

static int exec(patron *p, const char *sql, const char *what) {
  char *msg = NULL;
  int rc = sqlite3_exec(p->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    pt_err(p, rc == SQLITE_BUSY ? PATRON_BUSY : PATRON_IO, "%s: %s", what,
           msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return p->code;
  }
  return PATRON_OK;
}

static int pragma_int(patron *p, const char *sql, int *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(p->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int(st, 0);
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? PATRON_OK : pt_err_sqlite(p, rc, sql);
}

static int migrate(patron *p, int read_only) {
  int have = 0, want = pt_store_schema_version();
  int rc = pragma_int(p, "PRAGMA user_version", &have);
  if (rc) return rc;
  if (have > want)
    return pt_err(p, PATRON_SCHEMA_TOO_NEW,
                  "database schema version %d is newer than this patron "
                  "(%s) understands (%d); upgrade patron",
                  have, PATRON_VERSION, want);
  if (have == want) return PATRON_OK;
  if (read_only)
    return pt_err(p, PATRON_IO,
                  "database schema version %d needs migrating to %d, but "
                  "it was opened read-only", have, want);
  if ((rc = exec(p, "BEGIN IMMEDIATE", "migrate"))) return rc;
  /* re-read under the write lock: another process may have migrated */
  if ((rc = pragma_int(p, "PRAGMA user_version", &have))) goto fail;
  for (int n = have + 1; n <= want; n++) {
    const pt_embedded *m = NULL;
    for (size_t i = 0; i < pt_embedded_count; i++)
      if (schema_number(pt_embedded_files[i].name) == n) m = &pt_embedded_files[i];
    if (!m) {
      rc = pt_err(p, PATRON_INTERNAL, "migration %03d is missing", n);
      goto fail;
    }
    if ((rc = exec(p, m->data, m->name))) goto fail;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", n);
    if ((rc = exec(p, sql, m->name))) goto fail;
  }
  return exec(p, "COMMIT", "migrate");
fail:
  sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int pt_store_open(patron *p, const char *path, const patron_options *o) {
  int flags = o->read_only ? SQLITE_OPEN_READONLY
                           : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path, &p->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    return pt_err(p, PATRON_IO, "cannot open database %s: %s", path,
                  p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(p->db, 1);
  sqlite3_busy_timeout(p->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
  sqlite3_db_config(p->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  sqlite3_db_config(p->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
  sqlite3_db_config(p->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, NULL);
  if ((rc = exec(p, "PRAGMA foreign_keys = ON", "open"))) return rc;
  if (!o->read_only) {
    sqlite3_stmt *st = NULL;
    const char *mode = "";
    int src = sqlite3_prepare_v2(p->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
      mode = (const char *)sqlite3_column_text(st, 0);
    else if (src != SQLITE_DONE) { /* out of memory, I/O: not a verdict on the file */
      rc = pt_err_sqlite(p, src, "open: journal_mode");
      sqlite3_finalize(st);
      return rc;
    }
    int wal = mode && (strcmp(mode, "wal") == 0 ||
                       (strcmp(mode, "memory") == 0 && strcmp(path, ":memory:") == 0));
    char got[32];
    snprintf(got, sizeof got, "%s", mode ? mode : "?");
    sqlite3_finalize(st);
    if (!wal)
      return pt_err(p, PATRON_IO,
                    "cannot put %s in WAL mode (journal_mode is '%s'): "
                    "patron needs WAL for safe concurrent tills", path, got);
    if ((rc = exec(p, "PRAGMA synchronous = FULL", "open"))) return rc;
    /* freed pages are zeroed, so erased personal data does not linger in
    ** free space (Debian's SQLite defaults to this; others may not) */
    if ((rc = exec(p, "PRAGMA secure_delete = ON", "open"))) return rc;
  }
  if ((rc = migrate(p, o->read_only))) return rc;
  /* prepared now, so ending a transaction never needs an allocation */
  static const enum pt_sql_id txn[] = {PT_SQL_BEGIN, PT_SQL_COMMIT, PT_SQL_ROLLBACK,
                                       PT_SQL_SAVEPOINT, PT_SQL_RELEASE,
                                       PT_SQL_ROLLBACK_TO, PT_SQL_BEGIN_READ};
  for (size_t i = 0; i < sizeof txn / sizeof txn[0]; i++)
    if (!pt_stmt(p, txn[i])) return p->code;
  return PATRON_OK;
}

void pt_store_close(patron *p) {
  for (int i = 0; i < PT_SQL__COUNT; i++) {
    sqlite3_finalize(p->stmts[i]);
    p->stmts[i] = NULL;
  }
  if (p->db) {
    if (!sqlite3_get_autocommit(p->db))
      sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(p->db);
    p->db = NULL;
  }
}

sqlite3_stmt *pt_stmt(patron *p, enum pt_sql_id id) {
  sqlite3_stmt *st = p->stmts[id];
  if (!st) {
    int rc = sqlite3_prepare_v3(p->db, sql_text[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
      pt_err_sqlite(p, rc, "prepare");
      return NULL;
    }
    p->stmts[id] = st;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

void pt_stmt_done(sqlite3_stmt *st) {
  if (st) sqlite3_reset(st);
}

int pt_exec_stmt(patron *p, sqlite3_stmt *st, const char *what) {
  /* SQLite rolls the whole transaction back by itself on some errors
  ** (out of memory, disk full). Writing on in autocommit would apply
  ** the rest of an order statement by statement: refuse instead. */
  if (p->txn_depth > 0 && sqlite3_get_autocommit(p->db))
    return pt_err(p, PATRON_NOMEM, "%s: the transaction was rolled back by "
                  "an earlier error", what);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return PATRON_OK;
  return pt_err_sqlite(p, rc, what);
}

int pt_row(patron *p, sqlite3_stmt *st, const char *what) {
  if (p->txn_depth > 0 && sqlite3_get_autocommit(p->db)) {
    pt_err(p, PATRON_NOMEM, "%s: the transaction was rolled back by an earlier error",
           what);
    return -1;
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  pt_err_sqlite(p, rc, what);
  return -1;
}

void pt_bind_text(sqlite3_stmt *st, int i, const char *s) {
  /* SQLITE_STATIC copies nothing: the database is UTF-8 like s, so SQLite
  ** keeps the pointer and allocates nothing. The only failures left are
  ** misuse (a running statement, a bad index): bugs, caught by tests. */
  if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
  else sqlite3_bind_null(st, i);
}

void pt_col_text(sqlite3_stmt *st, int i, char *buf, size_t size) {
  const unsigned char *t = sqlite3_column_text(st, i);
  snprintf(buf, size, "%s", t ? (const char *)t : "");
}

int pt_col_str(patron *p, sqlite3_stmt *st, int i, const char **out) {
  *out = NULL;
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return PATRON_OK;
  /* NULL for a value that is not NULL: SQLite ran out of memory making it */
  if (!(*out = (const char *)sqlite3_column_text(st, i)))
    return pt_err_sqlite(p, SQLITE_NOMEM, "read a text column");
  return PATRON_OK;
}

int pt_col_str_buf(patron *p, sqlite3_stmt *st, int i, char *buf, size_t size) {
  const char *s;
  int rc = pt_col_str(p, st, i, &s);
  snprintf(buf, size, "%s", s ? s : "");
  return rc;
}

static int run(patron *p, enum pt_sql_id id) {
  sqlite3_stmt *st = pt_stmt(p, id);
  if (!st) return p->code;
  return pt_exec_stmt(p, st, sql_text[id]);
}

int pt_begin(patron *p) {
  int rc = run(p, p->txn_depth == 0 ? PT_SQL_BEGIN : PT_SQL_SAVEPOINT);
  if (rc == PATRON_OK) p->txn_depth++;
  return rc;
}

int pt_commit(patron *p) {
  if (p->txn_depth <= 0) return pt_err(p, PATRON_MISUSE, "commit without begin");
  if (sqlite3_get_autocommit(p->db)) {
    int rc = pt_err(p, PATRON_NOMEM, "the transaction was rolled back by an "
                    "earlier error; nothing was written");
    p->txn_depth = 0;
    return rc;
  }
  int rc = run(p, p->txn_depth == 1 ? PT_SQL_COMMIT : PT_SQL_RELEASE);
  if (rc != PATRON_OK) {
    pt_rollback(p); /* keeps the commit's error */
    return rc;
  }
  p->txn_depth--;
  return PATRON_OK;
}

void pt_rollback(patron *p) {
  if (p->txn_depth <= 0) return;
  int code = p->code;
  char msg[PT_ERRMSG_SIZE], path[sizeof p->errpath];
  memcpy(msg, p->errmsg, sizeof msg);
  memcpy(path, p->errpath, sizeof path);
  if (p->txn_depth == 1) {
    if (!sqlite3_get_autocommit(p->db)) run(p, PT_SQL_ROLLBACK);
  } else if (!sqlite3_get_autocommit(p->db)) {
    run(p, PT_SQL_ROLLBACK_TO);
    run(p, PT_SQL_RELEASE);
  }
  p->txn_depth--;
  p->code = code;
  memcpy(p->errmsg, msg, sizeof msg);
  memcpy(p->errpath, path, sizeof path);
}

int pt_read_begin(patron *p) {
  if (p->txn_depth > 0) return PATRON_OK; /* already inside a transaction */
  int rc = run(p, PT_SQL_BEGIN_READ);
  if (rc == PATRON_OK) p->read_txn = true;
  return rc;
}

void pt_read_end(patron *p) {
  if (!p->read_txn) return;
  p->read_txn = false;
  if (!sqlite3_get_autocommit(p->db)) {
    int code = p->code;
    char msg[PT_ERRMSG_SIZE], path[sizeof p->errpath];
    memcpy(msg, p->errmsg, sizeof msg);
    memcpy(path, p->errpath, sizeof path);
    run(p, PT_SQL_COMMIT);
    p->code = code;
    memcpy(p->errmsg, msg, sizeof msg);
    memcpy(p->errpath, path, sizeof path);
  }
}

const pt_embedded *pt_embedded_find(const char *name) {
  for (size_t i = 0; i < pt_embedded_count; i++)
    if (strcmp(pt_embedded_files[i].name, name) == 0) return &pt_embedded_files[i];
  return NULL;
}
