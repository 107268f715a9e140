//! Rollback (R-RB-3..6): withdraw every release above the target and send the installs
//! that run them back to it, by a signed directive in the feed — no re-signing of
//! artifacts (R-RB-4). The rollback, the withdrawn releases' states, the directive, the
//! incident, the audit entry and the notifications are one transaction. A person's
//! rollback first needs its second person ([`crate::rollback_requests`]).

use chrono::Utc;
use relops_api::{RollbackAnswer, RollbackDone, RollbackRequest};
use relops_core::access::Permission;
use relops_core::data_schema::DataSchema;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::rollout::{RolloutState, Stage};
use relops_core::version::Version;
use relops_store::{AuditRecord, RollbackPlan};
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::notify::{Event, EventKind, RollbackFacts};
use crate::{Actor, Authorized, Ops};

/// Business days after an incident by which its post-mortem is due (R-RB-6).
pub const POSTMORTEM_BUSINESS_DAYS: u32 = 3;

impl Ops {
    /// Rolls back to `req.to` (default: the newest release that reached 100 % below one
    /// that is out), opening an incident.
    ///
    /// A person's rollback needs two people (R-RB-2): on-call DevOps and the Product Owner.
    /// The first files it (answered `awaiting_confirmation`), the other confirms it with
    /// `confirm` within `[rollout] rollback_confirm_minutes`; the health engine's automatic
    /// rollback on a critical failure goes ahead at once.
    pub async fn rollback(
        &self,
        actor: &Actor,
        product: &str,
        req: RollbackRequest,
    ) -> OpResult<RollbackAnswer> {
        let who = actor.authorize(Permission::Rollback)?;
        if matches!(actor, Actor::HealthEngine) {
            return Ok(RollbackAnswer {
                done: Some(self.rollback_as(&who, product, req, None).await?),
                awaiting_confirmation: None,
            });
        }
        self.two_person_rollback(actor, &who, product, req, None)
            .await
    }

    /// A rollback decided in `incident` (which then records it as its decision, with
    /// `evidence`), or in a new incident.
    /// `who`: the authority it is taken under — a rollback, or an incident's decision.
    pub(crate) async fn rollback_as(
        &self,
        who: &Authorized,
        product: &str,
        req: RollbackRequest,
        incident: Option<(String, serde_json::Value)>,
    ) -> OpResult<RollbackDone> {
        // `unreadable` is only non-empty when `force` accepted it: the override goes into
        // the audit entry.
        let CheckedRollback {
            reason,
            severity,
            to,
            withdrawn,
            stranded,
            unreadable,
        } = self.check_rollback(product, &req).await?;
        let rollouts = self.db.rollouts(product).await?;
        let now = Utc::now();
        let postmortem_due = self
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
        let actor = who.name.clone();
        let incident = self
        .db
        .record_rollback(
            product,
            &plan,
            &actor,
            |id| AuditRecord {
                actor: actor.clone(),
                action: "release.rollback".into(),
                target: format!("{product}/{bad}"),
                detail: json!({
                    "to": to.to_string(), "withdrawn": withdrawn_names, "reason": reason,
                    "severity": severity, "incident": id, "next_fix": req.next_fix,
                    "stranded_platforms": stranded,
                    "unreadable_data_accepted": unreadable,
                }),
                request_id: who.request_id.clone(),
            },
            |id| {
                Event {
                    kind: EventKind::RolledBack,
                    product: product.to_owned(),
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
                .messages(&self.config.notify)
            },
        )
        .await?
        .ok_or_else(|| {
            OpError::Conflict(
                "a release changed state while rolling back; look again with `relops release list` and retry".into(),
            )
        })?;
        self.outbox.notify_one();
        self.publish(product).await?;
        Ok(RollbackDone {
            product: product.to_owned(),
            to,
            withdrawn: withdrawn.into_iter().map(|(v, _)| v).collect(),
            incident,
            postmortem_due,
            stranded_platforms: stranded,
        })
    }

    /// Everything a rollback checks before it runs: the reason, the severity, the target
    /// (named, or the newest release that reached 100 % below one that is out), what it
    /// withdraws, and what `force` must accept: data the target cannot read, platforms it
    /// would strand.
    pub(crate) async fn check_rollback(
        &self,
        product: &str,
        req: &RollbackRequest,
    ) -> OpResult<CheckedRollback> {
        let Some(reason) = crate::given("reason", Some(&req.reason))?.map(str::to_owned) else {
            return Err(OpError::Invalid(
                "--reason is required: it goes into the feed's rollback directive, the incident and the notifications".into(),
            ));
        };
        let severity = req.severity.clone().unwrap_or_else(|| "critical".into());
        if !["critical", "high", "low"].contains(&severity.as_str()) {
            return Err(OpError::Invalid(format!(
                "severity `{severity}` is not one of critical, high, low"
            )));
        }
        let releases = self.db.list_releases(product).await?;
        let rollouts = self.db.rollouts(product).await?;
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
                OpError::NotFound(format!("release {v} of {product} does not exist"))
            })?;
            if !r.state.is_live() {
                return Err(OpError::Refused(format!(
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
                OpError::Refused(
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
            return Err(OpError::Refused(format!(
                "no release above {to} is published: nothing to roll back"
            )));
        }
        let unreadable = self.unreadable_data(product, &to, &withdrawn).await?;
        if !unreadable.is_empty() && !req.force {
            return Err(OpError::Refused(format!(
                "rolling back to {to} would leave data it cannot read: {}. Users' project files would not open after the rollback. \
                 Roll back to a release whose schema the down-migrations reach (--to), or pass --force with --reason to accept it (audited)",
                unreadable.join("; ")
            )));
        }
        let stranded = self.stranded_platforms(product, &to, &withdrawn).await?;
        if !stranded.is_empty() && !req.force {
            let names: Vec<&str> = stranded.iter().map(|p| p.as_str()).collect();
            return Err(OpError::Refused(format!(
                "{to} has no artifact for {}, which {} ha{}: installs there would stay on the withdrawn release with nothing offered. \
                 Roll back to a release that has one (--to), upload one to {to} first, or pass --force to accept it",
                names.join(", "),
                withdrawn
                    .iter()
                    .map(|(v, _)| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if withdrawn.len() == 1 { "s" } else { "ve" },
            )));
        }
        Ok(CheckedRollback {
            reason,
            severity,
            to,
            withdrawn,
            stranded,
            unreadable,
        })
    }

    /// The withdrawn releases whose data `to` cannot read (R-RB-7), each in words: its
    /// schema, how far back its down-migrations reach, and what `to` reads.
    pub(crate) async fn unreadable_data(
        &self,
        product: &str,
        to: &Version,
        withdrawn: &[(Version, ReleaseState)],
    ) -> OpResult<Vec<String>> {
        let target = self.load_release(product, to).await?.data_schema;
        let mut out = Vec::new();
        for (v, _) in withdrawn {
            let from = self.load_release(product, v).await?.data_schema;
            if let (Some(false), Some(f), Some(t)) =
                (DataSchema::can_go_back_to(from, target), from, target)
            {
                out.push(format!(
                    "{v} writes data schema {} and migrates it down to {} at the oldest, {to} reads schema {}",
                    f.schema, f.downgrades_to, t.schema
                ));
            }
        }
        Ok(out)
    }

    /// Platforms some withdrawn release has an artifact for and `to` has none.
    async fn stranded_platforms(
        &self,
        product: &str,
        to: &Version,
        withdrawn: &[(Version, ReleaseState)],
    ) -> OpResult<Vec<relops_core::platform::Platform>> {
        let target = self.load_release(product, to).await?;
        let mut out = Vec::new();
        for (v, _) in withdrawn {
            for a in self.load_release(product, v).await?.artifacts {
                if !target.artifacts.iter().any(|t| t.platform == a.platform)
                    && !out.contains(&a.platform)
                {
                    out.push(a.platform);
                }
            }
        }
        out.sort_by_key(|p| p.as_str());
        Ok(out)
    }
}

/// What [`Ops::check_rollback`] found: the rollback as it would run.
pub(crate) struct CheckedRollback {
    pub reason: String,
    pub severity: String,
    pub to: Version,
    /// The releases it withdraws, with the state each is in.
    pub withdrawn: Vec<(Version, ReleaseState)>,
    /// Platforms the target has no artifact for (accepted with `force`).
    pub stranded: Vec<Platform>,
    /// Withdrawn releases whose data the target cannot read, in words (accepted with
    /// `force`).
    pub unreadable: Vec<String>,
}
