//! [`LocalEditor`]: how the source checks make local changes.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::StoreResult;
use crate::memory::MemorySource;

/// Makes *local* changes through a [`SourceOfTruth`](crate::SourceOfTruth) implementation, the
/// way the application it serves would (an `INSERT`, a form save, a file edit...).
///
/// The source checks of [`conformance::source`](super::source) use it to produce changes that
/// must then show up in [`changes_since`](crate::SourceOfTruth::changes_since). Each
/// implementation's test provides one; [`MemorySource`] and
/// [`FileStore`](crate::file::FileStore) implement it themselves.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use async_trait::async_trait;
/// use serde_json::Value;
/// use twenty_sync_core::conformance::{self, LocalEditor};
/// use twenty_sync_core::memory::MemorySource;
/// use twenty_sync_core::StoreResult;
///
/// // An editor for a source whose application writes through another path (here: the inner
/// // in-memory source stands in for an application's own writes).
/// struct AppWrites(MemorySource);
///
/// #[async_trait]
/// impl LocalEditor for AppWrites {
///     async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()> {
///         self.0.upsert(entity, key, data);
///         Ok(())
///     }
///     async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()> {
///         self.0.delete(entity, key);
///         Ok(())
///     }
/// }
///
/// let source = MemorySource::new();
/// conformance::source::run_all(&source, &AppWrites(source.clone())).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait LocalEditor: Send + Sync {
    /// Creates or replaces the local record `key` of `entity` with `data` (an object whose values
    /// are strings or numbers).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sync_core::conformance::LocalEditor;
    /// use twenty_sync_core::memory::MemorySource;
    ///
    /// let source = MemorySource::new();
    /// source.upsert_local("contacts", "c-1", json!({"name": "Ada", "rank": 1})).await?;
    /// assert_eq!(source.record("contacts", "c-1").unwrap().data["rank"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()>;

    /// Deletes the local record `key` of `entity`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sync_core::conformance::LocalEditor;
    /// use twenty_sync_core::file::FileStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = FileStore::open(dir.path())?;
    /// store.upsert_local("contacts", "c-1", json!({"name": "Ada"})).await?;
    /// store.delete_local("contacts", "c-1").await?;
    /// assert!(store.local_records("contacts")?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()>;
}

#[async_trait]
impl LocalEditor for MemorySource {
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()> {
        self.upsert(entity, key, data);
        Ok(())
    }

    async fn delete_local(&self, entity: &str, key: &str) -> StoreResult<()> {
        self.delete(entity, key);
        Ok(())
    }
}
