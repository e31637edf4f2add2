//! `GET /rest/{plural}`: `order_by` parsing, opaque keyset cursors, and page selection that uses
//! the ordered indexes for `id`, `updatedAt` and `createdAt` orders (no per-page sort).

use std::cmp::Ordering;
use std::collections::BTreeSet;
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

/// One entry of a time index: (Unix ms, id).
type TimeKey = (i64, u128);

/// Walk a time index in the visible order of `order_by=<time column>` plus the implicit `id`
/// ASC tiebreak (FACTS.md §1.4, capture 14), from just past `cursor`, skipping entries before
/// `lower` (a filter's lower bound on the column).
///
/// `time_desc` is the direction the walk takes through time and `id_desc` the one it takes
/// through the ids of equal timestamps: a forward walk goes with the order (ids ascending), a
/// backward one (`ending_before`) against it (ids descending). When both directions agree the
/// walk is a plain index range; when they differ (`Desc` forwards, `Asc` backwards) it goes one
/// timestamp at a time.
fn time_index_walk<'a>(
    index: &'a BTreeSet<TimeKey>,
    time_desc: bool,
    id_desc: bool,
    cursor: Option<TimeKey>,
    lower: Option<i64>,
) -> Box<dyn Iterator<Item = &'a TimeKey> + 'a> {
    let lb = lower.unwrap_or(i64::MIN);
    match (time_desc, id_desc) {
        (false, false) => {
            let start = match (cursor, lower) {
                (Some(c), Some(lb)) if (lb, 0) > c => Bound::Included((lb, 0)),
                (Some(c), _) => Bound::Excluded(c),
                (None, Some(lb)) => Bound::Included((lb, 0)),
                (None, None) => Bound::Unbounded,
            };
            Box::new(index.range((start, Bound::Unbounded)))
        }
        (true, true) => {
            let end = cursor.map_or(Bound::Unbounded, Bound::Excluded);
            Box::new(
                index
                    .range((Bound::Unbounded, end))
                    .rev()
                    .take_while(move |(t, _)| *t >= lb),
            )
        }
        (true, false) => Box::new(newest_first_ids_ascending(index, cursor, lb)),
        (false, true) => Box::new(oldest_first_ids_descending(index, cursor, lb)),
    }
}

/// Entries of one timestamp, ids ascending.
fn same_time(index: &BTreeSet<TimeKey>, t: i64) -> std::collections::btree_set::Range<'_, TimeKey> {
    index.range((t, 0)..=(t, u128::MAX))
}

/// Timestamps descending, ids ascending within one: after the cursor come the rest of its
/// timestamp (`ts = c.ts AND id > c.id`), then every older one (`ts < c.ts`); none before `lb`.
fn newest_first_ids_ascending(
    index: &BTreeSet<TimeKey>,
    cursor: Option<TimeKey>,
    lb: i64,
) -> impl Iterator<Item = &TimeKey> {
    let rest_of_cursor_time = cursor
        .into_iter()
        .flat_map(move |c| index.range((Bound::Excluded(c), Bound::Included((c.0, u128::MAX)))));
    let first = match cursor {
        Some((t, _)) => index.range(..(t, 0)).next_back(),
        None => index.iter().next_back(),
    };
    let older = std::iter::successors(first.map(|e| e.0), move |&t| {
        index.range(..(t, 0)).next_back().map(|e| e.0)
    })
    .flat_map(move |t| same_time(index, t));
    rest_of_cursor_time
        .chain(older)
        .take_while(move |(t, _)| *t >= lb)
}

/// Timestamps ascending, ids descending within one (an `Asc` order walked backwards): after the
/// cursor come the rest of its timestamp (`ts = c.ts AND id < c.id`), then every newer one
/// (`ts > c.ts`); none before `lb`.
fn oldest_first_ids_descending(
    index: &BTreeSet<TimeKey>,
    cursor: Option<TimeKey>,
    lb: i64,
) -> impl Iterator<Item = &TimeKey> {
    let rest_of_cursor_time = cursor
        .filter(|c| c.0 >= lb)
        .into_iter()
        .flat_map(move |c| index.range((c.0, 0)..c).rev());
    let after = |t: i64| Bound::Excluded((t, u128::MAX));
    let start = match cursor {
        Some((t, _)) if t >= lb => after(t),
        _ => Bound::Included((lb, 0)),
    };
    let first = index.range((start, Bound::Unbounded)).next();
    let newer = std::iter::successors(first.map(|e| e.0), move |&t| {
        index
            .range((after(t), Bound::Unbounded))
            .next()
            .map(|e| e.0)
    })
    .flat_map(move |t| same_time(index, t).rev());
    rest_of_cursor_time.chain(newer)
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
        let iter = time_index_walk(index, dir.desc() != backward, backward, ckey, lower);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk `time_index_walk` must produce, computed the slow way: sort everything, keep what
    /// comes strictly after the cursor and is not before `lower`.
    fn reference(
        index: &BTreeSet<TimeKey>,
        time_desc: bool,
        id_desc: bool,
        cursor: Option<TimeKey>,
        lower: Option<i64>,
    ) -> Vec<TimeKey> {
        let time = if time_desc {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        let ids = if id_desc {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        let before = |a: &TimeKey, b: &TimeKey| match a.0.cmp(&b.0) {
            Ordering::Equal => a.1.cmp(&b.1) == ids,
            o => o == time,
        };
        let mut v: Vec<TimeKey> = index
            .iter()
            .copied()
            .filter(|e| lower.is_none_or(|lb| e.0 >= lb))
            .filter(|e| cursor.is_none_or(|c| before(&c, e)))
            .collect();
        v.sort_by(|a, b| {
            if a == b {
                Ordering::Equal
            } else if before(a, b) {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        });
        v
    }

    #[test]
    fn time_walks_break_ties_by_id_in_the_walk_direction_from_any_cursor() {
        let index: BTreeSet<TimeKey> = [
            (10, 7),
            (10, 2),
            (10, u128::MAX),
            (20, 0),
            (20, 5),
            (30, 1),
            (30, 9),
            (30, 4),
            (40, 3),
        ]
        .into_iter()
        .collect();
        let mut cursors: Vec<Option<TimeKey>> = index.iter().copied().map(Some).collect();
        cursors.extend([
            None,
            Some((25, 6)),
            Some((5, 0)),
            Some((50, 0)),
            Some((30, 5)),
        ]);
        cursors.extend([Some((i64::MIN, 0)), Some((i64::MAX, u128::MAX))]);
        for time_desc in [false, true] {
            for id_desc in [false, true] {
                for &cursor in &cursors {
                    for lower in [None, Some(i64::MIN), Some(20), Some(25), Some(45)] {
                        let got: Vec<TimeKey> =
                            time_index_walk(&index, time_desc, id_desc, cursor, lower)
                                .copied()
                                .collect();
                        let want = reference(&index, time_desc, id_desc, cursor, lower);
                        assert_eq!(
                            got, want,
                            "time_desc {time_desc}, id_desc {id_desc}, cursor {cursor:?}, lower {lower:?}"
                        );
                    }
                }
            }
        }
    }
}
