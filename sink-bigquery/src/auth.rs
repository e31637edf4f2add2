//! How the sink authenticates to BigQuery.
//!
//! Service-account keys, application default credentials and the GCE metadata server are all
//! supported; keys may come from a [`SecretProvider`]. Secrets are held in
//! [`SecretString`]s and never appear in `Debug` output, logs or errors. For emulators, a static
//! token or no credentials at all.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use twenty_sync_core::{SecretProvider, StoreError, StoreErrorKind, StoreResult};

/// Where the sink gets its OAuth access tokens from.
///
/// `Debug` never shows a secret:
///
/// ```
/// use secrecy::SecretString;
/// use sink_bigquery::Credentials;
///
/// let creds = Credentials::StaticToken(SecretString::from("ya29.not-for-your-eyes"));
/// assert!(!format!("{creds:?}").contains("not-for-your-eyes"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A service-account key file (the JSON downloaded from the console).
    ServiceAccountKeyFile(PathBuf),
    /// The contents of a service-account key file, e.g. resolved from a [`SecretProvider`].
    ServiceAccountKey(SecretString),
    /// Application default credentials: `GOOGLE_APPLICATION_CREDENTIALS`, the gcloud user
    /// credentials file, or the metadata server when running on Google Cloud.
    ApplicationDefault,
    /// The GCE / GKE / Cloud Run metadata server (`GCE_METADATA_HOST` or
    /// `metadata.google.internal`), tokens cached until shortly before they expire.
    MetadataServer,
    /// A fixed bearer token (short-lived tokens from elsewhere, or an emulator).
    StaticToken(SecretString),
    /// No credentials (emulators only; real BigQuery rejects the requests).
    Anonymous,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ServiceAccountKeyFile(path) => {
                f.debug_tuple("ServiceAccountKeyFile").field(path).finish()
            }
            Credentials::ServiceAccountKey(_) => f.write_str("ServiceAccountKey([redacted])"),
            Credentials::ApplicationDefault => f.write_str("ApplicationDefault"),
            Credentials::MetadataServer => f.write_str("MetadataServer"),
            Credentials::StaticToken(_) => f.write_str("StaticToken([redacted])"),
            Credentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

impl Credentials {
    /// A service-account key resolved by `name` from `provider` (the secret holds the key JSON).
    ///
    /// Fails with [`StoreErrorKind::Config`] when the provider does not know the name.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sink_bigquery::Credentials;
    /// use twenty_sync_core::{InMemorySecrets, StoreErrorKind};
    ///
    /// let key_json = r#"{"type": "service_account", "project_id": "my-project"}"#; // fake, shortened
    /// let secrets = InMemorySecrets::new().with_secret("bigquery-key", key_json);
    /// let creds = Credentials::service_account_key_from(&secrets, "bigquery-key").await?;
    /// assert!(matches!(creds, Credentials::ServiceAccountKey(_)));
    /// let err = Credentials::service_account_key_from(&secrets, "other-key").await.unwrap_err();
    /// assert_eq!(err.kind(), StoreErrorKind::Config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn service_account_key_from(
        provider: &dyn SecretProvider,
        name: &str,
    ) -> StoreResult<Credentials> {
        Ok(Credentials::ServiceAccountKey(
            resolve(provider, name).await?,
        ))
    }

    /// A static bearer token resolved by `name` from `provider`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use sink_bigquery::Credentials;
    /// use twenty_sync_core::InMemorySecrets;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("bq-token", "ya29.fake-token");
    /// let creds = Credentials::static_token_from(&secrets, "bq-token").await?;
    /// let Credentials::StaticToken(token) = &creds else { panic!("a static token") };
    /// assert_eq!(token.expose_secret(), "ya29.fake-token");
    /// assert!(Credentials::static_token_from(&secrets, "missing").await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn static_token_from(
        provider: &dyn SecretProvider,
        name: &str,
    ) -> StoreResult<Credentials> {
        Ok(Credentials::StaticToken(resolve(provider, name).await?))
    }

    /// A short description for logs (no secrets), e.g. `"service-account key file /etc/key.json"`.
    ///
    /// ```
    /// use secrecy::SecretString;
    /// use sink_bigquery::Credentials;
    ///
    /// let file = Credentials::ServiceAccountKeyFile("/etc/twenty-sync/key.json".into());
    /// assert_eq!(file.describe(), "service-account key file /etc/twenty-sync/key.json");
    /// let token = Credentials::StaticToken(SecretString::from("ya29.fake-token"));
    /// assert!(!token.describe().contains("fake-token"));
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Credentials::ServiceAccountKeyFile(p) => {
                format!("service-account key file {}", p.display())
            }
            Credentials::ServiceAccountKey(_) => "service-account key (from a secret)".to_owned(),
            Credentials::ApplicationDefault => "application default credentials".to_owned(),
            Credentials::MetadataServer => "metadata server".to_owned(),
            Credentials::StaticToken(_) => "static bearer token".to_owned(),
            Credentials::Anonymous => "no credentials".to_owned(),
        }
    }
}

async fn resolve(provider: &dyn SecretProvider, name: &str) -> StoreResult<SecretString> {
    provider.resolve(name).await?.ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Config,
            format!(
                "secret {name:?} for the BigQuery credentials was not found in {}; set it there",
                provider.describe()
            ),
        )
    })
}

/// Replaces every long-enough line of `secret` found in `text` (belt and braces: error texts of
/// dependencies must never carry key material).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    let mut out = text.to_owned();
    // Key files hold the PEM with JSON `\n` escapes: split on those as well as on real newlines.
    let unescaped = secret.replace("\\n", "\n");
    for part in unescaped
        .split(['\n', '"', '\\', ','])
        .map(str::trim)
        .filter(|p| p.len() >= 12)
    {
        out = out.replace(part, "[redacted]");
    }
    out
}

/// A token source for the BigQuery client: a fixed token, or none.
#[derive(Clone)]
pub(crate) struct StaticTokenAuth {
    token: Option<Arc<SecretString>>,
}

impl StaticTokenAuth {
    pub(crate) fn new(token: Option<SecretString>) -> Self {
        StaticTokenAuth {
            token: token.map(Arc::new),
        }
    }
}

#[async_trait]
impl Authenticator for StaticTokenAuth {
    async fn access_token(&self) -> Result<String, BQError> {
        Ok(self
            .token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default())
    }
}

/// Tokens from the GCE metadata server, cached until one minute before they expire.
#[derive(Clone)]
pub(crate) struct MetadataServerAuth {
    http: reqwest::Client,
    url: String,
    cache: Arc<Mutex<Option<(SecretString, Instant)>>>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

#[derive(Deserialize)]
struct MetadataToken {
    access_token: SecretString,
    expires_in: u64,
}

impl MetadataServerAuth {
    /// `host` like `"metadata.google.internal"` or `"http://127.0.0.1:1234"`.
    pub(crate) fn new(http: reqwest::Client, host: &str) -> Self {
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.trim_end_matches('/').to_owned()
        } else {
            format!("http://{host}")
        };
        MetadataServerAuth {
            http,
            url: format!("{base}/computeMetadata/v1/instance/service-accounts/default/token"),
            cache: Arc::new(Mutex::new(None)),
            last_error: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// The reason the last token request failed, if it did.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    async fn fetch(&self) -> Result<(SecretString, Instant), String> {
        let resp = self
            .http
            .get(&self.url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| format!("metadata server unreachable at {}: {e}", self.url))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!(
                "metadata server answered {status} at {}; is a service account attached to \
                 this instance?",
                self.url
            ));
        }
        let token: MetadataToken = resp
            .json()
            .await
            .map_err(|_| "metadata server answered with an unexpected token body".to_owned())?;
        let lifetime = Duration::from_secs(token.expires_in.saturating_sub(60));
        Ok((token.access_token, Instant::now() + lifetime))
    }
}

#[async_trait]
impl Authenticator for MetadataServerAuth {
    async fn access_token(&self) -> Result<String, BQError> {
        let mut cache = self.cache.lock().await;
        if let Some((token, until)) = cache.as_ref() {
            if Instant::now() < *until {
                return Ok(token.expose_secret().to_owned());
            }
        }
        match self.fetch().await {
            Ok((token, until)) => {
                let value = token.expose_secret().to_owned();
                *cache = Some((token, until));
                Ok(value)
            }
            Err(reason) => {
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(reason);
                }
                Err(BQError::NoToken)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_key_lines_from_error_text() {
        let key = "{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIFAKEKEYMATERIAL1234\\n\"}";
        let text = "could not parse MIIFAKEKEYMATERIAL1234 here";
        let out = redact(text, key);
        assert!(!out.contains("MIIFAKEKEYMATERIAL1234"), "{out}");
    }

    #[test]
    fn debug_of_every_secret_variant_is_redacted() {
        for c in [
            Credentials::ServiceAccountKey(SecretString::from("KEY-MARKER-123")),
            Credentials::StaticToken(SecretString::from("KEY-MARKER-123")),
        ] {
            let shown = format!("{c:?} {}", c.describe());
            assert!(!shown.contains("KEY-MARKER-123"), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
    }
}
