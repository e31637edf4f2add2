//! Retry and rate-limit settings.

use std::time::Duration;

/// How failed requests are retried.
///
/// Only temporary errors ([`crate::Error::is_temporary`]) are retried, and only for idempotent requests
/// (GET, PATCH, DELETE, upserts, duplicate searches). A 429 is retried for every request because Twenty's
/// throttler rejects a request before running it. A plain create that failed any other way is never re-sent.
///
/// A 500 is retried too, but fewer times ([`max_internal_error_retries`](Self::max_internal_error_retries)):
/// Twenty answers 500 to every exception it does not map, passing ones (a deadlock, a lost database connection)
/// that one or two retries get past, and bugs that answer the same to every retry.
///
/// ```
/// use std::time::Duration;
/// use twenty_client::RetryPolicy;
/// let p = RetryPolicy {
///     max_retries: 3,
///     initial_backoff: Duration::from_millis(100),
///     ..RetryPolicy::default()
/// };
/// assert_eq!(p.max_retries, 3);
/// assert_eq!(p.max_internal_error_retries, 2);
/// assert_eq!(p.max_backoff, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
    /// Of the `max_retries`, how many may follow a 500 (Internal Server Error). A 500 that
    /// passes (a deadlock, a lost database connection on the server) is gone at the first or
    /// second retry; one caused by a bug repeats, and retrying it the whole budget only delays
    /// the error (7.75-15.5 s of backoff by default, against at most 1.5 s for two retries).
    /// Retries after 502-504, 429s and transport errors do not count against it.
    pub max_internal_error_retries: u32,
}

impl RetryPolicy {
    /// No retries at all.
    ///
    /// ```
    /// use twenty_client::RetryPolicy;
    /// let p = RetryPolicy::none();
    /// assert_eq!(p.max_retries, 0);
    /// // Only the retry count changes; the backoff settings stay the defaults.
    /// assert_eq!(p, RetryPolicy { max_retries: 0, ..RetryPolicy::default() });
    /// ```
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Backoff before retry number `attempt` (1-based), with "equal jitter": half fixed, half random.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let capped = exp.min(self.max_backoff);
        let half = capped / 2;
        let jitter = rand::random::<f64>();
        half + half.mul_f64(jitter)
    }
}

impl Default for RetryPolicy {
    /// 5 retries (at most 2 of them after a 500), 500 ms initial backoff, 60 s maximum.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_internal_error_retries: 2,
        }
    }
}

/// Client-side request budget: at most `requests` per `per`, shared by all clones of a client.
///
/// The default is Twenty's documented budget of 100 requests per 60 s. Twenty meters API keys with token
/// buckets, and the client mirrors one, counting as Twenty does: it allows a burst of 95 % of the budget, then
/// one request every `per / requests` (plus 1 %, at least 10 ms), so the budget is used fully without the
/// server's bucket running dry.
///
/// ```
/// use std::time::Duration;
/// use twenty_client::RateLimit;
/// let rl = RateLimit::new(50, Duration::from_secs(60));
/// assert_eq!(rl.requests(), 50);
/// assert_eq!(RateLimit::default().per(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    requests: u32,
    per: Duration,
}

impl RateLimit {
    /// `requests` per `per`. Zero values are raised to 1 request / 1 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::RateLimit;
    /// let rl = RateLimit::new(0, Duration::ZERO);
    /// assert_eq!(rl.requests(), 1);
    /// assert_eq!(rl.per(), Duration::from_millis(1));
    /// ```
    pub fn new(requests: u32, per: Duration) -> Self {
        RateLimit {
            requests: requests.max(1),
            per: per.max(Duration::from_millis(1)),
        }
    }

    /// Requests allowed per window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::RateLimit;
    /// assert_eq!(RateLimit::new(300, Duration::from_secs(60)).requests(), 300);
    /// assert_eq!(RateLimit::default().requests(), 100);
    /// ```
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Window length.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::RateLimit;
    /// let rl = RateLimit::new(10, Duration::from_secs(1));
    /// assert_eq!(rl.per(), Duration::from_secs(1));
    /// ```
    pub fn per(&self) -> Duration {
        self.per
    }

    /// Interval between two requests when pacing evenly.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::RateLimit;
    /// // Twenty's default budget, 100 per minute: one request every 600 ms.
    /// assert_eq!(RateLimit::default().interval(), Duration::from_millis(600));
    /// assert_eq!(RateLimit::new(4, Duration::from_secs(1)).interval(), Duration::from_millis(250));
    /// ```
    pub fn interval(&self) -> Duration {
        self.per / self.requests
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(100, Duration::from_secs(60))
    }
}

/// Default records per list page (Twenty's default).
///
/// ```
/// use twenty_client::{Client, DEFAULT_PAGE_SIZE};
/// let client = Client::builder(
///     url::Url::parse("http://127.0.0.1:3000/")?,
///     secrecy::SecretString::from("fake-key"),
/// )
/// .build()?;
/// assert_eq!(client.page_size(), DEFAULT_PAGE_SIZE);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_PAGE_SIZE: u32 = 60;
/// Largest page Twenty serves.
///
/// ```
/// use twenty_client::{Client, ErrorKind, MAX_PAGE_SIZE};
/// let builder = || Client::builder(
///     url::Url::parse("http://127.0.0.1:3000/").unwrap(),
///     secrecy::SecretString::from("fake-key"),
/// );
/// assert!(builder().page_size(MAX_PAGE_SIZE).build().is_ok());
/// let err = builder().page_size(MAX_PAGE_SIZE + 1).build().unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::Config);
/// ```
pub const MAX_PAGE_SIZE: u32 = 200;
/// Default records per batch write (safe on old servers whose batch max is 60).
///
/// ```
/// use twenty_client::{Client, DEFAULT_BATCH_SIZE};
/// let client = Client::builder(
///     url::Url::parse("http://127.0.0.1:3000/")?,
///     secrecy::SecretString::from("fake-key"),
/// )
/// .build()?;
/// assert_eq!(client.batch_size(), DEFAULT_BATCH_SIZE);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_BATCH_SIZE: usize = 60;
/// Largest batch newer Twenty servers accept.
///
/// ```
/// use twenty_client::{Client, ErrorKind, MAX_BATCH_SIZE};
/// let builder = || Client::builder(
///     url::Url::parse("http://127.0.0.1:3000/").unwrap(),
///     secrecy::SecretString::from("fake-key"),
/// );
/// assert!(builder().batch_size(MAX_BATCH_SIZE).build().is_ok());
/// let err = builder().batch_size(MAX_BATCH_SIZE + 1).build().unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::Config);
/// ```
pub const MAX_BATCH_SIZE: usize = 200;
