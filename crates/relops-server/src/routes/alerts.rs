//! Alerts: `GET /v1/alerts`, `GET /v1/alerts/{id}`, `POST /v1/alerts/{id}/ack`. Alerts are
//! opened by the health engine ([`crate::alerting`]) — or, for a critical failure that
//! support confirmed, by `POST /v1/releases/{version}/escalate`, which acts exactly as the
//! critical-failure rule does (roll back at once, page, incident).

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use relops_api::{Alert, AlertAck, AlertList, Escalation};
use relops_core::alert::{Condition, ESCALATION_KEY};
use relops_store::{AlertRecord, AuditRecord};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub(crate) fn alert(r: AlertRecord) -> Alert {
    Alert {
        id: r.id,
        product: r.product,
        release: r.release,
        rule: r.rule,
        key: r.rule_key,
        severity: r.severity,
        summary: r.summary,
        evidence: r.evidence,
        actions: r.actions,
        follow_up: r.follow_up,
        incident: r.incident,
        status: r.status,
        fired_at: r.fired_at,
        acked_at: r.acked_at,
        acked_by: r.acked_by,
        ack_note: r.ack_note,
        resolved_at: r.resolved_at,
    }
}

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    pub product: Option<String>,
    /// Include resolved alerts.
    #[serde(default)]
    pub all: bool,
    pub limit: Option<u32>,
}

/// `GET /v1/alerts`: open alerts (firing or acknowledged), newest first; `?all=true` for
/// resolved ones too.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Json<AlertList>> {
    let product = state.product(q.product.as_deref())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // Let the health engine see what was answered so far (alerts then fire from the alert
    // worker); best effort — alerts must list even while the telemetry store fails.
    let _ = state.telemetry_visible().await;
    let list = state.db.alerts(&product, !q.all, limit).await?;
    Ok(Json(AlertList {
        alerts: list.into_iter().map(alert).collect(),
    }))
}

async fn load(state: &AppState, id: &str) -> ApiResult<AlertRecord> {
    match state.db.alert(id).await? {
        Some(a) if state.config.products.contains(&a.product) => Ok(a),
        _ => Err(ApiError::NotFound(format!(
            "no alert `{id}`: `relops alert list --all` shows them"
        ))),
    }
}

/// `GET /v1/alerts/{id}`
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Alert>> {
    Ok(Json(alert(load(&state, &id).await?)))
}

/// `POST /v1/alerts/{id}/ack`: someone has it; the episode goes on until its condition
/// clears.
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Principal,
    Json(req): Json<AlertAck>,
) -> ApiResult<Json<Alert>> {
    let a = load(&state, &id).await?;
    if a.status != "firing" {
        return Err(ApiError::Conflict(format!(
            "{id} is {}{}: only a firing alert is acknowledged",
            a.status,
            a.acked_by
                .as_deref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        )));
    }
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let actor = who.actor();
    let audit = AuditRecord {
        actor: actor.clone(),
        action: "alert.ack".into(),
        target: format!("{}/{}", a.product, id),
        detail: json!({"rule": a.rule, "release": a.release, "note": note}),
        request_id: who.request_id.clone(),
    };
    let done = state
        .db
        .ack_alert(&id, &actor, note, Utc::now(), &audit)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("{id} changed meanwhile: `relops alert show {id}`"))
        })?;
    Ok(Json(alert(done)))
}

/// `POST /v1/releases/{version}/escalate`: support escalates a confirmed critical failure
/// (crash on start or on project open, data loss).
pub async fn escalate(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<super::ProductQuery>,
    who: Principal,
    Json(req): Json<Escalation>,
) -> ApiResult<(axum::http::StatusCode, Json<Alert>)> {
    let product = state.product(q.product.as_deref())?;
    let release = super::releases::load(&state, &product, &v).await?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "--reason is required: what the customer lost or could not do (it goes to the pager and the incident)".into(),
        ));
    }
    let ticket = req
        .ticket
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let condition = Condition::escalation(reason, ticket);
    let version = release.version.to_string();
    state.telemetry_visible().await?;
    let (figures, _, _) = state.health.assess(&product, &version, Utc::now());
    let id = crate::alerting::fire(&state, &product, &version, &condition, &figures, Some(&who))
        .await
        .map_err(ApiError::Internal)?;
    let Some(id) = id else {
        let open = state
            .db
            .alerts(&product, true, 1000)
            .await?
            .into_iter()
            .find(|a| a.release == version && a.rule_key == ESCALATION_KEY)
            .map(|a| a.id)
            .unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "an escalation of {version} is open already ({open}): `relops alert show {open}`"
        )));
    };
    Ok((
        axum::http::StatusCode::CREATED,
        Json(alert(load(&state, &id).await?)),
    ))
}
