use chrono::{TimeZone, Utc};
use sink_postgres::{ColumnMap, ColumnType, EntityTable, MIGRATIONS, quote_ident};
use twenty_sync_core::{
    AuditAction, AuditEntry, AuditOutcome, AuditQuery, StateStore, SyncDirection,
};

use crate::common::{TestDb, admin};

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

    // Record states and the default data table leave room for HOT updates (migration 4).
    let options = |schema: String, table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relname = $2",
                    &[&schema, &table],
                )
                .await
                .unwrap()
                .get::<_, Option<Vec<String>>>(0)
                .unwrap_or_default()
        }
    };
    assert!(
        options(db.state_schema(), "record_state")
            .await
            .contains(&"fillfactor=90".to_owned())
    );
    assert!(
        options(db.data_schema(), "people")
            .await
            .contains(&"fillfactor=90".to_owned())
    );
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
        "audit_log",
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

/// A state schema made by an earlier version (migrations 1 and 2: one audit row per entry) keeps
/// its audit entries, in order, when migration 3 moves them into the per-batch log.
#[tokio::test]
async fn audit_entries_of_the_per_entry_table_survive_the_move_to_the_batch_log() {
    let db = TestDb::new().await;
    let client = admin().await;
    let schema = db.state_schema();
    let q = quote_ident(&schema);
    let mut setup = format!(
        "CREATE SCHEMA {q};
         CREATE TABLE {q}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());"
    );
    for m in MIGRATIONS.iter().filter(|m| m.version < 3) {
        setup.push_str(
            &m.sql
                .replace("{{schema}}", &q)
                .replace("{{schema_lit}}", &format!("'{schema}'"))
                .replace("{{fn}}", "$tsfn$"),
        );
        setup.push_str(&format!(
            ";INSERT INTO {q}.schema_migrations (version, name) VALUES ({}, '{}');",
            m.version, m.name
        ));
    }
    client.batch_execute(&setup).await.unwrap();
    // Three entries as the old sink wrote them (columns, and the whole entry as jsonb); one has
    // no Twenty id.
    let entry = |run: &str, minute: u32, key: &str, id: Option<&str>, action| AuditEntry {
        run_id: run.into(),
        at: Utc.with_ymd_and_hms(2024, 1, 1, 0, minute, 0).unwrap(),
        entity: "people".into(),
        direction: SyncDirection::Pull,
        local_key: Some(key.into()),
        twenty_id: id.map(str::to_owned),
        action,
        changed_fields: vec!["name".into()],
        before_hash: None,
        after_hash: None,
        outcome: AuditOutcome::Applied,
        detail: Some("moved".into()),
    };
    let old_entries = [
        entry("r1", 0, "a", Some("tw-a"), AuditAction::Create),
        entry("r1", 1, "b", None, AuditAction::Fail),
        entry("r2", 2, "a", Some("tw-a"), AuditAction::Update),
    ];
    for e in &old_entries {
        let json = serde_json::to_value(e).unwrap();
        client
            .execute(
                &format!(
                    "INSERT INTO {q}.audit (run_id, at, entity, direction, local_key, twenty_id,
                         action, entry)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                &[
                    &e.run_id,
                    &e.at,
                    &e.entity,
                    &e.direction.as_str(),
                    &e.local_key,
                    &e.twenty_id,
                    &json["action"].as_str().unwrap(),
                    &json,
                ],
            )
            .await
            .unwrap();
    }
    let sink = db.build(db.builder()).await;
    let all = sink.audit(&AuditQuery::default()).await.unwrap();
    let got: Vec<(&str, Option<&str>, Option<&str>)> = all
        .iter()
        .map(|e| {
            (
                e.run_id.as_str(),
                e.local_key.as_deref(),
                e.twenty_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("r1", Some("a"), Some("tw-a")),
            ("r1", Some("b"), None),
            ("r2", Some("a"), Some("tw-a"))
        ]
    );
    let by_id = sink
        .audit(&AuditQuery {
            key: Some("tw-a".into()),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_id, all[2..].to_vec());
    let old: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1
             AND table_name = 'audit'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(old, 0, "the per-entry table is dropped once moved");
    // The entries compress with lz4 when the server has it.
    let lz4 = client
        .batch_execute("CREATE TEMP TABLE lz4_probe (t text COMPRESSION lz4)")
        .await
        .is_ok();
    let compression: i8 = client
        .query_one(
            &format!(
                "SELECT attcompression FROM pg_attribute
                 WHERE attrelid = '{q}.audit_log'::regclass AND attname = 'entries'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(compression as u8, if lz4 { b'l' } else { 0 });
    // Migration 5: the moved rows are found by key (above) through the hashes of their keys;
    // the text keys and their index are gone.
    let columns: Vec<String> = client
        .query(
            &format!(
                "SELECT attname::text FROM pg_attribute
                 WHERE attrelid = '{q}.audit_log'::regclass AND attnum > 0 AND NOT attisdropped
                 ORDER BY attnum"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(columns.iter().any(|c| c == "key_hashes"), "{columns:?}");
    assert!(!columns.iter().any(|c| c == "keys"), "{columns:?}");
    let index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'audit_log_key_hashes'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(index.contains("USING gin (key_hashes)"), "{index}");
}
