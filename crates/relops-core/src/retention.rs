//! Retention (R-RET-1, R-RB-3, R-CR-4): how long each class of stored data is kept, which
//! releases are never pruned, and which stored files may go.
//!
//! Pure: the caller gathers the facts (rows and blobs with their dates), asks [`judge`] about
//! each and [`doomed_blobs`] which files go, and carries the plan out. The rules:
//! - a class kept for `days` loses an item once the item's date is more than `days` before
//!   `now`; `days = 0` keeps the class for ever (release notes and incidents always are);
//! - an item of a pinned release is kept whatever its age ([`pinned`]);
//! - a stored file goes only when every item naming it goes: content-addressed files are
//!   shared (the same SBOM as evidence of two releases, the same dump sent twice).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::release::ReleaseState;
use crate::version::Version;

/// A class of stored data with a rule of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataClass {
    /// Signed installers and their files (and replaced uploads), with their checksums.
    Artifacts,
    /// Gate and checklist evidence files (coverage, test reports, SBOMs, scans).
    Evidence,
    /// Crash symbol files.
    Symbols,
    /// Crash dumps and the files sent with them.
    CrashDumps,
    /// Log bundles the apps sent.
    LogBundles,
    /// Telemetry rows: events, sessions, memory warnings, hourly error counts, installs seen.
    Telemetry,
    /// Closed support tickets (`[support] retain_closed_days`).
    Tickets,
    /// The audit trail (`[audit] retention_days`, pruned behind a signed checkpoint).
    Audit,
    /// Release notes: kept for ever (R-RET-1).
    ReleaseNotes,
    /// Incidents and post-mortems: kept for ever (R-RET-1).
    Incidents,
}

impl DataClass {
    /// Every class, in the order plans list them.
    pub const ALL: [DataClass; 10] = [
        DataClass::Artifacts,
        DataClass::Evidence,
        DataClass::Symbols,
        DataClass::CrashDumps,
        DataClass::LogBundles,
        DataClass::Telemetry,
        DataClass::Tickets,
        DataClass::Audit,
        DataClass::ReleaseNotes,
        DataClass::Incidents,
    ];

    /// The name in configuration, plans and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Artifacts => "artifacts",
            DataClass::Evidence => "evidence",
            DataClass::Symbols => "symbols",
            DataClass::CrashDumps => "crash_dumps",
            DataClass::LogBundles => "log_bundles",
            DataClass::Telemetry => "telemetry",
            DataClass::Tickets => "tickets",
            DataClass::Audit => "audit",
            DataClass::ReleaseNotes => "release_notes",
            DataClass::Incidents => "incidents",
        }
    }

    /// What the class holds, in a release manager's words.
    pub fn what(self) -> &'static str {
        match self {
            DataClass::Artifacts => "signed installers and their checksums",
            DataClass::Evidence => "gate and checklist evidence (coverage, tests, SBOMs, scans)",
            DataClass::Symbols => "crash symbol files",
            DataClass::CrashDumps => "crash dumps and files sent with crashes",
            DataClass::LogBundles => "log bundles sent by the app",
            DataClass::Telemetry => "telemetry rows (events, sessions, memory warnings)",
            DataClass::Tickets => "closed support tickets",
            DataClass::Audit => "audit trail entries",
            DataClass::ReleaseNotes => "release notes",
            DataClass::Incidents => "incidents and post-mortems",
        }
    }

    /// Whether items of a pinned release are kept whatever their age.
    pub fn follows_pins(self) -> bool {
        matches!(
            self,
            DataClass::Artifacts | DataClass::Evidence | DataClass::Symbols
        )
    }
}

impl std::fmt::Display for DataClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Days each class is kept (0: for ever), and how many releases are rollback stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub artifacts_days: u32,
    pub evidence_days: u32,
    pub symbols_days: u32,
    pub crash_dumps_days: u32,
    pub log_bundles_days: u32,
    pub telemetry_days: u32,
    pub tickets_days: u32,
    pub audit_days: u32,
    /// The newest releases per product and per channel that are never pruned (R-RB-3: 3).
    pub keep_releases: usize,
}

impl Rules {
    /// The playbook's defaults: binaries, checksums and SBOMs 12 months, logs 30 days, audit
    /// 180 days, the last 3 releases pinned. Not in the playbook, decided here: symbols go
    /// with the binaries they describe (12 months); crash dumps and telemetry 90 days (the
    /// usual crash reporters' default, and the health history's); closed tickets kept.
    pub fn playbook() -> Self {
        Self {
            artifacts_days: 365,
            evidence_days: 365,
            symbols_days: 365,
            crash_dumps_days: 90,
            log_bundles_days: 30,
            telemetry_days: 90,
            tickets_days: 0,
            audit_days: 180,
            keep_releases: 3,
        }
    }

    /// Days `class` is kept; `None` for ever.
    pub fn days(&self, class: DataClass) -> Option<u32> {
        let d = match class {
            DataClass::Artifacts => self.artifacts_days,
            DataClass::Evidence => self.evidence_days,
            DataClass::Symbols => self.symbols_days,
            DataClass::CrashDumps => self.crash_dumps_days,
            DataClass::LogBundles => self.log_bundles_days,
            DataClass::Telemetry => self.telemetry_days,
            DataClass::Tickets => self.tickets_days,
            DataClass::Audit => self.audit_days,
            DataClass::ReleaseNotes | DataClass::Incidents => 0,
        };
        (d > 0).then_some(d)
    }

    /// Items of `class` dated before this have expired; `None`: the class is kept for ever.
    pub fn cutoff(&self, class: DataClass, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.days(class).map(|d| now - Duration::days(i64::from(d)))
    }

    /// Rules that contradict each other. A crash row outliving its dump is fine; a dump
    /// outliving the telemetry row that names it would be a file nobody can find.
    pub fn check(&self) -> Result<(), String> {
        let kept = |d: u32| if d == 0 { u32::MAX } else { d };
        if kept(self.crash_dumps_days) > kept(self.telemetry_days) {
            return Err(format!(
                "[retention] crash_dumps_days ({}) must not exceed telemetry_days ({}): a dump is found through its crash's telemetry row",
                self.crash_dumps_days, self.telemetry_days
            ));
        }
        if self.keep_releases == 0 {
            return Err("[retention] keep_releases must be at least 1 (the playbook keeps the last 3 releases as rollback stock)".into());
        }
        Ok(())
    }
}

/// A release as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFact {
    pub product: String,
    pub version: Version,
    pub state: ReleaseState,
    /// Channels it was rolled out on.
    pub channels: Vec<String>,
}

/// Releases whose files stay whatever their age, each with why.
pub type Pins = BTreeMap<(String, Version), String>;

/// The pinned releases:
/// - rollback stock: the newest `keep` releases of every product that reached users and
///   were not taken back (approved, piloting, rolling out, released, halted), and the newest
///   `keep` such releases of every channel they were rolled out on;
/// - releases in flight (approved, piloting, rolling out, halted: a decision is pending);
/// - whatever the signed feed lists now (`in_feed`), so retention never changes the feed.
///
/// Rolled-back and withdrawn releases are not rollback stock: nobody goes back to them.
pub fn pinned(
    releases: &[ReleaseFact],
    keep: usize,
    in_feed: &BTreeSet<(String, Version)>,
) -> Pins {
    let stock = |s: ReleaseState| {
        matches!(
            s,
            ReleaseState::Approved
                | ReleaseState::Piloting
                | ReleaseState::RollingOut
                | ReleaseState::Released
                | ReleaseState::Halted
        )
    };
    let mut pins = Pins::new();
    // (product, channel or none) → stock versions, newest first.
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<&Version>> = BTreeMap::new();
    for r in releases.iter().filter(|r| stock(r.state)) {
        groups
            .entry((r.product.as_str(), None))
            .or_default()
            .push(&r.version);
        for c in &r.channels {
            groups
                .entry((r.product.as_str(), Some(c.as_str())))
                .or_default()
                .push(&r.version);
        }
    }
    for ((product, channel), mut versions) in groups {
        versions.sort_by(|a, b| b.cmp(a));
        versions.dedup();
        for v in versions.into_iter().take(keep) {
            let why = match channel {
                None => format!("one of the last {keep} releases of {product} (rollback stock)"),
                Some(c) => format!("one of the last {keep} releases on {c} (rollback stock)"),
            };
            pins.entry((product.to_owned(), v.clone())).or_insert(why);
        }
    }
    for r in releases {
        if matches!(
            r.state,
            ReleaseState::Approved
                | ReleaseState::Piloting
                | ReleaseState::RollingOut
                | ReleaseState::Halted
        ) {
            pins.entry((r.product.clone(), r.version.clone()))
                .or_insert_with(|| format!("{}: its rollout is not finished", r.state));
        }
    }
    for (product, version) in in_feed {
        pins.entry((product.clone(), version.clone()))
            .or_insert_with(|| "listed in the signed update feed".into());
    }
    pins
}

/// Something stored that a rule applies to: a row, a file, or a row's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub class: DataClass,
    pub product: String,
    /// What it is (an artifact name, a blob key, a crash id).
    pub id: String,
    /// The release it belongs to, if any.
    pub release: Option<Version>,
    pub bytes: u64,
    /// The date its age is counted from (uploaded, recorded, received).
    pub since: DateTime<Utc>,
    /// Files in the blob store it names.
    pub blobs: Vec<String>,
}

/// What becomes of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Remove {
        reason: String,
    },
    Keep {
        reason: String,
    },
    /// Kept because its release is pinned (whatever its age).
    Pinned {
        reason: String,
    },
}

impl Verdict {
    pub fn removes(&self) -> bool {
        matches!(self, Verdict::Remove { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            Verdict::Remove { reason } | Verdict::Keep { reason } | Verdict::Pinned { reason } => {
                reason
            }
        }
    }
}

/// Whether `item` goes at `now`, and why.
pub fn judge(item: &Item, rules: &Rules, now: DateTime<Utc>, pins: &Pins) -> Verdict {
    let Some(days) = rules.days(item.class) else {
        return Verdict::Keep {
            reason: format!("{} are kept for ever", item.class),
        };
    };
    if item.class.follows_pins()
        && let Some(why) = item
            .release
            .as_ref()
            .and_then(|v| pins.get(&(item.product.clone(), v.clone())))
    {
        return Verdict::Pinned {
            reason: format!("release {} is pinned: {why}", fmt_release(item)),
        };
    }
    let age = (now - item.since).num_days();
    if age > i64::from(days) {
        Verdict::Remove {
            reason: format!(
                "{} days old; {} are kept {days} days",
                age,
                item.class.as_str().replace('_', " ")
            ),
        }
    } else {
        Verdict::Keep {
            reason: format!("{age} of {days} days"),
        }
    }
}

fn fmt_release(item: &Item) -> String {
    item.release
        .as_ref()
        .map_or_else(String::new, |v| format!("{} {v}", item.product))
}

/// The files that go: named only by removed items. A file a kept item names stays.
pub fn doomed_blobs<'a>(
    judged: impl IntoIterator<Item = (&'a Item, &'a Verdict)>,
) -> BTreeSet<String> {
    let mut doomed = BTreeSet::new();
    let mut kept = BTreeSet::new();
    for (item, verdict) in judged {
        let into = if verdict.removes() {
            &mut doomed
        } else {
            &mut kept
        };
        into.extend(item.blobs.iter().cloned());
    }
    doomed.retain(|b| !kept.contains(b));
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn rel(version: &str, state: ReleaseState, channels: &[&str]) -> ReleaseFact {
        ReleaseFact {
            product: "wizard".into(),
            version: v(version),
            state,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2027-06-01T00:00:00Z".parse().unwrap()
    }

    fn item(class: DataClass, release: Option<&str>, days_old: i64, blobs: &[&str]) -> Item {
        Item {
            class,
            product: "wizard".into(),
            id: blobs.first().map_or("row", |b| *b).to_owned(),
            release: release.map(v),
            bytes: 10,
            since: now() - Duration::days(days_old),
            blobs: blobs.iter().map(|b| (*b).to_owned()).collect(),
        }
    }

    #[test]
    fn the_last_three_shipped_releases_and_those_in_flight_are_pinned() {
        use ReleaseState::*;
        let releases = [
            rel("2.0.0", Released, &["stable"]),
            rel("2.0.1", Released, &["stable"]),
            rel("2.0.2", RolledBack, &["stable"]),
            rel("2.0.3", Released, &["stable"]),
            rel("2.1.0", Released, &["stable"]),
            rel("2.1.1", Withdrawn, &[]),
            rel("2.2.0", Piloting, &["internal"]),
            rel("2.3.0", Draft, &[]),
        ];
        let pins = pinned(&releases, 3, &BTreeSet::new());
        let got: Vec<String> = pins.keys().map(|(_, v)| v.to_string()).collect();
        // Product-wide: 2.2.0, 2.1.0, 2.0.3; stable: 2.1.0, 2.0.3, 2.0.1; internal: 2.2.0.
        assert_eq!(got, ["2.0.1", "2.0.3", "2.1.0", "2.2.0"]);
        assert!(pins[&("wizard".into(), v("2.0.1"))].contains("on stable"));
        // The feed pins what it lists, even a release retention would otherwise take.
        let feed = BTreeSet::from([("wizard".to_owned(), v("2.0.0"))]);
        let pins = pinned(&releases, 3, &feed);
        assert_eq!(
            pins[&("wizard".into(), v("2.0.0"))],
            "listed in the signed update feed"
        );
    }

    #[test]
    fn age_pins_and_for_ever() {
        let rules = Rules::playbook();
        let pins = Pins::from([(("wizard".into(), v("2.1.0")), "rollback stock".into())]);
        let old = item(DataClass::Artifacts, Some("2.0.0"), 366, &["a"]);
        assert!(judge(&old, &rules, now(), &pins).removes());
        let young = item(DataClass::Artifacts, Some("2.0.0"), 365, &["a"]);
        assert!(!judge(&young, &rules, now(), &pins).removes());
        let stock = item(DataClass::Artifacts, Some("2.1.0"), 900, &["a"]);
        let verdict = judge(&stock, &rules, now(), &pins);
        assert!(matches!(verdict, Verdict::Pinned { .. }), "{verdict:?}");
        assert!(verdict.reason().contains("rollback stock"), "{verdict:?}");
        // Crash dumps do not follow pins: they hold the customer's memory.
        let dump = item(DataClass::CrashDumps, Some("2.1.0"), 91, &["d"]);
        assert!(judge(&dump, &rules, now(), &pins).removes());
        let notes = item(DataClass::ReleaseNotes, Some("1.0.0"), 5000, &["n"]);
        assert_eq!(
            judge(&notes, &rules, now(), &pins).reason(),
            "release_notes are kept for ever"
        );
    }

    #[test]
    fn a_shared_file_goes_only_with_its_last_reference() {
        let rules = Rules::playbook();
        let pins = Pins::new();
        let items = [
            item(
                DataClass::Evidence,
                Some("1.0.0"),
                400,
                &["sbom", "cov-old"],
            ),
            item(DataClass::Evidence, Some("1.9.0"), 10, &["sbom"]),
        ];
        let verdicts: Vec<Verdict> = items
            .iter()
            .map(|i| judge(i, &rules, now(), &pins))
            .collect();
        let doomed = doomed_blobs(items.iter().zip(&verdicts));
        assert_eq!(doomed, BTreeSet::from(["cov-old".to_owned()]));
    }

    #[test]
    fn contradicting_rules_are_refused() {
        let mut rules = Rules::playbook();
        assert_eq!(rules.check(), Ok(()));
        rules.crash_dumps_days = 120;
        assert!(rules.check().unwrap_err().contains("crash_dumps_days"));
        rules.telemetry_days = 0;
        assert_eq!(
            rules.check(),
            Ok(()),
            "telemetry kept for ever outlives any dump"
        );
        rules.crash_dumps_days = 0;
        rules.telemetry_days = 90;
        assert!(
            rules.check().is_err(),
            "dumps for ever need telemetry for ever"
        );
    }
}
