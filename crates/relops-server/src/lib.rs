#![doc = include_str!("../README.md")]

pub mod alerting;
pub mod auth;
pub mod config;
pub mod error;
pub mod feed;
pub mod health_engine;
pub mod ingest_writer;
pub mod init;
pub mod keys;
pub mod notify;
pub mod ratelimit;
pub mod routes;
pub mod target_cache;
pub mod tls;
#[cfg(target_os = "linux")]
pub mod zero_copy;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use chrono::{Duration, Utc};
use relops_core::calendar::BusinessCalendar;
use relops_store::{BlobStore, Db};
use tower_http::request_id::{MakeRequestId, RequestId};

pub use config::ServerConfig;
use keys::ReleaseKey;

/// Everything a handler needs, built once by [`AppState::open`]; one `Arc`, so the clone
/// every request makes (router, guard, handler) is one counter increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppStateInner {
    pub db: Db,
    pub blobs: BlobStore,
    pub config: Arc<ServerConfig>,
    pub calendar: Arc<BusinessCalendar>,
    pub release_key: Arc<ReleaseKey>,
    pub audit_key: Arc<keys::AuditKey>,
    /// Opens sealed crash dumps for the roles allowed to read them.
    pub crash_key: Arc<keys::CrashKey>,
    pub feed: Arc<feed::Feed>,
    /// Hot update files in memory.
    pub targets: target_cache::TargetCache,
    /// Wakes the notification worker after a change wrote outbox rows.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Public ingest key → product.
    pub ingest_keys: std::collections::HashMap<String, String>,
    pub ingest_limits: ratelimit::IngestLimits,
    /// Group commit of ingest records.
    pub ingest_writer: ingest_writer::IngestWriter,
    /// Release health over the last 24 h, judged as data arrives.
    pub health: Arc<health_engine::HealthEngine>,
    /// The engine's changes, taken by the alert worker when the server starts.
    alert_changes:
        std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<health_engine::Change>>>,
}

impl AppState {
    /// Connects the adapters named in `config`, loads the release key and sweeps uploads
    /// that an earlier run left unfinished.
    pub async fn open(config: ServerConfig) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url).await.with_context(|| {
            format!("cannot open the database {}", redact(&config.database_url))
        })?;
        let blobs = BlobStore::open(&config.blob).context("cannot open the blob store")?;
        let release_key = ReleaseKey::load(&config.keys_dir)
            .context("cannot load the release signing key (run `relops init` first)")?;
        let feed = feed::Feed::open(&db, &config.products, &config.keys_dir, config.feed.clone())
            .await
            .context("cannot open the update feed (its keys come from `relops init`)")?;
        let audit_key = keys::AuditKey::load(&config.keys_dir)
            .context("cannot load the audit key (run `relops init`, which adds missing keys)")?;
        let crash_key = keys::CrashKey::load(&config.keys_dir)
            .context("cannot load the crash key (run `relops init`, which adds missing keys)")?;
        let mut ingest_keys = std::collections::HashMap::new();
        for p in &config.products {
            let key = db
                .ingest_key(p, || uuid::Uuid::new_v4().simple().to_string())
                .await
                .context("cannot read or make the ingest key")?;
            ingest_keys.insert(key, p.clone());
        }
        let (health, changes) = health_engine::HealthEngine::new(
            config.alerts.rules(&config.health),
            config.alerts.memory_host_percent,
        );
        let health = Arc::new(health);
        let replay = db
            .health_replay(Utc::now() - Duration::hours(24))
            .await
            .context("cannot read the last 24 h of telemetry for the health engine")?;
        let open = db.open_alerts().await.context("cannot read open alerts")?;
        health.restore(&replay, &open);
        let ingest_writer = ingest_writer::IngestWriter::start(db.clone(), health.clone())
            .await
            .context("cannot open the ingest journal")?;
        let state = Self(Arc::new(AppStateInner {
            targets: target_cache::TargetCache::new(
                config.feed.target_cache_mib,
                config.feed.target_cache_max_file_mib,
            ),
            ingest_limits: ratelimit::IngestLimits::new(&config.ingest),
            ingest_writer,
            health,
            alert_changes: std::sync::Mutex::new(Some(changes)),
            ingest_keys,
            audit_key: Arc::new(audit_key),
            crash_key: Arc::new(crash_key),
            feed: Arc::new(feed),
            calendar: Arc::new(config.calendar.calendar()),
            config: Arc::new(config),
            db,
            blobs,
            release_key: Arc::new(release_key),
            outbox: Arc::new(tokio::sync::Notify::new()),
        }));
        state.sweep().await?;
        Ok(state)
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

/// Serves [`router`] on `listener` until `shutdown` completes, with the background jobs:
/// feed re-signing, audit checkpoints, notification delivery, the alert worker, the
/// health maintenance loop and forgetting idle installs' rate-limit buckets.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let refresher = tokio::spawn(refresh_feed(state.clone()));
    let checkpointer = tokio::spawn(checkpoint_audit(state.clone()));
    let notifier = tokio::spawn(notify::deliver(state.clone()));
    let changes = state
        .alert_changes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let alerter = changes.map(|rx| tokio::spawn(alerting::run(state.clone(), rx)));
    // What held when the server stopped and was not alerted yet is judged now.
    state.health.judge_all(Utc::now());
    let maintainer = tokio::spawn(alerting::maintain(state.clone()));
    let forgetter = tokio::spawn(ratelimit::forget_idle_periodically(state.clone()));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    checkpointer.abort();
    notifier.abort();
    maintainer.abort();
    forgetter.abort();
    if let Some(a) = alerter {
        a.abort();
    }
    result
}

/// Signs a checkpoint of the audit chain head periodically.
async fn checkpoint_audit(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.audit.checkpoint_interval_seconds);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let key = state.audit_key.clone();
        if let Err(e) = state.db.audit_checkpoint(|m| key.sign(m)).await {
            tracing::error!(error = ?e, "signing an audit checkpoint failed; retrying next interval");
        }
    }
}

/// Re-signs feed metadata before it expires (and picks up changes made elsewhere).
async fn refresh_feed(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.feed.refresh_interval_seconds);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        for product in state.config.products.iter() {
            if let Err(e) = state.feed.publish(&state.db, product).await {
                tracing::error!(product, error = ?e, "refreshing the feed failed; retrying next interval");
            }
        }
    }
}

/// Every route of the server over `state`: the route table (`routes::table`), each route
/// behind its permission guard, request id and trace span.
pub fn router(state: AppState) -> Router {
    routes::table::build(&state).with_state(state)
}

/// Request ids: a random prefix per process and a counter (`3f9a0c1e-000000000042`) —
/// unique across replicas and restarts, and free of a system call per request (a UUID v4
/// per request cost measurable throughput on the update-check path).
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: Arc::from(&uuid[..8]),
            next: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n:012}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_unique_and_ordered() {
        use tower_http::request_id::MakeRequestId;
        let mut ids = super::RequestIds::new();
        let req = axum::http::Request::new(());
        let a = ids.make_request_id(&req).unwrap();
        let b = ids.clone().make_request_id(&req).unwrap();
        let (a, b) = (
            a.header_value().to_str().unwrap(),
            b.header_value().to_str().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 8 + 1 + 12);
        assert!(a < b, "{a} {b}");
        assert_ne!(&super::RequestIds::new().prefix, &ids.prefix);
    }

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
