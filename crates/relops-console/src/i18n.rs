//! English and German. Pages are written in English; [`Lang::t`] gives a text in the
//! reader's language from `i18n/de.toml` (English text → German). The language is the
//! `relops_lang` cookie's (set by `GET /lang/{en|de}`, the switch in every page's header),
//! else the browser's `Accept-Language`, else English.
//!
//! What the operations say (refusals, validation messages) and what people wrote (notes,
//! tickets, articles) is shown as it is. A test checks that every text a template asks
//! for has its German.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::HeaderMap;

/// The cookie that keeps a chosen language.
pub const LANG_COOKIE: &str = "relops_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    De,
}

/// English text → German.
static DE: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    toml::from_str(include_str!("../i18n/de.toml")).unwrap_or_else(|e| {
        tracing::error!(error = %e, "i18n/de.toml does not parse: pages stay English");
        HashMap::new()
    })
});

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "de" => Some(Self::De),
            _ => None,
        }
    }

    /// The other language, for the switch: its code and its name in itself.
    pub fn other(self) -> (&'static str, &'static str) {
        match self {
            Self::En => ("de", "Deutsch"),
            Self::De => ("en", "English"),
        }
    }

    /// The reader's language: the cookie's, else `Accept-Language`'s, else English.
    pub fn of(headers: &HeaderMap) -> Self {
        if let Some(l) = crate::web::cookie(headers, LANG_COOKIE).and_then(|c| Self::parse(&c)) {
            return l;
        }
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(accepted)
            .unwrap_or_default()
    }

    /// `en` in the reader's language (itself when there is no translation).
    pub fn t(self, en: &str) -> &str {
        match self {
            Self::En => en,
            Self::De => DE.get(en).map(String::as_str).unwrap_or(en),
        }
    }
}

/// The language an `Accept-Language` header prefers among ours (`de-AT;q=0.9, en;q=0.8`):
/// the highest weight wins, the first listed among equals; English when it names neither.
fn accepted(header: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',').take(32) {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_one_we_have() {
        assert_eq!(accepted("de-DE,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(accepted("en-US,en;q=0.9,de;q=0.8"), Lang::En);
        assert_eq!(accepted("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5"), Lang::De);
        assert_eq!(accepted("fr"), Lang::En);
        assert_eq!(accepted("de;q=0"), Lang::En);
        assert_eq!(accepted(""), Lang::En);
    }

    #[test]
    fn the_catalog_parses_and_translates() {
        assert!(!DE.is_empty(), "i18n/de.toml is empty or does not parse");
        assert_eq!(Lang::De.t("Overview"), "Übersicht");
        assert_eq!(Lang::En.t("Overview"), "Overview");
        assert_eq!(Lang::De.t("no such text"), "no such text");
    }

    /// Every `t("…")` of a template has its German.
    #[test]
    fn every_text_a_template_asks_for_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut missing = Vec::new();
        let mut asked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split("\")").next().unwrap();
                asked += 1;
                if !DE.contains_key(key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(asked > 20, "the templates ask for {asked} texts only");
        assert!(missing.is_empty(), "no German for:\n{}", missing.join("\n"));
    }

    /// No console template shows English of its own outside `t("…")`: what is left of its
    /// text once tags, template code, `<code>`/`<pre>` contents and the words every
    /// language writes the same (relops, UTC, SHA-256, …) are gone has no letter. The
    /// public pages (release page, FAQ, link pages, the Atom feed) are not the console's.
    #[test]
    fn console_templates_show_no_untranslated_text() {
        const PUBLIC: [&str; 4] = ["releases.html", "faq.html", "link.html", "releases.atom"];
        const SAME: [&str; 9] = [
            "relops", "UTC", "SHA-256", "Ed25519", "h", "FAQ", "jira", "github", "KI-1",
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if PUBLIC.contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in visible_text(&text) {
                let words: Vec<&str> = piece
                    .split(|c: char| !(c.is_alphanumeric() || c == '-'))
                    .filter(|w| w.chars().any(char::is_alphabetic) && !SAME.contains(w))
                    .collect();
                if !words.is_empty() {
                    found.push(format!("{name}: {piece:?}"));
                }
            }
        }
        assert!(
            found.is_empty(),
            "text outside t(\"…\"):\n{}",
            found.join("\n")
        );
    }

    /// What a reader sees of a template: the text between tags and the values of
    /// `aria-label`, `title` and `placeholder`, with template code taken out.
    fn visible_text(template: &str) -> Vec<String> {
        let mut s = cut(template, "{{", "}}", " ");
        s = cut(&s, "{%", "%}", " ");
        s = cut(&s, "<code", "</code>", " ");
        s = cut(&s, "<pre", "</pre>", " ");
        s = cut(&s, "<style", "</style>", " ");
        s = cut(&s, "<script", "</script>", " ");
        let mut out = Vec::new();
        for attr in ["aria-label=\"", "title=\"", "placeholder=\""] {
            for piece in s.split(attr).skip(1) {
                out.push(piece.split('"').next().unwrap_or("").to_owned());
            }
        }
        let mut rest = s.as_str();
        while let Some(end) = rest.find('<') {
            out.push(rest[..end].to_owned());
            rest = rest[end..].find('>').map_or("", |gt| &rest[end + gt + 1..]);
        }
        out.push(rest.to_owned());
        out.retain(|p| !p.trim().is_empty());
        out
    }

    /// `s` with every `open`…`close` span replaced by `with`.
    fn cut(s: &str, open: &str, close: &str, with: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find(open) {
            out.push_str(&rest[..at]);
            out.push_str(with);
            rest = rest[at..]
                .find(close)
                .map_or("", |end| &rest[at + end + close.len()..]);
        }
        out.push_str(rest);
        out
    }
}
