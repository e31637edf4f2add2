//! Twenty records that the mapping gives one local key, on one page: each batch writes the key
//! once, the later records updating the row the earlier one wrote, and the report counts one
//! create and two updates for the three records (not three creates of one row).

#[path = "postgres/common.rs"]
mod common;

use std::sync::Arc;

use serde_json::json;
use sink_postgres::{ColumnType, EntityTable, PostgresSink, quote_qualified};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::RunStatus;
use twenty_sync_core::engine::RunOptions;

use common::{TestDb, admin, mapped_engine, sim_client};

const KEY: &str = "sink-postgres-shared-local-key";

const MAPPING: &str = r#"
[entities.contacts]
twenty_object = "people"
local_key = "last"

[[entities.contacts.fields]]
from = "last"
to = "name.lastName"

[[entities.contacts.fields]]
from = "first"
to = "name.firstName"
"#;

#[tokio::test]
async fn people_sharing_a_local_key_on_one_page_are_pulled_into_postgres() {
    let db = TestDb::new().await;
    let sim = SimServer::start(SimConfig::new(KEY).rate_limit(None))
        .await
        .expect("simulator starts");
    for (i, last) in ["A", "Same", "B", "Same", "Same"].into_iter().enumerate() {
        sim.handle().insert_record(
            "people",
            json!({"name": {"firstName": format!("P{i}"), "lastName": last},
                   "emails": {"primaryEmail": format!("p{i}@example.com")}}),
        );
    }
    let table = EntityTable::default_table(
        "contacts",
        &db.data_schema(),
        "last",
        [("first", ColumnType::Text)],
    );
    let sink: Arc<PostgresSink> = db.build(db.builder().entity(table)).await;
    let engine = mapped_engine(sim_client(&sim, KEY), &sink, MAPPING, "contacts");

    let pull = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(pull.status, RunStatus::Succeeded, "{}", pull.summary());
    let c = &pull.entities["contacts:pull"];
    assert_eq!((c.created, c.updated), (3, 2), "{}", pull.summary());
    let pg = admin().await;
    let t = quote_qualified(&db.data_schema(), "contacts");
    let rows: Vec<(String, String)> = pg
        .query(&format!("SELECT last, first FROM {t} ORDER BY last"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: Vec<(String, String)> = [("A", "P0"), ("B", "P2"), ("Same", "P4")]
        .iter()
        .map(|(l, f)| (l.to_string(), f.to_string()))
        .collect();
    assert_eq!(rows, want);
}
