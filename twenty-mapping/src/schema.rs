//! A plain-data view of a Twenty workspace schema (from the metadata API), used to validate targets.

use serde::{Deserialize, Serialize};

/// The objects of a Twenty workspace, as read from `/rest/metadata/objects` by the caller.
///
/// ```
/// use twenty_mapping::TwentySchema;
/// let schema: TwentySchema = serde_json::from_value(serde_json::json!({
///     "objects": [{"name_singular": "person", "name_plural": "people",
///                  "fields": [{"name": "emails", "field_type": "EMAILS"}]}]
/// })).unwrap();
/// assert_eq!(schema.object("people").unwrap().field("emails").unwrap().field_type, "EMAILS");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwentySchema {
    /// The workspace's objects.
    pub objects: Vec<SchemaObject>,
}

/// One Twenty object.
///
/// ```
/// use twenty_mapping::{SchemaField, SchemaObject, TwentySchema};
/// let schema = TwentySchema { objects: vec![SchemaObject {
///     name_singular: "lead".into(),
///     name_plural: "leads".into(),
///     fields: vec![SchemaField { name: "score".into(), field_type: "NUMBER".into(), ..Default::default() }],
/// }] };
/// let leads = schema.object("leads").unwrap();
/// assert_eq!(leads.name_singular, "lead");
/// assert_eq!(leads.field("score").unwrap().field_type, "NUMBER");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaObject {
    /// Singular API name, e.g. `person`.
    pub name_singular: String,
    /// Plural API name, e.g. `people`.
    pub name_plural: String,
    /// Fields of the object.
    #[serde(default)]
    pub fields: Vec<SchemaField>,
}

/// One field of a Twenty object.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{compile, MappingFile, SchemaField, SchemaObject, TransformRegistry, TwentySchema};
/// let tier = SchemaField {
///     name: "tier".into(), field_type: "SELECT".into(),
///     options: vec!["GOLD".into(), "SILVER".into()], is_unique: false,
/// };
/// let schema = TwentySchema { objects: vec![SchemaObject {
///     name_singular: "person".into(), name_plural: "people".into(), fields: vec![tier],
/// }] };
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "tier"
/// to = "tier"
/// transforms = [{ name = "value_map", map = { gold = "GOLD", bronze = "BRONZE" } }]
/// "#, "contacts.toml")?;
/// // BRONZE is not an option of the workspace's `tier` field: compiling reports it.
/// let errors = compile(&file, &TransformRegistry::with_builtins(), Some(&schema)).unwrap_err();
/// assert!(errors.contains("entities.contacts.fields[0]", "BRONZE"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaField {
    /// Field name, e.g. `emails`.
    pub name: String,
    /// Metadata type name, e.g. `EMAILS`.
    pub field_type: String,
    /// Option values of SELECT / MULTI_SELECT fields.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether the field is unique.
    #[serde(default)]
    pub is_unique: bool,
}

impl TwentySchema {
    /// The object with this plural name.
    ///
    /// ```
    /// use twenty_mapping::{SchemaObject, TwentySchema};
    /// let schema = TwentySchema { objects: vec![SchemaObject {
    ///     name_singular: "person".into(), name_plural: "people".into(), fields: vec![],
    /// }] };
    /// assert_eq!(schema.object("people").unwrap().name_singular, "person");
    /// assert!(schema.object("person").is_none()); // plural names only
    /// ```
    pub fn object(&self, name_plural: &str) -> Option<&SchemaObject> {
        self.objects.iter().find(|o| o.name_plural == name_plural)
    }
}

impl SchemaObject {
    /// The field with this name.
    ///
    /// ```
    /// use twenty_mapping::{SchemaField, SchemaObject};
    /// let people = SchemaObject {
    ///     name_singular: "person".into(), name_plural: "people".into(),
    ///     fields: vec![SchemaField { name: "emails".into(), field_type: "EMAILS".into(), ..Default::default() }],
    /// };
    /// assert_eq!(people.field("emails").unwrap().field_type, "EMAILS");
    /// assert!(people.field("phones").is_none());
    /// ```
    pub fn field(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.name == name)
    }
}
