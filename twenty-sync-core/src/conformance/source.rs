//! Checks for [`SourceOfTruth`] implementations.
//!
//! Local changes are made through a [`LocalEditor`]; records are JSON objects of strings and
//! numbers. Each check panics with a message naming the broken rule. See the [module docs](super).

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::LocalEditor;
use super::support::{at, contains, ok};
use crate::model::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, LocalChange, LocalChangeKind,
    LocalRecord, RecordState, StateCommit,
};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

/// Runs every source check, each on its own entity (`conformance_<check>`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance;
/// use twenty_sync_core::file::FileStore;
///
/// // The file store makes its own local edits: it is both the source and the editor.
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::open(dir.path())?;
/// conformance::source::run_all(&store, &store).await; // panics naming the rule a source breaks
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn run_all(source: &dyn SourceOfTruth, editor: &dyn LocalEditor) {
    changes_come_in_order_and_resume_from_every_checkpoint(source, editor, "conformance_feed")
        .await;
    deletions_appear_in_the_feed(source, editor, "conformance_feed_delete").await;
    latest_local_data_wins_in_the_feed(source, editor, "conformance_feed_update").await;
    changes_made_during_a_read_are_not_lost(source, editor, "conformance_feed_concurrent").await;
    get_returns_local_records_by_key(source, editor, "conformance_get").await;
    apply_upserts_in_order(source, "conformance_apply").await;
    apply_is_idempotent(source, "conformance_apply_twice").await;
    apply_deletes_and_tombstones(source, "conformance_apply_delete").await;
}

async fn feed(
    source: &dyn SourceOfTruth,
    entity: &str,
    cp: Option<&Checkpoint>,
) -> Vec<LocalChange> {
    let stream = ok(
        source.changes_since(entity, cp).await,
        "opening the change feed",
    );
    ok(stream.try_collect().await, "reading the change feed")
}

fn feed_keys(changes: &[LocalChange]) -> Vec<&str> {
    changes.iter().map(|c| c.key.as_str()).collect()
}

fn person(name: &str, rank: i64) -> Value {
    json!({"name": name, "rank": rank})
}

fn upsert(key: &str, data: Value) -> InboundChange {
    InboundChange {
        key: key.to_owned(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Upsert { data },
        twenty_updated_at: Some(at(100)),
    }
}

fn delete(key: &str, tombstone: bool) -> InboundChange {
    InboundChange {
        key: key.to_owned(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Delete { tombstone },
        twenty_updated_at: Some(at(200)),
    }
}

fn batch(entity: &str, changes: Vec<InboundChange>) -> ApplyBatch {
    ApplyBatch {
        entity: entity.to_owned(),
        changes,
        state: StateCommit::new(entity),
    }
}

async fn get(source: &dyn SourceOfTruth, entity: &str, keys: &[&str]) -> Vec<LocalRecord> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let mut got = ok(source.get(entity, &keys).await, "getting records by key");
    got.sort_by(|a, b| a.key.cmp(&b.key));
    got
}

/// The feed yields local changes in the order they were made, and resuming from the checkpoint
/// of any change yields exactly the changes after it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::changes_come_in_order_and_resume_from_every_checkpoint;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// changes_come_in_order_and_resume_from_every_checkpoint(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn changes_come_in_order_and_resume_from_every_checkpoint(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    assert!(
        feed(source, entity, None).await.is_empty(),
        "changes_since(None): an entity without local changes must have an empty feed"
    );
    let names = ["k1", "k2", "k3", "k4"];
    for (i, key) in names.iter().enumerate() {
        ok(
            editor
                .upsert_local(entity, key, person(key, i as i64))
                .await,
            "making a local change",
        );
    }
    let all = feed(source, entity, None).await;
    assert_eq!(
        feed_keys(&all),
        names.to_vec(),
        "changes_since(None): must yield every local change, in the order made"
    );
    for (i, change) in all.iter().enumerate() {
        match &change.kind {
            LocalChangeKind::Upsert { data } => assert!(
                contains(data, &person(names[i], i as i64)),
                "changes_since(): change {} must carry the record's data, got {data}",
                change.key
            ),
            LocalChangeKind::Delete => {
                panic!(
                    "changes_since(): an upsert came back as a delete ({})",
                    change.key
                )
            }
        }
        let rest = feed(source, entity, Some(&change.checkpoint)).await;
        assert_eq!(
            feed_keys(&rest),
            names[i + 1..].to_vec(),
            "changes_since(checkpoint of {}): must yield exactly the changes after it",
            change.key
        );
    }
    ok(
        editor.upsert_local(entity, "k5", person("k5", 5)).await,
        "making a local change",
    );
    let last = &all[all.len() - 1].checkpoint;
    assert_eq!(
        feed_keys(&feed(source, entity, Some(last)).await),
        vec!["k5"],
        "changes_since(last checkpoint): must yield a change made after it"
    );
}

/// A local delete is a change of its own, and the record is gone from `get`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::deletions_appear_in_the_feed;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// deletions_appear_in_the_feed(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn deletions_appear_in_the_feed(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    ok(
        editor.upsert_local(entity, "d1", person("d1", 1)).await,
        "upserting",
    );
    ok(
        editor.upsert_local(entity, "d2", person("d2", 2)).await,
        "upserting",
    );
    let before = feed(source, entity, None).await;
    let cp = before
        .last()
        .map(|c| c.checkpoint.clone())
        .unwrap_or_else(|| panic!("changes_since(): two local upserts must be in the feed"));
    ok(editor.delete_local(entity, "d1").await, "deleting locally");
    let after = feed(source, entity, Some(&cp)).await;
    assert!(
        after
            .iter()
            .any(|c| c.key == "d1" && c.kind == LocalChangeKind::Delete),
        "changes_since(): a local delete must appear as a Delete change, got {after:?}"
    );
    assert!(
        after.iter().all(|c| c.key != "d2"),
        "changes_since(): an unchanged record must not reappear after its checkpoint"
    );
    let got = get(source, entity, &["d1", "d2"]).await;
    assert_eq!(
        got.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["d2"],
        "get(): a locally deleted record must be absent"
    );
}

/// After a record changed twice, the feed's last change for it carries the latest data (the
/// earlier change may or may not still be in the feed).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::latest_local_data_wins_in_the_feed;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// latest_local_data_wins_in_the_feed(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn latest_local_data_wins_in_the_feed(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    ok(
        editor.upsert_local(entity, "u", person("first", 1)).await,
        "upserting",
    );
    ok(
        editor
            .upsert_local(entity, "other", person("other", 2))
            .await,
        "upserting",
    );
    ok(
        editor.upsert_local(entity, "u", person("second", 3)).await,
        "upserting again",
    );
    let all = feed(source, entity, None).await;
    let last_u = all
        .iter()
        .rev()
        .find(|c| c.key == "u")
        .unwrap_or_else(|| panic!("changes_since(): the changed record must be in the feed"));
    match &last_u.kind {
        LocalChangeKind::Upsert { data } => assert!(
            contains(data, &person("second", 3)),
            "changes_since(): the last change of a record must carry its latest data, got {data}"
        ),
        LocalChangeKind::Delete => panic!("changes_since(): an upsert came back as a delete"),
    }
    let pos_u = all.iter().rposition(|c| c.key == "u");
    let pos_other = all.iter().rposition(|c| c.key == "other");
    assert!(
        pos_u > pos_other,
        "changes_since(): the latest change of `u` was made after `other` and must come after it"
    );
}

/// A change made while a feed is being read is in that feed or in the next one read from the
/// last checkpoint seen: never lost.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::changes_made_during_a_read_are_not_lost;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// changes_made_during_a_read_are_not_lost(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn changes_made_during_a_read_are_not_lost(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    for i in 0..5 {
        let key = format!("c{i}");
        ok(
            editor.upsert_local(entity, &key, person(&key, i)).await,
            "upserting",
        );
    }
    let mut stream = ok(source.changes_since(entity, None).await, "opening the feed");
    let mut seen: Vec<LocalChange> = Vec::new();
    let first = stream.next().await;
    match first {
        Some(Ok(change)) => seen.push(change),
        Some(Err(e)) => panic!("conformance: reading the change feed failed: {e}"),
        None => panic!("changes_since(): five local changes must be in the feed"),
    }
    ok(
        editor
            .upsert_local(entity, "late", person("late", 99))
            .await,
        "upserting while the feed is read",
    );
    ok(
        editor
            .upsert_local(entity, "c0", person("c0-again", 100))
            .await,
        "changing an already-read record while the feed is read",
    );
    while let Some(change) = stream.next().await {
        seen.push(ok(change, "reading the change feed"));
    }
    let last = seen.last().map(|c| c.checkpoint.clone());
    seen.extend(feed(source, entity, last.as_ref()).await);
    for key in ["c1", "c2", "c3", "c4", "late"] {
        assert!(
            seen.iter().any(|c| c.key == key),
            "changes_since(): change of {key} was lost (not in the feed being read nor the next)"
        );
    }
    let c0_latest = seen.iter().rev().find(|c| c.key == "c0");
    assert!(
        c0_latest.is_some_and(|c| matches!(&c.kind,
            LocalChangeKind::Upsert { data } if contains(data, &person("c0-again", 100)))),
        "changes_since(): a record changed again during a read must reappear with its new data"
    );
}

/// `get` returns the current local records of the keys asked for and leaves unknown keys out.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::get_returns_local_records_by_key;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// get_returns_local_records_by_key(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn get_returns_local_records_by_key(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    ok(
        editor.upsert_local(entity, "g1", person("g1", 1)).await,
        "upserting",
    );
    ok(
        editor.upsert_local(entity, "g2", person("g2", 2)).await,
        "upserting",
    );
    ok(
        editor.upsert_local(entity, "g2", person("g2-new", 3)).await,
        "upserting",
    );
    let got = get(source, entity, &["g2", "nope", "g1"]).await;
    assert_eq!(
        got.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["g1", "g2"],
        "get(): must return exactly the known keys"
    );
    assert!(
        contains(&got[0].data, &person("g1", 1)) && contains(&got[1].data, &person("g2-new", 3)),
        "get(): must return the current data of each record, got {got:?}"
    );
    assert!(
        get(source, "conformance_no_such_entity", &["g1"])
            .await
            .is_empty(),
        "get(): records are per entity"
    );
}

/// `apply` writes upserts in batch order (a later change of the same key wins) and `get` sees
/// them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::apply_upserts_in_order;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// apply_upserts_in_order(&source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn apply_upserts_in_order(source: &dyn SourceOfTruth, entity: &str) {
    let b = batch(
        entity,
        vec![
            upsert("a1", person("a1-v1", 1)),
            upsert("a2", person("a2", 2)),
            upsert("a1", person("a1-v2", 3)),
        ],
    );
    ok(source.apply(&b).await, "applying a batch of upserts");
    assert!(
        !ok(
            source.known_empty(entity).await,
            "asking whether the entity is empty"
        ),
        "known_empty(): must be false once the entity holds a record"
    );
    let got = get(source, entity, &["a1", "a2"]).await;
    assert_eq!(
        got.len(),
        2,
        "get(): applied upserts must be readable, got {got:?}"
    );
    assert!(
        contains(&got[0].data, &person("a1-v2", 3)),
        "apply(): the later change of a key in one batch must win, got {}",
        got[0].data
    );
    assert!(
        contains(&got[1].data, &person("a2", 2)),
        "apply(): upsert data must be stored"
    );
    ok(
        source
            .apply(&batch(entity, vec![upsert("a2", person("a2-v2", 4))]))
            .await,
        "applying an update",
    );
    let got = get(source, entity, &["a2"]).await;
    assert!(
        got.first()
            .is_some_and(|r| contains(&r.data, &person("a2-v2", 4))),
        "apply(): an upsert of an existing key must replace its data, got {got:?}"
    );
}

/// Applying the same batch twice leaves the same records as applying it once.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::apply_is_idempotent;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// apply_is_idempotent(&source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn apply_is_idempotent(source: &dyn SourceOfTruth, entity: &str) {
    let b = batch(
        entity,
        vec![
            upsert("i1", person("i1", 1)),
            upsert("i2", person("i2", 2)),
            delete("i2", false),
            upsert("i3", person("i3", 3)),
        ],
    );
    ok(source.apply(&b).await, "applying a batch");
    let once = get(source, entity, &["i1", "i2", "i3"]).await;
    ok(source.apply(&b).await, "applying the same batch again");
    let twice = get(source, entity, &["i1", "i2", "i3"]).await;
    assert_eq!(
        once, twice,
        "apply(): applying the same batch twice must leave the same result"
    );
    assert_eq!(
        twice.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["i1", "i3"],
        "apply(): a delete after an upsert in one batch must leave the record deleted"
    );
}

/// Deletes (with or without tombstone) make the record disappear from `get`; deleting an unknown
/// key is not an error; an upsert after a tombstone brings the record back.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::apply_deletes_and_tombstones;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// apply_deletes_and_tombstones(&source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn apply_deletes_and_tombstones(source: &dyn SourceOfTruth, entity: &str) {
    ok(
        source
            .apply(&batch(
                entity,
                vec![
                    upsert("x1", person("x1", 1)),
                    upsert("x2", person("x2", 2)),
                    upsert("x3", person("x3", 3)),
                ],
            ))
            .await,
        "applying upserts",
    );
    ok(
        source
            .apply(&batch(
                entity,
                vec![
                    delete("x1", false),
                    delete("x2", true),
                    delete("never", true),
                ],
            ))
            .await,
        "applying deletes (one of an unknown key)",
    );
    let got = get(source, entity, &["x1", "x2", "x3", "never"]).await;
    assert_eq!(
        got.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["x3"],
        "get(): deleted and tombstoned records must be absent"
    );
    ok(
        source
            .apply(&batch(
                entity,
                vec![InboundChange {
                    // A restore in Twenty always carries a newer `updatedAt` than the delete,
                    // and sources that keep the newest change (BigQuery's MERGE) rely on it.
                    twenty_updated_at: Some(at(300)),
                    ..upsert("x2", person("x2-back", 4))
                }],
            ))
            .await,
        "restoring a tombstoned record",
    );
    let got = get(source, entity, &["x2"]).await;
    assert!(
        got.first()
            .is_some_and(|r| contains(&r.data, &person("x2-back", 4))),
        "apply(): an upsert after a tombstone must bring the record back, got {got:?}"
    );
}

/// Optional (not in [`run_all`]): changes applied from Twenty do not come back through
/// `changes_since` as local changes. Sources whose change capture cannot tell them apart rely on
/// the engine's content hashes instead and may skip this check.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::applied_changes_are_not_echoed;
/// use twenty_sync_core::memory::MemorySource;
///
/// let source = MemorySource::new();
/// applied_changes_are_not_echoed(&source, &source, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn applied_changes_are_not_echoed(
    source: &dyn SourceOfTruth,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    ok(
        editor
            .upsert_local(entity, "local", person("local", 1))
            .await,
        "upserting",
    );
    ok(
        source
            .apply(&batch(
                entity,
                vec![upsert("pulled", person("pulled", 2)), delete("gone", true)],
            ))
            .await,
        "applying pulled changes",
    );
    let all = feed(source, entity, None).await;
    assert_eq!(
        feed_keys(&all),
        vec!["local"],
        "changes_since(): changes applied from Twenty must not be fed back as local changes"
    );
}

/// A source that reads record states with the local records they name
/// ([`SourceOfTruth::linked_by_twenty_id`] answers `Some`) gives what `state`'s
/// [`records_by_twenty_id`](StateStore::records_by_twenty_id) and its own
/// [`get`](SourceOfTruth::get) give separately: every known id's state, unknown ids left out, and
/// with each state the live record of its local key, or `None` when there is none. `state` is
/// the store the source keeps its record states in (for a sink that is its own state store, the
/// sink itself). A source answering `None` passes: the engine then makes the two reads.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::source::linked_lookup_agrees_with_states_and_get;
/// use twenty_sync_core::file::FileStore;
/// use twenty_sync_core::memory::{MemorySource, MemoryState};
///
/// // A source that answers `None` (reads states separately) passes as well:
/// let source = MemorySource::new();
/// linked_lookup_agrees_with_states_and_get(&source, &MemoryState::new(), &source, "contacts").await;
/// // The file store is its own state store.
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::open(dir.path())?;
/// linked_lookup_agrees_with_states_and_get(&store, &store, &store, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn linked_lookup_agrees_with_states_and_get(
    source: &dyn SourceOfTruth,
    state: &dyn StateStore,
    editor: &dyn LocalEditor,
    entity: &str,
) {
    for (key, rank) in [("k1", 1), ("k2", 2), ("k3", 3)] {
        ok(
            editor.upsert_local(entity, key, person(key, rank)).await,
            "upserting",
        );
    }
    // k3's record is deleted locally; its state stays.
    ok(editor.delete_local(entity, "k3").await, "deleting");
    let mut commit = StateCommit::new(entity);
    for key in ["k1", "k2", "k3"] {
        commit.upsert_records.push(RecordState {
            local_key: key.to_owned(),
            twenty_id: format!("tw-{key}"),
            twenty_hash: Some(format!("th-{key}")),
            local_hash: Some(format!("lh-{key}")),
            twenty_updated_at: Some(at(10)),
            local_updated_at: None,
            deleted: false,
            field_hashes: None,
        });
    }
    ok(state.commit(&commit).await, "committing record states");

    let ids: Vec<String> = ["tw-k2", "tw-none", "tw-k1", "tw-k3"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let Some(mut linked) = ok(
        source.linked_by_twenty_id(entity, &ids).await,
        "reading record states with their local records",
    ) else {
        return;
    };
    linked.sort_by(|a, b| a.state.twenty_id.cmp(&b.state.twenty_id));
    let mut states = ok(
        state.records_by_twenty_id(entity, &ids).await,
        "reading record states",
    );
    states.sort_by(|a, b| a.twenty_id.cmp(&b.twenty_id));
    assert_eq!(
        linked.iter().map(|l| &l.state).collect::<Vec<_>>(),
        states.iter().collect::<Vec<_>>(),
        "linked_by_twenty_id(): the states must be those records_by_twenty_id gives"
    );
    for l in &linked {
        let expected = get(source, entity, &[l.state.local_key.as_str()]).await;
        assert_eq!(
            l.record.as_ref(),
            expected.first(),
            "linked_by_twenty_id(): the record of {} must be what get() gives",
            l.state.local_key
        );
    }
    let records: Vec<Option<&Value>> = linked
        .iter()
        .map(|l| l.record.as_ref().map(|r| &r.data))
        .collect();
    assert!(
        matches!(records.as_slice(), [Some(k1), Some(k2), None]
            if contains(k1, &person("k1", 1)) && contains(k2, &person("k2", 2))),
        "linked_by_twenty_id(): k1 and k2 with their data, k3 (deleted locally) without a \
         record, tw-none left out; got {linked:?}"
    );
    assert_eq!(
        ok(
            source.linked_by_twenty_id(entity, &[]).await,
            "reading no record states",
        )
        .map(|l| l.len()),
        Some(0),
        "linked_by_twenty_id(): no ids, no states"
    );
}
