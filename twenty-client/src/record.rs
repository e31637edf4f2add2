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
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_client::Record;
    /// let mut pet = Record::new();
    /// assert!(pet.id().is_none() && pet.fields().is_empty());
    /// pet.set("name", json!("Rex"));
    /// assert_eq!(serde_json::to_string(&pet)?, r#"{"name":"Rex"}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new() -> Self {
        Record(Map::new())
    }
    /// `id`.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let r = Record::from(serde_json::json!({"id": "20202020-0000-4000-8000-000000000001"}));
    /// assert_eq!(r.id(), Some("20202020-0000-4000-8000-000000000001"));
    /// assert_eq!(Record::from(serde_json::json!({"id": 7})).id(), None);
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }
    /// `updatedAt` parsed as RFC 3339.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let r = Record::from(serde_json::json!({"updatedAt": "2026-11-22T20:25:10.419Z"}));
    /// assert_eq!(r.updated_at().map(|t| t.timestamp_millis()), Some(1_795_379_110_419));
    /// assert!(Record::from(serde_json::json!({"updatedAt": "yesterday"})).updated_at().is_none());
    /// ```
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp("updatedAt")
    }
    /// `createdAt` parsed as RFC 3339.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let r = Record::from(serde_json::json!({
    ///     "createdAt": "2026-01-01T00:00:00.000+01:00",
    ///     "updatedAt": "2026-01-01T00:00:00.000Z",
    /// }));
    /// // Offsets are normalised to UTC.
    /// assert!(r.created_at().unwrap() < r.updated_at().unwrap());
    /// ```
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.timestamp("createdAt")
    }
    /// `deletedAt` parsed as RFC 3339 (`None` when null or absent).
    ///
    /// ```
    /// use twenty_client::Record;
    /// let trashed = Record::from(serde_json::json!({"deletedAt": "2026-03-01T10:00:00.000Z"}));
    /// assert!(trashed.deleted_at().is_some());
    /// assert!(Record::from(serde_json::json!({"deletedAt": null})).deleted_at().is_none());
    /// ```
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
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_client::Record;
    /// let r = Record::from(json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
    /// assert_eq!(r.get("name.lastName"), Some(&json!("Lovelace")));
    /// assert_eq!(r.get("name.middleName"), None);
    /// ```
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.0.get(parts.next()?)?;
        for p in parts {
            cur = cur.get(p)?;
        }
        Some(cur)
    }
    /// Set a top-level field.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_client::Record;
    /// let mut r = Record::from(json!({"jobTitle": "Intern"}));
    /// let previous = r.set("jobTitle", json!("Analyst"));
    /// assert_eq!(previous, Some(json!("Intern")));
    /// assert_eq!(r.get("jobTitle"), Some(&json!("Analyst")));
    /// ```
    pub fn set(&mut self, field: impl Into<String>, value: Value) -> Option<Value> {
        self.0.insert(field.into(), value)
    }
    /// All fields.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let r = Record::from(serde_json::json!({"id": "p1", "city": "Paris"}));
    /// let names: Vec<&str> = r.fields().keys().map(String::as_str).collect();
    /// assert_eq!(names, ["id", "city"]);
    /// ```
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }
    /// All fields, mutable.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let mut r = Record::from(serde_json::json!({"id": "p1", "searchVector": "'ada':1", "city": "Paris"}));
    /// r.fields_mut().retain(|k, _| k != "searchVector");
    /// assert_eq!(r.fields().len(), 2);
    /// ```
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }
    /// The record as a JSON value.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_client::Record;
    /// let mut r = Record::new();
    /// r.set("city", json!("Lyon"));
    /// assert_eq!(r.into_value(), json!({"city": "Lyon"}));
    /// ```
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
    /// The record as a map.
    ///
    /// ```
    /// use twenty_client::Record;
    /// let r = Record::from(serde_json::json!({"id": "p1", "city": "Lyon"}));
    /// let map: serde_json::Map<String, serde_json::Value> = r.into_map();
    /// assert_eq!(map["city"], "Lyon");
    /// ```
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
