-- Room on each page of the record states for one more version of its rows, so the update an
-- incremental pull makes (new hashes and timestamps, same keys) is a HOT update: no new entry in
-- either unique index. On a table bulk-loaded full, each such update wrote both indexes: in psql,
-- upserting 1,000 existing states of a 100,000-row table took 24-31 ms at the default fillfactor
-- (100) and 16-17 ms at 90, every update HOT (2026-12-05). Pages written before this migration
-- keep what they hold; they get the room as they are rewritten.
ALTER TABLE {{schema}}.record_state SET (fillfactor = 90);
