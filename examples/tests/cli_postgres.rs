//! `twenty-sync` with the PostgreSQL sink (cargo feature `postgres`) against a real server:
//! `DATABASE_URL`, else postgres://postgres@127.0.0.1:5432/test. If it cannot connect, the test
//! fails and says how to provide one.
#![cfg(feature = "postgres")]

use std::process::Command;

use serde_json::Value;
use twenty_sim::{SimConfig, SimServer};

const KEY: &str = "cli-pg-test-key";
const BIN: &str = env!("CARGO_BIN_EXE_twenty-sync");

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn admin() -> tokio_postgres::Client {
    let url = database_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to PostgreSQL ({e}); start one on 127.0.0.1:5432 with a `test` \
                 database, or set DATABASE_URL=postgres://user:password@host:port/db"
            )
        });
    tokio::spawn(conn);
    client
}

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(dir.join("twenty-sync.toml"))
        .args(args)
        .env("TWENTY_API_KEY", KEY)
        .env("DATABASE_URL", database_url())
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_into_postgres_then_status_reads_the_state_schema() {
    let db = admin().await;
    let suffix = format!(
        "{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let schema = format!("cli_state_{suffix}");
    let table = format!("cli_contacts_{suffix}");
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(8).rate_limit(None))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("contacts.toml"),
        examples::cli::demo::DEMO_MAPPING,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("twenty-sync.toml"),
        format!(
            r#"mapping = "contacts.toml"
[twenty]
url = "{url}"
[twenty.rate_limit]
enabled = false
[sink]
kind = "postgres"
[sink.postgres]
state_schema = "{schema}"
[[sink.postgres.entity]]
entity = "contacts"
table = "{table}"
key_column = "id"
create = true
columns = [
  {{ field = "full_name", column = "full_name", type = "text" }},
  {{ field = "email", column = "email", type = "text" }},
  {{ field = "phone", column = "phone", type = "text" }},
  {{ field = "title", column = "title", type = "text" }},
  {{ field = "stage", column = "stage", type = "text" }},
]
"#,
            url = sim.base_url()
        ),
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        let setup = run(&path, &["setup"]);
        let pull = run(&path, &["--json", "pull"]);
        let status = run(&path, &["--json", "status"]);
        (setup, pull, status)
    })
    .await
    .unwrap();
    let rows: i64 = db
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1);
    // Clean up before asserting, so a failure leaves nothing behind.
    let _ = db
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\" CASCADE; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;"
        ))
        .await;
    let (setup, pull, status) = result;
    assert_eq!(setup.0, 0, "{}{}", setup.1, setup.2);
    assert!(pull.0 == 0 || pull.0 == 3, "{}{}", pull.1, pull.2);
    let v: Value = serde_json::from_str(pull.1.trim()).unwrap();
    assert_eq!(
        v["report"]["entities"]["contacts:pull"]["created"], 8,
        "{v}"
    );
    assert_eq!(rows, 8);
    let v: Value = serde_json::from_str(status.1.trim()).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["store"].as_str().unwrap().contains(&schema), "{v}");
    sim.shutdown().await;
}
