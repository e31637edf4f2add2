//! The `assistant` app's guard rails against twenty-sim: every field path of a write body is
//! checked against the allowlist (empty and null values included), and searches only look at
//! allowlisted fields, with `%` and `_` taken literally.

use clap::Parser;
use examples::apps::assistant::{Assistant, AssistantConfig, BundleItem, Cli, run};
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::AuditOutcome;

const KEY: &str = "assistant-guards-key";

async fn start() -> (SimServer, Client) {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(5).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .expect("client");
    (sim, client)
}

/// An assistant whose allowlist is `allowlist` (TOML table body), auditing into `dir`.
fn assistant(client: Client, dir: &std::path::Path, allowlist: &str) -> Assistant {
    let config: AssistantConfig = toml::from_str(&format!(
        "audit_dir = {:?}\n[allowlist]\n{allowlist}",
        dir.join("audit")
    ))
    .expect("config");
    Assistant::new(client, config).expect("assistant")
}

/// A person with a hidden email address, an additional one and a job title.
fn hidden_email_person(sim: &SimServer) -> String {
    sim.handle().insert_record(
        "people",
        json!({
            "name": {"firstName": "Grace", "lastName": "Hopper"},
            "emails": {"primaryEmail": "zqx.hidden@navy.example", "additionalEmails": ["alt@navy.example"]},
            "jobTitle": "Rear Admiral"
        }),
    )["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

fn ids(found: &[BundleItem]) -> Vec<&str> {
    found.iter().map(|f| f.source.id.as_str()).collect()
}

/// Empty, null and nested-empty values on fields outside the allowlist: each body must be
/// refused, naming the field, before anything reaches Twenty.
fn disallowed_empty_bodies() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"jobTitle": "X", "emails": {"additionalEmails": []}}),
            "emails.additionalEmails",
        ),
        (
            json!({"emails": {"primaryEmail": ""}}),
            "emails.primaryEmail",
        ),
        (json!({"emails": null}), "emails"),
        (json!({"emails": {}}), "emails"),
        (json!({"jobTitle": "X", "city": ""}), "city"),
    ]
}

#[tokio::test]
async fn an_update_with_an_empty_value_on_a_disallowed_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let id = hidden_email_person(&sim);
    let a = assistant(client, dir.path(), r#"people = ["name", "jobTitle"]"#);
    let before = sim.handle().record("people", &id).unwrap();
    for (body, field) in disallowed_empty_bodies() {
        let err = a
            .update("people", &id, body.clone(), true)
            .await
            .expect_err(&format!("{body} must be refused"));
        assert!(
            err.to_string().contains(field) && err.to_string().contains("allowlist"),
            "{body}: {err}"
        );
        assert_eq!(
            sim.handle().record("people", &id).unwrap(),
            before,
            "{body} changed Twenty"
        );
    }
    assert!(a.audit(None, None, None).await.unwrap().is_empty());
    sim.shutdown().await;
}

/// The reviewer's command line, verbatim: `--set 'emails={"additionalEmails":[]}'` next to an
/// allowlisted field.
#[tokio::test]
async fn the_command_line_cannot_clear_a_field_outside_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let id = hidden_email_person(&sim);
    let config = dir.path().join("assistant.toml");
    std::fs::write(
        &config,
        "audit_dir = \"audit\"\n[allowlist]\npeople = [\"name\", \"jobTitle\"]\n",
    )
    .unwrap();
    let cli = Cli::try_parse_from([
        "assistant",
        "--config",
        config.to_str().unwrap(),
        "update",
        "people",
        &id,
        "--set",
        "jobTitle=X",
        "--set",
        r#"emails={"additionalEmails":[]}"#,
        "--execute",
    ])
    .expect("valid command line");
    let before = sim.handle().record("people", &id).unwrap();
    let err = run(&cli, client).await.expect_err("refused");
    assert!(err.to_string().contains("emails.additionalEmails"), "{err}");
    assert_eq!(sim.handle().record("people", &id).unwrap(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_with_an_empty_value_on_a_disallowed_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let a = assistant(client, dir.path(), r#"people = ["name", "jobTitle"]"#);
    let count = sim.handle().count("people");
    for (mut body, field) in disallowed_empty_bodies() {
        body["name"] = json!({"firstName": "New"});
        let err = a
            .create("people", body.clone(), None, true)
            .await
            .expect_err(&format!("{body} must be refused"));
        assert!(err.to_string().contains(field), "{body}: {err}");
        assert_eq!(
            sim.handle().count("people"),
            count,
            "{body} created a record"
        );
    }
    let err = a
        .create(
            "people",
            json!({"name": {"firstName": "New"}, "companyId": null}),
            None,
            false,
        )
        .await
        .expect_err("a dry run is refused too");
    assert!(err.to_string().contains("companyId"), "{err}");
    assert!(a.audit(None, None, None).await.unwrap().is_empty());
    sim.shutdown().await;
}

/// Keys the allowlist cannot check unambiguously (dotted or empty) and bodies that are not
/// objects are refused.
#[tokio::test]
async fn bodies_whose_paths_are_ambiguous_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let id = hidden_email_person(&sim);
    let a = assistant(client, dir.path(), r#"people = ["name", "jobTitle"]"#);
    let before = sim.handle().record("people", &id).unwrap();
    for body in [
        json!({"name.firstName": "Dotted"}),
        json!({"": "x"}),
        json!({"name": {"": "x"}}),
        json!(["jobTitle"]),
        json!(null),
    ] {
        let err = a
            .update("people", &id, body.clone(), true)
            .await
            .expect_err(&format!("{body} must be refused"));
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(sim.handle().record("people", &id).unwrap(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_allowlisted_field_can_be_cleared_with_null_or_an_empty_string() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let id = hidden_email_person(&sim);
    let a = assistant(client, dir.path(), r#"people = ["name", "jobTitle"]"#);
    for empty in [json!(null), json!("")] {
        sim.handle()
            .update_record("people", &id, json!({"jobTitle": "Rear Admiral"}));
        let done = a
            .update("people", &id, json!({"jobTitle": empty}), true)
            .await
            .expect("clearing an allowlisted field");
        assert!(done.executed, "{empty}: {done:?}");
        assert_eq!(done.changed_fields, vec!["jobTitle".to_string()]);
        let now = sim.handle().record("people", &id).unwrap();
        assert!(
            now["jobTitle"].is_null() || now["jobTitle"] == "",
            "{empty}: {}",
            now["jobTitle"]
        );
    }
    let audit = a.audit(Some(id.clone()), None, None).await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit.iter().all(|e| e.outcome == AuditOutcome::Applied
            && e.changed_fields == vec!["jobTitle".to_string()])
    );
    // A create may leave an allowlisted field empty.
    let created = a
        .create(
            "people",
            json!({"name": {"firstName": "Empty"}, "jobTitle": null}),
            None,
            true,
        )
        .await
        .expect("create with an allowlisted null");
    assert!(created.executed);
    assert!(created.changed_fields.contains(&"jobTitle".to_string()));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_search_does_not_match_fields_outside_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let id = hidden_email_person(&sim);
    let hidden = assistant(
        client.clone(),
        dir.path(),
        r#"people = ["name", "jobTitle"]"#,
    );
    let found = hidden.search("people", "zqx.hidden", 10).await.unwrap();
    assert!(found.is_empty(), "matched on a hidden email: {found:?}");
    let found = hidden.search("people", "hopper", 10).await.unwrap();
    assert_eq!(ids(&found), vec![id.as_str()]);
    // With emails allowlisted, the same search finds the person.
    let visible = assistant(
        client.clone(),
        &dir.path().join("visible"),
        r#"people = ["name", "emails.primaryEmail"]"#,
    );
    let found = visible.search("people", "zqx.hidden", 10).await.unwrap();
    assert_eq!(ids(&found), vec![id.as_str()]);
    // Only first names allowlisted: last names are not searched.
    let first_only = assistant(
        client.clone(),
        &dir.path().join("first"),
        r#"people = ["name.firstName"]"#,
    );
    assert!(
        first_only
            .search("people", "hopper", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing searchable allowlisted: refused, saying what to allowlist.
    let no_title = assistant(client, &dir.path().join("tasks"), r#"tasks = ["status"]"#);
    let err = no_title.search("tasks", "call", 10).await.unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn percent_and_underscore_in_a_search_are_literal() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = start().await;
    let annabeth = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Annabeth", "lastName": "Chase"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let literal = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "100%_an", "lastName": "Real"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = assistant(client, dir.path(), r#"people = ["name", "jobTitle"]"#);
    for query in ["an%th", "%", "a_n", "ann_beth", "_"] {
        let found = a.search("people", query, 10).await.unwrap();
        assert!(
            !ids(&found).contains(&annabeth.as_str()),
            "{query:?} was a wildcard: {found:?}"
        );
    }
    for query in ["100%", "%_an", "0%_"] {
        let found = a.search("people", query, 10).await.unwrap();
        assert_eq!(ids(&found), vec![literal.as_str()], "{query:?}");
    }
    sim.shutdown().await;
}
