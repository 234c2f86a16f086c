/* ledger.c -- STUB, replaced by the ledger module. */
#include "internal.h"
int patron_balance(patron *p, patron_balance_info *out, const char *customer, const char *program) {
  (void)out; (void)customer; (void)program;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_adjust(patron *p, char entry_uuid[37], const char *customer, const char *program,
                  int64_t points, const char *reason) {
  (void)entry_uuid; (void)customer; (void)program; (void)points; (void)reason;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_ledger_json(patron *p, char **out, const char *customer, const char *program) {
  (void)out; (void)customer; (void)program;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_tick(patron *p, patron_tick_result *out, int64_t now) {
  (void)out; (void)now;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_verify(patron *p, int64_t *mismatches, char **report) {
  (void)mismatches; (void)report;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
