//! What a route is, as the route table (`table.rs`) declares it and the OpenAPI document
//! (`crate::openapi`) and `docs/permissions.md` describe it.

use axum::http::Method;
use relops_core::access::Permission;
use schemars::{Schema, SchemaGenerator};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health checks and the signed update feed.
    Public,
    /// Any valid token.
    Token,
    /// A token with a role that holds this permission.
    Permission(Permission),
    /// A product's public ingest key (DSN), not a token: telemetry from installs.
    IngestKey,
}

/// A request or answer body, for the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    None,
    /// JSON of a `relops-api` type (its schema, registered with the generator).
    Json(fn(&mut SchemaGenerator) -> Schema),
    /// Other content, by media type.
    Media(&'static str),
}

/// One route, as documented and tested.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// What the route takes and answers on success, and with which status.
    pub request: Body,
    pub response: Body,
    pub status: u16,
    /// The route takes large bodies (report uploads), beyond the default JSON limit.
    pub large_body: bool,
    /// The route takes a symbol file, up to `[crashes] max_symbol_bytes`.
    pub symbol_body: bool,
    /// Telemetry: compressed bodies (gzip, deflate, br, zstd) are decompressed, within
    /// `[ingest] max_body_bytes` after decompression.
    pub telemetry: bool,
    /// Telemetry whose handler decodes the whole body itself (`routes/body_decoding.rs`,
    /// the hot path) instead of the streaming decompression layer.
    pub decodes_body: bool,
}

/// The HTTP method of a spec.
pub fn method(spec: &RouteSpec) -> Method {
    spec.method
        .parse()
        .expect("a valid method in the route table")
}
