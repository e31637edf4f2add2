//! The Postgres sink against the physical limit (issue 5): pulled person records applied through
//! [`SourceOfTruth::apply`] (new rows by one binary COPY per batch, in one transaction with the
//! batch's state), next to a raw binary COPY of the same rows into a plain table with the same
//! columns, in the same run: in one stream (the limit), and in one COPY and transaction
//! per batch (the limit at the engine's commit size).
//!
//! Applies carry as many records as the engine commits at once in a pull
//! ([`EngineConfig::pull_commit_records`], 2000 by default). The [`SinkRun::variants`] measure
//! what a full pull really commits (record states, cursor *and* one audit entry per created
//! record), with the sink's opt-in `async_pull_commit`, and one page (200) per apply as the
//! engine committed before it staged pages. A second physical limit, a raw binary COPY of
//! *everything* a full pull commits (the data rows, the record-state rows and the audit-log
//! rows, one per committed batch, into the sink's own tables with their indexes), is what the
//! full commit is read against.

use std::pin::pin;
use std::time::Instant;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use sink_postgres::{PostgresSink, SinkConfig, quote_qualified};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use twenty_sync_core::engine::EngineConfig;
use twenty_sync_core::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, Checkpoint, InboundChange,
    InboundChangeKind, RecordState, SourceOfTruth, StateCommit, SyncDirection,
};

use crate::env::{self, BoxError};

const COLUMNS: [&str; 6] = ["id", "full_name", "email", "phone", "title", "linkedin"];

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct SinkRun {
    /// Rows written by each method.
    pub rows: usize,
    /// Records per apply (what the engine commits at once in a pull).
    pub batch: usize,
    /// Seconds: apply with the batch's state (ID map, record states, cursor), as a pull commits.
    pub apply_with_state_secs: f64,
    /// Seconds: apply with only the cursor in the state commit.
    pub apply_data_secs: f64,
    /// Seconds: one raw binary COPY of the same rows.
    pub copy_secs: f64,
    /// Seconds: raw binary COPYs of the same rows, one COPY and one transaction per `batch`
    /// rows (the limit at the engine's commit size).
    pub copy_batched_secs: f64,
    /// Seconds: one raw binary COPY of everything a full pull commits for the rows (data,
    /// record states, audit entries) into the sink's own tables.
    pub copy_all_secs: f64,
    /// Further ways of applying the same rows: (label, seconds), best of the rounds.
    pub variants: Vec<(String, f64)>,
}

/// What each apply carries besides the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Only the cursor.
    Cursor,
    /// Record states and the cursor.
    Records,
    /// Record states, the cursor and one audit entry per record: what a full pull commits.
    Pull,
}

/// One way of applying the rows through the sink.
#[derive(Debug, Clone, Copy)]
struct Method {
    state: State,
    batch: usize,
    async_commit: bool,
}

impl Method {
    fn label(&self) -> String {
        let what = match self.state {
            State::Cursor => "data + cursor",
            State::Records => "data + record states + cursor",
            State::Pull => "data + record states + audit + cursor (all a full pull commits)",
        };
        let commit = if self.async_commit {
            ", `async_pull_commit` (opt-in)"
        } else {
            ""
        };
        let engine = if self.batch < EngineConfig::default().pull_commit_records {
            " (one page per commit, as before pulls staged pages)"
        } else {
            ""
        };
        format!(
            "sink apply, {what}, batches of {}{commit}{engine}",
            self.batch
        )
    }
}

impl SinkRun {
    /// Rows per second of a duration.
    pub fn rate(&self, secs: f64) -> f64 {
        self.rows as f64 / secs
    }
}

/// A pulled person in its local shape, as the benchmark mapping produces it.
fn person(i: usize) -> (String, Value) {
    let id =
        uuid::Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 + i as u128).to_string();
    let title = [
        "Engineer",
        "Chief Technology Officer",
        "Account Executive",
        "Designer",
    ][i % 4];
    let data = json!({
        "id": id,
        "full_name": format!("Person {i} Benchmark"),
        "email": format!("person.{i}@bench.example"),
        "phone": format!("+1415555{:04}", i % 10_000),
        "title": title,
        "linkedin": if i % 3 == 0 { Value::String(format!("https://linkedin.com/in/person-{i}")) } else { Value::Null },
    });
    (id, data)
}

fn batch(start: usize, len: usize, with: State) -> ApplyBatch {
    let mut state = StateCommit::new(env::ENTITY);
    let mut changes = Vec::with_capacity(len);
    let now = Utc::now();
    for i in start..start + len {
        let (id, data) = person(i);
        let local_hash = format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if with != State::Cursor {
            let mut rs = RecordState::new(id.clone(), id.clone());
            rs.local_hash = Some(local_hash.clone());
            rs.twenty_hash = Some(format!("{:016x}", i.wrapping_mul(0x85eb_ca6b)));
            rs.twenty_updated_at = Some(now);
            state.upsert_records.push(rs);
        }
        if with == State::Pull {
            // As the engine writes it for a created record (audit values off).
            state.audit.push(AuditEntry {
                run_id: "bench-run".to_owned(),
                at: now,
                entity: env::ENTITY.to_owned(),
                direction: SyncDirection::Pull,
                local_key: Some(id.clone()),
                twenty_id: Some(id.clone()),
                action: AuditAction::Create,
                changed_fields: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
                before_hash: None,
                after_hash: Some(local_hash),
                outcome: AuditOutcome::Applied,
                detail: None,
            });
        }
        changes.push(InboundChange {
            key: id.clone(),
            twenty_id: id,
            kind: InboundChangeKind::Upsert { data },
            twenty_updated_at: Some(now),
        });
    }
    state
        .cursors
        .push((SyncDirection::Pull, Checkpoint::new(now.to_rfc3339())));
    ApplyBatch {
        entity: env::ENTITY.to_owned(),
        changes,
        state,
    }
}

async fn apply_all(rows: usize, method: Method, tag: &str) -> Result<f64, BoxError> {
    let data_schema = format!("bench_sink_{tag}_data");
    let state_schema = format!("bench_sink_{tag}_state");
    let pg = env::admin().await?;
    env::drop_schemas(&pg, &[&data_schema, &state_schema]).await?;
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: state_schema.clone(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(env::database_url()))
    .entity(env::people_table(&data_schema))
    .max_connections(2)
    .async_pull_commit(method.async_commit)
    .build()
    .await?;
    // Build the batches first: the figure is the sink's, not the generator's.
    let batches: Vec<ApplyBatch> = (0..rows)
        .step_by(method.batch)
        .map(|s| batch(s, method.batch.min(rows - s), method.state))
        .collect();
    let t = Instant::now();
    for b in &batches {
        sink.apply(b).await?;
    }
    let secs = t.elapsed().as_secs_f64();
    let n: i64 = pg
        .query_one(
            &format!(
                "SELECT count(*) FROM {}",
                quote_qualified(&data_schema, env::ENTITY)
            ),
            &[],
        )
        .await?
        .get(0);
    if n as usize != rows {
        return Err(format!("the sink wrote {n} rows, expected {rows}").into());
    }
    drop(sink);
    env::drop_schemas(&pg, &[&data_schema, &state_schema]).await?;
    Ok(secs)
}

/// One raw binary COPY of `rows` person records into a plain table, in one stream and one
/// transaction (`batch: None`), or one COPY and one transaction per `batch` rows, as the sink
/// commits them.
async fn raw_copy(rows: usize, batch: Option<usize>) -> Result<f64, BoxError> {
    let schema = "bench_sink_copy";
    let mut pg = env::admin().await?;
    env::drop_schemas(&pg, &[schema]).await?;
    let table = quote_qualified(schema, env::ENTITY);
    pg.batch_execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {table} (id text PRIMARY KEY, full_name text, email text, \
         phone text, title text, linkedin text)"
    ))
    .await?;
    let cells: Vec<Vec<Option<String>>> = (0..rows)
        .map(|i| {
            let (_, v) = person(i);
            COLUMNS
                .iter()
                .map(|c| v[*c].as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    let copy = format!("COPY {table} ({}) FROM STDIN BINARY", COLUMNS.join(", "));
    let t = Instant::now();
    for chunk in cells.chunks(batch.unwrap_or(rows.max(1))) {
        let tx = pg.transaction().await?;
        let sink = tx.copy_in(&copy).await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &[Type::TEXT; 6]));
        for row in chunk {
            let refs: Vec<&(dyn ToSql + Sync)> =
                row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer.as_mut().write(&refs).await?;
        }
        writer.finish().await?;
        tx.commit().await?;
    }
    let secs = t.elapsed().as_secs_f64();
    env::drop_schemas(&pg, &[schema]).await?;
    Ok(secs)
}

/// The rows a full pull commits besides the data, as COPY rows: record states, and audit-log rows
/// (one per committed batch, holding its entries).
struct StateRows {
    records: Vec<Vec<Box<dyn ToSql + Sync + Send>>>,
    audit: Vec<Vec<Box<dyn ToSql + Sync + Send>>>,
}

fn state_rows(rows: usize) -> Result<StateRows, BoxError> {
    let mut out = StateRows {
        records: Vec::with_capacity(rows),
        audit: Vec::with_capacity(rows),
    };
    let b = batch(0, rows, State::Pull);
    for r in b.state.upsert_records {
        out.records.push(vec![
            Box::new(env::ENTITY.to_owned()),
            Box::new(r.local_key),
            Box::new(r.twenty_id),
            Box::new(r.twenty_hash),
            Box::new(r.local_hash),
            Box::new(r.twenty_updated_at),
            Box::new(r.local_updated_at),
            Box::new(r.deleted),
            Box::new(r.field_hashes),
        ]);
    }
    // The audit log holds one row per committed batch (what the engine commits at once).
    let per_commit = EngineConfig::default().pull_commit_records.max(1);
    for group in b.state.audit.chunks(per_commit) {
        // Stand-ins for the hashes the sink's server computes (`hashtextextended`): one 64-bit
        // value per key, spread like a hash, so the GIN index gets what it gets from the sink.
        let mut keys: Vec<i64> = Vec::with_capacity(group.len() * 2);
        let mut lines = Vec::with_capacity(group.len());
        for a in group {
            keys.extend(a.local_key.as_deref().map(stand_in_hash));
            if a.twenty_id != a.local_key {
                keys.extend(a.twenty_id.as_deref().map(stand_in_hash));
            }
            lines.push(serde_json::to_string(a)?);
        }
        out.audit.push(vec![
            Box::new(group[0].run_id.clone()),
            Box::new(group[0].entity.clone()),
            Box::new(group.iter().map(|a| a.at).min()),
            Box::new(group.iter().map(|a| a.at).max()),
            Box::new(keys),
            Box::new(lines.join("\n")),
        ]);
    }
    Ok(out)
}

/// A fixed 64-bit hash of `key` (SipHash with the standard library's fixed keys).
fn stand_in_hash(key: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() as i64
}

/// COPYs `rows` into `table` (binary, one stream) inside `tx`.
async fn copy_rows(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[&str],
    types: &[Type],
    rows: &[Vec<Box<dyn ToSql + Sync + Send>>],
) -> Result<(), BoxError> {
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN BINARY",
            columns.join(", ")
        ))
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, types));
    for row in rows {
        let refs: Vec<&(dyn ToSql + Sync)> = row
            .iter()
            .map(|c| c.as_ref() as &(dyn ToSql + Sync))
            .collect();
        writer.as_mut().write(&refs).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The physical limit of a full pull's commit: one raw binary COPY of the data rows, the
/// record-state rows and the audit rows into tables the sink created (same indexes and
/// constraints), in one transaction.
async fn raw_copy_all(rows: usize) -> Result<f64, BoxError> {
    let data_schema = "bench_sink_copyall_data";
    let state_schema = "bench_sink_copyall_state";
    let mut pg = env::admin().await?;
    env::drop_schemas(&pg, &[data_schema, state_schema]).await?;
    // The sink creates the tables (migrations, default data table) and is not used after.
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: state_schema.to_owned(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(env::database_url()))
    .entity(env::people_table(data_schema))
    .max_connections(1)
    .build()
    .await?;
    drop(sink);
    let data: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = (0..rows)
        .map(|i| {
            let (_, v) = person(i);
            COLUMNS
                .iter()
                .map(|c| {
                    Box::new(v[*c].as_str().map(str::to_owned)) as Box<dyn ToSql + Sync + Send>
                })
                .collect()
        })
        .collect();
    let state = state_rows(rows)?;
    let t = Instant::now();
    let tx = pg.transaction().await?;
    // As the sink's apply does: the capture trigger on the data table (installed by the sink)
    // skips rows written with this set, so the limit does not pay for a trigger the sink avoids.
    tx.batch_execute("SET LOCAL twenty_sync.applying = 'on'")
        .await?;
    copy_rows(
        &tx,
        &quote_qualified(data_schema, env::ENTITY),
        &COLUMNS,
        &[Type::TEXT; 6],
        &data,
    )
    .await?;
    copy_rows(
        &tx,
        &quote_qualified(state_schema, "record_state"),
        &[
            "entity",
            "local_key",
            "twenty_id",
            "twenty_hash",
            "local_hash",
            "twenty_updated_at",
            "local_updated_at",
            "deleted",
            "field_hashes",
        ],
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::BOOL,
            Type::TEXT,
        ],
        &state.records,
    )
    .await?;
    copy_rows(
        &tx,
        &quote_qualified(state_schema, "audit_log"),
        &[
            "run_id",
            "entity",
            "first_at",
            "last_at",
            "key_hashes",
            "entries",
        ],
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::INT8_ARRAY,
            Type::TEXT,
        ],
        &state.audit,
    )
    .await?;
    tx.commit().await?;
    let secs = t.elapsed().as_secs_f64();
    env::drop_schemas(&pg, &[data_schema, state_schema]).await?;
    Ok(secs)
}

/// Rounds of every method (best time of each is kept).
pub const ROUNDS: usize = 3;

/// Writes `rows` pulled person records through the sink (batches of what the engine commits at
/// once in a pull, and the variants, among them one `page` per apply) and by raw COPYs,
/// [`ROUNDS`] times each, alternating; keeps the best time of each method.
pub async fn run(rows: usize, page: usize) -> Result<SinkRun, BoxError> {
    let m = |state, batch, async_commit| Method {
        state,
        batch,
        async_commit,
    };
    let commit = EngineConfig::default().pull_commit_records;
    let data = m(State::Cursor, commit, false);
    let records = m(State::Records, commit, false);
    let variants = [
        m(State::Pull, commit, false),
        m(State::Pull, commit, true),
        m(State::Cursor, commit, true),
        m(State::Cursor, page, false),
        m(State::Pull, page, false),
    ];
    // Rounds alternating the methods, best of each: the first touches cold caches, and a loaded
    // machine (other jobs, noisy neighbours) disturbs single runs by up to ±30% here.
    let (mut copy_secs, mut copy_all_secs, mut apply_data_secs, mut apply_with_state_secs) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    let mut copy_batched_secs = f64::MAX;
    let mut variant_secs = [f64::MAX; 5];
    for _ in 0..ROUNDS {
        copy_secs = copy_secs.min(raw_copy(rows, None).await?);
        copy_batched_secs = copy_batched_secs.min(raw_copy(rows, Some(commit)).await?);
        copy_all_secs = copy_all_secs.min(raw_copy_all(rows).await?);
        apply_data_secs = apply_data_secs.min(apply_all(rows, data, "data").await?);
        apply_with_state_secs = apply_with_state_secs.min(apply_all(rows, records, "state").await?);
        for (best, v) in variant_secs.iter_mut().zip(&variants) {
            *best = best.min(apply_all(rows, *v, "variant").await?);
        }
    }
    Ok(SinkRun {
        rows,
        batch: commit,
        apply_with_state_secs,
        apply_data_secs,
        copy_secs,
        copy_batched_secs,
        copy_all_secs,
        variants: variants
            .iter()
            .zip(variant_secs)
            .map(|(v, secs)| (v.label(), secs))
            .collect(),
    })
}
