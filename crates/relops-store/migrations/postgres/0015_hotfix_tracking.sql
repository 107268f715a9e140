-- R-RB-1 (issue 16): an incident decided `hotfix` promises a fix within 24 h; when that
-- passes with no later release approved, the release channel and on-call are told, once.
ALTER TABLE incidents ADD COLUMN hotfix_notified_at TEXT;
