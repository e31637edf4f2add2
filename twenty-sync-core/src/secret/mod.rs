//! Secrets (API keys, webhook signing secrets, connection strings) resolved by name.
//!
//! The [`SecretProvider`] trait has one job: turn a name into a [`SecretString`], or say it does
//! not know the name (`Ok(None)`) so providers can be chained. The implementations here:
//!
//! | Provider | Where the secret lives |
//! |---|---|
//! | [`EnvSecrets`] | environment variables (exact name, optional prefix, optional `UPPER_SNAKE` form) |
//! | [`FileSecrets`] | a directory of mounted secrets (one file per name) and/or explicit name → path |
//! | [`SecretChain`] | several providers in order, several alias names per secret |
//! | [`InMemorySecrets`] | a map in memory (tests, embedding) |
//! | `GcpSecretManager` | Google Cloud Secret Manager (cargo feature `gcp-secret-manager`) |
//!
//! No provider ever puts a secret value in an error, a log line or `Debug` output; errors name
//! the secret, the provider and what to do.
//!
//! ```
//! use std::sync::Arc;
//! use secrecy::ExposeSecret;
//! use twenty_sync_core::secret::{EnvSecrets, FileSecrets, InMemorySecrets, SecretChain};
//! use twenty_sync_core::SecretProvider;
//!
//! # tokio_test_block_on(async {
//! // Mounted secrets first, then the environment; the API key keeps the names an existing
//! // install already uses.
//! let chain = SecretChain::new()
//!     .with(FileSecrets::dir("/run/secrets"))
//!     .with(EnvSecrets::new().prefix("MYAPP_").upper_snake())
//!     .with(InMemorySecrets::new().with_secret("twenty_api_key", "from-memory"))
//!     .alias("twenty-api-key", ["twenty-crm-api-key", "twenty_api_key", "TWENTY_API_KEY"]);
//!
//! let key = chain.require("twenty-api-key").await?;
//! assert_eq!(key.expose_secret(), "from-memory");
//! // Debug output never shows a value.
//! assert!(!format!("{chain:?}").contains("from-memory"));
//! # Ok::<(), twenty_sync_core::StoreError>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::{StoreError, StoreErrorKind, StoreResult};

mod chain;
mod env;
mod file;
#[cfg(feature = "gcp-secret-manager")]
mod gcp;
mod memory;

pub use chain::SecretChain;
pub use env::EnvSecrets;
pub use file::FileSecrets;
#[cfg(feature = "gcp-secret-manager")]
pub use gcp::{GcpCredentials, GcpSecretManager, ServiceAccountKey};
pub use memory::InMemorySecrets;

/// Resolves secrets by name.
///
/// Implementations never log or return the secret in an error; `describe` names the provider
/// (e.g. `"environment"`), never a value. A provider that does not know a name answers
/// `Ok(None)`, so providers can be chained; errors are for failures (unreadable file, secret
/// manager down).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use async_trait::async_trait;
/// use secrecy::{ExposeSecret, SecretString};
/// use twenty_sync_core::{SecretProvider, StoreResult};
///
/// /// A provider of your own: here, secrets from a fixed table.
/// #[derive(Debug)]
/// struct Vault;
///
/// #[async_trait]
/// impl SecretProvider for Vault {
///     fn describe(&self) -> String {
///         "vault".into()
///     }
///     async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
///         Ok((name == "twenty-api-key").then(|| SecretString::from("fake-key-123")))
///     }
/// }
///
/// assert_eq!(Vault.require("twenty-api-key").await?.expose_secret(), "fake-key-123");
/// assert!(Vault.resolve("webhook-secret").await?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait SecretProvider: Send + Sync + std::fmt::Debug {
    /// A short description for messages, e.g. `"environment variables"`.
    ///
    /// ```
    /// use twenty_sync_core::secret::{EnvSecrets, FileSecrets, SecretChain};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// assert_eq!(EnvSecrets::new().describe(), "environment variables");
    /// let chain = SecretChain::new().with(FileSecrets::dir("/run/secrets")).with(EnvSecrets::new());
    /// assert_eq!(chain.describe(), "chain of [files in /run/secrets, environment variables]");
    /// ```
    fn describe(&self) -> String;

    /// The secret called `name`, or `None` if this provider does not have it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::InMemorySecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("webhook-secret", "fake-whsec");
    /// let found = secrets.resolve("webhook-secret").await?;
    /// assert_eq!(found.unwrap().expose_secret(), "fake-whsec");
    /// assert!(secrets.resolve("twenty-api-key").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>>;

    /// The secret called `name`, or a [`StoreErrorKind::NotFound`] error naming the secret and
    /// this provider (never a value) and saying how to provide it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::EnvSecrets;
    /// use twenty_sync_core::{SecretProvider, StoreErrorKind};
    ///
    /// let env = EnvSecrets::new().prefix("DOCTEST_REQUIRE_");
    /// let err = env.require("twenty-api-key").await.unwrap_err();
    /// assert_eq!(err.kind(), StoreErrorKind::NotFound);
    /// let text = err.to_string();
    /// assert!(text.contains(r#"secret "twenty-api-key" was not found"#));
    /// assert!(text.contains(r#"environment variables (prefix "DOCTEST_REQUIRE_")"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn require(&self, name: &str) -> StoreResult<SecretString> {
        match self.resolve(name).await? {
            Some(secret) => Ok(secret),
            None => Err(not_found(name, &[name.to_owned()], &[self.describe()])),
        }
    }
}

#[async_trait]
impl<T: SecretProvider + ?Sized> SecretProvider for std::sync::Arc<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        (**self).resolve(name).await
    }

    async fn require(&self, name: &str) -> StoreResult<SecretString> {
        (**self).require(name).await
    }
}

#[async_trait]
impl<T: SecretProvider + ?Sized> SecretProvider for Box<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        (**self).resolve(name).await
    }

    async fn require(&self, name: &str) -> StoreResult<SecretString> {
        (**self).require(name).await
    }
}

/// The error for a secret no provider has: names tried, providers tried, what to do.
pub(crate) fn not_found(secret: &str, names: &[String], providers: &[String]) -> StoreError {
    let names = names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    StoreError::new(
        StoreErrorKind::NotFound,
        format!(
            "secret {secret:?} was not found (names tried: {names}; providers tried: {}); \
             provide it under one of these names in one of these providers",
            providers.join(", ")
        ),
    )
    .with_context("secret", secret)
}

/// Drops trailing `\n` / `\r` (files written with `echo`, `kubectl create secret --from-file`).
pub(crate) fn trim_trailing_newlines(mut value: String) -> String {
    let len = value.trim_end_matches(['\n', '\r']).len();
    value.truncate(len);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newlines_are_trimmed_but_inner_ones_kept() {
        assert_eq!(trim_trailing_newlines("abc\n".into()), "abc");
        assert_eq!(trim_trailing_newlines("abc\r\n\n".into()), "abc");
        assert_eq!(trim_trailing_newlines("a\nb ".into()), "a\nb ");
        assert_eq!(trim_trailing_newlines("\n".into()), "");
    }

    #[test]
    fn not_found_names_secret_names_and_providers() {
        let err = not_found(
            "api",
            &["api".into(), "API".into()],
            &[
                "environment variables".into(),
                "files in /run/secrets".into(),
            ],
        );
        assert_eq!(err.kind(), StoreErrorKind::NotFound);
        let text = err.to_string();
        assert!(text.contains("\"api\", \"API\""), "{text}");
        assert!(text.contains("files in /run/secrets"), "{text}");
    }
}
