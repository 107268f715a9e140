-- The support queue's two ordered walks (issue 25): tickets whose first response is due,
-- soonest first, then the answered or waiting ones, oldest first. Each page is a range of
-- one of these indexes, read in order and stopped at the page's end, instead of sorting
-- every open ticket.
CREATE INDEX tickets_queue_due ON tickets (product, due_at, opened_at, id);
CREATE INDEX tickets_queue_opened ON tickets (product, opened_at, id);
