//! Separation of duties (issue 15, 2): the attack was an admin minting one token holding
//! `product_owner` and `security_engineer`, approving with every checklist item waived, and
//! pruning the record. Now the roles that check one another never share a token, a token
//! holding one of them works only once a second person confirmed it, and an emergency go
//! with waivers needs a second person too (`tests/checklist.rs`). On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestEnv, assert_refused};

backend_tests!(tokens_that_check_others_need_a_second_person);

fn create(s: &common::Server, token: &str, name: &str, roles: &[&str]) -> std::process::Output {
    let mut args = vec!["token", "create", "--json", "--name", name];
    for r in roles {
        args.extend(["--role", r]);
    }
    s.cli_as(token, &args)
}

fn created(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn tokens_that_check_others_need_a_second_person(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let admin = s.token.clone();

    // The attack's token: refused outright, whoever asks.
    assert_refused(
        &create(
            &s,
            &admin,
            "mallory",
            &["product_owner", "security_engineer"],
        ),
        1,
        "one token may hold only one of admin, product_owner and security_engineer",
    );
    assert_refused(
        &create(&s, &admin, "mallory", &["admin", "product_owner"]),
        1,
        "admin and product_owner",
    );

    // A name that could pose as another person's audit entry (`admin (tok_…)`) is refused.
    assert_refused(
        &create(
            &s,
            &admin,
            "admin (tok_1234) as security_engineer",
            &["support_agent"],
        ),
        1,
        "parentheses, which the audit trail reserves",
    );

    // A product owner's token waits for a second person; until then it opens nothing.
    let petra = created(create(&s, &admin, "petra", &["product_owner"]));
    assert_eq!(petra["awaiting_confirmation"], true);
    let petra_token = petra["token"].as_str().unwrap();
    let petra_id = petra["id"].as_str().unwrap();
    assert_refused(
        &s.cli_as(petra_token, &["whoami"]),
        1,
        "awaits a second person's confirmation",
    );
    // The admin who made it cannot be the second person, and a release manager may not.
    assert_refused(
        &s.cli_as(&admin, &["token", "confirm", petra_id]),
        1,
        "a second person confirms it",
    );
    let rm = created(create(&s, &admin, "rita", &["release_manager"]));
    assert_eq!(
        rm["awaiting_confirmation"], false,
        "other roles work at once"
    );
    assert_refused(
        &s.cli_as(
            rm["token"].as_str().unwrap(),
            &["token", "confirm", petra_id],
        ),
        1,
        "token.confirm",
    );

    // The first security engineer is confirmed by the operator on the server's host …
    let sam = created(create(&s, &admin, "sam", &["security_engineer"]));
    let sam_id = sam["id"].as_str().unwrap();
    let sam_token = sam["token"].as_str().unwrap();
    let out = s.cli_as(
        &admin,
        &[
            "token",
            "confirm",
            sam_id,
            "--data-dir",
            env.path().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("is confirmed by local operator"), "{text}");
    assert_eq!(s.cli_json_as(sam_token, &["whoami"])["name"], "sam");
    // … who then is the second person for the product owner.
    let c = s.cli_json_as(sam_token, &["token", "confirm", petra_id]);
    assert_eq!(c["name"], "petra");
    assert!(c["confirmed_by"].as_str().unwrap().starts_with("sam ("));
    assert_eq!(s.cli_json_as(petra_token, &["whoami"])["name"], "petra");
    assert_refused(
        &s.cli_as(sam_token, &["token", "confirm", petra_id]),
        1,
        "awaits no confirmation",
    );

    // A second admin made by the first is confirmed by the security engineer, not by
    // itself nor by its maker.
    let ada = created(create(&s, &admin, "ada", &["admin"]));
    let ada_id = ada["id"].as_str().unwrap();
    assert_refused(
        &s.cli_as(&admin, &["token", "confirm", ada_id]),
        1,
        "a second person confirms it",
    );
    s.cli_json_as(sam_token, &["token", "confirm", ada_id]);
    assert_eq!(
        s.cli_json_as(ada["token"].as_str().unwrap(), &["whoami"])["name"],
        "ada"
    );

    // All of it is in the audit trail.
    let trail = String::from_utf8(s.cli_as(sam_token, &["audit", "export"]).stdout).unwrap();
    let confirms: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "token.confirm")
        .collect();
    assert_eq!(confirms.len(), 3, "{trail}");
    assert!(
        confirms[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("local operator (")
    );
    assert!(confirms[1]["actor"].as_str().unwrap().starts_with("sam ("));
    assert_eq!(confirms[1]["detail"]["name"], "petra");

    // Confirming by name: refused while two tokens of that name await it (the ids are
    // named), taken once only one does.
    let pos: Vec<serde_json::Value> = (0..2)
        .map(|_| created(create(&s, &admin, "po", &["product_owner"])))
        .collect();
    let ambiguous = s.cli_as(sam_token, &["token", "confirm", "po"]);
    assert_refused(&ambiguous, 1, "2 tokens named \"po\" await confirmation");
    for t in &pos {
        assert!(String::from_utf8_lossy(&ambiguous.stderr).contains(t["id"].as_str().unwrap()));
    }
    s.cli_json_as(
        sam_token,
        &["token", "confirm", pos[0]["id"].as_str().unwrap()],
    );
    let c = s.cli_json_as(sam_token, &["token", "confirm", "po"]);
    assert_eq!(c["id"], pos[1]["id"]);
    assert_refused(
        &s.cli_as(sam_token, &["token", "confirm", "po"]),
        1,
        "no token named \"po\" awaits confirmation",
    );
}
