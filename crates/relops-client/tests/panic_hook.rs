//! The panic hook queues a sealed report before the previous hook runs (its own test
//! binary: a panic hook is process-wide).

use std::sync::Arc;

use relops_client::{CrashConfig, CrashReporter};
use relops_core::platform::Platform;

#[test]
fn a_panic_is_sealed_and_queued() {
    let (sk, pk) = relops_seal::generate();
    let dir = tempfile::tempdir().unwrap();
    let r = Arc::new(
        CrashReporter::new(CrashConfig {
            server_url: "https://relops.example".into(),
            ingest_key: "k".into(),
            crash_key: pk,
            release: "2.1.0".into(),
            platform: Platform::MacosUniversal,
            channel: "stable".into(),
            install_id: "i".into(),
            queue_dir: dir.path().to_owned(),
            max_queued: 10,
            allow_insecure_http: false,
        })
        .unwrap(),
    );
    r.install_panic_hook();
    let caught = std::thread::Builder::new()
        .name("renderer".into())
        .spawn(|| panic!("index 7 out of range in tob_parse"))
        .unwrap()
        .join();
    assert!(caught.is_err());
    let _ = std::panic::take_hook();
    let pending = r.pending().unwrap();
    assert_eq!(pending.len(), 1);
    let bytes = std::fs::read(&pending[0]).unwrap();
    let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&bytes[..nl]).unwrap();
    assert_eq!(meta["kind"], "panic");
    assert_eq!(meta["release"], "2.1.0");
    let text = String::from_utf8(
        relops_seal::open(&sk, meta["crash_id"].as_str().unwrap(), &bytes[nl + 1..]).unwrap(),
    )
    .unwrap();
    assert!(text.starts_with("panic in thread renderer:"), "{text}");
    assert!(text.contains("index 7 out of range in tob_parse"), "{text}");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("tob_parse"),
        "sealed on disk"
    );
}
