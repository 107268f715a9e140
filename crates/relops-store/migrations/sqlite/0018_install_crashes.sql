-- The support desk's analysis view (issue 25): an install's recent crashes, found by install.
CREATE INDEX ingest_events_install ON ingest_events (product, install_id, received_at);
