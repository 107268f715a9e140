//! Artifacts: streaming upload (`relops_ops::artifacts`), list, download with ranges,
//! `SHA256SUMS` and re-verification of the stored bytes.

use crate::extract::Json;
use crate::extract::{Path, Query};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use relops_api::{Artifact, ArtifactList, UploadParams, VerifyReport};

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

pub async fn upload(
    State(state): State<AppState>,
    Path((v, name)): Path<(String, String)>,
    Query(p): Query<UploadParams>,
    Caller(who): Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Artifact>)> {
    let product = state.ops.product(p.product.as_deref())?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let artifact = state
        .ops
        .upload_artifact(
            &who,
            &product,
            &version(&v)?,
            &name,
            p,
            declared,
            body.into_data_stream(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(artifact)))
}

/// `POST …/artifacts/{name}/check`: would this upload be accepted? (No body.)
pub async fn check(
    State(state): State<AppState>,
    Path((v, name)): Path<(String, String)>,
    Query(p): Query<UploadParams>,
    Caller(who): Caller,
) -> ApiResult<Json<relops_api::UploadCheck>> {
    let product = state.ops.product(p.product.as_deref())?;
    Ok(Json(
        state
            .ops
            .check_upload(&who, &product, &version(&v)?, &name, &p)
            .await?,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<ArtifactList>> {
    Ok(Json(
        state.ops.artifacts(&who, &product, &version(&v)?).await?,
    ))
}

/// `SHA256SUMS` in the format `sha256sum -c` reads.
pub async fn sha256sums(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Response> {
    let body = state.ops.sha256sums(&who, &product, &version(&v)?).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

pub async fn download(
    State(state): State<AppState>,
    Path((v, name)): Path<(String, String)>,
    Product(product): Product,
    Caller(who): Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let stored = state
        .ops
        .artifact_file(&who, &product, &version(&v)?, &name)
        .await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        stored.artifact.name.replace('"', "_")
    );
    serve_blob(
        &state,
        &stored.blob_key,
        stored.artifact.size,
        &stored.artifact.sha256,
        &headers,
        Some(&disposition),
        None,
    )
    .await
}

/// Streams a stored blob with `Content-Length`, `ETag` and single-range support
/// (`206`/`416`); several ranges get the whole file, which RFC 9110 allows. Shared by
/// artifact downloads and the feed's targets; `cached` holds the blob's bytes when they are
/// in memory already (the target cache).
pub async fn serve_blob(
    state: &AppState,
    blob_key: &str,
    len: u64,
    sha256: &str,
    headers: &HeaderMap,
    disposition: Option<&str>,
    cached: Option<Bytes>,
) -> ApiResult<Response> {
    let etag = HeaderValue::from_str(&format!("\"{sha256}\"")).ok();
    if let Some(e) = &etag
        && none_match(headers, e)
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, e.clone());
        return Ok(resp);
    }
    // A range applies only in bytes (other units are ignored, RFC 9110 14.2) and, with
    // `If-Range`, only while the validator still names these bytes: else the whole file.
    let range_header = headers
        .get(header::RANGE)
        .and_then(|h| h.to_str().ok())
        .filter(|r| r.trim_start().starts_with("bytes="))
        .filter(|_| match headers.get(header::IF_RANGE) {
            None => true,
            Some(v) => etag.as_ref().is_some_and(|e| v == e),
        });
    let range = match range_header {
        None => None,
        Some(r) => match http_range_header::parse_range_header(r).and_then(|p| p.validate(len)) {
            Ok(ranges) if ranges.len() == 1 => Some(ranges[0].clone()),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::RangeNotSatisfiable {
                    len,
                    last: len.saturating_sub(1),
                });
            }
        },
    };
    let wanted = range.clone().map(|r| *r.start()..*r.end() + 1);
    let body = match cached {
        Some(bytes) => Body::from(match wanted {
            Some(w) => bytes.slice(w.start as usize..w.end as usize),
            None => bytes,
        }),
        // The whole file is checked against its digest as it is sent; a range cannot be
        // (the client checks the file it assembles: the SDK does, by length and SHA-256).
        None if wanted.is_none() => {
            let ops = state.ops.clone();
            Body::from_stream(verified(
                state.ops.blobs().get(blob_key, None).await?,
                sha256.to_owned(),
                blob_key.to_owned(),
                move |key| ops.stored_file_changed(key),
            ))
        }
        None => Body::from_stream(state.ops.blobs().get(blob_key, wanted).await?),
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(etag) = etag {
        h.insert(header::ETAG, etag);
    }
    if let Some(cd) = disposition.and_then(|d| HeaderValue::from_str(d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, cd);
    }
    match range {
        Some(r) => {
            h.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(r.end() - r.start() + 1),
            );
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start(), r.end()))
                    .expect("ascii"),
            );
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    Ok(resp)
}

/// Re-reads every stored blob of a release, recomputes its digest and checks the release
/// signature.
pub async fn verify(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<VerifyReport>> {
    Ok(Json(
        state
            .ops
            .verify_release(&who, &product, &version(&v)?)
            .await?,
    ))
}

/// Does `If-None-Match` name `etag` (or `*`)? Weak comparison, as RFC 9110 13.1.2 asks.
pub(crate) fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    none_match_any(headers.get_all(header::IF_NONE_MATCH).iter(), etag)
}

/// [`none_match`] over the `If-None-Match` values themselves.
pub(crate) fn none_match_any<'a>(
    values: impl Iterator<Item = &'a HeaderValue>,
    etag: &HeaderValue,
) -> bool {
    let mut values = values.peekable();
    if values.peek().is_none() {
        return false;
    }
    let Ok(want) = etag.to_str() else {
        return false;
    };
    let want = want.trim_start_matches("W/");
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == want)
}

/// `stream` as sent, hashed on the way; the last chunk is held back until the digest is
/// known, and when it is not `sha256` the stream ends in an error instead: the client gets
/// fewer bytes than `Content-Length` said, never a complete file that is not what was
/// signed.
fn verified<S, E>(
    stream: S,
    sha256: String,
    key: String,
    changed: impl Fn(&str) + Clone + Send + Sync + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    use sha2::Digest;
    struct St<S> {
        inner: S,
        hasher: sha2::Sha256,
        held: Option<Bytes>,
        done: bool,
    }
    let st = St {
        inner: stream,
        hasher: sha2::Sha256::new(),
        held: None,
        done: false,
    };
    futures::stream::unfold(st, move |mut st| {
        let (sha256, key, changed) = (sha256.clone(), key.clone(), changed.clone());
        async move {
            use futures::StreamExt;
            if st.done {
                return None;
            }
            loop {
                match st.inner.next().await {
                    Some(Ok(chunk)) => {
                        st.hasher.update(&chunk);
                        if let Some(prev) = st.held.replace(chunk) {
                            return Some((Ok(prev), st));
                        }
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(std::io::Error::other(e.to_string())), st));
                    }
                    None => {
                        st.done = true;
                        let digest = hex::encode(std::mem::take(&mut st.hasher).finalize());
                        if digest != sha256 {
                            changed(&key);
                            return Some((
                                Err(std::io::Error::other(format!(
                                    "blob {key} does not match its digest"
                                ))),
                                st,
                            ));
                        }
                        return st.held.take().map(|last| (Ok(last), st));
                    }
                }
            }
        }
    })
}
