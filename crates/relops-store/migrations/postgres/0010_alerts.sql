-- Alerts (one row per episode of a rule on a release) and the decision and post-mortem of
-- incidents (issue 6). The same statements serve SQLite and PostgreSQL.

CREATE TABLE alerts (
    id           TEXT   PRIMARY KEY, -- ALR-<seq>
    seq          BIGINT NOT NULL UNIQUE,
    product      TEXT   NOT NULL,
    release      TEXT   NOT NULL,
    rule         TEXT   NOT NULL,    -- crash_rate | critical_failure | error_code | memory
    rule_key     TEXT   NOT NULL,    -- the error code, or ''
    severity     TEXT   NOT NULL,
    summary      TEXT   NOT NULL,
    evidence     TEXT   NOT NULL,    -- JSON: the figures when it fired
    actions      TEXT   NOT NULL,    -- JSON list: what relops did about it
    follow_up    TEXT,               -- JSON: hotfix planning item or known-issue draft
    incident_id  TEXT,
    status       TEXT   NOT NULL,    -- firing | acknowledged | resolved
    -- product/release/rule/key while the episode lasts, NULL once resolved: at most one
    -- open episode per rule and release, whoever tries to open a second.
    open_key     TEXT   UNIQUE,
    fired_at     TEXT   NOT NULL,
    acked_at     TEXT,
    acked_by     TEXT,
    ack_note     TEXT,
    resolved_at  TEXT
);
CREATE INDEX alerts_by_product ON alerts (product, seq);

ALTER TABLE incidents ADD COLUMN decision TEXT;      -- JSON: action, note, evidence shown
ALTER TABLE incidents ADD COLUMN decided_at TEXT;
ALTER TABLE incidents ADD COLUMN decided_by TEXT;
ALTER TABLE incidents ADD COLUMN postmortem TEXT;    -- Markdown
ALTER TABLE incidents ADD COLUMN postmortem_at TEXT;
ALTER TABLE incidents ADD COLUMN postmortem_by TEXT;
ALTER TABLE incidents ADD COLUMN overdue_notified_at TEXT;

-- The critical-failure rule that classed a crash (crash on start, …), so that the health
-- engine can rebuild its 24-hour view after a restart.
ALTER TABLE ingest_events ADD COLUMN critical TEXT;
