//! [`Record`]: an untyped record of any object, for custom objects and schema-agnostic code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A record as a JSON object. Serialises and deserialises exactly as the map it holds.
///
/// ```
/// use twenty_client::Record;
/// let r = Record::from(serde_json::json!({
///     "id": "7f3c…", "updatedAt": "2026-11-22T20:25:10.419Z", "deletedAt": null,
///     "emails": {"primaryEmail": "ada@example.com"}
/// }));
/// assert_eq!(r.id(), Some("7f3c…"));
/// assert_eq!(r.get("emails.primaryEmail").and_then(|v| v.as_str()), Some("ada@example.com"));
/// assert!(r.deleted_at().is_none());
/// assert!(r.updated_at().is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Record(Map<String, Value>);

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record(Map::new())
    }
    /// `id`.
    pub fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }
    /// `updatedAt` parsed as RFC 3339.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp("updatedAt")
    }
    /// `createdAt` parsed as RFC 3339.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp("createdAt")
    }
    /// `deletedAt` parsed as RFC 3339 (`None` when null or absent).
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp("deletedAt")
    }
    fn timestamp(&self, key: &str) -> Option<DateTime<Utc>> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
    /// Value at a dotted path (`emails.primaryEmail`).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.0.get(parts.next()?)?;
        for p in parts {
            cur = cur.get(p)?;
        }
        Some(cur)
    }
    /// Set a top-level field.
    pub fn set(&mut self, field: impl Into<String>, value: Value) -> Option<Value> {
        self.0.insert(field.into(), value)
    }
    /// All fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }
    /// All fields, mutable.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }
    /// The record as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
    /// The record as a map.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for Record {
    fn from(m: Map<String, Value>) -> Self {
        Record(m)
    }
}

impl From<Value> for Record {
    /// Objects convert field by field; any other value yields an empty record.
    fn from(v: Value) -> Self {
        match v {
            Value::Object(m) => Record(m),
            _ => Record::new(),
        }
    }
}

impl From<Record> for Value {
    fn from(r: Record) -> Self {
        r.into_value()
    }
}
