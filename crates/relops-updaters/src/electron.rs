//! electron-updater's `latest.yml` (Windows), `latest-mac.yml` and `latest-linux.yml`, as
//! electron-builder writes them: one release — the channel's newest rollout
//! ([`relops_core::offer::updaters::channel_release`]) — with its files, their SHA-512 in
//! base64, and `stagingPercentage` while the rollout has not reached everyone.
//!
//! electron-updater buckets installs itself (a random id it keeps per install), so the
//! percentage is relops's, the installs inside it are electron-updater's. A halt sets it to
//! 0: nobody new updates, and since the version stays named, nobody on it is sent back. A
//! rollback names the release before: apps built with `autoUpdater.allowDowngrade = true`
//! go back to it; others stay until a newer release.
//!
//! Written in YAML's JSON form (YAML 1.2 is a superset of JSON): every string is quoted, so
//! no YAML reader takes `releaseDate` for a timestamp or a version for a number —
//! electron-updater's js-yaml reads it as it reads electron-builder's block style.
//!
//! Files: Windows the `.exe` (NSIS), macOS the `.zip` (what Squirrel.Mac installs) and the
//! `.dmg`, Linux the `.AppImage` — of every platform of the OS, so electron-updater picks
//! the arm64 file on Apple silicon by its name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::SecondsFormat;
use relops_core::offer::updaters::channel_release;
use relops_core::platform::{Os, Platform};
use serde::Serialize;

use crate::{Document, Target};

/// The file electron-updater reads for `os`: `latest.yml`, `latest-mac.yml`,
/// `latest-linux.yml`.
pub fn file_name(os: Os) -> &'static str {
    match os {
        Os::Windows => "latest.yml",
        Os::Macos => "latest-mac.yml",
        Os::Linux => "latest-linux.yml",
    }
}

/// The OS a `latest*.yml` name is for.
pub fn os_of(file: &str) -> Option<Os> {
    [Os::Windows, Os::Macos, Os::Linux]
        .into_iter()
        .find(|os| file_name(*os) == file)
}

fn kinds(os: Os) -> &'static [&'static str] {
    match os {
        Os::Windows => &["exe"],
        Os::Macos => &["zip", "dmg"],
        Os::Linux => &["AppImage"],
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Latest {
    version: String,
    files: Vec<LatestFile>,
    path: String,
    sha512: String,
    release_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    staging_percentage: Option<u8>,
}

#[derive(Serialize)]
struct LatestFile {
    url: String,
    sha512: String,
    size: u64,
}

/// `latest*.yml` for `os` on `channel`, or `None` while no release reaches the channel.
pub fn latest(product: &str, channel: &str, os: Os, targets: &[Target<'_>]) -> Option<Document> {
    let platforms: Vec<Platform> = Platform::ALL.into_iter().filter(|p| p.os() == os).collect();
    let usable: Vec<&Target<'_>> = targets
        .iter()
        .filter(|t| kinds(os).contains(&t.custom.kind.as_str()) && t.custom.file.is_some())
        .collect();
    let release = channel_release(
        product,
        &platforms,
        channel,
        usable.iter().map(|t| t.custom),
    )?;
    let rank = |t: &Target<'_>| kinds(os).iter().position(|k| *k == t.custom.kind);
    let mut files: Vec<&Target<'_>> = usable
        .into_iter()
        .filter(|t| t.custom.version == release.version && platforms.contains(&t.custom.platform))
        .collect();
    files.sort_by_key(|t| (rank(t), t.name));
    let sha512 = |t: &Target<'_>| {
        let hex_digest = t.custom.file.as_ref().map_or("", |f| f.sha512.as_str());
        BASE64.encode(hex::decode(hex_digest).unwrap_or_default())
    };
    let first = files.first()?;
    let since = files.iter().find_map(|t| t.custom.rollout.as_ref())?.since;
    let doc = Latest {
        version: release.version.to_string(),
        path: first.name.to_owned(),
        sha512: sha512(first),
        files: files
            .iter()
            .map(|t| LatestFile {
                url: t.name.to_owned(),
                sha512: sha512(t),
                size: t.length,
            })
            .collect(),
        release_date: since.to_rfc3339_opts(SecondsFormat::Millis, true),
        staging_percentage: release.percent,
    };
    let mut body = serde_json::to_vec_pretty(&doc).expect("the document serialises");
    body.push(b'\n');
    Some(Document::new(body, "text/yaml; charset=utf-8"))
}

#[cfg(test)]
mod tests {
    use relops_core::rollout::RolloutState;

    use super::*;
    use crate::testing::{custom, name, targets};

    fn render(customs: &[relops_core::offer::TargetCustom], os: Os) -> Option<String> {
        let names: Vec<String> = customs.iter().map(name).collect();
        let targets = targets(customs, &names, 7);
        latest("wizard", "stable", os, &targets)
            .map(|d| String::from_utf8(d.body.to_vec()).unwrap())
    }

    #[test]
    fn the_newest_rollout_with_its_percentage() {
        let mut customs = vec![
            custom("2.0.0", Platform::WindowsX64, "exe", 10_000),
            custom("2.1.0", Platform::WindowsX64, "exe", 2_500),
            custom("2.1.0", Platform::WindowsX64, "msi", 2_500),
            custom("2.1.0", Platform::MacosArm64, "dmg", 2_500),
            custom("2.1.0", Platform::MacosArm64, "zip", 2_500),
        ];
        let yml = render(&customs, Os::Windows).unwrap();
        let sha = BASE64.encode([0xff; 64]);
        let doc: serde_json::Value = serde_json::from_str(&yml).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "version": "2.1.0",
                "files": [{"url": "wizard-2.1.0-windows-x64.exe", "sha512": sha, "size": 7}],
                "path": "wizard-2.1.0-windows-x64.exe",
                "sha512": sha,
                "releaseDate": "2027-01-15T08:00:00.000Z",
                "stagingPercentage": 25
            })
        );
        let mac = render(&customs, Os::Macos).unwrap();
        let mac: serde_json::Value = serde_json::from_str(&mac).unwrap();
        assert_eq!(mac["path"], "wizard-2.1.0-macos-arm64.zip");
        assert_eq!(mac["files"][1]["url"], "wizard-2.1.0-macos-arm64.dmg");
        assert_eq!(render(&customs, Os::Linux), None);
        // Halted: the version stays, nobody new gets it.
        for c in customs
            .iter_mut()
            .filter(|c| c.version.to_string() == "2.1.0")
        {
            c.rollout.as_mut().unwrap().state = RolloutState::Halted;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&render(&customs, Os::Windows).unwrap()).unwrap();
        assert_eq!(
            (&doc["version"], &doc["stagingPercentage"]),
            (&"2.1.0".into(), &0.into())
        );
        // Rolled back: the release before, for everyone.
        for c in customs
            .iter_mut()
            .filter(|c| c.version.to_string() == "2.1.0")
        {
            c.rollout.as_mut().unwrap().state = RolloutState::RolledBack;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&render(&customs, Os::Windows).unwrap()).unwrap();
        assert_eq!(doc["version"], "2.0.0");
        assert!(doc.get("stagingPercentage").is_none(), "{doc}");
    }
}
