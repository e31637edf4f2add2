//! [`InMemorySecrets`]: a map of secrets in memory, for tests and embedding.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::SecretProvider;
use crate::error::StoreResult;

/// Secrets held in memory. Clones share the same map, so a test can rotate a key
/// ([`InMemorySecrets::insert`]) while the engine holds a clone.
///
/// ```
/// use secrecy::ExposeSecret;
/// use twenty_sync_core::secret::InMemorySecrets;
/// use twenty_sync_core::SecretProvider;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let secrets = InMemorySecrets::new().with_secret("twenty-api-key", "old");
/// let engine_side = secrets.clone();
/// secrets.insert("twenty-api-key", "rotated");
/// let key = engine_side.resolve("twenty-api-key").await.unwrap().unwrap();
/// assert_eq!(key.expose_secret(), "rotated");
/// assert_eq!(engine_side.lookups(), 1);
/// assert_eq!(format!("{secrets:?}"), r#"InMemorySecrets { names: ["twenty-api-key"] }"#);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct InMemorySecrets {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    map: RwLock<BTreeMap<String, SecretString>>,
    lookups: AtomicU64,
}

impl InMemorySecrets {
    /// An empty map.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::InMemorySecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new();
    /// assert!(secrets.resolve("twenty-api-key").await?.is_none());
    /// assert_eq!(secrets.describe(), "in-memory secrets (0)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a secret, builder style.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::InMemorySecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new()
    ///     .with_secret("twenty-api-key", "fake-key")
    ///     .with_secret("webhook-secret", "fake-whsec");
    /// assert_eq!(secrets.require("webhook-secret").await?.expose_secret(), "fake-whsec");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_secret(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces a secret (visible to every clone).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::InMemorySecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new();
    /// let held_by_engine = secrets.clone();
    /// secrets.insert("twenty-api-key", "fake-key-v2");
    /// assert_eq!(held_by_engine.require("twenty-api-key").await?.expose_secret(), "fake-key-v2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn insert(&self, name: impl Into<String>, value: impl Into<String>) {
        self.write()
            .insert(name.into(), SecretString::from(value.into()));
    }

    /// Removes a secret; `true` when it was there.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::InMemorySecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("twenty-api-key", "fake-key");
    /// assert!(secrets.remove("twenty-api-key"));
    /// assert!(!secrets.remove("twenty-api-key"));
    /// assert!(secrets.resolve("twenty-api-key").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn remove(&self, name: &str) -> bool {
        self.write().remove(name).is_some()
    }

    /// How many times [`resolve`](SecretProvider::resolve) was called (on any clone).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::{InMemorySecrets, SecretChain};
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("TWENTY_API_KEY", "fake-key");
    /// let chain = SecretChain::new().with(secrets.clone()).alias("twenty-api-key", ["TWENTY_API_KEY"]);
    /// chain.require("twenty-api-key").await?;
    /// assert_eq!(secrets.lookups(), 2); // the name itself, then the alias
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn lookups(&self) -> u64 {
        self.inner.lookups.load(Ordering::Relaxed)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, SecretString>> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.inner
            .map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, SecretString>> {
        self.inner
            .map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for InMemorySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.read().keys().cloned().collect();
        f.debug_struct("InMemorySecrets")
            .field("names", &names)
            .finish()
    }
}

#[async_trait]
impl SecretProvider for InMemorySecrets {
    fn describe(&self) -> String {
        format!("in-memory secrets ({})", self.read().len())
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        self.inner.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .read()
            .get(name)
            .map(|s| SecretString::from(s.expose_secret().to_owned())))
    }
}
