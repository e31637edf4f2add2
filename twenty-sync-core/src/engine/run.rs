//! One run: id, report, plan, leases, audit helpers, and the `pull` / `push` / `sync` entry points.

use std::sync::Arc;

use chrono::Utc;
use tracing::Instrument;

use serde_json::Value;

use crate::model::{AuditAction, AuditEntry, AuditOutcome, RecordState, SyncDirection};
use crate::report::RecordFailure;
use crate::report::{RunMode, RunReport};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::clock;
use super::config::RunOptions;
use super::error::{SyncError, SyncErrorKind};
use super::lease::HeldLease;
use super::mapper::EntityMapper;
use super::plan::{Plan, PlannedAction, PlannedWrite};
use super::progress::ProgressEvent;

/// What a run returns: its report and the plan of its writes (executed, or only planned in a
/// dry run).
///
/// A real run's plan holds only counts ([`Plan::totals`]) unless the run was started with
/// [`RunOptions::keep_plan`]: one [`PlannedWrite`] per written record would make a run's memory
/// grow with its size. A dry run's plan always lists every write.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
/// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
/// #     .match_key("emails.primaryEmail");
/// use twenty_sync_core::RunMode;
///
/// let source = MemorySource::new();
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
///     .entity(Arc::new(contacts))
///     .build()?;
/// let preview = engine.run(RunMode::Pull, RunOptions::new().dry_run(true)).await?;
/// assert!(preview.report.dry_run);
/// assert!(source.records("contacts").is_empty());
///
/// let done = engine.run(RunMode::Pull, RunOptions::new().keep_plan(true)).await?;
/// // The dry run predicted the real run exactly.
/// assert_eq!(preview.plan.sorted(), done.plan.sorted());
/// assert_eq!(done.plan.count(PlannedAction::Create), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The report (also saved in the state store).
    pub report: RunReport,
    /// The writes' counts, and every write in decision order in a dry run or when
    /// [`RunOptions::keep_plan`] asked for them.
    pub plan: Plan,
}

/// The mutable context of a run, passed through pull and push.
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) mode: RunMode,
    pub(crate) dry_run: bool,
    pub(crate) report: RunReport,
    pub(crate) plan: Plan,
    /// Whether `plan` keeps each write (a dry run, or [`RunOptions::keep_plan`]); otherwise it
    /// only counts them.
    pub(crate) keep_plan: bool,
    /// What a dry run's push would have written, per Twenty id, for its pull to decide on (see
    /// [`DryOverlay`]). Empty in real runs: their memory stays flat.
    pub(crate) dry: DryOverlay,
}

/// One write a run decided on, for [`Run::decide`].
pub(crate) struct Decision<'a> {
    pub(crate) entity: &'a str,
    pub(crate) direction: SyncDirection,
    pub(crate) action: PlannedAction,
    pub(crate) local_key: &'a str,
    /// The Twenty record written or linked (for a push create, the id it is created with).
    pub(crate) twenty_id: &'a str,
    /// The fields written (for a conflict, those settled).
    pub(crate) fields: Vec<String>,
    /// The target side's content hash before the write, when known.
    pub(crate) before_hash: Option<String>,
    /// The target side's content hash after it.
    pub(crate) after_hash: Option<String>,
    /// The audit entry's detail (e.g. how a conflict was settled, the values written).
    pub(crate) detail: Option<String>,
}

/// A dry run's stand-in for the writes its push did not make. The real run's pull sees the
/// records its push wrote (with a new `updatedAt`, so at the end of its walk) and the record
/// states the push committed; a dry run's pull decides on these instead, so it plans exactly the
/// writes the real pull would make (e.g. a value Twenty normalised coming back, a conflict's
/// Twenty-won fields) and counts the rest unchanged.
#[derive(Debug, Default)]
pub(crate) struct DryOverlay {
    /// Record states the push would commit, by Twenty id.
    pub(crate) states: std::collections::HashMap<String, RecordState>,
    /// Twenty records as the push would leave them, by Twenty id.
    pub(crate) records: std::collections::HashMap<String, Value>,
    /// Ids of `records` the pull has not decided on yet, in push order.
    pub(crate) unseen: Vec<String>,
}

impl Run {
    /// A run that keeps its plan's writes only if it is a dry run (see [`Run::keeping_plan`]).
    pub(crate) fn new(mode: RunMode, dry_run: bool) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        Run {
            report: RunReport::new(id.clone(), mode, dry_run),
            id,
            mode,
            dry_run,
            plan: Plan::default(),
            keep_plan: dry_run,
            dry: DryOverlay::default(),
        }
    }

    /// Also keeps each planned write when `keep` (a dry run always does).
    pub(crate) fn keeping_plan(mut self, keep: bool) -> Self {
        self.keep_plan = keep || self.dry_run;
        self
    }

    /// Notes, in a dry run, the record state the push would commit for `state.twenty_id`.
    pub(crate) fn note_dry_state(&mut self, state: &RecordState) {
        if self.dry_run {
            self.dry
                .states
                .insert(state.twenty_id.clone(), state.clone());
        }
    }

    /// Notes, in a dry run, the Twenty record the push would leave behind (`record`, with a new
    /// `updatedAt`) and the state it would commit with it.
    pub(crate) fn note_dry_write(&mut self, record: Value, state: RecordState) {
        if self.dry_run {
            let id = state.twenty_id.clone();
            self.dry.states.insert(id.clone(), state);
            self.dry.records.insert(id.clone(), record);
            self.dry.unseen.push(id);
        }
    }

    /// The report key of an entity and direction: `entity:pull` / `entity:push`.
    pub(crate) fn counts_key(entity: &str, dir: SyncDirection) -> String {
        format!("{entity}:{}", dir.as_str())
    }

    /// An audit entry for this run.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn audit(
        &self,
        entity: &str,
        direction: SyncDirection,
        action: AuditAction,
        local_key: Option<&str>,
        twenty_id: Option<&str>,
        changed_fields: Vec<String>,
        before_hash: Option<String>,
        after_hash: Option<String>,
        outcome: AuditOutcome,
        detail: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            run_id: self.id.clone(),
            at: Utc::now(),
            entity: entity.to_owned(),
            direction,
            local_key: local_key.map(str::to_owned),
            twenty_id: twenty_id.map(str::to_owned),
            action,
            changed_fields,
            before_hash,
            after_hash,
            outcome: if self.dry_run && outcome == AuditOutcome::Applied {
                AuditOutcome::Planned
            } else {
                outcome
            },
            detail,
        }
    }

    /// Records a write in the plan: counted always, and kept (built as a [`PlannedWrite`]) only
    /// when the run keeps its plan, so a real run's records allocate nothing for it.
    pub(crate) fn plan(
        &mut self,
        entity: &str,
        direction: SyncDirection,
        action: PlannedAction,
        local_key: &str,
        twenty_id: Option<&str>,
        changed_fields: &[String],
    ) {
        if !self.keep_plan {
            self.plan.tally(entity, direction, action);
            return;
        }
        let write = PlannedWrite {
            entity: entity.to_owned(),
            direction,
            action,
            local_key: local_key.to_owned(),
            twenty_id: twenty_id.map(str::to_owned),
            changed_fields: changed_fields.to_vec(),
        };
        self.plan.record(write, true);
    }

    /// Records one decided write: counts it in the report, enters it in the plan, and returns
    /// its audit entry to commit. Every decided write goes through here, so the three always
    /// agree.
    ///
    /// A record the push creates gets a fresh random id, which a dry run and a real run do not
    /// share: its plan entry leaves the id out (so the two plans compare equal) while its audit
    /// entry names it.
    pub(crate) fn decide(&mut self, d: Decision<'_>) -> AuditEntry {
        let counts = self
            .report
            .counts_mut(&Self::counts_key(d.entity, d.direction));
        let (count, audited) = match d.action {
            PlannedAction::Create => (&mut counts.created, AuditAction::Create),
            PlannedAction::Update => (&mut counts.updated, AuditAction::Update),
            PlannedAction::Delete => (&mut counts.deleted, AuditAction::Delete),
            PlannedAction::Adopt => (&mut counts.adopted, AuditAction::Adopt),
            PlannedAction::Conflict => (&mut counts.conflicted, AuditAction::Conflict),
        };
        *count += 1;
        let random_id = d.direction == SyncDirection::Push && d.action == PlannedAction::Create;
        self.plan(
            d.entity,
            d.direction,
            d.action,
            d.local_key,
            (!random_id).then_some(d.twenty_id),
            &d.fields,
        );
        self.audit(
            d.entity,
            d.direction,
            audited,
            Some(d.local_key),
            Some(d.twenty_id),
            d.fields,
            d.before_hash,
            d.after_hash,
            AuditOutcome::Applied,
            d.detail,
        )
    }

    /// Takes back the decided `actions` of a record whose write did not happen (the counts
    /// [`decide`](Self::decide) added), and reports it failed. Its failure audit entry is
    /// written where the write was refused.
    pub(crate) fn withdraw(
        &mut self,
        entity: &str,
        direction: SyncDirection,
        local_key: &str,
        twenty_id: &str,
        actions: &[AuditAction],
        reason: String,
    ) {
        tracing::warn!(entity, direction = direction.as_str(), local_key, twenty_id, %reason, "record failed");
        self.take_back(entity, direction, actions);
        let key = Self::counts_key(entity, direction);
        self.report.push_failure(
            &key,
            RecordFailure {
                entity: entity.to_owned(),
                direction,
                local_key: Some(local_key.to_owned()),
                twenty_id: Some(twenty_id.to_owned()),
                field: None,
                reason,
            },
        );
    }

    /// Takes back the counts [`decide`](Self::decide) added for `actions`.
    fn take_back(&mut self, entity: &str, direction: SyncDirection, actions: &[AuditAction]) {
        let counts = self.report.counts_mut(&Self::counts_key(entity, direction));
        for action in actions {
            let count = match action {
                AuditAction::Create => &mut counts.created,
                AuditAction::Update => &mut counts.updated,
                AuditAction::Delete => &mut counts.deleted,
                AuditAction::Adopt => &mut counts.adopted,
                AuditAction::Conflict => &mut counts.conflicted,
                AuditAction::Restore | AuditAction::Fail => continue,
            };
            *count = count.saturating_sub(1);
        }
    }

    /// A write decided as `action` on Twenty record `planned_id` that did not happen: its
    /// decided entry in `audit` (the commit's, not written yet) gives way to a failure with
    /// `reason` (naming `failed_id`), and its count is taken back.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fail_planned(
        &mut self,
        audit: &mut Vec<AuditEntry>,
        entity: &str,
        direction: SyncDirection,
        local_key: &str,
        planned_id: &str,
        failed_id: Option<&str>,
        action: AuditAction,
        reason: String,
    ) {
        audit.retain(|a| !(a.action == action && a.twenty_id.as_deref() == Some(planned_id)));
        self.take_back(entity, direction, &[action]);
        audit.push(self.fail(entity, direction, Some(local_key), failed_id, None, reason));
    }

    /// Records a failed record (report + returns the audit entry to commit).
    pub(crate) fn fail(
        &mut self,
        entity: &str,
        direction: SyncDirection,
        local_key: Option<&str>,
        twenty_id: Option<&str>,
        field: Option<&str>,
        reason: String,
    ) -> AuditEntry {
        tracing::warn!(entity, direction = direction.as_str(), local_key, twenty_id, field, %reason, "record failed");
        self.report.push_failure(
            &Self::counts_key(entity, direction),
            RecordFailure {
                entity: entity.to_owned(),
                direction,
                local_key: local_key.map(str::to_owned),
                twenty_id: twenty_id.map(str::to_owned),
                field: field.map(str::to_owned),
                reason: reason.clone(),
            },
        );
        self.audit(
            entity,
            direction,
            AuditAction::Fail,
            local_key,
            twenty_id,
            field.map(|f| vec![f.to_owned()]).unwrap_or_default(),
            None,
            None,
            AuditOutcome::Failed(reason),
            None,
        )
    }
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Pulls Twenty → local. Shorthand for [`run`](Self::run) with [`RunMode::Pull`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let source = MemorySource::new();
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let report = engine.pull(RunOptions::new()).await?;
    /// assert_eq!(report.entities["contacts:pull"].created, 3);
    /// assert_eq!(source.records("contacts").len(), 3);
    ///
    /// // Nothing changed in Twenty: the next pull writes nothing.
    /// let again = engine.pull(RunOptions::new()).await?;
    /// assert_eq!(again.entities["contacts:pull"].created + again.entities["contacts:pull"].updated, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn pull(&self, opts: RunOptions) -> Result<RunReport, SyncError> {
        Ok(self.run(RunMode::Pull, opts).await?.report)
    }

    /// Pushes local → Twenty. Shorthand for [`run`](Self::run) with [`RunMode::Push`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use serde_json::json;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c1", json!({"email": "ada@example.com", "first": "Ada"}));
    /// source.upsert("contacts", "c2", json!({"email": "grace@example.com", "first": "Grace"}));
    /// let engine = SyncEngine::builder(client, source, MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let report = engine.push(RunOptions::new()).await?;
    /// assert_eq!(report.entities["contacts:push"].created, 2);
    /// assert_eq!(sim.handle().count("people"), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn push(&self, opts: RunOptions) -> Result<RunReport, SyncError> {
        Ok(self.run(RunMode::Push, opts).await?.report)
    }

    /// Bidirectional sync (push with conflict resolution, then pull). Shorthand for
    /// [`run`](Self::run) with [`RunMode::Sync`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(2)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com", "first": "Ada"}));
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let report = engine.sync(RunOptions::new()).await?;
    /// assert!(report.failures.is_empty(), "{}", report.summary());
    /// // Both sides now hold the local record and the two Twenty ones.
    /// assert_eq!(sim.handle().count("people"), 3);
    /// assert_eq!(source.records("contacts").len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn sync(&self, opts: RunOptions) -> Result<RunReport, SyncError> {
        Ok(self.run(RunMode::Sync, opts).await?.report)
    }

    /// Runs `mode` over the selected entities and returns the report and the plan (every write in
    /// a dry run or with [`RunOptions::keep_plan`], otherwise only their counts).
    ///
    /// The report is saved with status `Running` first (while the leases are taken) and again at
    /// the end (while they are released). A run-level error saves it with status `Failed` and
    /// the error, releases the leases and returns the error.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use twenty_sync_core::RunMode;
    ///
    /// let source = MemorySource::new();
    /// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
    /// let engine = SyncEngine::builder(client, source, MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let outcome = engine.run(RunMode::Push, RunOptions::new().dry_run(true)).await?;
    /// assert_eq!(outcome.plan.writes.len(), 1);
    /// assert_eq!(outcome.plan.writes[0].action, PlannedAction::Create);
    /// assert_eq!(outcome.plan.writes[0].local_key, "c1");
    /// assert_eq!(sim.handle().count("people"), 0); // a dry run writes nothing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn run(&self, mode: RunMode, opts: RunOptions) -> Result<RunOutcome, SyncError> {
        let entities = self.select(&opts)?;
        let mut run = Run::new(mode, opts.dry_run).keeping_plan(opts.keep_plan);
        let span = tracing::info_span!("sync_run", run_id = %run.id, mode = mode.as_str(), dry_run = opts.dry_run);
        async {
            // The run record is saved while the leases are taken (neither waits for the other);
            // a run whose record cannot be saved gives its leases back and does nothing.
            let mut leases = Vec::new();
            let take = async {
                match run.dry_run {
                    true => Ok(()),
                    false => self.take_leases(&entities, &mut leases).await,
                }
            };
            let (saved, leased) = tokio::join!(self.state.save_run(&run.report), take);
            if let Err(e) = saved {
                self.release_leases(&leases).await;
                return Err(SyncError::from_store("saving the run record", e).with_run(&run.id));
            }
            self.emit(ProgressEvent::RunStarted {
                run_id: run.id.clone(),
            });
            let before = self.client.stats();
            let source_before = self.source.metrics();
            // A panic (a bug, in the engine or in a source or store) is caught here only to be
            // put in the run's report and to give the leases back; it is then resumed below.
            let (result, panicked) = match leased {
                Ok(()) => {
                    let work =
                        std::panic::AssertUnwindSafe(self.run_leased(&mut run, &entities, &leases));
                    match futures::FutureExt::catch_unwind(work).await {
                        Ok(result) => (result, None),
                        Err(panic) => (Err(panicked_run(panic.as_ref())), Some(panic)),
                    }
                }
                Err(e) => (Err(e), None),
            };
            let after = self.client.stats();
            run.report.source_metrics = self
                .source
                .metrics()
                .into_iter()
                .map(|(name, total)| {
                    let spent =
                        total.saturating_sub(source_before.get(&name).copied().unwrap_or(0));
                    (name, spent)
                })
                .collect();
            run.report.requests = after.requests.saturating_sub(before.requests);
            run.report.retries = after.retries.saturating_sub(before.retries);
            run.report.throttled_ms =
                u64::try_from(after.throttled.saturating_sub(before.throttled).as_millis())
                    .unwrap_or(u64::MAX);
            // A Twenty clock far behind this host's is allowed for while it holds steady, and worth
            // a person's attention all the same (see `clock`).
            let clock_warning = match mode {
                RunMode::Push => None,
                RunMode::Pull | RunMode::Sync => self
                    .client
                    .server_clock()
                    .and_then(|c| clock::behind_warning(&c, self.config.overlap)),
            };
            if let Some(warning) = clock_warning {
                tracing::warn!(%warning, "Twenty's clock is behind this host's");
                run.report.warnings.push(warning);
            }
            if let Err(e) = &result {
                run.report.error = Some(e.to_string());
            }
            run.report.finish();
            // The leases are released while the report is saved.
            let (saved, ()) = tokio::join!(
                self.state.save_run(&run.report),
                self.release_leases(&leases)
            );
            self.emit(ProgressEvent::RunFinished {
                run_id: run.id.clone(),
            });
            tracing::info!(status = ?run.report.status, "run finished");
            if let Some(panic) = panicked {
                std::panic::resume_unwind(panic);
            }
            result.map_err(|e| e.with_run(&run.id))?;
            saved
                .map_err(|e| SyncError::from_store("saving the run report", e).with_run(&run.id))?;
            Ok(RunOutcome {
                report: run.report,
                plan: run.plan,
            })
        }
        .instrument(span)
        .await
    }

    fn select(&self, opts: &RunOptions) -> Result<Vec<Arc<dyn EntityMapper>>, SyncError> {
        match &opts.entities {
            None => Ok(self.entities.clone()),
            Some(names) => names
                .iter()
                .map(|n| {
                    self.entities
                        .iter()
                        .find(|e| e.name() == n)
                        .cloned()
                        .ok_or_else(|| {
                            SyncError::new(
                                SyncErrorKind::Config,
                                format!("unknown entity `{n}`; configure it with SyncEngineBuilder::entity"),
                            )
                        })
                })
                .collect(),
        }
    }

    /// Runs `entities` while renewing `leases` (none in a dry run). A lease lost on the way
    /// stops the run where it is, as a crash would: what it committed is kept.
    async fn run_leased(
        &self,
        run: &mut Run,
        entities: &[Arc<dyn EntityMapper>],
        leases: &[HeldLease],
    ) -> Result<(), SyncError> {
        if leases.is_empty() {
            return self.run_entities(run, entities).await;
        }
        tokio::select! {
            done = self.run_entities(run, entities) => done,
            lost = self.keep_leases(leases) => Err(lost),
        }
    }

    async fn run_entities(
        &self,
        run: &mut Run,
        entities: &[Arc<dyn EntityMapper>],
    ) -> Result<(), SyncError> {
        for e in entities {
            let span = tracing::info_span!("entity", entity = e.name());
            async {
                // Sync pushes first: local records are matched to existing Twenty records by
                // natural key (adopted) before a pull could import those as new local records.
                if matches!(run.mode, RunMode::Push | RunMode::Sync) {
                    self.push_entity(run, e.as_ref()).await?;
                }
                if matches!(run.mode, RunMode::Pull | RunMode::Sync) {
                    self.pull_entity(run, e.as_ref()).await?;
                }
                Ok::<(), SyncError>(())
            }
            .instrument(span)
            .await?;
        }
        Ok(())
    }
}

/// The run-level error that stands for a panic in the run's report.
fn panicked_run(panic: &(dyn std::any::Any + Send)) -> SyncError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %what, "the run panicked; its report is saved as failed and its leases are given back");
    SyncError::new(
        SyncErrorKind::Panicked,
        format!(
            "the run panicked: {what}; this is a bug (in the engine, or in the source or store named in the message): please report it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(direction: SyncDirection, action: PlannedAction) -> Decision<'static> {
        Decision {
            entity: "people",
            direction,
            action,
            local_key: "k1",
            twenty_id: "t1",
            fields: vec!["name.firstName".into()],
            before_hash: Some("before".into()),
            after_hash: Some("after".into()),
            detail: Some("why".into()),
        }
    }

    #[test]
    fn a_decision_is_counted_planned_and_audited_as_the_same_action() {
        use PlannedAction::*;
        let cases = [
            (Create, AuditAction::Create),
            (Update, AuditAction::Update),
            (Delete, AuditAction::Delete),
            (Adopt, AuditAction::Adopt),
            (Conflict, AuditAction::Conflict),
        ];
        for (action, audited) in cases {
            for direction in [SyncDirection::Pull, SyncDirection::Push] {
                let mut run = Run::new(RunMode::Sync, false).keeping_plan(true);
                let entry = run.decide(decision(direction, action));

                let counts = run
                    .report
                    .counts_mut(&Run::counts_key("people", direction))
                    .clone();
                let counted = [
                    (Create, counts.created),
                    (Update, counts.updated),
                    (Delete, counts.deleted),
                    (Adopt, counts.adopted),
                    (Conflict, counts.conflicted),
                ];
                for (a, n) in counted {
                    assert_eq!(n, u64::from(a == action), "{action:?} {direction:?}: {a:?}");
                }
                assert_eq!(counts.unchanged + counts.failed + counts.seen, 0);

                assert_eq!(run.plan.count(action), 1);
                let write = &run.plan.writes[0];
                assert_eq!(
                    (write.action, write.direction, write.local_key.as_str()),
                    (action, direction, "k1")
                );
                assert_eq!(write.changed_fields, ["name.firstName"]);

                assert_eq!((entry.action, entry.direction), (audited, direction));
                assert_eq!(entry.local_key.as_deref(), Some("k1"));
                assert_eq!(entry.twenty_id.as_deref(), Some("t1"));
                assert_eq!(entry.changed_fields, ["name.firstName"]);
                assert_eq!(entry.before_hash.as_deref(), Some("before"));
                assert_eq!(entry.after_hash.as_deref(), Some("after"));
                assert_eq!(entry.detail.as_deref(), Some("why"));
                assert_eq!(entry.outcome, AuditOutcome::Applied);
                assert_eq!(entry.run_id, run.id);
            }
        }
    }

    #[test]
    fn only_a_push_create_leaves_its_random_id_out_of_the_plan() {
        for (direction, action, planned_id) in [
            (SyncDirection::Push, PlannedAction::Create, None),
            (SyncDirection::Pull, PlannedAction::Create, Some("t1")),
            (SyncDirection::Push, PlannedAction::Update, Some("t1")),
            (SyncDirection::Push, PlannedAction::Adopt, Some("t1")),
        ] {
            let mut run = Run::new(RunMode::Sync, false).keeping_plan(true);
            let entry = run.decide(decision(direction, action));
            assert_eq!(run.plan.writes[0].twenty_id.as_deref(), planned_id);
            // The audit trail always names the record.
            assert_eq!(entry.twenty_id.as_deref(), Some("t1"));
        }
    }

    #[test]
    fn a_run_that_does_not_keep_its_plan_still_counts_each_write() {
        let mut run = Run::new(RunMode::Pull, false);
        run.decide(decision(SyncDirection::Pull, PlannedAction::Create));
        run.decide(decision(SyncDirection::Pull, PlannedAction::Create));
        run.decide(decision(SyncDirection::Pull, PlannedAction::Update));
        assert!(run.plan.writes.is_empty(), "no write kept");
        assert_eq!(run.plan.count(PlannedAction::Create), 2);
        assert_eq!(run.plan.count(PlannedAction::Update), 1);
        assert_eq!(run.plan.totals.len(), 2);
        assert!(run.plan.totals.iter().all(|t| t.entity == "people"));
    }

    #[test]
    fn a_dry_run_audits_its_decisions_as_planned() {
        let mut run = Run::new(RunMode::Push, true);
        let entry = run.decide(decision(SyncDirection::Push, PlannedAction::Update));
        assert_eq!(entry.outcome, AuditOutcome::Planned);
        assert_eq!(run.plan.writes.len(), 1, "a dry run keeps its plan");
    }
}
