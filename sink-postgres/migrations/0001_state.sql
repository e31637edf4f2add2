-- twenty-sync state: ID map + per-record sync state, cursors, pending creates, runs, audit, leases.
-- {{schema}} is replaced by the quoted state schema name.

CREATE TABLE {{schema}}.record_state (
    entity            text        NOT NULL,
    local_key         text        NOT NULL,
    twenty_id         text        NOT NULL,
    twenty_hash       text,
    local_hash        text,
    twenty_updated_at timestamptz,
    local_updated_at  timestamptz,
    deleted           boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, local_key),
    -- One Twenty id maps to one local key. Checked at the end of each statement, so a commit may
    -- move ids between keys.
    CONSTRAINT record_state_one_key_per_twenty_id UNIQUE (entity, twenty_id)
        DEFERRABLE INITIALLY IMMEDIATE
);

CREATE TABLE {{schema}}.cursors (
    entity     text        NOT NULL,
    direction  text        NOT NULL CHECK (direction IN ('pull', 'push')),
    checkpoint text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, direction)
);

CREATE TABLE {{schema}}.pending_creates (
    entity     text        NOT NULL,
    local_key  text        NOT NULL,
    twenty_id  text        NOT NULL,
    run_id     text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (entity, local_key)
);

CREATE TABLE {{schema}}.runs (
    run_id     text        PRIMARY KEY,
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    started_at timestamptz NOT NULL,
    status     text        NOT NULL,
    report     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_newest ON {{schema}}.runs (started_at DESC, seq DESC);

CREATE TABLE {{schema}}.audit (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id    text        NOT NULL,
    at        timestamptz NOT NULL,
    entity    text        NOT NULL,
    direction text        NOT NULL,
    local_key text,
    twenty_id text,
    action    text        NOT NULL,
    entry     jsonb       NOT NULL
);
CREATE INDEX audit_run ON {{schema}}.audit (run_id);
CREATE INDEX audit_entity_key ON {{schema}}.audit (entity, local_key);
CREATE INDEX audit_twenty_id ON {{schema}}.audit (twenty_id);

CREATE TABLE {{schema}}.leases (
    scope      text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    token      bigint      NOT NULL
);
