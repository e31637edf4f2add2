//! The quickstart: the main job of twenty-sync on the embedded default, with no account.
//!
//! 1. starts the Twenty simulator in-process with seeded, messy people;
//! 2. pulls them into a local file store through the mapping in `examples/quickstart/contacts.toml`
//!    (names title-cased and split, emails normalised, phones in E.164);
//! 3. edits a few local contacts, adds two (one already exists in Twenty by email: it is adopted,
//!    not duplicated) and deletes one, then pushes — with a dry run first;
//! 4. changes one contact on both sides and runs a bidirectional sync: the conflict is resolved by
//!    the mapping's policy and written to the audit log;
//! 5. prints each run's report.
//!
//! `cargo run --release -p examples --bin quickstart [-- DATA_DIR]`

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twenty_client::Client;
use twenty_mapping::{compile, MappingFile, TransformRegistry};
use twenty_sim::{RateLimitConfig, SimConfig, SimServer};
use twenty_sync_core::engine::EntityMapper;
use twenty_sync_core::file::FileStore;
use twenty_sync_core::{AuditQuery, PlanMapper, RunOptions, RunReport, StateStore, SyncEngine};

const API_KEY: &str = "quickstart-key";
const PEOPLE: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let data_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("twenty-sync-quickstart"));
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }

    // Twenty's rate-limit shape (100 requests per window) with the window shortened to 10 s, and
    // a client paced to the same budget: the quickstart shows pacing without waiting minutes.
    let budget = RateLimitConfig {
        requests: 100,
        window: Duration::from_secs(10),
    };
    let server = SimServer::start(
        SimConfig::new(API_KEY)
            .seed_people(PEOPLE)
            .rate_limit(Some(budget)),
    )
    .await?;
    println!(
        "Twenty simulator on {} with {PEOPLE} seeded people",
        server.base_url()
    );
    let client = Client::builder(server.base_url(), SecretString::from(API_KEY))
        .rate_limit(twenty_client::RateLimit::new(100, Duration::from_secs(10)))
        .page_size(200)
        .build()?;

    let mapping_path = concat!(env!("CARGO_MANIFEST_DIR"), "/quickstart/contacts.toml");
    let file = MappingFile::from_path(std::path::Path::new(mapping_path))?;
    let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None)?);
    let contacts = PlanMapper::new(Arc::clone(&mapping), "contacts")
        .ok_or("the quickstart mapping has no `contacts` entity")?;
    let checker = contacts.clone();

    let store = Arc::new(FileStore::open(&data_dir)?);
    println!("local file store in {}", data_dir.display());
    let engine = SyncEngine::builder(client, Arc::clone(&store), Arc::clone(&store))
        .entity(Arc::new(contacts))
        .build()?;

    // 2. Pull everything into the local store.
    let report = engine.pull(RunOptions::new()).await?;
    show("pull", &report);
    let local = store.local_records("contacts")?;
    println!(
        "{} contacts now in the local store; one of them:",
        local.len()
    );
    if let Some(first) = local.first() {
        println!("  {}", serde_json::to_string(&first.data)?);
    }

    // 3. Local edits: retitle three contacts, add two, delete one.
    for record in local.iter().take(3) {
        let mut data = record.data.clone();
        data["title"] = json!("vp of engineering");
        store.upsert("contacts", &record.key, data)?;
    }
    // Someone adds Ada in Twenty after our pull; a local contact with her email (in another case)
    // must be adopted on push, not created twice.
    server.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Ada", "lastName": "Lovelace"},
               "emails": {"primaryEmail": "ada.lovelace@example.com", "additionalEmails": []}}),
    );
    store.upsert(
        "contacts",
        "local-1",
        json!({"id": "local-1", "full_name": "grace   HOPPER", "email": "Grace.Hopper@Example.com",
               "phone": "+1 415 555 2671", "title": "rear admiral"}),
    )?;
    store.upsert(
        "contacts",
        "local-2",
        json!({"id": "local-2", "full_name": "ada lovelace", "email": "ADA.Lovelace@Example.com"}),
    )?;
    if let Some(gone) = local.get(10) {
        store.delete("contacts", &gone.key)?;
    }

    let plan = engine.push(RunOptions::new().dry_run(true)).await?;
    show("push --dry-run", &plan);
    let report = engine.push(RunOptions::new()).await?;
    show("push", &report);

    // 4. The same contact changed on both sides, then a bidirectional sync.
    // (Seeded data is messy on purpose: pick a contact whose every field maps cleanly.)
    let contested = local
        .iter()
        .skip(20)
        .find(|r| checker.to_twenty(&r.data).errors.is_empty())
        .ok_or("no cleanly mapped contact among the seeded people")?;
    let state = store
        .records("contacts", std::slice::from_ref(&contested.key))
        .await?;
    let twenty_id = state
        .first()
        .map(|s| s.twenty_id.clone())
        .ok_or("the pulled contact has no ID map entry")?;
    let mut data = contested.data.clone();
    data["title"] = json!("Head of Sales");
    store.upsert("contacts", &contested.key, data)?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    server.handle().update_record(
        "people",
        &twenty_id,
        json!({"jobTitle": "Chief Revenue Officer"}),
    );
    let report = engine.sync(RunOptions::new()).await?;
    show("sync", &report);
    let conflicts = store
        .audit(&AuditQuery {
            run_id: Some(report.run_id.clone()),
            key: Some(contested.key.clone()),
            ..Default::default()
        })
        .await?;
    for entry in conflicts {
        println!(
            "  audit: {:?} {:?} {} -> {:?}",
            entry.direction,
            entry.action,
            entry.changed_fields.join(","),
            entry.detail
        );
    }
    let now = store.local_records("contacts")?;
    if let Some(r) = now.iter().find(|r| r.key == contested.key) {
        println!(
            "  local title after sync: {} (newest wins: the later edit, made in Twenty)",
            r.data["title"]
        );
    }

    server.shutdown().await;
    Ok(())
}

fn show(what: &str, report: &RunReport) {
    println!("\n== {what} ==\n{}", report.summary().trim_end());
}
