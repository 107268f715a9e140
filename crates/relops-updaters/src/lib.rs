//! The feeds other updaters read, rendered from relops's signed TUF targets: Sparkle's
//! appcast ([`sparkle`]), electron-updater's `latest.yml` ([`electron`]) and Velopack's
//! `releases.{channel}.json` ([`velopack`]). A team keeps the updater its app already has
//! and gets relops's gates, staged rollout, halts and rollbacks.
//!
//! Pure: the input is the targets of one signed `targets.json` (their `custom` objects carry
//! the rollout, any rollback directive and the file's digests and Ed25519 signature); which
//! release each updater is shown is decided in [`relops_core::offer::updaters`] by the
//! SDK's own rules. So every document changes exactly when the TUF feed does.
//!
//! File URLs are names relative to the document (`wizard-2.1.0-windows-x64.exe`): the
//! files are served next to it, and an exported directory works from any host. Sparkle's
//! appcast can carry absolute URLs instead ([`sparkle::Links`]).

use relops_core::offer::TargetCustom;
use sha2::{Digest, Sha256};

pub mod electron;
pub mod sparkle;
pub mod velopack;

/// One target of the signed `targets.json`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The flat target name, `{product}-{version}-{platform}.{kind}`: the file's name in
    /// every feed.
    pub name: &'a str,
    pub length: u64,
    /// Lowercase hex SHA-256.
    pub sha256: &'a str,
    pub custom: &'a TargetCustom,
}

/// A rendered feed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Shared, not copied, by every answer that sends it.
    pub body: bytes::Bytes,
    pub content_type: &'static str,
    /// A strong entity tag over the body.
    pub etag: String,
}

impl Document {
    fn new(body: Vec<u8>, content_type: &'static str) -> Self {
        let digest = Sha256::digest(&body);
        Self {
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
            body: body.into(),
            content_type,
        }
    }
}

/// The targets of `kind`s in order of preference, per release: for each version, the first
/// target whose kind comes first in `kinds` (ties by name). Versions keep their order.
fn preferred<'a>(targets: &[Target<'a>], kinds: &[&str]) -> Vec<Target<'a>> {
    let rank = |t: &Target<'_>| kinds.iter().position(|k| *k == t.custom.kind);
    let mut out: Vec<Target<'a>> = Vec::new();
    for t in targets.iter().filter(|t| rank(t).is_some()) {
        match out
            .iter_mut()
            .find(|o| o.custom.version == t.custom.version)
        {
            Some(o) if (rank(t), t.name) < (rank(o), o.name) => *o = *t,
            Some(_) => {}
            None => out.push(*t),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testing {
    //! Targets as `targets.json` carries them, for the renderers' tests.
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use relops_core::offer::{FeedRollout, FileFacts, TargetCustom};
    use relops_core::platform::Platform;
    use relops_core::rollout::{Percent, RolloutState, Stage};

    pub fn custom(version: &str, platform: Platform, kind: &str, stable: u16) -> TargetCustom {
        TargetCustom {
            product: "wizard".into(),
            version: version.parse().unwrap(),
            platform,
            kind: kind.into(),
            channels: vec!["internal".into(), "stable".into()],
            artifact: format!("WIZARD-{version}.{kind}"),
            release_signature: "00".into(),
            release_key_id: "k".into(),
            notes: Some(format!("notes/{version}.md")),
            notes_sha256: Some("ab".repeat(32)),
            rollout: Some(FeedRollout {
                state: if stable == 10_000 {
                    RolloutState::Completed
                } else {
                    RolloutState::Active
                },
                stage: Stage::P25,
                since: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
                salt: "01020304".into(),
                bps: BTreeMap::from([
                    ("internal".to_owned(), Percent::ALL),
                    ("stable".to_owned(), Percent::from_hundredths(stable)),
                ]),
            }),
            rollback: None,
            data_schema: None,
            minimum_os: None,
            security: None,
            file: Some(FileFacts {
                sha1: "11".repeat(20),
                sha512: "ff".repeat(64),
                ed25519: "ee".repeat(64),
            }),
        }
    }

    pub fn name(c: &TargetCustom) -> String {
        format!("wizard-{}-{}.{}", c.version, c.platform, c.kind)
    }

    /// The targets of `customs` under `names` (from [`name`]), each `length` bytes.
    pub fn targets<'a>(
        customs: &'a [TargetCustom],
        names: &'a [String],
        length: u64,
    ) -> Vec<crate::Target<'a>> {
        customs
            .iter()
            .zip(names)
            .map(|(c, n)| crate::Target {
                name: n,
                length,
                sha256: "ab",
                custom: c,
            })
            .collect()
    }
}
