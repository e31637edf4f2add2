//! Reads for push: the change feed by `(updated_at, key)` with a safety lag, and key lookups.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Map, Value};
use twenty_sync_core::{
    LocalChange, LocalChangeKind, LocalRecord, StoreError, StoreErrorKind, StoreResult,
};

use crate::api::{Api, Param, QueryRows};
use crate::codec::{FeedPosition, decode_cell, decode_ts, set_path};
use crate::config::{BigQueryConfig, EntityTable, KeyType};
use crate::load::ts_param;
use crate::sql::{self, D, K, U};

fn key_param_type(e: &EntityTable) -> &'static str {
    match e.key_type {
        KeyType::String => "STRING",
        KeyType::Int64 => "INT64",
    }
}

/// One decoded result row.
struct Row {
    key: String,
    updated_at: DateTime<Utc>,
    deleted: bool,
    data: Value,
}

fn decode_rows(e: &EntityTable, rows: QueryRows) -> StoreResult<Vec<Row>> {
    let corrupt = |what: String| {
        StoreError::new(StoreErrorKind::Corrupt, what).with_context("entity", e.entity.clone())
    };
    let (Some(ki), Some(ui), Some(di)) = (rows.index(K), rows.index(U), rows.index(D)) else {
        return Err(corrupt(format!(
            "the query result lacks the key/updated-at columns (got {:?})",
            rows.columns
        )));
    };
    let columns: Vec<_> = e.columns.iter().map(|c| (c, rows.index(&c.name))).collect();
    let mut out = Vec::with_capacity(rows.rows.len());
    for cells in &rows.rows {
        let cell = |i: usize| cells.get(i).and_then(Option::as_ref);
        let key = match cell(ki) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(corrupt("a row has no key".to_owned())),
        };
        let updated_at = cell(ui)
            .ok_or_else(|| "the updated-at column is NULL".to_owned())
            .and_then(decode_ts)
            .map_err(|reason| {
                corrupt(format!("{reason} (column `{}`)", e.updated_at_column))
                    .with_context("key", key.clone())
            })?;
        let deleted = match cell(di) {
            Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            Some(Value::Bool(b)) => *b,
            _ => false,
        };
        let mut data = Map::new();
        let key_value = match e.key_type {
            KeyType::String => Value::String(key.clone()),
            KeyType::Int64 => key
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(key.clone())),
        };
        set_path(&mut data, e.key_field(), key_value);
        for (c, index) in &columns {
            let value = decode_cell(c.bq_type, index.and_then(cell)).map_err(|reason| {
                corrupt(format!("{reason} (column `{}`)", c.name)).with_context("key", key.clone())
            })?;
            set_path(&mut data, c.field_path(), value);
        }
        out.push(Row {
            key,
            updated_at,
            deleted,
            data: Value::Object(data),
        });
    }
    Ok(out)
}

/// The state of a feed between pages.
struct FeedState {
    api: Arc<Api>,
    config: Arc<BigQueryConfig>,
    entity: EntityTable,
    position: Option<FeedPosition>,
    until: DateTime<Utc>,
    done: bool,
}

async fn next_page(mut state: FeedState) -> Option<(Vec<StoreResult<LocalChange>>, FeedState)> {
    if state.done {
        return None;
    }
    let e = &state.entity;
    let page = state.config.page_size;
    let mut params = vec![
        ("until", Param::Scalar("TIMESTAMP", ts_param(&state.until))),
        ("page", Param::Scalar("INT64", page.to_string())),
    ];
    if let Some(p) = &state.position {
        params.push((
            "since_ts",
            Param::Scalar("TIMESTAMP", ts_param(&p.updated_at)),
        ));
        params.push(("since_key", Param::Scalar(key_param_type(e), p.key.clone())));
        params.push((
            "since_del",
            Param::Scalar("INT64", u8::from(p.deleted).to_string()),
        ));
    }
    let sql = sql::changes_page(&state.config, e, state.position.is_some());
    let result = state
        .api
        .query(&sql, params)
        .await
        .map_err(|err| err.with_context("entity", e.entity.clone()))
        .and_then(|rows| decode_rows(e, rows));
    let rows = match result {
        Ok(rows) => rows,
        Err(err) => {
            state.done = true;
            return Some((vec![Err(err)], state));
        }
    };
    state.done = rows.len() < page as usize;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let position = FeedPosition {
            updated_at: row.updated_at,
            key: row.key.clone(),
            deleted: row.deleted,
        };
        changes.push(Ok(LocalChange {
            key: row.key,
            kind: if row.deleted {
                LocalChangeKind::Delete
            } else {
                LocalChangeKind::Upsert { data: row.data }
            },
            updated_at: Some(row.updated_at),
            checkpoint: position.encode(),
        }));
        state.position = Some(position);
    }
    if changes.is_empty() {
        return None;
    }
    Some((changes, state))
}

/// The change feed of `e` after `position`, up to `now - safety lag`, fetched page by page.
pub(crate) fn changes(
    api: Arc<Api>,
    config: Arc<BigQueryConfig>,
    entity: EntityTable,
    position: Option<FeedPosition>,
) -> BoxStream<'static, StoreResult<LocalChange>> {
    let lag = chrono::Duration::from_std(config.safety_lag()).unwrap_or(chrono::Duration::MAX);
    let until = Utc::now()
        .checked_sub_signed(lag)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let ahead = position.as_ref().is_some_and(|p| p.updated_at > until);
    let state = FeedState {
        api,
        config,
        entity,
        position,
        until,
        done: ahead,
    };
    stream::unfold(state, next_page)
        .flat_map(stream::iter)
        .boxed()
}

/// Keys per lookup query.
const GET_CHUNK: usize = 10_000;

/// The live rows of `e` with these keys.
pub(crate) async fn get(
    api: &Api,
    config: &BigQueryConfig,
    e: &EntityTable,
    keys: &[String],
) -> StoreResult<Vec<LocalRecord>> {
    let keys: Vec<String> = match e.key_type {
        KeyType::String => keys.to_vec(),
        // A key that is not an integer cannot be in an INT64 column.
        KeyType::Int64 => keys
            .iter()
            .filter_map(|k| k.trim().parse::<i64>().ok().map(|n| n.to_string()))
            .collect(),
    };
    let mut out = Vec::new();
    for chunk in keys.chunks(GET_CHUNK) {
        let rows = api
            .query(
                &sql::get_rows(config, e),
                vec![("keys", Param::Array(key_param_type(e), chunk.to_vec()))],
            )
            .await
            .map_err(|err| err.with_context("entity", e.entity.clone()))?;
        out.extend(decode_rows(e, rows)?.into_iter().map(|r| LocalRecord {
            key: r.key,
            data: r.data,
            updated_at: Some(r.updated_at),
        }));
    }
    Ok(out)
}
