//! `warehouse-contacts`: contacts and businesses kept in a warehouse (the source of truth:
//! PostgreSQL through `sink-postgres`, or BigQuery through `sink-bigquery` with the `bigquery`
//! feature) mirrored into Twenty people and companies, with edits made in Twenty flowing back.
//!
//! - The mapping (`examples/apps/warehouse/mapping.toml`) declares custom fields for category
//!   codes (`categoryCode`, `subcategoryCode`, `relationshipCategory`) and JSON context kept as
//!   JSON text (`llmContext`, `communicationStats`, `syncMetadata`); `setup` creates them with the
//!   metadata API (`ensure_fields`, idempotent) and creates the warehouse tables and the sync
//!   state schema.
//! - `sync` runs both directions with the mapping's conflict policy (`newest_wins`): local rows
//!   changed since the last run are pushed, records changed in Twenty are pulled into the tables;
//!   then each pushed contact is linked to the company of its business
//!   (`contact_business_field`). `--dry-run` prints the plan and writes nothing.
//! - With Postgres the sync state lives in the same database (`postgres.state_schema`), so a
//!   pulled batch and its state commit in one transaction. With BigQuery the state is a file
//!   store (`state_dir`).
//! - The connection string is read from `DATABASE_URL` and is never printed (sink errors
//!   redact it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use twenty_client::{Client, Filter};
use twenty_sync_core::engine::{EntityMapper, Plan, PlannedAction};
use twenty_sync_core::{
    PlanMapper, RunMode, RunOptions, RunReport, SourceOfTruth, StateStore, SyncDirection,
    SyncEngine,
};

use twenty_mapping::{FnTransform, TransformError, TransformRegistry, ValueKind, canonical_json};

use super::common::{
    AppError, AppResult, Context, TwentyArgs, describe_ensure, ensure_fields, load_mapping_with,
    mapping_field_specs, shipped,
};

/// Which warehouse holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// PostgreSQL (`sink-postgres`, feature `postgres`).
    Postgres,
    /// BigQuery (`sink-bigquery`, feature `bigquery`).
    Bigquery,
}

/// The app's configuration file (TOML). See `examples/apps/warehouse/warehouse.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// The mapping file, relative to the config file.
    pub mapping: PathBuf,
    /// Which warehouse.
    pub source: SourceKind,
    /// The contact field holding the key of the contact's business (links people to companies).
    #[serde(default)]
    pub contact_business_field: Option<String>,
    /// Directory of the sync state when the source is BigQuery.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// `sink-postgres` settings (a `SinkConfig`).
    #[serde(default)]
    pub postgres: Option<toml::Value>,
    /// `sink-bigquery` settings (a `BigQueryConfig`).
    #[serde(default)]
    pub bigquery: Option<toml::Value>,
    /// BigQuery credentials: `mode = "application_default" | "key_file" | "metadata_server"`,
    /// `key_file = "..."`.
    #[serde(default)]
    pub bigquery_auth: Option<toml::Value>,
}

impl WarehouseConfig {
    /// Reads the config; relative paths are resolved against the file's directory.
    pub fn load(path: &Path) -> AppResult<Self> {
        let text = std::fs::read_to_string(path)
            .context(format!("reading the warehouse config {}", path.display()))?;
        let mut c: WarehouseConfig = toml::from_str(&text)
            .context(format!("parsing the warehouse config {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if c.mapping.is_relative() {
            c.mapping = dir.join(&c.mapping);
        }
        if let Some(s) = &c.state_dir {
            if s.is_relative() {
                c.state_dir = Some(dir.join(s));
            }
        }
        Ok(c)
    }
}

/// The subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Create the custom fields in Twenty, the warehouse tables (when `create = true`) and the
    /// sync state. Idempotent.
    Setup,
    /// Both directions with the conflict policy, then link contacts to their companies.
    Sync,
    /// Warehouse → Twenty only.
    Push,
    /// Twenty → warehouse only.
    Pull,
    /// With `--sim`: setup, sample rows into the warehouse tables, sync, an edit in Twenty,
    /// sync again, and the edited row as read back from the warehouse.
    Demo,
}

/// Command line of the `warehouse-contacts` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "warehouse-contacts",
    about = "Mirror warehouse contacts and businesses (Postgres or BigQuery) into Twenty people and companies, both ways"
)]
pub struct Cli {
    /// How to reach Twenty.
    #[command(flatten)]
    pub twenty: TwentyArgs,
    /// The config file.
    #[arg(long, default_value_os_t = shipped("warehouse/warehouse.toml"))]
    pub config: PathBuf,
    /// Put the warehouse tables in this Postgres schema and the sync state in `<schema>_state`
    /// (overrides the config; handy for trying things out).
    #[arg(long)]
    pub schema: Option<String>,
    /// Print the plan: no record is written to Twenty or the warehouse and the sync state does
    /// not move (opening the warehouse still applies the sink's own setup: migrations and
    /// `create = true` tables).
    #[arg(long)]
    pub dry_run: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The warehouse as the engine sees it.
pub struct Warehouse {
    /// The source of truth.
    pub source: Arc<dyn SourceOfTruth>,
    /// The sync state.
    pub state: Arc<dyn StateStore>,
    /// The Postgres sink, when the source is Postgres (for the demo's sample rows).
    #[cfg(feature = "postgres")]
    pub postgres: Option<Arc<sink_postgres::PostgresSink>>,
    /// A description for the console (no secrets).
    pub describe: String,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warehouse")
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

/// Opens (and sets up) the warehouse of `config`; `schema` overrides the Postgres schemas;
/// `database_url` is the Postgres connection string (the binary reads `DATABASE_URL`).
pub async fn open_warehouse(
    config: &WarehouseConfig,
    schema: Option<&str>,
    database_url: Option<secrecy::SecretString>,
) -> AppResult<Warehouse> {
    match config.source {
        SourceKind::Postgres => open_postgres(config, schema, database_url).await,
        SourceKind::Bigquery => open_bigquery(config).await,
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    config: &WarehouseConfig,
    schema: Option<&str>,
    url: Option<secrecy::SecretString>,
) -> AppResult<Warehouse> {
    use sink_postgres::{PostgresSink, SinkConfig};
    let raw = config.postgres.clone().ok_or_else(|| {
        AppError::msg("source = \"postgres\" but the config has no [postgres] section")
    })?;
    let mut sink_config: SinkConfig = raw.try_into().context(
        "the [postgres] section of the warehouse config is not a valid sink-postgres config",
    )?;
    if let Some(s) = schema {
        sink_config.state_schema = format!("{s}_state");
        for e in &mut sink_config.entities {
            e.schema = s.to_owned();
        }
    }
    let url = url.ok_or_else(|| {
        AppError::msg(
            "the Postgres connection string is read from DATABASE_URL, which is not set \
             (e.g. DATABASE_URL=postgres://user:password@host:5432/db)",
        )
    })?;
    let describe = format!(
        "postgres tables {} (state in schema {})",
        sink_config
            .entities
            .iter()
            .map(|e| format!("{}.{}", e.schema, e.table))
            .collect::<Vec<_>>()
            .join(", "),
        sink_config.state_schema
    );
    let sink = PostgresSink::builder(sink_config)
        .connection_string(url)
        .max_connections(4)
        .build()
        .await
        .context("connecting to Postgres and setting up the tables and sync state")?;
    let sink = Arc::new(sink);
    Ok(Warehouse {
        source: sink.clone(),
        state: sink.clone(),
        postgres: Some(sink),
        describe,
    })
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _: &WarehouseConfig,
    _: Option<&str>,
    _: Option<secrecy::SecretString>,
) -> AppResult<Warehouse> {
    Err(AppError::msg(
        "source = \"postgres\" needs the `postgres` cargo feature of the examples crate",
    ))
}

/// The `[bigquery]` section as a `sink-bigquery` config, validated (names the entity and
/// column at fault).
#[cfg(feature = "bigquery")]
pub fn bigquery_config(config: &WarehouseConfig) -> AppResult<sink_bigquery::BigQueryConfig> {
    let raw = config.bigquery.clone().ok_or_else(|| {
        AppError::msg("source = \"bigquery\" but the config has no [bigquery] section")
    })?;
    let bq: sink_bigquery::BigQueryConfig = raw.try_into().context(
        "the [bigquery] section of the warehouse config is not a valid sink-bigquery config",
    )?;
    bq.validate()
        .context("the [bigquery] section of the warehouse config")?;
    Ok(bq)
}

#[cfg(feature = "bigquery")]
async fn open_bigquery(config: &WarehouseConfig) -> AppResult<Warehouse> {
    use sink_bigquery::{BigQuerySink, Credentials};
    use twenty_sync_core::file::FileStore;
    let bq = bigquery_config(config)?;
    let auth = config
        .bigquery_auth
        .clone()
        .unwrap_or(toml::Value::Table(Default::default()));
    let mode = auth
        .get("mode")
        .and_then(toml::Value::as_str)
        .unwrap_or("application_default");
    let credentials = match mode {
        "application_default" => Credentials::ApplicationDefault,
        "metadata_server" => Credentials::MetadataServer,
        "key_file" => {
            let path = auth
                .get("key_file")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| {
                    AppError::msg(
                        "[bigquery_auth] mode = \"key_file\" needs key_file = \"/path/key.json\"",
                    )
                })?;
            Credentials::ServiceAccountKeyFile(PathBuf::from(path))
        }
        other => {
            return Err(AppError::msg(format!(
                "[bigquery_auth] mode = {other:?}: expected application_default, key_file or metadata_server"
            )));
        }
    };
    let describe = format!("bigquery dataset {}.{}", bq.project_id, bq.dataset);
    let sink = BigQuerySink::builder(bq)
        .credentials(credentials)
        .build()
        .await
        .context("connecting to BigQuery")?;
    sink.setup()
        .await
        .context("creating the BigQuery dataset and tables")?;
    let dir = config.state_dir.clone().ok_or_else(|| {
        AppError::msg("source = \"bigquery\" needs state_dir = \"...\" for the sync state")
    })?;
    let state =
        FileStore::open(&dir).context(format!("opening the sync state in {}", dir.display()))?;
    Ok(Warehouse {
        source: Arc::new(sink),
        state: Arc::new(state),
        #[cfg(feature = "postgres")]
        postgres: None,
        describe,
    })
}

#[cfg(not(feature = "bigquery"))]
async fn open_bigquery(_: &WarehouseConfig) -> AppResult<Warehouse> {
    Err(AppError::msg(
        "source = \"bigquery\" needs the `bigquery` cargo feature of the examples crate",
    ))
}

/// The built-in transforms plus `json_text`: JSON values as canonical JSON text (sorted keys) in
/// a TEXT field, and back. Unlike `json_encode`, its inverse reads an empty text as no value:
/// Twenty answers `""` for a TEXT field that was never set.
///
/// ```
/// use examples::apps::warehouse::registry;
/// use twenty_mapping::{compile, MappingFile};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.c]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.c.fields]]
/// from = "context"
/// to = "llmContext"
/// transforms = ["json_text"]
/// [entities.c.custom_fields.llmContext]
/// type = "TEXT"
/// label = "LLM context"
/// "#, "x.toml").unwrap();
/// let m = compile(&file, &registry(), None).unwrap();
/// let c = m.entity("c").unwrap();
/// let out = c.to_twenty(&serde_json::json!({"id": "1", "context": {"b": 1, "a": 2}}));
/// assert_eq!(out.record["llmContext"], "{\"a\":2,\"b\":1}");
/// let back = c.to_local(&serde_json::json!({"llmContext": ""}));
/// assert!(back.errors.is_empty());
/// assert!(back.record.get("context").is_none_or(|v| v.is_null()));
/// ```
pub fn registry() -> TransformRegistry {
    let mut r = TransformRegistry::with_builtins();
    r.register(
        "json_text",
        Arc::new(
            FnTransform::new(ValueKind::Text, |v| Ok(Value::String(canonical_json(&v))))
                .with_inverse(|v| match v {
                    Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
                    Value::String(s) => serde_json::from_str(&s)
                        .map_err(|e| TransformError::new(format!("text is not valid JSON ({e})"))),
                    other => Ok(other),
                }),
        ),
    );
    r
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The run's report (absent for `setup`).
    pub report: Option<RunReport>,
    /// The run's plan.
    pub plan: Plan,
    /// Custom fields created (or, in a dry run, missing).
    pub fields: Vec<String>,
    /// Contacts linked to their business's company.
    pub links_made: usize,
}

/// Runs one command against `client` and an opened warehouse.
pub async fn run(
    cli: &Cli,
    client: Client,
    config: &WarehouseConfig,
    warehouse: &Warehouse,
) -> AppResult<Outcome> {
    let mapping = load_mapping_with(&config.mapping, &registry())?;
    let report = ensure_fields(&client, &mapping_field_specs(&mapping), cli.dry_run).await?;
    let fields: Vec<String> = report
        .created
        .iter()
        .chain(report.missing.iter())
        .map(|f| format!("{}.{}", f.object, f.field))
        .collect();
    eprint!("custom fields:\n{}", describe_ensure(&report));
    let mode = match cli.command {
        Command::Setup => {
            return Ok(Outcome {
                report: None,
                plan: Plan::default(),
                fields,
                links_made: 0,
            });
        }
        Command::Push => RunMode::Push,
        Command::Pull => RunMode::Pull,
        Command::Sync | Command::Demo => RunMode::Sync,
    };
    let mut builder = SyncEngine::builder(
        client.clone(),
        warehouse.source.clone(),
        warehouse.state.clone(),
    );
    let mappers = PlanMapper::all(&mapping);
    // Businesses first: a contact's company exists before the contact is linked to it.
    let mut ordered: Vec<&PlanMapper> = mappers
        .iter()
        .filter(|m| m.twenty_object() == "companies")
        .collect();
    ordered.extend(mappers.iter().filter(|m| m.twenty_object() != "companies"));
    for m in ordered {
        builder = builder.entity(Arc::new(m.clone()));
    }
    let engine = builder.build().context("building the sync engine")?;
    let outcome = engine
        .run(mode, RunOptions::new().dry_run(cli.dry_run).keep_plan(true))
        .await
        .context(format!(
            "running {} against {}",
            mode.as_str(),
            warehouse.describe
        ))?;
    let links_made = if cli.dry_run || mode == RunMode::Pull {
        0
    } else {
        link_contacts(config, &mappers, &outcome.plan, warehouse, &client).await?
    };
    Ok(Outcome {
        report: Some(outcome.report),
        plan: outcome.plan,
        fields,
        links_made,
    })
}

/// Links the people pushed in this run to the company of their business, when it differs.
async fn link_contacts(
    config: &WarehouseConfig,
    mappers: &[PlanMapper],
    plan: &Plan,
    warehouse: &Warehouse,
    client: &Client,
) -> AppResult<usize> {
    let Some(field) = &config.contact_business_field else {
        return Ok(0);
    };
    let (Some(people), Some(companies)) = (
        mappers.iter().find(|m| m.twenty_object() == "people"),
        mappers.iter().find(|m| m.twenty_object() == "companies"),
    ) else {
        return Ok(0);
    };
    let keys: Vec<String> = plan
        .writes
        .iter()
        .filter(|w| {
            w.entity == people.name()
                && w.direction == SyncDirection::Push
                && matches!(
                    w.action,
                    PlannedAction::Create | PlannedAction::Update | PlannedAction::Adopt
                )
        })
        .map(|w| w.local_key.clone())
        .collect();
    let mut made = 0;
    for chunk in keys.chunks(50) {
        let rows = warehouse
            .source
            .get(people.name(), chunk)
            .await
            .context("reading pushed contacts back from the warehouse")?;
        let persons = warehouse
            .state
            .records(people.name(), chunk)
            .await
            .context("reading the ID map")?;
        let person_of: HashMap<String, String> = persons
            .into_iter()
            .map(|s| (s.local_key, s.twenty_id))
            .collect();
        let businesses: Vec<String> = rows
            .iter()
            .filter_map(|r| r.data.get(field).and_then(Value::as_str).map(str::to_owned))
            .collect();
        let company_of: HashMap<String, String> = warehouse
            .state
            .records(companies.name(), &businesses)
            .await
            .context("reading the ID map")?
            .into_iter()
            .map(|s| (s.local_key, s.twenty_id))
            .collect();
        let ids: Vec<&str> = person_of.values().map(String::as_str).collect();
        let current: HashMap<String, Option<String>> = if ids.is_empty() {
            HashMap::new()
        } else {
            client
                .people()
                .list()
                .filter(Filter::field("id").in_(ids.iter().copied()))
                .stream()
                .try_collect::<Vec<_>>()
                .await
                .context("reading the pushed people")?
                .into_iter()
                .filter_map(|p| p.id.clone().map(|id| (id, p.company_id)))
                .collect()
        };
        for row in rows {
            let (Some(person), Some(company)) = (
                person_of.get(&row.key),
                row.data
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(|b| company_of.get(b)),
            ) else {
                continue;
            };
            if current.get(person).and_then(|c| c.as_ref()) == Some(company) {
                continue;
            }
            client
                .people()
                .update(person, json!({ "companyId": company }))
                .send()
                .await
                .context(format!("linking contact {} to its company", row.key))?;
            made += 1;
        }
    }
    Ok(made)
}

/// Sample rows for the demo (and the test): three businesses and four contacts, messy on purpose.
#[cfg(feature = "postgres")]
pub async fn insert_sample_rows(sink: &sink_postgres::PostgresSink, schema: &str) -> AppResult<()> {
    use sink_postgres::quote_qualified;
    let client = sink
        .pool()
        .get()
        .await
        .context("getting a Postgres connection for the sample rows")?;
    let businesses = quote_qualified(schema, "businesses");
    let contacts = quote_qualified(schema, "contacts");
    client
        .batch_execute(&format!(
            "INSERT INTO {businesses} (business_id, business_name, website, employees, category_code, context, updated_at) VALUES
              ('b-1', '  Analytical   Engines ', 'http://www.analytical-engines.example/about', 12, ' mfg ', '{{\"summary\": \"builds difference engines\", \"topics\": [\"hardware\"]}}', now()),
              ('b-2', 'Navy Labs', 'navylabs.example', 300, 'gov', NULL, now()),
              ('b-3', 'Lovelace & Co', 'https://lovelace.example', 3, 'consulting', '{{\"summary\": \"small consultancy\"}}', now());
             INSERT INTO {contacts} (contact_id, canonical_name, email, phone, title, category_code, subcategory_code, relationship_category, context, communication_stats, sync_metadata, business_id, updated_at) VALUES
              ('c-1', 'ada   LOVELACE', 'Ada@Analytical-Engines.example', '020 7946 0018', 'cto', 'cl', 'vip', 'client', '{{\"summary\": \"met at the Royal Society\", \"topics\": [\"engines\", \"poetry\"]}}', '{{\"email\": 12, \"calls\": 2}}', '{{\"source\": \"crm-warehouse\", \"batch\": 7}}', 'b-1', now()),
              ('c-2', 'charles babbage', 'charles@analytical-engines.example', '+44 20 7946 0019', 'founder', 'cl', NULL, 'colleague', NULL, '{{\"email\": 3}}', NULL, 'b-1', now()),
              ('c-3', 'Grace Hopper', 'grace@navylabs.example', NULL, 'rear admiral', 'gov', 'navy', 'friend', '{{\"summary\": \"COBOL\"}}', NULL, NULL, 'b-2', now()),
              ('c-4', 'Anne Isabella Milbanke', 'anne@lovelace.example', NULL, NULL, 'fam', NULL, 'family', NULL, NULL, NULL, 'b-3', now());"
        ))
        .await
        .context("inserting the sample rows")?;
    Ok(())
}

/// Prints a run outcome for the console.
pub fn print_outcome(what: &str, o: &Outcome) {
    println!("\n== {what} ==");
    for w in &o.plan.writes {
        println!(
            "  {} {:?} {} {} {}",
            w.direction.as_str(),
            w.action,
            w.entity,
            w.local_key,
            w.changed_fields.join(",")
        );
    }
    if let Some(r) = &o.report {
        println!("{}", r.summary().trim_end());
    }
    if o.links_made > 0 {
        println!("  linked {} contact(s) to their company", o.links_made);
    }
}

/// The binary's main work: connect, open the warehouse, run the command (or the demo).
pub async fn main_with(cli: Cli) -> AppResult<bool> {
    let config = WarehouseConfig::load(&cli.config)?;
    let conn = cli.twenty.connect(0).await?;
    let schema = match (&cli.schema, cli.command) {
        (Some(s), _) => Some(s.clone()),
        (None, Command::Demo) => Some(format!(
            "warehouse_demo_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )),
        (None, _) => None,
    };
    let url = std::env::var("DATABASE_URL")
        .ok()
        .map(secrecy::SecretString::from);
    let warehouse = open_warehouse(&config, schema.as_deref(), url).await?;
    eprintln!("warehouse: {}", warehouse.describe);
    if cli.command != Command::Demo {
        let o = run(&cli, conn.client.clone(), &config, &warehouse).await?;
        print_outcome(if cli.dry_run { "plan (dry run)" } else { "run" }, &o);
        return Ok(o.report.is_none_or(|r| r.failures.is_empty()));
    }
    demo(
        &cli,
        conn,
        &config,
        &warehouse,
        schema.as_deref().unwrap_or("warehouse"),
    )
    .await
}

#[cfg(feature = "postgres")]
async fn demo(
    cli: &Cli,
    conn: super::common::Connection,
    config: &WarehouseConfig,
    warehouse: &Warehouse,
    schema: &str,
) -> AppResult<bool> {
    let Some(sim) = &conn.sim else {
        return Err(AppError::msg(
            "`demo` writes sample data: run it with --sim (the in-process simulator)",
        ));
    };
    let Some(pg) = &warehouse.postgres else {
        return Err(AppError::msg("`demo` needs source = \"postgres\""));
    };
    insert_sample_rows(pg, schema).await?;
    let first = run(
        &Cli {
            command: Command::Sync,
            ..cli.clone()
        },
        conn.client.clone(),
        config,
        warehouse,
    )
    .await?;
    print_outcome("sync: warehouse rows into Twenty", &first);
    let ada = sim
        .handle()
        .records("people")
        .into_iter()
        .find(|p| p["emails"]["primaryEmail"] == "ada@analytical-engines.example")
        .ok_or_else(|| AppError::msg("Ada was not pushed to Twenty"))?;
    println!(
        "\nIn Twenty, Ada: {}",
        serde_json::to_string(&ada).unwrap_or_default()
    );
    let id = ada["id"].as_str().unwrap_or_default();
    sim.handle().update_record(
        "people",
        id,
        json!({"jobTitle": "Chief Analyst", "relationshipCategory": "FRIEND",
               "llmContext": "{\"summary\":\"wrote the first program\",\"topics\":[\"engines\"]}"}),
    );
    println!("Edited in Twenty: jobTitle, relationshipCategory, llmContext");
    let second = run(
        &Cli {
            command: Command::Sync,
            ..cli.clone()
        },
        conn.client.clone(),
        config,
        warehouse,
    )
    .await?;
    print_outcome("sync: the edit back into the warehouse", &second);
    let rows = warehouse
        .source
        .get("contacts", &["c-1".to_owned()])
        .await
        .context("reading c-1 back")?;
    if let Some(r) = rows.first() {
        println!(
            "\nwarehouse row c-1 now: {}",
            serde_json::to_string(&r.data).unwrap_or_default()
        );
    }
    // The demo schema is throwaway: drop it.
    let client = pg
        .pool()
        .get()
        .await
        .context("getting a Postgres connection")?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE;",
            sink_postgres::quote_ident(schema),
            sink_postgres::quote_ident(&format!("{schema}_state"))
        ))
        .await
        .context("dropping the demo schemas")?;
    println!("(dropped the demo schemas {schema} and {schema}_state)");
    Ok(true)
}

#[cfg(not(feature = "postgres"))]
async fn demo(
    _: &Cli,
    _: super::common::Connection,
    _: &WarehouseConfig,
    _: &Warehouse,
    _: &str,
) -> AppResult<bool> {
    Err(AppError::msg("`demo` needs the `postgres` cargo feature"))
}
