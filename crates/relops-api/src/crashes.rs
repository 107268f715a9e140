//! Crash reports as listed and shown (`relops crash list|show`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A crash: a crash event, a Crashpad/sentry-native minidump or a dump sealed by the SDK.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashReport {
    /// The event or crash id (32 hex digits).
    pub id: String,
    pub release: String,
    pub channel: String,
    pub platform: String,
    pub install_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// `minidump`, `panic`, … for dumps; `event` for a crash reported as an event only.
    pub kind: String,
    /// The critical-failure rule that classed it.
    pub critical: Option<String>,
    /// The dump, if one came with it.
    pub dump: Option<DumpInfo>,
    /// Reports the SDK's full queue dropped before this one.
    pub dropped_before: Option<u64>,
    /// When the crash happened, as the client said.
    pub created_at: Option<DateTime<Utc>>,
    /// The tags it was sent with (values as text).
    pub tags: BTreeMap<String, String>,
}

/// Where a crash's dump stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DumpInfo {
    /// Sealed on the client to the crash key (opened only for roles that may read dumps).
    pub sealed: bool,
    pub size: u64,
    pub sha256: String,
}

/// `GET /v1/crashes`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashList {
    pub crashes: Vec<CrashReport>,
}
