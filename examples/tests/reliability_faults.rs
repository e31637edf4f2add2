//! Fault matrix (promises 2 and 3): a sick Twenty server slows a sync down or stops it with a
//! clear, resumable error; it never makes it spin, hammer, lose or duplicate records.
//!
//! Each row of the table starts a seeded `twenty-sim` (80 people) and an in-memory source (50
//! local contacts), pages and batches of 5, turns a kind of fault on, and runs bidirectional syncs, each with a fresh
//! engine over the same stores (a restart). Every run either succeeds, or reports its failed
//! records (never as a success), or stops with a temporary error that says what failed. Then the
//! server heals, one more run must complete, a further run must have nothing left to do, and both
//! sides must equal those of a run that never saw a fault.
//!
//! `cargo test -p examples --test reliability_faults -- --nocapture` prints the figures per row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{Faults, PageHook, RateLimitConfig, SimConfig, SimServer};
use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine, SyncError};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{RunReport, RunStatus, StateStoreExt};

const KEY: &str = "fault-matrix-key";
const ENTITY: &str = "contacts";
const SEED: u64 = 0x0fa1_7000;
const TWENTY_PEOPLE: usize = 80;
const LOCAL: usize = 50;
/// Small pages and batches: many requests, so every fault kind is drawn many times.
const PAGE: usize = 5;
const MAX_RETRIES: u32 = 4;

fn mapping() -> FieldMap {
    FieldMap::new(ENTITY, "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("last", "name.lastName")
        .field("title", "jobTitle")
        .match_key("emails.primaryEmail")
}

fn client(sim: &SimServer, timeout: Duration) -> Client {
    Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .timeout(timeout)
        .retry_policy(RetryPolicy {
            max_retries: MAX_RETRIES,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
            max_internal_error_retries: MAX_RETRIES,
        })
        .page_size(PAGE as u32)
        .batch_size(PAGE)
        .build()
        .expect("client builds")
}

type Engine = SyncEngine<MemorySource, MemoryState>;

fn engine(
    sim: &SimServer,
    source: &MemorySource,
    state: &MemoryState,
    timeout: Duration,
) -> Engine {
    SyncEngine::builder(client(sim, timeout), source.clone(), state.clone())
        .entity(Arc::new(mapping()))
        .batch_size(PAGE)
        .build()
        .expect("engine builds")
}

async fn start(
    rate_limit: Option<RateLimitConfig>,
    seed: u64,
) -> (SimServer, MemorySource, MemoryState) {
    let sim = SimServer::start(
        SimConfig::new(KEY)
            .seed_people(TWENTY_PEOPLE)
            .rng_seed(seed)
            .rate_limit(rate_limit),
    )
    .await
    .expect("simulator starts");
    let source = MemorySource::new();
    for i in 0..LOCAL {
        source.upsert(
            ENTITY,
            &format!("l-{i:02}"),
            json!({"email": format!("fault-{i}@matrix.example.org"), "first": format!("F{i}"),
                   "last": "Matrix", "title": format!("T{}", i % 3)}),
        );
    }
    (sim, source, MemoryState::new())
}

/// Both sides, comparable across simulators with the same seed: Twenty's people as a sorted
/// multiset of their mapped fields, the local records by key.
#[derive(Debug, PartialEq)]
struct Sides {
    twenty: Vec<String>,
    local: BTreeMap<String, Value>,
}

fn norm(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    }
}

fn projection(p: &Value) -> String {
    json!({
        "email": p["emails"]["primaryEmail"].as_str().map(str::to_lowercase),
        "first": norm(&p["name"]["firstName"]),
        "last": norm(&p["name"]["lastName"]),
        "title": norm(&p["jobTitle"]),
        "deleted": !p["deletedAt"].is_null(),
    })
    .to_string()
}

async fn sides(sim: &SimServer, source: &MemorySource, state: &MemoryState) -> Sides {
    let mut twenty: Vec<String> = sim
        .handle()
        .records("people")
        .iter()
        .map(projection)
        .collect();
    twenty.sort();
    let mut local = BTreeMap::new();
    for r in source.records(ENTITY) {
        // Every local record is linked to a live Twenty record with the same content.
        let st = state
            .record(ENTITY, &r.key)
            .await
            .expect("state readable")
            .unwrap_or_else(|| panic!("local {} has no ID-map entry", r.key));
        let tw = sim
            .handle()
            .record("people", &st.twenty_id)
            .unwrap_or_else(|| panic!("local {} → {} is missing in Twenty", r.key, st.twenty_id));
        let lp = json!({
            "email": r.data["email"].as_str().map(str::to_lowercase),
            "first": norm(&r.data["first"]), "last": norm(&r.data["last"]),
            "title": norm(&r.data["title"]), "deleted": false,
        })
        .to_string();
        assert_eq!(
            lp,
            projection(&tw),
            "local {} and Twenty {} diverge",
            r.key,
            st.twenty_id
        );
        local.insert(r.key.clone(), r.data.clone());
    }
    let live = sim.handle().count("people");
    assert_eq!(
        live,
        local.len(),
        "every live Twenty person has exactly one local record"
    );
    Sides { twenty, local }
}

/// One row of the matrix.
struct Row {
    name: &'static str,
    faults: Faults,
    rate_limit: Option<RateLimitConfig>,
    /// Client whole-request timeout.
    timeout: Duration,
    /// Runs with the fault on before the server heals.
    attempts: usize,
    /// Whether the row must converge while the fault is still on.
    converges_under_fault: bool,
    /// Whether the fault corrupts 200 bodies (decode errors are then acceptable run errors).
    corrupts_bodies: bool,
}

/// What happened in one row.
#[derive(Default)]
struct Outcome {
    runs: usize,
    run_errors: Vec<String>,
    record_failures: usize,
    converged_under_fault: bool,
    requests: u64,
    rate_limited: u64,
    server_errors: u64,
    dropped: u64,
    retries: u64,
    took: Duration,
}

fn check_report(row: &str, report: &RunReport) {
    if report.failures.is_empty() {
        assert_eq!(
            report.status,
            RunStatus::Succeeded,
            "{row}: {}",
            report.summary()
        );
    } else {
        assert_ne!(
            report.status,
            RunStatus::Succeeded,
            "{row}: a run with failed records must not report success: {}",
            report.summary()
        );
        for f in &report.failures {
            assert!(
                !f.reason.trim().is_empty(),
                "{row}: a failure without a reason: {f:?}"
            );
            assert!(
                f.local_key.is_some() || f.twenty_id.is_some(),
                "{row}: a failure must name its record: {f:?}"
            );
        }
    }
}

fn check_error(row: &str, e: &SyncError, decode_may_be_permanent: bool) {
    let text = e.to_string();
    // A 200 answer whose JSON is cut short is reported as a decode error naming the JSON path;
    // the client does not classify it as temporary (it is not retried), but the run's state is
    // resumable like any other and the next run completes (checked by `drive`).
    let decode = decode_may_be_permanent && text.contains("could not decode the response");
    assert!(
        e.is_temporary() || decode,
        "{row}: a sick server must give a temporary (resumable) error, got: {text}"
    );
    assert!(
        e.run_id().is_some(),
        "{row}: the error must name its run: {text}"
    );
    assert!(
        !text.contains(KEY),
        "{row}: the API key leaked into an error"
    );
    assert!(
        text.len() > 20 && (text.contains("Twenty") || text.contains("twenty")),
        "{row}: the error must say what failed: {text}"
    );
}

async fn drive(row: &Row, seed: u64, clean: &Sides) -> Outcome {
    let (sim, source, state) = start(row.rate_limit, seed).await;
    sim.handle().set_faults(row.faults.clone());
    let started = Instant::now();
    let mut out = Outcome::default();
    let mut retries = 0;
    for _ in 0..row.attempts {
        out.runs += 1;
        let e = engine(&sim, &source, &state, row.timeout);
        match e.sync(RunOptions::new()).await {
            Ok(report) => {
                check_report(row.name, &report);
                retries += report.retries;
                out.record_failures += report.failures.len();
                if report.failures.is_empty() {
                    out.converged_under_fault = true;
                    break;
                }
            }
            Err(err) => {
                check_error(row.name, &err, row.corrupts_bodies);
                out.run_errors.push(err.to_string());
            }
        }
    }
    let stats = sim.stats();
    out.requests = stats.requests;
    out.rate_limited = stats.rate_limited;
    out.server_errors = stats.by_status.range(500..600).map(|(_, n)| n).sum();
    out.dropped = stats.dropped;
    out.retries = retries;
    assert!(
        out.converged_under_fault || !row.converges_under_fault,
        "{}: did not complete under the fault in {} runs: {:#?}",
        row.name,
        out.runs,
        out.run_errors
    );
    // The server heals; the next run completes from the saved state.
    sim.handle().set_faults(Faults::none());
    sim.handle().set_rate_limit(None);
    let healed = engine(&sim, &source, &state, Duration::from_secs(10))
        .sync(RunOptions::new())
        .await
        .unwrap_or_else(|e| panic!("{}: the resume after healing failed: {e}", row.name));
    check_report(row.name, &healed);
    assert!(
        healed.failures.is_empty(),
        "{}: {}",
        row.name,
        healed.summary()
    );
    // Nothing left to do.
    let idle = engine(&sim, &source, &state, Duration::from_secs(10))
        .sync(RunOptions::new())
        .await
        .expect("idle run");
    let t = idle.totals();
    assert_eq!(
        (t.created, t.updated, t.deleted, t.adopted),
        (0, 0, 0, 0),
        "{}: a further run still had work: {}",
        row.name,
        idle.summary()
    );
    let after = sides(&sim, &source, &state).await;
    assert_eq!(
        &after, clean,
        "{}: final state differs from the fault-free run",
        row.name
    );
    out.took = started.elapsed();
    sim.shutdown().await;
    out
}

async fn clean_sides() -> Sides {
    let (sim, source, state) = start(None, SEED).await;
    let report = engine(&sim, &source, &state, Duration::from_secs(10))
        .sync(RunOptions::new())
        .await
        .expect("fault-free run");
    assert!(report.failures.is_empty(), "{}", report.summary());
    let s = sides(&sim, &source, &state).await;
    assert_eq!(s.local.len(), TWENTY_PEOPLE + LOCAL);
    sim.shutdown().await;
    s
}

fn rows() -> Vec<Row> {
    let short_window = Some(RateLimitConfig {
        requests: 20,
        window: Duration::from_millis(100),
    });
    let t = Duration::from_secs(5);
    vec![
        Row {
            name: "429 storm (30% synthetic 429s, 20 req / 100 ms window)",
            faults: Faults {
                rate_limit_fraction: 0.3,
                ..Faults::none()
            },
            rate_limit: short_window,
            timeout: t,
            attempts: 6,
            corrupts_bodies: false,
            converges_under_fault: true,
        },
        Row {
            name: "real throttle (unpaced client vs 5 req / 100 ms)",
            faults: Faults::none(),
            rate_limit: Some(RateLimitConfig {
                requests: 5,
                window: Duration::from_millis(100),
            }),
            timeout: t,
            attempts: 6,
            corrupts_bodies: false,
            converges_under_fault: true,
        },
        Row {
            name: "5xx bursts (30% 500/502/503/504)",
            faults: Faults {
                server_error_fraction: 0.3,
                ..Faults::none()
            },
            rate_limit: None,
            timeout: t,
            attempts: 12,
            corrupts_bodies: false,
            converges_under_fault: true,
        },
        Row {
            name: "dropped connections (15%)",
            faults: Faults {
                drop_fraction: 0.15,
                ..Faults::none()
            },
            rate_limit: None,
            timeout: t,
            attempts: 12,
            corrupts_bodies: false,
            converges_under_fault: true,
        },
        Row {
            name: "truncated bodies (15%)",
            faults: Faults {
                truncated_fraction: 0.15,
                ..Faults::none()
            },
            rate_limit: None,
            timeout: t,
            attempts: 12,
            corrupts_bodies: true,
            converges_under_fault: false,
        },
        Row {
            name: "malformed JSON (10%)",
            faults: Faults {
                malformed_fraction: 0.1,
                ..Faults::none()
            },
            rate_limit: None,
            timeout: t,
            attempts: 12,
            corrupts_bodies: true,
            converges_under_fault: false,
        },
        Row {
            name: "timeouts (every answer 400 ms late, client timeout 150 ms)",
            faults: Faults {
                latency: Duration::from_millis(400),
                ..Faults::none()
            },
            rate_limit: None,
            timeout: Duration::from_millis(150),
            attempts: 2,
            corrupts_bodies: false,
            converges_under_fault: false,
        },
        Row {
            name: "everything at once (5% each)",
            faults: Faults {
                rate_limit_fraction: 0.05,
                server_error_fraction: 0.05,
                drop_fraction: 0.05,
                truncated_fraction: 0.05,
                malformed_fraction: 0.05,
                ..Faults::none()
            },
            rate_limit: short_window,
            timeout: t,
            attempts: 12,
            corrupts_bodies: true,
            converges_under_fault: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_completes_or_stops_resumably_and_converges_to_the_clean_state() {
    let clean = clean_sides().await;
    let mut lines = Vec::new();
    let mut injected = 0;
    for row in rows() {
        // Faults are drawn from the simulator's RNG seeded with SEED: every run is reproducible.
        let out = drive(&row, SEED, &clean).await;
        injected += out.rate_limited + out.server_errors + out.dropped;
        lines.push(format!(
            "{:<62} runs {:>2}  run errors {:>2}  failed records {:>3}  requests {:>4}  429 {:>3}  5xx {:>3}  dropped {:>3}  retries {:>3}  {:>5.1} s{}",
            row.name,
            out.runs,
            out.run_errors.len(),
            out.record_failures,
            out.requests,
            out.rate_limited,
            out.server_errors,
            out.dropped,
            out.retries,
            out.took.as_secs_f64(),
            if out.converged_under_fault { "  (completed under the fault)" } else { "  (completed after healing)" },
        ));
    }
    println!("fault matrix, data seed {SEED:#x}; counted injected 429/5xx/drops: {injected}");
    for l in &lines {
        println!("  {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_slow_server_is_given_up_on_after_the_retry_budget_not_hammered() {
    // Every answer comes after the client's timeout: the run must stop with a temporary error
    // after at most 1 + MAX_RETRIES attempts of its first request, not spin.
    let (sim, source, state) = start(None, SEED).await;
    sim.handle().set_faults(Faults {
        latency: Duration::from_millis(400),
        ..Faults::none()
    });
    let started = Instant::now();
    let err = engine(&sim, &source, &state, Duration::from_millis(100))
        .sync(RunOptions::new())
        .await
        .expect_err("nothing can succeed");
    check_error("dead slow server", &err, false);
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("time"),
        "the error must say it timed out: {err}"
    );
    // Let the late answers be counted, then check the request budget.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = sim.stats().requests;
    assert!(
        requests <= u64::from(MAX_RETRIES) + 1,
        "{requests} requests for one logical call with {MAX_RETRIES} retries"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing was half-done: the next run (healed) does everything.
    sim.handle().set_faults(Faults::none());
    let report = engine(&sim, &source, &state, Duration::from_secs(10))
        .sync(RunOptions::new())
        .await
        .expect("healed run");
    assert!(report.failures.is_empty(), "{}", report.summary());
    assert_eq!(
        sides(&sim, &source, &state).await.local.len(),
        TWENTY_PEOPLE + LOCAL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_client_paces_itself_instead_of_hammering() {
    let (sim, source, state) = start(
        Some(RateLimitConfig {
            requests: 5,
            window: Duration::from_millis(200),
        }),
        SEED,
    )
    .await;
    let e = engine(&sim, &source, &state, Duration::from_secs(5));
    let report = e
        .sync(RunOptions::new())
        .await
        .expect("throttled run completes");
    assert!(report.failures.is_empty(), "{}", report.summary());
    let stats = sim.stats();
    let ok = stats.by_status.get(&200).copied().unwrap_or(0)
        + stats.by_status.get(&201).copied().unwrap_or(0);
    // Once the client has learned the budget from the first 429 it waits instead of retrying
    // blindly: far fewer 429s than successful requests.
    assert!(
        stats.rate_limited * 4 <= ok + 4,
        "{} 429s for {ok} successful requests: the client hammers",
        stats.rate_limited
    );
    assert!(
        e.client().stats().throttled > Duration::ZERO,
        "the client never waited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_changed_created_and_deleted_while_paging_end_up_consistent() {
    let (sim, source, state) = start(None, SEED).await;
    let people = sim.handle().records("people");
    let (edited, deleted) = (
        people[0]["id"].as_str().expect("id").to_owned(),
        people[1]["id"].as_str().expect("id").to_owned(),
    );
    let fired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fired);
    let (e2, d2) = (edited.clone(), deleted.clone());
    let hook: PageHook = Arc::new(move |h, plural, n| {
        // After the second page of people: change a record already paged, delete another and
        // create a new one.
        if plural == "people" && n == 2 && !flag.swap(true, Ordering::SeqCst) {
            h.update_record("people", &e2, json!({"jobTitle": "Changed While Paging"}));
            h.soft_delete_record("people", &d2);
            h.insert_record(
                "people",
                json!({"emails": {"primaryEmail": "born.while.paging@example.org"},
                       "name": {"firstName": "Born", "lastName": "Paging"}}),
            );
        }
    });
    sim.handle().set_page_hook(Some(hook));
    let first = engine(&sim, &source, &state, Duration::from_secs(5))
        .pull(RunOptions::new())
        .await
        .expect("pull");
    assert!(fired.load(Ordering::SeqCst), "the hook never ran");
    assert!(first.failures.is_empty(), "{}", first.summary());
    // The next (reconcile) pull reads from the walk's start time, so changes made during the
    // walk are picked up, never skipped.
    let second = engine(&sim, &source, &state, Duration::from_secs(5))
        .pull(RunOptions::new())
        .await
        .expect("second pull");
    assert!(second.failures.is_empty(), "{}", second.summary());
    let st = state
        .record_by_twenty_id(ENTITY, &edited)
        .await
        .expect("state");
    let key = st.expect("edited record is linked").local_key;
    assert_eq!(
        source
            .record(ENTITY, &key)
            .expect("local edited record")
            .data["title"],
        "Changed While Paging"
    );
    let gone = state
        .record_by_twenty_id(ENTITY, &deleted)
        .await
        .expect("state");
    assert!(
        gone.as_ref()
            .is_none_or(|s| s.deleted || source.record(ENTITY, &s.local_key).is_none()),
        "the record deleted while paging is still live locally: {gone:?}"
    );
    let born: Vec<_> = source
        .records(ENTITY)
        .into_iter()
        .filter(|r| r.data["email"] == "born.while.paging@example.org")
        .collect();
    assert_eq!(
        born.len(),
        1,
        "the record created while paging, exactly once"
    );
    // The whole local side (pull only: the 30 local contacts stay unpushed) matches Twenty.
    let linked = source
        .records(ENTITY)
        .into_iter()
        .filter(|r| !r.key.starts_with("l-"))
        .count();
    assert_eq!(linked, sim.handle().count("people"));
}
