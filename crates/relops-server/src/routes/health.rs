//! `GET /v1/releases/{version}/health`: release health (`relops_ops::health`) — the gate's
//! verdict, the crash rate with its interval, sessions, errors.

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use relops_api::HealthReport;

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// The release is named as the fleet reports it: registered or not.
pub async fn show(
    State(state): State<AppState>,
    Path(release): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<HealthReport>> {
    Ok(Json(
        state.ops.release_health(&who, &product, &release).await?,
    ))
}
