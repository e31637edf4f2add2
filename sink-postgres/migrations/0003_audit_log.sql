-- The audit log, one row per committed batch of entries (per run and entity) instead of one row
-- per entry: on a full pull the per-entry table's four indexes cost more than the pulled data
-- itself. Each row holds its entries as JSON lines, in the order they were written, and every
-- local key and Twenty id they name, so a lookup by key finds its rows through one GIN index.
-- Entries already in the old table move over (one row each, same order), then it is dropped.

CREATE TABLE {{schema}}.audit_log (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id   text        NOT NULL,
    entity   text        NOT NULL,
    -- Bounds of the entries' `at`, for time filters.
    first_at timestamptz NOT NULL,
    last_at  timestamptz NOT NULL,
    -- Every local key and Twenty id of the entries.
    keys     text[]      NOT NULL,
    -- One AuditEntry as JSON per line.
    entries  text        NOT NULL
);
CREATE INDEX audit_log_run ON {{schema}}.audit_log (run_id);
-- Entries compress with lz4 where the server has it (several times cheaper than the default
-- pglz); a server built without lz4 (or before PostgreSQL 14) keeps the default.
DO {{fn}}
BEGIN
    ALTER TABLE {{schema}}.audit_log ALTER COLUMN entries SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END
{{fn}};
CREATE INDEX audit_log_keys ON {{schema}}.audit_log USING gin (keys);

INSERT INTO {{schema}}.audit_log (run_id, entity, first_at, last_at, keys, entries)
SELECT run_id, entity, at, at,
       array_remove(ARRAY[local_key, twenty_id], NULL),
       entry::text
FROM {{schema}}.audit
ORDER BY id;

DROP TABLE {{schema}}.audit;
