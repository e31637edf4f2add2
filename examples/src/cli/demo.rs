//! `twenty-sync demo`: the main job on the embedded default, with no account and no setup.
//!
//! 1. starts the Twenty simulator in-process with seeded, messy people;
//! 2. runs `setup` (the demo mapping declares one custom SELECT field) and `verify`;
//! 3. pulls the people into a local file store through `examples/quickstart/contacts.toml`
//!    (names title-cased and split, emails normalised, phones in E.164);
//! 4. edits a few local contacts, adds two (one already exists in Twenty by email: it is
//!    adopted, not duplicated) and deletes one, then pushes, with a dry run first;
//! 5. changes one contact on both sides and runs `sync`: the conflict is resolved by the
//!    mapping's policy (`newest_wins`) and written to the audit log;
//! 6. prints `status`. The configuration it used is left in the data directory, so
//!    `twenty-sync -c <dir>/twenty-sync.toml status` and `... audit` work afterwards.
//!
//! Every step goes through the same code as the real commands; only the Twenty URL (the
//! simulator) and the secret provider (the simulator's key in memory) differ.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use twenty_sim::{RateLimitConfig, SimConfig, SimServer};
use twenty_sync_core::engine::EntityMapper;
use twenty_sync_core::file::FileStore;
use twenty_sync_core::secret::InMemorySecrets;
use twenty_sync_core::{AuditQuery, PlanMapper, RunMode, SecretProvider, StateStore};

use super::ExitStatus;
use super::app::{self, CliError, Stores};
use super::commands::{self, RunRequest};
use super::output::{self, Output};
use crate::config::Config;

/// The demo mapping, embedded so the demo runs from any directory.
pub const DEMO_MAPPING: &str = include_str!("../../quickstart/contacts.toml");

const DEMO_KEY: &str = "twenty-sync-demo-key";
const MARKER: &str = ".twenty-sync-demo";

/// Options of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many messy people the simulator seeds.
    #[arg(long, default_value_t = 200)]
    pub people: usize,
    /// Turn off the simulated rate limit (by default Twenty's 100-request budget applies, on a
    /// 10 s window, and the client paces itself to it).
    #[arg(long)]
    pub no_rate_limit: bool,
}

fn fail(what: &str) -> impl Fn(twenty_sync_core::StoreError) -> CliError + '_ {
    move |e| CliError::failed(format!("demo: {what}: {e}"))
}

/// Prepares `dir`: refuses a non-empty directory the demo did not create, else empties it.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !dir.join(MARKER).exists() {
            return Err(CliError::failed(format!(
                "demo: {} exists and was not made by the demo; choose another --data-dir (the demo empties it)",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| CliError::failed(format!("demo: cannot empty {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(dir.join(MARKER), "made by `twenty-sync demo`\n"))
        .map_err(|e| CliError::failed(format!("demo: cannot create {}: {e}", dir.display())))
}

/// Runs the demo; `data_dir` defaults to `<tmp>/twenty-sync-demo`.
pub async fn run(
    args: &DemoArgs,
    data_dir: Option<PathBuf>,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let dir = data_dir.unwrap_or_else(|| std::env::temp_dir().join("twenty-sync-demo"));
    prepare_dir(&dir)?;
    let dir = dir.canonicalize().unwrap_or(dir);

    // 1. The simulator: Twenty's rate-limit shape (100 requests per window) with the window
    //    shortened to 10 s, so pacing shows without waiting minutes.
    let window = Duration::from_secs(10);
    let sim = SimServer::start(
        SimConfig::new(DEMO_KEY)
            .seed_people(args.people)
            .rate_limit((!args.no_rate_limit).then_some(RateLimitConfig {
                requests: 100,
                window,
            })),
    )
    .await
    .map_err(|e| CliError::failed(format!("demo: cannot start the Twenty simulator: {e}")))?;
    let result = steps(args, &dir, &sim, out).await;
    sim.shutdown().await;
    result
}

async fn steps(
    args: &DemoArgs,
    dir: &Path,
    sim: &SimServer,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    out.line(format!(
        "== Twenty simulator on {} with {} seeded people (messy on purpose)",
        sim.base_url(),
        args.people
    ));
    let mapping_path = dir.join("contacts.toml");
    std::fs::write(&mapping_path, DEMO_MAPPING)
        .map_err(|e| CliError::failed(format!("demo: cannot write the mapping: {e}")))?;
    let config_text = format!(
        "# Written by `twenty-sync demo`. The simulator is gone once the demo ends, but\n\
         # `twenty-sync -c {cfg} status` and `... audit` still read the local store.\n\
         mapping = \"contacts.toml\"\n\n\
         [twenty]\nurl = \"{url}\"\npage_size = 200\n\n\
         [twenty.rate_limit]\nenabled = {rl}\nrequests = 100\nwindow_secs = 10\n\n\
         [sink]\nkind = \"file\"\n\n[sink.file]\ndir = \"data\"\n",
        cfg = dir.join("twenty-sync.toml").display(),
        url = sim.base_url(),
        rl = !args.no_rate_limit,
    );
    let config_path = dir.join("twenty-sync.toml");
    std::fs::write(&config_path, &config_text)
        .map_err(|e| CliError::failed(format!("demo: cannot write the configuration: {e}")))?;
    let cfg = Config::load(Some(&config_path), &[])?;
    // The simulator's key, held in memory: the demo never reads TWENTY_API_KEY.
    let secrets: Arc<dyn SecretProvider> =
        Arc::new(InMemorySecrets::new().with_secret(cfg.twenty.api_key_secret.clone(), DEMO_KEY));
    let client = app::client(&cfg, secrets.as_ref()).await?;

    // 2. setup + verify.
    out.line("\n== twenty-sync setup (creates the custom field the mapping needs)");
    let s = commands::setup(&cfg, &client, None, false, out).await?;
    if s != ExitStatus::Success {
        return Ok(s);
    }
    out.line("\n== twenty-sync verify");
    let s = commands::verify(&cfg, &client, None, out).await?;
    if s != ExitStatus::Success {
        return Ok(s);
    }

    // 3. pull.
    let mapping = app::mapping(&cfg)?;
    let store = FileStore::open(cfg.data_dir()).map_err(fail("opening the file store"))?;
    let stores = Stores::file(store.clone());
    let progress = out.progress();
    let engine = app::engine(
        &cfg,
        client,
        &mapping,
        &stores,
        Arc::clone(&secrets),
        Some(progress.sink()),
    )?;
    let checker = PlanMapper::new(Arc::clone(&mapping), "contacts")
        .ok_or_else(|| CliError::failed("demo: the mapping has no `contacts` entity"))?;
    out.line(format!(
        "\n== twenty-sync pull (into the file store in {})",
        cfg.data_dir().display()
    ));
    let real = RunRequest::default();
    let dry = RunRequest {
        dry_run: true,
        ..Default::default()
    };
    if commands::run_once(&engine, RunMode::Pull, &real, out, Some(&progress)).await?
        == ExitStatus::Failure
    {
        return Ok(ExitStatus::Failure);
    }
    let local = store
        .local_records("contacts")
        .map_err(fail("reading local contacts"))?;
    out.line(format!(
        "{} contacts in the local store; one of them: {}",
        local.len(),
        local
            .first()
            .map(|r| r.data.to_string())
            .unwrap_or_default()
    ));

    // 4. Local edits: retitle three (and mark them customers), add three, delete one.
    out.line(
        "\n== local edits: 3 retitled, 3 added (one already in Twenty, one without an email), 1 deleted",
    );
    let clean: Vec<_> = local
        .iter()
        .filter(|r| checker.to_twenty(&r.data).errors.is_empty())
        .collect();
    for record in clean.iter().take(3) {
        let mut data = record.data.clone();
        data["title"] = json!("vp of engineering");
        data["stage"] = json!("client");
        store
            .upsert("contacts", &record.key, data)
            .map_err(fail("editing a contact"))?;
    }
    // Someone adds Ada in Twenty after our pull; a local contact with her email (in another
    // case) must be adopted on push, not created twice.
    sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Ada", "lastName": "Lovelace"},
               "emails": {"primaryEmail": "ada.lovelace@example.com", "additionalEmails": []}}),
    );
    store
        .upsert(
            "contacts",
            "local-1",
            json!({"id": "local-1", "full_name": "grace   HOPPER", "email": "Grace.Hopper@Example.com",
                   "phone": "+1 415 555 2671", "title": "rear admiral", "stage": "partner"}),
        )
        .map_err(fail("adding a contact"))?;
    store
        .upsert(
            "contacts",
            "local-2",
            json!({"id": "local-2", "full_name": "ada lovelace", "email": "ADA.Lovelace@Example.com",
                   "stage": "prospect"}),
        )
        .map_err(fail("adding a contact"))?;
    // No email: the mapping requires one, so this record fails; the run goes on and the report
    // lists it (a real `push` would exit with 3, partial failure).
    store
        .upsert(
            "contacts",
            "local-3",
            json!({"id": "local-3", "full_name": "nobody without email"}),
        )
        .map_err(fail("adding a contact"))?;
    if let Some(gone) = clean.get(10) {
        store
            .delete("contacts", &gone.key)
            .map_err(fail("deleting a contact"))?;
    }
    out.line("\n== twenty-sync push --dry-run");
    commands::run_once(&engine, RunMode::Push, &dry, out, Some(&progress)).await?;
    out.line("\n== twenty-sync push");
    if commands::run_once(&engine, RunMode::Push, &real, out, Some(&progress)).await?
        == ExitStatus::Failure
    {
        return Ok(ExitStatus::Failure);
    }

    // 5. The same contact changed on both sides, then a bidirectional sync. (Seeded data is
    //    messy on purpose: pick a contact whose every field maps cleanly.)
    let contested = clean.get(11).copied().ok_or_else(|| {
        CliError::failed(
            "demo: no cleanly mapped contact among the seeded people; run with more --people",
        )
    })?;
    let state = stores
        .state
        .records("contacts", std::slice::from_ref(&contested.key))
        .await
        .map_err(fail("reading the ID map"))?;
    let twenty_id = state
        .first()
        .map(|s| s.twenty_id.clone())
        .ok_or_else(|| CliError::failed("demo: the pulled contact has no ID map entry"))?;
    let mut data = contested.data.clone();
    data["title"] = json!("Head of Sales");
    store
        .upsert("contacts", &contested.key, data)
        .map_err(fail("editing a contact"))?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    sim.handle().update_record(
        "people",
        &twenty_id,
        json!({"jobTitle": "Chief Revenue Officer"}),
    );
    out.line(format!(
        "\n== conflict: contact {} retitled locally (\"Head of Sales\"), then in Twenty (\"Chief Revenue Officer\")",
        contested.key
    ));
    out.line("== twenty-sync sync");
    if commands::run_once(&engine, RunMode::Sync, &real, out, Some(&progress)).await?
        == ExitStatus::Failure
    {
        return Ok(ExitStatus::Failure);
    }
    let runs = stores
        .state
        .runs(1)
        .await
        .map_err(fail("reading the run history"))?;
    if let Some(last) = runs.first() {
        let entries = stores
            .state
            .audit(&AuditQuery {
                run_id: Some(last.run_id.clone()),
                key: Some(contested.key.clone()),
                ..Default::default()
            })
            .await
            .map_err(fail("reading the audit log"))?;
        out.line(format!(
            "audit of {} in that run (twenty-sync audit --run {} --key {}):",
            contested.key, last.run_id, contested.key
        ));
        for e in &entries {
            out.line(format!("  {}", output::audit_line(e)));
        }
    }
    let now = store
        .local_records("contacts")
        .map_err(fail("reading local contacts"))?;
    if let Some(r) = now.iter().find(|r| r.key == contested.key) {
        out.line(format!(
            "local title after sync: {} (newest_wins: the later edit, made in Twenty, wins)",
            r.data["title"]
        ));
    }

    // 6. status.
    out.line("\n== twenty-sync status");
    commands::status(&stores.state, 10, out).await?;
    out.line(format!(
        "\nDone. The demo's configuration and store are in {}:\n  cargo run -p examples --bin twenty-sync -- -c {} audit --since 1h",
        dir.display(),
        cfg.file().map(|f| f.display().to_string()).unwrap_or_default()
    ));
    out.json(&json!({"command": "demo", "status": "succeeded", "data_dir": dir}));
    Ok(ExitStatus::Success)
}
