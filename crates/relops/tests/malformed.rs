//! The malformed-request corpus (issue 15): requests no client should send, over every
//! route family — wrong methods, bodies that are not the route's JSON, wrong content
//! types, bad path and query values, unknown routes. Each must get a 4xx whose body is the
//! documented `{"code", "error"}` JSON, never a 5xx, and none may change anything (the
//! audit trail and the release list are the same afterwards). Cases for the JSON routes
//! and for wrong methods come from the route table, so a new route gets them the day it is
//! added.

mod common;

use common::{Backend, TestEnv};
use relops_core::access::Role;
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
}

fn case(what: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        status: None,
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
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_4xx_and_change_nothing() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let token = s.token_with(&roles);
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let before_audit = s.cli_json(&["audit", "verify"])["entries"].clone();
    let before_releases = s.cli_json(&["release", "list"]);

    let ingest: Vec<&str> = spec()
        .into_iter()
        .filter(|r| r.access == Access::IngestKey)
        .map(|r| r.path)
        .collect();
    let http = reqwest::Client::new();
    let mut cases = table_cases();
    cases.extend(edge_cases());
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut rb = http.request(c.method.clone(), format!("{}{}", s.url, c.path));
        let is_ingest = ingest.iter().any(|p| concrete(p) == c.path);
        rb = if is_ingest {
            rb.header("x-relops-ingest-key", &key)
        } else {
            rb.bearer_auth(&token)
        };
        if let Some(ct) = c.content_type {
            rb = rb.header("content-type", ct);
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
}
