-- Release gates: the latest verdict per gate, with the numbers and the evidence behind it
-- (PostgreSQL). Earlier verdicts are in the audit log.
CREATE TABLE gates (
    product      TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    gate         TEXT    NOT NULL,
    passed       BIGINT  NOT NULL,
    summary      TEXT    NOT NULL,
    evidence     TEXT    NOT NULL,
    recorded_at  TEXT    NOT NULL,
    recorded_by  TEXT    NOT NULL,
    PRIMARY KEY (product, version, gate),
    FOREIGN KEY (product, version) REFERENCES releases (product, version)
);
