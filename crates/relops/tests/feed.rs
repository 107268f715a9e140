//! The signed update feed (TUF) end to end: approval publishes, python-tuf's ngclient
//! refreshes the metadata and downloads and verifies every target.

mod common;

use common::{Backend, TestEnv, assert_refused, python_tuf_refresh, python_with_tuf, test_bytes};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

backend_tests!(
    python_tuf_verifies_every_target,
    approval_rules,
    export_and_verify,
    concurrent_readers_see_consistent_sets,
    key_rotation_is_followed_by_clients,
    release_notes_are_linked_from_the_feed,
    tampered_targets_are_not_served
);

/// Issue 15, 9: a feed file changed in the blob store was served (and, once in the target
/// cache, kept being served) as if it were what was signed. It is checked against its
/// digest when read into the cache: refused, not cached; the genuine bytes, once back,
/// are served.
async fn tampered_targets_are_not_served(b: Backend) {
    let rx = common::Receiver::start(0, Default::default()).await;
    let env = TestEnv::with_config(
        b,
        &format!(
            "[notify]\nretry_initial_seconds = 0.2\n[[notify.webhooks]]\nname = \"security\"\nkind = \"slack\"\nurl = \"http://127.0.0.1:{}/slack\"\n",
            rx.port
        ),
    )
    .await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let genuine = test_bytes(50_001, 1);
    let dmg = upload(&s, work.path(), "2.1.0", "macos-universal", "W.dmg", 1);
    s.approve("2.1.0");
    let sha = dmg["sha256"].as_str().unwrap();
    let key = format!("blobs/sha256/{sha}");
    let url = format!(
        "{}/tuf/wizard/targets/{sha}.wizard-2.1.0-macos-universal.dmg",
        s.url
    );
    env.blobs()
        .put_raw(&key, test_bytes(50_001, 99).into())
        .await
        .unwrap();
    // Not served, and the operators are told once however often it is asked for.
    for _ in 0..3 {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unavailable");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("is not what was signed")
        );
    }
    common::wait_for("the security notice", || !rx.of("slack").is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let told = rx.of("slack");
    assert_eq!(told.len(), 1, "{told:?}");
    let text = told[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("SECURITY: the stored file") && text.contains(&key),
        "{text}"
    );
    env.blobs()
        .put_raw(&key, genuine.clone().into())
        .await
        .unwrap();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), genuine.as_slice());
}

fn upload(
    s: &common::Server,
    work: &std::path::Path,
    version: &str,
    platform: &str,
    name: &str,
    seed: u8,
) -> serde_json::Value {
    s.upload(
        work,
        version,
        platform,
        name,
        &test_bytes(50_000 + usize::from(seed), seed),
    )
}

async fn python_tuf_verifies_every_target(b: Backend) {
    let Some(python) = python_with_tuf() else {
        return;
    };
    // Without the target cache, so that a file tampered with in the store below is read
    // again (with it, the server keeps serving the copy it read and checked before).
    let env = TestEnv::with_config(b, "[feed]\ntarget_cache_mib = 0\n").await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let root = http
        .get(format!("{}/tuf/wizard/metadata/1.root.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    let root = root.bytes().await.unwrap().to_vec();

    // An empty feed verifies too.
    let empty =
        python_tuf_refresh(&python, &s.url, "wizard", &root, &work.path().join("c0")).unwrap();
    assert_eq!(empty["targets"], serde_json::json!({}));

    s.cli_json(&["release", "create", "2.0.0", "--go-live", "2027-01-11"]);
    let dmg = upload(
        &s,
        work.path(),
        "2.0.0",
        "macos-universal",
        "WIZARD 2.0.0.dmg",
        1,
    );
    let msi = upload(
        &s,
        work.path(),
        "2.0.0",
        "windows-x64",
        "WIZARD 2.0.0.msi",
        2,
    );
    s.ship("2.0.0");
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    upload(
        &s,
        work.path(),
        "2.1.0",
        "macos-universal",
        "WIZARD 2.1.0.dmg",
        3,
    );
    // Not approved: not in the feed.
    let first =
        python_tuf_refresh(&python, &s.url, "wizard", &root, &work.path().join("c1")).unwrap();
    let names: Vec<&String> = first["targets"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "wizard-2.0.0-macos-universal.dmg",
            "wizard-2.0.0-windows-x64.msi"
        ]
    );
    let t = &first["targets"]["wizard-2.0.0-macos-universal.dmg"];
    assert_eq!(t["sha256"], dmg["sha256"]);
    assert_eq!(t["length"], dmg["size"]);
    let custom = &t["custom"];
    assert_eq!(custom["product"], "wizard");
    assert_eq!(custom["version"], "2.0.0");
    assert_eq!(custom["platform"], "macos-universal");
    assert_eq!(custom["artifact"], "WIZARD 2.0.0.dmg");
    assert_eq!(
        custom["channels"],
        serde_json::json!(["internal", "stable"])
    );
    let rollout = &custom["rollout"];
    assert_eq!(rollout["state"], "completed");
    assert_eq!(rollout["stage"], "100");
    assert_eq!(
        rollout["bps"],
        serde_json::json!({"internal": 10000, "stable": 10000})
    );
    assert_eq!(rollout["salt"].as_str().unwrap().len(), 64);
    assert_eq!(
        custom["release_signature"], dmg["signature"],
        "the upload signature, not a new one"
    );
    assert_eq!(
        first["targets"]["wizard-2.0.0-windows-x64.msi"]["sha256"],
        msi["sha256"]
    );

    // Three more releases: the feed keeps the newest three versions per platform.
    s.approve("2.1.0");
    for (v, seed) in [("2.2.0", 4u8), ("2.3.0", 5)] {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        upload(
            &s,
            work.path(),
            v,
            "macos-universal",
            &format!("W {v}.dmg"),
            seed,
        );
        s.approve(v);
    }
    // The same client, holding the older trusted metadata, updates to the new set.
    let second =
        python_tuf_refresh(&python, &s.url, "wizard", &root, &work.path().join("c1")).unwrap();
    let names: Vec<&String> = second["targets"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "wizard-2.0.0-windows-x64.msi",
            "wizard-2.1.0-macos-universal.dmg",
            "wizard-2.2.0-macos-universal.dmg",
            "wizard-2.3.0-macos-universal.dmg",
        ]
    );
    assert!(second["versions"]["targets"].as_u64() > first["versions"]["targets"].as_u64());
    for (name, t) in second["targets"].as_object().unwrap() {
        let path = work.path().join("c1/downloads").join(name);
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            t["sha256"].as_str().unwrap(),
            "{name}"
        );
    }

    // Tampered bytes in the blob store: python-tuf refuses the download.
    let key = format!(
        "blobs/sha256/{}",
        second["targets"]["wizard-2.3.0-macos-universal.dmg"]["sha256"]
            .as_str()
            .unwrap()
    );
    env.blobs()
        .put_raw(&key, test_bytes(50_005, 99).into())
        .await
        .unwrap();
    // The server checks the bytes as it sends them and cuts the download off (issue 15, 9);
    // had any reached it, the client would refuse them by their hash.
    let err =
        python_tuf_refresh(&python, &s.url, "wizard", &root, &work.path().join("c2")).unwrap_err();
    assert!(
        err.contains("IncompleteRead")
            || err.contains("Failed to download")
            || err.contains("hash")
            || err.contains("ength"),
        "{err}"
    );

    // Served from what was stored: a restart serves the same metadata.
    let ts1 = http
        .get(format!("{}/tuf/wizard/metadata/timestamp.json", s.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let data = env.path().to_path_buf();
    s.kill();
    let s = common::Server::start(&data, &env.admin_token);
    let ts2 = http
        .get(format!("{}/tuf/wizard/metadata/timestamp.json", s.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(ts1, ts2);
}

async fn approval_rules(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let po = s.as_role("product_owner");
    assert_refused(&s.cli_as(&po, &["approve", "2.1.0"]), 1, "no artifacts");
    let work = tempfile::tempdir().unwrap();
    let art = upload(&s, work.path(), "2.1.0", "macos-universal", "w.dmg", 1);

    let keys = s.cli_json(&["keys", "list"]);
    let roles: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "release",
            "crash"
        ]
    );
    for k in keys["keys"].as_array().unwrap() {
        assert_eq!(k["threshold"], 1);
        assert_eq!(k["key_ids"].as_array().unwrap().len(), 1);
    }
    assert_eq!(keys["keys"][4]["key_ids"][0], art["key_id"]);
    assert_eq!(keys["keys"][0]["version"], 1);
    let root_expiry: chrono::DateTime<chrono::Utc> = keys["keys"][0]["expires"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(root_expiry > chrono::Utc::now() + chrono::Duration::days(360));
    let human = String::from_utf8(s.cli(&["keys", "list"]).stdout).unwrap();
    assert!(human.starts_with("ROLE"), "{human}");
    let qa = s.token_with(&["qa_lead"]);
    assert_refused(&s.cli_as(&qa, &["approve", "2.1.0"]), 1, "release.approve");
    assert_refused(&s.cli(&["approve", "2.1.0"]), 1, "release.approve");
    let r = s.approve("2.1.0");
    assert_eq!(r["state"], "approved");
    let shown = s.cli_json(&["release", "show", "2.1.0"]);
    assert!(
        shown["approved_by"]
            .as_str()
            .unwrap()
            .starts_with("test-product_owner (")
    );
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.0"]),
        1,
        "only a frozen release can be approved",
    );
    // Approved artifacts never change.
    let f = work.path().join("w.dmg");
    assert_refused(
        &s.cli(&[
            "artifact",
            "upload",
            "2.1.0",
            "--platform",
            "macos-universal",
            f.to_str().unwrap(),
        ]),
        1,
        "patch release",
    );
    let http = reqwest::Client::new();
    for (path, status) in [
        ("/tuf/wizard/metadata/timestamp.json", StatusCode::OK),
        ("/tuf/wizard/metadata/1.root.json", StatusCode::OK),
        ("/tuf/wizard/metadata/2.root.json", StatusCode::NOT_FOUND),
        // Only the canonical name: these would be 1.root.json, cached as immutable.
        ("/tuf/wizard/metadata/01.root.json", StatusCode::NOT_FOUND),
        ("/tuf/wizard/metadata/+1.root.json", StatusCode::NOT_FOUND),
        (
            "/tuf/wizard/metadata/99.targets.json",
            StatusCode::NOT_FOUND,
        ),
        ("/tuf/nope/metadata/timestamp.json", StatusCode::NOT_FOUND),
        (
            "/tuf/wizard/targets/0000.wizard-2.1.0-macos-universal.dmg",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let resp = http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
    // Metadata carries an ETag (role and version); a client that has it gets 304.
    let url = format!("{}/tuf/wizard/metadata/timestamp.json", s.url);
    let ts = http.get(&url).send().await.unwrap();
    let etag = ts.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("\"timestamp-"), "{etag}");
    let again = http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["cache-control"], "no-cache");
    let root = http
        .get(format!("{}/tuf/wizard/metadata/1.root.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(root.headers()["etag"], "\"root-1\"");
}

async fn export_and_verify(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let dmg = upload(&s, work.path(), "2.1.0", "macos-universal", "W.dmg", 1);
    upload(&s, work.path(), "2.1.0", "windows-x64", "W.msix", 2);
    s.approve("2.1.0");

    // Against the live server (tough as the client), with and without a pinned root.
    let v = s.cli_json(&["feed", "verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["root_pinned"], false);
    assert_eq!(v["targets"].as_array().unwrap().len(), 2);
    let root = s.trusted_root().await;
    let root_file = work.path().join("root.json");
    std::fs::write(&root_file, &root).unwrap();
    let v = s.cli_json(&["feed", "verify", "--root", root_file.to_str().unwrap()]);
    assert_eq!(v["root_pinned"], true);
    // A root from another installation is not trusted.
    let other = TestEnv::new(Backend::SqliteLocal).await;
    let other_s = other.serve();
    let other_root = other_s.trusted_root().await;
    let other_file = work.path().join("other-root.json");
    std::fs::write(&other_file, &other_root).unwrap();
    assert_refused(
        &s.cli(&["feed", "verify", "--root", other_file.to_str().unwrap()]),
        1,
        "does not verify",
    );

    // Export to static files; they verify as a directory.
    let out = work.path().join("export");
    let e = s.cli_json(&["feed", "export", out.to_str().unwrap()]);
    assert_eq!(e["target_files"], 2);
    assert_eq!(e["target_files_written"], 2);
    let sha = dmg["sha256"].as_str().unwrap();
    let target = out.join(format!("targets/{sha}.wizard-2.1.0-macos-universal.dmg"));
    assert_eq!(std::fs::read(&target).unwrap(), test_bytes(50_001, 1));
    // The live target, whole and in ranges, the first time from the store and then from
    // memory (the target cache): the same bytes either way.
    let http = s.http();
    let live = format!("/tuf/wizard/targets/{sha}.wizard-2.1.0-macos-universal.dmg");
    let want = test_bytes(50_001, 1);
    for _ in 0..2 {
        let full = http.get(&live).await;
        assert_eq!(full.status(), StatusCode::OK);
        assert_eq!(full.headers()["content-length"], "50001");
        assert_eq!(full.bytes().await.unwrap().as_ref(), &want[..]);
        let part = http.get_range(&live, "bytes=10-19").await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers()["content-range"], "bytes 10-19/50001");
        assert_eq!(part.bytes().await.unwrap().as_ref(), &want[10..20]);
        let resume = http.get_range(&live, "bytes=50000-").await;
        assert_eq!(resume.bytes().await.unwrap().as_ref(), &want[50_000..]);
    }
    let v = s.cli_json(&[
        "feed",
        "verify",
        out.to_str().unwrap(),
        "--root",
        root_file.to_str().unwrap(),
    ]);
    assert_eq!(v["ok"], true);
    // Exporting again writes no target twice.
    assert_eq!(
        s.cli_json(&["feed", "export", out.to_str().unwrap()])["target_files_written"],
        0
    );

    // Served unchanged by a plain static file server, python-tuf accepts it too.
    if let Some(python) = python_with_tuf() {
        let nginx_like = common::StaticServer::serve(&python, &out);
        let report = nginx_like
            .python_tuf(&python, &root_file, &work.path().join("static-client"))
            .unwrap_or_else(|e| panic!("python-tuf on the export: {e}"));
        assert_eq!(report["targets"].as_object().unwrap().len(), 2);
    }

    // A changed file in the export is caught and named.
    std::fs::write(&target, test_bytes(50_001, 7)).unwrap();
    let out_cli = s.cli(&[
        "feed",
        "verify",
        out.to_str().unwrap(),
        "--root",
        root_file.to_str().unwrap(),
    ]);
    assert_refused(&out_cli, 1, "1 target(s) failed verification");
    assert!(
        String::from_utf8_lossy(&out_cli.stdout).contains("BAD  wizard-2.1.0-macos-universal.dmg")
    );
}

/// Readers walk timestamp → snapshot → targets without pause while releases are approved:
/// every walk finds each file it was pointed to, with valid signatures, and the versions
/// only ever grow.
async fn concurrent_readers_see_consistent_sets(b: Backend) {
    use relops_tuf::{Root, Signed, Snapshot, Timestamp, verify_role};
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let base = format!("{}/tuf/wizard/metadata", s.url);
    let root_bytes = reqwest::get(format!("{base}/1.root.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let root: Signed<Root> = Signed::from_bytes(&root_bytes).unwrap();
    let root = std::sync::Arc::new(root.signed);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (base, root, stop) = (base.clone(), root.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let get = |url: String| {
                let http = http.clone();
                async move {
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK, "{url}");
                    r.bytes().await.unwrap()
                }
            };
            let (mut walks, mut last_ts, mut last_targets) = (0u32, 0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ts_bytes = get(format!("{base}/timestamp.json")).await;
                let raw: serde_json::Value = serde_json::from_slice(&ts_bytes).unwrap();
                verify_role(&raw, &root.keys, &root.roles["timestamp"]).unwrap();
                let ts: Signed<Timestamp> = Signed::from_bytes(&ts_bytes).unwrap();
                assert!(
                    ts.signed.common.version >= last_ts,
                    "timestamp went backwards"
                );
                last_ts = ts.signed.common.version;
                let sv = ts.signed.snapshot_version().unwrap();
                let snap_bytes = get(format!("{base}/{sv}.snapshot.json")).await;
                let raw: serde_json::Value = serde_json::from_slice(&snap_bytes).unwrap();
                verify_role(&raw, &root.keys, &root.roles["snapshot"]).unwrap();
                let snap: Signed<Snapshot> = Signed::from_bytes(&snap_bytes).unwrap();
                assert_eq!(snap.signed.common.version, sv);
                let tv = snap.signed.meta["targets.json"].version;
                let tgt_bytes = get(format!("{base}/{tv}.targets.json")).await;
                let raw: serde_json::Value = serde_json::from_slice(&tgt_bytes).unwrap();
                verify_role(&raw, &root.keys, &root.roles["targets"]).unwrap();
                assert_eq!(raw["signed"]["version"], tv);
                assert!(tv >= last_targets, "targets went backwards");
                last_targets = tv;
                walks += 1;
            }
            (walks, last_targets)
        }));
    }
    let work = tempfile::tempdir().unwrap();
    for (i, v) in ["2.0.0", "2.0.1", "2.0.2", "2.1.0", "2.1.1", "2.2.0"]
        .iter()
        .enumerate()
    {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        upload(
            &s,
            work.path(),
            v,
            "macos-universal",
            &format!("w{i}.dmg"),
            i as u8,
        );
        s.approve(v);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for r in readers {
        let (walks, last_targets) = r.await.unwrap();
        assert!(walks > 0);
        total += walks;
        assert!(last_targets >= 1);
    }
    // The final set lists the newest three versions.
    let last = reqwest::get(format!("{base}/timestamp.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ts: Signed<Timestamp> = Signed::from_bytes(&last).unwrap();
    assert!(
        ts.signed.common.version >= 7,
        "six approvals after the first set"
    );
    eprintln!("{total} consistent walks during six approvals");
}

async fn key_rotation_is_followed_by_clients(b: Backend) {
    let Some(python) = python_with_tuf() else {
        return;
    };
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    upload(&s, work.path(), "2.1.0", "macos-universal", "W.dmg", 1);
    s.ship("2.1.0");
    let root1 = s.trusted_root().await;
    let client = work.path().join("client");
    let before = python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
    assert_eq!(before["versions"]["root"], 1);
    let keys_before = s.cli_json(&["keys", "list"]);
    let sdk = s.updater(&root1, "2.0.0", &work.path().join("sdk"));
    assert!(sdk.check().await.unwrap().is_some());

    // Only the security engineer rotates keys.
    assert_refused(&s.cli(&["keys", "rotate", "root"]), 1, "key.rotate");
    let sec = s.token_with(&["security_engineer"]);
    let out = s.cli_as(&sec, &["keys", "rotate", "release"]);
    assert_refused(&out, 1, "cannot rotate `release`");
    let out = s.cli_as(&sec, &["keys", "rotate", "root", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["root_versions"], serde_json::json!([["wizard", 2]]));
    let keys_after = s.cli_json(&["keys", "list"]);
    assert_eq!(keys_after["keys"][0]["version"], 2);
    assert_ne!(
        keys_after["keys"][0]["key_ids"],
        keys_before["keys"][0]["key_ids"]
    );
    assert_eq!(keys_after["keys"][0]["key_ids"][0], r["key_id"]);
    assert_eq!(
        keys_after["keys"][1]["key_ids"], keys_before["keys"][1]["key_ids"],
        "targets key unchanged"
    );

    // A client that trusted root 1 follows to root 2; so does a fresh one.
    let after = python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
    assert_eq!(after["versions"]["root"], 2);
    assert_eq!(after["targets"].as_object().unwrap().len(), 1);
    let fresh = python_tuf_refresh(
        &python,
        &s.url,
        "wizard",
        &root1,
        &work.path().join("fresh"),
    )
    .unwrap();
    assert_eq!(fresh["versions"]["root"], 2);

    // Rotating an online key re-signs what it covers; clients still verify.
    let out = s.cli_as(&sec, &["keys", "rotate", "timestamp", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
    assert_eq!(after["versions"]["root"], 3);
    let v = s.cli_json(&["feed", "verify"]);
    assert_eq!(v["ok"], true);
    let u = sdk
        .check()
        .await
        .unwrap()
        .expect("the SDK follows both rotations");
    assert_eq!(u.version.to_string(), "2.1.0");
    sdk.download(&u).await.unwrap();

    // The old key files are kept, the new ones are current, and a restart serves the same.
    let keys_dir = env.path().join("keys");
    let retired = std::fs::read_dir(&keys_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".retired-"))
        .count();
    assert_eq!(retired, 2);
    assert!(!keys_dir.join("root.next.json").exists());
    let ts1 = reqwest::get(format!("{}/tuf/wizard/metadata/timestamp.json", s.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let data = env.path().to_path_buf();
    s.kill();
    let s = common::Server::start(&data, &env.admin_token);
    let ts2 = reqwest::get(format!("{}/tuf/wizard/metadata/timestamp.json", s.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(ts1, ts2, "a restart after rotation re-signs nothing");
    python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
}

/// k-of-n root: three root keys, two required. Two of them go offline; the feed keeps
/// working with its online keys, rotation waits until enough root keys are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_threshold_and_offline_root_keys() {
    let Some(python) = python_with_tuf() else {
        return;
    };
    let env = TestEnv::with_config(
        Backend::SqliteLocal,
        "[feed]\nroot_keys = 3\nroot_threshold = 2\n",
    )
    .await;
    let keys_dir = env.path().join("keys");
    for f in ["root.json", "root-2.json", "root-3.json"] {
        assert!(keys_dir.join(f).exists(), "{f}");
    }
    let s = env.serve();
    let root1 = s.trusted_root().await;
    let r: relops_tuf::Signed<relops_tuf::Root> = relops_tuf::Signed::from_bytes(&root1).unwrap();
    assert_eq!(r.signed.roles["root"].keyids.len(), 3);
    assert_eq!(r.signed.roles["root"].threshold, 2);
    assert_eq!(r.signatures.len(), 3);
    let work = tempfile::tempdir().unwrap();
    let client = work.path().join("client");
    python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();

    // Two root keys offline: the server starts and publishes with its online keys.
    let vault = work.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    for f in ["root-2.json", "root-3.json"] {
        std::fs::rename(keys_dir.join(f), vault.join(f)).unwrap();
    }
    let data = env.path().to_path_buf();
    s.kill();
    let s = common::Server::start(&data, &env.admin_token);
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    upload(&s, work.path(), "2.1.0", "macos-universal", "W.dmg", 1);
    s.approve("2.1.0");
    let got = python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
    assert_eq!(got["targets"].as_object().unwrap().len(), 1);

    // One of two required root keys present: rotation is refused, nothing changes.
    let sec = s.token_with(&["security_engineer"]);
    assert_refused(
        &s.cli_as(&sec, &["keys", "rotate", "timestamp"]),
        1,
        "needs 2 of its root keys, 1 are on this server",
    );
    assert!(!keys_dir.join("timestamp.next.json").exists());
    assert_eq!(s.cli_json(&["keys", "list"])["keys"][0]["version"], 1);

    // Back to two: the online key rotates; then root itself (old and new sets both reach 2).
    std::fs::rename(vault.join("root-2.json"), keys_dir.join("root-2.json")).unwrap();
    let data = env.path().to_path_buf();
    s.kill();
    let s = common::Server::start(&data, &env.admin_token);
    let out = s.cli_as(&sec, &["keys", "rotate", "timestamp", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.cli_as(&sec, &["keys", "rotate", "root", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = python_tuf_refresh(&python, &s.url, "wizard", &root1, &client).unwrap();
    assert_eq!(got["versions"]["root"], 3);
    let fresh = python_tuf_refresh(
        &python,
        &s.url,
        "wizard",
        &root1,
        &work.path().join("fresh"),
    )
    .unwrap();
    assert_eq!(fresh["versions"]["root"], 3);
    let keys = s.cli_json(&["keys", "list"]);
    assert_eq!(keys["keys"][0]["key_ids"].as_array().unwrap().len(), 3);
    assert_eq!(keys["keys"][0]["threshold"], 2);
}

async fn release_notes_are_linked_from_the_feed(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    upload(&s, work.path(), "2.1.0", "macos-universal", "W.dmg", 1);
    let notes = work.path().join("notes.md");
    let text = "# WIZARD 2.1.0\n\n- Projekte öffnen schneller\n- Fix: Absturz beim Export\n";
    std::fs::write(&notes, text).unwrap();
    let support = s.token_with(&["support_lead"]);
    let qa = s.token_with(&["qa_lead"]);
    assert_refused(
        &s.cli_as(&qa, &["release", "notes", "2.1.0", notes.to_str().unwrap()]),
        1,
        "release.notes",
    );
    let empty = work.path().join("empty.md");
    std::fs::write(&empty, "  \n").unwrap();
    assert_refused(
        &s.cli_as(
            &support,
            &["release", "notes", "2.1.0", empty.to_str().unwrap()],
        ),
        1,
        "empty",
    );
    let binary = work.path().join("bin.md");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert_refused(
        &s.cli_as(
            &support,
            &["release", "notes", "2.1.0", binary.to_str().unwrap()],
        ),
        1,
        "UTF-8",
    );
    let out = s.cli_as(
        &support,
        &[
            "release",
            "notes",
            "2.1.0",
            notes.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = s.cli(&["release", "notes", "2.1.0"]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap(), text);

    // Public only once the release is published.
    let public = format!("{}/tuf/wizard/notes/2.1.0.md", s.url);
    assert_eq!(
        reqwest::get(&public).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    s.approve("2.1.0");
    let resp = reqwest::get(&public).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), text);

    // The feed links them, and the SDK resolves the link.
    s.roll_out("2.1.0");
    let root = s.trusted_root().await;
    let up = s.updater(&root, "2.0.0", &work.path().join("sdk"));
    let u = up.check().await.unwrap().unwrap();
    assert_eq!(u.notes_url.as_deref(), Some(public.as_str()));
}
