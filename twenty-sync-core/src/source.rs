//! The [`SourceOfTruth`] trait: the local system of record.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::StoreResult;
use crate::model::{ApplyBatch, Checkpoint, Linked, LocalChange, LocalRecord, StateWritten};

/// The local system of record the engine keeps in sync with Twenty.
///
/// Small and object-safe on purpose (`Arc<dyn SourceOfTruth>` works); the conformance suite in
/// [`conformance`](crate::conformance) states the contract every implementation must pass.
///
/// Contract:
/// - [`changes_since`](Self::changes_since) yields every change made after `checkpoint`, in feed
///   order, each carrying the checkpoint that resumes right after it. A change committed while a
///   feed is being read is either in this feed or in the next one: never lost. Deletions are
///   changes too. The same change may appear again after a crash (at-least-once); the engine is
///   idempotent over repeats.
/// - [`apply`](Self::apply) writes a batch of changes from Twenty all-or-nothing, and applying the
///   same batch twice leaves the same result. A source that also serves as the engine's
///   [`StateStore`](crate::StateStore) writes `batch.state` in the same transaction and returns
///   [`StateWritten::Written`]; others return [`StateWritten::NotWritten`] and the engine commits
///   the state right after (so a crash in between only replays an idempotent batch).
/// - [`get`](Self::get) looks records up by local key; missing keys are simply absent from the
///   result.
/// - [`known_empty`](Self::known_empty) says `true` only when the entity holds no record at all.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use futures::TryStreamExt;
/// use serde_json::json;
/// use twenty_sync_core::file::FileStore;
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::SourceOfTruth;
///
/// // Code written against the trait works with every source.
/// async fn changed_keys(source: &dyn SourceOfTruth, entity: &str) -> twenty_sync_core::StoreResult<Vec<String>> {
///     let feed: Vec<_> = source.changes_since(entity, None).await?.try_collect().await?;
///     Ok(feed.into_iter().map(|c| c.key).collect())
/// }
///
/// let memory = MemorySource::new();
/// memory.upsert("contacts", "c-1", json!({"name": "Ada"}));
/// let dir = tempfile::tempdir()?;
/// let file = FileStore::open(dir.path())?;
/// file.upsert("contacts", "c-1", json!({"name": "Ada"}))?;
/// let sources: Vec<Arc<dyn SourceOfTruth>> = vec![Arc::new(memory), Arc::new(file)];
/// for source in &sources {
///     assert_eq!(changed_keys(source.as_ref(), "contacts").await?, ["c-1"]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait SourceOfTruth: Send + Sync {
    /// A short description for logs and reports (no secrets), e.g. `"postgres table crm.contacts"`.
    ///
    /// ```
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert_eq!(MemorySource::new().describe(), "in-memory source");
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// assert_eq!(SourceOfTruth::describe(&store), format!("file store {}", dir.path().display()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn describe(&self) -> String;

    /// The local changes of `entity` after `checkpoint` (`None`: from the beginning), in order.
    ///
    /// The stream is bounded in memory: implementations fetch in pages, never the whole entity.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures::TryStreamExt;
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// let mut feed = source.changes_since("contacts", None).await?;
    /// let mut last = None;
    /// while let Some(change) = feed.try_next().await? {
    ///     last = Some(change.checkpoint); // a push commits this as its cursor
    /// }
    /// source.upsert("contacts", "c-2", json!({"name": "Alan"}));
    /// // Resuming from the last checkpoint yields only what came after it.
    /// let next: Vec<_> = source.changes_since("contacts", last.as_ref()).await?.try_collect().await?;
    /// assert_eq!(next.len(), 1);
    /// assert_eq!(next[0].key, "c-2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>>;

    /// Applies a batch of pulled changes atomically (see the trait docs for the state contract).
    ///
    /// Refuse data you cannot store (a value too long for its column, a constraint) with a
    /// [`StoreErrorKind::Invalid`](crate::StoreErrorKind::Invalid) error that is not temporary,
    /// writing nothing of the batch: the engine then applies the batch in parts to find the
    /// records refused, reports each as a failure kept for retry, and applies the rest. An
    /// error whose `key` context names the record refused saves it the halving (one apply more
    /// per such record). Any other error stops the pull, with its cursor before the batch.
    ///
    /// A source that writes `batch.state` itself ([`StateWritten::Written`]) honours its
    /// [`fence`](crate::StateCommit::fence) as [`StateStore::commit`](crate::StateStore::commit)
    /// does: the whole batch, data included, is refused with
    /// [`StoreErrorKind::LeaseLost`](crate::StoreErrorKind::LeaseLost) unless the lease is still
    /// current. (A source that does not is checked by the state commit that follows its write.)
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sync_core::file::FileStore;
    /// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit, StateWritten};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// let change = |key: &str, kind| InboundChange {
    ///     key: key.into(), twenty_id: format!("tw-{key}"), kind, twenty_updated_at: None,
    /// };
    /// let batch = ApplyBatch {
    ///     entity: "people".into(),
    ///     changes: vec![
    ///         change("p-1", InboundChangeKind::Upsert { data: json!({"name": "Ada"}) }),
    ///         change("p-2", InboundChangeKind::Delete { tombstone: false }),
    ///     ],
    ///     state: StateCommit::new("people"),
    /// };
    /// assert_eq!(store.apply(&batch).await?, StateWritten::NotWritten);
    /// store.apply(&batch).await?; // idempotent
    /// assert_eq!(store.local_records("people")?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten>;

    /// [`apply`](Self::apply) for a shared batch: what the engine's pulls call. An
    /// implementation whose apply is a chain of round trips can run it on a task of its own
    /// (the batch is `'static` here), so each step is taken as soon as its answer arrives rather
    /// than when the caller's task is next free; the engine maps the next pages on that task
    /// meanwhile. The default applies on the caller's task. Same contract as `apply`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit};
    ///
    /// let source = MemorySource::new();
    /// let batch = Arc::new(ApplyBatch {
    ///     entity: "people".into(),
    ///     changes: vec![InboundChange {
    ///         key: "p-1".into(),
    ///         twenty_id: "t-1".into(),
    ///         kind: InboundChangeKind::Upsert { data: serde_json::json!({"name": "Ada"}) },
    ///         twenty_updated_at: None,
    ///     }],
    ///     state: StateCommit::new("people"),
    /// });
    /// source.apply_shared(batch).await?;
    /// assert_eq!(source.get("people", &["p-1".into()]).await?.len(), 1);
    /// # Ok::<(), twenty_sync_core::StoreError>(()) }).unwrap();
    /// ```
    async fn apply_shared(&self, batch: Arc<ApplyBatch>) -> StoreResult<StateWritten> {
        self.apply(&batch).await
    }

    /// The current local records with these keys (absent keys are left out).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c-1", json!({"email": "ada@example.com"}));
    /// source.upsert("contacts", "c-2", json!({"email": "alan@example.com"}));
    /// let got = source.get("contacts", &["c-2".into(), "missing".into()]).await?;
    /// assert_eq!(got.len(), 1);
    /// assert_eq!(got[0].data["email"], "alan@example.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>>;

    /// The record states of these Twenty ids, each with the live local record its local key
    /// names, read in one lookup; `None` (the default) when this source does not keep the
    /// engine's record states.
    ///
    /// A source that is also the engine's [`StateStore`](crate::StateStore) (it writes
    /// `batch.state` in [`apply`](Self::apply)) can answer what a pull needs for each page of
    /// Twenty records in one round trip instead of two. With `Some`, the answer must equal what
    /// the two separate reads give at that moment:
    /// [`StateStore::records_by_twenty_id`](crate::StateStore::records_by_twenty_id) for the
    /// states (unknown ids left out, in any order), and for each state the record
    /// [`get`](Self::get) returns for its local key, or `None` when `get` would leave it out.
    /// The conformance check
    /// [`linked_lookup_agrees_with_states_and_get`](crate::conformance::source::linked_lookup_agrees_with_states_and_get)
    /// states this. With `None`, the engine makes the two reads itself.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// // The in-memory source keeps no record states: the engine reads them from its state store.
    /// let source = MemorySource::new();
    /// assert!(source.linked_by_twenty_id("people", &["t-1".into()]).await?.is_none());
    /// # Ok::<(), twenty_sync_core::StoreError>(()) }).unwrap();
    /// ```
    async fn linked_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Option<Vec<Linked>>> {
        let _ = (entity, twenty_ids);
        Ok(None)
    }

    /// Whether `entity` is known to hold no record (live or tombstoned). `false` means "not known
    /// to be empty" and is always a correct answer; it is the default.
    ///
    /// The engine asks before a pull: into an entity empty on both sides (this and the
    /// [`StateStore`](crate::StateStore)), every record it meets is new unless this run wrote it,
    /// so it skips the per-page lookups of records it has not written.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let source = MemorySource::new();
    /// assert!(source.known_empty("people").await?);
    /// source.upsert("people", "p-1", serde_json::json!({"name": "Ada"}));
    /// assert!(!source.known_empty("people").await?);
    /// # Ok::<(), twenty_sync_core::StoreError>(()) }).unwrap();
    /// ```
    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        let _ = entity;
        Ok(false)
    }

    /// Whether a pull may hand this source batches smaller than
    /// [`EngineConfig::pull_commit_records`](crate::engine::EngineConfig::pull_commit_records) at
    /// its start, whenever the source has no batch to apply: the pages staged so far go at once,
    /// so a pull shorter than one batch (an incremental pull, typically) is applied while it is
    /// still reading. Right for a source whose commit costs about its size (a database
    /// transaction, an fsynced append): the in-memory source, the file store and the Postgres
    /// sink say `true`. Wrong for one whose every commit has a large fixed cost, such as a query
    /// job per batch: a second commit would cost more than the overlap saves. The default,
    /// `false`, keeps to full batches.
    ///
    /// ```
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert!(MemorySource::new().commits_early());
    /// ```
    fn commits_early(&self) -> bool {
        false
    }

    /// How many pulled batches the engine may have this source apply at once (at least 1, the
    /// default). More than one is right for a source whose [`apply_shared`](Self::apply_shared)
    /// runs each batch as its own transaction on its own connection, and whose batches never
    /// block each other: a pull then commits one batch while the next is being written, where
    /// a single commit is a chain of waits on one connection. The engine keeps the pull cursor
    /// behind every batch not yet acknowledged, acknowledges batches in order, and never hands
    /// over a batch that touches a record of one in flight, so batches applied side by side
    /// commit the same records as one after the other. The Postgres sink says 2 when its pool
    /// allows it; the in-memory source, the file store and the BigQuery sink keep 1.
    ///
    /// ```
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert_eq!(MemorySource::new().concurrent_applies(), 1);
    /// ```
    fn concurrent_applies(&self) -> usize {
        1
    }

    /// Running totals of what this source has cost so far, by name (e.g.
    /// `"bigquery_bytes_processed"`). The engine puts each run's difference into
    /// [`RunReport::source_metrics`](crate::RunReport::source_metrics). Defaults to none.
    ///
    /// ```
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert!(MemorySource::new().metrics().is_empty());
    /// ```
    fn metrics(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

#[async_trait]
impl<T: SourceOfTruth + ?Sized> SourceOfTruth for Arc<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        (**self).changes_since(entity, checkpoint).await
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        (**self).apply(batch).await
    }

    async fn apply_shared(&self, batch: Arc<ApplyBatch>) -> StoreResult<StateWritten> {
        (**self).apply_shared(batch).await
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        (**self).get(entity, keys).await
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        (**self).known_empty(entity).await
    }

    async fn linked_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Option<Vec<Linked>>> {
        (**self).linked_by_twenty_id(entity, twenty_ids).await
    }

    fn commits_early(&self) -> bool {
        (**self).commits_early()
    }

    fn concurrent_applies(&self) -> usize {
        (**self).concurrent_applies()
    }

    fn metrics(&self) -> BTreeMap<String, u64> {
        (**self).metrics()
    }
}
