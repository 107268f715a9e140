//! Customers' mail to the support desk (issue 25): `POST /v1/tickets/mail` takes one RFC
//! 5322 message — from `relops ticket mail-in`, the pipe an MTA calls (the `rt-mailgate`
//! pattern) — and answers only once what it did is committed.
//!
//! - A message over `[support] max_message_bytes`, or one that is not mail, is refused
//!   (413, 422) with a reason the MTA puts in its bounce; nothing is stored.
//! - An automatic message (auto-reply, bulk) is ignored: answering it could loop.
//! - A message already taken (its Message-ID, or its digest) answers `duplicate`: an MTA
//!   that retries after a lost answer does not make a second ticket.
//! - `[WIZ-12]` in the subject, or `In-Reply-To`/`References` naming a mail of a ticket,
//!   threads it into that ticket: a waiting ticket goes back to work, a closed one reopens
//!   (or, closed longer than `[support] reopen_days`, gets a follow-up ticket), and to a
//!   solved one the reply is the customer's confirmation. Mail from another address than
//!   the ticket's customer is kept on the ticket but changes nothing.
//! - Anything else opens a ticket with the priority rules and its SLA.
//!
//! Attachments are stored sealed, content-addressed (`attachments/sealed/{hex}`, see
//! [`crate::attachments`]) before the
//! database commit that lists them, so a listed attachment always exists; one stored by an
//! attempt that then failed is found again by the retry.

use bytes::Bytes;
use chrono::{Duration, Utc};
use relops_api::{MailTaken, OpenTicket};
use relops_core::access::Permission;
use relops_core::mail::{self, InboundMail};
use relops_core::ticket::Status;
use relops_store::{AttachmentRecord, NewTicketEvent};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::tickets::{Intake, status_of, ticket_prefix};
use crate::{Actor, Authorized, Ops};

fn taken(ticket: Option<String>, action: &str, reason: Option<String>) -> MailTaken {
    MailTaken {
        ticket,
        action: action.to_owned(),
        reason,
    }
}

impl Ops {
    /// Why a message of `size` bytes (unknown: larger than the limit) is refused: the
    /// bounce reason.
    pub fn mail_too_large(&self, size: Option<u64>) -> OpError {
        let limit = self.config.support.max_message_bytes;
        let mib = |n: u64| n as f64 / 1_048_576.0;
        OpError::TooLarge(format!(
            "the message is {}, over the support desk's limit of {:.1} MiB ([support] max_message_bytes): send large files as a download link",
            size.map(|s| format!("{:.1} MiB", mib(s)))
                .unwrap_or_else(|| "larger".into()),
            mib(limit)
        ))
    }

    /// Takes one customer mail for `product` (see the module's documentation).
    pub async fn take_mail(&self, actor: &Actor, product: &str, raw: Bytes) -> OpResult<MailTaken> {
        let who = actor.authorize(Permission::TicketWork)?;
        if raw.len() as u64 > self.config.support.max_message_bytes {
            return Err(self.mail_too_large(Some(raw.len() as u64)));
        }
        let m = mail::parse(&raw).map_err(|e| OpError::Unreadable(e.to_string()))?;
        if let Some(why) = &m.automatic {
            tracing::info!(message_id = %m.message_id, reason = %why, "automatic mail ignored");
            return Ok(taken(
                None,
                "ignored",
                Some(format!(
                    "an automatic message ({why}): the desk does not answer it"
                )),
            ));
        }
        if let Some(t) = self.db.ticket_message_seen(&m.message_id).await? {
            return Ok(taken(Some(t), "duplicate", None));
        }
        let attachments = self.store_attachments(&m).await?;
        match self.take_mail_once(&who, product, &m, attachments).await {
            // Delivered twice at once: the other delivery's commit won.
            Err(OpError::Conflict(_)) => match self.db.ticket_message_seen(&m.message_id).await? {
                Some(t) => Ok(taken(Some(t), "duplicate", None)),
                None => Err(OpError::Conflict(
                    "the ticket changed while the mail was taken: deliver it again".into(),
                )),
            },
            r => r,
        }
    }

    async fn store_attachments(&self, m: &InboundMail) -> OpResult<Vec<AttachmentRecord>> {
        let mut out = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            let hex = hex::encode(Sha256::digest(&a.bytes));
            self.store_sealed_attachment(&hex, &a.bytes).await?;
            out.push(AttachmentRecord {
                event_seq: 0,
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.bytes.len() as u64,
                sha256: hex,
            });
        }
        Ok(out)
    }

    /// The ticket `m` answers, if any: the one its subject names (of this product), else
    /// the one holding a mail it refers to.
    async fn thread_of(&self, product: &str, m: &InboundMail) -> OpResult<Option<String>> {
        if let Some(r) = &m.ticket_ref
            && r.starts_with(&format!("{}-", ticket_prefix(product)))
            && self
                .db
                .ticket(r)
                .await?
                .is_some_and(|t| t.product == product)
        {
            return Ok(Some(r.clone()));
        }
        if let Some(id) = self.db.ticket_by_message_ids(&m.thread_ids).await?
            && self
                .db
                .ticket(&id)
                .await?
                .is_some_and(|t| t.product == product)
        {
            return Ok(Some(id));
        }
        Ok(None)
    }

    async fn take_mail_once(
        &self,
        who: &Authorized,
        product: &str,
        m: &InboundMail,
        attachments: Vec<AttachmentRecord>,
    ) -> OpResult<MailTaken> {
        let intake = |follow_up_of: Option<String>| Intake {
            message_id: Some(m.message_id.clone()),
            follow_up_of,
            attachments: attachments.clone(),
            ..Intake::from("mail", m.from.clone())
        };
        let open = OpenTicket {
            subject: m.subject.clone(),
            customer: m.from.clone(),
            customer_name: m.from_name.clone(),
            priority: None,
            body: Some(m.text.clone()).filter(|t| !t.is_empty()),
            release: None,
            platform: None,
            install: None,
            crashes: Vec::new(),
        };
        let Some(id) = self.thread_of(product, m).await? else {
            let t = self
                .open_ticket_as(who, product, open, intake(None))
                .await?;
            return Ok(taken(Some(t.id), "opened", None));
        };
        let before = self.load_ticket(&id).await?;
        let now = Utc::now();
        let from_customer = before.customer_email == m.from;
        let status = status_of(&before)?;
        if status == Status::Closed
            && from_customer
            && before
                .closed_at
                .is_some_and(|c| now - c > Duration::days(self.config.support.reopen_days.into()))
        {
            let t = self
                .open_ticket_as(who, product, open, intake(Some(id.clone())))
                .await?;
            return Ok(taken(
                Some(t.id),
                "follow_up",
                Some(format!(
                    "{id} was closed more than {} days ago",
                    self.config.support.reopen_days
                )),
            ));
        }
        let mut t = before.clone();
        let action = if !from_customer {
            "replied"
        } else {
            match status {
                Status::Solved => {
                    t.confirmed_at = Some(now);
                    t.confirmed_how = Some("the customer replied to the solution".into());
                    "replied"
                }
                s => {
                    let to = s.on_customer_reply();
                    if to != s {
                        Self::set_status(&mut t, to, now);
                    }
                    if s == Status::Closed {
                        "reopened"
                    } else {
                        "replied"
                    }
                }
            }
        };
        let event = NewTicketEvent {
            kind: "customer".into(),
            author: m.from.clone(),
            body: Some(m.text.clone()),
            message_id: Some(m.message_id.clone()),
            detail: json!({"subject": m.subject, "other_sender": !from_customer,
                           "status": {"from": before.status, "to": t.status}}),
            attachments,
            ..Default::default()
        };
        self.save_ticket(
            who,
            &before,
            t,
            &[],
            &[event],
            (
                "ticket.customer_wrote",
                json!({"via": "mail", "other_sender": !from_customer, "action": action}),
            ),
        )
        .await?;
        Ok(taken(Some(id), action, None))
    }
}
