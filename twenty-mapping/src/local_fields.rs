//! The local fields of a plan and the kind of value each one holds: what a store needs to give
//! every mapped field a typed column (sink-postgres and sink-bigquery derive their default tables
//! from it).
//!
//! A field's kind comes from what its rule actually produces on the local side: the Twenty field
//! type of the rule's target (the workspace [`TwentySchema`] when given, else the custom fields the
//! mapping file declares, else Twenty's standard fields), refined by running the rule's inverse
//! pipeline on a sample Twenty value of that type. So a `split_name` rule that turns a `FULL_NAME`
//! into one string holds [`LocalKind::Text`], not [`LocalKind::Json`]. Nested values (composite
//! fields, RAW_JSON, lists of objects) are [`LocalKind::Json`].

use serde_json::{Map, Value, json};

use crate::path::FieldPath;
use crate::plan::EntityPlan;
use crate::schema::TwentySchema;
use crate::types::{FieldType, ValueKind, standard_field_type};

/// The kind of value a local field holds, as far as the plan tells. A store maps each kind to a
/// column type of its own (`Json` to whatever keeps any JSON value exactly).
///
/// It is what the field's rule produces on the local side: the Twenty field type of the rule's
/// target (the workspace's [`TwentySchema`] when given, else the custom fields the mapping file
/// declares, else Twenty's standard fields), refined by running the rule's inverse pipeline on a
/// sample Twenty value of that type. A `split_name` rule that turns a `FULL_NAME` into one string
/// holds `Text`; a `DATE_TIME` the pipeline passes through unchanged holds `Timestamp`, one it
/// reformats holds `Text`.
///
/// ```
/// use twenty_mapping::{compile, LocalKind, MappingFile, TransformRegistry};
///
/// let file = MappingFile::from_toml_str(r#"
/// [entities.deals]
/// twenty_object = "opportunities"
/// local_key = "id"
/// [[entities.deals.fields]]
/// from = "closes"
/// to = "closeDate"
/// "#, "deals.toml").unwrap();
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
/// let fields = mapping.entity("deals").unwrap().local_fields(None);
/// // A DATE_TIME passed through unchanged: a store can give it a timestamp column.
/// assert_eq!(fields[0].kind, LocalKind::Timestamp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocalKind {
    /// A string.
    Text,
    /// A whole number (`amountMicros` of a CURRENCY).
    Integer,
    /// A number that may have a fraction (NUMBER, POSITION, coordinates).
    Float,
    /// An exact decimal (NUMERIC).
    Decimal,
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 timestamp passed through unchanged (DATE_TIME).
    Timestamp,
    /// A `YYYY-MM-DD` date passed through unchanged (DATE).
    Date,
    /// A UUID passed through unchanged (UUID, a relation's id).
    Uuid,
    /// A list of strings (MULTI_SELECT, ARRAY, additional emails).
    TextList,
    /// Anything else, kept as JSON: composite values, RAW_JSON, fields only pushed (whose local
    /// shape the plan does not tell), and fields whose Twenty type is unknown.
    Json,
}

/// One local field of a plan: its path in local records, the kind of value it holds, and whether
/// the rule that maps it is required.
///
/// ```
/// use twenty_mapping::{compile, LocalKind, MappingFile, TransformRegistry};
///
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "contact.city"
/// to = "city"
/// required = true
/// "#, "contacts.toml").unwrap();
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
/// let field = &mapping.entity("contacts").unwrap().local_fields(None)[0];
/// assert_eq!(field.path, "contact.city");
/// assert_eq!(field.kind, LocalKind::Text);
/// assert!(field.required);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalField {
    /// The local path (`contact.city`), as the rule names it.
    pub path: String,
    /// What the field holds.
    pub kind: LocalKind,
    /// Whether the (first) rule mapping the field is `required`.
    pub required: bool,
}

impl EntityPlan {
    /// Every local field the plan writes on pull or reads on push, the local key excluded, in rule
    /// order, each path once, with the kind of value it holds (see [`LocalKind`]). Pass
    /// the workspace's `schema` (metadata) to type custom fields the mapping file does not declare;
    /// without it they are [`LocalKind::Json`].
    ///
    /// ```
    /// use twenty_mapping::{compile, LocalKind, MappingFile, TransformRegistry};
    ///
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "full_name"
    /// to = "name"
    /// transforms = ["split_name"]
    /// [[entities.contacts.fields]]
    /// from = "note"
    /// to = "jobTitle"
    /// direction = "push"
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// required = true
    /// [[entities.contacts.fields]]
    /// from = "employer"
    /// to = "companyId"
    /// "#, "contacts.toml").unwrap();
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let fields = mapping.entity("contacts").unwrap().local_fields(None);
    /// let kinds: Vec<_> = fields.iter().map(|f| (f.path.as_str(), f.kind, f.required)).collect();
    /// assert_eq!(kinds, [
    ///     ("full_name", LocalKind::Text, false), // FULL_NAME joined into one string
    ///     ("note", LocalKind::Json, false),       // push only: shape unknown
    ///     ("email", LocalKind::Text, true),       // EMAILS.primaryEmail
    ///     ("employer", LocalKind::Uuid, false),   // a relation's id
    /// ]);
    /// ```
    pub fn local_fields(&self, schema: Option<&TwentySchema>) -> Vec<LocalField> {
        let mut out: Vec<LocalField> = Vec::new();
        for rule in self.fields() {
            let twenty_path = rule.twenty_path();
            let (root, sub) = match twenty_path.split_once('.') {
                Some((r, s)) => (r, Some(s)),
                None => (twenty_path, None),
            };
            let ft = twenty_type(self, schema, root);
            let (twenty_kind, sample) = twenty_side(ft.as_ref(), sub);
            // What the inverse pipeline makes of a sample of the Twenty value: pulled rules only.
            let local = rule.direction().pulls().then(|| {
                let mut probe = Value::Object(Map::new());
                if let (false, Ok(target)) = (sample.is_null(), FieldPath::parse(twenty_path)) {
                    target.set(&mut probe, sample.clone());
                }
                self.to_local(&probe).record
            });
            for path in rule.local_paths() {
                if path.is_empty() || path == self.local_key() || out.iter().any(|f| f.path == path)
                {
                    continue;
                }
                let kind = match &local {
                    // Pulled: what the pipeline produced for the sample, else the Twenty side.
                    Some(record) => match FieldPath::parse(path).ok().and_then(|p| p.get(record)) {
                        None | Some(Value::Null) => twenty_kind,
                        Some(v) => probed(v, &sample, twenty_kind),
                    },
                    // Push only: the local value's shape is unknown; JSON keeps any value exactly.
                    None => LocalKind::Json,
                };
                out.push(LocalField {
                    path: path.to_owned(),
                    kind,
                    required: rule.required(),
                });
            }
        }
        out
    }
}

/// The Twenty type of the rule target's root field (`emails` of `emails.primaryEmail`).
fn twenty_type(plan: &EntityPlan, schema: Option<&TwentySchema>, root: &str) -> Option<FieldType> {
    if let Some(field) = schema
        .and_then(|s| s.object(plan.twenty_object()))
        .and_then(|o| o.field(root))
    {
        return Some(FieldType::parse(&field.field_type));
    }
    if let Some(custom) = plan
        .required_twenty_fields()
        .into_iter()
        .find(|f| f.name == root)
    {
        return Some(FieldType::parse(&custom.field_type));
    }
    standard_field_type(plan.twenty_object(), root)
}

/// What a value of the Twenty target holds, and a realistic sample of it (for the probe).
fn twenty_side(ft: Option<&FieldType>, sub: Option<&str>) -> (LocalKind, Value) {
    use LocalKind as K;
    let Some(ft) = ft else {
        return (K::Json, Value::Null);
    };
    if let Some(sub) = sub {
        return match (ft.sub_field_kind(sub), sub) {
            (Some(ValueKind::Text), "primaryEmail") => (K::Text, json!("ada@example.com")),
            (Some(ValueKind::Text), "primaryLinkUrl") => (K::Text, json!("https://example.com")),
            (Some(ValueKind::Text), "primaryPhoneNumber") => (K::Text, json!("612345678")),
            (Some(ValueKind::Text), "primaryPhoneCountryCode") => (K::Text, json!("FR")),
            (Some(ValueKind::Text), "primaryPhoneCallingCode") => (K::Text, json!("+33")),
            (Some(ValueKind::Text), "currencyCode") => (K::Text, json!("EUR")),
            (Some(ValueKind::Text), "firstName") => (K::Text, json!("Ada")),
            (Some(ValueKind::Text), "lastName") => (K::Text, json!("Lovelace")),
            (Some(ValueKind::Text), "addressCountry") => (K::Text, json!("France")),
            (Some(ValueKind::Text), _) => (K::Text, json!("Sample")),
            (Some(ValueKind::Number), "amountMicros") => (K::Integer, json!(1_500_000)),
            (Some(ValueKind::Number), _) => (K::Float, json!(48.5)),
            (Some(ValueKind::TextList), _) => (K::TextList, json!(["ada2@example.com"])),
            _ => (K::Json, json!({"sample": true})),
        };
    }
    match ft {
        FieldType::Text => (K::Text, json!("Sample")),
        FieldType::Select => (K::Text, json!("SAMPLE")),
        FieldType::Rating => (K::Text, json!("RATING_3")),
        FieldType::Number | FieldType::Position => (K::Float, json!(2.5)),
        FieldType::Numeric => (K::Decimal, json!(12.5)),
        FieldType::Boolean => (K::Bool, json!(true)),
        FieldType::Uuid | FieldType::Relation => {
            (K::Uuid, json!("2b0e7c2e-6a7e-4a4e-9a59-0c3f6c1f2a10"))
        }
        FieldType::DateTime => (K::Timestamp, json!("2024-05-01T10:00:00.000Z")),
        FieldType::Date => (K::Date, json!("2024-05-01")),
        FieldType::MultiSelect => (K::TextList, json!(["A", "B"])),
        FieldType::Array => (K::TextList, json!(["a", "b"])),
        FieldType::FullName => (K::Json, json!({"firstName": "Ada", "lastName": "Lovelace"})),
        FieldType::Emails => (
            K::Json,
            json!({"primaryEmail": "ada@example.com", "additionalEmails": []}),
        ),
        FieldType::Phones => (
            K::Json,
            json!({"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
                   "primaryPhoneCallingCode": "+33", "additionalPhones": []}),
        ),
        FieldType::Links => (
            K::Json,
            json!({"primaryLinkUrl": "https://example.com", "primaryLinkLabel": "",
                   "secondaryLinks": []}),
        ),
        FieldType::Currency => (
            K::Json,
            json!({"amountMicros": 1_500_000, "currencyCode": "EUR"}),
        ),
        FieldType::Address => (
            K::Json,
            json!({"addressStreet1": "12 rue X", "addressCity": "Paris",
                   "addressPostcode": "75001", "addressCountry": "France"}),
        ),
        FieldType::Actor => (
            K::Json,
            json!({"source": "API", "name": "sync", "workspaceMemberId": null}),
        ),
        FieldType::RichText | FieldType::RichTextV2 => {
            (K::Json, json!({"blocknote": null, "markdown": "x"}))
        }
        _ => (K::Json, json!({"sample": true})),
    }
}

/// The kind of a value the inverse pipeline produced, given what the Twenty side holds.
fn probed(value: &Value, sample: &Value, twenty: LocalKind) -> LocalKind {
    use LocalKind as K;
    match value {
        Value::String(s) => match twenty {
            // A typed kind only when the pipeline passed the value through unchanged.
            K::Timestamp | K::Date | K::Uuid if sample.as_str() == Some(s.as_str()) => twenty,
            _ => K::Text,
        },
        Value::Number(n) => match twenty {
            K::Integer if n.is_i64() || n.is_u64() => K::Integer,
            K::Decimal => K::Decimal,
            _ => K::Float,
        },
        Value::Bool(_) => K::Bool,
        Value::Array(items) if items.iter().all(Value::is_string) => K::TextList,
        _ => K::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompiledMapping, MappingFile, TransformRegistry, compile};

    fn plan_of(toml: &str) -> CompiledMapping {
        let file = MappingFile::from_toml_str(toml, "t.toml").unwrap();
        compile(&file, &TransformRegistry::with_builtins(), None).unwrap()
    }

    fn kinds(m: &CompiledMapping, schema: Option<&TwentySchema>) -> Vec<(String, LocalKind)> {
        m.entity("c")
            .unwrap()
            .local_fields(schema)
            .into_iter()
            .map(|f| (f.path, f.kind))
            .collect()
    }

    #[test]
    fn kinds_follow_what_the_inverse_pipeline_produces() {
        let m = plan_of(
            r#"
[entities.c]
twenty_object = "people"
local_key = "id"
[[entities.c.fields]]
from = "full_name"
to = "name"
transforms = ["split_name"]
[[entities.c.fields]]
from = "score"
to = "score"
[entities.c.custom_fields.score]
type = "NUMBER"
[[entities.c.fields]]
from = "born"
to = "bornAt"
[entities.c.custom_fields.bornAt]
type = "DATE_TIME"
[[entities.c.fields]]
from = "tags"
to = "tags"
[entities.c.custom_fields.tags]
type = "MULTI_SELECT"
options = ["A", "B"]
[[entities.c.fields]]
from = "phone"
to = "phones"
[[entities.c.fields]]
from = "salary_micros"
to = "salary.amountMicros"
[entities.c.custom_fields.salary]
type = "CURRENCY"
[[entities.c.fields]]
from = "employer"
to = "companyId"
[[entities.c.fields]]
from = "vip"
to = "vip"
[entities.c.custom_fields.vip]
type = "BOOLEAN"
[[entities.c.fields]]
from = "ctx.source"
to = "context"
[entities.c.custom_fields.context]
type = "RAW_JSON"
"#,
        );
        assert_eq!(
            kinds(&m, None),
            [
                ("full_name", LocalKind::Text),
                ("score", LocalKind::Float),
                ("born", LocalKind::Timestamp),
                ("tags", LocalKind::TextList),
                ("phone", LocalKind::Json),
                ("salary_micros", LocalKind::Integer),
                ("employer", LocalKind::Uuid),
                ("vip", LocalKind::Bool),
                ("ctx.source", LocalKind::Json),
            ]
            .map(|(p, k)| (p.to_owned(), k))
        );
    }

    #[test]
    fn the_key_is_left_out_push_only_and_untyped_fields_are_json() {
        let m = plan_of(
            r#"
[entities.c]
twenty_object = "people"
local_key = "meta.id"
[[entities.c.fields]]
from = "contact.city"
to = "city"
required = true
[[entities.c.fields]]
from = "note"
to = "jobTitle"
direction = "push"
[[entities.c.fields]]
from = "mystery"
to = "undeclaredCustomField"
[[entities.c.fields]]
from = "meta.id"
to = "externalId"
[entities.c.custom_fields.externalId]
type = "TEXT"
"#,
        );
        let fields = m.entity("c").unwrap().local_fields(None);
        let got: Vec<_> = fields
            .iter()
            .map(|f| (f.path.as_str(), f.kind, f.required))
            .collect();
        assert_eq!(
            got,
            [
                ("contact.city", LocalKind::Text, true),
                ("note", LocalKind::Json, false),
                ("mystery", LocalKind::Json, false),
            ]
        );
        // With the workspace's metadata, the undeclared custom field gets its type.
        let schema = TwentySchema {
            objects: vec![crate::SchemaObject {
                name_singular: "person".to_owned(),
                name_plural: "people".to_owned(),
                fields: vec![crate::SchemaField {
                    name: "undeclaredCustomField".to_owned(),
                    field_type: "BOOLEAN".to_owned(),
                    ..Default::default()
                }],
            }],
        };
        assert_eq!(
            kinds(&m, Some(&schema))[2],
            ("mystery".to_owned(), LocalKind::Bool)
        );
    }
}
