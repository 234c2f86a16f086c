/* sql_erase.h -- the right to erasure (erase.c). ?1 is always the old
** customer id, ?2 the pseudonym. Rows reached through an account use
** program IN (the customer's programs) so that the (program, customer)
** indexes serve them; rows of subscriptions go through the customer's
** subscription ids, read before the subscriptions themselves are renamed. */
PT_SQL(ERASE_SECURE_GET, "PRAGMA secure_delete")
PT_SQL(ERASE_SECURE_ON, "PRAGMA secure_delete = ON")
PT_SQL(ERASE_SECURE_OFF, "PRAGMA secure_delete = OFF")
PT_SQL(ERASE_SECURE_FAST, "PRAGMA secure_delete = FAST")
PT_SQL(ERASE_CHECKPOINT, "PRAGMA wal_checkpoint(TRUNCATE)")
PT_SQL(ERASE_CUSTOMER_GET,
       "SELECT email, erased_at FROM customers WHERE id = ?1")
PT_SQL(ERASE_LIVE_SUB,
       "SELECT id, status FROM subscriptions WHERE customer = ?1 "
       "AND status NOT IN ('canceled', 'expired') ORDER BY created_at, id LIMIT 1")
PT_SQL(ERASE_TOKENS,
       "SELECT DISTINCT token FROM payment_methods WHERE customer = ?1 "
       "AND token <> 'erased' ORDER BY token")
PT_SQL(ERASE_CUSTOMER_COPY,
       "INSERT INTO customers (id, email, birthday, created_at, erased_at) "
       "SELECT ?2, NULL, NULL, created_at, ?3 FROM customers WHERE id = ?1")
PT_SQL(ERASE_ACCOUNTS_COPY,
       "INSERT INTO accounts (program, customer, points, tier, created_at) "
       "SELECT program, ?2, points, tier, created_at FROM accounts WHERE customer = ?1")
PT_SQL(ERASE_LEDGER,
       "UPDATE ledger SET customer = ?2 WHERE customer = ?1")
PT_SQL(ERASE_LOTS,
       "UPDATE lots SET customer = ?2 WHERE customer = ?1 "
       "AND program IN (SELECT program FROM accounts WHERE customer = ?1)")
PT_SQL(ERASE_SPEND,
       "UPDATE spend SET customer = ?2 WHERE customer = ?1 "
       "AND program IN (SELECT program FROM accounts WHERE customer = ?1)")
PT_SQL(ERASE_TIER_HISTORY,
       "UPDATE tier_history SET customer = ?2 WHERE customer = ?1 "
       "AND program IN (SELECT program FROM accounts WHERE customer = ?1)")
PT_SQL(ERASE_LOT_USE,
       "UPDATE report_lot_use SET customer = ?2 WHERE customer = ?1 "
       "AND program IN (SELECT program FROM accounts WHERE customer = ?1)")
/* free text of the (renamed: ?1 is the pseudonym here) customer's rows
** that names the old id (?2) or the email (?3, NULL when none) */
PT_SQL(ERASE_LEDGER_REASONS,
       "SELECT id, reason FROM ledger WHERE customer = ?1 "
       "AND (instr(reason, ?2) > 0 OR instr(reason, ?3) > 0) ORDER BY id")
PT_SQL(ERASE_LEDGER_SET_REASON, "UPDATE ledger SET reason = ?2 WHERE id = ?1")
PT_SQL(ERASE_ORDERS,
       "SELECT id, cart, receipt FROM orders WHERE customer = ?1 ORDER BY id")
PT_SQL(ERASE_ORDER_SET,
       "UPDATE orders SET customer = ?2, cart = ?3, receipt = ?4 WHERE id = ?1")
PT_SQL(ERASE_ORDER_ADJ_REASONS,
       "SELECT a.id, a.reason FROM order_adjustments a "
       "JOIN orders o ON o.id = a.order_rowid WHERE o.customer = ?1 "
       "AND (instr(a.reason, ?2) > 0 OR instr(a.reason, ?3) > 0) ORDER BY a.id")
PT_SQL(ERASE_ORDER_ADJ_SET,
       "UPDATE order_adjustments SET reason = ?2 WHERE id = ?1")
PT_SQL(ERASE_SUGGESTIONS,
       "UPDATE suggestions_shown SET customer = ?2 WHERE customer = ?1")
PT_SQL(ERASE_NUDGES,
       "UPDATE report_nudges SET customer = ?2 WHERE customer = ?1")
PT_SQL(ERASE_ATTEMPTS,
       "UPDATE charge_attempts SET customer = ?2 WHERE subscription IN "
       "(SELECT id FROM subscriptions WHERE customer = ?1)")
PT_SQL(ERASE_ATTEMPT_RESULTS,
       "SELECT 0, id, result FROM charge_attempts WHERE subscription IN "
       "(SELECT id FROM subscriptions WHERE customer = ?1) AND result IS NOT NULL "
       "ORDER BY id")
PT_SQL(ERASE_ATTEMPT_SET_RESULT,
       "UPDATE charge_attempts SET result = ?2 WHERE id = ?1")
PT_SQL(ERASE_SUB_HISTORY,
       "UPDATE subscription_history SET customer = ?2 WHERE subscription IN "
       "(SELECT id FROM subscriptions WHERE customer = ?1)")
PT_SQL(ERASE_SUB_DETAILS,
       "SELECT id, detail FROM subscription_history WHERE subscription IN "
       "(SELECT id FROM subscriptions WHERE customer = ?1) ORDER BY id")
PT_SQL(ERASE_SUB_DETAIL_SET,
       "UPDATE subscription_history SET detail = ?2 WHERE id = ?1")
PT_SQL(ERASE_PAYMENT_METHODS,
       "UPDATE payment_methods SET customer = ?2, token = 'erased' "
       "WHERE customer = ?1")
PT_SQL(ERASE_EVENTS,
       "SELECT id, subject, payload FROM events WHERE subject = ?1 "
       "OR subject IN (SELECT id FROM subscriptions WHERE customer = ?1) ORDER BY id")
PT_SQL(ERASE_EVENT_SET,
       "UPDATE events SET subject = ?2, payload = ?3 WHERE id = ?1")
PT_SQL(ERASE_NPS,
       "UPDATE nps_answers SET customer = ?2, comment = '' WHERE customer = ?1")
PT_SQL(ERASE_TRACKED, "DELETE FROM tracked_carts WHERE customer = ?1")
PT_SQL(ERASE_SUBS, "UPDATE subscriptions SET customer = ?2 WHERE customer = ?1")
PT_SQL(ERASE_ACCOUNTS_DROP, "DELETE FROM accounts WHERE customer = ?1")
PT_SQL(ERASE_CUSTOMER_DROP, "DELETE FROM customers WHERE id = ?1")
