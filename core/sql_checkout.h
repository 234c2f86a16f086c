/* sql_checkout.h -- the quote pipeline, commit and refund. */
PT_SQL(CATALOG_CATEGORY, "SELECT category FROM catalog WHERE sku = ?1")
PT_SQL(ORDER_FIND,
       "SELECT id, cart, receipt, program, customer, at, points_earned, "
       "redeem_points FROM orders WHERE order_id = ?1")
PT_SQL(ORDER_INSERT,
       "INSERT INTO orders (order_id, program, customer, at, config_version, "
       "cart, receipt, subtotal_cents, discount_cents, shipping_cents, "
       "threshold_cents, redeem_points, redeem_cents, total_cents, "
       "points_earned, tier) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, ?8, ?9, "
       "?10, ?11, ?12, ?13, ?14, ?15)")
PT_SQL(ORDER_SET_RECEIPT, "UPDATE orders SET receipt = ?2 WHERE id = ?1")
PT_SQL(ORDER_LINE_INSERT,
       "INSERT INTO order_lines (order_rowid, line_no, sku, category, qty, "
       "unit_cents, discount_cents, bundled_units, redeem_points, "
       "redeem_cents, points_earned) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
PT_SQL(ORDER_LINES,
       "SELECT line_no, sku, qty, unit_cents, discount_cents, redeem_points, "
       "redeem_cents, points_earned, refunded_qty FROM order_lines "
       "WHERE order_rowid = ?1 ORDER BY line_no")
PT_SQL(ORDER_LINE_REFUND,
       "UPDATE order_lines SET refunded_qty = refunded_qty + ?3 "
       "WHERE order_rowid = ?1 AND line_no = ?2")
PT_SQL(ORDER_ADJ_INSERT,
       "INSERT INTO order_adjustments (order_rowid, kind, source, reason, "
       "cents, points) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
PT_SQL(SUGGESTION_INSERT,
       "INSERT INTO suggestions_shown (order_rowid, customer, sku, at, source) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
PT_SQL(REFUND_INSERT,
       "INSERT INTO refunds (uuid, order_rowid, at, lines, refund_cents, "
       "points_reversed, points_returned, clawback_points) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
/* earned points of an order that expired before it was refunded, and
** earned points already taken back by earlier refunds */
PT_SQL(ORDER_EARN_EXPIRED,
       "SELECT coalesce(sum(l.expired), 0) FROM lots l "
       "JOIN ledger e ON e.id = l.entry_id WHERE e.order_ref = ?1 "
       "AND e.kind = 'earn' AND e.program = ?2 AND e.customer = ?3 "
       "AND l.program = ?2 AND l.customer = ?3")
PT_SQL(ORDER_EARN_REVERSED,
       "SELECT coalesce(-sum(points), 0) FROM ledger WHERE order_ref = ?1 "
       "AND kind = 'reverse' AND points < 0 AND program = ?2 AND customer = ?3")
