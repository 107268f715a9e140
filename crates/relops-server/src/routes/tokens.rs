//! API tokens: `POST /v1/tokens` (admin) and `GET /v1/whoami`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use relops_api::{CreateToken, TokenCreated, WhoAmI};
use relops_core::access::Role;
use relops_store::{AuditRecord, TokenRecord};
use serde_json::json;

use crate::AppState;
use crate::auth::{Principal, new_token, token_hash};
use crate::error::{ApiError, ApiResult};

pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "token name must be 1-128 printable characters, e.g. --name ci-release".into(),
        ));
    }
    if req.roles.is_empty() {
        return Err(ApiError::BadRequest(
            "a token needs at least one role: --role ROLE".into(),
        ));
    }
    let roles = req
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::BadRequest)?;
    let (created, _) =
        issue_token(&state, name, roles, &who.actor(), who.request_id.clone()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Makes and stores a token; shared with `relops init`'s first admin token.
pub async fn issue_token(
    state_db: &impl AsDb,
    name: &str,
    roles: Vec<Role>,
    actor: &str,
    request_id: Option<String>,
) -> Result<(TokenCreated, TokenRecord), ApiError> {
    let token = new_token()?;
    let record = TokenRecord {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        name: name.to_owned(),
        roles: roles.clone(),
    };
    let audit = AuditRecord {
        actor: actor.to_owned(),
        action: "token.create".into(),
        target: format!("token/{}", record.id),
        detail: json!({ "name": name, "roles": roles }),
        request_id,
    };
    state_db
        .db()
        .insert_token(&record, &token_hash(&token), Utc::now(), &audit)
        .await?;
    Ok((
        TokenCreated {
            id: record.id.clone(),
            name: record.name.clone(),
            roles,
            token,
        },
        record,
    ))
}

/// Anything that holds the database (the app state, or `init` before a server exists).
pub trait AsDb {
    fn db(&self) -> &relops_store::Db;
}

impl AsDb for AppState {
    fn db(&self) -> &relops_store::Db {
        &self.db
    }
}

impl AsDb for relops_store::Db {
    fn db(&self) -> &relops_store::Db {
        self
    }
}

pub async fn whoami(State(state): State<AppState>, who: Principal) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: who.name,
        roles: who.roles,
        products: state.config.products.clone(),
    })
}
