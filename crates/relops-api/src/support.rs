//! The support desk's outward mail (issue 25): major-incident mail-outs to the customers of
//! an affected release, the subscribers who opted in to them, and what a customer's signed
//! link (confirm a solution, unsubscribe) did.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/support/mailouts`: mail every customer with a ticket on the incident's release
/// (or linked to the incident) and every subscriber of the product. Running the same
/// mail-out again (same incident and subject) reaches only those it has not reached yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartMailout {
    /// `INC-3`.
    pub incident: String,
    /// Default: "<product> <release>: <incident title>".
    #[serde(default)]
    pub subject: Option<String>,
    /// The message (plain text); an unsubscribe link is added below it.
    pub body: String,
    /// Only say who it would reach; nothing is written or sent.
    #[serde(default)]
    pub dry_run: bool,
}

/// A mail-out and how far its delivery is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mailout {
    /// `INC-3.1` (empty in a dry run of a new mail-out).
    pub id: String,
    pub incident: String,
    pub product: String,
    pub release: String,
    pub subject: String,
    pub dry_run: bool,
    /// Whom it reaches now: ticket customers and subscribers, without opt-outs.
    pub audience: u64,
    /// Messages queued by this request (0 in a dry run, and when everyone had it already).
    pub newly_queued: u64,
    /// Messages queued in all, sent, and failing (retried by the outbox).
    pub queued: u64,
    pub sent: u64,
    pub failing: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A dry run's recipients who have not had it yet (the first 1,000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_reach: Vec<String>,
    /// When the last queued message is due (the pace is `[support] mailout_per_minute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_by: Option<DateTime<Utc>>,
}

/// `POST /v1/support/subscribers`: record a customer's opt-in to the product's incident
/// mail, with how they agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subscribe {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// How they opted in ("asked in WIZ-12", "signup form 2026-11-03").
    pub consent: String,
}

/// A subscriber, or an address that opted out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subscriber {
    pub email: String,
    pub name: Option<String>,
    pub subscribed_at: Option<DateTime<Utc>>,
    pub consent: Option<String>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// `GET /v1/support/subscribers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriberList {
    pub product: String,
    pub subscribers: Vec<Subscriber>,
}

/// What a customer's signed link did (or would do): the page it opens shows this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LinkOutcome {
    /// The ticket, or the product for an unsubscribe link.
    pub target: String,
    /// The ticket's subject, or the address that unsubscribes.
    pub about: String,
    /// `ready` (a click on the page's button does it), `done`, `done_before`.
    pub outcome: String,
}

/// `POST /v1/support/priority-rules`: a new ticket whose subject or text holds `phrase`
/// gets `priority` (support lead). Data loss and an app that does not start stay critical
/// whatever the rules say; a request more urgent than the rule stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewPriorityRule {
    /// Compared in lower case, e.g. "lizenz abgelaufen".
    pub phrase: String,
    /// `critical`, `high` or `normal`.
    pub priority: String,
}

/// `POST /v1/support/priority-rules/remove`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemovePriorityRule {
    pub phrase: String,
}

/// A priority rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PriorityRule {
    pub phrase: String,
    pub priority: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/support/priority-rules`: the product's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PriorityRuleList {
    pub product: String,
    pub rules: Vec<PriorityRule>,
}
