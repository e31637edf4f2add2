//! The records API: one [`RecordsHandler`] per object, request builders ending in `.send()` / `.stream()`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = twenty_sim::SimConfig::new("sim-key").seed_people(3);
//! let sim = twenty_sim::SimServer::start(config).await?;
//! let key = secrecy::SecretString::from("sim-key");
//! let client = twenty_client::Client::builder(sim.base_url(), key).build()?;
//! use futures::TryStreamExt;
//! let page = client.people().list().limit(2).send().await?;
//! assert_eq!(page.records.len(), 2);
//! assert!(page.page_info.has_next_page);
//! // `.stream()` follows the cursors.
//! let everyone: Vec<_> = client.people().list().limit(2).stream().try_collect().await?;
//! assert_eq!(everyone.len(), 3);
//! # sim.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod delete;
mod fields;
mod isolate;
mod list;
mod write;

use std::marker::PhantomData;
use std::sync::Arc;

pub use delete::{DeleteMany, DeleteRecord, RestoreMany, RestoreRecord};
pub use fields::{ALWAYS_KEPT, FieldSelection, SelectedList};
pub use isolate::{MIN_SPLIT, Settled, Split, send_isolating};
pub use list::{GetRecord, ListRecords, Page, PageInfo};
pub use write::{CreateMany, CreateRecord, FindDuplicates, Isolated, UpdateMany, UpdateRecord};

use crate::client::Client;
use crate::filter::Filter;
use crate::model::Payload;

/// Operations on the records of one object (`client.people()`, `client.records("pets")` …).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::{model::{Emails, FullName, Person}, Filter};
/// let ada = Person {
///     name: Some(FullName { first_name: Some("Ada".into()), last_name: Some("Lovelace".into()) }),
///     emails: Some(Emails { primary_email: Some("ada@example.com".into()), additional_emails: None }),
///     ..Default::default()
/// };
/// let saved = client.people().create_many(vec![ada]).upsert(true).send().await?;
/// let id = saved[0].id.clone().unwrap_or_default();
/// client.people().update(&id, serde_json::json!({"jobTitle": "Analyst"})).send().await?;
/// client.people().soft_delete(&id).send().await?;
/// client.people().restore(&id).send().await?;
/// client.people().soft_delete_many(Filter::id(id)).send().await?;
/// assert_eq!(sim.handle().count("people"), 0);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct RecordsHandler<T> {
    pub(crate) client: Client,
    pub(crate) plural: Arc<str>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for RecordsHandler<T> {
    fn clone(&self) -> Self {
        RecordsHandler {
            client: self.client.clone(),
            plural: self.plural.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for RecordsHandler<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordsHandler")
            .field("object", &&*self.plural)
            .finish()
    }
}

impl<T: Payload> RecordsHandler<T> {
    pub(crate) fn new(client: Client, plural: &str) -> Self {
        RecordsHandler {
            client,
            plural: Arc::from(plural),
            _t: PhantomData,
        }
    }

    /// Plural API name of the object.
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .build()?;
    /// assert_eq!(client.people().object(), "people");
    /// assert_eq!(client.records("pets").object(), "pets");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn object(&self) -> &str {
        &self.plural
    }

    /// `GET /rest/{plural}` — list with filter, order, depth, limit and cursor pagination.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(10)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::OrderBy;
    /// let page = client.people().list().order_by(OrderBy::desc("createdAt")).limit(3).send().await?;
    /// assert_eq!(page.records.len(), 3);
    /// assert_eq!(page.total_count, Some(10));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn list(&self) -> ListRecords<T> {
        ListRecords::new(self.clone())
    }

    /// `GET /rest/{plural}/{id}`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// let ada = client.people().get(&id).send().await?;
    /// assert_eq!(ada.emails.and_then(|e| e.primary_email).as_deref(), Some("ada@example.com"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn get(&self, id: &str) -> GetRecord<T> {
        GetRecord::new(self.clone(), id)
    }

    /// `POST /rest/{plural}` (`?upsert=true` with `.upsert(true)`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{FullName, Person};
    /// let grace = Person {
    ///     name: Some(FullName { first_name: Some("Grace".into()), last_name: Some("Hopper".into()) }),
    ///     ..Default::default()
    /// };
    /// let saved = client.people().create(&grace).send().await?;
    /// assert!(saved.id.is_some() && saved.created_at.is_some());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn create(&self, record: &T) -> CreateRecord<T> {
        CreateRecord::new(self.clone(), record)
    }

    /// `POST /rest/batch/{plural}` in chunks of the client's batch size.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Company;
    /// let companies: Vec<Company> = (1..=3)
    ///     .map(|i| Company { name: Some(format!("Company {i}")), ..Default::default() })
    ///     .collect();
    /// let saved = client.companies().create_many(companies).send().await?;
    /// assert_eq!(saved[2].name.as_deref(), Some("Company 3"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn create_many(&self, records: Vec<T>) -> CreateMany<T> {
        CreateMany::new(self.clone(), records)
    }

    /// `PATCH /rest/{plural}/{id}` with a partial body (composite sub-fields merge server-side).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// let patch = serde_json::json!({"name": {"firstName": "Augusta"}});
    /// let updated = client.people().update(&id, patch).send().await?;
    /// let name = updated.name.unwrap();
    /// assert_eq!(name.first_name.as_deref(), Some("Augusta"));
    /// assert_eq!(name.last_name.as_deref(), Some("Lovelace"), "sub-fields merge");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn update(&self, id: &str, patch: serde_json::Value) -> UpdateRecord<T> {
        UpdateRecord::new(self.clone(), id, patch)
    }

    /// `PATCH /rest/{plural}?filter=…`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # for _ in 0..2 { sim.handle().insert_record("people", serde_json::json!({"jobTitle": "intern"})); }
    /// use twenty_client::Filter;
    /// let patch = serde_json::json!({"jobTitle": "Analyst"});
    /// let updated = client.people().update_many(Filter::field("jobTitle").eq("intern"), patch).send().await?;
    /// assert_eq!(updated.len(), 2);
    /// assert!(updated.iter().all(|p| p.job_title.as_deref() == Some("Analyst")));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn update_many(&self, filter: Filter, patch: serde_json::Value) -> UpdateMany<T> {
        UpdateMany::new(self.clone(), filter, patch)
    }

    /// `DELETE /rest/{plural}/{id}?soft_delete=true` (moves to the trash).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// assert_eq!(client.people().soft_delete(&id).send().await?, id);
    /// assert_eq!(sim.handle().count("people"), 0);
    /// assert_eq!(sim.handle().count_with_deleted("people"), 1, "still in the trash");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn soft_delete(&self, id: &str) -> DeleteRecord {
        DeleteRecord::new(self.client.clone(), self.plural.clone(), id, true)
    }

    /// `DELETE /rest/{plural}/{id}` (permanent).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// assert_eq!(client.people().destroy(&id).send().await?, id);
    /// assert_eq!(sim.handle().count_with_deleted("people"), 0, "gone for good");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn destroy(&self, id: &str) -> DeleteRecord {
        DeleteRecord::new(self.client.clone(), self.plural.clone(), id, false)
    }

    /// `DELETE /rest/{plural}?filter=…&soft_delete=true`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(4)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::Filter;
    /// let ids = client.people().soft_delete_many(Filter::field("deletedAt").is_null()).send().await?;
    /// assert_eq!(ids.len(), 4);
    /// assert_eq!(sim.handle().count_with_deleted("people"), 4);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn soft_delete_many(&self, filter: Filter) -> DeleteMany {
        DeleteMany::new(self.client.clone(), self.plural.clone(), filter, true)
    }

    /// `DELETE /rest/{plural}?filter=…` (permanent).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// use twenty_client::Filter;
    /// let ids = client.people().destroy_many(Filter::id(id.clone())).send().await?;
    /// assert_eq!(ids, [id]);
    /// assert!(sim.handle().records("people").is_empty());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn destroy_many(&self, filter: Filter) -> DeleteMany {
        DeleteMany::new(self.client.clone(), self.plural.clone(), filter, false)
    }

    /// `PATCH /rest/restore/{plural}/{id}`, falling back to the filter form on servers where that path 400s.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// client.people().soft_delete(&id).send().await?;
    /// let back = client.people().restore(&id).send().await?;
    /// assert!(back.deleted_at.is_none());
    /// assert_eq!(sim.handle().count("people"), 1);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn restore(&self, id: &str) -> RestoreRecord<T> {
        RestoreRecord::new(self.clone(), id)
    }

    /// `PATCH /rest/restore/{plural}?filter=…`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::Filter;
    /// let people = client.people();
    /// people.soft_delete_many(Filter::field("deletedAt").is_null()).send().await?;
    /// let restored = people.restore_many(Filter::field("deletedAt").is_not_null()).send().await?;
    /// assert_eq!(restored.len(), 3);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn restore_many(&self, filter: Filter) -> RestoreMany<T> {
        RestoreMany::new(self.clone(), filter)
    }

    /// `POST /rest/{plural}/duplicates` for existing record ids.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada@example.com"}}))["id"].as_str().unwrap().to_owned();
    /// # sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
    /// let pages = client.people().find_duplicates_by_ids([id.as_str()]).send().await?;
    /// assert_eq!(pages.len(), 1, "one page per id");
    /// assert_eq!(pages[0].records.len(), 1, "the other Ada Lovelace");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn find_duplicates_by_ids<I, S>(&self, ids: I) -> FindDuplicates<T>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        FindDuplicates::by_ids(self.clone(), ids.into_iter().map(Into::into).collect())
    }

    /// `POST /rest/{plural}/duplicates` for candidate records not yet saved.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Emails, Person};
    /// # sim.handle().insert_record("people", serde_json::json!({"emails": {"primaryEmail": "ada@example.com"}}));
    /// let candidate = Person {
    ///     emails: Some(Emails { primary_email: Some("ADA@example.com".into()), additional_emails: None }),
    ///     ..Default::default()
    /// };
    /// let pages = client.people().find_duplicates(vec![candidate]).send().await?;
    /// assert_eq!(pages[0].records.len(), 1, "already in the CRM: update it instead");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn find_duplicates(&self, records: Vec<T>) -> FindDuplicates<T> {
        FindDuplicates::by_data(self.clone(), records)
    }
}
