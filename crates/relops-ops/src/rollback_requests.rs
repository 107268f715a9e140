//! Two people decide a person's rollback (R-RB-2): on-call DevOps together with the
//! Product Owner. The first files the request — checked as it would run, told to the
//! release channel, nothing changed — and it waits (one per product, replaced by a newer
//! one) until someone else holding the other role confirms it within `[rollout]
//! rollback_confirm_minutes`, by `relops rollback --confirm` or by deciding the same
//! incident `rollback`. Then [`Ops::rollback_as`] runs it under both names. One person
//! holding both roles is still one person. The health engine's automatic rollback does not
//! come here.

use chrono::Utc;
use relops_api::{RollbackAnswer, RollbackPending, RollbackRequest};
use relops_core::access::{Permission, Role};
use relops_store::RollbackRequestRecord;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::notify::Notice;
use crate::{Actor, Authorized, Ops};

/// The role that completes a rollback filed by someone with `filed_roles`: the Product
/// Owner's for on-call DevOps, on-call DevOps' otherwise.
fn awaited_role(filed_roles: &[String]) -> Role {
    if filed_roles.iter().any(|r| r == Role::OncallDevops.as_str()) {
        Role::ProductOwner
    } else {
        Role::OncallDevops
    }
}

impl Ops {
    /// The rollback of `product` waiting for its second person, if any.
    pub async fn waiting_rollback(
        &self,
        actor: &crate::Actor,
        product: &str,
    ) -> OpResult<Option<RollbackPending>> {
        actor.authorize(relops_core::access::Permission::ReleaseRead)?;
        self.pending_rollback(product).await
    }

    /// The waiting rollback request of `product`, as the API shows it (none once expired).
    pub(crate) async fn pending_rollback(
        &self,
        product: &str,
    ) -> OpResult<Option<RollbackPending>> {
        let Some(r) = self.db.rollback_request(product).await? else {
            return Ok(None);
        };
        if r.expires_at <= Utc::now() {
            return Ok(None);
        }
        let req: RollbackRequest = serde_json::from_value(r.request.clone())
            .map_err(|e| OpError::Internal(anyhow::anyhow!("stored rollback request: {e}")))?;
        let crate::rollback::CheckedRollback { to, withdrawn, .. } =
            self.check_rollback(product, &req).await?;
        Ok(Some(RollbackPending {
            product: r.product,
            to,
            withdrawn: withdrawn.into_iter().map(|(v, _)| v).collect(),
            reason: req.reason,
            incident: r.incident,
            awaits: awaited_role(&r.requested_roles).as_str().to_owned(),
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
        }))
    }

    /// Files `req` as the first of the two people, or — when the product's request waits
    /// and this is the other person with the other role — takes it. `incident`: the
    /// incident it decides (its decision path confirms by deciding `rollback` again).
    pub(crate) async fn two_person_rollback(
        &self,
        actor: &Actor,
        who: &Authorized,
        product: &str,
        req: RollbackRequest,
        incident: Option<(String, serde_json::Value)>,
    ) -> OpResult<RollbackAnswer> {
        let roles: Vec<Role> = actor.roles().to_vec();
        let deciding =
            |r: &[Role]| r.contains(&Role::OncallDevops) || r.contains(&Role::ProductOwner);
        if !deciding(&roles) {
            return Err(OpError::Forbidden {
                permission: Some(Permission::Rollback),
                message: format!(
                    "a rollback is decided by on-call DevOps together with the Product Owner (R-RB-2); {} holds neither role — `relops rollout halt` stops the release at once",
                    crate::actor::person(&who.name)
                ),
            });
        }
        let now = Utc::now();
        let waiting = self
            .db
            .rollback_request(product)
            .await?
            .filter(|r| r.expires_at > now);
        let confirms = req.confirm
            || incident.as_ref().is_some_and(|(id, _)| {
                waiting
                    .as_ref()
                    .is_some_and(|w| w.incident.as_deref() == Some(id))
            });
        if confirms {
            let Some(w) = waiting else {
                return Err(OpError::Refused(format!(
                    "no rollback request of {product} awaits confirmation (one lapses after {} minutes): file one with `relops rollback --reason …`",
                    self.config.rollout.rollback_confirm_minutes
                )));
            };
            if crate::actor::person(&w.requested_by) == crate::actor::person(&who.name) {
                return Err(OpError::Refused(format!(
                    "{} filed this rollback: the second person must be someone else ({})",
                    crate::actor::person(&who.name),
                    awaited_role(&w.requested_roles).as_str()
                )));
            }
            let need = awaited_role(&w.requested_roles);
            if !roles.contains(&need) {
                return Err(OpError::Forbidden {
                    permission: Some(Permission::Rollback),
                    message: format!(
                        "this rollback was filed by {}; it needs confirming by someone with role {} (R-RB-2)",
                        w.requested_by,
                        need.as_str()
                    ),
                });
            }
            if !self
                .db
                .drop_rollback_request(product, w.requested_at)
                .await?
            {
                return Err(OpError::Conflict(
                    "the rollback request was taken or replaced meanwhile: look with `relops incident list`".into(),
                ));
            }
            let filed: RollbackRequest = serde_json::from_value(w.request)
                .map_err(|e| OpError::Internal(anyhow::anyhow!("stored rollback request: {e}")))?;
            let both = Authorized {
                name: format!("{} with {}", who.name, w.requested_by),
                request_id: who.request_id.clone(),
            };
            let incident = match (incident, w.incident) {
                (Some(i), _) => Some(i),
                (None, Some(id)) => Some((id, serde_json::json!({"confirmed_rollback": true}))),
                (None, None) => None,
            };
            let done = self.rollback_as(&both, product, filed, incident).await?;
            return Ok(RollbackAnswer {
                done: Some(done),
                awaiting_confirmation: None,
            });
        }
        // File it: checked now as it would run, so that a request the second person
        // confirms is one that can be taken.
        let crate::rollback::CheckedRollback {
            reason,
            to,
            withdrawn,
            ..
        } = self.check_rollback(product, &req).await?;
        let expires_at =
            now + chrono::Duration::minutes(self.config.rollout.rollback_confirm_minutes);
        let record = RollbackRequestRecord {
            product: product.to_owned(),
            request: serde_json::to_value(&req)
                .map_err(|e| OpError::Internal(anyhow::anyhow!("rollback request: {e}")))?,
            incident: incident.as_ref().map(|(id, _)| id.clone()),
            requested_by: who.name.clone(),
            requested_roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            requested_at: now,
            expires_at,
        };
        let awaits = awaited_role(&record.requested_roles);
        let withdrawn_names: Vec<String> = withdrawn.iter().map(|(v, _)| v.to_string()).collect();
        let audit = who.audit(
            "release.rollback_requested",
            format!("{product}/{}", withdrawn_names.join(",")),
            json!({"to": to.to_string(), "withdrawn": withdrawn_names, "reason": reason,
                   "incident": record.incident, "awaits": awaits.as_str(), "expires_at": expires_at}),
        );
        let notice = Notice {
            event: "release.rollback_requested".into(),
            product: product.to_owned(),
            version: withdrawn_names.first().cloned().unwrap_or_default(),
            text: format!(
                "{product}: ROLLBACK REQUESTED to {to} (withdrawing {}) by {}: {reason}. It needs a {} to confirm within {} minutes: `relops rollback --confirm`.",
                withdrawn_names.join(", "),
                who.name,
                awaits.as_str(),
                self.config.rollout.rollback_confirm_minutes
            ),
            // The release channel, where both deciders are; on-call is paged by the
            // halt before it and by the rollback itself.
            page: None,
            details: json!({"to": to.to_string(), "withdrawn": withdrawn_names, "awaits": awaits.as_str()}),
            at: now,
        };
        self.db
            .put_rollback_request(&record, &audit, &notice.messages(&self.config.notify))
            .await?;
        self.outbox.notify_one();
        Ok(RollbackAnswer {
            done: None,
            awaiting_confirmation: self.pending_rollback(product).await?,
        })
    }
}
