//! Default tables derived from a compiled `twenty-mapping` plan.
//!
//! Each local field of an [`EntityPlan`] becomes one column, typed by the kind of value the plan
//! says it holds ([`EntityPlan::local_fields`]: the Twenty type of the rule's target, refined by
//! running the rule's inverse pipeline on a sample value). So a `split_name` rule that turns
//! `FULL_NAME` into one string gets a `text` column, not `jsonb`. Nested values (composite fields,
//! RAW_JSON, lists of objects) and push-only fields go to `jsonb`.

use twenty_mapping::{EntityPlan, LocalKind, TwentySchema};

use crate::config::{ColumnMap, ColumnType, EntityTable};

/// The column type that holds a local field of `kind`.
fn column_type(kind: LocalKind) -> ColumnType {
    match kind {
        LocalKind::Text => ColumnType::Text,
        LocalKind::Integer => ColumnType::Bigint,
        LocalKind::Float => ColumnType::Double,
        LocalKind::Decimal => ColumnType::Numeric,
        LocalKind::Bool => ColumnType::Boolean,
        LocalKind::Timestamp => ColumnType::Timestamptz,
        LocalKind::Date => ColumnType::Date,
        LocalKind::Uuid => ColumnType::Uuid,
        LocalKind::TextList => ColumnType::TextArray,
        // `LocalKind` may grow: jsonb keeps any value exactly.
        _ => ColumnType::Jsonb,
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
    plan.local_fields(schema)
        .into_iter()
        .map(|f| (f.path, column_type(f.kind)))
        .collect()
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
    use twenty_mapping::{MappingFile, TransformRegistry, compile};

    fn plan_of(toml: &str) -> twenty_mapping::CompiledMapping {
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
                ColumnType::Text,
                ColumnType::Bigint,
                ColumnType::Double,
                ColumnType::Numeric,
                ColumnType::Boolean,
                ColumnType::Timestamptz,
                ColumnType::Date,
                ColumnType::Uuid,
                ColumnType::TextArray,
                ColumnType::Jsonb,
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
