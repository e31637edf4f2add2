//! Create (single, batch, upsert), update (one, many by filter) and duplicate search.

use reqwest::Method;
use serde::Deserialize;

use super::isolate::{Split, send_isolating};
use super::{Page, PageInfo, RecordsHandler};
use crate::envelope::Data;
use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::model::Payload;
use crate::transport::{Call, decode};

fn body_of<T: Payload>(record: &T, op: &'static str) -> Result<(Vec<u8>, Option<String>), Error> {
    let value = serde_json::to_value(record).map_err(|e| {
        Error::config(format!("could not serialise the record: {e}")).with_operation(op)
    })?;
    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let bytes = serde_json::to_vec(&value).map_err(|e| {
        Error::config(format!("could not serialise the record: {e}")).with_operation(op)
    })?;
    Ok((bytes, id))
}

/// Builder of `POST /rest/{plural}` (one record).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::model::Company;
/// use twenty_client::records::CreateRecord;
/// let acme = Company { name: Some("Acme".into()), employees: Some(12.0), ..Default::default() };
/// let request: CreateRecord<Company> = client.companies().create(&acme);
/// let saved = request.send().await?;
/// assert_eq!(saved.employees, Some(12.0));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct CreateRecord<T> {
    handler: RecordsHandler<T>,
    body: Result<(Vec<u8>, Option<String>), Error>,
    upsert: bool,
}

impl<T: Payload> CreateRecord<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, record: &T) -> Self {
        CreateRecord {
            handler,
            body: body_of(record, "records.create"),
            upsert: false,
        }
    }
    /// `?upsert=true`: update the record matching on `id` or a unique field (reviving it if soft-deleted)
    /// instead of failing. Several matches give [`ErrorKind::Conflict`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Emails, Person};
    /// let with_email = |title: &str| Person {
    ///     emails: Some(Emails { primary_email: Some("ada@example.com".into()), additional_emails: None }),
    ///     job_title: Some(title.into()),
    ///     ..Default::default()
    /// };
    /// let first = client.people().create(&with_email("Analyst")).send().await?;
    /// // Same unique email: the upsert updates the existing person.
    /// let again = client.people().create(&with_email("Director")).upsert(true).send().await?;
    /// assert_eq!(again.id, first.id);
    /// assert_eq!(again.job_title.as_deref(), Some("Director"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn upsert(mut self, upsert: bool) -> Self {
        self.upsert = upsert;
        self
    }
    /// Send. A plain create is never retried after an ambiguous failure (it could create a duplicate);
    /// an upsert is.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::{model::{Emails, Person}, ErrorKind};
    /// let ada = Person {
    ///     emails: Some(Emails { primary_email: Some("ada@example.com".into()), additional_emails: None }),
    ///     ..Default::default()
    /// };
    /// client.people().create(&ada).send().await?;
    /// // A second plain create with the same unique email is refused.
    /// let err = client.people().create(&ada).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Conflict);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<T, Error> {
        let op = if self.upsert {
            "records.upsert"
        } else {
            "records.create"
        };
        let (bytes, id) = self.body?;
        let mut url = self.handler.client.url(&["rest", &self.handler.plural]);
        if self.upsert {
            url.query_pairs_mut().append_pair("upsert", "true");
        }
        let mut call = Call::new(Method::POST, url, op)
            .idempotent(self.upsert)
            .context("object", &*self.handler.plural);
        if let Some(id) = id {
            call = call.context("id", id);
        }
        call.body = Some(bytes);
        let env: Data<T> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }
}

/// Builder of `POST /rest/batch/{plural}`, chunked to the client's batch size.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::{model::Task, records::CreateMany};
/// let tasks: Vec<Task> = (0..5)
///     .map(|i| Task { title: Some(format!("Task {i}")), ..Default::default() })
///     .collect();
/// let request: CreateMany<Task> = client.tasks().create_many(tasks);
/// assert_eq!(request.send().await?.len(), 5);
/// assert_eq!(sim.handle().count("tasks"), 5);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct CreateMany<T> {
    handler: RecordsHandler<T>,
    records: Vec<T>,
    upsert: bool,
    batch_size: usize,
}

impl<T: Payload> CreateMany<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, records: Vec<T>) -> Self {
        let batch_size = handler.client.batch_size();
        CreateMany {
            handler,
            records,
            upsert: false,
            batch_size,
        }
    }
    /// `?upsert=true` (see [`CreateRecord::upsert`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Company;
    /// let named = |n: &str| Company { name: Some(n.into()), ..Default::default() };
    /// let saved = client.companies().create_many(vec![named("Acme"), named("Globex")]).send().await?;
    /// // Re-sending with the ids updates the same records instead of creating new ones.
    /// let again: Vec<Company> = saved
    ///     .iter()
    ///     .map(|c| Company { id: c.id.clone(), employees: Some(5.0), ..Default::default() })
    ///     .collect();
    /// let updated = client.companies().create_many(again).upsert(true).send().await?;
    /// assert_eq!(updated[0].id, saved[0].id);
    /// assert_eq!(updated[0].name.as_deref(), Some("Acme"), "fields not sent are kept");
    /// assert_eq!(sim.handle().count("companies"), 2);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn upsert(mut self, upsert: bool) -> Self {
        self.upsert = upsert;
        self
    }
    /// Override the chunk size for this call (1..=200).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Note;
    /// let notes: Vec<Note> = (0..7).map(|_| Note::default()).collect();
    /// client.notes().create_many(notes).batch_size(3).send().await?;
    /// assert_eq!(client.stats().requests, 3, "3 + 3 + 1");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.clamp(1, crate::config::MAX_BATCH_SIZE);
        self
    }
    /// Send every chunk in order; the records as the server returned them, in input order.
    ///
    /// If a chunk fails, earlier chunks are already saved: the error's context says how many
    /// (`saved_before_failure`) and which input range failed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::{model::{Emails, Person}, ErrorKind};
    /// let person = |email: &str| Person {
    ///     emails: Some(Emails { primary_email: Some(email.into()), additional_emails: None }),
    ///     ..Default::default()
    /// };
    /// let batch = vec![person("a@example.com"), person("b@example.com"), person("a@example.com")];
    /// // The third record clashes with the first one, in the second chunk.
    /// let err = client.people().create_many(batch).batch_size(2).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Conflict);
    /// assert!(err.context().contains(&("saved_before_failure", "2".to_string())));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Vec<T>, Error> {
        let mut out = Vec::with_capacity(self.records.len());
        let mut start = 0usize;
        for chunk in self.records.chunks(self.batch_size) {
            let end = start + chunk.len();
            let saved = self.post(chunk).await.map_err(|e| {
                e.with_context("records", format!("{start}..{end}"))
                    .with_context("saved_before_failure", out.len().to_string())
            })?;
            start = end;
            out.extend(saved);
        }
        Ok(out)
    }

    /// Send every chunk, all at once, and find the records Twenty refuses instead of stopping
    /// at the first: a rejected chunk is sent again as its halves, down to the records it
    /// refuses, which are then sent alone for Twenty's reason ([`send_isolating`], with
    /// [`Split::WhileSparse`]).
    ///
    /// A failure that is not about the records ([`Error::is_record_level`]: the key, the
    /// network, a rate limit after the retries) stops the call; the chunks Twenty accepted
    /// before it are saved, and the error says how many records they held
    /// (`accepted_before_failure`). A refused record may have been sent several times (in its
    /// chunk, its halves, alone): Twenty writes a batch all or nothing, so none of those wrote
    /// it; with [`upsert`](Self::upsert) and ids, sending a record again is harmless anyway. An
    /// answer that does not hold one record per record sent counts as a refusal of its batch (a
    /// `Decode` error), since it cannot say which record is which.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::{model::{Emails, Person}, ErrorKind};
    /// let person = |email: &str| Person {
    ///     emails: Some(Emails { primary_email: Some(email.into()), additional_emails: None }),
    ///     ..Default::default()
    /// };
    /// client.people().create(&person("taken@example.com")).send().await?;
    /// let mut batch: Vec<Person> =
    ///     (0..40).map(|i| person(&format!("lead{i}@example.com"))).collect();
    /// batch[25] = person("taken@example.com");
    /// let outcome = client.people().create_many(batch).send_isolating().await?;
    /// assert_eq!(outcome.saved.len(), 39);
    /// let (index, why) = &outcome.refused[0];
    /// assert_eq!((*index, why.kind()), (25, &ErrorKind::Conflict));
    /// assert_eq!(sim.handle().count("people"), 40);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_isolating(self) -> Result<Isolated<T>, Error> {
        let records = &self.records;
        let settled = send_isolating(records, self.batch_size, Split::WhileSparse, |chunk| {
            self.post_counted(chunk)
        })
        .await?;
        let mut saved = Vec::with_capacity(records.len());
        for (range, answer) in settled.accepted {
            saved.extend(range.zip(answer));
        }
        let mut refused = Vec::new();
        for i in settled.alone {
            match self.post_counted(std::slice::from_ref(&records[i])).await {
                Ok(answer) => saved.extend(std::iter::repeat(i).zip(answer)),
                Err(e) => {
                    let e = e.with_context("records", format!("{i}..{}", i + 1));
                    if !e.is_record_level() {
                        let accepted = saved.len().to_string();
                        return Err(e.with_context("accepted_before_failure", accepted));
                    }
                    refused.push((i, e));
                }
            }
        }
        saved.sort_unstable_by_key(|(i, _)| *i);
        Ok(Isolated { saved, refused })
    }

    /// One `POST /rest/batch/{plural}` of `chunk`: Twenty's answer, one record per record sent,
    /// in order.
    async fn post(&self, chunk: &[T]) -> Result<Vec<T>, Error> {
        let op = self.operation();
        let mut url = self
            .handler
            .client
            .url(&["rest", "batch", &self.handler.plural]);
        if self.upsert {
            url.query_pairs_mut().append_pair("upsert", "true");
        }
        let call = Call::new(Method::POST, url, op)
            .idempotent(self.upsert)
            .context("object", &*self.handler.plural)
            .json(chunk)?;
        let env: Data<Vec<T>> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }

    /// [`post`](Self::post), for [`send_isolating`](Self::send_isolating): an answer that does
    /// not hold one record per record sent cannot say which record is which, so the batch counts
    /// as refused (a `Decode` error, about the records: its halves go again).
    async fn post_counted(&self, chunk: &[T]) -> Result<Vec<T>, Error> {
        let answer = self.post(chunk).await?;
        if answer.len() == chunk.len() {
            return Ok(answer);
        }
        Err(Error::new(
            ErrorKind::Decode {
                path: "data".into(),
            },
            format!(
                "Twenty answered {} record(s) to a batch of {}",
                answer.len(),
                chunk.len()
            ),
        )
        .with_operation(self.operation())
        .with_context("object", &*self.handler.plural))
    }

    fn operation(&self) -> &'static str {
        if self.upsert {
            "records.upsert_many"
        } else {
            "records.create_many"
        }
    }
}

/// What [`CreateMany::send_isolating`] settled: every record of the call is either saved or
/// refused, each with its index in the records given to
/// [`create_many`](RecordsHandler::create_many).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::{model::Company, records::Isolated};
/// let named = |n: &str| Company { name: Some(n.into()), ..Default::default() };
/// let outcome: Isolated<Company> =
///     client.companies().create_many(vec![named("Acme"), named("Globex")]).send_isolating().await?;
/// assert_eq!(outcome.saved[1].0, 1);
/// assert_eq!(outcome.saved[1].1.name.as_deref(), Some("Globex"));
/// assert!(outcome.refused.is_empty());
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Isolated<T> {
    /// The records as Twenty saved them, each with its index in the input, in input order.
    pub saved: Vec<(usize, T)>,
    /// The records Twenty refused, each with its index in the input and Twenty's answer to it
    /// sent alone, in input order.
    pub refused: Vec<(usize, Error)>,
}

/// Builder of `PATCH /rest/{plural}/{id}`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let id = sim.handle().insert_record("companies", serde_json::json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
/// use twenty_client::{model::Company, records::UpdateRecord};
/// let request: UpdateRecord<Company> =
///     client.companies().update(&id, serde_json::json!({"employees": 50}));
/// let updated = request.send().await?;
/// assert_eq!(updated.employees, Some(50.0));
/// assert_eq!(updated.name.as_deref(), Some("Acme"));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UpdateRecord<T> {
    handler: RecordsHandler<T>,
    id: String,
    patch: serde_json::Value,
}

impl<T: Payload> UpdateRecord<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, id: &str, patch: serde_json::Value) -> Self {
        UpdateRecord {
            handler,
            id: id.to_owned(),
            patch,
        }
    }
    /// Send; the updated record.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({"jobTitle": "CTO"}))["id"].as_str().unwrap().to_owned();
    /// let before = client.people().get(&id).send().await?;
    /// let after = client.people().update(&id, serde_json::json!({"jobTitle": "CEO"})).send().await?;
    /// assert_eq!(after.job_title.as_deref(), Some("CEO"));
    /// assert!(after.updated_at > before.updated_at);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<T, Error> {
        let url = self
            .handler
            .client
            .url(&["rest", &self.handler.plural, &self.id]);
        let call = Call::new(Method::PATCH, url, "records.update")
            .context("object", &*self.handler.plural)
            .context("id", &self.id)
            .json(&self.patch)?;
        let env: Data<T> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }
}

/// Builder of `PATCH /rest/{plural}?filter=…`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # for s in ["TODO", "TODO", "DONE"] { sim.handle().insert_record("tasks", serde_json::json!({"status": s})); }
/// use twenty_client::{model::Task, records::UpdateMany, Filter};
/// let request: UpdateMany<Task> = client
///     .tasks()
///     .update_many(Filter::field("status").eq("TODO"), serde_json::json!({"status": "IN_PROGRESS"}));
/// assert_eq!(request.send().await?.len(), 2);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UpdateMany<T> {
    handler: RecordsHandler<T>,
    filter: Filter,
    patch: serde_json::Value,
}

impl<T: Payload> UpdateMany<T> {
    pub(crate) fn new(
        handler: RecordsHandler<T>,
        filter: Filter,
        patch: serde_json::Value,
    ) -> Self {
        UpdateMany {
            handler,
            filter,
            patch,
        }
    }
    /// Send; the updated records.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::{ErrorKind, Filter};
    /// let patch = serde_json::json!({"jobTitle": "CEO"});
    /// // A filter that cannot be encoded is refused before any request.
    /// let err = client.people().update_many(Filter::field("name.lastName").eq("O'Brien"), patch).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Config);
    /// assert_eq!(client.stats().requests, 0);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Vec<T>, Error> {
        let op = "records.update_many";
        self.filter.validate().map_err(|e| {
            e.with_operation(op)
                .with_context("object", &*self.handler.plural)
        })?;
        let mut url = self.handler.client.url(&["rest", &self.handler.plural]);
        url.query_pairs_mut()
            .append_pair("filter", &self.filter.to_query_string());
        let call = Call::new(Method::PATCH, url, op)
            .context("object", &*self.handler.plural)
            .json(&self.patch)?;
        let env: Data<Vec<T>> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }
}

/// Builder of `POST /rest/{plural}/duplicates`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # for _ in 0..2 { sim.handle().insert_record("companies", serde_json::json!({"name": "Acme"})); }
/// use twenty_client::{model::Company, records::FindDuplicates};
/// let candidate = Company { name: Some("ACME".into()), ..Default::default() };
/// let request: FindDuplicates<Company> = client.companies().find_duplicates(vec![candidate]);
/// let pages = request.send().await?;
/// assert_eq!(pages[0].total_count, Some(2));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct FindDuplicates<T> {
    handler: RecordsHandler<T>,
    body: Result<serde_json::Value, Error>,
}

#[derive(Deserialize)]
struct DuplicatesEnvelope {
    data: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl<T: Payload> FindDuplicates<T> {
    pub(crate) fn by_ids(handler: RecordsHandler<T>, ids: Vec<String>) -> Self {
        FindDuplicates {
            handler,
            body: Ok(serde_json::json!({ "ids": ids })),
        }
    }
    pub(crate) fn by_data(handler: RecordsHandler<T>, records: Vec<T>) -> Self {
        let body = serde_json::to_value(&records)
            .map(|data| serde_json::json!({ "data": data }))
            .map_err(|e| {
                Error::config(format!("could not serialise the records: {e}"))
                    .with_operation("records.find_duplicates")
            });
        FindDuplicates { handler, body }
    }
    /// Send; one page of duplicates per input, in input order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let h = sim.handle();
    /// # let id = h.insert_record("companies", serde_json::json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
    /// # h.insert_record("companies", serde_json::json!({"name": "ACME"}));
    /// # let unique = h.insert_record("companies", serde_json::json!({"name": "Globex"}))["id"].as_str().unwrap().to_owned();
    /// let pages = client.companies().find_duplicates_by_ids([id, unique]).send().await?;
    /// assert_eq!(pages.len(), 2);
    /// assert_eq!(pages[0].records[0].name.as_deref(), Some("ACME"));
    /// assert!(pages[1].records.is_empty());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Vec<Page<T>>, Error> {
        let op = "records.find_duplicates";
        let body = self.body?;
        let url = self
            .handler
            .client
            .url(&["rest", &self.handler.plural, "duplicates"]);
        // A read-only search: safe to retry.
        let call = Call::new(Method::POST, url, op)
            .idempotent(true)
            .context("object", &*self.handler.plural)
            .json(&body)?;
        let raw = self.handler.client.send_raw(&call).await?;
        let env: DuplicatesEnvelope = decode(&raw).map_err(|e| e.with_operation(op))?;
        env.data
            .into_iter()
            .enumerate()
            .map(|(i, mut entry)| {
                let total_count = entry.get("totalCount").and_then(|v| v.as_u64());
                let page_info = entry
                    .remove("pageInfo")
                    .map(serde_json::from_value::<PageInfo>)
                    .transpose()
                    .map_err(|e| decode_err(op, format!("data[{i}].pageInfo"), e))?
                    .unwrap_or_default();
                let key = entry
                    .iter()
                    .find(|(k, v)| k.ends_with("Duplicates") && v.is_array())
                    .map(|(k, _)| k.clone());
                let records = match key.and_then(|k| entry.remove(&k)) {
                    Some(v) => serde_json::from_value::<Vec<T>>(v)
                        .map_err(|e| decode_err(op, format!("data[{i}].<object>Duplicates"), e))?,
                    None => Vec::new(),
                };
                Ok(Page {
                    records,
                    total_count,
                    page_info,
                })
            })
            .collect()
    }
}

fn decode_err(op: &'static str, path: String, e: serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Decode { path: path.clone() },
        format!("unexpected JSON at `{path}`: {e}"),
    )
    .with_operation(op)
}
