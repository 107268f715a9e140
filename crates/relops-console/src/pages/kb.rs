//! The knowledge base's editor: every article (drafts for those who write them), an
//! article with its revision history, a form to revise it with a preview rendered as
//! customers will see it, publishing (support lead), and a new article.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use relops_api::{KbArticle, KbEdit, NewKbArticle};
use relops_core::access::Permission;
use relops_ops::{OpError, Ops};
use serde::Deserialize;

use super::{Done, Nav, render};
use crate::web::{Form, PageResult, User, encode_query};

#[derive(Template)]
#[template(path = "kb_list.html")]
struct List {
    nav: Nav,
    articles: Vec<KbArticle>,
    may_write: bool,
}

/// `GET /console/{product}/kb`
pub(crate) async fn list(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let articles = ops.kb_articles(&user.actor, &product).await?.articles;
    Ok(render(List {
        nav: Nav::new(&user, &product, "kb", None),
        may_write: user.may(Permission::KbWrite),
        articles,
    }))
}

#[derive(Template)]
#[template(path = "kb_article.html")]
struct Editor {
    nav: Nav,
    /// None: a new article.
    a: Option<KbArticle>,
    /// What the form shows (the article, or what was typed when previewing).
    title: String,
    body: String,
    kind: String,
    /// The body rendered as customers see it.
    preview_html: String,
    previewing: bool,
    /// The article is published (revising it is a support lead's).
    published: bool,
    may_write: bool,
    may_publish: bool,
}

/// `GET /console/{product}/kb/{id}` (`new`: an empty editor).
pub(crate) async fn show(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    user: User,
    done: axum::extract::Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let a = if id == "new" {
        user.actor.authorize(Permission::KbWrite)?;
        None
    } else {
        Some(article_of(&ops, &user, &product, &id).await?)
    };
    let (title, body, kind) = a
        .as_ref()
        .map(|a| (a.title.clone(), a.body.clone(), a.kind.clone()))
        .unwrap_or_else(|| (String::new(), String::new(), "faq".into()));
    Ok(render(Editor {
        nav: Nav::new(&user, &product, "kb", done.0.done.as_deref()),
        preview_html: crate::markdown(&body),
        previewing: false,
        published: a.as_ref().is_some_and(|a| a.status == "published"),
        may_write: user.may(Permission::KbWrite),
        may_publish: user.may(Permission::KbPublish),
        a,
        title,
        body,
        kind,
    }))
}

async fn article_of(ops: &Ops, user: &User, product: &str, id: &str) -> PageResult<KbArticle> {
    let a = ops.kb_article(&user.actor, id).await?;
    if a.product != product {
        return Err(OpError::NotFound(format!("no article `{id}` in {product}")).into());
    }
    Ok(a)
}

#[derive(Debug, Deserialize)]
pub(crate) struct EditForm {
    title: String,
    body: String,
    /// New articles: `faq` or `known_issue`.
    kind: Option<String>,
    /// `preview`, `save` or `publish`.
    #[serde(rename = "do")]
    action: String,
}

/// `POST /console/{product}/kb/{id}` (`new`: a new article): preview, save as a new
/// revision (a draft stays a draft), or save and publish.
pub(crate) async fn save(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    f: Form<EditForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let user = f.user;
    let e = f.fields;
    let publish = match e.action.as_str() {
        "preview" => {
            let a = if id == "new" {
                None
            } else {
                Some(article_of(&ops, &user, &product, &id).await?)
            };
            return Ok(render(Editor {
                nav: Nav::new(&user, &product, "kb", None),
                preview_html: crate::markdown(&e.body),
                previewing: true,
                published: a.as_ref().is_some_and(|a| a.status == "published"),
                may_write: user.may(Permission::KbWrite),
                may_publish: user.may(Permission::KbPublish),
                kind: e.kind.unwrap_or_else(|| "faq".into()),
                a,
                title: e.title,
                body: e.body,
            }));
        }
        "save" => false,
        "publish" => true,
        other => {
            return Err(OpError::Invalid(format!("`{other}`: preview, save or publish")).into());
        }
    };
    let saved = if id == "new" {
        ops.add_kb_article(
            &user.actor,
            &product,
            NewKbArticle {
                kind: e.kind,
                title: e.title,
                body: e.body,
                release: None,
                fingerprint: None,
                publish,
            },
        )
        .await?
    } else {
        article_of(&ops, &user, &product, &id).await?;
        ops.edit_kb_article(
            &user.actor,
            &id,
            KbEdit {
                title: Some(e.title),
                body: Some(e.body),
                publish,
                ..KbEdit::default()
            },
        )
        .await?
    };
    let done = if publish { "published" } else { "saved" };
    Ok(Redirect::to(&format!(
        "/console/{product}/kb/{}?done={done}",
        encode_query(&saved.id)
    ))
    .into_response())
}
