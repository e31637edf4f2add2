//! Sync engine between Twenty CRM and a system of record, generic over [`SourceOfTruth`],
//! [`StateStore`] and [`SecretProvider`].
//!
//! The traits are small and object-safe; every implementation (in-memory, file, Postgres,
//! BigQuery) is held to one contract by the public [`conformance`] suite.
//!
//! # Memory model
//!
//! The engine streams with bounded buffers, so its memory stays flat as an entity grows: a pull
//! fetches pages of at most `batch_size` records (default 100, at most 200) one ahead and
//! commits their writes together once `pull_commit_records` (default 2,000) are staged; a push reads the local change feed in chunks of `batch_size`,
//! makes at most one lookup of linked records and one natural-key lookup per chunk, and commits
//! the chunk with its cursor before reading on. What grows with a *run* is proportional to what
//! it changes, not to the data: the [`engine::Plan`] (one entry per write) and the list of failed
//! records (never truncated). The retry sets of failed records (see [`engine::RETRY_LIMIT`]) hold
//! at most 1,000 keys per entity and direction, and are retried in `batch_size` chunks. The stores differ: [`memory`] holds everything, [`file::FileStore`]
//! keeps a small per-record index and the record states in memory, a database sink holds nothing
//! between calls. Peak memory against record counts is measured in `benches/`.
//!
//! # Secrets
//!
//! [`SecretProvider`] resolves API keys and webhook secrets by name. Implementations:
//! [`EnvSecrets`] (environment variables), [`FileSecrets`] (mounted secret files),
//! [`SecretChain`] (several providers, several alias names per secret), [`InMemorySecrets`]
//! (tests), and `GcpSecretManager` (Google Cloud Secret Manager, cargo feature
//! `gcp-secret-manager`). See [`secret`] for the lookup rules and an example.
//!
//! ```
//! use secrecy::ExposeSecret;
//! use twenty_sync_core::{EnvSecrets, InMemorySecrets, SecretChain, SecretProvider};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let secrets = SecretChain::new()
//!     .with(EnvSecrets::new().prefix("MYAPP_").upper_snake())
//!     .with(InMemorySecrets::new().with_secret("twenty_api_key", "k-1"))
//!     .alias("twenty-api-key", ["twenty_api_key"]);
//! assert_eq!(secrets.require("twenty-api-key").await?.expose_secret(), "k-1");
//! # Ok::<(), twenty_sync_core::StoreError>(())
//! # }).unwrap();
//! ```
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
mod sharded;
pub mod source;
pub mod state;
pub mod workspace;

pub use engine::{RunOptions, SyncEngine, SyncError, SyncErrorKind};
pub use error::{StoreError, StoreErrorKind, StoreResult};
pub use model::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, Fence,
    InboundChange, InboundChangeKind, Lease, Linked, LocalChange, LocalChangeKind, LocalRecord,
    PendingCreate, RecordState, StateCommit, StateWritten, SyncDirection,
};
pub use plan_mapper::PlanMapper;
pub use report::{EntityCounts, RecordFailure, RunMode, RunReport, RunStatus};
pub use secret::{EnvSecrets, FileSecrets, InMemorySecrets, SecretChain, SecretProvider};
#[cfg(feature = "gcp-secret-manager")]
pub use secret::{GcpCredentials, GcpSecretManager, ServiceAccountKey};
pub use source::SourceOfTruth;
pub use state::{StateStore, StateStoreExt};
