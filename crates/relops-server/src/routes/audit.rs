//! The audit trail (`relops_ops::audit`): verify, export as JSON lines, checkpoint, prune.

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use relops_api::{AnchorCheck, AuditCheckpoint, AuditVerification};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// `GET /v1/audit/verify`: the chain, its checkpoints and the server's anchor file.
pub async fn verify(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<AuditVerification>> {
    Ok(Json(state.ops.verify_audit(&who, &[]).await?))
}

/// `POST /v1/audit/verify`: the same, and against the anchors a person kept.
pub async fn verify_anchored(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(check): Json<AnchorCheck>,
) -> ApiResult<Json<AuditVerification>> {
    Ok(Json(state.ops.verify_audit(&who, &check.anchors).await?))
}

/// `POST /v1/audit/checkpoint`: sign the chain head now.
pub async fn checkpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Option<AuditCheckpoint>>> {
    Ok(Json(state.ops.audit_checkpoint(&who).await?))
}

#[derive(Debug, Deserialize)]
pub struct PruneQuery {
    /// Prune entries before this date (default: now − retention_days).
    pub before: Option<String>,
}

/// `POST /v1/audit/prune`: delete old entries, keeping a signed checkpoint.
pub async fn prune(
    State(state): State<AppState>,
    Query(q): Query<PruneQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<Option<AuditCheckpoint>>> {
    Ok(Json(
        state.ops.prune_audit(&who, q.before.as_deref()).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `YYYY-MM-DD` or an RFC 3339 time.
    pub since: Option<String>,
}

pub async fn export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
    Caller(who): Caller,
) -> ApiResult<Response> {
    let body = state.ops.export_audit(&who, q.since.as_deref()).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
