//! Sparkle's appcast: RSS 2.0 with Sparkle's namespace, one `<item>` per release offered to
//! the asker, newest first ([`relops_core::offer::updaters::listed`]). Sparkle installs the
//! newest item newer than the app (`CFBundleVersion` against `sparkle:version`, which is the
//! release's version: the app's bundle version must be it) and never an older one.
//!
//! Each item's `<enclosure>` carries `sparkle:edSignature`: the release key's Ed25519
//! signature over the file's bytes, made after upload — so the release key's public half, in
//! base64, is the app's `SUPublicEDKey`. Artifacts without it (not yet made) are left
//! out. macOS items take the `.dmg`, else `.zip`, else `.tar.gz`; Windows
//! items (WinSparkle reads the same format) the `.exe`, else `.msi`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use relops_core::offer::updaters::{Asker, listed};
use relops_core::platform::Os;

use crate::{Document, Target, preferred};

/// Sparkle's XML namespace.
pub const NAMESPACE: &str = "http://www.andymatuschak.org/xml-namespaces/sparkle";

/// Where an appcast's links point.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// The server's public URL (`https://relops.example`): links are absolute. `None`:
    /// relative to the appcast's own URL, `/feeds/{product}/{channel}/appcast.xml`.
    pub public_url: Option<&'a str>,
}

impl Links<'_> {
    fn file(&self, asker: &Asker<'_>, name: &str) -> String {
        match self.public_url {
            Some(base) => format!(
                "{}/feeds/{}/{}/{name}",
                base.trim_end_matches('/'),
                asker.product,
                asker.channel
            ),
            None => name.to_owned(),
        }
    }

    fn notes(&self, asker: &Asker<'_>, notes: &str) -> String {
        match self.public_url {
            Some(base) => format!(
                "{}/tuf/{}/{notes}",
                base.trim_end_matches('/'),
                asker.product
            ),
            None => format!("../../../tuf/{}/{notes}", asker.product),
        }
    }
}

/// The kinds Sparkle (macOS) or WinSparkle (Windows) install, in order of preference.
fn kinds(os: Os) -> &'static [&'static str] {
    match os {
        Os::Macos => &["dmg", "zip", "tar.gz"],
        Os::Windows => &["exe", "msi"],
        Os::Linux => &[],
    }
}

/// The appcast `asker` is shown.
pub fn appcast(asker: &Asker<'_>, targets: &[Target<'_>], links: &Links<'_>) -> Document {
    let os = asker.platform.os();
    let usable: Vec<Target<'_>> = targets
        .iter()
        .filter(|t| kinds(os).contains(&t.custom.kind.as_str()) && t.custom.file.is_some())
        .copied()
        .collect();
    let shown: Vec<Target<'_>> =
        listed(asker, usable.iter().enumerate().map(|(i, t)| (i, t.custom)))
            .into_iter()
            .map(|(i, _)| usable[i])
            .collect();
    let items = preferred(&shown, kinds(os));
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut w, asker, &items, links).expect("writing XML to memory cannot fail");
    let mut body = w.into_inner();
    body.push(b'\n');
    Document::new(body, "application/rss+xml; charset=utf-8")
}

fn write(
    w: &mut Writer<Vec<u8>>,
    asker: &Asker<'_>,
    items: &[Target<'_>],
    links: &Links<'_>,
) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    let title = format!("{} ({}, {})", asker.product, asker.channel, asker.platform);
    w.create_element("rss")
        .with_attribute(("version", "2.0"))
        .with_attribute(("xmlns:sparkle", NAMESPACE))
        .write_inner_content(|w| {
            w.create_element("channel").write_inner_content(|w| {
                w.create_element("title")
                    .write_text_content(BytesText::new(&title))?;
                w.create_element("description")
                    .write_text_content(BytesText::new(&format!(
                        "Updates of {title}, published by relops"
                    )))?;
                for t in items {
                    item(w, asker, t, links)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

fn item(
    w: &mut Writer<Vec<u8>>,
    asker: &Asker<'_>,
    t: &Target<'_>,
    links: &Links<'_>,
) -> std::io::Result<()> {
    let c = t.custom;
    let Some(file) = &c.file else {
        return Ok(());
    };
    // Stored as hex by relops; Sparkle wants base64. A malformed value cannot come from
    // relops's own upload; such an item is left out rather than served unverifiable.
    let Ok(signature) = hex::decode(&file.ed25519) else {
        return Ok(());
    };
    let version = c.version.to_string();
    let length = t.length.to_string();
    let url = links.file(asker, t.name);
    let signature = BASE64.encode(signature);
    w.create_element("item").write_inner_content(|w| {
        w.create_element("title")
            .write_text_content(BytesText::new(&format!("{} {version}", c.product)))?;
        if let Some(r) = &c.rollout {
            w.create_element("pubDate")
                .write_text_content(BytesText::new(&r.since.to_rfc2822()))?;
        }
        w.create_element("sparkle:version")
            .write_text_content(BytesText::new(&version))?;
        w.create_element("sparkle:shortVersionString")
            .write_text_content(BytesText::new(&version))?;
        if let Some(notes) = &c.notes {
            w.create_element("sparkle:releaseNotesLink")
                .write_text_content(BytesText::new(&links.notes(asker, notes)))?;
        }
        if let Some(os) = &c.minimum_os {
            w.create_element("sparkle:minimumSystemVersion")
                .write_text_content(BytesText::new(os))?;
        }
        // A security fix: Sparkle shows it as critical (no "skip this version").
        if c.security.is_some() {
            w.create_element("sparkle:criticalUpdate").write_empty()?;
        }
        let mut enclosure = w
            .create_element("enclosure")
            .with_attribute(("url", url.as_str()))
            .with_attribute(("length", length.as_str()))
            .with_attribute(("type", "application/octet-stream"))
            .with_attribute(("sparkle:edSignature", signature.as_str()));
        if asker.platform.os() == Os::Windows {
            enclosure = enclosure.with_attribute(("sparkle:os", "windows"));
        }
        enclosure.write_empty()?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use relops_core::platform::Platform;

    use super::*;
    use crate::testing::{custom, name, targets};

    #[test]
    fn items_are_the_offered_releases_with_their_signature() {
        let mut customs = [
            custom("2.0.0", Platform::MacosUniversal, "dmg", 10_000),
            custom("2.0.0", Platform::MacosUniversal, "zip", 10_000),
            custom("2.1.0", Platform::MacosUniversal, "dmg", 2_500),
            custom("2.1.0", Platform::WindowsX64, "exe", 10_000),
        ];
        customs[0].minimum_os = Some("11.0".into());
        customs[0].security = Some("CVE-2027-1234".into());
        let names: Vec<String> = customs.iter().map(name).collect();
        let targets = targets(&customs, &names, 42);
        let asker = Asker {
            product: "wizard",
            platform: Platform::MacosUniversal,
            channel: "stable",
            install_id: None,
            version: None,
        };
        let doc = appcast(&asker, &targets, &Links { public_url: None });
        let xml = String::from_utf8(doc.body.to_vec()).unwrap();
        // 2.1.0 is at 25 %: not for an install that does not say who it is.
        assert_eq!(xml.matches("<item>").count(), 1, "{xml}");
        assert!(
            xml.contains(r#"url="wizard-2.0.0-macos-universal.dmg""#),
            "{xml}"
        );
        assert!(xml.contains(r#"length="42""#), "{xml}");
        assert!(xml.contains("<sparkle:version>2.0.0</sparkle:version>"));
        assert!(
            xml.contains("<sparkle:minimumSystemVersion>11.0</sparkle:minimumSystemVersion>"),
            "{xml}"
        );
        assert!(xml.contains("<sparkle:criticalUpdate/>"), "{xml}");
        assert!(
            xml.contains(&format!(
                r#"sparkle:edSignature="{}""#,
                BASE64.encode([0xee; 64])
            )),
            "{xml}"
        );
        assert!(xml.contains("../../../tuf/wizard/notes/2.0.0.md"), "{xml}");
        let absolute = appcast(
            &asker,
            &targets,
            &Links {
                public_url: Some("https://relops.example/"),
            },
        );
        let xml = String::from_utf8(absolute.body.to_vec()).unwrap();
        assert!(xml.contains(
            r#"url="https://relops.example/feeds/wizard/stable/wizard-2.0.0-macos-universal.dmg""#
        ));
        assert_ne!(doc.etag, absolute.etag);
        // The internal channel gets the rollout in full.
        let internal = Asker {
            channel: "internal",
            ..asker
        };
        let xml = String::from_utf8(
            appcast(&internal, &targets, &Links { public_url: None })
                .body
                .to_vec(),
        )
        .unwrap();
        assert_eq!(xml.matches("<item>").count(), 2, "{xml}");
        assert!(xml.find("2.1.0").unwrap() < xml.find("2.0.0").unwrap());
    }
}
