//! The web console in a real browser (issue 26): Debian's Chromium driven by Playwright for
//! Python (`tests/python/console_browser.py`). Each role logs in and sees only its buttons;
//! QA signs its checklist item and the product owner says go through the pages; the release
//! manager starts the pilot, on-call halts it and files a rollback, the product owner
//! confirms it — and python-tuf sees the feed change after each;  script in release notes,
//! a checklist note and a token's name stays inert; a form without the CSRF token is
//! refused; axe-core finds no serious or critical accessibility violation on any page;
//! no page is wider than a 390 px phone. Screenshots land in
//! `$CARGO_TARGET_TMPDIR/console-screenshots/`.
//!
//! SQLite only: the pages read through the operations layer, which the other tests run on
//! both backends; the browser adds nothing backend-specific.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, TestEnv};

/// Runs one step of the browser script; its report.
fn browse(python: &Path, work: &Path, cfg: &serde_json::Value, step: &str) -> serde_json::Value {
    let mut cfg = cfg.clone();
    cfg["step"] = step.into();
    let file = work.join(format!("browser-{step}.json"));
    std::fs::write(&file, cfg.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/console_browser.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser step {step} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The feed's targets as python-tuf's client verified them.
fn feed(s: &common::Server, python: &Path, root: &[u8], work: &Path) -> serde_json::Value {
    common::python_tuf_refresh(python, &s.url, "wizard", root, work).unwrap()["targets"].clone()
}

/// The rollout state the feed announces for 2.0.0's installer, if it lists it.
fn state_of_2_0_0(targets: &serde_json::Value) -> Option<String> {
    targets["wizard-2.0.0-windows-x64.msi"]["custom"]["rollout"]["state"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_do_their_work_in_the_console() {
    let Some((python, chromium, axe)) = common::browser_parts(&[]) else {
        return;
    };
    let Some(tuf_python) = common::python_with_tuf() else {
        return;
    };
    // Health is recorded every second, for the health page's charts.
    let env = TestEnv::with_config(
        Backend::SqliteLocal,
        "[health]\nhistory_interval_seconds = 1\n",
    )
    .await;
    let s = env.serve();
    let dir = tempfile::tempdir().unwrap();
    let xss = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";
    // 1.9.0 at 100 %: what a rollback of 2.0.0 goes back to.
    s.with_installer(dir.path(), "1.9.0", "2027-01-15", 1);
    s.ship("1.9.0");
    // 1.9.0's installs report sessions: 120, 3 of them crashed.
    s.report_sessions("1.9.0", 120, 3).await;
    let http = s.http();
    let mut recorded = false;
    for _ in 0..150 {
        let h: serde_json::Value = http
            .get("/v1/releases/1.9.0/health/history?hours=1")
            .await
            .json()
            .await
            .unwrap();
        if h["points"].as_array().is_some_and(|p| !p.is_empty()) {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(recorded, "1.9.0's health was not recorded");
    // 2.0.0 ready but for QA's signature, with release notes that try to run a script.
    s.with_installer(dir.path(), "2.0.0", "2027-03-15", 2);
    let notes = dir.path().join("notes.md");
    std::fs::write(
        &notes,
        format!("# 2.0.0\n\n{xss}\n\n[details](javascript:window.pwned=3)\n"),
    )
    .unwrap();
    s.cli_json(&["release", "notes", "2.0.0", notes.to_str().unwrap()]);
    s.ready_except("2.0.0", &["qa"]);

    // A customer's ticket about 1.9.0, with script in its subject.
    s.cli_json_as(
        &s.as_role("support_agent"),
        &[
            "ticket",
            "open",
            "--subject",
            xss,
            "--customer",
            "ana@example.com",
            "--release",
            "1.9.0",
        ],
    );
    let mut tokens = serde_json::Map::new();
    for role in [
        "release_manager",
        "product_owner",
        "oncall_devops",
        "support_agent",
    ] {
        tokens.insert(role.into(), s.as_role(role).into());
    }
    tokens.insert("admin".into(), s.token.clone().into());
    // QA's token is named like a script: the name shows on every page QA opens.
    let qa = s.cli_json(&[
        "token",
        "create",
        "--name",
        "<script>window.pwned=4</script>",
        "--role",
        "qa_lead",
    ]);
    tokens.insert("qa_lead".into(), qa["token"].clone());
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let cfg = serde_json::json!({
        "url": s.url,
        "version": "2.0.0",
        "tokens": tokens,
        "chromium": chromium,
        "axe": axe,
        "screenshots": shots,
        "xss": xss,
    });
    let root = s.trusted_root().await;
    let before = feed(&s, &tuf_python, &root, &dir.path().join("tuf"));
    assert_eq!(state_of_2_0_0(&before), None, "{before}");

    let r = browse(&python, dir.path(), &cfg, "roles_and_go");
    let buttons =
        |role: &str| -> Vec<String> { serde_json::from_value(r["buttons"][role].clone()).unwrap() };
    // Before go: only QA may sign (its item is the open one), only the product owner
    // decides; an approved release is not started before go.
    assert_eq!(buttons("qa_lead"), ["sign-qa"]);
    assert_eq!(buttons("product_owner"), ["decide"]);
    for role in ["release_manager", "oncall_devops", "support_agent", "admin"] {
        assert!(buttons(role).is_empty(), "{role}: {:?}", buttons(role));
    }
    assert_eq!(r["actions"]["sign"], "Checklist item signed.", "{r}");
    assert_eq!(r["actions"]["go"], "Decision recorded.", "{r}");
    assert_eq!(r["actions"]["start"], "Pilot started.", "{r}");
    assert_eq!(r["csrf"], 403, "a form without the CSRF token");
    assert_eq!(
        r["buttons"]["support_agent_ticket"],
        serde_json::json!(["reply", "note", "solve", "escalate"]),
        "{r}"
    );
    assert!(
        r["kb_preview"]
            .as_str()
            .is_some_and(|p| p.contains("<strong>the cache</strong>")),
        "{r}"
    );
    // 1.9.0's recorded health: installs, sessions and the test's path.
    assert_eq!(r["health_charts"], 3, "{r}");
    assert!(
        r["actions"]["verify"]
            .as_str()
            .unwrap()
            .starts_with("The chain is intact"),
        "{r}"
    );
    let qa_sign = s.cli_json(&["checklist", "show", "2.0.0"]);
    let item = qa_sign["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "qa")
        .unwrap();
    assert_eq!(item["status"], "done");
    assert_eq!(item["note"], xss, "the note is kept as written");
    assert_eq!(
        s.cli_json(&["rollout", "status", "2.0.0"])["stage"],
        "pilot"
    );
    let piloting = feed(&s, &tuf_python, &root, &dir.path().join("tuf"));
    assert_eq!(
        state_of_2_0_0(&piloting).as_deref(),
        Some("active"),
        "{piloting}"
    );

    let r2 = browse(&python, dir.path(), &cfg, "halt_and_roll_back");
    assert!(
        r2["actions"]["halt"]
            .as_str()
            .unwrap()
            .starts_with("Rollout halted"),
        "{r2}"
    );
    // The incident the rollback opened is decided (a rollback): its post-mortem is due.
    assert_eq!(
        r2["incident_forms"],
        serde_json::json!(["file-postmortem"]),
        "{r2}"
    );
    // The product owner's open overview learnt of the halt by Server-Sent Events and
    // swapped its content in place.
    let live = &r2["live"];
    assert!(
        !live["before"].as_str().unwrap().contains("halted"),
        "{live}"
    );
    assert!(
        live["after"].as_str().is_some_and(|a| a.contains("halted")),
        "the halt did not reach the open overview: {live}"
    );
    assert_eq!(live["not_reloaded"], true, "the page was reloaded: {live}");
    assert_eq!(
        serde_json::from_value::<Vec<String>>(r2["buttons"]["oncall_devops_halted"].clone())
            .unwrap(),
        ["rollback"],
        "on-call may roll back a halted release, not resume it"
    );
    assert!(
        r2["actions"]["rollback"]
            .as_str()
            .unwrap()
            .starts_with("Rollback filed"),
        "{r2}"
    );
    assert_eq!(
        serde_json::from_value::<Vec<String>>(r2["buttons"]["product_owner_overview"].clone())
            .unwrap(),
        ["confirm-rollback"]
    );
    assert!(
        r2["actions"]["confirm"]
            .as_str()
            .unwrap()
            .starts_with("Rolled back"),
        "{r2}"
    );
    assert_eq!(
        s.cli_json(&["release", "show", "2.0.0"])["state"],
        "rolled_back"
    );
    let after = feed(&s, &tuf_python, &root, &dir.path().join("tuf"));
    assert_eq!(
        state_of_2_0_0(&after).as_deref(),
        Some("rolled_back"),
        "{after}"
    );
    assert_eq!(
        after["wizard-1.9.0-windows-x64.msi"]["custom"]["rollback"]["from"],
        serde_json::json!(["2.0.0"]),
        "1.9.0 is offered again in 2.0.0's place: {after}"
    );

    for name in ["kb", "keys", "tokens", "tokens-de"] {
        assert!(
            r["axe"].get(name).is_some(),
            "axe did not check {name}: {r}"
        );
    }
    assert_eq!(r["switched_lang"], "de", "the header's switch gives German");
    for report in [&r, &r2] {
        assert_eq!(
            report["xss"],
            serde_json::json!([]),
            "a script ran: {report}"
        );
        assert_eq!(report["dialogs"], serde_json::json!([]), "{report}");
        assert_eq!(report["third_party"], serde_json::json!([]), "{report}");
        for (page, found) in report["axe"].as_object().unwrap() {
            assert_eq!(found, &serde_json::json!([]), "axe on {page}");
        }
        for (page, overflow) in report["overflow"].as_object().unwrap() {
            assert!(
                overflow.as_i64().unwrap() <= 0,
                "{page} is wider than 390 px by {overflow}"
            );
        }
    }
    // Measured, not asserted: printed for bench/RESULTS.md.
    eprintln!("console timing: {}", r["timing"]);
    assert!(std::fs::read_dir(&shots).unwrap().count() >= 16);
}
