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
    pub fn object(&self, name_plural: &str) -> Option<&SchemaObject> {
        self.objects.iter().find(|o| o.name_plural == name_plural)
    }
}

impl SchemaObject {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.name == name)
    }
}
