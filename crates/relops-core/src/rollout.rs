//! Staged rollout: who is offered a release, and how a rollout moves (DESIGN decision 4,
//! R-REL-9).
//!
//! An install's bucket is `u32_be(sha256(salt ‖ install_id)[0..4])`; it is in a rollout at
//! `percent` when `bucket / 2^32 < percent / 100`. Compared in integers, so raising the
//! percentage only ever adds installs and the same install gets the same answer on every
//! check. Each release has its own random salt, so the pilot cohort of one release is not
//! the pilot cohort of the next.
//!
//! The default plan: `pilot` (5 %, on the internal channel, soak 48 h) → `25` → `50` → `100`
//! on stable, each with a minimum soak. A halt freezes the percentage; pause and resume
//! stop and restart the clock of nobody but the operator (the soak counts from the stage
//! entry).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A rollout percentage in hundredths of a percent (0..=10 000), so that 0.5 % is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Percent(u16);

impl Percent {
    pub const ZERO: Percent = Percent(0);
    pub const ALL: Percent = Percent(10_000);

    /// `hundredths` of a percent, clamped to 100 %.
    pub fn from_hundredths(hundredths: u16) -> Percent {
        Percent(hundredths.min(10_000))
    }

    pub fn whole(percent: u8) -> Percent {
        Percent::from_hundredths(u16::from(percent) * 100)
    }

    pub fn hundredths(self) -> u16 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(100) {
            write!(f, "{} %", self.0 / 100)
        } else {
            write!(f, "{:.2} %", self.as_f64())
        }
    }
}

/// The bucket of an install for a release's salt: the first four bytes of
/// `sha256(salt ‖ install_id)`, big-endian.
pub fn bucket(salt: &[u8], install_id: &str) -> u32 {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(install_id.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Is the install in a rollout at `percent`? `bucket / 2^32 < percent / 100`, exactly.
pub fn in_rollout(salt: &[u8], install_id: &str, percent: Percent) -> bool {
    (u128::from(bucket(salt, install_id)) * 10_000) < (u128::from(percent.0) << 32)
}

/// The stages of the default plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 5 % of the fleet (or opted-in installs) on the internal channel.
    Pilot,
    #[serde(rename = "25")]
    P25,
    #[serde(rename = "50")]
    P50,
    #[serde(rename = "100")]
    P100,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Pilot, Stage::P25, Stage::P50, Stage::P100];

    pub fn percent(self) -> Percent {
        match self {
            Stage::Pilot => Percent::whole(5),
            Stage::P25 => Percent::whole(25),
            Stage::P50 => Percent::whole(50),
            Stage::P100 => Percent::ALL,
        }
    }

    /// The channel the stage publishes to.
    pub fn channel(self) -> &'static str {
        match self {
            Stage::Pilot => "internal",
            _ => "stable",
        }
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Pilot => Some(Stage::P25),
            Stage::P25 => Some(Stage::P50),
            Stage::P50 => Some(Stage::P100),
            Stage::P100 => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Pilot => "pilot",
            Stage::P25 => "25",
            Stage::P50 => "50",
            Stage::P100 => "100",
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown rollout stage `{s}`: expected pilot, 25, 50 or 100"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Minimum soak per stage before `advance` is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub pilot_soak: Duration,
    pub p25_soak: Duration,
    pub p50_soak: Duration,
}

impl Default for Plan {
    /// The playbook: 48 h of pilot; a day at 25 % and at 50 %.
    fn default() -> Self {
        Self {
            pilot_soak: Duration::hours(48),
            p25_soak: Duration::hours(24),
            p50_soak: Duration::hours(24),
        }
    }
}

impl Plan {
    pub fn soak(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Pilot => self.pilot_soak,
            Stage::P25 => self.p25_soak,
            Stage::P50 => self.p50_soak,
            Stage::P100 => Duration::zero(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Active,
    Paused,
    Halted,
    Completed,
    RolledBack,
}

impl RolloutState {
    pub const ALL: [RolloutState; 5] = [
        Self::Active,
        Self::Paused,
        Self::Halted,
        Self::Completed,
        Self::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Completed => "completed",
            Self::RolledBack => "rolled_back",
        }
    }
}

impl std::str::FromStr for RolloutState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown rollout state `{s}`"))
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rollout of one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub stage: Stage,
    pub state: RolloutState,
    /// When the current stage was entered (the soak counts from here).
    pub since: DateTime<Utc>,
    /// The percentage offered now: the stage's, or the one frozen by a halt.
    pub percent: Percent,
}

/// A step the rollout refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    #[error(
        "the {stage} stage soaks until {}; advance then (the health gate must pass too: `relops health`), or now with --force --reason",
        allowed_at.format("%Y-%m-%d %H:%M UTC")
    )]
    SoakNotOver {
        stage: Stage,
        allowed_at: DateTime<Utc>,
    },
    #[error("the rollout is {}: it cannot {action}{}", state.as_str(), next_for(*state))]
    NotAllowed {
        state: RolloutState,
        action: &'static str,
    },
    #[error("the rollout is at 100 %: nothing to advance")]
    AtFullRollout,
}

/// What a person can do from a state in which a step was refused.
fn next_for(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Halted => {
            "; resume it when the cause is understood (`relops rollout resume`), or roll back (`relops rollback`)"
        }
        RolloutState::Paused => "; resume it first (`relops rollout resume`)",
        RolloutState::Active => "",
        RolloutState::Completed => "; it has reached 100 %",
        RolloutState::RolledBack => "; it was rolled back: ship the fix as a new release",
    }
}

impl Rollout {
    /// `relops rollout start`: the pilot stage, now.
    pub fn start(now: DateTime<Utc>) -> Rollout {
        Rollout {
            stage: Stage::Pilot,
            state: RolloutState::Active,
            since: now,
            percent: Stage::Pilot.percent(),
        }
    }

    /// When the next step may be taken without `--force`.
    pub fn next_step_allowed_at(&self, plan: &Plan) -> Option<DateTime<Utc>> {
        self.stage
            .next()
            .map(|_| self.since + plan.soak(self.stage))
    }

    /// The next stage, once the soak is over (or forced).
    pub fn advance(
        &self,
        plan: &Plan,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<Rollout, RolloutError> {
        if self.state != RolloutState::Active {
            return Err(RolloutError::NotAllowed {
                state: self.state,
                action: "advance",
            });
        }
        let next = self.stage.next().ok_or(RolloutError::AtFullRollout)?;
        let allowed_at = self.since + plan.soak(self.stage);
        if now < allowed_at && !force {
            return Err(RolloutError::SoakNotOver {
                stage: self.stage,
                allowed_at,
            });
        }
        Ok(Rollout {
            stage: next,
            state: if next == Stage::P100 {
                RolloutState::Completed
            } else {
                RolloutState::Active
            },
            since: now,
            percent: next.percent(),
        })
    }

    pub fn pause(&self) -> Result<Rollout, RolloutError> {
        self.to(RolloutState::Active, RolloutState::Paused, "pause")
    }

    pub fn resume(&self) -> Result<Rollout, RolloutError> {
        match self.state {
            RolloutState::Paused | RolloutState::Halted => Ok(Rollout {
                state: RolloutState::Active,
                ..self.clone()
            }),
            state => Err(RolloutError::NotAllowed {
                state,
                action: "resume",
            }),
        }
    }

    /// Halt: no new installs get the release; the percentage stays where it was, so the
    /// installs that already have it keep it.
    pub fn halt(&self) -> Result<Rollout, RolloutError> {
        match self.state {
            RolloutState::Active | RolloutState::Paused => Ok(Rollout {
                state: RolloutState::Halted,
                ..self.clone()
            }),
            state => Err(RolloutError::NotAllowed {
                state,
                action: "halt",
            }),
        }
    }

    /// Rollback ends the rollout; the feed then carries the rollback directive.
    pub fn roll_back(&self) -> Result<Rollout, RolloutError> {
        match self.state {
            RolloutState::RolledBack => Err(RolloutError::NotAllowed {
                state: self.state,
                action: "roll back",
            }),
            _ => Ok(Rollout {
                state: RolloutState::RolledBack,
                ..self.clone()
            }),
        }
    }

    fn to(
        &self,
        from: RolloutState,
        to: RolloutState,
        action: &'static str,
    ) -> Result<Rollout, RolloutError> {
        if self.state == from {
            Ok(Rollout {
                state: to,
                ..self.clone()
            })
        } else {
            Err(RolloutError::NotAllowed {
                state: self.state,
                action,
            })
        }
    }

    /// Is this install (on the production channel) offered the release now? A halted
    /// rollout offers it to nobody new — the installs inside its frozen percentage already
    /// have it and keep it — and a rolled-back one to nobody.
    pub fn offers(&self, salt: &[u8], install_id: &str) -> bool {
        match self.state {
            RolloutState::Halted | RolloutState::RolledBack => false,
            _ => in_rollout(salt, install_id, self.percent),
        }
    }

    /// The release state this rollout puts its release in.
    pub fn release_state(&self) -> crate::release::ReleaseState {
        use crate::release::ReleaseState as R;
        match (self.state, self.stage) {
            (RolloutState::Halted, _) => R::Halted,
            (RolloutState::RolledBack, _) => R::RolledBack,
            (RolloutState::Completed, _) | (_, Stage::P100) => R::Released,
            (_, Stage::Pilot) => R::Piloting,
            _ => R::RollingOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn bucket_is_the_first_four_digest_bytes() {
        // Known answers, computed with `printf saltinstall | sha256sum` (first 8 hex digits):
        // the salt comes first, then the install id, no separator.
        assert_eq!(bucket(b"salt", "install"), 0x6976_1be5);
        assert_eq!(bucket(b"release-2.1.0-salt", "install-1"), 0xf646_c6d3);
        // 0x69761be5 / 2^32 = 0.412: in at 42 %, out at 41 %.
        assert!(in_rollout(b"salt", "install", Percent::whole(42)));
        assert!(!in_rollout(b"salt", "install", Percent::whole(41)));
        assert!(!in_rollout(b"salt", "install", Percent::ZERO));
        assert!(in_rollout(b"salt", "install", Percent::ALL));
    }

    #[test]
    fn the_playbook_plan() {
        let plan = Plan::default();
        let r = Rollout::start(t(0));
        assert_eq!(
            (r.stage, r.percent, r.stage.channel()),
            (Stage::Pilot, Percent::whole(5), "internal")
        );
        assert_eq!(r.next_step_allowed_at(&plan), Some(t(48)));
        let early = r.advance(&plan, t(47), false).unwrap_err();
        assert_eq!(
            early,
            RolloutError::SoakNotOver {
                stage: Stage::Pilot,
                allowed_at: t(48)
            }
        );
        assert!(early.to_string().contains("--force"));
        let forced = r.advance(&plan, t(1), true).unwrap();
        assert_eq!(forced.stage, Stage::P25);
        let r25 = r.advance(&plan, t(48), false).unwrap();
        assert_eq!(
            (r25.stage, r25.percent, r25.stage.channel(), r25.since),
            (Stage::P25, Percent::whole(25), "stable", t(48))
        );
        let r50 = r25.advance(&plan, t(72), false).unwrap();
        let r100 = r50.advance(&plan, t(96), false).unwrap();
        assert_eq!(
            (r100.stage, r100.state, r100.percent),
            (Stage::P100, RolloutState::Completed, Percent::ALL)
        );
        assert!(r100.advance(&plan, t(200), true).is_err());
        assert_eq!(r100.next_step_allowed_at(&plan), None);
    }

    #[test]
    fn pause_halt_resume_rollback() {
        let plan = Plan::default();
        let r = Rollout::start(t(0)).advance(&plan, t(48), false).unwrap();
        let paused = r.pause().unwrap();
        assert!(paused.advance(&plan, t(100), false).is_err());
        assert!(paused.pause().is_err());
        let halted = paused.halt().unwrap();
        assert_eq!(
            halted.percent,
            Percent::whole(25),
            "a halt freezes the percentage"
        );
        assert!(halted.advance(&plan, t(100), true).is_err());
        let resumed = halted.resume().unwrap();
        assert_eq!(resumed.state, RolloutState::Active);
        assert!(!halted.offers(b"s", "anyone-0") && !halted.offers(b"s", "anyone-1"));
        let back = resumed.roll_back().unwrap();
        assert!(!back.offers(b"s", "anyone"));
        assert!(back.roll_back().is_err());
        assert!(back.halt().is_err());
    }

    proptest! {
        #[test]
        fn raising_the_percentage_only_adds_installs(
            salt in proptest::collection::vec(any::<u8>(), 16),
            id in "[a-f0-9-]{36}",
            a in 0u16..=10_000, b in 0u16..=10_000,
        ) {
            let (lo, hi) = (Percent::from_hundredths(a.min(b)), Percent::from_hundredths(a.max(b)));
            if in_rollout(&salt, &id, lo) {
                prop_assert!(in_rollout(&salt, &id, hi));
            }
            // Same question, same answer.
            prop_assert_eq!(in_rollout(&salt, &id, lo), in_rollout(&salt, &id, lo));
        }
    }

    #[test]
    fn the_fraction_matches_the_percentage() {
        // 20 000 installs: the share inside each percentage is within 4 standard deviations.
        let salt = b"release-2.1.0-salt";
        let ids: Vec<String> = (0..20_000).map(|i| format!("install-{i}")).collect();
        for p in [1u8, 5, 25, 50, 75, 99] {
            let n = ids
                .iter()
                .filter(|id| in_rollout(salt, id, Percent::whole(p)))
                .count() as f64;
            let expected = 20_000.0 * f64::from(p) / 100.0;
            let sd = (20_000.0 * (f64::from(p) / 100.0) * (1.0 - f64::from(p) / 100.0)).sqrt();
            assert!((n - expected).abs() <= 4.0 * sd, "{p} %: {n} of 20000");
        }
        // A fresh salt makes a different cohort.
        let other = b"release-2.1.1-salt";
        let pilot = |s: &[u8]| {
            ids.iter()
                .filter(|id| in_rollout(s, id, Percent::whole(5)))
                .cloned()
                .collect::<Vec<_>>()
        };
        let (a, b) = (pilot(salt), pilot(other));
        let shared = a.iter().filter(|x| b.contains(x)).count() as f64;
        assert!(
            shared < a.len() as f64 * 0.2,
            "cohorts overlap too much: {shared}"
        );
    }
}
