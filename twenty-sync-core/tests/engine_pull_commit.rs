//! Pull commits: pages are staged and committed together (`pull_commit_records`), and a page that
//! touches a staged record again is decided against committed state (the staged pages are
//! committed first), so no batch ever holds two changes or two states of one record. A full
//! batch is applied while the walk goes on with the next pages (one batch in flight, or two
//! where the source takes two at once), and a batch that fails stops the pull before any later
//! batch is applied (with two at once, no cursor past it is written). At the start of a pull
//! (until it has handed over one batch's worth of writes) a committer with room for a batch takes
//! what is staged, so a pull shorter than a batch is applied while it reads on. Into an entity empty on
//! both sides, pages are looked up only when they may touch a record the pull wrote.

mod engine_support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use engine_support::*;
use futures::stream::BoxStream;
use serde_json::json;
use twenty_sim::SimServer;
use twenty_sync_core::engine::{RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    ApplyBatch, AuditAction, AuditQuery, Checkpoint, InboundChangeKind, LocalChange, LocalRecord,
    RunReport, RunStatus, SourceOfTruth, StateStore, StateWritten, StoreError, StoreErrorKind,
    StoreResult, SyncDirection,
};

/// What one `apply` call carried.
#[derive(Debug, Clone)]
struct Applied {
    changes: Vec<String>,
    states: Vec<String>,
    cursor_moved: bool,
    /// The pull cursor the batch moved to, if it moved one.
    cursor: Option<Checkpoint>,
    /// How many `get` calls (one per looked-up page) came before this apply.
    gets_before: usize,
}

/// Runs once, on the `get` call with this number (1-based).
type GetHook = (usize, Box<dyn FnOnce() + Send>);

/// Holds the `apply` call with this number (1-based) until the permit is given.
type ApplyHold = (usize, Arc<tokio::sync::Notify>);

/// A [`MemorySource`] that records every applied batch, can run a hook on the `n`-th `get`
/// (to change Twenty in the middle of a walk), hold its first `apply` until released, and fail
/// its `n`-th `apply`.
#[derive(Clone)]
struct Recording {
    inner: MemorySource,
    applied: Arc<Mutex<Vec<Applied>>>,
    gets: Arc<Mutex<usize>>,
    on_get: Arc<Mutex<Option<GetHook>>>,
    /// When set, the first `apply` waits for a permit of this before it writes anything.
    hold_first_apply: Arc<Mutex<Option<Arc<tokio::sync::Notify>>>>,
    /// The `apply` call (1-based) that fails, writing nothing.
    fail_apply: Arc<Mutex<Option<usize>>>,
    applies: Arc<Mutex<usize>>,
    /// Runs once, after the `apply` call with this number (1-based) wrote.
    on_apply: Arc<Mutex<Option<GetHook>>>,
    /// Whether `known_empty` answers for real (else "not known", the trait's default).
    tells_emptiness: bool,
    /// Whether it says its commits are costly (`commits_early` false: full batches only).
    costly_commits: bool,
    /// The `apply` call (1-based) that waits for a permit before it writes anything.
    hold_apply: Arc<Mutex<Option<ApplyHold>>>,
    /// What it answers to `concurrent_applies`.
    concurrent: usize,
    /// When set, every batch with a record it refuses fails, writing nothing.
    refuse: Arc<Mutex<Option<Refusal>>>,
}

/// What a [`Recording`] source refuses, as a store with a CHECK constraint would: any batch with
/// an upsert whose email contains `marker` (any upsert, without one) fails as `Invalid` (naming
/// that record's key when `names_key`, as the Postgres sink does for a value that does not fit
/// its column), and nothing of it is written.
#[derive(Clone)]
struct Refusal {
    marker: Option<String>,
    names_key: bool,
}

impl Recording {
    fn new() -> Self {
        Recording {
            inner: MemorySource::new(),
            applied: Arc::default(),
            gets: Arc::default(),
            on_get: Arc::default(),
            hold_first_apply: Arc::default(),
            fail_apply: Arc::default(),
            applies: Arc::default(),
            on_apply: Arc::default(),
            tells_emptiness: false,
            costly_commits: false,
            hold_apply: Arc::default(),
            concurrent: 1,
            refuse: Arc::default(),
        }
    }

    /// A recording source that takes two batches at once.
    fn two_at_once() -> Self {
        Recording {
            concurrent: 2,
            ..Recording::new()
        }
    }

    /// A recording source that says when an entity is empty (so a pull into an empty entity
    /// skips its lookups).
    fn telling_emptiness() -> Self {
        Recording {
            tells_emptiness: true,
            ..Recording::new()
        }
    }

    fn gets(&self) -> usize {
        *self.gets.lock().unwrap()
    }

    fn applied(&self) -> Vec<Applied> {
        self.applied.lock().unwrap().clone()
    }
}

#[async_trait]
impl SourceOfTruth for Recording {
    fn describe(&self) -> String {
        "recording memory source".into()
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        self.inner.changes_since(entity, checkpoint).await
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        let n = {
            let mut a = self.applies.lock().unwrap();
            *a += 1;
            *a
        };
        let hold = self.hold_first_apply.lock().unwrap().take();
        if let Some(release) = hold {
            release.notified().await;
        }
        let hold = {
            let mut slot = self.hold_apply.lock().unwrap();
            match slot.as_ref() {
                Some((at, _)) if *at == n => slot.take().map(|(_, r)| r),
                _ => None,
            }
        };
        if let Some(release) = hold {
            release.notified().await;
        }
        if *self.fail_apply.lock().unwrap() == Some(n) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!("apply {n} failed (test)"),
            ));
        }
        let refusal = self.refuse.lock().unwrap().clone();
        if let Some(r) = refusal {
            let refused = batch.changes.iter().find(|c| match &c.kind {
                InboundChangeKind::Upsert { data } => r
                    .marker
                    .as_deref()
                    .is_none_or(|m| data["email"].as_str().is_some_and(|e| e.contains(m))),
                InboundChangeKind::Delete { .. } => false,
            });
            if let Some(c) = refused {
                let err = StoreError::new(
                    StoreErrorKind::Invalid,
                    "new row violates check constraint \"email_allowed\" (test)",
                );
                return Err(if r.names_key {
                    err.with_context("key", c.key.clone())
                } else {
                    err
                });
            }
        }
        self.applied.lock().unwrap().push(Applied {
            changes: batch.changes.iter().map(|c| c.key.clone()).collect(),
            states: batch
                .state
                .upsert_records
                .iter()
                .map(|s| s.local_key.clone())
                .collect(),
            cursor_moved: !batch.state.cursors.is_empty(),
            cursor: batch
                .state
                .cursors
                .iter()
                .find(|(d, _)| *d == SyncDirection::Pull)
                .map(|(_, c)| c.clone()),
            gets_before: self.gets(),
        });
        let written = self.inner.apply(batch).await?;
        let hook = {
            let mut slot = self.on_apply.lock().unwrap();
            match slot.as_ref() {
                Some((at, _)) if *at == n => slot.take().map(|(_, f)| f),
                _ => None,
            }
        };
        if let Some(f) = hook {
            f();
        }
        Ok(written)
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        if self.tells_emptiness {
            self.inner.known_empty(entity).await
        } else {
            Ok(false)
        }
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        let n = {
            let mut g = self.gets.lock().unwrap();
            *g += 1;
            *g
        };
        let hook = {
            let mut slot = self.on_get.lock().unwrap();
            match slot.as_ref() {
                Some((at, _)) if *at == n => slot.take().map(|(_, f)| f),
                _ => None,
            }
        };
        if let Some(f) = hook {
            f();
        }
        self.inner.get(entity, keys).await
    }

    fn commits_early(&self) -> bool {
        !self.costly_commits && self.inner.commits_early()
    }

    fn concurrent_applies(&self) -> usize {
        self.concurrent
    }

    fn metrics(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

fn engine(
    sim: &SimServer,
    source: &Recording,
    state: &MemoryState,
    commit: usize,
) -> SyncEngine<Recording, MemoryState> {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .pull_commit_records(commit)
        .build()
        .expect("engine builds")
}

/// Pulls `people` seeded people into a new recording source and memory state, committing every
/// `commit` writes, and checks that the pull succeeded.
async fn pull_fresh(
    people: usize,
    commit: usize,
) -> (SimServer, Recording, MemoryState, RunReport) {
    let sim = sim(people).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let report = engine(&sim, &source, &state, commit)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    (sim, source, state, report)
}

/// Twenty people `P0`, `P1`, ... with the last names `lasts` (emails `p{i}@example.com`),
/// created in this order, and an engine over a new recording source and memory state whose
/// local records are keyed by last name, in pages of 7.
async fn people_keyed_by_last(
    lasts: &[&str],
) -> (
    SimServer,
    Recording,
    MemoryState,
    SyncEngine<Recording, MemoryState>,
) {
    let sim = sim(0).await;
    for (i, last) in lasts.iter().enumerate() {
        sim.handle().insert_record(
            "people",
            json!({"name": {"firstName": format!("P{i}"), "lastName": last},
                   "emails": {"primaryEmail": format!("p{i}@example.com")}}),
        );
    }
    let (source, state) = (Recording::new(), MemoryState::new());
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts().local_key("last")))
        .batch_size(7)
        .build()
        .expect("engine builds");
    (sim, source, state, engine)
}

/// The id of the person a walk meets first (by `updatedAt`, then id); `change` runs on it in
/// the simulator at the second `get` of `source`, while the walk is under way.
fn change_first_walked_at_second_get(
    sim: &SimServer,
    source: &Recording,
    change: impl FnOnce(&twenty_sim::SimHandle, &str) + Send + 'static,
) -> String {
    let mut people = sim.handle().records("people");
    people.sort_by(|a, b| {
        (a["updatedAt"].as_str(), a["id"].as_str())
            .cmp(&(b["updatedAt"].as_str(), b["id"].as_str()))
    });
    let first = people[0]["id"].as_str().unwrap().to_owned();
    let h = sim.handle();
    let id = first.clone();
    *source.on_get.lock().unwrap() = Some((2, Box::new(move || change(&h, &id))));
    first
}

/// How many changes each applied batch carried, in the order they were written.
fn batch_sizes(applied: &[Applied]) -> Vec<usize> {
    applied.iter().map(|a| a.changes.len()).collect()
}

fn assert_no_repeats(applied: &[Applied]) {
    for (i, a) in applied.iter().enumerate() {
        let changes: HashSet<&String> = a.changes.iter().collect();
        assert_eq!(
            changes.len(),
            a.changes.len(),
            "batch {i} repeats a change: {a:?}"
        );
        let states: HashSet<&String> = a.states.iter().collect();
        assert_eq!(
            states.len(),
            a.states.len(),
            "batch {i} repeats a state: {a:?}"
        );
    }
}

#[tokio::test]
async fn pages_are_committed_together_up_to_the_configured_size() {
    // 45 people in pages of 7 (7 pages), committed by 20 writes. Until the pull has handed over
    // 20 writes, a page goes alone to a committer with room for it (the memory source
    // applies a batch at once): pages 1, 2 and 3. Then pages 4–6 together (21), and the last
    // page at the end of the walk.
    let (sim, source, _state, report) = pull_fresh(45, 20).await;
    assert_eq!(report.entities["contacts:pull"].created, 45);
    let sizes = batch_sizes(&source.applied());
    assert_eq!(sizes, vec![7, 7, 7, 21, 3], "{:?}", source.applied());
    assert!(source.applied().iter().all(|a| a.cursor_moved));
    assert_no_repeats(&source.applied());
    assert_eq!(source.inner.records(ENTITY).len(), 45);
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));

    // Page by page (size 1): one batch per page, as before pages were staged.
    let (_sim, source, _state, _report) = pull_fresh(15, 1).await;
    let sizes = batch_sizes(&source.applied());
    assert_eq!(sizes, vec![7, 7, 1]);
}

#[tokio::test]
async fn a_source_whose_commits_are_costly_gets_full_batches_only() {
    // The same 45 people at 20 writes per commit into a source that says its commits have a
    // large fixed cost (`commits_early` false, as the BigQuery sink does): no early batches.
    let sim = sim(45).await;
    let source = Recording {
        costly_commits: true,
        ..Recording::new()
    };
    let state = MemoryState::new();
    let report = engine(&sim, &source, &state, 20)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let sizes = batch_sizes(&source.applied());
    assert_eq!(sizes, vec![21, 21, 3], "{:?}", source.applied());
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn a_pull_shorter_than_one_commit_is_applied_while_it_reads_its_later_pages() {
    // 30 people in pages of 7, commits of 1,000: the whole pull is shorter than one batch. Its
    // first page is applied while the walk reads on (before the local records of the last
    // page are read), not after the walk; the last page stays staged into the deleted walk and
    // goes with the cursor of the completed pull.
    let (sim, source, state, report) = pull_fresh(30, 1000).await;
    assert_eq!(report.entities["contacts:pull"].created, 30);
    let applied = source.applied();
    assert!(applied.len() >= 2, "{applied:?}");
    assert!(
        applied[0].gets_before < source.gets(),
        "the first page was applied before the walk read its last page: {applied:?}"
    );
    assert_eq!(
        applied.last().map(|a| a.changes.len()),
        Some(2),
        "{applied:?}"
    );
    assert_eq!(
        applied.last().and_then(|a| a.cursor.clone()),
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        "{applied:?}"
    );
    assert!(applied.iter().all(|a| a.cursor_moved), "{applied:?}");
    assert_no_repeats(&applied);
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn a_pull_shorter_than_one_commit_writes_its_records_and_final_cursor_together() {
    // 5 people, commits of 20: the live walk's only page stays staged through the (empty)
    // deleted walk and goes in one batch with the cursor of the completed pull, not followed
    // by a commit of the cursor alone.
    let (sim, source, state, _report) = pull_fresh(5, 20).await;
    let applied = source.applied();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0].changes.len(), 5);
    let stored = state
        .cursor(ENTITY, SyncDirection::Pull)
        .await
        .expect("cursor")
        .expect("the pull stored a cursor");
    assert_eq!(applied[0].cursor.as_ref(), Some(&stored), "{applied:?}");

    // The next pull, with nothing changed, applies nothing and commits only its cursor.
    let again = engine(&sim, &source, &state, 20)
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(again.status, RunStatus::Succeeded, "{}", again.summary());
    assert_eq!(
        source.applied().len(),
        1,
        "nothing applied: {:?}",
        source.applied()
    );
    assert_ne!(
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        Some(stored),
        "the cursor moved to the second pull's start"
    );
}

#[tokio::test]
async fn a_deleted_record_whose_local_key_a_staged_page_took_is_decided_after_that_page_commits() {
    // Local records keyed by email. In Twenty, person B changes email and is soft-deleted, and
    // a new person N takes B's old email. The live walk stages N onto B's local record (same
    // key); the deleted walk then meets B. Decided against committed state, B's record state
    // now belongs to N and B's deletion touches nothing: the local record stays, holding N.
    let sim = sim(3).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let keyed_by_email = || {
        SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts().local_key("email")))
            .batch_size(7)
            .pull_commit_records(20)
            .build()
            .expect("engine builds")
    };
    let first = keyed_by_email()
        .pull(RunOptions::new())
        .await
        .expect("first pull");
    assert_eq!(first.entities["contacts:pull"].created, 3);
    let b = sim.handle().records("people")[0].clone();
    let email = b["emails"]["primaryEmail"].as_str().unwrap().to_owned();
    let b_id = b["id"].as_str().unwrap();
    sim.handle()
        .update_record(
            "people",
            b_id,
            json!({"emails": {"primaryEmail": "moved.away@example.com", "additionalEmails": []}}),
        )
        .expect("B's email changes");
    sim.handle()
        .soft_delete_record("people", b_id)
        .expect("B is soft-deleted");
    sim.handle().insert_record(
        "people",
        json!({
            "name": {"firstName": "Newcomer", "lastName": "Test"},
            "emails": {"primaryEmail": email, "additionalEmails": []},
        }),
    );
    let second = keyed_by_email()
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(second.status, RunStatus::Succeeded, "{}", second.summary());
    assert_no_repeats(&source.applied());
    let local: Vec<_> = source
        .inner
        .records(ENTITY)
        .into_iter()
        .filter(|r| r.key == email)
        .collect();
    assert_eq!(local.len(), 1, "B's local record is still there: {local:?}");
    assert_eq!(local[0].data["first"], "Newcomer", "{local:?}");
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn a_record_changed_during_the_walk_is_decided_against_its_committed_state() {
    // The walk sees the first page's first person again at its end (changed in Twenty while the
    // walk ran, so it moved to the end of the `updatedAt` order): the staged pages are committed
    // before that page is decided, so no batch holds the person twice, and the later version
    // wins locally.
    let sim = sim(30).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let first = change_first_walked_at_second_get(&sim, &source, |h, id| {
        h.update_record("people", id, json!({"jobTitle": "Changed mid-walk"}))
            .expect("update");
    });
    let report = engine(&sim, &source, &state, 1000)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.seen, c.created, c.updated, c.failed),
        (31, 30, 1, 0),
        "{}",
        report.summary()
    );
    let applied = source.applied();
    assert_no_repeats(&applied);
    assert!(
        applied.len() >= 2,
        "the repeat forced an earlier commit: {applied:?}"
    );
    let st = twenty_sync_core::StateStore::records_by_twenty_id(
        &state,
        ENTITY,
        std::slice::from_ref(&first),
    )
    .await
    .unwrap();
    let local = source
        .inner
        .record(ENTITY, &st[0].local_key)
        .expect("local");
    assert_eq!(local.data["title"], "Changed mid-walk");
}

#[tokio::test]
async fn a_new_record_with_a_staged_local_key_reads_the_committed_record() {
    // Locals are keyed by last name; the ninth person (on the second page of 7) shares the first
    // one's. The first page is still staged when the second is decided, so it is committed
    // first and the ninth person becomes an update of the committed record, not a second create
    // of the same key in one batch.
    let (_sim, source, _state, engine) =
        people_keyed_by_last(&["L0", "L1", "L2", "L3", "L4", "L5", "L6", "L7", "L0"]).await;
    let report = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let applied = source.applied();
    assert_no_repeats(&applied);
    let sizes = batch_sizes(&applied);
    assert_eq!(sizes, vec![7, 2], "{applied:?}");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.updated), (8, 1), "{}", report.summary());
    assert_eq!(source.inner.records(ENTITY).len(), 8);
}

#[tokio::test]
async fn a_full_batch_is_applied_while_the_walk_reads_the_next_pages() {
    // Batches of 14 (two pages of 7). The first page goes alone to the idle committer (the start
    // of the pull), whose apply is held until the walk reads the local records of the third
    // page (`get` number 3): a walk that waited for each commit before reading on would never
    // get there, and the pull would hang. Pages 2–3 and 4–5 are then full batches, and the last
    // two pages (the pull has handed over 14 writes by then) go together at the end.
    let sim = sim(45).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let release = Arc::new(tokio::sync::Notify::new());
    *source.hold_first_apply.lock().unwrap() = Some(release.clone());
    *source.on_get.lock().unwrap() = Some((3, Box::new(move || release.notify_one())));
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        engine(&sim, &source, &state, 14).pull(RunOptions::new()),
    )
    .await
    .expect("the walk read the third page while the first batch was being applied")
    .expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(report.entities["contacts:pull"].created, 45);
    let sizes = batch_sizes(&source.applied());
    assert_eq!(sizes, vec![7, 14, 14, 10], "{:?}", source.applied());
    assert_no_repeats(&source.applied());
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn a_failed_batch_stops_the_pull_before_any_later_batch_and_a_rerun_resumes() {
    // Batches of 14, the first two pages of 7 alone (the start of the pull, the committer
    // idle); the third apply (pages 3–4) fails. The walk has staged the next batch meanwhile,
    // but it is never applied (its cursor is past the failed batch): only the first two pages
    // are written and the cursor stays after them. The next run picks up from there.
    let sim = sim(45).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    *source.fail_apply.lock().unwrap() = Some(3);
    let err = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect_err("the failed apply fails the pull");
    assert!(err.to_string().contains("apply 3 failed"), "{err}");
    assert_eq!(
        *source.applies.lock().unwrap(),
        3,
        "no apply after the failed one"
    );
    let sizes = batch_sizes(&source.applied());
    assert_eq!(sizes, vec![7, 7]);
    assert_eq!(source.inner.records(ENTITY).len(), 14);
    let cursor = state
        .cursor(ENTITY, SyncDirection::Pull)
        .await
        .unwrap()
        .expect("the first batch moved the cursor");

    *source.fail_apply.lock().unwrap() = None;
    let report = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("the rerun pulls the rest");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(
        report.entities["contacts:pull"].created,
        31,
        "{}",
        report.summary()
    );
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
    assert_ne!(
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        Some(cursor)
    );
}

/// `people` pulled in pages of 7 and batches of `commit` into a source that takes two batches
/// at once, whose apply number `held` is held until the next one (handed over while the held one
/// is in flight) has written; with `fail_held`, the held apply then fails. A pull that would hand
/// the next over only after the held one is acknowledged hangs: it fails after 30 s instead.
async fn pull_with_an_apply_held(
    people: usize,
    commit: usize,
    held: usize,
    fail_held: bool,
) -> (
    SimServer,
    Recording,
    MemoryState,
    Result<RunReport, twenty_sync_core::SyncError>,
) {
    let sim = sim(people).await;
    let (source, state) = (Recording::two_at_once(), MemoryState::new());
    let release = Arc::new(tokio::sync::Notify::new());
    *source.hold_apply.lock().unwrap() = Some((held, release.clone()));
    *source.on_apply.lock().unwrap() = Some((held + 1, Box::new(move || release.notify_one())));
    if fail_held {
        *source.fail_apply.lock().unwrap() = Some(held);
    }
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        engine(&sim, &source, &state, commit).pull(RunOptions::new()),
    )
    .await
    .expect("the next batch was applied while the held one waited");
    (sim, source, state, result)
}

/// With nothing changed in Twenty, a next pull (batches of `commit`) reads no record at all: the
/// pull before it wrote the completed pull's cursor, not one behind it.
async fn assert_next_pull_reads_nothing(
    sim: &SimServer,
    source: &Recording,
    state: &MemoryState,
    commit: usize,
) {
    let again = engine(sim, source, state, commit)
        .pull(RunOptions::new())
        .await
        .expect("pull again");
    assert_eq!(
        again.entities["contacts:pull"].seen,
        0,
        "the completed pull's cursor was written: {}",
        again.summary()
    );
}

#[tokio::test]
async fn two_batches_at_once_and_the_later_writes_no_cursor_past_the_earlier() {
    // Batches of 14 with two in flight: the first two pages of 7 go alone (the start of the
    // pull), then full batches. The second apply is held until the third has written. The third,
    // handed over while the second was in flight, must not move the cursor past it; the
    // completed pull's cursor is written once every batch is acknowledged.
    let (sim, source, state, report) = pull_with_an_apply_held(45, 14, 2, false).await;
    let report = report.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(report.entities["contacts:pull"].created, 45);
    let applied = source.applied();
    // In the order they wrote: the first page, then pages 3-4 before page 2.
    let sizes = batch_sizes(&applied);
    assert_eq!(sizes[..3], [7, 14, 7], "{applied:?}");
    assert!(
        applied[0].cursor.is_some(),
        "nothing in flight: its own cursor"
    );
    assert_eq!(
        applied[1].cursor, None,
        "handed over while page 2 was in flight, which had not been acknowledged: {applied:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 45);
    assert_no_repeats(&applied);
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
    // The completed pull's cursor is written (by the last batch, or on its own after it when
    // it went beside another): nothing changed in Twenty, so the next pull reads nothing.
    assert!(
        state
            .cursor(ENTITY, SyncDirection::Pull)
            .await
            .unwrap()
            .is_some()
    );
    assert_next_pull_reads_nothing(&sim, &source, &state, 14).await;
}

#[tokio::test]
async fn a_failed_batch_with_a_later_one_applied_leaves_the_cursor_before_it_and_a_rerun_completes()
{
    // As above, but the held second apply (page 2) fails after the third (pages 3-4) has
    // written. The cursor must stay where the first batch left it: a cursor past page 2 would
    // make the next pull skip it. The rerun reads from there and writes page 2's people; pages
    // 3-4 are there already.
    let (sim, source, state, result) = pull_with_an_apply_held(45, 14, 2, true).await;
    let err = result.expect_err("the failed apply fails the pull");
    assert!(err.to_string().contains("apply 2 failed"), "{err}");
    let applied = source.applied();
    let sizes = batch_sizes(&applied);
    assert_eq!(sizes, [7, 14], "{applied:?}");
    assert_eq!(
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        applied[0].cursor,
        "the cursor stays after the last batch before the failed one"
    );

    *source.fail_apply.lock().unwrap() = None;
    let report = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("the rerun pulls the rest");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(
        report.entities["contacts:pull"].created,
        45 - 7 - 14,
        "{}",
        report.summary()
    );
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn at_the_start_of_a_pull_a_page_goes_beside_a_batch_in_flight() {
    // 21 people in pages of 7, batches of 14, two at once; the first apply (page 1) is held until
    // the second has written. At the start of a pull a page goes as soon as there is room beside
    // the batch in flight, without waiting for its acknowledgement: page 2 alone, then page 3
    // with the end of the pull. (Waiting for page 1, pages 2 and 3 would make one batch of 14.)
    let (sim, source, _state, report) = pull_with_an_apply_held(21, 14, 1, false).await;
    let report = report.expect("pull");
    assert_eq!(report.entities["contacts:pull"].created, 21);
    let applied = source.applied();
    let sizes = batch_sizes(&applied);
    assert_eq!(sizes, [7, 7, 7], "{applied:?}");
    assert_no_repeats(&applied);
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn the_last_batch_goes_beside_one_in_flight_and_the_completed_cursor_follows_both() {
    // 20 people in pages of 7, batches of 7: page 1, page 2 (held until the third has written),
    // then the last page of 6 with the end of the pull. The last batch does not wait for page 2:
    // it goes beside it, so it may not write the completed pull's cursor past it. That cursor
    // is committed on its own once both are acknowledged, so the next pull reads nothing again.
    let (sim, source, state, report) = pull_with_an_apply_held(20, 7, 2, false).await;
    let report = report.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(report.entities["contacts:pull"].created, 20);
    let applied = source.applied();
    let sizes = batch_sizes(&applied);
    assert_eq!(
        sizes,
        [7, 6, 7],
        "the last batch wrote before page 2: {applied:?}"
    );
    assert_eq!(
        applied[1].cursor, None,
        "handed over beside page 2, the last batch writes no cursor past it: {applied:?}"
    );
    let cursor = state.cursor(ENTITY, SyncDirection::Pull).await.unwrap();
    assert!(
        cursor.is_some() && cursor != applied[0].cursor,
        "{cursor:?}"
    );
    assert_next_pull_reads_nothing(&sim, &source, &state, 7).await;
}

/// The first person, changed in Twenty right after the first batch is applied: it moves to the
/// end of the `updatedAt` order, so the walk meets it again on its last page.
fn change_first_person_after_first_apply(sim: &SimServer, source: &Recording) -> String {
    let mut people = sim.handle().records("people");
    people.sort_by(|a, b| {
        (a["updatedAt"].as_str(), a["id"].as_str())
            .cmp(&(b["updatedAt"].as_str(), b["id"].as_str()))
    });
    let first = people[0]["id"].as_str().unwrap().to_owned();
    let (h, id) = (sim.handle(), first.clone());
    *source.on_apply.lock().unwrap() = Some((
        1,
        Box::new(move || {
            h.update_record("people", &id, json!({"jobTitle": "Changed mid-walk"}))
                .expect("update");
        }),
    ));
    first
}

#[tokio::test]
async fn a_pull_into_an_empty_entity_looks_up_only_pages_that_may_hold_its_own_writes() {
    // 45 people in pages of 7, batches of 14; the first person changes in Twenty once the first
    // batch is applied. Both sides start empty, so the only local record the walk can find is
    // one it wrote: just the last page (which meets the first person again) is looked up, and
    // the person is updated, not created twice.
    let sim = sim(45).await;
    let (source, state) = (Recording::telling_emptiness(), MemoryState::new());
    let first = change_first_person_after_first_apply(&sim, &source);
    let report = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.seen, c.created, c.updated, c.failed),
        (46, 45, 1, 0),
        "{}",
        report.summary()
    );
    assert_eq!(
        source.gets(),
        1,
        "only the page holding a written record is looked up"
    );
    assert_no_repeats(&source.applied());
    assert_eq!(source.inner.records(ENTITY).len(), 45);
    let st = state
        .records_by_twenty_id(ENTITY, std::slice::from_ref(&first))
        .await
        .unwrap();
    let local = source
        .inner
        .record(ENTITY, &st[0].local_key)
        .expect("local");
    assert_eq!(local.data["title"], "Changed mid-walk");
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
}

#[tokio::test]
async fn a_pull_into_an_entity_holding_records_looks_up_every_page() {
    // The same walk into a source that already holds an unrelated record: every page is
    // looked up (7 pages, and the repeated person's page once more after its commit).
    let sim = sim(45).await;
    let (source, state) = (Recording::telling_emptiness(), MemoryState::new());
    source
        .inner
        .upsert(ENTITY, "someone-else", json!({"email": "else@example.com"}));
    change_first_person_after_first_apply(&sim, &source);
    let report = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.updated), (45, 1), "{}", report.summary());
    assert!(
        source.gets() >= 7,
        "every page looked up: {}",
        source.gets()
    );
}

#[tokio::test]
async fn a_record_whose_stored_local_key_differs_from_its_mapped_key_updates_its_local_record() {
    // Locals keyed by email; person B's email changes in Twenty. B's mapped record names the
    // new email, but B's record state names the old one: the pull reads B's local record under
    // the old key and updates it in place, keeping its other fields, instead of creating a
    // record from Twenty's fields alone.
    let sim = sim(3).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let keyed_by_email = || {
        SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts().local_key("email")))
            .batch_size(7)
            .build()
            .expect("engine builds")
    };
    keyed_by_email()
        .pull(RunOptions::new())
        .await
        .expect("first pull");
    let b = sim.handle().records("people")[0].clone();
    let old_email = b["emails"]["primaryEmail"].as_str().unwrap().to_owned();
    sim.handle()
        .update_record(
            "people",
            b["id"].as_str().unwrap(),
            json!({"emails": {"primaryEmail": "b.renamed@example.com", "additionalEmails": []}}),
        )
        .expect("B's email changes");
    let mut kept = source
        .inner
        .record(ENTITY, &old_email)
        .expect("B's local")
        .data;
    kept["notes"] = json!("local only");
    source.inner.upsert(ENTITY, &old_email, kept);
    let report = keyed_by_email()
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.seen, c.created, c.updated),
        (1, 0, 1),
        "{}",
        report.summary()
    );
    let local = source
        .inner
        .record(ENTITY, &old_email)
        .expect("B's local record keeps its key");
    assert_eq!(local.data["email"], "b.renamed@example.com");
    assert_eq!(local.data["first"], b["name"]["firstName"]);
    assert_eq!(local.data["notes"], "local only");
    assert_eq!(source.inner.records(ENTITY).len(), 3);
}

#[tokio::test]
async fn records_of_one_page_that_map_to_one_local_key_are_decided_one_after_the_other() {
    // Locals keyed by last name; three new people on one page (of 7) share theirs, between two
    // others. No batch writes one key twice (a store need not sort out which write wins, and
    // the report must not count three creates of one record): the page is staged up to the
    // second "Same", committed, and the rest decided against that commit, as when the records
    // come on later pages. Each later "Same" updates the record the earlier one wrote.
    let (sim, source, state, engine) =
        people_keyed_by_last(&["A", "Same", "B", "Same", "Same"]).await;
    let h = sim.handle();
    let report = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let applied = source.applied();
    assert_no_repeats(&applied);
    let batches: Vec<Vec<String>> = applied.iter().map(|a| a.changes.clone()).collect();
    assert_eq!(
        batches,
        vec![vec!["A", "Same", "B"], vec!["Same"], vec!["Same"]],
        "{applied:?}"
    );
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.seen, c.created, c.updated, c.failed),
        (5, 3, 2, 0),
        "{}",
        report.summary()
    );
    assert_eq!(source.inner.records(ENTITY).len(), 3);
    let same = source.inner.record(ENTITY, "Same").expect("the shared key");
    assert_eq!(
        same.data["first"], "P4",
        "the last of the three wins, as across pages"
    );
    let p4 = h
        .records("people")
        .into_iter()
        .find(|p| p["name"]["firstName"] == "P4")
        .expect("P4 in Twenty");
    let st = state
        .records_by_twenty_id(ENTITY, &[p4["id"].as_str().unwrap().to_owned()])
        .await
        .unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].local_key, "Same");

    // Pulled again with nothing changed in Twenty (the overlap reads the five again, and the
    // three "Same" take the key from each other once more: see the closing note of issue 8),
    // no batch repeats a key and nothing fails.
    let again = engine.pull(RunOptions::new()).await.expect("second pull");
    assert_eq!(again.status, RunStatus::Succeeded, "{}", again.summary());
    assert_no_repeats(&source.applied());
}

#[tokio::test]
async fn a_changed_record_whose_local_key_a_staged_page_gave_to_another_is_decided_after_that_page_commits()
 {
    // Locals keyed by last name. B ("Bea Old") is pulled. Then, in Twenty, a new person N
    // ("Newcomer Old") comes, and B's last name changes to "Moved". In pages of one, the live
    // walk stages N onto B's local record (same key) first; B's page then finds its record state
    // naming that key. Decided against committed state, the key is N's once N's page commits
    // and B gets a record of its own under its new name; decided against the state read before
    // that commit, B would write its fields over N's record and take the key back, leaving N
    // linked to nothing.
    let sim = sim(0).await;
    let h = sim.handle();
    let b = h.insert_record(
        "people",
        json!({"name": {"firstName": "Bea", "lastName": "Old"},
               "emails": {"primaryEmail": "bea@example.com"}}),
    );
    let b_id = b["id"].as_str().unwrap().to_owned();
    let (source, state) = (Recording::new(), MemoryState::new());
    let keyed_by_last = || {
        SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts().local_key("last")))
            .batch_size(1)
            .build()
            .expect("engine builds")
    };
    keyed_by_last()
        .pull(RunOptions::new())
        .await
        .expect("first pull");
    h.insert_record(
        "people",
        json!({"name": {"firstName": "Newcomer", "lastName": "Old"},
               "emails": {"primaryEmail": "newcomer@example.com"}}),
    );
    h.update_record(
        "people",
        &b_id,
        json!({"name": {"firstName": "Bea", "lastName": "Moved"}}),
    )
    .expect("B's last name changes");
    let report = keyed_by_last()
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_no_repeats(&source.applied());
    let old = source.inner.record(ENTITY, "Old").expect("the shared key");
    assert_eq!(old.data["first"], "Newcomer", "{old:?}");
    let moved = source
        .inner
        .record(ENTITY, "Moved")
        .expect("B has a record under its new name");
    assert_eq!(moved.data["first"], "Bea");
    let b_state = state
        .records_by_twenty_id(ENTITY, std::slice::from_ref(&b_id))
        .await
        .unwrap();
    assert_eq!(b_state[0].local_key, "Moved");
}

#[tokio::test]
async fn a_failed_page_request_keeps_the_pages_staged_before_it_for_the_next_pull() {
    // Twenty starts failing every request while the third page is decided: the pull fails, but
    // the pages staged before the failed request are committed (with their cursor), so the
    // next pull only adds the rest instead of walking and writing everything again.
    let sim = sim(30).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let h = sim.handle();
    *source.on_get.lock().unwrap() = Some((
        3,
        Box::new(move || {
            h.set_faults(twenty_sim::Faults {
                server_error_fraction: 1.0,
                ..twenty_sim::Faults::none()
            })
        }),
    ));
    let failed = engine(&sim, &source, &state, 1000)
        .pull(RunOptions::new())
        .await;
    assert!(failed.is_err(), "the pull fails with Twenty: {failed:?}");
    let kept = source.inner.records(ENTITY).len();
    assert!(
        (21..30).contains(&kept),
        "the three (or four) pages staged before the failure are committed: {kept}"
    );
    // Page by page (the committer is free at the start of a pull), each with its cursor.
    let applied = source.applied();
    assert_eq!(
        applied.iter().map(|a| a.changes.len()).sum::<usize>(),
        kept,
        "{applied:?}"
    );
    assert!(applied.iter().all(|a| a.cursor_moved), "{applied:?}");

    sim.handle().set_faults(twenty_sim::Faults::none());
    let report = engine(&sim, &source, &state, 1000)
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.created, c.unchanged, c.failed),
        (30 - kept as u64, kept as u64, 0),
        "{}",
        report.summary()
    );
    assert_eq!(source.inner.records(ENTITY).len(), 30);
}

#[tokio::test]
async fn a_record_soft_deleted_during_the_live_walk_is_deleted_locally_by_the_next_pull_at_the_latest()
 {
    // The deleted walk's first page is requested while the live walk runs: a record of the
    // first live page, soft-deleted in Twenty after that page was decided, may miss this pull's
    // deleted walk; its `deletedAt` is after the pull started, so the next pull deletes it.
    let sim = sim(30).await;
    let (source, state) = (Recording::new(), MemoryState::new());
    let first = change_first_walked_at_second_get(&sim, &source, |h, id| {
        h.soft_delete_record("people", id).expect("soft delete");
    });
    let engine = engine(&sim, &source, &state, 1000);
    let first_pull = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(
        first_pull.status,
        RunStatus::Succeeded,
        "{}",
        first_pull.summary()
    );
    assert_eq!(first_pull.entities["contacts:pull"].created, 30);
    let second_pull = engine.pull(RunOptions::new()).await.expect("second pull");
    assert_eq!(
        second_pull.status,
        RunStatus::Succeeded,
        "{}",
        second_pull.summary()
    );
    let deleted = first_pull.entities["contacts:pull"].deleted
        + second_pull.entities["contacts:pull"].deleted;
    assert_eq!(
        deleted,
        1,
        "{}\n{}",
        first_pull.summary(),
        second_pull.summary()
    );
    let st = twenty_sync_core::StateStore::records_by_twenty_id(
        &state,
        ENTITY,
        std::slice::from_ref(&first),
    )
    .await
    .unwrap();
    assert!(st[0].deleted, "{st:?}");
    assert!(source.inner.record(ENTITY, &st[0].local_key).is_none());
    assert_eq!(source.inner.records(ENTITY).len(), 29);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_walks_first_pages_are_requested_before_either_is_answered() {
    // A short pull waits for one page request, not two in a row: the deleted walk's first page
    // is requested with the live walk's. Each list request is held in the simulator until both
    // have arrived (for at most 5 s); a deleted walk requested only after the live walk's first
    // answer would keep the first request waiting out the 5 s.
    let sim = sim(5).await;
    let arrived = Arc::new((Mutex::new(0u64), std::sync::Condvar::new()));
    let waited_out = Arc::new(Mutex::new(Vec::new()));
    let (a, w) = (arrived.clone(), waited_out.clone());
    sim.handle().set_page_hook(Some(Arc::new(
        move |_h: &twenty_sim::SimHandle, _plural: &str, n: u64| {
            let (count, both) = &*a;
            let mut c = count.lock().unwrap();
            *c += 1;
            both.notify_all();
            let (_c, timeout) = both
                .wait_timeout_while(c, Duration::from_secs(5), |c| *c < 2)
                .unwrap();
            w.lock().unwrap().push((n, timeout.timed_out()));
        },
    )));
    let (source, state) = (Recording::new(), MemoryState::new());
    let report = engine(&sim, &source, &state, 1000)
        .pull(RunOptions::new())
        .await
        .expect("the pull runs");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    assert_eq!(report.entities["contacts:pull"].created, 5);
    let mut waited = waited_out.lock().unwrap().clone();
    waited.sort();
    assert_eq!(
        waited,
        [(1, false), (2, false)],
        "two list requests (one per walk), each answered once the other had arrived"
    );
}

/// The ids of the retry set of the pull of contacts, as stored.
async fn pull_retry_set(state: &MemoryState) -> Vec<String> {
    let Some(stored) = state
        .cursor("contacts#retry", SyncDirection::Pull)
        .await
        .expect("retry set readable")
    else {
        return Vec::new();
    };
    let doc: serde_json::Value = serde_json::from_str(stored.as_str()).expect("retry set json");
    doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// 45 people pulled in pages of 7 and batches of 14 into `source`, which refuses the 21st by
/// the walk's order (by its email): it is on the third page, in the first full batch (pages
/// 3-4; pages 1 and 2 go alone at the start of the pull). Returns that person's id and the
/// report, after checking it: that person alone failed, everything else was written, and the
/// retry set holds the refused id.
async fn pull_with_one_refused(
    source: &Recording,
    names_key: bool,
) -> (SimServer, MemoryState, String, RunReport) {
    let sim = sim(45).await;
    let state = MemoryState::new();
    let mut people = sim.handle().records("people");
    people.sort_by(|a, b| {
        (a["updatedAt"].as_str(), a["id"].as_str())
            .cmp(&(b["updatedAt"].as_str(), b["id"].as_str()))
    });
    let bad = people[20]["id"].as_str().unwrap().to_owned();
    let email = people[20]["emails"]["primaryEmail"]
        .as_str()
        .expect("seeded people have emails")
        .to_owned();
    *source.refuse.lock().unwrap() = Some(Refusal {
        marker: Some(email),
        names_key,
    });
    let report = engine(&sim, source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("a refused record does not stop the pull");
    assert_eq!(
        report.status,
        RunStatus::PartiallyFailed,
        "{}",
        report.summary()
    );
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.failed), (44, 1), "{}", report.summary());
    assert_eq!(report.failures.len(), 1, "{}", report.summary());
    let failure = &report.failures[0];
    assert_eq!(failure.twenty_id.as_deref(), Some(bad.as_str()));
    assert!(
        failure.reason.contains("refused the record") && failure.reason.contains("email_allowed"),
        "{failure:?}"
    );
    assert_eq!(source.inner.records(ENTITY).len(), 44);
    assert!(
        source.inner.records(ENTITY).iter().all(|r| r.key != bad),
        "the refused record is not written"
    );
    assert_no_repeats(&source.applied());
    assert_eq!(pull_retry_set(&state).await, vec![bad.clone()]);
    (sim, state, bad, report)
}

#[tokio::test]
async fn a_record_the_store_refuses_fails_alone_and_the_rest_of_its_batch_is_applied() {
    // The store gives no key: the refused batch of 14 is applied in halves until the refused
    // record is alone (7 refused, 3 applied, 4 refused, 2 applied, 2 refused, 1 applied, 1
    // refused, 7 applied: 8 applies more). The cursor moves past it all the same:
    // the next pull retries the refused person alone (reported again), and once it is fixed in
    // Twenty, writes it and empties the retry set.
    let source = Recording::new();
    let (sim, state, bad, _) = pull_with_one_refused(&source, false).await;
    let applies = *source.applies.lock().unwrap();
    // 5 batches (7, 7, 14, 14, 3), the third refused, then its 8 parts.
    assert_eq!(applies, 5 + 8, "{:?}", batch_sizes(&source.applied()));
    assert_eq!(
        batch_sizes(&source.applied()),
        [7, 7, 3, 2, 1, 7, 14, 3],
        "the parts of the refused batch that were applied, in order"
    );
    let audit = state
        .audit(&AuditQuery::default())
        .await
        .expect("audit readable");
    let failed: Vec<_> = audit
        .iter()
        .filter(|a| a.twenty_id.as_deref() == Some(bad.as_str()))
        .map(|a| a.action)
        .collect();
    assert_eq!(
        failed,
        vec![AuditAction::Fail],
        "one failure entry, no create"
    );

    let again = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("pull again");
    let c = &again.entities["contacts:pull"];
    assert_eq!(
        (c.seen, c.created, c.failed),
        (1, 0, 1),
        "only the retried person is read: {}",
        again.summary()
    );
    assert_eq!(pull_retry_set(&state).await, vec![bad.clone()]);

    sim.handle()
        .update_record(
            "people",
            &bad,
            json!({"emails": {"primaryEmail": "fixed@example.com", "additionalEmails": []}}),
        )
        .expect("the person exists");
    let fixed = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("pull the fix");
    assert_eq!(fixed.status, RunStatus::Succeeded, "{}", fixed.summary());
    assert_eq!(fixed.entities["contacts:pull"].created, 1);
    assert_eq!(local_emails(&source.inner), twenty_emails(&sim));
    assert!(pull_retry_set(&state).await.is_empty());
}

#[tokio::test]
async fn a_record_the_stores_error_names_costs_one_apply_more() {
    // The store's error names the refused record's key: it is taken out at once, and the rest
    // of its batch applied in one more apply.
    let source = Recording::new();
    pull_with_one_refused(&source, true).await;
    let sizes = batch_sizes(&source.applied());
    assert_eq!(
        *source.applies.lock().unwrap(),
        sizes.len() + 1,
        "one refused apply: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 44);
}

#[tokio::test]
async fn with_two_batches_at_once_a_refused_record_is_kept_for_retry_before_a_cursor_passes_it() {
    // Two batches in flight: the batch with the refused record may have gone beside another,
    // and a later one beside it. Its cursor is held back until the refused id is stored for
    // retry; the completed pull's cursor is written after that, so the next pull reads only
    // the retried person.
    // Page 2's apply is held until the first part of the refused batch applied (apply 5:
    // apply 3 is the batch, 4 its refused first half, 5 that half's first 3), so the refused
    // batch goes beside it, with its cursor kept for after it.
    let source = Recording::two_at_once();
    let release = Arc::new(tokio::sync::Notify::new());
    *source.hold_apply.lock().unwrap() = Some((2, release.clone()));
    *source.on_apply.lock().unwrap() = Some((5, Box::new(move || release.notify_one())));
    let (sim, state, _, _) = tokio::time::timeout(
        Duration::from_secs(30),
        pull_with_one_refused(&source, false),
    )
    .await
    .expect("the refused batch was applied while page 2 waited");
    assert_eq!(
        batch_sizes(&source.applied())[..3],
        [7, 3, 2],
        "page 2 written after the refused batch's first part"
    );
    let again = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("pull again");
    let c = &again.entities["contacts:pull"];
    assert_eq!((c.seen, c.failed), (1, 1), "{}", again.summary());
}

#[tokio::test]
async fn a_store_that_refuses_every_record_stops_the_pull_before_the_batch() {
    // Every record is refused (a constraint at odds with the mapping): after eight records
    // refused on their own and none applied, the pull stops with the cursor before the batch
    // instead of reporting, at two applies each, a failure per record.
    let sim = sim(20).await;
    let (source, state) = (
        Recording {
            costly_commits: true,
            ..Recording::new()
        },
        MemoryState::new(),
    );
    *source.refuse.lock().unwrap() = Some(Refusal {
        marker: None,
        names_key: false,
    });
    let err = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect_err("nothing can be stored");
    let message = err.to_string();
    assert!(
        message.contains("before taking any part") && message.contains("email_allowed"),
        "{message}"
    );
    assert!(source.inner.records(ENTITY).is_empty());
    assert_eq!(
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        None
    );
    assert!(pull_retry_set(&state).await.is_empty());
    let applies = *source.applies.lock().unwrap();
    assert!(applies <= 20, "{applies} applies");
}

#[tokio::test]
async fn a_crash_anywhere_after_a_refusal_loses_neither_the_refused_record_nor_the_others() {
    // The pull of `pull_with_one_refused`, stopped after each of its 8 applies that write in turn (data
    // written, state not: the memory source leaves the state to the engine), or before the
    // completed pull's cursor, then run again: the refused person is in the retry set and
    // everyone else is written. A cursor written past the refused batch before its id was kept
    // for retry would lose it.
    use twenty_sync_core::engine::failpoints::{
        Failpoints, PULL_AFTER_SOURCE_APPLY, PULL_BEFORE_CURSOR_COMMIT,
    };
    let mut crashes = 0;
    for (point, hit) in (1..=8)
        .map(|hit| (PULL_AFTER_SOURCE_APPLY, hit))
        .chain([(PULL_BEFORE_CURSOR_COMMIT, 1)])
    {
        let probe = Recording::new();
        let (sim, _, bad, _) = pull_with_one_refused(&probe, false).await;
        let source = Recording::new();
        *source.refuse.lock().unwrap() = probe.refuse.lock().unwrap().clone();
        let state = MemoryState::new();
        let fp = Failpoints::new();
        fp.arm(point, hit);
        // No overlap: the pull after the crash reads from the last committed record on, so it
        // reads the refused person again only if no cursor past it was written.
        let pulling = |fp: Failpoints| {
            SyncEngine::builder(client(&sim), source.clone(), state.clone())
                .entity(Arc::new(contacts()))
                .batch_size(7)
                .pull_commit_records(14)
                .overlap(Duration::ZERO)
                .failpoints(fp)
                .build()
                .expect("engine builds")
        };
        if pulling(fp).pull(RunOptions::new()).await.is_err() {
            crashes += 1;
        }
        pulling(Failpoints::new())
            .pull(RunOptions::new())
            .await
            .expect("the pull after the crash");
        assert_eq!(
            pull_retry_set(&state).await,
            vec![bad.clone()],
            "{point} at hit {hit}"
        );
        assert_eq!(
            source.inner.records(ENTITY).len(),
            44,
            "{point} at hit {hit}"
        );
    }
    assert_eq!(crashes, 9, "every armed point fired");
}

#[tokio::test]
async fn many_records_of_one_batch_refused_by_name_are_all_found_without_stopping_the_pull() {
    // Ten of the fourteen records of the first full batch are refused, and the store names one
    // of them each time (as for a value several records share under a unique index). Taking
    // out one named record at a time would meet eight refusals with nothing applied and stop
    // the pull; after the second, the rest goes as halves, which the good records get through.
    let sim = sim(0).await;
    for i in 0..45 {
        let email = if (15..25).contains(&i) {
            format!("shared-{i}@example.com")
        } else {
            format!("p{i}@example.com")
        };
        sim.handle().insert_record(
            "people",
            json!({"name": {"firstName": format!("P{i}"), "lastName": "Test"},
                   "emails": {"primaryEmail": email}}),
        );
    }
    let (source, state) = (Recording::new(), MemoryState::new());
    *source.refuse.lock().unwrap() = Some(Refusal {
        marker: Some("shared-".into()),
        names_key: true,
    });
    let report = engine(&sim, &source, &state, 14)
        .pull(RunOptions::new())
        .await
        .expect("the pull goes on past ten refused records");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.failed), (35, 10), "{}", report.summary());
    assert_eq!(source.inner.records(ENTITY).len(), 35);
    assert_eq!(pull_retry_set(&state).await.len(), 10);
    let applies = *source.applies.lock().unwrap();
    assert!(
        applies < 5 + 2 * 10,
        "{applies} applies: {:?}",
        batch_sizes(&source.applied())
    );
}
