//! Nothing expires by surprise (issue 33): `relops keys status` lists what expires with days
//! left; registered signing certificates join it; warnings go out once per threshold (a
//! page from 7 days on); `relops keys renew root` signs a new root version that python-tuf
//! and the SDK follow from the root they trust.

mod common;

use std::sync::{Arc, Mutex};

use common::{Backend, Receiver, TestEnv, assert_refused, wait_for};
use serde_json::Value;
use std::process::Command;

/// libfaketime's `faketime` (`.ci/run` installs it): runs a program with its clock moved.
/// `None` with the reason outside CI, a panic under CI.
fn faketime() -> Option<&'static str> {
    let found = Command::new("faketime")
        .args(["+1 days", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("faketime required under CI: apt-get install faketime (.ci/run does)");
        }
        eprintln!("skipped: tough with its clock moved: no faketime (apt-get install faketime)");
    }
    found.then_some("faketime")
}

backend_tests!(expiries_are_listed_warned_and_the_root_renewed);

/// A self-signed code-signing certificate valid for `days` more days, as PEM.
fn certificate(cn: &str, days: i64) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(300);
    p.not_after = now + time::Duration::days(days) + time::Duration::hours(1);
    p.self_signed(&key).unwrap().pem()
}

fn item<'a>(status: &'a Value, name: &str) -> &'a Value {
    status
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {status}"))
}

async fn expiries_are_listed_warned_and_the_root_renewed(b: Backend) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let rx = Receiver::start(0, got.clone()).await;
    let port = rx.port;
    let config = format!(
        r##"
[feed]
root_expiry_days = 10
# The clients below run 11 days ahead: the rest of the feed must still be valid then.
timestamp_expiry_hours = 720
snapshot_expiry_days = 30
[alerts]
maintenance_interval_seconds = 1
[notify]
retry_initial_seconds = 0.2
[[notify.webhooks]]
name = "security"
kind = "webhook"
url = "http://127.0.0.1:{port}/generic"
[[notify.webhooks]]
name = "on-call"
kind = "pagerduty"
url = "http://127.0.0.1:{port}/pagerduty"
routing_key = "R0UT1NGKEY"
"##
    );
    let env = TestEnv::with_config(b, &config).await;
    let s = env.serve();
    let sec = s.as_role("security_engineer");

    // The root made at init expires in 10 days: listed as a warning, with what renews it.
    let status = s.cli_json(&["keys", "status"]);
    let root = item(&status, "wizard root metadata");
    assert_eq!(root["kind"], "tuf-root");
    assert_eq!(root["days_left"], 9);
    assert_eq!(root["level"], "warn");
    assert!(
        root["renew"]
            .as_str()
            .unwrap()
            .contains("relops keys renew root")
    );
    assert!(root["expires"].as_str().unwrap().starts_with("20"));
    let release = item(&status, "release key");
    assert_eq!(
        (release["expires"].is_null(), &release["level"]),
        (true, &Value::from("never"))
    );
    let text = String::from_utf8(s.cli(&["keys", "status"]).stdout).unwrap();
    assert!(
        text.contains("wizard root metadata") && text.contains("WARN"),
        "{text}"
    );

    // Signing certificates: registered by the security engineer only, parsed, listed.
    let work = tempfile::tempdir().unwrap();
    let ev = work.path().join("ev.pem");
    std::fs::write(&ev, certificate("Example GmbH EV Code Signing", 5)).unwrap();
    assert_refused(
        &s.cli_as(
            &s.as_role("release_manager"),
            &["certs", "add", "--kind", "windows-ev", ev.to_str().unwrap()],
        ),
        1,
        "key.rotate",
    );
    let c = s.cli_json_as(
        &sec,
        &["certs", "add", "--kind", "windows-ev", ev.to_str().unwrap()],
    );
    assert_eq!(c["subject"], "CN=Example GmbH EV Code Signing");
    assert_refused(
        &s.cli_as(
            &sec,
            &["certs", "add", "--kind", "windows-ev", ev.to_str().unwrap()],
        ),
        1,
        "registered already",
    );
    let junk = work.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert_refused(
        &s.cli_as(
            &sec,
            &[
                "certs",
                "add",
                "--kind",
                "apple-developer-id",
                junk.to_str().unwrap(),
            ],
        ),
        1,
        "certificate",
    );
    assert_refused(
        &s.cli_as(
            &sec,
            &["certs", "add", "--kind", "gpg", ev.to_str().unwrap()],
        ),
        1,
        "use one of apple-developer-id, windows-ev",
    );
    let status = s.cli_json(&["keys", "status"]);
    let cert = item(&status, "CN=Example GmbH EV Code Signing");
    assert_eq!(
        (
            cert["kind"].as_str(),
            cert["days_left"].as_i64(),
            cert["level"].as_str()
        ),
        (Some("windows-ev"), Some(5), Some("page"))
    );
    let names: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(
        pos("CN=Example GmbH EV Code Signing") < pos("wizard root metadata"),
        "the soonest first: {names:?}"
    );
    // What the server re-signs itself needs nobody, though the timestamp expires tomorrow.
    assert_eq!(item(&status, "wizard timestamp metadata")["level"], "auto");
    // The console shows the same inventory, the soonest first, to whoever reads releases.
    let (cookie, _) = common::console_login(&s.url, &s.as_role("qa_lead")).await;
    let (code, html) = common::console_page(&s.url, "/console/wizard/keys", &cookie).await;
    assert_eq!(code, 200, "{html}");
    let row = |n: &str| html.find(&format!("<td>{n}</td>")).unwrap_or(usize::MAX);
    for n in &names {
        assert!(row(n) < usize::MAX, "the keys page lists {n}");
    }
    assert!(row("CN=Example GmbH EV Code Signing") < row("wizard root metadata"));
    assert!(html.contains("<span class=\"badge page\">7 days or less: on-call is paged</span>"));

    // An installer signed with it, for a release going live after it expires, is a
    // blocker at the checklist.
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);
    let msi = work.path().join("WIZARD-2.1.0.msi");
    std::fs::write(&msi, common::test_bytes(4096, 1)).unwrap();
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        msi.to_str().unwrap(),
        "--authenticode-signer",
        "CN=Example GmbH EV Code Signing",
    ]);
    let c = s.cli_json(&["checklist", "show", "2.1.0"]);
    let blockers: Vec<&str> = c["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(
        blockers.iter().any(|b| b.starts_with("WIZARD-2.1.0.msi is signed by CN=Example GmbH EV Code Signing, whose certificate expires") && b.contains("before the go-live 2027-06-01")),
        "{blockers:?}"
    );

    // Warnings: one per thing and threshold, whatever the rounds; the certificate 5 days
    // from expiry pages, the root 9 days from it does not.
    wait_for("the expiry warnings", || {
        rx.of("generic")
            .iter()
            .filter(|m| m["event"] == "expiry.warning")
            .count()
            == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let warnings: Vec<Value> = rx
        .of("generic")
        .into_iter()
        .filter(|m| m["event"] == "expiry.warning")
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| {
        w["text"]
            .as_str()
            .unwrap()
            .starts_with("wizard root metadata (tuf-root) expires in 9 days")
    }));
    let pages = rx.of("pagerduty");
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(
        pages[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("Example GmbH EV Code Signing")
    );

    // Allowed to expire, the root is refused by the clients: python-tuf with its clock 11
    // days ahead (injected), and tough — the library inside the SDK and `relops feed verify`
    // — under libfaketime. Today both still accept it.
    let trusted = s.trusted_root().await;
    let root_file = work.path().join("shipped-root.json");
    std::fs::write(&root_file, &trusted).unwrap();
    let python = common::python_with_tuf();
    let python_at = |days: u32, dir: &str, url: &str| {
        python.as_ref().map(|p| {
            common::python_tuf_at(
                p,
                &format!("{url}/tuf/wizard/metadata/"),
                &format!("{url}/tuf/wizard/targets/"),
                &root_file,
                &work.path().join(dir),
                days,
            )
        })
    };
    let tough_at = |days: u32, url: &str| {
        faketime().map(|f| {
            Command::new(f)
                .arg(format!("+{days} days"))
                .args([
                    common::BIN,
                    "feed",
                    "verify",
                    &format!("{url}/tuf/wizard"),
                    "--root",
                ])
                .arg(&root_file)
                .output()
                .unwrap()
        })
    };
    if let Some(r) = python_at(0, "tuf-today", &s.url) {
        assert_eq!(r.unwrap()["versions"]["root"], 1);
    }
    if let Some(r) = python_at(11, "tuf-expired", &s.url) {
        let e = r.unwrap_err();
        eprintln!("python-tuf 11 days on: {e}");
        assert!(
            e.contains("ExpiredMetadataError") && e.contains("root"),
            "{e}"
        );
    }
    if let Some(out) = tough_at(0, &s.url) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(out) = tough_at(11, &s.url) {
        let e = String::from_utf8_lossy(&out.stderr);
        eprintln!("tough 11 days on: {e}");
        assert!(!out.status.success(), "accepted an expired root: {e}");
        assert!(e.to_lowercase().contains("expired"), "{e}");
    }

    // Renewing the root: refused for a role without key.rotate; then a new root version
    // (served) that the clients follow from the root they were shipped with.
    assert_refused(&s.cli(&["keys", "renew", "root"]), 1, "key.rotate");
    assert_refused(
        &s.cli_as(&sec, &["keys", "renew", "targets"]),
        2,
        "is not renewed by hand",
    );
    drop(s);
    let toml = env.path().join("relops.toml");
    let cfg = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("root_expiry_days = 10", "root_expiry_days = 365");
    std::fs::write(&toml, cfg).unwrap();
    let s = env.serve();
    let sec = s.as_role("security_engineer");
    let r = s.cli_json_as(&sec, &["keys", "renew", "root"]);
    assert_eq!(r["root_versions"], serde_json::json!([["wizard", 2]]));
    let status = s.cli_json(&["keys", "status"]);
    let root = item(&status, "wizard root metadata");
    assert_eq!(
        (root["days_left"].as_i64(), root["level"].as_str()),
        (Some(364), Some("ok"))
    );
    let served = s.http().get("/tuf/wizard/metadata/2.root.json").await;
    assert_eq!(served.status(), 200);
    match common::python_with_tuf() {
        Some(python) => {
            let v = common::python_tuf_refresh(
                &python,
                &s.url,
                "wizard",
                &trusted,
                &work.path().join("tuf"),
            )
            .unwrap();
            assert_eq!(v["versions"]["root"], 2, "{v}");
        }
        None => eprintln!("skipped: python-tuf across the renewed root (no python with tuf)"),
    }
    // Eleven days on, when the first root has expired, the clients that trust it still
    // follow the chain to the renewed one.
    if let Some(r) = python_at(11, "tuf-renewed", &s.url) {
        assert_eq!(r.unwrap()["versions"]["root"], 2);
    }
    if let Some(out) = tough_at(11, &s.url) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let app = work.path().join("app");
    let up = s.updater(&trusted, "1.0.0", &app);
    assert_eq!(
        up.check().await.unwrap(),
        None,
        "the SDK refreshes across the new root"
    );
    let sec_audit = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(sec_audit.contains("key.renew_root") && sec_audit.contains("cert.add"));
}
