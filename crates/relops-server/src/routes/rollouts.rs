//! Staged rollout, halt and rollback (`relops_ops::rollout`, `relops_ops::rollback`), and
//! the notification outbox.

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use relops_api::{NotificationList, RollbackAnswer, RollbackRequest, RolloutStatus, RolloutStep};
use relops_ops::rollout::RolloutAction;
use serde::Deserialize;

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// `GET /v1/releases/{version}/rollout`
pub async fn show(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<RolloutStatus>> {
    Ok(Json(
        state.ops.rollout(&who, &product, &version(&v)?).await?,
    ))
}

/// `POST /v1/releases/{version}/rollout/{action}`: start, advance, pause, resume.
pub async fn step(
    State(state): State<AppState>,
    Path((v, action)): Path<(String, String)>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<RolloutStep>,
) -> ApiResult<Json<RolloutStatus>> {
    let action: RolloutAction = action.parse()?;
    Ok(Json(
        state
            .ops
            .rollout_step(&who, &product, &version(&v)?, action, req)
            .await?,
    ))
}

/// `POST /v1/releases/{version}/rollout/halt` (its own route: more roles may halt than
/// may move a rollout forward).
pub async fn halt(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<RolloutStep>,
) -> ApiResult<Json<RolloutStatus>> {
    Ok(Json(
        state
            .ops
            .rollout_step(&who, &product, &version(&v)?, RolloutAction::Halt, req)
            .await?,
    ))
}

/// `POST /v1/rollback`: withdraw every release above the target and send the installs
/// that run them back to it — 201 once done, 202 while it waits for its second person.
pub async fn rollback(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<RollbackRequest>,
) -> ApiResult<(StatusCode, Json<RollbackAnswer>)> {
    let answer = state.ops.rollback(&who, &product, req).await?;
    let status = if answer.done.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(answer)))
}

#[derive(Debug, Deserialize)]
pub struct NotifyQuery {
    pub limit: Option<u32>,
}

/// `GET /v1/notifications`
pub async fn notifications(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<NotifyQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<NotificationList>> {
    Ok(Json(
        state.ops.notifications(&who, &product, q.limit).await?,
    ))
}
