//! Applying the writes of one chunk: write-ahead of creates and upserts, batch upsert, batch
//! create, updates and adoptions, deletes, then one state commit with the cursor.

use super::*;

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Sends the writes of one chunk and commits their state and the push cursor (`None`: the
    /// retry pass, which does not move it); `processed` are the chunk's keys, for the retry set.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute_push(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        ops: Vec<Op>,
        mut commit: StateCommit,
        checkpoint: Option<crate::model::Checkpoint>,
        retry: &mut RetrySet,
        processed: &[String],
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let plural = m.twenty_object().to_owned();
        // 1. Write-ahead: record the intended creates before sending them.
        self.record_pending(run, entity, &ops).await?;
        self.failpoints
            .check(failpoints::PUSH_AFTER_PENDING_COMMIT)?;

        let mut written = 0u64;
        let mut failed = 0u64;
        // 2. Upserts first, in one batch ([`MatchStrategy::Upsert`]): a plain create in the same
        // chunk repeats an upserted record's natural key, and must meet that record (and be
        // refused by Twenty), not be matched by the upsert.
        self.send_upserts(run, m, &ops, &mut commit, &mut written, &mut failed)
            .await?;

        // 3. Creates, in batches (see `creates`).
        self.send_creates(run, m, &ops, &mut commit, &mut written, &mut failed)
            .await?;
        self.failpoints.check(failpoints::PUSH_AFTER_TWENTY_WRITE)?;

        // 4. Updates / adoptions (in batches where they can go in one, see `updates`), then
        // deletes.
        let batched = self.send_update_batches(m, &ops).await?;
        let deletes = self.send_delete_batches(m, &ops).await?;
        for op in ops {
            match op {
                Op::Create { .. } | Op::Upsert { .. } => {}
                Op::Update {
                    key,
                    id,
                    patch,
                    adopt,
                    hash,
                    local_hash,
                    updated_at,
                    rekeys: _,
                } => {
                    // `Some(Ok(at))`: written, Twenty's new `updatedAt`; `Some(Err(reason))`:
                    // not written (the state keeps its old hashes, so the retry set and the next
                    // push send it again); `None`: nothing to send (an adoption, unchanged).
                    let sent = if let Some(at) = batched.written.get(&id) {
                        Some(Ok(*at))
                    } else if batched.unanswered.contains(&id) {
                        Some(Err(
                            "Twenty's answer to the batch update did not include this record"
                                .to_owned(),
                        ))
                    } else if let Some(patch) = patch {
                        let res = self
                            .twenty(|c| {
                                let plural = plural.clone();
                                let id = id.clone();
                                let patch = patch.clone();
                                async move { c.records(&plural).update(&id, patch).send().await }
                            })
                            .await;
                        match res {
                            Ok(r) => Some(Ok(r.updated_at())),
                            Err(e) if !e.is_record_level() => {
                                return Err(SyncError::from_twenty(
                                    "updating a record in Twenty",
                                    e,
                                ));
                            }
                            Err(e) => Some(Err(format!("Twenty rejected the update: {e}"))),
                        }
                    } else {
                        None
                    };
                    let at = match sent {
                        Some(Ok(at)) => {
                            written += 1;
                            at
                        }
                        Some(Err(reason)) => {
                            failed += 1;
                            let action = match adopt {
                                true => AuditAction::Adopt,
                                false => AuditAction::Update,
                            };
                            run.fail_planned(
                                &mut commit.audit,
                                entity,
                                DIR,
                                &key,
                                &id,
                                Some(&id),
                                action,
                                reason,
                            );
                            continue;
                        }
                        None => updated_at,
                    };
                    let mut st = RecordState::new(key, id);
                    st.twenty_hash = Some(hash);
                    local_hash.store_in(&mut st);
                    st.twenty_updated_at = at;
                    commit.upsert_records.push(st);
                }
                Op::Delete { st } if deletes.deleted.contains(&st.twenty_id) => {
                    written += 1;
                    self.record_delete(run, entity, st, &mut commit);
                }
                Op::Delete { st } if deletes.gone.contains(&st.twenty_id) => {
                    self.record_delete(run, entity, st, &mut commit);
                }
                Op::Delete { st } => {
                    self.send_delete(
                        run,
                        entity,
                        &plural,
                        st,
                        &mut commit,
                        &mut written,
                        &mut failed,
                    )
                    .await?;
                }
            }
        }
        self.failpoints
            .check(failpoints::PUSH_BEFORE_STATE_COMMIT)?;
        // Failures go into the retry set before the cursor moves past them.
        let failed_keys = RetrySet::failed_in(&commit.audit, DIR);
        self.retry_before_commit(retry, &failed_keys).await?;
        if let Some(checkpoint) = checkpoint {
            commit.cursors.push((DIR, checkpoint));
        }
        commit.fence = self.fence_of(entity);
        self.state
            .commit(&commit)
            .await
            .map_err(|e| SyncError::from_store("committing push state", e))?;
        retry.absorb(processed.iter(), &failed_keys);
        if written > 0 {
            self.emit(ProgressEvent::Written {
                entity: entity.to_owned(),
                direction: DIR,
                count: written,
            });
        }
        if failed > 0 {
            self.emit(ProgressEvent::Failed {
                entity: entity.to_owned(),
                direction: DIR,
                count: failed,
            });
        }
        Ok(())
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// One `POST /rest/batch/{plural}` of `bodies` (`?upsert=true` with `upsert`), through the
    /// engine's Twenty call wrapper (throttling, key rotation). Shared by plain creates and
    /// upserts.
    pub(super) async fn create_batch<'a>(
        &self,
        plural: &str,
        bodies: impl Iterator<Item = &'a Value>,
        upsert: bool,
    ) -> Result<Vec<Record>, twenty_client::Error> {
        // One record per body, in order: the answer's records are matched to the bodies by
        // position. (Bodies are mapped Twenty records, always objects.)
        let records: Vec<Record> = bodies.map(|b| Record::from(b.clone())).collect();
        self.twenty(|c| {
            let records = records.clone();
            let plural = plural.to_owned();
            async move {
                c.records(&plural)
                    .create_many(records)
                    .upsert(upsert)
                    .send()
                    .await
            }
        })
        .await
    }
}
