-- 007_lot_expiry: each lot remembers how many of its points expired, so
-- a refund after expiry takes back only what did not expire (the expired
-- part already left the balance once).
ALTER TABLE lots ADD COLUMN expired INTEGER NOT NULL DEFAULT 0 CHECK (expired >= 0);
