//! Artifacts end to end (R-REL-6, R-REL-7): streaming upload with digest and release
//! signature, refusals that store nothing, downloads with ranges, `sha256sum -c`, the
//! critical-fix rule after the freeze, tamper detection, and a crash mid-upload.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Backend, TestEnv, assert_refused, test_bytes};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

backend_tests!(
    upload_download_checksums_and_signature,
    refusals_store_nothing,
    freeze_then_critical_fix_only,
    verify_names_a_tampered_blob,
    kill_during_upload_leaves_nothing,
    authenticode_signer_read_from_the_package
);

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn release_public_key(env: &TestEnv) -> VerifyingKey {
    let key: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("keys/release.json")).unwrap())
            .unwrap();
    let bytes: [u8; 32] = hex::decode(key["keyval"]["public"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

/// No blob at all, visible or staged, and no artifact row.
async fn assert_nothing_stored(env: &TestEnv, s: &common::Server, version: &str) {
    let list = s.cli_json(&["artifact", "list", version]);
    assert_eq!(
        list["artifacts"],
        serde_json::json!([]),
        "an artifact became visible"
    );
    let blobs = env.blobs();
    assert_eq!(
        blobs.keys("blobs").await.unwrap(),
        Vec::<String>::new(),
        "finished blob left"
    );
    assert_eq!(
        blobs.keys("staging").await.unwrap(),
        Vec::<String>::new(),
        "staging blob left"
    );
    assert!(
        blobs.local_staging_files().is_empty(),
        "partial staging file left"
    );
}

async fn upload_download_checksums_and_signature(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let work = tempfile::tempdir().unwrap();
    let dmg = test_bytes(3 * 1024 * 1024 + 17, 1);
    let msi = test_bytes(1024 * 1024, 2);
    let dmg_path = write_file(work.path(), "wizard-2.1.0-macos-universal.dmg", &dmg);
    let msi_path = write_file(work.path(), "WIZARD Setup 2.1.0.msi", &msi);

    let a = s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "macos-universal",
        dmg_path.to_str().unwrap(),
        "--sha256",
        &sha_hex(&dmg).to_uppercase(),
        "--notarization-id",
        "2efe2717-52ef-43a5-96dc-0797e4ca1041",
    ]);
    assert_eq!(a["sha256"], sha_hex(&dmg));
    assert_eq!(a["size"], dmg.len() as u64);
    assert_eq!(a["kind"], "dmg");
    assert_eq!(a["notarization_id"], "2efe2717-52ef-43a5-96dc-0797e4ca1041");
    let m = s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        msi_path.to_str().unwrap(),
        "--authenticode-signer",
        "CN=Wizard GmbH",
    ]);
    assert_eq!(m["kind"], "msi");
    assert_eq!(m["authenticode_signer"], "CN=Wizard GmbH");

    // The release key's signature covers product, version, platform, name, size, digest.
    let key = release_public_key(&env);
    for (art, platform, bytes) in [(&a, "macos-universal", &dmg), (&m, "windows-x64", &msi)] {
        let msg = format!(
            "relops-artifact-v1\nwizard\n2.1.0\n{platform}\n{}\n{}\n{}\n",
            art["name"].as_str().unwrap(),
            bytes.len(),
            sha_hex(bytes)
        );
        let sig: [u8; 64] = hex::decode(art["signature"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        key.verify(msg.as_bytes(), &Signature::from_bytes(&sig))
            .expect("signature verifies");
    }

    let list = s.cli_json(&["artifact", "list", "2.1.0"]);
    let names: Vec<&str> = list["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["WIZARD Setup 2.1.0.msi", "wizard-2.1.0-macos-universal.dmg"]
    );
    let summary = s.cli_json(&["release", "list"]);
    assert_eq!(summary["releases"][0]["artifact_count"], 2);
    assert_eq!(
        summary["releases"][0]["platforms"],
        serde_json::json!(["macos-universal", "windows-x64"])
    );

    // Download both and the checksums into a fresh directory; `sha256sum -c` accepts them.
    let dl = tempfile::tempdir().unwrap();
    for name in names {
        let out = dl.path().join(name);
        s.cli_json(&[
            "artifact",
            "download",
            "2.1.0",
            name,
            "-o",
            out.to_str().unwrap(),
        ]);
    }
    let sums = dl.path().join("SHA256SUMS");
    let sums_arg = sums.to_str().unwrap();
    let download_sums = |extra: &[&str]| {
        let mut args = vec!["artifact", "download", "2.1.0", "--sums", "-o", sums_arg];
        args.extend_from_slice(extra);
        s.cli(&args)
    };
    assert!(download_sums(&[]).status.success());
    // A second download keeps the existing file unless --force.
    let before = std::fs::read(&sums).unwrap();
    std::fs::write(&sums, b"kept").unwrap();
    common::assert_refused(&download_sums(&[]), 1, "exists: pass --force to replace it");
    assert_eq!(std::fs::read(&sums).unwrap(), b"kept");
    // With --json, errors are the API's {"code","error"} on stderr: the server's own code
    // for a refusal, `failed` for one on this side.
    let json_err = |out: &std::process::Output| -> serde_json::Value {
        assert_eq!(out.status.code(), Some(1));
        serde_json::from_slice(&out.stderr).unwrap()
    };
    let here = json_err(&download_sums(&["--json"]));
    assert_eq!(here["code"], "failed");
    assert!(here["error"].as_str().unwrap().contains("--force"));
    let server = json_err(&s.cli(&[
        "release",
        "create",
        "2.1",
        "--go-live",
        "2027-03-15",
        "--json",
    ]));
    assert_eq!(server["code"], "bad_request", "{server}");
    assert!(
        server["error"]
            .as_str()
            .unwrap()
            .contains("not a release version")
    );
    assert!(download_sums(&["--force"]).status.success());
    assert_eq!(std::fs::read(&sums).unwrap(), before);
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(dl.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "sha256sum -c: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&check.stdout)
            .matches(": OK")
            .count(),
        2
    );
    // And it fails when a file is changed, so the check above is real.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dl.path().join("WIZARD Setup 2.1.0.msi"))
        .unwrap();
    f.write_all(b"x").unwrap();
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dl.path())
        .output()
        .unwrap();
    assert!(!check.status.success());

    // Ranges.
    let http = s.http();
    let path = "/v1/releases/2.1.0/artifacts/wizard-2.1.0-macos-universal.dmg";
    let full = http.get(path).await;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(
        full.headers()["content-length"],
        dmg.len().to_string().as_str()
    );
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let part = http.get_range(path, "bytes=10-19").await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", dmg.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &dmg[10..20]);
    let tail = http.get_range(path, "bytes=-5").await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &dmg[dmg.len() - 5..]);
    let resume = http.get_range(path, "bytes=1000000-").await;
    assert_eq!(resume.bytes().await.unwrap().as_ref(), &dmg[1_000_000..]);
    let bad = http.get_range(path, "bytes=99999999-").await;
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // HTTP semantics (issue 15, 10): a stale `If-Range` gets the whole file (a resumed
    // download must not splice new bytes onto old ones), a matching one the range; an
    // unknown range unit is ignored; `If-None-Match` of the ETag is 304.
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    let ranged = |if_range: &str| {
        http.req(reqwest::Method::GET, path)
            .header("range", "bytes=10-19")
            .header("if-range", if_range.to_owned())
            .send()
    };
    let stale = ranged("\"0000\"").await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap().len(), dmg.len());
    assert_eq!(
        ranged(&etag).await.unwrap().status(),
        StatusCode::PARTIAL_CONTENT
    );
    let items = http.get_range(path, "items=0-5").await;
    assert_eq!(items.status(), StatusCode::OK);
    let cached = http
        .req(reqwest::Method::GET, path)
        .header("if-none-match", format!("W/\"x\", {etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());
    // The scheme of `Authorization` is case-insensitive.
    let lower = reqwest::Client::new()
        .get(format!("{}{path}", s.url))
        .header("authorization", format!("bearer {}", env.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);
    assert_eq!(
        http.get("/v1/releases/2.1.0/artifacts/nope.dmg")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let verify = s.cli(&["artifact", "verify", "2.1.0"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

async fn refusals_store_nothing(b: Backend) {
    let env = TestEnv::with_config(b, "max_artifact_bytes = 100000").await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let http = s.http();
    let body = test_bytes(5000, 3);
    let good = sha_hex(&body);
    let wrong = sha_hex(b"something else");
    let long = format!("{}.dmg", "a".repeat(252));
    let cases: Vec<(String, Vec<u8>, StatusCode, &str)> = vec![
        (
            format!("wizard.dmg?platform=macos-universal&sha256={wrong}"),
            body.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHA-256 mismatch",
        ),
        (
            "wizard.dmg?platform=macos-universal&sha256=xyz".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "not a SHA-256",
        ),
        (
            "wizard.dmg?platform=macos".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "unknown platform",
        ),
        (
            "wizard.dmg?platform=windows-x64".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "macos-*",
        ),
        (
            "wizard.pkg?platform=macos-universal".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "no known artifact extension",
        ),
        (
            "wizard.exe?platform=macos-universal".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "windows-*",
        ),
        (
            "..%2F..%2Fetc%2Fwizard.dmg?platform=macos-universal".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "path separator",
        ),
        (
            "wizard..dmg?platform=macos-universal".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "traversal",
        ),
        (
            "wiz%0Aard.dmg?platform=macos-universal".into(),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "control character",
        ),
        (
            format!("{long}?platform=macos-universal"),
            body.clone(),
            StatusCode::BAD_REQUEST,
            "255 bytes",
        ),
        (
            "wizard.dmg?platform=macos-universal".into(),
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            "wizard.dmg?platform=macos-universal".into(),
            test_bytes(100001, 4),
            StatusCode::PAYLOAD_TOO_LARGE,
            "max_artifact_bytes",
        ),
    ];
    for (path, bytes, status, needle) in cases {
        let resp = http
            .put_bytes(&format!("/v1/releases/2.1.0/artifacts/{path}"), bytes)
            .await;
        assert_eq!(resp.status(), status, "{path}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(needle),
            "{path}: {err}"
        );
    }
    // Too large without a declared length (chunked): refused while streaming. Sent over a
    // raw socket so the whole body is written before the answer is read.
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    let mut req = format!(
        "PUT /v1/releases/2.1.0/artifacts/wizard.dmg?platform=macos-universal HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.token
    )
    .into_bytes();
    for i in 0..30 {
        req.extend_from_slice(format!("{:x}\r\n", 5000).as_bytes());
        req.extend_from_slice(&test_bytes(5000, i));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    sock.write_all(&req).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut sock, &mut answer).ok();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let resp = http
        .put_bytes(
            "/v1/releases/9.9.9/artifacts/wizard.dmg?platform=macos-universal",
            body.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let qa = s.token_with(&["qa_lead"]);
    let resp = http.with_token(&qa);
    let resp = resp
        .put_bytes(
            "/v1/releases/2.1.0/artifacts/wizard.dmg?platform=macos-universal",
            body.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_nothing_stored(&env, &s, "2.1.0").await;

    // The CLI says the same and exits 1.
    let work = tempfile::tempdir().unwrap();
    let f = write_file(work.path(), "wizard.dmg", &body);
    assert_refused(
        &s.cli(&[
            "artifact",
            "upload",
            "2.1.0",
            "--platform",
            "macos-universal",
            f.to_str().unwrap(),
            "--sha256",
            &wrong,
        ]),
        1,
        "SHA-256 mismatch",
    );
    assert_refused(
        &s.cli(&[
            "artifact",
            "upload",
            "2.1.0",
            "--platform",
            "macos-universal",
            "/nonexistent.dmg",
        ]),
        2,
        "cannot open",
    );
    assert_nothing_stored(&env, &s, "2.1.0").await;
    // And the right digest is accepted.
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "macos-universal",
        f.to_str().unwrap(),
        "--sha256",
        &good,
    ]);
}

async fn freeze_then_critical_fix_only(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let work = tempfile::tempdir().unwrap();
    let v1 = write_file(work.path(), "wizard.dmg", &test_bytes(4096, 5));
    let up = |token: &str, extra: &[&str]| {
        let mut args = vec![
            "artifact",
            "upload",
            "2.1.0",
            "--platform",
            "macos-universal",
            v1.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s.cli_as(token, &args)
    };
    assert!(up(&s.token, &[]).status.success());
    // Before the freeze a replacement is free.
    std::fs::write(&v1, test_bytes(4096, 6)).unwrap();
    assert!(up(&s.token, &["--notarization-id", "N-1"]).status.success());
    s.cli_json(&["release", "freeze", "2.1.0"]);

    // A refusal is shown as the server's message however large the file (the CLI asks
    // before it sends: a server that refuses mid-body only breaks the connection).
    let big = write_file(work.path(), "big.dmg", &vec![7u8; 48 << 20]);
    assert_refused(
        &s.cli(&[
            "artifact",
            "upload",
            "2.1.0",
            "--platform",
            "macos-universal",
            big.to_str().unwrap(),
        ]),
        1,
        "is a critical fix; pass --critical-fix",
    );
    std::fs::write(&v1, test_bytes(4096, 7)).unwrap();
    assert_refused(&up(&s.token, &[]), 1, "--critical-fix");
    assert_refused(
        &up(&s.token, &["--critical-fix", "--reason", "crash on open"]),
        1,
        "artifact.critical_fix",
    );
    let rm = s.token_with(&["release_manager"]);
    assert_eq!(
        up(&rm, &["--critical-fix"]).status.code(),
        Some(2),
        "--critical-fix needs --reason"
    );
    let resp = s.http().with_token(&rm)
        .put_bytes("/v1/releases/2.1.0/artifacts/wizard.dmg?platform=macos-universal&critical_fix=true&reason=%20", test_bytes(4096, 7))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CONFLICT,
        "a blank reason is no reason"
    );
    let list = s.cli_json(&["artifact", "list", "2.1.0"]);
    assert_eq!(
        list["artifacts"][0]["sha256"],
        sha_hex(&test_bytes(4096, 6)),
        "refused uploads changed the artifact"
    );

    // The replaced file was notarized: the new one needs its own notarization id.
    assert_refused(
        &up(
            &rm,
            &[
                "--critical-fix",
                "--reason",
                "crash on project open (WIZ-512)",
            ],
        ),
        1,
        "needs its own: pass --notarization-id (it had N-1)",
    );
    let out = up(
        &rm,
        &[
            "--critical-fix",
            "--reason",
            "crash on project open (WIZ-512)",
            "--notarization-id",
            "N-2",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["critical_fix_reason"], "crash on project open (WIZ-512)");
    assert_eq!(a["notarization_id"], "N-2");
    let shown = String::from_utf8(s.cli(&["release", "show", "2.1.0"]).stdout).unwrap();
    assert!(
        shown.contains("PLATFORM SIGNING") && shown.contains("notarized N-2"),
        "{shown}"
    );
    assert_eq!(a["replaces"], 2);
    assert_eq!(a["sha256"], sha_hex(&test_bytes(4096, 7)));
    let sums = s
        .http()
        .get("/v1/releases/2.1.0/SHA256SUMS")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        sums,
        format!("{}  wizard.dmg\n", sha_hex(&test_bytes(4096, 7)))
    );
    // A new artifact after the freeze is a critical fix too.
    let msi = write_file(work.path(), "wizard.msi", &test_bytes(100, 8));
    assert_refused(
        &s.cli_as(
            &rm,
            &[
                "artifact",
                "upload",
                "2.1.0",
                "--platform",
                "windows-x64",
                msi.to_str().unwrap(),
            ],
        ),
        1,
        "critical fix",
    );
}

async fn verify_names_a_tampered_blob(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let work = tempfile::tempdir().unwrap();
    let dmg = write_file(work.path(), "wizard.dmg", &test_bytes(70_000, 9));
    let msi = write_file(work.path(), "wizard.msi", &test_bytes(70_000, 10));
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "macos-universal",
        dmg.to_str().unwrap(),
    ]);
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        msi.to_str().unwrap(),
    ]);
    assert!(s.cli(&["artifact", "verify", "2.1.0"]).status.success());

    // Flip bytes of the stored .msi behind the server's back.
    let mut tampered = test_bytes(70_000, 10);
    tampered[1234] ^= 0xff;
    let key = format!("blobs/sha256/{}", sha_hex(&test_bytes(70_000, 10)));
    env.blobs().put_raw(&key, tampered.into()).await.unwrap();

    let out = s.cli(&["artifact", "verify", "2.1.0"]);
    assert_refused(&out, 1, "wizard.msi");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("wizard.msi") && l.contains("BAD")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("wizard.dmg") && l.contains("ok")),
        "{stdout}"
    );
    let json = s.cli(&["artifact", "verify", "2.1.0", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let bad = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "wizard.msi")
        .unwrap();
    assert!(
        bad["problem"].as_str().unwrap().contains("SHA-256"),
        "{bad}"
    );

    // Served (issue 15, 9): relops never knowingly sends bytes that are not what it signed.
    // A download of the changed file is cut off before its last bytes (the client sees a
    // body shorter than its length); the untouched one downloads whole.
    let http = s.http();
    let whole = http
        .get("/v1/releases/2.1.0/artifacts/wizard.dmg")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(whole.as_ref(), test_bytes(70_000, 9).as_slice());
    let cut = http
        .req(
            reqwest::Method::GET,
            "/v1/releases/2.1.0/artifacts/wizard.msi",
        )
        .send()
        .await;
    // Cut off before or after the head went out, depending on how the file was read.
    if let Ok(resp) = cut {
        match resp.bytes().await {
            Ok(b) => panic!("{} bytes of a tampered file arrived whole", b.len()),
            Err(e) => assert!(e.is_body() || e.is_decode() || e.is_request(), "{e}"),
        }
    }
}

async fn kill_during_upload_leaves_nothing(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let total = 40 * 1024 * 1024;
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        sock,
        "PUT /v1/releases/2.1.0/artifacts/wizard.dmg?platform=macos-universal HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nContent-Length: {total}\r\n\r\n",
        s.token
    )
    .unwrap();
    // Half the body: more than one multipart part, so the store has staged data.
    let half = test_bytes(total / 2, 11);
    sock.write_all(&half).unwrap();
    sock.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.kill();
    drop(sock);

    let s = env.serve();
    assert_nothing_stored(&env, &s, "2.1.0").await;
    // The store works normally afterwards.
    let work = tempfile::tempdir().unwrap();
    let f = write_file(work.path(), "wizard.dmg", &test_bytes(10_000, 12));
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "macos-universal",
        f.to_str().unwrap(),
    ]);
    assert_eq!(env.blobs().keys("blobs").await.unwrap().len(), 1);
}

/// Uploads `file` to 2.1.0 as a Windows package, with `claim` as its signer if given.
fn upload_msi(s: &common::Server, file: &str, claim: Option<&str>) -> std::process::Output {
    let mut args = vec![
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        file,
    ];
    if let Some(c) = claim {
        args.extend(["--authenticode-signer", c]);
    }
    s.cli(&args)
}

/// R-REL-6: the Authenticode signer of an `.msi` or `.exe` is read from the file (wixl-built
/// packages and a PE program, osslsigncode-signed fixtures): a claim it contradicts, or a
/// claim on an unsigned file, is refused with nothing stored; without a claim the file's
/// signer is recorded.
async fn authenticode_signer_read_from_the_package(b: Backend) {
    let env = TestEnv::new(b.clone()).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let fixture = |n: &str| common::report(n);
    let up = |file: &str, claim: Option<&str>| upload_msi(&s, file, claim);
    assert_refused(
        &up(&fixture("wizard-other.msi"), Some("CN=Wizard GmbH")),
        1,
        "wizard-other.msi is signed by `CN=Mallory Ltd`, not by `CN=Wizard GmbH`",
    );
    assert_refused(
        &up(&fixture("wizard-unsigned.msi"), Some("CN=Wizard GmbH")),
        1,
        "wizard-unsigned.msi carries no Authenticode signature",
    );
    assert_nothing_stored(&env, &s, "2.1.0").await;
    let out = up(&fixture("wizard-signed.msi"), Some("CN=Wizard GmbH"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = s.cli_json(&["artifact", "list", "2.1.0"]);
    let signer = list["artifacts"][0]["authenticode_signer"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        signer.contains("CN=Wizard GmbH") && signer.contains("O=Wizard GmbH"),
        "the file's own subject is recorded: {signer}"
    );
    // No claim: the package's signer is the evidence.
    let renamed = tempfile::tempdir().unwrap();
    let copy = renamed.path().join("WIZARD-2.1.0.msi");
    std::fs::copy(fixture("wizard-signed.msi"), &copy).unwrap();
    let a = s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(a["authenticode_signer"], signer.as_str());
    // A setup program (.exe, a PE file signed by osslsigncode) is read the same way.
    assert_refused(
        &up(&fixture("wizard-setup-other.exe"), Some("CN=Wizard GmbH")),
        1,
        "wizard-setup-other.exe is signed by `CN=Mallory Ltd`, not by `CN=Wizard GmbH`",
    );
    assert_refused(
        &up(
            &fixture("wizard-setup-unsigned.exe"),
            Some("CN=Wizard GmbH"),
        ),
        1,
        "wizard-setup-unsigned.exe carries no Authenticode signature",
    );
    let out = up(&fixture("wizard-setup-signed.exe"), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = s.cli_json(&["artifact", "list", "2.1.0"]);
    let recorded = list["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "wizard-setup-signed.exe")
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        recorded["authenticode_signer"]
            .as_str()
            .is_some_and(|r| r.contains("CN=Wizard GmbH") && r.contains("O=Wizard GmbH")),
        "{recorded}"
    );

    // With the company's signer configured, a package signed by anyone else is refused
    // even without a claim, and so is a claim of another signer.
    let env = TestEnv::with_config(b, "[gates]\nauthenticode_subject = \"CN=Wizard GmbH\"\n").await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let up = |file: &str, claim: Option<&str>| upload_msi(&s, file, claim);
    assert_refused(
        &up(&fixture("wizard-other.msi"), None),
        1,
        "not by the company's signer `CN=Wizard GmbH`",
    );
    assert_refused(
        &up(&fixture("wizard-signed.msi"), Some("CN=Mallory Ltd")),
        1,
        "is not the company's signer",
    );
    assert!(up(&fixture("wizard-signed.msi"), None).status.success());
}
