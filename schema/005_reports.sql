-- 005_reports: what the reports module keeps: NPS answers, the open
-- (tracked) cart of each customer for abandoned-cart events, the
-- free-shipping nudges seen between a tracked quote and its commit, and
-- the aggregates that keep the points reports fast on large ledgers.
--
-- The aggregates are kept by triggers in the same transaction as the
-- ledger rows they summarise, so they can never disagree with the ledger
-- and any writer (patron, an import, a replay) keeps them up to date.
-- Times are bucketed by 15 minutes of UTC (at - at % 900): every real time
-- zone offset is a multiple of 15 minutes, so a local month or week is a
-- whole number of buckets.

CREATE TABLE nps_answers (
  id          INTEGER PRIMARY KEY,
  customer    TEXT NOT NULL REFERENCES customers (id),
  at          INTEGER NOT NULL,
  touchpoint  TEXT NOT NULL
              CHECK (touchpoint IN ('onboarding', 'support', 'renewal', 'review')),
  score       INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
  comment     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX nps_by_time ON nps_answers (at);

-- The last cart quoted with "track": true, one per customer; a commit
-- removes it, tick marks it abandoned (emitted) or capped (held back by
-- the contact cap) once. A new tracked quote reopens it.
CREATE TABLE tracked_carts (
  customer        TEXT PRIMARY KEY,
  program         TEXT NOT NULL,
  quoted_at       INTEGER NOT NULL,
  total_cents     INTEGER NOT NULL,
  missing_cents   INTEGER NOT NULL DEFAULT 0,  -- free-shipping nudge shown
  threshold_cents INTEGER,
  skus            TEXT NOT NULL,               -- JSON array
  cart            TEXT NOT NULL,               -- canonical cart
  status          TEXT NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'abandoned', 'capped')),
  closed_at       INTEGER
) STRICT;
CREATE INDEX tracked_carts_open ON tracked_carts (quoted_at) WHERE status = 'open';

-- A commit that followed a tracked quote: what the quote's nudge said and
-- whether the order reached the threshold.
CREATE TABLE report_nudges (
  id              INTEGER PRIMARY KEY,
  order_id        TEXT NOT NULL,
  program         TEXT NOT NULL,
  customer        TEXT NOT NULL,
  at              INTEGER NOT NULL,
  quoted_missing_cents INTEGER NOT NULL,
  missing_cents   INTEGER NOT NULL,
  threshold_cents INTEGER
) STRICT;
CREATE INDEX report_nudges_by_time ON report_nudges (program, at);

-- The contact cap counts a customer's recent events.
CREATE INDEX events_by_subject ON events (subject, at);
CREATE INDEX suggestions_by_time ON suggestions_shown (at);
CREATE INDEX order_adjustments_by_kind ON order_adjustments (kind, source, order_rowid);

-- Points by 15-minute bucket and class: earn, redeem, expire, opening
-- (imported opening balances), adjust+ / adjust-, reverse+ (redeemed
-- points given back by a refund) / reverse- (earned points taken back).
CREATE TABLE report_points (
  program     TEXT NOT NULL,
  bucket      INTEGER NOT NULL,
  cls         TEXT NOT NULL,
  points      INTEGER NOT NULL,
  entries     INTEGER NOT NULL,
  PRIMARY KEY (program, bucket, cls)
) STRICT, WITHOUT ROWID;

-- Issue cohorts: points put into lots in each bucket by origin (issued:
-- earned or adjusted in; opening; returned: redeemed points given back),
-- and what later consumed them, by the ledger kind that did (redeem,
-- expire, reverse = refund clawback, adjust = negative adjustment) or
-- debt (a new lot paying a negative balance off at once).
CREATE TABLE report_cohort (
  program     TEXT NOT NULL,
  bucket      INTEGER NOT NULL,
  origin      TEXT NOT NULL,
  cls         TEXT NOT NULL,
  points      INTEGER NOT NULL,
  PRIMARY KEY (program, bucket, origin, cls)
) STRICT, WITHOUT ROWID;

-- Lot consumption not yet attributed: the ledger module takes points out
-- of lots first and writes the entry that took them right after, in the
-- same transaction; the entry's trigger attributes and clears these rows.
CREATE TABLE report_lot_use (
  id          INTEGER PRIMARY KEY,
  program     TEXT NOT NULL,
  customer    TEXT NOT NULL,
  bucket      INTEGER NOT NULL,
  origin      TEXT NOT NULL,
  points      INTEGER NOT NULL
) STRICT;
CREATE INDEX report_lot_use_by_account ON report_lot_use (program, customer);

CREATE TRIGGER report_ledger_points AFTER INSERT ON ledger BEGIN
  INSERT INTO report_points (program, bucket, cls, points, entries)
  VALUES (NEW.program, NEW.at - NEW.at % 900,
          CASE WHEN NEW.kind = 'adjust' AND NEW.source = 'import'
                    AND NEW.order_ref = 'opening' THEN 'opening'
               WHEN NEW.kind IN ('adjust', 'reverse')
                    THEN NEW.kind || CASE WHEN NEW.points > 0 THEN '+' ELSE '-' END
               ELSE NEW.kind END,
          NEW.points, 1)
  ON CONFLICT (program, bucket, cls) DO UPDATE
    SET points = points + excluded.points, entries = entries + 1;
END;

CREATE TRIGGER report_ledger_use AFTER INSERT ON ledger WHEN NEW.points < 0 BEGIN
  INSERT INTO report_cohort (program, bucket, origin, cls, points)
  SELECT program, bucket, origin, NEW.kind, sum(points) FROM report_lot_use
  WHERE program = NEW.program AND customer = NEW.customer
  GROUP BY bucket, origin
  ON CONFLICT (program, bucket, origin, cls) DO UPDATE
    SET points = points + excluded.points;
  DELETE FROM report_lot_use WHERE program = NEW.program AND customer = NEW.customer;
END;

CREATE TRIGGER report_lot_issue AFTER INSERT ON lots BEGIN
  INSERT INTO report_cohort (program, bucket, origin, cls, points)
  SELECT NEW.program, NEW.earned_at - NEW.earned_at % 900,
         CASE WHEN e.kind = 'reverse' THEN 'returned'
              WHEN e.kind = 'adjust' AND e.source = 'import' AND e.order_ref = 'opening'
                   THEN 'opening'
              ELSE 'issued' END,
         v.cls, v.points
  FROM ledger e,
       (SELECT 'issued' AS cls, NEW.points AS points
        UNION ALL SELECT 'debt', NEW.points - NEW.left WHERE NEW.left < NEW.points) v
  WHERE e.id = NEW.entry_id
  ON CONFLICT (program, bucket, origin, cls) DO UPDATE
    SET points = points + excluded.points;
END;

CREATE TRIGGER report_lot_use AFTER UPDATE OF left ON lots
WHEN NEW.left < OLD.left BEGIN
  INSERT INTO report_lot_use (program, customer, bucket, origin, points)
  SELECT NEW.program, NEW.customer, NEW.earned_at - NEW.earned_at % 900,
         CASE WHEN e.kind = 'reverse' THEN 'returned'
              WHEN e.kind = 'adjust' AND e.source = 'import' AND e.order_ref = 'opening'
                   THEN 'opening'
              ELSE 'issued' END,
         OLD.left - NEW.left
  FROM ledger e WHERE e.id = NEW.entry_id;
END;

-- Databases that already hold a ledger: the aggregates from what is there.
-- What consumed a lot before this migration is not recorded; it is
-- attributed as 'before' (shown as such by the cohort view).
INSERT INTO report_points (program, bucket, cls, points, entries)
SELECT program, at - at % 900,
       CASE WHEN kind = 'adjust' AND source = 'import' AND order_ref = 'opening' THEN 'opening'
            WHEN kind IN ('adjust', 'reverse')
                 THEN kind || CASE WHEN points > 0 THEN '+' ELSE '-' END
            ELSE kind END AS c,
       sum(points), count(*)
FROM ledger GROUP BY program, at - at % 900, c;

INSERT INTO report_cohort (program, bucket, origin, cls, points)
SELECT l.program, l.earned_at - l.earned_at % 900,
       CASE WHEN e.kind = 'reverse' THEN 'returned'
            WHEN e.kind = 'adjust' AND e.source = 'import' AND e.order_ref = 'opening'
                 THEN 'opening'
            ELSE 'issued' END AS o,
       v.cls, sum(CASE v.cls WHEN 'issued' THEN l.points ELSE l.points - l.left END)
FROM lots l JOIN ledger e ON e.id = l.entry_id,
     (SELECT 'issued' AS cls UNION ALL SELECT 'before') v
GROUP BY l.program, l.earned_at - l.earned_at % 900, o, v.cls
HAVING sum(CASE v.cls WHEN 'issued' THEN l.points ELSE l.points - l.left END) <> 0;
