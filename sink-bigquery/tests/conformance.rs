//! twenty-sync-core's public conformance suite (`conformance::source`) against the sink on the
//! BigQuery emulator, with a [`LocalEditor`] that edits rows with SQL the way a local writer would
//! (`MERGE` with `CURRENT_TIMESTAMP()`, soft deletes through the tombstone column).

mod common;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sink_bigquery::{
    BigQueryConfig, BigQuerySink, BqType, ColumnSpec, DeleteTracking, EntityTable,
};
use twenty_sync_core::conformance::{self, LocalEditor};
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit, StoreError,
    StoreErrorKind, StoreResult,
};

use common::emulator::emulator;

const ENTITIES: [&str; 9] = [
    "conformance_feed",
    "conformance_feed_delete",
    "conformance_feed_update",
    "conformance_feed_concurrent",
    "conformance_get",
    "conformance_apply",
    "conformance_apply_twice",
    "conformance_apply_delete",
    // `get_returns_local_records_by_key` asks this entity for records: it must exist (empty),
    // since the sink refuses entities that are not configured.
    "conformance_no_such_entity",
];

fn entity(name: &str) -> EntityTable {
    EntityTable {
        entity: name.into(),
        table: name.into(),
        key_column: "key".into(),
        key_type: Default::default(),
        key_field: None,
        updated_at_column: "updated_at".into(),
        columns: vec![
            ColumnSpec::new("name", BqType::String),
            ColumnSpec::new("rank", BqType::Int64),
        ],
        deletes: DeleteTracking::default(),
    }
}

/// Edits rows directly with SQL, like another application writing to the warehouse.
struct SqlEditor {
    base_url: String,
    dataset: String,
}

fn literal(v: &Value) -> StoreResult<String> {
    match v {
        Value::String(s) => Ok(format!(
            "'{}'",
            s.replace('\\', "\\\\").replace('\'', "\\'")
        )),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok("NULL".to_owned()),
        other => Err(StoreError::new(
            StoreErrorKind::Invalid,
            format!("the SQL editor writes strings and numbers, not {other}"),
        )),
    }
}

impl SqlEditor {
    async fn sql(&self, sql: &str) -> StoreResult<()> {
        let resp = reqwest::Client::new()
            .post(format!("{}/projects/test/queries", self.base_url))
            .json(&json!({"query": sql, "useLegacySql": false}))
            .send()
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Unavailable, e.to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            let body = resp.text().await.unwrap_or_default();
            Err(StoreError::new(
                StoreErrorKind::Other,
                format!("{sql}: {body}"),
            ))
        }
    }
}

#[async_trait]
impl LocalEditor for SqlEditor {
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()> {
        let name = literal(data.get("name").unwrap_or(&Value::Null))?;
        let rank = literal(data.get("rank").unwrap_or(&Value::Null))?;
        let key = literal(&Value::String(key.to_owned()))?;
        self.sql(&format!(
            "MERGE `test.{ds}.{entity}` T USING (SELECT {key} AS key) S ON T.key = S.key \
             WHEN MATCHED THEN UPDATE SET name = {name}, rank = {rank}, updated_at = \
             CURRENT_TIMESTAMP(), deleted_at = NULL \
             WHEN NOT MATCHED THEN INSERT (key, updated_at, name, rank) VALUES ({key}, \
             CURRENT_TIMESTAMP(), {name}, {rank})",
            ds = self.dataset
        ))
        .await
    }

    async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()> {
        let key = literal(&Value::String(key.to_owned()))?;
        self.sql(&format!(
            "UPDATE `test.{ds}.{entity}` SET deleted_at = CURRENT_TIMESTAMP(), updated_at = \
             CURRENT_TIMESTAMP() WHERE key = {key}",
            ds = self.dataset
        ))
        .await
    }
}

async fn prepared() -> (BigQuerySink, SqlEditor) {
    let emu = emulator();
    let dataset = common::unique_dataset("conformance");
    let mut config = BigQueryConfig::new("test", &dataset, ENTITIES.map(entity).to_vec());
    config.safety_lag_secs = 0;
    config.page_size = 3;
    let sink = common::sink(&emu.base_url, config).await;
    sink.setup().await.expect("setup of the conformance tables");
    (
        sink,
        SqlEditor {
            base_url: emu.base_url.clone(),
            dataset,
        },
    )
}

#[tokio::test]
async fn the_sink_passes_the_core_source_conformance_checks() {
    let (sink, editor) = prepared().await;
    use conformance::source::*;
    changes_come_in_order_and_resume_from_every_checkpoint(&sink, &editor, ENTITIES[0]).await;
    deletions_appear_in_the_feed(&sink, &editor, ENTITIES[1]).await;
    latest_local_data_wins_in_the_feed(&sink, &editor, ENTITIES[2]).await;
    changes_made_during_a_read_are_not_lost(&sink, &editor, ENTITIES[3]).await;
    get_returns_local_records_by_key(&sink, &editor, ENTITIES[4]).await;
    apply_upserts_in_order(&sink, ENTITIES[5]).await;
    apply_is_idempotent(&sink, ENTITIES[6]).await;
    apply_deletes_and_tombstones(&sink, ENTITIES[7]).await;
}

fn change(key: &str, kind: InboundChangeKind, secs: i64) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind,
        twenty_updated_at: Some(Utc::now() - Duration::hours(1) + Duration::seconds(secs)),
    }
}

#[tokio::test]
async fn deletes_and_tombstones_hide_records_and_a_newer_upsert_revives_one() {
    let (sink, _) = prepared().await;
    let e = ENTITIES[7];
    let up = |name: &str, rank: i64| InboundChangeKind::Upsert {
        data: json!({"name": name, "rank": rank}),
    };
    let apply = |changes| ApplyBatch {
        entity: e.into(),
        changes,
        state: StateCommit::new(e),
    };
    sink.apply(&apply(vec![
        change("x1", up("x1", 1), 0),
        change("x2", up("x2", 2), 0),
        change("x3", up("x3", 3), 0),
    ]))
    .await
    .expect("upserts");
    sink.apply(&apply(vec![
        change("x1", InboundChangeKind::Delete { tombstone: false }, 10),
        change("x2", InboundChangeKind::Delete { tombstone: true }, 10),
        change("never", InboundChangeKind::Delete { tombstone: true }, 10),
    ]))
    .await
    .expect("deletes, one of an unknown key");
    let keys = |v: Vec<twenty_sync_core::LocalRecord>| {
        let mut k: Vec<String> = v.into_iter().map(|r| r.key).collect();
        k.sort();
        k
    };
    let all = ["x1", "x2", "x3", "never"].map(String::from);
    assert_eq!(keys(sink.get(e, &all).await.expect("get")), ["x3"]);
    // A stale upsert (older than the tombstone) does not revive; a newer one does.
    sink.apply(&apply(vec![change("x2", up("stale", 9), 5)]))
        .await
        .expect("stale upsert");
    assert_eq!(keys(sink.get(e, &all).await.expect("get")), ["x3"]);
    sink.apply(&apply(vec![change("x2", up("x2-back", 4), 20)]))
        .await
        .expect("newer upsert");
    let got = sink.get(e, &["x2".into()]).await.expect("get");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data["name"], "x2-back");
    assert_eq!(got[0].data["rank"], 4);
}
