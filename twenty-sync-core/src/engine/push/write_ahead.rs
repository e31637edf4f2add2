//! Write-ahead of creates: intents are recorded before a create is sent, and resolved (adopted
//! or forgotten) at the start of the next push after a crash.

use super::*;

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Records the intended creates and upserts of `ops` (engine-chosen ids) before anything is
    /// sent.
    pub(super) async fn record_pending(
        &self,
        run: &Run,
        entity: &str,
        ops: &[Op],
    ) -> Result<(), SyncError> {
        let pending: Vec<PendingCreate> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Create { key, id, .. } | Op::Upsert { key, id, .. } => Some(PendingCreate {
                    local_key: key.clone(),
                    twenty_id: id.clone(),
                    run_id: run.id.clone(),
                    created_at: Utc::now(),
                }),
                _ => None,
            })
            .collect();
        if !pending.is_empty() {
            let mut wal = StateCommit::new(entity);
            wal.add_pending = pending;
            wal.fence = self.fence_of(entity);
            self.state
                .commit(&wal)
                .await
                .map_err(|e| SyncError::from_store("recording write-ahead creates", e))?;
        }
        Ok(())
    }

    /// Resolves write-ahead creates left by an interrupted push: adopt what Twenty has, forget
    /// the rest (the change feed, whose cursor did not move, creates them again).
    pub(super) async fn resolve_pending(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let pending = self
            .state
            .pending_creates(entity)
            .await
            .map_err(|e| SyncError::from_store("reading pending creates", e))?;
        if pending.is_empty() {
            return Ok(());
        }
        tracing::info!(
            entity,
            count = pending.len(),
            "resolving write-ahead creates of an interrupted push"
        );
        for chunk in pending.chunks(self.config.batch_size) {
            let keys: Vec<String> = chunk.iter().map(|p| p.local_key.clone()).collect();
            let locals: HashMap<String, Value> = self
                .source
                .get(entity, &keys)
                .await
                .map_err(|e| SyncError::from_store("reading local records", e))?
                .into_iter()
                .map(|r| (r.key, r.data))
                .collect();
            let mut commit = StateCommit::new(entity);
            for p in chunk {
                let got = self
                    .twenty(|c| {
                        let plural = m.twenty_object().to_owned();
                        let id = p.twenty_id.clone();
                        async move { c.records(&plural).get(&id).send().await }
                    })
                    .await;
                match got {
                    Ok(rec) => {
                        let at = rec.updated_at();
                        let tw = rec.into_value();
                        let mut st = RecordState::new(&p.local_key, &p.twenty_id);
                        st.twenty_hash = Some(twenty_hash(m, &tw));
                        st.local_hash = locals.get(&p.local_key).map(|d| local_hash(m, d));
                        st.twenty_updated_at = at;
                        commit.audit.push(
                            run.audit(
                                entity,
                                DIR,
                                AuditAction::Adopt,
                                Some(&p.local_key),
                                Some(&p.twenty_id),
                                vec![],
                                None,
                                st.twenty_hash.clone(),
                                AuditOutcome::Applied,
                                Some(
                                    "write-ahead create found in Twenty after an interrupted run"
                                        .into(),
                                ),
                            ),
                        );
                        commit.upsert_records.push(st);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::NotFound) => {}
                    Err(e) => {
                        return Err(SyncError::from_twenty(
                            "checking a pending create in Twenty",
                            e,
                        ));
                    }
                }
                commit.remove_pending.push(p.local_key.clone());
            }
            commit.fence = self.fence_of(entity);
            self.state
                .commit(&commit)
                .await
                .map_err(|e| SyncError::from_store("committing resolved pending creates", e))?;
        }
        Ok(())
    }
}
