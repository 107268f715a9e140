//! Alerts: what happens when a rule fires (the playbook's table; `docs/health.md`), the
//! alert worker that acts on the health engine's changes, the maintenance loop, and the
//! operations people take on alerts (list, show, acknowledge, escalate).
//!
//! | rule | relops does |
//! |---|---|
//! | `crash_rate` (the SPRT accepts H1) | alert, page on-call, halt the rollout, open an incident whose rollback decision is pending |
//! | `critical_failure` (crash fingerprint rules, or support's escalation) | alert, page, roll back at once (the rollback opens the incident) |
//! | `error_code` (> N in 24 h) | alert to the release channel for QA analysis, a hotfix planning item |
//! | `memory` (hosts at ≥ 90 %) | alert to support, a known-issue draft with a workaround |
//!
//! The alert row, its audit entry and its notifications are one transaction; the halt and
//! the rollback that follow are the same operations a person takes, with
//! [`Actor::HealthEngine`] as the audited actor, and what they did is recorded on the
//! alert. The maintenance loop re-judges every release each minute (episodes end when
//! their window passes; a release whose rollout stage has soaked gets the truncated test),
//! drops installs that left the window, and reports overdue post-mortems once.

use chrono::Utc;
use relops_api::{
    Alert, AlertAck, AlertEvidence, AlertList, Escalation, FollowUp, IncidentOpened,
    RollbackRequest, RolloutStep,
};
use relops_core::access::Permission;
use relops_core::alert::{Condition, ESCALATION_KEY, RuleKind};
use relops_core::health::tracker::Figures;
use relops_core::rollout::RolloutState;
use relops_core::version::Version;
use relops_store::{AlertRecord, AuditRecord, IncidentReport, NewAlert, NewIncident};
use serde_json::json;
use tokio::sync::mpsc;

use crate::config::WebhookKind;
use crate::error::{OpError, OpResult};
use crate::health::window_figures;
use crate::rollback::POSTMORTEM_BUSINESS_DAYS;
use crate::rollout::RolloutAction;
use crate::services::health_engine::Change;
use crate::services::notify::Notice;
use crate::{Actor, Ops};

/// Longest one alert's actions may take before the worker moves on to the next change.
const ACTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A stored alert as the API shows it. Evidence, actions and follow-up are documents this
/// layer wrote; one that no longer reads (written by an older build) shows empty.
pub(crate) fn alert(r: AlertRecord) -> Alert {
    let evidence = serde_json::from_value(r.evidence).unwrap_or_else(|e| {
        tracing::warn!(id = %r.id, error = %e, "stored alert evidence is unreadable");
        AlertEvidence::default()
    });
    Alert {
        evidence,
        actions: serde_json::from_value(r.actions).unwrap_or_default(),
        follow_up: r.follow_up.and_then(|f| serde_json::from_value(f).ok()),
        id: r.id,
        product: r.product,
        release: r.release,
        rule: r.rule,
        key: r.rule_key,
        severity: r.severity,
        summary: r.summary,
        incident: r.incident,
        status: r.status,
        fired_at: r.fired_at,
        acked_at: r.acked_at,
        acked_by: r.acked_by,
        ack_note: r.ack_note,
        resolved_at: r.resolved_at,
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("API types serialise")
}

/// Handles the engine's changes until the server stops.
pub(crate) async fn act_on_changes(ops: Ops, mut rx: mpsc::UnboundedReceiver<Change>) {
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
                    ops.fire_alert(
                        &product,
                        &release,
                        &condition,
                        &figures,
                        &Actor::HealthEngine,
                    ),
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
            } => match ops
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

impl Ops {
    /// The knowledge base's draft known issue for an alert's follow-up, by the engine.
    async fn draft_known_issue(
        &self,
        product: &str,
        release: &str,
        alert: &str,
        rule: &str,
        f: &FollowUp,
    ) -> OpResult<()> {
        let who = crate::Authorized {
            name: crate::actor::ENGINE_NAME.into(),
            request_id: None,
        };
        let now = Utc::now();
        let body = format!(
            "{}\n\n*Drafted by relops from alert {alert}; support confirms the workaround before publishing.*",
            f.workaround.as_deref().unwrap_or("")
        );
        self.add_article(
            &who,
            product,
            relops_store::KbArticleRecord {
                id: String::new(),
                product: product.to_owned(),
                kind: "known_issue".into(),
                title: f.title.clone(),
                body,
                status: "draft".into(),
                release: Some(release.to_owned()),
                fingerprint: Some(rule.to_owned()),
                issue_status: Some("open".into()),
                revision: 1,
                created_at: now,
                updated_at: now,
                updated_by: who.name.clone(),
                published_at: None,
            },
        )
        .await
        .map(|_| ())
    }

    fn follow_up(
        &self,
        product: &str,
        release: &str,
        c: &Condition,
        f: &Figures,
    ) -> Option<FollowUp> {
        match c.rule {
            RuleKind::ErrorCode => Some(FollowUp {
                kind: "hotfix_planning".into(),
                owner: "qa_lead".into(),
                title: format!("Analyse {} in {product} {release} and plan a hotfix", c.key),
                status: None,
                events_24h: f
                    .errors
                    .iter()
                    .find(|(code, _)| *code == c.key)
                    .map(|(_, n)| *n),
                workaround: None,
            }),
            RuleKind::Memory => Some(FollowUp {
                kind: "known_issue_draft".into(),
                owner: "support_lead".into(),
                status: Some("draft".into()),
                title: format!(
                    "{product} {release}: high memory use (hosts at {} % or more)",
                    self.config.alerts.memory_host_percent
                ),
                events_24h: None,
                workaround: Some(
                    "Draft for support to confirm: save work, close other applications and \
                     large projects, then restart the app; report the host's memory size."
                        .into(),
                ),
            }),
            _ => None,
        }
    }

    /// Opens the alert for `c` and acts on it. `raiser`: the engine, or the person who
    /// escalated. Returns the alert's id, or `None` when this episode was open already.
    pub(crate) async fn fire_alert(
        &self,
        product: &str,
        release: &str,
        c: &Condition,
        f: &Figures,
        raiser: &Actor,
    ) -> OpResult<Option<String>> {
        let raised_by = match raiser {
            Actor::HealthEngine => raiser.authorize(Permission::ReleaseRead)?,
            Actor::Caller(_) => raiser.authorize(Permission::IncidentEscalate)?,
        };
        let now = Utc::now();
        let evidence = AlertEvidence {
            condition: c.summary.clone(),
            at_trigger: window_figures(f),
            health: Some(self.gate_now(product, release)),
        };
        let page = match c.rule {
            RuleKind::CrashRate => Some("error"),
            RuleKind::CriticalFailure => Some("critical"),
            _ => None,
        };
        let what = match c.rule {
            RuleKind::CrashRate => {
                "paging on-call and halting the rollout; rollback decision pending"
            }
            RuleKind::CriticalFailure => "paging on-call and rolling back now",
            RuleKind::ErrorCode => "QA analysis needed; hotfix planning item opened",
            RuleKind::Memory => {
                "support: a known-issue draft with a workaround is ready for review"
            }
        };
        let follow_up = self.follow_up(product, release, c, f);
        let alert = NewAlert {
            product: product.to_owned(),
            release: release.to_owned(),
            rule: c.rule.as_str().to_owned(),
            rule_key: c.key.clone(),
            severity: c.rule.severity().to_owned(),
            summary: c.summary.clone(),
            evidence: to_json(&evidence),
            follow_up: follow_up.as_ref().map(to_json),
            at: now,
        };
        let Some(opened) = self
            .db
            .open_alert(
                &alert,
                |id| {
                    raised_by.audit("alert.fired",
                        format!("{product}/{release}"),
                        json!({"alert": id, "rule": c.rule.as_str(), "key": c.key, "summary": c.summary}),
                    )
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
                                        "severity": c.rule.severity(), "evidence": alert.evidence,
                                        "follow_up": alert.follow_up}),
                        at: now,
                    }
                    .messages(&self.config.notify)
                },
            )
            .await?
        else {
            return Ok(None); // this episode is open already (another replica, or a restart)
        };
        self.outbox.notify_one();
        tracing::warn!(id = %opened.id, %product, %release, rule = c.rule.as_str(), summary = %c.summary, "alert fired");
        if let Some(f) = follow_up.as_ref().filter(|f| f.kind == "known_issue_draft") {
            // The draft lands in the knowledge base, for support to confirm and publish.
            let draft = self
                .draft_known_issue(product, release, &opened.id, c.rule.as_str(), f)
                .await;
            if let Err(e) = draft {
                tracing::error!(error = ?e, alert = %opened.id, "writing the known-issue draft failed");
            }
        }
        let mut actions: Vec<String> = self
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
            Ok(v) if self.db.versions(product).await?.contains(&v) => Some(v),
            _ => None,
        };
        let opened_with = IncidentOpened {
            alert: Some(opened.id.clone()),
            rule: Some(c.rule.as_str().to_owned()),
            evidence: Some(evidence.clone()),
            decision: Some("rollback decision pending".into()),
            rollback: None,
        };
        match (c.rule, known) {
            (RuleKind::CrashRate | RuleKind::CriticalFailure, None) => {
                actions
                    .push("release unknown to the registry: nothing to halt or roll back".into());
            }
            (RuleKind::CrashRate, Some(v)) => {
                if self.config.alerts.auto_halt {
                    actions.push(self.auto_halt(product, &v, &opened.id, &c.summary).await);
                }
                incident = Some(
                    self.open_incident(product, &v, "high", c, &opened_with)
                        .await?,
                );
            }
            (RuleKind::CriticalFailure, Some(v)) => {
                if self.config.alerts.auto_rollback {
                    let req = RollbackRequest {
                        to: None,
                        reason: format!("automatic, {}: {}", opened.id, c.summary),
                        severity: Some("critical".into()),
                        next_fix: None,
                        // A critical failure does not wait; stranded platforms are
                        // reported with the rollback.
                        force: true,
                        confirm: false,
                    };
                    let engine = Actor::HealthEngine.authorize(Permission::Rollback)?;
                    match self.rollback_as(&engine, product, req, None).await {
                        Ok(done) => {
                            let stranded: Vec<&str> =
                                done.stranded_platforms.iter().map(|p| p.as_str()).collect();
                            actions.push(format!(
                                "rolled back to {} (withdrew {}){}",
                                done.to,
                                done.withdrawn
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                if stranded.is_empty() {
                                    String::new()
                                } else {
                                    format!(
                                        "; {} has no artifact for {}: installs there stay on the withdrawn release",
                                        done.to,
                                        stranded.join(", ")
                                    )
                                }
                            ));
                            incident = Some(done.incident);
                        }
                        Err(e) => actions.push(format!("automatic rollback not possible: {e}")),
                    }
                }
                if incident.is_none() {
                    incident = Some(
                        self.open_incident(product, &v, "critical", c, &opened_with)
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
        self.db
            .set_alert_actions(&opened.id, &to_json(&actions), incident.as_deref())
            .await?;
        Ok(Some(opened.id))
    }

    /// Halts the release's rollout if it is moving, as the engine; says what happened.
    async fn auto_halt(&self, product: &str, v: &Version, alert: &str, summary: &str) -> String {
        match self.db.rollout(product, v).await {
            Ok(Some(r))
                if matches!(r.rollout.state, RolloutState::Active | RolloutState::Paused) => {}
            Ok(Some(r)) => {
                return format!("rollout is {}: nothing to halt", r.rollout.state.as_str());
            }
            Ok(None) => return "no rollout started: nothing to halt".into(),
            Err(e) => return format!("halt not possible: {e}"),
        }
        let step = RolloutStep {
            reason: Some(format!("automatic, {alert}: {summary}")),
            force: false,
        };
        match self
            .rollout_step(&Actor::HealthEngine, product, v, RolloutAction::Halt, step)
            .await
        {
            Ok(s) => format!("halted the rollout at {} % ({})", s.percent, s.stage),
            Err(e) => format!("halt not possible: {e}"),
        }
    }

    /// Opens the incident of an alert, its decision pending.
    async fn open_incident(
        &self,
        product: &str,
        v: &Version,
        severity: &str,
        c: &Condition,
        opened_with: &IncidentOpened,
    ) -> OpResult<String> {
        let engine = Actor::HealthEngine.authorize(Permission::ReleaseRead)?;
        let now = Utc::now();
        let due = self
            .calendar
            .add_business_days(now.date_naive(), POSTMORTEM_BUSINESS_DAYS);
        let alert = opened_with.alert.clone().unwrap_or_default();
        let i = NewIncident {
            product: product.to_owned(),
            version: v.to_string(),
            severity: severity.to_owned(),
            summary: format!(
                "{}: {}",
                c.summary,
                opened_with.decision.as_deref().unwrap_or_default()
            ),
            opened_by: engine.name.clone(),
            postmortem_due: due,
            detail: to_json(opened_with),
            at: now,
        };
        let id = self
            .db
            .open_incident(
                &i,
                |id| AuditRecord {
                    actor: engine.name.clone(),
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

    /// Open alerts (firing or acknowledged), newest first; `all` adds resolved ones.
    pub async fn alerts(
        &self,
        actor: &Actor,
        product: &str,
        all: bool,
        limit: Option<u32>,
    ) -> OpResult<AlertList> {
        actor.authorize(Permission::ReleaseRead)?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        // Let the health engine see what was answered so far (alerts then fire from the
        // alert worker); best effort — alerts must list even while the telemetry store
        // fails.
        let _ = self.telemetry_visible().await;
        let list = self.db.alerts(product, !all, limit).await?;
        Ok(AlertList {
            alerts: list.into_iter().map(alert).collect(),
        })
    }

    async fn load_alert(&self, id: &str) -> OpResult<AlertRecord> {
        match self.db.alert(id).await? {
            Some(a) if self.config.products.contains(&a.product) => Ok(a),
            _ => Err(OpError::NotFound(format!(
                "no alert `{id}`: `relops alert list --all` shows them"
            ))),
        }
    }

    /// One alert with its evidence and actions.
    pub async fn alert(&self, actor: &Actor, id: &str) -> OpResult<Alert> {
        actor.authorize(Permission::ReleaseRead)?;
        Ok(alert(self.load_alert(id).await?))
    }

    /// Someone has it; the episode goes on until its condition clears.
    pub async fn ack_alert(&self, actor: &Actor, id: &str, req: AlertAck) -> OpResult<Alert> {
        let who = actor.authorize(Permission::AlertAck)?;
        let a = self.load_alert(id).await?;
        if a.status != "firing" {
            return Err(OpError::Refused(format!(
                "{id} is {}{}: only a firing alert is acknowledged",
                a.status,
                a.acked_by
                    .as_deref()
                    .map(|b| format!(" (by {b})"))
                    .unwrap_or_default()
            )));
        }
        let note = crate::given("note", req.note.as_deref())?;
        let audit = who.audit(
            "alert.ack",
            format!("{}/{}", a.product, id),
            json!({"rule": a.rule, "release": a.release, "note": note}),
        );
        let done = self
            .db
            .ack_alert(id, &who.name, note, Utc::now(), &audit)
            .await?
            .ok_or_else(|| {
                OpError::Conflict(format!("{id} changed meanwhile: `relops alert show {id}`"))
            })?;
        Ok(alert(done))
    }

    /// Support escalates a confirmed critical failure (crash on start or on project open,
    /// data loss): it acts exactly as the critical-failure rule does (roll back at once,
    /// page, incident).
    pub async fn escalate(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        req: Escalation,
    ) -> OpResult<Alert> {
        actor.authorize(Permission::IncidentEscalate)?;
        let release = self.load_release(product, v).await?;
        let Some(reason) = crate::given("reason", Some(&req.reason))? else {
            return Err(OpError::Invalid(
                "--reason is required: what the customer lost or could not do (it goes to the pager and the incident)".into(),
            ));
        };
        let ticket = crate::given("ticket", req.ticket.as_deref())?;
        let condition = Condition::escalation(reason, ticket);
        let version = release.version.to_string();
        self.telemetry_visible().await?;
        let (figures, _, _) = self.health.assess(product, &version, Utc::now());
        let id = self
            .fire_alert(product, &version, &condition, &figures, actor)
            .await?;
        let Some(id) = id else {
            let open = self
                .db
                .alerts(product, true, 1000)
                .await?
                .into_iter()
                .find(|a| a.release == version && a.rule_key == ESCALATION_KEY)
                .map(|a| a.id)
                .unwrap_or_default();
            return Err(OpError::Conflict(format!(
                "an escalation of {version} is open already ({open}): `relops alert show {open}`"
            )));
        };
        let a = self.load_alert(&id).await?;
        // A relops ticket it came from is linked to the incident (both ways: the incident
        // lists the release's tickets).
        if let (Some(t), Some(inc)) = (ticket, &a.incident) {
            self.link_escalated_ticket(actor, t, inc).await?;
        }
        Ok(alert(a))
    }

    /// Links ticket `id` (if it is one of relops') to the incident its escalation opened.
    async fn link_escalated_ticket(&self, actor: &Actor, id: &str, incident: &str) -> OpResult<()> {
        let who = actor.authorize(Permission::IncidentEscalate)?;
        let Some(before) = self.db.ticket(&id.trim().to_ascii_uppercase()).await? else {
            return Ok(());
        };
        let mut t = before.clone();
        t.incident = Some(incident.to_owned());
        let detail = json!({"incident": incident, "escalated": "critical failure"});
        let event = relops_store::NewTicketEvent {
            kind: "link".into(),
            author: who.name.clone(),
            detail: detail.clone(),
            ..Default::default()
        };
        self.save_ticket(&who, &before, t, &[], &[event], ("ticket.linked", detail))
            .await?;
        Ok(())
    }

    /// Notifies once for each incident whose post-mortem is past its due date.
    pub async fn report_overdue_postmortems(&self) -> OpResult<usize> {
        let now = Utc::now();
        let mut n = 0;
        for i in self.db.overdue_unreported(now.date_naive()).await? {
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
            n += usize::from(
                self.report_incident_once(&i.id, IncidentReport::PostmortemOverdue, notice)
                    .await?,
            );
        }
        Ok(n)
    }

    /// Records a once-only report about an incident with its messages, and wakes the
    /// outbox; false when it had been reported already.
    pub(crate) async fn report_incident_once(
        &self,
        id: &str,
        what: IncidentReport,
        notice: Notice,
    ) -> OpResult<bool> {
        let sent = self
            .db
            .report_incident(id, what, notice.at, &notice.messages(&self.config.notify))
            .await?;
        if sent {
            self.outbox.notify_one();
        }
        Ok(sent)
    }

    /// Releases whose current rollout stage has soaked: every install of the stage had its
    /// time to report, so the crash-rate test is truncated if still undecided. A halted or
    /// rolled-back rollout keeps its stage, so its verdict does not flip back to
    /// "undecided" (and end the episode) when it stops moving.
    async fn soaked(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> OpResult<std::collections::HashSet<(String, String)>> {
        let plan = self.config.rollout.plan();
        let mut out = std::collections::HashSet::new();
        for product in &self.config.products {
            for r in self.db.rollouts(product).await? {
                if now >= r.rollout.since + plan.soak(r.rollout.stage) {
                    out.insert((product.clone(), r.version.to_string()));
                }
            }
        }
        Ok(out)
    }
}

/// Every `[alerts] maintenance_interval_seconds`: re-judge every release, freeze drafts whose
/// freeze date has come, drop installs that
/// left the window and prune the ingest's install marks and ended sessions (about hourly),
/// and report post-mortems that are overdue, hotfixes that were missed and what expires
/// soon (keys, certificates).
pub(crate) async fn maintain(ops: Ops) {
    let every = ops.config.alerts.maintenance_interval_seconds;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
    let mut last_prune = Utc::now();
    loop {
        tick.tick().await;
        let now = Utc::now();
        match ops.soaked(now).await {
            Ok(set) => ops.health.set_soaked(set),
            Err(e) => tracing::error!(error = ?e, "reading rollouts for the health gate failed"),
        }
        ops.health.judge_all(now);
        // Each replica's own health window and ingest marks (idempotent on a shared database).
        if now - last_prune > chrono::Duration::hours(1) {
            ops.health.prune(now);
            if let Err(e) = ops.db.prune_ingest(now).await {
                tracing::error!(error = ?e, "pruning old install marks and ended sessions failed");
            }
            last_prune = now;
        }
        // Deployment-wide deadlines, reminders and retention: on the leader only.
        if !ops.leads() {
            continue;
        }
        match ops.freeze_due(now.date_naive()).await {
            Ok(frozen) => {
                for (product, v) in frozen {
                    tracing::info!(%product, version = %v, "feature freeze date reached: release frozen");
                }
            }
            Err(e) => tracing::error!(error = ?e, "freezing releases at their freeze date failed"),
        }
        if let Err(e) = ops.report_overdue_postmortems().await {
            tracing::error!(error = ?e, "checking overdue post-mortems failed");
        }
        if let Err(e) = ops.report_missed_hotfixes().await {
            tracing::error!(error = ?e, "checking missed hotfixes failed");
        }
        if let Err(e) = ops.report_ticket_slas().await {
            tracing::error!(error = ?e, "checking support tickets' SLAs failed");
        }
        if let Err(e) = ops.apply_ticket_retention().await {
            tracing::error!(error = ?e, "erasing closed tickets past retention failed");
        }
        if let Err(e) = ops.report_expiries(now).await {
            tracing::error!(error = ?e, "checking what expires (keys, certificates) failed");
        }
        if let Err(e) = ops.open_due_reviews(now).await {
            tracing::error!(error = ?e, "opening due reviews failed");
        }
        if let Err(e) = ops.daily_retention(now).await {
            tracing::error!(error = ?e, "the daily retention run failed; the next day's retries");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::health::health_gate;
    use relops_api::{AlertEvidence, IncidentOpened, RollbackTaken};
    use relops_core::alert::Rules;
    use relops_core::health::Verdict;
    use relops_core::health::tracker::Figures;

    /// What an alert stored and what an incident stored read back as the API types, and a
    /// rollback-opened incident's detail (written by the store) reads as its rollback.
    #[test]
    fn stored_documents_read_back() {
        let f = Figures {
            active_installs: 500,
            crashed_installs: 25,
            ..Figures::default()
        };
        let evidence = AlertEvidence {
            condition: "crash rate 5 %".into(),
            at_trigger: super::window_figures(&f),
            health: Some(health_gate(
                &f,
                &[],
                Verdict::Failing,
                &Rules::default(),
                Rules::default().sprt.worst_case_installs(),
            )),
        };
        let stored = serde_json::to_value(&evidence).unwrap();
        assert_eq!(stored["health"]["gate"], "failing");
        assert_eq!(stored["at_trigger"]["crashed_installs"], 25);
        let back: AlertEvidence = serde_json::from_value(stored).unwrap();
        assert_eq!(back, evidence);

        let by_alert = IncidentOpened {
            alert: Some("ALR-1".into()),
            rule: Some("crash_rate".into()),
            evidence: Some(evidence),
            decision: Some("rollback decision pending".into()),
            rollback: None,
        };
        let v = serde_json::to_value(&by_alert).unwrap();
        assert!(v.get("action").is_none(), "{v}");
        assert_eq!(
            serde_json::from_value::<IncidentOpened>(v).unwrap(),
            by_alert
        );

        let by_rollback = serde_json::json!({
            "action": "rollback", "to": "2.0.3", "withdrawn": ["2.1.0"],
            "next_fix": null, "note": "crash on start", "evidence": null,
        });
        let read: IncidentOpened = serde_json::from_value(by_rollback).unwrap();
        assert_eq!(
            read.rollback,
            Some(RollbackTaken {
                action: "rollback".into(),
                to: "2.0.3".parse().unwrap(),
                withdrawn: vec!["2.1.0".parse().unwrap()],
                next_fix: None,
                note: Some("crash on start".into()),
            })
        );
        assert_eq!(read.alert, None);
    }
}
