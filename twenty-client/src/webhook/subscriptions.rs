//! Webhook subscriptions at `/rest/metadata/webhooks`, falling back to the legacy `/rest/webhooks`.

use std::fmt;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::metadata::unwrap_data;
use crate::transport::{Call, decode};

/// A webhook subscription.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::webhook::CreateWebhook;
/// let hook = client.webhooks().create(CreateWebhook {
///     target_url: "https://example.com/twenty-hook".into(),
///     operations: vec!["person.*".into()],
///     description: None,
///     secret: Some("fake-webhook-secret".into()),
/// }).await?;
/// assert_eq!(hook.target_url, "https://example.com/twenty-hook");
/// assert_eq!(hook.operations, ["person.*"]);
/// assert!(!format!("{hook:?}").contains("fake-webhook-secret")); // redacted in Debug
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Id.
    pub id: String,
    /// Delivery URL.
    pub target_url: String,
    /// Operations such as `person.created`, `*.updated`, `*.*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Signing secret (redacted in Debug; a value that is not a string fails the decode
    /// without being quoted).
    #[serde(default, deserialize_with = "secret_text")]
    pub secret: Option<SecretString>,
    /// Everything else the server sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The signing secret: a string or null. Any other value fails without being shown, where
/// serde's own message would quote a number ("invalid type: integer `…`").
fn secret_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text.into())),
        Some(_) => Err(D::Error::custom(
            "`secret` is not a string (its value is not shown)",
        )),
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("target_url", &self.target_url)
            .field("operations", &self.operations)
            .field("description", &self.description)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Body of a new subscription.
///
/// ```
/// use twenty_client::webhook::CreateWebhook;
/// let body = CreateWebhook {
///     target_url: "https://example.com/twenty-hook".into(),
///     operations: vec!["*.created".into(), "*.updated".into()],
///     description: Some("ERP sync".into()),
///     secret: Some("fake-webhook-secret".into()),
/// };
/// // The secret is sent to Twenty but never shown in logs.
/// assert_eq!(serde_json::to_value(&body)?["secret"], "fake-webhook-secret");
/// assert!(!format!("{body:?}").contains("fake-webhook-secret"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    /// Delivery URL.
    pub target_url: String,
    /// Operations (`person.created`, `*.updated` …).
    pub operations: Vec<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Signing secret (recommended; verify deliveries with [`crate::webhook::WebhookVerifier`]).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub secret: Option<SecretString>,
}

fn expose<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(v) => s.serialize_str(v.expose_secret()),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateWebhook")
            .field("target_url", &self.target_url)
            .field("operations", &self.operations)
            .field("description", &self.description)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Webhook subscriptions (`client.webhooks()`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::webhook::CreateWebhook;
/// let hook = client.webhooks().create(CreateWebhook {
///     target_url: "https://example.com/twenty-hook".into(),
///     operations: vec!["person.*".into()],
///     description: Some("sync".into()),
///     secret: Some("fake-webhook-secret".into()),
/// }).await?;
/// assert_eq!(client.webhooks().list().await?.len(), 1);
/// client.webhooks().delete(&hook.id).await?;
/// assert!(client.webhooks().list().await?.is_empty());
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct WebhooksHandler {
    client: Client,
}

const PATHS: [&[&str]; 2] = [&["rest", "metadata", "webhooks"], &["rest", "webhooks"]];

impl WebhooksHandler {
    pub(crate) fn new(client: Client) -> Self {
        WebhooksHandler { client }
    }

    /// Try the current path, then the legacy one when the server does not know the route (404, or the
    /// 400 "Query path '/rest/metadata/webhooks' invalid" of servers whose metadata router predates it).
    async fn call_with_fallback(
        &self,
        method: Method,
        suffix: Option<&str>,
        body: Option<&CreateWebhook>,
        op: &'static str,
    ) -> Result<Vec<u8>, Error> {
        let mut last = None;
        for path in PATHS {
            let mut segs: Vec<&str> = path.to_vec();
            if let Some(s) = suffix {
                segs.push(s);
            }
            let mut call = Call::new(method.clone(), self.client.url(&segs), op);
            if let Some(b) = body {
                call = call.json(b)?;
            }
            if let Some(id) = suffix {
                call = call.context("id", id);
            }
            match self.client.send_raw(&call).await {
                Ok(raw) => return Ok(raw),
                Err(e) if path.len() == 3 && is_missing_route(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::new(ErrorKind::NotFound, "no webhook endpoint").with_operation(op)
        }))
    }

    /// Create a subscription.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::webhook::CreateWebhook;
    /// let hook = client.webhooks().create(CreateWebhook {
    ///     target_url: "https://example.com/twenty-hook".into(),
    ///     operations: vec!["company.created".into()],
    ///     description: Some("new companies".into()),
    ///     secret: Some("fake-webhook-secret".into()),
    /// }).await?;
    /// assert!(!hook.id.is_empty());
    /// assert_eq!(hook.description.as_deref(), Some("new companies"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn create(&self, webhook: CreateWebhook) -> Result<Webhook, Error> {
        let op = "webhooks.create";
        let raw = self
            .call_with_fallback(Method::POST, None, Some(&webhook), op)
            .await?;
        let value: serde_json::Value = decode(&raw).map_err(|e| e.with_operation(op))?;
        serde_json::from_value(unwrap_data(value)).map_err(|e| decode_err(op, e))
    }

    /// All subscriptions.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::webhook::CreateWebhook;
    /// assert!(client.webhooks().list().await?.is_empty());
    /// # client.webhooks().create(CreateWebhook { target_url: "https://example.com/hook".into(),
    /// #     operations: vec!["*.*".into()], description: None, secret: None }).await?;
    /// // (after creating one subscription)
    /// let hooks = client.webhooks().list().await?;
    /// assert_eq!(hooks.len(), 1);
    /// assert_eq!(hooks[0].operations, ["*.*"]);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn list(&self) -> Result<Vec<Webhook>, Error> {
        let op = "webhooks.list";
        let raw = self.call_with_fallback(Method::GET, None, None, op).await?;
        let value: serde_json::Value = decode(&raw).map_err(|e| e.with_operation(op))?;
        serde_json::from_value(unwrap_data(value)).map_err(|e| decode_err(op, e))
    }

    /// Delete a subscription.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::webhook::CreateWebhook;
    /// let hook = client.webhooks().create(CreateWebhook {
    ///     target_url: "https://example.com/hook".into(),
    ///     operations: vec!["*.*".into()], description: None, secret: None,
    /// }).await?;
    /// client.webhooks().delete(&hook.id).await?;
    /// assert!(client.webhooks().list().await?.is_empty());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.call_with_fallback(Method::DELETE, Some(id), None, "webhooks.delete")
            .await
            .map(|_| ())
    }
}

fn decode_err(op: &'static str, e: serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Decode {
            path: "<webhook>".into(),
        },
        format!("unexpected webhook JSON: {e}"),
    )
    .with_operation(op)
}

fn is_missing_route(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::NotFound => true,
        ErrorKind::Validation { messages } => messages.iter().any(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("path") && m.contains("invalid")
                || m.contains("cannot post")
                || m.contains("cannot get")
        }),
        _ => false,
    }
}
