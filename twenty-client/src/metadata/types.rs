//! Metadata types: objects, fields, field types, options.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field type of Twenty's metadata API.
///
/// ```
/// use serde_json::json;
/// use twenty_client::metadata::FieldType;
/// assert_eq!(serde_json::to_value(FieldType::MultiSelect)?, json!("MULTI_SELECT"));
/// let newer: FieldType = serde_json::from_value(json!("MORPH_RELATION"))?;
/// assert_eq!(newer, FieldType::Other("MORPH_RELATION".into())); // unknown names still decode
/// assert_eq!(FieldType::DateTime.to_string(), "DATE_TIME");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `TEXT`
    Text,
    /// `NUMBER`
    Number,
    /// `NUMERIC`
    Numeric,
    /// `BOOLEAN`
    Boolean,
    /// `DATE_TIME`
    DateTime,
    /// `DATE`
    Date,
    /// `SELECT`
    Select,
    /// `MULTI_SELECT`
    MultiSelect,
    /// `RAW_JSON`
    RawJson,
    /// `LINKS`
    Links,
    /// `EMAILS`
    Emails,
    /// `PHONES`
    Phones,
    /// `CURRENCY`
    Currency,
    /// `FULL_NAME`
    FullName,
    /// `ADDRESS`
    Address,
    /// `RATING`
    Rating,
    /// `UUID`
    Uuid,
    /// `RELATION`
    Relation,
    /// `ARRAY`
    Array,
    /// `RICH_TEXT`. On Twenty 2.x (captured on 2.21.0) the rich-text composite
    /// `{blocknote, markdown}`, which older servers called `RICH_TEXT_V2`; on v1 servers a legacy
    /// plain-text field. [`MetadataHandler::ensure_fields`](crate::metadata::MetadataHandler::ensure_fields)
    /// treats the two names of the composite as one type, as the server it talks to names it.
    RichText,
    /// `RICH_TEXT_V2`: the rich-text composite `{blocknote, markdown}` as servers before 2.x name
    /// it (2.21.0 calls it `RICH_TEXT` and refuses this name).
    RichTextV2,
    /// `ACTOR`
    Actor,
    /// `FILES`
    Files,
    /// Any other type name.
    Other(String),
}

const NAMES: &[(&str, FieldType)] = &[
    ("TEXT", FieldType::Text),
    ("NUMBER", FieldType::Number),
    ("NUMERIC", FieldType::Numeric),
    ("BOOLEAN", FieldType::Boolean),
    ("DATE_TIME", FieldType::DateTime),
    ("DATE", FieldType::Date),
    ("SELECT", FieldType::Select),
    ("MULTI_SELECT", FieldType::MultiSelect),
    ("RAW_JSON", FieldType::RawJson),
    ("LINKS", FieldType::Links),
    ("EMAILS", FieldType::Emails),
    ("PHONES", FieldType::Phones),
    ("CURRENCY", FieldType::Currency),
    ("FULL_NAME", FieldType::FullName),
    ("ADDRESS", FieldType::Address),
    ("RATING", FieldType::Rating),
    ("UUID", FieldType::Uuid),
    ("RELATION", FieldType::Relation),
    ("ARRAY", FieldType::Array),
    ("RICH_TEXT", FieldType::RichText),
    ("RICH_TEXT_V2", FieldType::RichTextV2),
    ("ACTOR", FieldType::Actor),
    ("FILES", FieldType::Files),
];

impl FieldType {
    /// Wire name (`TEXT`, `MULTI_SELECT`, …).
    ///
    /// ```
    /// use twenty_client::metadata::FieldType;
    /// assert_eq!(FieldType::RawJson.as_str(), "RAW_JSON");
    /// assert_eq!(FieldType::Other("VECTOR".into()).as_str(), "VECTOR");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            FieldType::Other(s) => s,
            known => NAMES
                .iter()
                .find(|(_, t)| t == known)
                .map(|(n, _)| *n)
                .unwrap_or("UNKNOWN"),
        }
    }
    /// Parse a wire name.
    ///
    /// ```
    /// use twenty_client::metadata::FieldType;
    /// assert_eq!(FieldType::parse("CURRENCY"), FieldType::Currency);
    /// assert_eq!(FieldType::parse("currency"), FieldType::Other("currency".into())); // exact names only
    /// ```
    pub fn parse(s: &str) -> FieldType {
        NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| FieldType::Other(s.to_owned()))
    }
    /// Whether the type carries options.
    ///
    /// ```
    /// use twenty_client::metadata::FieldType;
    /// assert!(FieldType::Select.has_options() && FieldType::MultiSelect.has_options());
    /// assert!(!FieldType::Text.has_options());
    /// ```
    pub fn has_options(&self) -> bool {
        matches!(self, FieldType::Select | FieldType::MultiSelect)
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(FieldType::parse(&s))
    }
}

/// One option of a SELECT / MULTI_SELECT field.
///
/// ```
/// use serde_json::json;
/// use twenty_client::metadata::FieldOption;
/// // As the server sends it:
/// let opt: FieldOption = serde_json::from_value(json!(
///     {"id": "1b6c", "value": "GOLD", "label": "Gold", "color": "yellow", "position": 0}
/// ))?;
/// assert_eq!((opt.value.as_str(), opt.color.as_deref(), opt.position), ("GOLD", Some("yellow"), Some(0.0)));
/// // Unset optional keys are left out when sending.
/// let new = FieldOption::new("SILVER", "Silver");
/// assert_eq!(serde_json::to_value(&new)?, json!({"value": "SILVER", "label": "Silver"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    /// Stored value, e.g. `GOLD`.
    pub value: String,
    /// Display label.
    pub label: String,
    /// Color name (`green`, `blue`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Position in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<f64>,
    /// Server-side id (read only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl FieldOption {
    /// An option with `value` and `label`.
    ///
    /// ```
    /// use twenty_client::metadata::FieldOption;
    /// let gold = FieldOption::new("GOLD", "Gold");
    /// assert_eq!((gold.value.as_str(), gold.label.as_str()), ("GOLD", "Gold"));
    /// assert!(gold.color.is_none() && gold.position.is_none() && gold.id.is_none());
    /// ```
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        FieldOption {
            value: value.into(),
            label: label.into(),
            color: None,
            position: None,
            id: None,
        }
    }
}

/// A field of an object, as the metadata API describes it.
///
/// ```
/// use serde_json::json;
/// use twenty_client::metadata::{FieldMetadata, FieldType};
/// let field: FieldMetadata = serde_json::from_value(json!({
///     "id": "f-1", "name": "stage", "label": "Stage", "type": "SELECT",
///     "options": [{"value": "NEW", "label": "New"}], "isCustom": false, "icon": "IconProgress"
/// }))?;
/// assert_eq!(field.field_type, FieldType::Select);
/// assert_eq!(field.options.unwrap()[0].value, "NEW");
/// assert_eq!(field.is_custom, Some(false));
/// assert_eq!(field.extra["icon"], "IconProgress"); // keys this crate does not model
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldMetadata {
    /// Field id.
    pub id: String,
    /// API name (camelCase).
    pub name: String,
    /// Display label.
    #[serde(default)]
    pub label: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Options of SELECT / MULTI_SELECT fields.
    #[serde(default)]
    pub options: Option<Vec<FieldOption>>,
    /// Nullable.
    #[serde(default)]
    pub is_nullable: Option<bool>,
    /// Unique.
    #[serde(default)]
    pub is_unique: Option<bool>,
    /// Custom (user-created); absent on some versions.
    #[serde(default)]
    pub is_custom: Option<bool>,
    /// Active.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// System field.
    #[serde(default)]
    pub is_system: Option<bool>,
    /// Default value (SQL-quoted strings for SELECT).
    #[serde(default)]
    pub default_value: Option<serde_json::Value>,
    /// Owning object id.
    #[serde(default)]
    pub object_metadata_id: Option<String>,
    /// Everything else the server sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An object (standard or custom) with its fields.
///
/// ```
/// use serde_json::json;
/// use twenty_client::metadata::{FieldType, ObjectMetadata};
/// let object: ObjectMetadata = serde_json::from_value(json!({
///     "id": "o-1", "nameSingular": "lead", "namePlural": "leads", "isCustom": true,
///     "fields": [{"id": "f-1", "name": "score", "type": "NUMBER"}]
/// }))?;
/// assert_eq!((object.name_singular.as_str(), object.is_custom), ("lead", Some(true)));
/// assert_eq!(object.field("score").unwrap().field_type, FieldType::Number);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetadata {
    /// Object id.
    pub id: String,
    /// Singular API name (`person`).
    pub name_singular: String,
    /// Plural API name used in URLs (`people`).
    pub name_plural: String,
    /// Singular label.
    #[serde(default)]
    pub label_singular: Option<String>,
    /// Plural label.
    #[serde(default)]
    pub label_plural: Option<String>,
    /// Custom object (absent on some versions).
    #[serde(default)]
    pub is_custom: Option<bool>,
    /// Active.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// System object.
    #[serde(default)]
    pub is_system: Option<bool>,
    /// Fields.
    #[serde(default)]
    pub fields: Vec<FieldMetadata>,
    /// Everything else the server sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ObjectMetadata {
    /// The field named `name`.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_client::metadata::ObjectMetadata;
    /// let people: ObjectMetadata = serde_json::from_value(json!({
    ///     "id": "o-1", "nameSingular": "person", "namePlural": "people",
    ///     "fields": [{"id": "f-1", "name": "city", "type": "TEXT"}]
    /// }))?;
    /// assert_eq!(people.field("city").unwrap().id, "f-1");
    /// assert!(people.field("country").is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn field(&self, name: &str) -> Option<&FieldMetadata> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Body of `POST /rest/metadata/fields`.
///
/// ```
/// use serde_json::json;
/// use twenty_client::metadata::{CreateField, FieldType};
/// let body = CreateField::new("object-id", "externalRef", "External ref", FieldType::Text)
///     .description("Key in the ERP")
///     .unique(true);
/// assert_eq!(serde_json::to_value(&body)?, json!({
///     "objectMetadataId": "object-id", "type": "TEXT", "name": "externalRef",
///     "label": "External ref", "description": "Key in the ERP", "isNullable": true, "isUnique": true
/// }));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateField {
    /// Owning object id.
    pub object_metadata_id: String,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// API name (validated before sending).
    pub name: String,
    /// Display label.
    pub label: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Icon name (`IconTag` …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Nullable (default true).
    pub is_nullable: bool,
    /// Unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_unique: Option<bool>,
    /// Default value (SELECT defaults are SQL-quoted: `"'GOLD'"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<serde_json::Value>,
    /// Options (SELECT / MULTI_SELECT; must be non-empty for those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<FieldOption>>,
    /// Type-specific settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

impl CreateField {
    /// A nullable field of `field_type` on the object with id `object_metadata_id`.
    ///
    /// ```
    /// use twenty_client::metadata::{CreateField, FieldType};
    /// let body = CreateField::new("object-id", "score", "Score", FieldType::Number);
    /// assert!(body.is_nullable);
    /// assert!(body.options.is_none() && body.is_unique.is_none() && body.description.is_none());
    /// ```
    pub fn new(
        object_metadata_id: impl Into<String>,
        name: impl Into<String>,
        label: impl Into<String>,
        field_type: FieldType,
    ) -> Self {
        CreateField {
            object_metadata_id: object_metadata_id.into(),
            field_type,
            name: name.into(),
            label: label.into(),
            description: None,
            icon: None,
            is_nullable: true,
            is_unique: None,
            default_value: None,
            options: None,
            settings: None,
        }
    }
    /// Set the options (positions are filled in order when absent).
    ///
    /// ```
    /// use twenty_client::metadata::{CreateField, FieldOption, FieldType};
    /// let body = CreateField::new("object-id", "tier", "Tier", FieldType::Select)
    ///     .options(vec![FieldOption::new("GOLD", "Gold"), FieldOption::new("SILVER", "Silver")]);
    /// let positions: Vec<_> = body.options.unwrap().iter().map(|o| o.position).collect();
    /// assert_eq!(positions, [Some(0.0), Some(1.0)]);
    /// ```
    pub fn options(mut self, options: Vec<FieldOption>) -> Self {
        self.options = Some(with_positions(options));
        self
    }
    /// Set the description.
    ///
    /// ```
    /// use twenty_client::metadata::{CreateField, FieldType};
    /// let body = CreateField::new("object-id", "notes", "Notes", FieldType::Text)
    ///     .description("Free text from the ERP");
    /// assert_eq!(body.description.as_deref(), Some("Free text from the ERP"));
    /// ```
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Make the field unique.
    ///
    /// ```
    /// use twenty_client::metadata::{CreateField, FieldType};
    /// let body = CreateField::new("object-id", "erpId", "ERP id", FieldType::Text).unique(true);
    /// assert_eq!(body.is_unique, Some(true));
    /// ```
    pub fn unique(mut self, unique: bool) -> Self {
        self.is_unique = Some(unique);
        self
    }
}

pub(crate) fn with_positions(options: Vec<FieldOption>) -> Vec<FieldOption> {
    options
        .into_iter()
        .enumerate()
        .map(|(i, mut o)| {
            if o.position.is_none() {
                o.position = Some(i as f64);
            }
            o
        })
        .collect()
}

/// A declared field: what `ensure_fields` creates or `verify_fields` checks.
///
/// ```
/// use twenty_client::metadata::{FieldSpec, FieldType};
/// let spec = FieldSpec::new("person", "erpId", FieldType::Text);
/// assert_eq!(spec.label, "erpId"); // defaults to the name
/// assert!(spec.options.is_empty() && spec.description.is_none() && !spec.unique);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Object name (singular or plural, e.g. `person` or `people`).
    pub object: String,
    /// Field API name.
    pub name: String,
    /// Display label (defaults to the name).
    pub label: String,
    /// Type.
    pub field_type: FieldType,
    /// Options required for SELECT / MULTI_SELECT (values must exist on the server).
    pub options: Vec<FieldOption>,
    /// Description.
    pub description: Option<String>,
    /// Unique.
    pub unique: bool,
}

impl FieldSpec {
    /// A field `name` of `field_type` on `object`.
    ///
    /// ```
    /// use twenty_client::metadata::{FieldOption, FieldSpec, FieldType};
    /// let spec = FieldSpec::new("people", "tier", FieldType::Select)
    ///     .label("Tier")
    ///     .options([FieldOption::new("GOLD", "Gold"), FieldOption::new("SILVER", "Silver")]);
    /// assert_eq!(spec.options.len(), 2);
    /// ```
    pub fn new(object: impl Into<String>, name: impl Into<String>, field_type: FieldType) -> Self {
        let name = name.into();
        FieldSpec {
            object: object.into(),
            label: name.clone(),
            name,
            field_type,
            options: Vec::new(),
            description: None,
            unique: false,
        }
    }
    /// Display label.
    ///
    /// ```
    /// use twenty_client::metadata::{FieldSpec, FieldType};
    /// let spec = FieldSpec::new("people", "erpId", FieldType::Text).label("ERP id");
    /// assert_eq!((spec.name.as_str(), spec.label.as_str()), ("erpId", "ERP id"));
    /// ```
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// Options.
    ///
    /// ```
    /// use twenty_client::metadata::{FieldOption, FieldSpec, FieldType};
    /// let spec = FieldSpec::new("people", "tags", FieldType::MultiSelect)
    ///     .options(["VIP", "PARTNER"].map(|v| FieldOption::new(v, v)));
    /// assert_eq!(spec.options[1].value, "PARTNER");
    /// ```
    pub fn options(mut self, options: impl IntoIterator<Item = FieldOption>) -> Self {
        self.options = options.into_iter().collect();
        self
    }
    /// Description.
    ///
    /// ```
    /// use twenty_client::metadata::{FieldSpec, FieldType};
    /// let spec = FieldSpec::new("people", "erpId", FieldType::Text).description("Key in the ERP");
    /// assert_eq!(spec.description.as_deref(), Some("Key in the ERP"));
    /// ```
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Unique constraint.
    ///
    /// ```
    /// use twenty_client::metadata::{FieldSpec, FieldType};
    /// let spec = FieldSpec::new("people", "erpId", FieldType::Text).unique(true);
    /// assert!(spec.unique);
    /// ```
    pub fn unique(mut self, unique: bool) -> Self {
        self.unique = unique;
        self
    }
}

/// `object.field` in a report.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::metadata::{FieldRef, FieldSpec, FieldType};
/// let report = client.metadata()
///     .ensure_fields(&[FieldSpec::new("person", "erpId", FieldType::Text)]).await?;
/// // The object is named as in the spec.
/// assert_eq!(report.created, [FieldRef { object: "person".into(), field: "erpId".into() }]);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Object name as given in the spec.
    pub object: String,
    /// Field name.
    pub field: String,
}

/// A declared field that exists but differs (or whose object is missing).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::metadata::{FieldSpec, FieldType};
/// let specs = [
///     FieldSpec::new("people", "jobTitle", FieldType::Number),
///     FieldSpec::new("spaceships", "captain", FieldType::Text),
/// ];
/// let report = client.metadata().ensure_fields(&specs).await?; // never changes existing fields
/// assert_eq!(report.mismatched[0].reason, "type is TEXT on the server, declared NUMBER");
/// assert_eq!(report.mismatched[1].field.object, "spaceships");
/// assert!(report.mismatched[1].reason.contains("does not exist"));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMismatch {
    /// Which field.
    pub field: FieldRef,
    /// What differs.
    pub reason: String,
}

/// Outcome of [`crate::metadata::MetadataHandler::ensure_fields`] / `verify_fields`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::metadata::{FieldSpec, FieldType};
/// let specs = [
///     FieldSpec::new("people", "jobTitle", FieldType::Text), // a standard field
///     FieldSpec::new("people", "erpId", FieldType::Text),
/// ];
/// let report = client.metadata().ensure_fields(&specs).await?;
/// assert_eq!(report.already_present[0].field, "jobTitle");
/// assert_eq!(report.created[0].field, "erpId");
/// assert!(report.mismatched.is_empty() && report.missing.is_empty());
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsureReport {
    /// Fields created now.
    pub created: Vec<FieldRef>,
    /// Fields that already existed as declared.
    pub already_present: Vec<FieldRef>,
    /// Fields that exist with another type or lack declared options (never changed automatically).
    pub mismatched: Vec<FieldMismatch>,
    /// Fields that do not exist (only `verify_fields` reports these; `ensure_fields` creates them).
    pub missing: Vec<FieldRef>,
}

impl EnsureReport {
    /// Everything is as declared.
    ///
    /// ```
    /// use twenty_client::metadata::{EnsureReport, FieldRef};
    /// let mut report = EnsureReport::default();
    /// report.already_present.push(FieldRef { object: "people".into(), field: "city".into() });
    /// assert!(report.is_ok());
    /// report.missing.push(FieldRef { object: "people".into(), field: "erpId".into() });
    /// assert!(!report.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty()
    }
}
