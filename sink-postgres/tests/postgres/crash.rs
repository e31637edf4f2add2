use std::time::Duration;

use serde_json::json;
use sink_postgres::{ColumnMap, ColumnType, EntityTable};
use twenty_sync_core::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, InboundChange,
    InboundChangeKind, RecordState, SourceOfTruth, StateCommit, StateStore, SyncDirection,
};

use crate::common::{TestDb, admin};

fn batch(n: usize) -> ApplyBatch {
    let mut state = StateCommit::new("people");
    let mut changes = Vec::new();
    for i in 0..n {
        let key = format!("p-{i:04}");
        changes.push(InboundChange {
            key: key.clone(),
            twenty_id: format!("tw-{i}"),
            kind: InboundChangeKind::Upsert {
                data: json!({"name": {"firstName": format!("F{i}")}, "n": i}),
            },
            twenty_updated_at: None,
        });
        state
            .upsert_records
            .push(RecordState::new(key.clone(), format!("tw-{i}")));
        state.audit.push(AuditEntry {
            run_id: "run-crash".into(),
            at: chrono::Utc::now(),
            entity: "people".into(),
            direction: SyncDirection::Pull,
            local_key: Some(key),
            twenty_id: Some(format!("tw-{i}")),
            action: AuditAction::Create,
            changed_fields: vec![],
            before_hash: None,
            after_hash: None,
            outcome: AuditOutcome::Applied,
            detail: None,
        });
    }
    state
        .cursors
        .push((SyncDirection::Pull, Checkpoint::new("after-batch")));
    ApplyBatch {
        entity: "people".into(),
        changes,
        state,
    }
}

#[tokio::test]
async fn a_connection_killed_mid_batch_leaves_nothing_and_the_batch_resumes() {
    let db = TestDb::new().await;
    let table = EntityTable::new("people", db.data_schema(), "people", "id")
        .column(ColumnMap::new("name", ColumnType::Jsonb))
        .column(ColumnMap::new("n", ColumnType::Bigint))
        .create(true);
    let sink = db.build(db.builder().entity(table)).await;
    let t = format!("\"{}\".people", db.data_schema());

    // A row the batch will upsert, locked by another transaction: the apply blocks in the
    // middle of its transaction (after COPY, inside the upsert) until we kill it.
    let mut locker = admin().await;
    locker
        .execute(
            &format!("INSERT INTO {t} (id, n) VALUES ('p-0000', -1)"),
            &[],
        )
        .await
        .unwrap();
    let lock_tx = locker.transaction().await.unwrap();
    lock_tx
        .execute(
            &format!("SELECT 1 FROM {t} WHERE id = 'p-0000' FOR UPDATE"),
            &[],
        )
        .await
        .unwrap();
    let locker_pid: i32 = lock_tx
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let b = batch(500);
    let applying = {
        let sink = sink.clone();
        let b = b.clone();
        tokio::spawn(async move { sink.apply(&b).await })
    };
    let observer = admin().await;
    let mut victim = None;
    for _ in 0..500 {
        let row = observer
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                &[&locker_pid],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            victim = Some(r.get::<_, i32>(0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let victim = victim.expect("the apply never blocked on the locked row");
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&victim])
        .await
        .unwrap();
    let result = applying.await.unwrap();
    let err = result.expect_err("the killed apply must fail");
    assert!(
        err.is_temporary(),
        "a killed connection is retryable: {err}"
    );
    lock_tx.rollback().await.unwrap();

    // Nothing of the batch: no data, no state, no audit, cursor not moved.
    let rows: i64 = observer
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "only the pre-existing row");
    let pre: i64 = observer
        .query_one(&format!("SELECT n FROM {t} WHERE id = 'p-0000'"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pre, -1);
    assert!(
        sink.records("people", &["p-0001".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sink.audit(&AuditQuery::default()).await.unwrap().is_empty());
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        None
    );

    // Resume: the same batch applies completely.
    sink.apply(&b).await.unwrap();
    let rows: i64 = observer
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 500);
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("after-batch"))
    );
    assert_eq!(sink.audit(&AuditQuery::default()).await.unwrap().len(), 500);
    let got = sink.get("people", &["p-0000".into()]).await.unwrap();
    assert_eq!(got[0].data["n"], json!(0));
}

#[tokio::test]
async fn a_dropped_apply_future_commits_nothing() {
    let db = TestDb::new().await;
    let table = EntityTable::new("people", db.data_schema(), "people", "id")
        .column(ColumnMap::new("name", ColumnType::Jsonb))
        .column(ColumnMap::new("n", ColumnType::Bigint))
        .create(true);
    let sink = db
        .build(db.builder().entity(table).max_connections(1))
        .await;
    let t = format!("\"{}\".people", db.data_schema());
    let mut locker = admin().await;
    locker
        .execute(
            &format!("INSERT INTO {t} (id, n) VALUES ('p-0000', -1)"),
            &[],
        )
        .await
        .unwrap();
    let lock_tx = locker.transaction().await.unwrap();
    lock_tx
        .execute(
            &format!("SELECT 1 FROM {t} WHERE id = 'p-0000' FOR UPDATE"),
            &[],
        )
        .await
        .unwrap();
    let b = batch(50);
    let timed_out = tokio::time::timeout(Duration::from_millis(300), sink.apply(&b)).await;
    assert!(timed_out.is_err(), "the apply should still be blocked");
    lock_tx.rollback().await.unwrap();
    // The pooled connection rolled the abandoned transaction back; it is usable again.
    sink.apply(&b).await.unwrap();
    assert_eq!(sink.audit(&AuditQuery::default()).await.unwrap().len(), 50);
    let observer = admin().await;
    let rows: i64 = observer
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
}
