//! API tokens (admin): the list, revoking one (its console sessions end with it), and making
//! one whose secret the page shows once.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use relops_api::{CreateToken, TokenCreated, TokenInfo};
use relops_core::access::Role;
use relops_ops::Ops;
use serde::Deserialize;

use super::{Nav, render};
use crate::web::{Form, PageResult, User};

#[derive(Template)]
#[template(path = "tokens.html")]
struct Tokens {
    nav: Nav,
    tokens: Vec<TokenInfo>,
    roles: Vec<&'static str>,
    created: Option<TokenCreated>,
}

fn page(
    user: &User,
    product: &str,
    tokens: Vec<TokenInfo>,
    created: Option<TokenCreated>,
    done: Option<&str>,
) -> axum::response::Response {
    render(Tokens {
        nav: Nav::new(user, product, "tokens", done),
        tokens,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        created,
    })
}

/// `GET /console/{product}/tokens`
pub(crate) async fn list(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    done: axum::extract::Query<super::Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let tokens = ops.tokens(&user.actor).await?.tokens;
    Ok(page(&user, &product, tokens, None, done.0.done.as_deref()))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    name: String,
    role: String,
}

/// `POST /console/{product}/tokens`: the new token's secret, shown on this answer only.
pub(crate) async fn create(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    f: Form<CreateForm>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let created = ops
        .create_token(
            &f.user.actor,
            CreateToken {
                name: f.fields.name.trim().to_owned(),
                roles: vec![f.fields.role],
            },
        )
        .await?;
    let tokens = ops.tokens(&f.user.actor).await?.tokens;
    Ok(page(&f.user, &product, tokens, Some(created), None))
}

/// `POST /console/{product}/tokens/{id}/revoke`
pub(crate) async fn revoke(
    State(ops): State<Ops>,
    Path((product, id)): Path<(String, String)>,
    f: Form<super::NoFields>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    ops.revoke_token(&f.user.actor, &id).await?;
    Ok(Redirect::to(&format!("/console/{product}/tokens?done=revoked")).into_response())
}
