//! Incidents (R-RB-2, R-RB-6): opened by a rollback or by an alert; decided once by on-call
//! DevOps or the Product Owner (`rollback` rolls back at once, `hotfix` within 24 h,
//! `next-patch`), with the evidence they were shown recorded; closed by a post-mortem due
//! 3 business days after opening — overdue ones are flagged here and reported by the
//! maintenance loop ([`Ops::report_overdue_postmortems`]).

use bytes::Bytes;
use chrono::Utc;
use relops_api::{
    DecisionEvidence, Incident, IncidentDecided, IncidentDecision, IncidentList, IncidentOpened,
    RollbackRequest,
};
use relops_core::access::Permission;
use relops_core::version::Version;
use relops_store::{IncidentDecisionRecord, IncidentRecord, ReleaseSummaryRecord};
use serde_json::json;

use crate::crash_analysis::EVIDENCE_GROUPS;
use crate::error::{OpError, OpResult};
use crate::services::notify::Notice;
use crate::{Actor, Ops};

/// Largest post-mortem accepted.
const MAX_POSTMORTEM_BYTES: usize = 1024 * 1024;

/// A stored incident as the API shows it; its documents are this layer's (see
/// [`crate::alerts`]), read leniently.
fn incident(r: IncidentRecord, releases: &[ReleaseSummaryRecord]) -> Incident {
    let now = Utc::now();
    let today = now.date_naive();
    let fixed_by = fixed_by(&r, releases);
    let hotfix_overdue = fixed_by.is_none() && hotfix_due(&r).is_some_and(|due| due < now);
    Incident {
        fixed_by,
        hotfix_overdue,
        rollback_request: None,
        support_tickets: Vec::new(),
        crash_groups: Vec::new(),
        overdue: r.postmortem.is_none() && r.postmortem_due < today,
        detail: serde_json::from_value(r.detail).unwrap_or_else(|e| {
            tracing::warn!(id = %r.id, error = %e, "stored incident detail is unreadable");
            IncidentOpened::default()
        }),
        decision: r.decision.and_then(|d| {
            serde_json::from_value(d)
                .inspect_err(|e| {
                    tracing::warn!(id = %r.id, error = %e, "stored incident decision is unreadable")
                })
                .ok()
        }),
        id: r.id,
        product: r.product,
        version: r.version,
        severity: r.severity,
        summary: r.summary,
        opened_at: r.opened_at,
        opened_by: r.opened_by,
        postmortem_due: r.postmortem_due,
        status: r.status,
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        postmortem: r.postmortem,
        postmortem_at: r.postmortem_at,
        postmortem_by: r.postmortem_by,
    }
}

/// The first release above the incident's that is out and not rolled back.
fn fixed_by(r: &IncidentRecord, releases: &[ReleaseSummaryRecord]) -> Option<Version> {
    releases
        .iter()
        .filter(|x| x.product == r.product && x.version > r.version && x.state.is_live())
        .map(|x| x.version.clone())
        .min()
}

/// When a `hotfix` decision's fix is due (none for other decisions).
fn hotfix_due(r: &IncidentRecord) -> Option<chrono::DateTime<Utc>> {
    let d: IncidentDecided = serde_json::from_value(r.decision.clone()?).ok()?;
    (d.action == "hotfix").then_some(d.hotfix_due).flatten()
}

impl Ops {
    /// An incident as the API shows it, with the release that fixes it.
    async fn incident_view(&self, r: IncidentRecord) -> OpResult<Incident> {
        let releases = self.db.list_releases(&r.product).await?;
        let pending = self
            .pending_rollback(&r.product)
            .await?
            .filter(|p| p.incident.as_deref() == Some(r.id.as_str()));
        let tickets = self
            .db
            .tickets_for_release(&r.product, &r.version.to_string())
            .await?;
        let mut i = incident(r, &releases);
        i.rollback_request = pending;
        i.support_tickets = tickets
            .into_iter()
            .map(|t| relops_api::TicketRef {
                id: t.id,
                priority: t.priority,
                status: t.status,
                opened_at: t.opened_at,
            })
            .collect();
        i.crash_groups = self
            .groups_of(&i.product, &i.version.to_string(), EVIDENCE_GROUPS)
            .await?
            .groups;
        Ok(i)
    }

    /// Incidents decided `hotfix` whose 24 h passed with no release out that fixes them:
    /// the release channel and on-call are told, once each (R-RB-1).
    pub async fn report_missed_hotfixes(&self) -> OpResult<usize> {
        let now = Utc::now();
        let mut n = 0;
        for r in self
            .db
            .hotfixes_unreported(now - chrono::Duration::hours(24))
            .await?
        {
            let releases = self.db.list_releases(&r.product).await?;
            let Some(due) = hotfix_due(&r) else { continue };
            if due >= now || fixed_by(&r, &releases).is_some() {
                continue;
            }
            let notice = Notice {
                event: "incident.hotfix_overdue".into(),
                product: r.product.clone(),
                version: r.version.to_string(),
                text: format!(
                    "{} {}: the hotfix decided in {} was due {} and no later release is out: approve the patch release, or decide again.",
                    r.product,
                    r.version,
                    r.id,
                    due.format("%Y-%m-%d %H:%M UTC")
                ),
                page: Some("error"),
                details: json!({"incident": r.id, "hotfix_due": due}),
                at: now,
            };
            n += usize::from(
                self.report_incident_once(
                    &r.id,
                    relops_store::IncidentReport::HotfixMissed,
                    notice,
                )
                .await?,
            );
        }
        Ok(n)
    }

    async fn load_incident(&self, id: &str) -> OpResult<IncidentRecord> {
        match self.db.incident(id).await? {
            Some(r) if self.config.products.contains(&r.product) => Ok(r),
            _ => Err(OpError::NotFound(format!(
                "no incident `{id}`: `relops incident list` shows them"
            ))),
        }
    }

    /// A product's incidents.
    pub async fn incidents(&self, actor: &Actor, product: &str) -> OpResult<IncidentList> {
        actor.authorize(Permission::ReleaseRead)?;
        let list = self.db.incidents(product).await?;
        let releases = self.db.list_releases(product).await?;
        Ok(IncidentList {
            incidents: list.into_iter().map(|r| incident(r, &releases)).collect(),
        })
    }

    /// One incident.
    pub async fn incident(&self, actor: &Actor, id: &str) -> OpResult<Incident> {
        actor.authorize(Permission::ReleaseRead)?;
        self.incident_view(self.load_incident(id).await?).await
    }

    /// Decides an open incident, once: roll back now (the rollback records itself as the
    /// decision), a hotfix within 24 h, or the next patch.
    pub async fn decide_incident(
        &self,
        actor: &Actor,
        id: &str,
        req: IncidentDecision,
    ) -> OpResult<Incident> {
        let who = actor.authorize(Permission::IncidentDecide)?;
        let r = self.load_incident(id).await?;
        if r.status != "open" {
            return Err(OpError::Refused(format!(
                "{id} is {}: it was decided{} — one decision per incident; open a new one by rolling back or halting again",
                r.status,
                match (&r.decided_by, r.decided_at) {
                    (Some(b), Some(t)) => format!(" by {b} at {}", t.format("%Y-%m-%d %H:%M UTC")),
                    _ => String::new(),
                }
            )));
        }
        let note = crate::given("note", req.note.as_deref())?.map(str::to_owned);
        // Best effort: a decision (often a rollback) must not wait on a failing telemetry
        // store; the evidence is then what the health engine has counted so far.
        let _ = self.telemetry_visible().await;
        let shown = DecisionEvidence {
            opened_with: incident(r.clone(), &[]).detail,
            health_now: self.gate_now(&r.product, &r.version.to_string()),
        };
        let now = Utc::now();
        let (severity, due) = match req.action.as_str() {
            "rollback" => {
                let reason = note
                    .clone()
                    .unwrap_or_else(|| format!("{id}: decided to roll back {}", r.version));
                let evidence = serde_json::to_value(&shown)
                    .map_err(|e| OpError::Internal(anyhow::anyhow!("decision evidence: {e}")))?;
                // Two people decide a rollback (R-RB-2): the first files it on the incident,
                // the other confirms by deciding `rollback` too.
                self.two_person_rollback(
                    actor,
                    &who,
                    &r.product,
                    RollbackRequest {
                        to: req.to.clone(),
                        reason,
                        severity: Some("critical".into()),
                        next_fix: None,
                        force: req.force,
                        confirm: false,
                    },
                    Some((id.to_owned(), evidence)),
                )
                .await?;
                return self.incident_view(self.load_incident(id).await?).await;
            }
            // The decision matrix: high -> hotfix within 24 h, low -> the next patch.
            "hotfix" => ("high", Some(now + chrono::Duration::hours(24))),
            "next-patch" => ("low", None),
            other => {
                return Err(OpError::Invalid(format!(
                    "unknown action `{other}`: rollback (roll back now), hotfix (fix within 24 h) or next-patch"
                )));
            }
        };
        if req.to.is_some() {
            return Err(OpError::Invalid(
                "--to only goes with --action rollback".into(),
            ));
        }
        let decision = IncidentDecided {
            action: req.action.clone(),
            note: note.clone(),
            to: None,
            withdrawn: Vec::new(),
            next_fix: None,
            hotfix_due: due,
            evidence: Some(shown),
        };
        let audit = who.audit(
            "incident.decide",
            format!("{}/{}", r.product, id),
            json!({"action": req.action, "note": note, "severity": severity}),
        );
        let text = format!(
            "{} {}: {id} decided: {}{}. (by {})",
            r.product,
            r.version,
            match req.action.as_str() {
                "hotfix" => "hotfix within 24 h".to_owned(),
                _ => "fix in the next patch".to_owned(),
            },
            note.as_deref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default(),
            who.name,
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
        let done = self
            .db
            .decide_incident(
                id,
                &IncidentDecisionRecord {
                    decision: serde_json::to_value(&decision).map_err(|e| {
                        OpError::Internal(anyhow::anyhow!("incident decision: {e}"))
                    })?,
                    severity: severity.to_owned(),
                    by: who.name.clone(),
                    at: now,
                },
                &audit,
                &notice.messages(&self.config.notify),
            )
            .await?
            .ok_or_else(|| {
                OpError::Conflict(format!(
                    "{id} was decided meanwhile: `relops incident show {id}`"
                ))
            })?;
        self.outbox.notify_one();
        self.incident_view(done).await
    }

    /// Files an incident's post-mortem (Markdown), which resolves it.
    pub async fn file_postmortem(
        &self,
        actor: &Actor,
        id: &str,
        body: Bytes,
    ) -> OpResult<Incident> {
        let who = actor.authorize(Permission::IncidentPostmortem)?;
        let r = self.load_incident(id).await?;
        if r.status == "open" {
            return Err(OpError::Refused(format!(
                "{id} is still awaiting its decision: `relops incident decide {id} --action rollback|hotfix|next-patch` first"
            )));
        }
        if body.len() > MAX_POSTMORTEM_BYTES {
            return Err(OpError::TooLarge(format!(
                "a post-mortem is at most {MAX_POSTMORTEM_BYTES} bytes"
            )));
        }
        let text = std::str::from_utf8(&body).map_err(|_| {
            OpError::Invalid("the post-mortem must be UTF-8 text (Markdown)".into())
        })?;
        if text.trim().is_empty() {
            return Err(OpError::Invalid("the post-mortem is empty".into()));
        }
        let now = Utc::now();
        let audit = who.audit(
            "incident.postmortem",
            format!("{}/{}", r.product, id),
            json!({
                "bytes": body.len(),
                "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)),
                "late": now.date_naive() > r.postmortem_due,
            }),
        );
        let done = self
            .db
            .file_postmortem(id, text, &who.name, now, &audit)
            .await?
            .ok_or_else(|| OpError::NotFound(format!("no incident `{id}`")))?;
        self.incident_view(done).await
    }
}
