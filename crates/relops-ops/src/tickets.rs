//! The support desk's tickets (issue 25, R-CR-6): open, the queue, show, reply, note,
//! assign, priority, link, solve, confirm, close, reopen. Each is one transaction with its
//! timeline event and audit entry; audit entries name the ticket and what changed, never
//! the customer's address or words (so erasing a customer leaves the chain verifiable).
//!
//! The SLA (time to first response) is [`relops_core::sla`]'s clock on `[support]`'s
//! settings; a ticket stores when its first response is due so that the queue is one
//! indexed query. A public reply is the first response; while a ticket waits on the
//! customer its clock stands. Closing follows [`relops_core::ticket::close_refusal`].

use chrono::{DateTime, Utc};
use relops_api::{
    OpenTicket, Ticket, TicketAnalysis, TicketAssign, TicketAttachment, TicketConfirm,
    TicketEscalate, TicketEvent, TicketLink, TicketList, TicketMessage, TicketPriority,
    TicketReopen, TicketSla, TicketSolve,
};
use relops_core::access::Permission;
use relops_core::sla::{self, Coverage, Priority};
use relops_core::ticket::{CloseFacts, Status, close_refusal, default_priority};
use relops_store::{NewTicketEvent, SlaReport, TicketRecord};
use serde_json::{Value, json};

use crate::error::{OpError, OpResult};
use crate::services::notify::Notice;
use crate::services::{customer_mail, trackers};
use crate::{Actor, Authorized, Ops};

/// How a ticket came in.
pub(crate) struct Intake {
    /// `api`, `mail`, `zendesk` or `app`.
    pub source: &'static str,
    /// The first message's author: the person at the API, or the customer's address.
    pub author: String,
    /// The mail it came from.
    pub message_id: Option<String>,
    /// The closed ticket it continues.
    pub follow_up_of: Option<String>,
    pub attachments: Vec<relops_store::AttachmentRecord>,
    /// The ticket in the system it came from (`zendesk:123`).
    pub external_ref: Option<String>,
    /// Messages to send when the ticket is opened, given its id (Zendesk's note back);
    /// written in the same transaction.
    pub tell: Option<Tell>,
}

/// Messages about a ticket, made once its id is known.
pub(crate) type Tell = Box<dyn FnOnce(&str) -> Vec<relops_store::NewNotification> + Send>;

impl Intake {
    /// A ticket from `source`, by `author`, with nothing else.
    pub(crate) fn from(source: &'static str, author: String) -> Self {
        Self {
            source,
            author,
            message_id: None,
            follow_up_of: None,
            attachments: Vec::new(),
            external_ref: None,
            tell: None,
        }
    }

    fn person(who: &Authorized) -> Self {
        Self::from("api", who.name.clone())
    }
}

/// Longest subject, name, resolution and message body taken (characters).
const MAX_SUBJECT: usize = 300;
const MAX_NAME: usize = 200;
pub(crate) const MAX_BODY: usize = 100_000;
/// Most crash ids linked at once.
const MAX_CRASHES: usize = 50;

/// The ticket-id prefix of a product: its first three letters or digits, upper-cased
/// (`wizard` → `WIZ`), so that a mail subject's `[WIZ-12]` names the ticket.
pub(crate) fn ticket_prefix(product: &str) -> String {
    product
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// A plausible e-mail address, lower-cased: `local@domain`, no spaces or angle brackets,
/// at most 254 bytes (RFC 5321's limit).
pub(crate) fn customer_address(s: &str) -> OpResult<String> {
    let s = s.trim();
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && s.matches('@').count() == 1
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if !ok {
        return Err(OpError::Invalid(format!(
            "customer `{}` is not an e-mail address (name@example.com)",
            s.chars().take(80).collect::<String>()
        )));
    }
    Ok(s.to_lowercase())
}

/// Trims `s` and refuses it when empty or longer than `max` characters.
pub(crate) fn bounded(what: &str, s: &str, max: usize) -> OpResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(OpError::Invalid(format!("{what} is empty")));
    }
    if t.chars().count() > max {
        return Err(OpError::TooLarge(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(relops_core::text::nfc(t))
}

pub(crate) fn status_of(t: &TicketRecord) -> OpResult<Status> {
    t.status
        .parse()
        .map_err(|e: String| OpError::Internal(anyhow::anyhow!("ticket {}: {e}", t.id)))
}

fn priority_of(t: &TicketRecord) -> OpResult<Priority> {
    t.priority
        .parse()
        .map_err(|e: String| OpError::Internal(anyhow::anyhow!("ticket {}: {e}", t.id)))
}

fn parse_priority(s: &str) -> OpResult<Priority> {
    s.parse().map_err(OpError::Invalid)
}

fn crash_id(s: &str) -> OpResult<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(OpError::Invalid(format!(
            "crash id `{}` is not one (`relops crash list` shows them)",
            s.chars().take(80).collect::<String>()
        )));
    }
    // Crash ids are stored as the ingest writes them (32 hex digits, no dashes).
    Ok(relops_ingest::envelope::normalize_uuid(s).unwrap_or_else(|| s.to_ascii_lowercase()))
}

impl Ops {
    /// Sets when `t`'s first response is due (the queue's order) and when 75 % of its budget
    /// is used (the warning): both `None` once answered or while waiting. The warning time
    /// is the due time of the same clock with three quarters of the budget, so it stays the
    /// same instant however often it is computed.
    pub(crate) fn set_due_times(&self, t: &mut TicketRecord, now: DateTime<Utc>) -> OpResult<()> {
        let p = priority_of(t)?;
        t.due_at = self
            .sla
            .assess(p, t.opened_at, &t.pauses, t.first_response_at, now)
            .due;
        let mut three_quarters = self.sla.clone();
        let target = match p {
            Priority::Critical => &mut three_quarters.critical,
            Priority::High => &mut three_quarters.high,
            Priority::Normal => &mut three_quarters.normal,
        };
        target.budget = target.budget * sla::WARN_AT_PERCENT as i32 / 100;
        t.warn_at = t.due_at.and(
            three_quarters
                .assess(p, t.opened_at, &t.pauses, t.first_response_at, now)
                .due,
        );
        Ok(())
    }

    fn close_facts(&self, t: &TicketRecord) -> OpResult<CloseFacts> {
        Ok(CloseFacts {
            status_solved: status_of(t)? == Status::Solved,
            cause_or_workaround: t.resolution.is_some(),
            known_issue_linked: t.known_issue.is_some(),
            customer_confirmed: t.confirmed_at.is_some(),
        })
    }

    /// The API view of a stored ticket; `full` adds crashes and the timeline.
    pub(crate) async fn ticket_view(&self, t: TicketRecord, full: bool) -> OpResult<Ticket> {
        let now = Utc::now();
        let p = priority_of(&t)?;
        let status = status_of(&t)?;
        let s = self
            .sla
            .assess(p, t.opened_at, &t.pauses, t.first_response_at, now);
        let (crashes, timeline, log_bundles) = if full {
            let attachments = self.db.ticket_attachments(&t.id).await?;
            let events = self.db.ticket_events(&t.id).await?;
            let timeline = events
                .into_iter()
                .map(|e| TicketEvent {
                    attachments: attachments
                        .iter()
                        .filter(|a| a.event_seq == e.seq)
                        .map(|a| TicketAttachment {
                            name: a.name.clone(),
                            content_type: a.content_type.clone(),
                            size: a.size,
                            sha256: a.sha256.clone(),
                        })
                        .collect(),
                    at: e.at,
                    kind: e.kind,
                    author: e.author,
                    body: e.body,
                    detail: e.detail,
                })
                .collect();
            (
                self.db.ticket_crashes(&t.id).await?,
                timeline,
                self.ticket_log_bundles(&t.id).await?,
            )
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let analysis = if full {
            Some(self.ticket_analysis(&t, &crashes).await?)
        } else {
            None
        };
        let mut close_blockers = Vec::new();
        if status != Status::Closed
            && let Some(why) = close_refusal(&self.close_facts(&t)?)
        {
            close_blockers = why
                .trim_start_matches("the ticket cannot close: ")
                .split("; ")
                .map(str::to_owned)
                .collect();
        }
        Ok(Ticket {
            id: t.id,
            product: t.product,
            subject: t.subject,
            customer: t.customer_email,
            customer_name: t.customer_name,
            priority: t.priority,
            priority_reason: t.priority_reason,
            status: t.status,
            assignee: t.assignee,
            release: t.release,
            platform: t.platform,
            install: t.install_id,
            crashes,
            log_bundles,
            incident: t.incident,
            known_issue: t.known_issue,
            issue: t.issue,
            issue_url: t.issue_url,
            resolution: t.resolution,
            confirmed: t.confirmed_how,
            source: t.source,
            follow_up_of: t.follow_up_of,
            opened_at: t.opened_at,
            first_response_at: t.first_response_at,
            first_response_due: s.due,
            sla: TicketSla {
                due: s.due,
                used_minutes: s.used.num_minutes(),
                budget_minutes: s.budget.num_minutes(),
                clock: match self.sla.target(p).coverage {
                    Coverage::AroundTheClock => "around_the_clock",
                    Coverage::WorkingHours => "working_hours",
                }
                .into(),
                running: t.first_response_at.is_none() && status.clock_runs(),
                warn: s.warn,
                breached: s.breached,
            },
            solved_at: t.solved_at,
            closed_at: t.closed_at,
            updated_at: t.updated_at,
            timeline,
            close_blockers,
            analysis,
        })
    }

    /// What relops knows around ticket `t`: its crashes, its install's, its release's
    /// health and open alerts, and how many tickets name the release.
    async fn ticket_analysis(
        &self,
        t: &TicketRecord,
        crash_ids: &[String],
    ) -> OpResult<TicketAnalysis> {
        let mut named = Vec::new();
        for id in crash_ids {
            if let Some(c) = self.db.crash(&t.product, id).await? {
                named.push(c);
            }
        }
        let crashes = self.crash_views(&t.product, &named, true).await?;
        let install_crashes = match &t.install_id {
            Some(i) => {
                let list = self.db.install_crashes(&t.product, i, 20).await?;
                self.crash_views(&t.product, &list, false).await?
            }
            None => Vec::new(),
        };
        let release = t
            .release
            .clone()
            .or_else(|| {
                crashes
                    .first()
                    .map(|c: &relops_api::CrashReport| c.release.clone())
            })
            .or_else(|| {
                install_crashes
                    .first()
                    .map(|c: &relops_api::CrashReport| c.release.clone())
            });
        let (release_health, open_alerts, release_tickets) = match &release {
            Some(r) => {
                let alerts = self
                    .db
                    .open_alerts()
                    .await?
                    .into_iter()
                    .filter(|a| a.product == t.product && &a.release == r)
                    .map(crate::alerts::alert)
                    .collect();
                (
                    Some(self.health_of(&t.product, r).await?),
                    alerts,
                    self.db.release_ticket_count(&t.product, r).await?,
                )
            }
            None => (None, Vec::new(), 0),
        };
        let fingerprints: Vec<&str> = crashes
            .iter()
            .chain(&install_crashes)
            .filter_map(|c| c.critical.as_deref())
            .collect();
        let known_issues = if fingerprints.is_empty() {
            Vec::new()
        } else {
            self.db
                .kb_articles(&t.product, true)
                .await?
                .into_iter()
                .filter(|a| {
                    a.kind == "known_issue"
                        && a.fingerprint
                            .as_deref()
                            .is_some_and(|f| fingerprints.contains(&f))
                })
                .map(crate::kb::view)
                .collect()
        };
        let articles = self
            .search_as(&t.product, &t.subject, &["published"], 5)
            .await?;
        let crash_groups = match &release {
            Some(r) => {
                self.groups_of(&t.product, r, crate::crash_analysis::EVIDENCE_GROUPS)
                    .await?
                    .groups
            }
            None => Vec::new(),
        };
        Ok(TicketAnalysis {
            crash_groups,
            crashes,
            install_crashes,
            release_health,
            open_alerts,
            release_tickets,
            known_issues,
            articles,
        })
    }

    pub(crate) async fn load_ticket(&self, id: &str) -> OpResult<TicketRecord> {
        let id = id.trim().to_ascii_uppercase();
        self.db.ticket(&id).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "no ticket {id}: `relops ticket list` shows the queue"
            ))
        })
    }

    /// Whether one of `crashes` (of `product`) belongs to an open critical-failure alert.
    async fn crash_in_critical_alert(&self, product: &str, crashes: &[String]) -> OpResult<bool> {
        if crashes.is_empty() {
            return Ok(false);
        }
        let alerts = self.db.open_alerts().await?;
        for c in crashes {
            if let Some(r) = self.db.crash(product, c).await?
                && r.critical.is_some()
                && alerts.iter().any(|a| {
                    a.product == product && a.release == r.release && a.rule == "critical_failure"
                })
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Opens a ticket from `req` (by a person, or by an intake path naming its `source`).
    pub async fn open_ticket(
        &self,
        actor: &Actor,
        product: &str,
        req: OpenTicket,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let t = self
            .open_ticket_as(&who, product, req, Intake::person(&who))
            .await?;
        self.ticket_view(t, true).await
    }

    /// Opens a ticket: checks and bounds every field, chooses the priority, computes the
    /// due time, writes row, first message and audit entry.
    pub(crate) async fn open_ticket_as(
        &self,
        who: &Authorized,
        product: &str,
        req: OpenTicket,
        intake: Intake,
    ) -> OpResult<TicketRecord> {
        let Intake {
            source,
            author,
            message_id,
            follow_up_of,
            attachments,
            external_ref,
            tell,
        } = intake;
        let subject = bounded("the subject", &req.subject, MAX_SUBJECT)?;
        let customer = customer_address(&req.customer)?;
        let customer_name = req
            .customer_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(|n| bounded("the customer's name", n, MAX_NAME))
            .transpose()?;
        let body = req
            .body
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| bounded("the message", b, MAX_BODY))
            .transpose()?;
        if req.crashes.len() > MAX_CRASHES {
            return Err(OpError::TooLarge(format!(
                "{} crash ids: link at most {MAX_CRASHES} at once",
                req.crashes.len()
            )));
        }
        let mut crashes = req
            .crashes
            .iter()
            .map(|c| crash_id(c))
            .collect::<OpResult<Vec<_>>>()?;
        crashes.sort();
        crashes.dedup();
        if let Some(v) = &req.release {
            self.load_release(product, v).await?;
        }
        let platform = req
            .platform
            .as_deref()
            .map(|p| {
                p.parse::<relops_core::platform::Platform>()
                    .map(|p| p.as_str().to_owned())
                    .map_err(|e| OpError::Invalid(format!("--platform: {e}")))
            })
            .transpose()?;
        let install = req
            .install
            .as_deref()
            .map(|i| bounded("the install id", i, 128))
            .transpose()?;
        let asked = req.priority.as_deref().map(parse_priority).transpose()?;
        let critical_alert = self.crash_in_critical_alert(product, &crashes).await?;
        let text = format!("{subject}\n{}", body.as_deref().unwrap_or(""));
        let rules = self.ticket_rules(product).await?;
        let (priority, reason) = default_priority(asked, &text, critical_alert, &rules);
        let now = Utc::now();
        let mut t = TicketRecord {
            id: String::new(),
            product: product.to_owned(),
            subject,
            customer_email: customer,
            customer_name,
            priority: priority.as_str().to_owned(),
            priority_reason: reason.clone(),
            status: Status::New.as_str().to_owned(),
            assignee: None,
            release: req.release.map(|v| v.to_string()),
            platform,
            install_id: install,
            incident: None,
            known_issue: None,
            resolution: None,
            confirmed_at: None,
            confirmed_how: None,
            source: source.to_owned(),
            external_ref,
            follow_up_of: follow_up_of.clone(),
            pauses: Vec::new(),
            opened_at: now,
            first_response_at: None,
            solved_at: None,
            closed_at: None,
            updated_at: now,
            due_at: None,
            warn_at: None,
            issue: None,
            issue_url: None,
        };
        self.set_due_times(&mut t, now)?;
        let event = NewTicketEvent {
            kind: "opened".into(),
            author,
            body,
            message_id,
            detail: json!({"source": source, "priority": priority.as_str(), "priority_reason": reason}),
            attachments,
            ..Default::default()
        };
        let prefix = ticket_prefix(product);
        let notify_cfg = self.config.notify.clone();
        let (release, pr) = (t.release.clone(), t.priority.clone());
        let id = self
            .db
            .open_ticket(&prefix, &t, &crashes, std::slice::from_ref(&event), |id| {
                let audit = who.audit(
                    "ticket.opened",
                    id.to_owned(),
                    json!({"product": product, "priority": pr, "priority_reason": reason,
                           "source": source, "release": release, "crashes": crashes,
                           "follow_up_of": follow_up_of}),
                );
                // A critical ticket is told to the support channel at once.
                let mut notify = if priority == Priority::Critical {
                    Notice {
                        event: "ticket.critical".into(),
                        product: product.to_owned(),
                        version: release.clone().unwrap_or_default(),
                        text: format!(
                            "{product}: CRITICAL support ticket {id}{}: first response due within {} h. `relops ticket show {id}`",
                            reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                            self.config.support.critical_hours
                        ),
                        page: None,
                        details: json!({"ticket": id, "priority": "critical"}),
                        at: now,
                    }
                    .messages(&notify_cfg)
                } else {
                    Vec::new()
                };
                if let Some(tell) = tell {
                    notify.extend(tell(id));
                }
                (audit, notify)
            })
            .await?;
        self.outbox.notify_one();
        t.id = id;
        Ok(t)
    }

    /// The queue of `product`: tickets in `statuses` (default: all not closed), the first
    /// response due soonest first.
    pub async fn tickets(
        &self,
        actor: &Actor,
        product: &str,
        statuses: &[String],
        limit: u32,
    ) -> OpResult<TicketList> {
        actor.authorize(Permission::TicketRead)?;
        let wanted: Vec<Status> = if statuses.is_empty() {
            Status::ALL
                .into_iter()
                .filter(|s| *s != Status::Closed)
                .collect()
        } else {
            statuses
                .iter()
                .map(|s| s.parse().map_err(OpError::Invalid))
                .collect::<OpResult<_>>()?
        };
        let names: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
        let (rows, total) = self
            .db
            .ticket_queue(product, &names, limit.clamp(1, 1000))
            .await?;
        let mut tickets = Vec::with_capacity(rows.len());
        for r in rows {
            tickets.push(self.ticket_view(r, false).await?);
        }
        Ok(TicketList { tickets, total })
    }

    pub async fn ticket(&self, actor: &Actor, id: &str) -> OpResult<Ticket> {
        actor.authorize(Permission::TicketRead)?;
        let t = self.load_ticket(id).await?;
        self.ticket_view(t, true).await
    }

    /// Writes `after` (changed from `before`) with `events` and the audit entry `audit`
    /// (action, detail).
    pub(crate) async fn save_ticket(
        &self,
        who: &Authorized,
        before: &TicketRecord,
        mut after: TicketRecord,
        crashes: &[String],
        events: &[NewTicketEvent],
        (action, detail): (&str, Value),
    ) -> OpResult<Ticket> {
        let now = Utc::now();
        after.updated_at = now.max(before.updated_at + chrono::Duration::microseconds(1));
        self.set_due_times(&mut after, now)?;
        let audit = who.audit(action, after.id.clone(), detail);
        self.db
            .update_ticket(before.updated_at, &after, crashes, events, &audit, &[])
            .await
            .map_err(|e| match e {
                relops_store::DbError::Conflict(m) => OpError::Conflict(m),
                e => e.into(),
            })?;
        self.ticket_view(after, true).await
    }

    /// Moves `t` to `to` (checking the status machine) and keeps its pauses: waiting on
    /// the customer opens one, leaving it closes it.
    fn move_status(t: &mut TicketRecord, to: Status, now: DateTime<Utc>) -> OpResult<()> {
        let from = status_of(t)?;
        if from == to {
            return Ok(());
        }
        if !from.may_become(to) {
            return Err(OpError::Refused(format!(
                "ticket {} is {}: it cannot become {}",
                t.id,
                from.as_str(),
                to.as_str()
            )));
        }
        Self::set_status(t, to, now);
        Ok(())
    }

    /// Sets the status without the machine's check (a customer's reply), keeping pauses.
    pub(crate) fn set_status(t: &mut TicketRecord, to: Status, now: DateTime<Utc>) {
        if let Some(last) = t.pauses.last_mut()
            && last.1.is_none()
            && to != Status::WaitingOnCustomer
        {
            last.1 = Some(now);
        }
        if to == Status::WaitingOnCustomer && t.pauses.last().is_none_or(|p| p.1.is_some()) {
            t.pauses.push((now, None));
        }
        match to {
            Status::Solved => t.solved_at = Some(now),
            Status::Closed => t.closed_at = Some(now),
            Status::Open => {
                t.solved_at = None;
                t.closed_at = None;
            }
            _ => {}
        }
        t.status = to.as_str().to_owned();
    }

    /// A public reply to the customer: the first response stops the SLA clock; with
    /// `wait_on_customer` the ticket then waits on them.
    pub async fn reply_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketMessage,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let body = bounded("the reply", &req.body, MAX_BODY)?;
        let before = self.load_ticket(id).await?;
        let status = status_of(&before)?;
        if status == Status::Closed {
            return Err(OpError::Refused(format!(
                "ticket {} is closed: reopen it first (`relops ticket reopen {} --reason …`)",
                before.id, before.id
            )));
        }
        let now = Utc::now();
        let mut t = before.clone();
        t.first_response_at.get_or_insert(now);
        let to = if req.wait_on_customer {
            Status::WaitingOnCustomer
        } else if matches!(status, Status::New) {
            Status::Open
        } else {
            status
        };
        Self::move_status(&mut t, to, now)?;
        let first = before.first_response_at.is_none();
        let message_id = self.message_id(&t.id);
        let mail = self
            .mail_customer(&t, "Re: ", body.clone(), &message_id)
            .await?;
        let event = NewTicketEvent {
            kind: "reply".into(),
            author: who.name.clone(),
            body: Some(body),
            message_id: Some(message_id),
            detail: json!({"status": t.status, "first_response": first, "mailed": mail.is_some()}),
            attachments: Vec::new(),
            mail,
        };
        self.save_ticket(
            &who,
            &before,
            t.clone(),
            &[],
            &[event],
            (
                "ticket.replied",
                json!({"status": t.status, "first_response": first}),
            ),
        )
        .await
    }

    /// The mail telling `t`'s customer `body` (none without `[support] smtp_url`),
    /// threaded under every mail of the ticket so far.
    async fn mail_customer(
        &self,
        t: &TicketRecord,
        subject_prefix: &str,
        body: String,
        message_id: &str,
    ) -> OpResult<Option<relops_store::NewNotification>> {
        let thread: Vec<String> = self
            .db
            .ticket_events(&t.id)
            .await?
            .into_iter()
            .filter_map(|e| e.message_id)
            .collect();
        let footer = format!(
            "\n\n-- \n{} · {}\nAnswer this mail to add to your request.",
            t.id, self.config.support.from
        );
        customer_mail::to_customer(
            &self.config.support,
            t,
            subject_prefix,
            body + &footer,
            message_id,
            &thread,
        )
        .map_err(|e| OpError::Refused(format!("{}: cannot mail the customer: {e}", t.id)))
    }

    /// A Message-ID (without angle brackets) for mail relops writes about ticket `id`.
    pub(crate) fn message_id(&self, id: &str) -> String {
        format!(
            "{}.{}@relops.invalid",
            id.to_ascii_lowercase(),
            uuid::Uuid::new_v4().simple()
        )
    }

    /// An internal note (not sent to the customer).
    pub async fn note_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketMessage,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let body = bounded("the note", &req.body, MAX_BODY)?;
        let before = self.load_ticket(id).await?;
        let event = NewTicketEvent {
            kind: "note".into(),
            author: who.name.clone(),
            body: Some(body),
            message_id: None,
            detail: json!({}),
            ..Default::default()
        };
        self.save_ticket(
            &who,
            &before,
            before.clone(),
            &[],
            &[event],
            ("ticket.noted", json!({})),
        )
        .await
    }

    /// Assigns a ticket (support lead).
    pub async fn assign_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketAssign,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketLead)?;
        let assignee = req
            .assignee
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(|a| bounded("the assignee", a, MAX_NAME))
            .transpose()?;
        let before = self.load_ticket(id).await?;
        let mut t = before.clone();
        t.assignee = assignee.clone();
        let detail = json!({"from": before.assignee, "to": assignee});
        let event = NewTicketEvent {
            kind: "assign".into(),
            author: who.name.clone(),
            detail: detail.clone(),
            ..Default::default()
        };
        self.save_ticket(&who, &before, t, &[], &[event], ("ticket.assigned", detail))
            .await
    }

    /// Sets a ticket's priority (support lead), with the reason; the due time follows.
    pub async fn prioritise_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketPriority,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketLead)?;
        let p = parse_priority(&req.priority)?;
        let reason = bounded("the reason", &req.reason, MAX_SUBJECT)?;
        let before = self.load_ticket(id).await?;
        let mut t = before.clone();
        t.priority = p.as_str().to_owned();
        t.priority_reason = Some(reason.clone());
        let detail = json!({"from": before.priority, "to": p.as_str(), "reason": reason});
        let event = NewTicketEvent {
            kind: "priority".into(),
            author: who.name.clone(),
            detail: detail.clone(),
            ..Default::default()
        };
        self.save_ticket(
            &who,
            &before,
            t,
            &[],
            &[event],
            ("ticket.priority_changed", detail),
        )
        .await
    }

    /// Links crashes, an incident or a known issue.
    pub async fn link_ticket(&self, actor: &Actor, id: &str, req: TicketLink) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        if req.crashes.len() > MAX_CRASHES {
            return Err(OpError::TooLarge(format!(
                "{} crash ids: link at most {MAX_CRASHES} at once",
                req.crashes.len()
            )));
        }
        let crashes = req
            .crashes
            .iter()
            .map(|c| crash_id(c))
            .collect::<OpResult<Vec<_>>>()?;
        let before = self.load_ticket(id).await?;
        let mut t = before.clone();
        if let Some(i) = &req.incident {
            let i = i.trim().to_ascii_uppercase();
            if self.db.incident(&i).await?.is_none() {
                return Err(OpError::NotFound(format!(
                    "no incident {i}: `relops incident list` shows them"
                )));
            }
            t.incident = Some(i);
        }
        if let Some(k) = &req.known_issue {
            t.known_issue = Some(bounded("the known issue", k, 64)?);
        }
        let detail =
            json!({"crashes": crashes, "incident": t.incident, "known_issue": t.known_issue});
        let event = NewTicketEvent {
            kind: "link".into(),
            author: who.name.clone(),
            detail: detail.clone(),
            ..Default::default()
        };
        self.save_ticket(
            &who,
            &before,
            t,
            &crashes,
            &[event],
            ("ticket.linked", detail),
        )
        .await
    }

    /// Solves a ticket: records the cause or workaround (or a known issue).
    pub async fn solve_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketSolve,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let resolution = req
            .resolution
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| bounded("the resolution", r, MAX_BODY))
            .transpose()?;
        let before = self.load_ticket(id).await?;
        let mut t = before.clone();
        if let Some(r) = &resolution {
            t.resolution = Some(r.clone());
        }
        if let Some(k) = req.known_issue.as_deref().filter(|k| !k.trim().is_empty()) {
            t.known_issue = Some(bounded("the known issue", k, 64)?);
        }
        if t.resolution.is_none() && t.known_issue.is_none() {
            return Err(OpError::Invalid(
                "say what solved it: --resolution \"cause or workaround\" or --known-issue ID"
                    .into(),
            ));
        }
        let now = Utc::now();
        Self::move_status(&mut t, Status::Solved, now)?;
        // A confirmation given before this solution does not confirm it.
        t.confirmed_at = None;
        t.confirmed_how = None;
        let detail = json!({"from": before.status, "known_issue": t.known_issue, "documented": t.resolution.is_some()});
        let message_id = self.message_id(&t.id);
        let confirm = match self.confirmation_link(&t) {
            Some(link) => format!(
                "If it works for you now, please confirm with one click:\n{link}\n\nIf it does not, reply to this mail and tell us."
            ),
            None => "Please reply to this mail to confirm that it works for you, or tell us if it does not.".into(),
        };
        let text = format!(
            "We consider your request solved.\n\n{}\n\n{confirm}",
            t.resolution.as_deref().unwrap_or("The cause and the workaround are described in our knowledge base under the known issue linked to your request.")
        );
        let mail = self
            .mail_customer(&t, "Solved: ", text, &message_id)
            .await?;
        let event = NewTicketEvent {
            kind: "status".into(),
            author: who.name.clone(),
            body: resolution,
            message_id: Some(message_id),
            detail: json!({"from": before.status, "to": "solved", "known_issue": t.known_issue, "mailed": mail.is_some()}),
            attachments: Vec::new(),
            mail,
        };
        self.save_ticket(&who, &before, t, &[], &[event], ("ticket.solved", detail))
            .await
    }

    /// A support lead records the customer's confirmation (by phone, say).
    pub async fn confirm_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketConfirm,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketLead)?;
        let note = bounded("the note", &req.note, MAX_BODY)?;
        let before = self.load_ticket(id).await?;
        if status_of(&before)? != Status::Solved {
            return Err(OpError::Refused(format!(
                "ticket {} is {}: a confirmation confirms a solution (`relops ticket solve` first)",
                before.id, before.status
            )));
        }
        let mut t = before.clone();
        t.confirmed_at = Some(Utc::now());
        t.confirmed_how = Some(format!("recorded by {}", crate::actor::person(&who.name)));
        let event = NewTicketEvent {
            kind: "confirmed".into(),
            author: who.name.clone(),
            body: Some(note),
            message_id: None,
            detail: json!({"how": "support_lead"}),
            ..Default::default()
        };
        self.save_ticket(
            &who,
            &before,
            t,
            &[],
            &[event],
            ("ticket.confirmed", json!({"how": "support_lead"})),
        )
        .await
    }

    /// Closes a solved ticket whose cause or workaround is documented and whose customer
    /// confirmed; otherwise refuses naming each missing condition.
    pub async fn close_ticket(&self, actor: &Actor, id: &str) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let before = self.load_ticket(id).await?;
        if let Some(why) = close_refusal(&self.close_facts(&before)?) {
            return Err(OpError::Refused(format!("{}: {why}", before.id)));
        }
        let mut t = before.clone();
        Self::move_status(&mut t, Status::Closed, Utc::now())?;
        let event = NewTicketEvent {
            kind: "status".into(),
            author: who.name.clone(),
            detail: json!({"from": "solved", "to": "closed"}),
            ..Default::default()
        };
        self.save_ticket(
            &who,
            &before,
            t,
            &[],
            &[event],
            ("ticket.closed", json!({})),
        )
        .await
    }

    /// Reopens a solved or closed ticket (its confirmation no longer stands).
    pub async fn reopen_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketReopen,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let reason = bounded("the reason", &req.reason, MAX_SUBJECT)?;
        let before = self.load_ticket(id).await?;
        let from = status_of(&before)?;
        if !matches!(from, Status::Solved | Status::Closed) {
            return Err(OpError::Refused(format!(
                "ticket {} is {}: only a solved or closed ticket reopens",
                before.id, before.status
            )));
        }
        let mut t = before.clone();
        Self::set_status(&mut t, Status::Open, Utc::now());
        t.confirmed_at = None;
        t.confirmed_how = None;
        let detail = json!({"from": before.status, "to": "open", "reason": reason});
        let event = NewTicketEvent {
            kind: "status".into(),
            author: who.name.clone(),
            body: Some(reason),
            message_id: None,
            detail: detail.clone(),
            ..Default::default()
        };
        self.save_ticket(&who, &before, t, &[], &[event], ("ticket.reopened", detail))
            .await
    }
}

impl Ops {
    /// Reports tickets whose first response is 75 % used (a warning to the support
    /// channel) or overdue (a critical one pages on-call): each once per due time.
    pub async fn report_ticket_slas(&self) -> OpResult<usize> {
        let now = Utc::now();
        let mut n = 0;
        for kind in [SlaReport::Warning, SlaReport::Breach] {
            for t in self.db.tickets_sla_due(kind, now, 200).await? {
                let (Some(at), Some(due)) = (
                    match kind {
                        SlaReport::Warning => t.warn_at,
                        SlaReport::Breach => t.due_at,
                    },
                    t.due_at,
                ) else {
                    continue;
                };
                let critical = t.priority == Priority::Critical.as_str();
                let (event, text, page) = match kind {
                    SlaReport::Warning => (
                        "ticket.sla_warning",
                        format!(
                            "{}: {} ticket {} has used 75 % of its first-response time; due {}. `relops ticket show {}`",
                            t.product,
                            t.priority,
                            t.id,
                            due.format("%Y-%m-%d %H:%M UTC"),
                            t.id
                        ),
                        None,
                    ),
                    SlaReport::Breach => (
                        "ticket.sla_breached",
                        format!(
                            "{}: {} ticket {} has had no first response by {}: the SLA is breached. `relops ticket show {}`",
                            t.product,
                            t.priority,
                            t.id,
                            due.format("%Y-%m-%d %H:%M UTC"),
                            t.id
                        ),
                        critical.then_some("critical"),
                    ),
                };
                let notice = Notice {
                    event: event.into(),
                    product: t.product.clone(),
                    version: t.release.clone().unwrap_or_default(),
                    text,
                    page,
                    details: json!({"ticket": t.id, "priority": t.priority, "due": due}),
                    at: now,
                };
                if self
                    .db
                    .report_ticket_sla(&t.id, kind, at, &notice.messages(&self.config.notify))
                    .await?
                {
                    tracing::info!(ticket = %t.id, event, "ticket SLA reported");
                    n += 1;
                }
            }
        }
        if n > 0 {
            self.outbox.notify_one();
        }
        Ok(n)
    }
}

impl Ops {
    /// Escalates a reproducible bug to engineering (`jira` or `github`): the ticket becomes
    /// `escalated` and the issue, labelled `production-incident`, is created through the
    /// outbox and linked back when the tracker answers.
    pub async fn escalate_ticket(
        &self,
        actor: &Actor,
        id: &str,
        req: TicketEscalate,
    ) -> OpResult<Ticket> {
        let who = actor.authorize(Permission::TicketWork)?;
        let tracker = trackers::Tracker::parse(req.tracker.trim()).map_err(OpError::Invalid)?;
        let note = req
            .note
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(|n| bounded("the note", n, MAX_BODY))
            .transpose()?;
        let before = self.load_ticket(id).await?;
        if let Some(i) = &before.issue {
            return Err(OpError::Refused(format!(
                "{} is escalated already, to {i}{}",
                before.id,
                before
                    .issue_url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            )));
        }
        let mut t = before.clone();
        Self::move_status(&mut t, Status::Escalated, Utc::now())?;
        let crashes = self.db.ticket_crashes(&t.id).await?;
        let request =
            trackers::issue_request(&self.config.support, tracker, &t, &crashes, note.as_deref())
                .map_err(OpError::Refused)?;
        let detail =
            json!({"tracker": tracker.kind(), "label": trackers::LABEL, "from": before.status});
        let event = NewTicketEvent {
            kind: "escalated".into(),
            author: who.name.clone(),
            body: note,
            message_id: None,
            detail: detail.clone(),
            attachments: Vec::new(),
            mail: Some(request),
        };
        let view = self
            .save_ticket(
                &who,
                &before,
                t,
                &[],
                &[event],
                ("ticket.escalated", detail),
            )
            .await?;
        self.outbox.notify_one();
        Ok(view)
    }

    /// Links the issue an escalation created (the outbox worker, on the tracker's answer).
    pub(crate) async fn link_issue(
        &self,
        id: &str,
        issue: &str,
        url: Option<&str>,
    ) -> OpResult<()> {
        let detail = json!({"issue": issue, "url": url});
        let event = NewTicketEvent {
            kind: "issue".into(),
            author: NOTIFIER_NAME.into(),
            detail: detail.clone(),
            ..Default::default()
        };
        let audit = relops_store::AuditRecord {
            actor: NOTIFIER_NAME.into(),
            action: "ticket.issue_linked".into(),
            target: id.to_owned(),
            detail,
            request_id: None,
        };
        self.db
            .link_ticket_issue(id, issue, url, &event, &audit)
            .await?;
        Ok(())
    }
}

/// Who links an escalated ticket's issue: the outbox worker, on the tracker's answer.
const NOTIFIER_NAME: &str = "relops notifier (system)";

impl Ops {
    /// The app's "report a problem" (`POST /v1/ingest/problem`, the DSN key): a ticket with
    /// the install, its release (when relops knows it), platform and recent crashes. The
    /// key is public: the ingest limits apply, and at most `[support]
    /// app_tickets_per_hour` app tickets per product and `app_tickets_per_install_per_day`
    /// per install are taken (429 beyond).
    pub async fn report_problem(
        &self,
        product: &str,
        r: relops_api::ProblemReport,
    ) -> OpResult<relops_api::IngestAck> {
        crate::ingest::check_scope(&r.who, &self.config.feed.channels)?;
        self.ingest_limits
            .check(product, 1, [r.who.install_id.as_str()])?;
        if r.crash_ids.len() > 10 {
            return Err(OpError::TooLarge(format!(
                "{} crash ids: send at most the 10 most recent",
                r.crash_ids.len()
            )));
        }
        let cfg = &self.config.support;
        let now = Utc::now();
        let (hour, _) = self
            .db
            .app_tickets_since(product, &r.who.install_id, now - chrono::Duration::hours(1))
            .await?;
        let (_, day) = self
            .db
            .app_tickets_since(product, &r.who.install_id, now - chrono::Duration::days(1))
            .await?;
        if hour >= u64::from(cfg.app_tickets_per_hour) {
            return Err(OpError::RateLimited {
                retry_after_secs: 600,
                message: format!(
                    "the support desk takes at most {} reports an hour from the app; retry later, or write to {}",
                    cfg.app_tickets_per_hour, cfg.from
                ),
            });
        }
        if day >= u64::from(cfg.app_tickets_per_install_per_day) {
            return Err(OpError::RateLimited {
                retry_after_secs: 3600,
                message: format!(
                    "this install filed {day} reports today (at most {}); answer the mail support sent instead",
                    cfg.app_tickets_per_install_per_day
                ),
            });
        }
        // The release only if relops knows it (the text keeps what the app said).
        let release = match r.who.release.parse::<relops_core::version::Version>() {
            Ok(v) if self.db.release(product, &v).await?.is_some() => Some(v),
            _ => None,
        };
        let text = format!(
            "{}\n\n[the app: release {}, {} on channel {}]",
            r.text.as_deref().unwrap_or("").trim(),
            r.who.release,
            r.who.platform,
            r.who.channel
        );
        let who = Authorized {
            name: format!("{product} app (install {})", r.who.install_id),
            request_id: None,
        };
        let open = OpenTicket {
            subject: r.subject,
            customer: r.email.clone(),
            customer_name: r.name,
            priority: None,
            body: Some(text),
            release,
            platform: Some(r.who.platform)
                .filter(|p| p.parse::<relops_core::platform::Platform>().is_ok()),
            install: Some(r.who.install_id),
            crashes: r.crash_ids,
        };
        let intake = Intake::from("app", customer_address(&r.email)?);
        let t = self.open_ticket_as(&who, product, open, intake).await?;
        Ok(relops_api::IngestAck {
            id: Some(t.id),
            stored: Some(1),
        })
    }
}

impl Ops {
    /// Erases a customer's personal data (GDPR art. 17): their tickets stay, with ids,
    /// priorities, statuses and times, but without address, name, subject, messages,
    /// attachments and unsent mail; audited without the address, so the audit chain
    /// stays as it was and verifies.
    pub async fn erase_customer(
        &self,
        actor: &Actor,
        req: relops_api::EraseCustomer,
    ) -> OpResult<relops_api::Erased> {
        let who = actor.authorize(Permission::TicketLead)?;
        let customer = customer_address(&req.customer)?;
        let ids: Vec<String> = self
            .db
            .tickets_of_customer(&customer)
            .await?
            .into_iter()
            .filter(|t| self.config.products.contains(&t.product))
            .map(|t| t.id)
            .collect();
        // Subscriptions, opt-outs and queued mail-outs first: with no ticket left to name,
        // this audit entry stands for them (it names no address either).
        let alone = ids.is_empty().then(|| {
            who.audit(
                "support.customer_erased",
                "subscriptions".into(),
                json!({"tickets": []}),
            )
        });
        let subscriptions = self
            .db
            .erase_subscriber(&customer, Utc::now(), alone.as_ref())
            .await?;
        let mut done = self.erase(&who, ids, "support.customer_erased").await?;
        done.subscriptions_erased = subscriptions;
        Ok(done)
    }

    async fn erase(
        &self,
        who: &Authorized,
        ids: Vec<String>,
        action: &str,
    ) -> OpResult<relops_api::Erased> {
        if ids.is_empty() {
            return Ok(relops_api::Erased {
                tickets: ids,
                attachments_deleted: 0,
                subscriptions_erased: 0,
            });
        }
        let pseudonym = format!("erased-{}@erased.invalid", uuid::Uuid::new_v4().simple());
        let audit = who.audit(action, ids.join(","), json!({"tickets": ids}));
        let (orphans, bundles) = self.db.erase_tickets(&ids, &pseudonym, &audit).await?;
        let mut deleted = self.delete_log_bundle_blobs(&bundles).await;
        for d in &orphans {
            match self.delete_attachment(d).await {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::error!(error = %e, digest = %d, "deleting an erased attachment failed")
                }
            }
        }
        Ok(relops_api::Erased {
            tickets: ids,
            attachments_deleted: deleted,
            subscriptions_erased: 0,
        })
    }

    /// Erases the customer data of tickets closed longer than `[support]
    /// retain_closed_days` (the maintenance pass).
    pub async fn apply_ticket_retention(&self) -> OpResult<usize> {
        let days = self.config.support.retain_closed_days;
        if days == 0 {
            return Ok(0);
        }
        let before = Utc::now() - chrono::Duration::days(days.into());
        let ids = self.db.closed_tickets_before(before, 500).await?;
        let who = Authorized {
            name: "relops retention (system)".into(),
            request_id: None,
        };
        Ok(self
            .erase(&who, ids, "support.retention_erased")
            .await?
            .tickets
            .len())
    }
}
