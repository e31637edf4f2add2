//! The state schema's statements, and writing a [`StateCommit`] inside a transaction.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use twenty_sync_core::{
    Fence, RecordState, StateCommit, StoreError, StoreErrorKind, StoreResult, SyncDirection,
};

use crate::apply::in_key_order;
use crate::audit::{self, AuditSql};
use crate::capture::OutboxPosition;
use crate::error::Redactor;
use crate::ident::quote_ident;

/// Statements over the state schema, rendered once for its (quoted) name.
#[derive(Debug)]
pub(crate) struct StateSql {
    pub upsert_records: String,
    /// A binary `COPY` of record states: for rows known to be new (see [`NewStates`]).
    pub copy_records: String,
    pub remove_records: String,
    pub upsert_cursor: String,
    pub add_pending: String,
    pub remove_pending: String,
    pub prune_outbox: String,
    pub cursor: String,
    pub records: String,
    pub records_by_twenty_id: String,
    pub no_records: String,
    pub pending: String,
    pub save_run: String,
    pub runs: String,
    pub run: String,
    pub audit: AuditSql,
    /// The holder's renewal of its live lease (one row, `mine`), or the live lease of another
    /// holder (one row, not `mine`), or nothing: a scope free or expired, for `acquire_lease`.
    /// Neither locks anything a commit's fence check holds.
    pub renew_lease: String,
    /// Locks the scope's lease row `FOR UPDATE` before a takeover, so it waits for the commits
    /// in flight under the old token (their fence checks hold the row `FOR KEY SHARE`).
    pub lock_lease: String,
    pub acquire_lease: String,
    pub release_lease: String,
    /// Whether a commit's fence is the current lease (one row), key-share-locking the lease's
    /// row until the commit's transaction ends: no other holder takes it meanwhile (a takeover
    /// first locks the row `FOR UPDATE`, see [`StateSql::lock_lease`]), while the holder's
    /// renewals and release (plain updates of a non-key column) do not wait for the commit.
    pub check_fence: String,
    pub outbox_page: String,
}

/// The columns of a record state, in the order [`record_from_row`] reads them.
pub(crate) const RECORD_COLS: &str = "r.local_key, r.twenty_id, r.twenty_hash, r.local_hash, r.twenty_updated_at, r.local_updated_at, r.deleted, r.field_hashes";

impl StateSql {
    pub(crate) fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        StateSql {
            copy_records: format!(
                "COPY {s}.record_state (entity, local_key, twenty_id, twenty_hash, local_hash,
                     twenty_updated_at, local_updated_at, deleted, field_hashes)
                 FROM STDIN (FORMAT binary)"
            ),
            upsert_records: format!(
                "INSERT INTO {s}.record_state AS r (entity, local_key, twenty_id, twenty_hash, local_hash,
                     twenty_updated_at, local_updated_at, deleted, field_hashes)
                 SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::bool[], $9::text[])
                 ON CONFLICT (entity, local_key) DO UPDATE SET twenty_id = EXCLUDED.twenty_id,
                     twenty_hash = EXCLUDED.twenty_hash, local_hash = EXCLUDED.local_hash,
                     twenty_updated_at = EXCLUDED.twenty_updated_at,
                     local_updated_at = EXCLUDED.local_updated_at, deleted = EXCLUDED.deleted,
                     field_hashes = EXCLUDED.field_hashes, updated_at = now()"
            ),
            remove_records: format!(
                "DELETE FROM {s}.record_state WHERE entity = $1 AND local_key = ANY($2::text[])"
            ),
            upsert_cursor: format!(
                "INSERT INTO {s}.cursors (entity, direction, checkpoint) VALUES ($1, $2, $3)
                 ON CONFLICT (entity, direction) DO UPDATE SET checkpoint = EXCLUDED.checkpoint,
                     updated_at = now()"
            ),
            add_pending: format!(
                "INSERT INTO {s}.pending_creates (entity, local_key, twenty_id, run_id, created_at)
                 SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[])
                 ON CONFLICT (entity, local_key) DO UPDATE SET twenty_id = EXCLUDED.twenty_id,
                     run_id = EXCLUDED.run_id, created_at = EXCLUDED.created_at"
            ),
            remove_pending: format!(
                "DELETE FROM {s}.pending_creates WHERE entity = $1 AND local_key = ANY($2::text[])"
            ),
            prune_outbox: format!(
                "DELETE FROM {s}.outbox WHERE entity = $1 AND (txid, seq) <= ($2::text::xid8, $3::bigint)"
            ),
            cursor: format!(
                "SELECT checkpoint FROM {s}.cursors WHERE entity = $1 AND direction = $2"
            ),
            // One index probe per key, whatever the table's statistics: the `OFFSET 0` keeps the
            // lateral subquery from being flattened into a join, which the planner turns into a
            // hash join over every row of the entity when the statistics are missing or stale
            // (a table growing during its first pull, autovacuum late or off): O(N) per batch.
            records: format!(
                "SELECT {RECORD_COLS} FROM unnest($2::text[]) WITH ORDINALITY k(key, ord)
                 CROSS JOIN LATERAL (SELECT * FROM {s}.record_state x
                     WHERE x.entity = $1 AND x.local_key = k.key OFFSET 0) r
                 ORDER BY k.ord"
            ),
            records_by_twenty_id: format!(
                "SELECT {RECORD_COLS} FROM unnest($2::text[]) WITH ORDINALITY k(key, ord)
                 CROSS JOIN LATERAL (SELECT * FROM {s}.record_state x
                     WHERE x.entity = $1 AND x.twenty_id = k.key OFFSET 0) r
                 ORDER BY k.ord, r.local_key"
            ),
            no_records: format!(
                "SELECT NOT EXISTS (SELECT 1 FROM {s}.record_state WHERE entity = $1)"
            ),
            pending: format!(
                "SELECT local_key, twenty_id, run_id, created_at FROM {s}.pending_creates
                 WHERE entity = $1 ORDER BY created_at, local_key"
            ),
            save_run: format!(
                "INSERT INTO {s}.runs (run_id, started_at, status, report) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id) DO UPDATE SET started_at = EXCLUDED.started_at,
                     status = EXCLUDED.status, report = EXCLUDED.report, updated_at = now()"
            ),
            runs: format!(
                "SELECT report FROM {s}.runs ORDER BY started_at DESC, seq DESC LIMIT $1"
            ),
            run: format!("SELECT report FROM {s}.runs WHERE run_id = $1"),
            audit: AuditSql::new(&s),
            renew_lease: format!(
                "WITH renewed AS (
                     UPDATE {s}.leases SET expires_at = clock_timestamp() + make_interval(secs => $3)
                     WHERE scope = $1 AND holder = $2 AND expires_at > clock_timestamp()
                     RETURNING scope, holder, expires_at, token)
                 SELECT scope, holder, expires_at, token, true FROM renewed
                 UNION ALL
                 SELECT scope, holder, expires_at, token, false FROM {s}.leases
                 WHERE scope = $1 AND holder <> $2 AND expires_at > clock_timestamp()"
            ),
            lock_lease: format!("SELECT 1 FROM {s}.leases WHERE scope = $1 FOR UPDATE"),
            acquire_lease: format!(
                "INSERT INTO {s}.leases AS l (scope, holder, expires_at, token)
                 VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3), 1)
                 ON CONFLICT (scope) DO UPDATE SET holder = EXCLUDED.holder,
                     expires_at = EXCLUDED.expires_at,
                     token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp()
                                  THEN l.token ELSE l.token + 1 END
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
                 RETURNING scope, holder, expires_at, token"
            ),
            check_fence: format!(
                "SELECT 1 FROM {s}.leases WHERE scope = $1 AND holder = $2 AND token = $3
                     AND expires_at > '-infinity' FOR KEY SHARE"
            ),
            release_lease: format!(
                "UPDATE {s}.leases SET expires_at = '-infinity'
                 WHERE scope = $1 AND holder = $2 AND token = $3"
            ),
            outbox_page: format!(
                "SELECT o.txid::text, o.seq, o.key FROM {s}.outbox o
                 WHERE o.entity = $1 AND o.txid < pg_snapshot_xmin(pg_current_snapshot())
                   AND (o.txid, o.seq) > ($2::text::xid8, $3::bigint)
                 ORDER BY o.txid, o.seq LIMIT $4"
            ),
        }
    }
}

/// Whether a batch's record states may be written by a plain `COPY` (no `ON CONFLICT`), and
/// what happened when they were. Kept per entity by the sink; handed to [`write_commit`] only for
/// a batch whose data rows all went in by COPY (all new to the table), whose states are then
/// almost surely new too. Speculative insertion (what `ON CONFLICT` costs) is about a quarter of
/// writing a record state: in psql, 2000 new rows into a 100,000-row table took 24-25 ms as an
/// upsert and 18 ms as a plain insert; a binary COPY of 100,000 new states takes 388-392 ms
/// against 487-498 ms for the same rows by `INSERT ... SELECT FROM unnest(...)`
/// (benches/RESULTS.md, 2026-12-05).
#[derive(Debug)]
pub(crate) struct NewStates {
    /// True until a COPY of new states meets a state that is already there (then the entity's states
    /// are upserted for the rest of the sink's life).
    pub fresh: AtomicBool,
    /// Record states written by a COPY of new states.
    pub inserted: AtomicU64,
    /// Batches whose COPY of new states met an existing state and were upserted instead.
    pub fallbacks: AtomicU64,
}

impl Default for NewStates {
    fn default() -> Self {
        NewStates {
            fresh: AtomicBool::new(true),
            inserted: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }
}

const STATES_SAVEPOINT: &str = "twenty_sync_states";

/// Writes `rows` (record states new to the table, as far as the sink knows) by one binary COPY
/// behind a savepoint. Returns false, with the transaction back at the savepoint, when a state
/// was already there (either key): the caller then upserts the same rows, which either succeeds
/// or reports the conflict as it always has. The rows go in in local-key order, as new data rows
/// do ([`in_key_order`]).
async fn copy_new_states(
    tx: &Transaction<'_>,
    sql: &StateSql,
    entity: &str,
    rows: &[&RecordState],
    new_states: &NewStates,
    redactor: &Redactor,
) -> StoreResult<bool> {
    let savepoint = format!("SAVEPOINT {STATES_SAVEPOINT}");
    let rows = in_key_order(rows, |r| &r.local_key);
    // The COPY is sent behind the savepoint without waiting for its answer (pipelined); a failed
    // savepoint fails the COPY too, and its error is the one reported.
    let savepoint_set = tx.batch_execute(&savepoint);
    let copied = async {
        let sink = tx.copy_in(&sql.copy_records).await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, RECORD_STATE_COPY_TYPES));
        for r in &rows {
            writer
                .as_mut()
                .write(&[
                    &entity,
                    &r.local_key,
                    &r.twenty_id,
                    &r.twenty_hash,
                    &r.local_hash,
                    &r.twenty_updated_at,
                    &r.local_updated_at,
                    &r.deleted,
                    &r.field_hashes,
                ])
                .await?;
        }
        writer.finish().await
    };
    let (savepoint_set, copied) = tokio::join!(savepoint_set, copied);
    savepoint_set.map_err(|e| redactor.db("setting a savepoint before new record states", &e))?;
    match copied {
        Ok(n) => {
            new_states.inserted.fetch_add(n, Ordering::Relaxed);
            Ok(true)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {STATES_SAVEPOINT}"))
                .await
                .map_err(|e| redactor.db("returning from a failed copy of record states", &e))?;
            new_states.fresh.store(false, Ordering::Relaxed);
            new_states.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("record states already there; upserting the batch's states");
            Ok(false)
        }
        Err(e) => Err(record_state_error(redactor, &e)),
    }
}

/// Refuses a commit made under `fence` unless its lease is still the current one (released
/// leases keep their row, expired to `-infinity`); the lease's row stays locked until the
/// transaction ends, so the check holds for the whole commit.
async fn check_fence(
    tx: &Transaction<'_>,
    sql: &StateSql,
    fence: &Fence,
    redactor: &Redactor,
) -> StoreResult<()> {
    let token = i64::try_from(fence.token).unwrap_or(i64::MAX);
    let rows = tx
        .query_typed(
            &sql.check_fence,
            &[
                (&fence.scope, Type::TEXT),
                (&fence.holder, Type::TEXT),
                (&token, Type::INT8),
            ],
        )
        .await
        .map_err(|e| redactor.db("checking the commit's lease", &e))?;
    if rows.is_empty() {
        return Err(StoreError::lease_lost(fence));
    }
    Ok(())
}

/// The column types of [`StateSql::copy_records`], in its column order.
const RECORD_STATE_COPY_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::BOOL,
    Type::TEXT,
];

/// Inserts or replaces the record states `rows` (by local key) with one statement.
async fn upsert_states(
    tx: &Transaction<'_>,
    sql: &StateSql,
    entity: &str,
    rows: &[&RecordState],
    redactor: &Redactor,
) -> StoreResult<()> {
    let keys: Vec<&str> = rows.iter().map(|r| r.local_key.as_str()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.twenty_id.as_str()).collect();
    let th: Vec<Option<&str>> = rows.iter().map(|r| r.twenty_hash.as_deref()).collect();
    let lh: Vec<Option<&str>> = rows.iter().map(|r| r.local_hash.as_deref()).collect();
    let tu: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.twenty_updated_at).collect();
    let lu: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.local_updated_at).collect();
    let del: Vec<bool> = rows.iter().map(|r| r.deleted).collect();
    let fh: Vec<Option<&str>> = rows.iter().map(|r| r.field_hashes.as_deref()).collect();
    tx.execute_typed(
        &sql.upsert_records,
        &[
            (&entity, Type::TEXT),
            (&keys, Type::TEXT_ARRAY),
            (&ids, Type::TEXT_ARRAY),
            (&th, Type::TEXT_ARRAY),
            (&lh, Type::TEXT_ARRAY),
            (&tu, Type::TIMESTAMPTZ_ARRAY),
            (&lu, Type::TIMESTAMPTZ_ARRAY),
            (&del, Type::BOOL_ARRAY),
            (&fh, Type::TEXT_ARRAY),
        ],
    )
    .await
    .map_err(|e| record_state_error(redactor, &e))?;
    Ok(())
}

/// The error of a failed write of record states: a unique violation means the commit would map
/// one Twenty id to a second local key.
fn record_state_error(redactor: &Redactor, e: &tokio_postgres::Error) -> StoreError {
    let err = redactor.db("writing record states", e);
    if err.kind() == StoreErrorKind::Conflict {
        StoreError::new(
            StoreErrorKind::Conflict,
            format!(
                "postgres: the commit would map a Twenty id to a second local key ({}); \
                 remove the old key's record state in the same commit",
                err.message()
            ),
        )
    } else {
        err
    }
}

/// Writes `commit` inside `tx`. Each statement is sent with its parameter types
/// (`execute_typed`: one round trip, the unnamed statement) rather than prepared first; with
/// `new_states` still fresh, the record states go in by a binary COPY instead (see
/// [`NewStates`]). Without a COPY every statement is sent without waiting for the answers to
/// those before it (pipelined); statements the caller sent earlier in `tx` need not have been
/// answered either.
///
/// Removals run before upserts (record states and pending creates); upserts are deduplicated by
/// local key (the last one wins). A commit that would map one Twenty
/// id to two local keys fails with `Conflict` (unique constraint) and, being one transaction,
/// changes nothing.
///
/// The first failure aborts the transaction, and every statement sent after it fails with
/// "transaction is aborted": errors are checked in the order the statements were sent, so the
/// error reported is always the one the server raised.
pub(crate) async fn write_commit(
    tx: &Transaction<'_>,
    sql: &StateSql,
    commit: &StateCommit,
    redactor: &Redactor,
    new_states: Option<&NewStates>,
) -> StoreResult<()> {
    let entity = &commit.entity;
    let ctx = |e: StoreError| e.with_context("entity", entity.clone());
    // The lease check goes out first and everything else behind it without waiting for its
    // answer: a commit refused by it fails, and the transaction with its writes rolls back.
    let fenced = async {
        match &commit.fence {
            Some(fence) => check_fence(tx, sql, fence, redactor).await.map_err(ctx),
            None => Ok(()),
        }
    };
    let rows = last_per_key(&commit.upsert_records, |r| &r.local_key);
    let fresh = new_states.filter(|n| n.fresh.load(Ordering::Relaxed));
    // The removals, then the states (a COPY or an upsert) sent behind them without waiting for
    // their answer.
    let states = async {
        let written = async {
            if rows.is_empty() {
                return Ok(());
            }
            let copied = match fresh {
                Some(n) => copy_new_states(tx, sql, entity, &rows, n, redactor).await?,
                None => false,
            };
            if !copied {
                upsert_states(tx, sql, entity, &rows, redactor).await?;
            }
            Ok(())
        };
        let (removed, written) =
            tokio::join!(biased; remove_records(tx, sql, commit, redactor), written);
        removed.and(written).map_err(ctx)
    };
    if fresh.is_some() {
        // Nothing else may be sent on the connection until the COPY's answer: the audit rows
        // are serialised meanwhile, and go out after it.
        let (fenced, (states, audit_rows)) = tokio::join!(
            biased;
            fenced,
            async { tokio::join!(biased; states, async { audit::encode(&commit.audit) }) }
        );
        fenced?;
        states?;
        let audit_rows = audit_rows.map_err(ctx)?;
        return write_audit_and_rest(tx, sql, commit, &audit_rows, redactor).await;
    }
    // No COPY: the audit rows are serialised while the server writes the states, and go out
    // with the rest behind them without waiting for the states' answer.
    let rest = async {
        let audit_rows = audit::encode(&commit.audit).map_err(ctx)?;
        write_audit_and_rest(tx, sql, commit, &audit_rows, redactor).await
    };
    let (fenced, states, rest) = tokio::join!(biased; fenced, states, rest);
    fenced?;
    states?;
    rest
}

/// The last of `items` for each key, in the order each key first appears (one row per key: a
/// statement may not touch a row twice).
fn last_per_key<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut last: HashMap<&str, &T> = HashMap::with_capacity(items.len());
    let mut order = Vec::with_capacity(items.len());
    for item in items {
        if last.insert(key(item), item).is_none() {
            order.push(key(item));
        }
    }
    order.iter().map(|k| last[k]).collect()
}

/// Removes the record states `commit` removes (nothing to send when there are none); the
/// statement is sent at the first poll.
async fn remove_records(
    tx: &Transaction<'_>,
    sql: &StateSql,
    commit: &StateCommit,
    redactor: &Redactor,
) -> StoreResult<()> {
    if commit.remove_records.is_empty() {
        return Ok(());
    }
    tx.execute_typed(
        &sql.remove_records,
        &[
            (&commit.entity, Type::TEXT),
            (&commit.remove_records, Type::TEXT_ARRAY),
        ],
    )
    .await
    .map(drop)
    .map_err(|e| redactor.db("removing record states", &e))
}

/// The audit rows of `commit`, then its cursors and pending creates, sent behind the audit rows
/// without waiting for their answer; the audit's error is checked first.
async fn write_audit_and_rest(
    tx: &Transaction<'_>,
    sql: &StateSql,
    commit: &StateCommit,
    audit_rows: &[audit::BatchRow<'_>],
    redactor: &Redactor,
) -> StoreResult<()> {
    let (audited, rest) = tokio::join!(
        biased;
        audit::insert(tx, &sql.audit, audit_rows, redactor),
        write_cursors_and_pending(tx, sql, commit, redactor)
    );
    audited.map_err(|e| e.with_context("entity", commit.entity.clone()))?;
    rest
}

/// The cursors (and the outbox pruning a push cursor allows) and pending creates of `commit`.
async fn write_cursors_and_pending(
    tx: &Transaction<'_>,
    sql: &StateSql,
    commit: &StateCommit,
    redactor: &Redactor,
) -> StoreResult<()> {
    let entity = &commit.entity;
    let ctx = |e: StoreError| e.with_context("entity", entity.clone());
    for (direction, checkpoint) in &commit.cursors {
        tx.execute_typed(
            &sql.upsert_cursor,
            &[
                (entity, Type::TEXT),
                (&direction.as_str(), Type::TEXT),
                (&checkpoint.as_str(), Type::TEXT),
            ],
        )
        .await
        .map_err(|e| ctx(redactor.db("moving the cursor", &e)))?;
        if *direction == SyncDirection::Push {
            if let Some(pos) = OutboxPosition::parse(checkpoint.as_str()) {
                // Everything up to the committed push cursor has been read for good.
                tx.execute_typed(
                    &sql.prune_outbox,
                    &[
                        (entity, Type::TEXT),
                        (&pos.txid.to_string(), Type::TEXT),
                        (&pos.seq, Type::INT8),
                    ],
                )
                .await
                .map_err(|e| ctx(redactor.db("pruning the outbox", &e)))?;
            }
        }
    }
    if !commit.remove_pending.is_empty() {
        tx.execute_typed(
            &sql.remove_pending,
            &[
                (entity, Type::TEXT),
                (&commit.remove_pending, Type::TEXT_ARRAY),
            ],
        )
        .await
        .map_err(|e| ctx(redactor.db("resolving pending creates", &e)))?;
    }
    if !commit.add_pending.is_empty() {
        let rows = last_per_key(&commit.add_pending, |p| &p.local_key);
        let keys: Vec<&str> = rows.iter().map(|p| p.local_key.as_str()).collect();
        let ids: Vec<&str> = rows.iter().map(|p| p.twenty_id.as_str()).collect();
        let runs: Vec<&str> = rows.iter().map(|p| p.run_id.as_str()).collect();
        let at: Vec<DateTime<Utc>> = rows.iter().map(|p| p.created_at).collect();
        tx.execute_typed(
            &sql.add_pending,
            &[
                (entity, Type::TEXT),
                (&keys, Type::TEXT_ARRAY),
                (&ids, Type::TEXT_ARRAY),
                (&runs, Type::TEXT_ARRAY),
                (&at, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await
        .map_err(|e| ctx(redactor.db("recording pending creates", &e)))?;
    }
    Ok(())
}

/// A [`RecordState`] from a row selected with the record columns.
pub(crate) fn record_from_row(row: &Row) -> RecordState {
    record_from_row_at(row, 0)
}

/// A [`RecordState`] from the record columns of a row, the first at index `at`.
pub(crate) fn record_from_row_at(row: &Row, at: usize) -> RecordState {
    RecordState {
        local_key: row.get(at),
        twenty_id: row.get(at + 1),
        twenty_hash: row.get(at + 2),
        local_hash: row.get(at + 3),
        twenty_updated_at: row.get(at + 4),
        local_updated_at: row.get(at + 5),
        deleted: row.get(at + 6),
        field_hashes: row.get(at + 7),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use serde_json::{Value, json};
    use tokio_postgres::types::ToSql;
    use twenty_sync_core::{
        ApplyBatch, InboundChange, InboundChangeKind, RecordState, SourceOfTruth, StateCommit,
        StateStore,
    };

    use crate::test_db::database_url;
    use crate::{ColumnType, EntityTable, PostgresSink, SinkConfig};

    #[test]
    fn the_last_item_of_each_key_is_kept_where_the_key_first_appeared() {
        let items = [("b", 1), ("a", 1), ("b", 2), ("c", 1), ("a", 2), ("b", 3)];
        let kept: Vec<&(&str, i32)> = super::last_per_key(&items, |i| i.0);
        assert_eq!(kept, [&("b", 3), &("a", 2), &("c", 1)]);
    }

    /// The largest `actual rows x loops` of any plan node reading a table or an index.
    fn rows_read(plan: &Value) -> f64 {
        let own = if plan.get("Relation Name").is_some() || plan.get("Index Name").is_some() {
            plan["Actual Rows"].as_f64().unwrap_or(0.0)
                * plan["Actual Loops"].as_f64().unwrap_or(0.0)
        } else {
            0.0
        };
        plan["Plans"]
            .as_array()
            .map(|ps| ps.iter().map(rows_read).fold(own, f64::max))
            .unwrap_or(own)
    }

    /// Without statistics (tables growing during their first pull, autovacuum off or late), the
    /// lookups the engine makes for every pulled page read one entry per key, not every row.
    #[tokio::test]
    async fn per_page_lookups_probe_per_key_without_statistics() {
        let prefix = format!("tsp_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let (state, data) = (format!("{prefix}_state"), format!("{prefix}_data"));
        let sink = PostgresSink::builder(SinkConfig {
            state_schema: state.clone(),
            ..SinkConfig::default()
        })
        .connection_string(SecretString::from(database_url()))
        .entity(EntityTable::default_table(
            "people",
            &data,
            "id",
            [("name", ColumnType::Text)],
        ))
        .max_connections(2)
        .build()
        .await
        .expect("the sink builds against the test server");
        let client = sink.pool().get().await.expect("a connection");
        client
            .batch_execute(&format!(
                "ALTER TABLE \"{state}\".record_state SET (autovacuum_enabled = false);
                 ALTER TABLE \"{data}\".people SET (autovacuum_enabled = false)"
            ))
            .await
            .expect("autovacuum off for the test tables");
        let n = 5000;
        let mut batch = ApplyBatch {
            entity: "people".into(),
            changes: Vec::new(),
            state: StateCommit::new("people"),
        };
        for i in 0..n {
            batch
                .state
                .upsert_records
                .push(RecordState::new(format!("k{i}"), format!("t{i}")));
            batch.changes.push(InboundChange {
                key: format!("k{i}"),
                twenty_id: format!("t{i}"),
                kind: InboundChangeKind::Upsert {
                    data: json!({"id": format!("k{i}"), "name": "x"}),
                },
                twenty_updated_at: None,
            });
        }
        sink.apply(&batch).await.expect("rows and states written");
        let keys: Vec<String> = (0..200).map(|i| format!("k{}", i * 7)).collect();
        let ids: Vec<String> = (0..200).map(|i| format!("t{}", i * 7)).collect();
        let sql = &sink.inner().sql;
        let table = &sink.inner().tables["people"].sql;
        let cases: [(&str, &String, Vec<&(dyn ToSql + Sync)>); 4] = [
            ("records", &sql.records, vec![&"people", &keys]),
            (
                "records_by_twenty_id",
                &sql.records_by_twenty_id,
                vec![&"people", &ids],
            ),
            ("get", &table.select_by_keys, vec![&keys]),
            (
                "linked_by_twenty_id",
                &table.linked_by_twenty_id,
                vec![&"people", &ids],
            ),
        ];
        for (what, stmt, params) in cases {
            let row = client
                .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {stmt}"), &params)
                .await
                .expect("explain runs");
            let plan: Value = row.get(0);
            let read = rows_read(&plan[0]["Plan"]);
            assert!(
                read <= 2.0 * keys.len() as f64,
                "{what} read {read} rows for {} keys (of {n}): {plan:#}",
                keys.len()
            );
        }
        assert_eq!(sink.records("people", &keys).await.unwrap().len(), 200);
        assert_eq!(
            sink.records_by_twenty_id("people", &ids)
                .await
                .unwrap()
                .len(),
            200
        );
        assert_eq!(sink.get("people", &keys).await.unwrap().len(), 200);
        let linked = sink.linked_by_twenty_id("people", &ids).await.unwrap();
        assert!(linked.is_some_and(|l| l.len() == 200 && l.iter().all(|l| l.record.is_some())));
        client
            .batch_execute(&format!(
                "DROP SCHEMA \"{state}\" CASCADE; DROP SCHEMA \"{data}\" CASCADE"
            ))
            .await
            .expect("cleanup");
    }
}
