/*
** rules.c -- plugin hooks in the quote pipeline. Until the Lua runtime
** lands, configured plugins are stored at apply time but run no hooks.
*/
#include "rules.h"

int pt_rules_on_quote(patron *p, pt_quote *q) {
  (void)p;
  (void)q;
  return PATRON_OK;
}

int pt_rules_on_earn(patron *p, pt_quote *q) {
  (void)p;
  (void)q;
  return PATRON_OK;
}

int pt_rules_commit(patron *p, const pt_quote *q, int64_t order_rowid) {
  (void)p;
  (void)q;
  (void)order_rowid;
  return PATRON_OK;
}

int pt_rules_refund(patron *p, int64_t order_rowid, int64_t units_before,
                    int64_t units_now, int64_t units_total) {
  (void)p;
  (void)order_rowid;
  (void)units_before;
  (void)units_now;
  (void)units_total;
  return PATRON_OK;
}

void pt_rules_close(patron *p) { (void)p; }
