//! relops' web pages, rendered on the server with askama templates (escaping on by
//! default) from `relops-api` types: the console people of the playbook log in to
//! ([`pages::router`], over the operations layer, with the session, CSRF and security
//! headers of [`web`]), the public FAQ and the pages customers' signed links open
//! ([`support`]), the public release page and its Atom feeds ([`releases`]). The server
//! merges the console's router into its own and serves the public pages from its route
//! table. Nothing here reaches the store or decides a permission: the operations do (a
//! page only leaves out the buttons its user's roles cannot use).
//!
//! Markdown (articles, release notes) is rendered by pulldown-cmark with raw HTML dropped,
//! so that text written by anyone cannot inject markup into a page.

mod charts;
pub mod i18n;
pub mod pages;
pub mod releases;
pub mod support;
pub mod web;

pub use pages::router;

/// Markdown to HTML; raw HTML in the source is dropped (shown as nothing), links and
/// images kept as Markdown makes them.
pub fn markdown(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let events = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH)
        .filter(|e| !matches!(e, Event::Html(_) | Event::InlineHtml(_)))
        .map(|e| match e {
            // A link to a `javascript:` address is not a link.
            Event::Start(pulldown_cmark::Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if dest_url
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("javascript:") =>
            {
                Event::Start(pulldown_cmark::Tag::Link {
                    link_type,
                    dest_url: "#".into(),
                    title,
                    id,
                })
            }
            e => e,
        });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_drops_raw_html_and_script_links() {
        let html = super::markdown(
            "**Save** first.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=y>",
        );
        assert!(html.contains("<strong>Save</strong>"), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:"),
            "{html}"
        );
    }
}
