//! The state-store logic shared by [`MemoryState`](super::MemoryState) and
//! [`FileStore`](crate::file::FileStore): validation and application of a [`StateCommit`], runs
//! and leases. Everything except the audit log, which each store keeps its own way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::model::{Checkpoint, Lease, PendingCreate, RecordState, StateCommit, SyncDirection};
use crate::report::RunReport;

use super::packed::EntityRecords;

/// A stored run with the order it was first saved in (tie-break for equal start times).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRun {
    pub(crate) seq: u64,
    pub(crate) report: RunReport,
}

/// The lease of one scope and the last fencing token handed out for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LeaseSlot {
    pub(crate) current: Option<Lease>,
    pub(crate) last_token: u64,
}

/// How many run reports the memory and file stores keep: the newest (the audit log keeps every
/// entry of every run). A store polled every minute would otherwise hold every report of its
/// life, in memory and in each snapshot.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::memory::{KEPT_RUNS, MemoryState};
/// use twenty_sync_core::{RunMode, RunReport, StateStore};
/// let state = MemoryState::new();
/// let first = RunReport::new("run-0", RunMode::Pull, false);
/// state.save_run(&first).await?;
/// for i in 1..=KEPT_RUNS {
///     state.save_run(&RunReport::new(format!("run-{i}"), RunMode::Pull, false)).await?;
/// }
/// assert_eq!(state.runs(usize::MAX).await?.len(), KEPT_RUNS);
/// assert!(state.run("run-0").await?.is_none(), "the oldest report went");
/// assert!(state.run(&format!("run-{KEPT_RUNS}")).await?.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const KEPT_RUNS: usize = 1000;

/// All state except the audit log. Serialisable: the file store snapshots it as `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StateData {
    records: BTreeMap<String, EntityRecords>,
    /// entity -> direction (`pull`/`push`) -> cursor.
    cursors: BTreeMap<String, BTreeMap<String, Checkpoint>>,
    /// entity -> local key -> pending create.
    pending: BTreeMap<String, BTreeMap<String, PendingCreate>>,
    runs: HashMap<String, StoredRun>,
    run_seq: u64,
    pub(crate) leases: BTreeMap<String, LeaseSlot>,
}

impl StateData {
    /// Checks that `commit` can be applied in full, without changing anything.
    ///
    /// Removals are applied before upserts (for record states and pending creates alike), so a
    /// commit may move a Twenty id from one local key to another by removing the old key.
    pub(crate) fn validate(&self, commit: &StateCommit) -> StoreResult<()> {
        let invalid = |msg: String| {
            Err(StoreError::new(StoreErrorKind::Invalid, msg)
                .with_context("entity", &commit.entity))
        };
        if commit.entity.is_empty() {
            return invalid("state commit has an empty entity name".into());
        }
        if let Some(fence) = &commit.fence {
            let current = self
                .leases
                .get(&fence.scope)
                .and_then(|s| s.current.as_ref())
                .is_some_and(|c| c.holder == fence.holder && c.token == fence.token);
            if !current {
                return Err(StoreError::lease_lost(fence).with_context("entity", &commit.entity));
            }
        }
        let mut directions = HashSet::new();
        for (direction, _) in &commit.cursors {
            if !directions.insert(*direction) {
                return invalid(format!(
                    "state commit moves the {} cursor twice; send at most one cursor per direction",
                    direction.as_str()
                ));
            }
        }
        for r in &commit.upsert_records {
            if r.local_key.is_empty() || r.twenty_id.is_empty() {
                return invalid(format!(
                    "record state with an empty local key or Twenty id (local_key={:?}, twenty_id={:?})",
                    r.local_key, r.twenty_id
                ));
            }
        }
        for p in &commit.add_pending {
            if p.local_key.is_empty() || p.twenty_id.is_empty() {
                return invalid("pending create with an empty local key or Twenty id".into());
            }
        }
        // One Twenty id maps to one local key after the commit.
        let removed: HashSet<&str> = commit.remove_records.iter().map(String::as_str).collect();
        let mut final_upserts: HashMap<&str, &RecordState> = HashMap::new();
        for r in &commit.upsert_records {
            final_upserts.insert(r.local_key.as_str(), r);
        }
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for (key, r) in &final_upserts {
            if let Some(other) = owners.insert(r.twenty_id.as_str(), key) {
                return Err(twenty_id_conflict(&commit.entity, &r.twenty_id, other, key));
            }
        }
        if let Some(existing) = self.records.get(&commit.entity) {
            for (twenty_id, key) in &owners {
                if let Some(owner) = existing.key_of(twenty_id) {
                    let owner = &*owner;
                    let released = owner == *key
                        || removed.contains(owner)
                        || final_upserts
                            .get(owner)
                            .is_some_and(|r| r.twenty_id != *twenty_id);
                    if !released {
                        return Err(twenty_id_conflict(&commit.entity, twenty_id, owner, key));
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a commit already checked by [`validate`](Self::validate) (audit entries excluded).
    pub(crate) fn apply(&mut self, commit: &StateCommit) {
        if !commit.upsert_records.is_empty() || !commit.remove_records.is_empty() {
            let records = self.records.entry(commit.entity.clone()).or_default();
            for key in &commit.remove_records {
                records.remove(key);
            }
            for r in &commit.upsert_records {
                records.upsert(r);
            }
        }
        if !commit.cursors.is_empty() {
            let cursors = self.cursors.entry(commit.entity.clone()).or_default();
            for (direction, checkpoint) in &commit.cursors {
                cursors.insert(direction.as_str().to_owned(), checkpoint.clone());
            }
        }
        if !commit.add_pending.is_empty() || !commit.remove_pending.is_empty() {
            let pending = self.pending.entry(commit.entity.clone()).or_default();
            for key in &commit.remove_pending {
                pending.remove(key);
            }
            for p in &commit.add_pending {
                pending.insert(p.local_key.clone(), p.clone());
            }
        }
    }

    pub(crate) fn cursor(&self, entity: &str, direction: SyncDirection) -> Option<Checkpoint> {
        self.cursors
            .get(entity)
            .and_then(|c| c.get(direction.as_str()))
            .cloned()
    }

    pub(crate) fn records(&self, entity: &str, keys: &[String]) -> Vec<RecordState> {
        let Some(records) = self.records.get(entity) else {
            return Vec::new();
        };
        keys.iter().filter_map(|k| records.get(k)).collect()
    }

    /// Whether `entity` has no record state.
    pub(crate) fn has_no_records(&self, entity: &str) -> bool {
        self.records.get(entity).is_none_or(EntityRecords::is_empty)
    }

    pub(crate) fn records_by_twenty_id(&self, entity: &str, ids: &[String]) -> Vec<RecordState> {
        let Some(records) = self.records.get(entity) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| records.get_by_twenty(id))
            .collect()
    }

    pub(crate) fn pending_creates(&self, entity: &str) -> Vec<PendingCreate> {
        self.pending
            .get(entity)
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn save_run(&mut self, report: &RunReport) {
        let seq = match self.runs.get(&report.run_id) {
            Some(existing) => existing.seq,
            None => {
                self.run_seq += 1;
                self.run_seq
            }
        };
        self.runs.insert(
            report.run_id.clone(),
            StoredRun {
                seq,
                report: report.clone(),
            },
        );
        self.forget_old_runs();
    }

    /// Keeps the newest [`KEPT_RUNS`] run reports.
    fn forget_old_runs(&mut self) {
        while self.runs.len() > KEPT_RUNS {
            let oldest = self
                .runs
                .iter()
                .min_by_key(|(_, r)| (r.report.started_at, r.seq))
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.runs.remove(&id),
                None => break,
            };
        }
    }

    pub(crate) fn runs(&self, limit: usize) -> Vec<RunReport> {
        let mut runs: Vec<&StoredRun> = self.runs.values().collect();
        runs.sort_by_key(|r| std::cmp::Reverse((r.report.started_at, r.seq)));
        runs.into_iter()
            .take(limit)
            .map(|r| r.report.clone())
            .collect()
    }

    pub(crate) fn run(&self, run_id: &str) -> Option<RunReport> {
        self.runs.get(run_id).map(|r| r.report.clone())
    }

    /// The lease `holder` would get on `scope` at `now`, without storing it.
    pub(crate) fn lease_outcome(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<LeaseSlot>> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "lease ttl is too large")
                .with_context("scope", scope)
                .with_source(e)
        })?;
        let slot = self.leases.get(scope).cloned().unwrap_or_default();
        let live = slot.current.as_ref().filter(|l| l.expires_at > now);
        let token = match live {
            Some(l) if l.holder != holder => return Ok(None),
            Some(l) => l.token,
            None => slot.last_token + 1,
        };
        Ok(Some(LeaseSlot {
            current: Some(Lease {
                scope: scope.to_owned(),
                holder: holder.to_owned(),
                expires_at: now + ttl,
                token,
            }),
            last_token: token,
        }))
    }

    /// Whether releasing `lease` changes anything (it is still the current lease).
    pub(crate) fn is_current_lease(&self, lease: &Lease) -> bool {
        self.leases
            .get(&lease.scope)
            .and_then(|s| s.current.as_ref())
            .is_some_and(|c| c.holder == lease.holder && c.token == lease.token)
    }

    /// Drops the current lease of `scope`, keeping its token counter.
    pub(crate) fn clear_lease(&mut self, scope: &str) {
        if let Some(slot) = self.leases.get_mut(scope) {
            slot.current = None;
        }
    }
}

fn twenty_id_conflict(entity: &str, twenty_id: &str, owner: &str, key: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Conflict,
        format!(
            "Twenty id {twenty_id} would map to two local keys ({owner:?} and {key:?}); \
             remove the old mapping in the same commit or fix the duplicate local record"
        ),
    )
    .with_context("entity", entity)
    .with_context("twenty_id", twenty_id)
}

/// Applies the audit query's limit: the newest `limit` entries, still oldest first.
pub(crate) fn newest<T>(mut entries: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        if entries.len() > limit {
            entries.drain(..entries.len() - limit);
        }
    }
    entries
}
