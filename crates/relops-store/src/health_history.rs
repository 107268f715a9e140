//! Release health over time: points the server records periodically, per release,
//! channel and platform (migration 0025).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::pool::Db;
use crate::sql::{Result, parse, ts};

/// One release × channel × platform at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPointRecord {
    pub release: String,
    pub channel: String,
    pub platform: String,
    pub at: DateTime<Utc>,
    /// In the 24 hours before `at`.
    pub active_installs: u64,
    pub crashed_installs: u64,
    /// Running totals up to `at`.
    pub sessions_ended: u64,
    pub sessions_crashed: u64,
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Db {
    /// Stores `points` of `product` (a point already stored for the same time, as another
    /// replica may have written it, is kept) and deletes the points before `keep_since`.
    pub async fn record_health_points(
        &self,
        product: &str,
        points: &[HealthPointRecord],
        keep_since: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for p in points {
            sqlx::query(
                "INSERT INTO health_history (product, release, channel, platform, at, \
                 active_installs, crashed_installs, sessions_ended, sessions_crashed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (product, release, at, channel, platform) DO NOTHING",
            )
            .bind(product)
            .bind(&p.release)
            .bind(&p.channel)
            .bind(&p.platform)
            .bind(ts(p.at))
            .bind(count(p.active_installs))
            .bind(count(p.crashed_installs))
            .bind(count(p.sessions_ended))
            .bind(count(p.sessions_crashed))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM health_history WHERE at < $1")
            .bind(ts(keep_since))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The points of a release since `since`, oldest first.
    pub async fn health_points(
        &self,
        product: &str,
        release: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HealthPointRecord>> {
        let n = |r: &sqlx::any::AnyRow, c: &str| -> Result<u64> {
            let v: i64 = r.try_get(c)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        sqlx::query(
            "SELECT release, channel, platform, at, active_installs, crashed_installs, \
             sessions_ended, sessions_crashed FROM health_history \
             WHERE product = $1 AND release = $2 AND at >= $3 \
             ORDER BY at, channel, platform",
        )
        .bind(product)
        .bind(release)
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(HealthPointRecord {
                release: r.try_get("release")?,
                channel: r.try_get("channel")?,
                platform: r.try_get("platform")?,
                at: parse(r, "at")?,
                active_installs: n(r, "active_installs")?,
                crashed_installs: n(r, "crashed_installs")?,
                sessions_ended: n(r, "sessions_ended")?,
                sessions_crashed: n(r, "sessions_crashed")?,
            })
        })
        .collect()
    }

    /// Ended sessions of a release per channel, platform and status (running totals).
    pub async fn session_totals(
        &self,
        product: &str,
        release: &str,
    ) -> Result<Vec<(String, String, String, u64)>> {
        sqlx::query(
            "SELECT channel, platform, status, CAST(SUM(sessions) AS BIGINT) AS n \
             FROM session_counts WHERE product = $1 AND release = $2 \
             GROUP BY channel, platform, status",
        )
        .bind(product)
        .bind(release)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let v: i64 = r.try_get("n")?;
            Ok((
                r.try_get("channel")?,
                r.try_get("platform")?,
                r.try_get("status")?,
                u64::try_from(v).unwrap_or(0),
            ))
        })
        .collect()
    }
}
