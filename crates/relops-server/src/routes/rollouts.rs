//! Staged rollout, halt and rollback (R-REL-9, R-RB-3..6, R-AUTO-4; DESIGN decision 4).
//!
//! Each step: load the release and its rollout, let the pure state machine
//! ([`relops_core::rollout::Rollout`]) compute the next state, record rollout + release
//! state + audit entry + outbox messages in one transaction, then re-sign the feed so the
//! new state is what clients read. The feed is published before the request answers; if
//! publishing fails the change is still recorded and the background refresh publishes it.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use relops_api::{
    NotificationInfo, NotificationList, Release, RollbackDone, RollbackRequest, RolloutStatus,
    RolloutStep,
};
use relops_core::alert::describe_rate;
use relops_core::health::Verdict;
use relops_core::release::ReleaseState;
use relops_core::rollout::{Rollout, RolloutError, RolloutState, Stage};
use relops_core::version::Version;
use relops_store::{AuditRecord, RollbackPlan, RolloutRecord};
use serde::Deserialize;
use serde_json::json;

use super::ProductQuery;
use super::releases::load;
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::notify::{Event, EventKind, RollbackFacts};

/// Business days after an incident by which its post-mortem is due (R-RB-6).
pub const POSTMORTEM_BUSINESS_DAYS: u32 = 3;

fn status(state: &AppState, product: &str, rec: &RolloutRecord) -> RolloutStatus {
    let feed = state.config.feed.rollout_state(rec);
    RolloutStatus {
        product: product.to_owned(),
        version: rec.version.clone(),
        state: rec.rollout.state.as_str().to_owned(),
        stage: rec.rollout.stage.as_str().to_owned(),
        percent: rec.rollout.percent.as_f64(),
        channels: feed
            .bps
            .iter()
            .map(|(c, p)| (c.clone(), p.as_f64()))
            .collect(),
        since: rec.rollout.since,
        next_step_allowed_at: rec
            .rollout
            .next_step_allowed_at(&state.config.rollout.plan()),
        release_state: rec.rollout.release_state(),
        started_at: rec.started_at,
        started_by: rec.started_by.clone(),
        reason: rec.reason.clone(),
    }
}

async fn load_rollout(
    state: &AppState,
    product: &str,
    release: &Release,
) -> ApiResult<RolloutRecord> {
    state
        .db
        .rollout(product, &release.version)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "release {v} has no rollout yet (it is {s}): start one with `relops rollout start {v}`",
                v = release.version,
                s = release.state
            ))
        })
}

/// `GET /v1/releases/{version}/rollout`
pub async fn show(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<RolloutStatus>> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    let rec = load_rollout(&state, &product, &release).await?;
    Ok(Json(status(&state, &product, &rec)))
}

/// `POST /v1/releases/{version}/rollout/{action}`: start, advance, pause, resume.
pub async fn step(
    State(state): State<AppState>,
    Path((v, action)): Path<(String, String)>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    Json(req): Json<RolloutStep>,
) -> ApiResult<Json<RolloutStatus>> {
    run_step(state, v, action, q, who, req).await
}

/// `POST /v1/releases/{version}/rollout/halt` (its own route: more roles may halt than
/// may move a rollout forward).
pub async fn halt(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    Json(req): Json<RolloutStep>,
) -> ApiResult<Json<RolloutStatus>> {
    run_step(state, v, "halt".into(), q, who, req).await
}

pub(crate) async fn run_step(
    state: AppState,
    v: String,
    action: String,
    q: ProductQuery,
    who: Principal,
    req: RolloutStep,
) -> ApiResult<Json<RolloutStatus>> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let now = Utc::now();
    let plan = state.config.rollout.plan();
    let refused = |e: RolloutError| ApiError::Conflict(format!("release {}: {e}", release.version));
    let (prev, next, kind) = match action.as_str() {
        "start" => {
            if release.state != ReleaseState::Approved {
                return Err(ApiError::Conflict(format!(
                    "release {v} is {s}: a rollout starts from an approved release{hint}",
                    v = release.version,
                    s = release.state,
                    hint = if state
                        .db
                        .rollout(&product, &release.version)
                        .await?
                        .is_some()
                    {
                        format!(
                            "; its rollout exists: `relops rollout status {}`",
                            release.version
                        )
                    } else {
                        format!(" (`relops approve {}`)", release.version)
                    }
                )));
            }
            let salt = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            let rec = RolloutRecord {
                version: release.version.clone(),
                salt,
                rollout: Rollout::start(now),
                started_at: now,
                started_by: who.actor(),
                updated_at: now,
                reason: reason.clone(),
            };
            (None, rec, EventKind::Started)
        }
        "advance" | "pause" | "resume" | "halt" => {
            let cur = load_rollout(&state, &product, &release).await?;
            let r = &cur.rollout;
            let (next, kind) = match action.as_str() {
                "advance" => {
                    if req.force && reason.is_none() {
                        return Err(ApiError::BadRequest(
                            "--force needs --reason: say why the soak or the health gate is overridden (it is audited)"
                                .into(),
                        ));
                    }
                    let next = r.advance(&plan, now, req.force).map_err(refused)?;
                    if state.config.health.gate_rollout && !req.force {
                        state.telemetry_visible().await?;
                        // The soak is over: every install of the stage had its time to
                        // report, so an undecided test is truncated (Wald's rule).
                        let (f, _, _) =
                            state
                                .health
                                .assess(&product, &release.version.to_string(), now);
                        let verdict = state
                            .health
                            .rules()
                            .sprt
                            .truncated_verdict(f.crashed_installs, f.active_installs);
                        if verdict != Verdict::Passing {
                            return Err(ApiError::Conflict(format!(
                                "release {v}: the health gate is {verdict}: {rate}; {why} \
                                 (`relops health {v}`; override with --force --reason, audited)",
                                v = release.version,
                                verdict = verdict.as_str(),
                                rate = describe_rate(f.crashed_installs, f.active_installs),
                                why = match verdict {
                                    Verdict::Unknown => format!(
                                        "fewer than {} active installs have reported",
                                        state.config.health.min_installs
                                    ),
                                    Verdict::Undecided => {
                                        "the sequential test needs more installs to decide".into()
                                    }
                                    _ => "the crash rate is above the threshold".into(),
                                }
                            )));
                        }
                    }
                    (next, EventKind::Advanced)
                }
                "pause" => (r.pause().map_err(refused)?, EventKind::Paused),
                "resume" => (r.resume().map_err(refused)?, EventKind::Resumed),
                _ => {
                    if reason.is_none() {
                        return Err(ApiError::BadRequest(
                            "a halt needs --reason: it is sent to the release channel and the pager".into(),
                        ));
                    }
                    (r.halt().map_err(refused)?, EventKind::Halted)
                }
            };
            let rec = RolloutRecord {
                rollout: next,
                updated_at: now,
                reason: reason.clone().or_else(|| cur.reason.clone()),
                ..cur.clone()
            };
            (Some(cur), rec, kind)
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown rollout action `{other}`: start, advance, pause, resume or halt"
            )));
        }
    };
    let forced = kind == EventKind::Advanced
        && prev
            .as_ref()
            .is_some_and(|p| now < p.rollout.since + plan.soak(p.rollout.stage));
    let event = Event {
        kind,
        product: product.clone(),
        version: release.version.to_string(),
        stage: next.rollout.stage,
        percent: next.rollout.percent,
        actor: who.actor(),
        reason: reason.clone(),
        forced,
        next_step_allowed_at: next.rollout.next_step_allowed_at(&plan),
        at: now,
        rollback: None,
    };
    let audit = AuditRecord {
        actor: who.actor(),
        action: format!("rollout.{action}"),
        target: format!("{product}/{}", release.version),
        detail: json!({
            "from": prev.as_ref().map(|p| json!({"stage": p.rollout.stage, "state": p.rollout.state})),
            "to": {"stage": next.rollout.stage, "state": next.rollout.state},
            "percent": next.rollout.percent.as_f64(),
            "forced": forced, "reason": reason,
            "health": (kind == EventKind::Advanced).then(|| {
                let (f, _, v) = state.health.assess(&product, &release.version.to_string(), now);
                json!({"verdict": v.as_str(), "active_installs": f.active_installs,
                       "crashed_installs": f.crashed_installs, "overridden": req.force && v != Verdict::Passing})
            }),
        }),
        request_id: who.request_id.clone(),
    };
    let done = state
        .db
        .put_rollout(
            &product,
            &next,
            prev.as_ref(),
            release.state,
            &audit,
            &event.messages(&state.config.notify),
        )
        .await?;
    if !done {
        return Err(ApiError::Conflict(format!(
            "release {v} changed while trying to {action} its rollout; look again with `relops rollout status {v}`",
            v = release.version
        )));
    }
    state.outbox.notify_one();
    publish(&state, &product).await?;
    Ok(Json(status(&state, &product, &next)))
}

async fn publish(state: &AppState, product: &str) -> ApiResult<()> {
    state.feed.publish(&state.db, product).await.map_err(|e| {
        ApiError::Internal(e.context(format!(
            "the change is recorded, but publishing the feed failed; the server retries every {} s",
            state.config.feed.refresh_interval_seconds
        )))
    })?;
    Ok(())
}

/// `POST /v1/rollback`: withdraw every release above the target and send the installs
/// that run them back to it.
pub async fn rollback(
    State(state): State<AppState>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    Json(req): Json<RollbackRequest>,
) -> ApiResult<(StatusCode, Json<RollbackDone>)> {
    let product = state.product(q.product.as_deref())?;
    let done = do_rollback(&state, product, &who, req, None).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// A rollback decided in `incident` (which then records it as its decision, with
/// `evidence`), or in a new incident.
pub(crate) async fn do_rollback(
    state: &AppState,
    product: String,
    who: &Principal,
    req: RollbackRequest,
    incident: Option<(String, serde_json::Value)>,
) -> ApiResult<RollbackDone> {
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "--reason is required: it goes into the feed's rollback directive, the incident and the notifications".into(),
        ));
    }
    let severity = req.severity.clone().unwrap_or_else(|| "critical".into());
    if !["critical", "high", "low"].contains(&severity.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "severity `{severity}` is not one of critical, high, low"
        )));
    }
    let releases = state.db.list_releases(&product).await?;
    let rollouts = state.db.rollouts(&product).await?;
    let reached_full = |v: &Version| {
        rollouts.iter().any(|r| {
            &r.version == v
                && r.rollout.stage == Stage::P100
                && r.rollout.state != RolloutState::RolledBack
        })
    };
    let to = match &req.to {
        Some(v) => {
            let r = releases.iter().find(|r| &r.version == v).ok_or_else(|| {
                ApiError::NotFound(format!("release {v} of {product} does not exist"))
            })?;
            if !r.state.is_live() {
                return Err(ApiError::Conflict(format!(
                    "release {v} is {}: roll back only to a release that is in the feed and not itself withdrawn",
                    r.state
                )));
            }
            v.clone()
        }
        None => releases
            .iter()
            .filter(|r| r.state == ReleaseState::Released && reached_full(&r.version))
            .filter(|r| {
                // Something above it must be out there to withdraw.
                releases.iter().any(|o| {
                    o.version > r.version && o.state.is_live() && o.state != ReleaseState::Approved
                })
            })
            .map(|r| r.version.clone())
            .max()
            .ok_or_else(|| {
                ApiError::Conflict(
                    "no earlier release reached 100 % below a release in rollout: name one with --to VERSION".into(),
                )
            })?,
    };
    let withdrawn: Vec<(Version, ReleaseState)> = releases
        .iter()
        .filter(|r| r.version > to && r.state.is_live())
        .map(|r| (r.version.clone(), r.state))
        .collect();
    if withdrawn.is_empty() {
        return Err(ApiError::Conflict(format!(
            "no release above {to} is published: nothing to roll back"
        )));
    }
    let now = Utc::now();
    let postmortem_due = state
        .calendar
        .add_business_days(now.date_naive(), POSTMORTEM_BUSINESS_DAYS);
    let plan = RollbackPlan {
        to: to.clone(),
        withdrawn: withdrawn.clone(),
        reason: reason.clone(),
        severity: severity.clone(),
        next_fix: req.next_fix,
        postmortem_due,
        at: now,
        incident: incident.as_ref().map(|(id, _)| id.clone()),
        evidence: incident.map(|(_, e)| e),
    };
    let bad = withdrawn
        .iter()
        .map(|(v, _)| v.clone())
        .min()
        .expect("non-empty");
    let rollout_of_bad = rollouts.iter().find(|r| r.version == bad);
    let withdrawn_names: Vec<String> = withdrawn.iter().map(|(v, _)| v.to_string()).collect();
    let actor = who.actor();
    let incident = state
        .db
        .record_rollback(
            &product,
            &plan,
            &actor,
            |id| AuditRecord {
                actor: actor.clone(),
                action: "release.rollback".into(),
                target: format!("{product}/{bad}"),
                detail: json!({
                    "to": to.to_string(), "withdrawn": withdrawn_names, "reason": reason,
                    "severity": severity, "incident": id, "next_fix": req.next_fix,
                }),
                request_id: who.request_id.clone(),
            },
            |id| {
                Event {
                    kind: EventKind::RolledBack,
                    product: product.clone(),
                    version: bad.to_string(),
                    stage: rollout_of_bad.map_or(Stage::Pilot, |r| r.rollout.stage),
                    percent: rollout_of_bad
                        .map_or(relops_core::rollout::Percent::ZERO, |r| r.rollout.percent),
                    actor: actor.clone(),
                    reason: Some(reason.clone()),
                    forced: false,
                    next_step_allowed_at: None,
                    at: now,
                    rollback: Some(RollbackFacts {
                        to: to.to_string(),
                        withdrawn: withdrawn_names.clone(),
                        incident: id.to_owned(),
                        severity: severity.clone(),
                        next_fix: req.next_fix,
                        postmortem_due,
                    }),
                }
                .messages(&state.config.notify)
            },
        )
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(
                "a release changed state while rolling back; look again with `relops release list` and retry".into(),
            )
        })?;
    state.outbox.notify_one();
    publish(state, &product).await?;
    Ok(RollbackDone {
        product,
        to,
        withdrawn: withdrawn.into_iter().map(|(v, _)| v).collect(),
        incident,
        postmortem_due,
    })
}

#[derive(Debug, Deserialize)]
pub struct NotifyQuery {
    pub product: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /v1/notifications`
pub async fn notifications(
    State(state): State<AppState>,
    Query(q): Query<NotifyQuery>,
) -> ApiResult<Json<NotificationList>> {
    let product = state.product(q.product.as_deref())?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let list = state.db.notifications(&product, limit).await?;
    Ok(Json(NotificationList {
        notifications: list
            .into_iter()
            .map(|n| NotificationInfo {
                id: n.id,
                created_at: n.created_at,
                event: n.event,
                version: n.version,
                sink: n.sink,
                kind: n.kind,
                attempts: n.attempts,
                delivered_at: n.delivered_at,
                next_attempt_at: n.next_attempt_at,
                last_error: n.last_error,
            })
            .collect(),
    }))
}
