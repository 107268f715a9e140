//! The malformed-request corpus (issue 15): requests no client should send, over every
//! route family — wrong methods, bodies that are not the route's JSON, wrong content
//! types, bad path and query values, unknown routes. Each must get a 4xx whose body is the
//! documented `{"code", "error"}` JSON, never a 5xx, and none may change anything (the
//! audit trail and the release list are the same afterwards). Cases for the JSON routes
//! and for wrong methods come from the route table, so a new route gets them the day it is
//! added.

mod common;

use common::{Backend, TestEnv};
use relops_server::routes::table::{Access, Body, spec};
use reqwest::{Method, StatusCode};

fn concrete(path: &str) -> String {
    path.replace("{product}", "wizard")
        .replace("{version}", "2.1.0")
        .replace("{name}", "W.dmg")
        .replace("{kind}", "coverage")
        .replace("{file}", "timestamp.json")
        .replace("{project_id}", "1")
        .replace("{item}", "qa")
        .replace("{action}", "start")
        .replace("{id}", "INC-1")
}

/// One request and what must come back.
struct Case {
    what: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// The status expected; any 4xx when `None`.
    status: Option<StatusCode>,
    /// Further headers (`Content-Encoding`, `Range`).
    headers: Vec<(&'static str, String)>,
}

fn case(what: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        status: None,
        headers: Vec::new(),
    }
}

impl Case {
    fn json(mut self, body: &str) -> Self {
        self.content_type = Some("application/json");
        self.body = body.as_bytes().to_vec();
        self
    }

    fn typed(mut self, content_type: &'static str, body: &[u8]) -> Self {
        self.content_type = Some(content_type);
        self.body = body.to_vec();
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn expect(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }
}

/// Cases every route gets from the table.
fn table_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for r in spec() {
        let path = concrete(r.path);
        // No route takes DELETE.
        v.push(
            case(format!("DELETE {}", r.path), Method::DELETE, &path)
                .expect(StatusCode::METHOD_NOT_ALLOWED),
        );
        let m: Method = r.method.parse().unwrap();
        if let Body::Json(_) = r.request {
            for (what, body) in [
                ("truncated JSON", "{"),
                ("a JSON list", "[]"),
                ("a number", "42"),
                ("a string", "\"x\""),
                ("null", "null"),
                ("not JSON", "version=2.1.0"),
                (
                    "a field of the wrong type",
                    r#"{"version": 7, "reason": []}"#,
                ),
                ("a NUL byte", "{\"reason\": \"a\u{0}\"}"),
            ] {
                v.push(
                    case(format!("{} {}: {what}", r.method, r.path), m.clone(), &path).json(body),
                );
            }
            v.push(
                case(
                    format!("{} {}: form-encoded", r.method, r.path),
                    m.clone(),
                    &path,
                )
                .typed("application/x-www-form-urlencoded", b"version=2.1.0")
                .expect(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            );
            v.push(
                case(
                    format!("{} {}: no content type", r.method, r.path),
                    m.clone(),
                    &path,
                )
                .expect(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            );
        }
        if matches!(r.request, Body::Media("multipart/form-data")) && r.path.starts_with("/v1/") {
            v.push(
                case(
                    format!("{} {}: not multipart", r.method, r.path),
                    m.clone(),
                    &path,
                )
                .typed("text/plain", b"report"),
            );
            v.push(
                case(
                    format!("{} {}: multipart without a boundary", r.method, r.path),
                    m.clone(),
                    &path,
                )
                .typed("multipart/form-data", b"--x\r\n"),
            );
        }
    }
    v
}

/// Every telemetry route (the ones that decode compressed bodies) × compression bombs in
/// each coding (a few KB that inflate past `[ingest] max_body_bytes`: 413), bodies that do
/// not decode (400) and codings nobody sends (415); and ranges no file satisfies (416).
fn bomb_and_range_cases() -> Vec<Case> {
    let zeros = vec![b'{'; 21 << 20];
    let bombs: Vec<(&str, Vec<u8>)> = ["gzip", "deflate", "br", "zstd"]
        .into_iter()
        .map(|c| (c, common::compress(c, &zeros)))
        .collect();
    let mut v = Vec::new();
    for r in spec().into_iter().filter(|r| r.access == Access::IngestKey) {
        let path = concrete(r.path);
        let ct = match r.request {
            Body::Media("multipart/form-data") => "multipart/form-data; boundary=x",
            Body::Media(m) => m,
            _ => "application/json",
        };
        let m: Method = r.method.parse().unwrap();
        for (coding, bomb) in &bombs {
            assert!(bomb.len() < 64 << 10, "{coding}: {} bytes", bomb.len());
            v.push(
                case(
                    format!("{} {}: a {coding} bomb", r.method, r.path),
                    m.clone(),
                    &path,
                )
                .typed(ct, bomb)
                .header("content-encoding", *coding)
                .expect(StatusCode::PAYLOAD_TOO_LARGE),
            );
        }
        v.push(
            case(
                format!("{} {}: gzip that is not", r.method, r.path),
                m.clone(),
                &path,
            )
            .typed(ct, b"\x1f\x8b\x08\x00 not really gzip")
            .header("content-encoding", "gzip")
            .expect(StatusCode::BAD_REQUEST),
        );
        v.push(
            case(
                format!("{} {}: a coding nobody sends", r.method, r.path),
                m.clone(),
                &path,
            )
            .typed(ct, b"{}")
            .header("content-encoding", "compress")
            .expect(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        );
    }
    let artifact = "/v1/releases/2.1.0/artifacts/W.dmg";
    for range in ["bytes=999999-", "bytes=4096-8000", "bytes=-0", "bytes=9-x"] {
        v.push(
            case(format!("an artifact range {range}"), Method::GET, artifact)
                .header("range", range)
                .expect(StatusCode::RANGE_NOT_SATISFIABLE),
        );
    }
    v
}

/// Hand-written cases: path and query values, traversal, unknown routes.
fn edge_cases() -> Vec<Case> {
    let g = |what: &str, path: &str| case(what, Method::GET, path);
    vec![
        g("an unknown route", "/v1/nothing").expect(StatusCode::NOT_FOUND),
        g("an unknown top-level path", "/etc/passwd").expect(StatusCode::NOT_FOUND),
        g("a version that is not SemVer", "/v1/releases/2.1"),
        g("a version with a pre-release", "/v1/releases/2.1.0-beta.1"),
        g("a version with leading zeros", "/v1/releases/02.1.0"),
        g(
            "a version of 1 KB",
            &format!("/v1/releases/{}", "9".repeat(1024)),
        ),
        g("an unknown product", "/v1/releases?product=nope").expect(StatusCode::NOT_FOUND),
        g("a limit that is not a number", "/v1/alerts?limit=abc"),
        g("a negative limit", "/v1/crashes?limit=-1"),
        g("all=maybe", "/v1/alerts?all=maybe"),
        g(
            "a percent-encoding that is not UTF-8",
            "/v1/releases?product=%ff",
        ),
        g(
            "an audit date that is no date",
            "/v1/audit/export?since=yesterday",
        ),
        g(
            "an update check without a platform",
            "/v1/update?channel=stable&version=2.0.0&install_id=i",
        ),
        g(
            "an update check for an unknown platform",
            "/v1/update?platform=amiga&channel=stable&version=2.0.0&install_id=i",
        ),
        g(
            "an update check with a bad version",
            "/v1/update?platform=windows-x64&channel=stable&version=x&install_id=i",
        ),
        g(
            "an update check with a 1 KB install id",
            &format!(
                "/v1/update?platform=windows-x64&channel=stable&version=2.0.0&install_id={}",
                "i".repeat(1024)
            ),
        ),
        g(
            "feed metadata of an unknown product",
            "/tuf/nope/metadata/timestamp.json",
        )
        .expect(StatusCode::NOT_FOUND),
        g(
            "feed metadata that does not exist",
            "/tuf/wizard/metadata/99.root.json",
        )
        .expect(StatusCode::NOT_FOUND),
        g(
            "a feed target by traversal",
            "/tuf/wizard/targets/..%2F..%2Fkeys%2Froot.json",
        )
        .expect(StatusCode::NOT_FOUND),
        g("notes by traversal", "/tuf/wizard/notes/..%2Frelops.toml").expect(StatusCode::NOT_FOUND),
        g(
            "an artifact name with traversal",
            "/v1/releases/2.1.0/artifacts/..%2F..%2Frelops.db",
        ),
        g(
            "an artifact name with a NUL",
            "/v1/releases/2.1.0/artifacts/W%00.dmg",
        ),
        g("a crash id that is no id", "/v1/crashes/not-a-crash").expect(StatusCode::NOT_FOUND),
        g("an alert that does not exist", "/v1/alerts/ALR-999").expect(StatusCode::NOT_FOUND),
        case(
            "a rollout action that does not exist",
            Method::POST,
            "/v1/releases/2.1.0/rollout/explode",
        )
        .json("{}"),
        case(
            "a gate kind that does not exist",
            Method::PUT,
            "/v1/releases/2.1.0/gates/vibes",
        )
        .typed("multipart/form-data; boundary=x", b"--x--\r\n")
        .expect(StatusCode::NOT_FOUND),
        case(
            "a checklist item that does not exist",
            Method::PUT,
            "/v1/releases/2.1.0/checklist/vibes",
        )
        .expect(StatusCode::NOT_FOUND),
        case(
            "release notes that are not UTF-8",
            Method::PUT,
            "/v1/releases/2.1.0/notes",
        )
        .typed("text/markdown", &[0xff, 0xfe, 0x00]),
        case(
            "a post-mortem of an unknown incident",
            Method::PUT,
            "/v1/incidents/INC-9/postmortem",
        )
        .typed("text/markdown", b"# late")
        .expect(StatusCode::NOT_FOUND),
        case("a token with an unknown role", Method::POST, "/v1/tokens")
            .json(r#"{"name": "x", "roles": ["root"]}"#),
        case("a token without a name", Method::POST, "/v1/tokens")
            .json(r#"{"name": " ", "roles": ["qa_lead"]}"#),
        case("a release with a bad go-live", Method::POST, "/v1/releases")
            .json(r#"{"version": "3.0.0", "go_live": "soon"}"#),
        case("a release with a bad commit", Method::POST, "/v1/releases")
            .json(r#"{"version": "3.0.0", "go_live": "2027-03-15", "commit": "zzz"}"#),
        case(
            "a rollback with an unknown severity",
            Method::POST,
            "/v1/rollback",
        )
        .json(r#"{"reason": "x", "severity": "apocalyptic"}"#),
        case("a rollback without a reason", Method::POST, "/v1/rollback").json(r#"{"reason": ""}"#),
        case(
            "a rollback with an unknown field",
            Method::POST,
            "/v1/rollback",
        )
        .json(r#"{"reason": "x", "force": true}"#),
        case(
            "an approval waiving management",
            Method::POST,
            "/v1/releases/2.1.0/approve",
        )
        .json(r#"{"waive": ["management"], "reason": "x"}"#),
        // Text that no field may hold (issue 15, 7), each at the edge where it arrives.
        case("a 1 MB release in a native session", Method::POST, "/v1/ingest/sessions")
            .json(&native_session(&"9".repeat(1 << 20), "stable", "s-1", "exited")),
        case("a channel that walks up directories", Method::POST, "/v1/ingest/sessions")
            .json(&native_session("2.1.0", "../../x", "s-1", "exited")),
        case("a channel this server does not have", Method::POST, "/v1/ingest/sessions")
            .json(&native_session("2.1.0", "beta", "s-1", "exited")),
        case("a session id with a NUL", Method::POST, "/v1/ingest/sessions")
            .json(&native_session("2.1.0", "stable", "s\\u0000", "exited")),
        case("a 1 KB session status", Method::POST, "/v1/ingest/sessions")
            .json(&native_session("2.1.0", "stable", "s-1", &"x".repeat(1024))),
        case("a session status with ANSI escapes", Method::POST, "/v1/ingest/sessions")
            .json(&native_session("2.1.0", "stable", "s-1", "\\u001b[31mcrashed")),
        case("an envelope whose session did holds a NUL", Method::POST, "/api/1/envelope/")
            .typed("application/x-sentry-envelope", envelope_session(r#""did":"a\u0000b","attrs":{"release":"2.1.0"}"#).as_bytes()),
        case("an envelope with ANSI escapes in its environment", Method::POST, "/api/1/envelope/")
            .typed("application/x-sentry-envelope", envelope_session(r#""did":"a","attrs":{"release":"2.1.0","environment":"\u001b[2Jprod"}"#).as_bytes()),
        case("an envelope with a 1 MB release", Method::POST, "/api/1/envelope/")
            .typed("application/x-sentry-envelope", envelope_session(&format!(r#""did":"a","attrs":{{"release":"{}"}}"#, "9".repeat(1 << 20))).as_bytes()),
        case("an event whose user id is 1 MB", Method::POST, "/api/1/envelope/")
            .typed("application/x-sentry-envelope", format!("{{}}\n{{\"type\":\"event\"}}\n{{\"event_id\":\"{:032x}\",\"level\":\"fatal\",\"user\":{{\"id\":\"{}\"}}}}\n", 7, "u".repeat(1 << 20)).as_bytes()),
        case("a 60 KB notarization id", Method::PUT, format!("/v1/releases/2.1.0/artifacts/W.dmg?platform=macos-universal&notarization_id={}", "n".repeat(60_000)))
            .typed("application/octet-stream", b"bytes"),
        case("an Authenticode signer with CR, LF and NUL", Method::PUT, "/v1/releases/2.1.0/artifacts/W.msi?platform=windows-x64&authenticode_signer=Evil%0D%0ACorp%00")
            .typed("application/octet-stream", b"bytes"),
        case("a file name that reverses itself (U+202E)", Method::PUT, "/v1/releases/2.1.0/artifacts/W%E2%80%AEgmd.exe.dmg?platform=macos-universal")
            .typed("application/octet-stream", b"bytes"),
        case("a token listing one role 1,000 times", Method::POST, "/v1/tokens")
            .json(&format!(r#"{{"name": "x", "roles": [{}]}}"#, vec!["\"qa_lead\""; 1000].join(","))),
        case("a token named with a direction override", Method::POST, "/v1/tokens")
            .json(r#"{"name": "admin\u202e", "roles": ["qa_lead"]}"#),
        case("a crash report with 100 tags", Method::POST, "/v1/ingest/crashes")
            .json(&crash_upload(&(0..100).map(|i| format!("\"t{i}\": \"v\"")).collect::<Vec<_>>().join(","))),
        case("a crash tag holding an object", Method::POST, "/v1/ingest/crashes")
            .json(&crash_upload(r#""phase": {"nested": true}"#)),
        case("a rollback reason of 10 KB", Method::POST, "/v1/rollback")
            .json(&format!(r#"{{"reason": "{}"}}"#, "r".repeat(10_000))),
    ]
}

fn native_session(release: &str, channel: &str, sid: &str, status: &str) -> String {
    format!(
        r#"{{"install_id": "i-1", "release": "{release}", "platform": "windows-x64", "channel": "{channel}", "session_id": "{sid}", "status": "{status}"}}"#
    )
}

fn envelope_session(fields: &str) -> String {
    format!("{{}}\n{{\"type\":\"session\"}}\n{{\"sid\":\"s1\",\"status\":\"exited\",{fields}}}\n")
}

fn crash_upload(tags: &str) -> String {
    format!(
        r#"{{"install_id": "i-1", "release": "2.1.0", "platform": "windows-x64", "channel": "stable", "crash_id": "{}", "kind": "minidump", "tags": {{{tags}}}, "sealed": "UlNEMQ=="}}"#,
        uuid::Uuid::new_v4()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_4xx_and_change_nothing() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    // A file of 4,096 bytes to ask ranges of.
    let work = tempfile::tempdir().unwrap();
    s.upload(
        work.path(),
        "2.1.0",
        "macos-universal",
        "W.dmg",
        &common::test_bytes(4096, 1),
    );
    // One token per route, holding a role the route's permission needs (one token cannot
    // hold every role: admin, product_owner and security_engineer are never shared).
    let routes = spec();
    let token_for = |method: &Method, path: &str| -> String {
        let fits = |pattern: &str| {
            let (a, b): (Vec<&str>, Vec<&str>) =
                (pattern.split('/').collect(), path.split('/').collect());
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(p, s)| p == s || (p.starts_with('{') && p.ends_with('}')))
        };
        let path = path.split('?').next().unwrap_or(path);
        let perm = routes
            .iter()
            .filter(|r| r.method == method.as_str())
            .find(|r| concrete(r.path) == path)
            .or_else(|| {
                routes
                    .iter()
                    .filter(|r| r.method == method.as_str())
                    .find(|r| fits(r.path))
            })
            .and_then(|r| match r.access {
                Access::Permission(p) => Some(p),
                _ => None,
            });
        match perm {
            Some(p) => s.as_role(p.roles()[0].as_str()),
            None => s.token.clone(),
        }
    };
    // Every role's token made now, before the audit trail is counted.
    for r in relops_core::access::Role::ALL {
        s.as_role(r.as_str());
    }
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let before_audit = s.cli_json(&["audit", "verify"])["entries"].clone();
    let before_releases = s.cli_json(&["release", "list"]);
    let before_artifacts = s.cli_json(&["artifact", "list", "2.1.0"])["artifacts"].clone();

    let ingest: Vec<&str> = spec()
        .into_iter()
        .filter(|r| r.access == Access::IngestKey)
        .map(|r| r.path)
        .collect();
    let http = reqwest::Client::new();
    let mut cases = table_cases();
    cases.extend(edge_cases());
    cases.extend(bomb_and_range_cases());
    assert!(cases.len() >= 300, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut rb = http.request(c.method.clone(), format!("{}{}", s.url, c.path));
        let is_ingest = ingest.iter().any(|p| concrete(p) == c.path);
        rb = if is_ingest {
            rb.header("x-relops-ingest-key", &key)
        } else {
            rb.bearer_auth(token_for(&c.method, &c.path))
        };
        if let Some(ct) = c.content_type {
            rb = rb.header("content-type", ct);
        }
        for (name, value) in &c.headers {
            rb = rb.header(*name, value);
        }
        let r = rb.body(c.body.clone()).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let documented = json.as_ref().is_some_and(|j| {
            j["code"].is_string() && j["error"].as_str().is_some_and(|e| !e.is_empty())
        });
        let status_ok = match c.status {
            Some(want) => status == want,
            None => status.is_client_error(),
        };
        if !status_ok || !documented {
            failures.push(format!("{}: {status} {body:.200}", c.what));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(
        s.cli_json(&["audit", "verify"])["entries"],
        before_audit,
        "nothing audited"
    );
    assert_eq!(
        s.cli_json(&["release", "list"]),
        before_releases,
        "nothing changed"
    );
    let h = s.cli_json(&["health", "2.1.0"]);
    assert_eq!(h["active_installs"], 0, "no telemetry stored: {h}");
    assert_eq!(h["sessions"], serde_json::json!({}), "{h}");
    assert_eq!(
        s.cli_json(&["crash", "list"])["crashes"],
        serde_json::json!([]),
        "no crash stored"
    );
    assert_eq!(
        s.cli_json(&["artifact", "list", "2.1.0"])["artifacts"],
        before_artifacts,
        "no artifact stored or changed"
    );
}

/// A client's `x-request-id` goes into the audit trail and back into the answer: a short
/// token is kept (so a CI run can find its entries), anything else is replaced by the
/// server's own (a 60 KB one was stored as sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_short_client_request_id_is_kept() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    let http = reqwest::Client::new();
    let create = |version: &'static str, id: String| {
        http.post(format!("{}/v1/releases", s.url))
            .bearer_auth(&env.admin_token)
            .header("x-request-id", id)
            .json(&serde_json::json!({"version": version, "go_live": "2027-03-15"}))
            .send()
    };
    let r = create("2.1.0", "ci-run-42".into()).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "ci-run-42");
    let r = create("2.2.0", "x".repeat(60_000)).await.unwrap();
    assert_eq!(r.status(), 201);
    let echoed = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(echoed.len() <= 64, "{} bytes echoed", echoed.len());
    let trail = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    let ids: Vec<String> = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "release.create")
        .map(|e| e["request_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids[0], "ci-run-42");
    assert_eq!(ids[1], echoed, "the server's own id");
}

/// Slow clients (issue 15, 8): 700 connections that trickled their headers stayed open
/// forever. A request's headers must arrive within `[http] header_timeout_seconds`, and a
/// body may not pause longer than `body_idle_timeout_seconds`; a client that keeps its
/// pace is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let env = TestEnv::with_config(
        Backend::SqliteLocal,
        "[http]\nheader_timeout_seconds = 1\nbody_idle_timeout_seconds = 1\n",
    )
    .await;
    let s = env.serve();
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let addr = s.url.trim_start_matches("http://").to_owned();
    let connect = || {
        let c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    };
    // Headers that never finish: the connection is closed after about a second.
    let mut trickle = connect();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: relops\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = trickle.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );

    // A body that stops halfway: refused with the documented JSON, nothing stored.
    let mut stall = connect();
    write!(
        stall,
        "POST /v1/ingest/sessions HTTP/1.1\r\nHost: relops\r\nX-Relops-Ingest-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"install_id\": \"i-1\","
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = stall.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");

    // A client at a normal pace is served.
    let mut ok = connect();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: relops\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.cli_json(&["health", "2.1.0"])["active_installs"], 0);
}

/// A service started with a soft limit of open files below its connections (systemd's
/// default soft limit is 1,024): `relops serve` raises it to the hard limit, so 600
/// connections held open at once under a soft limit of 256 are all served. Before, the
/// server could not accept past the limit and the rest waited until others closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_a_low_soft_open_files_limit_are_served() {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Duration;

    const CONNECTIONS: usize = 600;
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    if hard != "unlimited" && hard.parse::<usize>().unwrap() < 2 * CONNECTIONS {
        eprintln!("skipped: the hard limit of open files ({hard}) is below what the test needs");
        return;
    }
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let mut command = std::process::Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --data-dir \"$1\"",
        ])
        .arg(common::BIN)
        .arg(env.path());
    let s = common::Server::start_command(command, env.path(), "unused");
    let addr = s.url.trim_start_matches("http://").to_owned();
    let served = tokio::task::spawn_blocking(move || {
        let mut open = Vec::new();
        let mut served = 0;
        for _ in 0..CONNECTIONS {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: relops\r\n\r\n")
                .unwrap();
            let mut status = String::new();
            if BufReader::new(&c).read_line(&mut status).is_err() || !status.contains(" 200 ") {
                // The server is stuck at its limit; the rest would wait as well.
                break;
            }
            served += 1;
            // Kept open: every connection holds a file descriptor in the server.
            open.push(c);
        }
        served
    })
    .await
    .unwrap();
    assert_eq!(
        served, CONNECTIONS,
        "connections answered while all stay open"
    );
}
