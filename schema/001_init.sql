-- 001_init: configuration versions, catalog, customers, points ledger,
-- lots for expiry, tier-qualifying spend, tier history and the events
-- outbox. Times are INTEGER seconds since the epoch, UTC. Money and points
-- are INTEGER minor units. The ledger is append-only: corrections are new
-- entries, never updates.

CREATE TABLE config_versions (
  version     INTEGER PRIMARY KEY,
  applied_at  INTEGER NOT NULL,
  source_name TEXT NOT NULL,
  source      TEXT NOT NULL,
  config_json TEXT NOT NULL
) STRICT;

CREATE TABLE catalog (
  sku         TEXT PRIMARY KEY,
  name        TEXT NOT NULL DEFAULT '',
  price_cents INTEGER CHECK (price_cents IS NULL OR price_cents >= 0),
  category    TEXT NOT NULL DEFAULT '',
  popularity  INTEGER NOT NULL DEFAULT 0,
  cost_cents  INTEGER CHECK (cost_cents IS NULL OR cost_cents >= 0),
  tags        TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX catalog_by_category ON catalog (category, popularity DESC, sku);

CREATE TABLE customers (
  id          TEXT PRIMARY KEY,
  email       TEXT,
  birthday    TEXT,
  created_at  INTEGER NOT NULL
) STRICT;

-- One account per (program, customer). points is kept equal to the sum of
-- the account's ledger entries in the same transaction (patron verify
-- rebuilds it). tier is the current tier name ('' if the program has none).
CREATE TABLE accounts (
  program     TEXT NOT NULL,
  customer    TEXT NOT NULL REFERENCES customers (id),
  points      INTEGER NOT NULL DEFAULT 0,
  tier        TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (program, customer)
) STRICT;
CREATE INDEX accounts_by_customer ON accounts (customer);
CREATE INDEX accounts_by_tier ON accounts (program, tier);

CREATE TABLE ledger (
  id          INTEGER PRIMARY KEY,
  uuid        TEXT NOT NULL UNIQUE,
  program     TEXT NOT NULL,
  customer    TEXT NOT NULL,
  at          INTEGER NOT NULL,
  kind        TEXT NOT NULL
              CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'reverse')),
  points      INTEGER NOT NULL,
  order_ref   TEXT,
  source      TEXT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)
) STRICT;
CREATE INDEX ledger_by_account ON ledger (program, customer, id);
CREATE INDEX ledger_by_customer ON ledger (customer, id);
CREATE INDEX ledger_by_order ON ledger (order_ref, program, customer)
  WHERE order_ref IS NOT NULL;
CREATE INDEX ledger_by_time ON ledger (program, at, kind);

-- Points are held in lots, one per positive entry, consumed oldest expiry
-- first. While an account's balance is >= 0 the lots' `left` sum to it;
-- when a clawback takes it below zero all lots are empty and later earns
-- first pay the debt.
CREATE TABLE lots (
  id            INTEGER PRIMARY KEY,
  entry_id      INTEGER NOT NULL REFERENCES ledger (id),
  program       TEXT NOT NULL,
  customer      TEXT NOT NULL,
  earned_at     INTEGER NOT NULL,
  spendable_at  INTEGER NOT NULL,
  expires_at    INTEGER,              -- NULL: never
  points        INTEGER NOT NULL CHECK (points >= 0),
  left          INTEGER NOT NULL CHECK (left >= 0 AND left <= points),
  notified      INTEGER NOT NULL DEFAULT 0 CHECK (notified IN (0, 1)),
  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)
) STRICT;
CREATE INDEX lots_open ON lots (program, customer, expires_at, id) WHERE left > 0;
CREATE INDEX lots_expiring ON lots (expires_at) WHERE left > 0;

-- Tier-qualifying spend, one row per order (or opening balance, refund).
CREATE TABLE spend (
  id          INTEGER PRIMARY KEY,
  program     TEXT NOT NULL,
  customer    TEXT NOT NULL,
  at          INTEGER NOT NULL,
  cents       INTEGER NOT NULL,
  order_ref   TEXT,
  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)
) STRICT;
CREATE INDEX spend_by_account ON spend (program, customer, at);

CREATE TABLE tier_history (
  id          INTEGER PRIMARY KEY,
  program     TEXT NOT NULL,
  customer    TEXT NOT NULL,
  at          INTEGER NOT NULL,
  from_tier   TEXT NOT NULL,
  to_tier     TEXT NOT NULL,
  spend_cents INTEGER NOT NULL,
  FOREIGN KEY (program, customer) REFERENCES accounts (program, customer)
) STRICT;
CREATE INDEX tier_history_by_account ON tier_history (program, customer, at);

-- Outbox drained by the host application (at-least-once delivery).
CREATE TABLE events (
  id            INTEGER PRIMARY KEY,
  uuid          TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,
  at            INTEGER NOT NULL,
  subject       TEXT NOT NULL,
  payload       TEXT NOT NULL,
  delivered_at  INTEGER
) STRICT;
CREATE INDEX events_pending ON events (id) WHERE delivered_at IS NULL;
CREATE INDEX events_by_type ON events (type, id) WHERE delivered_at IS NULL;
