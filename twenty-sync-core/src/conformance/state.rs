//! Checks for [`StateStore`] implementations.
//!
//! Each check panics with a message naming the broken rule. See the [module docs](super).

use std::time::Duration;

use crate::error::StoreErrorKind;
use crate::model::{
    AuditAction, AuditEntry, AuditOutcome, AuditQuery, Checkpoint, PendingCreate, RecordState,
    StateCommit, SyncDirection,
};
use crate::report::{RunMode, RunReport, RunStatus};
use crate::state::StateStore;

use super::support::{at, ok};

/// A commit made under a lease ([`StateCommit::fence`]) is written while the lease is the
/// scope's current one, and refused whole, with [`StoreErrorKind::LeaseLost`], once it is not
/// (given back, or taken by another holder); a commit without a fence is not checked.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::commits_are_fenced_by_their_lease;
/// use twenty_sync_core::memory::MemoryState;
///
/// commits_are_fenced_by_their_lease(&MemoryState::new(), "contacts", "ws#contacts").await;
/// # });
/// ```
pub async fn commits_are_fenced_by_their_lease(store: &dyn StateStore, entity: &str, scope: &str) {
    let ttl = Duration::from_secs(60);
    let fenced = |key: &str, lease: &crate::model::Lease| {
        let mut c = StateCommit::new(entity);
        c.upsert_records.push(state(key, &format!("tw-{key}"), 1));
        c.cursors
            .push((SyncDirection::Pull, Checkpoint::new(format!("cp-{key}"))));
        c.fence = Some(lease.fence());
        c
    };
    let cursor = || async {
        ok(
            store.cursor(entity, SyncDirection::Pull).await,
            "reading the cursor",
        )
        .map(|c| c.as_str().to_owned())
    };
    let a = ok(
        store.acquire_lease(scope, "worker-a", ttl).await,
        "acquiring",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): a free scope must be granted"));
    ok(
        store.commit(&fenced("k1", &a)).await,
        "committing under the current lease",
    );
    let renewed = ok(
        store.acquire_lease(scope, "worker-a", ttl).await,
        "renewing",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): the holder must be able to renew its lease"));
    ok(
        store.commit(&fenced("k2", &renewed)).await,
        "committing under the renewed lease",
    );

    ok(store.release_lease(&renewed).await, "releasing");
    let refused = |what: &str, res: crate::error::StoreResult<()>| match res {
        Err(e) => assert_eq!(
            e.kind(),
            StoreErrorKind::LeaseLost,
            "commit(): {what} must be refused as LeaseLost, got: {e}"
        ),
        Ok(()) => panic!("commit(): {what} must be refused"),
    };
    refused(
        "a commit under a lease given back",
        store.commit(&fenced("k3", &a)).await,
    );
    let b = ok(
        store.acquire_lease(scope, "worker-b", ttl).await,
        "acquiring",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): a released scope must be granted"));
    refused(
        "a commit under a lease another holder took since",
        store.commit(&fenced("k3", &a)).await,
    );
    let mut forged = b.clone();
    forged.holder = "worker-a".into();
    refused(
        "a commit naming the current token with another holder",
        store.commit(&fenced("k3", &forged)).await,
    );
    assert_eq!(
        ok(store.records(entity, &["k3".into()]).await, "reading"),
        vec![],
        "commit(): a refused commit must write nothing of its record states"
    );
    assert_eq!(
        cursor().await.as_deref(),
        Some("cp-k2"),
        "commit(): a refused commit must not move the cursor"
    );
    ok(
        store.commit(&fenced("k4", &b)).await,
        "committing under the new holder's lease",
    );
    let mut unfenced = StateCommit::new(entity);
    unfenced
        .cursors
        .push((SyncDirection::Pull, Checkpoint::new("cp-unfenced")));
    ok(store.commit(&unfenced).await, "committing without a fence");
    assert_eq!(cursor().await.as_deref(), Some("cp-unfenced"));
    ok(store.release_lease(&b).await, "releasing");
}

/// Runs every state check, each on its own entity (`conformance_<check>`) or lease scope.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance;
/// use twenty_sync_core::file::FileStore;
///
/// // In a test of your store: start from an empty one.
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::open(dir.path())?;
/// conformance::state::run_all(&store).await; // panics naming the rule a store breaks
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn run_all(store: &dyn StateStore) {
    record_states_by_local_key_and_twenty_id(store, "conformance_records").await;
    record_states_are_replaced_and_removed(store, "conformance_replace").await;
    commit_is_all_or_nothing(store, "conformance_atomic").await;
    twenty_id_moves_when_old_key_removed_in_same_commit(store, "conformance_move").await;
    cursors_are_per_entity_and_direction(store, "conformance_cursor_a", "conformance_cursor_b")
        .await;
    pending_creates_are_added_and_removed(store, "conformance_pending").await;
    runs_are_upserted_by_id_and_listed_newest_first(store).await;
    audit_is_appended_and_filtered(store, "conformance_audit").await;
    leases_are_exclusive_renewable_and_fenced(store, "conformance/lease").await;
    leases_expire(store, "conformance/lease_expiry").await;
    commits_are_fenced_by_their_lease(store, "conformance_fence", "conformance/fence").await;
}

fn state(key: &str, id: &str, secs: i64) -> RecordState {
    RecordState {
        local_key: key.to_owned(),
        twenty_id: id.to_owned(),
        twenty_hash: Some(format!("th-{key}-{secs}")),
        local_hash: Some(format!("lh-{key}-{secs}")),
        twenty_updated_at: Some(at(secs)),
        local_updated_at: Some(at(secs + 1)),
        deleted: false,
        field_hashes: Some(format!("fh-{key}-{secs}")),
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn sorted(mut v: Vec<RecordState>) -> Vec<RecordState> {
    v.sort_by(|a, b| a.local_key.cmp(&b.local_key));
    v
}

/// Record states are found by local key and by Twenty id, with every field as committed;
/// unknown keys and ids are left out.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::record_states_by_local_key_and_twenty_id;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// // Checks can also be run one by one, on entity names the store has prepared.
/// record_states_by_local_key_and_twenty_id(&state, "contacts").await;
/// let found = twenty_sync_core::StateStore::records(&state, "contacts", &["a".into()]).await?;
/// assert_eq!(found.len(), 1); // the check leaves its rows behind
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn record_states_by_local_key_and_twenty_id(store: &dyn StateStore, entity: &str) {
    let a = state("a", "00000000-0000-4000-8000-00000000000a", 1);
    let mut b = state("b", "00000000-0000-4000-8000-00000000000b", 2);
    b.deleted = true;
    b.twenty_hash = None;
    let mut commit = StateCommit::new(entity);
    commit.upsert_records = vec![a.clone(), b.clone()];
    ok(store.commit(&commit).await, "committing two record states");
    assert!(
        !ok(
            store.known_empty(entity).await,
            "asking whether the entity has record states"
        ),
        "known_empty(): must be false once the entity has a record state"
    );

    let by_key = ok(
        store.records(entity, &keys(&["a", "missing", "b"])).await,
        "reading record states by local key",
    );
    assert_eq!(
        sorted(by_key),
        vec![a.clone(), b.clone()],
        "records(): must return exactly the committed states of known keys, every field intact"
    );
    let by_id = ok(
        store
            .records_by_twenty_id(entity, &[b.twenty_id.clone(), "no-such-id".into()])
            .await,
        "reading record states by Twenty id",
    );
    assert_eq!(
        by_id,
        vec![b.clone()],
        "records_by_twenty_id(): must find the state by its Twenty id and skip unknown ids"
    );
    let other = ok(
        store
            .records("conformance_no_such_entity", &keys(&["a"]))
            .await,
        "reading an unknown entity",
    );
    assert!(
        other.is_empty(),
        "records(): record states are per entity; another entity must not see them"
    );
}

/// Upserting a local key again replaces its state (and its Twenty id mapping); removing it makes
/// it disappear both ways.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::record_states_are_replaced_and_removed;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// record_states_are_replaced_and_removed(&state, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn record_states_are_replaced_and_removed(store: &dyn StateStore, entity: &str) {
    let mut commit = StateCommit::new(entity);
    commit.upsert_records = vec![state("k", "id-old", 1)];
    ok(store.commit(&commit).await, "committing a record state");

    let replacement = state("k", "id-new", 5);
    let mut commit = StateCommit::new(entity);
    commit.upsert_records = vec![replacement.clone()];
    ok(store.commit(&commit).await, "replacing a record state");
    assert_eq!(
        ok(store.records(entity, &keys(&["k"])).await, "reading"),
        vec![replacement.clone()],
        "commit(): an upsert of an existing local key must replace its state"
    );
    assert!(
        ok(
            store.records_by_twenty_id(entity, &keys(&["id-old"])).await,
            "reading by old id"
        )
        .is_empty(),
        "commit(): after the local key moved to a new Twenty id, the old id must map to nothing"
    );

    let mut commit = StateCommit::new(entity);
    commit.remove_records = keys(&["k", "never-existed"]);
    ok(
        store.commit(&commit).await,
        "removing record states (one unknown)",
    );
    assert!(
        ok(store.records(entity, &keys(&["k"])).await, "reading").is_empty(),
        "commit(): a removed record state must be gone by local key"
    );
    assert!(
        ok(
            store.records_by_twenty_id(entity, &keys(&["id-new"])).await,
            "reading by id"
        )
        .is_empty(),
        "commit(): a removed record state must be gone by Twenty id"
    );
}

/// A commit that cannot be applied in full (here: a Twenty id already mapped to another local
/// key) fails with `Conflict` and leaves nothing behind: no record, cursor, pending create or
/// audit entry of it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::commit_is_all_or_nothing;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// commit_is_all_or_nothing(&state, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn commit_is_all_or_nothing(store: &dyn StateStore, entity: &str) {
    let mut first = StateCommit::new(entity);
    first.upsert_records = vec![state("owner", "shared-id", 1)];
    ok(store.commit(&first).await, "committing the owner of an id");

    let mut bad = StateCommit::new(entity);
    bad.upsert_records = vec![
        state("fresh", "fresh-id", 2),
        state("thief", "shared-id", 3),
    ];
    bad.cursors = vec![(SyncDirection::Pull, Checkpoint::new("should-not-move"))];
    bad.add_pending = vec![PendingCreate {
        local_key: "pending-key".into(),
        twenty_id: "pending-id".into(),
        run_id: "run-atomic".into(),
        created_at: at(4),
    }];
    bad.audit = vec![audit_entry("run-atomic", entity, "fresh", 5)];
    let err = match store.commit(&bad).await {
        Ok(()) => panic!(
            "commit(): a commit mapping Twenty id `shared-id` to a second local key must fail"
        ),
        Err(e) => e,
    };
    assert_eq!(
        err.kind(),
        StoreErrorKind::Conflict,
        "commit(): a duplicate Twenty id must fail with kind Conflict, got: {err}"
    );
    assert!(
        ok(
            store.records(entity, &keys(&["fresh", "thief"])).await,
            "reading"
        )
        .is_empty(),
        "commit(): a failed commit must not leave any of its record states"
    );
    assert_eq!(
        ok(
            store
                .records_by_twenty_id(entity, &keys(&["shared-id"]))
                .await,
            "reading"
        ),
        vec![state("owner", "shared-id", 1)],
        "commit(): a failed commit must not change existing record states"
    );
    assert_eq!(
        ok(
            store.cursor(entity, SyncDirection::Pull).await,
            "reading cursor"
        ),
        None,
        "commit(): a failed commit must not move a cursor"
    );
    assert!(
        ok(store.pending_creates(entity).await, "reading pending").is_empty(),
        "commit(): a failed commit must not record pending creates"
    );
    let audit = ok(
        store
            .audit(&AuditQuery {
                entity: Some(entity.into()),
                ..Default::default()
            })
            .await,
        "reading audit",
    );
    assert!(
        audit.is_empty(),
        "commit(): a failed commit must not append audit entries"
    );
}

/// Removing the old local key and mapping its Twenty id to a new key in one commit is allowed
/// (removals are applied before upserts).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::twenty_id_moves_when_old_key_removed_in_same_commit;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// twenty_id_moves_when_old_key_removed_in_same_commit(&state, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn twenty_id_moves_when_old_key_removed_in_same_commit(
    store: &dyn StateStore,
    entity: &str,
) {
    let mut commit = StateCommit::new(entity);
    commit.upsert_records = vec![state("old-key", "moving-id", 1)];
    ok(store.commit(&commit).await, "committing the old key");
    let moved = state("new-key", "moving-id", 2);
    let mut commit = StateCommit::new(entity);
    commit.remove_records = keys(&["old-key"]);
    commit.upsert_records = vec![moved.clone()];
    ok(
        store.commit(&commit).await,
        "moving a Twenty id to a new local key (remove + upsert in one commit)",
    );
    assert_eq!(
        ok(
            store
                .records_by_twenty_id(entity, &keys(&["moving-id"]))
                .await,
            "reading"
        ),
        vec![moved],
        "commit(): the Twenty id must now map to the new local key"
    );
}

/// Cursors are kept per entity and per direction, and move only through commits.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::cursors_are_per_entity_and_direction;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// // Two entities: cursors of one must not move the other's.
/// cursors_are_per_entity_and_direction(&state, "contacts", "companies").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn cursors_are_per_entity_and_direction(
    store: &dyn StateStore,
    entity: &str,
    other: &str,
) {
    for (e, d) in [
        (entity, SyncDirection::Pull),
        (entity, SyncDirection::Push),
        (other, SyncDirection::Pull),
    ] {
        assert_eq!(
            ok(store.cursor(e, d).await, "reading a cursor never set"),
            None,
            "cursor(): must be None before any commit set it ({e}, {})",
            d.as_str()
        );
    }
    let mut commit = StateCommit::new(entity);
    commit.cursors = vec![(SyncDirection::Pull, Checkpoint::new("pull-1"))];
    ok(store.commit(&commit).await, "moving the pull cursor");
    let mut commit = StateCommit::new(entity);
    commit.cursors = vec![(SyncDirection::Push, Checkpoint::new("push-1"))];
    ok(store.commit(&commit).await, "moving the push cursor");
    let mut commit = StateCommit::new(entity);
    commit.cursors = vec![(SyncDirection::Pull, Checkpoint::new("pull-2"))];
    ok(store.commit(&commit).await, "moving the pull cursor again");

    assert_eq!(
        ok(store.cursor(entity, SyncDirection::Pull).await, "reading"),
        Some(Checkpoint::new("pull-2")),
        "cursor(): must return the last committed pull cursor"
    );
    assert_eq!(
        ok(store.cursor(entity, SyncDirection::Push).await, "reading"),
        Some(Checkpoint::new("push-1")),
        "cursor(): moving the pull cursor must not touch the push cursor"
    );
    assert_eq!(
        ok(store.cursor(other, SyncDirection::Pull).await, "reading"),
        None,
        "cursor(): cursors are per entity; another entity's must not move"
    );
}

/// Pending creates are recorded, listed per entity and removed by local key.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::pending_creates_are_added_and_removed;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// pending_creates_are_added_and_removed(&state, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn pending_creates_are_added_and_removed(store: &dyn StateStore, entity: &str) {
    let p = |key: &str, n: i64| PendingCreate {
        local_key: key.to_owned(),
        twenty_id: format!("00000000-0000-4000-8000-{n:012}"),
        run_id: "run-pending".into(),
        created_at: at(n),
    };
    let mut commit = StateCommit::new(entity);
    commit.add_pending = vec![p("p1", 1), p("p2", 2), p("p3", 3)];
    ok(store.commit(&commit).await, "recording pending creates");
    let mut commit = StateCommit::new(entity);
    commit.remove_pending = keys(&["p2", "unknown"]);
    commit.upsert_records = vec![state("p2", &p("p2", 2).twenty_id, 2)];
    ok(store.commit(&commit).await, "resolving a pending create");

    let mut pending = ok(
        store.pending_creates(entity).await,
        "listing pending creates",
    );
    pending.sort_by(|a, b| a.local_key.cmp(&b.local_key));
    assert_eq!(
        pending,
        vec![p("p1", 1), p("p3", 3)],
        "pending_creates(): must list the unresolved intents, every field intact"
    );
    assert!(
        ok(
            store.pending_creates("conformance_no_such_entity").await,
            "listing"
        )
        .is_empty(),
        "pending_creates(): pending creates are per entity"
    );
}

/// Runs are upserted by id and listed newest first (by `started_at`), at most `limit`; a saved
/// report comes back whole, its warnings included.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::runs_are_upserted_by_id_and_listed_newest_first;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// runs_are_upserted_by_id_and_listed_newest_first(&state).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn runs_are_upserted_by_id_and_listed_newest_first(store: &dyn StateStore) {
    // Far in the future so that runs saved by other tests of the same store sort after these.
    let base = chrono::Utc::now() + chrono::Duration::days(3650);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let run = |n: i64| {
        let mut r = RunReport::new(
            format!("conformance-run-{n}-{suffix}"),
            RunMode::Sync,
            false,
        );
        r.started_at = base + chrono::Duration::seconds(n);
        r.counts_mut("contacts").created = n as u64;
        r
    };
    for n in [1, 2, 3] {
        ok(store.save_run(&run(n)).await, "saving a run");
    }
    let mut finished = run(1);
    finished.finish();
    finished.status = RunStatus::PartiallyFailed;
    finished
        .warnings
        .push("Twenty's clock is at least 400 s behind this host's".into());
    ok(
        store.save_run(&finished).await,
        "saving a run again (upsert)",
    );

    let listed = ok(store.runs(3).await, "listing runs");
    let ids: Vec<&str> = listed.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            run(3).run_id.as_str(),
            run(2).run_id.as_str(),
            run(1).run_id.as_str()
        ],
        "runs(): must list runs newest first, each id once (saving again replaces)"
    );
    assert_eq!(
        listed[2], finished,
        "runs(): must hold the last saved report of a run, every field intact"
    );
    assert_eq!(
        ok(store.runs(2).await, "listing runs").len(),
        2,
        "runs(limit): must return at most `limit` runs"
    );
    assert_eq!(
        ok(store.run(&finished.run_id).await, "reading a run"),
        Some(finished),
        "run(id): must return the last saved report"
    );
    assert_eq!(
        ok(store.run("conformance-no-such-run").await, "reading a run"),
        None,
        "run(id): must be None for an unknown id"
    );
}

fn audit_entry(run: &str, entity: &str, key: &str, secs: i64) -> AuditEntry {
    AuditEntry {
        run_id: run.to_owned(),
        at: at(secs),
        entity: entity.to_owned(),
        direction: SyncDirection::Push,
        local_key: Some(key.to_owned()),
        twenty_id: Some(format!("tw-{key}")),
        action: AuditAction::Update,
        changed_fields: vec!["email".into(), "name".into()],
        before_hash: Some("before".into()),
        after_hash: Some("after".into()),
        outcome: AuditOutcome::Applied,
        detail: Some(format!("entry {secs}")),
    }
}

/// Audit entries are appended by commits and come back oldest first, filtered by run, entity,
/// key (local key or Twenty id) and time; a limit keeps the newest entries.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::audit_is_appended_and_filtered;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// audit_is_appended_and_filtered(&state, "contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn audit_is_appended_and_filtered(store: &dyn StateStore, entity: &str) {
    let e = |run: &str, key: &str, secs: i64| audit_entry(run, entity, key, secs);
    let mut failed = e("run-b", "k3", 13);
    failed.outcome = AuditOutcome::Failed("Twenty said 400: bad email".into());
    failed.action = AuditAction::Fail;
    let all = vec![
        e("run-a", "k1", 10),
        e("run-a", "k2", 11),
        e("run-b", "k1", 12),
        failed,
        e("run-b", "k2", 14),
    ];
    let mut c1 = StateCommit::new(entity);
    c1.audit = all[..2].to_vec();
    ok(store.commit(&c1).await, "committing audit entries");
    let mut c2 = StateCommit::new(entity);
    c2.audit = all[2..].to_vec();
    ok(store.commit(&c2).await, "committing more audit entries");

    let query = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            entity: Some(entity.to_owned()),
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let got = ok(store.audit(&query(&|_| {})).await, "querying audit");
    assert_eq!(
        got, all,
        "audit(): must return every entry of the entity, oldest first, every field intact"
    );
    let got = ok(
        store
            .audit(&query(&|q| q.run_id = Some("run-b".into())))
            .await,
        "querying audit by run",
    );
    assert_eq!(got, all[2..].to_vec(), "audit(): run_id filter");
    let got = ok(
        store.audit(&query(&|q| q.key = Some("k1".into()))).await,
        "querying audit by local key",
    );
    assert_eq!(
        got,
        vec![all[0].clone(), all[2].clone()],
        "audit(): key filter must match the local key"
    );
    let got = ok(
        store.audit(&query(&|q| q.key = Some("tw-k2".into()))).await,
        "querying audit by Twenty id",
    );
    assert_eq!(
        got,
        vec![all[1].clone(), all[4].clone()],
        "audit(): key filter must match the Twenty id too"
    );
    let got = ok(
        store
            .audit(&query(&|q| {
                q.since = Some(at(11));
                q.until = Some(at(13));
            }))
            .await,
        "querying audit by time",
    );
    assert_eq!(
        got,
        all[1..3].to_vec(),
        "audit(): `since` is inclusive and `until` exclusive"
    );
    let got = ok(
        store.audit(&query(&|q| q.limit = Some(2))).await,
        "querying audit with a limit",
    );
    assert_eq!(
        got,
        all[3..].to_vec(),
        "audit(): a limit must keep the newest entries, still oldest first"
    );
    let got = ok(
        store
            .audit(&AuditQuery {
                entity: Some("conformance_no_such_entity".into()),
                ..Default::default()
            })
            .await,
        "querying audit of another entity",
    );
    assert!(got.is_empty(), "audit(): entity filter");
}

/// A lease is exclusive while live, renewable by its holder with the same token, released only
/// by the current holder, and a new holder gets a larger fencing token.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::leases_are_exclusive_renewable_and_fenced;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// leases_are_exclusive_renewable_and_fenced(&state, "workspace/contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn leases_are_exclusive_renewable_and_fenced(store: &dyn StateStore, scope: &str) {
    let ttl = Duration::from_secs(60);
    let a = ok(
        store.acquire_lease(scope, "worker-a", ttl).await,
        "acquiring",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): a free scope must be granted"));
    assert_eq!(
        (a.scope.as_str(), a.holder.as_str()),
        (scope, "worker-a"),
        "acquire_lease(): the lease must name its scope and holder"
    );
    assert!(
        a.expires_at > chrono::Utc::now(),
        "acquire_lease(): a fresh lease must expire in the future"
    );
    assert!(
        ok(
            store.acquire_lease(scope, "worker-b", ttl).await,
            "acquiring"
        )
        .is_none(),
        "acquire_lease(): a live lease must not be granted to another holder"
    );
    let renewed = ok(
        store.acquire_lease(scope, "worker-a", ttl).await,
        "renewing",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): the holder must be able to renew its lease"));
    assert_eq!(
        renewed.token, a.token,
        "acquire_lease(): renewing must keep the fencing token"
    );
    assert!(
        renewed.expires_at >= a.expires_at,
        "acquire_lease(): renewing must not shorten the lease"
    );

    // A stale lease (wrong token) cannot release the current one.
    let mut stale = renewed.clone();
    stale.token = renewed.token.wrapping_add(1000);
    ok(store.release_lease(&stale).await, "releasing a stale lease");
    assert!(
        ok(
            store.acquire_lease(scope, "worker-b", ttl).await,
            "acquiring"
        )
        .is_none(),
        "release_lease(): a lease that is not the current one must not release it"
    );

    ok(store.release_lease(&renewed).await, "releasing");
    let b = ok(
        store.acquire_lease(scope, "worker-b", ttl).await,
        "acquiring",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): a released scope must be granted"));
    assert!(
        b.token > a.token,
        "acquire_lease(): a new holder must get a larger fencing token ({} after {})",
        b.token,
        a.token
    );
    ok(store.release_lease(&a).await, "releasing an old lease");
    assert!(
        ok(
            store.acquire_lease(scope, "worker-a", ttl).await,
            "acquiring"
        )
        .is_none(),
        "release_lease(): releasing an old lease must not free the scope held by someone else"
    );
    ok(store.release_lease(&b).await, "releasing");
}

/// A lease that is not renewed lapses after its ttl and the scope goes to the next holder with a
/// larger token. (Sleeps about half a second.)
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sync_core::conformance::state::leases_expire;
/// use twenty_sync_core::memory::MemoryState;
///
/// let state = MemoryState::new();
/// leases_expire(&state, "workspace/contacts").await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn leases_expire(store: &dyn StateStore, scope: &str) {
    let a = ok(
        store
            .acquire_lease(scope, "worker-a", Duration::from_millis(200))
            .await,
        "acquiring",
    )
    .unwrap_or_else(|| panic!("acquire_lease(): a free scope must be granted"));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let b = ok(
        store
            .acquire_lease(scope, "worker-b", Duration::from_secs(60))
            .await,
        "acquiring after expiry",
    )
    .unwrap_or_else(|| {
        panic!("acquire_lease(): an expired lease must be granted to another holder")
    });
    assert!(
        b.token > a.token,
        "acquire_lease(): the next holder after expiry must get a larger fencing token"
    );
    ok(store.release_lease(&b).await, "releasing");
}
