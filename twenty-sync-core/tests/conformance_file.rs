//! The conformance suite against [`FileStore`], plus crash (torn write) recovery: whatever a crash
//! leaves half-written — the snapshot temp file, the journal, a data log line, a pulled batch, an
//! audit line — the store opens again, keeps everything that was committed and nothing that was
//! not, and goes on working.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use twenty_sync_core::conformance;
use twenty_sync_core::file::FileStore;
use twenty_sync_core::{
    ApplyBatch, AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, InboundChange,
    InboundChangeKind, RecordState, SourceOfTruth, StateCommit, StateStore, SyncDirection,
};

#[tokio::test]
async fn file_store_passes_the_state_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance::state::run_all(&FileStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn file_store_passes_the_source_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    conformance::source::run_all(&store, &store).await;
    conformance::source::applied_changes_are_not_echoed(&store, &store, "conformance_echo").await;
}

/// The state suite leaves runs, audit entries and record states behind: a reopened store (from
/// the journal, and again from a snapshot) shows exactly the same.
#[tokio::test]
async fn state_written_by_the_suite_survives_reopen_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    conformance::state::run_all(&store).await;
    let before = observe(&store).await;
    drop(store);

    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(observe(&store).await, before, "after replaying the journal");
    store.snapshot().unwrap();
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(observe(&store).await, before, "after loading the snapshot");
}

/// What a reader can see of the state: runs, the whole audit log, record states, cursors.
async fn observe(store: &FileStore) -> String {
    let runs = store.runs(1000).await.unwrap();
    let audit = store.audit(&AuditQuery::default()).await.unwrap();
    let records = store
        .records(
            "conformance_records",
            &keys(&["a", "b", "c", "k1", "k2", "k3"]),
        )
        .await
        .unwrap();
    let cursor = store
        .cursor("conformance_cursor_a", SyncDirection::Pull)
        .await
        .unwrap();
    serde_json::to_string(&(runs, audit, records, cursor)).unwrap()
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

/// Commit number `i` of entity `people`: record `k{i}` ↔ `tw-{i}`, the pull cursor at `i`, one
/// audit entry.
fn commit(i: i64) -> StateCommit {
    let mut c = StateCommit::new("people");
    c.upsert_records.push(RecordState {
        local_key: format!("k{i}"),
        twenty_id: format!("tw-{i}"),
        twenty_hash: Some(format!("h{i}")),
        local_hash: Some(format!("l{i}")),
        twenty_updated_at: Some(at(i)),
        local_updated_at: None,
        deleted: false,
        field_hashes: Some(format!("fh1:{i}")),
    });
    c.cursors
        .push((SyncDirection::Pull, Checkpoint::new(format!("cp-{i}"))));
    c.audit.push(AuditEntry {
        run_id: "run-1".into(),
        at: at(i),
        entity: "people".into(),
        direction: SyncDirection::Pull,
        local_key: Some(format!("k{i}")),
        twenty_id: Some(format!("tw-{i}")),
        action: AuditAction::Create,
        changed_fields: vec!["name".into()],
        before_hash: None,
        after_hash: Some(format!("h{i}")),
        outcome: AuditOutcome::Applied,
        detail: None,
    });
    c
}

/// Asserts that commits `1..=n` are all visible, exactly once, and nothing after them.
async fn assert_committed(store: &FileStore, n: i64) {
    let all: Vec<String> = (1..=n + 2).map(|i| format!("k{i}")).collect();
    let records = store.records("people", &all).await.unwrap();
    let mut got: Vec<String> = records.iter().map(|r| r.local_key.clone()).collect();
    got.sort();
    let mut want: Vec<String> = (1..=n).map(|i| format!("k{i}")).collect();
    want.sort();
    assert_eq!(got, want, "record states after recovery");
    let ids: Vec<String> = (1..=n).map(|i| format!("tw-{i}")).collect();
    assert_eq!(
        store
            .records_by_twenty_id("people", &ids)
            .await
            .unwrap()
            .len() as i64,
        n,
        "ID map after recovery"
    );
    let cursor = store.cursor("people", SyncDirection::Pull).await.unwrap();
    assert_eq!(
        cursor.map(|c| c.as_str().to_owned()),
        (n > 0).then(|| format!("cp-{n}")),
        "the cursor is the last committed one"
    );
    let audit = store
        .audit(&AuditQuery {
            entity: Some("people".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let audited: Vec<String> = audit.iter().map(|a| a.local_key.clone().unwrap()).collect();
    let want_audit: Vec<String> = (1..=n).map(|i| format!("k{i}")).collect();
    assert_eq!(
        audited, want_audit,
        "audit: every committed entry exactly once"
    );
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Cuts `path` to `len` bytes, as a crash in the middle of a write leaves it.
fn cut(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[tokio::test]
async fn crash_while_writing_the_snapshot_temp_file_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    store.commit(&commit(2)).await.unwrap();
    store.snapshot().unwrap();
    store.commit(&commit(3)).await.unwrap();
    drop(store);

    // The crash: a new snapshot was being written to `state.json.tmp` and got cut off halfway;
    // `state.json` (commits 1-2) and the journal (commit 3) are untouched.
    let snapshot = std::fs::read(dir.path().join("state.json")).unwrap();
    let tmp = dir.path().join("state.json.tmp");
    std::fs::write(&tmp, &snapshot[..snapshot.len() / 2]).unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    assert!(
        !tmp.exists(),
        "the half-written temp file is removed on open"
    );
    assert_committed(&store, 3).await;
    // And it keeps working: a new commit and a new snapshot, then a clean reopen.
    store.commit(&commit(4)).await.unwrap();
    store.snapshot().unwrap();
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 4).await;
}

#[tokio::test]
async fn crash_after_the_snapshot_rename_before_the_journal_was_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    for i in 1..=3 {
        store.commit(&commit(i)).await.unwrap();
    }
    let journal = dir.path().join("journal.jsonl");
    let journal_before = std::fs::read(&journal).unwrap();
    store.snapshot().unwrap();
    drop(store);
    // The crash: `state.json` already holds commits 1-3, but the journal still has their lines.
    std::fs::write(&journal, &journal_before).unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    // Replaying them again would duplicate audit entries or trip the ID-map uniqueness check.
    assert_committed(&store, 3).await;
    store.commit(&commit(4)).await.unwrap();
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 4).await;
}

#[tokio::test]
async fn a_torn_journal_line_is_an_uncommitted_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    store.commit(&commit(2)).await.unwrap();
    let journal = dir.path().join("journal.jsonl");
    let committed = file_len(&journal);
    store.commit(&commit(3)).await.unwrap();
    let full = file_len(&journal);
    drop(store);
    // The crash: commit 3's journal line was only partly written (so it never committed). The
    // audit append comes after the journal append, so it never happened either.
    cut(&journal, committed + (full - committed) / 2);
    let audit = dir.path().join("audit.jsonl");
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    let audit_lines: Vec<&str> = audit_text.lines().collect();
    std::fs::write(&audit, format!("{}\n{}\n", audit_lines[0], audit_lines[1])).unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 2).await;
    // The torn tail is cut off, so the next commit does not glue onto it.
    store.commit(&commit(3)).await.unwrap();
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 3).await;
}

#[tokio::test]
async fn a_commit_journalled_before_its_audit_append_gets_its_audit_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    let audit = dir.path().join("audit.jsonl");
    let audit_committed = file_len(&audit);
    store.commit(&commit(2)).await.unwrap();
    let audit_full = file_len(&audit);
    drop(store);
    // The crash: commit 2 is in the journal (committed) but its audit line is torn.
    cut(&audit, audit_committed + (audit_full - audit_committed) / 2);

    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 2).await;
}

fn change(key: &str, name: &str) -> InboundChange {
    InboundChange {
        key: key.into(),
        twenty_id: format!("tw-{key}"),
        kind: InboundChangeKind::Upsert {
            data: json!({"name": name}),
        },
        twenty_updated_at: Some(at(0)),
    }
}

fn batch(changes: Vec<InboundChange>) -> ApplyBatch {
    ApplyBatch {
        entity: "companies".into(),
        changes,
        state: StateCommit::new("companies"),
    }
}

fn names(store: &FileStore) -> Vec<(String, String)> {
    store
        .local_records("companies")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key,
                r.data["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pulled_batch_cut_short_is_dropped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").join("companies.jsonl");
    let store = FileStore::open(dir.path()).unwrap();
    store
        .apply(&batch(vec![change("a", "Acme"), change("b", "Beta")]))
        .await
        .unwrap();
    let committed = file_len(&data);
    store
        .apply(&batch(vec![
            change("a", "Acme 2"),
            change("c", "Gamma"),
            change("d", "Delta"),
        ]))
        .await
        .unwrap();
    let full = file_len(&data);
    drop(store);

    let text = std::fs::read_to_string(&data).unwrap();
    let second_batch_lines: Vec<usize> = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .filter(|&end| end as u64 > committed)
        .collect();
    assert_eq!(second_batch_lines.len(), 3, "one line per change");
    // Crash points: after whole lines of the batch (but before its end line), and in the middle
    // of a line. In every case none of the second batch is kept.
    let cut_points = [
        second_batch_lines[0] as u64,
        second_batch_lines[1] as u64,
        second_batch_lines[1] as u64 + 5,
        full - 1,
    ];
    let original = std::fs::read(&data).unwrap();
    for point in cut_points {
        std::fs::write(&data, &original).unwrap();
        cut(&data, point);
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            names(&store),
            vec![("a".into(), "Acme".into()), ("b".into(), "Beta".into())],
            "cut at byte {point} of {full}"
        );
        // Replaying the batch (what the engine does: its cursor never moved) completes it.
        store
            .apply(&batch(vec![
                change("a", "Acme 2"),
                change("c", "Gamma"),
                change("d", "Delta"),
            ]))
            .await
            .unwrap();
        drop(store);
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            names(&store),
            vec![
                ("a".into(), "Acme 2".into()),
                ("b".into(), "Beta".into()),
                ("c".into(), "Gamma".into()),
                ("d".into(), "Delta".into()),
            ],
            "after replaying the batch cut at byte {point}"
        );
    }
}

#[tokio::test]
async fn a_torn_local_edit_line_is_dropped_and_the_feed_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").join("people.jsonl");
    let store = FileStore::open(dir.path()).unwrap();
    store
        .upsert("people", "p1", json!({"name": "Ada"}))
        .unwrap();
    let cp = store
        .upsert("people", "p2", json!({"name": "Alan"}))
        .unwrap();
    drop(store);
    // The crash: a third edit was half written (no newline, not valid JSON).
    append_bytes(&data, br#"{"seq":3,"key":"p3","op":"upsert","data":{"na"#);

    let store = FileStore::open(dir.path()).unwrap();
    let keys: Vec<String> = store
        .local_records("people")
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["p1", "p2"]);
    assert_eq!(store.head("people").unwrap(), Some(cp.clone()));
    let next = store
        .upsert("people", "p3", json!({"name": "Grace"}))
        .unwrap();
    drop(store);

    let store = FileStore::open(dir.path()).unwrap();
    use futures::TryStreamExt;
    let feed: Vec<_> = store
        .changes_since("people", Some(&cp))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(feed.len(), 1, "exactly the edit made after the crash");
    assert_eq!(feed[0].key, "p3");
    assert_eq!(feed[0].checkpoint, next);
}

#[tokio::test]
async fn a_damaged_complete_line_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    drop(store);
    // A complete (newline-terminated) line that does not decode was not torn by a crash: the
    // file was edited or damaged. Silently dropping it could lose a commit, so open fails.
    append_bytes(
        &dir.path().join("journal.jsonl"),
        b"{\"n\":2,\"type\":\"bogus\"}\n",
    );
    let err = FileStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind(), twenty_sync_core::StoreErrorKind::Corrupt);
    assert!(err.to_string().contains("journal.jsonl"), "{err}");
}

/// A complete line that lacks what its kind needs (a commit without its commit, an upsert
/// without its record, an audit line without its commit number) is damage, reported at open,
/// whichever of the three files holds it.
#[tokio::test]
async fn a_line_missing_what_its_kind_needs_is_reported_at_open() {
    let cases: [(&str, &[u8]); 3] = [
        ("journal.jsonl", b"{\"n\":2,\"type\":\"commit\"}\n"),
        (
            "data/people.jsonl",
            b"{\"seq\":9,\"key\":\"p-2\",\"op\":\"upsert\",\"end\":true}\n",
        ),
        ("audit.jsonl", b"{\"run_id\":\"run-1\"}\n"),
    ];
    for (file, line) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        store.commit(&commit(1)).await.unwrap();
        store.upsert("people", "p-1", json!({"n": 1})).unwrap();
        drop(store);
        append_bytes(&dir.path().join(file), line);
        let err = FileStore::open(dir.path()).unwrap_err();
        assert_eq!(
            err.kind(),
            twenty_sync_core::StoreErrorKind::Corrupt,
            "{file}: {err}"
        );
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(err.to_string().contains(name), "{file}: {err}");
    }
}

/// Lines are read by field name, not position: a line written (or repaired by hand) with its
/// fields in another order than the store writes them reads the same.
#[tokio::test]
async fn lines_are_read_whatever_the_order_of_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    store.upsert("people", "p-1", json!({"n": 1})).unwrap();
    drop(store);
    // The store writes `n`, `type`, then the commit; this line has the tag last.
    let line = format!(
        "{{\"commit\":{},\"type\":\"commit\",\"n\":2}}\n",
        serde_json::to_string(&commit(2)).unwrap()
    );
    append_bytes(&dir.path().join("journal.jsonl"), line.as_bytes());
    append_bytes(
        &dir.path().join("data").join("people.jsonl"),
        b"{\"end\":true,\"data\":{\"n\":2},\"op\":\"upsert\",\"key\":\"p-2\",\"seq\":2}\n",
    );
    let store = FileStore::open(dir.path()).unwrap();
    assert_committed(&store, 2).await;
    let mut records: Vec<(String, serde_json::Value)> = store
        .local_records("people")
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.data))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        records,
        vec![
            ("p-1".to_string(), json!({"n": 1})),
            ("p-2".to_string(), json!({"n": 2}))
        ]
    );
}

/// `open` reads every existing data log into its index (so no later call pays for it): a torn
/// last line of a data log is cut off by `open` itself, before any call touches the entity.
#[tokio::test]
async fn open_indexes_and_repairs_existing_data_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.upsert("people", "p-1", json!({"n": 1})).unwrap();
    store.upsert("companies", "c-1", json!({"n": 1})).unwrap();
    drop(store);
    let people = dir.path().join("data").join("people.jsonl");
    let committed = file_len(&people);
    // A crash mid-append: half a line at the end of the people log.
    let mut torn = std::fs::read(&people).unwrap();
    torn.extend_from_slice(br#"{"seq":9,"key":"p-2","op":"ups"#);
    std::fs::write(&people, torn).unwrap();
    // Not an entity log: left alone by open.
    std::fs::write(dir.path().join("data").join("notes.txt"), "x").unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(
        file_len(&people),
        committed,
        "open must read and repair the existing people log, not wait for its first use"
    );
    assert_eq!(store.local_records("people").unwrap().len(), 1);
    assert_eq!(store.local_records("companies").unwrap().len(), 1);
}

/// The file store keeps the newest `KEPT_RUNS` run reports, also once reopened from its journal
/// and its snapshots (written every thousand journal lines, so this crosses one).
#[tokio::test]
async fn only_the_newest_run_reports_are_kept_across_reopens() {
    use twenty_sync_core::memory::KEPT_RUNS;
    use twenty_sync_core::{RunMode, RunReport};
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let extra = 25;
    for i in 0..KEPT_RUNS + extra {
        let report = RunReport::new(format!("run-{i:05}"), RunMode::Pull, false);
        store.save_run(&report).await.unwrap();
    }
    let check = |store: FileStore| async move {
        let runs = store.runs(usize::MAX).await.unwrap();
        assert_eq!(runs.len(), KEPT_RUNS);
        assert!(store.run("run-00000").await.unwrap().is_none());
        assert!(
            store
                .run(&format!("run-{:05}", extra - 1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .run(&format!("run-{extra:05}"))
                .await
                .unwrap()
                .is_some()
        );
    };
    check(store).await;
    check(FileStore::open(dir.path()).unwrap()).await;
}

/// A snapshot that cannot be written (here its temp file's path is taken by a directory, as a
/// full disk would refuse it) does not fail the commit that triggered it: that commit is durable
/// in the journal. Everything is there once the store is reopened.
#[tokio::test]
async fn a_snapshot_that_fails_does_not_fail_the_commit_that_was_journalled() {
    use twenty_sync_core::{RunMode, RunReport};
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let blocker = dir.path().join("state.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    for i in 0..1100 {
        let report = RunReport::new(format!("run-{i:05}"), RunMode::Pull, false);
        store
            .save_run(&report)
            .await
            .unwrap_or_else(|e| panic!("save {i} failed: {e}"));
    }
    drop(store);
    std::fs::remove_dir(&blocker).unwrap();
    let reopened = FileStore::open(dir.path()).unwrap();
    assert!(reopened.run("run-01099").await.unwrap().is_some());
    assert_eq!(reopened.runs(usize::MAX).await.unwrap().len(), 1000);
}

/// A crash in the middle of a commit's audit append can leave its first entries whole and the
/// rest missing: the store re-appends exactly the missing ones when it opens.
#[tokio::test]
async fn a_commit_whose_audit_append_was_cut_between_entries_gets_the_rest_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.commit(&commit(1)).await.unwrap();
    let audit = dir.path().join("audit.jsonl");
    let before = file_len(&audit);
    let mut three = commit(2);
    for i in 1..3 {
        let mut entry = three.audit[0].clone();
        entry.detail = Some(format!("entry {i}"));
        three.audit.push(entry);
    }
    store.commit(&three).await.unwrap();
    drop(store);
    // The crash: only the first of commit 2's three audit lines reached the disk.
    let text = std::fs::read_to_string(&audit).unwrap();
    let first_of_commit_2 = text[before as usize..].lines().next().unwrap().len() as u64 + 1;
    cut(&audit, before + first_of_commit_2);

    let store = FileStore::open(dir.path()).unwrap();
    let details = |entries: &[AuditEntry]| -> Vec<Option<String>> {
        entries
            .iter()
            .filter(|e| e.local_key.as_deref() == Some("k2"))
            .map(|e| e.detail.clone())
            .collect()
    };
    let entries = store.audit(&AuditQuery::default()).await.unwrap();
    let mut got = details(&entries);
    got.sort();
    assert_eq!(
        got,
        [None, Some("entry 1".to_owned()), Some("entry 2".to_owned())],
        "each entry of commit 2 exactly once"
    );
    drop(store);
    let entries = FileStore::open(dir.path())
        .unwrap()
        .audit(&AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(
        details(&entries).len(),
        3,
        "and still once after another reopen"
    );
}
