//! Registered signing certificates and the expiry warnings sent (issue 33).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notifications};
use crate::pool::Db;
use crate::sql::{Result, parse, ts};

/// A platform signing certificate (Apple Developer ID, Windows EV) as registered.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateRecord {
    /// SHA-256 of the certificate's DER bytes.
    pub sha256: String,
    pub kind: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

fn record(r: &AnyRow) -> Result<CertificateRecord> {
    Ok(CertificateRecord {
        sha256: r.try_get("sha256")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        issuer: r.try_get("issuer")?,
        serial: r.try_get("serial")?,
        not_before: parse(r, "not_before")?,
        not_after: parse(r, "not_after")?,
        added_by: r.try_get("added_by")?,
        added_at: parse(r, "added_at")?,
    })
}

impl Db {
    /// Registers `c` with its audit entry; `false` when it was registered before.
    pub async fn add_certificate(
        &self,
        c: &CertificateRecord,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO certificates (sha256, kind, subject, issuer, serial, not_before, \
             not_after, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&c.sha256)
        .bind(&c.kind)
        .bind(&c.subject)
        .bind(&c.issuer)
        .bind(&c.serial)
        .bind(ts(c.not_before))
        .bind(ts(c.not_after))
        .bind(&c.added_by)
        .bind(ts(c.added_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The registered certificates, the soonest to expire first.
    pub async fn certificates(&self) -> Result<Vec<CertificateRecord>> {
        let rows = sqlx::query(
            "SELECT sha256, kind, subject, issuer, serial, not_before, not_after, added_by, \
             added_at FROM certificates ORDER BY not_after, sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Records that the warning for `name` expiring at `expires` at `threshold_days` was
    /// sent, with its messages, once: `false` when it had been.
    pub async fn report_expiry(
        &self,
        name: &str,
        expires: DateTime<Utc>,
        threshold_days: i64,
        at: DateTime<Utc>,
        messages: &[NewNotification],
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO expiry_reports (name, expires, threshold_days, reported_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name, expires, threshold_days) DO NOTHING",
        )
        .bind(name)
        .bind(ts(expires))
        .bind(threshold_days)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_notifications(&mut tx, messages).await?;
        tx.commit().await?;
        Ok(true)
    }
}
