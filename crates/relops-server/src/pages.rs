//! Server-rendered pages (askama templates; Markdown by pulldown-cmark with raw HTML
//! dropped, so an article cannot inject markup into the page).

use askama::Template;
use relops_api::KbArticle;

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

struct Entry {
    id: String,
    title: String,
    kind: &'static str,
    status_line: String,
    html: String,
}

#[derive(Template)]
#[template(path = "faq.html")]
struct Faq<'a> {
    product: &'a str,
    query: &'a str,
    entries: Vec<Entry>,
}

/// The public FAQ page of `product`.
pub fn faq(product: &str, query: &str, articles: &[KbArticle]) -> String {
    let entries = articles
        .iter()
        .map(|a| Entry {
            id: a.id.clone(),
            title: a.title.clone(),
            kind: if a.kind == "known_issue" {
                "Known issue"
            } else {
                "FAQ"
            },
            status_line: match (&a.issue_status, &a.release) {
                (Some(s), Some(r)) => format!("{r}: {s}"),
                (Some(s), None) => s.clone(),
                (None, Some(r)) => format!("Release {r}"),
                (None, None) => String::new(),
            },
            html: markdown(&a.body),
        })
        .collect();
    Faq {
        product,
        query,
        entries,
    }
    .render()
    .unwrap_or_else(|e| format!("<p>the page could not be rendered: {e}</p>"))
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage<'a> {
    title: &'a str,
    about: &'a str,
    message: &'a str,
    button: Option<&'a str>,
}

/// The page a customer's signed link opens: what it is about, what happened, and — when
/// the link has not acted yet — the button that makes it act (a POST, so that mail
/// scanners fetching the link do nothing).
pub fn link_page(title: &str, about: &str, message: &str, button: Option<&str>) -> String {
    LinkPage {
        title,
        about,
        message,
        button,
    }
    .render()
    .unwrap_or_else(|e| format!("<p>the page could not be rendered: {e}</p>"))
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
