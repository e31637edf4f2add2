//! Webhooks: subscriptions (`client.webhooks()`) and verification of deliveries ([`WebhookVerifier`]).
//!
//! Self-hosted Twenty drops deliveries to private or loopback addresses unless the server runs with
//! `OUTBOUND_HTTP_SAFE_MODE_ENABLED=false`; Twenty does not retry failed deliveries, so pair webhooks with
//! `updatedAt` polling.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
//! let key = secrecy::SecretString::from("sim-key");
//! let client = twenty_client::Client::builder(sim.base_url(), key).build()?;
//! use twenty_client::webhook::{CreateWebhook, WebhookAction, WebhookVerifier};
//! client.webhooks().create(CreateWebhook {
//!     target_url: "https://example.com/twenty-hook".into(),
//!     operations: vec!["person.created".into()],
//!     description: None,
//!     secret: Some("fake-webhook-secret".into()),
//! }).await?;
//! // A delivery: check its signature and age, then read it.
//! let body = br#"{"eventName":"person.created","record":{"id":"p1"}}"#;
//! let timestamp = chrono::Utc::now().timestamp_millis().to_string();
//! let signature = twenty_sim::sign_webhook("fake-webhook-secret", &timestamp, body);
//! let verifier = WebhookVerifier::new("fake-webhook-secret".into());
//! let event = verifier.verify(&timestamp, &signature, body, chrono::Utc::now())?;
//! assert_eq!(event.action, WebhookAction::Created);
//! # sim.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod subscriptions;
mod verify;

pub use subscriptions::{CreateWebhook, Webhook, WebhooksHandler};
pub use verify::{
    NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookAction, WebhookError, WebhookEvent,
    WebhookVerifier,
};
