/*
** subs.h -- subscriptions and dunning inside the core (subs.c): the part
** of tick that renews, ends trials, reverts temporary upgrades, steps
** dunning and sends renewal reminders.
*/
#ifndef PT_SUBS_H
#define PT_SUBS_H

#include "config.h"

/* Inside the caller's transaction; adds to *out. Idempotent for one now. */
int pt_subs_tick(patron *p, const pt_config *c, int64_t now,
                 patron_tick_result *out);

#endif /* PT_SUBS_H */
