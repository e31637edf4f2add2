//! End to end: pull from twenty-sim into Postgres and push a local change back, through the
//! engine, with the Postgres sink as both the source and the state store.

#[path = "postgres/common.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sink_postgres::{quote_qualified, ColumnType, EntityTable, PostgresSink};
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine};
use twenty_sync_core::{RunStatus, StateStore, SyncDirection};

use common::{admin, TestDb};

const KEY: &str = "sink-postgres-e2e-key";

fn client(sim: &SimServer) -> Client {
    Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy {
            max_retries: 6,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
        })
        .build()
        .expect("client builds")
}

fn contacts() -> FieldMap {
    FieldMap::new("contacts", "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("last", "name.lastName")
        .match_key("emails.primaryEmail")
}

fn twenty_emails(sim: &SimServer) -> BTreeSet<String> {
    sim.handle()
        .records("people")
        .iter()
        .filter_map(|p| p["emails"]["primaryEmail"].as_str().map(str::to_lowercase))
        .collect()
}

#[tokio::test]
async fn pull_from_twenty_into_postgres_then_push_a_local_insert_back() {
    let db = TestDb::new().await;
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(25).rate_limit(None))
        .await
        .expect("simulator starts");
    let table = EntityTable::default_table(
        "contacts",
        &db.data_schema(),
        "id",
        [
            ("email", ColumnType::Text),
            ("first", ColumnType::Text),
            ("last", ColumnType::Text),
        ],
    );
    let sink: Arc<PostgresSink> = db.build(db.builder().entity(table)).await;
    let engine = SyncEngine::builder(client(&sim), sink.clone(), sink.clone())
        .entity(Arc::new(contacts()))
        .batch_size(10)
        .build()
        .expect("engine builds");

    let report = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(report.status, RunStatus::Succeeded, "{}", report.summary());
    let pg = admin().await;
    let t = quote_qualified(&db.data_schema(), "contacts");
    let rows: i64 = pg
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 25, "one local row per Twenty person");
    let local: BTreeSet<String> = pg
        .query(
            &format!("SELECT lower(email) FROM {t} WHERE email IS NOT NULL"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(local, twenty_emails(&sim));
    assert!(sink
        .cursor("contacts", SyncDirection::Pull)
        .await
        .unwrap()
        .is_some());
    assert!(
        sink.run(&report.run_id).await.unwrap().is_some(),
        "run saved in Postgres"
    );

    // Pulled rows were not captured as local changes: a push right away writes nothing.
    let idle = engine.push(RunOptions::new()).await.expect("push");
    let c = idle
        .entities
        .values()
        .fold(0, |n, c| n + c.created + c.updated);
    assert_eq!(c, 0, "{}", idle.summary());

    // A local insert goes to Twenty.
    pg.execute(
        &format!(
            "INSERT INTO {t} (id, email, first, last)
             VALUES ('local-1', 'new.person@example.com', 'New', 'Person')"
        ),
        &[],
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pushed = engine.push(RunOptions::new()).await.expect("push");
        assert!(pushed.failures.is_empty(), "{}", pushed.summary());
        if twenty_emails(&sim).contains("new.person@example.com")
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(twenty_emails(&sim).contains("new.person@example.com"));
    let state = sink.records("contacts", &["local-1".into()]).await.unwrap();
    assert_eq!(state.len(), 1, "the pushed record is in the ID map");
}
