//! twenty-sync-core's public conformance suite, run against the Postgres sink on a real server.

#[path = "postgres/common.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sink_postgres::{ColumnType, EntityTable, PostgresSink, quote_ident};
use twenty_sync_core::conformance::{self, LocalEditor};
use twenty_sync_core::{SourceOfTruth, StoreError, StoreErrorKind, StoreResult};

use common::{TestDb, admin};

const ENTITIES: &[&str] = &[
    "conformance_feed",
    "conformance_feed_delete",
    "conformance_feed_update",
    "conformance_feed_concurrent",
    "conformance_get",
    "conformance_apply",
    "conformance_apply_twice",
    "conformance_apply_delete",
    "conformance_no_such_entity",
    "conformance_echo",
    "conformance_linked",
    "conformance_linked_apart",
];

/// Makes local changes with plain SQL, as the application owning the tables would, and waits
/// until the change is below the outbox horizon (other tests' transactions in the same cluster
/// can hold it back for a moment) so the checks see it on their next read.
struct SqlEditor {
    schema: String,
    client: tokio_postgres::Client,
}

impl SqlEditor {
    fn table(&self, entity: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(entity))
    }

    async fn wait_visible(&self, txid: &str) -> StoreResult<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let done: bool = self
                .client
                .query_one(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8",
                    &[&txid],
                )
                .await
                .map_err(err)?
                .get(0);
            if done || tokio::time::Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn err(e: tokio_postgres::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Other, e.to_string())
}

#[async_trait]
impl LocalEditor for SqlEditor {
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()> {
        let name = data.get("name").and_then(Value::as_str).map(str::to_owned);
        let rank = data.get("rank").and_then(Value::as_i64);
        let row = self
            .client
            .query_one(
                &format!(
                    "WITH w AS (
                       INSERT INTO {} (id, name, rank) VALUES ($1, $2, $3)
                       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, rank = EXCLUDED.rank
                       RETURNING 1)
                     SELECT pg_current_xact_id()::text FROM w",
                    self.table(entity)
                ),
                &[&key, &name, &rank],
            )
            .await
            .map_err(err)?;
        self.wait_visible(row.get(0)).await
    }

    async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()> {
        let row = self
            .client
            .query_one(
                &format!(
                    "WITH w AS (DELETE FROM {} WHERE id = $1 RETURNING 1)
                     SELECT pg_current_xact_id()::text",
                    self.table(entity)
                ),
                &[&key],
            )
            .await
            .map_err(err)?;
        self.wait_visible(row.get(0)).await
    }
}

async fn sink_for(db: &TestDb) -> Arc<PostgresSink> {
    let mut builder = db.builder();
    for entity in ENTITIES {
        builder = builder.entity(EntityTable::default_table(
            entity,
            &db.data_schema(),
            "id",
            [("name", ColumnType::Text), ("rank", ColumnType::Bigint)],
        ));
    }
    db.build(builder).await
}

#[tokio::test]
async fn postgres_sink_passes_the_state_store_conformance_suite() {
    let db = TestDb::new().await;
    let sink = sink_for(&db).await;
    conformance::state::run_all(sink.as_ref()).await;
}

#[tokio::test]
async fn postgres_sink_passes_the_source_conformance_suite() {
    let db = TestDb::new().await;
    let sink = sink_for(&db).await;
    let editor = SqlEditor {
        schema: db.data_schema(),
        client: admin().await,
    };
    conformance::source::run_all(sink.as_ref(), &editor).await;
    conformance::source::applied_changes_are_not_echoed(sink.as_ref(), &editor, "conformance_echo")
        .await;
}

#[tokio::test]
async fn postgres_sink_reads_record_states_with_their_rows_as_the_two_reads_would() {
    let db = TestDb::new().await;
    let sink = sink_for(&db).await;
    let editor = SqlEditor {
        schema: db.data_schema(),
        client: admin().await,
    };
    assert!(
        sink.linked_by_twenty_id("conformance_linked", &[])
            .await
            .unwrap()
            .is_some(),
        "a sink that writes the record states reads them with their rows"
    );
    conformance::source::linked_lookup_agrees_with_states_and_get(
        sink.as_ref(),
        sink.as_ref(),
        &editor,
        "conformance_linked",
    )
    .await;
}

#[tokio::test]
async fn a_sink_that_leaves_the_record_states_to_the_engine_does_not_read_them() {
    let db = TestDb::new().await;
    let mut builder = db.builder().write_state_on_apply(false);
    builder = builder.entity(EntityTable::default_table(
        "conformance_linked_apart",
        &db.data_schema(),
        "id",
        [("name", ColumnType::Text)],
    ));
    let sink = db.build(builder).await;
    let ids = vec!["tw-1".to_owned()];
    assert!(
        sink.linked_by_twenty_id("conformance_linked_apart", &ids)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sink.linked_by_twenty_id("not_configured", &ids)
            .await
            .unwrap()
            .is_none()
    );
}
