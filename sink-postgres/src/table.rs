//! Entity tables: checking a configured table against the catalog, creating default tables, and
//! the SQL each entity needs (built once, identifiers quoted, values always parameters).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};
use twenty_sync_core::{LocalRecord, StoreError, StoreErrorKind, StoreResult};

use crate::config::{CaptureMode, EntityTable};
use crate::error::{Redactor, config};
use crate::ident::{quote_ident, quote_literal, quote_qualified};
use crate::state::{NewStates, RECORD_COLS};
use crate::value::{Cell, Kind, format_timestamp, set_path};

/// One resolved column.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    /// Local field path (for the key: the key field).
    pub field: String,
    /// Column name, unquoted.
    pub name: String,
    /// Encoding kind.
    pub kind: Kind,
    /// `format_type` of the column, for casts.
    pub type_sql: String,
    /// The column's type (`pg_attribute.atttypid`).
    pub oid: u32,
}

impl Col {
    pub(crate) fn q(&self) -> String {
        quote_ident(&self.name)
    }
}

/// A configured table checked against the catalog, with its SQL.
#[derive(Debug)]
pub(crate) struct TableInfo {
    pub config: EntityTable,
    /// `"schema"."table"`.
    pub qualified: String,
    pub oid: u32,
    pub key: Col,
    pub columns: Vec<Col>,
    pub updated_at: Option<Col>,
    pub tombstone: Option<Col>,
    pub sql: TableSql,
    /// How rows new to the table are written, when every written column has a binary COPY
    /// encoding (see [`CopyIn`]).
    pub copy: Option<CopyIn>,
    /// Whether the next batch tries [`CopyIn`] first: true until a COPY meets a row that is
    /// already there, or the first batch's first row is found there (then the sink upserts for
    /// the rest of its life).
    pub fresh: AtomicBool,
    /// Whether a batch has checked its first row before a COPY (the first batch of the sink for
    /// this table does: see `apply::worth_copying`).
    pub copy_probed: AtomicBool,
    /// How the sink wrote this table's rows so far.
    pub stats: ApplyCounters,
    /// Whether this entity's record states may be inserted without `ON CONFLICT`, and how
    /// they were written so far.
    pub new_states: NewStates,
}

/// Rows new to a table go in by one binary `COPY` (key, mapped columns, tombstone cleared),
/// which costs a fraction of `INSERT ... ON CONFLICT` per row. A row that is already there makes
/// the COPY fail with a unique violation: the batch goes back to its savepoint and is upserted.
#[derive(Debug)]
pub(crate) struct CopyIn {
    /// `COPY <table> (<columns>) FROM STDIN BINARY`.
    pub sql: String,
    /// The columns' types, in the statement's order.
    pub types: Vec<Type>,
    /// The tombstone column's value for a live row (appended after the mapped columns).
    pub tombstone: Option<Cell<'static>>,
}

/// Counters behind [`ApplyStats`](crate::ApplyStats).
#[derive(Debug, Default)]
pub(crate) struct ApplyCounters {
    pub copied_rows: AtomicU64,
    pub upserted_rows: AtomicU64,
    pub copy_fallbacks: AtomicU64,
}

/// The COPY of new rows, when every column written has a type the binary format encodes from
/// the sink's values (no domains, enums or other server-cast types).
fn copy_in(qualified: &str, key: &Col, columns: &[Col], tombstone: Option<&Col>) -> Option<CopyIn> {
    let written: Vec<&Col> = std::iter::once(key)
        .chain(columns.iter())
        .chain(tombstone)
        .collect();
    let types = written
        .iter()
        .map(|c| match c.kind {
            Kind::Other => None,
            _ => Type::from_oid(c.oid),
        })
        .collect::<Option<Vec<Type>>>()?;
    let names: Vec<String> = written.iter().map(|c| c.q()).collect();
    Some(CopyIn {
        sql: format!("COPY {qualified} ({}) FROM STDIN BINARY", names.join(", ")),
        types,
        tombstone: tombstone.map(|d| match d.kind {
            Kind::Bool => Cell::Bool(false),
            _ => Cell::Null,
        }),
    })
}

/// The statements of one entity.
#[derive(Debug, Default)]
pub(crate) struct TableSql {
    /// Rows by key (tombstoned rows included, flagged): `$1 text[]`.
    pub select_by_keys: String,
    /// How many columns a row of `select_by_keys` has (the row part of `linked_by_twenty_id`).
    pub row_columns: usize,
    /// The record states of Twenty ids (`$1` entity, `$2 text[]` ids), each with the row its
    /// local key names: the row's columns as `select_by_keys` reads them (all `NULL` when there
    /// is none), then the state's columns ([`RECORD_COLS`]).
    pub linked_by_twenty_id: String,
    /// Whether the table has no row at all (one row, one boolean).
    pub is_empty: String,
    /// Whether the row of one key is there: `$1` of the key column's type.
    pub key_exists: String,
    /// `INSERT ... SELECT ... FROM unnest($1, $2, ...) ON CONFLICT ... DO UPDATE ... WHERE
    /// changed`: one array parameter per column, key first (types: [`param_sql_type`]).
    pub upsert: String,
    /// Hard delete: `$1 text[]`.
    pub delete: String,
    /// Soft delete (tombstone): `$1 text[]`, when a tombstone column is configured.
    pub tombstone: Option<String>,
    /// updated_at capture, first page: `$1` window seconds (f64), `$2` limit.
    pub updated_first: Option<String>,
    /// updated_at capture, next pages: also `$3` updated_at, `$4` key text.
    pub updated_next: Option<String>,
}

impl TableInfo {
    pub(crate) fn entity(&self) -> &str {
        &self.config.entity
    }

    /// [`decode`](Self::decode) of a row an outer join may have left out: `None` when its key
    /// is `NULL`.
    pub(crate) fn decode_joined(&self, row: &Row) -> StoreResult<Option<DecodedRow>> {
        let key: Option<&str> = row.try_get(0).map_err(|e| self.undecodable(e))?;
        match key {
            Some(_) => self.decode(row).map(Some),
            None => Ok(None),
        }
    }

    fn undecodable(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!(
                "postgres: could not decode a row of {}: {e}",
                self.qualified
            ),
        )
        .with_context("entity", self.entity())
    }

    /// `(key text, data, updated_at, deleted)` of a row selected with [`select_list`].
    pub(crate) fn decode(&self, row: &Row) -> StoreResult<DecodedRow> {
        let bad = |e: tokio_postgres::Error| self.undecodable(e);
        let key: String = row.try_get(0).map_err(bad)?;
        let key_json: Option<Value> = row.try_get(1).map_err(bad)?;
        let mut data = serde_json::Map::new();
        set_path(&mut data, &self.key.field, key_json.unwrap_or(Value::Null));
        let mut idx = 2;
        for col in &self.columns {
            let v = read_value(row, idx, col.kind).map_err(bad)?;
            set_path(&mut data, &col.field, v);
            idx += 1;
        }
        let mut updated_at = None;
        if let Some(col) = &self.updated_at {
            updated_at = read_time(row, idx, col.kind).map_err(bad)?;
            idx += 1;
        }
        let mut deleted = false;
        if self.tombstone.is_some() {
            deleted = row.try_get(idx).map_err(bad)?;
        }
        Ok(DecodedRow {
            key,
            data: Value::Object(data),
            updated_at,
            deleted,
        })
    }
}

/// A row read back in the local shape.
#[derive(Debug)]
pub(crate) struct DecodedRow {
    pub key: String,
    pub data: Value,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl DecodedRow {
    /// The record as [`SourceOfTruth::get`](twenty_sync_core::SourceOfTruth::get) returns it:
    /// `None` when the row is tombstoned.
    pub(crate) fn into_live(self) -> Option<LocalRecord> {
        (!self.deleted).then(|| LocalRecord {
            key: self.key,
            data: self.data,
            updated_at: self.updated_at,
        })
    }
}

fn read_time(
    row: &Row,
    idx: usize,
    kind: Kind,
) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    Ok(match kind {
        Kind::Timestamp => row
            .try_get::<_, Option<NaiveDateTime>>(idx)?
            .map(|n| n.and_utc()),
        _ => row.try_get::<_, Option<DateTime<Utc>>>(idx)?,
    })
}

/// A column selected by [`select_list`]: as JSON (`to_jsonb`), or, for the kinds read typed
/// ([`Kind::read_typed`]), timestamps formatted canonically and text as it is.
fn read_value(row: &Row, idx: usize, kind: Kind) -> Result<Value, tokio_postgres::Error> {
    let value = if !kind.read_typed() {
        row.try_get::<_, Option<Value>>(idx)?
    } else if let Kind::Timestamptz | Kind::Timestamp = kind {
        read_time(row, idx, kind)?.map(|t| Value::String(format_timestamp(t)))
    } else {
        row.try_get::<_, Option<String>>(idx)?.map(Value::String)
    };
    Ok(value.unwrap_or(Value::Null))
}

/// The `SELECT` list matching [`TableInfo::decode`], for alias `t`, and how many columns it
/// selects.
fn select_list(
    key: &Col,
    columns: &[Col],
    updated_at: Option<&Col>,
    deleted: Option<&str>,
) -> (String, usize) {
    let mut parts = vec![
        format!("t.{}::text", key.q()),
        format!("to_jsonb(t.{})", key.q()),
    ];
    for c in columns {
        if c.kind.read_typed() {
            parts.push(format!("t.{}", c.q()));
        } else {
            parts.push(format!("to_jsonb(t.{})", c.q()));
        }
    }
    if let Some(u) = updated_at {
        parts.push(format!("t.{}", u.q()));
    }
    if let Some(d) = deleted {
        parts.push(d.to_owned());
    }
    (parts.join(", "), parts.len())
}

/// `CREATE SCHEMA/TABLE IF NOT EXISTS` for a default table.
pub(crate) fn create_ddl(t: &EntityTable) -> String {
    let mut cols = vec![format!("{} text PRIMARY KEY", quote_ident(&t.key_column))];
    let mut seen: HashSet<&str> = HashSet::from([t.key_column.as_str()]);
    for c in &t.columns {
        if seen.insert(&c.column) {
            cols.push(format!(
                "{} {}",
                quote_ident(&c.column),
                c.column_type.sql()
            ));
        }
    }
    if let Some(u) = &t.updated_at_column {
        if seen.insert(u) {
            cols.push(format!(
                "{} timestamptz NOT NULL DEFAULT now()",
                quote_ident(u)
            ));
        }
    }
    if let Some(d) = &t.tombstone_column {
        if seen.insert(d) {
            cols.push(format!("{} timestamptz", quote_ident(d)));
        }
    }
    format!(
        // Room on each page for one more version of its rows: a pulled update of a row (same
        // key) is then a HOT update, with no new index entry (see migration 4).
        "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE IF NOT EXISTS {} ({}) WITH (fillfactor = 90)",
        quote_ident(&t.schema),
        quote_qualified(&t.schema, &t.table),
        cols.join(", ")
    )
}

/// Checks `t` against the catalog (inside the setup transaction) and builds its SQL.
pub(crate) async fn resolve(
    tx: &Transaction<'_>,
    t: &EntityTable,
    state_schema: &str,
    redactor: &Redactor,
) -> StoreResult<TableInfo> {
    let qualified = quote_qualified(&t.schema, &t.table);
    let ctx = |e: StoreError| e.with_context("entity", t.entity.clone());
    let oid: Option<u32> = tx
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&t.schema, &t.table],
        )
        .await
        .map_err(|e| ctx(redactor.db("looking up the table", &e)))?
        .map(|r| r.get(0));
    let Some(oid) = oid else {
        return Err(ctx(config(format!(
            "table {qualified} (entity {:?}) does not exist; create it, fix `schema`/`table`, \
             or set `create = true` to let the sink create a default table",
            t.entity
        ))));
    };
    let rows = tx
        .query(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attnum
             FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&oid],
        )
        .await
        .map_err(|e| ctx(redactor.db("reading the table's columns", &e)))?;
    let catalog: Vec<(String, u32, String, i16)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let find = |name: &str, field: &str, role: &str| -> StoreResult<(Col, i16)> {
        catalog
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(n, oid, ty, num)| {
                (
                    Col {
                        field: field.to_owned(),
                        name: n.clone(),
                        kind: Kind::from_oid(*oid),
                        type_sql: ty.clone(),
                        oid: *oid,
                    },
                    *num,
                )
            })
            .ok_or_else(|| {
                ctx(config(format!(
                    "column {} ({role}) does not exist in table {qualified}; add it or fix the \
                     entity's configuration",
                    quote_ident(name)
                )))
            })
    };
    let (key, key_num) = find(&t.key_column, t.key_field_name(), "key column")?;
    let unique: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique
               AND i.indnkeyatts = 1 AND i.indkey[0] = $2 AND i.indpred IS NULL
               AND i.indexprs IS NULL)",
            &[&oid, &key_num],
        )
        .await
        .map_err(|e| ctx(redactor.db("checking the key's unique index", &e)))?
        .get(0);
    if !unique {
        return Err(ctx(config(format!(
            "key column {} of table {qualified} has no unique index of its own; add a primary \
             key or `CREATE UNIQUE INDEX ... ON {qualified} ({})`",
            key.q(),
            key.q()
        ))));
    }
    let mut columns = Vec::new();
    let mut seen = HashSet::from([t.key_column.as_str()]);
    for c in &t.columns {
        if !seen.insert(&c.column) {
            return Err(ctx(config(format!(
                "column {} of table {qualified} is mapped twice (or is the key column); map each \
                 column once",
                quote_ident(&c.column)
            ))));
        }
        columns.push(find(&c.column, &c.field, &format!("field {:?}", c.field))?.0);
    }
    let updated_at = match &t.updated_at_column {
        Some(u) => {
            let (col, _) = find(u, u, "updated_at column")?;
            if !matches!(col.kind, Kind::Timestamptz | Kind::Timestamp) {
                return Err(ctx(config(format!(
                    "updated_at column {} of {qualified} is {}, expected timestamptz",
                    col.q(),
                    col.type_sql
                ))));
            }
            Some(col)
        }
        None => None,
    };
    if matches!(t.capture, CaptureMode::UpdatedAt { .. }) && updated_at.is_none() {
        return Err(ctx(config(
            "capture mode updated_at needs `updated_at_column`; set it or use the outbox mode",
        )));
    }
    let tombstone = match &t.tombstone_column {
        Some(d) => {
            if seen.contains(d.as_str()) {
                return Err(ctx(config(format!(
                    "tombstone column {} of {qualified} is also mapped as a field or is the key; \
                     it must be a column of its own",
                    quote_ident(d)
                ))));
            }
            let (col, _) = find(d, d, "tombstone column")?;
            if !matches!(col.kind, Kind::Bool | Kind::Timestamptz | Kind::Timestamp) {
                return Err(ctx(config(format!(
                    "tombstone column {} of {qualified} is {}, expected boolean or timestamptz",
                    col.q(),
                    col.type_sql
                ))));
            }
            Some(col)
        }
        None => None,
    };
    let sql = build_sql(
        &qualified,
        state_schema,
        &key,
        &columns,
        updated_at.as_ref(),
        tombstone.as_ref(),
    );
    let copy = copy_in(&qualified, &key, &columns, tombstone.as_ref());
    Ok(TableInfo {
        config: t.clone(),
        qualified,
        oid,
        key,
        columns,
        updated_at,
        tombstone,
        sql,
        copy,
        fresh: AtomicBool::new(true),
        copy_probed: AtomicBool::new(false),
        new_states: NewStates::default(),
        stats: ApplyCounters::default(),
    })
}

fn build_sql(
    qualified: &str,
    state_schema: &str,
    key: &Col,
    columns: &[Col],
    updated_at: Option<&Col>,
    tombstone: Option<&Col>,
) -> TableSql {
    let deleted_expr = tombstone.map(|d| match d.kind {
        Kind::Bool => format!("coalesce(t.{}, false)", d.q()),
        _ => format!("(t.{} IS NOT NULL)", d.q()),
    });
    let (list, row_columns) = select_list(key, columns, updated_at, deleted_expr.as_deref());
    let keys_param = format!("CAST($1::text[] AS {}[])", key.type_sql);
    let select_by_keys = format!(
        "SELECT {list} FROM {qualified} t WHERE t.{} = ANY({keys_param})",
        key.q()
    );
    // The rows first (`decode` reads from column 0), then the state's columns. One index probe
    // per id and per state, whatever the statistics (see `StateSql::records_by_twenty_id`).
    let linked_by_twenty_id = format!(
        "SELECT {list}, {RECORD_COLS} FROM unnest($2::text[]) WITH ORDINALITY k(key, ord)
         CROSS JOIN LATERAL (SELECT * FROM {state}.record_state x
             WHERE x.entity = $1 AND x.twenty_id = k.key OFFSET 0) r
         LEFT JOIN LATERAL (SELECT * FROM {qualified} d
             WHERE d.{k} = CAST(r.local_key AS {ty}) OFFSET 0) t ON true
         ORDER BY k.ord, r.local_key",
        state = quote_ident(state_schema),
        k = key.q(),
        ty = key.type_sql,
    );

    // Rows arrive as one array per column (c0 = key, c1.. = mapped columns) and are unnested
    // by the server: one statement per batch, and no staging
    // table (creating one per batch writes the catalog; truncating one at every commit costs a
    // file truncation, more than the rest of a 200-row batch).
    let all: Vec<&Col> = std::iter::once(key).chain(columns.iter()).collect();
    let params: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}[]", i + 1, param_sql_type(c.kind)))
        .collect();
    let names: Vec<String> = (0..all.len()).map(|i| format!("c{i}")).collect();
    let mut target_cols: Vec<String> = all.iter().map(|c| c.q()).collect();
    let mut select_exprs: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, c)| match c.kind {
            // Arrays of arrays cannot be unnested row by row: text arrays travel as jsonb.
            Kind::TextArray => format!(
                "CAST(CASE WHEN s.c{i} IS NULL THEN NULL ELSE ARRAY(SELECT a.e FROM \
                 jsonb_array_elements_text(s.c{i}) WITH ORDINALITY a(e, n) ORDER BY a.n) END \
                 AS {})",
                c.type_sql
            ),
            _ => format!("CAST(s.c{i} AS {})", c.type_sql),
        })
        .collect();
    let mut set_cols: Vec<&Col> = columns.iter().collect();
    if let Some(d) = tombstone {
        target_cols.push(d.q());
        select_exprs.push(match d.kind {
            Kind::Bool => "false".to_owned(),
            _ => "NULL".to_owned(),
        });
        set_cols.push(d);
    }
    let conflict = if set_cols.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        let sets: Vec<String> = set_cols
            .iter()
            .map(|c| format!("{} = EXCLUDED.{}", c.q(), c.q()))
            .collect();
        let cmp = |prefix: &str| -> String {
            set_cols
                .iter()
                .map(|c| {
                    if c.kind.compare_as_text() {
                        format!("{prefix}.{}::text", c.q())
                    } else {
                        format!("{prefix}.{}", c.q())
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "DO UPDATE SET {} WHERE (ROW({})) IS DISTINCT FROM (ROW({}))",
            sets.join(", "),
            cmp("t"),
            cmp("EXCLUDED")
        )
    };
    let upsert = format!(
        "INSERT INTO {qualified} AS t ({}) SELECT {} FROM unnest({}) AS s({}) \
         ON CONFLICT ({}) {conflict}",
        target_cols.join(", "),
        select_exprs.join(", "),
        params.join(", "),
        names.join(", "),
        key.q()
    );
    let delete = format!(
        "DELETE FROM {qualified} t WHERE t.{} = ANY({keys_param})",
        key.q()
    );
    let tombstone_sql = tombstone.map(|d| {
        let (set, unset) = match d.kind {
            Kind::Bool => ("true", format!("t.{} IS NOT TRUE", d.q())),
            _ => ("now()", format!("t.{} IS NULL", d.q())),
        };
        format!(
            "UPDATE {qualified} t SET {} = {set} WHERE t.{} = ANY({keys_param}) AND {unset}",
            d.q(),
            key.q()
        )
    });
    let (updated_first, updated_next) = match updated_at {
        Some(u) => {
            let base = format!(
                "SELECT {list} FROM {qualified} t WHERE t.{u} < now() - make_interval(secs => $1)",
                u = u.q()
            );
            let order = format!("ORDER BY t.{}, t.{}::text LIMIT $2", u.q(), key.q());
            (
                Some(format!("{base} {order}")),
                Some(format!(
                    "{base} AND (t.{}, t.{}::text) > ($3, $4) {order}",
                    u.q(),
                    key.q()
                )),
            )
        }
        None => (None, None),
    };
    TableSql {
        select_by_keys,
        row_columns,
        linked_by_twenty_id,
        is_empty: format!("SELECT NOT EXISTS (SELECT 1 FROM {qualified})"),
        key_exists: format!(
            "SELECT EXISTS (SELECT 1 FROM {qualified} WHERE {} = $1)",
            key.q()
        ),
        upsert,
        delete,
        tombstone: tombstone_sql,
        updated_first,
        updated_next,
    }
}

/// The element type of a column's array parameter in the upsert.
pub(crate) fn param_sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Other => "text",
        Kind::Int2 => "int2",
        Kind::Int4 => "int4",
        Kind::Int8 => "int8",
        Kind::Float4 => "float4",
        Kind::Float8 => "float8",
        Kind::Bool => "bool",
        Kind::Timestamptz => "timestamptz",
        Kind::Timestamp => "timestamp",
        Kind::Date => "date",
        Kind::Uuid => "uuid",
        Kind::Jsonb => "jsonb",
        Kind::Json => "json",
        Kind::TextArray => "jsonb",
    }
}

/// The type of the array parameter that carries a column of `kind` in the upsert: the array of
/// [`param_sql_type`], given with the statement so it goes out in one round trip (no prepare).
pub(crate) fn param_array_type(kind: Kind) -> Type {
    match kind {
        Kind::Text | Kind::Other => Type::TEXT_ARRAY,
        Kind::Int2 => Type::INT2_ARRAY,
        Kind::Int4 => Type::INT4_ARRAY,
        Kind::Int8 => Type::INT8_ARRAY,
        Kind::Float4 => Type::FLOAT4_ARRAY,
        Kind::Float8 => Type::FLOAT8_ARRAY,
        Kind::Bool => Type::BOOL_ARRAY,
        Kind::Timestamptz => Type::TIMESTAMPTZ_ARRAY,
        Kind::Timestamp => Type::TIMESTAMP_ARRAY,
        Kind::Date => Type::DATE_ARRAY,
        Kind::Uuid => Type::UUID_ARRAY,
        Kind::Jsonb | Kind::TextArray => Type::JSONB_ARRAY,
        Kind::Json => Type::JSON_ARRAY,
    }
}

/// The name of this state schema's capture trigger (at most 63 bytes, as PostgreSQL keeps).
pub(crate) fn trigger_name(state_schema: &str) -> String {
    let mut name = format!("{state_schema}_capture");
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// Installs the outbox trigger on the table unless it is already there with the same arguments.
pub(crate) async fn install_capture(
    tx: &Transaction<'_>,
    info: &TableInfo,
    state_schema: &str,
    redactor: &Redactor,
) -> StoreResult<()> {
    let name = trigger_name(state_schema);
    let want_args: Vec<u8> = [
        info.entity().as_bytes(),
        b"\0",
        info.key.name.as_bytes(),
        b"\0",
    ]
    .concat();
    // A trigger installed before it had its `WHEN` clause (no `tgqual`) is installed again.
    let existing: Option<(Vec<u8>, bool)> = tx
        .query_opt(
            "SELECT tgargs, tgqual IS NOT NULL FROM pg_trigger WHERE tgrelid = $1 AND tgname = $2",
            &[&info.oid, &name],
        )
        .await
        .map_err(|e| redactor.db("checking the capture trigger", &e))?
        .map(|r| (r.get(0), r.get(1)));
    if let Some((args, true)) = &existing {
        if args.as_slice() == want_args.as_slice() {
            return Ok(());
        }
    }
    // The `WHEN` clause repeats the function's first check where it is cheapest: an AFTER
    // trigger's condition is evaluated as the row is written, so rows the sink itself applies
    // (`twenty_sync.applying = 'on'`) queue no trigger event and call no function.
    let sql = format!(
        "DROP TRIGGER IF EXISTS {trg} ON {tbl};
         CREATE TRIGGER {trg} AFTER INSERT OR UPDATE OR DELETE ON {tbl}
         FOR EACH ROW WHEN (coalesce(current_setting('twenty_sync.applying', true), '') <> 'on')
         EXECUTE FUNCTION {state}.capture_change({entity}, {key})",
        trg = quote_ident(&name),
        tbl = info.qualified,
        state = quote_ident(state_schema),
        entity = quote_literal(info.entity()),
        key = quote_literal(&info.key.name),
    );
    tx.batch_execute(&sql).await.map_err(|e| {
        redactor
            .db("installing the capture trigger", &e)
            .with_context("entity", info.entity())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnMap, ColumnType};

    #[test]
    fn default_table_ddl_quotes_every_identifier() {
        let t = EntityTable::new("e", "s\"x", "t\"; DROP TABLE y; --", "id")
            .column(ColumnMap::new("f", ColumnType::Jsonb).column("c\"c"))
            .create(true);
        let ddl = create_ddl(&t);
        assert!(ddl.contains(r#""s""x"."t""; DROP TABLE y; --""#));
        assert!(ddl.contains(r#""c""c" jsonb"#));
    }

    #[test]
    fn trigger_names_fit_in_63_bytes() {
        assert!(trigger_name(&"x".repeat(100)).len() <= 63);
    }
}
