-- Retention (issue 28 part 4, R-RET-1): stored files whose rows a retention run removed,
-- until the file itself is deleted (a failed deletion is retried by the next run), and the
-- day's run claimed once per deployment.
CREATE TABLE retention_blob_queue (
    blob_key   TEXT PRIMARY KEY,
    class      TEXT NOT NULL,
    queued_at  TEXT NOT NULL
);

CREATE TABLE retention_runs (
    id        INTEGER PRIMARY KEY,
    last_run  TEXT NOT NULL
);
INSERT INTO retention_runs (id, last_run) VALUES (1, '1970-01-01T00:00:00.000000Z');
