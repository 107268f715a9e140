//! The audit trail's verification and checkpoints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET /v1/audit/verify`: the hash chain recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    pub ok: bool,
    /// The first bad entry's sequence number, and what is wrong with it.
    pub first_bad: Option<(u64, String)>,
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
