//! Every route of the route table, called with every role (and with no token): a role is
//! refused with 403 exactly when the table says it lacks the route's permission. A route
//! can only exist in the table, so a new route is walked here from the day it is added.

mod common;

use common::{Backend, TestEnv};
use relops_core::access::Role;
use relops_server::routes::table::{Access, Body, method, spec};
use reqwest::StatusCode;

fn concrete(path: &str) -> String {
    path.replace("{product}", "wizard")
        .replace("{version}", "9.9.9")
        .replace("{name}", "x.dmg")
        .replace("{kind}", "coverage")
        .replace("{file}", "timestamp.json")
        .replace("{project_id}", "1")
        .replace("{item}", "qa")
        .replace("{action}", "start")
        .replace("{id}", "INC-1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_every_role() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    let tokens: Vec<(Role, String)> = Role::ALL
        .iter()
        .map(|r| (*r, s.token_with(&[r.as_str()])))
        .collect();
    let http = reqwest::Client::new();
    let routes = spec();
    assert!(routes.len() >= 20);
    let mut checked = 0;
    for r in routes {
        let url = format!("{}{}", s.url, concrete(r.path));
        let anonymous = http
            .request(method(&r), &url)
            .send()
            .await
            .unwrap()
            .status();
        match r.access {
            Access::Public => {
                assert_ne!(
                    anonymous,
                    StatusCode::UNAUTHORIZED,
                    "{} {}",
                    r.method,
                    r.path
                );
                assert_ne!(anonymous, StatusCode::FORBIDDEN, "{} {}", r.method, r.path);
                continue;
            }
            Access::IngestKey => {
                // Telemetry takes the product's ingest key, never an API token.
                assert_eq!(
                    anonymous,
                    StatusCode::UNAUTHORIZED,
                    "{} {}",
                    r.method,
                    r.path
                );
                for (role, token) in &tokens {
                    let status = http
                        .request(method(&r), &url)
                        .bearer_auth(token)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(
                        status,
                        StatusCode::UNAUTHORIZED,
                        "{} {} as {role}",
                        r.method,
                        r.path
                    );
                }
                checked += 1;
                continue;
            }
            _ => assert_eq!(
                anonymous,
                StatusCode::UNAUTHORIZED,
                "{} {} without a token",
                r.method,
                r.path
            ),
        }
        for (role, token) in &tokens {
            let status = http
                .request(method(&r), &url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            let allowed = match r.access {
                Access::Permission(p) => p.allows(&[*role]),
                _ => true,
            };
            if allowed {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{} {} as {role}: {status}, but the table allows it",
                    r.method,
                    r.path
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {role}: the table denies it",
                    r.method,
                    r.path
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8 * 15, "{checked}");
}

/// `GET /v1/openapi.json` lists every route of the table and is a valid OpenAPI document
/// for a third-party validator (openapi-spec-validator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route_and_validates() {
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    let doc: serde_json::Value = reqwest::get(format!("{}/v1/openapi.json", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for r in spec() {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} missing", r.method, r.path);
        if let Access::Permission(p) = r.access {
            assert_eq!(op["x-relops-permission"], p.as_str());
        }
        // Every route says what it answers; a JSON answer names its schema.
        let ok = &op["responses"][r.status.to_string()];
        assert!(
            ok.is_object(),
            "{} {}: no {} answer",
            r.method,
            r.path,
            r.status
        );
        match r.response {
            Body::Json(_) => {
                let schema = &ok["content"]["application/json"]["schema"];
                assert!(schema.is_object(), "{} {}: {ok}", r.method, r.path);
            }
            Body::Media(m) => assert!(ok["content"][m].is_object(), "{} {}", r.method, r.path),
            Body::None => panic!("{} {} answers nothing the document says", r.method, r.path),
        }
    }
    for name in [
        "HealthReport",
        "Alert",
        "Incident",
        "CrashReport",
        "Gate",
        "Checklist",
        "Dsn",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{name} is not in components.schemas"
        );
    }
    let Some(python) = common::python_with("openapi_spec_validator") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Real answers validate against the schemas the document gives their routes (a field
    // added to a handler's answer but not to its type could not be sent; one renamed in
    // the type but not in the document would fail here).
    s.cli(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let mut answers = Vec::new();
    for (path, url) in [
        ("/v1/releases", "/v1/releases"),
        ("/v1/releases/{version}", "/v1/releases/2.1.0"),
        ("/v1/releases/{version}/health", "/v1/releases/2.1.0/health"),
        (
            "/v1/releases/{version}/checklist",
            "/v1/releases/2.1.0/checklist",
        ),
        ("/v1/releases/{version}/gates", "/v1/releases/2.1.0/gates"),
        ("/v1/whoami", "/v1/whoami"),
        ("/v1/ingest/dsn", "/v1/ingest/dsn"),
        ("/v1/keys", "/v1/keys"),
        ("/v1/audit/verify", "/v1/audit/verify"),
        ("/v1/alerts", "/v1/alerts"),
        ("/v1/incidents", "/v1/incidents"),
        ("/v1/crashes", "/v1/crashes"),
        ("/v1/notifications", "/v1/notifications"),
    ] {
        let answer: serde_json::Value = s.http().get(url).await.json().await.unwrap();
        let schema =
            doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                .clone();
        assert!(schema.is_object(), "{path}");
        answers.push(serde_json::json!({"path": path, "schema": schema, "answer": answer}));
    }
    let checks = work.path().join("answers.json");
    std::fs::write(
        &checks,
        serde_json::to_vec(
            &serde_json::json!({"components": doc["components"], "answers": answers}),
        )
        .unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(concat!(
            "import json, sys, jsonschema\n",
            "d = json.load(open(sys.argv[1]))\n",
            "for a in d['answers']:\n",
            "    schema = dict(a['schema'], components=d['components'])\n",
            "    jsonschema.Draft202012Validator(schema).validate(a['answer'])\n",
            "print(len(d['answers']), 'answers valid')\n",
        ))
        .arg(&checks)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
