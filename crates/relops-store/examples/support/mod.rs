//! What the store examples share.

use relops_ingest::{Record, Scope};
use relops_store::Db;

/// A session of release 2.1.0 that starts and ends in one update (a fresh random id),
/// from install `install-{i}` — what the ingest benchmark sends.
pub fn ended_session(i: usize) -> Record {
    Record::Session {
        scope: Scope {
            release: "2.1.0".into(),
            channel: "stable".into(),
            platform: None,
        },
        session_id: uuid::Uuid::new_v4().simple().to_string(),
        install_id: Some(format!("install-{i}")),
        status: "exited".into(),
        crashed: false,
    }
}

/// A fresh SQLite database in a temporary directory (removed when the directory drops).
pub async fn fresh_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&format!("sqlite://{}/relops.db", dir.path().display()))
        .await
        .expect("database");
    (dir, db)
}
