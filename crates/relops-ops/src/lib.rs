#![doc = include_str!("../README.md")]

mod actor;
pub mod backup;
pub mod config;
mod error;
pub mod init;
pub mod services;
mod workers;

// The operations, one module per area; each adds its operations to [`Ops`]. Public are
// the modules whose input types callers build.
mod alerts;
mod artifacts;
mod attachments;
mod audit;
pub mod checklist;
mod crash_analysis;
mod crashes;
mod deltas;
pub mod expiry;
pub mod gates;
mod health;
pub mod health_history;
mod incidents;
mod ingest;
mod kb;
mod keys;
pub mod log_bundles;
mod mail_in;
pub mod metrics;
pub mod pilot;
mod priority_rules;
mod public_releases;
mod releases;
pub mod retention;
pub mod reviews;
mod rollback;
mod rollback_requests;
pub mod rollout;
mod sessions;
mod sso;
mod support_mail;
mod tickets;
mod tokens;
pub mod update;
pub mod updater_feeds;
mod zendesk_in;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, Utc};
use relops_core::calendar::BusinessCalendar;
use relops_core::version::Version;
use relops_store::{BlobStore, Db};
use tokio::sync::{Notify, mpsc};

pub use actor::{Actor, Authorized, Principal};
pub use config::ServerConfig;
pub use error::{OpError, OpResult};
pub use services::networks::Origin;
pub use sessions::Session;
pub use workers::Workers;

use services::audit_anchors::AnchorFile;
use services::feed::Feed;
use services::health_engine::{Change, HealthEngine};
use services::ingest_writer::IngestWriter;
use services::key_files::{AuditKey, CrashKey, ReleaseKey};
use services::networks::NetworkShares;
use services::ratelimit::IngestLimits;

/// The operations layer: every action of relops is a method of `Ops` (in the module of
/// its area), and `Ops` holds the services those actions drive. One `Arc`: a clone is a
/// counter increment.
#[derive(Debug, Clone)]
pub struct Ops(Arc<Services>);

/// What [`Ops`] drives, built once by [`Ops::open`]. Operations reach these; callers
/// (routes, pages, workers) reach the operations.
#[derive(Debug)]
pub struct Services {
    pub(crate) db: Db,
    pub(crate) blobs: BlobStore,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) calendar: BusinessCalendar,
    /// The knowledge base's Git repository.
    pub(crate) kb_repo: services::kb_git::KbRepo,
    /// The support desk's SLA clock (`[support]` on the calendar).
    pub(crate) sla: relops_core::sla::SlaClock,
    pub(crate) release_key: ReleaseKey,
    pub(crate) audit_key: AuditKey,
    /// Opens sealed crash dumps for the roles allowed to read them.
    pub(crate) crash_key: CrashKey,
    /// Signs the links in customer mail (confirm a solution, unsubscribe).
    pub(crate) link_key: services::links::LinkKey,
    pub(crate) feed: Feed,
    /// Wakes the notification worker after a change wrote outbox rows.
    pub(crate) outbox: Notify,
    /// Public ingest key → product.
    pub(crate) ingest_keys: HashMap<String, String>,
    pub(crate) ingest_limits: IngestLimits,
    /// Every signed audit checkpoint, also outside the database.
    pub(crate) anchor_file: AnchorFile,
    /// Stored files found changed at rest, each reported once per process.
    changed_files: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Each network's share of a release's installs.
    pub(crate) networks: NetworkShares,
    /// Group commit of ingest records.
    pub(crate) ingest_writer: IngestWriter,
    /// Release health over the last 24 h, judged as data arrives.
    pub(crate) health: Arc<HealthEngine>,
    /// The engine's changes, taken by the alert worker when the workers start.
    alert_changes: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
    /// Where the engine goes on reading the other replicas' tallies, taken by the fleet
    /// follower when the workers start.
    fleet_cursor: std::sync::Mutex<Option<relops_store::FleetCursor>>,
    /// Whether this replica leads the deployment's background work (`workers::lead`).
    pub(crate) leading: std::sync::atomic::AtomicBool,
    /// Set once the server stops taking connections: long-lived answers (live-update
    /// streams) end so that the connections they hold can close.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The company's OpenID provider, when `[console.oidc]` names one.
    pub(crate) oidc: Option<services::oidc::Oidc>,
    /// Symbol files parsed for the crash processor, per product.
    pub(crate) symbolizers: services::symbols::Symbolizers,
    /// The rollout gauges as last set, by (product, release): a scrape sets only those
    /// that changed ([`Ops::refresh_gauges`]).
    pub(crate) rollout_gauges: metrics::RolloutGauges,
    /// Wakes the crash worker (symbols arrived).
    pub(crate) crash_work: Notify,
    /// An upload is waiting for its file digests and signature (`workers::prepare_files`).
    pub(crate) file_work: Notify,
    /// An approved release is waiting for its deltas (`workers::prepare_files`).
    pub(crate) delta_work: Notify,
    /// The threads dumps are processed on.
    pub(crate) crash_pool: services::crash_pool::CrashPool,
}

impl std::ops::Deref for Ops {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl Ops {
    /// Connects the adapters named in `config`, loads the keys and the feed, rebuilds the
    /// health engine from the last 24 h, starts the ingest writer and sweeps uploads that
    /// an earlier run left unfinished.
    pub async fn open(config: ServerConfig) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url).await.with_context(|| {
            format!("cannot open the database {}", redact(&config.database_url))
        })?;
        let blobs = BlobStore::open(&config.blob).context("cannot open the blob store")?;
        let release_key = ReleaseKey::load(&config.keys_dir)
            .context("cannot load the release signing key (run `relops init` first)")?;
        let feed = Feed::open(&db, &config.products, &config.keys_dir, config.feed.clone())
            .await
            .context("cannot open the update feed (its keys come from `relops init`)")?;
        let audit_key = AuditKey::load(&config.keys_dir)
            .context("cannot load the audit key (run `relops init`, which adds missing keys)")?;
        let crash_key = CrashKey::load(&config.keys_dir)
            .context("cannot load the crash key (run `relops init`, which adds missing keys)")?;
        let link_key = services::links::LinkKey::load_or_create(&config.keys_dir)?;
        let mut ingest_keys = HashMap::new();
        for p in &config.products {
            let key = db
                .ingest_key(p, || uuid::Uuid::new_v4().simple().to_string())
                .await
                .context("cannot read or make the ingest key")?;
            ingest_keys.insert(key, p.clone());
        }
        let (health, changes) = HealthEngine::new(
            config.alerts.rules(&config.health),
            config.alerts.memory_host_percent,
        );
        let health = Arc::new(health);
        let (replay, fleet_cursor) = db
            .health_replay(Utc::now() - Duration::hours(24))
            .await
            .context("cannot read the last 24 h of telemetry for the health engine")?;
        let open = db.open_alerts().await.context("cannot read open alerts")?;
        health.restore(&replay, &open);
        let ingest_writer = IngestWriter::start(db.clone(), health.clone())
            .await
            .context("cannot open the ingest journal")?;
        let crash_pool = services::crash_pool::CrashPool::new(config.crashes.workers);
        let ops = Self(Arc::new(Services {
            ingest_limits: IngestLimits::new(&config.ingest),
            anchor_file: AnchorFile::new(&config.audit.anchor_file),
            changed_files: Default::default(),
            networks: NetworkShares::new(&config.ingest),
            ingest_writer,
            health,
            alert_changes: std::sync::Mutex::new(Some(changes)),
            fleet_cursor: std::sync::Mutex::new(Some(fleet_cursor)),
            stopping: tokio::sync::watch::Sender::new(false),
            // An SQLite deployment is one process: it leads from the start.
            leading: std::sync::atomic::AtomicBool::new(
                db.backend() == relops_store::Backend::Sqlite,
            ),
            oidc: config
                .console
                .oidc
                .clone()
                .map(services::oidc::Oidc::new)
                .transpose()?,
            ingest_keys,
            audit_key,
            crash_key,
            link_key,
            feed,
            calendar: config.calendar.calendar(),
            kb_repo: services::kb_git::KbRepo::new(config.support.kb_repository.clone()),
            sla: config
                .support
                .clock(config.calendar.calendar())
                .map_err(anyhow::Error::msg)?,
            config: Arc::new(config),
            db,
            blobs,
            release_key,
            outbox: Notify::new(),
            symbolizers: Default::default(),
            rollout_gauges: Default::default(),
            crash_work: Notify::new(),
            file_work: Notify::new(),
            delta_work: Notify::new(),
            crash_pool,
        }));
        ops.sweep().await?;
        Ok(ops)
    }

    /// Removes staging uploads and unreferenced blobs left by a crash. On the local backend
    /// this process is the only writer, so everything unfinished goes; on S3 other replicas
    /// may be mid-upload, so only what is older than an hour.
    async fn sweep(&self) -> anyhow::Result<()> {
        let cutoff = if self.blobs.is_local() {
            Utc::now()
        } else {
            Utc::now() - Duration::hours(1)
        };
        let staged = self.blobs.sweep_staging(cutoff).await?;
        let referenced = self.db.referenced_blob_keys().await?;
        let orphans = self.blobs.sweep_unreferenced(&referenced, cutoff).await?;
        if staged + orphans > 0 {
            tracing::info!(
                staged,
                orphans,
                "removed unfinished uploads from an earlier run"
            );
        }
        Ok(())
    }

    /// Whether this replica leads the background work now (always, on SQLite).
    pub fn leads(&self) -> bool {
        self.leading.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The blob store, for streaming stored files to a reader (artifact downloads, feed
    /// targets).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The signed update feed as served now.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Both stores answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.db
            .ping()
            .await
            .map_err(|e| format!("database unreachable: {e}"))?;
        self.blobs
            .ping()
            .await
            .map_err(|e| format!("blob store unreachable: {e}"))
    }

    /// The product an action is about: the one named (it must be configured), or the only
    /// one configured.
    pub fn product(&self, asked: Option<&str>) -> OpResult<String> {
        let products = &self.config.products;
        match asked {
            Some(p) if products.iter().any(|x| x == p) => Ok(p.to_owned()),
            Some(p) => Err(OpError::NotFound(format!(
                "unknown product `{p}`: this server has {}",
                products.join(", ")
            ))),
            None if products.len() == 1 => Ok(products[0].clone()),
            None => Err(OpError::Invalid(format!(
                "several products are configured ({}): name one with --product (or ?product=)",
                products.join(", ")
            ))),
        }
    }

    /// Waits until every telemetry record answered so far is in the ingest tables and in
    /// the health engine (see [`services::ingest_writer`]): reads of ingest data and health
    /// decisions call this first.
    pub(crate) async fn telemetry_visible(&self) -> OpResult<()> {
        self.ingest_writer
            .flush()
            .await
            .map_err(|e| OpError::Unavailable(format!("{e}; retry")))
    }

    /// Tells long-lived answers (live-update streams) to end: the server is stopping.
    pub fn begin_stopping(&self) {
        self.stopping.send_replace(true);
    }

    /// Completes once [`Ops::begin_stopping`] was called (at once if it already was).
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Starts the background work (feed re-signing, audit checkpoints, notification
    /// delivery, the alert worker, health maintenance, following the other replicas' feed
    /// and telemetry, rate-limit upkeep); it stops when
    /// the returned [`Workers`] is dropped.
    pub fn start_workers(&self) -> Workers {
        let changes = self
            .alert_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let fleet = self
            .fleet_cursor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        workers::start(self.clone(), changes, fleet)
    }
}

/// Longest reason or note accepted (it goes into the audit trail, pages and notifications).
pub(crate) const MAX_NOTE_BYTES: usize = 2000;

/// An optional one-line field (a notarization id, a signer, an advisory): printable,
/// trimmed, at most 256 bytes; empty is absent.
pub(crate) fn given_line(field: &str, v: Option<&str>) -> OpResult<Option<String>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => relops_core::text::line(field, s, 256)
            .map(|s| Some(s.to_owned()))
            .map_err(invalid),
    }
}

/// A text the caller gave (a reason, a note), trimmed; `None` when absent or empty; refused
/// when longer than [`MAX_NOTE_BYTES`] or not printable ([`relops_core::text`]).
pub(crate) fn given<'a>(field: &str, text: Option<&'a str>) -> OpResult<Option<&'a str>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => relops_core::text::text(field, t, MAX_NOTE_BYTES)
            .map(Some)
            .map_err(invalid),
    }
}

/// A refused field as the operation's error.
pub(crate) fn invalid(e: relops_core::text::TextError) -> OpError {
    OpError::Invalid(e.to_string())
}

/// Parses a version named by a caller (a path segment, a form field).
pub fn version(s: &str) -> OpResult<Version> {
    s.trim()
        .parse()
        .map_err(|e: relops_core::version::VersionError| OpError::Invalid(e.to_string()))
}

/// Hides the password of a database URL in messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://relops:secret@db/relops"),
            "postgres://relops:***@db/relops"
        );
        assert_eq!(
            super::redact("sqlite:///x/relops.db"),
            "sqlite:///x/relops.db"
        );
    }
}
