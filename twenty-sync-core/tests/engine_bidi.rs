//! Bidirectional sync: each conflict policy, per-field policies, field ownership.

mod engine_support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use engine_support::*;
use serde_json::{Value, json};
use twenty_sync_core::engine::{ConflictPolicy, FieldMap, FieldOwner, RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{AuditAction, AuditQuery, RunMode, StateStore, StateStoreExt};

fn map(policy: ConflictPolicy) -> FieldMap {
    FieldMap::new(ENTITY, "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("title", "jobTitle")
        .match_key("emails.primaryEmail")
        .on_conflict(policy)
}

struct Setup {
    sim: twenty_sim::SimServer,
    source: MemorySource,
    state: MemoryState,
    id: String,
}

/// One record synced to both sides, then edited on both sides (local first, Twenty second,
/// unless `local_later`).
async fn conflicting(
    mapping: FieldMap,
    local_later: bool,
) -> (Setup, SyncEngine<MemorySource, MemoryState>) {
    let local_offset = if local_later {
        Duration::hours(1)
    } else {
        -Duration::hours(1)
    };
    conflicting_on(sim(0).await, mapping, local_offset).await
}

/// One record synced through `sim` to both sides, then edited locally (stamped `local_offset`
/// from now) and in Twenty (now, by Twenty's own clock).
async fn conflicting_on(
    sim: twenty_sim::SimServer,
    mapping: FieldMap,
    local_offset: Duration,
) -> (Setup, SyncEngine<MemorySource, MemoryState>) {
    let (source, state) = (MemorySource::new(), MemoryState::new());
    source.upsert(
        ENTITY,
        "k",
        json!({"email": "c@example.com", "first": "Orig", "title": "Orig"}),
    );
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(mapping))
        .build()
        .unwrap();
    engine.sync(RunOptions::new()).await.expect("first sync");
    let id = state
        .record(ENTITY, "k")
        .await
        .unwrap()
        .expect("linked")
        .twenty_id;
    let local = json!({"email": "c@example.com", "first": "Local", "title": "Local"});
    source.upsert_at(ENTITY, "k", local, Utc::now() + local_offset);
    sim.handle()
        .update_record(
            "people",
            &id,
            json!({"name": {"firstName": "Twenty"}, "jobTitle": "Twenty"}),
        )
        .expect("edit in Twenty");
    (
        Setup {
            sim,
            source,
            state,
            id,
        },
        engine,
    )
}

fn sides(s: &Setup) -> (Value, Value, Value, Value) {
    let local = s.source.record(ENTITY, "k").expect("local").data;
    let tw = s.sim.handle().record("people", &s.id).expect("twenty");
    (
        local["first"].clone(),
        local["title"].clone(),
        tw["name"]["firstName"].clone(),
        tw["jobTitle"].clone(),
    )
}

async fn assert_conflict_audited(s: &Setup) {
    let audit = s.state.audit(&AuditQuery::default()).await.unwrap();
    let c = audit
        .iter()
        .find(|a| a.action == AuditAction::Conflict)
        .expect("conflict audited");
    assert!(c.changed_fields.contains(&"first".to_string()), "{c:?}");
    assert!(c.detail.as_deref().unwrap_or("").contains("wins"), "{c:?}");
}

#[tokio::test]
async fn twenty_wins_takes_twentys_values_on_both_sides() {
    let (s, engine) = conflicting(map(ConflictPolicy::TwentyWins), true).await;
    let r = engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 1, "{}", r.summary());
    assert_eq!(
        sides(&s),
        (
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty")
        )
    );
    assert_conflict_audited(&s).await;
}

#[tokio::test]
async fn local_wins_takes_local_values_on_both_sides() {
    let (s, engine) = conflicting(map(ConflictPolicy::LocalWins), false).await;
    engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(
        sides(&s),
        (
            json!("Local"),
            json!("Local"),
            json!("Local"),
            json!("Local")
        )
    );
    assert_conflict_audited(&s).await;
}

#[tokio::test]
async fn newest_wins_compares_modification_times() {
    let (s, engine) = conflicting(map(ConflictPolicy::NewestWins), false).await;
    engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(
        sides(&s),
        (
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty")
        )
    );

    let (s, engine) = conflicting(map(ConflictPolicy::NewestWins), true).await;
    engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(
        sides(&s),
        (
            json!("Local"),
            json!("Local"),
            json!("Local"),
            json!("Local")
        )
    );
}

/// `newest_wins` with Twenty's clock ten minutes off: one record synced, then edited locally
/// (stamped `local_offset` from now) and in Twenty (now, by Twenty's own clock); the sync run.
async fn newest_wins_across_clocks(
    twenty_clock: chrono::TimeDelta,
    local_offset: chrono::TimeDelta,
) -> (Value, Value, Value, Value) {
    let sim = twenty_sim::SimServer::start(
        twenty_sim::SimConfig::new(KEY)
            .rate_limit(None)
            .clock_offset(twenty_clock),
    )
    .await
    .expect("simulator starts");
    let (s, engine) = conflicting_on(sim, map(ConflictPolicy::NewestWins), local_offset).await;
    let r = engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 1, "{}", r.summary());
    sides(&s)
}

/// Twenty's stamps are moved onto this host's clock (by what its answers' `Date` headers show)
/// before `newest_wins` compares them: the edit made last wins whichever clock is off. Compared
/// as stamped, the local edit of a minute ago would beat Twenty's edit of now stamped ten minutes
/// early, and Twenty's ten minutes late would beat a local edit a minute from now.
#[tokio::test]
async fn newest_wins_compares_times_on_one_clock_when_twentys_is_off() {
    let (minute, ten) = (Duration::minutes(1), Duration::minutes(10));
    let all = |v: &str| (json!(v), json!(v), json!(v), json!(v));
    assert_eq!(
        newest_wins_across_clocks(-ten, -minute).await,
        all("Twenty")
    );
    assert_eq!(newest_wins_across_clocks(ten, minute).await, all("Local"));
}

#[tokio::test]
async fn field_policies_override_the_entity_policy() {
    let m = map(ConflictPolicy::TwentyWins).field_policy("first", ConflictPolicy::LocalWins);
    let (s, engine) = conflicting(m, false).await;
    engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(
        sides(&s),
        (
            json!("Local"),
            json!("Twenty"),
            json!("Local"),
            json!("Twenty")
        )
    );
}

#[tokio::test]
async fn owned_fields_are_only_written_by_their_owner() {
    let m = FieldMap::new(ENTITY, "people", "person")
        .field("email", "emails.primaryEmail")
        .owned_field("first", "name.firstName", FieldOwner::Local)
        .owned_field("title", "jobTitle", FieldOwner::Twenty)
        .on_conflict(ConflictPolicy::LocalWins);
    let (s, engine) = conflicting(m, true).await;
    engine.sync(RunOptions::new()).await.expect("sync");
    // first is owned locally: Twenty's edit is overwritten; title is owned by Twenty: the
    // local edit is overwritten, whatever the policy says.
    assert_eq!(
        sides(&s),
        (
            json!("Local"),
            json!("Twenty"),
            json!("Local"),
            json!("Twenty")
        )
    );
    let again = engine.sync(RunOptions::new()).await.expect("sync again");
    let t = again.totals();
    assert_eq!(
        (t.created, t.updated, t.conflicted),
        (0, 0, 0),
        "{}",
        again.summary()
    );
}

#[tokio::test]
async fn soft_deletes_propagate_both_ways() {
    let sim = sim(2).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    source.upsert(ENTITY, "mine", person("mine@example.com", "Mine", "T"));
    let engine = engine(&sim, &source, &state);
    engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(source.records(ENTITY).len(), 3);
    // Local delete → Twenty soft delete; Twenty soft delete → local delete.
    source.delete(ENTITY, "mine");
    let other = sim
        .handle()
        .records("people")
        .into_iter()
        .find(|p| p["emails"]["primaryEmail"] != "mine@example.com")
        .unwrap();
    sim.handle()
        .soft_delete_record("people", other["id"].as_str().unwrap())
        .unwrap();
    let r = engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().deleted, 2, "{}", r.summary());
    assert_eq!(source.records(ENTITY).len(), 1);
    assert_eq!(sim.handle().count("people"), 1);
    assert_eq!(local_emails(&source), twenty_emails(&sim));
}

/// A conflict settled on push (Twenty wins some fields): the winners come back to local with the
/// pull of the same run. A dry run must predict that pull write too, not count the record as
/// "our own push coming back" (issue 4: the dry run's plan is the real run's).
#[tokio::test]
async fn dry_run_of_a_conflict_plans_the_pull_of_twentys_winners() {
    let (s, engine) = conflicting(map(ConflictPolicy::NewestWins), false).await;
    let dry = engine
        .run(RunMode::Sync, RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    let real = engine
        .run(RunMode::Sync, RunOptions::new().keep_plan(true))
        .await
        .expect("real run");
    assert_eq!(
        sides(&s),
        (
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty"),
            json!("Twenty")
        )
    );
    assert_eq!(dry.plan.totals, real.plan.totals);
    assert_eq!(dry.plan.sorted(), real.plan.sorted());
}

/// A local edit not pushed yet, then a pull (a pull run, or a webhook) that writes Twenty's newer
/// values over it: the change feed still holds the edit as it was. The next push reads the record
/// as it is now, so it does not send the overwritten edit to Twenty, and both sides agree.
/// Before, the push sent the stale edit and stored its hash as Twenty's, the next pull skipped
/// the record, and the two sides kept different titles for good.
#[tokio::test]
async fn a_push_sends_the_record_as_it_is_not_an_edit_a_pull_overwrote_since() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine(&sim, &source, &state);
    source.upsert(ENTITY, "k1", person("ada@example.com", "Ada", "Before"));
    engine.push(RunOptions::new()).await.expect("first push");
    let id = state.record(ENTITY, "k1").await.unwrap().unwrap().twenty_id;
    // Edited locally (in the feed, not pushed yet), then in Twenty, and pulled.
    source.upsert(ENTITY, "k1", person("ada@example.com", "Ada", "Local"));
    sim.handle()
        .update_record("people", &id, json!({"jobTitle": "Twenty"}))
        .expect("updated in Twenty");
    engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(source.records(ENTITY)[0].data["title"], "Twenty");
    let r = engine.push(RunOptions::new()).await.expect("push");
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.unchanged), (0, 1), "{}", r.summary());
    let twenty = sim.handle().record("people", &id).unwrap();
    assert_eq!(
        twenty["jobTitle"], "Twenty",
        "the overwritten edit went to Twenty"
    );
    // And the next sync changes nothing: the sides agree.
    let again = engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(
        source.records(ENTITY)[0].data["title"],
        "Twenty",
        "{}",
        again.summary()
    );
    assert_eq!(
        sim.handle().record("people", &id).unwrap()["jobTitle"],
        "Twenty"
    );
}
