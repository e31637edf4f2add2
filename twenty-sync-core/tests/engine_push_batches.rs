//! Push: creates, updates and deletes in batches, a rejected batch's halves and the one-by-one
//! fallback, and what a batch must not do (revive a record deleted in Twenty, touch fields it
//! does not carry).

mod engine_support;

use std::sync::Arc;

use engine_support::*;
use serde_json::json;
use twenty_sync_core::engine::{
    EngineConfig, MatchStrategy, PushDeleteMode, RunOptions, SyncEngine,
};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{RunStatus, StateStore, StateStoreExt};

const BATCH: &str = "POST /rest/batch/{plural}";

/// PATCH requests the simulator counted since its last reset.
fn patches(sim: &twenty_sim::SimServer) -> u64 {
    sim.stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.starts_with("PATCH "))
        .map(|(_, n)| n)
        .sum()
}

/// Batch creates (and upserts) the simulator counted since its last reset.
fn batches(sim: &twenty_sim::SimServer) -> u64 {
    sim.stats().by_route.get(BATCH).copied().unwrap_or(0)
}

/// Local person `i` (key `l-{i}`, email `p{i}@example.com`) with `title`, written to `source`.
fn set_person(source: &MemorySource, i: usize, title: &str) {
    source.upsert(
        ENTITY,
        &format!("l-{i}"),
        person(&format!("p{i}@example.com"), &format!("P{i}"), title),
    );
}

/// (batch creates and upserts, PATCH requests) the simulator counted since its last reset.
fn writes(sim: &twenty_sim::SimServer) -> (u64, u64) {
    (batches(sim), patches(sim))
}

/// Pushes with [`engine`] (chunks of 7), the simulator's counts started from zero.
async fn push_counted(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
) -> twenty_sync_core::RunReport {
    sim.handle().reset_stats();
    engine(sim, source, state)
        .push(RunOptions::new())
        .await
        .expect("push")
}

/// `n` local people pushed (created in Twenty and linked); their Twenty ids by local key.
async fn pushed(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
    n: usize,
) -> Vec<(String, String)> {
    for i in 0..n {
        set_person(source, i, "Before");
    }
    let r = engine(sim, source, state)
        .push(RunOptions::new())
        .await
        .expect("first push");
    assert_eq!(
        r.entities["contacts:push"].created,
        n as u64,
        "{}",
        r.summary()
    );
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("l-{i}");
        let st = state.record(ENTITY, &key).await.unwrap().expect("linked");
        out.push((key, st.twenty_id));
    }
    out
}

#[tokio::test]
async fn updates_go_in_one_batch_per_chunk_and_write_only_the_fields_they_carry() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 10).await;
    // A field the mapping does not push, set in Twenty: a batch body does not carry it.
    for (_, id) in &linked {
        sim.handle()
            .update_record("people", id, json!({"intro": "Met in Lyon"}))
            .expect("update in Twenty");
    }
    for i in 0..linked.len() {
        set_person(&source, i, "After");
    }
    let r = push_counted(&sim, &source, &state).await;
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (10, 0), "{}", r.summary());
    // The engine's chunks are 7 records: two batches, no PATCH.
    assert_eq!(writes(&sim), (2, 0), "{:?}", sim.stats().by_route);
    for (_, id) in &linked {
        let tw = sim.handle().record("people", id).expect("in Twenty");
        assert_eq!(tw["jobTitle"], "After");
        assert_eq!(
            tw["intro"], "Met in Lyon",
            "a field the batch did not carry is kept"
        );
        assert!(tw["deletedAt"].is_null());
    }
    assert_eq!(sim.handle().count("people"), 10, "nothing created");
    // The states hold what Twenty now has: the pull recognises our own writes.
    let back = engine(&sim, &source, &state)
        .pull(RunOptions::new())
        .await
        .expect("pull");
    let c = &back.entities["contacts:pull"];
    assert_eq!((c.updated, c.unchanged), (0, 10), "{}", back.summary());

    // With batches off, one PATCH per record.
    for i in 0..linked.len() {
        set_person(&source, i, "Patched");
    }
    let one_by_one = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .batch_writes(false)
        .build()
        .expect("engine builds");
    sim.handle().reset_stats();
    let r = one_by_one.push(RunOptions::new()).await.expect("push");
    assert_eq!(r.entities["contacts:push"].updated, 10, "{}", r.summary());
    assert_eq!(writes(&sim), (0, 10), "{:?}", sim.stats().by_route);
}

#[tokio::test]
async fn a_batch_twenty_rejects_is_sent_again_one_record_at_a_time() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 3).await;
    source.upsert(ENTITY, "l-0", person("p0@example.com", "P0", "Good"));
    source.upsert(ENTITY, "l-1", person("p1@example.com", "P1", "Good too"));
    // Not a text: Twenty refuses the whole batch with a 400.
    let mut bad = person("p2@example.com", "P2", "");
    bad["title"] = json!({"not": "a text"});
    source.upsert(ENTITY, "l-2", bad);
    let r = push_counted(&sim, &source, &state).await;
    assert_eq!(r.status, RunStatus::PartiallyFailed, "{}", r.summary());
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (2, 1), "{}", r.summary());
    assert_eq!(writes(&sim), (1, 3), "{:?}", sim.stats().by_route);
    assert!(
        r.failures
            .iter()
            .any(|f| f.local_key.as_deref() == Some("l-2")
                && f.reason.contains("Twenty rejected the update")),
        "{}",
        r.summary()
    );
    let title = |i: usize| sim.handle().record("people", &linked[i].1).unwrap()["jobTitle"].clone();
    assert_eq!(
        (title(0), title(1), title(2)),
        (json!("Good"), json!("Good too"), json!("Before"))
    );
}

#[tokio::test]
async fn a_record_deleted_in_twenty_is_not_revived_by_a_batch() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 3).await;
    sim.handle()
        .soft_delete_record("people", &linked[1].1)
        .expect("soft delete");
    for i in 0..linked.len() {
        set_person(&source, i, "After");
    }
    let r = push_counted(&sim, &source, &state).await;
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (2, 1), "{}", r.summary());
    assert_eq!(writes(&sim), (1, 0), "{:?}", sim.stats().by_route);
    assert!(
        r.failures
            .iter()
            .any(|f| f.local_key.as_deref() == Some("l-1")
                && f.reason.contains("no longer exists in Twenty")),
        "{}",
        r.summary()
    );
    let deleted = sim
        .handle()
        .record("people", &linked[1].1)
        .expect("kept, soft-deleted");
    assert!(!deleted["deletedAt"].is_null(), "still deleted: {deleted}");
    assert_eq!(deleted["jobTitle"], "Before");
}

/// A batch upsert also matches on unique values, so an update that gives the match key another
/// value goes by PATCH; one that only re-cases it still meets its own record and goes in the batch.
#[tokio::test]
async fn an_update_that_moves_a_match_key_goes_by_patch() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 5).await;
    source.upsert(ENTITY, "l-0", person("p0-new@example.com", "P0", "Before"));
    source.upsert(ENTITY, "l-1", person("p1-new@example.com", "P1", "Before"));
    source.upsert(ENTITY, "l-2", person("p2@example.com", "P2", "After"));
    source.upsert(ENTITY, "l-3", person("P3@Example.com", "P3", "Before"));
    source.upsert(ENTITY, "l-4", person("P4@EXAMPLE.COM", "P4", "After"));
    let r = push_counted(&sim, &source, &state).await;
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (5, 0), "{}", r.summary());
    assert_eq!(writes(&sim), (1, 2), "{:?}", sim.stats().by_route);
    let email = |i: usize| {
        sim.handle().record("people", &linked[i].1).unwrap()["emails"]["primaryEmail"].clone()
    };
    assert_eq!(
        (email(0), email(1), email(3), email(4)),
        (
            json!("p0-new@example.com"),
            json!("p1-new@example.com"),
            // Twenty stores emails lower-cased.
            json!("p3@example.com"),
            json!("p4@example.com")
        )
    );
    assert_eq!(sim.handle().count("people"), 5, "nothing created");
}

/// DELETE requests by route the simulator counted since its last reset: (by filter, by id).
fn deletes(sim: &twenty_sim::SimServer) -> (u64, u64) {
    let by_route = sim.stats().by_route;
    let get = |route: &str| by_route.get(route).copied().unwrap_or(0);
    (
        get("DELETE /rest/{plural}"),
        get("DELETE /rest/{plural}/{id}"),
    )
}

/// Deletes every `linked` person locally and pushes with [`engine`] (chunks of 7): every one
/// must end deleted, none failed, soft-deleted in Twenty and marked deleted in the state.
async fn delete_all_and_push(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
    linked: &[(String, String)],
) {
    for (key, _) in linked {
        source.delete(ENTITY, key);
    }
    let r = push_counted(sim, source, state).await;
    let c = &r.entities["contacts:push"];
    let n = linked.len() as u64;
    assert_eq!((c.deleted, c.failed), (n, 0), "{}", r.summary());
    assert_eq!(sim.handle().count("people"), 0);
    assert_eq!(
        sim.handle().count_with_deleted("people"),
        linked.len(),
        "soft, not destroyed"
    );
    for (key, _) in linked {
        let st = state
            .record(ENTITY, key)
            .await
            .unwrap()
            .expect("state kept");
        assert!(st.deleted, "{key}");
    }
}

#[tokio::test]
async fn soft_deletes_go_in_one_batch_per_chunk_and_a_record_already_gone_counts_as_deleted() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 10).await;
    // Deleted in Twenty already: the batch's answer leaves it out.
    sim.handle()
        .soft_delete_record("people", &linked[4].1)
        .expect("soft delete");
    delete_all_and_push(&sim, &source, &state, &linked).await;
    // Chunks of 7: two batches, no delete by id.
    assert_eq!(deletes(&sim), (2, 0), "{:?}", sim.stats().by_route);
}

/// A Twenty whose cap on the records one filter mutation may affect
/// (`MUTATION_MAXIMUM_AFFECTED_RECORDS`) is below the batch rejects the batch delete; its halves
/// are sent, and theirs, until they fit, and none fails.
#[tokio::test]
async fn a_batch_delete_over_twentys_cap_is_sent_again_in_halves() {
    // Chunks of 7, by cap: (batch deletes, deletes by id).
    // - 3: the first batch (7) is rejected; of its halves, 3 fits and 4 is rejected, and that
    //   one's halves of 2 fit. The second chunk's 3 fits.
    // - 1: every batch is rejected; halves of 2 or 3 are not split further but deleted by id.
    for (cap, requests) in [(3, (6, 0)), (1, (6, 10))] {
        let sim = twenty_sim::SimServer::start(
            twenty_sim::SimConfig::new(KEY)
                .rate_limit(None)
                .mutation_maximum_affected_records(cap),
        )
        .await
        .expect("simulator starts");
        let (source, state) = (MemorySource::new(), MemoryState::new());
        let linked = pushed(&sim, &source, &state, 10).await;
        delete_all_and_push(&sim, &source, &state, &linked).await;
        assert_eq!(
            deletes(&sim),
            requests,
            "cap {cap}: {:?}",
            sim.stats().by_route
        );
    }
}

/// A batch update Twenty accepts but whose answer leaves a record out: that record is not
/// known to be written, so it fails for this run (and is retried), while the others count as
/// updated. The simulator always answers every record, so a mockito server stands in for Twenty
/// for that one push, answering the lookup as the simulator did and the batch without one record.
#[tokio::test]
async fn a_batch_update_whose_answer_leaves_a_record_out_fails_that_record_only() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 3).await;
    for i in 0..3 {
        set_person(&source, i, "After");
    }
    // What the simulator answers to the push's lookup of the linked records' current versions.
    let ids: Vec<&str> = linked.iter().map(|(_, id)| id.as_str()).collect();
    let mut lookup = sim.base_url().join("rest/people").unwrap();
    lookup
        .query_pairs_mut()
        .append_pair("filter", &format!("id[in]:[{}]", ids.join(",")))
        .append_pair("limit", "200");
    let current: serde_json::Value = reqwest::Client::new()
        .get(lookup)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let people = current["data"]["people"].as_array().unwrap().clone();
    assert_eq!(people.len(), 3, "{current}");
    let mut twenty = mockito::Server::new_async().await;
    let get = twenty
        .mock("GET", "/rest/people")
        .match_query(mockito::Matcher::Any)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(current.to_string())
        .expect_at_least(1)
        .create_async()
        .await;
    // Answered: every record but the last one sent.
    let left_out = linked[2].1.clone();
    let answered: Vec<serde_json::Value> = people
        .iter()
        .filter(|p| p["id"] != json!(left_out))
        .map(|p| {
            let mut p = p.clone();
            p["jobTitle"] = json!("After");
            p["updatedAt"] = json!("2030-01-01T00:00:00.000Z");
            p
        })
        .collect();
    let batch = twenty
        .mock("POST", "/rest/batch/people")
        .match_query(mockito::Matcher::UrlEncoded("upsert".into(), "true".into()))
        .with_status(201)
        .with_header("content-type", "application/json")
        .with_body(json!({"data": {"createPeople": answered}}).to_string())
        .expect(1)
        .create_async()
        .await;
    let client = twenty_client::Client::builder(
        url::Url::parse(&twenty.url()).unwrap(),
        secrecy::SecretString::from(KEY),
    )
    .no_rate_limit()
    .build()
    .expect("client builds");
    let r = SyncEngine::builder(client, source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .build()
        .expect("engine builds")
        .push(RunOptions::new())
        .await
        .expect("push");
    get.assert_async().await;
    batch.assert_async().await;
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (2, 1), "{}", r.summary());
    let [failure] = r.failures.as_slice() else {
        panic!("one failure: {}", r.summary());
    };
    assert_eq!(failure.twenty_id.as_deref(), Some(left_out.as_str()));
    assert!(
        failure
            .reason
            .contains("answer to the batch update did not include this record"),
        "{}",
        failure.reason
    );
    // The run's audit says the same: the left-out record failed and was not updated.
    let audit = state
        .audit(&twenty_sync_core::AuditQuery {
            run_id: Some(r.run_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let of_left_out: Vec<twenty_sync_core::AuditAction> = audit
        .iter()
        .filter(|a| a.twenty_id.as_deref() == Some(left_out.as_str()))
        .map(|a| a.action)
        .collect();
    assert_eq!(
        of_left_out,
        [twenty_sync_core::AuditAction::Fail],
        "{audit:?}"
    );
    let updates = audit
        .iter()
        .filter(|a| a.action == twenty_sync_core::AuditAction::Update)
        .count();
    assert_eq!(updates, 2, "{audit:?}");
}

#[tokio::test]
async fn deletes_with_batches_off_go_one_by_one() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 3).await;
    for (key, _) in &linked {
        source.delete(ENTITY, key);
    }
    let one_by_one = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .batch_writes(false)
        .build()
        .expect("engine builds");
    sim.handle().reset_stats();
    let r = one_by_one.push(RunOptions::new()).await.expect("push");
    assert_eq!(r.entities["contacts:push"].deleted, 3, "{}", r.summary());
    assert_eq!(deletes(&sim), (0, 3), "{:?}", sim.stats().by_route);
    assert_eq!(sim.handle().count_with_deleted("people"), 3, "soft deletes");
}

/// Destroys go in batches too. A record in Twenty's trash, which the simulator's destroy by
/// filter does not reach (Twenty's may), is left out of the batch's answer and destroyed by id.
#[tokio::test]
async fn destroys_go_in_batches_and_a_record_in_the_trash_is_destroyed_by_id() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let linked = pushed(&sim, &source, &state, 6).await;
    sim.handle()
        .soft_delete_record("people", &linked[5].1)
        .expect("soft delete");
    for (key, _) in &linked {
        source.delete(ENTITY, key);
    }
    let destroying = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(7)
        .push_delete(PushDeleteMode::Destroy)
        .build()
        .expect("engine builds");
    sim.handle().reset_stats();
    let r = destroying.push(RunOptions::new()).await.expect("push");
    let c = &r.entities["contacts:push"];
    assert_eq!((c.deleted, c.failed), (6, 0), "{}", r.summary());
    assert_eq!(deletes(&sim), (1, 1), "{:?}", sim.stats().by_route);
    assert_eq!(
        sim.handle().count_with_deleted("people"),
        0,
        "all destroyed"
    );
    for (key, _) in &linked {
        assert!(
            state.record(ENTITY, key).await.unwrap().is_none(),
            "{key}: a destroyed record's state is removed"
        );
    }
}

/// `n` local people with `title`, but a title Twenty refuses (not a text) for those in `bad`.
fn set_people_with_bad(source: &MemorySource, n: usize, title: &str, bad: &[usize]) {
    for i in 0..n {
        set_person(source, i, title);
        if bad.contains(&i) {
            let mut p = person(&format!("p{i}@example.com"), &format!("P{i}"), "");
            p["title"] = json!({"not": "a text"});
            source.upsert(ENTITY, &format!("l-{i}"), p);
        }
    }
}

/// An engine whose push chunk is one batch of `batch_size`, with `strategy` for new records.
fn one_batch_engine(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
    batch_size: usize,
    strategy: MatchStrategy,
) -> SyncEngine<MemorySource, MemoryState> {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .config(EngineConfig {
            batch_size,
            match_strategy: strategy,
            ..EngineConfig::default()
        })
        .push_in_flight(1)
        .build()
        .expect("engine builds")
}

/// One record Twenty refuses in a batch of 40 is found by halving the rejected batch: 40, 20,
/// 10, 5, then 2-3 records one by one, about a dozen requests where one per record took 40.
/// Only that record fails; the others are written. For creates by upsert and by lookup, and
/// for updates.
#[tokio::test]
async fn one_refused_record_in_a_batch_is_found_by_halving() {
    for strategy in [MatchStrategy::Upsert, MatchStrategy::Lookup] {
        let sim = sim(0).await;
        let (source, state) = (MemorySource::new(), MemoryState::new());
        set_people_with_bad(&source, 40, "Before", &[17]);
        let engine = one_batch_engine(&sim, &source, &state, 40, strategy);
        sim.handle().reset_stats();
        let r = engine.push(RunOptions::new()).await.expect("push");
        let c = &r.entities["contacts:push"];
        assert_eq!(
            (c.created, c.failed),
            (39, 1),
            "{strategy:?}: {}",
            r.summary()
        );
        assert_eq!(r.failures.len(), 1, "{}", r.summary());
        assert_eq!(r.failures[0].local_key.as_deref(), Some("l-17"));
        assert!(
            r.failures[0].reason.contains("Twenty rejected the"),
            "{}",
            r.failures[0].reason
        );
        assert_eq!(sim.handle().count("people"), 39);
        for i in 0..40 {
            let st = state.record(ENTITY, &format!("l-{i}")).await.unwrap();
            assert_eq!(st.is_some(), i != 17, "{strategy:?}: l-{i}");
        }
        let by_route = sim.stats().by_route;
        let singles = by_route.get("POST /rest/{plural}").copied().unwrap_or(0);
        assert_eq!(batches(&sim), 9, "{strategy:?}: {by_route:?}");
        assert!((2..=3).contains(&singles), "{strategy:?}: {by_route:?}");

        // The same for updates (the bad record fixed and another one broken).
        set_people_with_bad(&source, 40, "After", &[30]);
        let r = {
            sim.handle().reset_stats();
            engine.push(RunOptions::new()).await.expect("push updates")
        };
        let c = &r.entities["contacts:push"];
        assert_eq!(
            (c.created, c.updated, c.failed),
            (1, 38, 1),
            "{strategy:?}: {}",
            r.summary()
        );
        assert_eq!(r.failures[0].local_key.as_deref(), Some("l-30"));
        let (batched, patched) = writes(&sim);
        // The update batch's nine, and the create of the record fixed.
        assert!(
            (10..=11).contains(&batched) && (2..=3).contains(&patched),
            "{strategy:?}: {:?}",
            sim.stats().by_route
        );
    }
}

/// When both halves of a rejected batch are rejected too, Twenty refuses its records densely
/// (every record, here), and they go one by one: the batch and its halves cost three requests
/// more than one by one, where halving on would cost about twice as many.
#[tokio::test]
async fn records_refused_throughout_a_batch_go_one_by_one_after_its_halves() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = one_batch_engine(&sim, &source, &state, 20, MatchStrategy::Upsert);
    set_people_with_bad(&source, 20, "Before", &[]);
    engine.push(RunOptions::new()).await.expect("first push");
    set_people_with_bad(&source, 20, "After", &(0..20).collect::<Vec<_>>());
    sim.handle().reset_stats();
    let r = engine.push(RunOptions::new()).await.expect("push");
    let c = &r.entities["contacts:push"];
    assert_eq!((c.updated, c.failed), (0, 20), "{}", r.summary());
    assert_eq!(writes(&sim), (3, 20), "{:?}", sim.stats().by_route);
}

/// An engine whose push chunk is `in_flight` batches of 3, with `strategy` for new records.
fn in_flight_engine(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
    in_flight: usize,
    strategy: MatchStrategy,
) -> SyncEngine<MemorySource, MemoryState> {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .config(EngineConfig {
            batch_size: 3,
            push_in_flight: in_flight,
            match_strategy: strategy,
            ..EngineConfig::default()
        })
        .build()
        .expect("engine builds")
}

/// With several batches in flight, a chunk's creates (by upsert or by lookup and create), its
/// adoptions, updates and soft deletes go in batches of `batch_size`, sent together, and end as
/// they would one batch at a time: every record once in Twenty, every local record linked.
#[tokio::test]
async fn several_batches_in_flight_write_what_one_at_a_time_writes() {
    for strategy in [MatchStrategy::Upsert, MatchStrategy::Lookup] {
        let sim = sim(0).await;
        // Two of the twelve are in Twenty already: adopted, not duplicated.
        for i in [2, 7] {
            sim.handle().insert_record(
                "people",
                json!({"name": {"firstName": "Old", "lastName": "Test"}, "emails": {"primaryEmail": format!("p{i}@example.com")}}),
            );
        }
        let (source, state) = (MemorySource::new(), MemoryState::new());
        for i in 0..12 {
            set_person(&source, i, "Before");
        }
        let engine = in_flight_engine(&sim, &source, &state, 4, strategy);
        sim.handle().reset_stats();
        let r = engine.push(RunOptions::new()).await.expect("push");
        let c = &r.entities["contacts:push"];
        assert_eq!(
            (c.created, c.adopted, c.failed),
            (10, 2, 0),
            "{strategy:?}: {}",
            r.summary()
        );
        assert_eq!(sim.handle().count("people"), 12, "{strategy:?}");
        assert_linked(&sim, &source, &state).await;
        // One chunk of twelve. By upsert: four batches of three. By lookup: four lookups of
        // three records each, the two adoptions by PATCH, the ten creates in four batches.
        let by_route = sim.stats().by_route;
        let count = |route: &str| by_route.get(route).copied().unwrap_or(0);
        let expected = match strategy {
            MatchStrategy::Lookup => (4, 4, 2),
            _ => (4, 0, 0),
        };
        assert_eq!(
            (count(BATCH), count("GET /rest/{plural}"), patches(&sim)),
            expected,
            "{strategy:?}: {by_route:?}"
        );

        for i in 0..12 {
            set_person(&source, i, "After");
        }
        sim.handle().reset_stats();
        let r = engine.push(RunOptions::new()).await.expect("push updates");
        assert_eq!(r.entities["contacts:push"].updated, 12, "{}", r.summary());
        assert_eq!(writes(&sim), (4, 0), "{:?}", sim.stats().by_route);
        assert!(
            sim.handle()
                .records("people")
                .iter()
                .all(|p| p["jobTitle"] == "After")
        );

        for i in 0..6 {
            source.delete(ENTITY, &format!("l-{i}"));
        }
        sim.handle().reset_stats();
        let r = engine.push(RunOptions::new()).await.expect("push deletes");
        assert_eq!(r.entities["contacts:push"].deleted, 6, "{}", r.summary());
        assert_eq!(deletes(&sim), (2, 0), "{:?}", sim.stats().by_route);
        assert_eq!(sim.handle().count("people"), 6);
    }
}

/// A batch Twenty rejects among several in flight is sent again one record at a time (it is
/// too small to halve); the others stand.
#[tokio::test]
async fn a_rejected_batch_among_several_in_flight_is_isolated_alone() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    for i in 0..9 {
        let mut p = person(&format!("p{i}@example.com"), &format!("P{i}"), "T");
        if i == 4 {
            p["title"] = json!({"not": "a text"});
        }
        source.upsert(ENTITY, &format!("l-{i}"), p);
    }
    let engine = in_flight_engine(&sim, &source, &state, 3, MatchStrategy::Upsert);
    sim.handle().reset_stats();
    let r = engine
        .push(RunOptions::new())
        .await
        .expect("the run completes");
    let c = &r.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (8, 1), "{}", r.summary());
    assert!(
        r.failures
            .iter()
            .any(|f| f.local_key.as_deref() == Some("l-4")),
        "{}",
        r.summary()
    );
    assert_eq!(sim.handle().count("people"), 8);
    // Three batches, then the second one's three records one by one.
    let by_route = sim.stats().by_route;
    assert_eq!(by_route.get(BATCH), Some(&3), "{by_route:?}");
    assert_eq!(
        by_route.get("POST /rest/{plural}"),
        Some(&3),
        "{by_route:?}"
    );
}

#[tokio::test]
async fn push_in_flight_outside_one_to_eight_is_a_config_error() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    for n in [0, 9] {
        let Err(err) = SyncEngine::builder(client(&sim), source.clone(), state.clone())
            .push_in_flight(n)
            .build()
        else {
            panic!("push_in_flight({n}) accepted");
        };
        assert!(
            err.to_string()
                .contains("push_in_flight must be between 1 and 8"),
            "{err}"
        );
    }
}

/// The batches of one chunk are in flight together; with `push_in_flight(1)`, one at a time.
#[tokio::test]
async fn the_batches_of_one_chunk_are_in_flight_together() {
    for (in_flight, most) in [(1, 1..=1), (4, 2..=4)] {
        let sim =
            twenty_sim::SimServer::start(twenty_sim::SimConfig::new(KEY).rate_limit(None).faults(
                twenty_sim::Faults {
                    latency: std::time::Duration::from_millis(50),
                    ..twenty_sim::Faults::none()
                },
            ))
            .await
            .expect("simulator starts");
        let (source, state) = (MemorySource::new(), MemoryState::new());
        for i in 0..12 {
            set_person(&source, i, "T");
        }
        let engine = in_flight_engine(&sim, &source, &state, in_flight, MatchStrategy::Upsert);
        let r = engine.push(RunOptions::new()).await.expect("push");
        assert_eq!(r.entities["contacts:push"].created, 12, "{}", r.summary());
        let stats = sim.stats();
        assert_eq!(stats.by_route.get(BATCH), Some(&4), "{stats:?}");
        assert!(
            most.contains(&stats.max_in_flight),
            "push_in_flight({in_flight}): {} at once",
            stats.max_in_flight
        );
    }
}

/// A simulator answering every request after `latency_ms`, and a client allowed a request every
/// 10 ms with a bucket large enough never to wait.
async fn slow_twenty(latency_ms: u64) -> (twenty_sim::SimServer, twenty_client::Client) {
    let sim =
        twenty_sim::SimServer::start(twenty_sim::SimConfig::new(KEY).rate_limit(None).faults(
            twenty_sim::Faults {
                latency: std::time::Duration::from_millis(latency_ms),
                ..twenty_sim::Faults::none()
            },
        ))
        .await
        .expect("simulator starts");
    let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from(KEY))
        .rate_limit(twenty_client::RateLimit::new(
            1000,
            std::time::Duration::from_secs(10),
        ))
        .build()
        .expect("client builds");
    (sim, client)
}

/// `n` new local people pushed in batches of one to [`slow_twenty`]`(latency_ms)` by an engine
/// that `configure` finishes; every one must be created. The simulator, the source, the engine
/// and the push's report.
async fn push_to_slow_twenty(
    latency_ms: u64,
    n: usize,
    configure: impl FnOnce(
        twenty_sync_core::engine::SyncEngineBuilder<MemorySource, MemoryState>,
    )
        -> twenty_sync_core::engine::SyncEngineBuilder<MemorySource, MemoryState>,
) -> (
    twenty_sim::SimServer,
    MemorySource,
    Engine,
    twenty_sync_core::RunReport,
) {
    let (sim, client) = slow_twenty(latency_ms).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    for i in 0..n {
        set_person(&source, i, "T");
    }
    let builder = SyncEngine::builder(client, source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .batch_size(1);
    let engine = configure(builder).build().expect("engine builds");
    let r = engine.push(RunOptions::new()).await.expect("push");
    assert_eq!(
        r.entities["contacts:push"].created,
        n as u64,
        "{}",
        r.summary()
    );
    assert_eq!(sim.handle().count("people"), n);
    (sim, source, engine, r)
}

/// A push whose requests take longer than its rate limit's interval, without waiting on the
/// limit, and which may not send more at once, says in its report that Twenty's answers set its
/// pace, and what would keep up.
#[tokio::test]
async fn a_push_held_back_by_twentys_answers_says_so_in_its_report() {
    let (sim, _, _, r) = push_to_slow_twenty(30, 12, |b| b.push_in_flight(1)).await;
    assert_eq!(sim.stats().max_in_flight, 1, "fixed at one");
    let [warning] = r.warnings.as_slice() else {
        panic!("one warning: {}", r.summary());
    };
    assert!(warning.starts_with("contacts: the push took "), "{warning}");
    assert!(warning.contains("allows one every 10 ms"), "{warning}");
    assert!(
        warning.contains("EngineConfig::push_in_flight (now 1)"),
        "{warning}"
    );
    assert!(r.summary().contains(&format!("  warning: {warning}")));
}

/// By default a push held back by Twenty's answers, not by its rate limit, sends more batches at
/// once, from the chunk after it noticed: the simulator sees several in flight, every record is
/// written once, and the report has nothing to warn of.
#[tokio::test]
async fn a_push_held_back_by_twentys_answers_sends_more_at_once() {
    let (sim, source, engine, r) = push_to_slow_twenty(40, 40, |b| b).await;
    assert_eq!(
        (
            engine.config().push_in_flight,
            engine.config().push_in_flight_max
        ),
        (1, 8),
        "the defaults"
    );
    let stats = sim.stats();
    // 40 ms per answer against 10 ms allowed: 4 intervals, and one more (or twice that).
    assert!(
        (3..=8).contains(&stats.max_in_flight),
        "{} at once",
        stats.max_in_flight
    );
    assert!(r.warnings.is_empty(), "{}", r.summary());
    // A dry run of the same (nothing left to write) never raises its batches in flight.
    sim.handle().reset_stats();
    for i in 0..40 {
        set_person(&source, i, "Other");
    }
    let dry = engine
        .push(RunOptions::new().dry_run(true))
        .await
        .expect("dry run");
    assert_eq!(
        dry.entities["contacts:push"].updated,
        40,
        "{}",
        dry.summary()
    );
    assert_eq!(sim.stats().max_in_flight, 1);
}

/// A push raised to its most and still held back says so, naming `push_in_flight_max`.
#[tokio::test]
async fn a_push_still_held_back_at_its_most_says_so() {
    let (sim, _, _, r) =
        push_to_slow_twenty(40, 40, |b| b.push_in_flight(1).push_in_flight_max(2)).await;
    assert_eq!(sim.stats().max_in_flight, 2);
    let [warning] = r.warnings.as_slice() else {
        panic!("one warning: {}", r.summary());
    };
    assert!(
        warning
            .contains("raised its batches in flight to EngineConfig::push_in_flight_max (now 2)"),
        "{warning}"
    );
}

/// A mockito Twenty for a push of new records by lookup: the lookup finds nothing, and `batch`
/// answers the batch create.
async fn twenty_for_creates(
    batch: impl Fn(&mockito::Request) -> (usize, Vec<u8>) + Send + Sync + 'static,
) -> (mockito::ServerGuard, twenty_client::Client) {
    let mut twenty = mockito::Server::new_async().await;
    twenty
        .mock("GET", "/rest/people")
        .match_query(mockito::Matcher::Any)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(
            json!({"data": {"people": []}, "totalCount": 0,
                   "pageInfo": {"hasNextPage": false, "startCursor": null, "endCursor": null}})
            .to_string(),
        )
        .create_async()
        .await;
    let batch = std::sync::Arc::new(batch);
    twenty
        .mock("POST", "/rest/batch/people")
        .match_query(mockito::Matcher::Missing)
        .with_status_code_from_request({
            let batch = batch.clone();
            move |req| batch(req).0
        })
        .with_header("content-type", "application/json")
        .with_body_from_request(move |req| batch(req).1)
        .create_async()
        .await;
    let client = twenty_client::Client::builder(
        url::Url::parse(&twenty.url()).unwrap(),
        secrecy::SecretString::from(KEY),
    )
    .no_rate_limit()
    .retry_policy(twenty_client::RetryPolicy {
        max_retries: 1,
        initial_backoff: std::time::Duration::from_millis(1),
        max_backoff: std::time::Duration::from_millis(2),
        max_internal_error_retries: 1,
    })
    .build()
    .expect("client builds");
    (twenty, client)
}

fn lookup_engine(
    client: twenty_client::Client,
    source: &MemorySource,
    state: &MemoryState,
) -> SyncEngine<MemorySource, MemoryState> {
    SyncEngine::builder(client, source.clone(), state.clone())
        .entity(Arc::new(contacts()))
        .config(EngineConfig {
            batch_size: 10,
            match_strategy: MatchStrategy::Lookup,
            ..EngineConfig::default()
        })
        .build()
        .expect("engine builds")
}

/// Memory stores with three new local people, `k0`..`k2` (`p0@example.com`..).
fn three_new_people() -> (MemorySource, MemoryState) {
    let source = MemorySource::new();
    for i in 0..3 {
        let email = format!("p{i}@example.com");
        source.upsert(ENTITY, &format!("k{i}"), person(&email, "P", "T"));
    }
    (source, MemoryState::new())
}

/// A batch create Twenty accepts but whose answer leaves a record out: whether Twenty has that
/// record is unknown, so it fails for this run and its write-ahead intent stays; the next push
/// resolves it by id (here: not in Twenty) and creates it.
#[tokio::test]
async fn a_batch_create_whose_answer_leaves_a_record_out_keeps_its_intent() {
    let (source, state) = three_new_people();
    let (_twenty, mock_client) = twenty_for_creates(|req| {
        let sent: Vec<serde_json::Value> = serde_json::from_slice(req.body().unwrap()).unwrap();
        let answered: Vec<serde_json::Value> = sent[..sent.len() - 1]
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["updatedAt"] = json!("2030-01-01T00:00:00.000Z");
                r
            })
            .collect();
        (
            201,
            json!({"data": {"createPeople": answered}})
                .to_string()
                .into_bytes(),
        )
    })
    .await;
    let r = lookup_engine(mock_client, &source, &state)
        .push(RunOptions::new())
        .await
        .expect("push");
    let c = &r.entities["contacts:push"];
    assert_eq!((c.created, c.failed), (2, 1), "{}", r.summary());
    let [failure] = r.failures.as_slice() else {
        panic!("one failure: {}", r.summary());
    };
    assert!(
        failure
            .reason
            .contains("answer to the batch create did not include this record"),
        "{}",
        failure.reason
    );
    let pending = state.pending_creates(ENTITY).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let left_out = pending[0].local_key.clone();
    assert_eq!(left_out, "k2");
    // The next push, against a Twenty that never got it, resolves the intent and creates it.
    let sim = sim(0).await;
    let r = lookup_engine(client(&sim), &source, &state)
        .push(RunOptions::new())
        .await
        .expect("next push");
    assert_eq!(r.entities["contacts:push"].created, 1, "{}", r.summary());
    assert_eq!(twenty_emails(&sim), ["p2@example.com"]);
    assert!(state.pending_creates(ENTITY).await.unwrap().is_empty());
}

/// A create Twenty refuses alone is looked up by its id (a rejected batch may have written it).
/// When that lookup fails for a reason that is not about the record (Twenty unavailable), the
/// push stops and the write-ahead intents stay, instead of taking the record as not there.
#[tokio::test]
async fn a_refused_create_whose_lookup_fails_keeps_its_intent_and_stops_the_push() {
    let (source, state) = three_new_people();
    let refused = json!({"statusCode": 400, "error": "BadRequestException",
                         "messages": ["a value Twenty refuses"]})
    .to_string()
    .into_bytes();
    let (mut twenty, client) = twenty_for_creates({
        let refused = refused.clone();
        move |_| (400, refused.clone())
    })
    .await;
    twenty
        .mock("POST", "/rest/people")
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(refused)
        .create_async()
        .await;
    let lookups = twenty
        .mock("GET", mockito::Matcher::Regex("^/rest/people/.+".into()))
        .with_status(503)
        .with_body("{}")
        .expect_at_least(1)
        .create_async()
        .await;
    let err = lookup_engine(client, &source, &state)
        .push(RunOptions::new())
        .await
        .expect_err("the push stops");
    lookups.assert_async().await;
    assert!(
        err.to_string().contains("looking up a refused create"),
        "{err}"
    );
    assert_eq!(state.pending_creates(ENTITY).await.unwrap().len(), 3);
}
