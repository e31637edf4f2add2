//! Shared helpers of the integration tests.
#![allow(dead_code)]

pub mod emulator;

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use sink_bigquery::{
    BigQueryConfig, BigQuerySink, BqType, ColumnSpec, Credentials, DeleteTracking, EntityTable,
};

/// A dataset name unique to this test process and call.
pub fn unique_dataset(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The contacts mapping of the README (tombstone column).
pub fn contacts_entity() -> EntityTable {
    EntityTable {
        entity: "contacts".into(),
        table: "contacts".into(),
        key_column: "contact_id".into(),
        key_type: Default::default(),
        key_field: None,
        updated_at_column: "updated_at".into(),
        columns: vec![
            ColumnSpec::new("canonical_name", BqType::String),
            ColumnSpec::new("category_code", BqType::String),
            ColumnSpec::new("subcategory_code", BqType::String),
            ColumnSpec::new("relationship_category", BqType::String),
            ColumnSpec::new("context", BqType::Json),
        ],
        deletes: DeleteTracking::default(),
    }
}

/// The businesses mapping of the README, with a deletes table.
pub fn businesses_entity() -> EntityTable {
    EntityTable {
        entity: "businesses".into(),
        table: "businesses".into(),
        key_column: "business_id".into(),
        key_type: Default::default(),
        key_field: None,
        updated_at_column: "updated_at".into(),
        columns: vec![
            ColumnSpec::new("business_name", BqType::String),
            ColumnSpec::new("website", BqType::String),
            ColumnSpec::new("industry", BqType::String),
            ColumnSpec::new("business_type", BqType::String),
        ],
        deletes: DeleteTracking::DeletesTable {
            table: "businesses_deleted".into(),
        },
    }
}

/// A config for the emulator's `test` project.
pub fn config(dataset: &str, lag_secs: u64, page_size: u32) -> BigQueryConfig {
    let mut c = BigQueryConfig::new(
        "test",
        dataset,
        vec![contacts_entity(), businesses_entity()],
    );
    c.safety_lag_secs = lag_secs;
    c.page_size = page_size;
    c
}

/// A sink on `base_url` without credentials.
pub async fn sink(base_url: &str, config: BigQueryConfig) -> BigQuerySink {
    BigQuerySink::builder(config)
        .credentials(Credentials::Anonymous)
        .base_url(base_url)
        .build()
        .await
        .expect("the sink builds")
}

/// Runs SQL directly against the emulator (playing the part of another local writer).
pub async fn run_sql(base_url: &str, sql: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base_url}/projects/test/queries"))
        .json(&json!({ "query": sql, "useLegacySql": false }))
        .send()
        .await
        .expect("the emulator answers");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON body");
    assert!(status.is_success(), "SQL failed ({status}): {sql}\n{body}");
    body
}
