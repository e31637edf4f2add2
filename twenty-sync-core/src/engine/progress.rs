//! Progress events, for progress bars and monitoring.

use std::fmt;
use std::sync::Arc;

use crate::model::SyncDirection;

/// Something a run did; sent to the [`ProgressSink`] as it happens.
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
    pub fn new(f: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Self {
        ProgressSink(Arc::new(f))
    }

    /// Sends one event.
    pub fn emit(&self, event: ProgressEvent) {
        (self.0)(&event);
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}
