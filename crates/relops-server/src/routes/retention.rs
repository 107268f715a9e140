//! Retention (`relops_ops::retention`): the plan and the run.

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use relops_api::{RetentionApplied, RetentionPlan};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    /// Plan for this date (`YYYY-MM-DD` or RFC 3339; default: now).
    pub at: Option<String>,
}

/// `GET /v1/retention/plan`
pub async fn plan(
    State(state): State<AppState>,
    Query(q): Query<PlanQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<RetentionPlan>> {
    Ok(Json(state.ops.retention_plan(&who, q.at.as_deref()).await?))
}

/// `POST /v1/retention/apply`
pub async fn apply(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<RetentionApplied>> {
    Ok(Json(state.ops.apply_retention(&who).await?))
}
