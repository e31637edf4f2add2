//! Run-time configuration of a simulated server: flavour, seeding, rate limits and faults.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Which Twenty server version the simulator imitates where versions differ.
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
    pub fn max_batch(self) -> usize {
        match self {
            ServerFlavor::Legacy => 60,
            _ => 200,
        }
    }

    /// Largest page size; bigger `limit` values are clamped to it.
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

/// A token-bucket rate limit: `requests` tokens refilled evenly over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Bucket capacity (requests allowed per window).
    pub requests: u32,
    /// Window over which the bucket refills completely.
    pub window: Duration,
}

impl RateLimitConfig {
    /// Twenty's default API-key budget: 100 requests per 60 seconds.
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
    pub fn none() -> Self {
        Self::default()
    }
}

/// Configuration of a [`crate::SimServer`]; build it with [`SimConfig::new`] and the builder methods.
#[derive(Clone)]
pub struct SimConfig {
    pub(crate) api_key: SecretString,
    pub(crate) seed_people: usize,
    pub(crate) rng_seed: u64,
    pub(crate) flavor: ServerFlavor,
    pub(crate) rate_limit: Option<RateLimitConfig>,
    pub(crate) faults: Faults,
    pub(crate) api_key_name: String,
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
            .finish()
    }
}

impl SimConfig {
    /// A configuration accepting `Authorization: Bearer <api_key>`, with no seeded data, flavour
    /// [`ServerFlavor::V2_21`], Twenty's default rate limit (100 per 60 s) and no faults.
    pub fn new(api_key: impl Into<String>) -> Self {
        SimConfig {
            api_key: SecretString::from(api_key.into()),
            seed_people: 0,
            rng_seed: 42,
            flavor: ServerFlavor::default(),
            rate_limit: Some(RateLimitConfig::twenty_default()),
            faults: Faults::default(),
            api_key_name: "twenty-sim".to_string(),
        }
    }

    /// Seed `n` people; companies (≈ n/10), opportunities, tasks, notes and their targets are derived.
    pub fn seed_people(mut self, n: usize) -> Self {
        self.seed_people = n;
        self
    }

    /// Seed of the RNG used for seeding data and for fault injection.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// The server version to imitate.
    pub fn flavor(mut self, flavor: ServerFlavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The rate limit, or `None` for unlimited.
    pub fn rate_limit(mut self, rate_limit: Option<RateLimitConfig>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Faults to inject from the first request on.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Name of the API key, shown in `createdBy.name` of records written through the API.
    pub fn api_key_name(mut self, name: impl Into<String>) -> Self {
        self.api_key_name = name.into();
        self
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
