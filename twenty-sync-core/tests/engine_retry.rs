//! Failed records are retried by the next run of their entity and direction until they succeed
//! or change: the cursor moves past them, their keys stay in a retry set (nothing lost).

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine_support::*;
use serde_json::{Value, json};
use twenty_sync_core::engine::{
    ConflictPolicy, EntityMapper, FieldError, FieldMap, FieldSpec, Mapped, RunOptions, SyncEngine,
};
use twenty_sync_core::file::FileStore;
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{RunReport, StateStoreExt};

fn failed_keys(report: &RunReport) -> Vec<String> {
    let mut keys: Vec<String> = report
        .failures
        .iter()
        .filter_map(|f| f.local_key.clone())
        .collect();
    keys.sort();
    keys
}

fn twenty_title(sim: &twenty_sim::SimServer, email: &str) -> Option<Value> {
    sim.handle()
        .records("people")
        .into_iter()
        .find(|p| p["emails"]["primaryEmail"] == email)
        .map(|p| p["jobTitle"].clone())
}

/// The contacts mapping with a `city` field the 2.21.0 person schema lacks (Twenty rejects it),
/// and a validator rejecting the title "never" (a record that fails for good).
fn with_city() -> FieldMap {
    contacts()
        .field("city", "city")
        .validate("title", |v| match v.as_str() {
            Some("never") => Err("title `never` is not allowed".into()),
            _ => Ok(()),
        })
}

#[tokio::test]
async fn a_push_rejected_by_twenty_is_retried_after_the_cause_is_fixed() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let mut bad = person("bad@example.com", "Bad", "Rejected");
    bad["city"] = json!("Paris");
    source.upsert(ENTITY, "l-bad", bad);
    source.upsert(ENTITY, "l-never", person("never@example.com", "N", "never"));
    for i in 0..9 {
        let email = format!("ok{i}@example.com");
        source.upsert(ENTITY, &format!("l-ok{i}"), person(&email, "Ok", "T"));
    }
    let report = engine_with(&sim, &source, &state, with_city())
        .push(RunOptions::new())
        .await
        .expect("push");
    let c = &report.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (9, 2), "{}", report.summary());
    assert_eq!(failed_keys(&report), ["l-bad", "l-never"]);
    assert_eq!(twenty_emails(&sim).len(), 9, "the others are not blocked");

    // Nothing changed locally and the cause is still there: both fail again, nothing else runs.
    let report = engine_with(&sim, &source, &state, with_city())
        .push(RunOptions::new())
        .await
        .expect("second push");
    let c = &report.entities["contacts:push"];
    assert_eq!(
        (c.seen, c.created, c.failed),
        (2, 0, 2),
        "{}",
        report.summary()
    );
    assert_eq!(failed_keys(&report), ["l-bad", "l-never"]);

    // A dry run predicts the retry and keeps the set as it is.
    let fixed = || {
        contacts().validate("title", |v| match v.as_str() {
            Some("never") => Err("title `never` is not allowed".into()),
            _ => Ok(()),
        })
    };
    let dry = engine_with(&sim, &source, &state, fixed())
        .push(RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!(
        dry.entities["contacts:push"].created,
        1,
        "{}",
        dry.summary()
    );
    assert_eq!(twenty_emails(&sim).len(), 9, "a dry run writes nothing");

    // The operator drops the `city` field from the mapping; the record itself is untouched.
    let report = engine_with(&sim, &source, &state, fixed())
        .push(RunOptions::new())
        .await
        .expect("push after the fix");
    let c = &report.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (1, 1), "{}", report.summary());
    assert_eq!(failed_keys(&report), ["l-never"], "reported on every run");
    assert_eq!(
        twenty_title(&sim, "bad@example.com"),
        Some(json!("Rejected"))
    );
    assert!(state.record(ENTITY, "l-bad").await.unwrap().is_some());

    // Written once: the next run retries only the record that still fails.
    let report = engine_with(&sim, &source, &state, fixed())
        .push(RunOptions::new())
        .await
        .expect("push again");
    let c = &report.entities["contacts:push"];
    assert_eq!(
        (c.seen, c.created, c.failed),
        (1, 0, 1),
        "{}",
        report.summary()
    );
    assert_eq!(twenty_emails(&sim).len(), 10);

    // The failing record is fixed locally (a change): it is written and leaves the set.
    source.upsert(ENTITY, "l-never", person("never@example.com", "N", "Fine"));
    let report = engine_with(&sim, &source, &state, fixed())
        .push(RunOptions::new())
        .await
        .expect("push after the local fix");
    let c = &report.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (1, 0), "{}", report.summary());
    let report = engine_with(&sim, &source, &state, fixed())
        .push(RunOptions::new())
        .await
        .expect("quiet push");
    assert_eq!(
        report.entities["contacts:push"].seen,
        0,
        "{}",
        report.summary()
    );
    assert_eq!(twenty_emails(&sim).len(), 11);
    assert_linked(&sim, &source, &state).await;
}

#[tokio::test]
async fn a_failed_push_of_a_record_deleted_since_takes_the_delete_path() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let mut bad = person("gone@example.com", "Gone", "T");
    bad["city"] = json!("Paris");
    source.upsert(ENTITY, "l-gone", bad);
    let report = engine_with(&sim, &source, &state, with_city())
        .push(RunOptions::new())
        .await
        .expect("push");
    assert_eq!(report.entities["contacts:push"].failed, 1);
    source.delete(ENTITY, "l-gone");
    for _ in 0..2 {
        let report = engine(&sim, &source, &state)
            .push(RunOptions::new())
            .await
            .expect("push after the delete");
        let c = &report.entities["contacts:push"];
        assert_eq!((c.created, c.failed), (0, 0), "{}", report.summary());
    }
    assert!(twenty_emails(&sim).is_empty(), "never created");
}

#[tokio::test]
async fn the_retry_set_survives_reopening_a_file_store() {
    let sim = sim(0).await;
    let dir = tempfile::tempdir().unwrap();
    let open = || FileStore::open(dir.path()).expect("file store opens");
    let push = |map: FieldMap| {
        let store = open();
        let engine = SyncEngine::builder(client(&sim), store.clone(), store)
            .entity(Arc::new(map))
            .build()
            .expect("engine builds");
        async move { engine.push(RunOptions::new()).await.expect("push") }
    };
    {
        let store = open();
        let mut bad = person("bad@example.com", "Bad", "T");
        bad["city"] = json!("Paris");
        store.upsert(ENTITY, "l-bad", bad).unwrap();
        store
            .upsert(ENTITY, "l-ok", person("ok@example.com", "Ok", "T"))
            .unwrap();
    }
    let report = push(with_city()).await;
    assert_eq!(failed_keys(&report), ["l-bad"]);
    assert_eq!(twenty_emails(&sim), ["ok@example.com"]);
    let report = push(contacts()).await;
    let c = &report.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (1, 0), "{}", report.summary());
    assert_eq!(twenty_emails(&sim), ["bad@example.com", "ok@example.com"]);
}

/// The contacts mapping whose pull side fails for emails starting with `bad` while `broken` is set.
#[derive(Debug)]
struct Flaky {
    inner: FieldMap,
    broken: Arc<AtomicBool>,
}

impl EntityMapper for Flaky {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn twenty_object(&self) -> &str {
        self.inner.twenty_object()
    }
    fn twenty_object_singular(&self) -> &str {
        self.inner.twenty_object_singular()
    }
    fn match_keys(&self) -> &[String] {
        self.inner.match_keys()
    }
    fn conflict_policy(&self) -> ConflictPolicy {
        self.inner.conflict_policy()
    }
    fn fields(&self) -> &[FieldSpec] {
        self.inner.fields()
    }
    fn to_twenty(&self, local: &Value) -> Mapped {
        self.inner.to_twenty(local)
    }
    fn to_local(&self, twenty: &Value) -> Mapped {
        let mut mapped = self.inner.to_local(twenty);
        let email = twenty["emails"]["primaryEmail"].as_str().unwrap_or("");
        if self.broken.load(Ordering::SeqCst) && email.starts_with("bad") {
            mapped.errors.push(FieldError {
                field: "email".into(),
                reason: "rejected by a test validator".into(),
            });
        }
        mapped
    }
    fn local_key_of(&self, local: &Value) -> Option<String> {
        self.inner.local_key_of(local)
    }
}

#[tokio::test]
async fn a_pulled_record_that_fails_mapping_is_pulled_once_mapping_works() {
    let sim = sim(5).await;
    let bad = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Bad", "lastName": "Test"}, "emails": {"primaryEmail": "bad@example.com"}}),
    );
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let broken = Arc::new(AtomicBool::new(true));
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(Flaky {
            inner: contacts(),
            broken: broken.clone(),
        }))
        .batch_size(3)
        .build()
        .expect("engine builds");
    let report = engine.pull(RunOptions::new()).await.expect("pull");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.failed), (5, 1), "{}", report.summary());
    assert_eq!(
        report.failures[0].twenty_id.as_deref(),
        Some(bad_id.as_str())
    );

    // Still broken: reported again (the cursor has moved past it, the retry set has not).
    let report = engine.pull(RunOptions::new()).await.expect("pull again");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.failed), (0, 1), "{}", report.summary());

    // Fixed, with no change to the record in Twenty: a dry run predicts it, a real run pulls it.
    broken.store(false, Ordering::SeqCst);
    let dry = engine
        .pull(RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!(
        dry.entities["contacts:pull"].created,
        1,
        "{}",
        dry.summary()
    );
    assert_eq!(local_emails(&source).len(), 5);
    let report = engine
        .pull(RunOptions::new())
        .await
        .expect("pull after the fix");
    let c = &report.entities["contacts:pull"];
    assert_eq!((c.created, c.failed), (1, 0), "{}", report.summary());
    assert_eq!(local_emails(&source), twenty_emails(&sim));
    assert!(
        state
            .record_by_twenty_id(ENTITY, &bad_id)
            .await
            .unwrap()
            .is_some()
    );
    let report = engine.pull(RunOptions::new()).await.expect("quiet pull");
    let c = &report.entities["contacts:pull"];
    assert_eq!(
        (c.created, c.updated, c.failed),
        (0, 0, 0),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_crash_before_the_push_commit_loses_no_failure() {
    use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_BEFORE_STATE_COMMIT};
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let mut bad = person("bad@example.com", "Bad", "T");
    bad["city"] = json!("Paris");
    source.upsert(ENTITY, "l-bad", bad);
    source.upsert(ENTITY, "l-ok", person("ok@example.com", "Ok", "T"));
    let fp = Failpoints::new();
    fp.arm(PUSH_BEFORE_STATE_COMMIT, 1);
    let crashing = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(with_city()))
        .failpoints(fp)
        .build()
        .expect("engine builds");
    crashing
        .push(RunOptions::new())
        .await
        .expect_err("crashes before the commit");
    // Resumed with the cause still there: the failure is reported once and kept.
    let report = engine_with(&sim, &source, &state, with_city())
        .push(RunOptions::new())
        .await
        .expect("resumed push");
    assert_eq!(failed_keys(&report), ["l-bad"], "{}", report.summary());
    assert_eq!(twenty_emails(&sim), ["ok@example.com"]);
    let report = engine(&sim, &source, &state)
        .push(RunOptions::new())
        .await
        .expect("push after the fix");
    assert_eq!(
        report.entities["contacts:push"].created,
        1,
        "{}",
        report.summary()
    );
    assert_eq!(twenty_emails(&sim), ["bad@example.com", "ok@example.com"]);
    assert_linked(&sim, &source, &state).await;
}
