//! The `warehouse-contacts` app against twenty-sim and the real local Postgres (DATABASE_URL, else
//! postgres://postgres@127.0.0.1:5432/test): rows in Postgres become people and companies with
//! custom fields; edits in Twenty come back to the rows, edits of rows go to Twenty. Each run
//! uses its own schemas and drops them at the end. Needs the `postgres` feature (on by default).
#![cfg(feature = "postgres")]

use clap::Parser;
use examples::apps::warehouse::{Cli, WarehouseConfig, insert_sample_rows, open_warehouse, run};
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::SyncDirection;
use twenty_sync_core::engine::PlannedAction;

const KEY: &str = "warehouse-test-key";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "this test needs a PostgreSQL server and could not connect ({e}). Set DATABASE_URL \
                 (e.g. postgres://user:password@host:5432/db) or start the local server (default \
                 {DEFAULT_URL})"
            )
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Drops the test's schemas when the test ends, passed or not.
struct Schemas(String);

impl Drop for Schemas {
    fn drop(&mut self) {
        let s = self.0.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let c = admin().await;
                let _ = c
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS \"{s}\" CASCADE; DROP SCHEMA IF EXISTS \"{s}_state\" CASCADE;"
                    ))
                    .await;
            });
        })
        .join();
    }
}

fn person(sim: &SimServer, email: &str) -> Value {
    sim.handle()
        .records("people")
        .into_iter()
        .find(|p| p["emails"]["primaryEmail"] == email)
        .unwrap_or_else(|| panic!("no person {email} in Twenty"))
}

#[tokio::test]
async fn warehouse_rows_mirror_into_twenty_and_edits_flow_both_ways() {
    let pg = admin().await;
    let schema = format!(
        "wh_test_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let _cleanup = Schemas(schema.clone());
    let sim = SimServer::start(SimConfig::new(KEY).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .unwrap();
    let config_path = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/warehouse/warehouse.toml");
    let config = WarehouseConfig::load(config_path.as_ref()).unwrap();
    let warehouse = open_warehouse(
        &config,
        Some(&schema),
        Some(SecretString::from(database_url())),
    )
    .await
    .expect("warehouse opens");
    let pg_sink = warehouse.postgres.clone().expect("postgres warehouse");
    insert_sample_rows(&pg_sink, &schema).await.unwrap();
    let cli = |args: &[&str]| {
        let mut v = vec!["warehouse-contacts", "--schema", &schema];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).expect("valid command line")
    };

    // Dry run: a plan, nothing written.
    let people = sim.handle().count("people");
    let dry = run(
        &cli(&["--dry-run", "sync"]),
        client.clone(),
        &config,
        &warehouse,
    )
    .await
    .unwrap();
    assert_eq!(sim.handle().count("people"), people);
    assert_eq!(sim.handle().count("companies"), 0);
    assert!(
        client
            .metadata()
            .object("people")
            .await
            .unwrap()
            .field("llmContext")
            .is_none()
    );
    let creates = dry
        .plan
        .writes
        .iter()
        .filter(|w| w.direction == SyncDirection::Push && w.action == PlannedAction::Create)
        .count();
    assert_eq!(creates, 7, "{:?}", dry.plan);

    // Real sync: people and companies with custom fields, contacts linked to companies.
    let first = run(&cli(&["sync"]), client.clone(), &config, &warehouse)
        .await
        .unwrap();
    let report = first.report.as_ref().unwrap();
    assert!(report.failures.is_empty(), "{}", report.summary());
    assert_eq!(first.fields.len(), 8, "{:?}", first.fields);
    assert_eq!(sim.handle().count("companies"), 3);
    assert_eq!(first.links_made, 4);
    let ada = person(&sim, "ada@analytical-engines.example");
    assert_eq!(
        ada["name"],
        json!({"firstName": "Ada", "lastName": "Lovelace"})
    );
    assert_eq!(ada["categoryCode"], "CL");
    assert_eq!(ada["subcategoryCode"], "VIP");
    assert_eq!(ada["relationshipCategory"], "CLIENT");
    assert_eq!(ada["phones"]["primaryPhoneCallingCode"], "+44");
    let context: Value = serde_json::from_str(ada["llmContext"].as_str().unwrap()).unwrap();
    assert_eq!(context["topics"], json!(["engines", "poetry"]));
    assert_eq!(
        ada["syncMetadata"],
        "{\"batch\":7,\"source\":\"crm-warehouse\"}"
    );
    let engines = sim
        .handle()
        .records("companies")
        .into_iter()
        .find(|c| c["domainName"]["primaryLinkUrl"] == "https://analytical-engines.example")
        .expect("business b-1 as a company with a normalised domain");
    assert_eq!(engines["name"], "Analytical Engines");
    assert_eq!(engines["categoryCode"], "MFG");
    assert_eq!(ada["companyId"], engines["id"]);

    // Edit in Twenty -> the row in Postgres.
    sim.handle().update_record(
        "people",
        ada["id"].as_str().unwrap(),
        json!({"jobTitle": "Chief Analyst", "relationshipCategory": "FRIEND",
               "llmContext": "{\"summary\":\"wrote the first program\"}"}),
    );
    let back = run(&cli(&["sync"]), client.clone(), &config, &warehouse)
        .await
        .unwrap();
    assert!(back.report.as_ref().unwrap().failures.is_empty());
    let t = format!("\"{schema}\".contacts");
    let row = pg
        .query_one(
            &format!("SELECT title, relationship_category, context, business_id, sync_metadata FROM {t} WHERE contact_id = 'c-1'"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("Chief Analyst")
    );
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("friend"));
    assert_eq!(
        row.get::<_, Option<Value>>(2),
        Some(json!({"summary": "wrote the first program"}))
    );
    assert_eq!(
        row.get::<_, Option<String>>(3).as_deref(),
        Some("b-1"),
        "unmapped column kept"
    );
    assert_eq!(
        row.get::<_, Option<Value>>(4),
        Some(json!({"batch": 7, "source": "crm-warehouse"}))
    );

    // Edit in Postgres -> Twenty.
    pg.execute(
        &format!("UPDATE {t} SET title = 'difference engine designer', updated_at = now() WHERE contact_id = 'c-2'"),
        &[],
    )
    .await
    .unwrap();
    let out = run(&cli(&["sync"]), client.clone(), &config, &warehouse)
        .await
        .unwrap();
    assert!(out.report.as_ref().unwrap().failures.is_empty());
    assert_eq!(
        person(&sim, "charles@analytical-engines.example")["jobTitle"],
        "Difference Engine Designer"
    );

    // Nothing changed on either side: nothing written.
    let idle = run(&cli(&["sync"]), client.clone(), &config, &warehouse)
        .await
        .unwrap();
    assert!(idle.plan.is_empty(), "{:?}", idle.plan);
    sim.shutdown().await;
}

/// The shipped config's `[bigquery]` section is a valid sink-bigquery config for the same
/// mapping fields (the BigQuery path itself needs a Google Cloud project or the emulator).
#[cfg(feature = "bigquery")]
#[test]
fn the_shipped_bigquery_section_is_a_valid_sink_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/warehouse/warehouse.toml");
    let config = WarehouseConfig::load(path.as_ref()).unwrap();
    let bq = examples::apps::warehouse::bigquery_config(&config).expect("valid [bigquery]");
    let contacts = bq.entity("contacts").expect("contacts table");
    assert_eq!(contacts.key_field(), "contact_id");
    let names: Vec<&str> = contacts.columns.iter().map(|c| c.name.as_str()).collect();
    for field in [
        "canonical_name",
        "email",
        "context",
        "communication_stats",
        "business_id",
    ] {
        assert!(names.contains(&field), "{field} missing from {names:?}");
    }
    assert!(bq.entity("businesses").is_some());
}
