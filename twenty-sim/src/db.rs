//! The simulated workspace: tables, the write operations of the records API, and the events
//! they emit for webhooks. All operations are atomic: a failing batch leaves no trace.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::filter::{Filter, RowView};
use crate::input::{apply_input, search_vector};
use crate::schema::{ObjectMeta, standard_objects};
use crate::store::{Clock, Table, fmt_id, fmt_ms, parse_id};

/// A record event (`person.created`, ...) for webhook deliveries.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub object_id: String,
    pub singular: String,
    pub action: &'static str,
    pub record: Value,
    pub updated_fields: Option<Vec<String>>,
}

/// Result of a write: response payload and events to deliver.
pub(crate) type WriteResult = Result<(Value, Vec<Event>), ApiError>;

/// The whole simulated workspace state.
#[derive(Debug)]
pub(crate) struct Db {
    pub tables: HashMap<String, Table>,
    pub clock: Clock,
    pub actor_name: String,
    pub webhooks: Vec<Map<String, Value>>,
    /// The most records one filter mutation may affect
    /// ([`SimConfig::mutation_maximum_affected_records`](crate::SimConfig::mutation_maximum_affected_records)).
    pub mutation_maximum_affected_records: usize,
}

fn event(
    meta: &ObjectMeta,
    action: &'static str,
    record: &Map<String, Value>,
    fields: Option<Vec<String>>,
) -> Event {
    Event {
        object_id: meta.id.clone(),
        singular: meta.singular.clone(),
        action,
        record: Value::Object(record.clone()),
        updated_fields: fields,
    }
}

/// Undo log of one operation: previous versions of touched rows.
type Undo = Vec<(u128, Option<Map<String, Value>>)>;

fn rollback(table: &mut Table, undo: Undo) {
    for (id, prev) in undo.into_iter().rev() {
        match prev {
            Some(rec) => {
                table.remove(id);
                let _ = table.put(&rec);
            }
            None => {
                table.remove(id);
            }
        }
    }
}

impl Db {
    pub fn new(actor_name: String) -> Self {
        let tables = standard_objects()
            .into_iter()
            .map(|m| (m.plural.clone(), Table::new(m)))
            .collect();
        Db {
            tables,
            clock: Clock::default(),
            actor_name,
            webhooks: Vec::new(),
            mutation_maximum_affected_records: usize::MAX,
        }
    }

    /// Resolve a URL object segment (Twenty's 400 messages on failure).
    pub fn check_object(&self, name: &str) -> Result<(), ApiError> {
        if self.tables.contains_key(name) {
            return Ok(());
        }
        if let Some(t) = self.tables.values().find(|t| t.meta.singular == name) {
            return Err(ApiError::bad(format!(
                "object '{name}' not found. Did you mean '{}'?",
                t.meta.plural
            )));
        }
        Err(ApiError::bad(format!(
            "object '{name}' not found. eg: companies"
        )))
    }

    pub fn table(&self, plural: &str) -> Result<&Table, ApiError> {
        self.check_object(plural)?;
        self.tables.get(plural).ok_or_else(ApiError::not_found)
    }

    fn table_mut(&mut self, plural: &str) -> Result<&mut Table, ApiError> {
        self.check_object(plural)?;
        self.tables.get_mut(plural).ok_or_else(ApiError::not_found)
    }

    pub fn api_actor(&self) -> Value {
        json!({"source": "API", "workspaceMemberId": null, "name": self.actor_name, "context": {}})
    }

    /// Create (or upsert) one record inside an operation.
    fn create_in(
        &mut self,
        now: i64,
        plural: &str,
        input: &Value,
        upsert: bool,
        undo: &mut Undo,
        events: &mut Vec<Event>,
    ) -> Result<Map<String, Value>, ApiError> {
        let actor = self.api_actor();
        let table = self.table_mut(plural)?;
        let input = input.as_object().ok_or_else(|| {
            ApiError::bad(format!(
                "Invalid record value '{input}': a JSON object is expected"
            ))
        })?;
        let mut rec = table.meta.blank_record();
        rec.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
        let ts = Value::String(fmt_ms(now));
        rec.insert("createdAt".into(), ts.clone());
        rec.insert("updatedAt".into(), ts);
        rec.insert("deletedAt".into(), Value::Null);
        if rec.contains_key("position") {
            let p = table.take_position();
            rec.insert("position".into(), json!(p as i64));
        }
        for k in ["createdBy", "updatedBy"] {
            if rec.contains_key(k) {
                rec.insert(k.into(), actor.clone());
            }
        }
        apply_input(&table.meta, &mut rec, input, true)?;
        if upsert {
            let mut matches = table.unique_matches(&rec, None);
            if input.contains_key("id") {
                if let Some(id) = rec.get("id").and_then(Value::as_str).and_then(parse_id) {
                    if table.rows.contains_key(&id) && !matches.contains(&id) {
                        matches.push(id);
                    }
                }
            }
            if matches.len() > 1 {
                return Err(ApiError::bad(format!(
                    "Multiple records found matching the unique fields of the {} to upsert ({}): {}. Make the input match a single record.",
                    table.meta.singular,
                    std::iter::once("id".to_string())
                        .chain(table.meta.unique_paths())
                        .collect::<Vec<_>>()
                        .join(", "),
                    matches
                        .iter()
                        .map(|m| fmt_id(*m))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if let Some(id) = matches.first().copied() {
                let mut existing = table.get(id).ok_or_else(ApiError::not_found)?;
                let prev = existing.clone();
                let mut changed = apply_input(&table.meta, &mut existing, input, false)?;
                if existing.get("deletedAt").is_some_and(|d| !d.is_null()) {
                    existing.insert("deletedAt".into(), Value::Null);
                    changed.push("deletedAt".into());
                }
                existing.insert("updatedAt".into(), Value::String(fmt_ms(now)));
                if existing.contains_key("updatedBy") {
                    existing.insert("updatedBy".into(), actor);
                }
                let sv = search_vector(&table.meta, &existing);
                if existing.contains_key("searchVector") {
                    existing.insert("searchVector".into(), sv);
                }
                table.put(&existing).map_err(|_| ApiError::duplicate())?;
                undo.push((id, Some(prev)));
                events.push(event(&table.meta, "updated", &existing, Some(changed)));
                return Ok(existing);
            }
        }
        let id = rec
            .get("id")
            .and_then(Value::as_str)
            .and_then(parse_id)
            .ok_or_else(|| ApiError::bad("record id is not a valid UUID"))?;
        if table.rows.contains_key(&id) {
            return Err(ApiError::duplicate());
        }
        let sv = search_vector(&table.meta, &rec);
        if rec.contains_key("searchVector") {
            rec.insert("searchVector".into(), sv);
        }
        table.put(&rec).map_err(|_| ApiError::duplicate())?;
        undo.push((id, None));
        events.push(event(&table.meta, "created", &rec, None));
        Ok(rec)
    }

    fn finish<T>(
        &mut self,
        plural: &str,
        undo: Undo,
        r: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if r.is_err() {
            if let Some(t) = self.tables.get_mut(plural) {
                rollback(t, undo);
            }
        }
        r
    }

    /// `POST /rest/{plural}` (optionally `?upsert=true`).
    pub fn create_one(&mut self, plural: &str, input: &Value, upsert: bool) -> WriteResult {
        let mut undo = Undo::new();
        let mut events = Vec::new();
        let r = self.create_in(
            self.clock.tick(),
            plural,
            input,
            upsert,
            &mut undo,
            &mut events,
        );
        let rec = self.finish(plural, undo, r)?;
        Ok((Value::Object(rec), events))
    }

    /// `POST /rest/batch/{plural}`.
    pub fn create_many(
        &mut self,
        plural: &str,
        inputs: &[Value],
        upsert: bool,
        max: usize,
    ) -> WriteResult {
        self.check_object(plural)?;
        if inputs.len() > max {
            return Err(ApiError::bad(format!(
                "Maximum number of records to upsert is {max}."
            )));
        }
        // One query in Twenty: every record of it gets the same time (capture 50).
        let now = self.clock.tick();
        self.write_all(plural, inputs, |db, input, undo, events| {
            db.create_in(now, plural, input, upsert, undo, events)
        })
    }

    /// Writes each item with `write`, all or nothing: the first failure undoes every write made
    /// before it and is the answer; otherwise the written records, in order, and their events.
    fn write_all<I>(
        &mut self,
        plural: &str,
        items: impl IntoIterator<Item = I>,
        mut write: impl FnMut(
            &mut Self,
            I,
            &mut Undo,
            &mut Vec<Event>,
        ) -> Result<Map<String, Value>, ApiError>,
    ) -> WriteResult {
        let mut undo = Undo::new();
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut result = Ok(());
        for item in items {
            match write(self, item, &mut undo, &mut events) {
                Ok(rec) => out.push(Value::Object(rec)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.finish(plural, undo, result)?;
        Ok((Value::Array(out), events))
    }

    fn update_in(
        &mut self,
        now: i64,
        plural: &str,
        id: u128,
        input: &Map<String, Value>,
        undo: &mut Undo,
        events: &mut Vec<Event>,
    ) -> Result<Map<String, Value>, ApiError> {
        let actor = self.api_actor();
        let table = self.table_mut(plural)?;
        let mut rec = table.get(id).ok_or_else(ApiError::not_found)?;
        let prev = rec.clone();
        let changed = apply_input(&table.meta, &mut rec, input, false)?;
        rec.insert("updatedAt".into(), Value::String(fmt_ms(now)));
        if rec.contains_key("updatedBy") {
            rec.insert("updatedBy".into(), actor);
        }
        if rec.contains_key("searchVector") {
            let sv = search_vector(&table.meta, &rec);
            rec.insert("searchVector".into(), sv);
        }
        table.put(&rec).map_err(|_| ApiError::duplicate())?;
        undo.push((id, Some(prev)));
        events.push(event(&table.meta, "updated", &rec, Some(changed)));
        Ok(rec)
    }

    /// `PATCH /rest/{plural}/{id}`: soft-deleted records are 404.
    pub fn update_one(&mut self, plural: &str, id: u128, input: &Value) -> WriteResult {
        let table = self.table(plural)?;
        if table.rows.get(&id).is_none_or(|r| r.deleted.is_some()) {
            return Err(ApiError::not_found());
        }
        let input = input
            .as_object()
            .ok_or_else(|| ApiError::bad("The request body must be a JSON object"))?;
        let mut undo = Undo::new();
        let mut events = Vec::new();
        let r = self.update_in(self.clock.tick(), plural, id, input, &mut undo, &mut events);
        let rec = self.finish(plural, undo, r)?;
        Ok((Value::Object(rec), events))
    }

    /// Ids matching a filter (soft-deleted rows only when the filter mentions `deletedAt`
    /// or `deleted_only`).
    pub fn matching_ids(
        &self,
        plural: &str,
        filter: &Filter,
        deleted_only: bool,
    ) -> Result<Vec<u128>, ApiError> {
        let table = self.table(plural)?;
        let include_deleted = deleted_only || filter.mentions("deletedAt");
        Ok(table
            .rows
            .iter()
            .filter(|(id, r)| {
                (if deleted_only {
                    r.deleted.is_some()
                } else {
                    include_deleted || r.deleted.is_none()
                }) && filter.eval(&mut RowView::new(**id, r))
            })
            .map(|(id, _)| *id)
            .collect())
    }

    /// The ids a filter mutation matches ([`Self::matching_ids`]), or the 400 Twenty answers
    /// when they are more than its `MUTATION_MAXIMUM_AFFECTED_RECORDS`; nothing is changed then.
    fn mutated_ids(
        &self,
        plural: &str,
        filter: &Filter,
        deleted_only: bool,
    ) -> Result<Vec<u128>, ApiError> {
        let ids = self.matching_ids(plural, filter, deleted_only)?;
        let max = self.mutation_maximum_affected_records;
        if ids.len() > max {
            return Err(ApiError::bad(format!(
                "The filter matches {} records; one mutation may affect at most {max} \
                 (MUTATION_MAXIMUM_AFFECTED_RECORDS).",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// `PATCH /rest/{plural}?filter=`.
    pub fn update_many(&mut self, plural: &str, filter: &Filter, input: &Value) -> WriteResult {
        let input = input
            .as_object()
            .ok_or_else(|| ApiError::bad("The request body must be a JSON object"))?;
        let ids = self.mutated_ids(plural, filter, false)?;
        // One query in Twenty: every record of it gets the same time (capture 50).
        let now = self.clock.tick();
        self.write_all(plural, ids, |db, id, undo, events| {
            db.update_in(now, plural, id, input, undo, events)
        })
    }

    fn delete_in(
        &mut self,
        now: i64,
        plural: &str,
        id: u128,
        soft: bool,
        events: &mut Vec<Event>,
    ) -> Result<Value, ApiError> {
        let table = self.table_mut(plural)?;
        if soft {
            let mut rec = table.get(id).ok_or_else(ApiError::not_found)?;
            if rec.get("deletedAt").is_some_and(|d| !d.is_null()) {
                return Err(ApiError::not_found());
            }
            let ts = Value::String(fmt_ms(now));
            rec.insert("deletedAt".into(), ts.clone());
            rec.insert("updatedAt".into(), ts);
            table.put(&rec).map_err(|_| ApiError::duplicate())?;
            let fields = Some(vec!["deletedAt".to_string()]);
            events.push(event(&table.meta, "updated", &rec, fields.clone()));
            events.push(event(&table.meta, "deleted", &rec, fields));
            Ok(Value::Object(rec))
        } else {
            let rec = table.remove(id).ok_or_else(ApiError::not_found)?;
            events.push(event(&table.meta, "destroyed", &rec, None));
            Ok(json!({"id": fmt_id(id)}))
        }
    }

    /// `DELETE /rest/{plural}/{id}` (hard by default, `soft_delete=true` for trash).
    pub fn delete_one(&mut self, plural: &str, id: u128, soft: bool) -> WriteResult {
        let mut events = Vec::new();
        let v = self.delete_in(self.clock.tick(), plural, id, soft, &mut events)?;
        Ok((v, events))
    }

    /// `DELETE /rest/{plural}?filter=`.
    pub fn delete_many(&mut self, plural: &str, filter: &Filter, soft: bool) -> WriteResult {
        let ids = self.mutated_ids(plural, filter, false)?;
        // One query in Twenty: every record of it gets the same time (capture 50).
        let now = self.clock.tick();
        let mut events = Vec::new();
        let mut out = Vec::new();
        for id in ids {
            out.push(self.delete_in(now, plural, id, soft, &mut events)?);
        }
        Ok((Value::Array(out), events))
    }

    fn restore_in(
        &mut self,
        now: i64,
        plural: &str,
        id: u128,
        events: &mut Vec<Event>,
    ) -> Result<Value, ApiError> {
        let table = self.table_mut(plural)?;
        let mut rec = table.get(id).ok_or_else(ApiError::not_found)?;
        rec.insert("deletedAt".into(), Value::Null);
        rec.insert("updatedAt".into(), Value::String(fmt_ms(now)));
        table.put(&rec).map_err(|_| ApiError::duplicate())?;
        events.push(event(
            &table.meta,
            "restored",
            &rec,
            Some(vec!["deletedAt".into()]),
        ));
        Ok(Value::Object(rec))
    }

    /// `PATCH /rest/restore/{plural}/{id}` (newest servers).
    pub fn restore_one(&mut self, plural: &str, id: u128) -> WriteResult {
        let table = self.table(plural)?;
        if table.rows.get(&id).is_none_or(|r| r.deleted.is_none()) {
            return Err(ApiError::not_found());
        }
        let mut events = Vec::new();
        let v = self.restore_in(self.clock.tick(), plural, id, &mut events)?;
        Ok((v, events))
    }

    /// `PATCH /rest/restore/{plural}?filter=`: restores the soft-deleted matching rows.
    pub fn restore_many(&mut self, plural: &str, filter: &Filter) -> WriteResult {
        let ids = self.mutated_ids(plural, filter, true)?;
        // One query in Twenty: every record of it gets the same time (capture 50).
        let now = self.clock.tick();
        let mut events = Vec::new();
        let mut out = Vec::new();
        for id in ids {
            out.push(self.restore_in(now, plural, id, &mut events)?);
        }
        Ok((Value::Array(out), events))
    }

    /// Records that look like duplicates of `probe` (Twenty's duplicate criteria).
    pub fn duplicates_of(
        &self,
        plural: &str,
        probe: &Map<String, Value>,
        exclude: Option<u128>,
    ) -> Result<Vec<Value>, ApiError> {
        let table = self.table(plural)?;
        let criteria: Vec<Vec<&str>> = match table.meta.singular.as_str() {
            "person" => vec![
                vec!["name.firstName", "name.lastName"],
                vec!["linkedinLink.primaryLinkUrl"],
                vec!["emails.primaryEmail"],
            ],
            "company" => vec![vec!["name"], vec!["domainName.primaryLinkUrl"]],
            _ => vec![],
        };
        let norm = |v: Option<&Value>| -> Option<String> {
            v.and_then(Value::as_str)
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
        };
        let probe_keys: Vec<Option<Vec<String>>> = criteria
            .iter()
            .map(|paths| {
                paths
                    .iter()
                    .map(|p| norm(crate::schema::get_path(probe, p)))
                    .collect::<Option<Vec<_>>>()
            })
            .collect();
        let mut out = Vec::new();
        for (id, row) in &table.rows {
            if Some(*id) == exclude || row.deleted.is_some() {
                continue;
            }
            let mut view = RowView::new(*id, row);
            let hit = criteria.iter().zip(&probe_keys).any(|(paths, key)| {
                let Some(key) = key else { return false };
                paths
                    .iter()
                    .zip(key)
                    .all(|(p, k)| norm(Some(&view.get(p))).as_deref() == Some(k.as_str()))
            });
            if hit {
                out.push(Value::Object(row.parse()));
            }
        }
        Ok(out)
    }
}
