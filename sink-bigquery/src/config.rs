//! The sink's own mapping configuration: which BigQuery table holds which entity, and how.
//!
//! Deliberately small and serde-friendly (TOML, JSON, YAML...). The table schema is *derived*
//! from it (see [`crate::schema`]); nothing else describes the tables.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use twenty_sync_core::{StoreError, StoreErrorKind, StoreResult};

/// A BigQuery column type the sink knows how to write and read.
///
/// Aliases accepted when deserialising: `INTEGER` for `INT64`, `FLOAT` for `FLOAT64`, `BOOLEAN`
/// for `BOOL`. GEOGRAPHY, RECORD and REPEATED columns are not supported: map nested values to a
/// `JSON` column instead.
///
/// ```
/// use sink_bigquery::BqType;
///
/// // Configuration files may use BigQuery's legacy names.
/// let t: BqType = serde_json::from_value(serde_json::json!("INTEGER"))?;
/// assert_eq!(t, BqType::Int64);
/// assert_eq!(serde_json::to_value(t)?, "INT64");
/// assert!(serde_json::from_value::<BqType>(serde_json::json!("GEOGRAPHY")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum BqType {
    /// `STRING`.
    String,
    /// `INT64` (alias `INTEGER`).
    #[serde(alias = "INTEGER")]
    Int64,
    /// `FLOAT64` (alias `FLOAT`).
    #[serde(alias = "FLOAT")]
    Float64,
    /// `NUMERIC` (read back as a string, to keep its precision).
    Numeric,
    /// `BIGNUMERIC` (read back as a string).
    Bignumeric,
    /// `BOOL` (alias `BOOLEAN`).
    #[serde(alias = "BOOLEAN")]
    Bool,
    /// `TIMESTAMP` (read back as an RFC 3339 string in UTC).
    Timestamp,
    /// `DATE` (`YYYY-MM-DD`).
    Date,
    /// `DATETIME` (civil time, no zone).
    Datetime,
    /// `TIME`.
    Time,
    /// `BYTES` (base64 strings).
    Bytes,
    /// `JSON`: any nested value (objects, arrays) of the local record.
    Json,
}

impl BqType {
    /// The canonical type name BigQuery reports in a table's schema (`"INT64"`, `"JSON"`...).
    ///
    /// ```
    /// use sink_bigquery::BqType;
    ///
    /// for t in [BqType::String, BqType::Float64, BqType::Timestamp, BqType::Json] {
    ///     // The name written to configuration files is the canonical one.
    ///     assert_eq!(serde_json::to_value(t)?, t.as_str());
    /// }
    /// assert_eq!(BqType::Bool.as_str(), "BOOL");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BqType::String => "STRING",
            BqType::Int64 => "INT64",
            BqType::Float64 => "FLOAT64",
            BqType::Numeric => "NUMERIC",
            BqType::Bignumeric => "BIGNUMERIC",
            BqType::Bool => "BOOL",
            BqType::Timestamp => "TIMESTAMP",
            BqType::Date => "DATE",
            BqType::Datetime => "DATETIME",
            BqType::Time => "TIME",
            BqType::Bytes => "BYTES",
            BqType::Json => "JSON",
        }
    }

    /// Whether `name` (as found in a table's schema, any alias) denotes this type.
    ///
    /// ```
    /// use sink_bigquery::BqType;
    ///
    /// assert!(BqType::Int64.matches("INTEGER"));
    /// assert!(BqType::Bool.matches("boolean"));
    /// assert!(BqType::Float64.matches("FLOAT64"));
    /// assert!(!BqType::Int64.matches("NUMERIC"));
    /// ```
    pub fn matches(self, name: &str) -> bool {
        canonical_type_name(name) == self.as_str()
    }
}

/// The canonical spelling of a BigQuery type name (`INTEGER` -> `INT64`, `STRUCT` -> `RECORD`...).
pub(crate) fn canonical_type_name(name: &str) -> String {
    let name = name.to_ascii_uppercase();
    match name.as_str() {
        "INTEGER" => "INT64".to_owned(),
        "FLOAT" => "FLOAT64".to_owned(),
        "BOOLEAN" => "BOOL".to_owned(),
        "STRUCT" => "RECORD".to_owned(),
        _ => name,
    }
}

/// One mapped column: a local field stored in a BigQuery column.
///
/// ```
/// use sink_bigquery::{BqType, ColumnSpec};
///
/// let column: ColumnSpec = serde_json::from_value(serde_json::json!({
///     "name": "notes", "field": "context.notes", "type": "STRING"
/// }))?;
/// assert_eq!(column, ColumnSpec::new("notes", BqType::String).with_field("context.notes"));
/// assert!(!column.required, "NULLABLE by default");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The column name in BigQuery.
    pub name: String,
    /// The field of the local record (dotted path for nested values, e.g. `"context.notes"`).
    /// Defaults to the column name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The column type.
    #[serde(rename = "type")]
    pub bq_type: BqType,
    /// Whether the column is `REQUIRED` (default `NULLABLE`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

impl ColumnSpec {
    /// A nullable column storing the local field of the same name.
    ///
    /// ```
    /// use sink_bigquery::{BqType, ColumnSpec};
    /// let col = ColumnSpec::new("canonical_name", BqType::String);
    /// assert_eq!(col.field_path(), "canonical_name");
    /// ```
    pub fn new(name: impl Into<String>, bq_type: BqType) -> Self {
        ColumnSpec {
            name: name.into(),
            field: None,
            bq_type,
            required: false,
        }
    }

    /// Stores the local field at `path` (dotted for nested values) instead of the column's name.
    ///
    /// ```
    /// use sink_bigquery::{BqType, ColumnSpec};
    ///
    /// let column = ColumnSpec::new("city", BqType::String).with_field("address.addressCity");
    /// assert_eq!(column.name, "city");
    /// assert_eq!(column.field_path(), "address.addressCity");
    /// ```
    pub fn with_field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into());
        self
    }

    /// Marks the column `REQUIRED`.
    ///
    /// ```
    /// use sink_bigquery::{BqType, ColumnSpec};
    ///
    /// let column = ColumnSpec::new("business_name", BqType::String).required();
    /// assert!(column.required);
    /// assert_eq!(serde_json::to_value(&column)?["required"], true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The local field path this column stores.
    ///
    /// ```
    /// use sink_bigquery::{BqType, ColumnSpec};
    ///
    /// assert_eq!(ColumnSpec::new("website", BqType::String).field_path(), "website");
    /// let nested = ColumnSpec::new("tags", BqType::Json).with_field("context.tags");
    /// assert_eq!(nested.field_path(), "context.tags");
    /// ```
    pub fn field_path(&self) -> &str {
        self.field.as_deref().unwrap_or(&self.name)
    }
}

/// How deletions are recorded, for both directions.
///
/// ```
/// use sink_bigquery::DeleteTracking;
///
/// assert_eq!(DeleteTracking::default(), DeleteTracking::Tombstone { column: "deleted_at".into() });
/// let deletes: DeleteTracking = serde_json::from_value(serde_json::json!({
///     "mode": "deletes_table", "table": "businesses_deleted"
/// }))?;
/// assert_eq!(deletes, DeleteTracking::DeletesTable { table: "businesses_deleted".into() });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DeleteTracking {
    /// A nullable `TIMESTAMP` column in the table: set means deleted. Writers that delete locally
    /// set it *and* bump the updated-at column; pulled deletes that ask for a tombstone set it,
    /// other pulled deletes remove the row.
    Tombstone {
        /// The tombstone column (default `deleted_at`).
        #[serde(default = "default_tombstone_column")]
        column: String,
    },
    /// A separate table `(key, deleted_at)` that local writers append to when they delete a row.
    /// Pulled deletes remove the row from the main table and are recorded there too.
    DeletesTable {
        /// The deletes table, in the same dataset.
        table: String,
    },
}

impl Default for DeleteTracking {
    fn default() -> Self {
        DeleteTracking::Tombstone {
            column: default_tombstone_column(),
        }
    }
}

fn default_tombstone_column() -> String {
    "deleted_at".to_owned()
}

/// The key column's type: local keys are strings, stored as `STRING` or `INT64`.
///
/// ```
/// use sink_bigquery::KeyType;
///
/// assert_eq!(KeyType::default(), KeyType::String);
/// let key: KeyType = serde_json::from_value(serde_json::json!("INTEGER"))?;
/// assert_eq!(key, KeyType::Int64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum KeyType {
    /// `STRING` keys (default).
    #[default]
    String,
    /// `INT64` keys (alias `INTEGER`); local keys must then be decimal integers.
    #[serde(alias = "INTEGER")]
    Int64,
}

impl KeyType {
    /// The column type of the key.
    ///
    /// ```
    /// use sink_bigquery::{BqType, KeyType};
    ///
    /// assert_eq!(KeyType::Int64.bq_type(), BqType::Int64);
    /// assert_eq!(KeyType::String.bq_type().as_str(), "STRING");
    /// ```
    pub fn bq_type(self) -> BqType {
        match self {
            KeyType::String => BqType::String,
            KeyType::Int64 => BqType::Int64,
        }
    }
}

/// One entity stored in one BigQuery table.
///
/// ```
/// use sink_bigquery::{BqType, EntityTable, KeyType};
///
/// let table: EntityTable = serde_json::from_value(serde_json::json!({
///     "entity": "contacts",
///     "table": "contacts",
///     "key_column": "contact_id",
///     "updated_at_column": "updated_at",
///     "columns": [{ "name": "canonical_name", "type": "STRING" }, { "name": "context", "type": "JSON" }]
/// }))?;
/// assert_eq!(table.key_type, KeyType::String);
/// assert_eq!(table.columns[1].bq_type, BqType::Json);
/// assert_eq!(table.tombstone_column(), Some("deleted_at"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityTable {
    /// The local entity name the engine uses (e.g. `"contacts"`).
    pub entity: String,
    /// The table name, in the config's dataset.
    pub table: String,
    /// The key column (`REQUIRED`); it holds the local key.
    pub key_column: String,
    /// The key column's type (default `STRING`).
    #[serde(default)]
    pub key_type: KeyType,
    /// The local field holding the key in record data (default: the key column's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_field: Option<String>,
    /// The `TIMESTAMP` column (`REQUIRED`) of the last change; the table is partitioned on it.
    pub updated_at_column: String,
    /// The mapped columns (key and updated-at columns excluded).
    pub columns: Vec<ColumnSpec>,
    /// How deletions are recorded (default: tombstone column `deleted_at`).
    #[serde(default)]
    pub deletes: DeleteTracking,
}

impl EntityTable {
    /// The local field holding the key in record data.
    ///
    /// ```
    /// # let table = |extra: serde_json::Value| -> sink_bigquery::EntityTable {
    /// #     let mut v = serde_json::json!({"entity": "contacts", "table": "contacts", "key_column": "contact_id", "updated_at_column": "updated_at", "columns": []});
    /// #     v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    /// #     serde_json::from_value(v).unwrap()
    /// # };
    /// use serde_json::json;
    ///
    /// assert_eq!(table(json!({})).key_field(), "contact_id", "the key column by default");
    /// assert_eq!(table(json!({"key_field": "id"})).key_field(), "id");
    /// ```
    pub fn key_field(&self) -> &str {
        self.key_field.as_deref().unwrap_or(&self.key_column)
    }

    /// The tombstone column, when deletions are tracked by one.
    ///
    /// ```
    /// # let table = |extra: serde_json::Value| -> sink_bigquery::EntityTable {
    /// #     let mut v = serde_json::json!({"entity": "contacts", "table": "contacts", "key_column": "contact_id", "updated_at_column": "updated_at", "columns": []});
    /// #     v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    /// #     serde_json::from_value(v).unwrap()
    /// # };
    /// use serde_json::json;
    ///
    /// assert_eq!(table(json!({})).tombstone_column(), Some("deleted_at"));
    /// let removed = table(json!({"deletes": {"mode": "tombstone", "column": "removed_at"}}));
    /// assert_eq!(removed.tombstone_column(), Some("removed_at"));
    /// let separate = table(json!({"deletes": {"mode": "deletes_table", "table": "contacts_deleted"}}));
    /// assert_eq!(separate.tombstone_column(), None);
    /// ```
    pub fn tombstone_column(&self) -> Option<&str> {
        match &self.deletes {
            DeleteTracking::Tombstone { column } => Some(column),
            DeleteTracking::DeletesTable { .. } => None,
        }
    }

    /// The deletes table, when deletions are tracked by one.
    ///
    /// ```
    /// # let table = |extra: serde_json::Value| -> sink_bigquery::EntityTable {
    /// #     let mut v = serde_json::json!({"entity": "contacts", "table": "contacts", "key_column": "contact_id", "updated_at_column": "updated_at", "columns": []});
    /// #     v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    /// #     serde_json::from_value(v).unwrap()
    /// # };
    /// use serde_json::json;
    ///
    /// let separate = table(json!({"deletes": {"mode": "deletes_table", "table": "contacts_deleted"}}));
    /// assert_eq!(separate.deletes_table(), Some("contacts_deleted"));
    /// assert_eq!(table(json!({})).deletes_table(), None);
    /// ```
    pub fn deletes_table(&self) -> Option<&str> {
        match &self.deletes {
            DeleteTracking::DeletesTable { table } => Some(table),
            DeleteTracking::Tombstone { .. } => None,
        }
    }
}

/// The whole sink configuration: where the tables are and how entities map to them.
///
/// ```
/// use sink_bigquery::BigQueryConfig;
///
/// let config: BigQueryConfig = serde_json::from_value(serde_json::json!({
///     "project_id": "my-project",
///     "dataset": "crm",
///     "entities": [{
///         "entity": "businesses",
///         "table": "businesses",
///         "key_column": "business_id",
///         "updated_at_column": "updated_at",
///         "columns": [{ "name": "business_name", "type": "STRING" }]
///     }]
/// })).unwrap();
/// config.validate().unwrap();
/// assert_eq!(config.entity("businesses").unwrap().tombstone_column(), Some("deleted_at"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigQueryConfig {
    /// The Google Cloud project that holds the dataset and runs the queries.
    pub project_id: String,
    /// The dataset holding every table.
    pub dataset: String,
    /// The dataset location (e.g. `"EU"`), used when creating it and for job lookups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Rows whose updated-at is younger than this many seconds are not read yet (default 120):
    /// rows streamed with an older timestamp may still be arriving through the streaming buffer.
    #[serde(default = "default_safety_lag_secs")]
    pub safety_lag_secs: u64,
    /// Rows per page when reading changes (default 500).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The suffix of each entity's staging table (default `__twenty_sync_staging`).
    #[serde(default = "default_staging_suffix")]
    pub staging_suffix: String,
    /// One entry per synced entity.
    pub entities: Vec<EntityTable>,
}

fn default_safety_lag_secs() -> u64 {
    120
}

fn default_page_size() -> u32 {
    500
}

fn default_staging_suffix() -> String {
    "__twenty_sync_staging".to_owned()
}

/// Column names the staging table adds; mapped columns must not use them.
pub(crate) const RESERVED_PREFIX: &str = "_twenty_sync_";

impl BigQueryConfig {
    /// A configuration with defaults for everything but the project, dataset and entities.
    ///
    /// ```
    /// use sink_bigquery::{BigQueryConfig, BqType, ColumnSpec, DeleteTracking, EntityTable, KeyType};
    ///
    /// let contacts = EntityTable {
    ///     entity: "contacts".into(),
    ///     table: "contacts".into(),
    ///     key_column: "contact_id".into(),
    ///     key_type: KeyType::String,
    ///     key_field: None,
    ///     updated_at_column: "updated_at".into(),
    ///     columns: vec![ColumnSpec::new("canonical_name", BqType::String)],
    ///     deletes: DeleteTracking::default(),
    /// };
    /// let config = BigQueryConfig::new("my-project", "crm", vec![contacts]);
    /// assert_eq!((config.safety_lag_secs, config.page_size), (120, 500));
    /// assert_eq!(config.location, None);
    /// config.validate()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        project_id: impl Into<String>,
        dataset: impl Into<String>,
        entities: Vec<EntityTable>,
    ) -> Self {
        BigQueryConfig {
            project_id: project_id.into(),
            dataset: dataset.into(),
            location: None,
            safety_lag_secs: default_safety_lag_secs(),
            page_size: default_page_size(),
            staging_suffix: default_staging_suffix(),
            entities,
        }
    }

    /// The safety lag as a duration.
    ///
    /// ```
    /// # let mut config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use std::time::Duration;
    ///
    /// assert_eq!(config.safety_lag(), Duration::from_secs(120), "the default");
    /// config.safety_lag_secs = 300;
    /// assert_eq!(config.safety_lag(), Duration::from_secs(5 * 60));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn safety_lag(&self) -> Duration {
        Duration::from_secs(self.safety_lag_secs)
    }

    /// The mapping of `entity`, if configured.
    ///
    /// ```
    /// # let config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// let businesses = config.entity("businesses").expect("configured");
    /// assert_eq!(businesses.key_column, "business_id");
    /// assert!(config.entity("contacts").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entity(&self, entity: &str) -> Option<&EntityTable> {
        self.entities.iter().find(|e| e.entity == entity)
    }

    /// The staging table name of an entity's table.
    ///
    /// ```
    /// # let mut config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// let businesses = config.entity("businesses").unwrap();
    /// assert_eq!(config.staging_table(businesses), "businesses__twenty_sync_staging");
    /// config.staging_suffix = "_staging".into();
    /// assert_eq!(config.staging_table(config.entity("businesses").unwrap()), "businesses_staging");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staging_table(&self, table: &EntityTable) -> String {
        format!("{}{}", table.table, self.staging_suffix)
    }

    /// Checks names and consistency; the error names the entity and column at fault.
    ///
    /// ```
    /// # let mut config: sink_bigquery::BigQueryConfig = serde_json::from_value(serde_json::json!({
    /// #     "project_id": "my-project", "dataset": "crm",
    /// #     "entities": [{"entity": "businesses", "table": "businesses", "key_column": "business_id",
    /// #                   "updated_at_column": "updated_at", "columns": [{"name": "business_name", "type": "STRING"}]}]
    /// # }))?;
    /// use twenty_sync_core::StoreErrorKind;
    ///
    /// config.validate()?;
    /// // A mapped column may not reuse the key column.
    /// config.entities[0].columns.push(sink_bigquery::ColumnSpec::new("business_id", sink_bigquery::BqType::String));
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.kind(), StoreErrorKind::Config);
    /// assert!(err.to_string().contains("business_id"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate(&self) -> StoreResult<()> {
        if self.project_id.is_empty()
            || !self
                .project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'))
        {
            return Err(config_error(format!(
                "project_id {:?} is not a valid Google Cloud project id",
                self.project_id
            )));
        }
        check_identifier("dataset", &self.dataset, None)?;
        if self.page_size == 0 {
            return Err(config_error("page_size must be at least 1"));
        }
        if !self.staging_suffix.is_empty() {
            check_identifier("staging_suffix", &format!("x{}", self.staging_suffix), None)?;
        } else {
            return Err(config_error(
                "staging_suffix must not be empty (the staging table would be the target table)",
            ));
        }
        if self.entities.is_empty() {
            return Err(config_error("no entities configured"));
        }
        let mut entities = HashSet::new();
        let mut tables = HashSet::new();
        for e in &self.entities {
            if !entities.insert(e.entity.as_str()) {
                return Err(config_error(format!(
                    "entity {:?} is configured twice",
                    e.entity
                )));
            }
            self.validate_entity(e, &mut tables)?;
        }
        Ok(())
    }

    fn validate_entity<'a>(
        &self,
        e: &'a EntityTable,
        tables: &mut HashSet<&'a str>,
    ) -> StoreResult<()> {
        let ctx = Some(e.entity.as_str());
        check_identifier("table", &e.table, ctx)?;
        if !tables.insert(e.table.as_str()) {
            return Err(
                config_error(format!("table {:?} is used by two entities", e.table))
                    .with_context("entity", e.entity.clone()),
            );
        }
        check_identifier("key_column", &e.key_column, ctx)?;
        check_identifier("updated_at_column", &e.updated_at_column, ctx)?;
        let mut names = HashSet::new();
        let mut fixed = vec![e.key_column.as_str(), e.updated_at_column.as_str()];
        if let Some(t) = e.tombstone_column() {
            check_identifier("tombstone column", t, ctx)?;
            fixed.push(t);
        }
        if let Some(t) = e.deletes_table() {
            check_identifier("deletes table", t, ctx)?;
            if !tables.insert(t) {
                return Err(config_error(format!("deletes table {t:?} is used twice"))
                    .with_context("entity", e.entity.clone()));
            }
        }
        for name in fixed {
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(config_error(format!(
                    "column {name:?} is used twice (key, updated-at and tombstone columns must differ)"
                ))
                .with_context("entity", e.entity.clone()));
            }
        }
        let mut fields = HashSet::new();
        fields.insert(e.key_field().to_owned());
        for c in &e.columns {
            check_identifier("column", &c.name, ctx)?;
            if !names.insert(c.name.to_ascii_lowercase()) {
                return Err(config_error(format!(
                    "column {:?} is declared twice or clashes with the key, updated-at or tombstone column",
                    c.name
                ))
                .with_context("entity", e.entity.clone()));
            }
            if c.field_path().is_empty() || c.field_path().split('.').any(str::is_empty) {
                return Err(config_error(format!(
                    "column {:?} has an empty field path segment in {:?}",
                    c.name,
                    c.field_path()
                ))
                .with_context("entity", e.entity.clone()));
            }
            if !fields.insert(c.field_path().to_owned()) {
                return Err(config_error(format!(
                    "local field {:?} is mapped to two columns (second: {:?})",
                    c.field_path(),
                    c.name
                ))
                .with_context("entity", e.entity.clone()));
            }
        }
        Ok(())
    }
}

fn config_error(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Config, message)
}

/// BigQuery identifiers the sink accepts: letters, digits and `_`, not starting with a digit,
/// at most 300 characters, and not the staging columns' reserved prefix.
fn check_identifier(what: &str, name: &str, entity: Option<&str>) -> StoreResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 300
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.to_ascii_lowercase().starts_with(RESERVED_PREFIX);
    if valid {
        return Ok(());
    }
    let mut err = config_error(format!(
        "{what} {name:?} is not a plain BigQuery identifier (letters, digits, `_`, not starting \
         with a digit or `{RESERVED_PREFIX}`)"
    ));
    if let Some(entity) = entity {
        err = err.with_context("entity", entity);
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts() -> EntityTable {
        EntityTable {
            entity: "contacts".into(),
            table: "contacts".into(),
            key_column: "contact_id".into(),
            key_type: KeyType::String,
            key_field: None,
            updated_at_column: "updated_at".into(),
            columns: vec![ColumnSpec::new("canonical_name", BqType::String)],
            deletes: DeleteTracking::default(),
        }
    }

    #[test]
    fn type_aliases_match_canonical_names() {
        assert!(BqType::Int64.matches("INTEGER"));
        assert!(BqType::Float64.matches("float"));
        assert!(BqType::Bool.matches("BOOLEAN"));
        assert!(!BqType::String.matches("JSON"));
        let t: BqType = serde_json::from_str("\"INTEGER\"").unwrap();
        assert_eq!(t, BqType::Int64);
    }

    #[test]
    fn validate_rejects_a_column_clashing_with_the_key() {
        let mut e = contacts();
        e.columns
            .push(ColumnSpec::new("contact_id", BqType::String));
        let err = BigQueryConfig::new("p", "crm", vec![e])
            .validate()
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config);
        assert!(err.to_string().contains("contact_id"), "{err}");
        assert!(err.to_string().contains("entity=contacts"), "{err}");
    }

    #[test]
    fn validate_rejects_identifiers_that_would_need_quoting() {
        let mut e = contacts();
        e.table = "contacts`; DROP TABLE x".into();
        let err = BigQueryConfig::new("p", "crm", vec![e])
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("not a plain BigQuery identifier"),
            "{err}"
        );
    }

    #[test]
    fn validate_rejects_reserved_staging_column_names() {
        let mut e = contacts();
        e.columns
            .push(ColumnSpec::new("_twenty_sync_op", BqType::String));
        assert!(BigQueryConfig::new("p", "crm", vec![e]).validate().is_err());
    }

    #[test]
    fn validate_rejects_one_field_mapped_twice() {
        let mut e = contacts();
        e.columns
            .push(ColumnSpec::new("name2", BqType::String).with_field("canonical_name"));
        let err = BigQueryConfig::new("p", "crm", vec![e])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("mapped to two columns"), "{err}");
    }

    #[test]
    fn deletes_table_mode_deserialises_from_its_tag() {
        let d: DeleteTracking = serde_json::from_value(
            serde_json::json!({"mode": "deletes_table", "table": "x_deleted"}),
        )
        .unwrap();
        assert_eq!(
            d,
            DeleteTracking::DeletesTable {
                table: "x_deleted".into()
            }
        );
    }
}
