-- Crash analysis (issue 30). Symbol files by module and debug id (the blob is stored by
-- content); one analysis per crash (pending until the worker processed it; the result is
-- the `CrashAnalysis` JSON, without any memory of the crashed process); the modules a
-- processed crash had no symbols for, so that their arrival queues it again; crash
-- groups by fingerprint, with the release marked as fixing each.
CREATE TABLE crash_symbols (
    product      TEXT   NOT NULL,
    module       TEXT   NOT NULL,
    debug_id     TEXT   NOT NULL,
    os           TEXT   NOT NULL,
    arch         TEXT   NOT NULL,
    release      TEXT,
    size         BIGINT NOT NULL,
    sha256       TEXT   NOT NULL,
    blob_key     TEXT   NOT NULL,
    uploaded_at  TEXT   NOT NULL,
    uploaded_by  TEXT   NOT NULL,
    PRIMARY KEY (product, module, debug_id)
);

CREATE TABLE crash_analyses (
    product       TEXT   NOT NULL,
    crash_id      TEXT   NOT NULL,
    release       TEXT   NOT NULL,
    platform      TEXT   NOT NULL,
    install_id    TEXT,
    received_at   TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    group_id      TEXT,
    result        TEXT   NOT NULL,
    processed_at  TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (product, crash_id)
);
CREATE INDEX crash_analyses_pending ON crash_analyses (status, received_at);
CREATE INDEX crash_analyses_group ON crash_analyses (product, group_id, release);
CREATE INDEX crash_analyses_release ON crash_analyses (product, release, group_id);

CREATE TABLE crash_missing_symbols (
    product   TEXT NOT NULL,
    module    TEXT NOT NULL,
    debug_id  TEXT NOT NULL,
    crash_id  TEXT NOT NULL,
    PRIMARY KEY (product, module, debug_id, crash_id)
);

CREATE TABLE crash_groups (
    product      TEXT NOT NULL,
    id           TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    signature    TEXT NOT NULL,
    exception    TEXT,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    fixed_in     TEXT,
    PRIMARY KEY (product, id)
);

-- The worker finds crashes not analysed yet by time; only crash rows carry this index.
CREATE INDEX ingest_events_crash_time ON ingest_events (received_at) WHERE kind = 'crash';
