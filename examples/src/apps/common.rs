//! What the four apps share: connecting to Twenty (a real workspace or the in-process simulator),
//! creating a mapping's custom fields, errors with context, and small helpers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use twenty_client::metadata::{EnsureReport, FieldOption, FieldSpec, FieldType};
use twenty_client::{Client, RateLimit};
use twenty_mapping::{CompiledMapping, MappingFile, RequiredField, TransformRegistry, compile};
use twenty_sim::{SimConfig, SimServer};

/// An error of an app: what failed (with the record, field or file at fault) and why.
///
/// The message never contains the API key or a connection string: sources are errors of the
/// library crates, which redact them.
#[derive(Debug)]
pub struct AppError {
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AppError {
    /// An error with a message and no underlying cause.
    ///
    /// ```
    /// let e = examples::apps::common::AppError::msg("the CSV has no `email` column");
    /// assert_eq!(e.to_string(), "the CSV has no `email` column");
    /// ```
    pub fn msg(context: impl Into<String>) -> Self {
        AppError {
            context: context.into(),
            source: None,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}: {s}", self.context),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Adds what the app was doing to any error.
pub trait Context<T> {
    /// Wraps the error with `what` (e.g. "reading the mapping file examples/apps/x.json").
    fn context(self, what: impl Into<String>) -> Result<T, AppError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T, AppError> {
        self.map_err(|e| AppError {
            context: what.into(),
            source: Some(Box::new(e)),
        })
    }
}

/// Result of the apps.
pub type AppResult<T> = Result<T, AppError>;

/// The API key used with the in-process simulator (`--sim`).
pub const SIM_API_KEY: &str = "twenty-sync-apps-sim-key";

/// How an app reaches Twenty: `--sim`, or `--url` plus an API key from an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct TwentyArgs {
    /// Root URL of the Twenty server (the client appends `rest/...`).
    #[arg(long = "url", env = "TWENTY_API_URL", value_name = "URL")]
    pub url: Option<url::Url>,
    /// Name of the environment variable holding the API key (the key itself is never a flag,
    /// so it does not end up in shell history or process lists).
    #[arg(long, default_value = "TWENTY_API_KEY", value_name = "VAR")]
    pub api_key_env: String,
    /// Start the Twenty simulator in-process with seeded data instead (no account needed).
    #[arg(long, conflicts_with = "url")]
    pub sim: bool,
    /// Requests per minute allowed by the workspace (Twenty's default budget is 100).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub requests_per_minute: u32,
}

/// A connected client, and the simulator when `--sim` started one (kept alive with it).
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The in-process simulator, when running with `--sim`.
    pub sim: Option<SimServer>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("client", &self.client)
            .field("sim", &self.sim.as_ref().map(|s| s.base_url().to_string()))
            .finish()
    }
}

impl TwentyArgs {
    /// Connects: starts the simulator seeded with `seed_people` people (and the companies,
    /// opportunities, tasks and notes that come with them) when `--sim` is given, otherwise builds
    /// a client for `--url` with the key from the environment.
    pub async fn connect(&self, seed_people: usize) -> AppResult<Connection> {
        if self.sim {
            let server = SimServer::start(
                SimConfig::new(SIM_API_KEY)
                    .seed_people(seed_people)
                    .rate_limit(None),
            )
            .await
            .context("starting the in-process Twenty simulator")?;
            let client = Client::builder(server.base_url(), SecretString::from(SIM_API_KEY))
                .no_rate_limit()
                .page_size(200)
                .build()
                .context("building the Twenty client")?;
            eprintln!("Twenty simulator on {}", server.base_url());
            return Ok(Connection {
                client,
                sim: Some(server),
            });
        }
        let url = self.url.clone().ok_or_else(|| {
            AppError::msg(
                "no Twenty server: pass --url https://your-workspace.twenty.com/ (or set \
                 TWENTY_API_URL), or --sim to use the in-process simulator",
            )
        })?;
        let key = std::env::var(&self.api_key_env).map_err(|_| {
            AppError::msg(format!(
                "the API key is read from the environment variable `{}`, which is not set \
                 (create a key in Twenty under Settings > APIs & Webhooks)",
                self.api_key_env
            ))
        })?;
        let client = Client::builder(url, SecretString::from(key))
            .rate_limit(RateLimit::new(
                self.requests_per_minute.max(1),
                Duration::from_secs(60),
            ))
            .page_size(200)
            .build()
            .context("building the Twenty client")?;
        Ok(Connection { client, sim: None })
    }
}

/// Reads and compiles a mapping file (TOML or JSON by extension); errors name file, line and rule.
pub fn load_mapping(path: &Path) -> AppResult<Arc<CompiledMapping>> {
    load_mapping_with(path, &TransformRegistry::with_builtins())
}

/// Like [`load_mapping`] with the app's own transforms registered in `registry`.
pub fn load_mapping_with(
    path: &Path,
    registry: &TransformRegistry,
) -> AppResult<Arc<CompiledMapping>> {
    let file = MappingFile::from_path(path)
        .context(format!("reading the mapping file {}", path.display()))?;
    let compiled = compile(&file, registry, None)
        .context(format!("compiling the mapping file {}", path.display()))?;
    Ok(Arc::new(compiled))
}

/// The client-side field specs of every custom field the mapping declares.
pub fn mapping_field_specs(mapping: &CompiledMapping) -> Vec<FieldSpec> {
    let mut specs = Vec::new();
    for plan in mapping.entities() {
        for f in plan.required_twenty_fields() {
            specs.push(field_spec(plan.twenty_object(), &f));
        }
    }
    specs
}

/// A [`FieldSpec`] for one required field of a mapping.
pub fn field_spec(object: &str, f: &RequiredField) -> FieldSpec {
    let mut spec = FieldSpec::new(object, f.name.clone(), FieldType::parse(&f.field_type))
        .label(f.label.clone())
        .options(
            f.options
                .iter()
                .map(|o| FieldOption::new(o.clone(), RequiredField::option_label(o))),
        )
        .unique(f.unique);
    if let Some(d) = &f.description {
        spec = spec.description(d.clone());
    }
    spec
}

/// Creates the missing custom fields (`dry_run`: only checks), and fails when an existing field
/// differs from its declaration (wrong type, missing options), naming each.
pub async fn ensure_fields(
    client: &Client,
    specs: &[FieldSpec],
    dry_run: bool,
) -> AppResult<EnsureReport> {
    let report = if dry_run {
        client.metadata().verify_fields(specs).await
    } else {
        client.metadata().ensure_fields(specs).await
    }
    .context("checking the custom fields in Twenty")?;
    if !report.mismatched.is_empty() {
        let list: Vec<String> = report
            .mismatched
            .iter()
            .map(|m| format!("{}.{}: {}", m.field.object, m.field.field, m.reason))
            .collect();
        return Err(AppError::msg(format!(
            "custom fields in Twenty differ from what this app needs (fix them in Settings > Data \
             model): {}",
            list.join("; ")
        )));
    }
    Ok(report)
}

/// One line per field of an [`EnsureReport`], for the console.
pub fn describe_ensure(report: &EnsureReport) -> String {
    let mut out = String::new();
    for f in &report.created {
        out.push_str(&format!("  created  {}.{}\n", f.object, f.field));
    }
    for f in &report.missing {
        out.push_str(&format!("  missing  {}.{}\n", f.object, f.field));
    }
    for f in &report.already_present {
        out.push_str(&format!("  present  {}.{}\n", f.object, f.field));
    }
    out
}

/// A name-based UUID: the same `parts` always give the same id (SHA-256, RFC 9562 version 8
/// layout). Used so that re-running an import upserts the same Twenty records instead of
/// creating new ones.
///
/// ```
/// use examples::apps::common::stable_uuid;
/// let a = stable_uuid(&["lead-import", "task", "ada@example.com", "email"]);
/// assert_eq!(a, stable_uuid(&["lead-import", "task", "ada@example.com", "email"]));
/// assert_ne!(a, stable_uuid(&["lead-import", "task", "ada@example.com", "call"]));
/// assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 8);
/// ```
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Path of a file shipped in `examples/apps/` (mapping files, sample data, configs).
pub fn shipped(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("apps")
        .join(relative)
}
