-- 002_orders: committed orders, their lines, the adjustments that priced
-- them, the suggestions shown at checkout, and refunds. An order keeps the
-- canonical cart it was committed with (idempotency by order_id) and the
-- exact receipt returned, so a retry gets the same bytes back.

CREATE TABLE orders (
  id              INTEGER PRIMARY KEY,
  order_id        TEXT NOT NULL UNIQUE,
  program         TEXT NOT NULL,
  customer        TEXT REFERENCES customers (id),  -- NULL: anonymous
  at              INTEGER NOT NULL,
  config_version  INTEGER NOT NULL REFERENCES config_versions (version),
  cart            TEXT NOT NULL,
  receipt         TEXT NOT NULL,
  subtotal_cents  INTEGER NOT NULL CHECK (subtotal_cents >= 0),
  discount_cents  INTEGER NOT NULL CHECK (discount_cents >= 0),
  shipping_cents  INTEGER NOT NULL CHECK (shipping_cents >= 0),
  threshold_cents INTEGER,                          -- NULL: no rule
  redeem_points   INTEGER NOT NULL CHECK (redeem_points >= 0),
  redeem_cents    INTEGER NOT NULL CHECK (redeem_cents >= 0),
  total_cents     INTEGER NOT NULL CHECK (total_cents >= 0),
  points_earned   INTEGER NOT NULL CHECK (points_earned >= 0),
  tier            TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX orders_by_customer ON orders (customer, at);
CREATE INDEX orders_by_time ON orders (program, at);

-- Each line keeps its share of every amount so a refund can unwind it:
-- discount, money paid, points redeemed on it and points earned by it.
CREATE TABLE order_lines (
  order_rowid     INTEGER NOT NULL REFERENCES orders (id),
  line_no         INTEGER NOT NULL,
  sku             TEXT NOT NULL,
  category        TEXT NOT NULL DEFAULT '',
  qty             INTEGER NOT NULL CHECK (qty > 0),
  unit_cents      INTEGER NOT NULL CHECK (unit_cents >= 0),
  discount_cents  INTEGER NOT NULL CHECK (discount_cents >= 0),
  bundled_units   INTEGER NOT NULL DEFAULT 0,
  redeem_points   INTEGER NOT NULL DEFAULT 0,
  redeem_cents    INTEGER NOT NULL DEFAULT 0,
  points_earned   INTEGER NOT NULL DEFAULT 0,
  refunded_qty    INTEGER NOT NULL DEFAULT 0 CHECK (refunded_qty <= qty),
  PRIMARY KEY (order_rowid, line_no)
) STRICT;
CREATE INDEX order_lines_by_sku ON order_lines (sku);

-- Discounts, shipping and bonus points by source (bundle:x, plugin:x).
CREATE TABLE order_adjustments (
  id              INTEGER PRIMARY KEY,
  order_rowid     INTEGER NOT NULL REFERENCES orders (id),
  kind            TEXT NOT NULL CHECK (kind IN ('discount', 'bonus', 'shipping')),
  source          TEXT NOT NULL,
  reason          TEXT NOT NULL DEFAULT '',
  cents           INTEGER NOT NULL DEFAULT 0,
  points          INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX order_adjustments_by_order ON order_adjustments (order_rowid);
CREATE INDEX order_adjustments_by_source ON order_adjustments (source);

CREATE TABLE suggestions_shown (
  id              INTEGER PRIMARY KEY,
  order_rowid     INTEGER NOT NULL REFERENCES orders (id),
  customer        TEXT,
  sku             TEXT NOT NULL,
  at              INTEGER NOT NULL,
  source          TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX suggestions_by_customer ON suggestions_shown (customer, at);

CREATE TABLE refunds (
  id              INTEGER PRIMARY KEY,
  uuid            TEXT NOT NULL UNIQUE,
  order_rowid     INTEGER NOT NULL REFERENCES orders (id),
  at              INTEGER NOT NULL,
  lines           TEXT NOT NULL,                  -- JSON: what was refunded
  refund_cents    INTEGER NOT NULL,
  points_reversed INTEGER NOT NULL,               -- earned points taken back
  points_returned INTEGER NOT NULL,               -- redeemed points given back
  clawback_points INTEGER NOT NULL DEFAULT 0      -- balance taken below zero
) STRICT;
CREATE INDEX refunds_by_order ON refunds (order_rowid);
