//! Pilot enrolment (issue 33): the release manager invites an organisation, an install
//! redeems the code through the SDK and asks for the internal channel from its next start,
//! the list shows it with the release it runs and warns that one install is too few for the
//! health gate at the pilot stage; leaving and removal work; the DSN cannot guess codes.

mod common;

use common::{Backend, TestEnv, assert_refused};
use relops_client::{Sdk, SdkConfig};

backend_tests!(pilot_users_are_invited_enrolled_and_counted);

async fn pilot_users_are_invited_enrolled_and_counted(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.with_installer(work.path(), "2.1.0", "2027-06-01", 1);
    s.approve("2.1.0");
    s.cli_json(&["rollout", "start", "2.1.0"]);
    let rm = s.as_role("release_manager");
    assert_refused(
        &s.cli_as(
            &s.as_role("support_agent"),
            &["pilot", "invite", "--org", "Example GmbH"],
        ),
        1,
        "rollout.manage",
    );
    let invite = s.cli_json_as(
        &rm,
        &[
            "pilot",
            "invite",
            "--org",
            "Example GmbH",
            "--max-installs",
            "1",
        ],
    );
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 24);

    let root = work.path().join("1.root.json");
    std::fs::write(&root, s.trusted_root().await).unwrap();
    let crash_key = common::crash_key(&s).await;
    let ingest_key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = |dir: &str| -> SdkConfig {
        serde_json::from_value(serde_json::json!({
            "server_url": s.url, "product": "wizard", "trusted_root_file": root,
            "release_key": common::release_public_key(&s), "ingest_key": ingest_key,
            "crash_key": crash_key, "platform": "windows-x64", "channel": "stable",
            "version": "2.1.0", "data_dir": work.path().join(dir), "upload_interval_seconds": 0,
        }))
        .unwrap()
    };
    let (a, other) = (config("a"), config("b"));
    let typed = code.to_lowercase().replace('-', " ");
    let again = code.clone();
    let install = tokio::task::spawn_blocking(move || {
        let sdk = Sdk::new(a.clone()).unwrap();
        // Typed as a person would: lower case, spaces.
        assert_eq!(sdk.join_pilot(&typed).unwrap(), "Example GmbH");
        assert_eq!(sdk.channel(), "stable", "from the next start");
        let id = sdk.install_id().to_owned();
        drop(sdk);
        let sdk = Sdk::new(a).unwrap();
        assert_eq!(sdk.channel(), "internal");
        sdk.sessions().start().unwrap();
        sdk.sessions().end().unwrap();
        assert_eq!(sdk.flush().unwrap().sessions_pending, 0);
        // The code admits one install: a second is refused with the reason; a wrong code too.
        let b = Sdk::new(other).unwrap();
        let e = b.join_pilot(&again).unwrap_err().to_string();
        assert!(e.contains("used by as many installs as it admits"), "{e}");
        let e = b
            .join_pilot("0000-0000-0000-0000-0000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such invitation code"), "{e}");
        assert_eq!(b.channel(), "stable");
        id
    })
    .await
    .unwrap();

    // Listed with the release it runs; one install is too few for the gate to decide.
    let mut list = serde_json::Value::Null;
    common::wait_for("the pilot install's session to be counted", || {
        list = s.cli_json(&["pilot", "list"]);
        list["installs"][0]["last_release"] == "2.1.0"
    })
    .await;
    assert_eq!(list["installs"][0]["install_id"], install.as_str());
    assert_eq!(list["installs"][0]["organisation"], "Example GmbH");
    assert_eq!(list["invites"][0]["used"], 1);
    let p = &list["pilot_release"];
    assert_eq!(p["release"], "2.1.0");
    assert_eq!(p["enrolled_on_it"], 1);
    assert!(p["needed"].as_u64().unwrap() > 1);
    assert!(
        p["warning"]
            .as_str()
            .unwrap()
            .contains("1 enrolled install runs 2.1.0")
    );
    let text = String::from_utf8(s.cli(&["pilot", "list"]).stdout).unwrap();
    assert!(
        text.contains("Example GmbH") && text.contains("warning:"),
        "{text}"
    );

    // Removal by the release manager (audited), then nothing to remove.
    let after = s.cli_json_as(&rm, &["pilot", "remove", &install]);
    assert!(after["installs"][0]["left_at"].is_string());
    assert_eq!(after["pilot_release"]["enrolled_on_it"], 0);
    assert_refused(
        &s.cli_as(&rm, &["pilot", "remove", &install]),
        1,
        "is not in the pilot",
    );
    let sec = s.as_role("security_engineer");
    let audit = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    assert!(audit.contains("pilot.invite") && audit.contains("pilot.remove"));
    assert!(!audit.contains(&code), "the code is not in the audit trail");
}
