//! The health engine: every committed ingest batch is counted into the windowed
//! [`Tracker`] (O(1) per record) and the releases it touched are judged by the alert rules
//! at once — no cron scanning history. A rule that starts to hold opens an episode (sent
//! to the alert worker, [`crate::alerts`]); one that stops holding ends it. The set of
//! open episodes is kept here so that a flood of events makes one alert, not one per batch.
//!
//! After a restart the engine is rebuilt from the last 24 h in the database, and the open
//! episodes from the alerts table. With several replicas (PostgreSQL), each replica counts
//! what it received and, a moment later, what the others received (their tallies, read
//! from the database by the fleet follower, [`crate::workers`]): every replica judges the
//! whole fleet, and the database's unique open episode keeps alerts single.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use relops_core::alert::{Condition, ESCALATION_KEY, RuleKind, Rules, holding};
use relops_core::health::Verdict;
use relops_core::health::tracker::{Figures, Kind, Observation, Slice, Tracker};
use relops_ingest::{Counted, Record, Scope, Tally};
use relops_store::{AlertRecord, Replay};
use tokio::sync::mpsc;

/// A change of what holds for a release.
#[derive(Debug, Clone)]
pub enum Change {
    /// A condition started to hold: open an alert and act.
    Fire {
        product: String,
        release: String,
        condition: Condition,
        figures: Figures,
    },
    /// A condition no longer holds: the episode ends.
    End {
        product: String,
        release: String,
        rule: RuleKind,
        key: String,
    },
}

type Episode = (String, String, RuleKind, String);

struct Inner {
    tracker: Tracker,
    firing: HashSet<Episode>,
    /// Releases whose rollout stage has soaked: their sample no longer grows, so an
    /// undecided crash-rate test is truncated (set by the maintenance loop).
    soaked: HashSet<(String, String)>,
}

impl Inner {
    fn is_soaked(&self, product: &str, release: &str) -> bool {
        self.soaked
            .contains(&(product.to_owned(), release.to_owned()))
    }
}

/// The engine (one per server).
pub struct HealthEngine {
    inner: Mutex<Inner>,
    rules: Rules,
    /// `rules.sprt.worst_case_installs()`, worked out once: it solves Wald's equations
    /// for forty rates, too slow to repeat for every release a page shows.
    worst_case_installs: u64,
    changes: mpsc::UnboundedSender<Change>,
}

impl std::fmt::Debug for HealthEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthEngine").finish_non_exhaustive()
    }
}

fn observation<'a>(
    product: &'a str,
    s: &'a Scope,
    install: Option<&'a str>,
    kind: Kind<'a>,
) -> Observation<'a> {
    Observation {
        product,
        release: &s.release,
        channel: &s.channel,
        platform: s.platform_name(),
        install,
        kind,
    }
}

impl HealthEngine {
    /// The engine and the receiving end of its changes (for the alert worker).
    pub fn new(rules: Rules, memory_percent: u8) -> (Self, mpsc::UnboundedReceiver<Change>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                inner: Mutex::new(Inner {
                    tracker: Tracker::new(memory_percent),
                    firing: HashSet::new(),
                    soaked: HashSet::new(),
                }),
                worst_case_installs: rules.sprt.worst_case_installs(),
                rules,
                changes: tx,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a committed batch (`fresh[i]`: record i was new — retried events are not
    /// counted twice) and judges the releases it touched.
    pub fn observe(&self, product: &str, records: &[Record], fresh: &[bool], now: DateTime<Utc>) {
        self.count(product, relops_ingest::tallies(records, fresh), now);
    }

    /// Counts what another replica stored (the tallies it wrote beside its batch, issue
    /// 28), at the time that replica stored it, and judges the releases they touched.
    pub fn observe_shared(&self, product: &str, tallies: &[Tally<'_>], at: DateTime<Utc>) {
        self.count(product, tallies, at);
    }

    /// Counts `tallies` (owned or borrowed: another replica's are counted where they lie).
    fn count<'a, T: std::borrow::Borrow<Tally<'a>>>(
        &self,
        product: &str,
        tallies: impl IntoIterator<Item = T>,
        at: DateTime<Utc>,
    ) {
        let t = at.timestamp();
        let mut touched: Vec<String> = Vec::new();
        let mut inner = self.lock();
        for tally in tallies {
            let tally = tally.borrow();
            let kind = match &tally.kind {
                Counted::Session(crashed) => Kind::Session { crashed: *crashed },
                Counted::Crash(critical) => Kind::Crash {
                    critical: *critical,
                },
                Counted::Error(code) => Kind::Error { code },
                Counted::Memory(p) => Kind::Memory { host_percent: *p },
            };
            inner.tracker.observe(
                t,
                &observation(product, &tally.scope, tally.install.as_deref(), kind),
            );
            if !touched.contains(&tally.scope.release) {
                touched.push(tally.scope.release.clone());
            }
        }
        for release in touched {
            self.judge(&mut inner, product, &release, t);
        }
    }

    /// Compares what holds for a release with its open episodes and reports the changes.
    fn judge(&self, inner: &mut Inner, product: &str, release: &str, t: i64) {
        let Some(figures) = inner.tracker.figures(product, release, t) else {
            return;
        };
        let now_holding = holding(&self.rules, &figures, inner.is_soaked(product, release));
        for c in &now_holding {
            let ep = (
                product.to_owned(),
                release.to_owned(),
                c.rule,
                c.key.clone(),
            );
            if inner.firing.insert(ep) {
                let _ = self.changes.send(Change::Fire {
                    product: product.to_owned(),
                    release: release.to_owned(),
                    condition: c.clone(),
                    figures: figures.clone(),
                });
            }
        }
        // A crash-rate episode ends only when the release is judged healthy (the untruncated
        // test accepts H0) or nobody runs it any more — not when a truncated verdict wavers
        // while the sample is still coming in.
        let healthy = figures.active_installs == 0
            || self
                .rules
                .sprt
                .verdict(figures.crashed_installs, figures.active_installs)
                == Verdict::Passing;
        let ended: Vec<Episode> = inner
            .firing
            .iter()
            .filter(|(p, r, rule, key)| {
                p == product
                    && r == release
                    && !now_holding.iter().any(|c| c.rule == *rule && &c.key == key)
                    && (*rule != RuleKind::CrashRate || healthy)
            })
            .cloned()
            .collect();
        for ep in ended {
            inner.firing.remove(&ep);
            let (product, release, rule, key) = ep;
            let _ = self.changes.send(Change::End {
                product,
                release,
                rule,
                key,
            });
        }
    }

    /// Judges every release heard of (after a restart, and periodically, so that episodes
    /// end when their window passes even without new events).
    pub fn judge_all(&self, now: DateTime<Utc>) {
        let mut inner = self.lock();
        let releases: Vec<(String, String)> = inner
            .tracker
            .releases()
            .map(|(p, r)| (p.to_owned(), r.to_owned()))
            .collect();
        for (p, r) in releases {
            self.judge(&mut inner, &p, &r, now.timestamp());
        }
    }

    /// The figures, per-slice figures and the gate's verdict of a release now (truncated
    /// once its stage has soaked).
    pub fn assess(
        &self,
        product: &str,
        release: &str,
        now: DateTime<Utc>,
    ) -> (Figures, Vec<Slice>, Verdict) {
        let inner = self.lock();
        let t = now.timestamp();
        let f = inner
            .tracker
            .figures(product, release, t)
            .unwrap_or_default();
        let slices = inner.tracker.slices(product, release, t);
        let (k, n) = (f.crashed_installs, f.active_installs);
        let v = if inner.is_soaked(product, release) {
            self.rules.sprt.truncated_verdict(k, n)
        } else {
            self.rules.sprt.verdict(k, n)
        };
        (f, slices, v)
    }

    /// Marks one release's stage as soaked now — its rollout was found soaked by an
    /// operation before the maintenance loop's next pass — and judges it at once, so
    /// `relops health`, `rollout advance` and the alert worker act on the same truncated
    /// verdict (a failing one fires the crash-rate alert, which halts the rollout).
    pub fn mark_soaked(&self, product: &str, release: &str, now: DateTime<Utc>) {
        let mut inner = self.lock();
        if inner
            .soaked
            .insert((product.to_owned(), release.to_owned()))
        {
            self.judge(&mut inner, product, release, now.timestamp());
        }
    }

    /// Replaces the set of `(product, release)` whose rollout stage has soaked.
    pub fn set_soaked(&self, soaked: HashSet<(String, String)>) {
        self.lock().soaked = soaked;
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The most installs the crash-rate test expects to need ([`relops_core::health::Sprt::worst_case_installs`]).
    pub fn worst_case_installs(&self) -> u64 {
        self.worst_case_installs
    }

    /// Rebuilds the window from the database and marks the open episodes as firing.
    pub fn restore(&self, rows: &[Replay], open: &[AlertRecord]) {
        let mut inner = self.lock();
        for r in rows {
            match r {
                Replay::Install {
                    product,
                    scope,
                    install_id,
                    last_seen,
                    crashed_at,
                } => {
                    if let Some(c) = crashed_at {
                        inner.tracker.observe(
                            c.timestamp(),
                            &observation(
                                product,
                                scope,
                                Some(install_id),
                                Kind::Session { crashed: true },
                            ),
                        );
                    }
                    inner.tracker.observe(
                        last_seen.timestamp(),
                        &observation(
                            product,
                            scope,
                            Some(install_id),
                            Kind::Session { crashed: false },
                        ),
                    );
                }
                Replay::Critical {
                    product,
                    scope,
                    install_id,
                    at,
                } => inner.tracker.observe(
                    at.timestamp(),
                    &observation(
                        product,
                        scope,
                        Some(install_id),
                        Kind::Crash { critical: true },
                    ),
                ),
                Replay::Errors {
                    product,
                    release,
                    code,
                    hour,
                    events,
                } => {
                    let scope = Scope {
                        release: release.clone(),
                        channel: String::new(),
                        platform: None,
                    };
                    for _ in 0..*events {
                        inner.tracker.observe(
                            hour.timestamp(),
                            &observation(product, &scope, None, Kind::Error { code }),
                        );
                    }
                }
                Replay::Memory {
                    product,
                    scope,
                    install_id,
                    host_percent,
                    at,
                } => inner.tracker.observe(
                    at.timestamp(),
                    &observation(
                        product,
                        scope,
                        Some(install_id),
                        Kind::Memory {
                            host_percent: *host_percent,
                        },
                    ),
                ),
            }
        }
        // Escalations are raised by people, not judged from figures: not the engine's.
        for a in open.iter().filter(|a| a.rule_key != ESCALATION_KEY) {
            if let Ok(rule) = a.rule.parse::<RuleKind>() {
                inner.firing.insert((
                    a.product.clone(),
                    a.release.clone(),
                    rule,
                    a.rule_key.clone(),
                ));
            }
        }
    }

    /// Drops installs that left the window.
    pub fn prune(&self, now: DateTime<Utc>) {
        self.lock().tracker.prune(now.timestamp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relops_core::alert::Rules;

    fn error(i: usize) -> Record {
        Record::Event {
            scope: Scope {
                release: "2.1.0".into(),
                channel: "stable".into(),
                platform: Some(relops_core::platform::Platform::WindowsX64),
            },
            event_id: format!("{i:032x}"),
            install_id: Some(format!("install-{i}")),
            crash: false,
            critical: None,
            code: Some("TOB_PARSE_ERROR".into()),
            payload: "{}".into(),
        }
    }

    #[test]
    fn one_alert_per_episode_and_the_episode_ends() {
        let (e, mut rx) = HealthEngine::new(Rules::default(), 90);
        let t0 = "2027-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let batch: Vec<Record> = (0..10).map(error).collect();
        e.observe("wizard", &batch, &[true; 10], t0);
        assert!(rx.try_recv().is_err(), "10 is not more than 10");
        // The 11th fires; 20 more in later batches do not fire again.
        e.observe("wizard", &[error(10)], &[true], t0);
        match rx.try_recv().unwrap() {
            Change::Fire {
                condition, figures, ..
            } => {
                assert_eq!(condition.rule, RuleKind::ErrorCode);
                assert_eq!(condition.key, "TOB_PARSE_ERROR");
                assert_eq!(figures.errors, vec![("TOB_PARSE_ERROR".into(), 11)]);
            }
            other => panic!("{other:?}"),
        }
        for i in 11..31 {
            e.observe("wizard", &[error(i)], &[true], t0);
        }
        // A retried event (not fresh) is not counted.
        e.observe("wizard", &[error(3)], &[false], t0);
        assert!(rx.try_recv().is_err());
        let (f, _, _) = e.assess("wizard", "2.1.0", t0);
        assert_eq!(f.errors, vec![("TOB_PARSE_ERROR".into(), 31)]);
        // A day later the window is empty: the episode ends, once.
        e.judge_all(t0 + chrono::Duration::hours(25));
        assert!(matches!(
            rx.try_recv().unwrap(),
            Change::End {
                rule: RuleKind::ErrorCode,
                ..
            }
        ));
        e.judge_all(t0 + chrono::Duration::hours(26));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn restored_episodes_do_not_fire_again() {
        let (e, mut rx) = HealthEngine::new(Rules::default(), 90);
        let now = Utc::now();
        let rows = vec![Replay::Errors {
            product: "wizard".into(),
            release: "2.1.0".into(),
            code: "TOB_PARSE_ERROR".into(),
            hour: now,
            events: 12,
        }];
        let open = AlertRecord {
            id: "ALR-1".into(),
            product: "wizard".into(),
            release: "2.1.0".into(),
            rule: "error_code".into(),
            rule_key: "TOB_PARSE_ERROR".into(),
            severity: "low".into(),
            summary: String::new(),
            evidence: serde_json::Value::Null,
            actions: serde_json::Value::Null,
            follow_up: None,
            incident: None,
            status: "firing".into(),
            fired_at: now,
            acked_at: None,
            acked_by: None,
            ack_note: None,
            resolved_at: None,
        };
        e.restore(&rows, std::slice::from_ref(&open));
        e.judge_all(now);
        assert!(rx.try_recv().is_err(), "already open before the restart");
        let (e2, mut rx2) = HealthEngine::new(Rules::default(), 90);
        e2.restore(&rows, &[]);
        e2.judge_all(now);
        assert!(matches!(rx2.try_recv().unwrap(), Change::Fire { .. }));
    }
}
