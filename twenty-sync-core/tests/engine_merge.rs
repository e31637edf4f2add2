//! The three-way merge of a record changed on both sides: each side's changes to different
//! fields both survive, and only a field changed on both is settled by the conflict policy.

mod engine_support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use engine_support::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_sync_core::engine::{ConflictPolicy, RunOptions, SyncEngine, WebhookOutcome};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{AuditAction, AuditQuery, RunMode, StateStore, StateStoreExt};

const SECRET: &str = "whsec-merge";

struct Synced {
    sim: twenty_sim::SimServer,
    source: MemorySource,
    state: MemoryState,
    engine: Engine,
    id: String,
}

/// One person created locally and synced both ways by a run of `first_run`, under `policy`.
async fn synced(policy: ConflictPolicy, first_run: RunMode) -> Synced {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(contacts().on_conflict(policy)))
        .webhook_secret(SecretString::from(SECRET))
        .webhook_mode(RunMode::Sync)
        .build()
        .unwrap();
    source.upsert(ENTITY, "k", person("ada@example.com", "Ada", "Engineer"));
    engine
        .run(first_run, RunOptions::new())
        .await
        .expect("first run");
    let id = state.record(ENTITY, "k").await.unwrap().unwrap().twenty_id;
    Synced {
        sim,
        source,
        state,
        engine,
        id,
    }
}

impl Synced {
    /// Sets the local record's first name and title at `at` (the local `updated_at`).
    fn edit_local(&self, first: &str, title: &str, at: chrono::DateTime<Utc>) {
        let mut data = self.source.record(ENTITY, "k").expect("local").data;
        data["first"] = json!(first);
        data["title"] = json!(title);
        self.source.upsert_at(ENTITY, "k", data, at);
    }

    /// Edits the record in Twenty (stamped now by Twenty's clock); returns it as Twenty holds it.
    fn edit_twenty(&self, patch: Value) -> Value {
        self.sim
            .handle()
            .update_record("people", &self.id, patch)
            .expect("edited in Twenty")
    }

    /// (local first, local title, Twenty's first, Twenty's title).
    fn sides(&self) -> (Value, Value, Value, Value) {
        let local = self.source.record(ENTITY, "k").expect("local").data;
        let tw = self
            .sim
            .handle()
            .record("people", &self.id)
            .expect("twenty");
        (
            local["first"].clone(),
            local["title"].clone(),
            tw["name"]["firstName"].clone(),
            tw["jobTitle"].clone(),
        )
    }

    async fn conflicts_audited(&self) -> Vec<Vec<String>> {
        self.state
            .audit(&AuditQuery::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.action == AuditAction::Conflict)
            .map(|a| a.changed_fields)
            .collect()
    }
}

fn all(first: &str, title: &str) -> (Value, Value, Value, Value) {
    (json!(first), json!(title), json!(first), json!(title))
}

/// A local edit of one field and an edit in Twenty of another, in either order and under every
/// policy: a sync keeps both on both sides, and reports no conflict. Merged two ways (what the
/// engine did before it kept the agreed values), the side the policy favours took every field
/// and the other side's edit was lost.
#[tokio::test]
async fn edits_of_different_fields_on_each_side_both_survive_a_sync() {
    for policy in [
        ConflictPolicy::TwentyWins,
        ConflictPolicy::LocalWins,
        ConflictPolicy::NewestWins,
    ] {
        for local_later in [false, true] {
            let s = synced(policy, RunMode::Sync).await;
            let offset = if local_later {
                Duration::hours(1)
            } else {
                -Duration::hours(1)
            };
            s.edit_local("Ada Local", "Engineer", Utc::now() + offset);
            s.edit_twenty(json!({"jobTitle": "CTO in Twenty"}));
            let r = s.engine.sync(RunOptions::new()).await.expect("sync");
            let case = format!("{policy:?}, local later: {local_later}");
            assert_eq!(s.sides(), all("Ada Local", "CTO in Twenty"), "{case}");
            assert_eq!(r.totals().conflicted, 0, "{case}: {}", r.summary());
            assert!(s.conflicts_audited().await.is_empty(), "{case}");

            let again = s.engine.sync(RunOptions::new()).await.expect("sync again");
            let t = again.totals();
            assert_eq!(
                (t.created, t.updated, t.conflicted),
                (0, 0, 0),
                "{case}: {}",
                again.summary()
            );
        }
    }
}

/// A field changed on both sides is a conflict the policy settles; the fields changed on one
/// side only merge as above, and only the conflicting field is audited as one.
#[tokio::test]
async fn only_a_field_changed_on_both_sides_is_settled_by_the_policy() {
    let s = synced(ConflictPolicy::TwentyWins, RunMode::Sync).await;
    // first: both sides; title: local only; last: Twenty only.
    s.edit_local("Ada Local", "Local title", Utc::now() + Duration::hours(1));
    s.edit_twenty(json!({"name": {"firstName": "Ada Twenty", "lastName": "Lovelace"}}));
    let r = s.engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 1, "{}", r.summary());
    assert_eq!(s.sides(), all("Ada Twenty", "Local title"));
    let local = s.source.record(ENTITY, "k").unwrap().data;
    assert_eq!(local["last"], "Lovelace");
    assert_eq!(s.conflicts_audited().await, vec![vec!["first".to_string()]]);
}

/// The pull side of a sync (here a webhook delivery to an engine that syncs both ways) merges
/// too: a local edit not pushed yet keeps its field, and the next push sends it.
#[tokio::test]
async fn a_delivery_merges_a_local_edit_of_another_field() {
    let s = synced(ConflictPolicy::TwentyWins, RunMode::Sync).await;
    s.edit_local("Ada Local", "Engineer", Utc::now());
    let updated = s.edit_twenty(json!({"jobTitle": "CTO in Twenty"}));
    let body = delivery("person.updated", updated);
    let ts = Utc::now().timestamp_millis().to_string();
    let out = s
        .engine
        .handle_webhook(&ts, &webhook_signature(SECRET, &ts, &body), &body)
        .await
        .expect("delivered");
    let WebhookOutcome::Applied(report) = out else {
        panic!("not applied: {out:?}");
    };
    assert_eq!(report.totals().conflicted, 0, "{}", report.summary());
    let local = s.source.record(ENTITY, "k").unwrap().data;
    assert_eq!(
        (&local["first"], &local["title"]),
        (&json!("Ada Local"), &json!("CTO in Twenty"))
    );

    s.engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(s.sides(), all("Ada Local", "CTO in Twenty"));
    assert!(s.conflicts_audited().await.is_empty());
}

/// A record no sync run has written (here only pushed, then pulled) has no agreed values, and
/// its first conflict is settled by the policy on every differing field (the documented
/// fallback); the sync that settles it stores them, and the next edits merge.
#[tokio::test]
async fn without_agreed_values_the_policy_settles_every_differing_field() {
    let s = synced(ConflictPolicy::TwentyWins, RunMode::Push).await;
    s.edit_twenty(json!({"name": {"lastName": "Lovelace"}}));
    s.engine.pull(RunOptions::new()).await.expect("pull");
    let pulled = s.state.record(ENTITY, "k").await.unwrap().unwrap();
    assert_eq!(
        pulled.field_hashes, None,
        "one-way runs start none: {pulled:?}"
    );

    s.edit_local("Ada Local", "Engineer", Utc::now() + Duration::hours(1));
    s.edit_twenty(json!({"jobTitle": "CTO in Twenty"}));
    let r = s.engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 1, "{}", r.summary());
    assert_eq!(s.sides(), all("Ada", "CTO in Twenty"));
    // That sync stored them: the next edits merge.
    s.edit_local(
        "Ada Again",
        "CTO in Twenty",
        Utc::now() + Duration::hours(2),
    );
    s.edit_twenty(json!({"name": {"lastName": "Byron"}}));
    let r = s.engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 0, "{}", r.summary());
    assert_eq!(s.sides(), all("Ada Again", "CTO in Twenty"));
}

/// A pull-only or push-only run between the syncs of a record synced both ways keeps its agreed
/// values current, so the next sync still merges three ways.
#[tokio::test]
async fn one_way_runs_between_syncs_keep_the_agreed_values_current() {
    use twenty_sync_core::engine::AgreedFields;
    let s = synced(ConflictPolicy::TwentyWins, RunMode::Sync).await;
    // Pulled one way: the agreed values are what both sides now hold.
    s.edit_twenty(json!({"name": {"lastName": "Lovelace"}}));
    s.engine.pull(RunOptions::new()).await.expect("pull");
    let local = s.source.record(ENTITY, "k").unwrap().data;
    assert_eq!(local["last"], "Lovelace");
    let pulled = s.state.record(ENTITY, "k").await.unwrap().unwrap();
    assert_eq!(
        pulled.field_hashes,
        Some(AgreedFields::of(&contacts(), &local).to_string())
    );
    // Pushed one way: likewise.
    s.edit_local("Ada Pushed", "Engineer", Utc::now());
    s.engine.push(RunOptions::new()).await.expect("push");
    let local = s.source.record(ENTITY, "k").unwrap().data;
    let pushed = s.state.record(ENTITY, "k").await.unwrap().unwrap();
    assert_eq!(
        pushed.field_hashes,
        Some(AgreedFields::of(&contacts(), &local).to_string())
    );

    // Edits of different fields on each side still merge, whichever was last.
    s.edit_local("Ada Local", "Engineer", Utc::now() + Duration::hours(1));
    s.edit_twenty(json!({"jobTitle": "CTO in Twenty"}));
    let r = s.engine.sync(RunOptions::new()).await.expect("sync");
    assert_eq!(r.totals().conflicted, 0, "{}", r.summary());
    assert_eq!(s.sides(), all("Ada Local", "CTO in Twenty"));
}
