-- The support desk (issue 25): tickets, their timeline, linked crashes and attachments.
-- Audit entries of ticket changes name the ticket, never the customer's address or text,
-- so erasing a customer's data leaves the audit chain verifiable.
CREATE TABLE ticket_numbers (
    product TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,                -- `WIZ-12`: the product's prefix and number
    product TEXT NOT NULL,
    subject TEXT NOT NULL,
    customer_email TEXT NOT NULL,       -- lower-cased
    customer_name TEXT,
    priority TEXT NOT NULL,             -- critical | high | normal
    priority_reason TEXT,               -- why, when a rule chose it
    status TEXT NOT NULL,               -- relops_core::ticket::Status
    assignee TEXT,
    release_version TEXT,
    platform TEXT,
    install_id TEXT,
    incident TEXT,
    known_issue TEXT,
    issue TEXT,                         -- the engineering issue it was escalated to (`jira:WIZ-24`)
    issue_url TEXT,
    resolution TEXT,                    -- cause or workaround, as documented
    confirmed_at TEXT,                  -- the customer confirmed the solution
    confirmed_how TEXT,
    source TEXT NOT NULL,               -- api | mail | zendesk | app
    external_ref TEXT,                  -- the Zendesk ticket id, for example
    follow_up_of TEXT,
    pauses TEXT NOT NULL,               -- JSON [[from, to|null], …]: waiting on the customer
    opened_at TEXT NOT NULL,
    first_response_at TEXT,
    solved_at TEXT,
    closed_at TEXT,
    updated_at TEXT NOT NULL,
    due_at TEXT,                         -- first response due; NULL once answered or while waiting
    warn_at TEXT,                        -- when 75 % of the SLA budget will be used (same terms)
    -- The warn_at / due_at whose warning / breach was reported (a critical breach pages):
    -- a new due time (another priority) is reported again. Ticket changes never write these.
    sla_warned_for TEXT,
    sla_breached_for TEXT
);
CREATE INDEX tickets_warn ON tickets (warn_at);
CREATE INDEX tickets_due ON tickets (due_at);
CREATE INDEX tickets_queue ON tickets (product, status, due_at);
CREATE INDEX tickets_customer ON tickets (customer_email);
CREATE INDEX tickets_release ON tickets (product, release_version);
CREATE INDEX tickets_source ON tickets (product, source, opened_at);
CREATE INDEX tickets_install ON tickets (install_id, opened_at);

CREATE TABLE ticket_crashes (
    ticket TEXT NOT NULL,
    crash_id TEXT NOT NULL,
    PRIMARY KEY (ticket, crash_id)
);
CREATE INDEX ticket_crashes_crash ON ticket_crashes (crash_id);

-- The timeline: opened, customer messages, public replies, internal notes, changes.
CREATE TABLE ticket_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT,
    message_id TEXT,                    -- RFC 5322 Message-ID (no brackets) of a mail in or out; a mail is taken once
    detail TEXT NOT NULL                -- JSON
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket, seq);
CREATE UNIQUE INDEX ticket_events_message ON ticket_events (message_id);

CREATE TABLE ticket_attachments (
    ticket TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL                -- blobs/sha256/{hex} in the blob store
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket);
