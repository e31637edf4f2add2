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
#[async_trait]
pub trait LocalEditor: Send + Sync {
    /// Creates or replaces the local record `key` of `entity` with `data` (an object whose values
    /// are strings or numbers).
    async fn upsert_local(&self, entity: &str, key: &str, data: Value) -> StoreResult<()>;

    /// Deletes the local record `key` of `entity`.
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
