//! Engine options and per-run options.

use std::collections::BTreeMap;
use std::time::Duration;

use super::audit::AuditValues;

/// What a local delete does in Twenty.
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
/// let source = MemorySource::new();
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
///     .entity(Arc::new(contacts))
///     .build()?;
/// assert_eq!(engine.config().push_delete, PushDeleteMode::SoftDelete);
/// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
/// engine.push(RunOptions::new()).await?;
/// source.delete("contacts", "c1");
/// engine.push(RunOptions::new()).await?;
/// // Soft deleted: gone from the lists, still in Twenty's trash.
/// assert_eq!(sim.handle().count("people"), 0);
/// assert_eq!(sim.handle().count_with_deleted("people"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PushDeleteMode {
    /// Soft delete (Twenty keeps the record in its trash; it can be restored). The default.
    #[default]
    SoftDelete,
    /// Permanent delete.
    Destroy,
    /// Local deletes are not propagated.
    Ignore,
}

/// What a delete in Twenty does locally.
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
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
///     .entity(Arc::new(contacts))
///     .build()?;
/// assert_eq!(engine.config().pull_delete, PullDeleteMode::Delete);
/// engine.pull(RunOptions::new()).await?;
/// let id = sim.handle().records("people")[0]["id"].as_str().unwrap().to_owned();
/// sim.handle().soft_delete_record("people", &id);
/// engine.pull(RunOptions::new()).await?;
/// assert!(source.record("contacts", &id).is_none());
/// assert_eq!(source.records("contacts").len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PullDeleteMode {
    /// Delete the local record. The default.
    #[default]
    Delete,
    /// Keep the local record, marked as deleted (`InboundChangeKind::Delete { tombstone: true }`).
    Tombstone,
}

/// How a push writes new (unlinked) local records and finds the Twenty records they match.
///
/// Both strategies give the same result: a local record whose natural key matches an existing
/// Twenty record is linked to it (*adopted*) and the record gets the local values of the pushed
/// fields, anything else is created. Fields owned by Twenty are never sent (they are not in the
/// push view). Adoption writes the local values of the other fields in both strategies: a matched
/// record has no last-synced version, so there is no conflict to settle. Creates are recorded
/// as write-ahead intents before they are sent in both strategies, so a crash between "Twenty
/// wrote it" and "we recorded it" is recovered without a duplicate.
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
/// sim.handle().insert_record("people", serde_json::json!({"emails": {"primaryEmail": "ada@example.com"}}));
/// let source = MemorySource::new();
/// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com", "title": "CTO"}));
/// let config = EngineConfig { match_strategy: MatchStrategy::Lookup, ..EngineConfig::default() };
/// let engine = SyncEngine::builder(client, source, MemoryState::new())
///     .entity(Arc::new(contacts))
///     .config(config)
///     .build()?;
/// let report = engine.push(RunOptions::new()).await?;
/// // The local record matched the existing person by email: linked, not duplicated.
/// assert_eq!(report.entities["contacts:push"].adopted, 1);
/// assert_eq!(sim.handle().count("people"), 1);
/// assert_eq!(sim.handle().records("people")[0]["jobTitle"], "CTO");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MatchStrategy {
    /// One list request per chunk looks the natural keys up (live records only, compared
    /// case-insensitively), then matched records are patched with the changed fields (one
    /// request each) and the others created in one batch: at least two requests per chunk.
    Lookup,
    /// One batch upsert per chunk (`POST /rest/batch/{plural}?upsert=true`) with no lookup:
    /// Twenty matches each record on `id` and on every unique field, updates the match (reviving
    /// it if it was soft-deleted) or creates it. An answer whose id is not the engine-chosen one
    /// is an adoption. Only correct when the entity's match key *is* a unique field in Twenty
    /// (otherwise Twenty matches nothing and creates duplicates). A dry run cannot upsert: it
    /// predicts adoptions with a lookup that includes soft-deleted records, as the upsert does.
    /// An adoption's audit entry lists the fields written (the prior values were not read).
    Upsert,
    /// [`Upsert`](Self::Upsert) when all of these hold, [`Lookup`](Self::Lookup) otherwise:
    /// the entity has exactly one match key and it is the unique field Twenty's standard
    /// objects define (`people`: `emails.primaryEmail`; `companies`:
    /// `domainName.primaryLinkUrl`), and the audit does not record field values
    /// ([`AuditValues::Off`]: the values an adoption replaced are only known by reading the
    /// record first). The default.
    #[default]
    Auto,
}

impl MatchStrategy {
    /// The strategy a push uses for an entity: `Auto` resolved to `Lookup` or `Upsert` from the
    /// Twenty object, the entity's match keys and the audit setting (see [`MatchStrategy::Auto`]).
    ///
    /// ```
    /// use twenty_sync_core::engine::{AuditValues, MatchStrategy};
    /// let email = vec!["emails.primaryEmail".to_string()];
    /// assert_eq!(MatchStrategy::Auto.resolve("people", &email, &AuditValues::Off), MatchStrategy::Upsert);
    /// assert_eq!(MatchStrategy::Auto.resolve("opportunities", &email, &AuditValues::Off), MatchStrategy::Lookup);
    /// assert_eq!(MatchStrategy::Lookup.resolve("people", &email, &AuditValues::Off), MatchStrategy::Lookup);
    /// ```
    pub fn resolve(
        self,
        twenty_object: &str,
        match_keys: &[String],
        audit: &AuditValues,
    ) -> MatchStrategy {
        match self {
            MatchStrategy::Auto => {
                let unique = match twenty_object {
                    "people" => Some("emails.primaryEmail"),
                    "companies" => Some("domainName.primaryLinkUrl"),
                    _ => None,
                };
                let keyed = matches!(match_keys, [k] if Some(k.as_str()) == unique);
                if keyed && *audit == AuditValues::Off {
                    MatchStrategy::Upsert
                } else {
                    MatchStrategy::Lookup
                }
            }
            other => other,
        }
    }
}

/// How an install is triggered: whether [`SyncEngine::handle_webhook`](super::SyncEngine::handle_webhook)
/// applies deliveries, or ignores them because polls alone bring changes in.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
/// let contacts = Arc::new(FieldMap::new("contacts", "people", "person").field("title", "jobTitle"));
/// let engine = SyncEngine::builder(client.clone(), MemorySource::new(), MemoryState::new())
///     .entity(contacts.clone())
///     .build()?;
/// // The default: webhooks for latency, polling for completeness.
/// assert_eq!(engine.config().trigger, TriggerMode::WebhooksWithReconcile);
///
/// // Polling only: deliveries are ignored unread, and no webhook secret is needed.
/// let polling = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
///     .entity(contacts)
///     .trigger(TriggerMode::PollingOnly)
///     .build()?;
/// let body = br#"{"eventName":"person.created","objectMetadata":{"nameSingular":"person"},"record":{}}"#;
/// match polling.handle_webhook("1767225600000", "not-checked", body).await? {
///     WebhookOutcome::Ignored(why) => assert!(why.contains("PollingOnly"), "{why}"),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TriggerMode {
    /// Only polling runs.
    PollingOnly,
    /// Webhooks for low latency plus periodic reconcile polling (Twenty does not retry failed
    /// deliveries, so polling is what guarantees completeness). The default.
    #[default]
    WebhooksWithReconcile,
}

/// Engine-wide options (set through [`SyncEngineBuilder`](super::SyncEngineBuilder)).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
/// use std::time::Duration;
///
/// let config = EngineConfig {
///     batch_size: 200,
///     overlap: Duration::from_secs(60),
///     push_delete: PushDeleteMode::Ignore,
///     ..EngineConfig::default()
/// };
/// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
///     .config(config)
///     .build()?;
/// assert_eq!(engine.config().push_delete, PushDeleteMode::Ignore);
/// assert_eq!(engine.config().pull_commit_records, 2000); // a default kept
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Records per batch (page size of pulls, chunk size of pushes), 1..=200. Default 100.
    pub batch_size: usize,
    /// Pulled writes committed together in one [`ApplyBatch`](crate::ApplyBatch) (one local
    /// transaction): pages are mapped one by one as they arrive and committed, with the cursor,
    /// once this many records are to be written (or at the end of a walk). Larger batches cost
    /// the local store fewer commits (each with its fixed cost: a WAL flush and a COPY statement
    /// in PostgreSQL) and hold more in memory (one staged, plus one being applied, or two where
    /// the source applies two at once,
    /// [`SourceOfTruth::concurrent_applies`](crate::SourceOfTruth::concurrent_applies)); a
    /// crash re-reads at most those. Until a pull has handed over this many writes, the
    /// pages staged so far also go whenever the source has room for another batch, if its commits
    /// cost about their size ([`SourceOfTruth::commits_early`](crate::SourceOfTruth::commits_early)),
    /// so a pull shorter than a batch (an incremental one) is applied while it is still
    /// reading. Default 2000.
    pub pull_commit_records: usize,
    /// How far before the watermark each pull starts again. Default 5 minutes.
    ///
    /// The watermark is the start of the previous pull, put on Twenty's clock as far as the
    /// `Date` headers of its answers bound it (to about a second plus the round trip). The overlap
    /// covers what they cannot: that last second, a Twenty clock set back between two pulls, and
    /// Twenty transactions that commit after the previous pull read past their `updatedAt`.
    /// It has a price: every pull reads again what changed in Twenty in the overlap before the
    /// previous pull started (counted `unchanged`, not written), and spends requests on it. An
    /// engine polling every minute under the default reads about six times the records that
    /// changed since its previous pull (see `benches/RESULTS.md`, 2026-12-07). With both clocks
    /// kept in step by NTP, a shorter overlap (say 30 seconds) still leaves a margin for slow
    /// transactions and saves most of those reads. A pull whose latest answer from Twenty has a
    /// `Date` at least half the overlap behind this host's clock
    /// ([`Client::server_clock`](twenty_client::Client::server_clock)) warns in its report
    /// ([`RunReport::warnings`](crate::RunReport::warnings)): such a clock is allowed for while
    /// the difference holds, and one set back by more than the overlap between two pulls is not.
    pub overlap: Duration,
    /// Local deletes in Twenty.
    pub push_delete: PushDeleteMode,
    /// Twenty deletes locally.
    pub pull_delete: PullDeleteMode,
    /// Lease time-to-live. Default 10 minutes. A run renews its leases every third of it, so
    /// it bounds how long a crashed run keeps others out, not how long a run may take.
    pub lease_ttl: Duration,
    /// Lease holder id (default: a random id per engine).
    pub holder_id: String,
    /// Whether webhook deliveries are applied or ignored (see [`TriggerMode`]).
    pub trigger: TriggerMode,
    /// How a webhook delivery is applied: [`RunMode::Pull`] (the default) writes Twenty's
    /// values over the local record, as a pull run does; [`RunMode::Sync`] first resolves a
    /// local change not pushed yet with the conflict policy, as a sync run's pull does. An
    /// engine that syncs both ways should set `Sync`, or a delivery overwrites local edits the
    /// next push would have sent.
    ///
    /// [`RunMode::Pull`]: crate::RunMode::Pull
    /// [`RunMode::Sync`]: crate::RunMode::Sync
    pub webhook_mode: crate::RunMode,
    /// Largest accepted webhook age. Default 5 minutes.
    ///
    /// Twenty signs with its own clock: a delivery within this age of this host's clock, or of
    /// Twenty's (this host's less what Twenty's latest answer showed its clock to be behind), is
    /// accepted.
    pub webhook_max_age: Duration,
    /// How many webhook delivery ids are remembered to drop replays. Default 10,000.
    pub replay_cache: usize,
    /// Whether a push sends a chunk's updates and deletes of linked records in batches
    /// (default `true`).
    ///
    /// Twenty has no batch PATCH, but its batch upsert (`POST /rest/batch/{plural}?upsert=true`)
    /// matches a body that carries an `id` to that record and writes only the fields the body
    /// carries, as a PATCH does: a chunk's updates then take one request per
    /// [`batch_size`](Self::batch_size) instead of one each. Under Twenty's limit of 100
    /// requests a minute, that is up to 100 × `batch_size` updated records a minute instead of
    /// 100. A single update, an adoption, and an update that gives a match key another value
    /// (the upsert could match another record by it) still go by PATCH.
    ///
    /// A batch Twenty rejects (creates and upserts too, which always go in batches) is sent
    /// again as its two halves, and the rejected half of those as its halves, to isolate the
    /// records Twenty refuses: one bad record among 60 costs about a dozen requests, not 60.
    /// Where both halves of a batch are rejected, their records go one at a time (records
    /// refused that densely cost fewer requests so), and each failure names its record.
    ///
    /// What differs from a PATCH: an upsert revives a soft-deleted record. The push reads the
    /// current version of every linked record first and fails (instead of updating) one that is
    /// gone, so only a record deleted in Twenty in the moments between that read and the batch is
    /// revived: an update-wins outcome where a PATCH would have failed.
    ///
    /// Deletes go in batches too: one `DELETE /rest/{plural}?filter=id[in]:[…]` (with
    /// `soft_delete=true` for [`PushDeleteMode::SoftDelete`]) per 100 (Twenty's default cap on
    /// the rows one filter mutation touches) or per `batch_size` if smaller. A record a soft
    /// delete's answer leaves out is no longer live in Twenty, as a 404 to a single delete says;
    /// one a destroy leaves out may be in Twenty's trash, out of the filter's reach, and is
    /// destroyed by id. A rejected delete batch is halved down to batches of 2-3 whatever its
    /// other half did, since a Twenty with a lower cap rejects a batch for its size alone.
    ///
    /// `false` sends every update and delete on its own.
    pub batch_writes: bool,
    /// How many batch requests a push sends at once when it starts, 1..=[`MAX_PUSH_IN_FLIGHT`]
    /// (default 1); the push raises it up to [`push_in_flight_max`](Self::push_in_flight_max)
    /// while the rate limit is not what holds it.
    ///
    /// [`MAX_PUSH_IN_FLIGHT`]: crate::engine::MAX_PUSH_IN_FLIGHT
    ///
    /// A push reads, decides and commits its local changes a chunk at a time, and a chunk's
    /// writes wait for Twenty's answers. With one batch per chunk, a Twenty that takes longer to
    /// answer a batch than the rate limit leaves between two requests (600 ms under its default
    /// of 100 a minute) holds the push below the limit: `benches/RESULTS.md` measured 77% of the
    /// budget used at 100 ms of latency against 140 ms allowed, and 50% at 200 ms. With `n` in
    /// flight, a chunk holds `n` × [`batch_size`](Self::batch_size) changes and sends its
    /// batches (and its lookups) `n` at a time, still paced by the client's rate limit; one
    /// state commit follows, as before, so a crash resolves the same way. What it costs: `n`
    /// times the memory of a chunk, and with a limit discovered from 429s, up to `n` requests
    /// meet the same 429.
    pub push_in_flight: usize,
    /// The most batch requests a push may send at once, [`push_in_flight`](Self::push_in_flight)
    /// ..=[`MAX_PUSH_IN_FLIGHT`] (default [`MAX_PUSH_IN_FLIGHT`]); equal to `push_in_flight`,
    /// the number is fixed.
    ///
    /// [`MAX_PUSH_IN_FLIGHT`]: crate::engine::MAX_PUSH_IN_FLIGHT
    ///
    /// Under a known rate limit (configured on the client, as by default, or learned from a
    /// 429), after each chunk the push looks at its pace since it started or last raised the
    /// number. At least four requests that waited on the limit for under a tenth of the time
    /// mean the limit is not what holds the push back, and its budget goes unused: the burst of
    /// a full bucket, or, when Twenty takes longer to answer a batch than the limit's interval,
    /// the steady rate too. The push then doubles the number, or raises it to as many batches as
    /// one takes intervals of the limit, plus one, whichever is more, up to this most. It never
    /// lowers the number during a push (the rate limiter keeps the pace within the limit
    /// whatever the number), and each push starts again from `push_in_flight`. Without a known
    /// limit (a client built with `no_rate_limit()`, before its first 429) nothing says how much
    /// more Twenty allows, and the number goes no higher than 2: the first 429 meets two batches
    /// at most, and teaches the client the limit.
    ///
    /// A push still held back at its most says so in its report
    /// ([`RunReport::warnings`](crate::RunReport::warnings)), with about how many in flight
    /// would keep up.
    pub push_in_flight_max: usize,
    /// Whether audit entries record the before/after values of changed (non-secret) fields.
    /// Default [`AuditValues::Off`]: field names and hashes only.
    pub audit_values: AuditValues,
    /// How pushes match and write new local records. Default [`MatchStrategy::Auto`].
    pub match_strategy: MatchStrategy,
    /// Per-entity overrides of `match_strategy`, by entity name.
    pub entity_match_strategy: BTreeMap<String, MatchStrategy>,
}

impl EngineConfig {
    /// The strategy configured for `entity` (its override, else `match_strategy`), not yet
    /// resolved (see [`MatchStrategy::resolve`]).
    ///
    /// ```
    /// use twenty_sync_core::engine::{EngineConfig, MatchStrategy};
    ///
    /// let mut config = EngineConfig::default();
    /// config.entity_match_strategy.insert("deals".into(), MatchStrategy::Lookup);
    /// assert_eq!(config.match_strategy_for("deals"), MatchStrategy::Lookup);
    /// assert_eq!(config.match_strategy_for("contacts"), MatchStrategy::Auto);
    /// ```
    pub fn match_strategy_for(&self, entity: &str) -> MatchStrategy {
        self.entity_match_strategy
            .get(entity)
            .copied()
            .unwrap_or(self.match_strategy)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 100,
            pull_commit_records: 2000,
            overlap: Duration::from_secs(300),
            push_delete: PushDeleteMode::default(),
            pull_delete: PullDeleteMode::default(),
            lease_ttl: Duration::from_secs(600),
            holder_id: format!("engine-{}", uuid::Uuid::new_v4()),
            trigger: TriggerMode::default(),
            webhook_mode: crate::RunMode::Pull,
            webhook_max_age: Duration::from_secs(300),
            replay_cache: 10_000,
            batch_writes: true,
            push_in_flight: 1,
            push_in_flight_max: crate::engine::MAX_PUSH_IN_FLIGHT,
            audit_values: AuditValues::Off,
            match_strategy: MatchStrategy::default(),
            entity_match_strategy: BTreeMap::new(),
        }
    }
}

/// Options of one run.
///
/// ```
/// use twenty_sync_core::engine::RunOptions;
/// let opts = RunOptions::new().dry_run(true).entity("contacts");
/// assert!(opts.is_dry_run());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) dry_run: bool,
    pub(crate) entities: Option<Vec<String>>,
    pub(crate) keep_plan: bool,
}

impl RunOptions {
    /// A real run over every entity.
    ///
    /// ```
    /// use twenty_sync_core::engine::RunOptions;
    ///
    /// // Real writes, every entity, only the plan's counts kept.
    /// let opts = RunOptions::new();
    /// assert!(!opts.is_dry_run());
    /// assert!(!opts.keeps_plan());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Compute the plan only: nothing is written to Twenty, to the source, or to the state
    /// (except the run record, marked `dry_run`).
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
    /// let report = engine.pull(RunOptions::new().dry_run(true)).await?;
    /// assert_eq!(report.entities["contacts:pull"].created, 3); // what a real pull would do
    /// assert!(source.records("contacts").is_empty()); // nothing was written
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Restricts the run to this entity (call again to add more).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(FieldMap::new("contacts", "people", "person")))
    ///     .build()?;
    /// // Only configured entities can be selected.
    /// let err = engine.pull(RunOptions::new().entity("contacts").entity("deals")).await.unwrap_err();
    /// assert_eq!(err.kind(), SyncErrorKind::Config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn entity(mut self, name: impl Into<String>) -> Self {
        self.entities.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Keep every [`PlannedWrite`](super::PlannedWrite) of a real run in
    /// [`RunOutcome::plan`](super::RunOutcome::plan). Off by default: a real run keeps only the
    /// plan's counts, so its memory does not grow with the number of records it writes. A dry
    /// run always keeps its writes (they are its result).
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
    /// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// let out = engine.run(RunMode::Pull, RunOptions::new().keep_plan(true)).await?;
    /// assert_eq!(out.plan.writes.len(), 3);
    /// assert!(out.plan.writes.iter().all(|w| w.action == PlannedAction::Create));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn keep_plan(mut self, keep: bool) -> Self {
        self.keep_plan = keep;
        self
    }

    /// Whether the run keeps every planned write (always true for a dry run).
    ///
    /// ```
    /// use twenty_sync_core::engine::RunOptions;
    ///
    /// assert!(!RunOptions::new().keeps_plan());
    /// assert!(RunOptions::new().keep_plan(true).keeps_plan());
    /// assert!(RunOptions::new().dry_run(true).keeps_plan()); // a dry run's plan is its result
    /// ```
    pub fn keeps_plan(&self) -> bool {
        self.keep_plan || self.dry_run
    }

    /// Whether this is a dry run.
    ///
    /// ```
    /// use twenty_sync_core::engine::RunOptions;
    ///
    /// let preview = RunOptions::new().dry_run(true);
    /// assert!(preview.is_dry_run());
    /// assert!(!preview.dry_run(false).is_dry_run());
    /// ```
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}
