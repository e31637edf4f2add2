//! Applying a batch of pulled changes, all in one transaction: the rows (one binary `COPY` while
//! the table is fresh, else one `INSERT ... SELECT ... FROM unnest(<one array per column>) ON
//! CONFLICT DO UPDATE ... WHERE changed`), deletes or tombstones, and the batch's state.
//!
//! The transaction sets `twenty_sync.applying = 'on'` (`SET LOCAL`), which the capture trigger
//! checks, so pulled changes are not captured as local changes (no sync loop).
//!
//! Per batch: the settings, then one statement per table written, each sent without waiting for
//! the answers to those before it (pipelined on the connection; the sink sends the batch's state
//! behind them the same way), except around a COPY, which nothing may follow on its connection
//! until its answer. On the COPY
//! path rows are converted as they are written (borrowing the batch's strings), so the server
//! works on the first rows while the client converts the rest. No staging
//! table: a temporary table per batch wrote the catalog every time, and one kept per connection
//! is truncated at every commit, which cost more than the rest of a 200-row batch. The COPY goes
//! straight into the table instead, behind a savepoint, and falls back to the upsert when the
//! server refuses it (see [`copy_new_rows`]).
//!
//! Statements are not prepared by name (no statement cache): each is planned with its actual
//! parameters and the table's current size, so a plan made while a table was small is never
//! reused once it has grown, and the sink works behind transaction-pooling proxies
//! (PgBouncer) that do not keep named statements.

use std::borrow::Cow;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::Ordering;

use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, StoreError, StoreErrorKind, StoreResult,
};

use crate::error::Redactor;
use crate::table::{CopyIn, TableInfo, param_array_type};
use crate::value::{Cell, Kind, get_path, to_cell};

/// What the batch does per key once repeats are collapsed (the last change of a key wins).
struct Plan<'a> {
    upserts: Vec<&'a InboundChange>,
    deletes: Vec<String>,
    tombstones: Vec<String>,
}

/// The batch's changes per key: the last change of each key. `tombstones`: whether the table
/// marks deleted rows instead of deleting them.
fn plan(changes: &[InboundChange], tombstones: bool) -> Plan<'_> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        last.insert(c.key.as_str(), i);
    }
    let mut p = Plan {
        upserts: Vec::new(),
        deletes: Vec::new(),
        tombstones: Vec::new(),
    };
    for (i, c) in changes.iter().enumerate() {
        if last.get(c.key.as_str()) != Some(&i) {
            continue;
        }
        match &c.kind {
            InboundChangeKind::Upsert { .. } => p.upserts.push(c),
            InboundChangeKind::Delete { tombstone: true } if tombstones => {
                p.tombstones.push(c.key.clone())
            }
            InboundChangeKind::Delete { .. } => p.deletes.push(c.key.clone()),
        }
    }
    p
}

/// The key of `change` as a cell of the key column's type, or why it does not fit.
fn key_cell<'a>(table: &TableInfo, change: &'a InboundChange) -> Result<Cell<'a>, String> {
    match table.key.kind {
        Kind::Text | Kind::Other => Ok(Cell::Text(Cow::Borrowed(change.key.as_str()))),
        kind => to_cell(&Value::String(change.key.clone()), kind).map(Cell::into_owned),
    }
}

/// Appends the typed cells of one upsert row (key first) to `cells`, or fails naming the record
/// and field. String values are borrowed from the change, not copied.
fn push_row_cells<'a>(
    table: &TableInfo,
    change: &'a InboundChange,
    cells: &mut Vec<Cell<'a>>,
) -> StoreResult<()> {
    let InboundChangeKind::Upsert { data } = &change.kind else {
        return Ok(());
    };
    let fail = |field: &str, column: &str, why: String| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!(
                "postgres: field {field:?} of record {:?} does not fit column {column:?} of {}: \
                 {why}; fix the mapping or the column type",
                change.key, table.qualified
            ),
        )
        .with_context("entity", table.entity())
        .with_context("key", change.key.clone())
        .with_context("field", field.to_owned())
    };
    cells.push(key_cell(table, change).map_err(|w| fail(&table.key.field, &table.key.name, w))?);
    for col in &table.columns {
        let v = get_path(data, &col.field);
        cells.push(to_cell(v, col.kind).map_err(|w| fail(&col.field, &col.name, w))?);
    }
    Ok(())
}

/// The typed cells of one upsert row (key first); see [`push_row_cells`].
fn row_cells<'a>(table: &TableInfo, change: &'a InboundChange) -> StoreResult<Vec<Cell<'a>>> {
    let mut cells = Vec::with_capacity(table.columns.len() + 1);
    push_row_cells(table, change, &mut cells)?;
    Ok(cells)
}

/// How the apply transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `COMMIT` waits for the WAL flush (the server's setting; the default).
    Durable,
    /// `SET LOCAL synchronous_commit = off`: see [`SinkConfig::async_pull_commit`](crate::SinkConfig::async_pull_commit).
    Async,
}

/// The settings of an apply transaction, sent in one round trip.
fn prelude(durability: Durability) -> &'static str {
    match durability {
        Durability::Durable => "SET LOCAL twenty_sync.applying = 'on'",
        Durability::Async => {
            "SET LOCAL twenty_sync.applying = 'on'; SET LOCAL synchronous_commit = off"
        }
    }
}

/// The rows' cells as one array per column (the upsert's parameters). Text arrays travel as
/// jsonb arrays (an array of arrays cannot be unnested row by row).
fn columns<'a>(table: &TableInfo, rows: Vec<Vec<Cell<'a>>>) -> Vec<Vec<Cell<'a>>> {
    let kinds: Vec<Kind> = std::iter::once(&table.key)
        .chain(table.columns.iter())
        .map(|c| c.kind)
        .collect();
    let mut cols: Vec<Vec<Cell<'a>>> = kinds
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for row in rows {
        for ((col, kind), cell) in cols.iter_mut().zip(&kinds).zip(row) {
            col.push(match (kind, cell) {
                (Kind::TextArray, Cell::TextArray(items)) => Cell::Json(Cow::Owned(Value::Array(
                    items
                        .into_iter()
                        .map(|i| {
                            i.map(|s| Value::String(s.into_owned()))
                                .unwrap_or(Value::Null)
                        })
                        .collect(),
                ))),
                (_, cell) => cell,
            });
        }
    }
    cols
}

const COPY_SAVEPOINT: &str = "twenty_sync_copy";

/// Why a COPY of new rows stopped.
enum CopyStop {
    /// The server refused the COPY (or the connection failed).
    Db(tokio_postgres::Error),
    /// A record did not fit its columns; nothing of the batch may be written.
    Row(StoreError),
}

/// Writes `upserts` (all of them new to the table, as far as the sink knows) by one binary COPY,
/// behind the savepoint [`COPY_SAVEPOINT`] (set by the caller). Each row is converted as it is
/// written, so the server inserts the first rows while later ones are still being converted; a
/// row that does not fit its columns aborts the COPY and fails the apply (its transaction is
/// rolled back). A row the server refuses for its value or a constraint the upsert would meet
/// the same way ([`refuses_the_upsert_too`]) fails the apply too, with the server's error.
/// Returns false, with the transaction back at the savepoint, when the COPY failed in the server
/// otherwise (a row already there): the caller then upserts the same rows, which either
/// succeeds or reports the failure as the upsert always has. After a unique violation of the key
/// (not of another column: [`meets_a_key_already_there`]) the table is no longer treated as
/// fresh.
///
/// The rows go in in key order ([`in_key_order`]).
async fn copy_new_rows(
    tx: &Transaction<'_>,
    table: &TableInfo,
    copy: &CopyIn,
    upserts: &[&InboundChange],
    redactor: &Redactor,
) -> StoreResult<bool> {
    let sorted = in_key_order(upserts, |c| &c.key);
    let copied = async {
        let sink = tx.copy_in(&copy.sql).await.map_err(CopyStop::Db)?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &copy.types));
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(copy.types.len());
        for change in &sorted {
            cells.clear();
            push_row_cells(table, change, &mut cells).map_err(CopyStop::Row)?;
            if let Some(t) = &copy.tombstone {
                cells.push(t.clone());
            }
            writer
                .as_mut()
                .write_raw(cells.iter())
                .await
                .map_err(CopyStop::Db)?;
        }
        writer.finish().await.map_err(CopyStop::Db)
    }
    .await;
    match copied {
        Ok(_) => Ok(true),
        Err(CopyStop::Row(e)) => Err(e),
        Err(CopyStop::Db(e)) if e.code().is_some_and(refuses_the_upsert_too) => {
            Err(db_error(redactor, table, "copying new rows", &e))
        }
        Err(CopyStop::Db(e)) if e.code().is_some() => {
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {COPY_SAVEPOINT}"))
                .await
                .map_err(|e| {
                    db_error(
                        redactor,
                        table,
                        "returning from a failed copy of new rows",
                        &e,
                    )
                })?;
            if meets_a_key_already_there(table, &e) {
                table.fresh.store(false, Ordering::Relaxed);
            }
            table.stats.copy_fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                entity = table.entity(),
                code = ?e.code(),
                "copy of new rows refused; upserting the batch"
            );
            Ok(false)
        }
        Err(CopyStop::Db(e)) => Err(db_error(redactor, table, "copying new rows", &e)),
    }
}

/// Whether the server's refusal of a COPY of new rows would refuse their upsert the same way: a
/// value the column cannot take (a data exception: too long, out of range) or a constraint that
/// an upsert does not resolve (NOT NULL, foreign key, CHECK). Upserting such a batch again would
/// only fail a second time; an engine that applies a refused batch in parts to find the refused
/// row pays that for every part. A unique or exclusion violation (a row already there) is what
/// the upsert is for.
fn refuses_the_upsert_too(code: &SqlState) -> bool {
    // Not the COPY's own format errors (a binary cell the server could not read), which the
    // upsert's parameters do not go through.
    let copy_format =
        *code == SqlState::INVALID_BINARY_REPRESENTATION || *code == SqlState::BAD_COPY_FILE_FORMAT;
    (code.code().starts_with("22") && !copy_format)
        || *code == SqlState::NOT_NULL_VIOLATION
        || *code == SqlState::FOREIGN_KEY_VIOLATION
        || *code == SqlState::CHECK_VIOLATION
}

/// Whether the batch whose first upsert is `first` tries the COPY of new rows: while the table
/// is fresh, and, for the first such batch of the sink, only when its first row is not there
/// yet. A sink started over a table it already filled (an incremental pull) would otherwise
/// send its first batch of updates through a COPY doomed at its first row (2-3 ms for 1,000
/// rows in the server log) before upserting it; one index probe finds that out instead, and the
/// table counts as not fresh from then on, as after a failed COPY. A batch whose first row is
/// new still tries the COPY (a full pull resumed after a crash copies the rest).
async fn worth_copying(
    tx: &Transaction<'_>,
    table: &TableInfo,
    first: &InboundChange,
    redactor: &Redactor,
) -> StoreResult<bool> {
    if !table.fresh.load(Ordering::Relaxed) {
        return Ok(false);
    }
    if table.copy_probed.swap(true, Ordering::Relaxed) {
        return Ok(true);
    }
    // A key that does not fit its column fails the batch later, with the field named.
    let Ok(key) = key_cell(table, first) else {
        return Ok(true);
    };
    let there: bool = tx
        .query_one(&table.sql.key_exists, &[&key])
        .await
        .map_err(|e| {
            db_error(
                redactor,
                table,
                "checking whether the first row of the batch is there",
                &e,
            )
        })?
        .get(0);
    if there {
        table.fresh.store(false, Ordering::Relaxed);
        tracing::debug!(
            entity = table.entity(),
            "the first batch's first row is there; upserting instead of copying"
        );
    }
    Ok(!there)
}

/// The data part of one batch, planned: what it writes per key, and whether its rows go in by
/// the COPY of new rows ([`DataWrite::prepare`]); then written ([`DataWrite::write`]).
pub(crate) struct DataWrite<'a> {
    table: &'a TableInfo,
    plan: Plan<'a>,
    copy: Option<&'a CopyIn>,
}

impl<'a> DataWrite<'a> {
    /// Plans the data part of `batch`. Whether its rows try the COPY is decided here (the first
    /// batch of a sink may probe its first row first, see [`worth_copying`]).
    pub(crate) async fn prepare(
        tx: &Transaction<'_>,
        table: &'a TableInfo,
        batch: &'a ApplyBatch,
        redactor: &Redactor,
    ) -> StoreResult<Self> {
        let plan = plan(&batch.changes, table.tombstone.is_some());
        let copy = match &table.copy {
            Some(copy)
                if !plan.upserts.is_empty()
                    && worth_copying(tx, table, plan.upserts[0], redactor).await? =>
            {
                Some(copy)
            }
            _ => None,
        };
        Ok(Self { table, plan, copy })
    }

    /// Whether the rows try the COPY of new rows. While a COPY is in progress nothing else may be
    /// sent on its connection; otherwise every statement of [`write`](Self::write) is sent at its
    /// first poll, and statements sent after them on the same transaction need not wait for
    /// their answers.
    pub(crate) fn copies(&self) -> bool {
        self.copy.is_some()
    }

    /// Writes the data part inside `tx`. Returns whether the batch wrote new rows only, all by one
    /// COPY (so its record states are almost surely new as well).
    pub(crate) async fn write(
        &self,
        tx: &Transaction<'_>,
        durability: Durability,
        redactor: &Redactor,
    ) -> StoreResult<bool> {
        let table = self.table;
        let settings_error = |e: tokio_postgres::Error| {
            db_error(redactor, table, "marking the transaction as an apply", &e)
        };
        let Some(copy) = self.copy else {
            // Pipelined: the settings, the rows and the deletes are all sent at once (the server
            // runs them in the order sent). The first failure aborts the transaction and every
            // statement after it fails with "transaction is aborted"; the errors are checked in
            // the order sent, so the one reported is the one the server raised.
            let (settings, rows, deletes) = tokio::join!(
                biased;
                tx.batch_execute(prelude(durability)),
                upsert_rows(tx, table, &self.plan.upserts, redactor),
                self.delete_rows(tx, redactor)
            );
            settings.map_err(settings_error)?;
            rows?;
            deletes?;
            return Ok(false);
        };
        // The savepoint of the COPY goes in the same round trip as the settings, and the COPY
        // behind them without waiting for their answer. A failed setting fails what follows it,
        // so its error is the one reported.
        let settings = format!("{}; SAVEPOINT {COPY_SAVEPOINT}", prelude(durability));
        let rows_written = async {
            let copied = copy_new_rows(tx, table, copy, &self.plan.upserts, redactor).await?;
            let n = self.plan.upserts.len() as u64;
            if copied {
                table.stats.copied_rows.fetch_add(n, Ordering::Relaxed);
            } else {
                upsert_rows(tx, table, &self.plan.upserts, redactor).await?;
            }
            Ok::<bool, StoreError>(copied)
        };
        let (settings_done, copied) = tokio::join!(tx.batch_execute(&settings), rows_written);
        settings_done.map_err(settings_error)?;
        let copied = copied?;
        self.delete_rows(tx, redactor).await?;
        Ok(copied && self.plan.deletes.is_empty() && self.plan.tombstones.is_empty())
    }

    /// Deletes the rows of the batch's deletes and marks those of its tombstones; both
    /// statements are sent at the first poll.
    async fn delete_rows(&self, tx: &Transaction<'_>, redactor: &Redactor) -> StoreResult<()> {
        let (plan, table) = (&self.plan, self.table);
        let deleted = async {
            if plan.deletes.is_empty() {
                return Ok(());
            }
            tx.execute_typed(&table.sql.delete, &[(&plan.deletes, Type::TEXT_ARRAY)])
                .await
                .map(drop)
                .map_err(|e| db_error(redactor, table, "deleting rows", &e))
        };
        let marked = async {
            match (&table.sql.tombstone, plan.tombstones.is_empty()) {
                (Some(stmt), false) => tx
                    .execute_typed(stmt, &[(&plan.tombstones, Type::TEXT_ARRAY)])
                    .await
                    .map(drop)
                    .map_err(|e| db_error(redactor, table, "marking rows deleted", &e)),
                _ => Ok(()),
            }
        };
        let (deleted, marked) = tokio::join!(biased; deleted, marked);
        deleted?;
        marked
    }
}

/// The error of a statement on `table` that the server refused while `what`, naming its entity.
fn db_error(
    redactor: &Redactor,
    table: &TableInfo,
    what: &str,
    e: &tokio_postgres::Error,
) -> StoreError {
    redactor.db(what, e).with_context("entity", table.entity())
}

/// Upserts `upserts` by one statement, sent at the first poll once every row is converted (a
/// value that does not fit its column fails before anything is sent).
async fn upsert_rows(
    tx: &Transaction<'_>,
    table: &TableInfo,
    upserts: &[&InboundChange],
    redactor: &Redactor,
) -> StoreResult<()> {
    if upserts.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(upserts.len());
    for c in upserts {
        rows.push(row_cells(table, c)?);
    }
    let cols = columns(table, rows);
    // Sent with its parameter types: one round trip, no statement to prepare first.
    let params: Vec<(&(dyn ToSql + Sync), Type)> = cols
        .iter()
        .zip(std::iter::once(&table.key).chain(table.columns.iter()))
        .map(|(c, col)| (c as &(dyn ToSql + Sync), param_array_type(col.kind)))
        .collect();
    tx.execute_typed(&table.sql.upsert, &params)
        .await
        .map_err(|e| {
            let err = db_error(redactor, table, "upserting rows", &e);
            match row_a_unique_violation_names(table, upserts, &e) {
                Some(key) => err.with_context("key", key),
                None => err,
            }
        })?;
    table
        .stats
        .upserted_rows
        .fetch_add(upserts.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// The column and value of a unique violation over one column (Postgres's detail
/// `Key (column)=(value) already exists.`); `None` for any other error, or a unique index over
/// several columns or an expression (whose "column" then names no column of the table).
fn unique_violation(e: &tokio_postgres::Error) -> Option<(&str, &str)> {
    let db = e.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION {
        return None;
    }
    let (column, value) = db
        .detail()?
        .strip_prefix("Key (")?
        .strip_suffix(") already exists.")?
        .split_once(")=(")?;
    let column = column
        .strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(column);
    Some((column, value))
}

/// Whether a COPY of new rows refused with `e` met a row already there under one of the
/// batch's keys: a unique violation, unless it names another column of the table (a unique
/// email, say), which says nothing of the keys. The table is then no longer treated as fresh.
fn meets_a_key_already_there(table: &TableInfo, e: &tokio_postgres::Error) -> bool {
    if e.code() != Some(&SqlState::UNIQUE_VIOLATION) {
        return false;
    }
    match unique_violation(e) {
        Some((column, _)) => {
            column == table.key.name || table.columns.iter().all(|c| c.name != column)
        }
        None => true,
    }
}

/// The key of the row of `upserts` that a unique violation of one column of `table` names: the
/// last upsert whose field of that column holds the value (a string or a number). Rows go in in
/// the order of `upserts`, so when several hold the value, the last is one the server refused
/// (the first may be the one that went in). `None` for any other error, an index over several
/// columns or an expression, or a value no upsert holds. A sink's caller may then refuse that
/// row alone instead of looking for it (see the engine's `pull_refused`).
fn row_a_unique_violation_names(
    table: &TableInfo,
    upserts: &[&InboundChange],
    e: &tokio_postgres::Error,
) -> Option<String> {
    let (column, value) = unique_violation(e)?;
    let col = table.columns.iter().find(|c| c.name == column)?;
    upserts
        .iter()
        .rev()
        .find(|c| match &c.kind {
            InboundChangeKind::Upsert { data } => match get_path(data, &col.field) {
                Value::String(v) => v == value,
                Value::Number(n) => n.to_string() == value,
                _ => false,
            },
            InboundChangeKind::Delete { .. } => false,
        })
        .map(|c| c.key.clone())
}

/// `rows` sorted by `key` (byte order), for a COPY of rows new to a table. Each insert's way down
/// the key's B-tree then starts next to where the last one's ended (pages still in the CPU's
/// caches) instead of at a random leaf: Twenty lists records by `updatedAt`, so their keys
/// (random UUIDs) arrive in random order. In psql, 2,000 new record states into a table of
/// 100,000 went in 7% faster sorted; a full pull of 100,000 into Postgres was faster in 13 of 17
/// alternated runs, by 7% in the median (benches/RESULTS.md, 2026-12-06 10:00). Updates
/// (upserts of rows already there) keep the batch's order: sorting them showed no gain.
pub(crate) fn in_key_order<'r, T: ?Sized>(rows: &[&'r T], key: impl Fn(&T) -> &str) -> Vec<&'r T> {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable_by(|a, b| key(a).cmp(key(b)));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_row_already_there_sends_a_refused_copy_to_the_upsert() {
        for refused in [
            SqlState::CHECK_VIOLATION,
            SqlState::NOT_NULL_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::STRING_DATA_RIGHT_TRUNCATION,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        ] {
            assert!(refuses_the_upsert_too(&refused), "{refused:?}");
        }
        for upserted in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::EXCLUSION_VIOLATION,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::INVALID_BINARY_REPRESENTATION,
            SqlState::BAD_COPY_FILE_FORMAT,
        ] {
            assert!(!refuses_the_upsert_too(&upserted), "{upserted:?}");
        }
    }

    fn change(key: &str, kind: InboundChangeKind) -> InboundChange {
        InboundChange {
            key: key.into(),
            twenty_id: format!("t-{key}"),
            kind,
            twenty_updated_at: None,
        }
    }

    fn upsert(key: &str, n: i64) -> InboundChange {
        change(
            key,
            InboundChangeKind::Upsert {
                data: json!({"id": key, "n": n}),
            },
        )
    }

    #[test]
    fn the_last_change_of_a_key_wins() {
        let changes = [
            upsert("c", 1),
            upsert("a", 1),
            change("d", InboundChangeKind::Delete { tombstone: true }),
            upsert("b", 1),
            upsert("a", 2),
            change("c", InboundChangeKind::Delete { tombstone: false }),
            upsert("d", 2),
        ];
        let p = plan(&changes, true);
        let upserts: Vec<(&str, &Value)> = p
            .upserts
            .iter()
            .map(|c| match &c.kind {
                InboundChangeKind::Upsert { data } => (c.key.as_str(), &data["n"]),
                other => panic!("{other:?} among the upserts"),
            })
            .collect();
        // In the order of each key's last change.
        assert_eq!(
            upserts,
            [("b", &json!(1)), ("a", &json!(2)), ("d", &json!(2))]
        );
        let keys: Vec<&str> = in_key_order(&p.upserts, |c| &c.key)
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b", "d"]);
        assert_eq!(p.deletes, ["c"]);
        assert!(p.tombstones.is_empty());
    }

    #[test]
    fn a_tombstone_is_a_delete_where_the_table_has_no_tombstone_column() {
        let changes = [change("k", InboundChangeKind::Delete { tombstone: true })];
        let with = plan(&changes, true);
        assert_eq!(
            (with.tombstones, with.deletes),
            (vec!["k".to_owned()], vec![])
        );
        let without = plan(&changes, false);
        assert_eq!(
            (without.tombstones, without.deletes),
            (vec![], vec!["k".to_owned()])
        );
    }
}
