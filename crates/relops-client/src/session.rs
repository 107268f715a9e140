//! Sessions (R-AUTO-3): what the health gate counts. An app without a Sentry SDK reports
//! them here: [`Sessions::start`] when the user starts working, [`Sessions::end`] when the app
//! quits normally (`exited`), [`Sessions::crashed`] from a crash handler (`crashed`). A
//! session still open when the process dies (killed, power cut, a crash no handler saw) is
//! found by the next [`Sessions::new`] and reported `abnormal` — under the release, channel
//! and platform it ran as, which after an update is not the running one.
//!
//! Every update is written to an on-disk queue (fsync, atomic rename) before anything is
//! sent, so nothing is lost offline, and uploaded in batches of up to 1,000 to
//! `POST /v1/ingest/sessions`. Session ids are chosen here, so a retry after a lost answer
//! counts once (the server counts a session's status once, when it first ends).
//!
//! Files in the session directory: `open.json` (the session in progress), `*.session` (queued
//! updates), `rejected/` (updates the server refused for good), `dropped` (how many the
//! bounded queue dropped).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use relops_api::{InstallScope, SessionBatch, SessionUpdate};
use relops_core::platform::Platform;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;
use crate::queue::{Sent, entries, entry_name, make_room, reject, server_url, write_atomic};

/// Where and as what this install reports its sessions.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The relops server, e.g. `https://relops.example`.
    pub server_url: String,
    /// The product's ingest key (`relops ingest dsn --json`: `public_key`).
    pub ingest_key: String,
    /// The running version.
    pub release: String,
    pub platform: Platform,
    pub channel: String,
    /// This install's id (e.g. [`crate::Updater::install_id`]).
    pub install_id: String,
    /// The queue and the open session; it must survive restarts (the app's data directory).
    pub dir: PathBuf,
    /// Updates kept at most while the server cannot be reached; beyond, the oldest go
    /// (counted in `dropped`). Each is about 250 bytes.
    pub max_queued: usize,
    pub allow_insecure_http: bool,
}

/// The session in progress, as `open.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    session_id: String,
    started_at: DateTime<Utc>,
    who: InstallScope,
}

/// What one [`Sessions::upload_pending`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionUploadReport {
    /// Updates delivered (and removed from the queue).
    pub sent: usize,
    /// Still queued.
    pub pending: usize,
    /// Refused for good by the server (moved to `rejected/`).
    pub rejected: usize,
    /// Why the upload stopped early, if it did.
    pub error: Option<String>,
}

/// This install's sessions: the open one on disk, the queue of updates, their upload.
#[derive(Debug)]
pub struct Sessions {
    cfg: SessionConfig,
    url: Url,
    http: reqwest::Client,
    /// Serialises changes to `open.json` and the queue within the process.
    lock: Mutex<()>,
    /// The session a previous process left open, reported `abnormal` by [`Sessions::new`].
    recovered: Option<String>,
}

const OPEN_FILE: &str = "open.json";
const SUFFIX: &str = ".session";
/// What `/v1/ingest/sessions` takes in one request.
const BATCH: usize = 1000;

impl Sessions {
    /// Checks the configuration, creates the directory, and reports a session the previous
    /// process left open as `abnormal` (see [`Sessions::recovered_abnormal`]).
    pub fn new(cfg: SessionConfig) -> Result<Self, Error> {
        Self::with_http_client(cfg, crate::Updater::http_client()?)
    }

    /// [`Sessions::new`] with the app's HTTP client.
    pub fn with_http_client(cfg: SessionConfig, http: reqwest::Client) -> Result<Self, Error> {
        let url = server_url(&cfg.server_url, cfg.allow_insecure_http)?
            .join("v1/ingest/sessions")
            .map_err(|e| Error::Config(e.to_string()))?;
        if cfg.max_queued == 0 {
            return Err(Error::Config("max_queued must be at least 1".into()));
        }
        let rejected = cfg.dir.join("rejected");
        std::fs::create_dir_all(&rejected).map_err(Error::io(&rejected))?;
        let mut me = Self {
            cfg,
            url,
            http,
            lock: Mutex::new(()),
            recovered: None,
        };
        if let Some(open) = me.read_open() {
            me.finish(&open, "abnormal")?;
            me.recovered = Some(open.session_id);
        }
        Ok(me)
    }

    /// The id of the session a previous process left open (killed, or crashed without a
    /// handler), which [`Sessions::new`] queued as `abnormal`.
    pub fn recovered_abnormal(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    fn scope(&self) -> InstallScope {
        InstallScope {
            install_id: self.cfg.install_id.clone(),
            release: self.cfg.release.clone(),
            platform: self.cfg.platform.as_str().to_owned(),
            channel: self.cfg.channel.clone(),
        }
    }

    fn open_path(&self) -> PathBuf {
        self.cfg.dir.join(OPEN_FILE)
    }

    fn read_open(&self) -> Option<Open> {
        // A file that cannot be read or parsed is a session nobody can report: dropped.
        let bytes = std::fs::read(self.open_path()).ok()?;
        let open = serde_json::from_slice(&bytes).ok();
        if open.is_none() {
            let _ = std::fs::remove_file(self.open_path());
        }
        open
    }

    /// Starts a session and queues its `ok` update (the install counts as active from it).
    /// A session already open in this process is kept and its id returned.
    pub fn start(&self) -> Result<String, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = self.read_open() {
            return Ok(open.session_id);
        }
        let open = Open {
            session_id: uuid::Uuid::new_v4().to_string(),
            started_at: Utc::now(),
            who: self.scope(),
        };
        let bytes = serde_json::to_vec(&open).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(&self.cfg.dir, OPEN_FILE, &bytes)?;
        self.enqueue(SessionUpdate {
            who: open.who.clone(),
            session_id: open.session_id.clone(),
            status: "ok".into(),
            duration_seconds: None,
        })?;
        Ok(open.session_id)
    }

    /// Ends the open session normally (`exited`). Without an open session it does nothing.
    pub fn end(&self) -> Result<(), Error> {
        self.end_as("exited")
    }

    /// Ends the open session as `crashed`: call it from a crash handler, before the process
    /// goes (no network, no async runtime). Without an open session it does nothing.
    pub fn crashed(&self) -> Result<(), Error> {
        self.end_as("crashed")
    }

    fn end_as(&self, status: &str) -> Result<(), Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        match self.read_open() {
            Some(open) => self.finish(&open, status),
            None => Ok(()),
        }
    }

    /// Queues the final update of `open`, then removes `open.json`: a crash in between
    /// leaves both, and the next start's `abnormal` for a session that already ended is
    /// not counted by the server (a session's status counts once, when it first ends).
    fn finish(&self, open: &Open, status: &str) -> Result<(), Error> {
        let secs = (Utc::now() - open.started_at).num_milliseconds().max(0) as f64 / 1000.0;
        self.enqueue(SessionUpdate {
            who: open.who.clone(),
            session_id: open.session_id.clone(),
            status: status.into(),
            duration_seconds: Some(secs),
        })?;
        let path = self.open_path();
        std::fs::remove_file(&path).map_err(Error::io(&path))
    }

    fn enqueue(&self, update: SessionUpdate) -> Result<(), Error> {
        let bytes = serde_json::to_vec(&update).map_err(|e| Error::Config(e.to_string()))?;
        make_room(&self.cfg.dir, self.pending()?, self.cfg.max_queued)?;
        write_atomic(
            &self.cfg.dir,
            &entry_name(&update.session_id, SUFFIX),
            &bytes,
        )
    }

    /// Queued updates, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, Error> {
        entries(&self.cfg.dir, SUFFIX)
    }

    /// Updates the full queue dropped, since the directory was made.
    pub fn dropped(&self) -> u64 {
        crate::queue::dropped(&self.cfg.dir)
    }

    /// Uploads the queue, oldest first, in batches of up to 1,000, until it is empty or the
    /// server cannot take more now. A batch the server refuses (400/422: stored all or
    /// nothing) is sent again one update at a time, so only the bad update goes to
    /// `rejected/`.
    pub async fn upload_pending(&self) -> Result<SessionUploadReport, Error> {
        let mut report = SessionUploadReport::default();
        let pending = self.pending()?;
        report.pending = pending.len();
        for chunk in pending.chunks(BATCH) {
            let mut batch = Vec::with_capacity(chunk.len());
            for path in chunk {
                match std::fs::read(path).map(|b| serde_json::from_slice::<SessionUpdate>(&b)) {
                    Ok(Ok(u)) => batch.push((path.as_path(), u)),
                    Ok(Err(_)) => {
                        self.reject(path)?;
                        report.rejected += 1;
                        report.pending -= 1;
                    }
                    Err(_) => report.pending -= 1, // dropped meanwhile
                }
            }
            if batch.is_empty() {
                continue;
            }
            match self.send(&batch).await {
                // Stored all or nothing: one at a time, so only the bad update is set aside.
                Sent::Refused(_) if batch.len() > 1 => {
                    for one in batch.chunks(1) {
                        let sent = self.send(one).await;
                        if self.settle(one, sent, &mut report)? {
                            return Ok(report);
                        }
                    }
                }
                sent => {
                    if self.settle(&batch, sent, &mut report)? {
                        return Ok(report);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Books what the server said about `part` (a refused part is one update); true when
    /// the upload should stop for now.
    fn settle(
        &self,
        part: &[(&Path, SessionUpdate)],
        sent: Sent,
        report: &mut SessionUploadReport,
    ) -> Result<bool, Error> {
        match sent {
            Sent::Stored => self.delivered(part, report),
            Sent::Refused(why) => {
                report.error = Some(why);
                for (path, _) in part {
                    self.reject(path)?;
                    report.rejected += 1;
                    report.pending -= 1;
                }
            }
            Sent::Later(why) => {
                report.error = Some(why);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn delivered(&self, batch: &[(&Path, SessionUpdate)], report: &mut SessionUploadReport) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        for (path, _) in batch {
            let _ = std::fs::remove_file(path);
        }
        report.sent += batch.len();
        report.pending -= batch.len();
    }

    fn reject(&self, path: &Path) -> Result<(), Error> {
        reject(&self.cfg.dir, path)
    }

    async fn send(&self, batch: &[(&Path, SessionUpdate)]) -> Sent {
        let body = SessionBatch {
            sessions: batch.iter().map(|(_, u)| u.clone()).collect(),
        };
        crate::queue::post(
            &self.http,
            &self.url,
            &self.cfg.ingest_key,
            &body,
            "session updates",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, max_queued: usize) -> SessionConfig {
        SessionConfig {
            server_url: "http://127.0.0.1:9".into(),
            ingest_key: "k".into(),
            release: "2.1.0".into(),
            platform: Platform::WindowsX64,
            channel: "stable".into(),
            install_id: "i-1".into(),
            dir: dir.to_owned(),
            max_queued,
            allow_insecure_http: false,
        }
    }

    fn queued(s: &Sessions) -> Vec<(String, String)> {
        s.pending()
            .unwrap()
            .iter()
            .map(|p| {
                let u: SessionUpdate = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                (u.who.release, u.status)
            })
            .collect()
    }

    #[test]
    fn a_session_left_open_is_abnormal_under_the_release_it_ran_as() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::new(config(dir.path(), 100)).unwrap();
        assert_eq!(s.recovered_abnormal(), None);
        let id = s.start().unwrap();
        assert_eq!(
            s.start().unwrap(),
            id,
            "a second start keeps the open session"
        );
        drop(s); // the process dies; the app is updated to 2.2.0 and starts again
        let mut cfg = config(dir.path(), 100);
        cfg.release = "2.2.0".into();
        let again = Sessions::new(cfg).unwrap();
        assert_eq!(again.recovered_abnormal(), Some(id.as_str()));
        again.start().unwrap();
        again.crashed().unwrap();
        again.end().unwrap(); // nothing open: nothing happens
        assert_eq!(
            queued(&again),
            [
                ("2.1.0", "ok"),
                ("2.1.0", "abnormal"),
                ("2.2.0", "ok"),
                ("2.2.0", "crashed")
            ]
            .map(|(r, s)| (r.to_owned(), s.to_owned()))
        );
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::new(config(dir.path(), 3)).unwrap();
        for _ in 0..3 {
            s.start().unwrap();
            s.end().unwrap();
        }
        assert_eq!(s.pending().unwrap().len(), 3);
        assert_eq!(s.dropped(), 3);
        assert!(
            queued(&s)
                .iter()
                .map(|(_, st)| st.as_str())
                .eq(["exited", "ok", "exited"])
        );
    }

    #[test]
    fn an_unreachable_server_keeps_everything_queued() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::new(config(dir.path(), 100)).unwrap();
        s.start().unwrap();
        s.end().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(s.upload_pending()).unwrap();
        assert_eq!((r.sent, r.pending, r.rejected), (0, 2, 0));
        assert!(r.error.unwrap().contains("could not be reached"));
        assert_eq!(s.pending().unwrap().len(), 2);
    }
}
