//! [`MemoryState`]: an in-memory [`StateStore`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::state_data::{StateData, newest};
use crate::error::StoreResult;
use crate::model::{
    AuditEntry, AuditQuery, Checkpoint, Lease, PendingCreate, RecordState, StateCommit,
    SyncDirection,
};
use crate::report::RunReport;
use crate::state::StateStore;

/// A source of "now" for lease expiry, replaceable in tests.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use twenty_sync_core::memory::{Clock, MemoryState};
/// use twenty_sync_core::StateStore;
///
/// let frozen: Clock = Arc::new(|| Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap());
/// let state = MemoryState::with_clock(frozen);
/// let lease = state.acquire_lease("ws/contacts", "w-1", Duration::from_secs(60)).await?.unwrap();
/// assert_eq!(lease.expires_at, Utc.with_ymd_and_hms(2025, 6, 1, 12, 1, 0).unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Debug, Default)]
struct Inner {
    data: StateData,
    audit: Vec<AuditEntry>,
}

/// An in-memory [`StateStore`], for tests, examples and dry runs.
///
/// Cheap to clone: clones share the same state. Every [`commit`](StateStore::commit) is validated
/// in full before anything changes, so a rejected commit leaves no trace.
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{Checkpoint, RecordState, StateCommit, StateStore, StateStoreExt, SyncDirection};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
/// commit.cursors.push((SyncDirection::Pull, Checkpoint::new("2024-01-01T00:00:00Z")));
/// state.commit(&commit).await?;
///
/// assert_eq!(state.record_by_twenty_id("contacts", "tw-1").await?.unwrap().local_key, "c-1");
/// assert!(state.cursor("contacts", SyncDirection::Pull).await?.is_some());
/// assert!(state.cursor("contacts", SyncDirection::Push).await?.is_none());
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryState {
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState").finish_non_exhaustive()
    }
}

impl Default for MemoryState {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryState {
    /// An empty state store using the system clock.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::StateStore;
    ///
    /// let state = MemoryState::new();
    /// assert!(state.known_empty("contacts").await?);
    /// assert!(state.runs(10).await?.is_empty());
    /// assert_eq!(state.audit_len(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::with_clock(Arc::new(Utc::now))
    }

    /// An empty state store whose leases expire by `clock` (tests move time forward by hand).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use chrono::{TimeZone, Utc};
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::StateStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let now = Arc::new(Mutex::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()));
    /// let clock_now = now.clone();
    /// let state = MemoryState::with_clock(Arc::new(move || *clock_now.lock().unwrap()));
    /// let a = state.acquire_lease("ws/contacts", "a", Duration::from_secs(60)).await?.unwrap();
    /// assert!(state.acquire_lease("ws/contacts", "b", Duration::from_secs(60)).await?.is_none());
    /// *now.lock().unwrap() += chrono::Duration::seconds(61);
    /// let b = state.acquire_lease("ws/contacts", "b", Duration::from_secs(60)).await?.unwrap();
    /// assert!(b.token > a.token);
    /// # Ok::<(), twenty_sync_core::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn with_clock(clock: Clock) -> Self {
        MemoryState {
            inner: Arc::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Commits validate before mutating, so a poisoned lock still guards consistent state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of audit entries stored (all entities).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemoryState;
    /// use twenty_sync_core::{AuditAction, AuditEntry, AuditOutcome, StateCommit, StateStore, SyncDirection};
    ///
    /// let state = MemoryState::new();
    /// let mut commit = StateCommit::new("contacts");
    /// commit.audit.push(AuditEntry {
    ///     run_id: "run-1".into(), at: chrono::Utc::now(), entity: "contacts".into(),
    ///     direction: SyncDirection::Push, local_key: Some("c-1".into()), twenty_id: None,
    ///     action: AuditAction::Create, changed_fields: vec![], before_hash: None, after_hash: None,
    ///     outcome: AuditOutcome::Planned, detail: None,
    /// });
    /// state.commit(&commit).await?;
    /// assert_eq!(state.audit_len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn audit_len(&self) -> usize {
        self.lock().audit.len()
    }
}

#[async_trait]
impl StateStore for MemoryState {
    fn describe(&self) -> String {
        "in-memory state".to_owned()
    }

    async fn commit(&self, commit: &StateCommit) -> StoreResult<()> {
        let mut inner = self.lock();
        inner.data.validate(commit)?;
        inner.data.apply(commit);
        inner.audit.extend(commit.audit.iter().cloned());
        Ok(())
    }

    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>> {
        Ok(self.lock().data.cursor(entity, direction))
    }

    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>> {
        Ok(self.lock().data.records(entity, local_keys))
    }

    async fn records_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        Ok(self.lock().data.records_by_twenty_id(entity, twenty_ids))
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        Ok(self.lock().data.has_no_records(entity))
    }

    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>> {
        Ok(self.lock().data.pending_creates(entity))
    }

    async fn save_run(&self, report: &RunReport) -> StoreResult<()> {
        self.lock().data.save_run(report);
        Ok(())
    }

    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>> {
        Ok(self.lock().data.runs(limit))
    }

    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>> {
        Ok(self.lock().data.run(run_id))
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let inner = self.lock();
        let matching: Vec<AuditEntry> = inner
            .audit
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        Ok(newest(matching, query.limit))
    }

    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        let Some(slot) = inner.data.lease_outcome(scope, holder, ttl, now)? else {
            return Ok(None);
        };
        let lease = slot.current.clone();
        inner.data.leases.insert(scope.to_owned(), slot);
        Ok(lease)
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.data.is_current_lease(lease) {
            inner.data.clear_lease(&lease.scope);
        }
        Ok(())
    }
}
