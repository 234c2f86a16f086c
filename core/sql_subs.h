/* sql_subs.h -- subscriptions, charge attempts, payment methods and the
** subscription history (schema/004_subscriptions.sql). SUB_INSERT,
** SUB_UPDATE and SUB_GET share one column order (subs.c binds and reads
** them by that order). */
PT_SQL(SUB_INSERT,
       "INSERT INTO subscriptions (id, customer, plan, status, price_cents, "
       "mrr_cents, every, count, created_at, trial_end, anchor_at, period_no, "
       "period_start, period_end, renew_at, cancel_at_period_end, ended_at, "
       "pending_plan, pending_price_cents, pending_every, pending_count, "
       "temp_plan, temp_until, new_price_cents, price_effective_at, "
       "dunning_since, dunning_reason, retries, next_retry_at, awaiting_method, "
       "open_attempt, reminded_for, payment_method) VALUES (?1, ?2, ?3, ?4, ?5, "
       "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
       "?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)")
PT_SQL(SUB_UPDATE,
       "UPDATE subscriptions SET customer = ?2, plan = ?3, status = ?4, "
       "price_cents = ?5, mrr_cents = ?6, every = ?7, count = ?8, "
       "created_at = ?9, trial_end = ?10, anchor_at = ?11, period_no = ?12, "
       "period_start = ?13, period_end = ?14, renew_at = ?15, "
       "cancel_at_period_end = ?16, ended_at = ?17, pending_plan = ?18, "
       "pending_price_cents = ?19, pending_every = ?20, pending_count = ?21, "
       "temp_plan = ?22, temp_until = ?23, new_price_cents = ?24, "
       "price_effective_at = ?25, dunning_since = ?26, dunning_reason = ?27, "
       "retries = ?28, next_retry_at = ?29, awaiting_method = ?30, "
       "open_attempt = ?31, reminded_for = ?32, payment_method = ?33 "
       "WHERE id = ?1")
PT_SQL(SUB_GET,
       "SELECT id, customer, plan, status, price_cents, mrr_cents, every, count, "
       "created_at, trial_end, anchor_at, period_no, period_start, period_end, "
       "renew_at, cancel_at_period_end, ended_at, pending_plan, "
       "pending_price_cents, pending_every, pending_count, temp_plan, "
       "temp_until, new_price_cents, price_effective_at, dunning_since, "
       "dunning_reason, retries, next_retry_at, awaiting_method, open_attempt, "
       "reminded_for, payment_method FROM subscriptions WHERE id = ?1")
PT_SQL(SUB_IDS_CUSTOMER,
       "SELECT id FROM subscriptions WHERE customer = ?1 ORDER BY created_at, id")
PT_SQL(SUB_IDS_PLAN,
       "SELECT id FROM subscriptions WHERE plan = ?1 AND status IN "
       "('trialing', 'active', 'past_due', 'suspended') ORDER BY created_at, id")
/* tick: what is due at ?1 */
PT_SQL(SUB_DUE_TEMP,
       "SELECT id FROM subscriptions WHERE temp_until IS NOT NULL "
       "AND temp_until <= ?1 ORDER BY temp_until, id")
PT_SQL(SUB_DUE_FINAL, /* ?1 = now - grace */
       "SELECT id FROM subscriptions WHERE status = 'past_due' "
       "AND dunning_since <= ?1 ORDER BY dunning_since, id")
PT_SQL(SUB_DUE_RETRY,
       "SELECT id FROM subscriptions WHERE status = 'past_due' "
       "AND awaiting_method = 0 AND open_attempt IS NULL AND next_retry_at <= ?1 "
       "ORDER BY next_retry_at, id")
PT_SQL(SUB_DUE_RENEW,
       "SELECT id FROM subscriptions WHERE status IN ('trialing', 'active') "
       "AND open_attempt IS NULL AND renew_at <= ?1 ORDER BY renew_at, id")
PT_SQL(SUB_DUE_REMIND, /* ?2 = now + the notice days */
       "SELECT id FROM subscriptions WHERE status IN ('trialing', 'active') "
       "AND every = 'year' AND cancel_at_period_end = 0 AND renew_at > ?1 "
       "AND renew_at <= ?2 AND (reminded_for IS NULL OR reminded_for <> renew_at) "
       "ORDER BY renew_at, id")
PT_SQL(SUB_HISTORY_INSERT,
       "INSERT INTO subscription_history (subscription, customer, at, "
       "from_status, to_status, reason, voluntary, plan, price_cents, mrr_cents, "
       "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
PT_SQL(ATTEMPT_INSERT,
       "INSERT INTO charge_attempts (id, subscription, customer, plan, "
       "idempotency_key, seq, kind, is_retry, period_no, period_start, "
       "period_end, amount_cents, requested_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
PT_SQL(ATTEMPT_GET,
       "SELECT id, subscription, plan, idempotency_key, seq, kind, is_retry, "
       "period_no, period_start, period_end, amount_cents, requested_at, "
       "outcome, reason, result FROM charge_attempts WHERE id = ?1")
PT_SQL(ATTEMPT_LAST,
       "SELECT id FROM charge_attempts WHERE subscription = ?1 "
       "ORDER BY rowid DESC LIMIT 1")
PT_SQL(ATTEMPT_SEQ,
       "SELECT count(*) FROM charge_attempts WHERE subscription = ?1 "
       "AND period_start = ?2")
PT_SQL(ATTEMPT_ANSWER,
       "UPDATE charge_attempts SET outcome = ?2, reason = ?3, answered_at = ?4, "
       "result = ?5 WHERE id = ?1 AND outcome IS NULL")
PT_SQL(PM_INSERT,
       "INSERT INTO payment_methods (subscription, customer, token, brand, "
       "last4, exp_month, exp_year, added_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
PT_SQL(PM_GET,
       "SELECT token, brand, last4, exp_month, exp_year, added_at "
       "FROM payment_methods WHERE id = ?1")
