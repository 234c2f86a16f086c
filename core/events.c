/*
** events.c -- the outbox. Modules append events inside their own
** transaction, so an event exists exactly when what caused it was
** committed; the host pulls undelivered events and acknowledges them
** (at-least-once delivery: a pull without an ack returns them again).
*/
#include <jansson.h>
#include <string.h>

#include "internal.h"
#include "json.h"

int pt_event_emit(patron *p, const char *type, const char *subject,
                  int64_t at, const char *payload_json) {
  char uuid[37];
  pt_uuid(uuid);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_EVENT_INSERT);
  if (!st) return p->code;
  pt_bind_text(st, 1, uuid); /* on this stack frame until the step is done */
  pt_bind_text(st, 2, type);
  sqlite3_bind_int64(st, 3, at);
  pt_bind_text(st, 4, subject);
  pt_bind_text(st, 5, payload_json ? payload_json : "{}");
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
  if (!arr) {
    pt_stmt_done(st);
    return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  int r;
  while ((r = pt_row(p, st, "pull events")) > 0) {
    char at[32];
    patron_time_format(at, sizeof at, sqlite3_column_int64(st, 3));
    /* NOT NULL columns: a NULL text is SQLite out of memory */
    const char *text = (const char *)sqlite3_column_text(st, 5);
    bool oom = !text;
    json_t *payload = text ? pt_json_loads(text, 0, NULL, &oom) : NULL;
    /* a payload that does not parse (it always does) is sent as {}; one
    ** that could not be parsed for lack of memory fails the pull */
    if (!payload && !oom && !(payload = json_object())) oom = true;
    json_t *ev = oom ? NULL
                     : json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}",
                                 "id", (json_int_t)sqlite3_column_int64(st, 0),
                                 "uuid", (const char *)sqlite3_column_text(st, 1),
                                 "type", (const char *)sqlite3_column_text(st, 2),
                                 "at", at,
                                 "subject", (const char *)sqlite3_column_text(st, 4),
                                 "payload", payload);
    if (!ev || json_array_append_new(arr, ev)) {
      pt_err(p, PATRON_NOMEM, "out of memory");
      r = -1;
      break;
    }
  }
  pt_stmt_done(st);
  if (r < 0) {
    json_decref(arr);
    return p->code;
  }
  *out = pt_json_dumps(arr, JSON_COMPACT);
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
