//! The desk's outward mail (`relops_ops::support_mail`): mail-outs, subscribers, and the
//! pages customers' signed links open — thin handlers. The pages answer in HTML whatever
//! happens (a customer clicked a link in a mail; JSON would mean nothing to them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use relops_api::{
    LinkOutcome, Mailout, NewPriorityRule, PriorityRuleList, RemovePriorityRule, StartMailout,
    Subscribe, Subscriber, SubscriberList,
};
use relops_console::web::html;
use relops_ops::OpError;
use serde::Deserialize;

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use relops_console::support::link_page;

/// `POST /v1/support/mailouts`
pub async fn start_mailout(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<StartMailout>,
) -> ApiResult<Json<Mailout>> {
    Ok(Json(state.ops.start_mailout(&who, req).await?))
}

/// `GET /v1/support/mailouts/{id}`
pub async fn mailout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<Mailout>> {
    Ok(Json(state.ops.mailout(&who, &id).await?))
}

/// `POST /v1/support/subscribers`
pub async fn subscribe(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<Subscribe>,
) -> ApiResult<Json<Subscriber>> {
    Ok(Json(state.ops.subscribe(&who, &product, req).await?))
}

/// `GET /v1/support/subscribers`
pub async fn subscribers(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<SubscriberList>> {
    Ok(Json(state.ops.subscribers(&who, &product).await?))
}

#[derive(Debug, Deserialize)]
pub struct Signed {
    #[serde(default)]
    sig: String,
    #[serde(default)]
    email: String,
}

/// A link's outcome as a page: `ready` offers the button, the rest say what happened; a
/// refusal (a link that is not valid) is a 404 page saying what to do instead.
fn page(
    outcome: Result<LinkOutcome, OpError>,
    title: &str,
    button: &str,
    done: &str,
    ready: &str,
) -> ApiResult<Response> {
    match outcome {
        Ok(o) => {
            let about = format!("{} — {}", o.target, o.about);
            let (message, button) = match o.outcome.as_str() {
                "ready" => (ready, Some(button)),
                "done" => (done, None),
                _ => ("This was done already. Nothing else is needed.", None),
            };
            Ok(html(
                StatusCode::OK,
                link_page(title, &about, message, button),
            ))
        }
        Err(OpError::Refused(m)) => Ok(html(StatusCode::NOT_FOUND, link_page(title, "", &m, None))),
        Err(e) => Err(e.into()),
    }
}

const CONFIRM: &str = "Confirm that your request is solved";
const UNSUBSCRIBE: &str = "Unsubscribe from incident mail";

/// `GET /support/{product}/confirm/{id}?sig=`
pub async fn confirm_page(
    State(state): State<AppState>,
    Path((product, id)): Path<(String, String)>,
    Query(q): Query<Signed>,
) -> ApiResult<Response> {
    let o = state.ops.confirmation(&product, &id, &q.sig).await;
    page(
        o,
        CONFIRM,
        "Yes, it is solved",
        "Thank you — your confirmation is recorded and we will close the request.",
        "If the solution works for you, press the button. If it does not, answer our mail instead.",
    )
}

/// `POST /support/{product}/confirm/{id}?sig=`
pub async fn confirm(
    State(state): State<AppState>,
    Path((product, id)): Path<(String, String)>,
    Query(q): Query<Signed>,
) -> ApiResult<Response> {
    let o = state.ops.confirm_by_link(&product, &id, &q.sig).await;
    page(
        o,
        CONFIRM,
        "",
        "Thank you — your confirmation is recorded and we will close the request.",
        "",
    )
}

/// `GET /support/{product}/unsubscribe?email=&sig=`
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(product): Path<String>,
    Query(q): Query<Signed>,
) -> ApiResult<Response> {
    let o = state.ops.unsubscription(&product, &q.email, &q.sig).await;
    page(
        o,
        UNSUBSCRIBE,
        "Unsubscribe",
        "You are unsubscribed: no more incident mail reaches this address. Answers to your own requests still do.",
        "Press the button to receive no more incident mail at this address.",
    )
}

/// `POST /support/{product}/unsubscribe?email=&sig=`: the page's button, or a mail
/// program's one-click unsubscribe (RFC 8058; its form body is not needed).
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(product): Path<String>,
    Query(q): Query<Signed>,
) -> ApiResult<Response> {
    let o = state.ops.unsubscribe(&product, &q.email, &q.sig).await;
    page(
        o,
        UNSUBSCRIBE,
        "",
        "You are unsubscribed: no more incident mail reaches this address. Answers to your own requests still do.",
        "",
    )
}

/// `GET /v1/support/priority-rules`
pub async fn priority_rules(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<PriorityRuleList>> {
    Ok(Json(state.ops.priority_rules(&who, &product).await?))
}

/// `POST /v1/support/priority-rules`
pub async fn put_priority_rule(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<NewPriorityRule>,
) -> ApiResult<Json<PriorityRuleList>> {
    Ok(Json(
        state.ops.put_priority_rule(&who, &product, req).await?,
    ))
}

/// `POST /v1/support/priority-rules/remove`
pub async fn remove_priority_rule(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<RemovePriorityRule>,
) -> ApiResult<Json<PriorityRuleList>> {
    Ok(Json(
        state.ops.remove_priority_rule(&who, &product, req).await?,
    ))
}
