//! The support desk (issue 25): tickets, their SLA and timeline, and mail intake.

use chrono::{DateTime, Utc};
use relops_core::version::Version;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/tickets`: open a ticket for a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpenTicket {
    pub subject: String,
    /// The customer's e-mail address.
    pub customer: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    /// `critical`, `high` or `normal`; a ticket about data loss, an app that does not start,
    /// or a crash of an open critical-failure alert is critical whatever is asked.
    #[serde(default)]
    pub priority: Option<String>,
    /// What the customer wrote (the ticket's first message).
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub release: Option<Version>,
    #[serde(default)]
    pub platform: Option<String>,
    /// The install's id (from the app's about box or its crash reports).
    #[serde(default)]
    pub install: Option<String>,
    /// Crash report ids to link.
    #[serde(default)]
    pub crashes: Vec<String>,
}

/// Where a ticket stands against its first-response SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketSla {
    /// When the first response is due; none once answered or while waiting on the customer.
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
    /// Minutes of the SLA clock used (up to the first response).
    pub used_minutes: i64,
    pub budget_minutes: i64,
    /// `around_the_clock` or `working_hours`.
    pub clock: String,
    /// The clock is running now (not answered, not waiting on the customer).
    pub running: bool,
    /// 75 % or more of the budget used without a response.
    pub warn: bool,
    pub breached: bool,
}

/// One entry of a ticket's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    /// `opened`, `customer` (the customer wrote), `reply` (to the customer), `note`
    /// (internal), `status`, `priority`, `assign`, `link`, `confirmed`, `escalated`.
    pub kind: String,
    pub author: String,
    #[serde(default)]
    pub body: Option<String>,
    /// What changed, for change events (`{"from": …, "to": …}`).
    #[serde(default)]
    pub detail: serde_json::Value,
    /// Files that came with this message.
    #[serde(default)]
    pub attachments: Vec<TicketAttachment>,
}

/// A file a customer's message brought (kept in the blob store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketAttachment {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// A ticket (`relops ticket show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    /// `WIZ-12`: the product's prefix and the ticket's number.
    pub id: String,
    pub product: String,
    pub subject: String,
    pub customer: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    pub priority: String,
    /// Why a rule chose the priority (data loss, app does not start, critical alert).
    #[serde(default)]
    pub priority_reason: Option<String>,
    /// `new`, `open`, `waiting_on_customer`, `escalated`, `solved`, `closed`.
    pub status: String,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub install: Option<String>,
    #[serde(default)]
    pub crashes: Vec<String>,
    /// Log bundles the app attached (shown with one ticket, not in lists); `relops logs
    /// get ID` opens one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_bundles: Vec<crate::LogBundleInfo>,
    #[serde(default)]
    pub incident: Option<String>,
    #[serde(default)]
    pub known_issue: Option<String>,
    /// The engineering issue it was escalated to (`jira:WIZ-24`, `github:owner/repo#42`),
    /// once the tracker created it, and its address.
    #[serde(default)]
    pub issue: Option<String>,
    #[serde(default)]
    pub issue_url: Option<String>,
    /// The documented cause or workaround.
    #[serde(default)]
    pub resolution: Option<String>,
    /// How the customer confirmed the solution (`reply`, `link`, or a support lead's note).
    #[serde(default)]
    pub confirmed: Option<String>,
    /// `api`, `mail`, `zendesk` or `app`.
    pub source: String,
    #[serde(default)]
    pub follow_up_of: Option<String>,
    pub opened_at: DateTime<Utc>,
    #[serde(default)]
    pub first_response_at: Option<DateTime<Utc>>,
    /// The first response's deadline (as `sla.due`).
    #[serde(default)]
    pub first_response_due: Option<DateTime<Utc>>,
    pub sla: TicketSla,
    #[serde(default)]
    pub solved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first. Empty in lists.
    #[serde(default)]
    pub timeline: Vec<TicketEvent>,
    /// What closing needs that is still missing (empty: it may close).
    #[serde(default)]
    pub close_blockers: Vec<String>,
    /// What relops knows around the ticket (`relops ticket show`; none in lists).
    #[serde(default)]
    pub analysis: Option<TicketAnalysis>,
}

/// The support analysis of a ticket: its crashes, the install's crashes, and the health of
/// the release it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketAnalysis {
    /// The linked crash reports (those relops has).
    pub crashes: Vec<crate::CrashReport>,
    /// The install's most recent crashes (at most 20, newest first).
    pub install_crashes: Vec<crate::CrashReport>,
    /// The release the ticket is about: its health gate and figures.
    #[serde(default)]
    pub release_health: Option<crate::HealthReport>,
    /// Open alerts of that release.
    pub open_alerts: Vec<crate::Alert>,
    /// Tickets about the same release (this one included): the support evidence a rollback
    /// decision is taken from.
    pub release_tickets: u64,
    /// Known issues whose fingerprint matches one of the crashes (a critical rule's name).
    #[serde(default)]
    pub known_issues: Vec<crate::KbArticle>,
    /// Published articles ranked by the ticket's subject, best first (at most 5).
    #[serde(default)]
    pub articles: Vec<crate::SearchHit>,
    /// The release's crash groups, most crashes first (at most 10).
    #[serde(default)]
    pub crash_groups: Vec<crate::CrashGroup>,
}

/// `GET /v1/tickets`: the queue, the first response due soonest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
    /// How many tickets match (the list holds at most `limit`).
    pub total: u64,
}

/// `POST /v1/tickets/{id}/reply` and `/note`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketMessage {
    pub body: String,
    /// For a reply: the ticket then waits on the customer (the SLA clock stops).
    #[serde(default)]
    pub wait_on_customer: bool,
}

/// `POST /v1/tickets/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketAssign {
    /// Who works it (a person's name); none to unassign.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// `POST /v1/tickets/{id}/priority`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketPriority {
    /// `critical`, `high` or `normal`.
    pub priority: String,
    pub reason: String,
}

/// `POST /v1/tickets/{id}/solve`: the solution; closing also needs the customer's
/// confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketSolve {
    /// The cause or workaround (needed unless a known issue is linked).
    #[serde(default)]
    pub resolution: Option<String>,
    /// A known issue that documents cause and workaround.
    #[serde(default)]
    pub known_issue: Option<String>,
}

/// `POST /v1/tickets/{id}/confirm`: a support lead records the customer's confirmation
/// (given by phone, for example).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketConfirm {
    pub note: String,
}

/// `POST /v1/tickets/{id}/reopen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketReopen {
    pub reason: String,
}

/// `POST /v1/tickets/{id}/link`: link crashes, an incident or a known issue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TicketLink {
    #[serde(default)]
    pub crashes: Vec<String>,
    #[serde(default)]
    pub incident: Option<String>,
    #[serde(default)]
    pub known_issue: Option<String>,
}

/// `POST /v1/tickets/mail`: what became of a customer's mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MailTaken {
    /// The ticket it went to; none when ignored.
    #[serde(default)]
    pub ticket: Option<String>,
    /// `opened`, `replied`, `reopened`, `follow_up`, `duplicate` (delivered before) or
    /// `ignored` (an automatic reply, never answered to avoid mail loops).
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A ticket named as evidence elsewhere (an incident): no customer data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketRef {
    pub id: String,
    pub priority: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
}

/// `POST /v1/tickets/{id}/escalate`: a reproducible bug becomes an engineering issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketEscalate {
    /// `jira` or `github`.
    pub tracker: String,
    /// What engineering needs to know (steps to reproduce).
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/ingest/problem`: the app's "report a problem" (authenticated by the DSN key,
/// like telemetry). Answers the ticket's id in `IngestAck.id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemReport {
    #[serde(flatten)]
    pub who: crate::InstallScope,
    /// Where support answers.
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub subject: String,
    /// What the user wrote.
    #[serde(default)]
    pub text: Option<String>,
    /// The install's recent crash ids (at most 10).
    #[serde(default)]
    pub crash_ids: Vec<String>,
}

/// `POST /v1/zendesk/webhook`: what relops did with a Zendesk ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZendeskTaken {
    /// The relops ticket mirroring it.
    pub ticket: String,
    /// `mirrored` (new), or `duplicate` (mirrored before).
    pub action: String,
}

/// `POST /v1/support/erase`: erase a customer's personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EraseCustomer {
    /// The customer's e-mail address.
    pub customer: String,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Erased {
    /// The tickets whose customer data was removed (they stay, without it).
    pub tickets: Vec<String>,
    /// Attached files deleted from the blob store.
    pub attachments_deleted: u64,
    /// Mail-out subscriptions and opt-outs removed (with their unsent mail).
    #[serde(default)]
    pub subscriptions_erased: u64,
}
