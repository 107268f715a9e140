//! Delta updates in the feed (issue 29, part 5): which pairs of targets get a delta, and the
//! signed `custom` object of a delta target.
//!
//! A release's artifact gets deltas from the two releases before it that the feed still
//! lists for the same platform and kind (the rollback stock, R-RB-3): an install holding
//! either's file can rebuild the new one from a small download. Only kinds the SDK installs
//! ([`ArtifactKind::sdk_installs`]) and only releases with one artifact of that kind for
//! the platform (with several, which file is which release's successor is a guess).
//!
//! A delta target's `custom` is `{"delta": {…}}` ([`DeltaCustom`]): it is not a
//! [`TargetCustom`](super::TargetCustom), so [`decide`](super::decide), the server's
//! `/v1/update`, other updaters' feeds and SDKs that predate deltas all skip it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::artifact::ArtifactKind;
use crate::platform::Platform;
use crate::version::Version;

/// How many older releases a release gets deltas from.
pub const BASES: usize = 2;

/// The format of every delta relops makes (`relops_delta::MAGIC`).
pub const FORMAT: &str = "RLDELTA1";

/// The `custom` object of a delta target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaCustom {
    pub delta: DeltaOf,
}

/// What a delta rebuilds, and from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaOf {
    /// The target it rebuilds, byte for byte (verified as that target's full download).
    pub target: String,
    /// The target whose file it is applied to, its release, length and SHA-256.
    pub base_target: String,
    pub base_version: Version,
    pub base_length: u64,
    pub base_sha256: String,
    /// [`FORMAT`].
    pub format: String,
}

/// A target as far as pairing cares.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub version: &'a Version,
    pub platform: Platform,
    pub kind: &'a str,
}

/// A release's version and its targets (indices) of one platform and kind.
type Release<'a> = (&'a Version, Vec<usize>);

/// The pairs `(new, base)` (indices into `targets`) that get a delta: each target with the
/// [`BASES`] newest older releases of its platform and kind.
pub fn pairs(targets: &[Candidate<'_>]) -> Vec<(usize, usize)> {
    // (platform, kind) → its releases, each with its targets.
    let mut groups: HashMap<(Platform, &str), Vec<Release<'_>>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        if !ArtifactKind::parse(t.kind).is_some_and(ArtifactKind::sdk_installs) {
            continue;
        }
        let releases = groups.entry((t.platform, t.kind)).or_default();
        match releases.iter_mut().find(|(v, _)| *v == t.version) {
            Some((_, of)) => of.push(i),
            None => releases.push((t.version, vec![i])),
        }
    }
    let mut out = Vec::new();
    for releases in groups.values_mut() {
        releases.sort_by(|a, b| b.0.cmp(a.0));
        for (n, (_, new)) in releases.iter().enumerate() {
            let [new] = new.as_slice() else { continue };
            for (_, base) in releases.iter().skip(n + 1).take(BASES) {
                if let [base] = base.as_slice() {
                    out.push((*new, *base));
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// A delta target's name: the new target's, with the base release it applies to.
pub fn target_name(new_target: &str, base_version: &Version) -> String {
    format!("{new_target}.from-{base_version}.delta")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn each_release_pairs_with_the_two_before_it_of_its_platform_and_kind() {
        let vs = [v("2.1.3"), v("2.1.2"), v("2.1.1"), v("2.1.0")];
        let mut ts: Vec<Candidate> = vs
            .iter()
            .map(|version| Candidate {
                version,
                platform: Platform::MacosUniversal,
                kind: "dmg",
            })
            .collect();
        // Another platform's release is never a base; nor a kind the SDK does not install.
        ts.push(Candidate {
            version: &vs[1],
            platform: Platform::WindowsX64,
            kind: "msi",
        });
        ts.push(Candidate {
            version: &vs[0],
            platform: Platform::WindowsX64,
            kind: "exe",
        });
        ts.push(Candidate {
            version: &vs[2],
            platform: Platform::WindowsX64,
            kind: "exe",
        });
        assert_eq!(pairs(&ts), vec![(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]);
    }

    #[test]
    fn a_release_with_two_files_of_one_kind_gets_no_delta() {
        let vs = [v("2.1.1"), v("2.1.0")];
        let ts = [
            Candidate {
                version: &vs[0],
                platform: Platform::LinuxX64,
                kind: "tar.gz",
            },
            Candidate {
                version: &vs[0],
                platform: Platform::LinuxX64,
                kind: "tar.gz",
            },
            Candidate {
                version: &vs[1],
                platform: Platform::LinuxX64,
                kind: "tar.gz",
            },
        ];
        assert!(pairs(&ts).is_empty());
    }

    #[test]
    fn a_delta_custom_is_no_target_custom() {
        let d = DeltaCustom {
            delta: DeltaOf {
                target: "wizard-2.1.1-macos-universal.dmg".into(),
                base_target: "wizard-2.1.0-macos-universal.dmg".into(),
                base_version: v("2.1.0"),
                base_length: 10,
                base_sha256: "00".repeat(32),
                format: FORMAT.into(),
            },
        };
        let json = serde_json::to_value(&d).unwrap();
        assert!(serde_json::from_value::<super::super::TargetCustom>(json.clone()).is_err());
        assert_eq!(serde_json::from_value::<DeltaCustom>(json).unwrap(), d);
    }
}
