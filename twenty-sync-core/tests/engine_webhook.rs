//! Webhook deliveries: valid, forged, stale, duplicate, destroyed; polling loop.

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use engine_support::*;
use secrecy::SecretString;
use serde_json::json;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{RunOptions, SyncEngine, SyncErrorKind, WebhookOutcome};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{RunMode, StateStoreExt};

const SECRET: &str = "whsec-test";

fn sign(ts: &str, body: &[u8]) -> String {
    webhook_signature(SECRET, ts, body)
}

fn webhook_engine(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
) -> Engine {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .webhook_secret(SecretString::from(SECRET))
        .build()
        .unwrap()
}

#[tokio::test]
async fn valid_delivery_is_applied_once_and_replays_are_dropped() {
    let sim = sim(1).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = webhook_engine(&sim, &source, &state);
    let rec = sim.handle().records("people")[0].clone();
    let body = delivery("person.created", rec.clone());
    let ts = Utc::now().timestamp_millis().to_string();
    let out = engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect("valid");
    let WebhookOutcome::Applied(report) = out else {
        panic!("not applied: {out:?}")
    };
    assert_eq!(report.entities["contacts:pull"].created, 1);
    assert_eq!(source.records(ENTITY).len(), 1);
    // The exact same delivery again: a duplicate.
    let again = engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect("dup");
    assert_eq!(again, WebhookOutcome::Duplicate);
    // The reconcile poll sees the same record: nothing to write (idempotent with polling).
    let poll = engine.pull(RunOptions::new()).await.expect("poll");
    assert_eq!(
        poll.entities["contacts:pull"].created,
        0,
        "{}",
        poll.summary()
    );
    assert_eq!(
        poll.entities["contacts:pull"].updated,
        0,
        "{}",
        poll.summary()
    );
}

#[tokio::test]
async fn forged_and_stale_deliveries_are_rejected_and_write_nothing() {
    let sim = sim(1).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = webhook_engine(&sim, &source, &state);
    let rec = sim.handle().records("people")[0].clone();
    let body = delivery("person.created", rec);
    let ts = Utc::now().timestamp_millis().to_string();
    let mut altered = body.clone();
    altered.extend_from_slice(b" ");
    let forged = engine
        .handle_webhook(&ts, &sign(&ts, &body), &altered)
        .await
        .expect_err("forged");
    assert_eq!(forged.kind(), SyncErrorKind::WebhookRejected);
    let wrong_key = hmac_sha256(b"not-the-secret", format!("{ts}:").as_bytes());
    assert!(engine.handle_webhook(&ts, &wrong_key, &body).await.is_err());
    let old = (Utc::now() - chrono::Duration::hours(1))
        .timestamp_millis()
        .to_string();
    let stale = engine
        .handle_webhook(&old, &sign(&old, &body), &body)
        .await
        .expect_err("stale");
    assert_eq!(stale.kind(), SyncErrorKind::WebhookRejected);
    // Every delivery refused this way may mean Twenty's clock is off: the error says where to look.
    assert!(
        stale
            .to_string()
            .contains("Twenty's clock and this host's out of step"),
        "{stale}"
    );
    assert!(!stale.to_string().contains(SECRET));
    assert!(source.records(ENTITY).is_empty());
}

/// Twenty signs its deliveries with its own clock. With that clock ten minutes behind this host's,
/// a fresh delivery looks ten minutes old here: refused while the engine has no answer from
/// Twenty, accepted once an answer's `Date` header has shown the difference. A forged delivery is
/// still refused for its signature, and one too old on both clocks as stale.
#[tokio::test]
async fn deliveries_signed_on_a_twenty_clock_behind_pass_once_its_answers_show_the_difference() {
    let sim = SimServer::start(
        SimConfig::new(KEY)
            .seed_people(1)
            .rate_limit(None)
            .clock_offset(chrono::TimeDelta::minutes(-10)),
    )
    .await
    .expect("simulator starts");
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = webhook_engine(&sim, &source, &state);
    let body = delivery("person.created", sim.handle().records("people")[0].clone());
    let ts = (Utc::now() - chrono::TimeDelta::minutes(10))
        .timestamp_millis()
        .to_string();
    let refused = engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect_err("no answer from Twenty yet: only this host's clock to go by");
    assert!(refused.to_string().contains("out of step"), "{refused}");
    assert!(source.records(ENTITY).is_empty());

    // Any answer will do; a dry run writes nothing.
    engine
        .pull(RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert!(source.records(ENTITY).is_empty());
    let outcome = engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect("fresh on Twenty's clock");
    assert!(matches!(outcome, WebhookOutcome::Applied(_)), "{outcome:?}");
    assert_eq!(source.records(ENTITY).len(), 1);

    let mut altered = body.clone();
    altered.push(b' ');
    let forged = engine
        .handle_webhook(&ts, &sign(&ts, &body), &altered)
        .await
        .expect_err("forged");
    assert!(
        forged.to_string().contains("signature does not match"),
        "{forged}"
    );
    let old = (Utc::now() - chrono::TimeDelta::minutes(70))
        .timestamp_millis()
        .to_string();
    let stale = engine
        .handle_webhook(&old, &sign(&old, &body), &body)
        .await
        .expect_err("an hour old on Twenty's clock too");
    assert!(stale.to_string().contains("out of step"), "{stale}");
}

#[tokio::test]
async fn destroyed_and_stale_updates_are_handled_by_the_pull_path() {
    let sim = sim(1).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = webhook_engine(&sim, &source, &state);
    engine.pull(RunOptions::new()).await.expect("pull");
    let rec = sim.handle().records("people")[0].clone();
    let id = rec["id"].as_str().unwrap().to_owned();
    // An older version of the record delivered late does not overwrite newer data.
    let mut older = rec.clone();
    older["updatedAt"] = json!("2000-01-01T00:00:00.000Z");
    older["jobTitle"] = json!("Ancient");
    let body = delivery("person.updated", older);
    let ts = Utc::now().timestamp_millis().to_string();
    engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect("applied");
    let key = state
        .record_by_twenty_id(ENTITY, &id)
        .await
        .unwrap()
        .unwrap()
        .local_key;
    assert_ne!(
        source.record(ENTITY, &key).unwrap().data["title"],
        "Ancient"
    );
    // person.destroyed deletes locally.
    sim.handle().destroy_record("people", &id);
    let body = delivery("person.destroyed", rec);
    let out = engine
        .handle_webhook(&ts, &sign(&ts, &body), &body)
        .await
        .expect("destroyed");
    assert!(matches!(out, WebhookOutcome::Applied(_)), "{out:?}");
    assert!(source.records(ENTITY).is_empty());
}

#[tokio::test]
async fn polling_runs_until_shutdown() {
    let sim = sim(3).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    let runs = engine
        .run_polling(
            RunMode::Pull,
            Duration::from_millis(20),
            tokio::time::sleep(Duration::from_millis(110)),
        )
        .await;
    assert!(runs >= 2, "{runs} runs");
    assert_eq!(source.records(ENTITY).len(), 3);
}

/// An empty webhook secret (an empty secret file, an unset variable) would let anyone sign a
/// delivery: it is a configuration error, and nothing is written.
#[tokio::test]
async fn an_empty_webhook_secret_is_refused_and_writes_nothing() {
    let sim = sim(1).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    for empty in ["", " \n"] {
        let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts()))
            .webhook_secret(SecretString::from(empty))
            .build()
            .unwrap();
        let body = delivery("person.created", sim.handle().records("people")[0].clone());
        let ts = Utc::now().timestamp_millis().to_string();
        // Signed with the empty key, as a forger would.
        let forged = webhook_signature(empty, &ts, &body);
        let err = engine
            .handle_webhook(&ts, &forged, &body)
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), SyncErrorKind::Config, "{err}");
        assert!(err.to_string().contains("webhook secret is empty"), "{err}");
        assert!(source.records(ENTITY).is_empty());
    }
}

/// A local edit not pushed yet, then a delivery of Twenty's change to the same record. With
/// `webhook_mode(Sync)` (an engine that syncs both ways) the delivery resolves the two with the
/// conflict policy, as a sync run would: under `local_wins` the local edit stays and the next
/// push sends it. With the default (`Pull`) Twenty's values are written over it, as a pull run
/// does, and the push then has nothing to send: either way both sides agree.
#[tokio::test]
async fn a_delivery_meets_a_local_edit_as_the_engines_runs_would() {
    use twenty_sync_core::engine::ConflictPolicy;
    for (mode, expected) in [(RunMode::Sync, "Local"), (RunMode::Pull, "Twenty")] {
        let sim = sim(0).await;
        let (source, state) = (MemorySource::new(), MemoryState::new());
        let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .entity(Arc::new(contacts().on_conflict(ConflictPolicy::LocalWins)))
            .webhook_secret(SecretString::from(SECRET))
            .webhook_mode(mode)
            .build()
            .unwrap();
        source.upsert(ENTITY, "k1", person("ada@example.com", "Ada", "Before"));
        engine.push(RunOptions::new()).await.expect("first push");
        let id = state.record(ENTITY, "k1").await.unwrap().unwrap().twenty_id;
        source.upsert(ENTITY, "k1", person("ada@example.com", "Ada", "Local"));
        let updated = sim
            .handle()
            .update_record("people", &id, json!({"jobTitle": "Twenty"}))
            .expect("updated in Twenty");
        let body = delivery("person.updated", updated);
        let ts = Utc::now().timestamp_millis().to_string();
        let out = engine
            .handle_webhook(&ts, &sign(&ts, &body), &body)
            .await
            .expect("delivered");
        assert!(
            matches!(out, WebhookOutcome::Applied(_)),
            "{mode:?}: {out:?}"
        );
        assert_eq!(
            source.records(ENTITY)[0].data["title"],
            expected,
            "{mode:?}"
        );
        engine.push(RunOptions::new()).await.expect("push");
        assert_eq!(
            sim.handle().record("people", &id).unwrap()["jobTitle"],
            expected,
            "{mode:?}: Twenty and the local record disagree"
        );
    }
}
