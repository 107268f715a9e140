//! relops' figures for Prometheus, through the `metrics` facade (the server installs the
//! exporter and answers `GET /metrics`): counters where things happen (ingest, update
//! checks), and gauges of the state now, set when Prometheus scrapes ([`Ops::refresh_gauges`]).
//!
//! Invariant: every label value is bounded by the configuration or the releases an
//! operator made — never a value the fleet sends (the DSN is public): a channel the
//! configuration does not name counts as `other`, a version as the release offered.
//! [`METRICS`] names every metric; `docs/metrics.md` and the Grafana dashboard's queries
//! are checked against it.

use chrono::Utc;
use relops_core::health::Verdict;
use relops_core::rollout::RolloutState;

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
        "1 for the rollout's state (active, paused, halted, completed, rolled_back), 0 for the others.",
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
    pub async fn refresh_gauges(&self) -> OpResult<()> {
        let now = Utc::now();
        for product in &self.config.products {
            for rec in self.db.rollouts(product).await? {
                let release = rec.version.to_string();
                let labels = [("product", product.clone()), ("release", release.clone())];
                metrics::gauge!("relops_rollout_percent", &labels)
                    .set(rec.rollout.percent.as_f64());
                for s in STATES {
                    metrics::gauge!(
                        "relops_rollout_state",
                        "product" => product.clone(),
                        "release" => release.clone(),
                        "state" => s.as_str()
                    )
                    .set(if s == rec.rollout.state { 1.0 } else { 0.0 });
                }
                if matches!(
                    rec.rollout.state,
                    RolloutState::Active | RolloutState::Paused | RolloutState::Halted
                ) {
                    let (f, _, verdict) = self.health.assess(product, &release, now);
                    metrics::gauge!("relops_health_gate", &labels).set(gate_value(verdict));
                    metrics::gauge!("relops_release_active_installs", &labels)
                        .set(f.active_installs as f64);
                    if f.active_installs > 0 {
                        metrics::gauge!("relops_release_crash_rate", &labels)
                            .set(f.crashed_installs as f64 / f.active_installs as f64);
                    }
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
