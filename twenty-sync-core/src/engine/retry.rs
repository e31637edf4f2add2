//! Retry sets: records that failed are retried by the next run of their entity and direction.
//!
//! A record that fails (Twenty rejects it, it fails mapping or validation...) is reported, and
//! the cursor still moves past it so that one bad record never blocks the others. So that it is
//! not lost, its key (local key for push, Twenty id for pull) goes into the *retry set* of its
//! entity and direction. The next run of that entity and direction retries the set first: push
//! re-reads the records with [`SourceOfTruth::get`] (a key gone locally takes the delete path),
//! pull re-fetches them from Twenty by id. A record that succeeds (or is unchanged) leaves the
//! set; one that fails again stays and is reported again.
//!
//! Storage: the set is kept through the [`StateStore`] cursor API, as the cursor of the
//! pseudo-entity `"<entity>#retry"` in the same direction (a small JSON document), so every
//! existing store keeps it without a schema change. It is written in two steps around the
//! commit that moves the real cursor: new failures are added *before* that commit, keys that
//! succeeded are removed *after* it. A crash in between can only leave extra keys in the set (retried
//! once more, a no-op when unchanged), never drop a failure.
//!
//! The set is bounded by [`RETRY_LIMIT`] keys. Failures beyond the bound are still reported, and
//! the run report gets one more failure line saying how many were not kept for retry (they are
//! synced again when they change, or by a full run after resetting the cursor). Dry runs read
//! the set (a dry run predicts the retries) but never change it.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{AuditAction, AuditEntry, Checkpoint, StateCommit, SyncDirection};
use crate::report::RecordFailure;
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::error::SyncError;
use super::run::Run;

/// The most failed records kept for retry per entity and direction.
///
/// A record that fails (Twenty rejects it, it fails mapping or validation) is reported, the
/// cursor moves past it, and its key (local key for push, Twenty id for pull) is kept so that the
/// next run of that entity and direction retries it first, until it succeeds or changes. Past
/// this many keys, further failures are still reported, and the report carries one more failure
/// line saying how many were not kept for retry (they sync again when they change, or by a run
/// after resetting the cursor). Never silent.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use serde_json::json;
///
/// let contacts = FieldMap::new("contacts", "people", "person")
///     .field("email", "emails.primaryEmail")
///     .validate("email", |v| if v.as_str().is_some_and(|s| s.contains('@')) { Ok(()) } else { Err("not an email".into()) });
/// let source = MemorySource::new();
/// source.upsert("contacts", "c1", json!({"email": "ada"}));
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// assert_eq!(engine.push(RunOptions::new()).await?.failures.len(), 1);
/// // Unchanged, but kept for retry (one of at most RETRY_LIMIT keys): the next push tries it again.
/// let again = engine.push(RunOptions::new()).await?;
/// assert!(again.failures.len() == 1 && again.failures.len() <= RETRY_LIMIT);
/// source.upsert("contacts", "c1", json!({"email": "ada@example.com"}));
/// assert!(engine.push(RunOptions::new()).await?.failures.is_empty());
/// assert_eq!(sim.handle().count("people"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const RETRY_LIMIT: usize = 1000;

/// The pseudo-entity whose cursor holds the retry set of `entity`.
pub(crate) fn retry_scope(entity: &str) -> String {
    format!("{entity}#retry")
}

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    keys: Vec<String>,
}

/// The retry set of one entity and direction during a run.
pub(crate) struct RetrySet {
    entity: String,
    dir: SyncDirection,
    /// What the store holds now.
    stored: BTreeSet<String>,
    /// What it should hold after the run (so far).
    current: BTreeSet<String>,
    /// Failed keys that did not fit.
    overflow: BTreeSet<String>,
    /// What this run's retry pass saw of each key (a content fingerprint), so that the feed or
    /// walk that follows does not process (and report) the same version twice.
    retried: HashMap<String, String>,
}

impl RetrySet {
    /// The keys to retry at the start of the run.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.stored.iter().cloned().collect()
    }

    /// Notes that the retry pass processed `key` at version `fingerprint`.
    pub(crate) fn note_retried(&mut self, key: &str, fingerprint: String) {
        self.retried.insert(key.to_owned(), fingerprint);
    }

    /// Whether the retry pass of this run already processed `key` at version `fingerprint`.
    pub(crate) fn already_retried(&self, key: &str, fingerprint: &str) -> bool {
        self.retried.get(key).is_some_and(|f| f == fingerprint)
    }

    /// The keys (local key for push, Twenty id for pull) of the failures among `audit`.
    pub(crate) fn failed_in(audit: &[AuditEntry], dir: SyncDirection) -> BTreeSet<String> {
        audit
            .iter()
            .filter(|a| a.action == AuditAction::Fail)
            .filter_map(|a| match dir {
                SyncDirection::Push => a.local_key.clone(),
                SyncDirection::Pull => a.twenty_id.clone(),
            })
            .collect()
    }

    /// Records the outcome of a chunk: `processed` keys leave the set unless they are in `failed`.
    pub(crate) fn absorb<'a>(
        &mut self,
        processed: impl IntoIterator<Item = &'a String>,
        failed: &BTreeSet<String>,
    ) {
        for k in processed {
            if !failed.contains(k) {
                self.current.remove(k);
                self.overflow.remove(k);
            }
        }
        for k in failed {
            if self.current.contains(k) {
                continue;
            }
            if self.current.len() < RETRY_LIMIT {
                self.current.insert(k.clone());
            } else {
                self.overflow.insert(k.clone());
            }
        }
    }

    /// The set to store *before* a commit that moves the cursor past `failed`: what is stored
    /// plus the failures not in it yet (bounded). `None` when nothing needs writing.
    fn before_commit(&self, failed: &BTreeSet<String>) -> Option<BTreeSet<String>> {
        let mut next = self.stored.clone();
        let mut changed = false;
        for k in failed {
            if next.len() >= RETRY_LIMIT {
                break;
            }
            changed |= next.insert(k.clone());
        }
        changed.then_some(next)
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Loads the retry set of `entity` in `dir`.
    pub(crate) async fn load_retry(
        &self,
        entity: &str,
        dir: SyncDirection,
    ) -> Result<RetrySet, SyncError> {
        let scope = retry_scope(entity);
        let cp = self.state.cursor(&scope, dir).await.map_err(|e| {
            SyncError::from_store(&format!("reading the {} retry set", dir.as_str()), e)
        })?;
        let stored: BTreeSet<String> = match cp {
            None => BTreeSet::new(),
            Some(cp) => match serde_json::from_str::<Stored>(cp.as_str()) {
                Ok(s) => s.keys.into_iter().collect(),
                Err(e) => {
                    return Err(SyncError::new(
                        super::SyncErrorKind::Store,
                        format!(
                            "the {} retry set of {entity} (cursor of \"{scope}\") is not valid \
                             ({e}); delete that cursor to start over (failed records are then \
                             retried only when they change)",
                            dir.as_str()
                        ),
                    ));
                }
            },
        };
        Ok(RetrySet {
            entity: entity.to_owned(),
            dir,
            current: stored.clone(),
            stored,
            overflow: BTreeSet::new(),
            retried: HashMap::new(),
        })
    }

    async fn store_retry(
        &self,
        set: &mut RetrySet,
        keys: BTreeSet<String>,
    ) -> Result<(), SyncError> {
        let value = serde_json::to_string(&Stored {
            v: 1,
            keys: keys.iter().cloned().collect(),
        })
        .unwrap_or_default();
        let mut commit = StateCommit::new(retry_scope(&set.entity));
        commit.cursors.push((set.dir, Checkpoint::new(value)));
        commit.fence = self.fence_of(&set.entity);
        self.state.commit(&commit).await.map_err(|e| {
            SyncError::from_store(&format!("saving the {} retry set", set.dir.as_str()), e)
        })?;
        set.stored = keys;
        Ok(())
    }

    /// Call right before the commit that moves the cursor past `failed` (not in dry runs).
    pub(crate) async fn retry_before_commit(
        &self,
        set: &mut RetrySet,
        failed: &BTreeSet<String>,
    ) -> Result<(), SyncError> {
        match set.before_commit(failed) {
            Some(next) => self.store_retry(set, next).await,
            None => Ok(()),
        }
    }

    /// Call at the end of the entity's run: stores the final set (not in dry runs) and reports
    /// failures that did not fit.
    pub(crate) async fn retry_finish(
        &self,
        run: &mut Run,
        mut set: RetrySet,
    ) -> Result<(), SyncError> {
        if !set.overflow.is_empty() {
            run.report.failures.push(RecordFailure {
                entity: set.entity.clone(),
                direction: set.dir,
                local_key: None,
                twenty_id: None,
                field: None,
                reason: format!(
                    "the {} retry set of {} is full ({RETRY_LIMIT} keys): {} more failed \
                     record(s) listed in this report will not be retried automatically; they are \
                     synced again when they change, or by a run after resetting the {} cursor",
                    set.dir.as_str(),
                    set.entity,
                    set.overflow.len(),
                    set.dir.as_str()
                ),
            });
        }
        if run.dry_run || set.current == set.stored {
            return Ok(());
        }
        let next = set.current.clone();
        self.store_retry(&mut set, next).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(stored: &[&str]) -> RetrySet {
        let s: BTreeSet<String> = stored.iter().map(|s| s.to_string()).collect();
        RetrySet {
            entity: "e".into(),
            dir: SyncDirection::Push,
            current: s.clone(),
            stored: s,
            overflow: BTreeSet::new(),
            retried: HashMap::new(),
        }
    }

    #[test]
    fn success_leaves_failure_stays_and_bound_overflows() {
        let mut s = set(&["a", "b"]);
        let failed: BTreeSet<String> = ["b".to_string(), "c".to_string()].into();
        let processed = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            s.before_commit(&failed).unwrap(),
            ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
        );
        s.absorb(processed.iter(), &failed);
        assert_eq!(s.current, failed);

        let mut full = set(&[]);
        let many: BTreeSet<String> = (0..RETRY_LIMIT + 3).map(|i| format!("k{i:05}")).collect();
        full.absorb(many.iter(), &many);
        assert_eq!(full.current.len(), RETRY_LIMIT);
        assert_eq!(full.overflow.len(), 3);
    }
}
