//! Who calls: the bearer token of an operator route, resolved to its caller by the route
//! guard (`routes/table.rs`) before anything else of the route runs, and handed to the
//! handler as a [`Caller`]. A request without a valid token is refused with 401; one whose
//! roles lack the route's permission with 403 naming the permission and the roles that
//! hold it (the operation checks the same permission again: a page or a worker calls it
//! without this guard).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use relops_ops::{Actor, Principal};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller of a route, as the actor of the operation it calls.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl Caller {
    /// The caller's principal.
    pub fn principal(&self) -> Option<&Principal> {
        match &self.0 {
            Actor::Caller(p) => Some(p),
            Actor::HealthEngine => None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The principal the route guard already authenticated, or authenticates now.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = match parts.extensions.get::<Principal>() {
            Some(p) => p.clone(),
            None => authenticate(state, &parts.headers).await?,
        };
        Ok(Caller(Actor::Caller(p)))
    }
}

/// Resolves the bearer token of a request to its principal.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "no API token: send `Authorization: Bearer TOKEN` (the CLI reads RELOPS_TOKEN or --token)".into(),
            )
        })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.trim().split_once(' '))
        // The scheme is case-insensitive (RFC 9110 11.1): `bearer` as `Bearer`.
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            ApiError::Unauthorized("malformed Authorization header: expected `Bearer TOKEN`".into())
        })?;
    let request_id = headers
        .get(relops_api::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .ops
        .authenticate(token, request_id)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "unknown or revoked API token: check RELOPS_TOKEN, or ask an admin for a new one (`relops token create`)".into(),
            )
        })
}
