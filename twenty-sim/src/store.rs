//! Compact in-memory tables: each record is kept as its serialized JSON with ordered indexes on
//! `id`, `updatedAt` and `createdAt` and hash indexes on unique keys, so a million people fit in
//! about a gigabyte and keyset paging costs O(log n + page).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::schema::{ObjectMeta, get_path};

/// Format epoch milliseconds the way Twenty does (`2026-11-22T19:47:34.381Z`).
pub(crate) fn fmt_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parse an ISO-8601 date-time or date into epoch milliseconds.
pub(crate) fn parse_ms(s: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(d.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_millis());
    }
    None
}

/// The server's time: this host's, `offset_ms` away (see
/// [`SimConfig::clock_offset`](crate::SimConfig::clock_offset)). Every timestamp the server
/// gives (`updatedAt`, its `Date` header, a webhook's signed timestamp) is read from it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ServerTime {
    offset_ms: i64,
}

impl ServerTime {
    /// A time `offset_ms` ahead of this host's (negative: behind).
    pub fn with_offset(offset_ms: i64) -> Self {
        ServerTime { offset_ms }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(self) -> i64 {
        Utc::now().timestamp_millis() + self.offset_ms
    }

    /// Now.
    pub fn now(self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::TimeDelta::milliseconds(self.offset_ms)
    }
}

/// A millisecond clock on the server's time that never returns the same value twice, so every
/// write request gets a strictly increasing `updatedAt` (the records of one batch share it).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    last: AtomicI64,
    time: ServerTime,
}

impl Clock {
    /// A clock on `time`.
    pub fn on(time: ServerTime) -> Self {
        Clock {
            last: AtomicI64::new(0),
            time,
        }
    }

    /// The server's time now, in Unix milliseconds, without taking a tick.
    pub fn now_ms(&self) -> i64 {
        self.time.now_ms()
    }

    pub fn tick(&self) -> i64 {
        let now = self.now_ms();
        let mut prev = self.last.load(Ordering::SeqCst);
        loop {
            let next = now.max(prev + 1);
            match self
                .last
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }

    /// Make sure later ticks are after `ms` (used by the seeder).
    pub fn advance_to(&self, ms: i64) {
        self.last.fetch_max(ms, Ordering::SeqCst);
    }
}

/// Parse a UUID string into the ordered integer form used by the indexes.
pub(crate) fn parse_id(s: &str) -> Option<u128> {
    uuid::Uuid::parse_str(s).ok().map(|u| u.as_u128())
}

/// Format an id the way Postgres prints UUIDs.
pub(crate) fn fmt_id(id: u128) -> String {
    uuid::Uuid::from_u128(id).hyphenated().to_string()
}

/// One stored record.
#[derive(Debug)]
pub(crate) struct Row {
    pub json: Box<str>,
    pub updated: i64,
    pub created: i64,
    pub deleted: Option<i64>,
}

impl Row {
    pub fn parse(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// A unique-constraint violation.
#[derive(Debug)]
pub(crate) struct UniqueViolation;

/// Normalise a unique key value; `None` when the value does not take part (empty/null).
pub(crate) fn unique_key(path: &str, v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if s.is_empty() {
        return None;
    }
    if path.ends_with("primaryEmail") || path.ends_with("primaryLinkUrl") {
        Some(s.to_lowercase())
    } else {
        Some(s)
    }
}

/// One object's records.
#[derive(Debug)]
pub(crate) struct Table {
    pub meta: ObjectMeta,
    pub rows: BTreeMap<u128, Row>,
    pub by_updated: BTreeSet<(i64, u128)>,
    pub by_created: BTreeSet<(i64, u128)>,
    pub uniques: Vec<(String, HashMap<String, u128>)>,
    pub live: usize,
    /// Bumped on every write; used to cache `totalCount` of filtered lists between pages.
    pub version: u64,
    pub next_position: f64,
    pub count_cache: Mutex<HashMap<String, (u64, usize)>>,
}

fn meta_of(rec: &Map<String, Value>) -> (i64, i64, Option<i64>) {
    let ts = |k: &str| rec.get(k).and_then(Value::as_str).and_then(parse_ms);
    (
        ts("updatedAt").unwrap_or(0),
        ts("createdAt").unwrap_or(0),
        ts("deletedAt"),
    )
}

impl Table {
    pub fn new(meta: ObjectMeta) -> Self {
        let uniques = meta
            .unique_paths()
            .into_iter()
            .map(|p| (p, HashMap::new()))
            .collect();
        Table {
            meta,
            rows: BTreeMap::new(),
            by_updated: BTreeSet::new(),
            by_created: BTreeSet::new(),
            uniques,
            live: 0,
            version: 0,
            next_position: 0.0,
            count_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Rebuild the unique index list after the schema changed (a unique custom field).
    pub fn refresh_uniques(&mut self) {
        let paths = self.meta.unique_paths();
        for p in paths {
            if !self.uniques.iter().any(|(q, _)| *q == p) {
                let mut idx = HashMap::new();
                for (id, row) in &self.rows {
                    if let Some(k) = unique_key(&p, get_path(&row.parse(), &p)) {
                        idx.insert(k, *id);
                    }
                }
                self.uniques.push((p, idx));
            }
        }
    }

    pub fn get(&self, id: u128) -> Option<Map<String, Value>> {
        self.rows.get(&id).map(Row::parse)
    }

    /// Ids holding any of the record's unique keys (other than `except`).
    pub fn unique_matches(&self, rec: &Map<String, Value>, except: Option<u128>) -> Vec<u128> {
        let mut out = Vec::new();
        for (path, idx) in &self.uniques {
            if let Some(k) = unique_key(path, get_path(rec, path)) {
                if let Some(id) = idx.get(&k) {
                    if Some(*id) != except && !out.contains(id) {
                        out.push(*id);
                    }
                }
            }
        }
        out
    }

    fn unindex(&mut self, id: u128) -> Option<Row> {
        let row = self.rows.remove(&id)?;
        self.by_updated.remove(&(row.updated, id));
        self.by_created.remove(&(row.created, id));
        if row.deleted.is_none() {
            self.live -= 1;
        }
        let rec = row.parse();
        for (path, idx) in &mut self.uniques {
            if let Some(k) = unique_key(path, get_path(&rec, path)) {
                if idx.get(&k) == Some(&id) {
                    idx.remove(&k);
                }
            }
        }
        Some(row)
    }

    /// Insert or replace a record (keyed by its `id`), enforcing unique keys.
    pub fn put(&mut self, rec: &Map<String, Value>) -> Result<(), UniqueViolation> {
        let id = rec
            .get("id")
            .and_then(Value::as_str)
            .and_then(parse_id)
            .ok_or(UniqueViolation)?;
        if !self.unique_matches(rec, Some(id)).is_empty() {
            return Err(UniqueViolation);
        }
        self.unindex(id);
        let (updated, created, deleted) = meta_of(rec);
        for (path, idx) in &mut self.uniques {
            if let Some(k) = unique_key(path, get_path(rec, path)) {
                idx.insert(k, id);
            }
        }
        self.by_updated.insert((updated, id));
        self.by_created.insert((created, id));
        if deleted.is_none() {
            self.live += 1;
        }
        let json = serde_json::to_string(rec)
            .unwrap_or_default()
            .into_boxed_str();
        self.rows.insert(
            id,
            Row {
                json,
                updated,
                created,
                deleted,
            },
        );
        self.version += 1;
        Ok(())
    }

    /// Remove a record for good.
    pub fn remove(&mut self, id: u128) -> Option<Map<String, Value>> {
        let row = self.unindex(id)?;
        self.version += 1;
        Some(row.parse())
    }

    /// Position for a newly created record (decreasing, as Twenty puts new records first).
    pub fn take_position(&mut self) -> f64 {
        let p = self.next_position;
        self.next_position -= 1.0;
        p
    }
}
