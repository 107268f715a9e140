//! Releases: create, list, show, freeze, release notes (`relops_ops::releases`).

use crate::extract::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use relops_api::{CreateRelease, Release, ReleaseList};

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

pub async fn create(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<CreateRelease>,
) -> ApiResult<(StatusCode, Json<Release>)> {
    let release = state.ops.create_release(&who, &product, req).await?;
    Ok((StatusCode::CREATED, Json(release)))
}

pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<ReleaseList>> {
    Ok(Json(state.ops.releases(&who, &product).await?))
}

pub async fn show(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<Release>> {
    Ok(Json(
        state.ops.release(&who, &product, &version(&v)?).await?,
    ))
}

pub async fn freeze(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<Release>> {
    Ok(Json(
        state
            .ops
            .freeze_release(&who, &product, &version(&v)?)
            .await?,
    ))
}

/// `PUT /v1/releases/{version}/notes`: the release notes (Markdown, UTF-8).
pub async fn put_notes(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<Json<Release>> {
    Ok(Json(
        state
            .ops
            .put_release_notes(&who, &product, &version(&v)?, body)
            .await?,
    ))
}

/// `GET /v1/releases/{version}/notes`
pub async fn get_notes(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Response> {
    let notes = state
        .ops
        .release_notes(&who, &product, &version(&v)?)
        .await?;
    Ok(markdown(notes))
}

/// Release notes as `text/markdown`.
pub(crate) fn markdown(notes: Bytes) -> Response {
    (
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        notes,
    )
        .into_response()
}
