use sink_postgres::{ColumnMap, ColumnType, EntityTable, MIGRATIONS};

use crate::common::{admin, TestDb};

fn people(db: &TestDb) -> EntityTable {
    EntityTable::new("people", db.data_schema(), "people", "id")
        .column(ColumnMap::new("name", ColumnType::Jsonb))
        .create(true)
}

#[tokio::test]
async fn applying_migrations_twice_is_a_no_op() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(people(&db))).await;
    assert_eq!(sink.migrate().await.unwrap(), Vec::<i32>::new());
    let again = db.build(db.builder().entity(people(&db))).await;
    assert_eq!(again.migrate().await.unwrap(), Vec::<i32>::new());

    let client = admin().await;
    let versions: Vec<i32> = client
        .query(
            &format!(
                "SELECT version FROM \"{}\".schema_migrations ORDER BY version",
                db.state_schema()
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
}

#[tokio::test]
async fn concurrent_starts_all_succeed_and_migrate_once() {
    let db = TestDb::new().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let builder = db.builder().entity(people(&db)).max_connections(1);
        tasks.push(tokio::spawn(async move { builder.build().await }));
    }
    for t in tasks {
        let result = t.await.unwrap();
        assert!(
            result.is_ok(),
            "a concurrent start failed: {:?}",
            result.err()
        );
    }
    let client = admin().await;
    let n: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".schema_migrations",
                db.state_schema()
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, MIGRATIONS.len());
    let triggers: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = 'people' AND NOT t.tgisinternal",
            &[&db.data_schema()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        triggers, 1,
        "exactly one capture trigger after concurrent starts"
    );
}

#[tokio::test]
async fn state_schema_has_every_state_table() {
    let db = TestDb::new().await;
    let _sink = db.build(db.builder()).await;
    let client = admin().await;
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1
             ORDER BY 1",
            &[&db.state_schema()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in [
        "audit",
        "cursors",
        "leases",
        "outbox",
        "pending_creates",
        "record_state",
        "runs",
        "schema_migrations",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing state table {t}: {tables:?}"
        );
    }
}
