//! Live updates: `GET /console/{product}/events`, a Server-Sent Events stream that says
//! `change` whenever something a page shows may have changed (a halt by a person or the
//! health engine, an alert, a ticket). `console.js` then fetches the page again and
//! swaps its main part in place — no reload, and not while the user is typing in a form.
//!
//! Each stream polls the change stamp every [`EVERY`] and ends when its session does, or
//! when the server stops (so that a shutdown does not wait for open browser tabs).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use relops_ops::Ops;

use crate::web::{PageResult, User, cookie_secret};

/// How often a stream looks for a change.
const EVERY: Duration = Duration::from_secs(2);

/// `GET /console/{product}/events`
pub(crate) async fn events(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    headers: HeaderMap,
    user: User,
) -> PageResult {
    ops.product(Some(&product))?;
    let first = ops.change_stamp(&user.actor).await?;
    let secret = cookie_secret(&headers).unwrap_or_default();
    let stream = futures::stream::unfold(
        (ops, secret, first, true),
        |(ops, secret, last, hello)| async move {
            if hello {
                let e = Event::default().event("hello").data(&last);
                return Some((Ok::<_, Infallible>(e), (ops, secret, last, false)));
            }
            loop {
                tokio::select! {
                    () = tokio::time::sleep(EVERY) => {}
                    () = ops.stopped() => return None,
                }
                let user = match ops.session(&secret, None).await {
                    Ok(Some(s)) => relops_ops::Actor::Caller(s.principal),
                    _ => return None,
                };
                match ops.change_stamp(&user).await {
                    Ok(now) if now != last => {
                        let e = Event::default().event("change").data(&now);
                        return Some((Ok(e), (ops, secret, now, false)));
                    }
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
