//! The HTTP server, the request pipeline (auth → rate limit → faults → routes) and the handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Faults, RateLimitConfig, ServerFlavor, SimConfig};
use crate::db::{Db, Event};
use crate::error::json_response;
use crate::faults::{Bucket, Fault, FaultState, server_error, too_many_requests};
use crate::net::{ConnInfo, KillableListener};
use crate::store::{Clock, parse_id};
use crate::webhooks::{Delivery, deliveries, run_dispatcher};

/// Request counters of a simulator.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sim::{SimConfig, SimServer};
///
/// let server = SimServer::start(SimConfig::new("key")).await?;
/// let http = reqwest::Client::new();
/// http.get(server.base_url().join("rest/people")?).bearer_auth("key").send().await?;
/// http.get(server.base_url().join("rest/people")?).send().await?; // no API key
/// let stats = server.stats();
/// assert_eq!(stats.requests, 2);
/// assert_eq!(stats.by_status[&200], 1);
/// assert_eq!(stats.by_route["GET /rest/{plural}"], 2);
/// assert_eq!((stats.rate_limited, stats.dropped), (0, 0));
/// assert_eq!(stats.max_in_flight, 1); // one after the other
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
    /// The most requests handled at once (received, not yet answered).
    pub max_in_flight: u64,
}

/// Called after each list page is computed, with the object plural and the number of list
/// requests served so far; use it to change data "while the client pages".
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use serde_json::json;
/// use twenty_sim::{PageHook, SimConfig, SimHandle, SimServer};
///
/// let server = SimServer::start(SimConfig::new("key")).await?;
/// let handle = server.handle();
/// let hook: PageHook = Arc::new(|h: &SimHandle, plural: &str, n: u64| {
///     if plural == "people" && n == 1 {
///         h.insert_record("people", json!({"name": {"firstName": "Late"}}));
///     }
/// });
/// handle.set_page_hook(Some(hook));
/// let url = server.base_url().join("rest/people")?;
/// let body: serde_json::Value =
///     reqwest::Client::new().get(url).bearer_auth("key").send().await?.json().await?;
/// assert_eq!(body["totalCount"], 0, "the page was computed before the hook ran");
/// assert_eq!(handle.count("people"), 1);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
    /// Requests received and not yet answered.
    in_flight: std::sync::atomic::AtomicU64,
}

/// One request counted in [`Shared::in_flight`] until it is dropped (answered, or abandoned).
struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a std::sync::atomic::AtomicU64) -> (Self, u64) {
        let now = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        (InFlight(counter), now)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Shared {
    /// Queue webhook deliveries for events (call with the db lock released or held; never awaits).
    pub fn emit(&self, db: &Db, events: &[Event]) {
        if events.is_empty() || db.webhooks.is_empty() {
            return;
        }
        let d = deliveries(&db.webhooks, events, db.clock.now_ms());
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
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sim::{SimConfig, SimServer};
///
/// let server = SimServer::start(SimConfig::new("key").seed_people(5)).await?;
/// let url = server.base_url().join("rest/companies")?;
/// let resp = reqwest::Client::new().get(url).bearer_auth("key").send().await?;
/// assert_eq!(resp.status(), 200);
/// assert_eq!(server.stats().requests, 1);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use serde_json::json;
/// use twenty_sim::{SimConfig, SimServer};
///
/// let server = SimServer::start(SimConfig::new("key")).await?;
/// let handle = server.handle();
/// let created = handle.insert_record("companies", json!({"name": "Acme"}));
/// let id = created["id"].as_str().unwrap();
/// // A record made through the handle is visible through the API, and the other way round.
/// let url = server.base_url().join(&format!("rest/companies/{id}"))?;
/// let body: serde_json::Value =
///     reqwest::Client::new().get(url).bearer_auth("key").send().await?.json().await?;
/// assert_eq!(body["data"]["company"]["name"], "Acme");
/// assert_eq!(handle.stats().requests, 1);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
        ["rest", "open-api", kind] => format!("/rest/open-api/{kind}"),
        ["rest", _, "duplicates"] => "/rest/{plural}/duplicates".to_string(),
        ["rest", _, "groupBy"] => "/rest/{plural}/groupBy".to_string(),
        ["rest", _, "merge"] => "/rest/{plural}/merge".to_string(),
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
    let (_in_flight, now_in_flight) = InFlight::enter(&shared.in_flight);
    if let Ok(mut s) = shared.stats.lock() {
        s.requests += 1;
        *s.by_route.entry(label).or_default() += 1;
        s.max_in_flight = s.max_in_flight.max(now_in_flight);
    }
    let mut resp = handle_request(&shared, &conn, req).await;
    // The server's own clock, as Twenty's (Express) answers carry it; hyper would add this
    // host's.
    let date = http_date(shared.config.server_time().now());
    if let Ok(value) = http::HeaderValue::from_str(&date) {
        resp.headers_mut().insert(http::header::DATE, value);
    }
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

/// An HTTP date (RFC 9110's IMF-fixdate), e.g. `Sun, 22 Nov 2026 19:47:34 GMT`.
fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

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
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::net::SocketAddr;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let addr: SocketAddr = "127.0.0.1:0".parse()?; // port 0: any free port
    /// let server = SimServer::start_on(SimConfig::new("key"), addr).await?;
    /// assert!(server.local_addr().ip().is_loopback());
    /// assert_ne!(server.local_addr().port(), 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimServer> {
        let mut db = Db::new(config.api_key_name.clone());
        db.clock = Clock::on(config.server_time());
        db.mutation_maximum_affected_records = config.mutation_maximum_affected_records;
        if config.seed_people > 0 {
            crate::seed::seed(&mut db, config.seed_people, config.rng_seed);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_dispatcher(rx, config.server_time()));
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            flavor: config.flavor,
            rate: Mutex::new(config.rate_limit.map(Bucket::new)),
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.rng_seed)),
            stats: Mutex::new(SimStats::default()),
            deliveries: tx,
            page_hook: RwLock::new(None),
            list_requests: Default::default(),
            in_flight: Default::default(),
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
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let base = server.base_url();
    /// assert_eq!(base.port(), Some(server.local_addr().port()));
    /// let resp = reqwest::Client::new()
    ///     .get(base.join("rest/metadata/objects")?)
    ///     .bearer_auth("key")
    ///     .send()
    ///     .await?;
    /// assert_eq!(resp.status(), 200);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr))
            .expect("a socket address forms a valid URL")
    }

    /// The bound address.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let addr = server.local_addr();
    /// // Usable by clients that want a host and port rather than a URL.
    /// let stream = tokio::net::TcpStream::connect(addr).await?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to inspect and change the running simulator.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").seed_people(3)).await?;
    /// let handle = server.handle();
    /// let moved = handle.clone(); // cheap to clone and to move into tasks
    /// let count = tokio::spawn(async move { moved.count("people") }).await?;
    /// assert_eq!(count, 3);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Shorthand for `self.handle().set_faults(f)`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{Faults, SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let url = server.base_url().join("rest/people")?;
    /// let http = reqwest::Client::new();
    /// server.set_faults(Faults { rate_limit_fraction: 1.0, ..Faults::none() });
    /// assert_eq!(http.get(url.clone()).bearer_auth("key").send().await?.status(), 429);
    /// server.set_faults(Faults::none());
    /// assert_eq!(http.get(url).bearer_auth("key").send().await?.status(), 200);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_faults(&self, f: Faults) {
        self.handle.set_faults(f);
    }

    /// Shorthand for `self.handle().set_rate_limit(r)`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use twenty_sim::{RateLimitConfig, SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").rate_limit(None)).await?;
    /// server.set_rate_limit(Some(RateLimitConfig { requests: 1, window: Duration::from_secs(60) }));
    /// let url = server.base_url().join("rest/people")?;
    /// let http = reqwest::Client::new();
    /// assert_eq!(http.get(url.clone()).bearer_auth("key").send().await?.status(), 200);
    /// assert_eq!(http.get(url).bearer_auth("key").send().await?.status(), 429);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_rate_limit(&self, r: Option<RateLimitConfig>) {
        self.handle.set_rate_limit(r);
    }

    /// Shorthand for `self.handle().stats()`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let url = server.base_url().join("rest/people/not-a-uuid")?;
    /// reqwest::Client::new().get(url).bearer_auth("key").send().await?;
    /// let stats = server.stats();
    /// assert_eq!(stats, server.handle().stats());
    /// assert_eq!(stats.by_status.get(&400), Some(&1));
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> SimStats {
        self.handle.stats()
    }

    /// Stop accepting connections and wait for the server task.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let url = server.base_url().join("rest/people")?;
    /// server.shutdown().await;
    /// let http = reqwest::Client::new();
    /// assert!(http.get(url).bearer_auth("key").send().await.is_err(), "nobody listens any more");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::{Duration, Instant};
    /// use twenty_sim::{Faults, SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// handle.set_faults(Faults { latency: Duration::from_millis(100), ..Faults::none() });
    /// let started = Instant::now();
    /// let url = server.base_url().join("rest/people")?;
    /// let resp = reqwest::Client::new().get(url).bearer_auth("key").send().await?;
    /// assert_eq!(resp.status(), 200);
    /// assert!(started.elapsed() >= Duration::from_millis(100));
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_faults(&self, f: Faults) {
        if let Ok(mut s) = self.shared.faults.lock() {
            s.faults = f;
        }
    }

    /// Replace the rate limit (a fresh, full bucket) or remove it with `None`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use twenty_sim::{RateLimitConfig, SimConfig, SimServer};
    ///
    /// let limit = RateLimitConfig { requests: 1, window: Duration::from_secs(60) };
    /// let server = SimServer::start(SimConfig::new("key").rate_limit(Some(limit))).await?;
    /// let url = server.base_url().join("rest/people")?;
    /// let http = reqwest::Client::new();
    /// http.get(url.clone()).bearer_auth("key").send().await?;
    /// assert_eq!(http.get(url.clone()).bearer_auth("key").send().await?.status(), 429);
    /// server.handle().set_rate_limit(None);
    /// assert_eq!(http.get(url).bearer_auth("key").send().await?.status(), 200);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_rate_limit(&self, r: Option<RateLimitConfig>) {
        if let Ok(mut b) = self.shared.rate.lock() {
            *b = r.map(Bucket::new);
        }
    }

    /// Install or remove the hook called after every list page.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let pages = Arc::new(AtomicU64::new(0));
    /// let seen = pages.clone();
    /// server.handle().set_page_hook(Some(Arc::new(move |_, _, n| seen.store(n, Ordering::SeqCst))));
    /// let (url, http) = (server.base_url().join("rest/people")?, reqwest::Client::new());
    /// http.get(url.clone()).bearer_auth("key").send().await?;
    /// assert_eq!(pages.load(Ordering::SeqCst), 1);
    /// server.handle().set_page_hook(None);
    /// http.get(url).bearer_auth("key").send().await?;
    /// assert_eq!(pages.load(Ordering::SeqCst), 1, "the hook is gone");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_page_hook(&self, hook: Option<PageHook>) {
        if let Ok(mut h) = self.shared.page_hook.write() {
            *h = hook;
        }
    }

    /// The flavour being simulated.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{ServerFlavor, SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").flavor(ServerFlavor::Legacy)).await?;
    /// let handle = server.handle();
    /// assert_eq!(handle.flavor(), ServerFlavor::Legacy);
    /// assert_eq!(handle.flavor().max_batch(), 60);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn flavor(&self) -> ServerFlavor {
        self.shared.flavor
    }

    /// A snapshot of the request counters.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let url = server.base_url().join("rest/people")?;
    /// reqwest::Client::new().get(url).bearer_auth("key").send().await?;
    /// let snapshot = handle.stats();
    /// assert_eq!(snapshot.requests, 1);
    /// assert_eq!(snapshot.by_status[&200], 1);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> SimStats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Reset the request counters.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer, SimStats};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let url = server.base_url().join("rest/people")?;
    /// reqwest::Client::new().get(url).bearer_auth("key").send().await?;
    /// assert_eq!(handle.stats().requests, 1);
    /// handle.reset_stats();
    /// assert_eq!(handle.stats(), SimStats::default());
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn reset_stats(&self) {
        if let Ok(mut s) = self.shared.stats.lock() {
            *s = SimStats::default();
        }
    }

    /// Every record of an object, including soft-deleted ones, in id order (empty if unknown).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").seed_people(10)).await?;
    /// let handle = server.handle();
    /// let people = handle.records("people");
    /// assert_eq!(people.len(), 10);
    /// let first = people[0]["id"].as_str().unwrap().to_owned();
    /// handle.soft_delete_record("people", &first);
    /// assert_eq!(handle.records("people").len(), 10, "soft-deleted records are kept");
    /// assert!(handle.records("no-such-object").is_empty());
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn records(&self, plural: &str) -> Vec<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.tables
            .get(plural)
            .map(|t| t.rows.values().map(|r| Value::Object(r.parse())).collect())
            .unwrap_or_default()
    }

    /// One record by id, including soft-deleted ones.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let id = handle.insert_record("companies", json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
    /// assert_eq!(handle.record("companies", &id).unwrap()["name"], "Acme");
    /// handle.soft_delete_record("companies", &id);
    /// assert!(handle.record("companies", &id).unwrap()["deletedAt"].is_string());
    /// assert!(handle.record("companies", "not-a-uuid").is_none());
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn record(&self, plural: &str, id: &str) -> Option<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        let id = parse_id(id)?;
        db.tables.get(plural)?.get(id).map(Value::Object)
    }

    /// Number of records of an object that are not soft-deleted.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// assert_eq!(handle.count("people"), 0);
    /// let id = handle.insert_record("people", json!({"name": {"firstName": "Ada"}}))["id"].as_str().unwrap().to_owned();
    /// assert_eq!(handle.count("people"), 1);
    /// handle.soft_delete_record("people", &id);
    /// assert_eq!(handle.count("people"), 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn count(&self, plural: &str) -> usize {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.tables.get(plural).map(|t| t.live).unwrap_or(0)
    }

    /// Number of records including soft-deleted ones.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let id = handle.insert_record("people", json!({"name": {"firstName": "Ada"}}))["id"].as_str().unwrap().to_owned();
    /// handle.soft_delete_record("people", &id);
    /// assert_eq!((handle.count("people"), handle.count_with_deleted("people")), (0, 1));
    /// handle.destroy_record("people", &id);
    /// assert_eq!(handle.count_with_deleted("people"), 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let person = server.handle().insert_record("people", json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}}));
    /// assert!(person["id"].is_string());
    /// assert_eq!(person["createdAt"], person["updatedAt"]);
    /// assert_eq!(person["name"]["lastName"], "Lovelace");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn insert_record(&self, plural: &str, record: Value) -> Value {
        match self.try_insert_record(plural, record) {
            Ok(v) => v,
            Err(e) => panic!("twenty-sim: cannot insert a {plural} record: {e}"),
        }
    }

    /// Create a record, returning Twenty's error message on failure.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let email = json!({"emails": {"primaryEmail": "ada@example.com"}});
    /// assert!(handle.try_insert_record("people", email.clone()).is_ok());
    /// let duplicate = handle.try_insert_record("people", email);
    /// assert!(duplicate.is_err(), "primary emails are unique");
    /// assert!(handle.try_insert_record("starships", json!({})).is_err());
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn try_insert_record(&self, plural: &str, record: Value) -> Result<Value, String> {
        self.write(|db| db.create_one(plural, &record, false))
    }

    /// Patch a record as if through `PATCH /rest/{plural}/{id}` (touches `updatedAt`, fires
    /// webhooks). `None` when the record does not exist, is soft-deleted or the patch is invalid.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let before = handle.insert_record("people", json!({"jobTitle": "Engineer"}));
    /// let id = before["id"].as_str().unwrap();
    /// let after = handle.update_record("people", id, json!({"jobTitle": "CTO"})).unwrap();
    /// assert_eq!(after["jobTitle"], "CTO");
    /// assert_ne!(after["updatedAt"], before["updatedAt"]);
    /// handle.soft_delete_record("people", id);
    /// assert!(handle.update_record("people", id, json!({"jobTitle": "CEO"})).is_none());
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn update_record(&self, plural: &str, id: &str, patch: Value) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.update_one(plural, id, &patch)).ok()
    }

    /// Soft-delete a record (sets `deletedAt` = `updatedAt`). `None` if absent or already deleted.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let id = handle.insert_record("companies", json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
    /// let deleted = handle.soft_delete_record("companies", &id).unwrap();
    /// assert_eq!(deleted["deletedAt"], deleted["updatedAt"]);
    /// assert!(handle.soft_delete_record("companies", &id).is_none(), "already deleted");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn soft_delete_record(&self, plural: &str, id: &str) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.delete_one(plural, id, true)).ok()
    }

    /// Destroy a record for good. Returns whether it existed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let id = handle.insert_record("companies", json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
    /// assert!(handle.destroy_record("companies", &id));
    /// assert!(handle.record("companies", &id).is_none());
    /// assert!(!handle.destroy_record("companies", &id), "already gone");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn destroy_record(&self, plural: &str, id: &str) -> bool {
        let Some(id) = parse_id(id) else { return false };
        self.write(|db| db.delete_one(plural, id, false)).is_ok()
    }

    /// Restore a soft-deleted record. `None` if absent or not deleted.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// let handle = server.handle();
    /// let id = handle.insert_record("companies", json!({"name": "Acme"}))["id"].as_str().unwrap().to_owned();
    /// assert!(handle.restore_record("companies", &id).is_none(), "not deleted");
    /// handle.soft_delete_record("companies", &id);
    /// let restored = handle.restore_record("companies", &id).unwrap();
    /// assert!(restored["deletedAt"].is_null());
    /// assert_eq!(handle.count("companies"), 1);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn restore_record(&self, plural: &str, id: &str) -> Option<Value> {
        let id = parse_id(id)?;
        self.write(|db| db.restore_one(plural, id)).ok()
    }

    /// The registered webhooks (as `GET /rest/metadata/webhooks` lists them).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key")).await?;
    /// assert!(server.handle().webhooks().is_empty());
    /// let resp = reqwest::Client::new()
    ///     .post(server.base_url().join("rest/metadata/webhooks")?)
    ///     .bearer_auth("key")
    ///     .json(&json!({"targetUrl": "http://127.0.0.1:9/hook", "operations": ["person.created"]}))
    ///     .send()
    ///     .await?;
    /// assert_eq!(resp.status(), 201);
    /// let hooks = server.handle().webhooks();
    /// assert_eq!(hooks.len(), 1);
    /// assert_eq!(hooks[0]["targetUrl"], "http://127.0.0.1:9/hook");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn webhooks(&self) -> Vec<Value> {
        let db = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.webhooks.iter().cloned().map(Value::Object).collect()
    }
}
