//! Delta updates (issue 29, part 5): the lead makes a delta for every pair of targets the
//! signed feed lists that [`relops_core::offer::deltas::pairs`] names — a release's file
//! from each of the two releases before it on the same platform and kind — once per pair of
//! files, off every request's path. A delta is kept and published only when it is under
//! half the new file; otherwise its row records that it was not worth it, so it is not made
//! again. The feed lists a kept delta as a target of its own (`Feed::publish` reads the
//! rows), whose `custom` no reader of release targets parses.
//!
//! Both files are copied from the store into a temporary directory (`TMPDIR`) and checked
//! against their SHA-256 on the way: a delta is never made from bytes that are not what
//! was uploaded and signed. Making one holds two of the delta's windows in memory
//! (`relops_delta`, about 64 MiB), whatever the files' sizes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use relops_core::offer::deltas::{Candidate, pairs};
use relops_store::{BlobError, BlobStore, DeltaFile, DeltaRecord};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::services::feed::OfferTarget;
use crate::{OpResult, Ops};

/// A delta is kept when it is under `1 / KEEP_UNDER` of the new file.
const KEEP_UNDER: u64 = 2;

impl Ops {
    /// Makes one delta the feed lacks: `Some((product, kept))`, where `kept` says that the
    /// product's feed is to be published again; `None` with nothing left to make. Run by the
    /// lead (`workers::prepare_files`).
    pub(crate) async fn make_next_delta(&self) -> OpResult<Option<(String, bool)>> {
        for product in self.config.products.iter() {
            let Some(published) = self.feed.current(product) else {
                continue;
            };
            let made: HashSet<(String, String)> = self
                .db
                .deltas_of(product)
                .await?
                .into_iter()
                .map(|d| (d.base_sha256, d.new_sha256))
                .collect();
            let targets = &published.offerable;
            let candidates: Vec<Candidate<'_>> = targets
                .iter()
                .map(|t| Candidate {
                    version: &t.custom.version,
                    platform: t.custom.platform,
                    kind: &t.custom.kind,
                })
                .collect();
            for (new, base) in pairs(&candidates) {
                let (new, base) = (&targets[new], &targets[base]);
                if new.sha256 == base.sha256
                    || made.contains(&(base.sha256.clone(), new.sha256.clone()))
                {
                    continue;
                }
                let file = match self.make_delta(base, new).await {
                    Err(BlobError::Changed(key)) => {
                        // Not the uploaded bytes: the operators are told; no delta is made
                        // from them, now or later.
                        self.stored_file_changed(&key);
                        None
                    }
                    Err(BlobError::NotFound(key)) => {
                        // A file gone from the store cannot become a delta later either;
                        // recorded so that the pairs after it are made.
                        tracing::warn!(
                            product,
                            key,
                            "a release file is missing from the blob store; no delta from or to it"
                        );
                        None
                    }
                    made => made?,
                };
                let kept = file.is_some();
                tracing::info!(
                    product,
                    target = new.name,
                    base = base.name,
                    kept,
                    "delta made"
                );
                let record = DeltaRecord {
                    base_sha256: base.sha256.clone(),
                    new_sha256: new.sha256.clone(),
                    file,
                };
                self.db
                    .insert_delta(product, &record, chrono::Utc::now())
                    .await?;
                return Ok(Some((product.clone(), kept)));
            }
        }
        Ok(None)
    }

    /// The delta from `base` to `new`, stored; `None` when it is not under half of `new`.
    async fn make_delta(
        &self,
        base: &OfferTarget,
        new: &OfferTarget,
    ) -> Result<Option<DeltaFile>, BlobError> {
        let dir = tempfile::tempdir()?;
        let base_path = dir.path().join("base");
        let new_path = dir.path().join("new");
        let delta_path = dir.path().join("delta");
        copy_out(&self.blobs, &base.sha256, &base_path).await?;
        copy_out(&self.blobs, &new.sha256, &new_path).await?;
        let out = delta_path.clone();
        let (len, sha256) =
            tokio::task::spawn_blocking(move || diff_files(&base_path, &new_path, &out))
                .await
                .map_err(std::io::Error::other)??;
        if len.saturating_mul(KEEP_UNDER) >= new.length {
            return Ok(None);
        }
        let mut upload = self.blobs.begin_upload().await?;
        let mut file = tokio::fs::File::open(&delta_path).await?;
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if let Err(e) = upload.write(buf.into()).await {
                upload.abort().await;
                return Err(e);
            }
        }
        let blob_key = upload.commit(&sha256).await?;
        Ok(Some(DeltaFile {
            blob_key,
            size: len,
            sha256,
        }))
    }
}

/// Copies the stored file with digest `sha256` to `to`, checking the digest.
async fn copy_out(blobs: &BlobStore, sha256: &str, to: &Path) -> Result<(), BlobError> {
    let key = BlobStore::key_for(sha256);
    let mut stream = blobs.get(&key, None).await?;
    let mut file = tokio::fs::File::create(to).await?;
    let mut h = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        h.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    if hex::encode(h.finalize()) != sha256 {
        return Err(BlobError::Changed(key));
    }
    Ok(())
}

/// Writes the delta from `base` to `new` to `out`; its length and SHA-256.
fn diff_files(base: &Path, new: &Path, out: &PathBuf) -> Result<(u64, String), BlobError> {
    use std::io::{BufReader, BufWriter, Write};
    let mut base = BufReader::new(std::fs::File::open(base)?);
    let mut new = BufReader::new(std::fs::File::open(new)?);
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    relops_delta::diff(
        &mut base,
        &mut new,
        &mut w,
        &relops_delta::Params::default(),
    )
    .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
    w.flush()?;
    drop(w);
    crate::backup::sha256_of(out).map_err(|e| BlobError::Io(std::io::Error::other(e)))
}
