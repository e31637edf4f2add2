//! The sections of the configuration file, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[twenty]`: the Twenty workspace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwentySection {
    /// Server root URL, e.g. `https://crm.example.com/` (https unless loopback). Env:
    /// `TWENTY_API_URL`.
    #[serde(default)]
    pub url: Option<String>,
    /// Name of the secret holding the API key (default `TWENTY_API_KEY`).
    #[serde(default = "default_api_key_secret")]
    pub api_key_secret: String,
    /// Hosts the client may contact; empty: the URL's host only is used, no list enforced.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Records per list page, 1..=200 (default 200).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Records per batch write, 1..=200 (default 60, the safe maximum of older servers).
    #[serde(default = "default_write_batch")]
    pub batch_size: usize,
    /// Whole-request timeout in seconds (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Retries of a temporary failure (429, 5xx, network), with exponential backoff from
    /// 500 ms to 60 s (default 5; 0 disables).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Of those, how many may follow a 500 (default 2): a passing 500 is gone after one or
    /// two, one caused by a bug on the server repeats.
    #[serde(default = "default_internal_error_retries")]
    pub max_internal_error_retries: u32,
    /// Client-side request budget.
    #[serde(default)]
    pub rate_limit: RateLimitSection,
}

impl Default for TwentySection {
    fn default() -> Self {
        TwentySection {
            url: None,
            api_key_secret: default_api_key_secret(),
            allowed_hosts: Vec::new(),
            page_size: default_page_size(),
            batch_size: default_write_batch(),
            timeout_secs: default_timeout(),
            max_retries: default_retries(),
            max_internal_error_retries: default_internal_error_retries(),
            rate_limit: RateLimitSection::default(),
        }
    }
}

/// `[twenty.rate_limit]`: the client's own pacing (Twenty's default budget is 100 per 60 s).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Pace requests up front (default true). When false the client still learns the budget
    /// from the server's 429 answers.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests per window (default 100).
    #[serde(default = "default_requests")]
    pub requests: u32,
    /// Window in seconds (default 60).
    #[serde(default = "default_window")]
    pub window_secs: u64,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        RateLimitSection {
            enabled: true,
            requests: default_requests(),
            window_secs: default_window(),
        }
    }
}

/// A secret provider kind, in `secrets.providers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderKind {
    /// Environment variables named like the secret.
    Env,
    /// Files in `secrets.dir`, one per secret name (Docker/Kubernetes secrets).
    File,
    /// Google Cloud Secret Manager in `secrets.gcp_project` (cargo feature `gcp-secret-manager`).
    Gcp,
}

/// `[secrets]`: which providers resolve secret names, in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// Providers asked in order; the first that knows a name answers (default `["env"]`).
    #[serde(default = "default_providers")]
    pub providers: Vec<ProviderKind>,
    /// Directory of the `file` provider. Env: `TWENTY_SYNC_SECRETS_DIR`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Google Cloud project of the `gcp` provider.
    #[serde(default)]
    pub gcp_project: Option<String>,
    /// Service-account key file of the `gcp` provider; without it the metadata server
    /// (GCE, GKE, Cloud Run) gives the tokens.
    #[serde(default)]
    pub gcp_key_file: Option<PathBuf>,
    /// More names tried for a secret, in order, after its own name:
    /// `TWENTY_API_KEY = ["twenty-api-key", "twenty_crm_api_key"]`.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
}

impl Default for SecretsSection {
    fn default() -> Self {
        SecretsSection {
            providers: default_providers(),
            dir: None,
            gcp_project: None,
            gcp_key_file: None,
            aliases: BTreeMap::new(),
        }
    }
}

/// Which sink holds the local records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkKind {
    /// A local directory of JSON Lines files (records and state). The default.
    File,
    /// PostgreSQL (records and state in one database; feature `postgres`).
    Postgres,
    /// BigQuery (records; state in the file store at `sink.file.dir`; feature `bigquery`).
    Bigquery,
}

impl SinkKind {
    /// `"file"`, `"postgres"` or `"bigquery"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::File => "file",
            SinkKind::Postgres => "postgres",
            SinkKind::Bigquery => "bigquery",
        }
    }
}

/// The `[sink.postgres]` table: sink-postgres's own configuration.
#[cfg(feature = "postgres")]
pub type PostgresSection = sink_postgres::SinkConfig;
/// The `[sink.postgres]` table (this build has no `postgres` feature; kept to report it).
#[cfg(not(feature = "postgres"))]
pub type PostgresSection = toml::Value;

/// The `[sink.bigquery]` table: sink-bigquery's own configuration.
#[cfg(feature = "bigquery")]
pub type BigQuerySection = sink_bigquery::BigQueryConfig;
/// The `[sink.bigquery]` table (this build has no `bigquery` feature; kept to report it).
#[cfg(not(feature = "bigquery"))]
pub type BigQuerySection = toml::Value;

/// `[sink]`: the local side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// `file` (default), `postgres` or `bigquery`. Env: `TWENTY_SYNC_SINK`.
    #[serde(default = "default_sink_kind")]
    pub kind: SinkKind,
    /// The file store (also the state store of the BigQuery sink).
    #[serde(default)]
    pub file: FileSection,
    /// PostgreSQL settings (the connection string is the secret `connection_secret`).
    #[serde(default)]
    pub postgres: Option<PostgresSection>,
    /// BigQuery settings.
    #[serde(default)]
    pub bigquery: Option<BigQuerySection>,
    /// How the BigQuery sink authenticates.
    #[serde(default)]
    pub bigquery_auth: BigQueryAuthSection,
}

impl Default for SinkSection {
    fn default() -> Self {
        SinkSection {
            kind: SinkKind::File,
            file: FileSection::default(),
            postgres: None,
            bigquery: None,
            bigquery_auth: BigQueryAuthSection::default(),
        }
    }
}

/// `[sink.file]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSection {
    /// Directory of the store, relative to the configuration file (default
    /// `twenty-sync-data`). Env: `TWENTY_SYNC_DATA_DIR`.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
}

impl Default for FileSection {
    fn default() -> Self {
        FileSection {
            dir: default_data_dir(),
        }
    }
}

/// How the BigQuery sink gets credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BigQueryAuthKind {
    /// Application default credentials (the default).
    #[default]
    ApplicationDefault,
    /// The GCE / Cloud Run metadata server.
    MetadataServer,
    /// A service-account key file at `key_file`.
    ServiceAccountKeyFile,
    /// A service-account key JSON held by the secret `secret`.
    ServiceAccountKeySecret,
    /// A bearer token held by the secret `secret` (emulators, short-lived tokens).
    StaticTokenSecret,
    /// No credentials (emulators only).
    Anonymous,
}

/// `[sink.bigquery_auth]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BigQueryAuthSection {
    /// How to authenticate.
    #[serde(default)]
    pub kind: BigQueryAuthKind,
    /// Key file for `service_account_key_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Secret name for `service_account_key_secret` / `static_token_secret`.
    #[serde(default)]
    pub secret: Option<String>,
    /// API base URL (an emulator); default Google's.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// What a run does (`schedule.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModeName {
    /// Twenty → local.
    Pull,
    /// Local → Twenty.
    Push,
    /// Both, with the conflict policy (the default).
    #[default]
    Sync,
}

/// `[schedule]`: the `watch` loop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Seconds between polling runs (default 300). Env: `TWENTY_SYNC_INTERVAL_SECS`.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// What each run does (default `sync`).
    #[serde(default)]
    pub mode: ModeName,
    /// Entities to run (default: every entity of the mapping).
    #[serde(default)]
    pub entities: Vec<String>,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection {
            interval_secs: default_interval(),
            mode: ModeName::Sync,
            entities: Vec::new(),
        }
    }
}

/// What a local delete does in Twenty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PushDelete {
    /// Soft delete (Twenty's trash). The default.
    #[default]
    SoftDelete,
    /// Permanent delete.
    Destroy,
    /// Not propagated.
    Ignore,
}

/// What a Twenty delete does locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PullDelete {
    /// Delete the local record. The default.
    #[default]
    Delete,
    /// Keep it marked deleted.
    Tombstone,
}

/// `[policies]`: engine behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesSection {
    /// Records per engine batch, 1..=200 (default 100). Env: `TWENTY_SYNC_BATCH_SIZE`.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Pulled writes per local commit, 1..=100000 (default 2000; see
    /// `twenty_sync_core::engine::EngineConfig::pull_commit_records`).
    #[serde(default = "default_pull_commit")]
    pub pull_commit_records: usize,
    /// Seconds each pull re-reads before its watermark (default 300).
    #[serde(default = "default_overlap")]
    pub overlap_secs: u64,
    /// `soft_delete` (default), `destroy` or `ignore`.
    #[serde(default)]
    pub push_delete: PushDelete,
    /// `delete` (default) or `tombstone`.
    #[serde(default)]
    pub pull_delete: PullDelete,
    /// Lease time-to-live in seconds (default 600).
    #[serde(default = "default_lease")]
    pub lease_ttl_secs: u64,
    /// Largest accepted webhook age in seconds (default 300).
    #[serde(default = "default_overlap")]
    pub webhook_max_age_secs: u64,
    /// Whether a push sends updates and deletes in batches (default true; see
    /// `twenty_sync_core::engine::EngineConfig::batch_writes`).
    #[serde(default = "default_true")]
    pub batch_writes: bool,
    /// Batch requests a push sends at once when it starts, 1..=8 (default 1; see
    /// `twenty_sync_core::engine::EngineConfig::push_in_flight`).
    #[serde(default = "default_push_in_flight")]
    pub push_in_flight: usize,
    /// The most a push raises them to while the rate limit is not what holds it,
    /// `push_in_flight`..=8 (default 8; equal to `push_in_flight`, the number is fixed; see
    /// `twenty_sync_core::engine::EngineConfig::push_in_flight_max`).
    #[serde(default = "default_push_in_flight_max")]
    pub push_in_flight_max: usize,
}

impl Default for PoliciesSection {
    fn default() -> Self {
        PoliciesSection {
            batch_size: default_batch(),
            pull_commit_records: default_pull_commit(),
            overlap_secs: default_overlap(),
            push_delete: PushDelete::default(),
            pull_delete: PullDelete::default(),
            lease_ttl_secs: default_lease(),
            webhook_max_age_secs: default_overlap(),
            batch_writes: true,
            push_in_flight: default_push_in_flight(),
            push_in_flight_max: default_push_in_flight_max(),
        }
    }
}

/// `[webhook]`: deliveries from Twenty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Name of the secret holding the webhook signing secret (default `TWENTY_WEBHOOK_SECRET`).
    #[serde(default = "default_webhook_secret")]
    pub secret: String,
    /// Address `watch` listens on when given (e.g. `127.0.0.1:8080`). Env: `TWENTY_SYNC_LISTEN`.
    #[serde(default)]
    pub listen: Option<String>,
}

impl Default for WebhookSection {
    fn default() -> Self {
        WebhookSection {
            secret: default_webhook_secret(),
            listen: None,
        }
    }
}

/// `[admin]`: the admin server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Name of the secret holding the admin bearer token (default `TWENTY_SYNC_ADMIN_TOKEN`).
    #[serde(default = "default_admin_secret")]
    pub token_secret: String,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            token_secret: default_admin_secret(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_api_key_secret() -> String {
    "TWENTY_API_KEY".into()
}
fn default_webhook_secret() -> String {
    "TWENTY_WEBHOOK_SECRET".into()
}
fn default_admin_secret() -> String {
    "TWENTY_SYNC_ADMIN_TOKEN".into()
}
fn default_page_size() -> u32 {
    200
}
fn default_write_batch() -> usize {
    60
}
fn default_timeout() -> u64 {
    30
}
fn default_retries() -> u32 {
    5
}
fn default_internal_error_retries() -> u32 {
    twenty_client::RetryPolicy::default().max_internal_error_retries
}
fn default_requests() -> u32 {
    100
}
fn default_window() -> u64 {
    60
}
fn default_providers() -> Vec<ProviderKind> {
    vec![ProviderKind::Env]
}
fn default_sink_kind() -> SinkKind {
    SinkKind::File
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("twenty-sync-data")
}
fn default_interval() -> u64 {
    300
}
fn default_batch() -> usize {
    100
}
fn default_pull_commit() -> usize {
    2000
}
fn default_true() -> bool {
    true
}
fn default_push_in_flight() -> usize {
    1
}
fn default_push_in_flight_max() -> usize {
    twenty_sync_core::engine::MAX_PUSH_IN_FLIGHT
}
fn default_overlap() -> u64 {
    300
}
fn default_lease() -> u64 {
    600
}
