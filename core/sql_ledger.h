/* sql_ledger.h -- customers, accounts, ledger entries, lots, spend, tiers. */
PT_SQL(CUSTOMER_ENSURE,
       "INSERT INTO customers (id, created_at) VALUES (?1, ?2) "
       "ON CONFLICT (id) DO NOTHING")
PT_SQL(CUSTOMER_EXISTS, "SELECT 1 FROM customers WHERE id = ?1")
PT_SQL(ACCOUNT_ENSURE,
       "INSERT INTO accounts (program, customer, points, tier, created_at) "
       "VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT (program, customer) DO NOTHING")
PT_SQL(ACCOUNT_GET,
       "SELECT points, tier FROM accounts WHERE program = ?1 AND customer = ?2")
PT_SQL(ACCOUNT_SET_POINTS,
       "UPDATE accounts SET points = ?3 WHERE program = ?1 AND customer = ?2")
PT_SQL(ACCOUNT_SET_TIER,
       "UPDATE accounts SET tier = ?3 WHERE program = ?1 AND customer = ?2")
PT_SQL(ACCOUNTS_ABOVE_BASE,
       "SELECT customer FROM accounts WHERE program = ?1 AND tier <> ?2 "
       "ORDER BY customer")
PT_SQL(ENTRY_INSERT,
       "INSERT INTO ledger (uuid, program, customer, at, kind, points, "
       "order_ref, source, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
PT_SQL(ENTRY_HAS_REF,
       "SELECT 1 FROM ledger WHERE order_ref = ?3 AND program = ?1 "
       "AND customer = ?2 LIMIT 1")
PT_SQL(ENTRY_LIST,
       "SELECT uuid, program, at, kind, points, order_ref, source, reason "
       "FROM ledger WHERE customer = ?1 AND (?2 IS NULL OR program = ?2) "
       "ORDER BY id")
PT_SQL(LOT_INSERT,
       "INSERT INTO lots (entry_id, program, customer, earned_at, "
       "spendable_at, expires_at, points, left) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
PT_SQL(LOT_SET_LEFT, "UPDATE lots SET left = ?2 WHERE id = ?1")
PT_SQL(LOT_EXPIRE, "UPDATE lots SET expired = expired + left, left = 0 WHERE id = ?1")
/* lots a redemption may use at time ?3: matured and unexpired, soonest
** expiry first (NULL = never expires, last), then oldest */
PT_SQL(LOTS_SPENDABLE,
       "SELECT id, left FROM lots WHERE program = ?1 AND customer = ?2 "
       "AND left > 0 AND spendable_at <= ?3 "
       "AND (expires_at IS NULL OR expires_at > ?3) "
       "ORDER BY expires_at IS NULL, expires_at, id")
/* lots a clawback takes: the points the order itself earned first (not
** the points a refund of it gave back), then pending ones (a refund inside
** the return window cancels them), then the rest */
PT_SQL(LOTS_CLAWBACK,
       "SELECT l.id, l.left FROM lots l JOIN ledger e ON e.id = l.entry_id "
       "WHERE l.program = ?1 AND l.customer = ?2 AND l.left > 0 "
       "ORDER BY (e.order_ref IS NOT ?4 OR e.kind <> 'earn'), "
       "(l.spendable_at <= ?3), l.expires_at IS NULL, l.expires_at, l.id")
PT_SQL(LOTS_SUMS,
       "SELECT coalesce(sum(left) FILTER (WHERE spendable_at <= ?3), 0), "
       "coalesce(sum(left) FILTER (WHERE spendable_at > ?3), 0) "
       "FROM lots WHERE program = ?1 AND customer = ?2 AND left > 0 "
       "AND (expires_at IS NULL OR expires_at > ?3)")
PT_SQL(LOTS_DUE,
       "SELECT id, program, customer, left, earned_at FROM lots "
       "WHERE left > 0 AND expires_at <= ?1 ORDER BY expires_at, id LIMIT 500")
/* expiry notices: by the lots expiring in the notice window
** (lots_expiring), not every open lot of the program (lots_open, which
** the planner would pick for program = ?1) */
PT_SQL(LOTS_NOTICE,
       "SELECT customer, sum(left), min(expires_at) FROM lots INDEXED BY lots_expiring "
       "WHERE left > 0 AND notified = 0 AND program = ?1 "
       "AND expires_at > ?2 AND expires_at <= ?3 "
       "GROUP BY customer ORDER BY customer")
PT_SQL(LOTS_MARK_NOTIFIED,
       "UPDATE lots INDEXED BY lots_expiring SET notified = 1 WHERE left > 0 AND notified = 0 "
       "AND program = ?1 AND expires_at > ?2 AND expires_at <= ?3")
PT_SQL(SPEND_INSERT,
       "INSERT INTO spend (program, customer, at, cents, order_ref) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
PT_SQL(SPEND_SUM,
       "SELECT coalesce(sum(cents), 0) FROM spend WHERE program = ?1 "
       "AND customer = ?2 AND at > ?3 AND at <= ?4")
PT_SQL(TIER_HISTORY_INSERT,
       "INSERT INTO tier_history (program, customer, at, from_tier, to_tier, "
       "spend_cents) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
PT_SQL(VERIFY_ACCOUNTS,
       "SELECT a.program, a.customer, a.points, "
       "(SELECT coalesce(sum(e.points), 0) FROM ledger e "
       " WHERE e.program = a.program AND e.customer = a.customer), "
       "(SELECT coalesce(sum(l.left), 0) FROM lots l "
       " WHERE l.program = a.program AND l.customer = a.customer) "
       "FROM accounts a ORDER BY a.program, a.customer")
