//! The conformance suite against the in-memory stores, plus memory-specific behaviour.

use futures::TryStreamExt;
use serde_json::json;
use twenty_sync_core::conformance;
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit, StateWritten,
};

#[tokio::test]
async fn memory_state_passes_the_state_conformance_suite() {
    conformance::state::run_all(&MemoryState::new()).await;
}

#[tokio::test]
async fn memory_source_passes_the_source_conformance_suite() {
    let source = MemorySource::new();
    conformance::source::run_all(&source, &source).await;
}

#[tokio::test]
async fn memory_source_does_not_echo_applied_changes() {
    let source = MemorySource::new();
    conformance::source::applied_changes_are_not_echoed(&source, &source, "echo").await;
}

#[tokio::test]
async fn memory_source_keeps_tombstones_visible_but_out_of_records() {
    let source = MemorySource::new();
    source.upsert("people", "p1", json!({"name": "Ada"}));
    source.upsert("people", "p2", json!({"name": "Alan"}));
    let batch = ApplyBatch {
        entity: "people".into(),
        changes: vec![InboundChange {
            key: "p1".into(),
            twenty_id: "tw-1".into(),
            kind: InboundChangeKind::Delete { tombstone: true },
            twenty_updated_at: None,
        }],
        state: StateCommit::new("people"),
    };
    assert_eq!(
        source.apply(&batch).await.unwrap(),
        StateWritten::NotWritten
    );
    assert!(source.is_tombstoned("people", "p1"));
    assert!(!source.is_tombstoned("people", "p2"));
    let keys: Vec<String> = source
        .records("people")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["p2"]);
    assert!(source.record("people", "p1").is_none());
}

#[tokio::test]
async fn memory_source_rejects_a_foreign_checkpoint() {
    let source = MemorySource::new();
    let err = source
        .changes_since(
            "people",
            Some(&twenty_sync_core::Checkpoint::new("2024-01-01T00:00:00Z")),
        )
        .await
        .err()
        .expect("a non-numeric checkpoint must be rejected");
    assert_eq!(err.kind(), twenty_sync_core::StoreErrorKind::Invalid);
}

#[tokio::test]
async fn memory_source_clones_share_data_and_feed() {
    let source = MemorySource::new();
    let clone = source.clone();
    clone.upsert("people", "p1", json!({"name": "Ada"}));
    let feed: Vec<_> = source
        .changes_since("people", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(source.head("people"), Some(feed[0].checkpoint.clone()));
}
