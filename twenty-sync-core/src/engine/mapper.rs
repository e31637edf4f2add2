//! How the engine sees a mapping: the [`EntityMapper`] trait and a small path-copying
//! implementation, [`FieldMap`].
//!
//! The engine only needs a handful of things from a mapping: both directions of the value
//! transform (with per-field errors), the natural keys used to match records that already exist
//! in Twenty, and the conflict policy and ownership of each field. Keeping that
//! behind a trait lets a compiled `twenty-mapping` plan, or any hand-written mapping, drive the
//! engine.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// How a conflict (a field changed on both sides since the last sync) is settled: the mapping
/// crate's policy, used as is. `LocalWins` / `TwentyWins` pick a side; `NewestWins` picks the side
/// with the later modification time, and Twenty wins ties and unknown times
/// ([`field_winner`](super::field_winner)).
pub use twenty_mapping::ConflictPolicy;

/// Which side writes a field: the mapping crate's [`Owner`](twenty_mapping::Owner) under the
/// engine's name. `Local`: only the local system writes it (pulls never overwrite it locally);
/// `Twenty`: only Twenty writes it (pushes never send it); `Both`: a change on one side is
/// taken, and a change on both sides (a conflict) is settled by the conflict policy.
pub use twenty_mapping::Owner as FieldOwner;

/// One mapped field: a dotted path on each side.
///
/// ```
/// use twenty_sync_core::engine::{EntityMapper, FieldMap, FieldOwner};
///
/// let map = FieldMap::new("contacts", "people", "person")
///     .owned_field("score", "leadScore", FieldOwner::Twenty);
/// let spec = &map.fields()[0];
/// assert_eq!((spec.local_path.as_str(), spec.twenty_path.as_str()), ("score", "leadScore"));
/// assert_eq!(spec.owner, FieldOwner::Twenty);
/// assert_eq!(spec.conflict_policy, None); // the entity's policy applies
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Path in the local record, e.g. `email`.
    pub local_path: String,
    /// Path in the Twenty record, e.g. `emails.primaryEmail`.
    pub twenty_path: String,
    /// Which side writes the field.
    pub owner: FieldOwner,
    /// Field-level conflict policy (overrides the entity's).
    pub conflict_policy: Option<ConflictPolicy>,
}

/// A per-field mapping error: the record is reported as failed, the run goes on.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{EntityMapper, FieldMap};
///
/// let map = FieldMap::new("contacts", "people", "person")
///     .field("email", "emails.primaryEmail")
///     .validate("email", |v| if v.is_string() { Ok(()) } else { Err("missing".into()) });
/// let mapped = map.to_twenty(&json!({"first": "Ada"}));
/// assert_eq!(mapped.errors[0].field, "email");
/// assert_eq!(mapped.errors[0].reason, "missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (local path) that failed.
    pub field: String,
    /// Why, without the value.
    pub reason: String,
}

/// The result of mapping one record.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{EntityMapper, FieldMap};
///
/// let map = FieldMap::new("contacts", "people", "person").field("first", "name.firstName");
/// let mapped = map.to_twenty(&json!({"first": "Ada", "unmapped": 1}));
/// assert_eq!(mapped.value, json!({"name": {"firstName": "Ada"}}));
/// assert!(mapped.errors.is_empty()); // the record can be written
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The mapped value (only mapped fields, in the target shape).
    pub value: Value,
    /// Per-field errors; when non-empty the record is not written.
    pub errors: Vec<FieldError>,
}

/// The mapping of one entity, as the engine uses it.
///
/// ```
/// use serde_json::{json, Value};
/// use twenty_sync_core::engine::{ConflictPolicy, EntityMapper, FieldMap, FieldSpec, Mapped};
///
/// /// Contacts whose emails are lower-cased on their way to Twenty.
/// #[derive(Debug)]
/// struct Contacts(FieldMap);
///
/// impl EntityMapper for Contacts {
///     fn to_twenty(&self, local: &Value) -> Mapped {
///         let mut mapped = self.0.to_twenty(local);
///         if let Some(Value::String(email)) = mapped.value.pointer_mut("/emails/primaryEmail") {
///             *email = email.to_lowercase();
///         }
///         mapped
///     }
///     // ... the other methods delegate to the `FieldMap`.
/// #     fn name(&self) -> &str { self.0.name() }
/// #     fn twenty_object(&self) -> &str { self.0.twenty_object() }
/// #     fn twenty_object_singular(&self) -> &str { self.0.twenty_object_singular() }
/// #     fn match_keys(&self) -> &[String] { self.0.match_keys() }
/// #     fn conflict_policy(&self) -> ConflictPolicy { self.0.conflict_policy() }
/// #     fn fields(&self) -> &[FieldSpec] { self.0.fields() }
/// #     fn to_local(&self, twenty: &Value) -> Mapped { self.0.to_local(twenty) }
/// #     fn local_key_of(&self, local: &Value) -> Option<String> { self.0.local_key_of(local) }
/// }
///
/// let m = Contacts(FieldMap::new("contacts", "people", "person").field("email", "emails.primaryEmail"));
/// let out = m.to_twenty(&json!({"email": "Ada@Example.com"}));
/// assert_eq!(out.value, json!({"emails": {"primaryEmail": "ada@example.com"}}));
/// ```
pub trait EntityMapper: Send + Sync + fmt::Debug {
    /// The entity name used for cursors, state, reports (e.g. `contacts`).
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person");
    /// assert_eq!(map.name(), "contacts"); // the key of its cursors, state and report counts
    /// ```
    fn name(&self) -> &str;
    /// Twenty's plural object name (e.g. `people`), used in REST paths.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person");
    /// assert_eq!(format!("/rest/{}", map.twenty_object()), "/rest/people");
    /// ```
    fn twenty_object(&self) -> &str;
    /// Twenty's singular object name (e.g. `person`), used to route webhook events.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person");
    /// // Webhook events are named `<singular>.<action>`.
    /// assert!("person.updated".starts_with(map.twenty_object_singular()));
    /// ```
    fn twenty_object_singular(&self) -> &str;
    /// Twenty paths that identify a record naturally (e.g. `emails.primaryEmail`).
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").match_key("emails.primaryEmail");
    /// assert_eq!(map.match_keys(), ["emails.primaryEmail"]);
    /// ```
    fn match_keys(&self) -> &[String];
    /// The entity-level conflict policy.
    ///
    /// ```
    /// use twenty_sync_core::engine::{ConflictPolicy, EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person");
    /// assert_eq!(map.conflict_policy(), ConflictPolicy::TwentyWins); // FieldMap's default
    /// let map = map.on_conflict(ConflictPolicy::NewestWins);
    /// assert_eq!(map.conflict_policy(), ConflictPolicy::NewestWins);
    /// ```
    fn conflict_policy(&self) -> ConflictPolicy;
    /// The mapped fields.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("email", "emails.primaryEmail")
    ///     .field("first", "name.firstName");
    /// let paths: Vec<&str> = map.fields().iter().map(|f| f.twenty_path.as_str()).collect();
    /// assert_eq!(paths, ["emails.primaryEmail", "name.firstName"]);
    /// ```
    fn fields(&self) -> &[FieldSpec];
    /// Maps a local record to Twenty's shape.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("email", "emails.primaryEmail");
    /// let mapped = map.to_twenty(&json!({"email": "ada@example.com"}));
    /// assert_eq!(mapped.value, json!({"emails": {"primaryEmail": "ada@example.com"}}));
    /// ```
    fn to_twenty(&self, local: &Value) -> Mapped;
    /// Maps a Twenty record to the local shape.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("email", "emails.primaryEmail");
    /// let twenty = json!({"id": "5f0c…", "emails": {"primaryEmail": "ada@example.com", "additionalEmails": []}});
    /// assert_eq!(map.to_local(&twenty).value, json!({"email": "ada@example.com"}));
    /// ```
    fn to_local(&self, twenty: &Value) -> Mapped;
    /// The local key of a mapped local value, if the mapping defines one.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").local_key("id");
    /// assert_eq!(map.local_key_of(&json!({"id": "c-42"})), Some("c-42".to_string()));
    /// assert_eq!(map.local_key_of(&json!({"id": 42})), Some("42".to_string()));
    /// assert_eq!(map.local_key_of(&json!({"name": "no key"})), None);
    /// ```
    fn local_key_of(&self, local: &Value) -> Option<String>;
    /// The top-level Twenty fields [`to_local`](Self::to_local) reads, when the mapper knows
    /// them: a pull then keeps only these of each record it fetches (and `id`, `createdAt`,
    /// `updatedAt`, `deletedAt`), skipping the others while the page is decoded. `None` (the
    /// default) keeps every field; a mapper that reads fields beyond its [`fields`](Self::fields)
    /// must keep the default or list them all.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("email", "emails.primaryEmail")
    ///     .field("first", "name.firstName")
    ///     .match_key("emails.primaryEmail");
    /// assert_eq!(map.twenty_fields_read(), Some(vec!["emails".to_owned(), "name".to_owned()]));
    /// ```
    fn twenty_fields_read(&self) -> Option<Vec<String>> {
        None
    }
}

/// The top-level names of `paths` (first segments), each once, in order.
pub(crate) fn top_level_fields<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let top = p.split('.').next().unwrap_or_default();
        if !top.is_empty() && !out.iter().any(|o| o == top) {
            out.push(top.to_owned());
        }
    }
    out
}

/// A validation applied to one local value before it is sent to Twenty.
///
/// ```
/// use std::sync::Arc;
/// use serde_json::json;
/// use twenty_sync_core::engine::Validator;
///
/// let has_at: Validator = Arc::new(|v| match v.as_str() {
///     Some(s) if s.contains('@') => Ok(()),
///     _ => Err("not an email address".into()),
/// });
/// assert!(has_at(&json!("ada@example.com")).is_ok());
/// assert!(has_at(&json!("ada")).is_err());
/// ```
pub type Validator = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// A straightforward [`EntityMapper`]: copies values between dotted paths.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{EntityMapper, FieldMap, FieldOwner};
///
/// let map = FieldMap::new("contacts", "people", "person")
///     .field("email", "emails.primaryEmail")
///     .field("first", "name.firstName")
///     .owned_field("score", "score", FieldOwner::Twenty)
///     .local_key("id")
///     .match_key("emails.primaryEmail");
/// let out = map.to_twenty(&json!({"id": "c1", "email": "ada@example.com", "first": "Ada"}));
/// assert_eq!(out.value, json!({"emails": {"primaryEmail": "ada@example.com"}, "name": {"firstName": "Ada"}}));
/// assert!(out.errors.is_empty());
/// ```
#[derive(Clone)]
pub struct FieldMap {
    name: String,
    plural: String,
    singular: String,
    fields: Vec<FieldSpec>,
    validators: Vec<(String, Validator)>,
    local_key: Option<String>,
    match_keys: Vec<String>,
    policy: ConflictPolicy,
}

impl fmt::Debug for FieldMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldMap")
            .field("name", &self.name)
            .field("twenty_object", &self.plural)
            .field("fields", &self.fields)
            .field("local_key", &self.local_key)
            .field("match_keys", &self.match_keys)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl FieldMap {
    /// A mapping of the local entity `name` to Twenty's object `plural` / `singular`.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("accounts", "companies", "company");
    /// assert_eq!((map.name(), map.twenty_object(), map.twenty_object_singular()), ("accounts", "companies", "company"));
    /// assert!(map.fields().is_empty());
    /// ```
    pub fn new(
        name: impl Into<String>,
        plural: impl Into<String>,
        singular: impl Into<String>,
    ) -> Self {
        FieldMap {
            name: name.into(),
            plural: plural.into(),
            singular: singular.into(),
            fields: Vec::new(),
            validators: Vec::new(),
            local_key: None,
            match_keys: Vec::new(),
            policy: ConflictPolicy::TwentyWins,
        }
    }

    /// Adds a field written by both sides.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap, FieldOwner};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("city", "address.addressCity");
    /// assert_eq!(map.fields()[0].owner, FieldOwner::Both);
    /// assert_eq!(map.to_local(&json!({"address": {"addressCity": "Oslo"}})).value, json!({"city": "Oslo"}));
    /// ```
    pub fn field(self, local_path: &str, twenty_path: &str) -> Self {
        self.owned_field(local_path, twenty_path, FieldOwner::Both)
    }

    /// Adds a field with an owner.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap, FieldOwner};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .owned_field("crm_score", "leadScore", FieldOwner::Twenty);
    /// assert_eq!(map.fields()[0].owner, FieldOwner::Twenty); // pushes never send it
    /// ```
    pub fn owned_field(mut self, local_path: &str, twenty_path: &str, owner: FieldOwner) -> Self {
        self.fields.push(FieldSpec {
            local_path: local_path.to_owned(),
            twenty_path: twenty_path.to_owned(),
            owner,
            conflict_policy: None,
        });
        self
    }

    /// Sets the conflict policy of the field with this local path.
    ///
    /// ```
    /// use twenty_sync_core::engine::{ConflictPolicy, EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("title", "jobTitle")
    ///     .field("phone", "phones.primaryPhoneNumber")
    ///     .field_policy("phone", ConflictPolicy::LocalWins);
    /// assert_eq!(map.fields()[0].conflict_policy, None);
    /// assert_eq!(map.fields()[1].conflict_policy, Some(ConflictPolicy::LocalWins));
    /// ```
    pub fn field_policy(mut self, local_path: &str, policy: ConflictPolicy) -> Self {
        for f in &mut self.fields {
            if f.local_path == local_path {
                f.conflict_policy = Some(policy);
            }
        }
        self
    }

    /// Adds a validation of the local value at `local_path` (mapping to Twenty fails on `Err`).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("email", "emails.primaryEmail")
    ///     .validate("email", |v| match v.as_str() {
    ///         Some(s) if s.contains('@') => Ok(()),
    ///         _ => Err("not an email address".into()),
    ///     });
    /// assert!(map.to_twenty(&json!({"email": "ada@example.com"})).errors.is_empty());
    /// let bad = map.to_twenty(&json!({"email": "ada"}));
    /// assert_eq!(bad.errors[0].reason, "not an email address");
    /// ```
    pub fn validate(
        mut self,
        local_path: &str,
        check: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validators
            .push((local_path.to_owned(), Arc::new(check)));
        self
    }

    /// The local path holding the record's key.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").local_key("crm.id");
    /// assert_eq!(map.local_key_of(&json!({"crm": {"id": "c-1"}})).as_deref(), Some("c-1"));
    /// ```
    pub fn local_key(mut self, local_path: &str) -> Self {
        self.local_key = Some(local_path.to_owned());
        self
    }

    /// Adds a natural key (a Twenty path) used to adopt existing Twenty records.
    ///
    /// ```
    /// use twenty_sync_core::engine::{EntityMapper, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("email", "emails.primaryEmail")
    ///     .match_key("emails.primaryEmail");
    /// assert_eq!(map.match_keys(), ["emails.primaryEmail"]);
    /// ```
    pub fn match_key(mut self, twenty_path: &str) -> Self {
        self.match_keys.push(twenty_path.to_owned());
        self
    }

    /// Sets the entity-level conflict policy (default: [`ConflictPolicy::TwentyWins`]), which
    /// [`EntityMapper::conflict_policy`] then returns.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{resolve, ConflictPolicy, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("title", "jobTitle")
    ///     .on_conflict(ConflictPolicy::LocalWins);
    /// let r = resolve(&map, &json!({"title": "CTO"}), &json!({"title": "CEO"}), None, None);
    /// assert_eq!(r.merged, json!({"title": "CTO"}));
    /// ```
    pub fn on_conflict(mut self, policy: ConflictPolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl EntityMapper for FieldMap {
    fn name(&self) -> &str {
        &self.name
    }
    fn twenty_object(&self) -> &str {
        &self.plural
    }
    fn twenty_object_singular(&self) -> &str {
        &self.singular
    }
    fn match_keys(&self) -> &[String] {
        &self.match_keys
    }
    fn conflict_policy(&self) -> ConflictPolicy {
        self.policy
    }
    fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    fn twenty_fields_read(&self) -> Option<Vec<String>> {
        Some(top_level_fields(
            self.fields
                .iter()
                .map(|f| f.twenty_path.as_str())
                .chain(self.match_keys.iter().map(String::as_str)),
        ))
    }

    fn to_twenty(&self, local: &Value) -> Mapped {
        let mut out = Value::Object(Map::new());
        let mut errors = Vec::new();
        for f in &self.fields {
            if let Some(v) = get_path(local, &f.local_path) {
                set_path(&mut out, &f.twenty_path, v.clone());
            }
        }
        for (path, check) in &self.validators {
            let v = get_path(local, path).unwrap_or(&Value::Null);
            if let Err(reason) = check(v) {
                errors.push(FieldError {
                    field: path.clone(),
                    reason,
                });
            }
        }
        Mapped { value: out, errors }
    }

    fn to_local(&self, twenty: &Value) -> Mapped {
        let mut out = Value::Object(Map::new());
        for f in &self.fields {
            if let Some(v) = get_path(twenty, &f.twenty_path) {
                set_path(&mut out, &f.local_path, v.clone());
            }
        }
        Mapped {
            value: out,
            errors: Vec::new(),
        }
    }

    fn local_key_of(&self, local: &Value) -> Option<String> {
        let path = self.local_key.as_deref()?;
        match get_path(local, path)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// The value at a dotted path (`emails.primaryEmail`), if present.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::get_path;
///
/// let person = json!({"emails": {"primaryEmail": "ada@example.com"}});
/// assert_eq!(get_path(&person, "emails.primaryEmail"), Some(&json!("ada@example.com")));
/// assert_eq!(get_path(&person, "emails.other"), None);
/// ```
pub fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = value;
    for part in path.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    Some(cur)
}

/// Sets the value at a dotted path, creating intermediate objects (non-objects are replaced).
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::set_path;
///
/// let mut person = json!({"name": {"firstName": "Ada"}});
/// set_path(&mut person, "name.lastName", json!("Lovelace"));
/// set_path(&mut person, "emails.primaryEmail", json!("ada@example.com"));
/// assert_eq!(person, json!({"name": {"firstName": "Ada", "lastName": "Lovelace"},
///                           "emails": {"primaryEmail": "ada@example.com"}}));
/// ```
pub fn set_path(value: &mut Value, path: &str, new: Value) {
    let mut cur = value;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else {
            unreachable!("just made an object")
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), new);
            return;
        }
        cur = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A stable content hash: XXH3-128 of a canonical encoding (object keys sorted), as `xxh3-128:`
/// and 32 lowercase hex characters. The same hash as [`twenty_mapping::content_hash`], so hashes
/// computed by a compiled mapping and by the engine agree.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::content_hash;
/// assert_eq!(content_hash(&json!({"a": 1, "b": 2})), content_hash(&json!({"b": 2, "a": 1})));
/// assert_ne!(content_hash(&json!({"a": 1})), content_hash(&json!({"a": 2})));
/// ```
pub fn content_hash(value: &Value) -> String {
    twenty_mapping::content_hash(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_path_creates_nested_objects() {
        let mut v = json!({});
        set_path(&mut v, "a.b.c", json!(1));
        set_path(&mut v, "a.d", json!(2));
        assert_eq!(v, json!({"a": {"b": {"c": 1}, "d": 2}}));
        assert_eq!(get_path(&v, "a.b.c"), Some(&json!(1)));
        assert_eq!(get_path(&v, "a.x"), None);
    }

    #[test]
    fn validators_report_field_errors_without_values() {
        let map = FieldMap::new("c", "people", "person")
            .field("email", "emails.primaryEmail")
            .validate("email", |v| {
                if v.as_str().is_some_and(|s| s.contains('@')) {
                    Ok(())
                } else {
                    Err("not an email address".into())
                }
            });
        let bad = map.to_twenty(&json!({"email": "nope"}));
        assert_eq!(bad.errors.len(), 1);
        assert_eq!(bad.errors[0].field, "email");
        assert!(!bad.errors[0].reason.contains("nope"));
        assert!(map.to_twenty(&json!({"email": "a@b.c"})).errors.is_empty());
    }

    #[test]
    fn a_round_trip_gives_the_same_twenty_record() {
        let map = FieldMap::new("c", "people", "person")
            .field("email", "emails.primaryEmail")
            .field("first", "name.firstName");
        let local = json!({"first": "Ada", "email": "ada@x.io", "extra": 1});
        let tw = map.to_twenty(&local);
        let back = map.to_local(&tw.value);
        assert_eq!(back.value, json!({"email": "ada@x.io", "first": "Ada"}));
        assert_eq!(map.to_twenty(&back.value).value, tw.value);
    }
}
