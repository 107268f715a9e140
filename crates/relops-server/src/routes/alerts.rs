//! Alerts: `GET /v1/alerts`, `GET /v1/alerts/{id}`, `POST /v1/alerts/{id}/ack`, and
//! `POST /v1/releases/{version}/escalate` — support's confirmed critical failure, which
//! acts exactly as the critical-failure rule does (`relops_ops::alerts`).

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use relops_api::{Alert, AlertAck, AlertList, Escalation};
use serde::Deserialize;

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    /// Include resolved alerts.
    #[serde(default)]
    pub all: bool,
    pub limit: Option<u32>,
}

/// `GET /v1/alerts`: open alerts, newest first; `?all=true` for resolved ones too.
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<AlertQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<AlertList>> {
    Ok(Json(
        state.ops.alerts(&who, &product, q.all, q.limit).await?,
    ))
}

/// `GET /v1/alerts/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<Alert>> {
    Ok(Json(state.ops.alert(&who, &id).await?))
}

/// `POST /v1/alerts/{id}/ack`
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<AlertAck>,
) -> ApiResult<Json<Alert>> {
    Ok(Json(state.ops.ack_alert(&who, &id, req).await?))
}

/// `POST /v1/releases/{version}/escalate`
pub async fn escalate(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<Escalation>,
) -> ApiResult<(StatusCode, Json<Alert>)> {
    let alert = state
        .ops
        .escalate(&who, &product, &version(&v)?, req)
        .await?;
    Ok((StatusCode::CREATED, Json(alert)))
}
