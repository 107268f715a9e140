-- Staged rollouts, rollbacks, incidents and the notification outbox (PostgreSQL).

-- One rollout per release: its bucketing salt and where it stands. Every change is also
-- an audit entry.
CREATE TABLE rollouts (
    product     TEXT   NOT NULL,
    version     TEXT   NOT NULL,
    salt        TEXT   NOT NULL,
    stage       TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    percent     BIGINT NOT NULL, -- basis points: 2500 = 25 %
    since       TEXT   NOT NULL, -- the current stage was entered
    started_at  TEXT   NOT NULL,
    started_by  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL,
    reason      TEXT,            -- of the last halt, forced advance or rollback
    PRIMARY KEY (product, version),
    FOREIGN KEY (product, version) REFERENCES releases (product, version)
);

CREATE TABLE incidents (
    id              TEXT   PRIMARY KEY, -- INC-<seq>
    seq             BIGINT NOT NULL UNIQUE,
    product         TEXT   NOT NULL,
    version         TEXT   NOT NULL,
    severity        TEXT   NOT NULL,
    summary         TEXT   NOT NULL,
    opened_at       TEXT   NOT NULL,
    opened_by       TEXT   NOT NULL,
    postmortem_due  TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    detail          TEXT   NOT NULL  -- JSON: the evidence and what was done
);

-- A rollback directive: installs running any of from_versions go back to to_version.
CREATE TABLE rollbacks (
    incident_id    TEXT PRIMARY KEY REFERENCES incidents (id),
    product        TEXT NOT NULL,
    to_version     TEXT NOT NULL,
    from_versions  TEXT NOT NULL, -- JSON list
    reason         TEXT NOT NULL,
    severity       TEXT NOT NULL,
    next_fix       TEXT,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);

-- The outbox: one row per message and destination, written in the same transaction as the
-- change it reports, delivered until a 2xx.
CREATE TABLE notifications (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       TEXT   NOT NULL,
    event            TEXT   NOT NULL,
    product          TEXT   NOT NULL,
    version          TEXT   NOT NULL,
    sink             TEXT   NOT NULL,
    kind             TEXT   NOT NULL,
    url              TEXT   NOT NULL,
    payload          TEXT   NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT   NOT NULL,
    delivered_at     TEXT,
    last_error       TEXT
);
CREATE INDEX notifications_due ON notifications (delivered_at, next_attempt_at);
