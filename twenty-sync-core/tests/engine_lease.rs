//! One run at a time per entity: within one engine (its runs and webhooks), across engines (the
//! store's lease), and for runs longer than the lease's time-to-live (renewed while they work).

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use engine_support::*;
use secrecy::SecretString;
use twenty_sim::{Faults, SimConfig, SimServer};
use twenty_sync_core::engine::{RunOptions, SyncEngine, SyncErrorKind, WebhookOutcome};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    Checkpoint, Lease, StateStore, StoreError, StoreErrorKind, StoreResult, SyncDirection,
};

const SECRET: &str = "whsec-lease-test";

/// A simulator slow enough (40 pages of 10, 50 ms each) for a pull to take about two seconds.
async fn slow_sim() -> SimServer {
    let faults = Faults {
        latency: Duration::from_millis(50),
        ..Faults::none()
    };
    SimServer::start(
        SimConfig::new(KEY)
            .seed_people(400)
            .rate_limit(None)
            .faults(faults),
    )
    .await
    .expect("simulator starts")
}

fn slow_engine<T: StateStore>(
    sim: &SimServer,
    state: T,
    ttl: Duration,
) -> SyncEngine<MemorySource, T> {
    SyncEngine::builder(client(sim), MemorySource::new(), state)
        .entity(Arc::new(contacts()))
        .batch_size(10)
        .lease(ttl, "worker-a")
        .webhook_secret(SecretString::from(SECRET))
        .build()
        .expect("engine builds")
}

fn scope(sim: &SimServer) -> String {
    format!("{}#{ENTITY}", sim.base_url())
}

/// Whether a holder other than the engine could take the lease now (it is given back at once).
async fn free_for_another(state: &MemoryState, sim: &SimServer) -> bool {
    let taken = state
        .acquire_lease(&scope(sim), "worker-b", Duration::from_secs(60))
        .await
        .unwrap();
    if let Some(lease) = &taken {
        state.release_lease(lease).await.unwrap();
    }
    taken.is_some()
}

fn signed_delivery(record: serde_json::Value) -> (String, String, Vec<u8>) {
    let body = delivery("person.updated", record);
    let ts = Utc::now().timestamp_millis().to_string();
    let signature = webhook_signature(SECRET, &ts, &body);
    (ts, signature, body)
}

/// Waits until the engine's run holds the lease (another holder cannot take it).
async fn until_leased(state: &MemoryState, sim: &SimServer) {
    for _ in 0..200 {
        if !free_for_another(state, sim).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the run never took its lease");
}

#[tokio::test]
async fn a_webhook_during_the_engines_own_run_is_deferred_and_leaves_the_runs_lease_alone() {
    let sim = slow_sim().await;
    let state = MemoryState::new();
    let engine = Arc::new(slow_engine(&sim, state.clone(), Duration::from_secs(60)));
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.pull(RunOptions::new()).await }
    });
    until_leased(&state, &sim).await;
    let record = sim.handle().records("people")[0].clone();
    let (ts, signature, body) = signed_delivery(record);
    let outcome = engine
        .handle_webhook(&ts, &signature, &body)
        .await
        .expect("a delivery");
    assert_eq!(outcome, WebhookOutcome::Deferred);
    assert!(
        !free_for_another(&state, &sim).await,
        "the webhook gave the run's lease away"
    );
    let report = run.await.unwrap().expect("the run");
    assert_eq!(report.entities["contacts:pull"].created, 400);
    // Once the run is over, the same delivery is applied.
    let (ts, signature, body) = signed_delivery(sim.handle().records("people")[0].clone());
    let outcome = engine.handle_webhook(&ts, &signature, &body).await.unwrap();
    assert!(matches!(outcome, WebhookOutcome::Applied(_)), "{outcome:?}");
}

#[tokio::test]
async fn two_runs_of_one_engine_do_not_run_together() {
    let sim = slow_sim().await;
    let state = MemoryState::new();
    let engine = Arc::new(slow_engine(&sim, state.clone(), Duration::from_secs(60)));
    let first = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.pull(RunOptions::new()).await }
    });
    until_leased(&state, &sim).await;
    let second = engine.pull(RunOptions::new()).await.expect_err("held");
    assert_eq!(second.kind(), SyncErrorKind::LeaseHeld);
    assert!(
        second.to_string().contains("another run of this engine"),
        "{second}"
    );
    first.await.unwrap().expect("the first run");
    // The first run gave its claim back: the next one runs.
    engine.pull(RunOptions::new()).await.expect("a later run");
}

#[tokio::test]
async fn a_run_longer_than_its_lease_renews_it_while_it_works() {
    let sim = slow_sim().await;
    let state = MemoryState::new();
    let ttl = Duration::from_millis(300);
    let engine = Arc::new(slow_engine(&sim, state.clone(), ttl));
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.pull(RunOptions::new()).await }
    });
    until_leased(&state, &sim).await;
    // Well past the time-to-live of the lease taken at the start, the run still holds it.
    for _ in 0..4 {
        tokio::time::sleep(ttl).await;
        if run.is_finished() {
            break;
        }
        assert!(
            !free_for_another(&state, &sim).await,
            "the lease lapsed under the run"
        );
    }
    assert!(
        !run.is_finished(),
        "the run should outlast its lease's time-to-live"
    );
    let report = run.await.unwrap().expect("the run");
    assert_eq!(report.entities["contacts:pull"].created, 400);
    assert!(free_for_another(&state, &sim).await, "released at the end");
}

/// Store hooks: leases cannot be taken or renewed while `unreachable` is set.
#[derive(Clone, Default)]
struct LeasesUnreachable {
    unreachable: Arc<AtomicBool>,
}

#[async_trait]
impl StoreHooks for LeasesUnreachable {
    async fn acquire_lease(&self) -> Option<StoreResult<Option<Lease>>> {
        self.unreachable.load(Ordering::SeqCst).then(|| {
            Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "the lease table cannot be reached",
            ))
        })
    }
}

#[tokio::test]
async fn a_run_whose_lease_lapsed_and_was_taken_stops_and_says_so() {
    let sim = slow_sim().await;
    let state = Hooked::<LeasesUnreachable>::default();
    let ttl = Duration::from_millis(300);
    let engine = Arc::new(slow_engine(&sim, state.clone(), ttl));
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.pull(RunOptions::new()).await }
    });
    until_leased(&state.inner, &sim).await;
    // The renewals fail until the lease has lapsed and another worker has taken it.
    state.hooks.unreachable.store(true, Ordering::SeqCst);
    tokio::time::sleep(ttl * 2).await;
    let other = state
        .inner
        .acquire_lease(&scope(&sim), "worker-b", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(other.is_some(), "the lease lapsed");
    state.hooks.unreachable.store(false, Ordering::SeqCst);
    let err = run.await.unwrap().expect_err("the run stops");
    assert_eq!(err.kind(), SyncErrorKind::LeaseHeld);
    assert!(err.to_string().contains("lapsed during the run"), "{err}");
    // It stopped before the end of the walk, and its report says why.
    let pulled = engine.source().records(ENTITY).len();
    assert!(
        pulled < 400,
        "{pulled} records pulled: the run did not stop"
    );
    let saved = state
        .run(err.run_id().expect("run id"))
        .await
        .unwrap()
        .expect("saved");
    assert!(
        saved
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("lapsed"),
        "{saved:?}"
    );
}

/// A source of truth that panics when asked for its changes (a bug in a user's source).
struct PanickingSource;

#[async_trait]
impl twenty_sync_core::SourceOfTruth for PanickingSource {
    fn describe(&self) -> String {
        "a source that panics".into()
    }
    async fn changes_since(
        &self,
        _entity: &str,
        _checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<futures::stream::BoxStream<'static, StoreResult<twenty_sync_core::LocalChange>>>
    {
        panic!("PanickingSource::changes_since panics on purpose")
    }
    async fn apply(
        &self,
        _batch: &twenty_sync_core::ApplyBatch,
    ) -> StoreResult<twenty_sync_core::StateWritten> {
        panic!("PanickingSource::apply panics on purpose")
    }
    async fn get(
        &self,
        _entity: &str,
        _keys: &[String],
    ) -> StoreResult<Vec<twenty_sync_core::LocalRecord>> {
        panic!("PanickingSource::get panics on purpose")
    }
}

/// A run that panics still saves its report, as failed and saying why, and gives its leases
/// back (in the store and in the engine); the panic itself reaches the caller.
#[tokio::test]
async fn a_run_that_panics_saves_its_report_as_failed_and_gives_its_leases_back() {
    let sim = sim(0).await;
    let state = MemoryState::new();
    let engine = Arc::new(
        SyncEngine::builder(client(&sim), PanickingSource, state.clone())
            .entity(Arc::new(contacts()))
            .build()
            .expect("engine builds"),
    );
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.push(RunOptions::new()).await }
    });
    let err = run.await.expect_err("the panic reaches the caller");
    assert!(err.is_panic());
    let reports = state.runs(10).await.unwrap();
    let [report] = reports.as_slice() else {
        panic!("one report: {reports:?}");
    };
    assert_eq!(report.status, twenty_sync_core::RunStatus::Failed);
    let error = report.error.as_deref().unwrap_or_default();
    assert!(error.contains("the run panicked"), "{error}");
    assert!(error.contains("changes_since panics on purpose"), "{error}");
    assert!(
        free_for_another(&state, &sim).await,
        "the store's lease is given back"
    );
    // The engine's own claim is given back too: the next run starts (and panics again).
    let again = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.push(RunOptions::new()).await }
    });
    assert!(again.await.expect_err("panics again").is_panic());
    assert_eq!(state.runs(10).await.unwrap().len(), 2);
}

/// A webhook delivery whose apply panics gives the store's lease back too.
#[tokio::test]
async fn a_delivery_that_panics_gives_its_lease_back() {
    let sim = sim(1).await;
    let state = MemoryState::new();
    let engine = Arc::new(
        SyncEngine::builder(client(&sim), PanickingSource, state.clone())
            .entity(Arc::new(contacts()))
            .webhook_secret(SecretString::from(SECRET))
            .build()
            .expect("engine builds"),
    );
    let (ts, signature, body) = signed_delivery(sim.handle().records("people")[0].clone());
    let delivered = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.handle_webhook(&ts, &signature, &body).await }
    });
    assert!(
        delivered
            .await
            .expect_err("the panic reaches the caller")
            .is_panic()
    );
    assert!(
        free_for_another(&state, &sim).await,
        "the store's lease is given back"
    );
}

/// A run whose lease lapsed and was taken by another holder while it worked (a process paused
/// past its renewals) cannot commit over the new holder: its next commit carries the lease's
/// fence, the store refuses it whole, and the run stops with `LeaseHeld`. Here the store's clock
/// jumps an hour and another worker takes the lease between the run's write of a pulled batch
/// to the local source and the commit of its state.
#[tokio::test]
async fn a_commit_under_a_lease_taken_since_is_refused_and_stops_the_run() {
    use futures::FutureExt;
    use std::sync::atomic::AtomicI64;
    use twenty_sync_core::engine::{ProgressEvent, ProgressSink};

    let sim = sim(30).await;
    let skew = Arc::new(AtomicI64::new(0));
    let clock_skew = Arc::clone(&skew);
    let state = MemoryState::with_clock(Arc::new(move || {
        Utc::now() + chrono::Duration::seconds(clock_skew.load(Ordering::SeqCst))
    }));
    let source = MemorySource::new();
    let scope = format!("{}#{ENTITY}", client(&sim).base_url());
    let taken: Arc<std::sync::Mutex<Option<Lease>>> = Arc::default();
    let (thief_state, thief_scope, thief_taken) = (state.clone(), scope.clone(), taken.clone());
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .progress(ProgressSink::new(move |e| {
            if let ProgressEvent::Written { .. } = e {
                let mut taken = thief_taken.lock().unwrap();
                if taken.is_none() {
                    skew.store(3600, Ordering::SeqCst);
                    let lease = thief_state
                        .acquire_lease(&thief_scope, "another-worker", Duration::from_secs(600))
                        .now_or_never()
                        .expect("the memory store answers at once")
                        .expect("acquiring")
                        .expect("the lapsed lease is free");
                    *taken = Some(lease);
                }
            }
        }))
        .build()
        .unwrap();

    let err = engine.pull(RunOptions::new()).await.unwrap_err();
    assert_eq!(err.kind(), SyncErrorKind::LeaseHeld, "{err}");
    assert!(err.to_string().contains("no longer current"), "{err}");
    // Nothing of the refused commit: no record state, no cursor.
    let ids: Vec<String> = sim
        .handle()
        .records("people")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        state
            .records_by_twenty_id(ENTITY, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        state.cursor(ENTITY, SyncDirection::Pull).await.unwrap(),
        None
    );
    // The stopped run gave back nothing of the new holder's: it still holds the lease.
    let thief = taken.lock().unwrap().clone().expect("taken");
    let again = state
        .acquire_lease(&scope, "another-worker", Duration::from_secs(600))
        .await
        .unwrap()
        .expect("still the new holder's");
    assert_eq!(again.token, thief.token);
}
