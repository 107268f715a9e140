-- Releases, artifacts, API tokens and the audit log (SQLite).
CREATE TABLE releases (
    product      TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    major        INTEGER NOT NULL,
    minor        INTEGER NOT NULL,
    patch        INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    go_live      TEXT    NOT NULL,
    freeze_date  TEXT    NOT NULL,
    branch       TEXT    NOT NULL,
    tag          TEXT    NOT NULL,
    commit_sha   TEXT,
    created_at   TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    frozen_at    TEXT,
    frozen_by    TEXT,
    PRIMARY KEY (product, version)
);

CREATE TABLE artifacts (
    product             TEXT    NOT NULL,
    version             TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    size                INTEGER NOT NULL,
    sha256              TEXT    NOT NULL,
    blob_key            TEXT    NOT NULL,
    signature           TEXT    NOT NULL,
    key_id              TEXT    NOT NULL,
    uploaded_at         TEXT    NOT NULL,
    uploaded_by         TEXT    NOT NULL,
    notarization_id     TEXT,
    authenticode_signer TEXT,
    critical_fix_reason TEXT,
    replaces            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (product, version, name),
    FOREIGN KEY (product, version) REFERENCES releases (product, version)
);
CREATE INDEX artifacts_blob_key ON artifacts (blob_key);
-- Covers the per-release platform counts of the release list.
CREATE INDEX artifacts_platforms ON artifacts (product, version, platform);

-- Artifacts that a later upload of the same name replaced: kept for provenance and for
-- retention to prune.
CREATE TABLE artifact_history (
    product      TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    blob_key     TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    uploaded_at  TEXT    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    replaced_at  TEXT    NOT NULL,
    replaced_by  TEXT    NOT NULL
);
CREATE INDEX artifact_history_blob_key ON artifact_history (blob_key);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    roles       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    request_id  TEXT
);
