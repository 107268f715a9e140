//! Staged rollout, halt and rollback against a real server: a fleet of SDK installs through
//! a whole rollout, the thin-client check agreeing with the SDK, the refusals, and the
//! notifications a real HTTP receiver gets.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{Backend, Receiver, Server, TestEnv, assert_refused, test_bytes, wait_for};
use futures::StreamExt;
use relops_core::platform::Platform;
use serde_json::{Value, json};

backend_tests!(
    a_fleet_through_pilot_stages_halt_and_rollback,
    steps_are_refused_with_reasons,
    notifications_reach_slack_pagerduty_and_webhooks_after_outages,
    a_rollback_that_would_strand_a_platform_needs_force,
    a_rollback_needs_on_call_and_the_product_owner,
    a_rollback_across_an_incompatible_data_schema_needs_force,
);

/// One simulated install: its data dir (which holds its install id), what it runs, and
/// its updater (an app makes one per run of a version).
struct Install {
    dir: PathBuf,
    id: String,
    version: String,
    up: relops_client::Updater,
}

struct Fleet {
    http: reqwest::Client,
    feed: String,
    root: Vec<u8>,
    key: String,
    installs: Vec<Install>,
}

impl Fleet {
    fn new(s: &Server, root: Vec<u8>, n: usize, dir: &Path) -> Fleet {
        let key = common::release_public_key(s);
        let feed = format!("{}/tuf/wizard/", s.url);
        let http = relops_client::Updater::http_client().unwrap();
        let installs = (0..n)
            .map(|i| {
                let dir = dir.join(format!("install-{i}"));
                let up = relops_client::Updater::with_http_client(
                    common::sdk_config(&feed, &root, &key, Platform::MacosUniversal, "2.0.0", &dir),
                    http.clone(),
                )
                .unwrap();
                Install {
                    id: up.install_id().to_owned(),
                    dir,
                    version: "2.0.0".into(),
                    up,
                }
            })
            .collect();
        Fleet {
            http,
            feed,
            root,
            key,
            installs,
        }
    }

    fn updater(&self, i: &Install, channel: &str) -> relops_client::Updater {
        let mut cfg = common::sdk_config(
            &self.feed,
            &self.root,
            &self.key,
            Platform::MacosUniversal,
            &i.version,
            &i.dir,
        );
        cfg.channel = channel.into();
        relops_client::Updater::new(cfg).unwrap()
    }

    /// The install updates to (or goes back to) `version`.
    fn install(&mut self, n: usize, version: &str) {
        let i = &mut self.installs[n];
        i.version = version.into();
        i.up = relops_client::Updater::with_http_client(
            common::sdk_config(
                &self.feed,
                &self.root,
                &self.key,
                Platform::MacosUniversal,
                version,
                &i.dir,
            ),
            self.http.clone(),
        )
        .unwrap();
    }

    /// Every install checks through the SDK; returns (index, offered version, downgrade).
    async fn check_all(&self) -> Vec<(usize, Option<(String, bool)>)> {
        let mut out: Vec<_> = futures::stream::iter(self.installs.iter().enumerate())
            .map(|(n, i)| async move {
                let u = i.up.check().await.unwrap();
                (n, u.map(|u| (u.version.to_string(), u.downgrade)))
            })
            .buffer_unordered(16)
            .collect()
            .await;
        out.sort_by_key(|(n, _)| *n);
        out
    }
}

/// `GET /v1/update` for one install.
async fn thin_check(
    http: &reqwest::Client,
    s: &Server,
    channel: &str,
    version: &str,
    id: &str,
) -> Option<Value> {
    let r = http.get(format!(
        "{}/v1/update?platform=macos-universal&channel={channel}&version={version}&install_id={id}",
        s.url
    ))
    .send()
    .await
    .unwrap();
    match r.status().as_u16() {
        204 => None,
        200 => Some(r.json().await.unwrap()),
        other => panic!("/v1/update answered {other}: {}", r.text().await.unwrap()),
    }
}

/// The SDK and the thin-client endpoint must give every install the same answer.
async fn assert_thin_agrees(s: &Server, fleet: &Fleet, sdk: &[(usize, Option<(String, bool)>)]) {
    let thin: Vec<Option<(String, bool)>> = futures::stream::iter(fleet.installs.iter())
        .map(|i| async move {
            thin_check(&fleet.http, s, "stable", &i.version, &i.id)
                .await
                .map(|v| {
                    (
                        v["version"].as_str().unwrap().to_owned(),
                        v["downgrade"].as_bool().unwrap(),
                    )
                })
        })
        .buffered(32)
        .collect()
        .await;
    for ((n, a), b) in sdk.iter().zip(&thin) {
        assert_eq!(a, b, "install {n}: SDK and /v1/update disagree");
    }
}

fn offered(results: &[(usize, Option<(String, bool)>)], version: &str) -> BTreeSet<usize> {
    results
        .iter()
        .filter(|(_, u)| u.as_ref().is_some_and(|(v, d)| v == version && !d))
        .map(|(n, _)| *n)
        .collect()
}

/// Within 4 standard deviations of `p` of `n`.
fn assert_share(count: usize, n: usize, p: f64, what: &str) {
    let expected = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 4.0 * sd,
        "{what}: {count} of {n}, expected about {expected}"
    );
}

fn publish(s: &Server, w: &Path, v: &str, seed: u8) {
    s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
    s.upload(
        w,
        v,
        "macos-universal",
        &format!("WIZARD-{v}.dmg"),
        &test_bytes(20_000, seed),
    );
}

/// 2.0.0 out to everyone, 2.1.0 approved (not started).
fn two_releases(s: &Server, w: &Path) {
    publish(s, w, "2.0.0", 1);
    s.ship("2.0.0");
    publish(s, w, "2.1.0", 2);
    s.approve("2.1.0");
}

async fn a_fleet_through_pilot_stages_halt_and_rollback(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    two_releases(&s, w);
    let root = s.trusted_root().await;
    let mut fleet = Fleet::new(&s, root, 1000, &w.join("fleet"));

    // Approved but not started: offered to nobody.
    let r = fleet.check_all().await;
    assert!(
        r.iter().all(|(_, u)| u.is_none()),
        "approval alone ships nothing"
    );

    // Pilot: the internal channel gets it in full; 5 % of stable.
    let st = s.cli_json(&["rollout", "start", "2.1.0"]);
    assert_eq!(
        (&st["state"], &st["stage"], &st["percent"]),
        (&json!("active"), &json!("pilot"), &json!(5.0))
    );
    assert_eq!(st["channels"], json!({"internal": 100.0, "stable": 5.0}));
    assert_eq!(st["release_state"], "piloting");
    let pilot_install = &fleet.installs[0];
    let u = fleet
        .updater(pilot_install, "internal")
        .check()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.version.to_string(), u.downgrade),
        ("2.1.0".into(), false)
    );
    let staged = fleet
        .updater(pilot_install, "internal")
        .download(&u)
        .await
        .unwrap();
    assert_eq!(std::fs::read(staged).unwrap(), test_bytes(20_000, 2));
    let at_pilot = fleet.check_all().await;
    let pilot = offered(&at_pilot, "2.1.0");
    assert_share(pilot.len(), 1000, 0.05, "pilot");
    assert_thin_agrees(&s, &fleet, &at_pilot).await;

    // 25 %: about a quarter, including every pilot install.
    s.cli_json(&["rollout", "advance", "2.1.0", "--force", "--reason", "test"]);
    let at25 = fleet.check_all().await;
    let q = offered(&at25, "2.1.0");
    assert_share(q.len(), 1000, 0.25, "25 %");
    assert!(
        pilot.is_subset(&q),
        "raising the percentage only adds installs"
    );
    assert_thin_agrees(&s, &fleet, &at25).await;
    // They install it.
    for n in &q {
        fleet.install(*n, "2.1.0");
    }

    // 50 %: the same ones still have it (nothing offers them anything), a quarter more get it.
    let st = s.cli_json(&["rollout", "advance", "2.1.0", "--force", "--reason", "test"]);
    assert_eq!(st["release_state"], "rolling_out");
    let at50 = fleet.check_all().await;
    for n in &q {
        assert_eq!(
            at50[*n].1, None,
            "install {n} keeps 2.1.0 with nothing offered"
        );
    }
    let h = offered(&at50, "2.1.0");
    assert!(h.is_disjoint(&q));
    assert_share(q.len() + h.len(), 1000, 0.50, "50 %");
    assert_thin_agrees(&s, &fleet, &at50).await;
    // Half of the newly offered install it; the other half are offline for now.
    let (installed, offline): (Vec<usize>, Vec<usize>) = h.iter().partition(|n| *n % 2 == 0);
    for n in &installed {
        fleet.install(*n, "2.1.0");
    }

    // Halt: no new installs get it; those that have it keep it.
    let st = s.cli_json(&["rollout", "halt", "2.1.0", "--reason", "crash spike"]);
    assert_eq!(
        (&st["state"], &st["percent"]),
        (&json!("halted"), &json!(50.0))
    );
    assert_eq!(st["release_state"], "halted");
    let halted = fleet.check_all().await;
    assert!(
        halted.iter().all(|(_, u)| u.is_none()),
        "a halt offers nobody anything: {:?}",
        halted.iter().filter(|(_, u)| u.is_some()).count()
    );
    assert!(!offline.is_empty());
    assert_thin_agrees(&s, &fleet, &halted).await;

    // Rollback: the updated installs go back to 2.0.0; the others stay.
    // The reason is typed decomposed (`o` + U+0308, as macOS input may give it): the
    // signed feed holds it composed, which its canonical JSON requires.
    let reason = "crash on project open (Projekt o\u{308}ffnen)";
    let started = std::time::Instant::now();
    let rb = s.roll_back(&["--reason", reason, "--next-fix", "2027-06-10"]);
    let took = started.elapsed();
    assert_eq!(
        rb["to"], "2.0.0",
        "default: the last release that reached 100 %"
    );
    assert_eq!(rb["withdrawn"], json!(["2.1.0"]));
    assert_eq!(rb["incident"], "INC-1");
    eprintln!("rollback command (CLI process, publish included) took {took:?}");
    let back = fleet.check_all().await;
    for (n, u) in &back {
        let i = &fleet.installs[*n];
        if i.version == "2.1.0" {
            assert_eq!(u, &Some(("2.0.0".into(), true)), "install {n} goes back");
        } else {
            assert_eq!(u, &None, "install {n} never had it and stays");
        }
    }
    assert_thin_agrees(&s, &fleet, &back).await;
    let thin = thin_check(&fleet.http, &s, "stable", "2.1.0", &fleet.installs[0].id)
        .await
        .unwrap();
    assert_eq!(thin["downgrade"], true);
    assert_eq!(thin["sha256"].as_str().unwrap().len(), 64);
    assert!(
        thin["url"]
            .as_str()
            .unwrap()
            .starts_with("/tuf/wizard/targets/")
    );
    let dl = reqwest::get(format!("{}{}", s.url, thin["url"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(dl.bytes().await.unwrap().to_vec(), test_bytes(20_000, 1));

    // The release and its rollout are marked; the incident has its post-mortem deadline.
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["state"],
        "rolled_back"
    );
    assert_eq!(
        s.cli_json(&["rollout", "status", "2.1.0"])["state"],
        "rolled_back"
    );
    let inc = s.cli_json(&["incident", "show", "INC-1"]);
    assert_eq!(inc["version"], "2.1.0");
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["summary"], reason);
    let opened: chrono::DateTime<chrono::Utc> = inc["opened_at"].as_str().unwrap().parse().unwrap();
    let due: chrono::NaiveDate = inc["postmortem_due"].as_str().unwrap().parse().unwrap();
    let cal = relops_core::calendar::BusinessCalendar::german_federal();
    assert_eq!(due, cal.add_business_days(opened.date_naive(), 3));
    assert_eq!(
        s.cli_json(&["incident", "list"])["incidents"][0]["id"],
        "INC-1"
    );

    // A fix rolled out later reaches the rolled-back installs first in its cohort.
    publish(&s, w, "2.1.1", 3);
    s.ship("2.1.1");
    let fixed = fleet.check_all().await;
    assert!(
        fixed
            .iter()
            .all(|(_, u)| u == &Some(("2.1.1".into(), false)))
    );

    // Everything was audited with its actor.
    let audit = s.cli(&["audit", "export"]);
    let text = String::from_utf8(audit.stdout).unwrap();
    for action in [
        "rollout.start",
        "rollout.advance",
        "rollout.halt",
        "release.rollback",
    ] {
        assert!(
            text.contains(&format!("\"action\":\"{action}\"")),
            "{action} not audited"
        );
    }
}

async fn steps_are_refused_with_reasons(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    publish(&s, w, "2.1.0", 1);
    assert_refused(
        &s.cli(&["rollout", "start", "2.1.0"]),
        1,
        "relops approve 2.1.0",
    );
    assert_refused(
        &s.cli(&["rollout", "status", "2.1.0"]),
        1,
        "relops rollout start 2.1.0",
    );
    s.approve("2.1.0");

    let rm = s.token_with(&["release_manager"]);
    let oncall = s.token_with(&["oncall_devops"]);
    let qa = s.token_with(&["qa_lead"]);
    assert_refused(
        &s.cli_as(&qa, &["rollout", "start", "2.1.0"]),
        1,
        "rollout.manage",
    );
    assert_refused(
        &s.cli_as(&oncall, &["rollout", "start", "2.1.0"]),
        1,
        "rollout.manage",
    );
    let st = s.cli_json_as(&rm, &["rollout", "start", "2.1.0"]);
    assert!(
        st["started_by"]
            .as_str()
            .unwrap()
            .starts_with("test-release_manager (")
    );
    assert_refused(
        &s.cli_as(&rm, &["rollout", "start", "2.1.0"]),
        1,
        "rollout status 2.1.0",
    );

    // The pilot soaks 48 h: advance is refused until then, and says when.
    let since: chrono::DateTime<chrono::Utc> = st["since"].as_str().unwrap().parse().unwrap();
    let next: chrono::DateTime<chrono::Utc> = st["next_step_allowed_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next - since, chrono::Duration::hours(48));
    let out = s.cli_as(&rm, &["rollout", "advance", "2.1.0"]);
    assert_refused(&out, 1, "soaks until");
    assert_refused(&out, 1, "--force --reason");
    // --force without a reason is a usage error (clap), and the API refuses it too.
    assert_refused(
        &s.cli_as(&rm, &["rollout", "advance", "2.1.0", "--force"]),
        2,
        "--reason",
    );
    let r = s
        .http()
        .with_token(&rm)
        .post_json("/v1/releases/2.1.0/rollout/advance", json!({"force": true}))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("--force needs --reason"));
    let r = s
        .http()
        .with_token(&rm)
        .post_json("/v1/releases/2.1.0/rollout/sideways", json!({}))
        .await;
    assert_eq!(r.status(), 404);

    // On-call may halt (not advance); a halt needs a reason; a halted rollout cannot advance.
    assert_refused(
        &s.cli_as(
            &oncall,
            &["rollout", "advance", "2.1.0", "--force", "--reason", "x"],
        ),
        1,
        "rollout.manage",
    );
    let r = s
        .http()
        .with_token(&oncall)
        .post_json("/v1/releases/2.1.0/rollout/halt", json!({}))
        .await;
    assert_eq!(r.status(), 400);
    let h = s.cli_json_as(&oncall, &["rollout", "halt", "2.1.0", "--reason", "pager"]);
    assert_eq!(h["state"], "halted");
    assert_eq!(h["reason"], "pager");
    assert_refused(
        &s.cli_as(
            &rm,
            &["rollout", "advance", "2.1.0", "--force", "--reason", "x"],
        ),
        1,
        "cannot advance",
    );
    assert_refused(
        &s.cli_as(&rm, &["rollout", "pause", "2.1.0"]),
        1,
        "cannot pause",
    );
    let st = s.cli_json_as(&rm, &["rollout", "resume", "2.1.0"]);
    assert_eq!(
        (&st["state"], &st["release_state"]),
        (&json!("active"), &json!("piloting"))
    );
    s.cli_json_as(&rm, &["rollout", "pause", "2.1.0"]);
    assert_refused(
        &s.cli_as(
            &rm,
            &["rollout", "advance", "2.1.0", "--force", "--reason", "x"],
        ),
        1,
        "cannot advance",
    );
    s.cli_json_as(&rm, &["rollout", "resume", "2.1.0"]);

    // Rollback: needs a reason, a valid severity, something to go back to; qa may not.
    assert_refused(
        &s.cli_as(&qa, &["rollback", "--reason", "x"]),
        1,
        "rollout.rollback",
    );
    // A rollback is on-call's and the product owner's decision (R-RB-2); an admin or a
    // release manager halts instead.
    assert_refused(
        &s.cli(&["rollback", "--reason", "x"]),
        1,
        "decided by on-call DevOps together with the Product Owner",
    );
    let oncall = s.as_role("oncall_devops");
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "x"]),
        1,
        "--to VERSION",
    );
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", " "]),
        1,
        "--reason is required",
    );
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "x", "--severity", "meh"]),
        1,
        "critical, high, low",
    );
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "x", "--to", "1.0.0"]),
        1,
        "does not exist",
    );
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "x", "--to", "2.1.0"]),
        1,
        "nothing to roll back",
    );
    assert_refused(
        &s.cli_as(
            &oncall,
            &["rollback", "--reason", "x", "--next-fix", "soon"],
        ),
        2,
        "YYYY-MM-DD",
    );

    // The thin-client check says what is missing.
    let r = reqwest::get(format!("{}/v1/update?platform=macos-universal", s.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("`channel`"));
    let r = reqwest::get(format!(
        "{}/v1/update?platform=amiga&channel=stable&version=1.0.0&install_id=x",
        s.url
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::get(format!(
        "{}/v1/update?platform=macos-universal&channel=stable&version=2.1&install_id=x",
        s.url
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}

async fn notifications_reach_slack_pagerduty_and_webhooks_after_outages(b: Backend) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let rx = Receiver::start(0, got.clone()).await;
    let port = rx.port;
    let config = format!(
        r##"
[notify]
retry_initial_seconds = 0.2
retry_max_seconds = 1.0
timeout_seconds = 5.0
[[notify.webhooks]]
name = "release-channel"
kind = "slack"
url = "http://127.0.0.1:{port}/slack"
channel = "#wizard-release"
[[notify.webhooks]]
name = "on-call"
kind = "pagerduty"
url = "http://127.0.0.1:{port}/pagerduty"
routing_key = "R0UT1NGKEY"
[[notify.webhooks]]
name = "ops-bus"
kind = "webhook"
url = "http://127.0.0.1:{port}/generic"
"##
    );
    let env = TestEnv::with_config(b, &config).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    two_releases(&s, w);
    let start = s.cli_json(&["rollout", "start", "2.1.0"]);
    let actor = start["started_by"].as_str().unwrap().to_owned();
    // 2.0.0: start + 3 advances; 2.1.0: start. Slack and the webhook get every step;
    // PagerDuty none of these.
    wait_for("5 Slack and 5 webhook messages", || {
        rx.of("slack").len() == 5 && rx.of("generic").len() == 5
    })
    .await;
    assert!(rx.of("pagerduty").is_empty(), "rollout steps do not page");
    let next = start["next_step_allowed_at"].as_str().unwrap();
    let next_h: chrono::DateTime<chrono::Utc> = next.parse().unwrap();
    assert_eq!(
        rx.of("slack")[4],
        json!({
            "channel": "#wizard-release",
            "username": "relops",
            "text": format!(
                "wizard 2.1.0: rollout started. Pilot: the internal channel and 5 % of stable. \
                 Next step allowed at {}. (by {actor})",
                next_h.format("%Y-%m-%d %H:%M UTC")
            ),
        })
    );
    let g = &rx.of("generic")[4];
    assert_eq!(g["event"], "rollout.started");
    assert_eq!(g["version"], "2.1.0");
    assert_eq!(g["stage"], "pilot");
    assert_eq!(g["percent"], 5.0);
    assert_eq!(g["actor"], actor.as_str());
    assert_eq!(g["rollback"], Value::Null);
    let adv = &rx.of("slack")[1];
    assert!(
        adv["text"]
            .as_str()
            .unwrap()
            .starts_with("wizard 2.0.0: rollout advanced to 25 % of stable, forced before the soak was over. Reason: test: ship at once."),
        "{adv}"
    );

    // The receiver goes down; a halt is recorded and retried.
    rx.stop().await;
    s.cli_json(&["rollout", "halt", "2.1.0", "--reason", "crash spike"]);
    wait_for("a failed attempt", || {
        let l = s.cli_json(&["notify", "list"]);
        l["notifications"][0]["attempts"].as_u64().unwrap_or(0) >= 2
            && l["notifications"][0]["last_error"].is_string()
    })
    .await;
    let list = s.cli_json(&["notify", "list"]);
    let halts: Vec<&Value> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["event"] == "rollout.halted")
        .collect();
    assert_eq!(halts.len(), 3, "one per destination");
    assert!(halts.iter().all(|n| n["delivered_at"].is_null()));
    let table = String::from_utf8(s.cli(&["notify", "list"]).stdout).unwrap();
    assert!(
        table.contains("rollout.halted") && table.contains("retry at"),
        "{table}"
    );

    // The server restarts while the receiver is still down; then the receiver returns.
    drop(s);
    let s = env.serve();
    let rx = Receiver::start(port, got.clone()).await;
    wait_for("the halt delivered after the restart", || {
        rx.of("pagerduty").len() == 1 && rx.of("slack").len() == 6 && rx.of("generic").len() == 6
    })
    .await;
    assert_eq!(
        rx.of("pagerduty")[0],
        json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": "relops/wizard/2.1.0",
            "payload": {
                "summary": format!("wizard 2.1.0: rollout HALTED at 5 %. Installs that have it keep it; no new installs get it. Reason: crash spike. (by {actor})"),
                "source": "relops/wizard",
                "severity": "error",
                "timestamp": rx.of("generic")[5]["at"],
                "component": "wizard 2.1.0",
                "group": "release",
                "class": "rollout.halted",
                "custom_details": rx.of("generic")[5],
            },
        })
    );

    // Resume resolves the page; rollback triggers a critical one and names the fix date.
    s.cli_json(&["rollout", "resume", "2.1.0"]);
    s.roll_back(&["--reason", "data loss on save", "--next-fix", "2027-06-10"]);
    wait_for("resolve and rollback pages", || {
        rx.of("pagerduty").len() == 3
    })
    .await;
    let pd = rx.of("pagerduty");
    assert_eq!(
        pd[1],
        json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": "relops/wizard/2.1.0"})
    );
    assert_eq!(pd[2]["event_action"], "trigger");
    assert_eq!(pd[2]["payload"]["severity"], "critical");
    assert_eq!(pd[2]["payload"]["class"], "release.rolled_back");
    // The request (one Slack and webhook message, no page), then the rollback.
    wait_for("the rollback in Slack and the webhook", || {
        rx.of("slack").len() == 9 && rx.of("generic").len() == 9
    })
    .await;
    let requested = rx.of("slack")[7]["text"].as_str().unwrap().to_owned();
    assert!(
        requested.starts_with(
            "wizard: ROLLBACK REQUESTED to 2.0.0 (withdrawing 2.1.0) by test-oncall_devops"
        ) && requested.contains("It needs a product_owner to confirm within 30 minutes"),
        "{requested}"
    );
    let text = rx.of("slack")[8]["text"].as_str().unwrap().to_owned();
    let inc = s.cli_json(&["incident", "show", "INC-1"]);
    let actor = inc["opened_by"].as_str().unwrap().to_owned();
    assert!(
        actor.starts_with("test-product_owner (") && actor.contains(" with test-oncall_devops ("),
        "both deciders are recorded: {actor}"
    );
    assert_eq!(
        text,
        format!(
            "wizard: ROLLED BACK to 2.0.0 (INC-1, severity critical). Withdrawn: 2.1.0; installs running them go back to 2.0.0. Reason: data loss on save. Next fix planned for 2027-06-10. Post-mortem due {}. (by {actor})",
            inc["postmortem_due"].as_str().unwrap()
        )
    );
    let g = rx.of("generic");
    let last = g.last().unwrap();
    assert_eq!(last["event"], "release.rolled_back");
    assert_eq!(
        last["rollback"],
        json!({"to": "2.0.0", "withdrawn": ["2.1.0"], "incident": "INC-1", "severity": "critical",
               "next_fix": "2027-06-10", "postmortem_due": inc["postmortem_due"]})
    );
    // Each message was delivered exactly once.
    wait_for("the outbox drained", || {
        let l = s.cli_json(&["notify", "list"]);
        l["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["delivered_at"].is_string())
    })
    .await;
    let total = got.lock().unwrap().len();
    let rows = s.cli_json(&["notify", "list", "--limit", "1000"])["notifications"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(total, rows, "every outbox row delivered once, none twice");
}

/// Issue 16, 7: 2.1.0 adds a Windows build that 2.0.0 never had. Rolling back to 2.0.0
/// would leave Windows installs on the withdrawn 2.1.0 with nothing offered: a person's
/// rollback is refused with that said, and taken with --force, reported as stranded.
async fn a_rollback_that_would_strand_a_platform_needs_force(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    publish(&s, w, "2.0.0", 1);
    s.ship("2.0.0");
    publish(&s, w, "2.1.0", 2);
    s.upload(
        w,
        "2.1.0",
        "windows-x64",
        "WIZARD-2.1.0.msi",
        &test_bytes(9_000, 3),
    );
    s.approve("2.1.0");
    s.cli_json(&["rollout", "start", "2.1.0"]);
    let oncall = s.as_role("oncall_devops");
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "crash on open"]),
        1,
        "2.0.0 has no artifact for windows-x64, which 2.1.0 has: installs there would stay on the withdrawn release",
    );
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["state"],
        "piloting",
        "the refusal changed nothing"
    );
    s.cli_json_as(
        &oncall,
        &["rollback", "--reason", "crash on open", "--force"],
    );
    let out = s.cli_as(&s.as_role("product_owner"), &["rollback", "--confirm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("warning: 2.0.0 has no artifact for windows-x64"),
        "{text}"
    );
    let rb = audit_entries(&s)
        .into_iter()
        .rev()
        .find(|e| e["action"] == "release.rollback")
        .unwrap();
    assert_eq!(rb["detail"]["stranded_platforms"], json!(["windows-x64"]));
}

/// Issue 27, R-RB-7: 2.1.0 writes data schema 7 and its down-migrations reach 6; 2.0.0
/// reads 5. A rollback to 2.0.0 would leave users with project files 2.0.0 cannot open: it
/// is refused with that said, and taken with --force, audited with what was accepted. The
/// feed signs each release's schema facts, so the app knows what to migrate down to.
async fn a_rollback_across_an_incompatible_data_schema_needs_force(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    assert_refused(
        &s.cli(&[
            "release",
            "create",
            "2.0.0",
            "--go-live",
            "2027-06-01",
            "--data-schema",
            "5",
            "--downgrades-to",
            "6",
        ]),
        1,
        "--downgrades-to 6 is above --data-schema 5",
    );
    for (v, schema, down, seed) in [("2.0.0", "5", "5", 1), ("2.1.0", "7", "6", 2)] {
        s.cli_json(&[
            "release",
            "create",
            v,
            "--go-live",
            "2027-06-01",
            "--data-schema",
            schema,
            "--downgrades-to",
            down,
        ]);
        s.upload(
            w,
            v,
            "macos-universal",
            &format!("WIZARD-{v}.dmg"),
            &test_bytes(20_000, seed),
        );
    }
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["data_schema"],
        json!({"schema": 7, "downgrades_to": 6})
    );
    let shown = String::from_utf8(s.cli(&["release", "show", "2.1.0"]).stdout).unwrap();
    assert!(
        shown.contains("data:    data schema 7, down-migrations reach 6"),
        "{shown}"
    );
    let list = String::from_utf8(s.cli(&["release", "list"]).stdout).unwrap();
    assert!(
        list.contains("DATA SCHEMA") && list.contains("7 (down to 6)"),
        "{list}"
    );
    s.ship("2.0.0");
    s.approve("2.1.0");
    s.roll_out("2.1.0");
    let oncall = s.as_role("oncall_devops");
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--reason", "crash on open"]),
        1,
        "rolling back to 2.0.0 would leave data it cannot read: 2.1.0 writes data schema 7 and migrates it down to 6 at the oldest, 2.0.0 reads schema 5",
    );
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["state"],
        "released",
        "the refusal changed nothing"
    );
    s.roll_back(&["--reason", "crash on open", "--force"]);
    let rb = audit_entries(&s)
        .into_iter()
        .rev()
        .find(|e| e["action"] == "release.rollback")
        .unwrap();
    assert_eq!(
        rb["detail"]["unreadable_data_accepted"],
        json!([
            "2.1.0 writes data schema 7 and migrates it down to 6 at the oldest, 2.0.0 reads schema 5"
        ])
    );
    // The signed feed tells an install of 2.1.0 to go back, and what 2.0.0 reads.
    let root = s.trusted_root().await;
    let app = tempfile::tempdir().unwrap();
    let back = s
        .updater(&root, "2.1.0", app.path())
        .check()
        .await
        .unwrap()
        .unwrap();
    assert!(back.downgrade);
    assert_eq!(
        back.data_schema,
        Some(relops_core::data_schema::DataSchema {
            schema: 5,
            downgrades_to: 5
        })
    );
}

fn audit_entries(s: &Server) -> Vec<Value> {
    String::from_utf8(s.cli(&["audit", "export"]).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// R-RB-2: the rollback decision is on-call DevOps' together with the Product Owner's. The
/// first files it (nothing changes), someone else with the other role confirms it within
/// the window; one person holding both roles is still one person.
async fn a_rollback_needs_on_call_and_the_product_owner(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    two_releases(&s, w);
    s.cli_json(&["rollout", "start", "2.1.0"]);
    let (oncall, po) = (s.as_role("oncall_devops"), s.as_role("product_owner"));

    assert_refused(
        &s.cli_as(&po, &["rollback", "--confirm"]),
        1,
        "no rollback request of wizard awaits confirmation",
    );
    let filed = s.cli_json_as(&oncall, &["rollback", "--reason", "data loss"]);
    let p = &filed["awaiting_confirmation"];
    assert_eq!(
        (&p["to"], &p["awaits"]),
        (&json!("2.0.0"), &json!("product_owner"))
    );
    assert_eq!(filed["incident"], Value::Null, "nothing done yet: {filed}");
    assert_eq!(
        s.cli_json(&["release", "show", "2.1.0"])["state"],
        "piloting"
    );
    let text = String::from_utf8(
        s.cli_as(&oncall, &["rollback", "--reason", "data loss"])
            .stdout,
    )
    .unwrap();
    assert!(
        text.contains("nothing has changed yet")
            && text.contains("It needs a product_owner to confirm by"),
        "{text}"
    );

    // Not the same person, not another on-call: a product owner.
    assert_refused(
        &s.cli_as(&oncall, &["rollback", "--confirm"]),
        1,
        "the second person must be someone else",
    );
    let olga = s.cli_json(&[
        "token",
        "create",
        "--role",
        "oncall_devops",
        "--name",
        "olga",
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_refused(
        &s.cli_as(&olga, &["rollback", "--confirm"]),
        1,
        "it needs confirming by someone with role product_owner",
    );
    let both = s.token_with(&["oncall_devops", "product_owner"]);
    // A request not confirmed in time lapses.
    env.execute_sql(&["UPDATE rollback_requests SET expires_at = '2020-01-01T00:00:00.000000Z'"])
        .await;
    assert_refused(
        &s.cli_as(&po, &["rollback", "--confirm"]),
        1,
        "awaits confirmation (one lapses after 30 minutes)",
    );
    // Filed again by one person holding both roles: still needs a second person.
    s.cli_json_as(&both, &["rollback", "--reason", "data loss"]);
    assert_refused(
        &s.cli_as(&both, &["rollback", "--confirm"]),
        1,
        "the second person must be someone else",
    );
    let done = s.cli_json_as(&po, &["rollback", "--confirm"]);
    assert_eq!(
        (&done["to"], &done["withdrawn"]),
        (&json!("2.0.0"), &json!(["2.1.0"]))
    );
    let entry = audit_entries(&s)
        .into_iter()
        .rev()
        .find(|e| e["action"] == "release.rollback")
        .unwrap();
    let actor = entry["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("test-product_owner (")
            && actor.contains(" with test-oncall_devops+product_owner ("),
        "{actor}"
    );
    assert!(
        audit_entries(&s)
            .iter()
            .filter(|e| e["action"] == "release.rollback_requested")
            .count()
            >= 3
    );
}
