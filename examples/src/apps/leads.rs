//! `lead-import`: a CSV of leads into Twenty people, without duplicates, with outreach actions
//! as tasks; and `export` back to CSV.
//!
//! - **Validation per row**: a row that cannot be imported (no name, neither email nor LinkedIn
//!   URL, an invalid email or phone, an unknown stage, an outreach action with an unknown status
//!   or an unreadable time) is reported with its line number and the reason, and the run goes on.
//! - **De-duplication**: rows sharing an email (case-insensitive) *or* a LinkedIn profile
//!   (`linkedin.com/in/<slug>`, whatever the scheme, host, case, trailing slash or query) are one
//!   lead (first non-empty value wins, tags are merged, every row's outreach action is kept).
//!   Leads are matched against Twenty by email and by LinkedIn URL: a match is adopted (empty
//!   fields filled, tags merged; `--overwrite` replaces non-empty ones), never duplicated.
//! - **Tags** go into the `leadTags` multi-select; `setup` creates it with the options of the
//!   mapping plus every tag of the CSV given to it. Tags that are not options in the workspace
//!   are reported (line and tag) and left out.
//! - **Outreach actions** (type, status pending/completed/failed, time, details) become Twenty
//!   **tasks** linked to the person through a task target: tasks appear on the person's page,
//!   carry a due time and a done/not-done status (pending → `TODO`, completed/failed → `DONE`),
//!   and a pending action shows up in the assistant's follow-ups. The exact type and status are
//!   kept in two select fields on tasks (`outreachType`, `outreachStatus`) created by `setup`.
//!   A custom object would need relation fields created through the metadata API, which older
//!   servers and the simulator do not support; notes have no status or time.
//! - **Idempotent**: new people, companies, tasks and task targets get name-based ids
//!   ([`stable_uuid`]) and are written with upsert, so a re-run (or a crash and re-run) updates
//!   the same records. `--dry-run` prints the plan and writes nothing.
//! - **A lead Twenty refuses** is reported with its line and Twenty's reason, and the import
//!   goes on. New people go in batches; Twenty rejects a whole batch for one record, so a
//!   rejected batch is sent again as its halves down to the refused lead: one refused lead
//!   among 60 costs 12 requests more, not 60.
//!
//! The row → person mapping is the mapping file `examples/apps/leads/mapping.toml` (edit it to
//! change normalisation, options or target fields).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use twenty_client::metadata::{FieldOption, FieldSpec, FieldType};
use twenty_client::{Client, Filter, OrderBy, Record};
use twenty_mapping::{CompiledMapping, EntityPlan, RequiredField};
use twenty_sync_core::engine::{field_diff, get_path, set_path};

use super::assistant::task_target_person_field;
use super::common::{
    AppError, AppResult, Context, TwentyArgs, describe_ensure, ensure_fields, field_spec,
    load_mapping, shipped, stable_uuid,
};

const ENTITY: &str = "leads";
const TAGS_FIELD: &str = "leadTags";
const STATUSES: [&str; 3] = ["PENDING", "COMPLETED", "FAILED"];

/// The app's configuration file (TOML).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadsConfig {
    /// The mapping file (row → person), relative to the config file.
    pub mapping: PathBuf,
    /// Outreach types accepted (upper case); anything else is recorded as `OTHER`.
    pub outreach_types: Vec<String>,
}

impl LeadsConfig {
    /// Reads the config; relative paths are resolved against the file's directory.
    pub fn load(path: &Path) -> AppResult<Self> {
        let text = std::fs::read_to_string(path)
            .context(format!("reading the lead-import config {}", path.display()))?;
        let mut c: LeadsConfig = toml::from_str(&text)
            .context(format!("parsing the lead-import config {}", path.display()))?;
        if c.mapping.is_relative() {
            if let Some(dir) = path.parent() {
                c.mapping = dir.join(&c.mapping);
            }
        }
        if !c.outreach_types.iter().any(|t| t == "OTHER") {
            c.outreach_types.push("OTHER".into());
        }
        Ok(c)
    }
}

/// Command line of the `lead-import` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lead-import",
    about = "Import a CSV of leads into Twenty people (de-duplicated by email and LinkedIn URL), outreach actions as tasks; export back to CSV"
)]
pub struct Cli {
    /// How to reach Twenty.
    #[command(flatten)]
    pub twenty: TwentyArgs,
    /// The app config.
    #[arg(long, default_value_os_t = shipped("leads/leads.toml"))]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Create the custom fields (people: leadTags, leadSource, relationshipStage; tasks:
    /// outreachType, outreachStatus). Idempotent.
    Setup {
        /// Also create a tag option for every tag found in this CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Only report what is missing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import a CSV of leads.
    Import {
        /// The CSV file (header row: name, title, company, email, linkedin_url, phone, tags,
        /// source, stage, outreach_type, outreach_status, outreach_at, outreach_details).
        csv: PathBuf,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace non-empty fields of existing people (default: only fill empty ones).
        #[arg(long)]
        overwrite: bool,
    },
    /// Write the imported people (those with a lead source; `--all` for everyone) to CSV.
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Export every person, not only imported leads.
        #[arg(long)]
        all: bool,
    },
}

/// A row that was not imported, or a remark about one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowNote {
    /// 1-based line in the CSV file (the header is line 1).
    pub line: u64,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

/// One outreach action of a lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outreach {
    /// Line it comes from.
    pub line: u64,
    /// Type (upper case, one of the configured types).
    pub kind: String,
    /// `PENDING`, `COMPLETED` or `FAILED`.
    pub status: String,
    /// When it happened or is due.
    pub at: DateTime<Utc>,
    /// Free text.
    pub details: String,
}

/// A lead after merging duplicate rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    /// Lines it was built from (first is the main one).
    pub lines: Vec<u64>,
    /// The raw fields (CSV column → value), first non-empty wins.
    pub fields: BTreeMap<String, String>,
    /// Merged tags (raw).
    pub tags: Vec<String>,
    /// Normalised email, if any.
    pub email: Option<String>,
    /// Canonical LinkedIn URL (`https://www.linkedin.com/in/<slug>`), if any.
    pub linkedin: Option<String>,
    /// Outreach actions.
    pub outreach: Vec<Outreach>,
    /// The person record to write (Twenty shape).
    pub person: Value,
}

impl Lead {
    /// The identity used for stable ids: the email, else the LinkedIn URL.
    pub fn identity(&self) -> String {
        self.email
            .clone()
            .or_else(|| self.linkedin.clone())
            .unwrap_or_default()
    }
}

/// Canonical form of a LinkedIn profile or company URL: `https://www.linkedin.com/in/<slug>`
/// (lower case, no query, no trailing slash), or `None` when it is not a LinkedIn URL.
///
/// ```
/// use examples::apps::leads::canonical_linkedin;
/// let c = Some("https://www.linkedin.com/in/grace-hopper".to_string());
/// assert_eq!(canonical_linkedin("linkedin.com/in/Grace-Hopper/"), c);
/// assert_eq!(canonical_linkedin("http://WWW.LinkedIn.com/in/grace-hopper?utm=x"), c);
/// assert_eq!(canonical_linkedin("https://example.com/in/grace"), None);
/// ```
pub fn canonical_linkedin(raw: &str) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let at = lower.find("linkedin.com/")?;
    let host_part = &lower[..at];
    let host_ok = host_part.is_empty()
        || host_part.ends_with("://")
        || host_part.ends_with('.')
        || host_part.ends_with("://www.");
    if !host_ok {
        return None;
    }
    let path = &lower[at + "linkedin.com/".len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_end_matches('/');
    let mut parts = path.split('/');
    let kind = parts.next()?;
    let slug = parts.next()?;
    if !matches!(kind, "in" | "company" | "pub") || slug.is_empty() {
        return None;
    }
    Some(format!("https://www.linkedin.com/{kind}/{slug}"))
}

fn norm_header(h: &str) -> String {
    let h = h.trim().to_lowercase().replace([' ', '-'], "_");
    match h.as_str() {
        "linkedin" | "linkedin_profile" | "linkedin_link" => "linkedin_url".into(),
        "relationship_stage" => "stage".into(),
        "job_title" => "title".into(),
        "outreach_timestamp" | "outreach_time" | "outreach_date" => "outreach_at".into(),
        "full_name" => "name".into(),
        _ => h,
    }
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .map(|t| t.and_utc())
}

/// The result of reading and validating a CSV.
#[derive(Debug, Clone, Serialize)]
pub struct ParsedLeads {
    /// Leads after merging duplicates, in file order.
    pub leads: Vec<Lead>,
    /// Rows not imported.
    pub rejected: Vec<RowNote>,
    /// Remarks: merged rows, dropped tags.
    pub warnings: Vec<RowNote>,
}

/// Reads, validates, normalises (through the mapping) and merges the rows of a CSV.
pub fn parse_csv(
    path: &Path,
    plan: &EntityPlan,
    outreach_types: &[String],
) -> AppResult<ParsedLeads> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .context(format!("opening the CSV file {}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .context(format!("reading the header row of {}", path.display()))?
        .iter()
        .map(norm_header)
        .collect();
    if !headers.iter().any(|h| h == "name")
        || !headers.iter().any(|h| h == "email" || h == "linkedin_url")
    {
        return Err(AppError::msg(format!(
            "{}: the header row needs a `name` column and an `email` or `linkedin_url` column \
             (found: {})",
            path.display(),
            headers.join(", ")
        )));
    }
    let mut rejected = Vec::new();
    let mut warnings = Vec::new();
    let mut leads: Vec<Lead> = Vec::new();
    let mut by_email: HashMap<String, usize> = HashMap::new();
    let mut by_linkedin: HashMap<String, usize> = HashMap::new();

    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                rejected.push(RowNote {
                    line,
                    reason: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for (h, v) in headers.iter().zip(row.iter()) {
            if !v.is_empty() {
                fields.insert(h.clone(), v.to_owned());
            }
        }
        match validate_row(line, &fields, plan, outreach_types) {
            Err(reason) => rejected.push(RowNote { line, reason }),
            Ok((email, linkedin, outreach)) => {
                let tags: Vec<String> = fields
                    .get("tags")
                    .map(|t| {
                        t.split([',', ';', '|'])
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let existing = email
                    .as_ref()
                    .and_then(|e| by_email.get(e))
                    .or_else(|| linkedin.as_ref().and_then(|l| by_linkedin.get(l)))
                    .copied();
                let idx = match existing {
                    Some(i) => {
                        let lead = &mut leads[i];
                        let how = if email.is_some() && lead.email == email {
                            "same email"
                        } else {
                            "same LinkedIn URL"
                        };
                        warnings.push(RowNote {
                            line,
                            reason: format!(
                                "merged into the lead of line {} ({how})",
                                lead.lines[0]
                            ),
                        });
                        lead.lines.push(line);
                        for (k, v) in fields {
                            lead.fields.entry(k).or_insert(v);
                        }
                        for t in tags {
                            if !lead.tags.iter().any(|x| x.eq_ignore_ascii_case(&t)) {
                                lead.tags.push(t);
                            }
                        }
                        if lead.email.is_none() {
                            lead.email = email.clone();
                        }
                        if lead.linkedin.is_none() {
                            lead.linkedin = linkedin.clone();
                        }
                        lead.outreach.extend(outreach);
                        i
                    }
                    None => {
                        leads.push(Lead {
                            lines: vec![line],
                            fields,
                            tags,
                            email: email.clone(),
                            linkedin: linkedin.clone(),
                            outreach,
                            person: Value::Null,
                        });
                        leads.len() - 1
                    }
                };
                if let Some(e) = &leads[idx].email {
                    by_email.entry(e.clone()).or_insert(idx);
                }
                if let Some(l) = &leads[idx].linkedin {
                    by_linkedin.entry(l.clone()).or_insert(idx);
                }
            }
        }
    }
    for lead in &mut leads {
        let local = local_record(lead);
        let mapped = plan.to_twenty(&local);
        // Rows were validated one by one; a merged lead maps cleanly too.
        lead.person = mapped.record;
    }
    Ok(ParsedLeads {
        leads,
        rejected,
        warnings,
    })
}

fn local_record(lead: &Lead) -> Value {
    let mut v = Map::new();
    for (k, val) in &lead.fields {
        if k.starts_with("outreach_") || k == "company" {
            continue;
        }
        v.insert(k.clone(), json!(val));
    }
    v.insert("key".into(), json!(lead.identity()));
    if let Some(l) = &lead.linkedin {
        v.insert("linkedin_url".into(), json!(l));
    }
    if lead.tags.is_empty() {
        v.remove("tags");
    } else {
        v.insert("tags".into(), json!(lead.tags.join(", ")));
    }
    Value::Object(v)
}

type Validated = (Option<String>, Option<String>, Vec<Outreach>);

fn validate_row(
    line: u64,
    fields: &BTreeMap<String, String>,
    plan: &EntityPlan,
    outreach_types: &[String],
) -> Result<Validated, String> {
    if fields.is_empty() {
        return Err("empty row".into());
    }
    if !fields.contains_key("name") {
        return Err("no name".into());
    }
    let linkedin = match fields.get("linkedin_url") {
        Some(raw) => Some(canonical_linkedin(raw).ok_or_else(|| {
            "linkedin_url is not a LinkedIn profile URL (expected linkedin.com/in/<name>)"
                .to_string()
        })?),
        None => None,
    };
    if !fields.contains_key("email") && linkedin.is_none() {
        return Err(
            "neither an email nor a LinkedIn URL: the lead could not be de-duplicated".into(),
        );
    }
    // Normalise through the mapping: every field error rejects the row.
    let mut local = Map::new();
    for (k, v) in fields {
        if !k.starts_with("outreach_") && k != "company" {
            local.insert(k.clone(), json!(v));
        }
    }
    local.insert("key".into(), json!(format!("line-{line}")));
    if let Some(l) = &linkedin {
        local.insert("linkedin_url".into(), json!(l));
    }
    let mapped = plan.to_twenty(&Value::Object(local));
    if !mapped.errors.is_empty() {
        let reasons: Vec<String> = mapped
            .errors
            .iter()
            .map(|e| format!("{}: {}", column_of(&e.field), e.reason))
            .collect();
        return Err(reasons.join("; "));
    }
    let email = mapped
        .record
        .pointer("/emails/primaryEmail")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let mut outreach = Vec::new();
    let any = [
        "outreach_type",
        "outreach_status",
        "outreach_at",
        "outreach_details",
    ]
    .iter()
    .any(|k| fields.contains_key(*k));
    if any {
        let kind = fields
            .get("outreach_type")
            .ok_or("outreach_type is empty but other outreach columns are set")?
            .to_uppercase()
            .replace([' ', '-'], "_");
        let kind = if outreach_types.contains(&kind) {
            kind
        } else {
            "OTHER".into()
        };
        let status = fields
            .get("outreach_status")
            .map(|s| s.to_uppercase())
            .unwrap_or_else(|| "PENDING".into());
        if !STATUSES.contains(&status.as_str()) {
            return Err(format!(
                "outreach_status `{}` is not one of pending, completed, failed",
                fields
                    .get("outreach_status")
                    .map(String::as_str)
                    .unwrap_or("")
            ));
        }
        let at = match fields.get("outreach_at") {
            Some(raw) => parse_time(raw).ok_or_else(|| {
                format!(
                    "outreach_at `{raw}` is not a time (use 2026-11-20, 2026-11-20 09:30 or RFC 3339)"
                )
            })?,
            None => return Err("outreach_at is empty: an outreach action needs a time".into()),
        };
        outreach.push(Outreach {
            line,
            kind,
            status,
            at,
            details: fields.get("outreach_details").cloned().unwrap_or_default(),
        });
    }
    Ok((email, linkedin, outreach))
}

/// The CSV column a mapping error is about (the mapping reports Twenty paths or local paths).
fn column_of(field: &str) -> String {
    match field {
        "emails.primaryEmail" => "email".into(),
        "linkedinLink.primaryLinkUrl" => "linkedin_url".into(),
        "phones" => "phone".into(),
        "relationshipStage" => "stage".into(),
        "leadTags" => "tags".into(),
        "jobTitle" => "title".into(),
        other => other.to_owned(),
    }
}

/// What an import did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportOutcome {
    /// Rows not imported (line, reason).
    pub rejected: Vec<RowNote>,
    /// Remarks (merged rows, tags left out, conflicting matches).
    pub warnings: Vec<RowNote>,
    /// Leads Twenty refused (line of the lead's first row, the server's reason); their outreach
    /// actions are not recorded. The rest of the import goes on.
    pub failed: Vec<RowNote>,
    /// Leads after merging.
    pub leads: usize,
    /// People created (identity).
    pub created: Vec<String>,
    /// People adopted: (identity, Twenty id, matched by).
    pub adopted: Vec<(String, String, String)>,
    /// Adopted people updated: (Twenty id, changed fields).
    pub updated: Vec<(String, Vec<String>)>,
    /// Companies created (names).
    pub companies_created: Vec<String>,
    /// Tasks created.
    pub tasks_created: usize,
    /// Tasks updated (status or details changed).
    pub tasks_updated: usize,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// Custom fields the app needs: the mapping's (with extra tag options) and the two on tasks.
pub fn required_fields(
    plan: &EntityPlan,
    config: &LeadsConfig,
    extra_tags: &[String],
) -> Vec<FieldSpec> {
    let mut specs = Vec::new();
    for mut f in plan.required_twenty_fields() {
        if f.name == TAGS_FIELD {
            for t in extra_tags {
                if !f.options.contains(t) {
                    f.options.push(t.clone());
                }
            }
        }
        specs.push(field_spec(plan.twenty_object(), &f));
    }
    let opts = |values: &[String]| {
        values
            .iter()
            .map(|v| FieldOption::new(v.clone(), RequiredField::option_label(v)))
            .collect::<Vec<_>>()
    };
    specs.push(
        FieldSpec::new("tasks", "outreachType", FieldType::Select)
            .label("Outreach type")
            .options(opts(&config.outreach_types)),
    );
    specs.push(
        FieldSpec::new("tasks", "outreachStatus", FieldType::Select)
            .label("Outreach status")
            .options(opts(&STATUSES.map(String::from))),
    );
    specs
}

fn tag_values(plan: &EntityPlan, tags: &[String]) -> Vec<String> {
    let local = json!({"key": "x", "tags": tags.join(", ")});
    plan.to_twenty(&local)
        .record
        .get(TAGS_FIELD)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

struct Importer<'a> {
    client: &'a Client,
    plan: &'a EntityPlan,
    dry_run: bool,
    overwrite: bool,
}

fn empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.values().all(|x| empty(Some(x))),
        _ => false,
    }
}

/// The fields of `new` to write on `existing`: empty ones (all with `overwrite`); tags merged.
fn adoption_patch(existing: &Value, new: &Value, overwrite: bool) -> Value {
    let mut patch = Map::new();
    let Some(obj) = new.as_object() else {
        return Value::Object(patch);
    };
    for (k, v) in obj {
        if k == TAGS_FIELD {
            let mut merged: Vec<Value> = existing
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for t in v.as_array().into_iter().flatten() {
                if !merged.contains(t) {
                    merged.push(t.clone());
                }
            }
            if Some(&Value::Array(merged.clone())) != existing.get(k) {
                patch.insert(k.clone(), Value::Array(merged));
            }
            continue;
        }
        let cur = existing.get(k);
        let differs = match (cur, v) {
            // Composite: compare only the sub-fields we send.
            (Some(Value::Object(c)), Value::Object(n)) => {
                n.iter().any(|(sk, sv)| c.get(sk) != Some(sv))
            }
            (c, n) => c != Some(n),
        };
        if differs && (overwrite || empty(cur)) {
            patch.insert(k.clone(), v.clone());
        }
    }
    Value::Object(patch)
}

impl Importer<'_> {
    async fn live_tag_options(&self) -> AppResult<Option<Vec<String>>> {
        let people = self
            .client
            .metadata()
            .object(self.plan.twenty_object())
            .await
            .context("reading the people object from the metadata API")?;
        Ok(people.field(TAGS_FIELD).map(|f| {
            f.options
                .iter()
                .flatten()
                .map(|o| o.value.clone())
                .collect()
        }))
    }

    /// Existing people by email and by canonical LinkedIn URL.
    async fn existing(
        &self,
        leads: &[Lead],
    ) -> AppResult<(HashMap<String, Value>, HashMap<String, Value>)> {
        let mut by_email = HashMap::new();
        let mut by_linkedin = HashMap::new();
        let emails: Vec<&str> = leads.iter().filter_map(|l| l.email.as_deref()).collect();
        for chunk in emails.chunks(50) {
            let found: Vec<Record> = self
                .client
                .records("people")
                .list()
                .filter(Filter::field("emails.primaryEmail").in_(chunk.iter().copied()))
                .stream()
                .try_collect()
                .await
                .context("looking leads up in Twenty by email")?;
            for p in found {
                let v = p.into_value();
                if let Some(e) = v.pointer("/emails/primaryEmail").and_then(Value::as_str) {
                    by_email.insert(e.to_lowercase(), v.clone());
                }
            }
        }
        let slugs: Vec<&str> = leads.iter().filter_map(|l| l.linkedin.as_deref()).collect();
        for chunk in slugs.chunks(20) {
            let filters = chunk.iter().map(|url| {
                let tail = url.trim_start_matches("https://www.");
                Filter::field("linkedinLink.primaryLinkUrl").ilike(format!("%{tail}%"))
            });
            let found: Vec<Record> = self
                .client
                .records("people")
                .list()
                .filter(Filter::or(filters))
                .stream()
                .try_collect()
                .await
                .context("looking leads up in Twenty by LinkedIn URL")?;
            for p in found {
                let v = p.into_value();
                if let Some(c) = v
                    .pointer("/linkedinLink/primaryLinkUrl")
                    .and_then(Value::as_str)
                    .and_then(canonical_linkedin)
                {
                    by_linkedin.insert(c, v.clone());
                }
            }
        }
        Ok((by_email, by_linkedin))
    }

    /// Company ids by lower-cased name, creating missing companies (unless dry run).
    async fn companies(
        &self,
        names: &BTreeSet<String>,
        out: &mut ImportOutcome,
    ) -> AppResult<HashMap<String, Option<String>>> {
        let mut ids: HashMap<String, Option<String>> = HashMap::new();
        let list: Vec<&String> = names.iter().collect();
        for chunk in list.chunks(20) {
            let found: Vec<Record> = self
                .client
                .records("companies")
                .list()
                .filter(Filter::or(
                    chunk
                        .iter()
                        .map(|n| Filter::field("name").ilike(n.as_str())),
                ))
                .stream()
                .try_collect()
                .await
                .context("looking companies up in Twenty by name")?;
            for c in found {
                if let (Some(name), Some(id)) = (c.get("name").and_then(Value::as_str), c.id()) {
                    ids.entry(name.to_lowercase())
                        .or_insert(Some(id.to_owned()));
                }
            }
        }
        let mut create = Vec::new();
        for n in names {
            let key = n.to_lowercase();
            if ids.contains_key(&key) {
                continue;
            }
            let id = stable_uuid(&["lead-import", "company", &key]);
            out.companies_created.push(n.clone());
            // The id is name-based: a dry run knows it too, and predicts the links exactly.
            ids.insert(key, Some(id.clone()));
            let mut r = Record::new();
            r.set("id", json!(id));
            r.set("name", json!(n));
            create.push(r);
        }
        if !self.dry_run && !create.is_empty() {
            self.client
                .records("companies")
                .create_many(create)
                .upsert(true)
                .send()
                .await
                .context("creating the leads' companies")?;
        }
        Ok(ids)
    }
}

/// Imports a CSV of leads (see the module docs).
pub async fn import(
    client: &Client,
    mapping: &CompiledMapping,
    config: &LeadsConfig,
    csv_path: &Path,
    dry_run: bool,
    overwrite: bool,
) -> AppResult<ImportOutcome> {
    let plan = mapping
        .entity(ENTITY)
        .ok_or_else(|| AppError::msg(format!("the mapping has no `{ENTITY}` entity")))?;
    let parsed = parse_csv(csv_path, plan, &config.outreach_types)?;
    let mut out = ImportOutcome {
        rejected: parsed.rejected,
        warnings: parsed.warnings,
        leads: parsed.leads.len(),
        dry_run,
        ..Default::default()
    };
    let specs = required_fields(plan, config, &[]);
    let report = ensure_fields(client, &specs, true).await?;
    if !report.missing.is_empty() && !dry_run {
        let missing: Vec<String> = report
            .missing
            .iter()
            .map(|f| format!("{}.{}", f.object, f.field))
            .collect();
        return Err(AppError::msg(format!(
            "custom fields missing in Twenty: {}; run `lead-import setup --csv {}` first",
            missing.join(", "),
            csv_path.display()
        )));
    }
    let imp = Importer {
        client,
        plan,
        dry_run,
        overwrite,
    };
    let options = imp.live_tag_options().await?;
    let mut leads = parsed.leads;
    // Tags that are not options of the field are left out (Twenty would reject the record).
    for lead in &mut leads {
        let Some(tags) = lead
            .person
            .get(TAGS_FIELD)
            .and_then(Value::as_array)
            .cloned()
        else {
            continue;
        };
        let keep: Vec<Value> = match &options {
            Some(opts) => tags
                .iter()
                .filter(|t| t.as_str().is_some_and(|s| opts.iter().any(|o| o == s)))
                .cloned()
                .collect(),
            None => tags.clone(),
        };
        for t in tags.iter().filter(|t| !keep.contains(t)) {
            out.warnings.push(RowNote {
                line: lead.lines[0],
                reason: format!(
                    "tag {t} is not an option of {TAGS_FIELD} in Twenty and was left out (run \
                     setup with this CSV before the field exists, or add the option in Settings)"
                ),
            });
        }
        if let Some(obj) = lead.person.as_object_mut() {
            if keep.is_empty() {
                obj.remove(TAGS_FIELD);
            } else {
                obj.insert(TAGS_FIELD.into(), Value::Array(keep));
            }
        }
    }

    let names: BTreeSet<String> = leads
        .iter()
        .filter_map(|l| l.fields.get("company").cloned())
        .collect();
    let company_ids = imp.companies(&names, &mut out).await?;
    let (by_email, by_linkedin) = imp.existing(&leads).await?;

    let mut creates = Vec::new();
    let mut person_ids: Vec<Option<String>> = Vec::new();
    for lead in &mut leads {
        if let Some(name) = lead.fields.get("company") {
            if let Some(Some(id)) = company_ids.get(&name.to_lowercase()) {
                set_path(&mut lead.person, "companyId", json!(id));
            }
        }
        let email_hit = lead.email.as_ref().and_then(|e| by_email.get(e));
        let linkedin_hit = lead.linkedin.as_ref().and_then(|l| by_linkedin.get(l));
        let (hit, how) = match (email_hit, linkedin_hit) {
            (Some(e), Some(l)) if e["id"] != l["id"] => {
                out.warnings.push(RowNote {
                    line: lead.lines[0],
                    reason: format!(
                        "email matches person {} but the LinkedIn URL matches person {}; the \
                         email match is used",
                        e["id"].as_str().unwrap_or("?"),
                        l["id"].as_str().unwrap_or("?")
                    ),
                });
                (Some(e), "email")
            }
            (Some(e), _) => (Some(e), "email"),
            (None, Some(l)) => (Some(l), "linkedin"),
            (None, None) => (None, ""),
        };
        match hit {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_owned();
                out.adopted.push((lead.identity(), id.clone(), how.into()));
                let patch = adoption_patch(existing, &lead.person, imp.overwrite);
                let changed = field_diff(&Value::Object(Map::new()), &patch);
                if !changed.is_empty() {
                    if !dry_run {
                        let sent = client.records("people").update(&id, patch).send().await;
                        if let Err(e) = sent {
                            reject_or_abort(e, &lead.lines, &mut out.failed)?;
                            person_ids.push(None);
                            continue;
                        }
                    }
                    out.updated.push((id.clone(), changed));
                }
                person_ids.push(Some(id));
            }
            None => {
                let id = stable_uuid(&["lead-import", "person", &lead.identity()]);
                let mut record = lead.person.clone();
                set_path(&mut record, "id", json!(id));
                creates.push((
                    person_ids.len(),
                    serde_json::from_value::<Record>(record).context("building a person record")?,
                ));
                person_ids.push(Some(id));
            }
        }
    }
    if !dry_run {
        for (i, e) in create_people(client, &creates).await? {
            reject_or_abort(e, &leads[i].lines, &mut out.failed)?;
            person_ids[i] = None;
        }
    }
    for (i, _) in &creates {
        if person_ids[*i].is_some() {
            out.created.push(leads[*i].identity());
        }
    }
    record_outreach(&imp, &leads, &person_ids, &mut out).await?;
    Ok(out)
}

/// Creates the new people (`(lead index, record)`), by upsert on their stable ids so that a
/// record sent twice is written once, with the client's isolating batches
/// ([`CreateMany::send_isolating`](twenty_client::records::CreateMany::send_isolating)): a batch
/// Twenty rejects for its records (atomic: none of it written) goes again as its halves, down
/// to the refused records. Returns the leads whose record Twenty refused on its own, with
/// Twenty's error; an error about the whole import (authentication, network) stops it. One
/// refused lead among `n` costs about `2·log2(n)` requests more than the batches, where sending
/// every record of the import again one by one cost `n`.
async fn create_people(
    client: &Client,
    creates: &[(usize, Record)],
) -> AppResult<Vec<(usize, twenty_client::Error)>> {
    let records: Vec<Record> = creates.iter().map(|(_, r)| r.clone()).collect();
    let outcome = client
        .records("people")
        .create_many(records)
        .upsert(true)
        .send_isolating()
        .await
        .context("creating the new people")?;
    Ok(outcome
        .refused
        .into_iter()
        .map(|(at, e)| (creates[at].0, e))
        .collect())
}

fn reject_or_abort(
    e: twenty_client::Error,
    lines: &[u64],
    failed: &mut Vec<RowNote>,
) -> AppResult<()> {
    if !e.is_record_level() {
        return Err(e).context(format!("writing the lead of line {}", lines[0]));
    }
    failed.push(RowNote {
        line: lines[0],
        reason: format!("Twenty rejected the person: {e}"),
    });
    Ok(())
}

async fn record_outreach(
    imp: &Importer<'_>,
    leads: &[Lead],
    person_ids: &[Option<String>],
    out: &mut ImportOutcome,
) -> AppResult<()> {
    let mut tasks: Vec<(String, String, Value)> = Vec::new(); // (task id, person id, body)
    for (lead, pid) in leads.iter().zip(person_ids) {
        let Some(pid) = pid else { continue };
        for o in &lead.outreach {
            let at = o.at.to_rfc3339();
            let id = stable_uuid(&["lead-import", "task", &lead.identity(), &o.kind, &at]);
            let label = RequiredField::option_label(&o.kind);
            let body = json!({
                "id": id,
                "title": format!("{label} outreach: {}", o.status.to_lowercase()),
                "bodyV2": {"markdown": o.details},
                "dueAt": at,
                "status": if o.status == "PENDING" { "TODO" } else { "DONE" },
                "outreachType": o.kind,
                "outreachStatus": o.status,
            });
            tasks.push((id, pid.clone(), body));
        }
    }
    if tasks.is_empty() {
        return Ok(());
    }
    let mut existing: HashMap<String, Value> = HashMap::new();
    for chunk in tasks.chunks(50) {
        let found: Vec<Record> = imp
            .client
            .records("tasks")
            .list()
            .filter(Filter::field("id").in_(chunk.iter().map(|t| t.0.as_str())))
            .stream()
            .try_collect()
            .await
            .context("looking up previously imported outreach tasks")?;
        for t in found {
            let v = t.into_value();
            if let Some(id) = v["id"].as_str() {
                existing.insert(id.to_owned(), v.clone());
            }
        }
    }
    let mut writes = Vec::new();
    let mut new_ids = Vec::new();
    for (id, pid, body) in &tasks {
        match existing.get(id) {
            None => {
                out.tasks_created += 1;
                new_ids.push((id.clone(), pid.clone()));
                writes.push(body.clone());
            }
            Some(cur) => {
                let same = ["title", "dueAt", "status", "outreachType", "outreachStatus"]
                    .iter()
                    .all(|k| same_value(cur.get(*k), body.get(*k)))
                    && get_path(cur, "bodyV2.markdown") == get_path(body, "bodyV2.markdown");
                if !same {
                    out.tasks_updated += 1;
                    writes.push(body.clone());
                }
            }
        }
    }
    if imp.dry_run || writes.is_empty() {
        return Ok(());
    }
    let records = writes
        .into_iter()
        .map(serde_json::from_value::<Record>)
        .collect::<Result<Vec<_>, _>>()
        .context("building task records")?;
    imp.client
        .records("tasks")
        .create_many(records)
        .upsert(true)
        .send()
        .await
        .context("writing the outreach tasks")?;
    if !new_ids.is_empty() {
        let field = task_target_person_field(imp.client).await?;
        let links = new_ids
            .iter()
            .map(|(tid, pid)| {
                let mut r = Record::new();
                r.set(
                    "id",
                    json!(stable_uuid(&["lead-import", "taskTarget", tid])),
                );
                r.set("taskId", json!(tid));
                r.set(field.clone(), json!(pid));
                r
            })
            .collect();
        imp.client
            .records("taskTargets")
            .create_many(links)
            .upsert(true)
            .send()
            .await
            .context("linking the outreach tasks to their people")?;
    }
    Ok(())
}

/// Equal values, comparing timestamps as instants (Twenty answers with milliseconds).
fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => {
            x == y
                || matches!(
                    (DateTime::parse_from_rfc3339(x), DateTime::parse_from_rfc3339(y)),
                    (Ok(p), Ok(q)) if p == q
                )
        }
        (a, b) => a == b,
    }
}

/// The CSV columns written by `export` (readable by `import`).
pub const EXPORT_COLUMNS: [&str; 9] = [
    "name",
    "title",
    "company",
    "email",
    "linkedin_url",
    "phone",
    "tags",
    "source",
    "stage",
];

/// Writes people as CSV rows of [`EXPORT_COLUMNS`] (only imported leads unless `all`); returns
/// the number of rows.
pub async fn export(
    client: &Client,
    mapping: &CompiledMapping,
    all: bool,
    out: impl std::io::Write,
) -> AppResult<usize> {
    let plan = mapping
        .entity(ENTITY)
        .ok_or_else(|| AppError::msg(format!("the mapping has no `{ENTITY}` entity")))?;
    let mut list = client
        .records("people")
        .list()
        .order_by(OrderBy::asc("createdAt").then_asc("id"));
    if !all {
        // TEXT fields read as "" when never set (Twenty's default), or null.
        list = list.filter(Filter::and([
            Filter::field("leadSource").is_not_null(),
            Filter::field("leadSource").neq(""),
        ]));
    }
    let people: Vec<Record> = list
        .stream()
        .try_collect()
        .await
        .context("listing people to export")?;
    let company_ids: BTreeSet<String> = people
        .iter()
        .filter_map(|p| {
            p.get("companyId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let mut companies: HashMap<String, String> = HashMap::new();
    let ids: Vec<String> = company_ids.into_iter().collect();
    for chunk in ids.chunks(50) {
        let found: Vec<Record> = client
            .records("companies")
            .list()
            .filter(Filter::field("id").in_(chunk.iter().map(String::as_str)))
            .stream()
            .try_collect()
            .await
            .context("reading the companies of exported people")?;
        for c in found {
            if let (Some(id), Some(name)) = (c.id(), c.get("name").and_then(Value::as_str)) {
                companies.insert(id.to_owned(), name.to_owned());
            }
        }
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_record(EXPORT_COLUMNS)
        .context("writing the CSV header")?;
    let mut n = 0;
    for p in people {
        let v = p.into_value();
        let local = plan.to_local(&v).record;
        let text = |k: &str| -> String {
            match local.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        let tags = v
            .get(TAGS_FIELD)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|t| t.to_lowercase().replace('_', " "))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let company = v
            .get("companyId")
            .and_then(Value::as_str)
            .and_then(|id| companies.get(id).cloned())
            .unwrap_or_default();
        let row = [
            text("name"),
            text("title"),
            company,
            text("email"),
            text("linkedin_url"),
            text("phone"),
            tags,
            text("source"),
            text("stage"),
        ];
        w.write_record(&row).context("writing a CSV row")?;
        n += 1;
    }
    w.flush().context("writing the CSV file")?;
    Ok(n)
}

/// Every tag of a CSV, as option values (for `setup --csv`).
pub fn csv_tags(path: &Path, plan: &EntityPlan, config: &LeadsConfig) -> AppResult<Vec<String>> {
    let parsed = parse_csv(path, plan, &config.outreach_types)?;
    let mut tags = BTreeSet::new();
    for lead in &parsed.leads {
        tags.extend(tag_values(plan, &lead.tags));
    }
    Ok(tags.into_iter().collect())
}

/// Runs one command; returns what to print.
pub async fn run(cli: &Cli, client: Client) -> AppResult<Value> {
    let config = LeadsConfig::load(&cli.config)?;
    let mapping = load_mapping(&config.mapping)?;
    let plan = mapping
        .entity(ENTITY)
        .ok_or_else(|| AppError::msg(format!("the mapping has no `{ENTITY}` entity")))?;
    match &cli.command {
        Command::Setup { csv, dry_run } => {
            let extra = match csv {
                Some(p) => csv_tags(p, plan, &config)?,
                None => Vec::new(),
            };
            let report =
                ensure_fields(&client, &required_fields(plan, &config, &extra), *dry_run).await?;
            eprint!("{}", describe_ensure(&report));
            Ok(json!({
                "created": report.created.iter().map(|f| format!("{}.{}", f.object, f.field)).collect::<Vec<_>>(),
                "missing": report.missing.iter().map(|f| format!("{}.{}", f.object, f.field)).collect::<Vec<_>>(),
                "present": report.already_present.iter().map(|f| format!("{}.{}", f.object, f.field)).collect::<Vec<_>>(),
            }))
        }
        Command::Import {
            csv,
            dry_run,
            overwrite,
        } => {
            let out = import(&client, &mapping, &config, csv, *dry_run, *overwrite).await?;
            serde_json::to_value(out).context("encoding the outcome")
        }
        Command::Export { out, all } => {
            let n = match out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .context(format!("creating {}", path.display()))?;
                    export(&client, &mapping, *all, f).await?
                }
                None => export(&client, &mapping, *all, std::io::stdout()).await?,
            };
            Ok(json!({ "exported": n }))
        }
    }
}
