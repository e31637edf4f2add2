//! `assistant`: CRM operations for an AI assistant, with guard rails.
//!
//! - `search`, `create`, `update` on people, companies, opportunities and tasks;
//! - `follow-ups`: open tasks due in the next N days;
//! - `context`: a minimal context bundle for one record: only the fields of a per-object
//!   allowlist (config file), related records (company, open tasks, opportunities), each with
//!   its provenance (object, id, `updatedAt`);
//! - writes are **dry runs by default** (`--execute` to write); every executed write, and every
//!   failed one, is appended to the audit log (a twenty-sync-core [`StateStore`], here a
//!   [`FileStore`] directory), queried with `audit`.
//!
//! Writes are limited to the allowlisted fields of the object: the assistant cannot touch what
//! it cannot see. Every field path of a write body is checked, empty values (`null`, `""`, `[]`,
//! `{}`) included, and the body sent is the one checked. Searches only look at allowlisted
//! fields, and take `%` and `_` literally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use twenty_client::{Client, Filter, OrderBy, Record};
use twenty_sync_core::engine::{content_hash, field_diff, get_path, set_path};
use twenty_sync_core::file::FileStore;
use twenty_sync_core::{
    AuditAction, AuditEntry, AuditOutcome, AuditQuery, StateCommit, StateStore, SyncDirection,
};

use super::common::{AppError, AppResult, Context, TwentyArgs};

/// Objects the assistant works on.
pub const OBJECTS: [&str; 4] = ["people", "companies", "opportunities", "tasks"];

/// The assistant's configuration file (TOML).
///
/// ```
/// let config: examples::apps::assistant::AssistantConfig = toml::from_str(r#"
///     audit_dir = "assistant-audit"
///     [allowlist]
///     people = ["name", "emails.primaryEmail", "jobTitle"]
/// "#).unwrap();
/// assert_eq!(config.allowlist["people"].len(), 3);
/// assert_eq!(config.follow_up_days, 7);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantConfig {
    /// Directory of the audit log (a [`FileStore`]); relative paths are relative to the config
    /// file.
    pub audit_dir: PathBuf,
    /// Default horizon of `follow-ups`, in days.
    #[serde(default = "default_days")]
    pub follow_up_days: u32,
    /// Most related records of each kind put in a context bundle.
    #[serde(default = "default_related")]
    pub related_limit: u32,
    /// Per object (plural name): the fields (dotted paths; `name` covers `name.firstName`) that
    /// may be read into a bundle and written. Objects not listed are refused.
    pub allowlist: BTreeMap<String, Vec<String>>,
}

fn default_days() -> u32 {
    7
}
fn default_related() -> u32 {
    5
}

impl AssistantConfig {
    /// Reads the config file; relative `audit_dir` is resolved against the file's directory.
    pub fn load(path: &Path) -> AppResult<Self> {
        let text = std::fs::read_to_string(path)
            .context(format!("reading the assistant config {}", path.display()))?;
        let mut config: AssistantConfig = toml::from_str(&text)
            .context(format!("parsing the assistant config {}", path.display()))?;
        if config.audit_dir.is_relative() {
            if let Some(dir) = path.parent() {
                config.audit_dir = dir.join(&config.audit_dir);
            }
        }
        for object in config.allowlist.keys() {
            if !OBJECTS.contains(&object.as_str()) {
                return Err(AppError::msg(format!(
                    "{}: [allowlist] names `{object}`; expected one of {}",
                    path.display(),
                    OBJECTS.join(", ")
                )));
            }
        }
        Ok(config)
    }

    fn fields(&self, object: &str) -> AppResult<&[String]> {
        self.allowlist
            .get(object)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                AppError::msg(format!(
                    "object `{object}` has no [allowlist] entry in the assistant config: the \
                     assistant only reads and writes allowlisted objects ({})",
                    self.allowlist
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// Whether `path` is covered by an allowlist entry (the entry itself or a parent of it).
///
/// ```
/// use examples::apps::assistant::allowed;
/// let list = vec!["name".to_string(), "emails.primaryEmail".to_string()];
/// assert!(allowed(&list, "name.firstName"));
/// assert!(allowed(&list, "emails.primaryEmail"));
/// assert!(!allowed(&list, "emails.additionalEmails"));
/// assert!(!allowed(&list, "namesake"));
/// ```
pub fn allowed(list: &[String], path: &str) -> bool {
    list.iter().any(|entry| {
        path == entry
            || path
                .strip_prefix(entry.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Keeps only the allowlisted fields of a record (with their nested structure).
pub fn project(record: &Value, list: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for entry in list {
        if let Some(v) = get_path(record, entry) {
            set_path(&mut out, entry, v.clone());
        }
    }
    out
}

/// Where a value in a bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Plural object name.
    pub object: String,
    /// Twenty record id.
    pub id: String,
    /// The record's `updatedAt` when it was read.
    #[serde(rename = "updatedAt")]
    pub updated_at: Option<String>,
}

/// One record in a bundle: its allowlisted fields and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleItem {
    /// Where it comes from.
    pub source: Provenance,
    /// The allowlisted fields only.
    pub fields: Value,
}

/// The context bundle of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextBundle {
    /// The record itself.
    pub record: BundleItem,
    /// Related records by relation name (`company`, `openTasks`, `opportunities`).
    pub related: BTreeMap<String, Vec<BundleItem>>,
    /// When the bundle was built.
    pub built_at: DateTime<Utc>,
}

/// A planned or executed write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// `create` or `update`.
    pub action: String,
    /// Plural object name.
    pub object: String,
    /// The record id (known before the write for updates; for creates after execution).
    pub id: Option<String>,
    /// Fields that change (dotted paths).
    pub changed_fields: Vec<String>,
    /// The body sent (or that would be sent).
    pub body: Value,
    /// Whether it was executed (false: dry run).
    pub executed: bool,
}

/// The assistant's subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Find records whose allowlisted name fields (people: first or last name, primary email;
    /// tasks: title; others: name) contain the text, taken literally.
    Search {
        /// people | companies | opportunities | tasks
        object: String,
        /// Text to look for (case-insensitive).
        query: String,
        /// Most results.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Create a record (dry run unless --execute).
    Create {
        /// people | companies | opportunities | tasks
        object: String,
        /// Field values, `path=value` (value parsed as JSON when it is, e.g. `amount.amountMicros=5000000`).
        #[arg(long = "set", value_name = "PATH=VALUE", required = true)]
        set: Vec<String>,
        /// For tasks: link the new task to this person id.
        #[arg(long, value_name = "PERSON_ID")]
        link_person: Option<String>,
        /// Write to Twenty (default: print what would be written).
        #[arg(long)]
        execute: bool,
    },
    /// Update fields of a record (dry run unless --execute).
    Update {
        /// people | companies | opportunities | tasks
        object: String,
        /// Record id.
        id: String,
        /// Field values, `path=value`.
        #[arg(long = "set", value_name = "PATH=VALUE", required = true)]
        set: Vec<String>,
        /// Write to Twenty (default: print what would be written).
        #[arg(long)]
        execute: bool,
    },
    /// Open tasks due in the next N days (and overdue ones), soonest first.
    FollowUps {
        /// Horizon in days (default from the config).
        #[arg(long)]
        days: Option<u32>,
    },
    /// The minimal context bundle of one record (allowlisted fields, related records, provenance).
    Context {
        /// people | companies | opportunities | tasks
        object: String,
        /// Record id.
        id: String,
    },
    /// Query the audit log of executed writes.
    Audit {
        /// Only entries of this record id.
        #[arg(long)]
        id: Option<String>,
        /// Only entries of this object.
        #[arg(long)]
        object: Option<String>,
        /// At most this many (newest).
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Command line of the `assistant` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "assistant",
    about = "CRM operations for an AI assistant: search, create, update, follow-ups, context bundles; dry run by default, every write audited"
)]
pub struct Cli {
    /// How to reach Twenty.
    #[command(flatten)]
    pub twenty: TwentyArgs,
    /// The assistant config (allowlist, audit directory).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/assistant/assistant.toml"))]
    pub config: PathBuf,
    /// Override the audit log directory of the config.
    #[arg(long)]
    pub audit_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The assistant over one client, config and audit store.
#[derive(Debug)]
pub struct Assistant {
    client: Client,
    config: AssistantConfig,
    audit: FileStore,
}

fn check_object(object: &str) -> AppResult<()> {
    if OBJECTS.contains(&object) {
        Ok(())
    } else {
        Err(AppError::msg(format!(
            "unknown object `{object}`; expected one of {}",
            OBJECTS.join(", ")
        )))
    }
}

/// Parses `path=value` assignments into a nested JSON body; values that parse as JSON are used
/// as such, anything else is a string.
///
/// ```
/// use examples::apps::assistant::parse_assignments;
/// let body = parse_assignments(&["name.firstName=Ada".into(), "employees=12".into()]).unwrap();
/// assert_eq!(body, serde_json::json!({"name": {"firstName": "Ada"}, "employees": 12}));
/// assert!(parse_assignments(&["novalue".into()]).is_err());
/// ```
pub fn parse_assignments(set: &[String]) -> AppResult<Value> {
    let mut body = Value::Object(Map::new());
    for s in set {
        let (path, raw) = s.split_once('=').ok_or_else(|| {
            AppError::msg(format!(
                "`--set {s}`: expected PATH=VALUE, e.g. --set jobTitle=CTO"
            ))
        })?;
        let path = path.trim();
        if path.is_empty() {
            return Err(AppError::msg(format!(
                "`--set {s}`: the field path is empty"
            )));
        }
        let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| json!(raw));
        set_path(&mut body, path, value);
    }
    Ok(body)
}

/// Every field path a write body assigns, sorted: one per leaf (a scalar, an array, `null` or an
/// empty object), so empty values count as much as others. Refuses what the allowlist could not
/// check unambiguously: a body that is not an object, or a field name that is empty or has a `.`.
///
/// ```
/// use examples::apps::assistant::assigned_paths;
/// use serde_json::json;
/// let body = json!({"jobTitle": "CTO", "emails": {"additionalEmails": []}, "city": null, "links": {}});
/// assert_eq!(
///     assigned_paths(&body).unwrap(),
///     ["city", "emails.additionalEmails", "jobTitle", "links"]
/// );
/// assert!(assigned_paths(&json!({"name.firstName": "Ada"})).is_err());
/// assert!(assigned_paths(&json!(["jobTitle"])).is_err());
/// ```
pub fn assigned_paths(body: &Value) -> AppResult<Vec<String>> {
    let Value::Object(fields) = body else {
        return Err(AppError::msg(format!(
            "a write body must be a JSON object of fields, not {}; e.g. {{\"jobTitle\": \"CTO\"}}",
            json_kind(body)
        )));
    };
    let mut paths = Vec::new();
    collect_assigned_paths(fields, "", &mut paths)?;
    paths.sort();
    Ok(paths)
}

fn collect_assigned_paths(
    fields: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<String>,
) -> AppResult<()> {
    for (name, value) in fields {
        let path = child_path(prefix, name)?;
        match value {
            Value::Object(sub) if !sub.is_empty() => collect_assigned_paths(sub, &path, out)?,
            _ => out.push(path),
        }
    }
    Ok(())
}

fn child_path(prefix: &str, name: &str) -> AppResult<String> {
    if name.is_empty() || name.contains('.') {
        let place = if prefix.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("under `{prefix}`")
        };
        return Err(AppError::msg(format!(
            "the write body has a field named {name:?} {place}: field names must be non-empty \
             and without `.`; write nested fields as nested objects (or --set parent.child=value)"
        )));
    }
    Ok(if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A write body every field path of which is allowlisted. Only [`Assistant::check_writable`]
/// makes one and writes send its `body` as is, so what is sent is exactly what was checked.
#[derive(Debug)]
struct CheckedBody {
    /// The body to send.
    body: Value,
    /// Every field path it assigns ([`assigned_paths`]).
    paths: Vec<String>,
}

impl CheckedBody {
    /// `record` with every assigned path set to the body's value (empty values included).
    fn applied_to(&self, record: &Value) -> Value {
        let mut after = record.clone();
        for path in &self.paths {
            if let Some(v) = get_path(&self.body, path) {
                set_path(&mut after, path, v.clone());
            }
        }
        after
    }
}

/// Most pages of candidates a search reads while looking for `limit` literal matches.
pub const MAX_SEARCH_PAGES: usize = 10;

/// The fields a search of `object` looks at: its name fields (people: first name, last name,
/// primary email; tasks: title; others: name) that the allowlist `list` lets the assistant read.
///
/// ```
/// use examples::apps::assistant::search_fields;
/// let list = vec!["name".to_string(), "jobTitle".to_string()];
/// assert_eq!(search_fields("people", &list).unwrap(), ["name.firstName", "name.lastName"]);
/// assert!(search_fields("tasks", &["status".to_string()]).is_err());
/// ```
pub fn search_fields(object: &str, list: &[String]) -> AppResult<Vec<&'static str>> {
    let candidates: &[&'static str] = match object {
        "people" => &["name.firstName", "name.lastName", "emails.primaryEmail"],
        "tasks" => &["title"],
        _ => &["name"],
    };
    let readable: Vec<&'static str> = candidates
        .iter()
        .copied()
        .filter(|field| allowed(list, field))
        .collect();
    if readable.is_empty() {
        Err(AppError::msg(format!(
            "cannot search {object}: the assistant only searches fields it may read, and none of \
             {} is in its [allowlist] entry ({}); add one to the assistant config",
            candidates.join(", "),
            list.join(", ")
        )))
    } else {
        Ok(readable)
    }
}

/// The `ilike` pattern sent to Twenty for `query`: a superset of the literal matches. `%` and
/// `_` of the query become `_` (any one character, which still matches them), as do the
/// characters Twenty's filter syntax cannot carry ([`Filter::like_pattern`]); the records that
/// come back are then checked with [`contains_literally`].
///
/// ```
/// use examples::apps::assistant::search_pattern;
/// assert_eq!(search_pattern("100%_o'k"), "%100__o_k%");
/// ```
pub fn search_pattern(query: &str) -> String {
    format!("%{}%", Filter::like_pattern(query).replace('%', "_"))
}

/// Whether one of `fields` of `record` contains `query` (case-insensitive, every character
/// literal).
///
/// ```
/// use examples::apps::assistant::contains_literally;
/// let r = serde_json::json!({"name": {"firstName": "Annabeth"}});
/// assert!(contains_literally(&r, &["name.firstName"], "NNAB"));
/// assert!(!contains_literally(&r, &["name.firstName"], "an%th"));
/// ```
pub fn contains_literally(record: &Value, fields: &[&str], query: &str) -> bool {
    let needle = query.to_lowercase();
    fields.iter().any(|field| {
        get_path(record, field)
            .and_then(Value::as_str)
            .is_some_and(|text| text.to_lowercase().contains(&needle))
    })
}

fn any_field_like(fields: &[&str], pattern: &str) -> Filter {
    let mut filters: Vec<Filter> = fields
        .iter()
        .map(|field| Filter::field(*field).ilike(pattern))
        .collect();
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        Filter::or(filters)
    }
}

fn provenance(object: &str, r: &Value) -> Provenance {
    Provenance {
        object: object.to_owned(),
        id: r["id"].as_str().unwrap_or_default().to_owned(),
        updated_at: r["updatedAt"].as_str().map(str::to_owned),
    }
}

impl Assistant {
    /// An assistant over `client` with `config`; opens (creates) the audit store.
    pub fn new(client: Client, config: AssistantConfig) -> AppResult<Self> {
        let audit = FileStore::open(&config.audit_dir).context(format!(
            "opening the audit log in {}",
            config.audit_dir.display()
        ))?;
        Ok(Assistant {
            client,
            config,
            audit,
        })
    }

    /// The audit store.
    pub fn audit_store(&self) -> &FileStore {
        &self.audit
    }

    fn item(&self, object: &str, r: &Value) -> AppResult<BundleItem> {
        Ok(BundleItem {
            source: provenance(object, r),
            fields: project(r, self.config.fields(object)?),
        })
    }

    /// Records, most recently updated first, whose searchable fields ([`search_fields`]: only
    /// allowlisted ones) contain `query`, case-insensitively and literally (`%` and `_` are not
    /// wildcards), projected to the allowlist. Reads at most [`MAX_SEARCH_PAGES`] pages of
    /// candidates.
    pub async fn search(
        &self,
        object: &str,
        query: &str,
        limit: u32,
    ) -> AppResult<Vec<BundleItem>> {
        check_object(object)?;
        let fields = search_fields(object, self.config.fields(object)?)?;
        let query = query.trim();
        let wanted = limit.clamp(1, 200);
        let candidates = self
            .client
            .records(object)
            .list()
            .filter(any_field_like(&fields, &search_pattern(query)))
            .order_by(OrderBy::desc("updatedAt"))
            .limit(wanted)
            .pages();
        let mut candidates = Box::pin(candidates.take(MAX_SEARCH_PAGES));
        let mut found = Vec::new();
        while let Some(page) = candidates
            .try_next()
            .await
            .context(format!("searching {object} for {query:?}"))?
        {
            for record in page.records {
                let record = record.into_value();
                if found.len() < wanted as usize && contains_literally(&record, &fields, query) {
                    found.push(self.item(object, &record)?);
                }
            }
            if found.len() >= wanted as usize {
                break;
            }
        }
        Ok(found)
    }

    /// `body` checked against the allowlist of `object`: every field path it assigns
    /// ([`assigned_paths`], empty values included) must be allowlisted.
    fn check_writable(&self, object: &str, body: Value) -> AppResult<CheckedBody> {
        let list = self.config.fields(object)?;
        let paths = assigned_paths(&body)?;
        let refused: Vec<&str> = paths
            .iter()
            .map(String::as_str)
            .filter(|p| !allowed(list, p))
            .collect();
        if refused.is_empty() {
            Ok(CheckedBody { body, paths })
        } else {
            Err(AppError::msg(format!(
                "refusing to write {object} field(s) {}: not in the allowlist of the assistant \
                 config ({}); empty values count too. Remove them from the write, or add them \
                 to [allowlist] {object}",
                refused.join(", "),
                list.join(", ")
            )))
        }
    }

    async fn record_audit(
        &self,
        object: &str,
        action: AuditAction,
        id: Option<&str>,
        changed: Vec<String>,
        hashes: (Option<String>, Option<String>),
        outcome: AuditOutcome,
    ) -> AppResult<()> {
        let mut commit = StateCommit::new(object);
        commit.audit.push(AuditEntry {
            run_id: format!("assistant-{}", uuid::Uuid::new_v4()),
            at: Utc::now(),
            entity: object.to_owned(),
            direction: SyncDirection::Push,
            local_key: None,
            twenty_id: id.map(str::to_owned),
            action,
            changed_fields: changed,
            before_hash: hashes.0,
            after_hash: hashes.1,
            outcome,
            detail: Some("assistant".into()),
        });
        self.audit
            .commit(&commit)
            .await
            .context("appending to the audit log")
    }

    /// Creates a record (only when `execute`), optionally linking a task to a person. Every field
    /// path of `body` must be allowlisted, empty values included; `changed_fields` lists them
    /// all.
    pub async fn create(
        &self,
        object: &str,
        body: Value,
        link_person: Option<&str>,
        execute: bool,
    ) -> AppResult<WriteOutcome> {
        check_object(object)?;
        let checked = self.check_writable(object, body)?;
        if link_person.is_some() && object != "tasks" {
            return Err(AppError::msg("--link-person only applies to tasks"));
        }
        let mut outcome = WriteOutcome {
            action: "create".into(),
            object: object.to_owned(),
            id: None,
            changed_fields: checked.paths.clone(),
            body: checked.body.clone(),
            executed: false,
        };
        if !execute {
            return Ok(outcome);
        }
        let body = checked.body;
        let record: Record = serde_json::from_value(body.clone())
            .context("the create body must be a JSON object")?;
        let created = self.client.records(object).create(&record).send().await;
        let created = match created {
            Ok(r) => r,
            Err(e) => {
                self.record_audit(
                    object,
                    AuditAction::Create,
                    None,
                    outcome.changed_fields.clone(),
                    (None, None),
                    AuditOutcome::Failed(e.to_string()),
                )
                .await?;
                return Err(e).context(format!("creating a record in {object}"));
            }
        };
        let id = created.id().unwrap_or_default().to_owned();
        self.record_audit(
            object,
            AuditAction::Create,
            Some(&id),
            outcome.changed_fields.clone(),
            (None, Some(content_hash(&body))),
            AuditOutcome::Applied,
        )
        .await?;
        if let Some(person) = link_person {
            let field = task_target_person_field(&self.client).await?;
            let mut link = Record::new();
            link.set("taskId", json!(id));
            link.set(field.clone(), json!(person));
            let linked = self
                .client
                .records("taskTargets")
                .create(&link)
                .send()
                .await
                .context(format!("linking task {id} to person {person}"))?;
            self.record_audit(
                "taskTargets",
                AuditAction::Create,
                linked.id(),
                vec!["taskId".into(), field],
                (None, None),
                AuditOutcome::Applied,
            )
            .await?;
        }
        outcome.id = Some(id);
        outcome.executed = true;
        Ok(outcome)
    }

    /// Updates fields of a record (only when `execute`). Every field path of `body` must be
    /// allowlisted, empty values included (`null` or `""` clears an allowlisted field).
    /// `changed_fields` lists the fields whose value changes; nothing is sent when none does,
    /// otherwise `body` is sent as checked.
    pub async fn update(
        &self,
        object: &str,
        id: &str,
        body: Value,
        execute: bool,
    ) -> AppResult<WriteOutcome> {
        check_object(object)?;
        let checked = self.check_writable(object, body)?;
        let current = self
            .client
            .records(object)
            .get(id)
            .send()
            .await
            .context(format!("reading {object} {id}"))?
            .into_value();
        let after = checked.applied_to(&current);
        let changed = field_diff(&current, &after);
        let mut outcome = WriteOutcome {
            action: "update".into(),
            object: object.to_owned(),
            id: Some(id.to_owned()),
            changed_fields: changed.clone(),
            body: checked.body.clone(),
            executed: false,
        };
        if !execute || changed.is_empty() {
            return Ok(outcome);
        }
        let list = self.config.fields(object)?;
        let hashes = (
            Some(content_hash(&project(&current, list))),
            Some(content_hash(&project(&after, list))),
        );
        match self
            .client
            .records(object)
            .update(id, checked.body)
            .send()
            .await
        {
            Ok(_) => {
                self.record_audit(
                    object,
                    AuditAction::Update,
                    Some(id),
                    changed,
                    hashes,
                    AuditOutcome::Applied,
                )
                .await?;
                outcome.executed = true;
                Ok(outcome)
            }
            Err(e) => {
                self.record_audit(
                    object,
                    AuditAction::Update,
                    Some(id),
                    changed,
                    hashes,
                    AuditOutcome::Failed(e.to_string()),
                )
                .await?;
                Err(e).context(format!("updating {object} {id}"))
            }
        }
    }

    /// Tasks not done whose due time is before now + `days`, soonest first (overdue included).
    pub async fn follow_ups(&self, days: u32) -> AppResult<Vec<BundleItem>> {
        let until = Utc::now() + ChronoDuration::days(i64::from(days));
        let tasks: Vec<Record> = self
            .client
            .records("tasks")
            .list()
            .filter(Filter::and([
                Filter::field("dueAt").lte(until),
                Filter::field("status").neq("DONE"),
            ]))
            .order_by(OrderBy::asc("dueAt"))
            .stream()
            .try_collect()
            .await
            .context("listing tasks due soon")?;
        tasks
            .into_iter()
            .map(|t| self.item("tasks", &t.into_value()))
            .collect()
    }

    /// The context bundle of one record.
    pub async fn context(&self, object: &str, id: &str) -> AppResult<ContextBundle> {
        check_object(object)?;
        let record = self
            .client
            .records(object)
            .get(id)
            .send()
            .await
            .context(format!("reading {object} {id}"))?
            .into_value();
        let limit = self.config.related_limit.clamp(1, 200);
        let mut related: BTreeMap<String, Vec<BundleItem>> = BTreeMap::new();
        if object == "people" || object == "opportunities" {
            if let (Some(cid), true) = (
                record["companyId"].as_str(),
                self.config.allowlist.contains_key("companies"),
            ) {
                let company = self
                    .client
                    .records("companies")
                    .get(cid)
                    .send()
                    .await
                    .context(format!("reading company {cid}"))?
                    .into_value();
                related.insert("company".into(), vec![self.item("companies", &company)?]);
            }
        }
        if object == "people" && self.config.allowlist.contains_key("opportunities") {
            let opps = self
                .client
                .records("opportunities")
                .list()
                .filter(Filter::field("pointOfContactId").eq(id))
                .order_by(OrderBy::desc("updatedAt"))
                .limit(limit)
                .send()
                .await
                .context(format!("listing opportunities of person {id}"))?;
            let items = opps
                .records
                .into_iter()
                .map(|r| self.item("opportunities", &r.into_value()))
                .collect::<AppResult<Vec<_>>>()?;
            if !items.is_empty() {
                related.insert("opportunities".into(), items);
            }
        }
        if object != "tasks" && self.config.allowlist.contains_key("tasks") {
            let target_field = match object {
                "people" => task_target_person_field(&self.client).await?,
                "companies" => task_target_field(&self.client, "Company").await?,
                _ => task_target_field(&self.client, "Opportunity").await?,
            };
            let links = self
                .client
                .records("taskTargets")
                .list()
                .filter(Filter::field(target_field.as_str()).eq(id))
                .limit(200)
                .send()
                .await
                .context(format!("listing the tasks linked to {object} {id}"))?;
            let ids: Vec<String> = links
                .records
                .iter()
                .filter_map(|l| l.get("taskId").and_then(Value::as_str).map(str::to_owned))
                .collect();
            if !ids.is_empty() {
                let tasks = self
                    .client
                    .records("tasks")
                    .list()
                    .filter(Filter::and([
                        Filter::field("id").in_(ids.iter().map(String::as_str)),
                        Filter::field("status").neq("DONE"),
                    ]))
                    .order_by(OrderBy::asc("dueAt"))
                    .limit(limit)
                    .send()
                    .await
                    .context(format!("reading the open tasks of {object} {id}"))?;
                let items = tasks
                    .records
                    .into_iter()
                    .map(|r| self.item("tasks", &r.into_value()))
                    .collect::<AppResult<Vec<_>>>()?;
                if !items.is_empty() {
                    related.insert("openTasks".into(), items);
                }
            }
        }
        Ok(ContextBundle {
            record: self.item(object, &record)?,
            related,
            built_at: Utc::now(),
        })
    }

    /// Audit entries of executed writes.
    pub async fn audit(
        &self,
        id: Option<String>,
        object: Option<String>,
        limit: Option<usize>,
    ) -> AppResult<Vec<AuditEntry>> {
        self.audit
            .audit(&AuditQuery {
                key: id,
                entity: object,
                limit,
                ..Default::default()
            })
            .await
            .context("reading the audit log")
    }
}

/// The join column linking a task target to a person: `targetPersonId` (Twenty 2.x, morph
/// relations) or `personId` (older servers), read from the workspace's metadata.
pub async fn task_target_person_field(client: &Client) -> AppResult<String> {
    task_target_field(client, "Person").await
}

/// The join column of a task target to `Person`, `Company` or `Opportunity`.
pub async fn task_target_field(client: &Client, target: &str) -> AppResult<String> {
    let object = client
        .metadata()
        .object("taskTargets")
        .await
        .context("reading the taskTargets object from the metadata API")?;
    let morph = format!("target{target}");
    let plain = {
        let mut c = target.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect::<String>(),
            None => String::new(),
        }
    };
    if object.field(&morph).is_some() {
        Ok(format!("{morph}Id"))
    } else if object.field(&plain).is_some() || object.field(&format!("{plain}Id")).is_some() {
        Ok(format!("{plain}Id"))
    } else {
        Err(AppError::msg(format!(
            "taskTargets has neither `{morph}` nor `{plain}`: cannot link tasks to a {target} on \
             this server"
        )))
    }
}

/// Runs one command and returns what to print (JSON).
pub async fn run(cli: &Cli, client: Client) -> AppResult<Value> {
    let mut config = AssistantConfig::load(&cli.config)?;
    if let Some(dir) = &cli.audit_dir {
        config.audit_dir = dir.clone();
    }
    let days_default = config.follow_up_days;
    let a = Assistant::new(client, config)?;
    let out = match &cli.command {
        Command::Search {
            object,
            query,
            limit,
        } => serde_json::to_value(a.search(object, query, *limit).await?),
        Command::Create {
            object,
            set,
            link_person,
            execute,
        } => serde_json::to_value(
            a.create(
                object,
                parse_assignments(set)?,
                link_person.as_deref(),
                *execute,
            )
            .await?,
        ),
        Command::Update {
            object,
            id,
            set,
            execute,
        } => serde_json::to_value(
            a.update(object, id, parse_assignments(set)?, *execute)
                .await?,
        ),
        Command::FollowUps { days } => {
            serde_json::to_value(a.follow_ups(days.unwrap_or(days_default)).await?)
        }
        Command::Context { object, id } => serde_json::to_value(a.context(object, id).await?),
        Command::Audit { id, object, limit } => {
            serde_json::to_value(a.audit(id.clone(), object.clone(), *limit).await?)
        }
    }
    .context("encoding the result as JSON")?;
    Ok(out)
}
