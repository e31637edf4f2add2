//! The run report: what a run did, per entity, with every failure listed.
//!
//! A report hides nothing: counts per entity, each failed record with its reason, time spent and
//! time spent throttled. It serialises to JSON (stored by the [`StateStore`](crate::StateStore) as
//! run history) and renders as a short human summary with [`RunReport::summary`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::SyncDirection;

/// What a run does.
///
/// ```
/// use twenty_sync_core::{RunMode, RunReport};
///
/// let report = RunReport::new("run-1", RunMode::Sync, false);
/// assert_eq!(report.mode, RunMode::Sync);
/// assert_eq!(serde_json::to_string(&RunMode::Sync).unwrap(), r#""sync""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Twenty -> local only.
    Pull,
    /// Local -> Twenty only.
    Push,
    /// Both directions with the conflict policy.
    Sync,
}

impl RunMode {
    /// `"pull"`, `"push"` or `"sync"`.
    ///
    /// ```
    /// use twenty_sync_core::RunMode;
    ///
    /// assert_eq!(RunMode::Pull.as_str(), "pull");
    /// assert_eq!(format!("{} run", RunMode::Sync.as_str()), "sync run");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Pull => "pull",
            RunMode::Push => "push",
            RunMode::Sync => "sync",
        }
    }
}

/// How a run ended (or that it has not).
///
/// ```
/// use twenty_sync_core::{RecordFailure, RunMode, RunReport, RunStatus, SyncDirection};
///
/// let mut report = RunReport::new("run-1", RunMode::Push, false);
/// assert_eq!(report.status, RunStatus::Running);
/// report.push_failure("contacts", RecordFailure {
///     entity: "contacts".into(), direction: SyncDirection::Push, local_key: Some("c-1".into()),
///     twenty_id: None, field: None, reason: "rejected by Twenty".into(),
/// });
/// report.finish();
/// assert_eq!(report.status, RunStatus::PartiallyFailed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (or crashed without finishing; a later run resumes its work).
    Running,
    /// Every record synced.
    Succeeded,
    /// The run finished but some records failed; they are listed in `failures`.
    PartiallyFailed,
    /// The run stopped early with an error; state is resumable.
    Failed,
}

/// Counts for one entity in one run.
///
/// ```
/// use twenty_sync_core::{EntityCounts, RunMode, RunReport};
///
/// let mut report = RunReport::new("run-1", RunMode::Pull, false);
/// let counts: &mut EntityCounts = report.counts_mut("contacts");
/// counts.seen += 10;
/// counts.created += 2;
/// counts.unchanged += 8;
/// assert_eq!(report.entities["contacts"], EntityCounts { seen: 10, created: 2, unchanged: 8, ..Default::default() });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    /// Records read from the source side.
    pub seen: u64,
    /// Records created on the target side.
    pub created: u64,
    /// Records updated on the target side.
    pub updated: u64,
    /// Records deleted on the target side.
    pub deleted: u64,
    /// Records skipped because nothing changed.
    pub unchanged: u64,
    /// Records adopted by natural-key match.
    pub adopted: u64,
    /// Records in conflict (each resolved per policy, see the audit log).
    pub conflicted: u64,
    /// Records that failed (each listed in the report's `failures`).
    pub failed: u64,
}

impl EntityCounts {
    /// Adds `other` to `self`.
    ///
    /// ```
    /// use twenty_sync_core::EntityCounts;
    ///
    /// let mut total = EntityCounts { created: 1, failed: 1, ..Default::default() };
    /// total.add(&EntityCounts { created: 2, updated: 5, ..Default::default() });
    /// assert_eq!((total.created, total.updated, total.failed), (3, 5, 1));
    /// ```
    pub fn add(&mut self, other: &EntityCounts) {
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.adopted += other.adopted;
        self.conflicted += other.conflicted;
        self.failed += other.failed;
    }
}

/// One record that could not be synced, and why.
///
/// ```
/// use twenty_sync_core::{RecordFailure, RunMode, RunReport, SyncDirection};
///
/// let mut report = RunReport::new("run-1", RunMode::Pull, false);
/// report.push_failure("people", RecordFailure {
///     entity: "people".into(),
///     direction: SyncDirection::Pull,
///     local_key: None,
///     twenty_id: Some("tw-7".into()),
///     field: Some("emails.primaryEmail".into()),
///     reason: "not an email address".into(),
/// });
/// assert_eq!(report.failures[0].twenty_id.as_deref(), Some("tw-7"));
/// assert!(report.summary().contains("field=emails.primaryEmail: not an email address"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    /// The local entity name.
    pub entity: String,
    /// Which way it was going.
    pub direction: SyncDirection,
    /// The local key, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_key: Option<String>,
    /// The Twenty id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twenty_id: Option<String>,
    /// The field at fault, when the failure is about one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why, in words a user can act on. Never contains secrets.
    pub reason: String,
}

impl std::fmt::Display for RecordFailure {
    /// One line: entity, direction, key and id (`-` when unknown), the field when there is one,
    /// and the reason.
    ///
    /// ```
    /// use twenty_sync_core::{RecordFailure, SyncDirection};
    ///
    /// let f = RecordFailure {
    ///     entity: "contacts".into(),
    ///     direction: SyncDirection::Push,
    ///     local_key: Some("c-1".into()),
    ///     twenty_id: None,
    ///     field: Some("email".into()),
    ///     reason: "not an email address".into(),
    /// };
    /// assert_eq!(f.to_string(), "contacts push key=c-1 id=- field=email: not an email address");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} key={} id={}",
            self.entity,
            self.direction.as_str(),
            self.local_key.as_deref().unwrap_or("-"),
            self.twenty_id.as_deref().unwrap_or("-"),
        )?;
        if let Some(field) = &self.field {
            write!(f, " field={field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The report of one run.
///
/// ```
/// use twenty_sync_core::{RunReport, RunMode, RunStatus};
///
/// let mut report = RunReport::new("run-1", RunMode::Pull, false);
/// report.counts_mut("contacts").created += 3;
/// report.finish();
/// assert_eq!(report.status, RunStatus::Succeeded);
/// assert!(report.summary().contains("contacts"));
/// let json = serde_json::to_string(&report).unwrap();
/// let back: RunReport = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, report);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run id.
    pub run_id: String,
    /// What the run did.
    pub mode: RunMode,
    /// Whether it only planned.
    pub dry_run: bool,
    /// How it ended.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Counts per entity and direction, keyed `"<entity>"` for single-direction runs or
    /// `"<entity>/<direction>"` when a run goes both ways.
    pub entities: BTreeMap<String, EntityCounts>,
    /// Every record that failed. Never truncated.
    pub failures: Vec<RecordFailure>,
    /// The error that stopped the run early, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HTTP requests made to Twenty.
    pub requests: u64,
    /// Requests retried.
    pub retries: u64,
    /// Milliseconds spent waiting for the rate limit.
    pub throttled_ms: u64,
    /// Wall-clock milliseconds of the run.
    pub duration_ms: u64,
    /// What the run cost the source of truth, from
    /// [`SourceOfTruth::metrics`](crate::SourceOfTruth::metrics) (e.g.
    /// `bigquery_bytes_processed`); empty for sources that report none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_metrics: BTreeMap<String, u64>,
    /// What the run saw that did not fail it but needs a person's attention, e.g. Twenty's
    /// clock far behind this host's (see
    /// [`EngineConfig::overlap`](crate::engine::EngineConfig::overlap)), or a push that ran below
    /// its rate limit because Twenty answered slowly (see
    /// [`EngineConfig::push_in_flight_max`](crate::engine::EngineConfig::push_in_flight_max)). Empty in
    /// reports saved before this field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RunReport {
    /// A report for a run that starts now.
    ///
    /// ```
    /// use twenty_sync_core::{RunMode, RunReport, RunStatus};
    ///
    /// let report = RunReport::new("run-1", RunMode::Pull, true);
    /// assert_eq!((report.run_id.as_str(), report.dry_run), ("run-1", true));
    /// assert_eq!(report.status, RunStatus::Running);
    /// assert!(report.entities.is_empty() && report.finished_at.is_none());
    /// ```
    pub fn new(run_id: impl Into<String>, mode: RunMode, dry_run: bool) -> Self {
        RunReport {
            run_id: run_id.into(),
            mode,
            dry_run,
            status: RunStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            entities: BTreeMap::new(),
            failures: Vec::new(),
            error: None,
            requests: 0,
            retries: 0,
            throttled_ms: 0,
            duration_ms: 0,
            source_metrics: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The counts for `key` (created on first use).
    ///
    /// ```
    /// use twenty_sync_core::{RunMode, RunReport};
    ///
    /// let mut report = RunReport::new("run-1", RunMode::Sync, false);
    /// report.counts_mut("contacts/pull").updated += 1;
    /// report.counts_mut("contacts/pull").updated += 1;
    /// assert_eq!(report.entities["contacts/pull"].updated, 2);
    /// ```
    pub fn counts_mut(&mut self, key: &str) -> &mut EntityCounts {
        self.entities.entry(key.to_owned()).or_default()
    }

    /// Records a failed record (and counts it).
    ///
    /// ```
    /// use twenty_sync_core::{RecordFailure, RunMode, RunReport, SyncDirection};
    ///
    /// let mut report = RunReport::new("run-1", RunMode::Push, false);
    /// report.push_failure("contacts", RecordFailure {
    ///     entity: "contacts".into(), direction: SyncDirection::Push, local_key: Some("c-1".into()),
    ///     twenty_id: None, field: None, reason: "duplicate email".into(),
    /// });
    /// assert_eq!(report.entities["contacts"].failed, 1);
    /// assert_eq!(report.failures.len(), 1);
    /// ```
    pub fn push_failure(&mut self, counts_key: &str, failure: RecordFailure) {
        self.counts_mut(counts_key).failed += 1;
        self.failures.push(failure);
    }

    /// Totals over all entities.
    ///
    /// ```
    /// use twenty_sync_core::{RunMode, RunReport};
    ///
    /// let mut report = RunReport::new("run-1", RunMode::Pull, false);
    /// report.counts_mut("contacts").created += 3;
    /// report.counts_mut("companies").created += 2;
    /// assert_eq!(report.totals().created, 5);
    /// ```
    pub fn totals(&self) -> EntityCounts {
        let mut t = EntityCounts::default();
        for c in self.entities.values() {
            t.add(c);
        }
        t
    }

    /// Sets `finished_at`, `duration_ms` and the status: `Failed` if `error` is set,
    /// `PartiallyFailed` if any record failed, `Succeeded` otherwise. A run never reports success
    /// while records failed.
    ///
    /// ```
    /// use twenty_sync_core::{RunMode, RunReport, RunStatus};
    ///
    /// let mut report = RunReport::new("run-1", RunMode::Pull, false);
    /// report.error = Some("Twenty is unreachable".into());
    /// report.finish();
    /// assert_eq!(report.status, RunStatus::Failed);
    /// assert!(report.finished_at.is_some());
    /// ```
    pub fn finish(&mut self) {
        let now = Utc::now();
        self.finished_at = Some(now);
        self.duration_ms = (now - self.started_at).num_milliseconds().max(0) as u64;
        let any_failed = !self.failures.is_empty() || self.totals().failed > 0;
        self.status = if self.error.is_some() {
            RunStatus::Failed
        } else if any_failed {
            RunStatus::PartiallyFailed
        } else {
            RunStatus::Succeeded
        };
    }

    /// A concise human summary: one line for the run, one per entity, one per warning, one per
    /// failure.
    ///
    /// ```
    /// use twenty_sync_core::{RunMode, RunReport};
    ///
    /// let mut report = RunReport::new("run-1", RunMode::Pull, true);
    /// report.counts_mut("contacts").created = 3;
    /// report.warnings.push("Twenty's clock is behind".into());
    /// report.finish();
    /// let summary = report.summary();
    /// assert!(summary.starts_with("run run-1 (pull, dry run): Succeeded"));
    /// assert!(summary.contains("contacts: seen 0, created 3,"));
    /// assert!(summary.contains("  warning: Twenty's clock is behind"));
    /// ```
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run {} ({}{}): {:?} in {} ms, {} requests, {} retries, {} ms throttled",
            self.run_id,
            self.mode.as_str(),
            if self.dry_run { ", dry run" } else { "" },
            self.status,
            self.duration_ms,
            self.requests,
            self.retries,
            self.throttled_ms
        );
        for (name, value) in &self.source_metrics {
            let _ = writeln!(s, "  source {name}: {value}");
        }
        for (entity, c) in &self.entities {
            let _ = writeln!(
                s,
                "  {entity}: seen {}, created {}, updated {}, deleted {}, unchanged {}, adopted {}, conflicted {}, failed {}",
                c.seen,
                c.created,
                c.updated,
                c.deleted,
                c.unchanged,
                c.adopted,
                c.conflicted,
                c.failed
            );
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  stopped: {e}");
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        for f in &self.failures {
            let _ = writeln!(s, "  failed {f}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_saved_before_warnings_existed_still_loads_and_an_empty_list_is_not_written() {
        let report = RunReport::new("run-1", RunMode::Pull, false);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json.get("warnings").is_none(), "{json}");
        let back: RunReport = serde_json::from_value(json).unwrap();
        assert!(back.warnings.is_empty());

        let mut warned = report.clone();
        warned.warnings.push("Twenty's clock is behind".into());
        let json = serde_json::to_value(&warned).unwrap();
        assert_eq!(json["warnings"][0], "Twenty's clock is behind");
        assert_eq!(serde_json::from_value::<RunReport>(json).unwrap(), warned);
    }
}
