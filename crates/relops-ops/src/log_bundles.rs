//! Log bundles (issue 27, R-CR-2 and the playbook's "Crash-ID / Logfiles"): the app and
//! error logs of an install's last days, packed and sealed by the SDK to the crash key and
//! attached to a crash or to a ticket the same install opened. The server never sees them
//! in the clear until a role that may read dumps (`crash.dump`) opens one, which is an
//! audit entry — the same terms as a crash dump, because logs hold as much of a person.
//!
//! The DSN is public, so everything here is bounded: a bundle is at most
//! [`MAX_BUNDLE_BYTES`] sealed, an install sends at most [`BUNDLES_PER_INSTALL_PER_DAY`] a
//! day, a ticket takes bundles only from the install that opened it, and a crash lists only
//! the bundles of the install that crashed.

use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use relops_api::{IngestAck, LogBundleInfo, LogBundleList, LogBundleUpload};
use relops_core::access::Permission;
use relops_ingest::envelope;
use relops_store::{LogBundleRecord, PutOnce};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::ingest::check_scope;
use crate::{Actor, Ops};

/// The largest sealed bundle taken (the SDK packs the newest logs first to stay below).
pub const MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;
/// Bundles one install may send in 24 hours.
pub const BUNDLES_PER_INSTALL_PER_DAY: u64 = 10;

/// The blob key of a sealed bundle.
pub(crate) fn blob_key(id: &str) -> String {
    format!("logs/sealed/{id}")
}

/// What the SDK binds a bundle's sealing to: its id, so one bundle cannot pass for another.
pub fn seal_id(id: &str) -> String {
    format!("logs:{id}")
}

fn info(r: LogBundleRecord) -> LogBundleInfo {
    LogBundleInfo {
        id: r.id,
        crash_id: r.crash_id,
        ticket: r.ticket,
        install_id: r.install_id,
        release: r.release,
        platform: r.platform,
        days: u32::try_from(r.days).unwrap_or(u32::MAX),
        files: u32::try_from(r.files).unwrap_or(u32::MAX),
        size: r.size,
        sha256: r.sha256,
        created_at: r.created_at,
        received_at: r.received_at,
    }
}

/// Which bundles a list asks for.
#[derive(Debug, Clone, Copy)]
pub enum BundlesOf<'a> {
    Crash(&'a str),
    Ticket(&'a str),
}

impl Ops {
    /// `POST /v1/ingest/logs`: stores a sealed bundle and answers its id.
    pub async fn ingest_log_bundle(
        &self,
        product: &str,
        u: LogBundleUpload,
    ) -> OpResult<IngestAck> {
        check_scope(&u.who, &self.config.feed.channels)?;
        let id = envelope::normalize_uuid(&u.bundle_id).ok_or_else(|| {
            OpError::Invalid("`bundle_id` must be a UUID (32 hex digits, dashed or not)".into())
        })?;
        if !(1..=180).contains(&u.days) {
            return Err(OpError::Invalid(format!(
                "`days` must be 1-180 (logs are kept at most 180 days), not {}",
                u.days
            )));
        }
        if u.files > 1000 {
            return Err(OpError::Invalid(format!(
                "`files` must be at most 1000, not {}",
                u.files
            )));
        }
        let (crash_id, ticket) = match (u.crash_id.as_deref(), u.ticket.as_deref()) {
            (Some(c), None) => (
                Some(envelope::normalize_uuid(c).ok_or_else(|| {
                    OpError::Invalid("`crash_id` must be a UUID (the crash report's id)".into())
                })?),
                None,
            ),
            (None, Some(t)) => (None, Some(t.trim().to_ascii_uppercase())),
            _ => {
                return Err(OpError::Invalid(
                    "a log bundle is attached to exactly one of `crash_id` and `ticket`".into(),
                ));
            }
        };
        // base64 is 4/3 of the bytes: refuse before decoding what cannot fit.
        if u.sealed.len() > MAX_BUNDLE_BYTES / 3 * 4 + 8 {
            return Err(too_large(u.sealed.len() / 4 * 3));
        }
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(u.sealed.trim())
            .map_err(|e| OpError::Invalid(format!("`sealed` is not base64: {e}")))?;
        if sealed.len() > MAX_BUNDLE_BYTES {
            return Err(too_large(sealed.len()));
        }
        relops_seal::check(&sealed).map_err(|e| OpError::Invalid(format!("`sealed`: {e}")))?;
        self.ingest_limits
            .check(product, 1, [u.who.install_id.as_str()])?;
        if let Some(t) = &ticket {
            // Only the install that opened the ticket adds to it; another install (or a
            // forged request) learns no more than that there is no such ticket for it.
            let found = self.db.ticket(t).await?.filter(|r| {
                r.product == product && r.install_id.as_deref() == Some(&*u.who.install_id)
            });
            match found {
                // 409, not 404: the SDK keeps retrying what is not found, and this never will be.
                None => {
                    return Err(OpError::Refused(format!(
                        "no ticket {t} opened by this install: attach logs to the ticket the app's \"report a problem\" answered"
                    )));
                }
                Some(r) if r.status == "closed" => {
                    return Err(OpError::Refused(format!(
                        "ticket {t} is closed: report the problem again to open a new one"
                    )));
                }
                Some(_) => {}
            }
        }
        let digest = hex::encode(Sha256::digest(&sealed));
        if let Some(old) = self.db.log_bundle(product, &id).await? {
            return if old.sha256 == digest {
                Ok(IngestAck {
                    id: Some(id),
                    stored: Some(0),
                })
            } else {
                Err(OpError::Conflict(format!(
                    "log bundle {id} was sent before with other bytes: make a new UUID for another bundle; the first is kept"
                )))
            };
        }
        let day_ago = Utc::now() - chrono::Duration::days(1);
        let sent = self
            .db
            .log_bundles_since(product, &u.who.install_id, day_ago)
            .await?;
        if sent >= BUNDLES_PER_INSTALL_PER_DAY {
            return Err(OpError::RateLimited {
                retry_after_secs: 3600,
                message: format!(
                    "this install sent {sent} log bundles in the last 24 hours (at most {BUNDLES_PER_INSTALL_PER_DAY}); the ones sent are with support"
                ),
            });
        }
        // The blob first: a row never names bytes that are not stored. A crash between the
        // two leaves an unlisted blob, which a retry (same id, same bytes) then lists.
        if self
            .blobs
            .put_once(&blob_key(&id), sealed.clone().into())
            .await?
            == PutOnce::Different
        {
            return Err(OpError::Conflict(format!(
                "log bundle {id} was sent before with other bytes: make a new UUID for another bundle; the first is kept"
            )));
        }
        let row = LogBundleRecord {
            product: product.to_owned(),
            id: id.clone(),
            crash_id,
            ticket,
            install_id: u.who.install_id,
            release: u.who.release,
            platform: u.who.platform,
            days: u64::from(u.days),
            files: u64::from(u.files),
            size: sealed.len() as u64,
            sha256: digest,
            created_at: u.created_at,
            received_at: Utc::now(),
        };
        self.db.put_log_bundle(&row).await?;
        Ok(IngestAck {
            id: Some(id),
            stored: Some(1),
        })
    }

    /// The bundles attached to a crash (by the install that crashed) or to a ticket.
    pub async fn log_bundles(
        &self,
        actor: &Actor,
        product: &str,
        of: BundlesOf<'_>,
    ) -> OpResult<LogBundleList> {
        actor.authorize(Permission::ReleaseRead)?;
        let rows = match of {
            BundlesOf::Crash(id) => {
                let c = self.crash(actor, product, id).await?;
                return Ok(LogBundleList {
                    bundles: c.log_bundles,
                });
            }
            BundlesOf::Ticket(id) => {
                let t = self.load_ticket(id).await?;
                if t.product != product {
                    return Err(OpError::NotFound(format!("no ticket {id} of {product}")));
                }
                self.db.ticket_log_bundles(&t.id).await?
            }
        };
        Ok(LogBundleList {
            bundles: rows.into_iter().map(info).collect(),
        })
    }

    /// The bundles `install_id` attached to crash `crash_id` (for the crash's view).
    pub(crate) async fn crash_log_bundles(
        &self,
        product: &str,
        crash_id: &str,
        install_id: Option<&str>,
    ) -> OpResult<Vec<LogBundleInfo>> {
        let Some(install) = install_id else {
            return Ok(Vec::new());
        };
        Ok(self
            .db
            .crash_log_bundles(product, crash_id, install)
            .await?
            .into_iter()
            .map(info)
            .collect())
    }

    /// The bundles attached to ticket `id` (for the ticket's view).
    pub(crate) async fn ticket_log_bundles(&self, id: &str) -> OpResult<Vec<LogBundleInfo>> {
        Ok(self
            .db
            .ticket_log_bundles(id)
            .await?
            .into_iter()
            .map(info)
            .collect())
    }

    /// A bundle, opened: its facts and the tar.gz. Needs `crash.dump`; every opening is an
    /// audit entry.
    pub async fn log_bundle(
        &self,
        actor: &Actor,
        product: &str,
        id: &str,
    ) -> OpResult<(LogBundleInfo, Bytes)> {
        let who = actor.authorize(Permission::CrashDump)?;
        let norm = envelope::normalize_uuid(id).unwrap_or_else(|| id.trim().to_owned());
        let b = self.db.log_bundle(product, &norm).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "no log bundle `{id}`: `relops logs list --crash ID` or `--ticket ID` shows them"
            ))
        })?;
        let key = blob_key(&b.id);
        let sealed = self.blobs.get_raw(&key).await?;
        if hex::encode(Sha256::digest(&sealed)) != b.sha256 {
            self.stored_file_changed(&key);
            return Err(OpError::Unreadable(format!(
                "log bundle {} does not match the SHA-256 recorded when it arrived: it was changed in the blob store, and is not served (tell your security engineer)",
                b.id
            )));
        }
        let plain = self.crash_key.open(&seal_id(&b.id), &sealed).map_err(|e| {
            OpError::Unreadable(format!(
                "log bundle {}: {e} — was it sealed to another server's crash key?",
                b.id
            ))
        })?;
        self.db
            .append_audit_entry(&who.audit(
                "logs.read_bundle",
                format!("{product}/{}", b.id),
                json!({
                    "crash": b.crash_id, "ticket": b.ticket, "release": b.release,
                    "bytes": plain.len(),
                }),
            ))
            .await?;
        Ok((info(b), plain.into()))
    }

    /// Deletes the sealed bytes of bundles whose rows went (customer erasure); answers how
    /// many went.
    pub(crate) async fn delete_log_bundle_blobs(&self, ids: &[String]) -> u64 {
        let mut n = 0;
        for id in ids {
            match self.blobs.delete(&blob_key(id)).await {
                Ok(()) => n += 1,
                Err(e) => {
                    tracing::error!(bundle = %id, error = %e, "an erased ticket's log bundle stays in the blob store; delete it by hand")
                }
            }
        }
        n
    }
}

fn too_large(n: usize) -> OpError {
    OpError::TooLarge(format!(
        "a log bundle of {n} bytes: at most {MAX_BUNDLE_BYTES} sealed (pack fewer days)"
    ))
}
