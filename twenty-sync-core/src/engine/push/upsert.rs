//! The batch upsert of a chunk's unlinked records ([`MatchStrategy::Upsert`]): one request per
//! `batch_size`, all at once (a rejected batch sent again as its halves, see `isolate`; a record
//! they leave alone goes on its own), then each answer decides what happened: the engine-chosen
//! id back means Twenty created the record; another id means it matched an existing record by a
//! unique key, which is an adoption.

use super::decide::UPSERT_ADOPT_DETAIL;
use super::isolate::{self, Split, Write};
use super::*;

/// Pairs Twenty's answers with the items: by the engine-chosen id (a create), else by a natural
/// key value (a match), else in order among the rest.
fn align(
    m: &dyn EntityMapper,
    items: &[NewRecord<'_>],
    answers: Vec<Record>,
) -> Vec<Option<Record>> {
    let mut out: Vec<Option<Record>> = vec![None; items.len()];
    let by_id: HashMap<&str, usize> = items.iter().enumerate().map(|(i, it)| (it.1, i)).collect();
    let mut by_key: HashMap<(usize, String), Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        for kv in key_values(m, it.2) {
            by_key.entry(kv).or_default().push(i);
        }
    }
    let mut rest = Vec::new();
    for r in answers {
        let slot = r.id().and_then(|id| by_id.get(id).copied()).or_else(|| {
            key_values(m, &r.clone().into_value())
                .into_iter()
                .find_map(|kv| by_key.get(&kv)?.iter().copied().find(|&i| out[i].is_none()))
        });
        match slot.filter(|&i| out[i].is_none()) {
            Some(i) => out[i] = Some(r),
            None => rest.push(r),
        }
    }
    let mut rest = rest.into_iter();
    for slot in out.iter_mut().filter(|s| s.is_none()) {
        match rest.next() {
            Some(r) => *slot = Some(r),
            None => break,
        }
    }
    out
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Sends the [`Op::Upsert`]s of `ops` and records each outcome in `commit` (state, audit)
    /// and in the run (plan, counts, failures).
    pub(super) async fn send_upserts(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        ops: &[Op],
        commit: &mut StateCommit,
        written: &mut u64,
        failed: &mut u64,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let plural = m.twenty_object().to_owned();
        let items: Vec<NewRecord<'_>> = ops
            .iter()
            .filter(|o| matches!(o, Op::Upsert { .. }))
            .filter_map(Op::new_record)
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let settled = isolate::send_isolating(
            entity,
            Write::Upsert,
            &items,
            self.config.batch_size,
            Split::WhileSparse,
            |batch| self.create_batch(&plural, batch.iter().map(|it| it.2), true),
        )
        .await?;
        let mut answers: Vec<Option<Record>> = vec![None; items.len()];
        for (range, records) in settled.accepted {
            let aligned = align(m, &items[range.clone()], records);
            for (slot, answer) in answers[range].iter_mut().zip(aligned) {
                *slot = answer;
            }
        }
        // Items Twenty refused on their own (already failed, intent resolved).
        let mut rejected: HashSet<usize> = HashSet::new();
        for i in settled.alone {
            let it = &items[i];
            let rec = Record::from(it.2.clone());
            let one = self
                .twenty(|c| {
                    let plural = plural.clone();
                    let rec = rec.clone();
                    async move { c.records(&plural).create(&rec).upsert(true).send().await }
                })
                .await;
            match one {
                Ok(r) => answers[i] = Some(r),
                Err(e) if !e.is_record_level() => {
                    return Err(SyncError::from_twenty("upserting a record in Twenty", e));
                }
                Err(e) => {
                    *failed += 1;
                    commit.audit.push(run.fail(
                        entity,
                        DIR,
                        Some(it.0),
                        None,
                        None,
                        format!("Twenty rejected the upsert: {e}"),
                    ));
                    // Nothing was written: the intent is resolved.
                    commit.remove_pending.push(it.0.to_owned());
                    rejected.insert(i);
                }
            }
        }
        // Matched records linked to other local keys (see below).
        let matched: Vec<String> = items
            .iter()
            .zip(&answers)
            .filter_map(|(it, a)| a.as_ref()?.id().filter(|id| *id != it.1).map(str::to_owned))
            .collect();
        let mut linked: HashMap<String, Vec<RecordState>> = HashMap::new();
        if !matched.is_empty() {
            for s in self
                .state
                .records_by_twenty_id(entity, &matched)
                .await
                .map_err(|e| SyncError::from_store("reading record states", e))?
            {
                linked.entry(s.twenty_id.clone()).or_default().push(s);
            }
        }
        for (i, (it, answer)) in items.iter().zip(answers).enumerate() {
            let (key, our_id, _, hash, lh, fields) = *it;
            let Some(answer) = answer else {
                if !rejected.contains(&i) {
                    // Missing from Twenty's answer: the write-ahead intent stays (the next push
                    // resolves it by id) and the retry set sends the record again.
                    *failed += 1;
                    commit.audit.push(run.fail(
                        entity,
                        DIR,
                        Some(key),
                        None,
                        None,
                        "Twenty's answer to the batch upsert did not include this record".into(),
                    ));
                }
                continue;
            };
            let id = answer.id().unwrap_or(our_id).to_owned();
            let others: Vec<&RecordState> = linked
                .get(&id)
                .map(|v| v.iter().filter(|s| s.local_key != key).collect())
                .unwrap_or_default();
            commit.remove_pending.push(key.to_owned());
            if let Some(owner) = others.iter().find(|s| !s.deleted) {
                // Another local record with the same unique key is linked to it: Twenty's upsert
                // overwrote that record's Twenty values with ours. Put them back; this one fails.
                let owner = (*owner).clone();
                *failed += 1;
                let restored = self
                    .restore_overwritten(run, m, &owner, answer, key, commit)
                    .await?;
                commit.audit.push(run.fail(
                    entity,
                    DIR,
                    Some(key),
                    Some(&id),
                    None,
                    format!(
                        "its natural key matches Twenty record {id}, already linked to local key `{}`; Twenty keeps one record per unique key, so fix the duplicate locally ({restored})",
                        owner.local_key
                    ),
                ));
                continue;
            }
            // A link of a locally deleted record to it moves to this one.
            commit
                .remove_records
                .extend(others.iter().map(|s| s.local_key.clone()));
            *written += 1;
            // Twenty kept the id we sent (a create) or answered with the record it matched.
            let (action, detail) = if id == our_id {
                (PlannedAction::Create, None)
            } else {
                (PlannedAction::Adopt, Some(UPSERT_ADOPT_DETAIL.into()))
            };
            commit.audit.push(run.decide(Decision {
                entity,
                direction: DIR,
                action,
                local_key: key,
                twenty_id: &id,
                fields: fields.to_vec(),
                before_hash: None,
                after_hash: Some(hash.to_owned()),
                detail,
            }));
            let mut st = RecordState::new(key, id);
            st.twenty_hash = Some(hash.to_owned());
            lh.store_in(&mut st);
            st.twenty_updated_at = answer.updated_at();
            commit.upsert_records.push(st);
        }
        Ok(())
    }

    /// Writes the local values of `owner` back over Twenty's record after an upsert of the
    /// local record `by` overwrote them; says what happened, for the failure of `by`.
    async fn restore_overwritten(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        owner: &RecordState,
        answer: Record,
        by: &str,
        commit: &mut StateCommit,
    ) -> Result<String, SyncError> {
        let entity = m.name();
        let local = self
            .source
            .get(entity, std::slice::from_ref(&owner.local_key))
            .await
            .map_err(|e| SyncError::from_store("re-reading a local record to restore", e))?;
        let Some(local) = local.into_iter().next() else {
            return Ok(format!(
                "local key `{}` is gone locally, so its values could not be put back",
                owner.local_key
            ));
        };
        let mapped = m.to_twenty(&local.data);
        if !mapped.errors.is_empty() {
            return Ok(format!(
                "local key `{}` no longer maps, so its values could not be put back",
                owner.local_key
            ));
        }
        let pv = push_view(m, &mapped.value);
        let now = answer.into_value();
        let changed = field_diff(&push_view(m, &now), &pv);
        if changed.is_empty() {
            return Ok("the values were the same".into());
        }
        let patch = patch_of(&pv, Some(&now), &changed);
        let res = self
            .twenty(|c| {
                let plural = m.twenty_object().to_owned();
                let id = owner.twenty_id.clone();
                let patch = patch.clone();
                async move { c.records(&plural).update(&id, patch).send().await }
            })
            .await;
        match res {
            Ok(r) => {
                let mut st = owner.clone();
                st.twenty_hash = Some(content_hash(&pv));
                st.twenty_updated_at = r.updated_at();
                // Twenty holds the owner's local record as it is now: both sides agree on it.
                LocalHashes::of(m, keeps_agreed(run.mode, Some(owner)), &local.data)
                    .store_in(&mut st);
                commit.upsert_records.push(st);
                commit.audit.push(run.audit(
                    entity,
                    DIR,
                    AuditAction::Update,
                    Some(&owner.local_key),
                    Some(&owner.twenty_id),
                    changed,
                    None,
                    Some(content_hash(&pv)),
                    AuditOutcome::Applied,
                    Some(format!(
                        "values put back after the batch upsert of local key `{by}` overwrote them"
                    )),
                ));
                Ok(format!(
                    "the values of local key `{}` were put back",
                    owner.local_key
                ))
            }
            Err(e) if !e.is_record_level() => Err(SyncError::from_twenty(
                "restoring a record an upsert overwrote",
                e,
            )),
            Err(e) => Ok(format!(
                "putting the values of local key `{}` back failed: {e}",
                owner.local_key
            )),
        }
    }
}
