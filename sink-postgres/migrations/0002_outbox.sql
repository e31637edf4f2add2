-- Change capture: an outbox written by a row trigger, read in transaction-id order up to the
-- oldest running transaction (see the crate README). {{schema}} is the quoted state schema,
-- {{schema_lit}} the same name as a string literal, {{fn}} a dollar-quote tag.

CREATE TABLE {{schema}}.outbox (
    txid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    entity      text        NOT NULL,
    key         text        NOT NULL,
    op          "char"      NOT NULL CHECK (op IN ('I', 'U', 'D')),
    captured_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, txid, seq)
);

-- Trigger function: TG_ARGV[0] = entity name, TG_ARGV[1] = key column name.
-- Writes made by the sink itself (pulled changes) set twenty_sync.applying = 'on' and are skipped.
CREATE FUNCTION {{schema}}.capture_change() RETURNS trigger
LANGUAGE plpgsql AS {{fn}}
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF coalesce(current_setting('twenty_sync.applying', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        INSERT INTO {{schema}}.outbox (entity, key, op) VALUES (TG_ARGV[0], old_key, 'D');
    ELSIF TG_OP = 'INSERT' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        INSERT INTO {{schema}}.outbox (entity, key, op) VALUES (TG_ARGV[0], new_key, 'I');
    ELSE
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        IF old_key IS DISTINCT FROM new_key THEN
            INSERT INTO {{schema}}.outbox (entity, key, op) VALUES (TG_ARGV[0], old_key, 'D');
        END IF;
        INSERT INTO {{schema}}.outbox (entity, key, op) VALUES (TG_ARGV[0], new_key, 'U');
    END IF;
    RETURN NULL;
END
{{fn}};

-- Teardown: removes this schema's capture triggers from one table.
CREATE FUNCTION {{schema}}.remove_capture(target regclass) RETURNS integer
LANGUAGE plpgsql AS {{fn}}
DECLARE
    t record;
    n integer := 0;
BEGIN
    FOR t IN
        SELECT tg.tgname
        FROM pg_trigger tg
        JOIN pg_proc p ON p.oid = tg.tgfoid
        JOIN pg_namespace ns ON ns.oid = p.pronamespace
        WHERE tg.tgrelid = target AND p.proname = 'capture_change' AND ns.nspname = {{schema_lit}}
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, target);
        n := n + 1;
    END LOOP;
    RETURN n;
END
{{fn}};

-- Teardown: removes this schema's capture triggers from every table.
CREATE FUNCTION {{schema}}.remove_all_capture() RETURNS integer
LANGUAGE plpgsql AS {{fn}}
DECLARE
    t record;
    n integer := 0;
BEGIN
    FOR t IN
        SELECT DISTINCT tg.tgrelid::regclass AS target
        FROM pg_trigger tg
        JOIN pg_proc p ON p.oid = tg.tgfoid
        JOIN pg_namespace ns ON ns.oid = p.pronamespace
        WHERE p.proname = 'capture_change' AND ns.nspname = {{schema_lit}}
    LOOP
        n := n + {{schema}}.remove_capture(t.target);
    END LOOP;
    RETURN n;
END
{{fn}};
