//! The Zendesk webhook (issue 25): a signed call from a Zendesk trigger mirrors its ticket
//! into relops, with relops' priority rules and SLA, and relops' first analysis goes back
//! to Zendesk as an internal note (`services::zendesk`).

use bytes::Bytes;
use chrono::Utc;
use relops_api::{OpenTicket, ZendeskTaken};

use crate::error::{OpError, OpResult};
use crate::services::zendesk::{self, ZendeskEvent};
use crate::tickets::Intake;
use crate::{Authorized, Ops};

/// Who mirrors Zendesk tickets, in the audit trail.
const ZENDESK_NAME: &str = "Zendesk webhook (system)";

impl Ops {
    /// Takes one signed Zendesk webhook call for `product`.
    pub async fn take_zendesk(
        &self,
        product: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: Bytes,
    ) -> OpResult<ZendeskTaken> {
        let cfg = self.config.support.zendesk.clone().ok_or_else(|| {
            OpError::NotFound(
                "Zendesk is not configured here ([support.zendesk], docs/support.md)".into(),
            )
        })?;
        let (Some(ts), Some(sig)) = (timestamp, signature) else {
            return Err(OpError::Forbidden {
                permission: None,
                message: "a Zendesk webhook call carries X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp".into(),
            });
        };
        zendesk::verify(&cfg.signing_secret, ts, &body, sig, Utc::now()).map_err(|message| {
            OpError::Forbidden {
                permission: None,
                message,
            }
        })?;
        let e: ZendeskEvent = serde_json::from_slice(&body).map_err(|e| {
            OpError::Invalid(format!(
                "the webhook body is not the ticket relops expects ({{\"ticket\": {{\"id\", \"subject\", \"requester\": {{\"email\"}}}}}}, docs/support.md): {e}"
            ))
        })?;
        let zid = e.ticket.id;
        let external = format!("zendesk:{zid}");
        if let Some(t) = self.db.ticket_by_external_ref(product, &external).await? {
            return Ok(ZendeskTaken {
                ticket: t,
                action: "duplicate".into(),
            });
        }
        let customer = crate::tickets::customer_address(&e.ticket.requester.email)?;
        let others = self.db.tickets_of_customer(&customer).await?;
        let who = Authorized {
            name: ZENDESK_NAME.into(),
            request_id: None,
        };
        let open = OpenTicket {
            subject: e.ticket.subject,
            customer: customer.clone(),
            customer_name: e.ticket.requester.name,
            priority: zendesk::priority(e.ticket.priority.as_deref()).map(str::to_owned),
            body: e.ticket.description,
            release: None,
            platform: None,
            install: None,
            crashes: Vec::new(),
        };
        let product_owned = product.to_owned();
        let tell: crate::tickets::Tell = Box::new(move |id: &str| {
            let earlier: Vec<String> = others
                .iter()
                .map(|t| {
                    format!(
                        "{} ({}, {}{})",
                        t.id,
                        t.status,
                        t.subject.chars().take(60).collect::<String>(),
                        t.release
                            .as_deref()
                            .map(|r| format!(", release {r}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let text = format!(
                "relops mirrors this ticket as {id}: `relops ticket show {id}`.\n{}",
                if earlier.is_empty() {
                    "This customer has no earlier tickets in relops.".to_owned()
                } else {
                    format!(
                        "This customer's earlier tickets in relops: {}.",
                        earlier.join("; ")
                    )
                }
            );
            vec![zendesk::note(&cfg, &product_owned, id, zid, &text)]
        });
        let intake = Intake {
            external_ref: Some(external),
            tell: Some(tell),
            ..Intake::from("zendesk", customer)
        };
        let t = self.open_ticket_as(&who, product, open, intake).await?;
        Ok(ZendeskTaken {
            ticket: t.id,
            action: "mirrored".into(),
        })
    }
}
