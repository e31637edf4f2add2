//! `crash-child`: a hidden helper binary of the crash-resume harness
//! (`examples/tests/reliability_crash.rs`). It is not a user-facing tool.
//!
//! One invocation runs a **push** and then a **pull** of the `contacts` entity between a Twenty
//! server (in the harness: a `twenty-sim` living in the test process, so it outlives this child)
//! and PostgreSQL (sink-postgres as both the source of truth and the state store). The harness
//! kills it (`SIGKILL`) at seeded points, or asks it to kill itself, and starts it again until it
//! reports `crash-child: done`.
//!
//! ```text
//! crash-child --twenty-url URL --prefix SCHEMA_PREFIX [--batch-size N] [--setup-only]
//!             [--abort-after-events K] [--abort-at-failpoint-hit H [--failpoint-phase P]]
//! environment: TWENTY_API_KEY (required), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
//! ```
//!
//! - `--setup-only`: create the state schema, the table `<prefix>_data.contacts (id, email,
//!   first, last, title, updated_at, deleted_at)` and its capture trigger, then exit (the harness
//!   then inserts the local records, which the trigger captures for the push).
//! - `--abort-after-events K`: `std::process::abort()` inside the engine's progress callback at
//!   the K-th progress event (a real abrupt death: no destructor, no lease release, no report).
//! - `--abort-at-failpoint-hit H [--failpoint-phase push|pull|any|NAME]`: arms the engine
//!   failpoints (`twenty_sync_core::engine::failpoints::ALL`) of the phase, or the one named, to
//!   fire at their H-th visit; the
//!   first one that fires aborts the process (pull points at their first visit: with
//!   sink-postgres only `pull.before_cursor_commit` is reached, once per pull). With `push` (or a
//!   push point's name), the pull's points are armed once the
//!   push has finished without a crash (so a crash still happens while work remains); with
//!   `pull`, the push runs to completion first; `any` (the default) arms all of them.
//!
//! Exit status: 0 when both runs finished without record failures, 2 on a run-level error
//! (printed, secrets redacted by the libraries), 3 when records failed, 64 on bad usage.
//! Built only with the `postgres` feature of `examples` (on by default).

#[cfg(feature = "postgres")]
mod child {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use secrecy::SecretString;
    use sink_postgres::{ColumnType, EntityTable, PostgresSink, SinkConfig};
    use twenty_client::{Client, RetryPolicy};
    use twenty_sync_core::engine::{
        FieldMap, ProgressEvent, ProgressSink, RunOptions, SyncEngine, SyncErrorKind, failpoints,
    };

    /// The entity name used by the harness.
    const ENTITY: &str = "contacts";

    struct Args {
        twenty_url: url::Url,
        prefix: String,
        batch_size: usize,
        abort_after_events: Option<u64>,
        abort_at_failpoint_hit: Option<u32>,
        failpoint_phase: String,
        setup_only: bool,
    }

    fn usage(msg: &str) -> ! {
        eprintln!(
            "crash-child: {msg}\nusage: crash-child --twenty-url URL --prefix SCHEMA_PREFIX \
             [--batch-size N] [--setup-only] [--abort-after-events K] \
             [--abort-at-failpoint-hit H [--failpoint-phase push|pull|any|NAME]]\n\
             (a helper of examples/tests/reliability_crash.rs; TWENTY_API_KEY must be set)"
        );
        std::process::exit(64)
    }

    fn parse_args() -> Args {
        let mut twenty_url = None;
        let mut prefix = None;
        let mut batch_size = 100;
        let mut abort_after_events = None;
        let mut abort_at_failpoint_hit = None;
        let mut setup_only = false;
        let mut failpoint_phase = "any".to_owned();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--twenty-url" => {
                    let v = value();
                    twenty_url = Some(
                        v.parse()
                            .unwrap_or_else(|e| usage(&format!("bad --twenty-url: {e}"))),
                    )
                }
                "--prefix" => prefix = Some(value()),
                "--setup-only" => setup_only = true,
                "--failpoint-phase" => {
                    failpoint_phase = value();
                    let known = ["push", "pull", "any"].contains(&failpoint_phase.as_str())
                        || failpoints::ALL.contains(&failpoint_phase.as_str());
                    if !known {
                        usage("--failpoint-phase takes push, pull, any or a failpoint name");
                    }
                }
                "--batch-size" => {
                    batch_size = value()
                        .parse()
                        .unwrap_or_else(|e| usage(&format!("bad --batch-size: {e}")))
                }
                "--abort-after-events" => {
                    abort_after_events = Some(
                        value()
                            .parse()
                            .unwrap_or_else(|e| usage(&format!("bad --abort-after-events: {e}"))),
                    )
                }
                "--abort-at-failpoint-hit" => {
                    abort_at_failpoint_hit =
                        Some(value().parse().unwrap_or_else(|e| {
                            usage(&format!("bad --abort-at-failpoint-hit: {e}"))
                        }))
                }
                other => usage(&format!("unknown argument `{other}`")),
            }
        }
        Args {
            twenty_url: twenty_url.unwrap_or_else(|| usage("--twenty-url is required")),
            prefix: prefix.unwrap_or_else(|| usage("--prefix is required")),
            batch_size,
            abort_after_events,
            abort_at_failpoint_hit,
            failpoint_phase,
            setup_only,
        }
    }

    /// The local table of the harness: `<prefix>_data.contacts (id, email, first, last, title)`.
    fn table(prefix: &str) -> EntityTable {
        EntityTable::default_table(
            ENTITY,
            &format!("{prefix}_data"),
            "id",
            [
                ("email", ColumnType::Text),
                ("first", ColumnType::Text),
                ("last", ColumnType::Text),
                ("title", ColumnType::Text),
            ],
        )
    }

    /// The sink config of the harness (state in `<prefix>_state`).
    fn sink_config(prefix: &str) -> SinkConfig {
        SinkConfig {
            state_schema: format!("{prefix}_state"),
            max_connections: 4,
            ..SinkConfig::default()
        }
    }

    fn mapping() -> FieldMap {
        FieldMap::new(ENTITY, "people", "person")
            .field("email", "emails.primaryEmail")
            .field("first", "name.firstName")
            .field("last", "name.lastName")
            .field("title", "jobTitle")
            .match_key("emails.primaryEmail")
    }

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    pub async fn main() -> i32 {
        let args = parse_args();
        let Ok(key) = std::env::var("TWENTY_API_KEY") else {
            usage("TWENTY_API_KEY is not set")
        };
        let sink = match PostgresSink::builder(sink_config(&args.prefix))
            .connection_string(SecretString::from(database_url()))
            .entity(table(&args.prefix))
            .build()
            .await
        {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("crash-child: cannot open PostgreSQL: {e}");
                return 2;
            }
        };
        if args.setup_only {
            println!("crash-child: setup done");
            return 0;
        }
        let client = match Client::builder(args.twenty_url.clone(), SecretString::from(key))
            .no_rate_limit()
            .retry_policy(RetryPolicy {
                max_retries: 6,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(50),
                max_internal_error_retries: 6,
            })
            .page_size(200)
            .batch_size(args.batch_size.clamp(1, 200))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("crash-child: bad Twenty client settings: {e}");
                return 2;
            }
        };
        let events = Arc::new(AtomicU64::new(0));
        let limit = args.abort_after_events;
        let counter = Arc::clone(&events);
        let progress = ProgressSink::new(move |e: &ProgressEvent| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if limit == Some(n) {
                eprintln!("crash-child: aborting at progress event {n} ({e:?})");
                std::process::abort();
            }
        });
        let engine = match SyncEngine::builder(client, Arc::clone(&sink), Arc::clone(&sink))
            .entity(Arc::new(mapping()))
            .batch_size(args.batch_size)
            // One holder id across restarts: a restarted child takes over its dead
            // predecessor's lease at once instead of waiting for it to expire.
            .lease(Duration::from_secs(60), "crash-child")
            .progress(progress)
            .build()
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("crash-child: engine configuration: {e}");
                return 2;
            }
        };
        let arm = |phase: &str| {
            if let Some(hit) = args.abort_at_failpoint_hit {
                engine.failpoints().clear();
                for point in failpoints::ALL {
                    // A phase (`push`, `pull`, `any`) arms its points; a full name arms one.
                    let chosen = if phase.contains('.') {
                        *point == phase
                    } else {
                        phase == "any" || point.starts_with(&format!("{phase}."))
                    };
                    if chosen {
                        // With sink-postgres a pulled page and its state commit together, so the
                        // only pull point visited is `pull.before_cursor_commit`, once per pull:
                        // pull points are armed for their first visit.
                        let hit = if point.starts_with("pull.") { 1 } else { hit };
                        engine.failpoints().arm(point, hit);
                    }
                }
            }
        };
        arm(args.failpoint_phase.as_str());
        let mut summaries = Vec::new();
        for (name, push) in [("push", true), ("pull", false)] {
            if !push && args.failpoint_phase.starts_with("push") {
                arm("pull");
            }
            let res = if push {
                engine.push(RunOptions::new()).await
            } else {
                engine.pull(RunOptions::new()).await
            };
            match res {
                Ok(report) => {
                    if !report.failures.is_empty() {
                        eprintln!(
                            "crash-child: {name} finished with failed records: {}",
                            report.summary()
                        );
                        return 3;
                    }
                    summaries.push(format!("{name}: {}", report.summary()));
                }
                Err(e) if e.kind() == SyncErrorKind::Failpoint => {
                    eprintln!("crash-child: {e}; aborting like a crash");
                    std::process::abort();
                }
                Err(e) => {
                    eprintln!("crash-child: {name} failed: {e}");
                    return 2;
                }
            }
        }
        println!(
            "crash-child: done; events={}; {}",
            events.load(Ordering::SeqCst),
            summaries.join("; ")
        );
        0
    }
}

#[cfg(feature = "postgres")]
#[tokio::main]
async fn main() {
    std::process::exit(child::main().await);
}

#[cfg(not(feature = "postgres"))]
fn main() {
    eprintln!("crash-child needs the `postgres` feature of the examples crate");
    std::process::exit(64);
}
