//! The `twenty-sync` command line.
//!
//! ```text
//! twenty-sync [-c FILE] [--json] [-v|-q] [--url URL] [--mapping FILE] [--data-dir DIR]
//!             [--sink KIND] [--set KEY=VALUE]... <COMMAND>
//!
//!   setup    create the custom fields and select options the mapping needs (idempotent)
//!   verify   report missing or mismatched fields; exit 4 when the workspace is not ready
//!   pull     Twenty -> local
//!   push     local -> Twenty
//!   sync     both directions with the conflict policy
//!   watch    polling loop (and, with --listen, the webhook endpoint)
//!   status   last runs, their counts and errors
//!   audit    the audit log by run, entity, key or time
//!   demo     the whole job against an in-process simulator: no account, no setup
//! ```
//!
//! Exit codes ([`ExitStatus`]): 0 success, 1 failure, 2 usage or configuration error, 3 partial
//! failure (the run finished but some records failed), 4 not ready (`verify`, `setup` with a
//! mismatched field). The reference is `examples/CLI.md`.

pub mod app;
pub mod commands;
pub mod demo;
pub mod listen;
pub mod output;
pub mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use twenty_sync_core::{AuditQuery, RunMode};

use crate::config::{Config, Override};
use app::CliError;
use commands::RunRequest;
use output::Output;

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: everything worked.
    Success = 0,
    /// 1: the command failed (Twenty unreachable, store error, a run stopped early).
    Failure = 1,
    /// 2: bad usage or configuration (also clap's own code for bad flags).
    Usage = 2,
    /// 3: the run finished but some records failed (listed in the report).
    PartialFailure = 3,
    /// 4: the workspace is not ready (missing or mismatched custom fields).
    NotReady = 4,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Global options and the subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "twenty-sync",
    version,
    about = "Keep Twenty CRM and your system of record in sync.",
    long_about = "Keep Twenty CRM and your system of record in sync.\n\nStart with `twenty-sync demo` (no account needed). Reference: examples/CLI.md."
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./twenty-sync.toml when it exists.
    #[arg(
        short,
        long,
        global = true,
        env = "TWENTY_SYNC_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Machine-readable output: one JSON document per result on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Errors only, no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Twenty server URL (overrides twenty.url and TWENTY_API_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Mapping file (overrides `mapping` and TWENTY_SYNC_MAPPING).
    #[arg(long, global = true, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// File store directory (overrides sink.file.dir and TWENTY_SYNC_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Sink kind: file, postgres or bigquery (overrides sink.kind and TWENTY_SYNC_SINK).
    #[arg(long, global = true, value_name = "KIND")]
    pub sink: Option<String>,
    /// Override any configuration key, e.g. --set policies.batch_size=50 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = Override::parse_set)]
    pub set: Vec<Override>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the custom fields and select options the mapping needs (idempotent).
    Setup(DryRunArgs),
    /// Report missing or mismatched fields and options; exit 4 when not ready.
    Verify,
    /// Pull Twenty -> local.
    Pull(RunArgs),
    /// Push local -> Twenty.
    Push(RunArgs),
    /// Both directions, conflicts settled by the mapping's policy.
    Sync(RunArgs),
    /// Run on a schedule (polling), optionally receiving Twenty's webhooks (--listen).
    Watch(WatchArgs),
    /// The last runs, their counts and errors.
    Status(StatusArgs),
    /// Query the audit log.
    Audit(AuditArgs),
    /// The whole job on an in-process Twenty simulator: no account, no configuration.
    Demo(demo::DemoArgs),
}

/// `--dry-run`.
#[derive(Debug, Clone, Args)]
pub struct DryRunArgs {
    /// Print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of pull / push / sync.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Print the plan; write nothing (only the run record, marked dry run).
    #[arg(long)]
    pub dry_run: bool,
    /// Only this entity of the mapping (repeatable).
    #[arg(long = "entity", value_name = "NAME")]
    pub entities: Vec<String>,
}

impl RunArgs {
    fn request(&self) -> RunRequest {
        RunRequest {
            dry_run: self.dry_run,
            entities: self.entities.clone(),
        }
    }
}

/// Options of `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Each run only plans.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this entity (repeatable; default schedule.entities, else all).
    #[arg(long = "entity", value_name = "NAME")]
    pub entities: Vec<String>,
    /// Seconds between runs (overrides schedule.interval_secs).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u64>,
    /// What each run does: pull, push or sync (overrides schedule.mode).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Also receive Twenty's webhooks on this address (POST /webhooks/twenty, GET /health);
    /// port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Stop after this many runs (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
}

/// Options of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How many runs to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// Options of `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only this run id.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Only this entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this local key or Twenty id.
    #[arg(long)]
    pub key: Option<String>,
    /// At or after: RFC 3339, a date, or an age such as 15m / 2h / 7d.
    #[arg(long, value_parser = commands::parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Before: same forms as --since.
    #[arg(long, value_parser = commands::parse_time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many entries (the newest).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
}

impl Cli {
    /// The configuration overrides: the environment first, then the flags.
    pub fn overrides(&self) -> Vec<Override> {
        let mut o = Override::from_env(std::env::vars());
        if let Some(u) = &self.url {
            o.push(Override::named_flag("--url", "twenty.url", u.clone()));
        }
        if let Some(m) = &self.mapping {
            o.push(Override::named_flag(
                "--mapping",
                "mapping",
                m.display().to_string(),
            ));
        }
        if let Some(d) = &self.data_dir {
            o.push(Override::named_flag(
                "--data-dir",
                "sink.file.dir",
                d.display().to_string(),
            ));
        }
        if let Some(s) = &self.sink {
            o.push(Override::named_flag("--sink", "sink.kind", s.clone()));
        }
        o.extend(self.set.iter().cloned());
        o
    }
}

/// The `twenty-sync` binary: parses arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json, cli.quiet);
    out.init_logging(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error("failed", &format!("cannot start the async runtime: {e}"));
            return ExitStatus::Failure.into();
        }
    };
    let status = match rt.block_on(run(cli, &out)) {
        Ok(s) => s,
        Err(e) => {
            out.error(e.kind(), &e.to_string());
            match e {
                CliError::Config(_) => ExitStatus::Usage,
                CliError::Failed(_) => ExitStatus::Failure,
            }
        }
    };
    status.into()
}

/// Runs one parsed command line.
pub async fn run(cli: Cli, out: &Output) -> Result<ExitStatus, CliError> {
    if let Command::Demo(args) = &cli.command {
        return demo::run(args, cli.data_dir.clone(), out).await;
    }
    let cfg = Config::load(cli.config.as_deref(), &cli.overrides())?;
    if let Some(f) = cfg.file() {
        tracing::info!(file = %f.display(), "configuration loaded");
    }
    let secrets = app::secret_provider(&cfg).await?;
    match &cli.command {
        Command::Setup(a) => {
            let client = app::client(&cfg, secrets.as_ref()).await?;
            let stores = if a.dry_run {
                None
            } else {
                Some(app::stores(&cfg, &secrets).await?)
            };
            commands::setup(&cfg, &client, stores.as_ref(), a.dry_run, out).await
        }
        Command::Verify => {
            let client = app::client(&cfg, secrets.as_ref()).await?;
            // Only the BigQuery sink has tables to check without changing anything.
            let stores = if cfg.sink.kind == crate::config::SinkKind::Bigquery {
                Some(app::stores(&cfg, &secrets).await?)
            } else {
                None
            };
            commands::verify(&cfg, &client, stores.as_ref(), out).await
        }
        Command::Pull(a) => one_run(&cfg, secrets, RunMode::Pull, &a.request(), out).await,
        Command::Push(a) => one_run(&cfg, secrets, RunMode::Push, &a.request(), out).await,
        Command::Sync(a) => one_run(&cfg, secrets, RunMode::Sync, &a.request(), out).await,
        Command::Watch(a) => watch::run(&cfg, secrets, a, out).await,
        Command::Status(a) => {
            let stores = app::stores(&cfg, &secrets).await?;
            commands::status(&stores.state, a.limit, out).await
        }
        Command::Audit(a) => {
            let stores = app::stores(&cfg, &secrets).await?;
            let q = AuditQuery {
                run_id: a.run_id.clone(),
                entity: a.entity.clone(),
                key: a.key.clone(),
                since: a.since,
                until: a.until,
                limit: Some(a.limit),
            };
            commands::audit(&stores.state, &q, out).await
        }
        Command::Demo(_) => unreachable!("handled above"),
    }
}

async fn one_run(
    cfg: &Config,
    secrets: Arc<dyn twenty_sync_core::SecretProvider>,
    mode: RunMode,
    req: &RunRequest,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let client = app::client(cfg, secrets.as_ref()).await?;
    let mapping = app::mapping(cfg)?;
    let stores = app::stores(cfg, &secrets).await?;
    let progress = out.progress();
    let engine = app::engine(
        cfg,
        client,
        &mapping,
        &stores,
        secrets,
        Some(progress.sink()),
    )?;
    commands::run_once(&engine, mode, req, out, Some(&progress)).await
}
