//! The machinery the operations drive. Nothing here checks a permission or writes an audit
//! entry on its own behalf: that is the operations' part.
//!
//! | service | what it is |
//! |---|---|
//! | [`audit_anchors`] | the anchor file: every signed audit checkpoint, outside the database |
//! | [`crash_pool`] | the low-priority threads crash dumps are processed on |
//! | [`customer_mail`] | mail to customers (replies, solutions), rendered into the outbox and sent by SMTP |
//! | [`feed`] | the signed TUF repository of each product: build, sign, store, swap, serve from memory |
//! | [`kb_git`] | the knowledge base's revisions as commits of a Git repository |
//! | [`key_files`] | key files (TUF roles, release, audit, crash keys): made, loaded, rotated |
//! | [`links`] | signed links in customer mail (confirm a solution, unsubscribe) |
//! | [`health_engine`] | the 24-hour windowed counts and the alert rules, judged as data arrives |
//! | [`ingest_writer`] | group commit of telemetry: journal, fold, then the health engine |
//! | [`networks`] | one network's bounded share of a release's installs (where a request comes from) |
//! | [`oidc`] | login through the company's OpenID provider: discovery, code exchange, ID token checks |
//! | [`notify`] | what each event says to each webhook, and the outbox delivery worker |
//! | [`trackers`] | the Jira and GitHub issues escalated tickets become, through the outbox |
//! | [`zendesk`] | Zendesk's webhook signature, its ticket, the analysis note back through the outbox |
//! | [`symbols`] | Breakpad symbol files from the store for the crash processor, parsed once per product |
//! | [`ratelimit`] | per-key and per-install token buckets for the fleet's telemetry |

pub(crate) mod audit_anchors;
pub(crate) mod crash_pool;
pub(crate) mod customer_mail;
pub mod feed;
pub(crate) mod health_engine;
pub(crate) mod ingest_writer;
pub(crate) mod kb_git;
pub(crate) mod key_files;
pub(crate) mod links;
pub mod networks;
pub(crate) mod notify;
pub(crate) mod oidc;
pub(crate) mod ratelimit;
pub(crate) mod symbols;
pub(crate) mod trackers;
pub mod zendesk;
