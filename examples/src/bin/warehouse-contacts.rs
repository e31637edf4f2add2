//! `warehouse-contacts`: contacts and businesses from a warehouse (Postgres, or BigQuery with the
//! `bigquery` feature) mirrored into Twenty people and companies, edits in Twenty flowing back.
//! See examples/README.md.
//!
//! `cargo run -p examples --bin warehouse-contacts -- --sim demo` (needs DATABASE_URL)

use clap::Parser;
use examples::apps::warehouse::{Cli, main_with};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match main_with(Cli::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
