//! [`GcpSecretManager`]: secrets from Google Cloud Secret Manager (feature `gcp-secret-manager`).

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{SecretProvider, trim_trailing_newlines};
use crate::error::{StoreError, StoreErrorKind, StoreResult};

mod token;

use token::TokenCache;
pub use token::{GcpCredentials, ServiceAccountKey};

/// The public Secret Manager endpoint.
const DEFAULT_BASE_URL: &str = "https://secretmanager.googleapis.com";

/// Secrets from Google Cloud Secret Manager, read with
/// `GET {base}/v1/projects/{project}/secrets/{name}/versions/{version}:access`
/// (version `latest` unless set).
///
/// - The access token comes from [`GcpCredentials`]: the metadata server (GCE, GKE, Cloud Run),
///   a service-account key (RS256 JWT grant), or a fixed token. Tokens are cached until a minute
///   before they expire; a 401 drops the cached token and retries once.
/// - A secret that does not exist (404), or a name Secret Manager cannot hold (anything but
///   `A-Z a-z 0-9 _ -`, or longer than 255), is `Ok(None)`, so the provider chains.
/// - 403 is a [`StoreErrorKind::Config`] error saying which role to grant; 429 and 5xx are
///   temporary [`StoreErrorKind::Unavailable`] errors.
/// - The payload is base64-decoded, must be UTF-8, and trailing newlines are trimmed (secrets
///   added with `echo ... | gcloud secrets versions add --data-file=-` end with one).
///
/// ```
/// use secrecy::ExposeSecret;
/// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
/// use twenty_sync_core::SecretProvider;
/// use url::Url;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A local stand-in for the metadata server and Secret Manager. On Google Cloud it is simply
/// // `GcpSecretManager::new("my-project", GcpCredentials::metadata_server())`.
/// let mut google = mockito::Server::new_async().await;
/// google.mock("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
///     .match_header("metadata-flavor", "Google")
///     .with_body(r#"{"access_token": "fake-token", "expires_in": 3600}"#)
///     .create_async().await;
/// google.mock("GET", "/v1/projects/my-project/secrets/twenty-api-key/versions/latest:access")
///     .match_header("authorization", "Bearer fake-token")
///     .with_body(r#"{"payload": {"data": "ZmFrZS1rZXkK"}}"#) // base64 of "fake-key\n"
///     .create_async().await;
/// google.mock("GET", "/v1/projects/my-project/secrets/webhook-secret/versions/latest:access")
///     .with_status(404)
///     .create_async().await;
///
/// let base = Url::parse(&google.url())?;
/// let secrets = GcpSecretManager::new("my-project", GcpCredentials::metadata_server_at(base.clone()))
///     .with_base_url(base);
/// assert_eq!(secrets.require("twenty-api-key").await?.expose_secret(), "fake-key");
/// assert!(secrets.resolve("webhook-secret").await?.is_none()); // 404: the next provider may have it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct GcpSecretManager {
    project: String,
    base_url: Url,
    version: String,
    http: reqwest::Client,
    tokens: TokenCache,
}

impl GcpSecretManager {
    /// Secrets of `project` (id or number) with these credentials, on the public endpoint.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = GcpSecretManager::new("my-project", GcpCredentials::metadata_server());
    /// assert_eq!(secrets.describe(), "Google Secret Manager (project my-project)");
    /// // Names Secret Manager cannot hold are answered locally, without a request.
    /// assert!(secrets.resolve("twenty.api.key").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(project: impl Into<String>, credentials: GcpCredentials) -> Self {
        Self {
            project: project.into(),
            base_url: Url::parse(DEFAULT_BASE_URL).expect("constant URL"),
            version: "latest".to_owned(),
            http: default_http_client(),
            tokens: TokenCache::new(credentials),
        }
    }

    /// Another Secret Manager endpoint (regional endpoint, emulator, test server).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use secrecy::{ExposeSecret, SecretString};
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
    /// use twenty_sync_core::SecretProvider;
    /// use url::Url;
    ///
    /// let mut emulator = mockito::Server::new_async().await;
    /// emulator.mock("GET", "/v1/projects/p/secrets/twenty-api-key/versions/latest:access")
    ///     .with_body(r#"{"payload": {"data": "ZmFrZS1rZXkK"}}"#)
    ///     .create_async().await;
    /// let token = GcpCredentials::AccessToken(SecretString::from("fake-token"));
    /// let secrets = GcpSecretManager::new("p", token).with_base_url(Url::parse(&emulator.url())?);
    /// assert_eq!(secrets.require("twenty-api-key").await?.expose_secret(), "fake-key");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Reads this version (a number or an alias) instead of `latest`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use secrecy::{ExposeSecret, SecretString};
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
    /// use twenty_sync_core::SecretProvider;
    /// use url::Url;
    ///
    /// let mut google = mockito::Server::new_async().await;
    /// google.mock("GET", "/v1/projects/p/secrets/twenty-api-key/versions/3:access")
    ///     .with_body(r#"{"payload": {"data": "ZmFrZS1rZXktdjM="}}"#) // "fake-key-v3"
    ///     .create_async().await;
    /// let secrets = GcpSecretManager::new("p", GcpCredentials::AccessToken(SecretString::from("fake-token")))
    ///     .with_base_url(Url::parse(&google.url())?)
    ///     .with_version("3");
    /// assert_eq!(secrets.require("twenty-api-key").await?.expose_secret(), "fake-key-v3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Uses this HTTP client (proxies, custom roots) for Secret Manager and token requests.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use secrecy::{ExposeSecret, SecretString};
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
    /// use twenty_sync_core::SecretProvider;
    /// use url::Url;
    ///
    /// let mut google = mockito::Server::new_async().await;
    /// google.mock("GET", "/v1/projects/p/secrets/webhook-secret/versions/latest:access")
    ///     .match_header("user-agent", "twenty-sync-doc")
    ///     .with_body(r#"{"payload": {"data": "ZmFrZS13aHNlYw=="}}"#) // "fake-whsec"
    ///     .create_async().await;
    /// let http = reqwest::Client::builder()
    ///     .user_agent("twenty-sync-doc")
    ///     .timeout(Duration::from_secs(5))
    ///     .build()?;
    /// let secrets = GcpSecretManager::new("p", GcpCredentials::AccessToken(SecretString::from("fake-token")))
    ///     .with_base_url(Url::parse(&google.url())?)
    ///     .with_http_client(http);
    /// assert_eq!(secrets.require("webhook-secret").await?.expose_secret(), "fake-whsec");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    fn access_url(&self, name: &str) -> StoreResult<Url> {
        let base = self.base_url.as_str().trim_end_matches('/');
        let url = format!(
            "{base}/v1/projects/{}/secrets/{name}/versions/{}:access",
            self.project, self.version
        );
        Url::parse(&url).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!("invalid Secret Manager URL for secret {name:?}: {e}; check the base URL and project"),
            )
        })
    }

    async fn access(&self, name: &str, token: &SecretString) -> StoreResult<reqwest::Response> {
        self.http
            .get(self.access_url(name)?)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    format!("could not reach Secret Manager for secret {name:?}: {e}"),
                )
                .temporary()
            })
    }
}

pub(super) fn default_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

impl fmt::Debug for GcpSecretManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpSecretManager")
            .field("project", &self.project)
            .field("base_url", &self.base_url.as_str())
            .field("version", &self.version)
            .field("credentials", &self.tokens)
            .finish()
    }
}

fn is_secret_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct AccessResponse {
    payload: Payload,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    data: String,
}

/// Where a JSON document failed to parse, without quoting it (bodies may hold secrets).
pub(super) fn json_error_position(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Reads a JSON body; the error says what failed without quoting the body.
pub(super) async fn parse_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, String> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| json_error_position(&e))
}

/// The `error.message` of a Google API error body (never holds a secret value).
pub(super) async fn google_error_message(resp: reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: serde_json::Value,
        error_description: Option<String>,
    }
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<Body>(&text) {
        Ok(Body {
            error_description: Some(d),
            ..
        }) => d,
        Ok(Body { error, .. }) => error
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .or_else(|| error.as_str().map(str::to_owned))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[async_trait]
impl SecretProvider for GcpSecretManager {
    fn describe(&self) -> String {
        format!("Google Secret Manager (project {})", self.project)
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        if !is_secret_id(name) {
            return Ok(None);
        }
        let ctx = |e: StoreError| {
            e.with_context("secret", name)
                .with_context("project", self.project.clone())
        };
        let mut token = self.tokens.token(&self.http).await.map_err(ctx)?;
        let mut resp = self.access(name, &token).await.map_err(ctx)?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Revoked or expired early: drop the cached token and try once more.
            tracing::debug!(secret = %name, "Secret Manager answered 401; refreshing the token once");
            self.tokens.invalidate().await;
            token = self.tokens.token(&self.http).await.map_err(ctx)?;
            resp = self.access(name, &token).await.map_err(ctx)?;
        }
        let status = resp.status();
        if status.is_success() {
            let body: AccessResponse = parse_json(resp).await.map_err(|what| {
                ctx(StoreError::new(
                    StoreErrorKind::Corrupt,
                    format!("unexpected Secret Manager response for secret {name:?}: {what}"),
                ))
            })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body.payload.data.as_bytes())
                .map_err(|_| {
                    ctx(StoreError::new(
                        StoreErrorKind::Corrupt,
                        format!("the payload of secret {name:?} is not valid base64"),
                    ))
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                ctx(StoreError::new(
                    StoreErrorKind::Invalid,
                    format!("secret {name:?} is not valid UTF-8; store the secret as text"),
                ))
            })?;
            return Ok(Some(SecretString::from(trim_trailing_newlines(text))));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let message = google_error_message(resp).await;
        let err = match status.as_u16() {
            401 => StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "Secret Manager rejected the credentials for secret {name:?} (401: {message}); \
                     check the service account key or the instance's service account"
                ),
            ),
            403 => StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "permission denied reading secret {name:?} (403: {message}); grant \
                     roles/secretmanager.secretAccessor on it to the service account, and check \
                     that the Secret Manager API is enabled"
                ),
            ),
            429 | 500..=599 => StoreError::new(
                StoreErrorKind::Unavailable,
                format!("Secret Manager is unavailable for secret {name:?} ({status}: {message}); try again later"),
            )
            .temporary(),
            _ => StoreError::new(
                StoreErrorKind::Other,
                format!("Secret Manager answered {status} for secret {name:?}: {message}"),
            ),
        };
        Err(ctx(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids() {
        assert!(is_secret_id("twenty-api-key"));
        assert!(is_secret_id("TWENTY_API_KEY"));
        assert!(!is_secret_id("twenty.api.key"));
        assert!(!is_secret_id("a/b"));
        assert!(!is_secret_id(""));
        assert!(!is_secret_id(&"a".repeat(256)));
    }
}
