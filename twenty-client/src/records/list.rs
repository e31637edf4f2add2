//! List (one page or a stream of all pages) and get-one.

use futures::{Stream, TryStreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::RecordsHandler;
use crate::config::MAX_PAGE_SIZE;
use crate::envelope::{Data, ListEnvelope};
use crate::error::Error;
use crate::filter::{Filter, OrderBy};
use crate::model::Payload;
use crate::transport::Call;

/// Cursor information of a page.
///
/// ```
/// use twenty_client::PageInfo;
/// let info: PageInfo = serde_json::from_value(serde_json::json!({
///     "hasNextPage": true, "startCursor": "c1", "endCursor": "c2"
/// }))?;
/// assert!(info.has_next_page);
/// assert_eq!(info.end_cursor.as_deref(), Some("c2"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// More records follow `end_cursor`.
    #[serde(default)]
    pub has_next_page: bool,
    /// Cursor of the first record (opaque).
    #[serde(default)]
    pub start_cursor: Option<String>,
    /// Cursor of the last record (opaque); pass it to `starting_after`.
    #[serde(default)]
    pub end_cursor: Option<String>,
}

/// One page of a list.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::{model::Person, Page};
/// let page: Page<Person> = client.people().list().limit(2).send().await?;
/// assert_eq!(page.records.len(), 2);
/// assert_eq!(page.total_count, Some(5), "all matching records, not just this page");
/// assert!(page.page_info.has_next_page);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records.
    pub records: Vec<T>,
    /// Total matching records (Twenty always computes it).
    pub total_count: Option<u64>,
    /// Cursors.
    pub page_info: PageInfo,
}

/// Builder of `GET /rest/{plural}`; `depth` (default 0) and `limit` (default: client page size) are always sent.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # for t in [10, 30, 20] { sim.handle().insert_record("companies", serde_json::json!({"name": "C", "employees": t})); }
/// use twenty_client::{records::ListRecords, Filter, OrderBy, model::Company};
/// let big: ListRecords<Company> = client
///     .companies()
///     .list()
///     .filter(Filter::field("employees").gte(20))
///     .order_by(OrderBy::desc("employees"));
/// let page = big.send().await?;
/// let sizes: Vec<_> = page.records.iter().map(|c| c.employees).collect();
/// assert_eq!(sizes, [Some(30.0), Some(20.0)]);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ListRecords<T> {
    pub(super) handler: RecordsHandler<T>,
    filter: Option<Filter>,
    order_by: Option<OrderBy>,
    depth: u8,
    limit: u32,
    starting_after: Option<String>,
}

impl<T> Clone for ListRecords<T> {
    fn clone(&self) -> Self {
        ListRecords {
            handler: self.handler.clone(),
            filter: self.filter.clone(),
            order_by: self.order_by.clone(),
            depth: self.depth,
            limit: self.limit,
            starting_after: self.starting_after.clone(),
        }
    }
}

impl<T: Payload> ListRecords<T> {
    pub(crate) fn new(handler: RecordsHandler<T>) -> Self {
        let limit = handler.client.page_size();
        ListRecords {
            handler,
            filter: None,
            order_by: None,
            depth: 0,
            limit,
            starting_after: None,
        }
    }
    /// Only records matching `filter`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # for title in ["CTO", "CEO", "CTO"] { sim.handle().insert_record("people", serde_json::json!({"jobTitle": title})); }
    /// use twenty_client::Filter;
    /// let page = client.people().list().filter(Filter::field("jobTitle").eq("CTO")).send().await?;
    /// assert_eq!(page.records.len(), 2);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }
    /// Sort order (keep it stable for paging, e.g. `updatedAt` then `id`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # for n in ["Globex", "Acme", "Initech"] { sim.handle().insert_record("companies", serde_json::json!({"name": n})); }
    /// use twenty_client::OrderBy;
    /// let page = client.companies().list().order_by(OrderBy::asc("name").then_asc("id")).send().await?;
    /// let names: Vec<_> = page.records.iter().filter_map(|c| c.name.as_deref()).collect();
    /// assert_eq!(names, ["Acme", "Globex", "Initech"]);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.order_by = Some(order);
        self
    }
    /// `0` = record only, `1` = with direct relations.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let h = sim.handle();
    /// # let acme = h.insert_record("companies", serde_json::json!({"name": "Acme"}));
    /// # let id = h.insert_record("people", serde_json::json!({"companyId": acme["id"]}))["id"].as_str().unwrap().to_owned();
    /// let page = client.records("people").list().depth(1).send().await?;
    /// assert_eq!(page.records[0].get("company.name"), Some(&serde_json::json!("Acme")));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn depth(mut self, depth: u8) -> Self {
        self.depth = depth;
        self
    }
    /// Page size, clamped to 1..=200.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let people = client.people();
    /// assert_eq!(people.list().limit(2).send().await?.records.len(), 2);
    /// assert_eq!(people.list().limit(0).send().await?.records.len(), 1, "clamped to 1");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, MAX_PAGE_SIZE);
        self
    }
    /// Start after this cursor (a previous page's `end_cursor`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let first = client.people().list().limit(3).send().await?;
    /// let cursor = first.page_info.end_cursor.clone().unwrap();
    /// let second = client.people().list().limit(3).starting_after(cursor).send().await?;
    /// assert_eq!(second.records.len(), 2);
    /// assert!(!second.page_info.has_next_page);
    /// assert!(second.records.iter().all(|p| !first.records.contains(p)));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn starting_after(mut self, cursor: impl Into<String>) -> Self {
        self.starting_after = Some(cursor.into());
        self
    }

    pub(super) fn call(&self) -> Result<Call, Error> {
        let op = "records.list";
        let mut url = self.handler.client.url(&["rest", &self.handler.plural]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &self.limit.to_string());
            q.append_pair("depth", &self.depth.to_string());
            if let Some(o) = &self.order_by {
                q.append_pair("order_by", &o.to_query_string());
            }
            if let Some(f) = &self.filter {
                f.validate().map_err(|e| {
                    e.with_operation(op)
                        .with_context("object", &*self.handler.plural)
                })?;
                q.append_pair("filter", &f.to_query_string());
            }
            if let Some(c) = &self.starting_after {
                q.append_pair("starting_after", c);
            }
        }
        Ok(Call::new(Method::GET, url, op).context("object", &*self.handler.plural))
    }

    /// Fetch one page.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let page = client.people().list().send().await?;
    /// assert_eq!(page.records.len(), 3);
    /// assert_eq!(page.total_count, Some(3));
    /// assert!(!page.page_info.has_next_page);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Page<T>, Error> {
        let call = self.call()?;
        let env: ListEnvelope<T> = self.handler.client.send_json(&call).await?;
        Ok(Page {
            records: env.data.0,
            total_count: env.total_count,
            page_info: env.page_info,
        })
    }

    /// Every page, following `pageInfo.endCursor` with `starting_after` while `hasNextPage`.
    ///
    /// A server that claims more pages but repeats or omits the cursor ends the stream with an error
    /// instead of looping forever.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use futures::TryStreamExt;
    /// let pages: Vec<_> = client.people().list().limit(2).pages().try_collect().await?;
    /// let sizes: Vec<usize> = pages.iter().map(|p| p.records.len()).collect();
    /// assert_eq!(sizes, [2, 2, 1]);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn pages(self) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static {
        futures::stream::try_unfold(Some(self), |state| async move {
            let Some(req) = state else {
                return Ok(None);
            };
            let previous = req.starting_after.clone();
            let next = req.clone();
            let page = req.send().await?;
            let follow = if page.page_info.has_next_page && !page.records.is_empty() {
                match &page.page_info.end_cursor {
                    Some(c) if Some(c) != previous.as_ref() => Some(next.starting_after(c.clone())),
                    _ => {
                        return Err(Error::new(
                            crate::ErrorKind::Decode { path: "pageInfo.endCursor".into() },
                            "the server reported hasNextPage but gave no new endCursor; stopping to avoid re-reading the same page",
                        )
                        .with_operation("records.list"))
                    }
                }
            } else {
                None
            };
            Ok(Some((page, follow)))
        })
    }

    /// Every record of every page, as a stream.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(120)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use futures::TryStreamExt;
    /// let mut stream = Box::pin(client.people().list().limit(50).stream());
    /// let mut n = 0;
    /// while let Some(person) = stream.try_next().await? {
    ///     assert!(person.id.is_some());
    ///     n += 1;
    /// }
    /// assert_eq!(n, 120);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
        self.pages()
            .map_ok(|page| futures::stream::iter(page.records.into_iter().map(Ok)))
            .try_flatten()
    }
}

/// Builder of `GET /rest/{plural}/{id}`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let id = sim.handle().insert_record("people", serde_json::json!({"jobTitle": "CTO"}))["id"].as_str().unwrap().to_owned();
/// use twenty_client::{model::Person, records::GetRecord};
/// let request: GetRecord<Person> = client.people().get(&id);
/// let person = request.send().await?;
/// assert_eq!(person.job_title.as_deref(), Some("CTO"));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct GetRecord<T> {
    handler: RecordsHandler<T>,
    id: String,
    depth: u8,
}

impl<T: Payload> GetRecord<T> {
    pub(crate) fn new(handler: RecordsHandler<T>, id: &str) -> Self {
        GetRecord {
            handler,
            id: id.to_owned(),
            depth: 0,
        }
    }
    /// `0` = record only, `1` = with direct relations.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let h = sim.handle();
    /// # let acme = h.insert_record("companies", serde_json::json!({"name": "Acme"}));
    /// # let id = h.insert_record("people", serde_json::json!({"companyId": acme["id"]}))["id"].as_str().unwrap().to_owned();
    /// let flat = client.records("people").get(&id).send().await?;
    /// assert!(flat.get("company").is_none());
    /// let deep = client.records("people").get(&id).depth(1).send().await?;
    /// assert_eq!(deep.get("company.name"), Some(&serde_json::json!("Acme")));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn depth(mut self, depth: u8) -> Self {
        self.depth = depth;
        self
    }
    /// Fetch the record; a missing or soft-deleted record is [`crate::ErrorKind::NotFound`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// use twenty_client::ErrorKind;
    /// client.people().get(&id).send().await?;
    /// client.people().soft_delete(&id).send().await?;
    /// let err = client.people().get(&id).send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::NotFound);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<T, Error> {
        let mut url = self
            .handler
            .client
            .url(&["rest", &self.handler.plural, &self.id]);
        url.query_pairs_mut()
            .append_pair("depth", &self.depth.to_string());
        let call = Call::new(Method::GET, url, "records.get")
            .context("object", &*self.handler.plural)
            .context("id", &self.id);
        let env: Data<T> = self.handler.client.send_json(&call).await?;
        Ok(env.data.0)
    }
}
