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
