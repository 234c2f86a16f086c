/* sql_import.h -- catalog and customers import (import.c). Upserts are an
** insert that does nothing on a key conflict, then an update that only
** touches a row when a given value differs: sqlite3_changes() of each
** tells inserted, updated or unchanged. A NULL parameter means "not given:
** keep the stored value". */
PT_SQL(IMPORT_CATALOG_INSERT,
       "INSERT INTO catalog (sku, name, price_cents, category, popularity, "
       "cost_cents, tags) VALUES (?1, coalesce(?2, ''), ?3, coalesce(?4, ''), "
       "coalesce(?5, 0), ?6, coalesce(?7, '')) ON CONFLICT (sku) DO NOTHING")
PT_SQL(IMPORT_CATALOG_UPDATE,
       "UPDATE catalog SET name = coalesce(?2, name), "
       "price_cents = coalesce(?3, price_cents), "
       "category = coalesce(?4, category), "
       "popularity = coalesce(?5, popularity), "
       "cost_cents = coalesce(?6, cost_cents), tags = coalesce(?7, tags) "
       "WHERE sku = ?1 AND (name IS NOT coalesce(?2, name) "
       "OR price_cents IS NOT coalesce(?3, price_cents) "
       "OR category IS NOT coalesce(?4, category) "
       "OR popularity IS NOT coalesce(?5, popularity) "
       "OR cost_cents IS NOT coalesce(?6, cost_cents) "
       "OR tags IS NOT coalesce(?7, tags))")
PT_SQL(IMPORT_CUSTOMER_INSERT,
       "INSERT INTO customers (id, email, birthday, created_at) "
       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
PT_SQL(IMPORT_CUSTOMER_UPDATE,
       "UPDATE customers SET email = coalesce(?2, email), "
       "birthday = coalesce(?3, birthday) "
       "WHERE id = ?1 AND (email IS NOT coalesce(?2, email) "
       "OR birthday IS NOT coalesce(?3, birthday))")
/* an opening spend already recorded (a spend-only opening has no ledger
** entry for pt_ledger_has_ref to find) */
PT_SQL(IMPORT_OPENING_SPEND,
       "SELECT 1 FROM spend WHERE program = ?1 AND customer = ?2 "
       "AND order_ref = ?3 LIMIT 1")
