//! [`Client`], its builder and shared state (pacer, counters, key).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::clock::ServerClock;
use crate::config::{
    DEFAULT_BATCH_SIZE, DEFAULT_PAGE_SIZE, MAX_BATCH_SIZE, MAX_PAGE_SIZE, RateLimit, RetryPolicy,
};
use crate::error::Error;
use crate::metadata::MetadataHandler;
use crate::model::{
    Company, Note, NoteTarget, Opportunity, Person, Task, TaskTarget, TwentyObject, WorkspaceMember,
};
use crate::pacer::Pacer;
use crate::record::Record;
use crate::records::RecordsHandler;
use crate::security;
use crate::webhook::WebhooksHandler;

/// Counters of a client (shared by all its clones).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::ClientStats;
/// client.people().list().send().await?;
/// let stats: ClientStats = client.stats();
/// assert_eq!(stats.requests, 1);
/// assert_eq!((stats.retries, stats.rate_limited_responses), (0, 0));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (including retries).
    pub requests: u64,
    /// Retries performed.
    pub retries: u64,
    /// 429 (or "Limit reached") answers received.
    pub rate_limited_responses: u64,
    /// Total time requests waited for the rate limiter, `Retry-After` pauses and retry backoff.
    pub throttled: Duration,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) throttled_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn add_throttled(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.throttled_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) api_key: RwLock<SecretString>,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacer: Pacer,
    pub(crate) counters: Counters,
    /// What the latest response's `Date` header said of the server's clock.
    pub(crate) server_clock: Mutex<Option<ServerClock>>,
    pub(crate) page_size: u32,
    pub(crate) batch_size: usize,
    pub(crate) allowed_hosts: Option<Vec<String>>,
    pub(crate) user_agent: String,
}

/// A Twenty REST client. Cheap to clone (an `Arc` inside); clones share the rate limiter, counters and key.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(25)).await?;
/// # let base_url = sim.base_url();
/// use futures::TryStreamExt;
/// use twenty_client::{Client, OrderBy};
///
/// // `base_url` is the server root, e.g. https://api.twenty.com/ (here a local simulator).
/// let client = Client::builder(base_url, secrecy::SecretString::from("sim-key"))
///     .page_size(10)
///     .build()?;
/// let people: Vec<_> = client
///     .people()
///     .list()
///     .order_by(OrderBy::asc("updatedAt").then_asc("id"))
///     .stream()
///     .try_collect()
///     .await?;
/// assert_eq!(people.len(), 25);
/// assert_eq!(client.clone().stats().requests, 3, "three pages of 10, counted on every clone");
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("api_key", &"[REDACTED]")
            .field("user_agent", &self.inner.user_agent)
            .field("page_size", &self.inner.page_size)
            .field("batch_size", &self.inner.batch_size)
            .field("rate_limit", &self.inner.pacer.current())
            .finish()
    }
}

impl Client {
    /// Start building a client for the server root `base_url` (e.g. `https://api.twenty.com/`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// use secrecy::SecretString;
    /// use twenty_client::Client;
    /// let client = Client::builder(sim.base_url(), SecretString::from("sim-key"))
    ///     .page_size(200)
    ///     .build()?;
    /// assert_eq!(client.people().list().send().await?.records.len(), 3);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn builder(base_url: Url, api_key: SecretString) -> ClientBuilder {
        ClientBuilder {
            base_url,
            api_key,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("twenty-client-rust/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            rate_limit: Some(RateLimit::default()),
            page_size: DEFAULT_PAGE_SIZE,
            batch_size: DEFAULT_BATCH_SIZE,
            allowed_hosts: None,
        }
    }

    /// Records of any object (standard or custom) by its plural API name, as untyped [`Record`]s.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let page = client.records("people").list().limit(2).send().await?;
    /// assert_eq!(page.records.len(), 2);
    /// // Every field the server sent is kept, custom ones included.
    /// assert!(page.records[0].get("emails.primaryEmail").is_some());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn records(&self, object_plural: &str) -> RecordsHandler<Record> {
        RecordsHandler::new(self.clone(), object_plural)
    }

    /// Records of any object decoded into your own type `T`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Contact {
    ///     id: String,
    ///     job_title: Option<String>,
    /// }
    /// let page = client.records_as::<Contact>("people").list().send().await?;
    /// assert_eq!(page.records.len(), 3);
    /// assert!(page.records.iter().all(|c| !c.id.is_empty()));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn records_as<T>(&self, object_plural: &str) -> RecordsHandler<T>
    where
        T: crate::model::Payload,
    {
        RecordsHandler::new(self.clone(), object_plural)
    }

    /// Typed records of a standard object.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Company;
    /// # sim.handle().insert_record("companies", serde_json::json!({"name": "Acme"}));
    /// let companies = client.object::<Company>();
    /// assert_eq!(companies.object(), "companies");
    /// let page = companies.list().send().await?;
    /// assert_eq!(page.records[0].name.as_deref(), Some("Acme"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn object<T: TwentyObject>(&self) -> RecordsHandler<T> {
        RecordsHandler::new(self.clone(), T::NAME_PLURAL)
    }

    /// `people`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::Filter;
    /// # sim.handle().insert_record("people", serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
    /// let page = client
    ///     .people()
    ///     .list()
    ///     .filter(Filter::field("name.lastName").eq("Lovelace"))
    ///     .send()
    ///     .await?;
    /// let ada = &page.records[0];
    /// assert_eq!(ada.name.as_ref().and_then(|n| n.first_name.as_deref()), Some("Ada"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn people(&self) -> RecordsHandler<Person> {
        self.object()
    }
    /// `companies`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Company;
    /// let acme = Company { name: Some("Acme".into()), ..Default::default() };
    /// let saved = client.companies().create(&acme).send().await?;
    /// assert!(saved.id.is_some());
    /// assert_eq!(sim.handle().count("companies"), 1);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn companies(&self) -> RecordsHandler<Company> {
        self.object()
    }
    /// `opportunities`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Opportunity;
    /// let deal = Opportunity { name: Some("Big deal".into()), stage: Some("NEW".into()), ..Default::default() };
    /// let saved = client.opportunities().create(&deal).send().await?;
    /// assert_eq!(saved.stage.as_deref(), Some("NEW"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn opportunities(&self) -> RecordsHandler<Opportunity> {
        self.object()
    }
    /// `tasks`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Task;
    /// let task = Task { title: Some("Call Ada".into()), ..Default::default() };
    /// let saved = client.tasks().create(&task).send().await?;
    /// let id = saved.id.as_deref().unwrap();
    /// assert_eq!(client.tasks().get(id).send().await?.title.as_deref(), Some("Call Ada"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn tasks(&self) -> RecordsHandler<Task> {
        self.object()
    }
    /// `notes`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Note;
    /// let note = Note { title: Some("Met at the fair".into()), ..Default::default() };
    /// client.notes().create(&note).send().await?;
    /// let page = client.notes().list().send().await?;
    /// assert_eq!(page.records[0].title.as_deref(), Some("Met at the fair"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn notes(&self) -> RecordsHandler<Note> {
        self.object()
    }
    /// `noteTargets`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Note, NoteTarget};
    /// # let person_id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// let note = client.notes().create(&Note { title: Some("Intro".into()), ..Default::default() }).send().await?;
    /// // Twenty 2.21.0 names the person link `targetPersonId` (`personId` before 2.x).
    /// let link = NoteTarget {
    ///     note_id: note.id.clone(),
    ///     target_person_id: Some(person_id.clone()),
    ///     ..Default::default()
    /// };
    /// let saved = client.note_targets().create(&link).send().await?;
    /// assert_eq!(saved.note_id, note.id);
    /// assert_eq!(saved.target_person_id.as_deref(), Some(person_id.as_str()));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn note_targets(&self) -> RecordsHandler<NoteTarget> {
        self.object()
    }
    /// `taskTargets`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Task, TaskTarget};
    /// # let person_id = sim.handle().insert_record("people", serde_json::json!({}))["id"].as_str().unwrap().to_owned();
    /// let task = client.tasks().create(&Task { title: Some("Follow up".into()), ..Default::default() }).send().await?;
    /// let link = TaskTarget {
    ///     task_id: task.id.clone(),
    ///     target_person_id: Some(person_id.clone()), // 2.21.0 name
    ///     ..Default::default()
    /// };
    /// let saved = client.task_targets().create(&link).send().await?;
    /// assert_eq!(saved.task_id, task.id);
    /// assert_eq!(saved.target_person_id.as_deref(), Some(person_id.as_str()));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn task_targets(&self) -> RecordsHandler<TaskTarget> {
        self.object()
    }
    /// `workspaceMembers` (read them; members are managed in Twenty's UI).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let members = client.workspace_members().list().send().await?;
    /// assert!(!members.records.is_empty());
    /// assert!(members.records.iter().all(|m| m.user_email.is_some()));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn workspace_members(&self) -> RecordsHandler<WorkspaceMember> {
        self.object()
    }

    /// The metadata (schema) API.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let objects = client.metadata().objects().await?;
    /// assert!(objects.iter().any(|o| o.name_plural == "people"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn metadata(&self) -> MetadataHandler {
        MetadataHandler::new(self.clone())
    }

    /// Webhook subscriptions.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let hooks = client.webhooks().list().await?;
    /// assert!(hooks.is_empty(), "a fresh workspace has no webhooks");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn webhooks(&self) -> WebhooksHandler {
        WebhooksHandler::new(self.clone())
    }

    /// Counters so far.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let before = client.stats();
    /// client.clone().people().list().send().await?;
    /// let after = client.stats();
    /// assert_eq!(after.requests, before.requests + 1);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited_responses: c.rate_limited.load(Ordering::Relaxed),
            throttled: Duration::from_nanos(c.throttled_nanos.load(Ordering::Relaxed)),
        }
    }

    /// What the latest response's `Date` header said of the server's clock against this host's
    /// (`None` before the first answer, or if the server sends no `Date`).
    ///
    /// Twenty stamps `updatedAt` and signs webhooks by its own clock: the sync engine reads this
    /// to put its pull watermark on that clock, to check webhook ages and compare conflict times
    /// on one clock, and to warn in its run report when the two clocks are far apart.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// assert!(client.server_clock().is_none());
    /// client.people().list().send().await?;
    /// let clock = client.server_clock().expect("the simulator sends a Date header");
    /// // The simulator runs on this host's clock.
    /// assert_eq!(clock.behind_at_least(), std::time::Duration::ZERO);
    /// assert_eq!(clock.ahead_at_least(), std::time::Duration::ZERO);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn server_clock(&self) -> Option<ServerClock> {
        *self
            .inner
            .server_clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn observe_server_clock(&self, clock: ServerClock) {
        *self
            .inner
            .server_clock
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(clock);
    }

    /// Replace the API key (rotation); affects every clone from the next request on.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// use secrecy::SecretString;
    /// use twenty_client::{Client, ErrorKind};
    /// let client = Client::builder(sim.base_url(), SecretString::from("old-key")).build()?;
    /// let err = client.people().list().send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    /// client.set_api_key(SecretString::from("sim-key"));
    /// client.people().list().send().await?;
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_api_key(&self, key: SecretString) {
        *self
            .inner
            .api_key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = key;
    }

    /// The base URL (server root).
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .build()?;
    /// assert_eq!(client.base_url().host_str(), Some("crm.example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Configured page size for lists.
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .page_size(200)
    /// .build()?;
    /// assert_eq!(client.page_size(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// Configured batch size for batch writes.
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .batch_size(100)
    /// .build()?;
    /// assert_eq!(client.batch_size(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size
    }

    /// The rate limit currently applied (configured, or learned from the server's 429 answers).
    ///
    /// ```
    /// use twenty_client::{Client, RateLimit};
    /// let client = Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .build()?;
    /// assert_eq!(client.rate_limit(), Some(RateLimit::default()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.pacer.current()
    }

    pub(crate) fn bearer(&self) -> String {
        let key = self.inner.api_key.read().unwrap_or_else(|p| p.into_inner());
        format!("Bearer {}", key.expose_secret())
    }

    /// URL `<base>/<segments...>` with each segment percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }
}

/// Builder of a [`Client`] (see [`Client::builder`]).
///
/// ```
/// use std::time::Duration;
/// use twenty_client::{Client, ClientBuilder, RetryPolicy};
/// let builder: ClientBuilder = Client::builder(
///     url::Url::parse("https://crm.example.com/")?,
///     secrecy::SecretString::from("fake-key"),
/// )
/// .timeout(Duration::from_secs(60))
/// .retry_policy(RetryPolicy::none())
/// .batch_size(200);
/// assert!(!format!("{builder:?}").contains("fake-key"), "the key is redacted");
/// let client = builder.build()?;
/// assert_eq!(client.batch_size(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientBuilder {
    base_url: Url,
    api_key: SecretString,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    rate_limit: Option<RateLimit>,
    page_size: u32,
    batch_size: usize,
    allowed_hosts: Option<Vec<String>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("rate_limit", &self.rate_limit)
            .field("page_size", &self.page_size)
            .field("batch_size", &self.batch_size)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl ClientBuilder {
    /// Whole-request timeout (default 30 s).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// use std::time::Duration;
    /// use twenty_client::{Client, ErrorKind, RetryPolicy};
    /// # sim.set_faults(twenty_sim::Faults { latency: Duration::from_millis(500), ..Default::default() });
    /// // The server takes 500 ms to answer.
    /// let client = Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key"))
    ///     .timeout(Duration::from_millis(100))
    ///     .retry_policy(RetryPolicy::none())
    ///     .build()?;
    /// let err = client.people().list().send().await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Transport);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Connect timeout (default 10 s).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// use std::time::Duration;
    /// let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key"))
    ///     .connect_timeout(Duration::from_secs(2))
    ///     .build()?;
    /// client.people().list().send().await?;
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// `User-Agent` header.
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .user_agent("acme-crm-sync/1.2")
    /// .build()?;
    /// assert!(format!("{client:?}").contains("acme-crm-sync/1.2"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// Retry policy (default: 5 retries, 500 ms → 60 s with jitter).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// use std::time::Duration;
    /// use twenty_client::{Client, RetryPolicy};
    /// # sim.set_faults(twenty_sim::Faults { server_error_fraction: 1.0, ..Default::default() });
    /// // Every answer is a 5xx here.
    /// let client = Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key"))
    ///     .retry_policy(RetryPolicy {
    ///         max_retries: 2,
    ///         initial_backoff: Duration::from_millis(1),
    ///         ..RetryPolicy::default()
    ///     })
    ///     .build()?;
    /// let err = client.people().list().send().await.unwrap_err();
    /// assert!(err.is_temporary());
    /// assert_eq!((client.stats().requests, client.stats().retries), (3, 2));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Client-side budget (default 100 requests / 60 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::{Client, RateLimit};
    /// let budget = RateLimit::new(50, Duration::from_secs(60));
    /// let client = Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .rate_limit(budget)
    /// .build()?;
    /// assert_eq!(client.rate_limit(), Some(budget));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
    /// No client-side budget up front; the client still learns one from the server's 429 answers.
    ///
    /// ```
    /// let client = twenty_client::Client::builder(
    ///     url::Url::parse("https://crm.example.com/")?,
    ///     secrecy::SecretString::from("fake-key"),
    /// )
    /// .no_rate_limit()
    /// .build()?;
    /// assert_eq!(client.rate_limit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }
    /// Records per list page, 1..=200 (default 60).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
    /// let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key"))
    ///     .page_size(2)
    ///     .build()?;
    /// let page = client.people().list().send().await?;
    /// assert_eq!(page.records.len(), 2);
    /// assert!(page.page_info.has_next_page);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }
    /// Records per batch write, 1..=200 (default 60, the safe maximum of older servers).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// use twenty_client::model::Company;
    /// let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key"))
    ///     .batch_size(2)
    ///     .build()?;
    /// let companies: Vec<Company> = ["A", "B", "C", "D", "E"]
    ///     .map(|n| Company { name: Some(n.into()), ..Default::default() })
    ///     .into();
    /// assert_eq!(client.companies().create_many(companies).send().await?.len(), 5);
    /// assert_eq!(client.stats().requests, 3, "batches of 2, 2 and 1");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }
    /// Only these hosts may be contacted (checked before any request). Without it any host is allowed.
    ///
    /// ```
    /// use twenty_client::{Client, ErrorKind};
    /// let build = |base: &str| {
    ///     Client::builder(url::Url::parse(base).unwrap(), secrecy::SecretString::from("fake-key"))
    ///         .allowed_hosts(["API.Twenty.com"])
    ///         .build()
    /// };
    /// assert!(build("https://api.twenty.com/").is_ok());
    /// let err = build("https://crm.example.com/").unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Config);
    /// ```
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = Some(
            hosts
                .into_iter()
                .map(|h| h.into().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// Validate the settings and build the client. No network traffic happens here.
    ///
    /// ```
    /// use twenty_client::{Client, ErrorKind};
    /// let base = url::Url::parse("https://crm.example.com/")?;
    /// assert!(Client::builder(base.clone(), secrecy::SecretString::from("fake-key")).build().is_ok());
    /// // Refused before any request: an empty key, user info in the URL.
    /// let empty = Client::builder(base, secrecy::SecretString::from(" ")).build().unwrap_err();
    /// assert_eq!(empty.kind(), &ErrorKind::Config);
    /// let userinfo = url::Url::parse("https://user:pw@crm.example.com/")?;
    /// assert!(Client::builder(userinfo, secrecy::SecretString::from("fake-key")).build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        let op = "client.build";
        security::check_base_url(&self.base_url, self.allowed_hosts.as_deref())
            .map_err(|e| e.with_operation(op))?;
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return Err(Error::config(format!(
                "page size {} out of range 1..={MAX_PAGE_SIZE}",
                self.page_size
            ))
            .with_operation(op));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(Error::config(format!(
                "batch size {} out of range 1..={MAX_BATCH_SIZE}",
                self.batch_size
            ))
            .with_operation(op));
        }
        if self.api_key.expose_secret().trim().is_empty() {
            return Err(Error::config("the API key is empty").with_operation(op));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .redirect(security::redirect_policy())
            .build()
            .map_err(|e| {
                Error::config("could not build the HTTP client")
                    .with_source(e)
                    .with_operation(op)
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url,
                api_key: RwLock::new(self.api_key),
                retry: self.retry,
                pacer: Pacer::new(self.rate_limit),
                counters: Counters::default(),
                server_clock: Mutex::new(None),
                page_size: self.page_size,
                batch_size: self.batch_size,
                allowed_hosts: self.allowed_hosts,
                user_agent: self.user_agent,
            }),
        })
    }
}
