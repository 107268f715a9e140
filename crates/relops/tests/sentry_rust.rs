//! The real Rust `sentry` crate reporting to relops: it sends envelopes without a content
//! type and without compression, with dashed event ids and the session update inside the
//! event's envelope. One test runs the backends in turn, because the Sentry client is
//! process-global.

mod common;

use common::{Backend, TestEnv};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentry_crate_is_counted() {
    let mut backends = vec![Backend::SqliteLocal];
    backends.extend(Backend::postgres_s3());
    for b in backends {
        let env = TestEnv::new(b).await;
        let s = env.serve();
        s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
        let dsn = s.cli_json(&["ingest", "dsn"])["dsn"]
            .as_str()
            .unwrap()
            .to_owned();
        // The client sends from its own thread with blocking I/O.
        tokio::task::spawn_blocking(move || {
            for (i, crash) in [(0, false), (1, true), (2, false)] {
                let mut options = sentry::ClientOptions::default();
                options.release = Some("wizard@2.1.0".into());
                options.environment = Some("stable".into());
                options.auto_session_tracking = false;
                let guard = sentry::init((dsn.as_str(), options));
                sentry::configure_scope(|scope| {
                    scope.set_user(Some(sentry::User {
                        id: Some(format!("rust-install-{i}")),
                        ..Default::default()
                    }));
                    scope.set_tag("code", "TOB_PARSE_ERROR");
                });
                sentry::start_session();
                sentry::capture_message("could not parse the TOB file", sentry::Level::Error);
                sentry::end_session_with_status(if crash {
                    sentry::protocol::SessionStatus::Crashed
                } else {
                    sentry::protocol::SessionStatus::Exited
                });
                assert!(guard.flush(Some(std::time::Duration::from_secs(10))));
                drop(guard);
            }
        })
        .await
        .unwrap();
        let h = s.cli_json(&["health", "2.1.0"]);
        assert_eq!(h["active_installs"], 3, "{h}");
        assert_eq!(h["crashed_installs"], 1, "{h}");
        assert_eq!(h["sessions"], json!({"crashed": 1, "exited": 2}), "{h}");
        assert_eq!(h["errors_24h"], json!({"TOB_PARSE_ERROR": 3}), "{h}");
    }
}
