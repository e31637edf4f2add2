use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use sink_postgres::{CaptureMode, ColumnMap, ColumnType, EntityTable, PostgresSink};
use twenty_sync_core::{
    ApplyBatch, Checkpoint, InboundChange, InboundChangeKind, LocalChange, LocalChangeKind,
    SourceOfTruth, StateCommit, StateStore, SyncDirection,
};

use crate::common::{TestDb, admin};

fn items(db: &TestDb) -> EntityTable {
    EntityTable::new("items", db.data_schema(), "items", "id")
        .column(ColumnMap::new("n", ColumnType::Bigint))
        .column(ColumnMap::new("label", ColumnType::Text))
        .create(true)
}

async fn drain(sink: &PostgresSink, cp: Option<&Checkpoint>) -> Vec<LocalChange> {
    sink.changes_since("items", cp)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Reads the feed until it has handed out at least `n` changes (other tests' transactions in the
/// same cluster can hold the outbox horizon back for a moment).
async fn drain_at_least(
    sink: &PostgresSink,
    cp: Option<&Checkpoint>,
    n: usize,
) -> Vec<LocalChange> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let changes = drain(sink, cp).await;
        if changes.len() >= n || tokio::time::Instant::now() > deadline {
            return changes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn table(db: &TestDb) -> String {
    format!("\"{}\".items", db.data_schema())
}

#[tokio::test]
async fn inserts_updates_and_deletes_are_captured_and_resume_after_the_checkpoint() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db))).await;
    let client = admin().await;
    let t = table(&db);
    client
        .batch_execute(&format!(
            "INSERT INTO {t} VALUES ('a', 1, 'x'), ('b', 2, 'y');
             UPDATE {t} SET n = 10 WHERE id = 'a';
             DELETE FROM {t} WHERE id = 'b';"
        ))
        .await
        .unwrap();
    let changes = drain_at_least(&sink, None, 2).await;
    let summary: Vec<(String, Option<i64>)> = changes
        .iter()
        .map(|c| match &c.kind {
            LocalChangeKind::Upsert { data } => (c.key.clone(), data["n"].as_i64()),
            LocalChangeKind::Delete => (c.key.clone(), None),
        })
        .collect();
    assert_eq!(
        summary,
        vec![("a".to_owned(), Some(10)), ("b".to_owned(), None)]
    );
    let last = changes.last().unwrap().checkpoint.clone();
    assert!(drain(&sink, Some(&last)).await.is_empty());

    client
        .batch_execute(&format!("UPDATE {t} SET label = 'z' WHERE id = 'a'"))
        .await
        .unwrap();
    let next = drain_at_least(&sink, Some(&last), 1).await;
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].kind,
        LocalChangeKind::Upsert {
            data: json!({"id": "a", "n": 10, "label": "z"})
        }
    );
}

#[tokio::test]
async fn pulled_changes_are_not_captured_as_local_changes() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db))).await;
    sink.apply(&ApplyBatch {
        entity: "items".into(),
        changes: vec![InboundChange {
            key: "a".into(),
            twenty_id: "t".into(),
            kind: InboundChangeKind::Upsert {
                data: json!({"n": 1, "label": "pulled"}),
            },
            twenty_updated_at: None,
        }],
        state: StateCommit::new("items"),
    })
    .await
    .unwrap();
    assert!(drain(&sink, None).await.is_empty());
}

#[tokio::test]
async fn a_long_transaction_holds_the_feed_back_until_it_commits() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db))).await;
    let t = table(&db);
    let mut slow = admin().await;
    let fast = admin().await;
    let slow_tx = slow.transaction().await.unwrap();
    // The slow transaction writes first (smaller xid) but commits last.
    slow_tx
        .execute(&format!("INSERT INTO {t} VALUES ('slow', 1, 's')"), &[])
        .await
        .unwrap();
    fast.execute(&format!("INSERT INTO {t} VALUES ('fast', 2, 'f')"), &[])
        .await
        .unwrap();
    // The fast row is committed but behind a running transaction: not handed out yet, so a
    // checkpoint cannot move past the slow one's changes.
    assert!(drain(&sink, None).await.is_empty());
    slow_tx.commit().await.unwrap();
    let keys: Vec<String> = drain_at_least(&sink, None, 2)
        .await
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys, vec!["slow".to_owned(), "fast".to_owned()]);
}

#[tokio::test]
async fn concurrent_writers_lose_no_change_and_each_key_moves_forward() {
    const WRITERS: i64 = 4;
    const UPDATES: i64 = 25;
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db)).page_size(7)).await;
    let t = table(&db);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let t = t.clone();
        writers.push(tokio::spawn(async move {
            let mut client = admin().await;
            let key = format!("w{w}");
            client
                .execute(&format!("INSERT INTO {t} VALUES ($1, 0, 'new')"), &[&key])
                .await
                .unwrap();
            for i in 1..=UPDATES {
                let tx = client.transaction().await.unwrap();
                // Take an xid early, then wait: transactions commit out of xid order.
                tx.execute("SELECT pg_current_xact_id()", &[])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(((i * 7 + w * 3) % 5) as u64)).await;
                tx.execute(&format!("UPDATE {t} SET n = $2 WHERE id = $1"), &[&key, &i])
                    .await
                    .unwrap();
                // Short-lived extra rows, inserted and deleted in separate transactions.
                let tmp = format!("tmp-{w}-{i}");
                tx.execute(
                    &format!("INSERT INTO {t} VALUES ($1, $2, 'tmp')"),
                    &[&tmp, &i],
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                if i % 2 == 0 {
                    client
                        .execute(&format!("DELETE FROM {t} WHERE id = $1"), &[&tmp])
                        .await
                        .unwrap();
                }
            }
        }));
    }

    let complete = |latest: &HashMap<String, Option<i64>>| {
        (0..WRITERS).all(|w| {
            latest.get(&format!("w{w}")) == Some(&Some(UPDATES))
                && (1..=UPDATES).all(|i| {
                    let expect = if i % 2 == 0 { None } else { Some(i) };
                    latest.get(&format!("tmp-{w}-{i}")) == Some(&expect)
                })
        })
    };
    let reader = {
        let sink = sink.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cp: Option<Checkpoint> = None;
            let mut latest: HashMap<String, Option<i64>> = HashMap::new();
            let mut deadline = None;
            loop {
                if done.load(std::sync::atomic::Ordering::SeqCst) && deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + Duration::from_secs(30));
                }
                let changes = drain(&sink, cp.as_ref()).await;
                for c in changes {
                    let n = match &c.kind {
                        LocalChangeKind::Upsert { data } => data["n"].as_i64(),
                        _ => None,
                    };
                    if c.key.starts_with('w') {
                        let before = latest.get(&c.key).copied().flatten().unwrap_or(-1);
                        let now = n.expect("writer rows are never deleted");
                        assert!(now >= before, "{} went back from {before} to {now}", c.key);
                    }
                    latest.insert(c.key.clone(), n);
                    cp = Some(c.checkpoint);
                }
                // After the writers stop, read until the final state is seen (the horizon may lag
                // behind other tests' transactions); a missed change never shows up.
                if let Some(d) = deadline {
                    if complete(&latest) || tokio::time::Instant::now() > d {
                        return latest;
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let latest = reader.await.unwrap();
    for w in 0..WRITERS {
        assert_eq!(
            latest.get(&format!("w{w}")),
            Some(&Some(UPDATES)),
            "writer {w}"
        );
        for i in 1..=UPDATES {
            let expect = if i % 2 == 0 { None } else { Some(i) };
            assert_eq!(
                latest.get(&format!("tmp-{w}-{i}")),
                Some(&expect),
                "tmp-{w}-{i}"
            );
        }
    }
}

#[tokio::test]
async fn committing_the_push_cursor_prunes_the_outbox() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db))).await;
    let client = admin().await;
    let t = table(&db);
    client
        .batch_execute(&format!(
            "INSERT INTO {t} VALUES ('a', 1, 'x'), ('b', 2, 'y')"
        ))
        .await
        .unwrap();
    let changes = drain_at_least(&sink, None, 2).await;
    let mut commit = StateCommit::new("items");
    commit
        .cursors
        .push((SyncDirection::Push, changes[0].checkpoint.clone()));
    sink.commit(&commit).await.unwrap();
    let left: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".outbox", db.state_schema()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
    let rest = drain_at_least(&sink, Some(&changes[0].checkpoint), 1).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].key, "b");
}

#[tokio::test]
async fn removing_capture_stops_recording_changes() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder().entity(items(&db))).await;
    assert_eq!(sink.remove_capture("items").await.unwrap(), 1);
    admin()
        .await
        .batch_execute(&format!("INSERT INTO {} VALUES ('a', 1, 'x')", table(&db)))
        .await
        .unwrap();
    assert!(drain(&sink, None).await.is_empty());
    sink.install_capture("items").await.unwrap();
    admin()
        .await
        .batch_execute(&format!("UPDATE {} SET n = 2", table(&db)))
        .await
        .unwrap();
    assert_eq!(drain_at_least(&sink, None, 1).await.len(), 1);
    assert_eq!(sink.remove_all_capture().await.unwrap(), 1);
}

#[tokio::test]
async fn updated_at_mode_reads_rows_older_than_the_window_and_tombstones_as_deletes() {
    let db = TestDb::new().await;
    let client = admin().await;
    let s = db.data_schema();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{s}\";
             CREATE TABLE \"{s}\".plain (id int PRIMARY KEY, label text,
                 modified timestamptz NOT NULL, removed boolean NOT NULL DEFAULT false);
             INSERT INTO \"{s}\".plain VALUES
                 (1, 'one', now() - interval '2 hours', false),
                 (2, 'two', now() - interval '1 hour', true),
                 (3, 'three', now() - interval '1 hour', false),
                 (4, 'recent', now(), false);"
        ))
        .await
        .unwrap();
    let table = EntityTable::new("plain", s.clone(), "plain", "id")
        .column(ColumnMap::new("label", ColumnType::Text))
        .updated_at_column("modified")
        .tombstone_column("removed")
        .capture(CaptureMode::UpdatedAt {
            safety_window_secs: 600,
        });
    let sink = db.build(db.builder().entity(table).page_size(2)).await;
    let changes: Vec<LocalChange> = sink
        .changes_since("plain", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let keys: Vec<(&str, bool)> = changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind == LocalChangeKind::Delete))
        .collect();
    assert_eq!(keys, vec![("1", false), ("2", true), ("3", false)]);
    assert!(changes.iter().all(|c| c.updated_at.is_some()));

    client
        .batch_execute(&format!(
            "UPDATE \"{s}\".plain SET label = 'uno', modified = now() - interval '30 minutes' WHERE id = 1"
        ))
        .await
        .unwrap();
    let cp = changes.last().unwrap().checkpoint.clone();
    let next: Vec<LocalChange> = sink
        .changes_since("plain", Some(&cp))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].kind,
        LocalChangeKind::Upsert {
            data: json!({"id": 1, "label": "uno"})
        }
    );
    // An outbox checkpoint is rejected by an updated_at feed.
    let err = sink
        .changes_since("plain", Some(&Checkpoint::new("outbox:1:1")))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("checkpoint"), "{err}");
}
