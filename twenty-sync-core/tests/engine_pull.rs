//! Pull: full, incremental with overlap de-duplication, soft deletes, tombstones, leases.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use serde_json::json;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{PullCursor, PullDeleteMode, RunOptions, SyncEngine, SyncErrorKind};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    AuditQuery, RunReport, RunStatus, StateCommit, StateStore, StoreError, StoreErrorKind,
    StoreResult, SyncDirection,
};

#[tokio::test]
async fn full_pull_copies_every_record_and_sets_the_cursor() {
    let sim = sim(23).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    let report = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.seen, c.created, c.failed), (23, 23, 0));
    assert_eq!(source.records(ENTITY).len(), 23);
    assert_eq!(local_emails(&source), twenty_emails(&sim));
    assert!(
        state
            .cursor(ENTITY, SyncDirection::Pull)
            .await
            .unwrap()
            .is_some()
    );
    assert_linked(&sim, &source, &state).await;
    let saved = state.run(&report.run_id).await.unwrap().expect("run saved");
    assert_eq!(saved.status, RunStatus::Succeeded);
    // The simulator runs on this host's clock: nothing to warn about.
    assert!(report.warnings.is_empty(), "{}", report.summary());
}

#[tokio::test]
async fn incremental_pull_dedupes_the_overlap_and_applies_only_changes() {
    let sim = sim(15).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    engine.pull(RunOptions::new()).await.expect("first pull");
    let audit_before = state.audit(&AuditQuery::default()).await.unwrap().len();

    // Nothing changed: the overlap re-reads everything but writes nothing.
    let again = engine.pull(RunOptions::new()).await.expect("second pull");
    let c = &again.entities["contacts:pull"];
    assert_eq!(
        (c.created, c.updated, c.deleted),
        (0, 0, 0),
        "{}",
        again.summary()
    );
    assert_eq!(c.unchanged, c.seen);
    assert_eq!(
        state.audit(&AuditQuery::default()).await.unwrap().len(),
        audit_before
    );

    // One change in Twenty: exactly one local update.
    let people = sim.handle().records("people");
    let id = people[3]["id"].as_str().unwrap().to_owned();
    sim.handle()
        .update_record("people", &id, json!({"jobTitle": "Pilot"}))
        .expect("update");
    let third = engine.pull(RunOptions::new()).await.expect("third pull");
    let c = &third.entities["contacts:pull"];
    assert_eq!((c.created, c.updated), (0, 1), "{}", third.summary());
    let st = state
        .records_by_twenty_id(ENTITY, std::slice::from_ref(&id))
        .await
        .unwrap();
    let local = source
        .record(ENTITY, &st[0].local_key)
        .expect("local record");
    assert_eq!(local.data["title"], "Pilot");
}

#[tokio::test]
async fn records_created_after_the_watermark_are_pulled_next_time() {
    let sim = sim(3).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    engine.pull(RunOptions::new()).await.expect("first pull");
    sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Late", "lastName": "Comer"}, "emails": {"primaryEmail": "late@example.com"}}),
    );
    let r = engine.pull(RunOptions::new()).await.expect("second pull");
    assert_eq!(r.entities["contacts:pull"].created, 1);
    assert!(local_emails(&source).contains(&"late@example.com".to_string()));
}

/// Twenty's clock ten minutes behind this host's, under the default five-minute overlap. The
/// pull puts its watermark on Twenty's clock (read off the `Date` headers), so a change made after
/// it is read by the next pull, and every pull's report warns of the difference. A watermark on
/// this host's clock, as a pull stores when Twenty's clock is set back by ten minutes only after
/// it, hides the next change from a pull; one pull with an overlap above the difference, as the
/// warning advises, reads it.
/// A push, which reads no watermark, does not warn.
#[tokio::test]
async fn a_twenty_clock_behind_by_more_than_the_overlap_is_allowed_for_and_reported() {
    let sim = SimServer::start(
        SimConfig::new(KEY)
            .seed_people(5)
            .rate_limit(None)
            .clock_offset(chrono::TimeDelta::minutes(-10)),
    )
    .await
    .expect("simulator starts");
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    let started = chrono::Utc::now();
    let first = engine.pull(RunOptions::new()).await.expect("first pull");
    assert_eq!(first.entities["contacts:pull"].created, 5);
    let [warning] = first.warnings.as_slice() else {
        panic!("one warning: {}", first.summary());
    };
    let behind: u64 = warning
        .strip_prefix("Twenty's clock is at least ")
        .and_then(|rest| rest.split_once(" s behind this host's"))
        .and_then(|(seconds, _)| seconds.parse().ok())
        .unwrap_or_else(|| panic!("{warning}"));
    assert!((590..=600).contains(&behind), "{warning}");
    assert!(
        warning.contains("more than the overlap (300 s)"),
        "{warning}"
    );
    assert!(warning.contains("may have been missed"), "{warning}");
    assert!(first.summary().contains(&format!("  warning: {warning}")));
    let saved = state.run(&first.run_id).await.unwrap().expect("run saved");
    assert_eq!(saved.warnings, first.warnings);
    // The watermark is the pull's start on Twenty's clock: ten minutes (less the Date header's
    // second) before it on this host's.
    let stored = state.cursor(ENTITY, SyncDirection::Pull).await.unwrap();
    let watermark = PullCursor::decode(stored.as_ref())
        .watermark
        .expect("a completed pull's watermark");
    let moved_back = (started - watermark).num_milliseconds();
    assert!(
        (589_000..=600_000).contains(&moved_back),
        "watermark {watermark} against a start at {started}"
    );

    let ids: Vec<String> = sim
        .handle()
        .records("people")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    sim.handle()
        .update_record(
            "people",
            &ids[2],
            json!({"jobTitle": "Stamped ten minutes ago"}),
        )
        .expect("update");
    let second = engine.pull(RunOptions::new()).await.expect("second pull");
    assert_eq!(
        second.entities["contacts:pull"].updated,
        1,
        "the change is stamped after the watermark less the overlap: {}",
        second.summary()
    );
    assert_eq!(second.warnings.len(), 1, "{}", second.summary());

    // As if Twenty's clock had been in step at the last pull and was set back only after it.
    let mut on_this_host = StateCommit::new(ENTITY);
    on_this_host.cursors.push((
        SyncDirection::Pull,
        PullCursor::completed(chrono::Utc::now()).encode(),
    ));
    state.commit(&on_this_host).await.unwrap();
    sim.handle()
        .update_record("people", &ids[3], json!({"jobTitle": "Hidden by the jump"}))
        .expect("update");
    // A dry run stores no watermark: the real pull below starts from the same one.
    let missed = engine
        .pull(RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!(
        missed.entities["contacts:pull"].updated,
        0,
        "the change is stamped before a watermark on this host's clock less the overlap: {}",
        missed.summary()
    );
    let wider = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(std::sync::Arc::new(contacts()))
        .overlap(Duration::from_secs(15 * 60))
        .build()
        .expect("engine builds");
    let read = wider
        .pull(RunOptions::new())
        .await
        .expect("pull, wider overlap");
    assert_eq!(
        read.entities["contacts:pull"].updated,
        1,
        "{}",
        read.summary()
    );
    let [warning] = read.warnings.as_slice() else {
        panic!("one warning: {}", read.summary());
    };
    assert!(warning.contains("the overlap (900 s)"), "{warning}");
    assert!(!warning.contains("may have been missed"), "{warning}");

    let pushed = wider.push(RunOptions::new()).await.expect("push");
    assert!(pushed.warnings.is_empty(), "{}", pushed.summary());
}

#[tokio::test]
async fn soft_deletes_in_twenty_delete_locally() {
    let sim = sim(5).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    engine.pull(RunOptions::new()).await.expect("pull");
    let id = sim.handle().records("people")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.handle()
        .soft_delete_record("people", &id)
        .expect("soft delete");
    let r = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(r.entities["contacts:pull"].deleted, 1, "{}", r.summary());
    assert_eq!(source.records(ENTITY).len(), 4);
    // Pulling again does not delete twice.
    let r = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(r.entities["contacts:pull"].deleted, 0);
}

#[tokio::test]
async fn soft_deletes_can_become_tombstones() {
    let sim = sim(2).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine =
        twenty_sync_core::engine::SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(std::sync::Arc::new(contacts()))
            .pull_delete(PullDeleteMode::Tombstone)
            .build()
            .unwrap();
    engine.pull(RunOptions::new()).await.expect("pull");
    let id = sim.handle().records("people")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.handle()
        .soft_delete_record("people", &id)
        .expect("soft delete");
    engine.pull(RunOptions::new()).await.expect("pull");
    let st = state.records_by_twenty_id(ENTITY, &[id]).await.unwrap();
    assert!(st[0].deleted);
    assert!(source.is_tombstoned(ENTITY, &st[0].local_key));
}

#[tokio::test]
async fn a_second_run_on_a_leased_entity_fails_fast() {
    let sim = sim(1).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    let scope = format!("{}#{ENTITY}", sim.base_url());
    state
        .acquire_lease(&scope, "someone-else", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("lease free");
    let err = engine
        .pull(RunOptions::new())
        .await
        .expect_err("lease held");
    assert_eq!(err.kind(), SyncErrorKind::LeaseHeld);
    assert!(err.to_string().contains("lease"), "{err}");
    assert!(source.records(ENTITY).is_empty());
    let saved = state
        .run(err.run_id().expect("run id"))
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(saved.status, RunStatus::Failed);
}

/// Store hooks: the first `save_run` (the run record) waits until a lease has been asked for
/// (at most 5 s), notes whether it had to give up waiting, and fails.
#[derive(Clone, Default)]
struct RunRecordRefused {
    lease_asked: std::sync::Arc<tokio::sync::Notify>,
    saves: std::sync::Arc<std::sync::Mutex<Vec<bool>>>,
}

#[async_trait::async_trait]
impl StoreHooks for RunRecordRefused {
    async fn save_run(&self, _report: &RunReport) -> Option<StoreResult<()>> {
        if !self.saves.lock().unwrap().is_empty() {
            return None;
        }
        let waited_out = tokio::time::timeout(Duration::from_secs(5), self.lease_asked.notified())
            .await
            .is_err();
        self.saves.lock().unwrap().push(waited_out);
        Some(Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "the run table is gone",
        )))
    }
    fn lease_asked(&self) {
        self.lease_asked.notify_one();
    }
}

#[tokio::test]
async fn the_run_record_is_saved_while_the_lease_is_taken_and_a_refused_record_gives_the_lease_back()
 {
    let sim = sim(3).await;
    let (source, state) = (MemorySource::new(), Hooked::<RunRecordRefused>::default());
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(std::sync::Arc::new(contacts()))
        .build()
        .expect("engine builds");
    let err = engine
        .pull(RunOptions::new())
        .await
        .expect_err("the run record is refused");
    assert!(err.to_string().contains("saving the run record"), "{err}");
    assert_eq!(
        *state.hooks.saves.lock().unwrap(),
        [false],
        "the run record was being saved when the lease was asked for"
    );
    assert!(source.records(ENTITY).is_empty(), "the run did nothing");
    // The lease taken beside the refused record was given back: another holder takes it now.
    let scope = format!("{}#{ENTITY}", sim.base_url());
    assert!(
        state
            .acquire_lease(&scope, "someone-else", Duration::from_secs(60))
            .await
            .unwrap()
            .is_some()
    );
}
