//! Crash reports (R-CR-3): every dump is sealed on this machine with HPKE to the server's
//! crash key ([`relops_seal`]) and written to an on-disk queue *before* anything is sent,
//! so a crash while offline, or a process that dies right after, loses nothing. The queue
//! is uploaded asynchronously with retry and backoff; each report carries an id chosen
//! here, so a retry after a lost answer is stored once. A full queue drops the oldest
//! report and counts it; the count goes to the server with the next upload.
//!
//! Entry points: [`CrashReporter::install_panic_hook`] for Rust panics;
//! [`CrashReporter::queue_file`] for native crash handlers — e.g. after Crashpad's handler
//! wrote a minidump (on the next start, for each new file in its database's `completed`
//! directory), or from an out-of-process handler; [`CrashReporter::queue`] for bytes the app
//! already holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use relops_core::platform::Platform;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;
use crate::queue::{
    entries, entry_bytes, entry_name, make_room, now_rfc3339, server_url, upload_entries,
    write_atomic,
};

/// Where and as what this install reports crashes.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The relops server, e.g. `https://relops.example` (https, except for loopback or
    /// `allow_insecure_http`).
    pub server_url: String,
    /// The product's ingest key (the DSN's public key, `relops ingest dsn --json`).
    pub ingest_key: String,
    /// The server's crash key, hex X25519 (`relops keys list --json`, role `crash`).
    pub crash_key: String,
    pub release: String,
    pub platform: Platform,
    pub channel: String,
    /// This install's id (e.g. [`crate::Updater::install_id`]).
    pub install_id: String,
    /// The queue; it should survive restarts (the app's data directory).
    pub queue_dir: PathBuf,
    /// Reports kept at most; a new one beyond drops the oldest (counted).
    pub max_queued: usize,
    pub allow_insecure_http: bool,
}

/// What one [`CrashReporter::upload_pending`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Delivered (and removed from the queue).
    pub sent: usize,
    /// Still queued (the server could not be reached or asked to retry later).
    pub pending: usize,
    /// Refused for good (moved to `queue_dir/rejected/` for inspection).
    pub rejected: usize,
    /// Why the upload stopped early, if it did.
    pub error: Option<String>,
}

/// The first line of a queued report; the sealed dump follows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    crash_id: String,
    kind: String,
    created_at: String,
    release: String,
    platform: String,
    channel: String,
    install_id: String,
    tags: BTreeMap<String, String>,
}

/// Seals, queues and uploads this install's crash reports.
#[derive(Debug)]
pub struct CrashReporter {
    cfg: CrashConfig,
    url: Url,
    http: reqwest::Client,
    tags: Mutex<BTreeMap<String, String>>,
    /// Serialises queue changes within the process.
    queue_lock: Mutex<()>,
}

const SUFFIX: &str = ".crash";
/// The ids of the last reports queued, newest last: what a problem report names.
const RECENT_FILE: &str = "recent";
const RECENT_KEPT: usize = 10;

impl CrashReporter {
    /// Checks the configuration (URL scheme, crash key) and creates the queue directory.
    pub fn new(cfg: CrashConfig) -> Result<Self, Error> {
        Self::with_http_client(cfg, crate::Updater::http_client()?)
    }

    /// [`CrashReporter::new`] with the app's HTTP client.
    pub fn with_http_client(cfg: CrashConfig, http: reqwest::Client) -> Result<Self, Error> {
        let base = server_url(&cfg.server_url, cfg.allow_insecure_http)?;
        relops_seal::seal(&cfg.crash_key, "probe", b"")
            .map_err(|e| Error::Config(format!("crash_key: {e}")))?;
        if cfg.max_queued == 0 {
            return Err(Error::Config("max_queued must be at least 1".into()));
        }
        let rejected = cfg.queue_dir.join("rejected");
        std::fs::create_dir_all(&rejected).map_err(Error::io(&rejected))?;
        let url = base
            .join("v1/ingest/crashes")
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self {
            cfg,
            url,
            http,
            tags: Mutex::new(BTreeMap::new()),
            queue_lock: Mutex::new(()),
        })
    }

    /// A tag sent (unencrypted) with every report queued from now on — e.g. `phase` =
    /// `startup` until the app is up, `project_open` while it opens a project: the
    /// server's crash fingerprint rules class such crashes as critical.
    pub fn set_tag(&self, key: &str, value: &str) {
        self.tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.to_owned());
    }

    /// Seals `dump` and writes it to the queue (durably) before returning its id. Safe to
    /// call from a panic hook: no async runtime, no network.
    pub fn queue(&self, kind: &str, dump: &[u8]) -> Result<String, Error> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sealed = relops_seal::seal(&self.cfg.crash_key, &id, dump)
            .map_err(|e| Error::Config(e.to_string()))?;
        let meta = Meta {
            crash_id: id.clone(),
            kind: kind.to_owned(),
            created_at: now_rfc3339(),
            release: self.cfg.release.clone(),
            platform: self.cfg.platform.as_str().to_owned(),
            channel: self.cfg.channel.clone(),
            install_id: self.cfg.install_id.clone(),
            tags: self.tags.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        let file = entry_bytes(&meta, &sealed)?;
        let _guard = self.queue_lock.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&self.cfg.queue_dir, self.pending()?, self.cfg.max_queued)?;
        write_atomic(&self.cfg.queue_dir, &entry_name(&id, SUFFIX), &file)?;
        let mut recent = self.recent_crash_ids();
        recent.push(id.clone());
        let keep = recent.len().saturating_sub(RECENT_KEPT);
        write_atomic(
            &self.cfg.queue_dir,
            RECENT_FILE,
            recent[keep..].join("\n").as_bytes(),
        )?;
        Ok(id)
    }

    /// Queues the dump a native crash handler wrote at `path` (the file is left in place).
    pub fn queue_file(&self, kind: &str, path: &Path) -> Result<String, Error> {
        let dump = std::fs::read(path).map_err(Error::io(path))?;
        self.queue(kind, &dump)
    }

    /// Installs a panic hook that queues a `panic` report (message, location, thread,
    /// backtrace) and then runs the hook that was installed before.
    pub fn install_panic_hook(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let text = format!(
                "panic in thread {}: {info}\n\n{}",
                thread.name().unwrap_or("<unnamed>"),
                std::backtrace::Backtrace::force_capture()
            );
            let _ = me.queue("panic", text.as_bytes());
            previous(info);
        }));
    }

    /// Queued reports, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, Error> {
        entries(&self.cfg.queue_dir, SUFFIX)
    }

    /// The ids of the last ten crash reports this install queued, oldest first (sent or
    /// not): what support asks for, and what [`crate::Sdk::report_problem`] attaches.
    pub fn recent_crash_ids(&self) -> Vec<String> {
        std::fs::read_to_string(self.cfg.queue_dir.join(RECENT_FILE))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Reports the full queue dropped that the server has not been told of yet.
    pub fn dropped(&self) -> u64 {
        crate::queue::dropped(&self.cfg.queue_dir)
    }

    fn set_dropped(&self, n: u64) -> Result<(), Error> {
        crate::queue::set_dropped(&self.cfg.queue_dir, n)
    }

    /// Uploads the queue, oldest first, until it is empty or the server cannot take more
    /// now. A delivered report is removed; one the server refuses for good (400, 401, 409,
    /// 413, 422) goes to `rejected/`; anything else stays for the next attempt.
    pub async fn upload_pending(&self) -> Result<UploadReport, Error> {
        // The count of dropped reports sent with a report, taken off once it is delivered.
        let told = std::sync::atomic::AtomicU64::new(0);
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        upload_entries(
            &self.cfg.queue_dir,
            self.pending()?,
            &self.queue_lock,
            &self.http,
            &self.url,
            &self.cfg.ingest_key,
            "crash report",
            |meta: Meta, sealed| {
                told.store(self.dropped(), relaxed);
                relops_api::CrashUpload {
                    who: relops_api::InstallScope {
                        install_id: meta.install_id,
                        release: meta.release,
                        platform: meta.platform,
                        channel: meta.channel,
                    },
                    crash_id: meta.crash_id,
                    kind: meta.kind,
                    created_at: meta.created_at.parse().ok(),
                    dropped_before: told.load(relaxed),
                    tags: meta
                        .tags
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect(),
                    sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
                }
            },
            || {
                let n = told.load(relaxed);
                if n > 0 {
                    self.set_dropped(self.dropped().saturating_sub(n))?;
                }
                Ok(())
            },
        )
        .await
    }

    /// Uploads in the background: now, then every `every`; after a failed attempt the wait
    /// doubles up to ten times `every` (at most an hour).
    pub fn spawn_uploader(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = every;
            loop {
                let all_sent = matches!(self.upload_pending().await, Ok(r) if r.pending == 0);
                wait = crate::queue::next_wait(wait, every, all_sent);
                tokio::time::sleep(wait).await;
            }
        })
    }
}
