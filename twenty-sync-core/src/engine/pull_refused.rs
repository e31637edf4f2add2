//! Pulled records the local store refuses: found by applying their batch in parts, reported as
//! failures and kept for retry, while the rest of the batch is applied and the pull goes on.
//!
//! A store that writes a batch in one transaction (Postgres) refuses all of it for one record
//! it cannot hold: a value too long for its column, a CHECK or unique constraint. Stopping the
//! pull there would stop every later pull at the same record, since the cursor stays before it.
//! So when the store says the data is invalid ([`StoreErrorKind::Invalid`], not temporary), the
//! batch is applied again in parts:
//! - an error that names one record of the part (a `key` context, as the Postgres sink gives
//!   for a value that does not fit its column or a unique violation on one column) refuses that
//!   record, and the rest of the part is applied again; when that rest is refused again with a
//!   record named (several share a refused value), the record is taken out and the rest goes as
//!   halves;
//! - otherwise the part is applied as its two halves, down to single records.
//!
//! Each part goes with its records' states and audit entries, so what is applied is committed
//! as before. A record refused on its own is a per-record failure: its record state is not
//! written (the next pull decides on it again), its audit entries become one failure entry,
//! and the walk reports it and keeps its Twenty id in the retry set.
//!
//! **The cursor waits for the retry set.** When a record was refused, the cursor the batch
//! carried is not written with the parts ([`Committed::held_cursor`]): the walk first stores
//! the refused ids in the retry set, then writes the cursor (see `pull_commits`). A crash in
//! between leaves the cursor before the refused records, which the next pull reads again.
//!
//! Cost: one apply more than the batch per record named by its error; about `2·log2(n)` more
//! per record found by halving a batch of `n`. Nothing goes to Twenty again. A store that
//! refuses [`ALL_REFUSED`] records one by one and takes none of the batch stops the pull, as
//! before: the fault is then its table or the mapping, not single records.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;

use crate::error::{StoreError, StoreErrorKind};
use crate::model::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, InboundChange, StateCommit, StateWritten,
    SyncDirection,
};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::error::SyncError;
use super::failpoints;
use super::progress::ProgressEvent;
use super::retry::RetrySet;
use super::run::Run;
use super::watermark::PullCursor;

const DIR: SyncDirection = SyncDirection::Pull;

/// How many records of a batch the store may refuse one by one (alone, or named by its error),
/// none of the batch applied, before the pull stops instead: then the store refuses everything (a column type or a
/// constraint at odds with the mapping), and a failure per record (at two applies each) would
/// only bury that.
const ALL_REFUSED: usize = 8;

/// A pulled record the local store refused: not written, to be reported and retried.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refused {
    pub(super) local_key: String,
    pub(super) twenty_id: String,
    /// The store's error, as it said it.
    pub(super) reason: String,
    /// What had been decided for it (counted in the report when decided).
    pub(super) actions: Vec<AuditAction>,
}

/// What committing a pulled batch did besides applying it.
#[derive(Debug, Default)]
pub(super) struct Committed {
    /// The records the store refused; everything else of the batch was applied.
    pub(super) refused: Vec<Refused>,
    /// The cursor the batch carried, not written because records were refused: written once
    /// they are in the stored retry set.
    pub(super) held_cursor: Option<PullCursor>,
}

/// Some changes of a refused batch, applied together.
struct Part {
    /// Positions in the batch's changes.
    at: Vec<usize>,
    /// The store's refusal of these changes together, when already tried.
    refused_with: Option<StoreError>,
    /// What was left after the store's error named a record, which was taken out.
    peeled: bool,
}

impl Part {
    /// `at`'s two halves, to try (the first half is popped first).
    fn halves(mut at: Vec<usize>) -> [Part; 2] {
        let second = at.split_off(at.len() / 2);
        [second, at].map(|at| Part {
            at,
            refused_with: None,
            peeled: false,
        })
    }
}

/// Why a part of a batch was not applied.
enum PartFailure {
    /// The store refused its data: applying fewer of its records may succeed.
    Refused(StoreError),
    /// Anything else: the pull stops.
    Run(SyncError),
}

/// Whether the store refused a batch for its data (and would again), not for its own state.
fn refuses_data(e: &StoreError) -> bool {
    e.kind() == StoreErrorKind::Invalid && !e.is_temporary()
}

/// The position in `part` of the record `err` names in its `key` context, if one of `part`.
fn named_record(err: &StoreError, changes: &[InboundChange], part: &[usize]) -> Option<usize> {
    let (_, key) = err.context().iter().find(|(name, _)| *name == "key")?;
    part.iter().position(|&i| changes[i].key == *key)
}

/// The changes of `changes` at `part`, with the record states and audit entries of their keys.
fn part_batch(
    entity: &str,
    changes: &[InboundChange],
    part: &[usize],
    state: &StateCommit,
) -> ApplyBatch {
    let keys: HashSet<&str> = part.iter().map(|&i| changes[i].key.as_str()).collect();
    let mut commit = StateCommit::new(entity);
    commit.fence = state.fence.clone();
    commit.upsert_records = state
        .upsert_records
        .iter()
        .filter(|s| keys.contains(s.local_key.as_str()))
        .cloned()
        .collect();
    commit.remove_records = state
        .remove_records
        .iter()
        .filter(|k| keys.contains(k.as_str()))
        .cloned()
        .collect();
    commit.audit = state
        .audit
        .iter()
        .filter(|a| a.local_key.as_deref().is_some_and(|k| keys.contains(k)))
        .cloned()
        .collect();
    ApplyBatch {
        entity: entity.to_owned(),
        changes: part.iter().map(|&i| changes[i].clone()).collect(),
        state: commit,
    }
}

/// What of `state` no part carried (states and audit entries of keys without a change, the
/// pending creates), with one failure entry per `refused` record instead of its decided ones,
/// whose actions go into that record's [`Refused::actions`].
fn rest_of(
    state: StateCommit,
    changes: &[InboundChange],
    mut refused: Vec<Refused>,
) -> (StateCommit, Vec<Refused>) {
    let in_parts: HashSet<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    let StateCommit {
        entity,
        upsert_records,
        remove_records,
        cursors: _,
        add_pending,
        remove_pending,
        audit,
        fence,
    } = state;
    let mut rest = StateCommit::new(&entity);
    rest.fence = fence;
    rest.upsert_records = upsert_records
        .into_iter()
        .filter(|s| !in_parts.contains(s.local_key.as_str()))
        .collect();
    rest.remove_records = remove_records
        .into_iter()
        .filter(|k| !in_parts.contains(k.as_str()))
        .collect();
    rest.add_pending = add_pending;
    rest.remove_pending = remove_pending;
    refused.sort_by(|a, b| a.local_key.cmp(&b.local_key));
    let position: HashMap<String, usize> = refused
        .iter()
        .enumerate()
        .map(|(i, r)| (r.local_key.clone(), i))
        .collect();
    let mut failures: Vec<Option<AuditEntry>> = vec![None; refused.len()];
    for a in audit {
        let key = a.local_key.as_deref();
        if !key.is_some_and(|k| in_parts.contains(k)) {
            rest.audit.push(a);
            continue;
        }
        // Written with its part, or refused.
        let Some(&i) = key.and_then(|k| position.get(k)) else {
            continue;
        };
        refused[i].actions.push(a.action);
        if failures[i].is_none() {
            failures[i] = Some(AuditEntry {
                at: Utc::now(),
                action: AuditAction::Fail,
                changed_fields: Vec::new(),
                after_hash: None,
                outcome: AuditOutcome::Failed(refused[i].reason.clone()),
                detail: None,
                ..a
            });
        }
    }
    rest.audit.extend(failures.into_iter().flatten());
    (rest, refused)
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Applies a pulled batch of `changes` with its `state`, moving the pull cursor to `cursor`
    /// with it; when the store refuses records of it, applies the rest in parts and returns
    /// the refused ones (see the module's documentation).
    pub(super) async fn apply_pulled(
        &self,
        entity: &str,
        changes: Vec<InboundChange>,
        mut state: StateCommit,
        cursor: Option<PullCursor>,
    ) -> Result<Committed, SyncError> {
        if let Some(c) = &cursor {
            state.cursors.push((DIR, c.encode()));
        }
        state.fence = self.fence_of(entity);
        let whole = Arc::new(ApplyBatch {
            entity: entity.to_owned(),
            changes,
            state,
        });
        let err = match self.apply_part(whole.clone()).await {
            Ok(()) => return Ok(Committed::default()),
            Err(PartFailure::Run(e)) => return Err(e),
            Err(PartFailure::Refused(e)) => e,
        };
        tracing::warn!(
            entity,
            changes = whole.changes.len(),
            error = %err,
            "the local store refused a batch of pulled changes; applying it in parts to find the records it refuses"
        );
        let ApplyBatch { changes, state, .. } =
            Arc::try_unwrap(whole).unwrap_or_else(|shared| (*shared).clone());
        self.apply_in_parts(entity, changes, state, cursor, err)
            .await
    }

    /// Applies `changes` (which the store refused together, with `err`) in parts.
    async fn apply_in_parts(
        &self,
        entity: &str,
        changes: Vec<InboundChange>,
        state: StateCommit,
        cursor: Option<PullCursor>,
        err: StoreError,
    ) -> Result<Committed, SyncError> {
        let mut parts = vec![Part {
            at: (0..changes.len()).collect(),
            refused_with: Some(err),
            peeled: false,
        }];
        let mut refused: Vec<Refused> = Vec::new();
        let mut applied_any = false;
        while let Some(Part {
            at: mut part,
            refused_with,
            peeled,
        }) = parts.pop()
        {
            let err = match refused_with {
                Some(e) => e,
                None => {
                    let batch = Arc::new(part_batch(entity, &changes, &part, &state));
                    match self.apply_part(batch).await {
                        Ok(()) => {
                            applied_any = true;
                            continue;
                        }
                        Err(PartFailure::Run(e)) => return Err(e),
                        Err(PartFailure::Refused(e)) => e,
                    }
                }
            };
            let named = named_record(&err, &changes, &part);
            let at = match named {
                Some(at) => at,
                None if part.len() == 1 => 0,
                None => {
                    parts.extend(Part::halves(part));
                    continue;
                }
            };
            let c = &changes[part.remove(at)];
            refused.push(Refused {
                local_key: c.key.clone(),
                twenty_id: c.twenty_id.clone(),
                reason: format!("{} refused the record: {err}", self.source.describe()),
                actions: Vec::new(),
            });
            if !applied_any && refused.len() >= ALL_REFUSED {
                // Nothing of the batch was written: stop with the cursor before it.
                return Err(SyncError::from_store(
                    &format!(
                        "applying {} pulled change(s) to {}: it refused {ALL_REFUSED} of them one \
                         by one before taking any part of the batch, which points at the table \
                         or the mapping rather than at single records (a constraint most records \
                         break); fix that and run again (nothing of the batch was written, the \
                         cursor is before it)",
                        changes.len(),
                        self.source.describe()
                    ),
                    err,
                ));
            }
            if part.is_empty() {
                continue;
            }
            if peeled {
                // Refused again after a named record was taken out: more records of it are
                // refused (a value several of them share), so the rest goes as halves, which
                // the good records get through, instead of one record less at a time.
                parts.extend(Part::halves(part));
            } else {
                parts.push(Part {
                    at: part,
                    refused_with: None,
                    peeled: named.is_some(),
                });
            }
        }
        let (mut rest, refused) = rest_of(state, &changes, refused);
        let held_cursor = if refused.is_empty() {
            // Every part was applied: the store refused only the batch as a whole.
            if let Some(c) = &cursor {
                rest.cursors.push((DIR, c.encode()));
            }
            None
        } else {
            cursor
        };
        if !rest.is_empty() {
            self.state
                .commit(&rest)
                .await
                .map_err(|e| SyncError::from_store("committing pull state", e))?;
        }
        Ok(Committed {
            refused,
            held_cursor,
        })
    }

    /// Applies `batch` to the source, and its state to the state store when the source did not
    /// write it.
    async fn apply_part(&self, batch: Arc<ApplyBatch>) -> Result<(), PartFailure> {
        let count = batch.changes.len() as u64;
        let outcome = match self.source.apply_shared(batch.clone()).await {
            Ok(outcome) => outcome,
            Err(e) if refuses_data(&e) => return Err(PartFailure::Refused(e)),
            Err(e) => {
                return Err(PartFailure::Run(SyncError::from_store(
                    &format!(
                        "applying {count} pulled change(s) to {}",
                        self.source.describe()
                    ),
                    e,
                )));
            }
        };
        self.emit(ProgressEvent::Written {
            entity: batch.entity.clone(),
            direction: DIR,
            count,
        });
        if outcome == StateWritten::NotWritten {
            self.failpoints
                .check(failpoints::PULL_AFTER_SOURCE_APPLY)
                .map_err(PartFailure::Run)?;
            self.state
                .commit(&batch.state)
                .await
                .map_err(|e| PartFailure::Run(SyncError::from_store("committing pull state", e)))?;
        }
        Ok(())
    }

    /// Reports the `refused` records of a pull of `entity` and stores their Twenty ids in the
    /// retry set, before any cursor past them is written. Returns those ids.
    pub(super) async fn record_refused(
        &self,
        run: &mut Run,
        entity: &str,
        retry: Option<&mut RetrySet>,
        refused: Vec<Refused>,
    ) -> Result<BTreeSet<String>, SyncError> {
        let ids: BTreeSet<String> = refused.iter().map(|r| r.twenty_id.clone()).collect();
        if ids.is_empty() {
            return Ok(ids);
        }
        if let (Some(retry), false) = (retry, run.dry_run) {
            self.retry_before_commit(retry, &ids).await?;
        }
        for r in &refused {
            run.withdraw(
                entity,
                DIR,
                &r.local_key,
                &r.twenty_id,
                &r.actions,
                r.reason.clone(),
            );
        }
        self.emit(ProgressEvent::Failed {
            entity: entity.to_owned(),
            direction: DIR,
            count: refused.len() as u64,
        });
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InboundChangeKind, RecordState};
    use serde_json::json;

    fn change(key: &str) -> InboundChange {
        InboundChange {
            key: key.into(),
            twenty_id: format!("t-{key}"),
            kind: InboundChangeKind::Upsert { data: json!({}) },
            twenty_updated_at: None,
        }
    }

    fn entry(key: Option<&str>, action: AuditAction) -> AuditEntry {
        AuditEntry {
            run_id: "r".into(),
            at: Utc::now(),
            entity: "contacts".into(),
            direction: DIR,
            local_key: key.map(str::to_owned),
            twenty_id: key.map(|k| format!("t-{k}")),
            action,
            changed_fields: vec!["email".into()],
            before_hash: None,
            after_hash: Some("h".into()),
            outcome: AuditOutcome::Applied,
            detail: None,
        }
    }

    fn state() -> StateCommit {
        let mut s = StateCommit::new("contacts");
        for k in ["a", "b", "kept"] {
            s.upsert_records.push(RecordState::new(k, format!("t-{k}")));
        }
        s.audit = vec![
            entry(Some("a"), AuditAction::Create),
            entry(Some("b"), AuditAction::Conflict),
            entry(Some("b"), AuditAction::Update),
            entry(None, AuditAction::Fail),
        ];
        s
    }

    #[test]
    fn a_part_carries_only_its_records_states_and_audit_entries() {
        let changes = vec![change("a"), change("b")];
        let part = part_batch("contacts", &changes, &[1], &state());
        assert_eq!(part.changes, vec![change("b")]);
        assert_eq!(
            part.state.upsert_records,
            vec![RecordState::new("b", "t-b")]
        );
        let actions: Vec<AuditAction> = part.state.audit.iter().map(|a| a.action).collect();
        assert_eq!(actions, vec![AuditAction::Conflict, AuditAction::Update]);
        assert!(part.state.cursors.is_empty());
    }

    #[test]
    fn the_rest_keeps_what_no_part_carried_and_one_failure_per_refused_record() {
        let changes = vec![change("a"), change("b")];
        let refused = vec![Refused {
            local_key: "b".into(),
            twenty_id: "t-b".into(),
            reason: "too long".into(),
            actions: Vec::new(),
        }];
        let (rest, out) = rest_of(state(), &changes, refused);
        // "kept" had a state and no change; "a" went with its part; "b" was refused.
        assert_eq!(
            rest.upsert_records,
            vec![RecordState::new("kept", "t-kept")]
        );
        let audit: Vec<(Option<&str>, AuditAction)> = rest
            .audit
            .iter()
            .map(|a| (a.local_key.as_deref(), a.action))
            .collect();
        assert_eq!(
            audit,
            vec![(None, AuditAction::Fail), (Some("b"), AuditAction::Fail)]
        );
        let failure = &rest.audit[1];
        assert_eq!(failure.outcome, AuditOutcome::Failed("too long".into()));
        assert!(failure.changed_fields.is_empty() && failure.after_hash.is_none());
        assert_eq!(
            out,
            vec![Refused {
                local_key: "b".into(),
                twenty_id: "t-b".into(),
                reason: "too long".into(),
                actions: vec![AuditAction::Conflict, AuditAction::Update],
            }]
        );
    }

    #[test]
    fn only_an_invalid_permanent_error_refuses_data() {
        assert!(refuses_data(&StoreError::new(StoreErrorKind::Invalid, "x")));
        assert!(!refuses_data(
            &StoreError::new(StoreErrorKind::Invalid, "x").temporary()
        ));
        assert!(!refuses_data(&StoreError::new(
            StoreErrorKind::Unavailable,
            "x"
        )));
        assert!(!refuses_data(&StoreError::new(StoreErrorKind::Config, "x")));
    }

    #[test]
    fn an_error_names_a_record_only_of_its_part() {
        let changes = vec![change("a"), change("b"), change("c")];
        let err = StoreError::new(StoreErrorKind::Invalid, "x").with_context("key", "b");
        assert_eq!(named_record(&err, &changes, &[0, 1]), Some(1));
        assert_eq!(named_record(&err, &changes, &[0, 2]), None);
        let unnamed = StoreError::new(StoreErrorKind::Invalid, "x").with_context("entity", "b");
        assert_eq!(named_record(&unnamed, &changes, &[0, 1]), None);
    }
}
