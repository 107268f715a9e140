//! Every route of the route table, called with every role (and with no token): a role is
//! refused with 403 exactly when the table says it lacks the route's permission. A route
//! can only exist in the table, so a new route is walked here from the day it is added.

mod common;

use common::{Backend, TestEnv};
use relops_core::access::Role;
use relops_server::routes::table::{Access, method, spec};
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
    }
    let Some(python) = common::python_with("openapi_spec_validator") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(python)
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
}
