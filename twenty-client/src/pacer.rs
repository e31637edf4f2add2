//! Client-side pacing shared by all clones of a client: a `governor` limiter (replaceable when the
//! server reveals a different budget) and a "blocked until" instant set by 429 answers.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateLimit;

/// Safety margin on the pacing interval so that clock jitter never pushes a window over its budget.
const PACING_MARGIN: f64 = 1.01;

pub(crate) struct Pacer {
    limiter: RwLock<Option<(RateLimit, Arc<DefaultDirectRateLimiter>)>>,
    blocked_until: Mutex<Option<Instant>>,
}

fn make_limiter(limit: RateLimit) -> Arc<DefaultDirectRateLimiter> {
    let interval = limit
        .interval()
        .mul_f64(PACING_MARGIN)
        .max(Duration::from_nanos(1));
    // Twenty meters API keys with token buckets (capacity = budget, refilled evenly over the window).
    // Mirror that: a burst of 95 % of the budget (the slack absorbs network jitter and other clients'
    // stray requests), then one request per interval (+1 %).
    let requests = limit.requests();
    let burst = requests.saturating_sub((requests / 20).max(1)).max(1);
    let quota = Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    Arc::new(RateLimiter::direct(quota))
}

impl Pacer {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Pacer {
            limiter: RwLock::new(limit.map(|l| (l, make_limiter(l)))),
            blocked_until: Mutex::new(None),
        }
    }

    /// The budget currently enforced, if any.
    pub(crate) fn current(&self) -> Option<RateLimit> {
        self.limiter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(l, _)| *l)
    }

    /// Wait for permission to send one request; returns the time spent waiting.
    pub(crate) async fn acquire(&self) -> Duration {
        let start = Instant::now();
        loop {
            let until = *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        let limiter = self
            .limiter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, l)| l.clone());
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        start.elapsed()
    }

    /// Whether requests are currently held by a 429 pause.
    pub(crate) fn is_blocked(&self) -> bool {
        self.blocked_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t > Instant::now())
            .unwrap_or(false)
    }

    /// Hold every request (of every clone) until `now + wait`.
    pub(crate) fn block_for(&self, wait: Duration) {
        let target = Instant::now() + wait;
        let mut guard = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        if guard.map(|t| t < target).unwrap_or(true) {
            *guard = Some(target);
        }
    }

    /// Adopt a budget learned from the server when it is stricter than (or absent from) the current one.
    pub(crate) fn learn(&self, learned: RateLimit) {
        let mut guard = self.limiter.write().unwrap_or_else(|p| p.into_inner());
        let stricter = match guard.as_ref() {
            None => true,
            Some((cur, _)) => learned.interval() > cur.interval(),
        };
        if stricter {
            tracing::info!(
                requests = learned.requests(),
                per_ms = learned.per().as_millis() as u64,
                "adopting the rate limit announced by the server"
            );
            *guard = Some((learned, make_limiter(learned)));
        }
    }
}

/// Extract the server's budget from a 429 answer: body `limit`/`periodCount`/`periodUnit` (newer servers)
/// or a message such as "Limit reached (100 tokens per 60000 ms)" (2.21.0) or
/// "Rate limit exceeded for apiKey: 100 requests per 60s." (newer).
pub(crate) fn learn_from_body(body: &[u8]) -> Option<RateLimit> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let (Some(limit), Some(count)) = (
        v.get("limit").and_then(|l| l.as_u64()),
        v.get("periodCount").and_then(|c| c.as_f64()),
    ) {
        let unit = v
            .get("periodUnit")
            .and_then(|u| u.as_str())
            .unwrap_or("second");
        if let Some(per) = unit_duration(count, unit) {
            return Some(RateLimit::new(u32::try_from(limit).ok()?, per));
        }
    }
    let mut texts: Vec<&str> = Vec::new();
    if let Some(arr) = v.get("messages").and_then(|m| m.as_array()) {
        texts.extend(arr.iter().filter_map(|m| m.as_str()));
    }
    if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
        texts.push(m);
    }
    texts.into_iter().find_map(parse_limit_message)
}

fn unit_duration(count: f64, unit: &str) -> Option<Duration> {
    if !count.is_finite() || count <= 0.0 {
        return None;
    }
    let secs = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => count / 1000.0,
        "s" | "sec" | "second" | "seconds" => count,
        "m" | "min" | "minute" | "minutes" => count * 60.0,
        "h" | "hour" | "hours" => count * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// Parse "<N> tokens per <M> ms" / "<N> requests per <M>s" anywhere in a message.
pub(crate) fn parse_limit_message(msg: &str) -> Option<RateLimit> {
    let cleaned: String = msg
        .chars()
        .map(|c| {
            if c == '(' || c == ')' || c == ',' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    for i in 0..words.len().saturating_sub(3) {
        let n: u32 = match words[i].parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        if !matches!(words[i + 1], "tokens" | "requests" | "calls") || words[i + 2] != "per" {
            continue;
        }
        let rest = words[i + 3].trim_end_matches('.');
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, unit) = rest.split_at(split);
        let count: f64 = num.parse().ok()?;
        let unit = if unit.is_empty() {
            words
                .get(i + 4)
                .map(|u| u.trim_end_matches('.'))
                .unwrap_or("s")
        } else {
            unit
        };
        return unit_duration(count, unit).map(|per| RateLimit::new(n, per));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twenty_2_21_limit_message() {
        let rl = parse_limit_message("Limit reached (100 tokens per 60000 ms)").expect("parsed");
        assert_eq!(rl, RateLimit::new(100, Duration::from_secs(60)));
    }

    #[test]
    fn parses_newer_limit_message_and_body_fields() {
        let rl = parse_limit_message("Rate limit exceeded for apiKey: 100 requests per 60s.")
            .expect("parsed");
        assert_eq!(rl, RateLimit::new(100, Duration::from_secs(60)));
        let body = br#"{"statusCode":429,"limit":50,"periodCount":60,"periodUnit":"second","messages":["x"]}"#;
        assert_eq!(
            learn_from_body(body),
            Some(RateLimit::new(50, Duration::from_secs(60)))
        );
    }

    #[test]
    fn unknown_message_yields_nothing() {
        assert_eq!(parse_limit_message("Too many requests"), None);
    }
}
