//! The public release page (R-REL-10) and its Atom feed per channel.

use askama::Template;
use relops_api::PublicReleases;

use crate::markdown;

#[derive(Template)]
#[template(path = "releases.html")]
struct Page<'a> {
    product: &'a str,
    channels: &'a [String],
    releases: &'a [relops_api::PublicRelease],
    notes_html: Vec<Option<String>>,
}

/// The release page of `p`, with links to the Atom feed of each of `channels`.
pub fn page(p: &PublicReleases, channels: &[String]) -> String {
    Page {
        product: &p.product,
        channels,
        releases: &p.releases,
        notes_html: p
            .releases
            .iter()
            .map(|r| r.notes.as_deref().map(markdown))
            .collect(),
    }
    .render()
    .unwrap_or_else(|e| format!("<p>the page could not be rendered: {e}</p>"))
}

struct Entry {
    version: String,
    updated: String,
    /// The notes as HTML; the template escapes it once more, as Atom's `type="html"` wants.
    html: String,
}

#[derive(Template)]
#[template(path = "releases.atom", escape = "html")]
struct Feed<'a> {
    product: &'a str,
    channel: &'a str,
    updated: String,
    entries: Vec<Entry>,
}

/// The Atom feed of `channel`: `p` holds the releases it offers now (newest first).
pub fn atom(p: &PublicReleases, channel: &str) -> String {
    let entries: Vec<Entry> = p
        .releases
        .iter()
        .map(|r| Entry {
            version: r.version.to_string(),
            updated: rfc3339(r.approved_at),
            html: r.notes.as_deref().map(markdown).unwrap_or_default(),
        })
        .collect();
    let updated = entries
        .iter()
        .map(|e| e.updated.clone())
        .max()
        .unwrap_or_else(|| rfc3339(None));
    Feed {
        product: &p.product,
        channel,
        updated,
        entries,
    }
    .render()
    .unwrap_or_default()
}

fn rfc3339(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
