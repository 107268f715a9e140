//! The audit trail's verification and checkpoints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One entry of the audit trail as the console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntryInfo {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `name (token id) as role`, or the health engine.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The newest entries matching a filter, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntryInfo>,
}

/// `GET /v1/audit/verify`, `POST /v1/audit/verify`: the hash chain recomputed, and checked
/// against the anchors kept outside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    pub ok: bool,
    /// The first bad entry's sequence number, and what is wrong with it.
    pub first_bad: Option<(u64, String)>,
    /// Anchors the chain was checked against: the anchor file's newest checkpoint and
    /// newest prune, and those the request brought.
    #[serde(default)]
    pub anchors_checked: u64,
    /// The newest entry an anchor pins (entries after it are covered by the database's own
    /// checkpoints only).
    #[serde(default)]
    pub anchored_through: Option<u64>,
    /// Lines in the server's anchor file.
    #[serde(default)]
    pub anchor_file_lines: u64,
}

/// `POST /v1/audit/verify`: checkpoints a person kept (`relops audit anchor`), to check the
/// chain against besides the server's anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorCheck {
    /// At most 1,000.
    pub anchors: Vec<AuditCheckpoint>,
}

/// A signed statement that entry `seq` of the chain has hash `hash`
/// (`POST /v1/audit/checkpoint`, `POST /v1/audit/prune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditCheckpoint {
    pub seq: u64,
    pub hash: String,
    /// RFC 3339.
    pub at: String,
    pub key_id: String,
    pub signature: String,
    /// Entries up to `seq` were pruned when it was written.
    pub pruned: bool,
}

/// Checkpoints as JSON lines, as `relops audit anchor` prints them and the anchor file
/// holds them (blank lines skipped), or the first bad line's number and why.
pub fn parse_anchors(text: &str) -> Result<Vec<AuditCheckpoint>, (usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| (i + 1, e.to_string())))
        .collect()
}
