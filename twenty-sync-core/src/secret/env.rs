//! [`EnvSecrets`]: secrets from environment variables.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use super::SecretProvider;
use crate::error::{StoreError, StoreErrorKind, StoreResult};

/// Secrets from environment variables.
///
/// The variables tried for a secret `name`, in order ([`EnvSecrets::candidates`]):
///
/// 1. if the name was mapped with [`EnvSecrets::var`], that variable only;
/// 2. otherwise `{prefix}{name}` exactly as given (the prefix is empty unless set with
///    [`EnvSecrets::prefix`]);
/// 3. then, with [`EnvSecrets::upper_snake`], `{prefix}{NAME}` where `NAME` is the name with ASCII
///    letters upper-cased and every character other than `A-Z`, `0-9` replaced by `_`
///    (`twenty-api-key` → `TWENTY_API_KEY`).
///
/// A variable set to the empty string counts as unset (`export TWENTY_API_KEY=` is a common way
/// to "clear" a variable). A value that is not valid UTF-8 is an error naming the variable.
///
/// ```
/// use twenty_sync_core::secret::EnvSecrets;
///
/// let env = EnvSecrets::new().prefix("SYNC_").upper_snake();
/// assert_eq!(env.candidates("twenty-api-key"), ["SYNC_twenty-api-key", "SYNC_TWENTY_API_KEY"]);
///
/// let env = EnvSecrets::new().var("twenty-api-key", "CRM_TOKEN");
/// assert_eq!(env.candidates("twenty-api-key"), ["CRM_TOKEN"]);
/// ```
#[derive(Clone, Default)]
pub struct EnvSecrets {
    prefix: String,
    upper_snake: bool,
    vars: BTreeMap<String, String>,
}

impl EnvSecrets {
    /// Looks each secret up under its exact name.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::EnvSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// // SAFETY: a doctest runs in a process of its own; no other thread reads the environment.
    /// unsafe { std::env::set_var("DOCTEST_ENV_NEW_KEY", "fake-key") };
    /// let env = EnvSecrets::new();
    /// assert_eq!(env.require("DOCTEST_ENV_NEW_KEY").await?.expose_secret(), "fake-key");
    /// assert!(env.resolve("doctest_env_new_key").await?.is_none()); // names are exact
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepends `prefix` to every variable name derived from a secret name (not to variables
    /// mapped explicitly with [`EnvSecrets::var`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::EnvSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// // SAFETY: a doctest runs in a process of its own; no other thread reads the environment.
    /// unsafe { std::env::set_var("DOCTEST_PREFIX_api_key", "fake-key") };
    /// let env = EnvSecrets::new().prefix("DOCTEST_PREFIX_");
    /// assert_eq!(env.candidates("api_key"), ["DOCTEST_PREFIX_api_key"]);
    /// assert_eq!(env.require("api_key").await?.expose_secret(), "fake-key");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Also tries the `UPPER_SNAKE` form of each name after the exact one.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::EnvSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// // SAFETY: a doctest runs in a process of its own; no other thread reads the environment.
    /// unsafe { std::env::set_var("DOCTEST_SNAKE_TWENTY_API_KEY", "fake-key") };
    /// let env = EnvSecrets::new().prefix("DOCTEST_SNAKE_").upper_snake();
    /// assert_eq!(env.require("twenty-api-key").await?.expose_secret(), "fake-key");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn upper_snake(mut self) -> Self {
        self.upper_snake = true;
        self
    }

    /// Reads secret `name` from variable `var` (and nothing else).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::EnvSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// // SAFETY: a doctest runs in a process of its own; no other thread reads the environment.
    /// unsafe { std::env::set_var("DOCTEST_VAR_CRM_TOKEN", "fake-key") };
    /// let env = EnvSecrets::new().upper_snake().var("twenty-api-key", "DOCTEST_VAR_CRM_TOKEN");
    /// assert_eq!(env.candidates("twenty-api-key"), ["DOCTEST_VAR_CRM_TOKEN"]);
    /// assert_eq!(env.require("twenty-api-key").await?.expose_secret(), "fake-key");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn var(mut self, name: impl Into<String>, var: impl Into<String>) -> Self {
        self.vars.insert(name.into(), var.into());
        self
    }

    /// The variables tried for `name`, in order.
    ///
    /// ```
    /// use twenty_sync_core::secret::EnvSecrets;
    ///
    /// let env = EnvSecrets::new().upper_snake();
    /// assert_eq!(env.candidates("webhook.secret"), ["webhook.secret", "WEBHOOK_SECRET"]);
    /// // No duplicate when the name is already upper snake case.
    /// assert_eq!(env.candidates("WEBHOOK_SECRET"), ["WEBHOOK_SECRET"]);
    /// ```
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(var) = self.vars.get(name) {
            return vec![var.clone()];
        }
        let mut out = vec![format!("{}{name}", self.prefix)];
        if self.upper_snake {
            let snake: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let snake = format!("{}{snake}", self.prefix);
            if !out.contains(&snake) {
                out.push(snake);
            }
        }
        out
    }
}

impl fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names of variables only: never their values.
        f.debug_struct("EnvSecrets")
            .field("prefix", &self.prefix)
            .field("upper_snake", &self.upper_snake)
            .field("vars", &self.vars)
            .finish()
    }
}

#[async_trait]
impl SecretProvider for EnvSecrets {
    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            "environment variables".to_owned()
        } else {
            format!("environment variables (prefix {:?})", self.prefix)
        }
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        self.resolve_with(name, |var| std::env::var_os(var))
    }
}

impl EnvSecrets {
    /// [`resolve`](SecretProvider::resolve) reading variables through `lookup` instead of the
    /// process environment (the unit tests' environment, which they never write).
    fn resolve_with(
        &self,
        name: &str,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> StoreResult<Option<SecretString>> {
        for var in self.candidates(name) {
            // `var_os` may panic on these; no such variable can exist anyway.
            if var.is_empty() || var.contains(['=', '\0']) {
                continue;
            }
            let Some(value) = lookup(&var) else {
                continue;
            };
            if value.is_empty() {
                tracing::debug!(secret = %name, variable = %var, "environment variable is set but empty; treated as unset");
                continue;
            }
            return match value.into_string() {
                Ok(value) => Ok(Some(SecretString::from(value))),
                Err(_) => Err(StoreError::new(
                    StoreErrorKind::Invalid,
                    format!(
                        "environment variable {var} (secret {name:?}) is not valid UTF-8; \
                         set it to the secret as text"
                    ),
                )
                .with_context("secret", name)),
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::ffi::OsStr;

    /// An environment of `vars` only (the tests never write the process's own: other tests of
    /// this binary read it on other threads).
    fn env_of(vars: &[(&str, &OsStr)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let vars: BTreeMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |var| vars.get(var).cloned()
    }

    #[test]
    fn exact_name_then_upper_snake_with_prefix() {
        let only_snake = env_of(&[("T1_API_KEY", OsStr::new("snake-value"))]);
        let env = EnvSecrets::new().prefix("T1_");
        assert!(env.resolve_with("api-key", &only_snake).unwrap().is_none());
        let env = env.upper_snake();
        let got = env.resolve_with("api-key", &only_snake).unwrap().unwrap();
        assert_eq!(got.expose_secret(), "snake-value");

        let both = env_of(&[
            ("T1_API_KEY", OsStr::new("snake-value")),
            ("T1_api-key", OsStr::new("exact-value")),
        ]);
        let got = env.resolve_with("api-key", &both).unwrap().unwrap();
        assert_eq!(
            got.expose_secret(),
            "exact-value",
            "the exact name comes first"
        );
    }

    #[test]
    fn explicit_variable_overrides_derived_names() {
        let vars = env_of(&[
            ("T2_TOKEN", OsStr::new("mapped")),
            ("T2_NAME", OsStr::new("derived")),
        ]);
        let env = EnvSecrets::new().var("T2_NAME", "T2_TOKEN");
        let got = env.resolve_with("T2_NAME", &vars).unwrap().unwrap();
        assert_eq!(got.expose_secret(), "mapped");
    }

    #[test]
    fn empty_and_impossible_names_are_unset() {
        let vars = env_of(&[
            ("T3_EMPTY", OsStr::new("")),
            ("", OsStr::new("x")),
            ("a=b", OsStr::new("x")),
            ("nul\0", OsStr::new("x")),
        ]);
        let env = EnvSecrets::new();
        for name in ["T3_EMPTY", "", "a=b", "nul\0"] {
            assert!(env.resolve_with(name, &vars).unwrap().is_none(), "{name:?}");
        }
    }

    /// The process environment itself, read-only: `PATH` is set wherever the tests run.
    #[tokio::test]
    async fn resolve_reads_the_process_environment() {
        let path = std::env::var("PATH").expect("PATH is set for the tests");
        let got = EnvSecrets::new().resolve("PATH").await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), path);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_value_is_an_error_naming_the_variable_not_the_value() {
        use std::os::unix::ffi::OsStrExt;
        let vars = env_of(&[("T4_BAD", OsStr::from_bytes(b"secret-\xff-bytes"))]);
        let err = EnvSecrets::new().resolve_with("T4_BAD", &vars).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Invalid);
        let text = format!("{err} {err:?}");
        assert!(text.contains("T4_BAD"), "{text}");
        assert!(!text.contains("secret-"), "{text}");
    }

    #[test]
    fn debug_shows_names_only() {
        // `PATH` is set (and not empty) wherever the tests run.
        let value = std::env::var("PATH").expect("PATH is set for the tests");
        let env = EnvSecrets::new().var("x", "PATH");
        let debug = format!("{env:?}");
        assert!(debug.contains("\"PATH\""), "{debug}");
        assert!(!debug.contains(&value), "{debug}");
    }
}
