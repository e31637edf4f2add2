//! Metadata and webhook subscriptions against the simulator.

use std::time::Duration;

use secrecy::SecretString;
use twenty_client::metadata::{CreateField, FieldOption, FieldSpec, FieldType};
use twenty_client::webhook::CreateWebhook;
use twenty_client::{Client, ErrorKind, Record, RetryPolicy};
use twenty_sim::{ServerFlavor, SimConfig, SimServer};

const KEY: &str = "sim-meta-key";

async fn start(flavor: ServerFlavor) -> (SimServer, Client) {
    let server = SimServer::start(SimConfig::new(KEY).flavor(flavor).rate_limit(None))
        .await
        .expect("sim");
    let client = Client::builder(server.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_internal_error_retries: 2,
        })
        .build()
        .expect("client");
    (server, client)
}

fn specs() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("people", "externalRef", FieldType::Text).label("External ref"),
        FieldSpec::new("person", "loyaltyTier", FieldType::Select)
            .label("Loyalty tier")
            .options([
                FieldOption::new("GOLD", "Gold"),
                FieldOption::new("SILVER", "Silver"),
            ]),
        FieldSpec::new("companies", "score", FieldType::Number),
    ]
}

#[tokio::test]
async fn ensure_fields_is_idempotent_and_new_fields_are_writable() {
    let (server, client) = start(ServerFlavor::V2_21).await;
    let first = client
        .metadata()
        .ensure_fields(&specs())
        .await
        .expect("first");
    assert_eq!(first.created.len(), 3, "{first:?}");
    let second = client
        .metadata()
        .ensure_fields(&specs())
        .await
        .expect("second");
    assert_eq!(second.already_present.len(), 3, "{second:?}");
    assert!(second.created.is_empty() && second.is_ok());

    let verify = client
        .metadata()
        .verify_fields(&[
            FieldSpec::new("people", "externalRef", FieldType::Number),
            FieldSpec::new("people", "loyaltyTier", FieldType::Select)
                .options([FieldOption::new("PLATINUM", "P")]),
            FieldSpec::new("people", "notThere", FieldType::Text),
        ])
        .await
        .expect("verify");
    assert_eq!(verify.mismatched.len(), 2, "{verify:?}");
    assert_eq!(verify.missing.len(), 1);

    let rec = Record::from(serde_json::json!({
        "emails": {"primaryEmail": "custom@example.com"}, "externalRef": "X-1", "loyaltyTier": "GOLD"
    }));
    let saved = client
        .records("people")
        .create(&rec)
        .send()
        .await
        .expect("write custom fields");
    assert_eq!(
        saved.get("externalRef").and_then(|v| v.as_str()),
        Some("X-1")
    );
    server.shutdown().await;
}

/// 2.21.0 creates the rich-text composite as `RICH_TEXT` and refuses `RICH_TEXT_V2`:
/// `ensure_fields` reads the server's name off `notes.bodyV2`, and the field it creates holds
/// Markdown.
#[tokio::test]
async fn a_rich_text_v2_declaration_is_created_as_the_composite_2_21_knows() {
    let (server, client) = start(ServerFlavor::V2_21).await;
    let person = client.metadata().object("person").await.expect("person");
    let refused = client
        .metadata()
        .create_field(CreateField::new(
            person.id.clone(),
            "oldName",
            "Old name",
            FieldType::RichTextV2,
        ))
        .await
        .expect_err("2.21.0 has no RICH_TEXT_V2");
    assert!(refused.to_string().contains("RICH_TEXT_V2"), "{refused}");

    let spec = [FieldSpec::new("people", "biography", FieldType::RichTextV2)];
    let first = client
        .metadata()
        .ensure_fields(&spec)
        .await
        .expect("ensure");
    assert_eq!(first.created.len(), 1, "{first:?}");
    let again = client
        .metadata()
        .verify_fields(&spec)
        .await
        .expect("verify");
    assert!(
        again.is_ok() && again.already_present.len() == 1,
        "{again:?}"
    );
    let created = client.metadata().object("people").await.expect("people");
    assert_eq!(
        created.field("biography").map(|f| &f.field_type),
        Some(&FieldType::RichText)
    );

    let rec = Record::from(serde_json::json!({"biography": {"markdown": "Wrote *the* notes"}}));
    let saved = client
        .records("people")
        .create(&rec)
        .send()
        .await
        .expect("write the composite");
    assert_eq!(
        saved.get("biography").and_then(|v| v.get("markdown")),
        Some(&serde_json::json!("Wrote *the* notes"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn duplicate_fields_are_conflicts_in_every_flavour() {
    for flavor in [ServerFlavor::V2_21, ServerFlavor::Newest] {
        let (server, client) = start(flavor).await;
        let person = client.metadata().object("person").await.expect("person");
        let field = || CreateField::new(person.id.clone(), "dupField", "Dup", FieldType::Text);
        client
            .metadata()
            .create_field(field())
            .await
            .expect("first");
        let err = client
            .metadata()
            .create_field(field())
            .await
            .expect_err("second");
        assert_eq!(err.kind(), &ErrorKind::Conflict, "{flavor:?}: {err}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn webhook_subscriptions_work_on_current_and_legacy_paths() {
    for flavor in [ServerFlavor::V2_21, ServerFlavor::Legacy] {
        let (server, client) = start(flavor).await;
        let hook = client
            .webhooks()
            .create(CreateWebhook {
                target_url: "https://example.com/hook".into(),
                operations: vec!["person.*".into()],
                description: Some("test".into()),
                secret: Some("hook-secret".into()),
            })
            .await
            .unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        let listed = client.webhooks().list().await.expect("list");
        assert!(listed.iter().any(|h| h.id == hook.id), "{flavor:?}");
        client.webhooks().delete(&hook.id).await.expect("delete");
        assert!(
            client
                .webhooks()
                .list()
                .await
                .expect("list")
                .iter()
                .all(|h| h.id != hook.id)
        );
        server.shutdown().await;
    }
}
