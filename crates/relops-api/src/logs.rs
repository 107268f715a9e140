//! Log bundles (issue 27): the app and error logs of an install's last days, packed as a
//! tar.gz by the SDK, sealed there to the crash key and attached to a crash or to the
//! install's own ticket. The server stores them sealed; opening one needs `crash.dump`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/ingest/logs`: one sealed log bundle (authenticated by the DSN key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogBundleUpload {
    #[serde(flatten)]
    pub who: crate::InstallScope,
    /// A UUID the SDK made for this bundle (a retry with the same bytes is stored once).
    pub bundle_id: String,
    /// The crash it explains (exactly one of `crash_id` and `ticket`).
    #[serde(default)]
    pub crash_id: Option<String>,
    /// The ticket it belongs to: one this install opened ("report a problem").
    #[serde(default)]
    pub ticket: Option<String>,
    /// Days of logs packed (1-180).
    pub days: u32,
    /// Log files packed.
    pub files: u32,
    /// When the SDK packed it.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// The tar.gz sealed to the crash key (HPKE, bound to `logs:{bundle_id}`), base64.
    pub sealed: String,
}

/// A stored log bundle, as listed (the contents need `relops logs get`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogBundleInfo {
    pub id: String,
    #[serde(default)]
    pub crash_id: Option<String>,
    #[serde(default)]
    pub ticket: Option<String>,
    pub install_id: String,
    pub release: String,
    pub platform: String,
    pub days: u32,
    pub files: u32,
    /// Sealed bytes stored.
    pub size: u64,
    /// SHA-256 of the sealed bytes.
    pub sha256: String,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

/// `GET /v1/log-bundles?crash=|ticket=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogBundleList {
    pub bundles: Vec<LogBundleInfo>,
}
