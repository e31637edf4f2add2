//! Webhooks: subscriptions (`client.webhooks()`) and verification of deliveries ([`WebhookVerifier`]).
//!
//! Self-hosted Twenty drops deliveries to private or loopback addresses unless the server runs with
//! `OUTBOUND_HTTP_SAFE_MODE_ENABLED=false`; Twenty does not retry failed deliveries, so pair webhooks with
//! `updatedAt` polling.

mod subscriptions;
mod verify;

pub use subscriptions::{CreateWebhook, Webhook, WebhooksHandler};
pub use verify::{
    NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookAction, WebhookError, WebhookEvent,
    WebhookVerifier,
};
