//! `GET /v1/update`: the thin-client update check (`relops_ops::update`). Public, like the
//! feed it reads.

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use relops_ops::update::UpdateQuestion;
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize)]
pub struct UpdateQuery {
    pub product: Option<String>,
    pub platform: Option<String>,
    pub channel: Option<String>,
    pub version: Option<String>,
    pub install_id: Option<String>,
}

fn need<'a>(v: &'a Option<String>, name: &str, example: &str) -> ApiResult<&'a str> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "missing query parameter `{name}` (e.g. {name}={example}); \
                 expected ?platform=&channel=&version=&install_id="
            ))
        })
}

pub async fn check(
    State(state): State<AppState>,
    Query(q): Query<UpdateQuery>,
) -> ApiResult<Response> {
    let product = state.ops.product(q.product.as_deref())?;
    let question = UpdateQuestion {
        platform: need(&q.platform, "platform", "windows-x64")?,
        channel: need(&q.channel, "channel", "stable")?,
        version: need(&q.version, "version", "2.0.3")?,
        install_id: need(
            &q.install_id,
            "install_id",
            "a random UUID made once per install",
        )?,
    };
    Ok(match state.ops.update_offer(&product, question)? {
        Some(offer) => Json(offer).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
