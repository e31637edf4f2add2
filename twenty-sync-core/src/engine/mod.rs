//! The sync engine: pull, push and bidirectional sync between Twenty and a [`SourceOfTruth`],
//! with its state in a [`StateStore`].
//!
//! See [`SyncEngine`] for an end-to-end example and the crate README for the guarantees.

mod audit;
mod config;
mod conflict;
mod error;
pub mod failpoints;
mod mapper;
mod plan;
mod progress;
mod pull;
mod pull_commits;
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
pub use config::{
    EngineConfig, MatchStrategy, PullDeleteMode, PushDeleteMode, RunOptions, TriggerMode,
};
pub use conflict::{field_winner, resolve, Resolution, Winner};
pub use error::{SyncError, SyncErrorKind};
pub use failpoints::Failpoints;
pub(crate) use mapper::top_level_fields;
pub use mapper::{
    content_hash, get_path, set_path, ConflictPolicy, EntityMapper, FieldError, FieldMap,
    FieldOwner, FieldSpec, Mapped, Validator,
};
pub use plan::{field_diff, Plan, PlannedAction, PlannedWrite};
pub use progress::{ProgressEvent, ProgressSink};
pub use retry::RETRY_LIMIT;
pub use run::RunOutcome;
pub use trigger::WebhookOutcome;
pub use watermark::{PullCursor, Walk};

/// The sync engine.
///
/// Generic over the local [`SourceOfTruth`] `S` and the [`StateStore`] `T` (both work as
/// `Arc<dyn ...>`). Each run ([`pull`](Self::pull), [`push`](Self::push), [`sync`](Self::sync))
/// takes a lease per entity, streams records in bounded batches, saves its [`RunReport`]
/// (status `Running` at start, final at the end) and audits every write. A record that fails is
/// listed in the report and the run goes on; its key is kept in a retry set and retried first by
/// the next run of that entity and direction, until it succeeds or changes (at most
/// [`RETRY_LIMIT`] keys per entity and direction; overflow is reported). A run-level failure
/// returns a [`SyncError`] and leaves the state resumable.
///
/// ```no_run
/// # async fn demo(
/// #     source: std::sync::Arc<dyn twenty_sync_core::SourceOfTruth>,
/// #     state: std::sync::Arc<dyn twenty_sync_core::StateStore>,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use secrecy::SecretString;
/// use twenty_client::Client;
/// use twenty_sync_core::engine::{FieldMap, RunOptions, SyncEngine};
///
/// let client = Client::builder(
///     "https://crm.example.com/".parse()?,
///     SecretString::from("api-key"),
/// )
/// .build()?;
/// let contacts = FieldMap::new("contacts", "people", "person")
///     .field("email", "emails.primaryEmail")
///     .field("first_name", "name.firstName")
///     .local_key("id")
///     .match_key("emails.primaryEmail");
/// let engine = SyncEngine::builder(client, source, state)
///     .entity(Arc::new(contacts))
///     .build()?;
///
/// // Preview, then do it.
/// let preview = engine.run(twenty_sync_core::RunMode::Sync, RunOptions::new().dry_run(true)).await?;
/// println!("would write {} records", preview.plan.writes.len());
/// let report = engine.sync(RunOptions::new()).await?;
/// println!("{}", report.summary());
/// # Ok(()) }
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
#[derive(Debug)]
pub struct SyncEngineBuilder<S, T> {
    engine: SyncEngine<S, T>,
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Starts building an engine over `client`, the local `source` and the `state` store.
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
            },
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The source of truth.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The state store.
    pub fn state(&self) -> &T {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The failpoints of this engine (tests arm them to simulate crashes).
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
    pub fn entity(mut self, mapper: Arc<dyn EntityMapper>) -> Self {
        self.engine.entities.push(mapper);
        self
    }

    /// Records per batch, clamped to 1..=200 (default 100).
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

    /// Pull overlap window (default 5 minutes).
    pub fn overlap(mut self, overlap: std::time::Duration) -> Self {
        self.engine.config.overlap = overlap;
        self
    }

    /// What a local delete does in Twenty (default soft delete).
    pub fn push_delete(mut self, mode: PushDeleteMode) -> Self {
        self.engine.config.push_delete = mode;
        self
    }

    /// What a Twenty delete does locally (default delete).
    pub fn pull_delete(mut self, mode: PullDeleteMode) -> Self {
        self.engine.config.pull_delete = mode;
        self
    }

    /// Lease time-to-live and holder id.
    pub fn lease(mut self, ttl: std::time::Duration, holder_id: impl Into<String>) -> Self {
        self.engine.config.lease_ttl = ttl;
        self.engine.config.holder_id = holder_id.into();
        self
    }

    /// Trigger mode (default webhooks plus reconcile polling).
    pub fn trigger(mut self, mode: TriggerMode) -> Self {
        self.engine.config.trigger = mode;
        self
    }

    /// Largest accepted webhook age (default 5 minutes).
    pub fn webhook_max_age(mut self, age: std::time::Duration) -> Self {
        self.engine.config.webhook_max_age = age;
        self
    }

    /// The webhook signing secret.
    pub fn webhook_secret(mut self, secret: SecretString) -> Self {
        self.engine.webhook_secret = Some(secret);
        self
    }

    /// Resolve the webhook secret by name from the secret provider (at each delivery).
    pub fn webhook_secret_name(mut self, name: impl Into<String>) -> Self {
        self.engine.webhook_secret_name = Some(name.into());
        self
    }

    /// The secret provider and the name of the API key: on a 401 the engine re-resolves the key
    /// once (rotation) before failing.
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
    pub fn secrets(mut self, provider: Arc<dyn SecretProvider>) -> Self {
        self.engine.secrets = Some(provider);
        self
    }

    /// Where progress events go.
    pub fn progress(mut self, sink: ProgressSink) -> Self {
        self.engine.progress = Some(sink);
        self
    }

    /// Whether audit entries record before/after values of changed, non-secret fields (default:
    /// never; see [`AuditValues`]).
    pub fn audit_values(mut self, values: AuditValues) -> Self {
        self.engine.config.audit_values = values;
        self
    }

    /// Failpoints (tests).
    pub fn failpoints(mut self, failpoints: Failpoints) -> Self {
        self.engine.failpoints = failpoints;
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.engine.config = config;
        self
    }

    /// Checks the configuration and builds the engine.
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
        if self.engine.config.batch_size == 0 || self.engine.config.batch_size > 200 {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                "batch size must be between 1 and 200",
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
