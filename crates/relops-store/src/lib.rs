#![doc = include_str!("../README.md")]

mod alerts;
mod audit;
mod blob;
mod checklist;
mod db;
mod feed;
mod gates;
mod ingest;
mod ingest_write;
mod outbox;
mod rollout;

pub use alerts::{AlertRecord, IncidentDecisionRecord, NewAlert, NewIncident};
pub use audit::{AuditEntry, AuditVerdict, Checkpoint, GENESIS};
pub use blob::{BlobConfig, BlobError, BlobStore, BlobUpload};
pub use checklist::{Decision, Signoff};
pub use db::{AuditRecord, Backend, Db, DbError, NewArtifact, StoredArtifact, TokenRecord};
pub use feed::{MetadataRow, PUBLISHED_STATES};
pub use gates::GateRecord;
pub use ingest::{CrashRecord, HealthFigures, Replay};
pub use ingest_write::{ENDED_DAYS, Folded, IngestJournal, JournalEntry};
pub use outbox::{NewNotification, Notification};
pub use rollout::{IncidentRecord, RollbackPlan, RollbackRecord, RolloutRecord};
