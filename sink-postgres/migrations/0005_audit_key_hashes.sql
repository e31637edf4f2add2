-- The audit log finds a key's rows through a GIN index of 64-bit hashes of the keys instead of the
-- keys themselves. A full pull writes one audit row per batch naming every local key and Twenty id
-- of the batch (4,000 per 2,000 records); indexing them as text cost the server more than the
-- batch's data rows. In psql, 50 rows of 4,000 keys: 375-693 ms into a GIN of text[], 77-316 ms
-- into a GIN of int8[] (2026-12-05). A lookup probes the hash of its key and then matches each
-- entry of the rows found exactly, so a collision costs one more row read, never a wrong answer.
--
-- The hash is PostgreSQL's own `hashtextextended(key COLLATE "C", 0)`, computed by the server on
-- insert and on lookup, so it is the same function everywhere it is used. It is the function
-- hash partitioning relies on; a dump restored on a server of the other byte order would need
-- `UPDATE audit_log SET key_hashes = ...` as below (nothing else changes).
ALTER TABLE {{schema}}.audit_log ADD COLUMN key_hashes bigint[];
UPDATE {{schema}}.audit_log
   SET key_hashes = ARRAY(SELECT hashtextextended(k COLLATE "C", 0) FROM unnest(keys) AS k);
ALTER TABLE {{schema}}.audit_log ALTER COLUMN key_hashes SET NOT NULL;
DROP INDEX {{schema}}.audit_log_keys;
ALTER TABLE {{schema}}.audit_log DROP COLUMN keys;
CREATE INDEX audit_log_key_hashes ON {{schema}}.audit_log USING gin (key_hashes);
