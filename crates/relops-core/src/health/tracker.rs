//! The health engine's memory: for every release, who was active, who crashed, which
//! error codes and memory warnings arrived — over a sliding 24-hour window, updated in
//! O(1) per event and read in O(1) per release.
//!
//! Time is cut into 10-minute buckets. Each install of a release has a mark (the bucket it
//! was last seen in, and of its last crash); each release and each (release, channel,
//! platform) has rings of 145 per-bucket counts (24 h and the current bucket). Seeing an
//! install again moves it from its old bucket to the current one, so a ring's sum over the
//! window is exactly the number of distinct installs last seen in it. A bucket that falls
//! out of the window is overwritten when its slot comes round again, so nothing is ever
//! scanned. "Active in the last 24 h" is therefore "seen in the last 24 h to 24 h 10 min".
//!
//! Memory: one mark (48 bytes in the map) per install and release; [`Tracker::prune`]
//! drops marks that left the window. Rings cost 1.2 KiB each, a few per release.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Width of a time bucket.
pub const BUCKET_SECONDS: i64 = 600;
/// Buckets in the window: 24 h plus the current one.
const SLOTS: usize = 24 * 3600 / BUCKET_SECONDS as usize + 1;
/// Distinct error codes tracked per release; further codes count under `other`.
const MAX_CODES: usize = 256;

/// The bucket a unix time falls in.
pub fn bucket_of(unix_seconds: i64) -> u32 {
    u32::try_from(unix_seconds.max(0) / BUCKET_SECONDS).unwrap_or(u32::MAX)
}

/// Counts per bucket over the window.
#[derive(Clone)]
struct Ring {
    ids: [u32; SLOTS],
    counts: [u32; SLOTS],
}

impl Ring {
    fn new() -> Box<Self> {
        Box::new(Self {
            ids: [0; SLOTS],
            counts: [0; SLOTS],
        })
    }

    fn add(&mut self, b: u32) {
        let s = b as usize % SLOTS;
        if self.ids[s] > b {
            return; // b left the window: its slot holds a newer bucket
        }
        if self.ids[s] != b {
            self.ids[s] = b;
            self.counts[s] = 0;
        }
        self.counts[s] = self.counts[s].saturating_add(1);
    }

    /// Takes one away from bucket `b`, if `b` is still in the ring.
    fn remove(&mut self, b: u32) {
        let s = b as usize % SLOTS;
        if self.ids[s] == b && self.counts[s] > 0 {
            self.counts[s] -= 1;
        }
    }

    fn sum(&self, now: u32) -> u64 {
        let oldest = now.saturating_sub(SLOTS as u32 - 1);
        self.ids
            .iter()
            .zip(&self.counts)
            .filter(|(id, _)| (oldest..=now).contains(*id))
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

/// What one record says about one install (or about nobody in particular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A session update; `crashed` for crashed or abnormal ends.
    Session { crashed: bool },
    /// A crash report; `critical` when a fingerprint rule classed it critical (crash on
    /// start, on project open, data loss).
    Crash { critical: bool },
    /// An error event with a code (`TOB_PARSE_ERROR`).
    Error { code: &'a str },
    /// A host memory warning, in percent.
    Memory { host_percent: u8 },
}

/// One thing that happened to a release.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub product: &'a str,
    pub release: &'a str,
    pub channel: &'a str,
    pub platform: &'a str,
    pub install: Option<&'a str>,
    pub kind: Kind<'a>,
}

/// Where an install was last seen and when it last crashed (buckets; 0 = never).
#[derive(Debug, Clone, Copy)]
struct Mark {
    scope: u32,
    seen: u32,
    crashed: u32,
    critical: u32,
}

struct Scope {
    channel: String,
    platform: String,
    active: Box<Ring>,
    crashed: Box<Ring>,
}

struct Release {
    product: String,
    release: String,
    active: Box<Ring>,
    crashed: Box<Ring>,
    critical: Box<Ring>,
    memory_high: Box<Ring>,
    codes: HashMap<String, Box<Ring>>,
    scopes: Vec<u32>,
}

/// A release's figures over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub active_installs: u64,
    pub crashed_installs: u64,
    /// Installs with a crash classed critical.
    pub critical_installs: u64,
    /// Memory warnings at or above the configured host percentage.
    pub memory_warnings: u64,
    /// Error events per code, most first.
    pub errors: Vec<(String, u64)>,
}

/// One (channel, platform) slice of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub channel: String,
    pub platform: String,
    pub active_installs: u64,
    pub crashed_installs: u64,
}

/// The windowed health state of every release the server has heard of.
pub struct Tracker {
    memory_percent: u8,
    releases: Vec<Release>,
    release_ids: HashMap<(String, String), u32>,
    scopes: Vec<Scope>,
    scope_ids: HashMap<(u32, String, String), u32>,
    installs: HashMap<(u32, u128), Mark>,
    /// The release and scope of the last observation: a fold observes runs of records
    /// of one release and scope, found again without building the maps' owned keys.
    last: Option<(u32, u32)>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("releases", &self.releases.len())
            .field("installs", &self.installs.len())
            .finish()
    }
}

/// A 128-bit key for an install id: the UUID itself when it is one (32 hex digits, dashes
/// anywhere), else a digest.
fn install_key(id: &str) -> u128 {
    let mut v: u128 = 0;
    let mut digits = 0;
    for c in id.chars().filter(|c| *c != '-') {
        match c.to_digit(16) {
            Some(d) if digits < 32 => {
                v = v << 4 | u128::from(d);
                digits += 1;
            }
            _ => {
                digits = 0;
                break;
            }
        }
    }
    if digits == 32 {
        return v;
    }
    let d = Sha256::digest(id.as_bytes());
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

impl Tracker {
    /// `memory_percent`: the host memory use from which a memory warning counts.
    pub fn new(memory_percent: u8) -> Self {
        Self {
            memory_percent,
            releases: Vec::new(),
            release_ids: HashMap::new(),
            scopes: Vec::new(),
            scope_ids: HashMap::new(),
            installs: HashMap::new(),
            last: None,
        }
    }

    fn release_id(&mut self, product: &str, release: &str) -> u32 {
        if let Some(id) = self
            .release_ids
            .get(&(product.to_owned(), release.to_owned()))
        {
            return *id;
        }
        let id = u32::try_from(self.releases.len()).expect("fewer than 2^32 releases");
        self.releases.push(Release {
            product: product.to_owned(),
            release: release.to_owned(),
            active: Ring::new(),
            crashed: Ring::new(),
            critical: Ring::new(),
            memory_high: Ring::new(),
            codes: HashMap::new(),
            scopes: Vec::new(),
        });
        self.release_ids
            .insert((product.to_owned(), release.to_owned()), id);
        id
    }

    fn scope_id(&mut self, rid: u32, channel: &str, platform: &str) -> u32 {
        let key = (rid, channel.to_owned(), platform.to_owned());
        if let Some(id) = self.scope_ids.get(&key) {
            return *id;
        }
        let id = u32::try_from(self.scopes.len()).expect("fewer than 2^32 scopes");
        self.scopes.push(Scope {
            channel: channel.to_owned(),
            platform: platform.to_owned(),
            active: Ring::new(),
            crashed: Ring::new(),
        });
        self.scope_ids.insert(key, id);
        self.releases[rid as usize].scopes.push(id);
        id
    }

    /// Takes one observation made at `unix_seconds` (the server's clock when it was
    /// received; observations arrive in about time order — a late one counts, at the time
    /// it was made, and an install's mark stays where its newest observation put it).
    pub fn observe(&mut self, unix_seconds: i64, o: &Observation<'_>) {
        let b = bucket_of(unix_seconds);
        let (rid, sid) = match self.last {
            Some((rid, sid))
                if self.releases[rid as usize].release == o.release
                    && self.releases[rid as usize].product == o.product
                    && self.scopes[sid as usize].channel == o.channel
                    && self.scopes[sid as usize].platform == o.platform =>
            {
                (rid, sid)
            }
            _ => {
                let rid = self.release_id(o.product, o.release);
                (rid, self.scope_id(rid, o.channel, o.platform))
            }
        };
        self.last = Some((rid, sid));
        match o.kind {
            Kind::Error { code } => {
                let rel = &mut self.releases[rid as usize];
                let code = if rel.codes.contains_key(code) || rel.codes.len() < MAX_CODES {
                    code
                } else {
                    "other"
                };
                rel.codes
                    .entry(code.to_owned())
                    .or_insert_with(Ring::new)
                    .add(b);
            }
            Kind::Memory { host_percent } if host_percent >= self.memory_percent => {
                self.releases[rid as usize].memory_high.add(b);
            }
            _ => {}
        }
        let Some(install) = o.install else { return };
        let (crashed, critical) = match o.kind {
            Kind::Session { crashed } => (crashed, false),
            Kind::Crash { critical } => (true, critical),
            _ => (false, false),
        };
        let mark = self
            .installs
            .entry((rid, install_key(install)))
            .or_insert(Mark {
                scope: sid,
                seen: 0,
                crashed: 0,
                critical: 0,
            });
        // With several replicas, another replica's observations arrive a moment after this
        // one's own: a late observation never moves a mark back in time, nor to the scope
        // the install has since left.
        let late = b < mark.seen;
        let sid = if late { mark.scope } else { sid };
        let seen = b.max(mark.seen);
        let rel = &mut self.releases[rid as usize];
        let old = mark.scope;
        if mark.seen != 0 {
            rel.active.remove(mark.seen);
            self.scopes[old as usize].active.remove(mark.seen);
        }
        if mark.crashed != 0 && (old != sid || crashed) {
            self.scopes[old as usize].crashed.remove(mark.crashed);
            if crashed {
                rel.crashed.remove(mark.crashed);
            } else {
                self.scopes[sid as usize].crashed.add(mark.crashed);
            }
        }
        mark.seen = seen;
        mark.scope = sid;
        rel.active.add(seen);
        self.scopes[sid as usize].active.add(seen);
        if crashed {
            let c = b.max(mark.crashed);
            mark.crashed = c;
            rel.crashed.add(c);
            self.scopes[sid as usize].crashed.add(c);
        }
        if critical {
            if mark.critical != 0 {
                rel.critical.remove(mark.critical);
            }
            let c = b.max(mark.critical);
            mark.critical = c;
            rel.critical.add(c);
        }
    }

    /// The figures of a release at `unix_seconds`, if anything was heard of it.
    pub fn figures(&self, product: &str, release: &str, unix_seconds: i64) -> Option<Figures> {
        let rid = *self
            .release_ids
            .get(&(product.to_owned(), release.to_owned()))?;
        let now = bucket_of(unix_seconds);
        let rel = &self.releases[rid as usize];
        let mut errors: Vec<(String, u64)> = rel
            .codes
            .iter()
            .map(|(c, r)| (c.clone(), r.sum(now)))
            .filter(|(_, n)| *n > 0)
            .collect();
        errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(Figures {
            active_installs: rel.active.sum(now),
            crashed_installs: rel.crashed.sum(now),
            critical_installs: rel.critical.sum(now),
            memory_warnings: rel.memory_high.sum(now),
            errors,
        })
    }

    /// A release's figures per channel and platform (slices with nobody active left out).
    pub fn slices(&self, product: &str, release: &str, unix_seconds: i64) -> Vec<Slice> {
        let Some(rid) = self
            .release_ids
            .get(&(product.to_owned(), release.to_owned()))
        else {
            return Vec::new();
        };
        let now = bucket_of(unix_seconds);
        let mut out: Vec<Slice> = self.releases[*rid as usize]
            .scopes
            .iter()
            .map(|s| &self.scopes[*s as usize])
            .map(|s| Slice {
                channel: s.channel.clone(),
                platform: s.platform.clone(),
                active_installs: s.active.sum(now),
                crashed_installs: s.crashed.sum(now),
            })
            .filter(|s| s.active_installs > 0)
            .collect();
        out.sort_by(|a, b| (&a.channel, &a.platform).cmp(&(&b.channel, &b.platform)));
        out
    }

    /// Every `(product, release)` heard of.
    pub fn releases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.releases
            .iter()
            .map(|r| (r.product.as_str(), r.release.as_str()))
    }

    /// Installs with a mark (all releases).
    pub fn marks(&self) -> usize {
        self.installs.len()
    }

    /// Drops the marks of installs not seen within the window (they count nowhere any
    /// more). Linear in the number of marks: run it now and then, not per event.
    pub fn prune(&mut self, unix_seconds: i64) {
        let oldest = bucket_of(unix_seconds).saturating_sub(SLOTS as u32 - 1);
        self.installs.retain(|_, m| m.seen >= oldest);
        self.installs.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn session(install: &str, crashed: bool) -> Observation<'_> {
        Observation {
            product: "wizard",
            release: "2.1.0",
            channel: "stable",
            platform: "windows-x64",
            install: Some(install),
            kind: Kind::Session { crashed },
        }
    }

    #[test]
    fn counts_distinct_installs_and_crashes() {
        let mut t = Tracker::new(90);
        for i in 0..100 {
            let id = format!("{i:032x}");
            t.observe(T0, &session(&id, i < 3));
            // A second session of the same install counts once.
            t.observe(T0 + 60, &session(&id, false));
        }
        let f = t.figures("wizard", "2.1.0", T0 + 120).unwrap();
        assert_eq!(f.active_installs, 100);
        assert_eq!(f.crashed_installs, 3);
        // A second crash of a crashed install does not count twice.
        t.observe(T0 + 180, &session(&format!("{:032x}", 0), true));
        let f = t.figures("wizard", "2.1.0", T0 + 200).unwrap();
        assert_eq!((f.active_installs, f.crashed_installs), (100, 3));
        assert_eq!(t.figures("wizard", "9.9.9", T0), None);
    }

    #[test]
    fn the_window_slides() {
        let mut t = Tracker::new(90);
        t.observe(T0, &session("a", true));
        t.observe(T0 + 3600, &session("b", false));
        let at = |t: &Tracker, s: i64| {
            let f = t.figures("wizard", "2.1.0", s).unwrap();
            (f.active_installs, f.crashed_installs)
        };
        assert_eq!(at(&t, T0 + 3600), (2, 1));
        // 24 h 10 min after the first: it has left the window, the second not.
        assert_eq!(at(&t, T0 + 24 * 3600 + 600), (1, 0));
        assert_eq!(at(&t, T0 + 26 * 3600), (0, 0));
        // Seen again later: active again, the old crash no longer counts.
        t.observe(T0 + 30 * 3600, &session("a", false));
        assert_eq!(at(&t, T0 + 30 * 3600), (1, 0));
        t.prune(T0 + 30 * 3600);
        assert_eq!(t.marks(), 1);
    }

    #[test]
    fn a_late_observation_counts_without_moving_the_install_back() {
        let at = |t: &Tracker, s: i64| {
            let f = t.figures("wizard", "2.1.0", s).unwrap();
            (f.active_installs, f.crashed_installs)
        };
        let mut t = Tracker::new(90);
        let mut moved = session("a", false);
        moved.channel = "internal";
        // Seen on "internal" in the second bucket, then (from a slower replica) a crash
        // on "stable" made in the first.
        t.observe(T0 + BUCKET_SECONDS, &moved);
        t.observe(T0, &session("a", true));
        assert_eq!(at(&t, T0 + BUCKET_SECONDS), (1, 1));
        let s = t.slices("wizard", "2.1.0", T0 + BUCKET_SECONDS);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].channel, "internal", "the newest observation's scope");
        assert_eq!((s[0].active_installs, s[0].crashed_installs), (1, 1));
        // The install stays active until 24 h after the newest observation, not the late one.
        let window = 24 * 3600 + BUCKET_SECONDS;
        assert_eq!(
            at(&t, T0 + window),
            (1, 0),
            "the crash left with its bucket"
        );
        assert_eq!(at(&t, T0 + window + BUCKET_SECONDS), (0, 0));
        // A late crash older than the one counted does not move the crash back either.
        let mut t = Tracker::new(90);
        t.observe(T0 + BUCKET_SECONDS, &session("b", true));
        t.observe(T0, &session("b", true));
        assert_eq!(at(&t, T0 + window), (1, 1));
    }

    #[test]
    fn slices_follow_an_install_that_moves() {
        let mut t = Tracker::new(90);
        t.observe(T0, &session("a", true));
        let mut moved = session("a", false);
        moved.channel = "internal";
        t.observe(T0 + 60, &moved);
        let s = t.slices("wizard", "2.1.0", T0 + 60);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].channel, "internal");
        assert_eq!((s[0].active_installs, s[0].crashed_installs), (1, 1));
        let f = t.figures("wizard", "2.1.0", T0 + 60).unwrap();
        assert_eq!((f.active_installs, f.crashed_installs), (1, 1));
    }

    #[test]
    fn errors_memory_and_critical_crashes() {
        let mut t = Tracker::new(90);
        let base = session("a", false);
        for i in 0..12 {
            t.observe(
                T0 + i,
                &Observation {
                    kind: Kind::Error {
                        code: "TOB_PARSE_ERROR",
                    },
                    ..base
                },
            );
        }
        t.observe(
            T0,
            &Observation {
                kind: Kind::Error { code: "OTHER" },
                ..base
            },
        );
        for p in [89, 90, 97] {
            t.observe(
                T0,
                &Observation {
                    kind: Kind::Memory { host_percent: p },
                    ..base
                },
            );
        }
        for (i, critical) in [("x", true), ("y", false), ("x", true)] {
            t.observe(
                T0,
                &Observation {
                    install: Some(i),
                    kind: Kind::Crash { critical },
                    ..base
                },
            );
        }
        let f = t.figures("wizard", "2.1.0", T0 + 60).unwrap();
        assert_eq!(
            f.errors,
            vec![("TOB_PARSE_ERROR".into(), 12), ("OTHER".into(), 1)]
        );
        assert_eq!(f.memory_warnings, 2);
        assert_eq!(f.critical_installs, 1);
        assert_eq!(f.crashed_installs, 2);
        assert_eq!(f.active_installs, 3);
        let later = t.figures("wizard", "2.1.0", T0 + 25 * 3600).unwrap();
        assert!(later.errors.is_empty());
        assert_eq!(later.memory_warnings, 0);
    }

    #[test]
    fn install_keys() {
        let dashed = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(install_key(dashed), install_key(&dashed.replace('-', "")));
        assert_ne!(install_key("device-a"), install_key("device-b"));
        assert_eq!(
            install_key(dashed),
            0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8,
            "a UUID is its own key"
        );
        assert_eq!(install_key(dashed), install_key(&dashed.to_uppercase()));
        // 33 digits, or 31 and a letter that is not hex: not a UUID, digested.
        let long = format!("{dashed}0");
        assert_ne!(install_key(&long), install_key(dashed));
        assert_ne!(install_key(&long), install_key(&format!("{dashed}1")));
        let not_hex = dashed.replace('c', "g");
        assert_ne!(
            install_key(&not_hex),
            install_key(&dashed.replace('c', "0"))
        );
    }

    /// Observations of different releases and scopes in turn land in their own figures
    /// (the tracker remembers the last release and scope it saw).
    #[test]
    fn alternating_releases_and_scopes() {
        let mut t = Tracker::new(90);
        let now = 1_800_000_000;
        let turns = [("2.1.0", "stable"), ("2.0.0", "stable"), ("2.1.0", "beta")];
        for i in 0..9 {
            let (release, channel) = turns[i % 3];
            let install = format!("i{i}");
            let o = Observation {
                product: "wizard",
                release,
                channel,
                platform: "macos",
                install: Some(&install),
                kind: Kind::Session { crashed: false },
            };
            t.observe(now, &o);
        }
        assert_eq!(
            t.figures("wizard", "2.1.0", now).unwrap().active_installs,
            6
        );
        assert_eq!(
            t.figures("wizard", "2.0.0", now).unwrap().active_installs,
            3
        );
        let slices: Vec<_> = t
            .slices("wizard", "2.1.0", now)
            .into_iter()
            .map(|s| (s.channel, s.active_installs))
            .collect();
        assert_eq!(slices, [("beta".to_owned(), 3), ("stable".to_owned(), 3)]);
    }
}
