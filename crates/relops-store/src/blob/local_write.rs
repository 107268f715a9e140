//! Uploads to the local backend, written by relops itself rather than through
//! `object_store`: a writer thread appends what is received to `staging/{uuid}` while
//! a second thread flushes what is written to disk every [`SYNC_EVERY`] bytes. The disk
//! thus writes while the network still sends, and the final fsync before the rename only
//! has the last few MiB left — instead of the whole file after the transfer, which made a
//! durable upload cost transfer time plus disk time.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use bytes::Bytes;

use super::Result;

/// Bytes written between two background flushes.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;
/// Received chunks (hyper's are small, often 16 KiB) are copied into buffers of this size,
/// which the writer thread writes with one call each and hands back for reuse. The copy
/// releases hyper's receive buffer at once, so hyper reuses it: holding on to its chunks
/// until they are written made it receive every byte into fresh memory (a page fault per
/// 4 KiB, more CPU than the copy).
const BATCH: usize = 1024 * 1024;
/// Buffers queued for the writer thread.
const QUEUED_BATCHES: usize = 4;

/// An upload in progress on the local disk.
#[derive(Debug)]
pub(super) struct LocalWrite {
    path: PathBuf,
    /// The buffer being filled.
    batch: Vec<u8>,
    /// Buffers the writer thread has written, for reuse.
    spent: std_mpsc::Receiver<Vec<u8>>,
    chunks: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    writer: Option<JoinHandle<std::io::Result<File>>>,
}

impl LocalWrite {
    /// Creates `path` and starts its writer and flusher threads.
    pub(super) fn create(path: PathBuf) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = File::create_new(&path)?;
        let flush_file = file.try_clone()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUED_BATCHES);
        let (give_back, spent) = std_mpsc::sync_channel::<Vec<u8>>(QUEUED_BATCHES + 1);
        let writer = std::thread::Builder::new()
            .name("relops-upload".into())
            .spawn(move || {
                // The flusher: one sync_data per request, requests coalesced while it runs.
                let (kick, kicked) = std_mpsc::sync_channel::<()>(1);
                let flusher = std::thread::Builder::new()
                    .name("relops-upload-sync".into())
                    .spawn(move || -> std::io::Result<()> {
                        while kicked.recv().is_ok() {
                            flush_file.sync_data()?;
                        }
                        Ok(())
                    })?;
                let mut since_sync = 0u64;
                let written = (|| -> std::io::Result<()> {
                    while let Some(mut batch) = rx.blocking_recv() {
                        file.write_all(&batch)?;
                        since_sync += batch.len() as u64;
                        batch.clear();
                        let _ = give_back.try_send(batch);
                        if since_sync >= SYNC_EVERY {
                            since_sync = 0;
                            let _ = kick.try_send(()); // one is pending already: enough
                        }
                    }
                    Ok(())
                })();
                drop(kick);
                let flushed = flusher
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the flusher panicked")));
                written?;
                flushed?;
                Ok(file)
            })?;
        Ok(Self {
            path,
            batch: Vec::with_capacity(BATCH),
            spent,
            chunks: Some(tx),
            writer: Some(writer),
        })
    }

    /// Appends a chunk; waits while the writer thread is behind.
    pub(super) async fn write(&mut self, mut chunk: Bytes) -> Result<()> {
        while !chunk.is_empty() {
            let room = BATCH - self.batch.len();
            let part = chunk.split_to(room.min(chunk.len()));
            self.batch.extend_from_slice(&part);
            if self.batch.len() == BATCH {
                self.send_batch().await?;
            }
        }
        Ok(())
    }

    async fn send_batch(&mut self) -> Result<()> {
        let next = self
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        let sent = match &self.chunks {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped on an error: report it.
        self.finish_file(false).await?;
        Err(std::io::Error::other("the upload writer stopped").into())
    }

    /// Waits for the writer; syncs the file to disk if `sync`.
    async fn finish_file(&mut self, sync: bool) -> Result<()> {
        self.chunks = None;
        let Some(writer) = self.writer.take() else {
            return Err(std::io::Error::other("the upload already finished").into());
        };
        tokio::task::spawn_blocking(move || {
            let file = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the upload writer panicked")))?;
            if sync {
                file.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Makes the file durable and moves it to `dest` (durably: the directory is synced).
    pub(super) async fn commit(mut self, dest: &Path) -> Result<()> {
        if !self.batch.is_empty() {
            self.send_batch().await?;
        }
        self.finish_file(true).await?;
        let (from, to) = (self.path.clone(), dest.to_owned());
        tokio::task::spawn_blocking(move || {
            let dir = to.parent().expect("blob paths have a directory");
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&from, &to)?;
            File::open(dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Stops writing and removes the file.
    pub(super) async fn abort(mut self) {
        let _ = self.finish_file(false).await;
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{LocalWrite, SYNC_EVERY};
    use bytes::Bytes;
    use sha2::{Digest, Sha256};

    /// More than one background flush's worth, in uneven chunks: the committed file holds
    /// exactly what was written, and nothing stays in staging.
    #[tokio::test]
    async fn commit_moves_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging/u1");
        let dest = dir.path().join("blobs/sha256/d1");
        let mut w = LocalWrite::create(staging.clone()).unwrap();
        let mut expected = Sha256::new();
        let mut total = 0u64;
        let mut i = 0u8;
        while total < SYNC_EVERY * 2 + 12_345 {
            let chunk = Bytes::from(vec![i; 700_001 + usize::from(i) * 13]);
            expected.update(&chunk);
            total += chunk.len() as u64;
            w.write(chunk).await.unwrap();
            i = i.wrapping_add(1);
        }
        w.commit(&dest).await.unwrap();
        let stored = std::fs::read(&dest).unwrap();
        assert_eq!(stored.len() as u64, total);
        assert_eq!(Sha256::digest(&stored), expected.finalize());
        assert!(!staging.exists());
    }

    #[tokio::test]
    async fn abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging/u2");
        let mut w = LocalWrite::create(staging.clone()).unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        w.abort().await;
        assert!(!staging.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
    }
}
