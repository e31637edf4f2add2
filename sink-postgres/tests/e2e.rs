//! End to end: pull from twenty-sim into Postgres and push a local change back, through the
//! engine, with the Postgres sink as both the source and the state store.

#[path = "postgres/common.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sink_postgres::{ColumnType, EntityTable, PostgresSink, quote_qualified};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine};
use twenty_sync_core::{RunStatus, StateStore, SyncDirection};

use common::{TestDb, admin};

const KEY: &str = "sink-postgres-e2e-key";

fn client(sim: &SimServer) -> Client {
    common::sim_client(sim, KEY)
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
    assert!(
        sink.cursor("contacts", SyncDirection::Pull)
            .await
            .unwrap()
            .is_some()
    );
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

/// A fleet: two workers (separate pools, one state schema) run the same entities; the lease on a
/// workspace+entity lets only one run it at a time, and the other worker moves on to another
/// entity meanwhile (`README.md`, "Running a fleet").
#[tokio::test]
async fn two_workers_split_the_entities_by_lease() {
    use twenty_sim::Faults;
    use twenty_sync_core::SyncErrorKind;

    let db = TestDb::new().await;
    // Latency makes worker A's pull last long enough for worker B to meet its lease.
    let faults = Faults {
        latency: Duration::from_millis(60),
        ..Faults::none()
    };
    let sim = SimServer::start(
        SimConfig::new(KEY)
            .seed_people(60)
            .rate_limit(None)
            .faults(faults),
    )
    .await
    .expect("simulator starts");
    let tables = [
        EntityTable::default_table(
            "contacts",
            &db.data_schema(),
            "id",
            [("email", ColumnType::Text), ("first", ColumnType::Text)],
        ),
        EntityTable::default_table(
            "firms",
            &db.data_schema(),
            "id",
            [("name", ColumnType::Text)],
        ),
    ];
    let db_ref = &db;
    let worker = |holder: &'static str| {
        let builder = tables
            .iter()
            .cloned()
            .fold(db.builder(), |b, t| b.entity(t));
        let sim_client = client(&sim);
        async move {
            let sink: Arc<PostgresSink> = db_ref.build(builder).await;
            SyncEngine::builder(sim_client, sink.clone(), sink)
                .entity(Arc::new(
                    FieldMap::new("contacts", "people", "person")
                        .field("email", "emails.primaryEmail")
                        .field("first", "name.firstName")
                        .match_key("emails.primaryEmail"),
                ))
                .entity(Arc::new(
                    FieldMap::new("firms", "companies", "company").field("name", "name"),
                ))
                .batch_size(5)
                .lease(Duration::from_secs(60), holder)
                .build()
                .expect("engine builds")
        }
    };
    // Both workers start at once: migrations and triggers are set up under the advisory lock.
    let (a, b) = tokio::join!(worker("worker-a"), worker("worker-b"));

    let a_run = tokio::spawn(async move { a.pull(RunOptions::new().entity("contacts")).await });
    let pg = admin().await;
    let leases = quote_qualified(&db.state_schema(), "leases");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let held = pg
            .query_opt(
                &format!(
                    "SELECT holder FROM {leases} WHERE scope LIKE '%#contacts' AND expires_at > now()"
                ),
                &[],
            )
            .await
            .unwrap()
            .map(|r| r.get::<_, String>(0));
        if held.as_deref() == Some("worker-a") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker A never took the contacts lease"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = b
        .pull(RunOptions::new().entity("contacts"))
        .await
        .expect_err("worker B must not run contacts while worker A holds its lease");
    assert_eq!(refused.kind(), SyncErrorKind::LeaseHeld, "{refused}");
    let firms = b
        .pull(RunOptions::new().entity("firms"))
        .await
        .expect("worker B runs another entity meanwhile");
    assert_eq!(firms.status, RunStatus::Succeeded, "{}", firms.summary());

    let a_report = a_run.await.unwrap().expect("worker A's pull");
    assert_eq!(
        a_report.status,
        RunStatus::Succeeded,
        "{}",
        a_report.summary()
    );
    // Released: worker B takes contacts over, with a larger fencing token.
    let again = b
        .pull(RunOptions::new().entity("contacts"))
        .await
        .expect("worker B runs contacts once A is done");
    assert_eq!(again.status, RunStatus::Succeeded, "{}", again.summary());
    let (holder, token): (String, i64) = pg
        .query_one(
            &format!("SELECT holder, token FROM {leases} WHERE scope LIKE '%#contacts'"),
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(holder, "worker-b");
    assert!(
        token >= 2,
        "a new holder gets a larger fencing token, got {token}"
    );
    let rows: i64 = pg
        .query_one(
            &format!(
                "SELECT count(*) FROM {}",
                quote_qualified(&db.data_schema(), "contacts")
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 60, "each person once, whichever worker pulled it");
}
