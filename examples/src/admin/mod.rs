//! The admin server: status, runs, a sync trigger, the audit log and Twenty's webhooks over HTTP,
//! with a small status page.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /` | none | the page (a shell: its data comes from the endpoints below with the token typed into it) |
//! | `GET /health` | none | `{"status": "ok"}` |
//! | `GET /status` | bearer | configured entities, last run per entity, last error, whether a run is in progress, next scheduled run |
//! | `GET /runs?limit=N` | bearer | the latest run reports, newest first |
//! | `GET /runs/{id}` | bearer | one run report (404 when unknown) |
//! | `POST /sync` | bearer | starts a run in the background (`{"mode": "pull"\|"push"\|"sync", "dry_run": bool}`); 202, or 409 while a run is in progress |
//! | `GET /audit?run=&entity=&key=&since=&until=&limit=` | bearer | the audit log, filtered |
//! | `POST /webhooks/twenty` | signature | a Twenty webhook delivery, verified by the engine (see [`crate::cli::listen`]) |
//!
//! Admin endpoints need `Authorization: Bearer <token>`; the token comes from a
//! [`SecretProvider`](twenty_sync_core::SecretProvider) and is compared in constant time
//! ([`auth`]). Errors are JSON: `{"error": {"code": "...", "message": "..."}}`. Bodies are limited
//! to [`MAX_BODY_BYTES`] (413 beyond).
//!
//! ```no_run
//! # async fn demo(engine: std::sync::Arc<examples::cli::app::Engine>) -> Result<(), Box<dyn std::error::Error>> {
//! use examples::admin::{router, AdminState};
//! use secrecy::SecretString;
//!
//! let state = AdminState::new(engine, vec!["contacts".into()], SecretString::from("admin-token"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router(state)).await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod handlers;
mod page;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use twenty_sync_core::{RunMode, RunOptions};

use crate::cli::app::Engine;

/// The largest request body accepted (webhook deliveries included): 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the admin server serves: the engine, the entity names, the admin token and the trigger's
/// bookkeeping. Cheap to clone.
///
/// ```no_run
/// # fn demo(engine: std::sync::Arc<examples::cli::app::Engine>) {
/// use std::time::Duration;
/// use examples::admin::AdminState;
/// use secrecy::SecretString;
///
/// let state = AdminState::new(engine, vec!["contacts".into()], SecretString::from("t"))
///     .poll_interval(Duration::from_secs(300));
/// # }
/// ```
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    entities: Vec<String>,
    token: SecretString,
    running: AtomicBool,
    poll_interval: Option<Duration>,
    next_run: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("entities", &self.inner.entities)
            .field("token", &"[REDACTED]")
            .field("poll_interval", &self.inner.poll_interval)
            .finish_non_exhaustive()
    }
}

/// Why [`AdminState::start_run`] did not start a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// A run started here is still in progress.
    Busy,
}

impl AdminState {
    /// State for `engine` syncing `entities`, guarded by the admin `token`.
    pub fn new(engine: Arc<Engine>, entities: Vec<String>, token: SecretString) -> Self {
        AdminState {
            inner: Arc::new(Inner {
                engine,
                entities,
                token,
                running: AtomicBool::new(false),
                poll_interval: None,
                next_run: Mutex::new(None),
            }),
        }
    }

    /// Declares the polling interval, so `/status` can say when the next scheduled run is
    /// (see [`spawn_polling`](Self::spawn_polling)). Call before cloning the state.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.poll_interval = Some(every);
        }
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Whether a run started through this state is in progress.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Starts a `mode` run in the background, or refuses while one is in progress. The run's
    /// report is saved by the engine (status `running` at once), so `/runs` shows it.
    pub fn start_run(&self, mode: RunMode, dry_run: bool) -> Result<(), StartError> {
        if self
            .inner
            .running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(StartError::Busy);
        }
        let running = RunningFlag {
            state: self.clone(),
        };
        tokio::spawn(async move {
            let opts = RunOptions::new().dry_run(dry_run);
            match running.state.inner.engine.run(mode, opts).await {
                Ok(outcome) => tracing::info!(
                    run_id = %outcome.report.run_id,
                    status = ?outcome.report.status,
                    "admin-triggered run finished"
                ),
                Err(e) => tracing::warn!(error = %e, "admin-triggered run failed"),
            }
            // Dropping `running` clears the flag, here or while a panic unwinds.
        });
        Ok(())
    }

    /// Runs `mode` every [`poll_interval`](Self::poll_interval) in the background (skipping a
    /// tick while a run is in progress); `None` when no interval was set.
    pub fn spawn_polling(&self, mode: RunMode) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.inner.poll_interval?;
        let state = self.clone();
        Some(tokio::spawn(async move {
            loop {
                let next = Utc::now() + chrono::Duration::from_std(every).unwrap_or_default();
                *state.inner.next_run.lock().expect("next_run lock") = Some(next);
                tokio::time::sleep(every).await;
                if state.start_run(mode, false).is_err() {
                    tracing::info!("scheduled run skipped: a run is in progress");
                }
            }
        }))
    }

    fn next_run(&self) -> Option<DateTime<Utc>> {
        *self.inner.next_run.lock().expect("next_run lock")
    }
}

/// Holds the "run in progress" flag of a triggered run and clears it when dropped: after the run
/// finishes or fails, and also when it panics or its task is cancelled, so the next `POST /sync`
/// is accepted instead of answering 409 until a restart.
struct RunningFlag {
    state: AdminState,
}

impl Drop for RunningFlag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "the admin-triggered run panicked (see the panic message above); accepting new \
                 runs again: check the run's report with GET /runs and fix the cause"
            );
        }
        self.state.inner.running.store(false, Ordering::SeqCst);
    }
}

/// The admin router: the routes in the [module docs](self), the webhook route of
/// [`crate::cli::listen`], and a body limit of [`MAX_BODY_BYTES`].
pub fn router(state: AdminState) -> Router {
    let admin = Router::new()
        .route("/status", get(handlers::status))
        .route("/runs", get(handlers::runs))
        .route("/runs/{id}", get(handlers::run))
        .route("/sync", post(handlers::sync))
        .route("/audit", get(handlers::audit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/", get(page::page))
        .with_state(state.clone());
    admin
        .merge(crate::cli::listen::router(state.inner.engine.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Binds `addr` and serves [`router`] until the task is dropped; returns the bound address.
pub async fn serve(
    addr: std::net::SocketAddr,
    state: AdminState,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the admin server stopped");
        }
    });
    Ok((bound, task))
}
