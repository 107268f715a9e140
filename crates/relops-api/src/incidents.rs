//! Alerts (one episode of a rule on a release) and incidents (a decision and a
//! post-mortem).

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::version::Version;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{HealthGate, WindowFigures};

/// An incident (`relops incident show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// What it was opened with: the alert and its evidence, or the rollback that opened it.
    pub detail: IncidentOpened,
    /// What was decided, once decided.
    #[serde(default)]
    pub decision: Option<IncidentDecided>,
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
    /// The first release after this one that went out (approved or later, not rolled
    /// back): what fixes a `hotfix` or `next-patch` decision.
    #[serde(default)]
    pub fixed_by: Option<Version>,
    /// Decided `hotfix`, its 24 h have passed, and no release fixes it yet.
    #[serde(default)]
    pub hotfix_overdue: bool,
    /// A rollback decision filed by one of on-call DevOps and the Product Owner, waiting
    /// for the other.
    #[serde(default)]
    pub rollback_request: Option<crate::RollbackPending>,
    /// Support tickets about this release (R-RB-2: the rollback decision is taken from crash
    /// and support-ticket evidence), newest first; without customers' data.
    #[serde(default)]
    pub support_tickets: Vec<crate::TicketRef>,
    /// The release's crash groups, most crashes first (at most 10): what is crashing.
    #[serde(default)]
    pub crash_groups: Vec<crate::CrashGroup>,
}

/// `POST /v1/incidents/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentDecision {
    /// `rollback` (roll back now), `hotfix` (fix within 24 h), `next-patch`.
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    /// For `rollback`: the release to go back to (default: the newest that reached 100 %).
    #[serde(default)]
    pub to: Option<Version>,
    /// For `rollback`: even if the target lacks a platform's artifact (see
    /// `RollbackRequest::force`).
    #[serde(default)]
    pub force: bool,
}

/// An alert: one episode of a rule on a release (`relops alert list|show|ack`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    pub evidence: AlertEvidence,
    /// What relops did, in words: halted, rolled back, paged, notified, opened an incident.
    pub actions: Vec<String>,
    /// A hotfix planning item or a known-issue draft.
    pub follow_up: Option<FollowUp>,
    pub incident: Option<String>,
    /// `firing`, `acknowledged` or `resolved`.
    pub status: String,
    pub fired_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// `POST /v1/releases/{version}/escalate`: a critical failure confirmed by support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub reason: String,
    /// The support ticket it came from.
    #[serde(default)]
    pub ticket: Option<String>,
}

/// `POST /v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertAck {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
}

/// The evidence an alert fired on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertEvidence {
    /// The condition that held, in words.
    pub condition: String,
    /// The figures at the moment the rule fired.
    pub at_trigger: WindowFigures,
    /// The release's health gate a moment later, when the alert was opened.
    pub health: Option<HealthGate>,
}

/// Work an alert hands to a person: a hotfix planning item (QA) or a known-issue draft
/// (support).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FollowUp {
    /// `hotfix_planning` or `known_issue_draft`.
    pub kind: String,
    /// The role whose work it is.
    pub owner: String,
    pub title: String,
    /// `draft` for a known issue until support confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Error events of the code in 24 h (hotfix planning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_24h: Option<u64>,
    /// The workaround to confirm (known-issue draft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workaround: Option<String>,
}

/// What an incident was opened with: an alert and its evidence, or (for an incident a
/// rollback opened) the rollback itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentOpened {
    /// The alert that opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// That alert's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<AlertEvidence>,
    /// What is pending when it was opened (`rollback decision pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Opened by a rollback: the rollback.
    #[serde(flatten)]
    pub rollback: Option<RollbackTaken>,
}

/// A rollback as an incident records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackTaken {
    /// `rollback`.
    pub action: String,
    pub to: Version,
    pub withdrawn: Vec<Version>,
    pub next_fix: Option<NaiveDate>,
    /// The reason given.
    pub note: Option<String>,
}

/// An incident's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentDecided {
    /// `rollback`, `hotfix` or `next-patch`.
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    /// For `rollback`: the release gone back to and those withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Version>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fix: Option<NaiveDate>,
    /// For `hotfix`: when the fix is due (24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotfix_due: Option<DateTime<Utc>>,
    /// What the decision was made on; none for a rollback taken outside an incident.
    #[serde(default)]
    pub evidence: Option<DecisionEvidence>,
}

/// The evidence shown to whoever decided an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionEvidence {
    /// What the incident was opened with.
    pub opened_with: IncidentOpened,
    /// The release's health when the decision was made.
    pub health_now: HealthGate,
}
