//! The HTTP listener of `watch --listen`: Twenty's webhook deliveries feed the engine between
//! polling runs.
//!
//! Routes: `GET /health` and `POST /webhooks/twenty` (verified with the webhook secret named by
//! `webhook.secret`; forged, altered or stale deliveries get 401 and change nothing). The admin
//! server (`examples::admin`) serves the same webhook route together with its admin endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use twenty_sync_core::SyncErrorKind;
use twenty_sync_core::engine::WebhookOutcome;

use super::app::{CliError, Engine};

/// The router: `GET /health`, `POST /webhooks/twenty`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/webhooks/twenty", post(webhook))
        .with_state(engine)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn webhook(State(engine): State<Arc<Engine>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = engine
        .handle_webhook(
            header(&headers, "x-twenty-webhook-timestamp"),
            header(&headers, "x-twenty-webhook-signature"),
            &body,
        )
        .await;
    match outcome {
        Ok(WebhookOutcome::Applied(report)) => {
            tracing::info!(run_id = %report.run_id, status = ?report.status, "webhook delivery applied");
            (
                StatusCode::OK,
                Json(json!({"outcome": "applied", "run_id": report.run_id, "status": report.status})),
            )
                .into_response()
        }
        Ok(WebhookOutcome::Duplicate) => {
            (StatusCode::OK, Json(json!({"outcome": "duplicate"}))).into_response()
        }
        Ok(WebhookOutcome::Ignored(why)) => {
            (StatusCode::OK, Json(json!({"outcome": "ignored", "reason": why}))).into_response()
        }
        Ok(WebhookOutcome::Deferred) => (
            StatusCode::ACCEPTED,
            Json(json!({"outcome": "deferred", "reason": "a run holds the lease; the next poll picks the change up"})),
        )
            .into_response(),
        Ok(other) => (
            StatusCode::OK,
            Json(json!({"outcome": format!("{other:?}")})),
        )
            .into_response(),
        Err(e) => {
            let status = match e.kind() {
                SyncErrorKind::WebhookRejected => StatusCode::UNAUTHORIZED,
                SyncErrorKind::Config => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(error = %e, "webhook delivery not applied");
            (status, Json(json!({"error": e.to_string()}))).into_response()
        }
    }
}

/// Binds `addr` and serves `router` in the background; returns the bound address (port 0 picks
/// a free port).
pub async fn serve(addr: SocketAddr, router: Router) -> Result<SocketAddr, CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::failed(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot read the bound address: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the webhook listener stopped");
        }
    });
    Ok(bound)
}
