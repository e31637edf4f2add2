//! Local deletes: planned with the rest of a chunk, sent after creates and updates as a soft
//! delete or a destroy ([`PushDeleteMode`]). Soft deletes go in batches where they can
//! ([`EngineConfig::batch_writes`](crate::engine::EngineConfig::batch_writes)): one
//! `DELETE /rest/{plural}?filter=id[in]:[…]&soft_delete=true` per [`DELETE_BATCH`] records,
//! whose answer lists the records it deleted; a record not in it is no longer live in Twenty,
//! as a 404 to a single delete says. A rejected batch is sent again as its halves, down to
//! records deleted one by one. Destroys go one by one: a filter leaves out soft-deleted
//! records, which a destroy by id removes.

use super::*;

/// Records per batch delete: Twenty caps the rows one filter mutation may touch
/// (`MUTATION_MAXIMUM_AFFECTED_RECORDS`, 100 by default).
pub(super) const DELETE_BATCH: usize = 100;

/// What the batch deletes settled, by Twenty id.
#[derive(Debug, Default)]
pub(super) struct BatchedDeletes {
    /// Soft-deleted by a batch.
    pub(super) deleted: HashSet<String>,
    /// Sent in a batch that left them out: no longer live in Twenty.
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
    /// Soft-deletes the [`Op::Delete`]s of `ops` in batches, when deletes are soft, batches are
    /// on and there are at least two. A batch Twenty rejects is sent again as its two halves, and
    /// so on down to single records, which are left to [`Self::send_delete`]: a Twenty whose cap
    /// on the rows of one filter mutation (`MUTATION_MAXIMUM_AFFECTED_RECORDS`) is below the
    /// batch then takes the halves that fit, and a record Twenty refuses is isolated in a few
    /// requests, not one per record of its batch.
    pub(super) async fn send_delete_batches(
        &self,
        m: &dyn EntityMapper,
        ops: &[Op],
    ) -> Result<BatchedDeletes, SyncError> {
        let mut out = BatchedDeletes::default();
        if !self.config.batch_writes || self.config.push_delete != PushDeleteMode::SoftDelete {
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
        let size = self.config.batch_size.clamp(1, DELETE_BATCH);
        // All of the chunk's batches at once (see `EngineConfig::push_in_flight`), then the
        // halves of those rejected, all at once, and so on.
        let mut batches: Vec<&[&str]> = ids.chunks(size).collect();
        while !batches.is_empty() {
            let sent = futures::future::join_all(batches.iter().map(|batch| {
                self.twenty(move |c| {
                    let filter = Filter::field("id").in_(batch.iter().map(|id| (*id).to_owned()));
                    let plural = plural.to_owned();
                    async move { c.records(&plural).soft_delete_many(filter).send().await }
                })
            }))
            .await;
            let mut halves = Vec::new();
            for (&batch, res) in batches.iter().zip(sent) {
                match res {
                    Ok(deleted) => {
                        let deleted: HashSet<String> = deleted.into_iter().collect();
                        for id in batch {
                            if deleted.contains(*id) {
                                out.deleted.insert((*id).to_owned());
                            } else {
                                out.gone.insert((*id).to_owned());
                            }
                        }
                    }
                    Err(e) if is_run_level(&e) => {
                        return Err(SyncError::from_twenty(
                            &format!("deleting {} record(s) in Twenty", batch.len()),
                            e,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(
                            entity = m.name(),
                            records = batch.len(),
                            error = %e,
                            "batch delete rejected; sending its halves to isolate the bad records"
                        );
                        // Halves of one record are left to `send_delete`.
                        if batch.len() >= 4 {
                            let (a, b) = batch.split_at(batch.len() / 2);
                            halves.extend([a, b]);
                        }
                    }
                }
            }
            batches = halves;
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
            Err(e) if is_run_level(&e) => {
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
