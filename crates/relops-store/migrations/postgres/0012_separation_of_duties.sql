-- Separation of duties (issue 15): a token holding admin, product_owner or
-- security_engineer is live only once a second person confirmed it; an emergency go with
-- waived checklist items takes effect only once a second person confirmed it.
ALTER TABLE tokens ADD COLUMN needs_confirmation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN confirmed_by TEXT;
ALTER TABLE tokens ADD COLUMN confirmed_at TEXT;
-- go | no_go | go_pending (an emergency go awaiting its second person)
ALTER TABLE go_decisions ADD COLUMN confirmed_by TEXT;
