//! A field the pull leaves out (Twenty has no value) is read back from the table as NULL: the
//! record must still count as unchanged locally, so that a sync takes a change made only in
//! Twenty as an update, not as a conflict — which `local_wins` would settle by dropping it.

#[path = "postgres/common.rs"]
mod common;

use std::sync::Arc;

use serde_json::json;
use sink_postgres::{ColumnType, EntityTable, PostgresSink, quote_qualified};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::RunOptions;
use twenty_sync_core::{RunMode, RunStatus};

use common::{TestDb, admin, mapped_engine, sim_client};

const KEY: &str = "sink-postgres-null-fields-key";

const MAPPING: &str = r#"
[entities.contacts]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail"]
conflict = "local_wins"

[[entities.contacts.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]

[[entities.contacts.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "US" }]
direction = "pull"

[[entities.contacts.fields]]
from = "title"
to = "jobTitle"
"#;

#[tokio::test]
async fn a_twenty_only_change_to_a_record_with_an_empty_field_is_an_update_not_a_conflict() {
    let db = TestDb::new().await;
    let sim = SimServer::start(SimConfig::new(KEY).rate_limit(None))
        .await
        .expect("simulator starts");
    let person = sim.handle().insert_record(
        "people",
        json!({"emails": {"primaryEmail": "nophone@example.com"}, "jobTitle": "Before"}),
    );
    let id = person["id"].as_str().unwrap().to_owned();
    let table = EntityTable::default_table(
        "contacts",
        &db.data_schema(),
        "id",
        [
            ("email", ColumnType::Text),
            ("phone", ColumnType::Text),
            ("title", ColumnType::Text),
        ],
    );
    let sink: Arc<PostgresSink> = db.build(db.builder().entity(table)).await;
    let engine = mapped_engine(sim_client(&sim, KEY), &sink, MAPPING, "contacts");

    let pull = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(
        pull.entities["contacts:pull"].created,
        1,
        "{}",
        pull.summary()
    );
    let pg = admin().await;
    let t = quote_qualified(&db.data_schema(), "contacts");
    let phone: Option<String> = pg
        .query_one(&format!("SELECT phone FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(phone, None, "no phone in Twenty: NULL locally");

    sim.handle()
        .update_record("people", &id, json!({"jobTitle": "After"}))
        .expect("update");
    let out = engine
        .run(RunMode::Sync, RunOptions::new())
        .await
        .expect("sync");
    assert_eq!(
        out.report.status,
        RunStatus::Succeeded,
        "{}",
        out.report.summary()
    );
    let c = &out.report.entities["contacts:pull"];
    assert_eq!(
        (c.updated, c.conflicted),
        (1, 0),
        "{}",
        out.report.summary()
    );
    let title: String = pg
        .query_one(&format!("SELECT title FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(title, "After", "Twenty's change reached the local row");
}
