-- 008_catalog_version: a counter that every change to the catalog bumps,
-- so a rule state can keep the catalog rows its plugins look up (by sku,
-- top-N of a category) and know with one read per quote whether they are
-- still current. Triggers, not application code, keep it honest: any
-- writer of the catalog (import today, whatever comes later) bumps it.
CREATE TABLE catalog_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n  INTEGER NOT NULL
) STRICT;
INSERT INTO catalog_version (id, n) VALUES (1, 0);
CREATE TRIGGER catalog_version_insert AFTER INSERT ON catalog
BEGIN UPDATE catalog_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_version_update AFTER UPDATE ON catalog
BEGIN UPDATE catalog_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_version_delete AFTER DELETE ON catalog
BEGIN UPDATE catalog_version SET n = n + 1 WHERE id = 1; END;
