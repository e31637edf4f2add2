//! Rate limiting (token bucket with Twenty's 429 shapes) and seeded fault injection.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::config::{Faults, RateLimitConfig, ServerFlavor};
use crate::error::json_response;
use crate::schema::WORKSPACE_ID;
use axum::response::Response;
use http::HeaderValue;

/// A per-workspace token bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub cfg: RateLimitConfig,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(cfg: RateLimitConfig) -> Self {
        Bucket {
            cfg,
            tokens: f64::from(cfg.requests),
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let window = self.cfg.window.as_secs_f64().max(1e-9);
        let rate = f64::from(self.cfg.requests) / window;
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate)
            .min(f64::from(self.cfg.requests));
        self.last = now;
    }

    /// Take a token: `Ok(remaining)` or `Err(seconds until one is available)`.
    pub fn take(&mut self) -> Result<u32, Duration> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens.floor() as u32)
        } else {
            let window = self.cfg.window.as_secs_f64().max(1e-9);
            let rate = f64::from(self.cfg.requests.max(1)) / window;
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// The 429 answer of a flavour.
pub(crate) fn too_many_requests(
    flavor: ServerFlavor,
    cfg: RateLimitConfig,
    retry: Duration,
) -> Response {
    let ms = cfg.window.as_millis();
    match flavor {
        ServerFlavor::Newest => {
            let secs = retry.as_secs_f64().ceil().max(1.0) as u64;
            let period = cfg.window.as_secs().max(1);
            let body = json!({
                "statusCode": 429,
                "error": "RATE_LIMITED",
                "messages": [format!("Rate limit exceeded for apiKey: {} requests per {}s.", cfg.requests, period)],
                "limitKind": "speed",
                "exhaustedKind": "limit",
                "scope": {"spenderType": "apiKey", "spenderId": WORKSPACE_ID, "operationType": "API_REQUEST"},
                "limit": cfg.requests,
                "remaining": 0,
                "periodCount": period,
                "periodUnit": "second",
                "retryAfterSeconds": secs
            });
            let mut r = json_response(429, body.to_string());
            let h = r.headers_mut();
            h.insert("Retry-After", HeaderValue::from(secs));
            h.insert("X-RateLimit-Limit", HeaderValue::from(cfg.requests));
            h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
            r
        }
        ServerFlavor::Legacy => json_response(
            429,
            json!({"statusCode": 429, "error": "HttpException",
                   "message": format!("Limit reached ({} tokens per {ms} ms)", cfg.requests)})
            .to_string(),
        ),
        _ => json_response(
            429,
            json!({"statusCode": 429, "error": "HttpException",
                   "messages": [format!("Limit reached ({} tokens per {ms} ms)", cfg.requests)]})
            .to_string(),
        ),
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Drop,
    RateLimited,
    ServerError(u16),
    Truncate,
    Malformed,
}

/// Fault settings plus the seeded RNG that draws them.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub faults: Faults,
    rng: ChaCha8Rng,
}

impl FaultState {
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultState {
            faults,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17),
        }
    }

    fn hit(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// Draw the fault for the next request.
    pub fn draw(&mut self) -> Fault {
        let f = self.faults.clone();
        if self.hit(f.drop_fraction) {
            return Fault::Drop;
        }
        if self.hit(f.rate_limit_fraction) {
            return Fault::RateLimited;
        }
        if self.hit(f.server_error_fraction) {
            let codes = [500u16, 502, 503, 504];
            let i = self.rng.random_range(0..codes.len());
            return Fault::ServerError(codes[i]);
        }
        if self.hit(f.truncated_fraction) {
            return Fault::Truncate;
        }
        if self.hit(f.malformed_fraction) {
            return Fault::Malformed;
        }
        Fault::None
    }
}

/// A synthetic 5xx: Twenty's JSON 500, or a proxy's HTML page for 502/503/504.
pub(crate) fn server_error(status: u16) -> Response {
    if status == 500 {
        return json_response(
            500,
            json!({"statusCode": 500, "error": "InternalServerErrorException", "messages": ["Internal server error"]})
                .to_string(),
        );
    }
    let reason = match status {
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        _ => "Gateway Time-out",
    };
    let mut r = json_response(
        status,
        format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
        ),
    );
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html"),
    );
    r
}
