//! Releases: create (R-REL-1..4), list, show, freeze.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use relops_api::{CreateRelease, Release, ReleaseList};
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, check_commit, previous_of};
use relops_store::AuditRecord;
use serde_json::json;

use super::{ProductQuery, version};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub async fn create(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    Json(req): Json<CreateRelease>,
) -> ApiResult<(StatusCode, Json<Release>)> {
    let product = state.product(q.product.as_deref())?;
    let version = version(req.version.trim())?;
    let bad = |e: relops_core::version::VersionError| ApiError::BadRequest(e.to_string());
    if let Some(b) = &req.branch {
        version.check_branch(b).map_err(bad)?;
    }
    if let Some(t) = &req.tag {
        version.check_tag(t).map_err(bad)?;
    }
    if let Some(c) = &req.commit {
        check_commit(c).map_err(bad)?;
    }
    let go_live: NaiveDate = req.go_live.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "go-live `{}` is not a date: expected YYYY-MM-DD, e.g. 2027-03-15",
            req.go_live
        ))
    })?;
    let existing = state.db.versions(&product).await?;
    if existing.contains(&version) {
        return Err(ApiError::Conflict(format!(
            "release {version} of {product} already exists: `relops release show {version}`"
        )));
    }
    let kind = ReleaseKind::infer(previous_of(&existing, &version), &version);
    let release = Release {
        product: product.clone(),
        kind,
        state: ReleaseState::Draft,
        go_live,
        freeze_date: state.calendar.freeze_date(go_live),
        branch: version.branch(),
        tag: version.tag(),
        commit: req.commit.map(|c| c.to_ascii_lowercase()),
        created_at: Utc::now(),
        created_by: who.actor(),
        frozen_at: None,
        frozen_by: None,
        approved_at: None,
        approved_by: None,
        notes_sha256: None,
        artifacts: Vec::new(),
        version,
    };
    let audit = AuditRecord {
        actor: who.actor(),
        action: "release.create".into(),
        target: format!("{product}/{}", release.version),
        detail: json!({
            "kind": release.kind, "go_live": release.go_live,
            "freeze_date": release.freeze_date, "commit": release.commit,
        }),
        request_id: who.request_id.clone(),
    };
    state.db.insert_release(&release, &audit).await?;
    Ok((StatusCode::CREATED, Json(release)))
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<ReleaseList>> {
    let product = state.product(q.product.as_deref())?;
    Ok(Json(ReleaseList {
        releases: state.db.list_releases(&product).await?,
    }))
}

/// Loads a release or answers 404 with a hint.
pub async fn load(state: &AppState, product: &str, v: &str) -> ApiResult<Release> {
    let version = version(v)?;
    state.db.release(product, &version).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "release {version} of {product} does not exist: `relops release list` shows the releases"
        ))
    })
}

pub async fn show(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<Release>> {
    let product = state.product(q.product.as_deref())?;
    Ok(Json(load(&state, &product, &v).await?))
}

pub async fn freeze(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
    who: Principal,
) -> ApiResult<Json<Release>> {
    let (product, release, to) = prepare(&state, &q, &v, ReleaseState::freeze).await?;
    apply(&state, &who, &product, &release, to, "freeze").await?;
    Ok(Json(load(&state, &product, &v).await?))
}

/// The product, the release and the state `step` moves it to (409 if the state machine
/// refuses).
async fn prepare(
    state: &AppState,
    q: &ProductQuery,
    v: &str,
    step: fn(ReleaseState) -> Result<ReleaseState, relops_core::release::TransitionError>,
) -> ApiResult<(String, Release, ReleaseState)> {
    let product = state.product(q.product.as_deref())?;
    let release = load(state, &product, v).await?;
    let to = step(release.state)
        .map_err(|e| ApiError::Conflict(format!("release {}: {e}", release.version)))?;
    Ok((product, release, to))
}

/// Records the transition of `release` to `to` (with its audit entry, in one transaction),
/// refusing with 409 if the release changed state since it was loaded.
async fn apply(
    state: &AppState,
    who: &Principal,
    product: &str,
    release: &Release,
    to: ReleaseState,
    verb: &str,
) -> ApiResult<()> {
    let audit = AuditRecord {
        actor: who.actor(),
        action: format!("release.{verb}"),
        target: format!("{product}/{}", release.version),
        detail: json!({ "from": release.state, "to": to }),
        request_id: who.request_id.clone(),
    };
    let done = state
        .db
        .transition(
            product,
            &release.version,
            release.state,
            to,
            Utc::now(),
            &audit,
        )
        .await?;
    if done {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "release {} changed state while trying to {verb} it; look again with `relops release show {}`",
            release.version, release.version
        )))
    }
}

/// Largest release notes accepted.
const MAX_NOTES_BYTES: usize = 1024 * 1024;

/// `PUT /v1/releases/{version}/notes`: the release notes (Markdown, UTF-8).
pub async fn put_notes(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    body: axum::body::Bytes,
) -> ApiResult<Json<Release>> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    if body.len() > MAX_NOTES_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "release notes are {} bytes; at most {MAX_NOTES_BYTES} are accepted",
            body.len()
        )));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("release notes must be UTF-8 Markdown text".into()))?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("the release notes are empty".into()));
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    state.blobs.put_raw(&notes_key(&sha), body.clone()).await?;
    let audit = AuditRecord {
        actor: who.actor(),
        action: "release.notes".into(),
        target: format!("{product}/{}", release.version),
        detail: json!({ "sha256": sha, "bytes": body.len() }),
        request_id: who.request_id.clone(),
    };
    state
        .db
        .set_notes(&product, &release.version, &sha, &audit)
        .await?;
    // Published releases carry a link to their notes in the feed.
    state.feed.publish(&state.db, &product).await.map_err(|e| {
        ApiError::Internal(
            e.context("notes stored, but publishing the feed failed; the server retries"),
        )
    })?;
    Ok(Json(load(&state, &product, &v).await?))
}

/// Blob key of release notes with this digest.
pub fn notes_key(sha256: &str) -> String {
    format!("notes/{sha256}")
}

/// `GET /v1/releases/{version}/notes`
pub async fn get_notes(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<axum::response::Response> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    notes_response(&state, &release).await
}

/// The notes of `release` as `text/markdown`, or 404.
pub async fn notes_response(
    state: &AppState,
    release: &Release,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let sha = release.notes_sha256.as_deref().ok_or_else(|| {
        ApiError::NotFound(format!(
            "release {} has no release notes yet: `relops release notes {} FILE.md`",
            release.version, release.version
        ))
    })?;
    let mut stream = state.blobs.get(&notes_key(sha), None).await?;
    let mut body = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        body.extend_from_slice(&chunk?);
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
