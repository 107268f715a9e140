//! The fleet's telemetry endpoints (`relops_ops::ingest`): the Sentry envelope endpoint,
//! Crashpad's minidump upload and the native `/v1/ingest/*` endpoints, authenticated by the
//! product's public ingest key; and the DSN for operators.
//!
//! Bodies may be gzip, deflate, br or zstd (decompressed within `[ingest] max_body_bytes`:
//! by the route layer, or for envelopes by the handler, `body_decoding.rs`). Each answer
//! comes once the records are durable (2xx = stored).

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use relops_api::{Dsn, ErrorReport, IngestAck, MemoryWarning};
use relops_ops::Origin;
use serde_json::Value;

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// The product an ingest key belongs to. Taking it as an argument is what authenticates an
/// ingest handler: the extractor runs before any other (after `State`), so a request
/// without a valid key gets 401 before its path or body is looked at. Ingest routes have
/// no guard middleware (`table.rs`): this is their guard, and the cheaper one on the
/// hottest path.
#[derive(Debug, Clone)]
pub struct IngestProduct(pub String);

impl axum::extract::FromRequestParts<AppState> for IngestProduct {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers, &parts.uri)
    }
}

/// Where an ingest request comes from ([`Origin::of`]: the peer, or the client a trusted
/// proxy names in `X-Forwarded-For`), to bound one network's share of a release's installs.
#[derive(Debug, Clone, Copy)]
pub struct Sender(pub Origin);

impl axum::extract::FromRequestParts<AppState> for Sender {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Served without the connection loop (a router driven in-process): no peer, so
        // nobody to bound.
        let Some(crate::Peer(peer)) = parts.extensions.get::<crate::Peer>().copied() else {
            return Ok(Self(Origin::this_machine()));
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        let cfg = state.ops.config();
        Ok(Self(Origin::of(
            peer,
            forwarded.as_deref(),
            &cfg.http,
            &cfg.ingest,
        )))
    }
}

/// Finds the ingest key in `X-Relops-Ingest-Key`, in `X-Sentry-Auth` / `Authorization:
/// Sentry …` (`sentry_key=`), or in `?sentry_key=`.
pub fn authenticate(
    state: &AppState,
    h: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<IngestProduct, ApiError> {
    let native = h.get("x-relops-ingest-key").and_then(|v| v.to_str().ok());
    let from_auth = || {
        ["x-sentry-auth", "authorization"]
            .iter()
            .filter_map(|n| h.get(*n)?.to_str().ok())
            .find_map(|v| {
                v.trim_start_matches("Sentry ")
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("sentry_key="))
            })
    };
    let from_query = || {
        uri.query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("sentry_key=")))
    };
    let key = native.or_else(from_auth).or_else(from_query).ok_or_else(|| {
        ApiError::Unauthorized(
            "no ingest key: send the DSN's key as X-Sentry-Auth sentry_key=…, ?sentry_key=… or X-Relops-Ingest-Key (`relops ingest dsn` prints it)".into(),
        )
    })?;
    state
        .ops
        .ingest_product(key)
        .map(|p| IngestProduct(p.to_owned()))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "unknown ingest key: `relops ingest dsn` prints the current one".into(),
            )
        })
}

/// `POST /api/{project_id}/envelope/`
pub async fn envelope(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Path(project): Path<String>,
    headers: HeaderMap,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<Json<IngestAck>> {
    let body =
        super::body_decoding::decode(&headers, body, state.ops.config().ingest.max_body_bytes)?;
    Ok(Json(
        state
            .ops
            .ingest_envelope(&origin, &product, &project, &body)
            .await?,
    ))
}

/// `POST /api/{project_id}/minidump/`: what Crashpad and sentry-native upload — a
/// multipart form with the dump in `upload_file_minidump` and the event's attributes as
/// `sentry` (JSON) or `sentry[release]`-style fields; the whole body may be gzip'd.
pub async fn minidump(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Path(project): Path<String>,
    crate::extract::Multipart(mut form): crate::extract::Multipart,
) -> ApiResult<Json<IngestAck>> {
    state.ops.check_project(&product, &project)?;
    let max = state.ops.config().ingest.max_body_bytes;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the upload is larger than [ingest] max_body_bytes = {max}"
            ))
        } else {
            ApiError::BadRequest(format!("malformed multipart minidump upload: {e}"))
        }
    };
    let mut dump: Option<Bytes> = None;
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(bad)?;
        if name == "upload_file_minidump" {
            dump = Some(data);
        } else {
            fields.push((name, data));
        }
    }
    Ok(Json(
        state
            .ops
            .ingest_minidump(&origin, &product, &project, dump, &fields)
            .await?,
    ))
}

/// `POST /v1/ingest/sessions`: one session object, or `{"sessions": [...]}`.
pub async fn session(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Json(body): Json<Value>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(
        state.ops.ingest_sessions(&origin, &product, body).await?,
    ))
}

/// `POST /v1/ingest/errors`
pub async fn error(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Json(e): Json<ErrorReport>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.ingest_error(&origin, &product, e).await?))
}

/// `POST /v1/ingest/memory`
pub async fn memory(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Json(m): Json<MemoryWarning>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.ingest_memory(&origin, &product, m).await?))
}

/// `POST /v1/ingest/problem`: the app's "report a problem".
pub async fn problem(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(r): Json<relops_api::ProblemReport>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.report_problem(&product, r).await?))
}

/// `GET /v1/ingest/dsn`
pub async fn dsn(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    headers: HeaderMap,
) -> ApiResult<Json<Dsn>> {
    let host = headers.get("host").and_then(|h| h.to_str().ok());
    Ok(Json(state.ops.dsn(&who, &product, host).await?))
}
