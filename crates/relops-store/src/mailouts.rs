//! Major-incident mail-outs and their subscribers (issue 25). A mail-out is one incident's
//! message (identified by incident and subject); each recipient it reached is a row next to
//! the outbox message that carries their mail, written in one transaction — so a second run
//! of the same mail-out, or a run after a crash, queues only the recipients it has not
//! queued yet, and the outbox sends each queued mail once.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notification};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, parse, parse_opt, ts};

/// The outbox event of mail-out messages.
pub const MAILOUT_EVENT: &str = "support.mailout";

/// A mail-out as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MailoutRecord {
    /// `INC-3.1`: the incident's first mail-out.
    pub id: String,
    pub incident: String,
    pub product: String,
    pub version: String,
    pub subject: String,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// How far a mail-out's delivery is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailoutProgress {
    pub queued: u64,
    pub sent: u64,
    /// Queued messages whose last attempt failed (they are retried).
    pub failing: u64,
    pub last_error: Option<String>,
}

/// A subscriber's row.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriberRecord {
    pub product: String,
    pub email: String,
    pub name: Option<String>,
    pub subscribed_at: Option<DateTime<Utc>>,
    pub consent: Option<String>,
    pub subscribed_by: Option<String>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

fn mailout_from_row(r: &sqlx::any::AnyRow) -> Result<MailoutRecord> {
    Ok(MailoutRecord {
        id: r.try_get("id")?,
        incident: r.try_get("incident")?,
        product: r.try_get("product")?,
        version: r.try_get("version")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_by: r.try_get("created_by")?,
        created_at: parse(r, "created_at")?,
    })
}

fn subscriber_from_row(r: &sqlx::any::AnyRow) -> Result<SubscriberRecord> {
    Ok(SubscriberRecord {
        product: r.try_get("product")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        subscribed_at: parse_opt(r, "subscribed_at")?,
        consent: r.try_get("consent")?,
        subscribed_by: r.try_get("subscribed_by")?,
        unsubscribed_at: parse_opt(r, "unsubscribed_at")?,
    })
}

const MAILOUT_COLUMNS: &str =
    "id, incident, product, version, subject, body, created_by, created_at";
const SUBSCRIBER_COLUMNS: &str =
    "product, email, name, subscribed_at, consent, subscribed_by, unsubscribed_at";

impl Db {
    /// Who a mail-out about `incident` (on `product` `version`) reaches: every customer
    /// with a ticket on that release or linked to the incident, and every subscriber of the
    /// product — minus whoever unsubscribed and erased customers. Sorted, distinct.
    pub async fn mailout_audience(
        &self,
        product: &str,
        version: &str,
        incident: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT email FROM ( \
               SELECT customer_email AS email FROM tickets \
                 WHERE product = $1 AND (release_version = $2 OR incident = $3) \
               UNION \
               SELECT email FROM support_subscribers \
                 WHERE product = $1 AND subscribed_at IS NOT NULL AND unsubscribed_at IS NULL \
             ) a \
             WHERE email NOT LIKE '%@erased.invalid' AND email NOT IN ( \
               SELECT email FROM support_subscribers \
                 WHERE product = $1 AND unsubscribed_at IS NOT NULL) \
             ORDER BY email",
        )
        .bind(product)
        .bind(version)
        .bind(incident)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("email").map_err(Into::into))
            .collect()
    }

    /// The mail-out of `incident` with `subject`, if there is one.
    pub async fn mailout_by_subject(
        &self,
        incident: &str,
        subject: &str,
    ) -> Result<Option<MailoutRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MAILOUT_COLUMNS} FROM mailouts WHERE incident = $1 AND subject = $2"
        )))
        .bind(incident)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(mailout_from_row).transpose()
    }

    /// A mail-out by id.
    pub async fn mailout(&self, id: &str) -> Result<Option<MailoutRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MAILOUT_COLUMNS} FROM mailouts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(mailout_from_row).transpose()
    }

    /// The mail-outs of an incident, oldest first.
    pub async fn mailouts_of_incident(&self, incident: &str) -> Result<Vec<MailoutRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MAILOUT_COLUMNS} FROM mailouts WHERE incident = $1 ORDER BY created_at, id"
        )))
        .bind(incident)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mailout_from_row).collect()
    }

    /// The addresses a mail-out has queued.
    pub async fn mailout_recipients(&self, id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT email FROM mailout_recipients WHERE mailout = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("email").map_err(Into::into))
            .collect()
    }

    /// When the last queued, unsent mail-out message is due (the next one paces after it).
    pub async fn last_mailout_slot(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT MAX(next_attempt_at) AS t FROM notifications \
             WHERE event = $1 AND delivered_at IS NULL",
        )
        .bind(MAILOUT_EVENT)
        .fetch_one(&self.pool)
        .await?;
        parse_opt(&row, "t")
    }

    /// Writes the mail-out (unless it exists) and queues `mails` — (recipient, message due
    /// at) — for every recipient it has not queued before; returns how many were new. A
    /// mail-out of the same incident and subject with another text is a conflict. The audit
    /// entry is written only when something was queued or the mail-out is new.
    pub async fn queue_mailout(
        &self,
        m: &MailoutRecord,
        mails: &[(String, NewNotification, DateTime<Utc>)],
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT body FROM mailouts WHERE id = $1")
            .bind(&m.id)
            .fetch_optional(&mut *tx)
            .await?;
        let mut fresh = false;
        match existing {
            Some(r) => {
                if r.try_get::<String, _>("body")? != m.body {
                    return Err(DbError::Conflict(format!(
                        "mail-out {} (\"{}\") already went out with another text: give the update a subject of its own",
                        m.id, m.subject
                    )));
                }
            }
            None => {
                sqlx::query(
                    "INSERT INTO mailouts (id, incident, product, version, subject, body, \
                     created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&m.id)
                .bind(&m.incident)
                .bind(&m.product)
                .bind(&m.version)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(&m.created_by)
                .bind(ts(m.created_at))
                .execute(&mut *tx)
                .await?;
                fresh = true;
            }
        }
        let mut queued = 0;
        for (email, n, due) in mails {
            let claimed = sqlx::query(
                "INSERT INTO mailout_recipients (mailout, email, notification, queued_at) \
                 VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&m.id)
            .bind(email)
            .bind(ts(n.created_at))
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let id = insert_notification(&mut tx, n, *due).await?;
            sqlx::query(
                "UPDATE mailout_recipients SET notification = $1 WHERE mailout = $2 AND email = $3",
            )
            .bind(id)
            .bind(&m.id)
            .bind(email)
            .execute(&mut *tx)
            .await?;
            queued += 1;
        }
        if fresh || queued > 0 {
            append_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// How many of a mail-out's messages are queued, sent and failing.
    pub async fn mailout_progress(&self, id: &str) -> Result<MailoutProgress> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS queued, COUNT(delivered_at) AS sent, \
             SUM(CASE WHEN delivered_at IS NULL AND attempts > 0 THEN 1 ELSE 0 END) AS failing, \
             MAX(CASE WHEN delivered_at IS NULL THEN last_error END) AS last_error \
             FROM notifications WHERE reference = $1 AND event = $2",
        )
        .bind(id)
        .bind(MAILOUT_EVENT)
        .fetch_one(&self.pool)
        .await?;
        let failing = row
            .try_get::<Option<i64>, _>("failing")?
            .unwrap_or_default();
        Ok(MailoutProgress {
            queued: count(&row, "queued")?,
            sent: count(&row, "sent")?,
            failing: failing.max(0) as u64,
            last_error: row.try_get("last_error")?,
        })
    }

    /// Records an opt-in to `product`'s mail-outs (clearing an earlier opt-out).
    pub async fn subscribe(&self, s: &SubscriberRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO support_subscribers (product, email, name, subscribed_at, consent, \
             subscribed_by, unsubscribed_at) VALUES ($1, $2, $3, $4, $5, $6, NULL) \
             ON CONFLICT (product, email) DO UPDATE SET name = excluded.name, \
             subscribed_at = excluded.subscribed_at, consent = excluded.consent, \
             subscribed_by = excluded.subscribed_by, unsubscribed_at = NULL",
        )
        .bind(&s.product)
        .bind(&s.email)
        .bind(&s.name)
        .bind(s.subscribed_at.map(ts))
        .bind(&s.consent)
        .bind(&s.subscribed_by)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an opt-out from `product`'s mail-outs; false when it was recorded already.
    pub async fn unsubscribe(
        &self,
        product: &str,
        email: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO support_subscribers (product, email, unsubscribed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (product, email) DO UPDATE SET unsubscribed_at = excluded.unsubscribed_at \
             WHERE support_subscribers.unsubscribed_at IS NULL",
        )
        .bind(product)
        .bind(email)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if done {
            append_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// One address's subscription or opt-out of `product`.
    pub async fn subscriber(&self, product: &str, email: &str) -> Result<Option<SubscriberRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM support_subscribers WHERE product = $1 AND email = $2"
        )))
        .bind(product)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(subscriber_from_row).transpose()
    }

    /// The product's subscribers and opt-outs, by address.
    pub async fn subscribers(&self, product: &str) -> Result<Vec<SubscriberRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM support_subscribers WHERE product = $1 ORDER BY email"
        )))
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(subscriber_from_row).collect()
    }

    /// Removes `email` from subscriptions and mail-outs: its subscriber rows go, its queued
    /// mail-out messages are emptied (and, unsent, never sent). Returns the subscriber rows
    /// removed; `audit` is written when anything was.
    pub async fn erase_subscriber(
        &self,
        email: &str,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notifications SET payload = '{}', \
             last_error = CASE WHEN delivered_at IS NULL THEN 'erased before sending' ELSE last_error END, \
             delivered_at = COALESCE(delivered_at, $2) \
             WHERE id IN (SELECT notification FROM mailout_recipients WHERE email = $1)",
        )
        .bind(email)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        let mailed = sqlx::query("DELETE FROM mailout_recipients WHERE email = $1")
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let n = sqlx::query("DELETE FROM support_subscribers WHERE email = $1")
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if let Some(a) = audit.filter(|_| n + mailed > 0) {
            append_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
