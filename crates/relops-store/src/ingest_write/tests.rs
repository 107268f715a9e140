//! The ingest writer's executors on the same batches: what is new, what counts once.

use super::placeholders;
use crate::{Db, Record, Scope};
use chrono::Utc;
use std::sync::Arc;

fn scope() -> Scope {
    Scope {
        release: "2.1.0".into(),
        channel: "stable".into(),
        platform: "macos-universal".into(),
    }
}

fn session(id: &str, install: &str, status: &str) -> Record {
    Record::Session {
        scope: scope(),
        session_id: id.into(),
        install_id: Some(install.into()),
        status: status.into(),
        crashed: status == "crashed",
    }
}

fn event(id: &str, install: &str) -> Record {
    Record::Event {
        scope: scope(),
        event_id: id.into(),
        install_id: Some(install.into()),
        crash: false,
        critical: None,
        code: Some("TOB_PARSE_ERROR".into()),
        payload: "{}".into(),
    }
}

/// What is new, what counts once, what a retry changes — on `db`'s executor.
async fn batch_and_retry(db: &Db) {
    let now = Utc::now();
    let first: Arc<[Record]> = vec![
        session("s1", "i1", "ok"),
        session("s1", "i1", "exited"),
        session("s2", "i2", "crashed"),
        event("e1", "i3"),
        event("e1", "i3"),
        Record::Memory {
            scope: scope(),
            install_id: "i4".into(),
            host_percent: 91,
        },
        Record::Aggregate {
            scope: scope(),
            install_id: None,
            counts: vec![("exited".into(), 3), ("abnormal".into(), 0)],
            crashed: false,
        },
    ]
    .into();
    let fresh = db.record_ingest("wizard", first, now).await.unwrap();
    assert_eq!(fresh, [true, true, true, true, false, true, true]);
    // A client retrying: the ended session and the event are not new; s3 is.
    let retry: Arc<[Record]> = vec![
        session("s1", "i1", "exited"),
        event("e1", "i3"),
        session("s3", "i5", "ok"),
        session("s2", "i2", "exited"),
    ]
    .into();
    let fresh = db.record_ingest("wizard", retry, now).await.unwrap();
    assert_eq!(fresh, [false, false, true, false]);

    let h = db.health("wizard", "2.1.0", now).await.unwrap();
    assert_eq!(
        h.sessions,
        [("crashed".to_owned(), 1), ("exited".to_owned(), 4)]
    );
    assert_eq!(h.errors, [("TOB_PARSE_ERROR".to_owned(), 1)]);
    assert_eq!((h.active_installs, h.crashed_installs), (5, 1));
    assert_eq!(h.memory_warnings, 1);
}

#[tokio::test]
async fn sqlite_executor_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/relops.db", dir.path().display()))
        .await
        .unwrap();
    assert!(db.ingest_connection().is_some());
    batch_and_retry(&db).await;
}

/// The multi-row executor, on the PostgreSQL server `.ci/run` starts
/// (`RELOPS_TEST_PG_URL`, an admin URL), in a database of its own.
#[tokio::test]
async fn postgres_executor_counts_once() {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("RELOPS_TEST_PG_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "RELOPS_TEST_PG_URL must be set under CI"
        );
        eprintln!("skipped: RELOPS_TEST_PG_URL not set (run `.ci/run` to start PostgreSQL)");
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!("relops_store_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = admin_url.rsplit_once('/').unwrap().0;
    let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
    assert!(db.ingest_connection().is_none());
    batch_and_retry(&db).await;
    db.pool.close().await;
    db.writer.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[test]
fn numbered_rows() {
    assert_eq!(placeholders(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
    assert_eq!(placeholders(1, 1, 5), "($5)");
}
