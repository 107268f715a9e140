-- What other updaters' feeds say of a release (issue 29 part 1): the oldest operating
-- system an artifact runs on (Sparkle's minimumSystemVersion), and the security advisory a
-- release fixes (Sparkle's criticalUpdate). NULL where not declared.
ALTER TABLE artifacts ADD COLUMN minimum_os TEXT;
ALTER TABLE releases ADD COLUMN security TEXT;
