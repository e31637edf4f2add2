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

pub mod admin;
pub mod apps;
pub mod cli;
pub mod config;
