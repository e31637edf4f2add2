//! End-to-end benchmark harness of twenty-sync.
//!
//! `cargo run -p benches --release -- all` runs every scenario and writes the figures, with the
//! machine's description and the command, to `benches/RESULTS.md` (and the plot
//! `benches/pull-scaling.svg`). Subcommands run one part:
//!
//! - `paging [N]`: the client alone pages N people;
//! - `pull [N ...]`: full pulls into Postgres and the file store, one simulator per N;
//! - `incremental [N ...]`, `bidi [N]`: full pull, then five incremental pulls, each after its own
//!   change of 1% in Twenty and each by a new engine process (the median is quoted), then six
//!   more by one engine process that stays up between them, as a polling engine does (the
//!   median of the last five is quoted), then the bidirectional sync (and its dry run) with 1%
//!   changed on each side; `all` runs the incremental pulls at every N of the full
//!   pulls (how their cost grows with the work) and the sync at 100,000;
//! - `peer [N]`: dlt's `rest_api` source next to our pull of the same N people;
//! - `push [N [BATCH]]`: push of N local people (default 12,000) at BATCH records per request
//!   (default 200) under Twenty's rate-limit shape; `all` pushes 12,000 at 60 (Twenty Cloud's
//!   documented batch) and 60,000 at 200 (2.21.0's largest), so both runs outlast the first burst;
//! - `sink [N]`: the Postgres sink's upsert against raw COPY of N rows;
//! - `refused [N [PREFIX [check|unique]]]`: a full pull of N people (default 100,000) into a
//!   Postgres table that refuses the emails whose MD5 starts with the hex PREFIX (default `000`,
//!   about 1 in 4,096) by a CHECK constraint (default), or by a unique one with those emails
//!   taken by other rows, against the same pull into a table that refuses nothing (not part of
//!   `all`).
//!
//! Every engine run is a child process of the harness (the hidden subcommand `__child`), so its
//! peak RSS is the engine's own and not the in-process simulator's.
//!
//! Environment variables change what is measured (figures written under any but the first are
//! not the default's):
//!
//! - `BENCH_TARGETS=postgres|file|postgres,file`: the local sides of the pulls (default both);
//! - `BENCH_PULL_COMMIT_RECORDS=<n>`: pulled records per local commit (default the engine's);
//! - `BENCH_PLAN_OUT=<dir>`: keep every planned write (and the Postgres schemas) for inspection;
//! - `BENCH_PUSH_WINDOW_MS=<ms>`: the push scenario's rate-limit window (default: about 15 s of
//!   paced requests);
//! - `BENCH_TWENTY_LATENCY_MS=<ms>`: the simulator answers each request after this long, as a
//!   Twenty across a network would (default 0; the push's rate-limited simulator too);
//! - `BENCH_PUSH_IN_FLIGHT=<n>`: batch requests of one push chunk in flight at once, fixed (the
//!   engine's `push_in_flight` and `push_in_flight_max`; by default a push starts at 1 and raises
//!   them up to 8 while the rate limit is not what holds it);
//! - `BENCH_POSTGRES_LATENCY_US=<µs>`: everything between the engine (and dlt) and Postgres is
//!   delayed this long each way by a relay in the harness, as across a network (default none);
//! - `BENCH_CHANGES=same|fresh`: each incremental pull follows a change of the same 1% (default),
//!   or of a 1% no earlier round changed;
//! - `BENCH_OVERLAP_MS=<ms>`: the engine's pull overlap (default its 5 minutes); the harness then
//!   waits after each change until the change is older than the overlap by the simulator's clock
//!   (which moves 1 ms per write), so a pull never reads an earlier round's change again.

/// The allocator the twenty-sync binaries ship with (see the examples crate), so the engine runs
/// here as it does in the CLI.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod child;
mod env;
mod machine;
mod plot;
mod relay;
mod results;
mod scenarios;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use env::BoxError;
use scenarios::e2e::{self, Bidi, Incremental, Local, PullPoint, Target};
use scenarios::peer::PeerRun;
use scenarios::push::PushRun;
use scenarios::refused::Refusal;
use scenarios::sink::SinkRun;

const USAGE: &str = "usage: benches <all | paging [N] | pull [N ...] | incremental [N ...] | bidi [N] | \
                     peer [N] | push [N [BATCH]] | sink [N] | refused [N [PREFIX [check|unique]]]>";

/// Pull sizes of `all`.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// The N at which `all` runs the sync and the peer (the incremental pull runs at every N).
const DETAIL_N: usize = 100_000;
/// Local people pushed by the push scenario.
const PUSH_PEOPLE: usize = 12_000;
/// Records per request of the push (Twenty's largest batch).
const PUSH_BATCH: usize = 200;
/// The push runs of `all`: (people, records per request). The simulator's bucket starts full
/// (100 requests), so a run at the ceiling must need more requests than that first burst:
/// 12,000 people at Twenty Cloud's documented 60 records per call need 200 requests, and
/// 60,000 at 2.21.0's largest batch of 200 need 300. (12,000 at 200 would be 60 requests,
/// all inside the burst: never rate-bound, so it measures nothing about pacing.)
const ALL_PUSHES: [(usize, usize); 2] = [(PUSH_PEOPLE, 60), (60_000, PUSH_BATCH)];
/// Rows of the sink benchmark.
const SINK_ROWS: usize = 100_000;
/// The hex prefix of the MD5 of the emails the `refused` scenario's table refuses (about 1 in
/// 4,096 rows: one or two per pulled batch at 100,000 people).
const REFUSED_PREFIX: &str = "000";

#[derive(Debug, Default)]
struct Plan {
    sizes: Vec<usize>,
    detail: Option<usize>,
    /// The N at which scenario 2 (incremental pulls) runs.
    incremental: Vec<usize>,
    bidi: bool,
    peer: bool,
    push: Vec<(usize, usize)>,
    sink: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(child::SUBCOMMAND) {
        let task = args.get(1).map(String::as_str).unwrap_or("");
        let resident = args.get(2).map(String::as_str) == Some(child::RESIDENT_ARG);
        return match child::main(task, resident).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("benches (child run): {e}");
                ExitCode::FAILURE
            }
        };
    }
    let outcome = match (parse(&args), env::delay_postgres()) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(parsed), Ok(delay)) => {
            if let Some(d) = delay {
                eprintln!("Postgres reached through a relay adding {d:?} each way");
            }
            match parsed {
                Parsed::Paging(n) => paging(n).await,
                Parsed::Refused(n, prefix, refusal) => refused(n, &prefix, refusal).await,
                Parsed::Plan(plan) => run(plan, &args.join(" ")).await,
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benches: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Parsed {
    Paging(usize),
    /// People, hex prefix of the refused emails' MD5, how the table refuses them.
    Refused(usize, String, Refusal),
    Plan(Plan),
}

fn numbers(args: &[String]) -> Result<Vec<usize>, BoxError> {
    args.iter()
        .map(|a| match a.replace('_', "").parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("'{a}' is not a positive number\n{USAGE}").into()),
        })
        .collect()
}

fn one(args: &[String], default: usize) -> Result<usize, BoxError> {
    let n = numbers(args)?;
    match n.as_slice() {
        [] => Ok(default),
        [n] => Ok(*n),
        _ => Err(format!("expected at most one number\n{USAGE}").into()),
    }
}

fn parse(args: &[String]) -> Result<Parsed, BoxError> {
    let rest = args.get(1..).unwrap_or(&[]);
    let plan = match args.first().map(String::as_str) {
        Some("all") if rest.is_empty() => Plan {
            sizes: SIZES.to_vec(),
            detail: Some(DETAIL_N),
            incremental: SIZES.to_vec(),
            bidi: true,
            peer: true,
            push: ALL_PUSHES.to_vec(),
            sink: Some(SINK_ROWS),
        },
        Some("paging") => return Ok(Parsed::Paging(one(rest, 100_000)?)),
        Some("refused") => {
            let n = match rest.first() {
                Some(n) => one(std::slice::from_ref(n), DETAIL_N)?,
                None => DETAIL_N,
            };
            let prefix = rest.get(1).map_or(REFUSED_PREFIX, String::as_str);
            let refusal = match rest.get(2) {
                None => Refusal::Check,
                Some(name) => Refusal::parse(name).ok_or_else(|| {
                    format!("refused: {name:?} is not `check` or `unique`\n{USAGE}")
                })?,
            };
            if rest.len() > 3 {
                return Err(USAGE.into());
            }
            if !scenarios::refused::is_hex_prefix(prefix) {
                return Err(
                    format!("refused: PREFIX {prefix:?} is not hex digits\n{USAGE}").into(),
                );
            }
            return Ok(Parsed::Refused(n, prefix.to_owned(), refusal));
        }
        Some("pull") => {
            let sizes = numbers(rest)?;
            Plan {
                sizes: if sizes.is_empty() {
                    SIZES.to_vec()
                } else {
                    sizes
                },
                ..Plan::default()
            }
        }
        Some("incremental") => {
            let sizes = match numbers(rest)? {
                s if s.is_empty() => vec![DETAIL_N],
                s => s,
            };
            Plan {
                sizes: sizes.clone(),
                incremental: sizes,
                ..Plan::default()
            }
        }
        Some(which @ ("bidi" | "peer")) => {
            let n = one(rest, DETAIL_N)?;
            Plan {
                sizes: vec![n],
                detail: Some(n),
                incremental: if which == "bidi" { vec![n] } else { Vec::new() },
                bidi: which == "bidi",
                peer: which == "peer",
                ..Plan::default()
            }
        }
        Some("push") => Plan {
            push: match numbers(rest)?.as_slice() {
                [] => vec![(PUSH_PEOPLE, PUSH_BATCH)],
                [n] => vec![(*n, PUSH_BATCH)],
                [n, b] if *b <= 200 => vec![(*n, *b)],
                _ => return Err(format!("push takes N and a BATCH of at most 200\n{USAGE}").into()),
            },
            ..Plan::default()
        },
        Some("sink") => Plan {
            sink: Some(one(rest, SINK_ROWS)?),
            ..Plan::default()
        },
        _ => return Err(USAGE.into()),
    };
    Ok(Parsed::Plan(plan))
}

fn header(command: &str) -> String {
    format!(
        "Command: `cargo run -p benches --release -- {command}` — {}, {}.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine::describe()
    )
}

/// The local sides of the full pulls: both, or the ones named in `BENCH_TARGETS`
/// (comma-separated `postgres`, `file`), to measure one side alone during development.
fn targets() -> Result<Vec<Target>, BoxError> {
    let Ok(names) = std::env::var("BENCH_TARGETS") else {
        return Ok(vec![Target::Postgres, Target::File]);
    };
    names
        .split(',')
        .map(|n| match n.trim() {
            "postgres" => Ok(Target::Postgres),
            "file" => Ok(Target::File),
            other => {
                Err(format!("BENCH_TARGETS: unknown target '{other}' (postgres, file)").into())
            }
        })
        .collect()
}

fn write(name: &str, body: &str) -> Result<(), BoxError> {
    results::write_section(&results::results_path(), name, body)?;
    Ok(())
}

#[derive(Default)]
struct Figures {
    points: Vec<PullPoint>,
    seeds: Vec<(usize, f64)>,
    incremental: Vec<IncrementalPoint>,
    bidi: Option<Bidi>,
    peer: Option<(PeerRun, PullPoint, f64)>,
    push: Vec<PushRun>,
    sink: Option<SinkRun>,
}

/// Incremental pulls per local side in the `incremental` scenario (the median is quoted).
const INCREMENTAL_RUNS: usize = 5;

/// The 1% of `ids` changed before the `round`-th incremental pull of one N (`BENCH_CHANGES`):
/// the same 1% every round, or (`fresh`) one no other round changes.
struct Changes<'a> {
    ids: &'a [String],
    fresh: bool,
    /// How long to wait after a change before pulling (`BENCH_OVERLAP_MS`).
    settle: Option<Duration>,
}

impl<'a> Changes<'a> {
    fn from_env(ids: &'a [String]) -> Result<Changes<'a>, BoxError> {
        let fresh = match std::env::var("BENCH_CHANGES") {
            Err(std::env::VarError::NotPresent) => false,
            Ok(v) if v == "same" => false,
            Ok(v) if v == "fresh" => true,
            Ok(v) => return Err(format!("BENCH_CHANGES={v:?}: expected `same` or `fresh`").into()),
            Err(e) => return Err(format!("BENCH_CHANGES: {e}").into()),
        };
        let per_round = ids.len().div_ceil(100);
        // The simulator's clock moves 1 ms per write: the last change of a round is that far
        // ahead of real time.
        let settle = env::number::<u64>(child::OVERLAP_VAR)?
            .map(|ms| Duration::from_millis(ms + per_round as u64 + 500));
        Ok(Changes { ids, fresh, settle })
    }

    /// Every 100th id from an offset of its own per round (disjoint for rounds below 31).
    fn round(&self, round: usize) -> Vec<&'a String> {
        let offset = if self.fresh { 7 + 3 * round } else { 7 };
        self.ids.iter().skip(offset).step_by(100).collect()
    }

    /// Changes round `round`'s 1% in Twenty (as `label`), then waits [`Changes::settle`].
    async fn apply(
        &self,
        sim: &twenty_sim::SimServer,
        round: usize,
        label: &str,
    ) -> Result<usize, BoxError> {
        let changed = self.round(round);
        e2e::change_in_twenty(sim, &changed, &format!("{label} {round}"))?;
        if let Some(settle) = self.settle {
            tokio::time::sleep(settle).await;
        }
        Ok(changed.len())
    }
}

/// Scenario 2 at one N into one local side.
struct IncrementalPoint {
    people: usize,
    target: Target,
    /// The time of the full pull (scenario 1) of the same N into the same side.
    full_secs: f64,
    /// Each pull in a new engine process.
    runs: IncrementalRuns,
    /// The pulls of one engine process that stays up between them.
    resident: ResidentRuns,
}

/// The incremental pulls of one engine process that stays up between them (a polling engine):
/// its first pull (right after opening the store), then [`INCREMENTAL_RUNS`] more.
struct ResidentRuns {
    first: Incremental,
    polling: IncrementalRuns,
}

/// The incremental pulls of one local side, in the order they ran.
struct IncrementalRuns {
    all: Vec<Incremental>,
}

impl IncrementalRuns {
    fn new(all: Vec<Incremental>) -> Self {
        assert!(!all.is_empty(), "at least one incremental pull");
        IncrementalRuns { all }
    }

    /// The median time to open the store and build the engine (the lower middle one).
    fn median_setup_secs(&self) -> f64 {
        self.median_by(|r| r.outcome.setup_secs).outcome.setup_secs
    }

    /// The run with the median time (the lower of the two middle ones for an even count).
    fn median(&self) -> &Incremental {
        self.median_by(|r| r.outcome.secs)
    }

    /// The run with the median `key` (the lower of the two middle ones for an even count).
    fn median_by(&self, key: impl Fn(&Incremental) -> f64) -> &Incremental {
        let mut sorted: Vec<&Incremental> = self.all.iter().collect();
        sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
        sorted[(sorted.len() - 1) / 2]
    }
}

async fn run(plan: Plan, command: &str) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut f = Figures::default();
    let python = if plan.peer {
        let (python, secs) = scenarios::peer::setup().await?;
        eprintln!("dlt peer ready ({secs:.1} s)");
        Some(python)
    } else {
        None
    };
    for &n in &plan.sizes {
        eprintln!(
            "[{:>5.0} s] seeding {n} people",
            started.elapsed().as_secs_f64()
        );
        let (sim, seed_secs) = e2e::seeded_sim(n).await?;
        f.seeds.push((n, seed_secs));
        let detail = plan.detail == Some(n);
        let incremental = plan.incremental.contains(&n);
        let bidi = detail && plan.bidi;
        let mut keep = Vec::new();
        for target in targets()? {
            let tag = format!(
                "pull_{n}_{}",
                if target == Target::File { "file" } else { "pg" }
            );
            let local = Local::fresh(target, &tag).await?;
            eprintln!(
                "[{:>5.0} s] full pull of {n} into {}",
                started.elapsed().as_secs_f64(),
                target.name()
            );
            let p = e2e::full_pull(&sim, n, &local).await?;
            eprintln!(
                "          {:.0} records/s, peak RSS {:.0} MiB, {} failed",
                p.records_per_sec(),
                p.outcome.peak_rss_mib,
                p.outcome.failures
            );
            if detail && target == Target::Postgres {
                if let Some(python) = &python {
                    eprintln!(
                        "[{:>5.0} s] dlt peer pull of {n}",
                        started.elapsed().as_secs_f64()
                    );
                    let r = scenarios::peer::run(python, &sim, n).await?;
                    eprintln!(
                        "          dlt: {:.0} records/s, peak RSS {:.0} MiB",
                        r.records_per_sec(),
                        r.peak_rss_mib
                    );
                    f.peer = Some((r, p.clone(), seed_secs));
                }
            }
            f.points.push(p.clone());
            if incremental || bidi {
                keep.push((local, p));
            } else {
                local.remove().await?;
            }
        }
        if incremental {
            let points = incremental_rounds(&sim, n, &keep, started).await?;
            f.incremental.extend(points);
        }
        if bidi {
            eprintln!(
                "[{:>5.0} s] bidirectional sync (dry run, then real)",
                started.elapsed().as_secs_f64()
            );
            let b = e2e::bidi(&sim, n, &keep[0].0).await?;
            eprintln!(
                "          dry {:.2} s, real {:.2} s, {} records verified, {} plan mismatches",
                b.dry.secs, b.real.secs, b.verified, b.plan_mismatches
            );
            f.bidi = Some(b);
        }
        // The sides kept for scenarios 2 and 4 are removed (`BENCH_PLAN_OUT`, a run for
        // explaining plans, keeps the Postgres schemas to look at).
        if std::env::var_os("BENCH_PLAN_OUT").is_none() {
            for (local, _) in &keep {
                local.remove().await?;
            }
        }
        sim.shutdown().await;
    }
    for &(people, batch) in &plan.push {
        // The token bucket starts full (100 requests): choose the window so that the paced part
        // of the run (requests beyond the first burst) lasts about 15 s.
        // One batch upsert per chunk (no natural-key lookup: `MatchStrategy::Auto` upserts people).
        let expected = people.div_ceil(batch) + 2;
        let paced = expected.saturating_sub(95).max(10) as f64;
        let window = match env::number("BENCH_PUSH_WINDOW_MS")? {
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_secs_f64((15.0 * 100.0 / paced).clamp(1.0, 60.0)),
        };
        for discover in [false, true] {
            eprintln!(
                "[{:>5.0} s] push of {people} at {batch} per request ({}, window {:.1} s)",
                started.elapsed().as_secs_f64(),
                if discover {
                    "limit discovered from 429s"
                } else {
                    "limit configured"
                },
                window.as_secs_f64()
            );
            let r = scenarios::push::run(people, batch, window, discover).await?;
            eprintln!(
                "          {:.1} s, {} requests, {} answered 429, {:.1} s waiting on the pacer",
                r.outcome.secs,
                r.stats.requests,
                r.stats.rate_limited,
                r.outcome.throttled_ms as f64 / 1e3
            );
            eprintln!("          routes {:?}", r.stats.by_route);
            f.push.push(r);
        }
    }
    if let Some(rows) = plan.sink {
        eprintln!(
            "[{:>5.0} s] Postgres sink vs raw COPY, {rows} rows",
            started.elapsed().as_secs_f64()
        );
        f.sink = Some(scenarios::sink::run(rows, e2e::BATCH).await?);
    }
    let total = started.elapsed().as_secs_f64();
    report(&f, command, total)?;
    eprintln!(
        "done in {total:.0} s; figures in {}",
        results::results_path().display()
    );
    Ok(())
}

/// Scenario 2 at `n` people: [`INCREMENTAL_RUNS`] rounds, each changing the same 1% in Twenty
/// and then pulling into every local side in `keep` (with its full pull) by a new engine
/// process, then the rounds of [`resident_rounds`].
async fn incremental_rounds(
    sim: &twenty_sim::SimServer,
    n: usize,
    keep: &[(Local, PullPoint)],
    started: Instant,
) -> Result<Vec<IncrementalPoint>, BoxError> {
    let ids = match keep.iter().find(|(l, _)| l.target == Target::Postgres) {
        Some((pg, _)) => e2e::pulled_ids(pg).await?,
        None => e2e::twenty_ids(sim),
    };
    let changes = Changes::from_env(&ids)?;
    // A pull of a few tens of milliseconds moves with the machine's noise: it is run
    // INCREMENTAL_RUNS times, each after its own change of the same 1%, and the median is quoted
    // (every run is listed next to it).
    let mut runs: Vec<Vec<Incremental>> = keep.iter().map(|_| Vec::new()).collect();
    for round in 1..=INCREMENTAL_RUNS {
        let t = Instant::now();
        let changed = changes.apply(sim, round, "Changed title").await?;
        eprintln!(
            "          changed {changed} people in Twenty in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for ((local, full), runs) in keep.iter().zip(&mut runs) {
            eprintln!(
                "[{:>5.0} s] incremental pull into {} ({round} of {INCREMENTAL_RUNS})",
                started.elapsed().as_secs_f64(),
                local.target.name()
            );
            let inc = e2e::incremental_pull(sim, local, changed).await?;
            eprintln!(
                "          {:.3} s ({:.2}% of the full pull; store opened in {:.1} s)",
                inc.outcome.secs,
                100.0 * inc.outcome.secs / full.outcome.secs,
                inc.outcome.setup_secs
            );
            runs.push(inc);
        }
    }
    let resident = resident_rounds(sim, keep, &changes, started).await?;
    Ok(keep
        .iter()
        .zip(runs)
        .zip(resident)
        .map(|(((local, full), runs), resident)| IncrementalPoint {
            people: n,
            target: local.target,
            full_secs: full.outcome.secs,
            runs: IncrementalRuns::new(runs),
            resident,
        })
        .collect())
}

/// The second half of scenario 2: one engine process per local side in `keep` stays up and
/// pulls after each of 1 + [`INCREMENTAL_RUNS`] more rounds of `changes` in Twenty, as a polling
/// engine (`twenty-sync watch`, the admin server) does. Its first pull pays for what a new
/// process pays (connections, the server's caches of them); the others are the steady state.
async fn resident_rounds(
    sim: &twenty_sim::SimServer,
    keep: &[(Local, PullPoint)],
    changes: &Changes<'_>,
    started: Instant,
) -> Result<Vec<ResidentRuns>, BoxError> {
    let mut processes = Vec::with_capacity(keep.len());
    for (local, _) in keep {
        processes.push(e2e::resident_puller(sim, local).await?);
    }
    let mut runs: Vec<Vec<Incremental>> = keep.iter().map(|_| Vec::new()).collect();
    for round in 0..=INCREMENTAL_RUNS {
        let changed = changes
            .apply(sim, INCREMENTAL_RUNS + 1 + round, "Polled title")
            .await?;
        for (((local, full), process), runs) in keep.iter().zip(&mut processes).zip(&mut runs) {
            eprintln!(
                "[{:>5.0} s] incremental pull into {} by a resident engine ({})",
                started.elapsed().as_secs_f64(),
                local.target.name(),
                if round == 0 {
                    "its first pull".to_owned()
                } else {
                    format!("polling, {round} of {INCREMENTAL_RUNS}")
                }
            );
            let inc = e2e::checked_incremental(local, changed, process.run().await?)?;
            eprintln!(
                "          {:.3} s ({:.2}% of the full pull)",
                inc.outcome.secs,
                100.0 * inc.outcome.secs / full.outcome.secs,
            );
            runs.push(inc);
        }
    }
    for process in processes {
        process.finish().await?;
    }
    Ok(runs
        .into_iter()
        .map(|mut all| {
            let first = all.remove(0);
            ResidentRuns {
                first,
                polling: IncrementalRuns::new(all),
            }
        })
        .collect())
}

fn mib(x: f64) -> String {
    format!("{x:.0} MiB")
}

fn report(f: &Figures, command: &str, total: f64) -> Result<(), BoxError> {
    let head = header(command);
    if !f.points.is_empty() {
        let mut b = format!(
            "## Full pull (scenario 1): twenty-sim on loopback → engine with the `benches/people.toml` mapping → Postgres sink / file store\n\n{head}\n\n\
             Peak RSS is the engine process's own (`VmHWM` of a child process that runs only the engine; the simulator runs in the harness). \
             Page size {}; pulled writes committed {} at a time (`EngineConfig::pull_commit_records`). Records/s counts the run only (not seeding the simulator, not opening the store).\n\n\
             | people | into | records/s | peak RSS | run time | requests | failed records |\n|---:|---|---:|---:|---:|---:|---:|\n",
            e2e::BATCH,
            twenty_sync_core::engine::EngineConfig::default().pull_commit_records
        );
        for p in &f.points {
            b += &format!(
                "| {} | {} | {:.0} | {} | {:.1} s | {} | {} |\n",
                p.people,
                p.target.name(),
                p.records_per_sec(),
                mib(p.outcome.peak_rss_mib),
                p.outcome.secs,
                p.outcome.requests,
                p.outcome.failures
            );
        }
        let seeds: Vec<String> = f
            .seeds
            .iter()
            .map(|(n, s)| format!("{n} in {s:.1} s"))
            .collect();
        b += &format!(
            "\nSeeding the simulator (not measured above): {}.\n",
            seeds.join(", ")
        );
        for target in [Target::Postgres, Target::File] {
            let pts: Vec<&PullPoint> = f.points.iter().filter(|p| p.target == target).collect();
            if let (Some(lo), Some(hi)) = (pts.first(), pts.last()) {
                if hi.people > lo.people {
                    b += &format!(
                        "\n{}: {}x the records → peak RSS {:.2}x ({} → {}), throughput {:.2}x.",
                        target.name(),
                        hi.people / lo.people,
                        hi.outcome.peak_rss_mib / lo.outcome.peak_rss_mib,
                        mib(lo.outcome.peak_rss_mib),
                        mib(hi.outcome.peak_rss_mib),
                        hi.records_per_sec() / lo.records_per_sec()
                    );
                }
            }
        }
        if f.points.iter().any(|p| p.outcome.failures > 0) {
            let p = f
                .points
                .iter()
                .find(|p| p.outcome.failures > 0)
                .expect("checked");
            b += &format!(
                "\n\nFailed records are seeded people whose messy values the mapping rejects (reported, not written), e.g. {:?}.",
                p.outcome.failure_samples.first()
            );
        }
        b += "\n\n![throughput and peak memory against N](pull-scaling.svg)\n";
        write("e2e-pull", &b)?;
        let series = |g: &dyn Fn(&PullPoint) -> f64| -> Vec<plot::Series> {
            [Target::Postgres, Target::File]
                .into_iter()
                .map(|t| {
                    (
                        format!("into {}", t.name()),
                        f.points
                            .iter()
                            .filter(|p| p.target == t)
                            .map(|p| (p.people as f64, g(p)))
                            .collect(),
                    )
                })
                .filter(|s: &plot::Series| !s.1.is_empty())
                .collect()
        };
        let svg = results::results_path().with_file_name("pull-scaling.svg");
        plot::write(
            &svg,
            &series(&|p| p.records_per_sec()),
            &series(&|p| p.outcome.peak_rss_mib),
        )?;
    }
    if !f.incremental.is_empty() {
        let mut b = format!(
            "## Incremental pull after 1% changed in Twenty (scenario 2)\n\n{head}\n\nTarget: at most 3% of the full pull's time.\n\n\
             Each incremental pull follows its own change of the same 1% in Twenty and is run \
             by a new engine process, as a one-shot `twenty-sync pull` runs; the table \
             quotes the median of {INCREMENTAL_RUNS} such pulls, the last column lists all of \
             them in the order they ran. The full pull is the one run of scenario 1 at the same \
             N into the same side. \"Store opened in\" is the engine process's time to open \
             the store and build the engine before the run (not part of the run's time): the \
             file store reads its files into its indexes there.\n\n\
             | into | people | changed | full pull | incremental (median) | ratio | full pull per record | incremental per changed record | store opened in (median) | requests | updated | unchanged (overlap re-reads) | every run |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        );
        let mut points: Vec<&IncrementalPoint> = f.incremental.iter().collect();
        points.sort_by_key(|p| (p.target != Target::Postgres, p.people));
        for p in &points {
            let (t, full, runs) = (p.target, p.full_secs, &p.runs);
            let inc = runs.median();
            let c = inc.outcome.dir("pull");
            let every: Vec<String> = runs
                .all
                .iter()
                .map(|r| format!("{:.3}", r.outcome.secs))
                .collect();
            b += &format!(
                "| {} | {} | {} | {:.2} s | {:.3} s | **{:.2}%** | {:.0} µs | {:.0} µs | {:.2} s | {} | {} | {} | {} s |\n",
                t.name(),
                p.people,
                inc.changed,
                full,
                inc.outcome.secs,
                100.0 * inc.outcome.secs / full,
                1e6 * full / p.people as f64,
                1e6 * inc.outcome.secs / inc.changed.max(1) as f64,
                runs.median_setup_secs(),
                inc.outcome.requests,
                c.updated,
                c.unchanged,
                every.join(" / ")
            );
        }
        b += &format!(
            "\n**The same pulls in an engine that stays up** (one engine process per side opens \
             the store once and pulls after each change, as `twenty-sync watch` and the admin \
             server run): its first pull comes right after the store is opened, as above; the \
             {INCREMENTAL_RUNS} after it are the steady state of a polling engine, whose pooled \
             connections (and the database server's caches in their backends) are warm. The \
             changes are the same 1% again (after the pulls above).\n\n\
             | into | people | changed | full pull | first pull of the process | polling pulls (median) | ratio | polling per changed record | store opened in | every polling pull |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        );
        for p in &points {
            let (full, r) = (p.full_secs, &p.resident);
            let inc = r.polling.median();
            let every: Vec<String> = r
                .polling
                .all
                .iter()
                .map(|r| format!("{:.3}", r.outcome.secs))
                .collect();
            b += &format!(
                "| {} | {} | {} | {:.2} s | {:.3} s ({:.2}%) | {:.3} s | **{:.2}%** | {:.0} µs | {:.2} s | {} s |\n",
                p.target.name(),
                p.people,
                inc.changed,
                full,
                r.first.outcome.secs,
                100.0 * r.first.outcome.secs / full,
                inc.outcome.secs,
                100.0 * inc.outcome.secs / full,
                1e6 * inc.outcome.secs / inc.changed.max(1) as f64,
                r.first.outcome.setup_secs,
                every.join(" / ")
            );
        }
        b += "\nPer record, an incremental pull pays for a lookup of the record's local state and an \
              update of a row that is already there (a full pull into an empty store only \
              inserts), plus the run's own fixed part (run record, lease, the deleted walk, the \
              report): the ratio falls as N grows while the fixed part is paid off, and is \
              about 1% × (per changed record ÷ full pull per record) beyond that.\n";
        write("incremental", &b)?;
    }
    if let Some(x) = &f.bidi {
        let push = x.real.dir("push");
        let pull = x.real.dir("pull");
        let b = format!(
            "## Bidirectional sync, 1% changed on each side, 0.1% on both (scenarios 4 and 5)\n\n{head}\n\n\
             Postgres sink, {people} people already pulled. Changed locally only: {lo}; in Twenty only: {to}; on both sides: {both} \
             (Twenty changed last: under `newest_wins` Twenty wins). Every changed record was then checked on both sides: \
             **{verified} of {total} correct**; and no Twenty record ({untouched} checked) changed in a field the sync must not write \
             (the pull-only phones, unmapped fields).\n\n\
             | run | time | push updated | push conflicted | pull updated | pull unchanged | requests | planned writes |\n|---|---:|---:|---:|---:|---:|---:|---:|\n\
             | dry run | {ds:.2} s | {dpu} | {dpc} | {dlu} | {dln} | {dr} | {dw} |\n\
             | real | {rs:.2} s | {rpu} | {rpc} | {rlu} | {rln} | {rr} | {rw} |\n\n\
             Dry run / real run time: **{ratio:.0}%**. Planned writes of the real run by kind: {plan:?}. \
             The two plans compared write by write (entity, direction, action, keys, changed fields): **{mismatch} mismatches**{exact}.\n",
            people = x.people,
            lo = x.local_only,
            to = x.twenty_only,
            both = x.both,
            verified = x.verified,
            total = x.local_only + x.twenty_only + x.both,
            ds = x.dry.secs,
            dpu = x.dry.dir("push").updated,
            dpc = x.dry.dir("push").conflicted,
            dlu = x.dry.dir("pull").updated,
            dln = x.dry.dir("pull").unchanged,
            dr = x.dry.requests,
            dw = x.dry.planned.values().sum::<usize>(),
            rs = x.real.secs,
            rpu = push.updated,
            rpc = push.conflicted,
            rlu = pull.updated,
            rln = pull.unchanged,
            rr = x.real.requests,
            rw = x.real.planned.values().sum::<usize>(),
            ratio = 100.0 * x.dry.secs / x.real.secs,
            plan = x.real.planned,
            untouched = x.checked_untouched,
            mismatch = x.plan_mismatches,
            exact = if x.plan_mismatches == 0 {
                " (the dry run predicted the real run exactly)"
            } else {
                ""
            },
        );
        write("bidi", &b)?;
    }
    if !f.push.is_empty() {
        let mut b = format!(
            "## Push under Twenty's rate-limit shape (scenario 3)\n\n{head}\n\n\
             Local people in a Postgres table (captured by the sink's outbox) pushed into a simulator enforcing a token bucket of \
             {req} requests per window (full at the start, refilled evenly); the window is shortened so the paced part lasts about 15 s. \
             Ceiling = requests per window × batch size. Because the bucket starts full, a run also gets the first {req} requests free: the \
             *bucket ceiling* is (1 + windows elapsed) × {req} × batch, the most any client could have written in the run's time; it is the \
             figure the target is read against. People are new to Twenty, so each chunk is one `POST /rest/batch/people?upsert=true` \
             (`MatchStrategy::Auto`; no natural-key lookup). 12,000 people at 200 per request would be 60 requests, inside the first burst \
             and never paced, so the 12,000 run uses Twenty Cloud's documented 60 records per call and a second run pushes 60,000 at 200. \
             *Per request* is the run's time over its requests, next to the interval the window allows each request once the first burst is spent; \
             *waited on the limit* is the client's time paused by its pacer, 429s and backoff. A run that waited on the limit for almost nothing \
             was held back by its own chunks, each one chain (read, record the creates, upsert, commit the state), not by the limit.\n\n\
             | people | batch | limit | window | time | requests (batch / lookup / other) | 429 | per request (allowed) | waited on the limit | records per window | of ceiling | of bucket ceiling |\n|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
            req = scenarios::push::REQUESTS,
        );
        for r in &f.push {
            let route = |k: &str| r.stats.by_route.get(k).copied().unwrap_or(0);
            let creates = route("POST /rest/batch/{plural}");
            let lookups = route("GET /rest/{plural}");
            b += &format!(
                "| {} | {} | {} | {:.1} s | {:.1} s | {} ({creates} / {lookups} / {}) | {} ({:.1}%) | {:.0} ms ({:.0} ms) | {:.1} s | {:.0} | {:.0}% | **{:.0}%** |\n",
                r.people,
                r.batch,
                r.how,
                r.window.as_secs_f64(),
                r.outcome.secs,
                r.stats.requests,
                r.stats.requests - creates - lookups,
                r.stats.rate_limited,
                100.0 * r.share_429(),
                r.per_request().as_secs_f64() * 1e3,
                r.allowed_interval().as_secs_f64() * 1e3,
                r.waited_on_limit().as_secs_f64(),
                r.records_per_window(),
                100.0 * r.records_per_window() / r.ceiling(),
                100.0 * r.people as f64 / r.bucket_ceiling(),
            );
        }
        b += "\nRoutes as counted by the simulator, 429s included. Targets: configured ≥ 95% of the ceiling with zero 429; discovered ≤ 2% of requests answered 429.\n";
        write("push", &b)?;
    }
    if let Some(s) = &f.sink {
        let b = format!(
            "## Postgres sink: upsert vs raw COPY (issue 5)\n\n{head}\n\n\
             {rows} pulled person records (local shape, 6 text columns), applied through `SourceOfTruth::apply` in batches of {batch} \
             (what the engine commits at once in a pull, `EngineConfig::pull_commit_records`; one transaction per batch; the rows are new, so each batch \
             goes in by one binary COPY, its record states by a second binary COPY (new, like the rows), the other state tables by one array statement each), next to raw binary COPYs in the same run: of the same rows \
             into a plain table with the same columns and primary key, in one stream (the issue's limit) and in one COPY and transaction per {batch} rows \
             (the limit at the engine's commit size: the server's fixed work per COPY statement is paid once per batch), and of *everything a full pull commits* for them \
             (data rows, record-state rows, and the audit log's rows: one per committed batch, holding its entries) into the sink's own tables, with their indexes. \
             Each method ran {rounds} times, alternating; the best time of each is shown.\n\n\
             | method | rows/s | time | of raw COPY (data) | of raw COPY (all a pull commits) |\n|---|---:|---:|---:|---:|\n\
             | raw binary COPY of the data rows, one stream | {cr:.0} | {cs:.2} s | 100% | — |\n\
             | raw binary COPY of the data rows, one COPY and one transaction per {batch} rows | {br:.0} | {bs:.2} s | {bp:.0}% | — |\n\
             | raw binary COPY of data + record states + audit-log rows, one stream each | {ar:.0} | {as_:.2} s | {ap:.0}% | 100% |\n\
             | sink apply, data + cursor | {dr:.0} | {ds:.2} s | **{dp:.0}%** ({dbp:.0}% of the COPY per {batch} rows) | — |\n\
             | sink apply, data + record states + cursor (no audit) | {sr:.0} | {ss:.2} s | **{sp:.0}%** | — |\n",
            rows = s.rows,
            rounds = scenarios::sink::ROUNDS,
            batch = s.batch,
            cr = s.rate(s.copy_secs),
            cs = s.copy_secs,
            br = s.rate(s.copy_batched_secs),
            bs = s.copy_batched_secs,
            bp = 100.0 * s.copy_secs / s.copy_batched_secs,
            dbp = 100.0 * s.copy_batched_secs / s.apply_data_secs,
            ar = s.rate(s.copy_all_secs),
            as_ = s.copy_all_secs,
            ap = 100.0 * s.copy_secs / s.copy_all_secs,
            dr = s.rate(s.apply_data_secs),
            ds = s.apply_data_secs,
            dp = 100.0 * s.copy_secs / s.apply_data_secs,
            sr = s.rate(s.apply_with_state_secs),
            ss = s.apply_with_state_secs,
            sp = 100.0 * s.copy_secs / s.apply_with_state_secs,
        );
        let mut b = b;
        for (label, secs) in &s.variants {
            let all = if label.contains("audit") {
                format!("**{:.0}%**", 100.0 * s.copy_all_secs / secs)
            } else {
                "—".to_owned()
            };
            b += &format!(
                "| {label} | {:.0} | {secs:.2} s | **{:.0}%** | {all} |\n",
                s.rate(*secs),
                100.0 * s.copy_secs / secs
            );
        }
        b += "\nTarget: at least half of raw COPY throughput. The data upsert is read against the raw COPY of the data rows; \
              a full pull's commit also writes a record-state row per record (two unique indexes) and an audit-log row per batch (one GIN entry per key), so it is read against the raw COPY of all it writes.\n";
        write("sink-postgres", &b)?;
    }
    if let Some((d, ours, _)) = &f.peer {
        let b = format!(
            "## Peer: dlt `rest_api` side by side (same simulator, same Postgres, same run)\n\n{head}\n\n\
             dlt {ver} from PyPI (`benches/peers/dlt/`: `setup.sh` makes a virtual environment outside the repository, \
             `twenty_people.py` runs the `rest_api` source with Twenty's cursor pagination, `write_disposition=merge` on `id`). \
             Both pull the same {n} seeded people at page size 200 into Postgres. dlt loads every field as it comes (flattened columns plus a child table); \
             twenty-sync maps five fields through the mapping (normalising names, emails, phones) and commits the sync state with each batch.\n\n\
             | tool | records/s | peak RSS | time |\n|---|---:|---:|---:|\n\
             | twenty-sync (engine → Postgres sink) | {or:.0} | {om} | {os:.1} s |\n\
             | dlt rest_api → postgres | {dr:.0} | {dm} (children {dc}) | {ds:.1} s |\n\n\
             **Throughput {tx:.1}x dlt's at {mx:.2}x its peak memory** (targets: ≥ 10x, ≤ 0.33x).\n",
            ver = d.dlt_version,
            n = ours.people,
            or = ours.records_per_sec(),
            om = mib(ours.outcome.peak_rss_mib),
            os = ours.outcome.secs,
            dr = d.records_per_sec(),
            dm = mib(d.peak_rss_mib),
            dc = mib(d.children_peak_rss_mib),
            ds = d.secs,
            tx = ours.records_per_sec() / d.records_per_sec(),
            mx = ours.outcome.peak_rss_mib / d.peak_rss_mib,
        );
        write("peer", &b)?;
    }
    if command == "all" {
        write(
            "all",
            &format!(
                "## Whole run\n\n{head}\n\nEvery scenario above ran in this one command, in {total:.0} s.\n"
            ),
        )?;
    }
    Ok(())
}

async fn paging(people: usize) -> Result<(), BoxError> {
    let page_size = 200;
    let r = scenarios::paging::run(people, page_size).await?;
    let line = format!(
        "{} people at page size {page_size}: {:.0} records/s ({:.2} s paging, {} requests; seeding took {:.2} s; peak RSS of harness + in-process simulator {:.0} MiB)",
        r.people,
        r.records_per_sec(),
        r.page_secs,
        r.requests,
        r.seed_secs,
        machine::peak_rss_mib().unwrap_or(f64::NAN)
    );
    println!("{line}");
    let body = format!(
        "## Client paging (twenty-client over twenty-sim on loopback)\n\n{}\n\n- {line}\n",
        header(&format!("paging {people}"))
    );
    write("paging", &body)?;
    Ok(())
}

async fn refused(people: usize, prefix: &str, refusal: Refusal) -> Result<(), BoxError> {
    let (sim, _) = e2e::seeded_sim(people).await?;
    let r = scenarios::refused::run(&sim, people, prefix, refusal).await?;
    let clean = r.clean.dir("pull");
    let how = match r.refusal {
        Refusal::Check => "a CHECK constraint refuses the emails",
        Refusal::Unique => "a unique constraint refuses the emails, taken by other rows,",
    };
    let line = format!(
        "{} people, {} refused ({how} whose MD5 starts with `{}`): clean pull {:.2} s, pull \
         that finds and reports the refused rows {:.2} s (**{:.2}×**); {} rows written, each \
         refused row reported once; peak RSS {:.0} / {:.0} MiB",
        r.people,
        r.expected,
        r.prefix,
        r.clean.secs,
        r.refused.secs,
        r.ratio(),
        clean.created - r.expected,
        r.clean.peak_rss_mib,
        r.refused.peak_rss_mib
    );
    println!("{line}");
    let body = format!(
        "## Pull into a Postgres table that refuses some rows ({})\n\n{}\n\n\
         Postgres refuses a whole batch for one row; the engine applies the batch again in \
         parts (`twenty-sync-core/src/engine/pull_refused.rs`): at once the row the store's \
         error names (the sink names the row of a unique violation on one column), else \
         halves down to the refused row. It reports the row and keeps it for retry. Compared \
         with the same pull into a table that refuses nothing, in the same run.\n\n- {line}\n",
        match refusal {
            Refusal::Check => "a CHECK constraint",
            Refusal::Unique => "a unique index",
        },
        header(&format!("refused {people} {prefix} {}", refusal.name()))
    );
    write(&format!("refused-{}", refusal.name()), &body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{Changes, INCREMENTAL_RUNS, Parsed, Refusal, parse};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn refused_takes_a_size_and_a_hex_prefix() {
        assert!(matches!(
            parse(&args(&["refused"])),
            Ok(Parsed::Refused(100_000, p, Refusal::Check)) if p == "000"
        ));
        assert!(matches!(
            parse(&args(&["refused", "5000", "00f"])),
            Ok(Parsed::Refused(5000, p, Refusal::Check)) if p == "00f"
        ));
        assert!(matches!(
            parse(&args(&["refused", "5000", "00f", "unique"])),
            Ok(Parsed::Refused(5000, _, Refusal::Unique))
        ));
        assert!(parse(&args(&["refused", "5000", "00f", "fk"])).is_err());
        assert!(parse(&args(&["refused", "many"])).is_err());
        assert!(parse(&args(&["refused", "10", "0'; DROP"])).is_err());
        assert!(parse(&args(&["refused", "1", "0", "2"])).is_err());
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:08}")).collect()
    }

    fn changes(ids: &[String], fresh: bool) -> Changes<'_> {
        Changes {
            ids,
            fresh,
            settle: None,
        }
    }

    #[test]
    fn the_same_one_percent_is_changed_every_round_by_default() {
        let ids = ids(10_000);
        let changes = changes(&ids, false);
        let first = changes.round(0);
        assert_eq!(first.len(), 100);
        for round in 1..=2 * INCREMENTAL_RUNS + 1 {
            assert_eq!(changes.round(round), first, "round {round}");
        }
    }

    #[test]
    fn fresh_rounds_change_one_percent_each_and_never_the_same_record() {
        let ids = ids(10_000);
        let changes = changes(&ids, true);
        let mut seen = HashSet::new();
        // Every round the scenario runs: the new processes' and the resident engine's.
        for round in 0..=2 * INCREMENTAL_RUNS + 1 {
            let changed = changes.round(round);
            assert_eq!(changed.len(), 100, "round {round}");
            for id in changed {
                assert!(seen.insert(id), "{id} changed again in round {round}");
            }
        }
    }
}
