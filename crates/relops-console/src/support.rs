//! The support desk's public pages (issue 25): the product's FAQ, and the page a
//! customer's signed link opens (confirm a solution, unsubscribe).

use askama::Template;
use relops_api::KbArticle;

use crate::markdown;

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
