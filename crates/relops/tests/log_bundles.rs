//! Log bundles (issue 27): the SDK collects an install's app and error logs, redacts,
//! seals and queues them for a crash or its own ticket; the server stores them sealed,
//! lists them with the crash and the ticket, opens them only for roles that may read dumps
//! (audited), refuses what the public DSN must not do, and erases them with the customer.

mod common;

use base64::Engine;
use common::{Backend, TestEnv, assert_refused};
use relops_client::logs::Level;
use relops_client::{Sdk, SdkConfig};

backend_tests!(bundles_reach_support_sealed_and_bounded);

async fn bundles_reach_support_sealed_and_bounded(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-01"]);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("1.root.json");
    std::fs::write(&root, s.trusted_root().await).unwrap();
    let crash_key = common::crash_key(&s).await;
    let ingest_key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg: SdkConfig = serde_json::from_value(serde_json::json!({
        "server_url": s.url, "product": "wizard", "trusted_root_file": root,
        "release_key": common::release_public_key(&s), "ingest_key": ingest_key,
        "crash_key": crash_key, "platform": "macos-universal", "channel": "stable",
        "version": "2.1.0", "data_dir": work.path().join("app"), "upload_interval_seconds": 0,
    }))
    .unwrap();

    // The app: logs with a customer's address and a secret of its own, a crash, the logs
    // attached to it, and a problem report with logs.
    let (crash, bundle, ticket, install) = tokio::task::spawn_blocking(move || {
        let sdk = Sdk::new(cfg).unwrap();
        sdk.log(
            Level::Info,
            "wizard",
            "opened Q3.wzp for anna.berg@example.com",
        )
        .unwrap();
        sdk.log(
            Level::Error,
            "wizard::export",
            "export failed, token tok-4711-secret",
        )
        .unwrap();
        sdk.set_log_redactor(|line| *line = line.replace("tok-4711-secret", "[token]"));
        let crash = sdk.crashes().queue("panic", b"boom").unwrap();
        let bundle = sdk.attach_logs(&crash, 7).unwrap();
        let f = sdk.flush().unwrap();
        assert_eq!(
            (f.crashes_sent, f.bundles_sent, f.bundles_pending),
            (1, 1, 0),
            "{f:?}"
        );
        let ticket = sdk
            .report_problem_with_logs(
                "Export hängt",
                Some("seit 2.1"),
                "anna.berg@example.com",
                None,
                3,
            )
            .unwrap();
        assert!(
            sdk.bundles().pending().unwrap().is_empty(),
            "sent with the report"
        );
        (crash, bundle, ticket, sdk.install_id().to_owned())
    })
    .await
    .unwrap();

    // Listed with the crash and the ticket, for any role; the contents are not in the store.
    let shown = s.cli_json(&["crash", "show", &crash]);
    assert_eq!(shown["log_bundles"][0]["id"], bundle.as_str());
    assert_eq!(shown["log_bundles"][0]["install_id"], install.as_str());
    assert_eq!(shown["log_bundles"][0]["days"], 7);
    let on_ticket = s.cli_json(&["logs", "list", "--ticket", &ticket])["bundles"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(on_ticket.len(), 1);
    assert_eq!(on_ticket[0]["ticket"], ticket.as_str());
    let agent = s.as_role("support_agent");
    assert_eq!(
        s.cli_json_as(&agent, &["ticket", "show", &ticket])["log_bundles"][0]["id"],
        on_ticket[0]["id"]
    );
    let stored = env
        .blobs()
        .get_raw(&format!("logs/sealed/{bundle}"))
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("export failed"));

    // Opening needs crash.dump, and is audited.
    assert_refused(
        &s.cli_as(&s.as_role("release_manager"), &["logs", "get", &bundle]),
        1,
        "crash.dump",
    );
    let out = work.path().join("bundle.tar.gz");
    let got = s.cli_json_as(
        &agent,
        &["logs", "get", &bundle, "-o", out.to_str().unwrap()],
    );
    assert_eq!(got["id"], bundle.as_str());
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let mut names: Vec<String> = std::fs::read_dir(&unpacked)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "manifest.json");
    assert!(names[1].starts_with("wizard_app.") && names[2].starts_with("wizard_error."));
    let all: String = names
        .iter()
        .map(|n| std::fs::read_to_string(unpacked.join(n)).unwrap())
        .collect();
    assert!(all.contains("opened Q3.wzp for [email]"), "{all}");
    assert!(all.contains("export failed, token [token]"), "{all}");
    assert!(!all.contains("anna.berg") && !all.contains("tok-4711"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(unpacked.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["redacted"], true);
    assert_eq!(manifest["days"], 7);
    let sec = s.as_role("security_engineer");
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(export.contains("logs.read_bundle") && export.contains(&bundle));

    // What the public DSN must not do.
    let post = |body: serde_json::Value| {
        let url = format!("{}/v1/ingest/logs", s.url);
        let key = ingest_key.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("X-Relops-Ingest-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let sealed = |id: &str, bytes: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(relops_seal::seal(&crash_key, &format!("logs:{id}"), bytes).unwrap())
    };
    let upload = |install: &str, id: &str, to: (&str, &str), bytes: &[u8]| {
        let mut v = serde_json::json!({
            "install_id": install, "release": "2.1.0", "platform": "macos-universal",
            "channel": "stable", "bundle_id": id, "days": 1, "files": 1,
            "sealed": sealed(id, bytes),
        });
        v[to.0] = to.1.into();
        v
    };
    let id = |n: u32| format!("{n:032x}");
    // Another install cannot add to this install's ticket.
    let (st, msg) = post(upload("other", &id(1), ("ticket", &ticket), b"x")).await;
    assert_eq!(st, 409, "{msg}");
    assert!(msg.contains("opened by this install"), "{msg}");
    // A bundle naming another install's crash is stored but not that crash's.
    let foreign = upload("other", &id(2), ("crash_id", &crash), b"x");
    assert_eq!(post(foreign.clone()).await.0, 200);
    assert_eq!(
        s.cli_json(&["crash", "show", &crash])["log_bundles"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A retry (the queued bytes again) is stored once; other bytes under a known id (a new
    // sealing differs) are refused.
    let (st, msg) = post(foreign).await;
    assert_eq!(st, 200, "{msg}");
    assert!(msg.contains("\"stored\":0"), "{msg}");
    let (st, msg) = post(upload("other", &id(2), ("crash_id", &crash), b"x")).await;
    assert_eq!(st, 409, "{msg}");
    // Both targets, no target; a broken seal; too large.
    let mut both = upload("other", &id(3), ("crash_id", &crash), b"x");
    both["ticket"] = ticket.clone().into();
    assert_eq!(post(both).await.0, 400);
    let mut none = upload("other", &id(3), ("crash_id", &crash), b"x");
    none.as_object_mut().unwrap().remove("crash_id");
    assert_eq!(post(none).await.0, 400);
    let mut broken = upload("other", &id(3), ("crash_id", &crash), b"x");
    broken["sealed"] = base64::engine::general_purpose::STANDARD
        .encode(b"not sealed")
        .into();
    assert_eq!(post(broken).await.0, 400);
    let big = vec![7u8; relops_ops::log_bundles::MAX_BUNDLE_BYTES];
    let (st, msg) = post(upload("other", &id(3), ("crash_id", &crash), &big)).await;
    assert_eq!(st, 413, "{msg}");
    // At most ten a day per install: `other` has sent one; nine more go, the next does not.
    for n in 10..19 {
        let (st, msg) = post(upload("other", &id(n), ("crash_id", &crash), b"x")).await;
        assert_eq!(st, 200, "{msg}");
    }
    let (st, msg) = post(upload("other", &id(19), ("crash_id", &crash), b"x")).await;
    assert_eq!(st, 429, "{msg}");

    // Erasing the customer erases the ticket's bundles, rows and bytes.
    let lead = s.as_role("support_lead");
    let erased = s.cli_json_as(
        &lead,
        &["support", "erase", "--customer", "anna.berg@example.com"],
    );
    assert_eq!(erased["tickets"][0], ticket.as_str());
    assert!(
        s.cli_json(&["logs", "list", "--ticket", &ticket])["bundles"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let ticket_bundle = on_ticket[0]["id"].as_str().unwrap();
    assert!(
        env.blobs()
            .get_raw(&format!("logs/sealed/{ticket_bundle}"))
            .await
            .is_err()
    );
}
