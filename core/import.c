/* import.c -- STUB, replaced by the import module. */
#include "internal.h"
int patron_import_catalog(patron *p, patron_import_result *out, const char *path,
                          patron_progress_fn progress, void *ud) {
  (void)out; (void)path; (void)progress; (void)ud;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_import_customers(patron *p, patron_import_result *out, const char *path,
                            patron_progress_fn progress, void *ud) {
  (void)out; (void)path; (void)progress; (void)ud;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
