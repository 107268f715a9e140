//! Artifact bytes in a local directory or an S3-compatible store, through `object_store`
//! (uploads to the local directory are written by `local_write.rs`).
//!
//! Layout inside the store:
//! - `staging/{uuid}`: an upload in progress. Invisible to readers; swept at start-up.
//! - `blobs/sha256/{hex}`: finished blobs, addressed by content. An upload is renamed here
//!   only after its digest was computed and checked, then the database row that makes it
//!   visible is written.

mod local_write;

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};

use local_write::LocalWrite;

/// Where blobs live; the `[blob]` section of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobConfig {
    /// A directory on this machine (the embedded default: `DATA_DIR/blobs`).
    Local { path: PathBuf },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        /// e.g. `http://127.0.0.1:9000`; empty for AWS itself.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        access_key_id: String,
        secret_access_key: String,
        /// Key prefix inside the bucket, so that several installations can share one.
        #[serde(default)]
        prefix: Option<String>,
        /// Allow a plain-HTTP endpoint (a test server on loopback).
        #[serde(default)]
        allow_http: bool,
    },
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("blob `{0}` not found")]
    NotFound(String),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The stored bytes no longer match the digest recorded when they arrived.
    #[error("blob `{0}` does not match its digest: it was changed in the blob store")]
    Changed(String),
}

impl BlobError {
    /// The bucket could not be reached, or failed, after the client's retries: an
    /// outage to retry after, not a fault of the request.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Store(object_store::Error::Generic { .. }))
    }

    /// The disk under a local blob store is full: nothing was stored.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == std::io::ErrorKind::StorageFull)
    }

    fn from_store(key: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            e => Self::Store(e),
        }
    }

    /// Opening the local file of blob `key` failed.
    fn opening(key: &str, e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound(key.to_owned()),
            _ => Self::Io(e),
        }
    }
}

type Result<T, E = BlobError> = std::result::Result<T, E>;

/// Part size of multipart uploads: S3's minimum, and what bounds the memory an upload holds.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once per upload.
const PARTS_IN_FLIGHT: usize = 2;

const STAGING: &str = "staging";
const BLOBS: &str = "blobs/sha256";

/// What [`BlobStore::put_once`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOnce {
    /// Stored now.
    Stored,
    /// The same bytes were stored before.
    Same,
    /// Other bytes are stored under the key; they were kept.
    Different,
}

/// The blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for the local backend: the directory, so that start-up can sweep staging files
    /// that `object_store` hides from listings.
    local_root: Option<PathBuf>,
}

impl BlobStore {
    pub fn open(cfg: &BlobConfig) -> Result<Self> {
        match cfg {
            BlobConfig::Local { path } => {
                std::fs::create_dir_all(path)?;
                let fs = LocalFileSystem::new_with_prefix(path)?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(fs),
                    local_root: Some(path.clone()),
                })
            }
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                prefix,
                allow_http,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http)
                    // A bucket that cannot be reached is an outage to report (503), not
                    // a wait: object_store's default retries for up to three minutes.
                    .with_retry(object_store::RetryConfig {
                        max_retries: 3,
                        retry_timeout: std::time::Duration::from_secs(10),
                        ..Default::default()
                    });
                if let Some(e) = endpoint.as_deref().filter(|e| !e.is_empty()) {
                    b = b.with_endpoint(e);
                }
                let s3: Arc<dyn ObjectStore> = Arc::new(b.build()?);
                let store: Arc<dyn ObjectStore> = match prefix.as_deref().filter(|p| !p.is_empty())
                {
                    Some(p) => Arc::new(PrefixStore::new(s3, p)),
                    None => s3,
                };
                Ok(Self {
                    store,
                    local_root: None,
                })
            }
        }
    }

    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The key a blob with this digest is stored under.
    pub fn key_for(sha256_hex: &str) -> String {
        format!("{BLOBS}/{sha256_hex}")
    }

    /// Starts an upload into `staging/`.
    pub async fn begin_upload(&self) -> Result<BlobUpload> {
        let staging = Path::from(format!("{STAGING}/{}", uuid::Uuid::new_v4()));
        let sink = match &self.local_root {
            Some(root) => {
                let path = root.join(staging.as_ref());
                Sink::Local {
                    write: tokio::task::spawn_blocking(move || LocalWrite::create(path))
                        .await
                        .map_err(std::io::Error::other)??,
                    root: root.clone(),
                }
            }
            None => Sink::Store(WriteMultipart::new_with_chunk_size(
                self.store.put_multipart(&staging).await?,
                PART_SIZE,
            )),
        };
        Ok(BlobUpload {
            sink,
            staging,
            store: self.store.clone(),
        })
    }

    /// Size of a stored blob.
    pub async fn size(&self, key: &str) -> Result<u64> {
        let meta = self
            .store
            .head(&Path::from(key))
            .await
            .map_err(|e| BlobError::from_store(key, e))?;
        Ok(meta.size)
    }

    /// Streams a blob, or the byte range `range` of it.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        if let Some(root) = &self.local_root {
            return local_stream(root.join(key), key, range).await;
        }
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let res = self
            .store
            .get_opts(&Path::from(key), opts)
            .await
            .map_err(|e| BlobError::from_store(key, e))?;
        Ok(res.into_stream().map_err(BlobError::from).boxed())
    }

    /// Is the store reachable? (`/readyz`)
    pub async fn ping(&self) -> Result<()> {
        let mut list = self.store.list(Some(&Path::from(BLOBS)));
        if let Some(item) = list.next().await {
            item?;
        }
        Ok(())
    }

    /// Removes uploads that never finished. On the local backend (one server per data dir)
    /// every staging file is an orphan at start-up; on S3, replicas may be uploading, so
    /// only staging objects older than `older_than` go.
    pub async fn sweep_staging(&self, older_than: DateTime<Utc>) -> Result<usize> {
        if let Some(root) = &self.local_root {
            let dir = root.join(STAGING);
            let mut n = 0;
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    std::fs::remove_file(entry.path())?;
                    n += 1;
                }
            }
            return Ok(n);
        }
        self.sweep(STAGING, older_than, |_| true).await
    }

    /// Removes finished blobs that no database row points at (an upload killed between
    /// its rename and its commit), if older than `older_than`.
    pub async fn sweep_unreferenced(
        &self,
        referenced: &HashSet<String>,
        older_than: DateTime<Utc>,
    ) -> Result<usize> {
        self.sweep(BLOBS, older_than, |key| !referenced.contains(key))
            .await
    }

    async fn sweep(
        &self,
        prefix: &str,
        older_than: DateTime<Utc>,
        doomed: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        let mut list = self.store.list(Some(&Path::from(prefix)));
        while let Some(meta) = list.next().await {
            let meta = meta?;
            if meta.last_modified <= older_than && doomed(meta.location.as_ref()) {
                self.store.delete(&meta.location).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes a blob (tests and retention).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.store
            .delete(&Path::from(key))
            .await
            .map_err(|e| BlobError::from_store(key, e))
    }

    /// Every object under `prefix` with its size and when it was written (retention).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64, DateTime<Utc>)>> {
        let mut out = Vec::new();
        let mut list = self.store.list(Some(&Path::from(prefix)));
        while let Some(meta) = list.next().await {
            let meta = meta?;
            out.push((meta.location.to_string(), meta.size, meta.last_modified));
        }
        Ok(out)
    }

    /// Every key under `prefix` that a reader can see (finished objects only).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut list = self.store.list(Some(&Path::from(prefix)));
        while let Some(meta) = list.next().await {
            out.push(meta?.location.to_string());
        }
        out.sort();
        Ok(out)
    }

    /// Files in the local staging directory, including the partial uploads that
    /// `object_store` hides from listings (empty for S3).
    pub fn local_staging_files(&self) -> Vec<PathBuf> {
        let Some(root) = &self.local_root else {
            return Vec::new();
        };
        std::fs::read_dir(root.join(STAGING))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Overwrites a blob in place (tests that simulate tampering use this).
    pub async fn put_raw(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store.put(&Path::from(key), bytes.into()).await?;
        Ok(())
    }

    /// Stores a small blob under `key` unless one is there: [`PutOnce::Same`] when the
    /// stored bytes are these (a retried upload), [`PutOnce::Different`] when they are not —
    /// then nothing is written: what was stored first stays (crash evidence is never
    /// replaced). The create is atomic (`PutMode::Create`: on S3 a conditional put).
    pub async fn put_once(&self, key: &str, bytes: Bytes) -> Result<PutOnce> {
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&Path::from(key), bytes.clone().into(), opts)
            .await
        {
            Ok(_) => Ok(PutOnce::Stored),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let stored = self.get_raw(key).await?;
                Ok(if stored == bytes {
                    PutOnce::Same
                } else {
                    PutOnce::Different
                })
            }
            Err(e) => Err(BlobError::from_store(key, e)),
        }
    }

    /// Reads a small blob (a crash dump) whole.
    pub async fn get_raw(&self, key: &str) -> Result<Bytes> {
        let got = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|e| BlobError::from_store(key, e))?;
        Ok(got.bytes().await?)
    }

    /// Reads a blob whole. For the local backend also the open file the bytes were read
    /// from: blobs are never changed in place (a new version is a new file renamed over
    /// the old), so that file holds exactly these bytes for as long as it is open, which
    /// lets the server hand them to the kernel (`sendfile`) instead of copying them.
    pub async fn read_whole(&self, key: &str) -> Result<(Bytes, Option<std::fs::File>)> {
        let Some(root) = &self.local_root else {
            return Ok((self.get_raw(key).await?, None));
        };
        let path = root.join(key);
        let owned = key.to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut file = std::fs::File::open(&path).map_err(|e| BlobError::opening(&owned, e))?;
            // `read_to_end` sizes the buffer from the file's length.
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok((Bytes::from(bytes), Some(file)))
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// Read size of local downloads: object_store reads local files 8 KiB at a time, which
/// made serving a 1 MiB target cost 128 thread hops.
const LOCAL_READ_CHUNK: usize = 512 * 1024;

/// Streams a local file (or a range of it) from a blocking thread in large chunks, at most
/// two ahead of the client (about 1.5 MiB per download in flight).
async fn local_stream(
    path: PathBuf,
    key: &str,
    range: Option<Range<u64>>,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    use std::io::{Read, Seek, SeekFrom};
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| BlobError::opening(key, e))?
        .into_std()
        .await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let read = |file: &mut std::fs::File| -> std::io::Result<u64> {
            let len = file.metadata()?.len();
            let (start, end) = match &range {
                Some(r) => (r.start, r.end.min(len)),
                None => (0, len),
            };
            file.seek(SeekFrom::Start(start))?;
            Ok(end.saturating_sub(start))
        };
        let mut remaining = match read(&mut file) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        while remaining > 0 {
            let want = remaining.min(LOCAL_READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; want];
            if let Err(e) = file.read_exact(&mut buf) {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
            remaining -= want as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed())
}

/// An upload in progress: write parts, then [`commit`](Self::commit) under the digest or
/// [`abort`](Self::abort). Dropping it without either leaves a staging object that the
/// next start-up sweeps.
#[derive(Debug)]
pub struct BlobUpload {
    sink: Sink,
    staging: Path,
    store: Arc<dyn ObjectStore>,
}

#[derive(Debug)]
enum Sink {
    /// S3: multipart upload.
    Store(WriteMultipart),
    /// The local directory `root`.
    Local { write: LocalWrite, root: PathBuf },
}

impl BlobUpload {
    /// Appends bytes; waits while too much is in flight, so memory stays bounded.
    pub async fn write(&mut self, bytes: Bytes) -> Result<()> {
        match &mut self.sink {
            Sink::Store(w) => {
                w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                w.put(bytes);
                Ok(())
            }
            Sink::Local { write, .. } => write.write(bytes).await,
        }
    }

    /// Completes the upload durably and moves it to its content address; returns the key.
    pub async fn commit(self, sha256_hex: &str) -> Result<String> {
        let key = BlobStore::key_for(sha256_hex);
        match self.sink {
            Sink::Store(w) => {
                w.finish().await?;
                self.store
                    .rename(&self.staging, &Path::from(key.as_str()))
                    .await?;
            }
            Sink::Local { write, root } => write.commit(&root.join(&key)).await?,
        }
        Ok(key)
    }

    /// Abandons the upload and removes what was written.
    pub async fn abort(self) {
        match self.sink {
            Sink::Store(w) => {
                if let Err(e) = w.abort().await {
                    tracing::warn!(error = %e, "aborting a staged upload failed; start-up will sweep it");
                }
                let _ = self.store.delete(&self.staging).await;
            }
            Sink::Local { write, .. } => write.abort().await,
        }
    }
}
