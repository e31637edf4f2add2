//! `org-members`: organisations and members from a JSON/JSONL file synced to Twenty companies and
//! people by a mapping file alone. See examples/README.md.
//!
//! `cargo run -p examples --bin org-members -- --sim --dry-run`

use clap::Parser;
use examples::apps::org_members::{Cli, problems_summary, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = async {
        let conn = cli.twenty.connect(20).await?;
        let out = run(&cli, conn.client.clone()).await?;
        if let Some(sim) = conn.sim {
            sim.shutdown().await;
        }
        Ok::<_, examples::apps::common::AppError>(out)
    }
    .await;
    match result {
        Ok(out) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).unwrap_or_else(|e| e.to_string())
                );
            }
            let mut partial = false;
            if let Some(problems) = problems_summary(&out) {
                eprintln!("input records not used:\n{problems}");
                partial = true;
            }
            let failures = out
                .report
                .as_ref()
                .unwrap_or(&out.dry_run_report)
                .failures
                .len();
            if failures > 0 {
                partial = true;
            }
            if out.prediction_held() == Some(false) {
                eprintln!(
                    "note: the run did not do exactly what the dry run predicted (Twenty changed in between?)"
                );
            }
            if partial {
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
