//! `relops simulate`: a fleet of virtual installs against a running server.
//!
//! Each round, every install asks the signed feed what to run — one TUF refresh per
//! platform through the relops SDK ([`relops_client::Updater::refresh`]), then the SDK's
//! decision for each install — installs what it is offered (the first download of each
//! target is fetched and verified by the SDK), runs one session and reports it through the
//! native ingest API (batches of 1,000). Whether an install crashes on a release is its
//! fate, fixed by the seed: a share `--crash-rate` of the installs crash on RELEASE, a
//! share `--baseline-crash-rate` on the others — the crash rate the health engine measures
//! (crashed ÷ active installs). Between rounds the simulator plays the release manager
//! (advance when the health gate and the soak allow) and on-call (decide rollback when the
//! rollout was halted), and stops when the release is fully out or rolled back and left.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use relops_api::{
    AlertList, IncidentDecision, IncidentList, InstallScope, KeyList, Release, ReleaseList,
    RolloutStatus, RolloutStep, SessionBatch, SessionUpdate,
};
use relops_client::{Config, Updater};
use relops_core::platform::Platform;
use relops_core::version::Version;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::SimulateArgs;
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, usage};

/// Sessions per ingest request.
const BATCH: usize = 1000;

struct Install {
    id: String,
    platform: usize,
    version: Version,
    ever: bool,
}

/// What the run found.
/// When the rollout was first seen halted.
#[derive(Debug, Serialize)]
pub struct Halted {
    pub round: u32,
    /// Seconds after the rollout started.
    pub seconds: f64,
    pub stage: String,
    pub percent: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub release: String,
    pub installs: u32,
    pub crash_rate: f64,
    pub baseline_crash_rate: f64,
    pub seed: u64,
    /// `released` (100 % and every install on it), `rolled_back` (and every install off
    /// it), `halted` (left halted, `--on-halt none`) or `incomplete` (time or rounds ran out).
    pub outcome: String,
    pub rounds: u32,
    pub elapsed_seconds: f64,
    /// Stages the rollout entered, in order, with seconds after the start.
    pub stages: Vec<(String, f64)>,
    /// Installs that ever ran the release.
    pub ever_received: u64,
    /// Installs running it at the end.
    pub running_at_end: u64,
    /// When the rollout was seen halted: round, seconds after the rollout started, stage.
    pub halted: Option<Halted>,
    /// Active and crashed installs the crash-rate alert fired on (the sample size).
    pub detection: Option<relops_api::WindowFigures>,
    pub incident: Option<String>,
    pub rolled_back_to: Option<String>,
    /// Alerts on the release: `[id, rule, status]`.
    pub alerts: Vec<(String, String, String)>,
    pub sessions_sent: u64,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| usage(format!("--duration `{s}`: expected e.g. 90s, 10m or 1h")))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(usage(format!("--duration `{s}`: units are s, m, h"))),
    };
    Ok(Duration::from_secs(secs))
}

/// A number in [0, 1) fixed by the seed, the install and the release.
fn fate(seed: u64, install: usize, version: &Version) -> f64 {
    let d = Sha256::digest(format!("{seed}/{install}/{version}").as_bytes());
    f64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) / 4_294_967_296.0
}

fn install_id(seed: u64, i: usize) -> String {
    let d = Sha256::digest(format!("relops-simulate/{seed}/{i}").as_bytes());
    uuid::Builder::from_random_bytes(d[..16].try_into().expect("16 bytes"))
        .into_uuid()
        .to_string()
}

pub async fn run(client: &Client, a: SimulateArgs, json: bool) -> anyhow::Result<()> {
    if a.installs == 0 || a.installs > 1_000_000 {
        return Err(usage("--installs must be 1 to 1,000,000"));
    }
    for (name, r) in [
        ("--crash-rate", a.crash_rate),
        ("--baseline-crash-rate", a.baseline_crash_rate),
    ] {
        if !(0.0..=1.0).contains(&r) {
            return Err(usage(format!(
                "{name} is a fraction between 0 and 1 (0.05 = 5 %)"
            )));
        }
    }
    let limit = parse_duration(&a.duration)?;
    let v: Version = a
        .release
        .parse()
        .map_err(|e| usage(format!("--release `{}`: {e}", a.release)))?;
    let release: Release = client.get(&format!("/releases/{v}")).await?;
    let product = release.product.clone();
    let mut platforms: Vec<Platform> = release.artifacts.iter().map(|x| x.platform).collect();
    platforms.sort();
    platforms.dedup();
    if platforms.is_empty() {
        return Err(failed(format!("release {v} has no artifacts to roll out")));
    }
    let list: ReleaseList = client.get("/releases").await?;
    let baseline = list
        .releases
        .iter()
        .filter(|r| r.version < v && r.state.as_str() == "released")
        .map(|r| r.version.clone())
        .max()
        .ok_or_else(|| {
            failed(format!(
                "no released version below {v} for the fleet to start on: roll one out to 100 % first"
            ))
        })?;
    let keys: KeyList = client.get("/keys").await?;
    let release_key = keys
        .keys
        .iter()
        .find(|k| k.role == "release")
        .and_then(|k| k.public_keys.first().cloned())
        .ok_or_else(|| failed("the server names no release key"))?;
    let trusted_root = match &a.root {
        Some(p) => std::fs::read(p).map_err(|e| usage(format!("--root {}: {e}", p.display())))?,
        None => client
            .get_public(&format!("/tuf/{product}/metadata/1.root.json"))
            .await?
            .bytes()
            .await?
            .to_vec(),
    };
    let dsn: relops_api::Dsn = client.get("/ingest/dsn").await?;
    let ingest_key = dsn.public_key;

    // One SDK updater per platform (each keeps its own verified metadata).
    let dir = tempfile::tempdir()?;
    let http = client.http().clone();
    let mut updaters = Vec::new();
    for p in &platforms {
        updaters.push(Updater::with_http_client(
            Config {
                feed_url: format!("{}/tuf/{product}/", client.base()),
                trusted_root: trusted_root.clone(),
                release_key: release_key.clone(),
                product: product.clone(),
                platform: *p,
                channel: "stable".into(),
                current_version: baseline.clone(),
                data_dir: dir.path().join(p.as_str()),
                allow_insecure_http: true,
            },
            http.clone(),
        )?);
    }
    let mut fleet: Vec<Install> = (0..a.installs as usize)
        .map(|i| Install {
            id: install_id(a.seed, i),
            platform: i % platforms.len(),
            version: baseline.clone(),
            ever: false,
        })
        .collect();

    let rollout_path = format!("/releases/{}/rollout", segment(&v.to_string()));
    let started = Instant::now();
    let mut status: RolloutStatus = match client.get(&rollout_path).await {
        Ok(s) => s,
        Err(_) => {
            client
                .post(&format!("{rollout_path}/start"), &RolloutStep::default())
                .await?
        }
    };
    let mut report = Report {
        release: v.to_string(),
        installs: a.installs,
        crash_rate: a.crash_rate,
        baseline_crash_rate: a.baseline_crash_rate,
        seed: a.seed,
        outcome: "incomplete".into(),
        rounds: 0,
        elapsed_seconds: 0.0,
        stages: vec![(status.stage.clone(), 0.0)],
        ever_received: 0,
        running_at_end: 0,
        halted: None,
        detection: None,
        incident: None,
        rolled_back_to: None,
        alerts: Vec::new(),
        sessions_sent: 0,
    };
    let mut verified: HashSet<String> = HashSet::new();
    let sessions_url = format!("{}/v1/ingest/sessions", client.base());
    let http_ingest = client.http().clone();

    for round in 1..=a.rounds {
        if started.elapsed() > limit {
            break;
        }
        report.rounds = round;
        // 1. Every install checks the signed feed through the SDK.
        let mut feeds = Vec::new();
        for u in &updaters {
            feeds.push(u.refresh().await?);
        }
        for inst in fleet.iter_mut() {
            let Some(up) = feeds[inst.platform].offer("stable", &inst.version, &inst.id) else {
                continue;
            };
            if verified.insert(up.target.clone()) {
                updaters[inst.platform].download(&up).await?;
            }
            inst.version = up.version;
            if inst.version == v {
                inst.ever = true;
            }
        }
        // 2. Every install runs a session and reports it.
        let bodies: Vec<SessionBatch> = fleet
            .chunks(BATCH)
            .enumerate()
            .map(|(c, chunk)| {
                let sessions: Vec<SessionUpdate> = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, inst)| {
                        let i = c * BATCH + k;
                        let rate = if inst.version == v {
                            a.crash_rate
                        } else {
                            a.baseline_crash_rate
                        };
                        SessionUpdate {
                            who: InstallScope {
                                install_id: inst.id.clone(),
                                release: inst.version.to_string(),
                                platform: platforms[inst.platform].as_str().to_owned(),
                                channel: "stable".into(),
                            },
                            session_id: format!("sim-{}-{round}-{i}", a.seed),
                            status: if fate(a.seed, i, &inst.version) < rate {
                                "crashed"
                            } else {
                                "exited"
                            }
                            .into(),
                            duration_seconds: None,
                        }
                    })
                    .collect();
                SessionBatch { sessions }
            })
            .collect();
        let sent: Vec<anyhow::Result<usize>> = futures::stream::iter(bodies)
            .map(|b| send_batch(&http_ingest, &sessions_url, &ingest_key, b))
            .buffer_unordered(4)
            .collect()
            .await;
        for r in sent {
            report.sessions_sent += r? as u64;
        }
        // 3. The people: release manager and on-call.
        status = client.get(&rollout_path).await?;
        let since_start = started.elapsed().as_secs_f64();
        if status.state == "halted" && report.halted.is_none() {
            report.halted = Some(Halted {
                round,
                seconds: since_start,
                stage: status.stage.clone(),
                percent: status.percent,
            });
        }
        // On-call decides once the incident is there (the engine opens it after the halt).
        if status.state == "halted" && report.rolled_back_to.is_none() && a.on_halt == "rollback" {
            let incidents: IncidentList = client.get("/incidents").await?;
            if let Some(i) = incidents
                .incidents
                .iter()
                .find(|i| i.version == v && i.status == "open")
            {
                let decision = |note: &str| IncidentDecision {
                    action: "rollback".into(),
                    note: Some(note.to_owned()),
                    to: None,
                    force: false,
                };
                let path = format!("/incidents/{}/decision", segment(&i.id));
                let filed: relops_api::Incident = client
                    .post(
                        &path,
                        &decision(&format!(
                            "simulated on-call: roll back {v} after the automatic halt"
                        )),
                    )
                    .await?;
                if filed.rollback_request.is_some() {
                    let Some(t) = &a.confirm_token else {
                        report.incident = Some(i.id.clone());
                        report.outcome = "halted".into();
                        break;
                    };
                    client
                        .as_token(t)
                        .post::<_, relops_api::Incident>(
                            &path,
                            &decision("simulated product owner: confirmed"),
                        )
                        .await?;
                }
                report.incident = Some(i.id.clone());
                report.rolled_back_to = Some(baseline.to_string());
            }
        }
        if status.state == "active"
            && status.stage != "100"
            && status
                .next_step_allowed_at
                .is_some_and(|t| t <= chrono::Utc::now())
        {
            // Refused while the health gate is not passing: that is the point.
            if let Ok(s) = client
                .post::<_, RolloutStatus>(
                    &format!("{rollout_path}/advance"),
                    &RolloutStep::default(),
                )
                .await
            {
                report.stages.push((s.stage.clone(), since_start));
                status = s;
            }
        }
        let running = fleet.iter().filter(|i| i.version == v).count();
        let done = match status.state.as_str() {
            "completed" if running == fleet.len() => Some("released"),
            "rolled_back" if running == 0 && round > 1 => Some("rolled_back"),
            "halted" if a.on_halt == "none" => Some("halted"),
            _ => None,
        };
        if let Some(d) = done {
            report.outcome = d.into();
            break;
        }
        if a.pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(a.pause_ms)).await;
        }
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.ever_received = fleet.iter().filter(|i| i.ever).count() as u64;
    report.running_at_end = fleet.iter().filter(|i| i.version == v).count() as u64;
    let alerts: AlertList = client.get("/alerts?all=true").await?;
    for al in alerts.alerts.iter().filter(|x| x.release == v.to_string()) {
        if al.rule == "crash_rate" && report.detection.is_none() {
            report.detection = Some(al.evidence.at_trigger.clone());
        }
        report.incident = report.incident.take().or_else(|| al.incident.clone());
        report
            .alerts
            .push((al.id.clone(), al.rule.clone(), al.status.clone()));
    }
    if json {
        return print_json(&report);
    }
    print(&render(&report))
}

async fn send_batch(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: SessionBatch,
) -> anyhow::Result<usize> {
    let n = body.sessions.len();
    for attempt in 0..20u32 {
        let resp = http
            .post(url)
            .header("X-Relops-Ingest-Key", key)
            .json(&body)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => return Ok(n),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                let wait = r
                    .headers()
                    .get("retry-after")
                    .and_then(|h| h.to_str().ok())
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(
                    Duration::from_millis(200 * u64::from(attempt + 1))
                        .max(Duration::from_secs(wait.min(5))),
                )
                .await;
            }
            Ok(r) => {
                let status = r.status();
                return Err(failed(format!(
                    "ingest refused a batch ({status}): {}",
                    r.text().await.unwrap_or_default()
                )));
            }
            Err(e) => {
                if attempt > 5 {
                    return Err(failed(format!("cannot reach ingest: {e}")));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(failed("ingest kept refusing a batch (rate limited)"))
}

fn render(r: &Report) -> String {
    let stages: Vec<String> = r
        .stages
        .iter()
        .map(|(s, t)| format!("{s} ({t:.1} s)"))
        .collect();
    let mut out = format!(
        "Simulated {} installs on {} (crash rate {:.2} %, baseline {:.2} %, seed {}):\n  outcome:        {}\n  rounds:         {} in {:.1} s ({} sessions)\n  stages:         {}\n  ever received:  {} installs\n  running at end: {}\n",
        r.installs,
        r.release,
        r.crash_rate * 100.0,
        r.baseline_crash_rate * 100.0,
        r.seed,
        r.outcome,
        r.rounds,
        r.elapsed_seconds,
        r.sessions_sent,
        stages.join(" -> "),
        r.ever_received,
        r.running_at_end,
    );
    if let Some(h) = &r.halted {
        out.push_str(&format!(
            "  halted:         in round {} at stage {} ({} %), {:.1} s after the start\n",
            h.round, h.stage, h.percent, h.seconds
        ));
    }
    if let Some(d) = &r.detection {
        out.push_str(&format!(
            "  detected on:    {} crashed of {} active installs\n",
            d.crashed_installs, d.active_installs
        ));
    }
    if let Some(i) = &r.incident {
        out.push_str(&format!(
            "  incident:       {i}{}\n",
            r.rolled_back_to
                .as_deref()
                .map(|t| format!(", rolled back to {t}"))
                .unwrap_or_default()
        ));
    }
    let alerts: BTreeMap<&str, usize> =
        r.alerts
            .iter()
            .fold(BTreeMap::new(), |mut m, (_, rule, _)| {
                *m.entry(rule.as_str()).or_default() += 1;
                m
            });
    out.push_str(&format!(
        "  alerts:         {}\n",
        if alerts.is_empty() {
            "none".to_owned()
        } else {
            alerts
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_are_fixed_and_spread() {
        let v: Version = "2.1.0".parse().unwrap();
        assert_eq!(fate(7, 3, &v), fate(7, 3, &v));
        let n = 20_000;
        let hit = (0..n).filter(|i| fate(1, *i, &v) < 0.05).count() as f64 / n as f64;
        assert!((hit - 0.05).abs() < 0.006, "{hit}");
        assert_ne!(install_id(1, 0), install_id(1, 1));
        assert_eq!(install_id(1, 0), install_id(1, 0));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
