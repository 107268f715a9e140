//! Artifacts: streaming upload with digest and signature (R-REL-6), list, download with
//! ranges, `SHA256SUMS` (R-REL-7) and re-verification of the stored bytes.
//!
//! An upload streams the request body into a staging blob while hashing it; only after the
//! digest is known (and matches `?sha256=` if given) is the blob signed, moved to its
//! content address and made visible by one database transaction. A failed or interrupted
//! upload leaves no row; its staging blob is removed at once or by the next start-up.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use relops_api::{Artifact, ArtifactList, UploadParams, VerifyReport, VerifyResult};
use relops_core::access::Permission;
use relops_core::artifact::{ArtifactName, parse_sha256_hex};
use relops_core::platform::Platform;
use relops_core::release::ArtifactPolicy;
use relops_store::{AuditRecord, BlobUpload, NewArtifact};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ProductQuery, releases::load};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::keys::SignedFields;

fn name(s: &str) -> ApiResult<ArtifactName> {
    ArtifactName::new(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub async fn upload(
    State(state): State<AppState>,
    Path((v, raw_name)): Path<(String, String)>,
    Query(p): Query<UploadParams>,
    mut who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Artifact>)> {
    let product = state.product(p.product.as_deref())?;
    let name = name(&raw_name)?;
    let platform: Platform = p
        .platform
        .parse()
        .map_err(|e: relops_core::platform::UnknownPlatform| ApiError::BadRequest(e.to_string()))?;
    let kind = name
        .kind()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    kind.check_platform(platform)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let expected = p
        .sha256
        .as_deref()
        .map(parse_sha256_hex)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let release = load(&state, &product, &v).await?;
    let critical_fix_reason = match release.state.artifact_policy() {
        ArtifactPolicy::Open => None,
        ArtifactPolicy::CriticalFixOnly => {
            let reason = p.reason.as_deref().map(str::trim).unwrap_or("");
            if !p.critical_fix || reason.is_empty() {
                return Err(ApiError::Conflict(format!(
                    "release {} is {} (feature freeze {}): adding or replacing an artifact now is a critical fix; \
                     pass --critical-fix --reason \"…\" with a release_manager token",
                    release.version, release.state, release.freeze_date
                )));
            }
            who.require(Permission::ArtifactCriticalFix)?;
            Some(reason.to_owned())
        }
        ArtifactPolicy::Closed => {
            return Err(ApiError::Conflict(format!(
                "release {} is {}: its artifacts can no longer change; publish a patch release instead",
                release.version, release.state
            )));
        }
    };
    let max = state.config.max_artifact_bytes;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "artifact is larger than the configured maximum of {max} bytes (max_artifact_bytes)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }

    let mut upload = state.blobs.begin_upload().await?;
    let received = match receive(&mut upload, body, max).await {
        Ok(r) => r,
        Err(e) => {
            upload.abort().await;
            return Err(match e {
                Receive::TooLarge => too_large(),
                Receive::Body(e) => ApiError::BadRequest(format!("upload interrupted: {e}")),
                Receive::Store(e) => e.into(),
            });
        }
    };
    let (size, sha256) = received;
    if size == 0 {
        upload.abort().await;
        return Err(ApiError::Unprocessable(
            "the file is empty: nothing stored".into(),
        ));
    }
    if let Some(exp) = &expected
        && *exp != sha256
    {
        upload.abort().await;
        return Err(ApiError::Unprocessable(format!(
            "SHA-256 mismatch: you declared {exp}, the server received {sha256} ({size} bytes); \
             nothing was stored — check the file and upload again"
        )));
    }
    let version = release.version.to_string();
    let signature = state.release_key.sign(&SignedFields {
        product: &product,
        version: &version,
        platform: platform.as_str(),
        name: name.as_str(),
        size,
        sha256: &sha256,
    });
    let blob_key = upload.commit(&sha256).await?;
    let artifact = Artifact {
        name: name.to_string(),
        platform,
        kind,
        size,
        sha256: sha256.clone(),
        signature,
        key_id: state.release_key.key_id().to_owned(),
        uploaded_at: Utc::now(),
        uploaded_by: who.actor(),
        notarization_id: p.notarization_id.filter(|s| !s.trim().is_empty()),
        authenticode_signer: p.authenticode_signer.filter(|s| !s.trim().is_empty()),
        critical_fix_reason: critical_fix_reason.clone(),
        replaces: 0,
    };
    let audit = AuditRecord {
        actor: who.actor(),
        action: if critical_fix_reason.is_some() {
            "artifact.critical_fix".into()
        } else {
            "artifact.upload".into()
        },
        target: format!("{product}/{version}/{name}"),
        detail: json!({
            "platform": platform, "size": size, "sha256": sha256,
            "reason": critical_fix_reason, "roles": who.roles,
        }),
        request_id: who.request_id.clone(),
    };
    let new = NewArtifact {
        product: product.clone(),
        version: release.version.clone(),
        artifact,
        blob_key,
    };
    match state.db.put_artifact(&new, release.state, &audit).await? {
        Some(stored) => Ok((StatusCode::CREATED, Json(stored))),
        None => Err(ApiError::Conflict(format!(
            "release {version} changed state during the upload; nothing was stored — look with \
             `relops release show {version}` and upload again"
        ))),
    }
}

enum Receive {
    TooLarge,
    Body(axum::Error),
    Store(relops_store::BlobError),
}

/// Streams the body into the staging blob and returns size and digest. SHA-256 runs on a
/// blocking thread fed through a bounded channel, so hashing overlaps receiving and
/// writing instead of adding to them (`Bytes` clones share the buffer, nothing is copied).
async fn receive(upload: &mut BlobUpload, body: Body, max: u64) -> Result<(u64, String), Receive> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        while let Some(chunk) = rx.blocking_recv() {
            h.update(&chunk);
        }
        hex::encode(h.finalize())
    });
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let streamed = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Receive::Body)?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Receive::TooLarge);
            }
            // The hashing thread only stops early if it panicked; `hasher.await` reports it.
            let _ = tx.send(chunk.clone()).await;
            upload.write(chunk).await.map_err(Receive::Store)?;
        }
        Ok(())
    }
    .await;
    drop(tx);
    let digest = hasher
        .await
        .map_err(|e| Receive::Store(relops_store::BlobError::Io(std::io::Error::other(e))))?;
    streamed.map(|()| (size, digest))
}

pub async fn list(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<ArtifactList>> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    Ok(Json(ArtifactList {
        artifacts: release.artifacts,
    }))
}

/// `SHA256SUMS` in the format `sha256sum -c` reads: `{hex}  {name}` per line.
pub async fn sha256sums(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Response> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    let body: String = release
        .artifacts
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.name))
        .collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

pub async fn download(
    State(state): State<AppState>,
    Path((v, raw_name)): Path<(String, String)>,
    Query(q): Query<ProductQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let product = state.product(q.product.as_deref())?;
    let name = name(&raw_name)?;
    let version = super::version(&v)?;
    let stored = state
        .db
        .artifact(&product, &version, name.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "release {version} has no artifact `{name}`: `relops artifact list {version}` shows them"
            ))
        })?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.as_str().replace('"', "_")
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
    let range = match headers.get(header::RANGE).and_then(|h| h.to_str().ok()) {
        None => None,
        Some(r) => match http_range_header::parse_range_header(r).and_then(|p| p.validate(len)) {
            Ok(ranges) if ranges.len() == 1 => Some(ranges[0].clone()),
            Ok(_) => None,
            Err(_) => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                )
                    .into_response());
            }
        },
    };
    let wanted = range.clone().map(|r| *r.start()..*r.end() + 1);
    let body = match cached {
        Some(bytes) => Body::from(match wanted {
            Some(w) => bytes.slice(w.start as usize..w.end as usize),
            None => bytes,
        }),
        None => Body::from_stream(state.blobs.get(blob_key, wanted).await?),
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
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
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<VerifyReport>> {
    let product = state.product(q.product.as_deref())?;
    let version = super::version(&v)?;
    load(&state, &product, &v).await?;
    let mut results = Vec::new();
    for stored in state.db.artifacts(&product, &version).await? {
        let a = &stored.artifact;
        let problem = match rehash(&state, &stored.blob_key).await {
            Err(e) => Some(format!("stored blob unreadable: {e}")),
            Ok((size, _)) if size != a.size => {
                Some(format!("stored blob is {size} bytes, expected {}", a.size))
            }
            Ok((_, digest)) if digest != a.sha256 => Some(format!(
                "stored blob has SHA-256 {digest}, expected {}",
                a.sha256
            )),
            Ok(_) => {
                let version = version.to_string();
                let fields = SignedFields {
                    product: &product,
                    version: &version,
                    platform: a.platform.as_str(),
                    name: &a.name,
                    size: a.size,
                    sha256: &a.sha256,
                };
                if a.key_id != state.release_key.key_id() {
                    Some(format!(
                        "signed by key {}, which is not this server's release key",
                        a.key_id
                    ))
                } else if !state.release_key.verify(&fields, &a.signature) {
                    Some("release signature does not verify".to_owned())
                } else {
                    None
                }
            }
        };
        results.push(VerifyResult {
            name: a.name.clone(),
            ok: problem.is_none(),
            problem,
        });
    }
    Ok(Json(VerifyReport {
        version,
        ok: results.iter().all(|r| r.ok),
        artifacts: results,
    }))
}

async fn rehash(state: &AppState, key: &str) -> Result<(u64, String), relops_store::BlobError> {
    let mut stream = state.blobs.get(key, None).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((size, hex::encode(hasher.finalize())))
}
