//! Scenarios 1, 2, 4 and 5 of the harness: full pull of N seeded people into Postgres and into the
//! file store, incremental pull after 1% changed in Twenty, bidirectional sync with 1% changed on
//! each side (0.1% on both), and its dry run.
//!
//! The simulator runs in the harness process; every engine run is a child process
//! ([`crate::child`]) so its peak RSS is the engine's own.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sink_postgres::quote_qualified;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::PlannedWrite;
use twenty_sync_core::{EntityCounts, RunMode};

use crate::child::{self, Limit, Outcome, Resident, Store, Task};
use crate::env::{self, BoxError};

/// Records per page and per applied batch in every pull (Twenty's largest page).
pub const BATCH: usize = 200;

/// `BENCH_TWENTY_LATENCY_MS=<ms>`: the simulator waits this long before it handles each request,
/// as a Twenty server across a network would (default 0: loopback only). For seeing how the
/// engine's request pattern, not its local work, sets a run's time; the figures written then are
/// not the default's.
const LATENCY_VAR: &str = "BENCH_TWENTY_LATENCY_MS";

/// The simulator's latency per request: [`LATENCY_VAR`], zero when unset.
pub fn twenty_latency() -> Result<Duration, BoxError> {
    Ok(Duration::from_millis(
        env::number(LATENCY_VAR)?.unwrap_or(0),
    ))
}

/// A seeded simulator without rate limit (with the latency of [`LATENCY_VAR`], if set).
pub async fn seeded_sim(people: usize) -> Result<(SimServer, f64), BoxError> {
    let latency = twenty_latency()?;
    let t = Instant::now();
    let sim = SimServer::start(
        SimConfig::new(env::API_KEY)
            .seed_people(people)
            .rate_limit(None)
            .faults(twenty_sim::Faults {
                latency,
                ..twenty_sim::Faults::none()
            }),
    )
    .await?;
    Ok((sim, t.elapsed().as_secs_f64()))
}

/// The local side of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The Postgres sink.
    Postgres,
    /// The file store.
    File,
}

impl Target {
    /// Its name in the results.
    pub fn name(self) -> &'static str {
        match self {
            Target::Postgres => "Postgres",
            Target::File => "file store",
        }
    }
}

/// A local side prepared for a run: empty schemas or an empty directory.
#[derive(Debug, Clone)]
pub struct Local {
    /// Which kind.
    pub target: Target,
    /// How the child opens it.
    pub store: Store,
    /// The data schema (Postgres only).
    pub data_schema: String,
    /// The state schema (Postgres only).
    pub state_schema: String,
}

impl Local {
    /// A fresh local side named `tag` (schemas `bench_<tag>_data`/`_state` or a scratch dir).
    pub async fn fresh(target: Target, tag: &str) -> Result<Local, BoxError> {
        let data_schema = format!("bench_{tag}_data");
        let state_schema = format!("bench_{tag}_state");
        let store = match target {
            Target::Postgres => {
                let pg = env::admin().await?;
                env::drop_schemas(&pg, &[&data_schema, &state_schema]).await?;
                Store::Postgres {
                    state_schema: state_schema.clone(),
                    data_schema: data_schema.clone(),
                }
            }
            Target::File => Store::File {
                dir: env::scratch_dir(tag)?,
            },
        };
        Ok(Local {
            target,
            store,
            data_schema,
            state_schema,
        })
    }

    /// Removes what [`fresh`](Self::fresh) created.
    pub async fn remove(&self) -> Result<(), BoxError> {
        match &self.store {
            Store::Postgres { .. } => {
                let pg = env::admin().await?;
                env::drop_schemas(&pg, &[&self.data_schema, &self.state_schema]).await
            }
            Store::File { dir } => {
                std::fs::remove_dir_all(dir)
                    .map_err(|e| format!("removing {}: {e}", dir.display()))?;
                Ok(())
            }
        }
    }

    /// The qualified data table (Postgres only).
    pub fn table(&self) -> String {
        quote_qualified(&self.data_schema, env::ENTITY)
    }

    /// A task on this local side.
    pub fn task(&self, sim: &SimServer, mode: RunMode, dry_run: bool) -> Task {
        Task {
            base_url: sim.base_url().to_string(),
            store: self.store.clone(),
            mode,
            dry_run,
            limit: Limit::Off,
            batch_size: BATCH,
            keep_plan: false,
        }
    }
}

/// One full pull.
#[derive(Debug, Clone)]
pub struct PullPoint {
    /// People in Twenty.
    pub people: usize,
    /// Postgres or file store.
    pub target: Target,
    /// The child's outcome.
    pub outcome: Outcome,
}

impl PullPoint {
    /// Records (seen) per second.
    pub fn records_per_sec(&self) -> f64 {
        self.outcome.dir("pull").seen as f64 / self.outcome.secs
    }
}

fn check_full(people: usize, c: &EntityCounts, what: &str) -> Result<(), BoxError> {
    if c.seen as usize != people || (c.created + c.failed) as usize != people {
        return Err(format!(
            "{what}: expected {people} people seen and created (or failed), got seen {} created {} failed {}",
            c.seen, c.created, c.failed
        )
        .into());
    }
    Ok(())
}

/// Scenario 1: a full pull of every person of `sim` into `local` (fresh).
pub async fn full_pull(
    sim: &SimServer,
    people: usize,
    local: &Local,
) -> Result<PullPoint, BoxError> {
    let outcome = child::spawn(&local.task(sim, RunMode::Pull, false)).await?;
    check_full(
        people,
        &outcome.dir("pull"),
        &format!("full pull into {}", local.target.name()),
    )?;
    if local.target == Target::Postgres {
        let pg = env::admin().await?;
        let rows: i64 = pg
            .query_one(&format!("SELECT count(*) FROM {}", local.table()), &[])
            .await?
            .get(0);
        let expected = outcome.dir("pull").created as i64;
        if rows != expected {
            return Err(format!("full pull: {rows} rows in Postgres, expected {expected}").into());
        }
    }
    Ok(PullPoint {
        people,
        target: local.target,
        outcome,
    })
}

/// Sorted Twenty ids of the pulled records (the Postgres key column holds the Twenty id).
pub async fn pulled_ids(local: &Local) -> Result<Vec<String>, BoxError> {
    let pg = env::admin().await?;
    Ok(pg
        .query(
            &format!("SELECT id FROM {} ORDER BY id", local.table()),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Sorted ids of the people in `sim` (for runs without a Postgres side to read them from).
pub fn twenty_ids(sim: &SimServer) -> Vec<String> {
    let mut ids: Vec<String> = sim
        .handle()
        .records("people")
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Scenario 2: an incremental pull after `ids` changed in Twenty.
#[derive(Debug, Clone)]
pub struct Incremental {
    /// Records changed in Twenty.
    pub changed: usize,
    /// The incremental pull.
    pub outcome: Outcome,
}

/// Changes the job title of each of `ids` in Twenty.
pub fn change_in_twenty(sim: &SimServer, ids: &[&String], label: &str) -> Result<(), BoxError> {
    let h = sim.handle();
    for id in ids {
        h.update_record("people", id, json!({ "jobTitle": format!("{label} {id}") }))
            .ok_or_else(|| format!("the simulator refused to update person {id}"))?;
    }
    Ok(())
}

/// Runs an incremental pull of `local` after `changed` records changed in Twenty (done by the
/// caller); checks that exactly those were updated.
pub async fn incremental_pull(
    sim: &SimServer,
    local: &Local,
    changed: usize,
) -> Result<Incremental, BoxError> {
    let outcome = child::spawn(&local.task(sim, RunMode::Pull, false)).await?;
    checked_incremental(local, changed, outcome)
}

/// An engine process that pulls into `local` each time it is asked ([`Resident::run`]), as a
/// polling engine does: the store is opened once, before its first pull.
pub async fn resident_puller(sim: &SimServer, local: &Local) -> Result<Resident, BoxError> {
    Resident::start(&local.task(sim, RunMode::Pull, false)).await
}

/// The incremental pull that ended with `outcome`, after `changed` records changed in Twenty;
/// an error unless exactly those were updated.
pub fn checked_incremental(
    local: &Local,
    changed: usize,
    outcome: Outcome,
) -> Result<Incremental, BoxError> {
    let c = outcome.dir("pull");
    if c.updated as usize != changed {
        return Err(format!(
            "incremental pull into {}: {changed} people changed in Twenty, {} updated locally \
             ({} seen, {} unchanged, {} failed)",
            local.target.name(),
            c.updated,
            c.seen,
            c.unchanged,
            c.failed
        )
        .into());
    }
    Ok(Incremental { changed, outcome })
}

/// Scenarios 4 and 5: a dry run then the real bidirectional sync.
#[derive(Debug, Clone)]
pub struct Bidi {
    /// People in Twenty.
    pub people: usize,
    /// Changed only locally.
    pub local_only: usize,
    /// Changed only in Twenty.
    pub twenty_only: usize,
    /// Changed on both sides (Twenty later: Twenty wins under `newest_wins`).
    pub both: usize,
    /// The dry run.
    pub dry: Outcome,
    /// The real run.
    pub real: Outcome,
    /// Records with the expected final value on both sides, out of all changed ones.
    pub verified: usize,
    /// Twenty records checked for changes in fields the sync must not write (all of them).
    pub checked_untouched: usize,
    /// Planned writes (entity, direction, action, keys, changed fields) in the dry run's plan
    /// and not the real run's, or the other way round: 0 when the dry run predicted exactly.
    pub plan_mismatches: usize,
}

/// Changes 1% locally and 1% in Twenty (0.1% on both, Twenty last), dry-runs a sync, runs it,
/// and checks every changed record on both sides.
pub async fn bidi(sim: &SimServer, people: usize, local: &Local) -> Result<Bidi, BoxError> {
    // Only people with an email: the seeded 5% without one cannot be pushed back after a local
    // edit (the mapping's email rule rejects the empty value pulled from Twenty; see RESULTS.md).
    let pg = env::admin().await?;
    let ids: Vec<String> = pg
        .query(
            &format!(
                "SELECT id FROM {} WHERE email <> '' ORDER BY id",
                local.table()
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Local: i % 100 == 0 (1%). Twenty: i % 100 == 50 but not i % 1000 == 50, plus i % 1000 == 0
    // (the conflicting 0.1%, also changed locally): 1% in all.
    let local_ids: Vec<&String> = ids.iter().step_by(100).collect();
    let both: Vec<&String> = ids.iter().step_by(1000).collect();
    let twenty_only: Vec<&String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 100 == 50 && i % 1000 != 50)
        .map(|(_, id)| id)
        .collect();
    let local_list: Vec<String> = local_ids.iter().map(|s| (*s).clone()).collect();
    pg.execute(
        &format!(
            "UPDATE {} SET title = 'Local title ' || id, updated_at = now() WHERE id = ANY($1)",
            local.table()
        ),
        &[&local_list],
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    change_in_twenty(sim, &twenty_only, "Twenty title")?;
    change_in_twenty(sim, &both, "Twenty title")?;

    dump_twenty(sim, "twenty-before-sync")?;
    // Fields the sync must leave alone in Twenty: the mapping's pull-only phones (a push once
    // sent them cleared), and every unmapped field.
    let untouched = |r: &Value| {
        let mut r = r.clone();
        if let Value::Object(o) = &mut r {
            for k in [
                "updatedAt",
                "jobTitle",
                "emails",
                "name",
                "linkedinLink",
                "searchVector",
                "updatedBy",
            ] {
                o.remove(k);
            }
        }
        r
    };
    let before: std::collections::HashMap<String, Value> = sim
        .handle()
        .records("people")
        .iter()
        .filter_map(|r| Some((r["id"].as_str()?.to_owned(), untouched(r))))
        .collect();
    let plan = |dry_run| Task {
        keep_plan: true,
        ..local.task(sim, RunMode::Sync, dry_run)
    };
    let dry = child::spawn(&plan(true)).await?;
    let real = child::spawn(&plan(false)).await?;
    dump_twenty(sim, "twenty-after-sync")?;
    let damaged: Vec<String> = sim
        .handle()
        .records("people")
        .iter()
        .filter_map(|r| {
            let id = r["id"].as_str()?;
            (before.get(id) != Some(&untouched(r))).then(|| id.to_owned())
        })
        .collect();
    if !damaged.is_empty() {
        return Err(format!(
            "bidirectional sync: {} Twenty records changed in fields the sync must not write              (pull-only or unmapped), e.g. {:?}",
            damaged.len(),
            &damaged[..damaged.len().min(3)]
        )
        .into());
    }
    let plan_mismatches = mismatches(&dry.writes, &real.writes);
    eprintln!(
        "          dry run counts {:?}\n          real run counts {:?}",
        dry.counts, real.counts
    );
    if real.failures > 0 {
        return Err(format!(
            "the sync failed {} records, e.g. {:?}",
            real.failures, real.failure_samples
        )
        .into());
    }

    // Check both sides record by record.
    let h = sim.handle();
    let title_in_twenty = |id: &str| -> Option<String> {
        h.record("people", id)
            .and_then(|r| r["jobTitle"].as_str().map(str::to_owned))
    };
    let local_titles: std::collections::HashMap<String, Option<String>> = pg
        .query(
            &format!("SELECT id, title FROM {} WHERE title LIKE 'Local title %' OR title LIKE 'Twenty title %'", local.table()),
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let both_set: std::collections::HashSet<&String> = both.iter().copied().collect();
    let mut verified = 0;
    let mut wrong = Vec::new();
    for id in local_ids.iter().filter(|id| !both_set.contains(*id)) {
        let want = format!("Local title {id}");
        let l = local_titles.get(*id).cloned().flatten();
        if title_in_twenty(id).as_deref() == Some(&want) && l.as_deref() == Some(&want) {
            verified += 1;
        } else if wrong.len() < 3 {
            wrong.push(format!("local change of {id} did not reach Twenty"));
        }
    }
    for id in twenty_only.iter().chain(both.iter()) {
        let want = format!("Twenty title {id}");
        let l = local_titles.get(*id).cloned().flatten();
        if title_in_twenty(id).as_deref() == Some(&want) && l.as_deref() == Some(&want) {
            verified += 1;
        } else if wrong.len() < 3 {
            wrong.push(format!(
                "Twenty change of {id} is not on both sides (local {l:?})"
            ));
        }
    }
    let expected = local_ids.len() - both.len() + twenty_only.len() + both.len();
    if verified != expected {
        return Err(format!(
            "bidirectional sync: {verified} of {expected} changed records have the expected value \
             on both sides; e.g. {wrong:?}"
        )
        .into());
    }
    Ok(Bidi {
        people,
        local_only: local_ids.len() - both.len(),
        twenty_only: twenty_only.len(),
        both: both.len(),
        checked_untouched: before.len(),
        plan_mismatches,
        dry,
        real,
        verified,
    })
}

/// Writes in one plan and not the other (as multisets), both ways.
fn mismatches(a: &[PlannedWrite], b: &[PlannedWrite]) -> usize {
    let mut count: std::collections::HashMap<&PlannedWrite, i64> = Default::default();
    for w in a {
        *count.entry(w).or_default() += 1;
    }
    for w in b {
        *count.entry(w).or_default() -= 1;
    }
    count.values().map(|n| n.unsigned_abs() as usize).sum()
}

/// With `BENCH_PLAN_OUT=<dir>` (see the child), writes the simulator's people to
/// `<dir>/<name>.jsonl`, for explaining a difference between a dry run's plan and the real run's.
fn dump_twenty(sim: &SimServer, name: &str) -> Result<(), BoxError> {
    let Some(dir) = std::env::var_os("BENCH_PLAN_OUT") else {
        return Ok(());
    };
    let path = std::path::Path::new(&dir).join(format!("{name}.jsonl"));
    std::fs::create_dir_all(&dir)?;
    let mut out = String::new();
    for r in sim.handle().records("people") {
        out.push_str(&serde_json::to_string(&r)?);
        out.push('\n');
    }
    std::fs::write(&path, out).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}
