//! The `twenty-sync` binary against a simulator started here, with a file store in a tempdir.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::StateStore;
use twenty_sync_core::file::FileStore;

const KEY: &str = "cli-test-key-5f3a9c";
const BIN: &str = env!("CARGO_BIN_EXE_twenty-sync");

struct Env {
    sim: SimServer,
    dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        let last = self
            .stdout
            .lines()
            .rfind(|l| l.starts_with('{'))
            .unwrap_or_else(|| {
                panic!(
                    "no JSON on stdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            });
        serde_json::from_str(last).unwrap_or_else(|e| panic!("bad JSON {e}: {last}"))
    }
}

impl Env {
    async fn start(people: usize) -> Env {
        Env::with_sim(SimConfig::new(KEY).seed_people(people).rate_limit(None)).await
    }

    async fn with_sim(config: SimConfig) -> Env {
        let sim = SimServer::start(config).await.expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("contacts.toml"),
            examples::cli::demo::DEMO_MAPPING,
        )
        .unwrap();
        let env = Env { sim, dir };
        env.write_config(&format!("[twenty]\nurl = \"{}\"\n", env.sim.base_url()));
        env
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("twenty-sync.toml")
    }

    /// Writes the config: mapping, file store `data`, no client-side rate limit, plus `extra`.
    fn write_config(&self, extra: &str) {
        std::fs::write(
            self.config_path(),
            format!(
                "mapping = \"contacts.toml\"\n\n{extra}\n[twenty.rate_limit]\nenabled = false\n\n[sink.file]\ndir = \"data\"\n"
            ),
        )
        .unwrap();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs the binary (blocking, on a blocking thread so the simulator keeps serving).
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let config = self.config_path();
        let mut all = vec!["-c", config.to_str().unwrap()];
        all.extend_from_slice(args);
        self.run_raw(&all, env).await
    }

    /// Runs the binary with exactly `args`.
    async fn run_raw(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TWENTY_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .env_remove("TWENTY_API_URL")
            .env_remove("TWENTY_SYNC_BATCH_SIZE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .unwrap();
        let o = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !o.stdout.contains(KEY) && !o.stderr.contains(KEY),
            "the API key leaked into the output of {args:?}"
        );
        o
    }
}

fn local_count(dir: &Path) -> usize {
    FileStore::open(dir)
        .unwrap()
        .local_records("contacts")
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_idempotent_and_verify_exit_codes_follow_readiness() {
    let env = Env::start(5).await;
    let out = env.run(&["--json", "verify"], &[]).await;
    assert_eq!(
        out.code, 4,
        "verify before setup: {}{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["ready"], false);
    assert_eq!(v["missing"], json!(["people.relationshipStage"]));

    let out = env.run(&["--json", "setup", "--dry-run"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.json()["would_create"],
        json!(["people.relationshipStage"])
    );
    // The dry run created nothing.
    assert_eq!(env.run(&["verify"], &[]).await.code, 4);

    let out = env.run(&["--json", "setup"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["created"], json!(["people.relationshipStage"]));
    let out = env.run(&["--json", "setup"], &[]).await;
    assert_eq!(out.code, 0);
    let v = out.json();
    assert_eq!(v["created"], json!([]));
    assert_eq!(v["present"], json!(["people.relationshipStage"]));

    let out = env.run(&["verify"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("verify: ready"), "{}", out.stdout);
}

/// `verify` also compiles the mapping against the workspace's own schema: a target this workspace
/// lacks (the simulator is 2.21.0's demo workspace, which has no `people.city`) and a select value
/// it does not offer are reported with their rule's path, before any run writes a record. The
/// workspace's objects are read once for this and for the declared fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_rules_that_do_not_fit_the_workspace() {
    let env = Env::start(3).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);
    let mapping = format!(
        "{}\n[[entities.contacts.fields]]\nfrom = \"town\"\nto = \"city\"\n\n\
         [[entities.contacts.fields]]\nfrom = \"pref\"\nto = \"workPreference\"\n\
         transforms = [{{ name = \"value_map\", map = {{ home = \"REMOTE\" }} }}]\n",
        examples::cli::demo::DEMO_MAPPING
    );
    std::fs::write(env.dir.path().join("contacts.toml"), mapping).unwrap();

    let out = env.run(&["verify"], &[]).await;
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    for line in [
        "MAPPING   entities.contacts.fields[5].to: field `city` does not exist on `people`",
        "MAPPING   entities.contacts.fields[6].transforms: the pipeline produces text but `workPreference` is a MULTI_SELECT field",
        "MAPPING   entities.contacts.fields[6].transforms[0]: `REMOTE` is not an option of `workPreference` (options: ON_SITE, HYBRID, REMOTE_WORK)",
        "verify: NOT ready (0 missing, 0 mismatched, 3 problems of the mapping with this workspace)",
    ] {
        assert!(out.stdout.contains(line), "no `{line}` in:\n{}", out.stdout);
    }

    env.sim.handle().reset_stats();
    let v = env.run(&["--json", "verify"], &[]).await.json();
    assert_eq!(v["ready"], false);
    let reads = env.sim.stats().by_route["GET /rest/metadata/objects"];
    assert_eq!(reads, 1, "one read of the objects serves both checks");
    let paths: Vec<&str> = v["mapping"]
        .as_array()
        .expect("mapping problems")
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "entities.contacts.fields[5].to",
            "entities.contacts.fields[6].transforms",
            "entities.contacts.fields[6].transforms[0]"
        ],
        "{v}"
    );
    assert_eq!(v["missing"], json!([]), "setup created the declared field");
}

/// Twenty's clock ten minutes behind this host's: the pull says so after its table, `status`
/// repeats the newest run's warning, and `--json status` carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_clock_far_behind_is_warned_of_by_pull_and_status() {
    let env = Env::with_sim(
        SimConfig::new(KEY)
            .seed_people(3)
            .rate_limit(None)
            .clock_offset(chrono::TimeDelta::minutes(-10)),
    )
    .await;
    let out = env.run(&["pull"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("warning: Twenty's clock is at least"))
        .unwrap_or_else(|| panic!("no warning line:\n{}", out.stdout));
    assert!(warning.contains("may have been missed"), "{warning}");

    let out = env.run(&["status"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(warning) && l.contains("(run ")),
        "{}",
        out.stdout
    );
    let v = env.run(&["--json", "status"], &[]).await.json();
    assert_eq!(v["warnings"]["run_id"], v["runs"][0]["run_id"], "{v}");
    assert_eq!(
        v["warnings"]["messages"][0]
            .as_str()
            .map(|m| format!("warning: {m}")),
        Some(warning.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_push_sync_with_dry_runs_status_and_audit() {
    let env = Env::start(12).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);

    // A dry pull plans every seeded person and writes nothing locally.
    let out = env.run(&["--json", "pull", "--dry-run"], &[]).await;
    let v = out.json();
    assert_eq!(v["command"], "pull");
    assert_eq!(v["dry_run"], true);
    let planned = v["plan"]["writes"].as_array().expect("plan").len();
    assert!(planned >= 10, "planned {planned}: {v}");
    assert_eq!(local_count(&env.data_dir()), 0, "a dry run wrote records");

    let out = env.run(&["--json", "pull"], &[]).await;
    let v = out.json();
    assert!(
        out.code == 0 || out.code == 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    let created = v["report"]["entities"]["contacts:pull"]["created"]
        .as_u64()
        .unwrap();
    assert_eq!(
        created as usize, planned,
        "the dry run predicted the real run"
    );
    assert_eq!(local_count(&env.data_dir()), planned);
    let pull_run = v["report"]["run_id"].as_str().unwrap().to_owned();

    // A local edit, previewed then pushed.
    let (key, twenty_id) = {
        let store = FileStore::open(env.data_dir()).unwrap();
        let rec = store.local_records("contacts").unwrap().remove(0);
        let mut data = rec.data.clone();
        data["title"] = json!("chief   of staff");
        // Seeded phones are messy on purpose (some do not map); this test is about the title.
        data.as_object_mut().unwrap().remove("phone");
        data["stage"] = json!("customer");
        store.upsert("contacts", &rec.key, data).unwrap();
        let state = store
            .records("contacts", std::slice::from_ref(&rec.key))
            .await
            .unwrap();
        (rec.key, state[0].twenty_id.clone())
    };
    let before = env.sim.handle().record("people", &twenty_id).unwrap();
    let out = env.run(&["--json", "push", "--dry-run"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["plan"]["writes"][0]["action"], "update");
    assert_eq!(v["plan"]["writes"][0]["local_key"], json!(key));
    assert_eq!(
        env.sim.handle().record("people", &twenty_id).unwrap(),
        before,
        "a dry-run push changed Twenty"
    );

    let out = env.run(&["--json", "push"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["report"]["entities"]["contacts:push"]["updated"], 1);
    let after = env.sim.handle().record("people", &twenty_id).unwrap();
    assert_eq!(after["jobTitle"], "Chief of Staff");
    assert_eq!(after["relationshipStage"], "CUSTOMER");
    let push_run = v["report"]["run_id"].as_str().unwrap().to_owned();

    // A change in Twenty comes back with sync.
    env.sim.handle().update_record(
        "people",
        &twenty_id,
        json!({"jobTitle": "Chief Executive Officer"}),
    );
    let out = env.run(&["--json", "sync"], &[]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["command"], "sync");
    assert_eq!(
        v["report"]["entities"]["contacts:pull"]["updated"], 1,
        "{v}"
    );
    let store = FileStore::open(env.data_dir()).unwrap();
    let rec = store
        .local_records("contacts")
        .unwrap()
        .into_iter()
        .find(|r| r.key == key)
        .unwrap();
    assert_eq!(rec.data["title"], "Chief Executive Officer");
    drop(store);

    // status lists the runs, newest first; audit finds the push by run and by key.
    let out = env.run(&["--json", "status"], &[]).await;
    assert_eq!(out.code, 0);
    let v = out.json();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "two dry runs and three real ones: {v}");
    assert!(
        v["warnings"].is_null(),
        "the simulator runs on this host's clock: {v}"
    );
    assert_eq!(runs[0]["mode"], "sync");
    assert_eq!(runs[4]["run_id"], json!(v["runs"][4]["run_id"]));
    assert!(runs.iter().any(|r| r["run_id"] == json!(pull_run)));
    let out = env.run(&["status"], &[]).await;
    assert!(out.stdout.contains("succeeded"), "{}", out.stdout);

    let out = env
        .run(&["--json", "audit", "--run", &push_run, "--key", &key], &[])
        .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let entries = out.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "update");
    assert_eq!(entries[0]["direction"], "push");
    let out = env
        .run(
            &["--json", "audit", "--entity", "contacts", "--since", "1h"],
            &[],
        )
        .await;
    assert!(out.json()["entries"].as_array().unwrap().len() >= planned);
    let out = env
        .run(&["--json", "audit", "--until", "2000-01-01"], &[])
        .await;
    assert_eq!(out.json()["entries"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_a_bad_record_exits_with_partial_failure() {
    let env = Env::start(0).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);
    {
        let store = FileStore::open(env.data_dir()).unwrap();
        store
            .upsert(
                "contacts",
                "good",
                json!({"id": "good", "full_name": "ada lovelace", "email": "ada@example.com"}),
            )
            .unwrap();
        // The mapping requires an email.
        store
            .upsert(
                "contacts",
                "bad",
                json!({"id": "bad", "full_name": "no email"}),
            )
            .unwrap();
    }
    let out = env.run(&["--json", "push"], &[]).await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["status"], "partially_failed");
    let failures = v["report"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["local_key"], "bad");
    assert_eq!(env.sim.handle().count("people"), 1);

    // Human output: the table and the failure, same exit code.
    FileStore::open(env.data_dir())
        .unwrap()
        .upsert("contacts", "bad2", json!({"id": "bad2", "email": ""}))
        .unwrap();
    let out = env.run(&["push"], &[]).await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("partially failed"), "{}", out.stdout);
    assert!(out.stdout.contains("key=bad2"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_name_the_file_or_variable_and_the_key() {
    let env = Env::start(0).await;
    let path = env.config_path();
    let path_s = path.display().to_string();

    env.write_config(&format!(
        "[twenty]\nurl = \"{}\"\n[sink]\nkind = \"s3\"\n",
        env.sim.base_url()
    ));
    let out = env.run(&["status"], &[]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(&path_s), "{}", out.stderr);
    assert!(out.stderr.contains("`sink.kind`"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("expected one of `file`, `postgres`, `bigquery`"),
        "{}",
        out.stderr
    );

    env.write_config("[policies]\nbatch_size = \"lots\"\n");
    let out = env.run(&["--json", "status"], &[]).await;
    assert_eq!(out.code, 2);
    let v = out.json();
    assert_eq!(v["error"]["kind"], "config");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&path_s) && msg.contains("`policies.batch_size`"),
        "{msg}"
    );

    env.write_config("[twenty]\nurl = \"not a url\"\n");
    let out = env.run(&["verify"], &[]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`twenty.url`"), "{}", out.stderr);

    // An override is blamed on its variable or flag, not on the file.
    env.write_config("");
    let out = env
        .run(&["status"], &[("TWENTY_SYNC_BATCH_SIZE", "999")])
        .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("environment variable TWENTY_SYNC_BATCH_SIZE"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("expected 1..=200"), "{}", out.stderr);
    let out = env
        .run(&["--set", "schedule.interval_secs=0", "status"], &[])
        .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("flag --set"), "{}", out.stderr);

    // No URL anywhere: says where to set it.
    let out = env.run(&["verify"], &[]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("TWENTY_API_URL"), "{}", out.stderr);

    // A missing file is named.
    let out = env
        .run_raw(&["-c", "/nonexistent/tw.toml", "status"], &[])
        .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("/nonexistent/tw.toml"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_flags_override_the_file_and_secrets_stay_out_of_logs() {
    let env = Env::start(3).await;
    // No URL in the file: it comes from TWENTY_API_URL; the key from TWENTY_API_KEY.
    env.write_config("");
    let url = env.sim.base_url().to_string();
    let out = env
        .run(&["-vvv", "--json", "setup"], &[("TWENTY_API_URL", &url)])
        .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // A flag wins over the environment: a dead URL via --url must fail to connect.
    let out = env
        .run(
            &[
                "--url",
                "http://127.0.0.1:9/",
                "--set",
                "twenty.max_retries=0",
                "verify",
            ],
            &[("TWENTY_API_URL", &url)],
        )
        .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // --data-dir moves the store.
    let other = env.dir.path().join("elsewhere");
    let out = env
        .run(
            &["--json", "--data-dir", other.to_str().unwrap(), "pull"],
            &[("TWENTY_API_URL", &url)],
        )
        .await;
    assert!(
        out.code == 0 || out.code == 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(local_count(&other), 3);
    assert_eq!(local_count(&env.data_dir()), 0);

    // A wrong key fails with exit 1 and a message naming the problem, not the key.
    let out = env
        .run(
            &["verify"],
            &[("TWENTY_API_URL", &url), ("TWENTY_API_KEY", "wrong-key-zz")],
        )
        .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("wrong-key-zz"), "{}", out.stderr);
    // No key at all: the secret and the providers are named.
    let mut cmd = Command::new(BIN);
    cmd.arg("-c")
        .arg(env.config_path())
        .arg("verify")
        .env_remove("TWENTY_API_KEY")
        .env("TWENTY_API_URL", &url);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("TWENTY_API_KEY"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_runs_on_its_schedule_and_prints_one_json_line_per_run() {
    let env = Env::start(4).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);
    let out = env
        .run(
            &[
                "--json",
                "watch",
                "--mode",
                "pull",
                "--interval",
                "1",
                "--max-runs",
                "2",
            ],
            &[],
        )
        .await;
    assert!(
        out.code == 0 || out.code == 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    let runs: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(runs.len(), 2, "{}", out.stdout);
    assert!(runs.iter().all(|r| r["command"] == "pull"));
    // The second run finds nothing new.
    assert_eq!(runs[1]["report"]["entities"]["contacts:pull"]["created"], 0);
    assert_eq!(local_count(&env.data_dir()), 4);

    let out = env.run(&["watch", "--mode", "sideways"], &[]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("flag --mode"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_connection_string_never_reaches_the_output() {
    let env = Env::start(0).await;
    env.write_config(
        "[sink]\nkind = \"postgres\"\n[sink.postgres]\nstate_schema = \"cli_never_created\"\n\
         [[sink.postgres.entity]]\nentity = \"contacts\"\ntable = \"contacts\"\nkey_column = \"id\"\n",
    );
    // Port 1: nothing listens; the error must name the problem without the URL's password.
    let url = "postgres://sync:pg-pass-91f2@127.0.0.1:1/crm";
    for args in [&["-vvv", "status"][..], &["--json", "audit"][..]] {
        let out = env.run(args, &[("DATABASE_URL", url)]).await;
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains("PostgreSQL sink"), "{all}");
        assert!(!all.contains("pg-pass-91f2"), "password leaked: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_twenty_exits_1_and_its_report_is_saved_as_failed() {
    let env = Env::start(3).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);
    env.sim.set_faults(twenty_sim::Faults {
        server_error_fraction: 1.0,
        ..Default::default()
    });
    let out = env
        .run(&["--json", "--set", "twenty.max_retries=0", "pull"], &[])
        .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["kind"], "Twenty");
    assert_eq!(v["report"]["status"], "failed");
    let run_id = v["report"]["run_id"].as_str().unwrap().to_owned();
    env.sim.set_faults(twenty_sim::Faults::none());

    let out = env.run(&["status"], &[]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(&run_id), "{}", out.stdout);
    assert!(out.stdout.contains("last error:"), "{}", out.stdout);
    // Run again: it resumes and succeeds.
    let out = env.run(&["--json", "pull"], &[]).await;
    assert!(
        out.code == 0 || out.code == 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(local_count(&env.data_dir()), 3);
}

/// POSTs `body` to `http://addr/webhooks/twenty` with Twenty's headers; returns status and body.
async fn deliver(addr: &str, timestamp: &str, signature: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /webhooks/twenty HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Twenty-Webhook-Timestamp: {timestamp}\r\nX-Twenty-Webhook-Signature: {signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let status = resp[9..12].parse().unwrap();
    let json = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b.trim()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_listen_applies_signed_webhooks_and_rejects_forged_ones() {
    use std::io::{BufRead, BufReader};
    let env = Env::start(2).await;
    assert_eq!(env.run(&["setup"], &[]).await.code, 0);
    assert!(matches!(env.run(&["pull"], &[]).await.code, 0 | 3));
    let secret = "whsec-cli-test-0b9d";
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(env.config_path())
        .args([
            "--json",
            "watch",
            "--mode",
            "pull",
            "--interval",
            "60",
            "--max-runs",
            "2",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .env("TWENTY_API_KEY", KEY)
        .env("TWENTY_WEBHOOK_SECRET", secret)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first: Value = serde_json::from_str(&rx.recv().await.expect("a first line")).unwrap();
    let addr = first["listening"]
        .as_str()
        .expect("listening address")
        .to_owned();
    let run: Value = serde_json::from_str(&rx.recv().await.expect("the first run")).unwrap();
    assert_eq!(run["command"], "pull");

    // A change in Twenty, delivered as Twenty signs it.
    let id = env.sim.handle().records("people")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = env
        .sim
        .handle()
        .update_record("people", &id, json!({"jobTitle": "Webhook Engineer"}))
        .unwrap();
    let body = json!({
        "eventName": "person.updated",
        "objectMetadata": {"id": "obj-person", "nameSingular": "person"},
        "webhookId": "wh-cli-test",
        "eventDate": chrono::Utc::now().to_rfc3339(),
        "record": record,
        "updatedFields": ["jobTitle"],
    })
    .to_string();
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let sig = twenty_sim::sign_webhook(secret, &ts, body.as_bytes());

    let (status, v) = deliver(&addr, &ts, "0000", &body).await;
    assert_eq!(status, 401, "a forged delivery: {v}");
    let (status, v) = deliver(&addr, &ts, &sig, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome"], "applied", "{v}");
    let (status, v) = deliver(&addr, &ts, &sig, &body).await;
    assert_eq!(
        (status, v["outcome"].as_str()),
        (200, Some("duplicate")),
        "{v}"
    );

    let _ = child.kill();
    let _ = child.wait();
    let store = FileStore::open(env.data_dir()).unwrap();
    let rec = store
        .local_records("contacts")
        .unwrap()
        .into_iter()
        .find(|r| r.key == id)
        .expect("the pulled contact");
    assert_eq!(rec.data["title"], "Webhook Engineer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_can_come_from_a_secrets_directory_under_an_alias() {
    let env = Env::start(0).await;
    let secrets = env.dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("twenty-crm-key"), format!("{KEY}\n")).unwrap();
    env.write_config(&format!(
        "[twenty]\nurl = \"{}\"\napi_key_secret = \"crm-key\"\n\
         [secrets]\nproviders = [\"file\"]\ndir = \"secrets\"\n\
         [secrets.aliases]\ncrm-key = [\"twenty-crm-key\"]\n",
        env.sim.base_url()
    ));
    let mut cmd = Command::new(BIN);
    cmd.arg("-c")
        .arg(env.config_path())
        .args(["--json", "verify"])
        .env_remove("TWENTY_API_KEY")
        .env_remove("CRM_KEY");
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    // Not ready (setup not run) but authenticated: the schema was read with the file's key.
    assert_eq!(
        o.status.code(),
        Some(4),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("people.relationshipStage"), "{stdout}");
    assert!(!stdout.contains(KEY));
}
