//! Where a pull's decided pages are committed: at once (webhooks, the retry pass), or by a
//! committer that applies batches while the walk fetches, maps and looks up the next.
//!
//! The committer runs concurrently with the walk in the same task (`tokio::join!`), so it
//! borrows the engine like the walk does. It hands each batch to the store as an
//! `Arc<ApplyBatch>` ([`SourceOfTruth::apply_shared`](crate::SourceOfTruth::apply_shared)), so a
//! store can apply it from a task of its own while the walk keeps this one busy. At most
//! `depth` batches are in flight (the source's
//! [`concurrent_applies`](crate::SourceOfTruth::concurrent_applies), 1 unless it can apply
//! batches side by side), so memory stays bounded by `depth + 1` batches, and they are
//! acknowledged in the order they were handed over.
//!
//! **The cursor never gets ahead of an unacknowledged batch.** A batch handed over while an
//! earlier one is still in flight does not write its own cursor: that earlier batch may still
//! fail, and a cursor past it would make the next pull skip its pages. It writes instead the
//! cursor after the last acknowledged batch (when no commit wrote it yet), and its own cursor
//! is written by a later commit once it is acknowledged. A crash therefore re-reads at most
//! the batches that were in flight. A pull's last batch also goes beside those in flight: once
//! every batch is acknowledged, the completed pull's cursor is committed on its own when that
//! batch could not write it. With one batch in flight, every batch writes its own cursor, and a
//! batch that fails stops the committer before any later batch.
//!
//! **Refused records.** A batch whose records the store refuses for their data is applied
//! without them, and acknowledged with them and without writing its cursor (see
//! `pull_refused`): the walk stores them in the retry set first, and only a later commit writes
//! a cursor past them ([`Pipeline::take_refused`]).
//!
//! Batches are full once a pull is under way; at its start the walk hands over what it has
//! staged whenever the committer has room for it ([`PullCommits::takes_early_batch`]). A
//! page that touches a record of a batch in flight (same Twenty id, or a new record with the
//! same local key) waits for every batch in flight, so every page is still decided against
//! committed state.

use std::collections::{BTreeSet, HashSet, VecDeque};

use tokio::sync::mpsc;

use crate::model::{InboundChange, StateCommit};

use super::error::{SyncError, SyncErrorKind};
use super::pull_refused::{Committed, Refused};
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
    /// The cursor after the batch's pages, when the batch's own commit does not write it (an
    /// earlier batch was in flight when it was handed over): a later commit writes it once this
    /// batch is acknowledged. Set by [`Pipeline::send`].
    pub(super) cursor_after: Option<PullCursor>,
}

/// The walk's end of a commit pipeline.
pub(super) struct Pipeline {
    jobs: mpsc::Sender<StagedBatch>,
    acks: mpsc::Receiver<Result<Committed, SyncError>>,
    /// The batches handed over and not acknowledged yet, oldest first.
    in_flight: VecDeque<InFlight>,
    /// How many batches may be in flight at once.
    depth: usize,
    /// The cursor after the last acknowledged batch, when no commit has written it yet.
    unwritten_cursor: Option<PullCursor>,
    /// Writes (changes or state rows, whichever a batch has more of) handed over so far.
    handed_writes: usize,
    /// Records the store refused in acknowledged batches, not yet taken by the walk (which
    /// stores them in the retry set before any cursor past them is written).
    refused: Vec<Refused>,
}

/// The committer's end: batches to apply, and where to acknowledge each.
pub(super) struct CommitterEnd {
    pub(super) jobs: mpsc::Receiver<StagedBatch>,
    pub(super) acks: mpsc::Sender<Result<Committed, SyncError>>,
    /// How many batches the committer applies at once.
    pub(super) depth: usize,
}

/// How [`flush_pull`](super::SyncEngine) commits what a walk staged.
pub(super) enum PullCommits {
    /// Commit at once and return when committed.
    Inline,
    /// Hand the batch to a committer running beside the walk.
    Pipelined(Pipeline),
}

impl PullCommits {
    /// A pipeline with at most `depth` batches in flight (at least one), and the committer's
    /// end of it.
    pub(super) fn pipelined(depth: usize) -> (PullCommits, CommitterEnd) {
        let depth = depth.max(1);
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        let (acks_tx, acks_rx) = mpsc::channel(depth);
        (
            PullCommits::Pipelined(Pipeline {
                jobs: jobs_tx,
                acks: acks_rx,
                in_flight: VecDeque::with_capacity(depth),
                depth,
                unwritten_cursor: None,
                handed_writes: 0,
                refused: Vec::new(),
            }),
            CommitterEnd {
                jobs: jobs_rx,
                acks: acks_tx,
                depth,
            },
        )
    }

    /// Whether what is staged should go to the committer before it makes a full batch of
    /// `commit_size` writes: while the pull has handed over fewer writes than that in all, a
    /// committer with room for another batch takes what there is (fewer unacknowledged
    /// batches in flight than it applies at once; with one at a time, every batch in flight
    /// acknowledged already). A short pull, an incremental one typically, then has its
    /// writes applied while its later pages are read, instead of all of them after the walk; a
    /// long one pays a few smaller commits at its start and then commits full batches. Never
    /// for inline commits. (The walk asks only where the source says its commits cost about
    /// their size, [`SourceOfTruth::commits_early`](crate::SourceOfTruth::commits_early).)
    pub(super) fn takes_early_batch(&self, commit_size: usize) -> bool {
        match self {
            PullCommits::Inline => false,
            PullCommits::Pipelined(p) => {
                // Room: fewer batches in flight and not yet acknowledged than `depth`.
                p.handed_writes < commit_size
                    && p.in_flight.len().saturating_sub(p.acks.len()) < p.depth
            }
        }
    }

    /// Whether a batch in flight holds the Twenty id `id`.
    pub(super) fn in_flight_has_id(&self, id: &str) -> bool {
        match self {
            PullCommits::Pipelined(p) => p.in_flight.iter().any(|f| f.twenty_ids.contains(id)),
            PullCommits::Inline => false,
        }
    }

    /// Whether a batch in flight writes the local key `key`.
    pub(super) fn in_flight_has_key(&self, key: &str) -> bool {
        match self {
            PullCommits::Pipelined(p) => p.in_flight.iter().any(|f| f.keys.contains(key)),
            PullCommits::Inline => false,
        }
    }
}

impl Pipeline {
    /// Waits until every batch in flight is committed, and records their outcomes in the retry
    /// set. Returns the committer's error when a batch failed.
    pub(super) async fn settle(
        &mut self,
        mut retry: Option<&mut RetrySet>,
    ) -> Result<(), SyncError> {
        while !self.in_flight.is_empty() {
            self.settle_oldest(retry.as_deref_mut()).await?;
        }
        Ok(())
    }

    /// Takes in the batches already acknowledged, then waits until there is room for one more
    /// batch in flight. (A batch handed over with nothing in flight writes its own cursor.)
    pub(super) async fn make_room(
        &mut self,
        mut retry: Option<&mut RetrySet>,
    ) -> Result<(), SyncError> {
        while !self.in_flight.is_empty() && !self.acks.is_empty() {
            self.settle_oldest(retry.as_deref_mut()).await?;
        }
        while self.in_flight.len() >= self.depth {
            self.settle_oldest(retry.as_deref_mut()).await?;
        }
        Ok(())
    }

    /// The cursor after the last acknowledged batch when no commit has written it yet: after
    /// [`settle`](Self::settle), the cursor of a batch that was handed over beside another,
    /// for the caller to commit on its own.
    pub(super) fn take_unwritten_cursor(&mut self) -> Option<PullCursor> {
        debug_assert!(self.refused.is_empty(), "refused records taken first");
        self.unwritten_cursor.take()
    }

    /// The records the store refused in the batches acknowledged so far. Take them (and store
    /// them in the retry set) after [`settle`](Self::settle) or [`make_room`](Self::make_room),
    /// before the next [`send`](Self::send) or cursor commit: the unwritten cursor may be past
    /// them.
    pub(super) fn take_refused(&mut self) -> Vec<Refused> {
        std::mem::take(&mut self.refused)
    }

    async fn settle_oldest(&mut self, retry: Option<&mut RetrySet>) -> Result<(), SyncError> {
        let Some(done) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match self.acks.recv().await {
            Some(Ok(Committed {
                refused,
                held_cursor,
            })) => {
                if let Some(retry) = retry {
                    let mut failed = done.failed;
                    failed.extend(refused.iter().map(|r| r.twenty_id.clone()));
                    retry.absorb(done.processed.iter(), &failed);
                }
                // Everything up to the end of this batch is committed now, or refused (then its
                // own commit held back the cursor it carried, which is never past the end).
                if let Some(cursor) = done.cursor_after.or(held_cursor) {
                    self.unwritten_cursor = Some(cursor);
                }
                self.refused.extend(refused);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(committer_gone()),
        }
    }

    /// Hands `batch` to the committer. Call [`make_room`](Self::make_room) (or
    /// [`settle`](Self::settle)) first. With a batch still in flight, `batch` writes the cursor
    /// after the last acknowledged batch instead of its own (see the module's documentation).
    pub(super) async fn send(
        &mut self,
        mut batch: StagedBatch,
        mut in_flight: InFlight,
    ) -> Result<(), SyncError> {
        debug_assert!(self.in_flight.len() < self.depth, "room for the batch");
        debug_assert!(self.refused.is_empty(), "refused records taken first");
        if self.in_flight.is_empty() {
            // Every earlier batch is committed: this one may write its own cursor.
            let acknowledged = self.unwritten_cursor.take();
            if batch.cursor.is_none() {
                batch.cursor = acknowledged;
            }
        } else {
            in_flight.cursor_after = batch.cursor.take();
            batch.cursor = self.unwritten_cursor.take();
        }
        let writes = batch.changes.len().max(batch.commit.upsert_records.len());
        self.jobs.send(batch).await.map_err(|_| committer_gone())?;
        self.handed_writes = self.handed_writes.saturating_add(writes);
        self.in_flight.push_back(in_flight);
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
