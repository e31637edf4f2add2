//! Where values come from: named and generic environment variables, flags.

use std::fmt;
use std::path::PathBuf;

/// Named environment variables and the key each overrides.
///
/// Two more variables are read as *secrets* by the `env` provider, never as configuration:
/// `TWENTY_API_KEY` (the default `twenty.api_key_secret`) and `TWENTY_WEBHOOK_SECRET` (the default
/// `webhook.secret`); `DATABASE_URL` is the default `sink.postgres.connection_secret`.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("TWENTY_API_URL", "twenty.url"),
    ("TWENTY_SYNC_MAPPING", "mapping"),
    ("TWENTY_SYNC_SINK", "sink.kind"),
    ("TWENTY_SYNC_DATA_DIR", "sink.file.dir"),
    ("TWENTY_SYNC_BATCH_SIZE", "policies.batch_size"),
    ("TWENTY_SYNC_INTERVAL_SECS", "schedule.interval_secs"),
    ("TWENTY_SYNC_SECRETS_DIR", "secrets.dir"),
    ("TWENTY_SYNC_LISTEN", "webhook.listen"),
];

/// The prefix of generic overrides: `TWENTY_SYNC__SECTION__KEY`.
pub const ENV_PREFIX: &str = "TWENTY_SYNC__";

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "TWENTY_SYNC_CONFIG";

/// The file read when no `--config` is given (in the current directory), if it exists.
pub const DEFAULT_FILE: &str = "twenty-sync.toml";

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag (its spelling, e.g. `--url` or `--set`).
    Flag(String),
    /// Built-in defaults (no file).
    Defaults,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Defaults => f.write_str("built-in defaults (no configuration file)"),
        }
    }
}

/// One override of a configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, e.g. `policies.batch_size`.
    pub key: String,
    /// The value as written (read as TOML, else as a string).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Override {
    /// An override from a flag (shown as `--set` in errors).
    ///
    /// ```
    /// let o = examples::config::Override::flag("twenty.url", "https://crm.example.com/");
    /// assert_eq!(o.key, "twenty.url");
    /// ```
    pub fn flag(key: impl Into<String>, value: impl Into<String>) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
            origin: Origin::Flag("--set".into()),
        }
    }

    /// An override from the named flag `flag` (e.g. `--url`).
    pub fn named_flag(flag: &str, key: impl Into<String>, value: impl Into<String>) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
            origin: Origin::Flag(flag.to_owned()),
        }
    }

    /// Parses `KEY=VALUE` (the `--set` flag).
    ///
    /// ```
    /// let o = examples::config::Override::parse_set("schedule.interval_secs=30").unwrap();
    /// assert_eq!((o.key.as_str(), o.value.as_str()), ("schedule.interval_secs", "30"));
    /// assert!(examples::config::Override::parse_set("no-equals").is_err());
    /// ```
    pub fn parse_set(s: &str) -> Result<Override, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not KEY=VALUE (e.g. policies.batch_size=50)"))?;
        let k = k.trim();
        if k.is_empty() || k.split('.').any(str::is_empty) {
            return Err(format!(
                "`{k}` is not a dotted key (e.g. policies.batch_size)"
            ));
        }
        Ok(Override::flag(k, v))
    }

    /// The overrides found in an environment (named variables of [`ENV_VARS`] first, then the
    /// generic `TWENTY_SYNC__...` ones, sorted by name). Empty values are ignored.
    ///
    /// ```
    /// let env = [("TWENTY_API_URL", "https://crm.example.com/"), ("TWENTY_SYNC__SCHEDULE__MODE", "pull")];
    /// let o = examples::config::Override::from_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    /// assert_eq!(o[0].key, "twenty.url");
    /// assert_eq!(o[1].key, "schedule.mode");
    /// ```
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Override> {
        let mut named = Vec::new();
        let mut generic = Vec::new();
        for (name, value) in vars {
            if value.is_empty() {
                continue;
            }
            if let Some((_, key)) = ENV_VARS.iter().find(|(n, _)| *n == name) {
                named.push(Override {
                    key: (*key).to_owned(),
                    value,
                    origin: Origin::Env(name),
                });
            } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let key = rest
                    .split("__")
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
                    .join(".");
                if !key.is_empty() {
                    generic.push(Override {
                        key,
                        value,
                        origin: Origin::Env(name),
                    });
                }
            }
        }
        named.sort_by(|a, b| a.key.cmp(&b.key));
        generic.sort_by(|a, b| a.origin_name().cmp(b.origin_name()));
        named.extend(generic);
        named
    }

    fn origin_name(&self) -> &str {
        match &self.origin {
            Origin::Env(v) | Origin::Flag(v) => v,
            _ => "",
        }
    }
}
