//! [`SyncError`]: why a whole run stopped (record-level failures are in the report instead).

use std::fmt;

use crate::error::StoreError;

/// What stopped a run.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
/// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new()).build()?;
/// match engine.pull(RunOptions::new().entity("contacts")).await {
///     Err(e) if e.kind() == SyncErrorKind::Config => assert!(e.message().contains("unknown entity")),
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncErrorKind {
    /// Another run holds the lease on this workspace and entity. Wait for it, or for the lease
    /// to expire.
    LeaseHeld,
    /// Twenty could not be reached or kept failing after the client's retries.
    Twenty,
    /// Twenty rejected the API key, also after re-resolving it once.
    Unauthorized,
    /// The source of truth or the state store failed.
    Store,
    /// The engine is misconfigured (unknown entity, missing secret ...).
    Config,
    /// A test failpoint fired (simulated crash).
    Failpoint,
    /// A webhook delivery was forged, altered, stale or malformed.
    WebhookRejected,
    /// The run panicked: a bug in the engine, or in a source or store. Only the run's saved
    /// report carries this error; `run` gives the leases back and then resumes the panic.
    Panicked,
}

/// A run-level failure. The state is always left resumable: run again to continue.
///
/// ```
/// use twenty_sync_core::engine::{SyncError, SyncErrorKind};
///
/// let e = SyncError::new(SyncErrorKind::LeaseHeld, "contacts is being synced by worker-2");
/// assert!(e.is_temporary()); // run again later
/// assert_eq!(e.to_string(), "sync LeaseHeld (temporary): contacts is being synced by worker-2");
/// ```
pub struct SyncError {
    kind: SyncErrorKind,
    message: String,
    temporary: bool,
    run_id: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SyncError {
    /// A new error.
    ///
    /// ```
    /// use twenty_sync_core::engine::{SyncError, SyncErrorKind};
    ///
    /// let e = SyncError::new(SyncErrorKind::Config, "no entity configured");
    /// assert_eq!(e.kind(), SyncErrorKind::Config);
    /// assert!(!e.is_temporary());
    /// assert_eq!(e.run_id(), None);
    /// ```
    pub fn new(kind: SyncErrorKind, message: impl Into<String>) -> Self {
        SyncError {
            kind,
            message: message.into(),
            temporary: matches!(kind, SyncErrorKind::LeaseHeld),
            run_id: None,
            source: None,
        }
    }

    pub(crate) fn from_store(what: &str, e: StoreError) -> Self {
        // A commit refused for a lost lease: another run holds the entity now.
        let kind = if e.kind() == crate::StoreErrorKind::LeaseLost {
            SyncErrorKind::LeaseHeld
        } else {
            SyncErrorKind::Store
        };
        let mut s = SyncError::new(kind, format!("{what}: {e}"));
        s.temporary = e.is_temporary();
        s.source = Some(Box::new(e));
        s
    }

    pub(crate) fn from_twenty(what: &str, e: twenty_client::Error) -> Self {
        let kind = if matches!(e.kind(), twenty_client::ErrorKind::Unauthorized) {
            SyncErrorKind::Unauthorized
        } else {
            SyncErrorKind::Twenty
        };
        let mut s = SyncError::new(kind, format!("{what}: {e}"));
        // Still failing after the client's own retries: the condition is still transient, and
        // the state is resumable, so running again later is the remedy.
        s.temporary = e.is_temporary()
            || matches!(
                e.kind(),
                twenty_client::ErrorKind::Server { .. }
                    | twenty_client::ErrorKind::RateLimited { .. }
                    | twenty_client::ErrorKind::Transport
            );
        s.source = Some(Box::new(e));
        s
    }

    pub(crate) fn with_run(mut self, run_id: &str) -> Self {
        self.run_id.get_or_insert_with(|| run_id.to_owned());
        self
    }

    /// What went wrong.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let err = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .config(EngineConfig { batch_size: 0, ..EngineConfig::default() })
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// # Ok(())
    /// # }
    /// ```
    pub fn kind(&self) -> SyncErrorKind {
        self.kind
    }

    /// Whether running again later may succeed without changing anything.
    ///
    /// ```
    /// use twenty_sync_core::engine::{SyncError, SyncErrorKind};
    ///
    /// let held = SyncError::new(SyncErrorKind::LeaseHeld, "another run holds the lease");
    /// let misconfigured = SyncError::new(SyncErrorKind::Config, "unknown entity");
    /// assert!(held.is_temporary());
    /// assert!(!misconfigured.is_temporary());
    /// ```
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// The run that stopped (its report is saved with status `Failed`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(2)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::{RunStatus, StateStore};
    ///
    /// let state = MemoryState::new();
    /// let engine = SyncEngine::builder(client, MemorySource::new(), state.clone())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// engine.failpoints().arm(failpoints::PULL_AFTER_SOURCE_APPLY, 1);
    /// let err = engine.pull(RunOptions::new()).await.unwrap_err();
    /// let run_id = err.run_id().expect("the run had started");
    /// let report = state.run(run_id).await?.expect("its report is saved");
    /// assert_eq!(report.status, RunStatus::Failed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// The message.
    ///
    /// ```
    /// use twenty_sync_core::engine::{SyncError, SyncErrorKind};
    ///
    /// let e = SyncError::new(SyncErrorKind::Store, "state store unreachable");
    /// assert_eq!(e.message(), "state store unreachable");
    /// assert!(e.to_string().ends_with(e.message()));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sync {:?}", self.kind)?;
        if self.temporary {
            f.write_str(" (temporary)")?;
        }
        if let Some(r) = &self.run_id {
            write!(f, " in run {r}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Debug for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncError")
            .field("kind", &self.kind)
            .field("temporary", &self.temporary)
            .field("run_id", &self.run_id)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}
