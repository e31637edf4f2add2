//! Push: local → Twenty.
//!
//! Local changes since the push checkpoint are read in bounded chunks. Each chunk is mapped,
//! skipped when its hash equals what Twenty last had from us, matched (ID map, then natural keys
//! with one list request per chunk), and written: creates carry an engine-chosen UUID recorded
//! as a [`PendingCreate`] *before* they are sent, so a crash between "Twenty created it" and "we
//! recorded it" is resolved at the next start by a GET by id (adopt) instead of a second create.

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

use super::config::PushDeleteMode;
use super::conflict::resolve;
use super::error::SyncError;
use super::failpoints;
use super::mapper::{content_hash, get_path, EntityMapper};
use super::plan::{field_diff, PlannedAction};
use super::progress::ProgressEvent;
use super::run::Run;
use super::views::{local_hash, patch_of, push_view, twenty_hash};
use super::SyncEngine;

const DIR: SyncDirection = SyncDirection::Push;

/// (key, push view, push hash, local hash, live state, local data, local updated_at)
type Upsert = (
    String,
    Value,
    String,
    String,
    Option<RecordState>,
    Value,
    Option<DateTime<Utc>>,
);

/// What a push decided for one local record.
enum Op {
    Create {
        key: String,
        id: String,
        record: Value,
        hash: String,
        local_hash: String,
    },
    /// Update of a linked record, or adoption of a matched one (with an optional patch).
    Update {
        key: String,
        id: String,
        patch: Option<Value>,
        adopt: bool,
        hash: String,
        local_hash: String,
        updated_at: Option<DateTime<Utc>>,
    },
    Delete {
        st: RecordState,
    },
}

fn is_run_level(e: &twenty_client::Error) -> bool {
    e.is_temporary()
        || matches!(
            e.kind(),
            ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::Transport
                | ErrorKind::Config
        )
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    pub(crate) async fn push_entity(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        run.report.counts_mut(&Run::counts_key(entity, DIR));
        if !run.dry_run {
            self.resolve_pending(run, m).await?;
        }
        let cursor = self
            .state
            .cursor(entity, DIR)
            .await
            .map_err(|e| SyncError::from_store("reading the push cursor", e))?;
        let mut feed = self
            .source
            .changes_since(entity, cursor.as_ref())
            .await
            .map_err(|e| SyncError::from_store("reading local changes", e))?;
        let bs = self.config.batch_size;
        loop {
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
            self.push_batch(run, m, chunk).await?;
            if done {
                break;
            }
        }
        Ok(())
    }

    /// Resolves write-ahead creates left by an interrupted push: adopt what Twenty has, forget
    /// the rest (the change feed, whose cursor did not move, creates them again).
    async fn resolve_pending(&self, run: &mut Run, m: &dyn EntityMapper) -> Result<(), SyncError> {
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
                        ))
                    }
                }
                commit.remove_pending.push(p.local_key.clone());
            }
            self.state
                .commit(&commit)
                .await
                .map_err(|e| SyncError::from_store("committing resolved pending creates", e))?;
        }
        Ok(())
    }

    async fn list_where(
        &self,
        m: &dyn EntityMapper,
        filter: Filter,
    ) -> Result<Vec<Record>, SyncError> {
        let limit = u32::try_from(self.config.batch_size).unwrap_or(100);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .twenty(|c| {
                    let plural = m.twenty_object().to_owned();
                    let filter = filter.clone();
                    let after = after.clone();
                    async move {
                        let mut req = c
                            .records(&plural)
                            .list()
                            .filter(filter)
                            .limit(limit)
                            .depth(0);
                        if let Some(a) = after {
                            req = req.starting_after(a);
                        }
                        req.send().await
                    }
                })
                .await
                .map_err(|e| {
                    SyncError::from_twenty(
                        &format!("looking up `{}` in Twenty", m.twenty_object()),
                        e,
                    )
                })?;
            let next = page.page_info.end_cursor.clone().filter(|c| {
                page.page_info.has_next_page
                    && !page.records.is_empty()
                    && after.as_deref() != Some(c)
            });
            out.extend(page.records);
            match next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn push_batch(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        chunk: Vec<LocalChange>,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let ckey = Run::counts_key(entity, DIR);
        let Some(checkpoint) = chunk.last().map(|c| c.checkpoint.clone()) else {
            return Ok(());
        };
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
                LocalChangeKind::Upsert { data } => {
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
                    let lh = local_hash(m, &data);
                    upserts.push((key.clone(), pv, h, lh, live, data, change.updated_at));
                }
            }
        }

        // Current Twenty versions of linked records (one request), for field diffs.
        let linked: Vec<String> = upserts
            .iter()
            .filter_map(|u| u.4.as_ref().map(|s| s.twenty_id.clone()))
            .collect();
        let current: HashMap<String, Record> = if linked.is_empty() {
            HashMap::new()
        } else {
            self.list_where(m, Filter::field("id").in_(linked))
                .await?
                .into_iter()
                .filter_map(|r| r.id().map(str::to_owned).map(|id| (id, r)))
                .collect()
        };

        // Natural-key candidates (one request for the whole chunk).
        let mut index: Vec<HashMap<String, Record>> = vec![HashMap::new(); m.match_keys().len()];
        let unlinked: Vec<&Value> = upserts
            .iter()
            .filter(|u| u.4.is_none())
            .map(|u| &u.1)
            .collect();
        if !unlinked.is_empty() && !m.match_keys().is_empty() {
            let mut filters = Vec::new();
            for k in m.match_keys() {
                let vals: Vec<String> = unlinked
                    .iter()
                    .filter_map(|v| get_path(v, k).and_then(Value::as_str).map(str::to_owned))
                    .filter(|s| !s.is_empty())
                    .collect();
                // Twenty compares `in` case-sensitively: ask for the value as given and lower-cased.
                let mut vals: Vec<String> = vals
                    .into_iter()
                    .flat_map(|v| [v.to_lowercase(), v])
                    .collect();
                vals.sort();
                vals.dedup();
                if !vals.is_empty() {
                    filters.push(Filter::field(k.as_str()).in_(vals));
                }
            }
            if !filters.is_empty() {
                let filter = if filters.len() == 1 {
                    filters.remove(0)
                } else {
                    Filter::or(filters)
                };
                let found = self.list_where(m, filter).await?;
                let ids: Vec<String> = found
                    .iter()
                    .filter_map(|r| r.id().map(str::to_owned))
                    .collect();
                let taken: HashSet<String> = self
                    .state
                    .records_by_twenty_id(entity, &ids)
                    .await
                    .map_err(|e| SyncError::from_store("reading record states", e))?
                    .into_iter()
                    .map(|s| s.twenty_id)
                    .collect();
                for rec in found {
                    if rec.id().is_none_or(|id| taken.contains(id)) {
                        continue;
                    }
                    for (i, k) in m.match_keys().iter().enumerate() {
                        if let Some(v) = rec.get(k).and_then(Value::as_str) {
                            index[i]
                                .entry(v.to_lowercase())
                                .or_insert_with(|| rec.clone());
                        }
                    }
                }
            }
        }

        let mut used: HashSet<String> = HashSet::new();
        for (key, mut pv, mut h, lh, live, data, local_at) in upserts {
            if let Some(s) = live {
                let Some(cur) = current.get(&s.twenty_id) else {
                    let reason = format!(
                        "record {} no longer exists in Twenty (deleted there); pull to propagate the delete or restore it in Twenty",
                        s.twenty_id
                    );
                    commit.audit.push(run.fail(
                        entity,
                        DIR,
                        Some(&key),
                        Some(&s.twenty_id),
                        None,
                        reason,
                    ));
                    continue;
                };
                let cur_v = cur.clone().into_value();
                let twenty_changed = cur.updated_at() > s.twenty_updated_at
                    && s.twenty_hash.as_deref() != Some(twenty_hash(m, &cur_v).as_str());
                if run.mode == RunMode::Sync && twenty_changed {
                    // Changed on both sides since the last sync: settle it field by field. The
                    // local winners are pushed now; Twenty's winners come back with the pull.
                    let r = resolve(
                        m,
                        &data,
                        &m.to_local(&cur_v).value,
                        local_at,
                        cur.updated_at(),
                    );
                    pv = push_view(m, &m.to_twenty(&r.merged).value);
                    h = content_hash(&pv);
                    let fields = r.field_names();
                    let detail = r.describe();
                    run.report.counts_mut(&ckey).conflicted += 1;
                    run.plan(
                        entity,
                        DIR,
                        PlannedAction::Conflict,
                        &key,
                        Some(&s.twenty_id),
                        fields.clone(),
                    );
                    commit.audit.push(run.audit(
                        entity,
                        DIR,
                        AuditAction::Conflict,
                        Some(&key),
                        Some(&s.twenty_id),
                        fields,
                        s.twenty_hash.clone(),
                        Some(h.clone()),
                        AuditOutcome::Applied,
                        Some(detail),
                    ));
                }
                let changed = field_diff(&push_view(m, &cur_v), &pv);
                if changed.is_empty() {
                    run.report.counts_mut(&ckey).unchanged += 1;
                    let mut ns = s.clone();
                    ns.twenty_hash = Some(h);
                    ns.local_hash = Some(lh);
                    ns.twenty_updated_at = cur.updated_at();
                    commit.upsert_records.push(ns);
                    continue;
                }
                run.plan(
                    entity,
                    DIR,
                    PlannedAction::Update,
                    &key,
                    Some(&s.twenty_id),
                    changed.clone(),
                );
                run.report.counts_mut(&ckey).updated += 1;
                commit.audit.push(run.audit(
                    entity,
                    DIR,
                    AuditAction::Update,
                    Some(&key),
                    Some(&s.twenty_id),
                    changed.clone(),
                    s.twenty_hash.clone(),
                    Some(h.clone()),
                    AuditOutcome::Applied,
                    None,
                ));
                run.pushed_ids.insert(s.twenty_id.clone());
                ops.push(Op::Update {
                    patch: Some(patch_of(&pv, Some(&cur_v), &changed)),
                    key,
                    id: s.twenty_id,
                    adopt: false,
                    hash: h,
                    local_hash: lh,
                    updated_at: cur.updated_at(),
                });
                continue;
            }
            let matched = m.match_keys().iter().enumerate().find_map(|(i, k)| {
                let v = get_path(&pv, k)?.as_str()?.to_lowercase();
                let rec = index[i].get(&v)?;
                let id = rec.id()?;
                (!used.contains(id)).then(|| rec.clone())
            });
            if let Some(rec) = matched {
                let id = rec.id().unwrap_or_default().to_owned();
                used.insert(id.clone());
                run.pushed_ids.insert(id.clone());
                let cur_v = rec.clone().into_value();
                let changed = field_diff(&push_view(m, &cur_v), &pv);
                run.plan(
                    entity,
                    DIR,
                    PlannedAction::Adopt,
                    &key,
                    Some(&id),
                    changed.clone(),
                );
                run.report.counts_mut(&ckey).adopted += 1;
                commit.audit.push(run.audit(
                    entity,
                    DIR,
                    AuditAction::Adopt,
                    Some(&key),
                    Some(&id),
                    changed.clone(),
                    Some(twenty_hash(m, &cur_v)),
                    Some(h.clone()),
                    AuditOutcome::Applied,
                    Some("matched by natural key".into()),
                ));
                ops.push(Op::Update {
                    patch: (!changed.is_empty()).then(|| patch_of(&pv, Some(&cur_v), &changed)),
                    key,
                    id,
                    adopt: true,
                    hash: h,
                    local_hash: lh,
                    updated_at: rec.updated_at(),
                });
                continue;
            }
            let id = uuid::Uuid::new_v4().to_string();
            let changed = field_diff(&Value::Object(Default::default()), &pv);
            // The id is random, so a dry run and a real run differ in it: the plan leaves it out.
            run.plan(
                entity,
                DIR,
                PlannedAction::Create,
                &key,
                None,
                changed.clone(),
            );
            run.report.counts_mut(&ckey).created += 1;
            commit.audit.push(run.audit(
                entity,
                DIR,
                AuditAction::Create,
                Some(&key),
                Some(&id),
                changed,
                None,
                Some(h.clone()),
                AuditOutcome::Applied,
                None,
            ));
            let mut record = pv;
            if let Value::Object(map) = &mut record {
                map.insert("id".into(), Value::String(id.clone()));
            }
            ops.push(Op::Create {
                key,
                id,
                record,
                hash: h,
                local_hash: lh,
            });
        }
        for op in &ops {
            if let Op::Delete { st } = op {
                run.plan(
                    entity,
                    DIR,
                    PlannedAction::Delete,
                    &st.local_key,
                    Some(&st.twenty_id),
                    vec![],
                );
                run.report.counts_mut(&ckey).deleted += 1;
            }
        }

        if run.dry_run {
            return Ok(());
        }
        self.execute_push(run, m, ops, commit, checkpoint).await
    }

    async fn execute_push(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        ops: Vec<Op>,
        mut commit: StateCommit,
        checkpoint: crate::model::Checkpoint,
    ) -> Result<(), SyncError> {
        let entity = m.name();
        let plural = m.twenty_object().to_owned();
        // 1. Write-ahead: record the intended creates before sending them.
        let pending: Vec<PendingCreate> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Create { key, id, .. } => Some(PendingCreate {
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
            self.state
                .commit(&wal)
                .await
                .map_err(|e| SyncError::from_store("recording write-ahead creates", e))?;
        }
        self.failpoints
            .check(failpoints::PUSH_AFTER_PENDING_COMMIT)?;

        // 2. Creates, in one batch (falls back to one by one to isolate a bad record).
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
        let mut written = 0u64;
        let mut failed = 0u64;
        if !creates.is_empty() {
            let records: Vec<Record> = creates
                .iter()
                .filter_map(|c| serde_json::from_value(c.2.clone()).ok())
                .collect();
            let batch = self
                .twenty(|c| {
                    let records = records.clone();
                    let plural = plural.clone();
                    async move {
                        c.records(&plural)
                            .create_many(records)
                            .upsert(false)
                            .send()
                            .await
                    }
                })
                .await;
            let mut created_at: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
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
                        &format!("creating {} record(s) in Twenty", creates.len()),
                        e,
                    ))
                }
                Err(e) => {
                    tracing::warn!(entity, error = %e, "batch create rejected; retrying one by one to isolate the bad records");
                    for (key, id, record, _, _) in &creates {
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
                                ))
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

        // 3. Updates / adoptions, then deletes.
        for op in ops {
            match op {
                Op::Create { .. } => {}
                Op::Update {
                    key,
                    id,
                    patch,
                    adopt,
                    hash,
                    local_hash,
                    updated_at,
                } => {
                    let mut at = updated_at;
                    if let Some(patch) = patch {
                        let res = self
                            .twenty(|c| {
                                let plural = plural.clone();
                                let id = id.clone();
                                let patch = patch.clone();
                                async move { c.records(&plural).update(&id, patch).send().await }
                            })
                            .await;
                        match res {
                            Ok(r) => {
                                at = r.updated_at();
                                written += 1;
                            }
                            Err(e) if is_run_level(&e) => {
                                return Err(SyncError::from_twenty(
                                    "updating a record in Twenty",
                                    e,
                                ))
                            }
                            Err(e) => {
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
                                    format!("Twenty rejected the update: {e}"),
                                ));
                                continue;
                            }
                        }
                    }
                    let mut st = RecordState::new(key, id);
                    st.twenty_hash = Some(hash);
                    st.local_hash = Some(local_hash);
                    st.twenty_updated_at = at;
                    commit.upsert_records.push(st);
                }
                Op::Delete { st } => {
                    let destroy = self.config.push_delete == PushDeleteMode::Destroy;
                    let res = self
                        .twenty(|c| {
                            let plural = plural.clone();
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
                        Ok(_) => written += 1,
                        Err(e) if matches!(e.kind(), ErrorKind::NotFound) => {}
                        Err(e) if is_run_level(&e) => {
                            return Err(SyncError::from_twenty("deleting a record in Twenty", e))
                        }
                        Err(e) => {
                            failed += 1;
                            run.report.counts_mut(&Run::counts_key(entity, DIR)).deleted -= 1;
                            commit.audit.push(run.fail(
                                entity,
                                DIR,
                                Some(&st.local_key),
                                Some(&st.twenty_id),
                                None,
                                format!("Twenty rejected the delete: {e}"),
                            ));
                            continue;
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
                }
            }
        }
        self.failpoints
            .check(failpoints::PUSH_BEFORE_STATE_COMMIT)?;
        commit.cursors.push((DIR, checkpoint));
        self.state
            .commit(&commit)
            .await
            .map_err(|e| SyncError::from_store("committing push state", e))?;
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
