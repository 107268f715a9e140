//! Releases and their artifacts.

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::artifact::ArtifactKind;
use relops_core::data_schema::DataSchema;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/releases`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
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
    /// The schema version of the data the app writes (project files, its database): a
    /// rollback to a release that cannot read it is refused (R-RB-7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_schema: Option<u32>,
    /// The oldest schema the app's down-migrations bring data back to (default:
    /// `data_schema`, none). Needs `data_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrades_to: Option<u32>,
    /// The security advisory the release fixes (e.g. `CVE-2027-1234`): Sparkle shows it as
    /// a critical update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
}

/// A release with its artifacts (`GET /v1/releases/{version}`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    /// The app data's schema and how far back its down-migrations reach, when declared.
    #[serde(default)]
    pub data_schema: Option<DataSchema>,
    /// The security advisory the release fixes, when declared.
    #[serde(default)]
    pub security: Option<String>,
    pub artifacts: Vec<Artifact>,
}

/// One line of `GET /v1/releases`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseSummary {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub freeze_date: NaiveDate,
    pub artifact_count: u64,
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub data_schema: Option<DataSchema>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseSummary>,
}

/// A stored, signed artifact.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    /// The oldest operating system version the file runs on (e.g. `11.0`), when declared.
    #[serde(default)]
    pub minimum_os: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactList {
    pub artifacts: Vec<Artifact>,
}

/// Query of `PUT /v1/releases/{version}/artifacts/{name}`; the body is the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct UploadParams {
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notarization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticode_signer: Option<String>,
    /// The oldest operating system version the file runs on, dotted numbers (`11.0`,
    /// `10.0.17763`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_os: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical_fix: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The file's size in bytes, for `…/check` (an upload reads its Content-Length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// `POST /v1/releases/{version}/artifacts/{name}/check`: the upload would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UploadCheck {
    /// The name it would be stored under (Unicode NFC).
    pub name: String,
    pub platform: Platform,
    /// It would replace an earlier upload of the same name.
    pub replaces: bool,
    /// It would be recorded as a critical fix (the release is past its freeze).
    pub critical_fix: bool,
    /// The largest file the server accepts.
    pub max_bytes: u64,
}

/// `POST /v1/releases/{version}/verify`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerifyReport {
    pub version: Version,
    pub ok: bool,
    pub artifacts: Vec<VerifyResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerifyResult {
    pub name: String,
    pub ok: bool,
    /// What is wrong, when not ok.
    pub problem: Option<String>,
}

/// A release as the public release page shows it (R-REL-10): only approved releases (and
/// what became of them) appear, never a draft or a frozen one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicRelease {
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub approved_at: Option<DateTime<Utc>>,
    /// Rolled back: no longer offered.
    pub withdrawn: bool,
    /// The channels that offer it now (any share of their installs).
    pub channels: Vec<String>,
    /// The release notes (Markdown), for the newest releases of the page.
    pub notes: Option<String>,
    /// Where the notes are public (the update feed's copy), once uploaded.
    pub notes_url: Option<String>,
    /// `SHA256SUMS` of its artifacts, as `sha256sum -c` reads it.
    pub sha256sums: String,
    pub artifacts: Vec<PublicArtifact>,
}

/// A file of a public release.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicArtifact {
    pub name: String,
    pub platform: Platform,
    pub size: u64,
    pub sha256: String,
}

/// The public release page of a product, newest release first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicReleases {
    pub product: String,
    pub releases: Vec<PublicRelease>,
}
