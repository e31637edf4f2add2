//! The subcommands that work on a configured workspace: setup, verify, pull, push, sync, status,
//! audit. (`watch` is in [`super::watch`], `demo` in [`super::demo`].)

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use twenty_client::Client;
use twenty_client::metadata::{EnsureReport, FieldSpec, verify_fields_in};
use twenty_sync_core::workspace::workspace_schema;
use twenty_sync_core::{AuditQuery, RunMode, RunOptions, RunReport, RunStatus, StateStore};

use super::ExitStatus;
use super::app::{self, CliError, Engine, Stores};
use super::output::{self, Output};
use crate::config::Config;

/// What `pull` / `push` / `sync` / `watch` run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Only plan.
    pub dry_run: bool,
    /// Only these entities (empty: all).
    pub entities: Vec<String>,
}

impl RunRequest {
    fn options(&self) -> RunOptions {
        let mut o = RunOptions::new().dry_run(self.dry_run);
        for e in &self.entities {
            o = o.entity(e.clone());
        }
        o
    }
}

/// The exit status a finished run deserves.
pub fn run_exit(report: &RunReport) -> ExitStatus {
    match report.status {
        RunStatus::Succeeded => ExitStatus::Success,
        RunStatus::PartiallyFailed => ExitStatus::PartialFailure,
        RunStatus::Failed | RunStatus::Running => ExitStatus::Failure,
    }
}

fn field_name(f: &twenty_client::metadata::FieldRef) -> String {
    format!("{}.{}", f.object, f.field)
}

fn ensure_json(report: &EnsureReport) -> serde_json::Value {
    json!({
        "created": report.created.iter().map(field_name).collect::<Vec<_>>(),
        "present": report.already_present.iter().map(field_name).collect::<Vec<_>>(),
        "missing": report.missing.iter().map(field_name).collect::<Vec<_>>(),
        "mismatched": report.mismatched.iter()
            .map(|m| json!({"field": field_name(&m.field), "reason": m.reason}))
            .collect::<Vec<_>>(),
    })
}

fn describe_spec(spec: &FieldSpec) -> String {
    let mut s = format!("{}.{} ({})", spec.object, spec.name, spec.field_type);
    if !spec.options.is_empty() {
        s.push_str(&format!(
            " options {}",
            spec.options
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// `setup`: creates the custom fields and select options the mapping needs (idempotently), and
/// the sink's tables where the sink has a setup step. `--dry-run` lists what would be created.
pub async fn setup(
    cfg: &Config,
    client: &Client,
    stores: Option<&Stores>,
    dry_run: bool,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let mapping = app::mapping(cfg)?;
    let specs = app::required_fields(&mapping);
    let meta = client.metadata();
    let report = if dry_run {
        meta.verify_fields(&specs).await
    } else {
        meta.ensure_fields(&specs).await
    }
    .map_err(|e| CliError::failed(format!("setting up the custom fields in Twenty: {e}")))?;
    let sink = sink_setup(stores, dry_run, out).await?;
    if dry_run {
        out.line(format!(
            "plan (dry run, nothing created): {} custom fields declared by the mapping",
            specs.len()
        ));
        for f in &report.missing {
            let spec = specs
                .iter()
                .find(|s| s.object == f.object && s.name == f.field);
            out.line(format!(
                "  would create {}",
                spec.map(describe_spec).unwrap_or_else(|| field_name(f))
            ));
        }
        for f in &report.already_present {
            out.line(format!("  present      {}", field_name(f)));
        }
    } else {
        for f in &report.created {
            out.line(format!("  created  {}", field_name(f)));
        }
        for f in &report.already_present {
            out.line(format!("  present  {}", field_name(f)));
        }
    }
    for m in &report.mismatched {
        out.result(format!(
            "  MISMATCH {}: {} (setup never changes an existing field; fix it in Twenty's settings)",
            field_name(&m.field),
            m.reason
        ));
    }
    let status = if report.mismatched.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::NotReady
    };
    if !dry_run {
        out.result(format!(
            "setup: {} created, {} already present, {} mismatched",
            report.created.len(),
            report.already_present.len(),
            report.mismatched.len()
        ));
    }
    let mut body = ensure_json(&report);
    body["command"] = json!("setup");
    body["dry_run"] = json!(dry_run);
    body["sink"] = sink;
    if dry_run {
        body["would_create"] = body["missing"].take();
        body["missing"] = json!([]);
    }
    out.json(&body);
    Ok(status)
}

/// The sink's own setup step (BigQuery: dataset and tables); `Null` for sinks without one.
#[cfg(feature = "bigquery")]
async fn sink_setup(
    stores: Option<&Stores>,
    dry_run: bool,
    out: &Output,
) -> Result<serde_json::Value, CliError> {
    let Some(bq) = stores.and_then(|s| s.bigquery.as_ref()) else {
        return Ok(serde_json::Value::Null);
    };
    if dry_run {
        let reports = bq
            .verify()
            .await
            .map_err(|e| CliError::failed(format!("checking the BigQuery tables: {e}")))?;
        for r in &reports {
            out.line(format!("sink: {r}"));
        }
        return Ok(json!({"bigquery": reports}));
    }
    let r = bq
        .setup()
        .await
        .map_err(|e| CliError::failed(format!("setting up the BigQuery tables: {e}")))?;
    out.line(format!(
        "sink: BigQuery dataset {}, tables created: {}",
        if r.dataset_created {
            "created"
        } else {
            "present"
        },
        if r.tables_created.is_empty() {
            "none".to_owned()
        } else {
            r.tables_created.join(", ")
        }
    ));
    Ok(json!({"bigquery": r}))
}

#[cfg(not(feature = "bigquery"))]
async fn sink_setup(
    _: Option<&Stores>,
    _: bool,
    _: &Output,
) -> Result<serde_json::Value, CliError> {
    Ok(serde_json::Value::Null)
}

/// The sink's own verification (BigQuery tables) and whether it is ready.
#[cfg(feature = "bigquery")]
async fn sink_verify(
    stores: Option<&Stores>,
    out: &Output,
) -> Result<(serde_json::Value, bool), CliError> {
    let Some(bq) = stores.and_then(|s| s.bigquery.as_ref()) else {
        return Ok((serde_json::Value::Null, true));
    };
    let reports = bq
        .verify()
        .await
        .map_err(|e| CliError::failed(format!("checking the BigQuery tables: {e}")))?;
    for r in &reports {
        out.line(format!("sink: {r}"));
    }
    let ready = reports.iter().all(|r| r.is_usable());
    Ok((json!({"bigquery": reports}), ready))
}

#[cfg(not(feature = "bigquery"))]
async fn sink_verify(
    _: Option<&Stores>,
    _: &Output,
) -> Result<(serde_json::Value, bool), CliError> {
    Ok((serde_json::Value::Null, true))
}

/// `verify`: reports missing and mismatched fields and options, the mapping's rules that do not
/// fit the workspace's schema, and the sink's tables; exit status [`ExitStatus::NotReady`] when
/// anything is missing or does not fit.
pub async fn verify(
    cfg: &Config,
    client: &Client,
    stores: Option<&Stores>,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let file = app::mapping_file(cfg)?;
    let specs = app::required_fields(&app::compile_mapping(cfg, &file)?);
    // One read of the workspace's objects serves both checks.
    let objects =
        client.metadata().objects().await.map_err(|e| {
            CliError::failed(format!("reading the workspace schema from Twenty: {e}"))
        })?;
    let report = verify_fields_in(&objects, &specs)
        .map_err(|e| CliError::failed(format!("checking the declared custom fields: {e}")))?;
    let problems = app::mapping_problems(&file, &workspace_schema(&objects));
    let (sink, sink_ready) = sink_verify(stores, out).await?;
    let ready = report.is_ok() && problems.is_empty() && sink_ready;
    for f in &report.already_present {
        out.line(format!("  ok        {}", field_name(f)));
    }
    for f in &report.missing {
        out.result(format!(
            "  MISSING   {} (run `twenty-sync setup`)",
            field_name(f)
        ));
    }
    for m in &report.mismatched {
        out.result(format!(
            "  MISMATCH  {}: {}",
            field_name(&m.field),
            m.reason
        ));
    }
    for p in &problems {
        out.result(format!("  MAPPING   {}: {}", p.path, p.message));
    }
    out.result(if ready {
        format!(
            "verify: ready ({} custom fields as declared; the mapping fits the workspace)",
            report.already_present.len()
        )
    } else {
        format!(
            "verify: NOT ready ({} missing, {} mismatched, {} problems of the mapping with this workspace)",
            report.missing.len(),
            report.mismatched.len(),
            problems.len()
        )
    });
    let mut body = ensure_json(&report);
    body["command"] = json!("verify");
    body["ready"] = json!(ready);
    body["mapping"] = problems
        .iter()
        .map(|p| json!({"path": p.path, "message": p.message}))
        .collect();
    body["sink"] = sink;
    out.json(&body);
    Ok(if ready {
        ExitStatus::Success
    } else {
        ExitStatus::NotReady
    })
}

/// Runs `mode` once and prints the report (and the plan of a dry run).
pub async fn run_once(
    engine: &Engine,
    mode: RunMode,
    req: &RunRequest,
    out: &Output,
    progress: Option<&output::Progress>,
) -> Result<ExitStatus, CliError> {
    let result = engine.run(mode, req.options()).await;
    if let Some(p) = progress {
        p.finish();
    }
    match result {
        Ok(outcome) => {
            let report = &outcome.report;
            out.line(output::summary_table(report).trim_end());
            if req.dry_run {
                out.line(output::plan_lines(&outcome.plan, 40).trim_end());
            }
            let mut body = json!({
                "command": mode.as_str(),
                "dry_run": req.dry_run,
                "status": report.status,
                "report": report,
            });
            if req.dry_run {
                body["plan"] = json!(outcome.plan);
            }
            out.json(&body);
            Ok(run_exit(report))
        }
        Err(e) => {
            let report = match e.run_id() {
                Some(id) => engine.state().run(id).await.ok().flatten(),
                None => None,
            };
            if let Some(r) = &report {
                out.line(output::summary_table(r).trim_end());
            }
            let message = format!("{} failed: {e}", mode.as_str());
            if out.is_json() {
                out.json(&json!({
                    "command": mode.as_str(),
                    "dry_run": req.dry_run,
                    "status": "failed",
                    "error": {"kind": format!("{:?}", e.kind()), "message": message,
                              "temporary": e.is_temporary()},
                    "report": report,
                }));
            } else {
                out.error(
                    "run",
                    &format!(
                        "{message}{}",
                        if e.is_temporary() {
                            " (temporary: run again later; the state is resumable)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            Ok(ExitStatus::Failure)
        }
    }
}

/// `status`: the last runs with their counts and errors.
pub async fn status(
    state: &Arc<dyn StateStore>,
    limit: usize,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let runs = state
        .runs(limit)
        .await
        .map_err(|e| CliError::failed(format!("reading the run history: {e}")))?;
    let last_error = runs.iter().find_map(|r| {
        r.error
            .clone()
            .or_else(|| r.failures.first().map(|f| f.reason.clone()))
            .map(|e| (r.run_id.clone(), r.started_at, e))
    });
    // The newest run's warnings: what still needs attention (an older run's may be fixed).
    let warnings = runs
        .first()
        .filter(|r| !r.warnings.is_empty())
        .map(|r| (r.run_id.clone(), r.started_at, r.warnings.clone()));
    let mut last_per_entity = std::collections::BTreeMap::new();
    for r in runs.iter().filter(|r| !r.dry_run) {
        for (k, c) in &r.entities {
            last_per_entity.entry(k.clone()).or_insert_with(|| {
                json!({"run_id": r.run_id, "started_at": r.started_at,
                                          "status": r.status, "counts": c})
            });
        }
    }
    out.line(format!("store: {}", state.describe()));
    if runs.is_empty() {
        out.line("no runs yet; start with `twenty-sync pull` (or `sync`)");
    } else {
        out.line(output::runs_table(&runs).trim_end());
    }
    if let Some((id, at, e)) = &last_error {
        out.line(format!(
            "last error: {e} (run {id}, {})",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if let Some((id, at, messages)) = &warnings {
        for w in messages {
            out.line(format!(
                "warning: {w} (run {id}, {})",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
    }
    out.json(&json!({
        "command": "status",
        "store": state.describe(),
        "runs": runs,
        "last_per_entity": last_per_entity,
        "last_error": last_error.map(|(id, at, e)| json!({"run_id": id, "at": at, "message": e})),
        "warnings": warnings.map(|(id, at, m)| json!({"run_id": id, "at": at, "messages": m})),
    }));
    Ok(ExitStatus::Success)
}

/// Parses `--since` / `--until`: RFC 3339 (`2026-11-23T10:00:00Z`), a date (`2026-11-23`), or an
/// age (`30s`, `15m`, `2h`, `7d`) meaning that long before now.
///
/// ```
/// use examples::cli::commands::parse_time;
/// assert!(parse_time("2026-11-23T10:00:00Z").is_ok());
/// assert!(parse_time("2026-11-23").is_ok());
/// assert!(parse_time("15m").unwrap() < chrono::Utc::now());
/// assert!(parse_time("yesterday").is_err());
/// ```
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a time; expected RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23) or an age (30s, 15m, 2h, 7d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}`; expected s, m, h or d (e.g. 15m)"
            ));
        }
    };
    Ok(Utc::now() - chrono::Duration::seconds(secs))
}

/// `audit`: the audit log filtered by run, entity, key and time.
pub async fn audit(
    state: &Arc<dyn StateStore>,
    query: &AuditQuery,
    out: &Output,
) -> Result<ExitStatus, CliError> {
    let entries = state
        .audit(query)
        .await
        .map_err(|e| CliError::failed(format!("reading the audit log: {e}")))?;
    for e in &entries {
        out.line(output::audit_line(e));
    }
    out.line(format!("{} entries", entries.len()));
    out.json(&json!({"command": "audit", "entries": entries}));
    Ok(ExitStatus::Success)
}
