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
use relops_core::artifact::ArtifactKind;
use relops_core::checklist::{GateState, Item, go_blockers, sign_refusal};
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, Version};
use relops_store::{Decision, Signoff};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Authorized, Ops};

/// Largest evidence file a sign-off takes.
const MAX_EVIDENCE_BYTES: usize = 16 * 1024 * 1024;

/// Everything the rules need about one release.
struct Facts {
    release: Release,
    gates: Vec<(String, bool)>,
    /// The tests gate's results include UI smoke.
    ui_smoke: bool,
    signoffs: Vec<Signoff>,
    decisions: Vec<relops_store::Decision>,
    /// The registered signing certificates (`relops certs add`).
    certificates: Vec<relops_store::CertificateRecord>,
}

impl Facts {
    async fn load(ops: &Ops, product: &str, v: &Version) -> OpResult<Facts> {
        let release = ops.load_release(product, v).await?;
        let records = ops.db.gates(product, &release.version).await?;
        let ui_smoke = records
            .iter()
            .any(|g| g.gate == "tests" && g.summary["ui_smoke"] == serde_json::Value::Bool(true));
        let gates = records.into_iter().map(|g| (g.gate, g.passed)).collect();
        let signoffs = ops.db.signoffs(product, &release.version).await?;
        let decisions = ops.db.decisions(product, &release.version).await?;
        let certificates = ops.db.certificates().await?;
        Ok(Facts {
            release,
            gates,
            ui_smoke,
            signoffs,
            decisions,
            certificates,
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
        // R-REL-6: platform signing evidence on what Apple and Windows would check.
        if ops.config.gates.require_signing_evidence {
            for a in &self.release.artifacts {
                let missing = match a.kind {
                    ArtifactKind::Dmg if a.notarization_id.is_none() => "notarization id",
                    ArtifactKind::Msi | ArtifactKind::Msix | ArtifactKind::Exe
                        if a.authenticode_signer.is_none() =>
                    {
                        "Authenticode signer"
                    }
                    _ => continue,
                };
                b.push(format!(
                    "{} has no {missing}: upload it again with --{} (after the freeze as a critical fix; platform signing evidence, R-REL-6)",
                    a.name,
                    if missing == "notarization id" {
                        "notarization-id"
                    } else {
                        "authenticode-signer"
                    }
                ));
            }
        }
        // Issue 33: an installer signed with a registered certificate that expires before
        // the go-live would fail SmartScreen on the day (matched by the signer subject the
        // upload recorded).
        for a in &self.release.artifacts {
            let Some(signer) = a.authenticode_signer.as_deref() else {
                continue;
            };
            let signer = signer.trim().to_lowercase();
            for c in &self.certificates {
                let subject = c.subject.to_lowercase();
                if c.kind == "windows-ev"
                    && !signer.is_empty()
                    && (subject == signer || subject.contains(&signer))
                    && c.not_after.date_naive() < self.release.go_live
                {
                    b.push(format!(
                        "{} is signed by {}, whose certificate expires {}, before the go-live {}: sign it with the renewed certificate (`relops certs add` it) and upload it again",
                        a.name,
                        c.subject,
                        c.not_after.format("%Y-%m-%d"),
                        self.release.go_live
                    ));
                }
            }
        }
        // R-REL-4: go comes after the feature freeze (at the freeze date relops freezes a
        // draft itself; `relops release freeze` does it earlier).
        if self.release.state == ReleaseState::Draft {
            b.push(format!(
                "the release is a draft: it is approved only after its feature freeze (due {}; `relops release freeze {}` freezes it now)",
                self.release.freeze_date, self.release.version
            ));
        }
        b
    }

    fn waived(&self) -> Vec<String> {
        self.decisions
            .iter()
            .rev()
            .find(|d| d.go && !d.pending)
            .map(|d| d.waived.clone())
            .unwrap_or_default()
    }

    /// The emergency go awaiting its second person, if the latest decision is one.
    fn pending_go(&self) -> Option<&relops_store::Decision> {
        self.decisions.last().filter(|d| d.pending)
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
                let mut b = self.blockers(ops, &[]);
                if let Some(p) = self.pending_go() {
                    b.insert(
                        0,
                        format!(
                            "an emergency go by {} (waiving {}) awaits a second person: `relops approve {} --confirm` (another product owner, or on-call)",
                            p.decided_by,
                            p.waived.join(", "),
                            self.release.version
                        ),
                    );
                }
                b
            },
            decisions: self
                .decisions
                .iter()
                .map(|d| GoDecision {
                    decision: match (d.go, d.pending) {
                        (true, true) => "go_pending",
                        (true, false) => "go",
                        (false, _) => "no_go",
                    }
                    .into(),
                    confirmed_by: d.confirmed_by.clone(),
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
    /// Support: the release needs no FAQ change (the support lead's explicit word, with a
    /// note saying why) instead of a published knowledge-base revision naming it.
    pub no_faq_change: bool,
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
        let faq = if item == Item::Support {
            if s.no_faq_change && s.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                return Err(OpError::Invalid(
                    "--no-faq-change needs a --note saying why this release changes nothing customers need to know".into(),
                ));
            }
            // Since the freeze (what the FAQ said before the release was fixed may not
            // hold); before the freeze, since the release was registered.
            let since = facts.release.frozen_at.unwrap_or(facts.release.created_at);
            s.no_faq_change
                || self
                    .faq_updated_for(product, &facts.release.version.to_string(), since)
                    .await?
        } else {
            true
        };
        if let Some(why) = sign_refusal(
            item,
            |g| facts.gate(g),
            facts.release.notes_sha256.is_some(),
            faq,
        ) {
            return Err(OpError::Refused(format!(
                "cannot sign {item} of {}: {why}",
                facts.release.version
            )));
        }
        if item == Item::Qa && self.config.gates.require_ui_smoke && !facts.ui_smoke {
            return Err(OpError::Refused(format!(
                "cannot sign qa of {v}: the tests gate holds no UI smoke results (R-REL-5): submit them with the other JUnit files, e.g. `relops gate tests {v} junit-unit.xml junit-ui-smoke.xml` (a suite or test class named *smoke* counts; `[gates] require_ui_smoke = false` turns this off)",
                v = facts.release.version
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
        let note = crate::given("note", s.note.as_deref())?.map(|n| {
            if s.no_faq_change {
                format!("no FAQ change: {n}")
            } else {
                n.to_owned()
            }
        });
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
                pending: false,
                confirmed_by: None,
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
        // A draft is refused below with every other blocker (the freeze is one of them);
        // a release past approval is refused here.
        if release.state != ReleaseState::Draft {
            release
                .state
                .approve()
                .map_err(|e| OpError::Refused(format!("release {}: {e}", release.version)))?;
        }
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
        if !waived.is_empty() {
            // Separation of duties: waivers take effect once a second person confirms.
            let d = Decision {
                go: true,
                decided_by: who.name.clone(),
                decided_at: now,
                reason: reason.clone(),
                waived: waived_names.clone(),
                blockers: Vec::new(),
                pending: true,
                confirmed_by: None,
            };
            let audit = who.audit(
                "release.emergency_go",
                format!("{product}/{}", release.version),
                json!({"waived": waived_names, "reason": reason, "awaits": "a second person: release.confirm_waiver"}),
            );
            self.db
                .record_decision(product, &release.version, release.state, &d, &audit)
                .await?;
            let facts = Facts::load(self, product, v).await?;
            return Ok(facts.render(self, product));
        }
        let decided_by = who.name.clone();
        self.approve(who, &facts, product, v, decided_by, Vec::new(), reason, now)
            .await
    }

    /// The second person's confirmation of an emergency go with waivers: another person
    /// than the one who asked, within a day of it, with the checklist still open only where
    /// it was waived. The release is then approved and published.
    pub async fn confirm_waiver(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<Checklist> {
        let who = actor.authorize(Permission::WaiverConfirm)?;
        let facts = Facts::load(self, product, v).await?;
        let Some(p) = facts.pending_go().cloned() else {
            return Err(OpError::Refused(format!(
                "no emergency go of {} awaits confirmation: the product owner asks first (`relops approve {} --waive ITEM --reason …`)",
                facts.release.version, facts.release.version
            )));
        };
        if crate::actor::person(&p.decided_by) == crate::actor::person(&who.name) {
            return Err(OpError::Refused(format!(
                "{} asked for this emergency go: a second person confirms it (another product owner, or on-call)",
                p.decided_by
            )));
        }
        let now = Utc::now();
        if now - p.decided_at > chrono::Duration::hours(24) {
            return Err(OpError::Refused(format!(
                "the emergency go {} asked for at {} is more than a day old: ask again",
                p.decided_by,
                p.decided_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        let waived: Vec<Item> = p
            .waived
            .iter()
            .map(|w| w.parse().map_err(OpError::Invalid))
            .collect::<OpResult<_>>()?;
        let blockers = facts.blockers(self, &waived);
        if !blockers.is_empty() {
            return Err(OpError::Refused(format!(
                "no go for {}: {} — `relops checklist show {}`",
                facts.release.version,
                blockers.join("; "),
                facts.release.version
            )));
        }
        self.approve(
            who,
            &facts,
            product,
            v,
            p.decided_by.clone(),
            p.waived.clone(),
            p.reason.clone(),
            now,
        )
        .await
    }

    /// Records a go decided by `decided_by` (moving the release to approved) and publishes
    /// the feed; `who` acts now — the deciding product owner, or the second person
    /// confirming an emergency go, who is then recorded as its confirmer.
    #[allow(clippy::too_many_arguments)]
    async fn approve(
        &self,
        who: Authorized,
        facts: &Facts,
        product: &str,
        v: &Version,
        decided_by: String,
        waived_names: Vec<String>,
        reason: Option<String>,
        now: chrono::DateTime<Utc>,
    ) -> OpResult<Checklist> {
        let confirmed_by = (decided_by != who.name).then(|| who.name.clone());
        let release = &facts.release;
        let to = release
            .state
            .approve()
            .map_err(|e| OpError::Refused(format!("release {}: {e}", release.version)))?;
        let mut detail =
            json!({"from": release.state, "to": to, "waived": waived_names, "reason": reason});
        if confirmed_by.is_some() {
            detail["requested_by"] = json!(decided_by);
        }
        let d = Decision {
            go: true,
            decided_by,
            decided_at: now,
            reason,
            waived: waived_names,
            blockers: Vec::new(),
            pending: false,
            confirmed_by,
        };
        let audit = who.audit(
            "release.approve",
            format!("{product}/{}", release.version),
            detail,
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
        // Its deltas from the releases before it (`workers::prepare_files`).
        self.delta_work.notify_one();
        let facts = Facts::load(self, product, v).await?;
        Ok(facts.render(self, product))
    }
}
