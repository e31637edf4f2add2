//! Local deletes: planned with the rest of a chunk, sent after creates and updates as a soft
//! delete or a destroy ([`PushDeleteMode`]).

use super::*;

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
        Ok(())
    }
}
