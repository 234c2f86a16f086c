/* test_store.c -- opening, migrations, WAL, schema version guard, time
** helpers and checked arithmetic. */
#include <unistd.h>
#include "internal.h"
#include "t.h"

TEST(open_creates_and_migrates) {
  unlink("t_store.db");
  patron *p;
  CHECK_EQ_I64(patron_open(&p, "t_store.db", NULL), PATRON_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(p->db, "PRAGMA user_version", -1, &st, NULL);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  CHECK_EQ_I64(sqlite3_column_int(st, 0), pt_store_schema_version());
  sqlite3_finalize(st);
  sqlite3_prepare_v2(p->db, "PRAGMA journal_mode", -1, &st, NULL);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(p->db, "PRAGMA foreign_keys", -1, &st, NULL);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  CHECK_EQ_I64(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  patron_close(p);
  /* reopening an up-to-date database is fine */
  CHECK_EQ_I64(patron_open(&p, "t_store.db", NULL), PATRON_OK);
  patron_close(p);
}

TEST(newer_schema_is_refused) {
  unlink("t_new.db");
  sqlite3 *db;
  sqlite3_open("t_new.db", &db);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", pt_store_schema_version() + 1);
  sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  patron *p;
  CHECK_EQ_I64(patron_open(&p, "t_new.db", NULL), PATRON_SCHEMA_TOO_NEW);
  CHECK_HAS(patron_errmsg(p), "newer than this patron");
  patron_close(p);
}

TEST(time_parse_and_format) {
  int64_t t;
  char buf[32];
  CHECK_EQ_I64(patron_time_parse(&t, "2026-11-23T12:00:00Z"), PATRON_OK);
  CHECK_EQ_I64(t, 1795435200);
  patron_time_format(buf, sizeof buf, t);
  CHECK_STR(buf, "2026-11-23T12:00:00Z");
  CHECK_EQ_I64(patron_time_parse(&t, "2026-11-23"), PATRON_OK);
  CHECK_EQ_I64(t, 1795392000);
  CHECK_EQ_I64(patron_time_parse(&t, "2026-11-23T14:00:00+02:00"), PATRON_OK);
  CHECK_EQ_I64(t, 1795435200);
  CHECK_EQ_I64(patron_time_parse(&t, "2026-02-30"), PATRON_INVALID_INPUT);
  CHECK_EQ_I64(patron_time_parse(&t, "2026-11-23T25:00:00Z"), PATRON_INVALID_INPUT);
  CHECK_EQ_I64(patron_time_parse(&t, "yesterday"), PATRON_INVALID_INPUT);
  CHECK_EQ_I64(patron_time_parse(&t, "2026-11-23T12:00:00Zjunk"), PATRON_INVALID_INPUT);
}

TEST(add_months_clamps_day) {
  int64_t jan31, want;
  patron_time_parse(&jan31, "2026-01-31T10:00:00Z");
  patron_time_parse(&want, "2026-02-28T10:00:00Z");
  CHECK_EQ_I64(pt_add_months(jan31, 1), want);
  patron_time_parse(&want, "2028-02-29T10:00:00Z");
  CHECK_EQ_I64(pt_add_months(jan31, 25), want);
  patron_time_parse(&want, "2025-12-31T10:00:00Z");
  CHECK_EQ_I64(pt_add_months(jan31, -1), want);
}

TEST(checked_arithmetic) {
  int64_t r;
  CHECK(pt_add64(INT64_MAX - 1, 1, &r) && r == INT64_MAX);
  CHECK(!pt_add64(INT64_MAX, 1, &r));
  CHECK(!pt_mul64(INT64_C(1) << 62, 2, &r));
  CHECK(pt_muldiv_floor(999, 15000, 10000, &r) && r == 1498);
  CHECK(pt_muldiv_floor(INT64_MAX, 10000, 10000, &r) && r == INT64_MAX);
  CHECK(!pt_muldiv_floor(INT64_MAX, 15000, 10000, &r));
  CHECK(!pt_muldiv_floor(-1, 1, 1, &r));
}

TEST(error_names_come_from_one_table) {
  CHECK_STR(patron_code_name(PATRON_INSUFFICIENT_POINTS), "insufficient_points");
  CHECK_STR(patron_code_name(PATRON_STALE_QUOTE), "stale_quote");
  CHECK_STR(patron_code_name(9999), "unknown");
}

int main(void) {
  RUN(open_creates_and_migrates);
  RUN(newer_schema_is_refused);
  RUN(time_parse_and_format);
  RUN(add_months_clamps_day);
  RUN(checked_arithmetic);
  RUN(error_names_come_from_one_table);
  return t_done();
}
