//! End to end: twenty-sim (Twenty's REST API) <-> the sync engine <-> this sink on the BigQuery
//! emulator, with the core's in-memory StateStore. Pull twice (no duplicate rows), then push a
//! local edit back to Twenty.

mod common;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use sink_bigquery::{BigQueryConfig, BqType, ColumnSpec, DeleteTracking, EntityTable};
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine};
use twenty_sync_core::memory::MemoryState;
use twenty_sync_core::{RunStatus, StateStoreExt};

use common::emulator::emulator;
use common::run_sql;

const KEY: &str = "bq-e2e-key";

fn entity() -> EntityTable {
    EntityTable {
        entity: "contacts".into(),
        table: "contacts".into(),
        key_column: "contact_id".into(),
        key_type: Default::default(),
        key_field: None,
        updated_at_column: "updated_at".into(),
        columns: ["email", "first", "last", "title"]
            .map(|c| ColumnSpec::new(c, BqType::String))
            .to_vec(),
        deletes: DeleteTracking::default(),
    }
}

async fn count(base: &str, ds: &str) -> i64 {
    let body = run_sql(base, &format!("SELECT COUNT(*) FROM `test.{ds}.contacts`")).await;
    body["rows"][0]["f"][0]["v"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a count")
}

#[tokio::test]
async fn pull_twice_without_duplicates_then_push_a_warehouse_edit_to_twenty() {
    let emu = emulator();
    let ds = common::unique_dataset("e2e");
    let mut config = BigQueryConfig::new("test", &ds, vec![entity()]);
    config.safety_lag_secs = 0;
    let sink = Arc::new(common::sink(&emu.base_url, config).await);
    sink.setup().await.expect("setup");

    let sim = SimServer::start(SimConfig::new(KEY).seed_people(9).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
            max_internal_error_retries: 4,
        })
        .build()
        .expect("client builds");
    let state = MemoryState::new();
    let map = FieldMap::new("contacts", "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("last", "name.lastName")
        .field("title", "jobTitle")
        .match_key("emails.primaryEmail");
    let engine = SyncEngine::builder(client, sink.clone(), state.clone())
        .entity(Arc::new(map))
        .batch_size(4)
        .build()
        .expect("engine builds");

    let bytes_before = sink.bytes_processed();
    let first = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(first.status, RunStatus::Succeeded, "{}", first.summary());
    assert_eq!(
        first
            .source_metrics
            .get("bigquery_bytes_processed")
            .copied(),
        Some(sink.bytes_processed() - bytes_before),
        "the run report carries the bytes this run's queries processed"
    );
    assert_eq!(count(&emu.base_url, &ds).await, 9);
    let again = engine.pull(RunOptions::new()).await.expect("pull again");
    assert_eq!(again.status, RunStatus::Succeeded, "{}", again.summary());
    assert_eq!(
        count(&emu.base_url, &ds).await,
        9,
        "a second pull adds no rows"
    );

    // Edit one row in the warehouse, as a local application would.
    let people = sim.handle().records("people");
    let twenty_id = people[0]["id"].as_str().expect("id").to_owned();
    let email = people[0]["emails"]["primaryEmail"]
        .as_str()
        .expect("email")
        .to_owned();
    let body = run_sql(
        &emu.base_url,
        &format!("SELECT contact_id FROM `test.{ds}.contacts` WHERE email = '{email}'"),
    )
    .await;
    let local_key = body["rows"][0]["f"][0]["v"]
        .as_str()
        .expect("a local key")
        .to_owned();
    let st = state
        .record("contacts", &local_key)
        .await
        .expect("state")
        .expect("the pulled row is linked");
    assert_eq!(st.twenty_id, twenty_id);
    run_sql(
        &emu.base_url,
        &format!(
            "UPDATE `test.{ds}.contacts` SET title = 'Chief Warehouse Officer', updated_at = \
             CURRENT_TIMESTAMP() WHERE contact_id = '{local_key}'"
        ),
    )
    .await;
    let push = engine.push(RunOptions::new()).await.expect("push");
    assert_eq!(push.status, RunStatus::Succeeded, "{}", push.summary());
    let tw = sim
        .handle()
        .record("people", &twenty_id)
        .expect("still there");
    assert_eq!(
        tw["jobTitle"],
        Value::from("Chief Warehouse Officer"),
        "{}",
        push.summary()
    );
    assert_eq!(sim.handle().count("people"), 9, "push created nothing");
    // The pulled rows come back through the feed too (the warehouse cannot tell who wrote a
    // row); the engine recognises them by content hash and writes only the edited one.
    let counts = push.totals();
    assert_eq!(
        (counts.created, counts.updated),
        (0, 1),
        "only the warehouse edit is pushed: {}",
        push.summary()
    );
}
