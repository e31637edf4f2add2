//! Typed model of Twenty's standard objects and composite field types.

mod composite;
mod objects;
pub(crate) use objects::Key;

pub use composite::{
    Actor, AdditionalPhone, Address, Currency, Emails, FileRef, FullName, LinkItem, Links, Phones,
    RichTextV2,
};
pub use objects::{
    Company, Note, NoteTarget, Opportunity, Person, Task, TaskTarget, WorkspaceMember,
};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Anything that can travel as a record body: the typed objects, [`crate::Record`], or your own types.
pub trait Payload: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static> Payload for T {}

/// A standard Twenty object with known API names.
///
/// ```
/// use twenty_client::model::{Person, TwentyObject};
/// assert_eq!(Person::NAME_PLURAL, "people");
/// assert_eq!(Person::NAME_SINGULAR, "person");
/// ```
pub trait TwentyObject: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Singular API name (`person`).
    const NAME_SINGULAR: &'static str;
    /// Plural API name, used in URLs (`people`).
    const NAME_PLURAL: &'static str;
    /// Record id.
    fn id(&self) -> Option<&str>;
    /// `updatedAt`.
    fn updated_at(&self) -> Option<DateTime<Utc>>;
    /// `deletedAt`.
    fn deleted_at(&self) -> Option<DateTime<Utc>>;
}
