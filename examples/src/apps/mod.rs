//! Small apps for the common jobs, each a binary in `src/bin/` over this module (so the tests in
//! `tests/app_*.rs` run the same code), documented in `examples/README.md`:
//!
//! - [`warehouse`] (`warehouse-contacts`): contacts and businesses of a warehouse (Postgres, or
//!   BigQuery with the `bigquery` feature) mirrored into Twenty people and companies, with custom
//!   fields for category codes and JSON context, and edits made in Twenty flowing back;
//! - [`org_members`] (`org-members`): organisations and members from a JSON/JSONL file synced to
//!   companies and people by a JSON mapping file alone, with a dry run first;
//! - [`leads`] (`lead-import`): a CSV of leads imported with de-duplication by email and LinkedIn
//!   URL, tags in a multi-select, outreach actions as tasks; export back to CSV;
//! - [`assistant`] (`assistant`): search/create/update, follow-ups and context bundles for an AI
//!   assistant, dry run by default, every write audited.
//!
//! [`common`] holds what they share (connecting to Twenty or the in-process simulator, creating
//! a mapping's custom fields, errors with context).

pub mod assistant;
pub mod common;
pub mod leads;
pub mod org_members;
pub mod warehouse;
