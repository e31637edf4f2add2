//! What every scenario shares: the API key of the simulator, the benchmark mapping, the Postgres
//! server, the work directory and the default table of the benchmark entity.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sink_postgres::{ColumnType, EntityTable, quote_ident};
use twenty_mapping::{CompiledMapping, MappingFile, TransformRegistry, compile};

/// A boxed error: the harness reports what failed and stops.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The API key the simulators of the harness accept (loopback only, not a secret).
pub const API_KEY: &str = "bench-key";

/// The entity of the benchmark mapping (`benches/people.toml`).
pub const ENTITY: &str = "people";

/// The benchmark mapping: people with name, email, phone, title and LinkedIn.
pub const MAPPING_TOML: &str = include_str!("../people.toml");

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The variable that puts a delaying relay between the harness's processes and Postgres.
const PG_LATENCY_VAR: &str = "BENCH_POSTGRES_LATENCY_US";

/// The relay's connection string, once [`delay_postgres`] has started one.
static RELAYED_URL: OnceLock<String> = OnceLock::new();

/// The Postgres server's connection string: through the relay of [`delay_postgres`] if it
/// runs, else `DATABASE_URL`, else the local server at 127.0.0.1:5432. Child runs are given it
/// as their `DATABASE_URL`.
pub fn database_url() -> String {
    if let Some(url) = RELAYED_URL.get() {
        return url.clone();
    }
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// With `BENCH_POSTGRES_LATENCY_US=<µs>` set, starts a relay that delays everything between
/// this process's children (and itself) and the Postgres server by that long each way, as a
/// server across a network would (see [`crate::relay`]); returns the delay. Called once, by the
/// harness before its scenarios (never by a child run).
pub fn delay_postgres() -> Result<Option<Duration>, BoxError> {
    let Some(us) = number::<u64>(PG_LATENCY_VAR)? else {
        return Ok(None);
    };
    let mut url = url::Url::parse(&database_url())
        .map_err(|e| format!("{PG_LATENCY_VAR} needs DATABASE_URL in URL form: {e}"))?;
    let target = url
        .socket_addrs(|| Some(5432))?
        .into_iter()
        .next()
        .ok_or("DATABASE_URL names no address to relay to")?;
    let delay = Duration::from_micros(us);
    let relay = crate::relay::start(target, delay)?;
    url.set_host(Some("127.0.0.1"))?;
    url.set_port(Some(relay.port()))
        .map_err(|()| "DATABASE_URL cannot take the relay's port")?;
    RELAYED_URL
        .set(url.into())
        .map_err(|_| "the Postgres relay was started twice")?;
    Ok(Some(delay))
}

/// The number in the environment variable `name`, if it is set: a harness setting such as
/// `BENCH_PULL_COMMIT_RECORDS`. A value that is not such a number is an error naming the
/// variable, not a silent default.
pub fn number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, BoxError> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}: '{v}' is not a whole number").into()),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8").into()),
    }
}

/// The compiled benchmark mapping.
pub fn mapping() -> Result<Arc<CompiledMapping>, BoxError> {
    let file = MappingFile::from_toml_str(MAPPING_TOML, "benches/people.toml")?;
    Ok(Arc::new(compile(
        &file,
        &TransformRegistry::with_builtins(),
        None,
    )?))
}

/// The default Postgres table of the benchmark entity in `schema`: one text column per local
/// field of the mapping, keyed by `id` (the Twenty id, for pulled records).
pub fn people_table(schema: &str) -> EntityTable {
    EntityTable::default_table(
        ENTITY,
        schema,
        "id",
        [
            ("full_name", ColumnType::Text),
            ("email", ColumnType::Text),
            ("phone", ColumnType::Text),
            ("title", ColumnType::Text),
            ("linkedin", ColumnType::Text),
        ],
    )
}

/// A plain connection for the harness's own SQL; fails with a message saying how to provide a
/// server.
pub async fn admin() -> Result<tokio_postgres::Client, BoxError> {
    let (client, conn) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            format!(
                "the benchmarks need a PostgreSQL server and could not connect ({e}). Set \
                 DATABASE_URL (e.g. postgres://user:password@host:5432/db) or start the local \
                 server at {DEFAULT_URL}"
            )
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Drops the schemas `names` (and everything in them) if they exist.
pub async fn drop_schemas(pg: &tokio_postgres::Client, names: &[&str]) -> Result<(), BoxError> {
    for name in names {
        pg.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(name)
        ))
        .await
        .map_err(|e| format!("dropping schema {name}: {e}"))?;
    }
    Ok(())
}

/// A scratch directory for file stores and the peer's work files: under `CARGO_TARGET_DIR` when
/// set (kept out of the repository), else the system temp directory. Emptied first.
pub fn scratch_dir(name: &str) -> Result<PathBuf, BoxError> {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("twenty-sync-bench");
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("emptying scratch directory {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("creating scratch directory {}: {e}", dir.display()))?;
    Ok(dir)
}
