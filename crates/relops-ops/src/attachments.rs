//! Files customers attach to their mail (issue 25): log bundles, screenshots, dumps — as
//! personal as a crash dump, so kept the same way. Each is sealed to the crash key (HPKE,
//! [`relops_seal`]) before it is stored, under the SHA-256 of its plain bytes
//! (`attachments/sealed/{hex}`: the same file attached twice is stored once), and opened
//! only for a role that may read crash dumps (`crash.dump`), each opening an audit entry.
//! The blob store never holds a customer's file in the clear; a reader of the store or a
//! backup learns its size and digest, nothing else.
//!
//! Files stored before sealing (`attachments/sha256/{hex}`, plain) are still read.

use bytes::Bytes;
use relops_core::access::Permission;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

fn sealed_key(hex: &str) -> String {
    format!("attachments/sealed/{hex}")
}

fn plain_key(hex: &str) -> String {
    format!("attachments/sha256/{hex}")
}

/// What a sealed attachment is bound to: its digest, so a sealed file cannot pass for
/// another.
fn seal_id(hex: &str) -> String {
    format!("attachment:{hex}")
}

impl Ops {
    /// Seals `bytes` (whose SHA-256 is `hex`) to the crash key and stores them, unless a
    /// file with that digest is stored already.
    pub(crate) async fn store_sealed_attachment(&self, hex: &str, bytes: &[u8]) -> OpResult<()> {
        let sealed = relops_seal::seal(self.crash_key.public_hex(), &seal_id(hex), bytes)
            .map_err(|e| OpError::Internal(anyhow::anyhow!("sealing an attachment: {e}")))?;
        // Sealing is randomised: a second copy's bytes differ from the stored one's, so
        // `Different` only means the file was there already. That it opens to these bytes
        // is checked whenever it is read.
        self.blobs.put_once(&sealed_key(hex), sealed.into()).await?;
        Ok(())
    }

    /// Deletes an attachment's stored bytes (sealed, and plain from before sealing).
    pub(crate) async fn delete_attachment(&self, hex: &str) -> Result<(), String> {
        let mut gone = false;
        let mut last = None;
        for key in [sealed_key(hex), plain_key(hex)] {
            match self.blobs.delete(&key).await {
                Ok(()) => gone = true,
                Err(e) => last = Some(e.to_string()),
            }
        }
        match (gone, last) {
            (true, _) | (false, None) => Ok(()),
            (false, Some(e)) => Err(e),
        }
    }

    /// An attachment of ticket `id`, opened: (file name, bytes). Needs `crash.dump`;
    /// audited.
    pub async fn ticket_attachment(
        &self,
        actor: &Actor,
        id: &str,
        sha256: &str,
    ) -> OpResult<(String, Bytes)> {
        let who = actor.authorize(Permission::CrashDump)?;
        let t = self.load_ticket(id).await?;
        let sha256 = sha256.trim().to_ascii_lowercase();
        let a = self
            .db
            .ticket_attachments(&t.id)
            .await?
            .into_iter()
            .find(|a| a.sha256 == sha256)
            .ok_or_else(|| {
                OpError::NotFound(format!(
                    "ticket {} has no attachment {sha256}: `relops ticket show {}` lists them with their sha256",
                    t.id, t.id
                ))
            })?;
        let plain: Bytes = match self.blobs.get_raw(&sealed_key(&sha256)).await {
            Ok(sealed) => self
                .crash_key
                .open(&seal_id(&sha256), &sealed)
                .map_err(|e| {
                    OpError::Unreadable(format!(
                        "attachment {} of {}: {e} — was it sealed to another server's crash key?",
                        a.name, t.id
                    ))
                })?
                .into(),
            Err(relops_store::BlobError::NotFound(_)) => {
                self.blobs.get_raw(&plain_key(&sha256)).await.map_err(|e| match e {
                    relops_store::BlobError::NotFound(_) => OpError::NotFound(format!(
                        "the file of attachment {} of {} is gone (erased with the customer's data?)",
                        a.name, t.id
                    )),
                    e => e.into(),
                })?
            }
            Err(e) => return Err(e.into()),
        };
        if hex::encode(Sha256::digest(&plain)) != sha256 {
            self.stored_file_changed(&sealed_key(&sha256));
            return Err(OpError::Unreadable(format!(
                "the stored attachment {} of {} does not match the SHA-256 recorded when it arrived: it was changed in the blob store, and is not served (tell your security engineer)",
                a.name, t.id
            )));
        }
        self.db
            .append_audit_entry(&who.audit(
                "ticket.attachment_opened",
                t.id.clone(),
                json!({"sha256": sha256, "bytes": plain.len()}),
            ))
            .await?;
        Ok((a.name, plain))
    }
}
