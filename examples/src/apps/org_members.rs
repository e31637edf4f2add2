//! `org-members`: organisations and members from a JSON or JSON Lines file synced to Twenty
//! companies and people by a mapping file alone (no code changes: edit
//! `examples/apps/org-members/mapping.json`).
//!
//! How it runs:
//! 1. the mapping is compiled (every rule checked before any record flows) and the input file
//!    read: JSON (`{"<entity>": [records...]}`) or JSON Lines (one record per line with an
//!    `"entity"` key naming the mapping entity);
//! 2. the records go into the local source: a [`FileStore`] directory with `--state-dir` (only
//!    records that changed since the last run become changes, and the ID map and audit log
//!    persist), or a fresh in-memory source (`--state-dir` absent; existing Twenty records are
//!    then found by their match keys every time);
//! 3. the custom fields of the mapping are created (`--dry-run`: only checked);
//! 4. a dry run of the push computes the plan and prints it; without `--dry-run` the real push
//!    follows, and its plan is compared with the prediction;
//! 5. members are linked to the company of their organisation (`org_id` by default), a step
//!    planned in the dry run too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use twenty_client::{Client, Filter};
use twenty_mapping::CompiledMapping;
use twenty_sync_core::engine::{EntityMapper, Plan, PlannedAction};
use twenty_sync_core::file::FileStore;
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    PlanMapper, RunMode, RunOptions, RunReport, SourceOfTruth, StateStore, StateStoreExt,
    SyncEngine,
};

use super::common::{
    AppError, AppResult, Context, TwentyArgs, describe_ensure, ensure_fields, load_mapping,
    mapping_field_specs, shipped,
};

/// Command line of the `org-members` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "org-members",
    about = "Sync organisations to Twenty companies and members to people from a JSON/JSONL file, driven by a mapping file"
)]
pub struct Cli {
    /// How to reach Twenty.
    #[command(flatten)]
    pub twenty: TwentyArgs,
    /// The mapping file (JSON or TOML).
    #[arg(long, default_value_os_t = shipped("org-members/mapping.json"))]
    pub mapping: PathBuf,
    /// The input: `.json` (`{"organisations": [...], "members": [...]}`) or `.jsonl`
    /// (one record per line with an `"entity"` key).
    #[arg(long, default_value_os_t = shipped("org-members/members.jsonl"))]
    pub input: PathBuf,
    /// Keep the local copy, ID map and audit log in this directory (a file store). Without it,
    /// everything is in memory and existing Twenty records are matched by natural key each run.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Print the plan and stop: nothing is written to Twenty and the sync state does not move
    /// (with `--state-dir` the local copy of the input is refreshed; the next real run pushes the
    /// same changes).
    #[arg(long)]
    pub dry_run: bool,
    /// The entity holding organisations (companies).
    #[arg(long, default_value = "organisations")]
    pub org_entity: String,
    /// The entity holding members (people).
    #[arg(long, default_value = "members")]
    pub member_entity: String,
    /// The member field naming the organisation's local key (links people to companies).
    #[arg(long, default_value = "org_id")]
    pub member_org_field: String,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One input record that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputProblem {
    /// Line (JSONL, 1-based) or index (JSON, 0-based) of the record.
    pub position: String,
    /// Why.
    pub reason: String,
}

/// A member to link to its organisation's company.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PlannedLink {
    /// The member's local key.
    pub member: String,
    /// The organisation's local key.
    pub organisation: String,
    /// The person id, when known before the run.
    pub person_id: Option<String>,
    /// The company id, when known before the run.
    pub company_id: Option<String>,
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Records of the input that were not used.
    pub input_problems: Vec<InputProblem>,
    /// Custom fields created (or, in a dry run, missing).
    pub fields: Vec<String>,
    /// The predicted plan (the dry run's).
    pub predicted: Plan,
    /// The dry run's report.
    pub dry_run_report: RunReport,
    /// The real run's report (absent in a dry run).
    pub report: Option<RunReport>,
    /// The real run's plan (absent in a dry run).
    pub executed: Option<Plan>,
    /// Member → company links planned.
    pub links_planned: Vec<PlannedLink>,
    /// Member → company links written.
    pub links_made: usize,
}

impl Outcome {
    /// Whether the real run did exactly what the dry run predicted (`None` in a dry run).
    pub fn prediction_held(&self) -> Option<bool> {
        self.executed
            .as_ref()
            .map(|p| p.sorted() == self.predicted.sorted())
    }
}

/// Input records per entity name.
pub type RecordsByEntity = BTreeMap<String, Vec<Value>>;

/// Reads the input file into records per entity; bad records are listed, not fatal.
pub fn read_input(
    path: &Path,
    entities: &[&str],
) -> AppResult<(RecordsByEntity, Vec<InputProblem>)> {
    let text = std::fs::read_to_string(path)
        .context(format!("reading the input file {}", path.display()))?;
    let mut out = RecordsByEntity::new();
    let mut problems = Vec::new();
    let jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    if jsonl {
        for (i, line) in text.lines().enumerate() {
            let position = format!("{}:{}", path.display(), i + 1);
            if line.trim().is_empty() {
                continue;
            }
            let mut record: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(InputProblem {
                        position,
                        reason: format!("not JSON: {e}"),
                    });
                    continue;
                }
            };
            let entity = record
                .as_object_mut()
                .and_then(|m| m.remove("entity"))
                .and_then(|e| e.as_str().map(str::to_owned));
            match entity {
                Some(e) if entities.contains(&e.as_str()) => out.entry(e).or_default().push(record),
                Some(e) => problems.push(InputProblem {
                    position,
                    reason: format!(
                        "entity `{e}` is not in the mapping (expected one of {})",
                        entities.join(", ")
                    ),
                }),
                None => problems.push(InputProblem {
                    position,
                    reason: "the record has no \"entity\" key naming its mapping entity".into(),
                }),
            }
        }
    } else {
        let doc: Value = serde_json::from_str(&text)
            .context(format!("parsing the input file {} as JSON", path.display()))?;
        let obj = doc.as_object().ok_or_else(|| {
            AppError::msg(format!(
                "{}: expected an object with one array per entity, e.g. {{\"{}\": [...]}}",
                path.display(),
                entities.first().copied().unwrap_or("organisations")
            ))
        })?;
        for (key, value) in obj {
            if !entities.contains(&key.as_str()) {
                problems.push(InputProblem {
                    position: format!("{}: key `{key}`", path.display()),
                    reason: format!(
                        "not an entity of the mapping (expected one of {})",
                        entities.join(", ")
                    ),
                });
                continue;
            }
            match value {
                Value::Array(items) => out.entry(key.clone()).or_default().extend(items.clone()),
                _ => problems.push(InputProblem {
                    position: format!("{}: key `{key}`", path.display()),
                    reason: "expected an array of records".into(),
                }),
            }
        }
    }
    Ok((out, problems))
}

enum Store {
    File(FileStore),
    Memory(MemorySource, MemoryState),
}

impl Store {
    fn source(&self) -> Arc<dyn SourceOfTruth> {
        match self {
            Store::File(f) => Arc::new(f.clone()),
            Store::Memory(s, _) => Arc::new(s.clone()),
        }
    }
    fn state(&self) -> Arc<dyn StateStore> {
        match self {
            Store::File(f) => Arc::new(f.clone()),
            Store::Memory(_, s) => Arc::new(s.clone()),
        }
    }
    /// Puts `records` in the source; with a file store only the changed ones (so a re-run with
    /// the same input pushes nothing).
    fn load(&self, entity: &str, records: &[(String, Value)]) -> AppResult<usize> {
        match self {
            Store::Memory(s, _) => {
                for (k, v) in records {
                    s.upsert(entity, k, v.clone());
                }
                Ok(records.len())
            }
            Store::File(f) => {
                let current: HashMap<String, Value> = f
                    .local_records(entity)
                    .context(format!("reading the local copy of {entity}"))?
                    .into_iter()
                    .map(|r| (r.key, r.data))
                    .collect();
                let mut n = 0;
                for (k, v) in records {
                    if current.get(k) != Some(v) {
                        f.upsert(entity, k, v.clone())
                            .context(format!("storing {entity} record {k} locally"))?;
                        n += 1;
                    }
                }
                Ok(n)
            }
        }
    }
}

/// Runs the app over `client`.
pub async fn run(cli: &Cli, client: Client) -> AppResult<Outcome> {
    let mapping: Arc<CompiledMapping> = load_mapping(&cli.mapping)?;
    let mappers = PlanMapper::all(&mapping);
    let names: Vec<&str> = mappers.iter().map(|m| m.name()).collect();
    let (input, mut input_problems) = read_input(&cli.input, &names)?;

    let store = match &cli.state_dir {
        Some(dir) => Store::File(
            FileStore::open(dir)
                .context(format!("opening the state directory {}", dir.display()))?,
        ),
        None => Store::Memory(MemorySource::new(), MemoryState::new()),
    };
    let mut keyed: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for m in &mappers {
        let mut seen = HashMap::new();
        for (i, record) in input.get(m.name()).into_iter().flatten().enumerate() {
            let Some(key) = m.local_key_of(record) else {
                input_problems.push(InputProblem {
                    position: format!("{} #{i}", m.name()),
                    reason: "the record has no local key (see `local_key` in the mapping)".into(),
                });
                continue;
            };
            if let Some(first) = seen.insert(key.clone(), i) {
                input_problems.push(InputProblem {
                    position: format!("{} #{i}", m.name()),
                    reason: format!(
                        "same local key `{key}` as record #{first}; the later one is used"
                    ),
                });
            }
            keyed
                .entry(m.name().to_owned())
                .or_default()
                .push((key, record.clone()));
        }
    }
    for (entity, records) in &keyed {
        store.load(entity, records)?;
    }

    let report = ensure_fields(&client, &mapping_field_specs(&mapping), cli.dry_run).await?;
    let fields: Vec<String> = report
        .created
        .iter()
        .chain(report.missing.iter())
        .map(|f| format!("{}.{}", f.object, f.field))
        .collect();
    if !cli.json {
        print!("custom fields:\n{}", describe_ensure(&report));
    }

    let mut builder = SyncEngine::builder(client.clone(), store.source(), store.state());
    for m in &mappers {
        builder = builder.entity(Arc::new(m.clone()));
    }
    let engine = builder.build().context("building the sync engine")?;

    let preview = engine
        .run(RunMode::Push, RunOptions::new().dry_run(true))
        .await
        .context("planning the push (dry run)")?;
    let rejected = failed_keys(&preview.report, &cli.member_entity);
    let links_before = plan_links(cli, &keyed, &rejected, &*store.state(), &client).await?;
    if !cli.json {
        println!("\n== plan ==");
        print_plan(&preview.plan, &preview.report);
        println!(
            "  link {} member(s) to their organisation's company",
            links_before.len()
        );
    }
    let mut outcome = Outcome {
        input_problems,
        fields,
        predicted: preview.plan,
        dry_run_report: preview.report,
        report: None,
        executed: None,
        links_planned: links_before,
        links_made: 0,
    };
    if cli.dry_run {
        return Ok(outcome);
    }
    let real = engine
        .run(RunMode::Push, RunOptions::new().keep_plan(true))
        .await
        .context("pushing to Twenty")?;
    let rejected = failed_keys(&real.report, &cli.member_entity);
    let links = plan_links(cli, &keyed, &rejected, &*store.state(), &client).await?;
    for link in &links {
        let (Some(person), Some(company)) = (&link.person_id, &link.company_id) else {
            continue;
        };
        client
            .people()
            .update(person, json!({ "companyId": company }))
            .send()
            .await
            .context(format!(
                "linking member {} to the company of organisation {}",
                link.member, link.organisation
            ))?;
        outcome.links_made += 1;
    }
    if !cli.json {
        println!("\n== run ==\n{}", real.report.summary().trim_end());
        println!("  linked {} member(s) to companies", outcome.links_made);
    }
    outcome.report = Some(real.report);
    outcome.executed = Some(real.plan);
    Ok(outcome)
}

fn print_plan(plan: &Plan, report: &RunReport) {
    for action in [
        PlannedAction::Create,
        PlannedAction::Adopt,
        PlannedAction::Update,
        PlannedAction::Delete,
    ] {
        for w in plan.writes.iter().filter(|w| w.action == action) {
            println!(
                "  {:?} {} {}{} {}",
                w.action,
                w.entity,
                w.local_key,
                w.twenty_id
                    .as_deref()
                    .map(|i| format!(" (id {i})"))
                    .unwrap_or_default(),
                w.changed_fields.join(",")
            );
        }
    }
    for f in &report.failures {
        println!(
            "  REJECTED {} {}{}: {}",
            f.entity,
            f.local_key.as_deref().unwrap_or("-"),
            f.field
                .as_deref()
                .map(|x| format!(" field {x}"))
                .unwrap_or_default(),
            f.reason
        );
    }
}

fn failed_keys(report: &RunReport, entity: &str) -> Vec<String> {
    report
        .failures
        .iter()
        .filter(|f| f.entity == entity)
        .filter_map(|f| f.local_key.clone())
        .collect()
}

/// Members whose person is not linked to their organisation's company yet (ids as known now).
async fn plan_links(
    cli: &Cli,
    keyed: &BTreeMap<String, Vec<(String, Value)>>,
    rejected: &[String],
    state: &dyn StateStore,
    client: &Client,
) -> AppResult<Vec<PlannedLink>> {
    let orgs: Vec<&String> = keyed
        .get(&cli.org_entity)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    let mut wanted = Vec::new();
    for (key, record) in keyed.get(&cli.member_entity).into_iter().flatten() {
        let org = match &record[&cli.member_org_field] {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if !orgs.contains(&&org) || rejected.contains(key) {
            continue;
        }
        let person = state
            .record(&cli.member_entity, key)
            .await
            .context("reading the ID map")?
            .map(|s| s.twenty_id);
        let company = state
            .record(&cli.org_entity, &org)
            .await
            .context("reading the ID map")?
            .map(|s| s.twenty_id);
        wanted.push(PlannedLink {
            member: key.clone(),
            organisation: org,
            person_id: person,
            company_id: company,
        });
    }
    // Drop links already in place.
    let ids: Vec<String> = wanted.iter().filter_map(|l| l.person_id.clone()).collect();
    let mut current: HashMap<String, Option<String>> = HashMap::new();
    for chunk in ids.chunks(50) {
        let people: Vec<twenty_client::model::Person> = client
            .people()
            .list()
            .filter(Filter::field("id").in_(chunk.iter().map(String::as_str)))
            .stream()
            .try_collect()
            .await
            .context("reading the members' people in Twenty")?;
        for p in people {
            if let Some(id) = p.id {
                current.insert(id, p.company_id);
            }
        }
    }
    wanted.retain(|l| match (&l.person_id, &l.company_id) {
        (Some(p), Some(c)) => current.get(p).and_then(|x| x.as_ref()) != Some(c),
        _ => true,
    });
    Ok(wanted)
}

/// Fails with the input problems when there are any and `strict` is set (used by the binary's
/// exit code: problems with the input are a partial failure).
pub fn problems_summary(outcome: &Outcome) -> Option<String> {
    if outcome.input_problems.is_empty() {
        return None;
    }
    Some(
        outcome
            .input_problems
            .iter()
            .map(|p| format!("  {}: {}", p.position, p.reason))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}
