-- Log bundles (issue 27): an install's app and error logs, sealed by the SDK to the crash
-- key, attached to a crash or to the install's own ticket. The bytes are in the blob store
-- (`logs/sealed/{id}`); this row says what they belong to.
CREATE TABLE log_bundles (
    product TEXT NOT NULL,
    id TEXT NOT NULL,
    crash_id TEXT,
    ticket TEXT,
    install_id TEXT NOT NULL,
    release TEXT NOT NULL,
    platform TEXT NOT NULL,
    days INTEGER NOT NULL,
    files INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (product, id)
);
CREATE INDEX log_bundles_crash ON log_bundles (product, crash_id);
CREATE INDEX log_bundles_ticket ON log_bundles (ticket);
CREATE INDEX log_bundles_install ON log_bundles (product, install_id, received_at);
