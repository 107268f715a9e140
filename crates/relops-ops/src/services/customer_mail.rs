//! Mail to customers (issue 25): a public reply, a solution, a major incident's mail-out — rendered with `lettre` when
//! the change is recorded and stored whole in the outbox (same transaction), so that a
//! retry after a restart sends the same bytes with the same Message-ID; the outbox worker
//! hands them to the `[support] smtp_url` server and marks them sent.
//!
//! Threading: the subject carries `[WIZ-12]`; `In-Reply-To` names the customer's latest
//! message and `References` every message of the ticket, so the customer's mail program
//! shows one conversation and their answer finds its ticket.

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use relops_store::{NewNotification, TicketRecord};
use serde::{Deserialize, Serialize};

use crate::config::SupportConfig;

/// The outbox row's `kind` for customer mail.
pub(crate) const MAIL_KIND: &str = "mail";

/// What the outbox keeps of a mail: the SMTP envelope and the message as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outgoing {
    pub from: String,
    pub to: Vec<String>,
    pub message: String,
}

/// Checks `[support] from` (a mailbox, `Name <address>`) and `smtp_url`.
pub(crate) fn check_config(cfg: &SupportConfig) -> Result<(), String> {
    cfg.from.parse::<Mailbox>().map_err(|e| {
        format!(
            "[support] from = {:?} is not a mail address (\"WIZARD Support <support@example.com>\"): {e}",
            cfg.from
        )
    })?;
    if let Some(url) = &cfg.smtp_url {
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).map_err(|e| {
            format!("[support] smtp_url = {url:?} does not read (smtp://host:port, smtps://user:pass@host): {e}")
        })?;
    }
    Ok(())
}

/// A mail about ticket `t` to its customer: `body`, with Message-ID `message_id` (no
/// brackets), answering the thread `thread` (its Message-IDs, oldest first). `None` when no
/// SMTP server is configured.
pub(crate) fn to_customer(
    cfg: &SupportConfig,
    t: &TicketRecord,
    subject_prefix: &str,
    body: String,
    message_id: &str,
    thread: &[String],
) -> Result<Option<NewNotification>, String> {
    if cfg.smtp_url.is_none() {
        return Ok(None);
    }
    let mut b = Message::builder()
        .subject(format!("{subject_prefix}[{}] {}", t.id, t.subject))
        .message_id(Some(format!("<{message_id}>")));
    if let Some(last) = thread.last() {
        b = b.in_reply_to(format!("<{last}>")).references(
            thread
                .iter()
                .map(|id| format!("<{id}>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let payload = compose(cfg, b, t.customer_name.clone(), &t.customer_email, body)?;
    Ok(Some(NewNotification {
        event: "ticket.mail".into(),
        product: t.product.clone(),
        version: t.release.clone().unwrap_or_default(),
        sink: "customer mail".into(),
        kind: MAIL_KIND.into(),
        // The server's address is read from the config when sending: the URL may hold
        // credentials, which the outbox does not keep.
        url: "[support] smtp_url".into(),
        payload,
        created_at: chrono::Utc::now(),
        reference: Some(t.id.clone()),
    }))
}

/// One recipient's message of mail-out `mailout`: `body` with the unsubscribe link below
/// it and in `List-Unsubscribe` (RFC 2369), one click (RFC 8058).
pub(crate) fn mailout_message(
    cfg: &SupportConfig,
    (product, version, mailout): (&str, &str, &str),
    to: &str,
    subject: &str,
    body: &str,
    unsubscribe_url: &str,
) -> Result<NewNotification, String> {
    let b = Message::builder()
        .subject(subject)
        .message_id(Some(format!(
            "<{}.{}@relops.invalid>",
            mailout.to_ascii_lowercase(),
            uuid::Uuid::new_v4().simple()
        )))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{unsubscribe_url}>"),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".into(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
    let text = format!(
        "{}\n\n-- \n{}\nYou receive this because you contacted us about {product} {version} or asked for \
         incident mail. Unsubscribe: {unsubscribe_url}",
        body.trim_end(),
        cfg.from
    );
    Ok(NewNotification {
        event: relops_store::MAILOUT_EVENT.into(),
        product: product.to_owned(),
        version: version.to_owned(),
        sink: "customer mail".into(),
        kind: MAIL_KIND.into(),
        url: "[support] smtp_url".into(),
        payload: compose(cfg, b, None, to, text)?,
        created_at: chrono::Utc::now(),
        reference: Some(mailout.to_owned()),
    })
}

/// The outbox payload of a plain-text mail from the desk to `address`: `b` (subject,
/// Message-ID, threading) completed with sender, recipient and `body`.
fn compose(
    cfg: &SupportConfig,
    b: lettre::message::MessageBuilder,
    name: Option<String>,
    address: &str,
    body: String,
) -> Result<String, String> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| format!("[support] from: {e}"))?;
    let to = Mailbox::new(
        name,
        address
            .parse()
            .map_err(|e| format!("customer address {address}: {e}"))?,
    );
    let m = b
        .from(from.clone())
        .to(to.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("building the mail: {e}"))?;
    let outgoing = Outgoing {
        from: from.email.to_string(),
        to: vec![to.email.to_string()],
        message: String::from_utf8(m.formatted()).map_err(|e| format!("mail bytes: {e}"))?,
    };
    serde_json::to_string(&outgoing).map_err(|e| e.to_string())
}

/// Sends one outbox mail through `smtp_url`.
pub(crate) async fn send(
    smtp_url: &str,
    payload: &str,
    timeout: std::time::Duration,
) -> Result<(), String> {
    use lettre::AsyncTransport;
    let o: Outgoing = serde_json::from_str(payload).map_err(|e| format!("stored mail: {e}"))?;
    let envelope = lettre::address::Envelope::new(
        Some(o.from.parse().map_err(|e| format!("from: {e}"))?),
        o.to.iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("to: {e}"))?,
    )
    .map_err(|e| format!("envelope: {e}"))?;
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(smtp_url)
        .map_err(|e| format!("smtp_url: {e}"))?
        .timeout(Some(timeout))
        .build();
    transport
        .send_raw(&envelope, o.message.as_bytes())
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}
