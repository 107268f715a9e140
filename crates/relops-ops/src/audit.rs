//! The audit trail: verification of the hash chain, export as JSON lines (the server side
//! of the playbook's `wizard_audit.log` channel), signed checkpoints and pruning.

use chrono::{DateTime, NaiveDate, Utc};
use relops_api::{AuditCheckpoint, AuditVerification};
use relops_core::access::Permission;
use relops_store::Checkpoint;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

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
    /// Recomputes the hash chain and checks the signed checkpoints.
    pub async fn verify_audit(&self, actor: &Actor) -> OpResult<AuditVerification> {
        actor.authorize(Permission::AuditRead)?;
        let v = self
            .db
            .audit_verify(|cp| self.audit_key.verifies(cp))
            .await?;
        Ok(AuditVerification {
            entries: v.entries,
            ok: v.ok,
            first_bad: v.first_bad,
        })
    }

    /// Audit entries since a time, as JSON lines.
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
        Ok(self
            .db
            .audit_checkpoint(|m| self.audit_key.sign(m))
            .await?
            .map(checkpoint))
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
        let audit = who.audit("audit.prune", "audit".into(), json!({ "before": before }));
        Ok(self
            .db
            .audit_prune(before, |m| self.audit_key.sign(m), &audit)
            .await?
            .map(checkpoint))
    }
}
