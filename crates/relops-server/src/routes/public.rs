//! The public release page and its Atom feeds (`relops_ops::public_releases`, rendered by
//! `relops_console::releases`): no token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use relops_console::web::html;
use relops_ops::OpError;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::Path;

/// `GET /releases/{product}`
pub async fn page(
    State(state): State<AppState>,
    Path(product): Path<String>,
) -> ApiResult<Response> {
    let p = state.ops.public_releases(&product, None).await?;
    Ok(html(
        StatusCode::OK,
        relops_console::releases::page(&p, &state.ops.config().feed.channels),
    ))
}

/// `GET /releases/{product}/{channel}.atom`
pub async fn feed(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let channel = file
        .strip_suffix(".atom")
        .filter(|c| state.ops.config().feed.channels.iter().any(|k| k == c))
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "no feed {file}: the feeds are {}",
                state
                    .ops
                    .config()
                    .feed
                    .channels
                    .iter()
                    .map(|c| format!("{c}.atom"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let p = state.ops.public_releases(&product, Some(channel)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        relops_console::releases::atom(&p, channel),
    ))
}
