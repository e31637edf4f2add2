//! Run-time configuration of a simulated server: flavour, seeding, rate limits and faults.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Which Twenty server version the simulator imitates where versions differ.
///
/// Parses from the names the `twenty-sim` binary accepts (`v2_21`, `newest`, `legacy`, ...).
///
/// ```
/// use twenty_sim::ServerFlavor;
///
/// assert_eq!(ServerFlavor::default(), ServerFlavor::V2_21);
/// assert_eq!("latest".parse::<ServerFlavor>(), Ok(ServerFlavor::Newest));
/// assert_eq!("1.18".parse::<ServerFlavor>(), Ok(ServerFlavor::Legacy));
/// assert!("v3".parse::<ServerFlavor>().is_err());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerFlavor {
    /// Twenty 2.21.0 exactly as captured (the default): `messages[]` error bodies, 429 without
    /// headers, `PATCH /rest/restore/{plural}/{id}` answers 400, duplicate custom field → 400.
    #[default]
    V2_21,
    /// The newest code (2026): usage-limit 429 body with `Retry-After` and `X-RateLimit-*`
    /// headers, restore by id works, duplicate custom field → 409.
    Newest,
    /// An older (≈ v1.18) server: `message` string error bodies, batch and page maximum 60,
    /// webhooks only at the legacy `/rest/webhooks` path.
    Legacy,
}

impl ServerFlavor {
    /// Largest accepted batch for `POST /rest/batch/{plural}`.
    ///
    /// ```
    /// use twenty_sim::ServerFlavor;
    ///
    /// assert_eq!(ServerFlavor::V2_21.max_batch(), 200);
    /// assert_eq!(ServerFlavor::Legacy.max_batch(), 60);
    /// ```
    pub fn max_batch(self) -> usize {
        match self {
            ServerFlavor::Legacy => 60,
            _ => 200,
        }
    }

    /// Largest page size; bigger `limit` values are clamped to it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{ServerFlavor, SimConfig, SimServer};
    ///
    /// let flavor = ServerFlavor::Legacy;
    /// assert_eq!(flavor.max_page(), 60);
    /// let server = SimServer::start(SimConfig::new("key").seed_people(100).flavor(flavor)).await?;
    /// let body: serde_json::Value = reqwest::Client::new()
    ///     .get(server.base_url().join("rest/people?limit=500")?)
    ///     .bearer_auth("key")
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert_eq!(body["data"]["people"].as_array().map(Vec::len), Some(flavor.max_page()));
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn max_page(self) -> usize {
        match self {
            ServerFlavor::Legacy => 60,
            _ => 200,
        }
    }
}

impl std::str::FromStr for ServerFlavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v2_21" | "2.21" | "2.21.0" | "v2.21" | "default" => Ok(ServerFlavor::V2_21),
            "newest" | "new" | "latest" => Ok(ServerFlavor::Newest),
            "legacy" | "old" | "v1.18" | "1.18" => Ok(ServerFlavor::Legacy),
            other => Err(format!(
                "unknown server flavour '{other}': use one of v2_21, newest, legacy"
            )),
        }
    }
}

/// A token-bucket rate limit: `requests` tokens, refilled at `requests` per `window` in whole
/// tokens the way Twenty's throttler counts (`throttler.service.ts`): a request is allowed when
/// `min(tokens + floor(ms since the last allowed request × requests / window_ms), requests) ≥ 1`;
/// an allowed request spends one token and restarts that clock (the fraction of a token earned
/// since the previous allowed request is lost); a refused one changes nothing. So a client must
/// leave at least `window / requests` between requests once its burst is spent: requests closer
/// together earn nothing, however late the one before them was.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use twenty_sim::{RateLimitConfig, SimConfig, SimServer};
///
/// let limit = RateLimitConfig { requests: 2, window: Duration::from_secs(60) };
/// let server = SimServer::start(SimConfig::new("key").rate_limit(Some(limit))).await?;
/// let url = server.base_url().join("rest/people")?;
/// let http = reqwest::Client::new();
/// let mut statuses = Vec::new();
/// for _ in 0..3 {
///     statuses.push(http.get(url.clone()).bearer_auth("key").send().await?.status().as_u16());
/// }
/// assert_eq!(statuses, [200, 200, 429]);
/// assert_eq!(server.stats().rate_limited, 1);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Bucket capacity (requests allowed per window).
    pub requests: u32,
    /// Window over which the bucket refills completely.
    pub window: Duration,
}

impl RateLimitConfig {
    /// Twenty's default API-key budget: 100 requests per 60 seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_sim::RateLimitConfig;
    ///
    /// let limit = RateLimitConfig::twenty_default();
    /// assert_eq!((limit.requests, limit.window), (100, Duration::from_secs(60)));
    /// assert_eq!(limit, RateLimitConfig::default());
    /// ```
    pub fn twenty_default() -> Self {
        RateLimitConfig {
            requests: 100,
            window: Duration::from_secs(60),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self::twenty_default()
    }
}

/// Faults injected into responses, drawn from the run's seeded RNG (reproducible).
///
/// Fractions are probabilities in `0.0..=1.0` applied independently per authenticated request,
/// in this order: dropped connection, 429, 5xx, truncated body, malformed JSON body.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sim::{Faults, SimConfig, SimServer};
///
/// let faults = Faults { server_error_fraction: 1.0, ..Faults::none() };
/// let server = SimServer::start(SimConfig::new("key").faults(faults)).await?;
/// let url = server.base_url().join("rest/people")?;
/// let resp = reqwest::Client::new().get(url).bearer_auth("key").send().await?;
/// assert!([500, 502, 503, 504].contains(&resp.status().as_u16()));
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Fraction of requests answered with a synthetic 429 (same body as a real throttle).
    pub rate_limit_fraction: f64,
    /// Fraction answered with 500, 502, 503 or 504.
    pub server_error_fraction: f64,
    /// Latency added before every request is handled.
    pub latency: Duration,
    /// Fraction of connections closed without any response.
    pub drop_fraction: f64,
    /// Fraction of successful responses whose JSON body is cut short (valid HTTP, invalid JSON).
    pub malformed_fraction: f64,
    /// Fraction of responses whose body ends before the announced `Content-Length`.
    pub truncated_fraction: f64,
}

impl Faults {
    /// No faults at all (the default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_sim::Faults;
    ///
    /// let faults = Faults::none();
    /// assert_eq!(faults, Faults::default());
    /// assert_eq!(faults.drop_fraction + faults.server_error_fraction + faults.rate_limit_fraction, 0.0);
    /// assert_eq!(faults.latency, Duration::ZERO);
    /// ```
    pub fn none() -> Self {
        Self::default()
    }
}

/// Configuration of a [`crate::SimServer`]; build it with [`SimConfig::new`] and the builder methods.
///
/// `Debug` never shows the API key.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_sim::{ServerFlavor, SimConfig, SimServer};
///
/// let config = SimConfig::new("fake-api-key")
///     .seed_people(20)
///     .rng_seed(7)
///     .flavor(ServerFlavor::Newest)
///     .rate_limit(None);
/// assert!(!format!("{config:?}").contains("fake-api-key"));
/// let server = SimServer::start(config).await?;
/// assert_eq!(server.handle().flavor(), ServerFlavor::Newest);
/// assert_eq!(server.handle().count("people"), 20);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SimConfig {
    pub(crate) api_key: SecretString,
    pub(crate) seed_people: usize,
    pub(crate) rng_seed: u64,
    pub(crate) flavor: ServerFlavor,
    pub(crate) rate_limit: Option<RateLimitConfig>,
    pub(crate) faults: Faults,
    pub(crate) api_key_name: String,
    pub(crate) clock_offset: chrono::TimeDelta,
    pub(crate) mutation_maximum_affected_records: usize,
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &"[REDACTED]")
            .field("seed_people", &self.seed_people)
            .field("rng_seed", &self.rng_seed)
            .field("flavor", &self.flavor)
            .field("rate_limit", &self.rate_limit)
            .field("faults", &self.faults)
            .field("clock_offset", &self.clock_offset)
            .field(
                "mutation_maximum_affected_records",
                &self.mutation_maximum_affected_records,
            )
            .finish()
    }
}

impl SimConfig {
    /// A configuration accepting `Authorization: Bearer <api_key>`, with no seeded data, flavour
    /// [`ServerFlavor::V2_21`], Twenty's default rate limit (100 per 60 s) and no faults.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("fake-api-key")).await?;
    /// let url = server.base_url().join("rest/people")?;
    /// let http = reqwest::Client::new();
    /// let ok = http.get(url.clone()).bearer_auth("fake-api-key").send().await?;
    /// assert_eq!(ok.status(), 200);
    /// let wrong = http.get(url).bearer_auth("another-key").send().await?;
    /// assert!(wrong.status().is_client_error());
    /// assert_eq!(server.handle().count("people"), 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(api_key: impl Into<String>) -> Self {
        SimConfig {
            api_key: SecretString::from(api_key.into()),
            seed_people: 0,
            rng_seed: 42,
            flavor: ServerFlavor::default(),
            rate_limit: Some(RateLimitConfig::twenty_default()),
            faults: Faults::default(),
            api_key_name: "twenty-sim".to_string(),
            clock_offset: chrono::TimeDelta::zero(),
            mutation_maximum_affected_records: 100,
        }
    }

    /// Seed `n` people; companies (≈ n/10), opportunities, tasks, notes and their targets are derived.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").seed_people(100)).await?;
    /// let handle = server.handle();
    /// assert_eq!(handle.count("people"), 100);
    /// assert!(handle.count("companies") > 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn seed_people(mut self, n: usize) -> Self {
        self.seed_people = n;
        self
    }

    /// Seed of the RNG used for seeding data and for fault injection.
    ///
    /// The same seed gives the same data.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let names = |server: &SimServer| -> Vec<serde_json::Value> {
    ///     server.handle().records("people").into_iter().map(|p| p["name"].clone()).collect()
    /// };
    /// let a = SimServer::start(SimConfig::new("key").seed_people(30).rng_seed(7)).await?;
    /// let b = SimServer::start(SimConfig::new("key").seed_people(30).rng_seed(7)).await?;
    /// assert_eq!(names(&a), names(&b));
    /// a.shutdown().await;
    /// b.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// The server version to imitate.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{ServerFlavor, SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").flavor(ServerFlavor::Legacy)).await?;
    /// let url = server.base_url().join("rest/people/not-a-uuid")?;
    /// let resp = reqwest::Client::new().get(url).bearer_auth("key").send().await?;
    /// assert_eq!(resp.status(), 400);
    /// let body: serde_json::Value = resp.json().await?;
    /// // Legacy servers answer with a `message` string, not a `messages` array.
    /// assert_eq!(body["message"], "'not-a-uuid' is not a valid UUID");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn flavor(mut self, flavor: ServerFlavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The rate limit, or `None` for unlimited.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").rate_limit(None)).await?;
    /// let url = server.base_url().join("rest/people?limit=1")?;
    /// let http = reqwest::Client::new();
    /// for _ in 0..120 {
    ///     // More than Twenty's 100 requests per minute, never throttled.
    ///     assert_eq!(http.get(url.clone()).bearer_auth("key").send().await?.status(), 200);
    /// }
    /// assert_eq!(server.stats().rate_limited, 0);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn rate_limit(mut self, rate_limit: Option<RateLimitConfig>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Faults to inject from the first request on.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use twenty_sim::{Faults, SimConfig, SimServer};
    ///
    /// let faults = Faults { drop_fraction: 1.0, ..Faults::none() };
    /// let server = SimServer::start(SimConfig::new("key").faults(faults)).await?;
    /// let url = server.base_url().join("rest/people")?;
    /// let sent = reqwest::Client::new().get(url).bearer_auth("key").send().await;
    /// assert!(sent.is_err(), "the connection is closed without an answer");
    /// assert_eq!(server.stats().dropped, 1);
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Name of the API key, shown in `createdBy.name` of records written through the API.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").api_key_name("crm-sync")).await?;
    /// let person = server.handle().insert_record("people", json!({"name": {"firstName": "Ada"}}));
    /// assert_eq!(person["createdBy"]["source"], "API");
    /// assert_eq!(person["createdBy"]["name"], "crm-sync");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn api_key_name(mut self, name: impl Into<String>) -> Self {
        self.api_key_name = name.into();
        self
    }

    /// Run the server's clock `offset` away from this host's (negative: behind), as a Twenty
    /// whose host clock is off: every `createdAt`, `updatedAt` and `deletedAt` it stamps, its
    /// webhooks' `eventDate` and signed timestamp, and the `Date` header of its answers follow
    /// that clock. Default: zero.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chrono::{DateTime, TimeDelta, Utc};
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let config = SimConfig::new("key").clock_offset(TimeDelta::minutes(-10));
    /// let server = SimServer::start(config).await?;
    /// let person = server.handle().insert_record("people", json!({"name": {"firstName": "Ada"}}));
    /// let stamped: DateTime<Utc> = person["updatedAt"].as_str().unwrap().parse()?;
    /// assert!(Utc::now() - stamped > TimeDelta::minutes(9));
    /// let answer = reqwest::Client::new()
    ///     .get(server.base_url().join("rest/people")?)
    ///     .bearer_auth("key")
    ///     .send()
    ///     .await?;
    /// let date = answer.headers()["date"].to_str()?;
    /// let date = DateTime::parse_from_rfc2822(date)?.to_utc();
    /// assert!(Utc::now() - date > TimeDelta::minutes(9));
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn clock_offset(mut self, offset: chrono::TimeDelta) -> Self {
        self.clock_offset = offset;
        self
    }

    /// The most records one filter mutation may affect (`PATCH`, `DELETE` and restore of
    /// `/rest/{plural}?filter=…`), as Twenty's `MUTATION_MAXIMUM_AFFECTED_RECORDS` sets (default
    /// 100). A filter matching more is answered 400 and changes nothing. FACTS.md lists the
    /// setting and a 400 for "too many records"; the answer's wording is this simulator's own
    /// (not captured), and whether the newest Twenty still enforces the cap is unconfirmed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use serde_json::json;
    /// use twenty_sim::{SimConfig, SimServer};
    ///
    /// let server = SimServer::start(SimConfig::new("key").mutation_maximum_affected_records(2)).await?;
    /// let ids: Vec<String> = ["Ada", "Grace", "Edsger"]
    ///     .iter()
    ///     .map(|name| {
    ///         let person = server.handle().insert_record("people", json!({"name": {"firstName": name}}));
    ///         person["id"].as_str().unwrap().to_owned()
    ///     })
    ///     .collect();
    /// let filter = format!("id[in]:[{}]", ids.join(","));
    /// let mut url = server.base_url().join("rest/people")?;
    /// url.query_pairs_mut().append_pair("filter", &filter).append_pair("soft_delete", "true");
    /// let http = reqwest::Client::new();
    /// let answer = http.delete(url).bearer_auth("key").send().await?;
    /// assert_eq!(answer.status(), 400);
    /// assert_eq!(server.handle().count("people"), 3, "nothing deleted");
    /// server.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn mutation_maximum_affected_records(mut self, records: usize) -> Self {
        self.mutation_maximum_affected_records = records;
        self
    }

    /// The server's time, [`clock_offset`](Self::clock_offset) away from this host's.
    pub(crate) fn server_time(&self) -> crate::store::ServerTime {
        crate::store::ServerTime::with_offset(self.clock_offset.num_milliseconds())
    }

    pub(crate) fn key_matches(&self, presented: &str) -> bool {
        let expected = self.api_key.expose_secret().as_bytes();
        let presented = presented.as_bytes();
        if expected.len() != presented.len() {
            return false;
        }
        expected
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
