//! Crash and telemetry ingest (DESIGN decision 5): the Sentry envelope endpoint and the
//! native `/v1/ingest/*` endpoints, authenticated by the product's public ingest key.
//!
//! Bodies may be gzip, deflate, br or zstd (decompressed within `[ingest] max_body_bytes`:
//! by the route layer, or for envelopes by the handler, `body.rs`). Each request's records are made durable before the
//! answer (2xx = stored; `ingest_writer.rs`); retries are idempotent (event ids, session ends).
//! Unknown item types are skipped; a release the registry does not know is counted under
//! its name and listed by `relops health --unknown`, never dropped.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use chrono::Utc;
use relops_core::alert::Rules;
use relops_core::health::Verdict;
use relops_core::health::tracker::{Figures, Slice};
use relops_ingest::envelope;
use relops_ingest::session::{self, ReleaseRef};
use relops_store::{Record, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ProductQuery;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The product an ingest key belongs to. Taking it as an argument is what authenticates an
/// ingest handler: the extractor runs before any other (after `State`), so a request
/// without a valid key gets 401 before its path or body is looked at. Ingest routes have
/// no guard middleware (`table.rs`): this is their guard, and the cheaper one on the
/// hottest path.
#[derive(Debug, Clone)]
pub struct IngestProduct(pub String);

impl axum::extract::FromRequestParts<AppState> for IngestProduct {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers, &parts.uri)
    }
}

/// Finds the ingest key in `X-Relops-Ingest-Key`, in `X-Sentry-Auth` / `Authorization:
/// Sentry …` (`sentry_key=`), or in `?sentry_key=`.
pub fn authenticate(
    state: &AppState,
    h: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<IngestProduct, ApiError> {
    let native = h.get("x-relops-ingest-key").and_then(|v| v.to_str().ok());
    let from_auth = || {
        ["x-sentry-auth", "authorization"]
            .iter()
            .filter_map(|n| h.get(*n)?.to_str().ok())
            .find_map(|v| {
                v.trim_start_matches("Sentry ")
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("sentry_key="))
            })
    };
    let from_query = || {
        uri.query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("sentry_key=")))
    };
    let key = native.or_else(from_auth).or_else(from_query).ok_or_else(|| {
        ApiError::Unauthorized(
            "no ingest key: send the DSN's key as X-Sentry-Auth sentry_key=…, ?sentry_key=… or X-Relops-Ingest-Key (`relops ingest dsn` prints it)".into(),
        )
    })?;
    state
        .ingest_keys
        .get(key.trim())
        .map(|p| IngestProduct(p.clone()))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "unknown ingest key: `relops ingest dsn` prints the current one".into(),
            )
        })
}

/// The Sentry project id of a product: its position in `products`, from 1.
fn project_id(state: &AppState, product: &str) -> usize {
    state
        .config
        .products
        .iter()
        .position(|p| p == product)
        .map_or(0, |i| i + 1)
}

/// Which channel an environment name means: a configured channel as is, Sentry's default
/// `production` as the production channel, anything else kept as sent.
fn channel_of(state: &AppState, env: Option<&str>) -> String {
    let feed = &state.config.feed;
    match env {
        Some(e) if feed.channels.iter().any(|c| c == e) => e.to_owned(),
        Some("production") | None => feed.production_channel().to_owned(),
        Some(e) => e.to_owned(),
    }
}

/// Refuses a project id that is not the key's product's.
fn check_project(state: &AppState, product: &str, project: &str) -> ApiResult<()> {
    let expected = project_id(state, product);
    if project.parse::<usize>().ok() == Some(expected) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "project {project} does not belong to this key: {product} is project {expected} (use the DSN from `relops ingest dsn`)"
        )))
    }
}

/// The install an event names: `user.id`, else `tags.install_id`.
fn install_of(event: &Value) -> Option<String> {
    ["/user/id", "/tags/install_id"]
        .iter()
        .find_map(|p| event.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The product and release a release string names, given the key's product.
fn release_of(state: &AppState, product: &str, r: Option<ReleaseRef>) -> (String, String) {
    match r {
        Some(ReleaseRef {
            product: Some(p),
            version,
        }) if state.config.products.contains(&p) => (p, version),
        Some(ReleaseRef {
            product: Some(p),
            version,
        }) => (product.to_owned(), format!("{p}@{version}")),
        Some(ReleaseRef {
            product: None,
            version,
        }) => (product.to_owned(), version),
        None => (product.to_owned(), "unknown".to_owned()),
    }
}

/// relops platform names from what an event's `contexts.os` says.
fn platform_of(event: &Value) -> String {
    if let Some(p) = event.pointer("/tags/platform").and_then(Value::as_str) {
        return p.to_owned();
    }
    let os = event
        .pointer("/contexts/os/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let arch = event
        .pointer("/contexts/device/arch")
        .and_then(Value::as_str)
        .unwrap_or("x86_64");
    let arm = arch.contains("arm") || arch.contains("aarch64");
    if os.contains("mac") || os.contains("darwin") {
        if arm { "macos-arm64" } else { "macos-x64" }.into()
    } else if os.contains("windows") {
        if arm { "windows-arm64" } else { "windows-x64" }.into()
    } else if os.contains("linux") {
        "linux-x64".into()
    } else {
        "unknown".into()
    }
}

/// Records grouped by the product they belong to.
#[derive(Default)]
struct Batch(Vec<(String, Record)>);

impl Batch {
    /// The first install the batch names (the rate limit's key).
    fn install(&self) -> Option<&str> {
        self.0.iter().find_map(|(_, r)| match r {
            Record::Session { install_id, .. }
            | Record::Aggregate { install_id, .. }
            | Record::Event { install_id, .. } => install_id.as_deref(),
            Record::Memory { install_id, .. } => Some(install_id.as_str()),
        })
    }

    async fn store(self, state: &AppState) -> ApiResult<()> {
        // Records by product, in order (almost always one product).
        let mut by_product: Vec<(String, Vec<Record>)> = Vec::new();
        for (p, r) in self.0 {
            match by_product.iter_mut().find(|(q, _)| *q == p) {
                Some((_, rs)) => rs.push(r),
                None => by_product.push((p, vec![r])),
            }
        }
        for (p, records) in by_product {
            state
                .ingest_writer
                .write(&p, records)
                .await
                .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
        }
        Ok(())
    }
}

/// `POST /api/{project_id}/envelope/`
pub async fn envelope(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    check_project(&state, &product, &project)?;
    let body = super::body::decode(&headers, body, state.config.ingest.max_body_bytes)?;
    let env = envelope::parse(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed Sentry envelope: {e}")))?;
    let mut batch = Batch::default();
    let envelope_id = env.event_id();
    for item in &env.items {
        match item.ty.as_str() {
            "session" => {
                let Some(u) = session::session_update(item.payload) else {
                    return Err(ApiError::BadRequest(
                        "a session item is not a JSON object with a `sid`".into(),
                    ));
                };
                let (p, release) = release_of(&state, &product, u.release);
                let scope = Scope {
                    release,
                    channel: channel_of(&state, u.environment.as_deref()),
                    platform: "unknown".into(),
                };
                batch.0.push((
                    p,
                    Record::Session {
                        scope,
                        session_id: u.session_id,
                        install_id: u.install_id,
                        crashed: u.status.is_crash(),
                        status: u.status.as_str().to_owned(),
                    },
                ));
            }
            "sessions" => {
                let Some((release, buckets)) = session::aggregates(item.payload) else {
                    return Err(ApiError::BadRequest(
                        "a sessions item has no `aggregates` list".into(),
                    ));
                };
                let env_name: Option<String> = serde_json::from_slice::<Value>(item.payload)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/attrs/environment")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                let (p, release) = release_of(&state, &product, release);
                for b in buckets {
                    batch.0.push((
                        p.clone(),
                        Record::Aggregate {
                            scope: Scope {
                                release: release.clone(),
                                channel: channel_of(&state, env_name.as_deref()),
                                platform: "unknown".into(),
                            },
                            install_id: b.install_id.clone(),
                            crashed: b.crashed + b.abnormal > 0,
                            counts: vec![
                                ("exited".into(), b.exited),
                                ("errored".into(), b.errored),
                                ("abnormal".into(), b.abnormal),
                                ("crashed".into(), b.crashed),
                            ],
                        },
                    ));
                }
            }
            "event" => {
                let event: Value = serde_json::from_slice(item.payload)
                    .map_err(|e| ApiError::BadRequest(format!("an event item is not JSON: {e}")))?;
                let id = event
                    .get("event_id")
                    .and_then(Value::as_str)
                    .and_then(envelope::normalize_uuid)
                    .or_else(|| envelope_id.clone())
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "an event without an event_id (32 hex digits, dashed or not)".into(),
                        )
                    })?;
                let release = event
                    .get("release")
                    .and_then(Value::as_str)
                    .map(session::release_ref);
                let (p, release) = release_of(&state, &product, release);
                let crash = event.get("level").and_then(Value::as_str) == Some("fatal")
                    || event
                        .pointer("/exception/values")
                        .and_then(Value::as_array)
                        .is_some_and(|vs| {
                            vs.iter().any(|v| {
                                v.pointer("/mechanism/handled").and_then(Value::as_bool)
                                    == Some(false)
                            })
                        });
                let code = ["/tags/code", "/tags/error_code"]
                    .iter()
                    .find_map(|p| event.pointer(p).and_then(Value::as_str))
                    .map(str::to_owned);
                let install = install_of(&event);
                let critical = crash
                    .then(|| state.config.alerts.classify(&event).map(str::to_owned))
                    .flatten();
                batch.0.push((
                    p,
                    Record::Event {
                        scope: Scope {
                            release,
                            channel: channel_of(
                                &state,
                                event.get("environment").and_then(Value::as_str),
                            ),
                            platform: platform_of(&event),
                        },
                        event_id: id,
                        install_id: install,
                        crash,
                        critical,
                        code,
                        payload: String::from_utf8_lossy(item.payload).into_owned(),
                    },
                ));
            }
            // Attachments (minidumps) are kept with sealed crash reports, a later slice;
            // client reports and unknown types are skipped, as Relay does.
            _ => {}
        }
    }
    state.ingest_limits.check(&product, batch.install())?;
    batch.store(&state).await?;
    Ok(Json(json!({ "id": envelope_id })))
}

/// `POST /api/{project_id}/minidump/`: what Crashpad and sentry-native upload — a
/// multipart form with the dump in `upload_file_minidump` and the event's attributes as
/// `sentry` (JSON) or `sentry[release]`-style fields; the whole body may be gzip'd. The dump
/// is kept in the blob store by content; a re-sent dump is stored once.
pub async fn minidump(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Path(project): Path<String>,
    mut form: axum::extract::Multipart,
) -> ApiResult<Json<Value>> {
    use sha2::{Digest, Sha256};
    check_project(&state, &product, &project)?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the upload is larger than [ingest] max_body_bytes = {}",
                state.config.ingest.max_body_bytes
            ))
        } else {
            ApiError::BadRequest(format!("malformed multipart minidump upload: {e}"))
        }
    };
    let mut dump: Option<Bytes> = None;
    let mut event = serde_json::Map::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(bad)?;
        if name == "upload_file_minidump" {
            dump = Some(data);
        } else if name == "sentry" {
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&data) {
                event.extend(m);
            }
        } else if let Some(path) = name.strip_prefix("sentry[") {
            // sentry[release], sentry[user][id], sentry[tags][code] …
            let keys: Vec<&str> = path.trim_end_matches(']').split("][").collect();
            let value = Value::String(String::from_utf8_lossy(&data).into_owned());
            let mut at = &mut event;
            for (i, k) in keys.iter().enumerate() {
                if i + 1 == keys.len() {
                    at.insert((*k).to_owned(), value.clone());
                } else {
                    let next = at
                        .entry((*k).to_owned())
                        .or_insert_with(|| Value::Object(serde_json::Map::new()));
                    let Value::Object(m) = next else { break };
                    at = m;
                }
            }
        }
    }
    let dump = dump
        .ok_or_else(|| ApiError::BadRequest("no `upload_file_minidump` part in the form".into()))?;
    if !dump.starts_with(b"MDMP") {
        return Err(ApiError::BadRequest(
            "`upload_file_minidump` is not a minidump (it does not start with MDMP)".into(),
        ));
    }
    let event = Value::Object(event);
    let sha = hex::encode(Sha256::digest(&dump));
    let id = event
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(envelope::normalize_uuid)
        .unwrap_or_else(|| sha[..32].to_owned());
    let install = install_of(&event);
    state.ingest_limits.check(&product, install.as_deref())?;
    let key = format!("crashes/{sha}");
    state.blobs.put_raw(&key, dump.clone()).await?;
    let release = event
        .get("release")
        .and_then(Value::as_str)
        .map(session::release_ref);
    let (p, release) = release_of(&state, &product, release);
    let r = Record::Event {
        scope: Scope {
            release,
            channel: channel_of(&state, event.get("environment").and_then(Value::as_str)),
            platform: platform_of(&event),
        },
        event_id: id.clone(),
        install_id: install,
        crash: true,
        critical: state.config.alerts.classify(&event).map(str::to_owned),
        code: None,
        payload: json!({"minidump": {"sha256": sha, "size": dump.len(), "blob_key": key}, "event": event})
            .to_string(),
    };
    state
        .ingest_writer
        .write(&p, vec![r])
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
    Ok(Json(json!({ "id": id })))
}

/// What every native record names.
#[derive(Debug, Deserialize)]
pub struct Native {
    pub install_id: String,
    pub release: String,
    pub platform: String,
    pub channel: String,
}

impl Native {
    pub(crate) fn check(&self) -> ApiResult<()> {
        for (name, v) in [
            ("install_id", &self.install_id),
            ("release", &self.release),
            ("platform", &self.platform),
            ("channel", &self.channel),
        ] {
            if v.trim().is_empty() || v.len() > 128 {
                return Err(ApiError::BadRequest(format!(
                    "`{name}` must be 1-128 characters"
                )));
            }
        }
        self.platform
            .parse::<relops_core::platform::Platform>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(())
    }

    pub(crate) fn scope(&self) -> Scope {
        Scope {
            release: self.release.clone(),
            channel: self.channel.clone(),
            platform: self.platform.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NativeSession {
    #[serde(flatten)]
    pub who: Native,
    /// Client-chosen, so a retry is recognised.
    pub session_id: String,
    /// ok, exited, crashed, abnormal, errored (others are kept as sent).
    pub status: String,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
}

/// Most sessions one request may carry.
const MAX_SESSIONS_PER_REQUEST: usize = 1000;

/// `POST /v1/ingest/sessions`: one session object, or `{"sessions": [...]}` (up to 1,000),
/// stored all or nothing.
pub async fn session(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let parse = |v: Value, at: &str| {
        serde_json::from_value::<NativeSession>(v)
            .map_err(|e| ApiError::BadRequest(format!("{at}{e}")))
    };
    let (sessions, one) = match body {
        Value::Object(mut o) if o.contains_key("sessions") => match o.remove("sessions") {
            Some(Value::Array(list)) => (
                list.into_iter()
                    .enumerate()
                    .map(|(i, v)| parse(v, &format!("sessions[{i}]: ")))
                    .collect::<ApiResult<Vec<_>>>()?,
                false,
            ),
            _ => {
                return Err(ApiError::BadRequest(
                    "`sessions` must be a list of session objects".into(),
                ));
            }
        },
        v => (vec![parse(v, "")?], true),
    };
    if sessions.is_empty() || sessions.len() > MAX_SESSIONS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "`sessions` must hold 1 to {MAX_SESSIONS_PER_REQUEST} sessions (got {})",
            sessions.len()
        )));
    }
    let mut records = Vec::with_capacity(sessions.len());
    for (i, s) in sessions.iter().enumerate() {
        s.who.check().map_err(|e| match e {
            ApiError::BadRequest(m) if !one => ApiError::BadRequest(format!("sessions[{i}]: {m}")),
            other => other,
        })?;
        let status = session::Status::parse(&s.status);
        records.push(Record::Session {
            scope: s.who.scope(),
            session_id: s.session_id.clone(),
            install_id: Some(s.who.install_id.clone()),
            crashed: status.is_crash(),
            status: status.as_str().to_owned(),
        });
    }
    if one {
        state
            .ingest_limits
            .check(&product, Some(&sessions[0].who.install_id))?;
    } else {
        // A batch counts once against the key; installs are many, not one flooding.
        state.ingest_limits.check(&product, None)?;
    }
    state
        .ingest_writer
        .write(&product, records)
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
    Ok(Json(if one {
        json!({ "id": sessions[0].session_id })
    } else {
        json!({ "stored": sessions.len() })
    }))
}

#[derive(Debug, Deserialize)]
pub struct NativeError {
    #[serde(flatten)]
    pub who: Native,
    /// Client-chosen (a UUID), so a retry is stored once.
    pub event_id: String,
    /// e.g. `TOB_PARSE_ERROR`.
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /v1/ingest/errors`
pub async fn error(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(e): Json<NativeError>,
) -> ApiResult<Json<Value>> {
    e.who.check()?;
    state
        .ingest_limits
        .check(&product, Some(&e.who.install_id))?;
    let id = envelope::normalize_uuid(&e.event_id).ok_or_else(|| {
        ApiError::BadRequest("`event_id` must be a UUID (32 hex digits, dashed or not)".into())
    })?;
    let code = e.code.trim();
    if code.is_empty()
        || code.len() > 64
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(ApiError::BadRequest(
            "`code` must be 1-64 characters of A-Z, 0-9, _ . - (e.g. TOB_PARSE_ERROR)".into(),
        ));
    }
    let r = Record::Event {
        scope: e.who.scope(),
        event_id: id.clone(),
        install_id: Some(e.who.install_id.clone()),
        crash: false,
        critical: None,
        code: Some(code.to_owned()),
        payload: json!({"code": code, "message": e.message}).to_string(),
    };
    state
        .ingest_writer
        .write(&product, vec![r])
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
pub struct NativeMemory {
    #[serde(flatten)]
    pub who: Native,
    /// Host memory in use, percent.
    pub host_memory_percent: u8,
}

/// `POST /v1/ingest/memory`
pub async fn memory(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(m): Json<NativeMemory>,
) -> ApiResult<Json<Value>> {
    m.who.check()?;
    state
        .ingest_limits
        .check(&product, Some(&m.who.install_id))?;
    if m.host_memory_percent > 100 {
        return Err(ApiError::BadRequest(
            "`host_memory_percent` is 0-100".into(),
        ));
    }
    let r = Record::Memory {
        scope: m.who.scope(),
        install_id: m.who.install_id.clone(),
        host_percent: m.host_memory_percent,
    };
    state
        .ingest_writer
        .write(&product, vec![r])
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
    Ok(Json(json!({ "stored": true })))
}

/// `GET /v1/ingest/dsn`
pub async fn dsn(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let product = state.product(q.product.as_deref())?;
    let key = state
        .ingest_keys
        .iter()
        .find(|(_, p)| **p == product)
        .map(|(k, _)| k.clone())
        .ok_or_else(|| ApiError::NotFound(format!("no ingest key for {product}")))?;
    let base = match &state.config.ingest.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!(
            "http://{}",
            headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8080")
        ),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", &base));
    Ok(Json(json!({
        "dsn": format!("{scheme}://{key}@{rest}/{}", project_id(&state, &product)),
        "product": product,
        "public_key": key,
    })))
}

#[derive(Debug, Deserialize)]
pub struct HealthQuery {
    pub product: Option<String>,
}

/// The windowed figures of a release as JSON.
pub fn figures_json(f: &Figures) -> Value {
    json!({
        "active_installs": f.active_installs,
        "crashed_installs": f.crashed_installs,
        "critical_installs": f.critical_installs,
        "memory_warnings": f.memory_warnings,
        "errors": f.errors.iter().map(|(c, n)| (c.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The health gate of a release as JSON: rate, Wilson interval, the test's verdict and
/// numbers, and the per-channel/platform slices.
pub fn health_json(f: &Figures, slices: &[Slice], verdict: Verdict, rules: &Rules) -> Value {
    let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    let wilson =
        |k: u64, n: u64| relops_core::health::wilson(k, n, 1.96).map(|(lo, hi)| json!([lo, hi]));
    let (lower, upper) = rules.sprt.bounds();
    json!({
        "window_hours": 24,
        "active_installs": f.active_installs,
        "crashed_installs": f.crashed_installs,
        "crash_rate": rate(f.crashed_installs, f.active_installs),
        "crash_rate_wilson_95": wilson(f.crashed_installs, f.active_installs),
        "gate": verdict.as_str(),
        "sprt": {
            "llr": rules.sprt.llr(f.crashed_installs, f.active_installs),
            "accept_h0_at": lower, "accept_h1_at": upper,
            "p0": rules.sprt.p0, "p1": rules.sprt.p1, "alpha": rules.sprt.alpha,
            "beta": rules.sprt.beta, "min_installs": rules.sprt.min_installs,
        },
        "critical_installs": f.critical_installs,
        "slices": slices.iter().map(|s| json!({
            "channel": s.channel, "platform": s.platform,
            "active_installs": s.active_installs, "crashed_installs": s.crashed_installs,
            "crash_rate": rate(s.crashed_installs, s.active_installs),
            "crash_rate_wilson_95": wilson(s.crashed_installs, s.active_installs),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /v1/releases/{version}/health` — the health gate (the engine's 24-hour window and
/// its verdict) and the stored figures beside it (sessions, errors, memory, crash reports).
pub async fn health(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<HealthQuery>,
) -> ApiResult<Json<Value>> {
    let product = state.product(q.product.as_deref())?;
    state.telemetry_visible().await?;
    let now = Utc::now();
    let v = v.trim();
    let f = state.db.health(&product, v, now).await?;
    let ended: u64 = f.sessions.iter().map(|(_, n)| n).sum();
    let crashed_sessions: u64 = f
        .sessions
        .iter()
        .filter(|(s, _)| session::Status::parse(s).is_crash())
        .map(|(_, n)| n)
        .sum();
    let known = state
        .db
        .versions(&product)
        .await?
        .iter()
        .any(|x| x.to_string() == v);
    let (figures, slices, verdict) = state.health.assess(&product, v, now);
    let mut out = health_json(&figures, &slices, verdict, state.health.rules());
    let extra = json!({
        "product": product,
        "release": v,
        "known_release": known,
        "sessions": f.sessions.iter().map(|(s, n)| (s.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "crash_free_sessions": (ended > 0).then(|| (ended - crashed_sessions) as f64 / ended as f64),
        "errors_24h": f.errors.iter().map(|(c, n)| (c.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "memory_warnings_24h": f.memory_warnings,
        "crash_reports_24h": f.crash_reports,
        "unknown_releases": if known { json!(null) } else { json!(state.db.unknown_releases(&product).await?) },
    });
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(Json(out))
}
