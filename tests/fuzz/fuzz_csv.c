/*
** fuzz_csv.c -- the CSV importers (patron_import_catalog and
** patron_import_customers through a temporary file: csv.c's reader and
** import.c's checks) on arbitrary bytes. The first byte picks the importer.
** Beyond not crashing: an import is all or nothing (a refused one changes
** no row count), refusals have JSON error objects, and patron_verify finds
** every balance equal to its ledger afterwards.
*/
#include <unistd.h>

#include "fuzz.h"

static int64_t count(patron *p, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

#define ROWS "SELECT (SELECT count(*) FROM catalog) + (SELECT count(*) FROM customers) " \
             "+ (SELECT count(*) FROM ledger) + (SELECT count(*) FROM spend)"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static patron *p;
  static unsigned runs;
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/patron-fuzz-%d.csv", (int)getpid());
  if (size < 1) return 0;
  if (!p || ++runs % 500 == 0) {
    patron_close(p);
    p = fuzz_shop(0);
  }
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data + 1, 1, size - 1, f);
  fclose(f);
  int64_t before = count(p, ROWS);
  patron_import_result r;
  int rc = data[0] & 1 ? patron_import_customers(p, &r, path, NULL, NULL)
                       : patron_import_catalog(p, &r, path, NULL, NULL);
  unlink(path);
  if (rc != PATRON_OK) {
    FUZZ_ASSERT(rc == PATRON_INVALID_INPUT || rc == PATRON_UNKNOWN_PROGRAM ||
                rc == PATRON_OVERFLOW, "code %s: %s", patron_code_name(rc), patron_errmsg(p));
    FUZZ_ASSERT(count(p, ROWS) == before, "a refused import changed rows: %s",
                patron_errmsg(p));
    fuzz_check_error(p, rc);
  }
  int64_t bad = -1;
  char *report = NULL;
  FUZZ_ASSERT(patron_verify(p, &bad, &report) == PATRON_OK && bad == 0, "verify: %s",
              report ? report : patron_errmsg(p));
  free(report);
  return 0;
}
