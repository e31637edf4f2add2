//! A full pull into Postgres whose table refuses some rows (a CHECK constraint), against the same
//! pull into a table without it: what finding the refused rows costs.
//!
//! Postgres refuses a whole batch for one row; the engine then applies the batch in parts
//! (halves, down to the refused row) and reports the row (`twenty-sync-core`'s
//! `engine/pull_refused.rs`). The constraint refuses the emails whose MD5 starts with a given
//! hex prefix (`000`: about 1 in 4,096), so the refused rows are spread evenly over the walk,
//! as bad data usually is, and the same rows are refused on every run of one seed.

use sink_postgres::{PostgresSink, SinkConfig};
use twenty_sim::SimServer;
use twenty_sync_core::RunMode;

use crate::child::{self, Outcome};
use crate::env::{self, BoxError};
use crate::scenarios::e2e::{Local, Target};

/// The two pulls of one run.
#[derive(Debug)]
pub struct RefusedRun {
    /// People in Twenty.
    pub people: usize,
    /// The hex prefix of the refused emails' MD5.
    pub prefix: String,
    /// Rows the constraint refuses (counted in the clean pull's table).
    pub expected: u64,
    /// The pull into the table without the constraint.
    pub clean: Outcome,
    /// The pull into the table with it.
    pub refused: Outcome,
}

impl RefusedRun {
    /// The refusing pull's time over the clean one's.
    pub fn ratio(&self) -> f64 {
        self.refused.secs / self.clean.secs
    }
}

/// Whether `prefix` can start an MD5 in hex (and so goes into the constraint's SQL as it is).
pub fn is_hex_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.len() <= 32 && prefix.chars().all(|c| c.is_ascii_hexdigit())
}

/// Pulls every person of `sim` into a fresh table, then into a fresh table that refuses the
/// emails whose MD5 starts with `prefix`; checks that exactly those rows were refused, each
/// reported once, and everything else written.
pub async fn run(sim: &SimServer, people: usize, prefix: &str) -> Result<RefusedRun, BoxError> {
    if !is_hex_prefix(prefix) {
        return Err(format!("refused: the prefix {prefix:?} is not hex digits").into());
    }
    let prefix = prefix.to_ascii_lowercase();
    let refused_rows = format!("email IS NOT NULL AND md5(email) LIKE '{prefix}%'");
    let pg = env::admin().await?;

    let clean_side = Local::fresh(Target::Postgres, "refused_clean").await?;
    let clean = child::spawn(&clean_side.task(sim, RunMode::Pull, false)).await?;
    let table = clean_side.table();
    let expected: i64 = pg
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE {refused_rows}"),
            &[],
        )
        .await?
        .get(0);
    clean_side.remove().await?;

    let side = Local::fresh(Target::Postgres, "refused_check").await?;
    create_refusing_table(&side, &prefix).await?;
    let refused = child::spawn(&side.task(sim, RunMode::Pull, false)).await?;
    let rows: i64 = pg
        .query_one(&format!("SELECT count(*) FROM {}", side.table()), &[])
        .await?
        .get(0);
    side.remove().await?;

    let failed = refused.dir("pull").failed;
    let written = clean.dir("pull").created;
    if failed != expected as u64
        || rows != written as i64 - expected
        || refused.failures as u64 != failed
    {
        return Err(format!(
            "refused pull: expected {expected} refused of {written}, got {failed} failed \
             ({} reported), {rows} rows written",
            refused.failures
        )
        .into());
    }
    Ok(RefusedRun {
        people,
        prefix,
        expected: expected as u64,
        clean,
        refused,
    })
}

/// Creates the data table of `side` as the child's sink will find it (by opening a sink on it),
/// then adds the constraint refusing the emails whose MD5 starts with `prefix`.
async fn create_refusing_table(side: &Local, prefix: &str) -> Result<(), BoxError> {
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: side.state_schema.clone(),
        ..SinkConfig::default()
    })
    .connection_string(secrecy::SecretString::from(env::database_url()))
    .entity(env::people_table(&side.data_schema))
    .max_connections(1)
    .build()
    .await?;
    drop(sink);
    env::admin()
        .await?
        .batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT bench_refused \
             CHECK (email IS NULL OR md5(email) NOT LIKE '{prefix}%')",
            side.table()
        ))
        .await?;
    Ok(())
}
