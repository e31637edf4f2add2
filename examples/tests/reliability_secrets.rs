//! Secret leak test (promise 4): every `twenty-sync` command, at the highest verbosity
//! (`-vvv`, `RUST_LOG=trace`), in human and `--json` output, succeeding and failing (wrong API
//! key, unreachable database, unreachable Twenty, bad configuration, malformed connection
//! string), with a recognisable API key, webhook secret, admin token and database password —
//! none of them may appear in stdout, stderr, the file store, or any table of the Postgres state
//! schema (run reports, audit log, ID map, cursors, leases).
//!
//! Library level too: `Debug` and `Display` of the client, the engine, the Postgres sink and
//! their errors.
//!
//! PostgreSQL: `DATABASE_URL` (a superuser, to create a throw-away role with a password) else
//! `postgres://postgres@127.0.0.1:5432/test`.
#![cfg(feature = "postgres")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use twenty_sim::{SimConfig, SimServer};

/// Every secret contains this marker; it must appear nowhere.
const MARK: &str = "LEAKCANARY";
const API_KEY: &str = "tsk-LEAKCANARY-api-7Q2x9Zp";
const WRONG_KEY: &str = "tsk-LEAKCANARY-wrong-k3y55";
const DB_PASSWORD: &str = "pgpw-LEAKCANARY-db-4Kd81";
const WEBHOOK_SECRET: &str = "whsec-LEAKCANARY-wh-55aa";
const ADMIN_TOKEN: &str = "adm-LEAKCANARY-tok-91zz";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn pg_admin() -> tokio_postgres::Client {
    match tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await {
        Ok((c, conn)) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            c
        }
        Err(e) => panic!(
            "the secret-leak test needs a PostgreSQL server and could not connect ({e}). Set \
             DATABASE_URL to a superuser connection (e.g. postgres://postgres:pw@host:5432/db), or \
             start the local server with `pg_ctlcluster --skip-systemctl-redirect 15 main start` \
             (default URL {DEFAULT_URL})"
        ),
    }
}

/// A role with a recognisable password, and the connection string that uses it.
struct Role {
    name: String,
    url: String,
    schema: String,
}

impl Role {
    async fn create() -> Role {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let name = format!("leak_{suffix}");
        let pg = pg_admin().await;
        pg.batch_execute(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD '{DB_PASSWORD}';
             GRANT CREATE ON DATABASE {db} TO {name};",
            db = current_db(&pg).await
        ))
        .await
        .unwrap_or_else(|e| {
            panic!("creating a test role needs a superuser DATABASE_URL (CREATE ROLE failed: {e})")
        });
        let mut u = url::Url::parse(&admin_url()).expect("DATABASE_URL is a URL");
        let _ = u.set_username(&name);
        let _ = u.set_password(Some(DB_PASSWORD));
        Role {
            schema: format!("{name}_state"),
            url: u.to_string(),
            name,
        }
    }
}

async fn current_db(pg: &tokio_postgres::Client) -> String {
    pg.query_one("SELECT current_database()", &[])
        .await
        .expect("current_database")
        .get(0)
}

impl Drop for Role {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok((c, conn)) =
                    tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let db = current_db(&c).await;
                let _ = c
                    .batch_execute(&format!(
                        "DROP OWNED BY {name} CASCADE; REVOKE ALL ON DATABASE {db} FROM {name}; DROP ROLE IF EXISTS {name};"
                    ))
                    .await;
            });
        })
        .join();
    }
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn assert_clean(what: &str, text: &str) {
    for s in [
        MARK,
        API_KEY,
        WRONG_KEY,
        DB_PASSWORD,
        WEBHOOK_SECRET,
        ADMIN_TOKEN,
    ] {
        if let Some(at) = text.find(s) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(120)
                .map_or(0, |(i, _)| i);
            let to = (at + s.len() + 60).min(text.len());
            let to = (to..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            panic!("a secret leaked into {what}: …{}…", &text[from..to]);
        }
    }
}

/// Runs `twenty-sync` with the secrets in its environment.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twenty-sync"));
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .env("TWENTY_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("TWENTY_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("twenty-sync starts");
    let started = Instant::now();
    let out = child.wait_with_output().expect("twenty-sync output");
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "{args:?} took too long"
    );
    let o = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let what = format!("`twenty-sync {}`", args.join(" "));
    assert_clean(&format!("stdout of {what}"), &o.stdout);
    assert_clean(&format!("stderr of {what}"), &o.stderr);
    o
}

fn scan_dir(dir: &Path) -> usize {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                files += 1;
                assert_clean(
                    &format!("file {}", p.display()),
                    &String::from_utf8_lossy(&bytes),
                );
            }
        }
    }
    files
}

fn mapping_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/quickstart/contacts.toml"
    ))
}

fn write_config(dir: &Path, twenty_url: &str, sink: &str, schema: &str) -> PathBuf {
    let data_schema = format!("{schema}_data");
    let text = format!(
        r#"mapping = "{mapping}"

[twenty]
url = "{twenty_url}"
allowed_hosts = ["127.0.0.1"]
max_retries = 1
timeout_secs = 10

[twenty.rate_limit]
enabled = false

[sink]
kind = "{sink}"

[sink.file]
dir = "data"

[sink.postgres]
state_schema = "{schema}"
connection_secret = "DATABASE_URL"

[[sink.postgres.entity]]
entity = "contacts"
schema = "{data_schema}"
table = "contacts"
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
        mapping = mapping_path().display()
    );
    let path = dir.join(format!("twenty-sync-{sink}.toml"));
    std::fs::write(&path, text).expect("write the configuration");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cli_command_leaks_a_secret_at_any_verbosity_even_when_failing() {
    let sim = SimServer::start(SimConfig::new(API_KEY).seed_people(30).rate_limit(None))
        .await
        .expect("simulator starts");
    let role = Role::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let url = sim.base_url().to_string();
    let file_cfg = write_config(d, &url, "file", &role.schema);
    let pg_cfg = write_config(d, &url, "postgres", &role.schema);
    let (file_cfg, pg_cfg) = (
        file_cfg.to_str().expect("utf-8 path").to_owned(),
        pg_cfg.to_str().expect("utf-8 path").to_owned(),
    );
    let good: Vec<(&str, &str)> = vec![("TWENTY_API_KEY", API_KEY), ("DATABASE_URL", &role.url)];

    let mut ran = 0;
    let mut traced = 0;
    let mut ok = |args: &[&str]| {
        let o = run(d, &good, args);
        ran += 1;
        // The logs really are at trace level (so the check is not vacuous).
        if o.stderr.contains(" TRACE ") {
            traced += 1;
        }
        assert!(
            matches!(o.code, Some(0) | Some(3)),
            "`twenty-sync {}` failed ({:?}): {}",
            args.join(" "),
            o.code,
            o.stderr
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        );
    };
    for cfg in [file_cfg.as_str(), pg_cfg.as_str()] {
        for args in [
            vec!["setup", "--dry-run"],
            vec!["setup"],
            vec!["verify"],
            vec!["pull", "--dry-run"],
            vec!["pull"],
            vec!["push", "--dry-run"],
            vec!["push"],
            vec!["sync"],
            vec!["--json", "sync"],
            vec!["watch", "--max-runs", "1", "--interval", "1"],
            vec!["status"],
            vec!["--json", "status"],
            vec!["audit"],
            vec!["--json", "audit", "--limit", "50"],
        ] {
            let mut full = vec!["-c", cfg, "-vvv"];
            full.extend(args);
            ok(&full);
        }
    }

    assert!(
        traced * 2 >= ran,
        "only {traced} of {ran} runs logged at trace level: is RUST_LOG honoured?"
    );

    // Failing runs.
    let mut failing = 0;
    let mut fails = |env: &[(&str, &str)], args: &[&str]| {
        let o = run(d, env, args);
        failing += 1;
        assert!(
            !matches!(o.code, Some(0)),
            "`twenty-sync {}` should have failed: {}",
            args.join(" "),
            o.stdout
        );
        assert!(
            !o.stderr.trim().is_empty() || !o.stdout.trim().is_empty(),
            "a failure must say why"
        );
    };
    let wrong_key = [
        ("TWENTY_API_KEY", WRONG_KEY),
        ("DATABASE_URL", role.url.as_str()),
    ];
    for args in [
        vec!["pull"],
        vec!["verify"],
        vec!["--json", "sync"],
        vec!["setup"],
    ] {
        for cfg in [file_cfg.as_str(), pg_cfg.as_str()] {
            let mut full = vec!["-c", cfg, "-vvv"];
            full.extend(args.iter().copied());
            fails(&wrong_key, &full);
        }
    }
    let mut dead_db = url::Url::parse(&role.url).expect("url");
    let _ = dead_db.set_port(Some(1));
    let dead_db = dead_db.to_string();
    let unreachable_db = [
        ("TWENTY_API_KEY", API_KEY),
        ("DATABASE_URL", dead_db.as_str()),
    ];
    for args in [vec!["pull"], vec!["status"], vec!["--json", "audit"]] {
        let mut full = vec!["-c", pg_cfg.as_str(), "-vvv"];
        full.extend(args.iter().copied());
        fails(&unreachable_db, &full);
    }
    let garbled = format!(
        "postgres://{}:{DB_PASSWORD}@127.0.0.1:notaport/x",
        role.name
    );
    fails(
        &[
            ("TWENTY_API_KEY", API_KEY),
            ("DATABASE_URL", garbled.as_str()),
        ],
        &["-c", &pg_cfg, "-vvv", "pull"],
    );
    let wrong_password = role.url.replace(DB_PASSWORD, "pgpw-LEAKCANARY-not-it");
    let wrong_pw = [
        ("TWENTY_API_KEY", API_KEY),
        ("DATABASE_URL", wrong_password.as_str()),
    ];
    // (Succeeds if the server trusts local connections; must not leak either way.)
    let _ = run(d, &wrong_pw, &["-c", &pg_cfg, "-vvv", "status"]);
    for (env, args) in [
        (
            &good[..],
            vec![
                "-c",
                file_cfg.as_str(),
                "-vvv",
                "--url",
                "http://127.0.0.1:1/",
                "pull",
            ],
        ),
        (
            &good[..],
            vec![
                "-c",
                file_cfg.as_str(),
                "-vvv",
                "--set",
                "policies.batch_size=999",
                "pull",
            ],
        ),
        (
            &good[..],
            vec![
                "-c",
                file_cfg.as_str(),
                "-vvv",
                "--url",
                "http://u:pgpw-LEAKCANARY-url@127.0.0.1:9/",
                "pull",
            ],
        ),
        (
            &good[..],
            vec![
                "-c",
                file_cfg.as_str(),
                "-vvv",
                "--url",
                "http://crm.example.com/",
                "verify",
            ],
        ),
        (
            &[("DATABASE_URL", role.url.as_str())][..],
            vec!["-c", file_cfg.as_str(), "-vvv", "pull"],
        ),
    ] {
        fails(env, &args);
    }

    // Nothing at rest either: the file store and the Postgres state schema.
    let files = scan_dir(d);
    assert!(files > 3, "the file store was written ({files} files)");
    let pg = pg_admin().await;
    let tables = pg
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&role.schema],
        )
        .await
        .expect("list state tables");
    assert!(
        tables.len() >= 5,
        "the Postgres state schema was created: {}",
        tables.len()
    );
    let mut rows = 0;
    for t in &tables {
        let name: String = t.get(0);
        let dump = pg
            .query(
                &format!("SELECT t::text FROM \"{}\".\"{name}\" t", role.schema),
                &[],
            )
            .await
            .expect("dump table");
        for r in &dump {
            rows += 1;
            assert_clean(
                &format!("table {}.{name}", role.schema),
                &r.get::<_, String>(0),
            );
        }
    }
    assert!(
        rows > 0,
        "the state schema holds rows (runs, audit, ID map)"
    );
    println!(
        "secret leak check: {ran} successful and {failing} failing twenty-sync invocations at -vvv/RUST_LOG=trace, {files} files and {rows} Postgres state rows scanned"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn library_debug_and_errors_never_show_secrets() {
    use sink_postgres::{PostgresSink, SinkConfig};
    use twenty_client::Client;

    let client = Client::builder(
        "https://api.twenty.com/".parse().expect("url"),
        SecretString::from(API_KEY),
    );
    assert_clean("ClientBuilder Debug", &format!("{client:?}"));
    let client = client.build().expect("client");
    assert_clean("Client Debug", &format!("{client:?}"));

    // A connection string with the password, to a closed port: the error and every Debug.
    let dead = format!("postgres://someone:{DB_PASSWORD}@127.0.0.1:1/test?connect_timeout=2");
    let builder = PostgresSink::builder(SinkConfig::default())
        .connection_string(SecretString::from(dead.clone()));
    assert_clean("PostgresSinkBuilder Debug", &format!("{builder:?}"));
    let err = builder
        .build()
        .await
        .expect_err("nothing listens on port 1");
    assert_clean("sink error Display", &err.to_string());
    assert_clean("sink error Debug", &format!("{err:?}"));
    // A malformed one.
    let bad = format!("postgres://someone:{DB_PASSWORD}@127.0.0.1:port/test");
    let err = PostgresSink::builder(SinkConfig::default())
        .connection_string(SecretString::from(bad))
        .build()
        .await
        .expect_err("malformed");
    assert_clean("malformed URL error", &format!("{err} {err:?}"));

    // A working sink and an engine over it.
    let url = {
        let mut u = url::Url::parse(&admin_url()).expect("DATABASE_URL is a URL");
        if u.password().is_none() {
            // Add a password the server ignores under trust auth, to see it is redacted.
            let _ = u.set_password(Some(DB_PASSWORD));
        }
        u.to_string()
    };
    let schema = format!(
        "leakdbg_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: schema.clone(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(url))
    .build()
    .await;
    match sink {
        Ok(sink) => {
            assert_clean("PostgresSink Debug", &format!("{sink:?}"));
            let sink = Arc::new(sink);
            let engine = twenty_sync_core::SyncEngine::builder(client, sink.clone(), sink)
                .webhook_secret(SecretString::from(WEBHOOK_SECRET))
                .build()
                .expect("engine");
            assert_clean("SyncEngine Debug", &format!("{engine:?}"));
            let err = engine
                .handle_webhook("1", "00", b"{}")
                .await
                .expect_err("stale");
            assert_clean("webhook error", &format!("{err} {err:?}"));
            let pg = pg_admin().await;
            let _ = pg
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await;
        }
        Err(e) => {
            // Password authentication with our injected password: still must not leak.
            assert_clean("sink error", &format!("{e} {e:?}"));
            panic!("could not open the Postgres sink on DATABASE_URL: {e}");
        }
    }
}

/// Reads `twenty-sync-admin`'s stdout until it names its address; the rest of the output is
/// collected by background threads.
fn admin_address(
    child: &mut std::process::Child,
) -> (
    String,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    use std::io::{BufRead, Read};
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("twenty-sync-admin prints its address");
        assert_clean("stdout of twenty-sync-admin", &line);
        if let Some(rest) = line.strip_prefix("admin server on ") {
            return (rest.trim_end_matches('/').to_owned(), rx, err);
        }
    }
}

/// The admin server's `GET /runs` answer.
async fn list_runs(http: &reqwest::Client, base: &str) -> serde_json::Value {
    http.get(format!("{base}/runs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET /runs")
        .json()
        .await
        .expect("runs JSON")
}

/// How many runs a `GET /runs` answer lists.
fn run_count(runs: &serde_json::Value) -> usize {
    runs["runs"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_server_leaks_no_secret_at_trace_level_even_when_failing() {
    let sim = SimServer::start(SimConfig::new(API_KEY).seed_people(5).rate_limit(None))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), sim.base_url().as_str(), "file", "unused");
    let http = reqwest::Client::new();

    // Once with the right API key, once with a wrong one (every run fails with 401).
    for (key, expect_run) in [(API_KEY, "succeeded"), (WRONG_KEY, "failed")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twenty-sync-admin"))
            .current_dir(dir.path())
            .args([
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env("TWENTY_API_KEY", key)
            .env("TWENTY_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("TWENTY_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("twenty-sync-admin starts");
        let (base, lines, stderr) = admin_address(&mut child);

        let mut bodies = Vec::new();
        for token in ["wrong-token", ADMIN_TOKEN] {
            for path in ["/status", "/runs", "/audit", "/runs/none"] {
                let res = http
                    .get(format!("{base}{path}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("request");
                bodies.push(res.text().await.unwrap_or_default());
            }
        }
        // The runs already in the store (the first pass's run stays there for the second):
        // the wait below is for a run that is not one of them.
        let runs_before = run_count(&list_runs(&http, &base).await);
        let res = http
            .post(format!("{base}/sync"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"mode": "sync"}))
            .send()
            .await
            .expect("POST /sync");
        assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
        // A forged webhook delivery.
        let res = http
            .post(format!("{base}/webhooks/twenty"))
            .header("x-twenty-webhook-timestamp", "1")
            .header("x-twenty-webhook-signature", "00")
            .body("{}")
            .send()
            .await
            .expect("webhook");
        assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
        bodies.push(res.text().await.unwrap_or_default());
        // Wait for the run to end, then read its report through the API.
        let deadline = Instant::now() + Duration::from_secs(60);
        let runs = loop {
            let runs = list_runs(&http, &base).await;
            if run_count(&runs) > runs_before
                && runs["runs"][0]["status"] != "running"
                && runs["runs"][0].is_object()
            {
                break runs;
            }
            assert!(Instant::now() < deadline, "the run did not finish: {runs}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(runs["runs"][0]["status"], expect_run, "{runs}");
        let id = runs["runs"][0]["run_id"].as_str().unwrap().to_owned();
        for path in [format!("/runs/{id}"), "/status".into(), "/audit".into()] {
            let res = http
                .get(format!("{base}{path}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("request");
            bodies.push(res.text().await.unwrap_or_default());
        }
        for b in &bodies {
            assert_clean("an admin server answer", b);
        }
        let _ = child.kill();
        let _ = child.wait();
        let out: Vec<String> = lines.try_iter().collect();
        assert_clean("stdout of twenty-sync-admin", &out.join("\n"));
        let err = stderr.join().expect("stderr reader");
        assert!(
            err.contains("TRACE") || err.contains("DEBUG"),
            "the server really logged at trace level"
        );
        assert_clean("stderr of twenty-sync-admin", &err);
    }
    assert!(scan_dir(dir.path()) > 0, "the store's files were scanned");
    sim.shutdown().await;
}
