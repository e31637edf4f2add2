//! Default tables derived from a compiled `twenty-mapping` plan.
//!
//! Each pulled field rule of an [`EntityPlan`] becomes one column. Its type comes from what the
//! rule actually produces on the local side: the Twenty field type of the rule's target (the
//! workspace [`TwentySchema`] when given, else the custom fields the mapping file declares, else
//! Twenty's standard fields), refined by running the rule's inverse pipeline on a sample Twenty
//! value of that type (so a `split_name` rule that turns `FULL_NAME` into one string gets a `text`
//! column, not `jsonb`). Nested values (composite fields, RAW_JSON, lists of objects) go to `jsonb`.

use serde_json::{json, Map, Value};
use twenty_mapping::{standard_field_type, EntityPlan, FieldType, TwentySchema, ValueKind};

use crate::config::{ColumnMap, ColumnType, EntityTable};
use crate::value::get_path;

/// The local value kind a mapped field holds, as far as the plan tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Text,
    Integer,
    Float,
    Decimal,
    Bool,
    Timestamp,
    Date,
    Uuid,
    TextList,
    Json,
}

impl Local {
    fn column_type(self) -> ColumnType {
        match self {
            Local::Text => ColumnType::Text,
            Local::Integer => ColumnType::Bigint,
            Local::Float => ColumnType::Double,
            Local::Decimal => ColumnType::Numeric,
            Local::Bool => ColumnType::Boolean,
            Local::Timestamp => ColumnType::Timestamptz,
            Local::Date => ColumnType::Date,
            Local::Uuid => ColumnType::Uuid,
            Local::TextList => ColumnType::TextArray,
            Local::Json => ColumnType::Jsonb,
        }
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
fn twenty_side(ft: Option<&FieldType>, sub: Option<&str>) -> (Local, Value) {
    let Some(ft) = ft else {
        return (Local::Json, Value::Null);
    };
    if let Some(sub) = sub {
        return match (ft.sub_field_kind(sub), sub) {
            (Some(ValueKind::Text), "primaryEmail") => (Local::Text, json!("ada@example.com")),
            (Some(ValueKind::Text), "primaryLinkUrl") => {
                (Local::Text, json!("https://example.com"))
            }
            (Some(ValueKind::Text), "primaryPhoneNumber") => (Local::Text, json!("612345678")),
            (Some(ValueKind::Text), "primaryPhoneCountryCode") => (Local::Text, json!("FR")),
            (Some(ValueKind::Text), "primaryPhoneCallingCode") => (Local::Text, json!("+33")),
            (Some(ValueKind::Text), "currencyCode") => (Local::Text, json!("EUR")),
            (Some(ValueKind::Text), "firstName") => (Local::Text, json!("Ada")),
            (Some(ValueKind::Text), "lastName") => (Local::Text, json!("Lovelace")),
            (Some(ValueKind::Text), "addressCountry") => (Local::Text, json!("France")),
            (Some(ValueKind::Text), _) => (Local::Text, json!("Sample")),
            (Some(ValueKind::Number), "amountMicros") => (Local::Integer, json!(1_500_000)),
            (Some(ValueKind::Number), _) => (Local::Float, json!(48.5)),
            (Some(ValueKind::TextList), _) => (Local::TextList, json!(["ada2@example.com"])),
            _ => (Local::Json, json!({"sample": true})),
        };
    }
    match ft {
        FieldType::Text | FieldType::RichText => (Local::Text, json!("Sample")),
        FieldType::Select => (Local::Text, json!("SAMPLE")),
        FieldType::Rating => (Local::Text, json!("RATING_3")),
        FieldType::Number | FieldType::Position => (Local::Float, json!(2.5)),
        FieldType::Numeric => (Local::Decimal, json!(12.5)),
        FieldType::Boolean => (Local::Bool, json!(true)),
        FieldType::Uuid | FieldType::Relation => {
            (Local::Uuid, json!("2b0e7c2e-6a7e-4a4e-9a59-0c3f6c1f2a10"))
        }
        FieldType::DateTime => (Local::Timestamp, json!("2024-05-01T10:00:00.000Z")),
        FieldType::Date => (Local::Date, json!("2024-05-01")),
        FieldType::MultiSelect => (Local::TextList, json!(["A", "B"])),
        FieldType::Array => (Local::TextList, json!(["a", "b"])),
        FieldType::FullName => (
            Local::Json,
            json!({"firstName": "Ada", "lastName": "Lovelace"}),
        ),
        FieldType::Emails => (
            Local::Json,
            json!({"primaryEmail": "ada@example.com", "additionalEmails": []}),
        ),
        FieldType::Phones => (
            Local::Json,
            json!({"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
                   "primaryPhoneCallingCode": "+33", "additionalPhones": []}),
        ),
        FieldType::Links => (
            Local::Json,
            json!({"primaryLinkUrl": "https://example.com", "primaryLinkLabel": "",
                   "secondaryLinks": []}),
        ),
        FieldType::Currency => (
            Local::Json,
            json!({"amountMicros": 1_500_000, "currencyCode": "EUR"}),
        ),
        FieldType::Address => (
            Local::Json,
            json!({"addressStreet1": "12 rue X", "addressCity": "Paris",
                   "addressPostcode": "75001", "addressCountry": "France"}),
        ),
        FieldType::Actor => (
            Local::Json,
            json!({"source": "API", "name": "sync", "workspaceMemberId": null}),
        ),
        FieldType::RichTextV2 => (Local::Json, json!({"blocknote": null, "markdown": "x"})),
        _ => (Local::Json, json!({"sample": true})),
    }
}

/// The kind of a value the inverse pipeline produced, given what the Twenty side holds.
fn probed(value: &Value, sample: &Value, twenty: Local) -> Local {
    match value {
        Value::String(s) => match twenty {
            // A typed column only when the pipeline passed the value through unchanged.
            Local::Timestamp | Local::Date | Local::Uuid if Value::String(s.clone()) == *sample => {
                twenty
            }
            _ => Local::Text,
        },
        Value::Number(n) => match twenty {
            Local::Integer if n.is_i64() || n.is_u64() => Local::Integer,
            Local::Decimal => Local::Decimal,
            _ => Local::Float,
        },
        Value::Bool(_) => Local::Bool,
        Value::Array(items) if items.iter().all(Value::is_string) => Local::TextList,
        _ => Local::Json,
    }
}

/// A column name for a local path: `address.city` → `address_city`.
pub(crate) fn column_name(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `(local path, column type)` of every local field the plan writes on pull or reads on push,
/// key excluded, in rule order (each path once).
pub(crate) fn derive_columns(
    plan: &EntityPlan,
    schema: Option<&TwentySchema>,
) -> Vec<(String, ColumnType)> {
    let mut out: Vec<(String, ColumnType)> = Vec::new();
    for rule in plan.fields() {
        let twenty_path = rule.twenty_path();
        let (root, sub) = match twenty_path.split_once('.') {
            Some((r, s)) => (r, Some(s)),
            None => (twenty_path, None),
        };
        let ft = twenty_type(plan, schema, root);
        let (twenty_kind, sample) = twenty_side(ft.as_ref(), sub);
        let mut probe_record = Value::Object(Map::new());
        if rule.direction().pulls() && !sample.is_null() {
            set(&mut probe_record, twenty_path, sample.clone());
        }
        let local = rule
            .direction()
            .pulls()
            .then(|| plan.to_local(&probe_record).record);
        for path in rule.local_paths() {
            if path.is_empty() || path == plan.local_key() || out.iter().any(|(p, _)| p == path) {
                continue;
            }
            let kind = match &local {
                // Pulled: what the inverse pipeline produced for the sample, else the Twenty side.
                Some(record) => match get_path(record, path) {
                    Value::Null => twenty_kind,
                    v => probed(v, &sample, twenty_kind),
                },
                // Push only: the local value's shape is unknown; jsonb keeps any value exactly.
                None => Local::Json,
            };
            out.push((path.to_owned(), kind.column_type()));
        }
    }
    out
}

fn set(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        cur = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

impl EntityTable {
    /// The default table of a mapped entity, derived from its compiled plan: table named after
    /// the entity in `schema`, `text` primary key named after the plan's local key, one column per
    /// mapped local field with the type the mapping produces (the Twenty type of the rule's
    /// target, refined by running the rule's inverse pipeline on a sample value; see the README's
    /// type table), plus `updated_at` and `deleted_at` columns; outbox capture; created
    /// on setup. Pass the workspace's `schema` (metadata) to type custom fields the mapping file
    /// does not declare; without it they are `jsonb`, which stores any value exactly.
    ///
    /// Adjust the result like any [`EntityTable`] (rename columns, change the capture mode...).
    ///
    /// ```
    /// use sink_postgres::{ColumnType, EntityTable};
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    ///
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "name"
    /// to = "name"
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// [[entities.contacts.fields]]
    /// from = "employer"
    /// to = "companyId"
    /// "#, "contacts.toml").unwrap();
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let table = EntityTable::from_plan(mapping.entity("contacts").unwrap(), "crm", None);
    /// assert_eq!(table.table, "contacts");
    /// assert_eq!(table.key_column, "id");
    /// let types: Vec<_> = table.columns.iter().map(|c| (c.column.as_str(), c.column_type)).collect();
    /// assert_eq!(types, [
    ///     ("name", ColumnType::Jsonb),       // FULL_NAME: nested value
    ///     ("email", ColumnType::Text),       // EMAILS.primaryEmail: text
    ///     ("employer", ColumnType::Uuid),    // relation id
    /// ]);
    /// ```
    pub fn from_plan(plan: &EntityPlan, schema: &str, twenty: Option<&TwentySchema>) -> Self {
        let key = plan.local_key();
        let mut t = EntityTable::new(plan.name(), schema, plan.name(), column_name(key))
            .updated_at_column("updated_at")
            .tombstone_column("deleted_at")
            .create(true);
        if column_name(key) != key {
            t = t.key_field(key);
        }
        for (path, ty) in derive_columns(plan, twenty) {
            let column = column_name(&path);
            t = t.column(ColumnMap::new(path, ty).column(column));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twenty_mapping::{compile, MappingFile, TransformRegistry};

    fn plan_of(toml: &str) -> twenty_mapping::CompiledMapping {
        let file = MappingFile::from_toml_str(toml, "t.toml").unwrap();
        compile(&file, &TransformRegistry::with_builtins(), None).unwrap()
    }

    #[test]
    fn a_transform_that_flattens_a_composite_gives_a_text_column() {
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
"#,
        );
        let cols = derive_columns(m.entity("c").unwrap(), None);
        assert_eq!(
            cols,
            vec![
                ("full_name".to_owned(), ColumnType::Text),
                ("score".to_owned(), ColumnType::Double),
                ("born".to_owned(), ColumnType::Timestamptz),
                ("tags".to_owned(), ColumnType::TextArray),
            ]
        );
    }

    #[test]
    fn nested_local_paths_become_underscored_columns_and_push_only_rules_jsonb() {
        let m = plan_of(
            r#"
[entities.c]
twenty_object = "people"
local_key = "meta.id"
[[entities.c.fields]]
from = "contact.city"
to = "city"
[[entities.c.fields]]
from = "note"
to = "jobTitle"
direction = "push"
"#,
        );
        let t = EntityTable::from_plan(m.entity("c").unwrap(), "s", None);
        assert_eq!(t.key_column, "meta_id");
        assert_eq!(t.key_field.as_deref(), Some("meta.id"));
        assert_eq!(t.columns[0].column, "contact_city");
        assert_eq!(t.columns[0].field, "contact.city");
        assert_eq!(t.columns[0].column_type, ColumnType::Text);
        assert_eq!(t.columns[1].column_type, ColumnType::Jsonb);
    }
}
