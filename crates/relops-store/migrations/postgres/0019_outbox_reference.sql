-- What an outbox message is about when its answer matters (issue 25): the ticket whose
-- escalation created an issue in Jira or GitHub; the answer's key is linked back to it.
ALTER TABLE notifications ADD COLUMN reference TEXT;
