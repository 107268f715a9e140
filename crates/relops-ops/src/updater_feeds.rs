//! The feeds of other updaters — Sparkle's appcast, electron-updater's `latest*.yml`,
//! Velopack's `releases.{channel}.json` — answered from the same in-memory signed targets
//! as the TUF feed and `GET /v1/update`, so they change in the same instant
//! ([`relops_updaters`] renders them; [`relops_core::offer::updaters`] decides what each
//! lists). Public, like the feed.
//!
//! Documents that depend only on the channel are rendered once per signed targets version,
//! on first use, and kept with it ([`ChannelDocs`]); a question that names an install or a
//! running version (Velopack's `stagingId` and `localVersion`, an install id in a Sparkle
//! feed URL) is answered on the spot.

use std::collections::HashMap;
use std::sync::Arc;

use relops_core::offer::updaters::Asker;
use relops_core::platform::{Os, Platform};
use relops_updaters::{Document, Target, electron, sparkle, velopack};

use crate::Ops;
use crate::error::{OpError, OpResult};
use crate::services::feed::Published;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdaterFeed {
    /// `appcast.xml` (Sparkle, WinSparkle).
    Appcast,
    /// `latest.yml`, `latest-mac.yml`, `latest-linux.yml` (electron-updater).
    Latest(Os),
    /// `releases.{channel}.json` (Velopack).
    Velopack,
}

impl UpdaterFeed {
    /// The document a file name under `/feeds/{product}/{channel}/` is, if it is one.
    pub fn from_file(channel: &str, file: &str) -> Option<Self> {
        if file == "appcast.xml" {
            Some(Self::Appcast)
        } else if let Some(os) = electron::os_of(file) {
            Some(Self::Latest(os))
        } else {
            (file.strip_prefix("releases.")?.strip_suffix(".json")? == channel)
                .then_some(Self::Velopack)
        }
    }
}

/// What an updater asked with.
#[derive(Debug, Clone, Copy)]
pub struct UpdaterQuestion<'a> {
    pub channel: &'a str,
    pub feed: UpdaterFeed,
    /// Default: `macos-universal` for the appcast, `windows-x64` for Velopack; unused by
    /// `latest*.yml`, which lists every platform of its OS.
    pub platform: Option<&'a str>,
    /// A stable id of the install (Velopack's `stagingId`, `install` in a Sparkle URL).
    pub install_id: Option<&'a str>,
    /// The version the install runs (Velopack's `localVersion`).
    pub version: Option<&'a str>,
}

/// The channel-wide documents of one signed targets version.
#[derive(Debug, Clone, Default)]
pub struct ChannelDocs(HashMap<(usize, UpdaterFeed, Platform), Option<Arc<Document>>>);

/// The platform a `latest*.yml` is keyed by (it lists all of its OS).
fn os_platform(os: Os) -> Platform {
    match os {
        Os::Macos => Platform::MacosUniversal,
        Os::Windows => Platform::WindowsX64,
        Os::Linux => Platform::LinuxX64,
    }
}

fn render(
    product: &str,
    public_url: Option<&str>,
    published: &Published,
    feed: UpdaterFeed,
    asker: &Asker<'_>,
) -> Option<Document> {
    let targets: Vec<Target<'_>> = published
        .offerable
        .iter()
        .map(|t| Target {
            name: &t.name,
            length: t.length,
            sha256: &t.sha256,
            custom: &t.custom,
        })
        .collect();
    match feed {
        UpdaterFeed::Appcast => Some(sparkle::appcast(
            asker,
            &targets,
            &sparkle::Links { public_url },
        )),
        UpdaterFeed::Latest(os) => electron::latest(product, asker.channel, os, &targets),
        UpdaterFeed::Velopack => Some(velopack::releases(asker, &targets)),
    }
}

impl Ops {
    /// The document `q` asks for, or why there is none; and whether it is one install's
    /// own (rendered for the install or version it named: not for shared caches).
    pub fn updater_feed(
        &self,
        product: &str,
        q: UpdaterQuestion<'_>,
    ) -> OpResult<(Arc<Document>, bool)> {
        self.product(Some(product))?;
        let channels = &self.config.feed.channels;
        let Some(channel_index) = channels.iter().position(|c| c == q.channel) else {
            return Err(OpError::NotFound(format!(
                "no channel `{}`: the channels are {} ([feed] channels)",
                q.channel,
                channels.join(", ")
            )));
        };
        let platform = match (q.feed, q.platform) {
            (UpdaterFeed::Latest(os), _) => os_platform(os),
            (_, Some(p)) => p
                .parse()
                .map_err(|e: relops_core::platform::UnknownPlatform| {
                    OpError::Invalid(e.to_string())
                })?,
            (UpdaterFeed::Velopack, None) => Platform::WindowsX64,
            (_, None) => Platform::MacosUniversal,
        };
        // An empty id (`stagingId=` from a Velopack that has none) is no id.
        let install = q
            .install_id
            .filter(|id| !id.is_empty())
            .map(crate::update::install_id)
            .transpose()?;
        let version = q.version.map(crate::version).transpose()?;
        let published = self.published(product)?;
        let asker = Asker {
            product,
            platform,
            channel: q.channel,
            install_id: install,
            version: version.as_ref(),
        };
        let public_url = self.config.ingest.public_url.as_deref();
        let personal = install.is_some() || version.is_some();
        let doc = if personal {
            render(product, public_url, &published, q.feed, &asker).map(Arc::new)
        } else {
            let docs = published.updater_docs.get_or_init(|| {
                let mut keys: Vec<(UpdaterFeed, Platform)> = [Os::Windows, Os::Macos, Os::Linux]
                    .map(|os| (UpdaterFeed::Latest(os), os_platform(os)))
                    .to_vec();
                for p in Platform::ALL {
                    keys.extend([(UpdaterFeed::Appcast, p), (UpdaterFeed::Velopack, p)]);
                }
                let mut all = HashMap::new();
                for (index, channel) in channels.iter().enumerate() {
                    for &(feed, platform) in &keys {
                        let asker = Asker {
                            product,
                            platform,
                            channel,
                            install_id: None,
                            version: None,
                        };
                        let doc = render(product, public_url, &published, feed, &asker);
                        all.insert((index, feed, platform), doc.map(Arc::new));
                    }
                }
                ChannelDocs(all)
            });
            docs.0
                .get(&(channel_index, q.feed, platform))
                .cloned()
                .flatten()
        };
        let doc = doc.ok_or_else(|| {
            OpError::NotFound(format!(
                "no release of {product} reaches channel `{}` for {platform} yet: approve one \
                 and start its rollout (`relops rollout start VERSION`)",
                q.channel
            ))
        })?;
        Ok((doc, personal))
    }

    /// The SHA-256 of `file`, a target of the current feed served next to the other
    /// updaters' documents of `channel`.
    pub fn updater_file(&self, product: &str, channel: &str, file: &str) -> OpResult<String> {
        self.product(Some(product))?;
        if !self.config.feed.channels.iter().any(|c| c == channel) {
            return Err(OpError::NotFound(format!("no channel `{channel}`")));
        }
        self.published(product)?
            .offerable
            .iter()
            .find(|t| t.name == file)
            .map(|t| t.sha256.clone())
            .ok_or_else(|| OpError::NotFound(format!("{file} is not in the feed")))
    }
}
