//! Crash reports (R-CR-3): sealed dumps from the relops SDK (`POST /v1/ingest/crashes`),
//! listed and shown by anyone who reads releases, opened only by the roles that may read
//! dumps (`GET /v1/crashes/{id}/dump`, audited). The server stores the sealed bytes as
//! received and opens them in memory for the reader; nothing of a dump is logged.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use chrono::Utc;
use relops_ingest::envelope;
use relops_store::{AuditRecord, Record};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ingest::{IngestProduct, Native};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// A sealed crash report from the SDK.
#[derive(Debug, Deserialize)]
pub struct NativeCrash {
    #[serde(flatten)]
    pub who: Native,
    /// Client-chosen UUID: a retried upload is stored once.
    pub crash_id: String,
    /// `minidump`, `panic`, … (what the dump is).
    pub kind: String,
    /// When the crash happened, on the client.
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<Utc>>,
    /// Reports the SDK's full queue dropped before this one.
    #[serde(default)]
    pub dropped_before: u64,
    /// Unencrypted tags (e.g. `phase`) for the crash fingerprint rules.
    #[serde(default)]
    pub tags: serde_json::Map<String, Value>,
    /// The sealed dump (`relops_seal` format), base64.
    pub sealed: String,
}

/// `POST /v1/ingest/crashes`
pub async fn ingest(
    State(state): State<AppState>,
    IngestProduct(product): IngestProduct,
    Json(c): Json<NativeCrash>,
) -> ApiResult<Json<Value>> {
    c.who.check()?;
    let id = envelope::normalize_uuid(&c.crash_id).ok_or_else(|| {
        ApiError::BadRequest("`crash_id` must be a UUID (32 hex digits, dashed or not)".into())
    })?;
    let kind = c.kind.trim();
    if kind.is_empty()
        || kind.len() > 32
        || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::BadRequest(
            "`kind` must be 1-32 characters of a-z, 0-9, _ (minidump, panic, …)".into(),
        ));
    }
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(c.sealed.trim())
        .map_err(|e| ApiError::BadRequest(format!("`sealed` is not base64: {e}")))?;
    relops_seal::check(&sealed).map_err(|e| ApiError::BadRequest(format!("`sealed`: {e}")))?;
    state
        .ingest_limits
        .check(&product, Some(&c.who.install_id))?;
    let key = format!("crashes/sealed/{id}");
    state.blobs.put_raw(&key, sealed.clone().into()).await?;
    let event = json!({"tags": c.tags});
    let r = Record::Event {
        scope: c.who.scope(),
        event_id: id.clone(),
        install_id: Some(c.who.install_id.clone()),
        crash: true,
        critical: state.config.alerts.classify(&event).map(str::to_owned),
        code: None,
        payload: json!({
            "kind": kind,
            "sealed": {"blob_key": key, "size": sealed.len(), "sha256": hex::encode(Sha256::digest(&sealed))},
            "created_at": c.created_at,
            "dropped_before": c.dropped_before,
            "tags": c.tags,
        })
        .to_string(),
    };
    state
        .ingest_writer
        .write(&product, vec![r])
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
pub struct CrashQuery {
    pub product: Option<String>,
    pub release: Option<String>,
    pub limit: Option<u32>,
}

fn view(c: &relops_store::CrashRecord) -> Value {
    let p: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
    let (kind, dump) = if let Some(s) = p.get("sealed") {
        (
            p["kind"].clone(),
            json!({"sealed": true, "size": s["size"], "sha256": s["sha256"]}),
        )
    } else if let Some(m) = p.get("minidump") {
        (
            json!("minidump"),
            json!({"sealed": false, "size": m["size"], "sha256": m["sha256"]}),
        )
    } else {
        (json!("event"), Value::Null)
    };
    json!({
        "id": c.id,
        "release": c.release,
        "channel": c.channel,
        "platform": c.platform,
        "install_id": c.install_id,
        "received_at": c.received_at,
        "kind": kind,
        "critical": c.critical,
        "dump": dump,
        "dropped_before": p.get("dropped_before"),
        "created_at": p.get("created_at"),
        "tags": p.get("tags").or_else(|| p.pointer("/event/tags")),
    })
}

/// `GET /v1/crashes`: newest first (`?release=`, `?limit=`).
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<CrashQuery>,
) -> ApiResult<Json<Value>> {
    let product = state.product(q.product.as_deref())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    state.telemetry_visible().await?;
    let list = state
        .db
        .crashes(&product, q.release.as_deref(), limit)
        .await?;
    Ok(Json(
        json!({"crashes": list.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn load(state: &AppState, product: &str, id: &str) -> ApiResult<relops_store::CrashRecord> {
    let norm = envelope::normalize_uuid(id).unwrap_or_else(|| id.to_owned());
    state.telemetry_visible().await?;
    state.db.crash(product, &norm).await?.ok_or_else(|| {
        ApiError::NotFound(format!("no crash `{id}`: `relops crash list` shows them"))
    })
}

/// `GET /v1/crashes/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<super::ProductQuery>,
) -> ApiResult<Json<Value>> {
    let product = state.product(q.product.as_deref())?;
    Ok(Json(view(&load(&state, &product, &id).await?)))
}

/// `GET /v1/crashes/{id}/dump`: the dump, opened (sealed ones with the crash key). Every
/// read is an audit entry.
pub async fn dump(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<super::ProductQuery>,
    who: Principal,
) -> ApiResult<impl IntoResponse> {
    let product = state.product(q.product.as_deref())?;
    let c = load(&state, &product, &id).await?;
    let p: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
    let (key, sealed) = match (
        p.pointer("/sealed/blob_key"),
        p.pointer("/minidump/blob_key"),
    ) {
        (Some(k), _) => (k.as_str().unwrap_or_default().to_owned(), true),
        (None, Some(k)) => (k.as_str().unwrap_or_default().to_owned(), false),
        _ => {
            return Err(ApiError::NotFound(format!(
                "crash {} has no dump (it was reported as an event only)",
                c.id
            )));
        }
    };
    let bytes = state.blobs.get_raw(&key).await?;
    let plain = if sealed {
        state.crash_key.open(&c.id, &bytes).map_err(|e| {
            ApiError::Unprocessable(format!(
                "crash {}: {e} — was it sealed to another server's crash key?",
                c.id
            ))
        })?
    } else {
        bytes.to_vec()
    };
    state
        .db
        .append_audit_entry(&AuditRecord {
            actor: who.actor(),
            action: "crash.read_dump".into(),
            target: format!("{product}/{}", c.id),
            detail: json!({"release": c.release, "sealed": sealed, "bytes": plain.len()}),
            request_id: who.request_id.clone(),
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"crash-{}.dmp\"", c.id),
            ),
        ],
        plain,
    ))
}
