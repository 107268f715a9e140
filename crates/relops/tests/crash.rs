//! Sealed crash dumps (R-CR-3): the SDK seals each dump to the server's crash key and
//! queues it on disk; uploads survive being offline, retries never duplicate, a full queue
//! drops the oldest with a count; the server keeps the sealed bytes and opens them only for
//! the roles that may read dumps.

mod common;

use std::path::Path;

use common::{Backend, Server, TestEnv, assert_refused};
use relops_client::{CrashConfig, CrashReporter};
use relops_core::platform::Platform;
use serde_json::{Value, json};

backend_tests!(
    sealed_crashes_are_queued_uploaded_once_and_opened_by_role,
    crash_evidence_is_never_replaced
);

/// The attack (issue 15, 4): a second upload under a known crash id overwrote the stored
/// dump (200), or destroyed it with garbage. The first dump stays: the same bytes again are
/// a retry (200), other bytes are refused (409); and a dump changed in the blob store is
/// not served as if it were what arrived.
async fn crash_evidence_is_never_replaced(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let ck = common::crash_key(&s).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let upload = |bytes: &[u8]| {
        json!({
            "install_id": "i-1", "release": "2.1.0", "platform": "windows-x64",
            "channel": "stable", "crash_id": id, "kind": "minidump",
            "sealed": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                relops_seal::seal(&ck, &id, bytes).unwrap(),
            ),
        })
    };
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/v1/ingest/crashes", s.url))
            .header("X-Relops-Ingest-Key", &key)
            .json(&body)
            .send()
    };
    let first = upload(&dump(1));
    assert_eq!(post(first.clone()).await.unwrap().status(), 200);
    assert_eq!(post(first).await.unwrap().status(), 200, "a retry");
    let r = post(upload(&dump(9))).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("first dump is kept"));
    let garbage = json!({
        "install_id": "i-1", "release": "2.1.0", "platform": "windows-x64",
        "channel": "stable", "crash_id": id, "kind": "minidump",
        "sealed": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            relops_seal::seal(&ck, &id, b"MDMP garbage").unwrap(),
        ),
    });
    assert_eq!(post(garbage).await.unwrap().status(), 409);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("opened.dmp");
    let qa = s.as_role("qa_lead");
    s.cli_json_as(
        &qa,
        &[
            "crash",
            "show",
            &id,
            "--decrypt",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), dump(1), "the first dump");

    // Changed at rest (a valid seal of other bytes): refused when read, not served.
    env.blobs()
        .put_raw(
            &format!("crashes/sealed/{id}"),
            relops_seal::seal(&ck, &id, &dump(7)).unwrap().into(),
        )
        .await
        .unwrap();
    assert_refused(
        &s.cli_as(&qa, &["crash", "show", &id, "--decrypt"]),
        1,
        "does not match the SHA-256 recorded when it arrived",
    );
}

fn reporter(s_url: &str, key: &str, crash_key: &str, dir: &Path, max: usize) -> CrashReporter {
    CrashReporter::new(CrashConfig {
        server_url: s_url.to_owned(),
        ingest_key: key.to_owned(),
        crash_key: crash_key.to_owned(),
        release: "2.1.0".into(),
        platform: Platform::WindowsX64,
        channel: "stable".into(),
        install_id: "7d0f4a52-1c38-4f6e-9d7b-2f1e7f0c9a11".into(),
        queue_dir: dir.to_owned(),
        max_queued: max,
        allow_insecure_http: false,
    })
    .unwrap()
}

fn crashes(s: &Server) -> Vec<Value> {
    s.cli_json(&["crash", "list"])["crashes"]
        .as_array()
        .unwrap()
        .clone()
}

fn dump(n: u8) -> Vec<u8> {
    let mut d = b"MDMP\x93\xa7".to_vec();
    d.extend_from_slice(format!("secret-user-memory-{n}-").repeat(200).as_bytes());
    d
}

async fn sealed_crashes_are_queued_uploaded_once_and_opened_by_role(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let queue = work.path().join("queue");
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let ck = common::crash_key(&s).await;

    // Offline: the report waits in the queue, sealed.
    let offline = reporter("http://127.0.0.1:9", &key, &ck, &queue, 3);
    let first = offline.queue("minidump", &dump(1)).unwrap();
    let r = offline.upload_pending().await.unwrap();
    assert_eq!((r.sent, r.pending), (0, 1), "{r:?}");
    assert!(r.error.unwrap().contains("could not be reached"));
    let queued = std::fs::read(&offline.pending().unwrap()[0]).unwrap();
    assert!(!String::from_utf8_lossy(&queued).contains("secret-user-memory"));

    // The network returns (here: the app starts again, same queue): delivered.
    let online = reporter(&s.url, &key, &ck, &queue, 3);
    let r = online.upload_pending().await.unwrap();
    assert_eq!((r.sent, r.pending, r.rejected), (1, 0, 0), "{r:?}");
    let list = crashes(&s);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], first);
    assert_eq!(list[0]["kind"], "minidump");
    assert_eq!(list[0]["dump"]["sealed"], true);

    // A retry after a lost answer is stored once.
    let second = online.queue("minidump", &dump(2)).unwrap();
    let file = online.pending().unwrap().remove(0);
    let copy = std::fs::read(&file).unwrap();
    assert_eq!(online.upload_pending().await.unwrap().sent, 1);
    std::fs::write(&file, &copy).unwrap();
    assert_eq!(
        online.upload_pending().await.unwrap().sent,
        1,
        "answered 200 again"
    );
    assert_eq!(crashes(&s).len(), 2, "stored once");
    let h = s.cli_json(&["health", "2.1.0"]);
    assert_eq!(h["crashed_installs"], 1, "one install");

    // A full queue drops the oldest and says so with the next upload.
    let ids: Vec<String> = (3..8)
        .map(|n| online.queue("minidump", &dump(n)).unwrap())
        .collect();
    assert_eq!(online.pending().unwrap().len(), 3);
    assert_eq!(online.dropped(), 2);
    let r = online.upload_pending().await.unwrap();
    assert_eq!(r.sent, 3);
    assert_eq!(online.dropped(), 0);
    let kept: Vec<Value> = ids[2..]
        .iter()
        .map(|id| s.cli_json(&["crash", "show", id]))
        .collect();
    assert_eq!(kept[0]["dropped_before"], 2);
    assert_eq!(kept[1]["dropped_before"], 0);
    assert_refused(&s.cli(&["crash", "show", &ids[0]]), 1, "no crash");

    // The blob at rest is sealed; only QA, support and security open it, audited.
    let blob = env
        .blobs()
        .get_raw(&format!("crashes/sealed/{second}"))
        .await
        .unwrap();
    assert!(blob.starts_with(b"RSD1"));
    assert!(!String::from_utf8_lossy(&blob).contains("secret-user-memory"));
    let out = work.path().join("opened.dmp");
    let qa = s.as_role("qa_lead");
    s.cli_json_as(
        &qa,
        &[
            "crash",
            "show",
            &second,
            "--decrypt",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), dump(2));
    assert_refused(
        &s.cli_as(
            &s.as_role("release_manager"),
            &["crash", "show", &second, "--decrypt"],
        ),
        1,
        "crash.dump",
    );
    let trail = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    let read: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "crash.read_dump")
        .collect();
    assert_eq!(read.len(), 1);
    assert!(read[0]["actor"].as_str().unwrap().ends_with("as qa_lead"));

    // Tags sent with the report class it for the fingerprint rules.
    online.set_tag("phase", "startup");
    let critical = online.queue("panic", b"panic at main.rs:1").unwrap();
    online.upload_pending().await.unwrap();
    assert_eq!(
        s.cli_json(&["crash", "show", &critical])["critical"],
        "crash on start"
    );

    // Malformed reports are refused with what is wrong, and store nothing.
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/v1/ingest/crashes", s.url))
            .header("X-Relops-Ingest-Key", &key)
            .json(&body)
            .send()
    };
    let base = json!({
        "install_id": "i", "release": "2.1.0", "platform": "windows-x64", "channel": "stable",
        "crash_id": uuid::Uuid::new_v4().to_string(), "kind": "minidump",
    });
    for (sealed, needle) in [
        ("not base64!", "not base64"),
        (
            "TURNUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "RSD1",
        ),
    ] {
        let mut b = base.clone();
        b["sealed"] = json!(sealed);
        let r = post(b).await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains(needle));
    }
    let mut b = base.clone();
    b["crash_id"] = json!("nope");
    b["sealed"] = json!("UlNEMQ==");
    let r = post(b).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("crash_id"));
    assert_eq!(crashes(&s).len(), 6);

    // The SDK refuses plain http to anything but loopback unless told otherwise.
    let err = CrashReporter::new(CrashConfig {
        server_url: "http://relops.example".into(),
        ingest_key: key.clone(),
        crash_key: ck.clone(),
        release: "2.1.0".into(),
        platform: Platform::WindowsX64,
        channel: "stable".into(),
        install_id: "x".into(),
        queue_dir: work.path().join("q2"),
        max_queued: 3,
        allow_insecure_http: false,
    })
    .unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
}
