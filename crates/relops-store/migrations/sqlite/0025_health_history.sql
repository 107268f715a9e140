-- Release health over time (issue 26, the console's health page): every
-- `[health] history_interval_seconds` the server records, per registered release with
-- installs, channel and platform, the 24-hour window's active and crashed installs as the
-- health engine counts them and the ended and crashed sessions so far (running totals;
-- a point's sessions are the difference to the point before). Rows older than
-- `[health] history_days` are deleted.
CREATE TABLE health_history (
    product           TEXT   NOT NULL,
    release           TEXT   NOT NULL,
    channel           TEXT   NOT NULL,
    platform          TEXT   NOT NULL,
    at                TEXT   NOT NULL,
    active_installs   BIGINT NOT NULL,
    crashed_installs  BIGINT NOT NULL,
    sessions_ended    BIGINT NOT NULL,
    sessions_crashed  BIGINT NOT NULL,
    PRIMARY KEY (product, release, at, channel, platform)
);
CREATE INDEX health_history_at ON health_history (at);
