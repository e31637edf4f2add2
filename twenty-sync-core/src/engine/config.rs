//! Engine options and per-run options.

use std::time::Duration;

use super::audit::AuditValues;

/// What a local delete does in Twenty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PushDeleteMode {
    /// Soft delete (Twenty keeps the record in its trash; it can be restored). The default.
    #[default]
    SoftDelete,
    /// Permanent delete.
    Destroy,
    /// Local deletes are not propagated.
    Ignore,
}

/// What a delete in Twenty does locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PullDeleteMode {
    /// Delete the local record. The default.
    #[default]
    Delete,
    /// Keep the local record, marked as deleted (`InboundChangeKind::Delete { tombstone: true }`).
    Tombstone,
}

/// How an install is triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TriggerMode {
    /// Only polling runs.
    PollingOnly,
    /// Webhooks for low latency plus periodic reconcile polling (Twenty does not retry failed
    /// deliveries, so polling is what guarantees completeness). The default.
    #[default]
    WebhooksWithReconcile,
}

/// Engine-wide options (set through [`SyncEngineBuilder`](super::SyncEngineBuilder)).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Records per batch (page size of pulls, chunk size of pushes), 1..=200. Default 100.
    pub batch_size: usize,
    /// How far before the watermark each pull starts again. Default 5 minutes.
    pub overlap: Duration,
    /// Local deletes in Twenty.
    pub push_delete: PushDeleteMode,
    /// Twenty deletes locally.
    pub pull_delete: PullDeleteMode,
    /// Lease time-to-live. Default 10 minutes.
    pub lease_ttl: Duration,
    /// Lease holder id (default: a random id per engine).
    pub holder_id: String,
    /// Trigger mode.
    pub trigger: TriggerMode,
    /// Largest accepted webhook age. Default 5 minutes.
    pub webhook_max_age: Duration,
    /// How many webhook delivery ids are remembered to drop replays. Default 10,000.
    pub replay_cache: usize,
    /// Whether audit entries record the before/after values of changed (non-secret) fields.
    /// Default [`AuditValues::Off`]: field names and hashes only.
    pub audit_values: AuditValues,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 100,
            overlap: Duration::from_secs(300),
            push_delete: PushDeleteMode::default(),
            pull_delete: PullDeleteMode::default(),
            lease_ttl: Duration::from_secs(600),
            holder_id: format!("engine-{}", uuid::Uuid::new_v4()),
            trigger: TriggerMode::default(),
            webhook_max_age: Duration::from_secs(300),
            replay_cache: 10_000,
            audit_values: AuditValues::Off,
        }
    }
}

/// Options of one run.
///
/// ```
/// use twenty_sync_core::engine::RunOptions;
/// let opts = RunOptions::new().dry_run(true).entity("contacts");
/// assert!(opts.is_dry_run());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) dry_run: bool,
    pub(crate) entities: Option<Vec<String>>,
}

impl RunOptions {
    /// A real run over every entity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compute the plan only: nothing is written to Twenty, to the source, or to the state
    /// (except the run record, marked `dry_run`).
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Restricts the run to this entity (call again to add more).
    pub fn entity(mut self, name: impl Into<String>) -> Self {
        self.entities.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}
