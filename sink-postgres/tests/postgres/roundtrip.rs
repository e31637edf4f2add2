use serde_json::{json, Value};
use sink_postgres::{ColumnType, EntityTable};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, RecordState, SourceOfTruth,
    StateCommit, StateStore, StateWritten, SyncDirection,
};

use crate::common::{admin, TestDb};

/// One column per Twenty field type, in the local shape a mapping produces.
fn every_type_table(db: &TestDb) -> EntityTable {
    use ColumnType::*;
    let fields = [
        ("name", Jsonb),         // FULL_NAME
        ("emails", Jsonb),       // EMAILS
        ("phones", Jsonb),       // PHONES
        ("links", Jsonb),        // LINKS
        ("amount", Jsonb),       // CURRENCY
        ("address", Jsonb),      // ADDRESS
        ("createdBy", Jsonb),    // ACTOR
        ("bio", Jsonb),          // RICH_TEXT_V2
        ("raw", Jsonb),          // RAW_JSON
        ("title", Text),         // TEXT
        ("stage", Text),         // SELECT
        ("rating", Text),        // RATING
        ("tags", TextArray),     // MULTI_SELECT
        ("aliases", TextArray),  // ARRAY
        ("employees", Bigint),   // NUMBER (integer)
        ("score", Double),       // NUMBER (decimal)
        ("position", Double),    // POSITION
        ("exact", Numeric),      // NUMERIC
        ("active", Boolean),     // BOOLEAN
        ("bornAt", Timestamptz), // DATE_TIME
        ("birthday", Date),      // DATE
        ("companyId", Uuid),     // UUID / RELATION
    ];
    EntityTable::default_table("people", &db.data_schema(), "id", fields)
}

fn full_record() -> Value {
    json!({
        "id": "p-1",
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
        "emails": {"primaryEmail": "ada@example.com", "additionalEmails": ["ada2@example.com"]},
        "phones": {"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
                   "primaryPhoneCallingCode": "+33", "additionalPhones": []},
        "links": {"primaryLinkUrl": "https://ada.example", "primaryLinkLabel": "",
                  "secondaryLinks": [{"url": "https://b.example", "label": "b"}]},
        "amount": {"amountMicros": 1500000000, "currencyCode": "EUR"},
        "address": {"addressStreet1": "12 rue X", "addressStreet2": null, "addressCity": "Paris",
                    "addressState": null, "addressCountry": "France", "addressPostcode": "75001",
                    "addressLat": 48.86, "addressLng": 2.35},
        "createdBy": {"source": "API", "name": "sync", "workspaceMemberId": null},
        "bio": {"blocknote": null, "markdown": "**Analyst**"},
        "raw": {"nested": [1, {"x": null}, "y"]},
        "title": "Countess \"of\" Lovelace, l'analyste 日本",
        "stage": "QUALIFIED",
        "rating": "RATING_3",
        "tags": ["math", "poetry"],
        "aliases": ["A.A.L."],
        "employees": 42,
        "score": 3.25,
        "position": -1.5,
        "exact": 12345.678,
        "active": true,
        "bornAt": "1815-12-10T08:30:00.123456Z",
        "birthday": "1815-12-10",
        "companyId": "2b0e7c2e-6a7e-4a4e-9a59-0c3f6c1f2a10"
    })
}

fn empty_record() -> Value {
    let mut v = full_record();
    for (k, val) in v.as_object_mut().unwrap().iter_mut() {
        if k != "id" {
            *val = Value::Null;
        }
    }
    v["id"] = json!("p-2");
    v
}

fn upsert(key: &str, data: Value) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Upsert { data },
        twenty_updated_at: None,
    }
}

#[tokio::test]
async fn every_twenty_field_type_round_trips_through_the_default_table() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let batch = ApplyBatch {
        entity: "people".into(),
        changes: vec![upsert("p-1", full_record()), upsert("p-2", empty_record())],
        state: StateCommit::new("people"),
    };
    assert_eq!(sink.apply(&batch).await.unwrap(), StateWritten::Written);
    let mut got = sink
        .get("people", &["p-1".into(), "p-2".into(), "absent".into()])
        .await
        .unwrap();
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].data, full_record());
    assert_eq!(got[1].data, empty_record());
    assert!(
        got[0].updated_at.is_some(),
        "default tables carry updated_at"
    );
}

#[tokio::test]
async fn apply_writes_data_and_state_in_one_transaction() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let mut state = StateCommit::new("people");
    state.upsert_records.push(RecordState::new("p-1", "tw-p-1"));
    state.cursors.push((
        SyncDirection::Pull,
        Checkpoint::new("2024-01-01T00:00:00Z|tw-p-1"),
    ));
    let batch = ApplyBatch {
        entity: "people".into(),
        changes: vec![upsert("p-1", full_record())],
        state,
    };
    sink.apply(&batch).await.unwrap();
    let rec = sink.records("people", &["p-1".into()]).await.unwrap();
    assert_eq!(rec[0].twenty_id, "tw-p-1");
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("2024-01-01T00:00:00Z|tw-p-1"))
    );
}

#[tokio::test]
async fn reapplying_an_unchanged_batch_rewrites_no_row() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let batch = ApplyBatch {
        entity: "people".into(),
        changes: vec![upsert("p-1", full_record()), upsert("p-2", empty_record())],
        state: StateCommit::new("people"),
    };
    sink.apply(&batch).await.unwrap();
    let client = admin().await;
    let versions = format!(
        "SELECT id, xmin::text FROM \"{}\".people ORDER BY id",
        db.data_schema()
    );
    let before: Vec<(String, String)> = client
        .query(&versions, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    sink.apply(&batch).await.unwrap();
    let after: Vec<(String, String)> = client
        .query(&versions, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(before, after, "unchanged rows must not be rewritten");

    let mut changed = full_record();
    changed["title"] = json!("Changed");
    sink.apply(&ApplyBatch {
        entity: "people".into(),
        changes: vec![upsert("p-1", changed.clone())],
        state: StateCommit::new("people"),
    })
    .await
    .unwrap();
    let got = sink.get("people", &["p-1".into()]).await.unwrap();
    assert_eq!(got[0].data, changed);
}

#[tokio::test]
async fn deletes_remove_rows_or_set_the_tombstone_and_last_change_of_a_key_wins() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let delete = |key: &str, tombstone: bool| InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Delete { tombstone },
        twenty_updated_at: None,
    };
    let mut p3 = full_record();
    p3["id"] = json!("p-3");
    sink.apply(&ApplyBatch {
        entity: "people".into(),
        changes: vec![
            upsert("p-1", full_record()),
            upsert("p-2", empty_record()),
            upsert("p-3", p3.clone()),
        ],
        state: StateCommit::new("people"),
    })
    .await
    .unwrap();
    sink.apply(&ApplyBatch {
        entity: "people".into(),
        changes: vec![
            delete("p-1", false),
            delete("p-2", true),
            delete("p-3", false),
            upsert("p-3", p3.clone()),
        ],
        state: StateCommit::new("people"),
    })
    .await
    .unwrap();
    let keys = vec!["p-1".to_owned(), "p-2".to_owned(), "p-3".to_owned()];
    let got = sink.get("people", &keys).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, p3);
    let client = admin().await;
    let rows: Vec<(String, bool)> = client
        .query(
            &format!(
                "SELECT id, deleted_at IS NOT NULL FROM \"{}\".people ORDER BY id",
                db.data_schema()
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![("p-2".into(), true), ("p-3".into(), false)]);
}

#[tokio::test]
async fn a_value_that_does_not_fit_its_column_names_the_record_and_field() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let mut bad = full_record();
    bad["employees"] = json!("many");
    let err = sink
        .apply(&ApplyBatch {
            entity: "people".into(),
            changes: vec![upsert("p-1", bad)],
            state: StateCommit::new("people"),
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("employees") && text.contains("p-1"), "{text}");
    assert!(!text.contains("many"), "values are not echoed: {text}");
}
