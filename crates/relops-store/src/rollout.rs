//! Rollouts, rollback directives and incidents. Every change is one transaction that moves
//! the rollout, moves the release's state, appends the audit entry and writes the
//! notification outbox rows — so a change is never reported without having happened, nor
//! made without being reported.

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::release::ReleaseState;
use relops_core::rollout::{Percent, Rollout};
use relops_core::version::Version;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notifications};
use crate::pool::Db;
use crate::sql::{DbError, Result, parse, ts};

/// A release's rollout as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRecord {
    pub version: Version,
    /// Hex; fresh random bytes per release.
    pub salt: String,
    pub rollout: Rollout,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub updated_at: DateTime<Utc>,
    /// Why it was last halted, forced or rolled back.
    pub reason: Option<String>,
}

/// A stored rollback directive.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackRecord {
    pub incident: String,
    pub to: Version,
    pub from: Vec<Version>,
    pub reason: String,
    pub severity: String,
    pub next_fix: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: String,
    pub product: String,
    pub version: Version,
    pub severity: String,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub postmortem_due: NaiveDate,
    /// `open` (decision pending), `decided`, `resolved` (post-mortem filed).
    pub status: String,
    pub detail: serde_json::Value,
    /// What was decided (`action`, `note`, the evidence shown), by whom and when.
    pub decision: Option<serde_json::Value>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    /// The post-mortem (Markdown), by whom and when.
    pub postmortem: Option<String>,
    pub postmortem_at: Option<DateTime<Utc>>,
    pub postmortem_by: Option<String>,
    pub overdue_notified_at: Option<DateTime<Utc>>,
}

/// A rollback to record: the releases it withdraws (with the state each was in when the
/// decision was made), the directive and the incident it opens.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub to: Version,
    pub withdrawn: Vec<(Version, ReleaseState)>,
    pub reason: String,
    pub severity: String,
    pub next_fix: Option<NaiveDate>,
    pub postmortem_due: NaiveDate,
    pub at: DateTime<Utc>,
    /// The incident this rollback was decided in (`relops incident decide`); `None` opens
    /// a new one.
    pub incident: Option<String>,
    /// The evidence shown to whoever decided (kept with the decision).
    pub evidence: Option<serde_json::Value>,
}

fn rollout_from_row(r: &AnyRow) -> Result<RolloutRecord> {
    let percent: i64 = r.try_get("percent")?;
    Ok(RolloutRecord {
        version: parse(r, "version")?,
        salt: r.try_get("salt")?,
        rollout: Rollout {
            stage: parse(r, "stage")?,
            state: parse(r, "state")?,
            since: parse(r, "since")?,
            percent: Percent::from_hundredths(
                u16::try_from(percent)
                    .map_err(|_| DbError::Corrupt(format!("rollouts.percent = {percent}")))?,
            ),
        },
        started_at: parse(r, "started_at")?,
        started_by: r.try_get("started_by")?,
        updated_at: parse(r, "updated_at")?,
        reason: r.try_get("reason")?,
    })
}

macro_rules! incident_columns {
    () => {
        "id, product, version, severity, summary, opened_at, opened_by, postmortem_due, status, \
         detail, decision, decided_at, decided_by, postmortem, postmortem_at, postmortem_by, \
         overdue_notified_at"
    };
}
pub(crate) use incident_columns;

fn opt_time(r: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    let s: Option<String> = r.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|e| DbError::Corrupt(format!("column {col} = {s:?}: {e}")))
    })
    .transpose()
}

pub(crate) fn incident_from_row(r: &AnyRow) -> Result<IncidentRecord> {
    let detail: String = r.try_get("detail")?;
    let decision: Option<String> = r.try_get("decision")?;
    Ok(IncidentRecord {
        id: r.try_get("id")?,
        product: r.try_get("product")?,
        version: parse(r, "version")?,
        severity: r.try_get("severity")?,
        summary: r.try_get("summary")?,
        opened_at: parse(r, "opened_at")?,
        opened_by: r.try_get("opened_by")?,
        postmortem_due: parse(r, "postmortem_due")?,
        status: r.try_get("status")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| DbError::Corrupt(format!("incidents.detail: {e}")))?,
        decision: decision
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| DbError::Corrupt(format!("incidents.decision: {e}")))?,
        decided_at: opt_time(r, "decided_at")?,
        decided_by: r.try_get("decided_by")?,
        postmortem: r.try_get("postmortem")?,
        postmortem_at: opt_time(r, "postmortem_at")?,
        postmortem_by: r.try_get("postmortem_by")?,
        overdue_notified_at: opt_time(r, "overdue_notified_at")?,
    })
}

/// The next incident id and its sequence number (inside a write transaction).
pub(crate) async fn next_incident_id(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> Result<(String, i64)> {
    let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM incidents")
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    Ok((format!("INC-{seq}"), seq))
}

impl Db {
    /// The rollout of one release, if it was started.
    pub async fn rollout(&self, product: &str, version: &Version) -> Result<Option<RolloutRecord>> {
        let row = sqlx::query(
            "SELECT version, salt, stage, state, percent, since, started_at, started_by, \
             updated_at, reason FROM rollouts WHERE product = $1 AND version = $2",
        )
        .bind(product)
        .bind(version.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rollout_from_row).transpose()
    }

    /// Every rollout of a product.
    pub async fn rollouts(&self, product: &str) -> Result<Vec<RolloutRecord>> {
        let rows = sqlx::query(
            "SELECT version, salt, stage, state, percent, since, started_at, started_by, \
             updated_at, reason FROM rollouts WHERE product = $1",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rollout_from_row).collect()
    }

    /// The rollouts under way (active, paused or halted) of a product.
    pub async fn live_rollouts(&self, product: &str) -> Result<Vec<RolloutRecord>> {
        let rows = sqlx::query(
            "SELECT version, salt, stage, state, percent, since, started_at, started_by, \
             updated_at, reason FROM rollouts \
             WHERE product = $1 AND state IN ('active', 'paused', 'halted')",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rollout_from_row).collect()
    }

    /// A product's rollouts in two figures that change whenever one is written (every
    /// write sets `updated_at`): how many there are and the newest `updated_at`.
    pub async fn rollouts_stamp(&self, product: &str) -> Result<(i64, String)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), '') AS newest \
             FROM rollouts WHERE product = $1",
        )
        .bind(product)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("newest")?))
    }

    /// Records a rollout step: the rollout row becomes `next` (inserted when `prev` is
    /// `None`, otherwise updated only if it still equals `prev`), the release moves from
    /// `release_from` to `next`'s release state, and the audit entry and outbox rows are
    /// written — all in one transaction. Returns false (and changes nothing) when the
    /// release or the rollout changed in the meantime.
    pub async fn put_rollout(
        &self,
        product: &str,
        next: &RolloutRecord,
        prev: Option<&RolloutRecord>,
        release_from: ReleaseState,
        audit: &AuditRecord,
        notifications: &[NewNotification],
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let v = next.version.to_string();
        let release_to = next.rollout.release_state();
        let moved = sqlx::query(
            "UPDATE releases SET state = $1 WHERE product = $2 AND version = $3 AND state = $4",
        )
        .bind(release_to.as_str())
        .bind(product)
        .bind(&v)
        .bind(release_from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !moved {
            return Ok(false);
        }
        let r = &next.rollout;
        let written = match prev {
            None => sqlx::query(
                "INSERT INTO rollouts (product, version, salt, stage, state, percent, since, \
                 started_at, started_by, updated_at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(product)
            .bind(&v)
            .bind(&next.salt)
            .bind(r.stage.as_str())
            .bind(r.state.as_str())
            .bind(i64::from(r.percent.hundredths()))
            .bind(ts(r.since))
            .bind(ts(next.started_at))
            .bind(&next.started_by)
            .bind(ts(next.updated_at))
            .bind(next.reason.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::from_insert(e, || format!("a rollout of {v}")))?,
            Some(p) => sqlx::query(
                "UPDATE rollouts SET stage = $1, state = $2, percent = $3, since = $4, \
                 updated_at = $5, reason = $6 \
                 WHERE product = $7 AND version = $8 AND stage = $9 AND state = $10 AND since = $11",
            )
            .bind(r.stage.as_str())
            .bind(r.state.as_str())
            .bind(i64::from(r.percent.hundredths()))
            .bind(ts(r.since))
            .bind(ts(next.updated_at))
            .bind(next.reason.as_deref())
            .bind(product)
            .bind(&v)
            .bind(p.rollout.stage.as_str())
            .bind(p.rollout.state.as_str())
            .bind(ts(p.rollout.since))
            .execute(&mut *tx)
            .await?,
        }
        .rows_affected()
            == 1;
        if !written {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        insert_notifications(&mut tx, notifications).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a rollback: every withdrawn release (and its rollout, if any) becomes
    /// `rolled_back`, an incident `INC-n` is opened, the directive is stored, and the audit
    /// entry and the outbox rows made by `notify(incident_id)` are written, in one
    /// transaction. Returns the incident id, or `None` when a withdrawn release changed
    /// state in the meantime (nothing is written then).
    pub async fn record_rollback(
        &self,
        product: &str,
        plan: &RollbackPlan,
        actor: &str,
        audit: impl FnOnce(&str) -> AuditRecord,
        notify: impl FnOnce(&str) -> Vec<NewNotification>,
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        for (v, from) in &plan.withdrawn {
            let moved = sqlx::query(
                "UPDATE releases SET state = $1 WHERE product = $2 AND version = $3 AND state = $4",
            )
            .bind(ReleaseState::RolledBack.as_str())
            .bind(product)
            .bind(v.to_string())
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !moved {
                return Ok(None);
            }
            sqlx::query(
                "UPDATE rollouts SET state = $1, updated_at = $2, reason = $3 \
                 WHERE product = $4 AND version = $5",
            )
            .bind("rolled_back")
            .bind(ts(plan.at))
            .bind(&plan.reason)
            .bind(product)
            .bind(v.to_string())
            .execute(&mut *tx)
            .await?;
        }
        let first = plan
            .withdrawn
            .iter()
            .map(|(v, _)| v)
            .min()
            .cloned()
            .unwrap_or_else(|| plan.to.clone());
        let from: Vec<String> = plan.withdrawn.iter().map(|(v, _)| v.to_string()).collect();
        let rollback = serde_json::json!({
            "action": "rollback", "to": plan.to.to_string(), "withdrawn": from,
            "next_fix": plan.next_fix, "note": plan.reason, "evidence": plan.evidence,
        });
        let id = match &plan.incident {
            Some(id) => {
                // Decided in an open incident: it records the rollback as its decision.
                let decided = sqlx::query(
                    "UPDATE incidents SET status = 'decided', decision = $1, decided_at = $2, \
                     decided_by = $3, severity = $4 WHERE id = $5 AND status = 'open'",
                )
                .bind(rollback.to_string())
                .bind(ts(plan.at))
                .bind(actor)
                .bind(&plan.severity)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !decided {
                    return Ok(None);
                }
                id.clone()
            }
            None => {
                let id = next_incident_id(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO incidents (id, seq, product, version, severity, summary, opened_at, \
                     opened_by, postmortem_due, status, detail, decision, decided_at, decided_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'decided', $10, $10, $7, $8)",
                )
                .bind(&id.0)
                .bind(id.1)
                .bind(product)
                .bind(first.to_string())
                .bind(&plan.severity)
                .bind(&plan.reason)
                .bind(ts(plan.at))
                .bind(actor)
                .bind(plan.postmortem_due.to_string())
                .bind(rollback.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| DbError::from_insert(e, || format!("incident {}", id.0)))?;
                id.0
            }
        };
        sqlx::query(
            "INSERT INTO rollbacks (incident_id, product, to_version, from_versions, reason, \
             severity, next_fix, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(product)
        .bind(plan.to.to_string())
        .bind(serde_json::to_string(&from).expect("strings serialise"))
        .bind(&plan.reason)
        .bind(&plan.severity)
        .bind(plan.next_fix.map(|d| d.to_string()))
        .bind(ts(plan.at))
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, &audit(&id)).await?;
        insert_notifications(&mut tx, &notify(&id)).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Every rollback directive of a product, oldest first.
    pub async fn rollbacks(&self, product: &str) -> Result<Vec<RollbackRecord>> {
        let rows = sqlx::query(
            "SELECT incident_id, to_version, from_versions, reason, severity, next_fix, \
             created_at, created_by FROM rollbacks WHERE product = $1 ORDER BY created_at",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let from: String = r.try_get("from_versions")?;
                let next_fix: Option<String> = r.try_get("next_fix")?;
                Ok(RollbackRecord {
                    incident: r.try_get("incident_id")?,
                    to: parse(r, "to_version")?,
                    from: serde_json::from_str(&from)
                        .map_err(|e| DbError::Corrupt(format!("rollbacks.from_versions: {e}")))?,
                    reason: r.try_get("reason")?,
                    severity: r.try_get("severity")?,
                    next_fix: next_fix
                        .map(|d| d.parse())
                        .transpose()
                        .map_err(|e| DbError::Corrupt(format!("rollbacks.next_fix: {e}")))?,
                    created_at: parse(r, "created_at")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    /// The incidents of a product, newest first.
    pub async fn incidents(&self, product: &str) -> Result<Vec<IncidentRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE product = $1 ORDER BY seq DESC"
        ))
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    pub async fn incident(&self, id: &str) -> Result<Option<IncidentRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(incident_from_row).transpose()
    }
}
