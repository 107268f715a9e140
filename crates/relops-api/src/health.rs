//! Release health: the figures of the last 24 hours and the gate's verdict on them
//! (`GET /v1/releases/{version}/health`, and the evidence of every alert and incident).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use relops_core::health::Verdict;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A release's windowed figures (24 h), as the health engine counted them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowFigures {
    pub active_installs: u64,
    pub crashed_installs: u64,
    /// Installs with a crash classed critical by a `[[alerts.critical]]` rule.
    pub critical_installs: u64,
    /// Memory warnings at or above `[alerts] memory_host_percent`.
    pub memory_warnings: u64,
    /// Error events per code.
    pub errors: BTreeMap<String, u64>,
}

/// The health gate of a release: crash rate with its interval, the sequential test's
/// verdict and numbers, and the same per channel and platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthGate {
    /// The window the figures cover (24).
    pub window_hours: u32,
    pub active_installs: u64,
    pub crashed_installs: u64,
    /// Crashed ÷ active installs; none without installs.
    pub crash_rate: Option<f64>,
    /// The 95 % Wilson interval of the crash rate, `[low, high]`.
    pub crash_rate_wilson_95: Option<(f64, f64)>,
    /// The gate's verdict: `unknown` (too few installs), `undecided`, `passing`, `failing`
    /// (truncated once the rollout stage has soaked).
    pub gate: Verdict,
    /// The verdict was taken by truncation: the stage soaked with the test undecided, and
    /// the rate is nearer `p1` (failing) or `p0` (passing).
    #[serde(default)]
    pub truncated: bool,
    pub sprt: SprtFigures,
    pub critical_installs: u64,
    pub slices: Vec<SliceHealth>,
}

/// The sequential probability ratio test where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SprtFigures {
    /// Log-likelihood ratio of the sample.
    pub llr: f64,
    /// Passing at or below this.
    pub accept_h0_at: f64,
    /// Failing at or above this.
    pub accept_h1_at: f64,
    /// The acceptable crash rate.
    pub p0: f64,
    /// The rate the test tells apart from p0.
    pub p1: f64,
    pub alpha: f64,
    pub beta: f64,
    /// Installs needed before any verdict.
    pub min_installs: u64,
    /// While undecided: the active installs the test needs in all to decide if the rate
    /// stays where it is (none when it sits where the test cannot tell).
    #[serde(default)]
    pub installs_to_decide: Option<u64>,
    /// The most installs the test expects to need at a true rate between p0 and p1: a
    /// stage with fewer may end its soak undecided and be judged by truncation.
    #[serde(default)]
    pub worst_case_installs: u64,
}

/// One channel × platform of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SliceHealth {
    pub channel: String,
    pub platform: String,
    pub active_installs: u64,
    pub crashed_installs: u64,
    pub crash_rate: Option<f64>,
    pub crash_rate_wilson_95: Option<(f64, f64)>,
}

/// `GET /v1/releases/{version}/health`: the gate and the stored figures beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthReport {
    pub product: String,
    /// The release as the fleet names it (registered or not).
    pub release: String,
    /// The release is in the registry (`relops release list`).
    pub known_release: bool,
    #[serde(flatten)]
    pub gate: HealthGate,
    /// Ended sessions by status.
    pub sessions: BTreeMap<String, u64>,
    /// Share of ended sessions that did not crash.
    pub crash_free_sessions: Option<f64>,
    pub errors_24h: BTreeMap<String, u64>,
    pub memory_warnings_24h: u64,
    pub crash_reports_24h: u64,
    /// For a release the registry does not know: every unregistered release name the
    /// fleet reported, with its installs.
    pub unknown_releases: Option<Vec<(String, u64)>>,
    /// Networks that sent more installs of this release in 24 h than `[ingest]
    /// installs_per_network` lets count (at most ten, the most first): their further
    /// installs are not in the figures above. Empty when none.
    #[serde(default)]
    pub bounded_networks: Vec<BoundedNetwork>,
    /// Records not counted for that reason, all networks.
    #[serde(default)]
    pub uncounted_records_24h: u64,
}

/// A network whose further installs of a release do not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BoundedNetwork {
    /// `198.51.100.0/24`, `2001:db8:1::/48`.
    pub network: String,
    pub uncounted_records: u64,
}

/// `GET /v1/releases/{version}/health/history`: a release's health over time, one point
/// per recorded time (`[health] history_interval_seconds` apart), summed over the channels
/// and platforms asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthHistory {
    pub product: String,
    pub release: String,
    /// The hours back the points cover.
    pub hours: u32,
    /// Only this channel (all when none).
    pub channel: Option<String>,
    /// Only this platform (all when none).
    pub platform: Option<String>,
    /// Every channel × platform with points in the period (what may be asked for).
    pub slices: Vec<SliceName>,
    /// Oldest first.
    pub points: Vec<HealthPoint>,
}

/// A channel × platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct SliceName {
    pub channel: String,
    pub platform: String,
}

/// A release's health at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthPoint {
    pub at: DateTime<Utc>,
    /// Installs seen in the 24 hours before `at`, and those of them that crashed.
    pub active_installs: u64,
    pub crashed_installs: u64,
    /// 1 − crashed ÷ active; none without installs.
    pub crash_free_installs: Option<f64>,
    /// The 95 % Wilson interval of the crash-free share, `[low, high]`.
    pub crash_free_installs_wilson_95: Option<(f64, f64)>,
    /// Sessions that ended since the point before (for the first point: all so far), and
    /// those of them that crashed.
    pub sessions_ended: u64,
    pub sessions_crashed: u64,
    pub crash_free_sessions: Option<f64>,
}
