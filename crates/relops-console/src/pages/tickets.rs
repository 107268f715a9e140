//! The support desk: the queue sorted by the time left to the first response (breached
//! and nearly breached marked), and a ticket's page — its timeline, the analysis panel
//! (its crashes, the install's crashes, the release's health and alerts, matching known
//! issues and articles) and the work on it: reply, internal note, assign, priority,
//! escalate to engineering, solve, confirm, close (with what still blocks it), reopen.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use relops_api::{
    Ticket, TicketAssign, TicketConfirm, TicketEscalate, TicketMessage, TicketPriority,
    TicketReopen, TicketSolve,
};
use relops_core::access::Permission;
use relops_ops::{OpError, Ops};
use serde::Deserialize;

use super::{Done, Nav, render};
use crate::i18n::Lang;
use crate::web::{Form, PageResult, User, encode_query, given};

/// The statuses a queue may show, with their names on the page.
pub(super) const VIEWS: [(&str, &str); 4] = [
    ("working", "To work on"),
    ("solved", "Solved"),
    ("closed", "Closed"),
    ("all", "All"),
];

#[derive(Debug, Deserialize, Default)]
pub(crate) struct QueueQuery {
    view: Option<String>,
}

/// A queue row: the ticket and its first response's time left, in words.
pub(crate) struct Line {
    t: Ticket,
    left: String,
    /// `breach`, `warn` or empty.
    class: &'static str,
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct Queue {
    nav: Nav,
    view: String,
    views: Vec<(&'static str, &'static str)>,
    lines: Vec<Line>,
    total: u64,
}

/// Time left to a due time, in words (`2 h 5 min`, `overdue by 12 min`).
fn left(due: chrono::DateTime<Utc>, lang: Lang) -> String {
    let m = (due - Utc::now()).num_minutes();
    let words = |m: i64| {
        if m >= 60 {
            format!("{} h {} min", m / 60, m % 60)
        } else {
            format!("{m} min")
        }
    };
    if m < 0 {
        format!("{} {}", lang.t("overdue by"), words(-m))
    } else {
        words(m)
    }
}

/// `GET /console/{product}/tickets?view=`: working tickets (new, open, waiting on the
/// customer, escalated) by default.
pub(crate) async fn queue(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let view = q.view.unwrap_or_else(|| "working".into());
    let statuses: Vec<String> = match view.as_str() {
        "working" => ["new", "open", "waiting_on_customer", "escalated"]
            .map(String::from)
            .into(),
        "solved" => vec!["solved".into()],
        "closed" => vec!["closed".into()],
        "all" => [
            "new",
            "open",
            "waiting_on_customer",
            "escalated",
            "solved",
            "closed",
        ]
        .map(String::from)
        .into(),
        other => {
            return Err(OpError::Invalid(format!(
                "view `{other}`: working, solved, closed or all"
            ))
            .into());
        }
    };
    let list = ops.tickets(&user.actor, &product, &statuses, 500).await?;
    let lines = list
        .tickets
        .into_iter()
        .map(|t| Line {
            left: match t.sla.due {
                Some(due) if t.sla.running => left(due, user.lang),
                Some(_) => user.lang.t("clock stopped").into(),
                None if t.first_response_at.is_some() => user.lang.t("answered").into(),
                None => "—".into(),
            },
            class: if t.sla.breached {
                "breach"
            } else if t.sla.warn {
                "warn"
            } else {
                ""
            },
            t,
        })
        .collect();
    Ok(render(Queue {
        nav: Nav::new(&user, &product, "tickets", None),
        view,
        views: VIEWS.to_vec(),
        lines,
        total: list.total,
    }))
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct Page {
    nav: Nav,
    t: Ticket,
    sla_left: String,
    timeline: Vec<Entry>,
    /// The engineering issue's address, when it is a web address.
    issue_link: Option<String>,
    may_work: bool,
    may_lead: bool,
}

/// A timeline entry as shown: a message (the customer's, a reply, an internal note) or
/// a change in words.
pub(crate) struct Entry {
    at: String,
    kind: String,
    author: String,
    body: Option<String>,
    change: String,
    attachments: Vec<relops_api::TicketAttachment>,
}

fn entry(e: relops_api::TicketEvent) -> Entry {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        v => v.to_string(),
    };
    let change = match (&e.detail.get("from"), &e.detail.get("to")) {
        (Some(from), Some(to)) => format!("{} → {}", text(from), text(to)),
        _ => match &e.detail {
            serde_json::Value::Object(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect::<Vec<_>>()
                .join(" · "),
            _ => String::new(),
        },
    };
    Entry {
        at: e.at.format("%Y-%m-%d %H:%M UTC").to_string(),
        kind: e.kind,
        author: e.author,
        body: e.body,
        change,
        attachments: e.attachments,
    }
}

/// `GET /console/{product}/tickets/{id}`
pub(crate) async fn show(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    user: User,
    done: Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let mut t = ticket_of(&ops, &user, &product, &id).await?;
    let timeline = std::mem::take(&mut t.timeline)
        .into_iter()
        .map(entry)
        .collect();
    let issue_link = t
        .issue_url
        .clone()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    Ok(render(Page {
        timeline,
        issue_link,
        nav: Nav::new(&user, &product, "tickets", done.0.done.as_deref()),
        sla_left: match t.sla.due {
            Some(due) if t.sla.running => left(due, user.lang),
            _ => String::new(),
        },
        may_work: user.may(Permission::TicketWork),
        may_lead: user.may(Permission::TicketLead),
        t,
    }))
}

/// The ticket `id` of `product` (another product's is not found here).
async fn ticket_of(ops: &Ops, user: &User, product: &str, id: &str) -> PageResult<Ticket> {
    let t = ops.ticket(&user.actor, id).await?;
    if t.product != product {
        return Err(OpError::NotFound(format!("no ticket `{id}` in {product}")).into());
    }
    Ok(t)
}

/// Every field a ticket's forms send; each action reads its own.
#[derive(Debug, Deserialize)]
pub(crate) struct WorkForm {
    body: Option<String>,
    wait_on_customer: Option<String>,
    assignee: Option<String>,
    priority: Option<String>,
    reason: Option<String>,
    tracker: Option<String>,
    note: Option<String>,
    resolution: Option<String>,
    known_issue: Option<String>,
}

/// A field the action needs.
fn needed(s: Option<String>, what: &str) -> Result<String, OpError> {
    given(s).ok_or_else(|| OpError::Invalid(format!("{what} is empty: fill it in")))
}

/// `POST /console/{product}/tickets/{id}/{action}`
pub(crate) async fn work(
    State(ops): State<Ops>,
    Path((product, id, action)): Path<(String, String, String)>,
    f: Form<WorkForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    ticket_of(&ops, &f.user, &product, &id).await?;
    let who = &f.user.actor;
    let w = f.fields;
    let done = match action.as_str() {
        "reply" => {
            let req = TicketMessage {
                body: needed(w.body, "the reply")?,
                wait_on_customer: w.wait_on_customer.as_deref() == Some("true"),
            };
            ops.reply_ticket(who, &id, req).await?;
            "replied"
        }
        "note" => {
            let req = TicketMessage {
                body: needed(w.body, "the note")?,
                wait_on_customer: false,
            };
            ops.note_ticket(who, &id, req).await?;
            "noted"
        }
        "assign" => {
            let req = TicketAssign {
                assignee: given(w.assignee),
            };
            ops.assign_ticket(who, &id, req).await?;
            "assigned"
        }
        "priority" => {
            let req = TicketPriority {
                priority: needed(w.priority, "the priority")?,
                reason: needed(w.reason, "the reason")?,
            };
            ops.prioritise_ticket(who, &id, req).await?;
            "prioritised"
        }
        "escalate" => {
            let req = TicketEscalate {
                tracker: needed(w.tracker, "the tracker")?,
                note: given(w.note),
            };
            ops.escalate_ticket(who, &id, req).await?;
            "escalated"
        }
        "solve" => {
            let req = TicketSolve {
                resolution: given(w.resolution),
                known_issue: given(w.known_issue),
            };
            ops.solve_ticket(who, &id, req).await?;
            "solved"
        }
        "confirm" => {
            let req = TicketConfirm {
                note: needed(w.note, "how the customer confirmed")?,
            };
            ops.confirm_ticket(who, &id, req).await?;
            "confirmed"
        }
        "close" => {
            ops.close_ticket(who, &id).await?;
            "closed"
        }
        "reopen" => {
            let req = TicketReopen {
                reason: needed(w.reason, "the reason")?,
            };
            ops.reopen_ticket(who, &id, req).await?;
            "reopened"
        }
        other => {
            return Err(OpError::NotFound(format!(
                "no ticket action `{other}`: reply, note, assign, priority, escalate, solve, confirm, close or reopen"
            ))
            .into());
        }
    };
    Ok(Redirect::to(&format!(
        "/console/{product}/tickets/{}?done={done}",
        encode_query(&id)
    ))
    .into_response())
}
