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

use crate::logs::bundle::{Packed, Redactor, redact_emails};
use crate::logs::{Level, LogConfig, Logs};
use crate::{
    AttachTo, BundleConfig, Config, CrashConfig, CrashReporter, Error, LogBundles, SessionConfig,
    Sessions, Update, Updater, UploadReport,
};

/// Where the SDK keeps the pilot this install joined (`{data_dir}/pilot.json`).
const PILOT_FILE: &str = "pilot.json";

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
    /// Replace e-mail addresses in log bundles with `[email]` (true); an app may add its
    /// own redaction with [`Sdk::set_log_redactor`].
    #[serde(default)]
    pub bundle_redact_emails: Option<bool>,
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
    pub bundles_sent: usize,
    pub bundles_pending: usize,
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
    bundles: Arc<LogBundles>,
    redactor: AppRedactor,
    uploader: Option<Uploader>,
}

/// The app's own redaction of log bundles, if it set one.
#[derive(Default)]
struct AppRedactor(std::sync::RwLock<Option<Arc<Redactor>>>);

impl std::fmt::Debug for AppRedactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.read().map(|r| r.is_some()).unwrap_or(false);
        write!(f, "AppRedactor({})", if set { "set" } else { "none" })
    }
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
    pub fn new(mut cfg: SdkConfig) -> Result<Self, Error> {
        // An install that joined the pilot asks for the pilot's channel.
        if let Some(channel) = std::fs::read(cfg.data_dir.join(PILOT_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["channel"].as_str().map(str::to_owned))
        {
            cfg.channel = channel;
        }
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
                install_id: install_id.clone(),
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
        let bundles = Arc::new(LogBundles::with_http_client(
            BundleConfig {
                server_url: cfg.server_url.clone(),
                ingest_key: cfg.ingest_key.clone(),
                crash_key: cfg.crash_key.clone(),
                scope: relops_api::InstallScope {
                    install_id,
                    release: cfg.version.clone(),
                    platform: platform.as_str().to_owned(),
                    channel: cfg.channel.clone(),
                },
                queue_dir: cfg.data_dir.join("log-bundles"),
                allow_insecure_http: cfg.allow_insecure_http,
            },
            http.clone(),
        )?);
        let every = cfg.upload_interval_seconds.unwrap_or(60);
        let uploader = if every > 0 {
            let stop = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
            let queues = Queues {
                sessions: Arc::clone(&sessions),
                crashes: Arc::clone(&crashes),
                bundles: Arc::clone(&bundles),
            };
            let (handle, flag) = (runtime.handle().clone(), Arc::clone(&stop));
            let thread = std::thread::Builder::new()
                .name("relops-upload".into())
                .spawn(move || upload_loop(&handle, &queues, Duration::from_secs(every), &flag))
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
            bundles,
            redactor: AppRedactor::default(),
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

    /// What installing the staged `update` over the app at `installed` takes on this
    /// platform ([`crate::install`]): `installed` is the `.app` (macOS), the AppImage or the
    /// install directory (Linux); Windows places MSI and MSIX packages itself.
    pub fn install_plan(
        &self,
        update: &Update,
        staged: &std::path::Path,
        installed: &std::path::Path,
    ) -> Result<crate::install::Plan, Error> {
        crate::install::plan(&crate::install::Target {
            staged,
            target_name: &update.target,
            installed,
            downgrade: update.downgrade,
            work_dir: &self.cfg.data_dir,
        })
    }

    /// Installs the staged `update` ([`Sdk::install_plan`], carried out). The app then
    /// restarts into the new version; on failure the installed version stays.
    pub fn install(
        &self,
        update: &Update,
        staged: &std::path::Path,
        installed: &std::path::Path,
    ) -> Result<crate::install::Installed, Error> {
        crate::install::execute(&self.install_plan(update, staged, installed)?)
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
            who: self.scope(),
            email: email.to_owned(),
            name: name.map(str::to_owned),
            subject: subject.to_owned(),
            text: text.map(str::to_owned),
            crash_ids: self.crashes.recent_crash_ids(),
        };
        let ack: relops_api::IngestAck = self.ask("v1/ingest/problem", &body, "the report")?;
        ack.id
            .ok_or_else(|| Error::Network("the server named no ticket".into()))
    }

    /// This install's scope as it reports: id, version, platform, channel.
    fn scope(&self) -> relops_api::InstallScope {
        relops_api::InstallScope {
            install_id: self.install_id().to_owned(),
            release: self.cfg.version.clone(),
            platform: self.cfg.platform.clone(),
            channel: self.cfg.channel.clone(),
        }
    }

    /// POSTs `body` to the server's `path` with the ingest key and reads the answer; a
    /// refusal (4xx but 429) is a configuration error with the server's words, anything
    /// else a network error worth retrying.
    fn ask<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        what: &str,
    ) -> Result<T, Error> {
        let url = crate::queue::server_url(&self.cfg.server_url, self.cfg.allow_insecure_http)?
            .join(path)
            .map_err(|e| Error::Config(e.to_string()))?;
        self.runtime.block_on(async {
            let resp = self
                .http
                .post(url)
                .header("X-Relops-Ingest-Key", &self.cfg.ingest_key)
                .json(body)
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
                    Error::Config(format!("the server refused {what} ({status}): {why}"))
                } else {
                    Error::Network(format!("the server answered {status}: {why}"))
                });
            }
            resp.json().await.map_err(|e| Error::Network(e.to_string()))
        })
    }

    /// Joins the pilot with an invitation code (`relops pilot invite`): the server enrols
    /// this install, and from the next start the SDK uses the internal channel — pilot
    /// releases, the pilot's health figures. Answers the organisation the code is for.
    pub fn join_pilot(&self, code: &str) -> Result<String, Error> {
        let body = relops_api::PilotJoin {
            who: self.scope(),
            code: code.to_owned(),
        };
        let joined: relops_api::PilotJoined =
            self.ask("v1/ingest/pilot/join", &body, "the code")?;
        let state =
            serde_json::json!({"channel": joined.channel, "organisation": joined.organisation});
        crate::queue::write_atomic(&self.cfg.data_dir, PILOT_FILE, state.to_string().as_bytes())?;
        Ok(joined.organisation)
    }

    /// Leaves the pilot: the server is told, and from the next start the SDK uses the
    /// configured channel again.
    pub fn leave_pilot(&self) -> Result<(), Error> {
        let body = relops_api::PilotLeave {
            install_id: self.install_id().to_owned(),
        };
        let _: relops_api::IngestAck = self.ask("v1/ingest/pilot/leave", &body, "leaving")?;
        let path = self.cfg.data_dir.join(PILOT_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The channel the SDK uses: the pilot's when this install joined it, else the
    /// configured one.
    pub fn channel(&self) -> &str {
        &self.cfg.channel
    }

    /// Adds an app's own redaction to log bundles: called with every line (without its
    /// newline) before it is packed, after the e-mail redaction; it may change the line.
    /// Replaces the one set before.
    pub fn set_log_redactor(&self, redact: impl Fn(&mut String) + Send + Sync + 'static) {
        *self.redactor.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(redact));
    }

    /// Removes the redactor [`Sdk::set_log_redactor`] set.
    pub fn clear_log_redactor(&self) {
        *self.redactor.0.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The app and error logs of the last `days` days as a tar.gz, redacted (e-mail
    /// addresses, unless `bundle_redact_emails` is false, then the app's redactor).
    pub fn collect_logs(&self, days: u32) -> Result<Packed, Error> {
        let emails = self.cfg.bundle_redact_emails.unwrap_or(true);
        let app = self
            .redactor
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let redacting = emails || app.is_some();
        let redact = move |line: &mut String| {
            if emails {
                redact_emails(line);
            }
            if let Some(r) = &app {
                r(line);
            }
        };
        self.logs
            .pack(days, redacting.then_some(&redact as &Redactor))
    }

    /// Collects the logs of the last `days` days ([`Sdk::collect_logs`]), seals them and
    /// queues them for upload with crash `crash_id` (as [`CrashReporter::queue`] answered);
    /// the background uploader sends them. Answers the bundle's id.
    pub fn attach_logs(&self, crash_id: &str, days: u32) -> Result<String, Error> {
        let packed = self.collect_logs(days)?;
        self.bundles
            .queue(&packed, AttachTo::Crash(crash_id.to_owned()))
    }

    /// [`Sdk::report_problem`] with the logs of the last `log_days` days attached to the
    /// ticket: sealed and queued, then sent at once if the server can be reached (else by
    /// the background uploader). Answers the ticket's id.
    pub fn report_problem_with_logs(
        &self,
        subject: &str,
        text: Option<&str>,
        email: &str,
        name: Option<&str>,
        log_days: u32,
    ) -> Result<String, Error> {
        // Packed before the report: a bundle that cannot be made must not leave a ticket
        // that promises logs.
        let packed = self.collect_logs(log_days)?;
        let ticket = self.report_problem(subject, text, email, name)?;
        self.bundles
            .queue(&packed, AttachTo::Ticket(ticket.clone()))?;
        let _ = self.runtime.block_on(self.bundles.upload_pending());
        Ok(ticket)
    }

    pub fn bundles(&self) -> &Arc<LogBundles> {
        &self.bundles
    }

    /// Uploads the queued sessions, crashes and log bundles now.
    pub fn flush(&self) -> Result<Flushed, Error> {
        self.runtime.block_on(flush(&self.queues()))
    }

    fn queues(&self) -> Queues {
        Queues {
            sessions: Arc::clone(&self.sessions),
            crashes: Arc::clone(&self.crashes),
            bundles: Arc::clone(&self.bundles),
        }
    }

    /// [`Sdk::flush`], given up after `limit` (what did not go stays queued).
    pub fn flush_within(&self, limit: Duration) -> Result<Flushed, Error> {
        // The timer is made inside the runtime: tokio's timers belong to one.
        self.runtime
            .block_on(async { tokio::time::timeout(limit, flush(&self.queues())).await })
            .unwrap_or_else(|_| {
                Err(Error::Network(format!(
                    "the upload took longer than {limit:?}"
                )))
            })
    }
}

/// The queues the uploader empties.
struct Queues {
    sessions: Arc<Sessions>,
    crashes: Arc<CrashReporter>,
    bundles: Arc<LogBundles>,
}

/// Sessions first (the health gate waits on them), then crashes, then log bundles (which
/// explain crashes the server should have first).
async fn flush(q: &Queues) -> Result<Flushed, Error> {
    let s = q.sessions.upload_pending().await?;
    let c: UploadReport = q.crashes.upload_pending().await?;
    let b = q.bundles.upload_pending().await?;
    Ok(Flushed {
        sessions_sent: s.sent,
        sessions_pending: s.pending,
        crashes_sent: c.sent,
        crashes_pending: c.pending,
        bundles_sent: b.sent,
        bundles_pending: b.pending,
        error: s.error.or(c.error).or(b.error),
    })
}

impl Flushed {
    /// Nothing stayed queued.
    pub fn all_sent(&self) -> bool {
        self.sessions_pending == 0 && self.crashes_pending == 0 && self.bundles_pending == 0
    }
}

/// Uploads now, then every `every`; after a failed attempt the wait doubles, up to ten
/// times `every` (at most an hour). Never sooner than `every`; returns once `stop` is set.
fn upload_loop(
    runtime: &tokio::runtime::Handle,
    queues: &Queues,
    every: Duration,
    stop: &(std::sync::Mutex<bool>, std::sync::Condvar),
) {
    let mut wait = every;
    loop {
        let all_sent = matches!(runtime.block_on(flush(queues)), Ok(f) if f.all_sent());
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
