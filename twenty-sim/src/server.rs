//! The HTTP server, the request pipeline (auth → rate limit → faults → routes) and the handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Faults, RateLimitConfig, ServerFlavor, SimConfig};
use crate::db::{Db, Event};
use crate::error::json_response;
use crate::faults::{server_error, too_many_requests, Bucket, Fault, FaultState};
use crate::net::{ConnInfo, KillableListener};
use crate::store::parse_id;
use crate::webhooks::{deliveries, run_dispatcher, Delivery};

/// Request counters of a simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// All requests received (including rejected ones).
    pub requests: u64,
    /// Responses per HTTP status (dropped connections are not counted here).
    pub by_status: BTreeMap<u16, u64>,
    /// Requests answered 429 (real throttling and injected).
    pub rate_limited: u64,
    /// Requests per route, e.g. `GET /rest/{plural}` or `POST /rest/batch/{plural}`.
    pub by_route: BTreeMap<String, u64>,
    /// Connections dropped by fault injection.
    pub dropped: u64,
}

/// Called after each list page is computed, with the object plural and the number of list
/// requests served so far; use it to change data "while the client pages".
pub type PageHook = Arc<dyn Fn(&SimHandle, &str, u64) + Send + Sync>;

pub(crate) struct Shared {
    pub db: RwLock<Db>,
    pub config: SimConfig,
    pub flavor: ServerFlavor,
    rate: Mutex<Option<Bucket>>,
    faults: Mutex<FaultState>,
    stats: Mutex<SimStats>,
    deliveries: mpsc::UnboundedSender<Vec<Delivery>>,
    page_hook: RwLock<Option<PageHook>>,
    list_requests: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Queue webhook deliveries for events (call with the db lock released or held; never awaits).
    pub fn emit(&self, db: &Db, events: &[Event]) {
        if events.is_empty() || db.webhooks.is_empty() {
            return;
        }
        let d = deliveries(&db.webhooks, events);
        if !d.is_empty() {
            let _ = self.deliveries.send(d);
        }
    }

    pub fn after_list(self: &Arc<Self>, plural: &str) {
        let n = self
            .list_requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let hook = self.page_hook.read().ok().and_then(|h| h.clone());
        if let Some(hook) = hook {
            hook(
                &SimHandle {
                    shared: self.clone(),
                },
                plural,
                n,
            );
        }
    }
}

/// A running simulator. Dropping it without [`SimServer::shutdown`] leaves the server task running
/// until the runtime stops.
pub struct SimServer {
    addr: SocketAddr,
    handle: SimHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// A cheap, cloneable handle to inspect and change a running simulator.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("flavor", &self.shared.flavor)
            .finish()
    }
}

fn route_label(method: &str, path: &str) -> String {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let shape = match segs.as_slice() {
        ["rest", "metadata", kind] => format!("/rest/metadata/{kind}"),
        ["rest", "metadata", kind, _] => format!("/rest/metadata/{kind}/{{id}}"),
        ["rest", "batch", _] => "/rest/batch/{plural}".to_string(),
        ["rest", "restore", _] => "/rest/restore/{plural}".to_string(),
        ["rest", "restore", _, _] => "/rest/restore/{plural}/{id}".to_string(),
        ["rest", "webhooks"] => "/rest/webhooks".to_string(),
        ["rest", "webhooks", _] => "/rest/webhooks/{id}".to_string(),
        ["rest", _] => "/rest/{plural}".to_string(),
        ["rest", _, "duplicates"] => "/rest/{plural}/duplicates".to_string(),
        ["rest", _, _] => "/rest/{plural}/{id}".to_string(),
        _ => "other".to_string(),
    };
    format!("{method} {shape}")
}

fn bearer(req: &Request) -> Option<String> {
    if let Some(h) = req.headers().get(http::header::AUTHORIZATION) {
        let s = h.to_str().ok()?.trim();
        let token = s
            .strip_prefix("Bearer ")
            .or_else(|| s.strip_prefix("bearer "))
            .unwrap_or("");
        return Some(token.trim().to_string()).filter(|t| !t.is_empty());
    }
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

async fn truncate(resp: Response, malformed: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = full.slice(0..full.len() / 2);
    if malformed {
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(half));
    }
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(full.len()),
    );
    let stream = futures::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "truncated by fault injection",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(stream))
}

async fn pipeline(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: Request,
) -> Response {
    let label = route_label(req.method().as_str(), req.uri().path());
    if let Ok(mut s) = shared.stats.lock() {
        s.requests += 1;
        *s.by_route.entry(label).or_default() += 1;
    }
    let resp = handle_request(&shared, &conn, req).await;
    let status = resp.status().as_u16();
    if let Ok(mut s) = shared.stats.lock() {
        if resp.extensions().get::<Dropped>().is_some() {
            s.dropped += 1;
        } else {
            *s.by_status.entry(status).or_default() += 1;
            if status == 429 {
                s.rate_limited += 1;
            }
        }
    }
    resp
}

#[derive(Clone, Copy)]
struct Dropped;

async fn handle_request(shared: &Arc<Shared>, conn: &ConnInfo, req: Request) -> Response {
    let flavor = shared.flavor;
    if !req.uri().path().starts_with("/rest") {
        return json_response(
            404,
            json!({"statusCode": 404, "error": "NotFoundException",
                   "messages": [format!("Cannot {} {}", req.method(), req.uri().path())]})
            .to_string(),
        );
    }
    match bearer(&req) {
        None => {
            let mut r = json_response(
                403,
                json!({"statusCode": 403, "messages": ["Missing authentication token"], "error": "FORBIDDEN_EXCEPTION"}).to_string(),
            );
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return r;
        }
        Some(t) if !shared.config.key_matches(&t) => {
            let body = if flavor == ServerFlavor::Legacy {
                json!({"statusCode": 401, "message": "Token invalid.", "error": "UNAUTHENTICATED"})
            } else {
                json!({"statusCode": 401, "messages": ["Token invalid."], "error": "UNAUTHENTICATED"})
            };
            let mut r = json_response(401, body.to_string());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return r;
        }
        Some(_) => {}
    }
    let throttled = match shared.rate.lock() {
        Ok(mut b) => match b.as_mut() {
            Some(bucket) => bucket.take().err().map(|retry| (bucket.cfg, retry)),
            None => None,
        },
        Err(_) => None,
    };
    if let Some((cfg, retry)) = throttled {
        return too_many_requests(flavor, cfg, retry);
    }
    let (fault, latency) = match shared.faults.lock() {
        Ok(mut f) => (f.draw(), f.faults.latency),
        Err(_) => (Fault::None, std::time::Duration::ZERO),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Fault::Drop => {
            conn.kill();
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(Dropped);
            return r;
        }
        Fault::RateLimited => {
            let cfg = shared
                .rate
                .lock()
                .ok()
                .and_then(|b| b.as_ref().map(|b| b.cfg))
                .unwrap_or_default();
            return too_many_requests(flavor, cfg, cfg.window / cfg.requests.max(1));
        }
        Fault::ServerError(code) => return server_error(code),
        _ => {}
    }
    let resp = crate::routes::route(shared, req).await;
    match fault {
        Fault::Truncate if resp.status().is_success() => truncate(resp, false).await,
        Fault::Malformed if resp.status().is_success() => truncate(resp, true).await,
        _ => resp,
    }
}

impl SimServer {
    /// Start on `127.0.0.1` with an ephemeral port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").seed_people(10)).await?;
    /// let handle = server.handle();
    /// let person = handle.insert_record("people", json!({"emails": {"primaryEmail": "Ada@Example.com"}}));
    /// assert_eq!(person["emails"]["primaryEmail"], "ada@example.com");
    /// assert_eq!(handle.count("people"), 11);
    /// server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(config: SimConfig) -> std::io::Result<SimServer> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Start on a given address.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimServer> {
        let mut db = Db::new(config.api_key_name.clone());
        if config.seed_people > 0 {
            crate::seed::seed(&mut db, config.seed_people, config.rng_seed);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_dispatcher(rx));
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            flavor: config.flavor,
            rate: Mutex::new(config.rate_limit.map(Bucket::new)),
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.rng_seed)),
            stats: Mutex::new(SimStats::default()),
            deliveries: tx,
            page_hook: RwLock::new(None),
            list_requests: Default::default(),
            config,
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(pipeline).with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                KillableListener(listener),
                app.into_make_service_with_connect_info::<ConnInfo>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulator server stopped with an error");
            }
        });
        tracing::info!(%addr, "twenty-sim listening");
        Ok(SimServer {
            addr,
            handle: SimHandle { shared },
            stop: Some(stop_tx),
            task,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT/`; clients append `rest/...`.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr))
            .expect("a socket address forms a valid URL")
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to inspect and change the running simulator.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Shorthand for `self.handle().set_faults(f)`.
    pub fn set_faults(&self, f: Faults) {
        self.handle.set_faults(f);
    }

    /// Shorthand for `self.handle().set_rate_limit(r)`.
    pub fn set_rate_limit(&self, r: Option<RateLimitConfig>) {
        self.handle.set_rate_limit(r);
    }

    /// Shorthand for `self.handle().stats()`.
    pub fn stats(&self) -> SimStats {
        self.handle.stats()
    }

    /// Stop accepting connections and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let task = &mut self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl SimHandle {
    /// Replace the injected faults (takes effect on the next request).
    pub fn set_faults(&self, f: Faults) {
        if let Ok(mut s) = self.shared.faults.lock() {
            s.faults = f;
        }
    }

    /// Replace the rate limit (a fresh, full bucket) or remove it with `None`.
    pub fn set_rate_limit(&self, r: Option<RateLimitConfig>) {
        if let Ok(mut b) = self.shared.rate.lock() {
            *b = r.map(Bucket::new);
        }
    }

    /// Install or remove the hook called after every list page.
    pub fn set_page_hook(&self, hook: Option<PageHook>) {
        if let Ok(mut h) = self.shared.page_hook.write() {
            *h = hook;
        }
    }

    /// The flavour being simulated.
    pub fn flavor(&self) -> ServerFlavor {
        self.shared.flavor
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Reset the request counters.
    pub fn reset_stats(&self) {
        if let Ok(mut s) = self.shared.stats.lock() {
            *s = SimStats::default();
        }
    }

    /// Every record of an object, including soft-deleted ones, in id order (empty if unknown).
    pub fn records(&self, plural: &str) -> Vec<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.tables
            .get(plural)
            .map(|t| t.rows.values().map(|r| Value::Object(r.parse())).collect())
            .unwrap_or_default()
    }

    /// One record by id, including soft-deleted ones.
    pub fn record(&self, plural: &str, id: &str) -> Option<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        let id = parse_id(id)?;
        db.tables.get(plural)?.get(id).map(Value::Object)
    }

    /// Number of records of an object that are not soft-deleted.
    pub fn count(&self, plural: &str) -> usize {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.tables.get(plural).map(|t| t.live).unwrap_or(0)
    }

    /// Number of records including soft-deleted ones.
    pub fn count_with_deleted(&self, plural: &str) -> usize {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.tables.get(plural).map(|t| t.rows.len()).unwrap_or(0)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<(T, Vec<Event>), crate::error::ApiError>,
    ) -> Result<T, String> {
        let mut db = self.shared.db.write().unwrap_or_else(|e| e.into_inner());
        let (v, events) = f(&mut db).map_err(|e| e.message)?;
        self.shared.emit(&db, &events);
        Ok(v)
    }

    /// Create a record as if through `POST /rest/{plural}` (ids, timestamps, webhooks).
    ///
    /// # Panics
    /// When the object is unknown or the record is invalid (a test-setup error); use
    /// [`SimHandle::try_insert_record`] to get the error instead.
    pub fn insert_record(&self, plural: &str, record: Value) -> Value {
        match self.try_insert_record(plural, record) {
            Ok(v) => v,
            Err(e) => panic!("twenty-sim: cannot insert a {plural} record: {e}"),
        }
    }

    /// Create a record, returning Twenty's error message on failure.
    pub fn try_insert_record(&self, plural: &str, record: Value) -> Result<Value, String> {
        self.write(|db| db.create_one(plural, &record, false))
    }

    /// Patch a record as if through `PATCH /rest/{plural}/{id}` (touches `updatedAt`, fires
    /// webhooks). `None` when the record does not exist, is soft-deleted or the patch is invalid.
    pub fn update_record(&self, plural: &str, id: &str, patch: Value) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.update_one(plural, id, &patch)).ok()
    }

    /// Soft-delete a record (sets `deletedAt` = `updatedAt`). `None` if absent or already deleted.
    pub fn soft_delete_record(&self, plural: &str, id: &str) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.delete_one(plural, id, true)).ok()
    }

    /// Destroy a record for good. Returns whether it existed.
    pub fn destroy_record(&self, plural: &str, id: &str) -> bool {
        let Some(id) = parse_id(id) else { return false };
        self.write(|db| db.delete_one(plural, id, false)).is_ok()
    }

    /// Restore a soft-deleted record. `None` if absent or not deleted.
    pub fn restore_record(&self, plural: &str, id: &str) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.restore_one(plural, id)).ok()
    }

    /// The registered webhooks (as `GET /rest/metadata/webhooks` lists them).
    pub fn webhooks(&self) -> Vec<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.webhooks.iter().cloned().map(Value::Object).collect()
    }
}
