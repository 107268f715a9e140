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
    Ok(Json(state.db.audit_verify().await?))
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
