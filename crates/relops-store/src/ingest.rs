//! Ingested telemetry. A batch of records is made durable before the server answers 2xx
//! (on SQLite in the ingest journal, folded into these tables shortly after; on
//! PostgreSQL written directly — `ingest_write/`); every write is idempotent — an event id
//! or a session's end counts once however often a client retries — and updates the
//! per-release figures incrementally, so health is read without scanning history.

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use sqlx::Row;

use relops_ingest::Scope;

use crate::pool::Db;
use crate::sql::{DbError, Result, ts};

/// The raw health figures of one release (all channels and platforms, or one of each)
/// beside its installs ([`Db::installs_24h`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthFigures {
    /// Ended sessions by status.
    pub sessions: Vec<(String, u64)>,
    /// Error events per code in the last 24 h.
    pub errors: Vec<(String, u64)>,
    pub memory_warnings: u64,
    /// Crash events (reports, minidumps) in the last 24 h.
    pub crash_reports: u64,
}

/// A crash as stored (a crash event, a minidump or a sealed dump).
#[derive(Debug, Clone, PartialEq)]
pub struct CrashRecord {
    pub id: String,
    pub release: String,
    pub channel: String,
    pub platform: String,
    pub install_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// The critical-failure rule that classed it.
    pub critical: Option<String>,
    /// The stored JSON: where the dump is, the client's metadata.
    pub payload: String,
}

fn crash_from_row(r: &sqlx::any::AnyRow) -> Result<CrashRecord> {
    Ok(CrashRecord {
        id: r.try_get("event_id")?,
        release: r.try_get("release")?,
        channel: r.try_get("channel")?,
        platform: r.try_get("platform")?,
        install_id: r.try_get("install_id")?,
        received_at: crate::sql::parse(r, "received_at")?,
        critical: r.try_get("critical")?,
        payload: r.try_get("payload")?,
    })
}

/// What the last 24 hours held, for the health engine to rebuild its view after a restart.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    /// An install of a release seen (one install mark: `last_seen` is when; `crashed_at` is
    /// the same time if it crashed then). An install has a mark per batch that saw it.
    Install {
        product: String,
        scope: Scope,
        install_id: String,
        last_seen: DateTime<Utc>,
        crashed_at: Option<DateTime<Utc>>,
    },
    /// A crash classed critical.
    Critical {
        product: String,
        scope: Scope,
        install_id: String,
        at: DateTime<Utc>,
    },
    /// `events` error events of `code` in the hour starting at `hour`.
    Errors {
        product: String,
        release: String,
        code: String,
        hour: DateTime<Utc>,
        events: u64,
    },
    Memory {
        product: String,
        scope: Scope,
        install_id: String,
        host_percent: u8,
        at: DateTime<Utc>,
    },
}

fn scope_of(r: &sqlx::any::AnyRow) -> Result<Scope> {
    Ok(Scope {
        release: r.try_get("release")?,
        channel: r.try_get("channel")?,
        platform: relops_ingest::record::platform_named(r.try_get::<&str, _>("platform")?),
    })
}

impl Db {
    /// Crashes of a product, newest first (of one release, if named).
    pub async fn crashes(
        &self,
        product: &str,
        release: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CrashRecord>> {
        let rows = match release {
            Some(r) => {
                sqlx::query(
                    "SELECT event_id, release, channel, platform, install_id, received_at, \
                     critical, payload FROM ingest_events WHERE product = $1 AND kind = 'crash' \
                     AND release = $2 ORDER BY received_at DESC LIMIT $3",
                )
                .bind(product)
                .bind(r)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT event_id, release, channel, platform, install_id, received_at, \
                     critical, payload FROM ingest_events WHERE product = $1 AND kind = 'crash' \
                     ORDER BY received_at DESC LIMIT $2",
                )
                .bind(product)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(crash_from_row).collect()
    }

    /// An install's crashes, newest first.
    pub async fn install_crashes(
        &self,
        product: &str,
        install: &str,
        limit: u32,
    ) -> Result<Vec<CrashRecord>> {
        let rows = sqlx::query(
            "SELECT event_id, release, channel, platform, install_id, received_at, critical, \
             payload FROM ingest_events WHERE product = $1 AND install_id = $2 AND kind = 'crash' \
             ORDER BY received_at DESC LIMIT $3",
        )
        .bind(product)
        .bind(install)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crash_from_row).collect()
    }

    pub async fn crash(&self, product: &str, id: &str) -> Result<Option<CrashRecord>> {
        sqlx::query(
            "SELECT event_id, release, channel, platform, install_id, received_at, critical, payload \
             FROM ingest_events WHERE product = $1 AND event_id = $2 AND kind = 'crash'",
        )
        .bind(product)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(crash_from_row)
        .transpose()
    }

    /// Everything since `since` the health engine counts, oldest first within each kind,
    /// read in one snapshot; and where the engine goes on reading what other replicas
    /// store after that snapshot ([`Db::shared_tallies`]; nothing on SQLite).
    pub async fn health_replay(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<Replay>, crate::FleetCursor)> {
        let s = ts(since);
        let mut out = Vec::new();
        let mut tx = self.pool.begin().await?;
        let cursor = if self.backend() == crate::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
            let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
                .fetch_one(&mut *tx)
                .await?;
            crate::FleetCursor::after_snapshot(&snapshot)?
        } else {
            crate::FleetCursor::default()
        };
        // Every mark, in the order the health engine saw them, streamed: a grouped or
        // fully fetched result of millions of marks took seconds and hundreds of MB on
        // start. On SQLite through the ingest writer's own connection (sqlx hands each row
        // over from its worker thread, which made a replay of 1.8 million marks take 18 s).
        if let Some(conn) = self.ingest_connection() {
            let since = s.clone();
            out = crate::ingest_write::conn::blocking(move || conn.replay_marks(&since)).await?;
        } else {
            // PostgreSQL: the index's order, nothing to sort.
            const MARKS: &str = "SELECT product, release, channel, platform, install_id, \
                seen_at, crashed FROM install_marks WHERE seen_at >= $1 ORDER BY seen_at";
            let mut marks = sqlx::query(MARKS).bind(&s).fetch(&mut *tx);
            while let Some(r) = marks.try_next().await? {
                let seen: DateTime<Utc> = crate::sql::parse(&r, "seen_at")?;
                let crashed: i64 = r.try_get("crashed")?;
                out.push(Replay::Install {
                    product: r.try_get("product")?,
                    scope: scope_of(&r)?,
                    install_id: r.try_get("install_id")?,
                    last_seen: seen,
                    crashed_at: (crashed == 1).then_some(seen),
                });
            }
        }
        for r in sqlx::query(
            "SELECT product, release, channel, platform, install_id, received_at FROM ingest_events \
             WHERE critical IS NOT NULL AND install_id IS NOT NULL AND received_at >= $1 \
             ORDER BY received_at",
        )
        .bind(&s)
        .fetch_all(&mut *tx)
        .await?
        {
            out.push(Replay::Critical {
                product: r.try_get("product")?,
                scope: scope_of(&r)?,
                install_id: r.try_get("install_id")?,
                at: crate::sql::parse(&r, "received_at")?,
            });
        }
        for r in sqlx::query(
            "SELECT product, release, code, hour, events FROM error_counts WHERE hour >= $1 \
             ORDER BY hour",
        )
        .bind(since.format("%Y-%m-%dT%H").to_string())
        .fetch_all(&mut *tx)
        .await?
        {
            let hour: String = r.try_get("hour")?;
            let events: i64 = r.try_get("events")?;
            out.push(Replay::Errors {
                product: r.try_get("product")?,
                release: r.try_get("release")?,
                code: r.try_get("code")?,
                hour: format!("{hour}:00:00Z")
                    .parse()
                    .map_err(|e| DbError::Corrupt(format!("error_counts.hour = {hour}: {e}")))?,
                events: u64::try_from(events).unwrap_or(0),
            });
        }
        for r in sqlx::query(
            "SELECT product, release, channel, platform, install_id, host_percent, received_at \
             FROM memory_warnings WHERE received_at >= $1 ORDER BY received_at",
        )
        .bind(&s)
        .fetch_all(&mut *tx)
        .await?
        {
            let p: i64 = r.try_get("host_percent")?;
            out.push(Replay::Memory {
                product: r.try_get("product")?,
                scope: scope_of(&r)?,
                install_id: r.try_get("install_id")?,
                host_percent: u8::try_from(p).unwrap_or(100),
                at: crate::sql::parse(&r, "received_at")?,
            });
        }
        tx.commit().await?;
        Ok((out, cursor))
    }

    /// The product's public ingest key, made on first use.
    pub async fn ingest_key(
        &self,
        product: &str,
        fresh: impl FnOnce() -> String,
    ) -> Result<String> {
        if let Some(k) = self.ingest_key_of(product).await? {
            return Ok(k);
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO ingest_keys (product, public_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (product) DO NOTHING",
        )
        .bind(product)
        .bind(fresh())
        .bind(ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self
            .ingest_key_of(product)
            .await?
            .expect("inserted or already there"))
    }

    async fn ingest_key_of(&self, product: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT public_key FROM ingest_keys WHERE product = $1")
                .bind(product)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("public_key"))
                .transpose()?,
        )
    }

    /// Active and crashed installs of `release`: the distinct installs among the install
    /// marks of the 24 h before `now`, and those among them with a crash — the stored
    /// truth the health engine's figures are replayed from. It reads every mark of the
    /// window (2.4 s at 1.9 million marks on the benchmark machine), so the server answers
    /// health reads from the engine instead; tests and checks compare the two.
    pub async fn installs_24h(
        &self,
        product: &str,
        release: &str,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT install_id) AS active, \
             COUNT(DISTINCT CASE WHEN crashed = 1 THEN install_id END) AS crashed \
             FROM install_marks WHERE seen_at >= $3 AND product = $1 AND release = $2",
        )
        .bind(product)
        .bind(release)
        .bind(ts(now - Duration::hours(24)))
        .fetch_one(&self.pool)
        .await?;
        let n = |c: &str| -> Result<u64> {
            let v: i64 = row.try_get(c)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok((n("active")?, n("crashed")?))
    }

    /// The raw figures of `release` as of `now` beside the installs (last 24 h for errors,
    /// memory warnings and crash reports; all ended sessions). Installs:
    /// [`Db::installs_24h`].
    pub async fn health(
        &self,
        product: &str,
        release: &str,
        now: DateTime<Utc>,
    ) -> Result<HealthFigures> {
        let since = ts(now - Duration::hours(24));
        let n = |r: &sqlx::any::AnyRow, c: &str| -> Result<u64> {
            let v: i64 = r.try_get(c)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        let sessions = sqlx::query(
            "SELECT status, CAST(SUM(sessions) AS BIGINT) AS n FROM session_counts \
             WHERE product = $1 AND release = $2 GROUP BY status ORDER BY status",
        )
        .bind(product)
        .bind(release)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("status")?, n(r, "n")?)))
        .collect::<Result<Vec<_>>>()?;
        let errors = sqlx::query(
            "SELECT code, CAST(SUM(events) AS BIGINT) AS n FROM error_counts \
             WHERE product = $1 AND release = $2 AND hour >= $3 GROUP BY code ORDER BY code",
        )
        .bind(product)
        .bind(release)
        .bind(
            (now - Duration::hours(24))
                .format("%Y-%m-%dT%H")
                .to_string(),
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("code")?, n(r, "n")?)))
        .collect::<Result<Vec<_>>>()?;
        let mem = sqlx::query(
            "SELECT COUNT(*) AS n FROM memory_warnings \
             WHERE product = $1 AND release = $2 AND received_at >= $3",
        )
        .bind(product)
        .bind(release)
        .bind(&since)
        .fetch_one(&self.pool)
        .await?;
        let crashes = sqlx::query(
            "SELECT COUNT(*) AS n FROM ingest_events \
             WHERE product = $1 AND release = $2 AND kind = 'crash' AND received_at >= $3",
        )
        .bind(product)
        .bind(release)
        .bind(&since)
        .fetch_one(&self.pool)
        .await?;
        Ok(HealthFigures {
            crash_reports: n(&crashes, "n")?,
            sessions,
            errors,
            memory_warnings: n(&mem, "n")?,
        })
    }

    /// Releases that telemetry named but the registry does not know, with their count of
    /// ended sessions and events (flagged, never dropped).
    pub async fn unknown_releases(&self, product: &str) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT release, CAST(SUM(n) AS BIGINT) AS n FROM ( \
               SELECT release, sessions AS n FROM session_counts WHERE product = $1 \
               UNION ALL SELECT release, 1 AS n FROM ingest_events WHERE product = $1 \
             ) t WHERE release NOT IN (SELECT version FROM releases WHERE product = $1) \
             GROUP BY release ORDER BY release",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let v: i64 = r.try_get("n")?;
                Ok((r.try_get("release")?, u64::try_from(v).unwrap_or(0)))
            })
            .collect()
    }
}
