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

/// A per-workspace token bucket that counts like Twenty's throttler
/// (`ThrottlerService.tokenBucketThrottleOrThrow` in `throttler.service.ts`):
///
/// * whole tokens only: a request is allowed when
///   `min(tokens + floor(elapsed_ms * requests / window_ms), requests) >= 1`, where `elapsed_ms`
///   runs from the last **allowed** request (Twenty's `lastRefillAt`);
/// * an allowed request stores `available - 1` tokens and restarts that clock, so the fraction
///   of a token earned since the previous allowed request is lost;
/// * a refused request changes nothing.
///
/// Time is whole milliseconds since the bucket was made, like the `Date.now()` it mirrors.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub cfg: RateLimitConfig,
    tokens: u32,
    last_refill_ms: u64,
    origin: Instant,
}

impl Bucket {
    pub fn new(cfg: RateLimitConfig) -> Self {
        Bucket {
            cfg,
            tokens: cfg.requests,
            last_refill_ms: 0,
            origin: Instant::now(),
        }
    }

    /// Take a token now: `Ok(tokens left)` or `Err(time until one is available)`.
    pub fn take(&mut self) -> Result<u32, Duration> {
        let now_ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.take_at(now_ms)
    }

    /// [`Self::take`] at `now_ms` milliseconds after the bucket was made.
    fn take_at(&mut self, now_ms: u64) -> Result<u32, Duration> {
        let available = self.available_at(now_ms);
        if available == 0 {
            return Err(self.wait_for_a_token(now_ms));
        }
        self.tokens = available - 1;
        self.last_refill_ms = now_ms;
        Ok(self.tokens)
    }

    /// Tokens a request at `now_ms` would find.
    fn available_at(&self, now_ms: u64) -> u32 {
        let elapsed = now_ms.saturating_sub(self.last_refill_ms);
        let total = u64::from(self.tokens).saturating_add(self.refill(elapsed));
        u32::try_from(total.min(u64::from(self.cfg.requests))).unwrap_or(self.cfg.requests)
    }

    /// Whole tokens earned in `elapsed_ms`, computed as Twenty does in JavaScript numbers:
    /// `Math.floor(elapsed * (maxTokens / timeWindow))`.
    fn refill(&self, elapsed_ms: u64) -> u64 {
        let rate = f64::from(self.cfg.requests) / self.window_ms() as f64;
        // A float-to-int `as` saturates, so a huge product cannot wrap.
        (elapsed_ms as f64 * rate).floor() as u64
    }

    /// The window in whole milliseconds, at least one.
    fn window_ms(&self) -> u64 {
        u64::try_from(self.cfg.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// How long after `now_ms` (when the bucket is empty) the first token is earned: the least
    /// `elapsed` with `refill(elapsed) >= 1`, less the time already elapsed. A bucket of zero
    /// requests never refills: one window.
    fn wait_for_a_token(&self, now_ms: u64) -> Duration {
        if self.cfg.requests == 0 {
            return self.cfg.window;
        }
        let mut needed = self.window_ms().div_ceil(u64::from(self.cfg.requests));
        // Float rounding can move the first whole token by a millisecond either way.
        for _ in 0..2 {
            if needed > 1 && self.refill(needed - 1) >= 1 {
                needed -= 1;
            } else if self.refill(needed) < 1 {
                needed = needed.saturating_add(1);
            }
        }
        let elapsed = now_ms.saturating_sub(self.last_refill_ms);
        Duration::from_millis(needed.saturating_sub(elapsed).max(1))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(requests: u32, window_ms: u64) -> Bucket {
        Bucket::new(RateLimitConfig {
            requests,
            window: Duration::from_millis(window_ms),
        })
    }

    /// Spend every token at `t`.
    fn drain(b: &mut Bucket, t: u64) {
        while b.take_at(t).is_ok() {}
    }

    #[test]
    fn a_full_bucket_allows_its_budget_then_waits_one_token_interval() {
        let mut b = bucket(100, 60_000);
        for left in (0..100).rev() {
            assert_eq!(b.take_at(0), Ok(left));
        }
        assert_eq!(b.take_at(0), Err(Duration::from_millis(600)));
        assert_eq!(b.take_at(599), Err(Duration::from_millis(1)));
        assert_eq!(b.take_at(600), Ok(0));
    }

    #[test]
    fn the_fraction_earned_before_an_allowed_request_is_lost() {
        // One token per 600 ms; each gap of 900 ms earns 1.5, of which 1 counts.
        let mut b = bucket(100, 60_000);
        drain(&mut b, 0);
        assert_eq!(b.take_at(900), Ok(0));
        assert_eq!(b.take_at(1_800), Ok(0));
        // A continuous bucket would still hold a whole token here.
        assert_eq!(b.take_at(1_801), Err(Duration::from_millis(599)));
    }

    #[test]
    fn a_refused_request_does_not_restart_the_refill_clock() {
        let mut b = bucket(2, 1_000);
        drain(&mut b, 0);
        assert_eq!(b.take_at(300), Err(Duration::from_millis(200)));
        assert_eq!(b.take_at(500), Ok(0));
    }

    #[test]
    fn tokens_never_exceed_the_budget_and_huge_gaps_do_not_overflow() {
        let mut b = bucket(3, 1_000);
        drain(&mut b, 0);
        assert_eq!(b.take_at(u64::MAX), Ok(2));
        let mut b = bucket(u32::MAX, 1);
        assert_eq!(b.take_at(u64::MAX), Ok(u32::MAX - 1));
    }

    #[test]
    fn a_bucket_of_zero_requests_refuses_everything_for_a_window() {
        let mut b = bucket(0, 60_000);
        assert_eq!(b.take_at(0), Err(Duration::from_secs(60)));
        assert_eq!(b.take_at(10_000_000), Err(Duration::from_secs(60)));
    }

    /// The pattern of `twenty-client`'s pacer (a `governor` GCRA limiter: a burst of 95 of 100,
    /// then one request per 606 ms that banks lateness): on time it is sustainable, but each
    /// late request followed by one that catches up (gap < 600 ms) costs a whole token.
    #[test]
    fn a_paced_client_loses_a_token_each_time_it_runs_late_and_catches_up() {
        let mut b = bucket(100, 60_000);
        for _ in 0..95 {
            b.take_at(0).expect("the burst fits");
        }
        let mut t = 0;
        for _ in 0..10 {
            t += 606;
            assert_eq!(b.take_at(t), Ok(5), "on time: one token earned per request");
        }
        for left in (0..5).rev() {
            t += 706; // 100 ms late: one token earned ...
            assert_eq!(b.take_at(t), Ok(left + 1));
            t += 506; // ... and the catch-up earns none.
            assert_eq!(b.take_at(t), Ok(left));
        }
        t += 706;
        assert_eq!(b.take_at(t), Ok(0));
        t += 506;
        assert!(b.take_at(t).is_err(), "the sixth catch-up is refused");
    }
}
