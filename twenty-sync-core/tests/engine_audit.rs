//! Field values in the audit log: never by default; with `AuditValues::Changed`, before/after
//! of changed fields in both directions, except fields declared or looking secret.

mod engine_support;

use std::sync::Arc;

use engine_support::*;
use serde_json::json;
use twenty_sync_core::engine::{AuditValues, FieldMap, RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    AuditAction, AuditEntry, AuditQuery, StateStore, StateStoreExt, SyncDirection,
};

fn mapping() -> FieldMap {
    contacts().field("pin", "linkedinLink.primaryLinkUrl")
}

fn engine(
    sim: &twenty_sim::SimServer,
    source: &MemorySource,
    state: &MemoryState,
    values: AuditValues,
) -> Engine {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(mapping()))
        .audit_values(values)
        .build()
        .expect("engine builds")
}

/// Create, local update, Twenty update; returns the whole audit log.
async fn scenario(values: AuditValues) -> Vec<AuditEntry> {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let mut rec = person("ada@example.com", "Ada", "Director of Zebras");
    rec["pin"] = json!("https://example.com/PIN-4711");
    source.upsert(ENTITY, "l-1", rec.clone());
    engine(&sim, &source, &state, values.clone())
        .sync(RunOptions::new())
        .await
        .map(|r| assert!(r.failures.is_empty(), "{:#?}", r.failures))
        .unwrap();

    rec["title"] = json!("Head of Llamas");
    rec["pin"] = json!("https://example.com/PIN-0815");
    source.upsert(ENTITY, "l-1", rec);
    engine(&sim, &source, &state, values.clone())
        .sync(RunOptions::new())
        .await
        .map(|r| assert!(r.failures.is_empty(), "{:#?}", r.failures))
        .unwrap();

    let id = state
        .record(ENTITY, "l-1")
        .await
        .unwrap()
        .unwrap()
        .twenty_id;
    sim.handle()
        .update_record("people", &id, json!({"jobTitle": "Keeper of Yaks"}))
        .unwrap();
    engine(&sim, &source, &state, values)
        .sync(RunOptions::new())
        .await
        .map(|r| assert!(r.failures.is_empty(), "{:#?}", r.failures))
        .unwrap();
    assert_eq!(
        source.records(ENTITY)[0].data["title"],
        "Keeper of Yaks",
        "the pull applied the Twenty update"
    );
    state.audit(&AuditQuery::default()).await.unwrap()
}

fn find(log: &[AuditEntry], dir: SyncDirection, action: AuditAction) -> &AuditEntry {
    log.iter()
        .find(|e| e.direction == dir && e.action == action)
        .unwrap_or_else(|| panic!("no {dir:?} {action:?} entry in {log:#?}"))
}

#[tokio::test]
async fn by_default_no_field_value_enters_the_audit_log() {
    let log = scenario(AuditValues::default()).await;
    let update = find(&log, SyncDirection::Push, AuditAction::Update);
    assert!(
        update.changed_fields.contains(&"jobTitle".to_string()),
        "{update:?}"
    );
    let pulled = find(&log, SyncDirection::Pull, AuditAction::Update);
    assert_eq!(pulled.changed_fields, ["title"]);
    let text = serde_json::to_string(&log).unwrap();
    for value in ["Zebras", "Llamas", "Yaks", "ada@example.com", "PIN-"] {
        assert!(
            !text.contains(value),
            "{value} leaked into the audit log: {text}"
        );
    }
    assert!(log.iter().all(|e| e.field_values().is_none()));
}

#[tokio::test]
async fn when_enabled_changed_values_are_recorded_except_secret_fields() {
    // `linkedinLink.primaryLinkUrl` (local `pin`) is declared secret on both sides.
    let log = scenario(AuditValues::changed_except([
        "linkedinLink.primaryLinkUrl",
        "pin",
    ]))
    .await;

    let create = find(&log, SyncDirection::Push, AuditAction::Create);
    let v = create.field_values().expect("values on the create");
    assert_eq!(
        v["jobTitle"],
        json!({"before": null, "after": "Director of Zebras"})
    );
    assert_eq!(v["emails.primaryEmail"]["after"], "ada@example.com");
    assert!(!v.contains_key("linkedinLink.primaryLinkUrl"), "{v:?}");

    let update = find(&log, SyncDirection::Push, AuditAction::Update);
    assert!(
        update
            .changed_fields
            .contains(&"linkedinLink.primaryLinkUrl".to_string()),
        "names are still listed"
    );
    let v = update.field_values().expect("values on the push update");
    assert_eq!(
        serde_json::Value::Object(v),
        json!({"jobTitle": {"before": "Director of Zebras", "after": "Head of Llamas"}})
    );

    let pulled = find(&log, SyncDirection::Pull, AuditAction::Update);
    let v = pulled.field_values().expect("values on the pull update");
    assert_eq!(
        serde_json::Value::Object(v),
        json!({"title": {"before": "Head of Llamas", "after": "Keeper of Yaks"}})
    );

    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("PIN-"), "a secret field leaked: {text}");
}
