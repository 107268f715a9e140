#![doc = include_str!("../README.md")]

mod alerts;
mod artifacts;
mod audit;
pub mod backup;
mod blob;
mod changes;
mod checklist;
mod crash_analysis;
mod deltas;
mod expiry;
mod feed;
mod fleet;
mod gates;
mod health_history;
mod ingest;
mod ingest_write;
mod kb;
mod leader;
mod log_bundles;
mod mailouts;
mod outbox;
mod pilot;
mod pool;
mod releases;
mod retention;
mod reviews;
mod rollback_requests;
mod rollout;
mod sessions;
mod sql;
mod tickets;
mod tokens;

pub use alerts::{AlertRecord, IncidentDecisionRecord, IncidentReport, NewAlert, NewIncident};
pub use artifacts::{ArtifactRecord, NewArtifact, StoredArtifact};
pub use audit::{AuditEntry, AuditRecord, AuditVerdict, Checkpoint, GENESIS};
pub use blob::{BlobConfig, BlobError, BlobStore, BlobUpload, PutOnce};
pub use changes::{FeedChange, FeedListener};
pub use checklist::{Decision, Signoff};
pub use crash_analysis::{
    AnalysisOutcome, AnalysisRecord, GroupRecord, GroupStat, PendingCrash, SymbolRecord,
};
pub use deltas::{DeltaFile, DeltaRecord};
pub use expiry::CertificateRecord;
pub use feed::{MetadataRow, PUBLISHED_STATES};
pub use fleet::{FleetCursor, SharedBatch};
pub use gates::GateRecord;
pub use health_history::HealthPointRecord;
pub use ingest::{CrashRecord, HealthFigures, Replay};
pub use ingest_write::{ENDED_DAYS, Folded, IngestJournal, JournalEntry};
pub use kb::{KbArticleRecord, KbRevisionRecord, SearchHit, query_words};
pub use leader::LeaderLock;
pub use log_bundles::LogBundleRecord;
pub use mailouts::{MAILOUT_EVENT, MailoutProgress, MailoutRecord, SubscriberRecord};
pub use outbox::{NewNotification, Notification};
pub use pilot::{PilotInstallRecord, PilotInviteRecord, Redeemed};
pub use pool::Db;
pub use releases::{ReleaseRecord, ReleaseSummaryRecord};
pub use retention::{RowRef, StoredRef};
pub use reviews::ReviewRecord;
pub use rollback_requests::RollbackRequestRecord;
pub use rollout::{IncidentRecord, RollbackPlan, RollbackRecord, RolloutRecord};
pub use sessions::{OidcLoginRecord, SessionRecord};
pub use sql::{Backend, DbError};
pub use tickets::{
    AttachmentRecord, NewTicketEvent, PriorityRuleRecord, SlaReport, TicketEventRecord,
    TicketRecord,
};
pub use tokens::TokenRecord;
