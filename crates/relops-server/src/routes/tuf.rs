//! The TUF repository over HTTP: `/tuf/{product}/metadata/{file}` and
//! `/tuf/{product}/targets/{sha256}.{name}`. Public: the signatures, not the transport,
//! make it trustworthy. Metadata is served from memory, never rebuilt per request.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("{what} is not in the feed"))
}

pub async fn metadata(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let feed = state
        .feed
        .current(&product)
        .ok_or_else(|| not_found(&product))?;
    let body = feed.metadata(&file).ok_or_else(|| not_found(&file))?;
    // Versioned files never change; timestamp.json changes at any time.
    let cache = if file == "timestamp.json" || file == "root.json" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response())
}

pub async fn target(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let feed = state
        .feed
        .current(&product)
        .ok_or_else(|| not_found(&product))?;
    let sha = feed.target_digest(&file).ok_or_else(|| not_found(&file))?;
    let key = relops_store::BlobStore::key_for(&sha);
    // A file in memory needs no look at the store (not even its size).
    let (len, cached) = match state.targets.cached(&key) {
        Some(bytes) => (bytes.len() as u64, Some(bytes)),
        None => {
            let len = state.blobs.size(&key).await?;
            (len, state.targets.get(&state.blobs, &key, len).await?)
        }
    };
    let mut resp =
        super::artifacts::serve_blob(&state, &key, len, &sha, &headers, None, cached).await?;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(resp)
}

/// `GET /v1/keys`: key ids, thresholds, versions and expiry of the feed's roles, and the
/// release key.
pub async fn keys(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<super::ProductQuery>,
) -> ApiResult<axum::Json<relops_api::KeyList>> {
    let product = state.product(q.product.as_deref())?;
    let feed = state
        .feed
        .current(&product)
        .ok_or_else(|| not_found(&product))?;
    let mut keys = feed.key_info()?;
    keys.push(relops_api::KeyInfo {
        role: "release".into(),
        key_ids: vec![state.release_key.key_id().to_owned()],
        public_keys: vec![state.release_key.public_hex()],
        threshold: 1,
        expires: None,
        version: None,
    });
    keys.push(relops_api::KeyInfo {
        role: "crash".into(),
        key_ids: vec![state.crash_key.key_id().to_owned()],
        public_keys: vec![state.crash_key.public_hex().to_owned()],
        threshold: 1,
        expires: None,
        version: None,
    });
    Ok(axum::Json(relops_api::KeyList { product, keys }))
}

/// `POST /v1/keys/rotate`: a new key for a TUF role, published in a new root version.
pub async fn rotate(
    State(state): State<AppState>,
    who: crate::auth::Principal,
    axum::Json(req): axum::Json<relops_api::RotateKey>,
) -> ApiResult<axum::Json<relops_api::KeyRotated>> {
    let role = req.role.trim();
    if !["root", "targets", "snapshot", "timestamp"].contains(&role) {
        return Err(ApiError::BadRequest(format!(
            "cannot rotate `{role}`: rotate one of root, targets, snapshot, timestamp (the release \
             key is pinned by installed apps and is not rotated online)"
        )));
    }
    let root_versions = state
        .feed
        .rotate(&state.db, &state.config.keys_dir, role)
        .await
        .map_err(|e| match e.downcast::<crate::feed::MissingRootKeys>() {
            Ok(missing) => ApiError::Conflict(format!("cannot rotate the {role} key: {missing}")),
            Err(e) => ApiError::Internal(e.context(format!("rotating the {role} key failed"))),
        })?;
    let key = crate::keys::load_signing_key(&state.config.keys_dir, role)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let key_id = relops_tuf::Key::ed25519(&key.verifying_key()).key_id();
    let audit = relops_store::AuditRecord {
        actor: who.actor(),
        action: "key.rotate".into(),
        target: format!("key/{role}"),
        detail: serde_json::json!({ "key_id": key_id, "root_versions": root_versions }),
        request_id: who.request_id.clone(),
    };
    state.db.append_audit_entry(&audit).await?;
    Ok(axum::Json(relops_api::KeyRotated {
        role: role.to_owned(),
        key_id,
        root_versions,
    }))
}

/// `GET /tuf/{product}/notes/{version}.md`: release notes of a published release, public
/// like the feed that links to them.
pub async fn notes(
    State(state): State<AppState>,
    Path((product, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let version = file.strip_suffix(".md").ok_or_else(|| not_found(&file))?;
    state.product(Some(&product))?;
    let release = super::releases::load(&state, &product, version).await?;
    if !relops_store::PUBLISHED_STATES.contains(&release.state) {
        return Err(not_found(&file));
    }
    super::releases::notes_response(&state, &release).await
}
