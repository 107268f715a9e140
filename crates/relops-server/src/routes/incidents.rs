//! Incidents: list, show, decide, post-mortem (`relops_ops::incidents`).

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use relops_api::{Incident, IncidentDecision, IncidentList};

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// `GET /v1/incidents`
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<IncidentList>> {
    Ok(Json(state.ops.incidents(&who, &product).await?))
}

/// `GET /v1/incidents/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<Incident>> {
    Ok(Json(state.ops.incident(&who, &id).await?))
}

/// `POST /v1/incidents/{id}/decision`
pub async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<IncidentDecision>,
) -> ApiResult<Json<Incident>> {
    Ok(Json(state.ops.decide_incident(&who, &id, req).await?))
}

/// `PUT /v1/incidents/{id}/postmortem` (body: the post-mortem, Markdown).
pub async fn postmortem(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<Json<Incident>> {
    Ok(Json(state.ops.file_postmortem(&who, &id, body).await?))
}
