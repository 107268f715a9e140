//! Alerts and incidents: open alerts with their evidence and what relops did, acknowledged
//! here; incidents with the evidence they were opened with and the release's health now,
//! the decision (roll back, hotfix within 24 h, next patch) and the post-mortem with its
//! due date.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use relops_api::{Alert, AlertAck, HealthGate, Incident, IncidentDecision};
use relops_core::access::Permission;
use relops_ops::{OpError, Ops};
use serde::Deserialize;

use super::{Done, Nav, render};
use crate::web::{Form, PageResult, User, given};

#[derive(Template)]
#[template(path = "incidents.html")]
struct List {
    nav: Nav,
    alerts: Vec<Alert>,
    incidents: Vec<Incident>,
    may_ack: bool,
}

/// `GET /console/{product}/incidents`: alerts of the last episodes (open ones first) and
/// every incident, newest first.
pub(crate) async fn list(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    done: Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let who = &user.actor;
    let mut alerts = ops.alerts(who, &product, true, Some(100)).await?.alerts;
    alerts.sort_by_key(|a| (a.status == "resolved", std::cmp::Reverse(a.fired_at)));
    let incidents = ops.incidents(who, &product).await?.incidents;
    Ok(render(List {
        nav: Nav::new(&user, &product, "incidents", done.0.done.as_deref()),
        may_ack: user.may(Permission::AlertAck),
        alerts,
        incidents,
    }))
}

#[derive(Template)]
#[template(path = "incident.html")]
struct Detail {
    nav: Nav,
    i: Incident,
    /// The release's health now (the gate a decision is taken on).
    now: HealthGate,
    postmortem_html: Option<String>,
    may_decide: bool,
    may_postmortem: bool,
}

/// `GET /console/{product}/incidents/{id}`
pub(crate) async fn detail(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    user: User,
    done: Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let who = &user.actor;
    let i = incident_of(&ops, &user, &product, &id).await?;
    let now = ops
        .release_health(who, &product, &i.version.to_string())
        .await?
        .gate;
    Ok(render(Detail {
        nav: Nav::new(&user, &product, "incidents", done.0.done.as_deref()),
        postmortem_html: i.postmortem.as_deref().map(crate::markdown),
        may_decide: user.may(Permission::IncidentDecide),
        may_postmortem: user.may(Permission::IncidentPostmortem),
        now,
        i,
    }))
}

/// The incident `id` of `product` (another product's is not found here).
async fn incident_of(ops: &Ops, user: &User, product: &str, id: &str) -> PageResult<Incident> {
    let i = ops.incident(&user.actor, id).await?;
    if i.product != product {
        return Err(OpError::NotFound(format!("no incident `{id}` in {product}")).into());
    }
    Ok(i)
}

fn to_incident(product: &str, id: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/{product}/incidents/{id}?done={done}")).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct AckForm {
    note: Option<String>,
}

/// `POST /console/{product}/alerts/{id}/ack`
pub(crate) async fn ack(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    f: Form<AckForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let a = ops.alert(&f.user.actor, &id).await?;
    if a.product != product {
        return Err(OpError::NotFound(format!("no alert `{id}` in {product}")).into());
    }
    ops.ack_alert(
        &f.user.actor,
        &id,
        AlertAck {
            note: given(f.fields.note),
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/console/{product}/incidents?done=acked")).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    action: String,
    note: Option<String>,
    /// For a rollback: the release to go back to (default: the newest that reached 100 %).
    to: Option<String>,
}

/// `POST /console/{product}/incidents/{id}/decision`
pub(crate) async fn decide(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    f: Form<DecisionForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    incident_of(&ops, &f.user, &product, &id).await?;
    let to = match given(f.fields.to) {
        Some(v) => Some(relops_ops::version(&v)?),
        None => None,
    };
    let i = ops
        .decide_incident(
            &f.user.actor,
            &id,
            IncidentDecision {
                action: f.fields.action,
                note: given(f.fields.note),
                to,
                force: false,
            },
        )
        .await?;
    let done = if i.status == "open" && i.rollback_request.is_some() {
        "rollback_pending"
    } else {
        "decided"
    };
    Ok(to_incident(&product, &id, done))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PostmortemForm {
    text: String,
}

/// `POST /console/{product}/incidents/{id}/postmortem`: the post-mortem as Markdown.
pub(crate) async fn postmortem(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    f: Form<PostmortemForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    incident_of(&ops, &f.user, &product, &id).await?;
    if f.fields.text.trim().is_empty() {
        return Err(OpError::Invalid(
            "the post-mortem is empty: write what happened, why, and what changes".into(),
        )
        .into());
    }
    ops.file_postmortem(&f.user.actor, &id, f.fields.text.into_bytes().into())
        .await?;
    Ok(to_incident(&product, &id, "postmortem"))
}
