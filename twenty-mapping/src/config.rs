//! The mapping file: serde structures for TOML and JSON, and syntax errors with line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// A parsed mapping file: one file describes several entities.
///
/// ```
/// use twenty_mapping::MappingFile;
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// match_keys = ["emails.primaryEmail"]
///
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// transforms = ["email"]
/// "#, "contacts.toml").unwrap();
/// assert_eq!(file.entities["contacts"].twenty_object, "people");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Format version; only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Entities by local name.
    pub entities: BTreeMap<String, EntityConfig>,
}

fn default_version() -> u32 {
    1
}

/// Which way records flow for an entity or a rule.
///
/// ```
/// use twenty_mapping::{compile, Direction, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// direction = "push"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// "#, "contacts.toml")?;
/// assert_eq!(file.entities["contacts"].direction, Direction::Push);
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// assert!(contacts.direction().pushes() && !contacts.direction().pulls());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// Local to Twenty only.
    Push,
    /// Twenty to local only.
    Pull,
    /// Both ways.
    Both,
}

impl Direction {
    /// True when records flow local → Twenty.
    ///
    /// ```
    /// use twenty_mapping::Direction;
    /// assert!(Direction::Push.pushes() && Direction::Both.pushes());
    /// assert!(!Direction::Pull.pushes());
    /// ```
    pub fn pushes(self) -> bool {
        matches!(self, Direction::Push | Direction::Both)
    }
    /// True when records flow Twenty → local.
    ///
    /// ```
    /// use twenty_mapping::Direction;
    /// assert!(Direction::Pull.pulls() && Direction::Both.pulls());
    /// assert!(!Direction::Push.pulls());
    /// ```
    pub fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::Both)
    }
}

/// How the sync core settles a field changed on both sides since the last sync.
///
/// ```
/// use twenty_mapping::{compile, ConflictPolicy, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// conflict = "newest_wins"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// [[entities.contacts.fields]]
/// from = "title"
/// to = "jobTitle"
/// conflict = "twenty_wins"
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// let [email, title] = contacts.fields() else { panic!("two rules") };
/// assert_eq!(contacts.field_conflict_policy(email), ConflictPolicy::NewestWins);
/// assert_eq!(contacts.field_conflict_policy(title), ConflictPolicy::TwentyWins);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// The local system of record wins.
    LocalWins,
    /// Twenty wins.
    TwentyWins,
    /// The most recently updated side wins.
    NewestWins,
}

/// Which side owns a field (informs the sync core's conflict handling).
///
/// ```
/// use twenty_mapping::{compile, MappingFile, Owner, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "title"
/// to = "jobTitle"
/// owner = "twenty"
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let title = &mapping.entity("contacts").unwrap().fields()[0];
/// assert_eq!(title.owner(), Owner::Twenty);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Owner {
    /// The local system owns the field.
    Local,
    /// Twenty owns the field.
    Twenty,
    /// Both sides may change it.
    Both,
}

/// One entity: a local record type mapped to one Twenty object.
///
/// ```
/// use twenty_mapping::{ConflictPolicy, Direction, MappingFile};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// match_keys = ["emails.primaryEmail"]
/// allow_push = ["emails"]
/// "#, "contacts.toml")?;
/// let contacts = &file.entities["contacts"];
/// assert_eq!(contacts.match_keys, ["emails.primaryEmail"]);
/// assert_eq!(contacts.allow_push.as_deref(), Some(&["emails".to_owned()][..]));
/// // Defaults of the keys the file leaves out:
/// assert_eq!((contacts.direction, contacts.conflict), (Direction::Both, ConflictPolicy::LocalWins));
/// assert!(contacts.fields.is_empty() && contacts.allow_pull.is_none() && !contacts.redact_values);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    /// Twenty object, plural API name (`people`, `companies`, or a custom object's plural).
    pub twenty_object: String,
    /// Path of the local record's key.
    pub local_key: String,
    /// Twenty paths used to find an existing record (e.g. `emails.primaryEmail`).
    #[serde(default)]
    pub match_keys: Vec<String>,
    /// Direction of the entity (default `both`).
    #[serde(default = "default_direction")]
    pub direction: Direction,
    /// Default conflict policy for this entity's fields (default `local_wins`).
    #[serde(default = "default_conflict")]
    pub conflict: ConflictPolicy,
    /// Twenty paths that may be sent to Twenty; anything not covered never leaves. Absent: every
    /// rule target may be sent.
    #[serde(default)]
    pub allow_push: Option<Vec<String>>,
    /// Local paths that may be written from Twenty. Absent: every rule source may be written.
    #[serde(default)]
    pub allow_pull: Option<Vec<String>>,
    /// Replace value excerpts in field errors with nothing (personal data never reaches logs).
    #[serde(default)]
    pub redact_values: bool,
    /// Maximum characters of a value excerpt in a field error (default 32).
    #[serde(default)]
    pub excerpt_max: Option<usize>,
    /// Custom fields this mapping needs in Twenty, by (camelCase) name.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, CustomFieldConfig>,
    /// Field rules, in order.
    #[serde(default)]
    pub fields: Vec<FieldRule>,
}

fn default_direction() -> Direction {
    Direction::Both
}

fn default_conflict() -> ConflictPolicy {
    ConflictPolicy::LocalWins
}

/// A custom field the mapping needs in Twenty (created by `setup`, checked by `verify`).
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [entities.contacts.custom_fields.relationshipCategory]
/// type = "SELECT"
/// options = ["FRIEND", "CLIENT"]
/// [[entities.contacts.fields]]
/// from = "relationship"
/// to = "relationshipCategory"
/// transforms = ["uppercase"]
/// "#, "contacts.toml")?;
/// let decl = &file.entities["contacts"].custom_fields["relationshipCategory"];
/// assert_eq!((decl.field_type.as_str(), decl.options.len()), ("SELECT", 2));
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let needed = mapping.entity("contacts").unwrap().required_twenty_fields();
/// assert_eq!(needed[0].label, "relationshipCategory"); // the label defaults to the name
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldConfig {
    /// Twenty field type (`TEXT`, `RAW_JSON`, `SELECT`, ...).
    #[serde(rename = "type")]
    pub field_type: String,
    /// Human label; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    /// Option values for `SELECT` / `MULTI_SELECT`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether Twenty should enforce uniqueness.
    #[serde(default)]
    pub unique: bool,
}

/// A field rule: a local path (or several) to a Twenty path through a pipeline of transforms.
///
/// ```
/// use twenty_mapping::{MappingFile, Source};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// transforms = [{ name = "email", lowercase_local = true }]
/// required = true
/// "#, "contacts.toml")?;
/// let rule = &file.entities["contacts"].fields[0];
/// assert_eq!(rule.from, Some(Source::One("email".into())));
/// assert_eq!(rule.to, "emails.primaryEmail");
/// assert_eq!(rule.transforms[0].name, "email");
/// assert!(rule.required && rule.inverse.is_none() && rule.default.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Local source path(s); several sources give the pipeline a JSON array.
    #[serde(default)]
    pub from: Option<Source>,
    /// Twenty target path, e.g. `name.firstName` or a custom field.
    pub to: String,
    /// Transforms applied in order on push.
    #[serde(default)]
    pub transforms: Vec<TransformSpec>,
    /// Explicit inverse pipeline for pull (applied to the Twenty value, in order).
    #[serde(default)]
    pub inverse: Option<Vec<TransformSpec>>,
    /// Rule direction; defaults to the entity's.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Value used when the source is missing or null.
    #[serde(default)]
    pub default: Option<Value>,
    /// A record without a value for this rule is rejected.
    #[serde(default)]
    pub required: bool,
    /// Which side owns the field (default `both`).
    #[serde(default)]
    pub owner: Option<Owner>,
    /// Per-field conflict policy override.
    #[serde(default)]
    pub conflict: Option<ConflictPolicy>,
}

/// One or several local source paths.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{compile, MappingFile, Source, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = ["street", "town"]
/// to = "city"
/// transforms = [{ name = "concat", separator = ", " }]
/// direction = "push"
/// "#, "contacts.toml")?;
/// let from = file.entities["contacts"].fields[0].from.clone();
/// assert_eq!(from, Some(Source::Many(vec!["street".into(), "town".into()])));
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let out = mapping.entity("contacts").unwrap()
///     .to_twenty(&json!({"id": 1, "street": "1 Main St", "town": "Leeds"}));
/// assert_eq!(out.record, json!({"city": "1 Main St, Leeds"}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// A single path.
    One(String),
    /// Several paths; the pipeline receives an array.
    Many(Vec<String>),
}

/// A transform in a pipeline: a bare name (`"trim"`) or a table with `name` and arguments
/// (`{ name = "phone", default_region = "GB" }`).
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::TransformSpec;
/// let bare: TransformSpec = serde_json::from_value(json!("trim"))?;
/// assert_eq!((bare.name.as_str(), bare.args.len()), ("trim", 0));
/// let table: TransformSpec = serde_json::from_value(json!({"name": "phone", "default_region": "GB"}))?;
/// assert_eq!(table.name, "phone");
/// assert_eq!(table.args["default_region"], "GB");
/// assert!(serde_json::from_value::<TransformSpec>(json!({"default_region": "GB"})).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct TransformSpec {
    /// The registered transform name.
    pub name: String,
    /// Arguments (every key except `name`).
    pub args: Map<String, Value>,
}

impl TryFrom<Value> for TransformSpec {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match value {
            Value::String(name) => Ok(TransformSpec {
                name,
                args: Map::new(),
            }),
            Value::Object(mut args) => match args.remove("name") {
                Some(Value::String(name)) => Ok(TransformSpec { name, args }),
                Some(_) => Err("transform `name` must be a string".to_owned()),
                None => {
                    Err("a transform table needs a `name` key, e.g. { name = \"trim\" }".to_owned())
                }
            },
            _ => Err("a transform is a name string or a table with `name`".to_owned()),
        }
    }
}

impl From<TransformSpec> for Value {
    fn from(spec: TransformSpec) -> Value {
        if spec.args.is_empty() {
            return Value::String(spec.name);
        }
        let mut map = Map::new();
        map.insert("name".to_owned(), Value::String(spec.name));
        map.extend(spec.args);
        Value::Object(map)
    }
}

impl MappingFile {
    /// Parses a TOML mapping file; `origin` names the file in error messages.
    ///
    /// ```
    /// use twenty_mapping::MappingFile;
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// "#, "contacts.toml")?;
    /// assert_eq!(file.entities["contacts"].local_key, "id");
    ///
    /// let err = MappingFile::from_toml_str("[entities.contacts]\ntwenty_object = 42\n", "bad.toml")
    ///     .unwrap_err();
    /// assert_eq!((err.file.as_str(), err.line), ("bad.toml", 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_toml_str(src: &str, origin: &str) -> Result<MappingFile, ConfigError> {
        toml::from_str(src).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_col(src, span.start))
                .unwrap_or((0, 0));
            ConfigError::new(origin, line, column, e.message().trim_end().to_owned())
        })
    }

    /// Parses a JSON mapping file; `origin` names the file in error messages.
    ///
    /// ```
    /// use twenty_mapping::MappingFile;
    /// let file = MappingFile::from_json_str(r#"{
    ///   "entities": {"orgs": {"twenty_object": "companies", "local_key": "id",
    ///                         "fields": [{"from": "name", "to": "name", "transforms": ["trim"]}]}}
    /// }"#, "orgs.json")?;
    /// assert_eq!(file.entities["orgs"].fields[0].to, "name");
    ///
    /// let err = MappingFile::from_json_str("{\n  \"entities\": 3\n}", "bad.json").unwrap_err();
    /// assert_eq!((err.file.as_str(), err.line), ("bad.json", 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json_str(src: &str, origin: &str) -> Result<MappingFile, ConfigError> {
        serde_json::from_str(src).map_err(|e| {
            let message = strip_json_position(&e.to_string());
            ConfigError::new(origin, e.line(), e.column(), message)
        })
    }

    /// Reads a mapping file, choosing the format by extension (`.toml` or `.json`).
    ///
    /// ```
    /// use std::path::Path;
    /// use twenty_mapping::MappingFile;
    /// let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    /// let toml = MappingFile::from_path(&dir.join("contacts.toml"))?;
    /// let json = MappingFile::from_path(&dir.join("organisations.json"))?;
    /// assert!(toml.entities.contains_key("contacts"));
    /// assert!(!json.entities.is_empty());
    ///
    /// let missing = MappingFile::from_path(Path::new("no/such/file.toml")).unwrap_err();
    /// assert!(missing.message.starts_with("cannot read the mapping file"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_path(path: &Path) -> Result<MappingFile, ConfigError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(&origin, 0, 0, format!("cannot read the mapping file: {e}"))
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Self::from_toml_str(&src, &origin),
            Some(ext) if ext.eq_ignore_ascii_case("json") => Self::from_json_str(&src, &origin),
            _ => Err(ConfigError::new(
                &origin,
                0,
                0,
                "unknown mapping file extension: use .toml or .json".to_owned(),
            )),
        }
    }
}

/// 1-based line and column (in characters) of byte offset `offset` in `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// serde_json appends " at line X column Y" to messages; we report those separately.
fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "ab\ncdé\nx";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 4), (2, 2));
        assert_eq!(line_col(src, src.len()), (3, 2));
    }

    #[test]
    fn transform_spec_accepts_name_or_table() {
        let t: TransformSpec = serde_json::from_value(serde_json::json!("trim")).unwrap();
        assert_eq!(t.name, "trim");
        let t: TransformSpec =
            serde_json::from_value(serde_json::json!({"name": "phone", "default_region": "GB"}))
                .unwrap();
        assert_eq!(t.args["default_region"], "GB");
        assert!(serde_json::from_value::<TransformSpec>(serde_json::json!({"x": 1})).is_err());
    }
}
