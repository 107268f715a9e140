//! `relops init`: config file, keys and the first admin token, each made only if absent.

use std::path::{Path, PathBuf};

use anyhow::Context;
use relops_core::access::Role;
use relops_store::Db;
use serde::Serialize;

use crate::config::{CONFIG_FILE, ServerConfig};
use crate::services::key_files::{KeyReport, ensure_keys};
use crate::tokens::issue_token;

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
    pub config_created: bool,
    pub keys: Vec<KeyReport>,
    /// The first admin token, present only when this run created it.
    pub admin_token: Option<String>,
    /// Where that token was also written (readable by the data dir's owner only).
    pub admin_token_file: Option<PathBuf>,
}

/// The file in the data dir that holds the first admin token, so that a script (or the
/// README walkthrough) can read it: `export ADMIN_TOKEN=$(cat relops-data/admin-token)`.
/// It is no more secret than the signing keys beside it; delete it once the token is stored.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Initialises `data_dir` (or completes a partial one). Never overwrites a key or config.
pub async fn init(data_dir: &Path, config_file: Option<&Path>) -> anyhow::Result<InitReport> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
    let config_path = config_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join(CONFIG_FILE));
    let config_created = if config_path.exists() {
        false
    } else {
        std::fs::write(&config_path, ServerConfig::initial_file())
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        true
    };
    let config = ServerConfig::load(&data_dir, Some(&config_path))?;
    let keys = ensure_keys(&config.keys_dir, config.feed.root_keys)?;
    let db = Db::connect(&config.database_url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            crate::redact(&config.database_url)
        )
    })?;
    let admin_token = if db.token_count().await? == 0 {
        let created = issue_token(&db, "admin", vec![Role::Admin], "relops init", None, false)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the admin token: {e}"))?;
        Some(created.token)
    } else {
        None
    };
    db.close().await;
    let admin_token_file = match &admin_token {
        Some(t) => {
            let path = data_dir.join(ADMIN_TOKEN_FILE);
            // A file left from a database that has no tokens any more holds nothing valid.
            let _ = std::fs::remove_file(&path);
            crate::services::key_files::write_private(&path, format!("{t}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Some(path)
        }
        None => None,
    };
    Ok(InitReport {
        data_dir,
        config_file: config_path,
        config_created,
        keys,
        admin_token,
        admin_token_file,
    })
}

/// Confirms a token on the server's host (`relops token confirm ID --data-dir DIR`), as the
/// operator who holds the data dir — its keys included — and so already every power the
/// token grants. The way to confirm the first token of a role when no second admin or
/// security engineer exists yet.
pub async fn confirm_token_locally(
    data_dir: &Path,
    config_file: Option<&Path>,
    id: &str,
) -> anyhow::Result<relops_api::TokenConfirmed> {
    let config = ServerConfig::load(data_dir, config_file)?;
    let db = Db::connect(&config.database_url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            crate::redact(&config.database_url)
        )
    })?;
    let by = format!("{LOCAL_OPERATOR} ({})", data_dir.display());
    let r = crate::tokens::confirm(&db, id, &by, None).await;
    db.close().await;
    r.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Who a confirmation on the server's host is audited as.
pub const LOCAL_OPERATOR: &str = "local operator";
