//! `watch`: a polling loop over the configured schedule, until Ctrl-C (or `--max-runs`).

use std::sync::Arc;
use std::time::Duration;

use twenty_sync_core::{RunMode, SecretProvider};

use super::app::{self, CliError};
use super::commands::{self, RunRequest};
use super::output::Output;
use super::{ExitStatus, WatchArgs};
use crate::config::{Config, ModeName};

fn mode_of(cfg: &Config, args: &WatchArgs) -> Result<RunMode, CliError> {
    let name = match &args.mode {
        None => cfg.schedule.mode,
        Some(m) => match m.as_str() {
            "pull" => ModeName::Pull,
            "push" => ModeName::Push,
            "sync" => ModeName::Sync,
            other => {
                return Err(CliError::Config(crate::config::ConfigError::new(
                    crate::config::Origin::Flag("--mode".into()),
                    "schedule.mode",
                    format!("`{other}` is not a mode; expected pull, push or sync"),
                )));
            }
        },
    };
    Ok(match name {
        ModeName::Pull => RunMode::Pull,
        ModeName::Push => RunMode::Push,
        ModeName::Sync => RunMode::Sync,
    })
}

/// Runs the loop. Each run prints its summary (or one JSON line); a run that fails is logged
/// and the loop goes on (the state is resumable). Returns the status of the last run.
pub async fn run(
    cfg: &Config,
    secrets: Arc<dyn SecretProvider>,
    args: &WatchArgs,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let mode = mode_of(cfg, args)?;
    let interval = Duration::from_secs(args.interval.unwrap_or(cfg.schedule.interval_secs).max(1));
    let listen = match &args.listen {
        Some(a) => Some(a.parse::<std::net::SocketAddr>().map_err(|e| {
            CliError::Config(crate::config::ConfigError::new(
                crate::config::Origin::Flag("--listen".into()),
                "webhook.listen",
                format!("`{a}` is not an address ({e}); expected IP:PORT such as 127.0.0.1:8080"),
            ))
        })?),
        None => cfg.listen_addr()?,
    };
    let client = app::client(cfg, secrets.as_ref()).await?;
    let mapping = app::mapping(cfg)?;
    let stores = app::stores(cfg, &secrets).await?;
    let progress = out.progress();
    let engine = Arc::new(app::engine(
        cfg,
        client,
        &mapping,
        &stores,
        Arc::clone(&secrets),
        Some(progress.sink()),
    )?);
    if let Some(addr) = listen {
        let bound = super::listen::serve(addr, super::listen::router(Arc::clone(&engine))).await?;
        out.line(format!(
            "listening on http://{bound}/ (POST /webhooks/twenty, GET /health)"
        ));
        out.json(&serde_json::json!({"command": "watch", "listening": bound.to_string()}));
    }
    let req = RunRequest {
        dry_run: args.dry_run,
        entities: if args.entities.is_empty() {
            cfg.schedule.entities.clone()
        } else {
            args.entities.clone()
        },
    };
    out.line(format!(
        "watching: {} every {} s{} (Ctrl-C to stop)",
        mode.as_str(),
        interval.as_secs(),
        if req.dry_run { ", dry run" } else { "" }
    ));
    let mut runs = 0u64;
    loop {
        let last = commands::run_once(&engine, mode, &req, out, Some(&progress)).await?;
        runs += 1;
        if args.max_runs.is_some_and(|m| runs >= m) {
            return Ok(last);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => {
                out.line("stopping (Ctrl-C)");
                return Ok(last);
            }
        }
    }
}
