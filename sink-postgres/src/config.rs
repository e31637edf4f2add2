//! Configuration: where state lives, and which table each entity maps to.
//!
//! Everything here deserialises from the application's TOML (or JSON); identifiers are plain
//! strings and are always quoted before they reach SQL.
//!
//! ```
//! use sink_postgres::{SinkConfig, CaptureMode};
//!
//! let config: SinkConfig = toml::from_str(r#"
//!     state_schema = "twenty_sync"
//!
//!     [[entity]]
//!     entity = "people"
//!     schema = "crm"
//!     table = "people"
//!     key_column = "id"
//!     create = true
//!     columns = [
//!         { field = "name", column = "name", type = "jsonb" },
//!         { field = "city", column = "city", type = "text" },
//!     ]
//!     capture = { mode = "outbox" }
//! "#).unwrap();
//! assert_eq!(config.entities[0].capture, CaptureMode::Outbox);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of a [`PostgresSink`](crate::PostgresSink) that are not secret.
///
/// The connection string is *not* part of it: it comes from a
/// [`SecretProvider`](twenty_sync_core::SecretProvider) or is handed to the builder as a
/// [`SecretString`](secrecy::SecretString).
///
/// ```
/// use sink_postgres::SinkConfig;
///
/// // Every setting has a default; a configuration names what differs.
/// let config: SinkConfig = toml::from_str(r#"
///     state_schema = "crm_sync"
///     page_size = 500
/// "#)?;
/// assert_eq!(config.state_schema, "crm_sync");
/// assert_eq!(config.page_size, 500);
/// assert_eq!(config.connection_secret, "DATABASE_URL");
/// assert_eq!(config.max_connections, SinkConfig::default().max_connections);
/// assert!(toml::from_str::<SinkConfig>("state_shema = \"typo\"").is_err(), "unknown keys are refused");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Schema holding the sync state (ID map, cursors, runs, audit, leases, outbox). Created if
    /// missing. Default `twenty_sync`.
    #[serde(default = "default_state_schema")]
    pub state_schema: String,
    /// Name of the secret holding the connection string, when it comes from a
    /// `SecretProvider`. Default `DATABASE_URL`.
    #[serde(default = "default_secret_name")]
    pub connection_secret: String,
    /// Largest number of pooled connections. Default 8; with 3 or more a pull commits two
    /// batches at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Rows fetched per query when reading local changes. Default 1000.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// TLS settings (used when the connection string asks for `sslmode=prefer` or `require`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Commit pulled batches without waiting for the WAL flush (`SET LOCAL synchronous_commit =
    /// off` in each [`apply`](twenty_sync_core::SourceOfTruth::apply) transaction). Default
    /// `false`. An opt-in for large pulls, where one flush per batch is most of the time.
    ///
    /// The trade-off: if the *database server* crashes (or its machine loses power), the pulled
    /// batches committed in the last moments before (at most about three times the server's
    /// `wal_writer_delay`, 600 ms by default) are lost. They are lost whole, data *and* state
    /// together (the cursor included), never one without the other, and the database stays
    /// consistent, so the next pull simply reads them again from Twenty. Meanwhile other
    /// sessions may already have seen those rows. A crash of the sync process itself loses
    /// nothing committed. Push state ([`StateStore::commit`](twenty_sync_core::StateStore::commit))
    /// always commits durably, and its flush also makes every earlier pulled batch durable.
    ///
    /// Requires [`write_state_on_apply`](crate::PostgresSinkBuilder::write_state_on_apply)
    /// (the default): with the state kept elsewhere, a lost batch would be recorded as applied.
    #[serde(default)]
    pub async_pull_commit: bool,
    /// The entity -> table mappings.
    #[serde(default, rename = "entity")]
    pub entities: Vec<EntityTable>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            state_schema: default_state_schema(),
            connection_secret: default_secret_name(),
            max_connections: default_max_connections(),
            page_size: default_page_size(),
            tls: TlsConfig::default(),
            async_pull_commit: false,
            entities: Vec::new(),
        }
    }
}

fn default_state_schema() -> String {
    "twenty_sync".to_owned()
}
fn default_secret_name() -> String {
    "DATABASE_URL".to_owned()
}
fn default_max_connections() -> usize {
    8
}
fn default_page_size() -> usize {
    1000
}

/// TLS for hosted databases (rustls, ring provider).
///
/// Whether TLS is used is decided by the connection string's `sslmode`:
/// - `disable`: no TLS.
/// - `prefer` (the default): TLS when the server offers it, certificate *not* verified (as libpq's
///   `prefer`): protects against passive eavesdropping only.
/// - `require`: TLS, and the server certificate is verified against the roots below (and its
///   host name checked), i.e. as strict as libpq's `verify-full`. Use this for hosted databases.
///
/// ```
/// use sink_postgres::SinkConfig;
///
/// let config: SinkConfig = toml::from_str(r#"
///     [tls]
///     ca_file = "/etc/ssl/certs/cloud-sql-ca.pem"
/// "#)?;
/// assert!(config.tls.webpki_roots, "the Mozilla roots stay trusted by default");
/// assert_eq!(config.tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/ssl/certs/cloud-sql-ca.pem")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Trust the Mozilla root certificates (webpki-roots). Default true.
    #[serde(default = "default_true")]
    pub webpki_roots: bool,
    /// Also trust the certificates in this PEM file (a private CA, e.g. a cloud provider's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            webpki_roots: true,
            ca_file: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// How local changes of an entity are found for push.
///
/// ```
/// use sink_postgres::{CaptureMode, EntityTable};
///
/// assert_eq!(CaptureMode::default(), CaptureMode::Outbox);
/// let table: EntityTable = toml::from_str(r#"
///     entity = "people"
///     table = "people"
///     key_column = "id"
///     updated_at_column = "modified"
///     capture = { mode = "updated_at", safety_window_secs = 30 }
/// "#)?;
/// assert_eq!(table.capture, CaptureMode::UpdatedAt { safety_window_secs: 30 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CaptureMode {
    /// A trigger on the table writes every insert, update and delete to the state schema's
    /// outbox; changes are read in transaction order, only once every older transaction has
    /// finished. Nothing is missed, deletes included. The default.
    #[default]
    Outbox,
    /// No trigger: read rows whose `updated_at_column` is older than `now() - safety_window`,
    /// ordered by (`updated_at`, key). Deletes are only seen through a `tombstone_column`. A
    /// write transaction that runs longer than the window can be missed (see the README).
    UpdatedAt {
        /// Seconds a change must be old before it is read. Default 60.
        #[serde(default = "default_window")]
        safety_window_secs: u64,
    },
    /// Pull only: `changes_since` yields nothing.
    None,
}

fn default_window() -> u64 {
    60
}

impl CaptureMode {
    /// The `updated_at` safety window, for [`CaptureMode::UpdatedAt`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use sink_postgres::CaptureMode;
    ///
    /// let mode: CaptureMode = toml::from_str(r#"mode = "updated_at""#)?;
    /// assert_eq!(mode.safety_window(), Some(Duration::from_secs(60)), "the default window");
    /// assert_eq!(CaptureMode::Outbox.safety_window(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn safety_window(&self) -> Option<Duration> {
        match self {
            CaptureMode::UpdatedAt { safety_window_secs } => {
                Some(Duration::from_secs(*safety_window_secs))
            }
            _ => None,
        }
    }
}

/// Column types of a default table created by the sink (`create = true`).
///
/// For an existing table the sink reads the real column types from the catalog instead.
///
/// ```
/// use sink_postgres::{ColumnMap, ColumnType};
///
/// // In configuration files, types are snake_case; `text` is the default.
/// let column: ColumnMap = toml::from_str(r#"field = "tags"
/// column = "tags"
/// type = "text_array""#)?;
/// assert_eq!(column.column_type, ColumnType::TextArray);
/// let column: ColumnMap = toml::from_str(r#"field = "city"
/// column = "city""#)?;
/// assert_eq!(column.column_type, ColumnType::Text);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColumnType {
    /// `text` (TEXT, SELECT, RATING, PHONE... Twenty fields). The default.
    #[default]
    Text,
    /// `bigint`.
    Bigint,
    /// `double precision` (NUMBER, POSITION).
    Double,
    /// `numeric` (exact decimals).
    Numeric,
    /// `boolean`.
    Boolean,
    /// `timestamptz` (DATE_TIME).
    Timestamptz,
    /// `date` (DATE).
    Date,
    /// `uuid` (UUID, RELATION ids).
    Uuid,
    /// `jsonb` (composites: FULL_NAME, EMAILS, PHONES, LINKS, CURRENCY, ADDRESS, ACTOR,
    /// RICH_TEXT and RICH_TEXT_V2; RAW_JSON).
    Jsonb,
    /// `text[]` (MULTI_SELECT, ARRAY).
    TextArray,
}

impl ColumnType {
    /// The SQL type name used in `CREATE TABLE`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sink_postgres::{quote_ident, ColumnType};
    ///
    /// let types = [ColumnType::Text, ColumnType::Numeric, ColumnType::Timestamptz, ColumnType::TextArray];
    /// let columns: Vec<String> =
    ///     types.iter().enumerate().map(|(i, t)| format!("{} {}", quote_ident(&format!("c{i}")), t.sql())).collect();
    /// let ddl = format!("CREATE TEMP TABLE doc_types ({})", columns.join(", "));
    /// assert_eq!(ddl, r#"CREATE TEMP TABLE doc_types ("c0" text, "c1" numeric, "c2" timestamptz, "c3" text[])"#);
    /// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    /// # let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    /// # tokio::spawn(connection);
    /// client.batch_execute(&ddl).await?; // PostgreSQL accepts every type name
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Bigint => "bigint",
            ColumnType::Double => "double precision",
            ColumnType::Numeric => "numeric",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Date => "date",
            ColumnType::Uuid => "uuid",
            ColumnType::Jsonb => "jsonb",
            ColumnType::TextArray => "text[]",
        }
    }
}

/// One mapped field: which local field goes to which column.
///
/// ```
/// use sink_postgres::{ColumnMap, ColumnType};
///
/// let column = ColumnMap::new("address.city", ColumnType::Text).column("city");
/// assert_eq!((column.field.as_str(), column.column.as_str()), ("address.city", "city"));
/// assert_eq!(column.column_type.sql(), "text");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// The local field (a top-level key of the local record, or a dotted path `a.b` into it).
    pub field: String,
    /// The column name (used as is, quoted).
    pub column: String,
    /// The column type when the sink creates the table. Ignored for existing tables.
    #[serde(default, rename = "type")]
    pub column_type: ColumnType,
}

impl ColumnMap {
    /// Maps `field` to a column of the same name and type `column_type`.
    ///
    /// ```
    /// use sink_postgres::{ColumnMap, ColumnType};
    ///
    /// let column = ColumnMap::new("email", ColumnType::Text);
    /// assert_eq!(column.column, "email");
    /// assert_eq!(column.column_type, ColumnType::Text);
    /// ```
    pub fn new(field: impl Into<String>, column_type: ColumnType) -> Self {
        let field = field.into();
        ColumnMap {
            column: field.clone(),
            field,
            column_type,
        }
    }

    /// Uses `column` as the column name instead of the field name.
    ///
    /// ```
    /// use sink_postgres::{ColumnMap, ColumnType};
    ///
    /// let column = ColumnMap::new("emails.primaryEmail", ColumnType::Text).column("primary_email");
    /// assert_eq!(column.field, "emails.primaryEmail");
    /// assert_eq!(column.column, "primary_email");
    /// ```
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = column.into();
        self
    }
}

/// Where one entity lives: table, key column, a column per mapped field, capture mode.
///
/// ```
/// use sink_postgres::{EntityTable, ColumnMap, ColumnType, CaptureMode};
///
/// let table = EntityTable::new("people", "crm", "people", "id")
///     .column(ColumnMap::new("name", ColumnType::Jsonb))
///     .column(ColumnMap::new("email", ColumnType::Text).column("primary_email"))
///     .create(true)
///     .capture(CaptureMode::Outbox);
/// assert_eq!(table.columns.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityTable {
    /// The local entity name (as the engine and the mapping call it).
    pub entity: String,
    /// The table's schema. Default `public`.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The table name.
    pub table: String,
    /// The key column: must be unique (primary key or unique index on that column alone).
    pub key_column: String,
    /// The local field holding the key in records read back. Default: the key column's name.
    #[serde(default)]
    pub key_field: Option<String>,
    /// One entry per mapped field. Fields of a record that are not listed are not stored.
    #[serde(default)]
    pub columns: Vec<ColumnMap>,
    /// A column recording local modification time (`timestamptz`). Required for
    /// [`CaptureMode::UpdatedAt`]; when set, records read back carry it as `updated_at`.
    #[serde(default)]
    pub updated_at_column: Option<String>,
    /// A `boolean` (true = deleted) or `timestamptz` (set = deleted) column marking soft
    /// deletes. Pulled deletes asking for a tombstone set it instead of deleting the row; rows
    /// with it set count as deleted when reading.
    #[serde(default)]
    pub tombstone_column: Option<String>,
    /// Create the schema and table if missing (the "default table"): key column `text` primary
    /// key, one column per entry of `columns` with its `type`, plus the updated_at and tombstone
    /// columns (`timestamptz`) when named.
    #[serde(default)]
    pub create: bool,
    /// How local changes are found. Default: trigger outbox.
    #[serde(default)]
    pub capture: CaptureMode,
}

fn default_schema() -> String {
    "public".to_owned()
}

impl EntityTable {
    /// A mapping of `entity` to `schema.table` keyed by `key_column`, with no columns yet.
    ///
    /// ```
    /// use sink_postgres::{CaptureMode, EntityTable};
    ///
    /// let table = EntityTable::new("contacts", "crm", "contact", "contact_id");
    /// assert_eq!((table.schema.as_str(), table.table.as_str()), ("crm", "contact"));
    /// assert!(table.columns.is_empty());
    /// assert!(!table.create, "an existing table is expected unless create(true)");
    /// assert_eq!(table.capture, CaptureMode::Outbox);
    /// ```
    pub fn new(
        entity: impl Into<String>,
        schema: impl Into<String>,
        table: impl Into<String>,
        key_column: impl Into<String>,
    ) -> Self {
        EntityTable {
            entity: entity.into(),
            schema: schema.into(),
            table: table.into(),
            key_column: key_column.into(),
            key_field: None,
            columns: Vec::new(),
            updated_at_column: None,
            tombstone_column: None,
            create: false,
            capture: CaptureMode::Outbox,
        }
    }

    /// Adds a mapped column.
    ///
    /// ```
    /// use sink_postgres::{ColumnMap, ColumnType, EntityTable};
    ///
    /// let table = EntityTable::new("people", "crm", "people", "id")
    ///     .column(ColumnMap::new("name", ColumnType::Jsonb))
    ///     .column(ColumnMap::new("city", ColumnType::Text));
    /// let names: Vec<&str> = table.columns.iter().map(|c| c.column.as_str()).collect();
    /// assert_eq!(names, ["name", "city"]);
    /// ```
    pub fn column(mut self, column: ColumnMap) -> Self {
        self.columns.push(column);
        self
    }

    /// Sets the local field name of the key (default: the key column's name).
    ///
    /// ```
    /// use sink_postgres::EntityTable;
    ///
    /// let table = EntityTable::new("people", "crm", "people", "person_id").key_field("id");
    /// assert_eq!(table.key_field_name(), "id");
    /// assert_eq!(table.key_column, "person_id");
    /// ```
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// Sets the `updated_at` column.
    ///
    /// ```
    /// use sink_postgres::{CaptureMode, EntityTable};
    ///
    /// // The updated-at column is what `CaptureMode::UpdatedAt` reads changes by.
    /// let table = EntityTable::new("people", "crm", "people", "id")
    ///     .updated_at_column("modified_at")
    ///     .capture(CaptureMode::UpdatedAt { safety_window_secs: 60 });
    /// assert_eq!(table.updated_at_column.as_deref(), Some("modified_at"));
    /// ```
    pub fn updated_at_column(mut self, column: impl Into<String>) -> Self {
        self.updated_at_column = Some(column.into());
        self
    }

    /// Sets the tombstone (soft delete) column.
    ///
    /// ```
    /// use sink_postgres::EntityTable;
    ///
    /// let table = EntityTable::new("people", "crm", "people", "id").tombstone_column("deleted_at");
    /// assert_eq!(table.tombstone_column.as_deref(), Some("deleted_at"));
    /// ```
    pub fn tombstone_column(mut self, column: impl Into<String>) -> Self {
        self.tombstone_column = Some(column.into());
        self
    }

    /// Whether the sink creates the table when it is missing.
    ///
    /// ```
    /// use sink_postgres::EntityTable;
    ///
    /// let table = EntityTable::new("people", "crm", "people", "id");
    /// assert!(!table.create);
    /// assert!(table.create(true).create);
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets the capture mode.
    ///
    /// ```
    /// use sink_postgres::{CaptureMode, EntityTable};
    ///
    /// // A pull-only entity: no trigger, `changes_since` yields nothing.
    /// let table = EntityTable::new("people", "crm", "people", "id").capture(CaptureMode::None);
    /// assert_eq!(table.capture, CaptureMode::None);
    /// assert_eq!(table.capture.safety_window(), None);
    /// ```
    pub fn capture(mut self, capture: CaptureMode) -> Self {
        self.capture = capture;
        self
    }

    /// Checks every identifier of this mapping (length, NUL, empty); the message names it.
    pub(crate) fn check_identifiers(&self) -> Result<(), String> {
        use crate::ident::check_ident;
        check_ident(&self.schema, "schema")?;
        check_ident(&self.table, "table")?;
        check_ident(&self.key_column, "key_column")?;
        for c in &self.columns {
            check_ident(&c.column, "column")?;
        }
        if let Some(u) = &self.updated_at_column {
            check_ident(u, "updated_at_column")?;
        }
        if let Some(d) = &self.tombstone_column {
            check_ident(d, "tombstone_column")?;
        }
        Ok(())
    }

    /// The local field name of the key.
    ///
    /// ```
    /// use sink_postgres::EntityTable;
    ///
    /// let table = EntityTable::new("people", "crm", "people", "id");
    /// assert_eq!(table.key_field_name(), "id", "defaults to the key column");
    /// let table = table.key_field("externalId");
    /// assert_eq!(table.key_field_name(), "externalId");
    /// ```
    pub fn key_field_name(&self) -> &str {
        self.key_field.as_deref().unwrap_or(&self.key_column)
    }

    /// A default table for `entity` in `schema`: table named after the entity, `text` key column
    /// `key_field`, one column per `(local path, type)` (dots in paths become `_` in column
    /// names), `updated_at` and `deleted_at` columns, outbox capture, created on setup.
    ///
    /// ```
    /// use sink_postgres::{EntityTable, ColumnType};
    /// let t = EntityTable::default_table("people", "crm", "id",
    ///     [("name", ColumnType::Jsonb), ("address.city", ColumnType::Text)]);
    /// assert_eq!(t.columns[1].column, "address_city");
    /// assert!(t.create);
    /// ```
    pub fn default_table<'a>(
        entity: &str,
        schema: &str,
        key_field: &str,
        fields: impl IntoIterator<Item = (&'a str, ColumnType)>,
    ) -> Self {
        let mut t = EntityTable::new(entity, schema, entity, key_field)
            .updated_at_column("updated_at")
            .tombstone_column("deleted_at")
            .create(true);
        for (path, ty) in fields {
            if path == key_field {
                continue;
            }
            t = t.column(ColumnMap::new(path, ty).column(path.replace('.', "_")));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_at_capture_mode_deserialises_with_default_window() {
        let t: EntityTable = serde_json::from_value(serde_json::json!({
            "entity": "e", "table": "t", "key_column": "id",
            "capture": {"mode": "updated_at"}
        }))
        .unwrap();
        assert_eq!(t.schema, "public");
        assert_eq!(t.capture.safety_window(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let r: Result<EntityTable, _> = serde_json::from_value(serde_json::json!({
            "entity": "e", "table": "t", "key_column": "id", "colums": []
        }));
        assert!(r.is_err());
    }
}
