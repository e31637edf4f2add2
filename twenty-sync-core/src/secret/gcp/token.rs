//! OAuth access tokens for Secret Manager: metadata server, service-account key (RS256 JWT
//! grant) or a fixed token, cached until shortly before expiry.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::{google_error_message, json_error_position, parse_json};
use crate::error::{StoreError, StoreErrorKind, StoreResult};

/// The OAuth scope requested for service-account tokens.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, used when a key file names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// A cached token is renewed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime asked for in the JWT grant (Google's maximum).
const JWT_LIFETIME_SECS: i64 = 3600;

/// Where [`GcpSecretManager`](super::GcpSecretManager) gets its access tokens.
///
/// `Debug` never shows a key or token:
///
/// ```
/// use secrecy::SecretString;
/// use twenty_sync_core::secret::GcpCredentials;
///
/// let creds = GcpCredentials::AccessToken(SecretString::from("ya29.do-not-print"));
/// assert!(!format!("{creds:?}").contains("do-not-print"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum GcpCredentials {
    /// The metadata server of GCE / GKE / Cloud Run at this base URL:
    /// `GET {base}/computeMetadata/v1/instance/service-accounts/default/token` with
    /// `Metadata-Flavor: Google`.
    MetadataServer {
        /// e.g. `http://metadata.google.internal`.
        base_url: Url,
    },
    /// A service-account key: a signed JWT is exchanged for a token at the key's `token_uri`.
    ServiceAccountKey(ServiceAccountKey),
    /// A fixed bearer token (obtained elsewhere; never refreshed).
    AccessToken(SecretString),
}

impl GcpCredentials {
    /// The metadata server at `http://$GCE_METADATA_HOST` when that variable is set (as the
    /// Google client libraries do), else `http://metadata.google.internal`.
    ///
    /// ```
    /// use twenty_sync_core::secret::GcpCredentials;
    ///
    /// // e.g. a metadata emulator.
    /// // SAFETY: a doctest runs in a process of its own; no other thread reads the environment.
    /// unsafe { std::env::set_var("GCE_METADATA_HOST", "127.0.0.1:8089") };
    /// let creds = GcpCredentials::metadata_server();
    /// assert!(matches!(&creds, GcpCredentials::MetadataServer { base_url } if base_url.as_str() == "http://127.0.0.1:8089/"));
    /// ```
    pub fn metadata_server() -> Self {
        let host = std::env::var("GCE_METADATA_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "metadata.google.internal".to_owned());
        let base_url = Url::parse(&format!("http://{host}"))
            .unwrap_or_else(|_| Url::parse("http://metadata.google.internal").expect("constant"));
        GcpCredentials::MetadataServer { base_url }
    }

    /// The metadata server at `base_url` (tests, proxies).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager};
    /// use twenty_sync_core::SecretProvider;
    /// use url::Url;
    ///
    /// let mut metadata = mockito::Server::new_async().await;
    /// let token = metadata.mock("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
    ///     .with_body(r#"{"access_token": "fake-token", "expires_in": 3600}"#)
    ///     .expect(1) // cached for the second read
    ///     .create_async().await;
    /// metadata.mock("GET", "/v1/projects/p/secrets/k/versions/latest:access")
    ///     .with_body(r#"{"payload": {"data": "ZmFrZS1rZXkK"}}"#)
    ///     .expect(2)
    ///     .create_async().await;
    /// let base = Url::parse(&metadata.url())?;
    /// let secrets = GcpSecretManager::new("p", GcpCredentials::metadata_server_at(base.clone())).with_base_url(base);
    /// for _ in 0..2 {
    ///     assert_eq!(secrets.require("k").await?.expose_secret(), "fake-key");
    /// }
    /// token.assert_async().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn metadata_server_at(base_url: Url) -> Self {
        GcpCredentials::MetadataServer { base_url }
    }

    fn describe(&self) -> String {
        match self {
            GcpCredentials::MetadataServer { base_url } => {
                format!("metadata server {}", base_url.as_str())
            }
            GcpCredentials::ServiceAccountKey(key) => {
                format!("service-account key of {}", key.client_email)
            }
            GcpCredentials::AccessToken(_) => "fixed access token".to_owned(),
        }
    }
}

impl fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcpCredentials::MetadataServer { base_url } => f
                .debug_struct("MetadataServer")
                .field("base_url", &base_url.as_str())
                .finish(),
            GcpCredentials::ServiceAccountKey(key) => {
                f.debug_tuple("ServiceAccountKey").field(key).finish()
            }
            GcpCredentials::AccessToken(_) => f.write_str("AccessToken([redacted])"),
        }
    }
}

/// A parsed service-account key (the JSON downloaded from the Cloud console). The private key
/// is held only in parsed form and never printed.
///
/// ```
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp_test_key.pem"))?;
/// # let key_json = |token_uri: &str| secrecy::SecretString::from(serde_json::json!({
/// #     "type": "service_account", "client_email": "sync@my-project.iam.gserviceaccount.com",
/// #     "private_key_id": "fake-kid", "private_key": pem, "token_uri": token_uri,
/// # }).to_string());
/// use twenty_sync_core::secret::{GcpCredentials, ServiceAccountKey};
///
/// let key = ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token"))?;
/// assert_eq!(key.client_email(), "sync@my-project.iam.gserviceaccount.com");
/// let debug = format!("{:?}", GcpCredentials::ServiceAccountKey(key));
/// assert!(debug.contains("[redacted]") && !debug.contains("fake-kid") && !debug.contains("BEGIN"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: Option<String>,
    token_uri: Url,
    key_pair: Arc<RsaKeyPair>,
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<SecretString>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Parses the key JSON (`type` `service_account`, `client_email`, `private_key` as PKCS#8 or
    /// PKCS#1 PEM, optional `private_key_id` and `token_uri`).
    ///
    /// Errors say which field is wrong and never quote the key.
    ///
    /// ```
    /// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp_test_key.pem"))?;
    /// # let key_json = |token_uri: &str| secrecy::SecretString::from(serde_json::json!({
    /// #     "type": "service_account", "client_email": "sync@my-project.iam.gserviceaccount.com",
    /// #     "private_key_id": "fake-kid", "private_key": pem, "token_uri": token_uri,
    /// # }).to_string());
    /// use secrecy::SecretString;
    /// use twenty_sync_core::secret::ServiceAccountKey;
    /// use twenty_sync_core::StoreErrorKind;
    ///
    /// let key = ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token"))?;
    /// assert_eq!(key.token_uri().as_str(), "https://oauth2.googleapis.com/token");
    ///
    /// let no_email = SecretString::from(r#"{"type": "service_account", "private_key": "fake"}"#);
    /// let err = ServiceAccountKey::from_json(&no_email).unwrap_err();
    /// assert_eq!(err.kind(), StoreErrorKind::Config);
    /// assert!(err.to_string().contains("client_email is missing"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json(json: &SecretString) -> StoreResult<Self> {
        let bad = |what: String| {
            StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "invalid service-account key: {what}; use the JSON key file downloaded from the Cloud console"
                ),
            )
        };
        let file: KeyFile = serde_json::from_str(json.expose_secret()).map_err(|e| {
            bad(format!(
                "not a key JSON object ({})",
                json_error_position(&e)
            ))
        })?;
        if let Some(kind) = &file.kind {
            if kind != "service_account" {
                return Err(bad(format!(
                    "type is {kind:?}, expected \"service_account\""
                )));
            }
        }
        let client_email = file
            .client_email
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad("client_email is missing".to_owned()))?;
        let pem = file
            .private_key
            .ok_or_else(|| bad("private_key is missing".to_owned()))?;
        let key_pair = parse_pem_key(pem.expose_secret()).map_err(bad)?;
        let token_uri = file.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri =
            Url::parse(token_uri).map_err(|e| bad(format!("token_uri is not a URL ({e})")))?;
        Ok(Self {
            client_email,
            private_key_id: file.private_key_id,
            token_uri,
            key_pair: Arc::new(key_pair),
        })
    }

    /// Exchanges JWTs at `token_uri` instead of the one in the key file.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp_test_key.pem"))?;
    /// # let key_json = |token_uri: &str| secrecy::SecretString::from(serde_json::json!({
    /// #     "type": "service_account", "client_email": "sync@my-project.iam.gserviceaccount.com",
    /// #     "private_key_id": "fake-kid", "private_key": pem, "token_uri": token_uri,
    /// # }).to_string());
    /// use mockito::Matcher;
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager, ServiceAccountKey};
    /// use twenty_sync_core::SecretProvider;
    /// use url::Url;
    ///
    /// let mut google = mockito::Server::new_async().await;
    /// let grant = google.mock("POST", "/token")
    ///     .match_body(Matcher::Regex("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer".into()))
    ///     .with_body(r#"{"access_token": "fake-token", "expires_in": 3600}"#)
    ///     .create_async().await;
    /// google.mock("GET", "/v1/projects/p/secrets/k/versions/latest:access")
    ///     .match_header("authorization", "Bearer fake-token")
    ///     .with_body(r#"{"payload": {"data": "ZmFrZS1rZXkK"}}"#)
    ///     .create_async().await;
    /// let key = ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token"))?
    ///     .with_token_uri(Url::parse(&format!("{}/token", google.url()))?);
    /// let secrets = GcpSecretManager::new("p", GcpCredentials::ServiceAccountKey(key))
    ///     .with_base_url(Url::parse(&google.url())?);
    /// assert_eq!(secrets.require("k").await?.expose_secret(), "fake-key");
    /// grant.assert_async().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_token_uri(mut self, token_uri: Url) -> Self {
        self.token_uri = token_uri;
        self
    }

    /// The service account's e-mail address.
    ///
    /// ```
    /// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp_test_key.pem"))?;
    /// # let key_json = |token_uri: &str| secrecy::SecretString::from(serde_json::json!({
    /// #     "type": "service_account", "client_email": "sync@my-project.iam.gserviceaccount.com",
    /// #     "private_key_id": "fake-kid", "private_key": pem, "token_uri": token_uri,
    /// # }).to_string());
    /// use twenty_sync_core::secret::ServiceAccountKey;
    ///
    /// let key = ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token"))?;
    /// assert!(key.client_email().ends_with(".iam.gserviceaccount.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The endpoint JWTs are exchanged at.
    ///
    /// ```
    /// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp_test_key.pem"))?;
    /// # let key_json = |token_uri: &str| secrecy::SecretString::from(serde_json::json!({
    /// #     "type": "service_account", "client_email": "sync@my-project.iam.gserviceaccount.com",
    /// #     "private_key_id": "fake-kid", "private_key": pem, "token_uri": token_uri,
    /// # }).to_string());
    /// use twenty_sync_core::secret::ServiceAccountKey;
    /// use url::Url;
    ///
    /// let key = ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token"))?;
    /// assert_eq!(key.token_uri().host_str(), Some("oauth2.googleapis.com"));
    /// let key = key.with_token_uri(Url::parse("http://127.0.0.1:9/token")?);
    /// assert_eq!(key.token_uri().as_str(), "http://127.0.0.1:9/token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_uri(&self) -> &Url {
        &self.token_uri
    }

    /// The signed RS256 JWT asserting this service account, issued at `iat` (Unix seconds).
    fn jwt(&self, iat: i64) -> StoreResult<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri.as_str(),
            "iat": iat,
            "exp": iat + JWT_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Other,
                    "signing the service-account JWT failed",
                )
            })?;
        Ok(format!("{signing_input}.{}", b64.encode(signature)))
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field(
                "private_key_id",
                &self.private_key_id.as_ref().map(|_| "[redacted]"),
            )
            .field("token_uri", &self.token_uri.as_str())
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM RSA key.
fn parse_pem_key(pem: &str) -> Result<RsaKeyPair, String> {
    // Keys pasted through environments sometimes keep the JSON `\n` escapes.
    let pem = pem.replace("\\n", "\n");
    let (label, body) = ["PRIVATE KEY", "RSA PRIVATE KEY"]
        .into_iter()
        .find_map(|label| {
            let begin = format!("-----BEGIN {label}-----");
            let end = format!("-----END {label}-----");
            let start = pem.find(&begin)? + begin.len();
            let stop = pem[start..].find(&end)? + start;
            Some((label, &pem[start..stop]))
        })
        .ok_or_else(|| "private_key is not a PEM RSA private key".to_owned())?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "private_key PEM body is not valid base64".to_owned())?;
    let parsed = if label == "PRIVATE KEY" {
        RsaKeyPair::from_pkcs8(&der)
    } else {
        RsaKeyPair::from_der(&der)
    };
    parsed.map_err(|e| format!("private_key is not a usable RSA key ({e})"))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct CachedToken {
    token: SecretString,
    renew_at: Instant,
}

/// Tokens for one set of credentials, cached until [`REFRESH_MARGIN`] before expiry. The lock
/// is held while fetching, so concurrent callers share one request.
pub(super) struct TokenCache {
    credentials: GcpCredentials,
    cached: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.credentials, f)
    }
}

impl TokenCache {
    pub(super) fn new(credentials: GcpCredentials) -> Self {
        Self {
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// Forgets the cached token (after a 401).
    pub(super) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// A valid access token, fetched when none is cached or the cached one is about to expire.
    pub(super) async fn token(&self, http: &reqwest::Client) -> StoreResult<SecretString> {
        if let GcpCredentials::AccessToken(token) = &self.credentials {
            return Ok(token.clone());
        }
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.renew_at {
                return Ok(c.token.clone());
            }
        }
        let fetched_at = Instant::now();
        let resp = self.fetch(http).await?;
        let lifetime = Duration::from_secs(resp.expires_in.unwrap_or(0));
        let renew_at = fetched_at + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(CachedToken {
            token: resp.access_token.clone(),
            renew_at,
        });
        Ok(resp.access_token)
    }

    async fn fetch(&self, http: &reqwest::Client) -> StoreResult<TokenResponse> {
        let source = self.credentials.describe();
        let request = match &self.credentials {
            GcpCredentials::MetadataServer { base_url } => {
                let url = format!(
                    "{}/computeMetadata/v1/instance/service-accounts/default/token",
                    base_url.as_str().trim_end_matches('/')
                );
                http.get(url).header("Metadata-Flavor", "Google")
            }
            GcpCredentials::ServiceAccountKey(key) => {
                let assertion = key.jwt(chrono::Utc::now().timestamp())?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                    .append_pair("assertion", &assertion)
                    .finish();
                http.post(key.token_uri.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            GcpCredentials::AccessToken(_) => unreachable!("fixed tokens are never fetched"),
        };
        let resp = request.send().await.map_err(|e| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                format!("could not get a Google access token from the {source}: {e}"),
            )
            .temporary()
        })?;
        let status = resp.status();
        if !status.is_success() {
            let message = google_error_message(resp).await;
            let temporary = status.as_u16() == 429 || status.is_server_error();
            let err = StoreError::new(
                if temporary {
                    StoreErrorKind::Unavailable
                } else {
                    StoreErrorKind::Config
                },
                format!(
                    "the {source} refused an access token ({status}: {message}); {}",
                    if temporary {
                        "try again later"
                    } else {
                        "check the credentials and that the account is enabled"
                    }
                ),
            );
            return Err(if temporary { err.temporary() } else { err });
        }
        parse_json::<TokenResponse>(resp).await.map_err(|what| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!("unexpected token response from the {source}: {what}"),
            )
        })
    }
}
