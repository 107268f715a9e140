//! The one table of routes: method, path, what it needs, what it does — and the handler.
//!
//! [`crate::router`] builds the server from it, putting a guard in front of every route that
//! authenticates the caller and checks the route's permission before any extractor or
//! handler runs (ingest routes: their `IngestProduct` extractor, which runs first); a
//! route cannot be added without saying what it needs. The same table
//! generates `docs/permissions.md` and drives the test that calls every route with every
//! role.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use relops_core::access::{Permission, Role};
use schemars::{JsonSchema, SchemaGenerator};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use super::spec::{Access, Body, RouteSpec, method};
use super::{
    alerts, artifacts, audit, checklist, crashes, gates, health, incidents, ingest, kb,
    log_bundles, pilot, probes, public, releases, retention, rollouts, support, tickets, tokens,
    tuf, update, updaters,
};
use crate::AppState;
use crate::auth::authenticate;

struct Entry {
    spec: RouteSpec,
    handler: MethodRouter<AppState>,
}

fn e(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    handler: MethodRouter<AppState>,
) -> Entry {
    Entry {
        spec: RouteSpec {
            method,
            path,
            access,
            summary,
            request: Body::None,
            response: Body::None,
            status: 200,
            large_body: false,
            symbol_body: false,
            telemetry: false,
            decodes_body: false,
        },
        handler,
    }
}

impl Entry {
    /// Takes a JSON `T`.
    fn takes<T: JsonSchema>(mut self) -> Self {
        self.spec.request = Body::Json(SchemaGenerator::subschema_for::<T>);
        self
    }

    fn takes_media(mut self, media: &'static str) -> Self {
        self.spec.request = Body::Media(media);
        self
    }

    /// Answers a JSON `T`.
    fn answers<T: JsonSchema>(mut self) -> Self {
        self.spec.response = Body::Json(SchemaGenerator::subschema_for::<T>);
        self
    }

    fn answers_media(mut self, media: &'static str) -> Self {
        self.spec.response = Body::Media(media);
        self
    }

    /// Answers `201 Created`.
    fn created(mut self) -> Self {
        self.spec.status = 201;
        self
    }
}

const MARKDOWN: &str = "text/markdown";
const BYTES: &str = "application/octet-stream";
const MULTIPART: &str = "multipart/form-data";

fn entries() -> Vec<Entry> {
    use Access::{Permission as P, Public, Token};
    use Permission::*;
    use relops_api as api;
    let mut v =
        vec![
        e("GET", "/healthz", Public, "the process is up", get(probes::healthz))
            .answers_media("text/plain"),
        e(
            "GET",
            "/readyz",
            Public,
            "database and blob store reachable",
            get(probes::readyz),
        )
        .answers_media("text/plain"),
        e(
            "GET",
            "/tuf/{product}/metadata/{file}",
            Public,
            "TUF metadata of the update feed",
            get(tuf::metadata),
        )
        .answers_media("application/json"),
        e(
            "GET",
            "/tuf/{product}/targets/{file}",
            Public,
            "a file of the update feed",
            get(tuf::target),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/feeds/{product}/{channel}/{file}",
            Public,
            "a feed for another updater (appcast.xml, latest.yml, latest-mac.yml, \
             latest-linux.yml, releases.{channel}.json) or one of its files",
            get(updaters::channel_file),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/feeds/{product}/{channel}/{platform}/{file}",
            Public,
            "the same for one platform (Velopack's URL cannot carry a query)",
            get(updaters::platform_file),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/tuf/{product}/notes/{file}",
            Public,
            "release notes of a published release",
            get(tuf::notes),
        )
        .answers_media(MARKDOWN),
        e(
            "POST",
            "/v1/releases",
            P(ReleaseWrite),
            "create a release",
            post(releases::create),
        )
        .takes::<api::CreateRelease>()
        .answers::<api::Release>()
        .created(),
        e(
            "GET",
            "/v1/releases",
            P(ReleaseRead),
            "list releases",
            get(releases::list),
        )
        .answers::<api::ReleaseList>(),
        e(
            "GET",
            "/v1/releases/{version}",
            P(ReleaseRead),
            "show a release",
            get(releases::show),
        )
        .answers::<api::Release>(),
        e(
            "POST",
            "/v1/releases/{version}/freeze",
            P(ReleaseWrite),
            "feature freeze",
            post(releases::freeze),
        )
        .answers::<api::Release>(),
        e(
            "POST",
            "/v1/releases/{version}/approve",
            P(ReleaseApprove),
            "go/no-go decision (go: publish in the feed)",
            post(checklist::approve),
        )
        .takes::<api::ApproveRequest>()
        .answers::<api::Checklist>(),
        e(
            "POST",
            "/v1/releases/{version}/approve/confirm",
            P(WaiverConfirm),
            "confirm an emergency go with waivers (a second person)",
            post(checklist::confirm_waiver),
        )
        .answers::<api::Checklist>(),
        e(
            "PUT",
            "/v1/releases/{version}/notes",
            P(ReleaseNotes),
            "upload release notes",
            put(releases::put_notes),
        )
        .takes_media(MARKDOWN)
        .answers::<api::Release>(),
        e(
            "GET",
            "/v1/releases/{version}/notes",
            P(ReleaseRead),
            "read release notes",
            get(releases::get_notes),
        )
        .answers_media(MARKDOWN),
        e(
            "GET",
            "/v1/releases/{version}/artifacts",
            P(ReleaseRead),
            "list artifacts",
            get(artifacts::list),
        )
        .answers::<api::ArtifactList>(),
        e(
            "PUT",
            "/v1/releases/{version}/artifacts/{name}",
            P(ArtifactWrite),
            "upload an artifact (after the freeze also artifact.critical_fix)",
            put(artifacts::upload),
        )
        .takes_media(BYTES)
        .answers::<api::Artifact>()
        .created(),
        e(
            "POST",
            "/v1/releases/{version}/artifacts/{name}/check",
            P(ArtifactWrite),
            "would this upload be accepted? (the upload's checks, no body; the CLI asks before it sends a file)",
            post(artifacts::check),
        )
        .answers::<api::UploadCheck>(),
        e(
            "GET",
            "/v1/releases/{version}/artifacts/{name}",
            P(ReleaseRead),
            "download an artifact",
            get(artifacts::download),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/v1/releases/{version}/SHA256SUMS",
            P(ReleaseRead),
            "checksums",
            get(artifacts::sha256sums),
        )
        .answers_media("text/plain"),
        e(
            "POST",
            "/v1/releases/{version}/verify",
            P(ReleaseRead),
            "re-verify stored artifacts",
            post(artifacts::verify),
        )
        .answers::<api::VerifyReport>(),
        e(
            "GET",
            "/v1/releases/{version}/gates",
            P(ReleaseRead),
            "gate verdicts",
            get(gates::list),
        )
        .answers::<api::GateList>(),
        e(
            "GET",
            "/v1/releases/{version}/checklist",
            P(ReleaseRead),
            "readiness checklist",
            get(checklist::show),
        )
        .answers::<api::Checklist>(),
        e(
            "PUT",
            "/v1/releases/{version}/checklist/{item}",
            P(ChecklistSign),
            "sign a checklist item (its owner role only; body: optional evidence file)",
            put(checklist::sign),
        )
        .takes_media(BYTES)
        .answers::<api::Checklist>(),
        e(
            "GET",
            "/v1/releases/{version}/rollout",
            P(ReleaseRead),
            "rollout status",
            get(rollouts::show),
        )
        .answers::<api::RolloutStatus>(),
        e(
            "POST",
            "/v1/releases/{version}/rollout/{action}",
            P(RolloutManage),
            "rollout step: start, advance, pause or resume",
            post(rollouts::step),
        )
        .takes::<api::RolloutStep>()
        .answers::<api::RolloutStatus>(),
        e(
            "POST",
            "/v1/releases/{version}/rollout/halt",
            P(RolloutHalt),
            "halt a rollout: no new installs get the release",
            post(rollouts::halt),
        )
        .takes::<api::RolloutStep>()
        .answers::<api::RolloutStatus>(),
        e(
            "POST",
            "/v1/rollback",
            P(Rollback),
            "roll back: withdraw releases, publish a rollback directive, open an incident",
            post(rollouts::rollback),
        )
        .takes::<api::RollbackRequest>()
        .answers::<api::RollbackAnswer>()
        .created(),
        e(
            "GET",
            "/v1/incidents",
            P(ReleaseRead),
            "list incidents",
            get(incidents::list),
        )
        .answers::<api::IncidentList>(),
        e(
            "GET",
            "/v1/incidents/{id}",
            P(ReleaseRead),
            "show an incident (evidence, decision, post-mortem)",
            get(incidents::show),
        )
        .answers::<api::Incident>(),
        e(
            "POST",
            "/v1/incidents/{id}/decision",
            P(IncidentDecide),
            "decide an incident: rollback, hotfix or next-patch",
            post(incidents::decide),
        )
        .takes::<api::IncidentDecision>()
        .answers::<api::Incident>(),
        e(
            "PUT",
            "/v1/incidents/{id}/postmortem",
            P(IncidentPostmortem),
            "file an incident's post-mortem (Markdown)",
            put(incidents::postmortem),
        )
        .takes_media(MARKDOWN)
        .answers::<api::Incident>(),
        e(
            "GET",
            "/v1/crashes",
            P(ReleaseRead),
            "list crash reports (?release=)",
            get(crashes::list),
        )
        .answers::<api::CrashList>(),
        e(
            "GET",
            "/v1/crashes/{id}",
            P(ReleaseRead),
            "show a crash report's metadata",
            get(crashes::show),
        )
        .answers::<api::CrashReport>(),
        e(
            "GET",
            "/v1/crashes/{id}/dump",
            P(CrashDump),
            "the crash dump, opened (sealed ones with the crash key); audited",
            get(crashes::dump),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/v1/crashes/{id}/attachments/{n}",
            P(CrashDump),
            "a file sent with the crash (numbered from 0), opened with the crash key; audited",
            get(crashes::attachment),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/v1/log-bundles",
            P(ReleaseRead),
            "the log bundles attached to a crash (?crash=ID, by the install that crashed) or a ticket (?ticket=ID)",
            get(log_bundles::list),
        )
        .answers::<api::LogBundleList>(),
        e(
            "GET",
            "/v1/log-bundles/{id}",
            P(CrashDump),
            "a log bundle (tar.gz of app and error logs), opened with the crash key; audited",
            get(log_bundles::get),
        )
        .answers_media("application/gzip"),
        e(
            "GET",
            "/v1/symbols",
            P(ReleaseRead),
            "list symbol files (?release=)",
            get(crashes::symbols),
        )
        .answers::<api::SymbolList>(),
        e(
            "GET",
            "/v1/releases/{version}/crash-groups",
            P(ReleaseRead),
            "a release's crash groups, most crashes first, with new and regressed flags",
            get(crashes::groups),
        )
        .answers::<api::CrashGroupList>(),
        e(
            "GET",
            "/v1/crash-groups/{id}",
            P(ReleaseRead),
            "a crash group's history per release, newest crashes and stack",
            get(crashes::group),
        )
        .answers::<api::CrashGroupHistory>(),
        e(
            "PUT",
            "/v1/crash-groups/{id}/fixed",
            P(ReleaseWrite),
            "mark the release that fixes a crash group (fixed_in null clears it)",
            put(crashes::mark_fixed),
        )
        .takes::<api::MarkFixed>()
        .answers::<api::CrashGroupHistory>(),
        e(
            "GET",
            "/v1/alerts",
            P(ReleaseRead),
            "list alerts (open ones; ?all=true for resolved too)",
            get(alerts::list),
        )
        .answers::<api::AlertList>(),
        e(
            "GET",
            "/v1/alerts/{id}",
            P(ReleaseRead),
            "show an alert with its evidence and actions",
            get(alerts::show),
        )
        .answers::<api::Alert>(),
        e(
            "POST",
            "/v1/releases/{version}/escalate",
            P(IncidentEscalate),
            "escalate a critical failure confirmed by support: roll back at once, page, incident",
            post(alerts::escalate),
        )
        .takes::<api::Escalation>()
        .answers::<api::Alert>()
        .created(),
        e(
            "POST",
            "/v1/alerts/{id}/ack",
            P(AlertAck),
            "acknowledge an alert",
            post(alerts::ack),
        )
        .takes::<api::AlertAck>()
        .answers::<api::Alert>(),
        e(
            "POST",
            "/v1/tickets",
            P(TicketWork),
            "open a support ticket (priority from the rules, first response due per the SLA)",
            post(tickets::open),
        )
        .takes::<api::OpenTicket>()
        .answers::<api::Ticket>()
        .created(),
        e(
            "GET",
            "/v1/tickets",
            P(TicketRead),
            "the support queue, first response due soonest first (?status=a,b&limit=)",
            get(tickets::list),
        )
        .answers::<api::TicketList>(),
        e(
            "POST",
            "/v1/tickets/mail",
            P(TicketWork),
            "take a customer's mail (RFC 5322): open a ticket or thread it into one (the MTA pipe)",
            post(tickets::mail),
        )
        .takes_media("message/rfc822")
        .answers::<api::MailTaken>(),
        e(
            "POST",
            "/v1/zendesk/webhook",
            Public,
            "a Zendesk trigger's webhook (authenticated by its signature): mirror the ticket, note the analysis back",
            post(tickets::zendesk),
        )
        .takes::<serde_json::Value>()
        .answers::<api::ZendeskTaken>(),
        e(
            "POST",
            "/v1/support/erase",
            P(TicketLead),
            "erase a customer's personal data from their tickets, mail and attachments (audited)",
            post(tickets::erase),
        )
        .takes::<api::EraseCustomer>()
        .answers::<api::Erased>(),
        e(
            "POST",
            "/v1/support/mailouts",
            P(TicketLead),
            "a major incident's mail to every customer with a ticket on its release and every subscriber (dry_run: who it would reach); again: only those not reached yet",
            post(support::start_mailout),
        )
        .takes::<api::StartMailout>()
        .answers::<api::Mailout>(),
        e(
            "GET",
            "/v1/support/mailouts/{id}",
            P(TicketRead),
            "a mail-out: whom it reaches, how many are sent",
            get(support::mailout),
        )
        .answers::<api::Mailout>(),
        e(
            "GET",
            "/v1/support/priority-rules",
            P(TicketRead),
            "the support lead's priority rules: phrases that give a new ticket its priority",
            get(support::priority_rules),
        )
        .answers::<api::PriorityRuleList>(),
        e(
            "POST",
            "/v1/support/priority-rules",
            P(TicketLead),
            "add or change a priority rule (audited)",
            post(support::put_priority_rule),
        )
        .takes::<api::NewPriorityRule>()
        .answers::<api::PriorityRuleList>(),
        e(
            "POST",
            "/v1/support/priority-rules/remove",
            P(TicketLead),
            "remove a priority rule (audited)",
            post(support::remove_priority_rule),
        )
        .takes::<api::RemovePriorityRule>()
        .answers::<api::PriorityRuleList>(),
        e(
            "POST",
            "/v1/support/subscribers",
            P(TicketWork),
            "record a customer's opt-in to the product's incident mail (with how they agreed)",
            post(support::subscribe),
        )
        .takes::<api::Subscribe>()
        .answers::<api::Subscriber>(),
        e(
            "GET",
            "/v1/support/subscribers",
            P(TicketRead),
            "the product's incident-mail subscribers and opt-outs",
            get(support::subscribers),
        )
        .answers::<api::SubscriberList>(),
        e(
            "GET",
            "/v1/tickets/{id}/attachments/{sha256}",
            P(CrashDump),
            "a file the customer attached, opened (stored sealed to the crash key); audited",
            get(tickets::attachment),
        )
        .answers_media(BYTES),
        e(
            "GET",
            "/v1/tickets/{id}",
            P(TicketRead),
            "a ticket with its SLA, timeline and what closing still needs",
            get(tickets::show),
        )
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/reply",
            P(TicketWork),
            "reply to the customer (the first reply is the SLA's first response)",
            post(tickets::reply),
        )
        .takes::<api::TicketMessage>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/note",
            P(TicketWork),
            "add an internal note",
            post(tickets::note),
        )
        .takes::<api::TicketMessage>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/assign",
            P(TicketLead),
            "assign a ticket",
            post(tickets::assign),
        )
        .takes::<api::TicketAssign>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/priority",
            P(TicketLead),
            "set a ticket's priority, with the reason (audited)",
            post(tickets::priority),
        )
        .takes::<api::TicketPriority>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/link",
            P(TicketWork),
            "link crash reports, an incident or a known issue",
            post(tickets::link),
        )
        .takes::<api::TicketLink>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/solve",
            P(TicketWork),
            "solve a ticket: the cause or workaround, or a known issue",
            post(tickets::solve),
        )
        .takes::<api::TicketSolve>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/confirm",
            P(TicketLead),
            "record the customer's confirmation of the solution (by phone, say)",
            post(tickets::confirm),
        )
        .takes::<api::TicketConfirm>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/close",
            P(TicketWork),
            "close a solved ticket (409 naming what is missing: documentation, confirmation)",
            post(tickets::close),
        )
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/escalate",
            P(TicketWork),
            "escalate a reproducible bug to Jira or GitHub (label production-incident), linked both ways",
            post(tickets::escalate),
        )
        .takes::<api::TicketEscalate>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/tickets/{id}/reopen",
            P(TicketWork),
            "reopen a solved or closed ticket",
            post(tickets::reopen),
        )
        .takes::<api::TicketReopen>()
        .answers::<api::Ticket>(),
        e(
            "POST",
            "/v1/kb",
            P(KbWrite),
            "write a knowledge-base article (FAQ or known issue; a draft unless a support lead publishes)",
            post(kb::add),
        )
        .takes::<api::NewKbArticle>()
        .answers::<api::KbArticle>()
        .created(),
        e(
            "GET",
            "/v1/kb",
            P(ReleaseRead),
            "the knowledge base's articles (drafts for those who write them)",
            get(kb::list),
        )
        .answers::<api::KbList>(),
        e(
            "GET",
            "/v1/kb/{id}",
            P(ReleaseRead),
            "an article with every revision",
            get(kb::show),
        )
        .answers::<api::KbArticle>(),
        e(
            "POST",
            "/v1/kb/{id}",
            P(KbWrite),
            "a new revision of an article (a published one: support lead)",
            post(kb::edit),
        )
        .takes::<api::KbEdit>()
        .answers::<api::KbArticle>(),
        e(
            "GET",
            "/v1/search",
            P(ReleaseRead),
            "full-text search of the knowledge base and (with ticket.read) the tickets (?q=&limit=)",
            get(kb::search),
        )
        .answers::<api::SearchResults>(),
        e(
            "GET",
            "/support/{product}/faq",
            Public,
            "the product's public FAQ and known issues, searchable (?q=); HTML",
            get(kb::faq),
        )
        .answers_media("text/html"),
        e(
            "GET",
            "/releases/{product}",
            Public,
            "the public release page: approved releases with notes, dates, files and SHA256SUMS; HTML",
            get(public::page),
        )
        .answers_media("text/html"),
        e(
            "GET",
            "/releases/{product}/{feed}",
            Public,
            "the Atom feed of the releases a channel offers ({channel}.atom)",
            get(public::feed),
        )
        .answers_media("application/atom+xml"),
        e(
            "GET",
            "/support/{product}/confirm/{id}",
            Public,
            "the page of a solution mail's confirmation link (?sig=, signed): a button confirms; HTML",
            get(support::confirm_page),
        )
        .answers_media("text/html"),
        e(
            "POST",
            "/support/{product}/confirm/{id}",
            Public,
            "the customer confirms the solution (?sig=, the link's signature); HTML",
            post(support::confirm),
        )
        .answers_media("text/html"),
        e(
            "GET",
            "/support/{product}/unsubscribe",
            Public,
            "the page of a mail-out's unsubscribe link (?email=&sig=, signed): a button unsubscribes; HTML",
            get(support::unsubscribe_page),
        )
        .answers_media("text/html"),
        e(
            "POST",
            "/support/{product}/unsubscribe",
            Public,
            "unsubscribe from incident mail (?email=&sig=; also RFC 8058 one-click from mail programs); HTML",
            post(support::unsubscribe),
        )
        .takes_media("application/x-www-form-urlencoded")
        .answers_media("text/html"),
        e(
            "GET",
            "/v1/notifications",
            P(ReleaseRead),
            "the notification outbox and delivery state",
            get(rollouts::notifications),
        )
        .answers::<api::NotificationList>(),
        e(
            "GET",
            "/v1/update",
            Public,
            "thin-client update check (204: nothing to do)",
            get(update::check),
        )
        .answers::<api::UpdateOffer>(),
        e(
            "GET",
            "/v1/ingest/dsn",
            P(ReleaseRead),
            "the product's ingest DSN (public, for the app's Sentry SDK or ours)",
            get(ingest::dsn),
        )
        .answers::<api::Dsn>(),
        e(
            "GET",
            "/v1/releases/{version}/health",
            P(ReleaseRead),
            "release health: the gate's verdict, crash rate with its interval, sessions, errors",
            get(health::show),
        )
        .answers::<api::HealthReport>(),
        e(
            "GET",
            "/v1/releases/{version}/health/history",
            P(ReleaseRead),
            "release health over time (`?hours=168&channel=&platform=`): installs, crash-free installs and sessions per recorded point",
            get(health::history),
        )
        .answers::<api::HealthHistory>(),
        e(
            "GET",
            "/v1/keys",
            P(ReleaseRead),
            "feed and release keys",
            get(tuf::keys),
        )
        .answers::<api::KeyList>(),
        e(
            "GET",
            "/v1/keys/status",
            P(ReleaseRead),
            "everything that expires — feed roles, keys, the TLS and signing certificates — the soonest first",
            get(tuf::status),
        )
        .answers::<api::ExpiryList>(),
        e(
            "POST",
            "/v1/keys/root/renew",
            P(KeyRotate),
            "a new root version with the same keys and a new expiry (needs the root keys' threshold)",
            post(tuf::renew_root),
        )
        .answers::<api::RootRenewed>(),
        e(
            "GET",
            "/v1/certs",
            P(ReleaseRead),
            "registered platform signing certificates",
            get(tuf::certificates),
        )
        .answers::<api::CertificateList>(),
        e(
            "POST",
            "/v1/certs",
            P(KeyRotate),
            "register a signing certificate (?kind=apple-developer-id|windows-ev; PEM or DER body); audited",
            post(tuf::add_certificate),
        )
        .takes_media(BYTES)
        .answers::<api::CertificateInfo>()
        .created(),
        e(
            "POST",
            "/v1/keys/rotate",
            P(KeyRotate),
            "rotate a TUF role key",
            post(tuf::rotate),
        )
        .takes::<api::RotateKey>()
        .answers::<api::KeyRotated>(),
        e(
            "GET",
            "/v1/audit/verify",
            P(AuditRead),
            "verify the audit hash chain",
            get(audit::verify),
        )
        .answers::<api::AuditVerification>(),
        e(
            "POST",
            "/v1/audit/verify",
            P(AuditRead),
            "verify the audit hash chain against kept anchors too",
            post(audit::verify_anchored),
        )
        .takes::<api::AnchorCheck>()
        .answers::<api::AuditVerification>(),
        e(
            "GET",
            "/v1/audit/export",
            P(AuditRead),
            "audit entries as JSON lines",
            get(audit::export),
        )
        .answers_media("application/x-ndjson"),
        e(
            "POST",
            "/v1/audit/checkpoint",
            P(AuditManage),
            "sign the audit chain head",
            post(audit::checkpoint),
        )
        .answers::<Option<api::AuditCheckpoint>>(),
        e(
            "POST",
            "/v1/audit/prune",
            P(AuditManage),
            "prune old audit entries",
            post(audit::prune),
        )
        .answers::<Option<api::AuditCheckpoint>>(),
        e(
            "GET",
            "/v1/retention/plan",
            P(ReleaseRead),
            "what a retention run at `?at=` (default now) would remove and why: each class's rule, the pinned releases (rollback stock, the feed), the items",
            get(retention::plan),
        )
        .answers::<api::RetentionPlan>(),
        e(
            "POST",
            "/v1/retention/apply",
            P(RetentionApply),
            "remove what the [retention] rules say has expired (each removal audited); the audit trail too when the caller holds audit.manage",
            post(retention::apply),
        )
        .answers::<api::RetentionApplied>(),
        e(
            "POST",
            "/v1/tokens",
            P(TokenManage),
            "create an API token",
            post(tokens::create),
        )
        .takes::<api::CreateToken>()
        .answers::<api::TokenCreated>()
        .created(),
        e(
            "GET",
            "/v1/tokens",
            P(TokenManage),
            "list API tokens (never their secrets)",
            get(tokens::list),
        )
        .answers::<api::TokenList>(),
        e(
            "POST",
            "/v1/tokens/{id}/revoke",
            P(TokenManage),
            "revoke an API token (and the console sessions made with it)",
            post(tokens::revoke),
        )
        .answers::<api::TokenRevoked>(),
        e(
            "POST",
            "/v1/tokens/{id}/confirm",
            P(TokenConfirm),
            "confirm a token holding admin, product_owner or security_engineer (a second person)",
            post(tokens::confirm),
        )
        .answers::<api::TokenConfirmed>(),
        e(
            "GET",
            "/v1/whoami",
            Token,
            "the caller's name and roles",
            get(tokens::whoami),
        )
        .answers::<api::WhoAmI>(),
        e(
            "GET",
            "/metrics",
            Public,
            "Prometheus metrics (docs/metrics.md; `[http] metrics_public = false`: any token)",
            get(crate::metrics::scrape),
        )
        .answers_media("text/plain"),
        e(
            "GET",
            "/v1/openapi.json",
            Public,
            "this API's OpenAPI document",
            get(openapi_route),
        )
        .answers_media("application/json"),
    ];
    let mut gate = e(
        "PUT",
        "/v1/releases/{version}/gates/{kind}",
        P(GateSubmit),
        "submit gate evidence (multipart reports)",
        put(gates::submit),
    )
    .takes_media(MULTIPART)
    .answers::<api::Gate>();
    gate.spec.large_body = true;
    v.push(gate);
    let mut symbols = e(
        "POST",
        "/v1/symbols",
        P(ArtifactWrite),
        "upload a Breakpad symbol file (?release=); crashes that lacked it are processed again",
        post(crashes::upload_symbols),
    )
    .takes_media(BYTES)
    .answers::<api::SymbolFileInfo>()
    .created();
    symbols.spec.symbol_body = true;
    v.push(symbols);
    for t in [
        e(
            "POST",
            "/api/{project_id}/envelope/",
            Access::IngestKey,
            "Sentry envelope endpoint (events, sessions, aggregates; the DSN's key)",
            post(ingest::envelope),
        )
        .takes_media("application/x-sentry-envelope"),
        e(
            "POST",
            "/api/{project_id}/minidump/",
            Access::IngestKey,
            "Crashpad / sentry-native minidump upload (multipart upload_file_minidump)",
            post(ingest::minidump),
        )
        .takes_media(MULTIPART),
        e(
            "POST",
            "/v1/ingest/sessions",
            Access::IngestKey,
            "session update from an install",
            post(ingest::session),
        )
        .takes::<api::SessionUpdate>(),
        e(
            "POST",
            "/v1/ingest/errors",
            Access::IngestKey,
            "error event with a code (e.g. TOB_PARSE_ERROR)",
            post(ingest::error),
        )
        .takes::<api::ErrorReport>(),
        e(
            "POST",
            "/v1/ingest/memory",
            Access::IngestKey,
            "memory warning (host memory use in %)",
            post(ingest::memory),
        )
        .takes::<api::MemoryWarning>(),
        e(
            "POST",
            "/v1/ingest/crashes",
            Access::IngestKey,
            "crash report with a dump sealed on the client (HPKE to the crash key)",
            post(crashes::ingest),
        )
        .takes::<api::CrashUpload>(),
        e(
            "POST",
            "/v1/ingest/problem",
            Access::IngestKey,
            "the app's \"report a problem\": opens a support ticket (IngestAck.id is its id; bounded per hour and install)",
            post(ingest::problem),
        )
        .takes::<api::ProblemReport>(),
        e(
            "POST",
            "/v1/ingest/logs",
            Access::IngestKey,
            "a log bundle sealed on the client (HPKE to the crash key), attached to a crash or the install's own ticket (at most 8 MiB; 10 a day per install)",
            post(log_bundles::ingest),
        )
        .takes::<api::LogBundleUpload>(),
        e(
            "POST",
            "/v1/ingest/pilot/leave",
            Access::IngestKey,
            "the install leaves the pilot (stored: 1 if it was in it)",
            post(pilot::leave),
        )
        .takes::<api::PilotLeave>(),
    ] {
        let mut t = t.answers::<api::IngestAck>();
        t.spec.telemetry = true;
        t.spec.decodes_body = t.spec.path == "/api/{project_id}/envelope/";
        v.push(t);
    }
    let mut join = e(
        "POST",
        "/v1/ingest/pilot/join",
        Access::IngestKey,
        "the app redeems a pilot invitation code: the install is enrolled and told its channel (internal)",
        post(pilot::join),
    )
    .takes::<api::PilotJoin>()
    .answers::<api::PilotJoined>();
    join.spec.telemetry = true;
    v.push(join);
    v.extend([
        e(
            "GET",
            "/v1/reviews",
            P(ReleaseRead),
            "review cycles: documents due every half year, release retrospectives; open ones first",
            get(pilot::reviews),
        )
        .answers::<api::ReviewList>(),
        e(
            "POST",
            "/v1/reviews/{subject}/done",
            Access::Token,
            "close a review with a note (audited) — its owner: key.rotate for permissions, kb.publish for kb:ID, rollout.manage for retro:VERSION; a document's next review opens half a year on",
            post(pilot::review_done),
        )
        .takes::<api::ReviewDone>()
        .answers::<api::ReviewItem>(),
        e(
            "GET",
            "/v1/pilot",
            P(ReleaseRead),
            "the pilot: enrolled installs with what they ran last, invitations, and whether the release in its pilot stage runs on enough of them",
            get(pilot::list),
        )
        .answers::<api::PilotList>(),
        e(
            "POST",
            "/v1/pilot/invites",
            P(RolloutManage),
            "an invitation code for one organisation's installs (shown once); audited",
            post(pilot::invite),
        )
        .takes::<api::PilotInviteRequest>()
        .answers::<api::PilotInvite>()
        .created(),
        e(
            "POST",
            "/v1/pilot/installs/{id}/remove",
            P(RolloutManage),
            "take an install out of the pilot; audited",
            post(pilot::remove),
        )
        .answers::<api::PilotList>(),
    ]);
    v
}

/// Every route, for docs and tests.
pub fn spec() -> Vec<RouteSpec> {
    entries().into_iter().map(|e| e.spec).collect()
}

/// The decompression layer refuses a coding it does not know with an empty 415; every
/// refusal is the documented JSON.
async fn unknown_coding_as_json(resp: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    if resp.status() == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        && !resp
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return crate::error::ApiError::UnsupportedMediaType(
            "relops decodes bodies in gzip, deflate, br or zstd (Content-Encoding), or uncompressed".into(),
        )
        .into_response();
    }
    resp
}

/// The router, every route behind its guard.
pub fn build(state: &AppState) -> axum::Router<AppState> {
    let mut router = axum::Router::new();
    let header = axum::http::HeaderName::from_static(relops_api::REQUEST_ID_HEADER);
    let ids = crate::RequestIds::new();
    for Entry { spec, handler } in entries() {
        // Public routes (the feed, /v1/update, health checks) skip the guard entirely:
        // they are the hot path and need nothing from it. Ingest routes authenticate with
        // their `IngestProduct` extractor, which runs before the handler's other
        // extractors (a middleware per request boxes and clones the inner service, which
        // showed in the ingest profile); `tests/permissions.rs` checks every one answers
        // 401 without a key.
        let token_guard = |perm: Option<Permission>| {
            axum::middleware::from_fn_with_state((state.clone(), perm), guard)
        };
        let mut handler = match spec.access {
            Access::Public | Access::IngestKey => handler,
            Access::Token => handler.route_layer(token_guard(None)),
            Access::Permission(p) => handler.route_layer(token_guard(Some(p))),
        };
        // Operators' routes get a request id (recorded in the audit trail, echoed in the
        // answer) and a trace span. The fleet's routes — public feed and update check,
        // telemetry — audit nothing and log nothing per request, and are the hot paths:
        // they skip both.
        if !matches!(spec.access, Access::Public | Access::IngestKey) {
            handler = handler
                .layer::<_, std::convert::Infallible>(PropagateRequestIdLayer::new(header.clone()))
                .layer::<_, std::convert::Infallible>(TraceLayer::new_for_http())
                .layer::<_, std::convert::Infallible>(SetRequestIdLayer::new(
                    header.clone(),
                    ids.clone(),
                ))
                // A client's own id is kept only if it is a short token: it goes into the
                // audit trail and back into the answer.
                .layer(axum::middleware::map_request(client_request_id));
        }
        if spec.decodes_body {
            // The limit applies to the body as sent; the handler applies it again decoded.
            handler = handler.layer(axum::extract::DefaultBodyLimit::max(
                state.ops.config().ingest.max_body_bytes,
            ));
        } else if spec.telemetry {
            // The decompression service reports errors as `BoxError`; turn them into a 400
            // (a body that fails to decompress while read is a 400 from the extractor).
            let decompress = tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |e: tower::BoxError| async move {
                        crate::error::ApiError::BadRequest(format!(
                            "cannot read the compressed body: {e}"
                        ))
                    },
                ))
                .layer(tower_http::decompression::RequestDecompressionLayer::new());
            handler = handler
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.ops.config().ingest.max_body_bytes,
                ))
                .layer(decompress)
                .layer(axum::middleware::map_response(unknown_coding_as_json));
        }
        if spec.symbol_body {
            handler = handler.layer(axum::extract::DefaultBodyLimit::max(
                usize::try_from(state.ops.config().crashes.max_symbol_bytes).unwrap_or(usize::MAX),
            ));
        }
        if spec.large_body {
            handler = handler.layer(axum::extract::DefaultBodyLimit::max(
                // Several report files per request (JUnit), each up to the limit.
                state.ops.config().gates.max_report_bytes.saturating_mul(8),
            ));
        }
        if !matches!(spec.request, Body::None) {
            // A body that pauses longer than this between chunks is refused (a client
            // trickling an upload holds a connection and a task).
            handler = handler.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                std::time::Duration::from_secs(state.ops.config().http.body_idle_timeout_seconds),
            ));
        }
        handler = handler.layer(crate::metrics::Timed(family(&spec)));
        router = router.route(spec.path, handler);
    }
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
}

/// The route family a route's latency is counted under.
fn family(spec: &RouteSpec) -> &'static str {
    if spec.path.starts_with("/tuf/") || spec.path.starts_with("/feeds/") {
        "feed"
    } else if spec.path == "/v1/update" {
        "update"
    } else if matches!(spec.access, Access::IngestKey) || spec.telemetry {
        "ingest"
    } else if matches!(spec.access, Access::Public) {
        "public"
    } else {
        "api"
    }
}

/// Drops a client's `x-request-id` unless it is 1–64 bytes of `A-Z a-z 0-9 - _ . :`; the
/// server then makes its own.
async fn client_request_id(mut req: Request) -> Request {
    let name = axum::http::HeaderName::from_static(relops_api::REQUEST_ID_HEADER);
    let ok = req.headers().get(&name).is_none_or(|v| {
        v.to_str()
            .is_ok_and(|s| relops_core::text::token("request id", s, 64).is_ok())
    });
    if !ok {
        req.headers_mut().remove(&name);
    }
    req
}

/// A path no route has: a JSON 404 like every other refusal.
async fn no_route(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::NotFound(format!(
        "no route {}: /v1/openapi.json lists them",
        uri.path()
    ))
}

/// A route asked with a method it does not take.
async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> crate::error::ApiError {
    let allowed: Vec<&str> = spec()
        .into_iter()
        .filter(|r| route_matches(r.path, uri.path()))
        .map(|r| r.method)
        .collect();
    crate::error::ApiError::MethodNotAllowed(format!(
        "{} does not take {method}: use {}",
        uri.path(),
        if allowed.is_empty() {
            "another method".to_owned()
        } else {
            allowed.join(" or ")
        }
    ))
}

/// Does a table path (`/v1/releases/{version}`) match a request path?
fn route_matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

/// Authenticates the token and checks `perm` (any valid token when `None`) before
/// anything else of the route runs, and hands the principal to the handler.
async fn guard(
    State((state, perm)): State<(AppState, Option<Permission>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match authenticate(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(p) = perm
        && let Err(e) = principal.authorize(p)
    {
        return crate::error::ApiError::from(e).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// `GET /v1/openapi.json`
pub async fn openapi_route() -> axum::Json<serde_json::Value> {
    axum::Json(crate::openapi::document(&spec()))
}

/// `docs/permissions.md`, generated from this table and `relops_core::access`.
pub fn permissions_markdown() -> String {
    let mut s = String::from(
        "# Permissions\n\n<!-- Generated from crates/relops-server/src/routes/table.rs and \
         crates/relops-core/src/access.rs by the test `permissions_doc_is_current`; do not edit. -->\n\n\
         ## Roles holding each permission\n\n| permission | roles |\n|---|---|\n",
    );
    for p in Permission::ALL {
        let roles: Vec<&str> = p.roles().iter().map(|r| r.as_str()).collect();
        s += &format!("| `{p}` | {} |\n", roles.join(", "));
    }
    s += "\n## Permissions of each role\n\n| role | permissions |\n|---|---|\n";
    for r in Role::ALL {
        let perms: Vec<String> = Permission::ALL
            .iter()
            .filter(|p| p.allows(&[r]))
            .map(|p| format!("`{p}`"))
            .collect();
        s += &format!("| `{r}` | {} |\n", perms.join(", "));
    }
    let engine: Vec<String> = Permission::ALL
        .iter()
        .filter(|p| p.engine_may())
        .map(|p| format!("`{p}`"))
        .collect();
    s += &format!(
        "\n## The health engine\n\nThe health engine acts on its own only as `[alerts] auto_halt` and \
         `auto_rollback` say, audited as `relops health engine (system)`, and holds exactly {}.\n",
        engine.join(", ")
    );
    let checking: Vec<String> = Role::CHECKING
        .iter()
        .map(|r| format!("`{}`", r.as_str()))
        .collect();
    let holders = |p: Permission| -> String {
        p.roles()
            .iter()
            .map(|r| format!("`{}`", r.as_str()))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    s += &format!(
        "\n## Separation of duties\n\n\
         {} check one another — the admin mints tokens, the product owner approves releases, \
         the security engineer keeps the keys and the audit trail — so:\n\n\
         - **One token holds at most one of them** (a token asking for two is refused).\n\
         - **A token holding one of them works only once a second person confirmed it** \
         (`relops token confirm ID`, `{}`: {}; not the person who made it). The first such \
         token of a server is confirmed by its operator on the server's host, who holds the \
         data dir and its keys anyway: `relops token confirm ID --data-dir DIR` (audited as \
         `local operator`). `relops init`'s first admin token needs no confirmation: nobody \
         else exists yet.\n\
         - **An emergency go with waived checklist items takes effect only once a second \
         person confirmed it** within a day (`relops approve VERSION --confirm`, `{}`: {}; not \
         the product owner who asked).\n\
         - **Nobody shortens the audit trail**: pruning keeps `[audit] retention_days`, and \
         every signed checkpoint is also kept outside the database ([audit.md](audit.md)).\n\n\
         \"Person\" is the token's name: the admin names each person's token, and one person's \
         two tokens are one person. Token names may not contain parentheses: the audit trail \
         writes a caller as `name (tok_id) as role` and reads the person back from it.\n",
        checking.join(", "),
        Permission::TokenConfirm,
        holders(Permission::TokenConfirm),
        Permission::WaiverConfirm,
        holders(Permission::WaiverConfirm),
    );
    s += "\n## Routes\n\n| method | path | needs | what |\n|---|---|---|---|\n";
    for r in spec() {
        let needs = match r.access {
            Access::Public => "public".to_owned(),
            Access::IngestKey => "ingest key (DSN)".to_owned(),
            Access::Token => "any token".to_owned(),
            Access::Permission(p) => format!("`{p}`"),
        };
        s += &format!(
            "| {} | `{}` | {needs} | {} |\n",
            r.method, r.path, r.summary
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/permissions.md` is generated; `RELOPS_UPDATE_DOCS=1 cargo test` rewrites it.
    #[test]
    fn permissions_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let want = permissions_markdown();
        if std::env::var_os("RELOPS_UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/permissions.md is out of date: run `RELOPS_UPDATE_DOCS=1 cargo test -p relops-server permissions_doc`"
        );
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for r in spec() {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            let _ = method(&r);
        }
    }
}
