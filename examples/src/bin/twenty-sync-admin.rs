//! `twenty-sync-admin`: the admin server (see `examples::admin` and examples/ADMIN.md).
//!
//! ```text
//! twenty-sync-admin [--config FILE] [--listen ADDR] [--people N]
//! ```
//!
//! With `--config`, it serves the engine the `twenty-sync` configuration describes; the admin
//! token is the secret named by `admin.token_secret` (default `TWENTY_SYNC_ADMIN_TOKEN`) and
//! `schedule.interval_secs` drives a polling loop. Without it, it runs on the embedded default:
//! an in-process Twenty simulator with `--people` seeded people (default 200), the quickstart
//! mapping and a file store in a temporary directory; the token is `TWENTY_SYNC_ADMIN_TOKEN` if
//! set, else a random one generated and printed once (only in this no-account mode).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use examples::admin::{AdminState, serve};
use examples::cli::app::{self, CliError};
use examples::config::Config;
use secrecy::SecretString;
use twenty_sync_core::engine::EntityMapper;
use twenty_sync_core::{InMemorySecrets, PlanMapper, RunMode, SecretChain, SecretProvider};

const DEMO_MAPPING: &str = include_str!("../../quickstart/contacts.toml");
const DEMO_KEY: &str = "admin-demo-key";

/// The admin server of twenty-sync.
#[derive(Debug, Parser)]
#[command(name = "twenty-sync-admin", version)]
struct Args {
    /// The twenty-sync configuration file; without it, the embedded default (a simulator).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seeded people in the embedded simulator (no --config only).
    #[arg(long, default_value_t = 200)]
    people: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), CliError> {
    // Kept alive for the server's lifetime in the embedded mode.
    let mut _sim = None;
    let mut _dir = None;
    let (config_path, secrets, generated_token): (PathBuf, Arc<dyn SecretProvider>, bool) =
        match &args.config {
            Some(path) => {
                let cfg = Config::load(Some(path), &[])?;
                (path.clone(), app::secret_provider(&cfg).await?, false)
            }
            None => {
                let sim = twenty_sim::SimServer::start(
                    twenty_sim::SimConfig::new(DEMO_KEY).seed_people(args.people),
                )
                .await
                .map_err(|e| CliError::failed(format!("cannot start the simulator: {e}")))?;
                let dir = tempfile::tempdir().map_err(|e| {
                    CliError::failed(format!("cannot create a data directory: {e}"))
                })?;
                std::fs::write(dir.path().join("contacts.toml"), DEMO_MAPPING)
                    .map_err(|e| CliError::failed(format!("cannot write the mapping: {e}")))?;
                let path = dir.path().join("twenty-sync.toml");
                std::fs::write(
                    &path,
                    format!(
                        "mapping = \"contacts.toml\"\n[twenty]\nurl = \"{}\"\n[sink]\nkind = \"file\"\n[sink.file]\ndir = \"data\"\n",
                        sim.base_url()
                    ),
                )
                .map_err(|e| CliError::failed(format!("cannot write the configuration: {e}")))?;
                let memory = InMemorySecrets::new().with_secret("TWENTY_API_KEY", DEMO_KEY);
                let generated = std::env::var("TWENTY_SYNC_ADMIN_TOKEN").is_err();
                if generated {
                    memory.insert(
                        "TWENTY_SYNC_ADMIN_TOKEN",
                        uuid::Uuid::new_v4().simple().to_string(),
                    );
                }
                // The simulator's key first (TWENTY_API_KEY in the environment must not
                // override it), then the environment for TWENTY_SYNC_ADMIN_TOKEN.
                let chain = SecretChain::new()
                    .with(memory)
                    .with(twenty_sync_core::EnvSecrets::new());
                println!(
                    "embedded default: Twenty simulator on {} with {} people, data in {}",
                    sim.base_url(),
                    args.people,
                    dir.path().display()
                );
                _sim = Some(sim);
                _dir = Some(dir);
                (path, Arc::new(chain), generated)
            }
        };
    let cfg = Config::load(Some(&config_path), &[])?;
    let client = app::client(&cfg, secrets.as_ref()).await?;
    let mapping = app::mapping(&cfg)?;
    let stores = app::stores(&cfg, &secrets).await?;
    let entities: Vec<String> = PlanMapper::all(&mapping)
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let engine = Arc::new(app::engine(
        &cfg,
        client,
        &mapping,
        &stores,
        Arc::clone(&secrets),
        None,
    )?);
    let token: SecretString =
        app::require_secret(secrets.as_ref(), &cfg.admin.token_secret, "admin token").await?;
    let state = AdminState::new(engine, entities, token.clone()).poll_interval(cfg.interval());
    state.spawn_polling(RunMode::Sync);
    let (bound, task) = serve(args.listen, state)
        .await
        .map_err(|e| CliError::failed(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("admin server on http://{bound}/");
    if generated_token {
        use secrecy::ExposeSecret;
        // Only in the embedded, no-account mode: there is no other way to learn this token.
        println!(
            "generated admin token (set TWENTY_SYNC_ADMIN_TOKEN to choose one): {}",
            token.expose_secret()
        );
    }
    tokio::select! {
        _ = task => Err(CliError::failed("the admin server stopped")),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
