//! Several replicas on one PostgreSQL database (issue 28 part 3): exactly one leads the
//! deployment's background work, and when it dies (SIGKILL) another takes the lead within
//! seconds. On SQLite the one process leads from the start.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Server, TestEnv};

backend_tests!(one_replica_leads_and_the_lead_moves_when_it_dies);

/// `relops_leader` as the replica's `/metrics` says it.
async fn leads(s: &Server) -> Option<bool> {
    let text = reqwest::get(format!("{}/metrics", s.url))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("relops_leader "))
        .map(|v| v.trim() == "1")
}

/// Waits until `want` holds for the replicas' leads, at most `within`; the time it took.
async fn until(
    servers: &[&Server],
    within: Duration,
    want: impl Fn(&[Option<bool>]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let mut got = Vec::new();
        for s in servers {
            got.push(leads(s).await);
        }
        if want(&got) {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "leads now {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

async fn one_replica_leads_and_the_lead_moves_when_it_dies(b: Backend) {
    let shared = matches!(b, Backend::PostgresS3 { .. });
    let env = TestEnv::new(b).await;
    let a = env.serve();
    if !shared {
        until(&[&a], Duration::from_secs(10), |l| l == [Some(true)]).await;
        return;
    }
    // A second replica: the same config (database, bucket) and keys in a data dir of its own.
    let second = tempfile::tempdir().unwrap();
    copy_dir(env.path(), second.path());
    let b2 = Server::start(second.path(), &env.admin_token);
    until(&[&a, &b2], Duration::from_secs(15), |l| {
        l.iter().filter(|x| **x == Some(true)).count() == 1
            && l.iter().filter(|x| **x == Some(false)).count() == 1
    })
    .await;
    let a_leads = leads(&a).await == Some(true);
    let (leader, other) = if a_leads { (a, b2) } else { (b2, a) };
    // Both answer the API all the while: the lead is only about background work.
    assert_eq!(
        other.cli_json(&["release", "list"]),
        leader.cli_json(&["release", "list"])
    );
    leader.kill();
    let took = until(&[&other], Duration::from_secs(15), |l| l == [Some(true)]).await;
    eprintln!("the lead moved in {took:?} after the leader was killed");
    assert!(took < Duration::from_secs(10), "{took:?}");
}
