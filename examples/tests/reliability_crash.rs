//! Crash-resume harness (promise 1: nothing lost, nothing duplicated).
//!
//! A push and a pull of N records run as a **child process** (`src/bin/crash-child.rs`) between a
//! `twenty-sim` that lives in this test process (so Twenty's side survives every crash) and
//! PostgreSQL (sink-postgres as source of truth and state store). The child is killed at seeded,
//! reproducible points and restarted each time until it finishes; then both sides are compared
//! with those of a clean run (same seed, no crash): zero missing, zero duplicated, zero divergent
//! records, and every local row linked to exactly one Twenty record with the same content.
//!
//! Kill points, drawn from a SplitMix64 RNG seeded by `CRASH_SEED`:
//! - `SIGKILL` from this process after a random delay (anywhere: mid-HTTP request, mid-SQL
//!   transaction, during start-up and migrations);
//! - `abort()` inside the engine's progress callback at the K-th progress event (between batches,
//!   no destructor, no lease release, no final report);
//! - `abort()` at the first engine failpoint of a phase reaching its H-th visit (push: after the
//!   write-ahead create intents, after the Twenty write before any state is recorded, before the
//!   state commit; pull: before the final cursor commit — the pull's other point, after the
//!   source apply, is not visited with sink-postgres, which commits a page and its state in one
//!   transaction). The child turns the engine's failpoint error into `abort()` at once.
//!
//! CI runs the small scenario. The full one (20,000 records each way, 20 kills) is ignored by
//! default:
//!
//! ```text
//! cargo test -p examples --release --test reliability_crash -- --ignored --nocapture
//! ```
//!
//! Both read `CRASH_RECORDS`, `CRASH_KILLS`, `CRASH_SEED` and `CRASH_BATCH` to override their
//! sizes. PostgreSQL: `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test`; each run
//! works in its own schemas, dropped at the end.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twenty_sim::{SimConfig, SimServer};

const KEY: &str = "crash-harness-key-3f9a";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The engine's failpoint names, as the child prints them when one fires.
const FAILPOINTS: &[&str] = twenty_sync_core::engine::failpoints::ALL;

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin() -> tokio_postgres::Client {
    match tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client
        }
        Err(e) => panic!(
            "the crash-resume harness needs a PostgreSQL server and could not connect ({e}). \
             Set DATABASE_URL (e.g. postgres://user:password@host:5432/db), or start the local \
             server with `pg_ctlcluster --skip-systemctl-redirect 15 main start` (default URL \
             {DEFAULT_URL})"
        ),
    }
}

/// Drops every schema starting with the prefix when dropped (also when the test panics).
struct Schemas(String);

impl Drop for Schemas {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok((client, conn)) =
                    tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let _ = client
                    .batch_execute(&format!(
                        "DO $$ DECLARE s text; BEGIN
                           FOR s IN SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '{prefix}') LOOP
                             EXECUTE format('DROP SCHEMA %I CASCADE', s);
                           END LOOP;
                         END $$"
                    ))
                    .await;
            });
        })
        .join();
    }
}

/// SplitMix64: a tiny, well-known seeded generator (reproducible kill schedules).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi.saturating_sub(lo) + 1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    records: usize,
    kills: usize,
    seed: u64,
    batch: usize,
}

impl Scenario {
    fn with_env(mut self) -> Self {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            std::env::var(name).ok().map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid number"))
            })
        }
        self.records = var("CRASH_RECORDS").unwrap_or(self.records);
        self.kills = var("CRASH_KILLS").unwrap_or(self.kills);
        self.seed = var("CRASH_SEED").unwrap_or(self.seed);
        self.batch = var("CRASH_BATCH").unwrap_or(self.batch);
        self
    }
}

#[derive(Debug, Clone)]
enum Kill {
    /// `SIGKILL` after this long.
    After(Duration),
    /// The child aborts at its K-th progress event.
    Events(u64),
    /// The child aborts at a failpoint (a push point by name, or the pull phase) visited for
    /// the H-th time.
    Failpoint(&'static str, u32),
}

/// One side of a finished run.
struct Side {
    /// Twenty: the people, as sorted canonical JSON of their mapped fields (ids differ per run).
    twenty: Vec<String>,
    /// Local rows by key.
    local: BTreeMap<String, Value>,
}

fn child_bin() -> &'static str {
    env!("CARGO_BIN_EXE_crash-child")
}

struct ChildRun {
    status: ExitStatus,
    killed_by_us: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs the child once, killing it per `kill` (if it is still running by then).
async fn run_child(
    sim: &SimServer,
    prefix: &str,
    batch: usize,
    kill: Option<&Kill>,
    extra: &[&str],
    logs: &Path,
    n: usize,
) -> ChildRun {
    let out_path = logs.join(format!("child-{n}.out"));
    let err_path = logs.join(format!("child-{n}.err"));
    let mut cmd = Command::new(child_bin());
    cmd.arg("--twenty-url")
        .arg(sim.base_url().as_str())
        .arg("--prefix")
        .arg(prefix)
        .arg("--batch-size")
        .arg(batch.to_string())
        .args(extra)
        .env("TWENTY_API_KEY", KEY)
        .env("DATABASE_URL", database_url())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("child stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("child stderr file"));
    match kill {
        Some(Kill::Events(k)) => {
            cmd.arg("--abort-after-events").arg(k.to_string());
        }
        Some(Kill::Failpoint(phase, h)) => {
            cmd.arg("--abort-at-failpoint-hit")
                .arg(h.to_string())
                .arg("--failpoint-phase")
                .arg(phase);
        }
        _ => {}
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the crash-child binary starts");
    let deadline = match kill {
        Some(Kill::After(d)) => Some(started + *d),
        _ => None,
    };
    let mut killed_by_us = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) && !killed_by_us {
            // std's kill() is SIGKILL on Unix.
            let _ = child.kill();
            killed_by_us = true;
        }
        if started.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child ran for more than 15 minutes; logs in {}",
                logs.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    ChildRun {
        status,
        killed_by_us,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        took: started.elapsed(),
    }
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// A simulator with `records` seeded people (same seed → same people and ids).
async fn sim(s: &Scenario) -> SimServer {
    SimServer::start(
        SimConfig::new(KEY)
            .seed_people(s.records)
            .rng_seed(s.seed)
            .rate_limit(None),
    )
    .await
    .expect("the simulator starts")
}

/// Creates the schemas and table (through the child) and inserts the local records to push.
///
/// Returns how long a start of the child takes before it works: a second `--setup-only` run,
/// which finds the migrations applied and stops where a real start would begin to sync. (The
/// first one runs the migrations and DDL, which on a cold server can take longer than the whole
/// sync: a kill delay drawn from it would land after the work is done.)
async fn setup(sim: &SimServer, s: &Scenario, prefix: &str, logs: &Path) -> Duration {
    let set_up = |n| async move {
        let run = run_child(sim, prefix, s.batch, None, &["--setup-only"], logs, n).await;
        assert!(
            run.status.success(),
            "crash-child --setup-only failed ({}): {}",
            run.status,
            run.stderr
        );
        run.took
    };
    set_up(0).await;
    let mut pg = admin().await;
    let n = i64::try_from(s.records).expect("record count fits i64");
    let tx = pg.transaction().await.expect("begin");
    tx.execute(
        &format!(
            "INSERT INTO \"{prefix}_data\".contacts (id, email, first, last, title)
             SELECT 'l-' || lpad(g::text, 6, '0'), 'crash-' || g || '@crash.example.org',
                    'First' || g, 'Last' || g, 'Title ' || (g % 7)
             FROM generate_series(1, $1::bigint) g"
        ),
        &[&n],
    )
    .await
    .expect("inserting the local records");
    let txid: String = tx
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .expect("txid")
        .get(0);
    tx.commit().await.expect("commit");
    // The outbox is read only up to the oldest transaction still running on the server (so that
    // nothing is missed under concurrent writers). Wait until ours is behind that horizon, or a
    // "done" child could legitimately not have seen the inserts yet.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let visible: bool = pg
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8",
                &[&txid],
            )
            .await
            .expect("snapshot horizon")
            .get(0);
        if visible {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another transaction on the PostgreSQL server kept the change-capture horizon \
             behind our inserts for 2 minutes; run again when the server is idle"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    set_up(100).await
}

fn person_projection(p: &Value) -> Value {
    json!({
        "email": p["emails"]["primaryEmail"].as_str().map(str::to_lowercase),
        "first": p["name"]["firstName"],
        "last": p["name"]["lastName"],
        "title": p["jobTitle"],
        "deleted": !p["deletedAt"].is_null(),
    })
}

fn empty_as_null(v: Option<String>) -> Value {
    match v {
        Some(s) if !s.is_empty() => Value::String(s),
        _ => Value::Null,
    }
}

/// Reads both sides and checks their links: every local row has one ID-map entry pointing at a
/// live Twenty person with the same mapped content, and every live person is linked.
async fn snapshot(sim: &SimServer, prefix: &str, what: &str) -> Side {
    let people = sim.handle().records("people");
    let by_id: BTreeMap<String, &Value> = people
        .iter()
        .filter_map(|p| p["id"].as_str().map(|id| (id.to_owned(), p)))
        .collect();
    let mut twenty: Vec<String> = people
        .iter()
        .map(|p| person_projection(p).to_string())
        .collect();
    twenty.sort();

    let pg = admin().await;
    let rows = pg
        .query(
            &format!(
                "SELECT id, email, first, last, title, deleted_at IS NOT NULL
                 FROM \"{prefix}_data\".contacts"
            ),
            &[],
        )
        .await
        .expect("reading the local table");
    let mut local = BTreeMap::new();
    for r in &rows {
        let key: String = r.get(0);
        let v = json!({
            "email": r.get::<_, Option<String>>(1).map(|e| e.to_lowercase()),
            "first": r.get::<_, Option<String>>(2),
            "last": r.get::<_, Option<String>>(3),
            "title": r.get::<_, Option<String>>(4),
            "deleted": r.get::<_, bool>(5),
        });
        local.insert(key, v);
    }
    let links = pg
        .query(
            &format!(
                "SELECT local_key, twenty_id FROM \"{prefix}_state\".record_state
                 WHERE entity = 'contacts' AND NOT deleted"
            ),
            &[],
        )
        .await
        .expect("reading the ID map");
    let pending: i64 = pg
        .query_one(
            &format!("SELECT count(*) FROM \"{prefix}_state\".pending_creates"),
            &[],
        )
        .await
        .expect("reading pending creates")
        .get(0);
    assert_eq!(pending, 0, "{what}: write-ahead create intents left over");

    let mut linked_keys = BTreeSet::new();
    let mut linked_ids = BTreeSet::new();
    let mut divergent = Vec::new();
    for l in &links {
        let key: String = l.get(0);
        let id: String = l.get(1);
        assert!(
            linked_ids.insert(id.clone()),
            "{what}: Twenty id {id} linked twice"
        );
        linked_keys.insert(key.clone());
        let Some(row) = local.get(&key) else {
            panic!("{what}: ID map entry {key} → {id} has no local row");
        };
        let Some(person) = by_id.get(&id) else {
            panic!("{what}: local {key} is linked to {id}, which Twenty does not have");
        };
        let p = person_projection(person);
        // Compare the mapped fields (an empty string and a missing value are the same thing to
        // a text column).
        let norm = |v: &Value| {
            json!({
                "email": empty_as_null(v["email"].as_str().map(str::to_owned)),
                "first": empty_as_null(v["first"].as_str().map(str::to_owned)),
                "last": empty_as_null(v["last"].as_str().map(str::to_owned)),
                "title": empty_as_null(v["title"].as_str().map(str::to_owned)),
                "deleted": v["deleted"],
            })
        };
        if norm(row) != norm(&p) {
            divergent.push(format!("{key} ↔ {id}: local {row} vs Twenty {p}"));
        }
    }
    assert!(
        divergent.is_empty(),
        "{what}: {} divergent linked records, e.g. {:?}",
        divergent.len(),
        divergent.iter().take(5).collect::<Vec<_>>()
    );
    let unlinked_local: Vec<_> = local.keys().filter(|k| !linked_keys.contains(*k)).collect();
    assert!(
        unlinked_local.is_empty(),
        "{what}: {} local rows without an ID-map entry, e.g. {:?}",
        unlinked_local.len(),
        unlinked_local.iter().take(5).collect::<Vec<_>>()
    );
    let unlinked_twenty: Vec<_> = people
        .iter()
        .filter(|p| p["deletedAt"].is_null())
        .filter_map(|p| p["id"].as_str())
        .filter(|id| !linked_ids.contains(*id))
        .collect();
    assert!(
        unlinked_twenty.is_empty(),
        "{what}: {} Twenty people no local row is linked to (duplicates or missed pulls), e.g. {:?}",
        unlinked_twenty.len(),
        unlinked_twenty.iter().take(5).collect::<Vec<_>>()
    );
    Side { twenty, local }
}

/// Multiset difference `a − b` of sorted vectors, as counts per item.
fn missing_from(a: &[String], b: &[String]) -> usize {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for x in a {
        *counts.entry(x).or_default() += 1;
    }
    for x in b {
        *counts.entry(x).or_default() -= 1;
    }
    counts
        .values()
        .filter(|c| **c > 0)
        .map(|c| *c as usize)
        .sum()
}

fn unique_prefix(tag: &str) -> String {
    format!(
        "crash_{tag}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

async fn crash_resume(s: Scenario) {
    let logs = tempfile::tempdir().expect("temp dir for child logs");
    let _ = admin().await; // fail now, with the how-to, if there is no server

    // 1. The clean run.
    let clean_prefix = unique_prefix("clean");
    let _clean_guard = Schemas(clean_prefix.clone());
    let clean_sim = sim(&s).await;
    let startup = setup(&clean_sim, &s, &clean_prefix, logs.path()).await;
    let clean_run = run_child(
        &clean_sim,
        &clean_prefix,
        s.batch,
        None,
        &[],
        logs.path(),
        1,
    )
    .await;
    assert!(
        clean_run.status.success(),
        "the clean run failed ({}): {}",
        clean_run.status,
        clean_run.stderr
    );
    let events: u64 = clean_run
        .stdout
        .split("events=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the clean run did not report its events: {}",
                clean_run.stdout
            )
        });
    let clean = snapshot(&clean_sim, &clean_prefix, "clean run").await;
    assert_eq!(
        clean.local.len(),
        2 * s.records,
        "clean run: every local record pushed and every Twenty person pulled"
    );
    assert_eq!(clean.twenty.len(), 2 * s.records);
    clean_sim.shutdown().await;

    // 2. The kill schedule (seeded). Delays and event counts are small next to the clean run,
    // so that every kill lands before the work is done; delays start at half the start-up time
    // (some kills land during start-up and migrations, most while working).
    let mut rng = Rng(s.seed);
    let kills_n = u64::try_from(s.kills.max(1)).unwrap_or(1);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let work = ms(clean_run.took).saturating_sub(ms(startup));
    // The set-up run (migrations, DDL) can take longer than a whole run on a busy machine; a
    // delay past three quarters of the clean run would find the work done, so none is longer.
    let max_delay = (ms(startup) + work / kills_n).min(ms(clean_run.took) * 3 / 4);
    let min_delay = (ms(startup) / 2).min(max_delay / 2);
    let max_events = (events / (2 * kills_n)).max(2);
    let mut schedule: Vec<Kill> = (0..s.kills)
        .map(|_| match rng.next() % 3 {
            0 => Kill::After(Duration::from_millis(
                rng.range(min_delay, max_delay.max(min_delay + 10)),
            )),
            1 => Kill::Events(rng.range(1, max_events)),
            _ => Kill::Failpoint(
                // Push kills name one of the three push points (they are visited in a fixed
                // order in each batch, so arming all of them would always hit the first).
                [
                    "push.after_pending_commit",
                    "push.after_twenty_write",
                    "push.before_state_commit",
                    "pull",
                ][usize::try_from(rng.next() % 4).unwrap_or(0)],
                u32::try_from(rng.range(1, 3)).unwrap_or(1),
            ),
        })
        .collect();
    // A pull-phase failpoint fires at the very end of a pull (before its cursor commit), after
    // which little work is left: those kills go last, where each restart reaches that point
    // again, so that earlier kills still find work to interrupt.
    schedule.sort_by_key(|k| matches!(k, Kill::Failpoint("pull", _)));

    // 3. The crashing run: kill, restart, until the child says it is done.
    let prefix = unique_prefix("kill");
    let _guard = Schemas(prefix.clone());
    let crash_sim = sim(&s).await;
    setup(&crash_sim, &s, &prefix, logs.path()).await;
    let started = Instant::now();
    let mut landed: Vec<String> = Vec::new();
    let mut unlanded = 0usize;
    let mut run_errors: Vec<String> = Vec::new();
    let mut attempt = 1;
    let mut next = 0;
    loop {
        attempt += 1;
        assert!(
            attempt < s.kills + 40,
            "no convergence after {attempt} starts; run-level errors: {run_errors:#?}"
        );
        let kill = schedule.get(next);
        let run = run_child(
            &crash_sim,
            &prefix,
            s.batch,
            kill,
            &[],
            logs.path(),
            attempt,
        )
        .await;
        if run.status.success() {
            if kill.is_some() {
                unlanded = schedule.len() - next;
            }
            break;
        }
        match (signal_of(&run.status), kill) {
            (Some(9), Some(Kill::After(d))) if run.killed_by_us => {
                landed.push(format!("SIGKILL after {} ms", d.as_millis()));
                next += 1;
            }
            (Some(6), Some(Kill::Events(k))) if run.stderr.contains("progress event") => {
                landed.push(format!("abort at progress event {k}"));
                next += 1;
            }
            (Some(6), Some(Kill::Failpoint(_, h))) => {
                let point = FAILPOINTS
                    .iter()
                    .find(|p| run.stderr.contains(&format!("`{p}`")))
                    .unwrap_or_else(|| panic!("abort without a failpoint: {}", run.stderr));
                let visit = if point.starts_with("pull.") { 1 } else { *h };
                landed.push(format!("abort at failpoint {point} (visit {visit})"));
                next += 1;
            }
            _ if run.status.code() == Some(2) => {
                // A run-level error is allowed (the state stays resumable) but must say what
                // failed; the next start resumes.
                assert!(
                    run.stderr.contains("failed") || run.stderr.contains("cannot"),
                    "a run-level error must be explained: {}",
                    run.stderr
                );
                run_errors.push(run.stderr.trim().to_owned());
            }
            _ => panic!(
                "child start {attempt} ended unexpectedly ({}), kill {kill:?}: {}",
                run.status, run.stderr
            ),
        }
    }
    let crashed_took = started.elapsed();
    let after = snapshot(&crash_sim, &prefix, "crashed run").await;

    // 4. Compare with the clean run.
    let missing_twenty = missing_from(&clean.twenty, &after.twenty);
    let duplicated_twenty = missing_from(&after.twenty, &clean.twenty);
    let missing_local = clean
        .local
        .keys()
        .filter(|k| !after.local.contains_key(*k))
        .count();
    let extra_local = after
        .local
        .keys()
        .filter(|k| !clean.local.contains_key(*k))
        .count();
    let divergent_local = clean
        .local
        .iter()
        .filter(|(k, v)| after.local.get(*k).is_some_and(|a| a != *v))
        .count();
    let summary = format!(
        "crash-resume: {} records pushed + {} pulled (batch {}), seed {}: {} of {} kills landed \
         ({} starts, {} run-level errors); a start {} ms, clean run {:.1} s, crashed run {:.1} s; \
         Twenty: {missing_twenty} missing, {duplicated_twenty} duplicated; \
         local: {missing_local} missing, {extra_local} extra, {divergent_local} divergent",
        s.records,
        s.records,
        s.batch,
        s.seed,
        landed.len(),
        s.kills,
        attempt - 1,
        run_errors.len(),
        startup.as_millis(),
        clean_run.took.as_secs_f64(),
        crashed_took.as_secs_f64(),
    );
    println!("{summary}");
    for (i, k) in landed.iter().enumerate() {
        println!("  kill {:>2}: {k}", i + 1);
    }
    assert_eq!(
        (
            missing_twenty,
            duplicated_twenty,
            missing_local,
            extra_local,
            divergent_local
        ),
        (0, 0, 0, 0, 0),
        "{summary}"
    );
    // Timing decides whether a late SIGKILL still finds work; the seeded schedule is built so
    // that nearly all land (the figure is printed above). Require three quarters at least.
    assert!(
        landed.len() * 4 >= s.kills * 3,
        "{summary}: only {} kills landed; {unlanded} found the work done (schedule {schedule:?})",
        landed.len()
    );
    crash_sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_push_and_pull_resume_to_the_clean_result() {
    crash_resume(
        Scenario {
            records: 300,
            kills: 8,
            seed: 0x5eed_0009,
            batch: 20,
        }
        .with_env(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full run (20,000 records each way, 20 kills; minutes): \
            cargo test -p examples --release --test reliability_crash -- --ignored --nocapture"]
async fn full_crash_resume_20k_records_20_kills() {
    crash_resume(
        Scenario {
            records: 20_000,
            kills: 20,
            seed: 0x5eed_2000,
            batch: 200,
        }
        .with_env(),
    )
    .await;
}
