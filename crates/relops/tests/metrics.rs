//! `GET /metrics` (issue 26): the figures a release manager watches, in Prometheus' text
//! format — checked by `promtool check metrics` and scraped by a real `prometheus` (the
//! Debian package), whose query API answers the values relops counted. The Grafana
//! dashboard (`deploy/grafana/relops.json`) queries only metrics relops exports (a unit
//! test of relops-server).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestEnv};
use serde_json::{Value, json};

backend_tests!(prometheus_scrapes_what_relops_counts);

/// The value of the series of `name` whose labels include all of `labels`, in `text`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            (series == name || series.starts_with(&format!("{name}{{")))
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

fn tool(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if found.is_none() {
        let why = format!("{name} is not installed: `.ci/run` installs Debian's prometheus");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

async fn prometheus_scrapes_what_relops_counts(b: Backend) {
    let (Some(promtool), Some(prometheus)) = (tool("promtool"), tool("prometheus")) else {
        return;
    };
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let dir = tempfile::tempdir().unwrap();
    s.with_installer(dir.path(), "1.9.0", "2027-01-15", 1);
    s.ship("1.9.0");
    s.with_installer(dir.path(), "2.0.0", "2027-03-15", 2);
    s.approve("2.0.0");
    s.cli_json(&["rollout", "start", "2.0.0"]);
    s.cli_json(&["rollout", "halt", "2.0.0", "--reason", "metrics test"]);

    // Seven update checks on stable from 1.8.0 (each offered 1.9.0, or 2.0.0's pilot for
    // the few installs in it), and three on a channel nobody configured.
    let http = reqwest::Client::new();
    let check = |channel: &str, i: usize| {
        http.get(format!(
            "{}/v1/update?platform=windows-x64&channel={channel}&version=1.8.0&install_id=i-{i}",
            s.url
        ))
        .send()
    };
    for i in 0..7 {
        assert!(check("stable", i).await.unwrap().status().is_success());
    }
    for i in 0..3 {
        let _ = check(&format!("made-up-{i}"), i).await.unwrap();
    }
    // Twelve sessions of 1.9.0 through ingest.
    let key = s.cli_json(&["ingest", "dsn"])["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions: Vec<Value> = (0..12)
        .map(|i| {
            json!({"install_id": format!("m-{i}"), "release": "1.9.0", "platform": "windows-x64",
                   "channel": "stable", "session_id": format!("s-{i}"), "status": "exited"})
        })
        .collect();
    let r = http
        .post(format!("{}/v1/ingest/sessions", s.url))
        .header("X-Relops-Ingest-Key", &key)
        .json(&json!({ "sessions": sessions }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(format!("{}/metrics", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    let checks: f64 = text
        .lines()
        .filter(|l| l.starts_with("relops_update_checks_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(checks, 10.0, "{text}");
    assert_eq!(
        value(&text, "relops_update_checks_total", &[("channel", "other")]),
        Some(3.0),
        "a channel nobody configured is one series, not three: {text}"
    );
    assert!(!text.contains("made-up"), "no label value from the fleet");
    assert_eq!(
        value(&text, "relops_ingest_events_total", &[("kind", "session")]),
        Some(12.0),
        "{text}"
    );
    let rollout = [("product", "wizard"), ("release", "2.0.0")];
    assert_eq!(
        value(&text, "relops_rollout_percent", &rollout),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "relops_rollout_state",
            &[("release", "2.0.0"), ("state", "halted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "relops_rollout_state",
            &[("release", "2.0.0"), ("state", "active")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            "relops_rollout_state",
            &[("release", "1.9.0"), ("state", "completed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "relops_health_gate", &rollout),
        Some(0.0),
        "unknown"
    );
    assert!(value(&text, "relops_outbox_backlog", &[]).is_some());
    assert!(
        text.contains("relops_http_request_duration_seconds_bucket{family=\"update\""),
        "{text}"
    );

    // promtool reads the exposition as valid.
    let mut p = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes the server and answers the counts.
    let target = s.url.trim_start_matches("http://").to_owned();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: relops\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let query = |q: &str| {
        let url = format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut checks, mut halted) = (None, None);
    while Instant::now() < deadline {
        checks = query("sum(relops_update_checks_total)").await;
        halted = query("relops_rollout_state{release=\"2.0.0\",state=\"halted\"}").await;
        if checks.is_some() && halted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every query of the Grafana dashboard parses and runs in this Prometheus.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/relops.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let q = t["expr"].as_str().unwrap().replace("$product", "wizard");
            let url = format!(
                "http://127.0.0.1:{port}/api/v1/query?query={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            );
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            assert_eq!(v["status"], "success", "{q}: {v}");
        }
    }
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(checks, Some(10.0), "Prometheus' answer");
    assert_eq!(halted, Some(1.0));
}

/// `[http] metrics = false`: nothing is recorded and `/metrics` says how to turn it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let env = TestEnv::with_config(Backend::SqliteLocal, "").await;
    let toml = env.path().join("relops.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n[http]\nmetrics = false\n")).unwrap();
    let s = env.serve();
    let r = reqwest::get(format!("{}/metrics", s.url)).await.unwrap();
    assert_eq!(r.status(), 404);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("[http] metrics = true"),
        "{e}"
    );
    // The rest of the server works as before.
    assert_eq!(
        reqwest::get(format!("{}/healthz", s.url))
            .await
            .unwrap()
            .status(),
        200
    );
}
