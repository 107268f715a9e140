//! Zendesk, the playbook's intake (issue 25). A Zendesk trigger calls relops' webhook with
//! the ticket; relops verifies the webhook's signature, mirrors the ticket (priority mapped,
//! its SLA from relops' clock) and posts its analysis back as an internal note.
//!
//! - Signature (Zendesk's webhook security): `X-Zendesk-Webhook-Signature` is the base64
//!   HMAC-SHA256, keyed with the webhook's signing secret, of
//!   `X-Zendesk-Webhook-Signature-Timestamp` followed by the raw body. Checked in constant
//!   time; a timestamp more than five minutes away from now is refused (a replay).
//! - The note: `PUT {url}/api/v2/tickets/{id}.json` with
//!   `{"ticket": {"comment": {"body": …, "public": false}}}`, basic auth
//!   `{email}/token:{api_token}` — through the outbox, credentials from the config.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use relops_store::NewNotification;
use serde::Deserialize;
use sha2::Sha256;

use crate::config::ZendeskConfig;

/// The outbox kind of Zendesk notes.
pub(crate) const KIND: &str = "zendesk";

/// How far the signature's timestamp may be from now.
const MAX_SKEW_SECONDS: i64 = 300;

/// Whether `signature` (base64) signs `timestamp` + `body` with `secret`, and the
/// timestamp is recent.
pub(crate) fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let at = chrono::DateTime::parse_from_rfc3339(timestamp.trim())
        .map_err(|_| "X-Zendesk-Webhook-Signature-Timestamp is not an RFC 3339 time".to_owned())?;
    if (now - at.with_timezone(&chrono::Utc)).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(format!(
            "the signature's timestamp {timestamp} is more than {MAX_SKEW_SECONDS} s from now (a replay, or a clock off)"
        ));
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| "X-Zendesk-Webhook-Signature is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| format!("signing secret: {e}"))?;
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| {
        "the Zendesk webhook signature does not match: check [support.zendesk] signing_secret"
            .to_owned()
    })
}

/// What the Zendesk trigger sends (its JSON body, `docs/support.md`).
#[derive(Debug, Clone, Deserialize)]
pub struct ZendeskEvent {
    pub ticket: ZendeskTicket,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ZendeskTicket {
    pub id: u64,
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `urgent`, `high`, `normal`, `low`.
    #[serde(default)]
    pub priority: Option<String>,
    pub requester: ZendeskRequester,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ZendeskRequester {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Zendesk's priority as relops' (urgent is critical, low is normal).
pub(crate) fn priority(p: Option<&str>) -> Option<&'static str> {
    match p? {
        "urgent" => Some("critical"),
        "high" => Some("high"),
        "normal" | "low" => Some("normal"),
        _ => None,
    }
}

/// The outbox row that posts `text` to Zendesk ticket `id` as an internal note.
pub(crate) fn note(
    cfg: &ZendeskConfig,
    product: &str,
    reference: &str,
    id: u64,
    text: &str,
) -> NewNotification {
    NewNotification {
        event: "ticket.zendesk_note".into(),
        product: product.to_owned(),
        version: String::new(),
        sink: KIND.into(),
        kind: KIND.into(),
        url: format!("{}/api/v2/tickets/{id}.json", cfg.url.trim_end_matches('/')),
        payload: serde_json::json!({"ticket": {"comment": {"body": text, "public": false}}})
            .to_string(),
        created_at: chrono::Utc::now(),
        reference: Some(reference.to_owned()),
    }
}

/// Zendesk's API token authentication.
pub(crate) fn authorize(
    cfg: &ZendeskConfig,
    rb: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    rb.basic_auth(format!("{}/token", cfg.email), Some(&cfg.api_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-05T10:00:00Z".parse().unwrap();
        let ts = "2026-12-05T09:59:30Z";
        let body = br#"{"ticket":{"id":1}}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(ts.as_bytes());
        mac.update(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(verify("s3cret", ts, body, &sig, now), Ok(()));
        assert!(
            verify("other", ts, body, &sig, now)
                .unwrap_err()
                .contains("does not match")
        );
        assert!(verify("s3cret", ts, b"{}", &sig, now).is_err());
        let late = "2026-12-05T10:10:00Z".parse().unwrap();
        assert!(
            verify("s3cret", ts, body, &sig, late)
                .unwrap_err()
                .contains("replay")
        );
        assert!(verify("s3cret", ts, body, "***", now).is_err());
    }
}
