//! The knowledge base (issue 25): drafts and publishing by role, every revision kept and
//! committed to Git (`git log` names the authors), full-text search over articles and
//! tickets in German and English, the public FAQ page, the checklist's Support item that
//! needs the FAQ updated for the release, and a ticket's analysis naming matching articles.
//! On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestEnv, assert_refused};

backend_tests!(the_knowledge_base_is_written_searched_and_published);

async fn the_knowledge_base_is_written_searched_and_published(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let lead = s.as_role("support_lead");
    let agent = s.as_role("support_agent");
    let w = tempfile::tempdir().unwrap();
    let md = |name: &str, text: &str| {
        let p = w.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);

    // The checklist's Support item needs release notes and the FAQ updated for 2.1.0.
    let notes = md("notes.md", "# WIZARD 2.1\n");
    s.cli_json(&["release", "notes", "2.1.0", &notes]);
    s.cli_json(&["release", "freeze", "2.1.0"]);
    assert_refused(
        &s.cli_as(&lead, &["checklist", "sign", "2.1.0", "support"]),
        1,
        "FAQ updated",
    );
    assert_refused(
        &s.cli_as(
            &lead,
            &["checklist", "sign", "2.1.0", "support", "--no-faq-change"],
        ),
        2,
        "--note",
    );

    // An agent writes a draft; publishing is the support lead's.
    let faq = md(
        "open.md",
        "Beim **Öffnen** eines Projekts auf einem Netzlaufwerk stürzt WIZARD ab.\n\nWorkaround: das Projekt lokal speichern.\n\n<script>alert(1)</script>",
    );
    assert_refused(
        &s.cli_as(
            &agent,
            &[
                "kb",
                "add",
                "--title",
                "Absturz beim Öffnen",
                &faq,
                "--release",
                "2.1.0",
                "--publish",
            ],
        ),
        1,
        "kb.publish",
    );
    let a = s.cli_json_as(
        &agent,
        &[
            "kb",
            "add",
            "--title",
            "Absturz beim Öffnen",
            &faq,
            "--release",
            "2.1.0",
        ],
    );
    assert_eq!(
        (a["id"].as_str(), a["status"].as_str(), a["kind"].as_str()),
        (Some("FAQ-1"), Some("draft"), Some("faq"))
    );
    // A draft does not update the FAQ.
    assert_refused(
        &s.cli_as(&lead, &["checklist", "sign", "2.1.0", "support"]),
        1,
        "FAQ updated",
    );
    let a = s.cli_json_as(&lead, &["kb", "edit", "FAQ-1", "--publish"]);
    assert_eq!(
        (a["status"].as_str(), a["revision"].as_i64()),
        (Some("published"), Some(2))
    );
    let c = s.cli_json_as(&lead, &["checklist", "sign", "2.1.0", "support"]);
    assert!(
        c["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item"] == "support" && i["status"] == "done"),
        "{c}"
    );
    // What customers read is changed by the lead only.
    let newer = md("open2.md", "Fixed in 2.1.1.");
    assert_refused(
        &s.cli_as(&agent, &["kb", "edit", "FAQ-1", &newer]),
        1,
        "kb.publish",
    );

    // A known issue (QA may write one), fixed in a later release.
    s.cli_json(&["release", "create", "2.1.1", "--go-live", "2027-06-08"]);
    let ki = md(
        "ki.md",
        "Crash on start when the license file is missing. Workaround: re-enter the license key.",
    );
    let k = s.cli_json_as(
        &s.as_role("qa_lead"),
        &[
            "kb",
            "add",
            "--known-issue",
            "--fingerprint",
            "crash on start",
            "--title",
            "Crash on start without license",
            &ki,
            "--release",
            "2.1.0",
        ],
    );
    assert_eq!(
        (k["id"].as_str(), k["issue_status"].as_str()),
        (Some("KI-1"), Some("open"))
    );
    let k = s.cli_json_as(
        &lead,
        &["kb", "edit", "KI-1", "--fixed-in", "2.1.1", "--publish"],
    );
    assert_eq!(k["issue_status"], "fixed in 2.1.1");
    assert_eq!(k["revisions"].as_array().unwrap().len(), 2);

    // Every revision is a commit by its author.
    let log = std::process::Command::new("git")
        .args([
            "-C",
            env.path().join("kb").to_str().unwrap(),
            "log",
            "--format=%an|%s",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8(log.stdout).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "test-support_lead|KI-1 revision 2: published",
            "test-qa_lead|KI-1 revision 1: draft",
            "test-support_lead|FAQ-1 revision 2: published",
            "test-support_agent|FAQ-1 revision 1: draft",
        ],
        "{log}"
    );
    let file = std::fs::read_to_string(env.path().join("kb/wizard/FAQ-1.md")).unwrap();
    assert!(
        file.contains("status: published") && file.contains("release: 2.1.0"),
        "{file}"
    );

    // Search: diacritics folded ("offnen" finds "Öffnen"), tickets for those who read them.
    s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Absturz beim Öffnen vom Netzlaufwerk",
            "--customer",
            "k@example.com",
        ],
    );
    let hits = s.cli_json_as(&agent, &["kb", "search", "offnen netzlaufwerk"]);
    let kinds: Vec<(&str, &str)> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["id"].as_str().unwrap(), h["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("FAQ-1", "faq")) && kinds.contains(&("WIZ-1", "ticket")),
        "{hits}"
    );
    assert!(hits[0]["title"].is_string());
    // Hits with every word first, then those with some of them.
    let some = s.cli_json_as(&agent, &["kb", "search", "speichern netzlaufwerk"]);
    let ids: Vec<&str> = some
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&"FAQ-1"), "{some}");
    assert!(ids.contains(&"WIZ-1"), "{some}");
    // The admin reads no tickets: only the knowledge base.
    let admin_hits = s.cli_json(&["kb", "search", "offnen"]);
    assert!(
        admin_hits
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] != "ticket"),
        "{admin_hits}"
    );
    let en = s.cli_json_as(&agent, &["kb", "search", "license crash"]);
    assert_eq!(en[0]["id"], "KI-1");
    // Query syntax is words only: FTS operators are just text.
    let odd = s.cli_as(&agent, &["kb", "search", "\"NEAR(* OR) -:^", "--json"]);
    assert!(
        odd.status.success(),
        "{}",
        String::from_utf8_lossy(&odd.stderr)
    );

    // The ticket's analysis ranks the article.
    let t = s.cli_json_as(&agent, &["ticket", "show", "WIZ-1"]);
    assert_eq!(t["analysis"]["articles"][0]["id"], "FAQ-1");

    // The public FAQ: no token, published articles only, Markdown rendered, raw HTML dropped.
    let draft = md("d.md", "Not yet.");
    s.cli_json_as(
        &agent,
        &["kb", "add", "--title", "Unfinished draft", &draft],
    );
    let page = reqwest::get(format!("{}/support/wizard/faq", s.url))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Absturz beim Öffnen") && html.contains("<strong>Öffnen</strong>"),
        "{html}"
    );
    assert!(html.contains("2.1.0: fixed in 2.1.1"));
    assert!(
        !html.contains("Unfinished draft") && !html.contains("<script>alert"),
        "{html}"
    );
    let found = reqwest::get(format!("{}/support/wizard/faq?q=license", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        found.contains("Crash on start without license") && !found.contains("Absturz beim Öffnen")
    );
    let none = reqwest::get(format!("{}/support/wizard/faq?q=%3C%3Ezzqqxy", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        none.contains("Nothing matches")
            && none.contains("&#60;&#62;zzqqxy")
            && !none.contains("<>zzqqxy"),
        "the query is escaped: {none}"
    );
    assert_eq!(
        reqwest::get(format!("{}/support/nope/faq", s.url))
            .await
            .unwrap()
            .status(),
        404
    );

    let sec = s.as_role("security_engineer");
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(export.contains("kb.added") && export.contains("kb.revised"));
}
