//! The `org-members` app against twenty-sim: the dry run writes nothing and predicts the real
//! run; normalised values land in Twenty; existing people are adopted; re-runs are no-ops.

use clap::Parser;
use examples::apps::org_members::{Cli, run};
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::PlannedAction;

const KEY: &str = "org-members-test-key";

async fn start() -> (SimServer, Client) {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(10).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .expect("client");
    (sim, client)
}

fn cli(extra: &[&str]) -> Cli {
    let mut args = vec!["org-members"];
    args.extend_from_slice(extra);
    Cli::try_parse_from(args).expect("valid command line")
}

fn by_email(sim: &SimServer, email: &str) -> Vec<Value> {
    sim.handle()
        .records("people")
        .into_iter()
        .filter(|p| p["emails"]["primaryEmail"] == email)
        .collect()
}

#[tokio::test]
async fn dry_run_writes_nothing_and_predicts_the_real_run() {
    let (sim, client) = start().await;
    // Grace is already in Twenty: she must be adopted, not duplicated.
    let grace = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Grace", "lastName": "H."},
               "emails": {"primaryEmail": "grace@acme-robotics.io", "additionalEmails": []}}),
    );
    let people = sim.handle().count("people");
    let companies = sim.handle().count("companies");
    let fields_before = sim.handle().records("people").len();

    let dry = run(&cli(&["--dry-run", "--json"]), client.clone())
        .await
        .expect("dry run");
    assert_eq!(
        sim.handle().count("people"),
        people,
        "dry run created people"
    );
    assert_eq!(
        sim.handle().count("companies"),
        companies,
        "dry run created companies"
    );
    assert_eq!(
        by_email(&sim, "grace@acme-robotics.io")[0],
        grace,
        "dry run changed Grace"
    );
    assert!(
        client
            .metadata()
            .object("people")
            .await
            .unwrap()
            .field("memberTags")
            .is_none(),
        "dry run created a custom field"
    );
    assert_eq!(fields_before, sim.handle().records("people").len());
    assert!(dry.report.is_none());
    assert_eq!(
        dry.predicted.count(PlannedAction::Create),
        4,
        "{:?}",
        dry.predicted
    );
    assert_eq!(
        dry.predicted.count(PlannedAction::Adopt),
        1,
        "{:?}",
        dry.predicted
    );
    assert!(
        dry.fields.contains(&"people.memberTags".to_string()),
        "{:?}",
        dry.fields
    );
    // The member with a bad email is rejected with the field and the reason, without its value.
    let bad = &dry.dry_run_report.failures;
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].local_key.as_deref(), Some("m-4"));
    assert_eq!(bad[0].field.as_deref(), Some("emails.primaryEmail"));
    assert!(!bad[0].reason.contains("not-an-email"), "{}", bad[0].reason);
    assert_eq!(dry.links_planned.len(), 3, "{:?}", dry.links_planned);

    let real = run(&cli(&["--json"]), client.clone())
        .await
        .expect("real run");
    assert_eq!(
        real.prediction_held(),
        Some(true),
        "predicted {:?}\nexecuted {:?}",
        real.predicted,
        real.executed
    );
    assert_eq!(sim.handle().count("people"), people + 2);
    assert_eq!(sim.handle().count("companies"), companies + 2);
    assert_eq!(real.links_made, 3);

    // Normalised values.
    let acme = sim
        .handle()
        .records("companies")
        .into_iter()
        .find(|c| c["domainName"]["primaryLinkUrl"] == "https://acme-robotics.io")
        .expect("Acme created with a normalised domain");
    assert_eq!(acme["name"], "Acme Robotics");
    assert_eq!(acme["employees"], json!(1250));
    assert_eq!(acme["address"]["addressCity"], "Berlin");
    assert_eq!(acme["address"]["addressCountry"], "DE");
    assert_eq!(acme["sector"], "SOFTWARE");
    let ada = by_email(&sim, "ada.lovelace@acme-robotics.io");
    assert_eq!(ada.len(), 1, "email lower-cased");
    let ada = &ada[0];
    assert_eq!(
        ada["name"],
        json!({"firstName": "Ada", "lastName": "Lovelace"})
    );
    assert_eq!(ada["jobTitle"], "Chief Technology Officer");
    assert_eq!(ada["phones"]["primaryPhoneCallingCode"], "+49");
    assert_eq!(ada["phones"]["primaryPhoneNumber"], "15123456789");
    assert_eq!(ada["memberTags"], json!(["BOARD", "SPEAKER"]));
    assert_eq!(ada["memberLocation"]["addressCity"], "Berlin");
    assert_eq!(ada["companyId"], acme["id"]);
    let grace_now = by_email(&sim, "grace@acme-robotics.io");
    assert_eq!(grace_now.len(), 1, "Grace duplicated");
    assert_eq!(grace_now[0]["id"], grace["id"]);
    assert_eq!(grace_now[0]["name"]["lastName"], "Hopper");
    assert_eq!(
        grace_now[0]["memberTags"],
        json!(["VOLUNTEER"]),
        "unknown tag dropped"
    );
    assert_eq!(grace_now[0]["companyId"], acme["id"]);
    let mary = &by_email(&sim, "mary@northwind-health.example")[0];
    assert_eq!(mary["name"]["lastName"], "O'Brien");
    assert_eq!(mary["jobTitle"], "Member", "default job title");
    assert!(by_email(&sim, "not-an-email").is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn with_a_state_directory_a_second_run_writes_nothing() {
    let (sim, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let first = run(&cli(&["--state-dir", state, "--json"]), client.clone())
        .await
        .unwrap();
    assert_eq!(first.prediction_held(), Some(true));
    assert_eq!(
        first
            .executed
            .as_ref()
            .unwrap()
            .count(PlannedAction::Create),
        5
    );
    let second = run(&cli(&["--state-dir", state, "--json"]), client.clone())
        .await
        .unwrap();
    assert!(second.predicted.is_empty(), "{:?}", second.predicted);
    assert!(second.executed.as_ref().unwrap().is_empty());
    assert_eq!(second.links_made, 0);
    // A JSON input (instead of JSONL) with a changed record updates only that record.
    let input = dir.path().join("input.json");
    std::fs::write(
        &input,
        serde_json::to_string(&json!({
            "organisations": [{"org_id": "org-1", "name": "Acme Robotics GmbH", "website": "acme-robotics.io",
                               "headcount": "1.250", "hq": "Berlin, Germany", "industry": "SaaS"}]
        }))
        .unwrap(),
    )
    .unwrap();
    let third = run(
        &cli(&[
            "--state-dir",
            state,
            "--input",
            input.to_str().unwrap(),
            "--json",
        ]),
        client,
    )
    .await
    .unwrap();
    let writes = &third.executed.as_ref().unwrap().writes;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].action, PlannedAction::Update);
    let changed = &writes[0].changed_fields;
    assert!(changed.contains(&"name".to_string()), "{changed:?}");
    // (The engine also lists address sub-fields that are null in Twenty and absent in the
    // mapped value; they are not sent with a value.)
    assert!(
        !changed
            .iter()
            .any(|f| f.starts_with("domainName") || f == "employees" || f == "sector"),
        "{changed:?}"
    );
    sim.shutdown().await;
}
