-- Fewer bytes per ingest record (SQLite only; a fold wrote ~210 bytes of rows per record,
-- twice with the WAL, and its syncs delayed the ingest journal's, which acknowledgements
-- wait for).

-- Install marks without an index: they are appended in the order they are folded (time
-- order), so the health engine's replay reads them by row id and pruning deletes a prefix
-- of row ids; the 24-hour count reads every mark anyway. Rebuilt in time order (the marks
-- migrated from release_installs were not).
CREATE TABLE install_marks_ordered (
    product     TEXT   NOT NULL,
    release     TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    platform    TEXT   NOT NULL,
    install_id  TEXT   NOT NULL,
    seen_at     TEXT   NOT NULL,
    crashed     BIGINT NOT NULL
);
INSERT INTO install_marks_ordered (product, release, channel, platform, install_id, seen_at, crashed)
    SELECT product, release, channel, platform, install_id, seen_at, crashed FROM install_marks
    ORDER BY seen_at;
DROP TABLE install_marks;
ALTER TABLE install_marks_ordered RENAME TO install_marks;

-- Ended sessions as the 64-bit key the ingest writer remembers them by (SipHash-1-3 of
-- product and session id under this database's own random key) and the UTC day they
-- ended (days since 1970-01-01), instead of the product, id and time as text. The rows
-- of the earlier table are converted by the ingest writer when it next starts (the key
-- is computed in Rust), which then drops `ended_sessions_text`.
CREATE TABLE ingest_hash_key (
    k0  INTEGER NOT NULL,
    k1  INTEGER NOT NULL
);
INSERT INTO ingest_hash_key (k0, k1) VALUES (random(), random());
ALTER TABLE ended_sessions RENAME TO ended_sessions_text;
CREATE TABLE ended_sessions (
    key  INTEGER NOT NULL,
    day  INTEGER NOT NULL
);
