//! `OpError`: why an operation did not happen, in kinds a caller can branch on. The HTTP
//! server maps each kind to a status code (`relops-server`'s `ApiError`), the console to a
//! message on the page, the alert worker to a line in the alert's actions. Every message
//! says what was wrong and what to do about it.

use relops_core::access::Permission;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The input is malformed or incomplete (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// What the operation is about does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// A rule of the playbook refuses the action now — the state machine, a gate, the
    /// artifact policy; the message names the rule and the way forward (409).
    #[error("{0}")]
    Refused(String),
    /// The thing exists already, or changed while the operation ran; look again (409).
    #[error("{0}")]
    Conflict(String),
    /// The actor's roles lack `permission` (403). `None`: a rule about who, not a
    /// permission of the table (a checklist item is signed by its owner role).
    #[error("{message}")]
    Forbidden {
        permission: Option<Permission>,
        message: String,
    },
    /// The input is larger than the configured limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Well-formed but unusable content: a report that cannot be read, a digest that does
    /// not match, an empty file (422).
    #[error("{0}")]
    Unreadable(String),
    /// A part the operation needs is not available now; retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// The fleet sends more than its limits allow; retry after the given seconds (429).
    #[error("{message}")]
    RateLimited {
        retry_after_secs: u64,
        message: String,
    },
    /// A fault of the server: logged, not shown in detail (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a caller is told while the database cannot be reached.
const DB_UNREACHABLE: &str = "the database cannot be reached right now (a restart, a failover or a network fault); retry in a few seconds";

impl From<relops_store::DbError> for OpError {
    fn from(e: relops_store::DbError) -> Self {
        match e {
            relops_store::DbError::Conflict(what) => {
                Self::Conflict(format!("{what} already exists"))
            }
            e => match db_outage(&e) {
                Some(m) => {
                    tracing::warn!(error = %e, "{m}");
                    Self::Unavailable(m.to_owned())
                }
                None => Self::Internal(e.into()),
            },
        }
    }
}

/// What a caller is told while the disk under the data dir is full.
const DISK_FULL: &str = "the server's disk is full, so nothing was stored; free space on the disk of relops's data directory (or its blob store), then retry";

/// What a caller is told while the blob store cannot be reached.
const BLOBS_UNREACHABLE: &str = "the blob store (S3) cannot be reached right now; retry in a few seconds (an upload answered this was not stored)";

/// What to tell a caller when `e` is an outage of the database or its disk, not a fault.
fn db_outage(e: &relops_store::DbError) -> Option<&'static str> {
    (e.is_unreachable().then_some(DB_UNREACHABLE)).or(e.is_disk_full().then_some(DISK_FULL))
}

/// What to tell a caller when `e` is an outage of the blob store or its disk.
fn blob_outage(e: &relops_store::BlobError) -> Option<&'static str> {
    (e.is_unreachable().then_some(BLOBS_UNREACHABLE)).or(e.is_disk_full().then_some(DISK_FULL))
}

impl From<relops_store::BlobError> for OpError {
    fn from(e: relops_store::BlobError) -> Self {
        match blob_outage(&e) {
            Some(m) => {
                tracing::warn!(error = %e, "{m}");
                Self::Unavailable(m.to_owned())
            }
            None => Self::Internal(e.into()),
        }
    }
}

impl OpError {
    /// An internal error caused by an unreachable database or blob store, or a full disk
    /// (one that reached the caller wrapped, not through `From`), is an outage to retry
    /// after: `Unavailable`.
    pub fn or_outage(self) -> Self {
        let Self::Internal(e) = self else {
            return self;
        };
        let outage = e.chain().find_map(|c| {
            if let Some(d) = c.downcast_ref::<relops_store::DbError>() {
                db_outage(d)
            } else if let Some(b) = c.downcast_ref::<relops_store::BlobError>() {
                blob_outage(b)
            } else {
                c.downcast_ref::<std::io::Error>()
                    .filter(|io| io.kind() == std::io::ErrorKind::StorageFull)
                    .map(|_| DISK_FULL)
            }
        });
        match outage {
            Some(m) => {
                tracing::warn!(error = ?e, "{m}");
                Self::Unavailable(m.to_owned())
            }
            None => Self::Internal(e),
        }
    }

    /// The HTTP status that says this kind (the console answers a refused form with it).
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::Forbidden { .. } => 403,
            Self::NotFound(_) => 404,
            Self::Refused(_) | Self::Conflict(_) => 409,
            Self::TooLarge(_) => 413,
            Self::Unreadable(_) => 422,
            Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }
}

pub type OpResult<T> = Result<T, OpError>;
