//! `ApiError`: every refusal the API makes, mapped to a status code and a JSON body that
//! says what was wrong and how to fix it. Internal errors are logged, not leaked.
//! Operations refuse with [`OpError`]; each of its kinds has its status here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use relops_api::ErrorBody;
use relops_core::access::Permission;
use relops_ops::OpError;

/// `Retry-After` of a 503: a part the server needs (the database, the ingest writer, the
/// blob store) is down for now; clients and load balancers come back after this long.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden {
        message: String,
        permission: Option<Permission>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 416 with `Content-Range: bytes */LEN`.
    #[error(
        "the range asked for is not within the file's {len} bytes: ask for bytes=0-{last} or less, or without Range"
    )]
    RangeNotSatisfiable { len: u64, last: u64 },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    /// 429 with `Retry-After` and Sentry's `X-Sentry-Rate-Limits`.
    #[error("{message}")]
    RateLimited {
        retry_after_secs: u64,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e.or_outage() {
            OpError::Invalid(m) => Self::BadRequest(m),
            OpError::NotFound(m) => Self::NotFound(m),
            OpError::Refused(m) | OpError::Conflict(m) => Self::Conflict(m),
            OpError::Forbidden {
                permission,
                message,
            } => Self::Forbidden {
                message,
                permission,
            },
            OpError::TooLarge(m) => Self::PayloadTooLarge(m),
            OpError::Unreadable(m) => Self::Unprocessable(m),
            OpError::Unavailable(m) => Self::Unavailable(m),
            OpError::RateLimited {
                retry_after_secs,
                message,
            } => Self::RateLimited {
                retry_after_secs,
                message,
            },
            OpError::Internal(e) => Self::Internal(e),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<relops_store::BlobError> for ApiError {
    fn from(e: relops_store::BlobError) -> Self {
        match e {
            // Not served until somebody restores it (the operators were paged).
            relops_store::BlobError::Changed(key) => Self::Unavailable(format!(
                "the stored file {key} is not what was signed and is not served; retry later"
            )),
            e => OpError::from(e).into(),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::Unprocessable(_) => "unprocessable",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let permission = match &self {
            Self::Forbidden {
                permission: Some(p),
                ..
            } => Some(p.as_str().to_owned()),
            _ => None,
        };
        let body = ErrorBody {
            code: self.code().to_owned(),
            error: message,
            permission,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Self::RangeNotSatisfiable { len, .. } = &self
            && let Ok(v) = format!("bytes */{len}").parse()
        {
            resp.headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, v);
        }
        if let Self::Unavailable(_) = &self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                UNAVAILABLE_RETRY_AFTER_SECS.into(),
            );
        }
        if let Self::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            let h = resp.headers_mut();
            h.insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
            // Sentry's format: retry_after:categories:scope — empty categories = all.
            if let Ok(v) = format!("{retry_after_secs}::key").parse() {
                h.insert("x-sentry-rate-limits", v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
