//! [`PostgresSink`]: one value that is both the [`SourceOfTruth`] and the [`StateStore`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use futures::stream::{self, BoxStream, StreamExt};
use secrecy::SecretString;
use tokio_postgres::types::{ToSql, Type};
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;
use twenty_sync_core::{
    ApplyBatch, AuditEntry, AuditQuery, Checkpoint, Lease, Linked, LocalChange, LocalRecord,
    PendingCreate, RecordState, RunReport, RunStatus, SecretProvider, SourceOfTruth, StateCommit,
    StateStore, StateWritten, StoreError, StoreErrorKind, StoreResult, SyncDirection,
};

use crate::capture;
use crate::config::{CaptureMode, EntityTable, SinkConfig, TlsConfig};
use crate::error::{Redactor, config};
use crate::ident::quote_ident;
use crate::state::{StateSql, record_from_row, record_from_row_at, write_commit};
use crate::table::{self, DecodedRow, TableInfo};
use crate::{apply, audit, connect, migrate};

/// Shared by every clone of a [`PostgresSink`].
pub(crate) struct Inner {
    pub pool: Pool,
    pub redactor: Redactor,
    pub state_schema: String,
    pub sql: StateSql,
    pub tables: HashMap<String, Arc<TableInfo>>,
    pub page_size: usize,
    pub write_state_on_apply: bool,
    pub pull_durability: apply::Durability,
}

impl Inner {
    pub(crate) async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| self.redactor.pool(&e))
    }
}

/// The PostgreSQL sink: the engine's [`SourceOfTruth`] *and* [`StateStore`], sharing one pool.
///
/// Pulled batches are applied with the batch's state in one transaction
/// ([`StateWritten::Written`]), so data and sync state can never disagree after a crash. Cheap to
/// clone; hand the same value (or clones, or `Arc`s) to the engine as source and as state store.
///
/// Build one with [`PostgresSink::builder`] (a hosted database takes a connection string with
/// `sslmode=require`, see [`TlsConfig`]):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
/// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
/// # let data = format!("{state}_data");
/// use secrecy::SecretString;
/// use serde_json::json;
/// use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
/// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit, StateWritten};
///
/// let sink = PostgresSink::builder(SinkConfig::default())
///     .connection_string(SecretString::from(url)) // e.g. postgres://sync@127.0.0.1/crm
///     .state_schema(&state)
///     .entity(EntityTable::new("people", &data, "people", "id")
///         .column(ColumnMap::new("name", ColumnType::Jsonb))
///         .create(true))
///     .build()
///     .await?;
/// let change = InboundChange {
///     key: "p-1".into(),
///     twenty_id: "6f1c2c62-0000-4000-8000-000000000001".into(),
///     kind: InboundChangeKind::Upsert { data: json!({"name": {"firstName": "Ada"}}) },
///     twenty_updated_at: None,
/// };
/// let batch = ApplyBatch { entity: "people".into(), changes: vec![change], state: StateCommit::new("people") };
/// assert_eq!(sink.apply(&batch).await?, StateWritten::Written);
/// let rows = sink.get("people", &["p-1".to_owned()]).await?;
/// assert_eq!(rows[0].data["name"]["firstName"], "Ada");
/// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct PostgresSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("state_schema", &self.inner.state_schema)
            .field("entities", &self.inner.tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

enum ConnectionSource {
    Url(SecretString),
    Provider(Arc<dyn SecretProvider>),
}

/// Builds a [`PostgresSink`]: connection, pool, migrations, tables and capture triggers.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
/// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
/// # let data = format!("{state}_data");
/// use secrecy::SecretString;
/// use sink_postgres::{PostgresSink, SinkConfig};
///
/// let builder = PostgresSink::builder(SinkConfig::default())
///     .connection_string(SecretString::from(url))
///     .state_schema(&state)
///     .max_connections(4);
/// // Debug shows the settings, never the connection string.
/// assert!(format!("{builder:?}").contains("connection string (redacted)"));
/// let sink = builder.build().await?;
/// assert_eq!(sink.state_schema(), state);
/// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct PostgresSinkBuilder {
    config: SinkConfig,
    connection: Option<ConnectionSource>,
    write_state_on_apply: bool,
}

impl std::fmt::Debug for PostgresSinkBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connection = match &self.connection {
            None => "unset".to_owned(),
            Some(ConnectionSource::Url(_)) => "connection string (redacted)".to_owned(),
            Some(ConnectionSource::Provider(p)) => format!("secret from {}", p.describe()),
        };
        f.debug_struct("PostgresSinkBuilder")
            .field("config", &self.config)
            .field("connection", &connection)
            .finish()
    }
}

impl PostgresSinkBuilder {
    /// Uses this connection string (URL or `key=value` form; `sslmode` picks TLS).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// // Nothing listens on port 1: the error says so without showing the password.
    /// let url = SecretString::from("postgres://sync:fake-password@127.0.0.1:1/crm?sslmode=disable");
    /// let err = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(url)
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(!err.to_string().contains("fake-password"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn connection_string(mut self, url: SecretString) -> Self {
        self.connection = Some(ConnectionSource::Url(url));
        self
    }

    /// Resolves the connection string from `provider`, under the name in
    /// [`SinkConfig::connection_secret`] (default `DATABASE_URL`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use std::sync::Arc;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    /// use twenty_sync_core::InMemorySecrets;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("DATABASE_URL", url.as_str());
    /// let config = SinkConfig { state_schema: state.clone(), ..SinkConfig::default() };
    /// let sink = PostgresSink::builder(config.clone())
    ///     .secret_provider(Arc::new(secrets.clone()))
    ///     .build()
    ///     .await?;
    /// assert_eq!(secrets.lookups(), 1);
    /// // A secret missing from the provider is a configuration error naming it.
    /// let missing = SinkConfig { connection_secret: "CRM_DB".into(), ..config };
    /// let err = PostgresSink::builder(missing).secret_provider(Arc::new(secrets)).build().await.unwrap_err();
    /// assert!(err.to_string().contains("CRM_DB"));
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn secret_provider(mut self, provider: Arc<dyn SecretProvider>) -> Self {
        self.connection = Some(ConnectionSource::Provider(provider));
        self
    }

    /// Adds an entity -> table mapping.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .entity(EntityTable::new("people", &data, "people", "id")
    ///         .column(ColumnMap::new("name", ColumnType::Text))
    ///         .create(true))
    ///     .build()
    ///     .await?;
    /// let client = sink.pool().get().await?;
    /// let table: Option<String> =
    ///     client.query_one(&format!("SELECT to_regclass('{data}.people')::text"), &[]).await?.get(0);
    /// assert!(table.is_some(), "the default table was created");
    /// assert!(sink.apply_stats("people").is_some());
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn entity(mut self, table: EntityTable) -> Self {
        self.config.entities.push(table);
        self
    }

    /// Sets the state schema name.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .build()
    ///     .await?;
    /// assert_eq!(sink.state_schema(), state);
    /// let client = sink.pool().get().await?;
    /// let found: i64 = client
    ///     .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = $1", &[&state])
    ///     .await?
    ///     .get(0);
    /// assert_eq!(found, 1, "the state schema was created");
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn state_schema(mut self, schema: impl Into<String>) -> Self {
        self.config.state_schema = schema.into();
        self
    }

    /// Sets the pool size (default 8). At least 2 lets a pull look up its next pages while it
    /// commits, at least 3 lets it commit two batches at once
    /// ([`concurrent_applies`](twenty_sync_core::SourceOfTruth::concurrent_applies)); the sink
    /// opens up to three connections at [`build`](Self::build).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .max_connections(2)
    ///     .build()
    ///     .await?;
    /// assert_eq!(sink.pool().status().max_size, 2);
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }

    /// Sets the page size of change feeds.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use futures::TryStreamExt;
    /// use secrecy::SecretString;
    /// use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .entity(EntityTable::new("people", &data, "people", "id")
    ///         .column(ColumnMap::new("name", ColumnType::Text))
    ///         .create(true))
    ///     .page_size(2)
    ///     .build()
    ///     .await?;
    /// // Rows written by the application itself are captured for push.
    /// let client = sink.pool().get().await?;
    /// client.batch_execute(&format!("INSERT INTO {data}.people (id, name) VALUES ('a', 'A'), ('b', 'B'), ('c', 'C')")).await?;
    /// // The feed reads pages of two rows, and yields every change. It reads a change once every
    /// // transaction older than it has ended (so it never skips a write still in flight): on a
    /// // busy server the insert may take a moment to show.
    /// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    /// let changes = loop {
    ///     let changes: Vec<_> = sink.changes_since("people", None).await?.try_collect().await?;
    ///     if changes.len() == 3 || std::time::Instant::now() > deadline {
    ///         break changes;
    ///     }
    ///     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    /// };
    /// let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    /// assert_eq!(keys, ["a", "b", "c"]);
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn page_size(mut self, n: usize) -> Self {
        self.config.page_size = n;
        self
    }

    /// Sets the TLS options.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig, TlsConfig};
    ///
    /// let tls = TlsConfig { webpki_roots: false, ca_file: Some("/nonexistent/private-ca.pem".into()) };
    /// let url = format!("{url}{}sslmode=require", if url.contains('?') { '&' } else { '?' });
    /// // With `sslmode=require`, the CA file is read when the sink is built.
    /// let err = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .tls(tls)
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/private-ca.pem"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = tls;
        self
    }

    /// Commits pulled batches without waiting for the WAL flush; see
    /// [`SinkConfig::async_pull_commit`] for the trade-off. Default `false`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// let builder = || {
    ///     PostgresSink::builder(SinkConfig::default())
    ///         .connection_string(SecretString::from(url.clone()))
    ///         .state_schema(&state)
    ///         .async_pull_commit(true)
    /// };
    /// // Only allowed when the batch's state is written with its data.
    /// assert!(builder().write_state_on_apply(false).build().await.is_err());
    /// let sink = builder().build().await?;
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn async_pull_commit(mut self, yes: bool) -> Self {
        self.config.async_pull_commit = yes;
        self
    }

    /// Whether [`SourceOfTruth::apply`] writes the batch's state in the same transaction
    /// (default `true`). Set `false` only when the engine's `StateStore` is *not* this sink.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, StateCommit};
    /// # let upsert = |key: &str, name: &str| InboundChange { key: key.into(), twenty_id: format!("tw-{key}"), kind: InboundChangeKind::Upsert { data: serde_json::json!({"name": name}) }, twenty_updated_at: None };
    /// # let batch = |changes: Vec<InboundChange>| ApplyBatch { entity: "people".into(), changes, state: StateCommit::new("people") };
    /// use twenty_sync_core::{SourceOfTruth, StateWritten};
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .entity(EntityTable::new("people", &data, "people", "id")
    ///         .column(ColumnMap::new("name", ColumnType::Text))
    ///         .create(true))
    ///     .write_state_on_apply(false)
    ///     .build()
    ///     .await?;
    /// let written = sink.apply(&batch(vec![upsert("p-1", "Ada")])).await?;
    /// assert_eq!(written, StateWritten::NotWritten, "the engine commits the state elsewhere");
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn write_state_on_apply(mut self, yes: bool) -> Self {
        self.write_state_on_apply = yes;
        self
    }

    /// Connects, migrates the state schema, checks (or creates) every entity's table and installs
    /// the capture triggers, all under one setup lock (concurrent starts are safe). Two more
    /// pooled connections open meanwhile, as far as `max_connections` allows.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{EntityTable, PostgresSink, SinkConfig};
    ///
    /// // Settings are checked before connecting.
    /// let no_url = PostgresSink::builder(SinkConfig::default()).build().await;
    /// assert!(no_url.is_err());
    /// let builder = || {
    ///     PostgresSink::builder(SinkConfig::default())
    ///         .connection_string(SecretString::from(url.clone()))
    ///         .state_schema(&state)
    /// };
    /// // An existing table is checked against the catalog: a missing one is an error naming it.
    /// let missing = builder().entity(EntityTable::new("people", &data, "people", "id")).build().await;
    /// assert!(missing.unwrap_err().to_string().contains("people"));
    /// let sink = builder().build().await?;
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn build(self) -> StoreResult<PostgresSink> {
        let cfg = self.config;
        let url = match self.connection {
            Some(ConnectionSource::Url(u)) => u,
            Some(ConnectionSource::Provider(p)) => {
                p.resolve(&cfg.connection_secret).await?.ok_or_else(|| {
                    config(format!(
                        "postgres: secret {:?} not found in {}; provide the connection string \
                         under that name or set `connection_secret`",
                        cfg.connection_secret,
                        p.describe()
                    ))
                })?
            }
            None => {
                return Err(config(
                    "postgres: no connection string; call connection_string() or \
                     secret_provider() on the builder",
                ));
            }
        };
        if cfg.async_pull_commit && !self.write_state_on_apply {
            return Err(config(
                "postgres: async_pull_commit needs write_state_on_apply: with the state kept \
                 elsewhere, a batch lost in a server crash would be recorded as applied; turn \
                 one of them off",
            ));
        }
        crate::ident::check_ident(&cfg.state_schema, "state_schema")
            .map_err(|m| config(format!("postgres: {m}")))?;
        let mut seen = std::collections::HashSet::new();
        for t in &cfg.entities {
            t.check_identifiers().map_err(|m| {
                config(format!("postgres: {m}")).with_context("entity", t.entity.clone())
            })?;
            if !seen.insert(t.entity.as_str()) {
                return Err(config(format!(
                    "postgres: entity {:?} is configured twice; map each entity once",
                    t.entity
                )));
            }
        }
        let (pg, redactor) = connect::parse(&url)?;
        let pool = connect::pool(pg, &cfg.tls, cfg.max_connections, &redactor)?;
        let mut client = pool.get().await.map_err(|e| redactor.pool(&e))?;
        // Two more connections open while the setup runs on the first: a pull reads its next
        // pages on one while it commits on the others (two batches at once, see
        // `concurrent_applies`), and would otherwise wait inside its first run for them to open
        // (TLS included). Where one cannot open now, the pool tries again when it is needed.
        let spare = |needs: usize| {
            let pool = &pool;
            async move {
                if cfg.max_connections >= needs {
                    pool.get().await.ok()
                } else {
                    None
                }
            }
        };
        let (tables, _second, _third) =
            tokio::join!(setup(&mut client, &cfg, &redactor), spare(2), spare(3));
        let tables = tables?;
        drop(client);
        Ok(PostgresSink {
            inner: Arc::new(Inner {
                pool,
                redactor,
                sql: StateSql::new(&cfg.state_schema),
                state_schema: cfg.state_schema,
                tables,
                page_size: cfg.page_size.max(1),
                write_state_on_apply: self.write_state_on_apply,
                pull_durability: if cfg.async_pull_commit {
                    apply::Durability::Async
                } else {
                    apply::Durability::Durable
                },
            }),
        })
    }
}

/// The sink's setup on `client`, in one transaction: the state schema's migrations (under the
/// migration lock), each entity's default table where asked, its columns read, and its capture
/// installed. Returns each entity's table.
async fn setup(
    client: &mut Object,
    cfg: &SinkConfig,
    redactor: &Redactor,
) -> StoreResult<HashMap<String, Arc<TableInfo>>> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| redactor.db("starting setup", &e))?;
    migrate::lock(&tx, &cfg.state_schema, redactor).await?;
    migrate::run(&tx, &cfg.state_schema, redactor).await?;
    let mut tables = HashMap::new();
    for t in &cfg.entities {
        if t.create {
            tx.batch_execute(&table::create_ddl(t)).await.map_err(|e| {
                redactor
                    .db("creating the default table", &e)
                    .with_context("entity", t.entity.clone())
            })?;
        }
        let info = table::resolve(&tx, t, &cfg.state_schema, redactor).await?;
        if t.capture == CaptureMode::Outbox {
            table::install_capture(&tx, &info, &cfg.state_schema, redactor).await?;
        }
        tables.insert(t.entity.clone(), Arc::new(info));
    }
    tx.commit()
        .await
        .map_err(|e| redactor.db("committing setup", &e))?;
    Ok(tables)
}

/// How a [`PostgresSink`] wrote one entity's pulled rows ([`PostgresSink::apply_stats`]).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
/// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
/// # let data = format!("{state}_data");
/// # use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, StateCommit};
/// # let upsert = |key: &str, name: &str| InboundChange { key: key.into(), twenty_id: format!("tw-{key}"), kind: InboundChangeKind::Upsert { data: serde_json::json!({"name": name}) }, twenty_updated_at: None };
/// # let batch = |changes: Vec<InboundChange>| ApplyBatch { entity: "people".into(), changes, state: StateCommit::new("people") };
/// # use secrecy::SecretString;
/// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
/// # let sink = PostgresSink::builder(SinkConfig::default())
/// #     .connection_string(SecretString::from(url.clone()))
/// #     .state_schema(&state)
/// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
/// #     .build()
/// #     .await?;
/// use twenty_sync_core::SourceOfTruth;
///
/// // A first batch of rows new to an empty table goes in by COPY...
/// sink.apply(&batch(vec![upsert("p-1", "Ada"), upsert("p-2", "Grace")])).await?;
/// let stats = sink.apply_stats("people").unwrap();
/// assert_eq!((stats.copied_rows, stats.upserted_rows), (2, 0));
/// // ...changes to rows already there by an upsert.
/// sink.apply(&batch(vec![upsert("p-1", "Ada Lovelace")])).await?;
/// let stats = sink.apply_stats("people").unwrap();
/// assert_eq!(stats.copied_rows + stats.upserted_rows, 3);
/// assert!(stats.upserted_rows >= 1);
/// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyStats {
    /// Rows written by a binary COPY (new to the table).
    pub copied_rows: u64,
    /// Rows written by `INSERT ... ON CONFLICT DO UPDATE` (counted whether or not they changed).
    pub upserted_rows: u64,
    /// Batches whose COPY the server refused (a row already there, or another constraint) and
    /// that were upserted instead, in the same transaction.
    pub copy_fallbacks: u64,
    /// Record states written by a binary `COPY` (no `ON CONFLICT`) with a batch whose rows were
    /// all copied: the states of rows new to the table are almost surely new too.
    pub inserted_states: u64,
    /// Batches whose COPY of record states met one already there and that upserted their
    /// states instead, in the same transaction.
    pub state_insert_fallbacks: u64,
}

impl PostgresSink {
    /// A builder from non-secret settings; give it a connection string or a secret provider.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// let config: SinkConfig = toml::from_str(&format!(r#"state_schema = "{state}""#))?;
    /// let sink = PostgresSink::builder(config)
    ///     .connection_string(SecretString::from(url))
    ///     .build()
    ///     .await?;
    /// assert_eq!(sink.state_schema(), state);
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn builder(config: SinkConfig) -> PostgresSinkBuilder {
        PostgresSinkBuilder {
            config,
            connection: None,
            write_state_on_apply: true,
        }
    }

    /// The connection pool (for the application's own queries).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// # let sink = PostgresSink::builder(SinkConfig::default())
    /// #     .connection_string(SecretString::from(url.clone()))
    /// #     .state_schema(&state)
    /// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
    /// #     .build()
    /// #     .await?;
    /// let client = sink.pool().get().await?;
    /// client.execute(&format!("INSERT INTO {data}.people (id, name) VALUES ('p-1', 'Ada')"), &[]).await?;
    /// let name: String = client
    ///     .query_one(&format!("SELECT name FROM {data}.people WHERE id = $1"), &[&"p-1"])
    ///     .await?
    ///     .get(0);
    /// assert_eq!(name, "Ada");
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The shared state (statements, pool), for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The state schema's name.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{quote_ident, PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig { state_schema: state.clone(), ..SinkConfig::default() })
    ///     .connection_string(SecretString::from(url))
    ///     .build()
    ///     .await?;
    /// assert_eq!(sink.state_schema(), state);
    /// // For the application's own queries of the sync state:
    /// let sql = format!("SELECT count(*) FROM {}.record_state", quote_ident(sink.state_schema()));
    /// let n: i64 = sink.pool().get().await?.query_one(&sql, &[]).await?.get(0);
    /// assert_eq!(n, 0);
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn state_schema(&self) -> &str {
        &self.inner.state_schema
    }

    /// Applies any migrations not yet applied; returns their versions (empty: up to date).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// use secrecy::SecretString;
    /// use sink_postgres::{PostgresSink, SinkConfig};
    ///
    /// let sink = PostgresSink::builder(SinkConfig::default())
    ///     .connection_string(SecretString::from(url))
    ///     .state_schema(&state)
    ///     .build()
    ///     .await?;
    /// // `build` already migrated the state schema: nothing left to apply.
    /// assert_eq!(sink.migrate().await?, Vec::<i32>::new());
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn migrate(&self) -> StoreResult<Vec<i32>> {
        let inner = &self.inner;
        let mut client = inner.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| inner.redactor.db("starting migration", &e))?;
        migrate::lock(&tx, &inner.state_schema, &inner.redactor).await?;
        let applied = migrate::run(&tx, &inner.state_schema, &inner.redactor).await?;
        tx.commit()
            .await
            .map_err(|e| inner.redactor.db("committing migration", &e))?;
        Ok(applied)
    }

    /// How this sink has written `entity`'s pulled rows so far (`None` for an entity without a
    /// table): rows new to the table go in by one binary COPY per batch, the others by
    /// `INSERT ... ON CONFLICT DO UPDATE`. Once a COPY meets a row that is already in the table,
    /// the sink upserts that entity's batches for the rest of its life.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, StateCommit};
    /// # let upsert = |key: &str, name: &str| InboundChange { key: key.into(), twenty_id: format!("tw-{key}"), kind: InboundChangeKind::Upsert { data: serde_json::json!({"name": name}) }, twenty_updated_at: None };
    /// # let batch = |changes: Vec<InboundChange>| ApplyBatch { entity: "people".into(), changes, state: StateCommit::new("people") };
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// # let sink = PostgresSink::builder(SinkConfig::default())
    /// #     .connection_string(SecretString::from(url.clone()))
    /// #     .state_schema(&state)
    /// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
    /// #     .build()
    /// #     .await?;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert_eq!(sink.apply_stats("people").unwrap().copied_rows, 0);
    /// sink.apply(&batch(vec![upsert("p-1", "Ada")])).await?;
    /// if let Some(stats) = sink.apply_stats("people") {
    ///     println!("{} copied, {} upserted", stats.copied_rows, stats.upserted_rows);
    ///     assert_eq!(stats.copied_rows + stats.upserted_rows, 1);
    /// }
    /// assert!(sink.apply_stats("companies").is_none(), "no table configured");
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn apply_stats(&self, entity: &str) -> Option<ApplyStats> {
        let t = self.inner.tables.get(entity)?;
        Some(ApplyStats {
            copied_rows: t.stats.copied_rows.load(Ordering::Relaxed),
            upserted_rows: t.stats.upserted_rows.load(Ordering::Relaxed),
            copy_fallbacks: t.stats.copy_fallbacks.load(Ordering::Relaxed),
            inserted_states: t.new_states.inserted.load(Ordering::Relaxed),
            state_insert_fallbacks: t.new_states.fallbacks.load(Ordering::Relaxed),
        })
    }

    fn table(&self, entity: &str) -> StoreResult<&Arc<TableInfo>> {
        self.inner.tables.get(entity).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::NotFound,
                format!(
                    "postgres: entity {entity:?} has no table configured; add an [[entity]] \
                     section for it"
                ),
            )
            .with_context("entity", entity)
        })
    }

    /// (Re)installs the outbox trigger of `entity`'s table.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// # let sink = PostgresSink::builder(SinkConfig::default())
    /// #     .connection_string(SecretString::from(url.clone()))
    /// #     .state_schema(&state)
    /// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
    /// #     .build()
    /// #     .await?;
    /// use futures::TryStreamExt;
    /// use twenty_sync_core::SourceOfTruth;
    ///
    /// assert_eq!(sink.remove_capture("people").await?, 1);
    /// sink.install_capture("people").await?;
    /// let client = sink.pool().get().await?;
    /// client.execute(&format!("INSERT INTO {data}.people (id, name) VALUES ('p-1', 'Ada')"), &[]).await?;
    /// // The feed shows a change once every transaction older than it has ended.
    /// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    /// let changes = loop {
    ///     let changes: Vec<_> = sink.changes_since("people", None).await?.try_collect().await?;
    ///     if !changes.is_empty() || std::time::Instant::now() > deadline {
    ///         break changes;
    ///     }
    ///     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    /// };
    /// assert_eq!(changes.len(), 1, "the reinstalled trigger captured the insert");
    /// assert!(sink.install_capture("companies").await.is_err(), "no table configured");
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn install_capture(&self, entity: &str) -> StoreResult<()> {
        let info = self.table(entity)?.clone();
        let inner = &self.inner;
        let mut client = inner.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| inner.redactor.db("starting setup", &e))?;
        migrate::lock(&tx, &inner.state_schema, &inner.redactor).await?;
        table::install_capture(&tx, &info, &inner.state_schema, &inner.redactor).await?;
        tx.commit()
            .await
            .map_err(|e| inner.redactor.db("committing setup", &e))
    }

    /// Removes the outbox trigger from `entity`'s table (teardown). Returns how many triggers
    /// were dropped. Rows already in the outbox stay readable.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// # let sink = PostgresSink::builder(SinkConfig::default())
    /// #     .connection_string(SecretString::from(url.clone()))
    /// #     .state_schema(&state)
    /// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
    /// #     .build()
    /// #     .await?;
    /// let client = sink.pool().get().await?;
    /// let triggers = format!(
    ///     "SELECT count(*) FROM pg_trigger WHERE tgrelid = '{data}.people'::regclass AND NOT tgisinternal"
    /// );
    /// assert_eq!(client.query_one(&triggers, &[]).await?.get::<_, i64>(0), 1);
    /// assert_eq!(sink.remove_capture("people").await?, 1);
    /// assert_eq!(sink.remove_capture("people").await?, 0, "already removed");
    /// // No trigger is left on the table: its writes are no longer captured.
    /// assert_eq!(client.query_one(&triggers, &[]).await?.get::<_, i64>(0), 0);
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove_capture(&self, entity: &str) -> StoreResult<u32> {
        let info = self.table(entity)?.clone();
        let inner = &self.inner;
        let client = inner.client().await?;
        let n: i32 = client
            .query_one(
                &format!(
                    "SELECT {}.remove_capture($1::oid::regclass)",
                    quote_ident(&inner.state_schema)
                ),
                &[&info.oid],
            )
            .await
            .map_err(|e| {
                inner
                    .redactor
                    .db("removing the capture trigger", &e)
                    .with_context("entity", entity)
            })?
            .get(0);
        Ok(n.max(0) as u32)
    }

    /// Removes this state schema's capture triggers from every table (full teardown before
    /// dropping the state schema). Returns how many triggers were dropped.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
    /// # let data = format!("{state}_data");
    /// # use secrecy::SecretString;
    /// # use sink_postgres::{ColumnMap, ColumnType, EntityTable, PostgresSink, SinkConfig};
    /// # let sink = PostgresSink::builder(SinkConfig::default())
    /// #     .connection_string(SecretString::from(url.clone()))
    /// #     .state_schema(&state)
    /// #     .entity(EntityTable::new("people", &data, "people", "id").column(ColumnMap::new("name", ColumnType::Text)).create(true))
    /// #     .build()
    /// #     .await?;
    /// // Teardown: first the triggers on the data tables, then the state schema itself.
    /// assert_eq!(sink.remove_all_capture().await?, 1);
    /// let client = sink.pool().get().await?;
    /// client.batch_execute(&format!("DROP SCHEMA {state} CASCADE")).await?;
    /// // The data table is untouched and writable without the sink's functions.
    /// client.execute(&format!("INSERT INTO {data}.people (id, name) VALUES ('p-1', 'Ada')"), &[]).await?;
    /// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove_all_capture(&self) -> StoreResult<u32> {
        let inner = &self.inner;
        let client = inner.client().await?;
        let n: i32 = client
            .query_one(
                &format!(
                    "SELECT {}.remove_all_capture()",
                    quote_ident(&inner.state_schema)
                ),
                &[],
            )
            .await
            .map_err(|e| inner.redactor.db("removing capture triggers", &e))?
            .get(0);
        Ok(n.max(0) as u32)
    }

    fn describe_tables(&self) -> String {
        let mut parts: Vec<String> = self
            .inner
            .tables
            .values()
            .map(|t| format!("{} -> {}", t.entity(), t.qualified))
            .collect();
        parts.sort();
        format!("postgres tables [{}]", parts.join(", "))
    }

    /// [`SourceOfTruth::apply`] on the current task.
    async fn apply_here(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        let table = self.table(&batch.entity)?.clone();
        let inner = &self.inner;
        let mut client = inner.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| inner.redactor.db("starting the apply transaction", &e))?;
        let (durability, redactor) = (inner.pull_durability, &inner.redactor);
        let data = apply::DataWrite::prepare(&tx, &table, batch, redactor).await?;
        let written = if !inner.write_state_on_apply {
            data.write(&tx, durability, redactor).await?;
            StateWritten::NotWritten
        } else if data.copies() {
            // Nothing may follow a COPY on the connection before its answer.
            let new_rows = data.write(&tx, durability, redactor).await?;
            let new_states = new_rows.then_some(&table.new_states);
            write_commit(&tx, &inner.sql, &batch.state, redactor, new_states).await?;
            StateWritten::Written
        } else {
            // The state's statements go out behind the data's without waiting for their
            // answers; the data's statements are sent first, so their error is checked first.
            let (data, state) = tokio::join!(
                biased;
                data.write(&tx, durability, redactor),
                write_commit(&tx, &inner.sql, &batch.state, redactor, None)
            );
            data?;
            state?;
            StateWritten::Written
        };
        tx.commit().await.map_err(|e| {
            inner
                .redactor
                .db("committing the batch", &e)
                .with_context("entity", batch.entity.clone())
        })?;
        Ok(written)
    }
}

#[async_trait]
impl SourceOfTruth for PostgresSink {
    fn describe(&self) -> String {
        self.describe_tables()
    }

    /// A commit is one transaction whose cost follows its rows (a COPY or an upsert per table);
    /// a short pull's first pages commit while it reads on (see `benches/RESULTS.md`,
    /// 2026-12-06 17:45).
    fn commits_early(&self) -> bool {
        true
    }

    /// Two pulled batches at once, each a transaction on its own pooled connection, when the
    /// pool holds at least three connections (the third serves the pull's lookups meanwhile).
    /// Their rows never collide (the engine keeps batches that touch the same record apart);
    /// they meet on the cursor's row, which each updates last. Measured with `log_lock_waits`
    /// (`deadlock_timeout` 1 ms) over pulls of 2.2 million records in 1,100 batches: nine waits
    /// on that row (1.6-23 ms) and one on a table's extension lock, 48 ms in all
    /// (`benches/RESULTS.md`, 2026-12-07 03:15).
    fn concurrent_applies(&self) -> usize {
        if self.inner.pool.status().max_size >= 3 {
            2
        } else {
            1
        }
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        let table = self.table(entity)?.clone();
        match &table.config.capture {
            CaptureMode::Outbox => capture::outbox_feed(self.inner.clone(), table, checkpoint),
            CaptureMode::UpdatedAt { .. } => {
                capture::updated_at_feed(self.inner.clone(), table, checkpoint)
            }
            CaptureMode::None => Ok(stream::empty().boxed()),
        }
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        self.apply_here(batch).await
    }

    /// Runs the batch's statements on a task of their own: each round trip is taken up as soon
    /// as the server answers, instead of when the caller's task is next free (the engine maps
    /// the next pages on it meanwhile). Dropping the returned future aborts the task, and the
    /// transaction rolls back as it would on the caller's task.
    async fn apply_shared(&self, batch: Arc<ApplyBatch>) -> StoreResult<StateWritten> {
        let sink = self.clone();
        let task = AbortOnDropHandle::new(tokio::spawn(
            async move { sink.apply_here(&batch).await }.in_current_span(),
        ));
        match task.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!(
                    "postgres: the apply task was cancelled ({e}), most likely because the \
                     runtime is shutting down; the batch commits whole or not at all, so running \
                     the sync again continues from the last committed batch"
                ),
            )),
        }
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        let table = self.table(entity)?;
        let client = self.inner.client().await?;
        let row = client
            .query_one(&table.sql.is_empty, &[])
            .await
            .map_err(|e| {
                self.inner
                    .redactor
                    .db("checking whether the table is empty", &e)
                    .with_context("entity", entity)
            })?;
        Ok(row.get(0))
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        let table = self.table(entity)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.inner.client().await?;
        let rows = client
            .query_typed(&table.sql.select_by_keys, &[(&keys, Type::TEXT_ARRAY)])
            .await
            .map_err(|e| {
                self.inner
                    .redactor
                    .db("reading records", &e)
                    .with_context("entity", entity)
            })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(table.decode(row)?.into_live());
        }
        Ok(out)
    }

    /// One statement: the record states of the ids, each joined to the row of its local key.
    /// `None` when this sink does not write the engine's record states
    /// ([`PostgresSinkBuilder::write_state_on_apply`]) or has no table for `entity`.
    async fn linked_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Option<Vec<Linked>>> {
        let Some(table) = self.inner.tables.get(entity) else {
            return Ok(None);
        };
        if !self.inner.write_state_on_apply {
            return Ok(None);
        }
        if twenty_ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let client = self.inner.client().await?;
        let rows = client
            .query_typed(
                &table.sql.linked_by_twenty_id,
                &[(&entity, Type::TEXT), (&twenty_ids, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(|e| {
                self.inner
                    .redactor
                    .db("reading record states with their rows", &e)
                    .with_context("entity", entity)
            })?;
        // The state's columns follow the row's.
        let states_at = table.sql.row_columns;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(Linked {
                record: table.decode_joined(row)?.and_then(DecodedRow::into_live),
                state: record_from_row_at(row, states_at),
            });
        }
        Ok(Some(out))
    }
}

#[async_trait]
impl StateStore for PostgresSink {
    fn describe(&self) -> String {
        format!(
            "postgres state schema {}",
            quote_ident(&self.inner.state_schema)
        )
    }

    async fn commit(&self, commit: &StateCommit) -> StoreResult<()> {
        if commit.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let mut client = inner.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| inner.redactor.db("starting the state commit", &e))?;
        write_commit(&tx, &inner.sql, commit, &inner.redactor, None).await?;
        tx.commit()
            .await
            .map_err(|e| inner.redactor.db("committing state", &e))
    }

    async fn cursor(
        &self,
        entity: &str,
        direction: SyncDirection,
    ) -> StoreResult<Option<Checkpoint>> {
        let client = self.inner.client().await?;
        let rows = client
            .query_typed(
                &self.inner.sql.cursor,
                &[(&entity, Type::TEXT), (&direction.as_str(), Type::TEXT)],
            )
            .await
            .map_err(|e| self.inner.redactor.db("reading the cursor", &e))?;
        Ok(rows.first().map(|r| Checkpoint::new(r.get::<_, String>(0))))
    }

    async fn records(&self, entity: &str, local_keys: &[String]) -> StoreResult<Vec<RecordState>> {
        if local_keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.inner.client().await?;
        let rows = client
            .query_typed(
                &self.inner.sql.records,
                &[(&entity, Type::TEXT), (&local_keys, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(|e| self.inner.redactor.db("reading record states", &e))?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    async fn known_empty(&self, entity: &str) -> StoreResult<bool> {
        let client = self.inner.client().await?;
        let row = client
            .query_typed(&self.inner.sql.no_records, &[(&entity, Type::TEXT)])
            .await
            .map_err(|e| self.inner.redactor.db("checking for record states", &e))?;
        Ok(row.first().is_some_and(|r| r.get(0)))
    }

    async fn records_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        if twenty_ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.inner.client().await?;
        let rows = client
            .query_typed(
                &self.inner.sql.records_by_twenty_id,
                &[(&entity, Type::TEXT), (&twenty_ids, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(|e| self.inner.redactor.db("reading record states", &e))?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>> {
        let client = self.inner.client().await?;
        let rows = client
            .query(&self.inner.sql.pending, &[&entity])
            .await
            .map_err(|e| self.inner.redactor.db("reading pending creates", &e))?;
        Ok(rows
            .iter()
            .map(|r| PendingCreate {
                local_key: r.get(0),
                twenty_id: r.get(1),
                run_id: r.get(2),
                created_at: r.get(3),
            })
            .collect())
    }

    async fn save_run(&self, report: &RunReport) -> StoreResult<()> {
        let json = serde_json::to_value(report).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!("postgres: run report could not be serialised: {e}"),
            )
        })?;
        let status = json
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .to_owned();
        let params: [(&(dyn ToSql + Sync), Type); 4] = [
            (&report.run_id, Type::TEXT),
            (&report.started_at, Type::TIMESTAMPTZ),
            (&status, Type::TEXT),
            (&json, Type::JSONB),
        ];
        let client = self.inner.client().await?;
        let saved = if report.status == RunStatus::Running {
            // The record of a run in progress does not wait for the WAL flush: the run's next
            // durable commit (its lease, then each batch) flushes it too, since the WAL is
            // written in order. Lost in a server crash before that, it is rewritten when the
            // run saves its failure (see the README). A finished run's report waits for the
            // flush.
            execute_unflushed(&client, &self.inner.sql.save_run, &params).await
        } else {
            client
                .execute_typed(&self.inner.sql.save_run, &params)
                .await
        };
        saved.map_err(|e| {
            self.inner
                .redactor
                .db("saving the run report", &e)
                .with_context("run", report.run_id.clone())
        })?;
        Ok(())
    }

    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>> {
        let client = self.inner.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&self.inner.sql.runs, &[&limit])
            .await
            .map_err(|e| self.inner.redactor.db("listing runs", &e))?;
        rows.iter().map(|r| decode_report(r.get(0))).collect()
    }

    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>> {
        let client = self.inner.client().await?;
        let row = client
            .query_opt(&self.inner.sql.run, &[&run_id])
            .await
            .map_err(|e| self.inner.redactor.db("reading the run", &e))?;
        row.map(|r| decode_report(r.get(0))).transpose()
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let client = self.inner.client().await?;
        audit::read(&client, &self.inner.sql.audit, query, &self.inner.redactor).await
    }

    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let mut client = self.inner.client().await?;
        let params: [(&(dyn ToSql + Sync), Type); 3] = [
            (&scope, Type::TEXT),
            (&holder, Type::TEXT),
            (&ttl.as_secs_f64(), Type::FLOAT8),
        ];
        let failed = |e: tokio_postgres::Error| {
            self.inner
                .redactor
                .db("acquiring the lease", &e)
                .with_context("scope", scope)
        };
        // A renewal (the token stays) or a lease held by another holder is answered without
        // waiting for the commits in flight; only taking a free or expired scope (a new token)
        // locks the row `FOR UPDATE` first, and so waits for those still fenced by the old
        // token (their checks hold it `FOR KEY SHARE`).
        let live = client
            .query_typed(&self.inner.sql.renew_lease, &params)
            .await
            .map_err(failed)?;
        let row = match live.into_iter().next() {
            Some(r) if r.get::<_, bool>(4) => Some(r),
            Some(_) => None,
            None => {
                let tx = client.transaction().await.map_err(failed)?;
                tx.query_typed(&self.inner.sql.lock_lease, &[(&scope, Type::TEXT)])
                    .await
                    .map_err(failed)?;
                let row = tx
                    .query_typed(&self.inner.sql.acquire_lease, &params)
                    .await
                    .map(|rows| rows.into_iter().next())
                    .map_err(failed)?;
                tx.commit().await.map_err(failed)?;
                row
            }
        };
        Ok(row.map(|r| Lease {
            scope: r.get(0),
            holder: r.get(1),
            expires_at: r.get::<_, DateTime<Utc>>(2),
            token: r.get::<_, i64>(3).max(0) as u64,
        }))
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let token = i64::try_from(lease.token).unwrap_or(i64::MAX);
        let client = self.inner.client().await?;
        // Without waiting for the WAL flush: a release lost in a server crash leaves the lease
        // to expire at its time, as when the process holding it dies.
        execute_unflushed(
            &client,
            &self.inner.sql.release_lease,
            &[
                (&lease.scope, Type::TEXT),
                (&lease.holder, Type::TEXT),
                (&token, Type::INT8),
            ],
        )
        .await
        .map_err(|e| {
            self.inner
                .redactor
                .db("releasing the lease", &e)
                .with_context("scope", lease.scope.clone())
        })?;
        Ok(())
    }
}

/// Runs `stmt` in a transaction committed without waiting for the WAL flush (`SET LOCAL
/// synchronous_commit = off`): for bookkeeping whose loss in a server crash costs nothing
/// (see the callers). It becomes durable with the next durable commit of any session, or
/// within three `wal_writer_delay`s (600 ms by default).
///
/// The three requests (begin and setting, the statement with its parameter types, commit) go
/// out together and take one round trip: all are sent at the first poll, so the server runs
/// the whole transaction even if this future is dropped after it. When the statement fails,
/// the server turns the `COMMIT` of the aborted transaction into a rollback; its error is the
/// one returned.
async fn execute_unflushed(
    client: &Object,
    stmt: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<u64, tokio_postgres::Error> {
    let (begun, run, committed) = tokio::join!(
        biased;
        client.batch_execute("START TRANSACTION; SET LOCAL synchronous_commit = off"),
        client.execute_typed(stmt, params),
        client.batch_execute("COMMIT"),
    );
    begun?;
    let n = run?;
    committed?;
    Ok(n)
}

fn decode_report(v: serde_json::Value) -> StoreResult<RunReport> {
    serde_json::from_value(v).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("postgres: a stored run report could not be decoded: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test server's driver settings and the redactor of its connection string.
    fn test_server() -> (tokio_postgres::Config, Redactor) {
        connect::parse(&SecretString::from(crate::test_db::database_url()))
            .expect("a valid DATABASE_URL")
    }

    /// A connection from `pool`, or a failure that says how to point the tests at a server.
    async fn connection(pool: &Pool, redactor: &Redactor) -> Object {
        pool.get().await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test PostgreSQL ({}); set DATABASE_URL to a server the \
                 tests may write to",
                redactor.pool(&e)
            )
        })
    }

    /// The server process behind `client`; `what` names the connection in the failure.
    async fn backend_pid(client: &Object, what: &str) -> i32 {
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap_or_else(|e| panic!("{what} answers: {e}"))
            .get(0)
    }

    /// The bookkeeping written without waiting for the WAL flush runs with
    /// `synchronous_commit = off` for its own transaction only.
    #[tokio::test]
    async fn unflushed_bookkeeping_turns_synchronous_commit_off_for_its_transaction_only() {
        let (pg, redactor) = test_server();
        let pool = connect::pool(pg, &TlsConfig::default(), 1, &redactor).expect("a pool");
        let client = connection(&pool, &redactor).await;
        let table = format!(
            "unflushed_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        client
            .batch_execute(&format!("CREATE TEMP TABLE {table} (setting text)"))
            .await
            .expect("temp table");
        let session = "SELECT current_setting('synchronous_commit')";
        let before: String = client
            .query_one(session, &[])
            .await
            .expect("session setting")
            .get(0);
        let n = execute_unflushed(
            &client,
            &format!("INSERT INTO {table} VALUES (current_setting('synchronous_commit'))"),
            &[],
        )
        .await
        .expect("the statement runs");
        assert_eq!(n, 1);
        let inside: String = client
            .query_one(&format!("SELECT setting FROM {table}"), &[])
            .await
            .expect("read back")
            .get(0);
        assert_eq!(inside, "off");
        let after: String = client
            .query_one(session, &[])
            .await
            .expect("session setting")
            .get(0);
        assert_eq!(
            after, before,
            "the setting must not outlive the transaction"
        );

        // A failing statement: its error is returned, nothing of it stays, and the connection
        // is out of the transaction (the next statement runs).
        let err = execute_unflushed(
            &client,
            &format!("INSERT INTO {table} VALUES ($1), (1/0)"),
            &[(&"kept?", Type::TEXT)],
        )
        .await
        .expect_err("division by zero");
        assert_eq!(
            err.as_db_error().map(|e| e.message()),
            Some("division by zero"),
            "{err:?}"
        );
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("the connection is usable after the failed transaction")
            .get(0);
        assert_eq!(rows, 1, "only the row of the first call");
    }

    /// A connection whose session the server ended while it was in use is not handed out again
    /// unchecked, even at once: the error notes the loss, and the next checkout checks every
    /// connection handed out before it (the driver may not have read the end of the stream yet).
    #[tokio::test]
    async fn a_connection_lost_while_in_use_is_replaced_at_the_next_checkout() {
        let (pg, redactor) = test_server();
        let pool = connect::pool(pg, &TlsConfig::default(), 1, &redactor).expect("a pool");
        let pid: i32 = {
            let client = connection(&pool, &redactor).await;
            let pid = backend_pid(&client, "the first connection").await;
            let err = client
                .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
                .await
                .expect_err("the server ends the session");
            let mapped = redactor.db("ending the session", &err);
            assert!(mapped.is_temporary(), "{mapped}");
            pid
        };
        assert!(redactor.lost_connections().last().is_some());
        let client = pool.get().await.expect("a new connection");
        let new_pid = backend_pid(&client, "the connection handed out").await;
        assert_ne!(new_pid, pid);
    }

    /// A connection back in the pool is handed out again without a check right away, and with
    /// one (an empty query) once it has been idle for `VERIFY_IDLE_AFTER`.
    #[tokio::test]
    async fn pooled_connections_are_verified_only_after_being_idle() {
        let (pg, redactor) = test_server();
        let pool = connect::pool(pg.clone(), &TlsConfig::default(), 1, &redactor).expect("a pool");
        let observer = connect::pool(pg, &TlsConfig::default(), 1, &redactor).expect("a pool");
        let observer = connection(&observer, &redactor).await;
        let marker = format!("SELECT 'pool-marker-{}'", uuid::Uuid::new_v4().simple());
        let pid: i32 = {
            let client = pool.get().await.expect("a connection");
            client.batch_execute(&marker).await.expect("marker");
            backend_pid(&client, "the pooled connection").await
        };
        let last_query = || async {
            let q: String = observer
                .query_one("SELECT query FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .await
                .expect("the pooled backend is listed")
                .get(0);
            q
        };
        // Checked out again at once: no check ran on it.
        {
            let client = pool.get().await.expect("a connection");
            client.batch_execute(&marker).await.expect("marker");
        }
        drop(pool.get().await.expect("a connection"));
        assert_eq!(last_query().await, marker);
        // After the idle time: the checkout sends the empty query first.
        tokio::time::sleep(connect::VERIFY_IDLE_AFTER + Duration::from_millis(100)).await;
        drop(pool.get().await.expect("a connection"));
        assert_eq!(last_query().await, "");
        // A backend the server ended while the connection sat in the pool is replaced at the
        // next checkout, which answers.
        observer
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate the pooled backend");
        tokio::time::sleep(connect::VERIFY_IDLE_AFTER + Duration::from_millis(100)).await;
        let client = pool.get().await.expect("a new connection");
        let new_pid = backend_pid(&client, "the new connection").await;
        assert_ne!(new_pid, pid);
    }
}
