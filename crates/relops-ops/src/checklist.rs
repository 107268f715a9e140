//! The readiness checklist and the go/no-go decision (R-REL-8, playbook §1.3).
//!
//! The checklist renders the five items with their status, owner, feeding gates, evidence
//! and sign-off. An item is signed only by its owner role, only once the gates that feed it
//! passed (with an optional evidence file and note). The decision is go only when every
//! item is signed and every gate passed, a no-go with its reason, or the emergency go of a
//! patch release with items waived. Rules: [`relops_core::checklist`].

use bytes::Bytes;
use chrono::Utc;
use relops_api::{ApproveRequest, Checklist, ChecklistItem, Evidence, GoDecision, Release};
use relops_core::access::Permission;
use relops_core::checklist::{GateState, Item, go_blockers, sign_refusal};
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, Version};
use relops_store::{Decision, Signoff};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// Largest evidence file a sign-off takes.
const MAX_EVIDENCE_BYTES: usize = 16 * 1024 * 1024;

/// Everything the rules need about one release.
struct Facts {
    release: Release,
    gates: Vec<(String, bool)>,
    signoffs: Vec<Signoff>,
    decisions: Vec<relops_store::Decision>,
}

impl Facts {
    async fn load(ops: &Ops, product: &str, v: &Version) -> OpResult<Facts> {
        let release = ops.load_release(product, v).await?;
        let gates = ops
            .db
            .gates(product, &release.version)
            .await?
            .into_iter()
            .map(|g| (g.gate, g.passed))
            .collect();
        let signoffs = ops.db.signoffs(product, &release.version).await?;
        let decisions = ops.db.decisions(product, &release.version).await?;
        Ok(Facts {
            release,
            gates,
            signoffs,
            decisions,
        })
    }

    fn gate(&self, g: &str) -> GateState {
        match self.gates.iter().find(|(n, _)| n == g) {
            Some((_, true)) => GateState::Passed,
            Some((_, false)) => GateState::Failed,
            None => GateState::Missing,
        }
    }

    fn signed(&self, item: Item) -> Option<&Signoff> {
        self.signoffs.iter().find(|s| s.item == item.as_str())
    }

    fn blockers(&self, ops: &Ops, waived: &[Item]) -> Vec<String> {
        let required: Vec<&str> = ops
            .config
            .gates
            .required
            .iter()
            .map(String::as_str)
            .collect();
        let recorded: Vec<&str> = self.gates.iter().map(|(g, _)| g.as_str()).collect();
        let mut b = go_blockers(
            |i| self.signed(i).is_some(),
            waived,
            &required,
            |g| self.gate(g),
            &recorded,
        );
        if self.release.artifacts.is_empty() {
            b.insert(
                0,
                "no artifacts: upload at least one (`relops artifact upload`)".into(),
            );
        }
        b
    }

    fn waived(&self) -> Vec<String> {
        self.decisions
            .iter()
            .rev()
            .find(|d| d.go)
            .map(|d| d.waived.clone())
            .unwrap_or_default()
    }

    fn render(&self, ops: &Ops, product: &str) -> Checklist {
        let waived = self.waived();
        let approved = !matches!(
            self.release.state,
            ReleaseState::Draft | ReleaseState::Frozen | ReleaseState::Candidate
        );
        let items = Item::ALL
            .into_iter()
            .map(|item| {
                let s = self.signed(item);
                let is_waived = waived.iter().any(|w| w == item.as_str());
                let status = match item {
                    Item::Management if approved => "done",
                    _ if s.is_some() => "done",
                    _ if is_waived => "waived",
                    _ => "open",
                };
                let (signed_by, signed_at) = match (item, s) {
                    (Item::Management, _) => {
                        (self.release.approved_by.clone(), self.release.approved_at)
                    }
                    (_, Some(s)) => (Some(s.signed_by.clone()), Some(s.signed_at)),
                    _ => (None, None),
                };
                ChecklistItem {
                    item: item.as_str().into(),
                    title: item.title().into(),
                    owner: item.owner(),
                    status: status.into(),
                    gates: item
                        .gates()
                        .iter()
                        .map(|g| {
                            let st = match self.gate(g) {
                                GateState::Passed => "passed",
                                GateState::Failed => "failed",
                                GateState::Missing => "missing",
                            };
                            ((*g).to_owned(), st.to_owned())
                        })
                        .collect(),
                    signed_by,
                    signed_at,
                    note: s.and_then(|s| s.note.clone()),
                    evidence: s.and_then(|s| s.evidence.as_ref()).map(|e| Evidence {
                        name: e["name"].as_str().unwrap_or_default().into(),
                        sha256: e["sha256"].as_str().unwrap_or_default().into(),
                        size: e["size"].as_u64().unwrap_or(0),
                    }),
                }
            })
            .collect();
        Checklist {
            product: product.to_owned(),
            version: self.release.version.clone(),
            state: self.release.state,
            items,
            blockers: if approved {
                Vec::new()
            } else {
                self.blockers(ops, &[])
            },
            decisions: self
                .decisions
                .iter()
                .map(|d| GoDecision {
                    decision: if d.go { "go" } else { "no_go" }.into(),
                    decided_by: d.decided_by.clone(),
                    decided_at: d.decided_at,
                    reason: d.reason.clone(),
                    waived: d.waived.clone(),
                    blockers: d.blockers.clone(),
                })
                .collect(),
        }
    }
}

/// A sign-off's optional attachments.
#[derive(Debug, Clone, Default)]
pub struct SignOff {
    pub note: Option<String>,
    /// The evidence file and its name (empty: none).
    pub evidence: Bytes,
    pub evidence_name: Option<String>,
}

impl Ops {
    /// The checklist of a release.
    pub async fn checklist(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<Checklist> {
        actor.authorize(Permission::ReleaseRead)?;
        let facts = Facts::load(self, product, v).await?;
        Ok(facts.render(self, product))
    }

    /// Signs a checklist item as its owner role.
    pub async fn sign_checklist(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        item: Item,
        s: SignOff,
    ) -> OpResult<Checklist> {
        let who = actor.authorize(Permission::ChecklistSign)?;
        let facts = Facts::load(self, product, v).await?;
        if !actor.roles().contains(&item.owner()) {
            return Err(OpError::Forbidden {
                permission: None,
                message: format!(
                    "checklist item {item} is signed by the {} role; you have {}",
                    item.owner(),
                    actor
                        .roles()
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if !matches!(
            facts.release.state,
            ReleaseState::Draft | ReleaseState::Frozen | ReleaseState::Candidate
        ) {
            return Err(OpError::Refused(format!(
                "release {} is {}: the checklist closed with the go decision",
                facts.release.version, facts.release.state
            )));
        }
        if let Some(why) = sign_refusal(
            item,
            |g| facts.gate(g),
            facts.release.notes_sha256.is_some(),
        ) {
            return Err(OpError::Refused(format!(
                "cannot sign {item} of {}: {why}",
                facts.release.version
            )));
        }
        let body = s.evidence;
        if body.len() > MAX_EVIDENCE_BYTES {
            return Err(OpError::TooLarge(format!(
                "evidence is {} bytes; at most {MAX_EVIDENCE_BYTES} are accepted",
                body.len()
            )));
        }
        let evidence = if body.is_empty() {
            None
        } else {
            let sha = hex::encode(Sha256::digest(&body));
            let key = format!("evidence/{sha}");
            self.blobs.put_raw(&key, body.clone()).await?;
            Some(json!({
                "name": match s.evidence_name.as_deref() {
                    Some(n) => relops_core::text::line("evidence_name", n, 255).map_err(crate::invalid)?,
                    None => "evidence",
                },
                "sha256": sha, "size": body.len(), "blob_key": key,
            }))
        };
        let note = crate::given("note", s.note.as_deref())?.map(str::to_owned);
        let signoff = Signoff {
            item: item.as_str().into(),
            signed_by: who.name.clone(),
            role: item.owner().as_str().into(),
            signed_at: Utc::now(),
            note: note.clone(),
            evidence: evidence.clone(),
        };
        let audit = who.audit(
            "checklist.sign",
            format!("{product}/{}/{item}", facts.release.version),
            json!({"role": item.owner(), "note": note, "evidence": evidence}),
        );
        self.db
            .put_signoff(product, &facts.release.version, &signoff, &audit)
            .await?;
        let facts = Facts::load(self, product, v).await?;
        Ok(facts.render(self, product))
    }

    /// The go/no-go decision: go, no-go, or the emergency go with waivers.
    pub async fn decide_go(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        req: ApproveRequest,
    ) -> OpResult<Checklist> {
        let who = actor.authorize(Permission::ReleaseApprove)?;
        let facts = Facts::load(self, product, v).await?;
        let release = &facts.release;
        let reason = crate::given("reason", req.reason.as_deref())?.map(str::to_owned);
        let now = Utc::now();
        if req.no_go {
            if reason.is_none() || !req.waive.is_empty() {
                return Err(OpError::Invalid(
                    "a no-go needs --reason (and takes no --waive)".into(),
                ));
            }
            let d = Decision {
                go: false,
                decided_by: who.name.clone(),
                decided_at: now,
                reason: reason.clone(),
                waived: Vec::new(),
                blockers: facts.blockers(self, &[]),
            };
            let audit = who.audit(
                "release.no_go",
                format!("{product}/{}", release.version),
                json!({"reason": reason, "open": d.blockers}),
            );
            self.db
                .record_decision(product, &release.version, release.state, &d, &audit)
                .await?;
            let facts = Facts::load(self, product, v).await?;
            return Ok(facts.render(self, product));
        }
        let to = release
            .state
            .approve()
            .map_err(|e| OpError::Refused(format!("release {}: {e}", release.version)))?;
        debug_assert_eq!(to, ReleaseState::Approved);
        let mut waived = Vec::new();
        for w in &req.waive {
            let item: Item = w.parse().map_err(OpError::Invalid)?;
            if item == Item::Management {
                return Err(OpError::Invalid(
                    "management cannot be waived: it is this decision".into(),
                ));
            }
            waived.push(item);
        }
        if !waived.is_empty() {
            if reason.is_none() {
                return Err(OpError::Invalid(
                    "--waive needs --reason: say why the hotfix cannot wait (it is audited and shown on the checklist)".into(),
                ));
            }
            if release.kind != ReleaseKind::Patch {
                return Err(OpError::Refused(format!(
                    "release {} is a {} release: waivers are the emergency path for critical hotfixes (patch releases) only",
                    release.version, release.kind
                )));
            }
        }
        let blockers = facts.blockers(self, &waived);
        if !blockers.is_empty() {
            return Err(OpError::Refused(format!(
                "no go for {}: {} — `relops checklist show {}`",
                release.version,
                blockers.join("; "),
                release.version
            )));
        }
        let waived_names: Vec<String> = waived.iter().map(|i| i.as_str().to_owned()).collect();
        let d = Decision {
            go: true,
            decided_by: who.name.clone(),
            decided_at: now,
            reason: reason.clone(),
            waived: waived_names.clone(),
            blockers: Vec::new(),
        };
        let audit = who.audit(
            "release.approve",
            format!("{product}/{}", release.version),
            json!({"from": release.state, "to": to, "waived": waived_names, "reason": reason}),
        );
        let done = self
            .db
            .record_decision(product, &release.version, release.state, &d, &audit)
            .await?;
        if !done {
            return Err(OpError::Conflict(format!(
                "release {} changed state while approving it; look again with `relops release show {}`",
                release.version, release.version
            )));
        }
        self.feed.publish(&self.db, product).await.map_err(|e| {
            OpError::Internal(e.context(format!(
                "release {} is approved, but publishing the feed failed; the server retries every {} s",
                release.version, self.config.feed.refresh_interval_seconds
            )))
        })?;
        let facts = Facts::load(self, product, v).await?;
        Ok(facts.render(self, product))
    }
}
