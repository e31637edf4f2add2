//! End-to-end benchmark harness of twenty-sync.
//!
//! `cargo run -p benches --release -- all` runs every scenario and writes the figures, with the
//! machine's description and the command, to `benches/RESULTS.md`. `-- paging [N]` runs one.

mod machine;
mod results;
mod scenarios;

use std::process::ExitCode;

const USAGE: &str = "usage: benches <all | paging [PEOPLE]>";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("all") => paging(100_000).await,
        Some("paging") => match args.get(1).map(|n| n.parse::<usize>()) {
            None => paging(100_000).await,
            Some(Ok(n)) if n > 0 => paging(n).await,
            Some(_) => Err(format!("PEOPLE must be a positive number\n{USAGE}").into()),
        },
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benches: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn paging(people: usize) -> Result<(), Box<dyn std::error::Error>> {
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
        "## Client paging (twenty-client over twenty-sim on loopback)\n\n\
         Command: `cargo run -p benches --release -- paging {people}` — {date}, {machine}.\n\n\
         - {line}\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        machine = machine::describe()
    );
    results::write_section(&results::results_path(), "paging", &body)?;
    Ok(())
}
