//! `relops backup` while the server serves and ingests, `relops restore` into a new data
//! dir, and the restored server: its audit trail verifies, its feed verifies with tough and
//! python-tuf, its artifacts are the uploaded bytes, and every session acknowledged before
//! the backup began is counted. (SQLite only: PostgreSQL backs up with pg_dump.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Backend, Server, TestEnv, assert_refused, copy_dir, test_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_to_a_working_server() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);
    let dmg = test_bytes(200_000, 3);
    s.upload(w, "2.1.0", "macos-universal", "W-2.1.0.dmg", &dmg);
    s.ship("2.1.0");
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The fleet reports sessions all along: batches of 50, each acknowledged or not.
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (acked, stop, url) = (Arc::clone(&acked), Arc::clone(&stop), s.url.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut batch = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let sessions: Vec<serde_json::Value> = (0..50)
                    .map(|i| {
                        serde_json::json!({
                            "install_id": format!("i-{batch}-{i}"), "release": "2.1.0",
                            "platform": "macos-universal", "channel": "stable",
                            "session_id": format!("s-{batch}-{i}"), "status": "exited",
                        })
                    })
                    .collect();
                let r = http
                    .post(format!("{url}/v1/ingest/sessions"))
                    .header("X-Relops-Ingest-Key", &key)
                    .json(&serde_json::json!({ "sessions": sessions }))
                    .send()
                    .await;
                if matches!(&r, Ok(r) if r.status() == 200) {
                    acked.fetch_add(50, Ordering::SeqCst);
                }
                batch += 1;
            }
        })
    };
    common::wait_for("the first sessions", || acked.load(Ordering::SeqCst) >= 500).await;
    let before = acked.load(Ordering::SeqCst);
    let backup_dir = w.join("backup");
    let data_dir = env.path().to_path_buf();
    let dir = backup_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::BIN)
            .args(["backup", "--json", "--data-dir"])
            .arg(&data_dir)
            .arg(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let after = acked.load(Ordering::SeqCst);
    assert!(after > before, "ingest went on during the backup");
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["blobs_included"], true);
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for f in [
        "relops.db",
        "relops.toml",
        "keys/release.json",
        "audit-anchors.jsonl",
    ] {
        assert!(files.contains(&f), "{f} in {files:?}");
    }
    assert!(files.iter().any(|f| f.starts_with("blobs/")));
    assert!(!files.iter().any(|f| f.starts_with("blobs/staging")));
    assert!(!w.join("backup.partial").exists());

    // A damaged backup is refused before anything is written; so is a data dir in use.
    let new = w.join("restored");
    let damaged = w.join("damaged");
    copy_dir(&backup_dir, &damaged);
    std::fs::write(damaged.join("keys/release.json"), "{}").unwrap();
    let restore = |from: &std::path::Path, to: &std::path::Path| {
        std::process::Command::new(common::BIN)
            .arg("restore")
            .arg(from)
            .arg("--data-dir")
            .arg(to)
            .output()
            .unwrap()
    };
    assert_refused(
        &restore(&damaged, &new),
        1,
        "keys/release.json in the backup is not what was backed up",
    );
    assert!(!new.exists());
    assert_refused(&restore(&backup_dir, env.path()), 1, "is not empty");

    let out = restore(&backup_dir, &new);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(s);
    let r = Server::start(&new, &env.admin_token);

    // The audit trail and the feed of the restored server verify; the artifact is the bytes.
    let sec = r.as_role("security_engineer");
    let v = r.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let feed = r.cli_json(&["feed", "verify"]);
    assert_eq!(feed["ok"], true, "{feed}");
    let got = w.join("got.dmg");
    r.cli_json(&[
        "artifact",
        "download",
        "2.1.0",
        "W-2.1.0.dmg",
        "-o",
        got.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&got).unwrap(), dmg);
    match common::python_with_tuf() {
        Some(python) => {
            let root = r.trusted_root().await;
            let t = common::python_tuf_refresh(&python, &r.url, "wizard", &root, &w.join("tuf"))
                .unwrap();
            assert!(
                t["targets"]["wizard-2.1.0-macos-universal.dmg"].is_object(),
                "{t}"
            );
        }
        None => eprintln!("skipped: python-tuf against the restored feed (no python with tuf)"),
    }

    // Every session acknowledged before the backup began is in the restored figures; none
    // that was never sent.
    let mut counted = 0;
    common::wait_for("the restored sessions to be counted", || {
        let h = r.cli_json(&["health", "2.1.0"]);
        counted = h["sessions"]["exited"].as_u64().unwrap_or(0);
        counted >= before
    })
    .await;
    assert!(counted <= after, "{counted} counted, {after} acknowledged");
    eprintln!(
        "backup under load: {before} sessions acknowledged before it began, {after} by its end, {counted} in the restored server"
    );
}
