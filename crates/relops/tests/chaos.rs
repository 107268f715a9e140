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

use common::outage::{Nginx, PgCluster, S3Server};
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

/// The PostgreSQL + S3 backend, on a PostgreSQL cluster or S3 server of the test's own
/// where given, else on the shared ones `.ci/run` started.
fn backend_on(pg_admin_url: Option<String>, s3_endpoint: Option<String>) -> Option<Backend> {
    match Backend::postgres_s3()? {
        Backend::PostgresS3 {
            pg_admin_url: shared,
            mut s3,
        } => {
            if let Some(e) = s3_endpoint {
                s3.endpoint = e;
            }
            Some(Backend::PostgresS3 {
                pg_admin_url: pg_admin_url.unwrap_or(shared),
                s3,
            })
        }
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
    let Some(b) = backend_on(None, None) else {
        return;
    };
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
    let Some(b) = backend_on(Some(pg.url()), None) else {
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
            metadata(&http, &url, "timestamp.json").await["signed"]["version"]
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

/// A metadata file as `base` serves it (asserted 200).
async fn metadata(http: &reqwest::Client, base: &str, file: &str) -> Value {
    let r = http
        .get(format!("{base}/tuf/wizard/metadata/{file}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{file}");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// The signed targets a client finds at `base` (timestamp → snapshot → targets).
async fn targets(http: &reqwest::Client, base: &str) -> Value {
    let ts = metadata(http, base, "timestamp.json").await;
    let v = &ts["signed"]["meta"]["snapshot.json"]["version"];
    let snap = metadata(http, base, &format!("{v}.snapshot.json")).await;
    let t = &snap["signed"]["meta"]["targets.json"]["version"];
    metadata(http, base, &format!("{t}.targets.json")).await
}

/// Writes an installer of 300 kB to `dir` and returns the arguments that upload it as
/// 2.1.0's Windows artifact.
fn msi_upload(dir: &std::path::Path) -> Vec<String> {
    let file = dir.join("WIZARD-2.1.0.msi");
    std::fs::write(&file, common::test_bytes(300_000, 7)).unwrap();
    [
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        file.to_str().unwrap(),
        "--authenticode-signer",
        "CN=Wizard GmbH",
    ]
    .map(String::from)
    .to_vec()
}

/// S3 unreachable (the bucket's server killed): update checks go on and a target a
/// replica has served before is still served (from its cache); an upload fails within
/// the client's bounded retries with 503 and says why, leaving nothing half-written; once
/// S3 is back the same upload succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unreachable_refuses_uploads_cleanly_and_serves_what_it_has() {
    let Some(mut s3) = S3Server::start() else {
        return;
    };
    let Some(b) = backend_on(None, Some(s3.endpoint())) else {
        return;
    };
    let Some((_env, servers, nginx, _key)) = deployment(b, 2).await else {
        return;
    };
    let http = reqwest::Client::new();
    let signed = targets(&http, &nginx.url).await;
    let (name, meta) = signed["signed"]["targets"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let sha = meta["hashes"]["sha256"].as_str().unwrap();
    let path = format!("/tuf/wizard/targets/{sha}.{name}");
    let download = |base: String| {
        let (http, path) = (http.clone(), path.clone());
        async move {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    let mut before = Vec::new();
    for (_, s) in &servers {
        let (status, body) = download(s.url.clone()).await;
        assert_eq!(status, 200, "{path}");
        before.push(body);
    }

    s3.stop();
    for ((_, s), body) in servers.iter().zip(&before) {
        targets(&http, &s.url).await;
        assert_eq!(
            download(s.url.clone()).await,
            (200, body.clone()),
            "a served target stays served from the cache"
        );
    }
    targets(&http, &nginx.url).await;

    let a = &servers[0].1;
    a.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-04-15"]);
    let work = tempfile::tempdir().unwrap();
    let upload = msi_upload(work.path());
    let upload: Vec<&str> = upload.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = a.cli(&upload);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("an upload while S3 is down: refused after {took:?}: {stderr}");
    assert!(!out.status.success());
    assert!(
        stderr.contains("the blob store (S3) cannot be reached right now"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(40), "{took:?}");
    assert_eq!(
        a.cli_json(&["release", "show", "2.1.0"])["artifacts"],
        json!([]),
        "nothing half-written"
    );

    s3.start_again();
    let out = a.cli(&upload);
    assert!(
        out.status.success(),
        "S3 is back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        a.cli_json(&["release", "show", "2.1.0"])["artifacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The disk under an SQLite data dir fills up while the server runs: writes that need
/// space are refused with 503 and a message that says the disk is full (never a 500);
/// reads, the feed included, go on; once space returns, the same server writes again,
/// nothing acknowledged is missing and the database and the audit chain check out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_corrupts_nothing() {
    let Some(disk) = common::outage::SmallDisk::mount(48) else {
        return;
    };
    let env = TestEnv::with_config_in(Backend::SqliteLocal, CONFIG, disk.path()).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.with_installer(work.path(), "2.0.0", "2027-03-15", 1);
    s.ship("2.0.0");
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let event = |i: u32| {
        json!({"install_id": format!("install-{i}"), "release": "2.0.0",
            "platform": "windows-x64", "channel": "stable",
            "event_id": format!("{i:032x}"), "code": "DISK_TEST"})
    };
    let send = |i: u32| {
        let (http, url, key, body) = (http.clone(), s.url.clone(), key.clone(), event(i));
        async move {
            let r = http
                .post(format!("{url}/v1/ingest/errors"))
                .header("X-Relops-Ingest-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(send(0).await.0, 200);
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-04-15"]);

    disk.fill();
    // A new artifact needs space: refused, saying so.
    let upload = msi_upload(work.path());
    let upload: Vec<&str> = upload.iter().map(String::as_str).collect();
    let out = s.cli(&upload);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("an upload on a full disk: {stderr}");
    assert!(!out.status.success());
    assert!(
        stderr.contains("disk is full") && stderr.contains("503"),
        "{stderr}"
    );
    // Database writes and telemetry: each either acknowledged or refused as a full disk.
    let mut acked_releases = Vec::new();
    let mut refused = 0;
    for i in 0..150 {
        let v = format!("3.0.{i}");
        let out = s.cli(&["release", "create", &v, "--go-live", "2027-09-01"]);
        if out.status.success() {
            acked_releases.push(v);
        } else {
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(e.contains("disk is full") && e.contains("503"), "{e}");
            refused += 1;
        }
    }
    let mut acked_events = vec![0];
    let mut refused_events = 0;
    for i in 1..400 {
        let (status, body) = send(i).await;
        match status {
            200 => acked_events.push(i),
            503 => refused_events += 1,
            other => panic!("{other}: {body}"),
        }
    }
    eprintln!(
        "on a full disk: {} of 150 releases created, {refused} refused; {} of 399 events acknowledged, {refused_events} refused",
        acked_releases.len(),
        acked_events.len() - 1
    );
    // Reads go on.
    assert_eq!(
        s.cli_json(&["release", "show", "2.0.0"])["version"],
        "2.0.0"
    );
    targets(&http, &s.url).await;

    disk.free();
    let out = s.cli(&upload);
    assert!(
        out.status.success(),
        "space is back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for v in &acked_releases {
        assert_eq!(s.cli_json(&["release", "show", v])["version"], v.as_str());
    }
    // `relops health` waits until every acknowledged event is folded into the database;
    // the fold retries every second, so it may refuse once more until its next try.
    let freed = Instant::now();
    while !s.cli(&["health", "2.0.0"]).status.success() {
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "the ingest fold works again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "the fold caught up {:?} after space returned",
        freed.elapsed()
    );
    let stored = env
        .query_i64("SELECT COUNT(*) FROM ingest_events WHERE code = 'DISK_TEST'")
        .await;
    assert_eq!(
        stored,
        acked_events.len() as i64,
        "every acknowledged event"
    );
    let verify = s.cli(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&env.database_url)
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    drop(c);
    drop(s);
    drop(env);
    drop(disk);
}
