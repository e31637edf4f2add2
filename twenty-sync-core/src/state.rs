//! The [`StateStore`] trait: ID map, cursors, per-record sync state, runs, audit log, leases.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::{
    AuditEntry, AuditQuery, Checkpoint, Lease, PendingCreate, RecordState, StateCommit,
    SyncDirection,
};
use crate::report::RunReport;

/// Where the engine keeps what it knows about past syncs.
///
/// Object-safe (`Arc<dyn StateStore>` works). All writes that belong together arrive as one
/// [`StateCommit`] and must be applied all-or-nothing. A sink may implement this trait in the same
/// database as its data so that data and state commit in one transaction (see
/// [`SourceOfTruth::apply`](crate::SourceOfTruth::apply)).
///
/// Contract (checked by [`conformance`](crate::conformance)):
/// - Record state is keyed by (entity, local key); [`records_by_twenty_id`](Self::records_by_twenty_id)
///   finds the same row by its Twenty id. One local key maps to one Twenty id and back.
/// - Cursors are per (entity, direction) and only move through [`commit`](Self::commit).
/// - [`known_empty`](Self::known_empty) says `true` only when the entity has no record state.
/// - Runs are upserted by id; [`runs`](Self::runs) lists them newest first.
/// - The audit log is append-only; [`audit`](Self::audit) returns entries oldest first.
/// - A lease on a scope is held by one holder at a time until it expires or is released; a new
///   holder gets a larger fencing token.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// A short description for logs and reports (no secrets).
    fn describe(&self) -> String;

    /// Applies everything in `commit` atomically.
    async fn commit(&self, commit: &StateCommit) -> StoreResult<()>;

    /// The cursor of `entity` in `direction`, if one was committed.
    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>>;

    /// The record states of these local keys (absent keys are left out).
    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>>;

    /// The record states with these Twenty ids (absent ids are left out).
    async fn records_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Vec<RecordState>>;

    /// Whether `entity` is known to have no record state. `false` means "not known to be empty"
    /// and is always a correct answer; it is the default. See
    /// [`SourceOfTruth::known_empty`](crate::SourceOfTruth::known_empty) for what the engine
    /// does with it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore};
    ///
    /// let state = MemoryState::new();
    /// assert!(state.known_empty("people").await?);
    /// let mut commit = StateCommit::new("people");
    /// commit.upsert_records.push(RecordState::new("p-1", "tw-1"));
    /// state.commit(&commit).await?;
    /// assert!(!state.known_empty("people").await?);
    /// # Ok::<(), twenty_sync_core::StoreError>(()) }).unwrap();
    /// ```
    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        let _ = entity;
        Ok(false)
    }

    /// The write-ahead create intents of `entity` not yet resolved.
    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>>;

    /// Inserts or replaces the stored report of `report.run_id`.
    async fn save_run(&self, report: &RunReport) -> StoreResult<()>;

    /// The most recent runs, newest first, at most `limit`.
    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>>;

    /// One run by id.
    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>>;

    /// Audit entries matching `query`, oldest first (the newest `limit` when a limit is set).
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Tries to take (or renew, for the same holder) the lease on `scope` for `ttl`.
    /// `Ok(None)` when another holder has a lease that has not expired.
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>>;

    /// Gives the lease up (no-op when `lease` is no longer the current one).
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()>;
}

#[async_trait]
impl<T: StateStore + ?Sized> StateStore for std::sync::Arc<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    async fn commit(&self, commit: &StateCommit) -> StoreResult<()> {
        (**self).commit(commit).await
    }
    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>> {
        (**self).cursor(entity, direction).await
    }
    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>> {
        (**self).records(entity, local_keys).await
    }
    async fn records_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        (**self).records_by_twenty_id(entity, twenty_ids).await
    }
    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        (**self).known_empty(entity).await
    }

    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>> {
        (**self).pending_creates(entity).await
    }
    async fn save_run(&self, report: &RunReport) -> StoreResult<()> {
        (**self).save_run(report).await
    }
    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>> {
        (**self).runs(limit).await
    }
    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>> {
        (**self).run(run_id).await
    }
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        (**self).audit(query).await
    }
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        (**self).acquire_lease(scope, holder, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        (**self).release_lease(lease).await
    }
}

/// Convenience methods on top of [`StateStore`], for every implementation.
#[async_trait]
pub trait StateStoreExt: StateStore {
    /// The record state of one local key.
    async fn record(&self, entity: &str, local_key: &str) -> StoreResult<Option<RecordState>> {
        Ok(self
            .records(entity, &[local_key.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    /// The record state of one Twenty id.
    async fn record_by_twenty_id(
        &self,
        entity: &str,
        twenty_id: &str,
    ) -> StoreResult<Option<RecordState>> {
        Ok(self
            .records_by_twenty_id(entity, &[twenty_id.to_owned()])
            .await?
            .into_iter()
            .next())
    }
}

impl<T: StateStore + ?Sized> StateStoreExt for T {}
