//! Update files in memory. Installs download the same few targets over and over; keeping
//! them as shared `Bytes` spares each download the read from the blob store (a copy
//! through user space per byte, and thread hops for local files). Targets are immutable
//! and content-addressed, so a cached copy never goes stale. Bounded by
//! `[feed] target_cache_mib` (0 turns it off); a file over `target_cache_max_file_mib` is
//! streamed from the store as before. Eviction is by recency and frequency (CLOCK-Pro, from
//! `quick_cache`); concurrent first requests for one file load it once.
//!
//! Files read from the local blob store stay open and are registered in [`FileSources`],
//! so that plain-HTTP connections send them with `sendfile` ([`crate::sendfile`]); at
//! most [`MAX_OPEN_FILES`] at a time (file descriptors are finite), and only files of at
//! least [`MIN_SENDFILE_FILE`] bytes (a small body gains nothing from it).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use relops_store::{BlobError, BlobStore};

/// A cached file: its bytes, and for the local blob store the open file they were read
/// from (blobs never change in place, so the file holds the same bytes while it is open).
#[derive(Debug)]
struct Cached {
    bytes: Bytes,
    file: Option<Arc<std::fs::File>>,
}

#[derive(Debug, Clone)]
struct Size;

impl Weighter<String, Arc<Cached>> for Size {
    fn weight(&self, _: &String, v: &Arc<Cached>) -> u64 {
        v.bytes.len() as u64
    }
}

/// Hot targets by blob key.
#[derive(Debug)]
pub struct TargetCache {
    cache: Option<Cache<String, Arc<Cached>, Size>>,
    max_file: u64,
    sources: Arc<FileSources>,
}

const MIB: u64 = 1024 * 1024;

/// Cached files kept open for `sendfile` at most; the others are written from memory.
pub const MAX_OPEN_FILES: usize = 256;
/// Smallest cached file kept open for `sendfile`.
pub const MIN_SENDFILE_FILE: usize = 64 * 1024;

impl TargetCache {
    /// A cache of up to `budget_mib` MiB holding files of up to `max_file_mib` MiB.
    pub fn new(budget_mib: u64, max_file_mib: u64) -> Self {
        let budget = budget_mib.saturating_mul(MIB);
        // A small item estimate keeps quick_cache at one shard, so that the whole budget
        // is available to every file (a shard holds at most its share).
        let cache = (budget > 0).then(|| Cache::with_weighter(16, budget, Size));
        Self {
            cache,
            max_file: max_file_mib.saturating_mul(MIB).min(budget),
            sources: Arc::default(),
        }
    }

    /// The bytes of blob `key` if they are in memory now.
    pub fn cached(&self, key: &str) -> Option<Bytes> {
        Some(self.cache.as_ref()?.get(key)?.bytes.clone())
    }

    /// The bytes of blob `key` (`len` long, SHA-256 `sha256`) from memory, read from
    /// `blobs` and checked against the digest on first use — bytes that are not what was
    /// signed are never cached nor served; `None` when the cache is off or the file is
    /// larger than it keeps.
    pub async fn get(
        &self,
        blobs: &BlobStore,
        key: &str,
        len: u64,
        sha256: &str,
    ) -> Result<Option<Bytes>, BlobError> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        if len > self.max_file {
            return Ok(None);
        }
        if let Some(hit) = cache.get(key) {
            return Ok(Some(hit.bytes.clone()));
        }
        let load = async {
            let (bytes, file) = blobs.read_whole(key).await?;
            let (checked, want) = (bytes.clone(), sha256.to_owned());
            let matches = tokio::task::spawn_blocking(move || {
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&checked)) == want
            })
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
            if !matches {
                tracing::error!(%key, "a stored feed file does not match its signed digest: not served");
                return Err(BlobError::Changed(key.to_owned()));
            }
            let keep = bytes.len() >= MIN_SENDFILE_FILE && self.sources.has_room();
            let cached = Arc::new(Cached {
                bytes,
                file: file.filter(|_| keep).map(Arc::new),
            });
            self.sources.add(&cached);
            Ok::<_, BlobError>(cached)
        };
        let hit = cache.get_or_insert_async(key, load).await?;
        Ok(Some(hit.bytes.clone()))
    }

    /// Bytes held now (for tests and metrics).
    pub fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weight)
    }

    /// Where the cached bytes can be sent from without a copy, for
    /// [`crate::sendfile`].
    pub fn file_sources(&self) -> Arc<FileSources> {
        self.sources.clone()
    }
}

/// The memory of each cached file read from a local blob, by address, with the file it
/// was read from: a write of a slice that lies inside one of them can be sent from the
/// file with `sendfile` (what nginx does), sparing the copy into the socket.
///
/// Entries are weak: once the cache drops a file its entry no longer matches, even if
/// responses still hold its bytes (they are then written the ordinary way). While an
/// entry's file is alive its memory is too, so no other allocation can lie at those
/// addresses: a slice inside the range *is* a view of those bytes.
#[derive(Debug, Default)]
pub struct FileSources {
    by_start: RwLock<BTreeMap<usize, Weak<Cached>>>,
}

/// The place in a file that holds the bytes of a written slice.
#[derive(Debug)]
pub struct FileRange {
    pub file: Arc<std::fs::File>,
    /// Offset of the slice in the file.
    pub offset: u64,
}

impl FileSources {
    fn add(&self, cached: &Arc<Cached>) {
        if cached.file.is_none() || cached.bytes.is_empty() {
            return;
        }
        let mut map = self.by_start.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(cached.bytes.as_ptr() as usize, Arc::downgrade(cached));
    }

    /// Whether another file may be kept open ([`MAX_OPEN_FILES`]).
    fn has_room(&self) -> bool {
        let map = self.by_start.read().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|w| w.strong_count() > 0).count() < MAX_OPEN_FILES
    }

    /// The file range holding `buf`, if `buf` lies inside a cached file's bytes.
    pub fn find(&self, buf: &[u8]) -> Option<FileRange> {
        let start = buf.as_ptr() as usize;
        let map = self.by_start.read().unwrap_or_else(|p| p.into_inner());
        let (&base, weak) = map.range(..=start).next_back()?;
        let cached = weak.upgrade()?;
        let offset = start - base;
        if offset + buf.len() > cached.bytes.len() {
            return None;
        }
        Some(FileRange {
            file: cached.file.clone()?,
            offset: offset as u64,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A local blob store in a fresh temporary directory.
    pub(crate) fn local_store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(&relops_store::BlobConfig::Local {
            path: dir.path().to_owned(),
        })
        .unwrap();
        (dir, blobs)
    }

    #[tokio::test]
    async fn keeps_small_files_and_streams_large_ones() {
        let (dir, blobs) = local_store();
        blobs
            .put_raw("a", Bytes::from(vec![1u8; 1000]))
            .await
            .unwrap();
        let cache = TargetCache::new(1, 1);
        assert_eq!(cache.cached("a"), None);
        let a = digest(&[1u8; 1000]);
        let got = cache.get(&blobs, "a", 1000, &a).await.unwrap().unwrap();
        assert_eq!(got.len(), 1000);
        assert_eq!(cache.cached("a"), Some(got.clone()));
        assert_eq!(cache.weight(), 1000);
        // Served from memory once cached: the stored file may go, the copy stays.
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_eq!(
            cache.get(&blobs, "a", 1000, &a).await.unwrap().unwrap(),
            got
        );
        // Larger than a cached file may be: not kept.
        assert_eq!(cache.get(&blobs, "b", 2 * MIB, &a).await.unwrap(), None);
        // Off.
        assert_eq!(
            TargetCache::new(0, 64)
                .get(&blobs, "a", 1000, &a)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_missing_blob_is_an_error_and_not_cached() {
        let (_dir, blobs) = local_store();
        let cache = TargetCache::new(1, 1);
        assert!(cache.get(&blobs, "nope", 10, "00").await.is_err());
        assert_eq!(cache.weight(), 0);
    }

    /// Bytes that are not what was signed are refused, and not cached (issue 15, 9).
    #[tokio::test]
    async fn bytes_that_do_not_match_their_digest_are_not_cached() {
        let (_dir, blobs) = local_store();
        blobs
            .put_raw("a", Bytes::from(vec![1u8; 1000]))
            .await
            .unwrap();
        let cache = TargetCache::new(1, 1);
        let e = cache
            .get(&blobs, "a", 1000, &digest(&[2u8; 1000]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not match its digest"), "{e}");
        assert_eq!(cache.weight(), 0);
        assert_eq!(cache.cached("a"), None);
    }

    /// Lowercase hex SHA-256.
    pub(crate) fn digest(b: &[u8]) -> String {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
    }
}
