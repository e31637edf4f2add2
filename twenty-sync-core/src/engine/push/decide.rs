//! Deciding what to do with each changed local record: settle a conflict, update, adopt a
//! natural-key match, or create. Records the plan, report counts and audit entries.

use super::*;

/// The audit detail of an adoption by upsert.
pub(super) const UPSERT_ADOPT_DETAIL: &str =
    "matched by natural key (batch upsert: every pushed field written, prior values not read)";

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Turns `upserts` into [`Op`]s, given the current versions of linked records and the
    /// natural-key candidates.
    ///
    /// `via_upsert` ([`MatchStrategy::Upsert`]): in a real run an unlinked record becomes an
    /// [`Op::Upsert`] (decided by Twenty's answer), except one whose natural key repeats an
    /// earlier record's of the chunk, which is a plain create (Twenty refuses a second record
    /// with the same unique key, as in the lookup path; an upsert would overwrite the first). In
    /// a dry run, a predicted adoption lists every pushed field, as the upsert writes them all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decide_upserts(
        &self,
        run: &mut Run,
        m: &dyn EntityMapper,
        upserts: Vec<Upsert>,
        current: &HashMap<String, Record>,
        index: &[HashMap<String, Record>],
        via_upsert: bool,
        commit: &mut StateCommit,
        ops: &mut Vec<Op>,
    ) {
        let entity = m.name();
        let ckey = Run::counts_key(entity, DIR);
        let mut used: HashSet<String> = HashSet::new();
        // Natural-key values (match key index, lower-cased) sent in this chunk's upsert.
        let mut upsert_keys: HashSet<(usize, String)> = HashSet::new();
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
                    // Changed on both sides since the last sync: merge it field by field. The
                    // local winners are pushed now; Twenty's winners come back with the pull.
                    let r = merge(
                        m,
                        agreed_in(m, &s).as_ref(),
                        &data,
                        &m.to_local(&cur_v).value,
                        local_at,
                        clock::on_this_hosts_clock(
                            cur.updated_at(),
                            self.client.server_clock().as_ref(),
                        ),
                    );
                    pv = push_view(m, &m.to_twenty(&r.merged).value);
                    h = content_hash(&pv);
                    // A clean merge (no field changed on both sides) is no conflict: the
                    // update below writes the local side's changes.
                    if r.is_conflict() {
                        commit.audit.push(run.decide(Decision {
                            entity,
                            direction: DIR,
                            action: PlannedAction::Conflict,
                            local_key: &key,
                            twenty_id: &s.twenty_id,
                            fields: r.field_names(),
                            before_hash: s.twenty_hash.clone(),
                            after_hash: Some(h.clone()),
                            detail: Some(r.describe()),
                        }));
                    }
                }
                let changed = field_diff(&push_view(m, &cur_v), &pv);
                if changed.is_empty() {
                    run.report.counts_mut(&ckey).unchanged += 1;
                    let mut ns = s.clone();
                    ns.twenty_hash = Some(h);
                    lh.store_in(&mut ns);
                    ns.twenty_updated_at = cur.updated_at();
                    commit.upsert_records.push(ns);
                    continue;
                }
                let values = self
                    .config
                    .audit_values
                    .detail(&changed, &push_view(m, &cur_v), &pv);
                commit.audit.push(run.decide(Decision {
                    entity,
                    direction: DIR,
                    action: PlannedAction::Update,
                    local_key: &key,
                    twenty_id: &s.twenty_id,
                    fields: changed.clone(),
                    before_hash: s.twenty_hash.clone(),
                    after_hash: Some(h.clone()),
                    detail: values,
                }));
                ops.push(Op::Update {
                    rekeys: updates::rekeys(m, &changed, &cur_v, &pv),
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
            if via_upsert && !run.dry_run {
                let values = key_values(m, &pv);
                if !values.iter().any(|v| upsert_keys.contains(v)) {
                    upsert_keys.extend(values);
                    let id = uuid::Uuid::new_v4().to_string();
                    let fields = field_diff(&Value::Object(Default::default()), &pv);
                    let mut record = pv;
                    if let Value::Object(map) = &mut record {
                        map.insert("id".into(), Value::String(id.clone()));
                    }
                    ops.push(Op::Upsert {
                        key,
                        id,
                        record,
                        hash: h,
                        local_hash: lh,
                        fields,
                    });
                    continue;
                }
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
                let cur_v = rec.clone().into_value();
                if via_upsert {
                    // A dry run predicting the upsert (a real one never gets here).
                    let fields = field_diff(&Value::Object(Default::default()), &pv);
                    commit.audit.push(run.decide(Decision {
                        entity,
                        direction: DIR,
                        action: PlannedAction::Adopt,
                        local_key: &key,
                        twenty_id: &id,
                        fields,
                        before_hash: None,
                        after_hash: Some(h.clone()),
                        detail: Some(UPSERT_ADOPT_DETAIL.into()),
                    }));
                    // The upsert writes the whole push view over the matched record.
                    note_dry_written(run, Some(cur_v), &pv, &key, &id, &h, &lh);
                    continue;
                }
                let changed = field_diff(&push_view(m, &cur_v), &pv);
                let values = self
                    .config
                    .audit_values
                    .detail(&changed, &push_view(m, &cur_v), &pv);
                commit.audit.push(run.decide(Decision {
                    entity,
                    direction: DIR,
                    action: PlannedAction::Adopt,
                    local_key: &key,
                    twenty_id: &id,
                    fields: changed.clone(),
                    before_hash: Some(twenty_hash(m, &cur_v)),
                    after_hash: Some(h.clone()),
                    detail: with_values(Some("matched by natural key".into()), values),
                }));
                ops.push(Op::Update {
                    // Matched by its natural key, so it keeps the value; adoptions (a first sync)
                    // are few, and stay out of batches all the same.
                    rekeys: true,
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
            let values =
                self.config
                    .audit_values
                    .detail(&changed, &Value::Object(Default::default()), &pv);
            // The id is random: `decide` leaves it out of the plan, so dry and real plans agree.
            commit.audit.push(run.decide(Decision {
                entity,
                direction: DIR,
                action: PlannedAction::Create,
                local_key: &key,
                twenty_id: &id,
                fields: changed,
                before_hash: None,
                after_hash: Some(h.clone()),
                detail: values,
            }));
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
    }
}
