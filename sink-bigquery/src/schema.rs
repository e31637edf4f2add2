//! Table schemas derived from the mapping, and verification of existing tables against them.

use std::fmt;
use std::time::Duration;

use gcp_bigquery_client::model::clustering::Clustering;
use gcp_bigquery_client::model::field_type::FieldType;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_schema::TableSchema;
use gcp_bigquery_client::model::time_partitioning::TimePartitioning;
use serde::Serialize;

use crate::config::{BigQueryConfig, BqType, EntityTable, canonical_type_name};

/// Staging-table bookkeeping columns.
pub(crate) const OP: &str = "_twenty_sync_op";
pub(crate) const BATCH: &str = "_twenty_sync_batch";
pub(crate) const SEQ: &str = "_twenty_sync_seq";
pub(crate) const LOADED_AT: &str = "_twenty_sync_loaded_at";
/// The deletes table's timestamp column.
pub(crate) const DELETED_AT: &str = "deleted_at";
/// How long staged rows are kept (partition expiration of the staging table).
pub(crate) const STAGING_RETENTION: Duration = Duration::from_secs(2 * 24 * 3600);

/// Which of an entity's tables a schema belongs to.
///
/// ```
/// use sink_bigquery::{SchemaReport, TableRole};
///
/// let report = SchemaReport {
///     entity: "contacts".into(),
///     table: "contacts__twenty_sync_staging".into(),
///     role: TableRole::Staging,
///     exists: false,
///     differences: vec![],
/// };
/// assert_eq!(report.to_string(), "table `contacts__twenty_sync_staging` (staging of contacts): does not exist");
/// assert_eq!(serde_json::to_value(TableRole::Deletes)?, "deletes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableRole {
    /// The entity's table (the system of record).
    Target,
    /// Where pulled batches are loaded before the `MERGE`.
    Staging,
    /// The deletes table, when deletions are tracked by one.
    Deletes,
}

/// One expected column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectedColumn {
    pub name: String,
    pub bq_type: BqType,
    pub required: bool,
}

/// The schema, partitioning and clustering one table should have.
#[derive(Debug, Clone)]
pub(crate) struct ExpectedTable {
    pub role: TableRole,
    pub name: String,
    pub columns: Vec<ExpectedColumn>,
    pub partition_field: String,
    pub partition_expiration: Option<Duration>,
    pub clustering: Vec<String>,
}

fn col(name: &str, bq_type: BqType, required: bool) -> ExpectedColumn {
    ExpectedColumn {
        name: name.to_owned(),
        bq_type,
        required,
    }
}

/// The tables an entity needs: target, staging and (optionally) deletes.
pub(crate) fn expected_tables(config: &BigQueryConfig, e: &EntityTable) -> Vec<ExpectedTable> {
    let key_type = e.key_type.bq_type();
    let mut target = vec![
        col(&e.key_column, key_type, true),
        col(&e.updated_at_column, BqType::Timestamp, true),
    ];
    target.extend(
        e.columns
            .iter()
            .map(|c| col(&c.name, c.bq_type, c.required)),
    );
    if let Some(t) = e.tombstone_column() {
        target.push(col(t, BqType::Timestamp, false));
    }
    let mut staging = vec![
        col(&e.key_column, key_type, false),
        col(&e.updated_at_column, BqType::Timestamp, false),
    ];
    staging.extend(e.columns.iter().map(|c| col(&c.name, c.bq_type, false)));
    staging.extend([
        col(OP, BqType::String, false),
        col(BATCH, BqType::String, false),
        col(SEQ, BqType::Int64, false),
        col(LOADED_AT, BqType::Timestamp, false),
    ]);
    let mut out = vec![
        ExpectedTable {
            role: TableRole::Target,
            name: e.table.clone(),
            columns: target,
            partition_field: e.updated_at_column.clone(),
            partition_expiration: None,
            clustering: vec![e.key_column.clone()],
        },
        ExpectedTable {
            role: TableRole::Staging,
            name: config.staging_table(e),
            columns: staging,
            partition_field: LOADED_AT.to_owned(),
            partition_expiration: Some(STAGING_RETENTION),
            clustering: vec![BATCH.to_owned()],
        },
    ];
    if let Some(t) = e.deletes_table() {
        out.push(ExpectedTable {
            role: TableRole::Deletes,
            name: t.to_owned(),
            columns: vec![
                col(&e.key_column, key_type, true),
                col(DELETED_AT, BqType::Timestamp, true),
            ],
            partition_field: DELETED_AT.to_owned(),
            partition_expiration: None,
            clustering: vec![e.key_column.clone()],
        });
    }
    out
}

fn field_type(t: BqType) -> FieldType {
    match t {
        BqType::String => FieldType::String,
        BqType::Int64 => FieldType::Int64,
        BqType::Float64 => FieldType::Float64,
        BqType::Numeric => FieldType::Numeric,
        BqType::Bignumeric => FieldType::Bignumeric,
        BqType::Bool => FieldType::Bool,
        BqType::Timestamp => FieldType::Timestamp,
        BqType::Date => FieldType::Date,
        BqType::Datetime => FieldType::Datetime,
        BqType::Time => FieldType::Time,
        BqType::Bytes => FieldType::Bytes,
        BqType::Json => FieldType::Json,
    }
}

/// The `tables.insert` body of an expected table.
pub(crate) fn to_table(project: &str, dataset: &str, t: &ExpectedTable) -> Table {
    let fields = t
        .columns
        .iter()
        .map(|c| {
            let mut f = TableFieldSchema::new(&c.name, field_type(c.bq_type));
            f.mode = Some(if c.required { "REQUIRED" } else { "NULLABLE" }.to_owned());
            f
        })
        .collect();
    let mut partitioning = TimePartitioning::per_day().field(&t.partition_field);
    if let Some(exp) = t.partition_expiration {
        partitioning = partitioning.expiration_ms(exp);
    }
    Table::new(project, dataset, &t.name, TableSchema::new(fields))
        .time_partitioning(partitioning)
        .clustering(Clustering {
            fields: Some(t.clustering.clone()),
        })
}

/// One way an existing table differs from what the mapping needs.
///
/// ```
/// use sink_bigquery::SchemaDifference;
///
/// let d = SchemaDifference::WrongType {
///     column: "business_name".into(),
///     expected: "STRING".into(),
///     actual: "INT64".into(),
/// };
/// assert_eq!(d.to_string(), "column `business_name` is INT64, expected STRING");
/// assert_eq!(serde_json::to_value(&d)?["difference"], "wrong_type");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SchemaDifference {
    /// A column the mapping needs is not in the table.
    MissingColumn {
        /// The column.
        column: String,
        /// Its expected type.
        expected_type: String,
    },
    /// A column has another type than the mapping says.
    WrongType {
        /// The column.
        column: String,
        /// The type the mapping needs.
        expected: String,
        /// The type the table has.
        actual: String,
    },
    /// A column has another mode (`NULLABLE`, `REQUIRED`, `REPEATED`) than the mapping says.
    WrongMode {
        /// The column.
        column: String,
        /// The mode the mapping needs.
        expected: String,
        /// The mode the table has.
        actual: String,
    },
    /// A `REQUIRED` column the mapping does not fill: every write would fail.
    UnmappedRequiredColumn {
        /// The column.
        column: String,
    },
    /// The table is not partitioned on the expected column (queries scan more than needed).
    Partitioning {
        /// The expected partitioning column.
        expected: String,
        /// The actual one, if partitioned by a column at all.
        actual: Option<String>,
    },
    /// The table is not clustered as expected (key lookups scan more than needed).
    Clustering {
        /// The expected clustering columns.
        expected: Vec<String>,
        /// The actual ones.
        actual: Vec<String>,
    },
}

impl SchemaDifference {
    /// Whether the sink cannot work with the table as it is (as opposed to costing more).
    ///
    /// ```
    /// use sink_bigquery::SchemaDifference;
    ///
    /// let missing = SchemaDifference::MissingColumn { column: "website".into(), expected_type: "STRING".into() };
    /// assert!(missing.is_blocking());
    /// // Another clustering only makes key lookups scan more.
    /// let clustering = SchemaDifference::Clustering { expected: vec!["business_id".into()], actual: vec![] };
    /// assert!(!clustering.is_blocking());
    /// // A REQUIRED column where the mapping writes nulls would reject rows.
    /// let mode = |actual: &str| SchemaDifference::WrongMode {
    ///     column: "website".into(), expected: "NULLABLE".into(), actual: actual.into(),
    /// };
    /// assert!(mode("REQUIRED").is_blocking());
    /// ```
    pub fn is_blocking(&self) -> bool {
        match self {
            SchemaDifference::MissingColumn { .. }
            | SchemaDifference::WrongType { .. }
            | SchemaDifference::UnmappedRequiredColumn { .. } => true,
            // A REQUIRED column where NULLABLE is expected rejects nulls; REPEATED never fits.
            SchemaDifference::WrongMode {
                actual, expected, ..
            } => actual == "REPEATED" || (actual == "REQUIRED" && expected == "NULLABLE"),
            SchemaDifference::Partitioning { .. } | SchemaDifference::Clustering { .. } => false,
        }
    }
}

impl fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaDifference::MissingColumn {
                column,
                expected_type,
            } => write!(f, "missing column `{column}` ({expected_type})"),
            SchemaDifference::WrongType {
                column,
                expected,
                actual,
            } => write!(f, "column `{column}` is {actual}, expected {expected}"),
            SchemaDifference::WrongMode {
                column,
                expected,
                actual,
            } => write!(f, "column `{column}` is {actual}, expected {expected}"),
            SchemaDifference::UnmappedRequiredColumn { column } => write!(
                f,
                "column `{column}` is REQUIRED but not mapped (make it NULLABLE or map it)"
            ),
            SchemaDifference::Partitioning { expected, actual } => write!(
                f,
                "partitioned on {}, expected on `{expected}`",
                actual
                    .as_deref()
                    .map(|a| format!("`{a}`"))
                    .unwrap_or_else(|| "nothing".to_owned())
            ),
            SchemaDifference::Clustering { expected, actual } => {
                write!(f, "clustered on {actual:?}, expected {expected:?}")
            }
        }
    }
}

/// The result of checking one table against the mapping.
///
/// ```
/// use sink_bigquery::{SchemaDifference, SchemaReport, TableRole};
///
/// let report = SchemaReport {
///     entity: "businesses".into(),
///     table: "businesses".into(),
///     role: TableRole::Target,
///     exists: true,
///     differences: vec![SchemaDifference::Partitioning { expected: "updated_at".into(), actual: None }],
/// };
/// assert!(report.is_usable(), "a partitioning difference costs more but works");
/// assert_eq!(
///     report.to_string(),
///     "table `businesses` (target of businesses); partitioned on nothing, expected on `updated_at`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaReport {
    /// The entity the table belongs to.
    pub entity: String,
    /// The table name.
    pub table: String,
    /// Which of the entity's tables it is.
    pub role: TableRole,
    /// Whether the table exists at all (if not, nothing else is checked).
    pub exists: bool,
    /// Every difference found, in column order.
    pub differences: Vec<SchemaDifference>,
}

impl SchemaReport {
    /// Whether the sink can use the table (it exists and has no blocking difference).
    ///
    /// ```
    /// use sink_bigquery::{SchemaDifference, SchemaReport, TableRole};
    ///
    /// let mut report = SchemaReport {
    ///     entity: "contacts".into(),
    ///     table: "contacts".into(),
    ///     role: TableRole::Target,
    ///     exists: true,
    ///     differences: vec![],
    /// };
    /// assert!(report.is_usable());
    /// report.differences.push(SchemaDifference::UnmappedRequiredColumn { column: "owner".into() });
    /// assert!(!report.is_usable());
    /// report.differences.clear();
    /// report.exists = false;
    /// assert!(!report.is_usable(), "a missing table must be created first");
    /// ```
    pub fn is_usable(&self) -> bool {
        self.exists && !self.differences.iter().any(SchemaDifference::is_blocking)
    }
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table `{}` ({} of {})",
            self.table,
            role_name(self.role),
            self.entity
        )?;
        if !self.exists {
            return f.write_str(": does not exist");
        }
        if self.differences.is_empty() {
            return f.write_str(": matches the mapping");
        }
        for d in &self.differences {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

fn role_name(role: TableRole) -> &'static str {
    match role {
        TableRole::Target => "target",
        TableRole::Staging => "staging",
        TableRole::Deletes => "deletes",
    }
}

fn type_name(t: &FieldType) -> String {
    let raw = serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{t:?}").to_ascii_uppercase());
    canonical_type_name(&raw)
}

/// Compares an existing table with the expected one.
pub(crate) fn compare(entity: &str, expected: &ExpectedTable, actual: &Table) -> SchemaReport {
    let mut differences = Vec::new();
    let fields = actual.schema.fields.clone().unwrap_or_default();
    for c in &expected.columns {
        let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(&c.name)) else {
            differences.push(SchemaDifference::MissingColumn {
                column: c.name.clone(),
                expected_type: c.bq_type.as_str().to_owned(),
            });
            continue;
        };
        let actual_type = type_name(&f.r#type);
        if !c.bq_type.matches(&actual_type) {
            differences.push(SchemaDifference::WrongType {
                column: c.name.clone(),
                expected: c.bq_type.as_str().to_owned(),
                actual: actual_type,
            });
        }
        let actual_mode = f.mode.as_deref().unwrap_or("NULLABLE").to_ascii_uppercase();
        let expected_mode = if c.required { "REQUIRED" } else { "NULLABLE" };
        if actual_mode != expected_mode {
            differences.push(SchemaDifference::WrongMode {
                column: c.name.clone(),
                expected: expected_mode.to_owned(),
                actual: actual_mode,
            });
        }
    }
    for f in &fields {
        let mapped = expected
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&f.name));
        if !mapped
            && f.mode
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("REQUIRED"))
        {
            differences.push(SchemaDifference::UnmappedRequiredColumn {
                column: f.name.clone(),
            });
        }
    }
    let actual_partition = actual
        .time_partitioning
        .as_ref()
        .and_then(|p| p.field.clone());
    if !actual_partition
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(&expected.partition_field))
    {
        differences.push(SchemaDifference::Partitioning {
            expected: expected.partition_field.clone(),
            actual: actual_partition,
        });
    }
    let actual_clustering = actual
        .clustering
        .as_ref()
        .and_then(|c| c.fields.clone())
        .unwrap_or_default();
    if actual_clustering != expected.clustering {
        differences.push(SchemaDifference::Clustering {
            expected: expected.clustering.clone(),
            actual: actual_clustering,
        });
    }
    SchemaReport {
        entity: entity.to_owned(),
        table: expected.name.clone(),
        role: expected.role,
        exists: true,
        differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnSpec, DeleteTracking, EntityTable, KeyType};

    fn config() -> BigQueryConfig {
        BigQueryConfig::new(
            "p",
            "crm",
            vec![EntityTable {
                entity: "contacts".into(),
                table: "contacts".into(),
                key_column: "contact_id".into(),
                key_type: KeyType::String,
                key_field: None,
                updated_at_column: "updated_at".into(),
                columns: vec![
                    ColumnSpec::new("canonical_name", BqType::String),
                    ColumnSpec::new("context", BqType::Json),
                ],
                deletes: DeleteTracking::default(),
            }],
        )
    }

    fn target(c: &BigQueryConfig) -> ExpectedTable {
        expected_tables(c, &c.entities[0]).remove(0)
    }

    #[test]
    fn a_table_created_from_the_mapping_verifies_clean() {
        let c = config();
        let t = target(&c);
        let report = compare("contacts", &t, &to_table("p", "crm", &t));
        assert!(report.differences.is_empty(), "{report}");
        assert!(report.is_usable());
    }

    #[test]
    fn differences_name_the_column_and_both_sides() {
        let c = config();
        let t = target(&c);
        let mut actual = to_table("p", "crm", &t);
        let fields = actual.schema.fields.as_mut().unwrap();
        fields.retain(|f| f.name != "context");
        fields[1].mode = Some("NULLABLE".into()); // updated_at
        fields[2].r#type = FieldType::Int64; // canonical_name
        fields.push({
            let mut f = TableFieldSchema::new("legacy", FieldType::String);
            f.mode = Some("REQUIRED".into());
            f
        });
        actual.time_partitioning = None;
        let report = compare("contacts", &t, &actual);
        let text = report.to_string();
        assert!(text.contains("missing column `context` (JSON)"), "{text}");
        assert!(
            text.contains("column `canonical_name` is INT64, expected STRING"),
            "{text}"
        );
        assert!(
            text.contains("column `updated_at` is NULLABLE, expected REQUIRED"),
            "{text}"
        );
        assert!(
            text.contains("`legacy` is REQUIRED but not mapped"),
            "{text}"
        );
        assert!(text.contains("partitioned on nothing"), "{text}");
        assert!(!report.is_usable());
    }

    #[test]
    fn integer_alias_is_not_a_type_difference() {
        let c = config();
        let mut t = target(&c);
        t.columns.push(ExpectedColumn {
            name: "n".into(),
            bq_type: BqType::Int64,
            required: false,
        });
        let mut actual = to_table("p", "crm", &t);
        actual
            .schema
            .fields
            .as_mut()
            .unwrap()
            .last_mut()
            .unwrap()
            .r#type = FieldType::Integer;
        assert!(compare("contacts", &t, &actual).differences.is_empty());
    }

    #[test]
    fn staging_table_expires_its_partitions_and_clusters_on_the_batch() {
        let c = config();
        let staging = expected_tables(&c, &c.entities[0]).remove(1);
        let table = to_table("p", "crm", &staging);
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["timePartitioning"]["field"], LOADED_AT);
        assert_eq!(json["timePartitioning"]["expirationMs"], "172800000");
        assert_eq!(json["clustering"]["fields"][0], BATCH);
    }
}
