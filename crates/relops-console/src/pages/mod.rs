//! The console's pages: [`router`] serves them with the login, the logout and the
//! stylesheet and script they load. Each page reads what it shows through the operations
//! layer as the logged-in user, and shows an action only to a user whose roles allow it
//! (the operation checks again).

mod audit;
mod health;
mod incidents;
mod kb;
mod keys;
mod live;
mod overview;
mod releases;
mod tickets;
mod tokens;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use relops_ops::Ops;
use serde::Deserialize;

use crate::i18n::Lang;
use crate::web::{self, Form, PageResult, User, html, safe_next};

/// What the layout shows on every page: the product, the user and their session's CSRF
/// token (the logout form), which page is open, and what the last action did.
#[derive(Debug)]
pub(crate) struct Nav {
    pub product: String,
    pub user: String,
    pub roles: String,
    pub csrf: String,
    pub here: &'static str,
    pub flash: Option<&'static str>,
    /// The user may manage tokens (the nav links the tokens page) …
    pub tokens: bool,
    /// … and read the audit trail.
    pub audit: bool,
    /// … and read support tickets.
    pub support: bool,
    pub lang: Lang,
}

impl Nav {
    fn new(user: &User, product: &str, here: &'static str, done: Option<&str>) -> Self {
        Nav {
            product: product.to_owned(),
            user: user.name().to_owned(),
            roles: user.roles(),
            csrf: user.session.csrf.clone(),
            here,
            flash: done.and_then(flash).map(|f| user.lang.t(f)),
            tokens: user.may(relops_core::access::Permission::TokenManage),
            audit: user.may(relops_core::access::Permission::AuditRead),
            support: user.may(relops_core::access::Permission::TicketRead),
            lang: user.lang,
        }
    }
}

impl Nav {
    /// `en` in the reader's language.
    pub fn t<'a>(&self, en: &'a str) -> &'a str {
        self.lang.t(en)
    }
}

/// The message after an action, by the fixed word the action's redirect names (never
/// text from the address).
fn flash(done: &str) -> Option<&'static str> {
    Some(match done {
        "signed" => "Checklist item signed.",
        "decided" => "Decision recorded.",
        "start" => "Pilot started.",
        "advance" => "Rollout advanced to the next stage.",
        "halt" => "Rollout halted: installs already updated keep the release; nobody else gets it.",
        "resume" => "Rollout resumed.",
        "pause" => "Rollout paused.",
        "rollback" => "Rolled back: the feed offers the previous release again.",
        "rollback_pending" => "Rollback filed: it takes effect once a second person confirms it.",
        "replied" => "Reply sent to the customer.",
        "noted" => "Internal note added.",
        "assigned" => "Assignment changed.",
        "prioritised" => "Priority changed.",
        "escalated" => "Escalated to engineering: the tracker's issue is linked once it answers.",
        "solved" => "Solved: the customer is asked to confirm the solution.",
        "confirmed" => "The customer's confirmation is recorded.",
        "closed" => "Ticket closed.",
        "reopened" => "Ticket reopened.",
        "saved" => "Revision saved.",
        "published" => "Revision saved and published: customers read it now.",
        "acked" => "Alert acknowledged: it stays open until its condition clears.",
        "postmortem" => "Post-mortem filed: the incident is resolved.",
        "revoked" => "Token revoked: it no longer works, nor do console sessions made with it.",
        _ => return None,
    })
}

/// `?done=` after an action.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct Done {
    pub done: Option<String>,
}

/// The console's routes over `ops`.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang/{code}", get(switch_lang))
        .route("/login/oidc", get(sso_start))
        .route("/login/oidc/callback", get(sso_callback))
        .route("/assets/{file}", get(asset))
        .route("/console/{product}", get(overview::page))
        .route("/console/{product}/events", get(live::events))
        .route("/console/{product}/audit", get(audit::page))
        .route("/console/{product}/keys", get(keys::page))
        .route("/console/{product}/health", get(health::page))
        .route("/console/{product}/incidents", get(incidents::list))
        .route("/console/{product}/incidents/{id}", get(incidents::detail))
        .route(
            "/console/{product}/incidents/{id}/decision",
            post(incidents::decide),
        )
        .route(
            "/console/{product}/incidents/{id}/postmortem",
            post(incidents::postmortem),
        )
        .route("/console/{product}/alerts/{id}/ack", post(incidents::ack))
        .route("/console/{product}/tickets", get(tickets::queue))
        .route("/console/{product}/tickets/{id}", get(tickets::show))
        .route(
            "/console/{product}/tickets/{id}/{action}",
            post(tickets::work),
        )
        .route("/console/{product}/kb", get(kb::list))
        .route("/console/{product}/kb/{id}", get(kb::show).post(kb::save))
        .route("/console/{product}/releases", get(releases::list))
        .route(
            "/console/{product}/releases/{version}",
            get(releases::detail),
        )
        .route(
            "/console/{product}/releases/{version}/checklist/{item}",
            post(releases::sign),
        )
        .route(
            "/console/{product}/releases/{version}/approve",
            post(releases::decide),
        )
        .route(
            "/console/{product}/releases/{version}/rollout/{action}",
            post(releases::rollout_step),
        )
        .route("/console/{product}/rollback", post(releases::rollback))
        .route(
            "/console/{product}/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route(
            "/console/{product}/tokens/{id}/revoke",
            post(tokens::revoke),
        )
        .layer(axum::middleware::from_fn(web::refusals_in_language))
        .with_state(ops)
}

/// `GET /`: the first product's overview, or the login page.
async fn home(State(ops): State<Ops>, headers: HeaderMap, done: Query<Done>) -> PageResult {
    let user = match web::cookie_secret(&headers) {
        Some(s) => ops.session(&s, None).await?,
        None => None,
    };
    let Some(session) = user else {
        return Ok(login_form(&ops, &headers, StatusCode::OK, "/", None));
    };
    let user = User {
        actor: relops_ops::Actor::Caller(session.principal.clone()),
        session,
        lang: Lang::of(&headers),
    };
    let product = ops.config().products[0].clone();
    overview::show(&ops, &user, &product, done.0.done.as_deref()).await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    error: Option<&'a str>,
    /// The single sign-on button's words, when configured.
    sso: Option<&'a str>,
    /// `next` as a query value.
    next_query: String,
    lang: Lang,
}

fn login_form(
    ops: &Ops,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    let next = if safe_next(next) { next } else { "/" };
    html(
        status,
        LoginPage {
            next,
            error,
            sso: ops.sso_button(),
            next_query: web::encode_query(next),
            lang: Lang::of(headers),
        }
        .render()
        .unwrap_or_else(|e| format!("the page could not be rendered: {e}")),
    )
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /login`
async fn login_page(State(ops): State<Ops>, headers: HeaderMap, q: Query<NextQuery>) -> Response {
    login_form(
        &ops,
        &headers,
        StatusCode::OK,
        q.0.next.as_deref().unwrap_or("/"),
        None,
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// `POST /login` (form field `token`): a session cookie, and on to the page asked for.
async fn login(
    State(ops): State<Ops>,
    headers: HeaderMap,
    axum::extract::Form(f): axum::extract::Form<LoginForm>,
) -> PageResult {
    let next = f.next.as_deref().filter(|n| safe_next(n)).unwrap_or("/");
    if !web::same_origin(&headers) {
        return Ok(login_form(
            &ops,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            Some("this login was sent from another site: log in on this page"),
        ));
    }
    if f.token.trim().is_empty() || f.token.len() > 256 {
        return Ok(login_form(
            &ops,
            &headers,
            StatusCode::BAD_REQUEST,
            next,
            Some("enter your API token (it starts with relops_)"),
        ));
    }
    match ops.login_with_token(&f.token).await {
        Ok(Some((secret, session))) => {
            let max_age = (session.expires_at - chrono::Utc::now()).num_seconds();
            let mut r = Redirect::to(next).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                web::set_cookie(Some((&secret, max_age)), web::secure_cookie(&ops)),
            );
            Ok(r)
        }
        Ok(None) => Ok(login_form(
            &ops,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            Some("unknown or revoked API token: check it, or ask an admin for a new one"),
        )),
        Err(relops_ops::OpError::Forbidden { message, .. }) => Ok(login_form(
            &ops,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            Some(&message),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /login/oidc?next=`: on to the company's OpenID provider, with the login's state
/// in a cookie of this browser.
async fn sso_start(State(ops): State<Ops>, headers: HeaderMap, q: Query<NextQuery>) -> PageResult {
    let next = q.0.next.as_deref().filter(|n| safe_next(n)).unwrap_or("/");
    match ops.sso_start(next).await {
        Ok((url, state)) => {
            let mut r = Redirect::to(&url).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                web::set_oidc_cookie(Some(&state), web::secure_cookie(&ops)),
            );
            Ok(r)
        }
        Err(e) => Ok(login_form(
            &ops,
            &headers,
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            next,
            Some(&e.to_string()),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/oidc/callback`: the provider sends the browser back with a code (or an
/// error); a session cookie, and on to the page the login started from.
async fn sso_callback(
    State(ops): State<Ops>,
    headers: HeaderMap,
    q: Query<Callback>,
) -> PageResult {
    let clear = web::set_oidc_cookie(None, web::secure_cookie(&ops));
    let refuse = |status: StatusCode, message: &str| {
        let mut r = login_form(&ops, &headers, status, "/", Some(message));
        r.headers_mut().insert(header::SET_COOKIE, clear.clone());
        r
    };
    let q = q.0;
    if let Some(e) = q.error {
        let said: String = q
            .error_description
            .unwrap_or(e)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            &format!("the OpenID provider refused the login: {said}"),
        ));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "the provider's answer lacks its code or state: start the login again",
        ));
    };
    if code.len() > 2048 || state.len() > 256 {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "the provider's answer is too long",
        ));
    }
    let cookie = web::cookie(&headers, web::OIDC_COOKIE);
    match ops.sso_finish(cookie.as_deref(), &state, &code).await {
        Ok((secret, session, next)) => {
            let max_age = (session.expires_at - chrono::Utc::now()).num_seconds();
            let next = if safe_next(&next) { next } else { "/".into() };
            let mut r = Redirect::to(&next).into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                web::set_cookie(Some((&secret, max_age)), web::secure_cookie(&ops)),
            );
            h.append(header::SET_COOKIE, clear);
            Ok(r)
        }
        Err(e) => Ok(refuse(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
            &e.to_string(),
        )),
    }
}

/// `GET /lang/{en|de}`: keeps the language in a cookie (a year) and goes back to the
/// page the switch was on (the `Referer`, when it is a page of this site).
async fn switch_lang(
    State(ops): State<Ops>,
    axum::extract::Path(code): axum::extract::Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let lang = Lang::parse(&code)
        .ok_or_else(|| relops_ops::OpError::NotFound(format!("no language `{code}`: en or de")))?;
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let authority = u.port().map_or_else(
                || u.host_str().unwrap_or("").to_owned(),
                |p| format!("{}:{p}", u.host_str().unwrap_or("")),
            );
            host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
        })
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .filter(|p| safe_next(p))
        .unwrap_or_else(|| "/".into());
    let secure = if web::secure_cookie(&ops) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}",
        crate::i18n::LANG_COOKIE,
        lang.code()
    );
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// A form with no fields but its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct NoFields {}

/// `POST /logout`: ends the session and removes the cookie.
async fn logout(State(ops): State<Ops>, headers: HeaderMap, _f: Form<NoFields>) -> PageResult {
    if let Some(secret) = web::cookie_secret(&headers) {
        ops.logout(&secret).await?;
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        web::set_cookie(None, web::secure_cookie(&ops)),
    );
    Ok(r)
}

/// The stylesheet and script, built into the binary (no CDN; works offline).
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "relops.css" => (
            include_str!("../../assets/relops.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("../../assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// The words the pages' code puts in (not a template's `t("…")`) have their German.
    #[test]
    fn words_from_code_are_translated() {
        let words = super::tickets::VIEWS
            .iter()
            .map(|(_, w)| *w)
            .chain(super::health::PERIODS.iter().map(|(_, w)| *w))
            .chain([
                "overdue by",
                "clock stopped",
                "answered",
                "soak ends",
                "may advance",
                "filed",
            ]);
        for en in words {
            assert_ne!(super::Lang::De.t(en), en, "no German for {en:?}");
        }
    }

    /// Every message after an action has its German.
    #[test]
    fn flash_messages_are_translated() {
        let words = [
            "signed",
            "decided",
            "start",
            "advance",
            "halt",
            "resume",
            "pause",
            "rollback",
            "rollback_pending",
            "revoked",
            "replied",
            "noted",
            "assigned",
            "prioritised",
            "escalated",
            "solved",
            "confirmed",
            "closed",
            "reopened",
            "saved",
            "published",
            "acked",
            "postmortem",
        ];
        for w in words {
            let en = super::flash(w).unwrap_or_else(|| panic!("no message for {w}"));
            assert_ne!(super::Lang::De.t(en), en, "no German for {en:?}");
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    status: u16,
    message: &'a str,
}

/// The page of a refused action; the message is the operation's, as it said it.
pub(crate) fn error_page(lang: Lang, status: u16, message: &str) -> String {
    ErrorPage {
        lang,
        status,
        message,
    }
    .render()
    .unwrap_or_else(|_| "the page could not be rendered".into())
}

/// Renders a page, or says it could not.
pub(crate) fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => {
            tracing::error!(error = %e, "console page failed to render");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_page(
                    Lang::En,
                    500,
                    "the page could not be rendered; the server log has the details",
                ),
            )
        }
    }
}
