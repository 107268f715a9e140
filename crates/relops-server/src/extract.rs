//! The extractors handlers use for path, query and JSON bodies: axum's, with every
//! rejection turned into an [`ApiError`] — the documented `{"code", "error"}` body with a
//! message that says what to fix — instead of axum's plain-text bodies.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// A JSON body (`Content-Type: application/json`), or an answer.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The query string.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A multipart form.
#[derive(Debug)]
pub struct Multipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(
            axum::extract::Multipart::from_request(req, state).await?,
        ))
    }
}

/// The whole body as bytes.
#[derive(Debug, Clone)]
pub struct Bytes(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(bytes::Bytes::from_request(req, state).await?))
    }
}

/// A rejection's status, as the kind of `ApiError` that has it.
fn kind(status: StatusCode, message: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!(message)),
        _ => ApiError::BadRequest(message),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let why = match &r {
            JsonRejection::MissingJsonContentType(_) => {
                "send `Content-Type: application/json`".to_owned()
            }
            other => other.body_text(),
        };
        kind(
            r.status(),
            format!(
                "the body is not the JSON this route takes: {why} (its schema is in /v1/openapi.json)"
            ),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        kind(
            r.status(),
            format!("the query string does not read: {}", r.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        kind(
            r.status(),
            format!("the path does not read: {}", r.body_text()),
        )
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        kind(
            r.status(),
            format!("the body cannot be read: {}", r.body_text()),
        )
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(r: MultipartRejection) -> Self {
        kind(
            r.status(),
            format!(
                "the body is not a multipart form: {} (send multipart/form-data with one part per file)",
                r.body_text()
            ),
        )
    }
}

/// The request's `If-None-Match` values, without copying the other headers (axum's
/// `HeaderMap` extractor clones them all, on the feed's hottest route).
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(pub Vec<axum::http::HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get_all(axum::http::header::IF_NONE_MATCH)
                .iter()
                .cloned()
                .collect(),
        ))
    }
}
