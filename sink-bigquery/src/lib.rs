//! BigQuery implementation of twenty-sync-core's [`SourceOfTruth`](twenty_sync_core::SourceOfTruth).
//!
//! The typical user keeps canonical contacts and businesses in BigQuery and wants Twenty to mirror
//! them, with edits made in Twenty flowing back. [`BigQuerySink`] maps each entity to one table
//! (see [`BigQueryConfig`]) and:
//!
//! - **setup / verify** ([`BigQuerySink::setup`], [`BigQuerySink::verify`]): creates the dataset
//!   and tables from the mapping ([`BigQueryConfig::from_mapping`] derives them from a compiled
//!   `twenty-mapping` file; nested values as `JSON` columns, partitioned by day on the
//!   updated-at column, clustered on the key) and reports every difference of an existing table
//!   (missing column, wrong type, wrong mode, partitioning, clustering) as a [`SchemaReport`];
//! - **writes from pull** ([`apply`](twenty_sync_core::SourceOfTruth::apply)): streams the batch
//!   into a staging table with `tabledata.insertAll` (one deterministic `insertId` per row), then
//!   runs one `MERGE` into the target keyed on the local key, keeping the row with the newest
//!   updated-at. Replaying a batch never duplicates rows. Deletes set a tombstone column or remove
//!   the row and append to a deletes table ([`DeleteTracking`]), both `MERGE`s then running as one
//!   multi-statement transaction;
//! - **reads for push** ([`changes_since`](twenty_sync_core::SourceOfTruth::changes_since)): rows
//!   whose updated-at is after the checkpoint and older than a safety lag (data still in the
//!   streaming buffer), ordered by `(updated_at, key)`, in pages; the checkpoint is that pair;
//! - **cost awareness**: only mapped columns are selected, the updated-at bounds prune partitions,
//!   and `totalBytesProcessed` of every query is summed in [`BigQuerySink::bytes_processed`].
//!
//! The sink keeps no sync state of its own: `apply` returns
//! [`StateWritten::NotWritten`](twenty_sync_core::StateWritten::NotWritten) and the engine commits
//! the batch's state to the `StateStore` it is composed with (file, Postgres...) only after the
//! `MERGE` succeeded.
//!
//! REST calls go through [`gcp-bigquery-client`](gcp_bigquery_client), whose base URL can point
//! at an emulator ([`BigQuerySinkBuilder::base_url`]); authentication is described in
//! [`Credentials`].
#![warn(missing_docs)]

mod api;
mod auth;
mod codec;
mod config;
mod feed;
mod load;
mod mapping;
mod schema;
mod sink;
mod sql;

pub use auth::Credentials;
pub use config::{BigQueryConfig, BqType, ColumnSpec, DeleteTracking, EntityTable, KeyType};
pub use schema::{SchemaDifference, SchemaReport, TableRole};
pub use sink::{BigQuerySink, BigQuerySinkBuilder, SetupReport};
