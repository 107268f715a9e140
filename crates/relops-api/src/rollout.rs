//! Rollout, rollback, the notification outbox and the thin-client update check.

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/releases/{version}/rollout/{start|advance|pause|resume|halt}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutStep {
    /// Advance before the soak is over (needs `reason`).
    #[serde(default)]
    pub force: bool,
    /// Required for a halt and a forced advance; recorded in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Where a release's rollout stands (`relops rollout status --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutStatus {
    pub product: String,
    pub version: Version,
    /// `active`, `paused`, `halted`, `completed` or `rolled_back`.
    pub state: String,
    /// `pilot`, `25`, `50` or `100`.
    pub stage: String,
    /// The share of the production channel offered the release, in percent.
    pub percent: f64,
    /// Percent per channel.
    pub channels: std::collections::BTreeMap<String, f64>,
    /// When the current stage was entered.
    pub since: DateTime<Utc>,
    /// When `advance` is allowed without `--force` (none at 100 %).
    pub next_step_allowed_at: Option<DateTime<Utc>>,
    pub release_state: ReleaseState,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    /// Why the rollout stands where it is: the reason given with its last start, halt,
    /// pause or forced step (a resume clears a halt's or pause's reason).
    pub reason: Option<String>,
    /// The release's health gate now (what `advance` checks once the stage has soaked).
    #[serde(default)]
    pub health: Option<crate::HealthGate>,
}

/// `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The release to go back to; default: the newest release that reached 100 %.
    #[serde(default)]
    pub to: Option<Version>,
    /// Why; required unless `confirm`.
    #[serde(default)]
    pub reason: String,
    /// `critical`, `high` or `low` (default `critical`).
    #[serde(default)]
    pub severity: Option<String>,
    /// When a fix is expected; named in the notifications.
    #[serde(default)]
    pub next_fix: Option<NaiveDate>,
    /// Roll back even though the target has no artifact for a platform a withdrawn
    /// release has (those installs keep the withdrawn release; nothing is offered to them),
    /// or cannot read the data schema a withdrawn release's down-migrations reach
    /// (R-RB-7; the audit entry names what was accepted).
    #[serde(default)]
    pub force: bool,
    /// Confirm the product's waiting rollback request as its second person (the other
    /// fields are then ignored: the request is taken as it was filed).
    #[serde(default)]
    pub confirm: bool,
}

/// A person's rollback waiting for its second person (R-RB-2: on-call DevOps together with
/// the Product Owner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackPending {
    pub product: String,
    /// Where it would go back to, and what it would withdraw, as of filing.
    pub to: Version,
    pub withdrawn: Vec<Version>,
    pub reason: String,
    /// The incident it decides, when filed as an incident's decision.
    pub incident: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// Unconfirmed by then, it lapses (`[rollout] rollback_confirm_minutes`).
    pub expires_at: DateTime<Utc>,
    /// The role the second person must hold: `product_owner` or `oncall_devops`.
    pub awaits: String,
}

/// `POST /v1/rollback`: done (the fields of [`RollbackDone`]), or filed and waiting for its
/// second person (`awaiting_confirmation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackAnswer {
    #[serde(flatten)]
    pub done: Option<RollbackDone>,
    #[serde(default)]
    pub awaiting_confirmation: Option<RollbackPending>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackDone {
    pub product: String,
    pub to: Version,
    pub withdrawn: Vec<Version>,
    pub incident: String,
    pub postmortem_due: NaiveDate,
    /// Platforms a withdrawn release has and the target has not: their installs stay on
    /// the withdrawn release (taken with `force`, or by the health engine).
    #[serde(default)]
    pub stranded_platforms: Vec<relops_core::platform::Platform>,
}

/// A message in the notification outbox (`relops notify list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationInfo {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub event: String,
    pub version: String,
    /// The destination's name in `[[notify.webhooks]]`.
    pub sink: String,
    pub kind: String,
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationInfo>,
    /// The configured destinations (`[[notify.webhooks]]`), as `name (kind)`; empty when
    /// nobody is told of halts, rollbacks and alerts.
    #[serde(default)]
    pub destinations: Vec<String>,
}

/// `GET /v1/update` when there is something to install (204 otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateOffer {
    pub version: Version,
    /// The feed's target name.
    pub target: String,
    /// Where to download it (relative to the server).
    pub url: String,
    pub size: u64,
    pub sha256: String,
    /// The artifact's own file name, which the release signature covers.
    pub artifact: String,
    /// Hex Ed25519 signature by the release key.
    pub signature: String,
    pub release_key_id: String,
    /// The offer is older than the running version (a rollback directive).
    pub downgrade: bool,
}
