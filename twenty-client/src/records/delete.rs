//! Soft delete, destroy and restore (one and many).

use std::sync::Arc;

use reqwest::Method;

use super::RecordsHandler;
use crate::client::Client;
use crate::envelope::{Data, IdOnly};
use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::model::Payload;
use crate::transport::Call;

/// Builder of `DELETE /rest/{plural}/{id}` (`?soft_delete=true` for the trash).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
/// use twenty_client::records::DeleteRecord;
/// let request: DeleteRecord = client.people().soft_delete(&id);
/// assert_eq!(request.send().await?, id);
/// assert!(sim.handle().record("people", &id).unwrap()["deletedAt"].is_string());
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct DeleteRecord {
    client: Client,
    plural: Arc<str>,
    id: String,
    soft: bool,
}

impl DeleteRecord {
    pub(crate) fn new(client: Client, plural: Arc<str>, id: &str, soft: bool) -> Self {
        DeleteRecord {
            client,
            plural,
            id: id.to_owned(),
            soft,
        }
    }
    /// Send; the id of the deleted record.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// use twenty_client::ErrorKind;
    /// client.people().destroy(&id).send().await?;
    /// // Deleting it again: there is nothing left.
    /// let err = client.people().destroy(&id).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::NotFound);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<String, Error> {
        let op = if self.soft {
            "records.soft_delete"
        } else {
            "records.destroy"
        };
        let mut url = self.client.url(&["rest", &self.plural, &self.id]);
        if self.soft {
            url.query_pairs_mut().append_pair("soft_delete", "true");
        }
        let call = Call::new(Method::DELETE, url, op)
            .context("object", &*self.plural)
            .context("id", &self.id);
        let env: Data<IdOnly> = self.client.send_json(&call).await?;
        Ok(env.data.0.id)
    }
}

/// Builder of `DELETE /rest/{plural}?filter=…` (`&soft_delete=true` for the trash).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # for s in ["DONE", "DONE", "TODO"] { sim.handle().insert_record("tasks", serde_json::json!({"status": s})); }
/// use twenty_client::{records::DeleteMany, Filter};
/// let request: DeleteMany = client.tasks().destroy_many(Filter::field("status").eq("DONE"));
/// assert_eq!(request.send().await?.len(), 2);
/// assert_eq!(sim.handle().count_with_deleted("tasks"), 1);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct DeleteMany {
    client: Client,
    plural: Arc<str>,
    filter: Filter,
    soft: bool,
}

impl DeleteMany {
    pub(crate) fn new(client: Client, plural: Arc<str>, filter: Filter, soft: bool) -> Self {
        DeleteMany {
            client,
            plural,
            filter,
            soft,
        }
    }
    /// Send; the ids of the deleted records.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let ids: Vec<String> = (0..3).map(|_| sim.handle().insert_record("notes", serde_json::json!({}))["id"].as_str().unwrap().to_owned()).collect();
    /// use twenty_client::Filter;
    /// let mut deleted = client.notes().soft_delete_many(Filter::field("id").in_(&ids[..2])).send().await?;
    /// deleted.sort();
    /// let mut expected = ids[..2].to_vec();
    /// expected.sort();
    /// assert_eq!(deleted, expected);
    /// assert_eq!(sim.handle().count("notes"), 1);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Vec<String>, Error> {
        let op = if self.soft {
            "records.soft_delete_many"
        } else {
            "records.destroy_many"
        };
        self.filter
            .validate()
            .map_err(|e| e.with_operation(op).with_context("object", &*self.plural))?;
        let mut url = self.client.url(&["rest", &self.plural]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("filter", &self.filter.to_query_string());
            if self.soft {
                q.append_pair("soft_delete", "true");
            }
        }
        let call = Call::new(Method::DELETE, url, op).context("object", &*self.plural);
        let env: Data<Vec<IdOnly>> = self.client.send_json(&call).await?;
        Ok(env.data.0.into_iter().map(|r| r.id).collect())
    }
}

/// Builder of `PATCH /rest/restore/{plural}/{id}`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
/// use twenty_client::{model::Person, records::RestoreRecord};
/// client.people().soft_delete(&id).send().await?;
/// let request: RestoreRecord<Person> = client.people().restore(&id);
/// assert_eq!(request.send().await?.id.as_deref(), Some(id.as_str()));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct RestoreRecord<T> {
    handler: RecordsHandler<T>,
    id: String,
}

impl<T: Payload> RestoreRecord<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, id: &str) -> Self {
        RestoreRecord {
            handler,
            id: id.to_owned(),
        }
    }
    /// Send; the restored record. On servers whose by-id restore path answers 400 (2.21.0), the client
    /// retries once with `PATCH /rest/restore/{plural}?filter=id[eq]:"<id>"`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// use twenty_client::ErrorKind;
    /// // Not in the trash: nothing to restore.
    /// let err = client.people().restore(&id).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::NotFound);
    /// client.people().soft_delete(&id).send().await?;
    /// assert!(client.people().restore(&id).send().await?.deleted_at.is_none());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<T, Error> {
        let op = "records.restore";
        let client = &self.handler.client;
        let url = client.url(&["rest", "restore", &self.handler.plural, &self.id]);
        let call = Call::new(Method::PATCH, url, op)
            .context("object", &*self.handler.plural)
            .context("id", &self.id);
        match client.send_json::<Data<T>>(&call).await {
            Ok(env) => Ok(env.data.0),
            Err(e) if matches!(e.kind(), ErrorKind::Validation { .. }) => {
                tracing::debug!(error = %e, "restore by id refused; falling back to restore by filter");
                let mut restored =
                    RestoreMany::new(self.handler.clone(), Filter::id(self.id.clone()))
                        .send()
                        .await
                        .map_err(|e| e.with_context("id", self.id.clone()))?;
                match restored.pop() {
                    Some(r) => Ok(r),
                    None => Err(Error::new(
                        ErrorKind::NotFound,
                        "no soft-deleted record with this id to restore",
                    )
                    .with_operation(op)
                    .with_context("object", &*self.handler.plural)
                    .with_context("id", self.id.clone())),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// Builder of `PATCH /rest/restore/{plural}?filter=…`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(2)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::{model::Person, records::RestoreMany, Filter};
/// client.people().soft_delete_many(Filter::field("deletedAt").is_null()).send().await?;
/// let request: RestoreMany<Person> = client.people().restore_many(Filter::field("deletedAt").is_not_null());
/// assert_eq!(request.send().await?.len(), 2);
/// assert_eq!(sim.handle().count("people"), 2);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct RestoreMany<T> {
    handler: RecordsHandler<T>,
    filter: Filter,
}

impl<T: Payload> RestoreMany<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, filter: Filter) -> Self {
        RestoreMany { handler, filter }
    }
    /// Send; the restored records.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// use twenty_client::Filter;
    /// client.people().soft_delete(&id).send().await?;
    /// // Matches trashed records only: restoring a live one returns nothing.
    /// let none = client.people().restore_many(Filter::field("deletedAt").is_null()).send().await?;
    /// assert!(none.is_empty());
    /// let restored = client.people().restore_many(Filter::id(id.clone())).send().await?;
    /// assert_eq!(restored[0].id.as_deref(), Some(id.as_str()));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Vec<T>, Error> {
        let op = "records.restore_many";
        self.filter.validate().map_err(|e| {
            e.with_operation(op)
                .with_context("object", &*self.handler.plural)
        })?;
        let mut url = self
            .handler
            .client
            .url(&["rest", "restore", &self.handler.plural]);
        url.query_pairs_mut()
            .append_pair("filter", &self.filter.to_query_string());
        let call = Call::new(Method::PATCH, url, op).context("object", &*self.handler.plural);
        let env: Data<Vec<T>> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }
}
