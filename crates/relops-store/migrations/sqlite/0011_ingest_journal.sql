-- The last ingest journal entry folded into the ingest tables (SQLite only: the journal is
-- a file next to the database, `relops.ingest-journal.db`). Written in the same
-- transaction as the fold, so an entry is applied exactly once.
CREATE TABLE ingest_folded (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL
);
