//! `assistant`: CRM operations for an AI assistant (search, create, update, follow-ups, context
//! bundles), dry run by default, every executed write audited. See examples/README.md.
//!
//! `cargo run -p examples --bin assistant -- --sim follow-ups --days 30`

use clap::Parser;
use examples::apps::assistant::{Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = async {
        let conn = cli.twenty.connect(50).await?;
        let out = run(&cli, conn.client.clone()).await?;
        if let Some(sim) = conn.sim {
            sim.shutdown().await;
        }
        Ok::<_, examples::apps::common::AppError>(out)
    }
    .await;
    match result {
        Ok(out) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&out).unwrap_or_else(|e| e.to_string())
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
