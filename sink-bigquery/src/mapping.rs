//! Tables derived from a compiled `twenty-mapping` plan.
//!
//! Each field rule of an [`EntityPlan`] becomes one column. Its type comes from what the rule
//! actually produces on the local side: the Twenty field type of the rule's target (the workspace
//! [`TwentySchema`] when given, else the custom fields the mapping file declares, else Twenty's
//! standard fields), refined by running the rule's inverse pipeline on a sample Twenty value of
//! that type (so a `split_name` rule that turns `FULL_NAME` into one string gets a `STRING`
//! column, not `JSON`). Nested values (composite fields, RAW_JSON, lists) go to `JSON` columns.

use serde_json::{json, Map, Value};
use twenty_mapping::{
    standard_field_type, CompiledMapping, EntityPlan, FieldType, TwentySchema, ValueKind,
};

use twenty_sync_core::StoreResult;

use crate::codec::get_path;
use crate::config::{BigQueryConfig, BqType, ColumnSpec, DeleteTracking, EntityTable, KeyType};

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
    fn column_type(self) -> BqType {
        match self {
            Local::Text | Local::Uuid => BqType::String,
            Local::Integer => BqType::Int64,
            Local::Float => BqType::Float64,
            Local::Decimal => BqType::Numeric,
            Local::Bool => BqType::Bool,
            Local::Timestamp => BqType::Timestamp,
            Local::Date => BqType::Date,
            Local::TextList | Local::Json => BqType::Json,
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

/// A BigQuery column name for a local path: `address.city` → `address_city`.
pub(crate) fn column_name(path: &str) -> String {
    let name: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("f_{name}")
    } else {
        name
    }
}

/// `(local path, column type, required)` of every local field the plan writes on pull or reads
/// on push, key excluded, in rule order (each path once).
pub(crate) fn derive_columns(
    plan: &EntityPlan,
    schema: Option<&TwentySchema>,
) -> Vec<(String, BqType, bool)> {
    let mut out: Vec<(String, BqType, bool)> = Vec::new();
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
            if path.is_empty() || path == plan.local_key() || out.iter().any(|(p, _, _)| p == path)
            {
                continue;
            }
            let kind = match &local {
                // Pulled: what the inverse pipeline produced for the sample, else the Twenty side.
                Some(record) => match get_path(record, path) {
                    None | Some(Value::Null) => twenty_kind,
                    Some(v) => probed(v, &sample, twenty_kind),
                },
                // Push only: the local value's shape is unknown; JSON keeps any value exactly.
                None => Local::Json,
            };
            out.push((path.to_owned(), kind.column_type(), rule.required()));
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
    /// The table of a mapped entity, derived from its compiled plan (for
    /// [`BigQuerySink::setup`](crate::BigQuerySink::setup) to create and verify): table named after
    /// the entity, key column named after the plan's local key (`STRING`), `updated_at`
    /// (`TIMESTAMP`, the partitioning column), one column per mapped local field with the type the
    /// mapping produces (the Twenty type of the rule's target, refined by running the rule's
    /// inverse pipeline on a sample value; nested values as `JSON`; see the README's type table),
    /// `REQUIRED` when the rule is required, and a `deleted_at` tombstone column. Pass the
    /// workspace's `schema` (metadata) to type custom fields the mapping file does not declare;
    /// without it they are `JSON`, which holds any value exactly.
    ///
    /// Adjust the result like any [`EntityTable`] (table name, deletes table...).
    ///
    /// ```
    /// use sink_bigquery::{BqType, EntityTable};
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    ///
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.businesses]
    /// twenty_object = "companies"
    /// local_key = "business_id"
    /// [[entities.businesses.fields]]
    /// from = "business_name"
    /// to = "name"
    /// required = true
    /// [[entities.businesses.fields]]
    /// from = "website"
    /// to = "domainName.primaryLinkUrl"
    /// [[entities.businesses.fields]]
    /// from = "address"
    /// to = "address"
    /// "#, "m.toml").unwrap();
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let table = EntityTable::from_plan(mapping.entity("businesses").unwrap(), None);
    /// assert_eq!(table.key_column, "business_id");
    /// let cols: Vec<_> = table.columns.iter().map(|c| (c.name.as_str(), c.bq_type, c.required)).collect();
    /// assert_eq!(cols, [
    ///     ("business_name", BqType::String, true),
    ///     ("website", BqType::String, false),
    ///     ("address", BqType::Json, false),   // ADDRESS: a nested value
    /// ]);
    /// ```
    pub fn from_plan(plan: &EntityPlan, twenty: Option<&TwentySchema>) -> Self {
        let key = plan.local_key();
        let key_column = column_name(key);
        EntityTable {
            entity: plan.name().to_owned(),
            table: column_name(plan.name()),
            key_field: (key_column != key).then(|| key.to_owned()),
            key_column,
            key_type: KeyType::String,
            updated_at_column: "updated_at".to_owned(),
            columns: derive_columns(plan, twenty)
                .into_iter()
                .map(|(path, ty, required)| {
                    let name = column_name(&path);
                    let mut c = ColumnSpec::new(name.clone(), ty);
                    if name != path {
                        c = c.with_field(path);
                    }
                    c.required = required;
                    c
                })
                .collect(),
            deletes: DeleteTracking::default(),
        }
    }
}

impl BigQueryConfig {
    /// A configuration with one table per entity of a compiled mapping (see
    /// [`EntityTable::from_plan`]), validated. Then [`BigQuerySink::setup`](crate::BigQuerySink::setup)
    /// creates the dataset and the tables, or verifies existing ones against it.
    ///
    /// ```
    /// use sink_bigquery::BigQueryConfig;
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    ///
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "contact_id"
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// "#, "m.toml").unwrap();
    /// let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
    /// let config = BigQueryConfig::from_mapping("my-project", "crm", &mapping, None).unwrap();
    /// assert_eq!(config.entity("contacts").unwrap().columns[0].name, "email");
    /// ```
    pub fn from_mapping(
        project_id: impl Into<String>,
        dataset: impl Into<String>,
        mapping: &CompiledMapping,
        twenty: Option<&TwentySchema>,
    ) -> StoreResult<Self> {
        let entities = mapping
            .entities()
            .map(|plan| EntityTable::from_plan(plan, twenty))
            .collect();
        let config = BigQueryConfig::new(project_id, dataset, entities);
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twenty_mapping::{compile, MappingFile, TransformRegistry};

    fn plan_of(toml: &str) -> CompiledMapping {
        let file = MappingFile::from_toml_str(toml, "t.toml").unwrap();
        compile(&file, &TransformRegistry::with_builtins(), None).unwrap()
    }

    #[test]
    fn column_types_follow_what_the_mapping_produces_locally() {
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
        let cols = derive_columns(m.entity("c").unwrap(), None);
        let got: Vec<(&str, BqType)> = cols.iter().map(|(p, t, _)| (p.as_str(), *t)).collect();
        assert_eq!(
            got,
            [
                ("full_name", BqType::String),
                ("score", BqType::Float64),
                ("born", BqType::Timestamp),
                ("tags", BqType::Json),
                ("vip", BqType::Bool),
                ("ctx.source", BqType::Json),
            ]
        );
    }

    #[test]
    fn nested_local_paths_get_plain_column_names_and_keep_their_field() {
        let m = plan_of(
            r#"
[entities.c]
twenty_object = "people"
local_key = "meta.id"
[[entities.c.fields]]
from = "contact.city"
to = "city"
"#,
        );
        let config = BigQueryConfig::from_mapping("p", "crm", &m, None).unwrap();
        let t = config.entity("c").unwrap();
        assert_eq!(t.key_column, "meta_id");
        assert_eq!(t.key_field(), "meta.id");
        assert_eq!(t.columns[0].name, "contact_city");
        assert_eq!(t.columns[0].field_path(), "contact.city");
        assert_eq!(t.tombstone_column(), Some("deleted_at"));
    }
}
