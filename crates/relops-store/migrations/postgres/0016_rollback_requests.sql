-- R-RB-2 (issue 16): a person's rollback is decided by on-call DevOps together with the
-- Product Owner. The first of the two files the request; it waits here (one per product)
-- until the second confirms it or it expires.
CREATE TABLE rollback_requests (
    product TEXT PRIMARY KEY,
    request TEXT NOT NULL,          -- JSON: the rollback request (to, reason, severity, next_fix, force)
    incident TEXT,                  -- the incident it decides, if filed as a decision
    requested_by TEXT NOT NULL,     -- audit name: `anna (tok_…) as oncall_devops`
    requested_roles TEXT NOT NULL,  -- comma-separated roles of the requester's token
    requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
