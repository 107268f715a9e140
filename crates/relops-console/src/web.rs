//! What every page of the console shares: the security headers, the session cookie, the
//! logged-in user ([`User`]), forms checked against the session's CSRF token
//! ([`Form`]), and a refused action shown as a page ([`PageError`]).
//!
//! Invariants: every HTML answer carries [`SECURITY_HEADERS`] (a Content-Security-Policy
//! without `unsafe-inline`: styles and scripts come from `/assets/` only); a state-changing
//! request is refused unless it comes from this origin (`Origin`, `Sec-Fetch-Site`) and
//! carries the session's CSRF token; the session's secret travels only in an `HttpOnly`,
//! `SameSite=Strict` cookie.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use relops_ops::{Actor, OpError, Ops, Session};

use crate::i18n::Lang;
use serde::de::DeserializeOwned;

/// The session cookie's name.
pub const COOKIE: &str = "relops_session";

/// The headers of every page: no inline script or style, no framing, no sniffing, no
/// referrer leaving the site.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// An HTML page with the security headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    for (k, v) in SECURITY_HEADERS {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

/// The session cookie's value in a request, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `name` in a request, if any (at most 64 characters: relops' own
/// cookies are shorter).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// The cookie that binds a single sign-on login to the browser that started it.
pub const OIDC_COOKIE: &str = "relops_oidc";

/// `Set-Cookie` for a login's state (or, with `None`, one that removes it). `Lax`, not
/// `Strict`: the browser comes back from the provider's site, a cross-site navigation
/// that `Strict` cookies do not go with; only the callback's path gets it.
pub fn set_oidc_cookie(state: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let (value, age) = match state {
        Some(s) => (s, 600),
        None => ("", 0),
    };
    let v = format!(
        "{OIDC_COOKIE}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={age}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for a new session (or, with `None`, one that removes it).
pub fn set_cookie(secret: Option<(&str, i64)>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = match secret {
        Some((s, max_age)) => {
            format!("{COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
        }
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the session cookie is sent with `Secure`.
pub fn secure_cookie(ops: &Ops) -> bool {
    let c = ops.config();
    c.console.secure_cookie.unwrap_or(c.tls_cert.is_some())
}

/// A refusal shown as a page: the operation's message and its status.
#[derive(Debug)]
pub enum PageError {
    /// Not logged in: to the login page, then back.
    Login {
        next: String,
    },
    Op(OpError),
}

impl From<OpError> for PageError {
    fn from(e: OpError) -> Self {
        Self::Op(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::Login { next } => {
                let next = if safe_next(&next) { next } else { "/".into() };
                Redirect::to(&format!("/login?next={}", encode_query(&next))).into_response()
            }
            Self::Op(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = match &e {
                    OpError::Internal(err) => {
                        tracing::error!(error = %format!("{err:#}"), "console page failed");
                        "relops failed to answer this; the server log has the details".to_owned()
                    }
                    e => e.to_string(),
                };
                // English until [`refusals_in_language`] renders it in the reader's.
                let mut r = html(
                    status,
                    crate::pages::error_page(Lang::En, status.as_u16(), &message),
                );
                r.extensions_mut().insert(Refusal(message));
                r
            }
        }
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// A refusal's message, kept with its page so that [`refusals_in_language`] can render
/// the page again in the reader's language (a [`PageError`] does not see the request).
#[derive(Debug, Clone)]
struct Refusal(String);

/// Middleware: the page of a refused action in the reader's language.
pub async fn refusals_in_language(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let lang = Lang::of(req.headers());
    let mut r = next.run(req).await;
    if lang != Lang::En
        && let Some(Refusal(message)) = r.extensions_mut().remove::<Refusal>()
    {
        let status = r.status();
        *r.body_mut() = crate::pages::error_page(lang, status.as_u16(), &message).into();
    }
    r
}

/// A local path to return to after login: `/…` but not `//host` or `/\host`.
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && !next.bytes().any(|b| b.is_ascii_control())
}

/// A text field of a form: trimmed, none when empty.
pub fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Percent-encodes a query value.
pub fn encode_query(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The logged-in user of a page, and the session's CSRF token for its forms.
#[derive(Debug, Clone)]
pub struct User {
    pub session: Session,
    pub actor: Actor,
    /// The language the pages are shown in.
    pub lang: crate::i18n::Lang,
}

impl User {
    pub fn name(&self) -> &str {
        &self.session.principal.name
    }

    /// Whether the user's roles hold `p` (the page shows the action; the operation checks
    /// again).
    pub fn may(&self, p: relops_core::access::Permission) -> bool {
        p.allows(&self.session.principal.roles)
    }

    pub fn holds(&self, r: relops_core::access::Role) -> bool {
        self.session.principal.roles.contains(&r)
    }

    pub fn roles(&self) -> String {
        let r: Vec<&str> = self
            .session
            .principal
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect();
        r.join(", ")
    }
}

impl FromRequestParts<Ops> for User {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, ops: &Ops) -> Result<Self, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(PageError::Login { next });
        };
        match ops.session(&secret, None).await? {
            Some(session) => Ok(User {
                actor: Actor::Caller(session.principal.clone()),
                session,
                lang: crate::i18n::Lang::of(&parts.headers),
            }),
            None => Err(PageError::Login { next }),
        }
    }
}

/// Whether a state-changing request comes from a page of this origin: a browser names
/// the page's origin (`Origin`) and, newer ones, whether it was another site
/// (`Sec-Fetch-Site`). A request naming neither (not a browser) passes this check; the
/// CSRF token still has to match.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// A form posted by a logged-in user: refused unless it comes from this origin and its
/// `csrf` field is the session's.
#[derive(Debug)]
pub struct Form<T> {
    pub user: User,
    pub fields: T,
}

/// A form's CSRF field (read apart from its own fields, which ignore it).
#[derive(Debug, serde::Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

/// Largest form the console takes (a reason, a note, a KB article's text).
const MAX_FORM_BYTES: usize = 256 * 1024;

impl<T: DeserializeOwned + Send> FromRequest<Ops> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, ops: &Ops) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = User::from_request_parts(&mut parts, ops).await?;
        let forbidden = |message: &str| {
            PageError::Op(OpError::Forbidden {
                permission: None,
                message: message.to_owned(),
            })
        };
        if !same_origin(&parts.headers) {
            return Err(forbidden(
                "this form was sent from another site: use the console's own page",
            ));
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                OpError::TooLarge(format!(
                    "the form is larger than {} KiB: shorten the text",
                    MAX_FORM_BYTES / 1024
                ))
            })?;
        let csrf: Csrf = serde_urlencoded::from_bytes(&bytes).unwrap_or(Csrf {
            csrf: String::new(),
        });
        if !user.session.csrf_matches(&csrf.csrf) {
            return Err(forbidden(
                "the form's security token is missing or out of date (CSRF): reload the page and send it again",
            ));
        }
        let fields = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| OpError::Invalid(format!("the form could not be read: {e}")))?;
        Ok(Form { user, fields })
    }
}
