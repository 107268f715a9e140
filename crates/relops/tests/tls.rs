//! HTTPS: `relops serve` with `tls_cert`/`tls_key` terminates TLS itself; the SDK reports
//! crashes and checks for updates over it, the CLI trusts an internal CA with --ca-cert,
//! and plain HTTP to the port gets nowhere.

mod common;

use std::path::Path;

use common::{Backend, TestEnv};
use relops_client::{CrashConfig, CrashReporter};
use relops_core::platform::Platform;
use serde_json::Value;

/// An internal CA and a server certificate for 127.0.0.1 and localhost, as PEM files in
/// `dir`: `ca.pem`, `cert.pem`, `key.pem`.
fn certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "relops test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn trusting(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_for_the_sdk_and_the_cli() {
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    certificates(c);
    let env = TestEnv::with_config(
        Backend::SqliteLocal,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"",
            c.join("cert.pem").display(),
            c.join("key.pem").display()
        ),
    )
    .await;
    let s = env.serve();
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let http = trusting(c);
    let r = http.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Without the CA the certificate is refused; plain HTTP gets no HTTP answer.
    let err = reqwest::Client::new()
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err}");
    let plain = s.url.replacen("https://", "http://", 1);
    let r = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success());

    // The CLI, trusting the internal CA.
    let ca = c.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let dsn = s.cli_json(&["ingest", "dsn", "--ca-cert", ca]);
    let key = dsn["public_key"].as_str().unwrap().to_owned();
    let out = s.cli(&["ingest", "dsn"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no CA: the CLI refuses the certificate"
    );

    // The SDK reports a sealed crash over HTTPS.
    let keys: Value = http
        .get(format!("{}/v1/keys", s.url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let crash_key = common::crash_key_in(&keys);
    let work = tempfile::tempdir().unwrap();
    let reporter = CrashReporter::with_http_client(
        CrashConfig {
            server_url: s.url.clone(),
            ingest_key: key,
            crash_key,
            release: "2.1.0".into(),
            platform: Platform::LinuxX64,
            channel: "stable".into(),
            install_id: "3b6f2a4e-8a1f-4c0e-9f0e-2c7c1d9e5b10".into(),
            queue_dir: work.path().join("q"),
            max_queued: 5,
            allow_insecure_http: false,
        },
        http.clone(),
    )
    .unwrap();
    let id = reporter.queue("minidump", b"MDMP over tls").unwrap();
    let r = reporter.upload_pending().await.unwrap();
    assert_eq!(r.sent, 1, "{r:?}");
    let shown = s.cli_json(&["crash", "show", &id, "--ca-cert", ca]);
    assert_eq!(shown["dump"]["sealed"], true);
}
