//! Retention (`relops retention plan|apply`): what each data class keeps, which releases are
//! pinned, and what goes now.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One data class's rule and what it removes at the plan's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionRule {
    /// `artifacts`, `evidence`, `symbols`, `crash_dumps`, `log_bundles`, `telemetry`,
    /// `tickets`, `audit`, `release_notes`, `incidents`.
    pub class: String,
    /// What the class holds, in words.
    pub what: String,
    /// Days kept; absent: kept for ever.
    #[serde(default)]
    pub days: Option<u32>,
    /// Items (rows or files) that go.
    pub removes: u64,
    /// Bytes in the blob store that go with them.
    pub bytes: u64,
    /// Items past their age kept because their release is pinned.
    pub kept_pinned: u64,
}

/// A release that is never pruned, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PinnedRelease {
    pub product: String,
    pub version: String,
    pub why: String,
}

/// One thing that goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionItem {
    pub class: String,
    pub product: String,
    /// What it is: an artifact name, a symbol file's module and debug id, a stored file's key,
    /// a table's name for telemetry rows.
    pub id: String,
    #[serde(default)]
    pub release: Option<String>,
    /// Rows (telemetry) or 1.
    pub count: u64,
    pub bytes: u64,
    /// The date its age counts from.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    pub reason: String,
}

/// `GET /v1/retention/plan`: what `relops retention apply` would remove at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionPlan {
    pub at: DateTime<Utc>,
    pub rules: Vec<RetentionRule>,
    pub pinned: Vec<PinnedRelease>,
    /// What goes, at most 1,000 entries (`items_left_off` says how many more).
    pub items: Vec<RetentionItem>,
    pub items_left_off: u64,
    /// Stored files an earlier run removed the rows of but could not delete; this run retries.
    pub blobs_left_over: u64,
}

/// `POST /v1/retention/apply`: what was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionApplied {
    pub at: DateTime<Utc>,
    /// Per class, what went (`removes`, `bytes`) and what was kept pinned.
    pub rules: Vec<RetentionRule>,
    /// Stored files deleted.
    pub blobs_deleted: u64,
    /// Stored files whose deletion failed (retried by the next run).
    pub blobs_failed: u64,
    /// Items left for the next run (each run takes at most 10,000 per class).
    pub left_for_next_run: u64,
}
