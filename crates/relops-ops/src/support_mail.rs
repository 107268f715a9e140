//! The desk's mail beyond one ticket (issue 25): major-incident mail-outs to the customers
//! of an affected release and to opted-in subscribers, the subscriber list, and what the
//! signed links in customer mail do — confirm a solution, unsubscribe from mail-outs.
//!
//! A mail-out is queued whole into the outbox (one message per recipient, each with its
//! own unsubscribe link), paced by `[support] mailout_per_minute` through the messages'
//! due times; the outbox worker sends them with retries and marks each sent, so a restart
//! neither loses nor repeats one. Running the same mail-out again reaches only those not
//! reached yet (new ticket customers, new subscribers).
//!
//! Links: a link's signature ([`crate::services::links`]) names what it does. Opening one
//! shows a page with a button; only the button's POST acts — mail scanners that fetch
//! every link in a mail do not confirm or unsubscribe anyone. The unsubscribe address also
//! takes RFC 8058's one-click POST that mail programs send for `List-Unsubscribe-Post`.

use chrono::{Duration, Utc};
use relops_api::{LinkOutcome, Mailout, StartMailout, Subscribe, Subscriber, SubscriberList};
use relops_core::access::Permission;
use relops_core::ticket::Status;
use relops_store::{MailoutRecord, NewTicketEvent, SubscriberRecord, TicketRecord};
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::customer_mail;
use crate::tickets::{MAX_BODY, bounded, customer_address, status_of};
use crate::{Actor, Authorized, Ops};

/// A dry run lists at most this many addresses.
const DRY_RUN_LIST: usize = 1000;

/// What a confirmation link's signature covers: the ticket and when it was solved.
fn confirm_fields(t: &TicketRecord) -> Option<[String; 2]> {
    t.solved_at
        .map(|at| [t.id.clone(), at.timestamp_micros().to_string()])
}

/// The actor a customer's signed link acts as; it names no address (the audit chain
/// outlives an erasure).
fn link_actor() -> Authorized {
    Authorized {
        name: "customer (signed link)".into(),
        request_id: None,
    }
}

impl Ops {
    /// The address customers reach this server at: `[support] public_url`, else
    /// `[ingest] public_url`.
    fn customer_base_url(&self) -> Option<String> {
        self.config
            .support
            .public_url
            .as_ref()
            .or(self.config.ingest.public_url.as_ref())
            .map(|u| u.trim_end_matches('/').to_owned())
    }

    /// The one-click confirmation link of `t`'s solution, when there is a public URL.
    pub(crate) fn confirmation_link(&self, t: &TicketRecord) -> Option<String> {
        let base = self.customer_base_url()?;
        let [id, at] = confirm_fields(t)?;
        let sig = self.link_key.sign("confirm", &[&id, &at]);
        Some(format!(
            "{base}/support/{}/confirm/{id}?sig={sig}",
            t.product
        ))
    }

    fn unsubscribe_link(&self, base: &str, product: &str, email: &str) -> OpResult<String> {
        let sig = self.link_key.sign("unsubscribe", &[product, email]);
        reqwest::Url::parse_with_params(
            &format!("{base}/support/{product}/unsubscribe"),
            &[("email", email), ("sig", sig.as_str())],
        )
        .map(String::from)
        .map_err(|e| OpError::Invalid(format!("public_url {base:?}: {e}")))
    }

    /// A ticket whose confirmation link `sig` is valid, or why not.
    async fn linked_ticket(&self, product: &str, id: &str, sig: &str) -> OpResult<TicketRecord> {
        let invalid = || {
            OpError::Refused(
                "This link is not valid any more: the request was reopened or solved again since. \
                 Please answer our latest mail instead."
                    .into(),
            )
        };
        let t = self.load_ticket(id).await.map_err(|_| invalid())?;
        if t.product != product {
            return Err(invalid());
        }
        let fields = confirm_fields(&t).ok_or_else(invalid)?;
        if !self
            .link_key
            .verify("confirm", &[&fields[0], &fields[1]], sig)
        {
            return Err(invalid());
        }
        Ok(t)
    }

    /// What the confirmation link would do (the page it opens).
    pub async fn confirmation(&self, product: &str, id: &str, sig: &str) -> OpResult<LinkOutcome> {
        let t = self.linked_ticket(product, id, sig).await?;
        let outcome = if t.confirmed_at.is_some() {
            "done_before"
        } else {
            "ready"
        };
        Ok(LinkOutcome {
            target: t.id,
            about: t.subject,
            outcome: outcome.into(),
        })
    }

    /// The customer confirms the solution by the link in its mail.
    pub async fn confirm_by_link(
        &self,
        product: &str,
        id: &str,
        sig: &str,
    ) -> OpResult<LinkOutcome> {
        let before = self.linked_ticket(product, id, sig).await?;
        let done = |t: &TicketRecord, outcome: &str| LinkOutcome {
            target: t.id.clone(),
            about: t.subject.clone(),
            outcome: outcome.into(),
        };
        if before.confirmed_at.is_some() {
            return Ok(done(&before, "done_before"));
        }
        if status_of(&before)? != Status::Solved {
            return Err(OpError::Refused(format!(
                "Request {} is not waiting for your confirmation any more. Please answer our latest mail instead.",
                before.id
            )));
        }
        let mut t = before.clone();
        t.confirmed_at = Some(Utc::now());
        t.confirmed_how = Some("the customer confirmed by the link in the solution's mail".into());
        let event = NewTicketEvent {
            kind: "confirmed".into(),
            author: before.customer_email.clone(),
            detail: json!({"how": "link"}),
            ..Default::default()
        };
        let after = self
            .save_ticket(
                &link_actor(),
                &before,
                t,
                &[],
                &[event],
                ("ticket.confirmed", json!({"how": "link"})),
            )
            .await?;
        Ok(LinkOutcome {
            target: after.id,
            about: after.subject,
            outcome: "done".into(),
        })
    }

    /// What the unsubscribe link would do (the page it opens).
    pub async fn unsubscription(
        &self,
        product: &str,
        email: &str,
        sig: &str,
    ) -> OpResult<LinkOutcome> {
        self.check_unsubscribe(product, email, sig)?;
        let gone = self
            .db
            .subscriber(product, email)
            .await?
            .is_some_and(|s| s.unsubscribed_at.is_some());
        Ok(LinkOutcome {
            target: product.to_owned(),
            about: email.to_owned(),
            outcome: if gone { "done_before" } else { "ready" }.into(),
        })
    }

    fn check_unsubscribe(&self, product: &str, email: &str, sig: &str) -> OpResult<()> {
        if !self.config.products.iter().any(|p| p == product)
            || !self.link_key.verify("unsubscribe", &[product, email], sig)
        {
            return Err(OpError::Refused(
                "This unsubscribe link is not valid: use the link of the mail exactly as it came."
                    .into(),
            ));
        }
        Ok(())
    }

    /// Opts `email` out of `product`'s mail-outs (the link's button, or a mail program's
    /// one-click POST).
    pub async fn unsubscribe(
        &self,
        product: &str,
        email: &str,
        sig: &str,
    ) -> OpResult<LinkOutcome> {
        self.check_unsubscribe(product, email, sig)?;
        let audit = link_actor().audit(
            "support.unsubscribed",
            format!("subscribers/{product}"),
            json!({}),
        );
        let done = self
            .db
            .unsubscribe(product, email, Utc::now(), &audit)
            .await?;
        Ok(LinkOutcome {
            target: product.to_owned(),
            about: email.to_owned(),
            outcome: if done { "done" } else { "done_before" }.into(),
        })
    }

    /// Records a customer's opt-in to the product's incident mail.
    pub async fn subscribe(
        &self,
        actor: &Actor,
        product: &str,
        req: Subscribe,
    ) -> OpResult<Subscriber> {
        let who = actor.authorize(Permission::TicketWork)?;
        let email = customer_address(&req.email)?;
        let consent = bounded("the consent (how they opted in)", &req.consent, 300)?;
        let name = req
            .name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(|n| bounded("the name", n, 200))
            .transpose()?;
        let s = SubscriberRecord {
            product: product.to_owned(),
            email,
            name,
            subscribed_at: Some(Utc::now()),
            consent: Some(consent),
            subscribed_by: Some(who.name.clone()),
            unsubscribed_at: None,
        };
        // The audit entry names no address: it outlives an erasure.
        let audit = who.audit(
            "support.subscribed",
            format!("subscribers/{product}"),
            json!({}),
        );
        self.db.subscribe(&s, &audit).await?;
        Ok(subscriber(s))
    }

    /// The product's subscribers and opt-outs.
    pub async fn subscribers(&self, actor: &Actor, product: &str) -> OpResult<SubscriberList> {
        actor.authorize(Permission::TicketRead)?;
        Ok(SubscriberList {
            product: product.to_owned(),
            subscribers: self
                .db
                .subscribers(product)
                .await?
                .into_iter()
                .map(subscriber)
                .collect(),
        })
    }

    /// Starts (or continues) a major-incident mail-out; a dry run only counts and lists.
    pub async fn start_mailout(&self, actor: &Actor, req: StartMailout) -> OpResult<Mailout> {
        let who = actor.authorize(Permission::TicketLead)?;
        let inc_id = req.incident.trim().to_ascii_uppercase();
        let inc = self.db.incident(&inc_id).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "no incident {inc_id}: `relops incident list` shows them"
            ))
        })?;
        let version = inc.version.to_string();
        let body = bounded("the message", &req.body, MAX_BODY)?;
        let subject = match req.subject.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => bounded("the subject", s, 200)?,
            None => format!("{} {version}: {}", inc.product, inc.summary)
                .chars()
                .take(200)
                .collect(),
        };
        if self.config.support.smtp_url.is_none() && !req.dry_run {
            return Err(OpError::Refused(
                "no [support] smtp_url is configured: a mail-out needs an SMTP server to send through (docs/support.md)".into(),
            ));
        }
        let Some(base) = self.customer_base_url() else {
            return Err(OpError::Refused(
                "no [support] public_url (or [ingest] public_url) is configured: every mail-out carries an unsubscribe link to this server".into(),
            ));
        };
        let existing = self.db.mailout_by_subject(&inc.id, &subject).await?;
        let id = match &existing {
            Some(m) => m.id.clone(),
            None => format!(
                "{}.{}",
                inc.id,
                self.db.mailouts_of_incident(&inc.id).await?.len() + 1
            ),
        };
        let audience = self
            .db
            .mailout_audience(&inc.product, &version, &inc.id)
            .await?;
        let reached: std::collections::HashSet<String> = match &existing {
            Some(m) => self
                .db
                .mailout_recipients(&m.id)
                .await?
                .into_iter()
                .collect(),
            None => Default::default(),
        };
        let new: Vec<&String> = audience.iter().filter(|e| !reached.contains(*e)).collect();
        let mut out = mailout_of(
            if existing.is_some() || !req.dry_run {
                id.clone()
            } else {
                String::new()
            },
            (&inc.id, &inc.product, &version),
            subject.clone(),
            audience.len(),
        );
        out.dry_run = req.dry_run;
        if req.dry_run {
            out.would_reach = new
                .iter()
                .take(DRY_RUN_LIST)
                .map(|e| (*e).clone())
                .collect();
            return self.with_progress(out).await;
        }
        if let Some(m) = &existing
            && m.body != body
        {
            return Err(OpError::Conflict(format!(
                "mail-out {} (\"{subject}\") already went out with another text: give the update a subject of its own (--subject)",
                m.id
            )));
        }
        let now = Utc::now();
        let pace =
            Duration::milliseconds(60_000 / i64::from(self.config.support.mailout_per_minute));
        let mut slot = self
            .db
            .last_mailout_slot()
            .await?
            .map_or(now, |last| (last + pace).max(now));
        let mut mails = Vec::with_capacity(new.len());
        for email in new {
            let link = self.unsubscribe_link(&base, &inc.product, email)?;
            let n = customer_mail::mailout_message(
                &self.config.support,
                (&inc.product, &version, &id),
                email,
                &subject,
                &body,
                &link,
            )
            .map_err(|e| OpError::Invalid(format!("{email}: {e}")))?;
            mails.push((email.clone(), n, slot));
            slot += pace;
        }
        let record = MailoutRecord {
            id: id.clone(),
            incident: inc.id.clone(),
            product: inc.product.clone(),
            version: version.clone(),
            subject: subject.clone(),
            body,
            created_by: who.name.clone(),
            created_at: now,
        };
        let audit = who.audit(
            "support.mailout",
            id.clone(),
            json!({"incident": inc.id, "subject": subject, "recipients": mails.len()}),
        );
        let queued = self
            .db
            .queue_mailout(&record, &mails, &audit)
            .await
            .map_err(|e| match e {
                relops_store::DbError::Conflict(m) => OpError::Conflict(m),
                e => e.into(),
            })?;
        if queued > 0 {
            self.outbox.notify_one();
        }
        out.newly_queued = queued;
        self.with_progress(out).await
    }

    /// A mail-out and how far its delivery is.
    pub async fn mailout(&self, actor: &Actor, id: &str) -> OpResult<Mailout> {
        actor.authorize(Permission::TicketRead)?;
        let id = id.trim().to_ascii_uppercase();
        let m = self.db.mailout(&id).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "no mail-out {id}: `relops incident show INC-n` lists an incident's mail-outs"
            ))
        })?;
        let audience = self
            .db
            .mailout_audience(&m.product, &m.version, &m.incident)
            .await?;
        self.with_progress(mailout_of(
            m.id,
            (&m.incident, &m.product, &m.version),
            m.subject,
            audience.len(),
        ))
        .await
    }

    async fn with_progress(&self, mut m: Mailout) -> OpResult<Mailout> {
        if m.id.is_empty() {
            return Ok(m);
        }
        let p = self.db.mailout_progress(&m.id).await?;
        m.queued = p.queued;
        m.sent = p.sent;
        m.failing = p.failing;
        m.last_error = p.last_error;
        m.done_by = if p.sent < p.queued {
            self.db.last_mailout_slot().await?
        } else {
            None
        };
        Ok(m)
    }
}

/// A mail-out's answer before its delivery figures are read.
fn mailout_of(
    id: String,
    (incident, product, release): (&str, &str, &str),
    subject: String,
    audience: usize,
) -> Mailout {
    Mailout {
        id,
        incident: incident.to_owned(),
        product: product.to_owned(),
        release: release.to_owned(),
        subject,
        dry_run: false,
        audience: audience as u64,
        newly_queued: 0,
        queued: 0,
        sent: 0,
        failing: 0,
        last_error: None,
        would_reach: Vec::new(),
        done_by: None,
    }
}

fn subscriber(s: SubscriberRecord) -> Subscriber {
    Subscriber {
        email: s.email,
        name: s.name,
        subscribed_at: s.subscribed_at,
        consent: s.consent,
        unsubscribed_at: s.unsubscribed_at,
    }
}
