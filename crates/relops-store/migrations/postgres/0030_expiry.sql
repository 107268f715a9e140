-- Expiry (issue 33): platform signing certificates the security engineer registers, and
-- which expiry warnings were sent (one per thing, expiry date and threshold).
CREATE TABLE certificates (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE expiry_reports (
    name TEXT NOT NULL,
    expires TEXT NOT NULL,
    threshold_days BIGINT NOT NULL,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (name, expires, threshold_days)
);
