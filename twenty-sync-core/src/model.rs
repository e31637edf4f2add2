//! Plain data exchanged between the engine and the trait implementations.
//!
//! Everything here is serialisable so that file, Postgres and BigQuery implementations can store it
//! as they like. Values of records are `serde_json::Value`s in the *local* shape (after mapping).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which way data flows: from Twenty to the local system (pull) or back (push).
///
/// Cursors are kept per entity *and* direction:
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{Checkpoint, StateCommit, StateStore, SyncDirection};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.cursors.push((SyncDirection::Push, Checkpoint::new("17")));
/// state.commit(&commit).await?;
/// assert_eq!(state.cursor("contacts", SyncDirection::Push).await?, Some(Checkpoint::new("17")));
/// assert_eq!(state.cursor("contacts", SyncDirection::Pull).await?, None);
/// assert_eq!(serde_json::to_string(&SyncDirection::Push).unwrap(), r#""push""#);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncDirection {
    /// Twenty -> local system of record.
    Pull,
    /// Local system of record -> Twenty.
    Push,
}

impl SyncDirection {
    /// `"pull"` or `"push"`.
    ///
    /// ```
    /// use twenty_sync_core::SyncDirection;
    ///
    /// let key = format!("contacts/{}", SyncDirection::Pull.as_str());
    /// assert_eq!(key, "contacts/pull");
    /// assert_eq!(SyncDirection::Push.as_str(), "push");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SyncDirection::Pull => "pull",
            SyncDirection::Push => "push",
        }
    }
}

/// An opaque position in a change feed, chosen by whoever produced it.
///
/// A [`SourceOfTruth`](crate::SourceOfTruth) hands one out with every [`LocalChange`] (an outbox
/// sequence number, a file offset, an `updated_at` + key pair...) and gets it back as "changes
/// since"; the engine uses its own for the pull watermark. Callers never look inside, and it has
/// no order: `"9"` and `"42"` would compare as text, not as positions, so only the source that
/// produced two checkpoints can say which comes first.
///
/// ```
/// use twenty_sync_core::Checkpoint;
/// let cp = Checkpoint::new("42");
/// assert_eq!(cp.as_str(), "42");
/// assert_ne!(cp, Checkpoint::new("042")); // equal only when the same text
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(String);

impl Checkpoint {
    /// Wraps a checkpoint value.
    ///
    /// ```
    /// use twenty_sync_core::Checkpoint;
    ///
    /// // An outbox sequence number; stored as a plain JSON string.
    /// let cp = Checkpoint::new(1042.to_string());
    /// assert_eq!(serde_json::to_string(&cp).unwrap(), r#""1042""#);
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Checkpoint(value.into())
    }

    /// The raw value.
    ///
    /// ```
    /// use twenty_sync_core::Checkpoint;
    ///
    /// // The source that made a checkpoint reads its own format back.
    /// let cp = Checkpoint::new("1042");
    /// let seq: u64 = cp.as_str().parse().unwrap();
    /// assert_eq!(seq, 1042);
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record as the local system holds it (local shape), with its key.
///
/// What [`SourceOfTruth::get`](crate::SourceOfTruth::get) returns:
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::{LocalRecord, SourceOfTruth};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let source = MemorySource::new();
/// source.upsert("contacts", "c-1", json!({"name": "Ada"}));
/// let got: Vec<LocalRecord> = source.get("contacts", &["c-1".into(), "c-9".into()]).await?;
/// assert_eq!(got.len(), 1);
/// assert_eq!(got[0].key, "c-1");
/// assert_eq!(got[0].data["name"], "Ada");
/// assert!(got[0].updated_at.is_some());
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalRecord {
    /// The local key (value of the mapping's `local_key` field).
    pub key: String,
    /// The record in its local shape.
    pub data: Value,
    /// When the local system last changed it, if it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// What happened to a local record.
///
/// Serialised with an `op` tag:
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::LocalChangeKind;
///
/// let upsert = LocalChangeKind::Upsert { data: json!({"name": "Ada"}) };
/// assert_eq!(serde_json::to_value(&upsert).unwrap(), json!({"op": "upsert", "data": {"name": "Ada"}}));
/// assert_eq!(serde_json::to_value(LocalChangeKind::Delete).unwrap(), json!({"op": "delete"}));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LocalChangeKind {
    /// Created or changed; the record as it is now.
    Upsert {
        /// The record in its local shape.
        data: Value,
    },
    /// Deleted locally.
    Delete,
}

/// One entry of a local change feed (the input of a push).
///
/// ```
/// use futures::TryStreamExt;
/// use serde_json::json;
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::{LocalChange, LocalChangeKind, SourceOfTruth};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let source = MemorySource::new();
/// let after_upsert = source.upsert("contacts", "c-1", json!({"name": "Ada"}));
/// source.delete("contacts", "c-2");
/// let feed: Vec<LocalChange> = source.changes_since("contacts", None).await?.try_collect().await?;
/// assert_eq!(feed[0].checkpoint, after_upsert);
/// assert_eq!((feed[1].key.as_str(), &feed[1].kind), ("c-2", &LocalChangeKind::Delete));
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalChange {
    /// The local key of the changed record.
    pub key: String,
    /// Upsert with the current data, or delete.
    pub kind: LocalChangeKind,
    /// When the change happened locally, if known (used by `newest_wins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The feed position *after* this change: passing it back to
    /// [`SourceOfTruth::changes_since`](crate::SourceOfTruth::changes_since) resumes after it.
    pub checkpoint: Checkpoint,
}

/// What a pulled change does to the local record.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::InboundChangeKind;
///
/// let trashed = InboundChangeKind::Delete { tombstone: true };
/// assert_eq!(serde_json::to_value(&trashed).unwrap(), json!({"op": "delete", "tombstone": true}));
/// let upsert: InboundChangeKind = serde_json::from_value(json!({"op": "upsert", "data": {"n": 1}})).unwrap();
/// assert_eq!(upsert, InboundChangeKind::Upsert { data: json!({"n": 1}) });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InboundChangeKind {
    /// Insert or replace the local record with this data (local shape).
    Upsert {
        /// The record in its local shape.
        data: Value,
    },
    /// The record was deleted (or trashed) in Twenty.
    Delete {
        /// Keep a tombstone (mark deleted) instead of removing the row, when the source supports it.
        tombstone: bool,
    },
}

/// One change coming from Twenty, already mapped to the local shape (the input of a pull apply).
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let source = MemorySource::new();
/// source.upsert("people", "p-1", json!({"name": "Ada"}));
/// let trashed = InboundChange {
///     key: "p-1".into(),
///     twenty_id: "tw-1".into(),
///     kind: InboundChangeKind::Delete { tombstone: true },
///     twenty_updated_at: Some(chrono::Utc::now()),
/// };
/// let batch = ApplyBatch { entity: "people".into(), changes: vec![trashed], state: StateCommit::new("people") };
/// source.apply(&batch).await?;
/// assert!(source.is_tombstoned("people", "p-1"));
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundChange {
    /// The local key the change applies to.
    pub key: String,
    /// The Twenty id of the record.
    pub twenty_id: String,
    /// Upsert or delete.
    pub kind: InboundChangeKind,
    /// Twenty's `updatedAt` of the record this change comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twenty_updated_at: Option<DateTime<Utc>>,
}

/// The per-record sync state: the ID map entry plus what was last synced.
///
/// One row per (entity, local key). `twenty_id` is the ID map; the hashes and `twenty_updated_at`
/// serve loop prevention ("this is the change we wrote") and conflict detection.
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{RecordState, StateCommit, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut row = RecordState::new("c-1", "tw-1");
/// row.twenty_hash = Some("9f86d081".into());
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.upsert_records.push(row.clone());
/// state.commit(&commit).await?;
/// assert_eq!(state.records_by_twenty_id("contacts", &["tw-1".into()]).await?, vec![row]);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// The local key.
    pub local_key: String,
    /// The Twenty id the local key is mapped to.
    pub twenty_id: String,
    /// Content hash of the mapped record last written to / read from Twenty (Twenty shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twenty_hash: Option<String>,
    /// Content hash of the local record last written to / read from the local side (local shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_hash: Option<String>,
    /// Twenty's `updatedAt` as last seen or written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twenty_updated_at: Option<DateTime<Utc>>,
    /// The local `updated_at` as last seen, if the local side has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_updated_at: Option<DateTime<Utc>>,
    /// Whether the record is deleted on both sides (kept so a late echo is recognised).
    #[serde(default)]
    pub deleted: bool,
    /// Per-field hashes of the mapped values both sides last agreed on (local shape), read by
    /// the conflict resolution of sync runs: with them a record changed on both sides is
    /// merged, each field changed on one side only taking that side's value, and the conflict
    /// policy settles only the fields changed on both (see
    /// [`AgreedFields`](crate::engine::AgreedFields)). Opaque text. Written by sync runs
    /// ([`RunMode::Sync`](crate::RunMode::Sync)), and kept current by every other run or
    /// webhook delivery that writes a record which has them; `None` for a record no sync run
    /// has written (only ever pulled or pushed one way, which then costs nothing) and after the
    /// recovery of a create interrupted by a crash: the policy then settles every differing
    /// field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_hashes: Option<String>,
}

impl RecordState {
    /// A fresh state row linking `local_key` to `twenty_id`, with nothing synced yet.
    ///
    /// ```
    /// use twenty_sync_core::RecordState;
    /// let s = RecordState::new("c-1", "2b0e...");
    /// assert_eq!(s.local_key, "c-1");
    /// assert!(s.twenty_hash.is_none());
    /// ```
    pub fn new(local_key: impl Into<String>, twenty_id: impl Into<String>) -> Self {
        RecordState {
            local_key: local_key.into(),
            twenty_id: twenty_id.into(),
            twenty_hash: None,
            local_hash: None,
            twenty_updated_at: None,
            local_updated_at: None,
            deleted: false,
            field_hashes: None,
        }
    }
}

/// A write-ahead record of a create about to be sent to Twenty.
///
/// The engine assigns the Twenty id itself (a fresh UUID, which Twenty accepts on create), records
/// the intent *before* sending, and clears it when the result is committed. After a crash, a
/// pending create is resolved by looking the id up in Twenty: found means adopt, missing means send
/// again. Nothing is created twice.
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{PendingCreate, StateCommit, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let state = MemoryState::new();
/// let intent = PendingCreate {
///     local_key: "c-1".into(),
///     twenty_id: "0b8e2a6c-1f3d-4c1e-9a57-2d9f0e6b7c11".into(),
///     run_id: "run-1".into(),
///     created_at: chrono::Utc::now(),
/// };
/// let mut commit = StateCommit::new("contacts");
/// commit.add_pending.push(intent.clone());
/// state.commit(&commit).await?;
/// assert_eq!(state.pending_creates("contacts").await?, vec![intent]);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCreate {
    /// The local key being created in Twenty.
    pub local_key: String,
    /// The id the engine chose for the new Twenty record.
    pub twenty_id: String,
    /// The run that recorded the intent.
    pub run_id: String,
    /// When the intent was recorded.
    pub created_at: DateTime<Utc>,
}

/// Everything about sync state that must change together after a batch is applied.
///
/// The engine builds one per batch and hands it to [`StateStore::commit`](crate::StateStore::commit)
/// (or, for co-located stores, to [`SourceOfTruth::apply`](crate::SourceOfTruth::apply)). An
/// implementation applies all of it or none of it.
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{Checkpoint, RecordState, StateCommit, StateStore, StateStoreExt, SyncDirection};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.upsert_records.push(RecordState::new("c-1", "tw-1"));
/// commit.cursors.push((SyncDirection::Pull, Checkpoint::new("2025-01-01T00:00:00Z")));
/// state.commit(&commit).await?;
///
/// // Moving the record to a new local key: removals are applied before upserts.
/// let mut commit = StateCommit::new("contacts");
/// commit.remove_records.push("c-1".into());
/// commit.upsert_records.push(RecordState::new("c-1b", "tw-1"));
/// state.commit(&commit).await?;
/// assert_eq!(state.record_by_twenty_id("contacts", "tw-1").await?.unwrap().local_key, "c-1b");
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateCommit {
    /// The entity all of this belongs to.
    pub entity: String,
    /// Record states to insert or replace (by local key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert_records: Vec<RecordState>,
    /// Local keys whose record state is removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_records: Vec<String>,
    /// Cursors to move, at most one per direction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cursors: Vec<(SyncDirection, Checkpoint)>,
    /// Write-ahead create intents to record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_pending: Vec<PendingCreate>,
    /// Local keys whose pending create is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_pending: Vec<String>,
    /// Audit entries to append.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEntry>,
    /// The lease the commit is made under, if any: the store refuses the whole commit, with
    /// [`StoreErrorKind::LeaseLost`](crate::StoreErrorKind::LeaseLost), unless this lease is
    /// still the scope's current one, checked atomically with the write (a fencing token: a
    /// run whose lease lapsed and was taken cannot commit state over the new holder's). A
    /// precondition, not data: never stored.
    #[serde(skip)]
    pub fence: Option<Fence>,
}

/// A commit's precondition: the lease of `scope` is still held by `holder` under `token` (no
/// other holder took it since; see [`Lease::token`]).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{StateCommit, StateStore, StoreErrorKind};
///
/// let state = MemoryState::new();
/// let lease = state.acquire_lease("ws#contacts", "worker-1", Duration::from_secs(60)).await?.unwrap();
/// let mut commit = StateCommit::new("contacts");
/// commit.fence = Some(lease.fence());
/// state.commit(&commit).await?; // still the current lease
///
/// state.release_lease(&lease).await?;
/// state.acquire_lease("ws#contacts", "worker-2", Duration::from_secs(60)).await?.unwrap();
/// let err = state.commit(&commit).await.unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's scope.
    pub scope: String,
    /// Its holder.
    pub holder: String,
    /// Its fencing token.
    pub token: u64,
}

impl StateCommit {
    /// An empty commit for `entity`.
    ///
    /// ```
    /// use twenty_sync_core::StateCommit;
    ///
    /// let commit = StateCommit::new("contacts");
    /// assert_eq!(commit.entity, "contacts");
    /// assert!(commit.is_empty());
    /// ```
    pub fn new(entity: impl Into<String>) -> Self {
        StateCommit {
            entity: entity.into(),
            ..Default::default()
        }
    }

    /// Whether the commit changes nothing.
    ///
    /// ```
    /// use twenty_sync_core::{StateCommit, SyncDirection, Checkpoint};
    ///
    /// let mut commit = StateCommit::new("contacts");
    /// assert!(commit.is_empty());
    /// commit.cursors.push((SyncDirection::Push, Checkpoint::new("3")));
    /// assert!(!commit.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.upsert_records.is_empty()
            && self.remove_records.is_empty()
            && self.cursors.is_empty()
            && self.add_pending.is_empty()
            && self.remove_pending.is_empty()
            && self.audit.is_empty()
    }
}

/// A batch of pulled changes plus the state that records them as applied.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::memory::{MemorySource, MemoryState};
/// use twenty_sync_core::{
///     ApplyBatch, InboundChange, InboundChangeKind, RecordState, SourceOfTruth, StateCommit,
///     StateStore, StateWritten,
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (source, state) = (MemorySource::new(), MemoryState::new());
/// let mut batch = ApplyBatch { entity: "people".into(), changes: vec![], state: StateCommit::new("people") };
/// batch.changes.push(InboundChange {
///     key: "p-1".into(),
///     twenty_id: "tw-1".into(),
///     kind: InboundChangeKind::Upsert { data: json!({"name": "Ada"}) },
///     twenty_updated_at: None,
/// });
/// batch.state.upsert_records.push(RecordState::new("p-1", "tw-1"));
/// // The engine's part: data first, then the state unless the source wrote it.
/// if source.apply(&batch).await? == StateWritten::NotWritten {
///     state.commit(&batch.state).await?;
/// }
/// assert_eq!(source.record("people", "p-1").unwrap().data["name"], "Ada");
/// assert!(!state.known_empty("people").await?);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyBatch {
    /// The local entity name.
    pub entity: String,
    /// The changes, in order. Applying the same batch twice must leave the same result. The
    /// engine never puts two changes of one key in a batch, nor two record states of one local
    /// key in its `state` (a store may write them with one set-based statement).
    pub changes: Vec<InboundChange>,
    /// The state to commit with the data.
    pub state: StateCommit,
}

/// Whether a [`SourceOfTruth::apply`](crate::SourceOfTruth::apply) also wrote the batch's state.
///
/// ```
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::{ApplyBatch, SourceOfTruth, StateCommit, StateWritten};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // The in-memory source is not a state store: the engine commits the state itself.
/// let batch = ApplyBatch { entity: "people".into(), changes: vec![], state: StateCommit::new("people") };
/// assert_eq!(MemorySource::new().apply(&batch).await?, StateWritten::NotWritten);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateWritten {
    /// The source wrote `batch.state` in the same transaction as the data (co-located store).
    Written,
    /// The source wrote only the data; the engine commits the state to its StateStore next.
    NotWritten,
}

/// A record state and the live local record its local key names, read together by
/// [`SourceOfTruth::linked_by_twenty_id`](crate::SourceOfTruth::linked_by_twenty_id).
///
/// ```
/// use twenty_sync_core::{Linked, LocalRecord, RecordState};
///
/// let linked = Linked {
///     state: RecordState::new("p-1", "t-1"),
///     record: Some(LocalRecord {
///         key: "p-1".into(),
///         data: serde_json::json!({"name": "Ada"}),
///         updated_at: None,
///     }),
/// };
/// assert_eq!(linked.record.unwrap().key, linked.state.local_key);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    /// The stored record state.
    pub state: RecordState,
    /// The live local record whose key is `state.local_key`: `None` when there is none, or it
    /// is tombstoned (what [`SourceOfTruth::get`](crate::SourceOfTruth::get) leaves out).
    pub record: Option<LocalRecord>,
}

/// The action an audit entry records.
///
/// ```
/// use twenty_sync_core::AuditAction;
///
/// assert_eq!(serde_json::to_string(&AuditAction::Adopt).unwrap(), r#""adopt""#);
/// let action: AuditAction = serde_json::from_str(r#""restore""#).unwrap();
/// assert_eq!(action, AuditAction::Restore);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A record was created on the target side.
    Create,
    /// A record was updated on the target side.
    Update,
    /// A record was deleted (or trashed) on the target side.
    Delete,
    /// A record was restored from trash.
    Restore,
    /// An existing record was adopted by natural-key match (ID map entry created, nothing written).
    Adopt,
    /// A conflict was detected and resolved (see `detail`).
    Conflict,
    /// The record could not be synced (see `outcome`).
    Fail,
}

/// How an audited action ended.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::AuditOutcome;
///
/// let failed = AuditOutcome::Failed("email is not valid".into());
/// assert_eq!(
///     serde_json::to_value(&failed).unwrap(),
///     json!({"status": "failed", "reason": "email is not valid"})
/// );
/// assert_eq!(serde_json::to_value(AuditOutcome::Applied).unwrap(), json!({"status": "applied"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Written and confirmed.
    Applied,
    /// Only planned (dry run).
    Planned,
    /// Failed, with the reason.
    Failed(String),
}

/// One row of the audit log: every write in either direction, every conflict, every failure.
///
/// Never holds secrets; holds field *names* and content hashes, and field values only where the
/// configuration allows (`detail`).
///
/// ```
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{
///     AuditAction, AuditEntry, AuditOutcome, AuditQuery, StateCommit, StateStore, SyncDirection,
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let entry = AuditEntry {
///     run_id: "run-1".into(),
///     at: chrono::Utc::now(),
///     entity: "contacts".into(),
///     direction: SyncDirection::Push,
///     local_key: Some("c-1".into()),
///     twenty_id: Some("tw-1".into()),
///     action: AuditAction::Update,
///     changed_fields: vec!["jobTitle".into()],
///     before_hash: Some("a1".into()),
///     after_hash: Some("b2".into()),
///     outcome: AuditOutcome::Applied,
///     detail: None,
/// };
/// let state = MemoryState::new();
/// let mut commit = StateCommit::new("contacts");
/// commit.audit.push(entry.clone());
/// state.commit(&commit).await?;
/// assert_eq!(state.audit(&AuditQuery::default()).await?, vec![entry]);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The run that did it.
    pub run_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The local entity name.
    pub entity: String,
    /// Which side was written.
    pub direction: SyncDirection,
    /// The local key, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_key: Option<String>,
    /// The Twenty id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twenty_id: Option<String>,
    /// What was done.
    pub action: AuditAction,
    /// Names of the fields that changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<String>,
    /// Content hash before the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_hash: Option<String>,
    /// Content hash after the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hash: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Free text (conflict resolution, error detail); never secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A filter over the audit log. Empty fields match everything.
///
/// ```
/// # use twenty_sync_core::{AuditAction, AuditEntry, AuditOutcome, SyncDirection, StateCommit, StateStore};
/// # use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::AuditQuery;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let entry = |key: &str| AuditEntry { run_id: "run-1".into(), at: chrono::Utc::now(),
/// #     entity: "contacts".into(), direction: SyncDirection::Pull, local_key: Some(key.into()),
/// #     twenty_id: None, action: AuditAction::Create, changed_fields: vec![], before_hash: None,
/// #     after_hash: None, outcome: AuditOutcome::Applied, detail: None };
/// # let state = MemoryState::new();
/// # let mut commit = StateCommit::new("contacts");
/// # commit.audit = vec![entry("c-1"), entry("c-2"), entry("c-1")];
/// # state.commit(&commit).await?;
/// // The history of one record in one run:
/// let query = AuditQuery {
///     run_id: Some("run-1".into()),
///     key: Some("c-1".into()),
///     ..Default::default()
/// };
/// assert_eq!(state.audit(&query).await?.len(), 2);
/// // Only the newest entry of the whole log:
/// let last = state.audit(&AuditQuery { limit: Some(1), ..Default::default() }).await?;
/// assert_eq!(last[0].local_key.as_deref(), Some("c-1"));
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only this run.
    pub run_id: Option<String>,
    /// Only this entity.
    pub entity: Option<String>,
    /// Only entries whose local key *or* Twenty id equals this.
    pub key: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many entries (newest last). `None` means all.
    pub limit: Option<usize>,
}

impl AuditEntry {
    /// The before/after values recorded with this entry, `{"field": {"before": …, "after": …}}`,
    /// when the engine was configured to record them
    /// ([`AuditValues`](crate::engine::AuditValues)); `None` otherwise.
    ///
    /// ```
    /// # use twenty_sync_core::{AuditAction, AuditEntry, AuditOutcome, SyncDirection};
    /// # let mut entry = AuditEntry { run_id: "r".into(), at: chrono::Utc::now(), entity: "e".into(),
    /// #     direction: SyncDirection::Push, local_key: None, twenty_id: None,
    /// #     action: AuditAction::Update, changed_fields: vec!["jobTitle".into()], before_hash: None,
    /// #     after_hash: None, outcome: AuditOutcome::Applied, detail: None };
    /// entry.detail = Some(r#"values: {"jobTitle":{"before":"CTO","after":"CEO"}}"#.into());
    /// let values = entry.field_values().unwrap();
    /// assert_eq!(values["jobTitle"]["after"], "CEO");
    /// ```
    pub fn field_values(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let detail = self.detail.as_deref()?;
        let marker = crate::engine::audit_values_marker();
        let start = if detail.starts_with(marker) {
            marker.len()
        } else {
            detail.find(&format!("; {marker}"))? + 2 + marker.len()
        };
        match serde_json::from_str(&detail[start..]).ok()? {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    }
}

impl AuditQuery {
    /// Whether `entry` passes the filter (ignores `limit`). Implementations may use it directly.
    ///
    /// ```
    /// # use twenty_sync_core::{AuditAction, AuditEntry, AuditOutcome, SyncDirection};
    /// # let entry = AuditEntry { run_id: "run-1".into(), at: chrono::Utc::now(),
    /// #     entity: "contacts".into(), direction: SyncDirection::Pull, local_key: Some("c-1".into()),
    /// #     twenty_id: Some("tw-1".into()), action: AuditAction::Create, changed_fields: vec![],
    /// #     before_hash: None, after_hash: None, outcome: AuditOutcome::Applied, detail: None };
    /// use twenty_sync_core::AuditQuery;
    ///
    /// let q = AuditQuery { entity: Some("contacts".into()), ..Default::default() };
    /// assert!(q.matches(&entry));
    /// // `key` matches the local key or the Twenty id.
    /// assert!(AuditQuery { key: Some("tw-1".into()), ..q.clone() }.matches(&entry));
    /// assert!(!AuditQuery { entity: Some("companies".into()), ..q }.matches(&entry));
    /// ```
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.run_id.as_ref().is_none_or(|r| *r == entry.run_id)
            && self.entity.as_ref().is_none_or(|e| *e == entry.entity)
            && self.key.as_ref().is_none_or(|k| {
                entry.local_key.as_deref() == Some(k.as_str())
                    || entry.twenty_id.as_deref() == Some(k.as_str())
            })
            && self.since.is_none_or(|s| entry.at >= s)
            && self.until.is_none_or(|u| entry.at < u)
    }
}

/// An exclusive, expiring claim on a scope (e.g. `"workspace/contacts"`), with a fencing token.
///
/// ```
/// use std::time::Duration;
/// use twenty_sync_core::memory::MemoryState;
/// use twenty_sync_core::{Lease, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let state = MemoryState::new();
/// let lease: Lease = state.acquire_lease("ws/contacts", "worker-1", Duration::from_secs(60)).await?.unwrap();
/// assert_eq!((lease.scope.as_str(), lease.holder.as_str()), ("ws/contacts", "worker-1"));
/// assert!(lease.expires_at > chrono::Utc::now());
/// state.release_lease(&lease).await?;
/// let next = state.acquire_lease("ws/contacts", "worker-2", Duration::from_secs(60)).await?.unwrap();
/// assert!(next.token > lease.token);
/// # Ok::<(), twenty_sync_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// What is claimed.
    pub scope: String,
    /// Who holds it (a worker id).
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Increases every time the scope changes hands; a stale holder can be detected.
    pub token: u64,
}

impl Lease {
    /// The [`Fence`] of commits made under this lease.
    ///
    /// ```
    /// use twenty_sync_core::Lease;
    ///
    /// let lease = Lease { scope: "ws#contacts".into(), holder: "w-1".into(), expires_at: chrono::Utc::now(), token: 7 };
    /// let fence = lease.fence();
    /// assert_eq!((fence.scope.as_str(), fence.holder.as_str(), fence.token), ("ws#contacts", "w-1", 7));
    /// ```
    pub fn fence(&self) -> Fence {
        Fence {
            scope: self.scope.clone(),
            holder: self.holder.clone(),
            token: self.token,
        }
    }
}
