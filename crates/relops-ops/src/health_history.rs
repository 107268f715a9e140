//! Release health over time (the console's health charts): every `[health]
//! history_interval_seconds` the health worker records each registered release that has
//! installs — per channel and platform, the engine's 24-hour window and the running
//! session totals — and [`Ops::health_history`] reads the points back, summed over the
//! slices asked for, with the crash-free shares and their Wilson intervals.
//!
//! Only registered releases are recorded (the fleet names releases freely; the registry
//! bounds how many there are) and channels are the configured ones (ingest refuses
//! others), so the rows a period adds are bounded by configuration, not by the fleet.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use relops_api::{HealthHistory, HealthPoint, SliceName};
use relops_core::access::Permission;
use relops_ingest::session;
use relops_store::HealthPointRecord;

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// The hours a history covers unless asked otherwise (a week).
pub const DEFAULT_HOURS: u32 = 168;

/// What [`Ops::health_history`] is asked for.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub hours: Option<u32>,
    pub channel: Option<String>,
    pub platform: Option<String>,
}

impl Ops {
    /// Records the health of every registered release with installs at `now` (rounded
    /// down to the interval, so replicas recording the same interval write one point).
    pub async fn record_health_history(&self, now: DateTime<Utc>) -> OpResult<usize> {
        self.telemetry_visible().await?;
        let every = i64::try_from(self.config.health.history_interval_seconds)
            .unwrap_or(i64::MAX)
            .max(1);
        let at = Utc
            .timestamp_opt(now.timestamp() / every * every, 0)
            .single()
            .unwrap_or(now);
        let keep_since = now - Duration::days(i64::from(self.config.health.history_days));
        let mut recorded = 0;
        for product in &self.config.products {
            let mut points = Vec::new();
            for v in self.db.versions(product).await? {
                let release = v.to_string();
                let (figures, slices, _) = self.health.assess(product, &release, now);
                if figures.active_installs == 0 {
                    continue;
                }
                let mut sessions: HashMap<(String, String), (u64, u64)> = HashMap::new();
                for (channel, platform, status, n) in
                    self.db.session_totals(product, &release).await?
                {
                    let e = sessions.entry((channel, platform)).or_default();
                    e.0 = e.0.saturating_add(n);
                    if session::Status::parse(&status).is_crash() {
                        e.1 = e.1.saturating_add(n);
                    }
                }
                for s in slices {
                    let (ended, crashed) = sessions
                        .get(&(s.channel.clone(), s.platform.clone()))
                        .copied()
                        .unwrap_or_default();
                    points.push(HealthPointRecord {
                        release: release.clone(),
                        channel: s.channel,
                        platform: s.platform,
                        at,
                        active_installs: s.active_installs,
                        crashed_installs: s.crashed_installs,
                        sessions_ended: ended,
                        sessions_crashed: crashed,
                    });
                }
            }
            recorded += points.len();
            self.db
                .record_health_points(product, &points, keep_since)
                .await?;
        }
        Ok(recorded)
    }

    /// A release's recorded health over the last `hours` (default [`DEFAULT_HOURS`], at
    /// most `[health] history_days`), summed over the channel and platform asked for.
    pub async fn health_history(
        &self,
        actor: &Actor,
        product: &str,
        release: &str,
        q: HistoryQuery,
    ) -> OpResult<HealthHistory> {
        actor.authorize(Permission::ReleaseRead)?;
        let most = self.config.health.history_days.saturating_mul(24);
        let hours = q.hours.unwrap_or(DEFAULT_HOURS);
        if hours == 0 || hours > most {
            return Err(OpError::Invalid(format!(
                "`hours` must be 1-{most} (`[health] history_days` keeps {} days), not {hours}",
                self.config.health.history_days
            )));
        }
        let since = Utc::now() - Duration::hours(i64::from(hours));
        let rows = self
            .db
            .health_points(product, release.trim(), since)
            .await?;
        let slices: BTreeSet<SliceName> = rows
            .iter()
            .map(|r| SliceName {
                channel: r.channel.clone(),
                platform: r.platform.clone(),
            })
            .collect();
        let wanted = |r: &HealthPointRecord| {
            q.channel.as_deref().is_none_or(|c| c == r.channel)
                && q.platform.as_deref().is_none_or(|p| p == r.platform)
        };
        Ok(HealthHistory {
            product: product.to_owned(),
            release: release.trim().to_owned(),
            hours,
            slices: slices.into_iter().collect(),
            points: points(rows.iter().filter(|r| wanted(r))),
            channel: q.channel,
            platform: q.platform,
        })
    }
}

/// Sums the rows (oldest first) per time; a slice's sessions are the difference of its
/// running totals to its previous row.
fn points<'a>(rows: impl Iterator<Item = &'a HealthPointRecord>) -> Vec<HealthPoint> {
    let mut last: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
    let mut by_time: BTreeMap<DateTime<Utc>, [u64; 4]> = BTreeMap::new();
    for r in rows {
        let before = last
            .insert(
                (&r.channel, &r.platform),
                (r.sessions_ended, r.sessions_crashed),
            )
            .unwrap_or_default();
        let t = by_time.entry(r.at).or_default();
        t[0] = t[0].saturating_add(r.active_installs);
        t[1] = t[1].saturating_add(r.crashed_installs);
        t[2] = t[2].saturating_add(r.sessions_ended.saturating_sub(before.0));
        t[3] = t[3].saturating_add(r.sessions_crashed.saturating_sub(before.1));
    }
    by_time
        .into_iter()
        .map(|(at, [active, crashed, ended, crashed_sessions])| {
            let share =
                |bad: u64, all: u64| (all > 0).then(|| 1.0 - bad.min(all) as f64 / all as f64);
            HealthPoint {
                at,
                active_installs: active,
                crashed_installs: crashed,
                crash_free_installs: share(crashed, active),
                crash_free_installs_wilson_95: relops_core::health::wilson(
                    crashed.min(active),
                    active,
                    1.96,
                )
                .map(|(lo, hi)| (1.0 - hi, 1.0 - lo)),
                sessions_ended: ended,
                sessions_crashed: crashed_sessions,
                crash_free_sessions: share(crashed_sessions, ended),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        h: i64,
        channel: &str,
        active: u64,
        crashed: u64,
        ended: u64,
        bad: u64,
    ) -> HealthPointRecord {
        HealthPointRecord {
            release: "2.0.0".into(),
            channel: channel.into(),
            platform: "windows-x64".into(),
            at: Utc.timestamp_opt(h * 3600, 0).unwrap(),
            active_installs: active,
            crashed_installs: crashed,
            sessions_ended: ended,
            sessions_crashed: bad,
        }
    }

    #[test]
    fn points_sum_slices_and_take_session_differences() {
        let rows = [
            row(1, "beta", 100, 2, 50, 1),
            row(1, "stable", 300, 3, 200, 2),
            row(2, "beta", 120, 2, 80, 1),
            row(2, "stable", 400, 10, 260, 8),
        ];
        let p = points(rows.iter());
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].active_installs, p[0].crashed_installs), (400, 5));
        // The first point's sessions are the totals so far; the next the difference.
        assert_eq!((p[0].sessions_ended, p[0].sessions_crashed), (250, 3));
        assert_eq!((p[1].sessions_ended, p[1].sessions_crashed), (90, 6));
        assert_eq!(p[1].crash_free_installs, Some(1.0 - 12.0 / 520.0));
        let (lo, hi) = p[1].crash_free_installs_wilson_95.unwrap();
        assert!(
            lo < 1.0 - 12.0 / 520.0 && 1.0 - 12.0 / 520.0 < hi,
            "{lo} {hi}"
        );
        assert_eq!(p[1].crash_free_sessions, Some(1.0 - 6.0 / 90.0));
    }

    #[test]
    fn a_point_without_installs_has_no_share() {
        let p = points([row(1, "beta", 0, 0, 0, 0)].iter());
        assert_eq!(p[0].crash_free_installs, None);
        assert_eq!(p[0].crash_free_installs_wilson_95, None);
        assert_eq!(p[0].crash_free_sessions, None);
    }
}
