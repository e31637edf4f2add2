//! Applying a batch of pulled changes: binary COPY into a staging table, one
//! `INSERT ... ON CONFLICT DO UPDATE ... WHERE changed`, deletes or tombstones, and the batch's
//! state, all in one transaction.
//!
//! The transaction sets `twenty_sync.applying = 'on'` (`SET LOCAL`), which the capture trigger
//! checks, so pulled changes are not captured as local changes (no sync loop).

use std::collections::HashMap;
use std::pin::pin;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Transaction;
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, StoreError, StoreErrorKind, StoreResult,
};

use crate::error::Redactor;
use crate::table::TableInfo;
use crate::value::{get_path, to_cell, Cell};

/// What the batch does per key once repeats are collapsed (the last change of a key wins).
struct Plan<'a> {
    upserts: Vec<&'a InboundChange>,
    deletes: Vec<String>,
    tombstones: Vec<String>,
}

fn plan<'a>(table: &TableInfo, changes: &'a [InboundChange]) -> Plan<'a> {
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
            InboundChangeKind::Delete { tombstone: true } if table.tombstone.is_some() => {
                p.tombstones.push(c.key.clone())
            }
            InboundChangeKind::Delete { .. } => p.deletes.push(c.key.clone()),
        }
    }
    p
}

/// The typed cells of one upsert row (key first), or an error naming the record and field.
fn row_cells(table: &TableInfo, change: &InboundChange) -> StoreResult<Vec<Cell>> {
    let InboundChangeKind::Upsert { data } = &change.kind else {
        return Ok(Vec::new());
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
    let mut cells = Vec::with_capacity(table.columns.len() + 1);
    let key = serde_json::Value::String(change.key.clone());
    cells.push(
        to_cell(&key, table.key.kind).map_err(|w| fail(&table.key.field, &table.key.name, w))?,
    );
    for col in &table.columns {
        let v = get_path(data, &col.field);
        cells.push(to_cell(v, col.kind).map_err(|w| fail(&col.field, &col.name, w))?);
    }
    Ok(cells)
}

/// Writes the data part of `batch` inside `tx`.
pub(crate) async fn apply_data(
    tx: &Transaction<'_>,
    table: &TableInfo,
    batch: &ApplyBatch,
    redactor: &Redactor,
) -> StoreResult<()> {
    let ctx = |e: StoreError| e.with_context("entity", table.entity());
    tx.batch_execute("SET LOCAL twenty_sync.applying = 'on'")
        .await
        .map_err(|e| ctx(redactor.db("marking the transaction as an apply", &e)))?;
    let plan = plan(table, &batch.changes);

    if !plan.upserts.is_empty() {
        // Convert everything first: a bad value fails before anything is sent.
        let mut rows = Vec::with_capacity(plan.upserts.len());
        for c in &plan.upserts {
            rows.push(row_cells(table, c)?);
        }
        tx.batch_execute(&table.sql.stage_ddl)
            .await
            .map_err(|e| ctx(redactor.db("creating the staging table", &e)))?;
        let types: Vec<Type> = std::iter::once(&table.key)
            .chain(table.columns.iter())
            .map(|c| c.kind.stage_type())
            .collect();
        let sink = tx
            .copy_in(&table.sql.copy)
            .await
            .map_err(|e| ctx(redactor.db("starting COPY", &e)))?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        for row in &rows {
            let refs: Vec<&(dyn ToSql + Sync)> =
                row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer
                .as_mut()
                .write(&refs)
                .await
                .map_err(|e| ctx(redactor.db("copying rows to the staging table", &e)))?;
        }
        writer
            .finish()
            .await
            .map_err(|e| ctx(redactor.db("finishing COPY", &e)))?;
        tx.execute(&table.sql.upsert, &[])
            .await
            .map_err(|e| ctx(redactor.db("upserting staged rows", &e)))?;
    }
    if !plan.deletes.is_empty() {
        tx.execute(&table.sql.delete, &[&plan.deletes])
            .await
            .map_err(|e| ctx(redactor.db("deleting rows", &e)))?;
    }
    if let (false, Some(sql)) = (plan.tombstones.is_empty(), &table.sql.tombstone) {
        tx.execute(sql, &[&plan.tombstones])
            .await
            .map_err(|e| ctx(redactor.db("marking rows deleted", &e)))?;
    }
    Ok(())
}
