//! The readiness checklist and the go/no-go decision (`relops_ops::checklist`):
//! `GET /v1/releases/{version}/checklist`, `PUT …/checklist/{item}` (body: an optional
//! evidence file; `?note=`, `?evidence_name=`), `POST …/approve`.

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use relops_api::{ApproveRequest, Checklist};
use relops_core::checklist::Item;
use relops_ops::OpError;
use relops_ops::checklist::SignOff;
use serde::Deserialize;

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// `GET /v1/releases/{version}/checklist`
pub async fn show(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<Checklist>> {
    Ok(Json(
        state.ops.checklist(&who, &product, &version(&v)?).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct SignQuery {
    pub note: Option<String>,
    pub evidence_name: Option<String>,
    /// Support: this release needs no FAQ change (the note says why).
    #[serde(default)]
    pub no_faq_change: bool,
}

/// `PUT /v1/releases/{version}/checklist/{item}`
pub async fn sign(
    State(state): State<AppState>,
    Path((v, item)): Path<(String, String)>,
    Product(product): Product,
    Query(q): Query<SignQuery>,
    Caller(who): Caller,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<Json<Checklist>> {
    let item: Item = item.parse().map_err(OpError::NotFound)?;
    let s = SignOff {
        note: q.note,
        evidence: body,
        evidence_name: q.evidence_name,
        no_faq_change: q.no_faq_change,
    };
    Ok(Json(
        state
            .ops
            .sign_checklist(&who, &product, &version(&v)?, item, s)
            .await?,
    ))
}

/// `POST /v1/releases/{version}/approve`: go, no-go, or the emergency go with waivers.
pub async fn approve(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<ApproveRequest>,
) -> ApiResult<Json<Checklist>> {
    Ok(Json(
        state
            .ops
            .decide_go(&who, &product, &version(&v)?, req)
            .await?,
    ))
}

/// `POST /v1/releases/{version}/approve/confirm`: the second person's confirmation of an
/// emergency go with waivers.
pub async fn confirm_waiver(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<Checklist>> {
    Ok(Json(
        state
            .ops
            .confirm_waiver(&who, &product, &version(&v)?)
            .await?,
    ))
}
