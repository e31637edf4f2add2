//! [`SecretChain`]: several providers in order, several names per secret.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use super::{SecretProvider, not_found};
use crate::error::StoreResult;

/// Tries several providers in order and, per secret, several alias names in order, so an install
/// can keep the names it already uses (`twenty-crm-api-key` in a secret manager,
/// `TWENTY_API_KEY` in the environment...).
///
/// For a secret `name` the names tried are `name` itself, then its aliases in the order given to
/// [`SecretChain::alias`]. Providers are the outer loop: the first provider (in the order added)
/// that has *any* of the names wins, so provider priority is never overridden by an alias.
///
/// A provider that **fails** (unreadable file, secret manager down or denying access) stops the
/// lookup with its error, annotated with the secret and the provider: a broken secret store
/// must not silently fall back to a stale value elsewhere. A secret no provider has is `Ok(None)`
/// from [`resolve`](SecretProvider::resolve) and, from [`require`](SecretProvider::require), a
/// `NotFound` error listing every name and provider tried. Values never appear in errors or
/// `Debug` output.
///
/// ```
/// use secrecy::ExposeSecret;
/// use twenty_sync_core::secret::{InMemorySecrets, SecretChain};
/// use twenty_sync_core::{SecretProvider, StoreErrorKind};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let vault = InMemorySecrets::new().with_secret("twenty-crm-api-key", "from-vault");
/// let env = InMemorySecrets::new().with_secret("TWENTY_API_KEY", "from-env");
/// let chain = SecretChain::new()
///     .with(vault)
///     .with(env)
///     .alias("twenty-api-key", ["twenty-crm-api-key", "TWENTY_API_KEY"]);
///
/// let key = chain.require("twenty-api-key").await.unwrap();
/// assert_eq!(key.expose_secret(), "from-vault");
///
/// let err = chain.require("webhook-secret").await.unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::NotFound);
/// assert!(err.to_string().contains("webhook-secret"));
/// # });
/// ```
#[derive(Clone, Default)]
pub struct SecretChain {
    providers: Vec<Arc<dyn SecretProvider>>,
    aliases: BTreeMap<String, Vec<String>>,
}

impl SecretChain {
    /// An empty chain (resolves nothing until providers are added).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::SecretChain;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let chain = SecretChain::new();
    /// assert!(chain.is_empty());
    /// assert!(chain.resolve("twenty-api-key").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider after the ones already added.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::{InMemorySecrets, SecretChain};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let chain = SecretChain::new()
    ///     .with(InMemorySecrets::new().with_secret("twenty-api-key", "fake-first"))
    ///     .with(InMemorySecrets::new().with_secret("twenty-api-key", "fake-second"));
    /// assert_eq!(chain.len(), 2);
    /// assert_eq!(chain.require("twenty-api-key").await?.expose_secret(), "fake-first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with(self, provider: impl SecretProvider + 'static) -> Self {
        self.with_arc(Arc::new(provider))
    }

    /// Adds a shared provider after the ones already added.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::{InMemorySecrets, SecretChain};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let shared: Arc<dyn SecretProvider> = Arc::new(InMemorySecrets::new().with_secret("k", "fake-v"));
    /// let api_chain = SecretChain::new().with_arc(Arc::clone(&shared));
    /// let webhook_chain = SecretChain::new().with_arc(shared);
    /// assert_eq!(api_chain.require("k").await?.expose_secret(), "fake-v");
    /// assert_eq!(webhook_chain.require("k").await?.expose_secret(), "fake-v");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_arc(mut self, provider: Arc<dyn SecretProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Names also tried for `secret`, in order, after `secret` itself. Calling it again for the
    /// same secret appends.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::{InMemorySecrets, SecretChain};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let chain = SecretChain::new()
    ///     .with(InMemorySecrets::new().with_secret("TWENTY_API_KEY", "fake-key"))
    ///     .alias("twenty-api-key", ["twenty_api_key"])
    ///     .alias("twenty-api-key", ["TWENTY_API_KEY"]);
    /// assert_eq!(chain.names_for("twenty-api-key"), ["twenty-api-key", "twenty_api_key", "TWENTY_API_KEY"]);
    /// assert_eq!(chain.require("twenty-api-key").await?.expose_secret(), "fake-key");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn alias<I, S>(mut self, secret: impl Into<String>, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entry = self.aliases.entry(secret.into()).or_default();
        entry.extend(aliases.into_iter().map(Into::into));
        self
    }

    /// The names tried for `secret`, in order (no duplicates).
    ///
    /// ```
    /// use twenty_sync_core::secret::SecretChain;
    ///
    /// let chain = SecretChain::new().alias("api-key", ["API_KEY", "api-key", "API_KEY"]);
    /// assert_eq!(chain.names_for("api-key"), ["api-key", "API_KEY"]);
    /// assert_eq!(chain.names_for("other"), ["other"]);
    /// ```
    pub fn names_for(&self, secret: &str) -> Vec<String> {
        let mut names = vec![secret.to_owned()];
        for alias in self.aliases.get(secret).into_iter().flatten() {
            if !names.contains(alias) {
                names.push(alias.clone());
            }
        }
        names
    }

    /// The number of providers in the chain.
    ///
    /// ```
    /// use twenty_sync_core::secret::{EnvSecrets, FileSecrets, SecretChain};
    ///
    /// let chain = SecretChain::new().with(FileSecrets::dir("/run/secrets")).with(EnvSecrets::new());
    /// assert_eq!(chain.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether the chain has no providers.
    ///
    /// ```
    /// use twenty_sync_core::secret::{EnvSecrets, SecretChain};
    ///
    /// assert!(SecretChain::new().alias("a", ["b"]).is_empty()); // aliases are not providers
    /// assert!(!SecretChain::new().with(EnvSecrets::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

impl fmt::Debug for SecretChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretChain")
            .field("providers", &self.providers)
            .field("aliases", &self.aliases)
            .finish()
    }
}

#[async_trait]
impl SecretProvider for SecretChain {
    fn describe(&self) -> String {
        let inner: Vec<String> = self.providers.iter().map(|p| p.describe()).collect();
        format!("chain of [{}]", inner.join(", "))
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        let names = self.names_for(name);
        for provider in &self.providers {
            for candidate in &names {
                match provider.resolve(candidate).await {
                    Ok(Some(secret)) => {
                        tracing::debug!(
                            secret = %name,
                            found_as = %candidate,
                            provider = %provider.describe(),
                            "secret resolved"
                        );
                        return Ok(Some(secret));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let mut e = e.with_context("provider", provider.describe());
                        if candidate != name {
                            e = e
                                .with_context("secret", name)
                                .with_context("alias", candidate);
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(None)
    }

    async fn require(&self, name: &str) -> StoreResult<SecretString> {
        match self.resolve(name).await? {
            Some(secret) => Ok(secret),
            None => {
                let providers: Vec<String> = self.providers.iter().map(|p| p.describe()).collect();
                Err(not_found(name, &self.names_for(name), &providers))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{StoreError, StoreErrorKind};
    use crate::secret::InMemorySecrets;
    use secrecy::ExposeSecret;

    #[derive(Debug)]
    struct Broken;

    #[async_trait]
    impl SecretProvider for Broken {
        fn describe(&self) -> String {
            "broken store".into()
        }
        async fn resolve(&self, _name: &str) -> StoreResult<Option<SecretString>> {
            Err(StoreError::new(StoreErrorKind::Unavailable, "store is down").temporary())
        }
    }

    #[tokio::test]
    async fn provider_priority_beats_alias_order() {
        let first = InMemorySecrets::new().with_secret("LEGACY", "first-provider");
        let second = InMemorySecrets::new().with_secret("key", "second-provider");
        let chain = SecretChain::new()
            .with(first)
            .with(second)
            .alias("key", ["LEGACY"]);
        let got = chain.resolve("key").await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), "first-provider");
    }

    #[tokio::test]
    async fn aliases_tried_in_order_within_a_provider() {
        let p = InMemorySecrets::new()
            .with_secret("b", "value-b")
            .with_secret("c", "value-c");
        let chain = SecretChain::new().with(p.clone()).alias("a", ["b", "c"]);
        assert_eq!(
            chain.resolve("a").await.unwrap().unwrap().expose_secret(),
            "value-b"
        );
        p.remove("b");
        assert_eq!(
            chain.resolve("a").await.unwrap().unwrap().expose_secret(),
            "value-c"
        );
        assert_eq!(chain.names_for("a"), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_failing_provider_stops_the_chain_with_context() {
        let later = InMemorySecrets::new().with_secret("k", "stale-value");
        let chain = SecretChain::new()
            .with(Broken)
            .with(later)
            .alias("key", ["k"]);
        let err = chain.resolve("key").await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable);
        assert!(err.is_temporary());
        let text = format!("{err} {err:?}");
        assert!(text.contains("provider=broken store"), "{text}");
        assert!(!text.contains("stale-value"), "{text}");
    }

    #[tokio::test]
    async fn require_lists_names_and_providers_but_no_values() {
        let p = InMemorySecrets::new().with_secret("other", "v-other");
        let chain = SecretChain::new()
            .with(p)
            .with(InMemorySecrets::new())
            .alias("twenty-api-key", ["twenty_api_key", "TWENTY_API_KEY"]);
        assert!(chain.resolve("twenty-api-key").await.unwrap().is_none());
        let err = chain.require("twenty-api-key").await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::NotFound);
        let text = err.to_string();
        assert!(
            text.contains("\"twenty-api-key\", \"twenty_api_key\", \"TWENTY_API_KEY\""),
            "{text}"
        );
        assert!(
            text.contains("in-memory secrets (1), in-memory secrets (0)"),
            "{text}"
        );
        assert!(!format!("{chain:?}").contains("v-other"));
    }
}
