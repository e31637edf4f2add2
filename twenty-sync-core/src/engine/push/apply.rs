//! Applying the writes of one chunk: write-ahead of creates and upserts, batch create (one by one
//! on a rejected batch), batch upsert, updates and adoptions, deletes, then one state commit with
//! the cursor.

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

        // 3. Creates, in batches (a rejected batch falls back to one by one to isolate a bad
        // record).
        let creates: Vec<(String, String, Value, String, String)> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Create {
                    key,
                    id,
                    record,
                    hash,
                    local_hash,
                } => Some((
                    key.clone(),
                    id.clone(),
                    record.clone(),
                    hash.clone(),
                    local_hash.clone(),
                )),
                _ => None,
            })
            .collect();
        if !creates.is_empty() {
            // One request per `batch_size` creates, all of the chunk's at once.
            let groups: Vec<&[_]> = creates.chunks(self.config.batch_size.max(1)).collect();
            let sent = futures::future::join_all(
                groups
                    .iter()
                    .map(|g| self.create_batch(&plural, g.iter().map(|c| &c.2), false)),
            )
            .await;
            let mut created_at: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
            for (group, batch) in groups.iter().zip(sent) {
                match batch {
                    Ok(recs) => {
                        for r in recs {
                            if let Some(id) = r.id() {
                                created_at.insert(id.to_owned(), r.updated_at());
                            }
                        }
                    }
                    Err(e) if is_run_level(&e) => {
                        return Err(SyncError::from_twenty(
                            &format!("creating {} record(s) in Twenty", group.len()),
                            e,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(entity, error = %e, "batch create rejected; retrying one by one to isolate the bad records");
                        for (key, id, record, _, _) in group.iter() {
                            let rec: Record =
                                serde_json::from_value(record.clone()).unwrap_or_default();
                            let one = self
                                .twenty(|c| {
                                    let plural = plural.clone();
                                    let rec = rec.clone();
                                    async move { c.records(&plural).create(&rec).send().await }
                                })
                                .await;
                            match one {
                                Ok(r) => {
                                    created_at.insert(id.clone(), r.updated_at());
                                }
                                Err(e) if is_run_level(&e) => {
                                    return Err(SyncError::from_twenty(
                                        "creating a record in Twenty",
                                        e,
                                    ));
                                }
                                Err(e) => {
                                    // It may exist after all (e.g. the batch half-succeeded): look.
                                    let probe = self
                                        .twenty(|c| {
                                            let plural = plural.clone();
                                            let id = id.clone();
                                            async move { c.records(&plural).get(&id).send().await }
                                        })
                                        .await;
                                    match probe {
                                        Ok(r) => {
                                            created_at.insert(id.clone(), r.updated_at());
                                        }
                                        Err(_) => {
                                            failed += 1;
                                            // The create entry was written when the create was
                                            // planned; it did not happen, so only the failure stays.
                                            commit.audit.retain(|a| {
                                                !(a.action == AuditAction::Create
                                                    && a.twenty_id.as_deref() == Some(id.as_str()))
                                            });
                                            commit.audit.push(run.fail(
                                                entity,
                                                DIR,
                                                Some(key),
                                                None,
                                                None,
                                                format!("Twenty rejected the create: {e}"),
                                            ));
                                            run.report
                                                .counts_mut(&Run::counts_key(entity, DIR))
                                                .created -= 1;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (key, id, _, hash, lh) in creates {
                commit.remove_pending.push(key.clone());
                if let Some(at) = created_at.get(&id) {
                    written += 1;
                    let mut st = RecordState::new(key, id);
                    st.twenty_hash = Some(hash);
                    st.local_hash = Some(lh);
                    st.twenty_updated_at = *at;
                    commit.upsert_records.push(st);
                }
            }
        }
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
                            Err(e) if is_run_level(&e) => {
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
                            let c = run.report.counts_mut(&Run::counts_key(entity, DIR));
                            if adopt {
                                c.adopted -= 1
                            } else {
                                c.updated -= 1
                            }
                            commit.audit.push(run.fail(
                                entity,
                                DIR,
                                Some(&key),
                                Some(&id),
                                None,
                                reason,
                            ));
                            continue;
                        }
                        None => updated_at,
                    };
                    let mut st = RecordState::new(key, id);
                    st.twenty_hash = Some(hash);
                    st.local_hash = Some(local_hash);
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
