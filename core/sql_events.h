/* sql_events.h -- the events outbox. */
PT_SQL(EVENT_INSERT,
       "INSERT INTO events (uuid, type, at, subject, payload) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
PT_SQL(EVENT_PULL,
       "SELECT id, uuid, type, at, subject, payload FROM events "
       "WHERE delivered_at IS NULL AND (?1 IS NULL OR type = ?1) "
       "ORDER BY id LIMIT ?2")
PT_SQL(EVENT_ACK,
       "UPDATE events SET delivered_at = coalesce(delivered_at, ?2) "
       "WHERE id = ?1")
