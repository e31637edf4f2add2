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
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use twenty_sync_core::file::FileStore;
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{Checkpoint, StateCommit, StateStore, SyncDirection};
///
/// // Code written against the trait works with every store.
/// async fn advance(state: &dyn StateStore, entity: &str, to: &str) -> twenty_sync_core::StoreResult<()> {
///     let mut commit = StateCommit::new(entity);
///     commit.cursors.push((SyncDirection::Push, Checkpoint::new(to)));
///     state.commit(&commit).await
/// }
///
/// let dir = tempfile::tempdir()?;
/// let stores: Vec<Arc<dyn StateStore>> = vec![Arc::new(MemoryState::new()), Arc::new(FileStore::open(dir.path())?)];
/// for store in &stores {
///     advance(store.as_ref(), "contacts", "42").await?;
///     assert_eq!(store.cursor("contacts", SyncDirection::Push).await?, Some(Checkpoint::new("42")));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StateStore: Send + Sync {
    /// A short description for logs and reports (no secrets).
    ///
    /// ```
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::StateStore;
    ///
    /// assert_eq!(MemoryState::new().describe(), "in-memory state");
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert!(StateStore::describe(&store).starts_with("file store "));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn describe(&self) -> String;

    /// Applies everything in `commit` atomically.
    ///
    /// A commit with a [`fence`](StateCommit::fence) is written only while that lease is the
    /// scope's current one (same holder and token, not given back), checked atomically with the
    /// write; otherwise nothing of it is, and the error's kind is
    /// [`StoreErrorKind::LeaseLost`](crate::StoreErrorKind::LeaseLost)
    /// ([`StoreError::lease_lost`](crate::StoreError::lease_lost)).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore, StateStoreExt, StoreErrorKind};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
    /// state.commit(&commit).await?;
    ///
    /// // A Twenty id maps to one local key: this commit is refused as a whole.
    /// let mut clash = StateCommit::new("contacts");
    /// clash.upsert_records.push(RecordState::new("c-2", "tw-3"));
    /// clash.upsert_records.push(RecordState::new("c-3", "tw-1"));
    /// assert_eq!(state.commit(&clash).await.unwrap_err().kind(), StoreErrorKind::Conflict);
    /// assert!(state.record("contacts", "c-2").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn commit(&self, commit: &StateCommit) -> StoreResult<()>;

    /// The cursor of `entity` in `direction`, if one was committed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::{Checkpoint, StateCommit, StateStore, SyncDirection};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert_eq!(store.cursor("contacts", SyncDirection::Pull).await?, None);
    /// let mut commit = StateCommit::new("contacts");
    /// commit.cursors.push((SyncDirection::Pull, Checkpoint::new("2025-03-01T12:00:00Z")));
    /// store.commit(&commit).await?;
    /// let cursor = store.cursor("contacts", SyncDirection::Pull).await?.unwrap();
    /// assert_eq!(cursor.as_str(), "2025-03-01T12:00:00Z");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>>;

    /// The record states of these local keys (absent keys are left out).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// commit.upsert_records = vec![RecordState::new("c-1", "tw-1"), RecordState::new("c-2", "tw-2")];
    /// state.commit(&commit).await?;
    /// let found = state.records("contacts", &["c-2".into(), "c-9".into()]).await?;
    /// assert_eq!(found, vec![RecordState::new("c-2", "tw-2")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>>;

    /// The record states with these Twenty ids (absent ids are left out).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// commit.upsert_records = vec![RecordState::new("c-1", "tw-1"), RecordState::new("c-2", "tw-2")];
    /// state.commit(&commit).await?;
    /// let found = state.records_by_twenty_id("contacts", &["tw-1".into(), "tw-404".into()]).await?;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].local_key, "c-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{PendingCreate, StateCommit, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// commit.add_pending.push(PendingCreate {
    ///     local_key: "c-1".into(),
    ///     twenty_id: "5d2c9a4e-7b1f-4e0a-8c3d-1f2e3a4b5c6d".into(),
    ///     run_id: "run-1".into(),
    ///     created_at: chrono::Utc::now(),
    /// });
    /// state.commit(&commit).await?;
    /// assert_eq!(state.pending_creates("contacts").await?.len(), 1);
    ///
    /// // Resolved (adopted or sent again): the intent is cleared.
    /// let mut commit = StateCommit::new("contacts");
    /// commit.remove_pending.push("c-1".into());
    /// state.commit(&commit).await?;
    /// assert!(state.pending_creates("contacts").await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>>;

    /// Inserts or replaces the stored report of `report.run_id`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RunMode, RunReport, RunStatus, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let mut report = RunReport::new("run-1", RunMode::Pull, false);
    /// state.save_run(&report).await?; // at the start: Running
    /// report.finish();
    /// state.save_run(&report).await?; // replaced by id
    /// assert_eq!(state.runs(10).await?.len(), 1);
    /// assert_eq!(state.run("run-1").await?.unwrap().status, RunStatus::Succeeded);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn save_run(&self, report: &RunReport) -> StoreResult<()>;

    /// The most recent runs, newest first, at most `limit`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RunMode, RunReport, StateStore};
    ///
    /// let state = MemoryState::new();
    /// for id in ["run-1", "run-2", "run-3"] {
    ///     let mut report = RunReport::new(id, RunMode::Pull, false);
    ///     report.started_at = "2025-01-01T00:00:00Z".parse::<chrono::DateTime<chrono::Utc>>()?
    ///         + chrono::Duration::minutes(id[4..].parse()?);
    ///     state.save_run(&report).await?;
    /// }
    /// let ids: Vec<String> = state.runs(2).await?.into_iter().map(|r| r.run_id).collect();
    /// assert_eq!(ids, ["run-3", "run-2"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>>;

    /// One run by id.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RunMode, RunReport, StateStore};
    ///
    /// let state = MemoryState::new();
    /// state.save_run(&RunReport::new("run-1", RunMode::Push, true)).await?;
    /// assert!(state.run("run-1").await?.unwrap().dry_run);
    /// assert!(state.run("run-2").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>>;

    /// Audit entries matching `query`, oldest first (the newest `limit` when a limit is set).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{AuditAction, AuditEntry, AuditOutcome, AuditQuery, StateCommit, StateStore, SyncDirection};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// for (key, action) in [("c-1", AuditAction::Create), ("c-2", AuditAction::Create), ("c-1", AuditAction::Update)] {
    ///     commit.audit.push(AuditEntry {
    ///         run_id: "run-1".into(), at: chrono::Utc::now(), entity: "contacts".into(),
    ///         direction: SyncDirection::Pull, local_key: Some(key.into()), twenty_id: None, action,
    ///         changed_fields: vec![], before_hash: None, after_hash: None,
    ///         outcome: AuditOutcome::Applied, detail: None,
    ///     });
    /// }
    /// state.commit(&commit).await?;
    /// let history = state.audit(&AuditQuery { key: Some("c-1".into()), ..Default::default() }).await?;
    /// let actions: Vec<AuditAction> = history.iter().map(|e| e.action).collect();
    /// assert_eq!(actions, [AuditAction::Create, AuditAction::Update]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Tries to take (or renew, for the same holder) the lease on `scope` for `ttl`.
    /// `Ok(None)` when another holder has a lease that has not expired.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::StateStore;
    ///
    /// let state = MemoryState::new();
    /// let ttl = Duration::from_secs(30);
    /// let lease = state.acquire_lease("ws/contacts", "worker-1", ttl).await?.expect("free scope");
    /// assert!(state.acquire_lease("ws/contacts", "worker-2", ttl).await?.is_none());
    /// // The holder renews: same fencing token.
    /// let renewed = state.acquire_lease("ws/contacts", "worker-1", ttl).await?.unwrap();
    /// assert_eq!(renewed.token, lease.token);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>>;

    /// Gives the lease up (no-op when `lease` is no longer the current one).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::StateStore;
    ///
    /// let state = MemoryState::new();
    /// let ttl = Duration::from_secs(30);
    /// let lease = state.acquire_lease("ws/contacts", "worker-1", ttl).await?.unwrap();
    /// state.release_lease(&lease).await?;
    /// let taken = state.acquire_lease("ws/contacts", "worker-2", ttl).await?.unwrap();
    /// // Releasing the old lease again does not free the scope from its new holder.
    /// state.release_lease(&lease).await?;
    /// assert!(state.acquire_lease("ws/contacts", "worker-3", ttl).await?.is_none());
    /// assert!(taken.token > lease.token);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{RecordState, StateCommit, StateStore, StateStoreExt};
///
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
/// state.commit(&commit).await?;
/// // One key instead of a slice; `None` instead of an empty Vec.
/// assert_eq!(state.record("contacts", "c-1").await?.unwrap().twenty_id, "tw-1");
/// assert!(state.record_by_twenty_id("contacts", "tw-2").await?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StateStoreExt: StateStore {
    /// The record state of one local key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore, StateStoreExt};
    ///
    /// let state = MemoryState::new();
    /// assert!(state.record("contacts", "c-1").await?.is_none());
    /// let mut commit = StateCommit::new("contacts");
    /// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
    /// state.commit(&commit).await?;
    /// assert_eq!(state.record("contacts", "c-1").await?.unwrap().twenty_id, "tw-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn record(&self, entity: &str, local_key: &str) -> StoreResult<Option<RecordState>> {
        Ok(self
            .records(entity, &[local_key.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    /// The record state of one Twenty id.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::{RecordState, StateCommit, StateStore, StateStoreExt};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// let mut commit = StateCommit::new("contacts");
    /// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
    /// store.commit(&commit).await?;
    /// assert_eq!(store.record_by_twenty_id("contacts", "tw-1").await?.unwrap().local_key, "c-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
