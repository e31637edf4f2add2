//! Named crash points, to test that an interrupted run resumes without loss or duplicates.
//!
//! Public so that integration tests (and sinks' own tests) can use them; a production engine
//! simply never arms one. An armed point makes the engine stop with
//! [`SyncErrorKind::Failpoint`] the next time it is reached,
//! exactly as if the process had died there (nothing after it runs; nothing is cleaned up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::error::{SyncError, SyncErrorKind};

/// After the write-ahead create intents of a push batch are committed, before Twenty is called.
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
/// # let source = MemorySource::new();
/// # source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
/// # let engine = SyncEngine::builder(client, source.clone(), MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// use twenty_sync_core::engine::failpoints::PUSH_AFTER_PENDING_COMMIT;
///
/// engine.failpoints().arm(PUSH_AFTER_PENDING_COMMIT, 1);
/// assert!(engine.push(RunOptions::new()).await.is_err());
/// assert_eq!(sim.handle().count("people"), 0); // stopped before calling Twenty
/// engine.push(RunOptions::new()).await?;
/// assert_eq!(sim.handle().count("people"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const PUSH_AFTER_PENDING_COMMIT: &str = "push.after_pending_commit";
/// After a push batch was written to Twenty, before anything is recorded.
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
/// # let source = MemorySource::new();
/// # source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
/// # let engine = SyncEngine::builder(client, source.clone(), MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// use twenty_sync_core::engine::failpoints::PUSH_AFTER_TWENTY_WRITE;
///
/// engine.failpoints().arm(PUSH_AFTER_TWENTY_WRITE, 1);
/// assert!(engine.push(RunOptions::new()).await.is_err());
/// assert_eq!(sim.handle().count("people"), 1); // written, but not recorded
/// engine.push(RunOptions::new()).await?;
/// assert_eq!(sim.handle().count("people"), 1); // recovered, not created twice
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const PUSH_AFTER_TWENTY_WRITE: &str = "push.after_twenty_write";
/// Right before the state of a push batch (ID map, hashes, cursor) is committed.
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
/// # let source = MemorySource::new();
/// # source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
/// # let engine = SyncEngine::builder(client, source.clone(), MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// use twenty_sync_core::engine::failpoints::PUSH_BEFORE_STATE_COMMIT;
///
/// engine.failpoints().arm(PUSH_BEFORE_STATE_COMMIT, 1);
/// let err = engine.push(RunOptions::new()).await.unwrap_err();
/// assert_eq!(err.kind(), SyncErrorKind::Failpoint);
/// engine.push(RunOptions::new()).await?;
/// assert_eq!(sim.handle().count("people"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const PUSH_BEFORE_STATE_COMMIT: &str = "push.before_state_commit";
/// After a pull batch was applied to the source, before the state is committed separately.
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
/// # let source = MemorySource::new();
/// # let state = MemoryState::new();
/// # let engine = SyncEngine::builder(client, source.clone(), state.clone()).entity(Arc::new(contacts)).build()?;
/// use twenty_sync_core::engine::failpoints::PULL_AFTER_SOURCE_APPLY;
///
/// engine.failpoints().arm(PULL_AFTER_SOURCE_APPLY, 1);
/// assert!(engine.pull(RunOptions::new()).await.is_err());
/// assert_eq!(source.records("contacts").len(), 3); // applied locally, state not committed
/// let again = engine.pull(RunOptions::new()).await?;
/// assert_eq!(source.records("contacts").len(), 3);
/// assert!(again.failures.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const PULL_AFTER_SOURCE_APPLY: &str = "pull.after_source_apply";
/// Before the final pull cursor (the walk start) is committed.
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
/// # let source = MemorySource::new();
/// # let state = MemoryState::new();
/// # let engine = SyncEngine::builder(client, source.clone(), state.clone()).entity(Arc::new(contacts)).build()?;
/// use twenty_sync_core::engine::failpoints::PULL_BEFORE_CURSOR_COMMIT;
/// use twenty_sync_core::{StateStore, SyncDirection};
///
/// engine.failpoints().arm(PULL_BEFORE_CURSOR_COMMIT, 1);
/// assert!(engine.pull(RunOptions::new()).await.is_err());
/// engine.pull(RunOptions::new()).await?;
/// assert!(state.cursor("contacts", SyncDirection::Pull).await?.is_some());
/// assert_eq!(source.records("contacts").len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const PULL_BEFORE_CURSOR_COMMIT: &str = "pull.before_cursor_commit";

/// Every failpoint the engine checks.
///
/// ```
/// use twenty_sync_core::engine::failpoints::{Failpoints, ALL};
///
/// let fp = Failpoints::new();
/// for point in ALL {
///     assert!(point.starts_with("push.") || point.starts_with("pull."));
///     fp.arm(point, 1);
///     assert!(fp.check(point).is_err(), "{point} fires once armed");
/// }
/// ```
pub const ALL: &[&str] = &[
    PUSH_AFTER_PENDING_COMMIT,
    PUSH_AFTER_TWENTY_WRITE,
    PUSH_BEFORE_STATE_COMMIT,
    PULL_AFTER_SOURCE_APPLY,
    PULL_BEFORE_CURSOR_COMMIT,
];

/// A set of armed failpoints, shared by clones.
///
/// ```
/// use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_AFTER_TWENTY_WRITE};
/// let fp = Failpoints::new();
/// fp.arm(PUSH_AFTER_TWENTY_WRITE, 1);
/// assert!(fp.check(PUSH_AFTER_TWENTY_WRITE).is_err());
/// assert!(fp.check(PUSH_AFTER_TWENTY_WRITE).is_ok(), "fires once");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Failpoints {
    armed: Arc<Mutex<HashMap<String, u32>>>,
}

impl Failpoints {
    /// No point armed.
    ///
    /// ```
    /// use twenty_sync_core::engine::failpoints::{Failpoints, ALL};
    ///
    /// let fp = Failpoints::new();
    /// assert!(ALL.iter().all(|p| fp.check(p).is_ok()), "nothing armed");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `name` so that its `hit`-th visit (1 = the next one) fails, once.
    ///
    /// ```
    /// use twenty_sync_core::engine::failpoints::{Failpoints, PULL_AFTER_SOURCE_APPLY};
    ///
    /// let fp = Failpoints::new();
    /// fp.arm(PULL_AFTER_SOURCE_APPLY, 2); // the second visit fails
    /// assert!(fp.check(PULL_AFTER_SOURCE_APPLY).is_ok());
    /// assert!(fp.check(PULL_AFTER_SOURCE_APPLY).is_err());
    /// assert!(fp.check(PULL_AFTER_SOURCE_APPLY).is_ok()); // and only once
    /// ```
    pub fn arm(&self, name: &str, hit: u32) {
        if let Ok(mut m) = self.armed.lock() {
            m.insert(name.to_owned(), hit.max(1));
        }
    }

    /// Disarms every point.
    ///
    /// ```
    /// use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_AFTER_TWENTY_WRITE};
    ///
    /// let fp = Failpoints::new();
    /// fp.arm(PUSH_AFTER_TWENTY_WRITE, 1);
    /// fp.clear();
    /// assert!(fp.check(PUSH_AFTER_TWENTY_WRITE).is_ok());
    /// ```
    pub fn clear(&self) {
        if let Ok(mut m) = self.armed.lock() {
            m.clear();
        }
    }

    /// Called by the engine at point `name`: fails when it is armed and due.
    ///
    /// ```
    /// use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_BEFORE_STATE_COMMIT};
    /// use twenty_sync_core::engine::SyncErrorKind;
    ///
    /// let fp = Failpoints::new();
    /// let shared = fp.clone(); // clones share the armed points
    /// fp.arm(PUSH_BEFORE_STATE_COMMIT, 1);
    /// let err = shared.check(PUSH_BEFORE_STATE_COMMIT).unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Failpoint);
    /// ```
    pub fn check(&self, name: &str) -> Result<(), SyncError> {
        let Ok(mut m) = self.armed.lock() else {
            return Ok(());
        };
        let Some(left) = m.get_mut(name) else {
            return Ok(());
        };
        *left -= 1;
        if *left == 0 {
            m.remove(name);
            return Err(SyncError::new(
                SyncErrorKind::Failpoint,
                format!("failpoint `{name}` fired (simulated crash); run again to resume"),
            ));
        }
        Ok(())
    }
}
