//! Tables derived from a compiled `twenty-mapping` plan.
//!
//! Each local field of an [`EntityPlan`] becomes one column, typed by the kind of value the plan
//! says it holds ([`EntityPlan::local_fields`]: the Twenty type of the rule's target, refined by
//! running the rule's inverse pipeline on a sample value). So a `split_name` rule that turns
//! `FULL_NAME` into one string gets a `STRING` column, not `JSON`. Nested values (composite
//! fields, RAW_JSON, lists) and push-only fields go to `JSON` columns.

use twenty_mapping::{CompiledMapping, EntityPlan, LocalKind, TwentySchema};

use twenty_sync_core::StoreResult;

use crate::config::{BigQueryConfig, BqType, ColumnSpec, DeleteTracking, EntityTable, KeyType};

/// The column type that holds a local field of `kind`.
fn column_type(kind: LocalKind) -> BqType {
    match kind {
        LocalKind::Text | LocalKind::Uuid => BqType::String,
        LocalKind::Integer => BqType::Int64,
        LocalKind::Float => BqType::Float64,
        LocalKind::Decimal => BqType::Numeric,
        LocalKind::Bool => BqType::Bool,
        LocalKind::Timestamp => BqType::Timestamp,
        LocalKind::Date => BqType::Date,
        // Lists and nested values; `LocalKind` may grow: JSON keeps any value exactly.
        _ => BqType::Json,
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
    plan.local_fields(schema)
        .into_iter()
        .map(|f| (f.path, column_type(f.kind), f.required))
        .collect()
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
    use twenty_mapping::{MappingFile, TransformRegistry, compile};

    fn plan_of(toml: &str) -> CompiledMapping {
        let file = MappingFile::from_toml_str(toml, "t.toml").unwrap();
        compile(&file, &TransformRegistry::with_builtins(), None).unwrap()
    }

    /// Which kind a field holds is twenty-mapping's (`EntityPlan::local_fields`, tested there);
    /// the column type of each kind is the sink's.
    #[test]
    fn every_local_kind_has_its_column_type() {
        use LocalKind as K;
        let kinds = [
            K::Text,
            K::Integer,
            K::Float,
            K::Decimal,
            K::Bool,
            K::Timestamp,
            K::Date,
            K::Uuid,
            K::TextList,
            K::Json,
        ];
        assert_eq!(
            kinds.map(column_type),
            [
                BqType::String,
                BqType::Int64,
                BqType::Float64,
                BqType::Numeric,
                BqType::Bool,
                BqType::Timestamp,
                BqType::Date,
                BqType::String,
                BqType::Json,
                BqType::Json,
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
