//! The records API: one [`RecordsHandler`] per object, request builders ending in `.send()` / `.stream()`.

mod delete;
mod fields;
mod list;
mod write;

use std::marker::PhantomData;
use std::sync::Arc;

pub use delete::{DeleteMany, DeleteRecord, RestoreMany, RestoreRecord};
pub use fields::{FieldSelection, SelectedList, ALWAYS_KEPT};
pub use list::{GetRecord, ListRecords, Page, PageInfo};
pub use write::{CreateMany, CreateRecord, FindDuplicates, UpdateMany, UpdateRecord};

use crate::client::Client;
use crate::filter::Filter;
use crate::model::Payload;

/// Operations on the records of one object (`client.people()`, `client.records("pets")` …).
///
/// ```no_run
/// # async fn run(client: twenty_client::Client) -> Result<(), twenty_client::Error> {
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
/// # Ok(()) }
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
    pub fn object(&self) -> &str {
        &self.plural
    }

    /// `GET /rest/{plural}` — list with filter, order, depth, limit and cursor pagination.
    pub fn list(&self) -> ListRecords<T> {
        ListRecords::new(self.clone())
    }

    /// `GET /rest/{plural}/{id}`.
    pub fn get(&self, id: &str) -> GetRecord<T> {
        GetRecord::new(self.clone(), id)
    }

    /// `POST /rest/{plural}` (`?upsert=true` with `.upsert(true)`).
    pub fn create(&self, record: &T) -> CreateRecord<T> {
        CreateRecord::new(self.clone(), record)
    }

    /// `POST /rest/batch/{plural}` in chunks of the client's batch size.
    pub fn create_many(&self, records: Vec<T>) -> CreateMany<T> {
        CreateMany::new(self.clone(), records)
    }

    /// `PATCH /rest/{plural}/{id}` with a partial body (composite sub-fields merge server-side).
    pub fn update(&self, id: &str, patch: serde_json::Value) -> UpdateRecord<T> {
        UpdateRecord::new(self.clone(), id, patch)
    }

    /// `PATCH /rest/{plural}?filter=…`.
    pub fn update_many(&self, filter: Filter, patch: serde_json::Value) -> UpdateMany<T> {
        UpdateMany::new(self.clone(), filter, patch)
    }

    /// `DELETE /rest/{plural}/{id}?soft_delete=true` (moves to the trash).
    pub fn soft_delete(&self, id: &str) -> DeleteRecord {
        DeleteRecord::new(self.client.clone(), self.plural.clone(), id, true)
    }

    /// `DELETE /rest/{plural}/{id}` (permanent).
    pub fn destroy(&self, id: &str) -> DeleteRecord {
        DeleteRecord::new(self.client.clone(), self.plural.clone(), id, false)
    }

    /// `DELETE /rest/{plural}?filter=…&soft_delete=true`.
    pub fn soft_delete_many(&self, filter: Filter) -> DeleteMany {
        DeleteMany::new(self.client.clone(), self.plural.clone(), filter, true)
    }

    /// `DELETE /rest/{plural}?filter=…` (permanent).
    pub fn destroy_many(&self, filter: Filter) -> DeleteMany {
        DeleteMany::new(self.client.clone(), self.plural.clone(), filter, false)
    }

    /// `PATCH /rest/restore/{plural}/{id}`, falling back to the filter form on servers where that path 400s.
    pub fn restore(&self, id: &str) -> RestoreRecord<T> {
        RestoreRecord::new(self.clone(), id)
    }

    /// `PATCH /rest/restore/{plural}?filter=…`.
    pub fn restore_many(&self, filter: Filter) -> RestoreMany<T> {
        RestoreMany::new(self.clone(), filter)
    }

    /// `POST /rest/{plural}/duplicates` for existing record ids.
    pub fn find_duplicates_by_ids<I, S>(&self, ids: I) -> FindDuplicates<T>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        FindDuplicates::by_ids(self.clone(), ids.into_iter().map(Into::into).collect())
    }

    /// `POST /rest/{plural}/duplicates` for candidate records not yet saved.
    pub fn find_duplicates(&self, records: Vec<T>) -> FindDuplicates<T> {
        FindDuplicates::by_data(self.clone(), records)
    }
}
