//! The sink against a real BigQuery emulator (`bqemulator` 1.4.x on loopback, see
//! `tests/common/emulator.rs`): setup/verify, staged MERGE, change feed, tombstones, deletes table.
//! These tests FAIL (never skip) when the emulator cannot be started, saying how to fix it.

mod common;

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde_json::{Value, json};
use sink_bigquery::{SchemaDifference, TableRole};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, LocalChange, LocalChangeKind,
    SourceOfTruth, StateCommit, StateWritten, StoreErrorKind,
};

use common::emulator::emulator;
use common::{config, run_sql, sink, unique_dataset};

/// Now, at BigQuery's precision (microseconds).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("a valid time")
}

fn upsert(key: &str, data: Value, at: DateTime<Utc>) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Upsert { data },
        twenty_updated_at: Some(at),
    }
}

fn delete(key: &str, tombstone: bool, at: DateTime<Utc>) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Delete { tombstone },
        twenty_updated_at: Some(at),
    }
}

fn batch(entity: &str, changes: Vec<InboundChange>) -> ApplyBatch {
    ApplyBatch {
        entity: entity.into(),
        changes,
        state: StateCommit::new(entity),
    }
}

fn contact(name: &str) -> Value {
    json!({
        "canonical_name": name,
        "category_code": "C1",
        "subcategory_code": null,
        "relationship_category": "customer",
        "context": {"tags": ["vip"], "score": 3}
    })
}

async fn feed(
    s: &sink_bigquery::BigQuerySink,
    entity: &str,
    cp: Option<&Checkpoint>,
) -> Vec<LocalChange> {
    s.changes_since(entity, cp)
        .await
        .expect("feed opens")
        .try_collect()
        .await
        .expect("feed reads")
}

async fn count_rows(base: &str, dataset: &str, table: &str) -> i64 {
    let body = run_sql(
        base,
        &format!("SELECT COUNT(*) AS n FROM `test.{dataset}.{table}`"),
    )
    .await;
    body["rows"][0]["f"][0]["v"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a count")
}

#[tokio::test]
async fn setup_creates_every_table_and_a_second_setup_verifies_them_clean() {
    let emu = emulator();
    let ds = unique_dataset("setup");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    let first = s.setup().await.expect("setup succeeds");
    assert!(first.dataset_created);
    assert_eq!(
        first.tables_created,
        vec![
            "contacts",
            "contacts__twenty_sync_staging",
            "businesses",
            "businesses__twenty_sync_staging",
            "businesses_deleted"
        ]
    );
    let second = s.setup().await.expect("setup is repeatable");
    assert!(!second.dataset_created);
    assert!(second.tables_created.is_empty());
    assert_eq!(second.verified.len(), 5);
    for report in &second.verified {
        assert!(report.differences.is_empty(), "{report}");
    }
    let verified = s.verify().await.expect("verify succeeds");
    assert!(verified.iter().all(|r| r.is_usable()));
}

#[tokio::test]
async fn verify_reports_missing_columns_wrong_types_and_modes_of_an_existing_table() {
    let emu = emulator();
    let ds = unique_dataset("drift");
    run_sql(&emu.base_url, &format!("CREATE SCHEMA `test.{ds}`")).await;
    run_sql(
        &emu.base_url,
        &format!(
            "CREATE TABLE `test.{ds}.contacts` (contact_id STRING, updated_at TIMESTAMP NOT NULL, \
             canonical_name INT64, category_code STRING, context JSON, deleted_at TIMESTAMP)"
        ),
    )
    .await;
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    let reports = s.verify().await.expect("verify succeeds");
    let contacts = reports
        .iter()
        .find(|r| r.table == "contacts")
        .expect("a report for contacts");
    assert_eq!(contacts.role, TableRole::Target);
    let d = &contacts.differences;
    assert!(d.contains(&SchemaDifference::WrongMode {
        column: "contact_id".into(),
        expected: "REQUIRED".into(),
        actual: "NULLABLE".into()
    }));
    assert!(
        d.contains(&SchemaDifference::WrongType {
            column: "canonical_name".into(),
            expected: "STRING".into(),
            actual: "INT64".into()
        }),
        "{contacts}"
    );
    assert!(d.contains(&SchemaDifference::MissingColumn {
        column: "subcategory_code".into(),
        expected_type: "STRING".into()
    }));
    assert!(!contacts.is_usable());
    let staging = reports
        .iter()
        .find(|r| r.role == TableRole::Staging && r.entity == "contacts")
        .expect("a staging report");
    assert!(!staging.exists);

    let err = s.setup().await.expect_err("setup refuses a drifted table");
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(
        err.to_string()
            .contains("column `canonical_name` is INT64, expected STRING"),
        "{err}"
    );
}

#[tokio::test]
async fn replayed_batches_merge_without_duplicates_and_the_newest_updated_at_wins() {
    let emu = emulator();
    let ds = unique_dataset("merge");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    s.setup().await.expect("setup");
    let t0 = now() - Duration::hours(2);
    let b = batch(
        "contacts",
        vec![
            upsert("c1", contact("Ann"), t0),
            upsert("c2", contact("Bob"), t0),
            upsert("c1", contact("Ann Again"), t0 + Duration::seconds(1)),
        ],
    );
    assert_eq!(s.apply(&b).await.expect("apply"), StateWritten::NotWritten);
    s.apply(&b).await.expect("apply again");
    assert_eq!(count_rows(&emu.base_url, &ds, "contacts").await, 2);

    let mut got = s
        .get("contacts", &["c1".into(), "c2".into(), "nope".into()])
        .await
        .expect("get");
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].data["canonical_name"], "Ann Again");
    assert_eq!(got[0].data["contact_id"], "c1");
    assert_eq!(got[0].data["context"], json!({"tags": ["vip"], "score": 3}));
    assert_eq!(got[0].data["subcategory_code"], Value::Null);
    assert_eq!(got[0].updated_at, Some(t0 + Duration::seconds(1)));

    // An older version from Twenty does not overwrite a newer row.
    s.apply(&batch(
        "contacts",
        vec![upsert("c2", contact("Old Bob"), t0 - Duration::hours(1))],
    ))
    .await
    .expect("apply older");
    // A newer one does.
    s.apply(&batch(
        "contacts",
        vec![upsert("c1", contact("Ann New"), t0 + Duration::minutes(5))],
    ))
    .await
    .expect("apply newer");
    let got = s
        .get("contacts", &["c1".into(), "c2".into()])
        .await
        .expect("get");
    let name = |k: &str| {
        got.iter()
            .find(|r| r.key == k)
            .map(|r| r.data["canonical_name"].clone())
    };
    assert_eq!(name("c2"), Some(json!("Bob")));
    assert_eq!(name("c1"), Some(json!("Ann New")));
    assert_eq!(count_rows(&emu.base_url, &ds, "contacts").await, 2);
}

#[tokio::test]
async fn the_feed_pages_in_updated_at_then_key_order_resumes_and_holds_back_recent_rows() {
    let emu = emulator();
    let ds = unique_dataset("feed");
    // Lag of ten minutes, pages of two rows.
    let s = sink(&emu.base_url, config(&ds, 600, 2)).await;
    s.setup().await.expect("setup");
    let t0 = now() - Duration::hours(1);
    s.apply(&batch(
        "contacts",
        vec![
            upsert("c3", contact("C"), t0 + Duration::seconds(1)),
            upsert("c2", contact("B"), t0),
            upsert("c1", contact("A"), t0),
            upsert("c4", contact("D"), t0 + Duration::seconds(2)),
            upsert("c5", contact("E"), t0 + Duration::seconds(3)),
            // Within the safety lag: not visible yet.
            upsert("c6", contact("F"), Utc::now() - Duration::minutes(1)),
        ],
    ))
    .await
    .expect("apply");

    let all = feed(&s, "contacts", None).await;
    let keys: Vec<&str> = all.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["c1", "c2", "c3", "c4", "c5"]);
    assert!(
        matches!(&all[0].kind, LocalChangeKind::Upsert { data } if data["canonical_name"] == "A")
    );
    assert_eq!(all[0].updated_at, Some(t0));

    let rest = feed(&s, "contacts", Some(&all[1].checkpoint)).await;
    let keys: Vec<&str> = rest.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        ["c3", "c4", "c5"],
        "resumes right after c2 (same timestamp as c1)"
    );
    assert!(
        feed(&s, "contacts", Some(&all[4].checkpoint))
            .await
            .is_empty()
    );

    // Without a lag the recent row is visible, after the others.
    let eager = sink(&emu.base_url, config(&ds, 0, 2)).await;
    let after = feed(&eager, "contacts", Some(&all[4].checkpoint)).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].key, "c6");
}

#[tokio::test]
async fn local_edits_by_another_writer_appear_in_the_feed() {
    let emu = emulator();
    let ds = unique_dataset("local");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    s.setup().await.expect("setup");
    let start = feed(&s, "contacts", None).await;
    assert!(start.is_empty());
    run_sql(
        &emu.base_url,
        &format!(
            "INSERT INTO `test.{ds}.contacts` (contact_id, updated_at, canonical_name) VALUES \
             ('local-1', CURRENT_TIMESTAMP(), 'Written locally')"
        ),
    )
    .await;
    let changes = feed(&s, "contacts", None).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "local-1");
    let cp = changes[0].checkpoint.clone();
    // A local soft delete: tombstone set and updated_at bumped.
    run_sql(
        &emu.base_url,
        &format!(
            "UPDATE `test.{ds}.contacts` SET deleted_at = CURRENT_TIMESTAMP(), updated_at = \
             TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL -0 SECOND) WHERE contact_id = 'local-1'"
        ),
    )
    .await;
    let changes = feed(&s, "contacts", Some(&cp)).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].kind, LocalChangeKind::Delete);
}

#[tokio::test]
async fn pulled_deletes_set_tombstones_remove_rows_or_fill_the_deletes_table() {
    let emu = emulator();
    let ds = unique_dataset("deletes");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    s.setup().await.expect("setup");
    let t0 = now() - Duration::hours(1);
    s.apply(&batch(
        "contacts",
        vec![
            upsert("c1", contact("A"), t0),
            upsert("c2", contact("B"), t0),
        ],
    ))
    .await
    .expect("apply");
    let deletes = batch(
        "contacts",
        vec![
            delete("c1", true, t0 + Duration::seconds(10)),
            delete("c2", false, t0 + Duration::seconds(10)),
        ],
    );
    s.apply(&deletes).await.expect("apply deletes");
    s.apply(&deletes).await.expect("replay deletes");
    assert!(
        s.get("contacts", &["c1".into(), "c2".into()])
            .await
            .expect("get")
            .is_empty()
    );
    assert_eq!(
        count_rows(&emu.base_url, &ds, "contacts").await,
        1,
        "c1 kept as tombstone"
    );
    let changes = feed(&s, "contacts", None).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "c1");
    assert_eq!(changes[0].kind, LocalChangeKind::Delete);

    // An upsert after a tombstone revives the row.
    s.apply(&batch(
        "contacts",
        vec![upsert("c1", contact("A2"), t0 + Duration::seconds(20))],
    ))
    .await
    .expect("revive");
    assert_eq!(
        s.get("contacts", &["c1".into()]).await.expect("get").len(),
        1
    );

    // Deletes table mode.
    s.apply(&batch(
        "businesses",
        vec![upsert(
            "b1",
            json!({"business_name": "Acme", "website": "https://acme.test", "industry": "tools", "business_type": "B2B"}),
            t0,
        )],
    ))
    .await
    .expect("apply business");
    s.apply(&batch(
        "businesses",
        vec![delete("b1", true, t0 + Duration::seconds(5))],
    ))
    .await
    .expect("delete business");
    assert_eq!(count_rows(&emu.base_url, &ds, "businesses").await, 0);
    assert_eq!(
        count_rows(&emu.base_url, &ds, "businesses_deleted").await,
        1
    );
    run_sql(
        &emu.base_url,
        &format!(
            "INSERT INTO `test.{ds}.businesses_deleted` (business_id, deleted_at) VALUES ('b-local', \
             TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 SECOND))"
        ),
    )
    .await;
    let changes = feed(&s, "businesses", None).await;
    let seen: Vec<(&str, bool)> = changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind == LocalChangeKind::Delete))
        .collect();
    assert_eq!(seen, [("b1", true), ("b-local", true)]);
}

#[tokio::test]
async fn unknown_entities_and_foreign_checkpoints_are_refused() {
    let emu = emulator();
    let ds = unique_dataset("errors");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    let err = s
        .get("people", &["x".into()])
        .await
        .expect_err("unknown entity");
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    let err = match s
        .changes_since("contacts", Some(&Checkpoint::new("42")))
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a foreign checkpoint must be refused"),
    };
    assert_eq!(err.kind(), StoreErrorKind::Invalid);
    // Tables that do not exist yet: a NotFound error that says to run setup.
    let err = s
        .get("contacts", &["x".into()])
        .await
        .expect_err("no table yet");
    assert!(err.to_string().contains("setup"), "{err}");
}

#[tokio::test]
async fn deletes_table_mode_is_atomic_a_failing_second_merge_rolls_back_the_first() {
    let emu = emulator();
    let ds = unique_dataset("atomic");
    let s = sink(&emu.base_url, config(&ds, 0, 100)).await;
    s.setup().await.expect("setup");
    let t0 = now() - Duration::hours(1);
    let business = |name: &str| json!({"business_name": name, "website": "https://acme.test", "industry": "tools", "business_type": "B2B"});
    s.apply(&batch(
        "businesses",
        vec![
            upsert("b1", business("Acme"), t0),
            upsert("b2", business("Beta"), t0),
        ],
    ))
    .await
    .expect("apply");
    // The deletes table disappears: the second statement of the transaction fails.
    run_sql(
        &emu.base_url,
        &format!("DROP TABLE `test.{ds}.businesses_deleted`"),
    )
    .await;
    let mixed = batch(
        "businesses",
        vec![
            delete("b1", false, t0 + Duration::seconds(5)),
            upsert("b2", business("Beta v2"), t0 + Duration::seconds(5)),
        ],
    );
    let err = s
        .apply(&mixed)
        .await
        .expect_err("the deletes-table MERGE must fail");
    assert!(err.to_string().contains("businesses"), "{err}");
    let mut got = s
        .get("businesses", &["b1".into(), "b2".into()])
        .await
        .expect("get");
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        got.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["b1", "b2"],
        "the target MERGE was rolled back: b1 is not deleted"
    );
    assert_eq!(got[1].data["business_name"], "Beta", "nor is b2 updated");
    // Repaired (setup recreates the table), the same batch applies fully, and again idempotently.
    s.setup().await.expect("setup again");
    s.apply(&mixed).await.expect("apply after repair");
    s.apply(&mixed).await.expect("replay");
    let got = s
        .get("businesses", &["b1".into(), "b2".into()])
        .await
        .expect("get");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data["business_name"], "Beta v2");
    assert_eq!(
        count_rows(&emu.base_url, &ds, "businesses_deleted").await,
        1
    );
}

fn compiled(toml: &str) -> twenty_mapping::CompiledMapping {
    use twenty_mapping::{MappingFile, TransformRegistry, compile};
    let file = MappingFile::from_toml_str(toml, "mapping.toml").expect("the mapping parses");
    compile(&file, &TransformRegistry::with_builtins(), None).expect("the mapping compiles")
}

const PEOPLE_MAPPING: &str = r#"
[entities.people]
twenty_object = "people"
local_key = "person_id"
[entities.people.custom_fields]
score = { type = "NUMBER" }
profile = { type = "RAW_JSON" }
[[entities.people.fields]]
from = "full_name"
to = "name"
transforms = ["split_name"]
required = true
[[entities.people.fields]]
from = "email"
to = "emails.primaryEmail"
[[entities.people.fields]]
from = "address"
to = "address"
[[entities.people.fields]]
from = "score"
to = "score"
[[entities.people.fields]]
from = "profile"
to = "profile"
"#;

#[tokio::test]
async fn setup_from_a_compiled_mapping_creates_the_tables_and_verify_reports_mapping_drift() {
    use sink_bigquery::BigQueryConfig;
    let emu = emulator();
    let ds = unique_dataset("mapped");
    let mut config = BigQueryConfig::from_mapping("test", &ds, &compiled(PEOPLE_MAPPING), None)
        .expect("derived config");
    config.safety_lag_secs = 0;
    let s = sink(&emu.base_url, config.clone()).await;
    let report = s.setup().await.expect("setup from the mapping");
    assert!(report.dataset_created);
    assert_eq!(
        report.tables_created,
        ["people", "people__twenty_sync_staging"]
    );
    // The table as BigQuery describes it: types from the mapping, partitioning and clustering.
    let table: Value = reqwest::get(format!(
        "{}/projects/test/datasets/{ds}/tables/people",
        emu.base_url
    ))
    .await
    .expect("tables.get")
    .json()
    .await
    .expect("a table resource");
    let fields: Vec<(String, String, String)> = table["schema"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["type"].as_str().unwrap_or_default().to_owned(),
                f["mode"].as_str().unwrap_or("NULLABLE").to_owned(),
            )
        })
        .collect();
    let expect = |name: &str, ty: &[&str], mode: &str| {
        assert!(
            fields
                .iter()
                .any(|(n, t, m)| n == name && ty.contains(&t.as_str()) && m == mode),
            "column {name} {ty:?} {mode} in {fields:?}"
        );
    };
    expect("person_id", &["STRING"], "REQUIRED");
    expect("updated_at", &["TIMESTAMP"], "REQUIRED");
    expect("full_name", &["STRING"], "REQUIRED"); // split_name's inverse gives one string
    expect("email", &["STRING"], "NULLABLE");
    expect("address", &["JSON"], "NULLABLE"); // ADDRESS: a nested value
    expect("score", &["FLOAT", "FLOAT64"], "NULLABLE");
    expect("profile", &["JSON"], "NULLABLE");
    expect("deleted_at", &["TIMESTAMP"], "NULLABLE");
    assert_eq!(table["timePartitioning"]["field"], "updated_at");
    assert_eq!(table["clustering"]["fields"], json!(["person_id"]));

    // A pulled record goes through the mapping-derived table and back.
    let plan = compiled(PEOPLE_MAPPING);
    let people = plan.entity("people").expect("plan");
    let twenty = json!({
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
        "emails": {"primaryEmail": "ada@example.com"},
        "address": {"addressCity": "Paris", "addressCountry": "France"},
        "score": 2.5,
        "profile": {"tags": ["vip"], "since": 1815}
    });
    let local = people.to_local(&twenty).record;
    s.apply(&batch("people", vec![upsert("p1", local.clone(), now())]))
        .await
        .expect("apply");
    let got = s.get("people", &["p1".into()]).await.expect("get");
    assert_eq!(got.len(), 1);
    for field in ["full_name", "email", "address", "score", "profile"] {
        assert_eq!(got[0].data[field], local[field], "{field}");
    }
    assert_eq!(people.to_twenty(&got[0].data).record, twenty);

    // The mapping changes: a new field, and `score` becomes text. Verify names each difference.
    let changed = PEOPLE_MAPPING.replace(
        "score = { type = \"NUMBER\" }",
        "score = { type = \"TEXT\" }",
    ) + "[[entities.people.fields]]\nfrom = \"city\"\nto = \"city\"\n";
    let drifted = BigQueryConfig::from_mapping("test", &ds, &compiled(&changed), None)
        .expect("derived config");
    let s2 = sink(&emu.base_url, drifted).await;
    let reports = s2.verify().await.expect("verify");
    let target = reports
        .iter()
        .find(|r| r.table == "people")
        .expect("target report");
    assert!(
        target
            .differences
            .contains(&SchemaDifference::MissingColumn {
                column: "city".into(),
                expected_type: "STRING".into()
            }),
        "{target}"
    );
    assert!(
        target.differences.contains(&SchemaDifference::WrongType {
            column: "score".into(),
            expected: "STRING".into(),
            actual: "FLOAT64".into()
        }),
        "{target}"
    );
    let err = s2
        .setup()
        .await
        .expect_err("setup refuses the drifted table");
    assert!(
        err.to_string().contains("`city`") && err.to_string().contains("`score`"),
        "{err}"
    );
}
