//! Update files in memory. Installs download the same few targets over and over; keeping
//! them as shared `Bytes` spares each download the read from the blob store (a copy
//! through user space per byte, and thread hops for local files). Targets are immutable
//! and content-addressed, so a cached copy never goes stale. Bounded by
//! `[feed] target_cache_mib` (0 turns it off); a file over `target_cache_max_file_mib` is
//! streamed from the store as before. Eviction is by recency and frequency (CLOCK-Pro, from
//! `quick_cache`); concurrent first requests for one file load it once.

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use relops_store::{BlobError, BlobStore};

#[derive(Debug, Clone)]
struct Size;

impl Weighter<String, Bytes> for Size {
    fn weight(&self, _: &String, v: &Bytes) -> u64 {
        v.len() as u64
    }
}

/// Hot targets by blob key.
#[derive(Debug)]
pub struct TargetCache {
    cache: Option<Cache<String, Bytes, Size>>,
    max_file: u64,
}

const MIB: u64 = 1024 * 1024;

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
        }
    }

    /// The bytes of blob `key` if they are in memory now.
    pub fn cached(&self, key: &str) -> Option<Bytes> {
        self.cache.as_ref()?.get(key)
    }

    /// The bytes of blob `key` (`len` long) from memory, read from `blobs` on first use;
    /// `None` when the cache is off or the file is larger than it keeps.
    pub async fn get(
        &self,
        blobs: &BlobStore,
        key: &str,
        len: u64,
    ) -> Result<Option<Bytes>, BlobError> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        if len > self.max_file {
            return Ok(None);
        }
        if let Some(hit) = cache.get(key) {
            return Ok(Some(hit));
        }
        cache
            .get_or_insert_async(key, blobs.get_raw(key))
            .await
            .map(Some)
    }

    /// Bytes held now (for tests and metrics).
    pub fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_store() -> (tempfile::TempDir, BlobStore) {
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
        let got = cache.get(&blobs, "a", 1000).await.unwrap().unwrap();
        assert_eq!(got.len(), 1000);
        assert_eq!(cache.cached("a"), Some(got.clone()));
        assert_eq!(cache.weight(), 1000);
        // Served from memory once cached: the stored file may go, the copy stays.
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_eq!(cache.get(&blobs, "a", 1000).await.unwrap().unwrap(), got);
        // Larger than a cached file may be: not kept.
        assert_eq!(cache.get(&blobs, "b", 2 * MIB).await.unwrap(), None);
        // Off.
        assert_eq!(
            TargetCache::new(0, 64)
                .get(&blobs, "a", 1000)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_missing_blob_is_an_error_and_not_cached() {
        let (_dir, blobs) = local_store();
        let cache = TargetCache::new(1, 1);
        assert!(cache.get(&blobs, "nope", 10).await.is_err());
        assert_eq!(cache.weight(), 0);
    }
}
