//! What installs send to the native ingest endpoints (`/v1/ingest/*`, authenticated by the
//! product's public ingest key), and what every ingest endpoint answers. The SDK
//! (`relops-client`) builds these same structs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What every native record names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InstallScope {
    /// The install's pseudonymous id (a random UUID made once by the SDK).
    pub install_id: String,
    /// The running version (`2.1.0`).
    pub release: String,
    /// `macos-universal`, `windows-x64`, …
    pub platform: String,
    /// `internal` (pilot) or `stable`.
    pub channel: String,
}

/// `POST /v1/ingest/sessions`: one session update (or `{"sessions": [...]}`, up to 1,000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionUpdate {
    #[serde(flatten)]
    pub who: InstallScope,
    /// Client-chosen, so a retry is recognised.
    pub session_id: String,
    /// `ok`, `exited`, `crashed`, `abnormal`, `errored` (others are kept as sent).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

/// `POST /v1/ingest/sessions` with many updates, stored all or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionBatch {
    pub sessions: Vec<SessionUpdate>,
}

/// `POST /v1/ingest/errors`: an error event with a code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReport {
    #[serde(flatten)]
    pub who: InstallScope,
    /// Client-chosen (a UUID), so a retry is stored once.
    pub event_id: String,
    /// e.g. `TOB_PARSE_ERROR`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /v1/ingest/memory`: a memory warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemoryWarning {
    #[serde(flatten)]
    pub who: InstallScope,
    /// Host memory in use, percent.
    pub host_memory_percent: u8,
}

/// `POST /v1/ingest/crashes`: a crash report whose dump was sealed on the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashUpload {
    #[serde(flatten)]
    pub who: InstallScope,
    /// Client-chosen UUID: a retried upload is stored once.
    pub crash_id: String,
    /// `minidump`, `panic`, … (what the dump is).
    pub kind: String,
    /// When the crash happened, on the client.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Reports the SDK's full queue dropped before this one.
    #[serde(default)]
    pub dropped_before: u64,
    /// Unencrypted tags (e.g. `phase`) for the crash fingerprint rules.
    #[serde(default)]
    pub tags: BTreeMap<String, serde_json::Value>,
    /// The sealed dump (`relops-seal` format), base64.
    pub sealed: String,
}

/// What an ingest endpoint answers once the records are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IngestAck {
    /// The event, session or crash id (Sentry's answer); absent for an envelope without
    /// an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Records stored, for a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
}

/// `GET /v1/ingest/dsn`: what an app's Sentry SDK (or ours) is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Dsn {
    /// `https://KEY@HOST/PROJECT`.
    pub dsn: String,
    pub product: String,
    /// The key part of the DSN (public: it ships inside every copy of the app).
    pub public_key: String,
}
