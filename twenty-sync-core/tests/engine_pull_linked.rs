//! Pulls into a source that reads each page's record states with the local records they name
//! (`SourceOfTruth::linked_by_twenty_id`): the engine reads only the records of keys without a
//! state separately, and decides exactly as it does from the two separate reads.

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use engine_support::*;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use twenty_sim::SimServer;
use twenty_sync_core::engine::{RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, EntityCounts, Linked, LocalChange, LocalRecord, RecordState, RunStatus,
    SourceOfTruth, StateStore, StateWritten, StoreResult,
};

/// A memory source that counts its reads and, when `states` is set, answers
/// `linked_by_twenty_id` from those states (the engine's state store) and its own records.
#[derive(Clone)]
struct Source {
    inner: MemorySource,
    states: Option<MemoryState>,
    gets: Arc<AtomicUsize>,
    keys_got: Arc<AtomicUsize>,
    linked: Arc<AtomicUsize>,
}

impl Source {
    fn new(states: Option<MemoryState>) -> Self {
        Source {
            inner: MemorySource::new(),
            states,
            gets: Arc::default(),
            keys_got: Arc::default(),
            linked: Arc::default(),
        }
    }

    /// `(get calls, keys asked for by get, linked lookups)` so far.
    fn reads(&self) -> (usize, usize, usize) {
        (
            self.gets.load(Ordering::SeqCst),
            self.keys_got.load(Ordering::SeqCst),
            self.linked.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl SourceOfTruth for Source {
    fn describe(&self) -> String {
        "counting memory source".into()
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        self.inner.changes_since(entity, checkpoint).await
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        self.inner.apply(batch).await
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.keys_got.fetch_add(keys.len(), Ordering::SeqCst);
        self.inner.get(entity, keys).await
    }

    async fn linked_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Option<Vec<Linked>>> {
        let Some(states) = &self.states else {
            return Ok(None);
        };
        self.linked.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        for state in states.records_by_twenty_id(entity, twenty_ids).await? {
            let record = self
                .inner
                .get(entity, std::slice::from_ref(&state.local_key))
                .await?
                .into_iter()
                .next();
            out.push(Linked { state, record });
        }
        Ok(Some(out))
    }
}

/// A source and its state store: `linking` makes the source read states with records.
fn stores(linking: bool) -> (Source, MemoryState) {
    let state = MemoryState::new();
    (Source::new(linking.then(|| state.clone())), state)
}

fn engine_keyed_by(
    sim: &SimServer,
    (source, state): &(Source, MemoryState),
    local_key: &str,
) -> SyncEngine<Source, MemoryState> {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(contacts().local_key(local_key)))
        .batch_size(7)
        .pull_commit_records(10)
        .build()
        .expect("engine builds")
}

fn insert(sim: &SimServer, i: usize, last: &str) -> String {
    sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": format!("P{i}"), "lastName": last},
                   "emails": {"primaryEmail": format!("p{i}@example.com")}}),
    )["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// The local records sorted by key, and the record states of `ids` sorted by Twenty id.
async fn contents(
    (source, state): &(Source, MemoryState),
    ids: &[String],
) -> (Vec<(String, Value)>, Vec<RecordState>) {
    let mut records: Vec<(String, Value)> = source
        .inner
        .records(ENTITY)
        .into_iter()
        .map(|r| (r.key, r.data))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let mut states = state.records_by_twenty_id(ENTITY, ids).await.unwrap();
    states.sort_by(|a, b| a.twenty_id.cmp(&b.twenty_id));
    for s in &mut states {
        // When the test edited the record locally: a moment apart in the two stores.
        s.local_updated_at = s.local_updated_at.map(|_| chrono::DateTime::UNIX_EPOCH);
    }
    (records, states)
}

fn counts(c: &EntityCounts) -> [u64; 6] {
    [
        c.seen,
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        c.failed,
    ]
}

#[tokio::test]
async fn a_pull_of_changed_records_reads_each_page_in_one_lookup_and_keeps_local_fields() {
    let sim = sim(20).await;
    let stores = stores(true);
    let first = engine_keyed_by(&sim, &stores, "email")
        .pull(RunOptions::new())
        .await
        .expect("first pull");
    assert_eq!(first.status, RunStatus::Succeeded, "{}", first.summary());
    let (source, state) = &stores;
    // Ten local records get a local-only field; their Twenty records change.
    let mut keys: Vec<String> = source
        .inner
        .records(ENTITY)
        .into_iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    keys.truncate(10);
    for st in state.records(ENTITY, &keys).await.unwrap() {
        let mut local = source
            .inner
            .record(ENTITY, &st.local_key)
            .expect("pulled")
            .data;
        local["notes"] = json!(format!("local note of {}", st.local_key));
        source.inner.upsert(ENTITY, &st.local_key, local);
        sim.handle()
            .update_record(
                "people",
                &st.twenty_id,
                json!({"jobTitle": "Changed in Twenty"}),
            )
            .expect("update");
    }
    let before = source.reads();
    let report = engine_keyed_by(&sim, &stores, "email")
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(report.entities["contacts:pull"].updated, 10);
    let after = source.reads();
    assert_eq!(
        after.0 - before.0,
        0,
        "every changed record has a state: no separate read of local records"
    );
    // Pages of 7 (the live walk re-reads the overlap, so `seen` counts them all).
    let pages = report.entities["contacts:pull"].seen.div_ceil(7) as usize;
    assert_eq!(
        after.2 - before.2,
        pages,
        "one linked lookup per page of the live walk"
    );
    for key in &keys {
        let local = source.inner.record(ENTITY, key).expect("still there").data;
        assert_eq!(local["title"], "Changed in Twenty");
        assert_eq!(local["notes"], format!("local note of {key}"));
    }
}

#[tokio::test]
async fn the_engine_decides_from_a_linked_lookup_exactly_as_from_the_two_reads() {
    // Locals keyed by last name, so that keys change hands; the same Twenty changes pulled
    // into a plain source and into a linking one must leave the same records, states and counts.
    let sim = sim(0).await;
    let lasts = [
        "L0", "L1", "L2", "L3", "L4", "L5", "L6", "L7", "L0", "L8", "L9", "L3", "L10", "L11",
        "L12", "L13", "L14", "L15", "L16", "L17",
    ];
    let mut ids: Vec<String> = lasts
        .iter()
        .enumerate()
        .map(|(i, last)| insert(&sim, i, last))
        .collect();
    let plain = stores(false);
    let linking = stores(true);
    for s in [&plain, &linking] {
        let r = engine_keyed_by(&sim, s, "last")
            .pull(RunOptions::new())
            .await
            .expect("first pull");
        assert_eq!(r.status, RunStatus::Succeeded, "{}", r.summary());
    }
    assert_eq!(contents(&plain, &ids).await, contents(&linking, &ids).await);

    // Twenty: titles change, one person takes another's last name, one gets a new one, new
    // people arrive (one with a last name already held).
    let h = sim.handle();
    for id in &ids[1..6] {
        h.update_record("people", id, json!({"jobTitle": "Changed"}))
            .expect("update");
    }
    h.update_record("people", &ids[12], json!({"name": {"lastName": "L5"}}))
        .expect("takes L5");
    h.update_record("people", &ids[14], json!({"name": {"lastName": "New14"}}))
        .expect("new last name");
    ids.push(insert(&sim, 20, "L7"));
    ids.push(insert(&sim, 21, "L20"));
    // Locally, on both sides alike: a local-only field, and a record deleted.
    for (source, _) in [&plain, &linking] {
        let mut l2 = source.inner.record(ENTITY, "L2").expect("L2").data;
        l2["notes"] = json!("kept");
        source.inner.upsert(ENTITY, "L2", l2);
        source.inner.delete(ENTITY, "L4");
    }
    h.update_record("people", &ids[4], json!({"jobTitle": "Changed again"}))
        .expect("update");

    let mut reports = Vec::new();
    for s in [&plain, &linking] {
        let r = engine_keyed_by(&sim, s, "last")
            .pull(RunOptions::new())
            .await
            .expect("second pull");
        assert_eq!(r.status, RunStatus::Succeeded, "{}", r.summary());
        reports.push(counts(&r.entities["contacts:pull"]));
    }
    assert_eq!(reports[0], reports[1], "the same decisions");
    assert_eq!(contents(&plain, &ids).await, contents(&linking, &ids).await);
    let (plain_reads, linking_reads) = (plain.0.reads(), linking.0.reads());
    assert_eq!(plain_reads.2, 0);
    assert!(linking_reads.2 > 0, "{linking_reads:?}");
    assert!(
        linking_reads.1 < plain_reads.1,
        "the linking source is asked for fewer keys: {linking_reads:?} vs {plain_reads:?}"
    );
    let l2 = linking.0.inner.record(ENTITY, "L2").expect("L2").data;
    assert_eq!(
        (l2["title"].as_str(), l2["notes"].as_str()),
        (Some("Changed"), Some("kept"))
    );
}
