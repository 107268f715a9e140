//! Pilot enrolment (issue 33, playbook §1.4: pilot users test for 48 h on the internal
//! channel): invitation codes a customer's team redeems in the app, the enrolled installs,
//! and whether the pilot stage has enough of them for the health gate to decide.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/pilot/invites`: a code for one organisation's installs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotInviteRequest {
    /// Whose installs redeem it, e.g. `Example GmbH`.
    pub organisation: String,
    /// Installs that may enrol with it (50).
    #[serde(default)]
    pub max_installs: Option<u32>,
    /// Days it can be redeemed (30).
    #[serde(default)]
    pub days: Option<u32>,
}

/// A new invitation: the code is shown once (relops keeps only its SHA-256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotInvite {
    pub code: String,
    pub organisation: String,
    pub max_installs: u32,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/ingest/pilot/join`: the app redeems a code (the DSN key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotJoin {
    #[serde(flatten)]
    pub who: crate::InstallScope,
    pub code: String,
}

/// What joining gave the install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotJoined {
    /// The channel the app uses from now on (`internal`).
    pub channel: String,
    pub organisation: String,
}

/// `POST /v1/ingest/pilot/leave`: the install leaves the pilot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotLeave {
    pub install_id: String,
}

/// An enrolled install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotInstall {
    pub install_id: String,
    pub organisation: String,
    pub enrolled_at: DateTime<Utc>,
    /// When it left or was removed (it then gets its own channel again).
    #[serde(default)]
    pub left_at: Option<DateTime<Utc>>,
    /// The release it ran when last seen in the last 24 hours.
    #[serde(default)]
    pub last_release: Option<String>,
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// An invitation as listed (without its code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotInviteInfo {
    pub organisation: String,
    pub max_installs: u64,
    pub used: u64,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The release in its pilot stage, and whether enough enrolled installs run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotCoverage {
    pub release: String,
    /// Enrolled installs seen running it in the last 24 hours.
    pub enrolled_on_it: u64,
    /// Installs the crash-rate test may need before it decides at the worst case.
    pub needed: u64,
    /// Said when too few run it for the health gate to decide.
    #[serde(default)]
    pub warning: Option<String>,
}

/// `GET /v1/pilot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PilotList {
    pub installs: Vec<PilotInstall>,
    pub invites: Vec<PilotInviteInfo>,
    #[serde(default)]
    pub pilot_release: Option<PilotCoverage>,
}
