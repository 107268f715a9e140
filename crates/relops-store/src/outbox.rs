//! The notification outbox (DESIGN decision 8): messages are rows written in the
//! transaction of the change they report, with their exact payload, and delivered by a
//! background worker until the receiver answers 2xx. A delivery is claimed by moving its
//! `next_attempt_at` forward, so that two replicas never send the same row at once.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::pool::Db;
use crate::sql::{Result, parse, ts};

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub event: String,
    pub product: String,
    pub version: String,
    /// The configured destination's name.
    pub sink: String,
    /// `slack`, `pagerduty` or `webhook`.
    pub kind: String,
    pub url: String,
    /// The exact JSON body to POST.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// What the message is about when its answer is kept (the escalated ticket).
    pub reference: Option<String>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub event: String,
    pub product: String,
    pub version: String,
    pub sink: String,
    pub kind: String,
    pub url: String,
    pub payload: String,
    pub reference: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

pub(crate) async fn insert_notifications(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    items: &[NewNotification],
) -> Result<()> {
    for n in items {
        insert_notification(tx, n, n.created_at).await?;
    }
    Ok(())
}

/// Queues `n`, first due at `due`; its row id.
pub(crate) async fn insert_notification(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    n: &NewNotification,
    due: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO notifications (created_at, event, product, version, sink, kind, url, \
         payload, attempts, next_attempt_at, reference) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10) RETURNING id",
    )
    .bind(ts(n.created_at))
    .bind(&n.event)
    .bind(&n.product)
    .bind(&n.version)
    .bind(&n.sink)
    .bind(&n.kind)
    .bind(&n.url)
    .bind(&n.payload)
    .bind(ts(due))
    .bind(&n.reference)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Notification> {
    let attempts: i64 = r.try_get("attempts")?;
    let delivered: Option<String> = r.try_get("delivered_at")?;
    Ok(Notification {
        id: r.try_get("id")?,
        created_at: parse(r, "created_at")?,
        event: r.try_get("event")?,
        product: r.try_get("product")?,
        version: r.try_get("version")?,
        sink: r.try_get("sink")?,
        kind: r.try_get("kind")?,
        url: r.try_get("url")?,
        payload: r.try_get("payload")?,
        reference: r.try_get("reference")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: parse(r, "next_attempt_at")?,
        delivered_at: delivered
            .map(|d| d.parse())
            .transpose()
            .map_err(|e| crate::DbError::Corrupt(format!("notifications.delivered_at: {e}")))?,
        last_error: r.try_get("last_error")?,
    })
}

impl Db {
    /// Enqueues messages outside any other change (e.g. a test message).
    pub async fn enqueue_notifications(&self, items: &[NewNotification]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_notifications(&mut tx, items).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Undelivered messages due at `now`, oldest first.
    /// Messages not delivered yet (due now or waiting for a retry).
    pub async fn outbox_backlog(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE delivered_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        crate::sql::count(&row, "n")
    }

    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT id, created_at, event, product, version, sink, kind, url, payload, attempts, \
             next_attempt_at, delivered_at, last_error, reference FROM notifications \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims `n` for delivery until `until`; false if another worker claimed it first.
    pub async fn claim_notification(&self, n: &Notification, until: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE notifications SET next_attempt_at = $1 \
             WHERE id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL",
        )
        .bind(ts(until))
        .bind(n.id)
        .bind(ts(n.next_attempt_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(done)
    }

    /// Records one delivery attempt: delivered at `delivered`, or failed with `error` and
    /// retried at `retry_at`.
    pub async fn record_attempt(
        &self,
        id: i64,
        outcome: std::result::Result<DateTime<Utc>, (String, DateTime<Utc>)>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        match outcome {
            Ok(at) => {
                sqlx::query(
                    "UPDATE notifications SET attempts = attempts + 1, delivered_at = $1, \
                     last_error = NULL WHERE id = $2",
                )
                .bind(ts(at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Err((error, retry_at)) => {
                sqlx::query(
                    "UPDATE notifications SET attempts = attempts + 1, last_error = $1, \
                     next_attempt_at = $2 WHERE id = $3",
                )
                .bind(error)
                .bind(ts(retry_at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` messages of a product, newest first.
    pub async fn notifications(&self, product: &str, limit: u32) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT id, created_at, event, product, version, sink, kind, url, payload, attempts, \
             next_attempt_at, delivered_at, last_error, reference FROM notifications \
             WHERE product = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(product)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
