//! The audit trail (R-CR-2): every state change appends a hash-chained entry; tampering
//! with the database directly — edit, delete, reorder, truncate — is detected and the
//! first bad entry named. On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestEnv, assert_refused, test_bytes};

backend_tests!(
    audit_chain_detects_tampering,
    checkpoints_and_pruning,
    pruning_keeps_the_retention_period,
    anchors_outside_the_database_catch_a_rewritten_chain
);

/// The attack (issue 15, 1): a security engineer's `prune --before 2099-01-01` wiped every
/// entry, and `verify` then said intact. Entries younger than `[audit] retention_days` are
/// kept, whatever `--before` says; the default keeps 180 days, so nothing here is old
/// enough, and the refusal says until when.
async fn pruning_keeps_the_retention_period(b: Backend) {
    let (_env, s, sec) = with_history(b).await;
    let before = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(before["entries"], 8);
    assert_refused(
        &s.cli_as(&sec, &["audit", "prune", "--before", "2099-01-01"]),
        1,
        "retention_days (180 days) are kept: prune before",
    );
    assert!(s.cli_json_as(&sec, &["audit", "prune"]).is_null());
    let after = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(after["ok"], true);
    assert_eq!(after["entries"], 8, "all kept: {after}");
}

/// A server with some history: 2 tokens (the security engineer's confirmed by the
/// operator), 2 releases, an upload, a freeze.
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
    // Intact: 1 (init token) + 2 tokens + 1 confirmation + 2 releases + upload + freeze
    // = 8 entries.
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 8);
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
            "token.confirm",
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
    assert_eq!(cp["seq"], 8);
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
    env.execute_sql(&["UPDATE audit_checkpoints SET hash = 'ff' WHERE seq = 8"])
        .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 8: its signed checkpoint does not verify",
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

/// What an attacker with SQL access does to make a tampered chain consistent again: edit
/// entry `from`, recompute every hash after it (the formula is public), move the head, and
/// drop the checkpoints that would give it away.
async fn rehash_from(env: &TestEnv, from: i64) {
    use sha2::{Digest, Sha256};
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&env.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = $1")
        .bind(from)
        .execute(&mut c)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, target, detail, request_id, prev_hash FROM audit_log ORDER BY seq",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut prev: Option<String> = None;
    for r in rows {
        let seq: i64 = r.get("seq");
        let prev_hash = prev.clone().unwrap_or_else(|| r.get("prev_hash"));
        let fields = serde_json::json!([
            seq,
            r.get::<String, _>("at"),
            r.get::<String, _>("actor"),
            r.get::<String, _>("action"),
            r.get::<String, _>("target"),
            r.get::<String, _>("detail"),
            r.get::<Option<String>, _>("request_id"),
            prev_hash
        ]);
        let hash = hex::encode(Sha256::digest(fields.to_string().as_bytes()));
        if seq >= from {
            sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
                .bind(&prev_hash)
                .bind(&hash)
                .bind(seq)
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(&hash)
                .execute(&mut c)
                .await
                .unwrap();
        }
        prev = Some(hash);
    }
    sqlx::query("DELETE FROM audit_checkpoints")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// The blind spots (issue 15, 3): with SQL access, a chain truncated and its head reset,
/// re-hashed without its checkpoints, deleted whole, or cut below a checkpoint relabelled
/// a prune, was reported intact. Every signed checkpoint is also appended to the anchor
/// file outside the database, and a person can keep one (`relops audit anchor`).
async fn anchors_outside_the_database_catch_a_rewritten_chain(b: Backend) {
    let kept = tempfile::tempdir().unwrap();

    // Truncated and the head reset.
    let (env, s, sec) = with_history(b.clone()).await;
    let out = s.cli_as(&sec, &["audit", "anchor"]);
    assert!(out.status.success());
    let anchor = String::from_utf8(out.stdout).unwrap();
    let a: serde_json::Value = serde_json::from_str(anchor.trim()).unwrap();
    assert_eq!(a["seq"], 8);
    assert!(String::from_utf8_lossy(&out.stderr).contains("keep this line outside relops"));
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(
        (&v["ok"], &v["anchored_through"]),
        (&true.into(), &8.into()),
        "{v}"
    );
    let text = String::from_utf8(s.cli_as(&sec, &["audit", "verify"]).stdout).unwrap();
    assert!(
        text.contains("checked against 1 anchor kept outside the database, through entry 8"),
        "{text}"
    );
    // The chain grows and is checkpointed again: the database keeps only the newest
    // checkpoint (it pins every entry below it), the anchor file keeps both.
    s.cli_json(&["release", "create", "2.3.0", "--go-live", "2027-09-01"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&s.cli_as(&sec, &["audit", "anchor"]).stdout)
            .unwrap()["seq"],
        9
    );
    let kept_in_db = env
        .query_i64("SELECT COUNT(*) FROM audit_checkpoints WHERE pruned = 0")
        .await;
    assert_eq!(kept_in_db, 1);
    let v = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(
        (&v["ok"], &v["anchored_through"]),
        (&true.into(), &9.into()),
        "{v}"
    );
    env.execute_sql(&[
        "DELETE FROM audit_log WHERE seq >= 6",
        "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1",
        "DELETE FROM audit_checkpoints",
    ])
    .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 6: entry 9 was anchored",
    );

    // Re-hashed from an edited entry, the checkpoints dropped: consistent in itself, so
    // without an anchor it passes — with the anchor file, or a kept anchor, it does not.
    let (env, s, sec) = with_history(b.clone()).await;
    let kept_file = kept.path().join("kept.jsonl");
    std::fs::write(&kept_file, s.cli_as(&sec, &["audit", "anchor"]).stdout).unwrap();
    rehash_from(&env, 4).await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 8: differs from its anchor",
    );
    std::fs::remove_file(env.path().join("audit-anchors.jsonl")).unwrap();
    let blind = s.cli_json_as(&sec, &["audit", "verify"]);
    assert_eq!(
        (&blind["ok"], &blind["anchors_checked"]),
        (&true.into(), &0.into()),
        "the database alone cannot tell: {blind}"
    );
    assert_refused(
        &s.cli_as(
            &sec,
            &[
                "audit",
                "verify",
                "--since-anchor",
                kept_file.to_str().unwrap(),
            ],
        ),
        1,
        "entry 8: differs from its anchor",
    );

    // Deleted whole, the head back at zero.
    let (env, s, sec) = with_history(b.clone()).await;
    s.cli_as(&sec, &["audit", "anchor"]);
    env.execute_sql(&[
        "DELETE FROM audit_log",
        "DELETE FROM audit_checkpoints",
        &format!(
            "UPDATE audit_head SET seq = 0, hash = '{}' WHERE id = 1",
            relops_store::GENESIS
        ),
    ])
    .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entries were deleted and the head reset",
    );

    // Cut below a checkpoint relabelled as a prune: the prune flag is signed.
    let (env, s, sec) = with_history(b.clone()).await;
    s.cli_as(&sec, &["audit", "anchor"]);
    s.cli_json(&["release", "create", "2.3.0", "--go-live", "2027-09-01"]);
    std::fs::remove_file(env.path().join("audit-anchors.jsonl")).unwrap();
    env.execute_sql(&[
        "UPDATE audit_checkpoints SET pruned = 1 WHERE seq = 8",
        "DELETE FROM audit_log WHERE seq <= 8",
    ])
    .await;
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "entry 8: its signed checkpoint does not verify",
    );

    // A damaged anchor file is named, and a kept anchor that is not one is refused.
    let (env, s, sec) = with_history(b).await;
    s.cli_as(&sec, &["audit", "anchor"]);
    std::fs::write(env.path().join("audit-anchors.jsonl"), "{\"seq\": 99}\n").unwrap();
    assert_refused(
        &s.cli_as(&sec, &["audit", "verify"]),
        1,
        "line 1 of the anchor file",
    );
    std::fs::write(&kept_file, "not json\n").unwrap();
    assert_refused(
        &s.cli_as(
            &sec,
            &[
                "audit",
                "verify",
                "--since-anchor",
                kept_file.to_str().unwrap(),
            ],
        ),
        2,
        "is not a checkpoint `relops audit anchor` printed",
    );
}
