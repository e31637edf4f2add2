//! [`EnvSecrets`]: secrets from environment variables.

use std::collections::BTreeMap;
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
    /// std::env::set_var("DOCTEST_ENV_NEW_KEY", "fake-key");
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
    /// std::env::set_var("DOCTEST_PREFIX_api_key", "fake-key");
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
    /// std::env::set_var("DOCTEST_SNAKE_TWENTY_API_KEY", "fake-key");
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
    /// std::env::set_var("DOCTEST_VAR_CRM_TOKEN", "fake-key");
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
        for var in self.candidates(name) {
            // `var_os` may panic on these; no such variable can exist anyway.
            if var.is_empty() || var.contains(['=', '\0']) {
                continue;
            }
            let Some(value) = std::env::var_os(&var) else {
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

    // Each test uses its own variable names: tests run in parallel in one process.

    #[tokio::test]
    async fn exact_name_then_upper_snake_with_prefix() {
        std::env::set_var("TSC_ENV_T1_API_KEY", "snake-value");
        let env = EnvSecrets::new().prefix("TSC_ENV_T1_");
        assert!(env.resolve("api-key").await.unwrap().is_none());
        let env = env.upper_snake();
        let got = env.resolve("api-key").await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), "snake-value");

        std::env::set_var("TSC_ENV_T1_api-key", "exact-value");
        let got = env.resolve("api-key").await.unwrap().unwrap();
        assert_eq!(
            got.expose_secret(),
            "exact-value",
            "the exact name comes first"
        );
    }

    #[tokio::test]
    async fn explicit_variable_overrides_derived_names() {
        std::env::set_var("TSC_ENV_T2_TOKEN", "mapped");
        std::env::set_var("TSC_ENV_T2_NAME", "derived");
        let env = EnvSecrets::new().var("TSC_ENV_T2_NAME", "TSC_ENV_T2_TOKEN");
        let got = env.resolve("TSC_ENV_T2_NAME").await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), "mapped");
    }

    #[tokio::test]
    async fn empty_and_impossible_names_are_unset() {
        std::env::set_var("TSC_ENV_T3_EMPTY", "");
        let env = EnvSecrets::new();
        assert!(env.resolve("TSC_ENV_T3_EMPTY").await.unwrap().is_none());
        assert!(env.resolve("").await.unwrap().is_none());
        assert!(env.resolve("a=b").await.unwrap().is_none());
        assert!(env.resolve("nul\0").await.unwrap().is_none());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn non_utf8_value_is_an_error_naming_the_variable_not_the_value() {
        use std::os::unix::ffi::OsStrExt;
        let value = std::ffi::OsStr::from_bytes(b"secret-\xff-bytes");
        std::env::set_var("TSC_ENV_T4_BAD", value);
        let err = EnvSecrets::new()
            .resolve("TSC_ENV_T4_BAD")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Invalid);
        let text = format!("{err} {err:?}");
        assert!(text.contains("TSC_ENV_T4_BAD"), "{text}");
        assert!(!text.contains("secret-"), "{text}");
    }

    #[test]
    fn debug_shows_names_only() {
        std::env::set_var("TSC_ENV_T5_SHOWN", "hidden-value-5");
        let env = EnvSecrets::new().var("x", "TSC_ENV_T5_SHOWN");
        let debug = format!("{env:?}");
        assert!(debug.contains("TSC_ENV_T5_SHOWN"));
        assert!(!debug.contains("hidden-value-5"));
    }
}
