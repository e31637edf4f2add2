//! The `twenty-sync` command line: setup, verify, pull, push, sync, watch, status, audit, demo.
//!
//! `cargo run --release -p examples --bin twenty-sync -- demo` runs the whole job against an
//! in-process Twenty simulator. The reference is `examples/CLI.md`; the code is
//! [`examples::cli`].

fn main() -> std::process::ExitCode {
    examples::cli::main()
}
