/*
** reports.h -- what the reports module (reports.c, tracking.c) offers the
** rest of the core: abandoned-cart tracking hooks for quote, commit and
** tick.
*/
#ifndef PT_REPORTS_H
#define PT_REPORTS_H

#include "checkout.h"

/* After a successful quote of a cart with "track": true and a customer:
** remembers it as the customer's open cart (its own small transaction). */
int pt_track_quote(patron *p, const pt_quote *q);
/* Inside a commit's transaction: the customer's open cart is bought. */
int pt_track_commit(patron *p, const pt_quote *q);
/* Inside tick's transaction: cart_abandoned for carts not committed
** within the shop's abandoned_cart_hours, once each. */
int pt_track_tick(patron *p, const pt_config *c, int64_t now,
                  patron_tick_result *out);

#endif /* PT_REPORTS_H */
