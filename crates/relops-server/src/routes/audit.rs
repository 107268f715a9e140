//! The audit trail: `GET /v1/audit/verify` recomputes the hash chain, `GET /v1/audit/export`
//! writes JSON lines (the server side of the playbook's `wizard_audit.log` channel).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use relops_store::AuditVerdict;
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub async fn verify(State(state): State<AppState>) -> ApiResult<Json<AuditVerdict>> {
    let key = state.audit_key.clone();
    Ok(Json(state.db.audit_verify(|cp| key.verifies(cp)).await?))
}

/// `POST /v1/audit/checkpoint`: sign the chain head now.
pub async fn checkpoint(
    State(state): State<AppState>,
) -> ApiResult<Json<Option<relops_store::Checkpoint>>> {
    let key = state.audit_key.clone();
    Ok(Json(state.db.audit_checkpoint(|m| key.sign(m)).await?))
}

#[derive(Debug, Deserialize)]
pub struct PruneQuery {
    /// Prune entries before this date (default: now − retention_days).
    pub before: Option<String>,
}

/// `POST /v1/audit/prune`: delete old entries, keeping a signed checkpoint.
pub async fn prune(
    State(state): State<AppState>,
    Query(q): Query<PruneQuery>,
    who: crate::auth::Principal,
) -> ApiResult<Json<Option<relops_store::Checkpoint>>> {
    let retention = chrono::Duration::days(state.config.audit.retention_days);
    let before = match q.before.as_deref() {
        Some(s) => parse_since(s)?,
        None => Utc::now() - retention,
    };
    let key = state.audit_key.clone();
    let audit = relops_store::AuditRecord {
        actor: who.actor(),
        action: "audit.prune".into(),
        target: "audit".into(),
        detail: serde_json::json!({ "before": before }),
        request_id: who.request_id.clone(),
    };
    Ok(Json(
        state
            .db
            .audit_prune(before, |m| key.sign(m), &audit)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `YYYY-MM-DD` or an RFC 3339 time.
    pub since: Option<String>,
}

fn parse_since(s: &str) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    s.parse::<NaiveDate>()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "since `{s}` is not a date: use YYYY-MM-DD or RFC 3339"
            ))
        })
}

pub async fn export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let since = q.since.as_deref().map(parse_since).transpose()?;
    let mut body = String::new();
    for e in state.db.audit_export(since).await? {
        body.push_str(&serde_json::to_string(&e).map_err(|e| ApiError::Internal(e.into()))?);
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
