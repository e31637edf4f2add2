//! Push: local → Twenty.
//!
//! Local changes since the push checkpoint are read in bounded chunks. Each chunk is mapped,
//! skipped when its hash equals what Twenty last had from us, matched and written. Linked records
//! are matched by the ID map (one list request for their current versions), and their updates go
//! in batches (an upsert by id, see `updates`). Unlinked ones follow
//! the entity's [`MatchStrategy`]: `Lookup` finds natural-key matches with one list request per
//! chunk, then patches matches and batch-creates the rest; `Upsert` sends them all in one batch
//! upsert (no lookup) and learns from each answer's id whether Twenty created the record or
//! matched an existing one (adoption). Creates and upserts carry an engine-chosen UUID recorded
//! as a [`PendingCreate`] *before* they are sent, so a crash between "Twenty wrote it" and "we
//! recorded it" is resolved at the next start by a GET by id (adopt) or, for an upsert that
//! matched an existing record, by the upsert sent again (idempotent by the unique key).
//!
//! One job per module:
//!
//! | module | job |
//! |---|---|
//! | this one | the feed loop and one chunk: de-duplicate, hash-skip, then the steps below |
//! | `matching` | Twenty lookups: current versions of linked records, natural-key candidates |
//! | `decide` | per record: conflict, update, adoption or create (plan, report, audit) |
//! | `write_ahead` | recording intended creates, and resolving them after a crash |
//! | `apply` | the writes of a chunk in their order, then the state commit |
//! | `upsert` | the batch upsert of a chunk's unlinked records and what each answer means |
//! | `creates` | the batch create of a chunk's new records |
//! | `updates` | a chunk's updates of linked records in batches (upsert by id) |
//! | `deletes` | planning and sending deletes (soft delete or destroy) |
//! | `isolate` | batches sent at once, and a rejected batch's halves to find the bad records |
//! | `pace` | whether the push kept up with its rate limit (a report warning when not) |

mod apply;
mod creates;
mod decide;
mod deletes;
mod in_flight;
mod isolate;
mod matching;
mod pace;
mod updates;
mod upsert;
mod write_ahead;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::Value;
use twenty_client::{ErrorKind, Filter, Record};

use crate::model::{
    AuditAction, AuditOutcome, LocalChange, LocalChangeKind, PendingCreate, RecordState,
    StateCommit, SyncDirection,
};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use crate::report::RunMode;

use super::SyncEngine;
use super::agreed::{LocalHashes, agreed_in, keeps_agreed};
use super::audit::with_values;
use super::clock;
use super::config::{MatchStrategy, PushDeleteMode};
use super::conflict::merge;
use super::error::SyncError;
use super::failpoints;
use super::mapper::{EntityMapper, content_hash, get_path};
use super::plan::{PlannedAction, field_diff};
use super::progress::ProgressEvent;
use super::retry::RetrySet;
use super::run::{Decision, Run};
use super::views::{local_hash, patch_of, push_view, twenty_hash};

const DIR: SyncDirection = SyncDirection::Push;

/// (key, push view, push hash, local hashes, live state, local data, local updated_at)
type Upsert = (
    String,
    Value,
    String,
    LocalHashes,
    Option<RecordState>,
    Value,
    Option<DateTime<Utc>>,
);

/// The lower-cased, trimmed natural-key values of `v` (as Twenty normalises unique keys), by
/// match key index; empty ones left out.
fn key_values(m: &dyn EntityMapper, v: &Value) -> Vec<(usize, String)> {
    m.match_keys()
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let s = get_path(v, k)?.as_str()?.trim().to_lowercase();
            (!s.is_empty()).then_some((i, s))
        })
        .collect()
}

/// What a push decided for one local record.
enum Op {
    Create {
        key: String,
        id: String,
        record: Value,
        hash: String,
        local_hash: LocalHashes,
    },
    /// Update of a linked record, or adoption of a matched one (with an optional patch).
    Update {
        key: String,
        id: String,
        patch: Option<Value>,
        adopt: bool,
        /// Whether the patch gives a match key another value (it then goes by PATCH, never in
        /// a batch upsert, which also matches on unique values; see `updates`).
        rekeys: bool,
        hash: String,
        local_hash: LocalHashes,
        updated_at: Option<DateTime<Utc>>,
    },
    /// An unlinked record sent in the chunk's batch upsert: Twenty creates it with `id`, or
    /// updates the record its unique key matches (an adoption). Planned, counted and audited
    /// once the answer says which.
    Upsert {
        key: String,
        id: String,
        record: Value,
        hash: String,
        local_hash: LocalHashes,
        /// The fields the upsert writes (every field of the push view).
        fields: Vec<String>,
    },
    Delete {
        st: RecordState,
    },
}

/// A new record a create or an upsert sends: (key, engine-chosen id, payload, push hash, local
/// hash, fields the upsert writes; none for a create).
type NewRecord<'a> = (
    &'a str,
    &'a str,
    &'a Value,
    &'a str,
    &'a LocalHashes,
    &'a [String],
);

impl Op {
    /// The new record of an [`Op::Create`] or an [`Op::Upsert`].
    fn new_record(&self) -> Option<NewRecord<'_>> {
        match self {
            Op::Create {
                key,
                id,
                record,
                hash,
                local_hash,
            } => Some((key, id, record, hash, local_hash, &[])),
            Op::Upsert {
                key,
                id,
                record,
                hash,
                local_hash,
                fields,
            } => Some((key, id, record, hash, local_hash, fields)),
            Op::Update { .. } | Op::Delete { .. } => None,
        }
    }
}

/// Identifies the version of a local change (for the retry pass, see `retry`).
fn change_fingerprint(c: &LocalChange) -> String {
    match &c.kind {
        LocalChangeKind::Upsert { data } => content_hash(data),
        LocalChangeKind::Delete => "delete".to_owned(),
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    pub(crate) async fn push_entity(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        run.report.counts_mut(&Run::counts_key(entity, DIR));
        let mut in_flight = in_flight::InFlight::new(
            self.config.push_in_flight,
            self.config.push_in_flight_max,
            self.client.stats(),
        );
        if !run.dry_run {
            self.resolve_pending(run, m).await?;
        }
        let cursor = self
            .state
            .cursor(entity, DIR)
            .await
            .map_err(|e| SyncError::from_store("reading the push cursor", e))?;
        // A chunk is as many batches as are in flight, sent at once (see
        // `EngineConfig::push_in_flight`).
        let chunk_len = |f: &in_flight::InFlight| (self.config.batch_size * f.now()).max(1);
        // Records that failed in earlier runs first (see `retry`): re-read them as they are now;
        // a key gone locally takes the delete path.
        let mut retry = self.load_retry(entity, DIR).await?;
        let retry_keys = retry.keys();
        let mut rest: &[String] = &retry_keys;
        while !rest.is_empty() {
            let (keys, after) = rest.split_at(chunk_len(&in_flight).min(rest.len()));
            rest = after;
            let mut found: HashMap<String, crate::model::LocalRecord> = self
                .source
                .get(entity, keys)
                .await
                .map_err(|e| SyncError::from_store("re-reading records to retry", e))?
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect();
            let chunk = keys
                .iter()
                .map(|k| {
                    let (kind, updated_at) = match found.remove(k) {
                        Some(r) => (LocalChangeKind::Upsert { data: r.data }, r.updated_at),
                        None => (LocalChangeKind::Delete, None),
                    };
                    LocalChange {
                        key: k.clone(),
                        kind,
                        updated_at,
                        checkpoint: crate::model::Checkpoint::new(""),
                    }
                })
                .collect::<Vec<_>>();
            let seen: Vec<(String, String)> = chunk
                .iter()
                .map(|c| (c.key.clone(), change_fingerprint(c)))
                .collect();
            self.push_batch(run, m, chunk, false, &mut retry).await?;
            for (key, fingerprint) in seen {
                retry.note_retried(&key, fingerprint);
            }
            self.adjust_in_flight(run, entity, &mut in_flight);
        }
        let mut feed = self
            .source
            .changes_since(entity, cursor.as_ref())
            .await
            .map_err(|e| SyncError::from_store("reading local changes", e))?;
        loop {
            let bs = chunk_len(&in_flight);
            let mut chunk = Vec::with_capacity(bs);
            while chunk.len() < bs {
                match feed.next().await {
                    Some(Ok(c)) => chunk.push(c),
                    Some(Err(e)) => return Err(SyncError::from_store("reading local changes", e)),
                    None => break,
                }
            }
            if chunk.is_empty() {
                break;
            }
            let done = chunk.len() < bs;
            self.push_batch(run, m, chunk, true, &mut retry).await?;
            if done {
                break;
            }
            self.adjust_in_flight(run, entity, &mut in_flight);
        }
        self.warn_if_held_back(run, entity, &in_flight);
        self.retry_finish(run, retry).await
    }

    /// After a chunk: sends more batches at once from the next chunk on when the rate limit is
    /// not what holds the push back (see `in_flight`). A dry run writes nothing, so its pace
    /// says nothing of the limit.
    fn adjust_in_flight(&self, run: &Run, entity: &str, in_flight: &mut in_flight::InFlight) {
        if run.dry_run {
            return;
        }
        if let Some(raise) = in_flight.after_chunk(self.client.stats(), self.client.rate_limit()) {
            tracing::info!(
                entity,
                from = raise.from,
                to = raise.to,
                requests = raise.pace.requests,
                elapsed_ms = raise.pace.elapsed.as_millis() as u64,
                waited_ms = raise.pace.waited.as_millis() as u64,
                "the push is not waiting on its rate limit: more batches in flight"
            );
        }
    }

    /// The run report's warning when the push, with as many batches in flight as it may send,
    /// was still held back by Twenty's answers since it last raised them (see `pace`). Below
    /// its most, the push raises them itself after a chunk that shows it held back; one that
    /// ends first leaves the next push to do so, from its start again.
    fn warn_if_held_back(&self, run: &mut Run, entity: &str, in_flight: &in_flight::InFlight) {
        if run.dry_run || !in_flight.at_most() {
            return;
        }
        let pace = in_flight.pace(&self.client.stats());
        let Some(held) = pace.held_back(self.client.rate_limit(), in_flight.now()) else {
            return;
        };
        let warning =
            pace::held_back_warning(entity, &pace, &held, in_flight.now(), in_flight.raised());
        tracing::warn!(%warning, "the push ran below its rate limit");
        run.report.warnings.push(warning);
    }

    /// The records of the upserts among `changes` as the source holds them now, by key.
    async fn current_local(
        &self,
        entity: &str,
        changes: &HashMap<String, LocalChange>,
    ) -> Result<HashMap<String, crate::model::LocalRecord>, SyncError> {
        let keys: Vec<String> = changes
            .values()
            .filter(|c| matches!(c.kind, LocalChangeKind::Upsert { .. }))
            .map(|c| c.key.clone())
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let records = self
            .source
            .get(entity, &keys)
            .await
            .map_err(|e| SyncError::from_store("reading the changed local records", e))?;
        Ok(records.into_iter().map(|l| (l.key.clone(), l)).collect())
    }

    async fn push_batch(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        chunk: Vec<LocalChange>,
        move_cursor: bool,
        retry: &mut RetrySet,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let ckey = Run::counts_key(entity, DIR);
        let Some(last) = chunk.last().map(|c| c.checkpoint.clone()) else {
            return Ok(());
        };
        let checkpoint = move_cursor.then_some(last);
        // A version the retry pass of this run already handled is not processed twice.
        let mut chunk = chunk;
        chunk.retain(|c| !retry.already_retried(&c.key, &change_fingerprint(c)));
        // The feed is at-least-once and may repeat a key: the last change of a key wins.
        let mut order: Vec<String> = Vec::new();
        let mut latest: HashMap<String, LocalChange> = HashMap::new();
        for c in chunk {
            if !latest.contains_key(&c.key) {
                order.push(c.key.clone());
            }
            latest.insert(c.key.clone(), c);
        }
        let n = order.len() as u64;
        // Phase timings at debug level (`RUST_LOG=twenty_sync_core=debug`) show where a slow
        // chunk spends its time: local reads, Twenty lookups, deciding, or writing.
        let started = std::time::Instant::now();
        run.report.counts_mut(&ckey).seen += n;
        self.emit(ProgressEvent::Seen {
            entity: entity.to_owned(),
            direction: DIR,
            count: n,
        });
        let states: HashMap<String, RecordState> = self
            .state
            .records(entity, &order)
            .await
            .map_err(|e| SyncError::from_store("reading record states", e))?
            .into_iter()
            .map(|s| (s.local_key.clone(), s))
            .collect();

        let mut current = self.current_local(entity, &latest).await?;

        let mut commit = StateCommit::new(entity);
        let mut ops: Vec<Op> = Vec::new();
        // (key, push view, hash, local hash, live state, local data, local updated_at)
        let mut upserts: Vec<Upsert> = Vec::new();
        for key in &order {
            let Some(change) = latest.remove(key) else {
                continue;
            };
            let st = states.get(key).cloned();
            match change.kind {
                LocalChangeKind::Delete => match st {
                    Some(s) if !s.deleted && self.config.push_delete != PushDeleteMode::Ignore => {
                        ops.push(Op::Delete { st: s });
                    }
                    _ => run.report.counts_mut(&ckey).unchanged += 1,
                },
                LocalChangeKind::Upsert { .. } => {
                    // The feed holds the record as it was when it changed; a pull may have
                    // written it since (Twenty's values over an edit not pushed yet), and a
                    // later change may be on its way. What is pushed is the record as it is.
                    let Some(now) = current.remove(key) else {
                        // Gone since: its delete follows in the feed.
                        run.report.counts_mut(&ckey).unchanged += 1;
                        continue;
                    };
                    let data = now.data;
                    let changed_at = now.updated_at.or(change.updated_at);
                    let mapped = m.to_twenty(&data);
                    if let Some(err) = mapped.errors.first() {
                        let reason = format!(
                            "{} field(s) failed to map; first: {}",
                            mapped.errors.len(),
                            err.reason
                        );
                        let id = st.as_ref().map(|s| s.twenty_id.clone());
                        commit.audit.push(run.fail(
                            entity,
                            DIR,
                            Some(key),
                            id.as_deref(),
                            Some(&err.field),
                            reason,
                        ));
                        continue;
                    }
                    let pv = push_view(m, &mapped.value);
                    let h = content_hash(&pv);
                    let live = st.filter(|s| !s.deleted);
                    if live
                        .as_ref()
                        .is_some_and(|s| s.twenty_hash.as_deref() == Some(h.as_str()))
                    {
                        run.report.counts_mut(&ckey).unchanged += 1;
                        continue;
                    }
                    let lh = LocalHashes::of(m, keeps_agreed(run.mode, live.as_ref()), &data);
                    upserts.push((key.clone(), pv, h, lh, live, data, changed_at));
                }
            }
        }

        let read_ms = started.elapsed().as_millis() as u64;
        let strategy = self.config.match_strategy_for(entity).resolve(
            m.twenty_object(),
            m.match_keys(),
            &self.config.audit_values,
        );
        let via_upsert = strategy == MatchStrategy::Upsert;
        let current = self.current_versions(m, &upserts).await?;
        // A real upsert run needs no lookup: Twenty matches. A dry run cannot upsert, so it
        // predicts the matches with a lookup that sees what the upsert would see.
        let index = if via_upsert && !run.dry_run {
            vec![HashMap::new(); m.match_keys().len()]
        } else {
            self.natural_key_index(m, &upserts, via_upsert).await?
        };
        let matched_ms = started.elapsed().as_millis() as u64;
        self.decide_upserts(
            run,
            m,
            upserts,
            &current,
            &index,
            via_upsert,
            &mut commit,
            &mut ops,
        );
        deletes::plan_deletes(run, entity, &ops);
        tracing::debug!(
            entity,
            records = n,
            ops = ops.len(),
            read_ms,
            matched_ms,
            decided_ms = started.elapsed().as_millis() as u64,
            dry_run = run.dry_run,
            "push chunk planned"
        );

        if run.dry_run {
            predict_dry_writes(run, &ops, &commit, &current, &index);
            let failed = RetrySet::failed_in(&commit.audit, DIR);
            retry.absorb(order.iter(), &failed);
            return Ok(());
        }
        self.execute_push(run, m, ops, commit, checkpoint, retry, &order)
            .await?;
        tracing::debug!(
            entity,
            records = n,
            total_ms = started.elapsed().as_millis() as u64,
            "push chunk written"
        );
        Ok(())
    }
}

/// What a dry run's pull needs of the writes this chunk would make (see
/// [`DryOverlay`](super::run::DryOverlay)): the record states the chunk would commit, and each
/// written record as Twenty would hold it (its current version, or the matched one, with the
/// patch applied; a created record as sent), stamped with one new `updatedAt`.
fn predict_dry_writes(
    run: &mut Run,
    ops: &[Op],
    commit: &StateCommit,
    current: &HashMap<String, Record>,
    index: &[HashMap<String, Record>],
) {
    for st in &commit.upsert_records {
        run.note_dry_state(st);
    }
    for op in ops {
        let (key, id, base, written, hash, local_hash) = match op {
            Op::Update {
                key,
                id,
                patch: Some(patch),
                hash,
                local_hash,
                ..
            } => {
                let base = current
                    .get(id)
                    .or_else(|| {
                        index
                            .iter()
                            .flat_map(HashMap::values)
                            .find(|r| r.id() == Some(id.as_str()))
                    })
                    .map(|r| r.clone().into_value());
                (
                    key.as_str(),
                    id.as_str(),
                    base,
                    patch,
                    hash.as_str(),
                    local_hash,
                )
            }
            _ => match op.new_record() {
                Some((key, id, record, hash, local_hash, _)) => {
                    (key, id, None, record, hash, local_hash)
                }
                None => continue,
            },
        };
        note_dry_written(run, base, written, key, id, hash, local_hash);
    }
}

/// Notes, in a dry run, one record as Twenty would hold it after the push wrote `written` (a
/// patch or a whole record) over `base` (its version before, if any), with a new `updatedAt`,
/// and the record state the push would commit with it.
pub(super) fn note_dry_written(
    run: &mut Run,
    base: Option<Value>,
    written: &Value,
    key: &str,
    id: &str,
    hash: &str,
    local_hash: &LocalHashes,
) {
    let stamp = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut record = base.unwrap_or_else(|| serde_json::json!({}));
    if let (Value::Object(to), Value::Object(patch)) = (&mut record, written) {
        for (k, v) in patch {
            to.insert(k.clone(), v.clone());
        }
        to.insert("id".into(), Value::String(id.to_owned()));
        to.insert("updatedAt".into(), Value::String(stamp.clone()));
    }
    let mut st = RecordState::new(key.to_owned(), id.to_owned());
    st.twenty_hash = Some(hash.to_owned());
    local_hash.store_in(&mut st);
    st.twenty_updated_at = DateTime::parse_from_rfc3339(&stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    run.note_dry_write(record, st);
}
