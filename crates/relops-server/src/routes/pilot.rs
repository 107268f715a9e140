//! Pilot enrolment (`relops_ops::pilot`): invitations, the list, removal; the app's join and
//! leave with the DSN key.

use axum::extract::State;
use axum::http::StatusCode;
use relops_api::{
    IngestAck, PilotInvite, PilotInviteRequest, PilotJoin, PilotJoined, PilotLeave, PilotList,
};

use super::Product;
use super::ingest::IngestProduct;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Json, Path};

/// `POST /v1/ingest/pilot/join`
pub async fn join(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(j): Json<PilotJoin>,
) -> ApiResult<Json<PilotJoined>> {
    Ok(Json(state.ops.pilot_join(&product, j).await?))
}

/// `POST /v1/ingest/pilot/leave`
pub async fn leave(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(l): Json<PilotLeave>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.pilot_leave(&product, l).await?))
}

/// `GET /v1/pilot`
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<PilotList>> {
    Ok(Json(state.ops.pilot(&who, &product).await?))
}

/// `POST /v1/pilot/invites`
pub async fn invite(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<PilotInviteRequest>,
) -> ApiResult<(StatusCode, Json<PilotInvite>)> {
    let i = state.ops.pilot_invite(&who, &product, req).await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// `POST /v1/pilot/installs/{id}/remove`
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<PilotList>> {
    state.ops.pilot_remove(&who, &product, &id).await?;
    Ok(Json(state.ops.pilot(&who, &product).await?))
}
