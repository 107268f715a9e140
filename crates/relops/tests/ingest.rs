//! Crash and telemetry ingest against a running server: the real Python `sentry-sdk`
//! reporting sessions, crashes and coded errors through the DSN; hand-made envelopes in
//! every encoding Sentry SDKs use; the native endpoints; and every refusal.

mod common;

use common::{Backend, TestEnv, assert_refused, compress};
use serde_json::{Value, json};

backend_tests!(
    the_sentry_python_sdk_is_counted_per_release,
    envelopes_in_every_encoding_are_stored_once,
    native_endpoints_and_refusals,
    rate_limits_answer_429_with_retry_after,
    acknowledged_events_survive_kill_9,
    minidumps_as_crashpad_uploads_them,
    absurd_counts_are_refused,
);

/// The attack (issue 15, 6): an aggregate with `exited: u64::MAX` made the health endpoint
/// fail (SQLite's SUM overflowed) or show 100 % crash-free, and two `i64::MAX` wrapped to a
/// negative count. Such an envelope is refused with the reason and changes nothing.
async fn absurd_counts_are_refused(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let aggregate = |exited: u64| {
        envelope(
            &format!("{:032x}", exited % 1000),
            &[(
                "sessions",
                json!({"aggregates": [{"started": "2026-11-26T10:00:00Z", "did": "a", "exited": exited}],
                       "attrs": {"release": "wizard@2.1.0", "environment": "stable"}}),
                false,
            )],
        )
    };
    for exited in [u64::MAX, i64::MAX as u64, i64::MAX as u64] {
        let r = post(&s, "/api/1/envelope/", &key, "identity", aggregate(exited)).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("at most 10000"),
            "{body}"
        );
    }
    let r = post(&s, "/api/1/envelope/", &key, "identity", aggregate(3)).await;
    assert_eq!(r.status(), 200);
    let h = s.cli_json(&["health", "2.1.0"]);
    assert_eq!(h["sessions"]["exited"], 3, "{h}");
    assert_eq!(h["crash_free_sessions"], 1.0);
}

const PY_SENDER: &str = r#"
import sys, sentry_sdk
dsn, release, n, crashed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sentry_sdk.init(dsn=dsn, release=release, environment="stable",
                auto_session_tracking=False, default_integrations=False)
for i in range(n):
    sentry_sdk.set_user({"id": f"install-{i}"})
    sentry_sdk.start_session()
    if i < crashed:
        sentry_sdk.capture_event({"level": "fatal", "message": "crash on project open",
            "exception": {"values": [{"type": "SIGSEGV", "value": "bad access",
                "mechanism": {"type": "signalhandler", "handled": False}}]}})
    if i % 5 == 0:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("code", "TOB_PARSE_ERROR")
            sentry_sdk.capture_message("could not parse the TOB file")
    sentry_sdk.end_session()
sentry_sdk.flush(timeout=10)
"#;

fn health(s: &common::Server, v: &str) -> Value {
    s.cli_json(&["health", v])
}

async fn the_sentry_python_sdk_is_counted_per_release(b: Backend) {
    let Some(python) = common::python_with("sentry_sdk") else {
        return;
    };
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let dsn = s.cli_json(&["ingest", "dsn"])["dsn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(dsn.starts_with("http://") && dsn.ends_with("/1"), "{dsn}");
    let run = |release: &str, n: &str, crashed: &str| {
        let out = std::process::Command::new(&python)
            .args(["-c", PY_SENDER, &dsn, release, n, crashed])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("wizard@2.1.0", "20", "3");
    let h = health(&s, "2.1.0");
    assert_eq!(h["active_installs"], 20);
    assert_eq!(h["crashed_installs"], 3);
    assert_eq!(h["crash_rate"], 0.15);
    assert_eq!(h["sessions"], json!({"crashed": 3, "exited": 17}));
    assert_eq!(h["crash_free_sessions"], 0.85);
    assert_eq!(h["errors_24h"], json!({"TOB_PARSE_ERROR": 4}));
    let w = h["crash_rate_wilson_95"].as_array().unwrap();
    assert!(w[0].as_f64().unwrap() < 0.15 && w[1].as_f64().unwrap() > 0.15);
    // A bare version maps to the DSN's product; an unknown release is kept and flagged.
    run("2.1.0", "5", "0");
    assert_eq!(
        health(&s, "2.1.0")["active_installs"],
        20,
        "same install ids"
    );
    assert_eq!(health(&s, "2.1.0")["sessions"]["exited"], 22);
    run("wizard@9.9.9", "4", "1");
    let h = health(&s, "9.9.9");
    assert_eq!(h["known_release"], false);
    assert_eq!(h["crashed_installs"], 1);
    assert!(
        h["unknown_releases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == "9.9.9"),
        "{h}"
    );
    let human = String::from_utf8(s.cli(&["health", "9.9.9"]).stdout).unwrap();
    assert!(human.contains("not a registered release"), "{human}");
}

/// A Sentry envelope: header, then items (with `length` unless `no_length`).
fn envelope(event_id: &str, items: &[(&str, Value, bool)]) -> Vec<u8> {
    let mut out = format!(
        "{}\n",
        json!({"event_id": event_id, "sent_at": "2026-11-26T10:00:00Z"})
    )
    .into_bytes();
    for (ty, payload, with_length) in items {
        let p = payload.to_string();
        let h = if *with_length {
            json!({"type": ty, "length": p.len()})
        } else {
            json!({"type": ty})
        };
        out.extend_from_slice(format!("{h}\n{p}\n").as_bytes());
    }
    out
}

async fn post(
    s: &common::Server,
    path: &str,
    key: &str,
    encoding: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut rb = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1"),
        );
    if encoding != "identity" {
        rb = rb.header("content-encoding", encoding);
    }
    rb.body(compress(encoding, &body)).send().await.unwrap()
}

fn session(sid: &str, did: &str, status: &str) -> Value {
    json!({"sid": sid, "did": did, "init": status == "ok", "status": status, "errors": 0,
           "started": "2026-11-26T10:00:00Z", "attrs": {"release": "wizard@2.1.0", "environment": "stable"}})
}

async fn envelopes_in_every_encoding_are_stored_once(b: Backend) {
    let env = TestEnv::with_config(b, "[ingest]\nmax_body_bytes = 100000\n").await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, enc) in ["identity", "gzip", "deflate", "br", "zstd"]
        .iter()
        .enumerate()
    {
        // Dashed and plain ids, items with and without `length`, unknown item types.
        let id = if i % 2 == 0 {
            format!("{:08x}-aaaa-4bbb-8ccc-{:012x}", i, i)
        } else {
            format!("{:032x}", 0xfeed_0000 + i)
        };
        let body = envelope(
            &id,
            &[
                (
                    "event",
                    json!({"event_id": id, "level": "error", "release": "wizard@2.1.0",
                           "environment": "stable", "tags": {"code": "TOB_PARSE_ERROR"},
                           "user": {"id": format!("install-{i}")},
                           "contexts": {"os": {"name": "Windows"}}}),
                    i % 2 == 0,
                ),
                (
                    "session",
                    session(&format!("s-{i}"), &format!("install-{i}"), "ok"),
                    false,
                ),
                ("client_report", json!({"discarded_events": []}), true),
                (
                    "profile_chunk_v9",
                    json!({"what": "a type relops does not know"}),
                    true,
                ),
            ],
        );
        let r = post(&s, "/api/1/envelope/", &key, enc, body.clone()).await;
        assert_eq!(r.status(), 200, "{enc}: {}", r.text().await.unwrap());
        let reply: Value = r.json().await.unwrap();
        assert_eq!(reply["id"].as_str().unwrap().len(), 32, "{enc}");
        // The client retries the same envelope: stored once.
        let r = post(&s, "/api/1/envelope/", &key, enc, body).await;
        assert_eq!(r.status(), 200);
    }
    let h = health(&s, "2.1.0");
    assert_eq!(h["errors_24h"], json!({"TOB_PARSE_ERROR": 5}), "{h}");
    assert_eq!(h["active_installs"], 5);
    assert_eq!(h["sessions"], json!({}), "no session has ended yet");

    // Sessions end (one crashes); late and repeated updates do not count twice.
    let ends = envelope(
        &format!("{:032x}", 1),
        &[
            ("session", session("s-0", "install-0", "exited"), true),
            ("session", session("s-1", "install-1", "crashed"), true),
            ("session", session("s-2", "install-2", "abnormal"), true),
            ("session", session("s-3", "install-3", "errored"), true),
            ("session", session("s-4", "install-4", "unhandled"), true),
        ],
    );
    for _ in 0..2 {
        let r = post(&s, "/api/1/envelope/", &key, "gzip", ends.clone()).await;
        assert_eq!(r.status(), 200);
    }
    let r = post(
        &s,
        "/api/1/envelope/",
        &key,
        "gzip",
        envelope(
            &format!("{:032x}", 2),
            &[("session", session("s-1", "install-1", "ok"), true)],
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let h = health(&s, "2.1.0");
    assert_eq!(
        h["sessions"],
        json!({"abnormal": 1, "crashed": 1, "errored": 1, "exited": 1, "unhandled": 1})
    );
    assert_eq!(
        h["crashed_installs"], 2,
        "crashed and abnormal count as crashes"
    );
    // Aggregates (request-mode sessions) add their counts.
    let agg = envelope(
        &format!("{:032x}", 3),
        &[(
            "sessions",
            json!({"attrs": {"release": "wizard@2.1.0", "environment": "stable"},
                   "aggregates": [{"started": "2026-11-26T10:00:00Z", "exited": 7, "crashed": 1, "did": "install-9"}]}),
            true,
        )],
    );
    assert_eq!(
        post(&s, "/api/1/envelope/", &key, "br", agg).await.status(),
        200
    );
    let h = health(&s, "2.1.0");
    assert_eq!(h["sessions"]["exited"], 8);
    assert_eq!(h["sessions"]["crashed"], 2);
    assert_eq!(h["active_installs"], 6);

    // Refusals: key, project, malformed, too large (also after decompression).
    let ok = envelope(&format!("{:032x}", 4), &[]);
    let r = post(&s, "/api/1/envelope/", "0000", "identity", ok.clone()).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("relops ingest dsn"));
    let r = reqwest::Client::new()
        .post(format!("{}/api/1/envelope/?sentry_key={key}", s.url))
        .body(ok.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the key in the query string");
    let r = post(&s, "/api/7/envelope/", &key, "identity", ok).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("project 1"));
    let r = post(
        &s,
        "/api/1/envelope/",
        &key,
        "identity",
        b"{\"event_id\":1}\n{\"type\":\"event\",\"length\":500}\n{}".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("declares 500 bytes"));
    let r = post(
        &s,
        "/api/1/envelope/",
        &key,
        "identity",
        vec![b'x'; 200_000],
    )
    .await;
    assert_eq!(r.status(), 413);
    // 2 MB of zeros gzip to a few KB: refused once it exceeds the limit decompressed.
    let bomb = envelope(
        &format!("{:032x}", 5),
        &[("event", json!({"pad": "0".repeat(2_000_000)}), true)],
    );
    let r = post(&s, "/api/1/envelope/", &key, "gzip", bomb).await;
    assert_eq!(r.status(), 413, "{}", r.text().await.unwrap());
    let r = post(
        &s,
        "/api/1/envelope/",
        &key,
        "gzip",
        b"not gzip at all".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        health(&s, "2.1.0")["errors_24h"],
        json!({"TOB_PARSE_ERROR": 5})
    );
}

async fn native_endpoints_and_refusals(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let send = |path: &str, body: Value| {
        http.post(format!("{}/v1/ingest/{path}", s.url))
            .header("x-relops-ingest-key", &key)
            .json(&body)
            .send()
    };
    let who = |i: u32| json!({"install_id": format!("i-{i}"), "release": "2.1.0", "platform": "windows-x64", "channel": "stable"});
    let with = |mut base: Value, extra: Value| {
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    for i in 0..4 {
        let status = if i == 0 { "crashed" } else { "exited" };
        let r = send(
            "sessions",
            with(
                who(i),
                json!({"session_id": format!("n-{i}"), "status": status, "duration_seconds": 30.5}),
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    for i in 0..12 {
        let body = with(
            who(i % 3),
            json!({"event_id": uuid::Uuid::new_v4().to_string(), "code": "TOB_PARSE_ERROR"}),
        );
        assert_eq!(send("errors", body).await.unwrap().status(), 200);
    }
    let r = send("memory", with(who(1), json!({"host_memory_percent": 93})))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = health(&s, "2.1.0");
    assert_eq!(h["active_installs"], 4);
    assert_eq!(h["crashed_installs"], 1);
    assert_eq!(h["errors_24h"]["TOB_PARSE_ERROR"], 12);
    assert_eq!(h["memory_warnings_24h"], 1);
    assert_eq!(h["sessions"], json!({"crashed": 1, "exited": 3}));

    // Refusals say what is wrong.
    for (path, body, needle) in [
        (
            "sessions",
            with(who(1), json!({"status": "ok"})),
            "session_id",
        ),
        (
            "sessions",
            json!({"session_id": "x", "status": "ok"}),
            "install_id",
        ),
        (
            "sessions",
            with(
                json!({"install_id": "i", "release": "2.1.0", "platform": "amiga", "channel": "stable"}),
                json!({"session_id": "x", "status": "ok"}),
            ),
            "amiga",
        ),
        (
            "errors",
            with(who(1), json!({"event_id": "nope", "code": "X"})),
            "UUID",
        ),
        (
            "errors",
            with(
                who(1),
                json!({"event_id": uuid::Uuid::new_v4().to_string(), "code": "two words"}),
            ),
            "code",
        ),
        (
            "memory",
            with(who(1), json!({"host_memory_percent": 140})),
            "0-100",
        ),
    ] {
        let r = send(path, body).await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(status == 400 || status == 422, "{path}: {status} {text}");
        assert!(text.contains(needle), "{path}: {text}");
    }
    let r = http
        .post(format!("{}/v1/ingest/sessions", s.url))
        .json(&with(who(1), json!({"session_id": "x", "status": "ok"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An admin token is not an ingest key, and the ingest key opens nothing else.
    let r = http
        .post(format!("{}/v1/ingest/sessions", s.url))
        .bearer_auth(&s.token)
        .json(&with(who(1), json!({"session_id": "x", "status": "ok"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/v1/releases", s.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_refused(&s.cli_as(&key, &["ingest", "dsn"]), 1, "token");
    assert_eq!(
        h["sessions"]["crashed"], 1,
        "refused requests stored nothing"
    );
    assert_eq!(
        health(&s, "2.1.0")["sessions"],
        json!({"crashed": 1, "exited": 3})
    );
}

async fn rate_limits_answer_429_with_retry_after(b: Backend) {
    let native = |s: &common::Server, key: &str, install: &str, sid: &str| {
        reqwest::Client::new()
            .post(format!("{}/v1/ingest/sessions", s.url))
            .header("x-relops-ingest-key", key)
            .json(
                &json!({"install_id": install, "release": "2.1.0", "platform": "linux-x64",
                          "channel": "stable", "session_id": sid, "status": "exited"}),
            )
            .send()
    };
    // Per install: a burst of 2, then one a minute.
    let env = TestEnv::with_config(
        b.clone(),
        "[ingest]\ninstall_rate_per_minute = 1\ninstall_burst = 2\n",
    )
    .await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for sid in ["a", "b"] {
        assert_eq!(native(&s, &key, "noisy", sid).await.unwrap().status(), 200);
    }
    let r = native(&s, &key, "noisy", "c").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        r.headers()["x-sentry-rate-limits"].to_str().unwrap(),
        format!("{retry}::key")
    );
    assert!(r.text().await.unwrap().contains("install_rate_per_minute"));
    // Another install is not affected; the envelope endpoint answers the same way.
    assert_eq!(native(&s, &key, "quiet", "d").await.unwrap().status(), 200);
    let body = envelope(
        &format!("{:032x}", 9),
        &[("session", session("e", "noisy", "exited"), true)],
    );
    let r = post(&s, "/api/1/envelope/", &key, "gzip", body).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("x-sentry-rate-limits"));
    // What was refused was not stored.
    assert_eq!(health(&s, "2.1.0")["sessions"], json!({"exited": 3}));
    drop(s);

    // Per key: a burst of 3, then one a second, whatever the install.
    let env = TestEnv::with_config(b, "[ingest]\nkey_rate_per_second = 1\nkey_burst = 3\n").await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Sent at once, so that a slow machine does not let the bucket refill between them.
    let answers = futures::future::join_all((0..5).map(|i| {
        let (s, key) = (&s, &key);
        async move {
            let r = native(s, key, &format!("i-{i}"), &format!("s-{i}"))
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    }))
    .await;
    let codes: Vec<u16> = answers.iter().map(|(c, _)| *c).collect();
    assert!(
        codes.iter().filter(|c| **c == 200).count() >= 3,
        "the burst: {codes:?}"
    );
    let refusal = answers
        .iter()
        .find(|(c, _)| *c == 429)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("none refused: {codes:?}"));
    assert!(refusal.contains("key_rate_per_second"), "{refusal}");
}

/// A sender keeps posting coded error events (one client-chosen id each) while the server
/// is killed with SIGKILL; after a restart every acknowledged event is there, and resending
/// every id — acknowledged or not — stores each exactly once.
async fn acknowledged_events_survive_kill_9(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |http: &reqwest::Client, url: &str, key: &str, n: u32| {
        http.post(format!("{url}/v1/ingest/errors"))
            .header("x-relops-ingest-key", key)
            .json(&json!({"install_id": format!("i-{n}"), "release": "2.1.0",
                          "platform": "windows-x64", "channel": "stable",
                          "event_id": format!("{n:032x}"), "code": "TOB_PARSE_ERROR"}))
            .send()
    };
    let (url, k) = (s.url.clone(), key.clone());
    let sender = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let (mut sent, mut acked, mut failures) = (0u32, 0u32, 0);
        while failures < 3 {
            sent += 1;
            match send(&http, &url, &k, sent).await {
                Ok(r) if r.status() == 200 => acked += 1,
                _ => failures += 1,
            }
        }
        (sent, acked)
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    s.kill();
    let (sent, acked) = sender.await.unwrap();
    assert!(acked > 10, "the sender got going: {acked}");
    let s = common::Server::start(env.path(), &env.admin_token);
    let stored = health(&s, "2.1.0")["errors_24h"]["TOB_PARSE_ERROR"]
        .as_u64()
        .unwrap();
    assert!(
        u64::from(acked) <= stored && stored <= u64::from(sent),
        "acknowledged {acked}, stored {stored}, sent {sent}"
    );
    // The clients retry everything they are unsure of — here, everything.
    let http = reqwest::Client::new();
    for n in 1..=sent {
        assert_eq!(send(&http, &s.url, &key, n).await.unwrap().status(), 200);
    }
    assert_eq!(
        health(&s, "2.1.0")["errors_24h"]["TOB_PARSE_ERROR"],
        u64::from(sent),
        "each event once"
    );
}

/// A multipart form as Crashpad builds it: annotations as fields, the dump as a file part.
/// The Linux minidumps minidump-writer wrote (`tests/data/`), uploaded as Crashpad does:
/// plain and gzip'd, with `sentry[…]` annotations; a re-sent dump is stored once.
async fn minidumps_as_crashpad_uploads_them(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let segv = std::fs::read(format!("{data}/minidump-segv.dmp")).unwrap();
    let plain = std::fs::read(format!("{data}/minidump-plain.dmp")).unwrap();
    let boundary = "---------------------------crashpad-boundary-7d3a";
    let upload = |body: Vec<u8>, gzip: bool| {
        let mut rb = reqwest::Client::new()
            .post(format!("{}/api/1/minidump/?sentry_key={key}", s.url))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            );
        let body = if gzip {
            rb = rb.header("content-encoding", "gzip");
            compress("gzip", &body)
        } else {
            body
        };
        rb.body(body).send()
    };
    let fields = [
        ("sentry[release]", "wizard@2.1.0"),
        ("sentry[environment]", "stable"),
        ("sentry[user][id]", "install-crashy"),
        ("sentry[tags][platform]", "linux-x64"),
    ];
    let r = upload(common::crashpad_form(boundary, &fields, &segv), true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let id: Value = r.json().await.unwrap();
    assert_eq!(id["id"].as_str().unwrap().len(), 32);
    // Re-sent (a retry): stored once.
    let r = upload(common::crashpad_form(boundary, &fields, &segv), false)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = upload(
        common::crashpad_form(boundary, &[("sentry[release]", "2.1.0")], &plain),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let h = health(&s, "2.1.0");
    assert_eq!(h["crash_reports_24h"], 2, "{h}");
    assert_eq!(h["crashed_installs"], 1, "{h}");
    // The dumps are kept byte for byte, by content.
    let kept = env.blobs().keys("crashes").await.unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    // Refusals.
    let r = upload(
        common::crashpad_form(boundary, &fields, b"PK\x03\x04 not a dump"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("MDMP"));
    let no_file = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--{boundary}--\r\n"
    );
    let r = upload(no_file.into_bytes(), false).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("upload_file_minidump"));
}
