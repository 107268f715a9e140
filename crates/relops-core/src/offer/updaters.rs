//! Which releases the feeds of other updaters list — Sparkle's appcast, electron-updater's
//! `latest.yml`, Velopack's `releases.{channel}.json` — from the same signed targets and by
//! the same rules as the SDK's offer ([`super::decide`]). Each updater says less about
//! itself than the SDK, and the difference is decided here, once:
//!
//! - **Sparkle** sends nothing about the install (unless the app puts an id in its feed
//!   URL) and never installs an older version: its appcast lists the releases offered to the
//!   asker, newest first — to the whole channel when it names no install, so a partial
//!   rollout reaches only apps that say who they are ([`listed`] without a version).
//! - **Velopack** sends its version and a staging id: it gets exactly the SDK's decision, a
//!   rollback's downgrade included, which it follows with `AllowVersionDowngrade`
//!   ([`listed`] with a version).
//! - **electron-updater** reads one release and buckets installs itself by
//!   `stagingPercentage`: the channel's newest rollout with its percentage
//!   ([`channel_release`]); a halt makes that 0, so nobody new gets it and, since the version
//!   stays named, nobody on it is sent back.
//!
//! Callers pass only the targets whose kind the updater installs.

use super::{TargetCustom, choose};
use crate::platform::Platform;
use crate::rollout::{Percent, RolloutState};
use crate::version::Version;

/// What an updater other than the SDK says about the install asking.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub product: &'a str,
    pub platform: Platform,
    pub channel: &'a str,
    /// A stable id of the install, if the updater sends one (Velopack's `stagingId`, an id
    /// the app puts in its Sparkle feed URL). Without one, a release counts as offered only
    /// when its rollout offers it to the whole channel.
    pub install_id: Option<&'a str>,
    /// The version the install runs, if the updater says (Velopack's `localVersion`).
    pub version: Option<&'a Version>,
}

/// The targets a feed lists for `asker`, newest release first (then by handle).
///
/// With the running version known: the targets of the one release the SDK's rules offer it
/// (perhaps older — a rollback), or none. Without it: the targets of every release offered
/// to the asker; the updater takes the newest that is newer than what it runs.
pub fn listed<'a, T: Ord + Clone>(
    asker: &Asker<'_>,
    targets: impl IntoIterator<Item = (T, &'a TargetCustom)>,
) -> Vec<(T, &'a TargetCustom)> {
    let mut mine: Vec<(T, &TargetCustom)> = targets
        .into_iter()
        .filter(|(_, c)| c.product == asker.product && c.platform == asker.platform)
        .collect();
    match asker.version {
        Some(running) => {
            let offered = choose(
                asker.product,
                asker.platform,
                asker.channel,
                running,
                asker.install_id,
                mine.iter().map(|(t, c)| (t.clone(), *c)),
            )
            .map(|o| o.version);
            mine.retain(|(_, c)| offered.as_ref() == Some(&c.version));
        }
        None => mine.retain(|(_, c)| {
            c.rollout
                .as_ref()
                .is_some_and(|r| r.offers_maybe(asker.channel, asker.install_id))
        }),
    }
    mine.sort_by(|(ta, a), (tb, b)| b.version.cmp(&a.version).then_with(|| ta.cmp(tb)));
    mine
}

/// The one release a channel-wide feed names, and for what share of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRelease {
    pub version: Version,
    /// Whole percent of the channel's installs it is for (rounded down, so never more than
    /// relops offers); `None` for all of them; `Some(0)` while halted.
    pub percent: Option<u8>,
}

/// The newest release of `product` for any of `platforms` whose rollout reaches `channel`
/// and has not been rolled back (a rolled-back release is never named: the release before
/// it is, which installs that allow downgrades go back to).
pub fn channel_release<'a>(
    product: &str,
    platforms: &[Platform],
    channel: &str,
    targets: impl IntoIterator<Item = &'a TargetCustom>,
) -> Option<ChannelRelease> {
    let (version, percent) = targets
        .into_iter()
        .filter(|c| c.product == product && platforms.contains(&c.platform))
        .filter_map(|c| {
            let r = c.rollout.as_ref()?;
            let bps = *r.bps.get(channel)?;
            let percent = match r.state {
                RolloutState::Halted => Some(0),
                _ if !r.live() || bps == Percent::ZERO => return None,
                _ if bps == Percent::ALL => None,
                _ => Some(u8::try_from(bps.hundredths() / 100).unwrap_or(100)),
            };
            Some((&c.version, percent))
        })
        .max_by(|a, b| a.0.cmp(b.0))?;
    Some(ChannelRelease {
        version: version.clone(),
        percent,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::offer::{FeedRollout, RollbackDirective};
    use crate::rollout::{Stage, in_rollout};

    const SALT: [u8; 4] = [1, 2, 3, 4];

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn target(version: &str, state: Option<(RolloutState, u16)>) -> TargetCustom {
        TargetCustom {
            product: "wizard".into(),
            version: v(version),
            platform: Platform::WindowsX64,
            kind: "nupkg".into(),
            channels: vec![],
            artifact: format!("wizard-{version}-full.nupkg"),
            release_signature: "00".into(),
            release_key_id: "k".into(),
            notes: None,
            notes_sha256: None,
            rollout: state.map(|(state, stable)| FeedRollout {
                state,
                stage: Stage::P25,
                since: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
                salt: hex::encode(SALT),
                bps: BTreeMap::from([
                    ("internal".to_owned(), Percent::ALL),
                    ("stable".to_owned(), Percent::from_hundredths(stable)),
                ]),
            }),
            rollback: None,
            data_schema: None,
            file: None,
            minimum_os: None,
            security: None,
        }
    }

    fn versions(list: &[(usize, &TargetCustom)]) -> Vec<String> {
        list.iter().map(|(_, c)| c.version.to_string()).collect()
    }

    fn asker<'a>(id: Option<&'a str>, version: Option<&'a Version>) -> Asker<'a> {
        Asker {
            product: "wizard",
            platform: Platform::WindowsX64,
            channel: "stable",
            install_id: id,
            version,
        }
    }

    fn id(inside: bool) -> String {
        (0..)
            .map(|i| format!("i-{i}"))
            .find(|id| in_rollout(&SALT, id, Percent::whole(25)) == inside)
            .unwrap()
    }

    #[test]
    fn without_a_version_every_offered_release_is_listed_newest_first() {
        let feed = [
            target("2.0.0", Some((RolloutState::Completed, 10_000))),
            target("2.1.0", Some((RolloutState::Active, 2_500))),
            target("2.2.0", None),
        ];
        let all = || feed.iter().enumerate();
        assert_eq!(
            versions(&listed(&asker(None, None), all())),
            ["2.0.0"],
            "a partial rollout is not offered to an install that does not say who it is"
        );
        let inside = id(true);
        assert_eq!(
            versions(&listed(&asker(Some(&inside), None), all())),
            ["2.1.0", "2.0.0"]
        );
        assert_eq!(
            versions(&listed(&asker(Some(&id(false)), None), all())),
            ["2.0.0"]
        );
        let mut other = asker(Some(&inside), None);
        other.platform = Platform::MacosUniversal;
        assert!(listed(&other, all()).is_empty());
    }

    #[test]
    fn with_a_version_it_is_the_sdk_decision_downgrade_included() {
        let mut good = target("2.0.0", Some((RolloutState::Completed, 10_000)));
        good.rollback = Some(RollbackDirective {
            from: vec![v("2.1.0")],
            reason: "r".into(),
            incident: "INC-1".into(),
        });
        let bad = target("2.1.0", Some((RolloutState::RolledBack, 2_500)));
        let feed = [good, bad];
        let (on_bad, on_old) = (v("2.1.0"), v("1.9.0"));
        let all = || feed.iter().enumerate();
        assert_eq!(
            versions(&listed(&asker(None, Some(&on_bad)), all())),
            ["2.0.0"]
        );
        assert_eq!(
            versions(&listed(&asker(None, Some(&on_old)), all())),
            ["2.0.0"]
        );
        let on_good = v("2.0.0");
        assert!(listed(&asker(None, Some(&on_good)), all()).is_empty());
    }

    #[test]
    fn one_release_per_channel_with_its_share() {
        let cr = |feed: &[TargetCustom], ch: &str| {
            channel_release("wizard", &[Platform::WindowsX64], ch, feed.iter())
        };
        let done = target("2.0.0", Some((RolloutState::Completed, 10_000)));
        let rolling = target("2.1.0", Some((RolloutState::Active, 2_550)));
        assert_eq!(
            cr(&[done.clone(), rolling.clone()], "stable"),
            Some(ChannelRelease {
                version: v("2.1.0"),
                percent: Some(25)
            })
        );
        assert_eq!(
            cr(&[done.clone(), rolling], "internal"),
            Some(ChannelRelease {
                version: v("2.1.0"),
                percent: None
            })
        );
        let halted = target("2.1.0", Some((RolloutState::Halted, 2_500)));
        assert_eq!(
            cr(&[done.clone(), halted], "stable").unwrap().percent,
            Some(0)
        );
        let rolled_back = target("2.1.0", Some((RolloutState::RolledBack, 2_500)));
        assert_eq!(
            cr(&[done.clone(), rolled_back], "stable"),
            Some(ChannelRelease {
                version: v("2.0.0"),
                percent: None
            })
        );
        assert_eq!(cr(&[done.clone(), target("2.1.0", None)], "beta"), None);
        assert_eq!(cr(&[done], "nightly"), None);
    }
}
