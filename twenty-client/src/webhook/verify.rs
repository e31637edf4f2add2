//! Verification of incoming webhook deliveries and the typed event.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// Header carrying the millisecond timestamp.
///
/// ```
/// use reqwest::header::HeaderMap;
/// use twenty_client::webhook::{WebhookVerifier, SIGNATURE_HEADER, TIMESTAMP_HEADER};
/// let body = br#"{"eventName":"person.updated","record":{"id":"p1"}}"#;
/// # let now = chrono::Utc::now();
/// # let ts = now.timestamp_millis().to_string();
/// # let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
/// # let mut headers = HeaderMap::new();
/// # headers.insert(TIMESTAMP_HEADER, ts.parse()?);
/// # headers.insert(SIGNATURE_HEADER, sig.parse()?);
/// // `headers` as received with the delivery (names are case-insensitive):
/// let timestamp = headers[TIMESTAMP_HEADER].to_str()?;
/// let signature = headers[SIGNATURE_HEADER].to_str()?;
/// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
/// let event = verifier.verify(timestamp, signature, body, chrono::Utc::now())?;
/// assert_eq!(event.event_name, "person.updated");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const TIMESTAMP_HEADER: &str = "X-Twenty-Webhook-Timestamp";
/// Header carrying the hex HMAC-SHA256 signature.
///
/// ```
/// use twenty_client::webhook::{WebhookVerifier, SIGNATURE_HEADER};
/// let body = br#"{"eventName":"person.created"}"#;
/// // Twenty sends hex HMAC-SHA256 of "<timestamp>:<body>"; a "sha256=" prefix is accepted too.
/// let sig = twenty_sim::sign_webhook("fake-webhook-secret", "1795379205180", body);
/// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
/// assert!(verifier.verify_signature("1795379205180", &sig, body).is_ok());
/// assert!(verifier.verify_signature("1795379205180", &format!("sha256={sig}"), body).is_ok());
/// assert_eq!(SIGNATURE_HEADER.to_ascii_lowercase(), "x-twenty-webhook-signature");
/// ```
pub const SIGNATURE_HEADER: &str = "X-Twenty-Webhook-Signature";
/// Header carrying a per-attempt nonce (not signed; do not dedupe on it).
///
/// ```
/// use std::collections::HashSet;
/// use reqwest::header::HeaderMap;
/// use twenty_client::webhook::{WebhookVerifier, NONCE_HEADER};
/// let body = br#"{"eventName":"person.created","record":{"id":"p1"}}"#;
/// let ts = chrono::Utc::now().timestamp_millis().to_string();
/// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
/// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
/// let mut seen = HashSet::new();
/// for nonce in ["n-1", "n-2"] { // two delivery attempts of one event
///     let mut headers = HeaderMap::new();
///     headers.insert(NONCE_HEADER, nonce.parse()?);
///     // The nonce is not signed: both attempts verify with the same signature...
///     let event = verifier.verify(&ts, &sig, body, chrono::Utc::now())?;
///     // ...so deduplicate on the event, never on the nonce.
///     seen.insert((event.event_name, event.record["id"].to_string()));
/// }
/// assert_eq!(seen.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const NONCE_HEADER: &str = "X-Twenty-Webhook-Nonce";

/// Why a delivery was rejected.
///
/// ```
/// use std::time::Duration;
/// use twenty_client::webhook::{WebhookError, WebhookVerifier};
/// let verifier = WebhookVerifier::new("fake-webhook-secret".into()).max_age(Duration::from_secs(60));
/// let now = chrono::DateTime::from_timestamp_millis(1_795_379_205_180).unwrap();
/// let body = b"{}";
/// let sig = twenty_sim::sign_webhook("fake-webhook-secret", "1795379205180", body);
/// assert_eq!(verifier.verify("yesterday", &sig, body, now), Err(WebhookError::BadTimestamp));
/// assert_eq!(verifier.verify("1795379205180", "zz", body, now), Err(WebhookError::BadSignatureFormat));
/// assert_eq!(verifier.verify("1795379205180", &sig, b"{ }", now), Err(WebhookError::SignatureMismatch));
/// assert!(matches!(verifier.verify("1795379205180", &sig, body, now), Err(WebhookError::BadPayload(_))));
/// assert_eq!(verifier.verify("1795379085180", &sig, body, now),
///            Err(WebhookError::Stale { age_ms: 120_000, max_age_ms: 60_000 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The timestamp header is not an integer number of milliseconds.
    #[error("webhook timestamp header is not a millisecond timestamp")]
    BadTimestamp,
    /// The timestamp is older than the maximum age (replay) or too far in the future.
    ///
    /// Twenty signs with its own clock: when every delivery is refused, compare the two clocks
    /// ([`Client::server_clock`](crate::Client::server_clock)).
    ///
    /// ```
    /// use twenty_client::webhook::WebhookError;
    /// let e = WebhookError::Stale { age_ms: 600_000, max_age_ms: 300_000 };
    /// assert!(e.to_string().starts_with("webhook timestamp is 600000 ms away from now"));
    /// assert!(e.to_string().contains("Twenty's clock and this host's out of step"));
    /// ```
    #[error(
        "webhook timestamp is {age_ms} ms away from now, more than the allowed {max_age_ms} ms: \
         a replayed or long-delayed delivery, or Twenty's clock and this host's out of step \
         (see Client::server_clock)"
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
///
/// ```
/// use twenty_client::webhook::{WebhookAction, WebhookEvent};
/// let action = |name: &str| {
///     let body = format!(r#"{{"eventName":"{name}","record":{{}}}}"#);
///     WebhookEvent::parse(body.as_bytes()).unwrap().action
/// };
/// assert_eq!(action("person.created"), WebhookAction::Created);
/// assert_eq!(action("company.destroyed"), WebhookAction::Destroyed);
/// assert_eq!(action("person.merged"), WebhookAction::Other("merged".into()));
/// ```
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
///
/// ```
/// use twenty_client::webhook::{WebhookAction, WebhookEvent};
/// let body = br#"{
///   "eventName": "person.updated", "objectMetadata": {"id": "om-1", "nameSingular": "person"},
///   "workspaceId": "ws-1", "webhookId": "wh-1", "eventDate": "2026-11-22T19:46:37.441Z",
///   "record": {"id": "p1", "deletedAt": "2026-11-22T19:46:37.441Z"}, "updatedFields": ["deletedAt"]
/// }"#;
/// let event = WebhookEvent::parse(body)?;
/// assert_eq!((event.object_singular.as_str(), &event.action), ("person", &WebhookAction::Updated));
/// assert_eq!(event.updated_fields.as_deref(), Some(&["deletedAt".to_owned()][..])); // a soft delete
/// assert_eq!(event.object_metadata_id.as_deref(), Some("om-1"));
/// assert!(event.event_date.is_some());
/// # Ok::<(), twenty_client::webhook::WebhookError>(())
/// ```
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
    ///
    /// ```
    /// use twenty_client::webhook::{WebhookError, WebhookEvent};
    /// let event = WebhookEvent::parse(br#"{"eventName":"company.created","record":{"id":"c1"}}"#)?;
    /// assert_eq!(event.object_singular, "company"); // from the event name
    /// assert_eq!(event.record["id"], "c1");
    /// assert!(matches!(WebhookEvent::parse(b"not json"), Err(WebhookError::BadPayload(_))));
    /// # Ok::<(), WebhookError>(())
    /// ```
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
    ///
    /// ```
    /// use twenty_client::webhook::{WebhookError, WebhookVerifier};
    /// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
    /// let body = br#"{"eventName":"note.created"}"#;
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", "1795379205180", body);
    /// assert_eq!(verifier.verify_signature("1795379205180", &sig, body), Ok(()));
    /// let other = WebhookVerifier::new("another-fake-secret".into());
    /// assert_eq!(other.verify_signature("1795379205180", &sig, body), Err(WebhookError::SignatureMismatch));
    /// ```
    pub fn new(secret: SecretString) -> Self {
        WebhookVerifier {
            secret,
            max_age: Duration::from_secs(300),
        }
    }

    /// Largest accepted distance between the timestamp and `now` (default 5 minutes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::webhook::{WebhookError, WebhookVerifier};
    /// let body = br#"{"eventName":"person.created"}"#;
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", "1795379205180", body);
    /// let ten_minutes_later = chrono::DateTime::from_timestamp_millis(1_795_379_805_180).unwrap();
    /// let strict = WebhookVerifier::new("fake-webhook-secret".into()); // 5 minutes
    /// assert!(matches!(strict.verify("1795379205180", &sig, body, ten_minutes_later), Err(WebhookError::Stale { .. })));
    /// let lenient = strict.max_age(Duration::from_secs(15 * 60));
    /// assert!(lenient.verify("1795379205180", &sig, body, ten_minutes_later).is_ok());
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Check the signature only (no timestamp age check).
    ///
    /// ```
    /// use twenty_client::webhook::{WebhookError, WebhookVerifier};
    /// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
    /// let body = br#"{"eventName":"person.deleted"}"#;
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", "1700000000000", body);
    /// // Old timestamps pass: only the signature is checked.
    /// assert_eq!(verifier.verify_signature("1700000000000", &sig, body), Ok(()));
    /// assert_eq!(verifier.verify_signature("1700000000001", &sig, body), Err(WebhookError::SignatureMismatch));
    /// assert_eq!(verifier.verify_signature("1700000000000", "abc", body), Err(WebhookError::BadSignatureFormat));
    /// ```
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
    ///
    /// ```
    /// use twenty_client::webhook::{WebhookAction, WebhookError, WebhookVerifier};
    /// let verifier = WebhookVerifier::new("fake-webhook-secret".into());
    /// let body = br#"{"eventName":"company.upserted","record":{"id":"c1","name":"Acme"}}"#;
    /// let ts = chrono::Utc::now().timestamp_millis().to_string();
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
    /// let event = verifier.verify(&ts, &sig, body, chrono::Utc::now())?;
    /// assert_eq!((event.object_singular.as_str(), event.action), ("company", WebhookAction::Upserted));
    /// // A replay a day later is refused even though the signature is valid.
    /// let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    /// assert!(matches!(verifier.verify(&ts, &sig, body, tomorrow), Err(WebhookError::Stale { .. })));
    /// # Ok::<(), WebhookError>(())
    /// ```
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
