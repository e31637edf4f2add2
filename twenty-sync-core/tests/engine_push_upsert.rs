//! The two match strategies of a push: `Lookup` (natural-key list request, then patch or create)
//! and `Upsert` (one batch upsert, no lookup). Both adopt an existing Twenty record with the same
//! email (any case) instead of duplicating it; the upsert also revives a soft-deleted match,
//! survives a crash between Twenty's write and the state commit, and its dry run predicts it.

mod engine_support;

use std::sync::Arc;

use engine_support::*;
use serde_json::{Value, json};
use twenty_sim::SimServer;
use twenty_sync_core::engine::{
    EngineConfig, MatchStrategy, PlannedAction, RunOptions, SyncEngine, SyncErrorKind, failpoints,
};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{RunMode, StateStoreExt};

fn engine_using(
    sim: &SimServer,
    source: &MemorySource,
    state: &MemoryState,
    strategy: MatchStrategy,
) -> Engine {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .config(EngineConfig {
            match_strategy: strategy,
            ..EngineConfig::default()
        })
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .build()
        .expect("engine builds")
}

/// Requests per route since the last reset: (GETs, batch creates/upserts, other writes).
fn routes(sim: &SimServer) -> (u64, u64, u64) {
    let stats = sim.stats();
    let count = |f: &dyn Fn(&str) -> bool| -> u64 {
        stats
            .by_route
            .iter()
            .filter(|(r, _)| f(r))
            .map(|(_, n)| n)
            .sum()
    };
    (
        count(&|r| r.starts_with("GET ")),
        count(&|r| r == "POST /rest/batch/{plural}"),
        count(&|r| !r.starts_with("GET ") && r != "POST /rest/batch/{plural}"),
    )
}

/// Ada exists in Twenty (stored lower-case); the source has her in upper case plus `n` others.
fn scenario(sim: &SimServer, source: &MemorySource, n: usize) -> String {
    let ada = sim.handle().insert_record(
        "people",
        json!({"name": {"firstName": "Ada", "lastName": "Lovelace"},
               "emails": {"primaryEmail": "ada.lovelace@example.com", "additionalEmails": []},
               "jobTitle": "Countess"}),
    );
    source.upsert(
        ENTITY,
        "l-ada",
        person("ADA.Lovelace@EXAMPLE.com", "Ada", "Analyst"),
    );
    for i in 0..n {
        source.upsert(
            ENTITY,
            &format!("l-{i}"),
            person(&format!("p{i}@example.com"), "P", "T"),
        );
    }
    ada["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn both_strategies_adopt_a_match_in_any_case_instead_of_duplicating_it() {
    for strategy in [MatchStrategy::Lookup, MatchStrategy::Upsert] {
        let sim = sim(0).await;
        let (source, state) = (MemorySource::new(), MemoryState::new());
        let ada = scenario(&sim, &source, 5);
        sim.handle().reset_stats();
        let out = engine_using(&sim, &source, &state, strategy)
            .run(RunMode::Push, RunOptions::new().keep_plan(true))
            .await
            .expect("push");
        let c = &out.report.entities["contacts:push"];
        assert_eq!((c.created, c.adopted, c.failed), (5, 1, 0), "{strategy:?}");
        assert_eq!(out.plan.count(PlannedAction::Adopt), 1);
        let st = state
            .record(ENTITY, "l-ada")
            .await
            .unwrap()
            .expect("linked");
        assert_eq!(
            st.twenty_id, ada,
            "{strategy:?}: Ada adopted, not duplicated"
        );
        assert_eq!(twenty_emails(&sim).len(), 6);
        assert_eq!(
            sim.handle().record("people", &ada).unwrap()["jobTitle"],
            "Analyst"
        );
        assert_linked(&sim, &source, &state).await;
        let (gets, batches, others) = routes(&sim);
        match strategy {
            // One chunk of 6: a natural-key lookup, a batch create, a patch of Ada.
            MatchStrategy::Lookup => assert_eq!((gets, batches, others), (1, 1, 1)),
            // One batch upsert and nothing else.
            _ => assert_eq!((gets, batches, others), (0, 1, 0)),
        }
    }
}

#[tokio::test]
async fn auto_upserts_people_matched_by_email_and_looks_up_otherwise() {
    let email = vec!["emails.primaryEmail".to_string()];
    let off = twenty_sync_core::engine::AuditValues::Off;
    assert_eq!(
        MatchStrategy::Auto.resolve("people", &email, &off),
        MatchStrategy::Upsert
    );
    let two = vec![
        "emails.primaryEmail".to_string(),
        "name.lastName".to_string(),
    ];
    assert_eq!(
        MatchStrategy::Auto.resolve("people", &two, &off),
        MatchStrategy::Lookup
    );
    let link = vec!["domainName.primaryLinkUrl".to_string()];
    assert_eq!(
        MatchStrategy::Auto.resolve("companies", &link, &off),
        MatchStrategy::Upsert
    );
    assert_eq!(
        MatchStrategy::Auto.resolve("people", &link, &off),
        MatchStrategy::Lookup
    );
    let values = twenty_sync_core::engine::AuditValues::changed_except(["ssn"]);
    assert_eq!(
        MatchStrategy::Auto.resolve("people", &email, &values),
        MatchStrategy::Lookup
    );
    assert_eq!(
        MatchStrategy::Upsert.resolve("tasks", &[], &values),
        MatchStrategy::Upsert
    );
}

#[tokio::test]
async fn an_upsert_revives_a_soft_deleted_match_and_the_dry_run_predicts_it_exactly() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let ada = scenario(&sim, &source, 9);
    sim.handle()
        .soft_delete_record("people", &ada)
        .expect("trashed");
    let engine = engine_using(&sim, &source, &state, MatchStrategy::Upsert);
    let before = sim.handle().records("people");
    let dry = engine
        .run(RunMode::Push, RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!(
        sim.handle().records("people"),
        before,
        "a dry run writes nothing"
    );
    let real = engine
        .run(RunMode::Push, RunOptions::new().keep_plan(true))
        .await
        .expect("real run");
    assert_eq!(real.plan.sorted(), dry.plan.sorted());
    assert_eq!(real.plan.totals, dry.plan.totals);
    assert_eq!(dry.report.entities, real.report.entities);
    let adopt: Vec<_> = real
        .plan
        .writes
        .iter()
        .filter(|w| w.action == PlannedAction::Adopt)
        .collect();
    assert_eq!(adopt.len(), 1);
    assert_eq!(adopt[0].twenty_id.as_deref(), Some(ada.as_str()));
    let revived = sim.handle().record("people", &ada).expect("still there");
    assert!(revived["deletedAt"].is_null(), "revived: {revived}");
    assert_eq!(twenty_emails(&sim).len(), 10);
    assert_linked(&sim, &source, &state).await;
}

#[tokio::test]
async fn a_real_run_keeps_only_the_counts_of_its_plan_unless_asked() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    scenario(&sim, &source, 12);
    let out = engine_using(&sim, &source, &state, MatchStrategy::Auto)
        .run(RunMode::Push, RunOptions::new())
        .await
        .expect("push");
    assert!(out.plan.writes.is_empty(), "{:?}", out.plan.writes);
    assert_eq!(out.plan.count(PlannedAction::Create), 12);
    assert_eq!(out.plan.count(PlannedAction::Adopt), 1);
    assert!(!out.plan.is_empty());
}

#[tokio::test]
async fn a_crash_after_the_upsert_and_before_the_id_map_resumes_without_duplicates() {
    for point in [
        failpoints::PUSH_AFTER_TWENTY_WRITE,
        failpoints::PUSH_BEFORE_STATE_COMMIT,
    ] {
        let sim = sim(0).await;
        let (source, state) = (MemorySource::new(), MemoryState::new());
        let ada = scenario(&sim, &source, 10);
        let crashing = engine_using(&sim, &source, &state, MatchStrategy::Upsert);
        crashing.failpoints().arm(point, 1);
        let err = crashing
            .run(RunMode::Push, RunOptions::new())
            .await
            .expect_err("crashes");
        assert_eq!(err.kind(), SyncErrorKind::Failpoint);
        // Twenty has the first chunk (Ada adopted, six created); nothing is recorded yet.
        assert_eq!(twenty_emails(&sim).len(), 7);
        assert!(state.record(ENTITY, "l-ada").await.unwrap().is_none());

        let resumed = engine_using(&sim, &source, &state, MatchStrategy::Upsert)
            .run(RunMode::Push, RunOptions::new())
            .await
            .expect("resume");
        assert_eq!(resumed.report.failures, vec![], "{point}");
        assert_eq!(twenty_emails(&sim).len(), 11, "{point}: nothing doubled");
        let st = state
            .record(ENTITY, "l-ada")
            .await
            .unwrap()
            .expect("linked");
        assert_eq!(st.twenty_id, ada, "{point}");
        assert_linked(&sim, &source, &state).await;
        let again = engine_using(&sim, &source, &state, MatchStrategy::Upsert)
            .run(RunMode::Push, RunOptions::new())
            .await
            .expect("idle run");
        assert!(again.plan.is_empty(), "{point}: {:?}", again.report);
    }
}

#[tokio::test]
async fn a_second_local_record_with_a_linked_email_fails_and_leaves_the_first_intact() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine_using(&sim, &source, &state, MatchStrategy::Upsert);
    source.upsert(ENTITY, "l-1", person("same@example.com", "First", "One"));
    engine.push(RunOptions::new()).await.expect("first push");
    let first = state.record(ENTITY, "l-1").await.unwrap().expect("linked");

    // Same email in a later run, and twice within one chunk.
    source.upsert(ENTITY, "l-2", person("SAME@example.com", "Second", "Two"));
    source.upsert(ENTITY, "l-3", person("twin@example.com", "Twin", "A"));
    source.upsert(ENTITY, "l-4", person("twin@example.com", "Twin", "B"));
    let report = engine.push(RunOptions::new()).await.expect("second push");
    let failed: Vec<Option<String>> = report
        .failures
        .iter()
        .map(|f| f.local_key.clone())
        .collect();
    assert_eq!(
        failed,
        vec![Some("l-2".into()), Some("l-4".into())],
        "{}",
        report.summary()
    );
    assert!(
        report.failures[0]
            .reason
            .contains("already linked to local key `l-1`")
    );
    let tw: Value = sim.handle().record("people", &first.twenty_id).unwrap();
    assert_eq!(
        tw["name"]["firstName"], "First",
        "l-1's values are back: {tw}"
    );
    assert_eq!(tw["jobTitle"], "One");
    assert!(state.record(ENTITY, "l-2").await.unwrap().is_none());
    assert_eq!(
        twenty_emails(&sim),
        vec!["same@example.com", "twin@example.com"]
    );
}

/// A record put back after another local record's batch upsert overwrote it is stored with what
/// both sides now hold (its local record as it is), never with the agreed values of its previous
/// sync: here in a push-only run, which keeps them current for a record synced both ways.
#[tokio::test]
async fn a_record_put_back_keeps_no_stale_agreed_values() {
    use twenty_sync_core::engine::AgreedFields;
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = engine_using(&sim, &source, &state, MatchStrategy::Upsert);
    let first = person("same@example.com", "First", "One");
    source.upsert(ENTITY, "l-1", first.clone());
    engine.sync(RunOptions::new()).await.expect("first sync");
    let synced = state.record(ENTITY, "l-1").await.unwrap().expect("linked");
    assert_eq!(
        synced.field_hashes,
        Some(AgreedFields::of(&contacts(), &first).to_string())
    );

    // A second record with l-1's email, then (a chunk of 7 later) l-1 edited: l-2's chunk
    // overwrites l-1 in Twenty and puts l-1's edited values back, and l-1's own chunk then
    // finds Twenty holding them already (unchanged: no state written for it there).
    source.upsert(ENTITY, "l-2", person("SAME@example.com", "Second", "Two"));
    for i in 0..7 {
        source.upsert(
            ENTITY,
            &format!("f-{i}"),
            person(&format!("f{i}@example.com"), "F", "F"),
        );
    }
    source.upsert(
        ENTITY,
        "l-1",
        person("same@example.com", "First", "One edited"),
    );
    let report = engine
        .run(RunMode::Push, RunOptions::new())
        .await
        .expect("push")
        .report;
    assert_eq!(report.failures.len(), 1, "{}", report.summary());
    let st = state.record(ENTITY, "l-1").await.unwrap().expect("linked");
    let tw: Value = sim.handle().record("people", &st.twenty_id).unwrap();
    assert_eq!(tw["jobTitle"], "One edited", "{tw}");
    let local = source.record(ENTITY, "l-1").unwrap().data;
    assert_eq!(
        st.field_hashes,
        Some(AgreedFields::of(&contacts(), &local).to_string()),
        "the agreed values are l-1's as both sides hold it: {st:?}"
    );
}
