//! The anchor file: every signed audit checkpoint the server makes is also appended here,
//! one JSON line each (`[audit] anchor_file`), outside the database. Somebody who can
//! rewrite the database can make its chain consistent again — truncate it and reset the
//! head, re-hash it and drop the checkpoints, delete it all — but cannot take back what
//! this file already holds, nor sign a new line without the audit key.
//! `relops audit verify` checks the chain against the file's newest checkpoint and its
//! newest prune; `relops audit anchor` prints a checkpoint for a person to keep elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use relops_api::AuditCheckpoint;

/// The file, and the newest entry appended to it by this process.
#[derive(Debug)]
pub struct AnchorFile {
    path: PathBuf,
    last: Mutex<Option<(u64, bool)>>,
}

/// What the file holds that verification uses.
#[derive(Debug, Default)]
pub struct Anchors {
    /// The newest checkpoint and the newest prune (each pins every entry before it).
    pub pinned: Vec<AuditCheckpoint>,
    /// Lines in the file.
    pub lines: u64,
}

impl AnchorFile {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            last: Mutex::new(None),
        }
    }

    /// Appends `cp` and syncs it to disk — unless it is the very checkpoint appended last
    /// (the periodic one when nothing was written since).
    pub fn append(&self, cp: &AuditCheckpoint) -> std::io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last == Some((cp.seq, cp.pruned)) {
            return Ok(());
        }
        let mut line = serde_json::to_string(cp).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_data()?;
        *last = Some((cp.seq, cp.pruned));
        Ok(())
    }

    /// Reads the file (none yet: no anchors). A line that is not a checkpoint is an error
    /// naming it: the file was damaged or edited.
    pub fn read(&self) -> Result<Anchors, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Anchors::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        let list = relops_api::parse_anchors(&text).map_err(|(n, e)| {
            format!(
                "line {n} of the anchor file {} is not a signed checkpoint ({e}): the file was damaged or edited",
                self.path.display()
            )
        })?;
        Ok(Anchors {
            lines: list.len() as u64,
            pinned: pinned(list),
        })
    }
}

/// The newest checkpoint and the newest prune of `list`: every hash covers the one before
/// it, so these two pin all the others.
fn pinned(list: Vec<AuditCheckpoint>) -> Vec<AuditCheckpoint> {
    let newest = list.iter().filter(|c| !c.pruned).max_by_key(|c| c.seq);
    let prune = list.iter().filter(|c| c.pruned).max_by_key(|c| c.seq);
    newest.into_iter().chain(prune).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(seq: u64, pruned: bool) -> AuditCheckpoint {
        AuditCheckpoint {
            seq,
            hash: format!("h{seq}"),
            at: "2026-12-04T10:00:00Z".into(),
            key_id: "k".into(),
            signature: "s".into(),
            pruned,
        }
    }

    #[test]
    fn appends_once_and_reads_back_the_pinning_ones() {
        let dir = tempfile::tempdir().unwrap();
        let f = AnchorFile::new(&dir.path().join("anchors.jsonl"));
        assert_eq!(f.read().unwrap().lines, 0, "no file yet");
        for c in [
            cp(3, false),
            cp(3, false),
            cp(2, true),
            cp(7, false),
            cp(5, false),
        ] {
            f.append(&c).unwrap();
        }
        let a = f.read().unwrap();
        assert_eq!(a.lines, 4, "the repeated checkpoint is written once");
        assert_eq!(a.pinned, vec![cp(7, false), cp(2, true)]);

        std::fs::write(dir.path().join("anchors.jsonl"), "{\"seq\":1}\n").unwrap();
        let err = f.read().unwrap_err();
        assert!(err.contains("line 1 of the anchor file"), "{err}");
    }
}
