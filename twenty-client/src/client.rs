//! [`Client`], its builder and shared state (pacer, counters, key).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::{
    RateLimit, RetryPolicy, DEFAULT_BATCH_SIZE, DEFAULT_PAGE_SIZE, MAX_BATCH_SIZE, MAX_PAGE_SIZE,
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
    pub(crate) page_size: u32,
    pub(crate) batch_size: usize,
    pub(crate) allowed_hosts: Option<Vec<String>>,
    pub(crate) user_agent: String,
}

/// A Twenty REST client. Cheap to clone (an `Arc` inside); clones share the rate limiter, counters and key.
///
/// ```no_run
/// # async fn run() -> Result<(), twenty_client::Error> {
/// use futures::TryStreamExt;
/// use twenty_client::{Client, Filter, OrderBy};
///
/// let client = Client::builder(
///     url::Url::parse("https://api.twenty.com/").unwrap(),
///     secrecy::SecretString::from("my-api-key"),
/// )
/// .build()?;
/// let people: Vec<_> = client
///     .people()
///     .list()
///     .filter(Filter::field("emails.primaryEmail").ilike("%@example.com"))
///     .order_by(OrderBy::asc("updatedAt").then_asc("id"))
///     .stream()
///     .try_collect()
///     .await?;
/// println!("{} people", people.len());
/// # Ok(()) }
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
    pub fn records(&self, object_plural: &str) -> RecordsHandler<Record> {
        RecordsHandler::new(self.clone(), object_plural)
    }

    /// Records of any object decoded into your own type `T`.
    pub fn records_as<T>(&self, object_plural: &str) -> RecordsHandler<T>
    where
        T: crate::model::Payload,
    {
        RecordsHandler::new(self.clone(), object_plural)
    }

    /// Typed records of a standard object.
    pub fn object<T: TwentyObject>(&self) -> RecordsHandler<T> {
        RecordsHandler::new(self.clone(), T::NAME_PLURAL)
    }

    /// `people`.
    pub fn people(&self) -> RecordsHandler<Person> {
        self.object()
    }
    /// `companies`.
    pub fn companies(&self) -> RecordsHandler<Company> {
        self.object()
    }
    /// `opportunities`.
    pub fn opportunities(&self) -> RecordsHandler<Opportunity> {
        self.object()
    }
    /// `tasks`.
    pub fn tasks(&self) -> RecordsHandler<Task> {
        self.object()
    }
    /// `notes`.
    pub fn notes(&self) -> RecordsHandler<Note> {
        self.object()
    }
    /// `noteTargets`.
    pub fn note_targets(&self) -> RecordsHandler<NoteTarget> {
        self.object()
    }
    /// `taskTargets`.
    pub fn task_targets(&self) -> RecordsHandler<TaskTarget> {
        self.object()
    }
    /// `workspaceMembers` (read them; members are managed in Twenty's UI).
    pub fn workspace_members(&self) -> RecordsHandler<WorkspaceMember> {
        self.object()
    }

    /// The metadata (schema) API.
    pub fn metadata(&self) -> MetadataHandler {
        MetadataHandler::new(self.clone())
    }

    /// Webhook subscriptions.
    pub fn webhooks(&self) -> WebhooksHandler {
        WebhooksHandler::new(self.clone())
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited_responses: c.rate_limited.load(Ordering::Relaxed),
            throttled: Duration::from_nanos(c.throttled_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Replace the API key (rotation); affects every clone from the next request on.
    pub fn set_api_key(&self, key: SecretString) {
        *self
            .inner
            .api_key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = key;
    }

    /// The base URL (server root).
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Configured page size for lists.
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// Configured batch size for batch writes.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size
    }

    /// The rate limit currently applied (configured, or learned from the server's 429 answers).
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
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// Retry policy (default: 5 retries, 500 ms → 60 s with jitter).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Client-side budget (default 100 requests / 60 s).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
    /// No client-side budget up front; the client still learns one from the server's 429 answers.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }
    /// Records per list page, 1..=200 (default 60).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }
    /// Records per batch write, 1..=200 (default 60, the safe maximum of older servers).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }
    /// Only these hosts may be contacted (checked before any request). Without it any host is allowed.
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
                page_size: self.page_size,
                batch_size: self.batch_size,
                allowed_hosts: self.allowed_hosts,
                user_agent: self.user_agent,
            }),
        })
    }
}
