//! `GET /rest/{plural}`: `order_by` parsing, opaque keyset cursors, and page selection that uses
//! the ordered indexes for `id`, `updatedAt` and `createdAt` orders (no per-page sort).

use std::cmp::Ordering;
use std::ops::Bound;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::filter::{Filter, Kind, RowView, path_kind};
use crate::schema::{ObjectMeta, get_path};
use crate::store::{Row, Table, fmt_id, parse_id, parse_ms};

/// Sort direction of one `order_by` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    AscNullsFirst,
    AscNullsLast,
    DescNullsFirst,
    DescNullsLast,
}

impl Dir {
    fn desc(self) -> bool {
        matches!(self, Dir::DescNullsFirst | Dir::DescNullsLast)
    }
    fn nulls_first(self) -> bool {
        matches!(self, Dir::AscNullsFirst | Dir::DescNullsFirst)
    }
}

/// Parse `order_by=field[Direction],other` (Twenty's messages on errors).
pub(crate) fn parse_order_by(meta: &ObjectMeta, s: &str) -> Result<Vec<(String, Dir)>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (path, dir) = match item.find('[') {
            Some(i) if item.ends_with(']') => {
                let d = &item[i + 1..item.len() - 1];
                let dir = match d {
                    "AscNullsFirst" => Dir::AscNullsFirst,
                    "AscNullsLast" => Dir::AscNullsLast,
                    "DescNullsFirst" => Dir::DescNullsFirst,
                    "DescNullsLast" => Dir::DescNullsLast,
                    other => {
                        return Err(format!(
                            "'order_by' direction '{other}' invalid. Allowed values are 'AscNullsFirst', 'AscNullsLast', 'DescNullsFirst', 'DescNullsLast'. eg: ?order_by=field_1[AscNullsFirst],field_2[DescNullsLast],field_3"
                        ));
                    }
                };
                (&item[..i], dir)
            }
            _ => (item, Dir::AscNullsFirst),
        };
        path_kind(meta, path)?;
        out.push((path.to_string(), dir));
    }
    Ok(out)
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub filter: Option<Filter>,
    pub filter_text: String,
    pub order: Vec<(String, Dir)>,
}

/// The selected page.
pub(crate) struct Page<'a> {
    pub rows: Vec<(u128, &'a Row)>,
    pub total: usize,
    pub has_next: bool,
    pub has_previous: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Sort key part of a row for a path.
fn key_value(view: &mut RowView<'_>, path: &str, kind: Kind) -> Value {
    let v = view.get(path);
    match (kind, &v) {
        (Kind::Time, Value::String(s)) => parse_ms(s).map(Value::from).unwrap_or(Value::Null),
        _ => v,
    }
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn cmp_keys(order: &[(String, Dir)], a: &(Vec<Value>, u128), b: &(Vec<Value>, u128)) -> Ordering {
    for (i, (_, dir)) in order.iter().enumerate() {
        let (x, y) = (&a.0[i], &b.0[i]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if dir.nulls_first() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if dir.nulls_first() {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = cmp_values(x, y);
                if dir.desc() { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.1.cmp(&b.1)
}

/// Encode a cursor: the order values of the row plus its id, base64 JSON (opaque to clients).
fn encode_cursor(order: &[(String, Dir)], view: &mut RowView<'_>) -> String {
    let mut m = Map::new();
    for (path, _) in order {
        if path == "id" {
            continue;
        }
        let v = view.get(path);
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut cur = &mut m;
        for p in parts {
            let e = cur
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !e.is_object() {
                *e = Value::Object(Map::new());
            }
            cur = e.as_object_mut().expect("just made an object");
        }
        cur.insert(last.to_string(), v);
    }
    m.insert("id".into(), Value::String(fmt_id(view.id)));
    base64::engine::general_purpose::STANDARD.encode(Value::Object(m).to_string())
}

/// Decode a cursor into (order key values, id).
fn decode_cursor(
    table: &Table,
    order: &[(String, Dir)],
    kinds: &[Kind],
    cursor: &str,
) -> Result<(Vec<Value>, u128), String> {
    let bad = || format!("Invalid cursor '{cursor}'");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim()))
        .map_err(|_| bad())?;
    let m: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .and_then(parse_id)
        .ok_or_else(bad)?;
    let row = table.rows.get(&id);
    let mut keys = Vec::new();
    for ((path, _), kind) in order.iter().zip(kinds) {
        let v = match get_path(&m, path) {
            Some(v) => v.clone(),
            None => match row {
                Some(r) => RowView::new(id, r).get(path),
                None => Value::Null,
            },
        };
        let v = match (kind, &v) {
            (Kind::Time, Value::String(s)) => parse_ms(s).map(Value::from).unwrap_or(Value::Null),
            _ => v,
        };
        keys.push(v);
    }
    Ok((keys, id))
}

fn matches(filter: Option<&Filter>, include_deleted: bool, id: u128, row: &Row) -> bool {
    if !include_deleted && row.deleted.is_some() {
        return false;
    }
    match filter {
        Some(f) => f.eval(&mut RowView::new(id, row)),
        None => true,
    }
}

/// Count matching rows, cached per filter text until the table changes.
fn total_count(table: &Table, q: &ListQuery, include_deleted: bool) -> usize {
    let Some(filter) = &q.filter else {
        return if include_deleted {
            table.rows.len()
        } else {
            table.live
        };
    };
    if let Ok(cache) = table.count_cache.lock() {
        if let Some((v, n)) = cache.get(&q.filter_text) {
            if *v == table.version {
                return *n;
            }
        }
    }
    let n = if let Some(lb) = filter.lower_bound("updatedAt") {
        table
            .by_updated
            .range((lb, 0)..)
            .filter(|(_, id)| {
                table
                    .rows
                    .get(id)
                    .is_some_and(|r| matches(Some(filter), include_deleted, *id, r))
            })
            .count()
    } else {
        table
            .rows
            .iter()
            .filter(|(id, r)| matches(Some(filter), include_deleted, **id, r))
            .count()
    };
    if let Ok(mut cache) = table.count_cache.lock() {
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(q.filter_text.clone(), (table.version, n));
    }
    n
}

/// Select one page.
pub(crate) fn select<'a>(table: &'a Table, q: &ListQuery) -> Result<Page<'a>, String> {
    let filter = q.filter.as_ref();
    let include_deleted = filter.is_some_and(|f| f.mentions("deletedAt"));
    let mut order: Vec<(String, Dir)> = q.order.clone();
    // The implicit tiebreak is `id`; an explicit trailing `id` is the same thing.
    while order.last().is_some_and(|(p, d)| p == "id" && !d.desc()) {
        order.pop();
    }
    let kinds: Vec<Kind> = order
        .iter()
        .map(|(p, _)| path_kind(&table.meta, p).unwrap_or(Kind::Text))
        .collect();
    let backward = q.ending_before.is_some() && q.starting_after.is_none();
    let cursor = match (&q.starting_after, &q.ending_before) {
        (Some(c), _) | (None, Some(c)) => Some(decode_cursor(table, &order, &kinds, c)?),
        _ => None,
    };
    let want = q.limit + 1;
    let mut picked: Vec<(u128, &Row)> = Vec::with_capacity(want);
    let ok = |id: u128, r: &Row| matches(filter, include_deleted, id, r);

    let fast_ts = match order.as_slice() {
        [(p, d)] if p == "updatedAt" || p == "createdAt" => Some((p.as_str(), *d)),
        _ => None,
    };
    if order.is_empty() || (order.len() == 1 && order[0].0 == "id") {
        let desc = order.first().is_some_and(|(_, d)| d.desc());
        let cid = cursor.as_ref().map(|c| c.1);
        let forward_in_index = desc == backward; // asc+forward or desc+backward → ascending walk
        let range: Box<dyn Iterator<Item = (&u128, &Row)>> = match (cid, forward_in_index) {
            (None, true) => Box::new(table.rows.iter()),
            (None, false) => Box::new(table.rows.iter().rev()),
            (Some(c), true) => Box::new(table.rows.range((Bound::Excluded(c), Bound::Unbounded))),
            (Some(c), false) => Box::new(
                table
                    .rows
                    .range((Bound::Unbounded, Bound::Excluded(c)))
                    .rev(),
            ),
        };
        for (id, r) in range {
            if ok(*id, r) {
                picked.push((*id, r));
                if picked.len() == want {
                    break;
                }
            }
        }
    } else if let Some((col, dir)) = fast_ts {
        let index = if col == "updatedAt" {
            &table.by_updated
        } else {
            &table.by_created
        };
        let lower = filter.and_then(|f| f.lower_bound(col));
        let ckey = cursor
            .as_ref()
            .map(|(k, id)| (k[0].as_i64().unwrap_or(i64::MIN), *id));
        let ascending_walk = dir.desc() == backward;
        let iter: Box<dyn Iterator<Item = &(i64, u128)>> = if ascending_walk {
            let start = match (ckey, lower) {
                (Some(c), Some(lb)) if (lb, 0) > c => Bound::Included((lb, 0)),
                (Some(c), _) => Bound::Excluded(c),
                (None, Some(lb)) => Bound::Included((lb, 0)),
                (None, None) => Bound::Unbounded,
            };
            Box::new(index.range((start, Bound::Unbounded)))
        } else {
            let end = match ckey {
                Some(c) => Bound::Excluded(c),
                None => Bound::Unbounded,
            };
            let lb = lower.unwrap_or(i64::MIN);
            Box::new(
                index
                    .range((Bound::Unbounded, end))
                    .rev()
                    .take_while(move |(t, _)| *t >= lb),
            )
        };
        for (_, id) in iter {
            if let Some(r) = table.rows.get(id) {
                if ok(*id, r) {
                    picked.push((*id, r));
                    if picked.len() == want {
                        break;
                    }
                }
            }
        }
    } else {
        let mut all: Vec<((Vec<Value>, u128), &Row)> = table
            .rows
            .iter()
            .filter(|(id, r)| ok(**id, r))
            .map(|(id, r)| {
                let mut view = RowView::new(*id, r);
                let keys = order
                    .iter()
                    .zip(&kinds)
                    .map(|((p, _), k)| key_value(&mut view, p, *k))
                    .collect();
                ((keys, *id), r)
            })
            .collect();
        all.sort_by(|a, b| cmp_keys(&order, &a.0, &b.0));
        if backward {
            let end = match &cursor {
                Some(c) => all.partition_point(|(k, _)| cmp_keys(&order, k, c) == Ordering::Less),
                None => all.len(),
            };
            for (k, r) in all[..end].iter().rev().take(want) {
                picked.push((k.1, r));
            }
        } else {
            let start = match &cursor {
                Some(c) => {
                    all.partition_point(|(k, _)| cmp_keys(&order, k, c) != Ordering::Greater)
                }
                None => 0,
            };
            for (k, r) in all[start..].iter().take(want) {
                picked.push((k.1, r));
            }
        }
    }

    let more = picked.len() > q.limit;
    picked.truncate(q.limit);
    if backward {
        picked.reverse();
    }
    let total = total_count(table, q, include_deleted);
    let cursor_order: Vec<(String, Dir)> = if order.is_empty() {
        vec![("id".to_string(), Dir::AscNullsFirst)]
    } else {
        order.clone()
    };
    let start_cursor = picked
        .first()
        .map(|(id, r)| encode_cursor(&cursor_order, &mut RowView::new(*id, r)));
    let end_cursor = picked
        .last()
        .map(|(id, r)| encode_cursor(&cursor_order, &mut RowView::new(*id, r)));
    Ok(Page {
        rows: picked,
        total,
        has_next: !backward && more,
        has_previous: backward && more,
        start_cursor,
        end_cursor,
    })
}
