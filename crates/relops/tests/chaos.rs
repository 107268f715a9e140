//! Chaos under load (issue 28 part 6, R-AUTO-6): replicas on PostgreSQL + S3 behind nginx
//! (`deploy/nginx/relops.conf`), a fleet checking for updates (timestamp → snapshot →
//! targets) and sending error events through it, each client retrying a failed request as
//! the SDK does. Then a replica is killed with SIGKILL, or PostgreSQL is restarted:
//! no acknowledged event may be lost, no update check may fail for good, and the
//! deployment must recover without anyone restarting it. The figures are printed
//! (`--nocapture`) and kept in bench/RESULTS.md.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::outage::{Nginx, PgCluster};
use common::{Backend, Server, TestEnv};
use serde_json::{Value, json};

/// Relaxed limits: the load comes from one address and one key.
const CONFIG: &str = "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\
    [ingest]\nkey_rate_per_second = 1000000\nkey_burst = 1000000\n\
    installs_per_network = 1000000\n";

/// What the fleet saw during a run.
#[derive(Debug, Default)]
struct Seen {
    /// Event ids answered 200: stored, so never lost.
    acked: Vec<String>,
    /// Events given up on after every retry.
    lost_requests: u64,
    /// Update checks (the three metadata files) completed, and given up on.
    checks: u64,
    failed_checks: u64,
    /// Every answer's status (0: no answer — connection refused, reset, timed out).
    statuses: BTreeMap<u16, u64>,
    /// 503 answers without `Retry-After`.
    unavailable_without_retry_after: u64,
    /// Time from the fault until the first acknowledged event after it, and the slowest
    /// single request.
    slowest: Duration,
    /// When each acknowledgement came (from the run's start).
    acked_at: Vec<Duration>,
}

/// How often a client tries one request before it gives up (with [`RETRY_PAUSE`] between):
/// longer than any outage the tests make.
const TRIES: u32 = 120;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// One request with the client's retries: `Some(body)` once answered 200.
async fn with_retries(
    seen: &Mutex<Seen>,
    send: impl Fn() -> reqwest::RequestBuilder,
) -> Option<bytes::Bytes> {
    for _ in 0..TRIES {
        let started = Instant::now();
        let answer = send().timeout(Duration::from_secs(20)).send().await;
        let took = started.elapsed();
        let (status, retry_after) = match &answer {
            Ok(r) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
            Err(_) => (0, false),
        };
        {
            let mut s = seen.lock().unwrap();
            *s.statuses.entry(status).or_default() += 1;
            if status == 503 && !retry_after {
                s.unavailable_without_retry_after += 1;
            }
            s.slowest = s.slowest.max(took);
        }
        if status == 200
            && let Ok(body) = answer.unwrap().bytes().await
        {
            return Some(body);
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    None
}

/// Runs the fleet against `url` until `stop` is set: 4 clients sending error events (a
/// new event id each), 2 checking for updates.
async fn fleet(
    url: String,
    key: String,
    start: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Seen {
    use std::sync::atomic::Ordering;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for c in 0..4u64 {
        let (http, url, key, seen, stop) = (
            http.clone(),
            url.clone(),
            key.clone(),
            seen.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("{:08x}{:024x}", c, n);
                n += 1;
                let body = json!({"install_id": format!("install-{c}-{}", n % 50),
                    "release": "2.0.0", "platform": "windows-x64", "channel": "stable",
                    "event_id": id, "code": "TOB_PARSE_ERROR"});
                let ok = with_retries(&seen, || {
                    http.post(format!("{url}/v1/ingest/errors"))
                        .header("X-Relops-Ingest-Key", &key)
                        .json(&body)
                })
                .await;
                let mut s = seen.lock().unwrap();
                if ok.is_some() {
                    s.acked.push(id);
                    s.acked_at.push(start.elapsed());
                } else {
                    s.lost_requests += 1;
                }
            }
        }));
    }
    for _ in 0..2 {
        let (http, url, seen, stop) = (http.clone(), url.clone(), seen.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let meta = format!("{url}/tuf/wizard/metadata");
            while !stop.load(Ordering::Relaxed) {
                let ok = async {
                    let ts =
                        with_retries(&seen, || http.get(format!("{meta}/timestamp.json"))).await?;
                    let ts: Value = serde_json::from_slice(&ts).ok()?;
                    let v = ts["signed"]["meta"]["snapshot.json"]["version"].as_u64()?;
                    let snap =
                        with_retries(&seen, || http.get(format!("{meta}/{v}.snapshot.json")))
                            .await?;
                    let snap: Value = serde_json::from_slice(&snap).ok()?;
                    let t = snap["signed"]["meta"]["targets.json"]["version"].as_u64()?;
                    with_retries(&seen, || http.get(format!("{meta}/{t}.targets.json"))).await
                }
                .await;
                let mut s = seen.lock().unwrap();
                if ok.is_some() {
                    s.checks += 1;
                } else {
                    s.failed_checks += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

/// The PostgreSQL + S3 backend on `pg_admin_url` (the shared cluster, or one of the
/// test's own), if `.ci/run` provided S3.
fn backend_on(pg_admin_url: Option<String>) -> Option<Backend> {
    match Backend::postgres_s3()? {
        Backend::PostgresS3 {
            pg_admin_url: shared,
            s3,
        } => Some(Backend::PostgresS3 {
            pg_admin_url: pg_admin_url.unwrap_or(shared),
            s3,
        }),
        other => Some(other),
    }
}

/// A deployment of `n` replicas with 2.0.0 released to everyone, behind nginx; the env,
/// the replicas (the first is A) and the ingest key.
async fn deployment(
    b: Backend,
    n: usize,
) -> Option<(
    TestEnv,
    Vec<(Option<tempfile::TempDir>, Server)>,
    Nginx,
    String,
)> {
    let env = TestEnv::with_config(b, CONFIG).await;
    let a = env.serve();
    let dir = tempfile::tempdir().unwrap();
    a.with_installer(dir.path(), "2.0.0", "2027-03-15", 1);
    a.ship("2.0.0");
    let key = a.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut servers = vec![(None, a)];
    for _ in 1..n {
        let (d, s) = env.replica();
        servers.push((Some(d), s));
    }
    let addrs: Vec<String> = servers
        .iter()
        .map(|(_, s)| s.url.trim_start_matches("http://").to_owned())
        .collect();
    let nginx = Nginx::start(&addrs.iter().map(String::as_str).collect::<Vec<_>>())?;
    Some((env, servers, nginx, key))
}

/// Every acknowledged event is stored: the ids in the database include all of them.
async fn nothing_acknowledged_lost(env: &TestEnv, seen: &Seen) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&env.database_url)
        .await
        .unwrap();
    let stored: HashSet<String> =
        sqlx::query_scalar("SELECT event_id FROM ingest_events WHERE code = 'TOB_PARSE_ERROR'")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let lost: Vec<&String> = seen
        .acked
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events are not stored: {:?}",
        lost.len(),
        seen.acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// A replica killed with SIGKILL under load: nginx passes its requests to the others;
/// every event acknowledged (by any replica, the dead one included) is stored, and every
/// update check completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_nothing() {
    let Some(b) = backend_on(None) else { return };
    let Some((env, mut servers, nginx, key)) = deployment(b, 3).await else {
        return;
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run = tokio::spawn(fleet(nginx.url.clone(), key, Instant::now(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_dir, victim) = servers.remove(1);
    let killed_at = Instant::now();
    victim.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = run.await.unwrap();
    eprintln!(
        "replica killed: {} events acknowledged, {} update checks, answers {:?}, slowest request {:?} (killed {:?} before the end)",
        seen.acked.len(),
        seen.checks,
        seen.statuses,
        seen.slowest,
        killed_at.elapsed()
    );
    assert_eq!(
        seen.lost_requests, 0,
        "every event was acknowledged in the end"
    );
    assert_eq!(seen.failed_checks, 0, "every update check completed");
    assert!(seen.acked.len() > 100 && seen.checks > 10, "{seen:?}");
    nothing_acknowledged_lost(&env, &seen).await;
    drop(nginx);
}

/// PostgreSQL stopped for 14 s under load and started again: meanwhile the replicas answer
/// what needs the database with 503 and `Retry-After` (never 500, never a hang), serve the
/// feed from memory, and afterwards work again without a restart — ingest, operations,
/// and a feed change reaching the other replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_recovers_and_loses_nothing() {
    let Some(pg) = PgCluster::start() else { return };
    let Some(b) = backend_on(Some(pg.url())) else {
        return;
    };
    let Some((env, servers, nginx, key)) = deployment(b, 2).await else {
        return;
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run_start = Instant::now();
    let run = tokio::spawn(fleet(nginx.url.clone(), key, run_start, stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.stop();
    let down_at = run_start.elapsed();
    // While it is down: an operation that needs the database says so, within the pool's
    // wait for a connection.
    let asked = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{}/v1/releases", servers[0].1.url))
        .bearer_auth(&env.admin_token)
        .send()
        .await
        .unwrap();
    let answered_in = asked.elapsed();
    let retry_after = r.headers().get("retry-after").cloned();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    tokio::time::sleep(Duration::from_secs(14).saturating_sub(answered_in)).await;
    pg.start_again();
    let up_at = run_start.elapsed();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = run.await.unwrap();
    let first_after = seen.acked_at.iter().find(|t| **t > up_at).copied();
    eprintln!(
        "PostgreSQL down {down_at:?}..{up_at:?}: {} events acknowledged, {} update checks, answers {:?}, slowest request {:?}, first event acknowledged after the restart at {first_after:?}",
        seen.acked.len(),
        seen.checks,
        seen.statuses,
        seen.slowest,
    );
    eprintln!("an operation during the outage: {status} in {answered_in:?}: {body}");
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "Retry-After");
    assert!(body.contains("the database cannot be reached"), "{body}");
    assert!(answered_in < Duration::from_secs(12), "{answered_in:?}");
    assert_eq!(seen.lost_requests, 0);
    assert_eq!(seen.failed_checks, 0, "the feed is served from memory");
    assert_eq!(seen.unavailable_without_retry_after, 0);
    let unexpected: Vec<_> = seen
        .statuses
        .keys()
        .filter(|s| ![200, 503].contains(*s))
        .collect();
    assert!(
        unexpected.is_empty(),
        "only 200 and 503: {:?}",
        seen.statuses
    );
    assert!(
        seen.statuses.get(&503).copied().unwrap_or(0) > 0,
        "the outage was seen: {:?}",
        seen.statuses
    );
    assert!(
        first_after.is_some_and(|t| t < up_at + Duration::from_secs(5)),
        "ingest works again within 5 s of the restart: {first_after:?}"
    );
    nothing_acknowledged_lost(&env, &seen).await;
    // Operations work again, and a feed change still reaches the other replica at once.
    let a = &servers[0].1;
    let other = &servers[1].1;
    a.with_installer(
        tempfile::tempdir().unwrap().path(),
        "2.1.0",
        "2027-04-15",
        2,
    );
    a.approve("2.1.0");
    a.cli_json(&["rollout", "start", "2.1.0"]);
    let want = a.cli_json(&["rollout", "status", "2.1.0"]);
    assert_eq!(want["state"], "active");
    let http = reqwest::Client::new();
    let version = |s: &Server| {
        let (http, url) = (http.clone(), s.url.clone());
        async move {
            let body = http
                .get(format!("{url}/tuf/wizard/metadata/timestamp.json"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&body).unwrap()["signed"]["version"]
                .as_u64()
                .unwrap()
        }
    };
    let target = version(a).await;
    let start = Instant::now();
    while version(other).await < target {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the other replica serves A's feed again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(nginx);
    drop(servers);
    drop(env);
}
