//! Rollback requests awaiting their second person (R-RB-2): one per product. Filing one
//! replaces an earlier request of the product; the entry, its audit record and its
//! notifications are one transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notifications};
use crate::pool::Db;
use crate::sql::{DbError, Result, parse, ts};

/// A rollback request as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackRequestRecord {
    pub product: String,
    /// The request as the operations layer wrote it (JSON).
    pub request: serde_json::Value,
    pub incident: Option<String>,
    pub requested_by: String,
    pub requested_roles: Vec<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Db {
    /// Files `r`, replacing the product's earlier request.
    pub async fn put_rollback_request(
        &self,
        r: &RollbackRequestRecord,
        audit: &AuditRecord,
        notify: &[NewNotification],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM rollback_requests WHERE product = $1")
            .bind(&r.product)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO rollback_requests (product, request, incident, requested_by, \
             requested_roles, requested_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.product)
        .bind(r.request.to_string())
        .bind(&r.incident)
        .bind(&r.requested_by)
        .bind(r.requested_roles.join(","))
        .bind(ts(r.requested_at))
        .bind(ts(r.expires_at))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        insert_notifications(&mut tx, notify).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The product's waiting request, if any (expired ones included: the caller decides).
    pub async fn rollback_request(&self, product: &str) -> Result<Option<RollbackRequestRecord>> {
        let row = sqlx::query(
            "SELECT product, request, incident, requested_by, requested_roles, requested_at, \
             expires_at FROM rollback_requests WHERE product = $1",
        )
        .bind(product)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let request: String = r.try_get("request")?;
            let roles: String = r.try_get("requested_roles")?;
            Ok(RollbackRequestRecord {
                product: r.try_get("product")?,
                request: serde_json::from_str(&request)
                    .map_err(|e| DbError::Corrupt(format!("rollback_requests.request: {e}")))?,
                incident: r.try_get("incident")?,
                requested_by: r.try_get("requested_by")?,
                requested_roles: roles
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                requested_at: parse(&r, "requested_at")?,
                expires_at: parse(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Removes the product's request filed at `requested_at` (taken, or expired);
    /// whether it was still there.
    pub async fn drop_rollback_request(
        &self,
        product: &str,
        requested_at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM rollback_requests WHERE product = $1 AND requested_at = $2")
                .bind(product)
                .bind(ts(requested_at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }
}
