//! The `twenty-sync` configuration file (TOML), with environment and command-line overrides.
//!
//! One file names the Twenty URL, where secrets come from, the mapping file, the sink (file
//! store, PostgreSQL or BigQuery), the watch schedule and the engine's policies. Every key can be
//! overridden:
//!
//! 1. by a named environment variable ([`ENV_VARS`], e.g. `TWENTY_API_URL` → `twenty.url`);
//! 2. by a generic environment variable `TWENTY_SYNC__<SECTION>__<KEY>` (double underscores
//!    separate the levels: `TWENTY_SYNC__POLICIES__BATCH_SIZE=50` → `policies.batch_size`);
//! 3. by a flag (`--url`, `--mapping`, ... or `--set policies.batch_size=50` for any key).
//!
//! Flags win over environment variables, which win over the file. A value given as an override
//! is read as a TOML value (`50`, `true`, `["a", "b"]`) and, when it is not one, as a string.
//!
//! Secrets are never in this file: it only names them (`twenty.api_key_secret`,
//! `webhook.secret`, `admin.token_secret`, `sink.postgres.connection_secret`) and says which
//! providers resolve the names ([`SecretsSection`]).
//!
//! Errors ([`ConfigError`]) name where the bad value came from (the file, an environment
//! variable or a flag), the key, and what is expected:
//!
//! ```
//! use examples::config::{Config, Override};
//! let err = Config::from_toml_str("[sink]\nkind = \"s3\"\n", "twenty-sync.toml", &[]).unwrap_err();
//! assert_eq!(err.key(), "sink.kind");
//! assert!(err.to_string().starts_with("twenty-sync.toml: key `sink.kind`:"), "{err}");
//! assert!(err.to_string().contains("expected one of `file`, `postgres`, `bigquery`"), "{err}");
//!
//! let cfg = Config::from_toml_str(
//!     "[twenty]\nurl = \"https://crm.example.com/\"\n",
//!     "twenty-sync.toml",
//!     &[Override::flag("policies.batch_size", "50")],
//! ).unwrap();
//! assert_eq!(cfg.policies.batch_size, 50);
//! assert_eq!(cfg.twenty_url().unwrap().as_str(), "https://crm.example.com/");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod overrides;
mod sections;

pub use overrides::{CONFIG_ENV, DEFAULT_FILE, ENV_PREFIX, ENV_VARS, Origin, Override};
pub use sections::*;

/// A configuration error: where, which key, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: Origin,
    key: String,
    message: String,
}

impl ConfigError {
    /// A new error about `key` from `origin`.
    pub fn new(origin: Origin, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Where the bad value came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The dotted key at fault (empty for a syntax error of the whole file).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong and what is expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: key `{}`: {}", self.origin, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration. Every section has defaults; see `examples/twenty-sync.example.toml`
/// and `examples/CLI.md` for every key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The mapping file (TOML or JSON), relative to the configuration file.
    #[serde(default)]
    pub mapping: Option<PathBuf>,
    /// How to reach Twenty.
    #[serde(default)]
    pub twenty: TwentySection,
    /// Where secrets come from.
    #[serde(default)]
    pub secrets: SecretsSection,
    /// The local side: file store, PostgreSQL or BigQuery.
    #[serde(default)]
    pub sink: SinkSection,
    /// What `watch` runs and how often.
    #[serde(default)]
    pub schedule: ScheduleSection,
    /// Engine policies (batches, deletes, leases).
    #[serde(default)]
    pub policies: PoliciesSection,
    /// Webhook deliveries from Twenty (`watch --listen`).
    #[serde(default)]
    pub webhook: WebhookSection,
    /// The admin server.
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(skip)]
    origins: Origins,
}

#[derive(Debug, Clone, Default)]
struct Origins {
    file: Option<PathBuf>,
    overridden: BTreeMap<String, Origin>,
}

impl Config {
    /// Loads the configuration: the file at `path` (or, when `None`, `./twenty-sync.toml` if it
    /// exists, else built-in defaults), then `overrides` in order (later ones win).
    pub fn load(path: Option<&Path>, overrides: &[Override]) -> Result<Config, ConfigError> {
        let (file, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigError::new(
                        Origin::File(p.to_path_buf()),
                        "",
                        format!("cannot read the configuration file: {e}"),
                    )
                })?;
                (Some(p.to_path_buf()), text)
            }
            None => {
                let p = PathBuf::from(DEFAULT_FILE);
                match std::fs::read_to_string(&p) {
                    Ok(text) => (Some(p), text),
                    Err(_) => (None, String::new()),
                }
            }
        };
        Self::parse(file, &text, overrides)
    }

    /// Parses configuration text; `origin` names it in errors (a file name).
    pub fn from_toml_str(
        text: &str,
        origin: impl Into<PathBuf>,
        overrides: &[Override],
    ) -> Result<Config, ConfigError> {
        Self::parse(Some(origin.into()), text, overrides)
    }

    fn parse(
        file: Option<PathBuf>,
        text: &str,
        overrides: &[Override],
    ) -> Result<Config, ConfigError> {
        let file_origin = file.clone().map(Origin::File).unwrap_or(Origin::Defaults);
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigError::new(
                file_origin.clone(),
                "",
                format!("not valid TOML: {}", e.to_string().trim_end()),
            )
        })?;
        let mut overridden = BTreeMap::new();
        for o in overrides {
            set_key(&mut table, &o.key, parse_value(&o.value))
                .map_err(|m| ConfigError::new(o.origin.clone(), &o.key, m))?;
            overridden.insert(o.key.clone(), o.origin.clone());
        }
        let origin_of = |key: &str| -> Origin {
            // The longest overridden key that is `key` or one of its parents.
            overridden
                .iter()
                .filter(|(k, _)| key == k.as_str() || key.starts_with(&format!("{k}.")))
                .max_by_key(|(k, _)| k.len())
                .map(|(_, o)| o.clone())
                .unwrap_or_else(|| file_origin.clone())
        };
        let mut cfg: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = clean_path(&e.path().to_string());
                let message = explain(&e.inner().to_string());
                ConfigError::new(origin_of(&key), key, message)
            })?;
        cfg.origins = Origins { file, overridden };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration file this was read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.origins.file.as_deref()
    }

    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins
            .overridden
            .iter()
            .filter(|(k, _)| key == k.as_str() || key.starts_with(&format!("{k}.")))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| {
                self.origins
                    .file
                    .clone()
                    .map(Origin::File)
                    .unwrap_or(Origin::Defaults)
            })
    }

    /// An error about `key`, attributed to where its value came from.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.origin(key), key, message)
    }

    /// Resolves a path value of `key`: relative paths from the file are relative to the file's
    /// directory; from the environment or a flag, to the current directory.
    pub fn resolve_path(&self, key: &str, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.origin(key) {
            Origin::File(f) => f
                .parent()
                .map(|d| d.join(path))
                .unwrap_or_else(|| path.to_path_buf()),
            _ => path.to_path_buf(),
        }
    }

    /// The Twenty URL, parsed.
    pub fn twenty_url(&self) -> Result<url::Url, ConfigError> {
        let raw = self.twenty.url.as_deref().ok_or_else(|| {
            self.error(
                "twenty.url",
                "no Twenty URL; set `url` in [twenty], TWENTY_API_URL, or --url (e.g. https://crm.example.com/)",
            )
        })?;
        let url = url::Url::parse(raw).map_err(|e| {
            self.error(
                "twenty.url",
                format!("{e}; expected an absolute URL such as https://crm.example.com/"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.error(
                "twenty.url",
                format!(
                    "scheme `{}` is not supported; expected https://",
                    url.scheme()
                ),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.error(
                "twenty.url",
                "the URL must not carry credentials; the API key comes from a secret (twenty.api_key_secret)",
            ));
        }
        Ok(url)
    }

    /// The mapping file path (resolved), or an error saying how to set it.
    pub fn mapping_path(&self) -> Result<PathBuf, ConfigError> {
        let p = self.mapping.as_deref().ok_or_else(|| {
            self.error(
                "mapping",
                "no mapping file; set `mapping = \"contacts.toml\"` at the top of the file, TWENTY_SYNC_MAPPING, or --mapping",
            )
        })?;
        Ok(self.resolve_path("mapping", p))
    }

    /// The file store directory (resolved).
    pub fn data_dir(&self) -> PathBuf {
        self.resolve_path("sink.file.dir", &self.sink.file.dir)
    }

    /// The secrets directory of the `file` provider (resolved).
    pub fn secrets_dir(&self) -> Option<PathBuf> {
        self.secrets
            .dir
            .as_deref()
            .map(|d| self.resolve_path("secrets.dir", d))
    }

    /// The watch interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.schedule.interval_secs)
    }

    /// The webhook listen address, parsed.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.webhook
            .listen
            .as_deref()
            .map(|s| {
                s.parse::<SocketAddr>().map_err(|e| {
                    self.error(
                        "webhook.listen",
                        format!(
                            "`{s}` is not an address ({e}); expected IP:PORT such as 127.0.0.1:8080"
                        ),
                    )
                })
            })
            .transpose()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.twenty.url.is_some() {
            self.twenty_url()?;
        }
        if !(1..=200).contains(&self.twenty.page_size) {
            return Err(self.error(
                "twenty.page_size",
                format!(
                    "{} is out of range; expected 1..=200",
                    self.twenty.page_size
                ),
            ));
        }
        if !(1..=200).contains(&self.twenty.batch_size) {
            return Err(self.error(
                "twenty.batch_size",
                format!(
                    "{} is out of range; expected 1..=200",
                    self.twenty.batch_size
                ),
            ));
        }
        if !(1..=200).contains(&self.policies.batch_size) {
            return Err(self.error(
                "policies.batch_size",
                format!(
                    "{} is out of range; expected 1..=200",
                    self.policies.batch_size
                ),
            ));
        }
        if !(1..=100_000).contains(&self.policies.pull_commit_records) {
            return Err(self.error(
                "policies.pull_commit_records",
                format!(
                    "{} is out of range; expected 1..=100000",
                    self.policies.pull_commit_records
                ),
            ));
        }
        let max = twenty_sync_core::engine::MAX_PUSH_IN_FLIGHT;
        if !(1..=max).contains(&self.policies.push_in_flight) {
            return Err(self.error(
                "policies.push_in_flight",
                format!(
                    "{} is out of range; expected 1..={max}",
                    self.policies.push_in_flight
                ),
            ));
        }
        if !(self.policies.push_in_flight..=max).contains(&self.policies.push_in_flight_max) {
            return Err(self.error(
                "policies.push_in_flight_max",
                format!(
                    "{} is out of range; expected push_in_flight ({})..={max}",
                    self.policies.push_in_flight_max, self.policies.push_in_flight
                ),
            ));
        }
        let rl = &self.twenty.rate_limit;
        if rl.enabled && (rl.requests == 0 || rl.window_secs == 0) {
            return Err(self.error(
                "twenty.rate_limit",
                "requests and window_secs must be at least 1 (or set enabled = false)",
            ));
        }
        if self.schedule.interval_secs == 0 {
            return Err(self.error(
                "schedule.interval_secs",
                "expected at least 1 second between runs",
            ));
        }
        if self.twenty.api_key_secret.trim().is_empty() {
            return Err(self.error(
                "twenty.api_key_secret",
                "expected the name of the secret holding the API key (e.g. TWENTY_API_KEY)",
            ));
        }
        self.listen_addr()?;
        for p in &self.secrets.providers {
            match p {
                ProviderKind::File if self.secrets.dir.is_none() => {
                    return Err(self.error(
                        "secrets.dir",
                        "the `file` provider needs a directory (one file per secret name), e.g. dir = \"/run/secrets\"",
                    ))
                }
                ProviderKind::Gcp if self.secrets.gcp_project.is_none() => {
                    return Err(self.error(
                        "secrets.gcp_project",
                        "the `gcp` provider needs the Google Cloud project id holding the secrets",
                    ))
                }
                _ => {}
            }
        }
        match self.sink.kind {
            SinkKind::File => {}
            SinkKind::Postgres => {
                if !cfg!(feature = "postgres") {
                    return Err(self.error(
                        "sink.kind",
                        "this build has no PostgreSQL sink; rebuild with the cargo feature `postgres`",
                    ));
                }
                if self.sink.postgres.is_none() {
                    return Err(self.error(
                        "sink.postgres",
                        "sink.kind = \"postgres\" needs a [sink.postgres] table (state_schema, [[sink.postgres.entity]] ...)",
                    ));
                }
            }
            SinkKind::Bigquery => {
                if !cfg!(feature = "bigquery") {
                    return Err(self.error(
                        "sink.kind",
                        "this build has no BigQuery sink; rebuild with the cargo feature `bigquery`",
                    ));
                }
                if self.sink.bigquery.is_none() {
                    return Err(self.error(
                        "sink.bigquery",
                        "sink.kind = \"bigquery\" needs a [sink.bigquery] table (project_id, dataset, [[sink.bigquery.entities]] ...)",
                    ));
                }
                let auth = &self.sink.bigquery_auth;
                match auth.kind {
                    BigQueryAuthKind::ServiceAccountKeyFile if auth.key_file.is_none() => {
                        return Err(self.error(
                            "sink.bigquery_auth.key_file",
                            "kind = \"service_account_key_file\" needs key_file = \"/path/key.json\"",
                        ))
                    }
                    BigQueryAuthKind::ServiceAccountKeySecret
                    | BigQueryAuthKind::StaticTokenSecret
                        if auth.secret.is_none() =>
                    {
                        return Err(self.error(
                            "sink.bigquery_auth.secret",
                            "this kind needs secret = \"NAME\" (the secret holding the key or token)",
                        ))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// `a.b.c` → sets table[a][b][c], creating tables on the way.
fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or_else(|| "empty key".to_owned())?;
    let mut cur = table;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur
            .entry((*p).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "`{}` is not a table, so `{key}` cannot be set",
                    parts[..=i].join(".")
                ));
            }
        };
    }
    cur.insert((*last).to_owned(), value);
    Ok(())
}

/// An override value: a TOML value when it parses as one, else a string.
fn parse_value(raw: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct V {
        v: toml::Value,
    }
    match toml::from_str::<V>(&format!("v = {raw}")) {
        // A bare date would become a TOML datetime; keys never want one, keep it a string.
        Ok(V {
            v: toml::Value::Datetime(_),
        })
        | Err(_) => toml::Value::String(raw.to_owned()),
        Ok(V { v }) => v,
    }
}

/// serde_path_to_error paths: `sink.postgres.entity[0].table`; `.` for the root.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

/// Makes serde's messages about TOML values a bit more direct.
fn explain(msg: &str) -> String {
    // toml's value deserializer appends "\nin `path`"; the key is already in the error.
    let msg = msg
        .lines()
        .filter(|l| !l.starts_with("in `"))
        .collect::<Vec<_>>()
        .join(" ");
    let msg = msg.trim_end();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    msg.replace("invalid type: ", "wrong type: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_the_section() {
        let e = Config::from_toml_str("[policies]\nbatchsize = 3\n", "c.toml", &[]).unwrap_err();
        assert_eq!(e.key(), "policies.batchsize");
        assert!(e.message().contains("expected one of"), "{e}");
    }

    #[test]
    fn pull_commit_records_is_read_and_range_checked() {
        let c = Config::from_toml_str("[policies]\npull_commit_records = 5000\n", "c.toml", &[])
            .expect("valid");
        assert_eq!(c.policies.pull_commit_records, 5000);
        assert_eq!(crate::cli::app::engine_config(&c).pull_commit_records, 5000);
        let e = Config::from_toml_str("[policies]\npull_commit_records = 0\n", "c.toml", &[])
            .unwrap_err();
        assert_eq!(e.key(), "policies.pull_commit_records");
        assert!(e.to_string().contains("expected 1..=100000"), "{e}");
    }

    #[test]
    fn push_in_flight_and_batch_writes_are_read_and_checked() {
        let c = Config::from_toml_str(
            "[policies]\npush_in_flight = 3\nbatch_writes = false\n",
            "c.toml",
            &[],
        )
        .expect("valid");
        let engine = crate::cli::app::engine_config(&c);
        assert_eq!(
            (
                engine.push_in_flight,
                engine.push_in_flight_max,
                engine.batch_writes
            ),
            (3, 8, false)
        );
        let fixed = Config::from_toml_str(
            "[policies]\npush_in_flight = 2\npush_in_flight_max = 2\n",
            "c.toml",
            &[],
        )
        .expect("valid");
        let fixed = crate::cli::app::engine_config(&fixed);
        assert_eq!((fixed.push_in_flight, fixed.push_in_flight_max), (2, 2));
        let defaults = crate::cli::app::engine_config(
            &Config::from_toml_str("", "c.toml", &[]).expect("valid"),
        );
        assert_eq!(
            (
                defaults.push_in_flight,
                defaults.push_in_flight_max,
                defaults.batch_writes
            ),
            (1, 8, true)
        );
        let e =
            Config::from_toml_str("[policies]\npush_in_flight = 9\n", "c.toml", &[]).unwrap_err();
        assert_eq!(e.key(), "policies.push_in_flight");
        assert!(e.to_string().contains("expected 1..=8"), "{e}");
        let e = Config::from_toml_str(
            "[policies]\npush_in_flight = 3\npush_in_flight_max = 2\n",
            "c.toml",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key(), "policies.push_in_flight_max");
        assert!(
            e.to_string().contains("expected push_in_flight (3)..=8"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_expectation() {
        let e = Config::from_toml_str("[schedule]\ninterval_secs = \"soon\"\n", "c.toml", &[])
            .unwrap_err();
        assert_eq!(e.key(), "schedule.interval_secs");
        assert!(e.to_string().contains("expected u64"), "{e}");
        assert!(!e.message().contains('\n'), "{e}");
    }

    #[test]
    fn overrides_from_env_are_blamed_on_the_variable() {
        let o = Override::from_env([("TWENTY_SYNC_BATCH_SIZE".to_owned(), "999".to_owned())]);
        let e = Config::from_toml_str("", "c.toml", &o).unwrap_err();
        assert_eq!(e.origin(), &Origin::Env("TWENTY_SYNC_BATCH_SIZE".into()));
        assert!(e.to_string().contains("expected 1..=200"), "{e}");
    }

    #[test]
    fn flags_win_over_env_and_file() {
        let mut o =
            Override::from_env([("TWENTY_API_URL".to_owned(), "https://a.example/".to_owned())]);
        o.push(Override::named_flag(
            "--url",
            "twenty.url",
            "https://b.example/",
        ));
        let c = Config::from_toml_str("[twenty]\nurl = \"https://f.example/\"\n", "c.toml", &o)
            .unwrap();
        assert_eq!(c.twenty_url().unwrap().host_str(), Some("b.example"));
        assert_eq!(c.origin("twenty.url"), Origin::Flag("--url".into()));
    }

    #[test]
    fn relative_paths_follow_their_origin() {
        let c = Config::from_toml_str("mapping = \"m.toml\"\n", "/etc/ts/c.toml", &[]).unwrap();
        assert_eq!(c.mapping_path().unwrap(), PathBuf::from("/etc/ts/m.toml"));
        let c = Config::from_toml_str(
            "mapping = \"m.toml\"\n",
            "/etc/ts/c.toml",
            &[Override::flag("mapping", "x.toml")],
        )
        .unwrap();
        assert_eq!(c.mapping_path().unwrap(), PathBuf::from("x.toml"));
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        let e = Config::from_toml_str(
            "[twenty]\nurl = \"https://user:hunter2@crm.example.com/\"\n",
            "c.toml",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key(), "twenty.url");
        assert!(!e.to_string().contains("hunter2"));
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../../twenty-sync.example.toml");
        let cfg = super::Config::from_toml_str(text, "twenty-sync.example.toml", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.twenty.api_key_secret, "TWENTY_API_KEY");
        assert_eq!(
            cfg.secrets.aliases["TWENTY_API_KEY"],
            vec!["twenty-api-key".to_owned()]
        );
    }
}
