//! Sync engine between Twenty CRM and a system of record, generic over [`SourceOfTruth`],
//! [`StateStore`] and [`SecretProvider`].
//!
//! The traits are small and object-safe; every implementation (in-memory, file, Postgres,
//! BigQuery) is held to one contract by the public [`conformance`] suite.
#![warn(missing_docs)]

pub mod conformance;
pub mod engine;
pub mod error;
pub mod file;
pub mod memory;
pub mod model;
pub mod plan_mapper;
pub mod report;
pub mod secret;
pub mod source;
pub mod state;

pub use engine::{RunOptions, SyncEngine, SyncError, SyncErrorKind};
pub use error::{StoreError, StoreErrorKind, StoreResult};
pub use model::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, InboundChange,
    InboundChangeKind, Lease, LocalChange, LocalChangeKind, LocalRecord, PendingCreate,
    RecordState, StateCommit, StateWritten, SyncDirection,
};
pub use plan_mapper::PlanMapper;
pub use report::{EntityCounts, RecordFailure, RunMode, RunReport, RunStatus};
pub use secret::SecretProvider;
pub use source::SourceOfTruth;
pub use state::{StateStore, StateStoreExt};
