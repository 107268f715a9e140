-- Install marks instead of a row per install upserted by every batch (see the SQLite
-- migration of the same name): one row per install, release, channel and platform seen by
-- an ingest batch, appended; active installs = distinct installs with a mark in the last
-- 24 h; marks older than that are pruned.
CREATE TABLE install_marks (
    product     TEXT   NOT NULL,
    release     TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    platform    TEXT   NOT NULL,
    install_id  TEXT   NOT NULL,
    seen_at     TEXT   NOT NULL,
    crashed     BIGINT NOT NULL
);
CREATE INDEX install_marks_seen ON install_marks (seen_at, product, release);
INSERT INTO install_marks (product, release, channel, platform, install_id, seen_at, crashed)
    SELECT product, release, channel, platform, install_id, last_seen, 0 FROM release_installs;
INSERT INTO install_marks (product, release, channel, platform, install_id, seen_at, crashed)
    SELECT product, release, channel, platform, install_id, crashed_at, 1 FROM release_installs
    WHERE crashed_at IS NOT NULL;
DROP TABLE release_installs;

-- PostgreSQL keeps each session's state in ingest_sessions (several servers may share the
-- database, so the dedupe cannot live in one server's memory); sessions not updated for
-- 7 days are pruned, the same retry window SQLite keeps.
CREATE INDEX ingest_sessions_updated ON ingest_sessions (updated_at);
