//! The audit trail: verification of the hash chain, export as JSON lines (the server side
//! of the playbook's `wizard_audit.log` channel), signed checkpoints and pruning.

use chrono::{DateTime, NaiveDate, Utc};
use relops_api::{AuditCheckpoint, AuditVerification};
use relops_core::access::Permission;
use relops_store::Checkpoint;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// Anchors one request may bring.
const MAX_ANCHORS: usize = 1000;

fn stored(c: &AuditCheckpoint) -> Checkpoint {
    Checkpoint {
        seq: c.seq,
        hash: c.hash.clone(),
        at: c.at.clone(),
        key_id: c.key_id.clone(),
        signature: c.signature.clone(),
        pruned: c.pruned,
    }
}

fn checkpoint(c: Checkpoint) -> AuditCheckpoint {
    AuditCheckpoint {
        seq: c.seq,
        hash: c.hash,
        at: c.at,
        key_id: c.key_id,
        signature: c.signature,
        pruned: c.pruned,
    }
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> OpResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    s.parse::<NaiveDate>()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| {
            OpError::Invalid(format!(
                "since `{s}` is not a date: use YYYY-MM-DD or RFC 3339"
            ))
        })
}

impl Ops {
    /// Recomputes the hash chain, checks the signed checkpoints, and checks the chain
    /// against the anchor file and the anchors `kept` (what `relops audit anchor` printed).
    pub async fn verify_audit(
        &self,
        actor: &Actor,
        kept: &[AuditCheckpoint],
    ) -> OpResult<AuditVerification> {
        actor.authorize(Permission::AuditRead)?;
        if kept.len() > MAX_ANCHORS {
            return Err(OpError::TooLarge(format!(
                "{} anchors: at most {MAX_ANCHORS} per request (the newest pins every entry before it)",
                kept.len()
            )));
        }
        let file = self.anchor_file.read().map_err(OpError::Refused)?;
        let anchors: Vec<Checkpoint> = file.pinned.iter().chain(kept).map(stored).collect();
        let v = self
            .db
            .audit_verify(|cp| self.audit_key.verifies(cp), &anchors)
            .await?;
        Ok(AuditVerification {
            entries: v.entries,
            ok: v.ok,
            first_bad: v.first_bad,
            anchors_checked: anchors.len() as u64,
            anchored_through: anchors.iter().map(|a| a.seq).max(),
            anchor_file_lines: file.lines,
        })
    }

    /// Audit entries since a time, as JSON lines.
    /// The newest `limit` (at most 1,000) entries whose actor contains `actor` and whose
    /// action starts with `action`.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        by: &str,
        action: &str,
        limit: u32,
    ) -> OpResult<relops_api::AuditList> {
        actor.authorize(Permission::AuditRead)?;
        let entries = self
            .db
            .audit_recent(by.trim(), action.trim(), limit.clamp(1, 1000))
            .await?
            .into_iter()
            .map(|e| relops_api::AuditEntryInfo {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
                request_id: e.request_id,
            })
            .collect();
        Ok(relops_api::AuditList { entries })
    }

    pub async fn export_audit(&self, actor: &Actor, since: Option<&str>) -> OpResult<String> {
        actor.authorize(Permission::AuditRead)?;
        let since = since.map(parse_since).transpose()?;
        let mut body = String::new();
        for e in self.db.audit_export(since).await? {
            body.push_str(&serde_json::to_string(&e).map_err(|e| OpError::Internal(e.into()))?);
            body.push('\n');
        }
        Ok(body)
    }

    /// Signs the chain head now (none when the chain is empty).
    pub async fn audit_checkpoint(&self, actor: &Actor) -> OpResult<Option<AuditCheckpoint>> {
        actor.authorize(Permission::AuditManage)?;
        self.sign_audit_checkpoint().await
    }

    /// The periodic checkpoint (the workers' and the operation's).
    pub(crate) async fn sign_audit_checkpoint(&self) -> OpResult<Option<AuditCheckpoint>> {
        let cp = self
            .db
            .audit_checkpoint(|m| self.audit_key.sign(m))
            .await?
            .map(checkpoint);
        if let Some(cp) = &cp {
            self.anchor(cp)?;
        }
        Ok(cp)
    }

    /// Appends a checkpoint to the anchor file.
    fn anchor(&self, cp: &AuditCheckpoint) -> OpResult<()> {
        self.anchor_file.append(cp).map_err(|e| {
            OpError::Unavailable(format!(
                "the checkpoint of entry {} is signed and stored, but appending it to the anchor file {} failed: {e}; check the file's disk and permissions",
                cp.seq,
                self.config.audit.anchor_file.display()
            ))
        })
    }

    /// Deletes entries before `before` (default: now − `[audit] retention_days`), keeping a
    /// signed checkpoint so verification still holds.
    pub async fn prune_audit(
        &self,
        actor: &Actor,
        before: Option<&str>,
    ) -> OpResult<Option<AuditCheckpoint>> {
        let who = actor.authorize(Permission::AuditManage)?;
        let days = self.config.audit.retention_days;
        let latest = Utc::now() - chrono::Duration::days(days);
        let before = match before {
            Some(s) => parse_since(s)?,
            None => latest,
        };
        if before > latest {
            return Err(OpError::Refused(format!(
                "entries younger than [audit] retention_days ({days} days) are kept: prune before {} at the latest",
                latest.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        self.prune_audit_before(&who, before).await
    }

    /// Prunes entries before `before` under `who` (checked by the caller), behind a signed
    /// checkpoint that is also anchored outside the database.
    pub(crate) async fn prune_audit_before(
        &self,
        who: &crate::Authorized,
        before: DateTime<Utc>,
    ) -> OpResult<Option<AuditCheckpoint>> {
        let audit = who.audit("audit.prune", "audit".into(), json!({ "before": before }));
        let cp = self
            .db
            .audit_prune(before, |m| self.audit_key.sign(m), &audit)
            .await?
            .map(checkpoint);
        if let Some(cp) = &cp {
            self.anchor(cp)?;
        }
        Ok(cp)
    }
}
