//! The JSON endpoints of the admin server.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use twenty_sync_core::{AuditQuery, RunMode, RunReport, RunStatus, StateStore};

use super::{AdminState, StartError};

/// How many past runs `/status` looks through for the last run of each entity.
const STATUS_HISTORY: usize = 100;

/// A JSON error answer: `{"error": {"code", "message"}}`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

fn store_error(e: impl std::fmt::Display) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_store",
        format!("could not read the sync state: {e}"),
    )
}

fn brief(r: &RunReport) -> Value {
    json!({
        "run_id": r.run_id,
        "mode": r.mode,
        "dry_run": r.dry_run,
        "status": r.status,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "entities": r.entities,
        "failed": r.failures.len(),
        "warnings": r.warnings,
        "error": r.error,
    })
}

fn last_error(r: &RunReport) -> Option<String> {
    if let Some(e) = &r.error {
        return Some(e.clone());
    }
    r.failures.first().map(|f| {
        format!(
            "{} record(s) failed; first: {} key={}: {}",
            r.failures.len(),
            f.entity,
            f.local_key.as_deref().unwrap_or("-"),
            f.reason
        )
    })
}

/// `GET /status`.
pub(crate) async fn status(State(state): State<AdminState>) -> Response {
    let runs = match state.engine().state().runs(STATUS_HISTORY).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let entities: Vec<Value> = state
        .inner
        .entities
        .iter()
        .map(|entity| {
            let prefix = format!("{entity}:");
            let last = runs.iter().find(|r| {
                !r.dry_run
                    && r.entities
                        .keys()
                        .any(|k| k == entity || k.starts_with(&prefix))
            });
            json!({"entity": entity, "last_run": last.map(brief)})
        })
        .collect();
    let last_error = runs
        .iter()
        .find(|r| matches!(r.status, RunStatus::Failed | RunStatus::PartiallyFailed))
        .map(|r| json!({"run_id": r.run_id, "at": r.finished_at.unwrap_or(r.started_at), "message": last_error(r)}));
    let last_sync = runs
        .iter()
        .find(|r| !r.dry_run && r.status != RunStatus::Running)
        .and_then(|r| r.finished_at);
    // The newest run's warnings: what still needs attention (an older run's may be fixed).
    let warnings = runs
        .first()
        .filter(|r| !r.warnings.is_empty())
        .map(|r| json!({"run_id": r.run_id, "at": r.started_at, "messages": r.warnings}));
    Json(json!({
        "entities": entities,
        "last_sync": last_sync,
        "last_error": last_error,
        "warnings": warnings,
        "running": state.is_running(),
        "next_scheduled_run": state.next_run(),
        "poll_interval_secs": state.inner.poll_interval.map(|d| d.as_secs()),
    }))
    .into_response()
}

/// Query of `GET /runs`.
#[derive(Debug, Deserialize)]
pub(crate) struct RunsQuery {
    limit: Option<usize>,
}

/// `GET /runs`.
pub(crate) async fn runs(State(state): State<AdminState>, Query(q): Query<RunsQuery>) -> Response {
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    match state.engine().state().runs(limit).await {
        Ok(runs) => {
            Json(json!({"runs": runs.iter().map(brief).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => store_error(e),
    }
}

/// `GET /runs/{id}`.
pub(crate) async fn run(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match state.engine().state().run(&id).await {
        Ok(Some(report)) => Json(report).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no run with id {id:?}"),
        ),
        Err(e) => store_error(e),
    }
}

/// Body of `POST /sync` (all optional: a real `sync` run by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncRequest {
    mode: Option<String>,
    dry_run: Option<bool>,
}

/// `POST /sync`: 202 when started, 409 while a run is in progress.
pub(crate) async fn sync(State(state): State<AdminState>, body: axum::body::Bytes) -> Response {
    let req: SyncRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SyncRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!(
                        "expected {{\"mode\": \"pull\"|\"push\"|\"sync\", \"dry_run\": true|false}}: {e}"
                    ),
                );
            }
        }
    };
    let mode = match req.mode.as_deref().unwrap_or("sync") {
        "pull" => RunMode::Pull,
        "push" => RunMode::Push,
        "sync" => RunMode::Sync,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("unknown mode {other:?}; expected pull, push or sync"),
            );
        }
    };
    let dry_run = req.dry_run.unwrap_or(false);
    match state.start_run(mode, dry_run) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"started": true, "mode": mode, "dry_run": dry_run, "see": "/runs"})),
        )
            .into_response(),
        Err(StartError::Busy) => error(
            StatusCode::CONFLICT,
            "run_in_progress",
            "a run is in progress; try again when it has finished (see /status)",
        ),
    }
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditParams {
    run: Option<String>,
    entity: Option<String>,
    key: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

/// `GET /audit`.
pub(crate) async fn audit(
    State(state): State<AdminState>,
    Query(p): Query<AuditParams>,
) -> Response {
    let q = AuditQuery {
        run_id: p.run,
        entity: p.entity,
        key: p.key,
        since: p.since,
        until: p.until,
        limit: Some(p.limit.unwrap_or(200).clamp(1, 10_000)),
    };
    match state.engine().state().audit(&q).await {
        Ok(entries) => Json(json!({"entries": entries})).into_response(),
        Err(e) => store_error(e),
    }
}
