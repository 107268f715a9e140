//! The ingest writer's executors on the same batches: what is new, what counts once.

use super::placeholders;
use crate::Db;
use chrono::{DateTime, SubsecRound, Utc};
use relops_ingest::{Record, Scope};
use std::sync::Arc;

fn scope() -> Scope {
    Scope {
        release: "2.1.0".into(),
        channel: "stable".into(),
        platform: Some(relops_core::platform::Platform::MacosUniversal),
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
    // A session stored as `ok` counts when it ends; an ended one stays as it ended, also
    // when the same batch updates it twice.
    let later: Arc<[Record]> = vec![
        session("s2", "i2", "ok"),
        session("s3", "i5", "ok"),
        session("s3", "i5", "abnormal"),
        session("s3", "i5", "exited"),
    ]
    .into();
    let fresh = db.record_ingest("wizard", later, now).await.unwrap();
    assert_eq!(fresh, [false, true, true, false]);

    let h = db.health("wizard", "2.1.0", now).await.unwrap();
    assert_eq!(
        h.sessions,
        [
            ("abnormal".to_owned(), 1),
            ("crashed".to_owned(), 1),
            ("exited".to_owned(), 4)
        ]
    );
    assert_eq!(h.errors, [("TOB_PARSE_ERROR".to_owned(), 1)]);
    assert_eq!(
        db.installs_24h("wizard", "2.1.0", now).await.unwrap(),
        (5, 1)
    );
    assert_eq!(h.memory_warnings, 1);
}

/// Consecutive rows that differ in one value each (release, channel, a missing install):
/// every row is stored with its own values (the SQLite executor binds only what changed
/// from the row before).
#[tokio::test]
async fn rows_differing_in_one_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let at = |release: &str, channel: &str| Scope {
        release: release.into(),
        channel: channel.into(),
        platform: Some(relops_core::platform::Platform::WindowsX64),
    };
    let s = |id: &str, scope: Scope, install: Option<&str>, status: &str| Record::Session {
        scope,
        session_id: id.into(),
        install_id: install.map(Into::into),
        status: status.into(),
        crashed: status == "crashed",
    };
    let batch: Arc<[Record]> = vec![
        s("a1", at("2.1.0", "stable"), Some("i1"), "exited"),
        s("a2", at("2.0.0", "stable"), Some("i1"), "crashed"),
        s("a3", at("2.1.0", "stable"), None, "exited"),
        s("a4", at("2.1.0", "beta"), Some("i2"), "exited"),
        s("a5", at("2.1.0", "beta"), Some("i3"), "exited"),
    ]
    .into();
    let now = Utc::now();
    db.record_ingest("wizard", batch, now).await.unwrap();
    let new = db.health("wizard", "2.1.0", now).await.unwrap();
    assert_eq!(new.sessions, [("exited".to_owned(), 4)]);
    assert_eq!(
        db.installs_24h("wizard", "2.1.0", now).await.unwrap(),
        (3, 0)
    );
    let old = db.health("wizard", "2.0.0", now).await.unwrap();
    assert_eq!(old.sessions, [("crashed".to_owned(), 1)]);
    assert_eq!(
        db.installs_24h("wizard", "2.0.0", now).await.unwrap(),
        (1, 1)
    );
    let marks: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT release, channel, install_id, crashed FROM install_marks \
         ORDER BY release, channel, install_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mark = |release: &str, channel: &str, install: &str, crashed: i64| {
        (release.into(), channel.into(), install.into(), crashed)
    };
    assert_eq!(
        marks,
        [
            mark("2.0.0", "stable", "i1", 1),
            mark("2.1.0", "beta", "i2", 0),
            mark("2.1.0", "beta", "i3", 0),
            mark("2.1.0", "stable", "i1", 0),
        ]
    );
    // Each end as its key under the database's hash key, on the day it ended.
    let (k0, k1): (i64, i64) = sqlx::query_as("SELECT k0, k1 FROM ingest_hash_key")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let keys = super::ended::EndedSessions::new((k0.cast_unsigned(), k1.cast_unsigned()));
    let ended: Vec<(i64, i64)> =
        sqlx::query_as("SELECT key, day FROM ended_sessions ORDER BY rowid")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let expected: Vec<(i64, i64)> = ["a1", "a2", "a3", "a4", "a5"]
        .iter()
        .map(|id| {
            let key = keys.key("wizard", id).cast_signed();
            (key, super::ended::day_of(now))
        })
        .collect();
    assert_eq!(ended, expected);
}

/// Pruning forgets install marks older than 24 h and ends older than the retry window;
/// after a restart a retried end still counts once (the ended sessions are loaded back).
async fn restart_and_prune(db: Db, reopen: impl AsyncFnOnce(Db) -> Db) {
    let now = Utc::now();
    let long_ago = now - chrono::Duration::days(crate::ENDED_DAYS + 1);
    let batch = |r: &[Record]| -> Arc<[Record]> { r.to_vec().into() };
    let marks = async |db: &Db| -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM install_marks")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };

    // An end long ago (a queue days behind) is remembered until pruned.
    let old = batch(&[session("old", "i9", "exited")]);
    assert_eq!(
        db.record_ingest("wizard", old.clone(), long_ago)
            .await
            .unwrap(),
        [true]
    );
    let first = batch(&[session("s1", "i1", "exited"), session("s2", "i2", "ok")]);
    assert_eq!(
        db.record_ingest("wizard", first, now).await.unwrap(),
        [true, true]
    );
    assert_eq!(
        db.record_ingest("wizard", old.clone(), now).await.unwrap(),
        [false]
    );
    assert_eq!(marks(&db).await, 4, "a retry marks its install seen too");
    db.prune_ingest(now).await.unwrap();
    assert_eq!(marks(&db).await, 3, "the mark of {long_ago} is pruned");
    // Past the retry window the old end is forgotten: sent again, it counts again.
    assert_eq!(db.record_ingest("wizard", old, now).await.unwrap(), [true]);

    let db = reopen(db).await;
    // A retried end after the restart counts once; a session open before it ends now;
    // another product's session of the same id is another session.
    let retry = batch(&[session("s1", "i1", "exited"), session("s2", "i2", "exited")]);
    assert_eq!(
        db.record_ingest("wizard", retry, now).await.unwrap(),
        [false, true]
    );
    let other = batch(&[session("s1", "i1", "exited")]);
    assert_eq!(db.record_ingest("other", other, now).await.unwrap(), [true]);
    let h = db.health("wizard", "2.1.0", now).await.unwrap();
    assert_eq!(h.sessions, [("exited".to_owned(), 4)]);
    assert_eq!(
        db.installs_24h("wizard", "2.1.0", now).await.unwrap(),
        (3, 0)
    );
}

#[tokio::test]
async fn sqlite_restart_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let db = sqlite_db(dir.path()).await;
    restart_and_prune(db, async move |db: Db| {
        assert_eq!(db.ingest_ended_sessions().await.unwrap(), 2);
        drop(db);
        let db = sqlite_db(&path).await;
        assert_eq!(db.ingest_ended_sessions().await.unwrap(), 2, "loaded back");
        db
    })
    .await;
    let db = sqlite_db(dir.path()).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ended_sessions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 4, "s1, old again, s2 of wizard; s1 of other");
}

#[tokio::test]
async fn sqlite_executor_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    assert!(db.ingest_connection().is_some());
    batch_and_retry(&db).await;
}

/// A database of its own on the PostgreSQL server `.ci/run` starts (`RELOPS_TEST_PG_URL`,
/// an admin URL): its URL, and the admin connection that drops it ([`drop_pg`]); `None`
/// (the test skipped) outside CI when no server was started.
async fn pg_database() -> Option<(String, String, sqlx::AnyConnection)> {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("RELOPS_TEST_PG_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "RELOPS_TEST_PG_URL must be set under CI"
        );
        eprintln!("skipped: RELOPS_TEST_PG_URL not set (run `.ci/run` to start PostgreSQL)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("relops_store_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = admin_url.rsplit_once('/').unwrap().0;
    Some((format!("{base}/{name}"), name, admin))
}

async fn drop_pg(db: Db, name: &str, mut admin: sqlx::AnyConnection) {
    db.pool.close().await;
    db.writer.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

/// The multi-row executor, on PostgreSQL.
#[tokio::test]
async fn postgres_executor_counts_once() {
    let Some((url, name, admin)) = pg_database().await else {
        return;
    };
    let db = Db::connect(&url).await.unwrap();
    assert!(db.ingest_connection().is_none());
    assert!(
        db.ingest_journal().is_none(),
        "PostgreSQL is written directly"
    );
    assert_eq!(db.ingest_folded().await.unwrap(), 0);
    batch_and_retry(&db).await;
    drop_pg(db, &name, admin).await;
}

#[tokio::test]
async fn postgres_restart_and_prune() {
    let Some((url, name, admin)) = pg_database().await else {
        return;
    };
    let db = Db::connect(&url).await.unwrap();
    let db = {
        let url = url.clone();
        let mut kept = None;
        restart_and_prune(db, async |db: Db| {
            db.pool.close().await;
            db.writer.close().await;
            let again = Db::connect(&url).await.unwrap();
            kept = Some(again.clone());
            again
        })
        .await;
        kept.expect("reopened")
    };
    drop_pg(db, &name, admin).await;
}

/// A database written before install marks and the ended-session log (SQLite migration
/// 11, PostgreSQL 10) keeps its figures and its dedupe across the upgrade.
async fn upgraded(url: &str, migrator: sqlx::migrate::Migrator, before: i64) {
    sqlx::any::install_default_drivers();
    let now = Utc::now();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    migrator.run_to(before, &pool).await.unwrap();
    let ago = |h: i64| crate::sql::ts(now - chrono::Duration::hours(h));
    for (install, seen, crashed) in [("iA", ago(1), Some(ago(2))), ("iB", ago(30), None)] {
        sqlx::query(
            "INSERT INTO release_installs VALUES ('wizard', '2.1.0', 'stable', 'macos', $1, $2, $3)",
        )
        .bind(install)
        .bind(seen)
        .bind(crashed)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (id, status) in [("ended", "exited"), ("open", "ok")] {
        sqlx::query(
            "INSERT INTO ingest_sessions VALUES ('wizard', $1, '2.1.0', 'stable', 'macos', 'iA', $2, $3)",
        )
        .bind(id)
        .bind(status)
        .bind(ago(1))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let db = Db::connect(url).await.unwrap();
    assert_eq!(
        db.installs_24h("wizard", "2.1.0", now).await.unwrap(),
        (1, 1)
    );
    // iA's marks in time order (its crash, then last seen); iB's is older than 24 h.
    let (replay, _) = db
        .health_replay(now - chrono::Duration::hours(24))
        .await
        .unwrap();
    let marks: Vec<(&str, bool)> = replay
        .iter()
        .map(|r| match r {
            crate::Replay::Install {
                install_id,
                crashed_at,
                ..
            } => (install_id.as_str(), crashed_at.is_some()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(marks, [("iA", true), ("iA", false)]);
    let ends: Arc<[Record]> = vec![
        session("ended", "iA", "exited"),
        session("open", "iA", "exited"),
    ]
    .into();
    assert_eq!(
        db.record_ingest("wizard", ends, now).await.unwrap(),
        [false, true]
    );
    db.pool.close().await;
    db.writer.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_keeps_figures() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/relops.db?mode=rwc", dir.path().display());
    upgraded(&url, sqlx::migrate!("./migrations/sqlite"), 11).await;
}

#[tokio::test]
async fn postgres_upgrade_keeps_figures() {
    let Some((url, name, admin)) = pg_database().await else {
        return;
    };
    upgraded(&url, sqlx::migrate!("./migrations/postgres"), 10).await;
    let db = Db::connect(&url).await.unwrap();
    drop_pg(db, &name, admin).await;
}

/// Replicas upsert the same count rows: each batch must lock them in one order (key order),
/// or two concurrent batches can deadlock.
#[test]
fn shared_rows_in_key_order() {
    let statuses = [
        "exited", "abnormal", "crashed", "errored", "exited", "crashed",
    ];
    let records: Vec<Record> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| session(&format!("s{i}"), &format!("i{i}"), s))
        .chain((0..4).map(|i| {
            let mut e = event(&format!("e{i}"), "i0");
            if let Record::Event { code, scope, .. } = &mut e {
                *code = Some(format!("CODE_{}", 3 - i));
                scope.release = format!("2.1.{i}");
            }
            e
        }))
        .collect();
    let mut plan = super::Plan::fold(&records, Default::default(), super::first_events(&records));
    let all: std::collections::HashSet<String> = (0..4).map(|i| format!("e{i}")).collect();
    plan.count_events(&records, &all);
    let [(_, counts), (_, errors), ..] = plan.table_rows("wizard", "t", "h");
    let status = |r: &Vec<super::V<'_>>| format!("{:?}", r[4]);
    let got: Vec<String> = counts.iter().map(status).collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got, sorted);
    let release = |r: &Vec<super::V<'_>>| format!("{:?}", r[1]);
    let got: Vec<String> = errors.iter().map(release).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);
}

#[test]
fn numbered_rows() {
    assert_eq!(placeholders(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
    assert_eq!(placeholders(1, 1, 5), "($5)");
}

async fn sqlite_db(dir: &std::path::Path) -> Db {
    Db::connect(&format!("sqlite://{}/relops.db", dir.display()))
        .await
        .unwrap()
}

/// The journal keeps batches in order, across a reopen, and never reuses a sequence
/// number — not even after every entry was removed (a reused number would be taken as
/// folded already).
#[tokio::test]
async fn journal_appends_reads_and_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().expect("SQLite has a journal");
    assert_eq!(j.path(), dir.path().join("relops.ingest-journal.db"));
    assert_eq!(j.last_seq().unwrap(), 0);
    let t = Utc::now();
    let a = [session("s1", "i1", "ok")];
    let b = [session("s1", "i1", "exited"), event("e1", "i2")];
    let one = j.append(&[("wizard", &a), ("other", &b)], t).unwrap();
    let two = j.append(&[("wizard", &b)], t).unwrap();
    assert!(two > one);
    let all = j.read_after(0, 1000).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (
            all[0].product.as_str(),
            all[0].records.as_slice(),
            all[0].at
        ),
        ("wizard", a.as_slice(), t.trunc_subsecs(6))
    );
    assert_eq!(
        (all[1].product.as_str(), all[1].records.as_slice()),
        ("other", b.as_slice())
    );
    assert_eq!(all[2].seq, two);
    // At least one entry, then only as many as fit the record limit.
    assert_eq!(j.read_after(0, 1).unwrap().len(), 1);
    assert_eq!(j.read_after(0, 3).unwrap().len(), 2);
    assert_eq!(j.read_after(one, 1000).unwrap().len(), 1);

    j.forget_through(two).unwrap();
    assert!(j.read_after(0, 1000).unwrap().is_empty());
    drop((j, db));
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    assert_eq!(j.last_seq().unwrap(), two);
    let three = j.append(&[("wizard", &a)], t).unwrap();
    assert!(three > two, "{three} after {two}");

    // A journal numbering behind the fold mark (its file lost) is moved past it, never back.
    j.continue_after(three + 100).unwrap();
    j.continue_after(three).unwrap();
    assert_eq!(j.last_seq().unwrap(), three + 100);
    assert_eq!(j.append(&[("wizard", &a)], t).unwrap(), three + 101);
}

/// A journal an older relops made with 4 KiB pages is rewritten with small pages on open,
/// keeping its entries and its numbering; a new one has small pages from the start.
#[tokio::test]
async fn journal_with_large_pages_is_rewritten() {
    let page_size = |path: &std::path::Path| -> u32 {
        rusqlite::Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relops.ingest-journal.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; \
             CREATE TABLE ingest_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
             product TEXT NOT NULL, at TEXT NOT NULL, records BLOB NOT NULL); \
             INSERT INTO ingest_journal (seq, product, at, records) \
             VALUES (7, 'wizard', '2026-11-28T07:00:00.000000Z', X'5B5D'), \
             (9, 'wizard', '2026-11-28T07:00:01.000000Z', X'5B5D'); \
             DELETE FROM ingest_journal WHERE seq = 9",
        )
        .unwrap();
    }
    assert_eq!(page_size(&path), 4096);
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    assert_eq!(page_size(&path), 1024);
    let kept = j.read_after(0, 1000).unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [7]);
    assert_eq!(j.last_seq().unwrap(), 9, "numbering kept");
    let next = j.append(&[("wizard", &[session("s1", "i1", "ok")])], Utc::now());
    assert_eq!(next.unwrap(), 10);

    let fresh = tempfile::tempdir().unwrap();
    let db = sqlite_db(fresh.path()).await;
    let j = db.ingest_journal().unwrap();
    assert_eq!(page_size(j.path()), 1024);
}

/// A new journal file (nothing ever appended) continues after a given number too.
#[tokio::test]
async fn fresh_journal_continues_after_the_fold_mark() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    j.continue_after(41).unwrap();
    assert_eq!(j.last_seq().unwrap(), 41);
    let seq = j.append(&[("wizard", &[session("s1", "i1", "ok")])], Utc::now());
    assert_eq!(seq.unwrap(), 42);
}

/// Every kind of record survives the journal; an entry an older relops wrote as JSON is
/// still read, and an entry in neither encoding is reported as such with its number.
#[tokio::test]
async fn journal_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    let all = [
        session("s1", "i1", "crashed"),
        Record::Session {
            scope: scope(),
            session_id: "s2".into(),
            install_id: None,
            status: "ok".into(),
            crashed: false,
        },
        Record::Aggregate {
            scope: scope(),
            install_id: Some("i2".into()),
            counts: vec![("exited".into(), 7), ("crashed".into(), u64::MAX)],
            crashed: true,
        },
        Record::Event {
            scope: scope(),
            event_id: "e1".into(),
            install_id: None,
            crash: true,
            critical: Some("startup".into()),
            code: None,
            payload: "{\"level\":\"fatal\"}".into(),
        },
        Record::Memory {
            scope: scope(),
            install_id: "i4".into(),
            host_percent: 93,
        },
    ];
    let t = Utc::now();
    let binary = j.append(&[("wizard", &all)], t).unwrap();
    // As relops wrote entries before the binary encoding.
    let raw = rusqlite::Connection::open(j.path()).unwrap();
    raw.execute(
        "INSERT INTO ingest_journal (product, at, records) VALUES ('wizard', $1, $2)",
        (crate::sql::ts(t), serde_json::to_vec(&all).unwrap()),
    )
    .unwrap();
    let read = j.read_after(0, 1000).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].seq, binary);
    assert_eq!(read[0].records, all);
    assert_eq!(read[1].records, all);

    raw.execute(
        "INSERT INTO ingest_journal (product, at, records) VALUES ('wizard', $1, x'02ff')",
        [crate::sql::ts(t)],
    )
    .unwrap();
    let err = j.read_after(0, 1000).unwrap_err().to_string();
    assert!(
        err.contains(&format!("entry {}", binary + 2)) && err.contains("neither"),
        "{err}"
    );
}

/// A fold applies journalled batches once, notes how far it got in the same transaction,
/// and a restart continues after that point; what a fold reports as new is what the
/// health engine counts.
#[tokio::test]
async fn journal_folds_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    let t = Utc::now();
    let first = [
        session("s1", "i1", "ok"),
        session("s1", "i1", "exited"),
        event("e1", "i2"),
    ];
    let retry = [session("s1", "i1", "exited"), event("e1", "i2")];
    let crash = [session("s2", "i3", "crashed")];
    j.append(&[("wizard", &first)], t).unwrap();
    let upto = j.append(&[("wizard", &retry)], t).unwrap();
    j.append(&[("wizard", &crash)], t).unwrap();
    assert_eq!(db.ingest_folded().await.unwrap(), 0);

    let folded = db.fold_journal(j.read_after(0, 5).unwrap()).await.unwrap();
    assert_eq!(folded.len(), 1, "one product: one group");
    assert_eq!(folded[0].fresh, [true, true, true, false, false]);
    assert_eq!(db.ingest_folded().await.unwrap(), upto);
    let h = db.health("wizard", "2.1.0", t).await.unwrap();
    assert_eq!(h.sessions, [("exited".to_owned(), 1)]);
    assert_eq!(h.errors, [("TOB_PARSE_ERROR".to_owned(), 1)]);

    // The server died before removing the folded entries: a restart reads on from the
    // folded point, so nothing counts twice.
    drop((j, db));
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    let after = db.ingest_folded().await.unwrap();
    assert_eq!(after, upto);
    let rest = j.read_after(after, 1000).unwrap();
    assert_eq!(rest.len(), 1);
    let folded = db.fold_journal(rest).await.unwrap();
    assert_eq!(folded[0].fresh, [true]);
    let h = db.health("wizard", "2.1.0", t).await.unwrap();
    assert_eq!(
        h.sessions,
        [("crashed".to_owned(), 1), ("exited".to_owned(), 1)]
    );
    assert_eq!(db.installs_24h("wizard", "2.1.0", t).await.unwrap(), (3, 1));
    assert!(db.fold_journal(Vec::new()).await.unwrap().is_empty());
}

/// Batches of several products fold into one transaction, each product's records as one
/// batch stored at the time of its newest entry.
#[tokio::test]
async fn journal_folds_products_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    let j = db.ingest_journal().unwrap();
    let early = Utc::now() - chrono::Duration::minutes(5);
    let late = Utc::now();
    j.append(&[("wizard", &[session("s1", "i1", "exited")])], early)
        .unwrap();
    j.append(&[("other", &[session("s1", "i1", "exited")])], early)
        .unwrap();
    j.append(&[("wizard", &[session("s2", "i2", "exited")])], late)
        .unwrap();
    let folded = db
        .fold_journal(j.read_after(0, 100).unwrap())
        .await
        .unwrap();
    let groups: Vec<(&str, usize, DateTime<Utc>)> = folded
        .iter()
        .map(|f| (f.product.as_str(), f.records.len(), f.at))
        .collect();
    assert_eq!(
        groups,
        [
            ("wizard", 2, late.trunc_subsecs(6)),
            ("other", 1, early.trunc_subsecs(6))
        ]
    );
    // The same session id under another product is another session.
    assert!(folded.iter().all(|f| f.fresh.iter().all(|n| *n)));
}

/// The journal lives next to the database file.
#[test]
fn journal_file_name() {
    assert_eq!(
        super::IngestJournal::path_for(std::path::Path::new("/data/relops.db")),
        std::path::Path::new("/data/relops.ingest-journal.db")
    );
}
