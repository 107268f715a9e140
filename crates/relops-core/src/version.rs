//! Release versions, branches, tags and kinds (R-REL-1, R-REL-2, R-REL-3).
//!
//! A release version is exactly `MAJOR.MINOR.PATCH` in SemVer's sense: three decimal
//! numbers without leading zeros, no pre-release and no build metadata. The release line
//! of `2.1.3` lives on branch `release/v2.1.x` and the release is tagged `v2.1.3`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a version, branch or tag was refused. Each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    #[error(
        "`{0}` is not a release version: expected SemVer MAJOR.MINOR.PATCH, e.g. 2.1.0 (no leading zeros, no pre-release or build suffix)"
    )]
    NotSemver(String),
    #[error(
        "branch `{branch}` does not match version {version}: expected `release/v{major}.{minor}.x`"
    )]
    BranchMismatch {
        branch: String,
        version: Version,
        major: u64,
        minor: u64,
    },
    #[error("tag `{tag}` does not match version {version}: expected `v{version}`")]
    TagMismatch { tag: String, version: Version },
    #[error("commit `{0}` is not a git commit id: expected 7 to 64 hexadecimal characters")]
    BadCommit(String),
}

/// A release version: SemVer `MAJOR.MINOR.PATCH` and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
    pub fn major(&self) -> u64 {
        self.major
    }
    pub fn minor(&self) -> u64 {
        self.minor
    }
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The release branch this version belongs on: `release/vMAJOR.MINOR.x`.
    pub fn branch(&self) -> String {
        format!("release/v{}.{}.x", self.major, self.minor)
    }

    /// The git tag of this release: `vMAJOR.MINOR.PATCH`.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }

    /// Refuses a branch that is not this version's release line.
    pub fn check_branch(&self, branch: &str) -> Result<(), VersionError> {
        if branch == self.branch() {
            Ok(())
        } else {
            Err(VersionError::BranchMismatch {
                branch: branch.to_owned(),
                version: self.clone(),
                major: self.major,
                minor: self.minor,
            })
        }
    }

    /// Refuses a tag that is not `v` + this version.
    pub fn check_tag(&self, tag: &str) -> Result<(), VersionError> {
        if tag == self.tag() {
            Ok(())
        } else {
            Err(VersionError::TagMismatch {
                tag: tag.to_owned(),
                version: self.clone(),
            })
        }
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError::NotSemver(s.to_owned());
        let v = semver::Version::parse(s).map_err(|_| bad())?;
        if !v.pre.is_empty() || !v.build.is_empty() {
            return Err(bad());
        }
        Ok(Self::new(v.major, v.minor, v.patch))
    }
}

impl TryFrom<String> for Version {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Checks a git commit id (abbreviated or full SHA-1/SHA-256, lowercase or uppercase hex).
pub fn check_commit(commit: &str) -> Result<(), VersionError> {
    let ok = (7..=64).contains(&commit.len()) && commit.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(VersionError::BadCommit(commit.to_owned()))
    }
}

/// What kind of release a version is (R-REL-3): regulatory minor releases, ad-hoc patches,
/// and the occasional major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Major,
    Minor,
    Patch,
}

impl ReleaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Patch => "patch",
        }
    }

    /// The kind of `version` against the release just below it (`previous`).
    ///
    /// With no previous release the version speaks for itself: `X.0.0` is a major,
    /// `X.Y.0` a minor, anything else a patch.
    pub fn infer(previous: Option<&Version>, version: &Version) -> Self {
        match previous {
            Some(p) if p.major != version.major => Self::Major,
            Some(p) if p.minor != version.minor => Self::Minor,
            Some(_) => Self::Patch,
            None if version.minor == 0 && version.patch == 0 => Self::Major,
            None if version.patch == 0 => Self::Minor,
            None => Self::Patch,
        }
    }
}

impl FromStr for ReleaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "major" => Ok(Self::Major),
            "minor" => Ok(Self::Minor),
            "patch" => Ok(Self::Patch),
            other => Err(format!("unknown release kind `{other}`")),
        }
    }
}

impl fmt::Display for ReleaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The release just below `version` among `existing`, if any.
pub fn previous_of<'a>(
    existing: impl IntoIterator<Item = &'a Version>,
    version: &Version,
) -> Option<&'a Version> {
    existing.into_iter().filter(|v| *v < version).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_accepted_and_refused() {
        let cases: &[(&str, bool)] = &[
            ("2.1.0", true),
            ("0.0.1", true),
            ("10.20.30", true),
            ("2.1", false),
            ("2", false),
            ("v2.1.0", false),
            ("2.1.0-rc.1", false),
            ("2.1.0+build.5", false),
            ("02.1.0", false),
            ("2.01.0", false),
            ("2.1.0.4", false),
            ("", false),
            (" 2.1.0", false),
            ("2.1.x", false),
            ("-1.0.0", false),
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<Version>().is_ok(), *ok, "input {input:?}");
        }
    }

    #[test]
    fn refusal_message_shows_expected_form() {
        let err = "2.1".parse::<Version>().unwrap_err().to_string();
        assert!(err.contains("MAJOR.MINOR.PATCH"), "{err}");
        assert!(err.contains("2.1.0"), "{err}");
    }

    #[test]
    fn branches_and_tags() {
        let v: Version = "2.1.3".parse().unwrap();
        assert!(v.check_branch("release/v2.1.x").is_ok());
        for bad in [
            "release/v2.2.x",
            "release/2.1.x",
            "release/v2.1",
            "main",
            "release/v2.1.3",
        ] {
            let err = v.check_branch(bad).unwrap_err();
            assert!(err.to_string().contains("release/v2.1.x"), "{err}");
        }
        assert!(v.check_tag("v2.1.3").is_ok());
        for bad in ["2.1.3", "v2.1.4", "v2.1", "V2.1.3", "release-2.1.3"] {
            let err = v.check_tag(bad).unwrap_err();
            assert!(err.to_string().contains("v2.1.3"), "{err}");
        }
    }

    #[test]
    fn commits() {
        assert!(check_commit("a1b2c3d").is_ok());
        assert!(check_commit(&"f".repeat(40)).is_ok());
        assert!(check_commit("a1b2c3").is_err());
        assert!(check_commit("xyz1234").is_err());
        assert!(check_commit(&"a".repeat(65)).is_err());
    }

    #[test]
    fn kinds() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        let cases = [
            (None, "2.0.0", ReleaseKind::Major),
            (None, "2.1.0", ReleaseKind::Minor),
            (None, "2.1.4", ReleaseKind::Patch),
            (Some("2.0.5"), "2.1.0", ReleaseKind::Minor),
            (Some("2.1.0"), "2.1.1", ReleaseKind::Patch),
            (Some("1.9.9"), "2.0.0", ReleaseKind::Major),
            (Some("1.9.9"), "2.1.0", ReleaseKind::Major),
            (Some("2.0.0"), "2.0.3", ReleaseKind::Patch),
        ];
        for (prev, cur, kind) in cases {
            let prev = prev.map(v);
            assert_eq!(
                ReleaseKind::infer(prev.as_ref(), &v(cur)),
                kind,
                "{prev:?} -> {cur}"
            );
        }
    }

    #[test]
    fn previous_is_the_highest_below() {
        let all: Vec<Version> = ["1.0.0", "2.0.0", "2.1.0", "2.2.0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let v: Version = "2.1.5".parse().unwrap();
        assert_eq!(previous_of(&all, &v).unwrap().to_string(), "2.1.0");
        let first: Version = "0.9.0".parse().unwrap();
        assert!(previous_of(&all, &first).is_none());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(a in 0u64..100_000, b in 0u64..100_000, c in 0u64..100_000) {
            let v = Version::new(a, b, c);
            let back: Version = v.to_string().parse().unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert!(v.check_branch(&v.branch()).is_ok());
            prop_assert!(v.check_tag(&v.tag()).is_ok());
        }

        #[test]
        fn ordering_matches_numeric_tuple(a in 0u64..50, b in 0u64..50, c in 0u64..50,
                                         x in 0u64..50, y in 0u64..50, z in 0u64..50) {
            let l = Version::new(a, b, c);
            let r = Version::new(x, y, z);
            prop_assert_eq!(l.cmp(&r), (a, b, c).cmp(&(x, y, z)));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,20}") {
            let _ = s.parse::<Version>();
        }
    }
}
