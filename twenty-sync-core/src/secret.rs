//! The [`SecretProvider`] trait: resolve a named secret (API keys, connection strings).

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::StoreResult;

/// Resolves secrets by name.
///
/// Implementations never log or return the secret in an error; `describe` names the provider
/// (e.g. `"environment"`), never a value. A provider that does not know a name answers
/// `Ok(None)`, so providers can be chained; errors are for failures (unreadable file, secret
/// manager down).
#[async_trait]
pub trait SecretProvider: Send + Sync + std::fmt::Debug {
    /// A short description for messages, e.g. `"environment variables"`.
    fn describe(&self) -> String;

    /// The secret called `name`, or `None` if this provider does not have it.
    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>>;
}

#[async_trait]
impl<T: SecretProvider + ?Sized> SecretProvider for std::sync::Arc<T> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        (**self).resolve(name).await
    }
}
