//! Runs one engine run in a child process of the harness, so that its peak memory is the
//! engine's own (client, mapping, sink), not the in-process simulator's that serves it.
//!
//! The parent re-executes its own binary as `benches __child '<task JSON>'` (the API key goes
//! through the environment); the child runs the task, then prints one line of JSON: the
//! [`Outcome`], with the peak resident set size read from `/proc/self/status` (`VmHWM`).
//!
//! A [`Resident`] child (`benches __child '<task JSON>' --resident`) opens the store and builds
//! the engine once, prints [`READY`], then runs the task each time the parent writes a line to
//! its standard input, printing each outcome as a line, until its input closes: an engine that
//! stays up between runs, as `twenty-sync watch` and the admin server do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sink_postgres::{PostgresSink, SinkConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use twenty_client::{Client, RateLimit};
use twenty_sync_core::engine::{PlannedWrite, RunOptions, SyncEngine};
use twenty_sync_core::file::FileStore;
use twenty_sync_core::{EntityCounts, PlanMapper, RunMode, SourceOfTruth, StateStore};

use crate::env::{self, BoxError};
use crate::machine;

/// The hidden subcommand of the child.
pub const SUBCOMMAND: &str = "__child";
/// The argument after the task that makes the child [`Resident`].
pub const RESIDENT_ARG: &str = "--resident";
/// The line a [`Resident`] child prints once its store is open and its engine built.
const READY: &str = "ready";
const KEY_VAR: &str = "BENCH_TWENTY_API_KEY";
/// Names a directory that receives every planned write of each run (see [`write_plan`]).
const PLAN_OUT_VAR: &str = "BENCH_PLAN_OUT";
/// Overrides [`EngineConfig::pull_commit_records`](twenty_sync_core::engine::EngineConfig::pull_commit_records).
const PULL_COMMIT_VAR: &str = "BENCH_PULL_COMMIT_RECORDS";
/// Overrides [`EngineConfig::overlap`](twenty_sync_core::engine::EngineConfig::overlap), in ms
/// (the harness also reads it, to wait out the overlap after each change).
pub const OVERLAP_VAR: &str = "BENCH_OVERLAP_MS";
/// Fixes [`EngineConfig::push_in_flight`](twenty_sync_core::engine::EngineConfig::push_in_flight)
/// (and its most) instead of letting the push raise it.
const PUSH_IN_FLIGHT_VAR: &str = "BENCH_PUSH_IN_FLIGHT";

/// Where the engine keeps local data and state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Store {
    /// The Postgres sink (source and state store), with its state and data schemas.
    Postgres {
        /// Schema of the sync state.
        state_schema: String,
        /// Schema of the data table.
        data_schema: String,
    },
    /// The file store in a directory.
    File {
        /// The store's directory.
        dir: PathBuf,
    },
}

/// How the client meets the server's rate limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// No pacing (the simulator does not limit).
    Off,
    /// Paced to a configured budget.
    Configured {
        /// Requests per window.
        requests: u32,
        /// Window in milliseconds.
        window_ms: u64,
    },
    /// No configured budget: the client learns it from 429 answers.
    Discover,
}

/// One engine run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The simulator's base URL.
    pub base_url: String,
    /// Local side.
    pub store: Store,
    /// `pull`, `push` or `sync`.
    pub mode: RunMode,
    /// Dry run.
    pub dry_run: bool,
    /// Rate limiting of the client.
    pub limit: Limit,
    /// Engine batch size (pull page size, push chunk) and client batch size.
    pub batch_size: usize,
    /// Report every planned write in [`Outcome::writes`] (costs memory: not for runs whose
    /// memory is measured).
    #[serde(default)]
    pub keep_plan: bool,
}

/// What a child reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Wall-clock seconds of the run (setup of the store excluded).
    pub secs: f64,
    /// Seconds to open the store (migrations, catalog checks, file index).
    pub setup_secs: f64,
    /// Peak resident set size of the child process, MiB.
    pub peak_rss_mib: f64,
    /// Run status (`Debug` form).
    pub status: String,
    /// Counts per `entity:direction`.
    pub counts: BTreeMap<String, EntityCounts>,
    /// Number of record failures.
    pub failures: usize,
    /// The first few failures, for the log.
    pub failure_samples: Vec<String>,
    /// Requests made.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// Time spent waiting for the rate limit, ms.
    pub throttled_ms: u64,
    /// Planned writes per `direction/action`.
    pub planned: BTreeMap<String, usize>,
    /// Every planned write, sorted, when the task asked for them ([`Task::keep_plan`]).
    #[serde(default)]
    pub writes: Vec<PlannedWrite>,
}

impl Outcome {
    /// The counts of `direction` (`pull` or `push`) of the benchmark entity.
    pub fn dir(&self, direction: &str) -> EntityCounts {
        self.counts
            .iter()
            .filter(|(k, _)| k.ends_with(direction))
            .fold(EntityCounts::default(), |mut a, (_, c)| {
                a.add(c);
                a
            })
    }
}

/// Runs `task` in a child process and returns its outcome.
pub async fn spawn(task: &Task) -> Result<Outcome, BoxError> {
    let exe = std::env::current_exe()?;
    let json = serde_json::to_string(task)?;
    let out = tokio::process::Command::new(exe)
        .arg(SUBCOMMAND)
        .arg(&json)
        .env(KEY_VAR, env::API_KEY)
        .env("DATABASE_URL", env::database_url())
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    // tokio's `output` pipes the child's stderr whatever was set: pass it on, so the child's
    // error (or anything else it says there) shows where the message below points.
    if !out.stderr.is_empty() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the child run {:?} on {:?} failed ({}); see its error above",
            task.mode, task.store, out.status
        )
        .into());
    }
    let last = stdout
        .lines()
        .last()
        .ok_or("the child run printed no outcome")?;
    Ok(serde_json::from_str(last)
        .map_err(|e| format!("the child's outcome line is not valid ({e}): {last}"))?)
}

/// A child process that keeps its engine between runs: the store is opened and the engine built
/// once, before the first run, and each [`Resident::run`] runs the task again in the same
/// process (its pooled connections, the server's caches of them and the store's indexes warm).
pub struct Resident {
    process: tokio::process::Child,
    input: tokio::process::ChildStdin,
    output: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Resident {
    /// Starts a resident child for `task` and waits until it has opened the store and built its
    /// engine (so that opening one store, the file store's taking seconds of CPU at a million
    /// records, never runs beside another child's pull).
    pub async fn start(task: &Task) -> Result<Resident, BoxError> {
        let mut process = tokio::process::Command::new(std::env::current_exe()?)
            .arg(SUBCOMMAND)
            .arg(serde_json::to_string(task)?)
            .arg(RESIDENT_ARG)
            .env(KEY_VAR, env::API_KEY)
            .env("DATABASE_URL", env::database_url())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let input = process
            .stdin
            .take()
            .ok_or("the resident child has no stdin")?;
        let output = process
            .stdout
            .take()
            .ok_or("the resident child has no stdout")?;
        let mut output = tokio::io::BufReader::new(output).lines();
        match output.next_line().await? {
            Some(line) if line == READY => {}
            Some(line) => {
                return Err(
                    format!("the resident child printed {line:?} instead of {READY:?}").into(),
                );
            }
            None => {
                return Err(
                    "the resident child ended before its store was open; see its error above"
                        .into(),
                );
            }
        }
        Ok(Resident {
            process,
            input,
            output,
        })
    }

    /// Runs the task once more in the child and returns its outcome (its `setup_secs` is the
    /// one opening of the store, before the first run).
    pub async fn run(&mut self) -> Result<Outcome, BoxError> {
        self.input.write_all(b"run\n").await?;
        self.input.flush().await?;
        let line = self
            .output
            .next_line()
            .await?
            .ok_or("the resident child ended without an outcome; see its error above")?;
        Ok(serde_json::from_str(&line)
            .map_err(|e| format!("the resident child's outcome line is not valid ({e}): {line}"))?)
    }

    /// Closes the child's input and waits for it to exit.
    pub async fn finish(mut self) -> Result<(), BoxError> {
        drop(self.input);
        let status = self.process.wait().await?;
        if !status.success() {
            return Err(
                format!("the resident child exited with {status}; see its error above").into(),
            );
        }
        Ok(())
    }
}

/// Entry point of the child: runs the task given as JSON and prints the outcome; with
/// `resident`, runs it once per line read from standard input (see [`Resident`]).
pub async fn main(task_json: &str, resident: bool) -> Result<(), BoxError> {
    let task: Task = serde_json::from_str(task_json)
        .map_err(|e| format!("the task given to the child is not valid JSON ({e})"))?;
    let key = std::env::var(KEY_VAR).map_err(|_| format!("{KEY_VAR} is not set"))?;
    let mut client = Client::builder(task.base_url.parse()?, SecretString::from(key))
        .page_size(u32::try_from(task.batch_size)?)
        .batch_size(task.batch_size)
        .timeout(Duration::from_secs(120));
    client = match task.limit {
        Limit::Off | Limit::Discover => client.no_rate_limit(),
        Limit::Configured {
            requests,
            window_ms,
        } => client.rate_limit(RateLimit::new(requests, Duration::from_millis(window_ms))),
    };
    let client = client.build()?;
    let mapper = PlanMapper::new(env::mapping()?, env::ENTITY)
        .ok_or("the benchmark mapping has no `people` entity")?;
    let t = Instant::now();
    match &task.store {
        Store::Postgres {
            state_schema,
            data_schema,
        } => {
            let sink = PostgresSink::builder(SinkConfig {
                state_schema: state_schema.clone(),
                ..SinkConfig::default()
            })
            .connection_string(SecretString::from(env::database_url()))
            .entity(env::people_table(data_schema))
            .max_connections(4)
            .build()
            .await?;
            let sink = Arc::new(sink);
            serve(&task, client, mapper, sink.clone(), sink, t, resident).await
        }
        Store::File { dir } => {
            let store = Arc::new(FileStore::open(dir)?);
            serve(&task, client, mapper, store.clone(), store, t, resident).await
        }
    }
}

/// Builds the engine, then runs `task` once, or (`resident`) once per line of standard input,
/// printing each outcome as a line of JSON.
async fn serve<S: SourceOfTruth + 'static, T: StateStore + 'static>(
    task: &Task,
    client: Client,
    mapper: PlanMapper,
    source: S,
    state: T,
    setup_started: Instant,
    resident: bool,
) -> Result<(), BoxError> {
    let mut builder = SyncEngine::builder(client, source, state)
        .entity(Arc::new(mapper))
        .batch_size(task.batch_size);
    // `BENCH_PULL_COMMIT_RECORDS=<n>`: pulled records per local commit instead of the engine's
    // default (for comparing commit sizes; the figures written then are not the default's).
    if let Some(n) = env::number(PULL_COMMIT_VAR)? {
        builder = builder.pull_commit_records(n);
    }
    // `BENCH_OVERLAP_MS=<ms>`: the pull overlap instead of the engine's default (see main.rs).
    if let Some(ms) = env::number(OVERLAP_VAR)? {
        builder = builder.overlap(Duration::from_millis(ms));
    }
    // `BENCH_PUSH_IN_FLIGHT=<n>`: batch requests of a push chunk in flight at once, fixed (by
    // default the push starts at 1 and raises them while the rate limit is not what holds it).
    if let Some(n) = env::number::<usize>(PUSH_IN_FLIGHT_VAR)? {
        builder = builder.push_in_flight(n);
    }
    let engine = builder.build()?;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    if !resident {
        let outcome = run(task, &engine, setup_secs).await?;
        println!("{}", serde_json::to_string(&outcome)?);
        return Ok(());
    }
    println!("{READY}");
    let mut input = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while input.next_line().await?.is_some() {
        let outcome = run(task, &engine, setup_secs).await?;
        // Standard output is line-buffered: the parent reads the line as soon as it is written.
        println!("{}", serde_json::to_string(&outcome)?);
    }
    Ok(())
}

/// One run of `task` on `engine` (built in `setup_secs`).
async fn run<S: SourceOfTruth + 'static, T: StateStore + 'static>(
    task: &Task,
    engine: &SyncEngine<S, T>,
    setup_secs: f64,
) -> Result<Outcome, BoxError> {
    // `BENCH_PLAN_OUT=<dir>`: keep every planned write and write them to
    // `<dir>/{dry,real}-<mode>.jsonl` (for comparing a dry run's plan with the real run's; it costs
    // memory, so the figures of such a run are not representative).
    let plan_out = std::env::var_os(PLAN_OUT_VAR).map(std::path::PathBuf::from);
    let t = Instant::now();
    let out = engine
        .run(
            task.mode,
            RunOptions::new()
                .dry_run(task.dry_run)
                .keep_plan(plan_out.is_some() || task.keep_plan),
        )
        .await?;
    let secs = t.elapsed().as_secs_f64();
    let writes = out.plan.sorted();
    if let Some(dir) = plan_out {
        write_plan(&dir, task, &writes)?;
    }
    let mut planned = BTreeMap::new();
    // The plan's totals: a real run keeps no per-write list (its memory stays flat).
    for t in &out.plan.totals {
        *planned
            .entry(format!("{:?}/{:?}", t.direction, t.action).to_lowercase())
            .or_insert(0) += usize::try_from(t.writes)?;
    }
    let report = out.report;
    Ok(Outcome {
        secs,
        setup_secs,
        peak_rss_mib: machine::peak_rss_mib().unwrap_or(f64::NAN),
        status: format!("{:?}", report.status),
        failures: report.failures.len(),
        failure_samples: report
            .failures
            .iter()
            .take(3)
            .map(|f| {
                format!(
                    "{:?} key {:?} field {:?}: {}",
                    f.direction, f.local_key, f.field, f.reason
                )
            })
            .collect(),
        counts: report.entities,
        requests: report.requests,
        retries: report.retries,
        throttled_ms: report.throttled_ms,
        planned,
        writes: if task.keep_plan { writes } else { Vec::new() },
    })
}

/// Writes `writes` as JSON Lines to `<dir>/<dry|real>-<mode>.jsonl`.
fn write_plan(dir: &std::path::Path, task: &Task, writes: &[PlannedWrite]) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    let kind = if task.dry_run { "dry" } else { "real" };
    let path = dir.join(format!("{kind}-{:?}.jsonl", task.mode).to_lowercase());
    let mut out = String::new();
    for w in writes {
        out.push_str(&serde_json::to_string(w)?);
        out.push('\n');
    }
    std::fs::write(&path, out).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}
