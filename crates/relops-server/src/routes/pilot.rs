//! Pilot enrolment (`relops_ops::pilot`): invitations, the list, removal; the app's join and
//! leave with the DSN key. Review cycles (`relops_ops::reviews`): the list, closing one.

use axum::extract::State;
use axum::http::StatusCode;
use relops_api::{
    IngestAck, PilotInvite, PilotInviteRequest, PilotJoin, PilotJoined, PilotLeave, PilotList,
    ReviewDone, ReviewItem, ReviewList,
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

/// `GET /v1/reviews`
pub async fn reviews(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<ReviewList>> {
    Ok(Json(state.ops.reviews(&who, &product).await?))
}

/// `POST /v1/reviews/{subject}/done`
pub async fn review_done(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Json(d): Json<ReviewDone>,
) -> ApiResult<Json<ReviewItem>> {
    Ok(Json(
        state.ops.review_done(&who, &product, &subject, d).await?,
    ))
}
