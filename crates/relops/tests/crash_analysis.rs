//! Crash analysis (issue 30) on real dumps and real symbols: `relops-crashme` crashes with a
//! null write in `wizard_open_project` and writes its own minidump with minidump-writer;
//! the same dump is sent the three ways relops takes dumps (Crashpad upload, Sentry
//! envelope attachment, the SDK's sealed upload); the CLI uploads the program itself as
//! symbols (converted with dump_syms); the stacks then name the function and its line, and
//! the three crashes are one group. The fixture dumps process without symbols; damaged dumps
//! end as unprocessable.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, Server, TestEnv, assert_refused, wait_for};
use serde_json::{Value, json};

backend_tests!(
    one_crash_three_ways_is_one_group_with_its_function_and_line,
    fixture_and_damaged_dumps
);

/// The app's log sent with the envelope's crash.
const LOG: &[u8] = b"10:00:01 opening Quarterly plan.wzp\n10:00:02 reading layers\n";

/// The crashing program, built on first use (a test cannot depend on another package's
/// binary, so it is built the way a developer would).
fn crashme() -> PathBuf {
    let dir = Path::new(common::BIN).parent().unwrap();
    let exe = dir.join("relops-crashme");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "relops-crashme"])
            .status()
            .unwrap();
        assert!(st.success(), "building relops-crashme failed");
    }
    exe
}

/// The source line the crash happens on: the one marked in relops-crashme's source.
fn crash_line() -> u32 {
    let src = include_str!("../../relops-crashme/src/main.rs");
    let at = src
        .lines()
        .position(|l| l.contains("// relops-crashme: the crash"))
        .unwrap();
    u32::try_from(at + 1).unwrap()
}

/// Runs the program, which dies of SIGSEGV after writing its dump.
fn crash_dump(work: &Path) -> Vec<u8> {
    let out = work.join("crash.dmp");
    let st = Command::new(crashme())
        .args(["crash", out.to_str().unwrap()])
        .env_clear()
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(11), "it dies of SIGSEGV: {st:?}");
    std::fs::read(&out).unwrap()
}

fn dsn_key(s: &Server) -> String {
    s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn crashpad_upload(s: &Server, key: &str, fields: &[(&str, &str)], dump: &[u8]) -> Value {
    let boundary = "---------------------------crashpad-boundary-7d3a";
    let r = reqwest::Client::new()
        .post(format!("{}/api/1/minidump/?sentry_key={key}", s.url))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(common::crashpad_form(boundary, fields, dump))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// An envelope as sentry-native sends a crash: the event, then the dump as an
/// `event.minidump` attachment, then the app's log as a plain attachment.
fn envelope_with_dump(event_id: &str, event: &Value, dump: &[u8], log: &[u8]) -> Vec<u8> {
    let event = event.to_string();
    let mut b = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n\
         {{\"type\":\"attachment\",\"length\":{},\"attachment_type\":\"event.minidump\",\"filename\":\"crash.dmp\"}}\n",
        event.len(),
        dump.len()
    )
    .into_bytes();
    b.extend_from_slice(dump);
    b.extend_from_slice(
        format!(
            "\n{{\"type\":\"attachment\",\"length\":{},\"filename\":\"wizard.log\",\"content_type\":\"text/plain\"}}\n",
            log.len()
        )
        .as_bytes(),
    );
    b.extend_from_slice(log);
    b.push(b'\n');
    b
}

fn crashes(s: &Server, version: &str) -> Vec<Value> {
    s.cli_json(&["crash", "list", version])["crashes"]
        .as_array()
        .unwrap()
        .clone()
}

async fn wait_until_processed(s: &Server, version: &str, n: usize, done: impl Fn(&Value) -> bool) {
    wait_for("the crashes to be processed", || {
        let list = crashes(s, version);
        list.len() == n && list.iter().all(&done)
    })
    .await;
}

async fn one_crash_three_ways_is_one_group_with_its_function_and_line(b: Backend) {
    let work = tempfile::tempdir().unwrap();
    let dump = crash_dump(work.path());
    // A stack rule: a crash in the function that opens projects is critical (R-RB-1).
    let env = TestEnv::with_config(
        b,
        "[[alerts.critical]]\nname = \"crash on project open\"\nframe = \"*wizard_open_project\"\n",
    )
    .await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let key = dsn_key(&s);

    // 1. Crashpad's upload.
    crashpad_upload(
        &s,
        &key,
        &[
            ("sentry[release]", "wizard@2.1.0"),
            ("sentry[user][id]", "install-a"),
        ],
        &dump,
    )
    .await;
    // 2. A Sentry envelope with the dump attached.
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({"event_id": event_id, "release": "wizard@2.1.0", "level": "error",
        "user": {"id": "install-b"}, "platform": "native"});
    let r = reqwest::Client::new()
        .post(format!("{}/api/1/envelope/?sentry_key={key}", s.url))
        .header("content-type", "application/x-sentry-envelope")
        .body(envelope_with_dump(&event_id, &event, &dump, LOG))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // 3. The SDK's sealed upload.
    let ck = common::crash_key(&s).await;
    let crash_id = uuid::Uuid::new_v4().simple().to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/crashes", s.url))
        .header("X-Relops-Ingest-Key", &key)
        .json(&json!({
            "install_id": "install-c", "release": "2.1.0", "platform": "windows-x64",
            "channel": "stable", "crash_id": crash_id, "kind": "minidump",
            "sealed": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                relops_seal::seal(&ck, &crash_id, &dump).unwrap(),
            ),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The log came with the envelope's crash: listed, sealed at rest, opened for QA.
    let from_envelope = s.cli_json(&["crash", "show", &event_id]);
    assert_eq!(
        from_envelope["attachments"][0]["filename"], "wizard.log",
        "{from_envelope}"
    );
    let stored = env.blobs().keys("crashes/attachments").await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let at_rest = env.blobs().get_raw(&stored[0]).await.unwrap();
    assert!(
        !at_rest.windows(7).any(|w| w == b"opening"),
        "sealed at rest"
    );
    let qa = s.as_role("qa_lead");
    let out = work.path().join("log.txt");
    s.cli_json_as(
        &qa,
        &[
            "crash",
            "attachment",
            &event_id,
            "0",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), LOG);
    assert_refused(
        &s.cli_as(
            &s.as_role("release_manager"),
            &["crash", "attachment", &event_id, "0"],
        ),
        1,
        "crash.dump",
    );

    // Without symbols: processed, frames name the module and offset, symbols missing.
    wait_until_processed(&s, "2.1.0", 3, |c| c["status"] == "processed").await;
    let first = crashes(&s, "2.1.0")[0]["id"].as_str().unwrap().to_owned();
    let c = s.cli_json(&["crash", "show", &first]);
    assert!(
        c["exception"].as_str().unwrap().starts_with("SIGSEGV"),
        "{c}"
    );
    assert_eq!(c["frames"][0]["module"], "relops-crashme", "{c}");
    assert!(c["frames"][0]["function"].is_null(), "{c}");
    assert!(
        c["missing_symbols"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["module"] == "relops-crashme"),
        "{c}"
    );
    let text = String::from_utf8(s.cli(&["crash", "show", &first]).stdout).unwrap();
    assert!(text.contains("no symbols for relops-crashme"), "{text}");

    // Symbols: the program itself, converted by the CLI with dump_syms.
    let up = s.cli_json(&[
        "symbols",
        "upload",
        crashme().to_str().unwrap(),
        "--release",
        "2.1.0",
    ]);
    let sym = &up["symbols"][0];
    assert_eq!(sym["module"], "relops-crashme", "{up}");
    assert_eq!(sym["reprocessing"], 3, "{up}");
    assert_eq!(
        s.cli_json(&["symbols", "list", "--release", "2.1.0"])["symbols"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    wait_until_processed(&s, "2.1.0", 3, |c| {
        c["status"] == "processed"
            && c["signature"]
                .as_str()
                .is_some_and(|x| x.contains("wizard_open_project"))
    })
    .await;
    let line = crash_line();
    let mut groups = Vec::new();
    for c in crashes(&s, "2.1.0") {
        let c = s.cli_json(&["crash", "show", c["id"].as_str().unwrap()]);
        // Above it, in a debug build, may be the standard library's volatile write.
        let top = c["frames"]
            .as_array()
            .unwrap()
            .iter()
            .take(3)
            .find(|f| {
                f["function"]
                    .as_str()
                    .is_some_and(|x| x.ends_with("wizard_open_project"))
            })
            .unwrap_or_else(|| panic!("wizard_open_project near the top: {c}"));
        assert!(
            top["file"]
                .as_str()
                .unwrap()
                .ends_with("relops-crashme/src/main.rs"),
            "{c}"
        );
        assert_eq!(top["line"], line, "{c}");
        // The system's libraries have no symbols here; the program has.
        assert!(
            c["missing_symbols"]
                .as_array()
                .is_none_or(|m| m.iter().all(|m| m["module"] != "relops-crashme")),
            "{c}"
        );
        groups.push(c["group"].as_str().unwrap().to_owned());
    }
    groups.dedup();
    assert_eq!(groups.len(), 1, "the same crash is one group: {groups:?}");
    let text = String::from_utf8(s.cli(&["crash", "show", &first]).stdout).unwrap();
    assert!(
        text.contains(&format!("relops-crashme/src/main.rs:{line}")),
        "{text}"
    );

    // The stack rule classed them critical once their stacks were known; before, nothing
    // said so (a minidump carries no tags).
    for c in crashes(&s, "2.1.0") {
        assert_eq!(c["critical"], "crash on project open", "{c}");
    }
    let h = s.cli_json(&["health", "2.1.0"]);
    assert_eq!(h["critical_installs"], 3, "{h}");

    let list = s.cli_json(&["crash", "groups", "2.1.0"]);
    let g = &list["groups"][0];
    assert_eq!(list["groups"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(g["id"], groups[0].as_str());
    assert_eq!(g["count"], 3, "{list}");
    assert_eq!(g["installs"], 3, "{list}");
    assert_eq!(g["new_in_release"], true);
    assert_eq!(g["regressed"], false);
    assert_eq!(g["fingerprint"].as_str().unwrap().len(), 64);
    let h = s.cli_json(&["crash", "group", &groups[0]]);
    assert_eq!(h["per_release"][0]["release"], "2.1.0", "{h}");
    assert_eq!(h["crashes"].as_array().unwrap().len(), 3);
    assert!(
        h["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["line"] == line),
        "{h}"
    );

    // The console's health page names what crashes.
    let (cookie, _) = common::console_login(&s.url, &s.token).await;
    let (status, html) =
        common::console_page(&s.url, "/console/wizard/health?release=2.1.0", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("relops_crashme::wizard_open_project"),
        "{html}"
    );
    assert!(html.contains(groups[0].as_str()), "{html}");
    assert!(html.contains(">new<"), "{html}");

    // Support works from the crash id: a ticket naming it shows its stack and the
    // release's crash groups (playbook §3.3).
    let agent = s.as_role("support_agent");
    let t = s.cli_json_as(
        &agent,
        &[
            "ticket",
            "open",
            "--subject",
            "Crashes when I open my plan",
            "--customer",
            "kim@example.com",
            "--release",
            "2.1.0",
            "--crash",
            &first,
        ],
    );
    let id = t["id"].as_str().unwrap();
    let shown = s.cli_json_as(&agent, &["ticket", "show", id]);
    let analysis = &shown["analysis"];
    assert_eq!(
        analysis["crash_groups"][0]["id"],
        groups[0].as_str(),
        "{shown}"
    );
    assert!(
        analysis["crashes"][0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["line"] == line),
        "{shown}"
    );
    let text = String::from_utf8(s.cli_as(&agent, &["ticket", "show", id]).stdout).unwrap();
    assert!(text.contains("wizard_open_project"), "{text}");
    // The same on the console's ticket page.
    let (agent_cookie, _) = common::console_login(&s.url, &agent).await;
    let (status, html) = common::console_page(
        &s.url,
        &format!("/console/wizard/tickets/{id}"),
        &agent_cookie,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("relops_crashme::wizard_open_project"),
        "{html}"
    );
    assert!(html.contains(&format!("main.rs:{line}")), "{html}");

    // Marked fixed in 2.1.0 while it is seen in 2.1.0: regressed. In 2.1.1: not (yet).
    let h = s.cli_json(&["crash", "fixed", &groups[0], "2.1.0"]);
    assert_eq!(h["group"]["regressed"], true, "{h}");
    let h = s.cli_json(&["crash", "fixed", &groups[0], "2.1.1"]);
    assert_eq!(h["group"]["regressed"], false, "{h}");
    assert_eq!(h["group"]["fixed_in"], "2.1.1");
    // Reading roles cannot mark; the mark is audited.
    let support = s.as_role("support_agent");
    assert_refused(
        &s.cli_as(&support, &["crash", "fixed", &groups[0], "2.1.2"]),
        1,
        "release.write",
    );
    let sec = s.as_role("security_engineer");
    let text = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(text.contains("crash.group_fixed"), "audited");
    assert!(text.contains("symbols.upload"), "audited");

    // A file that is not symbols, and a symbol file that does not parse, are refused.
    let junk = work.path().join("notes.txt");
    std::fs::write(&junk, "hello").unwrap();
    assert_refused(
        &s.cli(&["symbols", "upload", junk.to_str().unwrap()]),
        2,
        "neither a Breakpad .sym file",
    );
    let r = s
        .http()
        .req(reqwest::Method::POST, "/v1/symbols")
        .body("MODULE Linux x86_64 ABCDEF0123456789ABCDEF0123456789A app\nFUNC zz\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("does not parse"));
}

/// The shared fixture dumps (minidump-writer, no symbols here) process to module-level
/// frames; dumps cut short or garbled after the magic end as unprocessable with a reason,
/// and the worker goes on.
async fn fixture_and_damaged_dumps(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let key = dsn_key(&s);
    let data = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let segv = std::fs::read(format!("{data}/minidump-segv.dmp")).unwrap();
    let fields = [("sentry[release]", "2.1.0")];
    crashpad_upload(&s, &key, &fields, &segv).await;
    let mut cut = segv[..segv.len() / 3].to_vec();
    crashpad_upload(&s, &key, &fields, &cut).await;
    cut.truncate(40);
    crashpad_upload(&s, &key, &fields, &cut).await;
    wait_until_processed(&s, "2.1.0", 3, |c| c["status"] != "pending").await;
    let list = crashes(&s, "2.1.0");
    let by_status = |st: &str| list.iter().filter(|c| c["status"] == st).count();
    assert!(by_status("processed") >= 1, "{list:?}");
    assert!(by_status("unprocessable") >= 1, "{list:?}");
    for c in &list {
        let c = s.cli_json(&["crash", "show", c["id"].as_str().unwrap()]);
        match c["status"].as_str().unwrap() {
            "processed" => {
                assert!(c["exception"].as_str().is_some(), "{c}");
                assert!(
                    c["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|f| f["function"].is_null() && !f["module_offset"].is_null()
                            || f["module"].is_null()),
                    "{c}"
                );
            }
            "unprocessable" => {
                assert!(!c["reason"].as_str().unwrap().is_empty(), "{c}");
                assert!(c["group"].is_null(), "{c}");
            }
            other => panic!("status {other}: {c}"),
        }
    }
    // A crash whose processing never finished (the server stopped each time): after
    // `max_attempts` tries it is unprocessable, not pending for ever.
    let stuck = list.iter().find(|c| c["status"] == "processed").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.execute_sql(&[&format!(
        "UPDATE crash_analyses SET status = 'pending', attempts = 3 WHERE crash_id = '{stuck}'"
    )])
    .await;
    wait_for("the stuck crash to be given up", || {
        let c = s.cli_json(&["crash", "show", &stuck]);
        c["status"] == "unprocessable"
            && c["reason"]
                .as_str()
                .is_some_and(|r| r.contains("did not finish in 3 tries"))
    })
    .await;
}
