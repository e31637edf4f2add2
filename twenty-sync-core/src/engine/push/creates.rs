//! The batch creates of a chunk's new records ([`MatchStrategy::Lookup`]): one
//! `POST /rest/batch/{plural}` per `batch_size`, all at once. A rejected batch is sent again as
//! its halves (see `isolate`); a record they leave alone is created on its own, and one Twenty
//! refuses even then is looked up by its id before it fails (the batch may have written it).

use super::isolate::{self, Split, Write};
use super::*;

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Sends the [`Op::Create`]s of `ops` and records each outcome in `commit` (state, the
    /// resolved write-ahead intent, audit) and in the run (counts, failures).
    pub(super) async fn send_creates(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        ops: &[Op],
        commit: &mut StateCommit,
        written: &mut u64,
        failed: &mut u64,
    ) -> Result<(), SyncError> {
        let items: Vec<NewRecord<'_>> = ops
            .iter()
            .filter(|o| matches!(o, Op::Create { .. }))
            .filter_map(Op::new_record)
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let plural = m.twenty_object();
        let settled = isolate::send_isolating(
            m.name(),
            Write::Create,
            &items,
            self.config.batch_size,
            Split::WhileSparse,
            |batch| self.create_batch(plural, batch.iter().map(|it| it.2), false),
        )
        .await?;
        // Twenty's `updatedAt` of each record created, by id.
        let mut created_at: HashMap<&str, Option<DateTime<Utc>>> = HashMap::new();
        for (_, records) in &settled.accepted {
            for r in records {
                if let Some(id) = r.id() {
                    created_at.insert(id, r.updated_at());
                }
            }
        }
        let mut refused: HashSet<&str> = HashSet::new();
        for i in settled.alone {
            let (key, id, record, ..) = items[i];
            match self.create_one(m, id, record).await? {
                Ok(at) => {
                    created_at.insert(id, at);
                }
                Err(e) => {
                    refused.insert(id);
                    *failed += 1;
                    let why = format!("Twenty rejected the create: {e}");
                    fail_create(run, m, commit, key, id, why);
                }
            }
        }
        for (key, id, _, hash, local_hash, _) in items {
            let Some(at) = created_at.get(id) else {
                if refused.contains(id) {
                    // Refused, and not in Twenty either: nothing to resolve later.
                    commit.remove_pending.push(key.to_owned());
                } else {
                    // Missing from the answer to an accepted batch: whether Twenty has it is
                    // unknown, so the write-ahead intent stays (the next push resolves it by
                    // id) and the record fails in this run.
                    *failed += 1;
                    let why = "Twenty's answer to the batch create did not include this record";
                    fail_create(run, m, commit, key, id, why.to_owned());
                }
                continue;
            };
            commit.remove_pending.push(key.to_owned());
            *written += 1;
            let mut st = RecordState::new(key, id);
            st.twenty_hash = Some(hash.to_owned());
            local_hash.store_in(&mut st);
            st.twenty_updated_at = *at;
            commit.upsert_records.push(st);
        }
        Ok(())
    }

    /// Creates one record with the engine-chosen `id`: `Ok(Ok(updatedAt))` once it is in
    /// Twenty, `Ok(Err(_))` when Twenty refuses it and has no record with that id either, `Err`
    /// when the failure is not about the record ([`twenty_client::Error::is_record_level`]).
    async fn create_one(
        &self,
        m: &dyn EntityMapper,
        id: &str,
        record: &Value,
    ) -> Result<Result<Option<DateTime<Utc>>, twenty_client::Error>, SyncError> {
        let plural = m.twenty_object();
        let rec = Record::from(record.clone());
        let refused = match self
            .twenty(|c| {
                let rec = rec.clone();
                async move { c.records(plural).create(&rec).send().await }
            })
            .await
        {
            Ok(r) => return Ok(Ok(r.updated_at())),
            Err(e) if !e.is_record_level() => {
                return Err(SyncError::from_twenty("creating a record in Twenty", e));
            }
            Err(e) => e,
        };
        // It may exist after all (a rejected batch that wrote part of its records): look.
        let found = self
            .twenty(|c| async move { c.records(plural).get(id).send().await })
            .await;
        match found {
            Ok(r) => Ok(Ok(r.updated_at())),
            // Twenty could not say: the write-ahead intent must stay for the next push.
            Err(e) if !e.is_record_level() => Err(SyncError::from_twenty(
                "looking up a refused create in Twenty",
                e,
            )),
            Err(_) => Ok(Err(refused)),
        }
    }
}

/// A planned create that did not happen in this run (the record is not known to be in Twenty,
/// so the failure names no Twenty id).
fn fail_create(
    run: &mut Run,
    m: &dyn EntityMapper,
    commit: &mut StateCommit,
    key: &str,
    id: &str,
    why: String,
) {
    let create = AuditAction::Create;
    run.fail_planned(&mut commit.audit, m.name(), DIR, key, id, None, create, why);
}
