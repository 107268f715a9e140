//! Readiness checklist sign-offs and go/no-go decisions, each written with its audit entry
//! in one transaction.

use chrono::{DateTime, Utc};
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, parse, ts};

/// A checklist item's sign-off.
#[derive(Debug, Clone, PartialEq)]
pub struct Signoff {
    pub item: String,
    pub signed_by: String,
    /// The role the signer held for this item.
    pub role: String,
    pub signed_at: DateTime<Utc>,
    pub note: Option<String>,
    /// `{name, sha256, size, blob_key}` of an evidence file.
    pub evidence: Option<serde_json::Value>,
}

/// A go or no-go decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub go: bool,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub waived: Vec<String>,
    /// What was open when it was decided.
    pub blockers: Vec<String>,
    /// An emergency go (with waivers) awaiting its second person: it moves nothing yet.
    pub pending: bool,
    /// The second person who confirmed an emergency go.
    pub confirmed_by: Option<String>,
}

impl Decision {
    fn kind(&self) -> &'static str {
        match (self.go, self.pending) {
            (true, true) => "go_pending",
            (true, false) => "go",
            (false, _) => "no_go",
        }
    }
}

fn json_col<T: serde::de::DeserializeOwned>(r: &sqlx::any::AnyRow, col: &str) -> Result<T> {
    let s: String = r.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| DbError::Corrupt(format!("{col}: {e}")))
}

impl Db {
    /// Replaces the sign-off of an item.
    pub async fn put_signoff(
        &self,
        product: &str,
        version: &Version,
        s: &Signoff,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM checklist_signoffs WHERE product = $1 AND version = $2 AND item = $3",
        )
        .bind(product)
        .bind(version.to_string())
        .bind(&s.item)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO checklist_signoffs (product, version, item, signed_by, role, signed_at, \
             note, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(product)
        .bind(version.to_string())
        .bind(&s.item)
        .bind(&s.signed_by)
        .bind(&s.role)
        .bind(ts(s.signed_at))
        .bind(s.note.as_deref())
        .bind(s.evidence.as_ref().map(|e| e.to_string()))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn signoffs(&self, product: &str, version: &Version) -> Result<Vec<Signoff>> {
        let rows = sqlx::query(
            "SELECT item, signed_by, role, signed_at, note, evidence FROM checklist_signoffs \
             WHERE product = $1 AND version = $2 ORDER BY item",
        )
        .bind(product)
        .bind(version.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let evidence: Option<String> = r.try_get("evidence")?;
                Ok(Signoff {
                    item: r.try_get("item")?,
                    signed_by: r.try_get("signed_by")?,
                    role: r.try_get("role")?,
                    signed_at: parse(r, "signed_at")?,
                    note: r.try_get("note")?,
                    evidence: evidence
                        .map(|e| serde_json::from_str(&e))
                        .transpose()
                        .map_err(|e| DbError::Corrupt(format!("evidence: {e}")))?,
                })
            })
            .collect()
    }

    /// Records a decision. A go also moves the release from `from` to `approved` (false,
    /// and nothing written, if it is no longer in `from`).
    pub async fn record_decision(
        &self,
        product: &str,
        version: &Version,
        from: ReleaseState,
        d: &Decision,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if d.go && !d.pending {
            let moved = sqlx::query(
                "UPDATE releases SET state = $1, approved_at = $2, approved_by = $3 \
                 WHERE product = $4 AND version = $5 AND state = $6",
            )
            .bind(ReleaseState::Approved.as_str())
            .bind(ts(d.decided_at))
            .bind(&d.decided_by)
            .bind(product)
            .bind(version.to_string())
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !moved {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO go_decisions (product, version, decided_at, decision, decided_by, \
             reason, waived, blockers, confirmed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(product)
        .bind(version.to_string())
        .bind(ts(d.decided_at))
        .bind(d.kind())
        .bind(&d.decided_by)
        .bind(d.reason.as_deref())
        .bind(serde_json::to_string(&d.waived).expect("strings"))
        .bind(serde_json::to_string(&d.blockers).expect("strings"))
        .bind(d.confirmed_by.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            DbError::from_insert(e, || format!("a decision on {version} at this instant"))
        })?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The decisions on a release, oldest first.
    pub async fn decisions(&self, product: &str, version: &Version) -> Result<Vec<Decision>> {
        let rows = sqlx::query(
            "SELECT decided_at, decision, decided_by, reason, waived, blockers, confirmed_by FROM go_decisions \
             WHERE product = $1 AND version = $2 ORDER BY decided_at",
        )
        .bind(product)
        .bind(version.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let decision: String = r.try_get("decision")?;
                Ok(Decision {
                    go: decision != "no_go",
                    pending: decision == "go_pending",
                    confirmed_by: r.try_get("confirmed_by")?,
                    decided_by: r.try_get("decided_by")?,
                    decided_at: parse(r, "decided_at")?,
                    reason: r.try_get("reason")?,
                    waived: json_col(r, "waived")?,
                    blockers: json_col(r, "blockers")?,
                })
            })
            .collect()
    }
}
