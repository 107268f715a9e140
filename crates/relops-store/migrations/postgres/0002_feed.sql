-- Approval of releases and the signed metadata of the TUF update feed (PostgreSQL).
ALTER TABLE releases ADD COLUMN approved_at TEXT;
ALTER TABLE releases ADD COLUMN approved_by TEXT;

-- Every published metadata file, by role and version. `body` is the exact file served
-- (canonical JSON). Versions of one product's set are written in one transaction.
CREATE TABLE tuf_metadata (
    product     TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (product, role, version)
);
