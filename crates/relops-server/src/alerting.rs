//! What happens when a rule fires (the playbook's table; `docs/health.md`):
//!
//! | rule | relops does |
//! |---|---|
//! | `crash_rate` (the SPRT accepts H1) | alert, page on-call, halt the rollout, open an incident whose rollback decision is pending |
//! | `critical_failure` (crash fingerprint rules) | alert, page, roll back at once (the rollback opens the incident) |
//! | `error_code` (> N in 24 h) | alert to the release channel for QA analysis, a hotfix planning item |
//! | `memory` (hosts at ≥ 90 %) | alert to support, a known-issue draft with a workaround |
//!
//! The alert row, its audit entry and its notifications are one transaction; the actions
//! that follow go through the same code as a person's halt or rollback (with the engine as
//! the audited actor), and what they did is recorded on the alert. The maintenance loop
//! re-judges every release each minute (episodes end when their window passes; a release
//! whose rollout stage has soaked gets the truncated test), drops installs that left the
//! window, and reports overdue post-mortems once.

use chrono::Utc;
use relops_api::{RollbackRequest, RolloutStep};
use relops_core::alert::{Condition, RuleKind};
use relops_core::health::tracker::Figures;
use relops_core::rollout::RolloutState;
use relops_core::version::Version;
use relops_store::{AuditRecord, NewAlert, NewIncident};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::Principal;
use crate::config::WebhookKind;
use crate::health_engine::Change;
use crate::notify::Notice;
use crate::routes::ProductQuery;

/// Longest one alert's actions may take before the worker moves on to the next change.
const ACTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The principal automatic actions are taken as (and audited under).
pub fn engine_principal() -> Principal {
    Principal {
        id: "system".into(),
        name: "relops health engine".into(),
        roles: Vec::new(),
        request_id: None,
        acting_as: Vec::new(),
    }
}

/// Handles the engine's changes until the server stops.
pub async fn run(state: AppState, mut rx: mpsc::UnboundedReceiver<Change>) {
    while let Some(change) = rx.recv().await {
        match change {
            Change::Fire {
                product,
                release,
                condition,
                figures,
            } => {
                tracing::warn!(%product, %release, rule = condition.rule.as_str(), "alert condition holds");
                let acted = tokio::time::timeout(
                    ACTION_TIMEOUT,
                    fire(&state, &product, &release, &condition, &figures, None),
                )
                .await;
                match acted {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = ?e, %product, %release, rule = condition.rule.as_str(), "acting on an alert failed");
                    }
                    Err(_) => {
                        tracing::error!(%product, %release, rule = condition.rule.as_str(), "acting on an alert took longer than {} s; the next changes go on", ACTION_TIMEOUT.as_secs());
                    }
                }
            }
            Change::End {
                product,
                release,
                rule,
                key,
            } => match state
                .db
                .resolve_alert(&product, &release, rule.as_str(), &key, Utc::now())
                .await
            {
                Ok(Some(id)) => tracing::info!(%id, %product, %release, "alert resolved"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = ?e, "resolving an alert failed"),
            },
        }
    }
}

fn follow_up(
    state: &AppState,
    product: &str,
    release: &str,
    c: &Condition,
    f: &Figures,
) -> Option<Value> {
    match c.rule {
        RuleKind::ErrorCode => Some(json!({
            "kind": "hotfix_planning",
            "owner": "qa_lead",
            "title": format!("Analyse {} in {product} {release} and plan a hotfix", c.key),
            "events_24h": f.errors.iter().find(|(code, _)| *code == c.key).map(|(_, n)| n),
        })),
        RuleKind::Memory => Some(json!({
            "kind": "known_issue_draft",
            "owner": "support_lead",
            "status": "draft",
            "title": format!(
                "{product} {release}: high memory use (hosts at {} % or more)",
                state.config.alerts.memory_host_percent
            ),
            "workaround": "Draft for support to confirm: save work, close other applications and \
                           large projects, then restart the app; report the host's memory size.",
        })),
        _ => None,
    }
}

/// Opens the alert for `c` and acts on it. `by`: the person who raised it (a support
/// escalation), else the engine. Returns the alert's id, or `None` when this episode was
/// open already.
pub(crate) async fn fire(
    state: &AppState,
    product: &str,
    release: &str,
    c: &Condition,
    f: &Figures,
    by: Option<&Principal>,
) -> anyhow::Result<Option<String>> {
    let now = Utc::now();
    let (fresh, slices, verdict) = state.health.assess(product, release, now);
    let evidence = json!({
        "condition": c.summary,
        "at_trigger": crate::routes::ingest::figures_json(f),
        "health": crate::routes::ingest::health_json(&fresh, &slices, verdict, state.health.rules()),
    });
    let page = match c.rule {
        RuleKind::CrashRate => Some("error"),
        RuleKind::CriticalFailure => Some("critical"),
        _ => None,
    };
    let what = match c.rule {
        RuleKind::CrashRate => "paging on-call and halting the rollout; rollback decision pending",
        RuleKind::CriticalFailure => "paging on-call and rolling back now",
        RuleKind::ErrorCode => "QA analysis needed; hotfix planning item opened",
        RuleKind::Memory => "support: a known-issue draft with a workaround is ready for review",
    };
    let engine = engine_principal();
    let raiser = by.map_or_else(|| engine.actor(), Principal::actor);
    let alert = NewAlert {
        product: product.to_owned(),
        release: release.to_owned(),
        rule: c.rule.as_str().to_owned(),
        rule_key: c.key.clone(),
        severity: c.rule.severity().to_owned(),
        summary: c.summary.clone(),
        evidence: evidence.clone(),
        follow_up: follow_up(state, product, release, c, f),
        at: now,
    };
    let Some(opened) = state
        .db
        .open_alert(
            &alert,
            |id| AuditRecord {
                actor: raiser.clone(),
                action: "alert.fired".into(),
                target: format!("{product}/{release}"),
                detail: json!({"alert": id, "rule": c.rule.as_str(), "key": c.key, "summary": c.summary}),
                request_id: by.and_then(|p| p.request_id.clone()),
            },
            |id| {
                Notice {
                    event: format!("alert.{}", c.rule.as_str()),
                    product: product.to_owned(),
                    version: release.to_owned(),
                    text: format!(
                        "{product} {release}: ALERT {id} ({}, {}): {}. {what}.",
                        c.rule.as_str(),
                        c.rule.severity(),
                        c.summary
                    ),
                    page,
                    details: json!({"alert": id, "rule": c.rule.as_str(), "key": c.key,
                                    "severity": c.rule.severity(), "evidence": evidence,
                                    "follow_up": alert.follow_up}),
                    at: now,
                }
                .messages(&state.config.notify)
            },
        )
        .await?
    else {
        return Ok(None); // this episode is open already (another replica, or a restart)
    };
    state.outbox.notify_one();
    tracing::warn!(id = %opened.id, %product, %release, rule = c.rule.as_str(), summary = %c.summary, "alert fired");
    let mut actions: Vec<String> = state
        .config
        .notify
        .webhooks
        .iter()
        .filter(|w| page.is_some() || w.kind != WebhookKind::Pagerduty)
        .map(|w| match w.kind {
            WebhookKind::Pagerduty => format!("paged {}", w.name),
            _ => format!("notified {}", w.name),
        })
        .collect();
    let mut incident = None;
    let known: Option<Version> = match release.parse::<Version>() {
        Ok(v) if state.db.versions(product).await?.contains(&v) => Some(v),
        _ => None,
    };
    match (c.rule, known) {
        (RuleKind::CrashRate | RuleKind::CriticalFailure, None) => {
            actions.push("release unknown to the registry: nothing to halt or roll back".into());
        }
        (RuleKind::CrashRate, Some(v)) => {
            if state.config.alerts.auto_halt {
                actions.push(halt(state, product, &v, &opened.id, &c.summary).await);
            }
            incident = Some(
                open_incident(
                    state,
                    product,
                    &v,
                    "high",
                    &opened.id,
                    c,
                    &evidence,
                    "rollback decision pending",
                )
                .await?,
            );
        }
        (RuleKind::CriticalFailure, Some(v)) => {
            if state.config.alerts.auto_rollback {
                let req = RollbackRequest {
                    to: None,
                    reason: format!("automatic, {}: {}", opened.id, c.summary),
                    severity: Some("critical".into()),
                    next_fix: None,
                };
                match crate::routes::rollouts::do_rollback(
                    state,
                    product.to_owned(),
                    &engine,
                    req,
                    None,
                )
                .await
                {
                    Ok(done) => {
                        actions.push(format!(
                            "rolled back to {} (withdrew {})",
                            done.to,
                            done.withdrawn
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        incident = Some(done.incident);
                    }
                    Err(e) => actions.push(format!("automatic rollback not possible: {e}")),
                }
            }
            if incident.is_none() {
                incident = Some(
                    open_incident(
                        state,
                        product,
                        &v,
                        "critical",
                        &opened.id,
                        c,
                        &evidence,
                        "rollback decision pending",
                    )
                    .await?,
                );
            }
        }
        (RuleKind::ErrorCode, _) => actions.push("hotfix planning item for QA".into()),
        (RuleKind::Memory, _) => actions.push("known-issue draft for support".into()),
    }
    if let Some(i) = &incident {
        actions.push(format!("incident {i}"));
    }
    state
        .db
        .set_alert_actions(&opened.id, &json!(actions), incident.as_deref())
        .await?;
    Ok(Some(opened.id))
}

/// Halts the release's rollout if it is moving; says what happened.
async fn halt(state: &AppState, product: &str, v: &Version, alert: &str, summary: &str) -> String {
    match state.db.rollout(product, v).await {
        Ok(Some(r)) if matches!(r.rollout.state, RolloutState::Active | RolloutState::Paused) => {}
        Ok(Some(r)) => return format!("rollout is {}: nothing to halt", r.rollout.state.as_str()),
        Ok(None) => return "no rollout started: nothing to halt".into(),
        Err(e) => return format!("halt not possible: {e}"),
    }
    let step = RolloutStep {
        reason: Some(format!("automatic, {alert}: {summary}")),
        force: false,
    };
    match crate::routes::rollouts::run_step(
        state.clone(),
        v.to_string(),
        "halt".into(),
        ProductQuery {
            product: Some(product.to_owned()),
        },
        engine_principal(),
        step,
    )
    .await
    {
        Ok(s) => format!("halted the rollout at {} % ({})", s.percent, s.stage),
        Err(e) => format!("halt not possible: {e}"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn open_incident(
    state: &AppState,
    product: &str,
    v: &Version,
    severity: &str,
    alert: &str,
    c: &Condition,
    evidence: &Value,
    pending: &str,
) -> anyhow::Result<String> {
    let now = Utc::now();
    let due = state.calendar.add_business_days(
        now.date_naive(),
        crate::routes::rollouts::POSTMORTEM_BUSINESS_DAYS,
    );
    let engine = engine_principal();
    let i = NewIncident {
        product: product.to_owned(),
        version: v.to_string(),
        severity: severity.to_owned(),
        summary: format!("{}: {pending}", c.summary),
        opened_by: engine.actor(),
        postmortem_due: due,
        detail: json!({"alert": alert, "rule": c.rule.as_str(), "evidence": evidence,
                       "decision": pending}),
        at: now,
    };
    let id = state
        .db
        .open_incident(
            &i,
            |id| AuditRecord {
                actor: engine.actor(),
                action: "incident.open".into(),
                target: format!("{product}/{v}"),
                detail: json!({"incident": id, "alert": alert, "severity": severity}),
                request_id: None,
            },
            |_| Vec::new(), // the alert's own messages said it (and paged)
        )
        .await?;
    Ok(id)
}

/// Every `[alerts] maintenance_interval_seconds`: re-judge every release, drop installs that
/// left the window and prune the ingest's install marks and ended sessions (about hourly),
/// and report post-mortems that are overdue.
pub async fn maintain(state: AppState) {
    let every = state.config.alerts.maintenance_interval_seconds;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
    let mut last_prune = Utc::now();
    loop {
        tick.tick().await;
        let now = Utc::now();
        match soaked(&state, now).await {
            Ok(set) => state.health.set_soaked(set),
            Err(e) => tracing::error!(error = ?e, "reading rollouts for the health gate failed"),
        }
        state.health.judge_all(now);
        if now - last_prune > chrono::Duration::hours(1) {
            state.health.prune(now);
            if let Err(e) = state.db.prune_ingest(now).await {
                tracing::error!(error = ?e, "pruning old install marks and ended sessions failed");
            }
            last_prune = now;
        }
        if let Err(e) = report_overdue(&state).await {
            tracing::error!(error = ?e, "checking overdue post-mortems failed");
        }
    }
}

/// Releases whose current rollout stage has soaked: every install of the stage had its
/// time to report, so the crash-rate test is truncated if still undecided. A halted or
/// rolled-back rollout keeps its stage, so its verdict does not flip back to "undecided"
/// (and end the episode) when it stops moving.
async fn soaked(
    state: &AppState,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<std::collections::HashSet<(String, String)>> {
    let plan = state.config.rollout.plan();
    let mut out = std::collections::HashSet::new();
    for product in &state.config.products {
        for r in state.db.rollouts(product).await? {
            if now >= r.rollout.since + plan.soak(r.rollout.stage) {
                out.insert((product.clone(), r.version.to_string()));
            }
        }
    }
    Ok(out)
}

/// Notifies once for each incident whose post-mortem is past its due date.
pub async fn report_overdue(state: &AppState) -> anyhow::Result<usize> {
    let now = Utc::now();
    let mut n = 0;
    for i in state.db.overdue_unreported(now.date_naive()).await? {
        let notice = Notice {
            event: "incident.postmortem_overdue".into(),
            product: i.product.clone(),
            version: i.version.to_string(),
            text: format!(
                "{} {}: the post-mortem of {} was due {} and is overdue: `relops incident postmortem {} FILE`.",
                i.product, i.version, i.id, i.postmortem_due, i.id
            ),
            page: None,
            details: json!({"incident": i.id, "postmortem_due": i.postmortem_due}),
            at: now,
        };
        if state
            .db
            .report_overdue(&i.id, now, &notice.messages(&state.config.notify))
            .await?
        {
            n += 1;
        }
    }
    if n > 0 {
        state.outbox.notify_one();
    }
    Ok(n)
}
