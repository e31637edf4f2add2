//! Rows new to a table go in by one binary COPY per batch; a row already there sends the batch
//! back to its savepoint and through the upsert, in the same transaction. Pulled rows are never
//! captured as local changes, whichever way they went in.

use serde_json::json;
use std::sync::Arc;

use sink_postgres::{ApplyStats, ColumnType, EntityTable, PostgresSink};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, RecordState, SourceOfTruth, StateCommit, StateStore,
    StoreErrorKind, SyncDirection,
};

use crate::common::{TestDb, admin, pulled_batch, pulled_upsert as upsert};

fn batch(changes: Vec<InboundChange>, cursor: &str) -> ApplyBatch {
    pulled_batch("people", changes, cursor)
}

/// The default table of `people` with one column of each kind the COPY has to encode.
fn people(schema: &str) -> EntityTable {
    EntityTable::default_table(
        "people",
        schema,
        "id",
        [
            ("name", ColumnType::Text),
            ("n", ColumnType::Bigint),
            ("doc", ColumnType::Jsonb),
            ("tags", ColumnType::TextArray),
            ("seen", ColumnType::Timestamptz),
        ],
    )
}

/// A sink (a new run's: it knows nothing of what an earlier one wrote) of [`people`], creating
/// the table if needed.
async fn people_sink(db: &TestDb) -> Arc<PostgresSink> {
    db.build(db.builder().entity(people(&db.data_schema()).create(true)))
        .await
}

/// The rows of `<data>.people` as (id, name, n), by id.
async fn people_rows(pg: &tokio_postgres::Client, data: &str) -> Vec<(String, String, i64)> {
    pg.query(
        &format!("SELECT id, name, n FROM \"{data}\".people ORDER BY id"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

fn stats(copied_rows: u64, upserted_rows: u64, copy_fallbacks: u64) -> ApplyStats {
    let mut s = ApplyStats::default();
    s.copied_rows = copied_rows;
    s.upserted_rows = upserted_rows;
    s.copy_fallbacks = copy_fallbacks;
    s
}

/// `s` with `inserted` record states written by the COPY of new states and `fallbacks` batches
/// whose COPY of states met one already there.
fn states(mut s: ApplyStats, inserted: u64, fallbacks: u64) -> ApplyStats {
    s.inserted_states = inserted;
    s.state_insert_fallbacks = fallbacks;
    s
}

fn person(key: &str, name: &str, n: i64) -> InboundChange {
    upsert(
        key,
        json!({
            "id": key,
            "name": name,
            "n": n,
            "doc": {"a": [1, 2], "b": null},
            "tags": ["x", "y"],
            "seen": "2025-01-02T03:04:05.123456Z",
        }),
    )
}

#[tokio::test]
async fn new_rows_are_copied_and_a_row_already_there_sends_the_batch_to_the_upsert() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let state = db.state_schema();
    let sink = people_sink(&db).await;
    let pg = admin().await;

    // 1. Two new rows: one COPY, every kind encoded as the upsert would have.
    sink.apply(&batch(
        vec![person("a", "Ada", 1), person("b", "Bo", 2)],
        "c1",
    ))
    .await
    .unwrap();
    // Their record states are new too: inserted without `ON CONFLICT`.
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(2, 0, 0), 2, 0))
    );
    let row = pg
        .query_one(
            &format!(
                "SELECT name, n, doc, tags, seen = '2025-01-02T03:04:05.123456Z'::timestamptz,
                        deleted_at IS NULL
                 FROM \"{data}\".people WHERE id = 'a'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Ada");
    assert_eq!(row.get::<_, i64>(1), 1);
    assert_eq!(
        row.get::<_, serde_json::Value>(2),
        json!({"a": [1, 2], "b": null})
    );
    assert_eq!(row.get::<_, Vec<String>>(3), vec!["x", "y"]);
    assert!(row.get::<_, bool>(4), "timestamp kept to the microsecond");
    assert!(row.get::<_, bool>(5), "a copied row is live");
    let read_back = sink.get("people", &["a".into()]).await.unwrap();
    assert_eq!(read_back[0].data["tags"], json!(["x", "y"]));

    // 2. A local row the sink never wrote (no record state), then a batch with it and a new
    //    one: the COPY meets it, the batch is upserted instead, nothing is duplicated.
    pg.batch_execute(&format!(
        "INSERT INTO \"{data}\".people (id, name, n) VALUES ('c', 'Local', 0)"
    ))
    .await
    .unwrap();
    sink.apply(&batch(
        vec![person("c", "Cy", 3), person("d", "Di", 4)],
        "c2",
    ))
    .await
    .unwrap();
    // An upserted batch upserts its states as well.
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(2, 2, 1), 2, 0))
    );
    let rows = people_rows(&pg, &data).await;
    assert_eq!(
        rows,
        vec![
            ("a".into(), "Ada".into(), 1),
            ("b".into(), "Bo".into(), 2),
            ("c".into(), "Cy".into(), 3),
            ("d".into(), "Di".into(), 4),
        ]
    );
    // The batch's state went in with it (the fallback stayed in the same transaction).
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c2"))
    );
    assert_eq!(
        sink.records("people", &["d".into()]).await.unwrap().len(),
        1
    );

    // 3. After a row that was already there, the sink upserts from the start.
    sink.apply(&batch(vec![person("e", "Eve", 5)], "c3"))
        .await
        .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(2, 3, 1), 2, 0))
    );

    // Only the local insert was captured; none of the pulled rows, copied or upserted.
    let captured: Vec<(String, i8)> = pg
        .query(
            &format!("SELECT key, op FROM \"{state}\".outbox ORDER BY seq"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(captured, vec![("c".to_owned(), b'I' as i8)]);
}

#[tokio::test]
async fn a_copy_refused_by_a_check_constraint_fails_the_batch_without_upserting_it_again() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let sink = people_sink(&db).await;
    admin()
        .await
        .batch_execute(&format!(
            "ALTER TABLE \"{data}\".people ADD CONSTRAINT n_not_negative CHECK (n >= 0)"
        ))
        .await
        .unwrap();
    let err = sink
        .apply(&batch(
            vec![person("a", "Ada", 1), person("b", "Bo", -1)],
            "c1",
        ))
        .await
        .unwrap_err();
    // The upsert would meet the same constraint: the COPY's error is the batch's.
    assert!(
        err.to_string().contains("copying new rows") && err.to_string().contains("n_not_negative"),
        "{err}"
    );
    assert_eq!(sink.apply_stats("people"), Some(stats(0, 0, 0)));
    // Nothing of the batch was kept, and the table is still treated as fresh.
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        None
    );
    sink.apply(&batch(vec![person("a", "Ada", 1)], "c2"))
        .await
        .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(1, 0, 0), 1, 0))
    );
}

#[tokio::test]
async fn a_row_that_does_not_fit_mid_copy_fails_the_batch_and_keeps_nothing_of_it() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let sink = people_sink(&db).await;
    // Rows are converted as they are copied: two go out before the third turns out not to fit.
    let mut bad = person("c", "Cy", 3);
    if let twenty_sync_core::InboundChangeKind::Upsert { data } = &mut bad.kind {
        data["n"] = json!("three");
    }
    let err = sink
        .apply(&batch(
            vec![
                person("a", "Ada", 1),
                person("b", "Bo", 2),
                bad,
                person("d", "Di", 4),
            ],
            "c1",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        twenty_sync_core::StoreErrorKind::Invalid,
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("\"n\"") && text.contains("\"c\""), "{text}");
    assert!(!text.contains("three"), "the value is not shown: {text}");
    let pg = admin().await;
    let n: i64 = pg
        .query_one(&format!("SELECT count(*) FROM \"{data}\".people"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "none of the batch was kept");
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        None
    );
    assert_eq!(sink.apply_stats("people"), Some(stats(0, 0, 0)));
    // The aborted COPY left the pooled connection usable and the table fresh.
    sink.apply(&batch(
        vec![person("a", "Ada", 1), person("b", "Bo", 2)],
        "c2",
    ))
    .await
    .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(2, 0, 0), 2, 0))
    );
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull)
            .await
            .unwrap()
            .map(|c| c.as_str().to_owned()),
        Some("c2".to_owned())
    );
}

/// Whether the capture trigger on `data`.people has a `WHEN` clause.
async fn has_when(data: &str, state: &str) -> bool {
    admin()
        .await
        .query_one(
            &format!(
                "SELECT tgqual IS NOT NULL FROM pg_trigger
                 WHERE tgrelid = '\"{data}\".people'::regclass AND tgname = '{state}_capture'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_capture_trigger_from_before_the_when_clause_is_installed_again() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let state = db.state_schema();
    let sink = people_sink(&db).await;
    let pg = admin().await;
    assert!(
        has_when(&data, &state).await,
        "installed with its WHEN clause"
    );
    drop(sink);
    // The trigger as an earlier version installed it: same name and arguments, no WHEN.
    pg.batch_execute(&format!(
        "DROP TRIGGER \"{state}_capture\" ON \"{data}\".people;
         CREATE TRIGGER \"{state}_capture\" AFTER INSERT OR UPDATE OR DELETE ON \"{data}\".people
         FOR EACH ROW EXECUTE FUNCTION \"{state}\".capture_change('people', 'id')"
    ))
    .await
    .unwrap();
    assert!(!has_when(&data, &state).await);
    let _sink = people_sink(&db).await;
    assert!(
        has_when(&data, &state).await,
        "reinstalled by the next start"
    );
}

#[tokio::test]
async fn record_states_already_there_send_the_batch_s_states_to_the_upsert() {
    let db = TestDb::new().await;
    let sink = people_sink(&db).await;
    // A state the sink holds without a data row (written by an earlier run, say).
    let mut earlier = StateCommit::new("people");
    let mut old = RecordState::new("a".to_owned(), "tw-a".to_owned());
    old.twenty_hash = Some("old".into());
    earlier.upsert_records.push(old);
    sink.commit(&earlier).await.unwrap();

    // The data rows are new (copied), the state of `a` is not: the COPY of the states
    // meets it and the batch's states are upserted, in the same transaction.
    sink.apply(&batch(
        vec![person("a", "Ada", 1), person("b", "Bo", 2)],
        "c1",
    ))
    .await
    .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(2, 0, 0), 0, 1))
    );
    let mut got = sink
        .records("people", &["a".into(), "b".into()])
        .await
        .unwrap();
    got.sort_by(|x, y| x.local_key.cmp(&y.local_key));
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].twenty_hash, None,
        "the batch's state replaced the old one"
    );
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c1"))
    );

    // From then on this entity's states are upserted, copied rows or not.
    sink.apply(&batch(vec![person("c", "Cy", 3)], "c2"))
        .await
        .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(3, 0, 0), 0, 1))
    );
}

#[tokio::test]
async fn a_twenty_id_mapped_twice_fails_the_copy_of_states_and_the_upsert_alike() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let sink = people_sink(&db).await;
    // `x` already holds Twenty id `tw-y`; the batch maps `tw-y` to the new key `y`.
    let mut earlier = StateCommit::new("people");
    earlier
        .upsert_records
        .push(RecordState::new("x".to_owned(), "tw-y".to_owned()));
    sink.commit(&earlier).await.unwrap();
    let err = sink
        .apply(&batch(vec![person("y", "Yan", 1)], "c1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
    assert!(
        err.to_string().contains("second local key"),
        "reported as the upsert reports it: {err}"
    );
    // Nothing of the batch was kept.
    let n: i64 = admin()
        .await
        .query_one(&format!("SELECT count(*) FROM \"{data}\".people"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        None
    );
    // The rows were copied before the states failed (the counters count what was sent).
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(1, 0, 0), 0, 1))
    );
}

/// A sink started over a table it already filled (an incremental pull) checks the first row of
/// its first batch instead of trying a COPY that would fail at it: the updates are upserted with
/// no COPY refused, and the table counts as not fresh from then on. A sink whose first batch
/// starts with a new row still tries the COPY (a full pull resumed after a crash).
#[tokio::test]
async fn a_new_sink_over_a_filled_table_upserts_its_first_batch_without_a_doomed_copy() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let first = people_sink(&db).await;
    first
        .apply(&batch(
            vec![person("a", "Ada", 1), person("b", "Bo", 2)],
            "c1",
        ))
        .await
        .unwrap();
    assert_eq!(first.apply_stats("people").unwrap().copied_rows, 2);

    // A second sink (a later run): its first batch updates `a` and adds `c`.
    let second = people_sink(&db).await;
    second
        .apply(&batch(
            vec![person("a", "Ada 2", 10), person("c", "Cy", 3)],
            "c2",
        ))
        .await
        .unwrap();
    assert_eq!(
        second.apply_stats("people"),
        Some(stats(0, 2, 0)),
        "no COPY tried, none refused"
    );
    // Not fresh any more: a batch of new rows is upserted too.
    second
        .apply(&batch(vec![person("d", "Di", 4)], "c3"))
        .await
        .unwrap();
    assert_eq!(second.apply_stats("people"), Some(stats(0, 3, 0)));

    // A third sink whose first batch starts with a new row copies it, and falls back to the
    // upsert when a later row is there.
    let third = people_sink(&db).await;
    third
        .apply(&batch(vec![person("e", "Ed", 5)], "c4"))
        .await
        .unwrap();
    third
        .apply(&batch(
            vec![person("f", "Fy", 6), person("b", "Bo 2", 20)],
            "c5",
        ))
        .await
        .unwrap();
    let s = third.apply_stats("people").unwrap();
    assert_eq!(
        (s.copied_rows, s.upserted_rows, s.copy_fallbacks),
        (1, 2, 1)
    );

    let pg = admin().await;
    let rows = people_rows(&pg, &data).await;
    let expect = [
        ("a", "Ada 2", 10),
        ("b", "Bo 2", 20),
        ("c", "Cy", 3),
        ("d", "Di", 4),
        ("e", "Ed", 5),
        ("f", "Fy", 6),
    ];
    assert_eq!(
        rows,
        expect
            .iter()
            .map(|(k, n, v)| (k.to_string(), n.to_string(), *v))
            .collect::<Vec<_>>()
    );
}

/// Once a table is not fresh, a batch's statements (settings, rows, record states, audit rows,
/// cursor) go out without waiting for each other's answers. Whichever of them the server refuses,
/// the error reported is the one it raised, not a later statement's "transaction is aborted",
/// and nothing of the batch is kept; the sink then applies the next batch as usual.
#[tokio::test]
async fn a_pipelined_batch_reports_the_failure_the_server_raised_and_keeps_nothing() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    people_sink(&db)
        .await
        .apply(&batch(
            vec![person("a", "Ada", 1), person("b", "Bo", 2)],
            "c1",
        ))
        .await
        .unwrap();
    // A later run's sink over the filled table: its batches are upserted, no COPY.
    let sink = people_sink(&db).await;
    let pg = admin().await;
    pg.batch_execute(&format!(
        "ALTER TABLE \"{data}\".people ADD CONSTRAINT n_not_negative CHECK (n >= 0)"
    ))
    .await
    .unwrap();

    // The rows are refused: their error, not that of the states sent behind them.
    let err = sink
        .apply(&batch(vec![person("a", "Ada", -1)], "c2"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("upserting rows"), "{err}");
    assert!(err.to_string().contains("n_not_negative"), "{err}");

    // The states are refused (`c` would take `b`'s Twenty id): their error, not that of the
    // audit rows or the cursor sent behind them.
    let mut taken = person("c", "Cy", 3);
    taken.twenty_id = "tw-b".into();
    let err = sink
        .apply(&batch(vec![person("a", "Ada 2", 10), taken], "c3"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("second local key"), "{err}");

    let kept = || async {
        (
            people_rows(&pg, &data).await,
            sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        )
    };
    let first = vec![("a".into(), "Ada".into(), 1), ("b".into(), "Bo".into(), 2)];
    assert_eq!(kept().await, (first, Some(Checkpoint::new("c1"))));
    assert_eq!(
        sink.records("people", &["c".into()]).await.unwrap(),
        vec![],
        "no state of the refused batches"
    );

    sink.apply(&batch(vec![person("a", "Ada 3", 30)], "c4"))
        .await
        .unwrap();
    let after = vec![
        ("a".into(), "Ada 3".into(), 30),
        ("b".into(), "Bo".into(), 2),
    ];
    assert_eq!(kept().await, (after, Some(Checkpoint::new("c4"))));
    assert_eq!(sink.apply_stats("people").unwrap().copied_rows, 0);
}

/// A row refused by a unique index on one of its columns (a row already there with the same
/// name, or an earlier row of the batch) is named in the error's `key` context: the engine then
/// refuses that row alone instead of halving the batch to find it. Such a violation leaves the
/// table fresh (new rows still go in by COPY). An index over an expression names no row.
#[tokio::test]
async fn a_unique_violation_on_a_column_names_the_row_that_caused_it() {
    let db = TestDb::new().await;
    let data = db.data_schema();
    let sink = people_sink(&db).await;
    let pg = admin().await;
    pg.batch_execute(&format!(
        "ALTER TABLE \"{data}\".people ADD CONSTRAINT one_name UNIQUE (name)"
    ))
    .await
    .unwrap();
    sink.apply(&batch(vec![person("a", "Ada", 1)], "c1"))
        .await
        .unwrap();
    let named = |err: &twenty_sync_core::StoreError| {
        err.context()
            .iter()
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.clone())
    };
    let refused = batch(
        vec![
            person("b", "Bo", 2),
            person("c", "Ada", 3),
            person("d", "Di", 4),
        ],
        "c2",
    );
    // COPY, refused on `name`, then the upsert, refused the same way.
    let err = sink.apply(&refused).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
    assert_eq!(named(&err), Some("c".to_owned()), "{err}");
    // A violation on another column than the key says nothing of the keys: the table is still
    // fresh, and the batch without `c` goes in by COPY.
    sink.apply(&batch(
        vec![person("b", "Bo", 2), person("d", "Di", 4)],
        "c2",
    ))
    .await
    .unwrap();
    assert_eq!(
        sink.apply_stats("people"),
        Some(states(stats(3, 0, 1), 3, 0))
    );
    // Two rows of one batch share a name: the second is named.
    let err = sink
        .apply(&batch(
            vec![person("f", "Fay", 6), person("g", "Fay", 7)],
            "c3",
        ))
        .await
        .unwrap_err();
    assert_eq!(named(&err), Some("g".to_owned()), "{err}");
    assert_eq!(
        people_rows(&pg, &data).await,
        vec![
            ("a".to_owned(), "Ada".to_owned(), 1),
            ("b".to_owned(), "Bo".to_owned(), 2),
            ("d".to_owned(), "Di".to_owned(), 4)
        ]
    );

    pg.batch_execute(&format!(
        "ALTER TABLE \"{data}\".people DROP CONSTRAINT one_name;
         CREATE UNIQUE INDEX one_lower_name ON \"{data}\".people (lower(name))"
    ))
    .await
    .unwrap();
    let err = sink
        .apply(&batch(vec![person("e", "ADA", 5)], "c4"))
        .await
        .unwrap_err();
    assert_eq!(named(&err), None, "an expression index names no row: {err}");
}
