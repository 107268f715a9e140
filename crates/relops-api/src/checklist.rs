//! The readiness checklist and the go/no-go decision.

use chrono::{DateTime, Utc};
use relops_core::access::Role;
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gates::Evidence;

/// `POST /v1/releases/{version}/approve`: the go/no-go decision (product owner).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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

impl GoDecision {
    pub fn is_pending(&self) -> bool {
        self.decision == "go_pending"
    }
}

/// One row of the readiness checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GoDecision {
    /// `go`, `no_go`, or `go_pending`: an emergency go with waivers awaiting its second
    /// person.
    pub decision: String,
    /// The second person who confirmed an emergency go.
    #[serde(default)]
    pub confirmed_by: Option<String>,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub waived: Vec<String>,
    /// What was open when it was decided.
    pub blockers: Vec<String>,
}

/// `relops checklist show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Checklist {
    pub product: String,
    pub version: Version,
    pub state: ReleaseState,
    pub items: Vec<ChecklistItem>,
    /// What blocks go now (empty: the product owner may approve).
    pub blockers: Vec<String>,
    pub decisions: Vec<GoDecision>,
}
