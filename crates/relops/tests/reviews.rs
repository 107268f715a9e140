//! Review cycles (issue 33): the permission matrix and published knowledge-base articles
//! are reviewed every half year, a release that reached 100 % gets a retrospective; the
//! owner closes each with a note (audited), a document's next review opens half a year on,
//! and an overdue review reminds once.

mod common;

use std::sync::{Arc, Mutex};

use common::{Backend, Receiver, TestEnv, assert_refused, wait_for};
use serde_json::Value;

backend_tests!(reviews_open_remind_and_close);

fn find<'a>(list: &'a Value, subject: &str, open: bool) -> Option<&'a Value> {
    list["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"] == subject && r["done_at"].is_null() == open)
}

async fn reviews_open_remind_and_close(b: Backend) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let rx = Receiver::start(0, got.clone()).await;
    let config = format!(
        "[alerts]\nmaintenance_interval_seconds = 1\n[notify]\nretry_initial_seconds = 0.2\n[[notify.webhooks]]\nname = \"team\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/generic\"\n",
        rx.port
    );
    let env = TestEnv::with_config(b, &config).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.with_installer(work.path(), "2.1.0", "2027-06-01", 1);
    s.ship("2.1.0");
    let faq = work.path().join("faq.md");
    std::fs::write(&faq, "Projects on network drives open read-only.").unwrap();
    let lead = s.as_role("support_lead");
    s.cli_json_as(
        &lead,
        &[
            "kb",
            "add",
            "--title",
            "Network drives",
            faq.to_str().unwrap(),
            "--publish",
        ],
    );

    let mut list = Value::Null;
    wait_for("the reviews to open", || {
        list = s.cli_json(&["review", "list"]);
        ["permissions", "kb:FAQ-1", "retro:2.1.0"]
            .iter()
            .all(|x| find(&list, x, true).is_some())
    })
    .await;
    let perm = find(&list, "permissions", true).unwrap();
    assert_eq!(perm["owner_role"], "security_engineer");
    let due: chrono::DateTime<chrono::Utc> = perm["due_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (due - chrono::Utc::now()).num_days() >= 181,
        "half a year: {due}"
    );
    let retro = find(&list, "retro:2.1.0", true).unwrap();
    assert_eq!(
        (retro["owner_role"].as_str(), retro["overdue"].as_bool()),
        (Some("release_manager"), Some(false))
    );
    assert!(
        retro["what"]
            .as_str()
            .unwrap()
            .contains("update the playbook?")
    );

    // Closed by its owner only, with a note; audited.
    let rm = s.as_role("release_manager");
    assert_refused(
        &s.cli_as(&lead, &["review", "done", "retro:2.1.0", "--note", "x"]),
        1,
        "rollout.manage",
    );
    assert_refused(
        &s.cli_as(&rm, &["review", "done", "retro:2.1.0", "--note", " "]),
        1,
        "say what the review found",
    );
    // The retrospective changed the playbook, kept in the knowledge base: the review is
    // closed by linking the playbook's new revision.
    let book = work.path().join("playbook.md");
    std::fs::write(&book, "# Release playbook\n\nHotfixes within 48 h.\n").unwrap();
    let playbook = s.cli_json_as(
        &lead,
        &[
            "kb",
            "add",
            "--title",
            "Release playbook",
            book.to_str().unwrap(),
        ],
    );
    let pb = playbook["id"].as_str().unwrap().to_owned();
    std::fs::write(&book, "# Release playbook\n\nHotfixes within 24 h.\n").unwrap();
    s.cli_json_as(&lead, &["kb", "edit", &pb, book.to_str().unwrap()]);
    assert_refused(
        &s.cli_as(
            &rm,
            &[
                "review",
                "done",
                "retro:2.1.0",
                "--revision",
                &format!("{pb}@3"),
            ],
        ),
        1,
        &format!("{pb} has revisions 1 to 2"),
    );
    assert_refused(
        &s.cli_as(
            &rm,
            &["review", "done", "retro:2.1.0", "--revision", "FAQ-99@1"],
        ),
        1,
        "no knowledge-base article `FAQ-99`",
    );
    assert_refused(
        &s.cli_as(
            &rm,
            &["review", "done", "retro:2.1.0", "--revision", "FAQ-1"],
        ),
        2,
        "ARTICLE@REVISION",
    );
    let done = s.cli_json_as(
        &rm,
        &[
            "review",
            "done",
            "retro:2.1.0",
            "--revision",
            &format!("{pb}@2"),
        ],
    );
    assert_eq!(
        done["revision"],
        serde_json::json!({"article": pb, "revision": 2})
    );
    assert_eq!(done["note"], format!("revised: Release playbook ({pb}@2)"));
    let listed = s.cli_json(&["review", "list"]);
    let listed = find(&listed, "retro:2.1.0", false).unwrap();
    assert_eq!(listed["revision"]["article"], pb.as_str());
    assert_refused(
        &s.cli_as(&rm, &["review", "done", "retro:2.1.0", "--note", "again"]),
        1,
        "no open review",
    );
    assert_refused(
        &s.cli_as(&rm, &["review", "done", "playbook-x", "--note", "x"]),
        1,
        "no review `playbook-x`",
    );

    // An overdue review reminds once; closing a document's review opens the next one.
    env.execute_sql(&["UPDATE reviews SET due_at = '2026-01-01T00:00:00.000000Z' WHERE subject = 'kb:FAQ-1' AND done_at IS NULL"]).await;
    wait_for("the overdue reminder", || {
        rx.of("generic")
            .iter()
            .any(|m| m["event"] == "review.overdue")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let reminders: Vec<Value> = rx
        .of("generic")
        .into_iter()
        .filter(|m| m["event"] == "review.overdue")
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(
        reminders[0]["text"]
            .as_str()
            .unwrap()
            .contains("relops review done kb:FAQ-1")
    );
    assert_eq!(
        find(&s.cli_json(&["review", "list"]), "kb:FAQ-1", true).unwrap()["overdue"],
        true
    );
    s.cli_json_as(
        &lead,
        &["review", "done", "kb:FAQ-1", "--note", "still true for 2.1"],
    );
    let list = s.cli_json(&["review", "list"]);
    let next = find(&list, "kb:FAQ-1", true).expect("the next review");
    let due: chrono::DateTime<chrono::Utc> = next["due_at"].as_str().unwrap().parse().unwrap();
    assert!((due - chrono::Utc::now()).num_days() >= 181);
    assert!(
        find(&list, "retro:2.1.0", true).is_none(),
        "a retrospective is held once"
    );
    let sec = s.as_role("security_engineer");
    let audit = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(audit.contains("review.done"));
}
