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
use crate::auth::{redact, Credentials, MetadataServerAuth, StaticTokenAuth};
use crate::codec::FeedPosition;
use crate::config::{BigQueryConfig, EntityTable};
use crate::schema::{compare, expected_tables, to_table, SchemaReport};
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
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The REST base URL, up to and including `/bigquery/v2`
    /// (default `https://bigquery.googleapis.com/bigquery/v2`). For emulators and tests.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// The metadata server for [`Credentials::MetadataServer`] (default: `GCE_METADATA_HOST`,
    /// else `metadata.google.internal`).
    pub fn metadata_host(mut self, host: impl Into<String>) -> Self {
        self.metadata_host = Some(host.into());
        self
    }

    /// The timeout of each HTTP request (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the configuration and prepares the client (no request is sent yet, except that
    /// application default credentials are located).
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
    pub fn builder(config: BigQueryConfig) -> BigQuerySinkBuilder {
        BigQuerySinkBuilder::new(config)
    }

    /// The configuration in use.
    pub fn config(&self) -> &BigQueryConfig {
        &self.config
    }

    /// Bytes processed by every query this sink ran so far (`totalBytesProcessed`), for cost
    /// reporting; add it to the run report's summary.
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
