//! Log bundles (`relops_ops::log_bundles`): the SDK's sealed upload, the list of a crash's
//! or a ticket's bundles, and one bundle opened for the roles that may read dumps.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use relops_api::{IngestAck, LogBundleList, LogBundleUpload};
use relops_ops::log_bundles::BundlesOf;
use serde::Deserialize;

use super::Product;
use super::ingest::IngestProduct;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};

/// `POST /v1/ingest/logs`
pub async fn ingest(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(u): Json<LogBundleUpload>,
) -> ApiResult<Json<IngestAck>> {
    Ok(Json(state.ops.ingest_log_bundle(&product, u).await?))
}

#[derive(Debug, Deserialize)]
pub struct BundleQuery {
    pub crash: Option<String>,
    pub ticket: Option<String>,
}

/// `GET /v1/log-bundles?crash=|ticket=`
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Query(q): Query<BundleQuery>,
    Caller(who): Caller,
) -> ApiResult<Json<LogBundleList>> {
    let of = match (q.crash.as_deref(), q.ticket.as_deref()) {
        (Some(c), None) => BundlesOf::Crash(c),
        (None, Some(t)) => BundlesOf::Ticket(t),
        _ => {
            return Err(ApiError::BadRequest(
                "name exactly one of ?crash=ID and ?ticket=ID".to_owned(),
            ));
        }
    };
    Ok(Json(state.ops.log_bundles(&who, &product, of).await?))
}

/// `GET /v1/log-bundles/{id}`: the tar.gz, opened; every read is an audit entry.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<impl IntoResponse> {
    let (b, bytes) = state.ops.log_bundle(&who, &product, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"logs-{}.tar.gz\"", b.id),
            ),
        ],
        bytes,
    ))
}
