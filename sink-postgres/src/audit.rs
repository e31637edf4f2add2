//! The audit log's storage: one row per committed batch of entries of one run and entity, the
//! entries as JSON lines in the order they were written, and a hash of every local key and Twenty
//! id they name (GIN-indexed), see `migrations/0003_audit_log.sql` and
//! `migrations/0005_audit_key_hashes.sql`.
//!
//! A full pull audits every record it creates. Stored one row per entry, with an index per
//! filter, those rows cost the server more than the pulled data itself (measured in
//! `benches`: about 2.4 s per 100,000 entries, against 0.3 s for the data rows); one row per
//! batch costs one heap row, one run-index entry and the GIN entries of its keys' hashes (as text,
//! those entries cost more than the batch's data rows). Reading filters rows in SQL (run, entity,
//! key hash, time bounds of the batch) and then each entry exactly.

use std::pin::pin;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Transaction};
use futures::TryStreamExt;
use tokio_postgres::types::{ToSql, Type};
use twenty_sync_core::{AuditEntry, AuditQuery, StoreError, StoreErrorKind, StoreResult};

use crate::error::Redactor;

/// Rows read per round trip by a query with a limit (newest first), each holding a batch.
const LIMITED_ROWS_PER_FETCH: i64 = 8;

/// Statements over the audit log, rendered once for the (quoted) state schema.
#[derive(Debug)]
pub(crate) struct AuditSql {
    table: String,
    insert: String,
}

impl AuditSql {
    /// The statements for the quoted schema name `s`.
    pub(crate) fn new(s: &str) -> Self {
        AuditSql {
            table: format!("{s}.audit_log"),
            insert: format!(
                "INSERT INTO {s}.audit_log (run_id, entity, first_at, last_at, key_hashes, entries)
                 VALUES ($1, $2, $3, $4,
                     ARRAY(SELECT hashtextextended(k COLLATE \"C\", 0) FROM unnest($5::text[]) AS k),
                     $6)"
            ),
        }
    }
}

/// The rows that record `entries`: one per run of consecutive entries with the same run and
/// entity (a commit usually makes one). Pure client work (the entries serialised as JSON lines),
/// so a commit can do it while the server runs an earlier statement of the transaction.
pub(crate) fn encode(entries: &[AuditEntry]) -> StoreResult<Vec<BatchRow<'_>>> {
    entries
        .chunk_by(|a, b| a.run_id == b.run_id && a.entity == b.entity)
        .map(BatchRow::encode)
        .collect()
}

/// Writes the rows [`encode`] made inside `tx`, one statement each, all sent before the first
/// answer is awaited (so a statement the caller sends while this runs goes out after all of
/// them). Returns the first row's error, in the order sent.
pub(crate) async fn insert(
    tx: &Transaction<'_>,
    sql: &AuditSql,
    rows: &[BatchRow<'_>],
    redactor: &Redactor,
) -> StoreResult<()> {
    let params: Vec<[(&(dyn ToSql + Sync), Type); 6]> = rows
        .iter()
        .map(|row| {
            [
                (&row.run_id as &(dyn ToSql + Sync), Type::TEXT),
                (&row.entity, Type::TEXT),
                (&row.first_at, Type::TIMESTAMPTZ),
                (&row.last_at, Type::TIMESTAMPTZ),
                (&row.keys, Type::TEXT_ARRAY),
                (&row.entries, Type::TEXT),
            ]
        })
        .collect();
    let inserted =
        futures::future::join_all(params.iter().map(|p| tx.execute_typed(&sql.insert, p))).await;
    for result in inserted {
        result.map_err(|e| redactor.db("appending audit entries", &e))?;
    }
    Ok(())
}

/// One audit-log row being written.
pub(crate) struct BatchRow<'a> {
    run_id: &'a str,
    entity: &'a str,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    keys: Vec<&'a str>,
    /// The entries as JSON, one per line.
    entries: String,
}

impl<'a> BatchRow<'a> {
    fn encode(group: &'a [AuditEntry]) -> StoreResult<Self> {
        let invalid = |what: String| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!("postgres: audit entries could not be serialised: {what}"),
            )
        };
        let (mut first_at, mut last_at) = (group[0].at, group[0].at);
        let mut keys = Vec::with_capacity(group.len() * 2);
        let mut lines = Vec::with_capacity(group.len() * 320);
        for a in group {
            first_at = first_at.min(a.at);
            last_at = last_at.max(a.at);
            keys.extend(a.local_key.as_deref());
            if a.twenty_id != a.local_key {
                keys.extend(a.twenty_id.as_deref());
            }
            if !lines.is_empty() {
                lines.push(b'\n');
            }
            // JSON escapes newlines inside strings: one entry per line.
            serde_json::to_writer(&mut lines, a).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(BatchRow {
            run_id: &group[0].run_id,
            entity: &group[0].entity,
            first_at,
            last_at,
            keys,
            entries: String::from_utf8(lines).map_err(|e| invalid(e.to_string()))?,
        })
    }
}

/// The entries matching `query`, oldest first (with a limit: the newest `limit`, oldest first).
pub(crate) async fn read(
    client: &Object,
    sql: &AuditSql,
    query: &AuditQuery,
    redactor: &Redactor,
) -> StoreResult<Vec<AuditEntry>> {
    let (filters, mut params) = row_filters(query);
    let fail = |e: tokio_postgres::Error| redactor.db("reading the audit log", &e);
    let Some(limit) = query.limit else {
        let stmt = format!(
            "SELECT id, entries FROM {} {} ORDER BY id",
            sql.table,
            where_clause(&filters)
        );
        let rows = client
            .query_raw(
                &stmt,
                params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)),
            )
            .await
            .map_err(fail)?;
        let mut rows = pin!(rows);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(fail)? {
            for entry in decode_lines(row.get(1))? {
                if matches(&entry, query) {
                    out.push(entry);
                }
            }
        }
        return Ok(out);
    };
    // Newest rows first, a few at a time, until `limit` entries matched.
    let mut newest_first = Vec::new();
    let mut before: Option<i64> = None;
    let before_param = params.len() + 1;
    let stmt = {
        let mut f = filters.clone();
        f.push(format!(
            "(${before_param}::int8 IS NULL OR id < ${before_param})"
        ));
        format!(
            "SELECT id, entries FROM {} {} ORDER BY id DESC LIMIT {LIMITED_ROWS_PER_FETCH}",
            sql.table,
            where_clause(&f)
        )
    };
    params.push(Box::new(None::<i64>));
    'rows: while newest_first.len() < limit {
        params[before_param - 1] = Box::new(before);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&stmt, &refs).await.map_err(fail)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            before = Some(row.get(0));
            for entry in decode_lines(row.get(1))?.into_iter().rev() {
                if matches(&entry, query) {
                    newest_first.push(entry);
                    if newest_first.len() == limit {
                        break 'rows;
                    }
                }
            }
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// SQL conditions on audit-log rows that every row holding a matching entry meets, and their
/// parameters (`$1`, `$2`, ... in order).
fn row_filters(query: &AuditQuery) -> (Vec<String>, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut filters = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |cond: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        filters.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(r) = &query.run_id {
        add("run_id = ?", Box::new(r.clone()));
    }
    if let Some(e) = &query.entity {
        add("entity = ?", Box::new(e.clone()));
    }
    if let Some(k) = &query.key {
        add(
            "key_hashes @> ARRAY[hashtextextended(?::text COLLATE \"C\", 0)]",
            Box::new(k.clone()),
        );
    }
    if let Some(s) = query.since {
        add("last_at >= ?", Box::new(s));
    }
    if let Some(u) = query.until {
        add("first_at < ?", Box::new(u));
    }
    (filters, params)
}

fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    }
}

/// Whether one entry of a selected row matches `query` (rows hold several entries).
fn matches(e: &AuditEntry, q: &AuditQuery) -> bool {
    q.run_id.as_ref().is_none_or(|r| *r == e.run_id)
        && q.entity.as_ref().is_none_or(|x| *x == e.entity)
        && q.key.as_ref().is_none_or(|k| {
            e.local_key.as_deref() == Some(k.as_str()) || e.twenty_id.as_deref() == Some(k.as_str())
        })
        && q.since.is_none_or(|s| e.at >= s)
        && q.until.is_none_or(|u| e.at < u)
}

fn decode_lines(entries: &str) -> StoreResult<Vec<AuditEntry>> {
    entries
        .lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Corrupt,
                    format!("postgres: an audit entry could not be decoded: {e}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use twenty_sync_core::{AuditAction, AuditOutcome, SyncDirection};

    fn entry(key: &str, id: Option<&str>, minute: u32, detail: &str) -> AuditEntry {
        AuditEntry {
            run_id: "r1".into(),
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap(),
            entity: "people".into(),
            direction: SyncDirection::Pull,
            local_key: Some(key.into()),
            twenty_id: id.map(str::to_owned),
            action: AuditAction::Create,
            changed_fields: vec!["name".into()],
            before_hash: None,
            after_hash: None,
            outcome: AuditOutcome::Applied,
            detail: Some(detail.into()),
        }
    }

    #[test]
    fn a_batch_row_keeps_every_entry_on_its_own_line_with_its_keys_and_time_bounds() {
        // A detail with a newline and a quote stays on one line (JSON escapes both).
        let group = vec![
            entry("k1", Some("t1"), 5, "two\nlines \"quoted\""),
            entry("k2", Some("k2"), 2, "same key and id"),
            entry("k3", None, 9, "no id"),
        ];
        let row = BatchRow::encode(&group).unwrap();
        assert_eq!(row.keys, vec!["k1", "t1", "k2", "k3"]);
        assert_eq!(row.first_at, group[1].at);
        assert_eq!(row.last_at, group[2].at);
        assert_eq!(row.entries.lines().count(), 3);
        assert_eq!(decode_lines(&row.entries).unwrap(), group);
    }

    #[test]
    fn an_entry_matches_on_its_own_key_id_run_entity_and_time_not_its_rows() {
        let e = entry("k1", Some("t1"), 5, "");
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q
        };
        assert!(matches(&e, &AuditQuery::default()));
        assert!(matches(&e, &q(|q| q.key = Some("k1".into()))));
        assert!(matches(&e, &q(|q| q.key = Some("t1".into()))));
        assert!(!matches(&e, &q(|q| q.key = Some("k2".into()))));
        assert!(!matches(&e, &q(|q| q.run_id = Some("r2".into()))));
        assert!(!matches(&e, &q(|q| q.entity = Some("orgs".into()))));
        let at = e.at;
        assert!(matches(
            &e,
            &AuditQuery {
                since: Some(at),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &e,
            &AuditQuery {
                until: Some(at),
                ..Default::default()
            }
        ));
    }

    #[test]
    fn a_corrupt_line_is_reported_as_corrupt() {
        let err = decode_lines("{\"run_id\": 1}").unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    }
}
