//! Log bundles on their way to support: a packed bundle ([`crate::logs::bundle`]) is sealed
//! on this machine with HPKE to the server's crash key — bound to the bundle's id — and
//! written to an on-disk queue before anything is sent, like a crash dump; the queue is
//! uploaded with the crash reports (`POST /v1/ingest/logs`). A bundle is attached to a
//! crash (its id) or to a ticket this install opened ("report a problem").
//!
//! The queue keeps at most [`MAX_QUEUED`] bundles (each below 8 MiB): a new one beyond
//! drops the oldest.

use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::logs::bundle::Packed;
use crate::queue::{
    entries, entry_bytes, entry_name, make_room, now_rfc3339, server_url, upload_entries,
    write_atomic,
};
use crate::{Error, UploadReport};

/// Bundles queued at most.
pub const MAX_QUEUED: usize = 5;
const SUFFIX: &str = ".logs";

/// What a bundle explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachTo {
    /// A crash report's id (as [`crate::CrashReporter::queue`] answered).
    Crash(String),
    /// A ticket this install opened (as [`crate::Sdk::report_problem`] answered).
    Ticket(String),
}

/// Where the bundles go and as whom.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    pub server_url: String,
    pub ingest_key: String,
    /// The server's crash key, hex X25519.
    pub crash_key: String,
    pub scope: relops_api::InstallScope,
    pub queue_dir: PathBuf,
    pub allow_insecure_http: bool,
}

/// The first line of a queued bundle; the sealed tar.gz follows it.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    bundle_id: String,
    crash_id: Option<String>,
    ticket: Option<String>,
    days: u32,
    files: u32,
    created_at: String,
    scope: relops_api::InstallScope,
}

/// Seals, queues and uploads this install's log bundles.
#[derive(Debug)]
pub struct LogBundles {
    cfg: BundleConfig,
    url: Url,
    http: reqwest::Client,
    queue_lock: Mutex<()>,
}

impl LogBundles {
    pub fn with_http_client(cfg: BundleConfig, http: reqwest::Client) -> Result<Self, Error> {
        let url = server_url(&cfg.server_url, cfg.allow_insecure_http)?
            .join("v1/ingest/logs")
            .map_err(|e| Error::Config(e.to_string()))?;
        relops_seal::seal(&cfg.crash_key, "probe", b"")
            .map_err(|e| Error::Config(format!("crash_key: {e}")))?;
        let rejected = cfg.queue_dir.join("rejected");
        std::fs::create_dir_all(&rejected).map_err(Error::io(&rejected))?;
        Ok(Self {
            cfg,
            url,
            http,
            queue_lock: Mutex::new(()),
        })
    }

    /// Seals `packed` and queues it (durably) for `to`; answers the bundle's id.
    pub fn queue(&self, packed: &Packed, to: AttachTo) -> Result<String, Error> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sealed = relops_seal::seal(&self.cfg.crash_key, &format!("logs:{id}"), &packed.bytes)
            .map_err(|e| Error::Config(e.to_string()))?;
        let (crash_id, ticket) = match to {
            AttachTo::Crash(c) => (Some(c), None),
            AttachTo::Ticket(t) => (None, Some(t)),
        };
        let meta = Meta {
            bundle_id: id.clone(),
            crash_id,
            ticket,
            days: packed.days,
            files: packed.files,
            created_at: now_rfc3339(),
            scope: self.cfg.scope.clone(),
        };
        let file = entry_bytes(&meta, &sealed)?;
        let _guard = self.queue_lock.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&self.cfg.queue_dir, self.pending()?, MAX_QUEUED)?;
        write_atomic(&self.cfg.queue_dir, &entry_name(&id, SUFFIX), &file)?;
        Ok(id)
    }

    /// Queued bundles, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, Error> {
        entries(&self.cfg.queue_dir, SUFFIX)
    }

    /// Uploads the queue, oldest first, until it is empty or the server cannot take more
    /// now; a bundle refused for good goes to `rejected/`.
    pub async fn upload_pending(&self) -> Result<UploadReport, Error> {
        upload_entries(
            &self.cfg.queue_dir,
            self.pending()?,
            &self.queue_lock,
            &self.http,
            &self.url,
            &self.cfg.ingest_key,
            "log bundle",
            |meta: Meta, sealed| relops_api::LogBundleUpload {
                who: meta.scope,
                bundle_id: meta.bundle_id,
                crash_id: meta.crash_id,
                ticket: meta.ticket,
                days: meta.days,
                files: meta.files,
                created_at: meta.created_at.parse().ok(),
                sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
            },
            || Ok(()),
        )
        .await
    }
}
