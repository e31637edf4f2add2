//! The `assistant` app against twenty-sim: allowlists, dry run vs execute, audit, follow-ups and
//! context bundles.

use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use examples::apps::assistant::{Assistant, AssistantConfig, Cli, run};
use secrecy::SecretString;
use serde_json::json;
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::{AuditAction, AuditOutcome};

const KEY: &str = "assistant-test-key";

async fn setup(dir: &std::path::Path) -> (SimServer, Client, AssistantConfig) {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(20).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .expect("client");
    let config: AssistantConfig = toml::from_str(&format!(
        r#"
        audit_dir = {:?}
        [allowlist]
        people = ["name", "jobTitle"]
        tasks = ["title", "status", "dueAt"]
        "#,
        dir.join("audit")
    ))
    .expect("config");
    (sim, client, config)
}

fn person(sim: &SimServer) -> serde_json::Value {
    sim.handle()
        .records("people")
        .into_iter()
        .find(|p| {
            p["emails"]["primaryEmail"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
        })
        .expect("a seeded person with an email")
}

#[tokio::test]
async fn context_bundle_keeps_only_allowlisted_fields_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client, config) = setup(dir.path()).await;
    let p = person(&sim);
    let id = p["id"].as_str().unwrap();
    let a = Assistant::new(client, config).unwrap();
    let bundle = a.context("people", id).await.expect("bundle");
    let fields = bundle.record.fields.as_object().unwrap();
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert!(
        keys.iter().all(|k| ["name", "jobTitle"].contains(k)),
        "{keys:?}"
    );
    assert_eq!(bundle.record.fields["name"], p["name"]);
    assert!(
        !bundle.record.fields.to_string().contains('@'),
        "no email leaks: {}",
        bundle.record.fields
    );
    assert_eq!(bundle.record.source.object, "people");
    assert_eq!(bundle.record.source.id, id);
    assert_eq!(
        bundle.record.source.updated_at.as_deref(),
        p["updatedAt"].as_str()
    );
    // Companies are not allowlisted: no company in the bundle even if the person has one.
    assert!(!bundle.related.contains_key("company"));
    // Not allowlisted objects are refused.
    let err = a.search("companies", "a", 5).await.unwrap_err();
    assert!(err.to_string().contains("allowlist"), "{err}");
    sim.shutdown().await;
}

/// A search with a character Twenty's filter syntax cannot carry (a lone apostrophe) is sent
/// with a one-character wildcard in its place, and finds the person.
#[tokio::test]
async fn a_search_for_a_name_with_an_apostrophe_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client, config) = setup(dir.path()).await;
    let id = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Conan", "lastName": "O'Brien"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = Assistant::new(client, config).unwrap();
    let found = a.search("people", "o'brien", 5).await.expect("search");
    assert!(found.iter().any(|f| f.source.id == id), "{found:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn dry_run_writes_nothing_and_execute_writes_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client, config) = setup(dir.path()).await;
    let p = person(&sim);
    let id = p["id"].as_str().unwrap().to_owned();
    let a = Assistant::new(client.clone(), config).unwrap();

    let before = sim.handle().record("people", &id).unwrap();
    let planned = a
        .update(
            "people",
            &id,
            json!({"jobTitle": "Head of Partnerships"}),
            false,
        )
        .await
        .unwrap();
    assert!(!planned.executed);
    assert_eq!(planned.changed_fields, vec!["jobTitle".to_string()]);
    assert_eq!(
        sim.handle().record("people", &id).unwrap(),
        before,
        "dry run changed Twenty"
    );
    assert!(
        a.audit(None, None, None).await.unwrap().is_empty(),
        "dry run audited"
    );

    // Fields outside the allowlist are refused before anything is sent.
    let err = a
        .update(
            "people",
            &id,
            json!({"emails": {"primaryEmail": "x@example.com"}}),
            true,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("emails.primaryEmail"), "{err}");

    let done = a
        .update(
            "people",
            &id,
            json!({"jobTitle": "Head of Partnerships"}),
            true,
        )
        .await
        .unwrap();
    assert!(done.executed);
    assert_eq!(
        sim.handle().record("people", &id).unwrap()["jobTitle"],
        "Head of Partnerships"
    );
    let audit = a.audit(Some(id.clone()), None, None).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].action, AuditAction::Update);
    assert_eq!(audit[0].outcome, AuditOutcome::Applied);
    assert_eq!(audit[0].changed_fields, vec!["jobTitle".to_string()]);
    assert_ne!(audit[0].before_hash, audit[0].after_hash);

    // A no-op update sends nothing and audits nothing.
    let same = a
        .update(
            "people",
            &id,
            json!({"jobTitle": "Head of Partnerships"}),
            true,
        )
        .await
        .unwrap();
    assert!(!same.executed && same.changed_fields.is_empty());
    assert_eq!(a.audit(None, None, None).await.unwrap().len(), 1);

    // A follow-up task linked to the person: listed as due in 3 days, not in 1, and in the
    // person's bundle; both writes audited.
    let due = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let task_count = sim.handle().count("tasks");
    let dry = a
        .create(
            "tasks",
            json!({"title": "Send the proposal", "dueAt": due, "status": "TODO"}),
            Some(&id),
            false,
        )
        .await
        .unwrap();
    assert!(!dry.executed && dry.id.is_none());
    assert_eq!(sim.handle().count("tasks"), task_count);
    let created = a
        .create(
            "tasks",
            json!({"title": "Send the proposal", "dueAt": due, "status": "TODO"}),
            Some(&id),
            true,
        )
        .await
        .unwrap();
    let task_id = created.id.clone().unwrap();
    assert_eq!(sim.handle().count("tasks"), task_count + 1);
    let soon: Vec<String> = a
        .follow_ups(3)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.source.id)
        .collect();
    assert!(soon.contains(&task_id));
    let today: Vec<String> = a
        .follow_ups(1)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.source.id)
        .collect();
    assert!(!today.contains(&task_id));
    let bundle = a.context("people", &id).await.unwrap();
    let open: Vec<&str> = bundle.related["openTasks"]
        .iter()
        .map(|t| t.source.id.as_str())
        .collect();
    assert!(open.contains(&task_id.as_str()), "{open:?}");
    let all = a.audit(None, None, None).await.unwrap();
    assert_eq!(all.len(), 3, "update, task, task target: {all:?}");
    assert!(all.iter().all(|e| e.outcome == AuditOutcome::Applied));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_command_line_defaults_to_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client, _) = setup(dir.path()).await;
    let p = person(&sim);
    let id = p["id"].as_str().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/assistant/assistant.toml");
    let audit = dir.path().join("cli-audit");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "assistant",
            "--config",
            config,
            "--audit-dir",
            audit.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).expect("valid command line")
    };
    let before = sim.handle().record("people", id).unwrap();
    let out = run(
        &args(&["update", "people", id, "--set", "jobTitle=Lisbon lead"]),
        client.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out["executed"], false);
    assert_eq!(sim.handle().record("people", id).unwrap(), before);
    let out = run(
        &args(&[
            "update",
            "people",
            id,
            "--set",
            "jobTitle=Lisbon lead",
            "--execute",
        ]),
        client.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out["executed"], true);
    assert_eq!(
        sim.handle().record("people", id).unwrap()["jobTitle"],
        "Lisbon lead"
    );
    let log = run(&args(&["audit", "--id", id]), client.clone())
        .await
        .unwrap();
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    let found = run(
        &args(&[
            "search",
            "people",
            &p["name"]["lastName"].as_str().unwrap_or("a")[..2],
        ]),
        client,
    )
    .await
    .unwrap();
    assert!(found.as_array().is_some_and(|a| !a.is_empty()));
    tokio::time::sleep(Duration::from_millis(1)).await;
    sim.shutdown().await;
}
