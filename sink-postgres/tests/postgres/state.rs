use std::time::Duration;

use chrono::{TimeZone, Utc};
use twenty_sync_core::{
    AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, PendingCreate, RecordState,
    RunMode, RunReport, StateCommit, StateStore, SyncDirection,
};

use crate::common::TestDb;

fn audit(run: &str, key: &str, minute: u32) -> AuditEntry {
    AuditEntry {
        run_id: run.into(),
        at: Utc.with_ymd_and_hms(2024, 1, 1, 0, minute, 0).unwrap(),
        entity: "people".into(),
        direction: SyncDirection::Pull,
        local_key: Some(key.into()),
        twenty_id: Some(format!("tw-{key}")),
        action: AuditAction::Create,
        changed_fields: vec!["name".into()],
        before_hash: None,
        after_hash: Some("h".into()),
        outcome: AuditOutcome::Applied,
        detail: None,
    }
}

#[tokio::test]
async fn commit_writes_records_cursors_pending_and_audit_together() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let mut c = StateCommit::new("people");
    let mut rs = RecordState::new("p-1", "tw-1");
    rs.twenty_hash = Some("th".into());
    rs.twenty_updated_at = Some(Utc.with_ymd_and_hms(2024, 5, 1, 1, 2, 3).unwrap());
    c.upsert_records.push(RecordState::new("p-1", "old"));
    c.upsert_records.push(rs.clone());
    c.upsert_records.push(RecordState::new("p-2", "tw-2"));
    c.cursors.push((SyncDirection::Pull, Checkpoint::new("c1")));
    c.add_pending.push(PendingCreate {
        local_key: "p-3".into(),
        twenty_id: "tw-3".into(),
        run_id: "r1".into(),
        created_at: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(),
    });
    c.audit.push(audit("r1", "p-1", 1));
    sink.commit(&c).await.unwrap();

    assert_eq!(
        sink.records("people", &["p-1".into()]).await.unwrap(),
        vec![rs.clone()]
    );
    assert_eq!(
        sink.records_by_twenty_id("people", &["tw-1".into(), "nope".into()])
            .await
            .unwrap(),
        vec![rs]
    );
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c1"))
    );
    assert_eq!(
        sink.cursor("people", SyncDirection::Push).await.unwrap(),
        None
    );
    assert_eq!(sink.pending_creates("people").await.unwrap().len(), 1);
    assert_eq!(sink.pending_creates("other").await.unwrap().len(), 0);

    let mut c2 = StateCommit::new("people");
    c2.remove_records.push("p-2".into());
    c2.remove_pending.push("p-3".into());
    c2.cursors
        .push((SyncDirection::Pull, Checkpoint::new("c2")));
    sink.commit(&c2).await.unwrap();
    assert!(
        sink.records("people", &["p-2".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sink.pending_creates("people").await.unwrap().is_empty());
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c2"))
    );
}

/// The audit rows, the cursor and the pending creates of a commit are sent without waiting for
/// each other's answers: whichever the server refuses, that refusal is the error reported (not a
/// later statement's "transaction is aborted"), and nothing of the commit is kept.
#[tokio::test]
async fn a_refused_cursor_or_audit_row_is_the_error_reported_and_the_commit_keeps_nothing() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let state = db.state_schema();
    crate::common::admin()
        .await
        .batch_execute(&format!(
            "ALTER TABLE \"{state}\".cursors ADD CONSTRAINT refuse_cursor CHECK (checkpoint <> 'refused');
             ALTER TABLE \"{state}\".audit_log ADD CONSTRAINT refuse_run CHECK (run_id <> 'refused')"
        ))
        .await
        .expect("test constraints");
    let commit = |checkpoint: &str, run: &str| {
        let mut c = StateCommit::new("people");
        c.upsert_records.push(RecordState::new("p-1", "tw-1"));
        c.cursors
            .push((SyncDirection::Pull, Checkpoint::new(checkpoint)));
        // Sent after the audit row: it fails as "aborted" when the audit row is refused.
        c.add_pending.push(PendingCreate {
            local_key: "p-2".into(),
            twenty_id: "tw-2".into(),
            run_id: run.into(),
            created_at: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(),
        });
        c.audit.push(audit(run, "p-1", 1));
        c
    };
    let nothing_kept = || async {
        assert!(
            sink.records("people", &["p-1".into()])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            sink.cursor("people", SyncDirection::Pull).await.unwrap(),
            None
        );
        assert!(sink.audit(&AuditQuery::default()).await.unwrap().is_empty());
        assert!(sink.pending_creates("people").await.unwrap().is_empty());
    };

    let err = sink.commit(&commit("refused", "r1")).await.unwrap_err();
    assert!(
        err.to_string().contains("moving the cursor") && err.to_string().contains("refuse_cursor"),
        "{err}"
    );
    nothing_kept().await;

    let err = sink.commit(&commit("c1", "refused")).await.unwrap_err();
    assert!(
        err.to_string().contains("appending audit entries")
            && err.to_string().contains("refuse_run"),
        "{err}"
    );
    nothing_kept().await;

    sink.commit(&commit("c1", "r1")).await.unwrap();
    assert_eq!(
        sink.cursor("people", SyncDirection::Pull).await.unwrap(),
        Some(Checkpoint::new("c1"))
    );
    assert_eq!(sink.audit(&AuditQuery::default()).await.unwrap().len(), 1);
    assert_eq!(sink.pending_creates("people").await.unwrap().len(), 1);
}

#[tokio::test]
async fn runs_are_upserted_by_id_and_listed_newest_first() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let mut r1 = RunReport::new("r1", RunMode::Pull, false);
    r1.started_at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut r2 = RunReport::new("r2", RunMode::Push, true);
    r2.started_at = Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap();
    sink.save_run(&r1).await.unwrap();
    sink.save_run(&r2).await.unwrap();
    r1.counts_mut("people").created = 5;
    r1.finish();
    sink.save_run(&r1).await.unwrap();
    let runs = sink.runs(10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["r2", "r1"]
    );
    assert_eq!(sink.runs(1).await.unwrap().len(), 1);
    assert_eq!(sink.run("r1").await.unwrap(), Some(r1));
    assert_eq!(sink.run("nope").await.unwrap(), None);
}

#[tokio::test]
async fn audit_filters_and_limit_return_the_newest_oldest_first() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let mut c = StateCommit::new("people");
    for (i, key) in ["a", "b", "c", "a"].iter().enumerate() {
        c.audit
            .push(audit(if i < 2 { "r1" } else { "r2" }, key, i as u32));
    }
    sink.commit(&c).await.unwrap();
    let all = sink.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all, c.audit);
    let by_key = sink
        .audit(&AuditQuery {
            key: Some("tw-a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_key.len(), 2);
    let limited = sink
        .audit(&AuditQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited, c.audit[2..].to_vec());
    let windowed = sink
        .audit(&AuditQuery {
            run_id: Some("r1".into()),
            since: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 1, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 5, 0).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(windowed, vec![c.audit[1].clone()]);
}

/// The log keeps one row per committed batch: a limited query walks rows newest first, a few at
/// a time, and filters the entries inside them, so limits that end inside a row, rows with no
/// match, and entries of other runs or entities sharing a commit all come out exact.
#[tokio::test]
async fn audit_limits_and_filters_are_exact_across_many_batch_rows() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let mut written = Vec::new();
    for batch in 0..30u32 {
        let mut c = StateCommit::new("people");
        for i in 0..5u32 {
            let n = batch * 5 + i;
            let mut e = audit(
                if batch % 2 == 0 { "even" } else { "odd" },
                &format!("k{}", n % 40),
                0,
            );
            e.at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                + chrono::Duration::seconds(n.into());
            if i == 4 {
                // A commit may mix entities and runs: they go in their own rows.
                e.entity = "orgs".into();
                e.run_id = "other".into();
            }
            c.audit.push(e);
        }
        sink.commit(&c).await.unwrap();
        written.extend(c.audit);
    }
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let expect = |pred: &dyn Fn(&AuditEntry) -> bool, limit: Option<usize>| {
        let all: Vec<AuditEntry> = written.iter().filter(|e| pred(e)).cloned().collect();
        match limit {
            Some(n) if n < all.len() => all[all.len() - n..].to_vec(),
            _ => all,
        }
    };
    assert_eq!(sink.audit(&AuditQuery::default()).await.unwrap(), written);
    for limit in [1, 3, 23, 149, 150, 500] {
        assert_eq!(
            sink.audit(&q(&|q| q.limit = Some(limit))).await.unwrap(),
            expect(&|_| true, Some(limit)),
            "limit {limit}"
        );
    }
    // k7: entries 7, 47, 87, 127 (47 and 127 are the orgs entries of batches 9 and 25).
    assert_eq!(
        sink.audit(&q(&|q| q.key = Some("tw-k7".into())))
            .await
            .unwrap(),
        expect(&|e| e.local_key.as_deref() == Some("k7"), None)
    );
    assert_eq!(
        sink.audit(&q(&|q| {
            q.key = Some("k7".into());
            q.entity = Some("people".into());
            q.limit = Some(1);
        }))
        .await
        .unwrap(),
        expect(
            &|e| e.local_key.as_deref() == Some("k7") && e.entity == "people",
            Some(1)
        )
    );
    let since = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 12).unwrap();
    let until = Utc.with_ymd_and_hms(2024, 1, 1, 0, 1, 3).unwrap();
    assert_eq!(
        sink.audit(&q(&|q| {
            q.run_id = Some("odd".into());
            q.since = Some(since);
            q.until = Some(until);
            q.limit = Some(7);
        }))
        .await
        .unwrap(),
        expect(
            &|e| e.run_id == "odd" && e.at >= since && e.at < until,
            Some(7)
        )
    );
    assert!(
        sink.audit(&q(&|q| q.key = Some("nobody".into())))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn leases_are_exclusive_renewable_and_fenced() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let ttl = Duration::from_secs(60);
    let a = sink
        .acquire_lease("ws/people", "a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(
        sink.acquire_lease("ws/people", "b", ttl)
            .await
            .unwrap()
            .is_none()
    );
    let renewed = sink
        .acquire_lease("ws/people", "a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.token, a.token, "renewal keeps the token");
    assert!(renewed.expires_at >= a.expires_at);
    // Other scopes are independent: workers split the entities.
    assert!(
        sink.acquire_lease("ws/companies", "b", ttl)
            .await
            .unwrap()
            .is_some()
    );

    sink.release_lease(&a).await.unwrap();
    let b = sink
        .acquire_lease("ws/people", "b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(
        b.token > a.token,
        "a new holder gets a larger fencing token"
    );
    // Releasing a stale lease does nothing.
    sink.release_lease(&a).await.unwrap();
    assert!(
        sink.acquire_lease("ws/people", "a", ttl)
            .await
            .unwrap()
            .is_none()
    );

    // An expired lease can be taken over.
    let short = sink
        .acquire_lease("ws/deals", "a", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let over = sink
        .acquire_lease("ws/deals", "b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(over.token > short.token);
}

#[tokio::test]
async fn concurrent_lease_attempts_have_one_winner() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            sink.acquire_lease("ws/people", &format!("w{i}"), Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// A commit in flight holds its lease's row (its fence check, `FOR KEY SHARE`) until it ends.
/// The holder's renewal, another holder's probe of the live lease, and the release answer
/// without waiting for it; taking the scope over (a new token) waits for it to end.
#[tokio::test]
async fn lease_renewals_do_not_wait_for_commits_in_flight_and_takeovers_do() {
    let db = TestDb::new().await;
    let sink = db.build(db.builder()).await;
    let ttl = Duration::from_secs(60);
    let a = sink
        .acquire_lease("ws/people", "worker-a", ttl)
        .await
        .unwrap()
        .unwrap();
    // A commit in flight under `a`: the fence check's lock, in a transaction left open.
    let mut pg = crate::common::admin().await;
    let commit = pg.transaction().await.unwrap();
    let locked = commit
        .query(
            &format!(
                "SELECT 1 FROM \"{}\".leases WHERE scope = $1 AND token = $2 FOR KEY SHARE",
                db.state_schema()
            ),
            &[&"ws/people", &(a.token as i64)],
        )
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);

    // Everything is tried while the commit is open and checked once it has ended: a failed
    // check with the transaction open would leave the test's cleanup waiting on its lock.
    let quick = Duration::from_secs(5);
    let renewed = tokio::time::timeout(quick, sink.acquire_lease("ws/people", "worker-a", ttl))
        .await
        .map(|r| r.unwrap());
    let probe = tokio::time::timeout(quick, sink.acquire_lease("ws/people", "worker-b", ttl))
        .await
        .map(|r| r.unwrap());
    let released = match &renewed {
        Ok(Some(lease)) => tokio::time::timeout(quick, sink.release_lease(lease))
            .await
            .map(|r| r.unwrap()),
        _ => Ok(()),
    };
    let takeover = tokio::spawn({
        let sink = sink.clone();
        async move { sink.acquire_lease("ws/people", "worker-b", ttl).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let takeover_waited = !takeover.is_finished();
    commit.commit().await.unwrap();

    let renewed = renewed
        .expect("a renewal does not wait for the commit")
        .expect("renewed");
    assert_eq!(renewed.token, a.token);
    let probe = probe.expect("a probe of a live lease does not wait for the commit");
    assert!(probe.is_none(), "held by worker-a");
    released.expect("a release does not wait for the commit");
    assert!(
        takeover_waited,
        "a takeover waits for the commit in flight under the old token"
    );
    let b = tokio::time::timeout(quick, takeover)
        .await
        .expect("the takeover goes on once the commit ended")
        .unwrap()
        .unwrap()
        .expect("taken");
    assert!(b.token > a.token);
}
