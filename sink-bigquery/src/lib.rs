//! BigQuery implementation of twenty-sync-core's `SourceOfTruth`.
//!
//! Not built yet: this crate is a member of the workspace so the dependency direction is fixed
//! from the start (sinks depend on the core, never on each other). See the BigQuery sink issue.
