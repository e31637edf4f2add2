//! Client-side pacing shared by all clones of a client: a mirror of the API key's token bucket
//! on the server (replaced when the server reveals a stricter budget) and a "blocked until"
//! instant set by 429 answers.
//!
//! # Twenty's bucket
//!
//! Twenty's throttler (`ThrottlerService.tokenBucketThrottleOrThrow`, 2.x) keeps, per key, a
//! whole number of tokens and the time of the last *allowed* request, in milliseconds. A request
//! at `now` finds `min(tokens + floor((now - lastRefillAt) * requests / window), requests)`;
//! under one it is refused (429) and nothing changes, else `available - 1` tokens are stored with
//! `lastRefillAt = now`. So the fraction of a token earned since the previous allowed request is
//! lost at each allowed request, and a request less than one interval (`window / requests`) after
//! the previous one earns nothing, however long ago the one before was.
//!
//! # The mirror
//!
//! [`Mirror`] counts the same way, from the instants at which this client lets requests go:
//! whole tokens, the refill clock restarted at each request, the fraction lost. Two differences
//! keep the server's count at or above the mirror's:
//!
//! * a refill needs [`margin`] more time than the server's: `earned = floor((elapsed - margin)
//!   / interval)`. The server measures elapsed time between *arrivals*, in whole milliseconds,
//!   so between two requests it may see up to 1 ms (its clock's truncation) plus the difference
//!   of their two transit times less than the client does. With `margin = max(10 ms, 1 % of the
//!   interval)` the server earns at least what the mirror does while that difference stays under
//!   the margin less 1 ms: 9 ms, and 5 ms more at Twenty's 100 per minute (600 ms interval).
//!   Transit times differ that much on one busy host: with eight requests in flight on two
//!   cores, a configured push of 300 batches of 200 records met a 429 with a 2 ms margin and
//!   with 5 ms, and none with 10 ms (`benches push 60000 200`, 2026-12-07). Requests sent less
//!   than that apart may reach the server in another order: they earn nothing on either side,
//!   so the count still holds. The margin costs `margin / interval` of the paced throughput:
//!   1.7 % at 100 per minute; 7 % and 14 % at the 140 ms and 72 ms intervals of the benchmark's
//!   shortened windows;
//! * the mirror holds a reserve of tokens back: it starts full at the budget less
//!   [`reserve`] (5 %, at least one: 95 of 100) and never refills beyond that, so the server
//!   keeps that many tokens more. They absorb what no margin can: another client of the same key,
//!   a transit time that varies more than the margin (each such arrival costs the server one
//!   token the mirror still counts). After a 429 the mirror restarts empty *owing* the reserve
//!   (the server's bucket is empty, and the mirror's must be the reserve lower again), so the
//!   first request after it waits `reserve + 1` intervals (and the margin), the next ones one
//!   interval each.
//!
//! Every request, of any clone and however many are in flight at once, takes a token from the
//! mirror before it is sent; they wait in turn (first come, first served) for the next token.
//!
//! # Why not `governor`
//!
//! The pacer used `governor`'s GCRA limiter (a 95 % burst, then one request per interval + 1 %).
//! GCRA keeps a continuous account: time that passes while the client is slower than its limit
//! (during the burst, or when one request goes out late) is credit it spends later, e.g. a late
//! request followed by one on schedule, less than one interval after it. Twenty floors and
//! resets at each request, so that credit does not exist on the server: each such pair cost a
//! server token, the 5 % reserve ran out in a long push, and a configured budget met 429s.
//! GCRA has no notion of a refill clock that restarts at each request, so the mirror replaces it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimit;

/// Least extra time the mirror waits for each refill, past what the server needs: 1 ms for the
/// server's millisecond clock, 9 ms for transit times that differ (see the module docs).
const MIN_MARGIN: Duration = Duration::from_millis(10);

/// Longest single sleep of [`Pacer::acquire`]; a longer wait (a huge configured window) sleeps
/// again, so no instant is ever computed past what the clock can represent.
const MAX_SLEEP: Duration = Duration::from_secs(86_400);

/// Longest window a budget learned from a server's answer may have: one day. Twenty's windows
/// are a second to a minute; a longer one, one too long to represent, or a budget of zero
/// requests is taken for nonsense and ignored (with a debug log), so that a learned budget
/// never paces slower than one request a day nor overflows the pacing arithmetic.
pub(crate) const MAX_LEARNED_WINDOW: Duration = Duration::from_secs(86_400);

/// Extra time the mirror requires before each refill: 1 % of the interval, at least
/// [`MIN_MARGIN`].
fn margin(limit: RateLimit) -> Duration {
    (limit.interval() / 100).max(MIN_MARGIN)
}

/// Tokens of the server's bucket the mirror never counts on: 5 % of the budget, at least one,
/// but none of a budget of one request (1 of 20, 5 of 100).
fn reserve(limit: RateLimit) -> u32 {
    (limit.requests() / 20)
        .max(1)
        .min(limit.requests().saturating_sub(1))
}

/// The client's copy of the server's bucket for one budget (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Mirror {
    limit: RateLimit,
    margin: Duration,
    reserve: u32,
    /// Whole tokens at `last`; negative while the reserve is owed after a 429.
    tokens: i64,
    /// When the last request was let through (or the mirror was last resynchronised): the start
    /// of the refill clock.
    last: Instant,
}

impl Mirror {
    /// A full mirror (a configured budget: the server's bucket is presumably full).
    fn full(limit: RateLimit, now: Instant) -> Self {
        let mut m = Mirror::owing(limit, now);
        m.tokens = m.capacity();
        m
    }

    /// An empty mirror that owes the reserve (the server's bucket just ran dry).
    fn owing(limit: RateLimit, now: Instant) -> Self {
        let reserve = reserve(limit);
        Mirror {
            limit,
            margin: margin(limit),
            reserve,
            tokens: -i64::from(reserve),
            last: now,
        }
    }

    /// The server's bucket ran dry at `now` (a 429): empty, owing the reserve, clock restarted.
    fn resync(&mut self, now: Instant) {
        self.tokens = -i64::from(self.reserve);
        self.last = now;
    }

    /// The most tokens the mirror holds: the budget less the reserve.
    fn capacity(&self) -> i64 {
        i64::from(self.limit.requests().saturating_sub(self.reserve))
    }

    /// Whole tokens earned over `elapsed` since the last request: `floor((elapsed - margin) *
    /// requests / per)`, exact (integer nanoseconds; at most 1.8e28 × 4.3e9, within `u128`).
    fn earned(&self, elapsed: Duration) -> i64 {
        let Some(counted) = elapsed.checked_sub(self.margin) else {
            return 0;
        };
        let per = self.limit.per().as_nanos().max(1);
        let n = counted.as_nanos() * u128::from(self.limit.requests()) / per;
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// Tokens a request at `now` would find.
    fn available(&self, now: Instant) -> i64 {
        let earned = self.earned(now.saturating_duration_since(self.last));
        self.tokens.saturating_add(earned).min(self.capacity())
    }

    /// Take a token at `now` (restarting the refill clock), or say how long until one is earned.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let available = self.available(now);
        if available >= 1 {
            self.tokens = available - 1;
            self.last = now;
            return Ok(());
        }
        // Fewer than one token held (the capacity is at least one): the least time counted with
        // `floor(counted * requests / per) >= 1 - tokens`, plus the margin, less what elapsed.
        let needed = u128::from((1 - self.tokens).unsigned_abs());
        let counted =
            (needed * self.limit.per().as_nanos()).div_ceil(u128::from(self.limit.requests()));
        let from_last = self.margin.saturating_add(Duration::from_nanos(
            u64::try_from(counted).unwrap_or(u64::MAX),
        ));
        let elapsed = now.saturating_duration_since(self.last);
        Err(from_last
            .saturating_sub(elapsed)
            .max(Duration::from_nanos(1)))
    }
}

/// `now + wait`, or a year from now if that instant cannot be represented.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

pub(crate) struct Pacer {
    mirror: Mutex<Option<Mirror>>,
    /// Held by the request waiting for the next token, so that requests get tokens in turn.
    turnstile: tokio::sync::Mutex<()>,
    blocked_until: Mutex<Option<Instant>>,
    /// 429 answers since the last successful request (they lengthen the pause of the next one).
    strikes: AtomicU32,
}

impl Pacer {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        let now = Instant::now();
        Pacer {
            mirror: Mutex::new(limit.map(|l| Mirror::full(l, now))),
            turnstile: tokio::sync::Mutex::new(()),
            blocked_until: Mutex::new(None),
            strikes: AtomicU32::new(0),
        }
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, Option<Mirror>> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The budget currently enforced, if any.
    pub(crate) fn current(&self) -> Option<RateLimit> {
        self.mirror().as_ref().map(|m| m.limit)
    }

    /// Wait for permission to send one request (a 429's pause, then a token of the mirror,
    /// taken now); returns the time spent waiting.
    pub(crate) async fn acquire(&self) -> Duration {
        let start = Instant::now();
        let _turn = self.turnstile.lock().await;
        loop {
            let now = Instant::now();
            let until = *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = until.filter(|t| *t > now) {
                tokio::time::sleep_until(t).await;
                continue;
            }
            let wait = match self.mirror().as_mut().map(|m| m.take(now)) {
                None | Some(Ok(())) => break,
                Some(Err(wait)) => wait,
            };
            tokio::time::sleep(wait.min(MAX_SLEEP)).await;
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
        let target = later(Instant::now(), wait);
        let mut guard = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        if guard.map(|t| t < target).unwrap_or(true) {
            *guard = Some(target);
        }
    }

    /// A request was answered 429: adopt the budget the answer announces (`learned`) if it is
    /// stricter than the current one, resynchronise the mirror (empty, owing the reserve), and
    /// hold every request for the server's `retry_after` or, without one, until the budget's
    /// bucket has a token again: one interval (`per / requests`, plus the margin), doubled for
    /// each further 429 without a success in between, at most one window. Twenty's buckets
    /// refill evenly, so one interval suffices and the mirror then paces at the refill rate;
    /// were a server to reset a fixed window instead, the doubling reaches the window's end after
    /// a few 429s. Returns the pause.
    pub(crate) fn rate_limited(
        &self,
        retry_after: Option<Duration>,
        learned: Option<RateLimit>,
    ) -> Option<Duration> {
        if let Some(l) = learned {
            self.learn(l);
        }
        if let Some(m) = self.mirror().as_mut() {
            m.resync(Instant::now());
        }
        let strikes = self.strikes.fetch_add(1, Ordering::Relaxed).min(16);
        let wait = retry_after.or_else(|| {
            // The budget now enforced: the learned one if it was adopted.
            let limit = self.current()?;
            Some(
                limit
                    .interval()
                    .saturating_add(margin(limit))
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
    /// current one; its mirror starts empty, owing the reserve (the server's bucket just ran dry).
    fn learn(&self, learned: RateLimit) {
        let mut guard = self.mirror();
        let stricter = match guard.as_ref() {
            None => true,
            Some(cur) => learned.interval() > cur.limit.interval(),
        };
        if stricter {
            tracing::info!(
                requests = learned.requests(),
                per_ms = learned.per().as_millis() as u64,
                "adopting the rate limit announced by the server"
            );
            *guard = Some(Mirror::owing(learned, Instant::now()));
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
    /// interval and the margin), not for a whole window; the learned mirror starts empty and
    /// owes its reserve (one token of 20), so the first request after the 429 waits two
    /// intervals and the margin, the next ones one interval and the margin each, instead of
    /// bursting into an empty bucket.
    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_one_interval_and_the_learned_budget_paces_from_empty() {
        let pacer = Pacer::new(None);
        // 20 per second: one token every 50 ms; margin 10 ms, reserve 1.
        let limit = RateLimit::new(20, Duration::from_secs(1));
        let pause = pacer.rate_limited(None, Some(limit)).expect("a pause");
        assert_eq!(pause, Duration::from_millis(60));
        let started = Instant::now();
        for _ in 0..4 {
            pacer.acquire().await;
        }
        let took = started.elapsed();
        // 110 ms, then three times 60 ms; a window's pause would be 1 s, and a full bucket would
        // let the four through after the pause alone (60 ms).
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(297),
            "{took:?}"
        );
        assert_eq!(pacer.current(), Some(limit));
    }

    #[test]
    fn further_429s_double_the_pause_up_to_a_window_and_a_success_resets_it() {
        let pacer = Pacer::new(Some(RateLimit::new(100, Duration::from_secs(60))));
        // One interval (600 ms) and the margin (10 ms).
        let interval = Duration::from_millis(610);
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

    /// Twenty's throttler as `throttler.service.ts` computes it (and twenty-sim's `Bucket`):
    /// whole tokens, whole milliseconds, `Math.floor(elapsed * (maxTokens / timeWindow))`, the
    /// refill clock restarted at each allowed request, nothing stored for a refused one.
    #[derive(Debug)]
    struct Server {
        max: u32,
        window_ms: u64,
        tokens: u32,
        last_ms: u64,
    }

    impl Server {
        /// A full bucket at `now_ms`.
        fn new(limit: RateLimit, now_ms: u64) -> Self {
            Server {
                max: limit.requests(),
                window_ms: u64::try_from(limit.per().as_millis()).expect("ms"),
                tokens: limit.requests(),
                last_ms: now_ms,
            }
        }

        fn available(&self, now_ms: u64) -> u32 {
            let rate = f64::from(self.max) / self.window_ms as f64;
            let refill = (now_ms.saturating_sub(self.last_ms) as f64 * rate).floor() as u64;
            u32::try_from((u64::from(self.tokens) + refill).min(u64::from(self.max)))
                .expect("at most max")
        }

        /// Whether a request arriving at `now_ms` is allowed.
        fn take(&mut self, now_ms: u64) -> bool {
            let available = self.available(now_ms);
            if available < 1 {
                return false;
            }
            self.tokens = available - 1;
            self.last_ms = now_ms;
            true
        }
    }

    /// A small deterministic generator (xorshift64*), so that failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
        }
    }

    const MS: u64 = 1_000_000;

    /// Budgets to check: Twenty's, the tests' and benchmark's short windows, intervals that are
    /// not whole milliseconds, and the smallest budgets (no reserve, a reserve of one).
    fn budgets() -> Vec<RateLimit> {
        vec![
            RateLimit::default(),
            RateLimit::new(50, Duration::from_secs(60)),
            RateLimit::new(100, Duration::from_secs(1)),
            RateLimit::new(20, Duration::from_secs(1)),
            RateLimit::new(4, Duration::from_millis(500)),
            RateLimit::new(5, Duration::from_millis(100)),
            RateLimit::new(100, Duration::from_millis(14_018)),
            RateLimit::new(7, Duration::from_secs(60)),
            RateLimit::new(3, Duration::from_millis(1_000)),
            RateLimit::new(2, Duration::from_millis(333)),
            RateLimit::new(1, Duration::from_millis(250)),
        ]
    }

    /// What happened to `n` requests paced by a full mirror of `limit` and sent to a copy of
    /// the server: each wants to go a random time after the previous one (often at once, as the
    /// requests in flight of a push; often late, up to several intervals; sometimes after an
    /// idle spell), is let through by the mirror (its timer waking up to 1 ms late), then
    /// arrives after a transit time that varies by up to `spread_ns`, so arrivals may overtake
    /// each other. The server's millisecond clock is offset by a random fraction of a
    /// millisecond. Returns the requests refused and the least tokens the server held.
    fn run(limit: RateLimit, n: usize, spread_ns: u64, seed: u64) -> (usize, u32) {
        let mut rng = Rng(seed | 1);
        let base = Instant::now();
        let mut mirror = Mirror::full(limit, base);
        let interval = u64::try_from(limit.interval().as_nanos()).expect("ns");
        let mut t = 0u64; // ns since `base`, by the client's clock
        let mut arrivals = Vec::with_capacity(n);
        for _ in 0..n {
            t += match rng.below(8) {
                0..=3 => 0,
                4 | 5 => rng.below(2 * interval),
                6 => interval + rng.below(interval / 5 + 1),
                _ => rng.below(6 * interval),
            };
            loop {
                match mirror.take(base + Duration::from_nanos(t)) {
                    Ok(()) => break,
                    Err(wait) => {
                        t += u64::try_from(wait.as_nanos()).expect("ns") + rng.below(MS);
                    }
                }
            }
            arrivals.push(t + 5 * MS + rng.below(spread_ns + 1));
        }
        arrivals.sort_unstable();
        let phase = rng.below(MS);
        let mut server = Server::new(limit, 0);
        let (mut refused, mut least) = (0, server.tokens);
        for a in arrivals {
            // The server's clock reads whole milliseconds, ahead of ours by a fraction of one.
            if server.take((a + phase) / MS) {
                least = least.min(server.tokens);
            } else {
                refused += 1;
            }
        }
        (refused, least)
    }

    /// The margin covers the server's millisecond clock and transit times that differ by up to
    /// the margin less 1 ms: a burst, then requests at random times (at once, late, after an
    /// idle spell), never leave the server's bucket short, and it keeps the reserve.
    #[test]
    fn the_server_always_holds_at_least_what_the_mirror_counts() {
        for limit in budgets() {
            let spread = u64::try_from(margin(limit).as_nanos()).expect("ns") - MS - 1_000;
            for seed in 1..=40 {
                let (refused, least) = run(limit, 300, spread, seed);
                assert_eq!(refused, 0, "{limit:?}, seed {seed}");
                assert!(least >= reserve(limit), "{limit:?}, seed {seed}: {least}");
            }
        }
    }

    /// The same harness paces evenly one interval (+1 %) apart as GCRA does, banking lateness:
    /// a late request followed by one on schedule costs a server token each time, so the
    /// server refuses some; the mirror's arithmetic is what prevents it.
    #[test]
    fn continuous_credit_as_gcra_keeps_it_runs_the_server_dry() {
        let limit = RateLimit::default();
        let mut server = Server::new(limit, 0);
        let mut refused = 0;
        let (spacing, mut schedule, mut t) = (606 * MS, 0, 0);
        for i in 0..200u64 {
            // GCRA: the burst at once, then the schedule; every third request runs 100 ms late
            // and the next one goes at its scheduled time.
            if i >= 95 {
                schedule += spacing;
            }
            t = t.max(schedule) + if i >= 95 && i % 3 == 0 { 100 * MS } else { 0 };
            if !server.take(t / MS) {
                refused += 1;
            }
        }
        assert!(refused > 0);
    }

    /// Idle time refills the mirror as the server's bucket, whole tokens, up to the margin
    /// later, and never beyond the budget less the reserve.
    #[test]
    fn idle_time_refills_the_mirror_like_the_server() {
        for limit in budgets() {
            let base = Instant::now();
            let interval = limit.interval();
            let m = margin(limit);
            let capacity = i64::from(limit.requests() - reserve(limit));
            let window_ms = u64::try_from(limit.per().as_millis()).expect("ms");
            let mut gaps_ms: Vec<u64> = (0..=3 * window_ms).step_by(7).collect();
            for k in 1..=3 * u64::from(limit.requests()) {
                let at = u64::try_from((interval * u32::try_from(k).expect("k")).as_millis())
                    .expect("ms");
                gaps_ms.extend([at.saturating_sub(1), at, at + 1, at + 2, at + 3]);
            }
            for gap in gaps_ms {
                // Both drained by a request at `base` (the server's clock at 0).
                let mut mirror = Mirror::full(limit, base);
                mirror.tokens = 0;
                let mut server = Server::new(limit, 0);
                server.tokens = 0;
                let now = base + Duration::from_millis(gap);
                let (mine, theirs) = (mirror.available(now), i64::from(server.available(gap)));
                assert!(
                    mine <= theirs,
                    "{limit:?} after {gap} ms: {mine} > {theirs}"
                );
                // At most one token fewer (the margin), or the capacity.
                assert!(
                    mine >= theirs.min(capacity) - 1,
                    "{limit:?} after {gap} ms: {mine} for {theirs}"
                );
                // Exactly the server's count once the margin has passed too.
                let later = mirror.available(now + m);
                assert!(
                    later >= theirs.min(capacity),
                    "{limit:?} after {gap} ms and the margin: {later} for {theirs}"
                );
            }
            // A long idle spell fills both: the server to the budget, the mirror to the budget
            // less the reserve.
            let mut mirror = Mirror::full(limit, base);
            mirror.tokens = 0;
            assert_eq!(
                mirror.available(base + limit.per() * 10 + m),
                capacity,
                "{limit:?}"
            );
        }
    }

    #[test]
    fn the_mirror_says_how_long_until_its_next_token() {
        let base = Instant::now();
        let limit = RateLimit::default();
        let mut mirror = Mirror::full(limit, base);
        for _ in 0..95 {
            mirror
                .take(base)
                .expect("the burst: the budget less the reserve");
        }
        assert_eq!(mirror.take(base), Err(Duration::from_millis(610)));
        let at = base + Duration::from_millis(609);
        assert_eq!(mirror.take(at), Err(Duration::from_millis(1)));
        let at = base + Duration::from_millis(610);
        assert_eq!(mirror.take(at), Ok(()));
        // A request 900 ms after that one earns one token; the 300 ms past it are lost.
        let at = at + Duration::from_millis(900);
        assert_eq!(mirror.take(at), Ok(()));
        assert_eq!(mirror.take(at), Err(Duration::from_millis(610)));
        // After a 429: empty and owing the reserve (5 tokens), the next token six intervals
        // and the margin away.
        mirror.resync(at);
        assert_eq!(mirror.take(at), Err(Duration::from_millis(3_610)));
        assert_eq!(mirror.take(at + Duration::from_millis(3_610)), Ok(()));
    }

    /// Concurrent requests each take a token before they are sent: eight tasks share the
    /// mirror, the grants follow the server's arithmetic (none refused), and the pace after the
    /// burst is one interval and the margin.
    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_each_take_a_token() {
        let limit = RateLimit::new(20, Duration::from_secs(1));
        let pacer = std::sync::Arc::new(Pacer::new(Some(limit)));
        let base = Instant::now();
        let grants = std::sync::Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pacer, grants) = (pacer.clone(), grants.clone());
                tokio::spawn(async move {
                    for _ in 0..5 {
                        pacer.acquire().await;
                        let at = Instant::now().duration_since(base);
                        grants.lock().expect("grants").push(at);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let mut grants = grants.lock().expect("grants").clone();
        grants.sort_unstable();
        assert_eq!(grants.len(), 40);
        let mut server = Server::new(limit, 0);
        for g in &grants {
            let ms = u64::try_from(g.as_millis()).expect("ms");
            assert!(server.take(ms), "refused at {g:?}: {grants:?}");
        }
        assert!(server.tokens >= 1, "the reserve is kept");
        // 19 at once, then 21 at 60 ms.
        assert_eq!(grants[18], Duration::ZERO);
        let last = *grants.last().expect("grants");
        assert!(
            last >= Duration::from_millis(21 * 60) && last < Duration::from_millis(21 * 61),
            "{last:?}"
        );
    }

    /// A 429 (another client spent the bucket) empties the mirror, which then owes its reserve,
    /// whatever it believed; and a huge configured window neither panics nor overflows.
    #[tokio::test(start_paused = true)]
    async fn a_429_resyncs_a_configured_mirror_and_huge_windows_are_safe() {
        let limit = RateLimit::new(20, Duration::from_secs(1));
        let pacer = Pacer::new(Some(limit));
        pacer.acquire().await;
        assert_eq!(
            pacer.rate_limited(None, None),
            Some(Duration::from_millis(60))
        );
        let started = Instant::now();
        pacer.acquire().await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(110) && took < Duration::from_millis(113),
            "{took:?}"
        );

        let huge = Pacer::new(Some(RateLimit::new(1, Duration::MAX)));
        assert_eq!(huge.acquire().await, Duration::ZERO);
        assert_eq!(huge.rate_limited(None, None), Some(Duration::MAX));
        assert!(huge.is_blocked());
        let mut mirror = Mirror::full(RateLimit::new(u32::MAX, Duration::MAX), Instant::now());
        assert_eq!(mirror.take(Instant::now()), Ok(()));
        let mut one = Mirror::owing(RateLimit::new(1, Duration::MAX), Instant::now());
        assert!(one.take(Instant::now()).is_err());
    }
}
