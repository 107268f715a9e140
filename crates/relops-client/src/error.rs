//! Errors a desktop app can branch on and show.

use std::path::PathBuf;

/// Why a check or download failed. `Display` is a sentence a UI can show; nothing in this
/// crate panics on bad input from the network or the disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "the update server address `{0}` is not allowed: use https (plain http only for 127.0.0.1/localhost or with allow_insecure_http)"
    )]
    InsecureUrl(String),
    #[error("invalid updater configuration: {0}")]
    Config(String),
    #[error("the update feed could not be verified: {0}")]
    Feed(String),
    #[error("the update server could not be reached: {0}")]
    Network(String),
    #[error("the download is {got} bytes, the signed feed says {expected}: discarded")]
    LengthMismatch { expected: u64, got: u64 },
    #[error("the download's SHA-256 does not match the signed feed: discarded")]
    DigestMismatch,
    #[error("the download is not signed by the release key: discarded")]
    BadReleaseSignature,
    /// Installing a staged update failed at `step`; what was installed before is in place.
    #[error("installing the update failed ({step}): {why}")]
    Install {
        step: String,
        why: String,
        /// Worth retrying later (another installation was running).
        retry: bool,
    },
    #[error("file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// Worth retrying later (network trouble), as opposed to a verification failure.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Network(_))
    }
}
