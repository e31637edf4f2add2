//! Turning a [`Config`] into the running parts: secret provider, Twenty client, compiled mapping,
//! source of truth and state store, and the sync engine.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use twenty_client::metadata::FieldSpec;
use twenty_client::{Client, RateLimit, RetryPolicy};
use twenty_mapping::{
    CompileError, CompiledMapping, MappingFile, TransformRegistry, TwentySchema, compile,
};
use twenty_sync_core::engine::{EngineConfig, ProgressSink, PullDeleteMode, PushDeleteMode};
use twenty_sync_core::file::FileStore;
use twenty_sync_core::secret::{EnvSecrets, FileSecrets, SecretChain};
use twenty_sync_core::{
    PlanMapper, RunMode, SecretProvider, SourceOfTruth, StateStore, SyncEngine,
};

use crate::config::{
    Config, ConfigError, ModeName, ProviderKind, PullDelete, PushDelete, SinkKind,
};

/// The engine type of the CLI: any source and state store behind `Arc<dyn ...>`.
pub type Engine = SyncEngine<Arc<dyn SourceOfTruth>, Arc<dyn StateStore>>;

/// Why the CLI could not do what was asked, classified for the exit code.
#[derive(Debug)]
pub enum CliError {
    /// The configuration is wrong (exit code 2).
    Config(ConfigError),
    /// Anything else that stops a command (exit code 1): what failed and why, never a secret.
    Failed(String),
}

impl CliError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed(message.into())
    }

    /// A short kind for JSON errors: `config` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Config(_) => "config",
            CliError::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(e) => write!(f, "configuration error: {e}"),
            CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(e)
    }
}

/// The secret provider described by `[secrets]`: the environment first (so `TWENTY_API_KEY`
/// and friends always override; a name like `twenty-api-key` is also looked up as
/// `TWENTY_API_KEY`), then the configured providers in order, with the aliases.
pub async fn secret_provider(cfg: &Config) -> Result<Arc<dyn SecretProvider>, CliError> {
    let mut chain = SecretChain::new().with(EnvSecrets::new().upper_snake());
    for p in &cfg.secrets.providers {
        match p {
            ProviderKind::Env => {}
            ProviderKind::File => {
                let dir = cfg.secrets_dir().ok_or_else(|| {
                    cfg.error("secrets.dir", "the `file` provider needs a directory")
                })?;
                chain = chain.with(FileSecrets::dir(dir));
            }
            ProviderKind::Gcp => {
                chain = chain.with_arc(gcp_provider(cfg)?);
            }
        }
    }
    for (name, aliases) in &cfg.secrets.aliases {
        chain = chain.alias(name.clone(), aliases.iter().cloned());
    }
    Ok(Arc::new(chain))
}

#[cfg(feature = "gcp-secret-manager")]
fn gcp_provider(cfg: &Config) -> Result<Arc<dyn SecretProvider>, CliError> {
    use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager, ServiceAccountKey};
    let project = cfg.secrets.gcp_project.clone().ok_or_else(|| {
        cfg.error(
            "secrets.gcp_project",
            "the `gcp` provider needs the project id",
        )
    })?;
    let creds = match &cfg.secrets.gcp_key_file {
        Some(path) => {
            let path = cfg.resolve_path("secrets.gcp_key_file", path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                cfg.error(
                    "secrets.gcp_key_file",
                    format!(
                        "cannot read the service-account key file {}: {e}",
                        path.display()
                    ),
                )
            })?;
            let key = ServiceAccountKey::from_json(&SecretString::from(text))
                .map_err(|e| cfg.error("secrets.gcp_key_file", e.to_string()))?;
            GcpCredentials::ServiceAccountKey(key)
        }
        None => GcpCredentials::metadata_server(),
    };
    Ok(Arc::new(GcpSecretManager::new(project, creds)))
}

#[cfg(not(feature = "gcp-secret-manager"))]
fn gcp_provider(cfg: &Config) -> Result<Arc<dyn SecretProvider>, CliError> {
    Err(cfg
        .error(
            "secrets.providers",
            "this build has no Google Cloud Secret Manager provider; rebuild with the cargo feature `gcp-secret-manager`",
        )
        .into())
}

/// Resolves a required secret, naming it and the providers (never the value) when missing.
pub async fn require_secret(
    secrets: &dyn SecretProvider,
    name: &str,
    what: &str,
) -> Result<SecretString, CliError> {
    secrets
        .require(name)
        .await
        .map_err(|e| CliError::failed(format!("{what}: {e}")))
}

/// Builds the Twenty client from `[twenty]` with the API key from `secrets`.
pub async fn client(cfg: &Config, secrets: &dyn SecretProvider) -> Result<Client, CliError> {
    let url = cfg.twenty_url()?;
    let key = require_secret(
        secrets,
        &cfg.twenty.api_key_secret,
        "the Twenty API key (twenty.api_key_secret)",
    )
    .await?;
    let t = &cfg.twenty;
    let mut b = Client::builder(url, key)
        .page_size(t.page_size)
        .batch_size(t.batch_size)
        .timeout(Duration::from_secs(t.timeout_secs))
        .retry_policy(RetryPolicy {
            max_retries: t.max_retries,
            max_internal_error_retries: t.max_internal_error_retries,
            ..RetryPolicy::default()
        })
        .user_agent(concat!("twenty-sync-cli/", env!("CARGO_PKG_VERSION")));
    b = if t.rate_limit.enabled {
        b.rate_limit(RateLimit::new(
            t.rate_limit.requests,
            Duration::from_secs(t.rate_limit.window_secs),
        ))
    } else {
        b.no_rate_limit()
    };
    if !t.allowed_hosts.is_empty() {
        b = b.allowed_hosts(t.allowed_hosts.iter().cloned());
    }
    b.build().map_err(|e| {
        CliError::Config(cfg.error("twenty.url", format!("cannot build the Twenty client: {e}")))
    })
}

/// Reads and compiles the mapping file.
pub fn mapping(cfg: &Config) -> Result<Arc<CompiledMapping>, CliError> {
    compile_mapping(cfg, &mapping_file(cfg)?).map(Arc::new)
}

/// Reads the mapping file, for a command that compiles it more than one way (see
/// [`compile_mapping`] and [`mapping_problems`]).
pub fn mapping_file(cfg: &Config) -> Result<MappingFile, CliError> {
    let path = cfg.mapping_path()?;
    MappingFile::from_path(&path).map_err(|e| {
        CliError::Config(cfg.error("mapping", format!("the mapping file is not valid: {e}")))
    })
}

/// Compiles the mapping file on its own (without a workspace's schema).
pub fn compile_mapping(cfg: &Config, file: &MappingFile) -> Result<CompiledMapping, CliError> {
    let path = cfg.mapping_path()?;
    compile(file, &TransformRegistry::with_builtins(), None).map_err(|e| {
        CliError::Config(cfg.error(
            "mapping",
            format!("the mapping file {} does not compile: {e}", path.display()),
        ))
    })
}

/// What is wrong with the mapping file for this workspace: it compiles on its own (see
/// [`compile_mapping`]), and this compiles it again against the workspace's schema (targets the
/// workspace lacks, values of the wrong kind, select values that are not options). Declared
/// custom fields are left to [`required_fields`] and the metadata API's verification, which say
/// whether they are missing or differ; their problems are not repeated here.
pub fn mapping_problems(file: &MappingFile, schema: &TwentySchema) -> Vec<CompileError> {
    match compile(file, &TransformRegistry::with_builtins(), Some(schema)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .errors
            .into_iter()
            .filter(|e| !e.path.contains(".custom_fields."))
            .collect(),
    }
}

/// The custom fields (and select options) a mapping needs in Twenty, for `setup` / `verify`
/// (the apps' [`mapping_field_specs`](crate::apps::common::mapping_field_specs)).
pub fn required_fields(mapping: &CompiledMapping) -> Vec<FieldSpec> {
    crate::apps::common::mapping_field_specs(mapping)
}

/// The local side of the configured sink.
#[derive(Clone)]
pub struct Stores {
    /// The source of truth.
    pub source: Arc<dyn SourceOfTruth>,
    /// The state store.
    pub state: Arc<dyn StateStore>,
    /// The file store, when the records or the state live in one.
    pub file: Option<FileStore>,
    /// The BigQuery sink, for its own setup/verify.
    #[cfg(feature = "bigquery")]
    pub bigquery: Option<Arc<sink_bigquery::BigQuerySink>>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("source", &self.source.describe())
            .field("state", &self.state.describe())
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// A file store serving as both source and state.
    pub fn file(store: FileStore) -> Self {
        Stores {
            source: Arc::new(store.clone()),
            state: Arc::new(store.clone()),
            file: Some(store),
            #[cfg(feature = "bigquery")]
            bigquery: None,
        }
    }
}

fn open_file_store(cfg: &Config) -> Result<FileStore, CliError> {
    let dir = cfg.data_dir();
    FileStore::open(&dir).map_err(|e| {
        CliError::failed(format!(
            "cannot open the file store in {} (sink.file.dir): {e}",
            dir.display()
        ))
    })
}

/// Opens the configured sink.
pub async fn stores(cfg: &Config, secrets: &Arc<dyn SecretProvider>) -> Result<Stores, CliError> {
    match cfg.sink.kind {
        SinkKind::File => Ok(Stores::file(open_file_store(cfg)?)),
        SinkKind::Postgres => postgres(cfg, secrets).await,
        SinkKind::Bigquery => bigquery(cfg, secrets).await,
    }
}

#[cfg(feature = "postgres")]
async fn postgres(cfg: &Config, secrets: &Arc<dyn SecretProvider>) -> Result<Stores, CliError> {
    let pg = cfg
        .sink
        .postgres
        .clone()
        .ok_or_else(|| cfg.error("sink.postgres", "missing [sink.postgres] table"))?;
    let sink = sink_postgres::PostgresSink::builder(pg)
        .secret_provider(Arc::clone(secrets))
        .build()
        .await
        .map_err(|e| CliError::failed(format!("cannot open the PostgreSQL sink: {e}")))?;
    Ok(Stores {
        source: Arc::new(sink.clone()),
        state: Arc::new(sink),
        file: None,
        #[cfg(feature = "bigquery")]
        bigquery: None,
    })
}

#[cfg(not(feature = "postgres"))]
async fn postgres(cfg: &Config, _: &Arc<dyn SecretProvider>) -> Result<Stores, CliError> {
    Err(cfg
        .error(
            "sink.kind",
            "this build has no PostgreSQL sink (cargo feature `postgres`)",
        )
        .into())
}

#[cfg(feature = "bigquery")]
async fn bigquery(cfg: &Config, secrets: &Arc<dyn SecretProvider>) -> Result<Stores, CliError> {
    use crate::config::BigQueryAuthKind as K;
    use sink_bigquery::{BigQuerySink, Credentials};
    let bq = cfg
        .sink
        .bigquery
        .clone()
        .ok_or_else(|| cfg.error("sink.bigquery", "missing [sink.bigquery] table"))?;
    let auth = &cfg.sink.bigquery_auth;
    let secret_name = || {
        auth.secret.clone().ok_or_else(|| {
            CliError::Config(cfg.error("sink.bigquery_auth.secret", "expected a secret name"))
        })
    };
    let creds = match auth.kind {
        K::ApplicationDefault => Credentials::ApplicationDefault,
        K::MetadataServer => Credentials::MetadataServer,
        K::Anonymous => Credentials::Anonymous,
        K::ServiceAccountKeyFile => {
            let p = auth.key_file.as_deref().ok_or_else(|| {
                cfg.error("sink.bigquery_auth.key_file", "expected a key file path")
            })?;
            Credentials::ServiceAccountKeyFile(cfg.resolve_path("sink.bigquery_auth.key_file", p))
        }
        K::ServiceAccountKeySecret => {
            Credentials::service_account_key_from(secrets.as_ref(), &secret_name()?)
                .await
                .map_err(|e| CliError::failed(format!("BigQuery credentials: {e}")))?
        }
        K::StaticTokenSecret => Credentials::static_token_from(secrets.as_ref(), &secret_name()?)
            .await
            .map_err(|e| CliError::failed(format!("BigQuery credentials: {e}")))?,
    };
    let mut b = BigQuerySink::builder(bq).credentials(creds);
    if let Some(url) = &auth.base_url {
        b = b.base_url(url.clone());
    }
    let sink = Arc::new(
        b.build()
            .await
            .map_err(|e| CliError::failed(format!("cannot open the BigQuery sink: {e}")))?,
    );
    let state = open_file_store(cfg)?;
    Ok(Stores {
        source: Arc::new(Arc::clone(&sink)),
        state: Arc::new(state.clone()),
        file: Some(state),
        bigquery: Some(sink),
    })
}

#[cfg(not(feature = "bigquery"))]
async fn bigquery(cfg: &Config, _: &Arc<dyn SecretProvider>) -> Result<Stores, CliError> {
    Err(cfg
        .error(
            "sink.kind",
            "this build has no BigQuery sink (cargo feature `bigquery`)",
        )
        .into())
}

/// The engine configuration from `[policies]`.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    let p = &cfg.policies;
    EngineConfig {
        batch_size: p.batch_size,
        pull_commit_records: p.pull_commit_records,
        overlap: Duration::from_secs(p.overlap_secs),
        push_delete: match p.push_delete {
            PushDelete::SoftDelete => PushDeleteMode::SoftDelete,
            PushDelete::Destroy => PushDeleteMode::Destroy,
            PushDelete::Ignore => PushDeleteMode::Ignore,
        },
        pull_delete: match p.pull_delete {
            PullDelete::Delete => PullDeleteMode::Delete,
            PullDelete::Tombstone => PullDeleteMode::Tombstone,
        },
        lease_ttl: Duration::from_secs(p.lease_ttl_secs),
        webhook_max_age: Duration::from_secs(p.webhook_max_age_secs),
        batch_writes: p.batch_writes,
        push_in_flight: p.push_in_flight,
        push_in_flight_max: p.push_in_flight_max,
        // A delivery resolves a local edit not pushed yet as the scheduled runs do.
        webhook_mode: match cfg.schedule.mode {
            ModeName::Sync => RunMode::Sync,
            ModeName::Pull | ModeName::Push => RunMode::Pull,
        },
        ..EngineConfig::default()
    }
}

/// Builds the engine over `stores` with one entity per mapping entity.
pub fn engine(
    cfg: &Config,
    client: Client,
    mapping: &Arc<CompiledMapping>,
    stores: &Stores,
    secrets: Arc<dyn SecretProvider>,
    progress: Option<ProgressSink>,
) -> Result<Engine, CliError> {
    let mut b = SyncEngine::builder(
        client,
        Arc::clone(&stores.source),
        Arc::clone(&stores.state),
    )
    .config(engine_config(cfg))
    .api_key_secret(secrets, cfg.twenty.api_key_secret.clone())
    .webhook_secret_name(cfg.webhook.secret.clone());
    for m in PlanMapper::all(mapping) {
        b = b.entity(Arc::new(m));
    }
    if let Some(p) = progress {
        b = b.progress(p);
    }
    b.build()
        .map_err(|e| CliError::Config(cfg.error("mapping", e.to_string())))
}
