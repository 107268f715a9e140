-- Binary deltas between two artifacts of a product (issue 29 part 5), keyed by the two
-- files' SHA-256: made once per pair by the lead. blob_key, size and sha256 are NULL when
-- the delta was made and found not worth serving (not under half the new file's size).
CREATE TABLE artifact_deltas (
    product      TEXT NOT NULL,
    base_sha256  TEXT NOT NULL,
    new_sha256   TEXT NOT NULL,
    blob_key     TEXT,
    size         BIGINT,
    sha256       TEXT,
    made_at      TEXT NOT NULL,
    PRIMARY KEY (product, base_sha256, new_sha256)
);
