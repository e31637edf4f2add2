//! Progress events, for progress bars and monitoring.

use std::fmt;
use std::sync::Arc;

use crate::model::SyncDirection;

/// Something a run did; sent to the [`ProgressSink`] as it happens.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(4)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
/// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
/// #     .match_key("emails.primaryEmail");
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let written = Arc::new(AtomicU64::new(0));
/// let counter = written.clone();
/// let sink = ProgressSink::new(move |e: &ProgressEvent| {
///     if let ProgressEvent::Written { count, .. } = e {
///         counter.fetch_add(*count, Ordering::Relaxed);
///     }
/// });
/// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
///     .entity(Arc::new(contacts))
///     .progress(sink)
///     .build()?;
/// engine.pull(RunOptions::new()).await?;
/// assert_eq!(written.load(Ordering::Relaxed), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A run started.
    RunStarted {
        /// Run id.
        run_id: String,
    },
    /// Records were read (from Twenty for a pull, from the source for a push).
    Seen {
        /// Entity.
        entity: String,
        /// Direction.
        direction: SyncDirection,
        /// How many.
        count: u64,
    },
    /// Records were written (or, in a dry run, planned).
    Written {
        /// Entity.
        entity: String,
        /// Direction.
        direction: SyncDirection,
        /// How many.
        count: u64,
    },
    /// Records failed (listed in the report).
    Failed {
        /// Entity.
        entity: String,
        /// Direction.
        direction: SyncDirection,
        /// How many.
        count: u64,
    },
    /// The client waited for rate limits or backoff during a batch.
    Throttled {
        /// Milliseconds waited.
        millis: u64,
    },
    /// A run finished (successfully or not).
    RunFinished {
        /// Run id.
        run_id: String,
    },
}

/// Receives progress events. Must be cheap and must not block (forward to a channel if needed).
///
/// ```
/// use std::sync::Arc;
/// use twenty_sync_core::engine::{ProgressEvent, ProgressSink};
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let sink = ProgressSink::new(move |e: &ProgressEvent| { let _ = tx.send(e.clone()); });
/// sink.emit(ProgressEvent::RunStarted { run_id: "r1".into() });
/// assert!(rx.try_recv().is_ok());
/// ```
#[derive(Clone)]
pub struct ProgressSink(Arc<dyn Fn(&ProgressEvent) + Send + Sync>);

impl ProgressSink {
    /// A sink calling `f` for every event.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use twenty_sync_core::engine::{ProgressEvent, ProgressSink};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let lines = log.clone();
    /// let sink = ProgressSink::new(move |e: &ProgressEvent| lines.lock().unwrap().push(format!("{e:?}")));
    /// sink.emit(ProgressEvent::Throttled { millis: 250 });
    /// assert_eq!(log.lock().unwrap()[0], "Throttled { millis: 250 }");
    /// ```
    pub fn new(f: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Self {
        ProgressSink(Arc::new(f))
    }

    /// Sends one event.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use twenty_sync_core::engine::{ProgressEvent, ProgressSink};
    ///
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let c = calls.clone();
    /// let sink = ProgressSink::new(move |_: &ProgressEvent| { c.fetch_add(1, Ordering::Relaxed); });
    /// sink.emit(ProgressEvent::RunStarted { run_id: "r1".into() });
    /// sink.emit(ProgressEvent::RunFinished { run_id: "r1".into() });
    /// assert_eq!(calls.load(Ordering::Relaxed), 2);
    /// ```
    pub fn emit(&self, event: ProgressEvent) {
        (self.0)(&event);
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}
