//! The compiled plan: entities and field rules ready to convert records in both directions.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::config::{ConflictPolicy, Direction, Owner};
use crate::error::{FieldError, TransformError, excerpt};
use crate::hash::{ContentHash, content_hash};
use crate::path::{FieldPath, PositionHint};
use crate::template::{OutputTemplate, put_into_null};
use crate::transform::TransformStep;

/// A validated mapping, ready to apply to any number of records.
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// let out = contacts.to_twenty(&serde_json::json!({"id": 1, "email": "ada@example.com"}));
/// assert_eq!(out.record["emails"]["primaryEmail"], "ada@example.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CompiledMapping {
    pub(crate) entities: BTreeMap<String, EntityPlan>,
}

impl CompiledMapping {
    /// The plan for a local entity name.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// assert_eq!(mapping.entity("contacts").unwrap().twenty_object(), "people");
    /// assert!(mapping.entity("invoices").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entity(&self, name: &str) -> Option<&EntityPlan> {
        self.entities.get(name)
    }

    /// All entity plans, by name.
    ///
    /// ```
    /// use std::path::Path;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/organisations.json");
    /// let mapping = compile(&MappingFile::from_path(&path)?, &TransformRegistry::with_builtins(), None)?;
    /// let objects: Vec<&str> = mapping.entities().map(|e| e.twenty_object()).collect();
    /// assert_eq!(objects, ["people", "companies"]); // `members`, then `organisations`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entities(&self) -> impl Iterator<Item = &EntityPlan> {
        self.entities.values()
    }
}

/// A custom field a mapping needs in Twenty, for the CLI's `setup` (create) and `verify` (check).
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [entities.contacts.custom_fields.tier]
/// type = "SELECT"
/// label = "Tier"
/// options = ["GOLD", "SILVER"]
/// [[entities.contacts.fields]]
/// from = "tier"
/// to = "tier"
/// transforms = ["uppercase"]
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let fields = mapping.entity("contacts").unwrap().required_twenty_fields();
/// assert_eq!((fields[0].name.as_str(), fields[0].field_type.as_str()), ("tier", "SELECT"));
/// assert_eq!((fields[0].label.as_str(), fields[0].options.len()), ("Tier", 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredField {
    /// Field name (camelCase).
    pub name: String,
    /// Twenty type name, e.g. `RAW_JSON`, `SELECT`.
    pub field_type: String,
    /// Human label.
    pub label: String,
    /// Option values (SELECT / MULTI_SELECT).
    pub options: Vec<String>,
    /// Optional description.
    pub description: Option<String>,
    /// Whether the field must be unique.
    pub unique: bool,
}

impl RequiredField {
    /// A readable label for an option value: `EARLY_ADOPTER` → `Early adopter`.
    ///
    /// ```
    /// assert_eq!(twenty_mapping::RequiredField::option_label("EARLY_ADOPTER"), "Early adopter");
    /// ```
    pub fn option_label(value: &str) -> String {
        let lower = value.replace('_', " ").to_lowercase();
        let mut chars = lower.chars();
        match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }
}

/// One entity's compiled rules.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "full_name"
/// to = "name"
/// transforms = ["split_name"]
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// let pushed = contacts.to_twenty(&json!({"id": 3, "full_name": "Ada Lovelace"}));
/// assert_eq!(pushed.record, json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
/// assert_eq!(contacts.to_local(&pushed.record).record, json!({"full_name": "Ada Lovelace"}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EntityPlan {
    pub(crate) name: String,
    pub(crate) twenty_object: String,
    pub(crate) local_key: FieldPath,
    pub(crate) match_keys: Vec<String>,
    pub(crate) direction: Direction,
    pub(crate) conflict: ConflictPolicy,
    pub(crate) fields: Vec<FieldPlan>,
    pub(crate) push_order: Vec<usize>,
    pub(crate) pull_order: Vec<usize>,
    /// The skeleton of push output records, when the push targets are shallow enough.
    pub(crate) push_template: Option<OutputTemplate>,
    /// The skeleton of pull output records, when the local targets are shallow enough.
    pub(crate) pull_template: Option<OutputTemplate>,
    pub(crate) redact_values: bool,
    pub(crate) excerpt_max: usize,
    pub(crate) required_fields: Vec<RequiredField>,
}

impl fmt::Debug for EntityPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityPlan")
            .field("name", &self.name)
            .field("twenty_object", &self.twenty_object)
            .field("direction", &self.direction)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

/// One compiled field rule.
///
/// ```
/// use twenty_mapping::{compile, Direction, MappingFile, Owner, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// [[entities.contacts.fields]]
/// from = ["first", "last"]
/// to = "jobTitle"
/// transforms = ["concat"]
/// direction = "push"
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let rule = &mapping.entity("contacts").unwrap().fields()[1];
/// assert_eq!(rule.local_paths().collect::<Vec<_>>(), ["first", "last"]);
/// assert_eq!((rule.twenty_path(), rule.direction()), ("jobTitle", Direction::Push));
/// assert_eq!((rule.index(), rule.rule_path()), (1, "entities.contacts.fields[1]"));
/// assert_eq!(rule.owner(), Owner::Both);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FieldPlan {
    pub(crate) index: usize,
    pub(crate) rule_path: String,
    pub(crate) local: Vec<FieldPath>,
    pub(crate) twenty: FieldPath,
    pub(crate) steps: Vec<Box<dyn TransformStep>>,
    /// Steps applied on pull, already in application order; `None` when the rule does not pull.
    pub(crate) inverse: Option<Vec<Box<dyn TransformStep>>>,
    pub(crate) default: Option<Value>,
    pub(crate) required: bool,
    pub(crate) owner: Owner,
    pub(crate) conflict: Option<ConflictPolicy>,
    pub(crate) direction: Direction,
    /// Position of the (single) local source's first key in the last local record read.
    pub(crate) local_hint: PositionHint,
    /// Position of the Twenty path's first key in the last Twenty record read.
    pub(crate) twenty_hint: PositionHint,
}

impl fmt::Debug for FieldPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldPlan")
            .field("rule", &self.rule_path)
            .field("local", &self.local)
            .field("twenty", &self.twenty.as_str())
            .field("steps", &self.steps.len())
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

impl FieldPlan {
    /// The (first) local source path; empty for rules without a source (e.g. `constant`).
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "contact.email"
    /// to = "emails.primaryEmail"
    /// [[entities.contacts.fields]]
    /// to = "city"
    /// transforms = [{ name = "constant", value = "Paris" }]
    /// direction = "push"
    /// "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let [email, city] = mapping.entity("contacts").unwrap().fields() else { panic!() };
    /// assert_eq!(email.local_path(), "contact.email");
    /// assert_eq!(city.local_path(), ""); // no source
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_path(&self) -> &str {
        self.local.first().map_or("", FieldPath::as_str)
    }

    /// All local source paths (several for combining rules).
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = ["work_email", "home_email"]
    /// to = "emails.primaryEmail"
    /// transforms = ["coalesce"]
    /// direction = "push"
    /// "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let rule = &mapping.entity("contacts").unwrap().fields()[0];
    /// assert_eq!(rule.local_paths().collect::<Vec<_>>(), ["work_email", "home_email"]);
    /// assert_eq!(rule.local_path(), "work_email");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_paths(&self) -> impl Iterator<Item = &str> {
        self.local.iter().map(FieldPath::as_str)
    }

    /// The Twenty target path.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "first"
    /// # to = "name.firstName"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let rule = &mapping.entity("contacts").unwrap().fields()[0];
    /// assert_eq!((rule.local_path(), rule.twenty_path()), ("first", "name.firstName"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn twenty_path(&self) -> &str {
        self.twenty.as_str()
    }

    /// Which side owns the field.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, Owner, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # owner = "local"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let [email, title] = mapping.entity("contacts").unwrap().fields() else { panic!() };
    /// assert_eq!(email.owner(), Owner::Local); // `owner = "local"`
    /// assert_eq!(title.owner(), Owner::Both); // the default
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The per-field conflict policy override, if any.
    ///
    /// ```
    /// use twenty_mapping::{compile, ConflictPolicy, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # conflict = "twenty_wins"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let [email, title] = mapping.entity("contacts").unwrap().fields() else { panic!() };
    /// assert_eq!(email.conflict_policy(), None); // follows the entity
    /// assert_eq!(title.conflict_policy(), Some(ConflictPolicy::TwentyWins));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn conflict_policy(&self) -> Option<ConflictPolicy> {
        self.conflict
    }

    /// Whether a record without this field is rejected.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # required = true
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let [email, title] = mapping.entity("contacts").unwrap().fields() else { panic!() };
    /// assert!(email.required() && !title.required());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn required(&self) -> bool {
        self.required
    }

    /// The rule's effective direction.
    ///
    /// ```
    /// use twenty_mapping::{compile, Direction, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # direction = "pull"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let [email, title] = mapping.entity("contacts").unwrap().fields() else { panic!() };
    /// assert_eq!(email.direction(), Direction::Both); // the entity's
    /// assert_eq!(title.direction(), Direction::Pull); // `direction = "pull"`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Index of the rule in the entity's `fields`.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let title = mapping.entity("contacts").unwrap().fields().iter()
    ///     .find(|f| f.twenty_path() == "jobTitle").unwrap();
    /// assert_eq!(title.index(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where the rule is in the mapping file, e.g. `entities.contacts.fields[2]`.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let rule = &mapping.entity("contacts").unwrap().fields()[0];
    /// assert_eq!(rule.rule_path(), "entities.contacts.fields[0]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rule_path(&self) -> &str {
        &self.rule_path
    }
}

/// A mapped record and its per-field errors ([`content_hash`](Self::content_hash) hashes the
/// record).
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// # let file = MappingFile::from_toml_str(r#"
/// # [entities.contacts]
/// # twenty_object = "people"
/// # local_key = "id"
/// # [[entities.contacts.fields]]
/// # from = "email"
/// # to = "emails.primaryEmail"
/// # transforms = ["email"]
/// # [[entities.contacts.fields]]
/// # from = "title"
/// # to = "jobTitle"
/// # "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// let mapped = contacts.to_twenty(&json!({"id": 1, "email": "nope", "title": "CTO"}));
/// assert_eq!(mapped.record, json!({"jobTitle": "CTO"})); // the good field still maps
/// assert_eq!(mapped.errors.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The converted record (only allowlisted fields).
    pub record: Value,
    /// Fields that could not be converted; the rest of the record is still there.
    pub errors: Vec<FieldError>,
}

impl Mapped {
    /// True when a `required` rule failed: the record must not be written.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # transforms = ["email"]
    /// # required = true
    /// # [[entities.contacts.fields]]
    /// # from = "phone"
    /// # to = "phones"
    /// # transforms = ["phone"]
    /// # "#, "contacts.toml")?;
    /// // `email` is required, `phone` is not.
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// assert!(contacts.to_twenty(&json!({"id": 1, "phone": "+44 20 7946 0958"})).is_rejected());
    /// let bad_phone = contacts.to_twenty(&json!({"id": 2, "email": "a@b.co", "phone": "12"}));
    /// assert!(!bad_phone.is_rejected() && !bad_phone.is_clean());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_rejected(&self) -> bool {
        self.errors.iter().any(|e| e.required)
    }

    /// True when every rule converted cleanly.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # transforms = ["email"]
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// assert!(contacts.to_twenty(&json!({"id": 1, "email": "ada@example.com"})).is_clean());
    /// assert!(!contacts.to_twenty(&json!({"id": 2, "email": "ada"})).is_clean());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// The stable [`content_hash`] of [`record`](Self::record): equal for equal records whatever
    /// their key order, so a caller can skip a write that changes nothing.
    ///
    /// Computed when asked for, not by the mapping: a caller that hashes something else (the sync
    /// core hashes each record's views, the fields one direction writes, with
    /// [`PathsHash`](crate::PathsHash)) or nothing at all does not pay for it.
    ///
    /// ```
    /// use twenty_mapping::{compile, content_hash, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.people]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.people.fields]]
    /// from = "first"
    /// to = "name.firstName"
    /// [[entities.people.fields]]
    /// from = "city"
    /// to = "city"
    /// "#, "m.toml").unwrap();
    /// let plan = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let people = plan.entity("people").unwrap();
    /// let a = people.to_twenty(&serde_json::json!({"id": 1, "first": "Ada", "city": "Paris"}));
    /// let b = people.to_twenty(&serde_json::json!({"city": "Paris", "first": "Ada", "id": 2}));
    /// assert_eq!(a.content_hash(), b.content_hash()); // the key is not mapped
    /// assert_eq!(a.content_hash(), content_hash(&serde_json::json!(
    ///     {"city": "Paris", "name": {"firstName": "Ada"}})));
    /// ```
    pub fn content_hash(&self) -> ContentHash {
        content_hash(&self.record)
    }
}

/// Runs a pipeline on a borrowed input: the first step reads it in place
/// ([`TransformStep::apply_ref`]), so only what the pipeline outputs is allocated.
fn run(steps: &[Box<dyn TransformStep>], input: &Value) -> Result<Value, TransformError> {
    let Some((first, rest)) = steps.split_first() else {
        return Ok(input.clone());
    };
    if input.is_null() && !first.handles_null() {
        return Ok(Value::Null);
    }
    let mut value = first.apply_ref(input)?;
    for step in rest {
        if value.is_null() && !step.handles_null() {
            return Ok(Value::Null);
        }
        value = step.apply(value)?;
    }
    Ok(value)
}

static NULL: Value = Value::Null;

/// Up to this many push rules, [`EntityPlan::to_twenty`] looks all single sources up first.
const GATHER: usize = 32;

/// The mapped record: built from the rules' `slots` when there is a template (`record` is then
/// unused), otherwise `record` as the rules wrote it.
fn finish_record(
    template: Option<&OutputTemplate>,
    slots: &mut [Value],
    record: Value,
    errors: Vec<FieldError>,
) -> Mapped {
    let record = match template {
        Some(t) => t.fill(&mut slots[..t.rules()]),
        None => record,
    };
    Mapped { record, errors }
}

/// The slots for the values of `template`'s rules: on the stack for up to `GATHER` rules (the
/// usual case, no allocation), otherwise in `heap`.
fn slots_for<'s>(
    template: Option<&OutputTemplate>,
    stack: &'s mut [Value; GATHER],
    heap: &'s mut Vec<Value>,
) -> &'s mut [Value] {
    match template {
        Some(t) if t.rules() > GATHER => {
            heap.resize(t.rules(), Value::Null);
            heap
        }
        _ => stack,
    }
}

/// Skips the drop of the stack slots once `finish_record` has moved every value out (or none was
/// written): dropping would only walk `GATHER` nulls, which costs more than a small record's
/// rules. Nothing leaks: a null owns no memory.
fn forget_emptied(slots: [Value; GATHER]) {
    debug_assert!(slots.iter().all(Value::is_null));
    std::mem::forget(slots);
}

fn absent(v: &Value) -> bool {
    v.is_null()
}

impl EntityPlan {
    /// Local entity name.
    ///
    /// ```
    /// use twenty_mapping::{compile, ConflictPolicy, Direction, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "contact.id"
    /// match_keys = ["emails.primaryEmail"]
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// assert_eq!((contacts.name(), contacts.twenty_object()), ("contacts", "people"));
    /// assert_eq!(contacts.local_key(), "contact.id");
    /// assert_eq!(contacts.match_keys(), ["emails.primaryEmail"]);
    /// assert_eq!(contacts.direction(), Direction::Both);
    /// assert_eq!(contacts.conflict_policy(), ConflictPolicy::LocalWins);
    /// assert_eq!(contacts.fields().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Twenty object, plural API name.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.orgs]
    /// # twenty_object = "companies"
    /// # local_key = "id"
    /// # [[entities.orgs.fields]]
    /// # from = "name"
    /// # to = "name"
    /// # "#, "orgs.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// assert_eq!(mapping.entity("orgs").unwrap().twenty_object(), "companies");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn twenty_object(&self) -> &str {
        &self.twenty_object
    }

    /// Path of the local record's key.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "meta.uid"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// assert_eq!(mapping.entity("contacts").unwrap().local_key(), "meta.uid");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_key(&self) -> &str {
        self.local_key.as_str()
    }

    /// Twenty paths used to find an existing record.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # match_keys = ["emails.primaryEmail"]
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// assert_eq!(mapping.entity("contacts").unwrap().match_keys(), ["emails.primaryEmail"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn match_keys(&self) -> &[String] {
        &self.match_keys
    }

    /// Which way records flow.
    ///
    /// ```
    /// use twenty_mapping::{compile, Direction, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # direction = "push"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// assert_eq!(contacts.direction(), Direction::Push);
    /// assert_eq!(contacts.fields()[0].direction(), Direction::Push); // inherited from the entity
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Entity-level default conflict policy.
    ///
    /// ```
    /// use twenty_mapping::{compile, ConflictPolicy, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # conflict = "newest_wins"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// assert_eq!(mapping.entity("contacts").unwrap().conflict_policy(), ConflictPolicy::NewestWins);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn conflict_policy(&self) -> ConflictPolicy {
        self.conflict
    }

    /// The compiled field rules, in file order.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let targets: Vec<&str> = mapping.entity("contacts").unwrap().fields().iter()
    ///     .map(|f| f.twenty_path()).collect();
    /// assert_eq!(targets, ["emails.primaryEmail", "jobTitle"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fields(&self) -> &[FieldPlan] {
        &self.fields
    }

    /// Whether a push writes `field` to Twenty: its direction pushes and `allow_push` (if any)
    /// lets it out. A field that does not is never in [`to_twenty`](Self::to_twenty)'s output.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// [[entities.contacts.fields]]
    /// from = "phone"
    /// to = "phones.primaryPhoneNumber"
    /// direction = "pull"
    /// "#, "contacts.toml").unwrap();
    /// let plan = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let people = plan.entity("contacts").unwrap();
    /// let [email, phone] = people.fields() else { panic!() };
    /// assert!(people.pushes(email) && people.pulls(email));
    /// assert!(!people.pushes(phone) && people.pulls(phone));
    /// ```
    pub fn pushes(&self, field: &FieldPlan) -> bool {
        self.push_order
            .iter()
            .any(|&i| std::ptr::eq(&self.fields[i], field))
    }

    /// Whether a pull writes `field` locally: its direction pulls, it has an inverse, and
    /// `allow_pull` (if any) lets it in. See [`pushes`](Self::pushes) for an example.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # allow_pull = ["email"]
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # "#, "contacts.toml")?;
    /// // `allow_pull = ["email"]`: only the email comes back from Twenty.
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// let [email, title] = contacts.fields() else { panic!() };
    /// assert!(contacts.pulls(email) && !contacts.pulls(title));
    /// assert!(contacts.pushes(title));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pulls(&self, field: &FieldPlan) -> bool {
        self.pull_order
            .iter()
            .any(|&i| std::ptr::eq(&self.fields[i], field))
    }

    /// The effective conflict policy of a rule (its override or the entity default).
    ///
    /// ```
    /// use twenty_mapping::{compile, ConflictPolicy, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # conflict = "newest_wins"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # [[entities.contacts.fields]]
    /// # from = "title"
    /// # to = "jobTitle"
    /// # conflict = "local_wins"
    /// # "#, "contacts.toml")?;
    /// // Entity policy `newest_wins`; the `jobTitle` rule overrides it with `local_wins`.
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// let [email, title] = contacts.fields() else { panic!() };
    /// assert_eq!(contacts.field_conflict_policy(email), ConflictPolicy::NewestWins);
    /// assert_eq!(contacts.field_conflict_policy(title), ConflictPolicy::LocalWins);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn field_conflict_policy(&self, field: &FieldPlan) -> ConflictPolicy {
        field.conflict.unwrap_or(self.conflict)
    }

    /// Custom fields the mapping declares, for `setup` / `verify`.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [entities.contacts.custom_fields.llmContext]
    /// type = "RAW_JSON"
    /// description = "Context for assistants"
    /// [[entities.contacts.fields]]
    /// from = "context"
    /// to = "llmContext"
    /// "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let needed = mapping.entity("contacts").unwrap().required_twenty_fields();
    /// assert_eq!(needed.len(), 1);
    /// assert_eq!((needed[0].name.as_str(), needed[0].field_type.as_str()), ("llmContext", "RAW_JSON"));
    /// assert_eq!(needed[0].description.as_deref(), Some("Context for assistants"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn required_twenty_fields(&self) -> Vec<RequiredField> {
        self.required_fields.clone()
    }

    /// The local key of a record as text (strings as-is, numbers formatted); `None` when missing.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "email"
    /// # to = "emails.primaryEmail"
    /// # "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap(); // local_key = "id"
    /// assert_eq!(contacts.local_key_of(&json!({"id": 42})).as_deref(), Some("42"));
    /// assert_eq!(contacts.local_key_of(&json!({"id": "c-7"})).as_deref(), Some("c-7"));
    /// assert_eq!(contacts.local_key_of(&json!({"email": "a@b.co"})), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_key_of(&self, local: &Value) -> Option<String> {
        match self.local_key.get(local)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn field_error(
        &self,
        rule: &FieldPlan,
        field: &str,
        reason: String,
        value: Option<&Value>,
    ) -> FieldError {
        FieldError {
            entity: self.name.clone(),
            field: field.to_owned(),
            rule: rule.rule_path.clone(),
            rule_index: rule.index,
            reason,
            excerpt: if self.redact_values {
                None
            } else {
                value
                    .filter(|v| !v.is_null())
                    .map(|v| excerpt(v, self.excerpt_max))
            },
            required: rule.required,
        }
    }

    /// Converts a local record to a Twenty record (push). Only allowlisted targets are written;
    /// a failing field is reported in `errors` and left out, the other fields still map.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "full_name"
    /// to = "name"
    /// transforms = ["collapse_whitespace", "split_name"]
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// transforms = ["email"]
    /// "#, "m.toml").unwrap();
    /// let plan = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let people = plan.entity("contacts").unwrap();
    /// let out = people.to_twenty(&serde_json::json!({"id": 1, "full_name": "Ada  Lovelace", "email": "nope"}));
    /// assert_eq!(out.record, serde_json::json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
    /// assert_eq!(out.errors[0].field, "emails.primaryEmail");
    /// assert_eq!(out.errors[0].reason, "email has no '@'");
    /// ```
    pub fn to_twenty(&self, local: &Value) -> Mapped {
        // With a template, each rule's value goes to its slot and the record is built (and
        // hashed) from the slots at the end; otherwise values are written through their paths.
        let template = self.push_template.as_ref();
        let mut stack_slots = [const { Value::Null }; GATHER];
        let mut heap_slots = Vec::new();
        let slots = slots_for(template, &mut stack_slots, &mut heap_slots);
        let mut record = match template {
            Some(_) => Value::Null,
            None => Value::Object(Map::with_capacity(self.push_order.len())),
        };
        let mut errors = Vec::new();
        // Single sources are all looked up first, in one tight loop: the record is usually cold
        // in cache, and independent lookups let the CPU wait for several of its lines at once.
        let mut sources: [&Value; GATHER] = [&NULL; GATHER];
        let gathered_first = self.push_order.len() <= GATHER;
        if gathered_first {
            for (slot, &i) in sources.iter_mut().zip(&self.push_order) {
                let rule = &self.fields[i];
                if let [one] = rule.local.as_slice() {
                    *slot = one.get_hinted(local, &rule.local_hint).unwrap_or(&NULL);
                }
            }
        }
        for (n, &i) in self.push_order.iter().enumerate() {
            let rule = &self.fields[i];
            // Combining rules gather their sources into an array; the others borrow the record.
            let gathered;
            let input: &Value = match rule.local.as_slice() {
                [] => &NULL,
                [_] if gathered_first => sources[n],
                [one] => one.get_hinted(local, &rule.local_hint).unwrap_or(&NULL),
                many => {
                    let items: Vec<Value> = many
                        .iter()
                        .map(|p| p.get(local).cloned().unwrap_or(Value::Null))
                        .collect();
                    gathered = if items.iter().all(absent) {
                        Value::Null
                    } else {
                        Value::Array(items)
                    };
                    &gathered
                }
            };
            let input = match (input, &rule.default) {
                (Value::Null, Some(d)) => d,
                _ => input,
            };
            let source_for_excerpt = || rule.local.first().and_then(|p| p.get(local));
            match run(&rule.steps, input) {
                Ok(Value::Null) => {
                    if rule.required {
                        errors.push(self.field_error(
                            rule,
                            rule.twenty.as_str(),
                            format!(
                                "required value is missing (source `{}`); set it or give the rule a `default`",
                                rule.local_path()
                            ),
                            None,
                        ));
                    }
                }
                Ok(value) => match template {
                    Some(_) => put_into_null(&mut slots[n], value),
                    None => rule.twenty.set(&mut record, value),
                },
                Err(e) => errors.push(self.field_error(
                    rule,
                    rule.twenty.as_str(),
                    e.reason,
                    source_for_excerpt(),
                )),
            }
        }
        let mapped = finish_record(template, slots, record, errors);
        forget_emptied(stack_slots);
        mapped
    }

    /// Converts a Twenty record to a local record (pull), running each rule's inverse.
    /// Only allowlisted local paths are written.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "full_name"
    /// to = "name"
    /// transforms = ["split_name"]
    /// [[entities.contacts.fields]]
    /// from = "context"
    /// to = "llmContext"
    /// transforms = ["json_encode"]
    /// "#, "contacts.toml")?;
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
    /// let contacts = mapping.entity("contacts").unwrap();
    /// let twenty = json!({"id": "a1b2", "name": {"firstName": "Ada", "lastName": "Lovelace"},
    ///                     "llmContext": "{\"topics\":[\"math\"]}"});
    /// let local = contacts.to_local(&twenty);
    /// assert!(local.is_clean());
    /// assert_eq!(local.record, json!({"full_name": "Ada Lovelace", "context": {"topics": ["math"]}}));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_local(&self, twenty: &Value) -> Mapped {
        // As in `to_twenty`: with a template, values go to slots and the record is built last.
        let template = self.pull_template.as_ref();
        let mut stack_slots = [const { Value::Null }; GATHER];
        let mut heap_slots = Vec::new();
        let slots = slots_for(template, &mut stack_slots, &mut heap_slots);
        let mut record = match template {
            Some(_) => Value::Null,
            None => Value::Object(Map::with_capacity(self.pull_order.len())),
        };
        let mut errors = Vec::new();
        for (n, &i) in self.pull_order.iter().enumerate() {
            let rule = &self.fields[i];
            let Some(steps) = &rule.inverse else { continue };
            let input = rule
                .twenty
                .get_hinted(twenty, &rule.twenty_hint)
                .unwrap_or(&NULL);
            let local_name = rule.local_path();
            if input.is_null() {
                if rule.required {
                    errors.push(self.field_error(
                        rule,
                        local_name,
                        format!("required value is missing in Twenty (`{}`)", rule.twenty),
                        None,
                    ));
                }
                continue;
            }
            match run(steps, input) {
                Ok(Value::Null) => {}
                Ok(value) => match rule.local.as_slice() {
                    [_] if template.is_some() => put_into_null(&mut slots[n], value),
                    [one] => one.set(&mut record, value),
                    many => match value {
                        Value::Array(items) if items.len() == many.len() => {
                            for (path, item) in many.iter().zip(items) {
                                if !item.is_null() {
                                    path.set(&mut record, item);
                                }
                            }
                        }
                        _ => errors.push(self.field_error(
                            rule,
                            local_name,
                            format!(
                                "the inverse must produce an array of {} values for the {} local paths",
                                many.len(),
                                many.len()
                            ),
                            rule.twenty.get(twenty),
                        )),
                    },
                },
                Err(e) => errors.push(self.field_error(rule, local_name, e.reason, rule.twenty.get(twenty))),
            }
        }
        let mapped = finish_record(template, slots, record, errors);
        forget_emptied(stack_slots);
        mapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MappingFile, TransformRegistry, compile};
    use serde_json::json;

    /// An entity whose first rule writes `name.firstName`, then `city`, then `name.lastName`,
    /// then `extra` more plain fields.
    fn entity(extra: usize) -> CompiledMapping {
        let mut toml = String::from(
            "[entities.people]\ntwenty_object = \"people\"\nlocal_key = \"id\"\n\
             [[entities.people.fields]]\nfrom = \"first\"\nto = \"name.firstName\"\n\
             [[entities.people.fields]]\nfrom = \"city\"\nto = \"city\"\n\
             [[entities.people.fields]]\nfrom = \"last\"\nto = \"name.lastName\"\n",
        );
        for i in 0..extra {
            toml.push_str(&format!(
                "[[entities.people.fields]]\nfrom = \"l{i}\"\nto = \"t{i}\"\n"
            ));
        }
        let file = MappingFile::from_toml_str(&toml, "m.toml").unwrap();
        compile(&file, &TransformRegistry::with_builtins(), None).unwrap()
    }

    #[test]
    fn records_list_keys_in_skeleton_order_with_few_and_many_rules() {
        // With `first` missing, `name` still comes first: the skeleton's order, for templates
        // whose slots fit on the stack and for those that do not.
        for extra in [0, 2, GATHER, GATHER + 8] {
            let mapping = entity(extra);
            let plan = mapping.entity("people").unwrap();
            assert!(plan.push_template.is_some() && plan.pull_template.is_some());
            let mut local = json!({"id": 1, "city": "Paris", "last": "Lovelace"});
            for i in 0..extra {
                local[format!("l{i}")] = json!(i);
            }
            let pushed = plan.to_twenty(&local);
            let mut want = String::from(r#"{"name":{"lastName":"Lovelace"},"city":"Paris""#);
            for i in 0..extra {
                want.push_str(&format!(r#","t{i}":{i}"#));
            }
            want.push('}');
            assert_eq!(
                serde_json::to_string(&pushed.record).unwrap(),
                want,
                "{extra}"
            );

            let pulled = plan.to_local(&pushed.record);
            let mut want = String::from(r#"{"city":"Paris","last":"Lovelace""#);
            for i in 0..extra {
                want.push_str(&format!(r#","l{i}":{i}"#));
            }
            want.push('}');
            assert_eq!(
                serde_json::to_string(&pulled.record).unwrap(),
                want,
                "{extra}"
            );
        }
    }
}
