//! The sync engine: pull, push and bidirectional sync between Twenty and a [`SourceOfTruth`],
//! with its state in a [`StateStore`].
//!
//! See [`SyncEngine`] for an end-to-end example and the crate README for the guarantees.

mod agreed;
mod audit;
mod clock;
mod config;
mod conflict;
mod error;
pub mod failpoints;
mod lease;
mod mapper;
mod plan;
mod progress;
mod pull;
mod pull_commits;
mod pull_refused;
mod push;
mod retry;
mod run;
mod trigger;
mod views;
mod watermark;
mod written;

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use twenty_client::{Client, ErrorKind};

use crate::secret::SecretProvider;
use crate::source::SourceOfTruth;
use crate::state::StateStore;

pub use audit::AuditValues;

/// The marker of recorded values in an audit detail (see [`AuditValues`]).
pub(crate) fn audit_values_marker() -> &'static str {
    audit::VALUES_MARKER
}
pub use agreed::AgreedFields;
pub use config::{
    EngineConfig, MatchStrategy, PullDeleteMode, PushDeleteMode, RunOptions, TriggerMode,
};
pub use conflict::{Resolution, Winner, field_winner, merge, resolve};
pub use error::{SyncError, SyncErrorKind};
pub use failpoints::Failpoints;
pub(crate) use mapper::top_level_fields;
pub use mapper::{
    ConflictPolicy, EntityMapper, FieldError, FieldMap, FieldOwner, FieldSpec, Mapped, Validator,
    content_hash, get_path, set_path,
};
pub use plan::{Plan, PlanTotal, PlannedAction, PlannedWrite, field_diff};
pub use progress::{ProgressEvent, ProgressSink};
pub use retry::RETRY_LIMIT;
pub use run::RunOutcome;
pub use trigger::WebhookOutcome;
pub use watermark::{PullCursor, Walk};

/// The most batch requests of one push chunk in flight at once
/// ([`EngineConfig::push_in_flight`], [`EngineConfig::push_in_flight_max`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use twenty_sync_core::engine::{MAX_PUSH_IN_FLIGHT, SyncEngine};
/// use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = || twenty_client::Client::builder("https://crm.example.com/".parse().unwrap(), secrecy::SecretString::from("fake-api-key")).build().unwrap();
/// let most = SyncEngine::builder(client(), MemorySource::new(), MemoryState::new())
///     .push_in_flight(MAX_PUSH_IN_FLIGHT)
///     .build();
/// assert!(most.is_ok());
/// let more = SyncEngine::builder(client(), MemorySource::new(), MemoryState::new())
///     .push_in_flight(MAX_PUSH_IN_FLIGHT + 1)
///     .build();
/// assert!(more.is_err());
/// # Ok(())
/// # }
/// ```
pub const MAX_PUSH_IN_FLIGHT: usize = 8;

/// The sync engine.
///
/// Generic over the local [`SourceOfTruth`] `S` and the [`StateStore`] `T` (both work as
/// `Arc<dyn ...>`). Each run ([`pull`](Self::pull), [`push`](Self::push), [`sync`](Self::sync))
/// takes a lease per entity, streams records in bounded batches, saves its [`RunReport`]
/// (status `Running` at start, final at the end) and audits every write. A record that fails
/// (Twenty or the local store refuses it, it fails mapping or validation; a batch refused for
/// one record is sent or applied again in parts to find it) is
/// listed in the report and the run goes on; its key is kept in a retry set and retried first by
/// the next run of that entity and direction, until it succeeds or changes (at most
/// [`RETRY_LIMIT`] keys per entity and direction; overflow is reported). A run-level failure
/// returns a [`SyncError`] and leaves the state resumable.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use secrecy::SecretString;
/// use twenty_client::Client;
/// use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine};
/// use twenty_sync_core::memory::{MemorySource, MemoryState};
/// use twenty_sync_core::RunMode;
///
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("fake-api-key").seed_people(3)).await?;
/// # let crm_url = sim.base_url();
/// let client = Client::builder(crm_url, SecretString::from("fake-api-key")).build()?;
/// let contacts = FieldMap::new("contacts", "people", "person")
///     .field("email", "emails.primaryEmail")
///     .field("first_name", "name.firstName")
///     .local_key("id")
///     .match_key("emails.primaryEmail");
/// let source = MemorySource::new();
/// source.upsert("contacts", "c1", serde_json::json!({"id": "c1", "email": "ada@example.com"}));
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
///     .entity(Arc::new(contacts))
///     .build()?;
///
/// // Preview, then do it.
/// let preview = engine.run(RunMode::Sync, RunOptions::new().dry_run(true)).await?;
/// println!("would write {} records", preview.plan.writes.len());
/// assert!(source.records("contacts").len() == 1);
/// let report = engine.sync(RunOptions::new()).await?;
/// println!("{}", report.summary());
/// assert_eq!(source.records("contacts").len(), 4); // its own record and Twenty's three
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// [`RunReport`]: crate::RunReport
pub struct SyncEngine<S, T> {
    pub(crate) client: Client,
    pub(crate) source: S,
    pub(crate) state: T,
    pub(crate) entities: Vec<Arc<dyn EntityMapper>>,
    pub(crate) config: EngineConfig,
    pub(crate) secrets: Option<Arc<dyn SecretProvider>>,
    pub(crate) api_key_name: Option<String>,
    pub(crate) webhook_secret: Option<SecretString>,
    pub(crate) webhook_secret_name: Option<String>,
    pub(crate) progress: Option<ProgressSink>,
    pub(crate) failpoints: Failpoints,
    pub(crate) replays: Mutex<ReplayCache>,
    /// The entities this engine's runs and webhooks hold a lease on (see `lease`).
    pub(crate) claims: lease::Claims,
}

impl<S, T> std::fmt::Debug for SyncEngine<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("client", &self.client)
            .field(
                "entities",
                &self.entities.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .field("api_key_name", &self.api_key_name)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// Remembers recent webhook deliveries to drop replays (bounded, oldest forgotten first).
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl ReplayCache {
    /// `true` when `key` is new (and remembers it).
    pub(crate) fn insert(&mut self, key: String) -> bool {
        if self.seen.contains(&key) {
            return false;
        }
        self.seen.insert(key.clone());
        self.order.push_back(key);
        while self.order.len() > self.cap.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Forgets `key` (its handling failed, so a redelivery must be processed).
    pub(crate) fn forget(&mut self, key: &str) {
        if self.seen.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

/// Builds a [`SyncEngine`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use twenty_sync_core::engine::{FieldMap, PushDeleteMode, SyncEngine, SyncEngineBuilder};
/// use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
///
/// let builder: SyncEngineBuilder<MemorySource, MemoryState> =
///     SyncEngine::builder(client, MemorySource::new(), MemoryState::new());
/// let engine = builder
///     .entity(Arc::new(FieldMap::new("contacts", "people", "person")))
///     .batch_size(50)
///     .push_delete(PushDeleteMode::Ignore)
///     .lease(Duration::from_secs(300), "worker-1")
///     .build()?;
/// assert_eq!(engine.config().batch_size, 50);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SyncEngineBuilder<S, T> {
    engine: SyncEngine<S, T>,
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Starts building an engine over `client`, the local `source` and the `state` store.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use secrecy::SecretString;
    /// use twenty_client::Client;
    /// use twenty_sync_core::engine::{FieldMap, SyncEngine};
    /// use twenty_sync_core::memory::{MemorySource, MemoryState};
    ///
    /// let client = Client::builder("https://crm.example.com/".parse()?, SecretString::from("fake-api-key"))
    ///     .build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(FieldMap::new("contacts", "people", "person")))
    ///     .build()?;
    /// assert_eq!(engine.config().batch_size, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(client: Client, source: S, state: T) -> SyncEngineBuilder<S, T> {
        SyncEngineBuilder {
            engine: SyncEngine {
                client,
                source,
                state,
                entities: Vec::new(),
                config: EngineConfig::default(),
                secrets: None,
                api_key_name: None,
                webhook_secret: None,
                webhook_secret_name: None,
                progress: None,
                failpoints: Failpoints::new(),
                replays: Mutex::new(ReplayCache::default()),
                claims: lease::Claims::default(),
            },
        }
    }

    /// The client.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// engine.pull(RunOptions::new()).await?;
    /// // The engine's client counts the requests of every run.
    /// assert!(engine.client().stats().requests > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The source of truth.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// engine.pull(RunOptions::new()).await?;
    /// assert_eq!(engine.source().records("contacts").len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The state store.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::{RunStatus, StateStore};
    ///
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let report = engine.pull(RunOptions::new()).await?;
    /// let saved = engine.state().run(&report.run_id).await?.expect("the run is saved");
    /// assert_eq!(saved.status, RunStatus::Succeeded);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn state(&self) -> &T {
        &self.state
    }

    /// The configuration.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .overlap(std::time::Duration::from_secs(60))
    ///     .build()?;
    /// let config = engine.config();
    /// assert_eq!(config.overlap.as_secs(), 60);
    /// assert_eq!(config.batch_size, 100); // the default
    /// # Ok(())
    /// # }
    /// ```
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The failpoints of this engine (tests arm them to simulate crashes).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::engine::failpoints::PULL_BEFORE_CURSOR_COMMIT;
    ///
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// engine.failpoints().arm(PULL_BEFORE_CURSOR_COMMIT, 1);
    /// let err = engine.pull(RunOptions::new()).await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Failpoint);
    /// // Running again resumes from the saved state.
    /// engine.pull(RunOptions::new()).await?;
    /// assert_eq!(engine.source().records("contacts").len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn failpoints(&self) -> &Failpoints {
        &self.failpoints
    }

    pub(crate) fn emit(&self, event: ProgressEvent) {
        if let Some(p) = &self.progress {
            p.emit(event);
        }
    }

    /// Re-resolves the API key from the secret provider; `true` when a key was installed.
    async fn rotate_key(&self) -> bool {
        let (Some(p), Some(name)) = (&self.secrets, &self.api_key_name) else {
            return false;
        };
        match p.resolve(name).await {
            Ok(Some(key)) => {
                tracing::info!(secret = %name, provider = %p.describe(), "re-resolved the API key after a 401");
                self.client.set_api_key(key);
                true
            }
            Ok(None) => {
                tracing::warn!(secret = %name, "API key secret not found while rotating");
                false
            }
            Err(e) => {
                tracing::warn!(secret = %name, error = %e, "could not re-resolve the API key");
                false
            }
        }
    }

    /// Calls Twenty; on a 401 re-resolves the key once and tries again.
    pub(crate) async fn twenty<R, F, Fut>(&self, call: F) -> Result<R, twenty_client::Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<R, twenty_client::Error>>,
    {
        match call(self.client.clone()).await {
            Err(e) if matches!(e.kind(), ErrorKind::Unauthorized) => {
                if self.rotate_key().await {
                    call(self.client.clone()).await
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngineBuilder<S, T> {
    /// Adds an entity mapping.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(10)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let people = FieldMap::new("contacts", "people", "person").field("email", "emails.primaryEmail");
    /// let companies = FieldMap::new("accounts", "companies", "company").field("name", "name");
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(people))
    ///     .entity(Arc::new(companies))
    ///     .build()?;
    /// let report = engine.pull(RunOptions::new()).await?;
    /// assert_eq!(report.entities["contacts:pull"].created, 10);
    /// assert!(report.entities["accounts:pull"].created > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn entity(mut self, mapper: Arc<dyn EntityMapper>) -> Self {
        self.engine.entities.push(mapper);
        self
    }

    /// Records per batch, clamped to 1..=200 (default 100).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .batch_size(500) // Twenty takes at most 200 records per request
    ///     .build()?;
    /// assert_eq!(engine.config().batch_size, 200);
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_size(mut self, n: usize) -> Self {
        self.engine.config.batch_size = n.clamp(1, 200);
        self
    }

    /// Pulled writes per local commit, at least 1 (default 2000; see
    /// [`EngineConfig::pull_commit_records`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrecy::SecretString;
    /// use twenty_client::Client;
    /// use twenty_sync_core::engine::SyncEngine;
    /// use twenty_sync_core::memory::{MemorySource, MemoryState};
    ///
    /// let client = Client::builder("https://crm.example.com/".parse()?, SecretString::from("k"))
    ///     .build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .batch_size(200)
    ///     .pull_commit_records(5000)
    ///     .build()?;
    /// assert_eq!(engine.config().pull_commit_records, 5000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn pull_commit_records(mut self, n: usize) -> Self {
        self.engine.config.pull_commit_records = n.max(1);
        self
    }

    /// Pull overlap window (default 5 minutes): each pull reads again what changed in it before
    /// the previous pull started (see [`EngineConfig::overlap`] for what it covers and costs).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use std::time::Duration;
    ///
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .overlap(Duration::from_secs(30))
    ///     .build()?;
    /// // Each incremental pull starts 30 seconds before the last watermark.
    /// let cursor = PullCursor::completed("2026-01-01T10:00:00Z".parse()?);
    /// let from = cursor.lower_bound(Walk::Live, chrono::Duration::from_std(engine.config().overlap)?);
    /// assert_eq!(from, Some("2026-01-01T09:59:30Z".parse()?));
    /// # Ok(())
    /// # }
    /// ```
    pub fn overlap(mut self, overlap: std::time::Duration) -> Self {
        self.engine.config.overlap = overlap;
        self
    }

    /// What a local delete does in Twenty (default soft delete).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let source = MemorySource::new();
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .push_delete(PushDeleteMode::Destroy)
    ///     .build()?;
    /// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
    /// engine.push(RunOptions::new()).await?;
    /// source.delete("contacts", "c1");
    /// engine.push(RunOptions::new()).await?;
    /// // Destroyed: not even in Twenty's trash.
    /// assert_eq!(sim.handle().count_with_deleted("people"), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn push_delete(mut self, mode: PushDeleteMode) -> Self {
        self.engine.config.push_delete = mode;
        self
    }

    /// What a Twenty delete does locally (default delete).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let source = MemorySource::new();
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .pull_delete(PullDeleteMode::Tombstone)
    ///     .build()?;
    /// engine.pull(RunOptions::new()).await?;
    /// let id = sim.handle().records("people")[0]["id"].as_str().unwrap().to_owned();
    /// sim.handle().soft_delete_record("people", &id);
    /// engine.pull(RunOptions::new()).await?;
    /// // Kept locally, marked as deleted.
    /// assert!(source.is_tombstoned("contacts", &id));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn pull_delete(mut self, mode: PullDeleteMode) -> Self {
        self.engine.config.pull_delete = mode;
        self
    }

    /// Lease time-to-live and holder id.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use std::time::Duration;
    ///
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .lease(Duration::from_secs(120), "worker-1")
    ///     .build()?;
    /// assert_eq!(engine.config().lease_ttl, Duration::from_secs(120));
    /// assert_eq!(engine.config().holder_id, "worker-1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn lease(mut self, ttl: std::time::Duration, holder_id: impl Into<String>) -> Self {
        self.engine.config.lease_ttl = ttl;
        self.engine.config.holder_id = holder_id.into();
        self
    }

    /// Whether [`SyncEngine::handle_webhook`] applies deliveries (the default, with reconcile
    /// polling for completeness) or ignores them ([`TriggerMode::PollingOnly`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .trigger(TriggerMode::PollingOnly)
    ///     .build()?;
    /// assert_eq!(engine.config().trigger, TriggerMode::PollingOnly);
    /// # Ok(())
    /// # }
    /// ```
    pub fn trigger(mut self, mode: TriggerMode) -> Self {
        self.engine.config.trigger = mode;
        self
    }

    /// How webhook deliveries are applied (see
    /// [`EngineConfig::webhook_mode`](config::EngineConfig::webhook_mode)): `Pull` (the default)
    /// or `Sync`, for an engine that syncs both ways; `Push` is refused at
    /// [`build`](Self::build).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use twenty_sync_core::RunMode;
    /// let engine = SyncEngine::builder(client.clone(), MemorySource::new(), MemoryState::new())
    ///     .webhook_mode(RunMode::Sync)
    ///     .build()?;
    /// assert_eq!(engine.config().webhook_mode, RunMode::Sync);
    /// let err = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .webhook_mode(RunMode::Push)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// # Ok(())
    /// # }
    /// ```
    pub fn webhook_mode(mut self, mode: crate::RunMode) -> Self {
        self.engine.config.webhook_mode = mode;
        self
    }

    /// Largest accepted webhook age (default 5 minutes).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use std::time::Duration;
    ///
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .webhook_secret(secrecy::SecretString::from("fake-webhook-secret"))
    ///     .webhook_max_age(Duration::from_secs(60))
    ///     .build()?;
    /// // A correctly signed delivery sent two minutes ago is too old.
    /// let ts = (chrono::Utc::now().timestamp_millis() - 120_000).to_string();
    /// let body = br#"{"eventName":"person.updated","objectMetadata":{"nameSingular":"person"},"record":{}}"#;
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
    /// let err = engine.handle_webhook(&ts, &sig, body).await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::WebhookRejected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn webhook_max_age(mut self, age: std::time::Duration) -> Self {
        self.engine.config.webhook_max_age = age;
        self
    }

    /// Whether a push sends its updates and soft deletes of linked records in batches (default
    /// `true`; see [`EngineConfig::batch_writes`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .batch_writes(false) // one request per updated or deleted record
    ///     .build()?;
    /// assert!(!engine.config().batch_writes);
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_writes(mut self, batch: bool) -> Self {
        self.engine.config.batch_writes = batch;
        self
    }

    /// How many batch requests a push sends at once, fixed at `requests` (1..=
    /// [`MAX_PUSH_IN_FLIGHT`]): sets both [`EngineConfig::push_in_flight`] and
    /// [`EngineConfig::push_in_flight_max`]. By default a push starts at 1 and raises the number
    /// itself while the rate limit is not what holds it; follow with [`Self::push_in_flight_max`]
    /// to start at `requests` and let it raise them.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// // A Twenty known to take about a second to answer a batch, under its limit of a request
    /// // every 600 ms: two batches in flight from the first chunk on keep the push at the limit.
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .push_in_flight(2)
    ///     .build()?;
    /// assert_eq!((engine.config().push_in_flight, engine.config().push_in_flight_max), (2, 2));
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let none = SyncEngine::builder(client, MemorySource::new(), MemoryState::new()).push_in_flight(0).build();
    /// assert_eq!(none.err().map(|e| e.kind()), Some(SyncErrorKind::Config));
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_in_flight(mut self, requests: usize) -> Self {
        self.engine.config.push_in_flight = requests;
        self.engine.config.push_in_flight_max = requests;
        self
    }

    /// The most batch requests a push may raise itself to while the rate limit is not what holds
    /// it (default [`MAX_PUSH_IN_FLIGHT`]; see [`EngineConfig::push_in_flight_max`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = || twenty_client::Client::builder("https://crm.example.com/".parse().unwrap(), secrecy::SecretString::from("fake-api-key")).build().unwrap();
    /// // Start at 2 and go up to 4 if Twenty answers slowly.
    /// let engine = SyncEngine::builder(client(), MemorySource::new(), MemoryState::new())
    ///     .push_in_flight(2)
    ///     .push_in_flight_max(4)
    ///     .build()?;
    /// assert_eq!((engine.config().push_in_flight, engine.config().push_in_flight_max), (2, 4));
    /// // A most below the start is a configuration error.
    /// let below = SyncEngine::builder(client(), MemorySource::new(), MemoryState::new())
    ///     .push_in_flight(2)
    ///     .push_in_flight_max(1)
    ///     .build();
    /// assert_eq!(below.err().map(|e| e.kind()), Some(SyncErrorKind::Config));
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_in_flight_max(mut self, requests: usize) -> Self {
        self.engine.config.push_in_flight_max = requests;
        self
    }

    /// The webhook signing secret.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .webhook_secret(secrecy::SecretString::from("fake-webhook-secret"))
    ///     .build()?;
    /// let ts = chrono::Utc::now().timestamp_millis().to_string();
    /// let body = br#"{"eventName":"company.created","objectMetadata":{"nameSingular":"company"},"record":{}}"#;
    /// // Signed with another secret: rejected.
    /// let forged = twenty_sim::sign_webhook("not-the-secret", &ts, body);
    /// let err = engine.handle_webhook(&ts, &forged, body).await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::WebhookRejected);
    /// // Signed with the secret: accepted (and ignored, as no entity maps companies).
    /// let signed = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
    /// let outcome = engine.handle_webhook(&ts, &signed, body).await?;
    /// assert!(matches!(outcome, WebhookOutcome::Ignored(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn webhook_secret(mut self, secret: SecretString) -> Self {
        self.engine.webhook_secret = Some(secret);
        self
    }

    /// Resolve the webhook secret by name from the secret provider (at each delivery).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use twenty_sync_core::InMemorySecrets;
    ///
    /// let secrets = InMemorySecrets::new().with_secret("twenty-webhook", "fake-webhook-secret");
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .secrets(Arc::new(secrets))
    ///     .webhook_secret_name("twenty-webhook")
    ///     .build()?;
    /// let ts = chrono::Utc::now().timestamp_millis().to_string();
    /// let body = br#"{"eventName":"company.created","objectMetadata":{"nameSingular":"company"},"record":{}}"#;
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
    /// assert!(matches!(engine.handle_webhook(&ts, &sig, body).await?, WebhookOutcome::Ignored(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn webhook_secret_name(mut self, name: impl Into<String>) -> Self {
        self.engine.webhook_secret_name = Some(name.into());
        self
    }

    /// The secret provider and the name of the API key: on a 401 the engine re-resolves the key
    /// once (rotation) before failing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use secrecy::SecretString;
    /// use twenty_sync_core::InMemorySecrets;
    ///
    /// let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("rotated-key").seed_people(2)).await?;
    /// // The client starts with a key Twenty no longer accepts ...
    /// let client = twenty_client::Client::builder(sim.base_url(), SecretString::from("revoked-key")).build()?;
    /// // ... and the secret provider holds the current one.
    /// let secrets = InMemorySecrets::new().with_secret("twenty-api-key", "rotated-key");
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .api_key_secret(Arc::new(secrets), "twenty-api-key")
    ///     .build()?;
    /// let report = engine.pull(RunOptions::new()).await?;
    /// assert_eq!(report.entities["contacts:pull"].created, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn api_key_secret(
        mut self,
        provider: Arc<dyn SecretProvider>,
        name: impl Into<String>,
    ) -> Self {
        self.engine.secrets = Some(provider);
        self.engine.api_key_name = Some(name.into());
        self
    }

    /// The secret provider (also used for the webhook secret name).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// use twenty_sync_core::InMemorySecrets;
    ///
    /// let secrets = Arc::new(InMemorySecrets::new());
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .secrets(secrets.clone())
    ///     .webhook_secret_name("twenty-webhook")
    ///     .build()?;
    /// // The name is resolved at each delivery: not there yet, so the delivery is refused.
    /// let err = engine.handle_webhook("0", "sig", b"{}").await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// secrets.insert("twenty-webhook", "fake-webhook-secret");
    /// let err = engine.handle_webhook("0", "sig", b"{}").await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::WebhookRejected); // now checked, and forged
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn secrets(mut self, provider: Arc<dyn SecretProvider>) -> Self {
        self.engine.secrets = Some(provider);
        self
    }

    /// Where progress events go.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use std::sync::Mutex;
    ///
    /// let events = Arc::new(Mutex::new(Vec::new()));
    /// let seen = events.clone();
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .progress(ProgressSink::new(move |e: &ProgressEvent| seen.lock().unwrap().push(e.clone())))
    ///     .build()?;
    /// engine.pull(RunOptions::new()).await?;
    /// let events = events.lock().unwrap();
    /// assert!(matches!(events.first(), Some(ProgressEvent::RunStarted { .. })));
    /// assert!(matches!(events.last(), Some(ProgressEvent::RunFinished { .. })));
    /// assert!(events.iter().any(|e| matches!(e, ProgressEvent::Written { count: 3, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn progress(mut self, sink: ProgressSink) -> Self {
        self.engine.progress = Some(sink);
        self
    }

    /// Whether audit entries record before/after values of changed, non-secret fields (default:
    /// never; see [`AuditValues`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::{AuditAction, AuditQuery, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let engine = SyncEngine::builder(client, MemorySource::new(), state.clone())
    ///     .entity(Arc::new(contacts))
    ///     .audit_values(AuditValues::changed())
    ///     .build()?;
    /// engine.pull(RunOptions::new()).await?;
    /// let id = sim.handle().records("people")[0]["id"].as_str().unwrap().to_owned();
    /// sim.handle().update_record("people", &id, serde_json::json!({"jobTitle": "CTO"}));
    /// engine.pull(RunOptions::new()).await?;
    ///
    /// let audit = state.audit(&AuditQuery::default()).await?;
    /// let update = audit.iter().find(|e| e.action == AuditAction::Update).expect("an update");
    /// assert_eq!(update.field_values().unwrap()["title"]["after"], "CTO");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn audit_values(mut self, values: AuditValues) -> Self {
        self.engine.config.audit_values = values;
        self
    }

    /// Failpoints (tests).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_AFTER_TWENTY_WRITE};
    ///
    /// let failpoints = Failpoints::new();
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
    /// let engine = SyncEngine::builder(client, source, MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .failpoints(failpoints.clone())
    ///     .build()?;
    /// failpoints.arm(PUSH_AFTER_TWENTY_WRITE, 1);
    /// assert!(engine.push(RunOptions::new()).await.is_err()); // "crashed" after writing to Twenty
    /// engine.push(RunOptions::new()).await?;
    /// assert_eq!(sim.handle().count("people"), 1); // resumed without a duplicate
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn failpoints(mut self, failpoints: Failpoints) -> Self {
        self.engine.failpoints = failpoints;
        self
    }

    /// Replaces the whole configuration.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let config = EngineConfig { batch_size: 50, holder_id: "worker-1".into(), ..EngineConfig::default() };
    /// let engine = SyncEngine::builder(client.clone(), MemorySource::new(), MemoryState::new())
    ///     .config(config)
    ///     .build()?;
    /// assert_eq!(engine.config().batch_size, 50);
    ///
    /// // The whole configuration is checked by `build`.
    /// let bad = EngineConfig { batch_size: 0, ..EngineConfig::default() };
    /// let err = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .config(bad)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// # Ok(())
    /// # }
    /// ```
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.engine.config = config;
        self
    }

    /// Checks the configuration and builds the engine.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let contacts = Arc::new(FieldMap::new("contacts", "people", "person"));
    /// let err = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(contacts.clone())
    ///     .entity(contacts)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// assert!(err.message().contains("configured twice"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(mut self) -> Result<SyncEngine<S, T>, SyncError> {
        let mut names = HashSet::new();
        for e in &self.engine.entities {
            if !names.insert(e.name().to_owned()) {
                return Err(SyncError::new(
                    SyncErrorKind::Config,
                    format!("entity `{}` is configured twice", e.name()),
                ));
            }
        }
        if self.engine.config.webhook_mode == crate::RunMode::Push {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                "webhook_mode must be Pull or Sync: a delivery brings a change from Twenty",
            ));
        }
        if self.engine.config.batch_size == 0 || self.engine.config.batch_size > 200 {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                "batch size must be between 1 and 200",
            ));
        }
        let (start, most) = (
            self.engine.config.push_in_flight,
            self.engine.config.push_in_flight_max,
        );
        if !(1..=MAX_PUSH_IN_FLIGHT).contains(&start) {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                format!(
                    "push_in_flight must be between 1 and {MAX_PUSH_IN_FLIGHT} (requests of one push chunk sent at once)"
                ),
            ));
        }
        if !(start..=MAX_PUSH_IN_FLIGHT).contains(&most) {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                format!(
                    "push_in_flight_max ({most}) must be between push_in_flight ({start}) and {MAX_PUSH_IN_FLIGHT} (the most requests of one push chunk a push may raise itself to)"
                ),
            ));
        }
        let cap = self.engine.config.replay_cache;
        self.engine.replays = Mutex::new(ReplayCache {
            cap,
            ..Default::default()
        });
        Ok(self.engine)
    }
}
