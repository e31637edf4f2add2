//! `lead-import`: import a CSV of leads into Twenty (de-duplicated by email and LinkedIn URL,
//! tags in a multi-select, outreach actions as tasks) and export back to CSV. See
//! examples/README.md.
//!
//! `cargo run -p examples --bin lead-import -- --sim import examples/apps/leads/leads.csv --dry-run`

use clap::Parser;
use examples::apps::leads::{Cli, Command, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = async {
        let conn = cli.twenty.connect(20).await?;
        if conn.sim.is_some() && matches!(cli.command, Command::Import { .. }) {
            // The simulator starts empty of custom fields: create them as `setup` would.
            let setup = Cli {
                command: Command::Setup {
                    csv: match &cli.command {
                        Command::Import { csv, .. } => Some(csv.clone()),
                        _ => None,
                    },
                    dry_run: false,
                },
                ..cli.clone()
            };
            run(&setup, conn.client.clone()).await?;
        }
        let out = run(&cli, conn.client.clone()).await?;
        if let Some(sim) = conn.sim {
            sim.shutdown().await;
        }
        Ok::<_, examples::apps::common::AppError>(out)
    }
    .await;
    match result {
        Ok(out) => {
            if !matches!(cli.command, Command::Export { out: None, .. }) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).unwrap_or_else(|e| e.to_string())
                );
            }
            let rejected = out["rejected"].as_array().map_or(0, Vec::len)
                + out["failed"].as_array().map_or(0, Vec::len);
            if rejected > 0 {
                eprintln!("{rejected} row(s) not imported (see `rejected` and `failed`)");
                std::process::ExitCode::from(3)
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
