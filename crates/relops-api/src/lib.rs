//! Wire types of the relops HTTP API: plain serde structs shared by the server (which
//! produces them), the CLI (which prints them) and the SDK. Behaviour lives elsewhere.
//!
//! Requests carry user input as plain strings so that the server validates them with the
//! domain's own error messages; responses carry the domain's validated types.

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::access::Role;
use relops_core::artifact::ArtifactKind;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, Version};
use serde::{Deserialize, Serialize};

/// Header that carries the request id on every response (and in the audit trail).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unprocessable`, `internal`.
    pub code: String,
    /// What was wrong and how to fix it.
    pub error: String,
}

/// `POST /v1/releases`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateRelease {
    pub version: String,
    /// Planned go-live date, `YYYY-MM-DD`.
    pub go_live: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// A release with its artifacts (`GET /v1/releases/{version}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub freeze_date: NaiveDate,
    pub branch: String,
    pub tag: String,
    pub commit: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub frozen_at: Option<DateTime<Utc>>,
    pub frozen_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// SHA-256 of the release notes (Markdown), once uploaded.
    pub notes_sha256: Option<String>,
    pub artifacts: Vec<Artifact>,
}

/// One line of `GET /v1/releases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseSummary {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub freeze_date: NaiveDate,
    pub artifact_count: u64,
    pub platforms: Vec<Platform>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseSummary>,
}

/// A stored, signed artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub platform: Platform,
    pub kind: ArtifactKind,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Hex Ed25519 signature by the release key over [`signed_message`](Artifact) — see
    /// `docs/releases.md` for the exact bytes.
    pub signature: String,
    /// TUF-style key id (hex SHA-256 of the canonical public-key JSON) of the release key.
    pub key_id: String,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: String,
    pub notarization_id: Option<String>,
    pub authenticode_signer: Option<String>,
    /// Set when the artifact was added or replaced after the freeze.
    pub critical_fix_reason: Option<String>,
    /// How many earlier uploads of the same name this one replaced.
    pub replaces: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactList {
    pub artifacts: Vec<Artifact>,
}

/// Query of `PUT /v1/releases/{version}/artifacts/{name}`; the body is the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadParams {
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notarization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticode_signer: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical_fix: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// `POST /v1/releases/{version}/verify`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub version: Version,
    pub ok: bool,
    pub artifacts: Vec<VerifyResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyResult {
    pub name: String,
    pub ok: bool,
    /// What is wrong, when not ok.
    pub problem: Option<String>,
}

/// `POST /v1/tokens`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateToken {
    pub name: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCreated {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The secret, shown once; only its hash is stored.
    pub token: String,
}

/// `GET /v1/whoami`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    pub name: String,
    pub roles: Vec<Role>,
    pub products: Vec<String>,
}

/// `GET /v1/keys`: the keys of a product's feed and the release key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyList {
    pub product: String,
    pub keys: Vec<KeyInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `root`, `targets`, `snapshot`, `timestamp` (TUF roles) or `release`.
    pub role: String,
    pub key_ids: Vec<String>,
    /// Hex Ed25519 public keys, in the order of `key_ids` (the release key's is what the
    /// SDK's `release_key` setting wants).
    pub public_keys: Vec<String>,
    /// Signatures required (TUF roles; 1 for the release key).
    pub threshold: u32,
    /// Expiry of the role's current metadata (none for the release key).
    pub expires: Option<DateTime<Utc>>,
    /// Version of the role's current metadata.
    pub version: Option<u64>,
}

/// `POST /v1/keys/rotate`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateKey {
    /// `root`, `targets`, `snapshot` or `timestamp`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRotated {
    pub role: String,
    /// The new key id.
    pub key_id: String,
    /// The root version that lists it, per product.
    pub root_versions: Vec<(String, u64)>,
}

/// A release gate's verdict (`PUT /v1/releases/{version}/gates/{kind}`,
/// `GET /v1/releases/{version}/gates`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gate {
    /// `coverage`, `tests`, `sbom`, `vulnerabilities` or `secrets`.
    pub gate: String,
    pub passed: bool,
    /// The numbers behind the verdict, as the gate computed them.
    pub summary: serde_json::Value,
    pub evidence: Vec<Evidence>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// An evidence file kept with a gate verdict or a checklist sign-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateList {
    pub gates: Vec<Gate>,
    /// Gates the configuration requires that have no verdict yet.
    pub missing: Vec<String>,
}

/// `POST /v1/releases/{version}/rollout/{start|advance|pause|resume|halt}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub reason: Option<String>,
}

/// `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The release to go back to; default: the newest release that reached 100 %.
    #[serde(default)]
    pub to: Option<Version>,
    pub reason: String,
    /// `critical`, `high` or `low` (default `critical`).
    #[serde(default)]
    pub severity: Option<String>,
    /// When a fix is expected; named in the notifications.
    #[serde(default)]
    pub next_fix: Option<NaiveDate>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackDone {
    pub product: String,
    pub to: Version,
    pub withdrawn: Vec<Version>,
    pub incident: String,
    pub postmortem_due: NaiveDate,
}

/// An incident (`relops incident show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub product: String,
    pub version: Version,
    pub severity: String,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub postmortem_due: NaiveDate,
    /// `open` (decision pending), `decided`, `resolved` (post-mortem filed).
    pub status: String,
    /// The evidence and what was done when it was opened.
    pub detail: serde_json::Value,
    /// `{action, note, evidence, …}` once decided.
    #[serde(default)]
    pub decision: Option<serde_json::Value>,
    #[serde(default)]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub decided_by: Option<String>,
    /// The post-mortem (Markdown), once filed.
    #[serde(default)]
    pub postmortem: Option<String>,
    #[serde(default)]
    pub postmortem_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub postmortem_by: Option<String>,
    /// No post-mortem and the due date has passed.
    #[serde(default)]
    pub overdue: bool,
}

/// `POST /v1/incidents/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDecision {
    /// `rollback` (roll back now), `hotfix` (fix within 24 h), `next-patch`.
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    /// For `rollback`: the release to go back to (default: the newest that reached 100 %).
    #[serde(default)]
    pub to: Option<Version>,
}

/// An alert: one episode of a rule on a release (`relops alert list|show|ack`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub product: String,
    pub release: String,
    /// `crash_rate`, `critical_failure`, `error_code`, `memory`.
    pub rule: String,
    /// The error code for `error_code`; else empty.
    pub key: String,
    pub severity: String,
    pub summary: String,
    /// The figures when it fired.
    pub evidence: serde_json::Value,
    /// What relops did: halted, rolled back, paged, notified, opened an incident.
    pub actions: serde_json::Value,
    /// A hotfix planning item or a known-issue draft.
    pub follow_up: Option<serde_json::Value>,
    pub incident: Option<String>,
    /// `firing`, `acknowledged` or `resolved`.
    pub status: String,
    pub fired_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// `POST /v1/releases/{version}/escalate`: a critical failure confirmed by support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub reason: String,
    /// The support ticket it came from.
    #[serde(default)]
    pub ticket: Option<String>,
}

/// `POST /v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertAck {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
}

/// A message in the notification outbox (`relops notify list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationList {
    pub notifications: Vec<NotificationInfo>,
}

/// `GET /v1/update` when there is something to install (204 otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `POST /v1/releases/{version}/approve`: the go/no-go decision (product owner).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Record a no-go instead (needs `reason`); the release stays where it is.
    #[serde(default)]
    pub no_go: bool,
    /// Emergency path for a critical hotfix (patch releases only): go although these
    /// checklist items are open; their gates are waived with them. Needs `reason`.
    #[serde(default)]
    pub waive: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One row of the readiness checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub item: String,
    pub title: String,
    /// The role that signs it.
    pub owner: Role,
    /// `open`, `done` or `waived`.
    pub status: String,
    /// The gates that feed it, with `passed`, `failed` or `missing`.
    pub gates: std::collections::BTreeMap<String, String>,
    pub signed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub evidence: Option<Evidence>,
}

/// A recorded go or no-go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoDecision {
    /// `go` or `no_go`.
    pub decision: String,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub waived: Vec<String>,
    /// What was open when it was decided.
    pub blockers: Vec<String>,
}

/// `relops checklist show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checklist {
    pub product: String,
    pub version: Version,
    pub state: ReleaseState,
    pub items: Vec<ChecklistItem>,
    /// What blocks go now (empty: the product owner may approve).
    pub blockers: Vec<String>,
    pub decisions: Vec<GoDecision>,
}
