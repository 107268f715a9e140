//! The support desk's tickets (`relops_ops::tickets`): thin handlers.

use axum::extract::State;
use relops_api::{
    MailTaken, OpenTicket, Ticket, TicketAssign, TicketConfirm, TicketEscalate, TicketLink,
    TicketList, TicketMessage, TicketPriority, TicketReopen, TicketSolve,
};
use serde::Deserialize;

use super::Product;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};

/// `POST /v1/tickets`
pub async fn open(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Json(req): Json<OpenTicket>,
) -> ApiResult<(axum::http::StatusCode, Json<Ticket>)> {
    let t = state.ops.open_ticket(&who, &product, req).await?;
    Ok((axum::http::StatusCode::CREATED, Json(t)))
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    /// Comma-separated statuses (default: every status but closed).
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /v1/tickets?status=&limit=`
pub async fn list(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    Query(q): Query<QueueQuery>,
) -> ApiResult<Json<TicketList>> {
    let statuses: Vec<String> = q
        .status
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Json(
        state
            .ops
            .tickets(&who, &product, &statuses, q.limit.unwrap_or(50))
            .await?,
    ))
}

/// `GET /v1/tickets/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.ticket(&who, &id).await?))
}

/// `POST /v1/tickets/{id}/reply`
pub async fn reply(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketMessage>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.reply_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/note`
pub async fn note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketMessage>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.note_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/assign`
pub async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketAssign>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.assign_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/priority`
pub async fn priority(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketPriority>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.prioritise_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/link`
pub async fn link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketLink>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.link_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/solve`
pub async fn solve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketSolve>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.solve_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/confirm`
pub async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketConfirm>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.confirm_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/close`
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.close_ticket(&who, &id).await?))
}

/// `POST /v1/tickets/{id}/escalate`
pub async fn escalate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketEscalate>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.escalate_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/{id}/reopen`
pub async fn reopen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(who): Caller,
    Json(req): Json<TicketReopen>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.ops.reopen_ticket(&who, &id, req).await?))
}

/// `POST /v1/tickets/mail` (body: one RFC 5322 message): read up to the desk's limit; a
/// larger message is refused — after reading on (and dropping) what the sender still sends,
/// up to four times the limit, so that the MTA pipe reads the refusal (exit 1, a bounce)
/// instead of a reset connection (exit 75, retried for days).
pub async fn mail(
    State(state): State<AppState>,
    Product(product): Product,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<MailTaken>> {
    use http_body_util::BodyExt;
    let limit = state.ops.config().support.max_message_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let drain_up_to = limit.saturating_mul(4);
    let mut raw = Vec::new();
    let mut seen: u64 = 0;
    let mut body = body;
    let too_large = declared.is_some_and(|n| n > limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            crate::error::ApiError::BadRequest(format!("the message could not be read: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > drain_up_to {
            break;
        }
        if !too_large && seen <= limit {
            raw.extend_from_slice(&data);
        }
    }
    if too_large || seen > limit {
        return Err(state.ops.mail_too_large(declared.or(Some(seen))).into());
    }
    Ok(Json(
        state
            .ops
            .take_mail(&who, &product, bytes::Bytes::from(raw))
            .await?,
    ))
}

/// `POST /v1/zendesk/webhook?product=`: a Zendesk trigger's call, signed with the webhook's
/// secret (the signature is the authentication).
pub async fn zendesk(
    State(state): State<AppState>,
    Product(product): Product,
    headers: axum::http::HeaderMap,
    crate::extract::Bytes(body): crate::extract::Bytes,
) -> ApiResult<Json<relops_api::ZendeskTaken>> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The body is read raw (the signature covers its bytes), so the type is checked here.
    if !h("content-type").is_some_and(|c| c.trim_start().starts_with("application/json")) {
        return Err(crate::error::ApiError::UnsupportedMediaType(
            "send `Content-Type: application/json` (the Zendesk webhook's JSON body)".into(),
        ));
    }
    Ok(Json(
        state
            .ops
            .take_zendesk(
                &product,
                h("x-zendesk-webhook-signature-timestamp"),
                h("x-zendesk-webhook-signature"),
                body,
            )
            .await?,
    ))
}

/// `POST /v1/support/erase`
pub async fn erase(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<relops_api::EraseCustomer>,
) -> ApiResult<Json<relops_api::Erased>> {
    Ok(Json(state.ops.erase_customer(&who, req).await?))
}

/// `GET /v1/tickets/{id}/attachments/{sha256}`: a customer's file, opened; audited. Always
/// `application/octet-stream` and a download: the customer's content type is not trusted
/// to render in a browser.
pub async fn attachment(
    State(state): State<AppState>,
    Path((id, sha256)): Path<(String, String)>,
    Caller(who): Caller,
) -> ApiResult<impl axum::response::IntoResponse> {
    use axum::http::header;
    let (name, bytes) = state.ops.ticket_attachment(&who, &id, &sha256).await?;
    // The file name as a quoted-string: only characters that need no escaping.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    ))
}
