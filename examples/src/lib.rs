//! Reference applications for twenty-sync, as a library so that the binaries in `src/bin/` and the
//! tests in `tests/` share one implementation.
//!
//! - [`config`]: the `twenty-sync` configuration file (TOML) with environment overrides;
//! - [`cli`]: the `twenty-sync` command line (setup, verify, pull, push, sync, watch, status,
//!   audit, demo);
//! - [`admin`]: the admin HTTP server (status, runs, trigger, audit, Twenty webhooks) and its page;
//! - [`apps`]: small apps for the common jobs (warehouse contacts, organisations and members,
//!   lead import, assistant operations).
#![warn(missing_docs)]

/// The allocator of every binary built from this crate (the CLI, the admin server, the apps).
///
/// Syncing is allocation-heavy (every decoded record, mapped value and key is a small heap
/// object), and mimalloc serves small allocations in far fewer instructions than glibc's malloc:
/// the mapping benchmark runs 15% to 55% faster with it, the pull into the file store about 35%
/// (benches/RESULTS.md). Only binaries pick an allocator; the library crates never do, so an
/// application that embeds them keeps its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod apps;
pub mod cli;
pub mod config;
