//! Crash reports: the SDK's sealed uploads (`POST /v1/ingest/crashes`), list, show, and
//! the dump opened for the roles that may read it (`relops_ops::crashes`); symbol files
//! and crash groups (`relops_ops::crash_analysis`).

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use relops_api::{
    CrashGroupHistory, CrashGroupList, CrashList, CrashReport, CrashUpload, IngestAck, MarkFixed,
    SymbolFileInfo, SymbolList,
};
use serde::Deserialize;

use super::Product;
use super::ingest::{IngestProduct, Sender};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// `POST /v1/ingest/crashes`
pub async fn ingest(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Sender(origin): Sender,
    Json(c): Json<CrashUpload>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.ingest_crash(&origin, &product, c).await?))
}

#[derive(Debug, Deserialize)]
pub struct CrashQuery {
    pub release: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /v1/crashes`: newest first (`?release=`, `?limit=`).
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<CrashQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<CrashList>> {
    Ok(Json(
        state
            .ops
            .crashes(&who, &product, q.release.as_deref(), q.limit)
            .await?,
    ))
}

/// `GET /v1/crashes/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<CrashReport>> {
    Ok(Json(state.ops.crash(&who, &product, &id).await?))
}

/// `GET /v1/crashes/{id}/attachments/{n}`: a file sent with the crash, opened; audited.
pub async fn attachment(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, usize)>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<impl IntoResponse> {
    let (name, bytes) = state.ops.crash_attachment(&who, &product, &id, n).await?;
    // The name came from the fleet: only a plain token goes into the header.
    let safe: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(100)
        .collect();
    let safe = if safe.is_empty() {
        format!("attachment-{n}")
    } else {
        safe
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        bytes,
    ))
}

/// `GET /v1/crashes/{id}/dump`: the dump, opened; every read is an audit entry.
pub async fn dump(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<impl IntoResponse> {
    let (id, dump) = state.ops.crash_dump(&who, &product, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"crash-{id}.dmp\""),
            ),
        ],
        dump,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ReleaseQuery {
    pub release: Option<String>,
}

/// `POST /v1/symbols?release=`: a Breakpad `.sym` file as the body.
pub async fn upload_symbols(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<ReleaseQuery>,
    Caller(who): Caller,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<(axum::http::StatusCode, Json<SymbolFileInfo>)> {
    let s = state
        .ops
        .upload_symbols(&who, &product, q.release.as_deref(), body)
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(s)))
}

/// `GET /v1/symbols?release=`
pub async fn symbols(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<ReleaseQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<SymbolList>> {
    Ok(Json(
        state
            .ops
            .symbol_files(&who, &product, q.release.as_deref())
            .await?,
    ))
}

/// `GET /v1/releases/{version}/crash-groups`
pub async fn groups(
    State(state): State<AppState>,
    Path(version): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<CrashGroupList>> {
    Ok(Json(
        state.ops.crash_groups(&who, &product, &version).await?,
    ))
}

/// `GET /v1/crash-groups/{id}`
pub async fn group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<CrashGroupHistory>> {
    Ok(Json(state.ops.crash_group(&who, &product, &id).await?))
}

/// `PUT /v1/crash-groups/{id}/fixed`
pub async fn mark_fixed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Json(m): Json<MarkFixed>,
) -> ApiResult<Json<CrashGroupHistory>> {
    Ok(Json(
        state
            .ops
            .mark_crash_group_fixed(&who, &product, &id, m.fixed_in.as_deref())
            .await?,
    ))
}
