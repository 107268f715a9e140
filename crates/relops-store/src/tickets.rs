//! Support tickets (issue 25): the ticket row, its timeline of events (customer messages,
//! replies, notes, changes), linked crashes and attachments. Opening a ticket allocates
//! its number in the same transaction that writes it, its first events, its audit entry and
//! its notifications; a change rewrites the row only if nobody changed it since it was read
//! (`updated_at`), so two agents' edits never silently overwrite each other.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::outbox::{NewNotification, insert_notifications};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, parse, parse_opt, ts};

/// A ticket as stored. Statuses and priorities are the names of `relops_core::ticket`.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub id: String,
    pub product: String,
    pub subject: String,
    pub customer_email: String,
    pub customer_name: Option<String>,
    pub priority: String,
    pub priority_reason: Option<String>,
    pub status: String,
    pub assignee: Option<String>,
    pub release: Option<String>,
    pub platform: Option<String>,
    pub install_id: Option<String>,
    pub incident: Option<String>,
    pub known_issue: Option<String>,
    pub resolution: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmed_how: Option<String>,
    pub source: String,
    pub external_ref: Option<String>,
    pub follow_up_of: Option<String>,
    /// Intervals the ticket waited on the customer; an open one has no end.
    pub pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub solved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// First response due (the queue's order); `None` once answered or while waiting.
    pub due_at: Option<DateTime<Utc>>,
    /// When 75 % of the budget will be used, on the same terms as `due_at`.
    pub warn_at: Option<DateTime<Utc>>,
    /// The engineering issue it was escalated to (`jira:WIZ-24`, `github:owner/repo#42`)
    /// and its address: written only by [`Db::link_ticket_issue`].
    pub issue: Option<String>,
    pub issue_url: Option<String>,
}

/// A timeline entry to write (`..Default::default()`: no text, mail, or attachments).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewTicketEvent {
    /// `opened`, `customer`, `reply`, `note`, `status`, `priority`, `assign`, `link`,
    /// `confirmed`, `escalated`.
    pub kind: String,
    pub author: String,
    pub body: Option<String>,
    pub message_id: Option<String>,
    pub detail: Value,
    pub attachments: Vec<AttachmentRecord>,
    /// The mail that tells the customer (an outbox row, written in the same transaction).
    pub mail: Option<NewNotification>,
}

/// A timeline entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEventRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub author: String,
    pub body: Option<String>,
    pub message_id: Option<String>,
    pub detail: Value,
}

/// A file a message brought; its bytes are a blob, sealed (`attachments/sealed/{hex}`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRecord {
    pub event_seq: i64,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

const TICKET_COLUMNS: &str = "id, product, subject, customer_email, customer_name, priority, \
     priority_reason, status, assignee, release_version, platform, install_id, incident, \
     known_issue, resolution, confirmed_at, confirmed_how, source, external_ref, follow_up_of, \
     pauses, opened_at, first_response_at, solved_at, closed_at, updated_at, due_at, warn_at";

fn pauses_json(p: &[(DateTime<Utc>, Option<DateTime<Utc>>)]) -> String {
    Value::Array(
        p.iter()
            .map(|(a, b)| serde_json::json!([ts(*a), b.map(ts)]))
            .collect(),
    )
    .to_string()
}

fn ticket_from_row(r: &AnyRow) -> Result<TicketRecord> {
    let pauses: String = r.try_get("pauses")?;
    let corrupt = |e: String| DbError::Corrupt(format!("tickets.pauses = {pauses:?}: {e}"));
    let raw: Vec<(String, Option<String>)> =
        serde_json::from_str(&pauses).map_err(|e| corrupt(e.to_string()))?;
    let at = |s: &str| {
        s.parse::<DateTime<Utc>>()
            .map_err(|e| corrupt(e.to_string()))
    };
    let pauses = raw
        .iter()
        .map(|(a, b)| Ok((at(a)?, b.as_deref().map(at).transpose()?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(TicketRecord {
        id: r.try_get("id")?,
        product: r.try_get("product")?,
        subject: r.try_get("subject")?,
        customer_email: r.try_get("customer_email")?,
        customer_name: r.try_get("customer_name")?,
        priority: r.try_get("priority")?,
        priority_reason: r.try_get("priority_reason")?,
        status: r.try_get("status")?,
        assignee: r.try_get("assignee")?,
        release: r.try_get("release_version")?,
        platform: r.try_get("platform")?,
        install_id: r.try_get("install_id")?,
        incident: r.try_get("incident")?,
        known_issue: r.try_get("known_issue")?,
        resolution: r.try_get("resolution")?,
        confirmed_at: parse_opt(r, "confirmed_at")?,
        confirmed_how: r.try_get("confirmed_how")?,
        source: r.try_get("source")?,
        external_ref: r.try_get("external_ref")?,
        follow_up_of: r.try_get("follow_up_of")?,
        pauses,
        opened_at: parse(r, "opened_at")?,
        first_response_at: parse_opt(r, "first_response_at")?,
        solved_at: parse_opt(r, "solved_at")?,
        closed_at: parse_opt(r, "closed_at")?,
        updated_at: parse(r, "updated_at")?,
        due_at: parse_opt(r, "due_at")?,
        warn_at: parse_opt(r, "warn_at")?,
        issue: r.try_get("issue")?,
        issue_url: r.try_get("issue_url")?,
    })
}

/// Writes `events` of ticket `t` (its id, product and subject), indexing their text.
async fn insert_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: (&str, &str, &str),
    at: DateTime<Utc>,
    events: &[NewTicketEvent],
) -> Result<()> {
    let (ticket, product, subject) = t;
    for e in events {
        if let Some(body) = &e.body {
            crate::kb::index_ticket_text(tx, ticket, product, subject, body).await?;
        } else if e.kind == "opened" {
            crate::kb::index_ticket_text(tx, ticket, product, subject, "").await?;
        }
        let row = sqlx::query(
            "INSERT INTO ticket_events (ticket, at, kind, author, body, message_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
        )
        .bind(ticket)
        .bind(ts(at))
        .bind(&e.kind)
        .bind(&e.author)
        .bind(&e.body)
        .bind(&e.message_id)
        .bind(e.detail.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(|err| {
            DbError::from_insert(err, || {
                format!(
                    "a mail with Message-ID {:?}",
                    e.message_id.as_deref().unwrap_or("")
                )
            })
        })?;
        let seq: i64 = row.try_get("seq")?;
        if let Some(m) = &e.mail {
            insert_notifications(tx, std::slice::from_ref(m)).await?;
        }
        for a in &e.attachments {
            sqlx::query(
                "INSERT INTO ticket_attachments (ticket, event_seq, name, content_type, size, \
                 sha256) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(ticket)
            .bind(seq)
            .bind(&a.name)
            .bind(&a.content_type)
            .bind(a.size as i64)
            .bind(&a.sha256)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Inserts `t` (`before: None`), or rewrites every column of the row if its `updated_at`
/// is still `before`; the rows written.
async fn write_ticket(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: &TicketRecord,
    before: Option<DateTime<Utc>>,
) -> Result<u64> {
    let sql = if before.is_none() {
        format!(
            "INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
             $26, $27, $28)"
        )
    } else {
        // $29: the `updated_at` the caller read (optimistic concurrency).
        "UPDATE tickets SET product = $2, subject = $3, customer_email = $4, customer_name = $5, \
         priority = $6, priority_reason = $7, status = $8, assignee = $9, release_version = $10, \
         platform = $11, install_id = $12, incident = $13, known_issue = $14, resolution = $15, \
         confirmed_at = $16, confirmed_how = $17, source = $18, external_ref = $19, \
         follow_up_of = $20, pauses = $21, opened_at = $22, first_response_at = $23, \
         solved_at = $24, closed_at = $25, updated_at = $26, due_at = $27, warn_at = $28 \
         WHERE id = $1 AND updated_at = $29"
            .to_owned()
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&t.id)
        .bind(&t.product)
        .bind(&t.subject)
        .bind(&t.customer_email)
        .bind(&t.customer_name)
        .bind(&t.priority)
        .bind(&t.priority_reason)
        .bind(&t.status)
        .bind(&t.assignee)
        .bind(&t.release)
        .bind(&t.platform)
        .bind(&t.install_id)
        .bind(&t.incident)
        .bind(&t.known_issue)
        .bind(&t.resolution)
        .bind(t.confirmed_at.map(ts))
        .bind(&t.confirmed_how)
        .bind(&t.source)
        .bind(&t.external_ref)
        .bind(&t.follow_up_of)
        .bind(pauses_json(&t.pauses))
        .bind(ts(t.opened_at))
        .bind(t.first_response_at.map(ts))
        .bind(t.solved_at.map(ts))
        .bind(t.closed_at.map(ts))
        .bind(ts(t.updated_at))
        .bind(t.due_at.map(ts))
        .bind(t.warn_at.map(ts));
    if let Some(b) = before {
        q = q.bind(ts(b));
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

impl Db {
    /// Opens a ticket: the product's next number (`{prefix}-{n}`), the row, its crashes and
    /// first events, and what `record(id)` gives — its audit entry and notifications — in
    /// one transaction. `t.id` is ignored. Answers the id.
    pub async fn open_ticket(
        &self,
        prefix: &str,
        t: &TicketRecord,
        crashes: &[String],
        events: &[NewTicketEvent],
        record: impl FnOnce(&str) -> (AuditRecord, Vec<NewNotification>),
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO ticket_numbers (product, last) VALUES ($1, 1) \
             ON CONFLICT (product) DO UPDATE SET last = ticket_numbers.last + 1 RETURNING last",
        )
        .bind(&t.product)
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = row.try_get("last")?;
        let id = format!("{prefix}-{n}");
        let t = TicketRecord {
            id: id.clone(),
            ..t.clone()
        };
        write_ticket(&mut tx, &t, None).await.map_err(|e| match e {
            DbError::Sql(e) => DbError::from_insert(e, || format!("ticket {id} exists")),
            e => e,
        })?;
        for c in crashes {
            sqlx::query("INSERT INTO ticket_crashes (ticket, crash_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(c)
                .execute(&mut *tx)
                .await?;
        }
        insert_events(&mut tx, (&id, &t.product, &t.subject), t.opened_at, events).await?;
        let (audit, notify) = record(&id);
        append_audit(&mut tx, &audit).await?;
        insert_notifications(&mut tx, &notify).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes a change of a ticket read at `before` (its `updated_at`): the row, new crash
    /// links, timeline events, audit entry and notifications, in one transaction.
    /// `Conflict` when someone changed the ticket since.
    pub async fn update_ticket(
        &self,
        before: DateTime<Utc>,
        t: &TicketRecord,
        crashes: &[String],
        events: &[NewTicketEvent],
        audit: &AuditRecord,
        notify: &[NewNotification],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if write_ticket(&mut tx, t, Some(before)).await? != 1 {
            return Err(DbError::Conflict(format!(
                "ticket {} changed meanwhile: look at it again (`relops ticket show {}`) and retry",
                t.id, t.id
            )));
        }
        for c in crashes {
            sqlx::query(
                "INSERT INTO ticket_crashes (ticket, crash_id) VALUES ($1, $2) \
                 ON CONFLICT (ticket, crash_id) DO NOTHING",
            )
            .bind(&t.id)
            .bind(c)
            .execute(&mut *tx)
            .await?;
        }
        insert_events(
            &mut tx,
            (&t.id, &t.product, &t.subject),
            t.updated_at,
            events,
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        insert_notifications(&mut tx, notify).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn ticket(&self, id: &str) -> Result<Option<TicketRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(ticket_from_row)
        .transpose()
    }

    /// The ticket's linked crash ids, in link order.
    pub async fn ticket_crashes(&self, id: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT crash_id FROM ticket_crashes WHERE ticket = $1 ORDER BY crash_id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get("crash_id").map_err(DbError::from))
            .collect()
    }

    /// The ticket's timeline, oldest first.
    pub async fn ticket_events(&self, id: &str) -> Result<Vec<TicketEventRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, author, body, message_id, detail FROM ticket_events \
             WHERE ticket = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(TicketEventRecord {
                    seq: r.try_get("seq")?,
                    at: parse(r, "at")?,
                    kind: r.try_get("kind")?,
                    author: r.try_get("author")?,
                    body: r.try_get("body")?,
                    message_id: r.try_get("message_id")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| DbError::Corrupt(format!("ticket_events.detail: {e}")))?,
                })
            })
            .collect()
    }

    pub async fn ticket_attachments(&self, id: &str) -> Result<Vec<AttachmentRecord>> {
        let rows = sqlx::query(
            "SELECT event_seq, name, content_type, size, sha256 FROM ticket_attachments \
             WHERE ticket = $1 ORDER BY event_seq, name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AttachmentRecord {
                    event_seq: r.try_get("event_seq")?,
                    name: r.try_get("name")?,
                    content_type: r.try_get("content_type")?,
                    size: count(r, "size")?,
                    sha256: r.try_get("sha256")?,
                })
            })
            .collect()
    }

    /// The queue: the product's tickets in `statuses`, those whose first response is due
    /// soonest first (answered or waiting ones after, oldest first); and how many there are.
    pub async fn ticket_queue(
        &self,
        product: &str,
        statuses: &[&str],
        limit: u32,
    ) -> Result<(Vec<TicketRecord>, u64)> {
        // Status names are the core's snake_case words; anything else cannot match a row.
        let list = statuses
            .iter()
            .filter(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        if list.is_empty() {
            return Ok((Vec::new(), 0));
        }
        // Two walks in index order, each stopped at the page's end: due tickets (soonest
        // first), then — when the page is not full — the rest (oldest first). One ORDER BY
        // over both would sort every open ticket.
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets \
             WHERE product = $1 AND due_at IS NOT NULL AND status IN ({list}) \
             ORDER BY due_at, opened_at, id LIMIT $2"
        )))
        .bind(product)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if rows.len() < limit as usize {
            let rest = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets \
                 WHERE product = $1 AND due_at IS NULL AND status IN ({list}) \
                 ORDER BY opened_at, id LIMIT $2"
            )))
            .bind(product)
            .bind(i64::from(limit) - rows.len() as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.extend(rest);
        }
        let total = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM tickets WHERE product = $1 AND status IN ({list})"
        )))
        .bind(product)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            rows.iter().map(ticket_from_row).collect::<Result<_>>()?,
            count(&total, "n")?,
        ))
    }

    /// The ticket a mail with these Message-IDs (its `In-Reply-To` and `References`)
    /// answers: the newest ticket event that carried one of them.
    pub async fn ticket_by_message_ids(&self, ids: &[String]) -> Result<Option<String>> {
        for id in ids.iter().rev() {
            let row = sqlx::query(
                "SELECT ticket FROM ticket_events WHERE message_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = row {
                return Ok(Some(r.try_get("ticket")?));
            }
        }
        Ok(None)
    }

    /// Whether a ticket event already carries this Message-ID (a mail delivered twice).
    pub async fn ticket_message_seen(&self, message_id: &str) -> Result<Option<String>> {
        self.ticket_by_message_ids(std::slice::from_ref(&message_id.to_owned()))
            .await
    }

    /// Tickets the app opened since `since`: the product's, and one install's.
    pub async fn app_tickets_since(
        &self,
        product: &str,
        install: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        let all = sqlx::query(
            "SELECT COUNT(*) AS n FROM tickets WHERE product = $1 AND source = 'app' \
             AND opened_at >= $2",
        )
        .bind(product)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        let one = sqlx::query(
            "SELECT COUNT(*) AS n FROM tickets WHERE install_id = $1 AND opened_at >= $2 \
             AND product = $3 AND source = 'app'",
        )
        .bind(install)
        .bind(ts(since))
        .bind(product)
        .fetch_one(&self.pool)
        .await?;
        Ok((count(&all, "n")?, count(&one, "n")?))
    }

    /// The ticket mirrored from `external_ref` (`zendesk:123`), if any.
    pub async fn ticket_by_external_ref(
        &self,
        product: &str,
        external_ref: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query("SELECT id FROM tickets WHERE product = $1 AND external_ref = $2")
            .bind(product)
            .bind(external_ref)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("id").map_err(DbError::from))
            .transpose()
    }

    /// A customer's tickets (by address), newest first.
    pub async fn tickets_of_customer(&self, email: &str) -> Result<Vec<TicketRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets WHERE customer_email = $1 \
             ORDER BY opened_at DESC"
        )))
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// How many tickets of the product name `release`.
    pub async fn release_ticket_count(&self, product: &str, release: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM tickets WHERE product = $1 AND release_version = $2",
        )
        .bind(product)
        .bind(release)
        .fetch_one(&self.pool)
        .await?;
        count(&row, "n")
    }

    /// The product's tickets about `release`, newest first (evidence for a rollback).
    pub async fn tickets_for_release(
        &self,
        product: &str,
        release: &str,
    ) -> Result<Vec<TicketRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets WHERE product = $1 AND release_version = $2 \
             ORDER BY opened_at DESC"
        )))
        .bind(product)
        .bind(release)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }
}

/// Which SLA report a ticket is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaReport {
    /// 75 % of the budget used.
    Warning,
    /// The first response is overdue.
    Breach,
}

impl Db {
    /// Unanswered tickets whose SLA `kind` came due by `now` and was not reported yet.
    pub async fn tickets_sla_due(
        &self,
        kind: SlaReport,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>> {
        let cond = match kind {
            SlaReport::Warning => {
                "warn_at <= $1 AND (sla_warned_for IS NULL OR sla_warned_for <> warn_at)"
            }
            SlaReport::Breach => {
                "due_at <= $1 AND (sla_breached_for IS NULL OR sla_breached_for <> due_at)"
            }
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS}, issue, issue_url FROM tickets WHERE {cond} ORDER BY due_at LIMIT $2"
        )))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// Marks ticket `id`'s SLA `kind` reported for its time `at` (its `warn_at` or
    /// `due_at`) and queues `notify` — once per time, and only if the ticket still has it:
    /// whether this call did it.
    pub async fn report_ticket_sla(
        &self,
        id: &str,
        kind: SlaReport,
        at: DateTime<Utc>,
        notify: &[NewNotification],
    ) -> Result<bool> {
        let (col, of) = match kind {
            SlaReport::Warning => ("sla_warned_for", "warn_at"),
            SlaReport::Breach => ("sla_breached_for", "due_at"),
        };
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tickets SET {col} = $1 WHERE id = $2 AND {of} = $1 \
             AND ({col} IS NULL OR {col} <> $1)"
        )))
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            insert_notifications(&mut tx, notify).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }
}

impl Db {
    /// Links ticket `id` to the engineering issue its escalation created, with a timeline
    /// event and an audit entry, in one transaction.
    pub async fn link_ticket_issue(
        &self,
        id: &str,
        issue: &str,
        url: Option<&str>,
        event: &NewTicketEvent,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE tickets SET issue = $1, issue_url = $2 WHERE id = $3")
            .bind(issue)
            .bind(url)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_events(
            &mut tx,
            (id, "", ""),
            chrono::Utc::now(),
            std::slice::from_ref(event),
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Db {
    /// Erases the personal data of tickets `ids` (a customer's, or closed ones past
    /// retention) in one transaction: the customer's address becomes `pseudonym`, name,
    /// subject and every message's text are removed, the search rows, attachment rows and
    /// the text of mail still in the outbox go. Audit entries hold no customer data and stay.
    /// Answers the attachments' digests no remaining ticket refers to and the ids of the
    /// log bundles attached to the tickets, whose rows went too (for the blob store).
    pub async fn erase_tickets(
        &self,
        ids: &[String],
        pseudonym: &str,
        audit: &AuditRecord,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut tx = self.begin_write().await?;
        let mut digests = Vec::new();
        let mut bundles = Vec::new();
        for id in ids {
            let rows = sqlx::query("SELECT id FROM log_bundles WHERE ticket = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            for r in &rows {
                bundles.push(r.try_get::<String, _>("id")?);
            }
            let rows = sqlx::query("SELECT sha256 FROM ticket_attachments WHERE ticket = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            for r in &rows {
                digests.push(r.try_get::<String, _>("sha256")?);
            }
            sqlx::query(
                "UPDATE tickets SET customer_email = $1, customer_name = NULL, \
                 subject = '[erased]', resolution = CASE WHEN resolution IS NULL THEN NULL \
                 ELSE '[erased]' END WHERE id = $2",
            )
            .bind(pseudonym)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE ticket_events SET body = CASE WHEN body IS NULL THEN NULL ELSE '[erased]' END, \
                 author = CASE WHEN author LIKE '%@%' THEN $1 ELSE author END, detail = '{}' \
                 WHERE ticket = $2 AND kind IN ('opened', 'customer', 'reply', 'note', 'status', 'confirmed', 'escalated')",
            )
            .bind(pseudonym)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for sql in [
                "DELETE FROM ticket_attachments WHERE ticket = $1",
                "DELETE FROM log_bundles WHERE ticket = $1",
                "DELETE FROM search_fts WHERE kind = 'ticket' AND ref = $1",
                "UPDATE notifications SET payload = '{}' WHERE reference = $1 AND kind = 'mail'",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
        }
        append_audit(&mut tx, audit).await?;
        let mut orphans = Vec::new();
        digests.sort();
        digests.dedup();
        for d in digests {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM ticket_attachments WHERE sha256 = $1")
                .bind(&d)
                .fetch_one(&mut *tx)
                .await?;
            if count(&row, "n")? == 0 {
                orphans.push(d);
            }
        }
        tx.commit().await?;
        Ok((orphans, bundles))
    }

    /// Closed tickets closed before `before` whose customer is not erased yet.
    pub async fn closed_tickets_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1 \
             AND customer_email NOT LIKE '%@erased.invalid' ORDER BY closed_at LIMIT $2",
        )
        .bind(ts(before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(DbError::from))
            .collect()
    }
}

/// A support lead's priority rule as stored (`phrase` in lower case).
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityRuleRecord {
    pub phrase: String,
    pub priority: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Db {
    /// The product's tickets being worked on (new, open, waiting on the customer,
    /// escalated), and how many of them are past their first-response time at `now`.
    pub async fn ticket_queue_figures(
        &self,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS open, \
             COALESCE(SUM(CASE WHEN due_at IS NOT NULL AND due_at <= $2 THEN 1 ELSE 0 END), 0) AS breached \
             FROM tickets WHERE product = $1 \
             AND status IN ('new', 'open', 'waiting_on_customer', 'escalated')",
        )
        .bind(product)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((count(&row, "open")?, count(&row, "breached")?))
    }

    /// The product's priority rules, by phrase.
    pub async fn priority_rules(&self, product: &str) -> Result<Vec<PriorityRuleRecord>> {
        let rows = sqlx::query(
            "SELECT phrase, priority, created_by, created_at FROM ticket_priority_rules \
             WHERE product = $1 ORDER BY phrase",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PriorityRuleRecord {
                    phrase: r.try_get("phrase")?,
                    priority: r.try_get("priority")?,
                    created_by: r.try_get("created_by")?,
                    created_at: parse(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Adds or replaces a rule; refused (conflict) when the product has `max` rules and this
    /// phrase is new.
    pub async fn put_priority_rule(
        &self,
        product: &str,
        rule: &PriorityRuleRecord,
        max: u64,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM ticket_priority_rules WHERE product = $1 AND phrase <> $2",
        )
        .bind(product)
        .bind(&rule.phrase)
        .fetch_one(&mut *tx)
        .await?;
        if count(&row, "n")? >= max {
            return Err(DbError::Conflict(format!(
                "{product} has {max} priority rules, the most it keeps: remove one first"
            )));
        }
        sqlx::query(
            "INSERT INTO ticket_priority_rules (product, phrase, priority, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product, phrase) DO UPDATE SET \
             priority = excluded.priority, created_by = excluded.created_by, \
             created_at = excluded.created_at",
        )
        .bind(product)
        .bind(&rule.phrase)
        .bind(&rule.priority)
        .bind(&rule.created_by)
        .bind(ts(rule.created_at))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a rule; false when there was none.
    pub async fn remove_priority_rule(
        &self,
        product: &str,
        phrase: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM ticket_priority_rules WHERE product = $1 AND phrase = $2")
            .bind(product)
            .bind(phrase)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            append_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}
