//! The health page of a release: crash-free installs and sessions over time (with the
//! Wilson band), the sequential test's path against its boundaries, the 24-hour gate per
//! channel and platform, error codes, memory warnings and the latest crash reports.
//! `?release=` picks the release (a release rolling out by default), `?channel=` and
//! `?platform=` narrow the charts, `?hours=` sets their period.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use chrono::{Duration, Utc};
use relops_api::{CrashGroupList, CrashReport, HealthHistory, HealthReport, SliceName};
use relops_core::health::Sprt;
use relops_core::release::ReleaseState;
use relops_ops::Ops;
use relops_ops::health_history::{DEFAULT_HOURS, HistoryQuery};
use serde::Deserialize;

use super::{Nav, render};
use crate::charts::{self, Point, Rule};
use crate::web::{PageResult, User};

/// The periods offered, in hours.
pub(super) const PERIODS: [(u32, &str); 4] = [
    (24, "24 hours"),
    (168, "7 days"),
    (720, "30 days"),
    (2160, "90 days"),
];

#[derive(Debug, Deserialize, Default)]
pub(crate) struct HealthQuery {
    release: Option<String>,
    channel: Option<String>,
    platform: Option<String>,
    hours: Option<u32>,
}

/// A row of the table beside the charts (their text alternative).
pub(crate) struct Row {
    at: String,
    installs: u64,
    crashed: u64,
    crash_free: String,
    band: String,
    sessions: u64,
    crash_free_sessions: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct Page {
    nav: Nav,
    releases: Vec<String>,
    release: String,
    channel: String,
    platform: String,
    hours: u32,
    periods: Vec<(u32, &'static str)>,
    channels: Vec<String>,
    platforms: Vec<String>,
    report: HealthReport,
    installs_svg: String,
    sessions_svg: String,
    sprt_svg: Option<String>,
    rows: Vec<Row>,
    crashes: Vec<CrashReport>,
    groups: CrashGroupList,
}

fn share(v: Option<f64>) -> String {
    v.map(charts::percent).unwrap_or_else(|| "—".into())
}

/// `GET /console/{product}/health`
pub(crate) async fn page(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    Query(q): Query<HealthQuery>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let who = &user.actor;
    let mut all = ops.releases(who, &product).await?.releases;
    all.sort_by(|a, b| b.version.cmp(&a.version));
    let rolling = all.iter().find(|r| {
        matches!(
            r.state,
            ReleaseState::Piloting | ReleaseState::RollingOut | ReleaseState::Halted
        )
    });
    let release = q
        .release
        .filter(|r| !r.trim().is_empty())
        .or_else(|| rolling.or(all.first()).map(|r| r.version.to_string()))
        .unwrap_or_default();
    let empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let hours = q.hours.unwrap_or(DEFAULT_HOURS);
    let history = ops
        .health_history(
            who,
            &product,
            &release,
            HistoryQuery {
                hours: Some(hours),
                channel: empty(q.channel),
                platform: empty(q.platform),
            },
        )
        .await?;
    let report = ops.release_health(who, &product, &release).await?;
    let crashes = ops
        .crashes(who, &product, Some(&release), Some(20))
        .await?
        .crashes;
    let groups = ops.crash_groups(who, &product, &release).await?;
    let to = Utc::now();
    let from = to - Duration::hours(i64::from(history.hours));
    let installs: Vec<Point> = history
        .points
        .iter()
        .map(|p| Point {
            at: p.at,
            value: p.crash_free_installs,
            band: p.crash_free_installs_wilson_95,
        })
        .collect();
    let goal = [Rule {
        value: 1.0 - report.gate.sprt.p0,
        label: "acceptable (1 − p0)",
    }];
    let installs_svg = charts::line(
        "Crash-free installs over time with the 95 % Wilson interval",
        from,
        to,
        charts::share_range(&installs, &goal),
        &installs,
        &goal,
        charts::percent,
    );
    let sessions: Vec<Point> = history
        .points
        .iter()
        .map(|p| Point {
            at: p.at,
            value: p.crash_free_sessions,
            band: None,
        })
        .collect();
    let sessions_svg = charts::line(
        "Crash-free sessions per recorded interval",
        from,
        to,
        charts::share_range(&sessions, &[]),
        &sessions,
        &[],
        charts::percent,
    );
    let sprt_svg = (history.channel.is_none() && history.platform.is_none())
        .then(|| sprt_path(&report, &history, from, to));
    let pick = |f: fn(&SliceName) -> &String| -> Vec<String> {
        let set: BTreeSet<&String> = history.slices.iter().map(f).collect();
        set.into_iter().cloned().collect()
    };
    let rows = history
        .points
        .iter()
        .rev()
        .map(|p| Row {
            at: p.at.format("%Y-%m-%d %H:%M").to_string(),
            installs: p.active_installs,
            crashed: p.crashed_installs,
            crash_free: share(p.crash_free_installs),
            band: p
                .crash_free_installs_wilson_95
                .map(|(lo, hi)| format!("{} – {}", charts::percent(lo), charts::percent(hi)))
                .unwrap_or_else(|| "—".into()),
            sessions: p.sessions_ended,
            crash_free_sessions: share(p.crash_free_sessions),
        })
        .collect();
    Ok(render(Page {
        nav: Nav::new(&user, &product, "health", None),
        releases: all.iter().map(|r| r.version.to_string()).collect(),
        channels: pick(|s| &s.channel),
        platforms: pick(|s| &s.platform),
        channel: history.channel.clone().unwrap_or_default(),
        platform: history.platform.clone().unwrap_or_default(),
        hours: history.hours,
        periods: PERIODS.to_vec(),
        release,
        report,
        installs_svg,
        sessions_svg,
        sprt_svg,
        rows,
        crashes,
        groups,
    }))
}

/// The test's log-likelihood ratio at each recorded point (the whole release's 24-hour
/// window then), against the boundaries where it passes and fails.
fn sprt_path(
    report: &HealthReport,
    history: &HealthHistory,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> String {
    let s = &report.gate.sprt;
    let sprt = Sprt {
        p0: s.p0,
        p1: s.p1,
        alpha: s.alpha,
        beta: s.beta,
        min_installs: s.min_installs,
    };
    let points: Vec<Point> = history
        .points
        .iter()
        .map(|p| Point {
            at: p.at,
            value: (p.active_installs > 0).then(|| sprt.llr(p.crashed_installs, p.active_installs)),
            band: None,
        })
        .collect();
    let rules = [
        Rule {
            value: s.accept_h1_at,
            label: "fails here",
        },
        Rule {
            value: s.accept_h0_at,
            label: "passes here",
        },
    ];
    // The boundaries and a margin beyond them; the path is clamped to that range.
    let span = s.accept_h1_at - s.accept_h0_at;
    charts::line(
        "The crash-rate test's log-likelihood ratio over time against its boundaries",
        from,
        to,
        (s.accept_h0_at - span * 0.25, s.accept_h1_at + span * 0.25),
        &points,
        &rules,
        charts::plain,
    )
}
