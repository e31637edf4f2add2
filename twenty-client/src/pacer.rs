//! Client-side pacing shared by all clones of a client: a `governor` limiter (replaceable when the
//! server reveals a different budget) and a "blocked until" instant set by 429 answers.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateLimit;

/// Safety margin on the pacing interval so that clock jitter never pushes a window over its budget.
const PACING_MARGIN: f64 = 1.01;

/// Longest window a budget learned from a server's answer may have: one day. Twenty's windows
/// are a second to a minute; a longer one, one too long to represent, or a budget of zero
/// requests is taken for nonsense and ignored (with a debug log), so that a learned budget
/// never paces slower than one request a day nor overflows the pacing arithmetic.
pub(crate) const MAX_LEARNED_WINDOW: Duration = Duration::from_secs(86_400);

pub(crate) struct Pacer {
    limiter: RwLock<Option<(RateLimit, Arc<DefaultDirectRateLimiter>)>>,
    blocked_until: Mutex<Option<Instant>>,
    /// 429 answers since the last successful request (they lengthen the pause of the next one).
    strikes: AtomicU32,
}

/// Whether a new limiter may spend its burst at once (the server's bucket is presumably full:
/// a client starting with a configured budget) or starts empty (it was learned from a 429, so
/// the server's bucket has just run dry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Full,
    Empty,
}

fn make_limiter(limit: RateLimit, start: Start) -> Arc<DefaultDirectRateLimiter> {
    let interval = limit
        .interval()
        .mul_f64(PACING_MARGIN)
        .max(Duration::from_nanos(1));
    // Twenty meters API keys with token buckets (capacity = budget, refilled evenly over the window).
    // Mirror that: a burst of 95 % of the budget (the slack absorbs network jitter and other clients'
    // stray requests), then one request per interval (+1 %).
    let requests = limit.requests();
    let burst = requests.saturating_sub((requests / 20).max(1)).max(1);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    let limiter = RateLimiter::direct(quota);
    if start == Start::Empty {
        // Spend the burst: from here one request per interval, as the server's bucket refills.
        let _ = limiter.check_n(burst);
    }
    Arc::new(limiter)
}

impl Pacer {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Pacer {
            limiter: RwLock::new(limit.map(|l| (l, make_limiter(l, Start::Full)))),
            blocked_until: Mutex::new(None),
            strikes: AtomicU32::new(0),
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

    /// A request was answered 429: adopt the budget the answer announces (`learned`) if it is
    /// stricter than the current one, and hold every request for the server's `retry_after`
    /// or, without one, until the budget's bucket has a token again: one interval (`per /
    /// requests`), doubled for each further 429 without a success in between, at most one
    /// window. Twenty's buckets refill evenly, so one interval suffices and the learned limiter
    /// (started empty) then paces at the refill rate; were a server to reset a fixed window
    /// instead, the doubling reaches the window's end after a few 429s. Returns the pause.
    pub(crate) fn rate_limited(
        &self,
        retry_after: Option<Duration>,
        learned: Option<RateLimit>,
    ) -> Option<Duration> {
        if let Some(l) = learned {
            self.learn(l);
        }
        let strikes = self.strikes.fetch_add(1, Ordering::Relaxed).min(16);
        let wait = retry_after.or_else(|| {
            // The budget now enforced: the learned one if it was adopted.
            let limit = self.current()?;
            Some(
                limit
                    .interval()
                    .mul_f64(PACING_MARGIN)
                    .saturating_mul(1 << strikes)
                    .min(limit.per()),
            )
        })?;
        self.block_for(wait);
        Some(wait)
    }

    /// A request got an answer that was not a 429: the next 429 pauses for one interval again.
    pub(crate) fn succeeded(&self) {
        if self.strikes.load(Ordering::Relaxed) != 0 {
            self.strikes.store(0, Ordering::Relaxed);
        }
    }

    /// Adopt a budget learned from the server when it is stricter than (or absent from) the
    /// current one; the new limiter starts empty (the server's bucket just ran dry).
    fn learn(&self, learned: RateLimit) {
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
            *guard = Some((learned, make_limiter(learned, Start::Empty)));
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
        if let Some(budget) = sane_budget(limit, count, unit) {
            return Some(budget);
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

/// `requests` per `count` `unit`s as a budget, if it is one a server could mean: at least one
/// request, a known unit, a window longer than zero and at most [`MAX_LEARNED_WINDOW`].
fn sane_budget(requests: u64, count: f64, unit: &str) -> Option<RateLimit> {
    let window = unit_seconds(unit).and_then(|secs| learned_window(count * secs));
    match (u32::try_from(requests), window) {
        (Ok(requests @ 1..), Some(per)) => Some(RateLimit::new(requests, per)),
        _ => {
            tracing::debug!(
                requests,
                count,
                unit,
                "ignoring the rate limit announced by the server: no requests, an unknown unit, or a window of zero or over a day"
            );
            None
        }
    }
}

/// Seconds in one `unit` ("ms", "s", "minute", "hours" …); `None` for an unknown unit.
fn unit_seconds(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => Some(0.001),
        "s" | "sec" | "second" | "seconds" => Some(1.0),
        "m" | "min" | "minute" | "minutes" => Some(60.0),
        "h" | "hour" | "hours" => Some(3600.0),
        _ => None,
    }
}

/// A window of `secs` seconds, if longer than zero and at most [`MAX_LEARNED_WINDOW`].
fn learned_window(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|window| *window <= MAX_LEARNED_WINDOW)
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
        return sane_budget(u64::from(n), count, unit);
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

    /// A 429 without `Retry-After` pauses until the learned bucket has a token again (one
    /// interval), not for a whole window; the learned limiter starts empty, so the requests
    /// after the pause are paced one interval apart instead of bursting into an empty bucket.
    #[tokio::test]
    async fn a_429_pauses_one_interval_and_the_learned_budget_paces_from_empty() {
        let pacer = Pacer::new(None);
        // 20 per second: one token every 50 ms.
        let limit = RateLimit::new(20, Duration::from_secs(1));
        let pause = pacer.rate_limited(None, Some(limit)).expect("a pause");
        assert!(pause < Duration::from_millis(60), "{pause:?}");
        let started = std::time::Instant::now();
        for _ in 0..4 {
            pacer.acquire().await;
        }
        let took = started.elapsed();
        // The pause, then three more intervals: about 200 ms; a window's pause would be 1 s, and
        // a full limiter would let the four through after the pause alone (50 ms).
        assert!(
            took >= Duration::from_millis(180) && took < Duration::from_millis(700),
            "{took:?}"
        );
        assert_eq!(pacer.current(), Some(limit));
    }

    #[test]
    fn further_429s_double_the_pause_up_to_a_window_and_a_success_resets_it() {
        let pacer = Pacer::new(Some(RateLimit::new(100, Duration::from_secs(60))));
        let interval = Duration::from_millis(600).mul_f64(PACING_MARGIN);
        let pauses: Vec<Duration> = (0..9)
            .map(|_| pacer.rate_limited(None, None).expect("a pause"))
            .collect();
        assert_eq!(pauses[0], interval);
        assert_eq!(pauses[1], interval * 2);
        assert_eq!(pauses[6], interval * 64);
        assert_eq!(pauses[7], Duration::from_secs(60), "capped at one window");
        assert_eq!(pauses[8], Duration::from_secs(60));
        pacer.succeeded();
        assert_eq!(pacer.rate_limited(None, None), Some(interval));
        // The server's own hint wins.
        assert_eq!(
            pacer.rate_limited(Some(Duration::from_secs(3)), None),
            Some(Duration::from_secs(3))
        );
        // Without a budget or a hint there is nothing to pause for (the retry backoff applies).
        assert_eq!(Pacer::new(None).rate_limited(None, None), None);
    }

    #[test]
    fn unknown_message_yields_nothing() {
        assert_eq!(parse_limit_message("Too many requests"), None);
    }

    #[test]
    fn an_absurd_budget_in_a_429_body_is_ignored_not_a_panic() {
        for body in [
            r#"{"limit":100,"periodCount":1e20}"#,
            r#"{"limit":1,"periodCount":1.8e19}"#,
            r#"{"limit":100,"periodCount":1e300,"periodUnit":"hours"}"#,
            r#"{"statusCode":429,"messages":["Limit reached (100 tokens per 99999999999999999999999 ms)"]}"#,
            r#"{"statusCode":400,"message":"Limit reached (1 tokens per 18000000000000000000 s)"}"#,
        ] {
            assert_eq!(learn_from_body(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn a_learned_window_longer_than_a_day_or_a_zero_budget_is_ignored() {
        let day = r#"{"limit":10,"periodCount":24,"periodUnit":"hours"}"#;
        assert_eq!(
            learn_from_body(day.as_bytes()),
            Some(RateLimit::new(10, MAX_LEARNED_WINDOW))
        );
        let longer = r#"{"limit":10,"periodCount":25,"periodUnit":"hours"}"#;
        assert_eq!(learn_from_body(longer.as_bytes()), None);
        assert_eq!(
            parse_limit_message("Limit reached (0 tokens per 60000 ms)"),
            None
        );
        let zero = r#"{"limit":0,"periodCount":60}"#;
        assert_eq!(learn_from_body(zero.as_bytes()), None);
    }

    #[test]
    fn a_pacer_survives_the_longest_learned_budget_and_its_doubling() {
        let pacer = Pacer::new(None);
        let slowest = RateLimit::new(1, MAX_LEARNED_WINDOW);
        let pauses: Vec<Duration> = (0..20)
            .map(|_| pacer.rate_limited(None, Some(slowest)).expect("a pause"))
            .collect();
        assert!(
            pauses.iter().all(|p| *p <= MAX_LEARNED_WINDOW),
            "{pauses:?}"
        );
    }
}
