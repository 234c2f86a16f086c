/*
** events.c -- the outbox. Modules append events inside their own
** transaction, so an event exists exactly when what caused it was
** committed; the host pulls undelivered events and acknowledges them
** (at-least-once delivery: a pull without an ack returns them again).
*/
#include <jansson.h>
#include <string.h>

#include "internal.h"

int pt_event_emit(patron *p, const char *type, const char *subject,
                  int64_t at, const char *payload_json) {
  char uuid[37];
  pt_uuid(uuid);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_EVENT_INSERT);
  if (!st) return p->code;
  sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, at);
  sqlite3_bind_text(st, 4, subject, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, payload_json ? payload_json : "{}", -1,
                    SQLITE_TRANSIENT);
  return pt_exec_stmt(p, st, "emit event");
}

int patron_events_pull(patron *p, char **out, const char *type, int limit) {
  *out = NULL;
  pt_ok(p);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_EVENT_PULL);
  if (!st) return p->code;
  pt_bind_text(st, 1, type);
  sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
  json_t *arr = json_array();
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char at[32];
    patron_time_format(at, sizeof at, sqlite3_column_int64(st, 3));
    json_t *payload = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
    json_t *ev = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}",
                           "id", (json_int_t)sqlite3_column_int64(st, 0),
                           "uuid", (const char *)sqlite3_column_text(st, 1),
                           "type", (const char *)sqlite3_column_text(st, 2),
                           "at", at,
                           "subject", (const char *)sqlite3_column_text(st, 4),
                           "payload", payload ? payload : json_object());
    if (!ev || json_array_append_new(arr, ev)) { rc = SQLITE_NOMEM; break; }
  }
  pt_stmt_done(st);
  if (rc != SQLITE_DONE) {
    json_decref(arr);
    return rc == SQLITE_NOMEM ? pt_err(p, PATRON_NOMEM, "out of memory")
                              : pt_err_sqlite(p, rc, "pull events");
  }
  *out = json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  return *out ? PATRON_OK : pt_err(p, PATRON_NOMEM, "out of memory");
}

int patron_events_ack(patron *p, const int64_t *ids, size_t n) {
  pt_ok(p);
  int rc = pt_begin(p);
  if (rc) return rc;
  int64_t now = patron_now(p);
  for (size_t i = 0; i < n; i++) {
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_EVENT_ACK);
    if (!st) { rc = p->code; goto fail; }
    sqlite3_bind_int64(st, 1, ids[i]);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = pt_exec_stmt(p, st, "ack event"))) goto fail;
    if (sqlite3_changes(p->db) == 0) {
      rc = pt_err(p, PATRON_NOT_FOUND, "no event with id %lld", (long long)ids[i]);
      goto fail;
    }
  }
  return pt_commit(p);
fail:
  pt_rollback(p);
  return rc;
}
