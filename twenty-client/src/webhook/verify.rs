//! Verification of incoming webhook deliveries and the typed event.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// Header carrying the millisecond timestamp.
pub const TIMESTAMP_HEADER: &str = "X-Twenty-Webhook-Timestamp";
/// Header carrying the hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-Twenty-Webhook-Signature";
/// Header carrying a per-attempt nonce (not signed; do not dedupe on it).
pub const NONCE_HEADER: &str = "X-Twenty-Webhook-Nonce";

/// Why a delivery was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The timestamp header is not an integer number of milliseconds.
    #[error("webhook timestamp header is not a millisecond timestamp")]
    BadTimestamp,
    /// The timestamp is older than the maximum age (replay) or too far in the future.
    #[error(
        "webhook timestamp is {age_ms} ms away from now, more than the allowed {max_age_ms} ms"
    )]
    Stale {
        /// Signed distance now − timestamp.
        age_ms: i64,
        /// Allowed distance.
        max_age_ms: i64,
    },
    /// The signature header is not lowercase/uppercase hex of 32 bytes.
    #[error("webhook signature header is not a hex SHA-256 HMAC")]
    BadSignatureFormat,
    /// The signature does not match (wrong secret or altered body).
    #[error("webhook signature does not match the body")]
    SignatureMismatch,
    /// Signed correctly but not a Twenty event payload.
    #[error("webhook body is not a Twenty event: {0}")]
    BadPayload(String),
}

/// What happened to the record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookAction {
    /// `*.created`
    Created,
    /// `*.updated` (a soft delete also sends one, with `updatedFields: ["deletedAt"]`)
    Updated,
    /// `*.deleted` (soft delete)
    Deleted,
    /// `*.destroyed` (permanent delete)
    Destroyed,
    /// `*.restored`
    Restored,
    /// `*.upserted`
    Upserted,
    /// Anything else.
    Other(String),
}

impl WebhookAction {
    fn parse(s: &str) -> Self {
        match s {
            "created" => WebhookAction::Created,
            "updated" => WebhookAction::Updated,
            "deleted" => WebhookAction::Deleted,
            "destroyed" => WebhookAction::Destroyed,
            "restored" => WebhookAction::Restored,
            "upserted" => WebhookAction::Upserted,
            other => WebhookAction::Other(other.to_owned()),
        }
    }
}

/// A verified webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// `person.updated` …
    pub event_name: String,
    /// Object singular name (`person`), from `objectMetadata.nameSingular` or the event name.
    pub object_singular: String,
    /// Object metadata id, when sent.
    pub object_metadata_id: Option<String>,
    /// The action part of the event name.
    pub action: WebhookAction,
    /// The record after the change (before it, for deletes).
    pub record: serde_json::Value,
    /// Changed fields (updates and soft deletes).
    pub updated_fields: Option<Vec<String>>,
    /// Workspace id.
    pub workspace_id: Option<String>,
    /// Webhook subscription id.
    pub webhook_id: Option<String>,
    /// When the event happened.
    pub event_date: Option<DateTime<Utc>>,
}

impl WebhookEvent {
    /// Parse a delivery body without verifying it (use [`WebhookVerifier::verify`] for untrusted input).
    pub fn parse(raw_body: &[u8]) -> Result<Self, WebhookError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ObjectMeta {
            id: Option<String>,
            name_singular: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            event_name: String,
            object_metadata: Option<ObjectMeta>,
            #[serde(default)]
            record: serde_json::Value,
            updated_fields: Option<Vec<String>>,
            workspace_id: Option<String>,
            webhook_id: Option<String>,
            event_date: Option<DateTime<Utc>>,
        }
        let raw: Raw = serde_json::from_slice(raw_body)
            .map_err(|e| WebhookError::BadPayload(crate::error::bound(&e.to_string(), 200)))?;
        let (obj, action) = raw
            .event_name
            .split_once('.')
            .unwrap_or((raw.event_name.as_str(), ""));
        let (object_metadata_id, singular) = match raw.object_metadata {
            Some(m) => (m.id, m.name_singular),
            None => (None, None),
        };
        Ok(WebhookEvent {
            object_singular: singular.unwrap_or_else(|| obj.to_owned()),
            action: WebhookAction::parse(action),
            event_name: raw.event_name.clone(),
            object_metadata_id,
            record: raw.record,
            updated_fields: raw.updated_fields,
            workspace_id: raw.workspace_id,
            webhook_id: raw.webhook_id,
            event_date: raw.event_date,
        })
    }
}

/// Verifies Twenty's webhook signatures: hex HMAC-SHA256(secret, `"<ms timestamp>:" + raw body`),
/// compared in constant time, with a maximum timestamp age (default 5 minutes) in both directions.
///
/// ```
/// use std::time::Duration;
/// use hmac::{Hmac, Mac};
/// use twenty_client::webhook::{WebhookAction, WebhookVerifier};
///
/// let body = br#"{"eventName":"person.created","objectMetadata":{"id":"o1","nameSingular":"person"},"record":{"id":"p1"}}"#;
/// let ts = "1795379205180";
/// // What Twenty sends in X-Twenty-Webhook-Signature:
/// let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cr3t").unwrap();
/// mac.update(format!("{ts}:").as_bytes());
/// mac.update(body);
/// let sig = hex::encode(mac.finalize().into_bytes());
///
/// let verifier = WebhookVerifier::new("s3cr3t".into()).max_age(Duration::from_secs(300));
/// let now = chrono::DateTime::from_timestamp_millis(1795379206000).unwrap();
/// let event = verifier.verify(ts, &sig, body, now).unwrap();
/// assert_eq!(event.action, WebhookAction::Created);
/// assert_eq!(event.record["id"], "p1");
/// assert!(verifier.verify(ts, &sig, b"{}", now).is_err());
/// ```
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: SecretString,
    max_age: Duration,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secret", &"[REDACTED]")
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for the webhook's `secret`.
    pub fn new(secret: SecretString) -> Self {
        WebhookVerifier {
            secret,
            max_age: Duration::from_secs(300),
        }
    }

    /// Largest accepted distance between the timestamp and `now` (default 5 minutes).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Check the signature only (no timestamp age check).
    pub fn verify_signature(
        &self,
        timestamp_header: &str,
        signature_header: &str,
        raw_body: &[u8],
    ) -> Result<(), WebhookError> {
        let ts = timestamp_header.trim();
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WebhookError::BadTimestamp);
        }
        let sig = signature_header.trim();
        let sig = sig.strip_prefix("sha256=").unwrap_or(sig);
        let expected = hex::decode(sig).map_err(|_| WebhookError::BadSignatureFormat)?;
        if expected.len() != 32 {
            return Err(WebhookError::BadSignatureFormat);
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .map_err(|_| WebhookError::SignatureMismatch)?;
        mac.update(ts.as_bytes());
        mac.update(b":");
        mac.update(raw_body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected)
            .map_err(|_| WebhookError::SignatureMismatch)
    }

    /// Verify a delivery and parse it. Pass the raw body bytes exactly as received.
    pub fn verify(
        &self,
        timestamp_header: &str,
        signature_header: &str,
        raw_body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        let ts: i64 = timestamp_header
            .trim()
            .parse()
            .map_err(|_| WebhookError::BadTimestamp)?;
        let age_ms = now.timestamp_millis().saturating_sub(ts);
        let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        if age_ms.saturating_abs() > max_age_ms {
            return Err(WebhookError::Stale { age_ms, max_age_ms });
        }
        self.verify_signature(timestamp_header, signature_header, raw_body)?;
        WebhookEvent::parse(raw_body)
    }
}
