-- Signed checkpoints of the audit chain: (sequence number, hash) signed with the audit
-- key. Written periodically, and before pruning, so that the remaining chain still
-- verifies from the last pruned entry.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT   NOT NULL,
    at         TEXT   NOT NULL,
    key_id     TEXT   NOT NULL,
    signature  TEXT   NOT NULL,
    pruned     BIGINT NOT NULL DEFAULT 0
);
