//! The state side of the file store: `state.json` snapshot + `journal.jsonl` + `audit.jsonl`.
//!
//! A commit is one journal line (appended and fsynced: that is the commit point), then its audit
//! entries are appended to `audit.jsonl` tagged with the journal number, then memory is updated.
//! Every [`SNAPSHOT_EVERY`] journal lines the whole state (minus audit) is written to
//! `state.json` atomically and the journal is emptied, so a commit costs O(size of the commit),
//! not O(total records). On open: load the snapshot, replay journal lines newer than it, and
//! re-append audit entries of journalled commits missing from `audit.jsonl` (a crash between the
//! two appends).

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::io::{
    WriteError, append_durably, corrupt, io_error, open_append, read_lines,
    replace_atomically_with, tmp_path, truncate_to,
};
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::memory::state_data::{LeaseSlot, StateData};
use crate::model::{
    AuditEntry, AuditQuery, Checkpoint, Lease, PendingCreate, RecordState, StateCommit,
    SyncDirection,
};
use crate::report::RunReport;

/// Journal lines between snapshots.
pub(crate) const SNAPSHOT_EVERY: u64 = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    journal: u64,
    data: StateData,
}

/// A journal line's entry as opening the store reads it.
#[derive(Debug)]
enum Entry {
    /// A state commit without its audit entries; `audited` if the line carries some (see
    /// [`CommitHead`]).
    Commit {
        commit: StateCommit,
        audited: bool,
    },
    Run {
        report: Box<RunReport>,
    },
    Lease {
        scope: String,
        slot: LeaseSlot,
    },
}

/// A journal line as opening the store reads it (written as a [`JournalLineRef`]).
#[derive(Debug, Deserialize)]
#[serde(try_from = "JournalFields")]
struct JournalLine {
    n: u64,
    entry: Entry,
}

/// The tag of an [`Entry`] (`"type"` in a journal line).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EntryKind {
    Commit,
    Run,
    Lease,
}

/// A [`JournalLine`] as it is decoded: the entry's tag and the fields of every kind side by
/// side, so a line (a commit of thousands of record states) is read once. Decoding the written
/// shape (a tagged enum flattened into the line) would make serde buffer the whole line and
/// then decode it again.
#[derive(Deserialize)]
struct JournalFields {
    n: u64,
    #[serde(rename = "type")]
    kind: EntryKind,
    commit: Option<CommitHead>,
    report: Option<Box<RunReport>>,
    scope: Option<String>,
    slot: Option<LeaseSlot>,
}

impl TryFrom<JournalFields> for JournalLine {
    type Error = String;

    fn try_from(f: JournalFields) -> Result<Self, Self::Error> {
        let missing = |field: &str| format!("journal line {} ({:?}) has no `{field}`", f.n, f.kind);
        let entry = match f.kind {
            EntryKind::Commit => {
                let head = f.commit.ok_or_else(|| missing("commit"))?;
                Entry::Commit {
                    audited: head.audit.is_some(),
                    commit: head.into_commit(),
                }
            }
            EntryKind::Run => Entry::Run {
                report: f.report.ok_or_else(|| missing("report"))?,
            },
            EntryKind::Lease => Entry::Lease {
                scope: f.scope.ok_or_else(|| missing("scope"))?,
                slot: f.slot.ok_or_else(|| missing("slot"))?,
            },
        };
        Ok(JournalLine { n: f.n, entry })
    }
}

/// A journalled [`StateCommit`] as opening the store reads it: every field but the audit
/// entries, which are only checked to be JSON. `audit.jsonl` has them, unless a crash cut them
/// off, and then [`CommitAudit`] reads them from the same line. Unknown fields are refused, so a
/// field added to `StateCommit` and not here fails the store's tests instead of being dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitHead {
    entity: String,
    #[serde(default)]
    upsert_records: Vec<RecordState>,
    #[serde(default)]
    remove_records: Vec<String>,
    #[serde(default)]
    cursors: Vec<(SyncDirection, Checkpoint)>,
    #[serde(default)]
    add_pending: Vec<PendingCreate>,
    #[serde(default)]
    remove_pending: Vec<String>,
    /// Present only when the commit has audit entries (an empty list is not written).
    #[serde(default)]
    audit: Option<IgnoredAny>,
}

impl CommitHead {
    /// The commit, without its audit entries.
    fn into_commit(self) -> StateCommit {
        StateCommit {
            entity: self.entity,
            upsert_records: self.upsert_records,
            remove_records: self.remove_records,
            cursors: self.cursors,
            add_pending: self.add_pending,
            remove_pending: self.remove_pending,
            audit: Vec::new(),
            // A commit-time precondition, never journalled: replay does not check it again.
            fence: None,
        }
    }
}

/// The audit entries of a journalled commit, read from its line when `audit.jsonl` lacks them
/// (the rest of the line is skipped).
#[derive(Deserialize)]
struct CommitAudit {
    commit: CommitAuditEntries,
}

#[derive(Deserialize)]
struct CommitAuditEntries {
    #[serde(default)]
    audit: Vec<AuditEntry>,
}

/// An entry being journalled, borrowing what it writes (the JSON that [`JournalLine`] reads).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EntryRef<'a> {
    Commit { commit: &'a StateCommit },
    Run { report: &'a RunReport },
    Lease { scope: &'a str, slot: &'a LeaseSlot },
}

/// [`JournalLine`] being written.
#[derive(Serialize)]
struct JournalLineRef<'a> {
    n: u64,
    #[serde(flatten)]
    entry: EntryRef<'a>,
}

/// [`AuditLine`] being written.
#[derive(Serialize)]
struct AuditLineRef<'a> {
    c: u64,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuditLine {
    /// The journal number of the commit that carried the entry.
    c: u64,
    #[serde(flatten)]
    entry: AuditEntry,
}

/// What opening the store needs of an audit line: its commit number.
#[derive(Deserialize)]
struct AuditHead {
    c: u64,
}

pub(crate) struct StateFiles {
    snapshot_path: PathBuf,
    journal_path: PathBuf,
    audit_path: PathBuf,
    journal: File,
    journal_len: u64,
    audit: File,
    audit_len: u64,
    last_n: u64,
    since_snapshot: u64,
    /// Set when an audit append failed after its commit was journalled; no snapshot (which
    /// would drop the journal lines needed to repair it) until the audit log caught up.
    audit_behind: bool,
    pub(crate) data: StateData,
}

impl StateFiles {
    pub(crate) fn open(dir: &Path) -> StoreResult<Self> {
        let snapshot_path = dir.join("state.json");
        let journal_path = dir.join("journal.jsonl");
        let audit_path = dir.join("audit.jsonl");
        let tmp = tmp_path(&snapshot_path);
        if tmp.exists() {
            tracing::warn!(path = %tmp.display(), "removing a snapshot left half-written by a crash");
            std::fs::remove_file(&tmp).map_err(|e| io_error("remove", &tmp, e))?;
        }
        let (mut data, snap_n) = match File::open(&snapshot_path) {
            Ok(file) => {
                // Read through a buffer: the snapshot is not held in memory next to its data.
                let reader = std::io::BufReader::with_capacity(1 << 16, file);
                let snap: Snapshot = serde_json::from_reader(reader).map_err(|e| {
                    if e.is_io() {
                        io_error("read", &snapshot_path, e.into())
                    } else {
                        corrupt(&snapshot_path, 0, e)
                    }
                })?;
                (snap.data, snap.journal)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (StateData::default(), 0),
            Err(e) => return Err(io_error("read", &snapshot_path, e)),
        };

        // The audit log first: a journalled commit newer than its last entry lost its audit
        // entries in a crash, and they are re-appended below.
        // The newest commit in the audit log, and how many of its entries are there: a crash
        // in the middle of its append may have left only the first of them.
        let mut audit_max = 0u64;
        let mut audit_at_max = 0usize;
        let audit_ok = read_lines(&audit_path, |raw| {
            // Only the commit number is needed here: the entry is checked to be JSON, not
            // decoded (a query decodes what it reads).
            let line: AuditHead = serde_json::from_slice(raw.bytes)
                .map_err(|e| corrupt(&audit_path, raw.offset, e))?;
            if line.c > audit_max {
                (audit_max, audit_at_max) = (line.c, 0);
            }
            if line.c == audit_max {
                audit_at_max += 1;
            }
            Ok(())
        })?;
        truncate_to(&audit_path, audit_ok)?;

        // Each journal line is applied as it is read: the journal since the snapshot can hold
        // every record state of a large pull, and is never held in memory as a whole.
        let mut last_n = snap_n;
        let mut since_snapshot = 0u64;
        let mut missing_audit = Vec::new();
        let journal_ok = read_lines(&journal_path, |raw| {
            let line: JournalLine = serde_json::from_slice(raw.bytes)
                .map_err(|e| corrupt(&journal_path, raw.offset, e))?;
            if line.n <= snap_n {
                return Ok(());
            }
            last_n = line.n;
            since_snapshot += 1;
            match line.entry {
                Entry::Commit { commit, audited } => {
                    data.validate(&commit).map_err(|e| {
                        StoreError::new(
                            StoreErrorKind::Corrupt,
                            format!("journalled commit {} no longer applies: {e}", line.n),
                        )
                        .with_context("path", journal_path.display().to_string())
                    })?;
                    data.apply(&commit);
                    if audited && line.n >= audit_max {
                        // Entries of this commit already in the log (only the newest one there
                        // can have some and miss others) are not appended twice.
                        let there = if line.n == audit_max { audit_at_max } else { 0 };
                        let lost: CommitAudit = serde_json::from_slice(raw.bytes)
                            .map_err(|e| corrupt(&journal_path, raw.offset, e))?;
                        missing_audit.extend(
                            lost.commit
                                .audit
                                .into_iter()
                                .skip(there)
                                .map(|entry| AuditLine { c: line.n, entry }),
                        );
                    }
                }
                Entry::Run { report } => data.save_run(&report),
                Entry::Lease { scope, slot } => {
                    data.leases.insert(scope, slot);
                }
            }
            Ok(())
        })?;
        truncate_to(&journal_path, journal_ok)?;
        let (journal, journal_len) = open_append(&journal_path)?;
        let (audit, audit_len) = open_append(&audit_path)?;

        let mut files = StateFiles {
            snapshot_path,
            journal_path,
            audit_path,
            journal,
            journal_len,
            audit,
            audit_len,
            last_n,
            since_snapshot,
            audit_behind: false,
            data,
        };
        if !missing_audit.is_empty() {
            tracing::warn!(
                entries = missing_audit.len(),
                "re-appending audit entries of commits interrupted by a crash"
            );
            files.append_audit(missing_audit.iter().map(|l| AuditLineRef {
                c: l.c,
                entry: &l.entry,
            }))?;
        }
        Ok(files)
    }

    fn journal(&mut self, entry: EntryRef<'_>) -> StoreResult<u64> {
        let n = self.last_n + 1;
        let line = JournalLineRef { n, entry };
        let mut buf = serde_json::to_vec(&line).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Invalid,
                "state could not be encoded as JSON",
            )
            .with_source(e)
        })?;
        buf.push(b'\n');
        self.journal_len = append_durably(
            &mut self.journal,
            self.journal_len,
            &self.journal_path,
            &buf,
        )?;
        self.last_n = n;
        self.since_snapshot += 1;
        Ok(n)
    }

    fn append_audit<'a>(
        &mut self,
        lines: impl IntoIterator<Item = AuditLineRef<'a>>,
    ) -> StoreResult<()> {
        let mut buf = Vec::new();
        for line in lines {
            serde_json::to_writer(&mut buf, &line).map_err(|e| {
                StoreError::new(StoreErrorKind::Invalid, "audit entry could not be encoded")
                    .with_source(e)
            })?;
            buf.push(b'\n');
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.audit_len = append_durably(&mut self.audit, self.audit_len, &self.audit_path, &buf)?;
        Ok(())
    }

    pub(crate) fn commit(&mut self, commit: &StateCommit) -> StoreResult<()> {
        self.data.validate(commit)?;
        if self.audit_behind {
            // Reopen-style repair is simplest: the journal still holds every commit since the
            // last snapshot, so re-derive what audit.jsonl misses.
            self.repair_audit()?;
        }
        let n = self.journal(EntryRef::Commit { commit })?;
        self.data.apply(commit);
        let lines = commit
            .audit
            .iter()
            .map(|entry| AuditLineRef { c: n, entry });
        if let Err(e) = self.append_audit(lines) {
            tracing::error!(error = %e, "audit append failed after the commit was journalled; will repair");
            self.audit_behind = true;
        }
        self.maybe_snapshot()
    }

    fn repair_audit(&mut self) -> StoreResult<()> {
        let dir = self
            .snapshot_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let reopened = StateFiles::open(&dir)?;
        let data = std::mem::take(&mut self.data);
        *self = reopened;
        drop(data);
        Ok(())
    }

    pub(crate) fn save_run(&mut self, report: &RunReport) -> StoreResult<()> {
        self.journal(EntryRef::Run { report })?;
        self.data.save_run(report);
        self.maybe_snapshot()
    }

    pub(crate) fn acquire_lease(
        &mut self,
        scope: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>> {
        let Some(slot) = self.data.lease_outcome(scope, holder, ttl, now)? else {
            return Ok(None);
        };
        self.journal(EntryRef::Lease { scope, slot: &slot })?;
        let lease = slot.current.clone();
        self.data.leases.insert(scope.to_owned(), slot);
        self.maybe_snapshot()?;
        Ok(lease)
    }

    pub(crate) fn release_lease(&mut self, lease: &Lease) -> StoreResult<()> {
        if !self.data.is_current_lease(lease) {
            return Ok(());
        }
        let mut slot = self
            .data
            .leases
            .get(&lease.scope)
            .cloned()
            .unwrap_or_default();
        slot.current = None;
        self.journal(EntryRef::Lease {
            scope: &lease.scope,
            slot: &slot,
        })?;
        self.data.clear_lease(&lease.scope);
        self.maybe_snapshot()
    }

    /// Snapshots every [`SNAPSHOT_EVERY`] journal lines. The line that called it is durable in
    /// the journal already, so a snapshot that fails (a full disk) is logged, not the caller's
    /// error, and tried again after as many lines more; the journal grows meanwhile.
    fn maybe_snapshot(&mut self) -> StoreResult<()> {
        if self.since_snapshot >= SNAPSHOT_EVERY && !self.audit_behind {
            if let Err(e) = self.snapshot() {
                tracing::warn!(path = %self.snapshot_path.display(), error = %e, "could not write the state snapshot; the journal keeps every commit, trying again later");
                self.since_snapshot = 0;
            }
        }
        Ok(())
    }

    /// Writes `state.json` atomically and empties the journal.
    pub(crate) fn snapshot(&mut self) -> StoreResult<()> {
        #[derive(Serialize)]
        struct SnapshotRef<'a> {
            version: u32,
            journal: u64,
            data: &'a StateData,
        }
        let snapshot = SnapshotRef {
            version: 1,
            journal: self.last_n,
            data: &self.data,
        };
        // Streamed to the temp file: the snapshot is never held in memory as a whole.
        replace_atomically_with(&self.snapshot_path, |w| {
            serde_json::to_writer(w, &snapshot).map_err(|e| {
                if e.is_io() {
                    WriteError::Io(e.into())
                } else {
                    WriteError::Content(
                        StoreError::new(StoreErrorKind::Invalid, "state could not be encoded")
                            .with_source(e),
                    )
                }
            })
        })?;
        // Lines up to `last_n` are in the snapshot now; replay skips them even if this fails.
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.sync_all())
            .map_err(|e| io_error("empty the journal after a snapshot", &self.journal_path, e))?;
        self.journal_len = 0;
        self.since_snapshot = 0;
        Ok(())
    }

    /// Scans `audit.jsonl` (oldest first) for entries matching `query`.
    pub(crate) fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let mut out: VecDeque<AuditEntry> = VecDeque::new();
        let path = &self.audit_path;
        read_lines(path, |raw| {
            let line: AuditLine =
                serde_json::from_slice(raw.bytes).map_err(|e| corrupt(path, raw.offset, e))?;
            if query.matches(&line.entry) {
                out.push_back(line.entry);
                if query.limit.is_some_and(|l| out.len() > l) {
                    out.pop_front();
                }
            }
            Ok(())
        })?;
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditAction, AuditOutcome};

    /// A commit with every field filled in.
    fn full_commit() -> StateCommit {
        let at = Utc::now();
        StateCommit {
            entity: "people".into(),
            upsert_records: vec![RecordState {
                local_key: "k1".into(),
                twenty_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
                twenty_hash: Some("h1".into()),
                local_hash: Some("h2".into()),
                twenty_updated_at: Some(at),
                local_updated_at: Some(at),
                deleted: false,
                field_hashes: Some("fh1:00".into()),
            }],
            remove_records: vec!["k0".into()],
            cursors: vec![(SyncDirection::Pull, Checkpoint::new("c1"))],
            add_pending: vec![PendingCreate {
                local_key: "k2".into(),
                twenty_id: "t2".into(),
                run_id: "r1".into(),
                created_at: at,
            }],
            remove_pending: vec!["k3".into()],
            audit: vec![AuditEntry {
                run_id: "r1".into(),
                at,
                entity: "people".into(),
                direction: SyncDirection::Pull,
                local_key: Some("k1".into()),
                twenty_id: None,
                action: AuditAction::Update,
                changed_fields: vec!["name".into()],
                before_hash: None,
                after_hash: Some("h1".into()),
                outcome: AuditOutcome::Applied,
                detail: None,
            }],
            // Never journalled (a commit-time precondition).
            fence: None,
        }
    }

    fn journal_line(commit: &StateCommit) -> Vec<u8> {
        serde_json::to_vec(&JournalLineRef {
            n: 7,
            entry: EntryRef::Commit { commit },
        })
        .expect("encodes")
    }

    #[test]
    fn a_journalled_commit_opens_whole_but_for_its_audit_which_its_line_still_gives_back() {
        let commit = full_commit();
        let bytes = journal_line(&commit);
        let line: JournalLine = serde_json::from_slice(&bytes).expect("decodes");
        let Entry::Commit {
            commit: read,
            audited,
        } = line.entry
        else {
            panic!("not a commit: {:?}", line.entry);
        };
        assert!(audited);
        assert_eq!(
            read,
            StateCommit {
                audit: Vec::new(),
                ..commit.clone()
            }
        );
        let lost: CommitAudit = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(lost.commit.audit, commit.audit);

        let unaudited = StateCommit {
            audit: Vec::new(),
            ..commit
        };
        let line: JournalLine = serde_json::from_slice(&journal_line(&unaudited)).expect("decodes");
        assert!(matches!(line.entry, Entry::Commit { audited: false, .. }));
    }

    #[test]
    fn a_commit_field_that_opening_does_not_know_is_refused_not_dropped() {
        let mut line: serde_json::Value =
            serde_json::from_slice(&journal_line(&full_commit())).expect("json");
        line["commit"]["new_field"] = serde_json::json!([1]);
        let err = serde_json::from_value::<JournalLine>(line).expect_err("refused");
        assert!(err.to_string().contains("new_field"), "{err}");
    }
}
