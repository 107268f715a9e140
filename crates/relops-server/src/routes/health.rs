//! `GET /v1/releases/{version}/health`: release health (`relops_ops::health`) — the gate's
//! verdict, the crash rate with its interval, sessions, errors — and
//! `GET /v1/releases/{version}/health/history`, the same over time.

use crate::extract::{Json, Path, Query};
use axum::extract::State;
use relops_api::{HealthHistory, HealthReport};
use relops_ops::health_history::HistoryQuery;
use serde::Deserialize;

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

/// `?hours=&channel=&platform=`
#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    pub hours: Option<u32>,
    pub channel: Option<String>,
    pub platform: Option<String>,
}

/// Recorded points of the last `hours` (a week by default).
pub async fn history(
    State(state): State<AppState>,
    Path(release): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<HealthHistory>> {
    let q = HistoryQuery {
        hours: q.hours,
        channel: q.channel,
        platform: q.platform,
    };
    Ok(Json(
        state
            .ops
            .health_history(&who, &product, &release, q)
            .await?,
    ))
}
