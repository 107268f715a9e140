//! Alerts and incidents beyond rollbacks: an alert is one episode of a rule on a release
//! (opened once, however many events keep the condition true; resolved when it no longer
//! holds); an incident is opened by an alert or a rollback, gets one decision (on-call
//! DevOps or the Product Owner) and a post-mortem by its due date. Every change is one
//! transaction with its audit entry and outbox rows.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notifications};
use crate::pool::Db;
use crate::rollout::{IncidentRecord, incident_columns, incident_from_row, next_incident_id};
use crate::sql::{DbError, Result, parse, ts};

/// An alert to open.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub product: String,
    pub release: String,
    pub rule: String,
    pub rule_key: String,
    pub severity: String,
    pub summary: String,
    pub evidence: Value,
    pub follow_up: Option<Value>,
    pub at: DateTime<Utc>,
}

impl NewAlert {
    fn open_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.product, self.release, self.rule, self.rule_key
        )
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: String,
    pub product: String,
    pub release: String,
    pub rule: String,
    pub rule_key: String,
    pub severity: String,
    pub summary: String,
    pub evidence: Value,
    pub actions: Value,
    pub follow_up: Option<Value>,
    pub incident: Option<String>,
    /// `firing`, `acknowledged` or `resolved`.
    pub status: String,
    pub fired_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An incident to open (without a rollback).
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub product: String,
    pub version: String,
    pub severity: String,
    pub summary: String,
    pub opened_by: String,
    pub postmortem_due: NaiveDate,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// A decision to record on an incident.
#[derive(Debug, Clone)]
pub struct IncidentDecisionRecord {
    /// `{action, note, evidence, …}`.
    pub decision: Value,
    /// The severity the decision gives it (critical, high, low).
    pub severity: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

macro_rules! alert_columns {
    () => {
        "id, product, release, rule, rule_key, severity, summary, evidence, actions, follow_up, \
         incident_id, status, fired_at, acked_at, acked_by, ack_note, resolved_at"
    };
}

fn json(r: &AnyRow, col: &str) -> Result<Option<Value>> {
    let s: Option<String> = r.try_get(col)?;
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| DbError::Corrupt(format!("alerts.{col}: {e}")))
}

fn time(r: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    let s: Option<String> = r.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|e| DbError::Corrupt(format!("alerts.{col} = {s:?}: {e}")))
    })
    .transpose()
}

fn alert_from_row(r: &AnyRow) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.try_get("id")?,
        product: r.try_get("product")?,
        release: r.try_get("release")?,
        rule: r.try_get("rule")?,
        rule_key: r.try_get("rule_key")?,
        severity: r.try_get("severity")?,
        summary: r.try_get("summary")?,
        evidence: json(r, "evidence")?.unwrap_or(Value::Null),
        actions: json(r, "actions")?.unwrap_or(Value::Null),
        follow_up: json(r, "follow_up")?,
        incident: r.try_get("incident_id")?,
        status: r.try_get("status")?,
        fired_at: parse(r, "fired_at")?,
        acked_at: time(r, "acked_at")?,
        acked_by: r.try_get("acked_by")?,
        ack_note: r.try_get("ack_note")?,
        resolved_at: time(r, "resolved_at")?,
    })
}

impl Db {
    /// Opens an alert unless an episode of the same rule (and key) on the same release is
    /// still open; then `None` and nothing is written.
    pub async fn open_alert(
        &self,
        a: &NewAlert,
        audit: impl FnOnce(&str) -> AuditRecord,
        notify: impl FnOnce(&str) -> Vec<NewNotification>,
    ) -> Result<Option<AlertRecord>> {
        let mut tx = self.begin_write().await?;
        let open: Option<AnyRow> = sqlx::query("SELECT id FROM alerts WHERE open_key = $1")
            .bind(a.open_key())
            .fetch_optional(&mut *tx)
            .await?;
        if open.is_some() {
            return Ok(None);
        }
        let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM alerts")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let id = format!("ALR-{seq}");
        let inserted = sqlx::query(
            "INSERT INTO alerts (id, seq, product, release, rule, rule_key, severity, summary, \
             evidence, actions, follow_up, status, open_key, fired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]', $10, 'firing', $11, $12)",
        )
        .bind(&id)
        .bind(seq)
        .bind(&a.product)
        .bind(&a.release)
        .bind(&a.rule)
        .bind(&a.rule_key)
        .bind(&a.severity)
        .bind(&a.summary)
        .bind(a.evidence.to_string())
        .bind(a.follow_up.as_ref().map(Value::to_string))
        .bind(a.open_key())
        .bind(ts(a.at))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Another server opened the same episode first.
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        append_audit(&mut tx, &audit(&id)).await?;
        insert_notifications(&mut tx, &notify(&id)).await?;
        tx.commit().await?;
        self.alert(&id).await
    }

    /// Records what was done about an alert and the incident it belongs to.
    pub async fn set_alert_actions(
        &self,
        id: &str,
        actions: &Value,
        incident: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE alerts SET actions = $1, incident_id = COALESCE($2, incident_id) WHERE id = $3",
        )
        .bind(actions.to_string())
        .bind(incident)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the open episode of `rule`/`key` on a release, if there is one. Returns its id.
    pub async fn resolve_alert(
        &self,
        product: &str,
        release: &str,
        rule: &str,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let open_key = format!("{product}/{release}/{rule}/{key}");
        let mut tx = self.begin_write().await?;
        let id: Option<String> = sqlx::query("SELECT id FROM alerts WHERE open_key = $1")
            .bind(&open_key)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        if let Some(id) = &id {
            sqlx::query(
                "UPDATE alerts SET status = 'resolved', open_key = NULL, resolved_at = $1 \
                 WHERE id = $2",
            )
            .bind(ts(at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Acknowledges a firing alert (the episode goes on). `None` if it is not firing.
    pub async fn ack_alert(
        &self,
        id: &str,
        by: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<AlertRecord>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE alerts SET status = 'acknowledged', acked_at = $1, acked_by = $2, \
             ack_note = $3 WHERE id = $4 AND status = 'firing'",
        )
        .bind(ts(at))
        .bind(by)
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(None);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.alert(id).await
    }

    pub async fn alert(&self, id: &str) -> Result<Option<AlertRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(alert_from_row)
        .transpose()
    }

    /// A product's alerts, newest first; `open_only` leaves out resolved ones.
    pub async fn alerts(
        &self,
        product: &str,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertRecord>> {
        let q = if open_only {
            concat!(
                "SELECT ",
                alert_columns!(),
                " FROM alerts WHERE product = $1 AND status <> 'resolved' ORDER BY seq DESC LIMIT $2"
            )
        } else {
            concat!(
                "SELECT ",
                alert_columns!(),
                " FROM alerts WHERE product = $1 ORDER BY seq DESC LIMIT $2"
            )
        };
        let rows = sqlx::query(q)
            .bind(product)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// The product's unresolved alerts per severity.
    pub async fn open_alert_counts(&self, product: &str) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT severity, COUNT(*) AS n FROM alerts \
             WHERE product = $1 AND status <> 'resolved' GROUP BY severity",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("severity")?, crate::sql::count(r, "n")?)))
            .collect()
    }

    /// Every open episode of every product (to know, after a restart, what is firing).
    pub async fn open_alerts(&self) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE open_key IS NOT NULL ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Opens an incident whose decision is pending (status `open`).
    pub async fn open_incident(
        &self,
        i: &NewIncident,
        audit: impl FnOnce(&str) -> AuditRecord,
        notify: impl FnOnce(&str) -> Vec<NewNotification>,
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let (id, seq) = next_incident_id(&mut tx).await?;
        sqlx::query(
            "INSERT INTO incidents (id, seq, product, version, severity, summary, opened_at, \
             opened_by, postmortem_due, status, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10)",
        )
        .bind(&id)
        .bind(seq)
        .bind(&i.product)
        .bind(&i.version)
        .bind(&i.severity)
        .bind(&i.summary)
        .bind(ts(i.at))
        .bind(&i.opened_by)
        .bind(i.postmortem_due.to_string())
        .bind(i.detail.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || format!("incident {id}")))?;
        append_audit(&mut tx, &audit(&id)).await?;
        insert_notifications(&mut tx, &notify(&id)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records the decision of an open incident (not a rollback: that is
    /// [`Db::record_rollback`] with the incident named). `None` if it was decided already.
    pub async fn decide_incident(
        &self,
        id: &str,
        d: &IncidentDecisionRecord,
        audit: &AuditRecord,
        notify: &[NewNotification],
    ) -> Result<Option<IncidentRecord>> {
        let IncidentDecisionRecord {
            decision,
            severity,
            by,
            at,
        } = d;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE incidents SET status = 'decided', decision = $1, decided_at = $2, \
             decided_by = $3, severity = $4 WHERE id = $5 AND status = 'open'",
        )
        .bind(decision.to_string())
        .bind(ts(*at))
        .bind(by)
        .bind(severity)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(None);
        }
        append_audit(&mut tx, audit).await?;
        insert_notifications(&mut tx, notify).await?;
        tx.commit().await?;
        self.incident(id).await
    }

    /// Files (or replaces) an incident's post-mortem; the incident becomes `resolved`.
    pub async fn file_postmortem(
        &self,
        id: &str,
        text: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<IncidentRecord>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE incidents SET postmortem = $1, postmortem_at = $2, postmortem_by = $3, \
             status = 'resolved' WHERE id = $4",
        )
        .bind(text)
        .bind(ts(at))
        .bind(by)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(None);
        }
        // Escalated critical failures are episodes that end with their incident.
        sqlx::query(
            "UPDATE alerts SET status = 'resolved', open_key = NULL, resolved_at = $1 \
             WHERE incident_id = $2 AND rule_key = $3 AND open_key IS NOT NULL",
        )
        .bind(ts(at))
        .bind(id)
        .bind(relops_core::alert::ESCALATION_KEY)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.incident(id).await
    }

    /// Incidents without a post-mortem whose due date is before `today` and that were not
    /// yet reported overdue.
    pub async fn overdue_unreported(&self, today: NaiveDate) -> Result<Vec<IncidentRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE postmortem IS NULL \
             AND overdue_notified_at IS NULL AND postmortem_due < $1 ORDER BY seq"
        ))
        .bind(today.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Decided incidents whose hotfix deadline has not been reported (the caller keeps
    /// those decided `hotfix` whose deadline passed without a fix).
    pub async fn hotfixes_unreported(
        &self,
        decided_before: DateTime<Utc>,
    ) -> Result<Vec<IncidentRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE decided_at IS NOT NULL AND decided_at < $1 \
             AND hotfix_notified_at IS NULL ORDER BY seq"
        ))
        .bind(ts(decided_before))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Marks an incident reported — its post-mortem overdue, or its hotfix missed — with
    /// the messages that report it; false when it was reported already (or, for the
    /// post-mortem, filed meanwhile).
    pub async fn report_incident(
        &self,
        id: &str,
        what: IncidentReport,
        at: DateTime<Utc>,
        notify: &[NewNotification],
    ) -> Result<bool> {
        let sql = match what {
            IncidentReport::PostmortemOverdue => {
                "UPDATE incidents SET overdue_notified_at = $1 \
                 WHERE id = $2 AND overdue_notified_at IS NULL AND postmortem IS NULL"
            }
            IncidentReport::HotfixMissed => {
                "UPDATE incidents SET hotfix_notified_at = $1 \
                 WHERE id = $2 AND hotfix_notified_at IS NULL"
            }
        };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sql)
            .bind(ts(at))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if done {
            insert_notifications(&mut tx, notify).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// A once-only report about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentReport {
    /// Its post-mortem is past due.
    PostmortemOverdue,
    /// Its `hotfix` decision's 24 h passed with no fix out.
    HotfixMissed,
}
