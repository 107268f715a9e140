//! The knowledge base and search (`relops_ops::kb`), and the public FAQ page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use relops_api::{KbArticle, KbEdit, KbList, NewKbArticle, SearchResults};
use relops_console::web::html;
use serde::Deserialize;

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};

/// `POST /v1/kb`
pub async fn add(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<NewKbArticle>,
) -> ApiResult<(axum::http::StatusCode, Json<KbArticle>)> {
    let a = state.ops.add_kb_article(&who, &product, req).await?;
    Ok((axum::http::StatusCode::CREATED, Json(a)))
}

/// `GET /v1/kb`
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<KbList>> {
    Ok(Json(state.ops.kb_articles(&who, &product).await?))
}

/// `GET /v1/kb/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<KbArticle>> {
    Ok(Json(state.ops.kb_article(&who, &id).await?))
}

/// `POST /v1/kb/{id}`
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<KbEdit>,
) -> ApiResult<Json<KbArticle>> {
    Ok(Json(state.ops.edit_kb_article(&who, &id, req).await?))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /v1/search?q=&limit=`
pub async fn search(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<SearchResults>> {
    Ok(Json(state.ops.search(&who, &product, &q.q, q.limit).await?))
}

/// `GET /support/{product}/faq?q=`: the public FAQ, server-rendered.
pub async fn faq(
    State(state): State<AppState>,
    Path(product): Path<String>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Response> {
    let articles = state.ops.public_faq(&product, Some(&q.q)).await?;
    Ok(html(
        StatusCode::OK,
        relops_console::support::faq(&product, &q.q, &articles),
    ))
}
