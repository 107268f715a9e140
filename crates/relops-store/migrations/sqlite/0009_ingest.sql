-- Crash and telemetry ingest: what arrives, kept so that release health is a lookup, not a
-- scan of history. Every table is updated incrementally by the ingest transaction.

-- The public, DSN-like key per product (not an admin token).
CREATE TABLE ingest_keys (
    product     TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- Error and crash events by id: a retried envelope is stored once.
CREATE TABLE ingest_events (
    product      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    release      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    install_id   TEXT,
    kind         TEXT NOT NULL, -- error | crash
    code         TEXT,
    received_at  TEXT NOT NULL,
    payload      TEXT NOT NULL,
    PRIMARY KEY (product, event_id)
);

-- The latest state of each session; a status counts once, when the session ends.
CREATE TABLE ingest_sessions (
    product     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    release     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    platform    TEXT NOT NULL,
    install_id  TEXT,
    status      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (product, session_id)
);

-- Ended sessions per release, channel, platform and status.
CREATE TABLE session_counts (
    product   TEXT   NOT NULL,
    release   TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    platform  TEXT   NOT NULL,
    status    TEXT   NOT NULL,
    sessions  BIGINT NOT NULL,
    PRIMARY KEY (product, release, channel, platform, status)
);

-- Each install per release, channel and platform: when it was last seen, and when it
-- last crashed. Active installs = seen in the last 24 h.
CREATE TABLE release_installs (
    product     TEXT NOT NULL,
    release     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    platform    TEXT NOT NULL,
    install_id  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    crashed_at  TEXT,
    PRIMARY KEY (product, release, channel, platform, install_id)
);

-- Error events per code and hour.
CREATE TABLE error_counts (
    product   TEXT   NOT NULL,
    release   TEXT   NOT NULL,
    code      TEXT   NOT NULL,
    hour      TEXT   NOT NULL, -- YYYY-MM-DDTHH
    events    BIGINT NOT NULL,
    PRIMARY KEY (product, release, code, hour)
);

CREATE TABLE memory_warnings (
    product       TEXT   NOT NULL,
    release       TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    platform      TEXT   NOT NULL,
    install_id    TEXT   NOT NULL,
    host_percent  BIGINT NOT NULL,
    received_at   TEXT   NOT NULL
);
CREATE INDEX memory_warnings_release ON memory_warnings (product, release, received_at);
