//! Loop prevention with a mapping that does not round-trip (Twenty normalises what we push, the
//! way the quickstart's phone transform formats numbers): a pull right after a push must not
//! write the normalised value back over the local record as if Twenty had changed it.

mod engine_support;

use std::sync::Arc;

use engine_support::*;
use serde_json::Value;
use twenty_sync_core::engine::{
    ConflictPolicy, EntityMapper, FieldMap, FieldSpec, Mapped, RunOptions, SyncEngine,
};
use twenty_sync_core::memory::{MemorySource, MemoryState};

/// The contacts mapping, with titles trimmed and upper-cased on the way to Twenty (so a local
/// `" cto "` comes back from Twenty as `"CTO"`).
#[derive(Debug)]
struct Normalising(FieldMap);

fn normalise(v: &mut Value) {
    if let Some(t) = v.pointer_mut("/jobTitle") {
        if let Some(s) = t.as_str() {
            *t = Value::String(s.trim().to_uppercase());
        }
    }
}

impl EntityMapper for Normalising {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn twenty_object(&self) -> &str {
        self.0.twenty_object()
    }
    fn twenty_object_singular(&self) -> &str {
        self.0.twenty_object_singular()
    }
    fn match_keys(&self) -> &[String] {
        self.0.match_keys()
    }
    fn conflict_policy(&self) -> ConflictPolicy {
        self.0.conflict_policy()
    }
    fn fields(&self) -> &[FieldSpec] {
        self.0.fields()
    }
    fn to_twenty(&self, local: &Value) -> Mapped {
        let mut mapped = self.0.to_twenty(local);
        normalise(&mut mapped.value);
        mapped
    }
    fn to_local(&self, twenty: &Value) -> Mapped {
        self.0.to_local(twenty)
    }
    fn local_key_of(&self, local: &Value) -> Option<String> {
        self.0.local_key_of(local)
    }
}

#[tokio::test]
async fn a_pull_after_a_push_does_not_rewrite_values_twenty_normalised() {
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    source.upsert(ENTITY, "l-1", person("one@example.com", "One", " cto "));
    source.upsert(ENTITY, "l-2", person("two@example.com", "Two", "CEO"));
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(Normalising(contacts())))
        .build()
        .expect("engine builds");
    let push = engine.push(RunOptions::new()).await.expect("push");
    assert_eq!(
        push.entities["contacts:push"].created,
        2,
        "{}",
        push.summary()
    );
    for _ in 0..2 {
        let pull = engine.pull(RunOptions::new()).await.expect("pull");
        let c = &pull.entities["contacts:pull"];
        assert_eq!(
            (c.created, c.updated, c.unchanged),
            (0, 0, 2),
            "our own write came back as a change: {}",
            pull.summary()
        );
    }
    assert_eq!(source.record(ENTITY, "l-1").unwrap().data["title"], " cto ");
    let push = engine.push(RunOptions::new()).await.expect("push again");
    assert_eq!(push.entities["contacts:push"].seen, 0, "{}", push.summary());

    // A real change in Twenty still comes through.
    let id = sim
        .handle()
        .records("people")
        .into_iter()
        .find(|p| p["emails"]["primaryEmail"] == "one@example.com")
        .and_then(|p| p["id"].as_str().map(str::to_owned))
        .expect("pushed");
    sim.handle()
        .update_record("people", &id, serde_json::json!({"jobTitle": "Founder"}));
    let pull = engine
        .pull(RunOptions::new())
        .await
        .expect("pull the change");
    assert_eq!(
        pull.entities["contacts:pull"].updated,
        1,
        "{}",
        pull.summary()
    );
    assert_eq!(
        source.record(ENTITY, "l-1").unwrap().data["title"],
        "Founder"
    );
}

/// The quickstart's phone rule (`examples/quickstart/contacts.toml`): a local `(415) 555-0100`
/// is pushed as an E.164 composite and maps back as `+1 415-555-0100`-style text.
#[tokio::test]
async fn the_quickstart_phone_rule_does_not_bring_a_push_back_on_pull() {
    use twenty_mapping::{MappingFile, TransformRegistry, compile};
    use twenty_sync_core::PlanMapper;
    let file = MappingFile::from_toml_str(
        r#"
[entities.contacts]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail"]

[[entities.contacts.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]

[[entities.contacts.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "US" }]
"#,
        "contacts.toml",
    )
    .expect("mapping parses");
    let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
    let mapper = PlanMapper::new(mapping, "contacts").expect("entity");
    let sim = sim(0).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let local =
        serde_json::json!({"id": "l-1", "email": "ada@example.com", "phone": "(415) 555-0100"});
    let round_trip = mapper.to_local(&mapper.to_twenty(&local).value).value;
    assert_ne!(
        round_trip["phone"], local["phone"],
        "the rule does not round-trip"
    );
    source.upsert(ENTITY, "l-1", local);
    let engine = SyncEngine::builder(client(&sim), source.clone(), state.clone())
        .entity(Arc::new(mapper))
        .build()
        .expect("engine builds");
    let push = engine.push(RunOptions::new()).await.expect("push");
    assert_eq!(
        push.entities["contacts:push"].created,
        1,
        "{}",
        push.summary()
    );
    let pull = engine.pull(RunOptions::new()).await.expect("pull");
    let c = &pull.entities["contacts:pull"];
    assert_eq!((c.updated, c.unchanged), (0, 1), "{}", pull.summary());
    assert_eq!(
        source.record(ENTITY, "l-1").unwrap().data["phone"],
        "(415) 555-0100"
    );
}
