use serde_json::{Value, json};
use sink_postgres::{ColumnType, EntityTable};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, RecordState, SourceOfTruth,
    StateCommit, StateStore, StateWritten, SyncDirection,
};

use crate::common::{TestDb, admin};

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
async fn every_twenty_field_type_round_trips_through_the_upsert_too() {
    // Rows already in the table are upserted (typed array parameters), not copied: every column
    // type goes through that statement as well, from empty to full and back.
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(every_type_table(&db))).await;
    let apply = |p1: Value, p2: Value| ApplyBatch {
        entity: "people".into(),
        changes: vec![upsert("p-1", p1), upsert("p-2", p2)],
        state: StateCommit::new("people"),
    };
    sink.apply(&apply(empty_record(), full_record()))
        .await
        .unwrap();
    sink.apply(&apply(full_record(), empty_record()))
        .await
        .unwrap();
    let stats = sink.apply_stats("people").expect("stats");
    assert!(
        stats.upserted_rows >= 2,
        "at least the second batch is upserted: {stats:?}"
    );
    let mut got = sink
        .get("people", &["p-1".into(), "p-2".into()])
        .await
        .unwrap();
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got[0].data, full_record());
    assert_eq!(got[1].data, empty_record());
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

/// A mapping with one rule per Twenty field type (standard fields of `people` and custom fields).
const EVERY_TYPE_MAPPING: &str = r#"
[entities.people]
twenty_object = "people"
local_key = "id"

[entities.people.custom_fields]
salary = { type = "CURRENCY" }
homeAddress = { type = "ADDRESS" }
bio = { type = "RICH_TEXT_V2" }
raw = { type = "RAW_JSON" }
stage = { type = "SELECT", options = ["NEW", "QUALIFIED"] }
rating = { type = "RATING" }
tags = { type = "MULTI_SELECT", options = ["MATH", "POETRY"] }
aliases = { type = "ARRAY" }
employees = { type = "NUMBER" }
exact = { type = "NUMERIC" }
active = { type = "BOOLEAN" }
bornAt = { type = "DATE_TIME" }
birthday = { type = "DATE" }
ref = { type = "UUID" }
notes = { type = "RICH_TEXT" } # the same composite as bio, as Twenty 2.x names it
files = { type = "FILES" }

[[entities.people.fields]]
from = "name"
to = "name"
[[entities.people.fields]]
from = "emails"
to = "emails"
[[entities.people.fields]]
from = "phones"
to = "phones"
[[entities.people.fields]]
from = "linkedin"
to = "linkedinLink"
[[entities.people.fields]]
from = "job.title"
to = "jobTitle"
[[entities.people.fields]]
from = "company"
to = "companyId"
[[entities.people.fields]]
from = "created_by"
to = "createdBy"
direction = "pull"
[[entities.people.fields]]
from = "position"
to = "position"
[[entities.people.fields]]
from = "salary"
to = "salary"
[[entities.people.fields]]
from = "home"
to = "homeAddress"
[[entities.people.fields]]
from = "bio"
to = "bio"
[[entities.people.fields]]
from = "raw"
to = "raw"
[[entities.people.fields]]
from = "stage"
to = "stage"
[[entities.people.fields]]
from = "rating"
to = "rating"
[[entities.people.fields]]
from = "tags"
to = "tags"
[[entities.people.fields]]
from = "aliases"
to = "aliases"
[[entities.people.fields]]
from = "employees"
to = "employees"
[[entities.people.fields]]
from = "exact"
to = "exact"
[[entities.people.fields]]
from = "active"
to = "active"
[[entities.people.fields]]
from = "born_at"
to = "bornAt"
[[entities.people.fields]]
from = "birthday"
to = "birthday"
[[entities.people.fields]]
from = "ref"
to = "ref"
[[entities.people.fields]]
from = "notes"
to = "notes"
[[entities.people.fields]]
from = "files"
to = "files"
"#;

/// A Twenty `people` record with a value for every mapped field.
fn twenty_person(born_at: &str) -> Value {
    json!({
        "id": "0b7e1f52-0000-4000-8000-000000000001",
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
        "emails": {"primaryEmail": "ada@example.com", "additionalEmails": ["ada2@example.com"]},
        "phones": {"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
                   "primaryPhoneCallingCode": "+33", "additionalPhones": []},
        "linkedinLink": {"primaryLinkUrl": "https://ada.example", "primaryLinkLabel": "",
                         "secondaryLinks": [{"url": "https://b.example", "label": "b"}]},
        "jobTitle": "Countess \"of\" Lovelace, l'analyste 日本",
        "companyId": "2b0e7c2e-6a7e-4a4e-9a59-0c3f6c1f2a10",
        "createdBy": {"source": "API", "name": "sync", "workspaceMemberId": null, "context": {}},
        "position": -1.5,
        "salary": {"amountMicros": 1500000000, "currencyCode": "EUR"},
        "homeAddress": {"addressStreet1": "12 rue X", "addressStreet2": null, "addressCity": "Paris",
                        "addressState": null, "addressCountry": "France", "addressPostcode": "75001",
                        "addressLat": 48.86, "addressLng": 2.35},
        "bio": {"blocknote": null, "markdown": "**Analyst**"},
        "raw": {"nested": [1, {"x": null}, "y"]},
        "stage": "QUALIFIED",
        "rating": "RATING_3",
        "tags": ["MATH", "POETRY"],
        "aliases": ["A.A.L."],
        "employees": 42,
        "exact": 12345.678,
        "active": true,
        "bornAt": born_at,
        "birthday": "1815-12-10",
        "ref": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "notes": {"blocknote": "[]", "markdown": "2.x *rich* text"},
        "files": [{"fileId": "5d4c1f9a-0000-4000-8000-00000000f11e", "label": "cv.pdf",
                   "extension": "pdf"}]
    })
}

#[tokio::test]
async fn every_twenty_field_type_round_trips_through_the_table_derived_from_the_mapping() {
    use sink_postgres::ColumnType::*;
    use twenty_mapping::{MappingFile, TransformRegistry, compile};

    let file = MappingFile::from_toml_str(EVERY_TYPE_MAPPING, "every_type.toml").unwrap();
    let mapping = compile(&file, &TransformRegistry::with_builtins(), None)
        .unwrap_or_else(|e| panic!("the test mapping compiles: {e}"));
    let plan = mapping.entity("people").unwrap();
    let db = TestDb::new().await;
    let table = EntityTable::from_plan(plan, &db.data_schema(), None);
    let types: Vec<(&str, ColumnType)> = table
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.column_type))
        .collect();
    assert_eq!(
        types,
        [
            ("name", Jsonb),
            ("emails", Jsonb),
            ("phones", Jsonb),
            ("linkedin", Jsonb),
            ("job_title", Text),
            ("company", Uuid),
            ("created_by", Jsonb),
            ("position", Double),
            ("salary", Jsonb),
            ("home", Jsonb),
            ("bio", Jsonb),
            ("raw", Jsonb),
            ("stage", Text),
            ("rating", Text),
            ("tags", TextArray),
            ("aliases", TextArray),
            ("employees", Double),
            ("exact", Numeric),
            ("active", Boolean),
            ("born_at", Timestamptz),
            ("birthday", Date),
            ("ref", Uuid),
            ("notes", Jsonb),
            ("files", Jsonb),
        ],
        "column types derived from the mapping"
    );
    let sink = db.build(db.builder().entity(table)).await;

    // Pull: Twenty -> local shape -> the table; then read back and map to Twenty again (push).
    let exact = twenty_person("1815-12-10T08:30:00.123Z");
    let whole_second = twenty_person("2024-05-01T10:00:00.000Z");
    let sparse =
        json!({"id": "0b7e1f52-0000-4000-8000-000000000003", "name": {"firstName": "Only"}});
    let mut changes = Vec::new();
    let mut locals = Vec::new();
    for (key, twenty) in [("p-1", &exact), ("p-2", &whole_second), ("p-3", &sparse)] {
        let pulled = plan.to_local(twenty);
        assert!(pulled.is_clean(), "{:?}", pulled.errors);
        let mut local = pulled.record;
        local["id"] = json!(key);
        locals.push(local.clone());
        changes.push(upsert(key, local));
    }
    sink.apply(&ApplyBatch {
        entity: "people".into(),
        changes,
        state: StateCommit::new("people"),
    })
    .await
    .unwrap();
    let mut got = sink
        .get("people", &["p-1".into(), "p-2".into(), "p-3".into()])
        .await
        .unwrap();
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got.len(), 3);

    // Every value comes back exactly (absent fields come back as nulls, which map to nothing).
    let back = |i: usize| plan.to_twenty(&got[i].data);
    let p1 = back(0);
    assert!(p1.is_clean(), "{:?}", p1.errors);
    let mut expected = exact.clone();
    for pull_only in ["id", "createdBy"] {
        expected.as_object_mut().unwrap().remove(pull_only);
    }
    assert_eq!(p1.record, expected, "p-1 round trip");
    assert_eq!(
        got[0].data["created_by"], exact["createdBy"],
        "a pull-only composite is stored too"
    );
    assert_eq!(back(2).record, json!({"name": {"firstName": "Only"}}));
    // DATE_TIME is a timestamptz column: the instant is kept; the text comes back in the shortest
    // exact RFC 3339 form (Twenty's `.000Z` becomes `Z`).
    let p2 = back(1).record;
    assert_eq!(p2["bornAt"], json!("2024-05-01T10:00:00Z"));
    let mut p2_rest = p2.clone();
    let mut whole_rest = whole_second.clone();
    for v in [&mut p2_rest, &mut whole_rest] {
        let o = v.as_object_mut().unwrap();
        for k in ["id", "createdBy", "bornAt"] {
            o.remove(k);
        }
    }
    assert_eq!(p2_rest, whole_rest, "p-2 round trip apart from bornAt");
}
