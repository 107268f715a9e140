-- Cheaper ingest: what was upserted per record under a random key (a row per session, a
-- row per install and release) becomes rows appended in time order, which a fold writes
-- at the end of its tables instead of all over their indexes.

-- Install marks: one row per install, release, channel and platform seen by an ingest
-- batch (crashed = 1 when the batch saw it crash). Active installs = distinct installs
-- with a mark in the last 24 h; marks older than that are pruned.
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

-- Sessions that have ended, in the order they ended: the ingest writer keeps the last
-- 7 days of them in memory (loaded from here on start) so that a retried end is not
-- counted twice; older rows are pruned. A session still open needs no row: its status
-- counts only when it ends.
CREATE TABLE ended_sessions (
    product     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    ended_at    TEXT NOT NULL
);
INSERT INTO ended_sessions (product, session_id, ended_at)
    SELECT product, session_id, updated_at FROM ingest_sessions WHERE status <> 'ok'
    ORDER BY updated_at;
DROP TABLE ingest_sessions;
