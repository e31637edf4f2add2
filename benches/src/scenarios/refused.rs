//! A full pull into Postgres whose table refuses some rows (a CHECK constraint, or a unique one
//! with the rows' emails taken), against the same pull into a table that refuses nothing: what
//! finding the refused rows costs.
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

/// How the table refuses the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `CHECK (md5(email) NOT LIKE '<prefix>%')`: Postgres's error does not name the row, so
    /// the engine halves the batch to find it.
    Check,
    /// A unique index on the (non-empty) emails, with rows of other keys holding the refused
    /// emails already: the sink's error names the row, so the engine refuses it alone.
    Unique,
}

impl Refusal {
    /// Its name on the command line and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Check => "check",
            Refusal::Unique => "unique",
        }
    }

    /// The refusal named `name` on the command line.
    pub fn parse(name: &str) -> Option<Refusal> {
        [Refusal::Check, Refusal::Unique]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// The two pulls of one run.
#[derive(Debug)]
pub struct RefusedRun {
    /// People in Twenty.
    pub people: usize,
    /// The hex prefix of the refused emails' MD5.
    pub prefix: String,
    /// How the table refused them.
    pub refusal: Refusal,
    /// Rows the table refuses (counted in the clean pull's table).
    pub expected: u64,
    /// The pull into the table that refuses nothing.
    pub clean: Outcome,
    /// The pull into the table that refuses those rows.
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

/// Pulls every person of `sim` into a fresh table, then into a fresh table that refuses (as
/// `refusal` says) the emails whose MD5 starts with `prefix`; checks that exactly those rows
/// were refused, each reported once, and everything else written.
pub async fn run(
    sim: &SimServer,
    people: usize,
    prefix: &str,
    refusal: Refusal,
) -> Result<RefusedRun, BoxError> {
    if !is_hex_prefix(prefix) {
        return Err(format!("refused: the prefix {prefix:?} is not hex digits").into());
    }
    let prefix = prefix.to_ascii_lowercase();
    let refused_rows = format!("email IS NOT NULL AND md5(email) LIKE '{prefix}%'");
    let pg = env::admin().await?;

    let clean_side = Local::fresh(Target::Postgres, "refused_clean").await?;
    let clean = child::spawn(&clean_side.task(sim, RunMode::Pull, false)).await?;
    let table = clean_side.table();
    let taken: Vec<String> = pg
        .query(
            &format!("SELECT email FROM {table} WHERE {refused_rows}"),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected = taken.len() as i64;
    clean_side.remove().await?;

    let side = Local::fresh(Target::Postgres, "refused_check").await?;
    create_refusing_table(&side, &prefix, refusal, &taken).await?;
    let refused = child::spawn(&side.task(sim, RunMode::Pull, false)).await?;
    let rows: i64 = pg
        .query_one(&format!("SELECT count(*) FROM {}", side.table()), &[])
        .await?
        .get(0);
    side.remove().await?;

    let failed = refused.dir("pull").failed;
    let written = clean.dir("pull").created;
    // A unique table holds the rows that took the refused emails besides the pulled ones.
    let held = match refusal {
        Refusal::Check => written as i64 - expected,
        Refusal::Unique => written as i64,
    };
    if failed != expected as u64 || rows != held || refused.failures as u64 != failed {
        return Err(format!(
            "refused pull: expected {expected} refused of {written}, got {failed} failed \
             ({} reported), {rows} rows in the table",
            refused.failures
        )
        .into());
    }
    Ok(RefusedRun {
        people,
        prefix,
        refusal,
        expected: expected as u64,
        clean,
        refused,
    })
}

/// Creates the data table of `side` as the child's sink will find it (by opening a sink on it),
/// then makes it refuse the emails whose MD5 starts with `prefix` (`taken`): by a CHECK
/// constraint, or by a unique one and rows of other keys holding those emails.
async fn create_refusing_table(
    side: &Local,
    prefix: &str,
    refusal: Refusal,
    taken: &[String],
) -> Result<(), BoxError> {
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
    let pg = env::admin().await?;
    let table = side.table();
    match refusal {
        Refusal::Check => {
            pg.batch_execute(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT bench_refused \
                 CHECK (email IS NULL OR md5(email) NOT LIKE '{prefix}%')"
            ))
            .await?
        }
        Refusal::Unique => {
            // Not over empty emails, which many seeded people have (Twenty keeps an empty
            // composite sub-field as ""): a unique index over them refuses most of a batch, and
            // the engine stops the pull (see `ALL_REFUSED` in the engine's `pull_refused`).
            pg.batch_execute(&format!(
                "CREATE UNIQUE INDEX bench_refused ON {table} (email) WHERE email <> ''"
            ))
            .await?;
            pg.execute(
                &format!(
                    "INSERT INTO {table} (id, email) \
                     SELECT 'taken-' || e, e FROM unnest($1::text[]) AS e"
                ),
                &[&taken],
            )
            .await?;
        }
    }
    Ok(())
}
