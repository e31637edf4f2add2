//! [`BigQuerySink`]: the [`SourceOfTruth`] over BigQuery tables, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use gcp_bigquery_client::client_builder::ClientBuilder;
use gcp_bigquery_client::yup_oauth2;
use secrecy::ExposeSecret;
use serde::Serialize;
use twenty_sync_core::{
    ApplyBatch, Checkpoint, LocalChange, LocalRecord, SourceOfTruth, StateWritten, StoreError,
    StoreErrorKind, StoreResult,
};

use crate::api::{Api, DEFAULT_TIMEOUT};
use crate::auth::{Credentials, MetadataServerAuth, StaticTokenAuth, redact};
use crate::codec::FeedPosition;
use crate::config::{BigQueryConfig, EntityTable};
use crate::schema::{SchemaReport, compare, expected_tables, to_table};
use crate::{feed, load};

/// Builds a [`BigQuerySink`]: configuration, credentials, and (for emulators and tests) the REST
/// base URL.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sink_bigquery::{BigQueryConfig, BigQuerySink, BqType, ColumnSpec, Credentials, EntityTable};
///
/// let config: BigQueryConfig = serde_json::from_value(serde_json::json!({
///     "project_id": "test-project",
///     "dataset": "crm",
///     "entities": [{
///         "entity": "businesses", "table": "businesses",
///         "key_column": "business_id", "updated_at_column": "updated_at",
///         "columns": [{ "name": "business_name", "type": "STRING" }]
///     }]
/// })).unwrap();
/// let sink = BigQuerySink::builder(config)
///     .credentials(Credentials::Anonymous)
///     .base_url("http://127.0.0.1:9050/bigquery/v2")
///     .build()
///     .await
///     .unwrap();
/// assert_eq!(sink.bytes_processed(), 0);
/// # });
/// ```
#[derive(Debug)]
pub struct BigQuerySinkBuilder {
    config: BigQueryConfig,
    credentials: Credentials,
    base_url: Option<String>,
    metadata_host: Option<String>,
    timeout: Duration,
}

impl BigQuerySinkBuilder {
    /// A builder with application default credentials and the real BigQuery endpoint.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use sink_bigquery::{BigQuerySinkBuilder, Credentials};
    ///
    /// let builder = BigQuerySinkBuilder::new(config);
    /// assert!(format!("{builder:?}").contains("ApplicationDefault"));
    /// // On a machine without Google Cloud credentials, pick others (here: an emulator's).
    /// let sink = builder.credentials(Credentials::Anonymous).build().await?;
    /// assert_eq!(sink.config().project_id, "my-project");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(config: BigQueryConfig) -> Self {
        BigQuerySinkBuilder {
            config,
            credentials: Credentials::ApplicationDefault,
            base_url: None,
            metadata_host: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Where access tokens come from (default: application default credentials).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// use secrecy::SecretString;
    /// use sink_bigquery::{BigQuerySink, Credentials};
    ///
    /// // Every request carries the token.
    /// let target = server
    ///     .mock("GET", format!("{tables}/businesses").as_str())
    ///     .match_header("authorization", "Bearer ya29.fake-token")
    ///     .with_status(404)
    ///     .with_body(not_found)
    ///     .create_async()
    ///     .await;
    /// # server.mock("GET", format!("{tables}/businesses__twenty_sync_staging").as_str()).with_status(404).with_body(not_found).create_async().await;
    /// let sink = BigQuerySink::builder(config)
    ///     .credentials(Credentials::StaticToken(SecretString::from("ya29.fake-token")))
    ///     .base_url(format!("{}/bigquery/v2", server.url()))
    ///     .build()
    ///     .await?;
    /// sink.verify().await?;
    /// target.assert_async().await;
    /// assert!(!format!("{sink:?}").contains("fake-token"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The REST base URL, up to and including `/bigquery/v2`
    /// (default `https://bigquery.googleapis.com/bigquery/v2`). For emulators and tests.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// use sink_bigquery::{BigQuerySink, Credentials};
    ///
    /// let target = server
    ///     .mock("GET", "/bigquery/v2/projects/my-project/datasets/crm/tables/businesses")
    ///     .with_status(404)
    ///     .with_body(not_found)
    ///     .create_async()
    ///     .await;
    /// # server.mock("GET", format!("{tables}/businesses__twenty_sync_staging").as_str()).with_status(404).with_body(not_found).create_async().await;
    /// let sink = BigQuerySink::builder(config)
    ///     .credentials(Credentials::Anonymous)
    ///     .base_url(format!("{}/bigquery/v2/", server.url())) // a trailing slash is dropped
    ///     .build()
    ///     .await?;
    /// let reports = sink.verify().await?;
    /// assert!(!reports[0].exists);
    /// target.assert_async().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// The metadata server for [`Credentials::MetadataServer`] (default: `GCE_METADATA_HOST`,
    /// else `metadata.google.internal`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// use sink_bigquery::{BigQuerySink, Credentials};
    ///
    /// let token = server
    ///     .mock("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
    ///     .match_header("metadata-flavor", "Google")
    ///     .with_body(r#"{"access_token":"ya29.fake-metadata-token","expires_in":3599,"token_type":"Bearer"}"#)
    ///     .create_async()
    ///     .await;
    /// server
    ///     .mock("GET", mockito::Matcher::Regex(format!("^{tables}/")))
    ///     .match_header("authorization", "Bearer ya29.fake-metadata-token")
    ///     .with_status(404)
    ///     .with_body(not_found)
    ///     .create_async()
    ///     .await;
    /// let sink = BigQuerySink::builder(config)
    ///     .credentials(Credentials::MetadataServer)
    ///     .metadata_host(server.url())
    ///     .base_url(format!("{}/bigquery/v2", server.url()))
    ///     .build()
    ///     .await?;
    /// assert_eq!(sink.verify().await?.len(), 2);
    /// token.assert_async().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn metadata_host(mut self, host: impl Into<String>) -> Self {
        self.metadata_host = Some(host.into());
        self
    }

    /// The timeout of each HTTP request (default 60 s).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use std::time::{Duration, Instant};
    /// use sink_bigquery::{BigQuerySink, Credentials};
    ///
    /// // A server that accepts connections and never answers.
    /// let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let sink = BigQuerySink::builder(config)
    ///     .credentials(Credentials::Anonymous)
    ///     .base_url(format!("http://{}/bigquery/v2", silent.local_addr()?))
    ///     .timeout(Duration::from_millis(200))
    ///     .build()
    ///     .await?;
    /// let started = Instant::now();
    /// assert!(sink.verify().await.is_err());
    /// assert!(started.elapsed() < Duration::from_secs(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the configuration and prepares the client (no request is sent yet, except that
    /// application default credentials are located).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use sink_bigquery::{BigQuerySink, Credentials};
    /// use twenty_sync_core::StoreErrorKind;
    ///
    /// let mut invalid = config.clone();
    /// invalid.dataset = "crm-eu".into(); // dataset names take letters, digits and `_` only
    /// let err = BigQuerySink::builder(invalid).credentials(Credentials::Anonymous).build().await.unwrap_err();
    /// assert_eq!(err.kind(), StoreErrorKind::Config);
    /// let sink = BigQuerySink::builder(config).credentials(Credentials::Anonymous).build().await?;
    /// assert_eq!(sink.bytes_processed(), 0, "nothing sent yet");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn build(self) -> StoreResult<BigQuerySink> {
        self.config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Config, format!("HTTP client: {e}")))?;
        let mut builder = ClientBuilder::new();
        builder.with_client(http.clone());
        if let Some(url) = &self.base_url {
            builder.with_v2_base_url(url.clone());
        }
        let described = self.credentials.describe();
        let auth_error = |message: String| {
            StoreError::new(StoreErrorKind::Config, message)
                .with_context("credentials", described.clone())
        };
        let mut metadata = None;
        let client = match &self.credentials {
            Credentials::ServiceAccountKeyFile(path) => {
                let path_str = path.to_str().ok_or_else(|| {
                    auth_error("the key file path is not valid UTF-8".to_owned())
                })?;
                builder
                    .build_from_service_account_key_file(path_str)
                    .await
                    .map_err(|e| {
                        auth_error(format!(
                            "could not read the service-account key file: {e}; check the path \
                             and that it is a key JSON"
                        ))
                    })?
            }
            Credentials::ServiceAccountKey(secret) => {
                let text = secret.expose_secret();
                // The parse error may quote parts of the input: never show it.
                let key = yup_oauth2::parse_service_account_key(text.as_bytes()).map_err(|_| {
                    auth_error(
                        "the service-account key is not valid key JSON (fields type, \
                         project_id, private_key, client_email, token_uri expected)"
                            .to_owned(),
                    )
                })?;
                builder
                    .build_from_service_account_key(key, false)
                    .await
                    .map_err(|e| {
                        auth_error(format!(
                            "the service-account key was refused: {}",
                            redact(&e.to_string(), text)
                        ))
                    })?
            }
            Credentials::ApplicationDefault => builder
                .build_from_application_default_credentials()
                .await
                .map_err(|e| {
                    auth_error(format!(
                        "application default credentials are not available: {e}; set \
                         GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"
                    ))
                })?,
            Credentials::MetadataServer => {
                let host = self
                    .metadata_host
                    .clone()
                    .or_else(|| std::env::var("GCE_METADATA_HOST").ok())
                    .unwrap_or_else(|| "metadata.google.internal".to_owned());
                let auth = MetadataServerAuth::new(http.clone(), &host);
                metadata = Some(auth.clone());
                builder
                    .build_from_authenticator(Arc::new(auth))
                    .await
                    .map_err(|e| auth_error(format!("metadata-server client: {e}")))?
            }
            Credentials::StaticToken(token) => builder
                .build_from_authenticator(Arc::new(StaticTokenAuth::new(Some(token.clone()))))
                .await
                .map_err(|e| auth_error(format!("client: {e}")))?,
            Credentials::Anonymous => builder
                .build_from_authenticator(Arc::new(StaticTokenAuth::new(None)))
                .await
                .map_err(|e| auth_error(format!("client: {e}")))?,
        };
        let api = Api::new(
            client,
            self.config.project_id.clone(),
            self.config.location.clone(),
            metadata,
            described.clone(),
        );
        Ok(BigQuerySink {
            api: Arc::new(api),
            config: Arc::new(self.config),
            credentials: described,
            base_url: self.base_url,
        })
    }
}

/// What [`BigQuerySink::setup`] did.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
/// #     "project_id": "my-project", "dataset": "crm",
/// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
/// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
/// # }))?;
/// # let mut server = mockito::Server::new_async().await;
/// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
/// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
/// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
/// #     .credentials(sink_bigquery::Credentials::Anonymous)
/// #     .base_url(format!("{}/bigquery/v2", server.url()))
/// #     .build()
/// #     .await?;
/// server.mock("POST", "/bigquery/v2/projects/my-project/datasets")
///     .with_body(r#"{"datasetReference":{"projectId":"my-project","datasetId":"crm"}}"#)
///     .create_async().await;
/// server.mock("GET", mockito::Matcher::Regex(format!("^{tables}/"))).with_status(404).with_body(not_found)
///     .create_async().await;
/// server.mock("POST", tables)
///     .with_body(r#"{"tableReference":{"projectId":"my-project","datasetId":"crm","tableId":"t"},"schema":{"fields":[]}}"#)
///     .create_async().await;
/// let report = sink.setup().await?;
/// assert!(report.dataset_created);
/// assert_eq!(report.tables_created, ["businesses", "businesses__twenty_sync_staging"]);
/// assert!(report.verified.is_empty(), "no table existed before");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupReport {
    /// Whether the dataset was created (`false`: it existed).
    pub dataset_created: bool,
    /// Tables created, by name.
    pub tables_created: Vec<String>,
    /// The verification of every table that already existed.
    pub verified: Vec<SchemaReport>,
}

/// The BigQuery [`SourceOfTruth`]: one table per entity, changes read by updated-at, pulled
/// batches staged and merged.
///
/// It does not store sync state: [`apply`](SourceOfTruth::apply) returns
/// [`StateWritten::NotWritten`], so the engine commits the batch's state to its own
/// [`StateStore`](twenty_sync_core::StateStore) right after the `MERGE` succeeded (a crash in
/// between replays an idempotent batch).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
/// #     "project_id": "my-project", "dataset": "crm",
/// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
/// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
/// # }))?;
/// # let mut server = mockito::Server::new_async().await;
/// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
/// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
/// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
/// #     .credentials(sink_bigquery::Credentials::Anonymous)
/// #     .base_url(format!("{}/bigquery/v2", server.url()))
/// #     .build()
/// #     .await?;
/// use futures::TryStreamExt;
/// use twenty_sync_core::{LocalChangeKind, SourceOfTruth};
///
/// server.mock("POST", "/bigquery/v2/projects/my-project/queries")
///     .with_body(serde_json::json!({
///         "jobReference": {"projectId": "my-project", "jobId": "job-1"},
///         "jobComplete": true,
///         "totalBytesProcessed": "2048",
///         "schema": {"fields": [
///             {"name": "_twenty_sync_key", "type": "STRING"},
///             {"name": "_twenty_sync_updated_at", "type": "TIMESTAMP"},
///             {"name": "_twenty_sync_deleted", "type": "INTEGER"},
///             {"name": "business_name", "type": "STRING"}
///         ]},
///         "rows": [{"f": [{"v": "b-1"}, {"v": "1767225600000000"}, {"v": "0"}, {"v": "Acme"}]}],
///         "totalRows": "1"
///     }).to_string())
///     .create_async()
///     .await;
/// // Local changes for push: rows changed after the checkpoint (here: from the start).
/// let changes: Vec<_> = sink.changes_since("businesses", None).await?.try_collect().await?;
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].key, "b-1");
/// let LocalChangeKind::Upsert { data } = &changes[0].kind else { panic!("an upsert") };
/// assert_eq!(data["business_name"], "Acme");
/// assert_eq!(sink.bytes_processed(), 2048);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct BigQuerySink {
    api: Arc<Api>,
    config: Arc<BigQueryConfig>,
    credentials: String,
    base_url: Option<String>,
}

impl fmt::Debug for BigQuerySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigQuerySink")
            .field("project_id", &self.config.project_id)
            .field("dataset", &self.config.dataset)
            .field("entities", &self.config.entities.len())
            .field("credentials", &self.credentials)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl BigQuerySink {
    /// A builder for `config`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use sink_bigquery::{BigQuerySink, Credentials};
    ///
    /// let sink = BigQuerySink::builder(config)
    ///     .credentials(Credentials::Anonymous)
    ///     .base_url("http://127.0.0.1:9050/bigquery/v2") // an emulator
    ///     .build()
    ///     .await?;
    /// assert!(format!("{sink:?}").contains("127.0.0.1:9050"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn builder(config: BigQueryConfig) -> BigQuerySinkBuilder {
        BigQuerySinkBuilder::new(config)
    }

    /// The configuration in use.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let server = mockito::Server::new_async().await;
    /// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
    /// #     .credentials(sink_bigquery::Credentials::Anonymous)
    /// #     .base_url(format!("{}/bigquery/v2", server.url()))
    /// #     .build()
    /// #     .await?;
    /// assert_eq!(sink.config().dataset, "crm");
    /// let businesses = sink.config().entity("businesses").unwrap();
    /// assert_eq!(sink.config().staging_table(businesses), "businesses__twenty_sync_staging");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn config(&self) -> &BigQueryConfig {
        &self.config
    }

    /// Bytes processed by every query this sink ran so far (`totalBytesProcessed`), for cost
    /// reporting; add it to the run report's summary.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
    /// #     .credentials(sink_bigquery::Credentials::Anonymous)
    /// #     .base_url(format!("{}/bigquery/v2", server.url()))
    /// #     .build()
    /// #     .await?;
    /// use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit, StateWritten};
    ///
    /// server.mock("POST", format!("{tables}/businesses__twenty_sync_staging/insertAll").as_str())
    ///     .with_body(r#"{"kind":"bigquery#tableDataInsertAllResponse"}"#)
    ///     .create_async().await;
    /// server.mock("POST", "/bigquery/v2/projects/my-project/queries")
    ///     .with_body(r#"{"jobReference":{"projectId":"my-project","jobId":"merge-1"},"jobComplete":true,"totalBytesProcessed":"1024","numDmlAffectedRows":"1"}"#)
    ///     .create_async().await;
    /// let change = InboundChange {
    ///     key: "b-1".into(),
    ///     twenty_id: "tw-1".into(),
    ///     kind: InboundChangeKind::Upsert { data: serde_json::json!({"business_name": "Acme"}) },
    ///     twenty_updated_at: None,
    /// };
    /// let batch = ApplyBatch { entity: "businesses".into(), changes: vec![change], state: StateCommit::new("businesses") };
    /// assert_eq!(sink.bytes_processed(), 0);
    /// // The batch is staged, then merged by one query.
    /// assert_eq!(sink.apply(&batch).await?, StateWritten::NotWritten);
    /// assert_eq!(sink.bytes_processed(), 1024);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn bytes_processed(&self) -> u64 {
        self.api.bytes_processed()
    }

    fn entity(&self, entity: &str) -> StoreResult<&EntityTable> {
        self.config.entity(entity).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::NotFound,
                format!(
                    "entity {entity:?} is not configured for BigQuery dataset {}; add it to the \
                     sink's entities",
                    self.config.dataset
                ),
            )
        })
    }

    /// Creates the dataset and every missing table (target, staging, deletes) from the mapping,
    /// and verifies the tables that already exist. Fails with [`StoreErrorKind::Config`] when an
    /// existing table has a blocking difference; the message lists every difference.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
    /// #     .credentials(sink_bigquery::Credentials::Anonymous)
    /// #     .base_url(format!("{}/bigquery/v2", server.url()))
    /// #     .build()
    /// #     .await?;
    /// // The dataset exists (409); the target table exists with another type; staging is missing.
    /// server.mock("POST", "/bigquery/v2/projects/my-project/datasets").with_status(409)
    ///     .with_body(r#"{"error":{"code":409,"message":"Already Exists","errors":[],"status":"ALREADY_EXISTS"}}"#)
    ///     .create_async().await;
    /// server.mock("GET", format!("{tables}/businesses").as_str()).with_body(serde_json::json!({
    ///     "tableReference": {"projectId": "my-project", "datasetId": "crm", "tableId": "businesses"},
    ///     "schema": {"fields": [
    ///         {"name": "business_id", "type": "STRING", "mode": "REQUIRED"},
    ///         {"name": "updated_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    ///         {"name": "business_name", "type": "INTEGER", "mode": "NULLABLE"},
    ///         {"name": "deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE"}
    ///     ]},
    ///     "timePartitioning": {"type": "DAY", "field": "updated_at"},
    ///     "clustering": {"fields": ["business_id"]}
    /// }).to_string()).create_async().await;
    /// # server.mock("GET", format!("{tables}/businesses__twenty_sync_staging").as_str()).with_status(404).with_body(not_found).create_async().await;
    /// # server.mock("POST", tables).with_body(r#"{"tableReference":{"projectId":"my-project","datasetId":"crm","tableId":"t"},"schema":{"fields":[]}}"#).create_async().await;
    /// let err = sink.setup().await.unwrap_err();
    /// assert_eq!(err.kind(), twenty_sync_core::StoreErrorKind::Config);
    /// assert!(err.to_string().contains("column `business_name` is INT64, expected STRING"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn setup(&self) -> StoreResult<SetupReport> {
        let dataset_created = self.api.create_dataset(&self.config.dataset).await?;
        let mut report = SetupReport {
            dataset_created,
            tables_created: Vec::new(),
            verified: Vec::new(),
        };
        for e in &self.config.entities {
            for expected in expected_tables(&self.config, e) {
                match self
                    .api
                    .get_table(&self.config.dataset, &expected.name)
                    .await?
                {
                    Some(actual) => report.verified.push(compare(&e.entity, &expected, &actual)),
                    None => {
                        let table =
                            to_table(&self.config.project_id, &self.config.dataset, &expected);
                        self.api.create_table(table).await?;
                        report.tables_created.push(expected.name.clone());
                    }
                }
            }
        }
        let blocking: Vec<String> = report
            .verified
            .iter()
            .filter(|r| !r.is_usable())
            .map(ToString::to_string)
            .collect();
        if !blocking.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "existing tables do not match the mapping: {}. Alter the tables or the mapping",
                    blocking.join(" | ")
                ),
            ));
        }
        Ok(report)
    }

    /// Checks every table of the mapping without changing anything: one report per table,
    /// missing tables included.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// # let mut server = mockito::Server::new_async().await;
    /// # let not_found = r#"{"error":{"code":404,"message":"Not found","errors":[],"status":"NOT_FOUND"}}"#;
    /// # let tables = "/bigquery/v2/projects/my-project/datasets/crm/tables";
    /// # let sink = sink_bigquery::BigQuerySink::builder(config.clone())
    /// #     .credentials(sink_bigquery::Credentials::Anonymous)
    /// #     .base_url(format!("{}/bigquery/v2", server.url()))
    /// #     .build()
    /// #     .await?;
    /// use sink_bigquery::{SchemaDifference, TableRole};
    ///
    /// server.mock("GET", format!("{tables}/businesses").as_str()).with_body(serde_json::json!({
    ///     "tableReference": {"projectId": "my-project", "datasetId": "crm", "tableId": "businesses"},
    ///     "schema": {"fields": [
    ///         {"name": "business_id", "type": "STRING", "mode": "REQUIRED"},
    ///         {"name": "updated_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    ///         {"name": "business_name", "type": "STRING", "mode": "NULLABLE"},
    ///         {"name": "deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE"}
    ///     ]},
    ///     "timePartitioning": {"type": "DAY", "field": "updated_at"}
    /// }).to_string()).create_async().await;
    /// server.mock("GET", format!("{tables}/businesses__twenty_sync_staging").as_str())
    ///     .with_status(404).with_body(not_found).create_async().await;
    /// let reports = sink.verify().await?;
    /// assert_eq!((reports[0].role, reports[0].exists), (TableRole::Target, true));
    /// assert!(matches!(reports[0].differences[..], [SchemaDifference::Clustering { .. }]));
    /// assert!(reports[0].is_usable(), "clustering only costs more");
    /// assert_eq!((reports[1].role, reports[1].exists), (TableRole::Staging, false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify(&self) -> StoreResult<Vec<SchemaReport>> {
        let mut out = Vec::new();
        for e in &self.config.entities {
            for expected in expected_tables(&self.config, e) {
                out.push(
                    match self
                        .api
                        .get_table(&self.config.dataset, &expected.name)
                        .await?
                    {
                        Some(actual) => compare(&e.entity, &expected, &actual),
                        None => SchemaReport {
                            entity: e.entity.clone(),
                            table: expected.name.clone(),
                            role: expected.role,
                            exists: false,
                            differences: Vec::new(),
                        },
                    },
                );
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl SourceOfTruth for BigQuerySink {
    fn describe(&self) -> String {
        format!(
            "bigquery dataset {}.{} ({} entities)",
            self.config.project_id,
            self.config.dataset,
            self.config.entities.len()
        )
    }

    /// Every commit is a streaming insert and a `MERGE` query job, whose fixed latency (and
    /// minimum bytes billed) dwarfs its size: a pull keeps to full batches.
    fn commits_early(&self) -> bool {
        false
    }

    async fn changes_since(
        &self,
        entity: &str,
        checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        let e = self.entity(entity)?.clone();
        let position = checkpoint
            .map(|cp| FeedPosition::decode(cp, entity))
            .transpose()?;
        Ok(feed::changes(
            self.api.clone(),
            self.config.clone(),
            e,
            position,
        ))
    }

    async fn apply(&self, batch: &ApplyBatch) -> StoreResult<StateWritten> {
        let e = self.entity(&batch.entity)?;
        load::apply(&self.api, &self.config, e, batch).await?;
        Ok(StateWritten::NotWritten)
    }

    async fn get(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        let e = self.entity(entity)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        feed::get(&self.api, &self.config, e, keys).await
    }

    /// `bigquery_bytes_processed`: the bytes every query of this sink has processed so far; the
    /// engine reports each run's share in the run report.
    fn metrics(&self) -> std::collections::BTreeMap<String, u64> {
        std::collections::BTreeMap::from([(
            "bigquery_bytes_processed".to_owned(),
            self.bytes_processed(),
        )])
    }
}
