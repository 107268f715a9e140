//! tough's transport over the updater's own HTTP client. tough's default HTTP transport
//! builds a new client — loading and parsing the system's root certificates — for every
//! file it fetches; a check fetches four or more. Reusing one client per updater keeps a
//! check cheap and its connections alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

#[derive(Debug, Clone)]
pub(crate) struct SharedHttp(pub reqwest::Client, pub Arc<Traffic>);

/// What the feed's metadata cost this updater: files fetched (a 404 counts) and bytes.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

#[async_trait::async_trait]
impl Transport for SharedHttp {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url,
            ));
        }
        let resp = self.0.get(url.clone()).send().await.map_err(|e| {
            TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e)
        })?;
        let status = resp.status();
        self.1.files.fetch_add(1, Ordering::Relaxed);
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            // What tough needs to learn that there is no newer root.
            return Err(TransportError::new(TransportErrorKind::FileNotFound, url));
        }
        if !status.is_success() {
            return Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                url,
                format!("HTTP {status}"),
            ));
        }
        let traffic = Arc::clone(&self.1);
        let stream = resp
            .bytes_stream()
            .inspect_ok(move |chunk| {
                traffic
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            })
            .map_err(move |e| {
                TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e)
            });
        Ok(Box::pin(stream))
    }
}
