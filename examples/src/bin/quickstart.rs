//! The quickstart, kept as an alias of `twenty-sync demo` (same code, same output).
//!
//! `cargo run --release -p examples --bin quickstart [-- DATA_DIR]`

use std::process::ExitCode;

use examples::cli::demo::{self, DemoArgs};
use examples::cli::output::Output;

fn main() -> ExitCode {
    let data_dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let out = Output::new(false, false);
    out.init_logging(0, false);
    let args = DemoArgs {
        people: 200,
        no_rate_limit: false,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(demo::run(&args, data_dir, &out)) {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
