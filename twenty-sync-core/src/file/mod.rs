//! [`FileStore`]: the embedded default store, a directory of JSON Lines files.
//!
//! Layout of the directory:
//!
//! | file | what | how it is written |
//! |---|---|---|
//! | `data/<entity>.jsonl` | local records and local change feed of one entity | append-only, last line per key wins, compacted on open when mostly dead lines |
//! | `journal.jsonl` | state commits, runs and leases since the last snapshot | append-only, one line per commit |
//! | `state.json` | snapshot of the ID map, record states, cursors, pending creates, runs, leases | replaced atomically (temp file, fsync, rename, fsync dir) every 1000 journal lines |
//! | `audit.jsonl` | the audit log | append-only |
//!
//! Every append is fsynced before the call returns, and is a complete line or, after a crash,
//! a torn last line that the next open drops (with a warning) and cuts off. A batch of pulled
//! changes is one transaction in the data log: if it was cut short, none of it is kept. So a
//! crash at any point loses nothing that was committed, and keeps nothing that was not.
//!
//! Memory grows with the number of records: this is the embedded default for small and medium
//! data; the Postgres sink keeps its state in Postgres and its memory flat. Per record, the file
//! store keeps in memory:
//!
//! - data side: the record's key with the offset, length and sequence number of its latest line;
//!   the records themselves stay on disk and are read back by offset;
//! - state side: the record state, packed (local key and Twenty id each as 16 bytes when they
//!   are canonical UUIDs, each content hash as its bytes, two timestamps, a flag), indexed by
//!   local key and by Twenty id.
//!
//! Keys that are not canonical UUIDs are kept as text, at their length more. Every index is split
//! into shards that grow one after the other, so growing an index never copies more than a
//! twelfth of it at once. In the benchmark harness (`benches`),
//! the engine process pulling a million people into the file store peaked at 372 MiB RSS, and
//! opening that store at 395-413 MiB, against about 55 MiB for 10,000: about 350 bytes a record,
//! allocator overhead included (2026-12-06; 674 MiB and 950 MiB before the keys were packed, the
//! indexes sharded and the journal replayed line by line). The state snapshot
//! is streamed to and from `state.json` (never held in memory as a whole), applying a batch
//! appends only that batch, a state commit appends one journal line written from the borrowed
//! commit, and the cost of a snapshot is amortised over 1000 commits. Opening replays the
//! journal one line at a time. The audit log is never held in memory; [`StateStore::audit`]
//! scans it.
//!
//! [`FileStore::open`] reads the snapshot, the journal and every existing data log into these
//! indexes (O(records), once per process; the records themselves and the audit entries are
//! checked to be JSON but not decoded, as only their keys and numbers are needed); after it, a
//! run costs what it reads and writes, not the size of the store (an incremental pull of 1% of
//! 100,000 records does not re-read the other 99%).
//!
//! One process opens a directory at a time (nothing locks it across processes); within a process,
//! clones of a `FileStore` share everything. Calls do small blocking file I/O on the calling
//! thread.

mod data;
mod io;
mod state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;

use self::data::{EntityLog, Op, OpRef};
use self::io::io_error;
use self::state::StateFiles;
use crate::conformance::LocalEditor;
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::memory::{parse_seq, seq_checkpoint};
use crate::model::{
    ApplyBatch, AuditEntry, AuditQuery, Checkpoint, InboundChangeKind, Lease, LocalChange,
    LocalRecord, PendingCreate, RecordState, StateCommit, StateWritten, SyncDirection,
};
use crate::report::RunReport;
use crate::source::SourceOfTruth;
use crate::state::StateStore;

const FEED_PAGE: usize = 256;

struct Inner {
    dir: PathBuf,
    entities: Mutex<HashMap<String, EntityLog>>,
    state: Mutex<StateFiles>,
}

/// A directory-backed [`SourceOfTruth`] **and** [`StateStore`]: the embedded default of the
/// quickstart. See the [module docs](self) for the file layout and crash guarantees.
///
/// Pulled changes go in with [`apply`](SourceOfTruth::apply) and are not part of the local change
/// feed; local edits go in with [`upsert`](Self::upsert) / [`delete`](Self::delete) and are (that
/// is what a push sends). [`apply`](SourceOfTruth::apply) returns
/// [`StateWritten::NotWritten`]: the engine commits the batch's state right after, and a crash in
/// between only replays an idempotent batch.
///
/// ```
/// use futures::TryStreamExt;
/// use serde_json::json;
/// use twenty_sync_core::file::FileStore;
/// use twenty_sync_core::{SourceOfTruth, StateCommit, StateStore, SyncDirection, Checkpoint};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileStore::open(dir.path())?;
/// store.upsert("people", "p-1", json!({"email": "ada@example.com"}))?;
/// let mut commit = StateCommit::new("people");
/// commit.cursors.push((SyncDirection::Pull, Checkpoint::new("2025-01-01T00:00:00Z")));
/// store.commit(&commit).await?;
/// drop(store);
///
/// // Everything is still there after reopening.
/// let store = FileStore::open(dir.path())?;
/// assert_eq!(store.local_records("people")?.len(), 1);
/// let feed: Vec<_> = store.changes_since("people", None).await?.try_collect().await?;
/// assert_eq!(feed[0].key, "p-1");
/// assert!(store.cursor("people", SyncDirection::Pull).await?.is_some());
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory if needed, repairing a torn tail left by
    /// a crash and compacting data logs that are mostly dead lines.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::StateStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path().join("sync-state"))?;
    /// assert!(store.dir().join("data").is_dir());
    /// assert!(store.known_empty("contacts").await?);
    /// // A path that is a file cannot hold a store: a configuration error that names the path.
    /// std::fs::write(dir.path().join("a-file"), "x")?;
    /// let err = FileStore::open(dir.path().join("a-file")).unwrap_err();
    /// assert_eq!(err.kind(), twenty_sync_core::StoreErrorKind::Config);
    /// assert!(err.to_string().contains("a-file"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> StoreResult<Self> {
        let dir = dir.as_ref().to_path_buf();
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| io_error("create the store directory", &data_dir, e))?;
        let state = StateFiles::open(&dir)?;
        let entities = open_entity_logs(&dir)?;
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir,
                entities: Mutex::new(entities),
                state: Mutex::new(state),
            }),
        })
    }

    /// The directory of the store.
    ///
    /// ```
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert_eq!(store.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn state(&self) -> MutexGuard<'_, StateFiles> {
        // Every mutation validates or writes to disk before touching memory, so state behind a
        // poisoned lock is still consistent with the files.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_entity<T>(
        &self,
        entity: &str,
        f: impl FnOnce(&mut EntityLog) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let path = entity_path(&self.inner.dir, entity)?;
        let mut entities = self
            .inner
            .entities
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let log = match entities.entry(entity.to_owned()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(EntityLog::open(path)?),
        };
        f(log)
    }

    /// Creates or replaces a local record (stamped now) and adds it to the local change feed.
    /// Returns the checkpoint right after the change.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// let cp = store.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
    /// assert_eq!(store.head("contacts")?, Some(cp));
    /// assert_eq!(store.local_records("contacts")?[0].data["name"], "Ada");
    /// // Entity names become file names: path tricks are refused.
    /// assert!(store.upsert("../etc", "x", json!({})).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upsert(&self, entity: &str, key: &str, data: Value) -> StoreResult<Checkpoint> {
        self.upsert_at(entity, key, data, Utc::now())
    }

    /// Like [`upsert`](Self::upsert) with an explicit local `updated_at`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap();
    /// store.upsert_at("contacts", "c-1", json!({"name": "Ada"}), at)?;
    /// assert_eq!(store.local_records("contacts")?[0].updated_at, Some(at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upsert_at(
        &self,
        entity: &str,
        key: &str,
        data: Value,
        at: DateTime<Utc>,
    ) -> StoreResult<Checkpoint> {
        self.local_edit(entity, key, Op::Upsert { data }, at)
    }

    /// Deletes a local record (stamped now) and adds the deletion to the local change feed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures::TryStreamExt;
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::{LocalChangeKind, SourceOfTruth};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// store.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
    /// store.delete("contacts", "c-1")?;
    /// assert!(store.local_records("contacts")?.is_empty());
    /// let feed: Vec<_> = store.changes_since("contacts", None).await?.try_collect().await?;
    /// assert_eq!(feed.last().unwrap().kind, LocalChangeKind::Delete);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn delete(&self, entity: &str, key: &str) -> StoreResult<Checkpoint> {
        self.local_edit(entity, key, Op::Delete, Utc::now())
    }

    fn local_edit(
        &self,
        entity: &str,
        key: &str,
        op: Op,
        at: DateTime<Utc>,
    ) -> StoreResult<Checkpoint> {
        check_key(entity, key)?;
        let seqs = self.with_entity(entity, |log| {
            log.append(&[(key, op.as_ref(), Some(at))], true)
        })?;
        seqs.first().map(|s| seq_checkpoint(*s)).ok_or_else(|| {
            StoreError::new(StoreErrorKind::Other, "append returned no sequence number")
        })
    }

    /// The live (not deleted, not tombstoned) records of `entity`, ordered by key. Reads every
    /// record from disk: meant for small entities, tests and examples.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// store.upsert("contacts", "c-2", json!({"name": "Alan"}))?;
    /// store.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
    /// store.upsert("contacts", "c-3", json!({"name": "Grace"}))?;
    /// store.delete("contacts", "c-3")?;
    /// let keys: Vec<String> = store.local_records("contacts")?.into_iter().map(|r| r.key).collect();
    /// assert_eq!(keys, ["c-1", "c-2"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_records(&self, entity: &str) -> StoreResult<Vec<LocalRecord>> {
        self.with_entity(entity, |log| {
            let keys = log.live_keys();
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(r) = log.get(&key)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }

    /// Whether `key` is kept as a tombstone (deleted in Twenty with `tombstone: true`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// let trashed = InboundChange {
    ///     key: "p-1".into(), twenty_id: "tw-1".into(),
    ///     kind: InboundChangeKind::Delete { tombstone: true }, twenty_updated_at: None,
    /// };
    /// store.apply(&ApplyBatch { entity: "people".into(), changes: vec![trashed], state: StateCommit::new("people") }).await?;
    /// assert!(store.is_tombstoned("people", "p-1")?);
    /// assert!(!store.is_tombstoned("people", "p-2")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn is_tombstoned(&self, entity: &str, key: &str) -> StoreResult<bool> {
        self.with_entity(entity, |log| log.is_tombstoned(key))
    }

    /// The checkpoint after the newest local change of `entity`, if any.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert_eq!(store.head("contacts")?, None);
    /// store.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
    /// let cp = store.delete("contacts", "c-1")?;
    /// assert_eq!(store.head("contacts")?, Some(cp));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn head(&self, entity: &str) -> StoreResult<Option<Checkpoint>> {
        self.with_entity(entity, |log| Ok(log.head().map(seq_checkpoint)))
    }

    /// Rewrites the data log of `entity` keeping only the lines still needed (the latest line of
    /// every key and the latest local change of every key). Also done automatically on open.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// for n in 0..5 {
    ///     store.upsert("contacts", "c-1", json!({"version": n}))?;
    /// }
    /// assert_eq!(store.data_lines("contacts")?, 5);
    /// store.compact("contacts")?;
    /// assert_eq!(store.data_lines("contacts")?, 1);
    /// assert_eq!(store.local_records("contacts")?[0].data["version"], 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compact(&self, entity: &str) -> StoreResult<()> {
        self.with_entity(entity, |log| log.compact())
    }

    /// Number of lines in the data log of `entity` (live and superseded).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert_eq!(store.data_lines("contacts")?, 0);
    /// store.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
    /// store.upsert("contacts", "c-1", json!({"name": "Ada L."}))?;
    /// assert_eq!(store.data_lines("contacts")?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data_lines(&self, entity: &str) -> StoreResult<u64> {
        self.with_entity(entity, |log| Ok(log.line_count()))
    }

    /// Writes the state snapshot now and empties the journal (normally every 1000 commits).
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
    /// store.snapshot()?;
    /// assert!(dir.path().join("state.json").exists());
    /// assert_eq!(std::fs::metadata(dir.path().join("journal.jsonl"))?.len(), 0);
    /// drop(store);
    /// let store = FileStore::open(dir.path())?;
    /// assert!(store.record("contacts", "c-1").await?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn snapshot(&self) -> StoreResult<()> {
        self.state().snapshot()
    }
}

fn check_key(entity: &str, key: &str) -> StoreResult<()> {
    if key.is_empty() {
        return Err(
            StoreError::new(StoreErrorKind::Invalid, "a record has an empty local key")
                .with_context("entity", entity),
        );
    }
    Ok(())
}

/// Opens every `data/<entity>.jsonl` already in `data_dir`, so a run never pays for reading a
/// log into its index (that is the cost of [`FileStore::open`]); entities first written later
/// are opened on first use. Files whose names are not entity log names are left alone.
fn open_entity_logs(dir: &Path) -> StoreResult<HashMap<String, EntityLog>> {
    let data_dir = &dir.join("data");
    let mut logs = HashMap::new();
    let listing = std::fs::read_dir(data_dir)
        .map_err(|e| io_error("list the data directory", data_dir, e))?;
    for entry in listing {
        let entry = entry.map_err(|e| io_error("list the data directory", data_dir, e))?;
        let path = entry.path();
        let Some(entity) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
        else {
            continue;
        };
        match entity_path(dir, entity) {
            Ok(expected) if expected == path => {
                logs.insert(entity.to_owned(), EntityLog::open(path)?);
            }
            _ => continue,
        }
    }
    Ok(logs)
}

/// `data/<entity>.jsonl`, refusing names that are not plain file names.
fn entity_path(dir: &Path, entity: &str) -> StoreResult<PathBuf> {
    let ok = !entity.is_empty()
        && !entity.starts_with('.')
        && entity
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(StoreError::new(
            StoreErrorKind::Config,
            format!(
                "entity name {entity:?} cannot be a file name; use ASCII letters, digits, '_', '-' and '.'"
            ),
        ));
    }
    Ok(dir.join("data").join(format!("{entity}.jsonl")))
}

#[async_trait]
impl SourceOfTruth for FileStore {
    fn describe(&self) -> String {
        format!("file store {}", self.inner.dir.display())
    }

    /// A commit is an fsynced append of its lines, about as costly as its size.
    fn commits_early(&self) -> bool {
        true
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        let after = parse_seq(entity, checkpoint)?;
        // Fail early on a bad entity name.
        entity_path(&self.inner.dir, entity)?;
        let this = self.clone();
        let entity = entity.to_owned();
        let pages = stream::unfold(Some(after), move |cursor| {
            let this = this.clone();
            let entity = entity.clone();
            async move {
                let after = cursor?;
                match this.with_entity(&entity, |log| log.feed_page(after, FEED_PAGE)) {
                    Err(e) => Some((stream::iter(vec![Err(e)]), None)),
                    Ok(page) => {
                        let next = page
                            .last()
                            .and_then(|c| parse_seq(&entity, Some(&c.checkpoint)).ok());
                        if page.is_empty() {
                            return None;
                        }
                        Some((
                            stream::iter(page.into_iter().map(Ok).collect::<Vec<_>>()),
                            next,
                        ))
                    }
                }
            }
        });
        Ok(pages.flatten().boxed())
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        let mut ops = Vec::with_capacity(batch.changes.len());
        for change in &batch.changes {
            check_key(&batch.entity, &change.key)?;
            let op = match &change.kind {
                InboundChangeKind::Upsert { data } => OpRef::Upsert { data },
                InboundChangeKind::Delete { tombstone: true } => OpRef::Tombstone,
                InboundChangeKind::Delete { tombstone: false } => OpRef::Delete,
            };
            ops.push((change.key.as_str(), op, change.twenty_updated_at));
        }
        self.with_entity(&batch.entity, |log| log.append(&ops, false))?;
        Ok(StateWritten::NotWritten)
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        self.with_entity(entity, |log| Ok(log.is_empty()))
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        self.with_entity(entity, |log| {
            let mut out = Vec::new();
            for key in keys {
                if let Some(r) = log.get(key)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }
}

#[async_trait]
impl LocalEditor for FileStore {
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()> {
        self.upsert(entity, key, data).map(|_| ())
    }

    async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()> {
        self.delete(entity, key).map(|_| ())
    }
}

#[async_trait]
impl StateStore for FileStore {
    fn describe(&self) -> String {
        format!("file store {}", self.inner.dir.display())
    }

    async fn commit(&self, commit: &StateCommit) -> StoreResult<()> {
        self.state().commit(commit)
    }

    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>> {
        Ok(self.state().data.cursor(entity, direction))
    }

    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>> {
        Ok(self.state().data.records(entity, local_keys))
    }

    async fn records_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        Ok(self.state().data.records_by_twenty_id(entity, twenty_ids))
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        Ok(self.state().data.has_no_records(entity))
    }

    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>> {
        Ok(self.state().data.pending_creates(entity))
    }

    async fn save_run(&self, report: &RunReport) -> StoreResult<()> {
        self.state().save_run(report)
    }

    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>> {
        Ok(self.state().data.runs(limit))
    }

    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>> {
        Ok(self.state().data.run(run_id))
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.state().audit(query)
    }

    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        self.state().acquire_lease(scope, holder, ttl, Utc::now())
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        self.state().release_lease(lease)
    }
}
