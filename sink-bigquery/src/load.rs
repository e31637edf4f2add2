//! Writes from pull: stage the batch with `tabledata.insertAll`, then `MERGE` it into the target.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use twenty_sync_core::{ApplyBatch, InboundChangeKind, StoreError, StoreErrorKind, StoreResult};

use crate::api::{Api, Param};
use crate::codec::{encode_cell, format_ts, get_path};
use crate::config::{BigQueryConfig, EntityTable, KeyType};
use crate::schema::{BATCH, LOADED_AT, OP, SEQ};
use crate::sql;

/// A deterministic id of the batch's content: the same batch gets the same id (and the same
/// `insertId`s) when it is applied again.
pub(crate) fn batch_id(batch: &ApplyBatch) -> String {
    let mut hasher = Sha256::new();
    hasher.update(batch.entity.as_bytes());
    hasher.update([0]);
    // Serialising plain data to a Vec cannot fail; fall back to Debug just in case.
    match serde_json::to_vec(&batch.changes) {
        Ok(bytes) => hasher.update(&bytes),
        Err(_) => hasher.update(format!("{:?}", batch.changes).as_bytes()),
    }
    hex::encode(&hasher.finalize()[..16])
}

/// The timestamp query-parameter format BigQuery documents (`YYYY-MM-DD HH:MM:SS.ffffff+00:00`).
pub(crate) fn ts_param(ts: &DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// The key as a cell of the key column.
pub(crate) fn key_cell(e: &EntityTable, key: &str) -> StoreResult<Value> {
    match e.key_type {
        KeyType::String => Ok(Value::String(key.to_owned())),
        KeyType::Int64 => key
            .trim()
            .parse::<i64>()
            .map(|n| Value::String(n.to_string()))
            .map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Invalid,
                    format!(
                        "the key column `{}` is INT64 but the local key is not an integer",
                        e.key_column
                    ),
                )
                .with_context("entity", e.entity.clone())
                .with_context("key", key.to_owned())
            }),
    }
}

/// Builds the staging rows `(insertId, row)` of a batch.
pub(crate) fn staging_rows(
    e: &EntityTable,
    batch: &ApplyBatch,
    batch_id: &str,
    loaded_at: DateTime<Utc>,
) -> StoreResult<Vec<(String, Value)>> {
    let mut rows = Vec::with_capacity(batch.changes.len());
    for (seq, change) in batch.changes.iter().enumerate() {
        let mut row = Map::new();
        row.insert(e.key_column.clone(), key_cell(e, &change.key)?);
        let updated = change.twenty_updated_at.unwrap_or(loaded_at);
        row.insert(
            e.updated_at_column.clone(),
            Value::String(format_ts(&updated)),
        );
        let op = match &change.kind {
            InboundChangeKind::Upsert { data } => {
                for c in &e.columns {
                    let value = get_path(data, c.field_path()).unwrap_or(&Value::Null);
                    let cell = encode_cell(c.bq_type, value).map_err(|reason| {
                        StoreError::new(
                            StoreErrorKind::Invalid,
                            format!(
                                "field `{}` cannot be written to column `{}`: {reason}",
                                c.field_path(),
                                c.name
                            ),
                        )
                        .with_context("entity", e.entity.clone())
                        .with_context("key", change.key.clone())
                    })?;
                    if c.required && cell.is_null() {
                        return Err(StoreError::new(
                            StoreErrorKind::Invalid,
                            format!(
                                "field `{}` is empty but column `{}` is REQUIRED",
                                c.field_path(),
                                c.name
                            ),
                        )
                        .with_context("entity", e.entity.clone())
                        .with_context("key", change.key.clone()));
                    }
                    row.insert(c.name.clone(), cell);
                }
                sql::OP_UPSERT
            }
            InboundChangeKind::Delete { tombstone: true } if e.tombstone_column().is_some() => {
                sql::OP_TOMBSTONE
            }
            InboundChangeKind::Delete { .. } => sql::OP_DELETE,
        };
        row.insert(OP.to_owned(), Value::String(op.to_owned()));
        row.insert(BATCH.to_owned(), Value::String(batch_id.to_owned()));
        row.insert(SEQ.to_owned(), Value::from(seq as u64));
        row.insert(LOADED_AT.to_owned(), Value::String(format_ts(&loaded_at)));
        rows.push((format!("{batch_id}-{seq}"), Value::Object(row)));
    }
    Ok(rows)
}

/// Stages and merges one batch. Safe to repeat: the `MERGE` takes the newest staged row per key
/// and only overwrites rows that are not newer, so a replay leaves the same result.
pub(crate) async fn apply(
    api: &Api,
    config: &BigQueryConfig,
    e: &EntityTable,
    batch: &ApplyBatch,
) -> StoreResult<()> {
    if batch.changes.is_empty() {
        return Ok(());
    }
    let id = batch_id(batch);
    let loaded_at = Utc::now();
    let rows = staging_rows(e, batch, &id, loaded_at)?;
    let keys: Vec<String> = batch.changes.iter().map(|c| c.key.clone()).collect();
    let staging = config.staging_table(e);
    api.insert_all(&config.dataset, &staging, rows, &keys)
        .await
        .map_err(|err| err.with_context("entity", e.entity.clone()))?;
    let loaded_since = loaded_at - chrono::Duration::days(1);
    let params = || {
        vec![
            ("batch", Param::Scalar("STRING", id.clone())),
            (
                "loaded_since",
                Param::Scalar("TIMESTAMP", ts_param(&loaded_since)),
            ),
        ]
    };
    let with_context = |err: StoreError| {
        err.with_context("entity", e.entity.clone())
            .with_context("batch", id.clone())
    };
    match e.deletes_table() {
        None => {
            api.query(&sql::merge_target(config, e), params())
                .await
                .map_err(with_context)?;
        }
        Some(deletes) => {
            // Both MERGEs in one transaction: a crash or error between them leaves neither.
            let script = sql::merge_transaction(config, e, deletes, &id, &ts_param(&loaded_since))
                .ok_or_else(|| {
                    with_context(StoreError::new(
                        StoreErrorKind::Other,
                        "internal: the batch id or load time is not in the shape the \
                             transaction script needs",
                    ))
                })?;
            api.query(&script, Vec::new()).await.map_err(with_context)?;
        }
    }
    tracing::debug!(entity = %e.entity, batch = %id, changes = batch.changes.len(), "merged batch into BigQuery");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BqType, ColumnSpec, DeleteTracking};
    use serde_json::json;
    use twenty_sync_core::{InboundChange, StateCommit};

    fn entity() -> EntityTable {
        EntityTable {
            entity: "contacts".into(),
            table: "contacts".into(),
            key_column: "contact_id".into(),
            key_type: KeyType::String,
            key_field: None,
            updated_at_column: "updated_at".into(),
            columns: vec![
                ColumnSpec::new("canonical_name", BqType::String).required(),
                ColumnSpec::new("notes", BqType::Json).with_field("context.notes"),
            ],
            deletes: DeleteTracking::default(),
        }
    }

    fn batch(changes: Vec<InboundChange>) -> ApplyBatch {
        ApplyBatch {
            entity: "contacts".into(),
            changes,
            state: StateCommit::new("contacts"),
        }
    }

    fn upsert(key: &str, data: Value) -> InboundChange {
        InboundChange {
            key: key.into(),
            twenty_id: format!("tw-{key}"),
            kind: InboundChangeKind::Upsert { data },
            twenty_updated_at: None,
        }
    }

    #[test]
    fn the_same_batch_gets_the_same_id_and_insert_ids() {
        let b = batch(vec![upsert("c1", json!({"canonical_name": "Ann"}))]);
        assert_eq!(batch_id(&b), batch_id(&b.clone()));
        let other = batch(vec![upsert("c1", json!({"canonical_name": "Bob"}))]);
        assert_ne!(batch_id(&b), batch_id(&other));
        let now = Utc::now();
        let a = staging_rows(&entity(), &b, &batch_id(&b), now).unwrap();
        assert_eq!(a[0].0, format!("{}-0", batch_id(&b)));
    }

    #[test]
    fn staging_rows_carry_nested_fields_as_json_and_the_operation() {
        let b = batch(vec![
            upsert(
                "c1",
                json!({"canonical_name": "Ann", "context": {"notes": {"a": 1}}}),
            ),
            InboundChange {
                key: "c2".into(),
                twenty_id: "tw-c2".into(),
                kind: InboundChangeKind::Delete { tombstone: true },
                twenty_updated_at: None,
            },
        ]);
        let rows = staging_rows(&entity(), &b, "b", Utc::now()).unwrap();
        assert_eq!(rows[0].1["notes"], json!("{\"a\":1}"));
        assert_eq!(rows[0].1[OP], json!("upsert"));
        assert_eq!(rows[1].1[OP], json!("tombstone"));
        assert_eq!(rows[1].1[SEQ], json!(1));
    }

    #[test]
    fn a_missing_required_field_names_entity_key_and_column() {
        let b = batch(vec![upsert("c9", json!({"context": {}}))]);
        let err = staging_rows(&entity(), &b, "b", Utc::now()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("canonical_name"), "{text}");
        assert!(text.contains("key=c9"), "{text}");
        assert!(text.contains("entity=contacts"), "{text}");
    }
}
