//! [`Sdk`]: everything the SDK does for one app behind one object with blocking calls and one
//! configuration — the updater, the crash queue, sessions and the log channels, with a
//! background uploader. It is what the C library (`relops-sdk-ffi`) wraps; Rust apps that
//! do not run tokio themselves can use it directly.
//!
//! Threads: the runtime's one worker (`relops-sdk`), which drives the network and sleeps
//! while nothing is in flight, and the uploader (`relops-upload`), which waits on a
//! condition variable between rounds — one wake-up per `upload_interval_seconds` (60 by
//! default) when idle. It does not use tokio's timer: a sleep of a minute there wakes the
//! driver three times (its timer wheel cascades from 4 s slots to 64 ms to 1 ms), measured
//! with `strace` (bench/RESULTS.md). Blocking calls run on the calling thread. Every method
//! takes `&self` and may be called from any thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use relops_core::platform::Platform;
use relops_core::version::Version;
use serde::Deserialize;

use crate::logs::{Level, LogConfig, Logs};
use crate::{
    Config, CrashConfig, CrashReporter, Error, SessionConfig, Sessions, Update, Updater,
    UploadReport,
};

/// One app's SDK configuration; the C library takes it as JSON (every field by its name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkConfig {
    /// The relops server, e.g. `https://relops.example`.
    pub server_url: String,
    /// The product, e.g. `wizard`.
    pub product: String,
    /// The feed; by default `{server_url}/tuf/{product}/`.
    #[serde(default)]
    pub feed_url: Option<String>,
    /// The trusted root metadata shipped with the app (a path to `1.root.json`).
    pub trusted_root_file: PathBuf,
    /// The release key's public half, hex (`relops keys list --json`, role `release`).
    pub release_key: String,
    /// The product's ingest key (`relops ingest dsn --json`: `public_key`).
    pub ingest_key: String,
    /// The crash key's public half, hex (`relops keys list --json`, role `crash`).
    pub crash_key: String,
    /// `macos-universal`, `windows-x64`, `linux-x64`, …
    pub platform: String,
    /// `stable`, `internal`, …
    pub channel: String,
    /// The running version.
    pub version: String,
    /// The app's data directory: install id, feed metadata, downloads, queues.
    pub data_dir: PathBuf,
    /// Where the log files go; by default `{data_dir}/logs`.
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// The log files' prefix; by default the product.
    #[serde(default)]
    pub log_name: Option<String>,
    /// Days the app and error logs are kept (30).
    #[serde(default)]
    pub log_keep_days: Option<u32>,
    /// Days the audit log is kept (180).
    #[serde(default)]
    pub audit_keep_days: Option<u32>,
    /// Seconds between background uploads of queued sessions and crashes (60; 0: only on
    /// `flush`).
    #[serde(default)]
    pub upload_interval_seconds: Option<u64>,
    /// Plain http to hosts other than loopback (tests, air-gapped mirrors).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// What one [`Sdk::flush`] delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    pub sessions_sent: usize,
    pub sessions_pending: usize,
    pub crashes_sent: usize,
    pub crashes_pending: usize,
    /// Why something stayed queued, if it did.
    pub error: Option<String>,
}

/// The SDK of one app (see the module documentation).
#[derive(Debug)]
pub struct Sdk {
    cfg: SdkConfig,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    updater: Updater,
    crashes: Arc<CrashReporter>,
    sessions: Arc<Sessions>,
    logs: Arc<Logs>,
    uploader: Option<Uploader>,
}

/// The background uploader's thread and the way to stop it.
#[derive(Debug)]
struct Uploader {
    stop: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

impl Sdk {
    /// Checks the configuration, opens the queues and logs (reporting a session the last
    /// run left open as `abnormal`) and starts the background uploader.
    pub fn new(cfg: SdkConfig) -> Result<Self, Error> {
        let platform: Platform = cfg
            .platform
            .parse()
            .map_err(|e| Error::Config(format!("platform `{}`: {e}", cfg.platform)))?;
        let version: Version = cfg
            .version
            .parse()
            .map_err(|e| Error::Config(format!("version `{}`: {e}", cfg.version)))?;
        let trusted_root =
            std::fs::read(&cfg.trusted_root_file).map_err(Error::io(&cfg.trusted_root_file))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("relops-sdk")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the SDK's thread: {e}")))?;
        let http = Updater::http_client()?;
        let base = cfg.server_url.trim_end_matches('/');
        let updater = Updater::with_http_client(
            Config {
                feed_url: cfg
                    .feed_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/tuf/{}/", cfg.product)),
                trusted_root,
                release_key: cfg.release_key.clone(),
                product: cfg.product.clone(),
                platform,
                channel: cfg.channel.clone(),
                current_version: version,
                data_dir: cfg.data_dir.clone(),
                allow_insecure_http: cfg.allow_insecure_http,
            },
            http.clone(),
        )?;
        let install_id = updater.install_id().to_owned();
        let crashes = Arc::new(CrashReporter::with_http_client(
            CrashConfig {
                server_url: cfg.server_url.clone(),
                ingest_key: cfg.ingest_key.clone(),
                crash_key: cfg.crash_key.clone(),
                release: cfg.version.clone(),
                platform,
                channel: cfg.channel.clone(),
                install_id: install_id.clone(),
                queue_dir: cfg.data_dir.join("crashes"),
                max_queued: 20,
                allow_insecure_http: cfg.allow_insecure_http,
            },
            http.clone(),
        )?);
        let sessions = Arc::new(Sessions::with_http_client(
            SessionConfig {
                server_url: cfg.server_url.clone(),
                ingest_key: cfg.ingest_key.clone(),
                release: cfg.version.clone(),
                platform,
                channel: cfg.channel.clone(),
                install_id,
                dir: cfg.data_dir.join("sessions"),
                max_queued: 10_000,
                allow_insecure_http: cfg.allow_insecure_http,
            },
            http.clone(),
        )?);
        let mut log_cfg = LogConfig::new(
            cfg.log_dir
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("logs")),
            cfg.log_name.as_deref().unwrap_or(&cfg.product),
        );
        log_cfg.keep_days = cfg.log_keep_days.unwrap_or(log_cfg.keep_days);
        log_cfg.audit_keep_days = cfg.audit_keep_days.unwrap_or(log_cfg.audit_keep_days);
        let logs = Arc::new(Logs::open(log_cfg)?);
        let every = cfg.upload_interval_seconds.unwrap_or(60);
        let uploader = if every > 0 {
            let stop = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
            let (sessions, crashes) = (Arc::clone(&sessions), Arc::clone(&crashes));
            let (handle, flag) = (runtime.handle().clone(), Arc::clone(&stop));
            let thread = std::thread::Builder::new()
                .name("relops-upload".into())
                .spawn(move || {
                    upload_loop(
                        &handle,
                        &sessions,
                        &crashes,
                        Duration::from_secs(every),
                        &flag,
                    )
                })
                .map_err(|e| Error::Config(format!("cannot start the SDK's uploader: {e}")))?;
            Some(Uploader { stop, thread })
        } else {
            None
        };
        Ok(Self {
            cfg,
            http,
            runtime,
            updater,
            crashes,
            sessions,
            logs,
            uploader,
        })
    }

    pub fn install_id(&self) -> &str {
        self.updater.install_id()
    }

    pub fn updater(&self) -> &Updater {
        &self.updater
    }

    pub fn crashes(&self) -> &Arc<CrashReporter> {
        &self.crashes
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    pub fn logs(&self) -> &Arc<Logs> {
        &self.logs
    }

    /// [`Updater::check`], blocking.
    pub fn check_update(&self) -> Result<Option<Update>, Error> {
        self.runtime.block_on(self.updater.check())
    }

    /// [`Updater::download_with_progress`], blocking: downloads, verifies and stages.
    pub fn download(
        &self,
        update: &Update,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<PathBuf, Error> {
        self.runtime
            .block_on(self.updater.download_with_progress(update, progress))
    }

    /// Writes a line to the app log (and the error log for errors).
    pub fn log(&self, level: Level, target: &str, message: &str) -> Result<(), Error> {
        self.logs.log(level, target, message)
    }

    /// "Report a problem": opens a support ticket (`POST /v1/ingest/problem`) carrying this
    /// install's id, release, platform and channel and its last crash ids, and returns the
    /// ticket's id (`WIZ-17`) to show the user. Support answers at `email`. The server
    /// bounds how many reports an install files a day (429, said in the error).
    pub fn report_problem(
        &self,
        subject: &str,
        text: Option<&str>,
        email: &str,
        name: Option<&str>,
    ) -> Result<String, Error> {
        let body = relops_api::ProblemReport {
            who: relops_api::InstallScope {
                install_id: self.install_id().to_owned(),
                release: self.cfg.version.clone(),
                platform: self.cfg.platform.clone(),
                channel: self.cfg.channel.clone(),
            },
            email: email.to_owned(),
            name: name.map(str::to_owned),
            subject: subject.to_owned(),
            text: text.map(str::to_owned),
            crash_ids: self.crashes.recent_crash_ids(),
        };
        let url = crate::queue::server_url(&self.cfg.server_url, self.cfg.allow_insecure_http)?
            .join("v1/ingest/problem")
            .map_err(|e| Error::Config(e.to_string()))?;
        self.runtime.block_on(async {
            let resp = self
                .http
                .post(url)
                .header("X-Relops-Ingest-Key", &self.cfg.ingest_key)
                .json(&body)
                .send()
                .await
                .map_err(|e| Error::Network(e.to_string()))?;
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                let why = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                return Err(if status.is_client_error() && status.as_u16() != 429 {
                    Error::Config(format!("the server refused the report ({status}): {why}"))
                } else {
                    Error::Network(format!("the server answered {status}: {why}"))
                });
            }
            let ack: relops_api::IngestAck = resp
                .json()
                .await
                .map_err(|e| Error::Network(e.to_string()))?;
            ack.id
                .ok_or_else(|| Error::Network("the server named no ticket".into()))
        })
    }

    /// Uploads the queued sessions and crashes now.
    pub fn flush(&self) -> Result<Flushed, Error> {
        self.runtime.block_on(flush(&self.sessions, &self.crashes))
    }

    /// [`Sdk::flush`], given up after `limit` (what did not go stays queued).
    pub fn flush_within(&self, limit: Duration) -> Result<Flushed, Error> {
        // The timer is made inside the runtime: tokio's timers belong to one.
        self.runtime
            .block_on(async {
                tokio::time::timeout(limit, flush(&self.sessions, &self.crashes)).await
            })
            .unwrap_or_else(|_| {
                Err(Error::Network(format!(
                    "the upload took longer than {limit:?}"
                )))
            })
    }
}

async fn flush(sessions: &Sessions, crashes: &CrashReporter) -> Result<Flushed, Error> {
    let s = sessions.upload_pending().await?;
    let c: UploadReport = crashes.upload_pending().await?;
    Ok(Flushed {
        sessions_sent: s.sent,
        sessions_pending: s.pending,
        crashes_sent: c.sent,
        crashes_pending: c.pending,
        error: s.error.or(c.error),
    })
}

/// Uploads now, then every `every`; after a failed attempt the wait doubles, up to ten
/// times `every` (at most an hour). Never sooner than `every`; returns once `stop` is set.
fn upload_loop(
    runtime: &tokio::runtime::Handle,
    sessions: &Sessions,
    crashes: &CrashReporter,
    every: Duration,
    stop: &(std::sync::Mutex<bool>, std::sync::Condvar),
) {
    let mut wait = every;
    loop {
        let all_sent = matches!(
            runtime.block_on(flush(sessions, crashes)),
            Ok(f) if f.sessions_pending == 0 && f.crashes_pending == 0
        );
        wait = crate::queue::next_wait(wait, every, all_sent);
        let (lock, cvar) = stop;
        let stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (stopped, _) = cvar
            .wait_timeout_while(stopped, wait, |s| !*s)
            .unwrap_or_else(|p| p.into_inner());
        if *stopped {
            return;
        }
    }
}

impl Drop for Sdk {
    fn drop(&mut self) {
        if let Some(u) = self.uploader.take() {
            let (lock, cvar) = &*u.stop;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
            cvar.notify_all();
            // A round in flight ends within the HTTP client's timeouts.
            let _ = u.thread.join();
        }
    }
}
