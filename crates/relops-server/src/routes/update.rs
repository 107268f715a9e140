//! `GET /v1/update`: the thin-client update check. Public, like the feed it reads: it
//! answers from the in-memory signed targets with [`relops_core::offer::decide`], the
//! function the SDK runs on the same targets after verifying them.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use relops_api::UpdateOffer;
use relops_core::offer::Install;
use relops_core::platform::Platform;
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
    let product = state.product(q.product.as_deref())?;
    let platform: Platform = need(&q.platform, "platform", "windows-x64")?
        .parse()
        .map_err(|e: relops_core::platform::UnknownPlatform| ApiError::BadRequest(e.to_string()))?;
    let channel = need(&q.channel, "channel", "stable")?;
    let version = super::version(need(&q.version, "version", "2.0.3")?)?;
    let install_id = need(
        &q.install_id,
        "install_id",
        "a random UUID made once per install",
    )?;
    if install_id.len() > 128 {
        return Err(ApiError::BadRequest(
            "install_id is longer than 128 characters: send the install's UUID".into(),
        ));
    }
    let feed = state.feed.current(&product).ok_or_else(|| {
        ApiError::Unavailable(format!("the feed of {product} is not loaded yet; retry"))
    })?;
    let install = Install {
        product: &product,
        platform,
        channel,
        version: &version,
        install_id,
    };
    let Some((t, offer)) = feed.decide(&install) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    Ok(Json(UpdateOffer {
        version: offer.version,
        url: format!("/tuf/{product}/targets/{}.{}", t.sha256, t.name),
        target: t.name.clone(),
        size: t.length,
        sha256: t.sha256.clone(),
        artifact: t.custom.artifact.clone(),
        signature: t.custom.release_signature.clone(),
        release_key_id: t.custom.release_key_id.clone(),
        downgrade: offer.downgrade,
    })
    .into_response())
}
