//! Review cycles (issue 33): reviews to do and done.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{Result, parse, parse_opt, ts};

/// A review as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub product: String,
    /// `permissions`, `kb:FAQ-1`, `retro:2.1.0`.
    pub subject: String,
    /// `document` or `retrospective`.
    pub kind: String,
    pub owner_role: String,
    pub what: String,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    pub note: Option<String>,
    /// The knowledge-base article and revision the review was closed with.
    pub revision: Option<(String, i64)>,
}

impl Db {
    /// Opens `r` unless a review of its subject is open already; `true` when it opened.
    pub async fn open_review(&self, r: &ReviewRecord) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let open = sqlx::query(
            "SELECT COUNT(*) AS n FROM reviews WHERE product = $1 AND subject = $2 AND done_at IS NULL",
        )
        .bind(&r.product)
        .bind(&r.subject)
        .fetch_one(&mut *tx)
        .await?;
        if crate::sql::count(&open, "n")? > 0 {
            return Ok(false);
        }
        let done = sqlx::query(
            "INSERT INTO reviews (product, subject, kind, owner_role, what, opened_at, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (product, subject, due_at) DO NOTHING",
        )
        .bind(&r.product)
        .bind(&r.subject)
        .bind(&r.kind)
        .bind(&r.owner_role)
        .bind(&r.what)
        .bind(ts(r.opened_at))
        .bind(ts(r.due_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The product's reviews, the open ones first (soonest due first), then the newest done.
    pub async fn reviews(&self, product: &str) -> Result<Vec<ReviewRecord>> {
        let rows = sqlx::query(
            "SELECT product, subject, kind, owner_role, what, opened_at, due_at, done_at, done_by, \
             note, kb_article, kb_revision FROM reviews WHERE product = $1 \
             ORDER BY CASE WHEN done_at IS NULL THEN 0 ELSE 1 END, due_at, subject",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewRecord {
                    product: r.try_get("product")?,
                    subject: r.try_get("subject")?,
                    kind: r.try_get("kind")?,
                    owner_role: r.try_get("owner_role")?,
                    what: r.try_get("what")?,
                    opened_at: parse(r, "opened_at")?,
                    due_at: parse(r, "due_at")?,
                    done_at: parse_opt(r, "done_at")?,
                    done_by: r.try_get("done_by")?,
                    note: r.try_get("note")?,
                    revision: match (
                        r.try_get::<Option<String>, _>("kb_article")?,
                        r.try_get::<Option<i64>, _>("kb_revision")?,
                    ) {
                        (Some(a), Some(n)) => Some((a, n)),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    /// Closes the open review of `subject` with its note, the knowledge-base revision it
    /// links (if any) and its audit entry; `false` when none is open.
    #[allow(clippy::too_many_arguments)]
    pub async fn close_review(
        &self,
        product: &str,
        subject: &str,
        by: &str,
        note: &str,
        revision: Option<(&str, i64)>,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE reviews SET done_at = $1, done_by = $2, note = $3, kb_article = $4, \
             kb_revision = $5 WHERE product = $6 AND subject = $7 AND done_at IS NULL",
        )
        .bind(ts(at))
        .bind(by)
        .bind(note)
        .bind(revision.map(|r| r.0))
        .bind(revision.map(|r| r.1))
        .bind(product)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
