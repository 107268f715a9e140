//! The TUF repository over HTTP: `/tuf/{product}/metadata/{file}` and
//! `/tuf/{product}/targets/{sha256}.{name}`. Public: the signatures, not the transport,
//! make it trustworthy. Metadata is served from memory, never rebuilt per request.

use crate::extract::Path;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("{what} is not in the feed"))
}

pub async fn metadata(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
    crate::extract::IfNoneMatch(if_none_match): crate::extract::IfNoneMatch,
) -> ApiResult<Response> {
    let feed = state
        .ops
        .feed()
        .current(&product)
        .ok_or_else(|| not_found(&product))?;
    let body = feed.metadata(&file).ok_or_else(|| not_found(&file))?;
    // Versioned files never change; timestamp.json and root.json change at any time.
    let cache = if file == "timestamp.json" || file == "root.json" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let etag = feed
        .metadata_etag(&file)
        .and_then(|e| HeaderValue::from_maybe_shared(e).ok());
    let mut resp = if etag
        .as_ref()
        .is_some_and(|e| super::artifacts::none_match_any(if_none_match.iter(), e))
    {
        axum::http::StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(e) = etag {
        h.insert(header::ETAG, e);
    }
    Ok(resp)
}

pub async fn target(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let feed = state
        .ops
        .feed()
        .current(&product)
        .ok_or_else(|| not_found(&product))?;
    let sha = feed.target_digest(&file).ok_or_else(|| not_found(&file))?;
    serve_target(&state, &sha, &headers).await
}

/// A file of the feed by its SHA-256, from memory or the blob store, with ranges; versioned
/// by content, so cached for good.
pub(super) async fn serve_target(
    state: &AppState,
    sha: &str,
    headers: &axum::http::HeaderMap,
) -> ApiResult<Response> {
    let key = relops_store::BlobStore::key_for(sha);
    // A file in memory needs no look at the store (not even its size).
    let (len, cached) = match state.targets.cached(&key) {
        Some(bytes) => (bytes.len() as u64, Some(bytes)),
        None => {
            let len = state.ops.blobs().size(&key).await?;
            (
                len,
                state
                    .targets
                    .get(state.ops.blobs(), &key, len, sha)
                    .await
                    .inspect_err(|e| {
                        if let relops_store::BlobError::Changed(k) = e {
                            state.ops.stored_file_changed(k);
                        }
                    })?,
            )
        }
    };
    let mut resp =
        super::artifacts::serve_blob(state, &key, len, sha, headers, None, cached).await?;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(resp)
}

/// `GET /v1/keys`: key ids, thresholds, versions and expiry of the feed's roles, and the
/// release and crash keys.
pub async fn keys(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<axum::Json<relops_api::KeyList>> {
    Ok(axum::Json(state.ops.keys(&who, &product).await?))
}

/// `POST /v1/keys/rotate`: a new key for a TUF role, published in a new root version.
pub async fn rotate(
    State(state): State<AppState>,
    Caller(who): Caller,
    crate::extract::Json(req): crate::extract::Json<relops_api::RotateKey>,
) -> ApiResult<axum::Json<relops_api::KeyRotated>> {
    Ok(axum::Json(state.ops.rotate_key(&who, req).await?))
}

/// `GET /tuf/{product}/notes/{version}.md`: release notes of a published release, public
/// like the feed that links to them.
pub async fn notes(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let version = file.strip_suffix(".md").ok_or_else(|| not_found(&file))?;
    let product = state.ops.product(Some(&product))?;
    let notes = state.ops.published_notes(&product, version).await?;
    Ok(super::releases::markdown(notes))
}

/// `POST /v1/keys/root/renew`: a new root version with the same keys and a new expiry.
pub async fn renew_root(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<axum::Json<relops_api::RootRenewed>> {
    Ok(axum::Json(state.ops.renew_root(&who).await?))
}

/// `GET /v1/keys/status`
pub async fn status(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<axum::Json<relops_api::ExpiryList>> {
    Ok(axum::Json(state.ops.expiry_status(&who).await?))
}

/// `GET /v1/certs`
pub async fn certificates(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<axum::Json<relops_api::CertificateList>> {
    Ok(axum::Json(state.ops.certificates(&who).await?))
}

#[derive(Debug, serde::Deserialize)]
pub struct CertQuery {
    pub kind: String,
}

/// `POST /v1/certs?kind=`: the certificate (PEM or DER) as the body.
pub async fn add_certificate(
    State(state): State<AppState>,
    crate::extract::Query(q): crate::extract::Query<CertQuery>,
    Caller(who): Caller,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<(
    axum::http::StatusCode,
    axum::Json<relops_api::CertificateInfo>,
)> {
    let c = state.ops.add_certificate(&who, &q.kind, &body).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(c)))
}
