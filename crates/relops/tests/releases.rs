//! Releases end to end: `relops init`, `relops serve`, and the release rules of R-REL-1..4,
//! through the real CLI and plain HTTP, on every backend.

mod common;

use common::{Backend, TestEnv, assert_refused};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    create_list_show_and_kinds,
    refusals_store_nothing,
    auth_and_roles,
    health_and_readiness,
    freeze_is_recorded,
    the_freeze_date_freezes_a_draft
);

async fn create_list_show_and_kinds(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let r = s.cli_json(&[
        "release",
        "create",
        "2.1.0",
        "--go-live",
        "2027-03-15",
        "--commit",
        "ABCDEF1234",
        "--branch",
        "release/v2.1.x",
        "--tag",
        "v2.1.0",
    ]);
    assert_eq!(r["version"], "2.1.0");
    assert_eq!(r["kind"], "minor");
    assert_eq!(r["state"], "draft");
    assert_eq!(r["freeze_date"], "2027-03-08");
    assert_eq!(r["branch"], "release/v2.1.x");
    assert_eq!(r["tag"], "v2.1.0");
    assert_eq!(r["commit"], "abcdef1234");
    assert!(r["created_by"].as_str().unwrap().starts_with("admin"));

    // Easter 2027: Karfreitag and Ostermontag are not business days.
    let p = s.cli_json(&["release", "create", "2.1.1", "--go-live", "2027-04-02"]);
    assert_eq!(p["kind"], "patch");
    assert_eq!(p["freeze_date"], "2027-03-24");
    assert_eq!(
        s.cli_json(&["release", "create", "3.0.0", "--go-live", "2027-09-01"])["kind"],
        "major"
    );
    // Kind is inferred against the release just below, not the newest.
    assert_eq!(
        s.cli_json(&["release", "create", "2.2.0", "--go-live", "2027-06-01"])["kind"],
        "minor"
    );

    let list = s.cli_json(&["release", "list"]);
    let versions: Vec<&str> = list["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["3.0.0", "2.2.0", "2.1.1", "2.1.0"]);

    let shown = s.cli_json(&["release", "show", "2.1.0"]);
    assert_eq!(shown["go_live"], "2027-03-15");
    assert_eq!(shown["artifacts"], json!([]));

    let human = s.cli(&["release", "list"]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.starts_with("VERSION"), "{text}");
    assert!(text.contains("2027-03-08"), "{text}");
}

async fn refusals_store_nothing(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let http = s.http();
    let cases = [
        (
            json!({"version": "2.1", "go_live": "2027-03-15"}),
            StatusCode::BAD_REQUEST,
            "MAJOR.MINOR.PATCH",
        ),
        (
            json!({"version": "v2.1.0", "go_live": "2027-03-15"}),
            StatusCode::BAD_REQUEST,
            "MAJOR.MINOR.PATCH",
        ),
        (
            json!({"version": "2.1.0-rc.1", "go_live": "2027-03-15"}),
            StatusCode::BAD_REQUEST,
            "MAJOR.MINOR.PATCH",
        ),
        (
            json!({"version": "2.1.0", "go_live": "15.03.2027"}),
            StatusCode::BAD_REQUEST,
            "YYYY-MM-DD",
        ),
        (
            json!({"version": "2.1.0", "go_live": "2027-03-15", "branch": "release/v2.2.x"}),
            StatusCode::BAD_REQUEST,
            "release/v2.1.x",
        ),
        (
            json!({"version": "2.1.0", "go_live": "2027-03-15", "branch": "main"}),
            StatusCode::BAD_REQUEST,
            "release/v2.1.x",
        ),
        (
            json!({"version": "2.1.0", "go_live": "2027-03-15", "tag": "2.1.0"}),
            StatusCode::BAD_REQUEST,
            "v2.1.0",
        ),
        (
            json!({"version": "2.1.0", "go_live": "2027-03-15", "tag": "v2.1.1"}),
            StatusCode::BAD_REQUEST,
            "v2.1.0",
        ),
        (
            json!({"version": "2.1.0", "go_live": "2027-03-15", "commit": "not-a-sha"}),
            StatusCode::BAD_REQUEST,
            "hexadecimal",
        ),
    ];
    for (body, status, needle) in cases {
        let resp = http.post_json("/v1/releases", body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    // Malformed JSON: a clear 4xx, not a 500.
    let resp = http
        .req(reqwest::Method::POST, "/v1/releases")
        .header("content-type", "application/json")
        .body("{\"version\": ")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let list = s.cli_json(&["release", "list"]);
    assert_eq!(
        list["releases"],
        json!([]),
        "a refused create stored something"
    );

    // The CLI exits 1 on refusal and shows the server's message.
    assert_refused(
        &s.cli(&["release", "create", "2.1", "--go-live", "2027-03-15"]),
        1,
        "MAJOR.MINOR.PATCH",
    );
    // Usage errors exit 2.
    assert_eq!(
        s.cli(&["release", "create", "2.1.0"]).status.code(),
        Some(2)
    );
    assert_eq!(s.cli(&["release", "frobnicate"]).status.code(), Some(2));

    // Duplicates: 409, and the first one is unchanged.
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let resp = http
        .post_json(
            "/v1/releases",
            json!({"version": "2.1.0", "go_live": "2028-01-10"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["go_live"],
        "2027-03-15"
    );
    assert_refused(&s.cli(&["release", "show", "9.9.9"]), 1, "does not exist");
}

async fn auth_and_roles(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let body = json!({"version": "2.1.0", "go_live": "2027-03-15"});
    let anon = reqwest::Client::new();
    let resp = anon
        .post(format!("{}/v1/releases", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = anon
        .get(format!("{}/v1/releases", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s
        .http()
        .with_token("relops_not-a-real-token")
        .post_json("/v1/releases", body.clone())
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let qa = s.token_with(&["qa_lead"]);
    let resp = s
        .http()
        .with_token(&qa)
        .post_json("/v1/releases", body.clone())
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("release.write"),
        "{err}"
    );
    // A reader may read.
    assert_eq!(
        s.http().with_token(&qa).get("/v1/releases").await.status(),
        StatusCode::OK
    );

    let rm = s.token_with(&["release_manager"]);
    assert_eq!(
        s.http()
            .with_token(&rm)
            .post_json("/v1/releases", body)
            .await
            .status(),
        StatusCode::CREATED
    );
    // Only an admin makes tokens.
    let out = s.cli_as(&rm, &["token", "create", "--role", "admin"]);
    assert_refused(&out, 1, "token.manage");
    let out = s.cli(&["token", "create", "--role", "wizard"]);
    assert_refused(&out, 1, "unknown role");
    let me = s.cli_as(&rm, &["whoami", "--json"]);
    let me: serde_json::Value = serde_json::from_slice(&me.stdout).unwrap();
    assert_eq!(me["roles"], json!(["release_manager"]));
    // No token at all: a usage error before any request.
    let out = std::process::Command::new(common::BIN)
        .args(["release", "list"])
        .env("RELOPS_URL", &s.url)
        .env_remove("RELOPS_TOKEN")
        .output()
        .unwrap();
    assert_refused(&out, 2, "RELOPS_TOKEN");
}

async fn health_and_readiness(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let c = reqwest::Client::new();
    let h = c.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    let r = c.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Operators' routes answer with a request id (the fleet's hot routes go without).
    let l = c
        .get(format!("{}/v1/releases", s.url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(l.status(), StatusCode::OK);
    assert!(l.headers().contains_key("x-request-id"));
    assert!(!r.headers().contains_key("x-request-id"));
}

async fn freeze_is_recorded(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let rm = s.token_with(&["release_manager"]);
    let out = s.cli_as(&rm, &["release", "freeze", "2.1.0", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["state"], "frozen");
    assert!(r["frozen_by"].as_str().unwrap().starts_with("test"));
    assert!(r["frozen_at"].is_string());
    assert_refused(
        &s.cli(&["release", "freeze", "2.1.0"]),
        1,
        "only a draft release can be frozen",
    );
    let qa = s.token_with(&["qa_lead"]);
    s.cli_json(&["release", "create", "2.2.0", "--go-live", "2027-06-01"]);
    assert_refused(
        &s.cli_as(&qa, &["release", "freeze", "2.2.0"]),
        1,
        "release.write",
    );
}

#[test]
fn init_twice_keeps_keys_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = |json: bool| {
        let mut c = std::process::Command::new(common::BIN);
        c.args(["init", "--data-dir"]).arg(dir.path());
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let first = run(true);
    assert!(first.status.success());
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let token = v["admin_token"].as_str().unwrap();
    assert!(token.starts_with("relops_"));
    let keys = dir.path().join("keys");
    let before: Vec<Vec<u8>> = [
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "release",
        "crash",
        "audit",
    ]
    .iter()
    .map(|k| {
        let p = keys.join(format!("{k}.json"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{k}");
        }
        std::fs::read(p).unwrap()
    })
    .collect();
    let crash: serde_json::Value = serde_json::from_slice(&before[5]).unwrap();
    assert_eq!(crash["keytype"], "x25519");
    let second = run(false);
    assert!(second.status.success());
    let text = String::from_utf8(second.stdout).unwrap();
    assert!(text.contains("not overwritten"), "{text}");
    assert!(text.contains("admin token already exists"), "{text}");
    assert!(
        !text.contains("relops_"),
        "a second init must not print a token: {text}"
    );
    let after: Vec<Vec<u8>> = [
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "release",
        "crash",
        "audit",
    ]
    .iter()
    .map(|k| std::fs::read(keys.join(format!("{k}.json"))).unwrap())
    .collect();
    assert_eq!(before, after);
    let v: serde_json::Value = serde_json::from_slice(&run(true).stdout).unwrap();
    assert!(v["admin_token"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_products_need_a_product_flag() {
    let env =
        TestEnv::with_config(Backend::SqliteLocal, "products = [\"wizard\", \"atlas\"]").await;
    let s = env.serve();
    assert_refused(
        &s.cli(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]),
        1,
        "several products are configured (wizard, atlas)",
    );
    let w = s.cli_json(&[
        "release",
        "create",
        "2.1.0",
        "--go-live",
        "2027-03-15",
        "--product",
        "wizard",
    ]);
    assert_eq!(w["product"], "wizard");
    // The same version in another product is a different release, and kinds are per product.
    let out = std::process::Command::new(common::BIN)
        .args([
            "release",
            "create",
            "2.1.0",
            "--go-live",
            "2027-03-15",
            "--json",
        ])
        .env("RELOPS_URL", &s.url)
        .env("RELOPS_TOKEN", &s.token)
        .env("RELOPS_PRODUCT", "atlas")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = s.cli_json(&["release", "list", "--product", "atlas"]);
    assert_eq!(listed["releases"].as_array().unwrap().len(), 1);
    assert_eq!(listed["releases"][0]["product"], "atlas");
    assert_refused(
        &s.cli(&["release", "list", "--product", "nope"]),
        1,
        "unknown product `nope`",
    );
}

/// `relops serve` with no data dir: initialises `./relops-data`, prints the admin token
/// and the URL the first time, only the URL the second time.
#[test]
fn serve_without_flags_initialises_relops_data() {
    use std::io::{BufRead, BufReader};
    let cwd = tempfile::tempdir().unwrap();
    let first_lines = |expect_token: bool| {
        let mut child = std::process::Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(cwd.path())
            .env_remove("RELOPS_DATA_DIR")
            .env_remove("RELOPS_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("relops listening on http://127.0.0.1:");
            seen.push(line);
            if done {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let text = seen.join("\n");
        assert!(
            text.contains("relops listening on http://127.0.0.1:"),
            "{text}"
        );
        assert_eq!(
            text.contains("export RELOPS_TOKEN=relops_"),
            expect_token,
            "{text}"
        );
    };
    first_lines(true);
    assert!(cwd.path().join("relops-data/relops.toml").exists());
    assert!(cwd.path().join("relops-data/keys/release.json").exists());
    assert!(cwd.path().join("relops-data/relops.db").exists());
    first_lines(false);
}

/// R-REL-4: nobody has to remember the freeze — at its freeze date a draft is frozen by the
/// scheduler, audited as such; a release whose freeze date is still ahead stays a draft.
async fn the_freeze_date_freezes_a_draft(b: Backend) {
    let env = TestEnv::with_config(b, "[alerts]\nmaintenance_interval_seconds = 1\n").await;
    let s = env.serve();
    // Go-live in two days: the freeze (5 business days earlier) has passed.
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let r = s.cli_json(&["release", "create", "2.1.1", "--go-live", &soon.to_string()]);
    assert!(
        r["freeze_date"].as_str().unwrap() <= chrono::Utc::now().date_naive().to_string().as_str()
    );
    s.cli_json(&["release", "create", "2.2.0", "--go-live", "2027-06-01"]);
    common::wait_for("the scheduled freeze", || {
        s.cli_json(&["release", "show", "2.1.1"])["state"] == "frozen"
    })
    .await;
    let r = s.cli_json(&["release", "show", "2.1.1"]);
    assert_eq!(r["frozen_by"], "relops scheduler (system)");
    assert_eq!(s.cli_json(&["release", "show", "2.2.0"])["state"], "draft");
    let audit = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"release.freeze\"")
            && l.contains("relops scheduler (system)")
            && l.contains("wizard/2.1.1")),
        "{audit}"
    );
}
