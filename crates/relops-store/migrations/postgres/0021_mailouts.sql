-- Major-incident mail-outs (issue 25): who opted in to them, who opted out, and which
-- recipient each mail-out has queued — one row per recipient, so that running a mail-out
-- again reaches only those it has not reached yet.
CREATE TABLE support_subscribers (
    product          TEXT NOT NULL,
    email            TEXT NOT NULL,
    name             TEXT,
    -- Opted in (with how they agreed, as a support lead recorded it) …
    subscribed_at    TEXT,
    consent          TEXT,
    subscribed_by    TEXT,
    -- … or out, by the link in a mail-out: then no mail-out reaches them.
    unsubscribed_at  TEXT,
    PRIMARY KEY (product, email)
);
CREATE TABLE mailouts (
    id          TEXT PRIMARY KEY,
    incident    TEXT NOT NULL,
    product     TEXT NOT NULL,
    version     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (incident, subject)
);
CREATE TABLE mailout_recipients (
    mailout       TEXT   NOT NULL,
    email         TEXT   NOT NULL,
    notification  BIGINT NOT NULL,
    queued_at     TEXT   NOT NULL,
    PRIMARY KEY (mailout, email)
);
CREATE INDEX mailout_recipients_email ON mailout_recipients (email);
CREATE INDEX notifications_reference ON notifications (reference);
