//! PostgreSQL implementation of twenty-sync-core's [`SourceOfTruth`](twenty_sync_core::SourceOfTruth)
//! and [`StateStore`](twenty_sync_core::StateStore).
//!
//! One [`PostgresSink`] serves as both: the engine's sync state lives in a state schema of the
//! same database as the data, so a pulled batch and the state recording it (ID map, per-record
//! state, cursor, audit entries) commit in one transaction. A crash leaves all of a batch or none.
//!
//! Design:
//! - **Driver**: `tokio-postgres` with a `deadpool-postgres` pool. A pulled batch of rows new to
//!   its table is written by one binary `COPY` (behind a savepoint: a row already there sends the
//!   batch to the upsert, see [`PostgresSink::apply_stats`]); otherwise by one
//!   `INSERT ... SELECT ... FROM unnest(<one typed array per column>) ON CONFLICT (key) DO UPDATE
//!   ... WHERE (row) IS DISTINCT FROM (new row)`, so unchanged rows are not rewritten (no dead
//!   tuples, no trigger noise). Its state goes in by one array statement per state table (the
//!   record states of a batch copied whole by a binary COPY first, see
//!   [`ApplyStats::inserted_states`]). The
//!   opt-in [`SinkConfig::async_pull_commit`] commits pulled batches without waiting for the WAL
//!   flush (trade-off documented there). TLS is rustls (ring).
//! - **State schema**: embedded, versioned migrations ([`MIGRATIONS`]) applied under an advisory
//!   lock; applying them twice is a no-op and concurrent starts are safe.
//! - **Tables**: each entity maps to a table ([`EntityTable`]) that is checked against the catalog
//!   at setup (a missing table or column is an error naming it), or created as a default table
//!   derived from the compiled mapping ([`EntityTable::from_plan`]).
//!   Identifiers from configuration are always quoted ([`quote_ident`]); values are always bind
//!   parameters.
//! - **Change capture** ([`CaptureMode`]): a trigger-fed outbox read in transaction order up to the
//!   oldest running transaction (nothing missed under concurrent writers), or a plain `updated_at`
//!   column with a safety window. Writes made by the sink's own apply are not captured.
//! - **Fleet**: leases with fencing tokens in the state schema make each workspace+entity scope
//!   exclusive across worker processes.
//! - **Secrets**: the connection string is a [`SecretString`](secrecy::SecretString) (or comes from
//!   a [`SecretProvider`](twenty_sync_core::SecretProvider)); it is redacted from every error and
//!   never shown by `Debug`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
//! # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
//! # let data = format!("{state}_data");
//! use std::sync::Arc;
//! use sink_postgres::{PostgresSink, SinkConfig};
//! use twenty_sync_core::{InMemorySecrets, SecretProvider, SourceOfTruth, StateStore};
//!
//! let config: SinkConfig = toml::from_str(r#"
//!     state_schema = "twenty_sync"
//!     [[entity]]
//!     entity = "people"
//!     table = "people"
//!     key_column = "id"
//!     create = true
//!     columns = [{ field = "name", column = "name", type = "jsonb" }]
//! "#)?;
//! # let mut config = config;
//! # config.state_schema = state.clone();
//! # config.entities[0].schema = data.clone();
//! let secrets: Arc<dyn SecretProvider> =
//!     Arc::new(InMemorySecrets::new().with_secret("DATABASE_URL", url)); // or EnvSecrets, ...
//! let sink = PostgresSink::builder(config).secret_provider(secrets).build().await?;
//! let source: Arc<dyn SourceOfTruth> = Arc::new(sink.clone());
//! let state_store: Arc<dyn StateStore> = Arc::new(sink.clone());
//! assert!(source.known_empty("people").await?);
//! assert!(state_store.known_empty("people").await?);
//! # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

mod apply;
mod audit;
mod capture;
mod config;
mod connect;
mod error;
mod ident;
mod mapping;
mod migrate;
mod sink;
mod state;
mod table;
#[cfg(test)]
mod test_db;
mod value;

pub use config::{CaptureMode, ColumnMap, ColumnType, EntityTable, SinkConfig, TlsConfig};
pub use ident::{quote_ident, quote_qualified};
pub use migrate::{MIGRATIONS, Migration};
pub use sink::{ApplyStats, PostgresSink, PostgresSinkBuilder};
