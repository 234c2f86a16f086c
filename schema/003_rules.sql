-- 003_rules: what each rule plugin gave away, per order and in total, so
-- that plugin budgets (cents, points, uses) are enforced at commit and
-- given back by refunds. Written only by commit and refund, inside their
-- transactions (rules.c); quotes only read.

-- One row per (order, plugin) that gave something of value on the order:
-- a discount or free item (cents), bonus points, or a shipping price. The
-- given amounts never change; refunds add to the *_back columns, pro rata
-- to the units refunded (the use comes back with the last unit).
CREATE TABLE rule_usage (
  order_rowid  INTEGER NOT NULL REFERENCES orders (id),
  plugin       TEXT NOT NULL,
  cents        INTEGER NOT NULL CHECK (cents >= 0),
  points       INTEGER NOT NULL CHECK (points >= 0),
  uses         INTEGER NOT NULL CHECK (uses IN (0, 1)),
  cents_back   INTEGER NOT NULL DEFAULT 0 CHECK (cents_back BETWEEN 0 AND cents),
  points_back  INTEGER NOT NULL DEFAULT 0 CHECK (points_back BETWEEN 0 AND points),
  use_back     INTEGER NOT NULL DEFAULT 0 CHECK (use_back BETWEEN 0 AND uses),
  PRIMARY KEY (order_rowid, plugin)
) STRICT;
CREATE INDEX rule_usage_by_plugin ON rule_usage (plugin);

-- Running totals per plugin name (given minus given back), kept equal to
-- the sums over rule_usage in the same transaction, so that reading a
-- budget is one row however many orders there are.
CREATE TABLE rule_totals (
  plugin       TEXT PRIMARY KEY,
  cents        INTEGER NOT NULL DEFAULT 0 CHECK (cents >= 0),
  points       INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
  uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0)
) STRICT;
