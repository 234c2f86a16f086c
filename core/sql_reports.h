/* sql_reports.h -- the reports module (reports, NPS, abandoned carts,
** simulation). Reports only read, inside one read transaction. The class
** of a ledger entry (REP_POINTS_RAW) is the same expression as the one
** the report_points trigger of schema/005_reports.sql stores. */
PT_SQL(REP_BEGIN_READ, "BEGIN")

/* ---- points (report_points.c) ---- */
PT_SQL(REP_POINTS_FIRST,
       "SELECT min(bucket) FROM report_points WHERE program = ?1")
PT_SQL(REP_POINTS_AGG,
       "SELECT bucket, cls, points, entries FROM report_points "
       "WHERE program = ?1 AND bucket >= ?2 AND bucket < ?3")
PT_SQL(REP_POINTS_RAW,
       "SELECT at, CASE WHEN kind = 'adjust' AND source = 'import' "
       "AND order_ref = 'opening' THEN 'opening' "
       "WHEN kind IN ('adjust', 'reverse') THEN kind || "
       "CASE WHEN points > 0 THEN '+' ELSE '-' END ELSE kind END, points, 1 "
       "FROM ledger WHERE program = ?1 AND at >= ?2 AND at < ?3")
PT_SQL(REP_POINTS_TOTALS,
       "SELECT cls, sum(points) FROM report_points WHERE program = ?1 "
       "AND bucket < ?2 GROUP BY cls")
PT_SQL(REP_COHORT,
       "SELECT bucket, origin, cls, points FROM report_cohort "
       "WHERE program = ?1 AND bucket >= ?2 AND bucket < ?3")
PT_SQL(REP_LOTS_LIABILITY,
       "SELECT coalesce(sum(left), 0), "
       "coalesce(sum(left) FILTER (WHERE spendable_at > ?2), 0), "
       "coalesce(sum(left) FILTER (WHERE expires_at <= ?3), 0), "
       "coalesce(sum(left) FILTER (WHERE expires_at <= ?4), 0), "
       "coalesce(sum(left) FILTER (WHERE expires_at <= ?5), 0), "
       "count(DISTINCT customer) "
       "FROM lots WHERE program = ?1 AND left > 0 "
       "AND (expires_at IS NULL OR expires_at > ?2)")
PT_SQL(REP_LOTS_OVERDUE,
       "SELECT coalesce(sum(left), 0) FROM lots WHERE program = ?1 "
       "AND left > 0 AND expires_at <= ?2")
PT_SQL(REP_CLAWBACKS,
       "SELECT count(*), coalesce(sum(r.clawback_points), 0) FROM refunds r "
       "JOIN orders o ON o.id = r.order_rowid "
       "WHERE o.program = ?1 AND r.clawback_points > 0")
PT_SQL(REP_DEBTS,
       "SELECT count(*), coalesce(sum(points), 0) FROM accounts "
       "WHERE program = ?1 AND points < 0")

/* ---- orders (report_customers.c, report_checkout.c) ---- */
PT_SQL(REP_ORDERS_FIRST, "SELECT min(at) FROM orders WHERE program = ?1")
/* each order of the window with what is left of it after refunds: goods
** after discounts, redeemed points' cents, cost of goods (catalog
** cost_cents), goods without a known cost, units kept; floored per line */
PT_SQL(REP_ORDER_VALUES,
       "SELECT o.id, o.order_id, o.customer, o.at, coalesce(a.tier, ''), "
       "sum((l.qty * l.unit_cents - l.discount_cents) * (l.qty - l.refunded_qty) "
       "/ l.qty), "
       "sum(l.redeem_cents * (l.qty - l.refunded_qty) / l.qty), "
       "sum(coalesce(c.cost_cents, 0) * (l.qty - l.refunded_qty)), "
       "sum(CASE WHEN c.cost_cents IS NULL THEN (l.qty * l.unit_cents - "
       "l.discount_cents) * (l.qty - l.refunded_qty) / l.qty ELSE 0 END), "
       "sum(l.qty - l.refunded_qty) "
       "FROM orders o JOIN order_lines l ON l.order_rowid = o.id "
       "LEFT JOIN catalog c ON c.sku = l.sku "
       "LEFT JOIN accounts a ON a.program = o.program AND a.customer = o.customer "
       "WHERE o.program = ?1 AND o.at >= ?2 AND o.at < ?3 "
       "GROUP BY o.id ORDER BY o.customer, o.at, o.id")
PT_SQL(REP_CUSTOMER_ORDERS,
       "SELECT customer, at FROM orders WHERE program = ?1 "
       "AND customer IS NOT NULL AND at < ?2 ORDER BY customer, at")

/* ---- NPS (nps.c) ---- */
PT_SQL(NPS_INSERT,
       "INSERT INTO nps_answers (customer, at, touchpoint, score, comment) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
PT_SQL(REP_NPS_FIRST, "SELECT min(at) FROM nps_answers")
PT_SQL(REP_NPS,
       "SELECT at, touchpoint, score FROM nps_answers WHERE at >= ?1 AND at < ?2 "
       "AND (?3 IS NULL OR touchpoint = ?3)")

/* ---- checkout reports (report_checkout.c) ---- */
/* suggestions shown, one per (order, sku) */
PT_SQL(REP_SUGGESTIONS,
       "SELECT s.order_rowid, o.order_id, o.customer, s.sku, min(s.at), "
       "min(s.source) FROM suggestions_shown s JOIN orders o ON o.id = s.order_rowid "
       "WHERE o.program = ?1 AND s.at >= ?2 AND s.at < ?3 "
       "GROUP BY s.order_rowid, s.sku ORDER BY min(s.at), s.order_rowid, s.sku")
PT_SQL(REP_LINE_KEPT,
       "SELECT 1 FROM order_lines WHERE order_rowid = ?1 AND sku = ?2 "
       "AND qty > refunded_qty LIMIT 1")
PT_SQL(REP_BOUGHT_LATER,
       "SELECT 1 FROM orders o JOIN order_lines l ON l.order_rowid = o.id "
       "WHERE o.customer = ?1 AND o.program = ?2 AND o.at >= ?3 AND o.at <= ?4 "
       "AND o.id <> ?6 AND l.sku = ?5 AND l.qty > l.refunded_qty LIMIT 1")
PT_SQL(REP_ORDER_LINES,
       "SELECT o.id, o.order_id, o.at, l.sku, l.qty - l.refunded_qty "
       "FROM orders o JOIN order_lines l ON l.order_rowid = o.id "
       "WHERE o.program = ?1 AND o.at >= ?2 AND o.at < ?3 ORDER BY o.id, l.line_no")
PT_SQL(REP_BUNDLE_ADJ,
       "SELECT a.order_rowid, a.source, a.cents FROM order_adjustments a "
       "JOIN orders o ON o.id = a.order_rowid WHERE o.program = ?1 "
       "AND o.at >= ?2 AND o.at < ?3 AND a.kind = 'discount' "
       "AND a.source LIKE 'bundle:%'")
PT_SQL(REP_SHIPPING_ORDERS,
       "SELECT order_id, at, subtotal_cents - discount_cents, threshold_cents, "
       "shipping_cents FROM orders WHERE program = ?1 AND at >= ?2 AND at < ?3")
PT_SQL(REP_NUDGES,
       "SELECT order_id, at, quoted_missing_cents, missing_cents, threshold_cents "
       "FROM report_nudges WHERE program = ?1 AND at >= ?2 AND at < ?3")
PT_SQL(REP_TABLE_EXISTS,
       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")

/* ---- abandoned carts and the contact cap (tracking.c) ---- */
PT_SQL(TRACK_UPSERT,
       "INSERT INTO tracked_carts (customer, program, quoted_at, total_cents, "
       "missing_cents, threshold_cents, skus, cart) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (customer) DO UPDATE "
       "SET program = excluded.program, quoted_at = excluded.quoted_at, "
       "total_cents = excluded.total_cents, missing_cents = excluded.missing_cents, "
       "threshold_cents = excluded.threshold_cents, skus = excluded.skus, "
       "cart = excluded.cart, status = 'open', closed_at = NULL "
       "WHERE excluded.quoted_at >= tracked_carts.quoted_at")
PT_SQL(TRACK_GET,
       "SELECT quoted_at, missing_cents FROM tracked_carts "
       "WHERE customer = ?1 AND quoted_at <= ?2")
PT_SQL(TRACK_DELETE,
       "DELETE FROM tracked_carts WHERE customer = ?1 AND quoted_at <= ?2")
PT_SQL(NUDGE_INSERT,
       "INSERT INTO report_nudges (order_id, program, customer, at, "
       "quoted_missing_cents, missing_cents, threshold_cents) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
PT_SQL(TRACK_DUE,
       "SELECT customer, program, quoted_at, total_cents, skus FROM tracked_carts "
       "WHERE status = 'open' AND quoted_at <= ?1 "
       "ORDER BY quoted_at, customer LIMIT 500")
PT_SQL(TRACK_CLOSE,
       "UPDATE tracked_carts SET status = ?2, closed_at = ?3 WHERE customer = ?1")
PT_SQL(CONTACT_COUNT,
       "SELECT count(*) FROM events WHERE subject = ?1 AND at > ?2 AND at <= ?3 "
       "AND type IN ('cart_abandoned', 'points_expiring', 'win_back')")

/* ---- simulate (simulate.c) ---- */
PT_SQL(SIM_COUNT, "SELECT count(*) FROM orders WHERE at >= ?1 AND at < ?2")
PT_SQL(SIM_ORDERS,
       "SELECT id, order_id, program, customer, at, config_version, cart, "
       "discount_cents, shipping_cents, points_earned, total_cents, redeem_cents "
       "FROM orders WHERE at >= ?1 AND at < ?2 AND (at > ?3 OR (at = ?3 AND id > ?4)) "
       "ORDER BY at, id LIMIT 500")

/* ---- subscriptions (report_checkout.c; tables of schema/004) ---- */
PT_SQL(REP_SUBS_FIRST, "SELECT min(at) FROM subscription_history")
PT_SQL(REP_SUBS_HISTORY,
       "SELECT subscription, at, coalesce(from_status, ''), to_status, reason, "
       "voluntary, mrr_cents, plan FROM subscription_history WHERE at < ?1 "
       "ORDER BY subscription, at, id")
PT_SQL(REP_SUBS_RECOVERED,
       "SELECT answered_at, amount_cents FROM charge_attempts WHERE is_retry = 1 "
       "AND outcome = 'ok' AND answered_at >= ?1 AND answered_at < ?2")
