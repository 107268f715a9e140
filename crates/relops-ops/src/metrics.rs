//! relops' figures for Prometheus, through the `metrics` facade (the server installs the
//! exporter and answers `GET /metrics`): counters where things happen (ingest, update
//! checks), and gauges of the state now, set when Prometheus scrapes ([`Ops::refresh_gauges`]).
//!
//! Invariant: every label value is bounded by the configuration or the releases an
//! operator made — never a value the fleet sends (the DSN is public): a channel the
//! configuration does not name counts as `other`, a version as the release offered.
//! [`METRICS`] names every metric; `docs/metrics.md` and the Grafana dashboard's queries
//! are checked against it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use relops_core::health::Verdict;
use relops_core::rollout::RolloutState;
use relops_store::RolloutRecord;

use crate::Ops;
use crate::error::OpResult;

/// Every metric relops exports: name, type, help.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "relops_ingest_events_total",
        "counter",
        "Telemetry records taken from the fleet, by product and kind (session, aggregate, event, memory, attachment).",
    ),
    (
        "relops_update_checks_total",
        "counter",
        "Update checks (GET /v1/update), by product, channel (a configured one, or other) and the version offered (none: no update).",
    ),
    (
        "relops_http_request_duration_seconds",
        "histogram",
        "Time to answer an HTTP request, by route family (feed, update, ingest, api, console, public).",
    ),
    (
        "relops_rollout_percent",
        "gauge",
        "Share of the production channel offered the release, in percent.",
    ),
    (
        "relops_rollout_state",
        "gauge",
        "1 for the rollout's state (active, paused, halted, completed, rolled_back), 0 for the others; a rollout that had ended when the server started has the series of its state only.",
    ),
    (
        "relops_release_active_installs",
        "gauge",
        "Installs of the release that reported in the health window (24 h).",
    ),
    (
        "relops_release_crash_rate",
        "gauge",
        "Crashed installs / active installs of the release in the health window (absent until an install reports).",
    ),
    (
        "relops_health_gate",
        "gauge",
        "The release's health gate: 0 unknown, 1 undecided, 2 passing, 3 failing.",
    ),
    (
        "relops_alerts_open",
        "gauge",
        "Open (unresolved) alerts, by product and severity.",
    ),
    (
        "relops_outbox_backlog",
        "gauge",
        "Notifications and mail not delivered yet (due, or waiting for a retry).",
    ),
    (
        "relops_tickets_open",
        "gauge",
        "Support tickets being worked on (new, open, waiting on the customer, escalated).",
    ),
    (
        "relops_leader",
        "gauge",
        "1 while this replica leads the deployment's background work (one leader per database), else 0.",
    ),
    (
        "relops_crash_backlog",
        "gauge",
        "Crashes waiting to be processed into stacks (set by the crash worker after each round).",
    ),
    (
        "relops_crashes_processed_total",
        "counter",
        "Crashes processed, by status (processed, unprocessable, no_stack).",
    ),
    (
        "relops_tickets_sla_breached",
        "gauge",
        "Open tickets past their first-response time.",
    ),
];

/// Says what each metric is (once, before the first scrape renders them).
pub fn describe() {
    for (name, kind, help) in METRICS {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "histogram" => {
                metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help)
            }
            _ => metrics::describe_gauge!(*name, *help),
        }
    }
}

/// Counts telemetry taken for `product`.
pub(crate) fn ingested(product: &str, kind: &'static str, n: u64) {
    metrics::counter!("relops_ingest_events_total", "product" => product.to_owned(), "kind" => kind)
        .increment(n);
}

/// Counts a processed crash by its status (three values).
pub(crate) fn crash_processed(status: &'static str) {
    metrics::counter!("relops_crashes_processed_total", "status" => status).increment(1);
}

/// Sets the crash backlog gauge (the worker calls this after its rounds); returns it (an
/// error counts as a backlog, to be counted again).
pub(crate) async fn crash_backlog(ops: &Ops) -> u64 {
    match ops.crash_backlog().await {
        Ok(n) => {
            metrics::gauge!("relops_crash_backlog").set(n as f64);
            n
        }
        Err(e) => {
            tracing::warn!(error = ?e, "cannot count the crash backlog");
            1
        }
    }
}

/// A rollout's share and state as gauges. The state is a full state set (1 for its
/// state, 0 for the others) for a rollout under way or one `seen` before by this server;
/// an ended rollout first seen now gets the series of its state only — a product's
/// history holds hundreds, and four zeros each would make most of a scrape.
fn set_rollout_gauges(product: &str, rec: &RolloutRecord, seen: bool) {
    let release = rec.version.to_string();
    metrics::gauge!("relops_rollout_percent", "product" => product.to_owned(), "release" => release.clone())
        .set(rec.rollout.percent.as_f64());
    let live = matches!(
        rec.rollout.state,
        RolloutState::Active | RolloutState::Paused | RolloutState::Halted
    );
    for s in STATES
        .into_iter()
        .filter(|s| live || seen || *s == rec.rollout.state)
    {
        metrics::gauge!(
            "relops_rollout_state",
            "product" => product.to_owned(),
            "release" => release.clone(),
            "state" => s.as_str()
        )
        .set(if s == rec.rollout.state { 1.0 } else { 0.0 });
    }
}

/// What a server last set of the rollout gauges: per (product, release) the share and
/// state, per product the rollouts' stamp ([`relops_store::Db::rollouts_stamp`]) and when
/// they were all read.
#[derive(Debug, Default)]
pub(crate) struct RolloutGauges(std::sync::Mutex<GaugesSet>);

#[derive(Debug, Default)]
struct GaugesSet {
    values: HashMap<(String, String), (f64, RolloutState)>,
    read: HashMap<String, ((i64, String), Instant)>,
}

/// How long the rollout gauges are trusted without reading every rollout again.
const REREAD: Duration = Duration::from_secs(60);

impl RolloutGauges {
    fn lock(&self) -> std::sync::MutexGuard<'_, GaugesSet> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether every rollout of `product` must be read: written since, or read too long ago.
    fn stale(&self, product: &str, stamp: &(i64, String)) -> bool {
        self.lock()
            .read
            .get(product)
            .is_none_or(|(s, at)| s != stamp || at.elapsed() > REREAD)
    }

    /// Of all the rollouts of `product`, read now with `stamp`, those whose share or state
    /// differ from what was set, each with whether it had been set before; noted as set.
    fn changed<'a>(
        &self,
        product: &str,
        all: &'a [RolloutRecord],
        stamp: (i64, String),
    ) -> Vec<(&'a RolloutRecord, bool)> {
        let mut set = self.lock();
        set.read.insert(product.to_owned(), (stamp, Instant::now()));
        all.iter()
            .filter_map(|rec| {
                let now = (rec.rollout.percent.as_f64(), rec.rollout.state);
                match set
                    .values
                    .insert((product.to_owned(), rec.version.to_string()), now)
                {
                    Some(was) if was == now => None,
                    was => Some((rec, was.is_some())),
                }
            })
            .collect()
    }
}

const STATES: [RolloutState; 5] = [
    RolloutState::Active,
    RolloutState::Paused,
    RolloutState::Halted,
    RolloutState::Completed,
    RolloutState::RolledBack,
];

fn gate_value(v: Verdict) -> f64 {
    match v {
        Verdict::Unknown => 0.0,
        Verdict::Undecided => 1.0,
        Verdict::Passing => 2.0,
        Verdict::Failing => 3.0,
    }
}

impl Ops {
    /// Counts an update check: `offered` is the version offered, if any.
    pub(crate) fn count_update_check(&self, product: &str, channel: &str, offered: Option<&str>) {
        let channel = if self.config.feed.channels.iter().any(|c| c == channel) {
            channel.to_owned()
        } else {
            "other".to_owned()
        };
        metrics::counter!(
            "relops_update_checks_total",
            "product" => product.to_owned(),
            "channel" => channel,
            "offered" => offered.unwrap_or("none").to_owned()
        )
        .increment(1);
    }

    /// Sets the gauges to the state now: every rollout's share and state, the health of
    /// the releases rolling out, open alerts, the outbox backlog, the support queue.
    ///
    /// A product's history holds hundreds of ended rollouts, so their share and state
    /// are read only when a rollout was written since the last scrape (or a minute has
    /// passed: another replica's clock may stamp a write older than the newest seen), and
    /// set only where they differ from what this server set last. The recorder keeps a
    /// gauge's value until it is set again.
    pub async fn refresh_gauges(&self) -> OpResult<()> {
        let now = Utc::now();
        for product in &self.config.products {
            let stamp = self.db.rollouts_stamp(product).await?;
            if self.rollout_gauges.stale(product, &stamp) {
                let all = self.db.rollouts(product).await?;
                for (rec, seen) in self.rollout_gauges.changed(product, &all, stamp) {
                    set_rollout_gauges(product, rec, seen);
                }
            }
            for rec in self.db.live_rollouts(product).await? {
                let release = rec.version.to_string();
                let labels = [("product", product.clone()), ("release", release.clone())];
                let (f, _, verdict) = self.health.assess(product, &release, now);
                metrics::gauge!("relops_health_gate", &labels).set(gate_value(verdict));
                metrics::gauge!("relops_release_active_installs", &labels)
                    .set(f.active_installs as f64);
                if f.active_installs > 0 {
                    metrics::gauge!("relops_release_crash_rate", &labels)
                        .set(f.crashed_installs as f64 / f.active_installs as f64);
                }
            }
            let open = self.db.open_alert_counts(product).await?;
            for severity in ["critical", "high", "low"] {
                let n = open
                    .iter()
                    .find(|(s, _)| s == severity)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("relops_alerts_open", "product" => product.clone(), "severity" => severity)
                    .set(n as f64);
            }
            let (open, breached) = self.db.ticket_queue_figures(product, now).await?;
            metrics::gauge!("relops_tickets_open", "product" => product.clone()).set(open as f64);
            metrics::gauge!("relops_tickets_sla_breached", "product" => product.clone())
                .set(breached as f64);
        }
        metrics::gauge!("relops_outbox_backlog").set(self.db.outbox_backlog().await? as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, state: RolloutState) -> RolloutRecord {
        let now = Utc::now();
        let mut rollout = relops_core::rollout::Rollout::start(now);
        rollout.state = state;
        RolloutRecord {
            version: version.parse().unwrap(),
            salt: "00".into(),
            rollout,
            started_at: now,
            started_by: "test".into(),
            updated_at: now,
            reason: None,
        }
    }

    /// The rollouts are read again when written (or after a minute), and only the ones
    /// whose share or state moved are set, each saying whether it was set before.
    #[test]
    fn rollout_gauges_are_set_where_they_changed() {
        let g = RolloutGauges::default();
        let stamp = (2, "t1".to_owned());
        assert!(g.stale("wizard", &stamp), "never read");
        let mut all = vec![
            record("1.0.0", RolloutState::Completed),
            record("2.0.0", RolloutState::Active),
        ];
        let first: Vec<_> = g
            .changed("wizard", &all, stamp.clone())
            .into_iter()
            .map(|(r, seen)| (r.version.to_string(), seen))
            .collect();
        assert_eq!(first, [("1.0.0".into(), false), ("2.0.0".into(), false)]);
        assert!(!g.stale("wizard", &stamp));
        assert!(g.stale("other", &stamp), "per product");

        all[1].rollout.state = RolloutState::Halted;
        let stamp = (2, "t2".to_owned());
        assert!(g.stale("wizard", &stamp), "a rollout was written");
        let second: Vec<_> = g
            .changed("wizard", &all, stamp)
            .into_iter()
            .map(|(r, seen)| (r.version.to_string(), seen))
            .collect();
        assert_eq!(second, [("2.0.0".into(), true)]);
    }
}
