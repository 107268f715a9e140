//! API tokens: `POST /v1/tokens`, `GET /v1/tokens`, `POST /v1/tokens/{id}/revoke` (admin),
//! `POST /v1/tokens/{id}/confirm` and `GET /v1/whoami` (`relops_ops::tokens`).

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use relops_api::{CreateToken, TokenConfirmed, TokenCreated, TokenList, TokenRevoked, WhoAmI};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.ops.create_token(&who, req).await?),
    ))
}

/// `POST /v1/tokens/{id}/confirm`: the second person's confirmation ({id}: the token's id, or
/// its name when exactly one token of that name awaits confirmation).
pub async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<TokenConfirmed>> {
    Ok(Json(state.ops.confirm_token(&who, &id).await?))
}

/// `GET /v1/tokens`
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<TokenList>> {
    Ok(Json(state.ops.tokens(&who).await?))
}

/// `POST /v1/tokens/{id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<TokenRevoked>> {
    Ok(Json(state.ops.revoke_token(&who, &id).await?))
}

pub async fn whoami(State(state): State<AppState>, who: Caller) -> ApiResult<Json<WhoAmI>> {
    let p = who
        .principal()
        .ok_or_else(|| ApiError::Unauthorized("no API token".into()))?;
    Ok(Json(state.ops.whoami(p)))
}
