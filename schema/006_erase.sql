-- 006_erase: what the right to erasure (erase.c) needs. An erased
-- customer keeps their accounting under a pseudonym ("erased-" and 32 hex
-- digits): the customers row of the pseudonym has no email or birthday and
-- says when it was erased, so that erasing it again is recognised (and
-- harmless). No table maps the old id to the pseudonym: that map would be
-- the personal data the erasure removes.

ALTER TABLE customers ADD COLUMN erased_at INTEGER;  -- NULL: not erased

-- Lots by customer, whatever is left in them (lots_open only holds lots
-- with points left): the erasure renames a customer's lots without
-- scanning the table, and deleting their old accounts finds the lots that
-- still point at them (the foreign key) the same way. On customer alone,
-- so that the queries by program keep the indexes they had.
CREATE INDEX lots_by_customer ON lots (customer);
