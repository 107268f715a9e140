//! Staged rollout and halt (R-REL-9, R-RB-3..6, R-AUTO-4; DESIGN decision 4).
//!
//! Each step: load the release and its rollout, let the pure state machine
//! ([`relops_core::rollout::Rollout`]) compute the next state, record rollout + release
//! state + audit entry + outbox messages in one transaction, then re-sign the feed so the
//! new state is what clients read. The feed is published before the step returns; if
//! publishing fails the change is still recorded and the background refresh publishes it.

use chrono::Utc;
use relops_api::{NotificationInfo, NotificationList, Release, RolloutStatus, RolloutStep};
use relops_core::access::Permission;
use relops_core::alert::describe_rate;
use relops_core::health::Verdict;
use relops_core::release::ReleaseState;
use relops_core::rollout::{Rollout, RolloutError};
use relops_core::version::Version;
use relops_store::RolloutRecord;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::notify::{Event, EventKind};
use crate::{Actor, Ops};

/// A step of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// The pilot: the internal channel and the pilot share of production.
    Start,
    /// The next stage, once the soak is over and the health gate passes (or forced).
    Advance,
    Pause,
    Resume,
    /// Freeze the percentage: installs already updated stay (needs a reason).
    Halt,
}

impl RolloutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Advance => "advance",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Halt => "halt",
        }
    }

    /// Halting is everyone's who may be woken up for it; moving a rollout is the release
    /// manager's.
    pub fn permission(self) -> Permission {
        match self {
            Self::Halt => Permission::RolloutHalt,
            _ => Permission::RolloutManage,
        }
    }
}

impl std::str::FromStr for RolloutAction {
    type Err = OpError;
    fn from_str(s: &str) -> OpResult<Self> {
        Ok(match s {
            "start" => Self::Start,
            "advance" => Self::Advance,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            "halt" => Self::Halt,
            other => {
                return Err(OpError::NotFound(format!(
                    "unknown rollout action `{other}`: start, advance, pause, resume or halt"
                )));
            }
        })
    }
}

impl Ops {
    fn rollout_status(&self, product: &str, rec: &RolloutRecord) -> RolloutStatus {
        let feed = self.config.feed.rollout_state(rec);
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
                .next_step_allowed_at(&self.config.rollout.plan()),
            release_state: rec.rollout.release_state(),
            started_at: rec.started_at,
            started_by: rec.started_by.clone(),
            reason: rec.reason.clone(),
            health: Some(self.gate_now(product, &rec.version.to_string())),
        }
    }

    async fn load_rollout(&self, product: &str, release: &Release) -> OpResult<RolloutRecord> {
        self.db
            .rollout(product, &release.version)
            .await?
            .ok_or_else(|| {
                OpError::NotFound(format!(
                    "release {v} has no rollout yet (it is {s}): start one with `relops rollout start {v}`",
                    v = release.version,
                    s = release.state
                ))
            })
    }

    /// Where a release's rollout stands.
    pub async fn rollout(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<RolloutStatus> {
        actor.authorize(Permission::ReleaseRead)?;
        let release = self.load_release(product, v).await?;
        let rec = self.load_rollout(product, &release).await?;
        self.note_soak(product, &v.to_string(), Utc::now()).await?;
        Ok(self.rollout_status(product, &rec))
    }

    /// The rollouts under way (active, paused or halted) of a product, read at once, as
    /// [`Ops::rollout`] shows each (the console's overview). Ended ones are not read: a
    /// product's history holds hundreds of them.
    pub async fn live_rollouts(
        &self,
        actor: &Actor,
        product: &str,
    ) -> OpResult<Vec<RolloutStatus>> {
        actor.authorize(Permission::ReleaseRead)?;
        let now = Utc::now();
        let plan = self.config.rollout.plan();
        let records = self.db.live_rollouts(product).await?;
        Ok(records
            .iter()
            .map(|rec| {
                if now >= rec.rollout.since + plan.soak(rec.rollout.stage) {
                    self.health
                        .mark_soaked(product, &rec.version.to_string(), now);
                }
                self.rollout_status(product, rec)
            })
            .collect())
    }

    /// Takes one step of a release's rollout, records it with its audit entry and
    /// notifications, and publishes the feed.
    pub async fn rollout_step(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        action: RolloutAction,
        req: RolloutStep,
    ) -> OpResult<RolloutStatus> {
        let who = actor.authorize(action.permission())?;
        let release = self.load_release(product, v).await?;
        let reason = crate::given("reason", req.reason.as_deref())?.map(str::to_owned);
        let now = Utc::now();
        let plan = self.config.rollout.plan();
        let refused =
            |e: RolloutError| OpError::Refused(format!("release {}: {e}", release.version));
        let (prev, next, kind) = match action {
            RolloutAction::Start => {
                if release.state != ReleaseState::Approved {
                    return Err(OpError::Refused(format!(
                        "release {v} is {s}: a rollout starts from an approved release{hint}",
                        v = release.version,
                        s = release.state,
                        hint = if self.db.rollout(product, &release.version).await?.is_some() {
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
                    started_by: who.name.clone(),
                    updated_at: now,
                    reason: reason.clone(),
                };
                (None, rec, EventKind::Started)
            }
            _ => {
                let cur = self.load_rollout(product, &release).await?;
                let r = &cur.rollout;
                let (next, kind) = match action {
                    RolloutAction::Advance => {
                        if req.force && reason.is_none() {
                            return Err(OpError::Invalid(
                                "--force needs --reason: say why the soak or the health gate is overridden (it is audited)"
                                    .into(),
                            ));
                        }
                        let next = r.advance(&plan, now, req.force).map_err(refused)?;
                        if self.config.health.gate_rollout && !req.force {
                            self.check_health_gate(product, &release.version, now)
                                .await?;
                        }
                        (next, EventKind::Advanced)
                    }
                    RolloutAction::Pause => (r.pause().map_err(refused)?, EventKind::Paused),
                    RolloutAction::Resume => (r.resume().map_err(refused)?, EventKind::Resumed),
                    _ => {
                        if reason.is_none() {
                            return Err(OpError::Invalid(
                                "a halt needs --reason: it is sent to the release channel and the pager".into(),
                            ));
                        }
                        (r.halt().map_err(refused)?, EventKind::Halted)
                    }
                };
                let rec = RolloutRecord {
                    rollout: next,
                    updated_at: now,
                    // A resume ends what the halt or pause said; other steps keep the
                    // standing reason unless they give one.
                    reason: if kind == EventKind::Resumed {
                        reason.clone()
                    } else {
                        reason.clone().or_else(|| cur.reason.clone())
                    },
                    ..cur.clone()
                };
                (Some(cur), rec, kind)
            }
        };
        let forced = kind == EventKind::Advanced
            && prev
                .as_ref()
                .is_some_and(|p| now < p.rollout.since + plan.soak(p.rollout.stage));
        let event = Event {
            kind,
            product: product.to_owned(),
            version: release.version.to_string(),
            stage: next.rollout.stage,
            percent: next.rollout.percent,
            actor: who.name.clone(),
            reason: reason.clone(),
            forced,
            next_step_allowed_at: next.rollout.next_step_allowed_at(&plan),
            at: now,
            rollback: None,
        };
        let health = (kind == EventKind::Advanced).then(|| {
            let (f, _, v) = self
                .health
                .assess(product, &release.version.to_string(), now);
            json!({"verdict": v.as_str(), "active_installs": f.active_installs,
                   "crashed_installs": f.crashed_installs, "overridden": req.force && v != Verdict::Passing})
        });
        let audit = who.audit(&format!("rollout.{}", action.as_str()),
            format!("{product}/{}", release.version),
            json!({
                "from": prev.as_ref().map(|p| json!({"stage": p.rollout.stage, "state": p.rollout.state})),
                "to": {"stage": next.rollout.stage, "state": next.rollout.state},
                "percent": next.rollout.percent.as_f64(),
                "forced": forced, "reason": reason,
                "health": health,
            }),
        );
        let done = self
            .db
            .put_rollout(
                product,
                &next,
                prev.as_ref(),
                release.state,
                &audit,
                &event.messages(&self.config.notify),
            )
            .await?;
        if !done {
            return Err(OpError::Conflict(format!(
                "release {v} changed while trying to {action} its rollout; look again with `relops rollout status {v}`",
                v = release.version,
                action = action.as_str()
            )));
        }
        self.outbox.notify_one();
        self.publish(product).await?;
        Ok(self.rollout_status(product, &next))
    }

    /// Refuses an advance unless the health gate passes. The soak is over: every install
    /// of the stage had its time to report, so an undecided test is truncated (Wald's
    /// rule).
    async fn check_health_gate(
        &self,
        product: &str,
        version: &Version,
        now: chrono::DateTime<Utc>,
    ) -> OpResult<()> {
        self.telemetry_visible().await?;
        // Only called once the stage has soaked: the engine truncates from now on (and
        // acts if that makes the release fail), and `relops health` shows this verdict.
        self.health.mark_soaked(product, &version.to_string(), now);
        let (f, _, verdict) = self.health.assess(product, &version.to_string(), now);
        if verdict == Verdict::Passing {
            return Ok(());
        }
        Err(OpError::Refused(format!(
            "release {version}: the health gate is {verdict}: {rate}; {why} \
             (`relops health {version}`; override with --force --reason, audited)",
            verdict = verdict.as_str(),
            rate = describe_rate(f.crashed_installs, f.active_installs),
            why = match verdict {
                Verdict::Unknown => format!(
                    "fewer than {} active installs have reported",
                    self.config.health.min_installs
                ),
                Verdict::Undecided => "the sequential test needs more installs to decide".into(),
                _ => "the crash rate is above the threshold".into(),
            }
        )))
    }

    /// Re-signs the product's feed after a change; the change is recorded already.
    pub(crate) async fn publish(&self, product: &str) -> OpResult<()> {
        self.feed.publish(&self.db, product).await.map_err(|e| {
            OpError::Internal(e.context(format!(
                "the change is recorded, but publishing the feed failed; the server retries every {} s",
                self.config.feed.refresh_interval_seconds
            )))
        })?;
        Ok(())
    }

    /// The notification outbox and its delivery state, newest first.
    pub async fn notifications(
        &self,
        actor: &Actor,
        product: &str,
        limit: Option<u32>,
    ) -> OpResult<NotificationList> {
        actor.authorize(Permission::ReleaseRead)?;
        let limit = limit.unwrap_or(50).clamp(1, 1000);
        let list = self.db.notifications(product, limit).await?;
        Ok(NotificationList {
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
            destinations: self
                .config
                .notify
                .webhooks
                .iter()
                .map(|w| format!("{} ({})", w.name, w.kind.as_str()))
                .collect(),
        })
    }
}
