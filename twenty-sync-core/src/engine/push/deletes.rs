//! Local deletes: planned with the rest of a chunk, sent after creates and updates as a soft
//! delete or a destroy ([`PushDeleteMode`]), in batches where they can
//! ([`EngineConfig::batch_writes`](crate::engine::EngineConfig::batch_writes)): one
//! `DELETE /rest/{plural}?filter=id[in]:[…]` (with `soft_delete=true` for a soft delete) per
//! [`DELETE_BATCH`] records, whose answer lists the records it deleted. A record a soft delete
//! left out is no longer live in Twenty, as a 404 to a single delete says; one a destroy left
//! out may be a soft-deleted record the filter did not reach, and is destroyed by id. A rejected
//! batch is sent again as its halves, down to records deleted one by one (see `isolate`).

use super::isolate::{self, Split, Write};
use super::*;

/// Records per batch delete: Twenty caps the rows one filter mutation may touch
/// (`MUTATION_MAXIMUM_AFFECTED_RECORDS`, 100 by default).
pub(super) const DELETE_BATCH: usize = 100;

/// What the batch deletes settled, by Twenty id.
#[derive(Debug, Default)]
pub(super) struct BatchedDeletes {
    /// Deleted (soft or for good) by a batch.
    pub(super) deleted: HashSet<String>,
    /// Sent in a soft-delete batch that left them out: no longer live in Twenty.
    pub(super) gone: HashSet<String>,
}

/// Plans the deletes among `ops` (report counts and plan entries).
pub(super) fn plan_deletes(run: &mut Run, entity: &str, ops: &[Op]) {
    let ckey = Run::counts_key(entity, DIR);
    for op in ops {
        if let Op::Delete { st } = op {
            run.plan(
                entity,
                DIR,
                PlannedAction::Delete,
                &st.local_key,
                Some(&st.twenty_id),
                &[],
            );
            run.report.counts_mut(&ckey).deleted += 1;
        }
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Sends the [`Op::Delete`]s of `ops` in batches of `batch_size` (at most [`DELETE_BATCH`]),
    /// when batches are on and there are at least two. A batch Twenty rejects is sent again as
    /// its two halves, and so on down to batches of 2-3, whose records are left to
    /// [`Self::send_delete`] (see `isolate`): a Twenty whose cap on the rows of one filter
    /// mutation (`MUTATION_MAXIMUM_AFFECTED_RECORDS`) is below the batch then takes the halves
    /// that fit, and a record Twenty refuses is isolated in a few requests, not one per record
    /// of its batch.
    pub(super) async fn send_delete_batches(
        &self,
        m: &dyn EntityMapper,
        ops: &[Op],
    ) -> Result<BatchedDeletes, SyncError> {
        let mut out = BatchedDeletes::default();
        if !self.config.batch_writes {
            return Ok(out);
        }
        let ids: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Delete { st } => Some(st.twenty_id.as_str()),
                _ => None,
            })
            .collect();
        if ids.len() < 2 {
            return Ok(out);
        }
        let plural = m.twenty_object();
        let destroy = self.config.push_delete == PushDeleteMode::Destroy;
        let settled = isolate::send_isolating(
            m.name(),
            Write::Delete,
            &ids,
            self.config.batch_size.clamp(1, DELETE_BATCH),
            // A batch over Twenty's cap is rejected for its size alone: halve on.
            Split::Halves,
            |batch| {
                self.twenty(move |c| {
                    let filter = Filter::field("id").in_(batch.iter().map(|id| (*id).to_owned()));
                    let plural = plural.to_owned();
                    async move {
                        let records = c.records(&plural);
                        if destroy {
                            records.destroy_many(filter).send().await
                        } else {
                            records.soft_delete_many(filter).send().await
                        }
                    }
                })
            },
        )
        .await?;
        for (range, deleted) in settled.accepted {
            let deleted: HashSet<String> = deleted.into_iter().collect();
            for id in &ids[range] {
                if deleted.contains(*id) {
                    out.deleted.insert((*id).to_owned());
                } else if !destroy {
                    out.gone.insert((*id).to_owned());
                }
                // A record a destroy by filter left out may be in Twenty's trash, which a
                // filter may not reach: it is destroyed by id (a 404 there means gone).
            }
        }
        Ok(out)
    }

    /// Sends one delete and records its outcome in `commit` (audit, record state).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_delete(
        &self,
        run: &mut Run,
        entity: &str,
        plural: &str,
        st: RecordState,
        commit: &mut StateCommit,
        written: &mut u64,
        failed: &mut u64,
    ) -> Result<(), SyncError> {
        let destroy = self.config.push_delete == PushDeleteMode::Destroy;
        let res = self
            .twenty(|c| {
                let plural = plural.to_owned();
                let id = st.twenty_id.clone();
                async move {
                    let h = c.records(&plural);
                    if destroy {
                        h.destroy(&id).send().await
                    } else {
                        h.soft_delete(&id).send().await
                    }
                }
            })
            .await;
        match res {
            Ok(_) => *written += 1,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound) => {}
            Err(e) if !e.is_record_level() => {
                return Err(SyncError::from_twenty("deleting a record in Twenty", e));
            }
            Err(e) => {
                *failed += 1;
                run.report.counts_mut(&Run::counts_key(entity, DIR)).deleted -= 1;
                commit.audit.push(run.fail(
                    entity,
                    DIR,
                    Some(&st.local_key),
                    Some(&st.twenty_id),
                    None,
                    format!("Twenty rejected the delete: {e}"),
                ));
                return Ok(());
            }
        }
        self.record_delete(run, entity, st, commit);
        Ok(())
    }

    /// Records a delete Twenty applied (or found already done) in `commit`: its audit entry and
    /// the record state (marked deleted, or removed after a destroy).
    pub(super) fn record_delete(
        &self,
        run: &mut Run,
        entity: &str,
        st: RecordState,
        commit: &mut StateCommit,
    ) {
        let destroy = self.config.push_delete == PushDeleteMode::Destroy;
        commit.audit.push(run.audit(
            entity,
            DIR,
            AuditAction::Delete,
            Some(&st.local_key),
            Some(&st.twenty_id),
            vec![],
            st.twenty_hash.clone(),
            None,
            AuditOutcome::Applied,
            Some(if destroy { "destroyed" } else { "soft deleted" }.into()),
        ));
        if destroy {
            commit.remove_records.push(st.local_key.clone());
        } else {
            let mut ns = st;
            ns.deleted = true;
            commit.upsert_records.push(ns);
        }
    }
}
