-- Rollback-safe data (issue 27, R-RB-7): the schema version of the data a release's app
-- writes, and the oldest schema its down-migrations reach. NULL: not declared.
ALTER TABLE releases ADD COLUMN data_schema BIGINT;
ALTER TABLE releases ADD COLUMN downgrades_to BIGINT;
