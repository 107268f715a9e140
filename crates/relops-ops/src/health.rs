//! Release health (R-AUTO-1..3, DESIGN decision 7): the health engine's 24-hour window of
//! a release judged by the sequential test, with the stored figures beside it. The same
//! [`HealthGate`] is the evidence of every alert and incident decision.

use chrono::Utc;
use relops_api::{
    BoundedNetwork, HealthGate, HealthReport, SliceHealth, SprtFigures, WindowFigures,
};
use relops_core::access::Permission;
use relops_core::alert::Rules;
use relops_core::health::Verdict;
use relops_core::health::tracker::{Figures, Slice};
use relops_ingest::session;

use crate::error::OpResult;
use crate::{Actor, Ops};

/// The windowed figures as the API shows them.
pub(crate) fn window_figures(f: &Figures) -> WindowFigures {
    WindowFigures {
        active_installs: f.active_installs,
        crashed_installs: f.crashed_installs,
        critical_installs: f.critical_installs,
        memory_warnings: f.memory_warnings,
        errors: f.errors.iter().cloned().collect(),
    }
}

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    relops_core::health::wilson(k, n, 1.96)
}

/// The health gate of a release: rate, Wilson interval, the test's verdict and numbers,
/// and the per-channel/platform slices.
pub(crate) fn health_gate(
    f: &Figures,
    slices: &[Slice],
    verdict: Verdict,
    rules: &Rules,
    worst_case_installs: u64,
) -> HealthGate {
    let (lower, upper) = rules.sprt.bounds();
    HealthGate {
        window_hours: 24,
        active_installs: f.active_installs,
        crashed_installs: f.crashed_installs,
        crash_rate: rate(f.crashed_installs, f.active_installs),
        crash_rate_wilson_95: wilson(f.crashed_installs, f.active_installs),
        gate: verdict,
        truncated: verdict != rules.sprt.verdict(f.crashed_installs, f.active_installs),
        sprt: SprtFigures {
            llr: rules.sprt.llr(f.crashed_installs, f.active_installs),
            accept_h0_at: lower,
            accept_h1_at: upper,
            p0: rules.sprt.p0,
            p1: rules.sprt.p1,
            alpha: rules.sprt.alpha,
            beta: rules.sprt.beta,
            min_installs: rules.sprt.min_installs,
            installs_to_decide: rules
                .sprt
                .installs_to_decide(f.crashed_installs, f.active_installs),
            worst_case_installs,
        },
        critical_installs: f.critical_installs,
        slices: slices
            .iter()
            .map(|s| SliceHealth {
                channel: s.channel.clone(),
                platform: s.platform.clone(),
                active_installs: s.active_installs,
                crashed_installs: s.crashed_installs,
                crash_rate: rate(s.crashed_installs, s.active_installs),
                crash_rate_wilson_95: wilson(s.crashed_installs, s.active_installs),
            })
            .collect(),
    }
}

impl Ops {
    /// Tells the health engine when `release`'s rollout stage has soaked, so a report read
    /// between two maintenance passes shows the truncated verdict `rollout advance` uses.
    pub(crate) async fn note_soak(
        &self,
        product: &str,
        release: &str,
        now: chrono::DateTime<Utc>,
    ) -> OpResult<()> {
        let Ok(version) = release.parse::<relops_core::version::Version>() else {
            return Ok(());
        };
        if let Some(r) = self.db.rollout(product, &version).await?
            && now >= r.rollout.since + self.config.rollout.plan().soak(r.rollout.stage)
        {
            self.health.mark_soaked(product, release, now);
        }
        Ok(())
    }

    /// The health gate of `release` now, as the engine judges it.
    pub(crate) fn gate_now(&self, product: &str, release: &str) -> HealthGate {
        let (f, slices, verdict) = self.health.assess(product, release, Utc::now());
        health_gate(
            &f,
            &slices,
            verdict,
            self.health.rules(),
            self.health.worst_case_installs(),
        )
    }

    /// A release's health: the gate (the engine's 24-hour window and its verdict) and the
    /// stored figures beside it (sessions, errors, memory, crash reports). `release` is
    /// the name the fleet reports, registered or not.
    pub async fn release_health(
        &self,
        actor: &Actor,
        product: &str,
        release: &str,
    ) -> OpResult<HealthReport> {
        actor.authorize(Permission::ReleaseRead)?;
        self.health_of(product, release).await
    }

    /// [`Ops::release_health`] for an operation that authorized its caller already.
    pub(crate) async fn health_of(&self, product: &str, release: &str) -> OpResult<HealthReport> {
        self.telemetry_visible().await?;
        let now = Utc::now();
        let v = release.trim();
        let f = self.db.health(product, v, now).await?;
        // Saturating: stored counts are bounded at ingest, and a figure must never wrap.
        let total = |crash_only: bool| {
            f.sessions
                .iter()
                .filter(|(s, _)| !crash_only || session::Status::parse(s).is_crash())
                .fold(0u64, |t, (_, n)| t.saturating_add(*n))
        };
        let (ended, crashed_sessions) = (total(false), total(true));
        let known = self
            .db
            .versions(product)
            .await?
            .iter()
            .any(|x| x.to_string() == v);
        self.note_soak(product, v, now).await?;
        let (figures, slices, verdict) = self.health.assess(product, v, now);
        let (bounded, uncounted) = self.networks.bounded(product, v, Utc::now().timestamp());
        Ok(HealthReport {
            bounded_networks: bounded
                .into_iter()
                .map(|b| BoundedNetwork {
                    network: b.network.to_string(),
                    uncounted_records: b.uncounted_records,
                })
                .collect(),
            uncounted_records_24h: uncounted,
            product: product.to_owned(),
            release: v.to_owned(),
            known_release: known,
            gate: health_gate(
                &figures,
                &slices,
                verdict,
                self.health.rules(),
                self.health.worst_case_installs(),
            ),
            crash_free_sessions: (ended > 0)
                .then(|| (ended - crashed_sessions) as f64 / ended as f64),
            sessions: f.sessions.into_iter().collect(),
            errors_24h: f.errors.into_iter().collect(),
            memory_warnings_24h: f.memory_warnings,
            crash_reports_24h: f.crash_reports,
            unknown_releases: if known {
                None
            } else {
                Some(self.db.unknown_releases(product).await?)
            },
        })
    }
}
