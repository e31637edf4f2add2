//! Pull: Twenty → local.
//!
//! Two walks ordered by `updatedAt, id` (live records, then soft-deleted ones), each from
//! `watermark - overlap`, one page at a time (memory is bounded by the batch size). Each page is
//! mapped, de-duplicated against the stored [`RecordState`]s, and applied with its state in one
//! [`ApplyBatch`](crate::ApplyBatch); the cursor moves only with a committed batch, and becomes
//! the walk's start time when both walks complete. A record the local store refuses is reported
//! and kept for retry while the rest of its batch is applied (see `pull_refused`).

use std::collections::{HashMap, HashSet};

use futures::stream::{FuturesOrdered, StreamExt};

use chrono::{DateTime, Utc};
use serde_json::Value;
use twenty_client::records::FieldSelection;
use twenty_client::{Filter, OrderBy, Page, Record};

use crate::model::{
    InboundChange, InboundChangeKind, Linked, LocalRecord, RecordState, StateCommit, SyncDirection,
};
use crate::report::RunMode;
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::agreed::{agreed_in, agreed_text, keeps_agreed};
use super::clock;
use super::config::PullDeleteMode;
use super::conflict::merge;
use super::error::{SyncError, SyncErrorKind};
use super::failpoints;
use super::mapper::{EntityMapper, FieldOwner, get_path, set_path};
use super::plan::{PlannedAction, field_diff};
use super::progress::ProgressEvent;
use super::pull_commits::{CommitterEnd, InFlight, PullCommits, StagedBatch};
use super::pull_refused::Committed;
use super::retry::RetrySet;
use super::run::{Decision, Run};
use super::views::{local_hash, twenty_hash, twenty_hash_sparse};
use super::watermark::{PullCursor, Walk};
use super::written::WrittenFilter;

const DIR: SyncDirection = SyncDirection::Pull;

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    pub(crate) async fn pull_entity(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        run.report.counts_mut(&Run::counts_key(entity, DIR));
        let stored = self
            .state
            .cursor(entity, DIR)
            .await
            .map_err(|e| SyncError::from_store("reading the pull cursor", e))?;
        let mut cursor = PullCursor::decode(stored.as_ref());
        let walk_start = Utc::now();
        tracing::info!(entity, ?cursor, "pull started");
        let walks = self.walks(m, &cursor);
        let prepare = async {
            let mut retry = self.load_retry(entity, DIR).await?;
            self.pull_retries(run, m, &mut retry).await?;
            // Into an entity empty on both sides, only what this run writes can be found by a
            // lookup.
            let written = self
                .empty_on_both_sides(run, entity)
                .await?
                .then(WrittenFilter::new);
            Ok::<_, SyncError>((retry, written))
        };
        // The first page of each walk is requested beside these reads: their filters depend
        // only on the cursor read above. A short pull (an incremental one) then waits for one
        // page request, not two in a row; the deleted walk's page is kept until the live walk
        // has ended (its failure is handled there, after the live walk's pages are committed).
        let (prepared, live_first, deleted_first) = tokio::join!(
            prepare,
            self.list_page(m, &walks, Walk::Live, None),
            self.list_page(m, &walks, Walk::Deleted, None)
        );
        let (mut retry, mut written) = prepared?;
        let live_first = live_first?;
        // The walks stage pages; a committer beside them applies each full batch while they
        // go on with the next pages (see `pull_commits`).
        let (commits, committer) = PullCommits::pipelined(self.source.concurrent_applies());
        let dry_run = run.dry_run;
        let walked = async {
            let mut commits = commits;
            self.pull_walks(
                run,
                m,
                &walks,
                live_first,
                deleted_first,
                &mut cursor,
                walk_start,
                &mut retry,
                &mut commits,
                written.as_mut(),
            )
            .await
            // `commits` is dropped here: the committer's queue closes and it returns.
        };
        let ((), walked) = tokio::join!(self.run_committer(dry_run, entity, committer), walked);
        walked?;
        self.retry_finish(run, retry).await
    }

    /// What the two walks of a pull of `m` from `cursor` request: the filter of each, the page
    /// size and the fields kept.
    fn walks(&self, m: &dyn EntityMapper, cursor: &PullCursor) -> Walks {
        let overlap = chrono::Duration::from_std(self.config.overlap)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        Walks {
            live: walk_filter(Walk::Live, cursor.lower_bound(Walk::Live, overlap)),
            deleted: walk_filter(Walk::Deleted, cursor.lower_bound(Walk::Deleted, overlap)),
            limit: u32::try_from(self.config.batch_size).unwrap_or(100),
            // Only the fields the mapping reads are decoded of each record.
            keep: m.twenty_fields_read().map(FieldSelection::new),
        }
    }

    /// The two walks of a pull (live records from `live_first` on, then soft-deleted ones) from
    /// `cursor`, each page staged and each full batch handed to `commits`. Returns once
    /// everything staged is committed, and the cursor of a pull completed at `walk_start` with
    /// it. With `written` (the entity was empty on both sides), the live walk looks up
    /// only pages that may touch a record it wrote.
    ///
    /// `deleted_first` is the deleted walk's first page (or its request's failure), requested
    /// with the live walk's first page (its filter depends on the cursor's watermark and
    /// deleted-walk progress only, which the live walk leaves alone). The live walk's last pages
    /// stay staged into the deleted walk, so a short pull (an incremental one, typically)
    /// commits its writes and its final cursor in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn pull_walks(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        walks: &Walks,
        live_first: Page<Record>,
        deleted_first: Result<Page<Record>, SyncError>,
        cursor: &mut PullCursor,
        walk_start: DateTime<Utc>,
        retry: &mut RetrySet,
        commits: &mut PullCommits,
        mut written: Option<&mut WrittenFilter>,
    ) -> Result<(), SyncError> {
        // Staged pages not handed to the committer yet; a page that touches one of their
        // records again (in either walk) commits them first.
        let mut pending = PendingPull::new(m.name());
        self.walk(
            run,
            m,
            walks,
            Walk::Live,
            live_first,
            cursor,
            &mut pending,
            retry,
            commits,
            written.as_deref_mut(),
        )
        .await?;
        if run.dry_run {
            // The records the dry run's push would have written, not seen in the walk: the
            // real walk meets them at its end (their `updatedAt` is the push's).
            let unseen: Vec<Record> = std::mem::take(&mut run.dry.unseen)
                .into_iter()
                .filter_map(|id| run.dry.records.get(&id).cloned())
                .map(Record::from)
                .collect();
            for chunk in unseen.chunks(self.config.batch_size.max(1)) {
                self.stage_pull_page(
                    run,
                    m,
                    chunk.to_vec(),
                    Walk::Live,
                    &mut pending,
                    None,
                    commits,
                    written.as_deref_mut(),
                )
                .await?;
            }
        }
        let deleted_first = match deleted_first {
            Ok(page) => page,
            Err(e) => {
                return Err(self
                    .keep_staged_on_failed_page(run, m, &mut pending, retry, commits, e)
                    .await);
            }
        };
        self.walk(
            run,
            m,
            walks,
            Walk::Deleted,
            deleted_first,
            cursor,
            &mut pending,
            retry,
            commits,
            written,
        )
        .await?;
        if !run.dry_run {
            // The pull's last pages go with the cursor of the completed pull.
            self.failpoints
                .check(failpoints::PULL_BEFORE_CURSOR_COMMIT)?;
            // On Twenty's clock, which stamps the `updatedAt` the next pull filters on.
            let start = clock::on_twentys_clock(walk_start, self.client.server_clock().as_ref());
            pending.cursor = Some(PullCursor::completed(start));
        }
        self.flush_pull(run, m, &mut pending, Some(&mut *retry), commits, true)
            .await
    }

    /// One walk from its first page: each page staged (the next one requested meanwhile), the
    /// staged pages handed to `commits` whenever they are a full batch, `cursor` moved with
    /// them. The last pages stay in `pending`.
    #[allow(clippy::too_many_arguments)]
    async fn walk(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        walks: &Walks,
        walk: Walk,
        first: Page<Record>,
        cursor: &mut PullCursor,
        pending: &mut PendingPull,
        retry: &mut RetrySet,
        commits: &mut PullCommits,
        mut written: Option<&mut WrittenFilter>,
    ) -> Result<(), SyncError> {
        let commit_size = self.config.pull_commit_records.max(1);
        let commits_early = self.source.commits_early();
        let mut after: Option<String> = None;
        let mut page = first;
        loop {
            let next = match &page.page_info.end_cursor {
                Some(c) if page.page_info.has_next_page && !page.records.is_empty() => {
                    if after.as_deref() == Some(c.as_str()) {
                        return Err(SyncError::new(
                            SyncErrorKind::Twenty,
                            "Twenty returned the same page cursor twice; stopping the walk (the cursor was not moved)",
                        ));
                    }
                    Some(c.clone())
                }
                _ => None,
            };
            let progress = page
                .records
                .last()
                .and_then(Record::updated_at)
                .map(|t| cursor.advanced(walk, t));
            let apply = async {
                self.stage_pull_page(
                    run,
                    m,
                    page.records,
                    walk,
                    pending,
                    Some(&mut *retry),
                    commits,
                    written.as_deref_mut(),
                )
                .await?;
                if let Some(p) = &progress {
                    pending.cursor = Some(p.clone());
                }
                // At the start of a pull, while more pages follow, what is staged also goes to a
                // committer with room for it (see `takes_early_batch`), where the source's
                // commits cost about their size (`SourceOfTruth::commits_early`); the last page
                // of the live walk stays staged into the deleted walk as ever.
                let early = commits_early
                    && next.is_some()
                    && pending.has_writes()
                    && commits.takes_early_batch(commit_size);
                if pending.is_full(commit_size) || early {
                    // Handed to the committer: the walk goes on while it is applied.
                    self.flush_pull(run, m, pending, Some(&mut *retry), commits, false)
                        .await?;
                }
                Ok::<(), SyncError>(())
            };
            // One page ahead: the next page is requested (and decoded, on another task)
            // while this one is mapped and staged (and the staged pages committed when they
            // are enough). The cursor still moves only with committed pages; an apply error
            // wins over a fetch error.
            let fetched = match &next {
                Some(n) => {
                    let fetch = self.list_page(m, walks, walk, Some(n.clone()));
                    let (applied, fetched) = tokio::join!(apply, fetch);
                    applied?;
                    Some(fetched)
                }
                None => {
                    apply.await?;
                    None
                }
            };
            if let (Some(p), false) = (progress, run.dry_run) {
                *cursor = p;
            }
            match (next, fetched) {
                (Some(n), Some(fetched)) => {
                    after = Some(n);
                    page = match fetched {
                        Ok(page) => page,
                        Err(e) => {
                            return Err(self
                                .keep_staged_on_failed_page(run, m, pending, retry, commits, e)
                                .await);
                        }
                    };
                }
                _ => return Ok(()),
            }
        }
    }

    /// After a page request failed: commits the pages staged before it (decided and complete,
    /// with the cursor of the last one), so the next pull resumes after them instead of walking
    /// them again, and returns `failed`, or the commit's own error if it fails too.
    async fn keep_staged_on_failed_page(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        pending: &mut PendingPull,
        retry: &mut RetrySet,
        commits: &mut PullCommits,
        failed: SyncError,
    ) -> SyncError {
        match self
            .flush_pull(run, m, pending, Some(retry), commits, true)
            .await
        {
            Ok(()) => failed,
            Err(e) => e,
        }
    }

    /// One page of `walk`: `walks.limit` records of `m`'s object ordered by `updatedAt, id`,
    /// matching the walk's filter, after the page cursor `after` (the first page with `None`),
    /// keeping only the `walks.keep` fields of each (all when `None`). The request and the
    /// decoding of the answer run on their own task, so they proceed in parallel with the
    /// caller's work on the previous page.
    async fn list_page(
        &self,
        m: &dyn EntityMapper,
        walks: &Walks,
        walk: Walk,
        after: Option<String>,
    ) -> Result<Page<Record>, SyncError> {
        let filter = match walk {
            Walk::Live => &walks.live,
            Walk::Deleted => &walks.deleted,
        };
        let limit = walks.limit;
        self.twenty(|c| {
            let filter = filter.clone();
            let after = after.clone();
            let keep = walks.keep.clone();
            let plural = m.twenty_object().to_owned();
            async move {
                let mut req = c
                    .records(&plural)
                    .list()
                    .order_by(OrderBy::asc("updatedAt").then_asc("id"))
                    .limit(limit)
                    .depth(0);
                if let Some(f) = filter {
                    req = req.filter(f);
                }
                if let Some(a) = after {
                    req = req.starting_after(a);
                }
                let sent = async move {
                    match keep {
                        Some(keep) => req.keep_fields(keep).send().await,
                        None => req.send().await,
                    }
                };
                match tokio::spawn(sent).await {
                    Ok(page) => page,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(twenty_client::Error::new(
                        twenty_client::ErrorKind::Transport,
                        format!("the page request was cancelled before it finished: {e}"),
                    )
                    .with_operation("records.list")),
                }
            }
        })
        .await
        .map_err(|e| {
            SyncError::from_twenty(&format!("listing `{}` from Twenty", m.twenty_object()), e)
        })
    }

    /// Re-fetches the records of the retry set from Twenty by id (live ones, then trashed ones)
    /// and runs them through the pull path; ids found in neither were destroyed and leave the set.
    async fn pull_retries(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        retry: &mut RetrySet,
    ) -> Result<(), SyncError> {
        let keys = retry.keys();
        for ids in keys.chunks(self.config.batch_size.max(1)) {
            let live = self
                .list_where(m, Filter::field("id").in_(ids.to_vec()))
                .await?;
            let found: HashSet<String> = live
                .iter()
                .filter_map(|r| r.id().map(str::to_owned))
                .collect();
            let rest: Vec<String> = ids
                .iter()
                .filter(|i| !found.contains(*i))
                .cloned()
                .collect();
            let seen = fingerprints(&live);
            self.apply_pull_page(run, m, live, Walk::Live, None, Some(retry))
                .await?;
            for (id, fingerprint) in seen {
                retry.note_retried(&id, fingerprint);
            }
            if rest.is_empty() {
                continue;
            }
            let trashed = self
                .list_where(
                    m,
                    Filter::and([
                        Filter::field("deletedAt").is_not_null(),
                        Filter::field("id").in_(rest.clone()),
                    ]),
                )
                .await?;
            let found: HashSet<String> = trashed
                .iter()
                .filter_map(|r| r.id().map(str::to_owned))
                .collect();
            let seen = fingerprints(&trashed);
            self.apply_pull_page(run, m, trashed, Walk::Deleted, None, Some(retry))
                .await?;
            for (id, fingerprint) in seen {
                retry.note_retried(&id, fingerprint);
            }
            let gone: Vec<String> = rest.into_iter().filter(|i| !found.contains(i)).collect();
            retry.absorb(gone.iter(), &Default::default());
        }
        Ok(())
    }

    /// Maps, de-duplicates and applies one page of Twenty records at once (webhooks, the retry
    /// pass), moving the pull cursor to `cursor` with it when given.
    pub(crate) async fn apply_pull_page(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        records: Vec<Record>,
        walk: Walk,
        cursor: Option<&PullCursor>,
        mut retry: Option<&mut RetrySet>,
    ) -> Result<(), SyncError> {
        let mut pending = PendingPull::new(m.name());
        let mut commits = PullCommits::Inline;
        self.stage_pull_page(
            run,
            m,
            records,
            walk,
            &mut pending,
            retry.as_deref_mut(),
            &mut commits,
            None,
        )
        .await?;
        pending.cursor = cursor.cloned();
        self.flush_pull(run, m, &mut pending, retry, &mut commits, true)
            .await
    }

    /// Maps and de-duplicates one page of Twenty records and adds what it writes to `pending`
    /// (committed by [`flush_pull`](Self::flush_pull)). Pending pages, and the batch `commits`
    /// has in flight, are committed first when this page touches one of their records again
    /// (same Twenty id, or a local key they write, whether a record of this page maps to it or
    /// its stored record state names it), so every page is decided against committed state.
    /// Records of the page that write a local key an earlier record of the same page writes
    /// (two Twenty records the mapping gives one key) are decided after the earlier ones are
    /// committed, as if they came on the next page.
    #[allow(clippy::too_many_arguments)]
    async fn stage_pull_page(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        mut records: Vec<Record>,
        walk: Walk,
        pending: &mut PendingPull,
        mut retry: Option<&mut RetrySet>,
        commits: &mut PullCommits,
        mut written: Option<&mut WrittenFilter>,
    ) -> Result<(), SyncError> {
        let mut first_part = true;
        loop {
            let later = self
                .stage_page_part(
                    run,
                    m,
                    records,
                    walk,
                    first_part,
                    pending,
                    retry.as_deref_mut(),
                    commits,
                    written.as_deref_mut(),
                )
                .await?;
            if later.is_empty() {
                return Ok(());
            }
            self.flush_pull(run, m, pending, retry.as_deref_mut(), commits, true)
                .await?;
            records = later;
            first_part = false;
        }
    }

    /// Stages the records of a page up to the first one that writes a local key an earlier one
    /// writes; returns that record and the ones after it (empty when none repeats a key).
    /// `first_part` is false for the records returned by an earlier call (already counted as
    /// seen and filtered against the retry set).
    #[allow(clippy::too_many_arguments)]
    async fn stage_page_part(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        records: Vec<Record>,
        walk: Walk,
        first_part: bool,
        pending: &mut PendingPull,
        mut retry: Option<&mut RetrySet>,
        commits: &mut PullCommits,
        mut written: Option<&mut WrittenFilter>,
    ) -> Result<Vec<Record>, SyncError> {
        let entity = m.name();
        let ckey = Run::counts_key(entity, DIR);
        // Only the live walk skips lookups: it writes what the filter holds.
        if walk != Walk::Live {
            written = None;
        }
        let mut records = records;
        if let (Some(retry), true) = (retry.as_deref(), first_part) {
            // A version the retry pass of this run already handled is not processed twice.
            records.retain(|r| {
                !r.id()
                    .is_some_and(|id| retry.already_retried(id, &record_fingerprint(r)))
            });
        }
        if records.iter().any(|r| {
            r.id()
                .is_some_and(|id| pending.twenty_ids.contains(id) || commits.in_flight_has_id(id))
        }) {
            self.flush_pull(run, m, pending, retry.as_deref_mut(), commits, true)
                .await?;
        }
        if first_part {
            let n = records.len() as u64;
            run.report.counts_mut(&ckey).seen += n;
            self.emit(ProgressEvent::Seen {
                entity: entity.to_owned(),
                direction: DIR,
                count: n,
            });
        }
        let mut ids: Vec<String> = records
            .iter()
            .filter_map(|r| r.id().map(str::to_owned))
            .collect();
        // With the states, the local records they name when the source read them together.
        let (mut states, mut linked) = match &written {
            // None of these ids was written by this run: the (empty) store has no state of them.
            Some(w) if !w.may_contain_any(&ids) => (HashMap::new(), None),
            _ => self.page_states(entity, &ids, walk).await?,
        };
        if states
            .values()
            .any(|s| pending.keys.contains(&s.local_key) || commits.in_flight_has_key(&s.local_key))
        {
            // A record whose local key a staged page (or the batch in flight) writes: that page
            // may have given the key to another Twenty record. Commit it and decide on the
            // states it left (in either walk: a deleted record must not delete the other
            // record's key, a changed one must not write over it).
            self.flush_pull(run, m, pending, retry.as_deref_mut(), commits, true)
                .await?;
            (states, linked) = self.page_states(entity, &ids, walk).await?;
        }

        let mut commit = StateCommit::new(entity);
        let mut changes = Vec::new();
        let mut failed = 0u64;

        // First pass: decide what may change and which local records we need.
        struct Candidate {
            id: String,
            updated_at: Option<DateTime<Utc>>,
            twenty: Value,
            mapped: Value,
            key: String,
            st: Option<RecordState>,
        }
        let mut candidates = Vec::new();
        let twenty_owned = m.fields().iter().any(|f| f.owner == FieldOwner::Twenty);
        for mut rec in records {
            let Some(id) = rec.id().map(str::to_owned) else {
                commit.audit.push(run.fail(
                    entity,
                    DIR,
                    None,
                    None,
                    Some("id"),
                    "Twenty record without an id".into(),
                ));
                failed += 1;
                continue;
            };
            if run.dry_run {
                // What this dry run's push would have written: decide on that instead.
                if let Some(st) = run.dry.states.get(&id) {
                    states.insert(id.clone(), st.clone());
                }
                if let Some(written) = run.dry.records.remove(&id) {
                    rec = Record::from(written);
                }
            }
            let updated_at = rec.updated_at();
            let st = states.get(&id).cloned();
            if let (Some(s), Some(u)) = (&st, updated_at) {
                if s.twenty_updated_at.is_some_and(|known| known > u) {
                    // Older than what we already have (late webhook, overlap): skip.
                    run.report.counts_mut(&ckey).unchanged += 1;
                    continue;
                }
            }
            let twenty = rec.into_value();
            if walk == Walk::Deleted {
                match st {
                    Some(s) if !s.deleted => {
                        let tombstone = self.config.pull_delete == PullDeleteMode::Tombstone;
                        changes.push(InboundChange {
                            key: s.local_key.clone(),
                            twenty_id: id.clone(),
                            kind: InboundChangeKind::Delete { tombstone },
                            twenty_updated_at: updated_at,
                        });
                        commit.audit.push(run.decide(Decision {
                            entity,
                            direction: DIR,
                            action: PlannedAction::Delete,
                            local_key: &s.local_key,
                            twenty_id: &id,
                            fields: vec![],
                            before_hash: s.local_hash.clone(),
                            after_hash: None,
                            detail: Some(if tombstone { "tombstone" } else { "deleted" }.into()),
                        }));
                        let mut ns = s;
                        ns.deleted = true;
                        ns.twenty_updated_at = updated_at;
                        commit.upsert_records.push(ns);
                    }
                    _ => run.report.counts_mut(&ckey).unchanged += 1,
                }
                continue;
            }
            let mapped = m.to_local(&twenty);
            if let Some(err) = mapped.errors.first() {
                let reason = format!(
                    "{} field(s) failed to map; first: {}",
                    mapped.errors.len(),
                    err.reason
                );
                let key = st.as_ref().map(|s| s.local_key.as_str());
                commit
                    .audit
                    .push(run.fail(entity, DIR, key, Some(&id), Some(&err.field), reason));
                failed += 1;
                continue;
            }
            if let Some(s) = &st {
                if !s.deleted
                    && s.local_hash.as_deref() == Some(local_hash(m, &mapped.value).as_str())
                {
                    run.report.counts_mut(&ckey).unchanged += 1;
                    if s.twenty_updated_at != updated_at && updated_at.is_some() {
                        let mut ns = s.clone();
                        ns.twenty_updated_at = updated_at;
                        ns.twenty_hash = Some(twenty_hash(m, &twenty));
                        // Twenty holds what the local side last wrote or read: agreed.
                        let keep = keeps_agreed(run.mode, Some(s));
                        ns.field_hashes = agreed_text(m, keep, &mapped.value);
                        commit.upsert_records.push(ns);
                    }
                    continue;
                }
            }
            let key = st
                .as_ref()
                .map(|s| s.local_key.clone())
                .or_else(|| m.local_key_of(&mapped.value))
                .unwrap_or_else(|| id.clone());
            candidates.push(Candidate {
                id,
                updated_at,
                twenty,
                mapped: mapped.value,
                key,
                st,
            });
        }

        // A candidate whose local key an earlier record of this page writes (a state refreshed
        // above, or an earlier candidate) goes, with every candidate after it, to a later part
        // of the page: one batch never writes a key twice.
        let repeat = {
            let mut taken: HashSet<&str> = commit
                .upsert_records
                .iter()
                .map(|s| s.local_key.as_str())
                .collect();
            candidates
                .iter()
                .position(|c| !taken.insert(c.key.as_str()))
        };
        let later: Vec<Record> = match repeat {
            Some(at) => {
                let later = candidates.split_off(at);
                ids.retain(|id| !later.iter().any(|c| &c.id == id));
                later.into_iter().map(|c| Record::from(c.twenty)).collect()
            }
            None => Vec::new(),
        };
        let keys: Vec<String> = candidates.iter().map(|c| c.key.clone()).collect();
        if keys
            .iter()
            .any(|k| pending.keys.contains(k) || commits.in_flight_has_key(k))
        {
            // A new Twenty record maps to a local key a pending page (or the batch in flight)
            // writes: read it committed (the records read with the states are from before).
            self.flush_pull(run, m, pending, retry, commits, true)
                .await?;
            linked = None;
        }
        let unwritten = written.as_ref().is_some_and(|w| !w.may_contain_any(&keys));
        let locals: HashMap<String, LocalRecord> = if keys.is_empty() || unwritten {
            HashMap::new()
        } else {
            self.page_locals(entity, &keys, linked.unwrap_or_default())
                .await?
        };

        for c in candidates {
            let local = locals.get(&c.key);
            if let (Some(l), Some(s)) = (local, &c.st) {
                if !twenty_owned && !s.deleted {
                    if let Some(h) = holds_what_local_pushes(m, &l.data, &c.twenty) {
                        // Twenty holds exactly what the local record maps to (typically our
                        // own push coming back): nothing to pull, even when the mapping does
                        // not round-trip (a phone number Twenty-formatted differently from the
                        // local text). Without Twenty-owned fields, the push view covers
                        // every mapped field, so nothing from Twenty is missed.
                        run.report.counts_mut(&ckey).unchanged += 1;
                        let mut ns = s.clone();
                        ns.twenty_hash = Some(h);
                        ns.local_hash = Some(local_hash(m, &l.data));
                        ns.field_hashes = agreed_text(m, keeps_agreed(run.mode, Some(s)), &l.data);
                        ns.twenty_updated_at = c.updated_at.or(s.twenty_updated_at);
                        if ns != *s {
                            commit.upsert_records.push(ns);
                        }
                        continue;
                    }
                }
            }
            let mut conflict = None;
            let merged = match (local, &c.st) {
                (Some(l), Some(s))
                    if run.mode == RunMode::Sync
                        && !s.deleted
                        && s.local_hash.as_deref() != Some(local_hash(m, &l.data).as_str()) =>
                {
                    let twenty_at = clock::on_this_hosts_clock(
                        c.updated_at,
                        self.client.server_clock().as_ref(),
                    );
                    let r = merge(
                        m,
                        agreed_in(m, s).as_ref(),
                        &l.data,
                        &c.mapped,
                        l.updated_at,
                        twenty_at,
                    );
                    let merged = r.merged.clone();
                    // A clean merge (no field changed on both sides) is no conflict.
                    conflict = r.is_conflict().then_some(r);
                    merged
                }
                _ => {
                    let mut merged = local
                        .map(|l| l.data.clone())
                        .unwrap_or_else(|| Value::Object(Default::default()));
                    for f in m.fields() {
                        if f.owner == FieldOwner::Local {
                            continue;
                        }
                        if let Some(v) = get_path(&c.mapped, &f.local_path) {
                            set_path(&mut merged, &f.local_path, v.clone());
                        }
                    }
                    merged
                }
            };
            if let Some(r) = &conflict {
                commit.audit.push(run.decide(Decision {
                    entity,
                    direction: DIR,
                    action: PlannedAction::Conflict,
                    local_key: &c.key,
                    twenty_id: &c.id,
                    fields: r.field_names(),
                    before_hash: c.st.as_ref().and_then(|s| s.local_hash.clone()),
                    after_hash: Some(local_hash(m, &merged)),
                    detail: Some(r.describe()),
                }));
            }
            let new_state = RecordState {
                local_key: c.key.clone(),
                twenty_id: c.id.clone(),
                twenty_hash: Some(twenty_hash(m, &c.twenty)),
                local_hash: Some(local_hash(m, &merged)),
                twenty_updated_at: c.updated_at,
                local_updated_at: local.and_then(|l| l.updated_at),
                deleted: false,
                // What Twenty holds: a field the merge kept local stays changed locally, for
                // the next push to write.
                field_hashes: agreed_text(m, keeps_agreed(run.mode, c.st.as_ref()), &c.mapped),
            };
            let before = local.map(|l| &l.data);
            if before == Some(&merged) {
                run.report.counts_mut(&ckey).unchanged += 1;
                commit.upsert_records.push(new_state);
                continue;
            }
            let changed = field_diff(
                before.unwrap_or(&Value::Object(Default::default())),
                &merged,
            );
            let values = self.config.audit_values.detail(
                &changed,
                before.unwrap_or(&Value::Object(Default::default())),
                &merged,
            );
            commit.audit.push(run.decide(Decision {
                entity,
                direction: DIR,
                action: if local.is_some() {
                    PlannedAction::Update
                } else {
                    PlannedAction::Create
                },
                local_key: &c.key,
                twenty_id: &c.id,
                fields: changed,
                before_hash: c.st.as_ref().and_then(|s| s.local_hash.clone()),
                after_hash: new_state.local_hash.clone(),
                detail: values,
            }));
            changes.push(InboundChange {
                key: c.key,
                twenty_id: c.id,
                kind: InboundChangeKind::Upsert { data: merged },
                twenty_updated_at: c.updated_at,
            });
            commit.upsert_records.push(new_state);
        }

        if failed > 0 {
            self.emit(ProgressEvent::Failed {
                entity: entity.to_owned(),
                direction: DIR,
                count: failed,
            });
        }
        if let Some(w) = written {
            for key in ids.iter().chain(changes.iter().map(|c| &c.key)) {
                w.insert(key);
            }
            for s in &commit.upsert_records {
                w.insert(&s.local_key);
            }
        }
        pending.add(ids, changes, commit);
        Ok(later)
    }

    /// The stored record states of `twenty_ids`, by Twenty id. In the live walk, a source that
    /// keeps the record states reads them with the local records they name, in one lookup, and
    /// those records come second, by local key (`None` for a key with no live record);
    /// otherwise the second part is `None`.
    async fn page_states(
        &self,
        entity: &str,
        twenty_ids: &[String],
        walk: Walk,
    ) -> Result<PageStates, SyncError> {
        if walk == Walk::Live {
            let found = self
                .source
                .linked_by_twenty_id(entity, twenty_ids)
                .await
                .map_err(|e| {
                    SyncError::from_store("reading record states with their local records", e)
                })?;
            if let Some(found) = found {
                let mut records = HashMap::with_capacity(found.len());
                let mut states = HashMap::with_capacity(found.len());
                for Linked { state, record } in found {
                    // Keyed as `get`'s answer would be: by the key the record comes back with.
                    let record = record.filter(|r| r.key == state.local_key);
                    records.insert(state.local_key.clone(), record);
                    states.insert(state.twenty_id.clone(), state);
                }
                return Ok((states, Some(records)));
            }
        }
        Ok((self.states_by_twenty_id(entity, twenty_ids).await?, None))
    }

    /// The live local records of `keys`, by key: those `linked` holds (read with the page's
    /// states), and the others read from the source.
    async fn page_locals(
        &self,
        entity: &str,
        keys: &[String],
        mut linked: HashMap<String, Option<LocalRecord>>,
    ) -> Result<HashMap<String, LocalRecord>, SyncError> {
        let mut locals = HashMap::with_capacity(keys.len());
        let mut unread = Vec::new();
        for key in keys {
            match linked.remove(key) {
                Some(Some(record)) => {
                    locals.insert(key.clone(), record);
                }
                Some(None) => {}
                None => unread.push(key.clone()),
            }
        }
        if !unread.is_empty() {
            let read = self
                .source
                .get(entity, &unread)
                .await
                .map_err(|e| SyncError::from_store("reading local records", e))?;
            locals.extend(read.into_iter().map(|r| (r.key.clone(), r)));
        }
        Ok(locals)
    }

    /// The stored record states of `twenty_ids`, by Twenty id.
    async fn states_by_twenty_id(
        &self,
        entity: &str,
        twenty_ids: &[String],
    ) -> Result<HashMap<String, RecordState>, SyncError> {
        Ok(self
            .state
            .records_by_twenty_id(entity, twenty_ids)
            .await
            .map_err(|e| SyncError::from_store("reading record states", e))?
            .into_iter()
            .map(|s| (s.twenty_id.clone(), s))
            .collect())
    }

    /// Whether `entity` holds nothing yet on either side (never in dry runs, whose decisions
    /// read what the dry push would have written).
    async fn empty_on_both_sides(&self, run: &Run, entity: &str) -> Result<bool, SyncError> {
        if run.dry_run {
            return Ok(false);
        }
        let state = self
            .state
            .known_empty(entity)
            .await
            .map_err(|e| SyncError::from_store("checking for record states", e))?;
        Ok(state
            && self
                .source
                .known_empty(entity)
                .await
                .map_err(|e| SyncError::from_store("checking for local records", e))?)
    }

    /// Commits the staged pages of `pending` (data and state in one batch, with the cursor of
    /// the last staged page) through `commits`, storing their failures in the retry set first so
    /// that the cursor never moves past a failure that is not recorded. Through a pipeline, the
    /// batch goes once there is room for it in flight; with `wait`, this returns when it and
    /// every batch before it are committed, and the cursor after it written (by its own commit
    /// when nothing else was in flight, else by a commit of the cursor alone); without, it is
    /// applied while the caller goes on. Nothing is written in dry runs.
    async fn flush_pull(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        pending: &mut PendingPull,
        mut retry: Option<&mut RetrySet>,
        commits: &mut PullCommits,
        wait: bool,
    ) -> Result<(), SyncError> {
        let staged = std::mem::replace(pending, PendingPull::new(m.name()));
        // Failures go into the retry set before the cursor moves past them.
        let failed = RetrySet::failed_in(&staged.commit.audit, DIR);
        let mut pipeline = match commits {
            PullCommits::Inline => None,
            PullCommits::Pipelined(p) => {
                if wait && staged.changes.is_empty() && staged.commit.is_empty() {
                    // A cursor alone: written once everything in flight is committed.
                    p.settle(retry.as_deref_mut()).await?;
                } else {
                    // Even a last batch goes beside those in flight; its cursor is written
                    // below once all of them are acknowledged.
                    p.make_room(retry.as_deref_mut()).await?;
                }
                Some(p)
            }
        };
        if let Some(p) = pipeline.as_deref_mut() {
            // Refused in a batch acknowledged above: kept for retry before this batch (or a
            // cursor alone) writes the cursor past them.
            self.record_refused(run, m.name(), retry.as_deref_mut(), p.take_refused())
                .await?;
        }
        if let (Some(retry), false) = (retry.as_deref_mut(), run.dry_run) {
            self.retry_before_commit(retry, &failed).await?;
        }
        let batch = StagedBatch {
            changes: staged.changes,
            commit: staged.commit,
            cursor: staged.cursor,
        };
        match pipeline {
            None => {
                let committed = self.commit_pull_page(run.dry_run, m.name(), batch).await?;
                let mut failed = failed;
                failed.extend(
                    self.record_refused(run, m.name(), retry.as_deref_mut(), committed.refused)
                        .await?,
                );
                if let Some(retry) = retry {
                    retry.absorb(staged.processed.iter(), &failed);
                }
                if let Some(cursor) = committed.held_cursor {
                    // Held back for the refused records, which are in the retry set now.
                    self.commit_pull_cursor(run.dry_run, m.name(), cursor)
                        .await?;
                }
            }
            Some(p) => {
                let in_flight = InFlight {
                    processed: staged.processed,
                    failed,
                    twenty_ids: staged.twenty_ids,
                    keys: staged.keys,
                    cursor_after: None,
                };
                p.send(batch, in_flight).await?;
                if wait {
                    p.settle(retry.as_deref_mut()).await?;
                    self.record_refused(run, m.name(), retry, p.take_refused())
                        .await?;
                    if let Some(cursor) = p.take_unwritten_cursor() {
                        // The batch went beside another (or had records refused), so its
                        // commit did not write the cursor after it: everything up to there is
                        // committed (or kept for retry) now.
                        self.commit_pull_cursor(run.dry_run, m.name(), cursor)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits the pull cursor `cursor` on its own. No-op in dry runs.
    async fn commit_pull_cursor(
        &self,
        dry_run: bool,
        entity: &str,
        cursor: PullCursor,
    ) -> Result<(), SyncError> {
        let alone = StagedBatch {
            changes: Vec::new(),
            commit: StateCommit::new(entity),
            cursor: Some(cursor),
        };
        self.commit_pull_page(dry_run, entity, alone).await?;
        Ok(())
    }

    /// The committer of a pipelined pull: applies the batches handed over, up to `end.depth`
    /// of them at once, and acknowledges each in the order they came; stops at the first that
    /// fails (no cursor past it is ever committed, see `pull_commits`) or once the walk has
    /// dropped its end of the pipeline and every batch is acknowledged.
    async fn run_committer(&self, dry_run: bool, entity: &str, mut end: CommitterEnd) {
        let mut applying = FuturesOrdered::new();
        let mut open = true;
        loop {
            tokio::select! {
                job = end.jobs.recv(), if open && applying.len() < end.depth => match job {
                    Some(batch) => applying.push_back(self.commit_pull_page(dry_run, entity, batch)),
                    None => open = false,
                },
                Some(outcome) = applying.next(), if !applying.is_empty() => {
                    let failed = outcome.is_err();
                    if end.acks.send(outcome).await.is_err() || failed {
                        break;
                    }
                }
                else => break,
            }
        }
    }

    /// Applies a decided batch (data and state), moving the cursor with it, or, when the store
    /// refuses records of it, everything else without the cursor (see `pull_refused`). No-op
    /// in dry runs.
    async fn commit_pull_page(
        &self,
        dry_run: bool,
        entity: &str,
        batch: StagedBatch,
    ) -> Result<Committed, SyncError> {
        let StagedBatch {
            changes,
            mut commit,
            cursor,
        } = batch;
        if dry_run {
            return Ok(Committed::default());
        }
        if !changes.is_empty() {
            return self.apply_pulled(entity, changes, commit, cursor).await;
        }
        if let Some(c) = &cursor {
            commit.cursors.push((DIR, c.encode()));
        }
        if !commit.is_empty() {
            commit.fence = self.fence_of(entity);
            self.state
                .commit(&commit)
                .await
                .map_err(|e| SyncError::from_store("committing pull state", e))?;
        }
        Ok(Committed::default())
    }
}

/// Pulled pages decided but not committed yet: a walk commits them together (one
/// [`ApplyBatch`](crate::ApplyBatch)) once they hold [`EngineConfig::pull_commit_records`] writes, at the end of the
/// walk, before a page that touches one of their records again, and, at the start of a pull,
/// whenever the committer has room for another batch (`PullCommits::takes_early_batch`).
///
/// [`EngineConfig::pull_commit_records`]: super::EngineConfig::pull_commit_records
struct PendingPull {
    changes: Vec<InboundChange>,
    commit: StateCommit,
    /// The cursor after the last staged page (`None`: the cursor does not move).
    cursor: Option<PullCursor>,
    /// Twenty ids of every staged record, written or not (for the retry set).
    processed: Vec<String>,
    twenty_ids: HashSet<String>,
    /// Local keys the staged pages write (data or state).
    keys: HashSet<String>,
}

impl PendingPull {
    fn new(entity: &str) -> Self {
        PendingPull {
            changes: Vec::new(),
            commit: StateCommit::new(entity),
            cursor: None,
            processed: Vec::new(),
            twenty_ids: HashSet::new(),
            keys: HashSet::new(),
        }
    }

    /// Adds one decided page.
    fn add(&mut self, ids: Vec<String>, changes: Vec<InboundChange>, commit: StateCommit) {
        self.keys.extend(changes.iter().map(|c| c.key.clone()));
        self.keys
            .extend(commit.upsert_records.iter().map(|s| s.local_key.clone()));
        self.twenty_ids.extend(ids.iter().cloned());
        self.processed.extend(ids);
        self.changes.extend(changes);
        let StateCommit {
            upsert_records,
            audit,
            ..
        } = commit;
        self.commit.upsert_records.extend(upsert_records);
        self.commit.audit.extend(audit);
    }

    /// Whether a staged page writes anything (a change or a state row).
    fn has_writes(&self) -> bool {
        !self.changes.is_empty() || !self.commit.upsert_records.is_empty()
    }

    /// Whether the staged pages should be committed now: `writes` writes (changes or state
    /// rows), or ten times as many records read without a write (so that the cursor of a long
    /// walk over unchanged records still moves).
    fn is_full(&self, writes: usize) -> bool {
        self.changes.len().max(self.commit.upsert_records.len()) >= writes
            || self.processed.len() >= writes.saturating_mul(10)
    }
}

/// A page's record states by Twenty id, and the live local records they name by local key when
/// the source read them together ([`SourceOfTruth::linked_by_twenty_id`]).
type PageStates = (
    HashMap<String, RecordState>,
    Option<HashMap<String, Option<LocalRecord>>>,
);

/// What the walks of one pull request: each walk's filter, the page size, the fields kept.
struct Walks {
    live: Option<Filter>,
    deleted: Option<Filter>,
    limit: u32,
    keep: Option<FieldSelection>,
}

/// The push hash of `local` when Twenty's record `twenty` holds exactly what pushing `local`
/// would write (compared in full, and without the empty sub-fields Twenty adds to composites).
fn holds_what_local_pushes(m: &dyn EntityMapper, local: &Value, twenty: &Value) -> Option<String> {
    let mapped = m.to_twenty(local);
    if !mapped.errors.is_empty() {
        return None;
    }
    let h = twenty_hash(m, &mapped.value);
    (h == twenty_hash(m, twenty) || h == twenty_hash_sparse(m, twenty)).then_some(h)
}

/// Identifies the version of a Twenty record (for the retry pass, see `retry`).
fn record_fingerprint(r: &Record) -> String {
    r.updated_at().map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn fingerprints(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .filter_map(|r| Some((r.id()?.to_owned(), record_fingerprint(r))))
        .collect()
}

/// The list filter of a walk from `bound` (`None`: full walk).
pub(crate) fn walk_filter(walk: Walk, bound: Option<DateTime<Utc>>) -> Option<Filter> {
    let since = bound.map(|b| Filter::field("updatedAt").gte(b));
    match walk {
        Walk::Live => since,
        Walk::Deleted => {
            let deleted = Filter::field("deletedAt").is_not_null();
            Some(match since {
                Some(s) => Filter::and([deleted, s]),
                None => deleted,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn deleted_walk_filters_on_deleted_at_and_the_bound() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
        assert!(walk_filter(Walk::Live, None).is_none());
        let q = walk_filter(Walk::Deleted, t)
            .map(|f| f.to_query_string())
            .unwrap_or_default();
        assert!(q.contains("deletedAt[is]:NOT_NULL"), "{q}");
        assert!(q.contains("updatedAt[gte]:"), "{q}");
        let live = walk_filter(Walk::Live, t)
            .map(|f| f.to_query_string())
            .unwrap_or_default();
        assert!(!live.contains("deletedAt"), "{live}");
    }
}
