-- Pilot enrolment (issue 33): invitation codes (kept as their SHA-256) and the installs
-- that redeemed one. An install enrolled and not left gets the internal channel.
CREATE TABLE pilot_invites (
    code_sha256 TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    organisation TEXT NOT NULL,
    max_installs INTEGER NOT NULL,
    used INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE pilot_installs (
    product TEXT NOT NULL,
    install_id TEXT NOT NULL,
    organisation TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (product, install_id)
);
