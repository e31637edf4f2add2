//! The apply path on one pooled connection (several entities, a rejected batch) and its
//! durability option, `async_pull_commit`.

use serde_json::json;
use sink_postgres::{ColumnMap, ColumnType, EntityTable};
use twenty_sync_core::{
    Checkpoint, SourceOfTruth, StateCommit, StateStore, StoreErrorKind, SyncDirection,
};

use crate::common::{TestDb, admin, pulled_batch as batch, pulled_upsert as upsert};

/// A table whose trigger records the `synchronous_commit` of each write into `modes`, and the
/// same on the state schema's cursor table.
async fn mode_recording_tables(db: &TestDb) -> String {
    let data = db.data_schema();
    let pg = admin().await;
    pg.batch_execute(&format!(
        "CREATE SCHEMA \"{data}\";
         CREATE TABLE \"{data}\".modes (what text NOT NULL, mode text NOT NULL);
         CREATE TABLE \"{data}\".people (id text PRIMARY KEY, name text);
         CREATE FUNCTION \"{data}\".record_mode() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO \"{data}\".modes VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));
             RETURN NEW;
         END $$;
         CREATE TRIGGER record_mode BEFORE INSERT OR UPDATE ON \"{data}\".people
             FOR EACH ROW EXECUTE FUNCTION \"{data}\".record_mode();"
    ))
    .await
    .expect("test tables");
    data
}

async fn install_cursor_trigger(db: &TestDb) {
    let (data, state) = (db.data_schema(), db.state_schema());
    admin()
        .await
        .batch_execute(&format!(
            "CREATE TRIGGER record_mode BEFORE INSERT OR UPDATE ON \"{state}\".cursors
             FOR EACH ROW EXECUTE FUNCTION \"{data}\".record_mode();"
        ))
        .await
        .expect("cursor trigger");
}

async fn modes(db: &TestDb) -> Vec<(String, String)> {
    admin()
        .await
        .query(
            &format!("SELECT what, mode FROM \"{}\".modes", db.data_schema()),
            &[],
        )
        .await
        .expect("modes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn people(schema: &str) -> EntityTable {
    EntityTable::new("people", schema, "people", "id")
        .column(ColumnMap::new("name", ColumnType::Text))
}

#[tokio::test]
async fn async_pull_commit_applies_pulled_batches_without_waiting_for_the_flush_only() {
    let db = TestDb::new().await;
    let data = mode_recording_tables(&db).await;
    let durable = db.build(db.builder().entity(people(&data))).await;
    install_cursor_trigger(&db).await;
    durable
        .apply(&batch(
            "people",
            vec![upsert("a", json!({"id": "a", "name": "A"}))],
            "c1",
        ))
        .await
        .unwrap();
    let by_default = modes(&db).await;
    assert!(
        !by_default.is_empty() && by_default.iter().all(|(_, m)| m == "on"),
        "the default commits durably: {by_default:?}"
    );
    admin()
        .await
        .batch_execute(&format!("TRUNCATE \"{data}\".modes"))
        .await
        .unwrap();

    let fast = db
        .build(db.builder().entity(people(&data)).async_pull_commit(true))
        .await;
    fast.apply(&batch(
        "people",
        vec![upsert("b", json!({"id": "b", "name": "B"}))],
        "c2",
    ))
    .await
    .unwrap();
    let mut seen = modes(&db).await;
    seen.sort();
    seen.dedup(); // an upsert fires BEFORE INSERT, then BEFORE UPDATE on a conflict
    assert_eq!(
        seen,
        vec![
            ("cursors".to_owned(), "off".to_owned()),
            ("people".to_owned(), "off".to_owned())
        ],
        "data and state of a pulled batch commit together, without waiting for the flush"
    );
    // Data and state are still one transaction.
    assert_eq!(
        fast.records("people", &["b".into()]).await.unwrap().len(),
        1
    );
    assert_eq!(
        fast.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c2"))
    );

    // State commits (push) stay durable on the same sink.
    admin()
        .await
        .batch_execute(&format!("TRUNCATE \"{data}\".modes"))
        .await
        .unwrap();
    let mut push = StateCommit::new("people");
    push.cursors
        .push((SyncDirection::Push, Checkpoint::new("outbox:1:1")));
    fast.commit(&push).await.unwrap();
    let mut seen = modes(&db).await;
    seen.dedup();
    assert_eq!(
        seen,
        vec![("cursors".to_owned(), "on".to_owned())],
        "push state is never committed asynchronously"
    );
}

#[tokio::test]
async fn async_pull_commit_is_refused_when_the_state_is_kept_elsewhere() {
    let db = TestDb::new().await;
    let err = db
        .builder()
        .entity(people(&db.data_schema()).create(true))
        .async_pull_commit(true)
        .write_state_on_apply(false)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(
        err.to_string()
            .contains("async_pull_commit needs write_state_on_apply"),
        "{err}"
    );
}

#[tokio::test]
async fn one_connection_applies_several_entities_and_recovers_from_a_rejected_batch() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let texts = EntityTable::new("texts", &data, "texts", "id")
        .column(ColumnMap::new("name", ColumnType::Text))
        .create(true);
    let typed = EntityTable::new("typed", &data, "typed", "id")
        .column(ColumnMap::new("doc", ColumnType::Jsonb))
        .column(ColumnMap::new("n", ColumnType::Bigint))
        .create(true);
    // One connection: every batch reuses the same session.
    let sink = db
        .build(db.builder().entity(texts).entity(typed).max_connections(1))
        .await;
    admin()
        .await
        .batch_execute(&format!(
            "ALTER TABLE \"{data}\".typed ADD CONSTRAINT n_small CHECK (n < 100)"
        ))
        .await
        .unwrap();
    for round in 0..2 {
        let t = format!("t{round}");
        sink.apply(&batch(
            "texts",
            vec![upsert(&t, json!({"id": t, "name": "x"}))],
            "c",
        ))
        .await
        .unwrap();
        let y = format!("y{round}");
        sink.apply(&batch(
            "typed",
            vec![upsert(
                &y,
                json!({"id": y, "doc": {"a": round}, "n": round}),
            )],
            "c",
        ))
        .await
        .unwrap();
    }
    // Rejected by the server mid-statement: nothing of the batch stays (data or state), and
    // the next batch on the same connection applies normally.
    let bad = batch(
        "typed",
        vec![
            upsert("ok", json!({"id": "ok", "doc": null, "n": 1})),
            upsert("big", json!({"id": "big", "doc": null, "n": 1000})),
        ],
        "bad",
    );
    assert!(sink.apply(&bad).await.is_err());
    sink.apply(&batch(
        "typed",
        vec![upsert("z", json!({"id": "z", "doc": [1], "n": 7}))],
        "after",
    ))
    .await
    .unwrap();
    let pg = admin().await;
    let ids = |table: &'static str| {
        let pg = &pg;
        let data = data.clone();
        async move {
            pg.query(
                &format!("SELECT id FROM \"{data}\".{table} ORDER BY id"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("texts").await, ["t0", "t1"]);
    assert_eq!(ids("typed").await, ["y0", "y1", "z"]);
    assert_eq!(
        sink.cursor("typed", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("after"))
    );
    assert!(
        sink.records("typed", &["ok".into()])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_shared_batch_applies_on_its_own_task_as_apply_does_and_stops_when_dropped() {
    use std::sync::Arc;
    use std::time::Duration;
    use twenty_sync_core::StateWritten;

    let db = TestDb::new().await;
    let data = db.data_schema();
    let sink = db
        .build(
            db.builder().entity(
                EntityTable::default_table("people", &data, "id", [("name", ColumnType::Text)])
                    .create(true),
            ),
        )
        .await;
    let rows = |prefix: &'static str| {
        let data = data.clone();
        async move {
            admin()
                .await
                .query_one(
                    &format!("SELECT count(*) FROM \"{data}\".people WHERE id LIKE '{prefix}%'"),
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };

    // Data, state and cursor, in one transaction, as `apply` writes them.
    let one = Arc::new(batch(
        "people",
        vec![upsert("a", json!({"id": "a", "name": "A"}))],
        "c1",
    ));
    assert_eq!(sink.apply_shared(one).await.unwrap(), StateWritten::Written);
    assert_eq!(rows("a").await, 1);
    assert_eq!(
        sink.records("people", &["a".into()]).await.unwrap().len(),
        1
    );
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c1"))
    );

    // Its errors are `apply`'s.
    let unknown = batch("nobody", vec![], "x");
    let by_ref = sink.apply(&unknown).await.unwrap_err();
    let shared = sink.apply_shared(Arc::new(unknown)).await.unwrap_err();
    assert_eq!(
        (shared.kind(), shared.to_string()),
        (by_ref.kind(), by_ref.to_string())
    );

    // On a task of its own: the batch is committed while the caller does not poll its future.
    let own = Arc::new(batch(
        "people",
        vec![upsert("o", json!({"id": "o", "name": "O"}))],
        "c2",
    ));
    let mut pending = Box::pin(sink.apply_shared(own));
    assert!(
        futures::poll!(pending.as_mut()).is_pending(),
        "not done at once"
    );
    let mut waited = Duration::ZERO;
    while rows("o").await == 0 {
        assert!(
            waited < Duration::from_secs(10),
            "the batch was not committed while its caller did not poll"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert_eq!(pending.await.unwrap(), StateWritten::Written);

    // A caller that stops waiting stops the apply. The table is locked, so the apply waits in
    // the server; its caller gives up; the lock is released: nothing of the batch is written
    // then, and the pool is usable afterwards.
    let locker = admin().await;
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{data}\".people IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    let blocked = Arc::new(batch(
        "people",
        (0..500)
            .map(|i| {
                upsert(
                    &format!("k{i}"),
                    json!({"id": format!("k{i}"), "name": "K"}),
                )
            })
            .collect(),
        "c3",
    ));
    let gave_up =
        tokio::time::timeout(Duration::from_millis(300), sink.apply_shared(blocked)).await;
    assert!(gave_up.is_err(), "the apply waits for the lock");
    locker.batch_execute("ROLLBACK").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows("k").await, 0, "the stopped apply wrote nothing");
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c2"))
    );
    let after = Arc::new(batch(
        "people",
        vec![upsert("z", json!({"id": "z", "name": "Z"}))],
        "c4",
    ));
    sink.apply_shared(after).await.unwrap();
    assert_eq!(rows("z").await, 1);
}

/// The sink opens two more connections while its setup runs on the first, so a pull's first run
/// finds one for its lookups while it commits two batches on the others (`concurrent_applies`);
/// with fewer allowed, it opens as many as allowed, and takes two batches at once only with
/// three.
#[tokio::test]
async fn spare_connections_open_during_the_setup_as_far_as_the_pool_allows() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let status = sink.pool().status();
    assert_eq!((status.size, status.available), (3, 3), "{status:?}");
    assert_eq!(sink.concurrent_applies(), 2);

    let two = db.build(db.builder().max_connections(2)).await;
    let status = two.pool().status();
    assert_eq!((status.size, status.available), (2, 2), "{status:?}");
    assert_eq!(two.concurrent_applies(), 1);

    let single = db.build(db.builder().max_connections(1)).await;
    let status = single.pool().status();
    assert_eq!((status.size, status.available), (1, 1), "{status:?}");
}

/// A pulled batch made under a lease (`StateCommit::fence`) that another holder took since is
/// refused whole, data and state, on either path (new rows by COPY, existing ones by upsert);
/// under the current lease it applies.
#[tokio::test]
async fn a_batch_under_a_lease_taken_since_writes_neither_data_nor_state() {
    use std::time::Duration;
    let db = TestDb::new().await;
    let data = db.data_schema();
    let texts = EntityTable::new("texts", &data, "texts", "id")
        .column(ColumnMap::new("name", ColumnType::Text))
        .create(true);
    let sink = db.build(db.builder().entity(texts)).await;
    let ttl = Duration::from_secs(60);
    let a = sink
        .acquire_lease("ws#texts", "worker-a", ttl)
        .await
        .unwrap()
        .unwrap();
    let fenced = |keys: &[&str], name: &str, cursor: &str, lease: &twenty_sync_core::Lease| {
        let changes = keys
            .iter()
            .map(|k| upsert(k, json!({"id": k, "name": name})))
            .collect();
        let mut b = batch("texts", changes, cursor);
        b.state.fence = Some(lease.fence());
        b
    };
    sink.apply(&fenced(&["t1", "t2"], "first", "c1", &a))
        .await
        .expect("applied under the current lease");

    sink.release_lease(&a).await.unwrap();
    let b = sink
        .acquire_lease("ws#texts", "worker-b", ttl)
        .await
        .unwrap()
        .unwrap();
    for (keys, what) in [
        (&["t3", "t4"][..], "new rows"),
        (&["t1"][..], "an existing row"),
    ] {
        let err = sink
            .apply(&fenced(keys, "stale", "c-stale", &a))
            .await
            .expect_err(what);
        assert_eq!(err.kind(), StoreErrorKind::LeaseLost, "{what}: {err}");
    }
    let pg = admin().await;
    let rows: Vec<(String, String)> = pg
        .query(
            &format!("SELECT id, name FROM \"{data}\".texts ORDER BY id"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let first = |k: &str| (k.to_owned(), "first".to_owned());
    assert_eq!(rows, [first("t1"), first("t2")]);
    assert_eq!(
        sink.cursor("texts", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c1"))
    );
    assert!(
        sink.records("texts", &["t3".into()])
            .await
            .unwrap()
            .is_empty()
    );

    sink.apply(&fenced(&["t3"], "second", "c2", &b))
        .await
        .expect("applied under the new holder's lease");
    assert_eq!(
        sink.cursor("texts", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c2"))
    );
}
