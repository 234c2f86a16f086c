-- 004_subscriptions: subscriptions, their charge attempts, their payment
-- methods (processor tokens only) and their history. patron never charges
-- a card: it asks the host through charge_requested events and records the
-- answers here. Times are INTEGER seconds since the epoch, UTC; money is
-- INTEGER cents.
--
-- subscriptions        one row per subscription, its current state. The
--                      price it was sold at is locked in price_cents
--                      (grandfathering); mrr_cents is that price as a monthly
--                      amount (floor(price * 12 / periods per year) for
--                      month/year/week/day plans, divided by count).
--                      Paid periods are computed from anchor_at: period k is
--                      [anchor + k*count*every, anchor + (k+1)*count*every)
--                      (months clamp to the month's last day, always counted
--                      from the anchor, so a 31st start comes back to the
--                      31st); period_no is the last paid one (-1: none yet),
--                      renew_at the start of the next unpaid one.
-- charge_attempts      every charge patron asked for: amount, the period it
--                      pays, kind (first_period, trial_end, renewal, upgrade,
--                      retry), is_retry = 1 for dunning retries (scheduled or
--                      after a payment-method update), the host's answer
--                      (outcome ok|failed, reason, answered_at) and the
--                      result returned (so the same answer twice returns
--                      the same bytes).
-- payment_methods      token, brand, last4, expiry of each method a
--                      subscription was given; never a card number.
-- subscription_history append-only: one row per lifecycle step (created,
--                      status change, plan or price change), with the status
--                      before and after, a reason, the plan and price after,
--                      and for endings voluntary = 1 (the customer cancelled)
--                      or 0 (dunning suspended or cancelled it).
--
-- What the subscription report reads:
--   active at T: the last history row at or before T per subscription has
--     to_status IN ('active', 'past_due'); MRR = sum of its mrr_cents.
--   new in [F, T): history rows with reason 'created' in the period.
--   churned in [F, T): rows entering 'canceled', 'expired' or 'suspended';
--     voluntary = 1 (customer) vs 0 (dunning: involuntary).
--   dunning recovery: subscriptions with a row entering 'past_due' and a
--     later row with reason 'recovered'; rate = recovered / entered
--     dunning; revenue recovered = sum(amount_cents) of charge_attempts
--     with is_retry = 1 AND outcome = 'ok'.

CREATE TABLE subscriptions (
  id                  TEXT PRIMARY KEY,            -- "sub_" + 32 hex digits
  customer            TEXT NOT NULL REFERENCES customers (id),
  plan                TEXT NOT NULL,               -- the plan billed
  status              TEXT NOT NULL CHECK (status IN ('trialing', 'active',
                        'past_due', 'suspended', 'canceled', 'expired')),
  price_cents         INTEGER NOT NULL CHECK (price_cents >= 0),  -- locked
  mrr_cents           INTEGER NOT NULL CHECK (mrr_cents >= 0),
  every               TEXT NOT NULL CHECK (every IN ('day', 'week', 'month', 'year')),
  count               INTEGER NOT NULL CHECK (count >= 1),
  created_at          INTEGER NOT NULL,
  trial_end           INTEGER,                     -- NULL: no trial
  anchor_at           INTEGER NOT NULL,
  period_no           INTEGER NOT NULL,
  period_start        INTEGER NOT NULL,            -- current service period
  period_end          INTEGER NOT NULL,
  renew_at            INTEGER NOT NULL,
  cancel_at_period_end INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
  ended_at            INTEGER,                     -- canceled or expired
  -- a downgrade or a converted temporary upgrade, applied at renew_at
  pending_plan        TEXT,
  pending_price_cents INTEGER CHECK (pending_price_cents >= 0),
  pending_every       TEXT,
  pending_count       INTEGER,
  -- a temporary upgrade: access to temp_plan until temp_until (NULL once
  -- converted: it stays until pending_plan takes over at renewal)
  temp_plan           TEXT,
  temp_until          INTEGER,
  -- a price migration announced by price_change_notice
  new_price_cents     INTEGER CHECK (new_price_cents >= 0),
  price_effective_at  INTEGER,
  -- dunning: since the first failed charge of the period
  dunning_since       INTEGER,
  dunning_reason      TEXT,
  retries             INTEGER NOT NULL DEFAULT 0,  -- scheduled retries made
  next_retry_at       INTEGER,
  awaiting_method     INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_method IN (0, 1)),
  open_attempt        TEXT,                        -- unanswered charge
  reminded_for        INTEGER,                     -- renew_at of the last reminder
  payment_method      INTEGER REFERENCES payment_methods (id)
) STRICT;
CREATE INDEX subscriptions_by_customer ON subscriptions (customer, created_at);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan, status);
CREATE INDEX subscriptions_renew ON subscriptions (renew_at)
  WHERE status IN ('trialing', 'active');
CREATE INDEX subscriptions_dunning ON subscriptions (dunning_since)
  WHERE status = 'past_due';
CREATE INDEX subscriptions_temp ON subscriptions (temp_until)
  WHERE temp_until IS NOT NULL;

CREATE TABLE payment_methods (
  id              INTEGER PRIMARY KEY,
  subscription    TEXT NOT NULL,
  customer        TEXT NOT NULL REFERENCES customers (id),
  token           TEXT NOT NULL,
  brand           TEXT NOT NULL,
  last4           TEXT NOT NULL CHECK (length(last4) = 4 AND last4 NOT GLOB '*[^0-9]*'),
  exp_month       INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
  exp_year        INTEGER NOT NULL,
  added_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX payment_methods_by_subscription ON payment_methods (subscription, id);

CREATE TABLE charge_attempts (
  id              TEXT PRIMARY KEY,                -- uuid
  subscription    TEXT NOT NULL REFERENCES subscriptions (id),
  customer        TEXT NOT NULL,
  plan            TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,            -- sub:period start:n
  seq             INTEGER NOT NULL CHECK (seq >= 1), -- attempt n of the period
  kind            TEXT NOT NULL CHECK (kind IN ('first_period', 'trial_end',
                    'renewal', 'upgrade', 'retry')),
  is_retry        INTEGER NOT NULL CHECK (is_retry IN (0, 1)),
  period_no       INTEGER NOT NULL,
  period_start    INTEGER NOT NULL,
  period_end      INTEGER NOT NULL,
  amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
  requested_at    INTEGER NOT NULL,
  outcome         TEXT CHECK (outcome IN ('ok', 'failed')),  -- NULL: open
  reason          TEXT,                            -- failure reason
  answered_at     INTEGER,
  result          TEXT                             -- JSON returned
) STRICT;
CREATE INDEX charge_attempts_by_subscription ON charge_attempts (subscription, period_start, seq);
CREATE INDEX charge_attempts_by_time ON charge_attempts (requested_at);

CREATE TABLE subscription_history (
  id              INTEGER PRIMARY KEY,
  subscription    TEXT NOT NULL REFERENCES subscriptions (id),
  customer        TEXT NOT NULL,
  at              INTEGER NOT NULL,
  from_status     TEXT,                            -- NULL on creation
  to_status       TEXT NOT NULL,
  -- status changes: created (from NULL), charge_ok (trialing -> active),
  -- charge_failed (-> past_due), recovered (past_due/suspended -> active),
  -- dunning_suspend, dunning_cancel (voluntary 0), customer_cancel,
  -- period_end (-> expired; voluntary 1); same status: plan_changed,
  -- change_scheduled, price_change_notice, price_changed, cancel_scheduled,
  -- temp_upgrade, temp_upgrade_ended, temp_upgrade_converted, refund_due
  reason          TEXT NOT NULL,
  voluntary       INTEGER CHECK (voluntary IN (0, 1)),  -- endings only
  plan            TEXT NOT NULL,
  price_cents     INTEGER NOT NULL,
  mrr_cents       INTEGER NOT NULL,
  detail          TEXT NOT NULL DEFAULT '{}'       -- JSON
) STRICT;
CREATE INDEX subscription_history_by_sub ON subscription_history (subscription, id);
CREATE INDEX subscription_history_by_time ON subscription_history (at, to_status);
