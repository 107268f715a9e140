//! The overview: active rollouts with their stage and health gate, open alerts, incidents
//! with their post-mortems, and the support queue's SLA summary.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use relops_api::Alert;
use relops_core::access::Permission;
use relops_ops::Ops;

use super::{Done, Nav, render};
use crate::web::{PageResult, User};

pub(crate) struct RolloutLine {
    version: String,
    state: String,
    stage: String,
    percent: String,
    gate: String,
    next: String,
}

pub(crate) struct IncidentLine {
    id: String,
    version: String,
    summary: String,
    status: String,
    due: String,
    overdue: bool,
}

pub(crate) struct Queue {
    open: usize,
    breached: usize,
    warn: usize,
    critical: usize,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    nav: Nav,
    /// A person's rollback waiting for its second person, and whether this user may be it.
    waiting: Option<relops_api::RollbackPending>,
    may_confirm: bool,
    rollouts: Vec<RolloutLine>,
    alerts: Vec<Alert>,
    incidents: Vec<IncidentLine>,
    queue: Option<Queue>,
}

/// `GET /console/{product}`
pub(crate) async fn page(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    done: Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    show(&ops, &user, &product, done.0.done.as_deref()).await
}

/// The overview of `product` for `user`.
pub(crate) async fn show(
    ops: &Ops,
    user: &User,
    product: &str,
    done: Option<&str>,
) -> PageResult<Response> {
    let who = &user.actor;
    // Newest release first, as the releases list shows them.
    let mut live = ops.live_rollouts(who, product).await?;
    live.sort_by(|a, b| b.version.cmp(&a.version));
    let rollouts: Vec<_> = live
        .into_iter()
        .map(|s| RolloutLine {
            version: s.version.to_string(),
            state: s.state.clone(),
            stage: s.stage.clone(),
            percent: format!("{:.0} %", s.percent),
            gate: s
                .health
                .as_ref()
                .map(|h| h.gate.as_str().to_owned())
                .unwrap_or_else(|| "unknown".into()),
            next: match s.next_step_allowed_at {
                Some(at) if at > Utc::now() => {
                    format!(
                        "{} {}",
                        user.lang.t("soak ends"),
                        at.format("%Y-%m-%d %H:%M UTC")
                    )
                }
                Some(_) => user.lang.t("may advance").into(),
                None => "—".into(),
            },
        })
        .collect();
    let alerts = ops.alerts(who, product, false, Some(50)).await?.alerts;
    let today = Utc::now().date_naive();
    let incidents = ops
        .incidents(who, product)
        .await?
        .incidents
        .into_iter()
        .filter(|i| i.status != "closed" || i.postmortem.is_none())
        .map(|i| IncidentLine {
            overdue: i.postmortem.is_none() && i.postmortem_due < today,
            due: if i.postmortem.is_some() {
                user.lang.t("filed").into()
            } else {
                i.postmortem_due.to_string()
            },
            id: i.id,
            version: i.version.to_string(),
            summary: i.summary,
            status: i.status,
        })
        .collect();
    let queue = if user.may(Permission::TicketRead) {
        let working: Vec<String> = ["new", "open", "waiting_on_customer", "escalated"]
            .map(String::from)
            .into();
        let list = ops.tickets(who, product, &working, 1000).await?;
        let open = list.tickets;
        Some(Queue {
            open: usize::try_from(list.total).unwrap_or(usize::MAX),
            breached: open.iter().filter(|t| t.sla.breached).count(),
            warn: open
                .iter()
                .filter(|t| t.sla.warn && !t.sla.breached)
                .count(),
            critical: open.iter().filter(|t| t.priority == "critical").count(),
        })
    } else {
        None
    };
    let waiting = ops.waiting_rollback(who, product).await?;
    let may_confirm = waiting.as_ref().is_some_and(|w| {
        user.may(Permission::Rollback)
            && user
                .session
                .principal
                .roles
                .iter()
                .any(|r| r.as_str() == w.awaits)
    });
    Ok(render(Overview {
        nav: Nav::new(user, product, "overview", done),
        waiting,
        may_confirm,
        rollouts,
        alerts,
        incidents,
        queue,
    }))
}
