//! Throttling and server-error bursts from the simulator's real limiter, with a short window so
//! the test stays fast: a client that starts with no budget learns it from the 429s and the run
//! completes with nothing lost or duplicated; a burst of 5xx answers ends in the same state as a
//! clean run.

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use secrecy::SecretString;
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{Faults, RateLimitConfig, SimConfig, SimServer};
use twenty_sync_core::engine::{RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};

const LIMIT: u32 = 4;
const WINDOW: Duration = Duration::from_millis(500);

async fn limited_sim() -> SimServer {
    SimServer::start(
        SimConfig::new(KEY)
            .seed_people(12)
            .rate_limit(Some(RateLimitConfig {
                requests: LIMIT,
                window: WINDOW,
            })),
    )
    .await
    .expect("simulator starts")
}

fn seed_local(source: &MemorySource, n: usize) {
    for i in 0..n {
        source.upsert(
            ENTITY,
            &format!("l-{i}"),
            person(&format!("t{i}@example.com"), "T", "Throttled"),
        );
    }
}

fn total_5xx(sim: &SimServer) -> u64 {
    sim.stats().by_status.range(500..600).map(|(_, n)| *n).sum()
}

#[tokio::test]
async fn a_429_storm_is_learned_from_and_the_run_completes_without_loss_or_duplicates() {
    let sim = limited_sim().await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    seed_local(&source, 30);

    // `engine()` uses a client built with `.no_rate_limit()`: it must discover the budget.
    let report = engine(&sim, &source, &state)
        .sync(RunOptions::new())
        .await
        .expect("a throttled run still completes");
    let stats = sim.stats();
    eprintln!(
        "requests {}, 429s {}, throttled {} ms",
        stats.requests, stats.rate_limited, report.throttled_ms
    );
    assert!(
        stats.rate_limited >= 1,
        "the run must have hit the limit (requests {}): {stats:?}",
        stats.requests
    );
    // Once learned, the client paces itself: a handful of 429s, not one per request.
    assert!(
        stats.rate_limited <= 6,
        "too many 429s ({}) for {} requests: the client did not learn the budget",
        stats.rate_limited,
        stats.requests
    );
    assert!(report.throttled_ms > 0, "{}", report.summary());
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    assert_eq!(
        twenty_emails(&sim).len(),
        12 + 30,
        "nothing lost, nothing duplicated"
    );
    assert_eq!(local_emails(&source), twenty_emails(&sim));
    assert_linked(&sim, &source, &state).await;

    // A second run (fresh engine, as after a restart) writes nothing on either side.
    let again = engine(&sim, &source, &state)
        .sync(RunOptions::new())
        .await
        .expect("second run");
    let t = again.totals();
    assert_eq!(
        (t.created, t.updated, t.deleted),
        (0, 0, 0),
        "{}",
        again.summary()
    );
    assert_eq!(twenty_emails(&sim).len(), 42);
}

/// A client that outlasts a short burst: ten retries with backoff up to 40 ms (≈ 350 ms).
fn patient_client(sim: &SimServer) -> Client {
    Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            max_internal_error_retries: 10,
        })
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn a_5xx_burst_ends_in_the_same_state_as_a_clean_run() {
    let sim = engine_support::sim(12).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    seed_local(&source, 20);

    // Every request fails until the simulator has served BURST server errors.
    const BURST: u64 = 6;
    sim.handle().set_faults(Faults {
        server_error_fraction: 1.0,
        ..Faults::none()
    });
    let handle = sim.handle();
    let healer = tokio::spawn(async move {
        loop {
            let served: u64 = handle
                .stats()
                .by_status
                .range(500..600)
                .map(|(_, n)| *n)
                .sum();
            if served >= BURST {
                handle.set_faults(Faults::none());
                return served;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });

    let mut runs = 0;
    // (runs that stop on a non-resendable write are retried by a fresh engine, as a restart)
    let mut errors = Vec::new();
    let report = loop {
        runs += 1;
        assert!(runs <= 4, "never converged: {errors:#?}");
        let engine = SyncEngine::builder(patient_client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts()))
            .batch_size(7)
            .build()
            .expect("engine builds");
        match engine.sync(RunOptions::new()).await {
            Ok(r) => break r,
            Err(e) => {
                // A write that is not safe to resend stops the run, resumable.
                assert!(e.is_temporary(), "a 5xx error must be temporary: {e}");
                errors.push(e.to_string());
            }
        }
    };
    let served = tokio::time::timeout(Duration::from_secs(5), healer)
        .await
        .expect("the burst ended")
        .unwrap();
    assert!(served >= BURST && total_5xx(&sim) >= BURST);
    eprintln!(
        "5xx served {}, runs {runs}, retries {}",
        total_5xx(&sim),
        report.retries
    );
    assert!(
        report.retries > 0 || !errors.is_empty(),
        "the burst was absorbed somewhere: {}",
        report.summary()
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    assert_eq!(
        twenty_emails(&sim).len(),
        12 + 20,
        "nothing lost, nothing duplicated"
    );
    assert_eq!(local_emails(&source), twenty_emails(&sim));
    assert_linked(&sim, &source, &state).await;
    let again = engine(&sim, &source, &state)
        .sync(RunOptions::new())
        .await
        .expect("a clean run after the burst");
    let t = again.totals();
    assert_eq!(
        (t.created, t.updated, t.deleted),
        (0, 0, 0),
        "{}",
        again.summary()
    );
}
