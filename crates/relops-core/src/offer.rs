//! What the feed offers one install: the single decision behind the SDK's `check()` and the
//! server's `GET /v1/update` (DESIGN decision 4). Both parse each target's signed `custom`
//! object into a [`TargetCustom`] and call [`decide`]; there is no second implementation.
//!
//! The rules, in order:
//! 1. Only targets of the install's product and platform count.
//! 2. A release is offered to an install when its rollout is `active`, `paused` or
//!    `completed`, the install's channel has a percentage in the rollout, and the install's
//!    bucket is inside it ([`crate::rollout::in_rollout`]). A `halted` rollout offers itself
//!    to nobody new (installs that have it keep it); a `rolled_back` one to nobody.
//! 3. Of the offered releases newer than the running version, the newest wins — so an
//!    install outside the newest rollout still gets the newest fully released version.
//! 4. An install running a version named in a rollback directive (`rollback.from`) and
//!    offered nothing newer is offered the directive's release: a downgrade.
//! 5. Only kinds the SDK installs count ([`ArtifactKind::sdk_installs`]): a `.exe` setup
//!    program or a `.nupkg` is listed for other updaters ([`updaters`]), never offered here.
//!
//! The feeds for Sparkle, electron-updater and Velopack choose with the same rules from the
//! same targets: [`updaters`]. Delta targets carry another `custom` ([`deltas`]), which
//! every reader of [`TargetCustom`] skips.

pub mod deltas;
pub mod updaters;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::artifact::ArtifactKind;
use crate::platform::Platform;
use crate::rollout::{Percent, RolloutState, Stage, in_rollout};
use crate::version::Version;

/// The `custom` object of each target in the signed feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCustom {
    pub product: String,
    pub version: Version,
    pub platform: Platform,
    /// Artifact kind (`dmg`, `msi`, …).
    pub kind: String,
    /// The channels the release is offered on now (the keys of `rollout.bps`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// The artifact's own file name (what the release key signed).
    pub artifact: String,
    /// Hex Ed25519 signature by the release key, made at upload and never re-made.
    pub release_signature: String,
    pub release_key_id: String,
    /// Release notes, relative to the feed's base URL, and their SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_sha256: Option<String>,
    /// Absent while the release is approved but its rollout has not started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<FeedRollout>,
    /// Present on the release that installs of `from` versions must go back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackDirective>,
    /// The schema of the data this release reads and writes, and how far back its
    /// down-migrations reach (R-RB-7): before installing a rollback target, the app
    /// migrates its data down to the target's `schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_schema: Option<crate::data_schema::DataSchema>,
    /// Digests and a signature of the file itself, for updaters that are not TUF clients
    /// (absent on artifacts uploaded before relops made them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileFacts>,
    /// The oldest operating system version the file runs on (`11.0`), where declared:
    /// Sparkle's `minimumSystemVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_os: Option<String>,
    /// The security advisory the release fixes, where declared: Sparkle's `criticalUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
}

/// What Sparkle, electron-updater and Velopack check a downloaded file against, made from
/// the stored file's bytes right after its upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// Lowercase hex SHA-1 (Velopack checks it).
    pub sha1: String,
    /// Lowercase hex SHA-512 (electron-updater checks it, base64 in `latest.yml`).
    pub sha512: String,
    /// Hex Ed25519 signature by the release key over the file's bytes (Sparkle's
    /// `sparkle:edSignature`, base64 in the appcast).
    pub ed25519: String,
}

/// The rollout state a target carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRollout {
    pub state: RolloutState,
    pub stage: Stage,
    /// When the current stage was entered.
    pub since: DateTime<Utc>,
    /// The release's bucketing salt, hex.
    pub salt: String,
    /// The share of each channel offered the release, in basis points (hundredths of a
    /// percent): `{"internal": 10000, "stable": 2500}`.
    pub bps: BTreeMap<String, Percent>,
}

impl FeedRollout {
    /// The state a rollout carries in the feed: the pilot channel is offered the release in
    /// full from the first stage on; the production channel gets the stage's percentage (or
    /// the one a halt froze).
    pub fn of(
        rollout: &crate::rollout::Rollout,
        salt_hex: &str,
        pilot_channel: &str,
        production_channel: &str,
    ) -> Self {
        let mut bps = BTreeMap::new();
        bps.insert(pilot_channel.to_owned(), Percent::ALL);
        bps.insert(production_channel.to_owned(), rollout.percent);
        Self {
            state: rollout.state,
            stage: rollout.stage,
            since: rollout.since,
            salt: salt_hex.to_owned(),
            bps,
        }
    }

    /// Does the rollout offer the release at all (`active`, `paused` or `completed`)?
    pub fn live(&self) -> bool {
        matches!(
            self.state,
            RolloutState::Active | RolloutState::Paused | RolloutState::Completed
        )
    }

    /// Is an install on `channel` with `install_id` offered the release?
    pub fn offers(&self, channel: &str, install_id: &str) -> bool {
        let Some(percent) = self.bps.get(channel) else {
            return false;
        };
        let Ok(salt) = hex::decode(&self.salt) else {
            return false;
        };
        self.live() && in_rollout(&salt, install_id, *percent)
    }

    /// Is every install on `channel` offered the release, whoever it is?
    pub fn offers_everyone(&self, channel: &str) -> bool {
        self.live() && self.bps.get(channel) == Some(&Percent::ALL)
    }

    /// [`offers`](Self::offers) for a known install, else
    /// [`offers_everyone`](Self::offers_everyone).
    pub fn offers_maybe(&self, channel: &str, install_id: Option<&str>) -> bool {
        match install_id {
            Some(id) => self.offers(channel, id),
            None => self.offers_everyone(channel),
        }
    }
}

/// A signed instruction to go back: installs running any of `from` install this release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackDirective {
    pub from: Vec<Version>,
    pub reason: String,
    pub incident: String,
}

/// What an install says about itself.
#[derive(Debug, Clone, Copy)]
pub struct Install<'a> {
    pub product: &'a str,
    pub platform: Platform,
    pub channel: &'a str,
    pub version: &'a Version,
    pub install_id: &'a str,
}

/// The target an install should install now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer<T> {
    /// The caller's handle of the chosen target (its name, usually).
    pub target: T,
    pub version: Version,
    /// The offered version is older than the running one (a rollback directive).
    pub downgrade: bool,
}

/// The decision for one install over the feed's targets. Among several targets of one
/// version and platform (e.g. a `.dmg` and a `.zip`), the smallest handle wins, so every
/// caller chooses the same file.
pub fn decide<'a, T: Ord + Clone>(
    install: &Install<'_>,
    targets: impl IntoIterator<Item = (T, &'a TargetCustom)>,
) -> Option<Offer<T>> {
    let installable = targets
        .into_iter()
        .filter(|(_, c)| ArtifactKind::parse(&c.kind).is_some_and(ArtifactKind::sdk_installs));
    choose(
        install.product,
        install.platform,
        install.channel,
        install.version,
        Some(install.install_id),
        installable,
    )
}

/// Rules 1–4 for an install that may not say who it is (`install_id` `None`: only what is
/// offered to its whole channel counts as offered).
pub(crate) fn choose<'a, T: Ord + Clone>(
    product: &str,
    platform: Platform,
    channel: &str,
    version: &Version,
    install_id: Option<&str>,
    targets: impl IntoIterator<Item = (T, &'a TargetCustom)>,
) -> Option<Offer<T>> {
    let mut forward: Option<(T, &TargetCustom)> = None;
    let mut back: Option<(T, &TargetCustom)> = None;
    let better = |cur: &Option<(T, &TargetCustom)>, t: &T, c: &TargetCustom| match cur {
        None => true,
        Some((ct, cc)) => c.version > cc.version || (c.version == cc.version && t < ct),
    };
    for (t, c) in targets {
        if c.product != product || c.platform != platform {
            continue;
        }
        let rollout = c.rollout.as_ref();
        if c.version > *version
            && rollout.is_some_and(|r| r.offers_maybe(channel, install_id))
            && better(&forward, &t, c)
        {
            forward = Some((t.clone(), c));
        }
        let directed = c
            .rollback
            .as_ref()
            .is_some_and(|d| d.from.contains(version));
        let usable = rollout.is_none_or(|r| r.state != RolloutState::RolledBack);
        if directed && usable && c.version < *version && better(&back, &t, c) {
            back = Some((t, c));
        }
    }
    match (forward, back) {
        (Some((t, c)), _) => Some(Offer {
            target: t,
            version: c.version.clone(),
            downgrade: false,
        }),
        (None, Some((t, c))) => Some(Offer {
            target: t,
            version: c.version.clone(),
            downgrade: true,
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn target(version: &str, rollout: Option<FeedRollout>) -> TargetCustom {
        TargetCustom {
            product: "wizard".into(),
            version: v(version),
            platform: Platform::MacosUniversal,
            kind: "dmg".into(),
            channels: rollout
                .as_ref()
                .map(|r| r.bps.keys().cloned().collect())
                .unwrap_or_default(),
            artifact: format!("WIZARD-{version}.dmg"),
            release_signature: "00".into(),
            release_key_id: "k".into(),
            notes: None,
            notes_sha256: None,
            rollout,
            rollback: None,
            data_schema: None,
            file: None,
            minimum_os: None,
            security: None,
        }
    }

    fn rollout(state: RolloutState, stable: u8) -> FeedRollout {
        FeedRollout {
            state,
            stage: Stage::P25,
            since: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
            salt: "0a0b0c0d".into(),
            bps: [
                ("internal".to_owned(), Percent::ALL),
                ("stable".to_owned(), Percent::whole(stable)),
            ]
            .into(),
        }
    }

    fn install<'a>(channel: &'a str, version: &'a Version, id: &'a str) -> Install<'a> {
        Install {
            product: "wizard",
            platform: Platform::MacosUniversal,
            channel,
            version,
            install_id: id,
        }
    }

    fn ask(targets: &[TargetCustom], i: &Install<'_>) -> Option<(String, bool)> {
        decide(
            i,
            targets
                .iter()
                .map(|t| (format!("{}-{}", t.version, t.kind), t)),
        )
        .map(|o| (o.version.to_string(), o.downgrade))
    }

    /// An install id inside (or outside) `percent` for the test salt.
    fn id_with(inside: bool, percent: u8) -> String {
        (0..)
            .map(|i| format!("install-{i}"))
            .find(|id| {
                in_rollout(&[10, 11, 12, 13], id, Percent::whole(percent)) == inside
                    && in_rollout(&[10, 11, 12, 13], id, Percent::whole(percent / 2)) == inside
            })
            .unwrap()
    }

    #[test]
    fn newest_offered_release_wins_and_outsiders_get_the_released_one() {
        let released = target("2.0.3", Some(rollout(RolloutState::Completed, 100)));
        let rolling = target("2.1.0", Some(rollout(RolloutState::Active, 25)));
        let approved_only = target("2.2.0", None);
        let all = [released, rolling, approved_only];
        let old = v("2.0.0");
        let (inside, outside) = (id_with(true, 25), id_with(false, 25));
        assert_eq!(
            ask(&all, &install("stable", &old, &inside)),
            Some(("2.1.0".into(), false))
        );
        assert_eq!(
            ask(&all, &install("stable", &old, &outside)),
            Some(("2.0.3".into(), false)),
            "outside the rollout: the newest fully released version, not nothing"
        );
        assert_eq!(
            ask(&all, &install("internal", &old, &outside)),
            Some(("2.1.0".into(), false)),
            "the internal channel gets the whole rollout"
        );
        assert_eq!(ask(&all, &install("beta", &old, &inside)), None);
        let current = v("2.1.0");
        assert_eq!(ask(&all, &install("stable", &current, &inside)), None);
    }

    #[test]
    fn a_halt_offers_nobody_new_and_a_rollback_sends_installs_back() {
        let old = v("2.0.3");
        let inside = id_with(true, 25);
        let mut released = target("2.0.3", Some(rollout(RolloutState::Completed, 100)));
        let halted = target("2.1.0", Some(rollout(RolloutState::Halted, 25)));
        assert_eq!(
            ask(
                &[released.clone(), halted.clone()],
                &install("stable", &old, &inside)
            ),
            None
        );
        let paused = target("2.1.0", Some(rollout(RolloutState::Paused, 25)));
        assert_eq!(
            ask(&[paused], &install("stable", &old, &inside)),
            Some(("2.1.0".into(), false)),
            "a pause stops the plan, not the offer"
        );

        let rolled_back = target("2.1.0", Some(rollout(RolloutState::RolledBack, 25)));
        released.rollback = Some(RollbackDirective {
            from: vec![v("2.1.0")],
            reason: "crash on start".into(),
            incident: "INC-1".into(),
        });
        let feed = [released.clone(), rolled_back.clone()];
        let bad = v("2.1.0");
        assert_eq!(
            ask(&feed, &install("stable", &bad, &inside)),
            Some(("2.0.3".into(), true))
        );
        assert_eq!(
            ask(&feed, &install("stable", &old, &inside)),
            None,
            "installs that never had it stay"
        );
        // A fix rolled out later wins over the downgrade for those inside its rollout.
        let fix = target("2.1.1", Some(rollout(RolloutState::Active, 25)));
        let feed = [released, rolled_back, fix];
        assert_eq!(
            ask(&feed, &install("stable", &bad, &inside)),
            Some(("2.1.1".into(), false))
        );
        assert_eq!(
            ask(&feed, &install("stable", &bad, &id_with(false, 25))),
            Some(("2.0.3".into(), true))
        );
    }

    #[test]
    fn ties_pick_the_smallest_handle_and_other_platforms_do_not_count() {
        let mut zip = target("2.0.3", Some(rollout(RolloutState::Completed, 100)));
        zip.kind = "zip".into();
        let dmg = target("2.0.3", Some(rollout(RolloutState::Completed, 100)));
        let mut win = target("2.0.9", Some(rollout(RolloutState::Completed, 100)));
        win.platform = Platform::WindowsX64;
        let old = v("2.0.0");
        let offer = decide(
            &install("stable", &old, "x"),
            [("b-zip", &zip), ("a-dmg", &dmg), ("c-win", &win)],
        )
        .unwrap();
        assert_eq!((offer.target, offer.version), ("a-dmg", v("2.0.3")));
        // A setup program is for electron-updater, not the SDK, whatever its name.
        let mut exe = target("2.0.9", Some(rollout(RolloutState::Completed, 100)));
        exe.kind = "exe".into();
        let offer = decide(
            &install("stable", &old, "x"),
            [("a-exe", &exe), ("b-dmg", &dmg)],
        )
        .unwrap();
        assert_eq!((offer.target, offer.version), ("b-dmg", v("2.0.3")));
    }

    #[test]
    fn the_custom_object_round_trips_as_the_feed_carries_it() {
        let mut t = target("2.1.0", Some(rollout(RolloutState::Active, 25)));
        t.rollback = Some(RollbackDirective {
            from: vec![v("2.2.0")],
            reason: "r".into(),
            incident: "INC-7".into(),
        });
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            json.contains(r#""bps":{"internal":10000,"stable":2500}"#),
            "{json}"
        );
        assert!(json.contains(r#""stage":"25""#), "{json}");
        assert!(json.contains(r#""from":["2.2.0"]"#), "{json}");
        assert!(json.contains(r#""platform":"macos-universal""#), "{json}");
        assert_eq!(serde_json::from_str::<TargetCustom>(&json).unwrap(), t);
        // Targets signed before rollouts existed (no `rollout`, no `channels`) still parse.
        let old = r#"{"product":"wizard","version":"2.0.0","platform":"windows-x64","kind":"msi",
            "artifact":"a.msi","release_signature":"00","release_key_id":"k","extra":1}"#;
        let parsed: TargetCustom = serde_json::from_str(old).unwrap();
        assert_eq!(parsed.rollout, None);
    }
}
