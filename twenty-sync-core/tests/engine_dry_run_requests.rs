//! A dry run makes no more requests than it needs: only reads, at most one lookup of linked
//! records and one natural-key lookup per chunk, and exactly the reads the real run makes (with
//! the lookup strategy; the upsert strategy's requests are tested in `engine_push_upsert`).

mod engine_support;

use std::collections::BTreeMap;

use engine_support::*;
use serde_json::json;
use std::sync::Arc;
use twenty_sim::SimServer;

use twenty_sync_core::RunMode;
use twenty_sync_core::engine::{EngineConfig, MatchStrategy, RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};

/// The support engine with the lookup strategy (this file's subject); shadows the glob import.
fn engine(sim: &SimServer, source: &MemorySource, state: &MemoryState) -> Engine {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .config(EngineConfig {
            match_strategy: MatchStrategy::Lookup,
            ..EngineConfig::default()
        })
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .build()
        .expect("engine builds")
}

/// Requests per route since the last reset, split into reads and writes.
fn requests(sim: &SimServer) -> (BTreeMap<String, u64>, u64, u64) {
    let stats = sim.stats();
    let reads = stats
        .by_route
        .iter()
        .filter(|(r, _)| r.starts_with("GET "))
        .map(|(_, n)| n)
        .sum();
    let writes = stats
        .by_route
        .iter()
        .filter(|(r, _)| !r.starts_with("GET "))
        .map(|(_, n)| n)
        .sum();
    (stats.by_route, reads, writes)
}

#[tokio::test]
async fn a_dry_push_only_reads_and_reads_exactly_what_the_real_push_reads() {
    let sim = sim(20).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    // batch_size is 7 in the support engine: 11 changes make two chunks.
    engine(&sim, &source, &state)
        .pull(RunOptions::new())
        .await
        .expect("initial pull");
    let local = source.records(ENTITY);
    assert_eq!(local.len(), 20);
    for r in local.iter().take(6) {
        let mut data = r.data.clone();
        data["title"] = json!("Retitled");
        source.upsert(ENTITY, &r.key, data);
    }
    // One person added in Twenty after the pull: a local record with that email is adopted.
    sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Ada", "lastName": "Lovelace"},
               "emails": {"primaryEmail": "ada.lovelace@example.com", "additionalEmails": []}}),
    );
    source.upsert(
        ENTITY,
        "n-ada",
        person("ADA.Lovelace@example.com", "Ada", "Countess"),
    );
    for i in 0..3 {
        source.upsert(
            ENTITY,
            &format!("n-{i}"),
            person(&format!("new{i}@example.com"), "N", "New"),
        );
    }
    source.delete(ENTITY, &local[10].key);

    sim.handle().reset_stats();
    let dry = engine(&sim, &source, &state)
        .run(RunMode::Push, RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    let (dry_routes, dry_reads, dry_writes) = requests(&sim);
    assert_eq!(dry_writes, 0, "a dry run never writes: {dry_routes:?}");
    // Two chunks, each with at most one lookup of linked records and one natural-key lookup.
    assert!(
        dry_reads <= 4,
        "too many reads for two chunks: {dry_routes:?}"
    );
    assert_eq!(
        dry.report.requests, dry_reads,
        "the report counts every request"
    );
    let t = dry.report.totals();
    assert_eq!((t.updated, t.created, t.adopted, t.deleted), (6, 3, 1, 1));

    sim.handle().reset_stats();
    let real = engine(&sim, &source, &state)
        .run(RunMode::Push, RunOptions::new().keep_plan(true))
        .await
        .expect("real run");
    let (real_routes, real_reads, real_writes) = requests(&sim);
    assert_eq!(
        dry_reads, real_reads,
        "the dry run reads what the real run reads: dry {dry_routes:?}, real {real_routes:?}"
    );
    assert!(real_writes > 0);
    assert_eq!(real.plan.sorted(), dry.plan.sorted());

    // Nothing left to do: a dry run now reads nothing at all.
    sim.handle().reset_stats();
    engine(&sim, &source, &state)
        .run(RunMode::Push, RunOptions::new().dry_run(true))
        .await
        .expect("idle dry run");
    assert_eq!(sim.stats().requests, 0, "{:?}", sim.stats().by_route);
}
