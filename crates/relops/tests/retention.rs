//! Retention (issue 28 part 4; R-RET-1, R-RB-3): thirteen months of releases, evidence,
//! symbols, crashes and log bundles, dated back in the database; `relops retention plan`
//! says what goes and why and removes nothing; `relops retention apply` removes exactly
//! that — never the last three releases, nothing the feed lists, no file another row still
//! names — audits every removal and leaves the feed as it was.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{Backend, Server, TestEnv, assert_refused};
use relops_client::logs::Level;
use relops_client::{Sdk, SdkConfig};
use serde_json::Value;

backend_tests!(thirteen_months_of_releases_are_pruned_by_the_playbook_rules);

/// `days` ago, as the store writes times.
fn ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Ships `version` with its own installer and an ops sign-off whose evidence only it has.
fn ship(s: &Server, dir: &std::path::Path, version: &str, seed: u8) {
    s.with_installer(dir, version, "2027-06-01", seed);
    s.ready_except(version, &["ops"]);
    let evidence = dir.join(format!("dashboard-{version}.json"));
    std::fs::write(
        &evidence,
        format!("{{\"dashboard\": \"wizard {version}\"}}"),
    )
    .unwrap();
    s.cli_json_as(
        &s.as_role("oncall_devops"),
        &[
            "checklist",
            "sign",
            version,
            "ops",
            "--evidence",
            evidence.to_str().unwrap(),
        ],
    );
    s.cli_json_as(&s.as_role("product_owner"), &["approve", version]);
    s.roll_out(version);
}

/// A Breakpad symbol file for a module of `release`.
fn sym_file(dir: &std::path::Path, release: &str, debug_id: &str) -> String {
    let path = dir.join(format!("wizard-{release}.sym"));
    std::fs::write(
        &path,
        format!(
            "MODULE Linux x86_64 {debug_id} wizard\nFILE 0 /src/wizard/main.c\nFUNC 1000 20 0 main\n1000 20 12 0\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn items<'a>(plan: &'a Value, class: &str) -> Vec<&'a Value> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["class"] == class)
        .collect()
}

fn rule<'a>(plan: &'a Value, class: &str) -> &'a Value {
    plan["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["class"] == class)
        .unwrap()
}

async fn thirteen_months_of_releases_are_pruned_by_the_playbook_rules(b: Backend) {
    let local = matches!(b, Backend::SqliteLocal);
    // The daily run stays off so that what goes is what this test applies.
    let env = TestEnv::with_config(b, "[retention]\ndaily = false\n").await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    for (i, v) in ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
        .iter()
        .enumerate()
    {
        ship(&s, work.path(), v, i as u8 + 1);
    }
    // A draft abandoned a year ago.
    s.with_installer(work.path(), "1.5.0", "2027-06-01", 9);
    s.cli_json(&[
        "symbols",
        "upload",
        &sym_file(work.path(), "1.0.0", "0123456789ABCDEF0123456789ABCDEF0"),
        "--release",
        "1.0.0",
    ]);
    s.cli_json(&[
        "symbols",
        "upload",
        &sym_file(work.path(), "1.2.0", "FEDCBA9876543210FEDCBA98765432100"),
        "--release",
        "1.2.0",
    ]);

    // The fleet: an app's crash with its logs attached (sealed on the client), and the same
    // Crashpad dump twice.
    let root = work.path().join("1.root.json");
    std::fs::write(&root, s.trusted_root().await).unwrap();
    let ingest_key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg: SdkConfig = serde_json::from_value(serde_json::json!({
        "server_url": s.url, "product": "wizard", "trusted_root_file": root,
        "release_key": common::release_public_key(&s), "ingest_key": ingest_key,
        "crash_key": common::crash_key(&s).await, "platform": "windows-x64", "channel": "stable",
        "version": "1.3.0", "data_dir": work.path().join("app"), "upload_interval_seconds": 0,
    }))
    .unwrap();
    let (crash, bundle) = tokio::task::spawn_blocking(move || {
        let sdk = Sdk::new(cfg).unwrap();
        sdk.log(Level::Error, "wizard", "export failed").unwrap();
        let crash = sdk.crashes().queue("panic", b"boom").unwrap();
        let bundle = sdk.attach_logs(&crash, 7).unwrap();
        let f = sdk.flush().unwrap();
        assert_eq!((f.crashes_sent, f.bundles_sent), (1, 1), "{f:?}");
        (crash, bundle)
    })
    .await
    .unwrap();
    // The server names a crash by its id without dashes.
    let crash = crash.replace('-', "").to_ascii_lowercase();
    let dump = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/minidump-segv.dmp"
    ))
    .unwrap();
    for (install, event) in [
        ("install-old", "0b0e1c5e9d1a4f7e8c3b2a1908f7e6d5"),
        ("install-young", "1c1f2d6fae2b408f9d4c3b2a19080706"),
    ] {
        let boundary = "---------------------------crashpad-boundary-7d3a";
        let r = reqwest::Client::new()
            .post(format!("{}/api/1/minidump/?sentry_key={ingest_key}", s.url))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(common::crashpad_form(
                boundary,
                &[
                    ("sentry[release]", "wizard@1.3.0"),
                    ("sentry[user][id]", install),
                    ("sentry[event_id]", event),
                ],
                &dump,
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // Ingest folds its journal into the tables a moment after acknowledging.
    for _ in 0..200 {
        if env.query_i64("SELECT COUNT(*) FROM ingest_events").await == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM ingest_events").await,
        3,
        "the app's crash and two Crashpad uploads"
    );

    // Thirteen months, dated back.
    let mut sql = Vec::new();
    for (v, days) in [
        ("1.0.0", 400),
        ("1.1.0", 380),
        ("1.2.0", 370),
        ("1.3.0", 200),
        ("1.5.0", 410),
    ] {
        let t = ago(days);
        sql.push(format!(
            "UPDATE artifacts SET uploaded_at = '{t}' WHERE version = '{v}'"
        ));
        sql.push(format!(
            "UPDATE gates SET recorded_at = '{t}' WHERE version = '{v}'"
        ));
        sql.push(format!(
            "UPDATE checklist_signoffs SET signed_at = '{t}' WHERE version = '{v}'"
        ));
        sql.push(format!(
            "UPDATE crash_symbols SET uploaded_at = '{t}' WHERE release = '{v}'"
        ));
    }
    sql.push(format!(
        "UPDATE log_bundles SET received_at = '{}'",
        ago(40)
    ));
    let old_crash = ago(100);
    sql.push(format!(
        "UPDATE ingest_events SET received_at = '{old_crash}' WHERE event_id = '{crash}'"
    ));
    sql.push(format!(
        "UPDATE crash_analyses SET received_at = '{old_crash}' WHERE crash_id = '{crash}'"
    ));
    sql.push(format!(
        "UPDATE ingest_events SET received_at = '{old_crash}' WHERE install_id = 'install-old'"
    ));
    let sql: Vec<&str> = sql.iter().map(String::as_str).collect();
    env.execute_sql(&sql).await;
    // A local blob store dates files by their modification time: the crash's files are old
    // too. (S3 stamps objects itself; there they go when their own age is reached.)
    let blob_dir = env.path().join("blobs");
    let sealed_dump = format!("crashes/sealed/{crash}");
    let bundle_file = env.blobs().keys("logs/").await.unwrap();
    assert_eq!(bundle_file.len(), 1, "{bundle}");
    let bundle_file = bundle_file[0].clone();
    let shared_dump = {
        let keys = env.blobs().keys("crashes/").await.unwrap();
        keys.into_iter()
            .find(|k| !k.contains("/sealed/") && !k.contains("/attachments/"))
            .expect("the Crashpad dump is stored by its digest")
    };
    if local {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(100 * 86_400);
        for key in [&sealed_dump, &shared_dump] {
            std::fs::File::options()
                .write(true)
                .open(blob_dir.join(key))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    let artifact_keys = |v: &str| {
        let list = s.cli_json(&["artifact", "list", v]);
        list["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["sha256"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let old_installer = artifact_keys("1.0.0");
    assert_eq!(old_installer.len(), 1);
    let timestamp = s
        .http()
        .get("/tuf/wizard/metadata/timestamp.json")
        .await
        .bytes()
        .await
        .unwrap();

    // The plan: what goes and why; nothing removed.
    let plan = s.cli_json(&["retention", "plan"]);
    let pinned: Vec<&str> = plan["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(pinned, ["1.2.0", "1.3.0", "1.4.0"], "{plan:#}");
    let artifacts: Vec<&str> = items(&plan, "artifacts")
        .iter()
        .map(|i| i["release"].as_str().unwrap())
        .collect();
    assert_eq!(
        artifacts,
        ["1.5.0", "1.0.0", "1.1.0"],
        "oldest first: {plan:#}"
    );
    assert!(
        items(&plan, "artifacts")[1]["reason"]
            .as_str()
            .unwrap()
            .contains("kept 365 days"),
        "{plan:#}"
    );
    assert_eq!(
        rule(&plan, "artifacts")["kept_pinned"],
        1,
        "1.2.0's installer is past its age but rollback stock"
    );
    assert_eq!(rule(&plan, "artifacts")["bytes"], 3 * 4096);
    // Evidence: only the two files no kept release shares (the ops dashboards of 1.0.0 and
    // 1.1.0); the gate reports every release submitted stay with the kept ones.
    let evidence = items(&plan, "evidence");
    assert_eq!(evidence.len(), 2, "{plan:#}");
    assert_eq!(
        rule(&plan, "evidence")["bytes"].as_u64().unwrap(),
        (2 * "{\"dashboard\": \"wizard 1.0.0\"}".len()) as u64,
        "{plan:#}"
    );
    let symbols: Vec<&str> = items(&plan, "symbols")
        .iter()
        .map(|i| i["release"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["1.0.0"]);
    assert_eq!(items(&plan, "log_bundles").len(), 1);
    let telemetry: u64 = items(&plan, "telemetry")
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum();
    assert!(
        telemetry >= 2,
        "the app's old crash and the old Crashpad row: {plan:#}"
    );
    let dumps: Vec<&str> = items(&plan, "crash_dumps")
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    if local {
        assert_eq!(
            dumps,
            [sealed_dump.as_str()],
            "the shared dump stays: a young crash names it"
        );
    }
    assert_eq!(
        rule(&plan, "release_notes")["days"],
        Value::Null,
        "kept for ever"
    );
    assert_eq!(
        artifact_keys("1.0.0"),
        old_installer,
        "a plan removes nothing"
    );
    // A plan for a later date sees the crash's dump go on every backend.
    let later = (Utc::now() + Duration::days(100))
        .format("%Y-%m-%d")
        .to_string();
    let plan_later = s.cli_json(&["retention", "plan", "--at", &later]);
    assert!(
        items(&plan_later, "crash_dumps")
            .iter()
            .any(|i| i["id"] == sealed_dump.as_str()),
        "{plan_later:#}"
    );
    assert_refused(
        &s.cli(&["retention", "plan", "--at", "2020-01-01"]),
        1,
        "what is gone cannot be planned",
    );
    let text = String::from_utf8(s.cli(&["retention", "plan"]).stdout).unwrap();
    assert!(
        text.contains("one of the last 3 releases of wizard (rollback stock)"),
        "{text}"
    );
    assert!(text.contains("12.3 KB"), "{text}");

    // Who may apply: the admin and the security engineer, not the release manager.
    assert_refused(
        &s.cli_as(&s.as_role("release_manager"), &["retention", "apply"]),
        1,
        "retention.apply",
    );

    // Deltas (issue 29 part 5) from 1.1.0 to 1.2.0 (stored) and from 1.3.0 to 1.4.0 (found
    // not worth keeping): a delta goes with either of its files, its own file with it.
    let delta_bytes = common::test_bytes(100, 7);
    let delta_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&delta_bytes));
    let delta_key = relops_store::BlobStore::key_for(&delta_sha);
    env.blobs()
        .put_raw(&delta_key, delta_bytes.into())
        .await
        .unwrap();
    let made = ago(300);
    env.execute_sql(&[
        &format!(
            "INSERT INTO artifact_deltas (product, base_sha256, new_sha256, blob_key, size, sha256, made_at) \
             VALUES ('wizard', '{}', '{}', '{delta_key}', 100, '{delta_sha}', '{made}') \
             ON CONFLICT (product, base_sha256, new_sha256) DO UPDATE SET blob_key = '{delta_key}', \
             size = 100, sha256 = '{delta_sha}'",
            artifact_keys("1.1.0")[0],
            artifact_keys("1.2.0")[0]
        ),
        &format!(
            "INSERT INTO artifact_deltas (product, base_sha256, new_sha256, made_at) \
             VALUES ('wizard', '{}', '{}', '{made}') \
             ON CONFLICT (product, base_sha256, new_sha256) DO NOTHING",
            artifact_keys("1.3.0")[0],
            artifact_keys("1.4.0")[0]
        ),
    ])
    .await;

    // (The lead may have made deltas between these test installers too: they are recorded
    // as not worth keeping.)
    let removed: Vec<String> = ["1.0.0", "1.1.0", "1.5.0"]
        .iter()
        .flat_map(|v| artifact_keys(v))
        .map(|sha| format!("'{sha}'"))
        .collect();
    let removed = removed.join(", ");
    let naming = |shas: &str| {
        format!(
            "SELECT COUNT(*) FROM artifact_deltas WHERE base_sha256 IN ({shas}) OR new_sha256 IN ({shas})"
        )
    };
    assert!(env.query_i64(&naming(&removed)).await >= 1);
    let kept = format!(
        "'{}', '{}'",
        artifact_keys("1.3.0")[0],
        artifact_keys("1.4.0")[0]
    );
    let done = s.cli_json(&["retention", "apply"]);
    assert_eq!(rule(&done, "artifacts")["removes"], 3, "{done:#}");
    assert_eq!(
        done["blobs_deleted"].as_u64().unwrap(),
        3 + 1 + 2 + 1 + 1 + u64::from(local),
        "installers, a delta, dashboards, a symbol file, a log bundle(, the crash's dump): {done:#}"
    );
    assert!(
        env.blobs().size(&delta_key).await.is_err(),
        "the delta's file is gone"
    );
    assert_eq!(
        env.query_i64(&naming(&removed)).await,
        0,
        "no delta of a removed file stays"
    );
    assert_eq!(
        env.query_i64(&format!(
            "SELECT COUNT(*) FROM artifact_deltas WHERE base_sha256 IN ({kept}) AND new_sha256 IN ({kept})"
        ))
        .await,
        1,
        "1.3.0 to 1.4.0 stays"
    );
    assert_eq!(done["blobs_failed"], 0);
    for v in ["1.0.0", "1.1.0", "1.5.0"] {
        assert!(artifact_keys(v).is_empty(), "{v}'s installer is gone");
    }
    for v in ["1.2.0", "1.3.0", "1.4.0"] {
        assert_eq!(artifact_keys(v).len(), 1, "{v} is rollback stock");
    }
    let blobs = env.blobs();
    assert!(
        blobs
            .size(&relops_store::BlobStore::key_for(&old_installer[0]))
            .await
            .is_err(),
        "the file went with its row"
    );
    assert!(
        blobs.size(&bundle_file).await.is_err(),
        "the log bundle is gone"
    );
    assert_eq!(
        blobs.keys("symbols/").await.unwrap().len(),
        1,
        "1.2.0's symbols stay"
    );
    assert!(
        blobs.size(&shared_dump).await.is_ok(),
        "a dump a young crash names stays"
    );
    assert_eq!(blobs.size(&sealed_dump).await.is_err(), local);
    assert_eq!(
        env.query_i64(&format!(
            "SELECT COUNT(*) FROM ingest_events WHERE received_at < '{}'",
            ago(90)
        ))
        .await,
        0
    );
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM ingest_events WHERE install_id = 'install-young'")
            .await,
        1
    );
    // The feed is as it was, and every removal is in the audit trail.
    let after = s
        .http()
        .get("/tuf/wizard/metadata/timestamp.json")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(after, timestamp, "retention never changes the signed feed");
    let audited = env
        .query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'retention.removed'")
        .await;
    assert_eq!(
        audited,
        3 + 2 + 1 + 1 + 1 + i64::from(local),
        "artifacts, evidence, symbol; bundles, telemetry(, dumps)"
    );
    assert_eq!(s.cli_json(&["audit", "verify"])["ok"], true);

    // Once gone, gone: the next plan is empty and a second run removes nothing.
    let plan = s.cli_json(&["retention", "plan"]);
    let left: Vec<&Value> = plan["items"].as_array().unwrap().iter().collect();
    assert!(left.is_empty(), "{plan:#}");
    let again = s.cli_json(&["retention", "apply"]);
    assert_eq!(again["blobs_deleted"], 0, "{again:#}");
}
