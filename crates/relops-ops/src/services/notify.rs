//! Release notifications (R-REL-10, R-RB-5): what each rollout step, halt and rollback
//! says to each configured webhook, and the worker that delivers the outbox.
//!
//! Messages are rendered when the change is recorded and stored with their exact body in
//! the outbox (same transaction), so a retry after a restart sends the same bytes:
//! - `slack`: incoming-webhook JSON `{"channel", "username", "text"}` for every event;
//! - `pagerduty`: Events API v2 — halt and rollback `trigger` (dedup key
//!   `relops/{product}/{version}`), resume `resolve`; other steps are not paged;
//! - `webhook`: relops' own JSON event for every step.
//!
//! Alerts, incident decisions and overdue post-mortems are [`Notice`]s: the same three
//! kinds, PagerDuty only for the alerts that page (crash rate, critical failure).
//!
//! The worker POSTs due rows, marks a 2xx delivered, and otherwise retries with doubling
//! backoff (`[notify] retry_initial_seconds` … `retry_max_seconds`) — forever: an
//! undelivered page is visible in `relops notify list`, never dropped.

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::rollout::{Percent, Stage};
use relops_store::{NewNotification, Notification};
use serde_json::{Value, json};

use crate::Ops;
use crate::config::{NotifyConfig, WebhookKind};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Started,
    Advanced,
    Paused,
    Resumed,
    Halted,
    RolledBack,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Started => "rollout.started",
            Self::Advanced => "rollout.advanced",
            Self::Paused => "rollout.paused",
            Self::Resumed => "rollout.resumed",
            Self::Halted => "rollout.halted",
            Self::RolledBack => "release.rolled_back",
        }
    }
}

/// A rollback's particulars.
#[derive(Debug, Clone)]
pub struct RollbackFacts {
    pub to: String,
    pub withdrawn: Vec<String>,
    pub incident: String,
    pub severity: String,
    pub next_fix: Option<NaiveDate>,
    pub postmortem_due: NaiveDate,
}

/// One event to report.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub product: String,
    pub version: String,
    pub stage: Stage,
    pub percent: Percent,
    pub actor: String,
    pub reason: Option<String>,
    pub forced: bool,
    pub next_step_allowed_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub rollback: Option<RollbackFacts>,
}

impl Event {
    /// One line for people.
    pub fn text(&self) -> String {
        let name = format!("{} {}", self.product, self.version);
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(" Reason: {r}."))
            .unwrap_or_default();
        let next = self
            .next_step_allowed_at
            .map(|t| format!(" Next step allowed at {}.", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        match self.kind {
            EventKind::Started => format!(
                "{name}: rollout started. Pilot: the internal channel and {} of stable.{next} (by {})",
                self.percent, self.actor
            ),
            EventKind::Advanced => format!(
                "{name}: rollout advanced to {} of stable{}.{reason}{next} (by {})",
                self.percent,
                if self.forced {
                    ", forced before the soak was over"
                } else {
                    ""
                },
                self.actor
            ),
            EventKind::Paused => format!(
                "{name}: rollout paused at {}: no further stages until resumed.{reason} (by {})",
                self.percent, self.actor
            ),
            EventKind::Resumed => format!(
                "{name}: rollout resumed at {}.{reason} (by {})",
                self.percent, self.actor
            ),
            EventKind::Halted => format!(
                "{name}: rollout HALTED at {}. Installs that have it keep it; no new installs get it.{reason} (by {})",
                self.percent, self.actor
            ),
            EventKind::RolledBack => {
                let rb = self.rollback.as_ref().expect("a rollback event has facts");
                let fix = match rb.next_fix {
                    Some(d) => format!(" Next fix planned for {d}."),
                    None => " No fix date yet.".to_owned(),
                };
                format!(
                    "{}: ROLLED BACK to {} ({}, severity {}). Withdrawn: {}; installs running them go back to {}.{reason}{fix} Post-mortem due {}. (by {})",
                    self.product,
                    rb.to,
                    rb.incident,
                    rb.severity,
                    rb.withdrawn.join(", "),
                    rb.to,
                    rb.postmortem_due,
                    self.actor
                )
            }
        }
    }

    /// relops' own JSON event (the `webhook` kind).
    pub fn generic(&self) -> Value {
        json!({
            "event": self.kind.name(),
            "product": self.product,
            "version": self.version,
            "stage": self.stage.as_str(),
            "percent": self.percent.as_f64(),
            "actor": self.actor,
            "reason": self.reason,
            "forced": self.forced,
            "next_step_allowed_at": self.next_step_allowed_at,
            "at": self.at,
            "text": self.text(),
            "rollback": self.rollback.as_ref().map(|rb| json!({
                "to": rb.to,
                "withdrawn": rb.withdrawn,
                "incident": rb.incident,
                "severity": rb.severity,
                "next_fix": rb.next_fix,
                "postmortem_due": rb.postmortem_due,
            })),
        })
    }

    /// What PagerDuty hears of this event: halt and rollback trigger, resume resolves.
    fn page(&self) -> Page {
        match (&self.kind, &self.rollback) {
            (EventKind::Halted, _) => Page::Trigger("error"),
            (EventKind::RolledBack, Some(rb)) => Page::Trigger(match rb.severity.as_str() {
                "critical" => "critical",
                "high" => "error",
                _ => "warning",
            }),
            (EventKind::Resumed, _) => Page::Resolve,
            _ => Page::No,
        }
    }

    /// The outbox rows for every configured destination.
    pub fn messages(&self, cfg: &NotifyConfig) -> Vec<NewNotification> {
        fan_out(
            cfg,
            &Outgoing {
                event: self.kind.name(),
                product: &self.product,
                version: &self.version,
                text: &self.text(),
                page: self.page(),
                generic: self.generic(),
                at: self.at,
            },
        )
    }
}

/// Whether and how a message pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    No,
    /// An Events API v2 `trigger` with this severity.
    Trigger(&'static str),
    /// A `resolve` of the release's page.
    Resolve,
}

/// One message, before it is shaped for each destination.
struct Outgoing<'a> {
    event: &'a str,
    product: &'a str,
    version: &'a str,
    text: &'a str,
    page: Page,
    /// relops' own JSON (the `webhook` kind; PagerDuty's custom_details).
    generic: Value,
    at: DateTime<Utc>,
}

/// The outbox rows of `o` for every configured destination: Slack gets the text, the
/// webhook the generic JSON, PagerDuty a trigger or resolve (dedup key
/// `relops/{product}/{version}`, so one release makes one page) when the message pages.
fn fan_out(cfg: &NotifyConfig, o: &Outgoing<'_>) -> Vec<NewNotification> {
    let dedup = format!("relops/{}/{}", o.product, o.version);
    cfg.webhooks
        .iter()
        .filter_map(|w| {
            let body = match w.kind {
                WebhookKind::Slack => json!({
                    "channel": w.channel,
                    "username": "relops",
                    "text": o.text,
                }),
                WebhookKind::Pagerduty => {
                    let routing_key = w.routing_key.as_deref().unwrap_or_default();
                    match o.page {
                        Page::No => return None,
                        Page::Resolve => json!({
                            "routing_key": routing_key,
                            "event_action": "resolve",
                            "dedup_key": dedup,
                        }),
                        Page::Trigger(severity) => json!({
                            "routing_key": routing_key,
                            "event_action": "trigger",
                            "dedup_key": dedup,
                            "payload": {
                                "summary": truncate(o.text, 1024),
                                "source": format!("relops/{}", o.product),
                                "severity": severity,
                                "timestamp": o.at,
                                "component": format!("{} {}", o.product, o.version),
                                "group": "release",
                                "class": o.event,
                                "custom_details": o.generic,
                            },
                        }),
                    }
                }
                WebhookKind::Webhook => o.generic.clone(),
            };
            Some(NewNotification {
                event: o.event.to_owned(),
                product: o.product.to_owned(),
                version: o.version.to_owned(),
                sink: w.name.clone(),
                kind: w.kind.as_str().to_owned(),
                url: w.url.clone(),
                payload: body.to_string(),
                created_at: o.at,
                reference: None,
            })
        })
        .collect()
}

/// A message that is not a rollout step: an alert fired, an incident decided, a
/// post-mortem overdue. Slack gets `text`; the generic webhook gets `details` with `event`
/// and `text`; PagerDuty is triggered only when `page` names a severity (dedup key
/// `relops/{product}/{version}`, the same as the halt's, so one release makes one page).
#[derive(Debug, Clone)]
pub struct Notice {
    pub event: String,
    pub product: String,
    pub version: String,
    pub text: String,
    /// PagerDuty severity (`critical`, `error`, `warning`) if this pages.
    pub page: Option<&'static str>,
    pub details: Value,
    pub at: DateTime<Utc>,
}

impl Notice {
    pub fn messages(&self, cfg: &NotifyConfig) -> Vec<NewNotification> {
        let mut generic = json!({
            "event": self.event,
            "product": self.product,
            "version": self.version,
            "text": self.text,
            "at": self.at,
        });
        if let (Some(g), Value::Object(d)) = (generic.as_object_mut(), &self.details) {
            for (k, v) in d {
                g.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        fan_out(
            cfg,
            &Outgoing {
                event: &self.event,
                product: &self.product,
                version: &self.version,
                text: &self.text,
                page: self.page.map_or(Page::No, Page::Trigger),
                generic,
                at: self.at,
            },
        )
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `...` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max - 3;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}

/// Delivers the outbox until the server stops: due rows now, then whenever a change wakes
/// it, and at least once a second for retries that come due.
pub async fn deliver(state: Ops) {
    let cfg = state.config.notify.clone();
    let timeout = std::time::Duration::from_secs_f64(cfg.timeout_seconds);
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("relops/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; notifications stay queued");
            return;
        }
    };
    loop {
        match state.db.due_notifications(Utc::now(), 32).await {
            Ok(due) => {
                for n in due {
                    deliver_one(&state, &client, &cfg, n, timeout).await;
                }
            }
            Err(e) => tracing::error!(error = ?e, "reading the notification outbox failed"),
        }
        tokio::select! {
            () = state.outbox.notified() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// Creates an escalated ticket's issue and links it back. Once the tracker answered 2xx
/// the message counts as delivered even if the link cannot be written (a retry would
/// create a second issue); that is logged.
async fn issue(
    state: &Ops,
    client: &reqwest::Client,
    tracker: super::trackers::Tracker,
    n: &Notification,
) -> Result<DateTime<Utc>, String> {
    let cfg = &state.config.support;
    let rb = client
        .post(&n.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(n.payload.clone());
    let r = super::trackers::authorize(cfg, tracker, rb)?
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    if !r.status().is_success() {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    match (
        &n.reference,
        super::trackers::created_issue(cfg, tracker, &answer),
    ) {
        (Some(ticket), Some((key, url))) => {
            if let Err(e) = state.link_issue(ticket, &key, url.as_deref()).await {
                tracing::error!(error = ?e, %ticket, %key, "the issue was created but linking it to the ticket failed");
            }
        }
        _ => tracing::error!(id = n.id, %answer, "the tracker's answer names no issue"),
    }
    Ok(Utc::now())
}

async fn deliver_one(
    state: &Ops,
    client: &reqwest::Client,
    cfg: &NotifyConfig,
    n: Notification,
    timeout: std::time::Duration,
) {
    let lease = Utc::now()
        + chrono::Duration::from_std(timeout * 2).unwrap_or(chrono::Duration::seconds(60));
    match state.db.claim_notification(&n, lease).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = ?e, id = n.id, "claiming a notification failed");
            return;
        }
    }
    let outcome = if n.kind == super::customer_mail::MAIL_KIND {
        match &state.config.support.smtp_url {
            Some(url) => super::customer_mail::send(url, &n.payload, timeout)
                .await
                .map(|()| Utc::now()),
            None => Err("no [support] smtp_url is configured: the mail waits".to_owned()),
        }
    } else if let Some(tracker) = super::trackers::Tracker::from_kind(&n.kind) {
        issue(state, client, tracker, &n).await
    } else if n.kind == super::zendesk::KIND {
        match &state.config.support.zendesk {
            Some(z) => {
                let rb = client
                    .put(&n.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(n.payload.clone());
                match super::zendesk::authorize(z, rb).send().await {
                    Ok(r) if r.status().is_success() => Ok(Utc::now()),
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(format!("{e}")),
                }
            }
            None => Err("no [support.zendesk] is configured: the note waits".to_owned()),
        }
    } else {
        let sent = client
            .post(&n.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(n.payload.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(Utc::now()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(format!("{e}")),
        }
    };
    let record = match outcome {
        Ok(at) => {
            tracing::info!(id = n.id, sink = %n.sink, event = %n.event, "notification delivered");
            Ok(at)
        }
        Err(error) => {
            let wait = (cfg.retry_initial_seconds * 2f64.powi(n.attempts.min(30) as i32))
                .min(cfg.retry_max_seconds);
            let retry_at = Utc::now() + chrono::Duration::milliseconds((wait * 1000.0) as i64);
            tracing::warn!(id = n.id, sink = %n.sink, %error, %retry_at, "notification not delivered; will retry");
            Err((error, retry_at))
        }
    };
    if let Err(e) = state.db.record_attempt(n.id, record).await {
        tracing::error!(error = ?e, id = n.id, "recording a delivery attempt failed");
    }
}
