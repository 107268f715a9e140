//! Crash reports: the SDK's sealed uploads (`POST /v1/ingest/crashes`), list, show, and
//! the dump opened for the roles that may read it (`relops_ops::crashes`).

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use relops_api::{CrashList, CrashReport, CrashUpload, IngestAck};
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
