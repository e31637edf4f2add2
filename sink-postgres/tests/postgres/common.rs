//! Shared helpers: the real server, a unique schema prefix per test, cleanup on drop.

#![allow(dead_code)]

use std::sync::Arc;

use secrecy::SecretString;
use sink_postgres::{PostgresSink, PostgresSinkBuilder, SinkConfig};
use tokio_postgres::{Client, NoTls};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, RecordState, StateCommit,
    SyncDirection,
};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `DATABASE_URL`, or the local test server.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn no_server(err: impl std::fmt::Display) -> ! {
    panic!(
        "these tests need a PostgreSQL server and could not connect ({err}). Set DATABASE_URL \
         (e.g. postgres://user:password@host:5432/db), or start the local server with \
         `pg_ctlcluster --skip-systemctl-redirect 15 main start` (default URL {DEFAULT_URL})"
    )
}

/// A plain client for the test's own SQL (no TLS: local and CI servers).
pub async fn admin() -> Client {
    let (client, conn) = match tokio_postgres::connect(&database_url(), NoTls).await {
        Ok(c) => c,
        Err(e) => no_server(e),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A unique schema prefix for one test; every schema starting with it is dropped on drop.
pub struct TestDb {
    pub prefix: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let prefix = format!("tsp_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        // Fail loudly now if there is no server.
        let _ = admin().await;
        TestDb { prefix }
    }

    pub fn state_schema(&self) -> String {
        format!("{}_state", self.prefix)
    }

    pub fn data_schema(&self) -> String {
        format!("{}_data", self.prefix)
    }

    pub fn url(&self) -> SecretString {
        SecretString::from(database_url())
    }

    /// A builder on the test's state schema and the server's URL.
    pub fn builder(&self) -> PostgresSinkBuilder {
        PostgresSink::builder(SinkConfig {
            state_schema: self.state_schema(),
            ..SinkConfig::default()
        })
        .connection_string(self.url())
        .max_connections(4)
    }

    pub async fn build(&self, builder: PostgresSinkBuilder) -> Arc<PostgresSink> {
        match builder.build().await {
            Ok(s) => Arc::new(s),
            Err(e) => panic!("building the sink failed: {e}"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async move {
                let Ok((client, conn)) = tokio_postgres::connect(&database_url(), NoTls).await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let _ = client
                    .batch_execute(&format!(
                        "DO $$ DECLARE s text; BEGIN
                           FOR s IN SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '{prefix}') LOOP
                             EXECUTE format('DROP SCHEMA %I CASCADE', s);
                           END LOOP;
                         END $$"
                    ))
                    .await;
            });
        })
        .join();
    }
}

/// A pulled upsert of `key` (Twenty id `tw-<key>`).
pub fn pulled_upsert(key: &str, data: serde_json::Value) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Upsert { data },
        twenty_updated_at: None,
    }
}

/// A pulled batch of `entity`: the changes, a record state per change, and the pull cursor.
pub fn pulled_batch(entity: &str, changes: Vec<InboundChange>, cursor: &str) -> ApplyBatch {
    let mut state = StateCommit::new(entity);
    for c in &changes {
        state
            .upsert_records
            .push(RecordState::new(c.key.clone(), c.twenty_id.clone()));
    }
    state
        .cursors
        .push((SyncDirection::Pull, Checkpoint::new(cursor)));
    ApplyBatch {
        entity: entity.into(),
        changes,
        state,
    }
}

/// A client of the simulator `sim` (API key `key`) that does not pace itself and retries after
/// a few milliseconds.
pub fn sim_client(sim: &twenty_sim::SimServer, key: &str) -> twenty_client::Client {
    twenty_client::Client::builder(sim.base_url(), SecretString::from(key.to_owned()))
        .no_rate_limit()
        .retry_policy(twenty_client::RetryPolicy {
            max_retries: 6,
            initial_backoff: std::time::Duration::from_millis(2),
            max_backoff: std::time::Duration::from_millis(20),
            max_internal_error_retries: 6,
        })
        .build()
        .expect("client builds")
}

/// An engine syncing `entity` of the mapping file `toml` between the simulator (through
/// `client`) and `sink`, which is both the source and the state store.
pub fn mapped_engine(
    client: twenty_client::Client,
    sink: &Arc<PostgresSink>,
    toml: &str,
    entity: &str,
) -> twenty_sync_core::SyncEngine<Arc<PostgresSink>, Arc<PostgresSink>> {
    let file =
        twenty_mapping::MappingFile::from_toml_str(toml, "mapping.toml").expect("mapping parses");
    let mapping = Arc::new(
        twenty_mapping::compile(
            &file,
            &twenty_mapping::TransformRegistry::with_builtins(),
            None,
        )
        .expect("mapping compiles"),
    );
    twenty_sync_core::SyncEngine::builder(client, sink.clone(), sink.clone())
        .entity(Arc::new(
            twenty_sync_core::PlanMapper::new(mapping, entity).expect("entity in the mapping"),
        ))
        .build()
        .expect("engine builds")
}
