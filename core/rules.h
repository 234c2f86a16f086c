/*
** rules.h -- the seam between the quote pipeline and merchant rules (Lua
** plugins). The pipeline calls these at stage 3 (on_quote) and after the
** base earn (on_earn); each plugin's actions are validated by the core and
** applied to the quote with the plugin's name in the trace. Commit and
** refund call the budget hooks inside their transaction.
*/
#ifndef PT_RULES_H
#define PT_RULES_H

#include "checkout.h"

/* Runs the on_quote hooks of the configured plugins, in order. */
int pt_rules_on_quote(patron *p, pt_quote *q);
/* Runs the on_earn hooks (bonus points; adds to q->bonus_points and
** q->bonuses[] {source, reason, points}). */
int pt_rules_on_earn(patron *p, pt_quote *q);
/* Inside a commit's transaction, after the order row exists: records what
** each plugin gave on this order (cents, points, uses) against its budget. */
int pt_rules_commit(patron *p, const pt_quote *q, int64_t order_rowid);
/* Inside a refund's transaction: gives budget back for the refunded part
** of an order (units_before units were already refunded, units_now are
** refunded now, out of units_total in the order). */
int pt_rules_refund(patron *p, int64_t order_rowid, int64_t units_before,
                    int64_t units_now, int64_t units_total);
/* Frees the handle's rule runtime (Lua state); called by patron_close. */
void pt_rules_close(patron *p);

#endif /* PT_RULES_H */
