//! Velopack's `releases.{channel}.json`: the `.nupkg` full packages a Velopack app may
//! update to. Velopack asks with `?localVersion=…&id=…&stagingId=…`, so it gets exactly the
//! SDK's decision ([`relops_core::offer::updaters::listed`] with a version): the release its
//! staging id is inside the rollout of, or the rollback's target — an older version, which
//! Velopack installs with `AllowVersionDowngrade` — or nothing. Velopack takes the newest
//! `Full` asset and checks the download's size and SHA-1.

use relops_core::offer::updaters::{Asker, listed};
use serde::Serialize;

use crate::{Document, Target};

/// One asset, as Velopack's `VelopackAsset` reads it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Asset<'a> {
    package_id: &'a str,
    version: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    file_name: &'a str,
    #[serde(rename = "SHA1")]
    sha1: &'a str,
    #[serde(rename = "SHA256")]
    sha256: &'a str,
    size: u64,
    notes_markdown: &'static str,
    notes_html: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Feed<'a> {
    assets: Vec<Asset<'a>>,
}

/// `releases.{channel}.json` for `asker`.
pub fn releases(asker: &Asker<'_>, targets: &[Target<'_>]) -> Document {
    let usable: Vec<&Target<'_>> = targets
        .iter()
        .filter(|t| t.custom.kind == "nupkg" && t.custom.file.is_some())
        .collect();
    let assets = listed(asker, usable.iter().enumerate().map(|(i, t)| (i, t.custom)))
        .into_iter()
        .map(|(i, _)| usable[i])
        .map(|t| Asset {
            package_id: &t.custom.product,
            version: t.custom.version.to_string(),
            kind: "Full",
            file_name: t.name,
            sha1: t.custom.file.as_ref().map_or("", |f| f.sha1.as_str()),
            sha256: t.sha256,
            size: t.length,
            notes_markdown: "",
            notes_html: "",
        })
        .collect();
    let body = serde_json::to_vec_pretty(&Feed { assets }).expect("the feed serialises");
    Document::new(body, "application/json")
}

#[cfg(test)]
mod tests {
    use relops_core::platform::Platform;
    use relops_core::rollout::RolloutState;

    use super::*;
    use crate::testing::{custom, name, targets};

    #[test]
    fn the_sdk_decision_as_velopack_assets() {
        let mut customs = [
            custom("2.0.0", Platform::WindowsX64, "nupkg", 10_000),
            custom("2.0.0", Platform::WindowsX64, "exe", 10_000),
            custom("2.1.0", Platform::WindowsX64, "nupkg", 10_000),
        ];
        customs[2].rollout.as_mut().unwrap().state = RolloutState::RolledBack;
        customs[0].rollback = Some(relops_core::offer::RollbackDirective {
            from: vec!["2.1.0".parse().unwrap()],
            reason: "r".into(),
            incident: "INC-1".into(),
        });
        let names: Vec<String> = customs.iter().map(name).collect();
        let targets = targets(&customs, &names, 9);
        let on_bad = "2.1.0".parse().unwrap();
        let asker = Asker {
            product: "wizard",
            platform: Platform::WindowsX64,
            channel: "stable",
            install_id: Some("i-1"),
            version: Some(&on_bad),
        };
        let feed: serde_json::Value =
            serde_json::from_slice(&releases(&asker, &targets).body).unwrap();
        assert_eq!(
            feed,
            serde_json::json!({"Assets": [{
                "PackageId": "wizard", "Version": "2.0.0", "Type": "Full",
                "FileName": "wizard-2.0.0-windows-x64.nupkg", "SHA1": "11".repeat(20),
                "SHA256": "ab", "Size": 9, "NotesMarkdown": "", "NotesHtml": ""
            }]})
        );
        let on_good = "2.0.0".parse().unwrap();
        let asker = Asker {
            version: Some(&on_good),
            ..asker
        };
        let feed: serde_json::Value =
            serde_json::from_slice(&releases(&asker, &targets).body).unwrap();
        assert_eq!(feed, serde_json::json!({"Assets": []}));
    }
}
