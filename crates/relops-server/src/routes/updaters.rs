//! `/feeds/{product}/{channel}/…`: the feeds other updaters read — Sparkle's `appcast.xml`,
//! electron-updater's `latest*.yml`, Velopack's `releases.{channel}.json` — and the files
//! they name, served next to them. Public like the TUF feed; each document is the
//! operation's, this only maps names and headers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use relops_ops::updater_feeds::{UpdaterFeed, UpdaterQuestion};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Path, Query};

/// What the updaters put in the query: Velopack `localVersion`, `stagingId` (and `id`,
/// unused); an app's Sparkle feed URL `install`; anyone `platform`.
#[derive(Debug, Deserialize, Default)]
pub struct FeedQuery {
    platform: Option<String>,
    install: Option<String>,
    #[serde(rename = "stagingId")]
    staging_id: Option<String>,
    #[serde(rename = "localVersion")]
    local_version: Option<String>,
}

// The request is taken whole (its headers moved, not cloned as a `HeaderMap` extractor
// would): documents read If-None-Match from it, files their Range.
pub async fn channel_file(
    State(state): State<AppState>,
    Path((product, channel, file)): Path<(String, String, String)>,
    Query(q): Query<FeedQuery>,
    request: Request,
) -> ApiResult<Response> {
    answer(
        &state,
        &product,
        &channel,
        None,
        &file,
        q,
        request.headers(),
    )
    .await
}

pub async fn platform_file(
    State(state): State<AppState>,
    Path((product, channel, platform, file)): Path<(String, String, String, String)>,
    Query(q): Query<FeedQuery>,
    request: Request,
) -> ApiResult<Response> {
    let platform = Some(platform.as_str());
    answer(
        &state,
        &product,
        &channel,
        platform,
        &file,
        q,
        request.headers(),
    )
    .await
}

async fn answer(
    state: &AppState,
    product: &str,
    channel: &str,
    platform: Option<&str>,
    file: &str,
    q: FeedQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Some(feed) = UpdaterFeed::from_file(channel, file) else {
        let sha = state.ops.updater_file(product, channel, file)?;
        return super::tuf::serve_target(state, &sha, headers).await;
    };
    let install_id = q.staging_id.as_deref().or(q.install.as_deref());
    let question = UpdaterQuestion {
        channel,
        feed,
        platform: platform.or(q.platform.as_deref()),
        install_id,
        version: q.local_version.as_deref(),
    };
    let (doc, personal) = state.ops.updater_feed(product, question)?;
    let etag = HeaderValue::from_str(&doc.etag).ok();
    let mut resp = if etag.as_ref().is_some_and(|e| {
        super::artifacts::none_match_any(headers.get_all(header::IF_NONE_MATCH).iter(), e)
    }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = doc.body.clone().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(doc.content_type),
        );
        r
    };
    // Revalidated on every use: a halt or rollback must reach the next check, and a
    // document for one install is that install's alone.
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if personal {
            "private, no-cache"
        } else {
            "no-cache"
        }),
    );
    if let Some(e) = etag {
        h.insert(header::ETAG, e);
    }
    Ok(resp)
}
