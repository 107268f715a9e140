-- The audit log becomes a hash chain: each entry holds the SHA-256 of the one before, and
-- audit_head (one row) holds the newest sequence number and hash, so that deleting the
-- newest entries is detected too. Appending updates audit_head first, which serialises
-- writers on every engine.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY,
    seq   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 1, COALESCE(MAX(seq), 0), '0000000000000000000000000000000000000000000000000000000000000000'
FROM audit_log;
