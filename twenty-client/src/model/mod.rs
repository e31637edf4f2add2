//! Typed model of Twenty's standard objects and composite field types.
//!
//! Each object keeps the fields it does not type (custom ones included) in `extra`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
//! let key = secrecy::SecretString::from("sim-key");
//! let client = twenty_client::Client::builder(sim.base_url(), key).build()?;
//! use twenty_client::model::{FullName, Person};
//! let ada = Person {
//!     name: Some(FullName { first_name: Some("Ada".into()), last_name: None }),
//!     job_title: Some("Analyst".into()),
//!     ..Default::default()
//! };
//! let saved: Person = client.people().create(&ada).send().await?;
//! assert!(saved.id.is_some());
//! assert_eq!(saved.job_title.as_deref(), Some("Analyst"));
//! # sim.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

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
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Anything that can travel as a record body: the typed objects, [`crate::Record`], or your own types.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use serde::{Deserialize, Serialize};
/// /// Your own shape of a person: only the fields you use.
/// #[derive(Serialize, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Contact {
///     #[serde(skip_serializing_if = "Option::is_none")]
///     id: Option<String>,
///     job_title: String,
/// }
/// let saved: Contact = client.records_as::<Contact>("people")
///     .create(&Contact { id: None, job_title: "Engineer".into() }).send().await?;
/// assert!(saved.id.is_some());
/// assert_eq!(saved.job_title, "Engineer");
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
    ///
    /// ```
    /// use twenty_client::model::{Company, TwentyObject};
    /// fn describe<T: TwentyObject>(record: &T) -> String {
    ///     format!("{}/{}", T::NAME_PLURAL, record.id().unwrap_or("(new)"))
    /// }
    /// let acme: Company = serde_json::from_value(serde_json::json!({"id": "3f2a", "name": "Acme"}))?;
    /// assert_eq!(describe(&acme), "companies/3f2a");
    /// assert_eq!(describe(&Company::default()), "companies/(new)");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    fn id(&self) -> Option<&str>;
    /// `updatedAt`.
    ///
    /// ```
    /// use twenty_client::model::{Person, TwentyObject};
    /// let p: Person = serde_json::from_value(serde_json::json!(
    ///     {"id": "p1", "updatedAt": "2026-11-22T19:46:37.441Z"}
    /// ))?;
    /// assert_eq!(p.updated_at().unwrap().timestamp_millis(), 1_795_376_797_441);
    /// assert_eq!(Person::default().updated_at(), None);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    fn updated_at(&self) -> Option<DateTime<Utc>>;
    /// `deletedAt`.
    ///
    /// ```
    /// use twenty_client::model::{Note, TwentyObject};
    /// let trashed: Note = serde_json::from_value(serde_json::json!(
    ///     {"id": "n1", "deletedAt": "2026-11-22T19:46:37.441Z"}
    /// ))?;
    /// let live: Note = serde_json::from_value(serde_json::json!({"id": "n2", "deletedAt": null}))?;
    /// assert!(trashed.deleted_at().is_some() && live.deleted_at().is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    fn deleted_at(&self) -> Option<DateTime<Utc>>;
}
