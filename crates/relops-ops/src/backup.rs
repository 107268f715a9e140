//! `relops backup DIR` and `relops restore DIR --data-dir NEW` (R-AUTO-6 groundwork, issue
//! 28 part 5): a consistent copy of an embedded deployment — SQLite and local blobs — taken
//! while the server serves, and a new data dir made from it.
//!
//! What is copied, in this order, and why the order:
//! 1. the audit anchor file, before the database: every checkpoint it holds is then in the
//!    copied chain (a later anchor would name an entry the copy lacks and read as a
//!    truncated trail);
//! 2. the ingest journal, then the database, each with `VACUUM INTO` (one consistent
//!    moment each, writers go on): a batch folded between the two copies is in both, and
//!    the fold applies it once (it records the last sequence it applied in the database);
//!    a batch acknowledged before the backup began is in one of them;
//! 3. the blobs (local backend), after the database: blobs are content-addressed and never
//!    changed, so every blob a copied row names is there to copy; staging files are not
//!    copied;
//! 4. the keys, the config file, the knowledge-base repository and the first admin token.
//!
//! The backup is written to `DIR.partial` and renamed to `DIR` when complete, with
//! `relops-backup.json` listing every file's size and SHA-256; `restore` checks all of them
//! before it writes anything, refuses a data dir that is not empty, and refuses a config
//! whose paths lead outside the new data dir (they would overwrite the old server's files).
//! PostgreSQL and S3 deployments back up with their own tools (docs/backup.md).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use relops_store::BlobConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{CONFIG_FILE, ServerConfig};
use crate::init::ADMIN_TOKEN_FILE;

/// The manifest's file name in a backup.
pub const MANIFEST: &str = "relops-backup.json";

// The backup's own layout: fixed names, whatever the server's config calls them.
const DB: &str = "relops.db";
const JOURNAL: &str = "relops.ingest-journal.db";
const KEYS: &str = "keys";
const BLOBS: &str = "blobs";
const KB: &str = "kb";
const ANCHORS: &str = "audit-anchors.jsonl";

/// One file in a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupFile {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `relops-backup.json`, and what `relops backup` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The relops version that wrote it.
    pub relops: String,
    pub created_at: DateTime<Utc>,
    /// The data dir it was taken from.
    pub source: PathBuf,
    /// Whether the blobs are in it (false: they live in S3, backed up by the bucket).
    pub blobs_included: bool,
    pub files: Vec<BackupFile>,
    pub bytes: u64,
}

/// What `relops restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
    /// When the backup was taken.
    pub taken_at: DateTime<Utc>,
}

/// A file's length and lowercase hex SHA-256, read in 1 MiB pieces.
pub(crate) fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Copies the tree at `from` to `to` (made), skipping top-level names in `skip`.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        let kind = e.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, &[])?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
        // Symbolic links and other files are not part of relops' data.
    }
    Ok(())
}

/// Every file under `dir`, relative, `/`-separated, sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                stack.push(r);
            } else {
                out.push(r.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Backs up the deployment whose data dir is `data_dir` into `dir` (which must not exist).
pub async fn backup(
    data_dir: &Path,
    config_file: Option<&Path>,
    dir: &Path,
) -> anyhow::Result<BackupManifest> {
    let cfg = ServerConfig::load(data_dir, config_file)?;
    let Some(db) = relops_store::backup::sqlite_path(&cfg.database_url) else {
        bail!(
            "the database is PostgreSQL: back it up with pg_dump (and the bucket with versioning), as docs/backup.md shows; `relops backup` copies an embedded (SQLite) deployment"
        );
    };
    if dir.exists() {
        bail!(
            "{} exists: name a new directory for the backup",
            dir.display()
        );
    }
    let name = dir
        .file_name()
        .with_context(|| format!("{} names no directory", dir.display()))?;
    let partial = dir.with_file_name(format!("{}.partial", name.to_string_lossy()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing an unfinished backup at {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    // The signing keys are in it: readable by the owner only, like the data dir's keys.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o700))?;
    }
    let created_at = Utc::now();

    if cfg.audit.anchor_file.exists() {
        std::fs::copy(&cfg.audit.anchor_file, partial.join(ANCHORS))
            .with_context(|| format!("copying {}", cfg.audit.anchor_file.display()))?;
    }
    let journal = relops_store::backup::journal_path(&db);
    for (src, name) in [(journal, JOURNAL), (db.clone(), DB)] {
        if !src.exists() {
            continue;
        }
        let dst = partial.join(name);
        tokio::task::spawn_blocking(move || relops_store::backup::snapshot_sqlite(&src, &dst))
            .await??;
    }
    let blobs_included = match &cfg.blob {
        BlobConfig::Local { path } => {
            copy_tree(path, &partial.join(BLOBS), &["staging"])?;
            true
        }
        BlobConfig::S3 { .. } => false,
    };
    copy_tree(&cfg.keys_dir, &partial.join(KEYS), &[])?;
    let config = config_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join(CONFIG_FILE));
    std::fs::copy(&config, partial.join(CONFIG_FILE))
        .with_context(|| format!("copying {}", config.display()))?;
    if cfg.support.kb_repository.exists() {
        copy_tree(&cfg.support.kb_repository, &partial.join(KB), &[])?;
    }
    let token = data_dir.join(ADMIN_TOKEN_FILE);
    if token.exists() {
        std::fs::copy(&token, partial.join(ADMIN_TOKEN_FILE))?;
    }

    let mut files = Vec::new();
    let mut bytes = 0;
    for path in files_under(&partial)? {
        let (size, sha256) = sha256_of(&partial.join(&path))?;
        bytes += size;
        files.push(BackupFile { path, size, sha256 });
    }
    let manifest = BackupManifest {
        relops: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        source: data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf()),
        blobs_included,
        files,
        bytes,
    };
    std::fs::write(
        partial.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    for f in files_under(&partial)? {
        if let Ok(file) = std::fs::File::open(partial.join(&f)) {
            let _ = file.sync_all();
        }
    }
    sync_dir(&partial);
    std::fs::rename(&partial, dir)
        .with_context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
    sync_dir(dir.parent().unwrap_or(Path::new(".")));
    Ok(manifest)
}

/// Makes the data dir `data_dir` (absent or empty) from the backup in `dir`.
pub fn restore(dir: &Path, data_dir: &Path) -> anyhow::Result<RestoreReport> {
    let manifest: BackupManifest =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).with_context(|| {
            format!("{} is not a relops backup (no {MANIFEST})", dir.display())
        })?)
        .with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?;
    // Everything checked before anything is written.
    for f in &manifest.files {
        let (size, sha256) = sha256_of(&dir.join(&f.path))
            .with_context(|| format!("the backup lacks {}", f.path))?;
        if size != f.size || sha256 != f.sha256 {
            bail!(
                "{} in the backup is not what was backed up (size or SHA-256 differs): the backup is damaged; restore another",
                f.path
            );
        }
    }
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        bail!(
            "{} is not empty: restore into a new or empty data dir",
            data_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    let config = std::fs::read_to_string(dir.join(CONFIG_FILE))?;
    std::fs::write(
        data_dir.join(CONFIG_FILE),
        moved_paths(&config, &manifest.source, &data_dir)?,
    )?;
    let cfg = ServerConfig::load(&data_dir, None)?;
    let db = relops_store::backup::sqlite_path(&cfg.database_url)
        .context("the backed-up config names a PostgreSQL database: restore it with pg_restore")?;
    let mut places = vec![
        (DB, db.clone()),
        (JOURNAL, relops_store::backup::journal_path(&db)),
        (KEYS, cfg.keys_dir.clone()),
        (KB, cfg.support.kb_repository.clone()),
        (ANCHORS, cfg.audit.anchor_file.clone()),
        (ADMIN_TOKEN_FILE, data_dir.join(ADMIN_TOKEN_FILE)),
    ];
    if let BlobConfig::Local { path } = &cfg.blob {
        places.push((BLOBS, path.clone()));
    }
    for (name, to) in &places {
        if !to.starts_with(&data_dir) {
            let _ = std::fs::remove_file(data_dir.join(CONFIG_FILE));
            bail!(
                "the backed-up config puts {name} at {}, outside {}: restoring would write over another data dir. Edit {} in the backup to name a relative path",
                to.display(),
                data_dir.display(),
                CONFIG_FILE
            );
        }
    }
    for (name, to) in &places {
        let from = dir.join(name);
        if !from.exists() {
            continue;
        }
        if from.is_dir() {
            copy_tree(&from, to, &[])?;
        } else {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&from, to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
    }
    sync_dir(&data_dir);
    Ok(RestoreReport {
        data_dir,
        files: manifest.files.len(),
        bytes: manifest.bytes,
        taken_at: manifest.created_at,
    })
}

/// The config text with every path that named a place under the old data dir `from`
/// naming the same place under `to` (relative paths, the default, need nothing); comments
/// and layout are kept.
fn moved_paths(config: &str, from: &Path, to: &Path) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = config
        .parse()
        .context("reading the backed-up relops.toml")?;
    let from = from.to_string_lossy().into_owned();
    let to = to.to_string_lossy().into_owned();
    let moved = |v: &str| -> Option<String> {
        for prefix in ["sqlite://", ""] {
            if let Some(rest) = v.strip_prefix(prefix).and_then(|r| r.strip_prefix(&from))
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some(format!("{prefix}{to}{rest}"));
            }
        }
        None
    };
    let places: [(Option<&str>, &str); 5] = [
        (None, "database_url"),
        (None, "keys_dir"),
        (Some("blob"), "path"),
        (Some("audit"), "anchor_file"),
        (Some("support"), "kb_repository"),
    ];
    for (table, key) in places {
        let item = match table {
            None => doc.get_mut(key),
            Some(t) => doc.get_mut(t).and_then(|t| t.get_mut(key)),
        };
        if let Some(item) = item
            && let Some(new) = item.as_str().and_then(moved)
        {
            *item = toml_edit::value(new);
        }
    }
    Ok(doc.to_string())
}
