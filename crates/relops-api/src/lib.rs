#![doc = include_str!("../README.md")]

mod access;
mod audit;
mod checklist;
mod crashes;
mod gates;
mod health;
mod incidents;
mod ingest;
mod kb;
mod logs;
mod pilot;
mod releases;
mod retention;
mod rollout;
mod support;
mod tickets;

pub use access::*;
pub use audit::*;
pub use checklist::*;
pub use crashes::*;
pub use gates::*;
pub use health::*;
pub use incidents::*;
pub use ingest::*;
pub use kb::*;
pub use logs::*;
pub use pilot::*;
pub use releases::*;
pub use retention::*;
pub use rollout::*;
pub use support::*;
pub use tickets::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Header that carries the request id on every response (and in the audit trail).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `unprocessable`,
    /// `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// What was wrong and how to fix it.
    pub error: String,
    /// For `forbidden`: the permission the caller's roles lack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}
