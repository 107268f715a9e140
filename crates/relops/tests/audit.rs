//! The audit trail (R-CR-2): every state change appends a hash-chained entry; tampering
//! with the database directly — edit, delete, reorder, truncate — is detected and the
//! first bad entry named. On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestEnv, assert_refused, test_bytes};

backend_tests!(
    audit_chain_detects_tampering,
    checkpoints_and_pruning,
    pruning_keeps_the_retention_period
);

/// The attack (issue 15, 1): a security engineer's `prune --before 2099-01-01` wiped every
/// entry, and `verify` then said intact. Entries younger than `[audit] retention_days` are
/// kept, whatever `--before` says; the default keeps 180 days, so nothing here is old
/// enough, and the refusal says until when.
async fn pruning_keeps_the_retention_period(b: Backend) {
    let (_env, s, sec) = with_history(b).await;
    let before = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(before["entries"], 7);
    assert_refused(
        &s.cli_as(&sec, &["audit", "prune", "--before", "2099-01-01"]),
        1,
        "retention_days (180 days) are kept: prune before",
    );
    assert!(s.cli_json_as(&sec, &["audit", "prune"]).is_null());
    let after = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(after["ok"], true);
    assert_eq!(after["entries"], 7, "all kept: {after}");
}

/// A server with some history: 2 tokens, 2 releases, an upload, a freeze.
async fn with_history(b: Backend) -> (TestEnv, common::Server, String) {
    with_history_kept(b, 180).await
}

/// The same, keeping the audit trail `days` days (0: entries of any age may be pruned).
async fn with_history_kept(b: Backend, days: u32) -> (TestEnv, common::Server, String) {
    let env = TestEnv::with_config(b, &format!("[audit]\nretention_days = {days}\n")).await;
    let s = env.serve();
    let sec = s.token_with(&["security_engineer"]);
    s.token_with(&["release_manager"]);
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    s.cli_json(&["release", "create", "2.2.0", "--go-live", "2027-06-01"]);
    let work = tempfile::tempdir().unwrap();
    s.upload(
        work.path(),
        "2.1.0",
        "macos-universal",
        "W.dmg",
        &test_bytes(1000, 1),
    );
    s.cli_json(&["release", "freeze", "2.1.0"]);
    (env, s, sec)
}

async fn audit_chain_detects_tampering(b: Backend) {
    let (env, s, sec) = with_history(b.clone()).await;
    // Intact: 1 (init token) + 2 tokens + 2 releases + upload + freeze = 7 entries.
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 7);
    let out = s.cli_as(&sec, &["audit", "export"]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "token.create",
            "token.create",
            "token.create",
            "release.create",
            "release.create",
            "artifact.upload",
            "release.freeze"
        ]
    );
    assert_eq!(lines[0]["prev_hash"], relops_store::GENESIS);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let none = s.cli_as(&sec, &["audit", "export", "--since", &tomorrow]);
    assert!(none.status.success() && none.stdout.is_empty());
    // Only the security engineer (and admin) read the trail.
    let rm = s.token_with(&["release_manager"]);
    assert_refused(&s.cli_as(&rm, &["audit", "verify"]), 1, "audit.read");

    // Edited.
    env.execute_sql(&["UPDATE audit_log SET actor = 'mallory' WHERE seq = 4"])
        .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 4: content does not match its hash: edited",
    );

    // Deleted (a fresh installation for each kind of tampering).
    let (env, s, sec) = with_history(b.clone()).await;
    env.execute_sql(&["DELETE FROM audit_log WHERE seq = 3"])
        .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 3: entry 3 is missing",
    );

    // Reordered: entries 4 and 5 swap places.
    let (env, s, sec) = with_history(b.clone()).await;
    env.execute_sql(&[
        "UPDATE audit_log SET seq = 1000 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 1000",
    ])
    .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 4: does not follow the entry before it",
    );

    // The newest entries removed: the head still knows how many were written.
    let (env, s, sec) = with_history(b).await;
    env.execute_sql(&["DELETE FROM audit_log WHERE seq >= 6"])
        .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "newest entries deleted",
    );
}

async fn checkpoints_and_pruning(b: Backend) {
    let (env, s, sec) = with_history_kept(b.clone(), 0).await;
    let cp = s.cli_json_as(&sec, &["audit", "checkpoint"]);
    assert_eq!(cp["seq"], 7);
    assert_eq!(s.cli_json_as(&sec, &["audit", "verify"])["ok"], true);
    let rm = s.token_with(&["release_manager"]);
    assert_refused(&s.cli_as(&rm, &["audit", "prune"]), 1, "audit.manage");

    // Prune everything before entry 4: a signed checkpoint of entry 3 is kept and the
    // rest still verifies.
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    let entries: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let before = entries[3]["at"].as_str().unwrap().to_owned();
    let pruned = s.cli_json_as(&sec, &["audit", "prune", "--before", &before]);
    assert_eq!(pruned["seq"], 3);
    assert_eq!(pruned["hash"], entries[2]["hash"]);
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let left = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(left.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 4);
    assert_eq!(
        left.lines().last().map(|l| l.contains("audit.prune")),
        Some(true),
        "the prune itself is audited"
    );
    // Pruning all that is old enough (with retention 0: everything so far) keeps the newest
    // entry: the chain keeps its head.
    let all = s.cli_json_as(&sec, &["audit", "prune"]);
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["entries"], 2,
        "the newest entry and the prune's own: {all}"
    );

    // A forged checkpoint fails its signature; a removed one leaves the chain without a start.
    env.execute_sql(&["UPDATE audit_checkpoints SET hash = 'ff' WHERE seq = 7"])
        .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 7: its signed checkpoint does not verify",
    );
    let (env, s, sec) = with_history_kept(b, 0).await;
    let export = String::from_utf8(s.cli_as(&sec, &["audit", "export"]).stdout).unwrap();
    let entries: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    s.cli_json_as(
        &sec,
        &[
            "audit",
            "prune",
            "--before",
            entries[3]["at"].as_str().unwrap(),
        ],
    );
    env.execute_sql(&["DELETE FROM audit_checkpoints"]).await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 4: entries before 4 were deleted without a signed checkpoint",
    );
}
