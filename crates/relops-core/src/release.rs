//! The release state machine and what each state allows.
//!
//! ```text
//! draft → frozen → candidate → approved → piloting → rolling_out → released
//!                      side exits: halted, rolled_back, withdrawn
//! ```
//! This issue's slice moves releases from `draft` to `frozen`; later slices add the
//! other transitions. [`ArtifactPolicy`] says what a state allows for artifacts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    Draft,
    Frozen,
    Candidate,
    Approved,
    Piloting,
    RollingOut,
    Released,
    Halted,
    RolledBack,
    Withdrawn,
}

/// A transition that the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release is {from}: cannot {action} it ({hint})")]
pub struct TransitionError {
    pub from: ReleaseState,
    pub action: &'static str,
    pub hint: &'static str,
}

/// What may happen to a release's artifacts in its current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactPolicy {
    /// Before the freeze: upload and replace freely.
    Open,
    /// After the freeze: only a critical fix, by the release manager, with a reason.
    CriticalFixOnly,
    /// Approved or shipping: artifacts are fixed; a change needs a new patch release.
    Closed,
}

impl ReleaseState {
    pub const ALL: [ReleaseState; 10] = [
        Self::Draft,
        Self::Frozen,
        Self::Candidate,
        Self::Approved,
        Self::Piloting,
        Self::RollingOut,
        Self::Released,
        Self::Halted,
        Self::RolledBack,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Frozen => "frozen",
            Self::Candidate => "candidate",
            Self::Approved => "approved",
            Self::Piloting => "piloting",
            Self::RollingOut => "rolling_out",
            Self::Released => "released",
            Self::Halted => "halted",
            Self::RolledBack => "rolled_back",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// `draft → frozen`: the feature freeze.
    pub fn freeze(self) -> Result<ReleaseState, TransitionError> {
        match self {
            Self::Draft => Ok(Self::Frozen),
            from => Err(TransitionError {
                from,
                action: "freeze",
                hint: "only a draft release can be frozen",
            }),
        }
    }

    /// Go: `frozen → approved` (R-REL-4: never before the feature freeze). The release
    /// enters the update feed. (`candidate` is kept only so that old rows read.)
    pub fn approve(self) -> Result<ReleaseState, TransitionError> {
        match self {
            Self::Frozen | Self::Candidate => Ok(Self::Approved),
            Self::Draft => Err(TransitionError {
                from: self,
                action: "approve",
                hint: "freeze it first: `relops release freeze`",
            }),
            from => Err(TransitionError {
                from,
                action: "approve",
                hint: "only a frozen release can be approved",
            }),
        }
    }

    /// In the feed and not withdrawn: approved, in rollout, released or halted.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Piloting | Self::RollingOut | Self::Released | Self::Halted
        )
    }

    pub fn artifact_policy(self) -> ArtifactPolicy {
        match self {
            Self::Draft => ArtifactPolicy::Open,
            Self::Frozen | Self::Candidate => ArtifactPolicy::CriticalFixOnly,
            _ => ArtifactPolicy::Closed,
        }
    }
}

impl FromStr for ReleaseState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown release state `{s}`"))
    }
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_only_from_draft() {
        assert_eq!(ReleaseState::Draft.freeze(), Ok(ReleaseState::Frozen));
        for s in ReleaseState::ALL
            .into_iter()
            .filter(|s| *s != ReleaseState::Draft)
        {
            let err = s.freeze().unwrap_err();
            assert_eq!(err.from, s);
        }
    }

    #[test]
    fn approve_from_before_the_feed_only() {
        for s in ReleaseState::ALL {
            let ok = matches!(s, ReleaseState::Frozen | ReleaseState::Candidate);
            assert_eq!(s.approve().is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn policies() {
        assert_eq!(ReleaseState::Draft.artifact_policy(), ArtifactPolicy::Open);
        assert_eq!(
            ReleaseState::Frozen.artifact_policy(),
            ArtifactPolicy::CriticalFixOnly
        );
        assert_eq!(
            ReleaseState::Approved.artifact_policy(),
            ArtifactPolicy::Closed
        );
    }

    #[test]
    fn names_round_trip() {
        for s in ReleaseState::ALL {
            assert_eq!(s.as_str().parse::<ReleaseState>().unwrap(), s);
        }
    }
}
