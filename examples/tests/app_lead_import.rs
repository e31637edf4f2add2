//! The `lead-import` app against twenty-sim with the sample CSV: bad rows reported by line,
//! duplicates merged, existing people adopted by email and by LinkedIn URL, outreach tasks,
//! idempotent re-runs and the CSV export.

use std::path::PathBuf;

use clap::Parser;
use examples::apps::leads::{Cli, run};
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};

const KEY: &str = "lead-import-test-key";

fn sample() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/apps/leads/leads.csv"))
}

async fn cmd(client: &Client, args: &[&str]) -> Value {
    let mut v = vec!["lead-import"];
    v.extend_from_slice(args);
    let cli = Cli::try_parse_from(v).expect("valid command line");
    run(&cli, client.clone()).await.expect("command succeeds")
}

fn counts(sim: &SimServer) -> [usize; 4] {
    ["people", "companies", "tasks", "taskTargets"].map(|o| sim.handle().count(o))
}

fn person_by(sim: &SimServer, f: impl Fn(&Value) -> bool) -> Value {
    let found: Vec<Value> = sim
        .handle()
        .records("people")
        .into_iter()
        .filter(|p| f(p))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one person, found {found:?}"
    );
    found[0].clone()
}

#[tokio::test]
async fn import_deduplicates_adopts_records_outreach_and_exports() {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(5).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .unwrap();
    let csv = sample();
    let csv = csv.to_str().unwrap();
    let setup = cmd(&client, &["setup", "--csv", csv]).await;
    assert_eq!(setup["created"].as_array().unwrap().len(), 5, "{setup}");
    let again = cmd(&client, &["setup", "--csv", csv]).await;
    assert!(
        again["created"].as_array().unwrap().is_empty(),
        "setup is idempotent: {again}"
    );

    // Already in Twenty: Ada by email (other case, different job title), Grace by LinkedIn only.
    let ada = sim.handle().insert_record(
        "people",
        json!({
        "name": {"firstName": "Ada", "lastName": "King"}, "jobTitle": "Countess",
        "emails": {"primaryEmail": "ADA@example.com", "additionalEmails": []}}),
    );
    let grace = sim.handle().insert_record("people", json!({
        "name": {"firstName": "Grace", "lastName": "Hopper"},
        "linkedinLink": {"primaryLinkUrl": "http://LinkedIn.com/in/Grace-Hopper/", "primaryLinkLabel": "", "secondaryLinks": []}}));
    let before = counts(&sim);

    let dry = cmd(&client, &["import", csv, "--dry-run"]).await;
    assert_eq!(counts(&sim), before, "the dry run wrote to Twenty");
    assert_eq!(
        sim.handle()
            .record("people", ada["id"].as_str().unwrap())
            .unwrap(),
        ada
    );

    let rejected: Vec<(u64, String)> = dry["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(lines, vec![5, 6, 7, 8, 9], "{rejected:?}");
    assert!(rejected[0].1.starts_with("phone:"), "{rejected:?}");
    assert!(rejected[1].1.starts_with("email:"), "{rejected:?}");
    assert!(rejected[2].1.starts_with("stage:"), "{rejected:?}");
    assert!(rejected[3].1.contains("outreach_status"), "{rejected:?}");
    let merged: Vec<u64> = dry["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["reason"].as_str().unwrap().starts_with("merged"))
        .map(|w| w["line"].as_u64().unwrap())
        .collect();
    assert_eq!(merged, vec![4, 11]);
    assert_eq!(dry["leads"], 3);
    assert_eq!(dry["created"], json!(["hedy@example.com"]));
    let adopted = dry["adopted"].as_array().unwrap();
    assert_eq!(adopted.len(), 2, "{adopted:?}");
    assert!(
        adopted.contains(&json!(["ada@example.com", ada["id"], "email"])),
        "{adopted:?}"
    );
    assert!(
        adopted.contains(&json!(["grace@example.org", grace["id"], "linkedin"])),
        "{adopted:?}"
    );
    assert_eq!(dry["tasks_created"], 5);
    assert_eq!(dry["failed"], json!([]));

    let real = cmd(&client, &["import", csv]).await;
    for k in [
        "rejected",
        "created",
        "adopted",
        "updated",
        "companies_created",
        "tasks_created",
    ] {
        assert_eq!(real[k], dry[k], "the dry run did not predict `{k}`");
    }
    let [people, companies, tasks, targets] = counts(&sim);
    assert_eq!(people, before[0] + 1, "only Hedy is new");
    assert_eq!(companies, before[1] + 3);
    assert_eq!(tasks, before[2] + 5);
    assert_eq!(targets, before[3] + 5);

    let ada_now = sim
        .handle()
        .record("people", ada["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(ada_now["jobTitle"], "Countess", "non-empty fields are kept");
    assert_eq!(ada_now["name"]["lastName"], "King");
    assert_eq!(
        ada_now["leadTags"],
        json!(["VIP", "INVESTOR", "NEWSLETTER"])
    );
    assert_eq!(ada_now["relationshipStage"], "CONTACTED");
    assert_eq!(
        ada_now["linkedinLink"]["primaryLinkUrl"],
        "https://www.linkedin.com/in/ada-lovelace"
    );
    assert_eq!(ada_now["phones"]["primaryPhoneCallingCode"], "+1");
    let grace_now = sim
        .handle()
        .record("people", grace["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(grace_now["emails"]["primaryEmail"], "grace@example.org");
    assert_eq!(grace_now["leadTags"], json!(["PARTNER", "HIRING"]));
    assert_eq!(grace_now["jobTitle"], "Rear Admiral");
    let hedy = person_by(&sim, |p| p["emails"]["primaryEmail"] == "hedy@example.com");
    assert_eq!(
        hedy["name"],
        json!({"firstName": "Hedy", "lastName": "Lamarr"})
    );
    assert_eq!(hedy["leadSource"], "event");
    let mgm = sim
        .handle()
        .records("companies")
        .into_iter()
        .find(|c| c["name"] == "MGM")
        .unwrap();
    assert_eq!(hedy["companyId"], mgm["id"]);

    // Outreach: Grace has two tasks (LinkedIn pending, call failed), both linked to her.
    let links: Vec<String> = sim
        .handle()
        .records("taskTargets")
        .into_iter()
        .filter(|t| t["targetPersonId"] == grace["id"])
        .filter_map(|t| t["taskId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    let mut statuses: Vec<(String, String, String)> = links
        .iter()
        .map(|id| {
            let t = sim.handle().record("tasks", id).unwrap();
            (
                t["outreachType"].as_str().unwrap().to_owned(),
                t["outreachStatus"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![
            ("CALL".into(), "FAILED".into(), "DONE".into()),
            ("LINKEDIN".into(), "PENDING".into(), "TODO".into()),
        ]
    );

    // A second import changes nothing.
    let second = cmd(&client, &["import", csv]).await;
    assert_eq!(counts(&sim), [people, companies, tasks, targets]);
    assert_eq!(second["created"], json!([]));
    assert_eq!(second["updated"], json!([]));
    assert_eq!(second["adopted"].as_array().unwrap().len(), 3);
    assert_eq!(second["tasks_created"], 0);
    assert_eq!(second["tasks_updated"], 0);

    // Export, then import the export: nothing to do.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("people.csv");
    let exported = cmd(&client, &["export", "--out", out.to_str().unwrap()]).await;
    assert_eq!(exported["exported"], 3);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let ada_row = rows
        .iter()
        .find(|r| &r[3] == "ada@example.com")
        .expect("Ada exported");
    assert_eq!(&ada_row[0], "Ada King");
    assert_eq!(&ada_row[2], "Analytical Engines");
    assert_eq!(&ada_row[4], "https://www.linkedin.com/in/ada-lovelace");
    assert_eq!(&ada_row[5], "+14155552671");
    assert_eq!(&ada_row[6], "vip, investor, newsletter");
    assert_eq!(&ada_row[8], "contacted");
    let back = cmd(&client, &["import", out.to_str().unwrap()]).await;
    assert_eq!(back["rejected"], json!([]), "{back}");
    assert_eq!(back["created"], json!([]));
    assert_eq!(back["updated"], json!([]), "{back}");
    assert_eq!(counts(&sim), [people, companies, tasks, targets]);
    sim.shutdown().await;
}

/// A simulator, a client of it, and a directory holding `leads.toml` with a mapping that also
/// writes `city`, a field the simulated 2.21.0 workspace does not have: Twenty rejects exactly
/// the leads that have a city.
async fn importing_cities() -> (SimServer, Client, tempfile::TempDir) {
    let sim = SimServer::start(SimConfig::new(KEY).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/leads/mapping.toml");
    let mapping = std::fs::read_to_string(shipped).unwrap()
        + "\n[[entities.leads.fields]]\nfrom = \"city\"\nto = \"city\"\n";
    std::fs::write(dir.path().join("mapping.toml"), mapping).unwrap();
    std::fs::write(
        dir.path().join("leads.toml"),
        "mapping = \"mapping.toml\"\noutreach_types = [\"EMAIL\", \"OTHER\"]\n",
    )
    .unwrap();
    (sim, client, dir)
}

/// A lead Twenty refuses is reported with its line and the server's reason, and the rest of the
/// import goes on.
#[tokio::test]
async fn a_lead_twenty_rejects_is_reported_and_the_others_are_imported() {
    let (sim, client, dir) = importing_cities().await;
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        "name,email,city,outreach_type,outreach_status,outreach_at\n\
         Ada Lovelace,ada@example.com,London,email,pending,2026-12-01\n\
         Grace Hopper,grace@example.org,,email,pending,2026-12-02\n",
    )
    .unwrap();
    let config = dir.path().join("leads.toml");
    let config = config.to_str().unwrap();
    cmd(&client, &["--config", config, "setup"]).await;
    let out = cmd(
        &client,
        &["--config", config, "import", csv.to_str().unwrap()],
    )
    .await;
    let failed = out["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["line"], 2);
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("city"),
        "{out}"
    );
    assert_eq!(out["created"], json!(["grace@example.org"]));
    assert_eq!(out["tasks_created"], 1, "no task for the refused lead");
    assert_eq!(sim.handle().count("people"), 1);
    assert_eq!(sim.handle().count("tasks"), 1);
    sim.shutdown().await;
}

/// One lead Twenty refuses among 130 new ones: its batch is sent again as halves to find it,
/// not every lead of the import one by one (which cost 130 requests more, over a minute of
/// Twenty's 100 requests a minute).
#[tokio::test]
async fn one_refused_lead_among_many_is_found_by_halving_its_batch() {
    let (sim, client, dir) = importing_cities().await;
    // Line 72 (the 71st lead) has a city, a field the simulated workspace does not have.
    let mut csv = String::from("name,email,city\n");
    for i in 0..130 {
        let city = if i == 70 { "London" } else { "" };
        csv.push_str(&format!("Lead Number{i},lead{i}@example.com,{city}\n"));
    }
    let path = dir.path().join("leads.csv");
    std::fs::write(&path, csv).unwrap();
    let config = dir.path().join("leads.toml");
    let config = config.to_str().unwrap();
    cmd(&client, &["--config", config, "setup"]).await;
    sim.handle().reset_stats();
    let out = cmd(
        &client,
        &["--config", config, "import", path.to_str().unwrap()],
    )
    .await;
    let failed = out["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["line"], 72, "{out}");
    assert_eq!(out["created"].as_array().unwrap().len(), 129, "{out}");
    assert_eq!(sim.handle().count("people"), 129);
    let stats = sim.handle().stats();
    let route = |r: &str| stats.by_route.get(r).copied().unwrap_or(0);
    // Three batches of 60, 60 and 10. The second is rejected; its halves go down to fewer than
    // four records (the lead is at position 10 of 60), two requests per halving: 30, 15, 8, 4,
    // 2; then the two records of that last half go alone, as batches of one. Before the
    // halving, all 130 went again one by one.
    assert_eq!(
        (
            route("POST /rest/batch/{plural}"),
            route("POST /rest/{plural}")
        ),
        (3 + 2 * 5 + 2, 0),
        "{:?}",
        stats.by_route
    );
    sim.shutdown().await;
}
