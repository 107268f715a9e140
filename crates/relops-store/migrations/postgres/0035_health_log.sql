-- What the health engine counts of each stored ingest batch, for the other replicas to
-- count too (issue 28 part 1, src/fleet.rs): read in (xid, seq) order once every older
-- transaction has ended; pruned with the install marks.
CREATE TABLE health_log (
    seq      BIGSERIAL PRIMARY KEY,
    xid      XID8   NOT NULL DEFAULT pg_current_xact_id(),
    origin   TEXT   NOT NULL,
    product  TEXT   NOT NULL,
    at       TEXT   NOT NULL,
    tallies  TEXT   NOT NULL
);
CREATE INDEX health_log_order ON health_log (xid, seq);
CREATE INDEX health_log_at ON health_log (at);
