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
    /// Files sent with it besides the dump (Sentry envelope attachments: logs,
    /// screenshots), sealed at rest; `relops crash attachment ID N` opens one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentInfo>,
    /// Log bundles the install attached to this crash (shown with one crash, not in lists);
    /// `relops logs get ID` opens one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_bundles: Vec<crate::LogBundleInfo>,
    /// What processing the dump (or the event's stack trace) found. A list of crashes
    /// carries the status, exception and group; one crash shown carries the stack too.
    #[serde(flatten)]
    pub analysis: CrashAnalysis,
}

/// Where processing a crash stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisStatus {
    /// Not processed yet (the worker is behind, or the crash came a moment ago).
    #[default]
    Pending,
    /// Processed: the stack is as good as the symbols uploaded so far.
    Processed,
    /// The dump could not be read (`reason` says why); nothing of it is shown.
    Unprocessable,
    /// The crash came as an event without a stack trace or dump: nothing to process.
    NoStack,
}

impl AnalysisStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Unprocessable => "unprocessable",
            Self::NoStack => "no_stack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Processed,
            Self::Unprocessable,
            Self::NoStack,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What a crash's dump (or its event's stack trace) says: where it crashed, why, on what.
/// It holds no memory of the crashed process: frames, registers' meaning and modules only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CrashAnalysis {
    pub status: AnalysisStatus,
    /// Why a dump is unprocessable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The signal or exception: `SIGSEGV / SEGV_MAPERR`, `EXCEPTION_ACCESS_VIOLATION_READ`,
    /// or an event's exception type and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// The address the crash touched (hex), when the exception has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_address: Option<String>,
    /// Operating system and version as the dump says (`Linux 6.1.0`, `Windows NT 10.0.22631`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// CPU architecture (`amd64`, `arm64`, `x86`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Seconds from the process's start to the crash, when the dump or event says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// The crashing thread's index in the dump, and its name if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashing_thread: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_name: Option<String>,
    /// The crashing thread's frames, innermost first (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<CrashFrame>,
    /// Modules on the stack whose symbols are not uploaded yet (`relops symbols upload`);
    /// the crash is processed again when they arrive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_symbols: Vec<ModuleId>,
    /// The crash group (`relops crash group ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The crash-group signature: the top frame as people name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
}

/// One stack frame. Without symbols a frame names its module and the offset in it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CrashFrame {
    /// The module's file name (`wizard`, `libc.so.6`, `Wizard.exe`).
    pub module: Option<String>,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The instruction's offset in its module (hex), for frames without symbols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_offset: Option<String>,
    /// How the unwinder found the frame: `context`, `cfi`, `frame_pointer`, `scan`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
}

/// A module as symbol files name it: the debug file and its debug id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ModuleId {
    pub module: String,
    pub debug_id: String,
}

/// A crash group: crashes whose crashing threads' top frames are the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashGroup {
    pub id: String,
    /// SHA-256 over the normalised top frames (hex).
    pub fingerprint: String,
    /// The top frame as people name it (`ProjectLoader::open`, `wizard!0x1a2b`).
    pub signature: String,
    pub exception: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The first release it was seen in (by version).
    pub first_release: String,
    /// Releases it was seen in, by version.
    pub releases: Vec<String>,
    pub platforms: Vec<String>,
    /// Crashes in the release asked about (all releases when none was).
    pub count: u64,
    /// Distinct installs among them.
    pub installs: u64,
    /// No crash of this group came from an earlier release than the one asked about.
    pub new_in_release: bool,
    /// The release marked as fixing it (`relops crash fixed`).
    pub fixed_in: Option<String>,
    /// Seen in the release marked as fixing it, or a later one.
    pub regressed: bool,
}

/// `GET /v1/releases/{version}/crash-groups`, most crashes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashGroupList {
    pub release: String,
    pub groups: Vec<CrashGroup>,
    /// Crashes of the release not processed yet.
    pub pending: u64,
}

/// A crash group's history: per release, and its newest crashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CrashGroupHistory {
    pub group: CrashGroup,
    pub per_release: Vec<GroupInRelease>,
    /// The stack of its newest processed crash.
    pub frames: Vec<CrashFrame>,
    /// Its newest crashes' ids (at most 20).
    pub crashes: Vec<String>,
}

/// A crash group in one release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupInRelease {
    pub release: String,
    pub count: u64,
    pub installs: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// `relops crash fixed GROUP VERSION`: the release that fixes a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MarkFixed {
    /// The release version; `null` clears the mark.
    pub fixed_in: Option<String>,
}

/// A symbol file as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SymbolFileInfo {
    pub module: String,
    pub debug_id: String,
    /// `Linux`, `mac`, `windows` as the symbol file's MODULE line says.
    pub os: String,
    pub arch: String,
    /// The release it was uploaded for, if one was named.
    pub release: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    /// Crashes queued to be processed again because these symbols arrived.
    #[serde(default)]
    pub reprocessing: u64,
}

/// `GET /v1/symbols`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SymbolList {
    pub symbols: Vec<SymbolFileInfo>,
}

/// A file sent with a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentInfo {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// `event.attachment`, `event.view_hierarchy`, … as the SDK said.
    pub attachment_type: Option<String>,
    pub size: u64,
    /// SHA-256 of the file as sent (before sealing).
    pub sha256: String,
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
