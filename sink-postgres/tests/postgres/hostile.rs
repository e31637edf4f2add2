use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::json;
use sink_postgres::{ColumnMap, ColumnType, EntityTable};
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, LocalChangeKind, SourceOfTruth, StateCommit,
    StoreErrorKind,
};

use crate::common::{TestDb, admin, database_url};

#[tokio::test]
async fn hostile_identifiers_from_config_are_quoted_not_executed() {
    let db = TestDb::new().await;
    let client = admin().await;
    // The sink's sessions resolve the unqualified `x` of the injected SQL to this sentinel.
    let data = db.data_schema();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{data}\"; CREATE TABLE \"{data}\".x (id int)"
        ))
        .await
        .unwrap();
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}options=-c%20search_path%3D{data}");

    let evil = "a\"; DROP TABLE x; --";
    let schema = format!("{}_h\"; DROP TABLE x; --", db.prefix);
    let entity = "evil'; DROP TABLE x; --";
    let table = EntityTable::new(entity, schema.clone(), evil, evil)
        .column(ColumnMap::new("f", ColumnType::Text).column("c\"); DROP TABLE x; --"))
        .column(ColumnMap::new("j", ColumnType::Jsonb).column("$$'\\"))
        .create(true);
    let sink = db
        .build(
            db.builder()
                .connection_string(SecretString::from(url))
                .state_schema(format!("{}_s\"'$twenty_sync$", db.prefix))
                .entity(table),
        )
        .await;
    sink.apply(&ApplyBatch {
        entity: entity.into(),
        changes: vec![InboundChange {
            key: "k'1\"".into(),
            twenty_id: "t1".into(),
            kind: InboundChangeKind::Upsert {
                data: json!({"f": "v'); DROP TABLE x; --", "j": {"a": "\"'"}}),
            },
            twenty_updated_at: None,
        }],
        state: StateCommit::new(entity),
    })
    .await
    .unwrap();
    let got = sink.get(entity, &["k'1\"".into()]).await.unwrap();
    assert_eq!(got[0].data["f"], json!("v'); DROP TABLE x; --"));
    assert_eq!(got[0].data["j"], json!({"a": "\"'"}));
    assert_eq!(got[0].data[evil], json!("k'1\""));

    // A local write through the hostile names is captured by the trigger.
    client
        .execute(
            &format!(
                "INSERT INTO {} ({}) VALUES ('k2')",
                sink_postgres::quote_qualified(&schema, evil),
                sink_postgres::quote_ident(evil)
            ),
            &[],
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let changes = loop {
        let changes: Vec<_> = sink
            .changes_since(entity, None)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        if !changes.is_empty() || tokio::time::Instant::now() > deadline {
            break changes;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "k2");
    assert!(matches!(changes[0].kind, LocalChangeKind::Upsert { .. }));
    assert_eq!(sink.remove_all_capture().await.unwrap(), 1);

    let still_there: bool = client
        .query_one(
            "SELECT to_regclass(quote_ident($1) || '.x') IS NOT NULL",
            &[&data],
        )
        .await
        .unwrap()
        .get(0);
    assert!(still_there, "the sentinel table must survive");
}

#[tokio::test]
async fn identifiers_longer_than_postgres_allows_are_rejected_by_name() {
    let db = TestDb::new().await;
    let long = "t".repeat(64);
    let table = EntityTable::new("people", db.data_schema(), long.clone(), "id").create(true);
    let err = db.builder().entity(table).build().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains(&long), "{err}");
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let db = TestDb::new().await;
    let table = EntityTable::new("people", db.data_schema(), "no_such_table", "id");
    let err = db.builder().entity(table).build().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[tokio::test]
async fn a_missing_column_is_an_error_naming_it() {
    let db = TestDb::new().await;
    let client = admin().await;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".people (id text PRIMARY KEY, name text)",
            db.data_schema()
        ))
        .await
        .unwrap();
    let table = EntityTable::new("people", db.data_schema(), "people", "id")
        .column(ColumnMap::new("name", ColumnType::Text))
        .column(ColumnMap::new("email", ColumnType::Text).column("email_address"));
    let err = db.builder().entity(table).build().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("email_address"), "{err}");
}

#[tokio::test]
async fn a_key_column_without_a_unique_index_is_rejected() {
    let db = TestDb::new().await;
    let client = admin().await;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".people (code text, name text)",
            db.data_schema()
        ))
        .await
        .unwrap();
    let table = EntityTable::new("people", db.data_schema(), "people", "code");
    let err = db.builder().entity(table).build().await.unwrap_err();
    assert!(err.to_string().contains("unique"), "{err}");
}

#[tokio::test]
async fn existing_tables_with_their_own_types_are_written_with_casts() {
    let db = TestDb::new().await;
    let client = admin().await;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\";
             CREATE TYPE \"{0}\".stage AS ENUM ('NEW', 'WON');
             CREATE TABLE \"{0}\".deals (id bigint PRIMARY KEY, amount numeric(12,2),
                 stage \"{0}\".stage, title varchar(20), meta json, n int)",
            db.data_schema()
        ))
        .await
        .unwrap();
    let table = EntityTable::new("deals", db.data_schema(), "deals", "id")
        .column(ColumnMap::new("amount", ColumnType::Numeric))
        .column(ColumnMap::new("stage", ColumnType::Text))
        .column(ColumnMap::new("title", ColumnType::Text))
        .column(ColumnMap::new("meta", ColumnType::Jsonb))
        .column(ColumnMap::new("n", ColumnType::Bigint));
    let sink = db.build(db.builder().entity(table)).await;
    let data =
        json!({"id": 7, "amount": 12.5, "stage": "WON", "title": "Big", "meta": {"a": 1}, "n": 3});
    let batch = ApplyBatch {
        entity: "deals".into(),
        changes: vec![InboundChange {
            key: "7".into(),
            twenty_id: "t7".into(),
            kind: InboundChangeKind::Upsert { data: data.clone() },
            twenty_updated_at: None,
        }],
        state: StateCommit::new("deals"),
    };
    sink.apply(&batch).await.unwrap();
    // json has no equality operator: the changed-row check must still work on a re-apply.
    sink.apply(&batch).await.unwrap();
    let got = sink.get("deals", &["7".into()]).await.unwrap();
    assert_eq!(got[0].data, data);
}
