//! Incidents (R-RB-2, R-RB-6): opened by a rollback or by an alert; decided once by on-call
//! DevOps or the Product Owner (`rollback` rolls back at once, `hotfix` within 24 h,
//! `next-patch`), with the evidence they were shown recorded; closed by a post-mortem due
//! 3 business days after opening — overdue ones are flagged here and reported by
//! [`crate::alerting::report_overdue`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use relops_api::{Incident, IncidentDecision, IncidentList, RollbackRequest};
use relops_store::{AuditRecord, IncidentDecisionRecord, IncidentRecord};
use serde_json::{Value, json};

use super::ProductQuery;
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::notify::Notice;

/// Largest post-mortem accepted.
const MAX_POSTMORTEM_BYTES: usize = 1024 * 1024;

fn incident(r: IncidentRecord) -> Incident {
    let today = Utc::now().date_naive();
    Incident {
        overdue: r.postmortem.is_none() && r.postmortem_due < today,
        id: r.id,
        product: r.product,
        version: r.version,
        severity: r.severity,
        summary: r.summary,
        opened_at: r.opened_at,
        opened_by: r.opened_by,
        postmortem_due: r.postmortem_due,
        status: r.status,
        detail: r.detail,
        decision: r.decision,
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        postmortem: r.postmortem,
        postmortem_at: r.postmortem_at,
        postmortem_by: r.postmortem_by,
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<IncidentRecord> {
    match state.db.incident(id).await? {
        Some(r) if state.config.products.contains(&r.product) => Ok(r),
        _ => Err(ApiError::NotFound(format!(
            "no incident `{id}`: `relops incident list` shows them"
        ))),
    }
}

/// `GET /v1/incidents`
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<IncidentList>> {
    let product = state.product(q.product.as_deref())?;
    let list = state.db.incidents(&product).await?;
    Ok(Json(IncidentList {
        incidents: list.into_iter().map(incident).collect(),
    }))
}

/// `GET /v1/incidents/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    let r = load(&state, &id).await?;
    Ok(Json(incident(r)))
}

/// The evidence a decision is made on: what the incident was opened with, and the
/// release's health now.
fn evidence(state: &AppState, r: &IncidentRecord) -> Value {
    let (f, slices, verdict) = state
        .health
        .assess(&r.product, &r.version.to_string(), Utc::now());
    json!({
        "opened_with": r.detail,
        "health_now": crate::routes::ingest::health_json(&f, &slices, verdict, state.health.rules()),
    })
}

/// `POST /v1/incidents/{id}/decision`
pub async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Principal,
    Json(req): Json<IncidentDecision>,
) -> ApiResult<Json<Incident>> {
    let r = load(&state, &id).await?;
    if r.status != "open" {
        return Err(ApiError::Conflict(format!(
            "{id} is {}: it was decided{} — one decision per incident; open a new one by rolling back or halting again",
            r.status,
            match (&r.decided_by, r.decided_at) {
                (Some(b), Some(t)) => format!(" by {b} at {}", t.format("%Y-%m-%d %H:%M UTC")),
                _ => String::new(),
            }
        )));
    }
    let note = req
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    // Best effort: a decision (often a rollback) must not wait on a failing telemetry
    // store; the evidence is then what the health engine has counted so far.
    let _ = state.telemetry_visible().await;
    let shown = evidence(&state, &r);
    let now = Utc::now();
    let (severity, due) = match req.action.as_str() {
        "rollback" => {
            let reason = note
                .clone()
                .unwrap_or_else(|| format!("{id}: decided to roll back {}", r.version));
            crate::routes::rollouts::do_rollback(
                &state,
                r.product.clone(),
                &who,
                RollbackRequest {
                    to: req.to.clone(),
                    reason,
                    severity: Some("critical".into()),
                    next_fix: None,
                },
                Some((id.clone(), shown)),
            )
            .await?;
            let done = load(&state, &id).await?;
            return Ok(Json(incident(done)));
        }
        // The decision matrix: high -> hotfix within 24 h, low -> the next patch.
        "hotfix" => ("high", Some(now + chrono::Duration::hours(24))),
        "next-patch" => ("low", None),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action `{other}`: rollback (roll back now), hotfix (fix within 24 h) or next-patch"
            )));
        }
    };
    if req.to.is_some() {
        return Err(ApiError::BadRequest(
            "--to only goes with --action rollback".into(),
        ));
    }
    let decision = json!({
        "action": req.action, "note": note, "hotfix_due": due, "evidence": shown,
    });
    let actor = who.actor();
    let audit = AuditRecord {
        actor: actor.clone(),
        action: "incident.decide".into(),
        target: format!("{}/{}", r.product, id),
        detail: json!({"action": req.action, "note": note, "severity": severity}),
        request_id: who.request_id.clone(),
    };
    let text = format!(
        "{} {}: {id} decided: {}{}. (by {actor})",
        r.product,
        r.version,
        match req.action.as_str() {
            "hotfix" => "hotfix within 24 h".to_owned(),
            _ => "fix in the next patch".to_owned(),
        },
        note.as_deref()
            .map(|n| format!(" — {n}"))
            .unwrap_or_default(),
    );
    let notice = Notice {
        event: "incident.decided".into(),
        product: r.product.clone(),
        version: r.version.to_string(),
        text,
        page: None,
        details: json!({"incident": id, "action": req.action, "severity": severity}),
        at: now,
    };
    let done = state
        .db
        .decide_incident(
            &id,
            &IncidentDecisionRecord {
                decision,
                severity: severity.to_owned(),
                by: actor,
                at: now,
            },
            &audit,
            &notice.messages(&state.config.notify),
        )
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "{id} was decided meanwhile: `relops incident show {id}`"
            ))
        })?;
    state.outbox.notify_one();
    Ok(Json(incident(done)))
}

/// `PUT /v1/incidents/{id}/postmortem` (body: the post-mortem, Markdown).
pub async fn postmortem(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Incident>> {
    let r = load(&state, &id).await?;
    if r.status == "open" {
        return Err(ApiError::Conflict(format!(
            "{id} is still awaiting its decision: `relops incident decide {id} --action rollback|hotfix|next-patch` first"
        )));
    }
    if body.len() > MAX_POSTMORTEM_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "a post-mortem is at most {MAX_POSTMORTEM_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::BadRequest("the post-mortem must be UTF-8 text (Markdown)".into())
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("the post-mortem is empty".into()));
    }
    let now = Utc::now();
    let actor = who.actor();
    let audit = AuditRecord {
        actor: actor.clone(),
        action: "incident.postmortem".into(),
        target: format!("{}/{}", r.product, id),
        detail: json!({
            "bytes": body.len(),
            "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)),
            "late": now.date_naive() > r.postmortem_due,
        }),
        request_id: who.request_id.clone(),
    };
    let done = state
        .db
        .file_postmortem(&id, text, &actor, now, &audit)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident `{id}`")))?;
    Ok(Json(incident(done)))
}
