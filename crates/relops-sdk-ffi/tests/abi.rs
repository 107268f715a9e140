//! 500 installs through the C ABI (the exported functions, called as C calls them) and 500
//! through the Rust API, against a real server: the health figures are exact, and the same
//! for both.

use std::ffi::{CStr, CString};
use std::path::Path;

use relops_client::{Sdk, SdkConfig};
use relops_sdk::*;

/// What install `i` does: most sessions end normally, every 20th crashes (its handler
/// ends it as crashed), every 50th (from the 7th) is killed — its session is found open
/// and reported `abnormal` when the app starts again.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fate {
    Exits,
    Crashes,
    Killed,
}

fn fate(i: usize) -> Fate {
    if i.is_multiple_of(20) {
        Fate::Crashes
    } else if i % 50 == 7 {
        Fate::Killed
    } else {
        Fate::Exits
    }
}

const INSTALLS: usize = 500;

struct Server {
    url: String,
    admin: String,
    keys: serde_json::Value,
    ingest_key: String,
    root: std::path::PathBuf,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

fn server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, admin) = rt.block_on(async {
        let admin = relops_ops::init::init(dir.path(), None)
            .await
            .unwrap()
            .admin_token
            .unwrap();
        let state = relops_server::AppState::open(
            relops_ops::ServerConfig::load(dir.path(), None).unwrap(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(relops_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        (url, admin)
    });
    let keys: serde_json::Value = get(&rt, &format!("{url}/v1/keys"), &admin);
    let dsn: relops_api::Dsn = get(&rt, &format!("{url}/v1/ingest/dsn"), &admin);
    let root = dir.path().join("1.root.json");
    let bytes = rt.block_on(async {
        reqwest::get(format!("{url}/tuf/wizard/metadata/1.root.json"))
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    std::fs::write(&root, bytes).unwrap();
    Server {
        url,
        admin,
        keys,
        ingest_key: dsn.public_key,
        root,
        _dir: dir,
        rt,
    }
}

fn get<T: serde::de::DeserializeOwned>(rt: &tokio::runtime::Runtime, url: &str, token: &str) -> T {
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

impl Server {
    fn key(&self, role: &str) -> String {
        self.keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == role)
            .unwrap()["public_keys"][0]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn config(&self, version: &str, data_dir: &Path) -> serde_json::Value {
        serde_json::json!({
            "server_url": self.url,
            "product": "wizard",
            "trusted_root_file": self.root,
            "release_key": self.key("release"),
            "ingest_key": self.ingest_key,
            "crash_key": self.key("crash"),
            "platform": "windows-x64",
            "channel": "stable",
            "version": version,
            "data_dir": data_dir,
            "upload_interval_seconds": 0,
        })
    }

    fn health(&self, version: &str) -> relops_api::HealthReport {
        get(
            &self.rt,
            &format!("{}/v1/releases/{version}/health", self.url),
            &self.admin,
        )
    }
}

fn check(code: i32) {
    assert_eq!(code, RELOPS_OK, "{}", last_error());
}

fn last_error() -> String {
    // SAFETY: relops_last_error never returns NULL; the string lives until the next call.
    unsafe { CStr::from_ptr(relops_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// One install's run through the C ABI.
fn c_install(server: &Server, version: &str, dir: &Path, fate: Fate) {
    let config = CString::new(server.config(version, dir).to_string()).unwrap();
    // SAFETY: a NUL-terminated string; the SDK is freed once, below.
    unsafe {
        let sdk = relops_init(config.as_ptr());
        assert!(!sdk.is_null(), "{}", last_error());
        check(relops_session_start(sdk));
        match fate {
            Fate::Exits => check(relops_session_end(sdk)),
            Fate::Crashes => check(relops_session_crashed(sdk)),
            // The process dies: nothing ends the session, nothing is flushed.
            Fate::Killed => {}
        }
        if fate == Fate::Killed {
            // The process ends without ending its session: shutdown uploads what is queued
            // (the `ok`) and leaves the open session on disk, which the next start finds.
            relops_shutdown(sdk);
            let again = relops_init(config.as_ptr());
            assert!(!again.is_null(), "{}", last_error());
            let mut flushed = RelopsFlushResult::default();
            check(relops_flush(again, &mut flushed));
            assert_eq!(flushed.sessions_pending, 0);
            relops_shutdown(again);
        } else {
            let mut flushed = RelopsFlushResult::default();
            check(relops_flush(sdk, &mut flushed));
            assert_eq!(flushed.sessions_sent, 2, "ok and the end");
            relops_shutdown(sdk);
        }
    }
}

/// The same run through the Rust API.
fn rust_install(server: &Server, version: &str, dir: &Path, fate: Fate) {
    let cfg: SdkConfig = serde_json::from_value(server.config(version, dir)).unwrap();
    let sdk = Sdk::new(cfg.clone()).unwrap();
    sdk.sessions().start().unwrap();
    match fate {
        Fate::Exits => sdk.sessions().end().unwrap(),
        Fate::Crashes => sdk.sessions().crashed().unwrap(),
        Fate::Killed => {}
    }
    sdk.flush().unwrap();
    drop(sdk);
    if fate == Fate::Killed {
        let again = Sdk::new(cfg).unwrap();
        assert!(again.sessions().recovered_abnormal().is_some());
        assert_eq!(again.flush().unwrap().sessions_pending, 0);
    }
}

#[test]
fn five_hundred_installs_count_exactly_and_the_same_from_c_and_rust() {
    let server = server();
    let apps = tempfile::tempdir().unwrap();
    for i in 0..INSTALLS {
        c_install(
            &server,
            "7.1.0",
            &apps.path().join(format!("c{i}")),
            fate(i),
        );
        rust_install(
            &server,
            "7.2.0",
            &apps.path().join(format!("r{i}")),
            fate(i),
        );
    }
    let crashes = (0..INSTALLS).filter(|i| fate(*i) == Fate::Crashes).count() as u64;
    let killed = (0..INSTALLS).filter(|i| fate(*i) == Fate::Killed).count() as u64;
    let exits = INSTALLS as u64 - crashes - killed;
    assert_eq!((crashes, killed), (25, 10));
    let c = server.health("7.1.0");
    let rust = server.health("7.2.0");
    for h in [&c, &rust] {
        assert_eq!(h.sessions.get("exited"), Some(&exits), "{:?}", h.sessions);
        assert_eq!(
            h.sessions.get("crashed"),
            Some(&crashes),
            "{:?}",
            h.sessions
        );
        assert_eq!(
            h.sessions.get("abnormal"),
            Some(&killed),
            "{:?}",
            h.sessions
        );
        assert_eq!(h.gate.active_installs, INSTALLS as u64);
        assert_eq!(h.gate.crashed_installs, crashes + killed);
    }
    assert_eq!(c.sessions, rust.sessions);
    assert_eq!(c.gate.crash_rate, rust.gate.crash_rate);
    assert_eq!(c.gate.crash_rate_wilson_95, rust.gate.crash_rate_wilson_95);
}

/// The background uploader (its own thread, a round per `upload_interval_seconds`) delivers
/// what the app queued without a flush, and stops when the SDK is dropped.
#[test]
fn the_background_uploader_delivers_and_stops() {
    let server = server();
    let app = tempfile::tempdir().unwrap();
    let mut config = server.config("7.3.0", app.path());
    config["upload_interval_seconds"] = 1.into();
    let sdk = Sdk::new(serde_json::from_value(config).unwrap()).unwrap();
    sdk.sessions().start().unwrap();
    sdk.sessions().end().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !sdk.sessions().pending().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still queued after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(server.health("7.3.0").sessions.get("exited"), Some(&1));
    drop(sdk); // joins the uploader thread
}
