/* sql_script.h -- the rule runtime (script.c: views plugins read) and the
** plugin budgets (rules.c: schema/003_rules.sql). */
/* ctx.customer, read lazily: orders and spend in the cart's program */
PT_SQL(SCRIPT_CUSTOMER_ORDERS,
       "SELECT count(*), min(at), max(at) FROM orders "
       "WHERE customer = ?1 AND program = ?2")
PT_SQL(SCRIPT_CUSTOMER_LIFETIME,
       "SELECT coalesce(sum(cents), 0) FROM spend "
       "WHERE program = ?1 AND customer = ?2")
PT_SQL(SCRIPT_CUSTOMER_BIRTHDAY, "SELECT birthday FROM customers WHERE id = ?1")
PT_SQL(SCRIPT_BOUGHT_SKU,
       "SELECT 1 FROM orders o JOIN order_lines l ON l.order_rowid = o.id "
       "WHERE o.customer = ?1 AND l.sku = ?2 LIMIT 1")
PT_SQL(SCRIPT_BOUGHT_CATEGORY,
       "SELECT 1 FROM orders o JOIN order_lines l ON l.order_rowid = o.id "
       "WHERE o.customer = ?1 AND l.category = ?2 LIMIT 1")
/* suggested at or after ?3 and not bought since */
PT_SQL(SCRIPT_DECLINED,
       "SELECT 1 FROM suggestions_shown s WHERE s.customer = ?1 AND s.sku = ?2 "
       "AND s.at >= ?3 AND NOT EXISTS (SELECT 1 FROM orders o "
       "JOIN order_lines l ON l.order_rowid = o.id WHERE o.customer = ?1 "
       "AND l.sku = ?2 AND o.at >= s.at) LIMIT 1")
/* ctx.catalog */
PT_SQL(SCRIPT_CATALOG_GET,
       "SELECT sku, name, price_cents, category, popularity, tags FROM catalog "
       "WHERE sku = ?1")
PT_SQL(SCRIPT_CATALOG_TOP,
       "SELECT sku, name, price_cents, category, popularity, tags FROM catalog "
       "WHERE category = ?1 ORDER BY popularity DESC, sku LIMIT ?2")
/* bumped by triggers on every catalog change (schema 008) */
PT_SQL(SCRIPT_CATALOG_VERSION, "SELECT n FROM catalog_version WHERE id = 1")
/* budgets */
PT_SQL(RULE_TOTALS_GET,
       "SELECT cents, points, uses FROM rule_totals WHERE plugin = ?1")
PT_SQL(RULE_TOTALS_ADD,
       "INSERT INTO rule_totals (plugin, cents, points, uses) "
       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (plugin) DO UPDATE SET "
       "cents = cents + excluded.cents, points = points + excluded.points, "
       "uses = uses + excluded.uses")
PT_SQL(RULE_TOTALS_GIVE_BACK,
       "UPDATE rule_totals SET cents = cents - ?2, points = points - ?3, "
       "uses = uses - ?4 WHERE plugin = ?1")
PT_SQL(RULE_USAGE_INSERT,
       "INSERT INTO rule_usage (order_rowid, plugin, cents, points, uses) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
PT_SQL(RULE_USAGE_OF_ORDER,
       "SELECT plugin, cents, points, uses, use_back FROM rule_usage "
       "WHERE order_rowid = ?1 ORDER BY plugin")
PT_SQL(RULE_USAGE_GIVE_BACK,
       "UPDATE rule_usage SET cents_back = cents_back + ?3, "
       "points_back = points_back + ?4, use_back = use_back + ?5 "
       "WHERE order_rowid = ?1 AND plugin = ?2")
PT_SQL(SCRIPT_CUSTOMER_SUBS,
       "SELECT plan, status FROM subscriptions WHERE customer = ?1 "
       "ORDER BY created_at, id LIMIT 20")
