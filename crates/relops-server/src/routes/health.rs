//! `/healthz` (the process is up) and `/readyz` (it can reach its database and blob store).

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if let Err(e) = state.db.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {e}\n"),
        );
    }
    if let Err(e) = state.blobs.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("blob store unreachable: {e}\n"),
        );
    }
    (StatusCode::OK, "ready\n".to_owned())
}
