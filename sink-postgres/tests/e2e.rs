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

/// A new test database with a contacts table (email, first, last) kept by a Postgres sink, and
/// a simulator seeded with 25 people.
async fn contacts_in_postgres() -> (TestDb, SimServer, Arc<PostgresSink>) {
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
    (db, sim, sink)
}

#[tokio::test]
async fn pull_from_twenty_into_postgres_then_push_a_local_insert_back() {
    let (db, sim, sink) = contacts_in_postgres().await;
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

/// A person whose row Postgres refuses (a CHECK constraint) fails alone: the rest of its batch
/// is written, the pull goes on and completes, and the person is kept for retry until it is
/// fixed in Twenty. (Postgres rolls back the whole batch for one row; the engine finds the row
/// by applying the batch in parts.)
#[tokio::test]
async fn a_person_postgres_refuses_fails_alone_and_is_pulled_once_fixed() {
    let (db, sim, sink) = contacts_in_postgres().await;
    let t = quote_qualified(&db.data_schema(), "contacts");
    let pg = admin().await;
    pg.batch_execute(&format!(
        "ALTER TABLE {t} ADD CONSTRAINT email_allowed CHECK (email NOT LIKE 'refused%')"
    ))
    .await
    .unwrap();
    let bad = sim.handle().records("people")[12]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set_email = |email: &str| {
        sim.handle()
            .update_record(
                "people",
                &bad,
                serde_json::json!({"emails": {"primaryEmail": email, "additionalEmails": []}}),
            )
            .expect("the person exists");
    };
    set_email("refused@example.com");
    let engine = SyncEngine::builder(client(&sim), sink.clone(), sink.clone())
        .entity(Arc::new(contacts()))
        .batch_size(10)
        .build()
        .expect("engine builds");
    let rows = || async {
        pg.query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };

    let report = engine
        .pull(RunOptions::new())
        .await
        .expect("a refused row does not stop the pull");
    assert_eq!(
        report.status,
        RunStatus::PartiallyFailed,
        "{}",
        report.summary()
    );
    assert_eq!(report.failures.len(), 1, "{}", report.summary());
    let failure = &report.failures[0];
    assert_eq!(failure.twenty_id.as_deref(), Some(bad.as_str()));
    assert!(failure.reason.contains("email_allowed"), "{failure:?}");
    assert_eq!(rows().await, 24, "everyone else is written");
    let retry = sink
        .cursor("contacts#retry", SyncDirection::Pull)
        .await
        .unwrap()
        .expect("a retry set");
    assert!(retry.as_str().contains(&bad), "{retry:?}");

    set_email("fixed@example.com");
    let fixed = engine.pull(RunOptions::new()).await.expect("pull the fix");
    assert_eq!(fixed.status, RunStatus::Succeeded, "{}", fixed.summary());
    assert_eq!(rows().await, 25);
    let fixed_rows: i64 = pg
        .query_one(
            &format!("SELECT count(*) FROM {t} WHERE email = 'fixed@example.com'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fixed_rows, 1);
    assert!(
        !sink
            .cursor("contacts#retry", SyncDirection::Pull)
            .await
            .unwrap()
            .is_some_and(|r| r.as_str().contains(&bad)),
        "the fixed person left the retry set"
    );
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
