//! Issue 29: the feeds other updaters read — Sparkle's appcast, electron-updater's
//! `latest.yml`, Velopack's `releases.{channel}.json` — follow the same rollout, halt and
//! rollback as the TUF feed. Each document is read the way its updater reads it and every
//! file it names is checked by an independent implementation (`tests/python/updater_feeds.py`:
//! Ed25519 by `cryptography` against the key `relops keys list` prints, SHA-512 and SHA-1 by
//! `hashlib`, YAML by PyYAML).

mod common;

use std::path::Path;

use common::{Backend, Server, TestEnv, python_with, test_bytes};
use reqwest::StatusCode;
use serde_json::Value;

backend_tests!(
    feeds_follow_rollout_halt_and_rollback,
    velopack_client_follows_the_feed,
    older_artifacts_are_signed_at_start
);

/// Runs the reader for `kind` (`sparkle`, `electron`, `velopack`) against `url`.
fn read(python: &Path, kind: &str, url: &str, extra: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/updater_feeds.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([kind, url])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sparkle_key(s: &Server) -> String {
    let keys = s.cli_json(&["keys", "list"]);
    let release = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "release")
        .unwrap();
    release["public_keys_base64"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

fn versions(items: &Value, field: &str) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

/// Every file a reader checked passed every check it made.
fn all_ok(items: &Value) {
    for i in items.as_array().unwrap() {
        for (k, v) in i.as_object().unwrap() {
            if k.ends_with("_ok") && !v.is_null() {
                assert_eq!(v, true, "{k} in {i}");
            }
        }
    }
}

/// Uploads one file of every kind the updaters use for `version`; 2.1.0's disk image needs
/// macOS 12.0.
fn artifacts(s: &Server, dir: &Path, version: &str, seed: u8) {
    for (i, (platform, name)) in [
        ("macos-universal", format!("WIZARD-{version}.dmg")),
        ("macos-universal", format!("WIZARD-{version}-mac.zip")),
        ("windows-x64", format!("WIZARD Setup {version}.exe")),
        ("windows-x64", format!("WIZARD-{version}-full.nupkg")),
        ("windows-x64", format!("WIZARD-{version}.msi")),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = test_bytes(20_000 + i * 1000, seed.wrapping_add(i as u8));
        if version == "2.1.0" && name.ends_with(".dmg") {
            let path = dir.join(&name);
            std::fs::write(&path, &bytes).unwrap();
            let refused = s.cli(&[
                "artifact",
                "upload",
                version,
                "--platform",
                platform,
                path.to_str().unwrap(),
                "--minimum-os",
                "twelve",
            ]);
            common::assert_refused(&refused, 1, "not an operating system version");
            s.upload_with(
                dir,
                version,
                platform,
                &name,
                &bytes,
                &["--minimum-os", "12.0"],
            );
        } else {
            s.upload(dir, version, platform, &name, &bytes);
        }
    }
}

/// 2.0.0 released to everyone, 2.1.0 at 25 % of `stable` (in full on `internal`), each with
/// a file of every kind the updaters use.
fn two_releases(s: &Server, dir: &Path) {
    s.cli_json(&["release", "create", "2.0.0", "--go-live", "2027-03-01"]);
    artifacts(s, dir, "2.0.0", 1);
    s.ship("2.0.0");
    s.cli_json(&[
        "release",
        "create",
        "2.1.0",
        "--go-live",
        "2027-03-15",
        "--security",
        "CVE-2027-1234",
    ]);
    artifacts(s, dir, "2.1.0", 50);
    s.approve("2.1.0");
    s.cli_json(&["rollout", "start", "2.1.0"]);
    s.cli_json(&[
        "rollout",
        "advance",
        "2.1.0",
        "--force",
        "--reason",
        "test: to 25 %",
    ]);
}

/// An install id `/v1/update` offers `version` to (inside its rollout), or one it does not.
async fn install_id(s: &Server, from: &str, version: &str, inside: bool) -> String {
    let http = reqwest::Client::new();
    for i in 0..2000 {
        let id = format!("install-{i}");
        let r = http
            .get(format!(
                "{}/v1/update?product=wizard&platform=windows-x64&channel=stable&version={from}&install_id={id}",
                s.url
            ))
            .send()
            .await
            .unwrap();
        let offered = match r.status() {
            StatusCode::NO_CONTENT => None,
            _ => Some(r.json::<Value>().await.unwrap()["version"].clone()),
        };
        if offered.is_some_and(|v| v == version) == inside {
            return id;
        }
    }
    panic!(
        "no install id {} the rollout of {version}",
        if inside { "inside" } else { "outside" }
    );
}

async fn feeds_follow_rollout_halt_and_rollback(b: Backend) {
    let Some(python) = python_with("cryptography, yaml") else {
        return;
    };
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let key = sparkle_key(&s);
    let feeds = format!("{}/feeds/wizard", s.url);
    let appcast = format!("{feeds}/stable/appcast.xml");
    let latest = format!("{feeds}/stable/latest.yml");

    // Nothing released yet: the updaters are told so, not served an empty promise.
    let r = reqwest::get(&latest).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("rollout start"),
        "{body}"
    );

    two_releases(&s, work.path());

    // Sparkle: an app that does not say who it is sees the release everyone is offered;
    // the pilot channel sees the rollout in full, newest first.
    let cast = read(&python, "sparkle", &appcast, &[&key]);
    all_ok(&cast["items"]);
    assert_eq!(versions(&cast["items"], "version"), ["2.0.0"]);
    assert!(cast["items"][0]["url"].as_str().unwrap().ends_with(".dmg"));
    assert_eq!(cast["items"][0]["notes_ok"], true);
    assert_eq!(cast["cache"], "no-cache");
    let pilot = read(
        &python,
        "sparkle",
        &format!("{feeds}/internal/appcast.xml"),
        &[&key],
    );
    all_ok(&pilot["items"]);
    assert_eq!(versions(&pilot["items"], "version"), ["2.1.0", "2.0.0"]);
    // 2.1.0 fixes an advisory and needs macOS 12: Sparkle is told both; 2.0.0 neither.
    let first = &pilot["items"][0];
    assert_eq!(
        (&first["minimum_os"], &first["critical"]),
        (&Value::from("12.0"), &Value::from(true)),
        "{pilot}"
    );
    let second = &pilot["items"][1];
    assert_eq!(
        (&second["minimum_os"], &second["critical"]),
        (&Value::Null, &Value::from(false)),
        "{pilot}"
    );
    // An install that names itself gets exactly what /v1/update offers it.
    let inside = install_id(&s, "2.0.0", "2.1.0", true).await;
    let outside = install_id(&s, "2.0.0", "2.1.0", false).await;
    let named = read(
        &python,
        "sparkle",
        &format!("{appcast}?platform=macos-universal&install={inside}"),
        &[&key],
    );
    assert_eq!(versions(&named["items"], "version"), ["2.1.0", "2.0.0"]);
    assert_eq!(named["cache"], "private, no-cache");
    let win = read(
        &python,
        "sparkle",
        &format!("{appcast}?platform=windows-x64&install={outside}"),
        &[&key],
    );
    all_ok(&win["items"]);
    assert_eq!(versions(&win["items"], "version"), ["2.0.0"]);
    assert!(win["items"][0]["url"].as_str().unwrap().ends_with(".exe"));

    // electron-updater: the newest rollout at its percentage.
    let yml = read(&python, "electron", &latest, &[]);
    all_ok(&yml["files"]);
    assert_eq!(yml["version"], "2.1.0");
    assert_eq!(yml["stagingPercentage"], 25);
    assert_eq!(
        yml["files"][0]["url"], "wizard-2.1.0-windows-x64.exe",
        "{yml}"
    );
    let mac = read(
        &python,
        "electron",
        &format!("{feeds}/stable/latest-mac.yml"),
        &[],
    );
    all_ok(&mac["files"]);
    let mac_files: Vec<&str> = mac["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        mac_files,
        [
            "wizard-2.1.0-macos-universal.zip",
            "wizard-2.1.0-macos-universal.dmg"
        ]
    );

    // Velopack asks with its version and staging id: the SDK's decision.
    let velopack = |version: &str, id: &str| {
        format!(
            "{feeds}/stable/releases.stable.json?localVersion={version}&id=wizard&stagingId={id}"
        )
    };
    let v = read(&python, "velopack", &velopack("2.0.0", &inside), &[]);
    all_ok(&v["assets"]);
    assert_eq!(versions(&v["assets"], "Version"), ["2.1.0"]);
    assert_eq!(v["assets"][0]["Type"], "Full");
    let v = read(&python, "velopack", &velopack("2.0.0", &outside), &[]);
    assert_eq!(v["assets"], serde_json::json!([]));
    // The path form, for a Velopack source URL that cannot carry `?platform=`.
    let v = read(
        &python,
        "velopack",
        &format!(
            "{feeds}/stable/windows-x64/releases.stable.json?localVersion=1.9.0&stagingId={outside}"
        ),
        &[],
    );
    all_ok(&v["assets"]);
    assert_eq!(versions(&v["assets"], "Version"), ["2.0.0"]);

    // `relops feed export`, served by a plain static server laid out as docs/updaters.md
    // says (DIR at /tuf/wizard/, DIR/feeds at /feeds/wizard/): the same channel-wide
    // documents, every file and link resolving.
    let site = work.path().join("site");
    let dir = site.join("tuf/wizard");
    std::fs::create_dir_all(site.join("feeds")).unwrap();
    let e = s.cli_json(&["feed", "export", dir.to_str().unwrap()]);
    let docs = e["updater_documents"].as_array().unwrap();
    assert!(docs.iter().any(|d| d == "feeds/stable/latest.yml"), "{e}");
    assert!(
        docs.iter()
            .any(|d| d == "feeds/stable/windows-x64/releases.stable.json"),
        "{e}"
    );
    assert!(
        !docs.iter().any(|d| d == "feeds/stable/latest-linux.yml"),
        "no Linux release: {e}"
    );
    std::os::unix::fs::symlink("../tuf/wizard/feeds", site.join("feeds/wizard")).unwrap();
    let cdn = common::StaticServer::serve(&python, &site);
    let exported = format!("{}/feeds/wizard/stable", cdn.base);
    let cast = read(
        &python,
        "sparkle",
        &format!("{exported}/appcast.xml"),
        &[&key],
    );
    all_ok(&cast["items"]);
    assert_eq!(cast["items"][0]["notes_ok"], true);
    assert_eq!(versions(&cast["items"], "version"), ["2.0.0"]);
    let mac_export = read(
        &python,
        "electron",
        &format!("{exported}/latest-mac.yml"),
        &[],
    );
    all_ok(&mac_export["files"]);
    assert_eq!(
        (&mac_export["version"], &mac_export["stagingPercentage"]),
        (&"2.1.0".into(), &25.into())
    );
    let v = read(
        &python,
        "velopack",
        &format!("{exported}/windows-x64/releases.stable.json"),
        &[],
    );
    all_ok(&v["assets"]);
    assert_eq!(versions(&v["assets"], "Version"), ["2.0.0"]);

    // Caching: the entity tag answers 304 until the rollout changes.
    let etag = yml["etag"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let again = http
        .get(&latest)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // A halt: nobody new gets 2.1.0 from any feed; electron-updater keeps the version
    // named at 0 %, so installs on it are not sent back.
    s.cli_json(&["rollout", "halt", "2.1.0", "--reason", "crash spike"]);
    let yml = read(&python, "electron", &latest, &[]);
    assert_eq!(yml["version"], "2.1.0");
    assert_eq!(yml["stagingPercentage"], 0);
    assert_ne!(yml["etag"].as_str().unwrap(), etag);
    let changed = http
        .get(&latest)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let pilot = read(
        &python,
        "sparkle",
        &format!("{feeds}/internal/appcast.xml"),
        &[&key],
    );
    assert_eq!(versions(&pilot["items"], "version"), ["2.0.0"]);
    let v = read(&python, "velopack", &velopack("2.0.0", &inside), &[]);
    assert_eq!(v["assets"], serde_json::json!([]));
    let v = read(&python, "velopack", &velopack("2.1.0", &inside), &[]);
    assert_eq!(
        v["assets"],
        serde_json::json!([]),
        "a halt sends nobody back"
    );

    // A rollback to 2.0.0: electron-updater names 2.0.0 again (apps with allowDowngrade
    // go back); Velopack on 2.1.0 is given 2.0.0 (AllowVersionDowngrade).
    s.roll_back(&["--to", "2.0.0", "--reason", "crash on start"]);
    let yml = read(&python, "electron", &latest, &[]);
    all_ok(&yml["files"]);
    assert_eq!(yml["version"], "2.0.0");
    assert_eq!(yml["stagingPercentage"], Value::Null);
    let v = read(&python, "velopack", &velopack("2.1.0", &inside), &[]);
    all_ok(&v["assets"]);
    assert_eq!(versions(&v["assets"], "Version"), ["2.0.0"]);
    let cast = read(&python, "sparkle", &appcast, &[&key]);
    assert_eq!(versions(&cast["items"], "version"), ["2.0.0"]);

    // Wrong questions get a clear answer.
    for (url, status, needle) in [
        (
            format!("{feeds}/beta/appcast.xml"),
            404,
            "the channels are internal, stable",
        ),
        (format!("{appcast}?platform=macos"), 400, "unknown platform"),
        (velopack("two", "x"), 400, "version"),
        (
            format!("{feeds}/stable/nothing.dmg"),
            404,
            "not in the feed",
        ),
        (
            format!("{}/feeds/other/stable/latest.yml", s.url),
            404,
            "unknown product",
        ),
    ] {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{url}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{url}: {body}"
        );
    }
}

/// A Velopack app as the `velopack` crate sees it: its manifest (`wizard` on `stable`,
/// running `version`), its packages directory holding the staging id it sends.
struct VelopackApp {
    _dir: tempfile::TempDir,
    config: velopack::locator::VelopackLocatorConfig,
}

impl VelopackApp {
    fn new(version: &str, staging_id: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let current = root.join("current");
        let packages = root.join("packages");
        std::fs::create_dir_all(&current).unwrap();
        std::fs::create_dir_all(&packages).unwrap();
        // The updater binary is only run to apply an update, which this test does not.
        std::fs::write(root.join("Update"), b"").unwrap();
        std::fs::write(
            current.join("sq.version"),
            format!(
                "<?xml version=\"1.0\"?><package><metadata><id>wizard</id><version>{version}</version>\
                 <title>WIZARD</title><authors>Wizard GmbH</authors><channel>stable</channel>\
                 </metadata></package>"
            ),
        )
        .unwrap();
        std::fs::write(packages.join(".betaId"), staging_id).unwrap();
        let config = velopack::locator::VelopackLocatorConfig {
            RootAppDir: root.clone(),
            UpdateExePath: root.join("Update"),
            PackagesDir: packages,
            ManifestPath: current.join("sq.version"),
            CurrentBinaryDir: current,
            IsPortable: true,
        };
        Self { _dir: dir, config }
    }

    /// Checks `source` for an update and downloads it (Velopack checks size and SHA-1);
    /// the version it updated to, if any.
    async fn update(&self, source: &str) -> Option<String> {
        let (config, source) = (self.config.clone(), source.to_owned());
        let packages = config.PackagesDir.clone();
        tokio::task::spawn_blocking(move || {
            let options = velopack::UpdateOptions {
                AllowVersionDowngrade: true,
                ..Default::default()
            };
            let um = velopack::UpdateManager::new(
                velopack::sources::HttpSource::new(&source),
                Some(options),
                Some(config),
            )
            .unwrap();
            match um.check_for_updates().unwrap() {
                velopack::UpdateCheck::UpdateAvailable(info) => {
                    um.download_updates(&info, None).unwrap();
                    let got = packages.join(&info.TargetFullRelease.FileName);
                    assert_eq!(
                        std::fs::metadata(&got).unwrap().len(),
                        info.TargetFullRelease.Size,
                        "{}",
                        got.display()
                    );
                    Some(info.TargetFullRelease.Version)
                }
                _ => None,
            }
        })
        .await
        .unwrap()
    }
}

async fn velopack_client_follows_the_feed(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    two_releases(&s, work.path());
    let source = format!("{}/feeds/wizard/stable", s.url);
    let inside = install_id(&s, "2.0.0", "2.1.0", true).await;
    let outside = install_id(&s, "2.0.0", "2.1.0", false).await;

    // Inside the 25 %: 2.1.0, downloaded and checked by Velopack; outside: nothing newer
    // than the 2.0.0 it runs.
    let app = VelopackApp::new("2.0.0", &inside);
    assert_eq!(app.update(&source).await.as_deref(), Some("2.1.0"));
    assert_eq!(
        VelopackApp::new("2.0.0", &outside).update(&source).await,
        None
    );
    // An older install outside the rollout gets the release everyone has.
    assert_eq!(
        VelopackApp::new("1.9.0", &outside)
            .update(&source)
            .await
            .as_deref(),
        Some("2.0.0")
    );

    // Halted: nobody new, nobody on it sent back.
    s.cli_json(&["rollout", "halt", "2.1.0", "--reason", "crash spike"]);
    assert_eq!(
        VelopackApp::new("2.0.0", &inside).update(&source).await,
        None
    );
    assert_eq!(
        VelopackApp::new("2.1.0", &inside).update(&source).await,
        None
    );

    // Rolled back: installs on 2.1.0 go back to 2.0.0 (AllowVersionDowngrade).
    s.roll_back(&["--to", "2.0.0", "--reason", "crash on start"]);
    assert_eq!(
        VelopackApp::new("2.1.0", &inside)
            .update(&source)
            .await
            .as_deref(),
        Some("2.0.0")
    );
}

/// Artifacts uploaded before relops made file digests and signatures (the columns empty,
/// as a migrated database has them) get them at the next start, and the feeds for other
/// updaters list them.
async fn older_artifacts_are_signed_at_start(b: Backend) {
    let Some(python) = python_with("cryptography, yaml") else {
        return;
    };
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.0.0", "--go-live", "2027-03-01"]);
    artifacts(&s, work.path(), "2.0.0", 1);
    s.ship("2.0.0");
    let key = sparkle_key(&s);
    let listed = s.cli_json(&["artifact", "list", "2.0.0"]);
    let msi = listed["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "WIZARD-2.0.0.msi")
        .unwrap();
    let s0_msi_key = format!("blobs/sha256/{}", msi["sha256"].as_str().unwrap());
    s.kill();
    env.execute_sql(&["UPDATE artifacts SET sha1 = NULL, sha512 = NULL, file_signature = NULL"])
        .await;
    // One stored file no longer what was uploaded: it must never be signed.
    let msi = s0_msi_key.clone();
    env.blobs()
        .put_raw(&msi, test_bytes(1234, 99).into())
        .await
        .unwrap();
    let s = env.serve();
    let latest = format!("{}/feeds/wizard/stable/latest.yml", s.url);
    // Until the lead has made them, the release is not listed; then it is, verifiable.
    let mut listed = false;
    for _ in 0..200 {
        if reqwest::get(&latest).await.unwrap().status() == StatusCode::OK {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "the older release never reached latest.yml");
    // Every artifact but the changed one.
    let unsigned = || env.query_i64("SELECT COUNT(*) FROM artifacts WHERE file_signature IS NULL");
    for _ in 0..100 {
        if unsigned().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(unsigned().await, 1);
    assert_eq!(
        env.query_i64(
            "SELECT COUNT(*) FROM artifacts WHERE file_signature IS NULL AND name = 'WIZARD-2.0.0.msi'"
        )
        .await,
        1,
        "the changed file was signed"
    );
    let yml = read(&python, "electron", &latest, &[]);
    all_ok(&yml["files"]);
    assert_eq!(yml["version"], "2.0.0");
    let cast = read(
        &python,
        "sparkle",
        &format!("{}/feeds/wizard/stable/appcast.xml", s.url),
        &[&key],
    );
    all_ok(&cast["items"]);
    assert_eq!(versions(&cast["items"], "version"), ["2.0.0"]);
}
