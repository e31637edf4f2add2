//! Matching local records to Twenty: the current versions of linked records (for field diffs)
//! and natural-key candidates for unlinked ones, one list request each per chunk.

use super::*;

/// The lookup of `records`' natural-key values, or-ed; `None` without any. Per match key:
/// `key in [...]` (each value as given and lower-cased, as Twenty compares `in`
/// case-sensitively), and `key ilike` [`Filter::like_pattern`] for each value Twenty's filter
/// syntax cannot carry (a company name with a lone apostrophe: the syntax has no escape). Such a
/// pattern may find records with other values too; the index keeps each record under its own.
fn key_filter(m: &dyn EntityMapper, records: &[&Value]) -> Option<Filter> {
    let mut filters = Vec::new();
    for k in m.match_keys() {
        let mut vals: Vec<String> = records
            .iter()
            .filter_map(|v| get_path(v, k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .flat_map(|v| [v.to_lowercase(), v.to_owned()])
            .collect();
        vals.sort();
        vals.dedup();
        let (sendable, unsendable): (Vec<String>, Vec<String>) = vals
            .into_iter()
            .partition(|v| Filter::field(k.as_str()).eq(v.as_str()).validate().is_ok());
        if !sendable.is_empty() {
            filters.push(Filter::field(k.as_str()).in_(sendable));
        }
        let mut patterns: Vec<String> = unsendable
            .iter()
            .map(|v| Filter::like_pattern(&v.to_lowercase()))
            .collect();
        patterns.sort();
        patterns.dedup();
        filters.extend(
            patterns
                .into_iter()
                .map(|p| Filter::field(k.as_str()).ilike(p)),
        );
    }
    match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(Filter::or(filters)),
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Every record matching `filter`, all pages.
    pub(crate) async fn list_where(
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

    /// The current Twenty versions of the linked records among `upserts`, by id.
    pub(super) async fn current_versions(
        &self,
        m: &dyn EntityMapper,
        upserts: &[Upsert],
    ) -> Result<HashMap<String, Record>, SyncError> {
        // Current Twenty versions of linked records, for field diffs: one request per
        // `batch_size` ids (a chunk of several batches asks for them all at once).
        let linked: Vec<String> = upserts
            .iter()
            .filter_map(|u| u.4.as_ref().map(|s| s.twenty_id.clone()))
            .collect();
        let lists = futures::future::try_join_all(
            linked
                .chunks(self.config.batch_size.max(1))
                .map(|ids| self.list_where(m, Filter::field("id").in_(ids.to_vec()))),
        )
        .await?;
        Ok(lists
            .into_iter()
            .flatten()
            .filter_map(|r| r.id().map(str::to_owned).map(|id| (id, r)))
            .collect())
    }

    /// Unlinked Twenty records whose natural keys match the unlinked upserts: one map per match
    /// key, from the lower-cased key value to the record.
    ///
    /// `like_upsert` predicts what a batch upsert would match (for a dry run of
    /// [`MatchStrategy::Upsert`](crate::engine::MatchStrategy::Upsert)): soft-deleted records count too (a second request), and so do
    /// records linked to a local key whose state is deleted; a record linked to a live state is
    /// left out in both modes (it belongs to another local record).
    pub(super) async fn natural_key_index(
        &self,
        m: &dyn EntityMapper,
        upserts: &[Upsert],
        like_upsert: bool,
    ) -> Result<Vec<HashMap<String, Record>>, SyncError> {
        let entity = m.name();
        // Natural-key candidates (one request for the whole chunk).
        let mut index: Vec<HashMap<String, Record>> = vec![HashMap::new(); m.match_keys().len()];
        let unlinked: Vec<&Value> = upserts
            .iter()
            .filter(|u| u.4.is_none())
            .map(|u| &u.1)
            .collect();
        if !unlinked.is_empty() && !m.match_keys().is_empty() {
            // One lookup per `batch_size` records (a chunk of several batches looks them all up
            // at once), so no request's filter outgrows a batch's.
            let groups: Vec<Filter> = unlinked
                .chunks(self.config.batch_size.max(1))
                .filter_map(|group| key_filter(m, group))
                .collect();
            if !groups.is_empty() {
                let lookups =
                    futures::future::try_join_all(groups.into_iter().map(|filter| async move {
                        let mut found = self.list_where(m, filter.clone()).await?;
                        if like_upsert {
                            let trashed =
                                Filter::and([Filter::field("deletedAt").is_not_null(), filter]);
                            found.extend(self.list_where(m, trashed).await?);
                        }
                        Ok::<_, SyncError>(found)
                    }))
                    .await?;
                let found: Vec<Record> = lookups.into_iter().flatten().collect();
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
                    .filter(|s| !(like_upsert && s.deleted))
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
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::mapper::FieldMap;

    #[test]
    fn a_key_value_the_filter_syntax_cannot_carry_is_looked_up_by_pattern() {
        let m = FieldMap::new("accounts", "companies", "company")
            .field("name", "name")
            .match_key("name");
        let records = [
            json!({"name": "Acme"}),
            json!({"name": "O'Reilly Media"}),
            json!({"name": "o'reilly media"}),
        ];
        let refs: Vec<&Value> = records.iter().collect();
        let filter = key_filter(&m, &refs).expect("a lookup");
        assert_eq!(
            filter.to_query_string(),
            r#"or(name[in]:["Acme","acme"],name[ilike]:"o_reilly media")"#
        );
        assert!(filter.validate().is_ok());
    }
}
