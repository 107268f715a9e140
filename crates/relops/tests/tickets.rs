//! The support desk's tickets (issue 25): opened with the priority rules and the SLA's due
//! time, the queue ordered by time left, replies, notes, waiting on the customer, the
//! close rule's refusals, the support lead's confirmation, reopening — and audit entries
//! that name tickets, never customers. On SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Backend, TestEnv, assert_refused};

backend_tests!(
    a_ticket_runs_from_open_to_close,
    sla_warnings_and_breaches_are_reported,
    escalations_create_issues_in_jira_and_github,
    the_app_reports_a_problem,
    zendesk_tickets_are_mirrored_and_noted_back,
    a_support_lead_sets_priority_rules
);

fn due(t: &serde_json::Value) -> Option<DateTime<Utc>> {
    t["first_response_due"].as_str().map(|s| s.parse().unwrap())
}

async fn a_ticket_runs_from_open_to_close(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let agent = s.as_role("support_agent");
    let lead = s.as_role("support_lead");
    let rm = s.as_role("release_manager");

    // Data loss makes a ticket critical whatever was asked: due 4 h from now, around the
    // clock. The acceptance interface: id, priority, status, first_response_due.
    let before = Utc::now();
    let crit = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Datenverlust beim Speichern",
            "--customer",
            "Kunde@Example.com",
            "--priority",
            "normal",
        ],
    );
    assert_eq!(crit["id"], "WIZ-1");
    assert_eq!(crit["priority"], "critical");
    assert_eq!(crit["status"], "new");
    assert_eq!(crit["customer"], "kunde@example.com");
    assert_eq!(crit["priority_reason"], "the customer reports data loss");
    let d = due(&crit).unwrap();
    assert!(d >= before + Duration::hours(4) && d <= Utc::now() + Duration::hours(4));
    assert_eq!(crit["sla"]["clock"], "around_the_clock");

    let normal = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Toolbar icons blurry",
            "--customer",
            "a@example.org",
            "--priority",
            "normal",
        ],
    );
    let high = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Export is slow",
            "--customer",
            "b@example.org",
        ],
    );
    assert_eq!(high["priority"], "high", "high when nothing was asked");
    assert_eq!(high["sla"]["clock"], "working_hours");
    assert!(due(&normal).unwrap() >= due(&high).unwrap());

    // The queue: time left, least first.
    let q = s.cli_json_as(&agent, &["ticket", "list"]);
    let ids: Vec<&str> = q["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mut by_due: Vec<(DateTime<Utc>, &str)> =
        [(&crit, "WIZ-1"), (&normal, "WIZ-2"), (&high, "WIZ-3")]
            .iter()
            .map(|(t, id)| (due(t).unwrap(), *id))
            .collect();
    by_due.sort();
    assert_eq!(ids, by_due.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    assert_eq!(q["total"], 3);
    let text = String::from_utf8(s.cli_as(&agent, &["ticket", "list"]).stdout).unwrap();
    assert!(
        text.contains("WIZ-1") && text.contains("due in 3 h 59 min"),
        "{text}"
    );

    // Reading is for support and those who decide from it; working is support's.
    let rm_list = s.cli_json_as(&rm, &["ticket", "list"]);
    assert_eq!(rm_list["total"], 3);
    assert_refused(
        &s.cli_as(&rm, &["ticket", "reply", "WIZ-1", "--body", "hi"]),
        1,
        "ticket.work",
    );
    assert_refused(
        &s.cli_as(
            &agent,
            &["ticket", "priority", "WIZ-2", "high", "--reason", "x"],
        ),
        1,
        "ticket.lead",
    );

    // A reply is the first response: the clock stops; a note is internal.
    let t = s.cli_json_as(
        &agent,
        &["ticket", "note", "WIZ-1", "--body", "crash id in the log"],
    );
    assert!(t["first_response_at"].is_null() && t["sla"]["running"] == true);
    let t = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "reply",
            "WIZ-1",
            "--body",
            "Wir schauen uns das an.",
        ],
    );
    assert_eq!(t["status"], "open");
    assert!(t["first_response_at"].is_string() && t["first_response_due"].is_null());
    assert_eq!(t["sla"]["running"], false);
    let kinds: Vec<&str> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "note", "reply"]);

    // A reply that asks the customer something: the ticket waits on them.
    let t = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "reply",
            "WIZ-2",
            "--body",
            "Which version?",
            "--wait",
        ],
    );
    assert_eq!(t["status"], "waiting_on_customer");

    // The close rule: every unmet condition named, exit 1.
    let out = s.cli_as(&agent, &["ticket", "close", "WIZ-1"]);
    assert_refused(&out, 1, "not solved yet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no cause or workaround") && err.contains("not confirmed"),
        "{err}"
    );
    assert_refused(
        &s.cli_as(&agent, &["ticket", "solve", "WIZ-1"]),
        1,
        "--resolution",
    );
    let t = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "solve",
            "WIZ-1",
            "--resolution",
            "Workaround: save to a local folder; fixed in 2.1.1",
        ],
    );
    assert_eq!(t["status"], "solved");
    assert_eq!(
        t["close_blockers"].as_array().unwrap().len(),
        1,
        "{}",
        t["close_blockers"]
    );
    let out = s.cli_as(&agent, &["ticket", "close", "WIZ-1"]);
    assert_refused(&out, 1, "not confirmed");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("no cause"));

    // Only a support lead records a confirmation given outside relops.
    assert_refused(
        &s.cli_as(&agent, &["ticket", "confirm", "WIZ-1", "--note", "phone"]),
        1,
        "ticket.lead",
    );
    let t = s.cli_json_as(
        &lead,
        &[
            "ticket",
            "confirm",
            "WIZ-1",
            "--note",
            "Customer confirmed by phone, 10:12",
        ],
    );
    assert!(
        t["confirmed"]
            .as_str()
            .unwrap()
            .starts_with("recorded by test-support_lead")
    );
    let t = s.cli_json_as(&agent, &["ticket", "close", "WIZ-1"]);
    assert_eq!(t["status"], "closed");
    assert!(t["close_blockers"].as_array().unwrap().is_empty());
    assert_refused(
        &s.cli_as(&agent, &["ticket", "reply", "WIZ-1", "--body", "x"]),
        1,
        "reopen it first",
    );

    // The queue leaves closed tickets out unless asked.
    let q = s.cli_json_as(&agent, &["ticket", "list"]);
    assert_eq!(q["total"], 2);
    let q = s.cli_json_as(&agent, &["ticket", "list", "--status", "closed"]);
    assert_eq!(q["tickets"][0]["id"], "WIZ-1");

    // Reopening drops the confirmation: closing again needs a new one.
    let t = s.cli_json_as(
        &agent,
        &["ticket", "reopen", "WIZ-1", "--reason", "crashes again"],
    );
    assert_eq!(t["status"], "open");
    assert!(t["confirmed"].is_null());

    // The lead's priority change moves the due time and is audited, naming the ticket only.
    let t = s.cli_json_as(
        &lead,
        &[
            "ticket",
            "priority",
            "WIZ-3",
            "critical",
            "--reason",
            "key account",
        ],
    );
    assert_eq!(t["priority"], "critical");
    assert!(due(&t).unwrap() <= Utc::now() + Duration::hours(4));
    let t = s.cli_json_as(&lead, &["ticket", "assign", "WIZ-3", "--to", "Jana"]);
    assert_eq!(t["assignee"], "Jana");

    // Bad input: a clear 4xx, nothing stored.
    assert_refused(
        &s.cli_as(
            &agent,
            &[
                "ticket",
                "open",
                "--subject",
                "x",
                "--customer",
                "not-an-address",
            ],
        ),
        1,
        "not an e-mail address",
    );
    assert_refused(
        &s.cli_as(&agent, &["ticket", "show", "WIZ-99"]),
        1,
        "no ticket WIZ-99",
    );
    assert_eq!(
        s.cli_json_as(
            &agent,
            &[
                "ticket",
                "list",
                "--status",
                "new,open,waiting_on_customer,solved,closed"
            ]
        )["total"],
        3
    );

    let sec = s.as_role("security_engineer");
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    for action in [
        "ticket.opened",
        "ticket.replied",
        "ticket.noted",
        "ticket.solved",
        "ticket.confirmed",
        "ticket.closed",
        "ticket.reopened",
        "ticket.priority_changed",
        "ticket.assigned",
    ] {
        assert!(export.contains(action), "{action} not audited");
    }
    assert!(
        !export.contains("kunde@example.com") && !export.contains("Datenverlust"),
        "the audit trail holds no customer data"
    );
}

/// The SLA worker: at 75 % of the budget the support channel is warned, a breached critical
/// ticket pages on-call; each once. Time is moved by opening the tickets hours earlier in
/// the database; the next change of the ticket computes its due times from there.
async fn sla_warnings_and_breaches_are_reported(b: Backend) {
    let rx = common::Receiver::start(0, Default::default()).await;
    let env = TestEnv::with_config(
        b,
        &format!(
            r##"
[alerts]
maintenance_interval_seconds = 1
[notify]
retry_initial_seconds = 0.2
[[notify.webhooks]]
name = "support-channel"
kind = "slack"
url = "http://127.0.0.1:{port}/slack"
[[notify.webhooks]]
name = "on-call"
kind = "pagerduty"
url = "http://127.0.0.1:{port}/pagerduty"
routing_key = "R0UT1NGKEY"
"##,
            port = rx.port
        ),
    )
    .await;
    let s = env.serve();
    let agent = s.as_role("support_agent");
    for subject in ["App startet nicht", "Crashes on start since 2.1.0"] {
        let t = s.cli_json_as(
            &agent,
            &[
                "ticket",
                "open",
                "--subject",
                subject,
                "--customer",
                "c@example.com",
            ],
        );
        assert_eq!(t["priority"], "critical");
    }
    // WIZ-1 opened 5 h ago (past the 4 h), WIZ-2 3 h 30 min ago (past 75 %, 3 h).
    let ago = |m: i64| {
        (Utc::now() - Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    env.execute_sql(&[
        &format!(
            "UPDATE tickets SET opened_at = '{}' WHERE id = 'WIZ-1'",
            ago(300)
        ),
        &format!(
            "UPDATE tickets SET opened_at = '{}' WHERE id = 'WIZ-2'",
            ago(210)
        ),
    ])
    .await;
    for id in ["WIZ-1", "WIZ-2"] {
        let t = s.cli_json_as(&agent, &["ticket", "note", id, "--body", "looking"]);
        assert_eq!(t["sla"]["breached"], id == "WIZ-1", "{t}");
        assert_eq!(t["sla"]["warn"], id == "WIZ-2", "{t}");
    }
    let texts = |rx: &common::Receiver| -> Vec<String> {
        rx.of("slack")
            .iter()
            .map(|v| v["text"].as_str().unwrap().to_owned())
            .filter(|t| t.contains("has used 75 %") || t.contains("SLA is breached"))
            .collect()
    };
    // A critical ticket is told to the support channel when it is opened.
    common::wait_for("the critical tickets' notices", || {
        rx.of("slack").len() >= 2
    })
    .await;
    common::wait_for("three SLA messages", || texts(&rx).len() >= 3).await;
    // The page is its own outbox message: it may come after the channel's.
    common::wait_for("the page", || !rx.of("pagerduty").is_empty()).await;
    let pages = rx.of("pagerduty");
    assert!(
        pages[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("WIZ-1")
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let t = texts(&rx);
    assert_eq!(t.len(), 3, "each reported once: {t:?}");
    assert_eq!(rx.of("pagerduty").len(), 1, "paged once: {pages:?}");
    assert_eq!(
        t.iter()
            .filter(|m| m.contains("WIZ-1") && m.contains("75 %"))
            .count(),
        1
    );
    assert_eq!(
        t.iter()
            .filter(|m| m.contains("WIZ-1") && m.contains("breached"))
            .count(),
        1
    );
    assert_eq!(
        t.iter()
            .filter(|m| m.contains("WIZ-2") && m.contains("75 %"))
            .count(),
        1
    );

    // Answered: nothing more is reported.
    s.cli_json_as(
        &agent,
        &["ticket", "reply", "WIZ-2", "--body", "We are on it."],
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(texts(&rx).len(), 3);
    assert_eq!(rx.of("pagerduty").len(), 1);
}

/// One request a tracker received: method, path, the headers that matter, the JSON body.
type Seen = (
    String,
    String,
    std::collections::BTreeMap<String, String>,
    serde_json::Value,
);

/// Jira and GitHub as far as relops uses them: the issue-creating endpoints, answering as
/// the vendors document (`201` with the key or number), keeping every request.
async fn trackers() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>> = Default::default();
    let keep = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move |m: Method, uri: Uri, h: HeaderMap, body: String| {
        let keep = keep.clone();
        async move {
            let headers = ["authorization", "accept", "content-type", "x-github-api-version"]
                .iter()
                .filter_map(|k| Some((k.to_string(), h.get(*k)?.to_str().ok()?.to_owned())))
                .collect();
            let path = uri.path().to_owned();
            keep.lock().unwrap().push((m.to_string(), path.clone(), headers, serde_json::from_str(&body).unwrap()));
            let answer = if path == "/rest/api/2/issue" {
                serde_json::json!({"id": "10001", "key": "WIZ-24", "self": "http://jira/rest/api/2/issue/10001"})
            } else {
                serde_json::json!({"number": 42, "html_url": "https://github.com/wizard/wizard/issues/42"})
            };
            (StatusCode::CREATED, axum::Json(answer))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

/// `relops ticket escalate`: the exact requests Jira's and GitHub's REST APIs document,
/// sent through the outbox, and the created issue linked back to the ticket.
async fn escalations_create_issues_in_jira_and_github(b: Backend) {
    use base64::Engine;
    let (port, seen) = trackers().await;
    let env = TestEnv::with_config(
        b,
        &format!(
            r##"
[notify]
retry_initial_seconds = 0.2
[support.jira]
url = "http://127.0.0.1:{port}"
project = "WIZ"
user = "relops@wizard.example"
api_token = "jira-secret"
[support.github]
api_url = "http://127.0.0.1:{port}"
repo = "wizard/wizard"
token = "ghp-secret"
"##
        ),
    )
    .await;
    let s = env.serve();
    let agent = s.as_role("support_agent");
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);
    for n in 1..=2 {
        s.cli_json_as(
            &agent,
            &[
                "ticket",
                "open",
                "--subject",
                "Export loses layers",
                "--customer",
                &format!("c{n}@example.com"),
                "--release",
                "2.1.0",
                "--platform",
                "windows-x64",
                "--priority",
                "normal",
            ],
        );
    }
    let t = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "escalate",
            "WIZ-1",
            "--tracker",
            "jira",
            "--note",
            "Reproduced: export a 3-layer file",
        ],
    );
    assert_eq!(t["status"], "escalated");
    common::wait_for("Jira to be called", || !seen.lock().unwrap().is_empty()).await;
    let (method, path, headers, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/rest/api/2/issue")
    );
    let basic =
        base64::engine::general_purpose::STANDARD.encode("relops@wizard.example:jira-secret");
    assert_eq!(headers["authorization"], format!("Basic {basic}"));
    assert_eq!(headers["content-type"], "application/json");
    let fields = &body["fields"];
    assert_eq!(fields["project"], serde_json::json!({"key": "WIZ"}));
    assert_eq!(fields["issuetype"], serde_json::json!({"name": "Bug"}));
    assert_eq!(fields["summary"], "[WIZ-1] Export loses layers");
    assert_eq!(fields["labels"], serde_json::json!(["production-incident"]));
    let d = fields["description"].as_str().unwrap();
    assert!(
        d.contains("WIZ-1") && d.contains("Release: 2.1.0") && d.contains("Reproduced: export"),
        "{d}"
    );
    assert!(
        !d.contains("c1@example.com"),
        "no customer address in the issue"
    );
    assert_eq!(body.as_object().unwrap().len(), 1);
    assert_eq!(fields.as_object().unwrap().len(), 5);

    // Linked back: the ticket names the issue.
    common::wait_for("the issue to be linked", || {
        s.cli_json_as(&agent, &["ticket", "show", "WIZ-1"])["issue"] == "jira:WIZ-24"
    })
    .await;
    let t = s.cli_json_as(&agent, &["ticket", "show", "WIZ-1"]);
    assert_eq!(
        t["issue_url"],
        format!("http://127.0.0.1:{port}/browse/WIZ-24")
    );
    assert_refused(
        &s.cli_as(
            &agent,
            &["ticket", "escalate", "WIZ-1", "--tracker", "github"],
        ),
        1,
        "escalated already",
    );

    s.cli_json_as(
        &agent,
        &["ticket", "escalate", "WIZ-2", "--tracker", "github"],
    );
    common::wait_for("GitHub to be called", || seen.lock().unwrap().len() == 2).await;
    let (method, path, headers, body) = seen.lock().unwrap()[1].clone();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/repos/wizard/wizard/issues")
    );
    assert_eq!(headers["authorization"], "Bearer ghp-secret");
    assert_eq!(headers["accept"], "application/vnd.github+json");
    assert_eq!(headers["x-github-api-version"], "2022-11-28");
    assert_eq!(body["title"], "[WIZ-2] Export loses layers");
    assert_eq!(body["labels"], serde_json::json!(["production-incident"]));
    assert_eq!(body.as_object().unwrap().len(), 3);
    common::wait_for("the GitHub issue to be linked", || {
        s.cli_json_as(&agent, &["ticket", "show", "WIZ-2"])["issue"] == "github:wizard/wizard#42"
    })
    .await;
    // The outbox keeps no credentials.
    let sec = s.as_role("security_engineer");
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(export.contains("ticket.issue_linked") && !export.contains("secret"));
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM notifications WHERE payload LIKE '%secret%' OR url LIKE '%secret%'").await, 0);
}

/// The app's "report a problem" through the public DSN key: a ticket with the install,
/// release, platform and crashes; bounded per install; a wrong key gets nothing.
async fn the_app_reports_a_problem(b: Backend) {
    let env = TestEnv::with_config(b, "[support]\napp_tickets_per_install_per_day = 2\n").await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = |key: &str, install: &str, subject: &str| {
        let body = serde_json::json!({
            "install_id": install, "release": "2.1.0", "platform": "macos-universal", "channel": "stable",
            "email": "Anna@Example.com", "name": "Anna", "subject": subject,
            "text": "Der Export hängt.", "crash_ids": ["6F1C2E0A-0000-4000-8000-00000000ABCD"],
        });
        let url = format!("{}/v1/ingest/problem", s.url);
        let key = key.to_owned();
        async move {
            reqwest::Client::new()
                .post(url)
                .header("X-Relops-Ingest-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = report(&key, "inst-1", "Export hängt").await;
    assert_eq!(r.status(), 200);
    let ack: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ack["id"], "WIZ-1");
    let agent = s.as_role("support_agent");
    let t = s.cli_json_as(&agent, &["ticket", "show", "WIZ-1"]);
    assert_eq!(t["source"], "app");
    assert_eq!(t["customer"], "anna@example.com");
    assert_eq!(t["release"], "2.1.0");
    assert_eq!(t["platform"], "macos-universal");
    assert_eq!(t["install"], "inst-1");
    assert_eq!(
        t["crashes"],
        serde_json::json!(["6f1c2e0a00004000800000000000abcd"])
    );
    assert!(
        t["timeline"][0]["body"]
            .as_str()
            .unwrap()
            .contains("Der Export hängt.")
    );

    // A wrong key: 401, nothing opened. The install's third report today: 429.
    assert_eq!(report("not-the-key", "inst-1", "x").await.status(), 401);
    assert_eq!(report(&key, "inst-1", "Noch einmal").await.status(), 200);
    let r = report(&key, "inst-1", "Und noch einmal").await;
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("this install filed 2 reports today")
    );
    assert_eq!(report(&key, "inst-2", "Other install").await.status(), 200);
    assert_eq!(s.cli_json_as(&agent, &["ticket", "list"])["total"], 3);
}

/// Zendesk's webhook signature, computed by Python's `hmac` (not relops' code): base64 of
/// HMAC-SHA256 over timestamp + body.
fn zendesk_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let python = std::env::var_os("RELOPS_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import base64, hashlib, hmac, sys; print(base64.b64encode(hmac.new(sys.argv[1].encode(), (sys.argv[2] + sys.argv[3]).encode(), hashlib.sha256).digest()).decode())",
            secret,
            timestamp,
            body,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A Zendesk trigger's signed call mirrors the ticket (urgent becomes critical, with its
/// SLA), a replayed or forged call is refused, and relops' analysis goes back as an
/// internal note in the exact form Zendesk's Tickets API documents.
async fn zendesk_tickets_are_mirrored_and_noted_back(b: Backend) {
    use base64::Engine;
    let (port, seen) = trackers().await;
    let env = TestEnv::with_config(
        b,
        &format!(
            r##"
[notify]
retry_initial_seconds = 0.2
[support.zendesk]
url = "http://127.0.0.1:{port}"
signing_secret = "zd-signing-secret"
email = "agent@wizard.example"
api_token = "zd-token"
"##
        ),
    )
    .await;
    let s = env.serve();
    let agent = s.as_role("support_agent");
    // An earlier ticket of the same customer, which the note names.
    s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Lizenzfrage",
            "--customer",
            "jana@example.com",
        ],
    );
    let body = r#"{"ticket":{"id":35436,"subject":"WIZARD friert ein","description":"Seit dem Update friert alles ein.","priority":"urgent","status":"new","requester":{"email":"Jana@Example.com","name":"Jana K."}}}"#;
    let post = |ts: String, sig: String, body: &'static str| {
        let url = format!("{}/v1/zendesk/webhook", s.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
                .header("X-Zendesk-Webhook-Signature", sig)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Forged (another secret) and replayed (an hour old): refused, nothing mirrored.
    let r = post(now.clone(), zendesk_signature("guess", &now, body), body).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("signature does not match"));
    let old = (Utc::now() - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        post(
            old.clone(),
            zendesk_signature("zd-signing-secret", &old, body),
            body
        )
        .await
        .status(),
        403
    );
    assert_eq!(s.cli_json_as(&agent, &["ticket", "list"])["total"], 1);

    let sig = zendesk_signature("zd-signing-secret", &now, body);
    let r = post(now.clone(), sig.clone(), body).await;
    assert_eq!(r.status(), 200);
    let taken: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        taken,
        serde_json::json!({"ticket": "WIZ-2", "action": "mirrored"})
    );
    let t = s.cli_json_as(&agent, &["ticket", "show", "WIZ-2"]);
    assert_eq!(t["source"], "zendesk");
    assert_eq!(t["priority"], "critical");
    assert_eq!(t["customer"], "jana@example.com");
    assert!(t["first_response_due"].is_string());
    // Zendesk retries a call it got no answer to: the same ticket.
    let again: serde_json::Value = post(now, sig, body).await.json().await.unwrap();
    assert_eq!(
        again,
        serde_json::json!({"ticket": "WIZ-2", "action": "duplicate"})
    );

    common::wait_for("the note to reach Zendesk", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let (method, path, headers, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PUT", "/api/v2/tickets/35436.json")
    );
    let basic =
        base64::engine::general_purpose::STANDARD.encode("agent@wizard.example/token:zd-token");
    assert_eq!(headers["authorization"], format!("Basic {basic}"));
    assert_eq!(headers["content-type"], "application/json");
    let comment = &body["ticket"]["comment"];
    assert_eq!(comment["public"], false);
    let text = comment["body"].as_str().unwrap();
    assert!(
        text.contains("WIZ-2") && text.contains("WIZ-1 (new, Lizenzfrage)"),
        "{text}"
    );
    assert_eq!(body["ticket"].as_object().unwrap().len(), 1);
    assert_eq!(comment.as_object().unwrap().len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "one note per ticket");
}

/// The support lead's priority rules set a new ticket's priority (after the built-in
/// critical phrases); agents may read them, not change them; changes are audited.
async fn a_support_lead_sets_priority_rules(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let lead = s.as_role("support_lead");
    let agent = s.as_role("support_agent");
    common::assert_refused(
        &s.cli_as(
            &agent,
            &[
                "support",
                "rule",
                "--phrase",
                "lizenz abgelaufen",
                "--priority",
                "normal",
            ],
        ),
        1,
        "ticket.lead",
    );
    common::assert_refused(
        &s.cli_as(
            &lead,
            &["support", "rule", "--phrase", "x", "--priority", "normal"],
        ),
        1,
        "3 to 100",
    );
    common::assert_refused(
        &s.cli_as(
            &lead,
            &[
                "support",
                "rule",
                "--phrase",
                "drucken",
                "--priority",
                "urgent",
            ],
        ),
        1,
        "urgent",
    );
    s.cli_json_as(
        &lead,
        &[
            "support",
            "rule",
            "--phrase",
            "Lizenz abgelaufen",
            "--priority",
            "normal",
        ],
    );
    let l = s.cli_json_as(
        &lead,
        &[
            "support",
            "rule",
            "--phrase",
            "drucken",
            "--priority",
            "high",
        ],
    );
    let phrases: Vec<&str> = l["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phrase"].as_str().unwrap())
        .collect();
    assert_eq!(phrases, ["drucken", "lizenz abgelaufen"]);
    assert_eq!(s.cli_json_as(&agent, &["support", "rules"]), l);

    let open = |subject: &str, priority: Option<&str>| {
        let mut args = vec![
            "ticket",
            "open",
            "--subject",
            subject,
            "--customer",
            "k@example.com",
        ];
        if let Some(p) = priority {
            args.extend(["--priority", p]);
        }
        s.cli_json_as(&agent, &args)
    };
    let t = open("Meine Lizenz abgelaufen?", None);
    assert_eq!(t["priority"], "normal");
    assert!(
        t["priority_reason"]
            .as_str()
            .unwrap()
            .contains("lizenz abgelaufen"),
        "{t}"
    );
    assert_eq!(
        open("Drucken geht nicht", Some("normal"))["priority"],
        "high"
    );
    assert_eq!(
        open("Lizenz abgelaufen", Some("critical"))["priority"],
        "critical"
    );
    assert_eq!(
        open("Lizenz abgelaufen, Datenverlust", None)["priority"],
        "critical"
    );

    s.cli_json_as(
        &lead,
        &["support", "rule-remove", "--phrase", "LIZENZ abgelaufen"],
    );
    assert_eq!(open("Lizenz abgelaufen", None)["priority"], "high");
    common::assert_refused(
        &s.cli_as(
            &lead,
            &["support", "rule-remove", "--phrase", "lizenz abgelaufen"],
        ),
        1,
        "no priority rule",
    );
    let audit = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .filter(|a| a.starts_with("ticket.rule"))
        .collect();
    assert_eq!(
        actions,
        ["ticket.rule_set", "ticket.rule_set", "ticket.rule_removed"]
    );
}
