//! Fields only one direction writes (a rule's `direction`, or an allowlist): a push never
//! touches a pull-only field in Twenty, and a pull never touches a push-only field locally, even
//! though the other direction's mapping does not produce them.

mod engine_support;

use std::sync::Arc;

use engine_support::*;
use serde_json::json;
use twenty_mapping::{MappingFile, TransformRegistry, compile};
use twenty_sync_core::engine::{RunOptions, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{PlanMapper, RunStatus, StateStore};

const MAPPING: &str = r#"
[entities.contacts]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail"]
allow_pull = ["email", "phone", "title"]

[[entities.contacts.fields]]
from = "photo"
to = "avatarUrl"
direction = "push"

[[entities.contacts.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]

[[entities.contacts.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "US" }]
direction = "pull"

[[entities.contacts.fields]]
from = "title"
to = "jobTitle"

[[entities.contacts.fields]]
from = "note"
to = "intro"
"#;

fn mapper() -> PlanMapper {
    let file = MappingFile::from_toml_str(MAPPING, "contacts.toml").expect("mapping parses");
    let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
    PlanMapper::new(mapping, "contacts").expect("entity")
}

#[tokio::test]
async fn a_push_leaves_pull_only_fields_in_twenty_alone() {
    let sim = sim(0).await;
    let person = sim.handle().insert_record(
        "people",
        json!({
            "emails": {"primaryEmail": "ada@example.com"},
            "phones": {"primaryPhoneNumber": "4155550100", "primaryPhoneCountryCode": "US",
                       "primaryPhoneCallingCode": "+1"},
            "jobTitle": "Engineer",
            "avatarUrl": "https://example.com/ada.png",
        }),
    );
    let id = person["id"].as_str().unwrap().to_owned();
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(mapper()))
        .build()
        .expect("engine builds");
    let pull = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(pull.status, RunStatus::Succeeded, "{}", pull.summary());
    let st = state
        .records_by_twenty_id(ENTITY, std::slice::from_ref(&id))
        .await
        .unwrap();
    let key = st[0].local_key.clone();
    let mut local = source.record(ENTITY, &key).expect("pulled").data;
    assert!(
        local.get("photo").is_none(),
        "`photo` is push-only: {local}"
    );
    assert!(
        local.get("note").is_none(),
        "`note` is not in allow_pull: {local}"
    );
    assert!(local.get("phone").is_some(), "{local}");

    // A local edit of the title only.
    local["title"] = json!("Chief Engineer");
    source.upsert(ENTITY, &key, local);
    let push = engine
        .push(RunOptions::new().keep_plan(true))
        .await
        .expect("push");
    assert_eq!(
        push.entities["contacts:push"].updated,
        1,
        "{}",
        push.summary()
    );
    let after = sim.handle().record("people", &id).expect("still there");
    assert_eq!(after["jobTitle"], "Chief Engineer");
    // The pull-only phone is untouched (the push mapping does not produce it; it used to be
    // sent as cleared).
    assert_eq!(
        after["phones"]["primaryPhoneNumber"], "4155550100",
        "{after}"
    );
    assert_eq!(after["phones"]["primaryPhoneCallingCode"], "+1", "{after}");
    assert_eq!(after["phones"]["primaryPhoneCountryCode"], "US", "{after}");
}

#[tokio::test]
async fn a_pull_leaves_push_only_fields_locally_alone() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    source.upsert(
        ENTITY,
        "l-1",
        json!({"id": "l-1", "email": "grace@example.com", "title": "Admiral",
               "photo": "https://example.com/grace.png", "note": "local note"}),
    );
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(mapper()))
        .build()
        .expect("engine builds");
    let push = engine.push(RunOptions::new()).await.expect("push");
    assert_eq!(
        push.entities["contacts:push"].created,
        1,
        "{}",
        push.summary()
    );
    let id = sim.handle().records("people")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pushed = sim.handle().record("people", &id).unwrap();
    assert_eq!(pushed["avatarUrl"], "https://example.com/grace.png");
    assert_eq!(pushed["intro"], "local note");

    // Twenty changes the push-only field, the one not allowed back, and a shared one.
    sim.handle()
        .update_record(
            "people",
            &id,
            json!({"avatarUrl": "https://example.com/other.png", "intro": "Twenty note",
                   "jobTitle": "Rear Admiral"}),
        )
        .expect("update");
    let pull = engine.pull(RunOptions::new()).await.expect("pull");
    assert_eq!(pull.status, RunStatus::Succeeded, "{}", pull.summary());
    let local = source.record(ENTITY, "l-1").unwrap().data;
    assert_eq!(local["title"], "Rear Admiral");
    assert_eq!(
        local["photo"], "https://example.com/grace.png",
        "push-only: {local}"
    );
    assert_eq!(local["note"], "local note", "not in allow_pull: {local}");
}
