//! Where a pull's decided pages are committed: at once (webhooks, the retry pass), or by a
//! committer that applies one batch while the walk fetches, maps and looks up the next.
//!
//! The committer runs concurrently with the walk in the same task (`tokio::join!`), so it
//! borrows the engine like the walk does. It hands each batch to the store as an
//! `Arc<ApplyBatch>` ([`SourceOfTruth::apply_shared`](crate::SourceOfTruth::apply_shared)), so a
//! store can apply it from a task of its own while the walk keeps this one busy. At most one
//! batch is in flight: the walk hands batch *k* over only after batch *k - 1* is acknowledged,
//! so memory stays bounded by two batches, and a batch that fails stops the committer before
//! any later batch (whose cursor is further on) is applied. Batches are full once a pull is
//! under way; at its start the walk hands over what it has staged whenever the committer would
//! otherwise wait ([`PullCommits::takes_early_batch`]). A page that touches a record of the
//! batch in flight (same Twenty id, or a new record with the same local key) waits for it, so
//! every page is still decided against committed state.

use std::collections::{BTreeSet, HashSet};

use tokio::sync::mpsc;

use crate::model::{InboundChange, StateCommit};

use super::error::{SyncError, SyncErrorKind};
use super::retry::RetrySet;
use super::watermark::PullCursor;

/// A decided batch of pulled pages: the local changes, the state that records them and the
/// cursor after the last page (`None`: the cursor does not move).
pub(super) struct StagedBatch {
    pub(super) changes: Vec<InboundChange>,
    pub(super) commit: StateCommit,
    pub(super) cursor: Option<PullCursor>,
}

/// What the walk keeps of the batch in flight until the committer acknowledges it.
pub(super) struct InFlight {
    /// Twenty ids of every record of the batch, written or not (for the retry set).
    pub(super) processed: Vec<String>,
    /// Twenty ids of the records that failed (kept in the retry set).
    pub(super) failed: BTreeSet<String>,
    pub(super) twenty_ids: HashSet<String>,
    /// Local keys the batch writes (data or state).
    pub(super) keys: HashSet<String>,
}

/// The walk's end of a commit pipeline.
pub(super) struct Pipeline {
    jobs: mpsc::Sender<StagedBatch>,
    acks: mpsc::Receiver<Result<(), SyncError>>,
    in_flight: Option<InFlight>,
    /// Writes (changes or state rows, whichever a batch has more of) handed over so far.
    handed_writes: usize,
}

/// The committer's end: batches to apply, and where to acknowledge each.
pub(super) struct CommitterEnd {
    pub(super) jobs: mpsc::Receiver<StagedBatch>,
    pub(super) acks: mpsc::Sender<Result<(), SyncError>>,
}

/// How [`flush_pull`](super::SyncEngine) commits what a walk staged.
pub(super) enum PullCommits {
    /// Commit at once and return when committed.
    Inline,
    /// Hand the batch to a committer running beside the walk.
    Pipelined(Pipeline),
}

impl PullCommits {
    /// A pipeline with one batch in flight at most, and the committer's end of it.
    pub(super) fn pipelined() -> (PullCommits, CommitterEnd) {
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        let (acks_tx, acks_rx) = mpsc::channel(1);
        (
            PullCommits::Pipelined(Pipeline {
                jobs: jobs_tx,
                acks: acks_rx,
                in_flight: None,
                handed_writes: 0,
            }),
            CommitterEnd {
                jobs: jobs_rx,
                acks: acks_tx,
            },
        )
    }

    /// Whether what is staged should go to the committer before it makes a full batch of
    /// `commit_size` writes: while the pull has handed over fewer writes than that in all, a
    /// committer that has nothing to do takes what there is (no batch in flight, or the one in
    /// flight acknowledged already). A short pull, an incremental one typically, then has its
    /// writes applied while its later pages are read, instead of all of them after the walk; a
    /// long one pays a few smaller commits at its start and then commits full batches. Never
    /// for inline commits. (The walk asks only where the source says its commits cost about
    /// their size, [`SourceOfTruth::commits_early`](crate::SourceOfTruth::commits_early).)
    pub(super) fn takes_early_batch(&self, commit_size: usize) -> bool {
        match self {
            PullCommits::Inline => false,
            PullCommits::Pipelined(p) => {
                p.handed_writes < commit_size && (p.in_flight.is_none() || !p.acks.is_empty())
            }
        }
    }

    /// Whether the batch in flight holds the Twenty id `id`.
    pub(super) fn in_flight_has_id(&self, id: &str) -> bool {
        match self {
            PullCommits::Pipelined(Pipeline {
                in_flight: Some(f), ..
            }) => f.twenty_ids.contains(id),
            _ => false,
        }
    }

    /// Whether the batch in flight writes the local key `key`.
    pub(super) fn in_flight_has_key(&self, key: &str) -> bool {
        match self {
            PullCommits::Pipelined(Pipeline {
                in_flight: Some(f), ..
            }) => f.keys.contains(key),
            _ => false,
        }
    }
}

impl Pipeline {
    /// Waits until the batch in flight (if any) is committed, and records its outcome in the
    /// retry set. Returns the committer's error when the batch failed.
    pub(super) async fn settle(&mut self, retry: Option<&mut RetrySet>) -> Result<(), SyncError> {
        let Some(done) = self.in_flight.take() else {
            return Ok(());
        };
        match self.acks.recv().await {
            Some(Ok(())) => {
                if let Some(retry) = retry {
                    retry.absorb(done.processed.iter(), &done.failed);
                }
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(committer_gone()),
        }
    }

    /// Hands `batch` to the committer. Call [`settle`](Self::settle) first: one batch in flight.
    pub(super) async fn send(
        &mut self,
        batch: StagedBatch,
        in_flight: InFlight,
    ) -> Result<(), SyncError> {
        debug_assert!(self.in_flight.is_none(), "one batch in flight at most");
        let writes = batch.changes.len().max(batch.commit.upsert_records.len());
        self.jobs.send(batch).await.map_err(|_| committer_gone())?;
        self.handed_writes = self.handed_writes.saturating_add(writes);
        self.in_flight = Some(in_flight);
        Ok(())
    }
}

fn committer_gone() -> SyncError {
    SyncError::new(
        SyncErrorKind::Store,
        "the pull's committer stopped before acknowledging a batch; nothing after the last \
         committed batch was applied, run again to continue",
    )
}
