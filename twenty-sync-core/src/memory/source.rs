//! [`MemorySource`]: an in-memory [`SourceOfTruth`] with a local change feed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;

use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::model::{
    ApplyBatch, Checkpoint, InboundChangeKind, LocalChange, LocalChangeKind, LocalRecord,
    StateWritten,
};
use crate::source::SourceOfTruth;

/// How many feed entries [`MemorySource::changes_since`](SourceOfTruth::changes_since) copies out
/// per page while its stream is read.
const FEED_PAGE: usize = 256;

#[derive(Debug, Clone)]
struct StoredRecord {
    data: Value,
    updated_at: Option<DateTime<Utc>>,
    tombstoned: bool,
}

#[derive(Debug, Default)]
struct EntityData {
    records: BTreeMap<String, StoredRecord>,
    /// seq -> change; at most one entry per key (the latest local change).
    feed: BTreeMap<u64, LocalChange>,
    feed_seq_by_key: HashMap<String, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    entities: HashMap<String, EntityData>,
    next_seq: u64,
}

/// An in-memory system of record, for tests, examples and dry runs.
///
/// Cheap to clone: clones share the same data. Local edits ([`upsert`](Self::upsert),
/// [`delete`](Self::delete)) append to a change feed whose checkpoints are increasing sequence
/// numbers; the feed keeps only the latest change per key (an older change of a key that changed
/// again is dropped, the new one appended at the end), so a reader resuming from any checkpoint
/// still sees the current state of every key changed after it.
///
/// Changes applied from Twenty with [`apply`](SourceOfTruth::apply) update the records but are
/// **not** added to the local change feed: they are not local changes, and feeding them back
/// would push every pulled record straight back to Twenty. Deletes with `tombstone: true` keep
/// the record as a tombstone ([`is_tombstoned`](Self::is_tombstoned)), hidden from
/// [`records`](Self::records) and [`get`](SourceOfTruth::get).
///
/// ```
/// use futures::TryStreamExt;
/// use serde_json::json;
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::{LocalChangeKind, SourceOfTruth};
///
/// # tokio_test(async {
/// let source = MemorySource::new();
/// let first = source.upsert("contacts", "c-1", json!({"email": "ada@example.com"}));
/// source.upsert("contacts", "c-2", json!({"email": "alan@example.com"}));
/// source.delete("contacts", "c-1");
///
/// // The feed holds the latest change per key, in order.
/// let all: Vec<_> = source.changes_since("contacts", None).await?.try_collect().await?;
/// assert_eq!(all.len(), 2);
/// assert_eq!(all[0].key, "c-2");
/// assert_eq!(all[1].kind, LocalChangeKind::Delete);
/// assert_eq!(source.records("contacts").len(), 1);
///
/// // Resume after the first change: only what came after it.
/// let later: Vec<_> = source.changes_since("contacts", Some(&first)).await?.try_collect().await?;
/// assert_eq!(later.len(), 2);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # });
/// # fn tokio_test<F: std::future::Future<Output = Result<(), twenty_sync_core::StoreError>>>(f: F) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    inner: Arc<Mutex<Inner>>,
}

impl MemorySource {
    /// An empty source.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let source = MemorySource::new();
    /// assert!(source.records("contacts").is_empty());
    /// assert!(source.head("contacts").is_none());
    /// assert!(source.known_empty("contacts").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than losing the test that panicked; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates or replaces a local record, stamped now, and records the change in the feed.
    /// Returns the checkpoint right after the change.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// let cp = source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// source.upsert("contacts", "c-1", json!({"name": "Ada Lovelace"}));
    /// assert_eq!(source.record("contacts", "c-1").unwrap().data["name"], "Ada Lovelace");
    /// assert_ne!(source.head("contacts").unwrap(), cp); // the feed moved on
    /// ```
    pub fn upsert(&self, entity: &str, key: &str, data: Value) -> Checkpoint {
        self.upsert_at(entity, key, data, Utc::now())
    }

    /// Like [`upsert`](Self::upsert) with an explicit local `updated_at` (for `newest_wins` tests).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap();
    /// source.upsert_at("contacts", "c-1", json!({"name": "Ada"}), at);
    /// assert_eq!(source.record("contacts", "c-1").unwrap().updated_at, Some(at));
    /// ```
    pub fn upsert_at(
        &self,
        entity: &str,
        key: &str,
        data: Value,
        updated_at: DateTime<Utc>,
    ) -> Checkpoint {
        let mut inner = self.lock();
        let seq = next_seq(&mut inner);
        let e = inner.entities.entry(entity.to_owned()).or_default();
        e.records.insert(
            key.to_owned(),
            StoredRecord {
                data: data.clone(),
                updated_at: Some(updated_at),
                tombstoned: false,
            },
        );
        record_change(e, seq, key, LocalChangeKind::Upsert { data }, updated_at)
    }

    /// Deletes a local record (stamped now) and records the deletion in the feed, whether or not
    /// the record existed. Returns the checkpoint right after the change.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures::TryStreamExt;
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::{LocalChangeKind, SourceOfTruth};
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// let cp = source.delete("contacts", "c-1");
    /// assert!(source.record("contacts", "c-1").is_none());
    /// let feed: Vec<_> = source.changes_since("contacts", None).await?.try_collect().await?;
    /// assert_eq!(feed.last().unwrap().kind, LocalChangeKind::Delete);
    /// assert_eq!(feed.last().unwrap().checkpoint, cp);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn delete(&self, entity: &str, key: &str) -> Checkpoint {
        self.delete_at(entity, key, Utc::now())
    }

    /// Like [`delete`](Self::delete) with an explicit local time.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chrono::{TimeZone, Utc};
    /// use futures::TryStreamExt;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let source = MemorySource::new();
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap();
    /// source.delete_at("contacts", "c-1", at);
    /// let feed: Vec<_> = source.changes_since("contacts", None).await?.try_collect().await?;
    /// assert_eq!(feed[0].updated_at, Some(at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn delete_at(&self, entity: &str, key: &str, at: DateTime<Utc>) -> Checkpoint {
        let mut inner = self.lock();
        let seq = next_seq(&mut inner);
        let e = inner.entities.entry(entity.to_owned()).or_default();
        e.records.remove(key);
        record_change(e, seq, key, LocalChangeKind::Delete, at)
    }

    /// The live (not tombstoned) records of `entity`, ordered by key.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c-2", json!({"name": "Alan"}));
    /// source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// let keys: Vec<String> = source.records("contacts").into_iter().map(|r| r.key).collect();
    /// assert_eq!(keys, ["c-1", "c-2"]);
    /// ```
    pub fn records(&self, entity: &str) -> Vec<LocalRecord> {
        let inner = self.lock();
        inner
            .entities
            .get(entity)
            .map(|e| {
                e.records
                    .iter()
                    .filter(|(_, r)| !r.tombstoned)
                    .map(|(k, r)| to_local(k, r))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One live record, if present and not tombstoned.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// assert_eq!(source.record("contacts", "c-1").unwrap().data, json!({"name": "Ada"}));
    /// assert!(source.record("contacts", "c-2").is_none());
    /// ```
    pub fn record(&self, entity: &str, key: &str) -> Option<LocalRecord> {
        let inner = self.lock();
        let r = inner.entities.get(entity)?.records.get(key)?;
        (!r.tombstoned).then(|| to_local(key, r))
    }

    /// Whether `key` is kept as a tombstone (deleted in Twenty with `tombstone: true`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    /// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit};
    ///
    /// let source = MemorySource::new();
    /// source.upsert("people", "p-1", json!({"name": "Ada"}));
    /// let trashed = InboundChange {
    ///     key: "p-1".into(), twenty_id: "tw-1".into(),
    ///     kind: InboundChangeKind::Delete { tombstone: true }, twenty_updated_at: None,
    /// };
    /// source.apply(&ApplyBatch { entity: "people".into(), changes: vec![trashed], state: StateCommit::new("people") }).await?;
    /// assert!(source.is_tombstoned("people", "p-1"));
    /// assert!(source.record("people", "p-1").is_none()); // hidden from reads
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn is_tombstoned(&self, entity: &str, key: &str) -> bool {
        let inner = self.lock();
        inner
            .entities
            .get(entity)
            .and_then(|e| e.records.get(key))
            .is_some_and(|r| r.tombstoned)
    }

    /// The checkpoint after the newest change in the feed of `entity`, if any.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// assert_eq!(source.head("contacts"), None);
    /// let cp = source.upsert("contacts", "c-1", json!({"name": "Ada"}));
    /// assert_eq!(source.head("contacts"), Some(cp));
    /// ```
    pub fn head(&self, entity: &str) -> Option<Checkpoint> {
        let inner = self.lock();
        let (seq, _) = inner.entities.get(entity)?.feed.last_key_value()?;
        Some(seq_checkpoint(*seq))
    }
}

fn next_seq(inner: &mut Inner) -> u64 {
    inner.next_seq += 1;
    inner.next_seq
}

fn record_change(
    e: &mut EntityData,
    seq: u64,
    key: &str,
    kind: LocalChangeKind,
    at: DateTime<Utc>,
) -> Checkpoint {
    if let Some(old) = e.feed_seq_by_key.insert(key.to_owned(), seq) {
        e.feed.remove(&old);
    }
    let checkpoint = seq_checkpoint(seq);
    e.feed.insert(
        seq,
        LocalChange {
            key: key.to_owned(),
            kind,
            updated_at: Some(at),
            checkpoint: checkpoint.clone(),
        },
    );
    checkpoint
}

fn to_local(key: &str, r: &StoredRecord) -> LocalRecord {
    LocalRecord {
        key: key.to_owned(),
        data: r.data.clone(),
        updated_at: r.updated_at,
    }
}

pub(crate) fn seq_checkpoint(seq: u64) -> Checkpoint {
    Checkpoint::new(seq.to_string())
}

/// Parses a sequence checkpoint; `None` means the beginning.
pub(crate) fn parse_seq(entity: &str, checkpoint: Option<&Checkpoint>) -> StoreResult<u64> {
    match checkpoint {
        None => Ok(0),
        Some(cp) => cp.as_str().parse().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!(
                    "checkpoint {:?} is not a sequence number of this store; \
                     it belongs to another source or was corrupted (reset the push cursor)",
                    cp.as_str()
                ),
            )
            .with_context("entity", entity)
        }),
    }
}

#[async_trait]
impl SourceOfTruth for MemorySource {
    fn describe(&self) -> String {
        "in-memory source".to_owned()
    }

    /// A commit costs about its size (a map update under a lock).
    fn commits_early(&self) -> bool {
        true
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        let after = parse_seq(entity, checkpoint)?;
        let this = self.clone();
        let entity = entity.to_owned();
        // Pages are copied out lazily, so changes committed while the stream is read (they get
        // larger sequence numbers) show up later in the same stream.
        let pages = stream::unfold(Some(after), move |cursor| {
            let this = this.clone();
            let entity = entity.clone();
            async move {
                let after = cursor?;
                let page: Vec<LocalChange> = {
                    let inner = this.lock();
                    inner
                        .entities
                        .get(&entity)
                        .map(|e| {
                            e.feed
                                .range(after + 1..)
                                .take(FEED_PAGE)
                                .map(|(_, c)| c.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let next = match page.last() {
                    Some(last) => parse_seq(&entity, Some(&last.checkpoint)).ok(),
                    None => return None,
                };
                Some((stream::iter(page.into_iter().map(Ok)), next))
            }
        });
        Ok(pages.flatten().boxed())
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        Ok(self
            .lock()
            .entities
            .get(entity)
            .is_none_or(|e| e.records.is_empty()))
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        if batch.entity.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                "apply batch has an empty entity name",
            ));
        }
        let mut inner = self.lock();
        let e = inner.entities.entry(batch.entity.clone()).or_default();
        for change in &batch.changes {
            match &change.kind {
                InboundChangeKind::Upsert { data } => {
                    e.records.insert(
                        change.key.clone(),
                        StoredRecord {
                            data: data.clone(),
                            updated_at: change.twenty_updated_at,
                            tombstoned: false,
                        },
                    );
                }
                InboundChangeKind::Delete { tombstone: true } => {
                    if let Some(r) = e.records.get_mut(&change.key) {
                        r.tombstoned = true;
                        r.updated_at = change.twenty_updated_at.or(r.updated_at);
                    } else {
                        e.records.insert(
                            change.key.clone(),
                            StoredRecord {
                                data: Value::Null,
                                updated_at: change.twenty_updated_at,
                                tombstoned: true,
                            },
                        );
                    }
                }
                InboundChangeKind::Delete { tombstone: false } => {
                    e.records.remove(&change.key);
                }
            }
        }
        Ok(StateWritten::NotWritten)
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        let inner = self.lock();
        let Some(e) = inner.entities.get(entity) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| {
                e.records
                    .get(k)
                    .filter(|r| !r.tombstoned)
                    .map(|r| to_local(k, r))
            })
            .collect())
    }
}
