-- A support lead's priority rules (issue 25): a new ticket whose text holds the phrase gets
-- the priority (after the built-in critical ones: data loss, the app does not start).
CREATE TABLE ticket_priority_rules (
    product     TEXT NOT NULL,
    phrase      TEXT NOT NULL,
    priority    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (product, phrase)
);
